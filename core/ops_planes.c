/* ops_planes.c - convolution over a set of feature planes packed side by side (ops_nn.h, "planes"): a detection
 * head applies the same convs to every FPN level of every image, and one gemm over all of them replaces one
 * small gemm (and one threaded im2col) per level and image. Forward and backward side by side; op_conv2d_ex is
 * the reference the tests compare with (tests/test_ops_nn.c). */
#include <string.h>

#include "backend.h"
#include "ops_nn.h"

#define BE backend_get()
#define NEEDS(t) ((t) != NULL && (t)->requires_grad)

static float *grad_of(graph *g, tensor *t) { return NEEDS(t) ? tensor_grad(g, t) : NULL; }

void planes_make(planes *p, tensor *const *xs, int L) {
    DB_ASSERT(L >= 1, "planes: no levels");
    int B = xs[0]->shape[0], C = xs[0]->shape[1];
    DB_ASSERT((int64_t)L * B <= PLANES_MAX, "planes: %d levels x %d images exceed %d planes", L, B, PLANES_MAX);
    memset(p, 0, sizeof *p);
    p->L = L;
    p->B = B;
    p->n = L * B;
    for (int l = 0; l < L; l++)
        DB_ASSERT(xs[l]->ndim == 4 && xs[l]->shape[0] == B && xs[l]->shape[1] == C, "planes: level %d is not (%d, %d, H, W)", l, B, C);
    for (int b = 0; b < B; b++)
        for (int l = 0; l < L; l++) {
            int i = b * L + l;
            p->H[i] = xs[l]->shape[2];
            p->W[i] = xs[l]->shape[3];
            p->off[i + 1] = p->off[i] + (int64_t)p->H[i] * p->W[i];
        }
}

/* Level l's planes between the packed (C, N) layout and the level's (B, C, H_l, W_l): to_level copies (or, with
 * add, adds) the packed columns into the level tensor, else the level into the packed columns. */
static void planes_move(const planes *p, int l, int C, float *packed, float *level, int to_level, int add) {
    int64_t N = p->off[p->n], P = (int64_t)p->H[l] * p->W[l];
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < p->B; b++)
        for (int ch = 0; ch < C; ch++) {
            float *a = packed + (int64_t)ch * N + p->off[b * p->L + l], *v = level + ((int64_t)b * C + ch) * P;
            float *d = to_level ? v : a;
            const float *s = to_level ? a : v;
            if (!add) memcpy(d, s, sizeof(float) * P);
            else
                for (int64_t j = 0; j < P; j++) d[j] += s[j];
        }
}

/* ------------------------------------------------------------------------------------------------ */
/* pack: xs[l] (B, C, H_l, W_l) -> (C, N), plane b L + l at column off[b L + l]                      */
typedef struct {
    graph *g;
    tensor *xs[PLANES_MAX], *y;
    planes p;
} pack_ctx;

static void planes_pack_bwd(void *v) {
    pack_ctx *c = v;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad);
    for (int l = 0; l < c->p.L; l++) {
        float *dx = grad_of(c->g, c->xs[l]);
        if (dx) planes_move(&c->p, l, c->y->shape[0], c->y->grad, dx, 1, 1);
    }
}

tensor *op_planes_pack(graph *g, tensor *const *xs, const planes *p) {
    graph_op_tensors(g, __func__, (const tensor *const *)xs, p->L);
    int C = xs[0]->shape[1], rg = 0;
    int64_t N = p->off[p->n];
    DB_ASSERT(N <= 0x7fffffff, "planes: %lld columns", (long long)N);
    for (int l = 0; l < p->L; l++) rg |= NEEDS(xs[l]);
    int shape[2] = {C, (int)N};
    tensor *y = tensor_new(g, 2, shape, rg);
    for (int l = 0; l < p->L; l++) {
        DB_ASSERT(xs[l]->shape[0] == p->B && xs[l]->shape[1] == C && (int64_t)xs[l]->shape[2] * xs[l]->shape[3] == (int64_t)p->H[l] * p->W[l],
                  "planes pack: level %d does not match its planes", l);
        planes_move(p, l, C, y->data, xs[l]->data, 0, 0);
    }
    if (y->requires_grad) {
        pack_ctx *c = graph_push(g, planes_pack_bwd, sizeof *c);
        c->g = g;
        for (int l = 0; l < p->L; l++) c->xs[l] = xs[l];
        c->y = y;
        c->p = *p;
    }
    return y;
}

/* ------------------------------------------------------------------------------------------------ */
/* unpack: x (C, N) -> level l as (B, C, H_l, W_l)                                                   */
typedef struct {
    graph *g;
    tensor *x, *y;
    planes p;
    int l;
} unpack_ctx;

static void planes_unpack_bwd(void *v) {
    unpack_ctx *c = v;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad);
    planes_move(&c->p, c->l, c->x->shape[0], grad_of(c->g, c->x), c->y->grad, 0, 1);
}

tensor *op_planes_unpack(graph *g, tensor *x, const planes *p, int l) {
    GRAPH_OP(g, x);
    DB_ASSERT(x->ndim == 2 && x->shape[1] == p->off[p->n] && l >= 0 && l < p->L, "planes unpack: x (%d, %d), level %d of %d",
              x->shape[0], x->ndim > 1 ? x->shape[1] : 0, l, p->L);
    int C = x->shape[0], H = p->H[l], W = p->W[l];
    tensor *y = tensor_new4(g, p->B, C, H, W, NEEDS(x));
    planes_move(p, l, C, x->data, y->data, 1, 0);
    if (y->requires_grad) {
        unpack_ctx *c = graph_push(g, planes_unpack_bwd, sizeof *c);
        *c = (unpack_ctx){g, x, y, *p, l};
    }
    return y;
}

/* ------------------------------------------------------------------------------------------------ */
/* conv over planes: x (Cin, N), w (Cout, Cin, k, k), k odd, stride 1, padding dil (k - 1) / 2 -> (Cout, N) */

/* d (H, W) = x shifted: d[oy][ox] = x[oy + di][ox + dj], 0 outside. The valid rows are one contiguous run of
 * x: one memcpy, then the columns that wrapped into a neighbouring row (ox < lo or ox >= hi) are zeroed, a
 * column or two on a 3x3 kernel (a copy per row costs a library call per few floats on a head's small levels). A
 * wrapped column that would read before x or past its end is left out of the copy and zeroed all the same. */
__attribute__((optimize("no-tree-loop-distribute-patterns"))) /* the edge loops stay loops, not memset calls */
static void plane_shift(const float *x, int H, int W, int di, int dj, float *d) {
    int lo = dj < 0 ? -dj : 0, hi = dj > 0 ? W - dj : W;
    if (lo > W) lo = W;
    if (hi < lo) hi = lo;
    int oy0 = di < 0 ? -di : 0, oy1 = di > 0 ? H - di : H;
    if (oy0 > H) oy0 = H;
    if (oy1 < oy0 || lo == hi) oy1 = oy0; /* nothing valid */
    if (oy0 > 0) memset(d, 0, sizeof(float) * (size_t)oy0 * W);
    if (oy1 < H) memset(d + (int64_t)oy1 * W, 0, sizeof(float) * (size_t)(H - oy1) * W);
    if (oy1 == oy0) return;
    int64_t s0 = (int64_t)(oy0 + di) * W + dj, s1 = (int64_t)(oy1 + di) * W + dj, a = s0 < 0 ? 0 : s0;
    int64_t b = s1 > (int64_t)H * W ? (int64_t)H * W : s1;
    float *dv = d + (int64_t)oy0 * W - s0; /* dv[s] is the destination of x[s] */
    memcpy(dv + a, x + a, sizeof(float) * (size_t)(b - a));
    if (lo > 0 || hi < W)
        for (int oy = oy0; oy < oy1; oy++) {
            float *dr = d + (int64_t)oy * W;
            for (int ox = 0; ox < lo; ox++) dr[ox] = 0.0f;
            for (int ox = hi; ox < W; ox++) dr[ox] = 0.0f;
        }
}

/* the adjoint: x[oy + di][ox + dj] += d[oy][ox] where inside */
static void plane_shift_add(const float *d, int H, int W, int di, int dj, float *x) {
    int lo = dj < 0 ? -dj : 0, hi = dj > 0 ? W - dj : W;
    if (lo > W) lo = W;
    if (hi < lo) hi = lo;
    for (int oy = 0; oy < H; oy++) {
        int y = oy + di;
        if (y < 0 || y >= H) continue;
        const float *dr = d + (int64_t)oy * W;
        float *xr = x + (int64_t)y * W + dj;
        for (int ox = lo; ox < hi; ox++) xr[ox] += dr[ox];
    }
}

typedef struct {
    graph *g;
    tensor *x, *w, *b, *y;
    planes p;
    int k, dil;
} pconv_ctx;

/* col (Cin k k, Nc): planes [p0, p1), row (c, i, j) the shifted planes side by side */
static void planes_im2col(const float *x, int64_t N, const planes *p, int p0, int p1, int Cin, int k, int dil, float *col) {
    int64_t o0 = p->off[p0], Nc = p->off[p1] - o0;
    int pad = dil * (k - 1) / 2;
#pragma omp parallel for collapse(2) schedule(static)
    for (int c = 0; c < Cin; c++)
        for (int ij = 0; ij < k * k; ij++) {
            int di = (ij / k) * dil - pad, dj = (ij % k) * dil - pad;
            float *row = col + ((int64_t)c * k * k + ij) * Nc;
            for (int q = p0; q < p1; q++) plane_shift(x + (int64_t)c * N + p->off[q], p->H[q], p->W[q], di, dj, row + p->off[q] - o0);
        }
}

/* dx (Cin, N) += the adjoint of planes_im2col applied to col; channels in parallel (each owns its rows of dx) */
static void planes_col2im(const float *col, int64_t N, const planes *p, int p0, int p1, int Cin, int k, int dil, float *dx) {
    int64_t o0 = p->off[p0], Nc = p->off[p1] - o0;
    int pad = dil * (k - 1) / 2;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < Cin; c++)
        for (int ij = 0; ij < k * k; ij++) {
            int di = (ij / k) * dil - pad, dj = (ij % k) * dil - pad;
            const float *row = col + ((int64_t)c * k * k + ij) * Nc;
            for (int q = p0; q < p1; q++) plane_shift_add(row + p->off[q] - o0, p->H[q], p->W[q], di, dj, dx + (int64_t)c * N + p->off[q]);
        }
}

/* Chunks of planes whose column buffer stays within planes_col_floats (at least one plane), so that a paper-sized
 * level keeps the column memory of one image's conv. A chunk holds whole images, or planes of one image (when
 * the image alone does not fit): the weight gradient is summed image by image (conv2d_planes_bwd). */
static int64_t planes_col_floats = 16 << 20;
int64_t planes_chunk_floats(int64_t n) {
    int64_t old = planes_col_floats;
    if (n > 0) planes_col_floats = n;
    return old;
}
static int planes_chunk_end(const planes *p, int p0, int K) {
    int L = p->L, img = p0 / L;
    int64_t cap = planes_col_floats / (K > 0 ? K : 1);
    if (p0 % L == 0 && p->off[(img + 1) * L] - p->off[p0] <= cap) { /* whole images */
        int e = img + 1;
        while (e < p->B && p->off[(e + 1) * L] - p->off[p0] <= cap) e++;
        return e * L;
    }
    int p1 = p0 + 1; /* planes of this image */
    while (p1 < (img + 1) * L && p->off[p1 + 1] - p->off[p0] <= cap) p1++;
    return p1;
}

/* the widest chunk, in columns */
static size_t planes_chunk_cap(const planes *p, int K) {
    size_t cap = 0;
    for (int p0 = 0, p1; p0 < p->n; p0 = p1) {
        p1 = planes_chunk_end(p, p0, K);
        if ((size_t)(p->off[p1] - p->off[p0]) > cap) cap = (size_t)(p->off[p1] - p->off[p0]);
    }
    return cap;
}

/* Backward. The weight and bias gradients are sums over images, each image's own sum added in image order (as
 * op_conv2d_ex does it), so that one process and the all-reduce of data-parallel ranks add the same per-image
 * terms; dx is independent per column. */
static void conv2d_planes_bwd(void *v) {
    pconv_ctx *c = v;
    if (!c->y->grad) return;
    GRAPH_USE(c->g, c->y->grad, NEEDS(c->w) ? c->x->data : NULL, NEEDS(c->x) ? c->w->data : NULL);
    const planes *p = &c->p;
    int Cin = c->x->shape[0], Cout = c->w->shape[0], k = c->k, K = Cin * k * k, L = p->L;
    int64_t N = p->off[p->n];
    const float *dy = c->y->grad;
    float *dx = grad_of(c->g, c->x), *dw = grad_of(c->g, c->w), *db = grad_of(c->g, c->b);
    if (db) { /* db[o] += sum over images of the image's float sum of dy[o], in double */
#pragma omp parallel for schedule(static)
        for (int o = 0; o < Cout; o++) {
            double s = 0;
            for (int b = 0; b < p->B; b++) {
                const float *d = dy + (int64_t)o * N;
                float t = 0;
#pragma omp simd reduction(+ : t)
                for (int64_t j = p->off[b * L]; j < p->off[(b + 1) * L]; j++) t += d[j];
                s += t;
            }
            db[o] += (float)s;
        }
    }
    if (!dw && !dx) return;
    /* part (Cout, K): one image's weight gradient, added to dw when the image's last column is done */
    float *part = dw && p->B > 1 ? graph_alloc(c->g, sizeof(float) * (size_t)Cout * K) : NULL;
    float *col = k == 1 ? NULL : graph_alloc(c->g, sizeof(float) * (size_t)K * planes_chunk_cap(p, K));
    for (int p0 = 0, p1; p0 < p->n; p0 = p1) {
        p1 = planes_chunk_end(p, p0, K);
        int64_t o0 = p->off[p0], Nc = p->off[p1] - o0;
        const float *cb = c->x->data + o0; /* the chunk's columns: x itself for 1x1 (row stride N), else col */
        int64_t ldc = N;
        if (k != 1) {
            cb = col, ldc = Nc;
            if (dw) planes_im2col(c->x->data, N, p, p0, p1, Cin, k, c->dil, col);
        }
        if (dw) /* dw (Cout, K) += dy (Cout, n) . cols^T (n, K) over each image's columns of the chunk */
            for (int b = p0 / L; b * L < p1; b++) {
                int64_t a = p->off[b * L] > o0 ? p->off[b * L] : o0, e = p->off[(b + 1) * L] < p->off[p1] ? p->off[(b + 1) * L] : p->off[p1];
                int first = a == p->off[b * L], last = e == p->off[(b + 1) * L];
                if (!part) { /* one image */
                    BE->gemm(0, 1, Cout, K, (int)(e - a), 1.0f, dy + a, (int)N, cb + (a - o0), (int)ldc, 1.0f, dw, K);
                    continue;
                }
                BE->gemm(0, 1, Cout, K, (int)(e - a), 1.0f, dy + a, (int)N, cb + (a - o0), (int)ldc, first ? 0.0f : 1.0f, part, K);
                if (last)
#pragma omp parallel for schedule(static)
                    for (int64_t j = 0; j < (int64_t)Cout * K; j++) dw[j] += part[j];
            }
        if (dx) {
            if (k == 1) /* dx (Cin, Nc) += w^T (Cin, Cout) . dy (Cout, Nc) */
                BE->gemm(1, 0, Cin, (int)Nc, Cout, 1.0f, c->w->data, Cin, dy + o0, (int)N, 1.0f, dx + o0, (int)N);
            else { /* col (K, Nc) = w^T (K, Cout) . dy (Cout, Nc); dx += col2im(col) */
                BE->gemm(1, 0, K, (int)Nc, Cout, 1.0f, c->w->data, K, dy + o0, (int)N, 0.0f, col, (int)Nc);
                planes_col2im(col, N, p, p0, p1, Cin, k, c->dil, dx);
            }
        }
    }
}

tensor *op_conv2d_planes(graph *g, tensor *x, const planes *p, tensor *w, tensor *b, int dil) {
    GRAPH_OP(g, x, w, b);
    int64_t N = p->off[p->n];
    DB_ASSERT(x->ndim == 2 && x->shape[1] == N, "conv2d planes: x must be (C, %lld)", (long long)N);
    DB_ASSERT(w->ndim == 4 && w->shape[1] == x->shape[0] && w->shape[2] == w->shape[3] && (w->shape[2] & 1) && dil >= 1,
              "conv2d planes: w (%d, %d, %d, %d) for %d input channels: a square odd kernel", w->shape[0], w->shape[1],
              w->shape[2], w->shape[3], x->shape[0]);
    DB_ASSERT(!b || b->n == w->shape[0], "conv2d planes: bias of %lld for %d outputs", (long long)b->n, w->shape[0]);
    int Cin = x->shape[0], Cout = w->shape[0], k = w->shape[2], K = Cin * k * k;
    int shape[2] = {Cout, (int)N};
    tensor *y = tensor_new(g, 2, shape, NEEDS(x) || NEEDS(w) || NEEDS(b));
#pragma omp parallel for schedule(static)
    for (int o = 0; o < Cout; o++) {
        float v = b ? b->data[o] : 0.0f, *d = y->data + (int64_t)o * N;
        for (int64_t j = 0; j < N; j++) d[j] = v;
    }
    if (k == 1) /* y (Cout, N) += w (Cout, Cin) . x (Cin, N) */
        BE->gemm(0, 0, Cout, (int)N, Cin, 1.0f, w->data, Cin, x->data, (int)N, 1.0f, y->data, (int)N);
    else {
        float *col = graph_alloc(g, sizeof(float) * (size_t)K * planes_chunk_cap(p, K));
        for (int p0 = 0, p1; p0 < p->n; p0 = p1) { /* y (Cout, Nc) += w (Cout, K) . col (K, Nc) */
            p1 = planes_chunk_end(p, p0, K);
            int64_t o0 = p->off[p0], Nc = p->off[p1] - o0;
            planes_im2col(x->data, N, p, p0, p1, Cin, k, dil, col);
            BE->gemm(0, 0, Cout, (int)Nc, K, 1.0f, w->data, K, col, (int)Nc, 1.0f, y->data + o0, (int)N);
        }
    }
    if (y->requires_grad) {
        pconv_ctx *c = graph_push(g, conv2d_planes_bwd, sizeof *c);
        *c = (pconv_ctx){g, x, w, b, y, *p, k, dil};
    }
    return y;
}
