/* test_mask_head.c - the cascade's FCNMaskHead (models/det/mask_head.c): the COCO values, parameter names, shapes,
 * contiguity and init statistics; finite differences through forward + mask loss for the input and every
 * parameter; mask targets on hand cases (a roi equal to a rectangle mask: all ones; a roi over half of it: that
 * half; a roi partly outside the mask, clipped first; gt selection over two images); the loss on hand cases
 * (zero logits: log 2; one roi by formula; the label's channel only; no positives: 0); the stage merge; the
 * paste against a brute-force (double) evaluation of grid_sample's formula, and hand cases (a box of exactly
 * 28 pixels reproduces the map; an all-ones map gives the box pixels, less a corner whose weight is 0.7 x 0.7). */
#include "fd_util.h"

#include <math.h>

#include "../core/init.h"
#include "../core/ops.h"
#include "../models/det/mask_head.h"

static void test_mask_head_config(void **state) {
    (void)state;
    mask_head_config c;
    mask_head_config_default(&c, 256, 80);
    assert_int_equal(c.num_convs, 4), assert_int_equal(c.roi_feat_size, 14), assert_int_equal(c.in_channels, 256);
    assert_int_equal(c.conv_kernel_size, 3), assert_int_equal(c.conv_out_channels, 256), assert_int_equal(c.num_classes, 80);
    assert_int_equal(c.class_agnostic, 0), assert_int_equal(c.upsample_factor, 2), assert_int_equal(c.mask_size, 28);
    assert_true(c.target_thr == 0.5f && c.loss_weight == 1.0f && c.mask_thr_binary == 0.5f);
    params ps;
    params_init(&ps);
    mask_head h;
    mask_head_declare(&h, &ps, &c, "roi_head.mask_head.1.");
    params_alloc(&ps);
    static const char *names[] = {"convs.0.conv.weight", "convs.0.conv.bias", "convs.1.conv.weight", "convs.1.conv.bias",
                                  "convs.2.conv.weight", "convs.2.conv.bias", "convs.3.conv.weight", "convs.3.conv.bias",
                                  "upsample.weight",     "upsample.bias",     "conv_logits.weight",  "conv_logits.bias"};
    tensor *want[12] = {h.conv_w[0], h.conv_b[0], h.conv_w[1], h.conv_b[1], h.conv_w[2], h.conv_b[2],
                        h.conv_w[3], h.conv_b[3], h.up_w,      h.up_b,      h.logits_w,  h.logits_b};
    int64_t off = -1, total = 0;
    for (int i = 0; i < 12; i++) { /* names, order, one contiguous run of the trainable block */
        char n[128];
        snprintf(n, sizeof n, "roi_head.mask_head.1.%s", names[i]);
        param *p = params_find(&ps, n);
        assert_non_null(p);
        assert_ptr_equal(p->t.data, want[i]->data);
        assert_true(p->trainable && !p->is_buffer);
        if (off >= 0) assert_true(p->offset == off);
        off = p->offset + p->t.n;
        total += p->t.n;
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(h.conv_w[i]->shape[0], 256), assert_int_equal(h.conv_w[i]->shape[1], 256);
        assert_int_equal(h.conv_w[i]->shape[2], 3), assert_int_equal(h.conv_w[i]->shape[3], 3);
    }
    assert_int_equal(h.up_w->shape[0], 256), assert_int_equal(h.up_w->shape[1], 256), assert_int_equal(h.up_w->shape[2], 2);
    assert_int_equal(h.logits_w->shape[0], 80), assert_int_equal(h.logits_w->shape[1], 256), assert_int_equal(h.logits_w->shape[2], 1);
    assert_int_equal(h.logits_b->n, 80);
    /* 4 (256 256 9 + 256) + 256 256 4 + 256 + 80 256 + 80 */
    assert_true(total == 4 * (256 * 256 * 9 + 256) + 256 * 256 * 4 + 256 + 80 * 256 + 80);
    assert_true(params_count(&ps, 1) == total && total == 2643280);
    rng_t r;
    rng_seed(&r, 11);
    for (int i = 0; i < 12; i++) want[i]->data[0] = 7.0f; /* init overwrites everything */
    mask_head_init(&h, &r);
    const double stds[6] = {sqrt(2.0 / (256 * 9)), sqrt(2.0 / (256 * 9)), sqrt(2.0 / (256 * 9)), sqrt(2.0 / (256 * 9)),
                            sqrt(2.0 / (256 * 4)), sqrt(2.0 / 80)};
    for (int i = 0; i < 6; i++) {
        tensor *w = want[2 * i], *b = want[2 * i + 1];
        double s1 = 0, s2 = 0, s4 = 0;
        for (int64_t j = 0; j < w->n; j++) {
            double v = w->data[j] / stds[i];
            s1 += v, s2 += v * v, s4 += v * v * v * v;
        }
        double m = s1 / w->n, var = s2 / w->n, kurt = s4 / w->n / (var * var);
        print_message("init %-20s n %7lld: mean %+.4f sd %.4f (want %.4f), kurtosis %.3f\n", names[2 * i], (long long)w->n,
                      m * stds[i], sqrt(var) * stds[i], stds[i], kurt);
        /* normal: unit variance within 5 standard errors (sd of the variance estimate sqrt(2 / n)), kurtosis 3 */
        assert_true(fabs(var - 1) < 5 * sqrt(2.0 / w->n));
        assert_true(fabs(m) < 5 / sqrt((double)w->n));
        assert_true(fabs(kurt - 3) < 0.2);
        for (int64_t j = 0; j < b->n; j++) assert_true(b->data[j] == 0.0f);
    }
    params_free(&ps);
}

/* ------------------------------------------------------------------------------------------------ */
/* finite differences through forward + loss                                                          */
#define FD_K 3
/* the seed and the steps (relative to each leaf's rms; checked on 12 seeds, worst error 8.3e-3 against 1e-2) */
#define FD_SEED 41
#define HX 0.1f      /* roi feats, directional */
#define HX_ELEM 0.3f /* roi feats, one element */
#define HW 0.3f      /* hidden layers' weights */
#define HL 1e-2f     /* conv_logits weight */
#define HB 1e-2f     /* biases, directional */
#define HB_ELEM 3e-2f
static mask_head fd_head;
static float fd_targets[FD_K * 10 * 10];
static int fd_labels[FD_K] = {0, 2, 1};

static int fwd_mask(graph *g, fd_case *c, tensor **out) {
    mask_head *h = &fd_head;
    for (int i = 0; i < 4; i++) h->conv_w[i] = c->leaf[1 + 2 * i], h->conv_b[i] = c->leaf[2 + 2 * i];
    h->up_w = c->leaf[9], h->up_b = c->leaf[10], h->logits_w = c->leaf[11], h->logits_b = c->leaf[12];
    tensor *y = mask_head_forward(h, g, c->leaf[0]);
    assert_int_equal(y->shape[0], FD_K), assert_int_equal(y->shape[1], 3);
    assert_int_equal(y->shape[2], 10), assert_int_equal(y->shape[3], 10);
    mask_targets t = {FD_K, 10, fd_targets, fd_labels};
    out[0] = mask_head_loss(h, g, y, &t);
    return 1;
}

/* The leaves (the same values for the same seed): the input x (3, 3, 5, 5) of kind xk, then per layer weight (kind
 * wk; conv_logits' lk) and bias (kind bk). No pre-activation lies near the ReLU kink and the gradient does not
 * vanish through the 5 layers: weights 1 / fan_in + 0.05 N(0, 1) (each layer about averages its input), biases 1 + 0.1 N(0, 1) on three
 * channels (the activations grow by about 1 per layer); the fourth channel of layer i biased to -4 (i + 1) is always
 * off (the ReLU's zero branch: no gradient through it). */
static void fd_mask_leaves(fd_case *fc, uint64_t seed, int xk, int wk, int lk, int bk) {
    rng_seed(&fd_rng, seed);
    fd_add(fc, FD_LEAF(xk, 0.5f, FD_K, 3, 5, 5));
    for (int i = 0; i < 5; i++) {
        int cin = i ? 4 : 3, fan = i < 4 ? cin * 9 : cin;
        tensor *w = i < 4 ? FD_LEAF(wk, 0.05f, 4, cin, 3, 3) : FD_LEAF(wk, 0.05f, 4, 4, 2, 2);
        for (int64_t j = 0; j < w->n; j++) w->data[j] += 1.0f / fan;
        fd_add(fc, w);
        tensor *b = FD_LEAF(bk, 0.1f, 4);
        for (int j = 0; j < 4; j++) b->data[j] += j < 3 ? 1.0f : -4.0f * (i + 1);
        fd_add(fc, b);
    }
    fd_add(fc, FD_LEAF(lk, 0.2f, 3, 4, 1, 1));
    fd_add(fc, FD_LEAF(bk, 0.5f, 3));
    for (int i = 0; i < FD_K * 100; i++) fd_targets[i] = rng_uniform(&fd_rng) < 0.4f ? 1.0f : 0.0f;
}

/* Four cases on the same values: the input, the five hidden layers' weights, conv_logits' weight, the six biases
 * (the others frozen), each with its step. The loss is a float32 mean of order 1 that the input or an early
 * layer's weight moves by little, so their steps are large (relative to each leaf's rms) where the kink margins
 * allow (the function is smooth within reach); conv_logits and the biases move it more and take small steps. */
static void test_mask_head_fd(void **state) {
    (void)state;
    mask_head_config c;
    mask_head_config_default(&c, 3, 3);
    c.conv_out_channels = 4, c.roi_feat_size = 5, c.mask_size = 10;
    memset(&fd_head, 0, sizeof fd_head);
    fd_head.cfg = c;
    static const char *names[4] = {"mask head forward + loss: roi feats", "mask head forward + loss: hidden weights",
                                   "mask head forward + loss: conv_logits weight", "mask head forward + loss: biases"};
    static const float hs[4][2] = {{HX, HX_ELEM}, {HW, HW}, {HL, HL}, {HB, HB_ELEM}};
    double dir[4], elem[4];
    for (int k = 0; k < 4; k++) {
        fd_case fc = fd_case_new(names[k], fwd_mask);
        int kind[4];
        for (int j = 0; j < 4; j++) kind[j] = j == k ? (j ? FD_PARAM_TRAIN : FD_ACT_GRAD) : (j ? FD_PARAM_FROZEN : FD_ACT_NOGRAD);
        fd_mask_leaves(&fc, FD_SEED, kind[0], kind[1], kind[2], kind[3]);
        fc.h = hs[k][0], fc.h_elem = hs[k][1];
        fc.elem_max = 64;
        fd_run(&fc);
        dir[k] = fc.dir_err, elem[k] = fc.elem_err;
        fd_free_leaves();
    }
    print_message("mask head fd (directional / elementwise): input %.2e / %.2e, hidden weights %.2e / %.2e, conv_logits %.2e / "
                  "%.2e, biases %.2e / %.2e\n",
                  dir[0], elem[0], dir[1], elem[1], dir[2], elem[2], dir[3], elem[3]);
}

/* ------------------------------------------------------------------------------------------------ */
/* targets                                                                                           */
#define TH 64
#define TW 80
static uint8_t t_masks[3 * TH * TW];

static void rect_mask(uint8_t *m, int x0, int y0, int x1, int y1) { /* ones on [x0, x1) x [y0, y1) */
    memset(m, 0, TH * TW);
    for (int y = y0; y < y1; y++)
        for (int x = x0; x < x1; x++) m[y * TW + x] = 1;
}

static void test_mask_targets_hand(void **state) {
    (void)state;
    rect_mask(t_masks, 10, 20, 38, 48);            /* gt 0: 28 x 28 at (10, 20) */
    rect_mask(t_masks + TH * TW, 56, 8, 80, 40);   /* gt 1: touches the right edge */
    rect_mask(t_masks + 2 * TH * TW, 0, 0, 40, 64); /* gt 2: the left half */
    for (int i = 0; i < TH * TW; i++) t_masks[2 * TH * TW + i] *= 255; /* any nonzero byte counts as 1 */
    static const float boxes[5 * 4] = {
        10, 20, 38, 48,  /* equal to gt 0: all ones */
        10, 20, 66, 48,  /* twice as wide: samples at pixels 10 + 2i, 11 + 2i -> columns 0..13 ones */
        56, 12, 108, 40, /* partly outside: clipped to (56, 12, 80, 40), inside gt 1 -> all ones */
        -20, 4, 60, 60,  /* clipped to (0, 4, 60, 60) on gt 2 (x < 40): columns with sample x < 39.5 */
        38, 48, 66, 76,  /* next to gt 0, clipped to (38, 48, 66, 64): all zeros */
    };
    static const int gidx[5] = {0, 0, 1, 2, 0};
    float out[5 * 28 * 28];
    for (int i = 0; i < 5 * 28 * 28; i++) out[i] = -1;
    mask_target_single(boxes, gidx, 5, t_masks, 3, TH, TW, 28, 0.5f, out);
    int ones[5] = {0};
    for (int k = 0; k < 5; k++)
        for (int e = 0; e < 28 * 28; e++) {
            float v = out[k * 784 + e];
            assert_true(v == 0.0f || v == 1.0f);
            ones[k] += v == 1.0f;
        }
    print_message("targets: ones per roi %d %d %d %d %d\n", ones[0], ones[1], ones[2], ones[3], ones[4]);
    assert_int_equal(ones[0], 784);
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++) assert_true(out[784 + y * 28 + x] == (x < 14 ? 1.0f : 0.0f));
    assert_int_equal(ones[2], 784); /* without the clip the right part (samples beyond x = 80) would be 0 */
    /* roi 3: x from 0 to 60, bin 60/28, grid 3: start -0.5; column j's samples at -0.5 + (j + (s + 0.5) / 3) 60/28;
     * the mask is 1 for x <= 39 and bilinear between 39 and 40 -> a column is 1 when its mean is >= 0.5 */
    for (int x = 0; x < 28; x++) {
        double sum = 0;
        for (int sx = 0; sx < 3; sx++) {
            double v = -0.5 + (x + (sx + 0.5) / 3.0) * 60.0 / 28.0;
            if (v <= 0) v = 0;
            double m = v <= 39 ? 1.0 : v >= 40 ? 0.0 : 40 - v;
            sum += m;
        }
        float want = sum / 3 >= 0.5 ? 1.0f : 0.0f;
        for (int y = 0; y < 28; y++) assert_true(out[3 * 784 + y * 28 + x] == want);
    }
    assert_true(ones[3] > 0 && ones[3] < 784);
    assert_int_equal(ones[4], 0);

    /* mask_head_targets: two images, positives concatenated in order with their labels */
    mask_head h;
    memset(&h, 0, sizeof h);
    mask_head_config_default(&h.cfg, 256, 80);
    graph g;
    graph_init(&g, 1 << 20);
    float b0[3 * 4] = {56, 12, 108, 40, 10, 20, 38, 48, 0, 0, 5, 5}; /* 2 positives, then a negative */
    float b1[4] = {10, 20, 66, 48};
    rcnn_sampling s[3] = {{2, 1, b0, (int[]){1, 0}, (int[]){7, 3}, (unsigned char[]){0, 1}},
                          {0, 2, b0, NULL, NULL, NULL},
                          {1, 0, b1, (int[]){0}, (int[]){5}, (unsigned char[]){0}}};
    det_gt gts[3] = {{.n = 3, .mask_h = TH, .mask_w = TW, .masks = t_masks}, {.n = 0}, {.n = 1, .mask_h = TH, .mask_w = TW, .masks = t_masks}};
    mask_targets t;
    mask_head_targets(&h, &g, s, 3, gts, &t);
    assert_int_equal(t.n, 3), assert_int_equal(t.S, 28);
    assert_int_equal(t.labels[0], 7), assert_int_equal(t.labels[1], 3), assert_int_equal(t.labels[2], 5);
    assert_memory_equal(t.targets, out + 2 * 784, sizeof(float) * 784);
    assert_memory_equal(t.targets + 784, out, sizeof(float) * 784);
    assert_memory_equal(t.targets + 2 * 784, out + 784, sizeof(float) * 784);
    tensor *rois = mask_head_pos_rois(&g, s, 3);
    assert_int_equal(rois->shape[0], 3);
    static const float want_rois[15] = {0, 56, 12, 108, 40, 0, 10, 20, 38, 48, 2, 10, 20, 66, 48};
    assert_memory_equal(rois->data, want_rois, sizeof want_rois);
    graph_free(&g);
}

/* ------------------------------------------------------------------------------------------------ */
/* loss values                                                                                       */
static void test_mask_loss_value(void **state) {
    (void)state;
    mask_head h;
    memset(&h, 0, sizeof h);
    mask_head_config_default(&h.cfg, 256, 4);
    graph g;
    graph_init(&g, 1 << 20);
    int n = 2, S = 28;
    tensor *x = tensor_new4(&g, n, 4, S, S, 0);
    memset(x->data, 0, sizeof(float) * x->n);
    float *tg = calloc((size_t)n * S * S, sizeof(float));
    for (int i = 0; i < n * S * S; i += 3) tg[i] = 1.0f;
    int labels[2] = {3, 1};
    mask_targets t = {n, S, tg, labels};
    tensor *l = mask_head_loss(&h, &g, x, &t);
    print_message("zero logits: %.8f (log 2 = %.8f)\n", l->data[0], log(2.0));
    assert_true(fabs(l->data[0] - log(2.0)) < 1e-6);
    /* other channels do not count: a large logit in channel 0 of roi 0 (label 3) leaves the loss */
    for (int e = 0; e < S * S; e++) x->data[e] = 50.0f;
    assert_true(fabs(mask_head_loss(&h, &g, x, &t)->data[0] - log(2.0)) < 1e-6);
    /* the label's channel by formula: roi 1 channel 1 gets z_e, mean over 2 x 784 of BCE */
    rng_t r;
    rng_seed(&r, 4);
    double want = 0;
    for (int e = 0; e < S * S; e++) {
        float z = 2.0f * rng_normal(&r);
        x->data[(1 * 4 + 1) * S * S + e] = z;
        double tt = tg[S * S + e], p = 1 / (1 + exp(-(double)z));
        want += -(tt * log(p) + (1 - tt) * log(1 - p));
    }
    want = (want + S * S * log(2.0)) / (2.0 * S * S);
    double got = mask_head_loss(&h, &g, x, &t)->data[0];
    print_message("one roi by formula: %.8f (want %.8f)\n", got, want);
    assert_true(fabs(got - want) < 1e-5 * want);
    /* loss_weight scales; no positives: 0 */
    h.cfg.loss_weight = 2.0f;
    assert_true(fabs(mask_head_loss(&h, &g, x, &t)->data[0] - 2 * want) < 2e-5 * want);
    mask_targets t0 = {0, S, tg, labels};
    tensor *z = mask_head_loss(&h, &g, NULL, &t0);
    assert_true(z->n == 1 && z->data[0] == 0.0f && !z->requires_grad);
    graph_free(&g);
    free(tg);
}

/* ------------------------------------------------------------------------------------------------ */
/* stage merge and paste                                                                             */
static void test_mask_merge_probs(void **state) {
    (void)state;
    mask_head_config c;
    mask_head_config_default(&c, 256, 3);
    graph g;
    graph_init(&g, 1 << 20);
    rng_t r;
    rng_seed(&r, 9);
    tensor *lg[3];
    for (int s = 0; s < 3; s++) {
        lg[s] = tensor_new4(&g, 2, 3, 4, 4, 0);
        for (int64_t i = 0; i < lg[s]->n; i++) lg[s]->data[i] = 3 * rng_normal(&r);
    }
    int labels[2] = {2, 0};
    float p3[2 * 16], p1[2 * 16];
    mask_head_merge_probs(&c, lg, 3, labels, p3);
    mask_head_merge_probs(&c, lg, 1, labels, p1);
    for (int i = 0; i < 2; i++)
        for (int e = 0; e < 16; e++) {
            double m = 0;
            for (int s = 0; s < 3; s++) m += 1 / (1 + exp(-(double)lg[s]->data[(i * 3 + labels[i]) * 16 + e]));
            assert_true(fabs(p3[i * 16 + e] - m / 3) < 1e-6);
            assert_true(fabs(p1[i * 16 + e] - 1 / (1 + exp(-(double)lg[0]->data[(i * 3 + labels[i]) * 16 + e]))) < 1e-6);
        }
    c.class_agnostic = 1; /* channel 0 whatever the label */
    mask_head_merge_probs(&c, lg, 1, labels, p1);
    assert_true(fabs(p1[0] - 1 / (1 + exp(-(double)lg[0]->data[0]))) < 1e-6);
    graph_free(&g);
}

/* grid_sample (bilinear, zeros, align_corners False) of the formula in double over the whole image (skip_empty False) */
static double brute_paste(const float *m, int S, const float *b, int px, int py) {
    double gx = ((px + 0.5) - b[0]) / ((double)b[2] - b[0]) * 2 - 1, gy = ((py + 0.5) - b[1]) / ((double)b[3] - b[1]) * 2 - 1;
    double x = ((gx + 1) * S - 1) / 2, y = ((gy + 1) * S - 1) / 2, v = 0;
    int x0 = (int)floor(x), y0 = (int)floor(y);
    for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++) {
            int xi = x0 + dx, yi = y0 + dy;
            if (xi < 0 || xi >= S || yi < 0 || yi >= S) continue;
            double wx = dx ? x - x0 : 1 - (x - x0), wy = dy ? y - y0 : 1 - (y - y0);
            v += wx * wy * m[yi * S + xi];
        }
    return v;
}

static void test_mask_paste_brute(void **state) {
    (void)state;
    enum { S = 28, IH = 90, IW = 120, NB = 6 };
    rng_t r;
    rng_seed(&r, 21);
    float probs[NB * S * S];
    for (int i = 0; i < NB * S * S; i++) probs[i] = rng_uniform(&r);
    /* boxes in the original image (small, large, partly outside, thin), given times scale_factor as get_seg_masks' _bboxes */
    static const float ob[NB * 4] = {10.3f, 5.7f, 30.1f, 22.9f, 2.2f, 3.1f, 117.6f, 88.4f, -12.5f, 60.2f, 25.7f, 99.0f,
                                     95.5f, -3.3f, 140.2f, 30.8f, 40.0f, 40.0f, 41.5f, 70.0f, 60.25f, 10.75f, 88.5f, 38.75f};
    const float sf[4] = {1.6f, 1.5f, 1.6f, 1.5f};
    float boxes[NB * 4];
    for (int i = 0; i < NB * 4; i++) boxes[i] = ob[i] * sf[i % 4];
    uint8_t *masks = malloc((size_t)NB * IH * IW);
    mask_head_paste(probs, NB, S, boxes, sf, IH, IW, 0.5f, masks);
    float *pm = malloc(sizeof(float) * IH * IW);
    double worst = 0;
    int near = 0, inside = 0;
    for (int k = 0; k < NB; k++) {
        float b[4];
        for (int j = 0; j < 4; j++) b[j] = boxes[4 * k + j] / sf[j];
        mask_head_paste_prob(probs + k * S * S, S, b, IH, IW, pm);
        int rx0 = (int)fmax(floor(b[0]) - 1, 0), ry0 = (int)fmax(floor(b[1]) - 1, 0);
        int rx1 = (int)fmin(ceil(b[2]) + 1, IW), ry1 = (int)fmin(ceil(b[3]) + 1, IH);
        for (int y = 0; y < IH; y++)
            for (int x = 0; x < IW; x++) {
                double want = brute_paste(probs + k * S * S, S, b, x, y);
                float got = pm[y * IW + x];
                uint8_t mk = masks[(size_t)k * IH * IW + y * IW + x];
                int in = x >= rx0 && x < rx1 && y >= ry0 && y < ry1;
                if (in) {
                    inside++;
                    worst = fmax(worst, fabs(got - want));
                    assert_true(fabs(got - want) < 1e-5);
                } else {
                    assert_true(got == 0.0f);
                    assert_true(want < 0.5); /* outside skip_empty's region nothing reaches the threshold */
                }
                if (fabs(want - 0.5) < 1e-5) {
                    near++;
                    continue;
                }
                assert_int_equal(mk, want >= 0.5);
                assert_int_equal(mk, in && got >= 0.5f);
            }
    }
    print_message("paste: %d region pixels, max |ours - brute force| %.2e, %d pixels within 1e-5 of the threshold skipped\n", inside,
                  worst, near);
    assert_true(inside > 5000);
    free(masks), free(pm);
}

static void test_mask_paste_hand(void **state) {
    (void)state;
    enum { S = 28, IH = 60, IW = 64 };
    float ones[S * S], rnd[S * S];
    rng_t r;
    rng_seed(&r, 5);
    for (int i = 0; i < S * S; i++) ones[i] = 1.0f, rnd[i] = rng_uniform(&r);
    /* a box of exactly 28 pixels on integer corners: pixel (10 + i, 20 + j) samples the map at (i, j) (up to float32
     * rounding of the grid coordinate) */
    float *pm = malloc(sizeof(float) * IH * IW);
    mask_head_paste_prob(rnd, S, (const float[]){10, 20, 38, 48}, IH, IW, pm);
    for (int y = 0; y < IH; y++)
        for (int x = 0; x < IW; x++) {
            float want = x >= 10 && x < 38 && y >= 20 && y < 48 ? rnd[(y - 20) * S + x - 10] : 0.0f;
            assert_true(fabsf(pm[y * IW + x] - want) < 1e-5f);
        }
    /* all ones in (10.3, 10.3, 38.3, 38.3) (boxes (20.6, ..) / scale 2): column 10 samples x = -0.3 (weight 0.7),
     * 11..37 inside, 38 at 27.7 (weight 0.3): the mask is [10, 37]^2 without the corner (10, 10) (0.7 x 0.7 = 0.49) */
    uint8_t *m = malloc((size_t)2 * IH * IW);
    const float boxes[8] = {20.6f, 20.6f, 76.6f, 76.6f, 20, 40, 76, 96}, sf[4] = {2, 2, 2, 2};
    mask_head_paste(ones, 1, S, boxes, sf, IH, IW, 0.5f, m);
    int n1 = 0;
    for (int y = 0; y < IH; y++)
        for (int x = 0; x < IW; x++) {
            int want = x >= 10 && x <= 37 && y >= 10 && y <= 37 && !(x == 10 && y == 10);
            assert_int_equal(m[y * IW + x], want);
            n1 += m[y * IW + x];
        }
    assert_int_equal(n1, 28 * 28 - 1);
    /* the second: (10, 20, 38, 48) exactly, all ones -> exactly the box pixels; both at once, one after another */
    float two[2 * S * S];
    memcpy(two, ones, sizeof ones), memcpy(two + S * S, ones, sizeof ones);
    mask_head_paste(two, 2, S, boxes, sf, IH, IW, 0.5f, m);
    for (int y = 0; y < IH; y++)
        for (int x = 0; x < IW; x++) assert_int_equal(m[IH * IW + y * IW + x], x >= 10 && x < 38 && y >= 20 && y < 48);
    /* a degenerate box (x2 == x1): mmdet's infinite grid x becomes 0, the map's centre column; thr < 0: value * 255 */
    mask_head_paste_prob(ones, S, (const float[]){20, 20, 20, 48}, IH, IW, pm);
    assert_true(fabsf(pm[30 * IW + 19] - 1) < 1e-6f && fabsf(pm[30 * IW + 20] - 1) < 1e-6f && pm[30 * IW + 18] == 0.0f);
    mask_head_paste(two, 1, S, (const float[]){10, 20, 38, 48}, NULL, IH, IW, -1.0f, m);
    assert_int_equal(m[30 * IW + 15], 255), assert_int_equal(m[30 * IW + 9], 0);
    free(pm), free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mask_head_config), cmocka_unit_test(test_mask_head_fd),    cmocka_unit_test(test_mask_targets_hand),
        cmocka_unit_test(test_mask_loss_value),  cmocka_unit_test(test_mask_merge_probs), cmocka_unit_test(test_mask_paste_brute),
        cmocka_unit_test(test_mask_paste_hand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
