/* cascade_rcnn.h - the COCO detector of the paper, Cascade Mask R-CNN as the authors' config builds it
 * (D/mona_configs/_base_/models/cascade_mask_rcnn_swin_fpn.py with the 4conv1fc GIoU box heads of
 * cascade_mask_swin_base_3x_coco_sample_1_bs_16_*.py) on mmdet 2.11's CascadeRCNN / CascadeRoIHead:
 *   backbone  Swin, out_indices (0, 1, 2, 3), a tuning method at its insertion points;
 *   neck      FPN [C, 2C, 4C, 8C] -> 256, 5 outputs, the fifth by max pool (add_extra_convs False);
 *   rpn       RPNHead on the 5 levels (rpn_head.h), proposals detached;
 *   roi head  3 stages, each: SingleRoIExtractor 7x7 on the first 4 levels (roi_extractor.h), a
 *             ConvFCBBoxHead (bbox_head.h) trained on its own sampling of the stage's proposals, the
 *             proposals of stage i + 1 refined from stage i's sampled rois (bbox_head_refine); stage
 *             losses weighted 1, 0.5, 0.25.
 * Test (simple_test, rescale): RPN test proposals, the three stages in turn (between stages the rois
 * regressed by argmax class), score = softmax of the mean of the three stages' logits, the last stage's
 * deltas on its input rois, multiclass NMS 0.5, 100 per image.
 *
 * Mask branch (with_mask): a SingleRoIExtractor 14x14 on the same levels and one FCNMaskHead per stage
 * (mask_head.h), trained in every stage on that stage's positives (targets from the gt bitmap masks, loss times
 * the stage weight); at test time the final detections' boxes (times scale_factor) are the mask rois of all three
 * mask heads, whose sigmoids of the detected class are averaged and pasted into the original image at 0.5.
 *
 * Parameters: backbone names as released (no prefix), "neck.*", "rpn_head.*", "roi_head.bbox_head.{i}.*",
 * "roi_head.mask_head.{i}.*" as mmdet names them. */
#ifndef DB_CASCADE_RCNN_H
#define DB_CASCADE_RCNN_H

#include "../fpn.h"
#include "../swin.h"
#include "bbox_head.h"
#include "mask_head.h"
#include "roi_extractor.h"
#include "rpn_head.h"

/* The losses as mmdet logs them (rpn summed over levels; stage losses already times the stage weight; the mask
 * losses 0 without the mask branch). Stage i's cls, bbox, mask are CASCADE_LOSS_S0_CLS + 3 i + 0, 1, 2. */
enum {
    CASCADE_LOSS_RPN_CLS,
    CASCADE_LOSS_RPN_BBOX,
    CASCADE_LOSS_S0_CLS,
    CASCADE_LOSS_S0_BBOX,
    CASCADE_LOSS_S0_MASK,
    CASCADE_LOSS_S1_CLS,
    CASCADE_LOSS_S1_BBOX,
    CASCADE_LOSS_S1_MASK,
    CASCADE_LOSS_S2_CLS,
    CASCADE_LOSS_S2_BBOX,
    CASCADE_LOSS_S2_MASK,
    CASCADE_LOSS_N
};
extern const char *const cascade_loss_names[CASCADE_LOSS_N];

typedef struct cascade_rcnn_config {
    swin_config backbone; /* out_mask 0xF */
    int num_classes;      /* 80 */
    int fpn_channels;     /* 256 */
    int num_outs;         /* 5 */
    rpn_head_config rpn;
    bbox_head_config bbox[CASCADE_STAGES];
    roi_extractor_config bbox_roi;
    mask_head_config mask[CASCADE_STAGES];
    roi_extractor_config mask_roi;
    float stage_loss_weights[CASCADE_STAGES];
    rcnn_test_cfg test;
    int with_mask; /* 1: the mask branch (the config's Cascade Mask R-CNN) */
} cascade_rcnn_config;

/* The COCO config's values on the given backbone, fpn_channels wide (256 in the config; the embedded
 * default narrows it, the RPN's feat_channels and the heads' in_channels follow); with_mask 1. */
void cascade_rcnn_config_default(cascade_rcnn_config *c, const swin_config *backbone, int num_classes, int fpn_channels);

typedef struct cascade_rcnn {
    cascade_rcnn_config cfg;
    params ps;
    swin bb;
    fpn neck;
    rpn_head rpn;
    bbox_head bbox[CASCADE_STAGES];
    mask_head mask[CASCADE_STAGES];
    int n_in;
    int in_stage[SWIN_STAGES];
} cascade_rcnn;

void cascade_rcnn_build(cascade_rcnn *d, const cascade_rcnn_config *cfg, const swin_plugin *plug);
void cascade_rcnn_init(cascade_rcnn *d, uint64_t seed);
void cascade_rcnn_free(cascade_rcnn *d);

/* Training loss of a batch (forward_train): the sum of every loss (a scalar tensor for backward), its parts
 * (CASCADE_LOSS_*) in parts when not NULL; with_mask needs gts[b].masks (at the padded size). r draws the samplers' choices (RPN, then the stages in order, image
 * after image). -1 (err_set) when the targets cannot be built. */
int cascade_rcnn_loss(cascade_rcnn *d, graph *g, tensor *img, const det_img_meta *metas, const det_gt *gts, rng_t *r, tensor **loss,
                      double *parts);

/* Inference (g in evaluation mode): detections per image in original-image pixels (det_result_free each), with
 * masks (ori_h x ori_w each) when with_mask. */
int cascade_rcnn_detect(cascade_rcnn *d, graph *g, tensor *img, const det_img_meta *metas, det_result *out);

#endif
