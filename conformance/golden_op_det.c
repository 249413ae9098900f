/* golden_op_det.c - golden-op/1 handlers for the detection building blocks (anchors, assigner, box coder,
 * NMS). Every configuration value comes from the file's root attributes; floats are compared in "outputs" /
 * "intermediates" / "grads/inputs", integer results exactly in "outputs/int". */
#include "golden_op.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "../models/det/anchor_generator.h"
#include "../models/det/bbox_coder.h"
#include "../models/det/max_iou_assigner.h"
#include "../models/det/nms.h"

#define INT_GROUP "outputs/int"

/* ---- small readers ---- */

/* 1 when the root attribute exists and is not the string "None" (mmdet's None settings). */
static int attr_given(hid_t f, const char *name) {
    char s[16];
    if (h5_attr_str(f, "/", name, s, sizeof s) == 0) {
        err_clear();
        return strcmp(s, "None") != 0;
    }
    err_clear();
    double v[1];
    int k = h5_attr_f64(f, "/", name, v, 1);
    err_clear();
    return k >= 0;
}

/* A required numeric attribute list: count (<= max) or -1 with a message naming it. */
static int attr_nums(hid_t f, const char *name, double *out, int max) {
    int k = h5_attr_f64(f, "/", name, out, max);
    if (k < 0) return err_prefix("attribute '%s'", name);
    return k;
}

static int attr_num(hid_t f, const char *name, double *out) {
    int k = attr_nums(f, name, out, 1);
    if (k < 0) return -1;
    if (k != 1) return err_set("attribute '%s': expected one number", name);
    return 0;
}

/* An optional number: *out keeps its default when the attribute is absent or "None". */
static int attr_num_opt(hid_t f, const char *name, double *out) {
    if (!attr_given(f, name)) return 0;
    return attr_num(f, name, out);
}

/* dataset as float32 with its element count and shape */
static float *read_f32(hid_t f, const char *path, int *nd, int64_t *sh, int64_t *count) {
    float *v = h5_read_f32(f, path, nd, sh);
    if (!v) return NULL;
    int64_t c = 1;
    for (int i = 0; i < *nd; i++) c *= sh[i];
    *count = c;
    return v;
}

static int64_t *read_i64(hid_t f, const char *path, int *nd, int64_t *sh, int64_t *count) {
    int64_t *v = h5_read_i64(f, path, nd, sh);
    if (!v) return NULL;
    int64_t c = 1;
    for (int i = 0; i < *nd; i++) c *= sh[i];
    *count = c;
    return v;
}

/* integer results compared exactly */
static int compare_ints(hid_t f, golden_result *r, const char *path, const int *x, int64_t n) {
    int nd;
    int64_t sh[8], c;
    int64_t *ref = read_i64(f, path, &nd, sh, &c);
    if (!ref) return -1;
    free(ref);
    if (c != n) { /* a wrong count (NMS keeping more or fewer boxes) is a failed comparison, not an error */
        golden_record(r, INT_GROUP, 0.0, path, 1.0);
        size_t l = strlen(r->problem);
        snprintf(r->problem + l, sizeof r->problem - l, " (%lld values, reference %lld)", (long long)n, (long long)c);
        return 0;
    }
    int64_t *w = xmalloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) w[i] = x[i];
    int rc = golden_compare_i64(f, r, INT_GROUP, path, w, n);
    free(w);
    return rc;
}

/* ---- anchor_generator: mmdet AnchorGenerator (base anchors, grid anchors, valid flags per image) ---- */

#define ANCHOR_TOL 1e-6

static int run_anchor_generator(hid_t f, golden_result *r) {
    int nd, rc = 0;
    int64_t sh[8], nfs, nps;
    int64_t *fs = read_i64(f, "inputs/featmap_sizes", &nd, sh, &nfs);
    if (!fs) return -1;
    int L = nd == 2 && sh[1] == 2 ? (int)sh[0] : -1;
    int64_t *ps = read_i64(f, "inputs/pad_shapes", &nd, sh, &nps);
    int B = ps && nd == 2 && sh[1] >= 2 ? (int)sh[0] : -1, pcol = ps ? (int)sh[1] : 0;
    double strides[2 * ANCHOR_MAX_LEVELS], bases[2 * ANCHOR_MAX_LEVELS], ratios[ANCHOR_MAX_BASE], scales_d[ANCHOR_MAX_BASE];
    double v, center_offset = 0, scale_major = 1;
    float fstr[ANCHOR_MAX_LEVELS], fbase[ANCHOR_MAX_LEVELS], fr[ANCHOR_MAX_BASE], fsc[ANCHOR_MAX_BASE];
    int nr = 0, ns = 0, have_base = 0;
    if (!ps) rc = -1;
    else if (L < 1 || L > ANCHOR_MAX_LEVELS || B < 0)
        rc = err_set("inputs/featmap_sizes must be (L <= %d, 2) and inputs/pad_shapes (B, 2)", ANCHOR_MAX_LEVELS);
    if (!rc) {
        int k = attr_nums(f, "strides", strides, 2 * ANCHOR_MAX_LEVELS);
        if (k < 0) rc = -1;
        else if (k != L) rc = err_set("attribute 'strides': %d values for %d levels (square strides only)", k, L);
    }
    if (!rc && attr_given(f, "base_sizes")) {
        int k = attr_nums(f, "base_sizes", bases, 2 * ANCHOR_MAX_LEVELS);
        if (k < 0) rc = -1;
        else if (k != L) rc = err_set("attribute 'base_sizes': %d values for %d levels", k, L);
        have_base = 1;
    }
    if (!rc) {
        nr = attr_nums(f, "ratios", ratios, ANCHOR_MAX_BASE);
        if (nr < 1) rc = nr < 0 ? -1 : err_set("attribute 'ratios' is empty");
    }
    if (!rc) { /* mmdet: scales, or octave_base_scale * 2^(k / scales_per_octave) */
        if (attr_given(f, "octave_base_scale")) {
            double spo;
            rc = attr_num(f, "octave_base_scale", &v);
            if (!rc) rc = attr_num(f, "scales_per_octave", &spo);
            if (!rc) {
                if (spo < 1 || spo > ANCHOR_MAX_BASE) rc = err_set("attribute 'scales_per_octave' = %g", spo);
                else ns = anchor_octave_scales(v, (int)spo, fsc, ANCHOR_MAX_BASE);
            }
        } else {
            ns = attr_nums(f, "scales", scales_d, ANCHOR_MAX_BASE);
            if (ns < 1) rc = ns < 0 ? -1 : err_set("attribute 'scales' is empty");
            for (int i = 0; i < ns; i++) fsc[i] = (float)scales_d[i];
        }
    }
    if (!rc) rc = attr_num_opt(f, "scale_major", &scale_major);
    if (!rc) rc = attr_num_opt(f, "center_offset", &center_offset);
    if (!rc && attr_given(f, "centers")) rc = err_set("attribute 'centers': explicit centers are not supported");
    anchor_gen a;
    if (!rc) {
        for (int l = 0; l < L; l++) fstr[l] = (float)strides[l], fbase[l] = have_base ? (float)bases[l] : 0;
        for (int i = 0; i < nr; i++) fr[i] = (float)ratios[i];
        rc = anchor_gen_init(&a, L, fstr, have_base ? fbase : NULL, fr, nr, fsc, ns, scale_major != 0, (float)center_offset);
    }
    if (!rc && attr_given(f, "num_base_anchors") && attr_num(f, "num_base_anchors", &v) == 0 && (int)v != a.n_base)
        rc = err_set("num_base_anchors %g, the configuration gives %d", v, a.n_base);
    char path[128];
    /* float outputs first (group tolerance ANCHOR_TOL), then the flags */
    for (int l = 0; l < L && !rc; l++) {
        snprintf(path, sizeof path, "outputs/base_anchors_l%d", l);
        rc = golden_compare(f, r, "outputs", ANCHOR_TOL, path, a.base[l], (int64_t)a.n_base * 4);
        int H = (int)fs[2 * l], W = (int)fs[2 * l + 1];
        int64_t na = (int64_t)H * W * a.n_base;
        float *anc = xmalloc(sizeof(float) * 4 * (size_t)(na ? na : 1));
        anchor_gen_grid(&a, l, H, W, anc);
        snprintf(path, sizeof path, "outputs/anchors_l%d", l);
        if (!rc) rc = golden_compare(f, r, "outputs", ANCHOR_TOL, path, anc, na * 4);
        free(anc);
    }
    for (int l = 0; l < L && !rc; l++) {
        int H = (int)fs[2 * l], W = (int)fs[2 * l + 1];
        int64_t na = (int64_t)H * W * a.n_base;
        uint8_t *vf = xmalloc((size_t)(na ? na : 1));
        int *vi = xmalloc(sizeof(int) * (size_t)(na ? na : 1));
        for (int b = 0; b < B && !rc; b++) {
            anchor_gen_valid(&a, l, H, W, (int)ps[b * pcol], (int)ps[b * pcol + 1], vf);
            for (int64_t i = 0; i < na; i++) vi[i] = vf[i];
            snprintf(path, sizeof path, "outputs/valid_flags_img%d_l%d", b, l);
            rc = compare_ints(f, r, path, vi, na);
        }
        free(vf);
        free(vi);
    }
    free(fs);
    free(ps);
    return rc;
}

/* ---- max_iou_assigner: mmdet MaxIoUAssigner.assign (inputs/gt_bboxes_ignore used with ignore_iof_thr > 0) ---- */

static int run_max_iou_assigner(hid_t f, golden_result *r) {
    max_iou_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    double v[2];
    int rc = 0, k;
    if (attr_num(f, "pos_iou_thr", v)) return -1;
    cfg.pos_iou_thr = (float)v[0];
    k = attr_nums(f, "neg_iou_thr", v, 2); /* a number, or mmdet's (lo, hi) tuple */
    if (k < 1) return k < 0 ? -1 : err_set("attribute 'neg_iou_thr' is empty");
    if (k == 2) cfg.neg_iou_min = (float)v[0], cfg.neg_iou_thr = (float)v[1];
    else cfg.neg_iou_min = 0.0f, cfg.neg_iou_thr = (float)v[0];
    v[0] = 0;
    if (attr_num_opt(f, "min_pos_iou", v)) return -1;
    cfg.min_pos_iou = (float)v[0];
    v[0] = 1;
    if (attr_num_opt(f, "gt_max_assign_all", v)) return -1;
    cfg.gt_max_assign_all = v[0] != 0;
    v[0] = 1;
    if (attr_num_opt(f, "match_low_quality", v)) return -1;
    cfg.match_low_quality = v[0] != 0;
    double iof_thr = -1, wrt = 1;
    if (attr_num_opt(f, "ignore_iof_thr", &iof_thr) || attr_num_opt(f, "ignore_wrt_candidates", &wrt)) return -1;

    int nd;
    int64_t sh[8], nb, ng, nl;
    float *bboxes = read_f32(f, "inputs/bboxes", &nd, sh, &nb);
    float *gts = bboxes ? read_f32(f, "inputs/gt_bboxes", &nd, sh, &ng) : NULL;
    int64_t *gl = NULL;
    if (!gts) rc = -1;
    if (!rc && h5_exists(f, "inputs/gt_labels")) {
        gl = read_i64(f, "inputs/gt_labels", &nd, sh, &nl);
        if (!gl) rc = -1;
        else if (nl != ng / 4) rc = err_set("inputs/gt_labels: %lld labels for %lld gts", (long long)nl, (long long)(ng / 4));
    }
    float *ign = NULL; /* gt_bboxes_ignore, when the file has them */
    int64_t nig = 0;
    if (!rc && h5_exists(f, "inputs/gt_bboxes_ignore")) {
        ign = read_f32(f, "inputs/gt_bboxes_ignore", &nd, sh, &nig);
        if (!ign) rc = -1;
        else if (nig % 4) rc = err_set("inputs/gt_bboxes_ignore must be (k, 4)");
    }
    if (!rc && (nb % 4 || ng % 4)) rc = err_set("inputs/bboxes and inputs/gt_bboxes must be (n, 4)");
    if (rc) {
        free(bboxes), free(gts), free(gl), free(ign);
        return -1;
    }
    int n = (int)(nb / 4), m = (int)(ng / 4);
    int *labels_in = xmalloc(sizeof(int) * (size_t)(m ? m : 1));
    for (int i = 0; i < m; i++) labels_in[i] = gl ? (int)gl[i] : -1;
    size_t nmn = (size_t)m * n;
    float *iou = xmalloc(sizeof(float) * (nmn ? nmn : 1));
    int *gt_inds = xmalloc(sizeof(int) * (size_t)(n ? n : 1)), *labels = xmalloc(sizeof(int) * (size_t)(n ? n : 1));
    float *maxo = xmalloc(sizeof(float) * (size_t)(n ? n : 1));
    bbox_overlaps_f32(bboxes, n, gts, m, iou);
    int *check = xmalloc(sizeof(int) * (size_t)(n ? n : 1));
    if (ign && iof_thr > 0)
        max_iou_assign_ignore(&cfg, bboxes, n, gts, gl ? labels_in : NULL, m, ign, (int)(nig / 4), (float)iof_thr, wrt != 0, gt_inds,
                              maxo, labels);
    else {
        max_iou_assign(&cfg, bboxes, n, gts, gl ? labels_in : NULL, m, gt_inds, maxo, labels);
        /* the assignment from the IoU matrix computed above must be the same */
        max_iou_assign_overlaps(&cfg, m && n ? iou : NULL, n, NULL, m, check, NULL, NULL);
        for (int j = 0; j < n && !rc; j++)
            if (check[j] != gt_inds[j]) rc = err_set("max_iou_assign and max_iou_assign_overlaps disagree at bbox %d", j);
    }
    if (!rc) rc = golden_compare(f, r, "outputs", GOLDEN_TOL_OUT, "outputs/max_overlaps", maxo, n);
    if (!rc && h5_exists(f, "intermediates/overlaps"))
        rc = golden_compare(f, r, "intermediates", GOLDEN_TOL_OUT, "intermediates/overlaps", iou, (int64_t)m * n);
    if (!rc) rc = compare_ints(f, r, "outputs/gt_inds", gt_inds, n);
    if (!rc && h5_exists(f, "outputs/labels")) rc = compare_ints(f, r, "outputs/labels", labels, n);
    free(check), free(maxo), free(labels), free(gt_inds), free(iou), free(labels_in);
    free(bboxes), free(gts), free(gl), free(ign);
    return rc;
}

/* ---- delta_xywh_coder: DeltaXYWHBBoxCoder encode and decode, gradient of the decode w.r.t. deltas ---- */

static int run_delta_coder(hid_t f, golden_result *r) {
    delta_coder c;
    delta_coder_default(&c);
    double v[4];
    int rc = 0, k;
    if (attr_given(f, "target_means")) {
        if ((k = attr_nums(f, "target_means", v, 4)) != 4) return k < 0 ? -1 : err_set("attribute 'target_means' needs 4 values");
        for (int i = 0; i < 4; i++) c.means[i] = (float)v[i];
    }
    if (attr_given(f, "target_stds")) {
        if ((k = attr_nums(f, "target_stds", v, 4)) != 4) return k < 0 ? -1 : err_set("attribute 'target_stds' needs 4 values");
        for (int i = 0; i < 4; i++) c.stds[i] = (float)v[i];
    }
    v[0] = c.wh_ratio_clip;
    if (attr_num_opt(f, "wh_ratio_clip", v)) return -1;
    c.wh_ratio_clip = (float)v[0];
    v[0] = 1;
    if (attr_num_opt(f, "clip_border", v)) return -1;
    c.clip_border = v[0] != 0;

    int nd, ndd, ndr;
    int64_t sh[8], shd[8], shr[8], np, ng, nr, ndl, nms_ = 0;
    float *props = read_f32(f, "inputs/proposals", &nd, sh, &np);
    float *gts = props ? read_f32(f, "inputs/gt_bboxes", &nd, sh, &ng) : NULL;
    float *rois = gts ? read_f32(f, "inputs/rois", &ndr, shr, &nr) : NULL;
    float *deltas = rois ? read_f32(f, "inputs/deltas", &ndd, shd, &ndl) : NULL;
    float *ms = NULL;
    if (!deltas) rc = -1;
    if (!rc && h5_exists(f, "inputs/max_shape")) {
        ms = read_f32(f, "inputs/max_shape", &nd, sh, &nms_);
        if (!ms) rc = -1;
    }
    /* rois (..., n, 4), deltas (..., n, 4k): the leading dimensions are images, each with its max_shape */
    int n = 0, kk = 0, B = 1;
    if (!rc) {
        if (np != ng || np % 4 || ndr < 2 || ndd != ndr || shr[ndr - 1] != 4 || shd[ndd - 1] % 4)
            rc = err_set("inputs: proposals/gt_bboxes (n, 4), rois (..., n, 4) and deltas (..., n, 4k) expected");
        else {
            n = (int)shr[ndr - 2];
            kk = (int)(shd[ndd - 1] / 4);
            for (int i = 0; i < ndr - 2; i++) B *= (int)shr[i];
            if ((int64_t)B * n * 4 != nr || (int64_t)B * n * 4 * kk != ndl) rc = err_set("inputs/rois and inputs/deltas disagree in shape");
            else if (ms && nms_ != 2 && nms_ != 2 * B) rc = err_set("inputs/max_shape: %lld values for %d images", (long long)nms_, B);
        }
    }
    if (!rc && attr_given(f, "num_classes_in_deltas") && attr_num(f, "num_classes_in_deltas", v) == 0 && (int)v[0] != kk)
        rc = err_set("num_classes_in_deltas %g, deltas have %d boxes per roi", v[0], kk);
    float *enc = NULL, *dec = NULL, *R = NULL, *grad = NULL;
    if (!rc) {
        enc = xmalloc(sizeof(float) * (size_t)(np ? np : 1));
        delta_encode(&c, props, gts, (int)(np / 4), enc);
        rc = golden_compare(f, r, "outputs", GOLDEN_TOL_OUT, "outputs/encoded", enc, np);
    }
    if (!rc) {
        dec = xmalloc(sizeof(float) * (size_t)(ndl ? ndl : 1));
        for (int b = 0; b < B; b++) {
            float mh = 0, mw = 0;
            if (ms) mh = ms[nms_ == 2 ? 0 : 2 * b], mw = ms[nms_ == 2 ? 1 : 2 * b + 1];
            size_t o = (size_t)b * n * 4 * kk;
            delta_decode(&c, rois + (size_t)b * n * 4, deltas + o, n, kk, mh, mw, dec + o);
        }
        rc = golden_compare(f, r, "outputs", GOLDEN_TOL_OUT, "outputs/decoded", dec, ndl);
    }
    if (!rc && h5_exists(f, "loss_weights/decoded")) {
        int64_t nR;
        R = read_f32(f, "loss_weights/decoded", &nd, sh, &nR);
        if (!R) rc = -1;
        else if (nR != ndl) rc = err_set("loss_weights/decoded: %lld values, decoded has %lld", (long long)nR, (long long)ndl);
        double loss = 0;
        for (int64_t i = 0; i < ndl && !rc; i++) loss += (double)dec[i] * R[i];
        r->loss = loss;
        if (!rc) {
            grad = xcalloc((size_t)(ndl ? ndl : 1), sizeof(float));
            for (int b = 0; b < B; b++) {
                float mh = 0, mw = 0;
                if (ms) mh = ms[nms_ == 2 ? 0 : 2 * b], mw = ms[nms_ == 2 ? 1 : 2 * b + 1];
                size_t o = (size_t)b * n * 4 * kk;
                delta_decode_bwd(&c, rois + (size_t)b * n * 4, deltas + o, n, kk, mh, mw, R + o, grad + o);
            }
            rc = golden_compare(f, r, "grads/inputs", GOLDEN_TOL_GRAD, "grads/inputs/deltas", grad, ndl);
        }
    }
    free(props), free(gts), free(rois), free(deltas), free(ms), free(enc), free(dec), free(R), free(grad);
    return rc;
}

/* ---- nms / batched_nms: torchvision.ops.nms / batched_nms ---- */

static int run_nms_common(hid_t f, golden_result *r, int batched) {
    double thr;
    if (attr_num(f, "iou_threshold", &thr)) return -1;
    int nd, rc = 0;
    int64_t sh[8], nb, ns, ni;
    float *boxes = read_f32(f, "inputs/boxes", &nd, sh, &nb);
    float *scores = boxes ? read_f32(f, "inputs/scores", &nd, sh, &ns) : NULL;
    int64_t *idx64 = NULL;
    if (!scores) rc = -1;
    if (!rc && batched) {
        idx64 = read_i64(f, "inputs/idxs", &nd, sh, &ni);
        if (!idx64) rc = -1;
        else if (ni != ns) rc = err_set("inputs/idxs: %lld values for %lld boxes", (long long)ni, (long long)ns);
    }
    if (!rc && nb != 4 * ns) rc = err_set("inputs/boxes must be (n, 4) with n = %lld scores", (long long)ns);
    int n = (int)ns;
    int *idxs = NULL, *keep = NULL;
    if (!rc) {
        keep = xmalloc(sizeof(int) * (size_t)(n ? n : 1));
        if (batched) {
            idxs = xmalloc(sizeof(int) * (size_t)(n ? n : 1));
            for (int i = 0; i < n; i++) idxs[i] = (int)idx64[i];
        }
        int nk = nms_run(boxes, scores, idxs, n, thr, keep);
        rc = compare_ints(f, r, "outputs/keep", keep, nk);
    }
    free(boxes), free(scores), free(idx64), free(idxs), free(keep);
    return rc;
}

static int run_nms(hid_t f, golden_result *r) { return run_nms_common(f, r, 0); }
static int run_batched_nms(hid_t f, golden_result *r) { return run_nms_common(f, r, 1); }

const golden_op_entry golden_ops_det[] = {
    {"anchor_generator", run_anchor_generator},
    {"max_iou_assigner", run_max_iou_assigner},
    {"delta_xywh_coder", run_delta_coder},
    {"nms", run_nms},
    {"batched_nms", run_batched_nms},
    {NULL, NULL},
};
