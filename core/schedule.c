/* schedule.c - mmcv 1.x learning-rate schedules (see schedule.h for the formulas). */
#include "schedule.h"

#include <cJSON.h>
#include <math.h>
#include <string.h>
#include <strings.h>

void sched_init(sched *s) {
    memset(s, 0, sizeof *s);
    s->policy = SCHED_FIXED;
    s->by_epoch = 1;
    s->warmup = WARMUP_NONE;
    s->warmup_ratio = 0.1;
    s->gamma = 0.1;
    s->power = 1.0;
}

int sched_validate(const sched *s, const char *where) {
    if (s->warmup != WARMUP_NONE) {
        if (s->warmup_iters <= 0) return err_set("%s: warmup_iters must be > 0 when a warm-up is set", where);
        if (!(s->warmup_ratio > 0 && s->warmup_ratio <= 1))
            return err_set("%s: warmup_ratio must be in (0, 1], got %g", where, s->warmup_ratio);
        if (s->warmup_by_epoch && s->iters_per_epoch <= 0)
            return err_set("%s: warmup_by_epoch needs iters_per_epoch > 0", where);
    }
    if (s->by_epoch && s->policy != SCHED_FIXED && s->iters_per_epoch <= 0)
        return err_set("%s: a schedule by epoch needs iters_per_epoch > 0", where);
    switch (s->policy) {
    case SCHED_FIXED: break;
    case SCHED_STEP:
        if (s->n_steps < 1 || s->n_steps > SCHED_MAX_STEPS)
            return err_set("%s: step policy needs 1..%d steps", where, SCHED_MAX_STEPS);
        if (s->step_is_period && s->steps[0] <= 0) return err_set("%s: step period must be > 0", where);
        for (int i = 0; i < s->n_steps; i++)
            if (s->steps[i] <= 0) return err_set("%s: step %d must be > 0 (mmcv asserts it)", where, i);
        break;
    case SCHED_COSINE:
        if (s->has_min_lr == s->has_min_lr_ratio)
            return err_set("%s: CosineAnnealing needs exactly one of min_lr and min_lr_ratio", where);
        /* fall through */
    case SCHED_POLY:
        if ((s->by_epoch ? s->max_epochs : s->max_iters) <= 0)
            return err_set("%s: %s schedule needs %s > 0", where, s->policy == SCHED_POLY ? "poly" : "cosine",
                           s->by_epoch ? "max_epochs" : "max_iters");
        break;
    default: return err_set("%s: unknown schedule policy %d", where, (int)s->policy);
    }
    return 0;
}

int64_t sched_warmup_iters(const sched *s) {
    if (s->warmup == WARMUP_NONE) return 0;
    return s->warmup_by_epoch ? s->warmup_iters * s->iters_per_epoch : s->warmup_iters;
}

double sched_regular_lr(const sched *s, double base_lr, int64_t iter) {
    int64_t progress = s->by_epoch ? (s->iters_per_epoch > 0 ? iter / s->iters_per_epoch : 0) : iter;
    double maxp = (double)(s->by_epoch ? s->max_epochs : s->max_iters);
    switch (s->policy) {
    case SCHED_FIXED: return base_lr;
    case SCHED_STEP: {
        int64_t e;
        if (s->step_is_period) e = progress / s->steps[0];
        else {
            e = s->n_steps;
            for (int i = 0; i < s->n_steps; i++)
                if (progress < s->steps[i]) {
                    e = i;
                    break;
                }
        }
        double lr = base_lr * pow(s->gamma, (double)e);
        if (s->has_min_lr && lr < s->min_lr) lr = s->min_lr;
        return lr;
    }
    case SCHED_COSINE: {
        double target = s->has_min_lr_ratio ? base_lr * s->min_lr_ratio : s->min_lr;
        double f = (double)progress / maxp;
        return target + 0.5 * (base_lr - target) * (cos(M_PI * f) + 1);
    }
    case SCHED_POLY: {
        double min_lr = s->has_min_lr ? s->min_lr : 0.0;
        double coeff = pow(1.0 - (double)progress / maxp, s->power);
        return (base_lr - min_lr) * coeff + min_lr;
    }
    }
    return base_lr;
}

double sched_lr_at(const sched *s, double base_lr, int64_t iter) {
    double reg = sched_regular_lr(s, base_lr, iter);
    int64_t wi = sched_warmup_iters(s);
    if (s->warmup == WARMUP_NONE || iter >= wi) return reg;
    double frac = (double)iter / (double)wi;
    switch (s->warmup) {
    case WARMUP_LINEAR: return reg * (1 - (1 - frac) * (1 - s->warmup_ratio));
    case WARMUP_CONSTANT: return reg * s->warmup_ratio;
    case WARMUP_EXP: return reg * pow(s->warmup_ratio, 1 - frac);
    default: return reg;
    }
}

static int get_num(const cJSON *it, const char *where, double *out) {
    if (!cJSON_IsNumber(it)) return err_set("%s: lr_config.%s must be a number", where, it->string);
    *out = it->valuedouble;
    return 0;
}

static int get_int(const cJSON *it, const char *where, int64_t *out) {
    if (!cJSON_IsNumber(it) || it->valuedouble != floor(it->valuedouble))
        return err_set("%s: lr_config.%s must be an integer", where, it->string);
    *out = (int64_t)it->valuedouble;
    return 0;
}

static int get_bool(const cJSON *it, const char *where, int *out) {
    if (!cJSON_IsBool(it)) return err_set("%s: lr_config.%s must be true or false", where, it->string);
    *out = cJSON_IsTrue(it);
    return 0;
}

int sched_from_json(sched *s, const cJSON *json, int64_t iters_per_epoch, int64_t max_epochs,
                    int64_t max_iters, const char *where) {
    sched_init(s);
    s->iters_per_epoch = iters_per_epoch;
    s->max_epochs = max_epochs;
    s->max_iters = max_iters;
    if (!json || cJSON_IsNull(json)) return 0;
    if (!cJSON_IsObject(json)) return err_set("%s: lr_config must be an object", where);
    const cJSON *it;
    cJSON_ArrayForEach(it, json) {
        const char *k = it->string;
        int rc = 0;
        if (strcmp(k, "policy") == 0) {
            if (!cJSON_IsString(it)) return err_set("%s: lr_config.policy must be a string", where);
            const char *v = it->valuestring;
            if (strcasecmp(v, "fixed") == 0) s->policy = SCHED_FIXED;
            else if (strcasecmp(v, "step") == 0) s->policy = SCHED_STEP;
            else if (strcasecmp(v, "CosineAnnealing") == 0 || strcasecmp(v, "cosine") == 0) s->policy = SCHED_COSINE;
            else if (strcasecmp(v, "poly") == 0) s->policy = SCHED_POLY;
            else return err_set("%s: lr_config.policy '%s' is not supported (fixed, step, CosineAnnealing, poly)", where, v);
        } else if (strcmp(k, "warmup") == 0) {
            if (cJSON_IsNull(it)) s->warmup = WARMUP_NONE;
            else if (!cJSON_IsString(it)) return err_set("%s: lr_config.warmup must be a string or null", where);
            else if (strcmp(it->valuestring, "linear") == 0) s->warmup = WARMUP_LINEAR;
            else if (strcmp(it->valuestring, "constant") == 0) s->warmup = WARMUP_CONSTANT;
            else if (strcmp(it->valuestring, "exp") == 0) s->warmup = WARMUP_EXP;
            else return err_set("%s: lr_config.warmup '%s' is not one of linear, constant, exp", where, it->valuestring);
        } else if (strcmp(k, "by_epoch") == 0) rc = get_bool(it, where, &s->by_epoch);
        else if (strcmp(k, "warmup_by_epoch") == 0) rc = get_bool(it, where, &s->warmup_by_epoch);
        else if (strcmp(k, "warmup_iters") == 0) rc = get_int(it, where, &s->warmup_iters);
        else if (strcmp(k, "warmup_ratio") == 0) rc = get_num(it, where, &s->warmup_ratio);
        else if (strcmp(k, "gamma") == 0) rc = get_num(it, where, &s->gamma);
        else if (strcmp(k, "power") == 0) rc = get_num(it, where, &s->power);
        else if (strcmp(k, "min_lr") == 0) {
            if (!cJSON_IsNull(it)) {
                rc = get_num(it, where, &s->min_lr);
                s->has_min_lr = 1;
            }
        } else if (strcmp(k, "min_lr_ratio") == 0) {
            if (!cJSON_IsNull(it)) {
                rc = get_num(it, where, &s->min_lr_ratio);
                s->has_min_lr_ratio = 1;
            }
        } else if (strcmp(k, "step") == 0) {
            if (cJSON_IsArray(it)) {
                int n = cJSON_GetArraySize(it);
                if (n < 1 || n > SCHED_MAX_STEPS) return err_set("%s: lr_config.step needs 1..%d entries", where, SCHED_MAX_STEPS);
                s->n_steps = 0;
                const cJSON *e;
                cJSON_ArrayForEach(e, it) {
                    if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble))
                        return err_set("%s: lr_config.step[%d] must be an integer", where, s->n_steps);
                    if (s->n_steps > 0 && e->valuedouble <= (double)s->steps[s->n_steps - 1])
                        return err_set("%s: lr_config.step must be increasing (entry %d)", where, s->n_steps);
                    s->steps[s->n_steps++] = (int64_t)e->valuedouble;
                }
                s->step_is_period = 0;
            } else {
                rc = get_int(it, where, &s->steps[0]);
                s->n_steps = 1;
                s->step_is_period = 1;
            }
        } else
            return err_set("%s: lr_config: unknown field '%s'", where, k);
        if (rc) return -1;
    }
    return sched_validate(s, where);
}

typedef struct {
    const sched *s;
    double base;
    int64_t iter;
} sched_lr_ctx;

static double sched_param_lr(const param *p, void *user) {
    const sched_lr_ctx *c = user;
    return sched_lr_at(c->s, c->base * p->lr_mult, c->iter);
}

void sched_optim_step(optim *o, const sched *s, int64_t iter) {
    sched_lr_ctx c = {s, o->cfg.lr, iter};
    optim_step_fn(o, sched_param_lr, &c);
}
