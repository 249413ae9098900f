/* swin.c - the Swin Transformer backbone, forward built from ops (backward comes from the tape). */
#include "swin.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/init.h"

int swin_preset(const char *name, swin_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->in_chans = 3;
    cfg->window = 7;
    cfg->patch = 4;
    cfg->mlp_ratio = 4.0f;
    cfg->out_mask = 0xF;
    cfg->frozen_stages = -1;
    cfg->eps = 1e-5f;
    int d[4] = {2, 2, 18, 2};
    int e = 0, h0 = 0;
    if (!strcmp(name, "swin-t")) {
        e = 96, h0 = 3;
        d[2] = 6;
    } else if (!strcmp(name, "swin-s")) e = 96, h0 = 3;
    else if (!strcmp(name, "swin-b")) e = 128, h0 = 4;
    else if (!strcmp(name, "swin-l")) e = 192, h0 = 6;
    else if (!strncmp(name, "tiny:", 5)) {
        int hh[4], win = 7, used = 0, used_w = 0;
        if (sscanf(name + 5, "%d:%d,%d,%d,%d:%d,%d,%d,%d%n", &e, &d[0], &d[1], &d[2], &d[3], &hh[0], &hh[1], &hh[2], &hh[3], &used) != 9 ||
            e <= 0 || (name[5 + used] && (sscanf(name + 5 + used, ":w%d%n", &win, &used_w) != 1 || name[5 + used + used_w] || win < 1)))
            return err_set("backbone '%s': expected tiny:<embed>:<d0,d1,d2,d3>:<h0,h1,h2,h3>[:w<window>]", name);
        cfg->window = win;
        cfg->embed_dim = e;
        for (int i = 0; i < 4; i++) {
            cfg->depths[i] = d[i];
            cfg->num_heads[i] = hh[i];
            if ((e << i) % hh[i]) return err_set("backbone '%s': stage %d dim %d not divisible by %d heads", name, i, e << i, hh[i]);
        }
        return 0;
    } else
        return err_set("unknown backbone '%s' (known: swin-t, swin-s, swin-b, swin-l, tiny:<embed>:<depths>:<heads>[:w<window>])", name);
    cfg->embed_dim = e;
    for (int i = 0; i < 4; i++) {
        cfg->depths[i] = d[i];
        cfg->num_heads[i] = h0 << i;
    }
    return 0;
}

void swin_config_str(const swin_config *c, char *buf, int n) {
    snprintf(buf, n, "Swin (embed %d, depths %d,%d,%d,%d, heads %d,%d,%d,%d, window %d, out_mask 0x%x, drop_path %.2f)",
             c->embed_dim, c->depths[0], c->depths[1], c->depths[2], c->depths[3], c->num_heads[0], c->num_heads[1],
             c->num_heads[2], c->num_heads[3], c->window, c->out_mask, c->drop_path_rate);
}

static tensor *decl(params *ps, const char *prefix, const char *suffix, int ndim, int d0, int d1, int d2, int d3) {
    char name[160];
    snprintf(name, sizeof name, "%s%s%s", prefix, prefix[0] ? "." : "", suffix);
    int shape[4] = {d0, d1, d2, d3};
    return params_add(ps, name, ndim, shape);
}

int swin_out_stages(const swin_config *cfg, int *stage, int *channels) {
    int n = 0;
    for (int st = 0; st < SWIN_STAGES; st++)
        if (cfg->out_mask & (1 << st)) {
            if (channels) channels[n] = cfg->embed_dim << st;
            stage[n++] = st;
        }
    return n;
}

void swin_build(swin *s, params *ps, const swin_config *cfg, const swin_plugin *m) {
    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    s->plug = m;
    s->ps = ps;
    s->param_first = ps->n;
    int C0 = cfg->embed_dim, P = cfg->patch, M = cfg->window, T = M * M;
    s->pe_w = decl(ps, "", "patch_embed.proj.weight", 4, C0, cfg->in_chans, P, P);
    s->pe_b = decl(ps, "", "patch_embed.proj.bias", 1, C0, 0, 0, 0);
    s->pe_norm_w = decl(ps, "", "patch_embed.norm.weight", 1, C0, 0, 0, 0);
    s->pe_norm_b = decl(ps, "", "patch_embed.norm.bias", 1, C0, 0, 0, 0);
    int total = 0, gi = 0;
    for (int i = 0; i < SWIN_STAGES; i++) total += cfg->depths[i];
    for (int si = 0; si < SWIN_STAGES; si++) {
        swin_stage *st = &s->stages[si];
        int C = C0 << si, hd = (int)(C * cfg->mlp_ratio);
        st->depth = cfg->depths[si];
        st->dim = C;
        st->heads = cfg->num_heads[si];
        st->blocks = xcalloc(st->depth, sizeof(swin_block));
        for (int j = 0; j < st->depth; j++, gi++) {
            swin_block *b = &st->blocks[j];
            snprintf(b->bi.prefix, sizeof b->bi.prefix, "layers.%d.blocks.%d", si, j);
            b->bi.stage = si;
            b->bi.block = j;
            b->bi.dim = C;
            b->bi.heads = st->heads;
            b->shift = (j % 2) ? M / 2 : 0;
            b->drop_path = total > 1 ? cfg->drop_path_rate * gi / (total - 1) : 0.0f;
            const char *p = b->bi.prefix;
            b->norm1_w = decl(ps, p, "norm1.weight", 1, C, 0, 0, 0);
            b->norm1_b = decl(ps, p, "norm1.bias", 1, C, 0, 0, 0);
            b->table = decl(ps, p, "attn.relative_position_bias_table", 2, (2 * M - 1) * (2 * M - 1), st->heads, 0, 0);
            b->qkv_w = decl(ps, p, "attn.qkv.weight", 2, 3 * C, C, 0, 0);
            b->qkv_b = decl(ps, p, "attn.qkv.bias", 1, 3 * C, 0, 0, 0);
            b->proj_w = decl(ps, p, "attn.proj.weight", 2, C, C, 0, 0);
            b->proj_b = decl(ps, p, "attn.proj.bias", 1, C, 0, 0, 0);
            b->norm2_w = decl(ps, p, "norm2.weight", 1, C, 0, 0, 0);
            b->norm2_b = decl(ps, p, "norm2.bias", 1, C, 0, 0, 0);
            b->fc1_w = decl(ps, p, "mlp.fc1.weight", 2, hd, C, 0, 0);
            b->fc1_b = decl(ps, p, "mlp.fc1.bias", 1, hd, 0, 0, 0);
            b->fc2_w = decl(ps, p, "mlp.fc2.weight", 2, C, hd, 0, 0);
            b->fc2_b = decl(ps, p, "mlp.fc2.bias", 1, C, 0, 0, 0);
            b->mod = m && m->block_declare ? m->block_declare(m->ctx, ps, &b->bi) : NULL;
        }
        if (si < SWIN_STAGES - 1) {
            char pre[32];
            snprintf(pre, sizeof pre, "layers.%d.downsample", si);
            st->down_norm_w = decl(ps, pre, "norm.weight", 1, 4 * C, 0, 0, 0);
            st->down_norm_b = decl(ps, pre, "norm.bias", 1, 4 * C, 0, 0, 0);
            st->down_red_w = decl(ps, pre, "reduction.weight", 2, 2 * C, 4 * C, 0, 0);
        }
    }
    for (int si = 0; si < SWIN_STAGES; si++)
        if (cfg->out_mask & (1 << si)) {
            char pre[16];
            snprintf(pre, sizeof pre, "norm%d", si);
            s->stages[si].out_norm_w = decl(ps, pre, "weight", 1, C0 << si, 0, 0, 0);
            s->stages[si].out_norm_b = decl(ps, pre, "bias", 1, C0 << si, 0, 0, 0);
        }
    s->param_last = ps->n;
    /* the plug-in's freezing rule, then frozen_stages (as mmdet's _freeze_stages) */
    for (int i = s->param_first; i < s->param_last; i++) {
        param *pp = ps->p[i];
        pp->trainable = m && m->trainable ? m->trainable(pp->name) : 1;
        if (cfg->frozen_stages >= 0 && !strncmp(pp->name, "patch_embed.", 12)) pp->trainable = 0;
        for (int k = 0; k < cfg->frozen_stages - 1; k++) {
            char pre[24];
            snprintf(pre, sizeof pre, "layers.%d.", k);
            if (!strncmp(pp->name, pre, strlen(pre))) pp->trainable = 0;
        }
    }
    /* relative position index: idx(t1, t2) = (i1 - i2 + M - 1)(2M - 1) + (j1 - j2 + M - 1) */
    s->rel_index = xmalloc(sizeof(int) * T * T);
    for (int t1 = 0; t1 < T; t1++)
        for (int t2 = 0; t2 < T; t2++)
            s->rel_index[t1 * T + t2] = (t1 / M - t2 / M + M - 1) * (2 * M - 1) + (t1 % M - t2 % M + M - 1);
}

void swin_free(swin *s) {
    for (int si = 0; si < SWIN_STAGES; si++) {
        for (int j = 0; j < s->stages[si].depth; j++) free(s->stages[si].blocks[j].mod);
        free(s->stages[si].blocks);
    }
    free(s->rel_index);
    memset(s, 0, sizeof *s);
}

void swin_init(swin *s, rng_t *rng) {
    const swin_config *cfg = &s->cfg;
    init_uniform(s->pe_w, 1.0f / sqrtf((float)(cfg->in_chans * cfg->patch * cfg->patch)), rng);
    init_uniform(s->pe_b, 1.0f / sqrtf((float)(cfg->in_chans * cfg->patch * cfg->patch)), rng);
    init_const(s->pe_norm_w, 1.0f);
    init_const(s->pe_norm_b, 0.0f);
    for (int si = 0; si < SWIN_STAGES; si++) {
        swin_stage *st = &s->stages[si];
        for (int j = 0; j < st->depth; j++) {
            swin_block *b = &st->blocks[j];
            init_const(b->norm1_w, 1), init_const(b->norm1_b, 0), init_const(b->norm2_w, 1), init_const(b->norm2_b, 0);
            init_trunc_normal(b->table, 0.02f, rng);
            init_trunc_normal(b->qkv_w, 0.02f, rng), init_const(b->qkv_b, 0);
            init_trunc_normal(b->proj_w, 0.02f, rng), init_const(b->proj_b, 0);
            init_trunc_normal(b->fc1_w, 0.02f, rng), init_const(b->fc1_b, 0);
            init_trunc_normal(b->fc2_w, 0.02f, rng), init_const(b->fc2_b, 0);
            if (s->plug && s->plug->block_init && b->mod) s->plug->block_init(b->mod, rng, &b->bi);
        }
        if (st->down_norm_w) {
            init_const(st->down_norm_w, 1), init_const(st->down_norm_b, 0);
            init_trunc_normal(st->down_red_w, 0.02f, rng);
        }
        if (st->out_norm_w) init_const(st->out_norm_w, 1), init_const(st->out_norm_b, 0);
    }
}

/* ---- index maps for one stage resolution (built per forward in the arena; sizes vary per batch) ---- */
typedef struct win_maps {
    int Hp, Wp, nwh, nww, nw;
    int *win[2]; /* [shift?]: window row -> token row (B*nw*T), -1 for padding */
    int *rev[2]; /* [shift?]: token row -> window row (B*H*W) */
    float *mask; /* (nw, T, T) for the shifted blocks */
} win_maps;

static void build_maps(graph *g, win_maps *wm, int B, int H, int W, int M, int S, int need_shift) {
    int T = M * M;
    wm->Hp = (H + M - 1) / M * M;
    wm->Wp = (W + M - 1) / M * M;
    wm->nwh = wm->Hp / M;
    wm->nww = wm->Wp / M;
    wm->nw = wm->nwh * wm->nww;
    for (int sh = 0; sh < 1 + need_shift; sh++) {
        int s = sh ? S : 0;
        int *win = arena_alloc(&g->mem, sizeof(int) * (size_t)B * wm->nw * T);
        int *rev = arena_alloc(&g->mem, sizeof(int) * (size_t)B * H * W);
        for (int b = 0; b < B; b++)
            for (int wr = 0; wr < wm->nwh; wr++)
                for (int wc = 0; wc < wm->nww; wc++)
                    for (int t = 0; t < T; t++) {
                        int rr = wr * M + t / M, cc = wc * M + t % M;  /* rolled canvas position */
                        int r0 = (rr + s) % wm->Hp, c0 = (cc + s) % wm->Wp; /* original canvas position */
                        int row = ((b * wm->nwh + wr) * wm->nww + wc) * T + t;
                        if (r0 < H && c0 < W) {
                            win[row] = (b * H + r0) * W + c0;
                            rev[(b * H + r0) * W + c0] = row;
                        } else
                            win[row] = -1;
                    }
        wm->win[sh] = win;
        wm->rev[sh] = rev;
    }
    wm->mask = NULL;
    if (need_shift) {
        /* region ids on the rolled canvas: 0 below Hp - M, 1 in [Hp - M, Hp - S), 2 from Hp - S */
        float *mask = arena_alloc(&g->mem, sizeof(float) * (size_t)wm->nw * T * T);
        int *id = arena_alloc(&g->mem, sizeof(int) * T);
        for (int wr = 0; wr < wm->nwh; wr++)
            for (int wc = 0; wc < wm->nww; wc++) {
                for (int t = 0; t < T; t++) {
                    int rr = wr * M + t / M, cc = wc * M + t % M;
                    int a = rr < wm->Hp - M ? 0 : (rr < wm->Hp - S ? 1 : 2);
                    int c = cc < wm->Wp - M ? 0 : (cc < wm->Wp - S ? 1 : 2);
                    id[t] = 3 * a + c;
                }
                float *mk = mask + (size_t)(wr * wm->nww + wc) * T * T;
                for (int t1 = 0; t1 < T; t1++)
                    for (int t2 = 0; t2 < T; t2++) mk[t1 * T + t2] = id[t1] == id[t2] ? 0.0f : -100.0f;
            }
        wm->mask = mask;
    }
}

static tensor *hook(swin *s, swin_block *b, graph *g, hook_point hp, tensor *x, tensor *aux) {
    if (!s->plug || !(s->plug->hooks & HOOK_BIT(hp))) return hp == HOOK_MLP_PARALLEL ? NULL : x;
    return s->plug->apply(b->mod, g, hp, x, aux, &b->bi);
}

/* x (B*H*W, C) tokens -> (B*H*W, C) */
static tensor *block_forward(swin *s, swin_block *b, graph *g, tensor *x, int B, int H, int W, const win_maps *wm) {
    int C = b->bi.dim, M = s->cfg.window, T = M * M, sh = b->shift ? 1 : 0;
    b->bi.H = H;
    b->bi.W = W;
    float eps = s->cfg.eps;
    int nrows = B * wm->nw * T;
    /* attention branch */
    tensor *y = op_layernorm(g, x, b->norm1_w, b->norm1_b, eps);
    int wshape[2] = {nrows, C};
    tensor *yw = op_gather_rows(g, y, wm->win[sh], nrows, 2, wshape);
    tensor *qkv = op_linear(g, yw, b->qkv_w, b->qkv_b);
    qkv = hook(s, b, g, HOOK_QKV, qkv, yw);
    int d = C / b->bi.heads;
    tensor *o = op_window_attention(g, qkv, b->table, s->rel_index, sh ? wm->mask : NULL, wm->nw, T, b->bi.heads,
                                    1.0f / sqrtf((float)d));
    tensor *a = op_linear(g, o, b->proj_w, b->proj_b);
    int tshape[2] = {B * H * W, C};
    a = op_gather_rows(g, a, wm->rev[sh], B * H * W, 2, tshape);
    a = hook(s, b, g, HOOK_ATTN_BRANCH, a, NULL);
    a = op_drop_path(g, op_reshape(g, a, 3, (int[]){B, H * W, C}), b->drop_path);
    a = op_reshape(g, a, 2, tshape);
    a = hook(s, b, g, HOOK_ATTN_POST_DP, a, NULL);
    tensor *x1 = op_add(g, x, a);
    x1 = hook(s, b, g, HOOK_ATTN_RESIDUAL, x1, NULL);
    /* MLP branch */
    tensor *f = op_layernorm(g, x1, b->norm2_w, b->norm2_b, eps);
    f = op_linear(g, op_gelu(g, op_linear(g, f, b->fc1_w, b->fc1_b)), b->fc2_w, b->fc2_b);
    f = hook(s, b, g, HOOK_MLP_BRANCH, f, NULL);
    f = op_drop_path(g, op_reshape(g, f, 3, (int[]){B, H * W, C}), b->drop_path);
    f = op_reshape(g, f, 2, tshape);
    f = hook(s, b, g, HOOK_MLP_POST_DP, f, NULL);
    tensor *x2 = op_add(g, x1, f);
    tensor *par = hook(s, b, g, HOOK_MLP_PARALLEL, x1, NULL);
    if (par) x2 = op_add(g, x2, par);
    x2 = hook(s, b, g, HOOK_MLP_RESIDUAL, x2, NULL);
    return x2;
}

/* zero-pad an NCHW tensor on the bottom and right */
typedef struct {
    graph *g;
    tensor *x, *y;
} pad_ctx;

static void pad_bwd(void *p) {
    pad_ctx *c = p;
    if (!c->y->grad) return;
    graph_use(c->g, c->y->grad);
    int BC = c->x->shape[0] * c->x->shape[1], H = c->x->shape[2], W = c->x->shape[3], Hp = c->y->shape[2], Wp = c->y->shape[3];
    float *dx = tensor_grad(c->g, c->x);
    for (int i = 0; i < BC; i++)
        for (int r = 0; r < H; r++)
            for (int q = 0; q < W; q++) dx[((int64_t)i * H + r) * W + q] += c->y->grad[((int64_t)i * Hp + r) * Wp + q];
}

static tensor *pad_br(graph *g, tensor *x, int Hp, int Wp) {
    int B = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    if (Hp == H && Wp == W) return x;
    GRAPH_OP(g, x);
    tensor *y = tensor_new4(g, B, C, Hp, Wp, x->requires_grad);
    memset(y->data, 0, sizeof(float) * y->n);
    for (int i = 0; i < B * C; i++)
        for (int r = 0; r < H; r++) memcpy(y->data + ((int64_t)i * Hp + r) * Wp, x->data + ((int64_t)i * H + r) * W, sizeof(float) * W);
    if (y->requires_grad) {
        pad_ctx *c = graph_push(g, pad_bwd, sizeof *c);
        *c = (pad_ctx){g, x, y};
    }
    return y;
}

void swin_forward(swin *s, graph *g, tensor *img, swin_outputs *o) {
    const swin_config *cfg = &s->cfg;
    memset(o, 0, sizeof *o);
    DB_ASSERT(img->ndim == 4 && img->shape[1] == cfg->in_chans);
    int B = img->shape[0], P = cfg->patch, M = cfg->window;
    int H = (img->shape[2] + P - 1) / P, W = (img->shape[3] + P - 1) / P;
    tensor *x = pad_br(g, img, H * P, W * P);
    x = op_conv2d(g, x, s->pe_w, s->pe_b, P, 0, 1);          /* (B, C0, H, W) */
    x = op_nchw_to_nhwc(g, x);                                /* (B, H, W, C0) */
    x = op_layernorm(g, x, s->pe_norm_w, s->pe_norm_b, cfg->eps);
    o->patch_embed = x;
    int C = cfg->embed_dim;
    x = op_reshape(g, x, 2, (int[]){B * H * W, C});
    for (int si = 0; si < SWIN_STAGES; si++) {
        swin_stage *st = &s->stages[si];
        win_maps wm;
        /* odd blocks shift by M/2 at every resolution: the detection-style backbone pads small maps to a
         * window instead of dropping the shift */
        int S = M / 2;
        build_maps(g, &wm, B, H, W, M, S, st->depth > 1);
        for (int j = 0; j < st->depth; j++) x = block_forward(s, &st->blocks[j], g, x, B, H, W, &wm);
        o->stage[si] = op_reshape(g, x, 3, (int[]){B, H * W, C});
        o->H[si] = H;
        o->W[si] = W;
        if (st->out_norm_w) {
            tensor *n = op_layernorm(g, x, st->out_norm_w, st->out_norm_b, cfg->eps);
            o->out[si] = s->token_outputs ? op_reshape(g, n, 3, (int[]){B, H * W, C})
                                          : op_nhwc_to_nchw(g, op_reshape(g, n, 4, (int[]){B, H, W, C}));
        }
        if (st->down_red_w) {
            /* patch merging: pad to even, concatenate [x(0,0), x(1,0), x(0,1), x(1,1)], LN, reduction */
            int H2 = (H + 1) / 2, W2 = (W + 1) / 2;
            int n = B * H2 * W2 * 4;
            int *idx = arena_alloc(&g->mem, sizeof(int) * n);
            static const int dr[4] = {0, 1, 0, 1}, dc[4] = {0, 0, 1, 1};
            for (int b = 0; b < B; b++)
                for (int r = 0; r < H2; r++)
                    for (int c = 0; c < W2; c++)
                        for (int k = 0; k < 4; k++) {
                            int rr = 2 * r + dr[k], cc = 2 * c + dc[k];
                            idx[((b * H2 + r) * W2 + c) * 4 + k] = (rr < H && cc < W) ? (b * H + rr) * W + cc : -1;
                        }
            x = op_gather_rows(g, x, idx, n, 2, (int[]){B * H2 * W2, 4 * C});
            x = op_layernorm(g, x, st->down_norm_w, st->down_norm_b, cfg->eps);
            x = op_linear(g, x, st->down_red_w, NULL);
            H = H2;
            W = W2;
            C *= 2;
        }
    }
}
