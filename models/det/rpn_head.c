/* rpn_head.c - RPNHead: forward, training targets (MaxIoUAssigner + RandomSampler), losses and proposals
 * (see rpn_head.h). */
#include "rpn_head.h"

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

void rpn_head_config_default(rpn_head_config *c, int in_channels, int feat_channels) {
    memset(c, 0, sizeof *c);
    c->in_channels = in_channels;
    c->feat_channels = feat_channels;
    static const float strides[5] = {4, 8, 16, 32, 64}, ratios[3] = {0.5f, 1.0f, 2.0f}, scales[1] = {8};
    DB_ASSERT(anchor_gen_init(&c->anchors, 5, strides, NULL, ratios, 3, scales, 1, 1, 0.0f) == 0, "%s", err_msg());
    delta_coder_default(&c->coder);
    c->assigner = (max_iou_cfg){.pos_iou_thr = 0.7f, .neg_iou_thr = 0.3f, .min_pos_iou = 0.3f, .gt_max_assign_all = 1, .match_low_quality = 1};
    random_sampler_cfg_rpn(&c->sampler);
    c->allowed_border = 0;
    c->pos_weight = -1;
    c->loss_cls_weight = 1.0f, c->loss_bbox_weight = 1.0f;
    c->smooth_l1_beta = (float)(1.0 / 9.0);
    c->train_proposal = (rpn_proposal_cfg){2000, 2000, 0.7f, 0.0f};
    c->test_proposal = (rpn_proposal_cfg){1000, 1000, 0.7f, 0.0f};
}

static void conv_decl(params *ps, const char *prefix, const char *name, int cout, int cin, int k, tensor **w, tensor **b) {
    char n[192];
    snprintf(n, sizeof n, "%s%s.weight", prefix, name);
    *w = params_add(ps, n, 4, (int[]){cout, cin, k, k});
    snprintf(n, sizeof n, "%s%s.bias", prefix, name);
    *b = params_add(ps, n, 1, (int[]){cout});
}

void rpn_head_declare(rpn_head *h, params *ps, const rpn_head_config *cfg, const char *prefix) {
    memset(h, 0, sizeof *h);
    h->cfg = *cfg;
    h->A = cfg->anchors.n_base;
    conv_decl(ps, prefix, "rpn_conv", cfg->feat_channels, cfg->in_channels, 3, &h->conv_w, &h->conv_b);
    conv_decl(ps, prefix, "rpn_cls", h->A, cfg->feat_channels, 1, &h->cls_w, &h->cls_b); /* A * cls_out_channels (1) */
    conv_decl(ps, prefix, "rpn_reg", h->A * 4, cfg->feat_channels, 1, &h->reg_w, &h->reg_b);
}

static void normal_init(tensor *w, tensor *b, float std, rng_t *r) {
    for (int64_t i = 0; i < w->n; i++) w->data[i] = std * rng_normal(r);
    init_const(b, 0.0f);
}

void rpn_head_init(rpn_head *h, rng_t *r) {
    normal_init(h->conv_w, h->conv_b, 0.01f, r);
    normal_init(h->cls_w, h->cls_b, 0.01f, r);
    normal_init(h->reg_w, h->reg_b, 0.01f, r);
}

/* every level of every image as one set of packed planes (op_conv2d_planes: one gemm per conv, the convs shared
 * over levels as in mmdet), unpacked per level at the end */
void rpn_head_forward(const rpn_head *h, graph *g, tensor *const *feats, int L, tensor **cls, tensor **reg) {
    planes p;
    planes_make(&p, feats, L);
    /* (in, N) -> (feat, N); F.relu(inplace) on the conv output, which only the 1x1 convs read */
    tensor *x = op_relu(g, op_conv2d_planes(g, op_planes_pack(g, feats, &p), &p, h->conv_w, h->conv_b, 1));
    tensor *ca = op_conv2d_planes(g, x, &p, h->cls_w, h->cls_b, 1); /* (A, N) */
    tensor *ra = op_conv2d_planes(g, x, &p, h->reg_w, h->reg_b, 1); /* (A*4, N) */
    for (int l = 0; l < L; l++) {
        cls[l] = op_planes_unpack(g, ca, &p, l); /* (B, A, H, W) */
        reg[l] = op_planes_unpack(g, ra, &p, l); /* (B, A*4, H, W) */
    }
}

/* ------------------------------------------------------------------------------------------------ */
/* training targets (AnchorHead.get_targets with RandomSampler, gt_labels None)                      */
int rpn_head_targets(const rpn_head *h, graph *g, tensor *const *cls, int L, const det_img_meta *metas, const det_gt *gts, int B,
                     rng_t *r, rpn_targets *t) {
    const rpn_head_config *c = &h->cfg;
    DB_ASSERT(L <= c->anchors.n_levels && L <= ANCHOR_MAX_LEVELS, "rpn head: %d levels, %d anchor levels", L, c->anchors.n_levels);
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
    int *pos = xmalloc(sizeof(int) * (size_t)(total ? total : 1)), *neg = xmalloc(sizeof(int) * (size_t)(total ? total : 1));
    int rc = 0;
    for (int b = 0; b < B && !rc; b++) {
        const det_img_meta *m = &metas[b];
        int n = anchor_set_inside(&as, &c->anchors, m->img_h, m->img_w, m->pad_h, m->pad_w, c->allowed_border);
        if (!n) {
            rc = err_set("rpn head: image %d (%dx%d, padded %dx%d) has no anchor inside", b, m->img_w, m->img_h, m->pad_w, m->pad_h);
            break;
        }
        const float *inside_a = as.inside;
        const int *inside_idx = as.inside_idx;
        const det_gt *gt = &gts[b];
        max_iou_assign(&c->assigner, inside_a, n, gt->boxes, NULL, gt->n, gt_inds, NULL, NULL);
        int npos, nneg;
        random_sample(&c->sampler, gt_inds, n, r, pos, &npos, neg, &nneg);
        int *lab = t->labels + (size_t)b * total;
        float *lw = t->label_weights + (size_t)b * total, *bt = t->bbox_targets + (size_t)b * total * 4,
              *bw = t->bbox_weights + (size_t)b * total * 4;
        for (int i = 0; i < total; i++) lab[i] = 1; /* num_classes: background */
        for (int q = 0; q < npos; q++) {
            int k = pos[q], i = inside_idx[k];
            delta_encode(&c->coder, inside_a + 4 * (size_t)k, gt->boxes + 4 * (size_t)(gt_inds[k] - 1), 1, bt + 4 * (size_t)i);
            for (int j = 0; j < 4; j++) bw[4 * (size_t)i + j] = 1.0f;
            lab[i] = 0; /* gt_labels None: labels[pos_inds] = 0 */
            lw[i] = c->pos_weight > 0 ? c->pos_weight : 1.0f;
        }
        for (int q = 0; q < nneg; q++) lw[inside_idx[neg[q]]] = 1.0f;
        t->num_pos += npos, t->num_neg += nneg;
        t->avg_factor += (float)(npos > 1 ? npos : 1) + (float)(nneg > 1 ? nneg : 1);
    }
    anchor_set_free(&as);
    free(gt_inds), free(pos), free(neg);
    return rc;
}

/* ------------------------------------------------------------------------------------------------ */
/* losses per level                                                                                  */
void rpn_head_loss(const rpn_head *h, graph *g, tensor *const *cls, tensor *const *reg, int L, const rpn_targets *t,
                   tensor **loss_cls, tensor **loss_bbox) {
    const rpn_head_config *c = &h->cfg;
    int A = h->A, B = t->B;
    float avg = t->avg_factor;
    if (g->shard_total > 0 && !g->dry) {
        /* data parallel: the global batch's normaliser over the N ranks, as retina_head_loss (mmdet keeps a
         * per-GPU one) */
        double a = avg;
        DB_ASSERT(comm_allreduce_sum_f64(&a, 1) == 0, "%s", err_msg());
        avg = (float)(a * g->shard_count / g->shard_total);
    }
    for (int l = 0; l < L; l++) {
        int nl = cls[l]->shape[2] * cls[l]->shape[3] * A, n = B * nl;
        /* rows (b, y, x, a): permute(0, 2, 3, 1).reshape(-1, 1) and .reshape(-1, 4) */
        tensor *pc = op_reshape(g, op_nchw_to_nhwc(g, cls[l]), 2, (int[]){n, 1});
        tensor *pr = op_reshape(g, op_nchw_to_nhwc(g, reg[l]), 2, (int[]){n, 4});
        int *lab = arena_alloc(&g->mem, sizeof(int) * (size_t)n);
        float *lw = arena_alloc(&g->mem, sizeof(float) * (size_t)n), *bt = arena_alloc(&g->mem, sizeof(float) * 4 * (size_t)n),
              *bw = arena_alloc(&g->mem, sizeof(float) * 4 * (size_t)n);
        for (int b = 0; b < B; b++) { /* images_to_levels */
            size_t src = (size_t)b * t->total + t->level_off[l], dst = (size_t)b * nl;
            memcpy(lab + dst, t->labels + src, sizeof(int) * nl);
            memcpy(lw + dst, t->label_weights + src, sizeof(float) * nl);
            memcpy(bt + 4 * dst, t->bbox_targets + 4 * src, sizeof(float) * 4 * nl);
            memcpy(bw + 4 * dst, t->bbox_weights + 4 * src, sizeof(float) * 4 * nl);
        }
        loss_cls[l] = op_binary_cross_entropy_mmdet(g, pc, lab, lw, avg, c->loss_cls_weight);
        loss_bbox[l] = op_smooth_l1_loss(g, pr, bt, bw, c->smooth_l1_beta, avg, c->loss_bbox_weight);
    }
}

/* ------------------------------------------------------------------------------------------------ */
/* proposals (RPNHead._get_bboxes)                                                                   */
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

int rpn_head_get_bboxes(const rpn_head *h, tensor *const *cls, tensor *const *reg, int L, const det_img_meta *metas, int B,
                        const rpn_proposal_cfg *pc, det_result *out) {
    const rpn_head_config *c = &h->cfg;
    int A = h->A, cap = 0, maxnl = 0;
    for (int l = 0; l < L; l++) {
        int nl = cls[l]->shape[2] * cls[l]->shape[3] * A;
        cap += pc->nms_pre > 0 && nl > pc->nms_pre ? pc->nms_pre : nl;
        if (nl > maxnl) maxnl = nl;
    }
    size_t cn = (size_t)(cap ? cap : 1), mn = (size_t)(maxnl ? maxnl : 1);
    float *boxes = xmalloc(sizeof(float) * 4 * cn), *scores = xmalloc(sizeof(float) * cn);
    int *ids = xmalloc(sizeof(int) * cn), *keep = xmalloc(sizeof(int) * cn);
    float *lvl_anchor = xmalloc(sizeof(float) * 4 * mn), *sel_a = xmalloc(sizeof(float) * 4 * mn), *sel_d = xmalloc(sizeof(float) * 4 * mn);
    score_idx *si = xmalloc(sizeof(score_idx) * mn);
    for (int b = 0; b < B; b++) {
        const det_img_meta *m = &metas[b];
        int n = 0;
        for (int l = 0; l < L; l++) {
            int HW = cls[l]->shape[2] * cls[l]->shape[3], nl = HW * A;
            anchor_gen_grid(&c->anchors, l, cls[l]->shape[2], cls[l]->shape[3], lvl_anchor);
            const float *cd = cls[l]->data + (size_t)b * A * HW, *rd = reg[l]->data + (size_t)b * A * 4 * HW;
            for (int j = 0; j < nl; j++) si[j] = (score_idx){sigmoidf_(cd[(size_t)(j % A) * HW + j / A]), j}; /* j = p A + a */
            int nk = nl;
            if (pc->nms_pre > 0 && nl > pc->nms_pre) { /* scores.sort(descending=True)[:nms_pre] */
                qsort(si, nl, sizeof *si, cmp_score_desc);
                nk = pc->nms_pre;
            }
            for (int q = 0; q < nk; q++) {
                int j = si[q].i, p = j / A, a = j % A;
                memcpy(sel_a + 4 * (size_t)q, lvl_anchor + 4 * (size_t)j, 4 * sizeof(float));
                for (int k = 0; k < 4; k++) sel_d[4 * (size_t)q + k] = rd[(size_t)(a * 4 + k) * HW + p];
                scores[n + q] = si[q].s;
                ids[n + q] = l;
            }
            delta_decode(&c->coder, sel_a, sel_d, nk, 1, (float)m->img_h, (float)m->img_w, boxes + 4 * (size_t)n);
            n += nk;
        }
        if (pc->min_bbox_size > 0) { /* keep w >= min and h >= min, in order */
            int k = 0;
            for (int i = 0; i < n; i++) {
                const float *bx = boxes + 4 * (size_t)i;
                if (!(bx[2] - bx[0] >= pc->min_bbox_size && bx[3] - bx[1] >= pc->min_bbox_size)) continue;
                memmove(boxes + 4 * (size_t)k, bx, 4 * sizeof(float));
                scores[k] = scores[i], ids[k] = ids[i];
                k++;
            }
            n = k;
        }
        int nkeep = n ? nms_batched(boxes, scores, ids, n, pc->nms_iou, keep) : 0; /* levels as class ids */
        if (pc->max_per_img > 0 && nkeep > pc->max_per_img) nkeep = pc->max_per_img;
        det_result *r = &out[b];
        size_t kn = (size_t)(nkeep ? nkeep : 1);
        memset(r, 0, sizeof *r);
        r->n = nkeep;
        r->boxes = xmalloc(sizeof(float) * 4 * kn);
        r->scores = xmalloc(sizeof(float) * kn);
        r->labels = xmalloc(sizeof(int) * kn);
        for (int q = 0; q < nkeep; q++) {
            memcpy(r->boxes + 4 * (size_t)q, boxes + 4 * (size_t)keep[q], 4 * sizeof(float));
            r->scores[q] = scores[keep[q]];
            r->labels[q] = 0;
        }
    }
    free(boxes), free(scores), free(ids), free(keep), free(lvl_anchor), free(sel_a), free(sel_d), free(si);
    return 0;
}
