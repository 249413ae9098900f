/* test_cascade.c - the cascade's test-time and between-stage box arithmetic and the detector end to end:
 * nms_multiclass on a hand case (class-wise boxes, the strict score threshold, order by score, max_per_img);
 * bbox_head_refine on a hand case (background rows take the argmax class, the class's deltas decoded with
 * the stage's stds and clipped to img_shape, the gts added as proposals dropped); bbox_head_get_bboxes on a
 * hand case (softmax, class-wise decode, rescale); and Cascade Mask R-CNN (a small Swin + FPN + RPN + the
 * three box and mask stages, random initialisation) trained with AdamW on one synthetic image: the loss falls
 * and the detector then finds both objects (box IoU > 0.7 with their class at the top scores) and their masks
 * (a rectangle and a disc: mask IoU > 0.8). */
#include "test_util.h"

#include "../core/optim.h"
#include "../models/det/cascade_rcnn.h"
#include "../models/det/nms.h"
#include "../models/det/retina_head.h"

static void test_nms_multiclass(void **state) {
    (void)state;
    /* 3 rois x 2 classes, class-wise boxes; scores (3, 3) with a background column */
    float boxes[3 * 8] = {0, 0, 10, 10, 50, 50, 60, 60, /* roi 0: class 0 box, class 1 box */
                          1, 1, 10, 10, 50, 50, 61, 61, /* roi 1: overlaps roi 0 in both classes */
                          30, 30, 40, 40, 0, 0, 5, 5};
    float scores[9] = {0.6f, 0.05f, 0.35f, /* class 1 exactly at the threshold: not a candidate */
                       0.5f, 0.3f, 0.2f,   /* class 0 suppressed by roi 0 (IoU 81/100 > 0.5) */
                       0.1f, 0.2f, 0.7f};
    det_result r;
    int n = nms_multiclass(boxes, 1, scores, 3, 3, 2, 0.05f, 0.5f, 100, &r);
    assert_int_equal(n, 4);
    /* by score: (roi 0, c 0) 0.6, (roi 1, c 1) 0.3, (roi 2, c 1) 0.2, (roi 2, c 0) 0.1 */
    const float want_s[4] = {0.6f, 0.3f, 0.2f, 0.1f};
    const int want_l[4] = {0, 1, 1, 0};
    const float want_x1[4] = {0, 50, 0, 30};
    for (int i = 0; i < 4; i++) {
        assert_true(r.scores[i] == want_s[i]);
        assert_int_equal(r.labels[i], want_l[i]);
        assert_true(r.boxes[4 * i] == want_x1[i]);
    }
    det_result_free(&r);
    assert_int_equal(nms_multiclass(boxes, 1, scores, 3, 3, 2, 0.05f, 0.5f, 2, &r), 2);
    det_result_free(&r);
    /* shared boxes (RetinaNet's form, rows of 4): (roi 2, c 0) now suppressed by roi 0, (roi 1, c 0) kept */
    assert_int_equal(nms_multiclass(boxes, 0, scores, 3, 3, 2, 0.05f, 0.5f, 100, &r), 4);
    det_result_free(&r);
}

static void head_cfg(bbox_head *h, int stage) {
    memset(h, 0, sizeof *h);
    bbox_head_config_cascade(&h->cfg, stage, 8, 3);
}

static void test_refine(void **state) {
    (void)state;
    bbox_head h;
    head_cfg(&h, 0); /* stds 0.1, 0.1, 0.2, 0.2 */
    graph g;
    graph_init(&g, 1 << 16);
    /* image 0: a gt added as proposal (positive, label 1), a positive (label 2), a negative; image 1: a negative */
    rcnn_sampling s[2] = {{0}};
    float b0[12] = {10, 10, 30, 30, 10, 10, 30, 30, 0, 0, 20, 40}, b1[4] = {5, 5, 25, 15};
    int pg[2] = {0, 0}, pl[2] = {1, 2};
    unsigned char ig[2] = {1, 0};
    s[0] = (rcnn_sampling){2, 1, b0, pg, pl, ig};
    s[1] = (rcnn_sampling){0, 1, b1, NULL, NULL, NULL};
    tensor *rois = rcnn_sampling_rois(&g, s, 2);
    bbox_targets t = {4, (int[]){1, 2, 3, 3}, (float[]){1, 1, 1, 1}, NULL, NULL};
    tensor *cls = tensor_new(&g, 2, (int[]){4, 4}, 0), *reg = tensor_new(&g, 2, (int[]){4, 12}, 0);
    memset(cls->data, 0, sizeof(float) * 16);
    memset(reg->data, 0, sizeof(float) * 48);
    cls->data[2 * 4 + 0] = 1.0f, cls->data[2 * 4 + 3] = 9.0f; /* row 2: background highest, class 0 among the 3 */
    cls->data[3 * 4 + 2] = 1.0f, cls->data[3 * 4 + 1] = 1.0f; /* row 3: tie 1 / 2 -> the first, class 1 */
    reg->data[1 * 12 + 4 * 2 + 0] = 1.0f;                     /* row 1, class 2: dx 1 -> x + 0.1 * 20 */
    reg->data[1 * 12 + 4 * 1 + 0] = 5.0f;                     /* row 1, class 1: not its label, unused */
    reg->data[2 * 12 + 4 * 0 + 2] = 1.0f;                     /* row 2, class 0: dw 1 -> w * e^0.2 */
    reg->data[3 * 12 + 4 * 1 + 3] = -1.0f;                    /* row 3, class 1: dh -1 -> h * e^-0.2 */
    det_img_meta m[2] = {{0}};
    m[0].img_h = 40, m[0].img_w = 31, m[1].img_h = 100, m[1].img_w = 100;
    float *props[2];
    int np[2];
    bbox_head_refine(&h, &g, rois, &t, cls, reg, s, m, 2, props, np);
    assert_int_equal(np[0], 2);
    assert_int_equal(np[1], 1);
    /* row 1 -> (12, 10, 32, 30) clipped to w 31 */
    const float r1[4] = {12, 10, 31, 30};
    for (int j = 0; j < 4; j++) assert_true(fabsf(props[0][j] - r1[j]) < 1e-5f);
    /* row 2: centre 10, w 20 e^0.2 = 24.428 -> x 10 -+ 12.214 clipped at 0 */
    float hw = 10.0f * expf(0.2f);
    assert_true(fabsf(props[0][4] - 0.0f) < 1e-5f && fabsf(props[0][6] - (10 + hw)) < 1e-4f);
    assert_true(fabsf(props[0][5] - 0.0f) < 1e-5f && fabsf(props[0][7] - 40.0f) < 1e-5f);
    /* row 3: centre y 10, h 10 e^-0.2 */
    float hh = 5.0f * expf(-0.2f);
    assert_true(fabsf(props[1][0] - 5) < 1e-5f && fabsf(props[1][1] - (10 - hh)) < 1e-4f && fabsf(props[1][3] - (10 + hh)) < 1e-4f);
    graph_free(&g);
}

static void test_get_bboxes(void **state) {
    (void)state;
    bbox_head h;
    head_cfg(&h, 2); /* stds 0.033, 0.033, 0.067, 0.067 */
    h.cfg.num_classes = 2;
    float rois[5] = {0, 20, 20, 60, 40};
    float cls[3] = {logf(2.0f), 0.0f, 0.0f}; /* softmax 0.5, 0.25, 0.25 (background) */
    float reg[8] = {0, 0, 0, 0, 1, 0, 0, 0};   /* class 1: dx 1 -> x + 0.033 * 40 */
    det_img_meta m = {0};
    m.img_h = 50, m.img_w = 100;
    for (int j = 0; j < 4; j++) m.scale_factor[j] = 2.0f;
    rcnn_test_cfg tc;
    rcnn_test_cfg_default(&tc);
    det_result r;
    assert_int_equal(bbox_head_get_bboxes(&h, rois + 1, 5, cls, reg, 1, &m, &tc, &r), 2);
    assert_true(fabsf(r.scores[0] - 0.5f) < 1e-6f && r.labels[0] == 0);
    assert_true(fabsf(r.scores[1] - 0.25f) < 1e-6f && r.labels[1] == 1);
    const float b0[4] = {10, 10, 30, 20};
    for (int j = 0; j < 4; j++) assert_true(fabsf(r.boxes[j] - b0[j]) < 1e-5f);
    float sh = 0.5f * 0.033f * 40.0f;
    assert_true(fabsf(r.boxes[4] - (10 + sh)) < 1e-4f && fabsf(r.boxes[6] - (30 + sh)) < 1e-4f);
    det_result_free(&r);
}

/* one 96 x 96 image, two flat-coloured objects (class 0 a rectangle, class 1 a disc in its box) on a dark
 * background, their masks */
static uint8_t gt_masks[2 * 96 * 96];
static int in_obj(int o, const float *bx, int x, int y) {
    const float *b = bx + 4 * o;
    if (x < b[0] || x >= b[2] || y < b[1] || y >= b[3]) return 0;
    if (o == 0) return 1;
    float cx = 0.5f * (b[0] + b[2]), cy = 0.5f * (b[1] + b[3]), r = 0.5f * (b[2] - b[0]);
    return (x + 0.5f - cx) * (x + 0.5f - cx) + (y + 0.5f - cy) * (y + 0.5f - cy) <= r * r;
}
static void make_image(tensor *x, det_gt *gt, float *boxes, int *labels) {
    const float bx[8] = {8, 12, 48, 52, 50, 44, 88, 82};
    const float col[2][3] = {{1.5f, -1.0f, -1.0f}, {-1.0f, -1.0f, 1.5f}};
    int H = 96, W = 96;
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < H * W; i++) x->data[c * H * W + i] = -0.5f;
    for (int o = 0; o < 2; o++)
        for (int y = 0; y < H; y++)
            for (int xx = 0; xx < W; xx++) {
                int in = in_obj(o, bx, xx, y);
                gt_masks[(o * H + y) * W + xx] = (uint8_t)in;
                if (in)
                    for (int c = 0; c < 3; c++) x->data[(c * H + y) * W + xx] = col[o][c];
            }
    memcpy(boxes, bx, sizeof bx);
    labels[0] = 0, labels[1] = 1;
    *gt = (det_gt){.n = 2, .boxes = boxes, .labels = labels, .masks = gt_masks, .mask_h = H, .mask_w = W};
}

static float iou(const float *a, const float *b) {
    float iw = fminf(a[2], b[2]) - fmaxf(a[0], b[0]), ih = fminf(a[3], b[3]) - fmaxf(a[1], b[1]);
    if (iw <= 0 || ih <= 0) return 0;
    float in = iw * ih;
    return in / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - in);
}

static void test_overfit(void **state) {
    (void)state;
    swin_config bc;
    assert_int_equal(swin_preset("tiny:16:1,1,1,1:1,2,4,8:w4", &bc), 0);
    cascade_rcnn_config c;
    cascade_rcnn_config_default(&c, &bc, 2, 32);
    for (int i = 0; i < CASCADE_STAGES; i++) c.bbox[i].conv_out_channels = 32, c.bbox[i].fc_out_channels = 64, c.mask[i].conv_out_channels = 16;
    c.rpn.train_proposal.nms_pre = c.rpn.train_proposal.max_per_img = 300;
    c.rpn.test_proposal.nms_pre = c.rpn.test_proposal.max_per_img = 300;
    for (int i = 0; i < CASCADE_STAGES; i++) c.bbox[i].sampler.num = 64;
    cascade_rcnn d;
    cascade_rcnn_build(&d, &c, NULL);
    cascade_rcnn_init(&d, 1);
    optim o;
    optim_cfg oc = optim_cfg_adamw(1e-3, 0.0);
    assert_int_equal(optim_init(&o, &d.ps, &oc), 0);
    graph g;
    graph_init(&g, 1 << 24);
    float boxes[8];
    int labels[2];
    det_gt gt;
    det_img_meta m = {96, 96, 96, 96, 96, 96, {1, 1, 1, 1}, 0};
    rng_t r;
    rng_seed(&r, 5);
    double first = 0, last = 0, parts[CASCADE_LOSS_N];
    const int steps = 120;
    for (int it = 0; it < steps; it++) {
        graph_reset(&g);
        g.training = 1;
        tensor *x = tensor_new4(&g, 1, 3, 96, 96, 0);
        make_image(x, &gt, boxes, labels);
        tensor *l;
        params_zero_grad(&d.ps);
        assert_int_equal(cascade_rcnn_loss(&d, &g, x, &m, &gt, &r, &l, parts), 0);
        graph_keep(&g, l->data);
        double sum = 0;
        for (int k = 0; k < CASCADE_LOSS_N; k++) sum += parts[k];
        assert_true(fabs(sum - l->data[0]) < 1e-3 * (1 + fabs(sum)));
        tensor_grad(&g, l)[0] = 1.0f;
        graph_backward(&g);
        optim_step(&o, 1e-3);
        if (it == 0) first = l->data[0];
        if (it >= steps - 5) last += l->data[0] / 5;
    }
    print_message("cascade overfit: loss %.4f -> %.4f (mean of the last 5)\n", first, last);
    assert_true(last < 0.4 * first);
    graph_reset(&g);
    g.training = 0;
    tensor *x = tensor_new4(&g, 1, 3, 96, 96, 0);
    make_image(x, &gt, boxes, labels);
    det_result res;
    assert_int_equal(cascade_rcnn_detect(&d, &g, x, &m, &res), 0);
    assert_true(res.n >= 2 && res.n <= 100);
    for (int o2 = 0; o2 < 2; o2++) { /* the best-scoring detection of each class is that object */
        int best = -1;
        for (int i = 0; i < res.n; i++)
            if (res.labels[i] == o2 && (best < 0 || res.scores[i] > res.scores[best])) best = i;
        assert_true(best >= 0);
        float v = iou(res.boxes + 4 * best, boxes + 4 * o2);
        print_message("class %d: score %.3f IoU %.3f\n", o2, res.scores[best], v);
        assert_true(v > 0.7f && res.scores[best] > 0.5f);
        /* its mask (original image size) against the gt mask: mask IoU */
        assert_true(res.masks && res.mask_h == 96 && res.mask_w == 96);
        int in = 0, un = 0;
        for (int p = 0; p < 96 * 96; p++) {
            int a = res.masks[(size_t)best * 96 * 96 + p] != 0, b = gt_masks[o2 * 96 * 96 + p] != 0;
            in += a && b, un += a || b;
        }
        print_message("class %d: mask IoU %.3f (%d / %d)\n", o2, (double)in / un, in, un);
        assert_true(un > 0 && (double)in / un > 0.8);
    }
    det_result_free(&res);
    graph_free(&g);
    optim_free(&o);
    cascade_rcnn_free(&d);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_nms_multiclass), cmocka_unit_test(test_refine),
                                       cmocka_unit_test(test_get_bboxes), cmocka_unit_test(test_overfit)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
