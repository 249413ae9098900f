/* bbox_head.h - mmdet 2.11's ConvFCBBoxHead (mmdet/models/roi_heads/bbox_heads/convfc_bbox_head.py on
 * bbox_head.py) as the COCO Cascade Mask R-CNN config builds each of its three stages
 * (D/mona_configs/swin-b_coco/cascade_mask_swin_base_3x_coco_sample_1_bs_16_mona.py): num_shared_convs 4
 * (ConvModule 3x3, pad 1, no bias, SyncBN, ReLU), num_shared_fcs 1 (flatten, Linear 256*7*7 -> 1024, ReLU),
 * fc_cls 1024 -> 81 (80 classes + background), fc_reg 1024 -> 4 * 80 (reg_class_agnostic False),
 * reg_decoded_bbox True (the regression loss is GIoU, weight 10, on the decoded boxes), softmax CE for cls.
 *
 * Training, per stage (CascadeRoIHead.forward_train): per image MaxIoUAssigner on the proposals (pos = neg =
 * min_pos thr 0.5 / 0.6 / 0.7, no low-quality matches), the gts prepended as proposals assigned to themselves
 * (add_gt_as_proposals), RandomSampler 512 x 0.25; rois = positives then negatives per image; targets
 * (BBoxHead.get_targets): positives label = gt label, weight 1, box target = the gt box (decoded targets),
 * box weight 1; negatives label 80 (background), weight 1. Loss (BBoxHead.loss): CE / max(#(label weight > 0),
 * 1); GIoU on the positives' decoded boxes of their gt class (decode without clipping) / #rois (avg_factor =
 * bbox_targets.size(0)), times 10. The stage weights 1, 0.5, 0.25 are the caller's (CASCADE_STAGE_LOSS_WEIGHTS).
 *
 * Between stages (refine_bboxes): bbox_head_refine; at test time (CascadeRoIHead.simple_test):
 * bbox_head_regress_by_class between stages and bbox_head_get_bboxes on the stages' mean logits.
 *
 * Parameters under prefix (e.g. "roi_head.bbox_head.0."): shared_convs.{i}.conv.weight, shared_convs.{i}.bn.
 * {weight,bias,running_mean,running_var}, shared_fcs.0.{weight,bias}, fc_cls.*, fc_reg.*. */
#ifndef DB_BBOX_HEAD_H
#define DB_BBOX_HEAD_H

#include "../../core/params.h"
#include "bbox_coder.h"
#include "det_types.h"
#include "max_iou_assigner.h"
#include "random_sampler.h"

#define BBOX_HEAD_MAX_CONVS 4
#define CASCADE_STAGES 3
/* CascadeRoIHead stage_loss_weights (base model) */
#define CASCADE_STAGE_LOSS_WEIGHTS {1.0f, 0.5f, 0.25f}

typedef struct bbox_head_config {
    int in_channels, roi_feat_size;     /* 256, 7 */
    int num_shared_convs, conv_out_channels; /* 4, 256 */
    int fc_out_channels;                /* 1024 (one shared fc) */
    int num_classes;                    /* 80: fc_cls has num_classes + 1 outputs */
    int reg_class_agnostic;             /* 0: fc_reg 4 * num_classes */
    float bn_eps, bn_momentum;          /* 1e-5, 0.1 (torch BatchNorm defaults) */
    delta_coder coder;                  /* means 0, the stage's stds, clip_border, wh_ratio_clip 16/1000 */
    max_iou_cfg assigner;
    random_sampler_cfg sampler;
    int add_gt_as_proposals;            /* 1 */
    float pos_weight;                   /* <= 0: 1 */
    float loss_cls_weight, loss_bbox_weight, giou_eps; /* 1, 10, 1e-6 */
} bbox_head_config;

/* The COCO config of cascade stage 0, 1 or 2 (in_channels 256, 80 classes). */
void bbox_head_config_cascade(bbox_head_config *c, int stage, int in_channels, int num_classes);

typedef struct bbox_head {
    bbox_head_config cfg;
    tensor *conv_w[BBOX_HEAD_MAX_CONVS], *bn_w[BBOX_HEAD_MAX_CONVS], *bn_b[BBOX_HEAD_MAX_CONVS];
    tensor *bn_mean[BBOX_HEAD_MAX_CONVS], *bn_var[BBOX_HEAD_MAX_CONVS]; /* buffers */
    tensor *fc_w, *fc_b, *cls_w, *cls_b, *reg_w, *reg_b;
} bbox_head;

void bbox_head_declare(bbox_head *h, params *ps, const bbox_head_config *cfg, const char *prefix);
/* ConvModule: kaiming normal fan_out (std sqrt(2 / (Cout 3 3))), BN weight 1 bias 0, running stats 0 / 1;
 * shared fc xavier_uniform (bound sqrt(6 / (in + out))), bias 0; fc_cls N(0, 0.01), fc_reg N(0, 0.001), biases 0. */
void bbox_head_init(bbox_head *h, rng_t *r);

/* roi feats (K, in, 7, 7) -> cls (K, num_classes + 1), reg (K, 4 * num_classes) (4 when class-agnostic).
 * BN normalises over all K rois with the batch statistics when g->training (SyncBN on one process). */
void bbox_head_forward(const bbox_head *h, graph *g, tensor *x, tensor **cls, tensor **reg);

/* One image's sampling result (mmdet SamplingResult); arrays in the graph's arena. */
typedef struct rcnn_sampling {
    int npos, nneg;
    float *bboxes;           /* (npos + nneg, 4): positives then negatives, each in increasing index order */
    int *pos_gt;             /* (npos) 0-based gt index of each positive */
    int *pos_labels;         /* (npos) its gt label */
    unsigned char *pos_is_gt;/* (npos) 1 when the positive is a gt added as proposal */
} rcnn_sampling;

/* Assign and sample the n proposals (n, 4) of one image against gt: max_iou_assign on the proposals, then
 * (add_gt_as_proposals) the gts prepended with gt_inds 1..m, then random_sample. r draws the choices. */
void bbox_head_sample(const bbox_head_config *c, graph *g, const float *props, int n, const det_gt *gt, rng_t *r,
                      rcnn_sampling *s);
/* bbox2roi of the sampled boxes: (K, 5) = (image, x1, y1, x2, y2), images in order (no gradient). */
tensor *rcnn_sampling_rois(graph *g, const rcnn_sampling *s, int B);

typedef struct bbox_targets {
    int K;
    int *labels;          /* (K): gt label of positives, num_classes for negatives */
    float *label_weights; /* (K) */
    float *bbox_targets;  /* (K, 4): gt boxes of positives (reg_decoded_bbox), else 0 */
    float *bbox_weights;  /* (K, 4) */
} bbox_targets;

/* BBoxHead.get_targets (concat over images); arrays in the graph's arena. */
void bbox_head_targets(const bbox_head *h, graph *g, const rcnn_sampling *s, int B, const det_gt *gts, bbox_targets *t);
/* BBoxHead.loss: loss_cls, loss_bbox scalars (the stage weight not applied); rois (K, 5) as the forward's. */
void bbox_head_loss(const bbox_head *h, graph *g, tensor *cls, tensor *reg, const tensor *rois, const bbox_targets *t,
                    tensor **loss_cls, tensor **loss_bbox);

/* Differentiable decode of class-selected deltas: reg (K, 4 * kcls), rows idx (n) of it, class cls_idx (n) (0
 * when kcls == 1) against rois (K, 5) -> boxes (n, 4), delta_decode without clipping (as BBoxHead.loss). */
tensor *op_bbox_decode_select(graph *g, tensor *reg, const delta_coder *coder, const float *rois, const int *idx, const int *cls_idx,
                              int n);

/* BBoxHead.regress_by_class on n rois (row i at rois + i * rstride + roff: (x1, y1, x2, y2)): the 4 deltas of
 * labels[i] (class-wise; column 0 when class-agnostic) of reg (n, 4k), decoded with max_shape img (clipped to
 * [0, img_w] x [0, img_h]) -> out (n, 4). No gradient (mmdet runs it under no_grad or at test time). */
void bbox_head_regress_by_class(const bbox_head_config *c, const float *rois, int rstride, const int *labels, const float *reg,
                                int n, float img_h, float img_w, float *out);

/* CascadeRoIHead.forward_train between stage i and i + 1 (BBoxHead.refine_bboxes): every sampled roi's label is
 * its target label, background (num_classes) replaced by argmax of cls[:, :num_classes] (first maximum);
 * regress_by_class with the image's img_shape; the positives that are gts added as proposals (pos_is_gt)
 * dropped. props[b] (nprops[b], 4) in the graph's arena are the next stage's proposals. */
void bbox_head_refine(const bbox_head *h, graph *g, const tensor *rois, const bbox_targets *t, const tensor *cls, const tensor *reg,
                      const rcnn_sampling *s, const det_img_meta *metas, int B, float **props, int *nprops);

/* test_cfg.rcnn of the base model: score_thr 0.05, NMS IoU 0.5, max_per_img 100, mask_thr_binary 0.5. */
typedef struct rcnn_test_cfg {
    float score_thr, nms_iou;
    int max_per_img;
    float mask_thr_binary;
} rcnn_test_cfg;
void rcnn_test_cfg_default(rcnn_test_cfg *c);

/* BBoxHead.get_bboxes(rescale=True) of one image: scores = softmax(cls_logits (n, num_classes + 1)); boxes =
 * decode(rois (row stride rstride, (x1, y1, x2, y2) at offset roff), reg (n, 4k)) clipped to img_shape, divided
 * by scale_factor; multiclass_nms (nms.h) -> out (original-image pixels, det_result_free). Returns the count. */
int bbox_head_get_bboxes(const bbox_head *h, const float *rois, int rstride, const float *cls_logits, const float *reg, int n,
                         const det_img_meta *m, const rcnn_test_cfg *tc, det_result *out);

#endif
