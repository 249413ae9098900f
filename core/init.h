/* init.h - parameter initialisers with the semantics of the reference code (timm trunc_normal_,
 * PyTorch's default kaiming-uniform for Linear/Conv2d, constants). */
#ifndef DB_INIT_H
#define DB_INIT_H

#include "tensor.h"

void init_const(tensor *t, float v);
/* N(0, std^2) truncated to the absolute interval [-2, 2] (timm's a=-2, b=2). */
void init_trunc_normal(tensor *t, float std, rng_t *r);
/* U(-bound, bound) */
void init_uniform(tensor *t, float bound, rng_t *r);

#endif
