/* ops.h - differentiable operations on float32 tensors. Each op computes its forward result at once and,
 * when a gradient must flow through it, records its backward on the graph's tape (tensor.h).
 *
 * Gradients: an op's backward computes the gradient of an input only when that input requires it; for
 * a frozen parameter (grad == NULL) the weight-gradient work is skipped entirely, and an op none of
 * whose inputs needs a gradient records nothing.
 *
 * Layouts: token tensors are (rows, C) row-major with rows = B*H*W (row-major tokens, r*W + c); images
 * and feature maps for conv2d are NCHW. Shapes are given in the comment of each op. All compute goes
 * through the kernels of the active backend (backend.h), so a GPU path can replace them without
 * touching the callers. */
#ifndef DB_OPS_H
#define DB_OPS_H

#include "tensor.h"

/* y[r, o] = sum_i x[r, i] * w[o, i] + b[o]        x (..., in), w (out, in), b (out) or NULL -> y (..., out) */
tensor *op_linear(graph *g, tensor *x, tensor *w, tensor *b);
/* y = res + x w^T + b (a linear layer added to a residual in one op: no separate add pass either way)
 * res (..., out), x (..., in), w (out, in), b (out) or NULL -> y (..., out), res's shape */
tensor *op_linear_residual(graph *g, tensor *res, tensor *x, tensor *w, tensor *b);
/* LayerNorm over the last dim: y = (x - mean) / sqrt(var + eps) * w + b      x (..., C), w, b (C) */
tensor *op_layernorm(graph *g, tensor *x, tensor *w, tensor *b, float eps);
/* Exact GELU 0.5 x (1 + erf(x / sqrt 2)) */
tensor *op_gelu(graph *g, tensor *x);
/* y = a + b (same shape) */
tensor *op_add(graph *g, tensor *a, tensor *b);
/* y = a * s (scalar) */
tensor *op_scale(graph *g, tensor *a, float s);
/* y = a + s * b (same shape) */
tensor *op_axpy(graph *g, tensor *a, float s, tensor *b);
/* y[r, c] = a[r, c] * ga[c] + b[r, c] * gb[c]      a, b (..., C), ga, gb (C) */
tensor *op_affine2(graph *g, tensor *a, tensor *ga, tensor *b, tensor *gb);
/* LayerNorm and a per-channel mix with the input in one op (Mona's input norm):
 *   y[r, c] = (xhat[r, c] * w[c] + b[c]) * ga[c] + x[r, c] * gx[c]     xhat = (x - mean) / sqrt(var + eps)
 * x (..., C); w, b (C) or NULL; ga, gx (C). Equals op_affine2(op_layernorm(x, w, b), ga, x, gx) up to rounding,
 * with one pass over x forward and one over (x, dy) backward (parameter sums per thread, not per column). */
tensor *op_layernorm_mix(graph *g, tensor *x, tensor *w, tensor *b, float eps, tensor *ga, tensor *gx);
/* Row gather: y[r] = idx[r] >= 0 ? x[idx[r]] : 0, rows of width C (last dim). idx (n_out) stays owned
 * by the caller and must live until backward. x (R, C) -> y (n_out, C); out_shape gives y's shape. */
tensor *op_gather_rows(graph *g, tensor *x, const int *idx, int n_out, int out_ndim, const int *out_shape);
/* Reshape (same element count), differentiable, shares no memory. */
tensor *op_reshape(graph *g, tensor *x, int ndim, const int *shape);
/* NCHW <-> NHWC. */
tensor *op_nchw_to_nhwc(graph *g, tensor *x);
tensor *op_nhwc_to_nchw(graph *g, tensor *x);
/* conv2d, NCHW, PyTorch semantics (cross-correlation, zero padding, groups).
 * x (B, Cin, H, W), w (Cout, Cin/groups, kh, kw), b (Cout) or NULL -> (B, Cout, Ho, Wo) */
tensor *op_conv2d(graph *g, tensor *x, tensor *w, tensor *b, int stride, int pad, int groups);
/* Depthwise conv on NHWC maps, stride 1, zero padding k/2: y[b,r,s,c] = bias[c] + sum K[c,0,i,j] x[..]
 * x (B, H, W, C), w (C, 1, k, k), b (C) */
tensor *op_dwconv_nhwc(graph *g, tensor *x, tensor *w, tensor *b);
/* Sum of depthwise convs plus identity, as ONE depthwise conv (Mona's multi-scale conv):
 *   y = id * x + s * sum_i dwconv(x, w_i, b_i)           w_i (C, 1, k_i, k_i), b_i (C) or NULL, odd k_i
 * x is an NHWC map of B*H*W pixels of C channels, of any shape (..., C) (token rows r = (b*H + h)*W + w need
 * no reshape); y has x's shape. Computed with the combined kernel K = s * sum_i pad(w_i) + id * delta (the largest k_i) and
 * bias s * sum_i b_i: one pass over the map instead of n + 1; the result differs from the separate convs
 * only by float rounding. Backward: dK by one weight-gradient pass, dw_i = s * (centre k_i x k_i of dK),
 * db_i = s * dbias, dx by one pass with K. n <= 8. */
tensor *op_dwconv_mix_nhwc(graph *g, tensor *x, int H, int W, int n, tensor **w, tensor **b, float s, float id);
/* Window attention core for Swin: qkv (nWin*T, 3C) per-window tokens (T = M*M, [Q|K|V], head h owns
 * channels h*d..h*d+d-1 of each), table ((2M-1)^2, heads) relative position bias, rel_index (T*T),
 * mask (nW_img, T, T) or NULL (window w uses mask[w % nW_img]). Returns (nWin*T, C). */
tensor *op_window_attention(graph *g, tensor *qkv, tensor *table, const int *rel_index, const float *mask,
                            int nw_img, int T, int heads, float scale);
/* LoRA on Q and V of a merged qkv: y = qkv + s * [t[:, :r] Bq^T | 0 | t[:, r:] Bv^T]
 * qkv (R, 3C), t (R, 2r) = x A^T, lora_B (2C, r) */
tensor *op_lora_qv(graph *g, tensor *qkv, tensor *t, tensor *lora_b, float s);
/* Inverted dropout with probability p (identity when p == 0 or not training). */
tensor *op_dropout(graph *g, tensor *x, float p);
/* op_dropout(op_gelu(x), p) in one op, the same values and the same random draws: y = gelu(x) * m, m = 0 with
 * probability p else 1/(1-p); the mask is kept as bytes and no GELU output is stored. */
tensor *op_gelu_dropout(graph *g, tensor *x, float p);
/* DropPath on a (B, ...) tensor: per-sample keep mask floor(1 - p + U), scaled by 1/(1-p). */
tensor *op_drop_path(graph *g, tensor *x, float p);
/* Mean over the middle axis: x (B, N, C) -> (B, C). */
tensor *op_mean_tokens(graph *g, tensor *x);
/* LoRand effective weight W = sum_i (A_i g_i B_i)^T: A_i (in, k), g_i (k, k), B_i (k, out) -> (out, in) */
tensor *op_lorand_weight(graph *g, int nb, tensor **A, tensor **G, tensor **B);
/* Softmax cross-entropy with label smoothing eps: mean over the batch. logits (B, K), labels (B).
 * Returns a scalar tensor (1). */
tensor *op_cross_entropy(graph *g, tensor *logits, const int *labels, float smoothing);
/* Seed: loss = sum(x * w) (golden objective); returns the value and sets dL/dx = w. */
double loss_dot_seed(graph *g, tensor *x, const float *w);

#endif
