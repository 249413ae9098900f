/* cls_augment.h - the classification pipeline of mmcls 0.25 as the authors configure it
 * (Swin-Transformer-Classification/mona_configs/_base_/datasets/<name>_mona.py):
 *
 *   train: RandomResizedCrop(size) -> RandomFlip(0.5, horizontal) -> Normalize(ImageNet mean/std)
 *   test:  Resize(short side = resize_short, long side int(short*long/short)) -> CenterCrop(size) -> Normalize
 *
 * Semantics kept from mmcls/mmcv: RandomResizedCrop draws target area uniform in scale*area and the
 * aspect ratio log-uniform in ratio, w = round(sqrt(area*ar)), h = round(sqrt(area/ar)) (Python's
 * round: half to even), accepts when 0 < w <= W and 0 < h <= H with offsets uniform integers, up to 10
 * attempts, then falls back to a central crop clamped to the ratio range; resizing is bilinear with
 * cv2's pixel-centre mapping (src = (dst + 0.5) * scale - 0.5, clamped at the borders, no antialias)
 * computed in float and rounded to 8 bits (cv2 uses 11-bit fixed-point weights: values may differ by
 * one level); Resize skips images whose short side already has the target length; CenterCrop offsets
 * are round((H - size) / 2) (half to even). The output is float NCHW, (x - mean) / std per RGB channel.
 *
 * Randomness: every sample draws from its own generator seeded by cls_aug_seed(seed, epoch, index), so
 * the crop and flip of (epoch, index) do not depend on thread count, batch order or on a resume. */
#ifndef DB_CLS_AUGMENT_H
#define DB_CLS_AUGMENT_H

#include <stdint.h>

#include "../core/common.h"
#include "image.h"

typedef struct cls_aug_cfg {
    int size;                      /* output side (224) */
    int resize_short;              /* test: short side before the center crop (256) */
    double scale_min, scale_max;   /* RandomResizedCrop area fraction (0.08, 1.0) */
    double ratio_min, ratio_max;   /* aspect ratio w/h range (3/4, 4/3) */
    int max_attempts;              /* 10 */
    double flip_prob;              /* 0.5 */
    float mean[3], std[3];         /* ImageNet: 123.675 116.28 103.53 / 58.395 57.12 57.375 (0..255 scale) */
} cls_aug_cfg;

/* The authors' values for output side `size`; resize_short = round(size * 256 / 224). */
void cls_aug_default(cls_aug_cfg *c, int size);
/* -1 with err_set when a field is out of range. */
int cls_aug_check(const cls_aug_cfg *c);

/* A crop box in source pixels (x0, y0, w, h) and a flip flag. */
typedef struct cls_crop {
    int x0, y0, w, h;
    int flip;
} cls_crop;

/* Per-sample generator seed from (run seed, epoch, sample index in the dataset). */
uint64_t cls_aug_seed(uint64_t seed, int64_t epoch, int64_t index);
/* Uniform double in [0,1) with 53 random bits. */
double cls_rng_double(rng_t *r);

/* RandomResizedCrop box for a W x H image (draws from r). Then the flip draw is made by the caller. */
cls_crop cls_rrc_params(rng_t *r, int W, int H, const cls_aug_cfg *c);
/* The draws of one training sample: crop box, then flip (prob c->flip_prob). */
cls_crop cls_aug_train_params(int W, int H, const cls_aug_cfg *c, uint64_t sample_seed);
/* The deterministic test geometry: resized size (*rw, *rh) and the crop box in resized pixels. */
void cls_test_geometry(int W, int H, const cls_aug_cfg *c, int *rw, int *rh, cls_crop *box);

/* Bilinear resize (cv2 INTER_LINEAR mapping) of the region (sx0, sy0, sw, sh) of src (HWC, c channels,
 * row stride src_w*c) to a virtual dw x dh image, writing only its window (ox, oy, ow, oh) to dst
 * (ow x oh x c, HWC). With ox = oy = 0, ow = dw, oh = dh it is a plain crop-and-resize. */
void cls_resize_bilinear(const uint8_t *src, int src_w, int c, int sx0, int sy0, int sw, int sh, int dw, int dh,
                         int ox, int oy, int ow, int oh, uint8_t *dst);

/* HWC uint8 RGB (size x size) -> CHW float normalised, optionally mirrored horizontally. */
void cls_normalize_chw(const uint8_t *hwc, int w, int h, const float mean[3], const float std[3], int flip,
                       float *out);

/* Whole pipelines on a decoded 3-channel image; out holds 3*size*size floats (CHW).
 * scratch: size*size*3 bytes or NULL (then allocated). Return -1 with err_set on a bad image. */
int cls_aug_train(const image *im, const cls_aug_cfg *c, uint64_t sample_seed, float *out, uint8_t *scratch);
int cls_aug_test(const image *im, const cls_aug_cfg *c, float *out, uint8_t *scratch);

#endif
