/* optim.c - AdamW and SGD (torch.optim semantics), parameter-group rules (mmcv paramwise_cfg) and
 * global-norm gradient clipping over the trainable block of the parameter store (see optim.h). */
#include "optim.h"

#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

optim_cfg optim_cfg_adamw(double lr, double weight_decay) {
    optim_cfg c;
    memset(&c, 0, sizeof c);
    c.kind = OPTIM_ADAMW;
    c.lr = lr;
    c.weight_decay = weight_decay;
    c.beta1 = 0.9;
    c.beta2 = 0.999;
    c.eps = 1e-8;
    return c;
}

optim_cfg optim_cfg_sgd(double lr, double momentum, double weight_decay, int nesterov) {
    optim_cfg c;
    memset(&c, 0, sizeof c);
    c.kind = OPTIM_SGD;
    c.lr = lr;
    c.momentum = momentum;
    c.weight_decay = weight_decay;
    c.nesterov = nesterov;
    return c;
}

int optim_init(optim *o, params *ps, const optim_cfg *cfg) {
    memset(o, 0, sizeof *o);
    if (!ps->allocated) return err_set("optim_init: the parameter store is not allocated (call params_alloc first)");
    if (!(cfg->lr >= 0)) return err_set("optim: invalid learning rate %g (must be >= 0)", cfg->lr);
    if (!(cfg->weight_decay >= 0)) return err_set("optim: invalid weight_decay %g (must be >= 0)", cfg->weight_decay);
    if (cfg->kind == OPTIM_ADAMW) {
        if (!(cfg->beta1 >= 0 && cfg->beta1 < 1)) return err_set("optim: invalid beta1 %g (must be in [0, 1))", cfg->beta1);
        if (!(cfg->beta2 >= 0 && cfg->beta2 < 1)) return err_set("optim: invalid beta2 %g (must be in [0, 1))", cfg->beta2);
        if (!(cfg->eps >= 0)) return err_set("optim: invalid eps %g (must be >= 0)", cfg->eps);
    } else if (cfg->kind == OPTIM_SGD) {
        if (!(cfg->momentum >= 0)) return err_set("optim: invalid momentum %g (must be >= 0)", cfg->momentum);
        if (cfg->nesterov && (cfg->momentum <= 0 || cfg->dampening != 0))
            return err_set("optim: nesterov momentum requires momentum > 0 and dampening 0");
    } else {
        return err_set("optim: unknown optimiser kind %d", (int)cfg->kind);
    }
    o->cfg = *cfg;
    o->ps = ps;
    o->param_step = xcalloc(ps->n ? ps->n : 1, sizeof(int64_t));
    o->n = ps->n_train;
    size_t bytes = sizeof(float) * (size_t)(o->n ? o->n : 1);
    if (cfg->kind == OPTIM_ADAMW) {
        o->exp_avg = xmalloc_aligned(bytes);
        o->exp_avg_sq = xmalloc_aligned(bytes);
        memset(o->exp_avg, 0, bytes);
        memset(o->exp_avg_sq, 0, bytes);
    } else if (cfg->momentum != 0) {
        o->exp_avg = xmalloc_aligned(bytes);
        memset(o->exp_avg, 0, bytes);
    }
    return 0;
}

int optim_cfg_from_json(optim_cfg *c, pg_rules *rules, const cJSON *json, const char *where) {
    if (rules) pg_rules_init(rules);
    if (!cJSON_IsObject(json)) return err_set("%s: optimizer must be an object", where);
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(json, "type");
    if (!cJSON_IsString(ty)) return err_set("%s: optimizer.type must be a string (AdamW or SGD)", where);
    if (strcasecmp(ty->valuestring, "AdamW") == 0) *c = optim_cfg_adamw(1e-3, 1e-2);
    else if (strcasecmp(ty->valuestring, "SGD") == 0) *c = optim_cfg_sgd(-1, 0, 0, 0);
    else return err_set("%s: optimizer.type '%s' is not supported (AdamW, SGD)", where, ty->valuestring);
    int is_adam = c->kind == OPTIM_ADAMW;
    const cJSON *it;
    cJSON_ArrayForEach(it, json) {
        const char *k = it->string;
        double *num = NULL;
        if (strcmp(k, "type") == 0) continue;
        if (strcmp(k, "paramwise_cfg") == 0) {
            if (rules) {
                pg_rules_free(rules);
                if (pg_rules_from_json(rules, it, where)) return -1;
            }
            continue;
        }
        if (strcmp(k, "lr") == 0) num = &c->lr;
        else if (strcmp(k, "weight_decay") == 0) num = &c->weight_decay;
        else if (is_adam && strcmp(k, "eps") == 0) num = &c->eps;
        else if (!is_adam && strcmp(k, "momentum") == 0) num = &c->momentum;
        else if (!is_adam && strcmp(k, "dampening") == 0) num = &c->dampening;
        else if (is_adam && strcmp(k, "betas") == 0) {
            if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) != 2 || !cJSON_IsNumber(cJSON_GetArrayItem(it, 0)) ||
                !cJSON_IsNumber(cJSON_GetArrayItem(it, 1)))
                return err_set("%s: optimizer.betas must be two numbers", where);
            c->beta1 = cJSON_GetArrayItem(it, 0)->valuedouble;
            c->beta2 = cJSON_GetArrayItem(it, 1)->valuedouble;
            continue;
        } else if (!is_adam && strcmp(k, "nesterov") == 0) {
            if (!cJSON_IsBool(it)) return err_set("%s: optimizer.nesterov must be true or false", where);
            c->nesterov = cJSON_IsTrue(it);
            continue;
        } else if (is_adam && strcmp(k, "amsgrad") == 0) {
            if (!cJSON_IsFalse(it)) return err_set("%s: optimizer.amsgrad: only false is supported", where);
            continue;
        } else
            return err_set("%s: optimizer: unknown field '%s' for %s", where, k, is_adam ? "AdamW" : "SGD");
        if (!cJSON_IsNumber(it)) return err_set("%s: optimizer.%s must be a number", where, k);
        *num = it->valuedouble;
    }
    if (!is_adam && c->lr < 0) return err_set("%s: optimizer.lr is required for SGD", where);
    return 0;
}

int optim_adamw_init(optim *o, params *ps, double lr, double beta1, double beta2, double eps,
                     double weight_decay) {
    optim_cfg c = optim_cfg_adamw(lr, weight_decay);
    c.beta1 = beta1;
    c.beta2 = beta2;
    c.eps = eps;
    return optim_init(o, ps, &c);
}

void optim_free(optim *o) {
    free(o->exp_avg);
    free(o->exp_avg_sq);
    free(o->param_step);
    memset(o, 0, sizeof *o);
}

/* torch.optim.AdamW, single-tensor path (torch 1.13 _single_tensor_adamw):
 *   p *= 1 - lr*wd; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g;
 *   p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps).
 * Python scalars reach the float kernels as float32, as torch casts them. */
static void adamw_param(const optim *o, float *p, const float *g, float *m, float *v, int64_t n, double lr,
                        double wd, int64_t step) {
    const double b1 = o->cfg.beta1, b2 = o->cfg.beta2;
    const float decay = (float)(1.0 - lr * wd);
    const float fb1 = (float)b1, fb2 = (float)b2, om1 = (float)(1.0 - b1), om2 = (float)(1.0 - b2);
    const double bc1 = 1.0 - pow(b1, (double)step), bc2 = 1.0 - pow(b2, (double)step);
    const float step_size = (float)(lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float eps = (float)o->cfg.eps;
    const int do_decay = lr * wd != 0;
#pragma omp parallel for if (n > 65536) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float pi = p[i];
        if (do_decay) pi *= decay;
        float gi = g[i];
        float mi = m[i] * fb1 + gi * om1;
        float vi = v[i] * fb2 + gi * gi * om2;
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        p[i] = pi - step_size * (mi / denom);
    }
}

/* torch.optim.SGD (_single_tensor_sgd): d = g + wd*p; buf = d on the first step, else
 * momentum*buf + (1-dampening)*d; d = nesterov ? d + momentum*buf : buf; p -= lr*d. */
static void sgd_param(const optim *o, float *p, const float *g, float *buf, int64_t n, double lr, double wd,
                      int first) {
    const float fwd = (float)wd, mom = (float)o->cfg.momentum, damp = (float)(1.0 - o->cfg.dampening);
    const float flr = (float)lr;
    const int nesterov = o->cfg.nesterov;
#pragma omp parallel for if (n > 65536) schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float d = g[i];
        if (fwd != 0) d += fwd * p[i];
        if (buf) {
            float b = first ? d : buf[i] * mom + damp * d;
            buf[i] = b;
            d = nesterov ? d + mom * b : b;
        }
        p[i] -= flr * d;
    }
}

void optim_step_fn(optim *o, optim_lr_fn lr_of, void *user) {
    params *ps = o->ps;
    DB_ASSERT(ps->n_train == o->n, "the parameter store changed under the optimiser");
    o->step++;
    for (int k = 0; k < ps->n; k++) {
        param *pa = ps->p[k];
        if (!pa->trainable || pa->t.n == 0) continue;
        if (!pa->t.grad_set) continue; /* torch: p.grad is None -> skipped */
        int64_t step = ++o->param_step[k];
        double lr = lr_of(pa, user);
        double wd = o->cfg.weight_decay * pa->decay_mult;
        int64_t off = pa->offset, n = pa->t.n;
        float *p = ps->train + off;
        const float *g = ps->grad + off;
        if (o->cfg.kind == OPTIM_ADAMW)
            adamw_param(o, p, g, o->exp_avg + off, o->exp_avg_sq + off, n, lr, wd, step);
        else
            sgd_param(o, p, g, o->exp_avg ? o->exp_avg + off : NULL, n, lr, wd, step == 1);
    }
}

static double lr_times_mult(const param *p, void *user) { return *(const double *)user * p->lr_mult; }

void optim_step(optim *o, double lr) { optim_step_fn(o, lr_times_mult, &lr); }

double optim_clip_grad_norm(params *ps, double max_norm) {
    /* torch: norm of the per-parameter norms; computed here in double over the whole block. */
    double ss = 0;
    const float *g = ps->grad;
    int64_t n = ps->n_train;
#pragma omp parallel for reduction(+ : ss) if (n > 65536) schedule(static)
    for (int64_t i = 0; i < n; i++) ss += (double)g[i] * (double)g[i];
    double total = sqrt(ss);
    if (max_norm > 0) {
        double coef = max_norm / (total + 1e-6);
        if (coef < 1) {
            float c = (float)coef;
#pragma omp parallel for if (n > 65536) schedule(static)
            for (int64_t i = 0; i < n; i++) ps->grad[i] *= c;
        }
    }
    return total;
}

/* ---- parameter groups ---- */

void pg_rules_init(pg_rules *r) {
    memset(r, 0, sizeof *r);
    r->bias_lr_mult = r->bias_decay_mult = r->norm_decay_mult = r->dwconv_decay_mult = 1.0;
}

void pg_rules_free(pg_rules *r) {
    for (int i = 0; i < r->n_keys; i++) free(r->keys[i].key);
    free(r->keys);
    memset(r, 0, sizeof *r);
}

void pg_rules_add_key(pg_rules *r, const char *key, double lr_mult, double decay_mult) {
    for (int i = 0; i < r->n_keys; i++)
        if (strcmp(r->keys[i].key, key) == 0) {
            r->keys[i].lr_mult = lr_mult;
            r->keys[i].decay_mult = decay_mult;
            return;
        }
    r->keys = xrealloc(r->keys, sizeof(pg_custom_key) * (size_t)(r->n_keys + 1));
    r->keys[r->n_keys].key = xstrdup(key);
    r->keys[r->n_keys].lr_mult = lr_mult;
    r->keys[r->n_keys].decay_mult = decay_mult;
    r->n_keys++;
}

static int json_num(const cJSON *it, const char *where, double *out) {
    if (!cJSON_IsNumber(it)) return err_set("%s: paramwise_cfg.%s must be a number", where, it->string);
    *out = it->valuedouble;
    return 0;
}

int pg_rules_from_json(pg_rules *r, const cJSON *json, const char *where) {
    pg_rules_init(r);
    if (!json || cJSON_IsNull(json)) return 0;
    if (!cJSON_IsObject(json)) return err_set("%s: paramwise_cfg must be an object", where);
    const cJSON *it;
    cJSON_ArrayForEach(it, json) {
        const char *k = it->string;
        int rc = 0;
        if (strcmp(k, "custom_keys") == 0) {
            if (!cJSON_IsObject(it)) return err_set("%s: paramwise_cfg.custom_keys must be an object", where);
            const cJSON *ck;
            cJSON_ArrayForEach(ck, it) {
                if (!cJSON_IsObject(ck))
                    return err_set("%s: paramwise_cfg.custom_keys.%s must be an object", where, ck->string);
                double lr = 1, dm = 1;
                const cJSON *f;
                cJSON_ArrayForEach(f, ck) {
                    double *dst = strcmp(f->string, "lr_mult") == 0      ? &lr
                                  : strcmp(f->string, "decay_mult") == 0 ? &dm
                                                                         : NULL;
                    if (!dst)
                        return err_set("%s: paramwise_cfg.custom_keys.%s: unknown field '%s' (lr_mult, decay_mult)",
                                       where, ck->string, f->string);
                    if (!cJSON_IsNumber(f))
                        return err_set("%s: paramwise_cfg.custom_keys.%s.%s must be a number", where, ck->string,
                                       f->string);
                    *dst = f->valuedouble;
                }
                pg_rules_add_key(r, ck->string, lr, dm);
            }
        } else if (strcmp(k, "bias_lr_mult") == 0) rc = json_num(it, where, &r->bias_lr_mult);
        else if (strcmp(k, "bias_decay_mult") == 0) rc = json_num(it, where, &r->bias_decay_mult);
        else if (strcmp(k, "norm_decay_mult") == 0) rc = json_num(it, where, &r->norm_decay_mult);
        else if (strcmp(k, "dwconv_decay_mult") == 0) rc = json_num(it, where, &r->dwconv_decay_mult);
        else
            return err_set("%s: paramwise_cfg: unknown field '%s' (custom_keys, bias_lr_mult, bias_decay_mult, "
                           "norm_decay_mult, dwconv_decay_mult)",
                           where, k);
        if (rc) {
            pg_rules_free(r);
            return -1;
        }
    }
    return 0;
}

/* mmcv: sorted(sorted(keys), key=len, reverse=True) - longest first, ties in alphabetical order. */
static int key_cmp(const void *a, const void *b) {
    const pg_custom_key *x = *(pg_custom_key *const *)a, *y = *(pg_custom_key *const *)b;
    size_t lx = strlen(x->key), ly = strlen(y->key);
    if (lx != ly) return lx > ly ? -1 : 1;
    return strcmp(x->key, y->key);
}

/* The "weight" of the module that owns parameter `name` (same name with the last component replaced). */
static const param *module_weight(const params *ps, const char *name, char *buf, size_t bufsz) {
    const char *dot = strrchr(name, '.');
    size_t k = dot ? (size_t)(dot - name + 1) : 0;
    if (k + 7 > bufsz) return NULL;
    memcpy(buf, name, k);
    memcpy(buf + k, "weight", 7);
    return params_find(ps, buf);
}

void pg_apply(params *ps, const pg_rules *r, const char *match_prefix) { pg_apply_ex(ps, r, match_prefix, NULL, 0); }

void pg_apply_ex(params *ps, const pg_rules *r, const char *match_prefix, const char *const *keep, int n_keep) {
    pg_custom_key **sorted = xmalloc(sizeof(pg_custom_key *) * (size_t)(r->n_keys + 1));
    for (int i = 0; i < r->n_keys; i++) sorted[i] = &r->keys[i];
    qsort(sorted, (size_t)r->n_keys, sizeof *sorted, key_cmp);
    const char *pre = match_prefix ? match_prefix : "";
    size_t cap = 256;
    char *full = xmalloc(cap), *wbuf = xmalloc(cap);
    for (int k = 0; k < ps->n; k++) {
        param *p = ps->p[k];
        if (!p->trainable) continue;
        size_t need = strlen(pre) + strlen(p->name) + 16;
        if (need > cap) {
            cap = need * 2;
            full = xrealloc(full, cap);
            wbuf = xrealloc(wbuf, cap);
        }
        int kept = 0; /* names that already carry their module path (a detector's heads) take no prefix */
        for (int i = 0; i < n_keep && !kept; i++) kept = !strncmp(p->name, keep[i], strlen(keep[i]));
        snprintf(full, cap, "%s%s", kept ? "" : pre, p->name);
        if (!strchr(full, '.')) snprintf(full, cap, ".%s%s", pre, p->name);
        p->lr_mult = 1.0f;
        p->decay_mult = 1.0f;
        int custom = 0;
        for (int i = 0; i < r->n_keys; i++)
            if (strstr(full, sorted[i]->key)) {
                p->lr_mult = (float)sorted[i]->lr_mult;
                p->decay_mult = (float)sorted[i]->decay_mult;
                custom = 1;
                break;
            }
        if (custom) continue;
        const char *dot = strrchr(p->name, '.');
        const char *leaf = dot ? dot + 1 : p->name;
        const param *w = module_weight(ps, p->name, wbuf, cap);
        int is_norm = w && w->t.ndim == 1;
        int is_dwconv = w && w->t.ndim == 4 && w->t.shape[1] == 1;
        int is_bias = strcmp(leaf, "bias") == 0;
        if (is_bias && !is_norm) p->lr_mult = (float)r->bias_lr_mult;
        if (is_norm) p->decay_mult = (float)r->norm_decay_mult;
        else if (is_dwconv) p->decay_mult = (float)r->dwconv_decay_mult;
        else if (is_bias) p->decay_mult = (float)r->bias_decay_mult;
    }
    free(full);
    free(wbuf);
    free(sorted);
}
