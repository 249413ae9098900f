/* adaptformer.c - AdaptFormer (§4.7): one bottleneck per block, parallel to the MLP, reading the
 * residual stream before norm2 and scaled by a fixed 0.1: X2 = X1 + DP(MLP(LN2 X1)) + 0.1 * Ad(X1). */
#include <stdlib.h>

#include "bottleneck.h"

#define ADAPTFORMER_SCALE 0.1f

static void *adaptformer_declare(params *ps, const block_info *bi) {
    bottleneck *m = xcalloc(1, sizeof *m);
    bottleneck_declare(m, ps, bi, "my_module_1");
    return m;
}

static void adaptformer_init(void *mod, rng_t *rng, const block_info *bi) { bottleneck_init(mod, rng); }

static tensor *adaptformer_apply(void *mod, graph *g, hook_point hp, tensor *x, tensor *aux, const block_info *bi) {
    return op_scale(g, bottleneck_forward(mod, g, x), ADAPTFORMER_SCALE);
}

static int adaptformer_trainable(const char *name) { return name_contains(name, "my_module"); }

const method method_adaptformer = {.name = "adaptformer",
                                   .summary = "parallel adapter (width 64) beside the MLP, scale 0.1",
                                   .plug.hooks = HOOK_BIT(HOOK_MLP_PARALLEL),
                                   .plug.block_declare = adaptformer_declare,
                                   .plug.apply = adaptformer_apply,
                                   .plug.block_init = adaptformer_init,
                                   .plug.trainable = adaptformer_trainable};
