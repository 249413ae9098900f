/* ops_nn.h - the neural-network ops of the dense heads (FPN, RetinaHead, UperNet, mask head), NCHW, PyTorch
 * semantics: general conv2d (strides, padding, dilation, groups), ReLU, max pooling, resize (nearest and
 * bilinear), transposed conv, BatchNorm2d, GroupNorm, adaptive average pooling and RoIAlign. Like ops.h, each op
 * computes its forward at once and records its backward on the tape only when an input needs a gradient;
 * a frozen parameter (grad == NULL) gets no weight-gradient work. Shapes are in the comments. */
#ifndef DB_OPS_NN_H
#define DB_OPS_NN_H

#include "tensor.h"

/* General conv2d, NCHW, PyTorch semantics (cross-correlation, zero padding, dilation, groups).
 * x (B, Cin, H, W), w (Cout, Cin/groups, kh, kw), b (Cout) or NULL -> y (B, Cout, Ho, Wo),
 * Ho = (H + 2 pad_h - dil_h (kh - 1) - 1) / stride_h + 1 (same for W).
 * Computed by im2col + gemm per image and group (a 1x1 stride-1 unpadded conv is a gemm on x itself); backward:
 * dw by gemm on the column buffer, dx by gemm then col2im. */
tensor *op_conv2d_ex(graph *g, tensor *x, tensor *w, tensor *b, int stride_h, int stride_w, int pad_h, int pad_w,
                     int dil_h, int dil_w, int groups);
/* The same op computed with plain direct loops (double accumulation), forward and backward: the reference the
 * tests check op_conv2d_ex against. Slow; not for models. */
tensor *op_conv2d_ref(graph *g, tensor *x, tensor *w, tensor *b, int stride_h, int stride_w, int pad_h, int pad_w,
                      int dil_h, int dil_w, int groups);
/* Feature planes that share a conv's weights, packed side by side in one (C, N) tensor: plane q (H[q], W[q]) at
 * columns [off[q], off[q + 1]), N = off[n]. A detection head's levels and images, plane b L + l for image b and
 * level l (planes_make: image-major, so an image's columns are contiguous), so each of the head's convs is one
 * gemm over every level and image instead of one small gemm per level and image. */
#define PLANES_MAX 160
typedef struct planes {
    int n, L, B;
    int H[PLANES_MAX], W[PLANES_MAX];
    int64_t off[PLANES_MAX + 1];
} planes;
/* The planes of xs[l] (B, C, H_l, W_l), l < L (same B and C). */
void planes_make(planes *p, tensor *const *xs, int L);
/* xs[l] (B, C, H_l, W_l) -> (C, N); backward: each level gets its columns. */
tensor *op_planes_pack(graph *g, tensor *const *xs, const planes *p);
/* x (C, N) -> level l's planes as (B, C, H_l, W_l). */
tensor *op_planes_unpack(graph *g, tensor *x, const planes *p, int l);
/* conv2d on every plane: x (Cin, N), w (Cout, Cin, k, k) with k odd, b (Cout) or NULL, stride 1, dilation dil,
 * zero padding dil (k - 1) / 2 (each plane keeps its size; planes never see each other) -> (Cout, N). The same
 * values as op_conv2d_ex on each plane alone, up to rounding (tests/test_ops_nn.c). im2col of planes side by side
 * in chunks of at most 16 Mi floats of columns (whole images, or planes of one image; at least one plane), one
 * gemm per chunk; the weight and bias gradients are summed per image, then over images in order. */
tensor *op_conv2d_planes(graph *g, tensor *x, const planes *p, tensor *w, tensor *b, int dil);
/* Set the chunk bound in floats of column buffer (n > 0; tests use small ones); returns the previous bound. */
int64_t planes_chunk_floats(int64_t n);
/* y = max(x, 0), any shape; gradient 0 at x <= 0. */
tensor *op_relu(graph *g, tensor *x);
/* The same values, written over x's buffer (the returned tensor shares x's data): only for an activation that
 * nothing reads afterwards, neither a later forward op nor a recorded backward (the output of a conv, a norm,
 * an interpolate or an add qualifies as far as backward goes: their backwards read their inputs, not their
 * outputs). The gradient still reaches x. Falls back to op_relu for a parameter. */
tensor *op_relu_inplace(graph *g, tensor *x);
/* Max pooling, square window k, stride, padding pad (<= k/2, padded cells never win), PyTorch floor or ceil mode
 * (in ceil mode a last window that would start inside the right padding is dropped).
 * x (B, C, H, W) -> (B, C, Ho, Wo); ties: the first maximum in row-major window order gets the gradient. */
tensor *op_max_pool2d(graph *g, tensor *x, int k, int stride, int pad, int ceil_mode);

enum { INTERP_NEAREST = 0, INTERP_BILINEAR = 1 };
/* F.interpolate(x, size=(Ho, Wo), mode, align_corners=False), x (B, C, H, W) -> (B, C, Ho, Wo).
 * nearest: src = min(floor(dst * r), in - 1) with r = in/out computed in float32 as PyTorch does (dst >> 1
 * when out = 2 in, identity when out = in); bilinear: src = (dst + 0.5) * r - 0.5 clamped below at 0, no
 * antialiasing. */
tensor *op_interpolate(graph *g, tensor *x, int Ho, int Wo, int mode);
/* The same with scale_factor given and recompute_scale_factor None: Ho = floor(H * scale_h) and the ratio r is
 * 1 / scale_h (not H / Ho). */
tensor *op_interpolate_scale(graph *g, tensor *x, float scale_h, float scale_w, int mode);

/* F.conv_transpose2d(x, w, b, stride, padding): x (B, Cin, H, W), w (Cin, Cout, kh, kw), b (Cout) or NULL ->
 * (B, Cout, (H - 1) stride - 2 pad + kh, ...). */
tensor *op_conv_transpose2d(graph *g, tensor *x, tensor *w, tensor *b, int stride, int pad);
/* General form: w (Cin, Cout/groups, kh, kw); Ho = (H - 1) sh - 2 ph + dh (kh - 1) + oph + 1 (output padding
 * oph < sh or < dh). */
tensor *op_conv_transpose2d_ex(graph *g, tensor *x, tensor *w, tensor *b, int stride_h, int stride_w, int pad_h,
                               int pad_w, int out_pad_h, int out_pad_w, int dil_h, int dil_w, int groups);

/* BatchNorm2d over (B, ., H, W) per channel: x (B, C, H, W) (or (B, C, ...)), w, b (C) or NULL.
 * training: normalise with the batch mean and biased variance; if running_mean / running_var (caller floats,
 * C each) are given, update them: running = (1 - momentum) running + momentum stat, with the unbiased variance.
 * Not training: normalise with running_mean / running_var (both required). */
tensor *op_batch_norm(graph *g, tensor *x, tensor *w, tensor *b, float *running_mean, float *running_var, int training,
                      float momentum, float eps);
/* GroupNorm: per sample and group of C/groups consecutive channels, biased variance; then per-channel w, b (C)
 * or NULL. x (B, C, ...) */
tensor *op_group_norm(graph *g, tensor *x, int groups, tensor *w, tensor *b, float eps);
/* torch.cat(xs, dim=1): xs[i] (B, C_i, H, W), same B, H, W, n >= 1 -> (B, sum C_i, H, W), channels in the order
 * of xs. Backward: each input gets its channel slice of dy. */
tensor *op_concat_channels(graph *g, tensor **xs, int n);
/* F.dropout2d(x, p, training): x (B, C, H, W) (or (B, C, ...)) -> same shape; each whole channel plane (b, c)
 * is zeroed with probability p, the others scaled by 1/(1-p). One draw per plane from the graph's random stream,
 * in (b, c) order, dropped when the uniform is < p (op_dropout's rule). Identity (x itself) when the graph is not
 * training or p == 0. */
tensor *op_dropout2d(graph *g, tensor *x, float p);
/* F.adaptive_avg_pool2d: x (B, C, H, W) -> (B, C, oh, ow); bin i covers rows [floor(i H / oh), ceil((i+1) H / oh)). */
tensor *op_adaptive_avg_pool2d(graph *g, tensor *x, int oh, int ow);

/* RoIAlign as mmcv 1.3's RoIAlign(pool_mode='avg') and torchvision.ops.roi_align (the same algorithm):
 * x (N, C, H, W), rois (K, 5) = (batch index, x1, y1, x2, y2) in image pixels -> y (K, C, out_h, out_w).
 * Per roi and axis: start = x1 * spatial_scale - 0.5 (aligned; 0 otherwise), len = (x2 - x1) scaled (at least 1
 * when not aligned, never clamped when aligned), bin = len / out, grid = sampling_ratio > 0 ? sampling_ratio :
 * ceil(len / out) samples per bin at start + i bin + (j + 0.5) bin / grid. A sample outside [-1, size] is 0;
 * otherwise it is clamped at 0, and at size - 1 the two taps coincide; bilinear weights as the kernels. Each
 * bin is the sum of its samples / max(grid_h grid_w, 1) (an empty grid gives 0). Coordinates in double.
 * Backward w.r.t. x only (rois get none): rois one after another, channels in parallel (each thread owns its
 * channel planes of dx: no atomics). */
tensor *op_roi_align(graph *g, tensor *x, const tensor *rois, int out_h, int out_w, float spatial_scale, int sampling_ratio,
                     int aligned);
/* The same over several feature levels (mmdet's SingleRoIExtractor in one op): feats[l] (N, C, H_l, W_l), all
 * with the same N, C; roi k is pooled from feats[level[k]] with scales[l] (level NULL: level 0 for every roi;
 * level[k] = -1: row k is 0 and gets no gradient, as a roi that none of mmdet's level masks selects).
 * y (K, C, out_h, out_w) in roi order. */
tensor *op_roi_align_levels(graph *g, tensor *const *feats, int n_levels, const float *scales, const tensor *rois,
                            const int *level, int out_h, int out_w, int sampling_ratio, int aligned);

#endif
