/* roi_extractor.h - mmdet 2.11's SingleRoIExtractor (mmdet/models/roi_heads/roi_extractors/
 * single_level_roi_extractor.py on base_roi_extractor.py): every roi is mapped to one FPN level by its scale
 * and pooled there with RoIAlign (spatial_scale 1 / stride), giving (K, C, out, out) in roi order. COCO's
 * Cascade Mask R-CNN uses two: 7x7 for the box heads, 14x14 for the mask head, both on the strides 4..32
 * (the first four FPN outputs; the fifth, stride 64, only feeds the RPN). */
#ifndef DB_ROI_EXTRACTOR_H
#define DB_ROI_EXTRACTOR_H

#include "../../core/tensor.h"

#define ROI_MAX_LEVELS 8

typedef struct roi_extractor_config {
    int out_size;       /* RoIAlign output_size (square) */
    int sampling_ratio; /* 0: adaptive, ceil(roi size / out) */
    int aligned;        /* mmcv's default True */
    int n_levels;       /* len(featmap_strides) = num_inputs */
    float strides[ROI_MAX_LEVELS];
    float finest_scale; /* 56 */
} roi_extractor_config;

/* The COCO config's extractors: roi_layer RoIAlign(output_size=out_size, sampling_ratio=0) (aligned True),
 * featmap_strides [4, 8, 16, 32], finest_scale 56 (the default). */
void roi_extractor_config_default(roi_extractor_config *c, int out_size);

/* map_roi_levels: rois (K, 5), all float32 as torch does: scale = sqrt((x2 - x1) (y2 - y1)),
 * level = floor(log2(scale / finest_scale + 1e-6)) clamped to [0, num_levels - 1]; a roi whose area is negative
 * (scale NaN, which no level mask selects in mmdet) gets -1. */
void roi_extractor_map_levels(const roi_extractor_config *c, const float *rois, int K, int num_levels, int *level);

/* SingleRoIExtractor.forward: feats[l] (N, C, H_l, W_l), n_feats of them (num_levels = n_feats, as mmdet takes
 * len(feats); the caller passes the first n_levels FPN outputs), rois (K, 5) -> (K, C, out, out). With one level
 * every roi is pooled from it (no mapping). Differentiable w.r.t. the features (op_roi_align_levels). */
tensor *roi_extractor_forward(const roi_extractor_config *c, graph *g, tensor *const *feats, int n_feats, const tensor *rois);

#endif
