/* bottleneck.h - the Linear(C->w) -> GELU -> Dropout(0.1) -> Linear(w->C) bottleneck (w = 64 by default) shared by the
 * Adapter and AdaptFormer methods (§4.6, §4.7 of the spec). */
#ifndef DB_BOTTLENECK_H
#define DB_BOTTLENECK_H

#include "method.h"

#define BOTTLENECK_DROPOUT 0.1f

typedef struct bottleneck {
    tensor *w1, *b1, *w2, *b2;
} bottleneck;

/* Declares <block prefix>.<name>.project1.{weight,bias} (width, C) and .project2.{weight,bias} (C, width). */
void bottleneck_declare(bottleneck *m, params *ps, const block_info *bi, const char *name, int width);
/* trunc-normal(0.02) weights, zero biases (the backbone's init_weights applied to the module) */
void bottleneck_init(bottleneck *m, rng_t *rng);
/* project2(dropout(gelu(project1(x))))       x (R, C) -> (R, C) */
tensor *bottleneck_forward(bottleneck *m, graph *g, tensor *x);

#endif
