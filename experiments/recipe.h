/* recipe.h - a training recipe as data: a JSON file per task and profile (experiments/recipes/
 * <task>_<profile>.json) with ${VAR} placeholders (DATA_ROOT, PRETRAINED, CACHE) filled from the command
 * line or the environment, plus command-line overrides. The resolved recipe (as JSON) is stored with
 * every result. */
#ifndef DB_RECIPE_H
#define DB_RECIPE_H

#include <stdint.h>

struct cJSON;

#define RECIPE_MAX_DATASETS 8
#define RECIPE_MAX_METHODS 16
#define RECIPE_METHOD_MAX 192 /* = METHOD_SPEC_MAX (methods/method.h) */

typedef struct recipe_dataset {
    char key[32];     /* results key: flowers102, oxford_pets, voc2007 */
    char format[32];  /* cls_dataset format name */
    char root[1024];
    char synth[32];   /* embedded default: the synthetic kind written to root when missing ("" = real data) */
} recipe_dataset;

typedef struct recipe_vars {
    const char *data_root, *pretrained, *cache;
} recipe_vars;

typedef struct recipe {
    struct cJSON *json; /* resolved (owned) */
    char path[1024];
    char task[16], profile[32], description[512];
    char backbone[96], pretrained[1024];
    char pretrain_recipe[64]; /* "embedded" pretrained weights: the recipe that makes them */
    char output[1024];        /* pretraining recipes: where the backbone checkpoint goes */
    int iter_based;         /* "runner": "iter": mmcv's IterBasedRunner, the length is max_iters (epochs follow from it) */
    int eval_interval_iters; /* iteration-based evaluation interval ("eval_interval_iters"; 0: only at the end) */
    int img_size, test_resize, batch, epochs, max_iters, max_eval_batches, eval_interval_epochs, ckpt_interval_iters, workers, threads;
    double lr, weight_decay, beta1, beta2, eps, grad_clip, drop_path;
    double crop_scale[2]; /* RandomResizedCrop area range of training ("crop_scale", default [0.08, 1]) */
    uint64_t seed;
    const struct cJSON *lr_config, *paramwise, *lr_mult, *control;
    recipe_dataset datasets[RECIPE_MAX_DATASETS];
    int n_datasets;
    /* "methods": method specs as written ("mona", "mona:width=32"), checked at load; method_keys: each one's
     * run key (directory and results group: "mona", "mona_width32"), distinct */
    char methods[RECIPE_MAX_METHODS][RECIPE_METHOD_MAX];
    char method_keys[RECIPE_MAX_METHODS][RECIPE_METHOD_MAX];
    int n_methods;
} recipe;

/* Find experiments/recipes/<task>_<profile>.json next to the binary's source tree (or $DB_RECIPES). */
int recipe_path(const char *task, const char *profile, char *out, int n);
/* Load, substitute variables and validate. Returns 0 or -1 (err_msg names the file and the field). */
int recipe_load(const char *path, const recipe_vars *vars, recipe *r);
/* Replace the ${VAR}s of s (DATA_ROOT, PRETRAINED, CACHE from vars; PRETRAINED_<NAME> from the environment) into out;
 * an unknown or unset variable is an error naming `where`. For recipe fields the loader does not read itself. */
int recipe_substitute(const char *s, const recipe_vars *vars, char *out, int n, const char *where);
/* Override scalar fields after loading ("epochs", "batch", "max_iters", "threads", "lr", ...); keeps
 * r->json in step. Returns -1 for an unknown key. */
int recipe_set(recipe *r, const char *key, double value);
/* Learning-rate multiplier of a method on a dataset (lr_mult table; 1 if absent). method is a table key or a
 * method spec ("mona:width=32"): a spec takes its key's row ("mona_width32"), else its method's ("mona"). */
double recipe_lr_mult(const recipe *r, const char *method, const char *dataset);
void recipe_free(recipe *r);
/* The resolved JSON entry of dataset `key` in "datasets" (NULL if none). */
const struct cJSON *recipe_dataset_json(const recipe *r, const char *key);
/* A top-level number of the resolved recipe (a boolean reads as 0/1), or def when absent. */
double recipe_num(const recipe *r, const char *key, double def);
/* Whether two resolved recipes describe the same training: equal JSON apart from "threads" and
 * "workers", which change the speed, not the result. NULLs are never the same. */
int recipe_json_same(const struct cJSON *a, const struct cJSON *b);
/* The same for JSON texts (NULL or unparsable: not the same). */
int recipe_text_same(const char *a, const char *b);
/* The resolved recipe as compact JSON (malloc'd). */
char *recipe_json(const recipe *r);

#endif
