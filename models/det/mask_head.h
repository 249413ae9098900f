/* mask_head.h - mmdet 2.11's FCNMaskHead (mmdet/models/roi_heads/mask_heads/fcn_mask_head.py) as the COCO
 * Cascade Mask R-CNN config builds it in each of the three stages (base model cascade_mask_rcnn_swin_fpn.py:
 * num_convs 4, in_channels 256, conv_out_channels 256, num_classes 80, upsample deconv x2, loss_mask
 * CrossEntropyLoss(use_mask=True, loss_weight=1); train_cfg.rcnn[i].mask_size 28; test_cfg.rcnn.mask_thr_binary
 * 0.5).
 *
 * Forward: roi feats (K, 256, 14, 14) (the 14x14 mask RoI extractor) -> 4 x ConvModule(3x3, pad 1, bias, no
 * norm, ReLU) -> ConvTranspose2d(256, 256, 2, stride 2) + ReLU -> conv_logits 1x1 -> (K, 80, 28, 28) logits.
 *
 * Training (CascadeRoIHead._mask_forward_train): the head runs on the positive rois only (bbox2roi of each
 * image's pos_bboxes, mask_head_pos_rois); the targets are mask_target (mmdet/core/mask/mask_target.py): each
 * positive box clipped to the gt mask's size, then BitmapMasks.crop_and_resize of its assigned gt mask
 * (RoIAlign 28x28, spatial scale 1, sampling_ratio 0, avg, aligned, on the 0/1 mask as float; binarised at >= 0.5);
 * the loss is mask_cross_entropy: BCE with logits of the gt class's channel, the mean over n x 28 x 28.
 *
 * Test (get_seg_masks, rescale=True): the sigmoid probabilities of the detection's class (in the cascade the mean of
 * the three stages' sigmoids, merge_aug_masks; mask_head_merge_probs), pasted into the original image by
 * _do_paste_mask (F.grid_sample bilinear, align_corners False, zero padding, on the box-local region of
 * skip_empty) and thresholded at >= 0.5 (mask_head_paste).
 *
 * Parameters under prefix (e.g. "roi_head.mask_head.0."), in declaration order (one contiguous run of the
 * store's trainable block when all are trainable): convs.{i}.conv.{weight,bias}, upsample.{weight,bias},
 * conv_logits.{weight,bias}. */
#ifndef DB_MASK_HEAD_H
#define DB_MASK_HEAD_H

#include <stdint.h>

#include "../../core/params.h"
#include "bbox_head.h"
#include "det_types.h"

#define MASK_HEAD_MAX_CONVS 8

typedef struct mask_head_config {
    int num_convs;          /* 4 */
    int roi_feat_size;      /* 14 (mmdet: reserved; the input's size, checked) */
    int in_channels;        /* 256 */
    int conv_kernel_size;   /* 3 (padding (k - 1) / 2) */
    int conv_out_channels;  /* 256 */
    int num_classes;        /* 80 */
    int class_agnostic;     /* 0: conv_logits has num_classes outputs */
    int upsample_factor;    /* 2: deconv kernel 2, stride 2 (upsample_cfg deconv, scale_factor 2) */
    int mask_size;          /* 28: train_cfg.rcnn[i].mask_size */
    float target_thr;       /* 0.5: crop_and_resize keeps roi_align >= 0.5 */
    float loss_weight;      /* 1 */
    float mask_thr_binary;  /* 0.5: test_cfg.rcnn.mask_thr_binary */
} mask_head_config;

/* The COCO config's mask head (every stage the same). */
void mask_head_config_default(mask_head_config *c, int in_channels, int num_classes);

typedef struct mask_head {
    mask_head_config cfg;
    tensor *conv_w[MASK_HEAD_MAX_CONVS], *conv_b[MASK_HEAD_MAX_CONVS]; /* (Cout, Cin, 3, 3), (Cout) */
    tensor *up_w, *up_b;         /* ConvTranspose2d weight (Cin, Cout, 2, 2), bias (Cout) */
    tensor *logits_w, *logits_b; /* (num_classes or 1, Cout, 1, 1), (num_classes or 1) */
} mask_head;

void mask_head_declare(mask_head *h, params *ps, const mask_head_config *cfg, const char *prefix);
/* As mmdet 2.11 leaves them: the ConvModules by mmcv 1.3's ConvModule.init_weights at construction (kaiming
 * normal, mode fan_out, relu: std sqrt(2 / (Cout k k)), bias 0); FCNMaskHead.init_weights on upsample and
 * conv_logits: kaiming_normal_(fan_out, relu), bias 0, with torch's fan_out = weight.size(0) * kh * kw (the
 * transposed conv's weight is (Cin, Cout, 2, 2): sqrt(2 / (Cin 4)); conv_logits sqrt(2 / num_classes)). */
void mask_head_init(mask_head *h, rng_t *r);

/* roi feats x (K, in, S, S) -> mask logits (K, num_classes, 2 S, 2 S); differentiable w.r.t. x and the parameters. */
tensor *mask_head_forward(const mask_head *h, graph *g, tensor *x);

/* bbox2roi of the positives only: (sum npos, 5) = (image, x1, y1, x2, y2), images in order (no gradient). */
tensor *mask_head_pos_rois(graph *g, const rcnn_sampling *s, int B);

/* mask_target_single on raw arrays: boxes (n, 4) (positives, in the mask's pixels), gt_idx (n) in [0, n_gt),
 * masks (n_gt, mh, mw) 0/1 bytes (any nonzero counts as 1) -> out (n, S, S) floats 0/1: each box clipped to
 * [0, mw] x [0, mh], RoIAlign(S, 1.0, 0, avg, aligned) of its gt's mask, >= thr. */
void mask_target_single(const float *boxes, const int *gt_idx, int n, const uint8_t *masks, int n_gt, int mh, int mw, int S,
                        float thr, float *out);

typedef struct mask_targets {
    int n, S;       /* positives over all images, mask size */
    float *targets; /* (n, S, S) 0/1 */
    int *labels;    /* (n) the positives' gt labels (pos_gt_labels) */
} mask_targets;

/* FCNMaskHead.get_targets + the labels: images' positives concatenated in order; gts[b] must carry masks
 * (det_gt.masks, mask_h x mask_w: mmdet's gt_masks after Pad, i.e. at the padded size). Arrays in the graph's arena. */
void mask_head_targets(const mask_head *h, graph *g, const rcnn_sampling *s, int B, const det_gt *gts, mask_targets *t);

/* FCNMaskHead.loss: loss_weight * mean over n S S of BCE with logits of logits[i, label_i] (channel 0 when
 * class-agnostic) -> (1); with no positives a constant 0 (mmdet: mask_pred.sum() of an empty tensor). Data
 * parallel: the mean over the global batch's n S S (the project's normaliser rule; mmdet keeps a per-GPU mean). */
tensor *mask_head_loss(const mask_head *h, graph *g, tensor *logits, const mask_targets *t);

/* The probability maps get_seg_masks pastes: logits[s] (n, C, S, S) of n_stages stages (the same rois) ->
 * probs (n, S, S) = (sum over stages of sigmoid(logits[s][i, label_i])) / n_stages in float32, stages added in
 * order (CascadeRoIHead.simple_test: m.sigmoid(), merge_aug_masks' np.mean; one stage: the sigmoid).
 * labels (n) the detections' classes (ignored when class-agnostic: channel 0). */
void mask_head_merge_probs(const mask_head_config *c, tensor *const *logits, int n_stages, const int *labels, float *probs);

/* _do_paste_mask of one map, skip_empty=True (mmdet on CPU, pasting one by one): prob (S, S), box (4) in the
 * output image's pixels -> out (img_h, img_w) floats: grid_sample values on the region
 * [max(floor(x1) - 1, 0), min(ceil(x2) + 1, img_w)) x (the same in y), 0 elsewhere. All in float32 in torch's
 * order; a degenerate box's infinite grid coordinates become 0 as mmdet does. The plain reference path. */
void mask_head_paste_prob(const float *prob, int S, const float *box, int img_h, int img_w, float *out);

/* get_seg_masks(rescale=True) for one image: probs (n, S, S) (mask_head_merge_probs), boxes (n, 4) as mmdet's
 * _bboxes (the detections times scale_factor: in the network's image) divided by scale_factor (w, h, w, h) in
 * float32 (NULL: boxes already in the output image), pasted into out_h x out_w (ori_shape) ->
 * masks (n, out_h, out_w) uint8: 1 where the pasted value >= thr (mask_thr_binary); thr < 0: value * 255
 * truncated (mmdet's debug mode). Detections one after another; pixels outside each region are 0. */
void mask_head_paste(const float *probs, int n, int S, const float *boxes, const float *scale_factor, int out_h, int out_w,
                     float thr, uint8_t *masks);

#endif
