/* ops_nn.c - forward and backward of the dense-head ops, side by side (see ops_nn.h for the shapes). */
#include "ops_nn.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "ops.h"

#define BE backend_get()
#define NEEDS(t) ((t) != NULL && (t)->requires_grad)

/* gradient buffer to accumulate into, or NULL if t needs none */
static float *grad_of(graph *g, tensor *t) { return NEEDS(t) ? tensor_grad(g, t) : NULL; }

/* ------------------------------------------------------------------------------------------------ */
/* im2col / col2im with separate strides, padding and dilation, one image and one group              */
typedef struct {
    int C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, Ho, Wo;
} conv_geom;

/* the output columns ox whose input column ox * sw - pw + off lies in [0, W): [*lo, *hi) */
static void valid_cols(int W, int Wo, int sw, int pw, int off, int *lo, int *hi) {
    int a = 0, b = Wo;
    int s = off - pw; /* input column of ox = 0 */
    if (s < 0) a = (-s + sw - 1) / sw;
    if (Wo > 0) {
        int last = W - 1 - s; /* ox * sw <= last */
        b = last < 0 ? 0 : last / sw + 1;
        if (b > Wo) b = Wo;
    }
    if (a > b) a = b;
    *lo = a;
    *hi = b;
}

/* x (C, H, W) -> col (C*kh*kw, Ho*Wo), row (c, i, j), column (oy, ox): x[c, oy sh - ph + i dh, ox sw - pw + j dw]
 * or 0 outside; row r at col + r * ld (ld >= Ho*Wo). Rows in parallel when par. */
static void im2col_ld(const float *x, const conv_geom *q, float *col, int64_t ld, int par) {
    int64_t P = ld;
#pragma omp parallel for collapse(2) schedule(static) if (par)
    for (int c = 0; c < q->C; c++)
        for (int ij = 0; ij < q->kh * q->kw; ij++) {
            int i = ij / q->kw, j = ij % q->kw;
            float *dst = col + ((int64_t)c * q->kh * q->kw + ij) * P;
            const float *xc = x + (int64_t)c * q->H * q->W;
            int lo, hi;
            valid_cols(q->W, q->Wo, q->sw, q->pw, j * q->dw, &lo, &hi);
            for (int oy = 0; oy < q->Ho; oy++) {
                float *d = dst + (int64_t)oy * q->Wo;
                int y = oy * q->sh - q->ph + i * q->dh;
                if (y < 0 || y >= q->H) {
                    memset(d, 0, sizeof(float) * q->Wo);
                    continue;
                }
                const float *xr = xc + (int64_t)y * q->W - q->pw + j * q->dw; /* xr[ox * sw] */
                for (int ox = 0; ox < lo; ox++) d[ox] = 0.0f;
                if (q->sw == 1) memcpy(d + lo, xr + lo, sizeof(float) * (hi - lo));
                else
                    for (int ox = lo; ox < hi; ox++) d[ox] = xr[(int64_t)ox * q->sw];
                for (int ox = hi; ox < q->Wo; ox++) d[ox] = 0.0f;
            }
        }
}

static void im2col_ex(const float *x, const conv_geom *q, float *col) { im2col_ld(x, q, col, (int64_t)q->Ho * q->Wo, 1); }

/* dx (C, H, W) += the adjoint of im2col_ld applied to col (row stride ld); channels in parallel when par (each
 * owns its plane) */
static void col2im_ld(const float *col, const conv_geom *q, float *dx, int64_t ld, int par) {
    int64_t P = ld;
#pragma omp parallel for schedule(static) if (par)
    for (int c = 0; c < q->C; c++) {
        float *xc = dx + (int64_t)c * q->H * q->W;
        for (int ij = 0; ij < q->kh * q->kw; ij++) {
            int i = ij / q->kw, j = ij % q->kw;
            const float *src = col + ((int64_t)c * q->kh * q->kw + ij) * P;
            int lo, hi;
            valid_cols(q->W, q->Wo, q->sw, q->pw, j * q->dw, &lo, &hi);
            for (int oy = 0; oy < q->Ho; oy++) {
                int y = oy * q->sh - q->ph + i * q->dh;
                if (y < 0 || y >= q->H) continue;
                const float *s = src + (int64_t)oy * q->Wo;
                float *xr = xc + (int64_t)y * q->W - q->pw + j * q->dw;
                if (q->sw == 1) {
#pragma omp simd
                    for (int ox = lo; ox < hi; ox++) xr[ox] += s[ox];
                } else
                    for (int ox = lo; ox < hi; ox++) xr[(int64_t)ox * q->sw] += s[ox];
            }
        }
    }
}

static void col2im_ex(const float *col, const conv_geom *q, float *dx) { col2im_ld(col, q, dx, (int64_t)q->Ho * q->Wo, 1); }

/* Many small images (RoI features: 7x7 or 14x14 maps of hundreds of rois) make one gemm per image too small to
 * run fast; with one group their columns are laid side by side, nb images per gemm: col (K, nb P). Only for
 * batches of CONV_BATCH_MIN images and more: an image batch (a few images of a data-parallel step) keeps one gemm
 * per image, so its weight gradient is the sum of per-image gemms in image order, the same sums as the all-reduce
 * of the ranks' per-image gradients (tests/test_mpi.c checks one and two ranks train alike). */
#define CONV_BATCH_COLS 4096
#define CONV_BATCH_MIN 32
static int conv_batch_images(const conv_geom *q, int B, int G) {
    int64_t P = (int64_t)q->Ho * q->Wo;
    if (G != 1 || B < CONV_BATCH_MIN || P * 4 > CONV_BATCH_COLS) return 1;
    int nb = (int)(CONV_BATCH_COLS / P);
    return nb < B ? nb : B;
}

/* col (K, n P): image i's columns at i P, from x (n, C, H, W); pointwise: x's planes copied */
static void cols_gather(const float *x, const conv_geom *q, int n, int pw, float *col) {
    int64_t P = (int64_t)q->Ho * q->Wo, ld = n * P, HW = (int64_t)q->H * q->W;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        const float *xi = x + (int64_t)i * q->C * HW;
        if (pw)
            for (int c = 0; c < q->C; c++) memcpy(col + c * ld + i * P, xi + c * HW, sizeof(float) * P);
        else
            im2col_ld(xi, q, col + i * P, ld, 0);
    }
}

/* db[o] += sum over the batch and the P positions of dy (B, Cout, P) */
static void bias_grad(const float *dy, int B, int Cout, int64_t P, float *db) {
#pragma omp parallel for schedule(static)
    for (int o = 0; o < Cout; o++) {
        double s = 0;
        for (int b = 0; b < B; b++) {
            const float *d = dy + ((int64_t)b * Cout + o) * P;
            float t = 0;
#pragma omp simd reduction(+ : t)
            for (int64_t i = 0; i < P; i++) t += d[i];
            s += t;
        }
        db[o] += (float)s;
    }
}

/* y (B, Cout, P) = b[o] (or 0) */
static void bias_fill(float *y, const float *b, int B, int Cout, int64_t P) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int bi = 0; bi < B; bi++)
        for (int o = 0; o < Cout; o++) {
            float v = b ? b[o] : 0.0f, *d = y + ((int64_t)bi * Cout + o) * P;
            for (int64_t i = 0; i < P; i++) d[i] = v;
        }
}

/* ------------------------------------------------------------------------------------------------ */
/* conv2d_ex: x (B, Cin, H, W), w (Cout, Cin/G, kh, kw) -> y (B, Cout, Ho, Wo)                       */
typedef struct {
    graph *g;
    tensor *x, *w, *b, *y;
    conv_geom q; /* of one group: C = Cin/G */
    int groups;
} convex_ctx;

/* a 1x1 kernel with stride 1, no padding: the column buffer would be x itself */
static int conv_is_pointwise(const conv_geom *q) {
    return q->kh == 1 && q->kw == 1 && q->sh == 1 && q->sw == 1 && q->ph == 0 && q->pw == 0;
}

static void conv2d_ex_bwd(void *p) {
    convex_ctx *c = p;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad, NEEDS(c->w) ? c->x->data : NULL, NEEDS(c->x) ? c->w->data : NULL);
    const conv_geom *q = &c->q;
    int B = c->x->shape[0], Cin = c->x->shape[1], Cout = c->w->shape[0], G = c->groups;
    int cig = Cin / G, cog = Cout / G, K = cig * q->kh * q->kw, P = q->Ho * q->Wo;
    int64_t HW = (int64_t)q->H * q->W;
    float *dx = grad_of(c->g, c->x), *dw = grad_of(c->g, c->w), *db = grad_of(c->g, c->b);
    int pw = conv_is_pointwise(q), nb = conv_batch_images(q, B, G);
    if (nb > 1 && (dx || dw)) { /* the forward's side-by-side columns: dy gathered to (Cout, n P) */
        float *col = graph_alloc(c->g, sizeof(float) * (size_t)K * nb * P), *dyt = graph_alloc(c->g, sizeof(float) * (size_t)Cout * nb * P);
        for (int b0 = 0; b0 < B; b0 += nb) {
            int n = B - b0 < nb ? B - b0 : nb;
            int64_t ld = (int64_t)n * P;
#pragma omp parallel for collapse(2) schedule(static)
            for (int i = 0; i < n; i++)
                for (int o = 0; o < Cout; o++)
                    memcpy(dyt + o * ld + (int64_t)i * P, c->y->grad + ((int64_t)(b0 + i) * Cout + o) * P, sizeof(float) * P);
            if (dw) { /* dw (Cout, K) += dy (Cout, n P) . col^T (n P, K) */
                cols_gather(c->x->data + (int64_t)b0 * Cin * HW, q, n, pw, col);
                BE->gemm(0, 1, Cout, K, (int)ld, 1.0f, dyt, (int)ld, col, (int)ld, 1.0f, dw, K);
            }
            if (dx) { /* col (K, n P) = w^T (K, Cout) . dy (Cout, n P); each image's columns into its dx */
                BE->gemm(1, 0, K, (int)ld, Cout, 1.0f, c->w->data, K, dyt, (int)ld, 0.0f, col, (int)ld);
#pragma omp parallel for schedule(static)
                for (int i = 0; i < n; i++) {
                    float *dxi = dx + (int64_t)(b0 + i) * Cin * HW;
                    if (pw) {
                        for (int ci = 0; ci < Cin; ci++) {
                            const float *sv = col + ci * ld + (int64_t)i * P;
                            float *d = dxi + ci * HW;
                            for (int j = 0; j < P; j++) d[j] += sv[j];
                        }
                    } else
                        col2im_ld(col + (int64_t)i * P, q, dxi, ld, 0);
                }
            }
        }
        if (db) bias_grad(c->y->grad, B, Cout, P, db);
        return;
    }
    float *col = (!pw && (dx || dw)) ? graph_alloc(c->g, sizeof(float) * (size_t)K * P) : NULL;
    for (int b = 0; b < B; b++)
        for (int gi = 0; gi < G; gi++) {
            const float *dy = c->y->grad + ((int64_t)b * Cout + gi * cog) * P; /* (cog, P) */
            const float *wg = c->w->data + (int64_t)gi * cog * K;               /* (cog, K) */
            const float *xg = c->x->data + ((int64_t)b * Cin + gi * cig) * HW;  /* (cig, H, W) */
            if (dw) { /* dw (cog, K) += dy (cog, P) . col^T (P, K) */
                const float *cb = xg;
                if (!pw) {
                    im2col_ex(xg, q, col);
                    cb = col;
                }
                BE->gemm(0, 1, cog, K, P, 1.0f, dy, P, cb, P, 1.0f, dw + (int64_t)gi * cog * K, K);
            }
            if (dx) {
                float *dxg = dx + ((int64_t)b * Cin + gi * cig) * HW;
                if (pw) /* dx (cig, P) += w^T (cig, cog) . dy (cog, P) */
                    BE->gemm(1, 0, K, P, cog, 1.0f, wg, K, dy, P, 1.0f, dxg, P);
                else { /* col (K, P) = w^T (K, cog) . dy (cog, P); dx += col2im(col) */
                    BE->gemm(1, 0, K, P, cog, 1.0f, wg, K, dy, P, 0.0f, col, P);
                    col2im_ex(col, q, dxg);
                }
            }
        }
    if (db) bias_grad(c->y->grad, B, Cout, P, db);
}

static conv_geom conv_geom_make(const tensor *x, const tensor *w, int groups, int sh, int sw, int ph, int pw, int dh,
                                int dw) {
    conv_geom q = {x->shape[1] / groups, x->shape[2], x->shape[3], w->shape[2], w->shape[3], sh, sw, ph, pw, dh, dw, 0, 0};
    q.Ho = (q.H + 2 * ph - dh * (q.kh - 1) - 1) / sh + 1;
    q.Wo = (q.W + 2 * pw - dw * (q.kw - 1) - 1) / sw + 1;
    return q;
}

static void conv_check(const tensor *x, const tensor *w, const tensor *b, int groups, int sh, int sw, int ph, int pw,
                       int dh, int dw) {
    DB_ASSERT(x->ndim == 4 && w->ndim == 4, "conv2d: x and w must be 4-d");
    DB_ASSERT(groups >= 1 && x->shape[1] % groups == 0 && w->shape[0] % groups == 0 && w->shape[1] == x->shape[1] / groups,
              "conv2d: Cin %d, w (%d, %d, ...), groups %d", x->shape[1], w->shape[0], w->shape[1], groups);
    DB_ASSERT(sh >= 1 && sw >= 1 && dh >= 1 && dw >= 1 && ph >= 0 && pw >= 0, "conv2d: stride %d,%d pad %d,%d dilation %d,%d",
              sh, sw, ph, pw, dh, dw);
    DB_ASSERT(!b || b->n == w->shape[0], "conv2d: bias of %lld for %d outputs", (long long)b->n, w->shape[0]);
}

tensor *op_conv2d_ex(graph *g, tensor *x, tensor *w, tensor *b, int stride_h, int stride_w, int pad_h, int pad_w,
                     int dil_h, int dil_w, int groups) {
    GRAPH_OP(g, x, w, b);
    conv_check(x, w, b, groups, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w);
    conv_geom q = conv_geom_make(x, w, groups, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w);
    DB_ASSERT(q.Ho > 0 && q.Wo > 0, "conv2d: empty output for input %dx%d", q.H, q.W);
    int B = x->shape[0], Cin = x->shape[1], Cout = w->shape[0], G = groups;
    int cig = Cin / G, cog = Cout / G, K = cig * q.kh * q.kw, P = q.Ho * q.Wo;
    int64_t HW = (int64_t)q.H * q.W;
    tensor *y = tensor_new4(g, B, Cout, q.Ho, q.Wo, NEEDS(x) || NEEDS(w) || NEEDS(b));
    bias_fill(y->data, b ? b->data : NULL, B, Cout, P);
    int pw = conv_is_pointwise(&q), nb = conv_batch_images(&q, B, G);
    if (nb > 1) { /* y (Cout, n P) = w (Cout, K) . col (K, n P), then added into y's (B, Cout, P) layout */
        float *col = graph_alloc(g, sizeof(float) * (size_t)K * nb * P), *yt = graph_alloc(g, sizeof(float) * (size_t)Cout * nb * P);
        for (int b0 = 0; b0 < B; b0 += nb) {
            int n = B - b0 < nb ? B - b0 : nb;
            int64_t ld = (int64_t)n * P;
            cols_gather(x->data + (int64_t)b0 * Cin * HW, &q, n, pw, col);
            BE->gemm(0, 0, Cout, (int)ld, K, 1.0f, w->data, K, col, (int)ld, 0.0f, yt, (int)ld);
#pragma omp parallel for collapse(2) schedule(static)
            for (int i = 0; i < n; i++)
                for (int o = 0; o < Cout; o++) {
                    float *d = y->data + ((int64_t)(b0 + i) * Cout + o) * P;
                    const float *sv = yt + o * ld + (int64_t)i * P;
                    for (int j = 0; j < P; j++) d[j] += sv[j];
                }
        }
    }
    float *col = pw || nb > 1 ? NULL : graph_alloc(g, sizeof(float) * (size_t)K * P);
    for (int bi = 0; bi < B && nb == 1; bi++)
        for (int gi = 0; gi < G; gi++) {
            const float *xg = x->data + ((int64_t)bi * Cin + gi * cig) * HW, *cb = xg;
            if (!pw) {
                im2col_ex(xg, &q, col);
                cb = col;
            }
            /* y (cog, P) += w (cog, K) . col (K, P) */
            BE->gemm(0, 0, cog, P, K, 1.0f, w->data + (int64_t)gi * cog * K, K, cb, P, 1.0f,
                     y->data + ((int64_t)bi * Cout + gi * cog) * P, P);
        }
    if (y->requires_grad) {
        convex_ctx *c = graph_push(g, conv2d_ex_bwd, sizeof *c);
        *c = (convex_ctx){g, x, w, b, y, q, groups};
    }
    return y;
}

/* ---- the direct-loop reference ---- */
static void conv2d_ref_bwd(void *p) {
    convex_ctx *c = p;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad, c->x->data, c->w->data);
    const conv_geom *q = &c->q;
    int B = c->x->shape[0], Cin = c->x->shape[1], Cout = c->w->shape[0], G = c->groups, cig = Cin / G, cog = Cout / G;
    float *dx = grad_of(c->g, c->x), *dw = grad_of(c->g, c->w), *db = grad_of(c->g, c->b);
    const float *x = c->x->data, *w = c->w->data, *dy = c->y->grad;
    for (int b = 0; b < B; b++)
        for (int o = 0; o < Cout; o++) {
            int gi = o / cog;
            for (int oy = 0; oy < q->Ho; oy++)
                for (int ox = 0; ox < q->Wo; ox++) {
                    float d = dy[(((int64_t)b * Cout + o) * q->Ho + oy) * q->Wo + ox];
                    if (db) db[o] += d;
                    for (int ci = 0; ci < cig; ci++)
                        for (int i = 0; i < q->kh; i++) {
                            int yy = oy * q->sh - q->ph + i * q->dh;
                            if (yy < 0 || yy >= q->H) continue;
                            for (int j = 0; j < q->kw; j++) {
                                int xx = ox * q->sw - q->pw + j * q->dw;
                                if (xx < 0 || xx >= q->W) continue;
                                int64_t xi = (((int64_t)b * Cin + gi * cig + ci) * q->H + yy) * q->W + xx;
                                int64_t wi = (((int64_t)o * cig + ci) * q->kh + i) * q->kw + j;
                                if (dx) dx[xi] += w[wi] * d;
                                if (dw) dw[wi] += x[xi] * d;
                            }
                        }
                }
        }
}

tensor *op_conv2d_ref(graph *g, tensor *x, tensor *w, tensor *b, int stride_h, int stride_w, int pad_h, int pad_w,
                      int dil_h, int dil_w, int groups) {
    GRAPH_OP(g, x, w, b);
    conv_check(x, w, b, groups, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w);
    conv_geom q = conv_geom_make(x, w, groups, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w);
    DB_ASSERT(q.Ho > 0 && q.Wo > 0, "conv2d: empty output for input %dx%d", q.H, q.W);
    int B = x->shape[0], Cin = x->shape[1], Cout = w->shape[0], G = groups, cig = Cin / G, cog = Cout / G;
    tensor *y = tensor_new4(g, B, Cout, q.Ho, q.Wo, NEEDS(x) || NEEDS(w) || NEEDS(b));
    for (int bi = 0; bi < B; bi++)
        for (int o = 0; o < Cout; o++) {
            int gi = o / cog;
            for (int oy = 0; oy < q.Ho; oy++)
                for (int ox = 0; ox < q.Wo; ox++) {
                    double s = b ? b->data[o] : 0.0;
                    for (int ci = 0; ci < cig; ci++)
                        for (int i = 0; i < q.kh; i++) {
                            int yy = oy * q.sh - q.ph + i * q.dh;
                            if (yy < 0 || yy >= q.H) continue;
                            for (int j = 0; j < q.kw; j++) {
                                int xx = ox * q.sw - q.pw + j * q.dw;
                                if (xx < 0 || xx >= q.W) continue;
                                s += (double)x->data[(((int64_t)bi * Cin + gi * cig + ci) * q.H + yy) * q.W + xx] *
                                     w->data[(((int64_t)o * cig + ci) * q.kh + i) * q.kw + j];
                            }
                        }
                    y->data[(((int64_t)bi * Cout + o) * q.Ho + oy) * q.Wo + ox] = (float)s;
                }
        }
    if (y->requires_grad) {
        convex_ctx *c = graph_push(g, conv2d_ref_bwd, sizeof *c);
        *c = (convex_ctx){g, x, w, b, y, q, groups};
    }
    return y;
}

/* ------------------------------------------------------------------------------------------------ */
/* ReLU, any shape                                                                                   */
typedef struct {
    graph *g;
    tensor *x, *y;
} relu_ctx;

static void relu_bwd(void *p) {
    relu_ctx *c = p;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad, c->y->data);
    float *dx = tensor_grad(c->g, c->x);
    const float *y = c->y->data, *dy = c->y->grad;
    int64_t n = c->y->n;
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++) dx[i] += y[i] > 0.0f ? dy[i] : 0.0f; /* y > 0 exactly where x > 0 */
}

static tensor *relu_run(graph *g, tensor *x, int inplace) {
    GRAPH_OP(g, x);
    tensor *y;
    if (inplace) {
        y = arena_alloc(&g->mem, sizeof *y);
        memset(y, 0, sizeof *y);
        tensor_set_shape(y, x->ndim, x->shape);
        y->data = x->data;
        y->requires_grad = g->grad_mode && NEEDS(x);
    } else
        y = tensor_like(g, x, NEEDS(x));
    const float *xd = x->data;
    float *yd = y->data;
    int64_t n = x->n;
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++) yd[i] = xd[i] > 0.0f ? xd[i] : 0.0f;
    if (y->requires_grad) {
        relu_ctx *c = graph_push(g, relu_bwd, sizeof *c);
        *c = (relu_ctx){g, x, y};
    }
    return y;
}

tensor *op_relu(graph *g, tensor *x) { return relu_run(g, x, 0); }
tensor *op_relu_inplace(graph *g, tensor *x) { return relu_run(g, x, !x->is_param); }

/* ------------------------------------------------------------------------------------------------ */
/* max pool: x (B, C, H, W) -> y (B, C, Ho, Wo), argmax saved as the input offset inside the plane  */
typedef struct {
    graph *g;
    tensor *x, *y;
    int *arg; /* (B*C, Ho*Wo), in the arena */
} maxpool_ctx;

static void max_pool_bwd(void *p) {
    maxpool_ctx *c = p;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad);
    float *dx = tensor_grad(c->g, c->x);
    int64_t planes = (int64_t)c->x->shape[0] * c->x->shape[1], HW = (int64_t)c->x->shape[2] * c->x->shape[3];
    int64_t P = (int64_t)c->y->shape[2] * c->y->shape[3];
#pragma omp parallel for schedule(static)
    for (int64_t pl = 0; pl < planes; pl++)
        for (int64_t i = 0; i < P; i++) dx[pl * HW + c->arg[pl * P + i]] += c->y->grad[pl * P + i];
}

static int pool_out(int H, int k, int s, int p, int ceil_mode) {
    int num = H + 2 * p - k;
    int o = (ceil_mode ? (num + s - 1) / s : num / s) + 1;
    if (ceil_mode && (o - 1) * s >= H + p) o--; /* the last window must start inside the input or left padding */
    return o;
}

tensor *op_max_pool2d(graph *g, tensor *x, int k, int stride, int pad, int ceil_mode) {
    GRAPH_OP(g, x);
    DB_ASSERT(x->ndim == 4 && k >= 1 && stride >= 1 && pad >= 0 && 2 * pad <= k, "max_pool2d: k %d stride %d pad %d", k,
              stride, pad);
    int B = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int Ho = pool_out(H, k, stride, pad, ceil_mode), Wo = pool_out(W, k, stride, pad, ceil_mode);
    DB_ASSERT(Ho > 0 && Wo > 0, "max_pool2d: empty output for %dx%d", H, W);
    tensor *y = tensor_new4(g, B, C, Ho, Wo, NEEDS(x));
    int64_t planes = (int64_t)B * C, P = (int64_t)Ho * Wo;
    int *arg = y->requires_grad ? arena_alloc(&g->mem, sizeof(int) * (size_t)(planes * P)) : NULL;
#pragma omp parallel for schedule(static)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x->data + pl * H * W;
        for (int oy = 0; oy < Ho; oy++) {
            int y0 = oy * stride - pad, y1 = y0 + k;
            if (y0 < 0) y0 = 0;
            if (y1 > H) y1 = H;
            for (int ox = 0; ox < Wo; ox++) {
                int x0 = ox * stride - pad, x1 = x0 + k;
                if (x0 < 0) x0 = 0;
                if (x1 > W) x1 = W;
                float m = -INFINITY;
                int am = y0 * W + x0;
                for (int yy = y0; yy < y1 && !isnan(m); yy++) /* a NaN wins and stays, as in PyTorch */
                    for (int xx = x0; xx < x1; xx++) {
                        float v = xp[yy * W + xx];
                        if (v > m || isnan(v)) {
                            m = v;
                            am = yy * W + xx;
                            if (isnan(v)) break;
                        }
                    }
                y->data[pl * P + (int64_t)oy * Wo + ox] = m;
                if (arg) arg[pl * P + (int64_t)oy * Wo + ox] = am;
            }
        }
    }
    if (y->requires_grad) {
        maxpool_ctx *c = graph_push(g, max_pool_bwd, sizeof *c);
        *c = (maxpool_ctx){g, x, y, arg};
    }
    return y;
}

/* ------------------------------------------------------------------------------------------------ */
/* interpolate: per output row (and column) two source indices and their weights, then a pass per     */
/* plane; nearest uses i0 with weight 1                                                              */
typedef struct {
    graph *g;
    tensor *x, *y;
    int *iy0, *iy1, *ix0, *ix1; /* (Ho), (Wo) */
    float *ly, *lx;             /* weight of the second index */
    int mode;
} interp_ctx;

/* ratio: the source step per output step (in/out, or 1/scale) */
static void interp_axis(graph *g, int in, int out, double ratio, int mode, int **i0, int **i1, float **l1) {
    *i0 = arena_alloc(&g->mem, sizeof(int) * out);
    *i1 = arena_alloc(&g->mem, sizeof(int) * out);
    *l1 = arena_alloc(&g->mem, sizeof(float) * out);
    for (int d = 0; d < out; d++) {
        if (mode == INTERP_NEAREST) {
            int s;
            if (out == in) s = d;
            else if (out == 2 * in) s = d >> 1;
            else { /* PyTorch computes this in float32 whatever the tensor's type */
                float r = (float)ratio;
                s = (int)floorf((float)d * r);
                if (s > in - 1) s = in - 1;
            }
            (*i0)[d] = (*i1)[d] = s;
            (*l1)[d] = 0.0f;
        } else {
            double src = ratio * (d + 0.5) - 0.5;
            if (src < 0) src = 0;
            int s0 = (int)src;
            if (s0 > in - 1) s0 = in - 1;
            int s1 = s0 + (s0 < in - 1 ? 1 : 0);
            (*i0)[d] = s0;
            (*i1)[d] = s1;
            (*l1)[d] = (float)(src - s0);
        }
    }
}

static void interp_bwd(void *p) {
    interp_ctx *c = p;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad);
    float *dx = tensor_grad(c->g, c->x);
    int H = c->x->shape[2], W = c->x->shape[3], Ho = c->y->shape[2], Wo = c->y->shape[3];
    int64_t planes = (int64_t)c->x->shape[0] * c->x->shape[1];
#pragma omp parallel for schedule(static)
    for (int64_t pl = 0; pl < planes; pl++) {
        float *xp = dx + pl * H * W;
        const float *dy = c->y->grad + pl * Ho * Wo;
        for (int oy = 0; oy < Ho; oy++) {
            float *r0 = xp + (int64_t)c->iy0[oy] * W, *r1 = xp + (int64_t)c->iy1[oy] * W;
            float ly = c->ly[oy], hy = 1.0f - ly;
            const float *d = dy + (int64_t)oy * Wo;
            if (c->mode == INTERP_NEAREST)
                for (int ox = 0; ox < Wo; ox++) r0[c->ix0[ox]] += d[ox];
            else
                for (int ox = 0; ox < Wo; ox++) {
                    float lx = c->lx[ox], hx = 1.0f - lx, v = d[ox];
                    r0[c->ix0[ox]] += hy * hx * v;
                    r0[c->ix1[ox]] += hy * lx * v;
                    r1[c->ix0[ox]] += ly * hx * v;
                    r1[c->ix1[ox]] += ly * lx * v;
                }
        }
    }
}

static tensor *interp_run(graph *g, tensor *x, int Ho, int Wo, double rh, double rw, int mode) {
    DB_ASSERT(x->ndim == 4 && Ho > 0 && Wo > 0 && (mode == INTERP_NEAREST || mode == INTERP_BILINEAR),
              "interpolate: x %d-d, size %dx%d, mode %d", x->ndim, Ho, Wo, mode);
    int B = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    tensor *y = tensor_new4(g, B, C, Ho, Wo, NEEDS(x));
    interp_ctx cx = {g, x, y, NULL, NULL, NULL, NULL, NULL, NULL, mode};
    interp_axis(g, H, Ho, rh, mode, &cx.iy0, &cx.iy1, &cx.ly);
    interp_axis(g, W, Wo, rw, mode, &cx.ix0, &cx.ix1, &cx.lx);
    int64_t planes = (int64_t)B * C;
#pragma omp parallel for schedule(static)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x->data + pl * H * W;
        float *yp = y->data + pl * Ho * Wo;
        for (int oy = 0; oy < Ho; oy++) {
            const float *r0 = xp + (int64_t)cx.iy0[oy] * W, *r1 = xp + (int64_t)cx.iy1[oy] * W;
            float ly = cx.ly[oy], hy = 1.0f - ly, *d = yp + (int64_t)oy * Wo;
            if (mode == INTERP_NEAREST)
                for (int ox = 0; ox < Wo; ox++) d[ox] = r0[cx.ix0[ox]];
            else
                for (int ox = 0; ox < Wo; ox++) {
                    float lx = cx.lx[ox], hx = 1.0f - lx;
                    d[ox] = hy * (hx * r0[cx.ix0[ox]] + lx * r0[cx.ix1[ox]]) + ly * (hx * r1[cx.ix0[ox]] + lx * r1[cx.ix1[ox]]);
                }
        }
    }
    if (y->requires_grad) {
        interp_ctx *c = graph_push(g, interp_bwd, sizeof *c);
        *c = cx;
    }
    return y;
}

tensor *op_interpolate(graph *g, tensor *x, int Ho, int Wo, int mode) {
    GRAPH_OP(g, x);
    DB_ASSERT(x->ndim == 4, "interpolate: x must be 4-d");
    double rh, rw;
    if (mode == INTERP_NEAREST) { /* float32 in/out, as PyTorch */
        rh = (float)x->shape[2] / (float)Ho;
        rw = (float)x->shape[3] / (float)Wo;
    } else {
        rh = (double)x->shape[2] / Ho;
        rw = (double)x->shape[3] / Wo;
    }
    return interp_run(g, x, Ho, Wo, rh, rw, mode);
}

tensor *op_interpolate_scale(graph *g, tensor *x, float scale_h, float scale_w, int mode) {
    GRAPH_OP(g, x);
    DB_ASSERT(x->ndim == 4 && scale_h > 0 && scale_w > 0, "interpolate: scale %g, %g", scale_h, scale_w);
    int Ho = (int)floor((double)x->shape[2] * scale_h), Wo = (int)floor((double)x->shape[3] * scale_w);
    return interp_run(g, x, Ho, Wo, 1.0 / scale_h, 1.0 / scale_w, mode);
}

/* ------------------------------------------------------------------------------------------------ */
/* conv_transpose2d: the adjoint of conv2d. Per image and group, col (cog*kh*kw, H*W) = w_g^T x_g and  */
/* y_g = col2im(col) on the output map; backward: im2col(dy_g) gives dx_g = w_g . col, dw_g = x_g . col^T */
typedef struct {
    graph *g;
    tensor *x, *w, *b, *y;
    conv_geom q; /* the conv from y (C = Cout/G channels of Ho x Wo, as q.H x q.W) to x (q.Ho x q.Wo) */
    int groups;
} convt_ctx;

static void conv_transpose2d_bwd(void *p) {
    convt_ctx *c = p;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad, NEEDS(c->w) ? c->x->data : NULL, NEEDS(c->x) ? c->w->data : NULL);
    const conv_geom *q = &c->q;
    int B = c->x->shape[0], Cin = c->x->shape[1], G = c->groups, cig = Cin / G, cog = q->C, Cout = cog * G;
    int K = cog * q->kh * q->kw, P = q->Ho * q->Wo; /* P: input positions H*W */
    int64_t HWo = (int64_t)q->H * q->W;
    float *dx = grad_of(c->g, c->x), *dw = grad_of(c->g, c->w), *db = grad_of(c->g, c->b);
    float *col = (dx || dw) ? graph_alloc(c->g, sizeof(float) * (size_t)K * P) : NULL;
    for (int b = 0; b < B && col; b++)
        for (int gi = 0; gi < G; gi++) {
            im2col_ex(c->y->grad + ((int64_t)b * Cout + gi * cog) * HWo, q, col); /* (K, P) */
            const float *xg = c->x->data + ((int64_t)b * Cin + gi * cig) * P;   /* (cig, P) */
            if (dx) /* dx (cig, P) += w (cig, K) . col (K, P) */
                BE->gemm(0, 0, cig, P, K, 1.0f, c->w->data + (int64_t)gi * cig * K, K, col, P, 1.0f,
                         dx + ((int64_t)b * Cin + gi * cig) * P, P);
            if (dw) /* dw (cig, K) += x (cig, P) . col^T (P, K) */
                BE->gemm(0, 1, cig, K, P, 1.0f, xg, P, col, P, 1.0f, dw + (int64_t)gi * cig * K, K);
        }
    if (db) bias_grad(c->y->grad, B, Cout, HWo, db);
}

tensor *op_conv_transpose2d_ex(graph *g, tensor *x, tensor *w, tensor *b, int stride_h, int stride_w, int pad_h,
                               int pad_w, int out_pad_h, int out_pad_w, int dil_h, int dil_w, int groups) {
    GRAPH_OP(g, x, w, b);
    DB_ASSERT(x->ndim == 4 && w->ndim == 4 && groups >= 1 && x->shape[1] == w->shape[0] && x->shape[1] % groups == 0,
              "conv_transpose2d: x channels %d, w (%d, ...), groups %d", x->shape[1], w->shape[0], groups);
    DB_ASSERT(stride_h >= 1 && stride_w >= 1 && dil_h >= 1 && dil_w >= 1 && pad_h >= 0 && pad_w >= 0 && out_pad_h >= 0 &&
                  out_pad_w >= 0 && (out_pad_h < stride_h || out_pad_h < dil_h) && (out_pad_w < stride_w || out_pad_w < dil_w),
              "conv_transpose2d: stride %d,%d pad %d,%d output padding %d,%d dilation %d,%d", stride_h, stride_w, pad_h, pad_w,
              out_pad_h, out_pad_w, dil_h, dil_w);
    int B = x->shape[0], Cin = x->shape[1], H = x->shape[2], W = x->shape[3], G = groups, cig = Cin / G;
    int cog = w->shape[1], Cout = cog * G, kh = w->shape[2], kw = w->shape[3];
    DB_ASSERT(!b || b->n == Cout, "conv_transpose2d: bias of %lld for %d outputs", (long long)b->n, Cout);
    int Ho = (H - 1) * stride_h - 2 * pad_h + dil_h * (kh - 1) + out_pad_h + 1;
    int Wo = (W - 1) * stride_w - 2 * pad_w + dil_w * (kw - 1) + out_pad_w + 1;
    DB_ASSERT(Ho > 0 && Wo > 0, "conv_transpose2d: empty output for %dx%d", H, W);
    conv_geom q = {cog, Ho, Wo, kh, kw, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, H, W};
    int K = cog * kh * kw, P = H * W;
    int64_t HWo = (int64_t)Ho * Wo;
    tensor *y = tensor_new4(g, B, Cout, Ho, Wo, NEEDS(x) || NEEDS(w) || NEEDS(b));
    bias_fill(y->data, b ? b->data : NULL, B, Cout, HWo);
    float *col = graph_alloc(g, sizeof(float) * (size_t)K * P);
    for (int bi = 0; bi < B; bi++)
        for (int gi = 0; gi < G; gi++) {
            /* col (K, P) = w_g^T (K, cig) . x_g (cig, P) */
            BE->gemm(1, 0, K, P, cig, 1.0f, w->data + (int64_t)gi * cig * K, K, x->data + ((int64_t)bi * Cin + gi * cig) * P,
                     P, 0.0f, col, P);
            col2im_ex(col, &q, y->data + ((int64_t)bi * Cout + gi * cog) * HWo);
        }
    if (y->requires_grad) {
        convt_ctx *c = graph_push(g, conv_transpose2d_bwd, sizeof *c);
        *c = (convt_ctx){g, x, w, b, y, q, groups};
    }
    return y;
}

tensor *op_conv_transpose2d(graph *g, tensor *x, tensor *w, tensor *b, int stride, int pad) {
    return op_conv_transpose2d_ex(g, x, w, b, stride, stride, pad, pad, 0, 0, 1, 1, 1);
}

/* ------------------------------------------------------------------------------------------------ */
/* normalisation shared by BatchNorm and GroupNorm: x is B planes-groups; statistics per (sample,     */
/* group) for GN, per channel for BN. Saved: mean and rstd per statistic; xhat is recomputed.         */
typedef struct {
    graph *g;
    tensor *x, *w, *b, *y;
    float *mean, *rstd; /* (S) statistics */
    int batch_stats;    /* the statistics depend on x (BN training, GN), so dx has the two extra terms */
    int groups;         /* GN: groups; BN: 0 */
} norm_ctx;

/* BN: channel c of sample b is plane b*C + c, statistic c. */
static void batch_norm_bwd(void *p) {
    norm_ctx *c = p;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad, c->x->data, c->mean, c->rstd);
    int B = c->x->shape[0], C = c->x->shape[1];
    int64_t HW = c->x->n / ((int64_t)B * C), N = (int64_t)B * HW;
    float *dx = grad_of(c->g, c->x), *dw = grad_of(c->g, c->w), *db = grad_of(c->g, c->b);
    const float *x = c->x->data, *dy = c->y->grad, *w = c->w ? c->w->data : NULL;
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < C; ch++) {
        float m = c->mean[ch], r = c->rstd[ch];
        double sd = 0, sdx = 0; /* sum dy, sum dy * xhat */
        for (int b = 0; b < B; b++) {
            const float *xp = x + ((int64_t)b * C + ch) * HW, *dp = dy + ((int64_t)b * C + ch) * HW;
            for (int64_t i = 0; i < HW; i++) {
                sd += dp[i];
                sdx += (double)dp[i] * (xp[i] - m) * r;
            }
        }
        if (dw) dw[ch] += (float)sdx;
        if (db) db[ch] += (float)sd;
        if (!dx) continue;
        float k = (w ? w[ch] : 1.0f) * r;
        float md = c->batch_stats ? (float)(sd / N) : 0.0f, mdx = c->batch_stats ? (float)(sdx / N) : 0.0f;
        for (int b = 0; b < B; b++) {
            const float *xp = x + ((int64_t)b * C + ch) * HW, *dp = dy + ((int64_t)b * C + ch) * HW;
            float *gp = dx + ((int64_t)b * C + ch) * HW;
            for (int64_t i = 0; i < HW; i++) gp[i] += k * (dp[i] - md - (xp[i] - m) * r * mdx);
        }
    }
}

tensor *op_batch_norm(graph *g, tensor *x, tensor *w, tensor *b, float *running_mean, float *running_var, int training,
                      float momentum, float eps) {
    GRAPH_OP(g, x, w, b);
    DB_ASSERT(x->ndim >= 2, "batch_norm: x must be (B, C, ...)");
    int B = x->shape[0], C = x->shape[1];
    int64_t HW = x->n / ((int64_t)B * C), N = (int64_t)B * HW;
    DB_ASSERT((!w || w->n == C) && (!b || b->n == C), "batch_norm: w, b must have C = %d", C);
    DB_ASSERT(training || (running_mean && running_var), "batch_norm: evaluation needs the running statistics");
    DB_ASSERT(!training || N > 1, "batch_norm: training needs more than one value per channel");
    tensor *y = tensor_like(g, x, NEEDS(x) || NEEDS(w) || NEEDS(b));
    float *st = graph_alloc(g, sizeof(float) * 2 * (size_t)C), *mean = st, *rstd = st + C;
    const float *xd = x->data;
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < C; ch++) {
        double m, v;
        if (training) {
            double s = 0, s2 = 0;
            for (int bi = 0; bi < B; bi++) {
                const float *xp = xd + ((int64_t)bi * C + ch) * HW;
                for (int64_t i = 0; i < HW; i++) s += xp[i];
            }
            m = s / N;
            for (int bi = 0; bi < B; bi++) {
                const float *xp = xd + ((int64_t)bi * C + ch) * HW;
                for (int64_t i = 0; i < HW; i++) s2 += (xp[i] - m) * (xp[i] - m);
            }
            v = s2 / N;
            /* a dry run (graph_dry_begin) computes on scratch memory: its statistics are not the batch's and the
             * real step that follows updates the buffers once */
            if (running_mean && !g->dry) running_mean[ch] = (float)((1.0 - momentum) * running_mean[ch] + momentum * m);
            if (running_var && !g->dry) running_var[ch] = (float)((1.0 - momentum) * running_var[ch] + momentum * s2 / (N - 1));
        } else {
            m = running_mean[ch];
            v = running_var[ch];
        }
        mean[ch] = (float)m;
        rstd[ch] = (float)(1.0 / sqrt(v + eps));
    }
    const float *wd = w ? w->data : NULL, *bd = b ? b->data : NULL;
#pragma omp parallel for collapse(2) schedule(static)
    for (int bi = 0; bi < B; bi++)
        for (int ch = 0; ch < C; ch++) {
            float k = (wd ? wd[ch] : 1.0f) * rstd[ch], o = (bd ? bd[ch] : 0.0f) - mean[ch] * k;
            const float *xp = xd + ((int64_t)bi * C + ch) * HW;
            float *yp = y->data + ((int64_t)bi * C + ch) * HW;
            for (int64_t i = 0; i < HW; i++) yp[i] = xp[i] * k + o;
        }
    if (y->requires_grad) {
        norm_ctx *c = graph_push(g, batch_norm_bwd, sizeof *c);
        *c = (norm_ctx){g, x, w, b, y, mean, rstd, training, 0};
    }
    return y;
}

/* GN: statistic s = b*G + gi over the cg*HW contiguous values of sample b, channels gi*cg .. */
static void group_norm_bwd(void *p) {
    norm_ctx *c = p;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad, c->x->data, c->mean, c->rstd);
    int B = c->x->shape[0], C = c->x->shape[1], G = c->groups, cg = C / G;
    int64_t HW = c->x->n / ((int64_t)B * C), N = (int64_t)cg * HW;
    float *dx = grad_of(c->g, c->x), *dw = grad_of(c->g, c->w), *db = grad_of(c->g, c->b);
    const float *x = c->x->data, *dy = c->y->grad, *w = c->w ? c->w->data : NULL;
    if (dw || db) /* per channel over the batch */
#pragma omp parallel for schedule(static)
        for (int ch = 0; ch < C; ch++) {
            double sd = 0, sdx = 0;
            for (int b = 0; b < B; b++) {
                int s = b * G + ch / cg;
                float m = c->mean[s], r = c->rstd[s];
                const float *xp = x + ((int64_t)b * C + ch) * HW, *dp = dy + ((int64_t)b * C + ch) * HW;
                for (int64_t i = 0; i < HW; i++) {
                    sd += dp[i];
                    sdx += (double)dp[i] * (xp[i] - m) * r;
                }
            }
            if (dw) dw[ch] += (float)sdx;
            if (db) db[ch] += (float)sd;
        }
    if (!dx) return;
#pragma omp parallel for schedule(static)
    for (int s = 0; s < B * G; s++) {
        int b = s / G, gi = s % G;
        float m = c->mean[s], r = c->rstd[s];
        double sg = 0, sgx = 0; /* sum of g = dy w and of g * xhat */
        for (int k = 0; k < cg; k++) {
            int ch = gi * cg + k;
            float wc = w ? w[ch] : 1.0f;
            const float *xp = x + ((int64_t)b * C + ch) * HW, *dp = dy + ((int64_t)b * C + ch) * HW;
            for (int64_t i = 0; i < HW; i++) {
                double gv = (double)dp[i] * wc;
                sg += gv;
                sgx += gv * (xp[i] - m) * r;
            }
        }
        float mg = (float)(sg / N), mgx = (float)(sgx / N);
        for (int k = 0; k < cg; k++) {
            int ch = gi * cg + k;
            float wc = w ? w[ch] : 1.0f;
            const float *xp = x + ((int64_t)b * C + ch) * HW, *dp = dy + ((int64_t)b * C + ch) * HW;
            float *gp = dx + ((int64_t)b * C + ch) * HW;
            for (int64_t i = 0; i < HW; i++) gp[i] += r * (dp[i] * wc - mg - (xp[i] - m) * r * mgx);
        }
    }
}

tensor *op_group_norm(graph *g, tensor *x, int groups, tensor *w, tensor *b, float eps) {
    GRAPH_OP(g, x, w, b);
    DB_ASSERT(x->ndim >= 2 && groups >= 1 && x->shape[1] % groups == 0, "group_norm: C %d, groups %d", x->shape[1], groups);
    int B = x->shape[0], C = x->shape[1], G = groups, cg = C / G;
    int64_t HW = x->n / ((int64_t)B * C), N = (int64_t)cg * HW;
    DB_ASSERT((!w || w->n == C) && (!b || b->n == C), "group_norm: w, b must have C = %d", C);
    tensor *y = tensor_like(g, x, NEEDS(x) || NEEDS(w) || NEEDS(b));
    float *st = graph_alloc(g, sizeof(float) * 2 * (size_t)B * G), *mean = st, *rstd = st + (size_t)B * G;
    const float *xd = x->data, *wd = w ? w->data : NULL, *bd = b ? b->data : NULL;
#pragma omp parallel for schedule(static)
    for (int s = 0; s < B * G; s++) {
        const float *xp = xd + (int64_t)s * N; /* sample b = s / G, group s % G: contiguous */
        double sum = 0, s2 = 0;
        for (int64_t i = 0; i < N; i++) sum += xp[i];
        double m = sum / N;
        for (int64_t i = 0; i < N; i++) s2 += (xp[i] - m) * (xp[i] - m);
        float r = (float)(1.0 / sqrt(s2 / N + eps));
        mean[s] = (float)m;
        rstd[s] = r;
        float *yp = y->data + (int64_t)s * N;
        for (int k = 0; k < cg; k++) {
            int ch = (s % G) * cg + k;
            float kk = (wd ? wd[ch] : 1.0f) * r, o = (bd ? bd[ch] : 0.0f) - (float)m * kk;
            for (int64_t i = 0; i < HW; i++) yp[k * HW + i] = xp[k * HW + i] * kk + o;
        }
    }
    if (y->requires_grad) {
        norm_ctx *c = graph_push(g, group_norm_bwd, sizeof *c);
        *c = (norm_ctx){g, x, w, b, y, mean, rstd, 1, G};
    }
    return y;
}

/* ------------------------------------------------------------------------------------------------ */
/* adaptive average pool: x (B, C, H, W) -> (B, C, oh, ow)                                           */
typedef struct {
    graph *g;
    tensor *x, *y;
} aap_ctx;

static int bin_lo(int i, int in, int out) { return (int)(((int64_t)i * in) / out); }
static int bin_hi(int i, int in, int out) { return (int)(((int64_t)(i + 1) * in + out - 1) / out); }

static void adaptive_avg_pool_bwd(void *p) {
    aap_ctx *c = p;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad);
    float *dx = tensor_grad(c->g, c->x);
    int H = c->x->shape[2], W = c->x->shape[3], oh = c->y->shape[2], ow = c->y->shape[3];
    int64_t planes = (int64_t)c->x->shape[0] * c->x->shape[1];
#pragma omp parallel for schedule(static)
    for (int64_t pl = 0; pl < planes; pl++)
        for (int i = 0; i < oh; i++) {
            int y0 = bin_lo(i, H, oh), y1 = bin_hi(i, H, oh);
            for (int j = 0; j < ow; j++) {
                int x0 = bin_lo(j, W, ow), x1 = bin_hi(j, W, ow);
                float v = c->y->grad[(pl * oh + i) * ow + j] / (float)((y1 - y0) * (x1 - x0));
                for (int yy = y0; yy < y1; yy++)
                    for (int xx = x0; xx < x1; xx++) dx[(pl * H + yy) * W + xx] += v;
            }
        }
}

tensor *op_adaptive_avg_pool2d(graph *g, tensor *x, int oh, int ow) {
    GRAPH_OP(g, x);
    DB_ASSERT(x->ndim == 4 && oh > 0 && ow > 0, "adaptive_avg_pool2d: x %d-d, output %dx%d", x->ndim, oh, ow);
    int B = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    tensor *y = tensor_new4(g, B, C, oh, ow, NEEDS(x));
    int64_t planes = (int64_t)B * C;
#pragma omp parallel for schedule(static)
    for (int64_t pl = 0; pl < planes; pl++)
        for (int i = 0; i < oh; i++) {
            int y0 = bin_lo(i, H, oh), y1 = bin_hi(i, H, oh);
            for (int j = 0; j < ow; j++) {
                int x0 = bin_lo(j, W, ow), x1 = bin_hi(j, W, ow);
                double s = 0;
                for (int yy = y0; yy < y1; yy++)
                    for (int xx = x0; xx < x1; xx++) s += x->data[(pl * H + yy) * W + xx];
                y->data[(pl * oh + i) * ow + j] = (float)(s / ((y1 - y0) * (x1 - x0)));
            }
        }
    if (y->requires_grad) {
        aap_ctx *c = graph_push(g, adaptive_avg_pool_bwd, sizeof *c);
        *c = (aap_ctx){g, x, y};
    }
    return y;
}

/* ------------------------------------------------------------------------------------------------ */
/* channel concatenation: xs[i] (B, C_i, H, W) -> y (B, sum C_i, H, W)                               */
typedef struct {
    graph *g;
    tensor **xs, *y;
    int n;
} concat_ctx;

static void concat_channels_bwd(void *p) {
    concat_ctx *c = p;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad);
    int B = c->y->shape[0], Ct = c->y->shape[1];
    int64_t HW = c->y->n / ((int64_t)B * Ct);
    int off = 0;
    for (int i = 0; i < c->n; i++) {
        tensor *x = c->xs[i];
        int Ci = x->shape[1];
        if (NEEDS(x)) {
            float *dx = tensor_grad(c->g, x);
            const float *dy = c->y->grad;
#pragma omp parallel for schedule(static)
            for (int b = 0; b < B; b++) {
                const float *s = dy + ((int64_t)b * Ct + off) * HW;
                float *d = dx + (int64_t)b * Ci * HW;
                for (int64_t k = 0; k < (int64_t)Ci * HW; k++) d[k] += s[k];
            }
        }
        off += Ci;
    }
}

tensor *op_concat_channels(graph *g, tensor **xs, int n) {
    DB_ASSERT(n >= 1 && xs[0] && xs[0]->ndim >= 2, "concat_channels: %d inputs", n);
    graph_op_tensors(g, __func__, (const tensor *const *)xs, n);
    const tensor *x0 = xs[0];
    int B = x0->shape[0], Ct = 0, need = 0;
    int64_t HW = x0->n / ((int64_t)B * x0->shape[1]);
    for (int i = 0; i < n; i++) {
        const tensor *x = xs[i];
        int same = x->ndim == x0->ndim && x->shape[0] == B;
        for (int k = 2; same && k < x->ndim; k++) same = x->shape[k] == x0->shape[k];
        DB_ASSERT(same, "concat_channels: input %d differs from input 0 outside the channel axis", i);
        Ct += x->shape[1];
        need |= NEEDS(x);
    }
    int shape[TENSOR_MAX_DIMS];
    memcpy(shape, x0->shape, sizeof(int) * x0->ndim);
    shape[1] = Ct;
    tensor *y = tensor_new(g, x0->ndim, shape, need);
    int off = 0;
    for (int i = 0; i < n; i++) {
        const tensor *x = xs[i];
        int Ci = x->shape[1];
#pragma omp parallel for schedule(static)
        for (int b = 0; b < B; b++)
            memcpy(y->data + ((int64_t)b * Ct + off) * HW, x->data + (int64_t)b * Ci * HW, sizeof(float) * (size_t)Ci * HW);
        off += Ci;
    }
    if (y->requires_grad) {
        concat_ctx *c = graph_push(g, concat_channels_bwd, sizeof *c);
        tensor **keep = arena_alloc(&g->mem, sizeof(tensor *) * n);
        memcpy(keep, xs, sizeof(tensor *) * n);
        *c = (concat_ctx){g, keep, y, n};
    }
    return y;
}

/* ------------------------------------------------------------------------------------------------ */
/* channel dropout: y[b, c] = x[b, c] * m[b, c], m = 0 with probability p else 1/(1-p)               */
typedef struct {
    graph *g;
    tensor *x, *y;
    float *mask; /* (B*C) */
    int64_t HW;
} dropout2d_ctx;

static void dropout2d_bwd(void *p) {
    dropout2d_ctx *c = p;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad, c->mask);
    float *dx = tensor_grad(c->g, c->x);
    const float *dy = c->y->grad;
    int64_t planes = (int64_t)c->x->shape[0] * c->x->shape[1], HW = c->HW;
#pragma omp parallel for schedule(static)
    for (int64_t pl = 0; pl < planes; pl++) {
        float m = c->mask[pl];
        for (int64_t i = 0; i < HW; i++) dx[pl * HW + i] += dy[pl * HW + i] * m;
    }
}

tensor *op_dropout2d(graph *g, tensor *x, float p) {
    if (!g->training || p <= 0.0f) return x;
    GRAPH_OP(g, x);
    DB_ASSERT(x->ndim >= 2 && p < 1.0f, "dropout2d: x %d-d, p %g", x->ndim, p);
    int64_t planes = (int64_t)x->shape[0] * x->shape[1], HW = x->n / planes;
    float *mask = graph_alloc(g, sizeof(float) * (size_t)planes), keep = 1.0f / (1.0f - p);
    rng_uniform_fill(&g->rng, mask, planes);
    for (int64_t pl = 0; pl < planes; pl++) mask[pl] = mask[pl] < p ? 0.0f : keep;
    tensor *y = tensor_like(g, x, NEEDS(x));
    const float *xd = x->data;
#pragma omp parallel for schedule(static)
    for (int64_t pl = 0; pl < planes; pl++) {
        float m = mask[pl];
        for (int64_t i = 0; i < HW; i++) y->data[pl * HW + i] = xd[pl * HW + i] * m;
    }
    if (y->requires_grad) {
        dropout2d_ctx *c = graph_push(g, dropout2d_bwd, sizeof *c);
        *c = (dropout2d_ctx){g, x, y, mask, HW};
    }
    return y;
}

/* ------------------------------------------------------------------------------------------------ */
/* RoIAlign (mmcv 1.3 RoIAlign pool_mode avg = torchvision roi_align): feats[l] (N, C, H_l, W_l), rois (K, 5)
 * -> y (K, C, oh, ow). The bilinear weights separate into a row table and a column table per roi, built from
 * the same rules as the CUDA/CPU kernels' bilinear_interpolate (coordinates in double).                 */
typedef struct {
    int lo, hi; /* lo < 0: the sample lies outside [-1, size] and contributes 0 */
    double wlo, whi;
} roi_tap;

typedef struct {
    graph *g;
    tensor **feats, *y;
    int n_levels, K, oh, ow, sampling_ratio, aligned;
    float *scales; /* (n_levels) */
    float *rois;   /* (K, 5), a copy */
    int *level;    /* (K) */
} roi_align_ctx;

/* the geometry of roi k along one axis: start, bin size and samples per bin (grid <= 0: no samples) */
static void roi_axis(const float *r, int axis, float scale, int out, int sampling_ratio, int aligned, double *start,
                     double *bin, int *grid) {
    double off = aligned ? 0.5 : 0.0;
    double s = (double)r[1 + axis] * scale - off, e = (double)r[3 + axis] * scale - off, len = e - s;
    if (!aligned && len < 1.0) len = 1.0;
    *start = s;
    *bin = len / out;
    *grid = sampling_ratio > 0 ? sampling_ratio : (int)ceil(len / out);
}

/* taps (out * grid) along an axis of `size` cells: sample i*grid + j at start + i bin + (j + 0.5) bin / grid */
static void roi_taps(double start, double bin, int out, int grid, int size, roi_tap *t) {
    for (int i = 0; i < out; i++)
        for (int j = 0; j < grid; j++) {
            double v = start + i * bin + (j + 0.5) * bin / grid;
            roi_tap *p = &t[i * grid + j];
            if (v < -1.0 || v > size) {
                *p = (roi_tap){-1, -1, 0.0, 0.0};
                continue;
            }
            if (v <= 0) v = 0;
            int lo = (int)v, hi;
            if (lo >= size - 1) {
                lo = hi = size - 1;
                v = lo;
            } else
                hi = lo + 1;
            double l = v - lo;
            *p = (roi_tap){lo, hi, 1.0 - l, l};
        }
}

/* the tables of roi k: *ty (oh * gh), *tx (ow * gw), malloc'd together (free *ty); returns gh * gw > 0 */
static int roi_tables(const roi_align_ctx *c, int k, int H, int W, roi_tap **ty, roi_tap **tx, int *gh, int *gw) {
    const float *r = c->rois + (int64_t)k * 5;
    float sc = c->scales[c->level ? c->level[k] : 0];
    double sy, by, sx, bx;
    roi_axis(r, 1, sc, c->oh, c->sampling_ratio, c->aligned, &sy, &by, gh);
    roi_axis(r, 0, sc, c->ow, c->sampling_ratio, c->aligned, &sx, &bx, gw);
    *ty = *tx = NULL;
    if (*gh <= 0 || *gw <= 0) return 0;
    *ty = xmalloc(sizeof(roi_tap) * ((size_t)c->oh * *gh + (size_t)c->ow * *gw));
    *tx = *ty + (size_t)c->oh * *gh;
    roi_taps(sy, by, c->oh, *gh, H, *ty);
    roi_taps(sx, bx, c->ow, *gw, W, *tx);
    return 1;
}

static void roi_align_bwd(void *p) {
    roi_align_ctx *c = p;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad);
    int C = c->y->shape[1], oh = c->oh, ow = c->ow;
    for (int k = 0; k < c->K; k++) {
        if (c->level && c->level[k] < 0) continue; /* no level: 0, no gradient */
        tensor *x = c->feats[c->level ? c->level[k] : 0];
        if (!NEEDS(x)) continue;
        float *dx = tensor_grad(c->g, x);
        int H = x->shape[2], W = x->shape[3], b = (int)c->rois[(int64_t)k * 5];
        roi_tap *ty, *tx;
        int gh, gw;
        if (!roi_tables(c, k, H, W, &ty, &tx, &gh, &gw)) continue;
        double inv = 1.0 / (double)(gh * gw);
        /* each channel's plane is written by one thread only: no atomics */
#pragma omp parallel for schedule(static)
        for (int ch = 0; ch < C; ch++) {
            float *d = dx + ((int64_t)b * C + ch) * H * W;
            const float *gy = c->y->grad + ((int64_t)k * C + ch) * oh * ow;
            for (int ph = 0; ph < oh; ph++)
                for (int pw = 0; pw < ow; pw++) {
                    double gv = gy[ph * ow + pw] * inv;
                    for (int iy = 0; iy < gh; iy++) {
                        const roi_tap *a = &ty[ph * gh + iy];
                        if (a->lo < 0) continue;
                        for (int ix = 0; ix < gw; ix++) {
                            const roi_tap *e = &tx[pw * gw + ix];
                            if (e->lo < 0) continue;
                            d[a->lo * W + e->lo] += (float)(gv * a->wlo * e->wlo);
                            d[a->lo * W + e->hi] += (float)(gv * a->wlo * e->whi);
                            d[a->hi * W + e->lo] += (float)(gv * a->whi * e->wlo);
                            d[a->hi * W + e->hi] += (float)(gv * a->whi * e->whi);
                        }
                    }
                }
        }
        free(ty);
    }
}

tensor *op_roi_align_levels(graph *g, tensor *const *feats, int n_levels, const float *scales, const tensor *rois,
                            const int *level, int out_h, int out_w, int sampling_ratio, int aligned) {
    DB_ASSERT(n_levels >= 1 && feats[0] && feats[0]->ndim == 4 && out_h > 0 && out_w > 0, "roi_align: %d levels, output %dx%d",
              n_levels, out_h, out_w);
    DB_ASSERT(rois->ndim == 2 && rois->shape[1] == 5, "roi_align: rois must be (K, 5)");
    graph_op_tensors(g, __func__, (const tensor *const *)feats, n_levels);
    GRAPH_USE(g, rois->data);
    int N = feats[0]->shape[0], C = feats[0]->shape[1], K = rois->shape[0], need = 0;
    for (int l = 0; l < n_levels; l++) {
        DB_ASSERT(feats[l]->ndim == 4 && feats[l]->shape[0] == N && feats[l]->shape[1] == C,
                  "roi_align: level %d is not (%d, %d, H, W)", l, N, C);
        need |= NEEDS(feats[l]);
    }
    roi_align_ctx c0 = {g, NULL, NULL, n_levels, K, out_h, out_w, sampling_ratio, aligned, NULL, NULL, NULL};
    c0.rois = arena_alloc(&g->mem, sizeof(float) * 5 * (size_t)(K ? K : 1));
    memcpy(c0.rois, rois->data, sizeof(float) * 5 * (size_t)K);
    c0.scales = arena_alloc(&g->mem, sizeof(float) * n_levels);
    memcpy(c0.scales, scales, sizeof(float) * n_levels);
    if (level) {
        c0.level = arena_alloc(&g->mem, sizeof(int) * (size_t)(K ? K : 1));
        memcpy(c0.level, level, sizeof(int) * (size_t)K);
    }
    for (int k = 0; k < K; k++) {
        int b = (int)c0.rois[(int64_t)k * 5], l = level ? level[k] : 0;
        DB_ASSERT(b >= 0 && b < N && l >= -1 && l < n_levels, "roi_align: roi %d has batch index %d, level %d", k, b, l);
    }
    tensor *y = tensor_new4(g, K, C, out_h, out_w, need);
    /* rois in parallel: each writes its own rows of y */
#pragma omp parallel for schedule(dynamic, 1)
    for (int k = 0; k < K; k++) {
        float *yk = y->data + (int64_t)k * C * out_h * out_w;
        if (level && level[k] < 0) { /* no level (mmdet: a roi no level mask selects keeps its zeros) */
            memset(yk, 0, sizeof(float) * (size_t)C * out_h * out_w);
            continue;
        }
        const tensor *x = feats[level ? level[k] : 0];
        int H = x->shape[2], W = x->shape[3], b = (int)c0.rois[(int64_t)k * 5];
        roi_tap *ty, *tx;
        int gh, gw;
        if (!roi_tables(&c0, k, H, W, &ty, &tx, &gh, &gw)) { /* empty grid: 0 (count max(gh gw, 1)) */
            memset(yk, 0, sizeof(float) * (size_t)C * out_h * out_w);
            continue;
        }
        double inv = 1.0 / (double)(gh * gw);
        for (int ch = 0; ch < C; ch++) {
            const float *v = x->data + ((int64_t)b * C + ch) * H * W;
            for (int ph = 0; ph < out_h; ph++)
                for (int pw = 0; pw < out_w; pw++) {
                    double s = 0;
                    for (int iy = 0; iy < gh; iy++) {
                        const roi_tap *a = &ty[ph * gh + iy];
                        if (a->lo < 0) continue;
                        const float *r0 = v + (int64_t)a->lo * W, *r1 = v + (int64_t)a->hi * W;
                        for (int ix = 0; ix < gw; ix++) {
                            const roi_tap *e = &tx[pw * gw + ix];
                            if (e->lo < 0) continue;
                            s += a->wlo * (e->wlo * r0[e->lo] + e->whi * r0[e->hi]) +
                                 a->whi * (e->wlo * r1[e->lo] + e->whi * r1[e->hi]);
                        }
                    }
                    yk[((int64_t)ch * out_h + ph) * out_w + pw] = (float)(s * inv);
                }
        }
        free(ty);
    }
    if (y->requires_grad) {
        roi_align_ctx *c = graph_push(g, roi_align_bwd, sizeof *c);
        *c = c0;
        c->y = y;
        c->feats = arena_alloc(&g->mem, sizeof(tensor *) * n_levels);
        memcpy(c->feats, feats, sizeof(tensor *) * n_levels);
    }
    return y;
}

tensor *op_roi_align(graph *g, tensor *x, const tensor *rois, int out_h, int out_w, float spatial_scale, int sampling_ratio,
                     int aligned) {
    return op_roi_align_levels(g, &x, 1, &spatial_scale, rois, NULL, out_h, out_w, sampling_ratio, aligned);
}
