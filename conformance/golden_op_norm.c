/* golden_op_norm.c - golden-op/1 handlers for normalisation (BatchNorm2d in training or evaluation mode,
 * GroupNorm) and adaptive average pooling. Every configuration value comes from the file's root attributes;
 * a setting the op does not implement is refused (err_set), never replaced by another. */
#include "golden_op.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/ops.h"
#include "../core/ops_nn.h"

static int has_attr(hid_t f, const char *name) { return H5Aexists_by_name(f, "/", name, H5P_DEFAULT) > 0; }

/* a boolean attribute (uint8, integer or the strings True / False); *v = dflt when absent */
static int attr_bool(hid_t f, const char *name, int dflt, int *v) {
    *v = dflt;
    if (!has_attr(f, name)) return 0;
    char s[32];
    if (!h5_attr_str(f, "/", name, s, sizeof s)) {
        *v = !strcmp(s, "True") || !strcmp(s, "true") || !strcmp(s, "1");
        return 0;
    }
    err_clear();
    int64_t t;
    if (h5_attr_i64(f, "/", name, &t, 1) != 1) return -1;
    *v = t != 0;
    return 0;
}

/* a number attribute that must be present and numeric */
static int attr_num(hid_t f, const char *name, double *v) {
    if (h5_attr_f64(f, "/", name, v, 1) != 1) return err_prefix("attribute '%s' (a number is needed)", name);
    return 0;
}

/* compare x (n floats, the shape of t) with dataset path; the dataset's shape must be t's */
static int cmp_shape(hid_t f, golden_result *r, const char *group, double tol, const char *path, const tensor *t,
                     const float *x) {
    int nd;
    int64_t sh[8];
    float *ref = h5_read_f32(f, path, &nd, sh);
    if (!ref) return -1;
    free(ref);
    int same = nd == t->ndim;
    for (int i = 0; same && i < nd; i++) same = sh[i] == t->shape[i];
    if (!same) {
        char b[64];
        return err_set("%s: the implementation's shape is %s", path, tensor_shape_str(t, b, sizeof b));
    }
    return golden_compare(f, r, group, tol, path, x, t->n);
}

/* every dataset of group must be one of names (NULL-ended): a reference tensor nobody compares is a failure */
static int all_compared(hid_t f, golden_result *r, const char *group, double tol, const char *const *names) {
    if (!h5_exists(f, group)) return 0;
    char **ds;
    int n = h5_list_datasets(f, group, &ds);
    if (n < 0) return -1;
    for (int i = 0; i < n; i++) {
        int known = 0;
        for (const char *const *k = names; *k && !known; k++) known = !strcmp(*k, ds[i]);
        if (!known) {
            char path[256];
            snprintf(path, sizeof path, "%s/%s (not compared by this handler)", group, ds[i]);
            golden_record(r, group, tol, path, INFINITY);
        }
    }
    h5_free_strings(ds, n);
    return 0;
}

/* params/<name> as a tensor, or NULL without error when the file has none (affine=False) */
static int opt_param(graph *g, hid_t f, const char *name, tensor **t) {
    char path[128];
    snprintf(path, sizeof path, "params/%s", name);
    *t = NULL;
    if (!h5_exists(f, path)) return 0;
    *t = golden_input(g, f, path);
    return *t ? 0 : -1;
}

/* ---- nn.BatchNorm2d(C, eps, momentum): training (batch statistics, running update) or evaluation ---- */
static int run_batch_norm2d(hid_t f, golden_result *r) {
    double eps, momentum = 0.1;
    int training = 1, affine = 1, track = 1;
    if (attr_num(f, "eps", &eps) || attr_bool(f, "training", 1, &training) || attr_bool(f, "affine", 1, &affine) ||
        attr_bool(f, "track_running_stats", 1, &track))
        return -1;
    if (has_attr(f, "momentum") && attr_num(f, "momentum", &momentum))
        return err_prefix("batch_norm: momentum None (cumulative average) is not implemented");
    graph g;
    graph_init(&g, 1 << 20);
    int rc = -1;
    float *rm = NULL, *rv = NULL;
    tensor *x = golden_input(&g, f, "inputs/x"), *w = NULL, *b = NULL;
    if (!x || opt_param(&g, f, "weight", &w) || opt_param(&g, f, "bias", &b)) goto out;
    if (x->ndim < 2 || (affine && (!w || !b)) || (w && w->n != x->shape[1]) || (b && b->n != x->shape[1])) {
        err_set("batch_norm: inputs/x (B, C, ...) and params weight, bias (C) disagree with affine=%d", affine);
        goto out;
    }
    int C = x->shape[1];
    if (track) {
        int nd;
        int64_t sh[8];
        rm = h5_read_f32(f, "params/running_mean", &nd, sh);
        rv = rm ? h5_read_f32(f, "params/running_var", &nd, sh) : NULL;
        if (!rv) goto out;
        if (nd != 1 || sh[0] != C) {
            err_set("params/running_var: (%d) expected", C);
            goto out;
        }
    } else if (!training) {
        err_set("batch_norm: evaluation without running statistics uses batch statistics (not implemented here)");
        goto out;
    }
    tensor *y = op_batch_norm(&g, x, w, b, rm, rv, training, (float)momentum, (float)eps);
    r->loss = 0;
    if (golden_seed_loss(&g, f, "loss_weights/y", y, &r->loss)) goto out;
    graph_backward(&g);
    tensor stat = {0};
    tensor_set_shape(&stat, 1, &C);
    if (cmp_shape(f, r, "outputs", GOLDEN_TOL_OUT, "outputs/y", y, y->data) ||
        (rm && h5_exists(f, "outputs/running_mean") &&
         cmp_shape(f, r, "outputs", GOLDEN_TOL_OUT, "outputs/running_mean", &stat, rm)) ||
        (rv && h5_exists(f, "outputs/running_var") &&
         cmp_shape(f, r, "outputs", GOLDEN_TOL_OUT, "outputs/running_var", &stat, rv)) ||
        cmp_shape(f, r, "grads/inputs", GOLDEN_TOL_GRAD, "grads/inputs/x", x, x->grad) ||
        (w && cmp_shape(f, r, "grads/params", GOLDEN_TOL_GRAD, "grads/params/weight", w, w->grad)) ||
        (b && cmp_shape(f, r, "grads/params", GOLDEN_TOL_GRAD, "grads/params/bias", b, b->grad)) ||
        /* num_batches_tracked is the module's step counter, which the op does not keep (the caller counts steps) */
        all_compared(f, r, "outputs", GOLDEN_TOL_OUT, (const char *[]){"y", "running_mean", "running_var", "num_batches_tracked", NULL}) ||
        all_compared(f, r, "grads", GOLDEN_TOL_GRAD, (const char *[]){"inputs/x", "params/weight", "params/bias", NULL}))
        goto out;
    rc = 0;
out:
    free(rm);
    free(rv);
    graph_free(&g);
    return rc;
}

/* ---- nn.GroupNorm(num_groups, C, eps) ---- */
static int run_group_norm(hid_t f, golden_result *r) {
    double eps;
    int64_t groups;
    int affine = 1;
    if (attr_num(f, "eps", &eps) || h5_attr_i64(f, "/", "num_groups", &groups, 1) != 1 || attr_bool(f, "affine", 1, &affine))
        return -1;
    graph g;
    graph_init(&g, 1 << 20);
    int rc = -1;
    tensor *x = golden_input(&g, f, "inputs/x"), *w = NULL, *b = NULL;
    if (!x || opt_param(&g, f, "weight", &w) || opt_param(&g, f, "bias", &b)) goto out;
    if (x->ndim < 2 || groups < 1 || x->shape[1] % groups || (affine && (!w || !b)) || (w && w->n != x->shape[1]) ||
        (b && b->n != x->shape[1])) {
        err_set("group_norm: inputs/x (B, C, ...), num_groups %lld and params weight, bias (C) disagree", (long long)groups);
        goto out;
    }
    tensor *y = op_group_norm(&g, x, (int)groups, w, b, (float)eps);
    r->loss = 0;
    if (golden_seed_loss(&g, f, "loss_weights/y", y, &r->loss)) goto out;
    graph_backward(&g);
    if (cmp_shape(f, r, "outputs", GOLDEN_TOL_OUT, "outputs/y", y, y->data) ||
        cmp_shape(f, r, "grads/inputs", GOLDEN_TOL_GRAD, "grads/inputs/x", x, x->grad) ||
        (w && cmp_shape(f, r, "grads/params", GOLDEN_TOL_GRAD, "grads/params/weight", w, w->grad)) ||
        (b && cmp_shape(f, r, "grads/params", GOLDEN_TOL_GRAD, "grads/params/bias", b, b->grad)) ||
        all_compared(f, r, "outputs", GOLDEN_TOL_OUT, (const char *[]){"y", NULL}) ||
        all_compared(f, r, "grads", GOLDEN_TOL_GRAD, (const char *[]){"inputs/x", "params/weight", "params/bias", NULL}))
        goto out;
    rc = 0;
out:
    graph_free(&g);
    return rc;
}

/* ---- F.adaptive_avg_pool2d(x, s) for each s of output_sizes: outputs/y<s>, one objective over all ---- */
static int run_adaptive_avg_pool2d(hid_t f, golden_result *r) {
    int64_t sizes[16];
    int ns = h5_attr_i64(f, "/", "output_sizes", sizes, 16);
    if (ns < 1) return err_prefix("attribute 'output_sizes'");
    graph g;
    graph_init(&g, 1 << 20);
    int rc = -1;
    tensor *x = golden_input(&g, f, "inputs/x"), *y[16];
    if (!x) goto out;
    if (x->ndim != 4) {
        err_set("inputs/x: (B, C, H, W) expected");
        goto out;
    }
    char names[16][16];
    const char *list[17];
    r->loss = 0;
    for (int i = 0; i < ns; i++) {
        if (sizes[i] < 1) {
            err_set("output_sizes[%d] = %lld", i, (long long)sizes[i]);
            goto out;
        }
        y[i] = op_adaptive_avg_pool2d(&g, x, (int)sizes[i], (int)sizes[i]);
        snprintf(names[i], sizeof names[i], "y%lld", (long long)sizes[i]);
        list[i] = names[i];
        char path[300];
        snprintf(path, sizeof path, "loss_weights/%s", names[i]);
        if (golden_seed_loss(&g, f, path, y[i], &r->loss)) goto out;
    }
    list[ns] = NULL;
    graph_backward(&g);
    for (int i = 0; i < ns; i++) {
        char path[300];
        snprintf(path, sizeof path, "outputs/%s", names[i]);
        if (cmp_shape(f, r, "outputs", GOLDEN_TOL_OUT, path, y[i], y[i]->data)) goto out;
    }
    if (cmp_shape(f, r, "grads/inputs", GOLDEN_TOL_GRAD, "grads/inputs/x", x, x->grad) ||
        all_compared(f, r, "outputs", GOLDEN_TOL_OUT, list) ||
        all_compared(f, r, "grads", GOLDEN_TOL_GRAD, (const char *[]){"inputs/x", NULL}))
        goto out;
    rc = 0;
out:
    graph_free(&g);
    return rc;
}

const golden_op_entry golden_ops_norm[] = {
    {"batch_norm2d_train", run_batch_norm2d},
    {"group_norm", run_group_norm},
    {"adaptive_avg_pool2d", run_adaptive_avg_pool2d},
    {NULL, NULL},
};
