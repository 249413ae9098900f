/* adapter.c - sequential (Houlsby-style) adapter as in the Mona repository (§4.6): two per block,
 * inside each branch before DropPath: X1 = X + DP(Ad1(A)), X2 = X1 + DP(Ad2(MLP(LN2 X1))), where
 * Ad(z) = z + bottleneck(z). Only 'my_module' parameters train. */
#include <stdlib.h>

#include "bottleneck.h"

typedef struct adapter_mod {
    bottleneck ad[2];
} adapter_mod;

static void *adapter_declare(params *ps, const block_info *bi) {
    adapter_mod *m = xcalloc(1, sizeof *m);
    bottleneck_declare(&m->ad[0], ps, bi, "my_module_1");
    bottleneck_declare(&m->ad[1], ps, bi, "my_module_2");
    return m;
}

static void adapter_init(void *mod, rng_t *rng, const block_info *bi) {
    adapter_mod *m = mod;
    bottleneck_init(&m->ad[0], rng);
    bottleneck_init(&m->ad[1], rng);
}

static tensor *adapter_apply(void *mod, graph *g, hook_point hp, tensor *x, tensor *aux, const block_info *bi) {
    adapter_mod *m = mod;
    bottleneck *b = &m->ad[hp == HOOK_ATTN_BRANCH ? 0 : 1];
    return op_add(g, x, bottleneck_forward(b, g, x));
}

static int adapter_trainable(const char *name) { return name_contains(name, "my_module"); }

const method method_adapter = {.name = "adapter",
                               .summary = "sequential adapter (width 64) in both branches, before DropPath",
                               .plug.hooks = HOOK_BIT(HOOK_ATTN_BRANCH) | HOOK_BIT(HOOK_MLP_BRANCH),
                               .plug.block_declare = adapter_declare,
                               .plug.apply = adapter_apply,
                               .plug.block_init = adapter_init,
                               .plug.trainable = adapter_trainable};
