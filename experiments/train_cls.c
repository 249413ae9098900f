/* train_cls.c - the classification trainer (see train_cls.h). */
#include "train_cls.h"

#include <cJSON.h>
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "../core/checkpoint.h"
#include "../models/classifier.h"
#include "../methods/method.h"
#include "../core/optim.h"
#include "../core/schedule.h"
#include "../datasets/cls_dataset.h"
#include "../datasets/cls_loader.h"
#include "../metrics/topk.h"
#include "results.h"

volatile int cls_train_interrupted;

/* growable arrays for the training curve and the evaluation history */
typedef struct curve {
    int64_t n, cap;
    int64_t *iter;
    double *epoch, *loss, *lr, *ips;
} curve;

static void curve_push(curve *c, int64_t it, double ep, double loss, double lr, double ips) {
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 256;
        c->iter = xrealloc(c->iter, sizeof(int64_t) * c->cap);
        c->epoch = xrealloc(c->epoch, sizeof(double) * c->cap);
        c->loss = xrealloc(c->loss, sizeof(double) * c->cap);
        c->lr = xrealloc(c->lr, sizeof(double) * c->cap);
        c->ips = xrealloc(c->ips, sizeof(double) * c->cap);
    }
    c->iter[c->n] = it, c->epoch[c->n] = ep, c->loss[c->n] = loss, c->lr[c->n] = lr, c->ips[c->n] = ips;
    c->n++;
}

static void curve_free(curve *c) {
    free(c->iter), free(c->epoch), free(c->loss), free(c->lr), free(c->ips);
    memset(c, 0, sizeof *c);
}

/* Forward, loss and backward of one training batch; the loss value stays readable after backward. */
static tensor *train_forward_backward(classifier *c, graph *g, const cls_batch *b) {
    tensor *x = tensor_new4(g, b->n, 3, b->size, b->size, 0);
    memcpy(x->data, b->images, sizeof(float) * x->n);
    tensor *logits = classifier_forward(c, g, x);
    tensor *loss = op_cross_entropy(g, logits, b->labels, 0.0f);
    graph_keep(g, loss->data);
    if (loss->requires_grad) {
        tensor_grad(g, loss)[0] = 1.0f;
        graph_backward(g);
    }
    return loss;
}

/* The curve (epoch, loss, lr, img/s) and eval history (top1, top5 in the lr/ips slots) for the training
 * state: one string per column of space-separated "%.17g" values, so every double comes back bit for bit
 * (cJSON prints numbers with 15 digits when they compare equal within an epsilon, which loses the last
 * bits, and the checkpoint writer re-prints the metadata). */
static cJSON *curve_json(const curve *c) {
    static const char *keys[5] = {"iter", "epoch", "loss", "lr", "ips"};
    cJSON *o = cJSON_CreateObject();
    size_t cap = 32 * (size_t)c->n + 1;
    char *buf = xmalloc(cap);
    for (int k = 0; k < 5; k++) {
        size_t len = 0;
        buf[0] = 0;
        for (int64_t i = 0; i < c->n; i++) {
            double v = k == 0 ? (double)c->iter[i] : k == 1 ? c->epoch[i] : k == 2 ? c->loss[i] : k == 3 ? c->lr[i] : c->ips[i];
            len += snprintf(buf + len, cap - len, "%s%.17g", i ? " " : "", v);
        }
        cJSON_AddStringToObject(o, keys[k], buf);
    }
    free(buf);
    return o;
}

/* column k of a saved curve: a string of numbers (curve_json) or a JSON array (older states) */
static int curve_column(const cJSON *a, double **out, int *n, const char *where, const char *key) {
    *out = NULL;
    *n = 0;
    if (cJSON_IsArray(a)) {
        *n = cJSON_GetArraySize(a);
        *out = xmalloc(sizeof(double) * (*n + 1));
        for (int i = 0; i < *n; i++) (*out)[i] = cJSON_GetArrayItem(a, i)->valuedouble;
        return 0;
    }
    if (!cJSON_IsString(a)) return err_set("%s: training state has no '%s' history", where, key);
    int cap = 0;
    const char *p = a->valuestring;
    for (;;) {
        while (*p == ' ') p++;
        if (!*p) break;
        char *end;
        double v = strtod(p, &end);
        if (end == p) {
            free(*out);
            *out = NULL;
            return err_set("%s: training state has a malformed '%s' history near \"%.20s\"", where, key, p);
        }
        if (*n == cap) *out = xrealloc(*out, sizeof(double) * (cap = cap ? 2 * cap : 256));
        (*out)[(*n)++] = v;
        p = end;
    }
    return 0;
}

static int curve_from_json(curve *c, const cJSON *o, const char *where) {
    static const char *keys[5] = {"iter", "epoch", "loss", "lr", "ips"};
    double *col[5] = {0};
    int n = -1, rc = 0;
    for (int k = 0; k < 5 && !rc; k++) {
        int nk;
        if (curve_column(o ? cJSON_GetObjectItemCaseSensitive(o, keys[k]) : NULL, &col[k], &nk, where, keys[k])) rc = -1;
        else if (n >= 0 && nk != n) rc = err_set("%s: training state has a malformed '%s' history (%d entries, not %d)", where, keys[k], nk, n);
        n = nk;
    }
    if (!rc)
        for (int i = 0; i < n; i++) curve_push(c, (int64_t)col[0][i], col[1][i], col[2][i], col[3][i], col[4][i]);
    for (int k = 0; k < 5; k++) free(col[k]);
    return rc;
}

/* A member of the state's metadata as a JSON value (owned by the caller): ckpt_load_train_state gives
 * every non-string member back as its JSON text (a string), so parse strings that hold JSON. */
static cJSON *meta_member(const cJSON *mj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(mj, key);
    if (!v) return NULL;
    if (cJSON_IsString(v) && v->valuestring) {
        cJSON *p = cJSON_Parse(v->valuestring);
        if (p) return p;
    }
    return cJSON_Duplicate(v, 1);
}

static void fmt_time(double s, char *buf, int n) {
    if (s < 0 || s > 1e7) snprintf(buf, n, "?");
    else if (s >= 3600) snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)(fmod(s, 3600) / 60));
    else snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
}

/* top-1 / top-5 over the test split (no gradients, eval mode) */
static int evaluate(classifier *c, graph *g, const cls_dataset *test, const recipe *r, double *top1, double *top5) {
    cls_loader_cfg lc;
    cls_loader_cfg_default(&lc, 0, r->batch, r->img_size);
    lc.aug.resize_short = r->test_resize;
    lc.seed = r->seed;
    lc.n_threads = r->workers;
    lc.epochs = 1;
    cls_loader *L;
    if (cls_loader_open(test, &lc, &L)) return -1;
    long c1 = 0, c5 = 0, n = 0, nb = 0;
    int k5 = c->num_classes < 5 ? c->num_classes : 5;
    cls_batch b;
    int rc;
    int gm = g->grad_mode, tr = g->training;
    g->grad_mode = 0;
    g->training = 0;
    while ((rc = cls_loader_next(L, &b)) == 1) {
        if (r->max_eval_batches > 0 && nb++ >= r->max_eval_batches) break;
        graph_reset(g);
        graph_set_key(g, (uint64_t)b.n << 32 | (uint32_t)b.size); /* the last batch may be smaller */
        if (graph_plan_needed(g)) { /* a dry run first records the memory plan of the evaluation forward */
            graph_dry_begin(g);
            tensor *xd = tensor_new4(g, b.n, 3, b.size, b.size, 0);
            memcpy(xd->data, b.images, sizeof(float) * xd->n);
            graph_keep(g, classifier_forward(c, g, xd)->data);
            graph_reset(g);
        }
        tensor *x = tensor_new4(g, b.n, 3, b.size, b.size, 0);
        memcpy(x->data, b.images, sizeof(float) * x->n);
        tensor *logits = classifier_forward(c, g, x);
        graph_keep(g, logits->data);
        c1 += topk_count(logits->data, b.labels, b.n, c->num_classes, 1);
        c5 += topk_count(logits->data, b.labels, b.n, c->num_classes, k5);
        n += b.n;
    }
    g->grad_mode = gm;
    g->training = tr;
    cls_loader_close(L);
    if (rc < 0) return -1;
    *top1 = n ? 100.0 * c1 / n : 0;
    *top5 = n ? 100.0 * c5 / n : 0;
    return 0;
}

/* the trained backbone in the layout of a released Swin classification checkpoint: backbone names
 * without prefix, the last stage's output norm as "norm.*", the head as "head.*" */
int cls_save_released_layout(const char *path, const classifier *c, const char *prefix, const char *meta_json) {
    const params *ps = &c->ps;
    st_entry *e = xcalloc(ps->n, sizeof *e);
    int64_t(*shapes)[TENSOR_MAX_DIMS] = xcalloc(ps->n, sizeof *shapes);
    char **names = xcalloc(ps->n, sizeof(char *));
    int n = 0;
    for (int i = 0; i < ps->n; i++) {
        const param *p = ps->p[i];
        char name[256];
        const char *pre = prefix ? prefix : "";
        if (!strncmp(p->name, "norm3.", 6)) snprintf(name, sizeof name, "%snorm.%s", pre, p->name + 6);
        else if (!strncmp(p->name, "head.fc.", 8)) snprintf(name, sizeof name, "%shead.%s", pre, p->name + 8);
        else snprintf(name, sizeof name, "%s%s", pre, p->name);
        names[n] = xstrdup(name);
        for (int k = 0; k < p->t.ndim; k++) shapes[n][k] = p->t.shape[k];
        e[n] = (st_entry){names[n], p->t.ndim, shapes[n], p->t.data};
        n++;
    }
    const char *mk[2] = {"format", "deltabench"}, *mv[2] = {"pt", meta_json};
    int rc = safetensors_write(path, e, n, mk, mv, 2);
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    free(shapes);
    free(e);
    return rc;
}

int cls_train_run(const cls_run_spec *s, cls_run_out *out) {
    const recipe *r = s->r;
    memset(out, 0, sizeof *out);
    const char *key = s->results_key ? s->results_key : s->method;
    char tag[96];
    snprintf(tag, sizeof tag, "%s %s", s->ds->key, key);
    double t_start = time_now();
    if (r->threads > 0) {
        omp_set_num_threads(r->threads);
        openblas_set_num_threads(r->threads);
    }
    const method *m = method_find(s->method);
    if (!m) return err_set("%s: unknown method '%s' (see deltabench methods)", r->path, s->method);
    cls_format fmt;
    if (cls_format_parse(s->ds->format, &fmt)) return err_prefix("%s: datasets[%s]", r->path, s->ds->key);
    cls_dataset train, test;
    memset(&test, 0, sizeof test);
    if (cls_dataset_open(fmt, s->ds->root, "train", &train)) return -1;
    if (cls_dataset_open(fmt, s->ds->root, "test", &test)) {
        cls_dataset_free(&train);
        return -1;
    }
    int rc = -1;
    swin_config sc;
    classifier c;
    int have_model = 0, have_optim = 0;
    optim o;
    pg_rules rules;
    pg_rules_init(&rules);
    graph g;
    graph_init(&g, 64 << 20);
    graph_plan_enable(&g); /* activation memory planned from the first step's record (tensor.h) */
    curve cv = {0}, ev = {0};
    cls_loader *L = NULL;
    char *meta = NULL, state_path[1100], delta_path[1100];
    snprintf(state_path, sizeof state_path, "%s/state.safetensors", s->run_dir);
    snprintf(delta_path, sizeof delta_path, "%s/delta.safetensors", s->run_dir);
    if (swin_preset(r->backbone, &sc)) goto done;
    sc.drop_path_rate = (float)r->drop_path;
    if (train.n < r->batch) {
        err_set("%s: %d training images, fewer than one batch of %d", s->ds->root, train.n, r->batch);
        goto done;
    }
    classifier_build(&c, &sc, &m->plug, train.n_classes);
    have_model = 1;
    classifier_init(&c, r->seed);
    if (s->pretrained && *s->pretrained) {
        ckpt_apply_opts ao = {.allow_missing = 1};
        if (ckpt_load_pretrained(&c.ps, s->pretrained, &ao, s->quiet ? NULL : stderr)) goto done;
    }
    if (r->paramwise && pg_rules_from_json(&rules, r->paramwise, r->path)) goto done;
    pg_apply(&c.ps, &rules, NULL);
    double lr = r->lr * recipe_lr_mult(r, s->method, s->ds->key);
    if (optim_adamw_init(&o, &c.ps, lr, r->beta1, r->beta2, r->eps, r->weight_decay)) goto done;
    have_optim = 1;
    int ipe = cls_iters_per_epoch(train.n, r->batch, 1);
    int64_t total = (int64_t)ipe * r->epochs, stop_at = total;
    if (r->max_iters > 0 && r->max_iters < total) stop_at = r->max_iters;
    sched sch;
    if (sched_from_json(&sch, r->lr_config, ipe, r->epochs, total, r->path)) goto done;
    out->trainable = params_count(&c.ps, 1);
    out->total = params_count(&c.ps, 0);
    /* resume */
    train_state st;
    memset(&st, 0, sizeof st);
    char *rj = recipe_json(r);
    if (s->resume && s->restart_if_stale && file_exists(state_path)) {
        /* a state left by another recipe (the recipe file or an override changed) cannot be continued */
        ckpt_tensors h;
        int same = 0;
        if (!ckpt_read_safetensors_meta(state_path, &h)) {
            same = recipe_text_same(ckpt_meta_get(&h, "recipe"), rj);
            ckpt_tensors_free(&h);
        }
        if (!same) {
            if (!s->quiet) fprintf(stderr, "[%s] %s was left by another recipe: starting this run afresh\n", tag, state_path);
            if (remove(state_path) != 0) {
                err_set("%s: cannot remove the stale state: %s", state_path, strerror(errno));
                free(rj);
                goto done;
            }
        }
    }
    if (s->resume && file_exists(state_path)) {
        if (ckpt_load_train_state(state_path, &c.ps, &o, &st, &meta)) {
            free(rj);
            goto done;
        }
        cJSON *mj = cJSON_Parse(meta ? meta : "{}");
        cJSON *mr = meta_member(mj, "recipe"), *mc = meta_member(mj, "curve"), *me = meta_member(mj, "evals"),
              *mw = meta_member(mj, "wall_s");
        cJSON *cur = cJSON_Parse(rj);
        int same = recipe_json_same(mr, cur);
        cJSON_Delete(cur);
        int bad = !same;
        if (!same)
            err_set("%s: saved with a different recipe; remove %s to start this run again", state_path, s->run_dir);
        else if (curve_from_json(&cv, mc, state_path) || curve_from_json(&ev, me, state_path))
            bad = 1;
        else if (cJSON_IsNumber(mw))
            t_start -= mw->valuedouble;
        cJSON_Delete(mr), cJSON_Delete(mc), cJSON_Delete(me), cJSON_Delete(mw);
        cJSON_Delete(mj);
        if (bad) {
            free(rj);
            goto done;
        }
        if (st.n_rng >= 1) g.rng = st.rng[0];
        if (!s->quiet) fprintf(stderr, "[%s] resuming at iteration %lld of %lld\n", tag, (long long)st.iter, (long long)stop_at);
    } else
        rng_seed(&g.rng, r->seed * 7919 + 17);
    free(rj);
    if (mkdir_p(s->run_dir)) goto done;
    if (!s->quiet)
        fprintf(stderr, "[%s] %s, %d train / %d test images, %d classes; %lld trainable of %lld parameters; lr %.3g; %d iterations\n",
                tag, r->backbone, train.n, test.n, train.n_classes, (long long)out->trainable, (long long)out->total, lr,
                (int)stop_at);
    int64_t it = st.iter, it_start = st.iter;
    if (it < stop_at) {
        cls_loader_cfg lc;
        cls_loader_cfg_default(&lc, 1, r->batch, r->img_size);
        lc.aug.resize_short = r->test_resize;
        lc.aug.scale_min = r->crop_scale[0], lc.aug.scale_max = r->crop_scale[1];
        lc.seed = r->seed;
        lc.n_threads = r->workers;
        lc.start_epoch = (int)(it / ipe);
        lc.start_iter = (int)(it % ipe);
        lc.epochs = r->epochs - lc.start_epoch;
        if (cls_loader_open(&train, &lc, &L)) goto done;
    }
    g.training = 1;
    double t_last = time_now(), t_prog = 0, t0_win = time_now();
    int64_t it0_win = it;
    cls_batch b;
    while (it < stop_at) {
        int lr_ = cls_loader_next(L, &b);
        if (lr_ < 0) goto done;
        if (lr_ == 0) break;
        graph_reset(&g);
        graph_set_key(&g, (uint64_t)b.n << 32 | (uint32_t)b.size);
        if (graph_plan_needed(&g)) { /* a dry run records the activation memory plan (tensor.h) */
            graph_dry_begin(&g);
            train_forward_backward(&c, &g, &b);
            graph_reset(&g);
        }
        params_zero_grad(&c.ps);
        tensor *loss = train_forward_backward(&c, &g, &b);
        if (!isfinite(loss->data[0])) {
            err_set("[%s] the loss became %f at iteration %lld: lower the learning rate", tag, loss->data[0], (long long)it);
            goto done;
        }
        if (r->grad_clip > 0) optim_clip_grad_norm(&c.ps, r->grad_clip);
        double cur_lr = sched_lr_at(&sch, lr, it);
        sched_optim_step(&o, &sch, it);
        it++;
        double now = time_now();
        curve_push(&cv, it, (double)it / ipe, loss->data[0], cur_lr, b.n / (now - t_last));
        t_last = now;
        int epoch_end = it % ipe == 0;
        if (epoch_end) {
            int ep = (int)(it / ipe);
            if (ep % (r->eval_interval_epochs > 0 ? r->eval_interval_epochs : 1) == 0 || it >= stop_at) {
                double t1, t5;
                if (evaluate(&c, &g, &test, r, &t1, &t5)) goto done;
                curve_push(&ev, it, (double)ep, 0, t1, t5);
                if (!s->quiet) fprintf(stderr, "\n[%s] epoch %d: top-1 %.2f  top-5 %.2f\n", tag, ep, t1, t5);
            }
        }
        int stop = cls_train_interrupted || (s->stop_after_iters > 0 && it - it_start >= s->stop_after_iters);
        if (epoch_end || stop || (r->ckpt_interval_iters > 0 && it % r->ckpt_interval_iters == 0)) {
            st.iter = it;
            st.epoch = it / ipe;
            st.n_rng = 1;
            st.rng[0] = g.rng;
            cJSON *mj = cJSON_CreateObject();
            cJSON_AddItemToObject(mj, "recipe", cJSON_Parse(rj = recipe_json(r)));
            free(rj);
            cJSON_AddStringToObject(mj, "method", s->method);
            cJSON_AddStringToObject(mj, "dataset", s->ds->key);
            cJSON_AddItemToObject(mj, "curve", curve_json(&cv));
            cJSON_AddItemToObject(mj, "evals", curve_json(&ev));
            cJSON_AddNumberToObject(mj, "wall_s", time_now() - t_start);
            char *ms = cJSON_PrintUnformatted(mj);
            cJSON_Delete(mj);
            int wrc = ckpt_save_train_state(state_path, &c.ps, &o, &st, ms);
            free(ms);
            if (wrc) goto done;
        }
        if (!s->quiet && (now - t_prog > 1.0 || it == stop_at)) {
            double ips = (it - it0_win) * (double)r->batch / (now - t0_win + 1e-9);
            char eta[32];
            fmt_time((stop_at - it) * (double)r->batch / (ips + 1e-9), eta, sizeof eta);
            fprintf(stderr, "\r[%s] epoch %lld/%d iter %lld/%lld loss %.4f lr %.3g %.1f img/s ETA %s   ", tag,
                    (long long)(it / ipe + (it % ipe ? 1 : 0)), r->epochs, (long long)it, (long long)stop_at, loss->data[0],
                    cur_lr, ips, eta);
            if (!isatty(2)) fputc('\n', stderr);
            t_prog = now;
        }
        if (stop) {
            out->stopped = 1;
            out->iters = it;
            if (!s->quiet) fprintf(stderr, "\n[%s] stopped at iteration %lld; state saved in %s (resume to continue)\n", tag, (long long)it, state_path);
            rc = 0;
            goto done;
        }
    }
    if (!s->quiet) fputc('\n', stderr);
    /* final evaluation (unless the last epoch end just did it) */
    if (!ev.n || ev.iter[ev.n - 1] != it) {
        double t1, t5;
        if (evaluate(&c, &g, &test, r, &t1, &t5)) goto done;
        curve_push(&ev, it, (double)it / ipe, 0, t1, t5);
    }
    out->top1 = ev.lr[ev.n - 1];
    out->top5 = ev.ips[ev.n - 1];
    out->iters = it;
    out->final_loss = cv.n ? cv.loss[cv.n - 1] : NAN;
    out->wall_s = time_now() - t_start;
    {
        cJSON *mj = cJSON_CreateObject();
        cJSON_AddStringToObject(mj, "method", s->method);
        cJSON_AddStringToObject(mj, "dataset", s->ds->key);
        cJSON_AddItemToObject(mj, "recipe", cJSON_Parse(rj = recipe_json(r)));
        free(rj);
        char *ms = cJSON_PrintUnformatted(mj);
        cJSON_Delete(mj);
        int wrc = ckpt_save_delta(delta_path, &c.ps, ms);
        if (!wrc && s->save_backbone) wrc = cls_save_released_layout(s->save_backbone, &c, NULL, ms);
        free(ms);
        if (wrc) goto done;
    }
    if (s->results_path) {
        char bbj[512];
        swin_config_str(&sc, bbj, sizeof bbj);
        char bbjson[700];
        snprintf(bbjson, sizeof bbjson,
                 "{\"name\": \"%s\", \"embed_dim\": %d, \"depths\": [%d, %d, %d, %d], \"num_heads\": [%d, %d, %d, %d], \"window\": %d, "
                 "\"drop_path_rate\": %g}",
                 r->backbone, sc.embed_dim, sc.depths[0], sc.depths[1], sc.depths[2], sc.depths[3], sc.num_heads[0], sc.num_heads[1],
                 sc.num_heads[2], sc.num_heads[3], sc.window, sc.drop_path_rate);
        int64_t bb_total = params_count(&c.ps, 0) - c.head_w->n - c.head_b->n;
        int64_t bb_train = params_count(&c.ps, 1) - c.head_w->n - c.head_b->n;
        char *recj = recipe_json(r);
        char data[2048];
        snprintf(data, sizeof data, "%s%s%s", s->data_desc ? s->data_desc : "", s->data_desc ? "; " : "", train.description);
        results_run rr = {0};
        rr.dataset = s->ds->key;
        rr.method = key;
        rr.complete = 1;
        rr.seed = (int64_t)r->seed;
        rr.recipe_json = recj;
        rr.backbone = r->backbone;
        rr.backbone_json = bbjson;
        rr.pretrained_path = s->pretrained && *s->pretrained ? s->pretrained : "";
        rr.trainable_params = out->trainable;
        rr.total_params = out->total;
        rr.backbone_trainable_params = bb_train;
        rr.backbone_params = bb_total;
        rr.data = data;
        rr.train_split = train.description;
        rr.test_split = test.description;
        rr.n_train_samples = train.n;
        rr.n_test_samples = test.n;
        rr.n_classes = train.n_classes;
        rr.wall_time_s = out->wall_s;
        rr.peak_mem_bytes = (int64_t)mem_peak_rss();
        rr.threads = omp_get_max_threads();
        rr.n_curve = cv.n;
        rr.curve_iter = cv.iter;
        rr.curve_epoch = cv.epoch;
        rr.curve_loss = cv.loss;
        rr.curve_lr = cv.lr;
        rr.curve_img_s = cv.ips;
        rr.n_metrics = 2;
        rr.metric[0] = "top1";
        rr.metric[1] = "top5";
        rr.n_eval = ev.n;
        rr.eval_iter = ev.iter;
        rr.eval[0] = ev.lr;
        rr.eval[1] = ev.ips;
        rr.final[0] = out->top1;
        rr.final[1] = out->top5;
        int wrc = results_write_run(s->results_path, &rr);
        free(recj);
        if (wrc) goto done;
    }
    if (!s->quiet)
        fprintf(stderr, "[%s] done: top-1 %.2f  top-5 %.2f  (%lld iterations, %.0f s)\n", tag, out->top1, out->top5, (long long)it, out->wall_s);
    rc = 0;
done:
    if (L) cls_loader_close(L);
    free(meta);
    curve_free(&cv);
    curve_free(&ev);
    graph_free(&g);
    pg_rules_free(&rules);
    if (have_optim) optim_free(&o);
    if (have_model) classifier_free(&c);
    cls_dataset_free(&train);
    cls_dataset_free(&test);
    return rc;
}
