/* trainer.h - the one training loop of every task (classification, detection, later segmentation): a task
 * supplies its model's parameter store, its batches, its loss and its evaluator; the loop, the recipe (epochs,
 * schedule, mmcv parameter groups, AdamW, clipping, evaluation interval), the progress line, atomic
 * training-state checkpoints, resume after a kill with the same final result as an uninterrupted run, the
 * delta checkpoint, provenance and the results file live here once.
 *
 * Determinism: the task's batches must depend only on (seed, epoch, iteration) (train_open starts the stream
 * at any iteration); the graph's random stream (dropout, drop path) is part of the saved state.
 *
 * Data parallel (core/comm.h, under mpirun): every rank runs the same loop on its shard of each global batch
 * (shard_rank, shard_size, set before train_open: samples [r*B/N, (r+1)*B/N) of the batch a single process
 * would take; B % N == 0 is required), the graph draws the global batch's random numbers (tensor.h shard_*),
 * the trainable block's gradient (ps->grad, one flat buffer) is summed over the ranks in one all-reduce and
 * divided by N (each rank's loss is the mean over its equal shard, so this is the single-process mean
 * gradient), the logged loss is the mean of the ranks' losses. Rank 0's parameters are broadcast at the start;
 * the ranks first compare a hash of the recipe, the build commit and the data with rank 0's and refuse to start
 * when they differ. Rank 0 alone writes states, the delta and results; the states do not depend on N, so a run
 * resumes under another number of ranks with the same global batch. */
#ifndef DB_TRAINER_H
#define DB_TRAINER_H

#include <stdint.h>

#include "../core/params.h"
#include "recipe.h"
#include "results.h"

#define TRAIN_MAX_PARTS RESULTS_MAX_PARTS

typedef struct train_task {
    void *self;
    params *ps;                 /* the model (trainable flags set by the method) */
    int iters_per_epoch;
    int plan_memory;            /* plan activation memory per input shape (tensor.h); 0: bump arena */
    int plan_slots;             /* memory plans held at once (graph_plan_slots); 0: GRAPH_PLAN_SLOTS */
    int n_parts;                /* loss components logged beside the total (e.g. loss_cls, loss_bbox) */
    const char *part_name[TRAIN_MAX_PARTS];
    int n_metrics;              /* evaluation metrics, the first is the headline */
    const char *metric_name[RESULTS_MAX_METRICS];
    /* training stream from (epoch, iteration within the epoch) to the end of the recipe's epochs */
    int (*train_open)(void *self, int start_epoch, int start_iter);
    int (*train_next)(void *self, void **batch); /* 1: a batch, 0: end, -1: error */
    void (*train_close)(void *self);
    void (*batch_free)(void *self, void *batch);
    int (*batch_images)(const void *batch);
    uint64_t (*batch_key)(const void *batch); /* memory-plan key (input shape) */
    /* forward, loss and (when a gradient is wanted) backward; the loss value stays readable; parts[] filled */
    int (*step)(void *self, graph *g, const void *batch, double *loss, double *parts);
    /* the metrics on the test split (the graph is in inference mode) */
    int (*evaluate)(void *self, graph *g, double *metrics);
    /* task-specific fields of the results record (data description, splits, sample counts, backbone counts) */
    void (*fill_results)(void *self, results_run *rr);
    /* names as mmcv's paramwise_cfg matches them: match_prefix before every parameter name except those starting
     * with one of match_keep (NULL/0: the names as they are) */
    const char *match_prefix;
    const char *const *match_keep;
    int n_match_keep;
    int record_best;            /* 1: the best evaluation of the headline metric is stored beside the final one */
    /* data parallel: can_shard: train_open honours shard_rank/shard_size (set by the trainer); eval_sharded:
     * evaluate splits the test split over the ranks itself and returns the totals on every rank (otherwise
     * rank 0 evaluates alone while the others wait, and its metrics are broadcast); fingerprint: the data
     * (file lists, labels) into a hash that every rank compares with rank 0's (NULL: the dataset key only) */
    int can_shard, eval_sharded, shard_rank, shard_size;
    void (*fingerprint)(void *self, void *sha256_ctx);
} train_task;

typedef struct trainer_spec {
    const recipe *r;
    const char *method;         /* the canonical method spec (methods/method.h), recorded in the states, the delta
                                 * ("method") and the results (method_spec) */
    const char *dataset_key;
    const char *tag;            /* progress-line prefix, e.g. "flowers102 mona" */
    double lr;                  /* base learning rate (recipe lr x the method's multiplier) */
    const char *run_dir;        /* state.safetensors, delta.safetensors */
    const char *results_path;   /* NULL: no results */
    const char *results_key;    /* method key in the results file */
    const char *pretrained;     /* recorded in the results */
    const char *backbone_json;  /* recorded in the results */
    int resume, restart_if_stale, quiet;
    int stop_after_iters;       /* testing: stop as if killed after this many iterations */
    const char *save_backbone;  /* called back (after the delta) when not NULL */
    int (*save_extra)(void *self, const char *meta_json);
    const struct cJSON *paramwise; /* the method's own paramwise_cfg (e.g. ADE20K Mona's extra "backbone" key); NULL: the
                                    * recipe's */
} trainer_spec;

typedef struct trainer_out {
    double final[RESULTS_MAX_METRICS];
    double wall_s, final_loss;
    int64_t iters, trainable, total;
    int stopped;
    double best_value;          /* the best evaluation of the headline metric and its iteration */
    int64_t best_iter;
} trainer_out;

int trainer_run(const trainer_spec *s, train_task *t, trainer_out *out);

/* Set by SIGINT/SIGTERM: the run saves its state at the next step and returns with out->stopped. */
extern volatile int trainer_interrupted;

#endif
