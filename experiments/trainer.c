/* trainer.c - the shared training loop (see trainer.h). */
#include "trainer.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/checkpoint.h"
#include "../core/comm.h"
#include "../core/optim.h"
#include "../core/schedule.h"
#include "../core/sha256.h"
#include "../methods/method.h"

volatile int trainer_interrupted;

/* ---- growable columns of doubles: the training curve and the evaluation history ---- */
#define SERIES_MAX_COLS (5 + TRAIN_MAX_PARTS + RESULTS_MAX_METRICS)
typedef struct series {
    int ncol;
    const char *key[SERIES_MAX_COLS];  /* the column's key in the saved state */
    const char *alt[SERIES_MAX_COLS];  /* an older key for the same column (states of earlier versions) */
    int64_t n, cap;
    double *col[SERIES_MAX_COLS];
} series;

static void series_push(series *s, const double *v) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        for (int k = 0; k < s->ncol; k++) s->col[k] = xrealloc(s->col[k], sizeof(double) * s->cap);
    }
    for (int k = 0; k < s->ncol; k++) s->col[k][s->n] = v[k];
    s->n++;
}

static void series_free(series *s) {
    for (int k = 0; k < s->ncol; k++) free(s->col[k]);
    s->n = s->cap = 0;
}

/* One string per column of space-separated "%.17g" values, so every double comes back bit for bit (cJSON
 * prints numbers with 15 digits when they compare equal within an epsilon, and the checkpoint writer
 * re-prints the metadata). */
static cJSON *series_json(const series *s) {
    cJSON *o = cJSON_CreateObject();
    size_t cap = 32 * (size_t)s->n + 1;
    char *buf = xmalloc(cap);
    for (int k = 0; k < s->ncol; k++) {
        size_t len = 0;
        buf[0] = 0;
        for (int64_t i = 0; i < s->n; i++) len += snprintf(buf + len, cap - len, "%s%.17g", i ? " " : "", s->col[k][i]);
        cJSON_AddStringToObject(o, s->key[k], buf);
    }
    free(buf);
    return o;
}

/* a saved column: a string of numbers (series_json) or a JSON array (older states) */
static int column_parse(const cJSON *a, double **out, int *n, const char *where, const char *key) {
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

static int series_from_json(series *s, const cJSON *o, const char *where) {
    double *col[SERIES_MAX_COLS] = {0};
    int n = -1, rc = 0;
    for (int k = 0; k < s->ncol && !rc; k++) {
        int nk;
        const cJSON *a = o ? cJSON_GetObjectItemCaseSensitive(o, s->key[k]) : NULL;
        if (!a && o && s->alt[k]) a = cJSON_GetObjectItemCaseSensitive(o, s->alt[k]);
        if (column_parse(a, &col[k], &nk, where, s->key[k])) rc = -1;
        else if (n >= 0 && nk != n) rc = err_set("%s: training state has a malformed '%s' history (%d entries, not %d)", where, s->key[k], nk, n);
        n = nk;
    }
    double v[SERIES_MAX_COLS];
    if (!rc)
        for (int i = 0; i < n; i++) {
            for (int k = 0; k < s->ncol; k++) v[k] = col[k][i];
            series_push(s, v);
        }
    for (int k = 0; k < s->ncol; k++) free(col[k]);
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

/* one training step on a batch: a dry run first when the memory plan for this input shape is missing */
static int train_step(train_task *t, graph *g, const void *b, double *loss, double *parts) {
    graph_reset(g);
    graph_set_key(g, t->batch_key(b));
    if (graph_plan_needed(g)) { /* a dry run records the activation memory plan (tensor.h) */
        graph_dry_begin(g);
        double l, p[TRAIN_MAX_PARTS];
        if (t->step(t->self, g, b, &l, p)) return -1;
        graph_reset(g);
    }
    params_zero_grad(t->ps);
    return t->step(t->self, g, b, loss, parts);
}

/* the metrics on every rank: the task's evaluate on every rank when it splits the test split itself
 * (eval_sharded), else on rank 0 alone while the others wait for its broadcast */
static int evaluate(train_task *t, graph *g, double *m) {
    int gm = g->grad_mode, tr = g->training, alone = comm_size() > 1 && !t->eval_sharded;
    g->grad_mode = 0;
    g->training = 0;
    int rc = !alone || comm_rank() == 0 ? t->evaluate(t->self, g, m) : 0;
    g->grad_mode = gm;
    g->training = tr;
    if (!rc && alone) rc = comm_bcast(m, sizeof(double) * t->n_metrics, 0);
    return rc;
}

/* ---- data parallel (see trainer.h) ---- */

/* Every rank hashes the recipe (with the method and the learning rate), the build commit and the data; rank 0
 * broadcasts its hashes and every rank learns which ranks differ in which. Refuses (on every rank, with the
 * same message) when any differs. */
static int ranks_agree(const trainer_spec *s, train_task *t, const char *rj, const char *tag) {
    int n = comm_size(), me = comm_rank();
    if (n == 1) return 0;
    enum { N_WHAT = 3 };
    static const char *what[N_WHAT] = {"the recipe (recipe file, overrides, method or learning rate)", "the build commit",
                                       "the data (file lists and labels)"};
    uint8_t mine[N_WHAT][32], root[N_WHAT][32];
    sha256_ctx c;
    char lr[64];
    snprintf(lr, sizeof lr, "%.17g", s->lr);
    /* threads and workers only change speed (recipe_json_same), and where a dataset is mounted is not what
     * it holds (the data hash below compares the contents): a rank may differ in them */
    cJSON *rc_json = cJSON_Parse(rj), *dse;
    cJSON_DeleteItemFromObjectCaseSensitive(rc_json, "threads");
    cJSON_DeleteItemFromObjectCaseSensitive(rc_json, "workers");
    cJSON_ArrayForEach(dse, cJSON_GetObjectItemCaseSensitive(rc_json, "datasets")) cJSON_DeleteItemFromObjectCaseSensitive(dse, "root");
    char *rtext = rc_json ? cJSON_PrintUnformatted(rc_json) : NULL;
    cJSON_Delete(rc_json);
    if (!rtext) return err_set("[%s] %s:%d: the recipe's JSON text does not parse back", tag, __FILE__, __LINE__);
    sha256_init(&c);
    sha256_update(&c, rtext, strlen(rtext) + 1);
    free(rtext);
    sha256_update(&c, s->method, strlen(s->method) + 1);
    sha256_update(&c, lr, strlen(lr) + 1);
    sha256_final(&c, mine[0]);
    sha256_init(&c);
    sha256_update(&c, build_commit(), strlen(build_commit()) + 1);
    sha256_final(&c, mine[1]);
    sha256_init(&c);
    sha256_update(&c, s->dataset_key, strlen(s->dataset_key) + 1);
    if (t->fingerprint) t->fingerprint(t->self, &c);
    sha256_final(&c, mine[2]);
    memcpy(root, mine, sizeof root);
    if (comm_bcast(root, sizeof root, 0)) return -1;
    int64_t *bad = xcalloc((size_t)N_WHAT * n, sizeof(int64_t));
    for (int k = 0; k < N_WHAT; k++) bad[k * n + me] = memcmp(mine[k], root[k], 32) != 0;
    int rc = comm_allreduce_max_i64(bad, (int64_t)N_WHAT * n);
    for (int k = 0; k < N_WHAT && !rc; k++) {
        char ranks[256] = "";
        int nb = 0;
        size_t len = 0;
        for (int q = 0; q < n; q++)
            if (bad[k * n + q] && len < sizeof ranks - 16) len += snprintf(ranks + len, sizeof ranks - len, "%s%d", nb++ ? ", " : "", q);
        if (nb)
            rc = err_set("[%s] the %d ranks disagree about %s: rank%s %s differ%s from rank 0; every rank must run the same command "
                         "with the same build on the same data",
                         tag, n, what[k], nb > 1 ? "s" : "", ranks, nb > 1 ? "" : "s");
    }
    free(bad);
    return rc;
}

/* After each rank's backward: the trainable block's gradient summed over the ranks in one all-reduce and
 * divided by N (the mean of the ranks' shard means = the global batch mean: equal shards); the loss, its parts,
 * the gradient-present flags (a parameter with a gradient on any rank has one) and an interruption on any rank
 * in a second, small all-reduce. */
static int sync_step(train_task *t, double *loss, double *parts, int *interrupted) {
    int n = comm_size();
    if (n == 1) return 0;
    params *ps = t->ps;
    if (comm_allreduce_sum_f32(ps->grad, ps->n_train)) return -1;
    float inv = 1.0f / (float)n;
    for (int64_t i = 0; i < ps->n_train; i++) ps->grad[i] *= inv;
    int m = 2 + TRAIN_MAX_PARTS;
    double *v = xmalloc(sizeof(double) * (m + ps->n));
    v[0] = *loss, v[1] = *interrupted;
    for (int k = 0; k < TRAIN_MAX_PARTS; k++) v[2 + k] = parts[k];
    for (int i = 0; i < ps->n; i++) v[m + i] = ps->p[i]->trainable && ps->p[i]->t.grad_set;
    int rc = comm_allreduce_sum_f64(v, m + ps->n);
    if (!rc) {
        *loss = v[0] / n, *interrupted = v[1] > 0;
        for (int k = 0; k < TRAIN_MAX_PARTS; k++) parts[k] = v[2 + k] / n;
        for (int i = 0; i < ps->n; i++)
            if (ps->p[i]->trainable) ps->p[i]->t.grad_set = v[m + i] > 0;
    }
    free(v);
    return rc;
}

/* Fault injection for the tests: DB_FAULT_KILL="RANK:ITER" makes rank RANK kill itself with SIGKILL just
 * before training step ITER + 1 (after ITER steps), as a crashed machine would. */
static int64_t fault_kill_iter(void) {
    const char *e = getenv("DB_FAULT_KILL");
    int rank = -1;
    long long iter = -1;
    if (!e || sscanf(e, "%d:%lld", &rank, &iter) != 2 || rank != comm_rank()) return -1;
    return iter;
}

static char *state_meta(const trainer_spec *s, const series *cv, const series *ev, double wall) {
    cJSON *mj = cJSON_CreateObject();
    char *rj = recipe_json(s->r);
    cJSON_AddItemToObject(mj, "recipe", cJSON_Parse(rj));
    free(rj);
    cJSON_AddStringToObject(mj, "method", s->method);
    cJSON_AddStringToObject(mj, "dataset", s->dataset_key);
    if (cv) cJSON_AddItemToObject(mj, "curve", series_json(cv));
    if (ev) cJSON_AddItemToObject(mj, "evals", series_json(ev));
    if (cv) cJSON_AddNumberToObject(mj, "wall_s", wall);
    char *ms = cJSON_PrintUnformatted(mj);
    cJSON_Delete(mj);
    return ms;
}

int trainer_run(const trainer_spec *s_in, train_task *t, trainer_out *out) {
    trainer_spec s_rank = *s_in;
    if (comm_rank() != 0) s_rank.quiet = 1; /* rank 0 speaks for the job */
    const trainer_spec *s = &s_rank;
    const recipe *r = s->r;
    memset(out, 0, sizeof *out);
    for (int k = 0; k < RESULTS_MAX_METRICS; k++) out->final[k] = NAN;
    const char *tag = s->tag ? s->tag : s->method;
    double t_start = time_now();
    int rc = -1, have_optim = 0, opened = 0;
    optim o;
    pg_rules rules;
    pg_rules_init(&rules);
    graph g;
    graph_init(&g, 64 << 20);
    if (getenv("DB_PROFILE")) graph_profile_enable(&g); /* per-op times, printed at the end of the run */
    if (t->plan_memory) { /* activation memory planned per (mode, input shape) from a dry run's record (tensor.h) */
        graph_plan_enable(&g);
        if (t->plan_slots) graph_plan_slots(&g, t->plan_slots);
    }
    series cv = {.ncol = 5, .key = {"iter", "epoch", "loss", "lr", "ips"}}, ev = {.ncol = 2, .key = {"iter", "epoch"}};
    for (int k = 0; k < t->n_parts; k++) cv.key[cv.ncol++] = t->part_name[k];
    for (int k = 0; k < t->n_metrics; k++) {
        ev.alt[ev.ncol] = k == 0 ? "lr" : k == 1 ? "ips" : NULL; /* classification states before the shared trainer */
        ev.key[ev.ncol++] = t->metric_name[k];
    }
    char *meta = NULL, state_path[1100], delta_path[1100];
    snprintf(state_path, sizeof state_path, "%s/state.safetensors", s->run_dir);
    snprintf(delta_path, sizeof delta_path, "%s/delta.safetensors", s->run_dir);
    const cJSON *pw = s->paramwise ? s->paramwise : r->paramwise;
    if (pw && pg_rules_from_json(&rules, pw, r->path)) goto done;
    pg_apply_ex(t->ps, &rules, t->match_prefix, t->match_keep, t->n_match_keep);
    if (optim_adamw_init(&o, t->ps, s->lr, r->beta1, r->beta2, r->eps, r->weight_decay)) goto done;
    have_optim = 1;
    int ipe = t->iters_per_epoch;
    /* epoch-based: epochs x ipe iterations (max_iters, when smaller, stops early); iteration-based (IterBasedRunner):
     * max_iters iterations, the data stream running over as many epochs as that takes */
    int n_epochs = r->iter_based ? (int)((r->max_iters + ipe - 1) / ipe) : r->epochs;
    int64_t total = r->iter_based ? (int64_t)r->max_iters : (int64_t)ipe * r->epochs, stop_at = total;
    if (r->max_iters > 0 && r->max_iters < total) stop_at = r->max_iters;
    sched sch;
    if (sched_from_json(&sch, r->lr_config, ipe, n_epochs, total, r->path)) goto done;
    out->trainable = params_count(t->ps, 1);
    out->total = params_count(t->ps, 0);
    int n_ranks = comm_size(), rank = comm_rank(), lead = rank == 0;
    if (n_ranks > 1 && !t->can_shard) {
        err_set("[%s] this task cannot be split over %d ranks yet (run it without mpirun)", tag, n_ranks);
        goto done;
    }
    if (n_ranks > 1 && r->batch % n_ranks) {
        err_set("[%s] the global batch %d is not a multiple of the %d ranks: each rank takes an equal share of every batch "
                "(choose --batch or -np so that it divides)", tag, r->batch, n_ranks);
        goto done;
    }
    /* resume */
    train_state st;
    memset(&st, 0, sizeof st);
    char *rj = recipe_json(r);
    if (ranks_agree(s, t, rj, tag)) {
        free(rj);
        goto done;
    }
    if (lead && s->resume && s->restart_if_stale && file_exists(state_path)) {
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
    if (comm_barrier()) { /* rank 0 removed a stale state before any rank looks for one */
        free(rj);
        goto done;
    }
    if (s->resume && file_exists(state_path)) {
        if (ckpt_load_train_state(state_path, t->ps, &o, &st, &meta)) {
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
        const cJSON *mm = cJSON_GetObjectItemCaseSensitive(mj, "method");
        char saved_spec[METHOD_SPEC_MAX] = "";
        if (cJSON_IsString(mm) && method_spec_canonical(mm->valuestring, saved_spec, sizeof saved_spec)) err_clear(), saved_spec[0] = 0;
        if (!same)
            err_set("%s: saved with a different recipe; remove %s to start this run again", state_path, s->run_dir);
        else if (cJSON_IsString(mm) && strcmp(saved_spec, s->method))
            bad = 1, err_set("%s: saved under method '%s', this run is '%s'; remove %s to start this run again", state_path,
                             mm->valuestring, s->method, s->run_dir);
        else if (series_from_json(&cv, mc, state_path) || series_from_json(&ev, me, state_path))
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
    if (n_ranks > 1) { /* every rank starts from rank 0's parameters (DDP's broadcast at construction) */
        if (comm_bcast(t->ps->train, sizeof(float) * t->ps->n_train, 0) || comm_bcast(t->ps->frozen, sizeof(float) * t->ps->n_frozen, 0))
            goto done;
        int per = r->batch / n_ranks;
        g.shard_offset = rank * per, g.shard_count = per, g.shard_total = r->batch;
        if (!s->quiet)
            fprintf(stderr, "[%s] data parallel over %d ranks (%s): %d of every %d samples per rank; %lld gradient floats (%.1f MiB) all-reduced per step\n",
                    tag, n_ranks, comm_library(), per, r->batch, (long long)t->ps->n_train, 4.0 * t->ps->n_train / (1 << 20));
    }
    t->shard_rank = rank, t->shard_size = n_ranks;
    if (mkdir_p(s->run_dir)) goto done;
    int64_t it = st.iter, it_start = st.iter;
    if (it < stop_at) {
        if (t->train_open(t->self, (int)(it / ipe), (int)(it % ipe))) goto done;
        opened = 1;
    }
    g.training = 1;
    double t_last = time_now(), t_prog = 0, t0_win = time_now();
    double phase[3] = {0}; /* seconds waiting for data, in the step (forward, backward), in the optimiser */
    int64_t n_phase = 0;
    int64_t it0_win = it, kill_at = fault_kill_iter();
    while (it < stop_at) {
        if (it == kill_at) {
            fprintf(stderr, "[%s] DB_FAULT_KILL: rank %d kills itself (SIGKILL) after %lld iterations\n", tag, rank, (long long)it);
            raise(SIGKILL);
        }
        void *b = NULL;
        double tp0 = time_now();
        int nr = t->train_next(t->self, &b);
        double tp1 = time_now();
        if (nr < 0) goto done;
        if (nr == 0) break;
        double loss, parts[TRAIN_MAX_PARTS] = {0};
        int src = train_step(t, &g, b, &loss, parts);
        int nimg = t->batch_images(b) * n_ranks;
        t->batch_free(t->self, b);
        if (src) goto done;
        double tp2 = time_now();
        int any_interrupted = trainer_interrupted;
        if (sync_step(t, &loss, parts, &any_interrupted)) goto done;
        if (!isfinite(loss)) {
            err_set("[%s] the loss became %f at iteration %lld: lower the learning rate", tag, loss, (long long)it);
            goto done;
        }
        if (r->grad_clip > 0) optim_clip_grad_norm(t->ps, r->grad_clip);
        double cur_lr = sched_lr_at(&sch, s->lr, it);
        sched_optim_step(&o, &sch, it);
        it++;
        double now = time_now();
        phase[0] += tp1 - tp0, phase[1] += tp2 - tp1, phase[2] += now - tp2, n_phase++;
        double row[SERIES_MAX_COLS] = {(double)it, (double)it / ipe, loss, cur_lr, nimg / (now - t_last)};
        for (int k = 0; k < t->n_parts; k++) row[5 + k] = parts[k];
        series_push(&cv, row);
        t_last = now;
        int epoch_end = it % ipe == 0;
        if (r->iter_based) { /* mmcv EvalHook by iteration: every eval_interval_iters, and the last iteration */
            if ((r->eval_interval_iters > 0 && it % r->eval_interval_iters == 0) || it >= stop_at) {
                double m[RESULTS_MAX_METRICS];
                if (evaluate(t, &g, m)) goto done;
                double er[SERIES_MAX_COLS] = {(double)it, (double)it / ipe};
                for (int k = 0; k < t->n_metrics; k++) er[2 + k] = m[k];
                series_push(&ev, er);
                if (!s->quiet) {
                    fprintf(stderr, "\n[%s] iteration %lld:", tag, (long long)it);
                    for (int k = 0; k < t->n_metrics; k++) fprintf(stderr, "  %s %.2f", t->metric_name[k], m[k]);
                    fputc('\n', stderr);
                }
            }
        } else if (epoch_end) {
            int ep = (int)(it / ipe);
            if (ep % (r->eval_interval_epochs > 0 ? r->eval_interval_epochs : 1) == 0 || it >= stop_at) {
                double m[RESULTS_MAX_METRICS];
                if (evaluate(t, &g, m)) goto done;
                double er[SERIES_MAX_COLS] = {(double)it, (double)ep};
                for (int k = 0; k < t->n_metrics; k++) er[2 + k] = m[k];
                series_push(&ev, er);
                if (!s->quiet) {
                    fprintf(stderr, "\n[%s] epoch %d:", tag, ep);
                    for (int k = 0; k < t->n_metrics; k++) fprintf(stderr, "  %s %.2f", t->metric_name[k], m[k]);
                    fputc('\n', stderr);
                }
            }
        }
        int stop = any_interrupted || (s->stop_after_iters > 0 && it - it_start >= s->stop_after_iters);
        if (lead && (epoch_end || stop || (r->ckpt_interval_iters > 0 && it % r->ckpt_interval_iters == 0))) {
            st.iter = it;
            st.epoch = it / ipe;
            st.n_rng = 1;
            st.rng[0] = g.rng;
            char *ms = state_meta(s, &cv, &ev, time_now() - t_start);
            int wrc = ckpt_save_train_state(state_path, t->ps, &o, &st, ms);
            free(ms);
            if (wrc) goto done;
        }
        if (!s->quiet && (now - t_prog > 1.0 || it == stop_at)) {
            double ips = (it - it0_win) * (double)r->batch / (now - t0_win + 1e-9);
            char eta[32];
            fmt_time((stop_at - it) * (double)r->batch / (ips + 1e-9), eta, sizeof eta);
            fprintf(stderr, "\r[%s] epoch %lld/%d iter %lld/%lld loss %.4f", tag, (long long)(it / ipe + (it % ipe ? 1 : 0)), n_epochs,
                    (long long)it, (long long)stop_at, loss);
            for (int k = 0; k < t->n_parts; k++) fprintf(stderr, " %s %.4f", t->part_name[k], parts[k]);
            fprintf(stderr, " lr %.3g %.1f img/s ETA %s   ", cur_lr, ips, eta);
            if (!isatty(2)) fputc('\n', stderr);
            t_prog = now;
        }
        if (stop) {
            out->stopped = 1;
            out->iters = it;
            if (!s->quiet) fprintf(stderr, "\n[%s] stopped at iteration %lld; state saved in %s (resume to continue)\n", tag, (long long)it, state_path);
            rc = comm_barrier(); /* the state is on disk before any rank moves on */
            goto done;
        }
    }
    if (!s->quiet) fputc('\n', stderr);
    /* final evaluation (unless the last epoch end just did it) */
    if (!ev.n || (int64_t)ev.col[0][ev.n - 1] != it) {
        double m[RESULTS_MAX_METRICS];
        if (evaluate(t, &g, m)) goto done;
        double er[SERIES_MAX_COLS] = {(double)it, (double)it / ipe};
        for (int k = 0; k < t->n_metrics; k++) er[2 + k] = m[k];
        series_push(&ev, er);
    }
    for (int k = 0; k < t->n_metrics; k++) out->final[k] = ev.col[2 + k][ev.n - 1];
    for (int64_t e = 0; e < ev.n; e++) /* the first of equal bests */
        if (e == 0 || ev.col[2][e] > out->best_value) out->best_value = ev.col[2][e], out->best_iter = (int64_t)ev.col[0][e];
    out->iters = it;
    out->final_loss = cv.n ? cv.col[2][cv.n - 1] : NAN;
    out->wall_s = time_now() - t_start;
    if (lead) {
        char *ms = state_meta(s, NULL, NULL, 0);
        int wrc = ckpt_save_delta(delta_path, t->ps, ms);
        if (!wrc && s->save_extra) wrc = s->save_extra(t->self, ms);
        free(ms);
        if (wrc) goto done;
    }
    if (lead && s->results_path) {
        char *recj = recipe_json(r);
        int64_t *ci = xmalloc(sizeof(int64_t) * (cv.n + 1)), *ei = xmalloc(sizeof(int64_t) * (ev.n + 1));
        for (int64_t i = 0; i < cv.n; i++) ci[i] = (int64_t)cv.col[0][i];
        for (int64_t i = 0; i < ev.n; i++) ei[i] = (int64_t)ev.col[0][i];
        results_run rr = {0};
        rr.dataset = s->dataset_key;
        rr.method = s->results_key ? s->results_key : s->method;
        rr.method_spec = s->method;
        rr.complete = 1;
        rr.seed = (int64_t)r->seed;
        rr.recipe_json = recj;
        rr.backbone = r->backbone;
        rr.backbone_json = s->backbone_json;
        rr.pretrained_path = s->pretrained && *s->pretrained ? s->pretrained : "";
        rr.trainable_params = out->trainable;
        rr.total_params = out->total;
        rr.wall_time_s = out->wall_s;
        rr.peak_mem_bytes = (int64_t)mem_peak_rss();
        rr.threads = omp_get_max_threads();
        rr.n_curve = cv.n;
        rr.curve_iter = ci;
        rr.curve_epoch = cv.col[1];
        rr.curve_loss = cv.col[2];
        rr.curve_lr = cv.col[3];
        rr.curve_img_s = cv.col[4];
        rr.n_curve_parts = t->n_parts;
        for (int k = 0; k < t->n_parts; k++) rr.curve_part_name[k] = t->part_name[k], rr.curve_part[k] = cv.col[5 + k];
        rr.n_metrics = t->n_metrics;
        for (int k = 0; k < t->n_metrics; k++) rr.metric[k] = t->metric_name[k], rr.eval[k] = ev.col[2 + k], rr.final[k] = out->final[k];
        rr.n_eval = ev.n;
        rr.eval_iter = ei;
        if (t->record_best) rr.best_iter = out->best_iter, rr.best_value = out->best_value;
        if (t->fill_results) t->fill_results(t->self, &rr);
        int wrc = results_write_run(s->results_path, &rr);
        free(recj), free(ci), free(ei);
        if (wrc) goto done;
    }
    if (!s->quiet) {
        fprintf(stderr, "[%s] done:", tag);
        for (int k = 0; k < t->n_metrics; k++) fprintf(stderr, " %s %.2f", t->metric_name[k], out->final[k]);
        fprintf(stderr, "  (%lld iterations, %.0f s)\n", (long long)it, out->wall_s);
        if (getenv("DB_PROFILE") && n_phase)
            fprintf(stderr, "[%s] per iteration: %.1f ms waiting for data, %.1f ms forward and backward, %.1f ms all-reduce, clipping and optimiser; %.0f s in all outside them (evaluation, checkpoints)\n",
                    tag, 1e3 * phase[0] / n_phase, 1e3 * phase[1] / n_phase, 1e3 * phase[2] / n_phase, out->wall_s - phase[0] - phase[1] - phase[2]);
        if (t->plan_memory)
            fprintf(stderr, "[%s] memory plans: %d computed from %d dry runs, %d held, %d evicted; shared block %.1f MiB\n", tag,
                    g.stats.n_plans, g.stats.dry_runs, g.stats.held, g.stats.evictions, (double)g.stats.block_bytes / (1 << 20));
    }
    rc = comm_barrier(); /* rank 0's delta and results are written before any rank reads them */
done:
    if (opened) t->train_close(t->self);
    free(meta);
    series_free(&cv);
    series_free(&ev);
    if (getenv("DB_PROFILE")) graph_profile_print(&g, stderr, atoi(getenv("DB_PROFILE")) > 0 ? atoi(getenv("DB_PROFILE")) : 25);
    graph_free(&g);
    pg_rules_free(&rules);
    if (have_optim) optim_free(&o);
    return rc;
}
