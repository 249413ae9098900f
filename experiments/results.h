/* results.h - the results file of an experiment (e.g. results/cls.h5, schema "deltabench-results/1"):
 * one group per (dataset, method) run with its provenance, training curve, evaluation history and final
 * metrics, plus the paper's reported numbers for the task, parsed from paper_numbers.csv at write time.
 * The layout is written down in results/README.md.
 *
 * Every write rewrites the whole file into "<path>.tmp.<pid>" and renames it over <path> (under an
 * exclusive lock on the directory), so an interrupted write never damages runs already recorded and two
 * drivers writing the same file do not lose each other's runs. Nothing is kept open between calls.
 *
 * The task descriptors (which datasets, methods and metrics a task has, in the paper's order, and the
 * names the paper CSV uses for them) live here too, so the driver, the writer and the report agree. */
#ifndef DB_RESULTS_H
#define DB_RESULTS_H

#include <stdint.h>

#define RESULTS_SCHEMA "deltabench-results/1"
#define RESULTS_MAX_METRICS 12 /* COCO: bbox and segm mAP, mAP_50, mAP_75, mAP_s, mAP_m, mAP_l */
#define RESULTS_MAX_PARTS 12   /* Cascade Mask R-CNN logs 11 losses */

/* One run (one dataset x one method), filled by the trainer and passed to results_write_run; the same
 * struct comes back from results_read_run (then every pointer is owned by it: results_run_free).
 * Strings may be NULL where marked; arrays may be NULL only when their count is 0. */
typedef struct results_run {
    const char *dataset;           /* key under /runs, e.g. "flowers102" ([A-Za-z0-9_.-]+) */
    const char *method;            /* key, e.g. "mona" or "mona_width32" (method_spec's key, methods/method.h) */
    const char *method_spec;       /* the canonical spec, e.g. "mona:width=64:kernels=3,5,7:scaled_ln=on"; NULL =
                                    * method (attribute method_spec; files without it read back as method) */
    int complete;                  /* 1: finished as the recipe says; 0: partial (interrupted/stopped) */
    int64_t seed;
    const char *recipe_json;       /* the resolved recipe, a JSON object (checked to parse) */
    const char *backbone;          /* short name for captions, e.g. "Swin-L/224 (IN-22K)" */
    const char *backbone_json;     /* the backbone configuration, a JSON object */
    const char *pretrained_path;   /* weights the backbone started from; NULL or "" = random init */
    const char *pretrained_sha256; /* 64 hex chars; NULL = the writer hashes pretrained_path */
    int64_t trainable_params;      /* whole model including the head */
    int64_t total_params;
    int64_t backbone_trainable_params; /* backbone only, delta modules included (the paper's % column) */
    int64_t backbone_params;           /* backbone only, delta modules included; 0 = not given */
    const char *data;              /* which data, e.g. "embedded synthetic stand-in for Flowers102" */
    const char *train_split;       /* which split trains, e.g. "trn+val (imagelabels.mat/setid.mat)" */
    const char *test_split;        /* which split tests, e.g. "tst" */
    int64_t n_train_samples, n_test_samples, n_classes;
    double wall_time_s;            /* training + evaluation wall time of this run */
    int64_t peak_mem_bytes;        /* peak resident memory (mem_peak_rss()) */
    int64_t threads;               /* worker threads used */
    /* Provenance; NULL = filled by the writer (build_commit(), current UTC time, this machine). */
    const char *commit, *date, *hostname, *cpu_model;
    /* Training curve, one point per logged iteration. */
    int64_t n_curve;
    const int64_t *curve_iter;     /* iteration (1-based, after the step) */
    const double *curve_epoch;     /* fractional epoch */
    const double *curve_loss;      /* training loss at that iteration */
    const double *curve_lr;        /* learning rate of the base group */
    const double *curve_img_s;     /* throughput, images per second */
    /* Loss components beside the total (detection: loss_cls, loss_bbox), curve/<name>, listed in the
     * attribute curve_parts; 0 for classification. */
    int n_curve_parts;
    const char *curve_part_name[RESULTS_MAX_PARTS];
    const double *curve_part[RESULTS_MAX_PARTS];
    /* Evaluation: n_metrics named metrics (e.g. "top1","top5", in percent), each evaluated n_eval times. */
    int n_metrics;
    const char *metric[RESULTS_MAX_METRICS];
    int64_t n_eval;
    const int64_t *eval_iter;
    const double *eval[RESULTS_MAX_METRICS]; /* eval[m][k]: metric m at eval_iter[k] */
    double final[RESULTS_MAX_METRICS];       /* metric m after the last iteration (NaN if not evaluated) */
    /* Per-class values of the headline metric after the last iteration (detection: AP per class, percent),
     * written as final/per_class (n_per_class values) with the attribute class_names (comma list); 0: none.
     * Not read back by results_read_run. */
    int n_per_class;
    const char *const *class_names;
    const double *per_class;
    /* A second per-class table beside it (segmentation: accuracy per class), final/<per_class2_name>; NULL: none. */
    const char *per_class2_name;
    const double *per_class2;
    /* The best evaluation of the headline metric when it is not the final one that the table takes (segmentation
     * stores it beside the final, named as such: attributes best_<metric> and best_iter of final/); best_iter 0: none. */
    int64_t best_iter;
    double best_value;
} results_run;

/* Root attributes of a results file. */
typedef struct results_info {
    char schema[64], task[64], profile[64];
    char created[32], updated[32];             /* ISO 8601 UTC */
    char commit[128], hostname[256], cpu_model[256]; /* of the last writer */
    int64_t threads;                           /* of the last writer */
    char paper_csv[1024], paper_csv_sha256[65];   /* where /paper came from ("" if none) */
} results_info;

/* One row of the paper-number CSV (task,dataset,metric,method,value,trainable_params_pct,source). */
typedef struct results_paper_row {
    char *task, *dataset, *metric, *method, *source;
    double value;
    double trainable_pct; /* NaN when the CSV leaves it empty */
    int line;             /* line in the CSV (1 = header) */
} results_paper_row;

typedef struct results_paper {
    int n;
    results_paper_row *rows;
} results_paper;

/* ---- task descriptors ---- */
typedef struct results_name {
    const char *key;   /* key in /runs and on the command line */
    const char *label; /* printed in tables and figures */
    const char *paper; /* name in paper_numbers.csv */
} results_name;

typedef struct results_task_desc {
    const char *task;       /* "cls" */
    const char *paper_task; /* the CSV's task column, "classification" */
    const char *title;      /* "Image classification" */
    int n_datasets;
    results_name datasets[8];
    const char *paper_average; /* CSV dataset name of the paper's average over the datasets, or NULL */
    int n_methods;
    results_name methods[16]; /* in the paper's table order */
    int n_metrics;
    results_name metrics[RESULTS_MAX_METRICS]; /* first = the headline metric */
} results_task_desc;

/* Descriptor of a task ("cls"), or NULL with err_set listing the known ones. */
const results_task_desc *results_task(const char *task);

/* ---- writing ---- */
/* Create <path> for (task, profile) if missing (parent directories too); if it exists, check that it is a
 * results file of the same schema, task and profile (else an error: use another file). When paper_csv is
 * not NULL, (re)load /paper from it: the rows whose task column is the task's paper_task. 0 or -1. */
int results_open_or_create(const char *path, const char *task, const char *profile, const char *paper_csv);
/* Add or replace /runs/<dataset>/<method> (atomically; other runs are copied unchanged). 0 or -1. */
int results_write_run(const char *path, const results_run *run);

/* The tables of an ablation task (voc_ablations): which run each row of each table shows, as a JSON text written by
 * the driver to /ablations/layout (kept by every later write; replaced by the next call). 0 or -1. */
int results_write_layout(const char *path, const char *layout_json);
/* That text, malloc'd; NULL with err_set when the file has none or cannot be read. */
char *results_read_layout(const char *path);

/* ---- reading ---- */
/* 1 if <path> holds a run (dataset, method) with status "complete"; 0 if not (or no file); -1 when the file
 * exists but cannot be read as a results file. */
int results_has_complete_run(const char *path, const char *dataset, const char *method);
int results_read_info(const char *path, results_info *out);
/* All runs in the file: returns their count (0 allowed) and two parallel malloc'd lists (free with
 * h5_free_strings), or -1. Sorted by dataset then method name. */
int results_list_runs(const char *path, char ***datasets, char ***methods);
/* Read one run; -1 with err_set if missing. Free with results_run_free. */
int results_read_run(const char *path, const char *dataset, const char *method, results_run *out);
void results_run_free(results_run *r);
int results_read_paper(const char *path, results_paper *out);

/* ---- paper numbers ---- */
/* Parse the CSV; keep the rows whose task column is paper_task, a name or a comma-separated list of names
 * (all rows when NULL). 0 or -1 (naming the CSV line). */
int results_paper_parse_csv(const char *csv_path, const char *paper_task, results_paper *out);
void results_paper_free(results_paper *p);
/* The row to show for (dataset, metric, method) (CSV names): the first in CSV order whose source is not
 * marked "unreliable"; -1 if none. */
int results_paper_find(const results_paper *p, const char *dataset, const char *metric, const char *method);

/* Helpers used by the writer, exposed for the driver and tests. */
void results_now_utc(char buf[32]);             /* "2026-11-26T20:29:26Z" */
void results_cpu_model(char *buf, int n);       /* /proc/cpuinfo "model name", or "unknown" */

#endif
