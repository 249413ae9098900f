/* lorand.c - LoRand (§4.9, STAR-MMRotate only): two modules per block, after DropPath in each branch:
 * X1 = X + L1(DP(A)), X2 = X1 + L2(DP(F)). L(z) = z + P2(gelu(P1(z))), each P a Lorand_Multi linear
 * with W = sum_i (A_i g_i B_i)^T over 4 branches of kernel dim 8, bottleneck C/2 (the options
 * lorand:branches=4:kernel=8:factor=2). Trainable: 'lorand'. */
#include "lorand.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../core/init.h"

/* The options (method.h), defaults the authors' values (spec §4.9). */
enum { LORAND_OPT_BRANCHES, LORAND_OPT_KERNEL, LORAND_OPT_FACTOR, LORAND_N_OPTS };
static const method_opt lorand_opts[LORAND_N_OPTS] = {
    {"branches", MOPT_INT, "4", 1, LORAND_MAX_BRANCHES, 0, 0, "branches of each Lorand_Multi (W = sum_i (A_i g_i B_i)^T)"},
    {"kernel", MOPT_INT, "8", 1, 1024, 0, 0, "kernel dim k (A_i (in, k), g_i (k, k), B_i (k, out))"},
    {"factor", MOPT_INT, "2", 1, 64, 0, 0, "bottleneck C / factor (integer division, at least 1)"},
};

static void multi_declare(lorand_multi *m, params *ps, const char *prefix, int in, int out, int nb, int k) {
    char n[192];
    const char *sep = prefix[0] ? "." : "";
    m->in = in;
    m->out = out;
    m->nb = nb;
    m->k = k;
    for (int i = 0; i < nb; i++) {
        snprintf(n, sizeof n, "%s%sparam_dict.A%d", prefix, sep, i);
        m->A[i] = params_add(ps, n, 2, (int[]){in, k});
        snprintf(n, sizeof n, "%s%sparam_dict.g%d", prefix, sep, i);
        m->G[i] = params_add(ps, n, 2, (int[]){k, k});
        snprintf(n, sizeof n, "%s%sparam_dict.B%d", prefix, sep, i);
        m->B[i] = params_add(ps, n, 2, (int[]){k, out});
    }
    snprintf(n, sizeof n, "%s%sbias", prefix, sep);
    m->bias = params_add(ps, n, 1, (int[]){out});
}

void lorand_module_declare(lorand_module *m, params *ps, const char *prefix, int dim, const lorand_cfg *cfg) {
    static const lorand_cfg authors = {LORAND_BRANCHES, LORAND_KERNEL, LORAND_FACTOR};
    if (!cfg) cfg = &authors;
    DB_ASSERT(cfg->branches >= 1 && cfg->branches <= LORAND_MAX_BRANCHES && cfg->kernel >= 1 && cfg->factor >= 1);
    int hid = dim / cfg->factor > 0 ? dim / cfg->factor : 1;
    char p[160];
    snprintf(p, sizeof p, "%s%sproject1", prefix, prefix[0] ? "." : "");
    multi_declare(&m->p1, ps, p, dim, hid, cfg->branches, cfg->kernel);
    snprintf(p, sizeof p, "%s%sproject2", prefix, prefix[0] ? "." : "");
    multi_declare(&m->p2, ps, p, hid, dim, cfg->branches, cfg->kernel);
}

/* kaiming-uniform(a=sqrt 5) with PyTorch's fan_in = size(1): U(+-1/sqrt(size(1))); bias U(+-1/sqrt(in)) */
static void multi_init(lorand_multi *m, rng_t *rng) {
    for (int i = 0; i < m->nb; i++) {
        init_uniform(m->A[i], 1.0f / sqrtf((float)m->k), rng);
        init_uniform(m->G[i], 1.0f / sqrtf((float)m->k), rng);
        init_uniform(m->B[i], 1.0f / sqrtf((float)m->out), rng);
    }
    init_uniform(m->bias, 1.0f / sqrtf((float)m->in), rng);
}

void lorand_module_init(lorand_module *m, rng_t *rng) {
    multi_init(&m->p1, rng);
    multi_init(&m->p2, rng);
}

static tensor *multi_forward(lorand_multi *m, graph *g, tensor *x) {
    tensor *w = op_lorand_weight(g, m->nb, m->A, m->G, m->B); /* (out, in) */
    return op_linear(g, x, w, m->bias);
}

tensor *lorand_module_forward(lorand_module *m, graph *g, tensor *x) {
    tensor *h = op_gelu(g, multi_forward(&m->p1, g, x));
    return op_add(g, x, multi_forward(&m->p2, g, h));
}

typedef struct lorand_block {
    lorand_module l[2];
} lorand_block;

extern const method method_lorand;

static void *lorand_declare(const void *ctx, params *ps, const block_info *bi) {
    method_opts tmp;
    const method_opts *o = method_opts_get(ctx, &method_lorand, &tmp);
    lorand_cfg cfg = {o->v[LORAND_OPT_BRANCHES].i[0], o->v[LORAND_OPT_KERNEL].i[0], o->v[LORAND_OPT_FACTOR].i[0]};
    lorand_block *m = xcalloc(1, sizeof *m);
    char p[96];
    snprintf(p, sizeof p, "%s.lorand1", bi->prefix);
    lorand_module_declare(&m->l[0], ps, p, bi->dim, &cfg);
    snprintf(p, sizeof p, "%s.lorand2", bi->prefix);
    lorand_module_declare(&m->l[1], ps, p, bi->dim, &cfg);
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
                              .summary = "LoRand (branches x kernel dim, bottleneck C/factor) after DropPath",
                              .plug.hooks = HOOK_BIT(HOOK_ATTN_POST_DP) | HOOK_BIT(HOOK_MLP_POST_DP),
                              .plug.block_declare = lorand_declare,
                              .plug.apply = lorand_apply,
                              .plug.block_init = lorand_init,
                              .plug.trainable = lorand_trainable,
                              .opts = lorand_opts,
                              .n_opts = LORAND_N_OPTS};
