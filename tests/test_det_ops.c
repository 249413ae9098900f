/* test_det_ops.c - the detection building blocks (models/det/): anchors, MaxIoU assigner, delta coder, NMS.
 * Hand-computed cases (IoU exactly at the thresholds, the zero_iou_gt quirk, NMS ties and the A > B > C
 * chain, anchor ordering, clamp and clip), encode -> decode round trips, finite differences of the decode
 * w.r.t. the deltas, NMS against a naive transcription of torchvision's loop (stable sort, n^2 suppression)
 * on 10k boxes with many tied scores, and every golden of these ops through golden_check (the same path as
 * `deltabench golden`), plus synthetic golden files: a wrong one must fail, another configuration passes. */
#include "test_util.h"

#include <time.h>

#include "../core/common.h"
#include "../core/h5io.h"
#include "../conformance/golden.h"
#include "../conformance/golden_op.h"
#include "../models/det/anchor_generator.h"
#include "../models/det/bbox_coder.h"
#include "../models/det/max_iou_assigner.h"
#include "../models/det/nms.h"

static rng_t trng;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* ---- anchors ---------------------------------------------------------------------------------- */

static void test_anchor_base_order(void **state) {
    (void)state;
    anchor_gen a;
    const float strides[2] = {16, 32}, ratios[3] = {0.5f, 1.0f, 2.0f}, scales[2] = {8.0f, 4.0f};
    assert_int_equal(anchor_gen_init(&a, 2, strides, NULL, ratios, 3, scales, 2, 1, 0.0f), 0);
    assert_int_equal(a.n_base, 6);
    /* scale_major: row r * ns + s; w = base / sqrt(ratio) * scale, h = base * sqrt(ratio) * scale */
    for (int l = 0; l < 2; l++)
        for (int r = 0; r < 3; r++)
            for (int s = 0; s < 2; s++) {
                double w = strides[l] / sqrt(ratios[r]) * scales[s], h = strides[l] * sqrt(ratios[r]) * scales[s];
                const float *b = a.base[l] + 4 * (r * 2 + s);
                double ref[4] = {-w / 2, -h / 2, w / 2, h / 2};
                for (int q = 0; q < 4; q++) assert_true(fabs(b[q] - ref[q]) <= 1e-6 * fabs(ref[q]) + 1e-6);
            }
    /* ratio 1, scale 8 on stride 16: (-64, -64, 64, 64) exactly */
    const float *b = a.base[0] + 4 * (1 * 2 + 0);
    assert_true(b[0] == -64 && b[1] == -64 && b[2] == 64 && b[3] == 64);
    /* not scale_major: row s * nr + r */
    anchor_gen c;
    assert_int_equal(anchor_gen_init(&c, 2, strides, NULL, ratios, 3, scales, 2, 0, 0.0f), 0);
    for (int r = 0; r < 3; r++)
        for (int s = 0; s < 2; s++)
            for (int q = 0; q < 4; q++) {
                float u = c.base[1][4 * (s * 3 + r) + q], w = a.base[1][4 * (r * 2 + s) + q];
                assert_true(fabsf(u - w) <= 1e-6f * fabsf(w));
            }
    /* center offset 0.5 and explicit base sizes: centre at 0.5 * base */
    const float bases[1] = {10};
    const float one[1] = {1};
    assert_int_equal(anchor_gen_init(&c, 1, strides, bases, one, 1, one, 1, 1, 0.5f), 0);
    assert_true(c.base[0][0] == 0 && c.base[0][1] == 0 && c.base[0][2] == 10 && c.base[0][3] == 10);
    /* limits */
    float many[40];
    for (int i = 0; i < 40; i++) many[i] = 1;
    assert_int_equal(anchor_gen_init(&c, 1, strides, NULL, many, 40, one, 1, 1, 0), -1);
    assert_int_equal(anchor_gen_init(&c, 9, strides, NULL, one, 1, one, 1, 1, 0), -1);
}

static void test_anchor_retina_grid_valid(void **state) {
    (void)state;
    anchor_gen a;
    anchor_gen_init_retina(&a);
    assert_int_equal(a.n_levels, 5);
    assert_int_equal(a.n_base, 9);
    for (int l = 0; l < 5; l++) assert_true(a.strides[l] == (float)(8 << l));
    /* level 0, ratio 1 (rows 3..5), scales 4 * 2^(k/3): half width 16 * 2^(k/3) */
    for (int k = 0; k < 3; k++) {
        double hw = 16.0 * pow(2.0, k / 3.0);
        assert_true(fabs(a.base[0][4 * (3 + k) + 2] - hw) <= 1e-5);
        assert_true(fabs(a.base[0][4 * (3 + k) + 1] + hw) <= 1e-5);
    }
    /* grid: (y * W + x) * A + a = base[a] + (x s, y s, x s, y s) */
    int H = 3, W = 5, A = 9, l = 1;
    float *g = malloc(sizeof(float) * H * W * A * 4);
    anchor_gen_grid(&a, l, H, W, g);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int k = 0; k < A; k++) {
                const float *o = g + 4 * ((y * W + x) * A + k), *b = a.base[l] + 4 * k;
                assert_true(o[0] == b[0] + 16 * x && o[1] == b[1] + 16 * y && o[2] == b[2] + 16 * x && o[3] == b[3] + 16 * y);
            }
    free(g);
    /* valid: pad 20 x 40 at stride 16 -> ceil 2 x 3 positions (within the 4 x 4 map) */
    uint8_t v[4 * 4 * 9];
    anchor_gen_valid(&a, 1, 4, 4, 20, 40, v);
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++)
            for (int k = 0; k < 9; k++) assert_int_equal(v[(y * 4 + x) * 9 + k], x < 3 && y < 2);
    /* a pad larger than the map: clipped to the map */
    anchor_gen_valid(&a, 1, 4, 4, 1000, 1000, v);
    for (int i = 0; i < 4 * 4 * 9; i++) assert_int_equal(v[i], 1);
    anchor_gen_valid(&a, 1, 4, 4, 16, 17, v); /* exactly one row, two columns */
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++) assert_int_equal(v[(y * 4 + x) * 9], x < 2 && y < 1);
}

/* ---- assigner --------------------------------------------------------------------------------- */

static void test_bbox_overlaps_hand(void **state) {
    (void)state;
    const float a[3 * 4] = {0, 0, 2, 2, 1, 1, 3, 3, 5, 5, 5, 5};
    const float b[2 * 4] = {1, 1, 3, 3, 5, 5, 5, 5};
    float iou[2 * 3];
    bbox_overlaps_f32(a, 3, b, 2, iou);
    assert_true(iou[0] == 1.0f / 7.0f); /* inter 1, union 4 + 4 - 1 */
    assert_true(iou[1] == 1.0f);
    assert_true(iou[2] == 0.0f);
    assert_true(iou[3] == 0.0f && iou[4] == 0.0f);
    assert_true(iou[5] == 0.0f); /* two empty boxes: 0 / max(0, 1e-6) */
}

static void test_assigner_thresholds(void **state) {
    (void)state;
    const float gt[4] = {0, 0, 10, 10};
    const int gl[1] = {7};
    /* IoUs 0.5, 0.4, 0.3, 0, 1 (exact in float32) */
    const float an[5 * 4] = {0, 0, 10, 5, 0, 0, 10, 4, 0, 0, 10, 3, 20, 20, 30, 30, 0, 0, 10, 10};
    int inds[5], labels[5];
    float mo[5];
    max_iou_cfg retina = {0.5f, 0.4f, 0.0f, 1, 0, 0.0f};
    max_iou_assign(&retina, an, 5, gt, gl, 1, inds, mo, labels);
    const int e_ret[5] = {1, -1, 0, 0, 1}; /* 0.5 >= pos: positive; 0.4 not < neg: ignored */
    for (int j = 0; j < 5; j++) assert_int_equal(inds[j], e_ret[j]);
    assert_true(mo[0] == 0.5f && mo[1] == 0.4f && mo[2] == 0.3f && mo[3] == 0.0f && mo[4] == 1.0f);
    assert_int_equal(labels[0], 7);
    assert_int_equal(labels[1], -1);
    assert_int_equal(labels[2], -1);
    max_iou_cfg rpn = {0.7f, 0.3f, 0.3f, 1, 1, 0.0f};
    max_iou_assign(&rpn, an, 5, gt, gl, 1, inds, NULL, NULL);
    const int e_rpn[5] = {-1, -1, -1, 0, 1}; /* 0.3 not < 0.3: ignored */
    for (int j = 0; j < 5; j++) assert_int_equal(inds[j], e_rpn[j]);
    /* a tuple neg_iou_thr (0.1, 0.35): IoU 0 is no longer negative */
    max_iou_cfg tup = {0.5f, 0.35f, 0.0f, 1, 0, 0.1f};
    max_iou_assign(&tup, an, 5, gt, NULL, 1, inds, NULL, labels);
    const int e_tup[5] = {1, -1, 0, -1, 1};
    for (int j = 0; j < 5; j++) assert_int_equal(inds[j], e_tup[j]);
    assert_int_equal(labels[0], -1); /* gt_labels NULL */
}

static void test_assigner_low_quality(void **state) {
    (void)state;
    const float gt[4] = {0, 0, 10, 10};
    /* IoUs 0.2, 0.2, 0.01: the gt's best (0.2) is shared by anchors 0 and 1 */
    const float an[3 * 4] = {0, 0, 10, 2, 8, 0, 10, 10, 0, 0, 1, 1};
    int inds[3];
    max_iou_cfg c = {0.7f, 0.3f, 0.3f, 1, 1, 0.0f};
    max_iou_assign(&c, an, 3, gt, NULL, 1, inds, NULL, NULL);
    for (int j = 0; j < 3; j++) assert_int_equal(inds[j], 0); /* best 0.2 < min_pos_iou 0.3 */
    c.min_pos_iou = 0.2f;                                     /* best >= 0.2: both tied anchors taken */
    max_iou_assign(&c, an, 3, gt, NULL, 1, inds, NULL, NULL);
    assert_int_equal(inds[0], 1);
    assert_int_equal(inds[1], 1);
    assert_int_equal(inds[2], 0);
    c.gt_max_assign_all = 0; /* only the first argmax */
    max_iou_assign(&c, an, 3, gt, NULL, 1, inds, NULL, NULL);
    assert_int_equal(inds[0], 1);
    assert_int_equal(inds[1], 0);
    /* duplicate gts: argmax ties go to the lower gt (step 3), the later gt wins in step 4 */
    const float gts2[2 * 4] = {0, 0, 10, 10, 0, 0, 10, 10};
    const float an2[4] = {0, 0, 10, 10};
    const int gl2[2] = {3, 4};
    int labels[1];
    max_iou_cfg r = {0.5f, 0.4f, 0.0f, 1, 0, 0.0f};
    max_iou_assign(&r, an2, 1, gts2, gl2, 2, inds, NULL, labels);
    assert_int_equal(inds[0], 1);
    assert_int_equal(labels[0], 3);
    r.match_low_quality = 1;
    max_iou_assign(&r, an2, 1, gts2, gl2, 2, inds, NULL, labels);
    assert_int_equal(inds[0], 2);
    assert_int_equal(labels[0], 4);
}

static void test_assigner_zero_iou_gt(void **state) {
    (void)state;
    const float an[2 * 4] = {0, 0, 10, 10, 50, 50, 60, 60};
    const float gts[2 * 4] = {0, 0, 10, 10, 100, 100, 110, 110}; /* gt 1 overlaps no anchor */
    int inds[2];
    max_iou_cfg c = {0.5f, 0.4f, 0.0f, 1, 1, 0.0f};
    max_iou_assign(&c, an, 2, gts, NULL, 2, inds, NULL, NULL);
    /* gt 1's best IoU 0 >= min_pos_iou 0: every anchor with IoU 0 to it, anchor 0's positive included */
    assert_int_equal(inds[0], 2);
    assert_int_equal(inds[1], 2);
    const float gts_r[2 * 4] = {100, 100, 110, 110, 0, 0, 10, 10}; /* the empty-overlap gt first */
    max_iou_assign(&c, an, 2, gts_r, NULL, 2, inds, NULL, NULL);
    assert_int_equal(inds[0], 2); /* the later gt retakes its best anchor */
    assert_int_equal(inds[1], 1);
    c.min_pos_iou = 1e-3f; /* a positive min_pos_iou: no quirk */
    max_iou_assign(&c, an, 2, gts, NULL, 2, inds, NULL, NULL);
    assert_int_equal(inds[0], 1);
    assert_int_equal(inds[1], 0);
}

static void test_assigner_no_gt(void **state) {
    (void)state;
    const float an[2 * 4] = {0, 0, 10, 10, 50, 50, 60, 60};
    int inds[2] = {5, 5}, labels[2] = {5, 5};
    float mo[2] = {5, 5};
    max_iou_cfg c = {0.5f, 0.4f, 0.0f, 1, 1, 0.0f};
    max_iou_assign(&c, an, 2, NULL, NULL, 0, inds, mo, labels);
    for (int j = 0; j < 2; j++) {
        assert_int_equal(inds[j], 0);
        assert_int_equal(labels[j], -1);
        assert_true(mo[j] == 0.0f);
    }
    max_iou_assign(&c, an, 0, an, NULL, 2, inds, mo, labels); /* no anchors: nothing written, no crash */
}

static void test_assigner_ignore(void **state) {
    (void)state;
    const float gt[4] = {0, 0, 10, 10};
    /* anchor 0 overlaps the gt (IoU 1) and lies half inside the ignored box; anchor 1 lies wholly inside it,
     * anchor 2 is far from both */
    const float an[3 * 4] = {0, 0, 10, 10, 22, 22, 24, 24, 50, 50, 60, 60};
    const float ign[4] = {5, 0, 25, 25};
    int inds[3];
    float mo[3];
    max_iou_cfg c = {0.5f, 0.4f, 0.0f, 1, 0, 0.0f};
    /* IoF of anchor 0 w.r.t. itself: 50 / 100 = 0.5, not > 0.5: kept; anchor 1: 1 > 0.5: ignored */
    max_iou_assign_ignore(&c, an, 3, gt, NULL, 1, ign, 1, 0.5f, 1, inds, mo, NULL);
    assert_int_equal(inds[0], 1);
    assert_int_equal(inds[1], -1);
    assert_true(mo[1] == -1.0f);
    assert_int_equal(inds[2], 0);
    max_iou_assign_ignore(&c, an, 3, gt, NULL, 1, ign, 1, 0.4f, 1, inds, NULL, NULL);
    assert_int_equal(inds[0], -1);
    /* IoF w.r.t. the ignored box (area 500): anchor 0 50 / 500 = 0.1, anchor 1 4 / 500 */
    max_iou_assign_ignore(&c, an, 3, gt, NULL, 1, ign, 1, 0.05f, 0, inds, NULL, NULL);
    assert_int_equal(inds[0], -1);
    assert_int_equal(inds[1], 0);
    max_iou_assign_ignore(&c, an, 3, gt, NULL, 1, ign, 1, 0.2f, 0, inds, NULL, NULL);
    assert_int_equal(inds[0], 1);
    max_iou_assign_ignore(&c, an, 3, gt, NULL, 1, ign, 1, 0.2f, 1, inds, NULL, NULL); /* w.r.t. the anchor: 0.5 */
    assert_int_equal(inds[0], -1);
    /* ignore_iof_thr <= 0: plain assignment */
    max_iou_assign_ignore(&c, an, 3, gt, NULL, 1, ign, 1, -1.0f, 1, inds, NULL, NULL);
    assert_int_equal(inds[1], 0);
}

/* ---- coder ------------------------------------------------------------------------------------ */

static void random_box(float *b, float lo, float hi, float wmin, float wmax) {
    float w = wmin + (wmax - wmin) * rng_uniform(&trng), h = wmin + (wmax - wmin) * rng_uniform(&trng);
    b[0] = lo + (hi - lo) * rng_uniform(&trng);
    b[1] = lo + (hi - lo) * rng_uniform(&trng);
    b[2] = b[0] + w;
    b[3] = b[1] + h;
}

static void test_coder_hand(void **state) {
    (void)state;
    delta_coder c;
    delta_coder_default(&c);
    assert_true(c.wh_ratio_clip == 16.0f / 1000.0f && c.clip_border == 1 && c.stds[2] == 1 && c.means[1] == 0);
    const float p[4] = {0, 0, 10, 10}, g[4] = {5, 5, 25, 25};
    float d[4];
    delta_encode(&c, p, g, 1, d);
    assert_true(d[0] == 1.0f && d[1] == 1.0f);
    assert_true(fabsf(d[2] - logf(2.0f)) <= 1e-7f && fabsf(d[3] - logf(2.0f)) <= 1e-7f);
    c.means[0] = 0.5f, c.stds[0] = 0.1f, c.stds[2] = 0.2f;
    delta_encode(&c, p, g, 1, d);
    assert_true(fabsf(d[0] - 5.0f) <= 1e-5f && fabsf(d[2] - logf(2.0f) / 0.2f) <= 1e-5f);
    /* clamp: dw = 10 -> max_ratio (gw = pw / 0.016 = 625), dh = -10 -> -max_ratio (gh = 0.16) */
    delta_coder_default(&c);
    const float dl[4] = {0, 0, 10, -10};
    float o[4];
    delta_decode(&c, p, dl, 1, 1, 0, 0, o); /* no max shape: no clipping */
    assert_true(fabsf(o[0] + 307.5f) <= 1e-3f && fabsf(o[2] - 317.5f) <= 1e-3f);
    assert_true(fabsf(o[1] - 4.92f) <= 1e-5f && fabsf(o[3] - 5.08f) <= 1e-5f);
    delta_decode(&c, p, dl, 1, 1, 50, 100, o); /* clipped to [0, W] x [0, H] */
    assert_true(o[0] == 0.0f && o[2] == 100.0f);
    assert_true(fabsf(o[1] - 4.92f) <= 1e-5f && fabsf(o[3] - 5.08f) <= 1e-5f);
    const float far[4] = {-10, 20, 0, 0}; /* gx = -95, gy = 205: clipped onto the borders */
    delta_decode(&c, p, far, 1, 1, 50, 100, o);
    assert_true(o[0] == 0 && o[2] == 0 && o[1] == 50 && o[3] == 50);
    c.clip_border = 0;
    delta_decode(&c, p, far, 1, 1, 50, 100, o);
    assert_true(o[0] == -100 && o[2] == -90 && o[1] == 200 && o[3] == 210);
    /* the gradient is 0 where clamped (dw) or clipped (x1, x2 here) */
    c.clip_border = 1;
    float dd[4] = {0}, ones[4] = {1, 1, 1, 1};
    delta_decode_bwd(&c, p, dl, 1, 1, 50, 100, ones, dd);
    assert_true(dd[0] == 0 && dd[2] == 0 && dd[3] == 0);
    assert_true(fabsf(dd[1] - 20.0f) <= 1e-5f); /* d(y1 + y2)/d dy = 2 ph */
}

static void test_coder_round_trip(void **state) {
    (void)state;
    rng_seed(&trng, 11);
    enum { N = 200 };
    float *p = malloc(sizeof(float) * N * 4), *g = malloc(sizeof(float) * N * 4), *d = malloc(sizeof(float) * N * 4),
          *o = malloc(sizeof(float) * N * 4);
    for (int i = 0; i < N; i++) {
        random_box(p + 4 * i, 0, 400, 4, 200);
        float *b = g + 4 * i; /* gt near the proposal, ratio within the clamp */
        const float *q = p + 4 * i;
        float pw = q[2] - q[0], ph = q[3] - q[1];
        float cx = (q[0] + q[2]) / 2 + pw * (rng_uniform(&trng) - 0.5f), cy = (q[1] + q[3]) / 2 + ph * (rng_uniform(&trng) - 0.5f);
        float w = pw * expf(2 * (rng_uniform(&trng) - 0.5f)), h = ph * expf(2 * (rng_uniform(&trng) - 0.5f));
        b[0] = cx - w / 2, b[1] = cy - h / 2, b[2] = cx + w / 2, b[3] = cy + h / 2;
    }
    const float stds[2][4] = {{1, 1, 1, 1}, {0.1f, 0.1f, 0.2f, 0.2f}}, means[2][4] = {{0, 0, 0, 0}, {0.01f, -0.02f, 0.03f, 0}};
    for (int s = 0; s < 2; s++) {
        delta_coder c;
        delta_coder_default(&c);
        c.clip_border = 0;
        memcpy(c.stds, stds[s], sizeof c.stds);
        memcpy(c.means, means[s], sizeof c.means);
        delta_encode(&c, p, g, N, d);
        delta_decode(&c, p, d, N, 1, 0, 0, o);
        double err = test_rel_err(o, g, N * 4);
        print_message("coder round trip (stds %g): max rel err %.2e\n", stds[s][0], err);
        assert_true(err <= 2e-6);
    }
    /* class-wise: k boxes per roi decode as k separate single-box decodes */
    enum { K = 3 };
    float *dk = malloc(sizeof(float) * N * 4 * K), *ok = malloc(sizeof(float) * N * 4 * K);
    for (int i = 0; i < N * 4 * K; i++) dk[i] = rng_normal(&trng);
    delta_coder c;
    delta_coder_default(&c);
    delta_decode(&c, p, dk, N, K, 300, 500, ok);
    for (int i = 0; i < N; i++)
        for (int k = 0; k < K; k++) {
            float one[4];
            delta_decode(&c, p + 4 * i, dk + 4 * (i * K + k), 1, 1, 300, 500, one);
            for (int q = 0; q < 4; q++) assert_true(one[q] == ok[4 * (i * K + k) + q]);
        }
    free(dk), free(ok), free(p), free(g), free(d), free(o);
}

/* L(deltas) = sum(decode(deltas) * R), in double */
static double decode_loss(const delta_coder *c, const float *rois, const float *dl, int n, int k, float mh, float mw, const float *R,
                          float *scratch) {
    delta_decode(c, rois, dl, n, k, mh, mw, scratch);
    double L = 0;
    for (int i = 0; i < n * 4 * k; i++) L += (double)scratch[i] * R[i];
    return L;
}

static void test_coder_decode_grad_fd(void **state) {
    (void)state;
    rng_seed(&trng, 5);
    enum { N = 24, K = 2 };
    float rois[N * 4], dl[N * 4 * K], R[N * 4 * K], an[N * 4 * K], out[N * 4 * K];
    for (int i = 0; i < N; i++) random_box(rois + 4 * i, 20, 120, 10, 60);
    for (int i = 0; i < N * 4 * K; i++) dl[i] = 0.5f * rng_normal(&trng), R[i] = rng_normal(&trng);
    /* row 0: dw far beyond the clamp (gradient 0); row 1: pushed outside the image (clipped, gradient 0) */
    dl[2] = 30.0f;
    dl[4 * K + 0] = -40.0f;
    const float stds[2][4] = {{1, 1, 1, 1}, {0.1f, 0.1f, 0.2f, 0.2f}};
    for (int s = 0; s < 2; s++) {
        delta_coder c;
        delta_coder_default(&c);
        memcpy(c.stds, stds[s], sizeof c.stds);
        float mh = 160, mw = 170;
        memset(an, 0, sizeof an);
        delta_decode_bwd(&c, rois, dl, N, K, mh, mw, R, an);
        /* the clamped component and the clipped row: exactly 0 */
        assert_true(an[2] == 0.0f);
        delta_decode(&c, rois, dl, N, K, mh, mw, out);
        assert_true(out[4 * K + 0] == 0.0f && out[4 * K + 2] == 0.0f);
        assert_true(an[4 * K + 0] == 0.0f && an[4 * K + 2] == 0.0f);
        /* every element by central differences (inputs away from the kinks by more than h) */
        double gmax = 0, worst = 0;
        for (int i = 0; i < N * 4 * K; i++) gmax = fmax(gmax, fabs(an[i]));
        /* elements whose step moves a coordinate of their box across a border are skipped (the kink) */
        delta_coder nc = c;
        nc.clip_border = 0;
        const float h = 1e-2f;
        int skipped = 0;
        for (int i = 0; i < N * 4 * K; i++) {
            int box = i / 4;
            const float *roi = rois + 4 * (box / K);
            float save = dl[i], side[3][4];
            for (int sgn = -1; sgn <= 1; sgn++) {
                dl[i] = save + sgn * h;
                delta_decode(&nc, roi, dl + 4 * box, 1, 1, 0, 0, side[sgn + 1]);
            }
            dl[i] = save;
            int cross = 0;
            for (int q = 0; q < 4; q++) {
                float hi = q & 1 ? mh : mw;
                for (int t = 0; t < 3; t += 2)
                    cross |= (side[t][q] < 0) != (side[1][q] < 0) || (side[t][q] > hi) != (side[1][q] > hi);
            }
            if (cross) {
                skipped++;
                continue;
            }
            dl[i] = save + h;
            double lp = decode_loss(&c, rois, dl, N, K, mh, mw, R, out);
            dl[i] = save - h;
            double lm = decode_loss(&c, rois, dl, N, K, mh, mw, R, out);
            dl[i] = save;
            double fd = (lp - lm) / ((double)(save + h) - (double)(save - h));
            double err = fabs(fd - an[i]) / gmax;
            if (err > worst) worst = err;
            if (!(err <= 2e-3)) fail_msg("decode grad element %d: fd %.6g, analytic %.6g (max %.3g)", i, fd, an[i], gmax);
        }
        assert_true(skipped <= 8);
        print_message("fd decode grad (stds %g): elementwise %.2e (%d of %d elements at a clip border skipped)\n", stds[s][0], worst,
                      skipped, N * 4 * K);
        /* accumulation: a second call adds */
        float twice[N * 4 * K];
        memcpy(twice, an, sizeof an);
        delta_decode_bwd(&c, rois, dl, N, K, mh, mw, R, twice);
        for (int i = 0; i < N * 4 * K; i++) assert_true(fabsf(twice[i] - 2 * an[i]) <= 1e-5f * (float)gmax);
    }
}

/* ---- NMS -------------------------------------------------------------------------------------- */

static void test_nms_hand(void **state) {
    (void)state;
    /* 0: A; 1: IoU exactly 0.5 with A (kept at 0.5: strict); 2: B, IoU 70/130 with A (suppressed);
     * 3: C, IoU 0.25 with A and 70/130 with B (kept: B is suppressed); 4: duplicate of A, same score
     * (the lower index 0 wins); 5: zero-area box inside A (IoU 0, kept); 6, 7: equal scores, disjoint */
    const float boxes[8 * 4] = {0, 0, 10, 10,  0, 0, 10, 5,  3, 0, 13, 10, 6, 0, 16, 10,
                                0, 0, 10, 10,  5, 5, 5, 5,   50, 50, 60, 60, 70, 70, 80, 80};
    const float scores[8] = {0.9f, 0.6f, 0.8f, 0.7f, 0.9f, 0.95f, 0.3f, 0.3f};
    int keep[8];
    int nk = nms_boxes(boxes, scores, 8, 0.5f, keep);
    const int e[6] = {5, 0, 3, 1, 6, 7};
    assert_int_equal(nk, 6);
    for (int i = 0; i < nk; i++) assert_int_equal(keep[i], e[i]);
    /* just below 0.5: box 1 goes too */
    nk = nms_boxes(boxes, scores, 8, 0.49f, keep);
    const int e2[5] = {5, 0, 3, 6, 7};
    assert_int_equal(nk, 5);
    for (int i = 0; i < nk; i++) assert_int_equal(keep[i], e2[i]);
    /* the threshold in double, as torchvision: IoU 0.3f (30/100) > 0.3 but not > 0.3f */
    const float b3[2 * 4] = {0, 0, 10, 10, 0, 0, 10, 3};
    const float s3[2] = {1, 0.5f};
    assert_int_equal(nms_run(b3, s3, NULL, 2, 0.3, keep), 1);
    assert_int_equal(nms_boxes(b3, s3, 2, 0.3f, keep), 2);
    /* batched: the same boxes in different classes never suppress each other */
    const int cls[8] = {0, 0, 0, 0, 1, 0, 2, 2};
    nk = nms_batched(boxes, scores, cls, 8, 0.5f, keep);
    const int e3[7] = {5, 0, 4, 3, 1, 6, 7};
    assert_int_equal(nk, 7);
    for (int i = 0; i < nk; i++) assert_int_equal(keep[i], e3[i]);
    assert_int_equal(nms_boxes(boxes, scores, 0, 0.5f, keep), 0);
}

/* torchvision's CPU loop transcribed naively: stable order by decreasing score, n^2 suppression; batched
 * with the coordinate offset idx * (max + 1) */
static int nms_naive(const float *boxes_in, const float *scores, const int *idxs, int n, double thr, int *keep) {
    float *boxes = malloc(sizeof(float) * 4 * n);
    float mx = 0;
    for (int i = 0; i < 4 * n; i++) mx = fmaxf(mx, boxes_in[i]);
    for (int i = 0; i < n; i++)
        for (int q = 0; q < 4; q++) boxes[4 * i + q] = boxes_in[4 * i + q] + (idxs ? idxs[i] * (mx + 1) : 0);
    int *order = malloc(sizeof(int) * n);
    for (int i = 0; i < n; i++) { /* insertion sort: stable */
        int j = i;
        while (j > 0 && scores[order[j - 1]] < scores[i]) order[j] = order[j - 1], j--;
        order[j] = i;
    }
    float *areas = malloc(sizeof(float) * n);
    char *sup = calloc(n, 1);
    for (int i = 0; i < n; i++) areas[i] = (boxes[4 * i + 2] - boxes[4 * i]) * (boxes[4 * i + 3] - boxes[4 * i + 1]);
    int nk = 0;
    for (int a = 0; a < n; a++) {
        int i = order[a];
        if (sup[i]) continue;
        keep[nk++] = i;
        for (int b = a + 1; b < n; b++) {
            int j = order[b];
            if (sup[j]) continue;
            float xx1 = fmaxf(boxes[4 * i], boxes[4 * j]), yy1 = fmaxf(boxes[4 * i + 1], boxes[4 * j + 1]);
            float xx2 = fminf(boxes[4 * i + 2], boxes[4 * j + 2]), yy2 = fminf(boxes[4 * i + 3], boxes[4 * j + 3]);
            float w = fmaxf(0.0f, xx2 - xx1), h = fmaxf(0.0f, yy2 - yy1);
            float inter = w * h;
            float ovr = inter / (areas[i] + areas[j] - inter);
            if (ovr > thr) sup[j] = 1;
        }
    }
    free(boxes), free(order), free(areas), free(sup);
    return nk;
}

static void test_nms_large_vs_naive(void **state) {
    (void)state;
    rng_seed(&trng, 3);
    enum { N = 10000 };
    float *boxes = malloc(sizeof(float) * 4 * N), *scores = malloc(sizeof(float) * N);
    int *cls = malloc(sizeof(int) * N), *k1 = malloc(sizeof(int) * N), *k2 = malloc(sizeof(int) * N);
    for (int i = 0; i < N; i++) {
        /* coordinates on a 1/16 grid, so the batched offsets of the naive reference are exact */
        random_box(boxes + 4 * i, 0, 800, 8, 120);
        for (int q = 0; q < 4; q++) boxes[4 * i + q] = roundf(boxes[4 * i + q] * 16) / 16;
        scores[i] = floorf(rng_uniform(&trng) * 64) / 64; /* many ties */
        cls[i] = (int)rng_below(&trng, 5);
    }
    const double thrs[2] = {0.5, 0.7};
    for (int t = 0; t < 2; t++) {
        double t0 = now_s();
        int n1 = nms_run(boxes, scores, NULL, N, thrs[t], k1);
        double t1 = now_s();
        int n2 = nms_naive(boxes, scores, NULL, N, thrs[t], k2);
        assert_int_equal(n1, n2);
        for (int i = 0; i < n1; i++) assert_int_equal(k1[i], k2[i]);
        double t2 = now_s();
        int n3 = nms_run(boxes, scores, cls, N, thrs[t], k1);
        double t3 = now_s();
        int n4 = nms_naive(boxes, scores, cls, N, thrs[t], k2);
        assert_int_equal(n3, n4);
        for (int i = 0; i < n3; i++) assert_int_equal(k1[i], k2[i]);
        print_message("nms %d boxes thr %.1f: kept %d in %.1f ms; batched (5 classes) kept %d in %.1f ms\n", N, thrs[t], n1,
                      1e3 * (t1 - t0), n3, 1e3 * (t3 - t2));
        assert_true(t1 - t0 < 1.0 && t3 - t2 < 1.0);
    }
    /* all scores equal, all boxes identical: only index 0; all disjoint: every index in order */
    for (int i = 0; i < 100; i++) {
        scores[i] = 0.5f;
        float o = 20.0f * i;
        float b[4] = {o, 0, o + 10, 10};
        memcpy(boxes + 4 * i, b, sizeof b);
    }
    assert_int_equal(nms_boxes(boxes, scores, 100, 0.5f, k1), 100);
    for (int i = 0; i < 100; i++) assert_int_equal(k1[i], i);
    for (int i = 0; i < 100; i++) memcpy(boxes + 4 * i, boxes, sizeof(float) * 4);
    assert_int_equal(nms_boxes(boxes, scores, 100, 0.5f, k1), 1);
    assert_int_equal(k1[0], 0);
    free(boxes), free(scores), free(cls), free(k1), free(k2);
}

/* ---- goldens ---------------------------------------------------------------------------------- */

static void check_golden(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "golden/heads/%s", name);
    golden_result r;
    if (golden_check(test_shared_path(rel), &r)) fail_msg("%s: %s", name, err_msg());
    golden_print(name, &r);
    assert_false(r.not_covered);
    if (!r.ok) fail_msg("%s: %s", name, r.problem);
}

static void test_goldens(void **state) {
    (void)state;
    static const char *files[] = {
        "anchor_generator_retina.h5",          "anchor_generator_rpn.h5",
        "max_iou_assigner_retina.h5",          "max_iou_assigner_rpn.h5",
        "max_iou_assigner_edge_retina.h5",     "max_iou_assigner_edge_rpn.h5",
        "max_iou_assigner_zero_iou_gt.h5",     "max_iou_assigner_no_gt.h5",
        "max_iou_assigner_float32_ties.h5",    "delta_xywh_coder_std1.h5",
        "delta_xywh_coder_std0.1_0.2_classwise.h5", "delta_xywh_coder_std1_batched.h5",
        "nms_ties_iou0.5.h5",                  "nms_random_iou0.5.h5",
        "nms_random_iou0.7.h5",                "batched_nms_ties_iou0.5.h5",
        "batched_nms_random_iou0.5.h5",
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) check_golden(files[i]);
    const char *ops[] = {"anchor_generator", "max_iou_assigner", "delta_xywh_coder", "nms", "batched_nms"};
    for (int i = 0; i < 5; i++) assert_true(golden_op_covered(ops[i]));
}

/* a golden-op/1 nms file of our own: boxes, scores, threshold and the expected keep */
static void write_nms_file(const char *path, double thr, const float *boxes, const float *scores, int n, const int *keep, int nk) {
    hid_t f = h5_create(path);
    assert_true(f >= 0);
    int64_t sh[2] = {n, 4}, shk[1] = {nk};
    int64_t *k64 = malloc(sizeof(int64_t) * (nk ? nk : 1));
    for (int i = 0; i < nk; i++) k64[i] = keep[i];
    assert_int_equal(h5_set_attr_str(f, "/", "schema", "golden-op/1"), 0);
    assert_int_equal(h5_set_attr_str(f, "/", "op", "nms"), 0);
    assert_int_equal(h5_set_attr_f64(f, "/", "iou_threshold", &thr, 1), 0);
    assert_int_equal(h5_write_f32(f, "inputs/boxes", 2, sh, boxes), 0);
    assert_int_equal(h5_write_f32(f, "inputs/scores", 1, sh, scores), 0);
    assert_int_equal(h5_write_i64(f, "outputs/keep", 1, shk, k64), 0);
    free(k64);
    h5_close(f);
}

static void test_golden_synthetic(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("det_ops");
    char path[1200];
    snprintf(path, sizeof path, "%s/nms.h5", dir);
    rng_seed(&trng, 9);
    enum { N = 300 };
    float boxes[N * 4], scores[N];
    int keep[N];
    for (int i = 0; i < N; i++) random_box(boxes + 4 * i, 0, 200, 5, 50), scores[i] = rng_uniform(&trng);
    int nk = nms_naive(boxes, scores, NULL, N, 0.3, keep); /* another threshold than the shipped files */
    golden_result r;
    write_nms_file(path, 0.3, boxes, scores, N, keep, nk);
    assert_int_equal(golden_check(path, &r), 0);
    assert_true(r.ok);
    int t = keep[1]; /* a wrong order fails */
    keep[1] = keep[2], keep[2] = t;
    write_nms_file(path, 0.3, boxes, scores, N, keep, nk);
    assert_int_equal(golden_check(path, &r), 0);
    assert_false(r.ok);
    assert_non_null(strstr(r.problem, "outputs/keep"));
    write_nms_file(path, 0.3, boxes, scores, N, keep, nk - 1); /* a wrong count fails (not an error) */
    assert_int_equal(golden_check(path, &r), 0);
    assert_false(r.ok);
}

/* an anchor_generator file in another configuration (explicit base sizes, scales not in octave form, not
 * scale-major, centre offset 0.5, two images): expected values from the formula in double, so the handler
 * must read every setting from the attributes */
static void test_golden_anchor_config(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("det_ops_anchor");
    char path[1200];
    snprintf(path, sizeof path, "%s/anchors.h5", dir);
    hid_t f = h5_create(path);
    assert_true(f >= 0);
    const double strides[2] = {4, 8}, bases[2] = {6, 10}, ratios[2] = {0.5, 2}, scales[2] = {2, 3}, zero = 0, co = 0.5;
    const int64_t fs[4] = {3, 4, 2, 2}, ps[4] = {10, 14, 4, 9}, sh_fs[2] = {2, 2};
    assert_int_equal(h5_set_attr_str(f, "/", "schema", "golden-op/1"), 0);
    assert_int_equal(h5_set_attr_str(f, "/", "op", "anchor_generator"), 0);
    assert_int_equal(h5_set_attr_f64(f, "/", "strides", strides, 2), 0);
    assert_int_equal(h5_set_attr_f64(f, "/", "base_sizes", bases, 2), 0);
    assert_int_equal(h5_set_attr_f64(f, "/", "ratios", ratios, 2), 0);
    assert_int_equal(h5_set_attr_f64(f, "/", "scales", scales, 2), 0);
    assert_int_equal(h5_set_attr_f64(f, "/", "scale_major", &zero, 1), 0);
    assert_int_equal(h5_set_attr_f64(f, "/", "center_offset", &co, 1), 0);
    assert_int_equal(h5_set_attr_str(f, "/", "octave_base_scale", "None"), 0);
    assert_int_equal(h5_set_attr_str(f, "/", "centers", "None"), 0);
    assert_int_equal(h5_write_i64(f, "inputs/featmap_sizes", 2, sh_fs, fs), 0);
    assert_int_equal(h5_write_i64(f, "inputs/pad_shapes", 2, sh_fs, ps), 0);
    for (int l = 0; l < 2; l++) {
        float base[4 * 4];
        for (int s = 0; s < 2; s++) /* not scale-major: row s * nr + r */
            for (int r = 0; r < 2; r++) {
                double w = bases[l] * scales[s] / sqrt(ratios[r]), h = bases[l] * scales[s] * sqrt(ratios[r]), c = 0.5 * bases[l];
                float *o = base + 4 * (s * 2 + r);
                o[0] = (float)(c - w / 2), o[1] = (float)(c - h / 2), o[2] = (float)(c + w / 2), o[3] = (float)(c + h / 2);
            }
        int H = (int)fs[2 * l], W = (int)fs[2 * l + 1], n = H * W * 4;
        float *anc = malloc(sizeof(float) * 4 * n);
        int64_t *valid[2] = {malloc(sizeof(int64_t) * n), malloc(sizeof(int64_t) * n)};
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int a = 0; a < 4; a++) {
                    int i = (y * W + x) * 4 + a;
                    for (int q = 0; q < 4; q++) anc[4 * i + q] = base[4 * a + q] + (float)((q & 1 ? y : x) * strides[l]);
                    for (int b = 0; b < 2; b++) {
                        int vh = (int)ceil(ps[2 * b] / strides[l]), vw = (int)ceil(ps[2 * b + 1] / strides[l]);
                        valid[b][i] = x < vw && y < vh; /* vh, vw <= H, W here */
                    }
                }
        char name[64];
        int64_t sb[2] = {4, 4}, sa[2] = {n, 4}, sv[1] = {n};
        snprintf(name, sizeof name, "outputs/base_anchors_l%d", l);
        assert_int_equal(h5_write_f32(f, name, 2, sb, base), 0);
        snprintf(name, sizeof name, "outputs/anchors_l%d", l);
        assert_int_equal(h5_write_f32(f, name, 2, sa, anc), 0);
        for (int b = 0; b < 2; b++) {
            snprintf(name, sizeof name, "outputs/valid_flags_img%d_l%d", b, l);
            assert_int_equal(h5_write_i64(f, name, 1, sv, valid[b]), 0);
            free(valid[b]);
        }
        free(anc);
    }
    h5_close(f);
    golden_result r;
    if (golden_check(path, &r)) fail_msg("%s", err_msg());
    golden_print(path, &r);
    assert_true(r.ok);
    assert_int_equal(r.n_groups, 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_anchor_base_order),    cmocka_unit_test(test_anchor_retina_grid_valid),
        cmocka_unit_test(test_bbox_overlaps_hand),   cmocka_unit_test(test_assigner_thresholds),
        cmocka_unit_test(test_assigner_low_quality), cmocka_unit_test(test_assigner_zero_iou_gt),
        cmocka_unit_test(test_assigner_no_gt),       cmocka_unit_test(test_assigner_ignore),
        cmocka_unit_test(test_coder_hand),
        cmocka_unit_test(test_coder_round_trip),     cmocka_unit_test(test_coder_decode_grad_fd),
        cmocka_unit_test(test_nms_hand),             cmocka_unit_test(test_nms_large_vs_naive),
        cmocka_unit_test(test_goldens),              cmocka_unit_test(test_golden_synthetic),
        cmocka_unit_test(test_golden_anchor_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
