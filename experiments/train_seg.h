/* train_seg.h - one semantic-segmentation training run on the shared trainer (trainer.h): UperNet (Swin +
 * UPerHead + FCN auxiliary head, models/seg/upernet.h) under a tuning method, on an ADE20K-layout dataset through
 * mmseg 0.11's pipeline (datasets/seg_pipeline.h), iteration-based (IterBasedRunner, poly schedule), evaluated by
 * mIoU / mAcc / aAcc (mmseg's mean_iou, metrics/seg_eval.h) on the validation split in whole mode.
 *
 * Recipe fields beyond the common ones (experiments/recipes/ade20k_*.json): "img_scale" [long, short] (2048, 512),
 * "ratio_range" (0.5, 2.0), "crop_size" (512), "cat_max_ratio" (0.75), "flip_ratio" (0.5), "photometric" (true),
 * "num_classes" (150), "decode_channels" (512), "aux_channels" (256), "dropout_ratio" (0.1), "aux_loss_weight"
 * (0.4), "head_norm" ("SyncBN"), and the per-method differences of the released configs, applied and recorded:
 * "head_norm_per_method", "drop_path_per_method" (method -> value) and "paramwise_per_method" (method -> a
 * paramwise_cfg replacing the recipe's). The dataset entry: "root" (an ADEChallengeData2016 folder), "train"
 * ("training"), "test" ("validation"). */
#ifndef DB_TRAIN_SEG_H
#define DB_TRAIN_SEG_H

#include <stdint.h>

#include "recipe.h"

typedef struct seg_run_spec {
    const recipe *r;
    const recipe_dataset *ds;
    const char *method;        /* a method spec */
    const char *pretrained;    /* backbone checkpoint, NULL/"" = random initialisation */
    const char *run_dir;
    const char *results_path;  /* NULL: no results */
    const char *results_key;
    const char *data_desc;
    int resume, restart_if_stale, quiet;
    int stop_after_iters;
    const char *preds_dir;     /* NULL: none; else the final validation predictions as 8-bit PNG label maps
                                * <preds_dir>/<name>.png (0-based classes, as `deltabench eval seg --reduce-zero-label`
                                * scores them against annotations/<split>) */
} seg_run_spec;

#define SEG_MAX_CLASSES 256

typedef struct seg_run_out {
    double miou, macc, aacc;   /* percent, final evaluation */
    double best_miou;          /* the best evaluation's mIoU */
    int64_t best_iter;
    double wall_s, final_loss;
    int64_t iters, trainable, total;
    int stopped;
} seg_run_out;

int seg_train_run(const seg_run_spec *s, seg_run_out *out);

/* The per-method value of a recipe's "<field>_per_method" object (the run key, then the method name), or NULL. */
const struct cJSON *seg_per_method(const recipe *r, const char *field, const char *key, const char *method);

#endif
