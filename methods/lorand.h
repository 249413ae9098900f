/* lorand.h - the LoRand module (STAR-MMRotate's Lorand(C, factor 2)), exposed for the module golden. */
#ifndef DB_LORAND_H
#define DB_LORAND_H

#include "method.h"

#define LORAND_BRANCHES 4
#define LORAND_KERNEL 8

typedef struct lorand_multi {
    tensor *A[LORAND_BRANCHES], *G[LORAND_BRANCHES], *B[LORAND_BRANCHES], *bias;
    int in, out;
} lorand_multi;

typedef struct lorand_module {
    lorand_multi p1, p2; /* C -> C/2 -> C */
} lorand_module;

/* Declares <prefix>.project{1,2}.param_dict.{A,g,B}{0..3} and .bias (prefix may be ""). */
void lorand_module_declare(lorand_module *m, params *ps, const char *prefix, int dim);
void lorand_module_init(lorand_module *m, rng_t *rng);
/* y = x + project2(gelu(project1(x)))       x (R, C) */
tensor *lorand_module_forward(lorand_module *m, graph *g, tensor *x);

#endif
