/* seg_pipeline.h - the semantic-segmentation data path of mmseg 0.11's ADE20K UperNet config, from an ADE20K-layout
 * dataset (datasets/ade20k.h) to batches:
 *   train: LoadImageFromFile, LoadAnnotations(reduce_zero_label=True), Resize(img_scale=(2048, 512),
 *          ratio_range=(0.5, 2.0)) keep-ratio, RandomCrop(crop_size=(512, 512), cat_max_ratio=0.75),
 *          RandomFlip(prob=0.5), PhotoMetricDistortion, Normalize(ImageNet mean/std, to_rgb), Pad(size=crop,
 *          pad_val=0, seg_pad_val=255), DefaultFormatBundle, Collect(img, gt_semantic_seg)
 *   test:  MultiScaleFlipAug(img_scale=(2048, 512), flip=False): Resize keep-ratio, Normalize, ImageToTensor (no pad;
 *          one image per batch as mmseg's single-GPU test), the label map at its original size for the evaluation
 * Sampling: one permutation of the dataset per epoch from (seed, epoch), cut into batches, the last partial batch
 * dropped (mmseg 0.11's train_segmentor builds its loader with drop_last=True); each sample's random draws come
 * from (seed, epoch, iteration, position), so a resumed run sees the same batches. */
#ifndef DB_SEG_PIPELINE_H
#define DB_SEG_PIPELINE_H

#include <stdint.h>

#include "../core/common.h"
#include "ade20k.h"
#include "dense_aug.h"

typedef struct seg_pipeline_cfg {
    int scale_long, scale_short; /* Resize img_scale (2048, 512) */
    float ratio_lo, ratio_hi;    /* train ratio_range (0.5, 2.0) */
    int crop;                    /* square crop side (512) */
    float cat_max_ratio;         /* 0.75 */
    float flip_ratio;            /* 0.5 */
    int photometric;             /* PhotoMetricDistortion on (1) */
    int reduce_zero_label;       /* 1 for ADE20K */
    int n_classes;               /* labels must be < n_classes or 255 */
    float mean[3], std[3];
} seg_pipeline_cfg;

void seg_pipeline_cfg_default(seg_pipeline_cfg *c);

typedef struct seg_batch {
    int n, H, W;       /* images, batch size (train: crop x crop; test: the resized image) */
    float *images;     /* (n, 3, H, W) */
    uint8_t *labels;   /* train: (n, H, W) transformed, 255 = ignore; test: the original label map (ori_h x ori_w) */
    int ori_h, ori_w;  /* test: the original size */
    int *index;        /* dataset index of each image */
} seg_batch;
void seg_batch_free(seg_batch *b);

/* The epoch's order: n_out = (n / batch) * batch dataset indices (malloc'd). */
int seg_sampler(int n, int batch, uint64_t seed, int epoch, int **order, int *n_out);
/* Train batch of the images idx[0..n-1] (random draws from seed and the position). */
int seg_batch_load_train(const ade20k_dataset *ds, const seg_pipeline_cfg *c, const int *idx, int n, uint64_t seed, seg_batch *b);
/* Test batch of one image. */
int seg_batch_load_test(const ade20k_dataset *ds, const seg_pipeline_cfg *c, int i, seg_batch *b);
/* A synthetic train batch for benchmarks: n random-pixel images of size x size with random labels below n_classes
 * (deterministic from seed), normalised, no augmentation. */
int seg_batch_synthetic(const seg_pipeline_cfg *c, int n, int size, uint64_t seed, seg_batch *b);

#endif
