/* reproduce.h - the driver of a paper table (cls: classification; voc: RetinaNet on Pascal VOC): every
 * (dataset, method) run of a recipe profile into one results file, skipping finished runs and resuming
 * interrupted ones, then the tables and figures. The embedded default also writes its synthetic data and
 * pretrains its backbone (cached) first. What differs between tasks (the run, the data writer, the counts
 * behind the time estimate) is a row of the task table in reproduce.c. */
#ifndef DB_REPRODUCE_H
#define DB_REPRODUCE_H

#include "recipe.h"

typedef struct repro_opts {
    const char *profile;     /* default | paper | a recipe file path */
    recipe_vars vars;        /* DATA_ROOT, PRETRAINED, CACHE */
    const char *results;     /* NULL: results/<task>.h5 */
    const char *runs_dir;    /* per-run state: <runs_dir>/<dataset>/<method>; NULL: results/runs/<task> */
    const char *only_methods, *only_datasets; /* comma lists, NULL = all */
    const char *datasets_from; /* take the datasets of another profile (smoke runs on synthetic data) */
    int dry_run, restart, no_report, no_control, quiet;
    /* overrides (< 0: keep the recipe's) */
    int epochs, batch, max_iters, max_eval_batches, threads;
    const char *shared_dir;  /* for the paper numbers (reference/paper_numbers.csv) */
    /* --seeds N (0 or 1: one seed, the recipe's): every run, the control included, with the seeds recipe seed + i,
     * i = 0..N-1; seed i >= 1 runs under the key <key>_seed<i> (runs dir and results group), i = 0 under <key> */
    int seeds;
} repro_opts;

void repro_opts_default(repro_opts *o);
/* task: "cls" or "voc" (reproduce_tasks lists them). */
int reproduce_task(const char *task, const repro_opts *o);
extern const char *const reproduce_tasks; /* "cls, voc" */

/* The cached embedded backbone: pretrain it with the recipe `name` if its output is missing. Writes the
 * path into out. */
int ensure_pretrained(const char *name, const recipe_vars *vars, int threads, int quiet, char *out, int n);
/* The output path of pretraining recipe NAME in out; returns 0 when a backbone made by exactly that recipe
 * is cached there, 1 when not (missing or made otherwise), -1 on error. */
int pretrained_cached(const char *name, const recipe_vars *vars, char *out, int n);
/* The same for another backbone (backbone NULL or the recipe's own: as above): the recipe's upstream task and
 * schedule with "backbone" replaced, written to its own file (pretrain_output_for), with the same skip, resume and
 * stale logic. */
int ensure_pretrained_for(const char *name, const recipe_vars *vars, const char *backbone, int threads, int quiet, char *out, int n);
int pretrained_cached_for(const char *name, const recipe_vars *vars, const char *backbone, char *out, int n);
/* The output of a pretraining recipe (output, made for recipe_backbone) when it pretrains `backbone` instead: the
 * recipe's own path for its own backbone; else the file name with the backbone's tag (swin_backbone_tag) in place
 * of the recipe backbone's (swin_tiny16w4_upstream.safetensors -> swin_tiny8w4_upstream.safetensors), or before
 * the extension when the name holds no tag. 0 or -1. */
int pretrain_output_for(const char *output, const char *recipe_backbone, const char *backbone, char *out, int n);
/* A short name of a backbone for file names: tiny<embed>w<window>, plus _d<depths> and _h<heads> where they are not
 * 2,2,2,2 and 1,2,4,8 (tiny:16:2,2,2,2:1,2,4,8:w4 -> tiny16w4); a preset without its dash (swin-l -> swinl). */
int swin_backbone_tag(const char *backbone, char *out, int n);
/* Write a dataset's synthetic data when the recipe names a synthetic kind (reused when present):
 * classification kinds (flowers, pets, voc, upstream) or "voc_det" (a VOCdevkit, datasets/synth_dense.h,
 * sized by the dataset entry's "synth_cfg"). */
int ensure_synth(const recipe *r, const recipe_dataset *d, int quiet);

#endif
