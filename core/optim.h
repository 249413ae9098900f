/* optim.h - optimisers over the parameter store's flat trainable block: AdamW and SGD with momentum
 * (torch.optim semantics), mmcv-style parameter groups (per-parameter lr_mult / decay_mult chosen by a
 * rule set that is data, not code), and clipping by global gradient norm (torch clip_grad_norm_).
 *
 * State (AdamW exp_avg / exp_avg_sq, SGD momentum_buffer, the step count) lives in flat float buffers
 * the size of params->n_train, so the same offsets as params->train / params->grad address it, and a
 * training-state checkpoint can save and restore it (checkpoint.h). Frozen parameters have no state. */
#ifndef DB_OPTIM_H
#define DB_OPTIM_H

#include <stdint.h>

#include "params.h"

struct cJSON;

typedef enum { OPTIM_ADAMW = 0, OPTIM_SGD = 1 } optim_kind;
typedef struct pg_rules pg_rules;

typedef struct optim_cfg {
    optim_kind kind;
    double lr;           /* base learning rate (group lr = lr * param->lr_mult) */
    double weight_decay; /* base weight decay (group wd = weight_decay * param->decay_mult) */
    /* AdamW */
    double beta1, beta2, eps;
    /* SGD */
    double momentum, dampening;
    int nesterov;
} optim_cfg;

/* torch defaults: AdamW lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 1e-2;
 * SGD momentum 0, dampening 0, nesterov off, weight_decay 0 (lr must be set). */
optim_cfg optim_cfg_adamw(double lr, double weight_decay);
optim_cfg optim_cfg_sgd(double lr, double momentum, double weight_decay, int nesterov);

typedef struct optim {
    optim_cfg cfg;
    params *ps;      /* not owned; must be allocated (params_alloc) before optim_init */
    int64_t n;       /* = ps->n_train */
    float *exp_avg;  /* AdamW m, or SGD momentum buffer; n floats (NULL when not needed) */
    float *exp_avg_sq; /* AdamW v; n floats (NULL for SGD) */
    int64_t step;    /* number of optim_step calls done (0 = fresh) */
    int64_t *param_step; /* per parameter (ps->n entries, by store index): torch's state['step'], the
                          * number of updates that parameter received */
} optim;

/* Validate cfg (lr >= 0, betas in [0,1), eps >= 0, nesterov needs momentum > 0 and dampening 0, as
 * torch checks) and allocate zeroed state. Returns 0, or -1 with err_set. */
int optim_init(optim *o, params *ps, const optim_cfg *cfg);
void optim_free(optim *o);
/* Parse an mmcv optimizer config written as JSON, e.g.
 *   {"type": "AdamW", "lr": 1e-4, "betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.05,
 *    "paramwise_cfg": {"custom_keys": {"norm": {"decay_mult": 0.0}}}}
 *   {"type": "SGD", "lr": 0.01, "momentum": 0.9, "weight_decay": 1e-4, "nesterov": false}
 * Types AdamW and SGD (case-insensitive); torch defaults for absent fields; "amsgrad" may only be false.
 * rules (may be NULL) receives paramwise_cfg (empty rules when absent). Unknown fields are errors
 * naming `where`. */
int optim_cfg_from_json(optim_cfg *c, pg_rules *rules, const struct cJSON *json, const char *where);

/* Shorthand for optim_init with optim_cfg_adamw(...) and betas/eps given. */
int optim_adamw_init(optim *o, params *ps, double lr, double beta1, double beta2, double eps,
                     double weight_decay);

/* One update of every trainable parameter that has a gradient, from ps->grad. As torch skips a parameter
 * whose .grad is None, a parameter no op wrote a gradient for since params_zero_grad (tensor.grad_set
 * is 0: it took no part in the loss) gets no weight decay, no moment update and no step count. lr is the
 * learning rate of a group with lr_mult 1 (each parameter uses lr * lr_mult and weight_decay *
 * decay_mult). */
void optim_step(optim *o, double lr);

/* Per-parameter learning rates computed by the caller: lr_of(param, user) returns that parameter's lr
 * (used by schedule.h's sched_optim_step for mmcv's per-group schedules). */
typedef double (*optim_lr_fn)(const param *p, void *user);
void optim_step_fn(optim *o, optim_lr_fn lr_of, void *user);

/* torch.nn.utils.clip_grad_norm_(trainable params, max_norm, norm_type=2): total = L2 norm over all
 * trainable gradients; coef = max_norm / (total + 1e-6); if coef < 1 every gradient is scaled by coef.
 * Returns total (before clipping). max_norm <= 0 only computes the norm. */
double optim_clip_grad_norm(params *ps, double max_norm);

/* ---- parameter groups (mmcv 1.x DefaultOptimizerConstructor paramwise_cfg) ---- */
typedef struct pg_custom_key {
    char *key;      /* substring matched against the parameter's full name */
    double lr_mult; /* default 1 */
    double decay_mult; /* default 1 */
} pg_custom_key;

struct pg_rules {
    pg_custom_key *keys;
    int n_keys;
    double bias_lr_mult, bias_decay_mult, norm_decay_mult, dwconv_decay_mult; /* default 1 */
};

void pg_rules_init(pg_rules *r); /* no custom keys, every multiplier 1 */
void pg_rules_free(pg_rules *r);
/* Add (or replace) a custom key. */
void pg_rules_add_key(pg_rules *r, const char *key, double lr_mult, double decay_mult);
/* Parse an mmcv paramwise_cfg written as JSON:
 *   {"custom_keys": {"norm": {"decay_mult": 0}, "backbone": {"lr_mult": 1.0}},
 *    "norm_decay_mult": 0, "bias_decay_mult": 0, "bias_lr_mult": 1, "dwconv_decay_mult": 1}
 * Unknown fields are errors naming `where` and the field. NULL json = no rules. */
int pg_rules_from_json(pg_rules *r, const struct cJSON *json, const char *where);

/* Set decay_mult and lr_mult of every trainable parameter as mmcv's add_params does:
 *  - custom keys are tried longest first (ties alphabetically); the first key that is a substring of
 *    "<match_prefix><name>" (prefixed by '.' when that has no '.' of its own, as mmcv's f'{prefix}.{name}'
 *    does for top-level parameters) sets lr_mult and decay_mult, and no other rule applies;
 *  - otherwise: a parameter named "bias" of a non-norm module gets bias_lr_mult; decay: norm module ->
 *    norm_decay_mult, else depthwise conv -> dwconv_decay_mult, else "bias" -> bias_decay_mult.
 * The module kind is read from the store (mmcv looks at the module class): a module (the name up to
 * the last '.') is a norm layer when its "weight" is 1-D (LayerNorm, BatchNorm, GroupNorm), and a
 * depthwise conv when its "weight" is 4-D with shape[1] == 1 (in_channels == groups). Frozen parameters
 * are left alone (they get no optimiser state). match_prefix may be NULL (e.g. "backbone." when the
 * store holds backbone-relative names and the recipe's keys were written for the whole detector). */
void pg_apply(params *ps, const pg_rules *r, const char *match_prefix);
/* The same with the prefix left off the names that start with one of keep[0..n_keep-1] (a segmentor's
 * "decode_head." and "auxiliary_head." beside its unprefixed backbone, matched as mmcv sees "backbone.<name>"). */
void pg_apply_ex(params *ps, const pg_rules *r, const char *match_prefix, const char *const *keep, int n_keep);

#endif
