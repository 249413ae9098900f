/* golden_op_head.c - golden-op/1 handlers for whole necks and heads: the FPN (models/fpn.c), RetinaHead
 * (models/det/retina_head.c) and UPerHead (models/seg/uper_head.c), built from the configuration in the file's attributes, run forward and
 * backward with the file's objective, every output, gradient and learning target compared. */
#include "golden_op.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../models/det/retina_head.h"
#include "../core/ops.h"
#include "../models/fpn.h"
#include "../models/seg/uper_head.h"

static int attr_int(hid_t f, const char *name, int *v) {
    int64_t x;
    if (h5_attr_i64(f, "/", name, &x, 1) != 1) return err_set("attribute '%s' missing or not an integer", name);
    *v = (int)x;
    return 0;
}

/* an optional integer attribute: *v keeps its value when absent */
static void attr_int_opt(hid_t f, const char *name, int *v) {
    if (attr_int(f, name, v)) err_clear();
}

/* the attribute must be the string "None" when present (a norm or activation this handler does not build) */
static int attr_none(hid_t f, const char *name) {
    char s[256];
    if (h5_attr_str(f, "/", name, s, sizeof s)) {
        err_clear();
        return 0; /* absent: the default (none) */
    }
    if (strcmp(s, "None")) return err_set("attribute %s = %s: only None is supported by this handler", name, s);
    return 0;
}

/* ---- FPN ---- */
static int run_fpn(hid_t f, golden_result *r) {
    fpn_config c = {0};
    int64_t inch[FPN_MAX_LEVELS];
    int n = h5_attr_i64(f, "/", "in_channels", inch, FPN_MAX_LEVELS);
    if (n < 1) return err_set("attribute 'in_channels' missing");
    int start = 0, end = -1, relu = 0;
    if (attr_int(f, "out_channels", &c.out_channels) || attr_int(f, "num_outs", &c.num_outs)) return -1;
    attr_int_opt(f, "start_level", &start);
    attr_int_opt(f, "end_level", &end);
    attr_int_opt(f, "relu_before_extra_convs", &relu);
    if (attr_none(f, "norm_cfg") || attr_none(f, "act_cfg")) return -1;
    int stop = end < 0 ? n : end + 1; /* mmdet: end_level -1 = all levels, else levels start..end */
    if (start < 0 || start >= stop || stop > n) return err_set("start_level %d, end_level %d with %d inputs", start, end, n);
    c.n_in = stop - start;
    for (int i = 0; i < c.n_in; i++) c.in_channels[i] = (int)inch[start + i];
    c.relu_before_extra_convs = relu;
    char ex[64] = "none";
    if (h5_attr_str(f, "/", "add_extra_convs", ex, sizeof ex)) err_clear();
    if (fpn_extra_parse(ex, &c.extra)) return -1;
    if (c.num_outs < c.n_in || c.num_outs > FPN_MAX_LEVELS) return err_set("num_outs %d with %d levels", c.num_outs, c.n_in);
    params ps;
    params_init(&ps);
    fpn net;
    fpn_declare(&net, &ps, &c, "");
    params_alloc(&ps);
    int rc = golden_load_params(f, &ps);
    graph g;
    graph_init(&g, 16 << 20);
    tensor *x[FPN_MAX_LEVELS] = {0}, *out[FPN_MAX_LEVELS] = {0};
    char path[128];
    for (int i = 0; i < n && !rc; i++) {
        snprintf(path, sizeof path, "inputs/x%d", i);
        if (!(x[i] = golden_input(&g, f, path))) rc = -1;
    }
    double loss = 0;
    if (!rc) {
        fpn_forward(&net, &g, x + start, out);
        for (int i = 0; i < c.num_outs && !rc; i++) {
            snprintf(path, sizeof path, "outputs/out%d", i);
            rc = golden_compare(f, r, "outputs", GOLDEN_TOL_OUT, path, out[i]->data, out[i]->n);
            snprintf(path, sizeof path, "loss_weights/out%d", i);
            if (!rc) rc = golden_seed_loss(&g, f, path, out[i], &loss);
        }
    }
    r->loss = loss;
    if (!rc) {
        graph_backward(&g);
        for (int i = start; i < stop && !rc; i++) {
            snprintf(path, sizeof path, "grads/inputs/x%d", i);
            rc = golden_compare(f, r, "grads/inputs", GOLDEN_TOL_GRAD, path, x[i]->grad, x[i]->n);
        }
    }
    if (!rc) rc = golden_compare_param_grads(f, &ps, r);
    graph_free(&g);
    params_free(&ps);
    return rc;
}

/* ---- RetinaHead ---- */
static cJSON *attr_json(hid_t f, const char *name) {
    static char s[4096];
    if (h5_attr_str(f, "/", name, s, sizeof s)) return NULL;
    cJSON *j = cJSON_Parse(s);
    if (!j) err_set("attribute %s: not JSON: %.80s", name, s);
    return j;
}

static double jnum(const cJSON *o, const char *k, double def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : cJSON_IsBool(v) ? cJSON_IsTrue(v) : def;
}

static int jarr(const cJSON *o, const char *k, float *out, int max) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsArray(a)) return -1;
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) if (n < max) out[n++] = (float)e->valuedouble;
    return n;
}

/* mmdet AnchorGenerator(strides, ratios, scales | octave_base_scale + scales_per_octave, base_sizes,
 * scale_major, center_offset) from its config dict */
static int anchors_from_json(anchor_gen *a, const cJSON *j) {
    float strides[ANCHOR_MAX_LEVELS], ratios[16], scales[16], base[ANCHOR_MAX_LEVELS];
    int ns = jarr(j, "strides", strides, ANCHOR_MAX_LEVELS), nr = jarr(j, "ratios", ratios, 16), nsc = jarr(j, "scales", scales, 16);
    int nb = jarr(j, "base_sizes", base, ANCHOR_MAX_LEVELS);
    if (ns < 1 || nr < 1) return err_set("anchor_generator: strides and ratios are needed");
    if (nsc < 1) {
        double obs = jnum(j, "octave_base_scale", -1), spo = jnum(j, "scales_per_octave", -1);
        if (obs <= 0 || spo < 1) return err_set("anchor_generator: neither scales nor octave_base_scale/scales_per_octave");
        nsc = (int)spo;
        for (int i = 0; i < nsc; i++) scales[i] = (float)(pow(2.0, (double)i / spo) * obs);
    }
    return anchor_gen_init(a, ns, strides, nb == ns ? base : NULL, ratios, nr, scales, nsc, (int)jnum(j, "scale_major", 1),
                           (float)jnum(j, "center_offset", 0));
}

static int head_config(hid_t f, retina_head_config *c) {
    int nc = 0, inch = 0, feat = 0, sc = 0;
    if (attr_int(f, "num_classes", &nc) || attr_int(f, "in_channels", &inch) || attr_int(f, "feat_channels", &feat) ||
        attr_int(f, "stacked_convs", &sc))
        return -1;
    retina_head_config_default(c, nc, inch, feat);
    c->stacked_convs = sc;
    if (sc > RETINA_MAX_CONVS) return err_set("stacked_convs %d: at most %d", sc, RETINA_MAX_CONVS);
    if (attr_none(f, "norm_cfg") || attr_none(f, "conv_cfg")) return -1;
    int v = c->allowed_border, rd = 0, pw = -1;
    attr_int_opt(f, "allowed_border", &v);
    c->allowed_border = v;
    attr_int_opt(f, "pos_weight", &pw);
    c->pos_weight = (float)pw;
    attr_int_opt(f, "reg_decoded_bbox", &rd);
    if (rd) return err_set("reg_decoded_bbox = 1 is not supported by RetinaHead here");
    char s[64];
    if (!h5_attr_str(f, "/", "sampler", s, sizeof s) && strcmp(s, "PseudoSampler")) return err_set("sampler %s: RetinaHead uses PseudoSampler", s);
    err_clear();
    cJSON *ag = attr_json(f, "anchor_generator"), *as = attr_json(f, "assigner"), *bc = attr_json(f, "bbox_coder"),
          *lc = attr_json(f, "loss_cls"), *lb = attr_json(f, "loss_bbox");
    int rc = 0;
    if (!ag || !as || !bc || !lc || !lb) rc = -1;
    if (!rc) rc = anchors_from_json(&c->anchors, ag);
    if (!rc) {
        c->assigner.pos_iou_thr = (float)jnum(as, "pos_iou_thr", 0.5);
        c->assigner.neg_iou_thr = (float)jnum(as, "neg_iou_thr", 0.4);
        c->assigner.min_pos_iou = (float)jnum(as, "min_pos_iou", 0);
        c->assigner.gt_max_assign_all = (int)jnum(as, "gt_max_assign_all", 1);
        c->assigner.match_low_quality = (int)jnum(as, "match_low_quality", 1);
        if (jnum(as, "ignore_iof_thr", -1) >= 0) rc = err_set("assigner ignore_iof_thr >= 0 is not supported (no ignored boxes here)");
        float m[4], sd[4];
        if (jarr(bc, "target_means", m, 4) == 4) memcpy(c->coder.means, m, sizeof m);
        if (jarr(bc, "target_stds", sd, 4) == 4) memcpy(c->coder.stds, sd, sizeof sd);
        c->gamma = (float)jnum(lc, "gamma", 2.0), c->alpha = (float)jnum(lc, "alpha", 0.25);
        c->loss_cls_weight = (float)jnum(lc, "loss_weight", 1.0), c->loss_bbox_weight = (float)jnum(lb, "loss_weight", 1.0);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(lb, "type");
        if (!rc && (!cJSON_IsString(t) || strcmp(t->valuestring, "L1Loss"))) rc = err_set("loss_bbox: only L1Loss is supported here");
    }
    cJSON_Delete(ag), cJSON_Delete(as), cJSON_Delete(bc), cJSON_Delete(lc), cJSON_Delete(lb);
    return rc;
}

static int read_i64_pair(hid_t f, const char *path, int *a, int *b) {
    int nd;
    int64_t sh[8];
    int64_t *v = h5_read_i64(f, path, &nd, sh);
    if (!v) return -1;
    *a = (int)v[0], *b = (int)v[1];
    free(v);
    return 0;
}

static int run_retina_head(hid_t f, golden_result *r) {
    retina_head_config hc;
    if (head_config(f, &hc)) return -1;
    params ps;
    params_init(&ps);
    retina_head h;
    retina_head_declare(&h, &ps, &hc, "");
    params_alloc(&ps);
    int rc = golden_load_params(f, &ps);
    graph g;
    graph_init(&g, 32 << 20);
    int L = 0, B = 0;
    char path[128];
    tensor *feat[ANCHOR_MAX_LEVELS] = {0}, *cls[ANCHOR_MAX_LEVELS], *reg[ANCHOR_MAX_LEVELS], *lcl[ANCHOR_MAX_LEVELS], *lbb[ANCHOR_MAX_LEVELS];
    for (; !rc && L < ANCHOR_MAX_LEVELS; L++) {
        snprintf(path, sizeof path, "inputs/feat%d", L);
        if (!h5_exists(f, path)) break;
        if (!(feat[L] = golden_input(&g, f, path))) rc = -1;
    }
    if (!rc && (L < 1 || L > hc.anchors.n_levels)) rc = err_set("%d feature levels for %d anchor levels", L, hc.anchors.n_levels);
    if (!rc) B = feat[0]->shape[0];
    det_img_meta *metas = xcalloc(B ? B : 1, sizeof *metas);
    det_gt *gts = xcalloc(B ? B : 1, sizeof *gts);
    for (int b = 0; b < B && !rc; b++) {
        snprintf(path, sizeof path, "inputs/img_shape%d", b);
        rc = read_i64_pair(f, path, &metas[b].img_h, &metas[b].img_w);
        snprintf(path, sizeof path, "inputs/pad_shape%d", b);
        if (!rc) rc = read_i64_pair(f, path, &metas[b].pad_h, &metas[b].pad_w);
        int nd;
        int64_t sh[8];
        snprintf(path, sizeof path, "inputs/gt_bboxes%d", b);
        if (!rc && !(gts[b].boxes = h5_read_f32(f, path, &nd, sh))) rc = -1;
        if (!rc) gts[b].n = nd == 2 ? (int)sh[0] : 0;
        snprintf(path, sizeof path, "inputs/gt_labels%d", b);
        int64_t *lab = rc ? NULL : h5_read_i64(f, path, &nd, sh);
        if (!rc && !lab) rc = -1;
        if (!rc) {
            gts[b].labels = xmalloc(sizeof(int) * (gts[b].n ? gts[b].n : 1));
            for (int i = 0; i < gts[b].n; i++) gts[b].labels[i] = (int)lab[i];
        }
        free(lab);
    }
    double loss = 0;
    retina_targets t;
    if (!rc) {
        retina_head_forward(&h, &g, feat, L, cls, reg);
        for (int l = 0; l < L && !rc; l++) {
            snprintf(path, sizeof path, "outputs/cls_score%d", l);
            rc = golden_compare(f, r, "outputs", GOLDEN_TOL_OUT, path, cls[l]->data, cls[l]->n);
            snprintf(path, sizeof path, "outputs/bbox_pred%d", l);
            if (!rc) rc = golden_compare(f, r, "outputs", GOLDEN_TOL_OUT, path, reg[l]->data, reg[l]->n);
        }
    }
    if (!rc) rc = retina_head_targets(&h, &g, cls, L, metas, gts, B, &t);
    if (!rc) {
        int64_t n = (int64_t)B * t.total;
        int64_t *lab = xmalloc(sizeof(int64_t) * n);
        for (int64_t i = 0; i < n; i++) lab[i] = t.labels[i];
        rc = golden_compare_i64(f, r, "targets (int)", "intermediates/labels", lab, n);
        free(lab);
        if (!rc) rc = golden_compare(f, r, "intermediates", GOLDEN_TOL_OUT, "intermediates/label_weights", t.label_weights, n);
        if (!rc) rc = golden_compare(f, r, "intermediates", GOLDEN_TOL_OUT, "intermediates/bbox_targets", t.bbox_targets, 4 * n);
        if (!rc) rc = golden_compare(f, r, "intermediates", GOLDEN_TOL_OUT, "intermediates/bbox_weights", t.bbox_weights, 4 * n);
    }
    if (!rc) {
        retina_head_loss(&h, &g, cls, reg, L, &t, lcl, lbb);
        /* the per-level losses as the (L,) vectors of the file */
        float vc[ANCHOR_MAX_LEVELS], vb[ANCHOR_MAX_LEVELS];
        for (int l = 0; l < L; l++) vc[l] = lcl[l]->data[0], vb[l] = lbb[l]->data[0];
        rc = golden_compare(f, r, "outputs", GOLDEN_TOL_OUT, "outputs/loss_cls", vc, L);
        if (!rc) rc = golden_compare(f, r, "outputs", GOLDEN_TOL_OUT, "outputs/loss_bbox", vb, L);
        /* objective sum_l R_cls[l] loss_cls[l] + R_bbox[l] loss_bbox[l]: seed each scalar with its weight */
        int nd;
        int64_t sh[8];
        float *rcl = rc ? NULL : h5_read_f32(f, "loss_weights/loss_cls", &nd, sh);
        float *rbb = rcl ? h5_read_f32(f, "loss_weights/loss_bbox", &nd, sh) : NULL;
        if (!rc && (!rcl || !rbb)) rc = -1;
        for (int l = 0; l < L && !rc; l++) {
            loss += loss_dot_seed(&g, lcl[l], rcl + l);
            loss += loss_dot_seed(&g, lbb[l], rbb + l);
        }
        free(rcl), free(rbb);
    }
    r->loss = loss;
    if (!rc) {
        graph_backward(&g);
        for (int l = 0; l < L && !rc; l++) {
            snprintf(path, sizeof path, "grads/inputs/feat%d", l);
            rc = golden_compare(f, r, "grads/inputs", GOLDEN_TOL_GRAD, path, feat[l]->grad, feat[l]->n);
        }
    }
    if (!rc) rc = golden_compare_param_grads(f, &ps, r);
    for (int b = 0; b < B; b++) free(gts[b].boxes), free(gts[b].labels);
    free(gts), free(metas);
    graph_free(&g);
    params_free(&ps);
    return rc;
}

/* ---- UPerHead ---- */
/* norm_cfg {"type": "BN" | "SyncBN", "eps", "momentum", "training", "requires_grad"} into n and *training */
static int uper_norm_from_json(hid_t f, seg_norm_config *n, int *training) {
    cJSON *j = attr_json(f, "norm_cfg");
    if (!j) return -1;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "type");
    int rc = cJSON_IsString(t) ? seg_norm_config_set(n, t->valuestring) : err_set("norm_cfg: no type");
    if (!rc) {
        n->eps = (float)jnum(j, "eps", 1e-5);
        n->momentum = (float)jnum(j, "momentum", 0.1);
        *training = (int)jnum(j, "training", 1);
        if (!(int)jnum(j, "requires_grad", 1)) rc = err_set("norm_cfg requires_grad false is not implemented");
    }
    cJSON_Delete(j);
    return rc;
}

static int run_uper_head(hid_t f, golden_result *r) {
    uper_head_config c;
    memset(&c, 0, sizeof c);
    int64_t v[UPER_MAX_LEVELS];
    int n_in = h5_attr_i64(f, "/", "in_channels", v, UPER_MAX_LEVELS);
    if (n_in < 1) return err_set("attribute 'in_channels' missing");
    c.n_in = n_in;
    for (int i = 0; i < n_in; i++) c.in_channels[i] = (int)v[i];
    int64_t idx[UPER_MAX_LEVELS];
    for (int i = 0; i < n_in; i++) idx[i] = i;
    if (h5_attr_i64(f, "/", "in_index", idx, UPER_MAX_LEVELS) < 0) err_clear(); /* absent: 0 .. n_in - 1 */
    c.n_pool = h5_attr_i64(f, "/", "pool_scales", v, UPER_MAX_POOLS);
    if (c.n_pool < 1) return err_set("attribute 'pool_scales' missing");
    for (int i = 0; i < c.n_pool; i++) c.pool_scales[i] = (int)v[i];
    if (attr_int(f, "channels", &c.channels) || attr_int(f, "num_classes", &c.num_classes)) return -1;
    double d = 0;
    if (h5_attr_f64(f, "/", "dropout_ratio", &d, 1) == 1 && d != 0)
        return err_set("dropout_ratio %g: a random channel dropout cannot be compared (the goldens use 0)", d);
    err_clear();
    int ac = 0, training = 1;
    attr_int_opt(f, "align_corners", &ac);
    if (ac) return err_set("align_corners = 1 is not implemented (mmseg's UperNet uses False)");
    char s[256];
    if (!h5_attr_str(f, "/", "input_transform", s, sizeof s) && strcmp(s, "multiple_select"))
        return err_set("input_transform %s: only multiple_select is implemented", s);
    err_clear();
    if (!h5_attr_str(f, "/", "act_cfg", s, sizeof s) && !strstr(s, "\"ReLU\"")) return err_set("act_cfg %s: only ReLU", s);
    err_clear();
    if (uper_norm_from_json(f, &c.norm, &training)) return -1;
    params ps;
    params_init(&ps);
    uper_head h;
    uper_head_declare(&h, &ps, &c, "");
    params_alloc(&ps);
    rng_t rng;
    rng_seed(&rng, 1);
    uper_head_init(&h, &rng); /* running statistics 0 and 1 (torch's defaults, the file's starting state) */
    int rc = golden_load_params(f, &ps); /* a params/<m>.bn.running_* in the file would be loaded as well */
    graph g;
    graph_init(&g, 32 << 20);
    g.training = training;
    char path[128];
    tensor *x[UPER_MAX_LEVELS * 2] = {0}, *sel[UPER_MAX_LEVELS];
    int nx = 0;
    for (; !rc && nx < UPER_MAX_LEVELS * 2; nx++) {
        snprintf(path, sizeof path, "inputs/x%d", nx);
        if (!h5_exists(f, path)) break;
        if (!(x[nx] = golden_input(&g, f, path))) rc = -1;
    }
    for (int i = 0; i < n_in && !rc; i++) {
        if (idx[i] < 0 || idx[i] >= nx) rc = err_set("in_index %lld with %d inputs", (long long)idx[i], nx);
        else if (x[idx[i]]->ndim != 4 || x[idx[i]]->shape[1] != c.in_channels[i])
            rc = err_set("inputs/x%lld: %d channels, in_channels[%d] = %d", (long long)idx[i], x[idx[i]]->shape[1], i, c.in_channels[i]);
        else sel[i] = x[idx[i]];
    }
    double loss = 0;
    if (!rc) {
        tensor *y = uper_head_forward(&h, &g, sel);
        rc = golden_compare(f, r, "outputs", GOLDEN_TOL_OUT, "outputs/seg_logit", y->data, y->n);
        if (!rc) rc = golden_seed_loss(&g, f, "loss_weights/seg_logit", y, &loss);
    }
    /* the running statistics after the step: every buffer named in outputs/, and every output accounted for */
    char **names = NULL;
    int n_out = rc ? 0 : h5_list_datasets(f, "outputs", &names);
    if (n_out < 0) rc = -1;
    int compared = 1;
    for (int i = 0; i < ps.n_buffers && !rc; i++) {
        snprintf(path, sizeof path, "outputs/%s", ps.b[i]->name);
        if (!h5_exists(f, path)) {
            if (training) golden_record(r, "outputs", GOLDEN_TOL_OUT, path, INFINITY); /* a training step must record them */
            continue;
        }
        rc = golden_compare(f, r, "outputs", GOLDEN_TOL_OUT, path, ps.b[i]->t.data, ps.b[i]->t.n);
        compared++;
    }
    if (!rc && compared != n_out) rc = err_set("outputs/: %d datasets, %d compared (an output this handler does not know)", n_out, compared);
    if (names) h5_free_strings(names, n_out);
    r->loss = loss;
    if (!rc) {
        graph_backward(&g);
        for (int i = 0; i < nx && !rc; i++) {
            snprintf(path, sizeof path, "grads/inputs/x%d", i);
            if (!h5_exists(f, path)) continue;
            if (!x[i]->grad) {
                float *z = tensor_grad(&g, x[i]); /* an input no level reads: zero gradient */
                memset(z, 0, sizeof(float) * x[i]->n);
            }
            rc = golden_compare(f, r, "grads/inputs", GOLDEN_TOL_GRAD, path, x[i]->grad, x[i]->n);
        }
    }
    if (!rc) rc = golden_compare_param_grads(f, &ps, r);
    graph_free(&g);
    params_free(&ps);
    return rc;
}

const golden_op_entry golden_ops_head[] = {
    {"uper_head", run_uper_head},
    {"fpn", run_fpn},
    {"retina_head", run_retina_head},
    {NULL, NULL},
};
