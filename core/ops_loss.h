/* ops_loss.h - the dense-head losses as mmdet 2.11 / mmseg 0.11 compute them (semantics in
 * ../shared/golden/heads/README.md): sigmoid focal, L1, smooth L1, GIoU, softmax and sigmoid cross-entropy
 * (mmdet), pixel cross-entropy (mmseg) and the mask cross-entropy of the FCN mask head.
 *
 * Every op returns a tensor on g, differentiable w.r.t. pred (the first tensor argument) only. Label, target
 * and weight arrays are caller memory and must stay alive until backward. weight may be NULL (= 1). Sums
 * are accumulated in double; the forms are the numerically stable ones (log-sum-exp; BCE with logits as
 * max(x, 0) - x t + log1p(exp(-|x|)); sigmoid from exp(-|x|)).
 *
 * Reductions follow mmdet's weight_reduce_loss, then multiply by loss_weight:
 *   LOSS_NONE: the weighted elementwise loss (no division);
 *   LOSS_MEAN: sum / avg_factor, or with avg_factor <= 0 the plain mean over the elements (an empty input
 *              gives 0, not NaN); mmdet 2.11 divides by avg_factor exactly (no eps);
 *   LOSS_SUM:  sum (avg_factor ignored; mmdet rejects the combination).
 * The plain functions are the calls the heads make; the _ex forms take a reduction (the goldens' loss_none
 * outputs use LOSS_NONE). */
#ifndef DB_OPS_LOSS_H
#define DB_OPS_LOSS_H

#include "tensor.h"

enum { LOSS_NONE = 0, LOSS_MEAN = 1, LOSS_SUM = 2 };

/* Sigmoid focal loss (mmdet FocalLoss(use_sigmoid=True), py_sigmoid_focal_loss):
 *   t = one_hot(labels, C + 1)[:, :C] (label C = background: all zeros), p = sigmoid(x),
 *   pt = (1 - p) t + p (1 - t), l = BCEWithLogits(x, t) * (alpha t + (1 - alpha)(1 - t)) * pt^gamma * weight[row]
 * pred (n, C) logits, labels (n) in [0, C], weight (n) or NULL.
 * LOSS_MEAN: (1) = loss_weight * sum(l) / avg_factor (avg_factor <= 0: mean over n*C); LOSS_SUM: (1);
 * LOSS_NONE: (n, C) = loss_weight * l. */
tensor *op_sigmoid_focal_loss(graph *g, tensor *pred, const int *labels, const float *weight, float gamma, float alpha,
                              float avg_factor, int reduction, float loss_weight);

/* L1 (mmdet L1Loss): l = |pred - target| * weight; d|d|/dd = 0 at d = 0 (torch abs backward).
 * pred (n, k) any k (any shape), target and weight (weight NULL = 1) of pred's shape -> (1) =
 * loss_weight * sum(l) / avg_factor (avg_factor <= 0: mean over the elements). */
tensor *op_l1_loss(graph *g, tensor *pred, const float *target, const float *weight, float avg_factor, float loss_weight);
/* reduction given; LOSS_NONE -> pred's shape */
tensor *op_l1_loss_ex(graph *g, tensor *pred, const float *target, const float *weight, float avg_factor, int reduction,
                      float loss_weight);

/* Smooth L1 (mmdet SmoothL1Loss): d = |pred - target|, l = (d < beta ? 0.5 d^2 / beta : d - 0.5 beta) * weight;
 * beta > 0; shapes and reduction as op_l1_loss. */
tensor *op_smooth_l1_loss(graph *g, tensor *pred, const float *target, const float *weight, float beta, float avg_factor,
                          float loss_weight);
tensor *op_smooth_l1_loss_ex(graph *g, tensor *pred, const float *target, const float *weight, float beta,
                             float avg_factor, int reduction, float loss_weight);

/* GIoU (mmdet GIoULoss, bbox_overlaps(mode='giou', is_aligned=True)): per row, widths without +1,
 *   overlap = clamp(min(x2) - max(x1), 0) * clamp(min(y2) - max(y1), 0), union = max(area_p + area_t - overlap, eps),
 *   enclose = max(clamp(max(x2) - min(x1), 0) * clamp(max(y2) - min(y1), 0), eps),
 *   giou = overlap / union - (enclose - union) / enclose, l = (1 - giou) * weight[row].
 * Gradients follow torch's rules: max/min ties split the gradient in halves, clamp(min=0) passes it at 0.
 * pred, target (n, 4) boxes x1y1x2y2; weight (n) or NULL (the README's weight.mean(-1) of an (n, 4) weight
 * is the caller's) -> (1) as op_l1_loss; LOSS_NONE -> (n). */
tensor *op_giou_loss(graph *g, tensor *pred, const float *target, const float *weight, float eps, float avg_factor,
                     float loss_weight);
tensor *op_giou_loss_ex(graph *g, tensor *pred, const float *target, const float *weight, float eps, float avg_factor,
                        int reduction, float loss_weight);

/* Softmax cross-entropy as mmdet's bbox head (CrossEntropyLoss(use_sigmoid=False)):
 *   l_i = -log_softmax(score_i)[labels_i] * weight_i
 * score (n, K), labels (n) in [0, K), weight (n) or NULL -> (1) = loss_weight * sum(l) / avg_factor
 * (avg_factor <= 0: mean over n); LOSS_NONE -> (n). */
tensor *op_cross_entropy_mmdet(graph *g, tensor *score, const int *labels, const float *weight, float avg_factor,
                               float loss_weight);
tensor *op_cross_entropy_mmdet_ex(graph *g, tensor *score, const int *labels, const float *weight, float avg_factor,
                                  int reduction, float loss_weight);

/* mmdet CrossEntropyLoss(use_sigmoid=True) (the RPN's): labels are expanded one-hot over the C channels
 * (label C, or any label outside [0, C), gives an all-zero row), l = BCEWithLogits(pred, t) * weight[row].
 * pred (n, C), labels (n), weight (n) or NULL -> (1) = loss_weight * sum(l) / avg_factor (avg_factor <= 0:
 * mean over n*C); LOSS_NONE -> (n, C). */
tensor *op_binary_cross_entropy_mmdet(graph *g, tensor *pred, const int *labels, const float *weight, float avg_factor,
                                      float loss_weight);
tensor *op_binary_cross_entropy_mmdet_ex(graph *g, tensor *pred, const int *labels, const float *weight,
                                         float avg_factor, int reduction, float loss_weight);

/* mmseg 0.11 CrossEntropyLoss(use_sigmoid=False) with ignore_index, as BaseDecodeHead.losses calls it:
 *   l[n,h,w] = -class_weight[y] * log_softmax(pred[n,:,h,w])[y], y = label[n,h,w]; 0 where y == ignore_index
 * pred (N, C, H, W), label (N, H, W) in [0, C) or ignore_index, class_weight (C) or NULL ->
 * (1) = loss_weight * sum(l) / (N*H*W): the mean counts the ignored pixels (and does not divide by the
 * class weights). */
tensor *op_cross_entropy_seg(graph *g, tensor *pred, const int *label, int ignore_index, const float *class_weight,
                             float loss_weight);
/* reduction given (LOSS_NONE -> (N, H, W)); avg_factor > 0 replaces N*H*W for LOSS_MEAN */
tensor *op_cross_entropy_seg_ex(graph *g, tensor *pred, const int *label, int ignore_index, const float *class_weight,
                                float avg_factor, int reduction, float loss_weight);

/* mmdet mask cross-entropy (CrossEntropyLoss(use_mask=True), FCNMaskHead.loss): the channel labels[i] of roi i,
 *   loss = loss_weight * mean over n*S*S of BCEWithLogits(pred[i, labels[i]], targets[i])
 * pred (n, C, S, S) (any S x S' map), targets (n, S, S) floats in [0, 1], labels (n) in [0, C) -> (1).
 * The unselected channels get a zero gradient. */
tensor *op_mask_cross_entropy(graph *g, tensor *pred, const float *targets, const int *labels, float loss_weight);

#endif
