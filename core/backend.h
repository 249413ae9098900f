/* backend.h - the compute seam. Every op in ops.c does its arithmetic through one of these kernels, so
 * a GPU backend is a second table of the same functions (on device pointers) and no caller of an op
 * changes. The CPU table (kernels_cpu.c) is the reference that other backends are tested against; where its
 * own loops are blocked for speed (depthwise conv), tests/test_ops.c checks them against plain loops.
 * Shapes are in the comments; all buffers are contiguous row-major float32. */
#ifndef DB_BACKEND_H
#define DB_BACKEND_H

#include <stdint.h>

typedef struct backend_ops {
    const char *name;
    /* C (M,N) = alpha * op(A) op(B) + beta * C; op(A) is (M,K), op(B) (K,N); ta/tb transpose flags. */
    void (*gemm)(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                 int ldb, float beta, float *C, int ldc);
    /* x (R, C) -> y (R, C), saves mean and rstd (R) */
    void (*layernorm_fwd)(const float *x, const float *w, const float *b, float *y, float *mean, float *rstd,
                          int64_t R, int C, float eps);
    /* dx += ..., dw += ..., db += ... (each may be NULL) */
    void (*layernorm_bwd)(const float *x, const float *w, const float *mean, const float *rstd, const float *dy,
                          float *dx, float *dw, float *db, int64_t R, int C);
    void (*gelu_fwd)(const float *x, float *y, int64_t n);
    void (*gelu_bwd)(const float *x, const float *dy, float *dx, int64_t n); /* dx += */
    /* window attention, see op_window_attention. p saves the softmax (nWin, heads, T, T). */
    void (*attn_fwd)(const float *qkv, const float *table, const int *rel_index, const float *mask, int nw_img,
                     int64_t nwin, int T, int C, int heads, float scale, float *p, float *out);
    /* dqkv += (may be NULL), dtable += (may be NULL) */
    void (*attn_bwd)(const float *qkv, const float *p, const int *rel_index, int64_t nwin, int T, int C, int heads,
                     float scale, const float *dout, float *dqkv, float *dtable, int table_rows);
    /* depthwise conv NHWC, stride 1, pad k/2 */
    void (*dwconv_fwd)(const float *x, const float *w, const float *b, float *y, int B, int H, int W, int C, int k);
    void (*dwconv_bwd)(const float *x, const float *w, const float *dy, float *dx, float *dw, float *db, int B, int H,
                       int W, int C, int k);
    /* im2col for one image and one group: x (Cin_g, H, W) -> col (Cin_g*kh*kw, Ho*Wo) */
    void (*im2col)(const float *x, int C, int H, int W, int kh, int kw, int stride, int pad, int Ho, int Wo,
                   float *col);
    void (*col2im)(const float *col, int C, int H, int W, int kh, int kw, int stride, int pad, int Ho, int Wo,
                   float *dx); /* dx += */
} backend_ops;

/* Floating-point operations issued through gemm and attention since start (multiply-add = 2), for
 * achieved-throughput reports. Updated by the calling thread only. */
extern uint64_t backend_flops;

/* The CPU backend's own single-threaded AVX-512 sgemm (gemm_avx512.c) and whether this processor can run it.
 * The CPU gemm splits a product across its threads and each runs this kernel where available, else OpenBLAS. */
int gemm_avx512_available(void);
void gemm_avx512(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                 float beta, float *C, int ldc);
/* Select the kernel: 1 the AVX-512 one (where available), 0 OpenBLAS, -1 leave as is; returns the setting before.
 * The default is AVX-512 where available unless the environment has DB_GEMM=openblas. */
int backend_cpu_gemm_avx512(int on);

/* The active backend (CPU unless a GPU backend was selected at start-up). */
const backend_ops *backend_get(void);
extern const backend_ops backend_cpu;

#endif
