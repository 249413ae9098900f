/* ops.c - forward and backward of every op, side by side (see ops.h for the shapes). */
#include "ops.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "fastmath.h"

#define BE backend_get()
#define NEEDS(t) ((t) != NULL && (t)->requires_grad)

static int last_dim(const tensor *t) { return t->shape[t->ndim - 1]; }

/* acc (C) += column sums of x (R, C): each thread sums a block of rows, then the partial sums are added */
static void col_sums(graph *g, const float *x, int64_t R, int C, float *acc) {
    int nt = omp_get_max_threads();
    float *part = arena_calloc(&g->mem, sizeof(float) * (size_t)nt * C);
#pragma omp parallel
    {
        float *mine = part + (size_t)omp_get_thread_num() * C;
#pragma omp for schedule(static)
        for (int64_t r = 0; r < R; r++)
            for (int o = 0; o < C; o++) mine[o] += x[r * C + o];
    }
    for (int t = 0; t < nt; t++)
        for (int o = 0; o < C; o++) acc[o] += part[(size_t)t * C + o];
}

/* gradient buffer to accumulate into, or NULL if t needs none */
static float *grad_of(graph *g, tensor *t) { return NEEDS(t) ? tensor_grad(g, t) : NULL; }

/* ------------------------------------------------------------------------------------------------ */
/* linear: x (R, in), w (out, in), b (out) -> y (R, out)                                             */
typedef struct {
    graph *g;
    tensor *x, *w, *b, *y;
} linear_ctx;

/* the gradients of y = x w^T + b from dy (R, out), for whichever of x, w, b need one */
static void linear_grads(graph *g, tensor *x, tensor *w, tensor *b, const float *dy, int64_t R, int in, int out) {
    if (NEEDS(x)) /* dx (R, in) += dy (R, out) . w (out, in) */
        BE->gemm(0, 0, (int)R, in, out, 1.0f, dy, out, w->data, in, 1.0f, tensor_grad(g, x), in);
    if (NEEDS(w)) /* dw (out, in) += dy^T (out, R) . x (R, in) */
        BE->gemm(1, 0, out, in, (int)R, 1.0f, dy, out, x->data, in, 1.0f, tensor_grad(g, w), in);
    if (NEEDS(b)) /* db (out) += column sums of dy */
        col_sums(g, dy, R, out, tensor_grad(g, b));
}

static void linear_bwd(void *p) {
    linear_ctx *c = p;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad, NEEDS(c->w) ? c->x->data : NULL); /* x only for the weight gradient */
    int in = last_dim(c->x), out = last_dim(c->y);
    int64_t R = c->x->n / in;
    const float *dy = c->y->grad;
    linear_grads(c->g, c->x, c->w, c->b, dy, R, in, out);
}

tensor *op_linear(graph *g, tensor *x, tensor *w, tensor *b) {
    GRAPH_OP(g, x, w, b);
    int in = last_dim(x), out = w->shape[0];
    DB_ASSERT(w->ndim == 2 && w->shape[1] == in, "linear: x last dim %d, w (%d, %d)", in, w->shape[0], w->shape[1]);
    int64_t R = x->n / in;
    int shape[TENSOR_MAX_DIMS];
    memcpy(shape, x->shape, sizeof(int) * x->ndim);
    shape[x->ndim - 1] = out;
    int rg = NEEDS(x) || NEEDS(w) || NEEDS(b);
    tensor *y = tensor_new(g, x->ndim, shape, rg);
    if (b) {
        float *yd = y->data;
        const float *bd = b->data;
#pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < R; r++) memcpy(yd + r * out, bd, sizeof(float) * out);
    }
    BE->gemm(0, 1, (int)R, out, in, 1.0f, x->data, in, w->data, in, b ? 1.0f : 0.0f, y->data, out);
    if (y->requires_grad) {
        linear_ctx *c = graph_push(g, linear_bwd, sizeof *c);
        *c = (linear_ctx){g, x, w, b, y};
    }
    return y;
}

/* ------------------------------------------------------------------------------------------------ */
/* linear + residual: res (R, out), x (R, in), w (out, in), b (out) -> y (R, out)                      */
typedef struct {
    graph *g;
    tensor *res, *x, *w, *b, *y;
} linres_ctx;

static void linear_residual_bwd(void *p) {
    linres_ctx *c = p;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad, NEEDS(c->w) ? c->x->data : NULL); /* x only for the weight gradient */
    int in = last_dim(c->x), out = last_dim(c->y);
    int64_t R = c->x->n / in, n = c->y->n;
    const float *dy = c->y->grad;
    if (NEEDS(c->res)) { /* dres += dy */
        float *dr = tensor_grad(c->g, c->res);
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) dr[i] += dy[i];
    }
    linear_grads(c->g, c->x, c->w, c->b, dy, R, in, out);
}

tensor *op_linear_residual(graph *g, tensor *res, tensor *x, tensor *w, tensor *b) {
    GRAPH_OP(g, res, x, w, b);
    int in = last_dim(x), out = w->shape[0];
    int64_t R = x->n / in;
    DB_ASSERT(w->ndim == 2 && w->shape[1] == in && res->n == R * out && last_dim(res) == out && (!b || b->n == out),
              "linear_residual: x last dim %d, w (%d, %d), residual of %lld values", in, w->shape[0], w->shape[1],
              (long long)res->n);
    tensor *y = tensor_like(g, res, NEEDS(res) || NEEDS(x) || NEEDS(w) || NEEDS(b));
    const float *rd = res->data, *bd = b ? b->data : NULL;
    float *yd = y->data;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < R; r++) /* y = res + b, then y += x w^T */
        for (int o = 0; o < out; o++) yd[r * out + o] = rd[r * out + o] + (bd ? bd[o] : 0.0f);
    BE->gemm(0, 1, (int)R, out, in, 1.0f, x->data, in, w->data, in, 1.0f, yd, out);
    if (y->requires_grad) {
        linres_ctx *c = graph_push(g, linear_residual_bwd, sizeof *c);
        *c = (linres_ctx){g, res, x, w, b, y};
    }
    return y;
}

/* ------------------------------------------------------------------------------------------------ */
/* layernorm over the last dim: x (R, C) -> y (R, C)                                                 */
typedef struct {
    graph *g;
    tensor *x, *w, *b, *y;
    float *mean, *rstd;
} ln_ctx;

static void layernorm_bwd(void *p) {
    ln_ctx *c = p;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad, c->x->data, c->mean, c->rstd); /* the input and its statistics, not y */
    int C = last_dim(c->x);
    BE->layernorm_bwd(c->x->data, c->w ? c->w->data : NULL, c->mean, c->rstd, c->y->grad, grad_of(c->g, c->x),
                      grad_of(c->g, c->w), grad_of(c->g, c->b), c->x->n / C, C);
}

tensor *op_layernorm(graph *g, tensor *x, tensor *w, tensor *b, float eps) {
    GRAPH_OP(g, x, w, b);
    int C = last_dim(x);
    int64_t R = x->n / C;
    int rg = NEEDS(x) || NEEDS(w) || NEEDS(b);
    tensor *y = tensor_like(g, x, rg);
    float *mean = graph_alloc(g, sizeof(float) * R), *rstd = graph_alloc(g, sizeof(float) * R);
    BE->layernorm_fwd(x->data, w ? w->data : NULL, b ? b->data : NULL, y->data, mean, rstd, R, C, eps);
    if (y->requires_grad) {
        ln_ctx *c = graph_push(g, layernorm_bwd, sizeof *c);
        *c = (ln_ctx){g, x, w, b, y, mean, rstd};
    }
    return y;
}

/* ------------------------------------------------------------------------------------------------ */
/* gelu: elementwise                                                                                 */
typedef struct {
    graph *g;
    tensor *x, *y;
} unary_ctx;

static void gelu_bwd(void *p) {
    unary_ctx *c = p;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad, c->x->data);
    BE->gelu_bwd(c->x->data, c->y->grad, tensor_grad(c->g, c->x), c->x->n);
}

tensor *op_gelu(graph *g, tensor *x) {
    GRAPH_OP(g, x);
    tensor *y = tensor_like(g, x, NEEDS(x));
    BE->gelu_fwd(x->data, y->data, x->n);
    if (y->requires_grad) {
        unary_ctx *c = graph_push(g, gelu_bwd, sizeof *c);
        *c = (unary_ctx){g, x, y};
    }
    return y;
}

/* ------------------------------------------------------------------------------------------------ */
/* y = a + s * b (op_add: s = 1), elementwise, same shape                                            */
typedef struct {
    graph *g;
    tensor *a, *b, *y;
    float s;
} axpy_ctx;

static void axpy_bwd(void *p) {
    axpy_ctx *c = p;
    if (!c->y->grad) return;
    graph_use(c->g, c->y->grad);
    const float *dy = c->y->grad;
    int64_t n = c->y->n;
    if (NEEDS(c->a)) {
        float *da = tensor_grad(c->g, c->a);
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) da[i] += dy[i];
    }
    if (NEEDS(c->b)) {
        float *db = tensor_grad(c->g, c->b);
        float s = c->s;
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) db[i] += s * dy[i];
    }
}

tensor *op_axpy(graph *g, tensor *a, float s, tensor *b) {
    GRAPH_OP(g, a, b);
    DB_ASSERT(a->n == b->n, "axpy: %lld vs %lld elements", (long long)a->n, (long long)b->n);
    tensor *y = tensor_like(g, a, NEEDS(a) || NEEDS(b));
    int64_t n = a->n;
    const float *ad = a->data, *bd = b->data;
    float *yd = y->data;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) yd[i] = ad[i] + s * bd[i];
    if (y->requires_grad) {
        axpy_ctx *c = graph_push(g, axpy_bwd, sizeof *c);
        *c = (axpy_ctx){g, a, b, y, s};
    }
    return y;
}

tensor *op_add(graph *g, tensor *a, tensor *b) { return op_axpy(g, a, 1.0f, b); }

typedef struct {
    graph *g;
    tensor *x, *y;
    float s;
} scale_ctx;

static void scale_bwd(void *p) {
    scale_ctx *c = p;
    if (!c->y->grad) return;
    graph_use(c->g, c->y->grad);
    float *dx = tensor_grad(c->g, c->x);
    const float *dy = c->y->grad, s = c->s;
    int64_t n = c->x->n;
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++) dx[i] += s * dy[i];
}

tensor *op_scale(graph *g, tensor *x, float s) {
    GRAPH_OP(g, x);
    tensor *y = tensor_like(g, x, NEEDS(x));
    const float *xd = x->data;
    float *yd = y->data;
    int64_t n = x->n;
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++) yd[i] = xd[i] * s;
    if (y->requires_grad) {
        scale_ctx *c = graph_push(g, scale_bwd, sizeof *c);
        *c = (scale_ctx){g, x, y, s};
    }
    return y;
}

/* ------------------------------------------------------------------------------------------------ */
/* y = a * ga + b * gb with per-channel vectors: a, b (R, C), ga, gb (C)                            */
typedef struct {
    graph *g;
    tensor *a, *ga, *b, *gb, *y;
} affine2_ctx;

static void affine2_bwd(void *p) {
    affine2_ctx *c = p;
    if (!c->y->grad) return;
    int wg = NEEDS(c->ga) || NEEDS(c->gb); /* a and b only for the gains' gradients */
    GRAPH_USE(c->g, c->y->grad, wg ? c->a->data : NULL, wg ? c->b->data : NULL);
    int C = last_dim(c->a);
    int64_t R = c->a->n / C;
    const float *dy = c->y->grad;
    float *da = grad_of(c->g, c->a), *db = grad_of(c->g, c->b);
    if (da || db) {
#pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < R; r++)
            for (int k = 0; k < C; k++) {
                float d = dy[r * C + k];
                if (da) da[r * C + k] += d * c->ga->data[k];
                if (db) db[r * C + k] += d * c->gb->data[k];
            }
    }
    float *dga = grad_of(c->g, c->ga), *dgb = grad_of(c->g, c->gb);
    if (dga || dgb) {
#pragma omp parallel for schedule(static)
        for (int k = 0; k < C; k++) {
            double s1 = 0, s2 = 0;
            for (int64_t r = 0; r < R; r++) {
                s1 += (double)dy[r * C + k] * c->a->data[r * C + k];
                s2 += (double)dy[r * C + k] * c->b->data[r * C + k];
            }
            if (dga) dga[k] += (float)s1;
            if (dgb) dgb[k] += (float)s2;
        }
    }
}

tensor *op_affine2(graph *g, tensor *a, tensor *ga, tensor *b, tensor *gb) {
    GRAPH_OP(g, a, ga, b, gb);
    int C = last_dim(a);
    DB_ASSERT(a->n == b->n && ga->n == C && gb->n == C);
    int64_t R = a->n / C;
    tensor *y = tensor_like(g, a, NEEDS(a) || NEEDS(b) || NEEDS(ga) || NEEDS(gb));
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < R; r++)
        for (int k = 0; k < C; k++) y->data[r * C + k] = a->data[r * C + k] * ga->data[k] + b->data[r * C + k] * gb->data[k];
    if (y->requires_grad) {
        affine2_ctx *c = graph_push(g, affine2_bwd, sizeof *c);
        *c = (affine2_ctx){g, a, ga, b, gb, y};
    }
    return y;
}

/* ------------------------------------------------------------------------------------------------ */
/* layernorm + mix: y = (xhat * w + b) * ga + x * gx; x (R, C), w, b, ga, gx (C)                       */
typedef struct {
    graph *g;
    tensor *x, *w, *b, *ga, *gx, *y;
    float *mean, *rstd;
} lnmix_ctx;

static void layernorm_mix_bwd(void *p) {
    lnmix_ctx *c = p;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad, c->x->data, c->mean, c->rstd); /* the input and its statistics, not y */
    int C = last_dim(c->x);
    int64_t R = c->x->n / C;
    const float *x = c->x->data, *dy = c->y->grad, *w = c->w ? c->w->data : NULL, *b = c->b ? c->b->data : NULL;
    const float *ga = c->ga->data, *gx = c->gx->data;
    float *dx = grad_of(c->g, c->x), *dw = grad_of(c->g, c->w), *db = grad_of(c->g, c->b);
    float *dga = grad_of(c->g, c->ga), *dgx = grad_of(c->g, c->gx);
    int nt = omp_get_max_threads();
    /* per-thread sums over rows of dy * xhat * ga (dw), dy * ga (db), dy * (xhat w + b) (dga), dy * x (dgx) */
    double *part = arena_calloc(&c->g->mem, sizeof(double) * (size_t)nt * 4 * C);
#pragma omp parallel
    {
        int t = omp_get_thread_num(), nth = omp_get_num_threads();
        int64_t lo = R * t / nth, hi = R * (t + 1) / nth;
        double *sw = part + (size_t)t * 4 * C, *sb = sw + C, *sga = sb + C, *sgx = sga + C;
        /* the column sums go through float partials of up to 32 rows, then into the thread's double sums */
        float *dh = xmalloc(sizeof(float) * (size_t)C * 6), *hh = dh + C, *fw = hh + C, *fb = fw + C, *fga = fb + C,
              *fgx = fga + C;
        for (int64_t r0 = lo; r0 < hi; r0 += 32) {
            int64_t r1 = r0 + 32 < hi ? r0 + 32 : hi;
            memset(fw, 0, sizeof(float) * (size_t)C * 4);
            for (int64_t r = r0; r < r1; r++) {
                const float *xr = x + r * C, *dyr = dy + r * C;
                float m = c->mean[r], rs = c->rstd[r];
                double s1 = 0, s2 = 0; /* sum(dxhat), sum(dxhat * xhat) */
#pragma omp simd reduction(+ : s1, s2)
                for (int k = 0; k < C; k++) {
                    float h = (xr[k] - m) * rs, wk = w ? w[k] : 1.0f;
                    float dn = dyr[k] * ga[k]; /* dL/d(LN output) */
                    fw[k] += dn * h;
                    fb[k] += dn;
                    fga[k] += dyr[k] * (h * wk + (b ? b[k] : 0.0f));
                    fgx[k] += dyr[k] * xr[k];
                    dh[k] = dn * wk;
                    hh[k] = h;
                    s1 += dh[k];
                    s2 += (double)dh[k] * h;
                }
                if (dx) {
                    float a1 = (float)(s1 / C), a2 = (float)(s2 / C);
                    float *dxr = dx + r * C;
                    for (int k = 0; k < C; k++) dxr[k] += gx[k] * dyr[k] + rs * (dh[k] - a1 - hh[k] * a2);
                }
            }
            for (int k = 0; k < C; k++) {
                sw[k] += fw[k];
                sb[k] += fb[k];
                sga[k] += fga[k];
                sgx[k] += fgx[k];
            }
        }
        free(dh);
    }
    for (int t = 0; t < nt; t++) {
        const double *sw = part + (size_t)t * 4 * C, *sb = sw + C, *sga = sb + C, *sgx = sga + C;
        for (int k = 0; k < C; k++) {
            if (dw) dw[k] += (float)sw[k];
            if (db) db[k] += (float)sb[k];
            if (dga) dga[k] += (float)sga[k];
            if (dgx) dgx[k] += (float)sgx[k];
        }
    }
}

tensor *op_layernorm_mix(graph *g, tensor *x, tensor *w, tensor *b, float eps, tensor *ga, tensor *gx) {
    GRAPH_OP(g, x, w, b, ga, gx);
    int C = last_dim(x);
    DB_ASSERT(ga->n == C && gx->n == C && (!w || w->n == C) && (!b || b->n == C), "layernorm_mix: parameters must have %d values", C);
    int64_t R = x->n / C;
    tensor *y = tensor_like(g, x, NEEDS(x) || NEEDS(w) || NEEDS(b) || NEEDS(ga) || NEEDS(gx));
    float *mean = graph_alloc(g, sizeof(float) * R), *rstd = graph_alloc(g, sizeof(float) * R);
    const float *wd = w ? w->data : NULL, *bd = b ? b->data : NULL, *gad = ga->data, *gxd = gx->data;
    /* the LayerNorm kernel's arithmetic (backend.h: double moments), then the mix in the same pass */
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < R; r++) {
        const float *xr = x->data + r * C;
        double s = 0;
#pragma omp simd reduction(+ : s)
        for (int k = 0; k < C; k++) s += xr[k];
        double mu = s / C, v = 0;
#pragma omp simd reduction(+ : v)
        for (int k = 0; k < C; k++) {
            double d = xr[k] - mu;
            v += d * d;
        }
        float rs = (float)(1.0 / sqrt(v / C + eps)), m = (float)mu;
        mean[r] = m;
        rstd[r] = rs;
        float *yr = y->data + r * C;
        for (int k = 0; k < C; k++) {
            float h = (xr[k] - m) * rs;
            float n = (wd ? h * wd[k] : h) + (bd ? bd[k] : 0.0f);
            yr[k] = n * gad[k] + xr[k] * gxd[k];
        }
    }
    if (y->requires_grad) {
        lnmix_ctx *c = graph_push(g, layernorm_mix_bwd, sizeof *c);
        *c = (lnmix_ctx){g, x, w, b, ga, gx, y, mean, rstd};
    }
    return y;
}

/* ------------------------------------------------------------------------------------------------ */
/* row gather: x (R, C) -> y (n_out, C), y[r] = x[idx[r]] or 0                                       */
typedef struct {
    graph *g;
    tensor *x, *y;
    const int *idx;
    int n_out, C;
    int injective; /* no source row repeats: the scatter can run in parallel */
} gather_ctx;

static void gather_bwd(void *p) {
    gather_ctx *c = p;
    if (!c->y->grad) return;
    graph_use(c->g, c->y->grad);
    float *dx = tensor_grad(c->g, c->x);
    int C = c->C;
    /* scatter-add: in parallel when no source row repeats, else serial */
#pragma omp parallel for schedule(static) if (c->injective)
    for (int r = 0; r < c->n_out; r++) {
        int s = c->idx[r];
        if (s < 0) continue;
        const float *src = c->y->grad + (int64_t)r * C;
        float *dst = dx + (int64_t)s * C;
        for (int k = 0; k < C; k++) dst[k] += src[k];
    }
}

tensor *op_gather_rows(graph *g, tensor *x, const int *idx, int n_out, int out_ndim, const int *out_shape) {
    GRAPH_OP(g, x);
    int C = last_dim(x);
    tensor *y = tensor_new(g, out_ndim, out_shape, NEEDS(x));
    DB_ASSERT(y->n == (int64_t)n_out * C, "gather: output shape does not hold %d rows of %d", n_out, C);
#pragma omp parallel for schedule(static)
    for (int r = 0; r < n_out; r++) {
        float *dst = y->data + (int64_t)r * C;
        if (idx[r] < 0) memset(dst, 0, sizeof(float) * C);
        else memcpy(dst, x->data + (int64_t)idx[r] * C, sizeof(float) * C);
    }
    if (y->requires_grad) {
        int64_t R = x->n / C;
        unsigned char *seen = arena_calloc(&g->mem, (size_t)R);
        int injective = 1;
        for (int r = 0; r < n_out && injective; r++)
            if (idx[r] >= 0) injective = !seen[idx[r]]++;
        gather_ctx *c = graph_push(g, gather_bwd, sizeof *c);
        *c = (gather_ctx){g, x, y, idx, n_out, C, injective};
    }
    return y;
}

/* ------------------------------------------------------------------------------------------------ */
/* reshape: same data order                                                                          */
static void reshape_bwd(void *p) {
    unary_ctx *c = p;
    if (!c->y->grad) return;
    graph_use(c->g, c->y->grad);
    float *dx = tensor_grad(c->g, c->x);
    const float *dy = c->y->grad;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < c->x->n; i++) dx[i] += dy[i];
}

tensor *op_reshape(graph *g, tensor *x, int ndim, const int *shape) {
    DB_ASSERT(shape_numel(ndim, shape) == x->n, "reshape changes the element count");
    tensor *y = arena_alloc(&g->mem, sizeof(tensor));
    *y = *x;
    y->grad = NULL;
    y->is_param = 0;
    tensor_set_shape(y, ndim, shape);
    /* shares the forward data (never written in place); the gradient is separate */
    if (y->requires_grad) {
        unary_ctx *c = graph_push(g, reshape_bwd, sizeof *c);
        *c = (unary_ctx){g, x, y};
    }
    return y;
}

/* ------------------------------------------------------------------------------------------------ */
/* NCHW <-> NHWC                                                                                      */
static void permute_nchw(const float *src, float *dst, int B, int C, int HW, int to_nhwc, int accumulate) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < HW; i++) {
                int64_t nchw = ((int64_t)b * C + c) * HW + i, nhwc = ((int64_t)b * HW + i) * C + c;
                int64_t s = to_nhwc ? nchw : nhwc, d = to_nhwc ? nhwc : nchw;
                if (accumulate) dst[d] += src[s];
                else dst[d] = src[s];
            }
}

typedef struct {
    graph *g;
    tensor *x, *y;
    int B, C, HW, to_nhwc;
} perm_ctx;

static void perm_bwd(void *p) {
    perm_ctx *c = p;
    if (!c->y->grad) return;
    graph_use(c->g, c->y->grad);
    /* the gradient goes back through the inverse permutation */
    permute_nchw(c->y->grad, tensor_grad(c->g, c->x), c->B, c->C, c->HW, !c->to_nhwc, 1);
}

tensor *op_nchw_to_nhwc(graph *g, tensor *x) {
    GRAPH_OP(g, x);
    DB_ASSERT(x->ndim == 4);
    int B = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    tensor *y = tensor_new4(g, B, H, W, C, NEEDS(x));
    permute_nchw(x->data, y->data, B, C, H * W, 1, 0);
    if (y->requires_grad) {
        perm_ctx *c = graph_push(g, perm_bwd, sizeof *c);
        *c = (perm_ctx){g, x, y, B, C, H * W, 1};
    }
    return y;
}

tensor *op_nhwc_to_nchw(graph *g, tensor *x) {
    GRAPH_OP(g, x);
    DB_ASSERT(x->ndim == 4);
    int B = x->shape[0], H = x->shape[1], W = x->shape[2], C = x->shape[3];
    tensor *y = tensor_new4(g, B, C, H, W, NEEDS(x));
    permute_nchw(x->data, y->data, B, C, H * W, 0, 0);
    if (y->requires_grad) {
        perm_ctx *c = graph_push(g, perm_bwd, sizeof *c);
        *c = (perm_ctx){g, x, y, B, C, H * W, 0};
    }
    return y;
}

/* ------------------------------------------------------------------------------------------------ */
/* conv2d NCHW via im2col + gemm per image and group                                                 */
typedef struct {
    graph *g;
    tensor *x, *w, *b, *y;
    int stride, pad, groups;
} conv_ctx;

static void conv2d_bwd(void *p) {
    conv_ctx *c = p;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad, NEEDS(c->w) ? c->x->data : NULL); /* x only for the weight gradient */
    int B = c->x->shape[0], Cin = c->x->shape[1], H = c->x->shape[2], W = c->x->shape[3];
    int Cout = c->w->shape[0], kh = c->w->shape[2], kw = c->w->shape[3];
    int Ho = c->y->shape[2], Wo = c->y->shape[3], G = c->groups;
    int cig = Cin / G, cog = Cout / G, K = cig * kh * kw, P = Ho * Wo;
    float *dx = grad_of(c->g, c->x), *dw = grad_of(c->g, c->w), *db = grad_of(c->g, c->b);
    float *col = graph_alloc(c->g, sizeof(float) * (size_t)K * P);
    for (int b = 0; b < B; b++)
        for (int gi = 0; gi < G; gi++) {
            const float *dy = c->y->grad + ((int64_t)b * Cout + gi * cog) * P; /* (cog, P) */
            const float *wg = c->w->data + (int64_t)gi * cog * K;               /* (cog, K) */
            if (dw) { /* dw (cog, K) += dy (cog, P) . col^T (P, K) */
                BE->im2col(c->x->data + ((int64_t)b * Cin + gi * cig) * H * W, cig, H, W, kh, kw, c->stride, c->pad,
                           Ho, Wo, col);
                BE->gemm(0, 1, cog, K, P, 1.0f, dy, P, col, P, 1.0f, dw + (int64_t)gi * cog * K, K);
            }
            if (dx) { /* col (K, P) = w^T (K, cog) . dy (cog, P); dx += col2im(col) */
                BE->gemm(1, 0, K, P, cog, 1.0f, wg, K, dy, P, 0.0f, col, P);
                BE->col2im(col, cig, H, W, kh, kw, c->stride, c->pad, Ho, Wo,
                           dx + ((int64_t)b * Cin + gi * cig) * H * W);
            }
            if (db)
                for (int o = 0; o < cog; o++) {
                    double s = 0;
                    for (int i = 0; i < P; i++) s += dy[(int64_t)o * P + i];
                    db[gi * cog + o] += (float)s;
                }
        }
}

tensor *op_conv2d(graph *g, tensor *x, tensor *w, tensor *b, int stride, int pad, int groups) {
    GRAPH_OP(g, x, w, b);
    DB_ASSERT(x->ndim == 4 && w->ndim == 4);
    int B = x->shape[0], Cin = x->shape[1], H = x->shape[2], W = x->shape[3];
    int Cout = w->shape[0], kh = w->shape[2], kw = w->shape[3], G = groups;
    DB_ASSERT(Cin % G == 0 && Cout % G == 0 && w->shape[1] == Cin / G, "conv2d: channels %d/%d groups %d", Cin, Cout, G);
    int Ho = (H + 2 * pad - kh) / stride + 1, Wo = (W + 2 * pad - kw) / stride + 1;
    int cig = Cin / G, cog = Cout / G, K = cig * kh * kw, P = Ho * Wo;
    tensor *y = tensor_new4(g, B, Cout, Ho, Wo, NEEDS(x) || NEEDS(w) || NEEDS(b));
    float *col = graph_alloc(g, sizeof(float) * (size_t)K * P);
    for (int bi = 0; bi < B; bi++)
        for (int gi = 0; gi < G; gi++) {
            float *yo = y->data + ((int64_t)bi * Cout + gi * cog) * P;
            BE->im2col(x->data + ((int64_t)bi * Cin + gi * cig) * H * W, cig, H, W, kh, kw, stride, pad, Ho, Wo, col);
            for (int o = 0; o < cog; o++)
                for (int i = 0; i < P; i++) yo[(int64_t)o * P + i] = b ? b->data[gi * cog + o] : 0.0f;
            /* y (cog, P) += w (cog, K) . col (K, P) */
            BE->gemm(0, 0, cog, P, K, 1.0f, w->data + (int64_t)gi * cog * K, K, col, P, 1.0f, yo, P);
        }
    if (y->requires_grad) {
        conv_ctx *c = graph_push(g, conv2d_bwd, sizeof *c);
        *c = (conv_ctx){g, x, w, b, y, stride, pad, groups};
    }
    return y;
}

/* ------------------------------------------------------------------------------------------------ */
/* depthwise conv on NHWC                                                                            */
typedef struct {
    graph *g;
    tensor *x, *w, *b, *y;
} dw_ctx;

static void dwconv_bwd(void *p) {
    dw_ctx *c = p;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad, NEEDS(c->w) ? c->x->data : NULL); /* x only for the weight gradient */
    int B = c->x->shape[0], H = c->x->shape[1], W = c->x->shape[2], C = c->x->shape[3], k = c->w->shape[2];
    BE->dwconv_bwd(c->x->data, c->w->data, c->y->grad, grad_of(c->g, c->x), grad_of(c->g, c->w), grad_of(c->g, c->b),
                   B, H, W, C, k);
}

tensor *op_dwconv_nhwc(graph *g, tensor *x, tensor *w, tensor *b) {
    GRAPH_OP(g, x, w, b);
    DB_ASSERT(x->ndim == 4 && w->ndim == 4 && w->shape[0] == x->shape[3] && w->shape[1] == 1 && w->shape[2] == w->shape[3]);
    int B = x->shape[0], H = x->shape[1], W = x->shape[2], C = x->shape[3], k = w->shape[2];
    tensor *y = tensor_like(g, x, NEEDS(x) || NEEDS(w) || NEEDS(b));
    BE->dwconv_fwd(x->data, w->data, b ? b->data : NULL, y->data, B, H, W, C, k);
    if (y->requires_grad) {
        dw_ctx *c = graph_push(g, dwconv_bwd, sizeof *c);
        *c = (dw_ctx){g, x, w, b, y};
    }
    return y;
}

/* ------------------------------------------------------------------------------------------------ */
/* sum of depthwise convs + identity as one conv: x (B, H, W, C), w_i (C, 1, k_i, k_i) -> y (B, H, W, C)  */
#define DWMIX_MAX 8
typedef struct {
    graph *g;
    tensor *x, *w[DWMIX_MAX], *b[DWMIX_MAX], *y;
    int H, W, n, k; /* map size, number of convs, combined (largest) kernel size */
    float s;
    float *kern;  /* combined kernel (C, 1, k, k) */
} dwmix_ctx;

static void dwconv_mix_bwd(void *p) {
    dwmix_ctx *c = p;
    if (!c->y->grad) return;
    int C = last_dim(c->x), H = c->H, W = c->W, B = (int)(c->x->n / ((int64_t)C * H * W)), k = c->k;
    int need_w = 0, need_b = 0;
    for (int i = 0; i < c->n; i++) need_w |= NEEDS(c->w[i]), need_b |= NEEDS(c->b[i]);
    GRAPH_USE(c->g, c->y->grad, need_w ? c->x->data : NULL); /* x only for the kernel gradient */
    /* dK (C, k, k) and dbias (C) of the combined conv, then split: dw_i = s * centre of dK, db_i = s * dbias */
    float *dk = need_w ? arena_calloc(&c->g->mem, sizeof(float) * (size_t)C * k * k) : NULL;
    float *dbias = need_b ? arena_calloc(&c->g->mem, sizeof(float) * (size_t)C) : NULL;
    BE->dwconv_bwd(c->x->data, c->kern, c->y->grad, grad_of(c->g, c->x), dk, dbias, B, H, W, C, k);
    for (int i = 0; i < c->n; i++) {
        if (NEEDS(c->w[i])) {
            int ki = c->w[i]->shape[2], off = (k - ki) / 2;
            float *dw = tensor_grad(c->g, c->w[i]);
            for (int ch = 0; ch < C; ch++)
                for (int a = 0; a < ki; a++)
                    for (int e = 0; e < ki; e++)
                        dw[((int64_t)ch * ki + a) * ki + e] += c->s * dk[((int64_t)ch * k + a + off) * k + e + off];
        }
        if (NEEDS(c->b[i])) {
            float *db = tensor_grad(c->g, c->b[i]);
            for (int ch = 0; ch < C; ch++) db[ch] += c->s * dbias[ch];
        }
    }
}

tensor *op_dwconv_mix_nhwc(graph *g, tensor *x, int H, int W, int n, tensor **w, tensor **b, float s, float id) {
    GRAPH_OP(g, x); /* the kernels are parameters, outside the plan */
    int C = last_dim(x), B = H > 0 && W > 0 ? (int)(x->n / ((int64_t)C * H * W)) : 0, k = 1, rg = NEEDS(x), has_b = 0;
    DB_ASSERT(n >= 1 && n <= DWMIX_MAX && B > 0 && (int64_t)B * H * W * C == x->n,
              "dwconv_mix: x must hold B (H=%d, W=%d, C) maps and 1 <= n <= %d", H, W, DWMIX_MAX);
    for (int i = 0; i < n; i++) {
        DB_ASSERT(w[i]->ndim == 4 && w[i]->shape[0] == C && w[i]->shape[1] == 1 && w[i]->shape[2] == w[i]->shape[3] &&
                      w[i]->shape[2] % 2 == 1,
                  "dwconv_mix: kernel %d must be (C, 1, k, k) with k odd", i);
        DB_ASSERT(!b[i] || b[i]->n == C);
        if (w[i]->shape[2] > k) k = w[i]->shape[2];
        rg |= NEEDS(w[i]) || NEEDS(b[i]);
        has_b |= b[i] != NULL;
    }
    /* K = s * sum_i pad(w_i) + id at the centre tap; bias = s * sum_i b_i */
    float *kern = arena_calloc(&g->mem, sizeof(float) * (size_t)C * k * k);
    float *bias = has_b ? arena_calloc(&g->mem, sizeof(float) * (size_t)C) : NULL;
    for (int i = 0; i < n; i++) {
        int ki = w[i]->shape[2], off = (k - ki) / 2;
        for (int ch = 0; ch < C; ch++) {
            for (int a = 0; a < ki; a++)
                for (int e = 0; e < ki; e++)
                    kern[((int64_t)ch * k + a + off) * k + e + off] += s * w[i]->data[((int64_t)ch * ki + a) * ki + e];
            if (b[i]) bias[ch] += s * b[i]->data[ch];
        }
    }
    for (int ch = 0; ch < C; ch++) kern[((int64_t)ch * k + k / 2) * k + k / 2] += id;
    tensor *y = tensor_like(g, x, rg);
    BE->dwconv_fwd(x->data, kern, bias, y->data, B, H, W, C, k);
    if (y->requires_grad) {
        dwmix_ctx *c = graph_push(g, dwconv_mix_bwd, sizeof *c);
        memset(c, 0, sizeof *c);
        c->g = g, c->x = x, c->y = y, c->H = H, c->W = W, c->n = n, c->k = k, c->s = s, c->kern = kern;
        for (int i = 0; i < n; i++) c->w[i] = w[i], c->b[i] = b[i];
    }
    return y;
}

/* ------------------------------------------------------------------------------------------------ */
/* window attention                                                                                  */
typedef struct {
    graph *g;
    tensor *qkv, *table, *y;
    const int *rel_index;
    float *p;
    int T, heads;
    float scale;
} attn_ctx;

static void attn_bwd(void *p) {
    attn_ctx *c = p;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad, c->qkv->data, c->p);
    int C = last_dim(c->y);
    int64_t nwin = c->y->n / ((int64_t)C * c->T);
    BE->attn_bwd(c->qkv->data, c->p, c->rel_index, nwin, c->T, C, c->heads, c->scale, c->y->grad, grad_of(c->g, c->qkv),
                 grad_of(c->g, c->table), c->table->shape[0]);
}

tensor *op_window_attention(graph *g, tensor *qkv, tensor *table, const int *rel_index, const float *mask,
                            int nw_img, int T, int heads, float scale) {
    GRAPH_OP(g, qkv, table);
    int C3 = last_dim(qkv), C = C3 / 3;
    int64_t nwin = qkv->n / ((int64_t)C3 * T);
    DB_ASSERT(C3 == 3 * C && C % heads == 0 && nwin * T * C3 == qkv->n);
    int shape[2] = {(int)(nwin * T), C};
    tensor *y = tensor_new(g, 2, shape, NEEDS(qkv) || NEEDS(table));
    float *pbuf = graph_alloc(g, sizeof(float) * (size_t)nwin * heads * T * T);
    BE->attn_fwd(qkv->data, table->data, rel_index, mask, nw_img, nwin, T, C, heads, scale, pbuf, y->data);
    if (y->requires_grad) {
        attn_ctx *c = graph_push(g, attn_bwd, sizeof *c);
        *c = (attn_ctx){g, qkv, table, y, rel_index, pbuf, T, heads, scale};
    }
    return y;
}

/* ------------------------------------------------------------------------------------------------ */
/* LoRA on q and v: qkv (R, 3C), t (R, 2r), lora_B (2C, r)                                           */
typedef struct {
    graph *g;
    tensor *qkv, *t, *lb, *y;
    float s;
} lora_ctx;

static void lora_bwd(void *p) {
    lora_ctx *c = p;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad, NEEDS(c->lb) ? c->t->data : NULL); /* t only for lora_B's gradient */
    int C3 = last_dim(c->qkv), C = C3 / 3, r2 = last_dim(c->t), r = r2 / 2;
    int64_t R = c->qkv->n / C3;
    const float *dy = c->y->grad;
    if (NEEDS(c->qkv)) {
        float *d = tensor_grad(c->g, c->qkv);
        int64_t n = c->qkv->n;
#pragma omp parallel for simd schedule(static)
        for (int64_t i = 0; i < n; i++) d[i] += dy[i];
    }
    if (NEEDS(c->t)) { /* dt[:, :r] (R, r) += s * dy_q (R, C) . Bq (C, r); same for v */
        float *dt = tensor_grad(c->g, c->t);
        BE->gemm(0, 0, (int)R, r, C, c->s, dy, C3, c->lb->data, r, 1.0f, dt, r2);
        BE->gemm(0, 0, (int)R, r, C, c->s, dy + 2 * C, C3, c->lb->data + (int64_t)C * r, r, 1.0f, dt + r, r2);
    }
    if (NEEDS(c->lb)) { /* dBq (C, r) += s * dy_q^T (C, R) . t_q (R, r) */
        float *dl = tensor_grad(c->g, c->lb);
        BE->gemm(1, 0, C, r, (int)R, c->s, dy, C3, c->t->data, r2, 1.0f, dl, r);
        BE->gemm(1, 0, C, r, (int)R, c->s, dy + 2 * C, C3, c->t->data + r, r2, 1.0f, dl + (int64_t)C * r, r);
    }
}

tensor *op_lora_qv(graph *g, tensor *qkv, tensor *t, tensor *lora_b, float s) {
    GRAPH_OP(g, qkv, t, lora_b);
    int C3 = last_dim(qkv), C = C3 / 3, r2 = last_dim(t), r = r2 / 2;
    int64_t R = qkv->n / C3;
    DB_ASSERT(lora_b->shape[0] == 2 * C && lora_b->shape[1] == r && t->n / r2 == R);
    tensor *y = tensor_like(g, qkv, NEEDS(qkv) || NEEDS(t) || NEEDS(lora_b));
    const float *xd = qkv->data;
    float *yd = y->data;
    int64_t n = qkv->n;
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++) yd[i] = xd[i];
    /* y_q (R, C) += s * t_q (R, r) . Bq^T (r, C) */
    BE->gemm(0, 1, (int)R, C, r, s, t->data, r2, lora_b->data, r, 1.0f, y->data, C3);
    BE->gemm(0, 1, (int)R, C, r, s, t->data + r, r2, lora_b->data + (int64_t)C * r, r, 1.0f, y->data + 2 * C, C3);
    if (y->requires_grad) {
        lora_ctx *c = graph_push(g, lora_bwd, sizeof *c);
        *c = (lora_ctx){g, qkv, t, lora_b, y, s};
    }
    return y;
}

/* ------------------------------------------------------------------------------------------------ */
/* dropout and drop path: y = x * mask (mask holds 0 or 1/(1-p))                                     */
typedef struct {
    graph *g;
    tensor *x, *y;
    float *mask;
    int64_t per; /* elements per mask entry */
} mask_ctx;

/* y[i] (+)= x[i] * mask[i / per] for i < n: each thread takes a contiguous range and walks it mask entry by
 * mask entry, so the inner loop is a plain scaled copy (no division per element) */
static void mask_rows(const float *x, const float *mask, float *y, int64_t n, int64_t per, int accumulate) {
    if (per == 1) { /* dropout: a mask entry per element */
        if (accumulate) {
#pragma omp parallel for simd schedule(static)
            for (int64_t i = 0; i < n; i++) y[i] += x[i] * mask[i];
        } else {
#pragma omp parallel for simd schedule(static)
            for (int64_t i = 0; i < n; i++) y[i] = x[i] * mask[i];
        }
        return;
    }
#pragma omp parallel
    {
        int nt = omp_get_num_threads(), t = omp_get_thread_num();
        int64_t lo = n * t / nt, hi = n * (t + 1) / nt;
        for (int64_t i = lo; i < hi;) {
            int64_t k = i / per, end = (k + 1) * per < hi ? (k + 1) * per : hi;
            float m = mask[k];
            if (accumulate)
                for (int64_t j = i; j < end; j++) y[j] += x[j] * m;
            else
                for (int64_t j = i; j < end; j++) y[j] = x[j] * m;
            i = end;
        }
    }
}

static void mask_bwd(void *p) {
    mask_ctx *c = p;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad, c->mask);
    float *dx = tensor_grad(c->g, c->x);
    mask_rows(c->y->grad, c->mask, dx, c->x->n, c->per, 1);
}

static tensor *apply_mask(graph *g, tensor *x, float *mask, int64_t per) {
    GRAPH_OP(g, x);
    graph_use(g, mask);
    tensor *y = tensor_like(g, x, NEEDS(x));
    mask_rows(x->data, mask, y->data, x->n, per, 0);
    if (y->requires_grad) {
        mask_ctx *c = graph_push(g, mask_bwd, sizeof *c);
        *c = (mask_ctx){g, x, y, mask, per};
    }
    return y;
}

/* Draws of a random op over n elements in sample-major layout: before (after) them the numbers of the global
 * batch's samples ahead of (behind) this shard are drawn and dropped (graph.shard_*; none unsharded). */
static void shard_skip(graph *g, int64_t n, int after) {
    if (g->shard_total <= 0) return;
    DB_ASSERT(g->shard_count > 0 && n % g->shard_count == 0, "a random op's tensor is not sample-major over the shard");
    int64_t per = n / g->shard_count, k = after ? g->shard_total - g->shard_offset - g->shard_count : g->shard_offset;
    float u[1024];
    for (int64_t i = 0, m = k * per; i < m; i += 1024) rng_uniform_fill(&g->rng, u, m - i < 1024 ? m - i : 1024);
}

tensor *op_dropout(graph *g, tensor *x, float p) {
    if (!g->training || p <= 0.0f) return x;
    float *mask = graph_alloc(g, sizeof(float) * x->n);
    float keep = 1.0f / (1.0f - p);
    shard_skip(g, x->n, 0);
    rng_uniform_fill(&g->rng, mask, x->n); /* the draws serially (one stream), the threshold in parallel */
    shard_skip(g, x->n, 1);
    int64_t n = x->n;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) mask[i] = mask[i] < p ? 0.0f : keep;
    return apply_mask(g, x, mask, 1);
}

/* gelu + dropout: y = gelu(x) * (keep[i] ? 1/(1-p) : 0), x (n) any shape                                */
typedef struct {
    graph *g;
    tensor *x, *y;
    unsigned char *keep;
    float scale;
} gelu_drop_ctx;

static void gelu_dropout_bwd(void *p) {
    gelu_drop_ctx *c = p;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad, c->x->data);
    const float *x = c->x->data, *dy = c->y->grad;
    const unsigned char *keep = c->keep;
    float *dx = tensor_grad(c->g, c->x), scale = c->scale;
    int64_t n = c->x->n;
    /* (dy * m) * gelu'(x), as mask_bwd then the backend's gelu_bwd (branch-free, so it vectorises) */
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i], d = dy[i] * (keep[i] ? scale : 0.0f), pdf;
        float cdf = fm_normcdf_pdf(v, &pdf);
        dx[i] += d * (cdf + v * pdf);
    }
}

tensor *op_gelu_dropout(graph *g, tensor *x, float p) {
    if (!g->training || p <= 0.0f) return op_gelu(g, x);
    GRAPH_OP(g, x);
    int64_t n = x->n;
    unsigned char *keep = arena_alloc(&g->mem, (size_t)n);
    float u[4096];
    shard_skip(g, n, 0);
    for (int64_t i0 = 0; i0 < n; i0 += 4096) { /* op_dropout's draws: element i dropped when its uniform < p */
        int m = n - i0 < 4096 ? (int)(n - i0) : 4096;
        rng_uniform_fill(&g->rng, u, m);
        for (int i = 0; i < m; i++) keep[i0 + i] = !(u[i] < p);
    }
    shard_skip(g, n, 1);
    float scale = 1.0f / (1.0f - p);
    tensor *y = tensor_like(g, x, NEEDS(x));
    const float *xd = x->data;
    float *yd = y->data;
    /* the backend's gelu_fwd formula, then the mask (branch-free, so it vectorises) */
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float pdf, h = xd[i] * fm_normcdf_pdf(xd[i], &pdf);
        yd[i] = h * (keep[i] ? scale : 0.0f);
    }
    if (y->requires_grad) {
        gelu_drop_ctx *c = graph_push(g, gelu_dropout_bwd, sizeof *c);
        *c = (gelu_drop_ctx){g, x, y, keep, scale};
    }
    return y;
}

tensor *op_drop_path(graph *g, tensor *x, float p) {
    if (!g->training || p <= 0.0f) return x;
    int B = x->shape[0];
    float *mask = graph_alloc(g, sizeof(float) * B);
    shard_skip(g, B, 0);
    for (int b = 0; b < B; b++) mask[b] = floorf(1.0f - p + rng_uniform(&g->rng)) / (1.0f - p);
    shard_skip(g, B, 1);
    return apply_mask(g, x, mask, x->n / B);
}

/* ------------------------------------------------------------------------------------------------ */
/* mean over tokens: x (B, N, C) -> (B, C)                                                           */
typedef struct {
    graph *g;
    tensor *x, *y;
} mean_ctx;

static void mean_tokens_bwd(void *p) {
    mean_ctx *c = p;
    if (!c->y->grad) return;
    graph_use(c->g, c->y->grad);
    int B = c->x->shape[0], N = c->x->shape[1], C = c->x->shape[2];
    float *dx = tensor_grad(c->g, c->x);
    for (int b = 0; b < B; b++)
        for (int n = 0; n < N; n++)
            for (int k = 0; k < C; k++) dx[((int64_t)b * N + n) * C + k] += c->y->grad[b * C + k] / N;
}

tensor *op_mean_tokens(graph *g, tensor *x) {
    GRAPH_OP(g, x);
    DB_ASSERT(x->ndim == 3);
    int B = x->shape[0], N = x->shape[1], C = x->shape[2];
    int shape[2] = {B, C};
    tensor *y = tensor_new(g, 2, shape, NEEDS(x));
    for (int b = 0; b < B; b++)
        for (int k = 0; k < C; k++) {
            double s = 0;
            for (int n = 0; n < N; n++) s += x->data[((int64_t)b * N + n) * C + k];
            y->data[b * C + k] = (float)(s / N);
        }
    if (y->requires_grad) {
        mean_ctx *c = graph_push(g, mean_tokens_bwd, sizeof *c);
        *c = (mean_ctx){g, x, y};
    }
    return y;
}

/* ------------------------------------------------------------------------------------------------ */
/* LoRand weight: W (out, in) = sum_i (A_i g_i B_i)^T; A_i (in, k), g_i (k, k), B_i (k, out)        */
#define LORAND_MAX 8
typedef struct {
    graph *g;
    int nb;
    tensor *A[LORAND_MAX], *G[LORAND_MAX], *B[LORAND_MAX], *y;
} lorand_ctx;

static void lorand_bwd(void *p) {
    lorand_ctx *c = p;
    if (!c->y->grad) return;
    graph_use(c->g, c->y->grad);
    int in = c->A[0]->shape[0], k = c->A[0]->shape[1], out = c->B[0]->shape[1];
    const float *dW = c->y->grad; /* (out, in); dWT = dW^T (in, out) */
    float *ag = xmalloc(sizeof(float) * (size_t)in * k), *gb = xmalloc(sizeof(float) * (size_t)k * out);
    float *t = xmalloc(sizeof(float) * (size_t)in * k);
    for (int i = 0; i < c->nb; i++) {
        /* ag = A g (in, k); gb = g B (k, out) */
        BE->gemm(0, 0, in, k, k, 1.0f, c->A[i]->data, k, c->G[i]->data, k, 0.0f, ag, k);
        BE->gemm(0, 0, k, out, k, 1.0f, c->G[i]->data, k, c->B[i]->data, out, 0.0f, gb, out);
        /* t = dWT (in, out) . B^T (out, k) = dW^T B^T */
        BE->gemm(1, 1, in, k, out, 1.0f, dW, in, c->B[i]->data, out, 0.0f, t, k);
        if (NEEDS(c->A[i])) /* dA (in, k) += dWT . (g B)^T = dW^T gb^T */
            BE->gemm(1, 1, in, k, out, 1.0f, dW, in, gb, out, 1.0f, tensor_grad(c->g, c->A[i]), k);
        if (NEEDS(c->G[i])) /* dg (k, k) += A^T (k, in) . t (in, k) */
            BE->gemm(1, 0, k, k, in, 1.0f, c->A[i]->data, k, t, k, 1.0f, tensor_grad(c->g, c->G[i]), k);
        if (NEEDS(c->B[i])) /* dB (k, out) += (A g)^T (k, in) . dWT (in, out) */
            BE->gemm(1, 1, k, out, in, 1.0f, ag, k, dW, in, 1.0f, tensor_grad(c->g, c->B[i]), out);
    }
    free(ag);
    free(gb);
    free(t);
}

tensor *op_lorand_weight(graph *g, int nb, tensor **A, tensor **G, tensor **B) {
    graph_op_tensors(g, __func__, NULL, 0); /* reads parameters only */
    DB_ASSERT(nb >= 1 && nb <= LORAND_MAX);
    int in = A[0]->shape[0], k = A[0]->shape[1], out = B[0]->shape[1];
    int shape[2] = {out, in};
    int rg = 0;
    for (int i = 0; i < nb; i++) rg |= NEEDS(A[i]) || NEEDS(G[i]) || NEEDS(B[i]);
    tensor *y = tensor_new(g, 2, shape, rg);
    memset(y->data, 0, sizeof(float) * y->n);
    float *gb = xmalloc(sizeof(float) * (size_t)k * out);
    for (int i = 0; i < nb; i++) {
        BE->gemm(0, 0, k, out, k, 1.0f, G[i]->data, k, B[i]->data, out, 0.0f, gb, out); /* g B (k, out) */
        /* W (out, in) += (A gB)^T = gB^T (out, k) . A^T (k, in) */
        BE->gemm(1, 1, out, in, k, 1.0f, gb, out, A[i]->data, k, 1.0f, y->data, in);
    }
    free(gb);
    if (y->requires_grad) {
        lorand_ctx *c = graph_push(g, lorand_bwd, sizeof *c);
        c->g = g;
        c->nb = nb;
        c->y = y;
        for (int i = 0; i < nb; i++) {
            c->A[i] = A[i];
            c->G[i] = G[i];
            c->B[i] = B[i];
        }
    }
    return y;
}

/* ------------------------------------------------------------------------------------------------ */
/* cross-entropy with label smoothing: loss = mean_b [ -sum_k q_k log softmax(z)_k ],
 * q = (1 - eps) onehot + eps / K                                                                    */
typedef struct {
    graph *g;
    tensor *z, *y;
    float *prob;
    const int *labels;
    float eps;
} ce_ctx;

static void ce_bwd(void *p) {
    ce_ctx *c = p;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad, c->prob);
    int B = c->z->shape[0], K = c->z->shape[1];
    float dl = c->y->grad[0] / B;
    float *dz = tensor_grad(c->g, c->z);
    for (int b = 0; b < B; b++)
        for (int k = 0; k < K; k++) {
            float q = c->eps / K + (k == c->labels[b] ? 1.0f - c->eps : 0.0f);
            dz[b * K + k] += dl * (c->prob[b * K + k] - q);
        }
}

tensor *op_cross_entropy(graph *g, tensor *logits, const int *labels, float smoothing) {
    GRAPH_OP(g, logits);
    DB_ASSERT(logits->ndim == 2);
    int B = logits->shape[0], K = logits->shape[1];
    int one = 1;
    tensor *y = tensor_new(g, 1, &one, NEEDS(logits));
    float *prob = graph_alloc(g, sizeof(float) * (size_t)B * K);
    double total = 0;
    for (int b = 0; b < B; b++) {
        const float *z = logits->data + (int64_t)b * K;
        float mx = z[0];
        for (int k = 1; k < K; k++) mx = z[k] > mx ? z[k] : mx;
        double s = 0;
        for (int k = 0; k < K; k++) s += exp((double)z[k] - mx);
        double lse = mx + log(s);
        double l = 0;
        for (int k = 0; k < K; k++) {
            double q = smoothing / K + (k == labels[b] ? 1.0 - smoothing : 0.0);
            l -= q * ((double)z[k] - lse);
            prob[b * K + k] = (float)exp((double)z[k] - lse);
        }
        total += l;
    }
    y->data[0] = (float)(total / B);
    if (y->requires_grad) {
        ce_ctx *c = graph_push(g, ce_bwd, sizeof *c);
        *c = (ce_ctx){g, logits, y, prob, labels, smoothing};
    }
    return y;
}

double loss_dot_seed(graph *g, tensor *x, const float *w) {
    GRAPH_OP(g, x);
    double s = 0;
    for (int64_t i = 0; i < x->n; i++) s += (double)x->data[i] * w[i];
    if (x->requires_grad) {
        float *d = tensor_grad(g, x);
        for (int64_t i = 0; i < x->n; i++) d[i] += w[i];
    }
    return s;
}
