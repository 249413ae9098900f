/* retinanet.h - the VOC detector of the paper: Swin backbone (out_indices 1, 2, 3, frozen_stages 1, a tuning
 * method plugged into its insertion points), FPN to 256 channels with 5 outputs and the extra levels on the
 * input, RetinaHead; mmdet 2.11's SingleStageDetector (forward_train: backbone, neck, head loss; simple_test:
 * head get_bboxes with rescale). Parameters: backbone names as released (no prefix, as the classifier),
 * "neck.*", "bbox_head.*" as mmdet names them. */
#ifndef DB_RETINANET_H
#define DB_RETINANET_H

#include "../fpn.h"
#include "../swin.h"
#include "retina_head.h"

typedef struct retinanet_config {
    swin_config backbone; /* out_mask and frozen_stages as given (the VOC config: 0xE and 1) */
    int num_classes;
    int fpn_channels;     /* 256 */
    int feat_channels;    /* head tower width, 256 */
    int num_outs;         /* 5 */
} retinanet_config;

/* The VOC config's values on the given backbone. */
void retinanet_config_default(retinanet_config *c, const swin_config *backbone, int num_classes);

typedef struct retinanet {
    retinanet_config cfg;
    params ps;
    swin bb;
    fpn neck;
    retina_head head;
    int n_in;                 /* backbone outputs feeding the FPN */
    int in_stage[SWIN_STAGES];
} retinanet;

void retinanet_build(retinanet *d, const retinanet_config *cfg, const swin_plugin *plug);
void retinanet_init(retinanet *d, uint64_t seed);
void retinanet_free(retinanet *d);

/* Backbone, neck and head forward: img (B, 3, H, W) -> cls[l], reg[l] for the num_outs levels. */
void retinanet_forward(retinanet *d, graph *g, tensor *img, tensor **cls, tensor **reg);

/* Training loss: sum over levels of focal + L1 (a scalar tensor, ready for backward); the parts summed over
 * levels in *loss_cls and *loss_bbox. -1 (err_set) when the targets cannot be built. */
int retinanet_loss(retinanet *d, graph *g, tensor *img, const det_img_meta *metas, const det_gt *gts, tensor **loss,
                   double *loss_cls, double *loss_bbox);

/* Inference: detections per image in original-image pixels (det_result_free each). */
int retinanet_detect(retinanet *d, graph *g, tensor *img, const det_img_meta *metas, det_result *out);

#endif
