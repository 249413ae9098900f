/* retina_head.h - mmdet 2.11's RetinaHead (mmdet/models/dense_heads/retina_head.py on anchor_head.py), the
 * VOC detector's head: per FPN level, two towers of `stacked_convs` 3x3 conv + ReLU (cls_convs, reg_convs,
 * shared over levels), then retina_cls (A*C channels, channel a*C + c) and retina_reg (A*4 channels).
 *
 * Training targets (AnchorHead.get_targets): per image, the anchors of every level concatenated in (level,
 * y, x, a) order, those inside (valid flags from the image's pad_shape; allowed_border >= 0 also requires
 * the anchor inside img_shape) assigned by MaxIoUAssigner, PseudoSampler (positives gt_inds > 0,
 * negatives == 0), labels num_classes (background) except positives, label weight 1 for positives (or
 * pos_weight) and negatives, regression targets DeltaXYWH-encoded with weight 1 on positives.
 * Loss per level (loss_single): FocalLoss(cls (n, C), labels, label_weights, avg_factor) and
 * L1Loss(bbox (n, 4), targets, weights, avg_factor), avg_factor = sum over images of max(#pos, 1).
 *
 * Inference (get_bboxes, test_cfg): per level sigmoid scores, the nms_pre anchors of largest max-class score
 * when a level has more, decode clipped to img_shape, levels concatenated, optionally divided by the
 * scale factor (rescale to the original image), then multiclass NMS: every (box, class) with score >
 * score_thr, NMS per class at iou_thr, the max_per_img highest kept.
 *
 * Parameters: "<prefix>cls_convs.<i>.conv.{weight,bias}", "<prefix>reg_convs.<i>.conv.*",
 * "<prefix>retina_cls.*", "<prefix>retina_reg.*" (prefix "bbox_head." in the detector). */
#ifndef DB_RETINA_HEAD_H
#define DB_RETINA_HEAD_H

#include "../../core/params.h"
#include "anchor_generator.h"
#include "bbox_coder.h"
#include "det_types.h"
#include "max_iou_assigner.h"

#define RETINA_MAX_CONVS 8

typedef struct retina_head_config {
    int num_classes, in_channels, feat_channels, stacked_convs;
    anchor_gen anchors;
    delta_coder coder;
    max_iou_cfg assigner;
    float gamma, alpha, loss_cls_weight, loss_bbox_weight;
    int allowed_border; /* -1: every valid anchor takes part */
    float pos_weight;   /* <= 0: 1 */
    /* test_cfg */
    int nms_pre;
    float score_thr, nms_iou;
    int max_per_img;
} retina_head_config;

/* The VOC RetinaNet values, as the Mona VOC config (mona_configs/swin-l_voc/voc_retinanet_swin_large_1x_*.py)
 * writes them inline: it inherits no model base (its retinanet_r50_fpn.py line is commented out), though head,
 * train_cfg and test_cfg equal mmdet's retinanet_r50_fpn.py apart from num_classes 20 (docs/dense_spec.md 5,
 * 6.1). Octave anchors 4 x 2^(k/3), ratios 0.5 1 2, strides 8..128; stds 1; MaxIoU 0.5 / 0.4 / 0; focal
 * 2.0 / 0.25; L1; nms_pre 1000, score 0.05, NMS 0.5, 100 per image. */
void retina_head_config_default(retina_head_config *c, int num_classes, int in_channels, int feat_channels);

typedef struct retina_head {
    retina_head_config cfg;
    int A; /* anchors per location */
    tensor *cls_w[RETINA_MAX_CONVS], *cls_b[RETINA_MAX_CONVS], *reg_w[RETINA_MAX_CONVS], *reg_b[RETINA_MAX_CONVS];
    tensor *cls_out_w, *cls_out_b, *reg_out_w, *reg_out_b;
} retina_head;

void retina_head_declare(retina_head *h, params *ps, const retina_head_config *cfg, const char *prefix);
/* mmdet's init: every conv N(0, 0.01) with zero bias, retina_cls bias -log((1 - 0.01) / 0.01). */
void retina_head_init(retina_head *h, rng_t *r);

/* feats[l] (B, in, H_l, W_l) -> cls[l] (B, A*C, H_l, W_l), reg[l] (B, A*4, H_l, W_l) */
void retina_head_forward(const retina_head *h, graph *g, tensor *const *feats, int L, tensor **cls, tensor **reg);

/* The learning targets of a batch (arrays in the graph's arena: they live until its reset). */
typedef struct retina_targets {
    int B, L, total;             /* images, levels, anchors per image */
    int level_off[ANCHOR_MAX_LEVELS + 1];
    int *labels;                 /* (B, total), num_classes = background */
    float *label_weights;        /* (B, total) */
    float *bbox_targets;         /* (B, total, 4) */
    float *bbox_weights;         /* (B, total, 4) */
    int num_pos, num_neg;        /* positives and negatives over the batch */
    float avg_factor;            /* sum over images of max(#pos, 1) */
} retina_targets;

/* Targets for the feature sizes of cls (B images, metas and gts per image). -1 (err_set) when an image has
 * no anchor inside. */
int retina_head_targets(const retina_head *h, graph *g, tensor *const *cls, int L, const det_img_meta *metas,
                        const det_gt *gts, int B, retina_targets *t);
/* Per-level losses loss_cls[l], loss_bbox[l] (scalar tensors) from the forward and the targets. */
void retina_head_loss(const retina_head *h, graph *g, tensor *const *cls, tensor *const *reg, int L, const retina_targets *t,
                      tensor **loss_cls, tensor **loss_bbox);

/* Detections per image (out[b] malloc'd arrays, det_result_free); rescale: divide by scale_factor. */
int retina_head_get_bboxes(const retina_head *h, tensor *const *cls, tensor *const *reg, int L, const det_img_meta *metas, int B,
                           int rescale, det_result *out);
void det_result_free(det_result *r);

#endif
