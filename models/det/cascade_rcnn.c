/* cascade_rcnn.c - Swin + FPN + RPN + the three cascade stages, box and mask heads (see cascade_rcnn.h). */
#include "cascade_rcnn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/ops.h"
#include "retina_head.h" /* det_result_free */

const char *const cascade_loss_names[CASCADE_LOSS_N] = {"loss_rpn_cls", "loss_rpn_bbox", "s0.loss_cls", "s0.loss_bbox", "s0.loss_mask",
                                                         "s1.loss_cls",  "s1.loss_bbox",  "s1.loss_mask", "s2.loss_cls", "s2.loss_bbox",
                                                         "s2.loss_mask"};

void cascade_rcnn_config_default(cascade_rcnn_config *c, const swin_config *backbone, int num_classes, int fpn_channels) {
    memset(c, 0, sizeof *c);
    c->backbone = *backbone;
    c->backbone.out_mask = 0xF; /* out_indices (0, 1, 2, 3) */
    c->num_classes = num_classes;
    c->fpn_channels = fpn_channels;
    c->num_outs = 5;
    rpn_head_config_default(&c->rpn, fpn_channels, fpn_channels);
    for (int i = 0; i < CASCADE_STAGES; i++) bbox_head_config_cascade(&c->bbox[i], i, fpn_channels, num_classes);
    roi_extractor_config_default(&c->bbox_roi, 7);
    roi_extractor_config_default(&c->mask_roi, 14);
    for (int i = 0; i < CASCADE_STAGES; i++) mask_head_config_default(&c->mask[i], fpn_channels, num_classes);
    c->with_mask = 1;
    const float w[CASCADE_STAGES] = CASCADE_STAGE_LOSS_WEIGHTS;
    memcpy(c->stage_loss_weights, w, sizeof w);
    rcnn_test_cfg_default(&c->test);
}

void cascade_rcnn_build(cascade_rcnn *d, const cascade_rcnn_config *cfg, const swin_plugin *plug) {
    memset(d, 0, sizeof *d);
    d->cfg = *cfg;
    params_init(&d->ps);
    swin_build(&d->bb, &d->ps, &cfg->backbone, plug);
    d->bb.token_outputs = 0;
    fpn_config fc = {0};
    d->n_in = swin_out_stages(&cfg->backbone, d->in_stage, fc.in_channels);
    fc.n_in = d->n_in;
    fc.out_channels = cfg->fpn_channels;
    fc.num_outs = cfg->num_outs;
    fc.extra = FPN_EXTRA_NONE; /* add_extra_convs False: the fifth level is a max pool of the fourth */
    fpn_declare(&d->neck, &d->ps, &fc, "neck.");
    DB_ASSERT(cfg->rpn.anchors.n_levels >= cfg->num_outs, "cascade_rcnn: %d outputs, %d anchor levels", cfg->num_outs,
              cfg->rpn.anchors.n_levels);
    DB_ASSERT(cfg->bbox_roi.n_levels <= cfg->num_outs, "cascade_rcnn: roi extractor on %d of %d levels", cfg->bbox_roi.n_levels,
              cfg->num_outs);
    rpn_head_declare(&d->rpn, &d->ps, &cfg->rpn, "rpn_head.");
    for (int i = 0; i < CASCADE_STAGES; i++) {
        char pre[64];
        snprintf(pre, sizeof pre, "roi_head.bbox_head.%d.", i);
        bbox_head_declare(&d->bbox[i], &d->ps, &cfg->bbox[i], pre);
    }
    for (int i = 0; i < CASCADE_STAGES && cfg->with_mask; i++) {
        char pre[64];
        snprintf(pre, sizeof pre, "roi_head.mask_head.%d.", i);
        mask_head_declare(&d->mask[i], &d->ps, &cfg->mask[i], pre);
    }
    params_alloc(&d->ps);
}

void cascade_rcnn_init(cascade_rcnn *d, uint64_t seed) {
    rng_t r;
    rng_seed(&r, seed);
    swin_init(&d->bb, &r);
    fpn_init(&d->neck, &r);
    rpn_head_init(&d->rpn, &r);
    for (int i = 0; i < CASCADE_STAGES; i++) bbox_head_init(&d->bbox[i], &r);
    for (int i = 0; i < CASCADE_STAGES && d->cfg.with_mask; i++) mask_head_init(&d->mask[i], &r);
}

void cascade_rcnn_free(cascade_rcnn *d) {
    swin_free(&d->bb);
    params_free(&d->ps);
}

/* img (B, 3, H, W) -> feats[0..num_outs) (B, 256, H / 4 / 2^l, ...) */
static void extract_feats(cascade_rcnn *d, graph *g, tensor *img, tensor **feats) {
    swin_outputs o;
    swin_forward(&d->bb, g, img, &o);
    tensor *x[SWIN_STAGES];
    for (int i = 0; i < d->n_in; i++) x[i] = o.out[d->in_stage[i]]; /* (B, C_s, H_s, W_s) */
    fpn_forward(&d->neck, g, x, feats);
}

int cascade_rcnn_loss(cascade_rcnn *d, graph *g, tensor *img, const det_img_meta *metas, const det_gt *gts, rng_t *r, tensor **loss,
                      double *parts) {
    const cascade_rcnn_config *c = &d->cfg;
    int L = c->num_outs, B = img->shape[0];
    tensor *feats[FPN_MAX_LEVELS];
    extract_feats(d, g, img, feats);

    /* RPN: losses per level and the training proposals (detached) */
    tensor *rc[FPN_MAX_LEVELS], *rr[FPN_MAX_LEVELS], *lc[FPN_MAX_LEVELS], *lb[FPN_MAX_LEVELS];
    rpn_head_forward(&d->rpn, g, feats, L, rc, rr);
    for (int l = 0; l < L; l++) graph_keep(g, rc[l]->data), graph_keep(g, rr[l]->data);
    rpn_targets rt;
    if (rpn_head_targets(&d->rpn, g, rc, L, metas, gts, B, r, &rt)) return -1;
    rpn_head_loss(&d->rpn, g, rc, rr, L, &rt, lc, lb);
    tensor *sum = NULL;
    double p[CASCADE_LOSS_N] = {0};
    for (int l = 0; l < L; l++) {
        p[CASCADE_LOSS_RPN_CLS] += lc[l]->data[0], p[CASCADE_LOSS_RPN_BBOX] += lb[l]->data[0];
        tensor *s = op_add(g, lc[l], lb[l]);
        sum = sum ? op_add(g, sum, s) : s;
    }
    det_result *prop = xcalloc((size_t)B, sizeof *prop);
    rpn_head_get_bboxes(&d->rpn, rc, rr, L, metas, B, &c->rpn.train_proposal, prop);
    float *pb[64];
    int pn[64];
    DB_ASSERT(B <= 64, "cascade_rcnn: batch %d > 64", B);
    for (int b = 0; b < B; b++) pb[b] = prop[b].boxes, pn[b] = prop[b].n;

    /* the three stages */
    rcnn_sampling sm[64];
    for (int i = 0; i < CASCADE_STAGES; i++) {
        const bbox_head *h = &d->bbox[i];
        for (int b = 0; b < B; b++) bbox_head_sample(&h->cfg, g, pb[b], pn[b], &gts[b], r, &sm[b]);
        tensor *rois = rcnn_sampling_rois(g, sm, B);                               /* (K, 5) */
        tensor *rf = roi_extractor_forward(&c->bbox_roi, g, feats, c->bbox_roi.n_levels, rois); /* (K, 256, 7, 7) */
        tensor *cls, *reg;
        bbox_head_forward(h, g, rf, &cls, &reg); /* (K, 81), (K, 320) */
        graph_keep(g, cls->data), graph_keep(g, reg->data), graph_keep(g, rois->data);
        bbox_targets t;
        bbox_head_targets(h, g, sm, B, gts, &t);
        tensor *lcs, *lbx;
        bbox_head_loss(h, g, cls, reg, rois, &t, &lcs, &lbx);
        float w = c->stage_loss_weights[i];
        p[CASCADE_LOSS_S0_CLS + 3 * i] = w * lcs->data[0], p[CASCADE_LOSS_S0_BBOX + 3 * i] = w * lbx->data[0];
        sum = op_add(g, sum, op_scale(g, op_add(g, lcs, lbx), w));
        if (c->with_mask) { /* _mask_forward_train: the positives' 14x14 features, this stage's mask head */
            int npos = 0;
            for (int b = 0; b < B; b++) {
                npos += sm[b].npos;
                DB_ASSERT(!sm[b].npos || gts[b].masks, "cascade_rcnn: image %d of the batch has no gt masks", b);
            }
            if (npos) {
                tensor *pr = mask_head_pos_rois(g, sm, B);                                     /* (npos, 5) */
                tensor *mf = roi_extractor_forward(&c->mask_roi, g, feats, c->mask_roi.n_levels, pr); /* (npos, 256, 14, 14) */
                tensor *ml = mask_head_forward(&d->mask[i], g, mf);                            /* (npos, 80, 28, 28) */
                mask_targets mt;
                mask_head_targets(&d->mask[i], g, sm, B, gts, &mt);
                tensor *lm = mask_head_loss(&d->mask[i], g, ml, &mt);
                p[CASCADE_LOSS_S0_MASK + 3 * i] = w * lm->data[0];
                sum = op_add(g, sum, op_scale(g, lm, w));
            }
        }
        if (i < CASCADE_STAGES - 1) { /* refine under no_grad: the next stage's proposals */
            if (i == 0)
                for (int b = 0; b < B; b++) det_result_free(&prop[b]);
            bbox_head_refine(h, g, rois, &t, cls, reg, sm, metas, B, pb, pn);
        }
    }
    free(prop);
    *loss = sum;
    if (parts) memcpy(parts, p, sizeof p);
    return 0;
}

int cascade_rcnn_detect(cascade_rcnn *d, graph *g, tensor *img, const det_img_meta *metas, det_result *out) {
    const cascade_rcnn_config *c = &d->cfg;
    int L = c->num_outs, B = img->shape[0];
    tensor *feats[FPN_MAX_LEVELS];
    extract_feats(d, g, img, feats);
    tensor *rc[FPN_MAX_LEVELS], *rr[FPN_MAX_LEVELS];
    rpn_head_forward(&d->rpn, g, feats, L, rc, rr);
    for (int l = 0; l < L; l++) graph_keep(g, rc[l]->data), graph_keep(g, rr[l]->data);
    for (int l = 0; l < c->bbox_roi.n_levels; l++) graph_keep(g, feats[l]->data);
    det_result *prop = xcalloc((size_t)B, sizeof *prop);
    rpn_head_get_bboxes(&d->rpn, rc, rr, L, metas, B, &c->rpn.test_proposal, prop);
    int K = 0;
    for (int b = 0; b < B; b++) K += prop[b].n;
    /* rois (K, 5) = bbox2roi(proposals); the stages' logits summed in acc (K, C + 1) */
    int C1 = c->num_classes + 1, W = 4 * (c->bbox[CASCADE_STAGES - 1].reg_class_agnostic ? 1 : c->num_classes);
    size_t cap = (size_t)(K ? K : 1);
    float *rois = xmalloc(sizeof(float) * 5 * cap), *acc = xcalloc(cap * C1, sizeof(float)), *reg_last = xmalloc(sizeof(float) * cap * W);
    int *lab = xmalloc(sizeof(int) * cap);
    for (int b = 0, k = 0; b < B; b++)
        for (int i = 0; i < prop[b].n; i++, k++) {
            rois[5 * (size_t)k] = (float)b;
            memcpy(rois + 5 * (size_t)k + 1, prop[b].boxes + 4 * (size_t)i, sizeof(float) * 4);
        }
    for (int s = 0; s < CASCADE_STAGES && K > 0; s++) {
        const bbox_head *h = &d->bbox[s];
        tensor *rt = tensor_new(g, 2, (int[]){K, 5}, 0);
        memcpy(rt->data, rois, sizeof(float) * 5 * (size_t)K);
        tensor *rf = roi_extractor_forward(&c->bbox_roi, g, feats, c->bbox_roi.n_levels, rt);
        tensor *cls, *reg;
        bbox_head_forward(h, g, rf, &cls, &reg);
        int Ws = reg->shape[1];
        for (size_t j = 0; j < (size_t)K * C1; j++) acc[j] += cls->data[j];
        if (s < CASCADE_STAGES - 1) { /* regress_by_class on argmax(cls[:, :-1]), per image with its img_shape */
            for (int k = 0; k < K; k++) {
                const float *x = cls->data + (size_t)k * C1;
                int m = 0;
                for (int j = 1; j < c->num_classes; j++)
                    if (x[j] > x[m]) m = j;
                lab[k] = m;
            }
            float *nb = xmalloc(sizeof(float) * 4 * cap);
            for (int b = 0, o = 0; b < B; o += prop[b].n, b++)
                bbox_head_regress_by_class(&h->cfg, rois + 5 * (size_t)o + 1, 5, lab + o, reg->data + (size_t)o * Ws, prop[b].n,
                                           (float)metas[b].img_h, (float)metas[b].img_w, nb + 4 * (size_t)o);
            for (int k = 0; k < K; k++) memcpy(rois + 5 * (size_t)k + 1, nb + 4 * (size_t)k, sizeof(float) * 4);
            free(nb);
        } else {
            memcpy(reg_last, reg->data, sizeof(float) * (size_t)K * Ws);
        }
    }
    for (size_t j = 0; j < (size_t)K * C1; j++) acc[j] /= (float)CASCADE_STAGES; /* sum(ms_scores) / 3 */
    for (int b = 0, o = 0; b < B; o += prop[b].n, b++)
        bbox_head_get_bboxes(&d->bbox[CASCADE_STAGES - 1], rois + 5 * (size_t)o + 1, 5, acc + (size_t)o * C1, reg_last + (size_t)o * W,
                             prop[b].n, &metas[b], &c->test, &out[b]);
    if (c->with_mask) { /* simple_test's mask part: rois = the detections times scale_factor, three heads averaged */
        int M = 0;
        for (int b = 0; b < B; b++) M += out[b].n;
        if (M > 0) {
            tensor *mr = tensor_new(g, 2, (int[]){M, 5}, 0);
            int *ml = xmalloc(sizeof(int) * (size_t)M);
            for (int b = 0, k = 0; b < B; b++)
                for (int i = 0; i < out[b].n; i++, k++) {
                    mr->data[5 * (size_t)k] = (float)b;
                    for (int j = 0; j < 4; j++) mr->data[5 * (size_t)k + 1 + j] = out[b].boxes[4 * i + j] * metas[b].scale_factor[j];
                    ml[k] = out[b].labels[i];
                }
            tensor *lg[CASCADE_STAGES];
            tensor *mf = roi_extractor_forward(&c->mask_roi, g, feats, c->mask_roi.n_levels, mr);
            graph_keep(g, mf->data);
            for (int s = 0; s < CASCADE_STAGES; s++) {
                lg[s] = mask_head_forward(&d->mask[s], g, mf);
                graph_keep(g, lg[s]->data);
            }
            int S = c->mask[0].mask_size;
            float *probs = xmalloc(sizeof(float) * (size_t)M * S * S);
            mask_head_merge_probs(&c->mask[0], lg, CASCADE_STAGES, ml, probs);
            for (int b = 0, k = 0; b < B; k += out[b].n, b++) {
                det_result *r = &out[b];
                r->mask_h = metas[b].ori_h, r->mask_w = metas[b].ori_w;
                r->masks = xmalloc((size_t)(r->n ? r->n : 1) * r->mask_h * r->mask_w);
                if (!r->n) continue;
                float *bx = xmalloc(sizeof(float) * 4 * (size_t)r->n);
                for (int i = 0; i < 4 * r->n; i++) bx[i] = mr->data[5 * (size_t)(k + i / 4) + 1 + i % 4];
                mask_head_paste(probs + (size_t)k * S * S, r->n, S, bx, metas[b].scale_factor, r->mask_h, r->mask_w,
                                c->test.mask_thr_binary, r->masks);
                free(bx);
            }
            free(probs), free(ml);
        } else
            for (int b = 0; b < B; b++) {
                out[b].mask_h = metas[b].ori_h, out[b].mask_w = metas[b].ori_w;
                out[b].masks = xmalloc(1);
            }
    }
    for (int b = 0; b < B; b++) det_result_free(&prop[b]);
    free(prop), free(rois), free(acc), free(reg_last), free(lab);
    return 0;
}
