/* golden_op_nn.c - golden-op/1 handlers for convolution, transposed convolution, pooling, resize
 * (F.interpolate), RoIAlign and the FPN neck. Each handler takes every configuration value from the file's root
 * attributes and refuses (err_set) a setting the op does not implement, rather than running another one. */
#include "golden_op.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/ops.h"
#include "../core/ops_nn.h"

static int has_attr(hid_t f, const char *name) { return H5Aexists_by_name(f, "/", name, H5P_DEFAULT) > 0; }

/* an integer attribute given as one value or as one per spatial axis, into v[0], v[1] */
static int attr_pair(hid_t f, const char *name, int *v) {
    int64_t t[2];
    int k = h5_attr_i64(f, "/", name, t, 2);
    if (k < 1) return err_prefix("attribute '%s'", name);
    v[0] = (int)t[0];
    v[1] = (int)(k > 1 ? t[1] : t[0]);
    return 0;
}

/* a boolean attribute (uint8, integer or the strings True / False / None); *v = dflt when absent */
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

/* compare t (its data, or its gradient when grad) with dataset path: the shape must match as well */
static int cmp_tensor(hid_t f, golden_result *r, const char *group, double tol, const char *path, const tensor *t, int grad) {
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
    return golden_compare(f, r, group, tol, path, grad ? t->grad : t->data, t->n);
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

/* ---- interpolate: F.interpolate(x, size= | scale_factor=, mode, align_corners=False) ---- */
static int run_interpolate(hid_t f, golden_result *r) {
    char mode_s[32];
    if (h5_attr_str(f, "/", "mode", mode_s, sizeof mode_s)) return -1;
    int mode = !strcmp(mode_s, "nearest") ? INTERP_NEAREST : !strcmp(mode_s, "bilinear") ? INTERP_BILINEAR : -1;
    if (mode < 0) return err_set("interpolate: mode '%s' is not implemented (nearest, bilinear)", mode_s);
    int align = 0, anti = 0, recompute = 0;
    if (attr_bool(f, "align_corners", 0, &align) || attr_bool(f, "antialias", 0, &anti) ||
        attr_bool(f, "recompute_scale_factor", 0, &recompute))
        return -1;
    if (align || anti) return err_set("interpolate: align_corners=%d antialias=%d are not implemented", align, anti);
    int size[2] = {0, 0};
    double scale[2] = {0, 0};
    if (has_attr(f, "size") && attr_pair(f, "size", size)) err_clear(); /* size "None" */
    if (!size[0]) {
        int k = has_attr(f, "scale_factor") ? h5_attr_f64(f, "/", "scale_factor", scale, 2) : 0;
        if (k < 1) return err_set("interpolate: neither 'size' nor 'scale_factor' given");
        if (k == 1) scale[1] = scale[0];
    }

    graph g;
    graph_init(&g, 1 << 20);
    int rc = -1;
    tensor *x = golden_input(&g, f, "inputs/x");
    if (!x) goto out;
    if (x->ndim != 4) {
        err_set("inputs/x: 4-d expected");
        goto out;
    }
    tensor *y;
    if (size[0]) y = op_interpolate(&g, x, size[0], size[1], mode);
    else if (recompute) /* the size from the scale, then the ratio in/out */
        y = op_interpolate(&g, x, (int)(x->shape[2] * scale[0]), (int)(x->shape[3] * scale[1]), mode);
    else
        y = op_interpolate_scale(&g, x, (float)scale[0], (float)scale[1], mode);
    r->loss = 0;
    if (golden_seed_loss(&g, f, "loss_weights/y", y, &r->loss)) goto out;
    graph_backward(&g);
    if (cmp_tensor(f, r, "outputs", GOLDEN_TOL_OUT, "outputs/y", y, 0) ||
        cmp_tensor(f, r, "grads/inputs", GOLDEN_TOL_GRAD, "grads/inputs/x", x, 1) ||
        all_compared(f, r, "outputs", GOLDEN_TOL_OUT, (const char *[]){"y", NULL}) ||
        all_compared(f, r, "grads", GOLDEN_TOL_GRAD, (const char *[]){"inputs/x", NULL}))
        goto out;
    rc = 0;
out:
    graph_free(&g);
    return rc;
}

/* ---- conv_transpose2d: F.conv_transpose2d(x, weight (Cin, Cout/groups, kh, kw), bias, stride, padding,
 * output_padding, groups, dilation) ---- */
static int run_conv_transpose2d(hid_t f, golden_result *r) {
    int st[2] = {1, 1}, pad[2] = {0, 0}, opad[2] = {0, 0}, dil[2] = {1, 1}, ks[2] = {0, 0};
    int64_t groups = 1;
    if (attr_pair(f, "stride", st)) return -1;
    if ((has_attr(f, "padding") && attr_pair(f, "padding", pad)) ||
        (has_attr(f, "output_padding") && attr_pair(f, "output_padding", opad)) ||
        (has_attr(f, "dilation") && attr_pair(f, "dilation", dil)) ||
        (has_attr(f, "kernel_size") && attr_pair(f, "kernel_size", ks)) ||
        (has_attr(f, "groups") && h5_attr_i64(f, "/", "groups", &groups, 1) != 1))
        return -1;
    graph g;
    graph_init(&g, 1 << 20);
    int rc = -1;
    tensor *x = golden_input(&g, f, "inputs/x"), *w = x ? golden_input(&g, f, "params/weight") : NULL, *b = NULL;
    if (!w) goto out;
    if (h5_exists(f, "params/bias") && !(b = golden_input(&g, f, "params/bias"))) goto out;
    if (x->ndim != 4 || w->ndim != 4 || w->shape[0] != x->shape[1] || x->shape[1] % groups ||
        (ks[0] && (w->shape[2] != ks[0] || w->shape[3] != ks[1]))) {
        err_set("conv_transpose2d: x, weight (Cin, Cout/groups, kh, kw) and kernel_size %dx%d disagree", ks[0], ks[1]);
        goto out;
    }
    tensor *y = op_conv_transpose2d_ex(&g, x, w, b, st[0], st[1], pad[0], pad[1], opad[0], opad[1], dil[0], dil[1], (int)groups);
    r->loss = 0;
    if (golden_seed_loss(&g, f, "loss_weights/y", y, &r->loss)) goto out;
    graph_backward(&g);
    if (cmp_tensor(f, r, "outputs", GOLDEN_TOL_OUT, "outputs/y", y, 0) ||
        cmp_tensor(f, r, "grads/inputs", GOLDEN_TOL_GRAD, "grads/inputs/x", x, 1) ||
        cmp_tensor(f, r, "grads/params", GOLDEN_TOL_GRAD, "grads/params/weight", w, 1) ||
        (b && cmp_tensor(f, r, "grads/params", GOLDEN_TOL_GRAD, "grads/params/bias", b, 1)) ||
        all_compared(f, r, "outputs", GOLDEN_TOL_OUT, (const char *[]){"y", NULL}) ||
        all_compared(f, r, "grads", GOLDEN_TOL_GRAD, (const char *[]){"inputs/x", "params/weight", "params/bias", NULL}))
        goto out;
    rc = 0;
out:
    graph_free(&g);
    return rc;
}

/* ---- roi_align: torchvision.ops.roi_align / mmcv RoIAlign(output_size, spatial_scale, sampling_ratio,
 * pool_mode, aligned); gradient w.r.t. x only ---- */
static int run_roi_align(hid_t f, golden_result *r) {
    int out[2] = {0, 0}, aligned = 1;
    double scale;
    int64_t sr = 0;
    if (attr_pair(f, "output_size", out) || h5_attr_f64(f, "/", "spatial_scale", &scale, 1) != 1 ||
        (has_attr(f, "sampling_ratio") && h5_attr_i64(f, "/", "sampling_ratio", &sr, 1) != 1) ||
        attr_bool(f, "aligned", 1, &aligned))
        return -1;
    if (has_attr(f, "pool_mode")) {
        char pm[16];
        if (h5_attr_str(f, "/", "pool_mode", pm, sizeof pm)) return -1;
        if (strcmp(pm, "avg")) return err_set("roi_align: pool_mode '%s' is not implemented (avg)", pm);
    }
    if (out[0] <= 0 || out[1] <= 0) return err_set("roi_align: output_size %dx%d", out[0], out[1]);
    graph g;
    graph_init(&g, 1 << 20);
    int rc = -1;
    tensor *x = golden_input(&g, f, "inputs/x"), *rois = x ? golden_input(&g, f, "inputs/rois") : NULL;
    if (!rois) goto out;
    rois->requires_grad = 0;
    if (x->ndim != 4 || rois->ndim != 2 || rois->shape[1] != 5) {
        err_set("roi_align: x must be (N, C, H, W) and rois (K, 5)");
        goto out;
    }
    for (int k = 0; k < rois->shape[0]; k++) {
        float b = rois->data[k * 5];
        if (b != floorf(b) || b < 0 || b >= x->shape[0]) {
            err_set("roi_align: roi %d has batch index %g (N = %d)", k, b, x->shape[0]);
            goto out;
        }
    }
    tensor *y = op_roi_align(&g, x, rois, out[0], out[1], (float)scale, (int)sr, aligned);
    r->loss = 0;
    if (golden_seed_loss(&g, f, "loss_weights/y", y, &r->loss)) goto out;
    graph_backward(&g);
    if (cmp_tensor(f, r, "outputs", GOLDEN_TOL_OUT, "outputs/y", y, 0) ||
        cmp_tensor(f, r, "grads/inputs", GOLDEN_TOL_GRAD, "grads/inputs/x", x, 1) ||
        all_compared(f, r, "outputs", GOLDEN_TOL_OUT, (const char *[]){"y", NULL}) ||
        all_compared(f, r, "grads", GOLDEN_TOL_GRAD, (const char *[]){"inputs/x", NULL}))
        goto out;
    rc = 0;
out:
    graph_free(&g);
    return rc;
}

const golden_op_entry golden_ops_nn[] = {
    {"interpolate", run_interpolate},
    {"conv_transpose2d", run_conv_transpose2d},
    {"roi_align", run_roi_align},
    {NULL, NULL},
};
