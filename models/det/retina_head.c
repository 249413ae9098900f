/* retina_head.c - RetinaHead: forward, training targets, losses and inference (see retina_head.h). */
#include "retina_head.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/comm.h"
#include "../../core/common.h"
#include "../../core/init.h"
#include "../../core/ops.h"
#include "../../core/ops_loss.h"
#include "../../core/ops_nn.h"
#include "nms.h"

void retina_head_config_default(retina_head_config *c, int num_classes, int in_channels, int feat_channels) {
    memset(c, 0, sizeof *c);
    c->num_classes = num_classes;
    c->in_channels = in_channels;
    c->feat_channels = feat_channels;
    c->stacked_convs = 4;
    anchor_gen_init_retina(&c->anchors);
    delta_coder_default(&c->coder);
    c->assigner = (max_iou_cfg){.pos_iou_thr = 0.5f, .neg_iou_thr = 0.4f, .min_pos_iou = 0.0f, .gt_max_assign_all = 1, .match_low_quality = 1};
    c->gamma = 2.0f, c->alpha = 0.25f, c->loss_cls_weight = 1.0f, c->loss_bbox_weight = 1.0f;
    c->allowed_border = -1;
    c->pos_weight = -1;
    c->nms_pre = 1000, c->score_thr = 0.05f, c->nms_iou = 0.5f, c->max_per_img = 100;
}

static void conv_decl(params *ps, const char *prefix, const char *name, int cout, int cin, tensor **w, tensor **b) {
    char n[192];
    snprintf(n, sizeof n, "%s%s.weight", prefix, name);
    *w = params_add(ps, n, 4, (int[]){cout, cin, 3, 3});
    snprintf(n, sizeof n, "%s%s.bias", prefix, name);
    *b = params_add(ps, n, 1, (int[]){cout});
}

void retina_head_declare(retina_head *h, params *ps, const retina_head_config *cfg, const char *prefix) {
    memset(h, 0, sizeof *h);
    h->cfg = *cfg;
    h->A = cfg->anchors.n_base;
    DB_ASSERT(cfg->stacked_convs <= RETINA_MAX_CONVS, "retina head: %d stacked convs", cfg->stacked_convs);
    char name[64];
    for (int i = 0; i < cfg->stacked_convs; i++) {
        int cin = i ? cfg->feat_channels : cfg->in_channels;
        snprintf(name, sizeof name, "cls_convs.%d.conv", i);
        conv_decl(ps, prefix, name, cfg->feat_channels, cin, &h->cls_w[i], &h->cls_b[i]);
    }
    for (int i = 0; i < cfg->stacked_convs; i++) {
        int cin = i ? cfg->feat_channels : cfg->in_channels;
        snprintf(name, sizeof name, "reg_convs.%d.conv", i);
        conv_decl(ps, prefix, name, cfg->feat_channels, cin, &h->reg_w[i], &h->reg_b[i]);
    }
    int cin = cfg->stacked_convs ? cfg->feat_channels : cfg->in_channels;
    conv_decl(ps, prefix, "retina_cls", h->A * cfg->num_classes, cin, &h->cls_out_w, &h->cls_out_b);
    conv_decl(ps, prefix, "retina_reg", h->A * 4, cin, &h->reg_out_w, &h->reg_out_b);
}

static void normal_init(tensor *w, tensor *b, float std, float bias, rng_t *r) {
    for (int64_t i = 0; i < w->n; i++) w->data[i] = std * rng_normal(r);
    init_const(b, bias);
}

void retina_head_init(retina_head *h, rng_t *r) {
    for (int i = 0; i < h->cfg.stacked_convs; i++) normal_init(h->cls_w[i], h->cls_b[i], 0.01f, 0.0f, r);
    for (int i = 0; i < h->cfg.stacked_convs; i++) normal_init(h->reg_w[i], h->reg_b[i], 0.01f, 0.0f, r);
    normal_init(h->cls_out_w, h->cls_out_b, 0.01f, -logf((1.0f - 0.01f) / 0.01f), r); /* bias_init_with_prob(0.01) */
    normal_init(h->reg_out_w, h->reg_out_b, 0.01f, 0.0f, r);
}

/* Every level of every image goes through the towers as one set of packed planes (op_conv2d_planes: one gemm
 * per conv instead of one per level and image; the convs are shared over levels, as in mmdet), unpacked per
 * level at the end. */
void retina_head_forward(const retina_head *h, graph *g, tensor *const *feats, int L, tensor **cls, tensor **reg) {
    planes p;
    planes_make(&p, feats, L);
    tensor *x = op_planes_pack(g, feats, &p), *c = x, *r = x;
    for (int i = 0; i < h->cfg.stacked_convs; i++) c = op_relu(g, op_conv2d_planes(g, c, &p, h->cls_w[i], h->cls_b[i], 1));
    for (int i = 0; i < h->cfg.stacked_convs; i++) r = op_relu(g, op_conv2d_planes(g, r, &p, h->reg_w[i], h->reg_b[i], 1));
    tensor *ca = op_conv2d_planes(g, c, &p, h->cls_out_w, h->cls_out_b, 1); /* (A*C, N) */
    tensor *ra = op_conv2d_planes(g, r, &p, h->reg_out_w, h->reg_out_b, 1); /* (A*4, N) */
    for (int l = 0; l < L; l++) {
        cls[l] = op_planes_unpack(g, ca, &p, l); /* (B, A*C, H, W) */
        reg[l] = op_planes_unpack(g, ra, &p, l); /* (B, A*4, H, W) */
    }
}

/* ------------------------------------------------------------------------------------------------ */
/* training targets (AnchorHead.get_targets with PseudoSampler)                                     */
int retina_head_targets(const retina_head *h, graph *g, tensor *const *cls, int L, const det_img_meta *metas, const det_gt *gts,
                        int B, retina_targets *t) {
    const retina_head_config *c = &h->cfg;
    DB_ASSERT(L <= c->anchors.n_levels && L <= ANCHOR_MAX_LEVELS, "retina head: %d levels, %d anchor levels", L, c->anchors.n_levels);
    memset(t, 0, sizeof *t);
    t->B = B, t->L = L;
    int Hs[ANCHOR_MAX_LEVELS], Ws[ANCHOR_MAX_LEVELS];
    for (int l = 0; l < L; l++) Hs[l] = cls[l]->shape[2], Ws[l] = cls[l]->shape[3];
    anchor_set as;
    anchor_set_build(&as, &c->anchors, L, Hs, Ws);
    int total = as.total;
    memcpy(t->level_off, as.level_off, sizeof(int) * (size_t)(L + 1));
    t->total = total;
    anchor_targets_alloc(g, B, total, &t->labels, &t->label_weights, &t->bbox_targets, &t->bbox_weights);
    int *gt_inds = xmalloc(sizeof(int) * (size_t)(total ? total : 1));
    int rc = 0;
    for (int b = 0; b < B && !rc; b++) {
        const det_img_meta *m = &metas[b];
        int n = anchor_set_inside(&as, &c->anchors, m->img_h, m->img_w, m->pad_h, m->pad_w, c->allowed_border);
        if (!n) {
            rc = err_set("retina head: image %d (%dx%d padded) has no anchor inside", b, m->pad_w, m->pad_h);
            break;
        }
        const float *inside_a = as.inside;
        const int *inside_idx = as.inside_idx;
        const det_gt *gt = &gts[b];
        max_iou_assign(&c->assigner, inside_a, n, gt->boxes, gt->labels, gt->n, gt_inds, NULL, NULL);
        int *lab = t->labels + (size_t)b * total;
        float *lw = t->label_weights + (size_t)b * total, *bt = t->bbox_targets + (size_t)b * total * 4,
              *bw = t->bbox_weights + (size_t)b * total * 4;
        for (int i = 0; i < total; i++) lab[i] = c->num_classes;
        int npos = 0;
        for (int k = 0; k < n; k++) {
            int i = inside_idx[k], gi = gt_inds[k];
            if (gi > 0) {
                delta_encode(&c->coder, inside_a + 4 * (size_t)k, gt->boxes + 4 * (size_t)(gi - 1), 1, bt + 4 * (size_t)i);
                for (int j = 0; j < 4; j++) bw[4 * (size_t)i + j] = 1.0f;
                lab[i] = gt->labels[gi - 1];
                lw[i] = c->pos_weight > 0 ? c->pos_weight : 1.0f;
                npos++;
            } else if (gi == 0) {
                lw[i] = 1.0f;
                t->num_neg++;
            }
        }
        t->num_pos += npos;
        t->avg_factor += (float)(npos > 1 ? npos : 1);
    }
    anchor_set_free(&as);
    free(gt_inds);
    return rc;
}

/* ------------------------------------------------------------------------------------------------ */
/* losses per level                                                                                  */
void retina_head_loss(const retina_head *h, graph *g, tensor *const *cls, tensor *const *reg, int L, const retina_targets *t,
                      tensor **loss_cls, tensor **loss_bbox) {
    const retina_head_config *c = &h->cfg;
    int A = h->A, C = c->num_classes, B = t->B;
    float avg = t->avg_factor;
    if (g->shard_total > 0 && !g->dry) {
        /* data parallel: the normaliser of the global batch (a sum over its images), over the N ranks, so that the
         * ranks' gradients summed and divided by N are the single-process gradient (mmdet's AnchorHead keeps a
         * per-GPU normaliser instead). Not in dry runs: the ranks plan at different times. */
        double a = avg;
        DB_ASSERT(comm_allreduce_sum_f64(&a, 1) == 0, "%s", err_msg());
        avg = (float)(a * g->shard_count / g->shard_total);
    }
    for (int l = 0; l < L; l++) {
        int Hl = cls[l]->shape[2], Wl = cls[l]->shape[3], nl = Hl * Wl * A, n = B * nl;
        /* rows (b, y, x, a): the permute(0, 2, 3, 1).reshape(-1, C) of the reference */
        tensor *pc = op_reshape(g, op_nchw_to_nhwc(g, cls[l]), 2, (int[]){n, C});
        tensor *pr = op_reshape(g, op_nchw_to_nhwc(g, reg[l]), 2, (int[]){n, 4});
        int *lab = arena_alloc(&g->mem, sizeof(int) * (size_t)n);
        float *lw = arena_alloc(&g->mem, sizeof(float) * (size_t)n), *bt = arena_alloc(&g->mem, sizeof(float) * 4 * (size_t)n),
              *bw = arena_alloc(&g->mem, sizeof(float) * 4 * (size_t)n);
        for (int b = 0; b < B; b++) {
            size_t src = (size_t)b * t->total + t->level_off[l], dst = (size_t)b * nl;
            memcpy(lab + dst, t->labels + src, sizeof(int) * nl);
            memcpy(lw + dst, t->label_weights + src, sizeof(float) * nl);
            memcpy(bt + 4 * dst, t->bbox_targets + 4 * src, sizeof(float) * 4 * nl);
            memcpy(bw + 4 * dst, t->bbox_weights + 4 * src, sizeof(float) * 4 * nl);
        }
        loss_cls[l] = op_sigmoid_focal_loss(g, pc, lab, lw, c->gamma, c->alpha, avg, LOSS_MEAN, c->loss_cls_weight);
        loss_bbox[l] = op_l1_loss(g, pr, bt, bw, avg, c->loss_bbox_weight);
    }
}

/* ------------------------------------------------------------------------------------------------ */
/* inference                                                                                         */
void det_result_free(det_result *r) {
    free(r->boxes), free(r->scores), free(r->labels), free(r->masks);
    memset(r, 0, sizeof *r);
}

typedef struct {
    float s;
    int i;
} score_idx;

static int cmp_score_desc(const void *a, const void *b) {
    const score_idx *x = a, *y = b;
    if (x->s != y->s) return x->s > y->s ? -1 : 1;
    return x->i - y->i;
}

static float sigmoidf_(float x) { return x >= 0 ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x)); }

int retina_head_get_bboxes(const retina_head *h, tensor *const *cls, tensor *const *reg, int L, const det_img_meta *metas, int B,
                           int rescale, det_result *out) {
    const retina_head_config *c = &h->cfg;
    int A = h->A, C = c->num_classes;
    int cap = 0;
    for (int l = 0; l < L; l++) {
        int nl = cls[l]->shape[2] * cls[l]->shape[3] * A;
        cap += c->nms_pre > 0 && nl > c->nms_pre ? c->nms_pre : nl;
    }
    int maxnl = 0;
    for (int l = 0; l < L; l++) {
        int nl = cls[l]->shape[2] * cls[l]->shape[3] * A;
        if (nl > maxnl) maxnl = nl;
    }
    float *boxes = xmalloc(sizeof(float) * 4 * (size_t)cap), *scores = xmalloc(sizeof(float) * (size_t)cap * C);
    float *lvl_anchor = xmalloc(sizeof(float) * 4 * (size_t)maxnl), *sel_a = xmalloc(sizeof(float) * 4 * (size_t)maxnl),
          *sel_d = xmalloc(sizeof(float) * 4 * (size_t)maxnl);
    score_idx *si = xmalloc(sizeof(score_idx) * (size_t)maxnl);
    for (int b = 0; b < B; b++) {
        const det_img_meta *m = &metas[b];
        int n = 0;
        for (int l = 0; l < L; l++) {
            int Hl = cls[l]->shape[2], Wl = cls[l]->shape[3], HW = Hl * Wl, nl = HW * A;
            anchor_gen_grid(&c->anchors, l, Hl, Wl, lvl_anchor);
            const float *cd = cls[l]->data + (size_t)b * A * C * HW, *rd = reg[l]->data + (size_t)b * A * 4 * HW;
            /* anchor j = (p * A + a), p = y * W + x: class score channel a*C + k at pixel p */
            for (int j = 0; j < nl; j++) {
                int p = j / A, a = j % A;
                float mx = -INFINITY;
                for (int k = 0; k < C; k++) {
                    float v = cd[(size_t)(a * C + k) * HW + p];
                    if (v > mx) mx = v;
                }
                si[j] = (score_idx){sigmoidf_(mx), j};
            }
            int nk = nl;
            if (c->nms_pre > 0 && nl > c->nms_pre) {
                qsort(si, nl, sizeof *si, cmp_score_desc);
                nk = c->nms_pre;
            }
            for (int q = 0; q < nk; q++) {
                int j = si[q].i, p = j / A, a = j % A;
                memcpy(sel_a + 4 * (size_t)q, lvl_anchor + 4 * (size_t)j, 4 * sizeof(float));
                for (int k = 0; k < 4; k++) sel_d[4 * (size_t)q + k] = rd[(size_t)(a * 4 + k) * HW + p];
                for (int k = 0; k < C; k++) scores[(size_t)(n + q) * C + k] = sigmoidf_(cd[(size_t)(a * C + k) * HW + p]);
            }
            delta_decode(&c->coder, sel_a, sel_d, nk, 1, (float)m->img_h, (float)m->img_w, boxes + 4 * (size_t)n);
            n += nk;
        }
        if (rescale)
            for (int i = 0; i < n; i++)
                for (int k = 0; k < 4; k++) boxes[4 * (size_t)i + k] /= m->scale_factor[k];
        /* multiclass NMS: every (box, class) with score > score_thr, per-class NMS, the first max_per_img */
        nms_multiclass(boxes, 0, scores, C, n, C, c->score_thr, c->nms_iou, c->max_per_img, &out[b]);
    }
    free(boxes), free(scores), free(lvl_anchor), free(sel_a), free(sel_d), free(si);
    return 0;
}
