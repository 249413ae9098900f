/* ops_loss.c - forward and backward of the dense-head losses, side by side (see ops_loss.h for the
 * semantics and shapes). Each forward computes the weighted elementwise loss e_i in double and either
 * stores scale * e_i (LOSS_NONE) or accumulates it (LOSS_MEAN, LOSS_SUM); the backward recomputes what it
 * needs from pred and the caller's arrays (nothing is saved; the focal loss keeps its per-element derivative, which
 * costs the transcendentals), with the upstream gradient of e_i being
 * scale * dy[i] (LOSS_NONE) or scale * dy[0]. */
#include "ops_loss.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define NEEDS(t) ((t) != NULL && (t)->requires_grad)
/* loops over more elements than this run on the OpenMP threads */
#define PAR_MIN 8192

/* ------------------------------------------------------------------------------------------------ */
/* shared pieces                                                                                     */

/* sigmoid and BCE with logits, stable for any x */
static inline double sigmoid_d(double x) {
    double e = exp(-fabs(x));
    return x >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}
static inline double bce_logits(double x, double t) { return fmax(x, 0.0) - x * t + log1p(exp(-fabs(x))); }

/* the reduction of an op: scale = d(output)/d(e_i) */
typedef struct {
    int reduction;
    double scale;
} loss_red;

static loss_red red_make(int reduction, double avg_factor, int64_t count, float loss_weight) {
    DB_ASSERT(reduction == LOSS_NONE || reduction == LOSS_MEAN || reduction == LOSS_SUM, "reduction %d", reduction);
    loss_red r = {reduction, loss_weight};
    if (reduction == LOSS_MEAN) {
        double div = avg_factor > 0 ? avg_factor : (double)count;
        r.scale = div > 0 ? loss_weight / div : 0.0; /* an empty mean is 0 */
    }
    return r;
}

/* the output: (1), or the elementwise shape for LOSS_NONE */
static tensor *red_output(graph *g, const loss_red *r, int ndim, const int *shape, int requires_grad) {
    int one = 1;
    return r->reduction == LOSS_NONE ? tensor_new(g, ndim, shape, requires_grad) : tensor_new(g, 1, &one, requires_grad);
}

/* upstream gradient of e_i */
static inline double red_up(const loss_red *r, const tensor *y, int64_t i) {
    return r->scale * (r->reduction == LOSS_NONE ? y->grad[i] : y->grad[0]);
}

/* ------------------------------------------------------------------------------------------------ */
/* sigmoid focal loss: x (n, C), t = [labels_i == c], e = BCE(x, t) a_t pt^gamma w_i                   */
typedef struct {
    graph *g;
    tensor *x, *y;
    const float *dedx; /* w de/dx per element, computed by the forward (the transcendentals once a step) */
    loss_red r;
} focal_ctx;

/* e and de/dx for one element (w not applied), from one exp and one log1p:
 *   u = exp(-|x|), p = sigmoid(x), q = 1 - p = sigmoid(-x) (each from u without cancellation),
 *   BCE = max(x, 0) - x t + log1p(u), pt = t ? 1 - p : p, dpt/dx = (1 - 2t) pt (1 - pt), d BCE/dx = p - t, so
 *   de/dx = a_t pt^gamma [(p - t) + gamma BCE (1 - 2t)(1 - pt)] (no division by pt) */
static inline double focal_elem(double x, int t, double gamma, double alpha, double *dx) {
    double u = exp(-fabs(x)), r = 1.0 / (1.0 + u);
    double p = x >= 0 ? r : u * r, q = x >= 0 ? u * r : r;
    double pt = t ? q : p, at = t ? alpha : 1.0 - alpha;
    double b = fmax(x, 0.0) - x * t + log1p(u), pg = gamma == 2.0 ? pt * pt : pow(pt, gamma);
    if (dx) *dx = t ? at * pg * (-q - gamma * b * p) : at * pg * (p + gamma * b * q);
    return b * at * pg;
}

static void focal_bwd(void *p) {
    focal_ctx *c = p;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad, c->dedx);
    int64_t n = c->x->n;
    float *dx = tensor_grad(c->g, c->x);
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (int64_t j = 0; j < n; j++) dx[j] += (float)(red_up(&c->r, c->y, j) * c->dedx[j]);
}

tensor *op_sigmoid_focal_loss(graph *g, tensor *pred, const int *labels, const float *weight, float gamma, float alpha,
                              float avg_factor, int reduction, float loss_weight) {
    GRAPH_OP(g, pred);
    GRAPH_USE(g, weight);
    DB_ASSERT(pred->ndim == 2, "sigmoid_focal_loss: pred must be (n, C)");
    int64_t n = pred->shape[0];
    int C = pred->shape[1];
    for (int64_t i = 0; i < n; i++)
        DB_ASSERT(labels[i] >= 0 && labels[i] <= C, "sigmoid_focal_loss: label %d of row %lld outside [0, %d]", labels[i],
                  (long long)i, C);
    loss_red r = red_make(reduction, avg_factor, n * C, loss_weight);
    tensor *y = red_output(g, &r, 2, pred->shape, NEEDS(pred));
    float *dedx = y->requires_grad ? graph_alloc(g, sizeof(float) * (size_t)(n * C)) : NULL;
    double s = 0;
#pragma omp parallel for reduction(+ : s) schedule(static) if (n * C > PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        double w = weight ? weight[i] : 1.0;
        for (int k = 0; k < C; k++) {
            double d, e = w * focal_elem(pred->data[i * C + k], labels[i] == k, gamma, alpha, dedx ? &d : NULL);
            if (dedx) dedx[i * C + k] = (float)(w * d);
            if (r.reduction == LOSS_NONE) y->data[i * C + k] = (float)(r.scale * e);
            else s += e;
        }
    }
    if (r.reduction != LOSS_NONE) y->data[0] = (float)(r.scale * s);
    if (y->requires_grad) {
        focal_ctx *c = graph_push(g, focal_bwd, sizeof *c);
        *c = (focal_ctx){g, pred, y, dedx, r};
    }
    return y;
}

/* ------------------------------------------------------------------------------------------------ */
/* L1 and smooth L1: d = pred - target (any shape), e = f(|d|) w                                       */
typedef struct {
    graph *g;
    tensor *x, *y;
    const float *target, *weight;
    double beta; /* 0: L1 */
    loss_red r;
} l1_ctx;

/* f(|d|) and df/dd; beta 0 is L1 (sign(0) = 0 as torch's abs backward) */
static inline double l1_elem(double d, double beta, double *dd) {
    double a = fabs(d), sg = d > 0 ? 1.0 : (d < 0 ? -1.0 : 0.0);
    if (beta > 0 && a < beta) {
        *dd = d / beta;
        return 0.5 * a * a / beta;
    }
    *dd = sg;
    return beta > 0 ? a - 0.5 * beta : a;
}

static void l1_bwd(void *p) {
    l1_ctx *c = p;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad, c->x->data, c->target, c->weight);
    int64_t n = c->x->n;
    float *dx = tensor_grad(c->g, c->x);
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        double d;
        l1_elem((double)c->x->data[i] - c->target[i], c->beta, &d);
        dx[i] += (float)(red_up(&c->r, c->y, i) * (c->weight ? c->weight[i] : 1.0) * d);
    }
}

static tensor *l1_common(graph *g, tensor *pred, const float *target, const float *weight, double beta, float avg_factor,
                         int reduction, float loss_weight) {
    GRAPH_USE(g, target, weight);
    int64_t n = pred->n;
    loss_red r = red_make(reduction, avg_factor, n, loss_weight);
    tensor *y = red_output(g, &r, pred->ndim, pred->shape, NEEDS(pred));
    double s = 0;
#pragma omp parallel for reduction(+ : s) schedule(static) if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        double d, e = l1_elem((double)pred->data[i] - target[i], beta, &d) * (weight ? weight[i] : 1.0);
        if (r.reduction == LOSS_NONE) y->data[i] = (float)(r.scale * e);
        else s += e;
    }
    if (r.reduction != LOSS_NONE) y->data[0] = (float)(r.scale * s);
    if (y->requires_grad) {
        l1_ctx *c = graph_push(g, l1_bwd, sizeof *c);
        *c = (l1_ctx){g, pred, y, target, weight, beta, r};
    }
    return y;
}

tensor *op_l1_loss_ex(graph *g, tensor *pred, const float *target, const float *weight, float avg_factor, int reduction,
                      float loss_weight) {
    GRAPH_OP(g, pred);
    return l1_common(g, pred, target, weight, 0.0, avg_factor, reduction, loss_weight);
}
tensor *op_l1_loss(graph *g, tensor *pred, const float *target, const float *weight, float avg_factor, float loss_weight) {
    return op_l1_loss_ex(g, pred, target, weight, avg_factor, LOSS_MEAN, loss_weight);
}

tensor *op_smooth_l1_loss_ex(graph *g, tensor *pred, const float *target, const float *weight, float beta,
                             float avg_factor, int reduction, float loss_weight) {
    GRAPH_OP(g, pred);
    DB_ASSERT(beta > 0, "smooth_l1_loss: beta %g must be > 0", beta);
    return l1_common(g, pred, target, weight, beta, avg_factor, reduction, loss_weight);
}
tensor *op_smooth_l1_loss(graph *g, tensor *pred, const float *target, const float *weight, float beta, float avg_factor,
                          float loss_weight) {
    return op_smooth_l1_loss_ex(g, pred, target, weight, beta, avg_factor, LOSS_MEAN, loss_weight);
}

/* ------------------------------------------------------------------------------------------------ */
/* GIoU: pred, target (n, 4) x1y1x2y2 -> e_i = (1 - giou_i) w_i                                         */
typedef struct {
    graph *g;
    tensor *x, *y;
    const float *target, *weight;
    double eps;
    loss_red r;
} giou_ctx;

/* torch's gradient share of a in max(a, b) / min(a, b): 1 if a wins, 1/2 on a tie, 0 if b wins */
static inline double max_share(double a, double b) { return a > b ? 1.0 : (a == b ? 0.5 : 0.0); }
static inline double min_share(double a, double b) { return a < b ? 1.0 : (a == b ? 0.5 : 0.0); }

/* 1 - giou of one pair, in mmdet's operation order; with dp, dp[0..3] += G * d(1 - giou)/dp */
static double giou_elem(const float *pf, const float *tf, double eps, double G, float *dp) {
    double p[4], t[4];
    for (int k = 0; k < 4; k++) p[k] = pf[k], t[k] = tf[k];
    double pw = p[2] - p[0], ph = p[3] - p[1], area1 = pw * ph;
    double area2 = (t[2] - t[0]) * (t[3] - t[1]);
    double lt[2] = {fmax(p[0], t[0]), fmax(p[1], t[1])}, rb[2] = {fmin(p[2], t[2]), fmin(p[3], t[3])};
    double wr[2] = {rb[0] - lt[0], rb[1] - lt[1]}; /* before the clamp */
    double wh[2] = {fmax(wr[0], 0.0), fmax(wr[1], 0.0)};
    double overlap = wh[0] * wh[1];
    double union0 = area1 + area2 - overlap, uni = fmax(union0, eps);
    double iou = overlap / uni;
    double el[2] = {fmin(p[0], t[0]), fmin(p[1], t[1])}, er[2] = {fmax(p[2], t[2]), fmax(p[3], t[3])};
    double er_raw[2] = {er[0] - el[0], er[1] - el[1]};
    double ewh[2] = {fmax(er_raw[0], 0.0), fmax(er_raw[1], 0.0)};
    double enc0 = ewh[0] * ewh[1], enc = fmax(enc0, eps);
    double giou = iou - (enc - uni) / enc;
    if (dp) {
        double dg = -G; /* d/dgiou */
        double d_overlap = dg / uni;
        double d_uni = dg * (1.0 / enc - overlap / (uni * uni));
        double d_enc = dg * (-uni / (enc * enc));
        double d_union0 = d_uni * max_share(union0, eps), d_enc0 = d_enc * max_share(enc0, eps);
        d_overlap -= d_union0; /* union0 = area1 + area2 - overlap */
        double d_area1 = d_union0;
        /* overlap = wh0 * wh1, clamp(min=0) passes the gradient where the argument is >= 0 */
        double d_wr[2] = {wr[0] >= 0 ? d_overlap * wh[1] : 0.0, wr[1] >= 0 ? d_overlap * wh[0] : 0.0};
        double d_er[2] = {er_raw[0] >= 0 ? d_enc0 * ewh[1] : 0.0, er_raw[1] >= 0 ? d_enc0 * ewh[0] : 0.0};
        for (int a = 0; a < 2; a++) {
            /* wr = min(p2, t2) - max(p1, t1); er_raw = max(p2, t2) - min(p1, t1) */
            double d1 = -d_wr[a] * max_share(p[a], t[a]) - d_er[a] * min_share(p[a], t[a]);
            double d2 = d_wr[a] * min_share(p[a + 2], t[a + 2]) + d_er[a] * max_share(p[a + 2], t[a + 2]);
            /* area1 = (p2 - p0) (p3 - p1) */
            double other = a == 0 ? ph : pw;
            d1 -= d_area1 * other;
            d2 += d_area1 * other;
            dp[a] += (float)d1;
            dp[a + 2] += (float)d2;
        }
    }
    return 1.0 - giou;
}

static void giou_bwd(void *p) {
    giou_ctx *c = p;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad, c->x->data, c->target, c->weight);
    int64_t n = c->x->shape[0];
    float *dx = tensor_grad(c->g, c->x);
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        double G = red_up(&c->r, c->y, i) * (c->weight ? c->weight[i] : 1.0);
        giou_elem(c->x->data + i * 4, c->target + i * 4, c->eps, G, dx + i * 4);
    }
}

tensor *op_giou_loss_ex(graph *g, tensor *pred, const float *target, const float *weight, float eps, float avg_factor,
                        int reduction, float loss_weight) {
    GRAPH_OP(g, pred);
    GRAPH_USE(g, target, weight);
    DB_ASSERT(pred->ndim == 2 && pred->shape[1] == 4, "giou_loss: pred must be (n, 4)");
    int64_t n = pred->shape[0];
    loss_red r = red_make(reduction, avg_factor, n, loss_weight);
    tensor *y = red_output(g, &r, 1, pred->shape, NEEDS(pred));
    double s = 0;
#pragma omp parallel for reduction(+ : s) schedule(static) if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        double e = giou_elem(pred->data + i * 4, target + i * 4, eps, 0.0, NULL) * (weight ? weight[i] : 1.0);
        if (r.reduction == LOSS_NONE) y->data[i] = (float)(r.scale * e);
        else s += e;
    }
    if (r.reduction != LOSS_NONE) y->data[0] = (float)(r.scale * s);
    if (y->requires_grad) {
        giou_ctx *c = graph_push(g, giou_bwd, sizeof *c);
        *c = (giou_ctx){g, pred, y, target, weight, eps, r};
    }
    return y;
}
tensor *op_giou_loss(graph *g, tensor *pred, const float *target, const float *weight, float eps, float avg_factor,
                     float loss_weight) {
    return op_giou_loss_ex(g, pred, target, weight, eps, avg_factor, LOSS_MEAN, loss_weight);
}

/* ------------------------------------------------------------------------------------------------ */
/* softmax cross-entropy over K values at a stride (rows of mmdet scores: stride 1; mmseg pixels:
 * stride H*W): e = -log_softmax(z)[y] = lse(z) - z[y]                                                 */
static double lse_strided(const float *z, int K, int64_t stride) {
    double mx = z[0];
    for (int k = 1; k < K; k++) mx = fmax(mx, (double)z[k * stride]);
    double s = 0;
    for (int k = 0; k < K; k++) s += exp((double)z[k * stride] - mx);
    return mx + log(s);
}
/* dz[k] += G (softmax(z)[k] - [k == y]) */
static void softmax_ce_grad(const float *z, int K, int64_t stride, int y, double G, float *dz) {
    double lse = lse_strided(z, K, stride);
    for (int k = 0; k < K; k++) dz[k * stride] += (float)(G * (exp((double)z[k * stride] - lse) - (k == y ? 1.0 : 0.0)));
}

typedef struct {
    graph *g;
    tensor *x, *y;
    const int *labels;
    const float *weight;
    loss_red r;
} cedet_ctx;

static void cedet_bwd(void *p) {
    cedet_ctx *c = p;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad, c->x->data, c->weight);
    int64_t n = c->x->shape[0];
    int K = c->x->shape[1];
    float *dx = tensor_grad(c->g, c->x);
#pragma omp parallel for schedule(static) if (n * K > PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        double G = red_up(&c->r, c->y, i) * (c->weight ? c->weight[i] : 1.0);
        softmax_ce_grad(c->x->data + i * K, K, 1, c->labels[i], G, dx + i * K);
    }
}

tensor *op_cross_entropy_mmdet_ex(graph *g, tensor *score, const int *labels, const float *weight, float avg_factor,
                                  int reduction, float loss_weight) {
    GRAPH_OP(g, score);
    GRAPH_USE(g, weight);
    DB_ASSERT(score->ndim == 2, "cross_entropy_mmdet: score must be (n, K)");
    int64_t n = score->shape[0];
    int K = score->shape[1];
    for (int64_t i = 0; i < n; i++)
        DB_ASSERT(labels[i] >= 0 && labels[i] < K, "cross_entropy_mmdet: label %d of row %lld outside [0, %d)", labels[i],
                  (long long)i, K);
    loss_red r = red_make(reduction, avg_factor, n, loss_weight);
    tensor *y = red_output(g, &r, 1, score->shape, NEEDS(score));
    double s = 0;
#pragma omp parallel for reduction(+ : s) schedule(static) if (n * K > PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        const float *z = score->data + i * K;
        double e = (lse_strided(z, K, 1) - z[labels[i]]) * (weight ? weight[i] : 1.0);
        if (r.reduction == LOSS_NONE) y->data[i] = (float)(r.scale * e);
        else s += e;
    }
    if (r.reduction != LOSS_NONE) y->data[0] = (float)(r.scale * s);
    if (y->requires_grad) {
        cedet_ctx *c = graph_push(g, cedet_bwd, sizeof *c);
        *c = (cedet_ctx){g, score, y, labels, weight, r};
    }
    return y;
}
tensor *op_cross_entropy_mmdet(graph *g, tensor *score, const int *labels, const float *weight, float avg_factor,
                               float loss_weight) {
    return op_cross_entropy_mmdet_ex(g, score, labels, weight, avg_factor, LOSS_MEAN, loss_weight);
}

/* ------------------------------------------------------------------------------------------------ */
/* mmdet binary cross-entropy: x (n, C), t = [labels_i == c], e = BCE(x, t) w_i                        */
static void bcedet_bwd(void *p) {
    cedet_ctx *c = p;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad, c->x->data, c->weight);
    int64_t n = c->x->shape[0];
    int C = c->x->shape[1];
    float *dx = tensor_grad(c->g, c->x);
#pragma omp parallel for schedule(static) if (n * C > PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        double w = c->weight ? c->weight[i] : 1.0;
        for (int k = 0; k < C; k++) {
            int64_t j = i * C + k;
            double t = c->labels[i] == k ? 1.0 : 0.0;
            dx[j] += (float)(red_up(&c->r, c->y, j) * w * (sigmoid_d(c->x->data[j]) - t));
        }
    }
}

tensor *op_binary_cross_entropy_mmdet_ex(graph *g, tensor *pred, const int *labels, const float *weight,
                                         float avg_factor, int reduction, float loss_weight) {
    GRAPH_OP(g, pred);
    GRAPH_USE(g, weight);
    DB_ASSERT(pred->ndim == 2, "binary_cross_entropy_mmdet: pred must be (n, C)");
    int64_t n = pred->shape[0];
    int C = pred->shape[1];
    loss_red r = red_make(reduction, avg_factor, n * C, loss_weight);
    tensor *y = red_output(g, &r, 2, pred->shape, NEEDS(pred));
    double s = 0;
#pragma omp parallel for reduction(+ : s) schedule(static) if (n * C > PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        double w = weight ? weight[i] : 1.0;
        for (int k = 0; k < C; k++) {
            double e = bce_logits(pred->data[i * C + k], labels[i] == k ? 1.0 : 0.0) * w;
            if (r.reduction == LOSS_NONE) y->data[i * C + k] = (float)(r.scale * e);
            else s += e;
        }
    }
    if (r.reduction != LOSS_NONE) y->data[0] = (float)(r.scale * s);
    if (y->requires_grad) {
        cedet_ctx *c = graph_push(g, bcedet_bwd, sizeof *c);
        *c = (cedet_ctx){g, pred, y, labels, weight, r};
    }
    return y;
}
tensor *op_binary_cross_entropy_mmdet(graph *g, tensor *pred, const int *labels, const float *weight, float avg_factor,
                                      float loss_weight) {
    return op_binary_cross_entropy_mmdet_ex(g, pred, labels, weight, avg_factor, LOSS_MEAN, loss_weight);
}

/* ------------------------------------------------------------------------------------------------ */
/* mmseg pixel cross-entropy: x (N, C, H, W), e[n, hw] = cw[y] (lse - x[y]), 0 where y == ignore_index   */
typedef struct {
    graph *g;
    tensor *x, *y;
    const int *label;
    const float *class_weight;
    int ignore_index;
    loss_red r;
} ceseg_ctx;

static void ceseg_bwd(void *p) {
    ceseg_ctx *c = p;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad, c->x->data, c->class_weight);
    int N = c->x->shape[0], C = c->x->shape[1];
    int64_t HW = c->x->n / ((int64_t)N * C), P = (int64_t)N * HW;
    float *dx = tensor_grad(c->g, c->x);
#pragma omp parallel for schedule(static) if (P * C > PAR_MIN)
    for (int64_t q = 0; q < P; q++) {
        int y = c->label[q];
        if (y == c->ignore_index) continue;
        int64_t b = q / HW, o = b * C * HW + q % HW;
        double G = red_up(&c->r, c->y, q) * (c->class_weight ? c->class_weight[y] : 1.0);
        softmax_ce_grad(c->x->data + o, C, HW, y, G, dx + o);
    }
}

tensor *op_cross_entropy_seg_ex(graph *g, tensor *pred, const int *label, int ignore_index, const float *class_weight,
                                float avg_factor, int reduction, float loss_weight) {
    GRAPH_OP(g, pred);
    GRAPH_USE(g, class_weight);
    DB_ASSERT(pred->ndim >= 2, "cross_entropy_seg: pred must be (N, C, ...)");
    int N = pred->shape[0], C = pred->shape[1];
    int64_t HW = pred->n / ((int64_t)N * C), P = (int64_t)N * HW;
    for (int64_t q = 0; q < P; q++)
        DB_ASSERT(label[q] == ignore_index || (label[q] >= 0 && label[q] < C),
                  "cross_entropy_seg: label %d at pixel %lld outside [0, %d) and not ignore_index %d", label[q], (long long)q, C,
                  ignore_index);
    loss_red r = red_make(reduction, avg_factor, P, loss_weight);
    int shape[TENSOR_MAX_DIMS];
    shape[0] = N;
    for (int d = 2; d < pred->ndim; d++) shape[d - 1] = pred->shape[d];
    tensor *y = red_output(g, &r, pred->ndim - 1, shape, NEEDS(pred));
    double s = 0;
#pragma omp parallel for reduction(+ : s) schedule(static) if (P * C > PAR_MIN)
    for (int64_t q = 0; q < P; q++) {
        int lab = label[q];
        double e = 0;
        if (lab != ignore_index) {
            const float *z = pred->data + (q / HW) * C * HW + q % HW;
            e = (lse_strided(z, C, HW) - z[lab * HW]) * (class_weight ? class_weight[lab] : 1.0);
        }
        if (r.reduction == LOSS_NONE) y->data[q] = (float)(r.scale * e);
        else s += e;
    }
    if (r.reduction != LOSS_NONE) y->data[0] = (float)(r.scale * s);
    if (y->requires_grad) {
        ceseg_ctx *c = graph_push(g, ceseg_bwd, sizeof *c);
        *c = (ceseg_ctx){g, pred, y, label, class_weight, ignore_index, r};
    }
    return y;
}
tensor *op_cross_entropy_seg(graph *g, tensor *pred, const int *label, int ignore_index, const float *class_weight,
                             float loss_weight) {
    return op_cross_entropy_seg_ex(g, pred, label, ignore_index, class_weight, 0.0f, LOSS_MEAN, loss_weight);
}

/* ------------------------------------------------------------------------------------------------ */
/* mask cross-entropy: x (n, C, S*S'), channel labels[i] of roi i against targets (n, S*S')              */
typedef struct {
    graph *g;
    tensor *x, *y;
    const float *targets;
    const int *labels;
    double scale;
} mask_ctx;

static void mask_bwd(void *p) {
    mask_ctx *c = p;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad, c->x->data, c->targets);
    int64_t n = c->x->shape[0];
    int C = c->x->shape[1];
    int64_t P = n ? c->x->n / (n * C) : 0;
    double G = c->scale * c->y->grad[0];
    float *dx = tensor_grad(c->g, c->x);
#pragma omp parallel for schedule(static) if (n * P > PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        const float *x = c->x->data + (i * C + c->labels[i]) * P, *t = c->targets + i * P;
        float *d = dx + (i * C + c->labels[i]) * P;
        for (int64_t j = 0; j < P; j++) d[j] += (float)(G * (sigmoid_d(x[j]) - t[j]));
    }
}

tensor *op_mask_cross_entropy(graph *g, tensor *pred, const float *targets, const int *labels, float loss_weight) {
    GRAPH_OP(g, pred);
    GRAPH_USE(g, targets);
    DB_ASSERT(pred->ndim >= 2, "mask_cross_entropy: pred must be (n, C, S, S)");
    int64_t n = pred->shape[0];
    int C = pred->shape[1];
    int64_t P = n ? pred->n / (n * C) : 0;
    for (int64_t i = 0; i < n; i++)
        DB_ASSERT(labels[i] >= 0 && labels[i] < C, "mask_cross_entropy: label %d of roi %lld outside [0, %d)", labels[i],
                  (long long)i, C);
    int one = 1;
    tensor *y = tensor_new(g, 1, &one, NEEDS(pred));
    double scale = n * P > 0 ? loss_weight / (double)(n * P) : 0.0, s = 0;
#pragma omp parallel for reduction(+ : s) schedule(static) if (n * P > PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        const float *x = pred->data + (i * C + labels[i]) * P, *t = targets + i * P;
        for (int64_t j = 0; j < P; j++) s += bce_logits(x[j], t[j]);
    }
    y->data[0] = (float)(scale * s);
    if (y->requires_grad) {
        mask_ctx *c = graph_push(g, mask_bwd, sizeof *c);
        *c = (mask_ctx){g, pred, y, targets, labels, scale};
    }
    return y;
}
