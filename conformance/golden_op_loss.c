/* golden_op_loss.c - golden-op/1 handlers for the losses (sigmoid focal, L1, smooth L1, GIoU, mmdet/mmseg
 * cross-entropy, binary cross-entropy, mask cross-entropy). Every configuration value (gamma, alpha, beta,
 * eps, avg_factor, loss_weight, class_weight, ignore_index, reduction) comes from the file's root attributes;
 * outputs/loss is the call with the file's reduction, outputs/loss_none (where present) the same call with
 * reduction 'none'; the objective is sum over outputs of sum(out * R), differentiated w.r.t. the prediction. */
#include "golden_op.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/ops_loss.h"
#include "../models/seg/uper_head.h"

/* a numeric root attribute, or the string "None": 1 number (in *v), 0 None; missing counts as None when
 * none_ok, else an error */
static int attr_num(hid_t f, const char *name, double *v, int none_ok) {
    if (h5_attr_f64(f, "/", name, v, 1) == 1) return 1;
    char s[32];
    if (!h5_attr_str(f, "/", name, s, sizeof s) && !strcmp(s, "None")) {
        err_clear();
        return 0;
    }
    if (none_ok) {
        err_clear();
        return 0;
    }
    return err_set("root attribute '%s': a number is needed", name);
}
static int attr_req(hid_t f, const char *name, double *v) {
    int k = attr_num(f, name, v, 0);
    if (k < 0) return -1;
    if (k == 0) return err_set("root attribute '%s' is None, a number is needed", name);
    return 0;
}
/* loss_weight (default 1 when absent) and avg_factor (<= 0 when None or absent) */
static int attr_common(hid_t f, float *loss_weight, float *avg_factor) {
    double v;
    int k = attr_num(f, "loss_weight", &v, 1);
    if (k < 0) return -1;
    *loss_weight = k ? (float)v : 1.0f;
    if (avg_factor) {
        k = attr_num(f, "avg_factor", &v, 1);
        if (k < 0) return -1;
        *avg_factor = k ? (float)v : 0.0f;
        if (k && !(v > 0)) return err_set("root attribute 'avg_factor' %g: must be > 0 or None", v);
    }
    return 0;
}
static int attr_reduction(hid_t f, int *red) {
    char s[32];
    if (h5_attr_str(f, "/", "reduction", s, sizeof s)) return -1;
    if (!strcmp(s, "mean")) *red = LOSS_MEAN;
    else if (!strcmp(s, "sum")) *red = LOSS_SUM;
    else if (!strcmp(s, "none")) *red = LOSS_NONE;
    else return err_set("root attribute 'reduction' '%s': mean, sum or none", s);
    return 0;
}

/* integer dataset as int (malloc'd), element count into *n */
static int *read_int(hid_t f, const char *path, int64_t *n) {
    int nd;
    int64_t sh[8];
    int64_t *v = h5_read_i64(f, path, &nd, sh);
    if (!v) return NULL;
    int64_t c = 1;
    for (int i = 0; i < nd; i++) c *= sh[i];
    int *o = xmalloc(sizeof(int) * (c ? c : 1));
    for (int64_t i = 0; i < c; i++) o[i] = (int)v[i];
    free(v);
    *n = c;
    return o;
}
static float *read_float(hid_t f, const char *path, int64_t *n) {
    int nd;
    int64_t sh[8];
    float *v = h5_read_f32(f, path, &nd, sh);
    if (!v) return NULL;
    int64_t c = 1;
    for (int i = 0; i < nd; i++) c *= sh[i];
    *n = c;
    return v;
}
static int check_count(const char *path, int64_t got, int64_t want) {
    if (got == want) return 0;
    return err_set("%s: %lld elements, %lld expected", path, (long long)got, (long long)want);
}

/* compare outputs/<names[k]> with out[k], seed the objective with loss_weights/<names[k]>, backward, and
 * compare grads/inputs/<xname> with x's gradient */
static int finish(hid_t f, golden_result *r, graph *g, tensor *x, const char *xname, tensor **out, const char *const *names,
                  int nout) {
    double loss = 0;
    char path[128];
    for (int k = 0; k < nout; k++) {
        snprintf(path, sizeof path, "outputs/%s", names[k]);
        if (golden_compare(f, r, "outputs", GOLDEN_TOL_OUT, path, out[k]->data, out[k]->n)) return -1;
        snprintf(path, sizeof path, "loss_weights/%s", names[k]);
        if (h5_exists(f, path) && golden_seed_loss(g, f, path, out[k], &loss)) return -1;
    }
    r->loss = loss;
    graph_backward(g);
    snprintf(path, sizeof path, "grads/inputs/%s", xname);
    if (!x->grad) { /* an op that gave no gradient at all: compare zeros */
        float *z = tensor_grad(g, x);
        memset(z, 0, sizeof(float) * x->n);
    }
    return golden_compare(f, r, "grads/inputs", GOLDEN_TOL_GRAD, path, x->grad, x->n);
}

/* the reduced call and, when the file has one, the 'none' call */
static int has_none(hid_t f) { return h5_exists(f, "outputs/loss_none"); }
static const char *const out_names[2] = {"loss", "loss_none"};

/* ---- sigmoid_focal_loss ---- */
static int run_focal(hid_t f, golden_result *r) {
    double gamma, alpha, v;
    float lw, avg;
    int red = LOSS_MEAN;
    if (attr_req(f, "gamma", &gamma) || attr_req(f, "alpha", &alpha) || attr_common(f, &lw, &avg) || attr_reduction(f, &red))
        return -1;
    int k = attr_num(f, "use_sigmoid", &v, 1);
    if (k < 0) return -1;
    if (k && v != 1) return err_set("sigmoid_focal_loss: use_sigmoid = %g, only the sigmoid form exists", v);
    graph g;
    graph_init(&g, 1 << 20);
    int rc = -1, *labels = NULL;
    float *weight = NULL;
    int64_t nl = 0, nw = 0;
    tensor *x = golden_input(&g, f, "inputs/pred");
    if (!x) goto done;
    if (x->ndim != 2) {
        err_set("inputs/pred: (n, C) expected");
        goto done;
    }
    if (h5_attr_f64(f, "/", "num_classes", &v, 1) == 1 && (int)v != x->shape[1]) {
        err_set("inputs/pred: %d channels, num_classes %g", x->shape[1], v);
        goto done;
    }
    err_clear();
    if (!(labels = read_int(f, "inputs/labels", &nl)) || check_count("inputs/labels", nl, x->shape[0])) goto done;
    for (int64_t i = 0; i < nl; i++)
        if (labels[i] < 0 || labels[i] > x->shape[1]) {
            err_set("inputs/labels[%lld] = %d outside [0, %d]", (long long)i, labels[i], x->shape[1]);
            goto done;
        }
    if (h5_exists(f, "inputs/weight") &&
        (!(weight = read_float(f, "inputs/weight", &nw)) || check_count("inputs/weight", nw, x->shape[0])))
        goto done;
    tensor *out[2];
    out[0] = op_sigmoid_focal_loss(&g, x, labels, weight, (float)gamma, (float)alpha, avg, red, lw);
    if (has_none(f)) out[1] = op_sigmoid_focal_loss(&g, x, labels, weight, (float)gamma, (float)alpha, avg, LOSS_NONE, lw);
    rc = finish(f, r, &g, x, "pred", out, out_names, has_none(f) ? 2 : 1);
done:
    free(labels);
    free(weight);
    graph_free(&g);
    return rc;
}

/* ---- l1_loss, smooth_l1_loss (beta from the file's attribute) ---- */
static int run_l1_like(hid_t f, golden_result *r, int smooth) {
    double beta = 0;
    float lw, avg;
    int red = LOSS_MEAN;
    if ((smooth && attr_req(f, "beta", &beta)) || attr_common(f, &lw, &avg) || attr_reduction(f, &red)) return -1;
    if (smooth && !(beta > 0)) return err_set("smooth_l1_loss: beta %g must be > 0", beta);
    graph g;
    graph_init(&g, 1 << 20);
    int rc = -1;
    float *target = NULL, *weight = NULL;
    int64_t nt = 0, nw = 0;
    tensor *x = golden_input(&g, f, "inputs/pred");
    if (!x) goto done;
    if (!(target = read_float(f, "inputs/target", &nt)) || check_count("inputs/target", nt, x->n)) goto done;
    if (h5_exists(f, "inputs/weight") && (!(weight = read_float(f, "inputs/weight", &nw)) || check_count("inputs/weight", nw, x->n)))
        goto done;
    tensor *out[2];
    for (int k = 0; k < (has_none(f) ? 2 : 1); k++) {
        int rk = k ? LOSS_NONE : red;
        out[k] = smooth ? op_smooth_l1_loss_ex(&g, x, target, weight, (float)beta, avg, rk, lw)
                        : op_l1_loss_ex(&g, x, target, weight, avg, rk, lw);
    }
    rc = finish(f, r, &g, x, "pred", out, out_names, has_none(f) ? 2 : 1);
done:
    free(target);
    free(weight);
    graph_free(&g);
    return rc;
}
static int run_l1(hid_t f, golden_result *r) { return run_l1_like(f, r, 0); }
static int run_smooth_l1(hid_t f, golden_result *r) { return run_l1_like(f, r, 1); }

/* ---- giou_loss: an (n, 4) weight is reduced with weight.mean(-1) as GIoULoss.forward does ---- */
static int run_giou(hid_t f, golden_result *r) {
    double eps;
    float lw, avg;
    int red = LOSS_MEAN;
    if (attr_req(f, "eps", &eps) || attr_common(f, &lw, &avg) || attr_reduction(f, &red)) return -1;
    graph g;
    graph_init(&g, 1 << 20);
    int rc = -1;
    float *target = NULL, *weight = NULL, *w = NULL;
    int64_t nt = 0, nw = 0;
    tensor *x = golden_input(&g, f, "inputs/pred");
    if (!x) goto done;
    if (x->ndim != 2 || x->shape[1] != 4) {
        err_set("inputs/pred: (n, 4) expected");
        goto done;
    }
    int64_t n = x->shape[0];
    if (!(target = read_float(f, "inputs/target", &nt)) || check_count("inputs/target", nt, x->n)) goto done;
    if (h5_exists(f, "inputs/weight")) {
        if (!(weight = read_float(f, "inputs/weight", &nw))) goto done;
        if (nw == n * 4) {
            w = xmalloc(sizeof(float) * (n ? n : 1));
            for (int64_t i = 0; i < n; i++)
                w[i] = (float)(((double)weight[4 * i] + weight[4 * i + 1] + weight[4 * i + 2] + weight[4 * i + 3]) / 4.0);
        } else if (check_count("inputs/weight", nw, n))
            goto done;
    }
    tensor *out[2];
    const float *wu = w ? w : weight;
    out[0] = op_giou_loss_ex(&g, x, target, wu, (float)eps, avg, red, lw);
    if (has_none(f)) out[1] = op_giou_loss_ex(&g, x, target, wu, (float)eps, avg, LOSS_NONE, lw);
    rc = finish(f, r, &g, x, "pred", out, out_names, has_none(f) ? 2 : 1);
done:
    free(target);
    free(weight);
    free(w);
    graph_free(&g);
    return rc;
}

/* ---- cross_entropy: mmseg's (an integer ignore_index: pixel maps) or mmdet's (ignore_index None) ---- */
static int run_cross_entropy(hid_t f, golden_result *r) {
    double v;
    float lw, avg;
    int red = LOSS_MEAN;
    if (attr_common(f, &lw, &avg) || attr_reduction(f, &red)) return -1;
    int k = attr_num(f, "use_sigmoid", &v, 1);
    if (k < 0) return -1;
    if (k && v != 0) return err_set("cross_entropy: use_sigmoid = %g (the sigmoid form is op binary_cross_entropy)", v);
    double ii;
    int seg = attr_num(f, "ignore_index", &ii, 1);
    if (seg < 0) return -1;
    float *cw = NULL;
    double cwd[256];
    int ncw = h5_attr_f64(f, "/", "class_weight", cwd, 256);
    err_clear();
    graph g;
    graph_init(&g, 1 << 20);
    int rc = -1, *labels = NULL;
    float *weight = NULL;
    int64_t nl = 0, nw = 0;
    const char *xname = seg ? "pred" : "cls_score";
    char path[64];
    snprintf(path, sizeof path, "inputs/%s", xname);
    tensor *x = golden_input(&g, f, path);
    if (!x) goto done;
    if (x->ndim < 2) {
        err_set("%s: (n, C, ...) expected", path);
        goto done;
    }
    int C = x->shape[1];
    if (ncw > 0) {
        if (ncw != C) {
            err_set("root attribute 'class_weight': %d values for %d classes", ncw, C);
            goto done;
        }
        cw = xmalloc(sizeof(float) * C);
        for (int c = 0; c < C; c++) cw[c] = (float)cwd[c];
    }
    tensor *out[2];
    int no = has_none(f) ? 2 : 1;
    if (seg) {
        if (!(labels = read_int(f, "inputs/label", &nl)) || check_count("inputs/label", nl, x->n / C)) goto done;
        for (int64_t i = 0; i < nl; i++)
            if (labels[i] != (int)ii && (labels[i] < 0 || labels[i] >= C)) {
                err_set("inputs/label[%lld] = %d: neither in [0, %d) nor ignore_index %d", (long long)i, labels[i], C, (int)ii);
                goto done;
            }
        for (k = 0; k < no; k++) out[k] = op_cross_entropy_seg_ex(&g, x, labels, (int)ii, cw, avg, k ? LOSS_NONE : red, lw);
    } else {
        if (cw) {
            err_set("cross_entropy (mmdet form): class_weight is not supported");
            goto done;
        }
        if (x->ndim != 2) {
            err_set("%s: (n, K) expected", path);
            goto done;
        }
        if (!(labels = read_int(f, "inputs/labels", &nl)) || check_count("inputs/labels", nl, x->shape[0])) goto done;
        for (int64_t i = 0; i < nl; i++)
            if (labels[i] < 0 || labels[i] >= C) {
                err_set("inputs/labels[%lld] = %d outside [0, %d)", (long long)i, labels[i], C);
                goto done;
            }
        if (h5_exists(f, "inputs/weight") &&
            (!(weight = read_float(f, "inputs/weight", &nw)) || check_count("inputs/weight", nw, x->shape[0])))
            goto done;
        for (k = 0; k < no; k++) out[k] = op_cross_entropy_mmdet_ex(&g, x, labels, weight, avg, k ? LOSS_NONE : red, lw);
    }
    rc = finish(f, r, &g, x, xname, out, out_names, no);
done:
    free(labels);
    free(weight);
    free(cw);
    graph_free(&g);
    return rc;
}

/* ---- binary_cross_entropy (mmdet use_sigmoid=True) ---- */
static int run_bce(hid_t f, golden_result *r) {
    double v;
    float lw, avg;
    int red = LOSS_MEAN;
    if (attr_common(f, &lw, &avg) || attr_reduction(f, &red)) return -1;
    double cwd[4];
    if (h5_attr_f64(f, "/", "class_weight", cwd, 4) > 0) return err_set("binary_cross_entropy: class_weight is not supported");
    err_clear();
    graph g;
    graph_init(&g, 1 << 20);
    int rc = -1, *labels = NULL;
    float *weight = NULL;
    int64_t nl = 0, nw = 0;
    tensor *x = golden_input(&g, f, "inputs/pred");
    if (!x) goto done;
    if (x->ndim != 2) {
        err_set("inputs/pred: (n, C) expected");
        goto done;
    }
    if (h5_attr_f64(f, "/", "num_classes", &v, 1) == 1 && (int)v != x->shape[1]) {
        err_set("inputs/pred: %d channels, num_classes %g", x->shape[1], v);
        goto done;
    }
    err_clear();
    if (!(labels = read_int(f, "inputs/labels", &nl)) || check_count("inputs/labels", nl, x->shape[0])) goto done;
    if (h5_exists(f, "inputs/weight") &&
        (!(weight = read_float(f, "inputs/weight", &nw)) || check_count("inputs/weight", nw, x->shape[0])))
        goto done;
    tensor *out[2];
    int no = has_none(f) ? 2 : 1;
    for (int k = 0; k < no; k++) out[k] = op_binary_cross_entropy_mmdet_ex(&g, x, labels, weight, avg, k ? LOSS_NONE : red, lw);
    rc = finish(f, r, &g, x, "pred", out, out_names, no);
done:
    free(labels);
    free(weight);
    graph_free(&g);
    return rc;
}

/* ---- mask_cross_entropy ---- */
static int run_mask_ce(hid_t f, golden_result *r) {
    float lw;
    int red = LOSS_MEAN;
    if (attr_common(f, &lw, NULL) || attr_reduction(f, &red)) return -1;
    if (red != LOSS_MEAN) return err_set("mask_cross_entropy: only reduction 'mean' exists (mmdet asserts it)");
    double v;
    if (attr_num(f, "avg_factor", &v, 1) != 0) return err_set("mask_cross_entropy: avg_factor must be None (mmdet asserts it)");
    graph g;
    graph_init(&g, 1 << 20);
    int rc = -1, *labels = NULL;
    float *targets = NULL;
    int64_t nl = 0, nt = 0;
    tensor *x = golden_input(&g, f, "inputs/mask_pred");
    if (!x) goto done;
    if (x->ndim < 2) {
        err_set("inputs/mask_pred: (n, C, S, S) expected");
        goto done;
    }
    if (!(labels = read_int(f, "inputs/labels", &nl)) || check_count("inputs/labels", nl, x->shape[0])) goto done;
    for (int64_t i = 0; i < nl; i++)
        if (labels[i] < 0 || labels[i] >= x->shape[1]) {
            err_set("inputs/labels[%lld] = %d outside [0, %d)", (long long)i, labels[i], x->shape[1]);
            goto done;
        }
    if (!(targets = read_float(f, "inputs/mask_targets", &nt)) || check_count("inputs/mask_targets", nt, x->n / x->shape[1]))
        goto done;
    tensor *out[1] = {op_mask_cross_entropy(&g, x, targets, labels, lw)};
    rc = finish(f, r, &g, x, "mask_pred", out, out_names, 1);
done:
    free(labels);
    free(targets);
    graph_free(&g);
    return rc;
}

/* ---- seg_decode_loss: mmseg 0.11 BaseDecodeHead.losses (models/seg/uper_head.c seg_decode_loss): resize the
 * low-resolution seg_logit to the label size (bilinear, align_corners False), CE with ignore_index over all
 * pixels, times loss_weight; acc_seg (no loss weight) compared as an output ---- */
static int run_seg_decode_loss(hid_t f, golden_result *r) {
    float lw;
    double ii, ac = 0, v;
    if (attr_common(f, &lw, NULL) || attr_req(f, "ignore_index", &ii)) return -1;
    int k = attr_num(f, "align_corners", &ac, 1);
    if (k < 0) return -1;
    if (k && ac != 0) return err_set("seg_decode_loss: align_corners = 1 is not implemented (mmseg's UperNet uses False)");
    char s[64];
    if (!h5_attr_str(f, "/", "sampler", s, sizeof s) && strcmp(s, "None")) return err_set("seg_decode_loss: sampler %s is not implemented", s);
    err_clear();
    if (attr_num(f, "use_sigmoid", &v, 1) == 1 && v != 0) return err_set("seg_decode_loss: use_sigmoid is not implemented");
    err_clear();
    graph g;
    graph_init(&g, 1 << 22);
    int rc = -1, *label = NULL;
    int nd;
    int64_t sh[8], nl = 0;
    tensor *x = golden_input(&g, f, "inputs/seg_logit");
    if (!x) goto done;
    if (x->ndim != 4) {
        err_set("inputs/seg_logit: (N, C, h, w) expected");
        goto done;
    }
    int64_t *lab = h5_read_i64(f, "inputs/seg_label", &nd, sh); /* (N, 1, H, W) as the head receives it */
    if (!lab) goto done;
    free(lab);
    if (nd != 4 || sh[0] != x->shape[0] || sh[1] != 1) {
        err_set("inputs/seg_label: (N, 1, H, W) with N = %d expected", x->shape[0]);
        goto done;
    }
    int H = (int)sh[2], W = (int)sh[3], C = x->shape[1];
    if (!(label = read_int(f, "inputs/seg_label", &nl))) goto done;
    for (int64_t i = 0; i < nl; i++)
        if (label[i] != (int)ii && (label[i] < 0 || label[i] >= C)) {
            err_set("inputs/seg_label[%lld] = %d: neither in [0, %d) nor ignore_index %d", (long long)i, label[i], C, (int)ii);
            goto done;
        }
    double acc = 0;
    tensor *loss = seg_decode_loss(&g, x, label, H, W, (int)ii, lw, &acc);
    float accf = (float)acc;
    if (golden_compare(f, r, "outputs", GOLDEN_TOL_OUT, "outputs/acc_seg", &accf, 1)) goto done;
    tensor *out[1] = {loss};
    rc = finish(f, r, &g, x, "seg_logit", out, (const char *const[]){"loss_seg"}, 1);
done:
    free(label);
    graph_free(&g);
    return rc;
}

const golden_op_entry golden_ops_loss[] = {
    {"seg_decode_loss", run_seg_decode_loss},
    {"sigmoid_focal_loss", run_focal},
    {"l1_loss", run_l1},
    {"smooth_l1_loss", run_smooth_l1},
    {"giou_loss", run_giou},
    {"cross_entropy", run_cross_entropy},
    {"binary_cross_entropy", run_bce},
    {"mask_cross_entropy", run_mask_ce},
    {NULL, NULL},
};
