/* dense_aug.h - augmentation for the dense tasks (detection, instance and semantic segmentation, rotated
 * detection), the image transformed together with its boxes, instance masks, rotated boxes and label map,
 * following mmdet 2.x / mmseg 0.x / mmrotate 0.x pipelines:
 *   Resize (keep ratio to a (long, short) scale, or exact), random scale from a ratio range (mmseg) or an
 *   edge range (mmdet "range"), RResize for rotated boxes; RandomFlip / RRandomFlip (horizontal, vertical,
 *   diagonal); RandomCrop (mmseg, with cat_max_ratio; mmdet box cropping); PhotoMetricDistortion (mmseg);
 *   Normalize; Pad to a multiple of 32; and the collation of variable-size samples into a padded batch.
 * Image interpolation is bilinear with cv2's pixel-centre convention computed in floating point (cv2 uses
 * 11-bit fixed point, so values can differ by 1); label maps and masks use cv2's nearest rule. */
#ifndef DB_DENSE_AUG_H
#define DB_DENSE_AUG_H

#include <stdint.h>

#include "../core/common.h"
#include "dota.h"
#include "image.h"

enum { DENSE_FLIP_NONE = 0, DENSE_FLIP_H = 1, DENSE_FLIP_V = 2, DENSE_FLIP_D = 3 };

typedef struct dense_sample {
    image img;           /* uint8 HWC RGB until dense_normalize_pad */
    int n_boxes;         /* horizontal boxes x1 y1 x2 y2 (pixels) and their labels */
    float *boxes;
    int *labels;
    int n_rboxes;        /* rotated boxes (mmrotate x, y, w, h, a) and their labels */
    rbox *rboxes;
    int *rlabels;
    int n_masks;         /* instance masks, n_masks x h x w, 0/1, one per box (same order) when present */
    uint8_t *masks;
    uint8_t *seg;        /* semantic label map h x w (255 = ignore), or NULL */
    rbox_version rver;   /* the convention of rboxes (flip keeps it) */
    /* meta, as mmdet's img_metas */
    int ori_w, ori_h;    /* as loaded */
    int img_w, img_h;    /* after resize/crop, before padding */
    int pad_w, pad_h;    /* after padding (0 until dense_normalize_pad) */
    float scale_w, scale_h; /* accumulated resize factors */
    int flip;            /* last flip direction */
    float *norm;         /* after dense_normalize_pad: 3 x pad_h x pad_w float (CHW) */
} dense_sample;

/* Take ownership of an image (and start the meta). The annotation arrays are set by the caller (malloc'd;
 * dense_sample_free frees them). */
void dense_sample_init(dense_sample *s, image *img);
void dense_sample_free(dense_sample *s);

/* mmcv rescale_size: scale = min(long/max(w,h), short/min(w,h)), new side = int(side * scale + 0.5). */
void dense_rescale_size(int w, int h, int long_edge, int short_edge, int *nw, int *nh);
/* mmseg Resize ratio_range: ratio uniform in [lo, hi), scale = (int(long*ratio), int(short*ratio)). */
void dense_random_ratio_scale(rng_t *r, int long_edge, int short_edge, float lo, float hi, int *out_long,
                              int *out_short);
/* mmdet Resize multiscale_mode="range" with two scales: long edge uniform integer in [long_lo, long_hi],
 * short edge in [short_lo, short_hi]. */
void dense_random_range_scale(rng_t *r, int long_lo, int long_hi, int short_lo, int short_hi, int *out_long,
                              int *out_short);
/* Resize. keep_ratio: to (long_edge, short_edge) as mmcv.imrescale; else exactly to w=long_edge, h=short_edge.
 * Boxes are scaled by (new_w/w, new_h/h) and clipped to the image (mmdet bbox_clip_border); rotated boxes
 * as RResize (x*sw, y*sh, w and h * sqrt(sw*sh)); masks and the label map by nearest. */
int dense_resize(dense_sample *s, int long_edge, int short_edge, int keep_ratio);
/* Flip: boxes as mmdet bbox_flip (x1' = W - x2); rotated boxes as mmrotate RRandomFlip (x' = W - x - 1,
 * angle per convention); diagonal = both axes. */
void dense_flip(dense_sample *s, int direction);
/* mmdet RandomFlip with a list of directions: probs[0..2] for h, v, d (sum <= 1; the rest: no flip). */
int dense_random_flip(dense_sample *s, rng_t *r, const float probs[3]);
/* Crop the region [x0, x0+cw) x [y0, y0+ch) (clipped to the image). Boxes are shifted, clipped and dropped
 * when empty (mmdet RandomCrop); rotated boxes whose centre leaves the crop are dropped; masks follow boxes. */
int dense_crop(dense_sample *s, int x0, int y0, int cw, int ch);
/* mmseg RandomCrop(crop_size=(ch, cw), cat_max_ratio): up to 10 re-draws until no class (ignore excluded)
 * covers cat_max_ratio or more of the crop and at least two classes are present; then crop. */
int dense_random_crop_seg(dense_sample *s, rng_t *r, int ch, int cw, float cat_max_ratio);
/* mmdet 2.x RandomCrop(crop_type="absolute_range", crop_size=(lo, hi)) as in the DETR-style COCO policy:
 * crop_h uniform integer in [min(h, lo), min(h, hi)], crop_w likewise, offsets uniform; boxes shifted,
 * clipped, empty ones dropped. When no box would remain and !allow_negative_crop the sample is left unchanged
 * and 0 is returned (mmdet returns None and the dataset draws another image); otherwise 1. */
int dense_random_crop_det(dense_sample *s, rng_t *r, int lo, int hi, int allow_negative_crop);
/* mmseg PhotoMetricDistortion (brightness 32, contrast 0.5-1.5, saturation 0.5-1.5, hue 18), uint8 HSV with
 * cv2's ranges (H in [0, 180)). */
void dense_photometric(dense_sample *s, rng_t *r);
/* One pixel RGB <-> HSV in cv2's uint8 form (H in [0, 180), S and V in [0, 255]). */
void dense_rgb_to_hsv8(const uint8_t *rgb, uint8_t *hsv);
void dense_hsv8_to_rgb(const uint8_t *hsv, uint8_t *rgb);
/* Normalize with mean/std (RGB order; mmdet's to_rgb=True for BGR-loaded images means the same as this for
 * our RGB images), then pad bottom/right to a multiple of `divisor` (image 0, masks 0, label map 255).
 * Fills s->norm (3 x pad_h x pad_w). */
int dense_normalize_pad(dense_sample *s, const float mean[3], const float std[3], int divisor);
/* Collate normalized samples into one zero-padded batch B x 3 x H x W (H, W the largest padded sizes);
 * seg_out (if not NULL) gets B x H x W label maps padded with 255 (samples without one: all 255). */
int dense_collate(dense_sample *const *s, int n, float **out, int *H, int *W, uint8_t **seg_out);

extern const float dense_imagenet_mean[3]; /* 123.675, 116.28, 103.53 */
extern const float dense_imagenet_std[3];  /* 58.395, 57.12, 57.375 */

#endif
