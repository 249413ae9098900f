/* schedule.h - learning-rate schedules with mmcv 1.x LrUpdaterHook semantics: a regular policy (fixed,
 * step, cosine annealing, poly) evaluated by epoch or by iteration, and an optional warm-up (linear,
 * constant or exp) over warmup_iters iterations, or over warmup_iters *epochs* converted to iterations
 * (warmup_by_epoch).
 *
 * Everything is a pure function of the global iteration number i (0-based, the value of runner.iter in
 * before_train_iter) and the epoch e = i / iters_per_epoch:
 *   progress = by_epoch ? e : i;  max_progress = by_epoch ? max_epochs : max_iters
 *   regular  = step:   base * gamma^(number of steps <= progress) (or progress // step for one step),
 *                      then max(., min_lr) if min_lr is set
 *              cosine: target + 0.5*(base - target)*(1 + cos(pi*progress/max_progress)),
 *                      target = min_lr, or base*min_lr_ratio
 *              poly:   (base - min_lr)*(1 - progress/max_progress)^power + min_lr
 *   lr = i < warmup_iters ? warm-up(regular) : regular, where linear warm-up is
 *        regular * (1 - (1 - i/warmup_iters)*(1 - warmup_ratio)),
 *        constant is regular*warmup_ratio, exp is regular*warmup_ratio^(1 - i/warmup_iters).
 * mmcv schedules each parameter group from its own initial lr (base_lr * lr_mult), so the base is an
 * argument. */
#ifndef DB_SCHEDULE_H
#define DB_SCHEDULE_H

#include <stdint.h>

#include "optim.h"

struct cJSON;

typedef enum { SCHED_FIXED = 0, SCHED_STEP, SCHED_COSINE, SCHED_POLY } sched_policy;
typedef enum { WARMUP_NONE = 0, WARMUP_LINEAR, WARMUP_CONSTANT, WARMUP_EXP } sched_warmup;

#define SCHED_MAX_STEPS 32

typedef struct sched {
    sched_policy policy;
    int by_epoch;            /* mmcv default 1 */
    int64_t iters_per_epoch; /* len(data_loader); needed for by_epoch and warmup_by_epoch */
    int64_t max_epochs;      /* for cosine / poly by epoch */
    int64_t max_iters;       /* for cosine / poly by iteration */
    /* warm-up */
    sched_warmup warmup;
    int64_t warmup_iters;    /* iterations, or epochs when warmup_by_epoch */
    int warmup_by_epoch;
    double warmup_ratio;     /* mmcv default 0.1 */
    /* step */
    int n_steps;             /* 1 with step_list = 0: "step" is a single int period */
    int64_t steps[SCHED_MAX_STEPS];
    int step_is_period;      /* 1: steps[0] is an int period (exp = progress // period) */
    double gamma;            /* default 0.1 */
    /* min_lr for step (optional), cosine and poly */
    int has_min_lr;
    double min_lr;
    int has_min_lr_ratio;    /* cosine only */
    double min_lr_ratio;
    double power;            /* poly, default 1 */
} sched;

/* A fixed schedule with mmcv's defaults (by_epoch 1, warmup none, ratio 0.1, gamma 0.1, power 1). */
void sched_init(sched *s);
/* Check the fields (policy needs, counts >= 0, cosine exactly one of min_lr/min_lr_ratio, ...).
 * Returns 0 or -1 with err_set naming `where`. */
int sched_validate(const sched *s, const char *where);
/* The warm-up length in iterations (warmup_iters, or warmup_iters * iters_per_epoch by epoch). */
int64_t sched_warmup_iters(const sched *s);
/* Learning rate at global iteration iter for a group whose initial lr is base_lr. */
double sched_lr_at(const sched *s, double base_lr, int64_t iter);
/* The regular (no warm-up) lr at iteration iter. */
double sched_regular_lr(const sched *s, double base_lr, int64_t iter);

/* Parse an mmcv lr_config written as JSON, e.g.
 *   {"policy": "step", "warmup": "linear", "warmup_iters": 500, "warmup_ratio": 0.001, "step": [27, 33]}
 *   {"policy": "CosineAnnealing", "by_epoch": false, "min_lr_ratio": 0.01, "warmup": "linear",
 *    "warmup_ratio": 0.001, "warmup_iters": 20, "warmup_by_epoch": true}
 *   {"policy": "poly", "power": 1.0, "min_lr": 0.0, "by_epoch": false, "warmup": "linear", ...}
 * Policies: fixed, step, CosineAnnealing (or cosine), poly (case-insensitive). iters_per_epoch,
 * max_epochs and max_iters come from the runner, so they are arguments. Unknown fields are errors. */
int sched_from_json(sched *s, const struct cJSON *json, int64_t iters_per_epoch, int64_t max_epochs,
                    int64_t max_iters, const char *where);

/* One optimiser step with every trainable parameter at sched_lr_at(s, cfg.lr * lr_mult, iter). */
void sched_optim_step(optim *o, const sched *s, int64_t iter);

#endif
