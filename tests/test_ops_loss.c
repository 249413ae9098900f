/* test_ops_loss.c - the dense-head losses of core/ops_loss.h (sigmoid focal, L1, smooth L1, GIoU, mmdet
 * softmax and sigmoid cross-entropy, mmseg pixel cross-entropy with ignore_index, mask cross-entropy):
 * finite-difference gradients for every loss under every reduction (none, mean over avg_factor, plain mean,
 * sum), with and without weights, with loss_weight, on inputs kept away from the kinks (|d| = 0 and beta for
 * the L1 losses, coordinate ties and zero overlap widths for GIoU); two losses on one input accumulate; and
 * small cases whose values and gradients are computed by hand in the comments. The goldens of these losses
 * (../shared/golden/heads: sigmoid_focal_loss, l1_loss, smooth_l1_loss_beta*, giou_loss, cross_entropy_*,
 * binary_cross_entropy_rpn, mask_cross_entropy) are checked by test_retinanet through golden_check. */
#include "fd_util.h"

#include "../core/ops_loss.h"

enum { L_FOCAL, L_L1, L_SL1, L_GIOU, L_CE, L_BCE, L_SEG, L_MASK };

/* one loss call; x is the prediction */
typedef struct {
    int kind, reduction;
    const int *labels;   /* focal, ce, bce, seg (label map), mask */
    const float *target; /* l1, sl1, giou, mask */
    const float *weight; /* per row (focal, giou, ce, bce), per element (l1, sl1), per class (seg) */
    float gamma, alpha, beta, eps, avg_factor, loss_weight;
    int ignore_index;
    float fd_h; /* the finite-difference step (relative to the leaf's rms); 0: fd_util's default */
} loss_cfg;

static tensor *loss_apply(graph *g, const loss_cfg *c, tensor *x) {
    switch (c->kind) {
    case L_FOCAL:
        return op_sigmoid_focal_loss(g, x, c->labels, c->weight, c->gamma, c->alpha, c->avg_factor, c->reduction, c->loss_weight);
    case L_L1: return op_l1_loss_ex(g, x, c->target, c->weight, c->avg_factor, c->reduction, c->loss_weight);
    case L_SL1: return op_smooth_l1_loss_ex(g, x, c->target, c->weight, c->beta, c->avg_factor, c->reduction, c->loss_weight);
    case L_GIOU: return op_giou_loss_ex(g, x, c->target, c->weight, c->eps, c->avg_factor, c->reduction, c->loss_weight);
    case L_CE: return op_cross_entropy_mmdet_ex(g, x, c->labels, c->weight, c->avg_factor, c->reduction, c->loss_weight);
    case L_BCE: return op_binary_cross_entropy_mmdet_ex(g, x, c->labels, c->weight, c->avg_factor, c->reduction, c->loss_weight);
    case L_SEG:
        return op_cross_entropy_seg_ex(g, x, c->labels, c->ignore_index, c->weight, c->avg_factor, c->reduction, c->loss_weight);
    case L_MASK: return op_mask_cross_entropy(g, x, c->target, c->labels, c->loss_weight);
    }
    fail_msg("unknown loss kind %d", c->kind);
    return NULL;
}

static int fwd_loss(graph *g, fd_case *c, tensor **out) {
    out[0] = loss_apply(g, c->user, c->leaf[0]);
    return 1;
}

/* two losses on the same input: their gradients must add up */
static int fwd_loss_pair(graph *g, fd_case *c, tensor **out) {
    const loss_cfg *p = c->user;
    out[0] = loss_apply(g, &p[0], c->leaf[0]);
    out[1] = loss_apply(g, &p[1], c->leaf[0]);
    return 2;
}

static const char *red_name(int r) { return r == LOSS_NONE ? "none" : r == LOSS_MEAN ? "mean" : "sum"; }

/* The reductions each loss is run under: (reduction, avg_factor, loss_weight). */
typedef struct {
    int reduction;
    float avg_factor, loss_weight;
} red_case;
static const red_case red_cases[] = {
    {LOSS_NONE, 0.0f, 1.0f}, {LOSS_NONE, 3.0f, 0.5f}, /* avg_factor has no effect without a mean */
    {LOSS_MEAN, 3.0f, 1.0f}, {LOSS_MEAN, 0.0f, 2.0f}, /* over avg_factor; plain mean */
    {LOSS_SUM, 0.0f, 1.0f},  {LOSS_SUM, 7.0f, 10.0f},
};
#define N_RED ((int)(sizeof red_cases / sizeof red_cases[0]))

/* FD with the weights and without, over every reduction of red_cases (with_reduction) or under base's own
 * reduction; x is the leaf */
static void fd_reductions(const char *what, loss_cfg base, tensor *x, const float *weight, int with_reduction) {
    int nr = with_reduction ? N_RED : 1;
    for (int w = 0; w < 2; w++)
        for (int k = 0; k < nr; k++) {
            loss_cfg c = base;
            c.weight = w ? weight : NULL;
            if (with_reduction) c.reduction = red_cases[k].reduction, c.avg_factor = red_cases[k].avg_factor;
            c.loss_weight = with_reduction ? red_cases[k].loss_weight : (w ? 2.5f : 1.0f);
            char name[160];
            snprintf(name, sizeof name, "%s %s%s avg %g lw %g", what, red_name(c.reduction), w && weight ? " weighted" : "", c.avg_factor,
                     c.loss_weight);
            fd_case f = fd_case_new(name, fwd_loss);
            f.user = &c;
            if (c.fd_h > 0) f.h = c.fd_h;
            fd_add(&f, x);
            fd_run(&f);
        }
}

static float *fvec(int64_t n) { return fd_pool_add(malloc(sizeof(float) * (n ? n : 1))); }
static int *ivec(int64_t n) { return fd_pool_add(malloc(sizeof(int) * (n ? n : 1))); }

/* positive weights with some zeros */
static float *weights(int64_t n) {
    float *w = fvec(n);
    for (int64_t i = 0; i < n; i++) w[i] = i % 4 == 1 ? 0.0f : 0.25f + 1.5f * rng_uniform(&fd_rng);
    return w;
}

/* ------------------------------------------------------------------------------------------------ */
/* finite differences                                                                                */

static void test_focal_fd(void **state) {
    (void)state;
    rng_seed(&fd_rng, 101);
    enum { n = 9, C = 4 };
    int *lab = ivec(n);
    for (int i = 0; i < n; i++) lab[i] = i % (C + 1); /* 0..C: C is the background (all-zero target row) */
    tensor *x = FD_LEAF(FD_ACT_GRAD, 2.0f, n, C);
    x->data[0] = 12.0f, x->data[1] = -12.0f, x->data[C] = 30.0f; /* saturated logits, both targets */
    float *w = weights(n);
    loss_cfg c = {.kind = L_FOCAL, .labels = lab, .gamma = 2.0f, .alpha = 0.25f};
    fd_reductions("focal gamma 2", c, x, w, 1);
    c.gamma = 1.5f, c.alpha = 0.6f, c.reduction = LOSS_MEAN, c.avg_factor = 3.0f; /* the pow path, another alpha */
    fd_reductions("focal gamma 1.5 alpha 0.6", c, x, w, 0);
    /* on a trainable parameter */
    tensor *p = FD_LEAF(FD_PARAM_TRAIN, 1.0f, n, C);
    c.gamma = 2.0f, c.alpha = 0.25f, c.reduction = LOSS_MEAN, c.avg_factor = 4.0f, c.loss_weight = 1.0f, c.weight = w;
    fd_case f = fd_case_new("focal on a parameter", fwd_loss);
    f.user = &c;
    fd_add(&f, p);
    fd_run(&f);
    fd_free_leaves();
}

/* target = pred + offset, |offset| one of mags * scale (away from the kinks), random sign */
static float *offset_target(const tensor *x, const float *mags, int nm, float scale) {
    float *t = fvec(x->n);
    for (int64_t i = 0; i < x->n; i++) {
        float m = mags[rng_below(&fd_rng, (uint32_t)nm)] * scale;
        t[i] = x->data[i] + (rng_uniform(&fd_rng) < 0.5f ? m : -m);
    }
    return t;
}

static void test_l1_fd(void **state) {
    (void)state;
    rng_seed(&fd_rng, 102);
    /* |d| >= 0.1 > the step (1e-2 of the leaf's rms ~ 1): never across |d| = 0 */
    const float mags[] = {0.1f, 0.3f, 0.7f, 1.5f};
    tensor *x = FD_LEAF(FD_ACT_GRAD, 1.0f, 6, 4);
    loss_cfg c = {.kind = L_L1, .target = offset_target(x, mags, 4, 1.0f)};
    fd_reductions("l1 (6, 4)", c, x, weights(x->n), 1);
    /* any shape: (2, 3, 5) */
    tensor *y = FD_LEAF(FD_ACT_GRAD, 1.0f, 2, 3, 5);
    loss_cfg d = {.kind = L_L1, .target = offset_target(y, mags, 4, 1.0f), .reduction = LOSS_MEAN};
    fd_reductions("l1 (2, 3, 5)", d, y, weights(y->n), 0);
    fd_free_leaves();
}

static void test_smooth_l1_fd(void **state) {
    (void)state;
    rng_seed(&fd_rng, 103);
    /* |d| / beta in both pieces and away from 1 by >= 0.3 beta (>= 0.033 for beta 0.11, more than the step) */
    const float mags[] = {0.2f, 0.5f, 0.7f, 1.4f, 2.0f, 3.0f};
    const float betas[] = {1.0f, 1.0f / 9.0f};
    for (int b = 0; b < 2; b++) {
        tensor *x = FD_LEAF(FD_ACT_GRAD, 1.0f, 7, 4);
        /* a step of 3e-3 (a directional step moves an element by up to ~3 steps) stays inside one piece */
        loss_cfg c = {.kind = L_SL1, .beta = betas[b], .target = offset_target(x, mags, 6, betas[b]), .fd_h = 3e-3f};
        char name[64];
        snprintf(name, sizeof name, "smooth l1 beta %.3g", betas[b]);
        fd_reductions(name, c, x, weights(x->n), 1);
    }
    fd_free_leaves();
}

/* |a - b| >= m */
static int apart(double a, double b, double m) { return fabs(a - b) >= m; }

static void test_giou_fd(void **state) {
    (void)state;
    rng_seed(&fd_rng, 104);
    /* crafted pairs: overlapping, pred inside target, target inside pred, disjoint in x, disjoint in x and y,
     * a wide flat pred across a tall target */
    const float P[6][4] = {{0.0f, 0.0f, 2.0f, 2.0f},  {1.0f, 1.0f, 2.0f, 3.0f}, {-1.0f, -2.0f, 3.0f, 2.0f},
                           {0.0f, 0.0f, 1.0f, 1.0f},  {0.0f, 0.0f, 1.0f, 1.0f}, {0.5f, 0.2f, 5.0f, 1.0f}};
    const float T[6][4] = {{1.0f, 0.5f, 3.0f, 3.5f},  {0.0f, 0.2f, 4.0f, 4.0f}, {0.0f, -1.0f, 1.5f, 0.5f},
                           {2.0f, 0.3f, 3.0f, 1.4f},  {1.5f, 2.0f, 2.5f, 3.5f}, {0.1f, 0.0f, 4.0f, 3.0f}};
    enum { NC = 6, NR = 10, N = NC + NR };
    tensor *x = FD_LEAF(FD_ACT_GRAD, 1.0f, N, 4);
    float *t = fvec(4 * N);
    memcpy(x->data, P, sizeof P);
    memcpy(t, T, sizeof T);
    /* random pairs, redrawn until every coordinate comparison and every overlap width is at least 0.25 from
     * its kink (the crafted pairs: at least 0.2); the step is 2e-3 of the leaf's rms (~3), about 0.006, and a
     * directional step moves a coordinate by up to ~3 steps */
    for (int i = NC; i < N; i++) {
        for (int tries = 0;; tries++) {
            assert_true(tries < 1000);
            float *p = x->data + 4 * i, *q = t + 4 * i;
            for (int k = 0; k < 2; k++) {
                q[k] = 4.0f * rng_uniform(&fd_rng), q[k + 2] = q[k] + 0.5f + 3.0f * rng_uniform(&fd_rng);
                p[k] = q[k] + 1.5f * rng_normal(&fd_rng), p[k + 2] = p[k] + 0.5f + 3.0f * rng_uniform(&fd_rng);
            }
            int ok = 1;
            for (int k = 0; k < 4; k++) ok &= apart(p[k], q[k], 0.25);
            for (int k = 0; k < 2; k++) {
                double wr = fmin(p[k + 2], q[k + 2]) - fmax(p[k], q[k]);
                ok &= apart(wr, 0.0, 0.25);
            }
            if (ok) break;
        }
    }
    loss_cfg c = {.kind = L_GIOU, .target = t, .eps = 1e-6f, .fd_h = 2e-3f};
    fd_reductions("giou", c, x, weights(N), 1);
    fd_free_leaves();
}

static void test_cross_entropy_mmdet_fd(void **state) {
    (void)state;
    rng_seed(&fd_rng, 105);
    enum { n = 8, K = 5 };
    int *lab = ivec(n);
    for (int i = 0; i < n; i++) lab[i] = (int)rng_below(&fd_rng, K);
    lab[0] = K - 1; /* the background class of a bbox head (C + 1 scores) is an ordinary label here */
    tensor *x = FD_LEAF(FD_ACT_GRAD, 2.0f, n, K);
    x->data[1] = 40.0f; /* a dominant logit: log-sum-exp must not overflow */
    loss_cfg c = {.kind = L_CE, .labels = lab};
    fd_reductions("cross entropy mmdet", c, x, weights(n), 1);
    fd_free_leaves();
}

static void test_binary_cross_entropy_mmdet_fd(void **state) {
    (void)state;
    rng_seed(&fd_rng, 106);
    /* C = 3: labels 0..2 set one channel, 3 (= C, background) and -1 give all-zero targets */
    enum { n = 7, C = 3 };
    int *lab = ivec(n);
    const int L[n] = {0, 1, 2, 3, -1, 2, 0};
    memcpy(lab, L, sizeof L);
    tensor *x = FD_LEAF(FD_ACT_GRAD, 2.0f, n, C);
    x->data[0] = -30.0f;
    loss_cfg c = {.kind = L_BCE, .labels = lab};
    fd_reductions("bce mmdet C 3", c, x, weights(n), 1);
    /* the RPN's form: C = 1, label 0 = object, 1 = background */
    enum { m = 6 };
    int *lab1 = ivec(m);
    for (int i = 0; i < m; i++) lab1[i] = i % 2;
    tensor *y = FD_LEAF(FD_ACT_GRAD, 2.0f, m, 1);
    loss_cfg d = {.kind = L_BCE, .labels = lab1, .reduction = LOSS_MEAN, .avg_factor = 2.0f};
    fd_reductions("bce mmdet C 1 (rpn)", d, y, weights(m), 0);
    fd_free_leaves();
}

static void test_cross_entropy_seg_fd(void **state) {
    (void)state;
    rng_seed(&fd_rng, 107);
    enum { N = 2, C = 3, H = 2, W = 4, P = N * H * W };
    int *lab = ivec(P);
    for (int q = 0; q < P; q++) lab[q] = q % 5 == 2 ? 255 : (int)rng_below(&fd_rng, C);
    tensor *x = FD_LEAF(FD_ACT_GRAD, 2.0f, N, C, H, W);
    float *cw = fvec(C);
    for (int k = 0; k < C; k++) cw[k] = 0.5f + (float)k * 0.4f;
    /* 48 values: the element checks cover all, the ignored pixels' (analytic 0) included */
    loss_cfg c = {.kind = L_SEG, .labels = lab, .ignore_index = 255};
    fd_reductions("seg cross entropy (class weights as weight)", c, x, cw, 1);
    /* another ignore index, inside no class range */
    int *lab2 = ivec(P);
    for (int q = 0; q < P; q++) lab2[q] = lab[q] == 255 ? -100 : lab[q];
    loss_cfg d = {.kind = L_SEG, .labels = lab2, .ignore_index = -100, .reduction = LOSS_MEAN};
    fd_reductions("seg cross entropy ignore -100", d, x, NULL, 0);
    fd_free_leaves();
}

static void test_mask_cross_entropy_fd(void **state) {
    (void)state;
    rng_seed(&fd_rng, 108);
    /* n = 2 rois, C = 3, 2 x 4 masks: 48 values, every element checked (the unselected channels: 0) */
    enum { n = 2, C = 3, S = 2, S2 = 4 };
    int *lab = ivec(n);
    const int L[n] = {2, 0};
    memcpy(lab, L, sizeof L);
    float *t = fvec(n * S * S2);
    for (int i = 0; i < n * S * S2; i++) t[i] = i % 3 == 0 ? 0.3f : (float)(i % 2); /* soft and hard targets */
    tensor *x = FD_LEAF(FD_ACT_GRAD, 2.0f, n, C, S, S2);
    loss_cfg c = {.kind = L_MASK, .labels = lab, .target = t};
    fd_reductions("mask cross entropy", c, x, NULL, 0);
    fd_free_leaves();
}

/* two losses on one input (focal + focal with other settings; giou + l1 on the same boxes): accumulation */
static void test_accumulate_fd(void **state) {
    (void)state;
    rng_seed(&fd_rng, 109);
    enum { n = 5, C = 3 };
    int *lab = ivec(n);
    for (int i = 0; i < n; i++) lab[i] = i % (C + 1);
    tensor *x = FD_LEAF(FD_ACT_GRAD, 1.5f, n, C);
    loss_cfg pf[2] = {{.kind = L_FOCAL, .labels = lab, .gamma = 2.0f, .alpha = 0.25f, .avg_factor = 2.0f, .reduction = LOSS_MEAN,
                       .loss_weight = 1.0f},
                      {.kind = L_BCE, .labels = lab, .reduction = LOSS_NONE, .loss_weight = 0.7f}};
    fd_case f = fd_case_new("focal + bce on one input", fwd_loss_pair);
    f.user = pf;
    fd_add(&f, x);
    fd_run(&f);
    tensor *b = FD_LEAF(FD_ACT_GRAD, 1.0f, 1, 4);
    const float bp[4] = {0.0f, 0.0f, 2.0f, 2.0f}, bt[4] = {1.0f, 0.5f, 3.0f, 3.5f};
    memcpy(b->data, bp, sizeof bp);
    loss_cfg pg[2] = {{.kind = L_GIOU, .target = bt, .eps = 1e-6f, .reduction = LOSS_MEAN, .loss_weight = 10.0f},
                      {.kind = L_L1, .target = bt, .reduction = LOSS_SUM, .loss_weight = 1.0f}};
    fd_case g = fd_case_new("giou + l1 on one box", fwd_loss_pair);
    g.user = pg;
    fd_add(&g, b);
    fd_run(&g);
    fd_free_leaves();
}

/* ------------------------------------------------------------------------------------------------ */
/* hand-computed values                                                                              */

static void near(double got, double want, double tol, const char *what) {
    if (!(fabs(got - want) <= tol * fmax(1.0, fabs(want))))
        fail_msg("%s: got %.9g, expected %.9g (tolerance %.1e)", what, got, want, tol);
}

/* x (shape) on a fresh graph, filled from v */
static tensor *input(graph *g, int ndim, const int *shape, const float *v) {
    tensor *t = tensor_new(g, ndim, shape, 1);
    memcpy(t->data, v, sizeof(float) * t->n);
    return t;
}

/* backward of a scalar loss with dL/dy = 1 */
static void backward_one(graph *g, tensor *y) {
    const float one = 1.0f;
    assert_int_equal(y->n, 1);
    loss_dot_seed(g, y, &one);
    graph_backward(g);
}

static const double LN2 = 0.69314718055994531, LN3 = 1.0986122886681098;

static void test_focal_hand(void **state) {
    (void)state;
    graph g;
    graph_init(&g, 1 << 20);
    /* x = 0 everywhere: p = 0.5, BCE = ln 2, pt = 0.5, pt^2 = 0.25.
     *   target 1: 0.25 * 0.25 * ln 2 = 0.0433217;  target 0: 0.75 * 0.25 * ln 2 = 0.1299651
     * rows: label 0 -> t (1, 0): 0.1732868; label 2 (= C, background) -> t (0, 0): 0.2599302.
     * weights (2, 0.5): 2 * 0.1732868 + 0.5 * 0.2599302 = 0.4765387; avg_factor 2, loss_weight 3:
     *   3 * 0.4765387 / 2 = 0.7148080.
     * de/dx at 0: target 1: a pt^2 (-(1-p) - 2 p BCE) = 0.0625 * (-0.5 - ln 2) = -0.0745717;
     *             target 0: a pt^2 (p + 2 (1-p) BCE) = 0.1875 * (0.5 + ln 2) = 0.2237151;
     * times weight * 3 / 2. */
    const float z[4] = {0, 0, 0, 0};
    const int lab[2] = {0, 2};
    const float w[2] = {2.0f, 0.5f};
    tensor *x = input(&g, 2, (int[]){2, 2}, z);
    tensor *y = op_sigmoid_focal_loss(&g, x, lab, w, 2.0f, 0.25f, 2.0f, LOSS_MEAN, 3.0f);
    const double e1 = 0.0625 * LN2, e0 = 0.1875 * LN2;
    near(y->data[0], 1.5 * (2 * (e1 + e0) + 0.5 * 2 * e0), 1e-6, "focal mean");
    backward_one(&g, y);
    const double d1 = 0.0625 * (-0.5 - LN2), d0 = 0.1875 * (0.5 + LN2);
    const double want[4] = {1.5 * 2 * d1, 1.5 * 2 * d0, 1.5 * 0.5 * d0, 1.5 * 0.5 * d0};
    for (int i = 0; i < 4; i++) near(x->grad[i], want[i], 1e-6, "focal gradient");
    /* none: (n, C) weighted, times loss_weight, not divided (avg_factor 2 has no effect) */
    graph_reset(&g);
    x = input(&g, 2, (int[]){2, 2}, z);
    y = op_sigmoid_focal_loss(&g, x, lab, w, 2.0f, 0.25f, 2.0f, LOSS_NONE, 3.0f);
    assert_int_equal(y->ndim, 2);
    assert_int_equal(y->shape[0], 2), assert_int_equal(y->shape[1], 2);
    near(y->data[0], 3 * 2 * e1, 1e-6, "focal none [0,0]");
    near(y->data[3], 3 * 0.5 * e0, 1e-6, "focal none [1,1]");
    /* plain mean (avg_factor 0) over n*C = 4 elements, no weight: (e1 + 3 e0) / 4 */
    graph_reset(&g);
    x = input(&g, 2, (int[]){2, 2}, z);
    y = op_sigmoid_focal_loss(&g, x, lab, NULL, 2.0f, 0.25f, 0.0f, LOSS_MEAN, 1.0f);
    near(y->data[0], (e1 + 3 * e0) / 4, 1e-6, "focal plain mean");
    /* saturated logits, label 0 of C = 1 (target 1) and label 1 (background):
     *   x = -30, t = 1: BCE = 30 + log1p(e^-30), pt = 1 - sigmoid(-30) ~ 1: 0.25 * 30 = 7.5
     *   x = 30,  t = 0: BCE ~ 30, pt = sigmoid(30) ~ 1: 0.75 * 30 = 22.5
     *   x = 30,  t = 1: BCE = log1p(e^-30) ~ 9.4e-14, pt ~ e^-30: ~ 0
     * gradients: x = -30, t = 1: 0.25 * (-(1 - p) - 2 p BCE) with p ~ 9.4e-14: -0.25;
     *            x = 30, t = 0: 0.75 * (p + 2 (1-p) BCE) ~ 0.75. No NaN or inf anywhere. */
    graph_reset(&g);
    const float big[3] = {-30.0f, 30.0f, 30.0f};
    const int lab3[3] = {0, 1, 0};
    x = input(&g, 2, (int[]){3, 1}, big);
    y = op_sigmoid_focal_loss(&g, x, lab3, NULL, 2.0f, 0.25f, 0.0f, LOSS_NONE, 1.0f);
    near(y->data[0], 7.5, 1e-6, "focal x -30 t 1");
    near(y->data[1], 22.5, 1e-6, "focal x 30 t 0");
    assert_true(y->data[2] >= 0 && y->data[2] < 1e-12);
    const float R[3] = {1, 1, 1};
    loss_dot_seed(&g, y, R);
    graph_backward(&g);
    near(x->grad[0], -0.25, 1e-6, "focal gradient x -30 t 1");
    near(x->grad[1], 0.75, 1e-6, "focal gradient x 30 t 0");
    assert_true(isfinite(x->grad[2]) && fabs(x->grad[2]) < 1e-12);
    graph_free(&g);
}

static void test_l1_hand(void **state) {
    (void)state;
    graph g;
    graph_init(&g, 1 << 20);
    /* pred (1, 2, 3, 4), target (1.5, 2, 0, 4.25), weight (1, 1, 2, 0):
     *   |d| = (0.5, 0, 3, 0.25), weighted (0.5, 0, 6, 0): sum 6.5
     *   mean over avg_factor 2, loss_weight 2: 6.5; plain mean: 6.5 / 4 = 1.625; sum: 6.5
     * gradient (mean, avg 2, lw 2: scale 1): sign(d) * w = (-1, 0 (d = 0: torch abs), 2, 0) */
    const float p[4] = {1, 2, 3, 4}, t[4] = {1.5f, 2, 0, 4.25f}, w[4] = {1, 1, 2, 0};
    tensor *x = input(&g, 2, (int[]){1, 4}, p);
    tensor *y = op_l1_loss_ex(&g, x, t, w, 2.0f, LOSS_MEAN, 2.0f);
    near(y->data[0], 6.5, 1e-6, "l1 mean avg 2 lw 2");
    backward_one(&g, y);
    const float want[4] = {-1, 0, 2, 0};
    for (int i = 0; i < 4; i++) near(x->grad[i], want[i], 1e-6, "l1 gradient");
    graph_reset(&g);
    x = input(&g, 2, (int[]){1, 4}, p);
    near(op_l1_loss(&g, x, t, w, 0.0f, 1.0f)->data[0], 1.625, 1e-6, "l1 plain mean");
    near(op_l1_loss_ex(&g, x, t, w, 5.0f, LOSS_SUM, 1.0f)->data[0], 6.5, 1e-6, "l1 sum (avg_factor ignored)");
    tensor *yn = op_l1_loss_ex(&g, x, t, NULL, 5.0f, LOSS_NONE, 2.0f);
    assert_int_equal(yn->ndim, 2);
    const float wn[4] = {1, 0, 6, 0.5f}; /* 2 |d| */
    for (int i = 0; i < 4; i++) near(yn->data[i], wn[i], 1e-6, "l1 none");
    graph_free(&g);
}

static void test_smooth_l1_hand(void **state) {
    (void)state;
    graph g;
    graph_init(&g, 1 << 20);
    /* beta 1, d = pred - target = (0.5, -2, 1, 0):
     *   0.5 < 1: 0.5 * 0.25 / 1 = 0.125;  2: 2 - 0.5 = 1.5;  1 (= beta, not < beta): 1 - 0.5 = 0.5;  0: 0
     *   sum 2.125, mean over avg_factor 2: 1.0625
     * gradient / (1/2): (0.5, -1, 1, 0) */
    const float p[4] = {0.5f, -1.0f, 2.0f, 3.0f}, t[4] = {0.0f, 1.0f, 1.0f, 3.0f};
    tensor *x = input(&g, 2, (int[]){1, 4}, p);
    tensor *y = op_smooth_l1_loss(&g, x, t, NULL, 1.0f, 2.0f, 1.0f);
    near(y->data[0], 1.0625, 1e-6, "smooth l1 beta 1");
    backward_one(&g, y);
    const float want[4] = {0.25f, -0.5f, 0.5f, 0.0f};
    for (int i = 0; i < 4; i++) near(x->grad[i], want[i], 1e-6, "smooth l1 gradient");
    /* beta 0.5, d = 0.25: 0.5 * 0.0625 / 0.5 = 0.0625, gradient d / beta = 0.5; d = -0.75: 0.75 - 0.25 = 0.5,
     * gradient -1; none with loss_weight 4 and weight (1, 0.5): (0.25, 1) */
    graph_reset(&g);
    const float p2[2] = {0.25f, 0.0f}, t2[2] = {0.0f, 0.75f}, w2[2] = {1.0f, 0.5f};
    x = input(&g, 1, (int[]){2}, p2);
    y = op_smooth_l1_loss_ex(&g, x, t2, w2, 0.5f, 0.0f, LOSS_NONE, 4.0f);
    near(y->data[0], 0.25, 1e-6, "smooth l1 beta 0.5 quadratic");
    near(y->data[1], 1.0, 1e-6, "smooth l1 beta 0.5 linear");
    const float R[2] = {1, 1};
    loss_dot_seed(&g, y, R);
    graph_backward(&g);
    near(x->grad[0], 4 * 0.5, 1e-6, "smooth l1 beta 0.5 gradient (quadratic)");
    near(x->grad[1], 4 * 0.5 * -1.0, 1e-6, "smooth l1 beta 0.5 gradient (linear)");
    graph_free(&g);
}

static void test_giou_hand(void **state) {
    (void)state;
    graph g;
    graph_init(&g, 1 << 20);
    /* row 0: pred (0, 0, 2, 2), target (1, 1, 3, 3): overlap 1, union 4 + 4 - 1 = 7, enclose 3 x 3 = 9,
     *   giou = 1/7 - (9 - 7)/9 = -0.0793651, loss 1.0793651.
     *   d loss / d x2 (pred x2 = 2 < 3: overlap width and area1 move, the enclosure does not):
     *   d overlap = 1 (height 1), d area1 = 2, d union = 2 - 1 = 1, d iou = (1 * 7 - 1 * 1) / 49 = 6/49,
     *   d giou = d iou + d union / enclose = 6/49 + 1/9, so d loss / d x2 = -(6/49 + 1/9) = -0.2335601;
     *   by symmetry d loss / d y2 is the same.
     *   d loss / d x1 (pred x1 = 0 < 1: the overlap does not move, area1 and the enclosure do):
     *   d area1 = -2, d union = -2, d iou = -1 * (-2) / 49 = 2/49, enclose = (3 - x1) * 3: d enclose = -3,
     *   giou = iou - 1 + union / enclose: d = 2/49 + (-2 * 9 - 7 * (-3)) / 81 = 2/49 + 3/81,
     *   d loss / d x1 = -(2/49 + 1/27) = -0.0778609.
     * row 1: identical boxes: giou 1, loss 0.
     * row 2: pred (0, 0, 1, 1), target (2, 2, 3, 3): overlap 0, union 2, enclose 9: loss 1 + 7/9 = 1.7777778.
     * weights (1, 1, 0.5), avg_factor 2, loss_weight 10: 10 * (1.0793651 + 0 + 0.8888889) / 2 = 9.8412698 */
    const float p[12] = {0, 0, 2, 2, 1, 1, 4, 5, 0, 0, 1, 1}, t[12] = {1, 1, 3, 3, 1, 1, 4, 5, 2, 2, 3, 3};
    const float w[3] = {1, 1, 0.5f};
    tensor *x = input(&g, 2, (int[]){3, 4}, p);
    tensor *y = op_giou_loss_ex(&g, x, t, w, 1e-6f, 2.0f, LOSS_NONE, 1.0f);
    near(y->data[0], 1.0 + 2.0 / 9.0 - 1.0 / 7.0, 1e-6, "giou overlapping");
    near(y->data[1], 0.0, 1e-6, "giou identical");
    near(y->data[2], 0.5 * (1.0 + 7.0 / 9.0), 1e-6, "giou disjoint (weight 0.5)");
    graph_reset(&g);
    x = input(&g, 2, (int[]){3, 4}, p);
    y = op_giou_loss(&g, x, t, w, 1e-6f, 2.0f, 10.0f);
    near(y->data[0], 5.0 * (1.0 + 2.0 / 9.0 - 1.0 / 7.0 + 0.5 * (1.0 + 7.0 / 9.0)), 1e-6, "giou mean");
    backward_one(&g, y);
    near(x->grad[2], 5.0 * -(6.0 / 49 + 1.0 / 9), 1e-5, "giou d/dx2");
    near(x->grad[3], 5.0 * -(6.0 / 49 + 1.0 / 9), 1e-5, "giou d/dy2");
    near(x->grad[0], 5.0 * -(2.0 / 49 + 1.0 / 27), 1e-5, "giou d/dx1");
    near(x->grad[1], 5.0 * -(2.0 / 49 + 1.0 / 27), 1e-5, "giou d/dy1");
    /* zero-area pred and target: union and enclose clamp to eps, overlap 0: giou = 0 - (eps - eps)/eps = 0,
     * loss 1, finite */
    graph_reset(&g);
    const float pz[4] = {1, 1, 1, 1}, tz[4] = {1, 1, 1, 1};
    x = input(&g, 2, (int[]){1, 4}, pz);
    y = op_giou_loss(&g, x, tz, NULL, 1e-6f, 0.0f, 1.0f);
    near(y->data[0], 1.0, 1e-6, "giou zero-area pair");
    backward_one(&g, y);
    for (int i = 0; i < 4; i++) assert_true(isfinite(x->grad[i]));
    graph_free(&g);
}

static void test_cross_entropy_mmdet_hand(void **state) {
    (void)state;
    graph g;
    graph_init(&g, 1 << 20);
    /* row 0: scores (0, 0, 0), label 1: ln 3 = 1.0986123, gradient softmax - onehot = (1/3, -2/3, 1/3)
     * row 1: scores (0, ln 2, ln 3): softmax (1/6, 2/6, 3/6), label 2: -ln(1/2) = ln 2, gradient (1/6, 1/3, -1/2)
     * weights (1, 3), avg_factor 2 (= #(w > 0)): (ln 3 + 3 ln 2) / 2 = 1.5890269 */
    const float s[6] = {0, 0, 0, 0, (float)LN2, (float)LN3};
    const int lab[2] = {1, 2};
    const float w[2] = {1, 3};
    tensor *x = input(&g, 2, (int[]){2, 3}, s);
    tensor *y = op_cross_entropy_mmdet(&g, x, lab, w, 2.0f, 1.0f);
    near(y->data[0], (LN3 + 3 * LN2) / 2, 1e-6, "ce mmdet");
    backward_one(&g, y);
    const double want[6] = {1.0 / 6, -1.0 / 3, 1.0 / 6, 3.0 / 12, 3.0 / 6, -3.0 / 4};
    for (int i = 0; i < 6; i++) near(x->grad[i], want[i], 1e-6, "ce mmdet gradient");
    graph_reset(&g);
    x = input(&g, 2, (int[]){2, 3}, s);
    tensor *yn = op_cross_entropy_mmdet_ex(&g, x, lab, w, 2.0f, LOSS_NONE, 1.0f);
    assert_int_equal(yn->ndim, 1), assert_int_equal(yn->shape[0], 2);
    near(yn->data[0], LN3, 1e-6, "ce mmdet none row 0");
    near(yn->data[1], 3 * LN2, 1e-6, "ce mmdet none row 1");
    /* plain mean over n = 2 rows, no weight: (ln 3 + ln 2) / 2 */
    near(op_cross_entropy_mmdet(&g, x, lab, NULL, 0.0f, 1.0f)->data[0], (LN3 + LN2) / 2, 1e-6, "ce mmdet plain mean");
    /* a dominant logit: scores (1000, 0), label 1: lse = 1000 + log1p(e^-1000) = 1000, loss 1000 */
    graph_reset(&g);
    const float big[2] = {1000.0f, 0.0f};
    const int lb[1] = {1};
    x = input(&g, 2, (int[]){1, 2}, big);
    near(op_cross_entropy_mmdet(&g, x, lb, NULL, 0.0f, 1.0f)->data[0], 1000.0, 1e-6, "ce mmdet large logit");
    graph_free(&g);
}

static void test_binary_cross_entropy_mmdet_hand(void **state) {
    (void)state;
    graph g;
    graph_init(&g, 1 << 20);
    /* C = 1 (RPN): pred (ln 3, ln 3, 0), labels (0 -> target 1, 1 -> target 0, 0 -> target 1):
     *   sigmoid(ln 3) = 3/4: -ln(3/4) = 0.2876821; -ln(1/4) = 1.3862944; x = 0: ln 2
     *   weights (1, 2, 1), avg_factor 4: (0.2876821 + 2 * 1.3862944 + 0.6931472) / 4 = 0.9383545
     * gradient (p - t) * w / 4 = (-1/16, 2 * 3/16, -1/8) */
    const float p[3] = {(float)LN3, (float)LN3, 0};
    const int lab[3] = {0, 1, 0};
    const float w[3] = {1, 2, 1};
    tensor *x = input(&g, 2, (int[]){3, 1}, p);
    tensor *y = op_binary_cross_entropy_mmdet(&g, x, lab, w, 4.0f, 1.0f);
    near(y->data[0], (log(4.0 / 3) + 2 * log(4.0) + LN2) / 4, 1e-6, "bce mmdet");
    backward_one(&g, y);
    const double want[3] = {-1.0 / 16, 6.0 / 16, -1.0 / 8};
    for (int i = 0; i < 3; i++) near(x->grad[i], want[i], 1e-6, "bce mmdet gradient");
    /* C = 2, label 1 -> (0, 1), label 2 (background) -> (0, 0), label -1 -> (0, 0); x = 0: every element ln 2;
     * plain mean over n*C = 6 elements: ln 2; none: (3, 2) of ln 2 */
    graph_reset(&g);
    const float z[6] = {0, 0, 0, 0, 0, 0};
    const int lab2[3] = {1, 2, -1};
    x = input(&g, 2, (int[]){3, 2}, z);
    y = op_binary_cross_entropy_mmdet(&g, x, lab2, NULL, 0.0f, 1.0f);
    near(y->data[0], LN2, 1e-6, "bce mmdet plain mean");
    backward_one(&g, y);
    const double want2[6] = {0.5 / 6, -0.5 / 6, 0.5 / 6, 0.5 / 6, 0.5 / 6, 0.5 / 6};
    for (int i = 0; i < 6; i++) near(x->grad[i], want2[i], 1e-6, "bce mmdet one-hot gradient");
    graph_free(&g);
}

static void test_cross_entropy_seg_hand(void **state) {
    (void)state;
    graph g;
    graph_init(&g, 1 << 20);
    /* N = 1, C = 2, H = 1, W = 3; pixel logits (0, 0), (5, -5), (0, ln 3); labels (0, 255, 1):
     *   pixel 0: ln 2; pixel 1 ignored: 0; pixel 2: softmax (1/4, 3/4), -ln(3/4) = 0.2876821
     *   mean over all 3 pixels (the ignored one counts): (ln 2 + 0.2876821) / 3 = 0.3269431
     *   class weights (2, 0.5): (2 ln 2 + 0.5 * 0.2876821) / 3 = 0.5100450 (the divisor stays 3)
     * gradient (no class weight) / 3: pixel 0 (1/2 - 1, 1/2) = (-1/2, 1/2); pixel 1 (0, 0);
     *   pixel 2 (1/4, 3/4 - 1) = (1/4, -1/4); layout (c, w): c0 = (-1/6, 0, 1/12), c1 = (1/6, 0, -1/12) */
    const float p[6] = {0, 5, 0, 0, -5, (float)LN3};
    const int lab[3] = {0, 255, 1};
    tensor *x = input(&g, 4, (int[]){1, 2, 1, 3}, p);
    tensor *y = op_cross_entropy_seg(&g, x, lab, 255, NULL, 1.0f);
    near(y->data[0], (LN2 + log(4.0 / 3)) / 3, 1e-6, "seg ce");
    backward_one(&g, y);
    const double want[6] = {-1.0 / 6, 0, 1.0 / 12, 1.0 / 6, 0, -1.0 / 12};
    for (int i = 0; i < 6; i++) near(x->grad[i], want[i], 1e-6, "seg ce gradient");
    assert_true(x->grad[1] == 0.0f && x->grad[4] == 0.0f); /* exactly 0 at the ignored pixel */
    graph_reset(&g);
    x = input(&g, 4, (int[]){1, 2, 1, 3}, p);
    const float cw[2] = {2.0f, 0.5f};
    near(op_cross_entropy_seg(&g, x, lab, 255, cw, 1.0f)->data[0], (2 * LN2 + 0.5 * log(4.0 / 3)) / 3, 1e-6, "seg ce class weight");
    /* loss_weight 0.4 (the auxiliary head) and avg_factor 2 replacing the pixel count */
    near(op_cross_entropy_seg_ex(&g, x, lab, 255, NULL, 2.0f, LOSS_MEAN, 0.4f)->data[0], 0.4 * (LN2 + log(4.0 / 3)) / 2, 1e-6,
         "seg ce avg_factor");
    tensor *yn = op_cross_entropy_seg_ex(&g, x, lab, 255, cw, 0.0f, LOSS_NONE, 1.0f);
    assert_int_equal(yn->ndim, 3);
    assert_int_equal(yn->shape[0], 1), assert_int_equal(yn->shape[1], 1), assert_int_equal(yn->shape[2], 3);
    near(yn->data[0], 2 * LN2, 1e-6, "seg ce none pixel 0");
    near(yn->data[1], 0.0, 0, "seg ce none ignored pixel");
    near(yn->data[2], 0.5 * log(4.0 / 3), 1e-6, "seg ce none pixel 2");
    near(op_cross_entropy_seg_ex(&g, x, lab, 255, NULL, 0.0f, LOSS_SUM, 1.0f)->data[0], LN2 + log(4.0 / 3), 1e-6, "seg ce sum");
    graph_free(&g);
}

static void test_mask_cross_entropy_hand(void **state) {
    (void)state;
    graph g;
    graph_init(&g, 1 << 20);
    /* n = 1, C = 2, 1 x 2 masks, label 1: channel 1 = (0, ln 3) against targets (1, 0):
     *   BCE(0, 1) = ln 2, BCE(ln 3, 0) = -ln(1/4) = ln 4; mean over 2: (ln 2 + ln 4) / 2 = 1.5 ln 2 = 1.0397208
     * channel 0 (values 7, -7) does not enter: gradient 0 there; channel 1: (p - t) / 2 = (-1/4, 3/8) */
    const float p[4] = {7, -7, 0, (float)LN3}, t[2] = {1, 0};
    const int lab[1] = {1};
    tensor *x = input(&g, 4, (int[]){1, 2, 1, 2}, p);
    tensor *y = op_mask_cross_entropy(&g, x, t, lab, 1.0f);
    near(y->data[0], 1.5 * LN2, 1e-6, "mask ce");
    backward_one(&g, y);
    const double want[4] = {0, 0, -0.25, 0.375};
    for (int i = 0; i < 4; i++) near(x->grad[i], want[i], 1e-6, "mask ce gradient");
    assert_true(x->grad[0] == 0.0f && x->grad[1] == 0.0f);
    graph_free(&g);
}

/* an empty input: a mean over no element is 0, not NaN; a sum is 0 */
static void test_empty(void **state) {
    (void)state;
    graph g;
    graph_init(&g, 1 << 20);
    tensor *x = tensor_new(&g, 2, (int[]){0, 4}, 1);
    assert_true(op_l1_loss(&g, x, NULL, NULL, 0.0f, 1.0f)->data[0] == 0.0f);
    assert_true(op_giou_loss(&g, x, NULL, NULL, 1e-6f, 0.0f, 1.0f)->data[0] == 0.0f);
    tensor *s = tensor_new(&g, 2, (int[]){0, 3}, 1);
    assert_true(op_sigmoid_focal_loss(&g, s, NULL, NULL, 2.0f, 0.25f, 0.0f, LOSS_MEAN, 1.0f)->data[0] == 0.0f);
    assert_true(op_cross_entropy_mmdet(&g, s, NULL, NULL, 0.0f, 1.0f)->data[0] == 0.0f);
    assert_true(op_binary_cross_entropy_mmdet_ex(&g, s, NULL, NULL, 0.0f, LOSS_SUM, 1.0f)->data[0] == 0.0f);
    graph_free(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_focal_fd),
        cmocka_unit_test(test_l1_fd),
        cmocka_unit_test(test_smooth_l1_fd),
        cmocka_unit_test(test_giou_fd),
        cmocka_unit_test(test_cross_entropy_mmdet_fd),
        cmocka_unit_test(test_binary_cross_entropy_mmdet_fd),
        cmocka_unit_test(test_cross_entropy_seg_fd),
        cmocka_unit_test(test_mask_cross_entropy_fd),
        cmocka_unit_test(test_accumulate_fd),
        cmocka_unit_test(test_focal_hand),
        cmocka_unit_test(test_l1_hand),
        cmocka_unit_test(test_smooth_l1_hand),
        cmocka_unit_test(test_giou_hand),
        cmocka_unit_test(test_cross_entropy_mmdet_hand),
        cmocka_unit_test(test_binary_cross_entropy_mmdet_hand),
        cmocka_unit_test(test_cross_entropy_seg_hand),
        cmocka_unit_test(test_mask_cross_entropy_hand),
        cmocka_unit_test(test_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
