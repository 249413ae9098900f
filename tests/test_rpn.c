/* test_rpn.c - the COCO RPN (models/det/rpn_head.c) and RandomSampler (models/det/random_sampler.c): the
 * sampler's counts in every regime (more or fewer positives than 128, too few negatives, no positives,
 * neg_pos_ub), sorted distinct indices of the right kind, determinism per seed and uniform inclusion
 * frequencies; the COCO defaults; the training targets on a hand case (an anchor equal to the gt gets label 0
 * and zero deltas, positives are exactly the inside anchors of IoU >= 0.7 when there are fewer than 128,
 * outside anchors have weight 0, avg_factor = pos + neg); finite differences through the whole RPN loss on a
 * small 5-level FPN input (the two levels with anchors inside the image, and the three convs); and proposals on a hand case (order, clipping,
 * nms_pre, NMS within a level only, max_per_img, min_bbox_size). */
#include "fd_util.h"

#include <math.h>

#include "../core/init.h"
#include "../core/ops.h"
#include "../models/det/retina_head.h"
#include "../models/det/rpn_head.h"

/* ------------------------------------------------------------------------------------------------ */
/* RandomSampler                                                                                     */
static void check_sample(const int *gt_inds, int n, const int *idx, int k, int want_pos) {
    for (int q = 0; q < k; q++) {
        assert_true(idx[q] >= 0 && idx[q] < n);
        if (q) assert_true(idx[q] > idx[q - 1]); /* increasing, so distinct */
        if (want_pos) assert_true(gt_inds[idx[q]] > 0);
        else assert_int_equal(gt_inds[idx[q]], 0);
    }
}

/* n anchors: the first np positive (gt 1 + i % 3), then nn negative, the rest ignored (-1), shuffled by a
 * fixed permutation so that the kinds interleave */
static int *make_gt_inds(int np, int nn, int nign) {
    int n = np + nn + nign, *g = malloc(sizeof(int) * (size_t)n);
    assert_non_null(g);
    for (int i = 0; i < n; i++) g[i] = i < np ? 1 + i % 3 : i < np + nn ? 0 : -1;
    rng_t r;
    rng_seed(&r, 99);
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(&r, (uint32_t)(i + 1)), t = g[i];
        g[i] = g[j];
        g[j] = t;
    }
    return g;
}

static void test_sampler_counts(void **state) {
    (void)state;
    random_sampler_cfg c;
    random_sampler_cfg_rpn(&c);
    assert_true(c.num == 256 && c.pos_fraction == 0.5f && c.neg_pos_ub == -1);
    /* positives, negatives, ignored -> expected pos, neg */
    static const int cases[][5] = {{300, 1000, 50, 128, 128}, {5, 1000, 7, 5, 251},  {3, 100, 0, 3, 100},
                                   {0, 500, 10, 0, 256},      {128, 128, 0, 128, 128}, {0, 0, 4, 0, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int *q = cases[i];
        int n = q[0] + q[1] + q[2], *g = make_gt_inds(q[0], q[1], q[2]);
        int *pos = malloc(sizeof(int) * (n + 1)), *neg = malloc(sizeof(int) * (n + 1)), np, nn;
        rng_t r;
        rng_seed(&r, 7 + i);
        random_sample(&c, g, n, &r, pos, &np, neg, &nn);
        assert_int_equal(np, q[3]);
        assert_int_equal(nn, q[4]);
        check_sample(g, n, pos, np, 1);
        check_sample(g, n, neg, nn, 0);
        free(g), free(pos), free(neg);
    }
    /* neg_pos_ub 2: at most int(2 * max(1, #pos)) negatives */
    c.neg_pos_ub = 2;
    int *g = make_gt_inds(5, 1000, 0), pos[1005], neg[1005], np, nn;
    rng_t r;
    rng_seed(&r, 3);
    random_sample(&c, g, 1005, &r, pos, &np, neg, &nn);
    assert_int_equal(np, 5);
    assert_int_equal(nn, 10);
    free(g);
    g = make_gt_inds(0, 1000, 0);
    random_sample(&c, g, 1000, &r, pos, &np, neg, &nn);
    assert_int_equal(np, 0);
    assert_int_equal(nn, 2);
    free(g);
}

static void test_sampler_random(void **state) {
    (void)state;
    random_sampler_cfg c;
    random_sampler_cfg_rpn(&c);
    int n = 1300, *g = make_gt_inds(300, 1000, 0), pos[1300], neg[1300], pos2[1300], neg2[1300], np, nn, np2, nn2;
    /* the same seed draws the same sets, another seed other sets */
    rng_t r1, r2;
    rng_seed(&r1, 11), rng_seed(&r2, 11);
    random_sample(&c, g, n, &r1, pos, &np, neg, &nn);
    random_sample(&c, g, n, &r2, pos2, &np2, neg2, &nn2);
    assert_memory_equal(pos, pos2, sizeof(int) * 128);
    assert_memory_equal(neg, neg2, sizeof(int) * 128);
    rng_seed(&r2, 12);
    random_sample(&c, g, n, &r2, pos2, &np2, neg2, &nn2);
    assert_true(memcmp(pos, pos2, sizeof(int) * 128) != 0);
    /* uniform without replacement: each positive is chosen with probability 128/300, each negative 128/1000;
     * over T draws the frequencies have standard deviations 0.011 and 0.0074: allow 5 of them */
    int T = 2000;
    int *cnt = calloc(n, sizeof(int));
    assert_non_null(cnt);
    for (int t = 0; t < T; t++) {
        random_sample(&c, g, n, &r1, pos, &np, neg, &nn);
        for (int q = 0; q < np; q++) cnt[pos[q]]++;
        for (int q = 0; q < nn; q++) cnt[neg[q]]++;
    }
    double worst_p = 0, worst_n = 0;
    for (int i = 0; i < n; i++) {
        double f = (double)cnt[i] / T;
        if (g[i] > 0) worst_p = fmax(worst_p, fabs(f - 128.0 / 300));
        else worst_n = fmax(worst_n, fabs(f - 128.0 / 1000));
    }
    print_message("sampler: largest deviation of the inclusion frequency: positives %.4f, negatives %.4f\n", worst_p, worst_n);
    assert_true(worst_p < 5 * 0.0111);
    assert_true(worst_n < 5 * 0.0075);
    free(cnt), free(g);
}

/* ------------------------------------------------------------------------------------------------ */
/* config and targets                                                                                */
static void test_rpn_defaults(void **state) {
    (void)state;
    rpn_head_config c;
    rpn_head_config_default(&c, 256, 256);
    assert_int_equal(c.anchors.n_levels, 5);
    assert_int_equal(c.anchors.n_base, 3);
    assert_true(c.anchors.strides[0] == 4 && c.anchors.strides[4] == 64);
    /* stride 4, scale 8, ratio 1: (-16, -16, 16, 16); ratio 0.5: w = 4 * sqrt(2) * 8 = 45.25, h = 22.63 */
    const float *b = c.anchors.base[0];
    assert_float_equal(b[4], -16, 1e-6), assert_float_equal(b[7], 16, 1e-6);
    assert_float_equal(b[2] - b[0], 32 * sqrtf(2), 1e-4), assert_float_equal(b[3] - b[1], 32 / sqrtf(2), 1e-4);
    assert_true(c.assigner.pos_iou_thr == 0.7f && c.assigner.neg_iou_thr == 0.3f && c.assigner.min_pos_iou == 0.3f &&
                c.assigner.match_low_quality && c.assigner.gt_max_assign_all);
    assert_true(c.sampler.num == 256 && c.allowed_border == 0 && c.smooth_l1_beta == (float)(1.0 / 9.0));
    assert_true(c.coder.stds[0] == 1 && c.coder.means[0] == 0);
    assert_true(c.train_proposal.nms_pre == 2000 && c.train_proposal.max_per_img == 2000 && c.train_proposal.nms_iou == 0.7f);
    assert_true(c.test_proposal.nms_pre == 1000 && c.test_proposal.max_per_img == 1000 && c.test_proposal.min_bbox_size == 0);
    params ps;
    params_init(&ps);
    rpn_head h;
    rpn_head_declare(&h, &ps, &c, "rpn_head.");
    assert_int_equal(h.cls_w->shape[0], 3), assert_int_equal(h.cls_w->shape[2], 1);
    assert_int_equal(h.reg_w->shape[0], 12), assert_int_equal(h.conv_w->shape[2], 3);
    assert_true(params_index(&ps, "rpn_head.rpn_conv.weight") >= 0);
    assert_true(params_index(&ps, "rpn_head.rpn_reg.bias") >= 0);
    assert_true(params_index(&ps, "rpn_head.rpn_cls.weight") >= 0);
    params_free(&ps);
}

/* a batch of B images of 64 x 64 (padded to 64 x 64) and FPN levels 16, 8, 4, 2, 1 */
#define RPN_B 2
static const int lvl_hw[5] = {16, 8, 4, 2, 1};
static float gt0[8] = {16, 16, 48, 48, 2, 30, 40, 60}; /* image 0: an anchor exactly, and a wide box */
static det_gt rpn_gts[RPN_B] = {{.n = 2, .boxes = gt0, .labels = (int[]){0, 0}}, {.n = 0}};
static const det_img_meta rpn_metas[RPN_B] = {{64, 64, 64, 64, 64, 64, {1, 1, 1, 1}, 0}, {60, 50, 60, 50, 64, 64, {1, 1, 1, 1}, 0}};

/* targets on 128 x 128 images (levels 32, 16, 8, 4, 2): more negatives than the sampler takes */
static const int tgt_hw[5] = {32, 16, 8, 4, 2};
static const det_img_meta tgt_metas[RPN_B] = {{128, 128, 128, 128, 128, 128, {1, 1, 1, 1}, 0},
                                              {120, 100, 120, 100, 128, 128, {1, 1, 1, 1}, 0}};

static void test_rpn_targets(void **state) {
    (void)state;
    rpn_head_config c;
    rpn_head_config_default(&c, 4, 4);
    rpn_head h;
    memset(&h, 0, sizeof h);
    h.cfg = c, h.A = 3;
    graph g;
    graph_init(&g, 1 << 20);
    tensor *cls[5];
    int total = 0;
    for (int l = 0; l < 5; l++) cls[l] = tensor_new4(&g, RPN_B, 3, tgt_hw[l], tgt_hw[l], 0), total += 3 * tgt_hw[l] * tgt_hw[l];
    rng_t r;
    rng_seed(&r, 1);
    rpn_targets t;
    assert_int_equal(rpn_head_targets(&h, &g, cls, 5, tgt_metas, rpn_gts, RPN_B, &r, &t), 0);
    assert_int_equal(t.total, total);
    /* the anchor (16, 16, 48, 48): level 0, x = y = 8, ratio 1 (a = 1): label 0, deltas 0 */
    int i0 = (8 * 32 + 8) * 3 + 1;
    assert_int_equal(t.labels[i0], 0);
    assert_float_equal(t.label_weights[i0], 1, 0);
    for (int k = 0; k < 4; k++) assert_float_equal(t.bbox_targets[4 * i0 + k], 0, 1e-7), assert_float_equal(t.bbox_weights[4 * i0 + k], 1, 0);
    /* every image: which inside anchors are >= 0.7 (positives) or < 0.3 with every gt, from the IoUs directly */
    float *anchors = malloc(sizeof(float) * 4 * total), *iou = malloc(sizeof(float) * 2 * total);
    assert_true(anchors && iou);
    for (int l = 0, o = 0; l < 5; o += 3 * tgt_hw[l] * tgt_hw[l], l++) anchor_gen_grid(&c.anchors, l, tgt_hw[l], tgt_hw[l], anchors + 4 * o);
    int sum_pos = 0, sum_neg = 0;
    float avg = 0;
    for (int b = 0; b < RPN_B; b++) {
        const det_img_meta *m = &tgt_metas[b];
        const det_gt *gt = &rpn_gts[b];
        if (gt->n) bbox_overlaps_f32(anchors, total, gt->boxes, gt->n, iou);
        int npos = 0, nneg = 0, strong = 0, cand_neg = 0;
        for (int i = 0; i < total; i++) {
            const float *a = anchors + 4 * i;
            int inside = a[0] >= 0 && a[1] >= 0 && a[2] < m->img_w && a[3] < m->img_h;
            int lab = t.labels[(size_t)b * total + i];
            float w = t.label_weights[(size_t)b * total + i];
            for (int k = 0; k < 4; k++)
                assert_float_equal(t.bbox_weights[((size_t)b * total + i) * 4 + k], lab == 0 ? 1 : 0, 0);
            if (!inside) {
                assert_float_equal(w, 0, 0);
                assert_int_equal(lab, 1);
                continue;
            }
            float mx = 0;
            for (int j = 0; j < gt->n; j++) mx = fmaxf(mx, iou[j * total + i]);
            strong += mx >= 0.7f;
            cand_neg += mx < 0.3f;
            if (lab == 0) {
                npos++;
                assert_float_equal(w, 1, 0);
                assert_true(mx >= 0.3f); /* >= 0.7, or a gt's best match at >= min_pos_iou */
            } else if (w > 0) {
                nneg++;
                assert_true(mx < 0.3f);
            }
        }
        /* fewer than 128 strong matches: all are sampled, and the low-quality ones of the wide gt (IoU >= 0.3) */
        print_message("image %d: %d positives (%d with IoU >= 0.7), %d negatives sampled of %d\n", b, npos, strong, nneg, cand_neg);
        assert_true(strong < 128 && npos >= strong);
        assert_true(cand_neg > 256);
        assert_int_equal(nneg, 256 - npos);
        sum_pos += npos, sum_neg += nneg;
        avg += (float)(npos > 1 ? npos : 1) + (float)(nneg > 1 ? nneg : 1);
    }
    assert_true(sum_pos >= 2);
    assert_int_equal(t.num_pos, sum_pos);
    assert_int_equal(t.num_neg, sum_neg);
    assert_float_equal(t.avg_factor, avg, 0);
    assert_float_equal(t.avg_factor, 256 + 1 + 256, 0); /* image 0: pos + neg = 256; image 1 (no gt): max(0, 1) + 256 */
    free(anchors), free(iou);
    graph_free(&g);
}

/* ------------------------------------------------------------------------------------------------ */
/* finite differences through the RPN loss                                                           */
static rpn_head fd_head;
/* image 1 gets a 64 x 64 gt equal to a level-1 anchor (centre 72 = 9 x 8), so that two levels carry targets (on
 * 128 x 128 images, allowed_border 0 leaves no anchor of level 2 or above inside: those levels get no gradient) */
static float fd_gt1[4] = {40, 40, 104, 104};
static det_gt fd_gts[RPN_B] = {{.n = 2, .boxes = gt0, .labels = (int[]){0, 0}}, {.n = 1, .boxes = fd_gt1, .labels = (int[]){0}}};

static int fwd_rpn(graph *g, fd_case *c, tensor **out) {
    rpn_head *h = &fd_head;
    h->conv_w = c->leaf[5], h->conv_b = c->leaf[6], h->cls_w = c->leaf[7], h->cls_b = c->leaf[8];
    h->reg_w = c->leaf[9], h->reg_b = c->leaf[10];
    tensor *cls[5], *reg[5], *lc[5], *lb[5];
    rpn_head_forward(h, g, c->leaf, 5, cls, reg);
    rng_t r;
    rng_seed(&r, 5); /* the same samples in every evaluation */
    rpn_targets t;
    assert_int_equal(rpn_head_targets(h, g, cls, 5, tgt_metas, fd_gts, RPN_B, &r, &t), 0);
    rpn_head_loss(h, g, cls, reg, 5, &t, lc, lb);
    out[0] = lc[0], out[1] = lb[0];
    for (int l = 1; l < 5; l++) out[0] = op_add(g, out[0], lc[l]), out[1] = op_add(g, out[1], lb[l]);
    return 2;
}

static void test_rpn_loss_fd(void **state) {
    (void)state;
    rng_seed(&fd_rng, 17);
    int cin = 4, cf = 6;
    rpn_head_config c;
    rpn_head_config_default(&c, cin, cf);
    memset(&fd_head, 0, sizeof fd_head);
    fd_head.cfg = c, fd_head.A = 3;
    fd_case fc = fd_case_new("rpn loss (5 levels, 2 images)", fwd_rpn);
    for (int l = 0; l < 5; l++) fd_add(&fc, FD_LEAF(l < 2 ? FD_ACT_GRAD : FD_ACT_NOGRAD, 1.0f, RPN_B, cin, tgt_hw[l], tgt_hw[l]));
    fd_add(&fc, FD_LEAF(FD_PARAM_TRAIN, 0.3f, cf, cin, 3, 3));
    /* rpn_conv bias around 4 (pre-activations about N(4, 1.8)): a few ReLUs are off, and few lie near the kink */
    tensor *cb = FD_LEAF(FD_PARAM_TRAIN, 0.3f, cf);
    for (int i = 0; i < cf; i++) cb->data[i] += 4.0f;
    fd_add(&fc, cb);
    fd_add(&fc, FD_LEAF(FD_PARAM_TRAIN, 0.3f, 3, cf, 1, 1));
    fd_add(&fc, FD_LEAF(FD_PARAM_TRAIN, 0.3f, 3));
    fd_add(&fc, FD_LEAF(FD_PARAM_TRAIN, 0.3f, 12, cf, 1, 1));
    fd_add(&fc, FD_LEAF(FD_PARAM_TRAIN, 0.3f, 12));
    /* single-element steps larger than the directional ones: one element moves the float32 loss by little */
    fc.h = 2e-3f;
    fc.h_elem = 1e-2f;
    fc.elem_max = 64;
    fd_run(&fc);
    print_message("rpn loss: directional %.2e, elementwise %.2e\n", fc.dir_err, fc.elem_err);
    fd_free_leaves();
}

/* the loss values with zero rpn_cls / rpn_reg: every logit 0 gives BCE log 2 per sampled anchor, so the levels'
 * loss_cls sum to log 2 (pos + neg) / avg_factor = log 2; loss_bbox sums smooth L1 (beta 1/9) of the positives'
 * targets over avg_factor */
static void test_rpn_loss_value(void **state) {
    (void)state;
    rng_seed(&fd_rng, 31);
    rpn_head_config c;
    rpn_head_config_default(&c, 4, 6);
    params ps;
    params_init(&ps);
    rpn_head h;
    rpn_head_declare(&h, &ps, &c, "rpn_head.");
    params_alloc(&ps);
    rng_t r;
    rng_seed(&r, 2);
    rpn_head_init(&h, &r);
    init_const(h.cls_w, 0), init_const(h.reg_w, 0);
    graph g;
    graph_init(&g, 1 << 20);
    tensor *feats[5], *cls[5], *reg[5], *lc[5], *lb[5];
    for (int l = 0; l < 5; l++) {
        feats[l] = tensor_new4(&g, RPN_B, 4, tgt_hw[l], tgt_hw[l], 0);
        for (int64_t i = 0; i < feats[l]->n; i++) feats[l]->data[i] = rng_normal(&fd_rng);
    }
    rpn_head_forward(&h, &g, feats, 5, cls, reg);
    rpn_targets t;
    assert_int_equal(rpn_head_targets(&h, &g, cls, 5, tgt_metas, fd_gts, RPN_B, &r, &t), 0);
    rpn_head_loss(&h, &g, cls, reg, 5, &t, lc, lb);
    double sc = 0, sb = 0, want_b = 0, beta = 1.0 / 9.0;
    for (int l = 0; l < 5; l++) sc += lc[l]->data[0], sb += lb[l]->data[0];
    for (int64_t i = 0; i < (int64_t)RPN_B * t.total * 4; i++) {
        if (t.bbox_weights[i] == 0) continue;
        double d = fabs(t.bbox_targets[i]);
        want_b += d < beta ? 0.5 * d * d / beta : d - 0.5 * beta;
    }
    want_b /= t.avg_factor;
    assert_int_equal(t.num_pos + t.num_neg, 512);
    assert_float_equal(t.avg_factor, 512, 0);
    print_message("rpn loss with zero outputs: cls %.7f (log 2 = %.7f), bbox %.7f (want %.7f), %d positives\n", sc, log(2.0), sb,
                  want_b, t.num_pos);
    assert_true(fabs(sc - log(2.0)) < 1e-6);
    assert_true(t.num_pos > 2 && want_b > 0 && fabs(sb - want_b) < 1e-6 * want_b);
    graph_free(&g);
    params_free(&ps);
}

/* ------------------------------------------------------------------------------------------------ */
/* proposals                                                                                         */
/* Two levels of one 16 x 16 anchor per position: level 0 stride 16 on a 2 x 3 map (centres (0|16|32, 0|16)),
 * level 1 stride 32 on 1 x 1 (centre 0); image 40 x 30. Logits level 0 (p = y W + x): 3, 1, 2, -1, 0.5, 4;
 * level 1: 2.5. Deltas 0 except anchor 1 (dx -0.9: centre 1.6). Clipped boxes: a0 (0, 0, 8, 8), a1 (0, 0, 9.6, 8)
 * (IoU with a0 64 / 76.8 = 0.83 > 0.7: suppressed by a0), a2 (24, 0, 40, 8), a3 (0, 8, 8, 24), a4 (8, 8, 24, 24),
 * a5 (24, 8, 40, 24), level 1 (0, 0, 8, 8), a0's box again but another level: kept. */
static void run_props(const rpn_head *h, const rpn_proposal_cfg *pc, det_result *out) {
    graph g;
    graph_init(&g, 1 << 16);
    tensor *cls[2] = {tensor_new4(&g, 1, 1, 2, 3, 0), tensor_new4(&g, 1, 1, 1, 1, 0)};
    tensor *reg[2] = {tensor_new4(&g, 1, 4, 2, 3, 0), tensor_new4(&g, 1, 4, 1, 1, 0)};
    const float l0[6] = {3, 1, 2, -1, 0.5f, 4};
    memcpy(cls[0]->data, l0, sizeof l0);
    cls[1]->data[0] = 2.5f;
    memset(reg[0]->data, 0, sizeof(float) * 24);
    memset(reg[1]->data, 0, sizeof(float) * 4);
    reg[0]->data[0 * 6 + 1] = -0.9f; /* channel dx, pixel 1 */
    det_img_meta m = {30, 40, 30, 40, 32, 48, {1, 1, 1, 1}, 0};
    assert_int_equal(rpn_head_get_bboxes(h, cls, reg, 2, &m, 1, pc, out), 0);
    graph_free(&g);
}

static void expect_props(const det_result *r, const int *which, int n) {
    static const float box[7][4] = {{0, 0, 8, 8},   {0, 0, 9.6f, 8},  {24, 0, 40, 8}, {0, 8, 8, 24},
                                    {8, 8, 24, 24}, {24, 8, 40, 24}, {0, 0, 8, 8}};
    static const float logit[7] = {3, 1, 2, -1, 0.5f, 4, 2.5f};
    assert_int_equal(r->n, n);
    for (int q = 0; q < n; q++) {
        int k = which[q];
        for (int j = 0; j < 4; j++) assert_float_equal(r->boxes[4 * q + j], box[k][j], 1e-5);
        assert_float_equal(r->scores[q], 1.0f / (1.0f + expf(-logit[k])), 1e-6);
        assert_int_equal(r->labels[q], 0);
        if (q) assert_true(r->scores[q] <= r->scores[q - 1]);
    }
}

static void test_rpn_proposals(void **state) {
    (void)state;
    rpn_head h;
    memset(&h, 0, sizeof h);
    rpn_head_config_default(&h.cfg, 1, 1);
    static const float strides[2] = {16, 32}, base[2] = {16, 16}, ratios[1] = {1}, scales[1] = {1};
    assert_int_equal(anchor_gen_init(&h.cfg.anchors, 2, strides, base, ratios, 1, scales, 1, 1, 0.0f), 0);
    h.A = 1;
    det_result r;
    rpn_proposal_cfg pc = {1000, 1000, 0.7f, 0};
    run_props(&h, &pc, &r);
    expect_props(&r, (int[]){5, 0, 6, 2, 4, 3}, 6); /* a1 suppressed; the level-1 box beside a0 kept */
    det_result_free(&r);
    pc.nms_pre = 4; /* level 0: a5, a0, a2, a1 (a1 suppressed); level 1 has 1 <= 4 */
    run_props(&h, &pc, &r);
    expect_props(&r, (int[]){5, 0, 6, 2}, 4);
    det_result_free(&r);
    pc.max_per_img = 2;
    run_props(&h, &pc, &r);
    expect_props(&r, (int[]){5, 0}, 2);
    det_result_free(&r);
    pc = (rpn_proposal_cfg){1000, 1000, 0.7f, 10}; /* w and h >= 10: a4, a5 only */
    run_props(&h, &pc, &r);
    expect_props(&r, (int[]){5, 4}, 2);
    det_result_free(&r);
    pc = (rpn_proposal_cfg){1000, 1000, 0.9f, 0}; /* IoU 0.83 <= 0.9: a1 kept */
    run_props(&h, &pc, &r);
    expect_props(&r, (int[]){5, 0, 6, 2, 1, 4, 3}, 7);
    det_result_free(&r);
}

/* the COCO head's proposals on random outputs: sorted, inside the image, at most max_per_img */
static void test_rpn_proposals_random(void **state) {
    (void)state;
    rng_seed(&fd_rng, 23);
    rpn_head_config c;
    rpn_head_config_default(&c, 4, 4);
    rpn_head h;
    memset(&h, 0, sizeof h);
    h.cfg = c, h.A = 3;
    graph g;
    graph_init(&g, 1 << 20);
    tensor *cls[5], *reg[5];
    for (int l = 0; l < 5; l++) {
        cls[l] = tensor_new4(&g, RPN_B, 3, lvl_hw[l], lvl_hw[l], 0);
        reg[l] = tensor_new4(&g, RPN_B, 12, lvl_hw[l], lvl_hw[l], 0);
        for (int64_t i = 0; i < cls[l]->n; i++) cls[l]->data[i] = rng_normal(&fd_rng);
        for (int64_t i = 0; i < reg[l]->n; i++) reg[l]->data[i] = 0.5f * rng_normal(&fd_rng);
    }
    rpn_proposal_cfg pcs[2] = {c.test_proposal, {50, 60, 0.7f, 0}};
    for (int k = 0; k < 2; k++) {
        det_result out[RPN_B];
        assert_int_equal(rpn_head_get_bboxes(&h, cls, reg, 5, rpn_metas, RPN_B, &pcs[k], out), 0);
        for (int b = 0; b < RPN_B; b++) {
            const det_result *r = &out[b];
            assert_true(r->n > 0 && r->n <= pcs[k].max_per_img);
            if (k) assert_true(r->n <= 50 * 4 + 12); /* nms_pre 50 on the three largest levels */
            for (int q = 0; q < r->n; q++) {
                const float *bx = r->boxes + 4 * q;
                assert_true(bx[0] >= 0 && bx[1] >= 0 && bx[2] <= rpn_metas[b].img_w && bx[3] <= rpn_metas[b].img_h);
                assert_true(bx[2] >= bx[0] && bx[3] >= bx[1]);
                if (q) assert_true(r->scores[q] <= r->scores[q - 1]);
            }
            print_message("proposals (nms_pre %d, max %d), image %d: %d\n", pcs[k].nms_pre, pcs[k].max_per_img, b, r->n);
            det_result_free(&out[b]);
        }
    }
    graph_free(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sampler_counts), cmocka_unit_test(test_sampler_random), cmocka_unit_test(test_rpn_defaults),
        cmocka_unit_test(test_rpn_targets),    cmocka_unit_test(test_rpn_loss_fd),
        cmocka_unit_test(test_rpn_loss_value),    cmocka_unit_test(test_rpn_proposals),
        cmocka_unit_test(test_rpn_proposals_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
