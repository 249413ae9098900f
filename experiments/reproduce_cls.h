/* reproduce_cls.h - the driver of the paper's classification table: every (dataset, method) run of a
 * recipe profile into one results file, skipping finished runs and resuming interrupted ones, then the
 * tables and figures. The embedded default also writes its synthetic data and pretrains its backbone
 * (cached) first. */
#ifndef DB_REPRODUCE_CLS_H
#define DB_REPRODUCE_CLS_H

#include "recipe.h"

typedef struct repro_opts {
    const char *profile;     /* default | paper | a recipe file path */
    recipe_vars vars;        /* DATA_ROOT, PRETRAINED, CACHE */
    const char *results;     /* results/cls.h5 */
    const char *runs_dir;    /* per-run state: <runs_dir>/<dataset>/<method> */
    const char *only_methods, *only_datasets; /* comma lists, NULL = all */
    const char *datasets_from; /* take the datasets of another profile (smoke runs on synthetic data) */
    int dry_run, restart, no_report, no_control, quiet;
    /* overrides (< 0: keep the recipe's) */
    int epochs, batch, max_iters, max_eval_batches, threads;
    const char *shared_dir;  /* for the paper numbers (reference/paper_numbers.csv) */
} repro_opts;

void repro_opts_default(repro_opts *o);
int reproduce_cls(const repro_opts *o);

/* The cached embedded backbone: pretrain it with the recipe `name` if its output is missing. Writes the
 * path into out. */
int ensure_pretrained(const char *name, const recipe_vars *vars, int threads, int quiet, char *out, int n);
/* The output path of pretraining recipe NAME in out; returns 0 when a backbone made by exactly that recipe
 * is cached there, 1 when not (missing or made otherwise), -1 on error. */
int pretrained_cached(const char *name, const recipe_vars *vars, char *out, int n);
/* Write a dataset's synthetic data when the recipe names a synthetic kind (reused when present). */
int ensure_synth(const recipe_dataset *d, uint64_t seed, int quiet);

#endif
