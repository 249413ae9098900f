/* coco_pipeline.h - the COCO data path of the authors' Cascade Mask R-CNN config (mmdet 2.11,
 * mona_configs/swin-b_coco/cascade_mask_swin_base_3x_coco_sample_1_bs_16_*.py on
 * _base_/datasets/coco_instance_sample_1.py), from a COCO image to padded batches with masks:
 *
 *   load:  LoadImageFromFile (RGB here), LoadAnnotations(with_bbox, with_mask, poly2mask=True): the boxes of
 *          CocoDataset._parse_ann_info (coco.h:coco_image_targets; crowd boxes go to the ignore list, which
 *          Collect does not keep, so they are dropped here), labels = cat2label, one 0/1 mask per box
 *          rasterised at the image's annotated size (pycocotools frPyObjects/merge/decode, via
 *          metrics/coco_json.h:coco_seg_to_rle).
 *   train: RandomFlip(flip_ratio=0.5, horizontal),
 *          AutoAugment: one of two policies, uniformly
 *            (0) Resize(img_scale=[(480..800 step 32, 1333)] (11 scales), multiscale_mode='value', keep_ratio)
 *            (1) Resize([(400, 1333), (500, 1333), (600, 1333)], 'value', keep_ratio),
 *                RandomCrop(crop_type='absolute_range', crop_size=(384, 600), allow_negative_crop=True),
 *                Resize(the 11 scales of (0), 'value', override=True, keep_ratio),
 *          Normalize(ImageNet mean/std, to_rgb), Pad(size_divisor=32), Collect(img, gt_bboxes, gt_labels,
 *          gt_masks).
 *   test:  MultiScaleFlipAug(img_scale=(1333, 800), flip=False): Resize(keep_ratio), Normalize, Pad(32).
 * Masks follow every transform as mmdet's BitmapMasks (flip; rescale with cv2 nearest; crop with the boxes
 * that stay; pad with 0 to pad_shape).
 *
 * Random draws of one training sample, in this order, from the generator handed in (the same order as
 * mmdet's numpy calls):
 *   1. flip: rng_uniform < flip_ratio                                  (RandomFlip: np.random.choice)
 *   2. policy: rng_below(2)                                           (AutoAugment: np.random.choice)
 *   3. policy 0: scale index rng_below(11)                            (Resize.random_select)
 *      policy 1: scale index rng_below(3); crop_h = rng_below over [min(h, 384), min(h, 600)], then crop_w
 *                likewise with w; offset_h rng_below(h - crop_h + 1), offset_w rng_below(w - crop_w + 1)
 *                (RandomCrop._get_crop_size, _crop_data); scale index rng_below(11) (the override Resize).
 * The batch loader seeds one generator per image from (seed, dataset index), so a batch does not depend on
 * what was loaded before it. */
#ifndef DB_COCO_PIPELINE_H
#define DB_COCO_PIPELINE_H

#include "../core/common.h"
#include "../models/det/det_types.h"
#include "coco.h"
#include "dense_aug.h"
#include "det_pipeline.h"

#define COCO_PIPE_MAX_SCALES 16

typedef struct coco_pipeline_cfg {
    float flip_ratio;                              /* 0.5 */
    int n_ms;                                      /* policy 0 and the second Resize of policy 1: 11 */
    int ms_scales[COCO_PIPE_MAX_SCALES][2];        /* (short, long) as written in the config: (480, 1333) .. (800, 1333) */
    int n_pre;                                     /* policy 1, first Resize: 3 */
    int pre_scales[COCO_PIPE_MAX_SCALES][2];       /* (400, 1333), (500, 1333), (600, 1333) */
    int crop_lo, crop_hi;                          /* RandomCrop absolute_range (384, 600) */
    int allow_negative_crop;                       /* 1 */
    int n_policies;                                /* 2 (1: only policy 0, for experiments) */
    int test_long, test_short;                     /* test Resize (1333, 800) */
    float mean[3], std[3];                         /* ImageNet, RGB */
    int size_divisor;                              /* 32 */
} coco_pipeline_cfg;

void coco_pipeline_cfg_default(coco_pipeline_cfg *c);

/* What one training sample drew (for tests and logs). */
typedef struct coco_aug_trace {
    int flip;                 /* 1: flipped horizontally */
    int policy;               /* 0 or 1 */
    int scale_idx[2];         /* policy 0: [0] into ms_scales. policy 1: [0] into pre_scales, [1] into ms_scales */
    int crop_x, crop_y, crop_w, crop_h; /* policy 1: the crop in the image after the first Resize */
    int w_before_crop, h_before_crop;   /* policy 1: that image's size */
} coco_aug_trace;

/* Fill s's annotations for image `image` of ds: boxes/labels of coco_image_targets (gt only; crowd and
 * ignored ones dropped) and, when with_mask, one mask per box at the image's (height, width) from the
 * file (s->img must have that size: a mismatch is an error, mmdet would pair masks of another size).
 * Replaces any annotations s already holds. */
int coco_sample_annotate(const coco_dataset *ds, int image, int with_mask, dense_sample *s);
/* Read image `image` (img_dir/file_name, RGB) and annotate it. */
int coco_sample_load(const coco_dataset *ds, const char *img_dir, int image, int with_mask, dense_sample *s);

/* The train pipeline (flip, AutoAugment, Normalize, Pad) on a loaded sample, draws from r in the order above.
 * meta as mmdet's img_metas: ori_shape as loaded, img_shape after the last Resize (or crop), pad_shape,
 * scale_factor of the LAST Resize only (mmdet's override Resize replaces it), flip. trace may be NULL. */
int coco_pipeline_train(const coco_pipeline_cfg *c, dense_sample *s, rng_t *r, det_img_meta *meta, coco_aug_trace *trace);
/* The test pipeline (Resize (1333, 800) keep ratio, Normalize, Pad). */
int coco_pipeline_test(const coco_pipeline_cfg *c, dense_sample *s, det_img_meta *meta);

/* Tight box [x1, y1, x2, y2) of the 1-pixels of an h x w row-major mask (x2 = last column + 1); 0 when
 * empty. */
int coco_mask_tight_box(const uint8_t *m, int w, int h, float box[4]);

/* mmdet GroupSampler over the images keep[0..n_keep-1] of ds (e.g. coco_filter_images' list): grouped by
 * the aspect flag w / h > 1 (CustomDataset._set_group_flag, from the annotated sizes), as det_group_sampler;
 * *order gets n_out dataset indices (malloc'd), a multiple of batch, each batch of one group. */
int coco_group_sampler(const coco_dataset *ds, const int *keep, int n_keep, int batch, uint64_t seed, int epoch, int **order,
                       int *n_out);

/* Load, transform and collate the images idx[0..n-1] of ds into b (det_pipeline.h's batch: images padded to
 * the largest, metas, gts with masks at each image's pad_shape). train: the train pipeline with masks, one
 * generator per image seeded by (seed, idx[i]); else the test pipeline, boxes kept, no masks. */
int coco_batch_load(const coco_dataset *ds, const char *img_dir, const coco_pipeline_cfg *c, int train, const int *idx,
                    int n, uint64_t seed, det_batch *b);

#endif
