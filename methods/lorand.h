/* lorand.h - the LoRand module (STAR-MMRotate's Lorand(C, factor 2)), exposed for the module golden. */
#ifndef DB_LORAND_H
#define DB_LORAND_H

#include "method.h"

#define LORAND_BRANCHES 4 /* the authors' Lorand_Multi(num_branch=4, kernel_dim=8), Lorand(C, factor=2) */
#define LORAND_KERNEL 8
#define LORAND_FACTOR 2
#define LORAND_MAX_BRANCHES 8 /* op_lorand_weight's limit */

/* A module's shape: branches, kernel dim, bottleneck C / factor (the options lorand:branches=4:kernel=8:factor=2). */
typedef struct lorand_cfg {
    int branches, kernel, factor;
} lorand_cfg;

typedef struct lorand_multi {
    tensor *A[LORAND_MAX_BRANCHES], *G[LORAND_MAX_BRANCHES], *B[LORAND_MAX_BRANCHES], *bias;
    int in, out, nb, k;
} lorand_multi;

typedef struct lorand_module {
    lorand_multi p1, p2; /* C -> C/factor -> C */
} lorand_module;

/* Declares <prefix>.project{1,2}.param_dict.{A,g,B}{0..branches-1} and .bias (prefix may be ""); cfg NULL: the
 * authors' shape. */
void lorand_module_declare(lorand_module *m, params *ps, const char *prefix, int dim, const lorand_cfg *cfg);
void lorand_module_init(lorand_module *m, rng_t *rng);
/* y = x + project2(gelu(project1(x)))       x (R, C) */
tensor *lorand_module_forward(lorand_module *m, graph *g, tensor *x);

#endif
