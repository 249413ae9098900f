/* mona.c - Mona, the multi-cognitive visual adapter (§2, §3 of the spec), two per block on the residual
 * stream after each residual add ('my_module_1' after attention, 'my_module_2' after the MLP):
 *   T = LN(X) * gamma + X * gammax                        X (B*H*W, C)
 *   P = project1(T)                                       (B, H, W, m), NHWC, m = width (64)
 *   D = (dw3(P) + dw5(P) + dw7(P)) / 3 + P                depthwise convs on the un-windowed map, computed
 *                                                         as one 7x7 conv (op_dwconv_mix_nhwc)
 *   Q = D + projector(D)                                  1x1 conv = per-pixel linear
 *   Y = X + project2(dropout_0.1(gelu(Q)))
 * Options (mona:width=64:kernels=3,5,7:scaled_ln=on are the authors' values): width m, the kernel sizes
 * (their mean replaces the /3), scaled_ln=off drops the input norm (T = X).
 * Only parameters whose name contains 'my_module' train. A unit is six ops (layernorm_mix, linear, dwconv_mix,
 * linear_residual, gelu_dropout, linear_residual); the fused ones are tested against their unfused forms. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../core/init.h"
#include "method.h"

#define MONA_DROPOUT 0.1f
#define MONA_MAX_KERNELS 8

/* The options (method.h), defaults the authors' values (spec §2.1). */
enum { MONA_OPT_WIDTH, MONA_OPT_KERNELS, MONA_OPT_SCALED_LN, MONA_N_OPTS };
static const method_opt mona_opts[MONA_N_OPTS] = {
    {"width", MOPT_INT, "64", 1, 4096, 0, 0, "bottleneck width m (project1: C -> m, the convs on m channels)"},
    {"kernels", MOPT_INT_LIST, "3,5,7", 1, 15, MONA_MAX_KERNELS, 1,
     "depthwise kernel sizes of the multi-cognitive filters, averaged (adapter_conv.conv1..convN)"},
    {"scaled_ln", MOPT_BOOL, "on", 0, 1, 0, 0,
     "input T = LN(X) gamma + X gammax (on) or T = X (off: no norm, gamma, gammax parameters)"},
};

typedef struct mona_unit {
    tensor *norm_w, *norm_b, *gamma, *gammax, *w1, *b1, *w2, *b2;
    tensor *dw_w[MONA_MAX_KERNELS], *dw_b[MONA_MAX_KERNELS], *pw_w, *pw_b;
} mona_unit;

typedef struct mona_mod {
    int width, n_k, k[MONA_MAX_KERNELS], scaled_ln;
    mona_unit u[2];
} mona_mod;

static void unit_declare(mona_unit *u, const mona_mod *m, params *ps, const block_info *bi, const char *name) {
    char s[128], t[64];
    int C = bi->dim, W = m->width;
#define P(field, suffix, nd, ...)                                                                                      \
    snprintf(s, sizeof s, "%s.%s", name, suffix);                                                                      \
    u->field = method_param(ps, bi, s, nd, (int[]){__VA_ARGS__})
    for (int i = 0; i < m->n_k; i++) {
        snprintf(t, sizeof t, "adapter_conv.conv%d.weight", i + 1);
        P(dw_w[i], t, 4, W, 1, m->k[i], m->k[i]);
        snprintf(t, sizeof t, "adapter_conv.conv%d.bias", i + 1);
        P(dw_b[i], t, 1, W);
    }
    P(pw_w, "adapter_conv.projector.weight", 4, W, W, 1, 1);
    P(pw_b, "adapter_conv.projector.bias", 1, W);
    if (m->scaled_ln) {
        P(norm_w, "norm.weight", 1, C);
        P(norm_b, "norm.bias", 1, C);
        P(gamma, "gamma", 1, C);
        P(gammax, "gammax", 1, C);
    }
    P(w1, "project1.weight", 2, W, C);
    P(b1, "project1.bias", 1, W);
    P(w2, "project2.weight", 2, C, W);
    P(b2, "project2.bias", 1, C);
#undef P
}

extern const method method_mona;

static void *mona_declare(const void *ctx, params *ps, const block_info *bi) {
    method_opts tmp;
    const method_opts *o = method_opts_get(ctx, &method_mona, &tmp);
    mona_mod *m = xcalloc(1, sizeof *m);
    m->width = o->v[MONA_OPT_WIDTH].i[0];
    m->n_k = o->v[MONA_OPT_KERNELS].n;
    for (int i = 0; i < m->n_k; i++) m->k[i] = o->v[MONA_OPT_KERNELS].i[i];
    m->scaled_ln = o->v[MONA_OPT_SCALED_LN].i[0];
    unit_declare(&m->u[0], m, ps, bi, "my_module_1");
    unit_declare(&m->u[1], m, ps, bi, "my_module_2");
    return m;
}

/* The Mona repository's init: backbone init_weights on every submodule (trunc-normal linears, zero
 * biases, LN (1, 0)), convs keep PyTorch's default U(+-1/sqrt(fan_in)) (fan_in k*k for the depthwise ones, m
 * for the projector: 1/8 at m = 64), gamma 1e-6, gammax 1. */
static void unit_init(mona_unit *u, const mona_mod *m, rng_t *rng) {
    for (int i = 0; i < m->n_k; i++) {
        init_uniform(u->dw_w[i], 1.0f / m->k[i], rng);
        init_uniform(u->dw_b[i], 1.0f / m->k[i], rng);
    }
    init_uniform(u->pw_w, 1.0f / sqrtf((float)m->width), rng);
    init_uniform(u->pw_b, 1.0f / sqrtf((float)m->width), rng);
    if (m->scaled_ln) {
        init_const(u->norm_w, 1.0f);
        init_const(u->norm_b, 0.0f);
        init_const(u->gamma, 1e-6f);
        init_const(u->gammax, 1.0f);
    }
    init_trunc_normal(u->w1, 0.02f, rng);
    init_const(u->b1, 0.0f);
    init_trunc_normal(u->w2, 0.02f, rng);
    init_const(u->b2, 0.0f);
}

static void mona_init(void *mod, rng_t *rng, const block_info *bi) {
    mona_mod *m = mod;
    unit_init(&m->u[0], m, rng);
    unit_init(&m->u[1], m, rng);
}

static tensor *unit_forward(mona_unit *u, const mona_mod *m, graph *g, tensor *x, const block_info *bi) {
    /* T = LN(X) gamma + X gammax (scaled_ln=off: T = X) */
    tensor *t = m->scaled_ln ? op_layernorm_mix(g, x, u->norm_w, u->norm_b, 1e-5f, u->gamma, u->gammax) : x;
    tensor *p = op_linear(g, t, u->w1, u->b1); /* (R, m): rows are the NHWC map's pixels */
    /* P + (dw3(P) + dw5(P) + dw7(P)) / 3 as one 7x7 depthwise conv (kernel (pad(w3) + pad(w5) + w7) / 3 + centre 1);
     * with other kernels the mean over n of them, as one conv of the largest size */
    tensor *d = op_dwconv_mix_nhwc(g, p, bi->H, bi->W, m->n_k, u->dw_w, u->dw_b, 1.0f / (float)m->n_k, 1.0f);
    tensor *pw = op_reshape(g, u->pw_w, 2, (int[]){m->width, m->width});
    tensor *q = op_linear_residual(g, d, d, pw, u->pw_b);  /* D + projector(D) */
    tensor *h = op_gelu_dropout(g, q, MONA_DROPOUT); /* dropout(gelu(Q)) */
    return op_linear_residual(g, x, h, u->w2, u->b2); /* X + project2(H) */
}

static tensor *mona_apply(void *mod, graph *g, hook_point hp, tensor *x, tensor *aux, const block_info *bi) {
    mona_mod *m = mod;
    return unit_forward(&m->u[hp == HOOK_ATTN_RESIDUAL ? 0 : 1], m, g, x, bi);
}

static int mona_trainable(const char *name) { return name_contains(name, "my_module"); }

const method method_mona = {.name = "mona",
                            .summary = "Mona after both residual adds; gamma 1e-6, gammax 1",
                            .plug.hooks = HOOK_BIT(HOOK_ATTN_RESIDUAL) | HOOK_BIT(HOOK_MLP_RESIDUAL),
                            .plug.block_declare = mona_declare,
                            .plug.apply = mona_apply,
                            .plug.block_init = mona_init,
                            .plug.trainable = mona_trainable,
                            .opts = mona_opts,
                            .n_opts = MONA_N_OPTS};
