/* train_cls.h - one classification training run on the shared trainer (trainer.h) (a dataset under one tuning method) from a recipe:
 * pretrained weights through the real checkpoint loader, mmcv parameter groups, AdamW, the recipe's
 * schedule and clipping, the threaded loader, top-1/top-5 evaluation, a progress line on stderr,
 * atomic training-state checkpoints every N iterations and at each epoch end, resume after a kill with
 * the same final result as an uninterrupted run, and the run written to the results file. */
#ifndef DB_TRAIN_CLS_H
#define DB_TRAIN_CLS_H

#include <stdint.h>

#include "recipe.h"

typedef struct cls_run_spec {
    const recipe *r;
    const recipe_dataset *ds;
    const char *method;        /* a method spec, e.g. "mona" or "mona:width=32" (methods/method.h) */
    const char *pretrained;    /* checkpoint to start from, NULL/"" = random initialisation */
    const char *run_dir;       /* state.safetensors, delta.safetensors live here */
    const char *results_path;  /* NULL: do not write results */
    const char *results_key;   /* method key in the results file (NULL = the spec's key) */
    const char *data_desc;     /* which data (printed and stored) */
    int resume;                /* continue from run_dir/state.safetensors when present */
    int restart_if_stale;      /* with resume: a state saved by another recipe is removed, not an error */
    int quiet;
    const char *save_backbone; /* write the trained backbone as a released-layout checkpoint here */
    int stop_after_iters;      /* testing: stop (as if killed) after this many iterations, 0 = no */
} cls_run_spec;

typedef struct cls_run_out {
    double top1, top5, wall_s, final_loss;
    int64_t iters;
    int64_t trainable, total;
    int stopped; /* stop_after_iters or a signal ended it early (state saved) */
} cls_run_out;

int cls_train_run(const cls_run_spec *s, cls_run_out *out);

struct classifier;
/* Write a classifier as a released Swin classification checkpoint (.safetensors): backbone names, the last
 * output norm as "norm.*", the head as "head.*", each behind `prefix` ("backbone." as the authors'
 * re-wrapped files, or NULL). */
int cls_save_released_layout(const char *path, const struct classifier *c, const char *prefix, const char *meta_json);

/* Set by SIGINT/SIGTERM (the shared trainer's flag): the run saves its state at the next step and returns. */
extern volatile int trainer_interrupted;
#define cls_train_interrupted trainer_interrupted

#endif
