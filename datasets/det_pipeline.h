/* det_pipeline.h - the detection data path of mmdet 2.11's VOC RetinaNet config, from a dataset's images to
 * padded batches with their metas:
 *   train: LoadImageFromFile, LoadAnnotations(with_bbox), Resize(img_scale=(1000, 600), keep_ratio),
 *          RandomFlip(flip_ratio=0.5), Normalize(ImageNet mean/std, to_rgb), Pad(size_divisor=32),
 *          Collect(img, gt_bboxes, gt_labels) (difficult objects are not used: gt_bboxes_ignore is not collected)
 *   test:  the same without flip and annotations (MultiScaleFlipAug with one scale, flip False)
 * and the collation (mmcv collate): the images of a batch zero-padded at the bottom and right to the largest
 * padded size; each image's meta keeps its own img_shape, pad_shape and scale_factor.
 * Sampling (mmdet GroupSampler, one process): images grouped by aspect flag (w / h > 1), each group shuffled and
 * padded with random repeats to a multiple of the batch, cut into batches, batches shuffled; one permutation per
 * epoch from (seed, epoch), so a run resumed at any iteration sees the same batches. */
#ifndef DB_DET_PIPELINE_H
#define DB_DET_PIPELINE_H

#include "../core/common.h"
#include "../models/det/det_types.h"
#include "dense_aug.h"
#include "voc_det.h"

typedef struct det_pipeline_cfg {
    int scale_long, scale_short; /* Resize img_scale (1000, 600), keep_ratio */
    int keep_ratio;
    float flip_ratio;            /* train only (0.5) */
    float mean[3], std[3];
    int size_divisor;            /* 32 */
} det_pipeline_cfg;

void det_pipeline_cfg_default(det_pipeline_cfg *c);

/* One image of a VOC dataset as a sample (RGB image, the non-difficult boxes and labels). */
int det_sample_load_voc(const voc_det_image *im, dense_sample *s);
/* Apply the pipeline (train: with flip drawn from r) and fill meta. */
int det_pipeline_apply(const det_pipeline_cfg *c, int train, dense_sample *s, rng_t *r, det_img_meta *meta);

typedef struct det_batch {
    int n, H, W;          /* images, padded batch size */
    float *images;        /* (n, 3, H, W) */
    det_img_meta *metas;  /* (n) */
    det_gt *gts;          /* (n) boxes in the transformed image */
    int *index;           /* dataset index of each image */
} det_batch;
void det_batch_free(det_batch *b);
/* Data parallel: v = rank's slice of the global batch b split over ns ranks (b->n / ns images, the global
 * padded size kept, so each rank's images see the windows one process would); v borrows b's arrays. */
void det_batch_shard_view(const det_batch *b, int rank, int ns, det_batch *v);
/* The trainer's callbacks on a det_batch (experiments/trainer.h): its image count, and its memory-plan key
 * (images and padded size). */
int det_batch_count(const void *batch);
/* The collated images as a (n, 3, H, W) tensor of g (no gradient). */
struct graph;
struct tensor *det_batch_tensor(struct graph *g, const det_batch *b);
uint64_t det_batch_plan_key(const void *batch);

/* Test batches that add no padding: mmdet tests one image per GPU (samples_per_gpu 1), so each image is padded
 * only to its own multiple of size_divisor; a batch of several images would pad all of them to the largest,
 * a shape training never showed (GroupSampler keeps a training batch to one orientation) and one that changes
 * what a spatial method such as Mona's convolutions computes near the border. Given each image's test size
 * after the keep-ratio resize (w[i], h[i]), this orders the images by padded shape (shapes in order of first
 * appearance, images in file order within a shape) into order (n entries) and cuts each shape's run into
 * batches of at most batch images; batch b is order[start[b] .. start[b + 1]) (start has room for n + 1).
 * Returns the number of batches. The results equal those of batch 1. */
int det_test_batches(const int *w, const int *h, int n, int size_divisor, int batch, int *order, int *start);
/* The test size of a w x h image under a keep-ratio resize to (long_edge, short_edge) (mmcv rescale_size),
 * or (long_edge, short_edge) itself without keep_ratio. */
void det_test_size(int w, int h, int long_edge, int short_edge, int keep_ratio, int *tw, int *th);

/* mmdet GroupSampler order for one epoch: n_out (multiple of batch) dataset indices into *order (malloc'd). */
int det_group_sampler_flags(const uint8_t *flag, int n, int batch, uint64_t seed, int epoch, int **order, int *n_out);
/* The same with the flags of a VOC dataset (w / h > 1). */
int det_group_sampler(const voc_det_dataset *ds, int batch, uint64_t seed, int epoch, int **order, int *n_out);

/* Load, transform and collate the images idx[0..n-1] into b (train: flips drawn from a generator seeded by
 * (seed, epoch, iteration), so the batch does not depend on what ran before). */
int det_batch_load(const voc_det_dataset *ds, const det_pipeline_cfg *c, int train, const int *idx, int n, uint64_t seed, det_batch *b);

/* A synthetic batch for benchmarks, deterministic from seed: n images of size x size uniform random RGB pixels,
 * each with n_boxes ground truths (sides uniform in [size/8, size/2], inside the image, labels uniform below
 * num_classes), through the train pipeline of c (set c's scale to (size, size) and flip_ratio 0 to keep the
 * images as drawn) and the collation. */
int det_batch_synthetic(const det_pipeline_cfg *c, int n, int size, int n_boxes, int num_classes, uint64_t seed, det_batch *b);
/* The same with width x height images (box widths in [width/8, width/2], heights in [height/8, height/2]; set c's
 * scale to (max, min) of the two sides to keep them as drawn); det_batch_synthetic is the square case. */
int det_batch_synthetic_wh(const det_pipeline_cfg *c, int n, int width, int height, int n_boxes, int num_classes, uint64_t seed,
                           det_batch *b);

#endif
