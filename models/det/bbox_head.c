/* bbox_head.c - ConvFCBBoxHead (4 shared convs + 1 fc) of the COCO cascade: forward, sampling, targets and
 * loss (see bbox_head.h). */
#include "bbox_head.h"

#include "nms.h"

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

#define NEEDS(t) ((t) != NULL && (t)->requires_grad)

void bbox_head_config_cascade(bbox_head_config *c, int stage, int in_channels, int num_classes) {
    DB_ASSERT(stage >= 0 && stage < CASCADE_STAGES, "bbox head: stage %d", stage);
    static const float stds[CASCADE_STAGES][4] = {{0.1f, 0.1f, 0.2f, 0.2f}, {0.05f, 0.05f, 0.1f, 0.1f}, {0.033f, 0.033f, 0.067f, 0.067f}};
    static const float iou[CASCADE_STAGES] = {0.5f, 0.6f, 0.7f};
    memset(c, 0, sizeof *c);
    c->in_channels = in_channels, c->roi_feat_size = 7;
    c->num_shared_convs = 4, c->conv_out_channels = 256, c->fc_out_channels = 1024;
    c->num_classes = num_classes;
    c->reg_class_agnostic = 0;
    c->bn_eps = 1e-5f, c->bn_momentum = 0.1f;
    delta_coder_default(&c->coder);
    memcpy(c->coder.stds, stds[stage], sizeof c->coder.stds);
    c->assigner = (max_iou_cfg){.pos_iou_thr = iou[stage], .neg_iou_thr = iou[stage], .min_pos_iou = iou[stage],
                                .gt_max_assign_all = 1, .match_low_quality = 0};
    c->sampler = (random_sampler_cfg){512, 0.25f, -1};
    c->add_gt_as_proposals = 1;
    c->pos_weight = -1;
    c->loss_cls_weight = 1.0f, c->loss_bbox_weight = 10.0f, c->giou_eps = 1e-6f;
}

static tensor *add_named(params *ps, const char *prefix, const char *name, int ndim, const int *shape, int buffer) {
    char n[192];
    snprintf(n, sizeof n, "%s%s", prefix, name);
    return buffer ? params_add_buffer(ps, n, ndim, shape) : params_add(ps, n, ndim, shape);
}

void bbox_head_declare(bbox_head *h, params *ps, const bbox_head_config *cfg, const char *prefix) {
    DB_ASSERT(cfg->num_shared_convs >= 0 && cfg->num_shared_convs <= BBOX_HEAD_MAX_CONVS, "bbox head: %d convs", cfg->num_shared_convs);
    memset(h, 0, sizeof *h);
    h->cfg = *cfg;
    char s[96];
    int cin = cfg->in_channels, co = cfg->conv_out_channels;
    for (int i = 0; i < cfg->num_shared_convs; i++) {
        snprintf(s, sizeof s, "shared_convs.%d.conv.weight", i);
        h->conv_w[i] = add_named(ps, prefix, s, 4, (int[]){co, i ? co : cin, 3, 3}, 0);
        snprintf(s, sizeof s, "shared_convs.%d.bn.weight", i);
        h->bn_w[i] = add_named(ps, prefix, s, 1, (int[]){co}, 0);
        snprintf(s, sizeof s, "shared_convs.%d.bn.bias", i);
        h->bn_b[i] = add_named(ps, prefix, s, 1, (int[]){co}, 0);
        snprintf(s, sizeof s, "shared_convs.%d.bn.running_mean", i);
        h->bn_mean[i] = add_named(ps, prefix, s, 1, (int[]){co}, 1);
        snprintf(s, sizeof s, "shared_convs.%d.bn.running_var", i);
        h->bn_var[i] = add_named(ps, prefix, s, 1, (int[]){co}, 1);
    }
    int last = (cfg->num_shared_convs ? co : cin) * cfg->roi_feat_size * cfg->roi_feat_size;
    h->fc_w = add_named(ps, prefix, "shared_fcs.0.weight", 2, (int[]){cfg->fc_out_channels, last}, 0);
    h->fc_b = add_named(ps, prefix, "shared_fcs.0.bias", 1, (int[]){cfg->fc_out_channels}, 0);
    int nc = cfg->num_classes + 1, nr = cfg->reg_class_agnostic ? 4 : 4 * cfg->num_classes;
    h->cls_w = add_named(ps, prefix, "fc_cls.weight", 2, (int[]){nc, cfg->fc_out_channels}, 0);
    h->cls_b = add_named(ps, prefix, "fc_cls.bias", 1, (int[]){nc}, 0);
    h->reg_w = add_named(ps, prefix, "fc_reg.weight", 2, (int[]){nr, cfg->fc_out_channels}, 0);
    h->reg_b = add_named(ps, prefix, "fc_reg.bias", 1, (int[]){nr}, 0);
}

static void normal_fill(tensor *t, float std, rng_t *r) {
    for (int64_t i = 0; i < t->n; i++) t->data[i] = std * rng_normal(r);
}

void bbox_head_init(bbox_head *h, rng_t *r) {
    for (int i = 0; i < h->cfg.num_shared_convs; i++) { /* ConvModule.init_weights (mmcv 1.3), at construction */
        tensor *w = h->conv_w[i];
        normal_fill(w, sqrtf(2.0f / (float)(w->shape[0] * w->shape[2] * w->shape[3])), r);
        init_const(h->bn_w[i], 1.0f), init_const(h->bn_b[i], 0.0f);
        init_const(h->bn_mean[i], 0.0f), init_const(h->bn_var[i], 1.0f);
    }
    /* BBoxHead.init_weights, then ConvFCBBoxHead's xavier_uniform on the shared fc */
    normal_fill(h->cls_w, 0.01f, r), init_const(h->cls_b, 0.0f);
    normal_fill(h->reg_w, 0.001f, r), init_const(h->reg_b, 0.0f);
    init_uniform(h->fc_w, sqrtf(6.0f / (float)(h->fc_w->shape[0] + h->fc_w->shape[1])), r);
    init_const(h->fc_b, 0.0f);
}

void bbox_head_forward(const bbox_head *h, graph *g, tensor *x, tensor **cls, tensor **reg) {
    const bbox_head_config *c = &h->cfg;
    DB_ASSERT(x->ndim == 4 && x->shape[1] == c->in_channels && x->shape[2] == c->roi_feat_size && x->shape[3] == c->roi_feat_size,
              "bbox head: roi feats are not (K, %d, %d, %d)", c->in_channels, c->roi_feat_size, c->roi_feat_size);
    int K = x->shape[0];
    for (int i = 0; i < c->num_shared_convs; i++) {
        /* (K, Cin, 7, 7) -> (K, 256, 7, 7): conv (no bias) -> BN over the K rois -> ReLU */
        x = op_conv2d_ex(g, x, h->conv_w[i], NULL, 1, 1, 1, 1, 1, 1, 1);
        x = op_batch_norm(g, x, h->bn_w[i], h->bn_b[i], h->bn_mean[i]->data, h->bn_var[i]->data, g->training, c->bn_momentum,
                          c->bn_eps);
        x = op_relu_inplace(g, x);
    }
    /* flatten(1): (K, C, 7, 7) -> (K, C*49) in (c, y, x) order; fc + ReLU -> (K, 1024) */
    x = op_reshape(g, x, 2, (int[]){K, x->shape[1] * x->shape[2] * x->shape[3]});
    x = op_relu_inplace(g, op_linear(g, x, h->fc_w, h->fc_b));
    *cls = op_linear(g, x, h->cls_w, h->cls_b); /* (K, num_classes + 1) */
    *reg = op_linear(g, x, h->reg_w, h->reg_b); /* (K, 4 * num_classes) */
}

/* ------------------------------------------------------------------------------------------------ */
/* sampling (MaxIoUAssigner, add_gt_as_proposals, RandomSampler)                                     */
void bbox_head_sample(const bbox_head_config *c, graph *g, const float *props, int n, const det_gt *gt, rng_t *r,
                      rcnn_sampling *s) {
    int m = gt->n, ng = c->add_gt_as_proposals ? m : 0, tot = ng + n;
    size_t cap = (size_t)(tot ? tot : 1);
    float *boxes = xmalloc(sizeof(float) * 4 * cap);
    int *gt_inds = xmalloc(sizeof(int) * cap), *pos = xmalloc(sizeof(int) * cap), *neg = xmalloc(sizeof(int) * cap);
    /* assign on the proposals only, then add_gt_: gts first with gt_inds 1..m (max_overlaps 1) */
    if (ng) memcpy(boxes, gt->boxes, sizeof(float) * 4 * (size_t)ng);
    if (n) memcpy(boxes + 4 * (size_t)ng, props, sizeof(float) * 4 * (size_t)n);
    for (int i = 0; i < ng; i++) gt_inds[i] = i + 1;
    if (n) max_iou_assign(&c->assigner, props, n, gt->boxes, NULL, m, gt_inds + ng, NULL, NULL);
    int npos, nneg;
    random_sample(&c->sampler, gt_inds, tot, r, pos, &npos, neg, &nneg);
    s->npos = npos, s->nneg = nneg;
    s->bboxes = arena_alloc(&g->mem, sizeof(float) * 4 * (size_t)(npos + nneg + 1));
    s->pos_gt = arena_alloc(&g->mem, sizeof(int) * (size_t)(npos + 1));
    s->pos_labels = arena_alloc(&g->mem, sizeof(int) * (size_t)(npos + 1));
    s->pos_is_gt = arena_alloc(&g->mem, (size_t)(npos + 1));
    for (int q = 0; q < npos; q++) {
        int k = pos[q];
        memcpy(s->bboxes + 4 * (size_t)q, boxes + 4 * (size_t)k, sizeof(float) * 4);
        s->pos_gt[q] = gt_inds[k] - 1;
        s->pos_labels[q] = gt->labels[gt_inds[k] - 1];
        s->pos_is_gt[q] = k < ng;
    }
    for (int q = 0; q < nneg; q++) memcpy(s->bboxes + 4 * (size_t)(npos + q), boxes + 4 * (size_t)neg[q], sizeof(float) * 4);
    free(boxes), free(gt_inds), free(pos), free(neg);
}

tensor *rcnn_sampling_rois(graph *g, const rcnn_sampling *s, int B) {
    int K = 0;
    for (int b = 0; b < B; b++) K += s[b].npos + s[b].nneg;
    tensor *rois = tensor_new(g, 2, (int[]){K, 5}, 0);
    float *p = rois->data;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < s[b].npos + s[b].nneg; i++, p += 5) {
            p[0] = (float)b;
            memcpy(p + 1, s[b].bboxes + 4 * (size_t)i, sizeof(float) * 4);
        }
    return rois;
}

/* ------------------------------------------------------------------------------------------------ */
/* targets and loss                                                                                  */
void bbox_head_targets(const bbox_head *h, graph *g, const rcnn_sampling *s, int B, const det_gt *gts, bbox_targets *t) {
    const bbox_head_config *c = &h->cfg;
    int K = 0;
    for (int b = 0; b < B; b++) K += s[b].npos + s[b].nneg;
    size_t cap = (size_t)(K ? K : 1);
    t->K = K;
    t->labels = arena_alloc(&g->mem, sizeof(int) * cap);
    t->label_weights = arena_calloc(&g->mem, sizeof(float) * cap);
    t->bbox_targets = arena_calloc(&g->mem, sizeof(float) * 4 * cap);
    t->bbox_weights = arena_calloc(&g->mem, sizeof(float) * 4 * cap);
    int o = 0;
    for (int b = 0; b < B; b++) {
        const rcnn_sampling *sb = &s[b];
        for (int q = 0; q < sb->npos; q++, o++) { /* _get_target_single: positives first */
            t->labels[o] = sb->pos_labels[q];
            t->label_weights[o] = c->pos_weight > 0 ? c->pos_weight : 1.0f;
            const float *gb = gts[b].boxes + 4 * (size_t)sb->pos_gt[q];
            memcpy(t->bbox_targets + 4 * (size_t)o, gb, sizeof(float) * 4); /* reg_decoded_bbox: the gt box */
            for (int j = 0; j < 4; j++) t->bbox_weights[4 * (size_t)o + j] = 1.0f;
        }
        for (int q = 0; q < sb->nneg; q++, o++) {
            t->labels[o] = c->num_classes; /* background */
            t->label_weights[o] = 1.0f;
        }
    }
}

/* decode of selected rows / classes: y[i] = decode(rois[idx[i], 1:], reg[idx[i], 4 cls_idx[i] ..]) */
typedef struct {
    graph *g;
    tensor *reg, *y;
    delta_coder coder;
    float *rois4, *deltas; /* (n, 4) each: the selected rois and deltas */
    int *idx, *cls_idx, n;
} decode_select_ctx;

static void decode_select_bwd(void *p) {
    decode_select_ctx *c = p;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad);
    float *dd = xcalloc(4 * (size_t)(c->n ? c->n : 1), sizeof(float));
    delta_decode_bwd(&c->coder, c->rois4, c->deltas, c->n, 1, 0, 0, c->y->grad, dd); /* (n, 4) -> (n, 4) */
    float *dr = tensor_grad(c->g, c->reg);
    int w = c->reg->shape[1];
    for (int i = 0; i < c->n; i++)
        for (int j = 0; j < 4; j++) dr[(int64_t)c->idx[i] * w + 4 * c->cls_idx[i] + j] += dd[4 * i + j];
    free(dd);
}

tensor *op_bbox_decode_select(graph *g, tensor *reg, const delta_coder *coder, const float *rois, const int *idx, const int *cls_idx,
                              int n) {
    GRAPH_OP(g, reg);
    GRAPH_USE(g, rois);
    DB_ASSERT(reg->ndim == 2 && reg->shape[1] % 4 == 0, "decode_select: reg must be (K, 4k)");
    int K = reg->shape[0], w = reg->shape[1];
    decode_select_ctx c0 = {g, reg, NULL, *coder, NULL, NULL, NULL, NULL, n};
    size_t cap = (size_t)(n ? n : 1);
    c0.rois4 = arena_alloc(&g->mem, sizeof(float) * 4 * cap);
    c0.deltas = arena_alloc(&g->mem, sizeof(float) * 4 * cap);
    c0.idx = arena_alloc(&g->mem, sizeof(int) * cap);
    c0.cls_idx = arena_alloc(&g->mem, sizeof(int) * cap);
    for (int i = 0; i < n; i++) {
        int k = idx[i], cl = cls_idx ? cls_idx[i] : 0;
        DB_ASSERT(k >= 0 && k < K && cl >= 0 && 4 * cl < w, "decode_select: row %d class %d of (%d, %d)", k, cl, K, w);
        c0.idx[i] = k, c0.cls_idx[i] = cl;
        memcpy(c0.rois4 + 4 * i, rois + 5 * (size_t)k + 1, sizeof(float) * 4);
        memcpy(c0.deltas + 4 * i, reg->data + (int64_t)k * w + 4 * cl, sizeof(float) * 4);
    }
    tensor *y = tensor_new(g, 2, (int[]){n, 4}, NEEDS(reg));
    delta_decode(coder, c0.rois4, c0.deltas, n, 1, 0, 0, y->data); /* no max_shape: not clipped */
    if (y->requires_grad) {
        c0.y = y;
        decode_select_ctx *c = graph_push(g, decode_select_bwd, sizeof *c);
        *c = c0;
    }
    return y;
}

void bbox_head_loss(const bbox_head *h, graph *g, tensor *cls, tensor *reg, const tensor *rois, const bbox_targets *t,
                    tensor **loss_cls, tensor **loss_bbox) {
    const bbox_head_config *c = &h->cfg;
    int K = t->K, npw = 0, npos = 0;
    DB_ASSERT(cls->shape[0] == K && reg->shape[0] == K && rois->shape[0] == K, "bbox head loss: %d targets, %d rois", K, rois->shape[0]);
    for (int i = 0; i < K; i++) {
        npw += t->label_weights[i] > 0;
        npos += t->labels[i] >= 0 && t->labels[i] < c->num_classes;
    }
    double avg_cls = npw > 1 ? npw : 1, avg_box = K;
    if (g->shard_total > 0 && !g->dry) { /* data parallel: the global batch's normalisers (as rpn_head_loss) */
        double a[2] = {avg_cls, avg_box};
        DB_ASSERT(comm_allreduce_sum_f64(a, 2) == 0, "%s", err_msg());
        avg_cls = a[0] * g->shard_count / g->shard_total, avg_box = a[1] * g->shard_count / g->shard_total;
    }
    /* CrossEntropyLoss(use_sigmoid=False): (K, 81) -> (1) */
    *loss_cls = op_cross_entropy_mmdet(g, cls, t->labels, t->label_weights, (float)avg_cls, c->loss_cls_weight);
    if (!npos) { /* bbox_pred[pos_inds].sum(): 0, no gradient */
        tensor *z = tensor_new(g, 1, (int[]){1}, 0);
        z->data[0] = 0.0f;
        *loss_bbox = z;
        return;
    }
    int *idx = arena_alloc(&g->mem, sizeof(int) * npos), *cl = arena_alloc(&g->mem, sizeof(int) * npos);
    float *tg = arena_alloc(&g->mem, sizeof(float) * 4 * npos), *wt = arena_alloc(&g->mem, sizeof(float) * npos);
    for (int i = 0, q = 0; i < K; i++) {
        if (!(t->labels[i] >= 0 && t->labels[i] < c->num_classes)) continue;
        idx[q] = i, cl[q] = c->reg_class_agnostic ? 0 : t->labels[i];
        memcpy(tg + 4 * q, t->bbox_targets + 4 * (size_t)i, sizeof(float) * 4);
        const float *bw = t->bbox_weights + 4 * (size_t)i;
        wt[q] = (bw[0] + bw[1] + bw[2] + bw[3]) / 4.0f; /* GIoULoss: weight.mean(-1) */
        q++;
    }
    /* (K, 4k) -> decoded boxes of the positives (npos, 4) -> GIoU / K x 10 */
    tensor *pb = op_bbox_decode_select(g, reg, &c->coder, rois->data, idx, cl, npos);
    *loss_bbox = op_giou_loss(g, pb, tg, wt, c->giou_eps, (float)avg_box, c->loss_bbox_weight);
}

/* ------------------------------------------------------------------------------------------------ */
/* refinement between stages and test-time boxes                                                    */
void bbox_head_regress_by_class(const bbox_head_config *c, const float *rois, int rstride, const int *labels, const float *reg,
                                int n, float img_h, float img_w, float *out) {
    int w = c->reg_class_agnostic ? 4 : 4 * c->num_classes;
    size_t cap = (size_t)(n ? n : 1);
    float *r4 = xmalloc(sizeof(float) * 4 * cap), *d4 = xmalloc(sizeof(float) * 4 * cap);
    for (int i = 0; i < n; i++) {
        int cl = c->reg_class_agnostic ? 0 : labels[i];
        DB_ASSERT(cl >= 0 && cl < c->num_classes, "regress_by_class: label %d of %d classes", cl, c->num_classes);
        memcpy(r4 + 4 * (size_t)i, rois + (size_t)i * rstride, sizeof(float) * 4);
        memcpy(d4 + 4 * (size_t)i, reg + (size_t)i * w + 4 * cl, sizeof(float) * 4); /* torch.gather of 4 label .. 4 label + 3 */
    }
    delta_decode(&c->coder, r4, d4, n, 1, img_h, img_w, out); /* max_shape = img_shape */
    free(r4), free(d4);
}

static int argmax_first(const float *v, int n) {
    int k = 0;
    for (int j = 1; j < n; j++)
        if (v[j] > v[k]) k = j;
    return k;
}

void bbox_head_refine(const bbox_head *h, graph *g, const tensor *rois, const bbox_targets *t, const tensor *cls, const tensor *reg,
                      const rcnn_sampling *s, const det_img_meta *metas, int B, float **props, int *nprops) {
    const bbox_head_config *c = &h->cfg;
    int K = rois->shape[0], C1 = cls->shape[1], W = reg->shape[1];
    DB_ASSERT(t->K == K && cls->shape[0] == K && reg->shape[0] == K && C1 == c->num_classes + 1, "refine: %d rois, %d targets", K, t->K);
    int o = 0;
    for (int b = 0; b < B; b++) {
        int nb = s[b].npos + s[b].nneg;
        int *lab = xmalloc(sizeof(int) * (size_t)(nb ? nb : 1));
        for (int i = 0; i < nb; i++) {
            int l = t->labels[o + i];
            lab[i] = l == c->num_classes ? argmax_first(cls->data + (size_t)(o + i) * C1, c->num_classes) : l;
        }
        float *dec = xmalloc(sizeof(float) * 4 * (size_t)(nb ? nb : 1));
        bbox_head_regress_by_class(c, rois->data + 5 * (size_t)o + 1, 5, lab, reg->data + (size_t)o * W, nb, (float)metas[b].img_h,
                                   (float)metas[b].img_w, dec);
        float *p = arena_alloc(&g->mem, sizeof(float) * 4 * (size_t)(nb ? nb : 1));
        int k = 0;
        for (int i = 0; i < nb; i++) {
            if (i < s[b].npos && s[b].pos_is_gt[i]) continue; /* gts added as proposals are not carried on */
            memcpy(p + 4 * (size_t)k++, dec + 4 * (size_t)i, sizeof(float) * 4);
        }
        props[b] = p, nprops[b] = k;
        free(lab), free(dec);
        o += nb;
    }
}

void rcnn_test_cfg_default(rcnn_test_cfg *c) {
    c->score_thr = 0.05f, c->nms_iou = 0.5f, c->max_per_img = 100, c->mask_thr_binary = 0.5f;
}

int bbox_head_get_bboxes(const bbox_head *h, const float *rois, int rstride, const float *cls_logits, const float *reg, int n,
                         const det_img_meta *m, const rcnn_test_cfg *tc, det_result *out) {
    const bbox_head_config *c = &h->cfg;
    int C = c->num_classes, C1 = C + 1, k = c->reg_class_agnostic ? 1 : C;
    size_t cap = (size_t)(n ? n : 1);
    float *sc = xmalloc(sizeof(float) * C1 * cap), *r4 = xmalloc(sizeof(float) * 4 * cap), *bx = xmalloc(sizeof(float) * 4 * k * cap);
    for (int i = 0; i < n; i++) { /* F.softmax(cls_score, dim=1) */
        const float *x = cls_logits + (size_t)i * C1;
        float mx = x[0], z = 0;
        for (int j = 1; j < C1; j++) mx = x[j] > mx ? x[j] : mx;
        for (int j = 0; j < C1; j++) z += sc[(size_t)i * C1 + j] = expf(x[j] - mx);
        for (int j = 0; j < C1; j++) sc[(size_t)i * C1 + j] /= z;
        memcpy(r4 + 4 * (size_t)i, rois + (size_t)i * rstride, sizeof(float) * 4);
    }
    delta_decode(&c->coder, r4, reg, n, k, (float)m->img_h, (float)m->img_w, bx); /* (n, 4k), clipped to img_shape */
    for (size_t i = 0; i < (size_t)n * k; i++)
        for (int j = 0; j < 4; j++) bx[4 * i + j] /= m->scale_factor[j]; /* rescale */
    int kept = nms_multiclass(bx, k > 1, sc, C1, n, C, tc->score_thr, tc->nms_iou, tc->max_per_img, out);
    free(sc), free(r4), free(bx);
    return kept;
}
