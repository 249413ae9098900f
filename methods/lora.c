/* lora.c - LoRA on the query and value projections (§4.8): qkv(x) = W x + b + (alpha/r) [B_q A_q x; 0;
 * B_v A_v x], rank r = 64, alpha = 1 (options lora:rank=64:alpha=1), lora_A (2r, C) kaiming-uniform, lora_B (2C, r) zero. Unmerged
 * form (the eval-mode merge is the same function). Only lora_* parameters train. */
#include <math.h>
#include <stdlib.h>

#include "../core/init.h"
#include "method.h"

/* The options (method.h), defaults the authors' values (spec §4.8: MergedLinear r=64, lora_alpha=1). */
enum { LORA_OPT_RANK, LORA_OPT_ALPHA, LORA_N_OPTS };
static const method_opt lora_opts[LORA_N_OPTS] = {
    {"rank", MOPT_INT, "64", 1, 4096, 0, 0, "rank r of each of the q and v updates (lora_A (2r, C), lora_B (2C, r))"},
    {"alpha", MOPT_FLOAT, "1", 1e-6, 1e6, 0, 0, "lora_alpha: the update is scaled by alpha / r"},
};

typedef struct lora_mod {
    tensor *a, *b;
    int rank;
    float alpha;
} lora_mod;

extern const method method_lora;

static void *lora_declare(const void *ctx, params *ps, const block_info *bi) {
    method_opts tmp;
    const method_opts *o = method_opts_get(ctx, &method_lora, &tmp);
    lora_mod *m = xcalloc(1, sizeof *m);
    m->rank = o->v[LORA_OPT_RANK].i[0];
    m->alpha = (float)o->v[LORA_OPT_ALPHA].f;
    m->a = method_param(ps, bi, "attn.qkv.lora_A", 2, (int[]){2 * m->rank, bi->dim});
    m->b = method_param(ps, bi, "attn.qkv.lora_B", 2, (int[]){2 * bi->dim, m->rank});
    return m;
}

static void lora_init(void *mod, rng_t *rng, const block_info *bi) {
    lora_mod *m = mod;
    init_uniform(m->a, 1.0f / sqrtf((float)bi->dim), rng);
    init_const(m->b, 0.0f);
}

/* HOOK_QKV: x = qkv (R, 3C), aux = the windowed tokens (R, C) that fed qkv */
static tensor *lora_apply(void *mod, graph *g, hook_point hp, tensor *x, tensor *aux, const block_info *bi) {
    lora_mod *m = mod;
    tensor *t = op_linear(g, aux, m->a, NULL); /* (R, 2r) */
    return op_lora_qv(g, x, t, m->b, m->alpha / (float)m->rank);
}

static int lora_trainable(const char *name) { return name_contains(name, "lora_"); }

const method method_lora = {.name = "lora",
                            .summary = "LoRA on the q and v projections, scaled alpha / rank",
                            .plug.hooks = HOOK_BIT(HOOK_QKV),
                            .plug.block_declare = lora_declare,
                            .plug.apply = lora_apply,
                            .plug.block_init = lora_init,
                            .plug.trainable = lora_trainable,
                            .opts = lora_opts,
                            .n_opts = LORA_N_OPTS};
