/* train_coco.h - one COCO training run on the shared trainer (trainer.h): Cascade R-CNN (Swin + FPN + RPN +
 * three cascade box stages, models/det/cascade_rcnn.h) under a tuning method, on a COCO-layout dataset through
 * the authors' mmdet 2.11 pipeline (datasets/coco_pipeline.h: flip, the two AutoAugment policies, test
 * (1333, 800)), evaluated by the COCO protocol (metrics/coco_eval.h, `deltabench eval coco`'s code) on the test
 * split: bbox and segm mAP, mAP_50, mAP_75, mAP_s, mAP_m, mAP_l as mmdet logs them (the masks pasted at the
 * original size and binarised at 0.5, as compressed RLE).
 *
 * Recipe fields beyond the common ones (experiments/recipes/coco_*.json), each with the config's value as the
 * default: "ms_scales" [[short, long], ...] (480..800 step 32 x 1333), "pre_scales" ([400|500|600, 1333]),
 * "crop_range" [384, 600], "test_scale" [long, short] (1333, 800), "flip_ratio" 0.5, "n_policies" 2,
 * "num_classes" (the annotation file's categories), "fpn_channels" 256, "conv_out_channels" 256 and
 * "fc_out_channels" 1024 (the box heads), "mask_channels" 256 (the mask heads' convs), "with_mask" 1, "rpn_train_proposals" 2000, "rpn_test_proposals" 1000,
 * "rcnn_samples" 512, "test_batch" 1; the dataset entry: "root" (a folder with annotations/, <split>/),
 * "train" and "test" (split names, e.g. "train2017", "val2017"). */
#ifndef DB_TRAIN_COCO_H
#define DB_TRAIN_COCO_H

#include <stdint.h>

#include "recipe.h"

typedef struct coco_run_spec {
    const recipe *r;
    const recipe_dataset *ds;
    const char *method;       /* a method spec (methods/method.h) */
    const char *pretrained;   /* backbone checkpoint, NULL/"" = random initialisation */
    const char *run_dir;
    const char *results_path; /* NULL: no results */
    const char *results_key;
    const char *data_desc;
    int resume, restart_if_stale, quiet;
    int stop_after_iters;
    const char *dets_prefix;  /* NULL: none; else the final test detections as COCO results files,
                               * <prefix>.bbox.json and <prefix>.segm.json (metrics/coco_results.h; `deltabench
                               * eval coco` and pycocotools' loadRes read them) */
} coco_run_spec;

#define COCO_RUN_METRICS 12 /* bbox, then segm: mAP, mAP_50, mAP_75, mAP_s, mAP_m, mAP_l (percent) */

typedef struct coco_run_out {
    double bbox[6], segm[6]; /* segm NaN without the mask branch */
    double wall_s, final_loss;
    int64_t iters, trainable, total;
    int stopped;
} coco_run_out;

int coco_train_run(const coco_run_spec *s, coco_run_out *out);

#endif
