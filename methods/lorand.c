/* lorand.c - LoRand (§4.9, STAR-MMRotate only): two modules per block, after DropPath in each branch:
 * X1 = X + L1(DP(A)), X2 = X1 + L2(DP(F)). L(z) = z + P2(gelu(P1(z))), each P a Lorand_Multi linear
 * with W = sum_i (A_i g_i B_i)^T over 4 branches of kernel dim 8, bottleneck C/2. Trainable: 'lorand'. */
#include "lorand.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../core/init.h"

static void multi_declare(lorand_multi *m, params *ps, const char *prefix, int in, int out) {
    char n[192];
    const char *sep = prefix[0] ? "." : "";
    m->in = in;
    m->out = out;
    for (int i = 0; i < LORAND_BRANCHES; i++) {
        snprintf(n, sizeof n, "%s%sparam_dict.A%d", prefix, sep, i);
        m->A[i] = params_add(ps, n, 2, (int[]){in, LORAND_KERNEL});
        snprintf(n, sizeof n, "%s%sparam_dict.g%d", prefix, sep, i);
        m->G[i] = params_add(ps, n, 2, (int[]){LORAND_KERNEL, LORAND_KERNEL});
        snprintf(n, sizeof n, "%s%sparam_dict.B%d", prefix, sep, i);
        m->B[i] = params_add(ps, n, 2, (int[]){LORAND_KERNEL, out});
    }
    snprintf(n, sizeof n, "%s%sbias", prefix, sep);
    m->bias = params_add(ps, n, 1, (int[]){out});
}

void lorand_module_declare(lorand_module *m, params *ps, const char *prefix, int dim) {
    char p[160];
    snprintf(p, sizeof p, "%s%sproject1", prefix, prefix[0] ? "." : "");
    multi_declare(&m->p1, ps, p, dim, dim / 2);
    snprintf(p, sizeof p, "%s%sproject2", prefix, prefix[0] ? "." : "");
    multi_declare(&m->p2, ps, p, dim / 2, dim);
}

/* kaiming-uniform(a=sqrt 5) with PyTorch's fan_in = size(1): U(+-1/sqrt(size(1))); bias U(+-1/sqrt(in)) */
static void multi_init(lorand_multi *m, rng_t *rng) {
    for (int i = 0; i < LORAND_BRANCHES; i++) {
        init_uniform(m->A[i], 1.0f / sqrtf((float)LORAND_KERNEL), rng);
        init_uniform(m->G[i], 1.0f / sqrtf((float)LORAND_KERNEL), rng);
        init_uniform(m->B[i], 1.0f / sqrtf((float)m->out), rng);
    }
    init_uniform(m->bias, 1.0f / sqrtf((float)m->in), rng);
}

void lorand_module_init(lorand_module *m, rng_t *rng) {
    multi_init(&m->p1, rng);
    multi_init(&m->p2, rng);
}

static tensor *multi_forward(lorand_multi *m, graph *g, tensor *x) {
    tensor *w = op_lorand_weight(g, LORAND_BRANCHES, m->A, m->G, m->B); /* (out, in) */
    return op_linear(g, x, w, m->bias);
}

tensor *lorand_module_forward(lorand_module *m, graph *g, tensor *x) {
    tensor *h = op_gelu(g, multi_forward(&m->p1, g, x));
    return op_add(g, x, multi_forward(&m->p2, g, h));
}

typedef struct lorand_block {
    lorand_module l[2];
} lorand_block;

static void *lorand_declare(params *ps, const block_info *bi) {
    lorand_block *m = xcalloc(1, sizeof *m);
    char p[96];
    snprintf(p, sizeof p, "%s.lorand1", bi->prefix);
    lorand_module_declare(&m->l[0], ps, p, bi->dim);
    snprintf(p, sizeof p, "%s.lorand2", bi->prefix);
    lorand_module_declare(&m->l[1], ps, p, bi->dim);
    return m;
}

static void lorand_init(void *mod, rng_t *rng, const block_info *bi) {
    lorand_block *m = mod;
    lorand_module_init(&m->l[0], rng);
    lorand_module_init(&m->l[1], rng);
}

static tensor *lorand_apply(void *mod, graph *g, hook_point hp, tensor *x, tensor *aux, const block_info *bi) {
    lorand_block *m = mod;
    return lorand_module_forward(&m->l[hp == HOOK_ATTN_POST_DP ? 0 : 1], g, x);
}

static int lorand_trainable(const char *name) { return name_contains(name, "lorand"); }

const method method_lorand = {.name = "lorand",
                              .summary = "LoRand: 4 branches, kernel dim 8, bottleneck C/2, after DropPath",
                              .plug.hooks = HOOK_BIT(HOOK_ATTN_POST_DP) | HOOK_BIT(HOOK_MLP_POST_DP),
                              .plug.block_declare = lorand_declare,
                              .plug.apply = lorand_apply,
                              .plug.block_init = lorand_init,
                              .plug.trainable = lorand_trainable};
