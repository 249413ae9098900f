/* lora.c - LoRA on the query and value projections (§4.8): qkv(x) = W x + b + (alpha/r) [B_q A_q x; 0;
 * B_v A_v x], rank r = 64, alpha = 1, lora_A (2r, C) kaiming-uniform, lora_B (2C, r) zero. Unmerged
 * form (the eval-mode merge is the same function). Only lora_* parameters train. */
#include <math.h>
#include <stdlib.h>

#include "../core/init.h"
#include "method.h"

#define LORA_RANK 64
#define LORA_ALPHA 1.0f

typedef struct lora_mod {
    tensor *a, *b;
} lora_mod;

static void *lora_declare(params *ps, const block_info *bi) {
    lora_mod *m = xcalloc(1, sizeof *m);
    m->a = method_param(ps, bi, "attn.qkv.lora_A", 2, (int[]){2 * LORA_RANK, bi->dim});
    m->b = method_param(ps, bi, "attn.qkv.lora_B", 2, (int[]){2 * bi->dim, LORA_RANK});
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
    return op_lora_qv(g, x, t, m->b, LORA_ALPHA / LORA_RANK);
}

static int lora_trainable(const char *name) { return name_contains(name, "lora_"); }

const method method_lora = {.name = "lora",
                            .summary = "LoRA rank 64, alpha 1, on q and v",
                            .plug.hooks = HOOK_BIT(HOOK_QKV),
                            .plug.block_declare = lora_declare,
                            .plug.apply = lora_apply,
                            .plug.block_init = lora_init,
                            .plug.trainable = lora_trainable};
