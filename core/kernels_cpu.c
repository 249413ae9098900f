/* kernels_cpu.c - the CPU backend: plain C loops threaded with OpenMP, matrix products through OpenBLAS.
 * This is the reference every faster path is tested against. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "common.h"

uint64_t backend_flops;

static void cpu_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                     int ldb, float beta, float *C, int ldc) {
    if (M == 0 || N == 0) return;
    backend_flops += 2ull * (uint64_t)M * N * K;
    if (K == 0) {
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(int64_t)i * ldc + j] *= beta;
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda,
                B, ldb, beta, C, ldc);
}

static void cpu_layernorm_fwd(const float *x, const float *w, const float *b, float *y, float *mean, float *rstd,
                              int64_t R, int C, float eps) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < R; r++) {
        const float *xr = x + r * C;
        double s = 0;
        for (int c = 0; c < C; c++) s += xr[c];
        double mu = s / C, v = 0;
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

static void cpu_layernorm_bwd(const float *x, const float *w, const float *mean, const float *rstd, const float *dy,
                              float *dx, float *dw, float *db, int64_t R, int C) {
    if (dx) {
#pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < R; r++) {
            const float *xr = x + r * C, *dyr = dy + r * C;
            float m = mean[r], rs = rstd[r];
            double s1 = 0, s2 = 0; /* mean(dxhat), mean(dxhat * xhat) */
            for (int c = 0; c < C; c++) {
                float dh = dyr[c] * (w ? w[c] : 1.0f);
                float h = (xr[c] - m) * rs;
                s1 += dh;
                s2 += (double)dh * h;
            }
            float a1 = (float)(s1 / C), a2 = (float)(s2 / C);
            float *dxr = dx + r * C;
            for (int c = 0; c < C; c++) {
                float dh = dyr[c] * (w ? w[c] : 1.0f);
                float h = (xr[c] - m) * rs;
                dxr[c] += rs * (dh - a1 - h * a2);
            }
        }
    }
    if (dw || db) {
        /* column reductions: split columns across threads to avoid races */
#pragma omp parallel for schedule(static)
        for (int c = 0; c < C; c++) {
            double sw = 0, sb = 0;
            for (int64_t r = 0; r < R; r++) {
                float d = dy[r * C + c];
                sw += (double)d * (x[r * C + c] - mean[r]) * rstd[r];
                sb += d;
            }
            if (dw) dw[c] += (float)sw;
            if (db) db[c] += (float)sb;
        }
    }
}

static void cpu_gelu_fwd(const float *x, float *y, int64_t n) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

static void cpu_gelu_bwd(const float *x, const float *dy, float *dx, int64_t n) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        float cdf = 0.5f * (1.0f + erff(v * 0.70710678118654752f));
        float pdf = 0.39894228040143268f * expf(-0.5f * v * v);
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
                const int *ri = rel_index + t1 * T;
                float mx = -INFINITY;
                for (int t2 = 0; t2 < T; t2++) {
                    float s = row[t2] + table[(int64_t)ri[t2] * heads + h];
                    if (mk) s += mk[t1 * T + t2];
                    row[t2] = s;
                    mx = s > mx ? s : mx;
                }
                float sum = 0;
                for (int t2 = 0; t2 < T; t2++) {
                    row[t2] = expf(row[t2] - mx);
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

static void cpu_dwconv_fwd(const float *x, const float *w, const float *b, float *y, int B, int H, int W, int C, int k) {
    int p = k / 2;
#pragma omp parallel for collapse(2) schedule(static)
    for (int bi = 0; bi < B; bi++)
        for (int r = 0; r < H; r++)
            for (int s = 0; s < W; s++) {
                float *yo = y + (((int64_t)bi * H + r) * W + s) * C;
                for (int c = 0; c < C; c++) yo[c] = b ? b[c] : 0.0f;
                for (int i = 0; i < k; i++) {
                    int rr = r + i - p;
                    if (rr < 0 || rr >= H) continue;
                    for (int j = 0; j < k; j++) {
                        int ss = s + j - p;
                        if (ss < 0 || ss >= W) continue;
                        const float *xi = x + (((int64_t)bi * H + rr) * W + ss) * C;
                        for (int c = 0; c < C; c++) yo[c] += w[(c * k + i) * k + j] * xi[c];
                    }
                }
            }
}

static void cpu_dwconv_bwd(const float *x, const float *w, const float *dy, float *dx, float *dw, float *db, int B,
                           int H, int W, int C, int k) {
    int p = k / 2;
    if (dx) {
        /* dx[r', s'] += sum_{i,j} w[c,i,j] dy[r'-i+p, s'-j+p] */
#pragma omp parallel for collapse(2) schedule(static)
        for (int bi = 0; bi < B; bi++)
            for (int r = 0; r < H; r++)
                for (int s = 0; s < W; s++) {
                    float *dxo = dx + (((int64_t)bi * H + r) * W + s) * C;
                    for (int i = 0; i < k; i++) {
                        int rr = r - i + p;
                        if (rr < 0 || rr >= H) continue;
                        for (int j = 0; j < k; j++) {
                            int ss = s - j + p;
                            if (ss < 0 || ss >= W) continue;
                            const float *dyi = dy + (((int64_t)bi * H + rr) * W + ss) * C;
                            for (int c = 0; c < C; c++) dxo[c] += w[(c * k + i) * k + j] * dyi[c];
                        }
                    }
                }
    }
    if (dw || db) {
        int nt = omp_get_max_threads();
        float *acc = xcalloc((size_t)nt * C * (k * k + 1), sizeof(float));
#pragma omp parallel
        {
            int tid = omp_get_thread_num();
            float *aw = acc + (size_t)tid * C * (k * k + 1), *ab = aw + (size_t)C * k * k;
#pragma omp for collapse(2) schedule(static)
            for (int bi = 0; bi < B; bi++)
                for (int r = 0; r < H; r++)
                    for (int s = 0; s < W; s++) {
                        const float *dyo = dy + (((int64_t)bi * H + r) * W + s) * C;
                        for (int c = 0; c < C; c++) ab[c] += dyo[c];
                        for (int i = 0; i < k; i++) {
                            int rr = r + i - p;
                            if (rr < 0 || rr >= H) continue;
                            for (int j = 0; j < k; j++) {
                                int ss = s + j - p;
                                if (ss < 0 || ss >= W) continue;
                                const float *xi = x + (((int64_t)bi * H + rr) * W + ss) * C;
                                for (int c = 0; c < C; c++) aw[(int64_t)(i * k + j) * C + c] += dyo[c] * xi[c];
                            }
                        }
                    }
        }
        for (int t = 0; t < nt; t++) {
            float *aw = acc + (size_t)t * C * (k * k + 1), *ab = aw + (size_t)C * k * k;
            for (int c = 0; c < C; c++) {
                if (db) db[c] += ab[c];
                if (dw)
                    for (int ij = 0; ij < k * k; ij++) dw[c * k * k + ij] += aw[(int64_t)ij * C + c];
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
