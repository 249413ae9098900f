/* uper_head.c - UPerHead, FCNHead and BaseDecodeHead.losses of mmseg 0.11 (see uper_head.h). */
#include "uper_head.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../../core/init.h"
#include "../../core/ops.h"
#include "../../core/ops_loss.h"
#include "../../core/ops_nn.h"

int seg_norm_config_set(seg_norm_config *n, const char *type) {
    if (strcmp(type, "SyncBN") && strcmp(type, "BN")) return err_set("norm '%s': expected SyncBN or BN", type);
    memset(n, 0, sizeof *n);
    snprintf(n->type, sizeof n->type, "%s", type);
    n->eps = 1e-5f;
    n->momentum = 0.1f;
    return 0;
}

/* ---- ConvModule (mmcv 1.3 cnn/bricks/conv_module.py): conv (no bias) -> BN -> ReLU ---- */
static void cm_declare(seg_conv_module *m, params *ps, const char *name, int cin, int cout, int k, int pad, int dil,
                       const seg_norm_config *norm) {
    char s[192];
    memset(m, 0, sizeof *m);
    m->pad = pad;
    m->dil = dil;
    m->norm = *norm;
    snprintf(s, sizeof s, "%s.conv.weight", name);
    m->w = params_add(ps, s, 4, (int[]){cout, cin, k, k});
    snprintf(s, sizeof s, "%s.bn.weight", name);
    m->bn_w = params_add(ps, s, 1, (int[]){cout});
    snprintf(s, sizeof s, "%s.bn.bias", name);
    m->bn_b = params_add(ps, s, 1, (int[]){cout});
    snprintf(s, sizeof s, "%s.bn.running_mean", name);
    m->running_mean = params_add_buffer(ps, s, 1, (int[]){cout});
    snprintf(s, sizeof s, "%s.bn.running_var", name);
    m->running_var = params_add_buffer(ps, s, 1, (int[]){cout});
}

static void normal_fill(tensor *t, float std, rng_t *r) {
    for (int64_t i = 0; i < t->n; i++) t->data[i] = std * rng_normal(r);
}

/* ConvModule.init_weights: kaiming_init(conv, a=0, mode='fan_out', nonlinearity='relu', distribution='normal')
 * (mmcv cnn/utils/weight_init.py: std = sqrt(2) / sqrt(fan_out), fan_out = Cout * kh * kw); constant_init(bn, 1,
 * bias=0); the running statistics as torch's BatchNorm reset_running_stats (0, 1). */
static void cm_init(seg_conv_module *m, rng_t *r) {
    if (!m->w) return;
    int fan_out = m->w->shape[0] * m->w->shape[2] * m->w->shape[3];
    normal_fill(m->w, sqrtf(2.0f / (float)fan_out), r);
    init_const(m->bn_w, 1.0f);
    init_const(m->bn_b, 0.0f);
    init_const(m->running_mean, 0.0f);
    init_const(m->running_var, 1.0f);
}

/* x (B, Cin, H, W) -> (B, Cout, Ho, Wo). The one place the norm runs: a data-parallel SyncBN would all-reduce
 * the batch statistics here. */
static tensor *seg_conv_module_forward(const seg_conv_module *m, graph *g, tensor *x) {
    tensor *y = op_conv2d_ex(g, x, m->w, NULL, 1, 1, m->pad, m->pad, m->dil, m->dil, 1);
    y = op_batch_norm(g, y, m->bn_w, m->bn_b, m->running_mean->data, m->running_var->data, g->training, m->norm.momentum,
                      m->norm.eps);
    return op_relu_inplace(g, y); /* inplace=True in mmcv's ReLU; BN's backward reads its input, not its output */
}

/* bilinear resize, align_corners False (mmseg ops/wrappers.py resize -> F.interpolate) */
static tensor *resize_to(graph *g, tensor *x, int H, int W) { return op_interpolate(g, x, H, W, INTERP_BILINEAR); }

/* BaseDecodeHead.cls_seg: dropout (Dropout2d) then conv_seg */
static tensor *cls_seg(graph *g, tensor *x, float dropout, tensor *w, tensor *b) {
    x = op_dropout2d(g, x, dropout);
    return op_conv2d_ex(g, x, w, b, 1, 1, 0, 0, 1, 1, 1);
}

static void conv_seg_declare(params *ps, const char *prefix, int channels, int num_classes, tensor **w, tensor **b) {
    char s[192];
    snprintf(s, sizeof s, "%sconv_seg.weight", prefix);
    *w = params_add(ps, s, 4, (int[]){num_classes, channels, 1, 1});
    snprintf(s, sizeof s, "%sconv_seg.bias", prefix);
    *b = params_add(ps, s, 1, (int[]){num_classes});
}

/* BaseDecodeHead.init_weights: normal_init(conv_seg, mean=0, std=0.01) (bias 0) */
static void conv_seg_init(tensor *w, tensor *b, rng_t *r) {
    normal_fill(w, 0.01f, r);
    init_const(b, 0.0f);
}

/* ---- UPerHead (uper_head.py; PPM from psp_head.py) ---- */
void uper_head_config_default(uper_head_config *c, int n_in, const int *in_channels, int channels, int num_classes) {
    memset(c, 0, sizeof *c);
    DB_ASSERT(n_in >= 1 && n_in <= UPER_MAX_LEVELS, "uper_head: %d inputs", n_in);
    c->n_in = n_in;
    memcpy(c->in_channels, in_channels, sizeof(int) * n_in);
    c->channels = channels;
    c->n_pool = 4;
    const int ps[4] = {1, 2, 3, 6};
    memcpy(c->pool_scales, ps, sizeof ps);
    c->num_classes = num_classes;
    c->dropout_ratio = 0.1f;
    seg_norm_config_set(&c->norm, "SyncBN");
}

void uper_head_declare(uper_head *h, params *ps, const uper_head_config *cfg, const char *prefix) {
    memset(h, 0, sizeof *h);
    DB_ASSERT(cfg->n_in >= 1 && cfg->n_in <= UPER_MAX_LEVELS && cfg->n_pool >= 1 && cfg->n_pool <= UPER_MAX_POOLS,
              "uper_head: %d inputs, %d pool scales", cfg->n_in, cfg->n_pool);
    h->cfg = *cfg;
    int L = cfg->n_in, C = cfg->channels, top = cfg->in_channels[L - 1];
    char s[160];
    for (int i = 0; i < cfg->n_pool; i++) { /* psp_modules[i] = Sequential(AdaptiveAvgPool2d, ConvModule 1x1) */
        snprintf(s, sizeof s, "%spsp_modules.%d.1", prefix, i);
        cm_declare(&h->psp[i], ps, s, top, C, 1, 0, 1, &cfg->norm);
    }
    snprintf(s, sizeof s, "%sbottleneck", prefix);
    cm_declare(&h->bottleneck, ps, s, top + cfg->n_pool * C, C, 3, 1, 1, &cfg->norm);
    for (int i = 0; i < L - 1; i++) {
        snprintf(s, sizeof s, "%slateral_convs.%d", prefix, i);
        cm_declare(&h->lateral[i], ps, s, cfg->in_channels[i], C, 1, 0, 1, &cfg->norm);
    }
    for (int i = 0; i < L - 1; i++) {
        snprintf(s, sizeof s, "%sfpn_convs.%d", prefix, i);
        cm_declare(&h->fpn[i], ps, s, C, C, 3, 1, 1, &cfg->norm);
    }
    snprintf(s, sizeof s, "%sfpn_bottleneck", prefix);
    cm_declare(&h->fpn_bottleneck, ps, s, L * C, C, 3, 1, 1, &cfg->norm);
    conv_seg_declare(ps, prefix, C, cfg->num_classes, &h->seg_w, &h->seg_b);
}

void uper_head_init(uper_head *h, rng_t *r) {
    for (int i = 0; i < h->cfg.n_pool; i++) cm_init(&h->psp[i], r);
    cm_init(&h->bottleneck, r);
    for (int i = 0; i < h->cfg.n_in - 1; i++) cm_init(&h->lateral[i], r);
    for (int i = 0; i < h->cfg.n_in - 1; i++) cm_init(&h->fpn[i], r);
    cm_init(&h->fpn_bottleneck, r);
    conv_seg_init(h->seg_w, h->seg_b, r);
}

tensor *uper_head_forward(const uper_head *h, graph *g, tensor *const *x) {
    const uper_head_config *c = &h->cfg;
    int L = c->n_in;
    for (int i = 0; i < L; i++)
        DB_ASSERT(x[i]->ndim == 4 && x[i]->shape[1] == c->in_channels[i], "uper_head: input %d has %d channels, expected %d", i,
                  x[i]->shape[1], c->in_channels[i]);
    /* psp_forward: cat[x_top, resize(ppm_s(x_top))...] -> bottleneck */
    tensor *top = x[L - 1], *cat[UPER_MAX_POOLS + 1];
    int Ht = top->shape[2], Wt = top->shape[3];
    cat[0] = top;
    for (int i = 0; i < c->n_pool; i++) {
        tensor *p = op_adaptive_avg_pool2d(g, top, c->pool_scales[i], c->pool_scales[i]); /* (B, Ctop, s, s) */
        p = seg_conv_module_forward(&h->psp[i], g, p);                                   /* (B, C, s, s) */
        cat[i + 1] = resize_to(g, p, Ht, Wt);                                             /* (B, C, Ht, Wt) */
    }
    tensor *lat[UPER_MAX_LEVELS];
    for (int i = 0; i < L - 1; i++) lat[i] = seg_conv_module_forward(&h->lateral[i], g, x[i]); /* (B, C, H_i, W_i) */
    lat[L - 1] = seg_conv_module_forward(&h->bottleneck, g, op_concat_channels(g, cat, c->n_pool + 1));
    /* top-down: laterals[i - 1] = laterals[i - 1] + resize(laterals[i], size of laterals[i - 1]) */
    for (int i = L - 1; i > 0; i--)
        lat[i - 1] = op_add(g, lat[i - 1], resize_to(g, lat[i], lat[i - 1]->shape[2], lat[i - 1]->shape[3]));
    tensor *outs[UPER_MAX_LEVELS];
    for (int i = 0; i < L - 1; i++) outs[i] = seg_conv_module_forward(&h->fpn[i], g, lat[i]);
    outs[L - 1] = lat[L - 1];
    for (int i = L - 1; i > 0; i--) outs[i] = resize_to(g, outs[i], outs[0]->shape[2], outs[0]->shape[3]);
    tensor *f = seg_conv_module_forward(&h->fpn_bottleneck, g, op_concat_channels(g, outs, L)); /* (B, C, H0, W0) */
    return cls_seg(g, f, c->dropout_ratio, h->seg_w, h->seg_b);
}

/* ---- FCNHead (fcn_head.py) ---- */
void fcn_head_config_default(fcn_head_config *c, int in_channels, int channels, int num_classes, int in_index) {
    memset(c, 0, sizeof *c);
    c->in_channels = in_channels;
    c->channels = channels;
    c->num_classes = num_classes;
    c->in_index = in_index;
    c->num_convs = 1;
    c->kernel_size = 3;
    c->dilation = 1;
    c->concat_input = 0;
    c->dropout_ratio = 0.1f;
    seg_norm_config_set(&c->norm, "SyncBN");
}

void fcn_head_declare(fcn_head *h, params *ps, const fcn_head_config *cfg, const char *prefix) {
    memset(h, 0, sizeof *h);
    DB_ASSERT(cfg->num_convs >= 0 && cfg->num_convs <= FCN_MAX_CONVS, "fcn_head: %d convs", cfg->num_convs);
    DB_ASSERT(cfg->num_convs > 0 || cfg->in_channels == cfg->channels, "fcn_head: num_convs 0 needs in_channels == channels");
    DB_ASSERT(cfg->kernel_size % 2 == 1 && cfg->dilation >= 1, "fcn_head: kernel %d, dilation %d", cfg->kernel_size, cfg->dilation);
    h->cfg = *cfg;
    int k = cfg->kernel_size, pad = k / 2 * cfg->dilation;
    char s[160];
    for (int i = 0; i < cfg->num_convs; i++) {
        snprintf(s, sizeof s, "%sconvs.%d", prefix, i);
        cm_declare(&h->convs[i], ps, s, i ? cfg->channels : cfg->in_channels, cfg->channels, k, pad, cfg->dilation, &cfg->norm);
    }
    if (cfg->concat_input) {
        snprintf(s, sizeof s, "%sconv_cat", prefix);
        cm_declare(&h->conv_cat, ps, s, cfg->in_channels + cfg->channels, cfg->channels, k, k / 2, 1, &cfg->norm);
    }
    conv_seg_declare(ps, prefix, cfg->channels, cfg->num_classes, &h->seg_w, &h->seg_b);
}

void fcn_head_init(fcn_head *h, rng_t *r) {
    for (int i = 0; i < h->cfg.num_convs; i++) cm_init(&h->convs[i], r);
    if (h->cfg.concat_input) cm_init(&h->conv_cat, r);
    conv_seg_init(h->seg_w, h->seg_b, r);
}

tensor *fcn_head_forward(const fcn_head *h, graph *g, tensor *const *x) {
    const fcn_head_config *c = &h->cfg;
    tensor *in = x[c->in_index], *y = in;
    DB_ASSERT(in->ndim == 4 && in->shape[1] == c->in_channels, "fcn_head: input has %d channels, expected %d", in->shape[1],
              c->in_channels);
    for (int i = 0; i < c->num_convs; i++) y = seg_conv_module_forward(&h->convs[i], g, y);
    if (c->concat_input) y = seg_conv_module_forward(&h->conv_cat, g, op_concat_channels(g, (tensor *[]){in, y}, 2));
    return cls_seg(g, y, c->dropout_ratio, h->seg_w, h->seg_b);
}

/* ---- BaseDecodeHead.losses (decode_head.py) + accuracy (losses/accuracy.py) ---- */
tensor *seg_decode_loss(graph *g, tensor *seg_logit, const int *label, int H, int W, int ignore_index, float loss_weight,
                        double *acc_seg) {
    DB_ASSERT(seg_logit->ndim == 4, "seg_decode_loss: seg_logit must be (N, C, h, w)");
    tensor *up = resize_to(g, seg_logit, H, W); /* (N, C, H, W) */
    if (acc_seg) {
        int N = up->shape[0], C = up->shape[1];
        int64_t HW = (int64_t)H * W, correct = 0;
        for (int n = 0; n < N; n++)
            for (int64_t p = 0; p < HW; p++) {
                const float *v = up->data + (int64_t)n * C * HW + p;
                int best = 0;
                for (int k = 1; k < C; k++)
                    if (v[k * HW] > v[best * HW]) best = k;
                correct += best == label[n * HW + p];
            }
        *acc_seg = 100.0 * (double)correct / (double)((int64_t)N * HW);
    }
    return op_cross_entropy_seg(g, up, label, ignore_index, NULL, loss_weight);
}
