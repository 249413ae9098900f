/* adapter.c - sequential (Houlsby-style) adapter as in the Mona repository (§4.6): two per block,
 * inside each branch before DropPath: X1 = X + DP(Ad1(A)), X2 = X1 + DP(Ad2(MLP(LN2 X1))), where
 * Ad(z) = z + bottleneck(z). Only 'my_module' parameters train. */
#include <stdlib.h>

#include "bottleneck.h"

/* The options (method.h), default the authors' value (spec §4.6: width 64, hard-coded there). */
enum { ADAPTER_OPT_WIDTH, ADAPTER_N_OPTS };
static const method_opt adapter_opts[ADAPTER_N_OPTS] = {
    {"width", MOPT_INT, "64", 1, 4096, 0, 0, "bottleneck width (project1: C -> width -> C)"},
};

typedef struct adapter_mod {
    bottleneck ad[2];
} adapter_mod;

extern const method method_adapter;

static void *adapter_declare(const void *ctx, params *ps, const block_info *bi) {
    method_opts tmp;
    const method_opts *o = method_opts_get(ctx, &method_adapter, &tmp);
    int w = o->v[ADAPTER_OPT_WIDTH].i[0];
    adapter_mod *m = xcalloc(1, sizeof *m);
    bottleneck_declare(&m->ad[0], ps, bi, "my_module_1", w);
    bottleneck_declare(&m->ad[1], ps, bi, "my_module_2", w);
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
                               .summary = "sequential adapter in both branches, before DropPath",
                               .plug.hooks = HOOK_BIT(HOOK_ATTN_BRANCH) | HOOK_BIT(HOOK_MLP_BRANCH),
                               .plug.block_declare = adapter_declare,
                               .plug.apply = adapter_apply,
                               .plug.block_init = adapter_init,
                               .plug.trainable = adapter_trainable,
                               .opts = adapter_opts,
                               .n_opts = ADAPTER_N_OPTS};
