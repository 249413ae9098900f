/* bottleneck.c - the adapter bottleneck shared by adapter.c and adaptformer.c. */
#include "bottleneck.h"

#include <stdio.h>

#include "../core/init.h"

void bottleneck_declare(bottleneck *m, params *ps, const block_info *bi, const char *name, int width) {
    char s[96];
    int C = bi->dim, W = width;
    snprintf(s, sizeof s, "%s.project1.weight", name);
    m->w1 = method_param(ps, bi, s, 2, (int[]){W, C});
    snprintf(s, sizeof s, "%s.project1.bias", name);
    m->b1 = method_param(ps, bi, s, 1, (int[]){W});
    snprintf(s, sizeof s, "%s.project2.weight", name);
    m->w2 = method_param(ps, bi, s, 2, (int[]){C, W});
    snprintf(s, sizeof s, "%s.project2.bias", name);
    m->b2 = method_param(ps, bi, s, 1, (int[]){C});
}

void bottleneck_init(bottleneck *m, rng_t *rng) {
    init_trunc_normal(m->w1, 0.02f, rng);
    init_const(m->b1, 0.0f);
    init_trunc_normal(m->w2, 0.02f, rng);
    init_const(m->b2, 0.0f);
}

tensor *bottleneck_forward(bottleneck *m, graph *g, tensor *x) {
    tensor *h = op_gelu(g, op_linear(g, x, m->w1, m->b1));
    h = op_dropout(g, h, BOTTLENECK_DROPOUT);
    return op_linear(g, h, m->w2, m->b2);
}
