/* det_types.h - what the detection data path hands the detectors and what they hand back: per-image metas
 * (mmdet 2.11's img_meta), ground truths and detections. Boxes are (x1, y1, x2, y2) in pixels of the image
 * the tensor holds (after resize and flip), except det_result, which is rescaled to the original image. */
#ifndef DB_DET_TYPES_H
#define DB_DET_TYPES_H

#include <stdint.h>

/* mmdet's img_metas entry: ori_shape, img_shape (after resize), pad_shape (after padding; the batch tensor
 * may be larger still, padded to the largest image), scale_factor (w, h, w, h), flip. */
typedef struct det_img_meta {
    int ori_h, ori_w;
    int img_h, img_w;
    int pad_h, pad_w;
    float scale_factor[4];
    int flip; /* horizontal flip applied */
} det_img_meta;

/* Ground truths of one image: n boxes (n x 4), labels 0..K-1, and the difficult ones apart (VOC's
 * gt_bboxes_ignore; not used by RetinaNet training, as in mmdet's VOC config). */
typedef struct det_gt {
    int n;
    float *boxes;  /* (n, 4) */
    int *labels;   /* (n) */
    int n_ignore;
    float *boxes_ignore; /* (n_ignore, 4) */
    int *labels_ignore;
    /* instance masks (COCO), one per box in the same order: n x mask_h x mask_w row-major 0/1, at the padded
     * size of the image (mmdet pads BitmapMasks to pad_shape); NULL for box-only data */
    uint8_t *masks;
    int mask_h, mask_w;
} det_gt;

/* Detections of one image: n boxes (n x 4) in original-image pixels, score, label 0..K-1. */
typedef struct det_result {
    int n;
    float *boxes;
    float *scores;
    int *labels;
    uint8_t *masks;     /* instance segmentation: (n, mask_h, mask_w) 0/1 at the original image size, or NULL */
    int mask_h, mask_w;
} det_result;

#endif
