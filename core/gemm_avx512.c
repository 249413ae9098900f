/* gemm_avx512.c - single-threaded sgemm, C (M, N) = alpha op(A) op(B) + beta C, row-major, with AVX-512: the
 * classic Goto/BLIS blocking (a KC x NC block of B packed in NR-column panels, an MC x KC block of A packed in
 * MR-row panels, an MR x NR register tile of accumulators). The backend's threads call it on their share of
 * the product (kernels_cpu.c). It is used only where the processor has AVX-512F (checked at run time), since
 * the OpenBLAS the machines here carry is pinned to its AVX2 kernels; tests/test_ops.c (test_gemm_split)
 * checks it against plain loops on edge sizes, every transpose and beta 0, 1 and other. */
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "common.h"

#define MR 12
#define NR 32
#define KC 384
#define MC 132  /* a multiple of MR: the packed A block (MC x KC, 198 KB) stays in L2 */
#define NC 2048 /* the packed B block (KC x NC, 3 MB) stays in L3 */
#ifndef A_INPLACE_MAX_N
#define A_INPLACE_MAX_N 512 /* B at most this wide: A is read in place (kernel_tile_a) */
#endif

int gemm_avx512_available(void) {
    static int have = -1;
    if (have < 0) {
        __builtin_cpu_init();
        have = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
    }
    return have;
}

/* op(A)[i][k] for i in [i0, i0 + mr), k in [k0, k0 + kc) -> ap[k][MR], rows past mr zero */
static void pack_a(const float *A, int lda, int ta, int i0, int mr, int k0, int kc, float *ap) {
    if (mr < MR) memset(ap, 0, sizeof(float) * (size_t)kc * MR);
    if (ta) /* A stored (K, M): a row of A holds op(A)'s column */
        for (int k = 0; k < kc; k++) {
            const float *src = A + (int64_t)(k0 + k) * lda + i0;
            for (int i = 0; i < mr; i++) ap[k * MR + i] = src[i];
        }
    else if (mr == MR) { /* MR rows read side by side, each panel row written whole */
        const float *src[MR];
        for (int i = 0; i < MR; i++) src[i] = A + (int64_t)(i0 + i) * lda + k0;
        for (int k = 0; k < kc; k++)
#pragma GCC unroll 12
            for (int i = 0; i < MR; i++) ap[k * MR + i] = src[i][k];
    } else
        for (int i = 0; i < mr; i++) {
            const float *src = A + (int64_t)(i0 + i) * lda + k0;
            for (int k = 0; k < kc; k++) ap[k * MR + i] = src[k];
        }
}

/* op(B)[k][j] for k in [k0, k0 + kc), j in [j0, j0 + nr) -> bp[k][NR], columns past nr zero */
static void pack_b(const float *B, int ldb, int tb, int k0, int kc, int j0, int nr, float *bp) {
    if (nr < NR) memset(bp, 0, sizeof(float) * (size_t)kc * NR);
    if (tb) /* B stored (N, K) */
        for (int j = 0; j < nr; j++) {
            const float *src = B + (int64_t)(j0 + j) * ldb + k0;
            for (int k = 0; k < kc; k++) bp[k * NR + j] = src[k];
        }
    else
        for (int k = 0; k < kc; k++) memcpy(bp + k * NR, B + (int64_t)(k0 + k) * ldb + j0, sizeof(float) * nr);
}

/* c (MR x NR, rows ldc) = alpha acc + beta c; beta 0: c is not read */
__attribute__((target("avx512f,fma"), always_inline)) static inline void tile_store(__m512 acc[MR][2], float *c, int ldc,
                                                                                 float alpha, float beta) {
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) {
        float *ci = c + (int64_t)i * ldc;
        if (beta == 0.0f) {
            _mm512_storeu_ps(ci, _mm512_mul_ps(va, acc[i][0]));
            _mm512_storeu_ps(ci + 16, _mm512_mul_ps(va, acc[i][1]));
        } else {
            _mm512_storeu_ps(ci, _mm512_fmadd_ps(vb, _mm512_loadu_ps(ci), _mm512_mul_ps(va, acc[i][0])));
            _mm512_storeu_ps(ci + 16, _mm512_fmadd_ps(vb, _mm512_loadu_ps(ci + 16), _mm512_mul_ps(va, acc[i][1])));
        }
    }
}

/* the MR x NR tile: acc = ap (kc, MR)^T . bp (kc, NR); c (rows ldc) = alpha acc + beta c (beta 0: c not read) */
__attribute__((target("avx512f,fma"))) static void kernel_tile(int kc, const float *ap, const float *bp, float *c,
                                                              int ldc, float alpha, float beta) {
    __m512 acc[MR][2];
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(bp), b1 = _mm512_load_ps(bp + 16);
#pragma GCC unroll 12
        for (int i = 0; i < MR; i++) {
            __m512 a = _mm512_set1_ps(ap[i]);
            acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
        }
        ap += MR;
        bp += NR;
    }
    tile_store(acc, c, ldc, alpha, beta);
}

/* the same tile with A read in place (op(A) = A, row-major, rows lda apart): for a narrow B the A panels would
 * be used only a few times each, so packing them would cost more than it saves. Kept apart from kernel_tile:
 * one inlined body with the strides as parameters ran 5% slower here (12544 x 96 x 384, 4 interleaved runs). */
__attribute__((target("avx512f,fma"))) static void kernel_tile_a(int kc, const float *a, int lda, const float *bp,
                                                                float *c, int ldc, float alpha, float beta) {
    __m512 acc[MR][2];
    const float *ar[MR];
#pragma GCC unroll 12
    for (int i = 0; i < MR; i++) {
        acc[i][0] = acc[i][1] = _mm512_setzero_ps();
        ar[i] = a + (int64_t)i * lda;
    }
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(bp), b1 = _mm512_load_ps(bp + 16);
#pragma GCC unroll 12
        for (int i = 0; i < MR; i++) {
            __m512 av = _mm512_set1_ps(ar[i][k]);
            acc[i][0] = _mm512_fmadd_ps(av, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(av, b1, acc[i][1]);
        }
        bp += NR;
    }
    tile_store(acc, c, ldc, alpha, beta);
}

/* a tile cut by the matrix edge: computed whole into a scratch tile, the valid mr x nr part merged into c */
static void kernel_edge(int kc, const float *ap, const float *bp, float *c, int ldc, int mr, int nr, float alpha,
                        float beta) {
    _Alignas(64) float t[MR * NR];
    kernel_tile(kc, ap, bp, t, NR, 1.0f, 0.0f);
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) {
            float *cij = c + (int64_t)i * ldc + j;
            *cij = beta == 0.0f ? alpha * t[i * NR + j] : alpha * t[i * NR + j] + beta * *cij;
        }
}

void gemm_avx512(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda, const float *B, int ldb,
                 float beta, float *C, int ldc) {
    /* packing buffers, one pair per thread, kept for the thread's life */
    static _Thread_local float *apack, *bpack;
    if (!apack) {
        apack = xmalloc_aligned(sizeof(float) * (size_t)MC * KC);
        bpack = xmalloc_aligned(sizeof(float) * (size_t)KC * NC);
    }
    if (M <= 0 || N <= 0) return;
    if (K <= 0) { /* C = beta C */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(int64_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(int64_t)i * ldc + j];
        return;
    }
    for (int jc = 0; jc < N; jc += NC) {
        int nc = N - jc < NC ? N - jc : NC;
        for (int pc = 0; pc < K; pc += KC) {
            int kc = K - pc < KC ? K - pc : KC;
            float bt = pc == 0 ? beta : 1.0f; /* later K blocks accumulate */
            for (int jr = 0; jr < nc; jr += NR)
                pack_b(B, ldb, tb, pc, kc, jc + jr, nc - jr < NR ? nc - jr : NR, bpack + (size_t)jr * kc);
            for (int ic = 0; ic < M; ic += MC) {
                int mc = M - ic < MC ? M - ic : MC;
                int direct = !ta && nc <= A_INPLACE_MAX_N; /* full tiles read A in place; edge tiles still pack */
                for (int ir = 0; ir < mc; ir += MR) {
                    int mr = mc - ir < MR ? mc - ir : MR;
                    if (!direct || mr < MR || nc % NR)
                        pack_a(A, lda, ta, ic + ir, mr, pc, kc, apack + (size_t)ir * kc);
                }
                for (int jr = 0; jr < nc; jr += NR) {
                    int nr = nc - jr < NR ? nc - jr : NR;
                    for (int ir = 0; ir < mc; ir += MR) {
                        int mr = mc - ir < MR ? mc - ir : MR;
                        float *c = C + (int64_t)(ic + ir) * ldc + jc + jr;
                        const float *ap = apack + (size_t)ir * kc, *bp = bpack + (size_t)jr * kc;
                        if (mr == MR && nr == NR) {
                            if (direct) kernel_tile_a(kc, A + (int64_t)(ic + ir) * lda + pc, lda, bp, c, ldc, alpha, bt);
                            else kernel_tile(kc, ap, bp, c, ldc, alpha, bt);
                        } else
                            kernel_edge(kc, ap, bp, c, ldc, mr, nr, alpha, bt);
                    }
                }
            }
        }
    }
}
