/* mona.c - Mona, the multi-cognitive visual adapter (§2, §3 of the spec), two per block on the residual
 * stream after each residual add ('my_module_1' after attention, 'my_module_2' after the MLP):
 *   T = LN(X) * gamma + X * gammax                        X (B*H*W, C)
 *   P = project1(T)                                       (B, H, W, 64), NHWC
 *   D = (dw3(P) + dw5(P) + dw7(P)) / 3 + P                depthwise convs on the un-windowed map, computed
 *                                                         as one 7x7 conv (op_dwconv_mix_nhwc)
 *   Q = D + projector(D)                                  1x1 conv = per-pixel linear
 *   Y = X + project2(dropout_0.1(gelu(Q)))
 * Only parameters whose name contains 'my_module' train. A unit is six ops (layernorm_mix, linear, dwconv_mix,
 * linear_residual, gelu_dropout, linear_residual); the fused ones are tested against their unfused forms. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../core/init.h"
#include "method.h"

#define MONA_WIDTH 64
#define MONA_DROPOUT 0.1f

typedef struct mona_unit {
    tensor *norm_w, *norm_b, *gamma, *gammax, *w1, *b1, *w2, *b2;
    tensor *dw_w[3], *dw_b[3], *pw_w, *pw_b;
} mona_unit;

typedef struct mona_mod {
    mona_unit u[2];
} mona_mod;

static void unit_declare(mona_unit *u, params *ps, const block_info *bi, const char *name) {
    char s[128];
    int C = bi->dim, W = MONA_WIDTH;
#define P(field, suffix, nd, ...)                                                                                      \
    snprintf(s, sizeof s, "%s.%s", name, suffix);                                                                      \
    u->field = method_param(ps, bi, s, nd, (int[]){__VA_ARGS__})
    P(dw_w[0], "adapter_conv.conv1.weight", 4, W, 1, 3, 3);
    P(dw_b[0], "adapter_conv.conv1.bias", 1, W);
    P(dw_w[1], "adapter_conv.conv2.weight", 4, W, 1, 5, 5);
    P(dw_b[1], "adapter_conv.conv2.bias", 1, W);
    P(dw_w[2], "adapter_conv.conv3.weight", 4, W, 1, 7, 7);
    P(dw_b[2], "adapter_conv.conv3.bias", 1, W);
    P(pw_w, "adapter_conv.projector.weight", 4, W, W, 1, 1);
    P(pw_b, "adapter_conv.projector.bias", 1, W);
    P(norm_w, "norm.weight", 1, C);
    P(norm_b, "norm.bias", 1, C);
    P(gamma, "gamma", 1, C);
    P(gammax, "gammax", 1, C);
    P(w1, "project1.weight", 2, W, C);
    P(b1, "project1.bias", 1, W);
    P(w2, "project2.weight", 2, C, W);
    P(b2, "project2.bias", 1, C);
#undef P
}

static void *mona_declare(params *ps, const block_info *bi) {
    mona_mod *m = xcalloc(1, sizeof *m);
    unit_declare(&m->u[0], ps, bi, "my_module_1");
    unit_declare(&m->u[1], ps, bi, "my_module_2");
    return m;
}

/* The Mona repository's init: backbone init_weights on every submodule (trunc-normal linears, zero
 * biases, LN (1, 0)), convs keep PyTorch's default U(+-1/sqrt(fan_in)), gamma 1e-6, gammax 1. */
static void unit_init(mona_unit *u, rng_t *rng) {
    static const int k[3] = {3, 5, 7};
    for (int i = 0; i < 3; i++) {
        init_uniform(u->dw_w[i], 1.0f / k[i], rng);
        init_uniform(u->dw_b[i], 1.0f / k[i], rng);
    }
    init_uniform(u->pw_w, 1.0f / 8.0f, rng);
    init_uniform(u->pw_b, 1.0f / 8.0f, rng);
    init_const(u->norm_w, 1.0f);
    init_const(u->norm_b, 0.0f);
    init_const(u->gamma, 1e-6f);
    init_const(u->gammax, 1.0f);
    init_trunc_normal(u->w1, 0.02f, rng);
    init_const(u->b1, 0.0f);
    init_trunc_normal(u->w2, 0.02f, rng);
    init_const(u->b2, 0.0f);
}

static void mona_init(void *mod, rng_t *rng, const block_info *bi) {
    mona_mod *m = mod;
    unit_init(&m->u[0], rng);
    unit_init(&m->u[1], rng);
}

static tensor *unit_forward(mona_unit *u, graph *g, tensor *x, const block_info *bi) {
    tensor *t = op_layernorm_mix(g, x, u->norm_w, u->norm_b, 1e-5f, u->gamma, u->gammax); /* LN(X) gamma + X gammax */
    tensor *p = op_linear(g, t, u->w1, u->b1); /* (R, 64): rows are the NHWC map's pixels */
    /* P + (dw3(P) + dw5(P) + dw7(P)) / 3 as one 7x7 depthwise conv (kernel (pad(w3) + pad(w5) + w7) / 3 + centre 1) */
    tensor *d = op_dwconv_mix_nhwc(g, p, bi->H, bi->W, 3, u->dw_w, u->dw_b, 1.0f / 3.0f, 1.0f);
    tensor *pw = op_reshape(g, u->pw_w, 2, (int[]){MONA_WIDTH, MONA_WIDTH});
    tensor *q = op_linear_residual(g, d, d, pw, u->pw_b);  /* D + projector(D) */
    tensor *h = op_gelu_dropout(g, q, MONA_DROPOUT); /* dropout(gelu(Q)) */
    return op_linear_residual(g, x, h, u->w2, u->b2); /* X + project2(H) */
}

static tensor *mona_apply(void *mod, graph *g, hook_point hp, tensor *x, tensor *aux, const block_info *bi) {
    mona_mod *m = mod;
    return unit_forward(&m->u[hp == HOOK_ATTN_RESIDUAL ? 0 : 1], g, x, bi);
}

static int mona_trainable(const char *name) { return name_contains(name, "my_module"); }

const method method_mona = {.name = "mona",
                            .summary = "Mona (width 64) after both residual adds; gamma 1e-6, gammax 1",
                            .plug.hooks = HOOK_BIT(HOOK_ATTN_RESIDUAL) | HOOK_BIT(HOOK_MLP_RESIDUAL),
                            .plug.block_declare = mona_declare,
                            .plug.apply = mona_apply,
                            .plug.block_init = mona_init,
                            .plug.trainable = mona_trainable};
