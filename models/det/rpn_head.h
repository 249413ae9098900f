/* rpn_head.h - mmdet 2.11's RPNHead (mmdet/models/dense_heads/rpn_head.py on anchor_head.py) as the COCO
 * Cascade Mask R-CNN config builds it (D/mona_configs/_base_/models/cascade_mask_rcnn_swin_fpn.py): per FPN
 * level (shared over levels) rpn_conv 3x3 (in -> feat) + ReLU, then rpn_cls 1x1 (A channels, one sigmoid
 * logit per anchor) and rpn_reg 1x1 (A*4 channels, channel a*4 + k).
 *
 * Training targets (AnchorHead.get_targets with gt_labels None): per image the anchors of every level
 * concatenated in (level, y, x, a) order; those valid for the pad shape and inside img_shape (allowed_border
 * 0) are assigned by MaxIoUAssigner (0.7 / 0.3 / min_pos_iou 0.3, low-quality matches) and sampled by
 * RandomSampler (256, 0.5); sampled positives get label 0, weight 1 and DeltaXYWH targets (stds 1) with box
 * weight 1, sampled negatives label 1 (background) and weight 1, the rest weight 0.
 * Loss per level (loss_single): CrossEntropyLoss(use_sigmoid) on (n, 1) and SmoothL1Loss(beta 1/9) on (n, 4),
 * both divided by avg_factor = num_total_pos + num_total_neg, each the sum over images of max(count, 1).
 *
 * Proposals (_get_bboxes; train: rpn_proposal, test: test_cfg.rpn): per image and level the sigmoid scores
 * (index (y W + x) A + a), the nms_pre highest when a level has more (sorted by decreasing score, ties lower
 * index first), decoded with max_shape = img_shape (clipped), levels concatenated, boxes with w or h below
 * min_bbox_size dropped when it is > 0, batched NMS with the level as class id (IoU > nms_iou suppresses,
 * nms.h), the first max_per_img by decreasing score. No gradient flows into proposals (mmdet detaches them).
 *
 * Parameters: "<prefix>rpn_conv.{weight,bias}", "<prefix>rpn_cls.*", "<prefix>rpn_reg.*" (prefix "rpn_head."). */
#ifndef DB_RPN_HEAD_H
#define DB_RPN_HEAD_H

#include "../../core/params.h"
#include "anchor_generator.h"
#include "bbox_coder.h"
#include "det_types.h"
#include "max_iou_assigner.h"
#include "random_sampler.h"

typedef struct rpn_proposal_cfg {
    int nms_pre;         /* per level, before NMS (<= 0: all) */
    int max_per_img;     /* kept after NMS (<= 0: all) */
    float nms_iou;       /* batched NMS IoU threshold */
    float min_bbox_size; /* > 0: drop boxes narrower or lower */
} rpn_proposal_cfg;

typedef struct rpn_head_config {
    int in_channels, feat_channels;
    anchor_gen anchors;
    delta_coder coder;
    max_iou_cfg assigner;
    random_sampler_cfg sampler;
    int allowed_border; /* -1: every valid anchor */
    float pos_weight;   /* <= 0: 1 */
    float loss_cls_weight, loss_bbox_weight, smooth_l1_beta;
    rpn_proposal_cfg train_proposal, test_proposal;
} rpn_head_config;

/* The COCO values: anchors scales [8], ratios [0.5, 1, 2], strides [4, 8, 16, 32, 64] (A = 3); stds 1;
 * MaxIoU 0.7 / 0.3 / 0.3 with low-quality matching; RandomSampler 256 x 0.5; allowed_border 0; BCE weight 1;
 * SmoothL1 beta 1/9 weight 1; proposals train nms_pre 2000, max_per_img 2000, test 1000 / 1000, NMS 0.7,
 * min_bbox_size 0. */
void rpn_head_config_default(rpn_head_config *c, int in_channels, int feat_channels);

typedef struct rpn_head {
    rpn_head_config cfg;
    int A;
    tensor *conv_w, *conv_b, *cls_w, *cls_b, *reg_w, *reg_b;
} rpn_head;

void rpn_head_declare(rpn_head *h, params *ps, const rpn_head_config *cfg, const char *prefix);
/* normal_init(std=0.01) on the three convs: weights N(0, 0.01), biases 0. */
void rpn_head_init(rpn_head *h, rng_t *r);

/* feats[l] (B, in, H_l, W_l) -> cls[l] (B, A, H_l, W_l), reg[l] (B, A*4, H_l, W_l) */
void rpn_head_forward(const rpn_head *h, graph *g, tensor *const *feats, int L, tensor **cls, tensor **reg);

/* The learning targets of a batch (arrays in the graph's arena: they live until its reset). */
typedef struct rpn_targets {
    int B, L, total; /* images, levels, anchors per image */
    int level_off[ANCHOR_MAX_LEVELS + 1];
    int *labels;          /* (B, total): 0 sampled positive, 1 otherwise */
    float *label_weights; /* (B, total) */
    float *bbox_targets;  /* (B, total, 4) */
    float *bbox_weights;  /* (B, total, 4) */
    int num_pos, num_neg; /* sampled over the batch */
    float avg_factor;     /* sum over images of max(#pos, 1) + max(#neg, 1) */
} rpn_targets;

/* Targets for the feature sizes of cls; r draws the sampler's choices (positives then negatives, image after
 * image). -1 (err_set) when an image has no anchor inside. */
int rpn_head_targets(const rpn_head *h, graph *g, tensor *const *cls, int L, const det_img_meta *metas, const det_gt *gts, int B,
                     rng_t *r, rpn_targets *t);
/* Per-level losses loss_cls[l], loss_bbox[l] (scalar tensors; mmdet's loss_rpn_cls, loss_rpn_bbox lists). */
void rpn_head_loss(const rpn_head *h, graph *g, tensor *const *cls, tensor *const *reg, int L, const rpn_targets *t,
                   tensor **loss_cls, tensor **loss_bbox);

/* Proposals of each image (out[b]: n boxes in img_shape pixels, scores by decreasing value, labels 0;
 * det_result_free), with pc = the train or test proposal settings. */
int rpn_head_get_bboxes(const rpn_head *h, tensor *const *cls, tensor *const *reg, int L, const det_img_meta *metas, int B,
                        const rpn_proposal_cfg *pc, det_result *out);

#endif
