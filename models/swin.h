/* swin.h - the Swin Transformer backbone (detection-style, as in the Mona repository). Parameter names are
 * the official ones ("layers.2.blocks.5.attn.qkv.weight") so released checkpoints and goldens load as they
 * are. The backbone declares its insertion points here (hook points of the block forward and a plug-in that
 * acts at them); a tuning method (methods/method.h) is such a plug-in, the backbone knows no method.
 *
 * Block forward with its hook points (swin.c):
 *     Y   = LN1(X); windows; QKV = qkv(Yw)          -> HOOK_QKV(QKV, aux = Yw)
 *     A   = proj(attention); un-window                 -> HOOK_ATTN_BRANCH(A)
 *     A   = DropPath(A)                                -> HOOK_ATTN_POST_DP(A)
 *     X1  = X + A                                      -> HOOK_ATTN_RESIDUAL(X1)
 *     F   = fc2(gelu(fc1(LN2(X1))))                    -> HOOK_MLP_BRANCH(F)
 *     F   = DropPath(F)                                -> HOOK_MLP_POST_DP(F)
 *     X2  = X1 + F (+ HOOK_MLP_PARALLEL(X1) if it returns a tensor)
 *                                                      -> HOOK_MLP_RESIDUAL(X2)
 */
#ifndef DB_SWIN_H
#define DB_SWIN_H

#include "../core/ops.h"
#include "../core/params.h"

typedef enum hook_point {
    HOOK_QKV,
    HOOK_ATTN_BRANCH,
    HOOK_ATTN_POST_DP,
    HOOK_ATTN_RESIDUAL,
    HOOK_MLP_BRANCH,
    HOOK_MLP_POST_DP,
    HOOK_MLP_PARALLEL,
    HOOK_MLP_RESIDUAL,
    HOOK_COUNT
} hook_point;

#define HOOK_BIT(h) (1u << (h))

/* What a plug-in's module sees of its block. */
typedef struct block_info {
    char prefix[64]; /* "layers.2.blocks.5" */
    int stage, block, dim, heads;
    int H, W; /* the block's un-padded resolution in the current forward */
} block_info;

/* A plug-in at the insertion points: modules per block, acting at hook points, and the freezing rule for the
 * backbone's own parameters. Every member may be NULL/0 (no modules; trainable NULL: every parameter trains). */
typedef struct swin_plugin {
    unsigned hooks; /* HOOK_BIT(...) of the points apply() acts on */
    const void *ctx; /* the plug-in's own settings, handed to block_declare as they are (a method's options) */
    /* Declare this block's module parameters; return its state (malloc'd; NULL if none). */
    void *(*block_declare)(const void *ctx, params *ps, const block_info *bi);
    /* Act at a hook point: return the new tensor (or, for HOOK_MLP_PARALLEL, the addend). */
    tensor *(*apply)(void *mod, graph *g, hook_point hp, tensor *x, tensor *aux, const block_info *bi);
    /* Initialise the module's parameters (after params_alloc). */
    void (*block_init)(void *mod, rng_t *rng, const block_info *bi);
    /* The freezing rule: is this backbone parameter (official name, no prefix) trainable? */
    int (*trainable)(const char *name);
} swin_plugin;

#define SWIN_STAGES 4

typedef struct swin_config {
    int in_chans;     /* 3 */
    int embed_dim;    /* C0 */
    int depths[SWIN_STAGES];
    int num_heads[SWIN_STAGES];
    int window;       /* M, 7 */
    int patch;        /* 4 */
    float mlp_ratio;  /* 4 */
    int out_mask;     /* bit i set: stage i is an output (norm{i} exists) */
    int frozen_stages;/* -1: none; >= 0: patch_embed frozen; >= 2: also layers[0..frozen_stages-2] */
    float drop_path_rate;
    float eps;        /* LayerNorm eps, 1e-5 */
} swin_config;

/* Fill cfg from "swin-t", "swin-s", "swin-b", "swin-l" (out_indices 0..3, no drop path). Returns -1
 * (err_set) for an unknown name. Also accepts "tiny:<embed>:<d0,d1,d2,d3>:<h0,h1,h2,h3>[:w<window>]" free configs (window default 7). */
int swin_preset(const char *name, swin_config *cfg);
/* "swin-t (embed 96, depths 2,2,6,2, heads 3,6,12,24, window 7)" */
void swin_config_str(const swin_config *cfg, char *buf, int n);

typedef struct swin_block {
    block_info bi;
    tensor *norm1_w, *norm1_b, *qkv_w, *qkv_b, *table, *proj_w, *proj_b;
    tensor *norm2_w, *norm2_b, *fc1_w, *fc1_b, *fc2_w, *fc2_b;
    int shift;
    float drop_path;
    void *mod; /* the method's module state */
} swin_block;

typedef struct swin_stage {
    int depth, dim, heads;
    swin_block *blocks;
    tensor *down_norm_w, *down_norm_b, *down_red_w; /* NULL for the last stage */
    tensor *out_norm_w, *out_norm_b;                /* NULL unless an output */
} swin_stage;

typedef struct swin {
    swin_config cfg;
    const swin_plugin *plug; /* the tuning method acting at the insertion points (NULL: none, all train) */
    params *ps;
    tensor *pe_w, *pe_b, *pe_norm_w, *pe_norm_b;
    swin_stage stages[SWIN_STAGES];
    int *rel_index; /* T*T */
    int param_first, param_last; /* index range of the backbone's parameters in ps */
    int token_outputs; /* 1: out[i] are normalised tokens (B, H*W, C) instead of NCHW maps */
} swin;

/* Declare the backbone and the plug-in's modules in ps (names without prefix unless prefix given, e.g.
 * "backbone."), then apply the method's freezing rule and frozen_stages. Call params_alloc after all
 * other parameters (heads) are declared, then swin_init. */
void swin_build(swin *s, params *ps, const swin_config *cfg, const swin_plugin *plug);
/* The output stages of cfg->out_mask in order (stage[i]) and their channels (embed_dim << stage; NULL: not
 * wanted), what a neck or decode head takes; returns their count. */
int swin_out_stages(const swin_config *cfg, int *stage, int *channels);
void swin_free(swin *s);
/* Random initialisation as the reference init_weights (trunc-normal 0.02 linears with zero bias,
 * LayerNorm (1, 0), PyTorch-default patch conv, trunc-normal tables), then the method's modules. */
void swin_init(swin *s, rng_t *rng);

typedef struct swin_outputs {
    tensor *out[SWIN_STAGES];   /* (B, C_i, H_i, W_i) for each output stage (or (B, H_i*W_i, C_i) with
                                 * token_outputs), else NULL */
    tensor *stage[SWIN_STAGES]; /* (B, H_s*W_s, C_s) pre-downsample tokens */
    tensor *patch_embed;        /* (B, H0, W0, C0) after the patch norm (NHWC) */
    int H[SWIN_STAGES], W[SWIN_STAGES];
} swin_outputs;

/* Forward an image batch img (B, in_chans, H, W). */
void swin_forward(swin *s, graph *g, tensor *img, swin_outputs *o);

#endif
