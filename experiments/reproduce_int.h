/* reproduce_int.h - the pieces of the table drivers (reproduce.c) that the ablation driver (reproduce_ablations.c)
 * uses too; not an interface for other callers. */
#ifndef DB_REPRODUCE_INT_H
#define DB_REPRODUCE_INT_H

#include <stdint.h>

#include "reproduce.h"

/* `deltabench reproduce voc-ablations`: the paper's Tables 5-7 on VOC (reproduce_ablations.c) */
int reproduce_ablations(const repro_opts *o);

/* a profile name (experiments/recipes/<task>_<profile>.json) or a recipe file path, loaded */
int repro_load_profile(const char *profile, const recipe_vars *vars, recipe *r, const char *task);
/* 1 when results holds a complete run (ds, key) made by the recipe rj (threads and workers aside) from the weights of
 * SHA-256 weights_sha ("" none, NULL not known yet: the recipe alone); else 0, *stale = 1 when one made otherwise is
 * stored */
int repro_run_is_current(const char *results, const char *ds, const char *key, const char *rj, const char *weights_sha, int *stale);
/* lower-case hex SHA-256 of a weights file ("" for none); NULL when the file is not there yet */
const char *repro_weights_sha(const char *path, char hex[65]);
/* one full-tuning RetinaNet training step of the recipe, measured now (s) */
double repro_det_step_s(const recipe *r);
/* training iterations of a VOC run from the data on disk (0 when not written yet) */
int64_t repro_det_iters(const recipe *r, const recipe_dataset *d);
/* one full-tuning classification step of a (pretraining) recipe, measured now (s) */
double repro_cls_step_s(const recipe *r);
/* lines of dir/name, 0 when it is not there */
int repro_count_lines(const char *dir, const char *name);

#endif
