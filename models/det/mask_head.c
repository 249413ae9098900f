/* mask_head.c - FCNMaskHead of the COCO cascade: forward, mask targets, mask loss and the test-time pasting
 * (see mask_head.h). */
#include "mask_head.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/comm.h"
#include "../../core/common.h"
#include "../../core/init.h"
#include "../../core/ops.h"
#include "../../core/ops_loss.h"
#include "../../core/ops_nn.h"

void mask_head_config_default(mask_head_config *c, int in_channels, int num_classes) {
    memset(c, 0, sizeof *c);
    c->num_convs = 4;
    c->roi_feat_size = 14;
    c->in_channels = in_channels;
    c->conv_kernel_size = 3;
    c->conv_out_channels = 256;
    c->num_classes = num_classes;
    c->class_agnostic = 0;
    c->upsample_factor = 2;
    c->mask_size = 28;
    c->target_thr = 0.5f;
    c->loss_weight = 1.0f;
    c->mask_thr_binary = 0.5f;
}

static void conv_decl(params *ps, const char *prefix, const char *name, int ndim, const int *wshape, int nb, tensor **w,
                      tensor **b) {
    char n[192];
    snprintf(n, sizeof n, "%s%s.weight", prefix, name);
    *w = params_add(ps, n, ndim, wshape);
    snprintf(n, sizeof n, "%s%s.bias", prefix, name);
    *b = params_add(ps, n, 1, (int[]){nb});
}

void mask_head_declare(mask_head *h, params *ps, const mask_head_config *cfg, const char *prefix) {
    DB_ASSERT(cfg->num_convs >= 0 && cfg->num_convs <= MASK_HEAD_MAX_CONVS, "mask head: %d convs", cfg->num_convs);
    DB_ASSERT(cfg->conv_kernel_size % 2 == 1 && cfg->upsample_factor >= 1, "mask head: kernel %d, upsample %d", cfg->conv_kernel_size,
              cfg->upsample_factor);
    memset(h, 0, sizeof *h);
    h->cfg = *cfg;
    int k = cfg->conv_kernel_size, co = cfg->conv_out_channels;
    char s[64];
    for (int i = 0; i < cfg->num_convs; i++) { /* ConvModule(norm_cfg None): conv with bias (bias='auto') */
        snprintf(s, sizeof s, "convs.%d.conv", i);
        conv_decl(ps, prefix, s, 4, (int[]){co, i ? co : cfg->in_channels, k, k}, co, &h->conv_w[i], &h->conv_b[i]);
    }
    int up_in = cfg->num_convs ? co : cfg->in_channels, f = cfg->upsample_factor;
    /* ConvTranspose2d(up_in, co, f, stride f): weight (in, out, f, f) */
    conv_decl(ps, prefix, "upsample", 4, (int[]){up_in, co, f, f}, co, &h->up_w, &h->up_b);
    int nout = cfg->class_agnostic ? 1 : cfg->num_classes;
    conv_decl(ps, prefix, "conv_logits", 4, (int[]){nout, co, 1, 1}, nout, &h->logits_w, &h->logits_b);
}

/* kaiming normal, mode fan_out, relu (gain sqrt 2): std sqrt(2 / fan_out), fan_out = size(0) * receptive field */
static void kaiming_fan_out(tensor *w, tensor *b, rng_t *r) {
    float std = sqrtf(2.0f / (float)(w->shape[0] * w->shape[2] * w->shape[3]));
    for (int64_t i = 0; i < w->n; i++) w->data[i] = std * rng_normal(r);
    init_const(b, 0.0f);
}

void mask_head_init(mask_head *h, rng_t *r) {
    for (int i = 0; i < h->cfg.num_convs; i++) kaiming_fan_out(h->conv_w[i], h->conv_b[i], r); /* ConvModule.init_weights */
    kaiming_fan_out(h->up_w, h->up_b, r);                                                       /* FCNMaskHead.init_weights */
    kaiming_fan_out(h->logits_w, h->logits_b, r);
}

tensor *mask_head_forward(const mask_head *h, graph *g, tensor *x) {
    const mask_head_config *c = &h->cfg;
    DB_ASSERT(x->ndim == 4 && x->shape[1] == c->in_channels && x->shape[2] == c->roi_feat_size && x->shape[3] == c->roi_feat_size,
              "mask head: roi feats are not (K, %d, %d, %d)", c->in_channels, c->roi_feat_size, c->roi_feat_size);
    int p = (c->conv_kernel_size - 1) / 2;
    for (int i = 0; i < c->num_convs; i++) /* (K, Cin, 14, 14) -> (K, 256, 14, 14): conv + ReLU */
        x = op_relu_inplace(g, op_conv2d_ex(g, x, h->conv_w[i], h->conv_b[i], 1, 1, p, p, 1, 1, 1));
    /* deconv 2x2 stride 2 + ReLU: (K, 256, 14, 14) -> (K, 256, 28, 28) */
    x = op_relu_inplace(g, op_conv_transpose2d(g, x, h->up_w, h->up_b, c->upsample_factor, 0));
    /* conv_logits 1x1: (K, 256, 28, 28) -> (K, num_classes, 28, 28) */
    return op_conv2d_ex(g, x, h->logits_w, h->logits_b, 1, 1, 0, 0, 1, 1, 1);
}

tensor *mask_head_pos_rois(graph *g, const rcnn_sampling *s, int B) {
    int K = 0;
    for (int b = 0; b < B; b++) K += s[b].npos;
    tensor *rois = tensor_new(g, 2, (int[]){K, 5}, 0);
    float *p = rois->data;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < s[b].npos; i++, p += 5) { /* pos_bboxes: the sampling's first npos rows */
            p[0] = (float)b;
            memcpy(p + 1, s[b].bboxes + 4 * (size_t)i, sizeof(float) * 4);
        }
    return rois;
}

/* ------------------------------------------------------------------------------------------------ */
/* targets (mask_target_single, BitmapMasks.crop_and_resize)                                         */
void mask_target_single(const float *boxes, const int *gt_idx, int n, const uint8_t *masks, int n_gt, int mh, int mw, int S,
                        float thr, float *out) {
    if (n <= 0) return;
    DB_ASSERT(masks && n_gt > 0 && mh > 0 && mw > 0, "mask targets: %d positives but %d gt masks of %dx%d", n, n_gt, mw, mh);
    int64_t P = (int64_t)mh * mw;
    /* one gt mask at a time as a float (1, 1, mh, mw) map in a scratch graph (mmdet index_selects one copy per roi) */
    graph sg;
    graph_init(&sg, sizeof(float) * (size_t)(P + 64) + ((size_t)n * (5 + (size_t)S * S) + 64) * sizeof(float) + (1 << 16));
    sg.grad_mode = 0;
    int *sel = xmalloc(sizeof(int) * (size_t)n);
    for (int j = 0; j < n_gt; j++) {
        int m = 0;
        for (int i = 0; i < n; i++) {
            DB_ASSERT(gt_idx[i] >= 0 && gt_idx[i] < n_gt, "mask targets: positive %d has gt %d of %d", i, gt_idx[i], n_gt);
            if (gt_idx[i] == j) sel[m++] = i;
        }
        if (!m) continue;
        graph_reset(&sg);
        tensor *plane = tensor_new(&sg, 4, (int[]){1, 1, mh, mw}, 0);
        const uint8_t *src = masks + (int64_t)j * P;
        for (int64_t q = 0; q < P; q++) plane->data[q] = src[q] ? 1.0f : 0.0f;
        tensor *rois = tensor_new(&sg, 2, (int[]){m, 5}, 0);
        for (int q = 0; q < m; q++) {
            const float *b = boxes + 4 * (size_t)sel[q];
            float *r = rois->data + 5 * (size_t)q;
            r[0] = 0.0f; /* proposals clipped to [0, width] x [0, height] of the gt masks (float32, np.clip) */
            r[1] = fminf(fmaxf(b[0], 0.0f), (float)mw), r[3] = fminf(fmaxf(b[2], 0.0f), (float)mw);
            r[2] = fminf(fmaxf(b[1], 0.0f), (float)mh), r[4] = fminf(fmaxf(b[3], 0.0f), (float)mh);
        }
        /* roi_align(gt_masks, rois, (S, S), 1.0, 0, 'avg', True) -> (m, 1, S, S), then >= 0.5 */
        tensor *y = op_roi_align(&sg, plane, rois, S, S, 1.0f, 0, 1);
        for (int q = 0; q < m; q++) {
            const float *v = y->data + (int64_t)q * S * S;
            float *o = out + (int64_t)sel[q] * S * S;
            for (int e = 0; e < S * S; e++) o[e] = v[e] >= thr ? 1.0f : 0.0f;
        }
    }
    free(sel);
    graph_free(&sg);
}

void mask_head_targets(const mask_head *h, graph *g, const rcnn_sampling *s, int B, const det_gt *gts, mask_targets *t) {
    const mask_head_config *c = &h->cfg;
    int n = 0, S = c->mask_size;
    for (int b = 0; b < B; b++) n += s[b].npos;
    t->n = n, t->S = S;
    t->targets = arena_alloc(&g->mem, sizeof(float) * (size_t)(n ? n : 1) * S * S);
    t->labels = arena_alloc(&g->mem, sizeof(int) * (size_t)(n ? n : 1));
    for (int b = 0, o = 0; b < B; b++) {
        const rcnn_sampling *sb = &s[b];
        if (!sb->npos) continue;
        mask_target_single(sb->bboxes, sb->pos_gt, sb->npos, gts[b].masks, gts[b].n, gts[b].mask_h, gts[b].mask_w, S, c->target_thr,
                           t->targets + (int64_t)o * S * S);
        memcpy(t->labels + o, sb->pos_labels, sizeof(int) * (size_t)sb->npos);
        o += sb->npos;
    }
}

/* ------------------------------------------------------------------------------------------------ */
/* loss                                                                                              */
tensor *mask_head_loss(const mask_head *h, graph *g, tensor *logits, const mask_targets *t) {
    const mask_head_config *c = &h->cfg;
    int n = t->n;
    double w = c->loss_weight;
    if (g->shard_total > 0 && !g->dry) { /* data parallel: the global batch's n (as bbox_head_loss's normalisers) */
        double a = n;
        DB_ASSERT(comm_allreduce_sum_f64(&a, 1) == 0, "%s", err_msg());
        a = a * g->shard_count / g->shard_total;
        w = a > 0 ? c->loss_weight * n / a : 0.0;
    }
    if (!n) { /* mask_pred.sum() of no rois: 0 */
        tensor *z = tensor_new(g, 1, (int[]){1}, 0);
        z->data[0] = 0.0f;
        return z;
    }
    DB_ASSERT(logits->ndim == 4 && logits->shape[0] == n && logits->shape[2] == t->S && logits->shape[3] == t->S,
              "mask head loss: logits are not (%d, C, %d, %d)", n, t->S, t->S);
    const int *labels = t->labels;
    if (c->class_agnostic) { /* torch.zeros_like(labels) */
        int *z = arena_calloc(&g->mem, sizeof(int) * (size_t)n);
        labels = z;
    }
    /* mask_cross_entropy: (n, C, 28, 28), the label's channel against (n, 28, 28) -> mean -> (1) */
    return op_mask_cross_entropy(g, logits, t->targets, labels, (float)w);
}

/* ------------------------------------------------------------------------------------------------ */
/* test: stage merging and pasting (get_seg_masks, _do_paste_mask)                                   */
void mask_head_merge_probs(const mask_head_config *c, tensor *const *logits, int n_stages, const int *labels, float *probs) {
    DB_ASSERT(n_stages >= 1, "mask merge: %d stages", n_stages);
    int n = logits[0]->shape[0], C = logits[0]->shape[1], P = logits[0]->shape[2] * logits[0]->shape[3];
    for (int s = 0; s < n_stages; s++)
        DB_ASSERT(logits[s]->ndim == 4 && logits[s]->shape[0] == n && logits[s]->shape[1] == C &&
                      logits[s]->shape[2] * logits[s]->shape[3] == P,
                  "mask merge: stage %d's logits differ in shape", s);
    for (int i = 0; i < n; i++) {
        int k = c->class_agnostic ? 0 : labels[i];
        DB_ASSERT(k >= 0 && k < C, "mask merge: label %d of %d channels", k, C);
        float *o = probs + (int64_t)i * P;
        for (int e = 0; e < P; e++) {
            float acc = 0.0f;
            for (int s = 0; s < n_stages; s++) {
                float x = logits[s]->data[((int64_t)i * C + k) * P + e];
                acc += 1.0f / (1.0f + expf(-x));
            }
            o[e] = n_stages > 1 ? acc / (float)n_stages : acc;
        }
    }
}

/* torch 1.8's CPU grid_sample (bilinear, zeros, align_corners False) of the S x S map at the grid (gx, gy),
 * float32: x = (gx + 1) S / 2 - 0.5; w = x - floor x, e = 1 - w (the same in y: n, s); nw s e + ne s w + sw n e +
 * se n w with the taps outside the map 0. A coordinate outside (-1, S) (or NaN) reaches no tap: 0. */
static float grid_sample_at(const float *m, int S, float gx, float gy) {
    float half = (float)S / 2.0f;
    float x = (gx + 1.0f) * half - 0.5f, y = (gy + 1.0f) * half - 0.5f;
    if (!(x > -1.0f && x < (float)S && y > -1.0f && y < (float)S)) return 0.0f;
    float xw = floorf(x), yn = floorf(y);
    float w = x - xw, e = 1.0f - w, nn = y - yn, s = 1.0f - nn;
    float nw = s * e, ne = s * w, sw = nn * e, se = nn * w;
    int ix = (int)xw, iy = (int)yn;
    float v_nw = 0, v_ne = 0, v_sw = 0, v_se = 0;
    int xin0 = ix >= 0 && ix < S, xin1 = ix + 1 >= 0 && ix + 1 < S, yin0 = iy >= 0 && iy < S, yin1 = iy + 1 >= 0 && iy + 1 < S;
    if (yin0 && xin0) v_nw = m[(int64_t)iy * S + ix];
    if (yin0 && xin1) v_ne = m[(int64_t)iy * S + ix + 1];
    if (yin1 && xin0) v_sw = m[(int64_t)(iy + 1) * S + ix];
    if (yin1 && xin1) v_se = m[(int64_t)(iy + 1) * S + ix + 1];
    return v_nw * nw + v_ne * ne + v_sw * sw + v_se * se;
}

/* the normalised grid coordinate of pixel centre p for the box side [a, b]: (p + 0.5 - a) / (b - a) * 2 - 1 (float32),
 * an infinite one replaced by 0 */
static float grid_coord(int p, float a, float b) {
    float v = ((float)p + 0.5f - a) / (b - a) * 2.0f - 1.0f;
    return isinf(v) ? 0.0f : v;
}

/* skip_empty's region of one box: [x0, x1) x [y0, y1) (possibly empty) */
static void paste_region(const float *box, int img_h, int img_w, int *x0, int *y0, int *x1, int *y1) {
    float fx0 = fmaxf(floorf(box[0]) - 1.0f, 0.0f), fy0 = fmaxf(floorf(box[1]) - 1.0f, 0.0f);
    float fx1 = fminf(ceilf(box[2]) + 1.0f, (float)img_w), fy1 = fminf(ceilf(box[3]) + 1.0f, (float)img_h);
    *x0 = fx0 > (float)img_w ? img_w : (int)fx0, *y0 = fy0 > (float)img_h ? img_h : (int)fy0;
    *x1 = fx1 < 0.0f ? 0 : (int)fx1, *y1 = fy1 < 0.0f ? 0 : (int)fy1;
}

/* paste one map: the region's values into fout (img_h, img_w) or, thresholded, into mout */
static void paste_one(const float *prob, int S, const float *box, int img_h, int img_w, float thr, float *fout, uint8_t *mout) {
    int x0, y0, x1, y1;
    paste_region(box, img_h, img_w, &x0, &y0, &x1, &y1);
    if (x1 <= x0 || y1 <= y0) return;
    float *gx = xmalloc(sizeof(float) * (size_t)(x1 - x0));
    for (int x = x0; x < x1; x++) gx[x - x0] = grid_coord(x, box[0], box[2]);
    for (int y = y0; y < y1; y++) {
        float gy = grid_coord(y, box[1], box[3]);
        for (int x = x0; x < x1; x++) {
            float v = grid_sample_at(prob, S, gx[x - x0], gy);
            int64_t o = (int64_t)y * img_w + x;
            if (fout) fout[o] = v;
            else mout[o] = thr >= 0 ? (uint8_t)(v >= thr) : (uint8_t)(v * 255.0f);
        }
    }
    free(gx);
}

void mask_head_paste_prob(const float *prob, int S, const float *box, int img_h, int img_w, float *out) {
    memset(out, 0, sizeof(float) * (size_t)img_h * img_w);
    paste_one(prob, S, box, img_h, img_w, 0.0f, out, NULL);
}

void mask_head_paste(const float *probs, int n, int S, const float *boxes, const float *scale_factor, int out_h, int out_w,
                     float thr, uint8_t *masks) {
    memset(masks, 0, (size_t)n * out_h * out_w);
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < n; i++) {
        float b[4];
        for (int j = 0; j < 4; j++) b[j] = scale_factor ? boxes[4 * (size_t)i + j] / scale_factor[j] : boxes[4 * (size_t)i + j];
        paste_one(probs + (int64_t)i * S * S, S, b, out_h, out_w, thr, NULL, masks + (int64_t)i * out_h * out_w);
    }
}
