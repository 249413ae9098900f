/* golden.c - the conformance runner behind `deltabench golden` and tests/test_golden.c. */
#include "golden.h"
#include "golden_op.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../methods/lorand.h"
#include "../core/h5io.h"
#include "../core/optim_golden.h"
#include "../methods/method.h"
#include "../models/swin.h"

static double rel_err(const float *a, const float *b, int64_t n) {
    double md = 0, mb = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= md)) md = isnan(d) ? INFINITY : d;
        if (fabs((double)b[i]) > mb) mb = fabs((double)b[i]);
    }
    return mb > 0 ? md / mb : md;
}

static golden_group *group_get(golden_result *r, const char *name, double tol) {
    for (int i = 0; i < r->n_groups; i++)
        if (!strcmp(r->groups[i].name, name)) return &r->groups[i];
    if (r->n_groups == GOLDEN_MAX_GROUPS) return &r->groups[GOLDEN_MAX_GROUPS - 1]; /* shares the last group */
    golden_group *g = &r->groups[r->n_groups++];
    memset(g, 0, sizeof *g);
    snprintf(g->name, sizeof g->name, "%s", name);
    g->tol = tol;
    return g;
}

void golden_record(golden_result *r, const char *gname, double tol, const char *tname, double err) {
    golden_group *g = group_get(r, gname, tol);
    g->count++;
    if (err > g->max_err || isnan(err)) {
        g->max_err = isnan(err) ? INFINITY : err;
        snprintf(g->worst, sizeof g->worst, "%s", tname);
    }
    if (!(err <= tol) && !r->problem[0])
        snprintf(r->problem, sizeof r->problem, "%s/%s: relative error %.3g above %.1g", gname, tname, err, tol);
}

/* compare a tensor with a dataset of the same element count; shape checked by count and by the caller */
int golden_compare(hid_t f, golden_result *r, const char *gname, double tol, const char *path, const float *x, int64_t n) {
    int nd;
    int64_t sh[8];
    float *ref = h5_read_f32(f, path, &nd, sh);
    if (!ref) return -1;
    int64_t c = 1;
    for (int i = 0; i < nd; i++) c *= sh[i];
    if (c != n) {
        free(ref);
        return err_set("%s: %lld elements, the implementation has %lld", path, (long long)c, (long long)n);
    }
    golden_record(r, gname, tol, path, x ? rel_err(x, ref, n) : INFINITY);
    free(ref);
    return 0;
}

/* load every params/<name> of the file into the store; every file parameter must exist with its shape */
int golden_load_params(hid_t f, params *ps) {
    char **names;
    int n = h5_list_datasets(f, "params", &names);
    if (n < 0) return -1;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        param *p = params_find(ps, names[i]);
        if (!p) {
            rc = err_set("params/%s: the implementation has no parameter of that name", names[i]);
            break;
        }
        char path[256];
        snprintf(path, sizeof path, "params/%s", names[i]);
        int nd;
        int64_t sh[8];
        float *v = h5_read_f32(f, path, &nd, sh);
        if (!v) {
            rc = -1;
            break;
        }
        int same = nd == p->t.ndim;
        for (int k = 0; same && k < nd; k++) same = sh[k] == p->t.shape[k];
        if (!same) {
            char b[64];
            rc = err_set("%s: shape differs from the implementation's %s", path, tensor_shape_str(&p->t, b, sizeof b));
        } else
            memcpy(p->t.data, v, sizeof(float) * p->t.n);
        free(v);
    }
    if (!rc && n != ps->n) {
        for (int i = 0; i < ps->n; i++) {
            int found = 0;
            for (int k = 0; k < n && !found; k++) found = !strcmp(names[k], ps->p[i]->name);
            if (!found) {
                rc = err_set("parameter %s of the implementation is missing from the file's params/", ps->p[i]->name);
                break;
            }
        }
    }
    h5_free_strings(names, n);
    return rc;
}

static int check_trainable(hid_t f, params *ps, golden_result *r) {
    char **names;
    int n = h5_read_strings(f, "trainable", &names);
    if (n < 0) return -1;
    int ours = 0;
    long long count = 0;
    for (int i = 0; i < ps->n; i++)
        if (ps->p[i]->trainable) ours++, count += ps->p[i]->t.n;
    r->trainable_ok = ours == n;
    for (int i = 0; i < n; i++) {
        param *p = params_find(ps, names[i]);
        if (!p || !p->trainable) {
            r->trainable_ok = 0;
            if (!r->problem[0])
                snprintf(r->problem, sizeof r->problem, "'%s' is trainable in the reference but %s here", names[i],
                         p ? "frozen" : "absent");
        }
    }
    if (!r->trainable_ok && !r->problem[0])
        snprintf(r->problem, sizeof r->problem, "%d trainable parameters here, %d in the reference", ours, n);
    r->trainable_names = ours;
    r->trainable_expected_names = n;
    r->trainable_count = count;
    h5_free_strings(names, n);
    return 0;
}

static int attr_ints(hid_t f, const char *name, int *out, int max) {
    int64_t v[8];
    int k = h5_attr_i64(f, "/", name, v, max < 8 ? max : 8);
    for (int i = 0; i < k; i++) out[i] = (int)v[i];
    return k;
}

tensor *golden_input(graph *g, hid_t f, const char *path) {
    int nd;
    int64_t sh[8];
    float *v = h5_read_f32(f, path, &nd, sh);
    if (!v) return NULL;
    int shape[TENSOR_MAX_DIMS];
    for (int i = 0; i < nd; i++) shape[i] = (int)sh[i];
    tensor *t = tensor_new(g, nd, shape, 1);
    memcpy(t->data, v, sizeof(float) * t->n);
    free(v);
    return t;
}

int golden_seed_loss(graph *g, hid_t f, const char *path, tensor *x, double *loss) {
    int nd;
    int64_t sh[8];
    float *w = h5_read_f32(f, path, &nd, sh);
    if (!w) return -1;
    int64_t c = 1;
    for (int i = 0; i < nd; i++) c *= sh[i];
    if (c != x->n) {
        free(w);
        return err_set("%s: %lld elements, the output has %lld", path, (long long)c, (long long)x->n);
    }
    *loss += loss_dot_seed(g, x, w);
    free(w);
    return 0;
}

int golden_compare_param_grads(hid_t f, params *ps, golden_result *r) {
    for (int i = 0; i < ps->n; i++) {
        param *p = ps->p[i];
        if (!p->trainable) continue;
        char path[256];
        snprintf(path, sizeof path, "grads/params/%s", p->name);
        if (!h5_exists(f, path)) {
            golden_record(r, "grads/params", GOLDEN_TOL_GRAD, path, INFINITY);
            continue;
        }
        if (golden_compare(f, r, "grads/params", GOLDEN_TOL_GRAD, path, p->t.grad, p->t.n)) return -1;
    }
    return 0;
}

static int run_backbone(hid_t f, golden_result *r) {
    swin_config cfg;
    swin_preset("swin-t", &cfg);
    int outs[4], depths[4], heads[4], v[1];
    if (attr_ints(f, "embed_dim", v, 1) != 1) return -1;
    cfg.embed_dim = v[0];
    if (attr_ints(f, "depths", depths, 4) != 4 || attr_ints(f, "num_heads", heads, 4) != 4) return err_set("depths and num_heads must have 4 entries");
    for (int i = 0; i < 4; i++) cfg.depths[i] = depths[i], cfg.num_heads[i] = heads[i];
    if (attr_ints(f, "window_size", v, 1) == 1) cfg.window = v[0];
    if (attr_ints(f, "patch_size", v, 1) == 1) cfg.patch = v[0];
    double mr, eps;
    if (h5_attr_f64(f, "/", "mlp_ratio", &mr, 1) == 1) cfg.mlp_ratio = (float)mr;
    if (h5_attr_f64(f, "/", "layernorm_eps", &eps, 1) == 1) cfg.eps = (float)eps;
    int no = attr_ints(f, "out_indices", outs, 4);
    if (no < 1) return -1;
    cfg.out_mask = 0;
    for (int i = 0; i < no; i++) cfg.out_mask |= 1 << outs[i];
    err_clear();
    const method *m = method_find(r->method);
    if (!m) return err_set("method '%s' is not in the method table", r->method);
    params ps;
    params_init(&ps);
    swin s;
    swin_build(&s, &ps, &cfg, &m->plug);
    params_alloc(&ps);
    int rc = golden_load_params(f, &ps);
    if (!rc) rc = check_trainable(f, &ps, r);
    graph g;
    graph_init(&g, 64 << 20);
    g.training = 0; /* the goldens ran with every dropout and drop-path probability 0 */
    tensor *img = rc ? NULL : golden_input(&g, f, "input/image");
    if (!rc && !img) rc = -1;
    if (!rc) {
        swin_outputs o;
        swin_forward(&s, &g, img, &o);
        char path[64];
        /* patch_embed: golden is NCHW, ours NHWC */
        tensor *pe = op_nhwc_to_nchw(&g, o.patch_embed);
        rc = golden_compare(f, r, "intermediates", GOLDEN_TOL_OUT, "intermediates/patch_embed", pe->data, pe->n);
        for (int i = 0; i < SWIN_STAGES && !rc; i++) {
            snprintf(path, sizeof path, "intermediates/stage%d", i);
            rc = golden_compare(f, r, "intermediates", GOLDEN_TOL_OUT, path, o.stage[i]->data, o.stage[i]->n);
        }
        double loss = 0;
        for (int i = 0; i < SWIN_STAGES && !rc; i++) {
            if (!o.out[i]) continue;
            snprintf(path, sizeof path, "outputs/out%d", i);
            rc = golden_compare(f, r, "outputs", GOLDEN_TOL_OUT, path, o.out[i]->data, o.out[i]->n);
            snprintf(path, sizeof path, "loss_weights/out%d", i);
            if (!rc) rc = golden_seed_loss(&g, f, path, o.out[i], &loss);
        }
        r->loss = loss;
        if (!rc) {
            graph_backward(&g);
            rc = golden_compare(f, r, "grads/input", GOLDEN_TOL_GRAD, "grads/input/image", img->grad, img->n);
        }
        if (!rc) rc = golden_compare_param_grads(f, &ps, r);
    }
    graph_free(&g);
    swin_free(&s);
    params_free(&ps);
    return rc;
}

static int run_module(hid_t f, golden_result *r) {
    char mod[32];
    if (h5_attr_str(f, "/", "module", mod, sizeof mod)) return -1;
    if (strcmp(mod, "lorand")) return err_set("module '%s' is not supported (known: lorand)", mod);
    int64_t in_dim, nb, kd;
    if (h5_attr_i64(f, "/", "in_dim", &in_dim, 1) != 1 || h5_attr_i64(f, "/", "num_branch", &nb, 1) != 1 ||
        h5_attr_i64(f, "/", "kernel_dim", &kd, 1) != 1)
        return -1;
    if (nb < 1 || nb > LORAND_MAX_BRANCHES || kd < 1 || kd > 1024)
        return err_set("lorand with %lld branches of kernel dim %lld: this build takes 1..%d branches and kernel dims 1..1024",
                       (long long)nb, (long long)kd, LORAND_MAX_BRANCHES);
    int64_t fa = LORAND_FACTOR;
    if (h5_attr_i64(f, "/", "factor", &fa, 1) != 1) fa = LORAND_FACTOR, err_clear(); /* older files: the authors' 2 */
    if (fa < 1 || fa > in_dim) return err_set("lorand factor %lld: expected 1..in_dim", (long long)fa);
    lorand_cfg lc = {(int)nb, (int)kd, (int)fa};
    snprintf(r->method, sizeof r->method, "lorand");
    params ps;
    params_init(&ps);
    lorand_module m;
    lorand_module_declare(&m, &ps, "", (int)in_dim, &lc);
    params_alloc(&ps);
    int rc = golden_load_params(f, &ps);
    graph g;
    graph_init(&g, 16 << 20);
    g.training = 0;
    tensor *x = rc ? NULL : golden_input(&g, f, "input/x");
    if (!rc && !x) rc = -1;
    if (!rc) {
        int C = x->shape[x->ndim - 1];
        tensor *x2 = op_reshape(&g, x, 2, (int[]){(int)(x->n / C), C});
        tensor *y = lorand_module_forward(&m, &g, x2);
        rc = golden_compare(f, r, "outputs", GOLDEN_TOL_OUT, "outputs/y", y->data, y->n);
        double loss = 0;
        if (!rc) rc = golden_seed_loss(&g, f, "loss_weights/y", y, &loss);
        r->loss = loss;
        if (!rc) {
            graph_backward(&g);
            rc = golden_compare(f, r, "grads/input", GOLDEN_TOL_GRAD, "grads/input/x", x->grad, x->n);
        }
        if (!rc) rc = golden_compare_param_grads(f, &ps, r);
        r->trainable_ok = 1;
        r->trainable_count = params_count(&ps, 1);
        r->trainable_names = r->trainable_expected_names = ps.n;
    }
    graph_free(&g);
    params_free(&ps);
    return rc;
}

/* golden-adamw/1: the project's AdamW (core/optim.c) on the file's parameter groups; one tensor group
 * per AdamW parameter group, compared after every step. */
static int run_adamw(const char *path, golden_result *r) {
    optim_golden_result a;
    if (optim_golden_run(path, &a, NULL)) return -1;
    snprintf(r->method, sizeof r->method, "adamw");
    for (int i = 0; i < a.n_groups && r->n_groups < (int)(sizeof r->groups / sizeof r->groups[0]); i++) {
        golden_group *g = &r->groups[r->n_groups++];
        snprintf(g->name, sizeof g->name, "params/%s", a.group[i]);
        g->count = a.steps;
        g->max_err = a.max_rel_err[i];
        g->tol = GOLDEN_TOL_OUT;
        snprintf(g->worst, sizeof g->worst, "%s/after%d (weight decay %g)", a.group[i], a.worst_step[i], a.weight_decay[i]);
    }
    r->trainable_ok = 1; /* every group of the file is one trainable parameter */
    r->trainable_names = r->trainable_expected_names = a.n_groups;
    r->trainable_count = a.n_values;
    return 0;
}

int golden_check(const char *path, golden_result *r) {
    memset(r, 0, sizeof *r);
    hid_t f = h5_open_read(path);
    if (f < 0) return -1;
    int rc = h5_attr_str(f, "/", "schema", r->schema, sizeof r->schema);
    if (!rc) {
        if (h5_attr_f64(f, "/", "loss", &r->loss_ref, 1) != 1) r->loss_ref = NAN;
        err_clear();
        if (!strcmp(r->schema, "golden-backbone/1")) {
            rc = h5_attr_str(f, "/", "method", r->method, sizeof r->method);
            if (!rc) rc = run_backbone(f, r);
        } else if (!strcmp(r->schema, "golden-op/1")) {
            rc = golden_op_run(f, r);
        } else if (!strcmp(r->schema, "golden-module/1"))
            rc = run_module(f, r);
        else if (!strcmp(r->schema, "golden-adamw/1")) {
            h5_close(f);
            f = -1;
            rc = run_adamw(path, r);
            if (rc) return -1; /* the message names the file already */
        } else
            rc = err_set("schema '%s' is not supported here (golden-backbone/1, golden-module/1, golden-adamw/1, golden-op/1)",
                         r->schema);
    }
    if (f >= 0) h5_close(f);
    if (rc) return err_prefix("%s", path);
    if (r->not_covered) return 0; /* neither passed nor failed: golden_print says so */
    r->ok = r->trainable_ok && r->n_groups > 0;
    for (int i = 0; i < r->n_groups; i++)
        if (!(r->groups[i].max_err <= r->groups[i].tol)) r->ok = 0;
    if (!isnan(r->loss_ref) && fabs(r->loss - r->loss_ref) > 1e-4 * fmax(1.0, fabs(r->loss_ref))) {
        r->ok = 0;
        if (!r->problem[0]) snprintf(r->problem, sizeof r->problem, "loss %.8g, reference %.8g", r->loss, r->loss_ref);
    }
    return 0;
}

void golden_print(const char *path, const golden_result *r) {
    if (r->not_covered) {
        printf("%s  [%s, op %s]\n  verdict        NOT COVERED YET: %s\n", path, r->schema, r->method, r->problem);
        return;
    }
    printf("%s  [%s, %s %s]\n", path, r->schema, strcmp(r->schema, "golden-op/1") ? "method" : "op", r->method);
    for (int i = 0; i < r->n_groups; i++) {
        const golden_group *g = &r->groups[i];
        printf("  %-14s %3d tensors  max rel err %.3e  (tol %.0e)  %s  worst: %s\n", g->name, g->count, g->max_err, g->tol,
               g->max_err <= g->tol ? "ok  " : "FAIL", g->worst);
    }
    printf("  trainable      %d names, %lld values (reference: %d names)  %s\n", r->trainable_names, r->trainable_count,
           r->trainable_expected_names, r->trainable_ok ? "ok" : "FAIL");
    printf("  loss           %.8g (reference %.8g)\n", r->loss, r->loss_ref);
    printf("  verdict        %s%s%s\n", r->ok ? "PASS" : "FAIL", r->problem[0] ? ": " : "", r->problem);
}
