/* adaptformer.c - AdaptFormer (§4.7): one bottleneck per block, parallel to the MLP, reading the
 * residual stream before norm2 and scaled by a fixed 0.1: X2 = X1 + DP(MLP(LN2 X1)) + 0.1 * Ad(X1). */
#include <stdlib.h>

#include "bottleneck.h"

/* The options (method.h), defaults the authors' values (spec §4.7: width 64, fixed scale 0.1). */
enum { ADAPTFORMER_OPT_WIDTH, ADAPTFORMER_OPT_SCALE, ADAPTFORMER_N_OPTS };
static const method_opt adaptformer_opts[ADAPTFORMER_N_OPTS] = {
    {"width", MOPT_INT, "64", 1, 4096, 0, 0, "bottleneck width (C -> width -> C)"},
    {"scale", MOPT_FLOAT, "0.1", 0, 100, 0, 0, "fixed (not learnt) factor on the adapter's output"},
};

typedef struct adaptformer_mod {
    bottleneck ad;
    float scale;
} adaptformer_mod;

extern const method method_adaptformer;

static void *adaptformer_declare(const void *ctx, params *ps, const block_info *bi) {
    method_opts tmp;
    const method_opts *o = method_opts_get(ctx, &method_adaptformer, &tmp);
    adaptformer_mod *m = xcalloc(1, sizeof *m);
    m->scale = (float)o->v[ADAPTFORMER_OPT_SCALE].f;
    bottleneck_declare(&m->ad, ps, bi, "my_module_1", o->v[ADAPTFORMER_OPT_WIDTH].i[0]);
    return m;
}

static void adaptformer_init(void *mod, rng_t *rng, const block_info *bi) { bottleneck_init(&((adaptformer_mod *)mod)->ad, rng); }

static tensor *adaptformer_apply(void *mod, graph *g, hook_point hp, tensor *x, tensor *aux, const block_info *bi) {
    adaptformer_mod *m = mod;
    return op_scale(g, bottleneck_forward(&m->ad, g, x), m->scale);
}

static int adaptformer_trainable(const char *name) { return name_contains(name, "my_module"); }

const method method_adaptformer = {.name = "adaptformer",
                                   .summary = "parallel adapter beside the MLP, fixed scale",
                                   .plug.hooks = HOOK_BIT(HOOK_MLP_PARALLEL),
                                   .plug.block_declare = adaptformer_declare,
                                   .plug.apply = adaptformer_apply,
                                   .plug.block_init = adaptformer_init,
                                   .plug.trainable = adaptformer_trainable,
                                   .opts = adaptformer_opts,
                                   .n_opts = ADAPTFORMER_N_OPTS};
