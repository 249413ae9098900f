/* train_det.h - one detection training run on the shared trainer (trainer.h): RetinaNet (Swin + FPN +
 * RetinaHead, models/det/retinanet.h) under a tuning method, on a VOC-layout dataset through the mmdet 2.11
 * pipeline (datasets/det_pipeline.h), evaluated by VOC mAP@0.5 (mmdet's eval_map, 11-point, metrics/voc_eval.h)
 * on the test split.
 *
 * Recipe fields beyond the common ones (experiments/recipes/voc_*.json): "img_scale" [long, short] (1000, 600),
 * "flip_ratio" (0.5), "neck_channels" and "head_channels" (256), "test_batch" (1, as mmdet's single-GPU test);
 * the dataset entry: "root" (a VOCdevkit folder), "train" (list of splits, "VOC2007/trainval", ...), "test"
 * (a split). */
#ifndef DB_TRAIN_DET_H
#define DB_TRAIN_DET_H

#include <stdint.h>

#include "recipe.h"

typedef struct det_run_spec {
    const recipe *r;
    const recipe_dataset *ds;
    const char *method;        /* a method spec, e.g. "mona" or "mona:width=32" (methods/method.h) */
    const char *pretrained;    /* checkpoint for the backbone, NULL/"" = random initialisation */
    const char *run_dir;
    const char *results_path;  /* NULL: no results */
    const char *results_key;
    const char *data_desc;
    int resume, restart_if_stale, quiet;
    int stop_after_iters;
    const char *dets_dir;      /* NULL: none; else the final test detections as VOC comp4 files,
                                * <dets_dir>/comp4_det_<split>_<class>.txt ("image_id score x1 y1 x2 y2", 1-based,
                                * as `deltabench eval voc --dets` and the devkit read them) */
} det_run_spec;

typedef struct det_run_out {
    double map;                /* percent */
    double ap[20];             /* percent, per class */
    int n_classes;
    double wall_s, final_loss;
    int64_t iters, trainable, total;
    int stopped;
} det_run_out;

int det_train_run(const det_run_spec *s, det_run_out *out);

#endif
