/* optim_golden.c - AdamW against a golden-adamw/1 file (see optim_golden.h). */
#include "optim_golden.h"

#include <stdlib.h>
#include <string.h>

#include "h5io.h"
#include "optim.h"
#include "params.h"

static double rel_err(const float *a, const float *b, int64_t n) {
    double md = 0, mb = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        d = d < 0 ? -d : d;
        if (!(d <= md)) md = d != d ? 1e300 : d;
        double m = b[i] < 0 ? -(double)b[i] : (double)b[i];
        if (m > mb) mb = m;
    }
    return mb > 0 ? md / mb : md;
}

int optim_golden_run(const char *path, optim_golden_result *res, FILE *log) {
    memset(res, 0, sizeof *res);
    hid_t f = h5_open_read(path);
    if (f < 0) return -1;
    int rc = -1, nn = 0;
    char **names = NULL;
    params ps;
    params_init(&ps);
    optim o;
    memset(&o, 0, sizeof o);
    char schema[64] = "";
    double lr, b1, b2, eps, wd[OPTIM_GOLDEN_MAX_GROUPS];
    int64_t steps;
    if (h5_attr_str(f, "/", "schema", schema, sizeof schema)) goto done;
    if (strcmp(schema, "golden-adamw/1") != 0) {
        err_set("%s: schema '%s', expected golden-adamw/1", path, schema);
        goto done;
    }
    if (h5_attr_f64(f, "/", "lr", &lr, 1) != 1 || h5_attr_f64(f, "/", "beta1", &b1, 1) != 1 ||
        h5_attr_f64(f, "/", "beta2", &b2, 1) != 1 || h5_attr_f64(f, "/", "eps", &eps, 1) != 1 ||
        h5_attr_i64(f, "/", "steps", &steps, 1) != 1) {
        err_prefix("%s: root attributes lr, beta1, beta2, eps, steps", path);
        goto done;
    }
    int nwd = h5_attr_f64(f, "/", "weight_decay", wd, OPTIM_GOLDEN_MAX_GROUPS);
    if (nwd < 1) {
        err_prefix("%s: root attribute weight_decay", path);
        goto done;
    }
    if (steps < 1 || steps > 100000) {
        err_set("%s: steps = %lld out of range", path, (long long)steps);
        goto done;
    }
    /* the groups: every "<g>/initial" */
    nn = h5_list_datasets(f, "/", &names);
    if (nn < 0) goto done;
    for (int i = 0; i < nn; i++) {
        const char *sl = strchr(names[i], '/');
        if (!sl || strcmp(sl, "/initial") != 0) continue;
        if (res->n_groups == OPTIM_GOLDEN_MAX_GROUPS || (size_t)(sl - names[i]) >= sizeof res->group[0]) {
            err_set("%s: too many groups or group name too long ('%s')", path, names[i]);
            goto done;
        }
        snprintf(res->group[res->n_groups], sizeof res->group[0], "%.*s", (int)(sl - names[i]), names[i]);
        res->n_groups++;
    }
    if (res->n_groups != nwd) {
        err_set("%s: %d groups with an 'initial' dataset but %d weight_decay values", path, res->n_groups, nwd);
        goto done;
    }
    float *init[OPTIM_GOLDEN_MAX_GROUPS] = {0};
    double base_wd = 0;
    for (int g = 0; g < nwd; g++) {
        res->weight_decay[g] = wd[g];
        if (wd[g] > base_wd) base_wd = wd[g];
    }
    int ok = 1;
    for (int g = 0; g < res->n_groups && ok; g++) {
        char ds[128];
        int nd;
        int64_t sh[8];
        snprintf(ds, sizeof ds, "%s/initial", res->group[g]);
        init[g] = h5_read_f32(f, ds, &nd, sh);
        if (!init[g] || nd < 1 || nd > TENSOR_MAX_DIMS) {
            if (init[g]) err_set("%s: %s has %d dimensions", path, ds, nd);
            ok = 0;
            break;
        }
        int shape[TENSOR_MAX_DIMS];
        for (int d = 0; d < nd; d++) shape[d] = (int)sh[d];
        params_add(&ps, res->group[g], nd, shape);
    }
    if (ok) {
        params_alloc(&ps);
        for (int g = 0; g < res->n_groups; g++) {
            param *p = params_find(&ps, res->group[g]);
            p->decay_mult = base_wd > 0 ? (float)(wd[g] / base_wd) : 0.0f;
            memcpy(p->t.data, init[g], sizeof(float) * (size_t)p->t.n);
        }
    }
    for (int g = 0; g < res->n_groups; g++) free(init[g]);
    if (!ok) goto done;
    if (optim_adamw_init(&o, &ps, lr, b1, b2, eps, base_wd)) {
        err_prefix("%s", path);
        goto done;
    }
    res->steps = (int)steps;
    res->n_values = ps.n_train;
    for (int64_t s = 0; s < steps; s++) {
        for (int pass = 0; pass < 2; pass++) {
            for (int g = 0; g < res->n_groups; g++) {
                param *p = params_find(&ps, res->group[g]);
                char ds[128];
                int nd;
                int64_t sh[8];
                snprintf(ds, sizeof ds, "%s/%s%lld", res->group[g], pass ? "after" : "grad", (long long)s);
                float *x = h5_read_f32(f, ds, &nd, sh);
                if (!x) goto done;
                int64_t n = 1;
                for (int d = 0; d < nd; d++) n *= sh[d];
                if (n != p->t.n) {
                    free(x);
                    err_set("%s: %s has %lld values, the parameter %lld", path, ds, (long long)n, (long long)p->t.n);
                    goto done;
                }
                if (pass == 0) memcpy(p->t.grad, x, sizeof(float) * (size_t)n);
                else {
                    double e = rel_err(p->t.data, x, n);
                    if (e > res->max_rel_err[g]) {
                        res->max_rel_err[g] = e;
                        res->worst_step[g] = (int)s;
                    }
                    if (e > res->worst) res->worst = e;
                }
                free(x);
            }
            if (pass == 0) optim_step(&o, lr);
        }
    }
    if (log)
        for (int g = 0; g < res->n_groups; g++)
            fprintf(log, "%s: AdamW group %s (weight decay %g), %d steps: max rel err %.3g\n", path, res->group[g],
                    wd[g], res->steps, res->max_rel_err[g]);
    rc = 0;
done:
    optim_free(&o);
    params_free(&ps);
    if (names) h5_free_strings(names, nn);
    h5_close(f);
    return rc;
}
