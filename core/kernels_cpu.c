/* kernels_cpu.c - the CPU backend: C loops threaded with OpenMP, matrix products through OpenBLAS.
 * This is the reference other backends are tested against. The depthwise conv is blocked for speed (kernel
 * transposed to (k, k, C), channel blocks in registers); tests/test_ops.c checks it against plain loops. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "common.h"
#include "fastmath.h"

uint64_t backend_flops;

static void gemm_blas(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                      float beta, float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda,
                B, ldb, beta, C, ldc);
}

/* which single-threaded sgemm a thread runs: our AVX-512 kernel where the processor has it (unless DB_GEMM=openblas),
 * else OpenBLAS (which inside an OpenMP region runs on the calling thread) */
static int use_avx512 = -1;

int backend_cpu_gemm_avx512(int on) {
    if (use_avx512 < 0) {
        const char *e = getenv("DB_GEMM");
        use_avx512 = gemm_avx512_available() && !(e && !strcmp(e, "openblas"));
    }
    int prev = use_avx512;
    if (on >= 0) use_avx512 = on && gemm_avx512_available();
    return prev;
}

static void gemm_one(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                     float beta, float *C, int ldc) {
    if (use_avx512) gemm_avx512(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else gemm_blas(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* Threads split the product themselves and each calls single-threaded sgemm (OpenBLAS inside an OpenMP region
 * runs on one thread): the inner dimension K when it dwarfs M and N (weight gradients dy^T x: a partial C per
 * thread, added at the end), else the rows of C when M is large (activations times a weight: each thread packs
 * its own copy of the small operand, and no thread waits inside the product). Other shapes go to OpenBLAS's own
 * threads. Measured on Swin-T 224 batch 8, 2 threads: full 1.43 -> 1.32 s a step, Mona 1.20 -> 1.09, LoRA 1.06 ->
 * 0.98 (OpenBLAS's threads spent the difference waiting in sched_yield). tests/test_ops.c (test_gemm_split)
 * checks every path and transpose against plain loops. */
#define GEMM_SPLIT_MIN_FLOP (1 << 22)
static void cpu_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                     int ldb, float beta, float *C, int ldc) {
    if (M == 0 || N == 0) return;
    backend_flops += 2ull * (uint64_t)M * N * K;
    if (K == 0) {
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(int64_t)i * ldc + j] *= beta;
        return;
    }
    if (use_avx512 < 0) backend_cpu_gemm_avx512(-1);
    int nt = omp_in_parallel() ? 1 : omp_get_max_threads();
    double flop = 2.0 * M * (double)N * K;
    if (nt > 1 && flop >= GEMM_SPLIT_MIN_FLOP && K >= 256 * nt && K >= 4 * (M > N ? M : N) &&
        (int64_t)M * N <= (1 << 22)) {
        /* the partial products live in one buffer kept between calls (grown, never shrunk): a fresh allocation
         * of this size is a fresh mapping, paid again in page faults at every call. One buffer per calling
         * thread (only a thread outside any parallel region gets here, normally just the main one). */
        static _Thread_local float *part_buf;
        static _Thread_local size_t part_cap;
        size_t need = (size_t)(nt - 1) * M * N;
        if (need > part_cap) {
            free(part_buf);
            part_buf = xmalloc_aligned(sizeof(float) * need);
            part_cap = need;
        }
        float *part = part_buf; /* the team's threads see the caller's buffer, not their own thread-local one */
#pragma omp parallel num_threads(nt)
        {
            int t = omp_get_thread_num();
            int k0 = (int)((int64_t)K * t / nt), k1 = (int)((int64_t)K * (t + 1) / nt);
            const float *At = ta ? A + (int64_t)k0 * lda : A + k0, *Bt = tb ? B + k0 : B + (int64_t)k0 * ldb;
            if (t == 0) gemm_one(ta, tb, M, N, k1 - k0, alpha, At, lda, Bt, ldb, beta, C, ldc);
            else gemm_one(ta, tb, M, N, k1 - k0, alpha, At, lda, Bt, ldb, 0.0f, part + (size_t)(t - 1) * M * N, N);
#pragma omp barrier
#pragma omp for schedule(static)
            for (int i = 0; i < M; i++)
                for (int u = 1; u < nt; u++) {
                    const float *pr = part + ((size_t)(u - 1) * M + i) * N;
                    float *cr = C + (int64_t)i * ldc;
                    for (int j = 0; j < N; j++) cr[j] += pr[j];
                }
        }
        return;
    }
    if (nt > 1 && flop >= GEMM_SPLIT_MIN_FLOP && M >= 32 * nt) {
#pragma omp parallel num_threads(nt)
        {
            int t = omp_get_thread_num();
            int m0 = (int)((int64_t)M * t / nt) & ~7, m1 = t == nt - 1 ? M : (int)((int64_t)M * (t + 1) / nt) & ~7;
            if (m1 > m0)
                gemm_one(ta, tb, m1 - m0, N, K, alpha, ta ? A + m0 : A + (int64_t)m0 * lda, lda, B, ldb, beta,
                         C + (int64_t)m0 * ldc, ldc);
        }
        return;
    }
    if (nt == 1 && flop >= GEMM_SPLIT_MIN_FLOP) gemm_one(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else gemm_blas(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

static void cpu_layernorm_fwd(const float *x, const float *w, const float *b, float *y, float *mean, float *rstd,
                              int64_t R, int C, float eps) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < R; r++) {
        const float *xr = x + r * C;
        double s = 0;
#pragma omp simd reduction(+ : s)
        for (int c = 0; c < C; c++) s += xr[c];
        double mu = s / C, v = 0;
#pragma omp simd reduction(+ : v)
        for (int c = 0; c < C; c++) {
            double d = xr[c] - mu;
            v += d * d;
        }
        float rs = (float)(1.0 / sqrt(v / C + eps));
        float m = (float)mu;
        mean[r] = m;
        rstd[r] = rs;
        float *yr = y + r * C;
        for (int c = 0; c < C; c++) {
            float h = (xr[c] - m) * rs;
            yr[c] = (w ? h * w[c] : h) + (b ? b[c] : 0.0f);
        }
    }
}

/* One pass over the rows: dx from the row's two sums, and the weight and bias gradients as per-thread column
 * sums of dy * xhat and dy (double, rows in order within a thread), added up at the end. */
static void cpu_layernorm_bwd(const float *x, const float *w, const float *mean, const float *rstd, const float *dy,
                              float *dx, float *dw, float *db, int64_t R, int C) {
    int nt = omp_get_max_threads(), wsum = dw || db;
    double *part = wsum ? xcalloc((size_t)nt * 2 * C, sizeof(double)) : NULL;
#pragma omp parallel
    {
        double *sw = wsum ? part + (size_t)omp_get_thread_num() * 2 * C : NULL, *sb = wsum ? sw + C : NULL;
        float *hh = xmalloc(sizeof(float) * (size_t)C), *dh = xmalloc(sizeof(float) * (size_t)C);
#pragma omp for schedule(static)
        for (int64_t r = 0; r < R; r++) {
            const float *xr = x + r * C, *dyr = dy + r * C;
            float m = mean[r], rs = rstd[r];
            for (int c = 0; c < C; c++) {
                hh[c] = (xr[c] - m) * rs;
                dh[c] = dyr[c] * (w ? w[c] : 1.0f);
            }
            if (wsum)
                for (int c = 0; c < C; c++) {
                    sw[c] += (double)dyr[c] * hh[c];
                    sb[c] += dyr[c];
                }
            if (!dx) continue;
            double s1 = 0, s2 = 0; /* mean(dxhat), mean(dxhat * xhat) */
#pragma omp simd reduction(+ : s1, s2)
            for (int c = 0; c < C; c++) {
                s1 += dh[c];
                s2 += (double)dh[c] * hh[c];
            }
            float a1 = (float)(s1 / C), a2 = (float)(s2 / C);
            float *dxr = dx + r * C;
            for (int c = 0; c < C; c++) dxr[c] += rs * (dh[c] - a1 - hh[c] * a2);
        }
        free(hh);
        free(dh);
    }
    if (wsum) {
        for (int t = 0; t < nt; t++)
            for (int c = 0; c < C; c++) {
                if (dw) dw[c] += (float)part[(size_t)t * 2 * C + c];
                if (db) db[c] += (float)part[(size_t)t * 2 * C + C + c];
            }
        free(part);
    }
}

/* exact GELU x Phi(x) (Phi through fastmath.h, vectorised; checked against libm's erf in test_fastmath) */
static void cpu_gelu_fwd(const float *x, float *y, int64_t n) {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float pdf;
        y[i] = x[i] * fm_normcdf_pdf(x[i], &pdf);
    }
}

/* dx += dy (Phi(x) + x pdf(x)) */
static void cpu_gelu_bwd(const float *x, const float *dy, float *dx, int64_t n) {
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i], pdf;
        float cdf = fm_normcdf_pdf(v, &pdf);
        dx[i] += dy[i] * (cdf + v * pdf);
    }
}

/* One (window, head): S = (q * scale) k^T + bias + mask; P = softmax(S); O = P v. The products are small
 * sgemm calls on the strided q/k/v slices of the window (OpenBLAS runs single-threaded inside the OpenMP
 * loop); q is (T, d) with row stride 3C, O is written in place with row stride C. */
static void cpu_attn_fwd(const float *qkv, const float *table, const int *rel_index, const float *mask, int nw_img,
                         int64_t nwin, int T, int C, int heads, float scale, float *p, float *out) {
    int d = C / heads, C3 = 3 * C;
    backend_flops += 4ull * (uint64_t)nwin * heads * T * T * d;
    /* the relative position bias gathered once per call into (heads, T, T), so the rows below add contiguous
     * vectors */
    float *bias = xmalloc(sizeof(float) * (size_t)heads * T * T);
    for (int h = 0; h < heads; h++)
        for (int i = 0; i < T * T; i++) bias[(int64_t)h * T * T + i] = table[(int64_t)rel_index[i] * heads + h];
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t w = 0; w < nwin; w++) {
        for (int h = 0; h < heads; h++) {
            const float *base = qkv + w * (int64_t)T * C3;
            float *P = p + ((w * heads + h) * (int64_t)T * T);
            const float *mk = mask ? mask + (int64_t)(w % nw_img) * T * T : NULL;
            /* S (T, T) = scale * Q (T, d) . K^T (d, T) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, d, scale, base + h * d, C3, base + C + h * d, C3, 0.0f,
                        P, T);
            for (int t1 = 0; t1 < T; t1++) {
                float *row = P + (int64_t)t1 * T;
                const float *br = bias + ((int64_t)h * T + t1) * T, *mr = mk ? mk + (int64_t)t1 * T : NULL;
                float mx = -INFINITY;
                if (mr)
                    for (int t2 = 0; t2 < T; t2++) row[t2] += br[t2] + mr[t2];
                else
                    for (int t2 = 0; t2 < T; t2++) row[t2] += br[t2];
#pragma omp simd reduction(max : mx)
                for (int t2 = 0; t2 < T; t2++) mx = row[t2] > mx ? row[t2] : mx;
                float sum = 0;
#pragma omp simd reduction(+ : sum)
                for (int t2 = 0; t2 < T; t2++) {
                    row[t2] = fm_exp(row[t2] - mx);
                    sum += row[t2];
                }
                float inv = 1.0f / sum;
                for (int t2 = 0; t2 < T; t2++) row[t2] *= inv;
            }
            /* O (T, d) = P (T, T) . V (T, d) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, d, T, 1.0f, P, T, base + 2 * C + h * d, C3, 0.0f,
                        out + w * (int64_t)T * C + h * d, C);
        }
    }
    free(bias);
}

static void cpu_attn_bwd(const float *qkv, const float *p, const int *rel_index, int64_t nwin, int T, int C, int heads,
                         float scale, const float *dout, float *dqkv, float *dtable, int table_rows) {
    int d = C / heads, C3 = 3 * C;
    int nt = omp_get_max_threads();
    backend_flops += (dqkv ? 8ull : 2ull) * (uint64_t)nwin * heads * T * T * d;
    /* per-thread bias-gradient accumulators (heads, T, T), reduced at the end */
    float *dbias = dtable ? xcalloc((size_t)nt * heads * T * T, sizeof(float)) : NULL;
#pragma omp parallel
    {
        int tid = omp_get_thread_num();
        float *dS = xmalloc(sizeof(float) * (size_t)T * T);
        float *mydb = dbias ? dbias + (size_t)tid * heads * T * T : NULL;
#pragma omp for collapse(2) schedule(static)
        for (int64_t w = 0; w < nwin; w++) {
            for (int h = 0; h < heads; h++) {
                const float *base = qkv + w * (int64_t)T * C3;
                const float *P = p + ((w * heads + h) * (int64_t)T * T);
                const float *dO = dout + w * (int64_t)T * C + h * d;
                /* dP (T, T) = dO (T, d) . V^T (d, T) */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, d, 1.0f, dO, C, base + 2 * C + h * d, C3, 0.0f, dS, T);
                /* dS = P * (dP - sum_t2 dP P) */
                for (int t1 = 0; t1 < T; t1++) {
                    float *r = dS + (int64_t)t1 * T;
                    const float *pr = P + (int64_t)t1 * T;
                    float acc = 0;
#pragma omp simd reduction(+ : acc)
                    for (int t2 = 0; t2 < T; t2++) acc += r[t2] * pr[t2];
                    for (int t2 = 0; t2 < T; t2++) r[t2] = pr[t2] * (r[t2] - acc);
                }
                if (mydb)
                    for (int i = 0; i < T * T; i++) mydb[(int64_t)h * T * T + i] += dS[i];
                if (!dqkv) continue;
                float *dbase = dqkv + w * (int64_t)T * C3;
                /* dQ += scale dS K ; dK += scale dS^T Q ; dV += P^T dO */
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, d, T, scale, dS, T, base + C + h * d, C3, 1.0f,
                            dbase + h * d, C3);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, d, T, scale, dS, T, base + h * d, C3, 1.0f,
                            dbase + C + h * d, C3);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, d, T, 1.0f, P, T, dO, C, 1.0f, dbase + 2 * C + h * d, C3);
            }
        }
        free(dS);
    }
    if (dtable) {
        for (int t = 1; t < nt; t++)
            for (int64_t i = 0; i < (int64_t)heads * T * T; i++) dbias[i] += dbias[(int64_t)t * heads * T * T + i];
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < T * T; i++) dtable[(int64_t)rel_index[i] * heads + h] += dbias[(int64_t)h * T * T + i];
        (void)table_rows;
        free(dbias);
    }
}

/* Depthwise conv, NHWC, stride 1, zero padding k/2. The kernel is first transposed to (k, k, C) so that
 * the innermost loops run over contiguous channels, a block of DW_CB channels held in registers; the tap
 * loops are clipped once per pixel (no bounds tests inside them). Rows (b, r) are split across threads.
 * The plain loops these are tested against are in tests/test_ops.c (dwconv_ref_fwd/bwd). */
#define DW_CB 64 /* channels per register block (four AVX-512 vectors: independent FMA chains) */

/* w (C, k, k) -> wt (k, k, C); flip: wt[i][j] = w[k-1-i][k-1-j] (the kernel of the input gradient) */
static float *dw_transpose(const float *w, int C, int k, int flip) {
    float *wt = xmalloc(sizeof(float) * (size_t)k * k * C);
    for (int c = 0; c < C; c++)
        for (int i = 0; i < k; i++)
            for (int j = 0; j < k; j++) {
                int si = flip ? k - 1 - i : i, sj = flip ? k - 1 - j : j;
                wt[((int64_t)i * k + j) * C + c] = w[((int64_t)c * k + si) * k + sj];
            }
    return wt;
}

/* one output pixel, channels [c0, c0 + cb): yo = init + sum_{i < ni, j < nj} ws[i][j] * xs[i][j], where xs
 * points at the first tap inside the map (row stride W*C, column stride C) and ws at its weight (row
 * stride k*C, column stride C); init may be NULL (zero) */
static inline void dw_pixel(const float *xs, const float *ws, float *yo, const float *init, int cb, int ni, int nj,
                            int k, int W, int C) {
    float acc[DW_CB];
    for (int cc = 0; cc < cb; cc++) acc[cc] = init ? init[cc] : 0.0f;
    for (int i = 0; i < ni; i++)
        for (int j = 0; j < nj; j++) {
            const float *xi = xs + ((int64_t)i * W + j) * C, *wi = ws + ((int64_t)i * k + j) * C;
            for (int cc = 0; cc < cb; cc++) acc[cc] += wi[cc] * xi[cc];
        }
    for (int cc = 0; cc < cb; cc++) yo[cc] = acc[cc];
}

/* y (B, H, W, C) = (accumulate ? y : bias or 0) + sum_{i,j} wt[i][j] * x[b, r+i-p, s+j-p]     wt (k, k, C) */
static void dw_correlate(const float *x, const float *wt, const float *b, float *y, int B, int H, int W, int C, int k,
                         int accumulate) {
    int p = k / 2;
#pragma omp parallel for schedule(static)
    for (int64_t row = 0; row < (int64_t)B * H; row++) {
        int r = (int)(row % H);
        int i0 = r < p ? p - r : 0, i1 = H + p - r < k ? H + p - r : k;
        for (int s = 0; s < W; s++) {
            int j0 = s < p ? p - s : 0, j1 = W + p - s < k ? W + p - s : k;
            float *yo = y + (row * W + s) * C;
            const float *xs = x + ((row + i0 - p) * W + (s + j0 - p)) * (int64_t)C;
            const float *ws = wt + ((int64_t)i0 * k + j0) * C;
            for (int c0 = 0; c0 < C; c0 += DW_CB) {
                const float *init = accumulate ? yo + c0 : b ? b + c0 : NULL;
                if (C - c0 >= DW_CB) dw_pixel(xs + c0, ws + c0, yo + c0, init, DW_CB, i1 - i0, j1 - j0, k, W, C);
                else dw_pixel(xs + c0, ws + c0, yo + c0, init, C - c0, i1 - i0, j1 - j0, k, W, C);
            }
        }
    }
}

/* y (B, H, W, C) = b + sum_{i,j} w[c, i, j] x[b, r+i-p, s+j-p, c]        w (C, 1, k, k), b (C) or NULL */
static void cpu_dwconv_fwd(const float *x, const float *w, const float *b, float *y, int B, int H, int W, int C, int k) {
    float *wt = dw_transpose(w, C, k, 0);
    dw_correlate(x, wt, b, y, B, H, W, C, k, 0);
    free(wt);
}

/* Weight gradient of one output row and one kernel row i, channels [c0, c0 + cb) (cb <= DWW_CB):
 * aw[j] += sum_s dy[r, s] * x[r+i-p, s+j-p] for j < k over the columns inside the map. dyr = dy[b, r, 0, c0],
 * xrow = x[b, r+i-p, 0, c0], aw = (k, C) slice at c0. The k accumulators of a column block stay in registers
 * and each dy vector is loaded once for all k taps; kk is k as a constant where the caller can give one. */
#define DWW_CB 16
static inline void dw_wgrad_row(const float *dyr, const float *xrow, float *aw, int cb, int kk, int W, int C) {
    int p = kk / 2;
    float acc[7][DWW_CB];
    for (int j = 0; j < kk; j++)
        for (int cc = 0; cc < cb; cc++) acc[j][cc] = 0.0f;
    for (int s = 0; s < W; s++) {
        const float *d = dyr + (int64_t)s * C;
        if (s >= p && s + p < W) { /* every tap inside */
            const float *xs = xrow + (int64_t)(s - p) * C;
            for (int j = 0; j < kk; j++)
                for (int cc = 0; cc < cb; cc++) acc[j][cc] += d[cc] * xs[(int64_t)j * C + cc];
        } else {
            for (int j = 0; j < kk; j++) {
                int ss = s + j - p;
                if (ss < 0 || ss >= W) continue;
                for (int cc = 0; cc < cb; cc++) acc[j][cc] += d[cc] * xrow[(int64_t)ss * C + cc];
            }
        }
    }
    for (int j = 0; j < kk; j++)
        for (int cc = 0; cc < cb; cc++) aw[(int64_t)j * C + cc] += acc[j][cc];
}

/* the same with k a compile-time constant for the common sizes (full unrolling, accumulators in registers) */
static void dw_wgrad_row_k(const float *dyr, const float *xrow, float *aw, int cb, int k, int W, int C) {
    if (cb == DWW_CB) {
        switch (k) {
        case 3: dw_wgrad_row(dyr, xrow, aw, DWW_CB, 3, W, C); return;
        case 5: dw_wgrad_row(dyr, xrow, aw, DWW_CB, 5, W, C); return;
        case 7: dw_wgrad_row(dyr, xrow, aw, DWW_CB, 7, W, C); return;
        }
    }
    if (k <= 7) {
        dw_wgrad_row(dyr, xrow, aw, cb, k, W, C);
        return;
    }
    int p = k / 2; /* larger kernels: one tap at a time */
    for (int j = 0; j < k; j++)
        for (int s = 0; s < W; s++) {
            int ss = s + j - p;
            if (ss < 0 || ss >= W) continue;
            for (int cc = 0; cc < cb; cc++) aw[(int64_t)j * C + cc] += dyr[(int64_t)s * C + cc] * xrow[(int64_t)ss * C + cc];
        }
}

/* dx (B, H, W, C) += correlation of dy with the flipped kernel; dw (C, 1, k, k) += sum dy * shifted x;
 * db (C) += sum dy. Each of dx, dw, db may be NULL. */
static void cpu_dwconv_bwd(const float *x, const float *w, const float *dy, float *dx, float *dw, float *db, int B,
                           int H, int W, int C, int k) {
    if (dx) { /* dx[r', s'] += sum_{i,j} w[c,i,j] dy[r'-i+p, s'-j+p] = sum_{i,j} wflip[i][j] dy[r'+i-p, s'+j-p] */
        float *wf = dw_transpose(w, C, k, 1);
        dw_correlate(dy, wf, NULL, dx, B, H, W, C, k, 1);
        free(wf);
    }
    if (dw || db) {
        /* per-thread accumulators in (k, k, C) + (C) layout, reduced at the end */
        int nt = omp_get_max_threads();
        size_t per = (size_t)C * (k * k + 1);
        float *acc = xcalloc((size_t)nt * per, sizeof(float));
#pragma omp parallel
        {
            float *aw = acc + (size_t)omp_get_thread_num() * per, *ab = db ? aw + (size_t)C * k * k : NULL;
            if (!dw) aw = NULL;
#pragma omp for schedule(static)
            for (int64_t row = 0; row < (int64_t)B * H; row++) {
                int r = (int)(row % H), p = k / 2;
                const float *dyr = dy + row * W * C;
                if (ab) { /* db += sum_s dy[r, s] */
                    for (int s = 0; s < W; s++)
                        for (int c = 0; c < C; c++) ab[c] += dyr[(int64_t)s * C + c];
                }
                if (!aw) continue;
                for (int i = 0; i < k; i++) {
                    int rr = r + i - p;
                    if (rr < 0 || rr >= H) continue;
                    const float *xrow = x + (row + i - p) * W * C;
                    for (int c0 = 0; c0 < C; c0 += DWW_CB)
                        dw_wgrad_row_k(dyr + c0, xrow + c0, aw + (int64_t)i * k * C + c0, C - c0 < DWW_CB ? C - c0 : DWW_CB, k,
                                       W, C);
                }
            }
        }
        for (int t = 0; t < nt; t++) {
            const float *aw = acc + (size_t)t * per, *ab = aw + (size_t)C * k * k;
            for (int c = 0; c < C; c++) {
                if (db) db[c] += ab[c];
                if (dw)
                    for (int ij = 0; ij < k * k; ij++) dw[(int64_t)c * k * k + ij] += aw[(int64_t)ij * C + c];
            }
        }
        free(acc);
    }
}

static void cpu_im2col(const float *x, int C, int H, int W, int kh, int kw, int stride, int pad, int Ho, int Wo,
                       float *col) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int c = 0; c < C; c++)
        for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++) {
                float *dst = col + ((int64_t)(c * kh + i) * kw + j) * Ho * Wo;
                for (int oy = 0; oy < Ho; oy++) {
                    int y = oy * stride - pad + i;
                    for (int ox = 0; ox < Wo; ox++) {
                        int xx = ox * stride - pad + j;
                        dst[oy * Wo + ox] = (y >= 0 && y < H && xx >= 0 && xx < W) ? x[((int64_t)c * H + y) * W + xx] : 0.0f;
                    }
                }
            }
}

static void cpu_col2im(const float *col, int C, int H, int W, int kh, int kw, int stride, int pad, int Ho, int Wo,
                       float *dx) {
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++)
        for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++) {
                const float *src = col + ((int64_t)(c * kh + i) * kw + j) * Ho * Wo;
                for (int oy = 0; oy < Ho; oy++) {
                    int y = oy * stride - pad + i;
                    if (y < 0 || y >= H) continue;
                    for (int ox = 0; ox < Wo; ox++) {
                        int xx = ox * stride - pad + j;
                        if (xx >= 0 && xx < W) dx[((int64_t)c * H + y) * W + xx] += src[oy * Wo + ox];
                    }
                }
            }
}

const backend_ops backend_cpu = {
    .name = "cpu",
    .gemm = cpu_gemm,
    .layernorm_fwd = cpu_layernorm_fwd,
    .layernorm_bwd = cpu_layernorm_bwd,
    .gelu_fwd = cpu_gelu_fwd,
    .gelu_bwd = cpu_gelu_bwd,
    .attn_fwd = cpu_attn_fwd,
    .attn_bwd = cpu_attn_bwd,
    .dwconv_fwd = cpu_dwconv_fwd,
    .dwconv_bwd = cpu_dwconv_bwd,
    .im2col = cpu_im2col,
    .col2im = cpu_col2im,
};

const backend_ops *backend_get(void) { return &backend_cpu; }
