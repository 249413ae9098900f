/* report.c - Markdown/LaTeX tables, figure data (.dat) and gnuplot figures from a results file (see
 * report.h). Everything shown is read from the HDF5: measured values from /runs, the paper's from /paper. */
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../core/common.h"
#include "../metrics/stats.h"
#include "../methods/method.h"
#include "results.h"
#include "textbuf.h"

extern char **environ;

/* ------------------------------------------------------------------------------------------------ */
/* everything a report needs, read once                                                             */

typedef struct report_data {
    const results_task_desc *t;
    results_info info;
    results_paper paper;
    results_run *runs; /* [d * n_methods + m] */
    int *have;         /* 1 if that run is in the file */
    char **extra;      /* "dataset/method" of runs the task descriptor does not know */
    results_run *extra_runs; /* [n_extra], read like the others */
    int n_extra;
    /* the runs of further seeds of a table method (`deltabench reproduce --seeds N`): key "<method>_seed<i>",
     * i >= 1; sruns[k] is seed index s_idx[k] of (s_di[k], s_mi[k]). n_slots = 1 + the largest index (1: one seed,
     * the tables exactly as without seeds) */
    results_run *sruns;
    int *s_di, *s_mi, *s_idx;
    int n_sruns, n_slots;
} report_data;

/* The seed index of a run key "<base>_seed<i>" (i >= 1 without leading zeros; reproduce.c's seed_key), with
 * <base> copied to base; 0 (and base = key) for any other key. */
static int seed_suffix(const char *key, char *base, size_t n) {
    snprintf(base, n, "%s", key);
    const char *u = strrchr(key, '_');
    if (!u || strncmp(u, "_seed", 5) || u[5] < '1' || u[5] > '9' || u == key) return 0;
    long i = 0;
    for (const char *c = u + 5; *c; c++) {
        if (*c < '0' || *c > '9' || i > 100000) return 0;
        i = i * 10 + (*c - '0');
    }
    if ((size_t)(u - key) < n) base[u - key] = 0;
    return (int)i;
}

static void data_free(report_data *d) {
    if (d->runs)
        for (int i = 0; i < d->t->n_datasets * d->t->n_methods; i++)
            if (d->have[i]) results_run_free(&d->runs[i]);
    free(d->runs);
    free(d->have);
    for (int i = 0; i < d->n_extra; i++) free(d->extra[i]), results_run_free(&d->extra_runs[i]);
    free(d->extra);
    free(d->extra_runs);
    for (int i = 0; i < d->n_sruns; i++) results_run_free(&d->sruns[i]);
    free(d->sruns), free(d->s_di), free(d->s_mi), free(d->s_idx);
    results_paper_free(&d->paper);
}

static int data_load_desc(const char *path, const results_task_desc *t, report_data *d) {
    memset(d, 0, sizeof *d);
    d->t = t;
    if (results_read_info(path, &d->info)) return -1;
    if (strcmp(d->info.task, t->task)) return err_set("%s: holds task '%s', not '%s'", path, d->info.task, t->task);
    if (results_read_paper(path, &d->paper)) return -1;
    int nd = d->t->n_datasets, nm = d->t->n_methods;
    d->runs = xcalloc((size_t)(nd * nm), sizeof(results_run));
    d->have = xcalloc((size_t)(nd * nm), sizeof(int));
    char **ds, **me;
    int n = results_list_runs(path, &ds, &me);
    if (n < 0) {
        data_free(d);
        return -1;
    }
    int rc = 0;
    d->n_slots = 1;
    for (int i = 0; i < n && !rc; i++) {
        int di = -1, mi = -1, smi = -1;
        char base[512];
        int si = seed_suffix(me[i], base, sizeof base);
        for (int k = 0; k < nd; k++)
            if (!strcmp(ds[i], d->t->datasets[k].key)) di = k;
        for (int k = 0; k < nm; k++) {
            if (!strcmp(me[i], d->t->methods[k].key)) mi = k;
            if (si > 0 && !strcmp(base, d->t->methods[k].key)) smi = k;
        }
        if (di >= 0 && mi < 0 && smi >= 0) { /* a further seed of a table method */
            int k = d->n_sruns;
            d->sruns = xrealloc(d->sruns, sizeof(results_run) * (size_t)(k + 1));
            d->s_di = xrealloc(d->s_di, sizeof(int) * (size_t)(k + 1));
            d->s_mi = xrealloc(d->s_mi, sizeof(int) * (size_t)(k + 1));
            d->s_idx = xrealloc(d->s_idx, sizeof(int) * (size_t)(k + 1));
            if (results_read_run(path, ds[i], me[i], &d->sruns[k])) {
                rc = -1;
                continue;
            }
            d->s_di[k] = di, d->s_mi[k] = smi, d->s_idx[k] = si;
            d->n_sruns++;
            if (si + 1 > d->n_slots) d->n_slots = si + 1;
            continue;
        }
        if (di < 0 || mi < 0) {
            d->extra = xrealloc(d->extra, sizeof(char *) * (size_t)(d->n_extra + 1));
            d->extra_runs = xrealloc(d->extra_runs, sizeof(results_run) * (size_t)(d->n_extra + 1));
            size_t len = strlen(ds[i]) + strlen(me[i]) + 2;
            d->extra[d->n_extra] = xmalloc(len);
            snprintf(d->extra[d->n_extra], len, "%s/%s", ds[i], me[i]);
            if (results_read_run(path, ds[i], me[i], &d->extra_runs[d->n_extra])) {
                free(d->extra[d->n_extra]);
                rc = -1;
            } else
                d->n_extra++;
            continue;
        }
        if (results_read_run(path, ds[i], me[i], &d->runs[di * nm + mi])) rc = -1;
        else d->have[di * nm + mi] = 1;
    }
    for (int i = 0; i < n; i++) {
        free(ds[i]);
        free(me[i]);
    }
    free(ds);
    free(me);
    if (rc) data_free(d);
    return rc;
}

/* A table method's label with the options its runs used where they differ from the authors' defaults, e.g.
 * "Mona (width=4)" for an embedded default that scales the widths to its small backbone (recipe
 * "method_options"); the plain label when every option is the authors' or no run records a spec. */
static void method_label(const report_data *d, int mi, char *buf, size_t n) {
    const results_task_desc *t = d->t;
    snprintf(buf, n, "%s", t->methods[mi].label);
    const char *spec = NULL;
    for (int di = 0; di < t->n_datasets && !spec; di++)
        if (d->have[di * t->n_methods + mi]) spec = d->runs[di * t->n_methods + mi].method_spec;
    char def[METHOD_SPEC_MAX];
    if (!spec || method_spec_canonical(t->methods[mi].key, def, sizeof def) || !strcmp(spec, def)) return;
    size_t len = strlen(buf);
    int first = 1;
    for (const char *o = strchr(spec, ':'); o && len + 8 < n; o = strchr(o + 1, ':')) {
        const char *e = strchr(o + 1, ':');
        size_t ol = e ? (size_t)(e - o) : strlen(o); /* ":width=4" */
        int same = 0;
        for (const char *q = strchr(def, ':'); q && !same; q = strchr(q + 1, ':')) {
            const char *qe = strchr(q + 1, ':');
            size_t ql = qe ? (size_t)(qe - q) : strlen(q);
            same = ql == ol && !strncmp(q, o, ol);
        }
        if (same) continue;
        len += (size_t)snprintf(buf + len, n - len, "%s%.*s", first ? " (" : ", ", (int)(ol - 1), o + 1);
        first = 0;
    }
    if (!first && len + 1 < n) snprintf(buf + len, n - len, ")");
}

static int data_load(const char *path, const char *task, report_data *d) {
    const results_task_desc *t = results_task(task);
    if (!t) return -1;
    return data_load_desc(path, t, d);
}

static const results_run *run_at(const report_data *d, int di, int mi) {
    return d->have[di * d->t->n_methods + mi] ? &d->runs[di * d->t->n_methods + mi] : NULL;
}

/* Seed index si of (dataset, method): the run under the method's key for 0, "<key>_seed<si>" after; NULL if none. */
static const results_run *seed_run(const report_data *d, int di, int mi, int si) {
    if (si == 0) return run_at(d, di, mi);
    for (int k = 0; k < d->n_sruns; k++)
        if (d->s_di[k] == di && d->s_mi[k] == mi && d->s_idx[k] == si) return &d->sruns[k];
    return NULL;
}

/* Whether (dataset, method) has a run of any seed. */
static int present(const report_data *d, int di, int mi) {
    for (int si = 0; si < d->n_slots; si++)
        if (seed_run(d, di, mi, si)) return 1;
    return 0;
}

/* An average column (and group) only when the task has more than one dataset. */
static int has_avg(const results_task_desc *t) { return t->n_datasets > 1; }

static int metric_index(const results_run *r, const char *metric) {
    for (int m = 0; m < r->n_metrics; m++)
        if (!strcmp(r->metric[m], metric)) return m;
    return -1;
}

/* The final value of a metric in each seed slot of (dataset, method): v[si] (NaN where there is no run or no
 * value); returns how many are finite and sets *partial when a run among them is not complete. */
static int seed_values(const report_data *d, int di, int mi, const char *metric, double *v, int *partial) {
    int n = 0, part = 0;
    for (int si = 0; si < d->n_slots; si++) {
        const results_run *r = seed_run(d, di, mi, si);
        int k = r ? metric_index(r, metric) : -1;
        v[si] = k >= 0 ? r->final[k] : NAN;
        if (r) part |= !r->complete;
        n += isfinite(v[si]);
    }
    if (partial) *partial = part;
    return n;
}

/* The same for the average over the task's datasets, seed by seed: v[si] is NaN unless every dataset has a
 * value at that seed index. */
static int seed_values_avg(const report_data *d, int mi, const char *metric, double *v, int *partial) {
    int n = 0, part = 0, nd = d->t->n_datasets;
    double *x = xmalloc(sizeof(double) * (size_t)d->n_slots);
    for (int si = 0; si < d->n_slots; si++) v[si] = 0;
    for (int di = 0; di < nd; di++) {
        int p;
        seed_values(d, di, mi, metric, x, &p);
        part |= p;
        for (int si = 0; si < d->n_slots; si++) v[si] += x[si] / nd;
    }
    free(x);
    for (int si = 0; si < d->n_slots; si++) n += isfinite(v[si]);
    if (partial) *partial = part;
    return n;
}

/* mean and sample sd of the finite values of v[0..n-1]; returns their count */
static int finite_mean_sd(const double *v, int n, double *mean, double *sd) {
    double *x = xmalloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    int k = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) x[k++] = v[i];
    stats_mean_sd(x, k, mean, sd);
    free(x);
    return k;
}

/* Measured final value of a metric: NAN when missing. *partial set when the run is not complete. With
 * several seeds in the file, the mean over the seeds that have a value (one seed: that value, bit for bit). */
static double measured(const report_data *d, int di, int mi, const char *metric, int *partial) {
    if (d->n_slots > 1) {
        double *v = xmalloc(sizeof(double) * (size_t)d->n_slots), m, sd;
        seed_values(d, di, mi, metric, v, partial);
        finite_mean_sd(v, d->n_slots, &m, &sd);
        free(v);
        return m;
    }
    const results_run *r = run_at(d, di, mi);
    if (partial) *partial = r && !r->complete;
    if (!r) return NAN;
    int k = metric_index(r, metric);
    return k < 0 ? NAN : r->final[k];
}

/* Average over the task's datasets; NAN unless every dataset has a value. With several seeds in the file, the
 * mean over the seeds of each seed's average (the seeds every dataset has), as the seed table takes it. */
static double measured_avg(const report_data *d, int mi, const char *metric, int *partial) {
    if (d->n_slots > 1) {
        double *v = xmalloc(sizeof(double) * (size_t)d->n_slots), m, sd;
        seed_values_avg(d, mi, metric, v, partial);
        finite_mean_sd(v, d->n_slots, &m, &sd);
        free(v);
        if (!isfinite(m) && partial) *partial = 0;
        return m;
    }
    double s = 0;
    int any_partial = 0;
    for (int di = 0; di < d->t->n_datasets; di++) {
        int p;
        double v = measured(d, di, mi, metric, &p);
        if (!isfinite(v)) {
            if (partial) *partial = 0;
            return NAN;
        }
        any_partial |= p;
        s += v;
    }
    if (partial) *partial = any_partial;
    return s / d->t->n_datasets;
}

static int paper_row(const report_data *d, const char *dataset, const char *metric, int mi) {
    if (!dataset) return -1;
    return results_paper_find(&d->paper, dataset, metric, d->t->methods[mi].paper);
}

/* The paper's row for the method's average over the datasets (the only dataset's row for one dataset). */
static int paper_avg_row(const report_data *d, const char *metric, int mi) {
    if (!has_avg(d->t)) return paper_row(d, d->t->datasets[0].paper, metric, mi);
    return paper_row(d, d->t->paper_average, metric, mi);
}

/* The paper's trainable-parameter percentage for a method (first row of the task that gives one). */
static double paper_pct(const report_data *d, int mi) {
    for (int i = 0; i < d->paper.n; i++) {
        const results_paper_row *r = &d->paper.rows[i];
        if (!strcmp(r->method, d->t->methods[mi].paper) && isfinite(r->trainable_pct) && !strstr(r->source, "unreliable"))
            return r->trainable_pct;
    }
    return NAN;
}

static double run_pct(const results_run *r, int backbone) {
    if (backbone && r->backbone_params > 0) return 100.0 * (double)r->backbone_trainable_params / (double)r->backbone_params;
    if (r->total_params > 0) return 100.0 * (double)r->trainable_params / (double)r->total_params;
    return NAN;
}

/* Range of our trainable percentage over the datasets (backbone share when recorded). */
static void method_pct_range(const report_data *d, int mi, int backbone, double *lo, double *hi) {
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int di = 0; di < d->t->n_datasets; di++) {
        const results_run *r = run_at(d, di, mi);
        if (!r) continue;
        double p = run_pct(r, backbone);
        if (!isfinite(p)) continue;
        if (p < *lo) *lo = p;
        if (p > *hi) *hi = p;
    }
}

static void pct_text(double lo, double hi, char *buf, size_t n) {
    if (!isfinite(lo)) snprintf(buf, n, "missing");
    else if (fabs(hi - lo) < 0.005) snprintf(buf, n, "%.2f", lo);
    else snprintf(buf, n, "%.2f-%.2f", lo, hi);
}

static void meas_text(double v, int partial, int present, char *buf, size_t n) {
    if (!present) snprintf(buf, n, "missing");
    else if (!isfinite(v)) snprintf(buf, n, partial ? "partial" : "n/a");
    else snprintf(buf, n, "%.2f%s", v, partial ? "*" : "");
}

/* The sample sd over the seeds of a cell (di = -1: the average column, over the seeds' averages), NaN with
 * fewer than two seeds; *n_seeds (when given) the number of seeds with a value. */
static double seed_sd(const report_data *d, int di, int mi, const char *metric, int *n_seeds) {
    double *v = xmalloc(sizeof(double) * (size_t)d->n_slots), m = NAN, sd = NAN;
    if (di >= 0) seed_values(d, di, mi, metric, v, NULL);
    else seed_values_avg(d, mi, metric, v, NULL);
    int n = finite_mean_sd(v, d->n_slots, &m, &sd);
    free(v);
    if (n_seeds) *n_seeds = n;
    return sd;
}

/* meas_text with " ± sd" after the value where the cell has several seeds (tex: $\pm$, $^*$) */
static void meas_text_sd(double v, double sd, int partial, int present, int tex, char *buf, size_t n) {
    if (!present || !isfinite(v) || !isfinite(sd)) {
        meas_text(v, partial, present, buf, n);
        if (tex && partial && present && isfinite(v)) snprintf(buf, n, "%.2f$^*$", v);
        return;
    }
    snprintf(buf, n, tex ? "%.2f$\\pm$%.2f%s" : "%.2f ± %.2f%s", v, sd, partial ? (tex ? "$^*$" : "*") : "");
}

static void paper_text(const report_data *d, int row, char *buf, size_t n) {
    if (row < 0) snprintf(buf, n, "–");
    else tb_number(d->paper.rows[row].value, buf, n);
}

/* Distinct values of a run string field over all runs, joined with "; " (or "none"). */
static void distinct(const report_data *d, const char *(*get)(const results_run *), textbuf *out) {
    int nd = d->t->n_datasets, nm = d->t->n_methods, k = 0;
    const char *seen[64];
    for (int i = 0; i < nd * nm; i++) {
        if (!d->have[i]) continue;
        const char *v = get(&d->runs[i]);
        if (!v || !*v) continue;
        int dup = 0;
        for (int j = 0; j < k; j++) dup |= !strcmp(seen[j], v);
        if (dup || k == 64) continue;
        seen[k++] = v;
        tb_printf(out, "%s%s", k > 1 ? "; " : "", v);
    }
    if (!k) tb_printf(out, "none recorded");
}
static const char *get_backbone(const results_run *r) { return r->backbone; }
static const char *get_commit(const results_run *r) { return r->commit; }
static const char *get_pretrained(const results_run *r) { return r->pretrained_path && *r->pretrained_path ? r->pretrained_path : "random init"; }

/* the paper's backbone and the mona_spec.md section of each task's recipe */
static const char *profile_text(const char *profile, const char *task) {
    int coco = !strcmp(task, "coco"), voc = !strcmp(task, "voc"), ade = !strcmp(task, "ade20k");
    if (!strcmp(profile, "default"))
        return coco ? "embedded default (synthetic stand-in datasets and a small Swin pretrained by the harness on a synthetic "
                      "upstream task; the absolute numbers are not comparable with the paper's Swin-B ones, only the ranking is)"
                    : "embedded default (synthetic stand-in datasets and a small Swin pretrained by the harness on a synthetic "
                      "upstream task; the absolute numbers are not comparable with the paper's Swin-L ones, only the ranking is)";
    if (!strcmp(profile, "paper"))
        return coco ? "paper (the authors' recipe from mona_spec.md section 6.1 on the real datasets)"
               : voc ? "paper (the authors' recipe from mona_spec.md section 6.2 on the real datasets)"
               : ade ? "paper (the authors' recipe from mona_spec.md section 6.3 on the real datasets)"
                     : "paper (the authors' recipe from mona_spec.md section 6.4 on the real datasets)";
    return "custom profile";
}

static int count_runs(const report_data *d, int *complete) {
    int n = 0, c = 0;
    for (int i = 0; i < d->t->n_datasets * d->t->n_methods; i++)
        if (d->have[i]) {
            n++;
            c += d->runs[i].complete;
        }
    *complete = c;
    return n;
}

/* The headline value of a method (its dataset's, or the average over the datasets), its difference to full
 * fine-tuning's, and the PPT score of V-PETL Bench: PPT = (value / 100) x exp(-log10(P / 1e7 + 1)), P the
 * trainable backbone parameters (delta modules included; the mean over the datasets' runs). NaN where a run
 * is missing or full fine-tuning itself (V-PETL leaves its PPT empty). */
static double headline(const report_data *d, int mi, const char *metric) {
    int part;
    return d->t->n_datasets > 1 ? measured_avg(d, mi, metric, &part) : measured(d, 0, mi, metric, &part);
}
static int method_index(const report_data *d, const char *key) {
    for (int mi = 0; mi < d->t->n_methods; mi++)
        if (!strcmp(d->t->methods[mi].key, key)) return mi;
    return -1;
}
static double delta_full(const report_data *d, int mi, const char *metric) {
    int f = method_index(d, "full");
    if (f < 0 || f == mi) return NAN;
    return headline(d, mi, metric) - headline(d, f, metric);
}
static double ppt_score(const report_data *d, int mi, const char *metric) {
    if (!strcmp(d->t->methods[mi].key, "full")) return NAN;
    double p = 0;
    int n = 0;
    for (int di = 0; di < d->t->n_datasets; di++) {
        const results_run *r = run_at(d, di, mi);
        if (!r) return NAN;
        p += (double)r->backbone_trainable_params, n++;
    }
    if (!n) return NAN;
    p /= n;
    return headline(d, mi, metric) / 100.0 * exp(-log10(p / 1e7 + 1.0));
}

/* ------------------------------------------------------------------------------------------------ */
/* seeds: mean +- sd and the paired t-test against full fine-tuning (only when the file has several seeds)  */

/* The metrics that get a seed table: the headline one and every one the paper reports for the task (/paper). */
static int seed_metric(const report_data *d, int mk) {
    if (mk == 0) return 1;
    for (int i = 0; i < d->paper.n; i++)
        if (!strcmp(d->paper.rows[i].metric, d->t->metrics[mk].paper)) return 1;
    return 0;
}

typedef struct seed_row {
    int n;           /* seeds with a value */
    double mean, sd; /* over them (sd NaN for one) */
    int partial;     /* a run among them is not complete */
    stats_paired pt; /* method - full over the seed indices both have (pt.n = 0: full itself, or no pair) */
} seed_row;

/* The seed statistics of (dataset di, method mi); di = -1: the average over the datasets, seed by seed. */
static void seed_row_at(const report_data *d, int di, int mi, const char *metric, seed_row *o) {
    int ns = d->n_slots, f = method_index(d, "full");
    double *v = xmalloc(sizeof(double) * (size_t)ns * 4), *vf = v + ns, *a = v + 2 * ns, *b = v + 3 * ns;
    memset(o, 0, sizeof *o);
    if (di >= 0) seed_values(d, di, mi, metric, v, &o->partial);
    else seed_values_avg(d, mi, metric, v, &o->partial);
    o->n = finite_mean_sd(v, ns, &o->mean, &o->sd);
    int np = 0;
    if (f >= 0 && f != mi) {
        if (di >= 0) seed_values(d, di, f, metric, vf, NULL);
        else seed_values_avg(d, f, metric, vf, NULL);
        for (int si = 0; si < ns; si++) /* pairs: the same seed index */
            if (isfinite(v[si]) && isfinite(vf[si])) a[np] = v[si], b[np] = vf[si], np++;
    }
    stats_paired_ttest(a, b, np, &o->pt);
    free(v);
}

/* the cells of a seed row: seeds, mean +- sd, delta full, t, dof, p ("–"/"--" where there is none) */
static void seed_cells(const seed_row *r, int tex, char c[6][64]) {
    const char *none = tex ? "--" : "–";
    snprintf(c[0], 64, "%d", r->n);
    if (isfinite(r->sd)) snprintf(c[1], 64, tex ? "%.2f$\\pm$%.2f%s" : "%.2f ± %.2f%s", r->mean, r->sd, r->partial ? (tex ? "$^*$" : "*") : "");
    else snprintf(c[1], 64, "%.2f%s", r->mean, r->partial ? (tex ? "$^*$" : "*") : "");
    if (r->pt.n > 0) snprintf(c[2], 64, "%+.2f", r->pt.mean_diff);
    else snprintf(c[2], 64, "%s", none);
    if (isfinite(r->pt.t)) snprintf(c[3], 64, "%.3f", r->pt.t);
    else if (isinf(r->pt.t)) snprintf(c[3], 64, tex ? "$%s\\infty$" : "%sinf", r->pt.t < 0 ? "-" : "");
    else snprintf(c[3], 64, "%s", none);
    if (isfinite(r->pt.dof)) snprintf(c[4], 64, "%.0f", r->pt.dof);
    else snprintf(c[4], 64, "%s", none);
    if (isnan(r->pt.p)) snprintf(c[5], 64, "%s", none);
    else if (r->pt.p >= 1e-4 || r->pt.p == 0) snprintf(c[5], 64, "%.4f", r->pt.p);
    else snprintf(c[5], 64, "%.1e", r->pt.p);
}

static const char seed_caption[] =
    "for each method with a run, the number of seeds n, the mean ± sample standard deviation of the final value "
    "over them, and its difference to full fine-tuning as a paired t-test over seeds (pairs: the same seed index, "
    "`<method>_seed<i>` against `full_seed<i>`; Δ Full = mean of the pairs' differences, method minus Full; "
    "t = mean / (sd / √pairs) with pairs − 1 degrees of freedom; p two-sided, Student's t). "
    "\"–\" where there are fewer than two pairs";

static void md_seed_table(const report_data *d, int mk, int number, textbuf *b) {
    const results_task_desc *t = d->t;
    const char *metric = t->metrics[mk].key;
    tb_printf(b, "**Table %d (seeds).** %s over seeds (up to %d): %s%s.\n\n", number, t->metrics[mk].label, d->n_slots, seed_caption,
              has_avg(t) ? "; the average is taken seed by seed over the datasets, for the seeds every dataset has" : "");
    tb_printf(b, "| %s | Method | Seeds | Mean ± sd | Δ Full | t | dof | p |\n|:--|:--|--:|--:|--:|--:|--:|--:|\n",
              "Dataset");
    for (int g = 0; g < t->n_datasets + has_avg(t); g++)
        for (int mi = 0; mi < t->n_methods; mi++) {
            seed_row r;
            seed_row_at(d, g < t->n_datasets ? g : -1, mi, metric, &r);
            if (!r.n) continue;
            char c[6][64];
            seed_cells(&r, 0, c);
            tb_printf(b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", g < t->n_datasets ? t->datasets[g].label : "Average",
                      t->methods[mi].label, c[0], c[1], c[2], c[3], c[4], c[5]);
        }
    tb_printf(b, "\n");
}

static void tex_seed_table(const report_data *d, int mk, textbuf *b) {
    const results_task_desc *t = d->t;
    const char *metric = t->metrics[mk].key;
    tb_printf(b, "\\begin{table}[t]\n\\centering\n\\small\n\\caption{%s: ", t->title);
    tb_tex(b, t->metrics[mk].label);
    tb_printf(b, " over seeds (up to %d): per method the number of seeds $n$, mean $\\pm$ sample standard deviation, and "
                 "the paired t-test against full fine-tuning over seeds (pairs: the same seed index; $\\Delta$ Full the mean "
                 "difference, method minus Full; $t = \\bar{\\Delta} / (s_\\Delta / \\sqrt{n_p})$ with $n_p - 1$ degrees of freedom; "
                 "two-sided $p$)%s.}\n",
              d->n_slots, has_avg(t) ? "; the average seed by seed over the datasets" : "");
    tb_printf(b, "\\label{tab:%s_%s_seeds}\n\\begin{tabular}{ll rrrrrr}\n\\toprule\nDataset & Method & $n$ & mean $\\pm$ sd & "
                 "$\\Delta$ Full & $t$ & dof & $p$ \\\\\n\\midrule\n",
              t->task, metric);
    for (int g = 0; g < t->n_datasets + has_avg(t); g++)
        for (int mi = 0; mi < t->n_methods; mi++) {
            seed_row r;
            seed_row_at(d, g < t->n_datasets ? g : -1, mi, metric, &r);
            if (!r.n) continue;
            char c[6][64];
            seed_cells(&r, 1, c);
            tb_tex(b, g < t->n_datasets ? t->datasets[g].label : "Average");
            tb_printf(b, " & ");
            tb_tex(b, t->methods[mi].label);
            tb_printf(b, " & %s & %s & %s & %s & %s & %s \\\\\n", c[0], c[1], c[2], c[3], c[4], c[5]);
        }
    tb_printf(b, "\\bottomrule\n\\end{tabular}\n\\end{table}\n\n");
}

/* ------------------------------------------------------------------------------------------------ */
/* Markdown                                                                                         */

static void md_table(const report_data *d, int mk, int number, textbuf *b) {
    const results_task_desc *t = d->t;
    const char *metric = t->metrics[mk].key;
    textbuf tmp = {0};
    if (number > 1) {
        tb_printf(b, "**Table %d.** %s: %s; same profile, data, backbone and commit as Table 1.\n\n", number, t->title,
                  t->metrics[mk].label);
        goto table;
    }
    tb_printf(b, "**Table %d.** %s: %s on the test split after the last iteration, measured by deltabench "
                 "(\"ours\") beside the paper's number (\"paper\"; \"–\" where the paper gives none). "
                 "Profile: `%s` — %s. Backbone: ",
              number, t->title, t->metrics[mk].label, d->info.profile, profile_text(d->info.profile, t->task));
    distinct(d, get_backbone, &tmp);
    tb_md(b, tmp.s);
    tmp.n = 0;
    tb_printf(b, ". Data: ");
    for (int di = 0; di < t->n_datasets; di++) {
        const results_run *r = NULL;
        for (int mi = 0; mi < t->n_methods && !r; mi++) r = run_at(d, di, mi);
        tb_printf(b, "%s%s: ", di ? "; " : "", t->datasets[di].label);
        tb_md(b, r && r->data && *r->data ? r->data : "no run");
    }
    tb_printf(b, ". Commit: ");
    distinct(d, get_commit, &tmp);
    tb_md(b, tmp.s);
    tb_printf(b, ". Trainable %%: share of the backbone's parameters (delta modules included) that train, "
                 "as in the paper; \"*\" = run not complete. Δ Full: difference to full fine-tuning (measured%s). "
                 "PPT: V-PETL Bench's performance-parameter trade-off, (%s / 100) x exp(-log10(P / 1e7 + 1)) with P the "
                 "trainable backbone parameters (measured).\n\n",
              has_avg(t) ? ", on the average" : "", has_avg(t) ? "average" : "value");
table:
    free(tmp.s);
    tb_printf(b, "| Method | Trainable %% | (paper) |");
    for (int di = 0; di < t->n_datasets; di++) tb_printf(b, " %s | (paper) |", t->datasets[di].label);
    if (has_avg(t)) tb_printf(b, " Average | (paper) |");
    tb_printf(b, " Δ Full | PPT |");
    tb_printf(b, "\n|:--|--:|--:|");
    for (int di = 0; di < t->n_datasets + has_avg(t); di++) tb_printf(b, "--:|--:|");
    tb_printf(b, "--:|--:|\n");
    for (int mi = 0; mi < t->n_methods; mi++) {
        char c1[64], c2[64];
        double lo, hi;
        method_pct_range(d, mi, 1, &lo, &hi);
        pct_text(lo, hi, c1, sizeof c1);
        double pp = paper_pct(d, mi);
        if (isfinite(pp)) tb_number(pp, c2, sizeof c2);
        else snprintf(c2, sizeof c2, "–");
        char lab[160];
        method_label(d, mi, lab, sizeof lab);
        tb_printf(b, "| %s | %s | %s |", lab, c1, c2);
        for (int di = 0; di < t->n_datasets; di++) {
            int part;
            double v = measured(d, di, mi, metric, &part);
            meas_text_sd(v, seed_sd(d, di, mi, metric, NULL), part, present(d, di, mi), 0, c1, sizeof c1);
            paper_text(d, paper_row(d, t->datasets[di].paper, t->metrics[mk].paper, mi), c2, sizeof c2);
            tb_printf(b, " %s | %s |", c1, c2);
        }
        if (has_avg(t)) {
            int part, all = 1;
            for (int di = 0; di < t->n_datasets; di++) all &= present(d, di, mi);
            double v = measured_avg(d, mi, metric, &part);
            meas_text_sd(v, seed_sd(d, -1, mi, metric, NULL), part, all, 0, c1, sizeof c1);
            paper_text(d, paper_avg_row(d, t->metrics[mk].paper, mi), c2, sizeof c2);
            tb_printf(b, " %s | %s |", c1, c2);
        }
        double df = delta_full(d, mi, metric), pt = ppt_score(d, mi, metric);
        if (isfinite(df)) snprintf(c1, sizeof c1, "%+.2f", df);
        else snprintf(c1, sizeof c1, "–");
        if (isfinite(pt)) snprintf(c2, sizeof c2, "%.3f", pt);
        else snprintf(c2, sizeof c2, "–");
        tb_printf(b, " %s | %s |\n", c1, c2);
    }
    tb_printf(b, "\n");
}

static void md_sources(const report_data *d, textbuf *b) {
    const results_task_desc *t = d->t;
    tb_printf(b, "## The paper's numbers and their sources\n\nFrom `%s` (SHA-256 `%.12s…`), rows of task `%s`; the "
                 "source tags are explained in `paper_numbers.md`. Rows whose source is marked unreliable are kept "
                 "in the HDF5 but not shown in the tables.\n\n",
              d->info.paper_csv[0] ? d->info.paper_csv : "(no CSV recorded)", d->info.paper_csv_sha256, t->paper_task);
    tb_printf(b, "| Dataset | Metric | Method | Value | Trainable %% | Source | Shown |\n|:--|:--|:--|--:|--:|:--|:--|\n");
    for (int i = 0; i < d->paper.n; i++) {
        const results_paper_row *r = &d->paper.rows[i];
        char v[64], p[64];
        tb_number(r->value, v, sizeof v);
        if (isfinite(r->trainable_pct)) tb_number(r->trainable_pct, p, sizeof p);
        else snprintf(p, sizeof p, "–");
        int shown = results_paper_find(&d->paper, r->dataset, r->metric, r->method) == i;
        tb_printf(b, "| ");
        tb_md(b, r->dataset);
        tb_printf(b, " | ");
        tb_md(b, r->metric);
        tb_printf(b, " | ");
        tb_md(b, r->method);
        tb_printf(b, " | %s | %s | ", v, p);
        tb_md(b, r->source);
        tb_printf(b, " | %s |\n", shown ? "yes" : "no");
    }
    if (!d->paper.n) tb_printf(b, "| (none) | | | | | | |\n");
    tb_printf(b, "\n");
}

static void md_runs(const report_data *d, textbuf *b) {
    const results_task_desc *t = d->t;
    tb_printf(b, "## Runs\n\n| Dataset | Method | Status | Seed | Trainable params | Total params | Wall time (s) | "
                 "Peak memory (MiB) | Threads | Pretrained (SHA-256) | Commit | Date |\n"
                 "|:--|:--|:--|--:|--:|--:|--:|--:|--:|:--|:--|:--|\n");
    for (int di = 0; di < t->n_datasets; di++)
        for (int mi = 0; mi < t->n_methods; mi++)
        for (int si = 0; si < d->n_slots; si++) { /* seed index 0, then the further seeds' runs */
            const results_run *r = seed_run(d, di, mi, si);
            if (!r) {
                if (!si) tb_printf(b, "| %s | %s | missing | | | | | | | | | |\n", t->datasets[di].label, t->methods[mi].label);
                continue;
            }
            char label[160];
            if (si) snprintf(label, sizeof label, "%s `_seed%d`", t->methods[mi].label, si);
            else snprintf(label, sizeof label, "%s", t->methods[mi].label);
            tb_printf(b, "| %s | %s | %s | %lld | %lld | %lld | %.1f | %.0f | %lld | ", t->datasets[di].label,
                      label, r->complete ? "complete" : "partial", (long long)r->seed,
                      (long long)r->trainable_params, (long long)r->total_params, r->wall_time_s,
                      (double)r->peak_mem_bytes / 1048576.0, (long long)r->threads);
            tb_md(b, get_pretrained(r));
            if (r->pretrained_sha256 && *r->pretrained_sha256) tb_printf(b, " (`%.12s…`)", r->pretrained_sha256);
            tb_printf(b, " | ");
            tb_md(b, r->commit ? r->commit : "");
            tb_printf(b, " | ");
            tb_md(b, r->date ? r->date : "");
            tb_printf(b, " |\n");
        }
    tb_printf(b, "\nSplits:\n\n");
    for (int di = 0; di < t->n_datasets; di++) {
        const results_run *r = NULL;
        for (int mi = 0; mi < t->n_methods && !r; mi++) r = run_at(d, di, mi);
        tb_printf(b, "- %s: ", t->datasets[di].label);
        if (!r) {
            tb_printf(b, "no run\n");
            continue;
        }
        tb_md(b, r->data ? r->data : "");
        tb_printf(b, "; trains on ");
        tb_md(b, r->train_split ? r->train_split : "");
        tb_printf(b, " (%lld images), tests on ", (long long)r->n_train_samples);
        tb_md(b, r->test_split ? r->test_split : "");
        tb_printf(b, " (%lld images), %lld classes\n", (long long)r->n_test_samples, (long long)r->n_classes);
    }
    if (d->n_extra) {
        /* other runs, e.g. the control (fixed on a randomly initialised backbone): beside the table's method
         * whose key starts their key ("fixed" for "fixed_random_init"), on the same dataset */
        const results_task_desc *t = d->t;
        tb_printf(b, "\nOther runs in the file (not in the paper's table), each beside the table's method its name starts with%s:\n\n"
                     "| Dataset | Run | Weights |",
                  d->n_slots > 1 ? " (a run `..._seed<i>` beside that method's seed index i, the others beside its seed index 0)" : "");
        for (int mk = 0; mk < t->n_metrics; mk++) tb_printf(b, " %s |", t->metrics[mk].label);
        tb_printf(b, " Compared with | its %s | difference |\n|:--|:--|:--|", t->metrics[0].label);
        for (int mk = 0; mk < t->n_metrics; mk++) tb_printf(b, "--:|");
        tb_printf(b, ":--|--:|--:|\n");
        for (int i = 0; i < d->n_extra; i++) {
            const results_run *r = &d->extra_runs[i];
            int di = -1, mi = -1;
            for (int k = 0; k < t->n_datasets; k++)
                if (!strcmp(r->dataset, t->datasets[k].key)) di = k;
            for (int k = 0; k < t->n_methods; k++) {
                size_t l = strlen(t->methods[k].key);
                if (!strncmp(r->method, t->methods[k].key, l) && r->method[l] == '_' && (mi < 0 || l > strlen(t->methods[mi].key))) mi = k;
            }
            char base[512];
            int si = seed_suffix(r->method, base, sizeof base); /* "fixed_random_init_seed1": beside fixed's seed 1 */
            tb_printf(b, "| %s | `%s`%s | ", di >= 0 ? t->datasets[di].label : r->dataset, r->method, r->complete ? "" : " *");
            tb_md(b, get_pretrained(r));
            tb_printf(b, " |");
            for (int mk = 0; mk < t->n_metrics; mk++) {
                int k = metric_index(r, t->metrics[mk].key);
                if (k >= 0 && isfinite(r->final[k])) tb_printf(b, " %.2f |", r->final[k]);
                else tb_printf(b, " – |");
            }
            double own = NAN, ref = NAN;
            int k0 = metric_index(r, t->metrics[0].key);
            if (k0 >= 0) own = r->final[k0];
            if (di >= 0 && mi >= 0 && si < d->n_slots && seed_run(d, di, mi, si)) {
                const results_run *q = seed_run(d, di, mi, si);
                int kq = metric_index(q, t->metrics[0].key);
                ref = kq >= 0 ? q->final[kq] : NAN;
            }
            if (mi >= 0 && isfinite(ref)) {
                tb_printf(b, " %s | %.2f |", t->methods[mi].label, ref);
                if (isfinite(own)) tb_printf(b, " %+.2f |\n", ref - own);
                else tb_printf(b, " – |\n");
            } else
                tb_printf(b, " – | – | – |\n");
        }
        int control = 0;
        for (int i = 0; i < d->n_extra; i++) control |= !strcmp(d->extra_runs[i].method, "fixed_random_init");
        if (control)
            tb_printf(b, "\n`fixed_random_init` is the control run: `fixed` (head only) on a randomly initialised backbone; the "
                         "difference is what the pretrained backbone adds (the proof that the pretraining transfers).\n");
    }
    tb_printf(b, "\n");
}

static char *make_md(const report_data *d) {
    textbuf b = {0};
    int complete, n = count_runs(d, &complete);
    tb_printf(&b, "# %s: measured vs. paper (profile `%s`)\n\n", d->t->title, d->info.profile);
    tb_printf(&b, "Generated by `deltabench report tables --task %s` from the results file alone (schema `%s`, "
                  "created %s, last written %s by commit %s on %s, %s, %lld threads). %d of %d runs present, %d "
                  "complete.\n\n",
              d->t->task, d->info.schema, d->info.created, d->info.updated, d->info.commit, d->info.hostname,
              d->info.cpu_model, (long long)d->info.threads, n, d->t->n_datasets * d->t->n_methods, complete);
    if (d->n_slots > 1)
        tb_printf(&b, "Seeds: besides those runs, %d runs of further seeds (`<method>_seed<i>`, seed indices 1 to %d; "
                      "`deltabench reproduce --seeds N`). Where a method has several seeds, \"ours\" is the mean ± sample "
                      "standard deviation over them and Δ Full and PPT use the mean; the tables \"(seeds)\" give the number "
                      "of seeds and the paired t-test of each method against full fine-tuning.\n\n",
                  d->n_sruns, d->n_slots - 1);
    for (int mk = 0; mk < d->t->n_metrics; mk++) {
        md_table(d, mk, mk + 1, &b);
        if (d->n_slots > 1 && seed_metric(d, mk)) md_seed_table(d, mk, mk + 1, &b);
    }
    md_sources(d, &b);
    md_runs(d, &b);
    return b.s;
}

/* ------------------------------------------------------------------------------------------------ */
/* LaTeX                                                                                            */

static void tex_table(const report_data *d, int mk, textbuf *b) {
    const results_task_desc *t = d->t;
    const char *metric = t->metrics[mk].key;
    textbuf tmp = {0};
    tb_printf(b, "\\begin{table*}[t]\n\\centering\n\\small\n\\caption{%s: ", t->title);
    tb_tex(b, t->metrics[mk].label);
    tb_printf(b, " measured by deltabench (ours) beside the paper's number (paper; -- where the paper gives none). "
                 "Profile \\texttt{");
    tb_tex(b, d->info.profile);
    tb_printf(b, "}: ");
    tb_tex(b, profile_text(d->info.profile, t->task));
    tb_printf(b, ". Backbone: ");
    distinct(d, get_backbone, &tmp);
    tb_tex(b, tmp.s);
    tmp.n = 0;
    tb_printf(b, ". Data: ");
    for (int di = 0; di < t->n_datasets; di++) {
        const results_run *r = NULL;
        for (int mi = 0; mi < t->n_methods && !r; mi++) r = run_at(d, di, mi);
        tb_printf(b, "%s", di ? "; " : "");
        tb_tex(b, t->datasets[di].label);
        tb_printf(b, ": ");
        tb_tex(b, r && r->data && *r->data ? r->data : "no run");
    }
    tb_printf(b, ". Commit ");
    distinct(d, get_commit, &tmp);
    tb_tex(b, tmp.s);
    free(tmp.s);
    tb_printf(b, ". Trainable \\%%: share of the backbone's parameters that train; $^*$ run not complete. $\\Delta$ Full: "
                 "difference to full fine-tuning; PPT: $(v/100)\\,e^{-\\log_{10}(P/10^7+1)}$, P the trainable backbone "
                 "parameters (V-PETL Bench).");
    if (d->n_slots > 1)
        tb_printf(b, " Where a method has several seeds, ours is the mean $\\pm$ sample standard deviation over them "
                     "(Table~\\ref{tab:%s_%s_seeds} where it exists gives $n$ and the paired t-test against Full).", t->task, metric);
    tb_printf(b, "}\n");
    tb_printf(b, "\\label{tab:%s_%s}\n\\begin{tabular}{l rr", t->task, metric);
    int ncols = t->n_datasets + has_avg(t);
    for (int di = 0; di < ncols; di++) tb_printf(b, " rr");
    tb_printf(b, " rr}\n\\toprule\n & \\multicolumn{2}{c}{Trainable \\%%}");
    for (int di = 0; di < t->n_datasets; di++) {
        tb_printf(b, " & \\multicolumn{2}{c}{");
        tb_tex(b, t->datasets[di].label);
        tb_printf(b, "}");
    }
    if (has_avg(t)) tb_printf(b, " & \\multicolumn{2}{c}{Average}");
    tb_printf(b, " & & \\\\\n");
    for (int c = 0; c < ncols + 1; c++) tb_printf(b, "\\cmidrule(lr){%d-%d}", 2 + 2 * c, 3 + 2 * c);
    tb_printf(b, "\nMethod");
    for (int c = 0; c < ncols + 1; c++) tb_printf(b, " & ours & paper");
    tb_printf(b, " & $\\Delta$ Full & PPT \\\\\n\\midrule\n");
    for (int mi = 0; mi < t->n_methods; mi++) {
        char c1[64], c2[64];
        double lo, hi;
        if (mi == t->n_methods - 1) tb_printf(b, "\\midrule\n");
        char lab[160];
        method_label(d, mi, lab, sizeof lab);
        tb_tex(b, lab);
        method_pct_range(d, mi, 1, &lo, &hi);
        pct_text(lo, hi, c1, sizeof c1);
        double pp = paper_pct(d, mi);
        if (isfinite(pp)) tb_number(pp, c2, sizeof c2);
        else snprintf(c2, sizeof c2, "--");
        tb_printf(b, " & %s & %s", c1, c2);
        for (int di = 0; di < ncols; di++) {
            int part, all = 1;
            double v, sd;
            int row;
            if (di < t->n_datasets) {
                v = measured(d, di, mi, metric, &part);
                all = present(d, di, mi);
                sd = seed_sd(d, di, mi, metric, NULL);
                row = paper_row(d, t->datasets[di].paper, t->metrics[mk].paper, mi);
            } else {
                for (int k = 0; k < t->n_datasets; k++) all &= present(d, k, mi);
                v = measured_avg(d, mi, metric, &part);
                sd = seed_sd(d, -1, mi, metric, NULL);
                row = paper_avg_row(d, t->metrics[mk].paper, mi);
            }
            meas_text_sd(v, sd, part, all, 1, c1, sizeof c1);
            if (row < 0) snprintf(c2, sizeof c2, "--");
            else tb_number(d->paper.rows[row].value, c2, sizeof c2);
            tb_printf(b, " & %s & %s", c1, c2);
        }
        double df = delta_full(d, mi, metric), pt = ppt_score(d, mi, metric);
        if (isfinite(df)) snprintf(c1, sizeof c1, "%+.2f", df);
        else snprintf(c1, sizeof c1, "--");
        if (isfinite(pt)) snprintf(c2, sizeof c2, "%.3f", pt);
        else snprintf(c2, sizeof c2, "--");
        tb_printf(b, " & %s & %s \\\\\n", c1, c2);
    }
    tb_printf(b, "\\bottomrule\n\\end{tabular}\n\\end{table*}\n\n");
}

static char *make_tex(const report_data *d) {
    textbuf b = {0};
    tb_printf(&b, "%% Generated by `deltabench report tables --task %s` from the results file alone (profile %s).\n"
                  "%% Needs \\usepackage{booktabs}.\n\n",
              d->t->task, d->info.profile);
    for (int mk = 0; mk < d->t->n_metrics; mk++) {
        tex_table(d, mk, &b);
        if (d->n_slots > 1 && seed_metric(d, mk)) tex_seed_table(d, mk, &b);
    }
    return b.s;
}

int report_table_texts_for(const char *results_path, const results_task_desc *t, char **md, char **tex) {
    report_data d;
    if (data_load_desc(results_path, t, &d)) return -1;
    *md = make_md(&d);
    *tex = make_tex(&d);
    data_free(&d);
    return 0;
}

int report_table_texts(const char *results_path, const char *task, char **md, char **tex) {
    if (task && !strcmp(task, "voc_ablations")) return report_ablation_texts(results_path, md, tex);
    report_data d;
    if (data_load(results_path, task, &d)) return -1;
    *md = make_md(&d);
    *tex = make_tex(&d);
    data_free(&d);
    return 0;
}

int report_tables(const char *results_path, const char *task, const char *out_dir) {
    char *md, *tex;
    if (report_table_texts(results_path, task, &md, &tex)) return -1;
    char p[4096];
    int rc = mkdir_p(out_dir);
    if (!rc) {
        snprintf(p, sizeof p, "%s/%s.md", out_dir, task);
        rc = file_write_atomic(p, md, strlen(md));
    }
    if (!rc) {
        snprintf(p, sizeof p, "%s/%s.tex", out_dir, task);
        rc = file_write_atomic(p, tex, strlen(tex));
    }
    free(md);
    free(tex);
    return rc;
}

/* ------------------------------------------------------------------------------------------------ */
/* figure data                                                                                      */

static void dat_num(textbuf *b, double v) {
    if (isfinite(v)) tb_printf(b, " %.6g", v);
    else tb_printf(b, " NaN");
}

static int write_text(const char *dir, const char *task, const char *suffix, textbuf *b) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s_%s.dat", dir, task, suffix);
    int rc = file_write_atomic(p, b->s ? b->s : "", b->n);
    free(b->s);
    memset(b, 0, sizeof *b);
    return rc;
}

/* Window of the moving average of the loss curves: about 5% of the points, odd, at least 1. */
static int smooth_window(int64_t n) {
    int w = (int)(n / 20);
    if (w < 1) w = 1;
    return w | 1;
}

/* The paper's Figure 3 (VOC): the training loss of six methods against iterations, as mmdet's log plots
 * draw it: one point per logging interval (mmcv's TextLoggerHook, interval 50 in the authors'
 * default_runtime.py) holding the mean loss of that interval's iterations, over the raw per-iteration loss
 * drawn faint. Which methods: Full, Fixed, Adapter, LoRA, AdaptFormer, Mona (the paper's legend). */
#define FIG3_LOG_INTERVAL 50
static const char *const fig3_keys[6] = {"full", "fixed", "adapter", "lora", "adaptformer", "mona"};

/* Indices (into t->methods) of the Figure 3 methods the task lists, in legend order; 0 for tasks
 * without the figure (only VOC has it). */
static int fig3_methods(const results_task_desc *t, int *idx) {
    if (strcmp(t->task, "voc")) return 0;
    int n = 0;
    for (int k = 0; k < 6; k++)
        for (int mi = 0; mi < t->n_methods; mi++)
            if (!strcmp(t->methods[mi].key, fig3_keys[k])) {
                if (idx) idx[n] = mi;
                n++;
            }
    return n;
}

/* <task>_fig3.dat: per method with a curve two blocks, 2b the raw loss (iteration loss) and 2b+1 the
 * interval means (last iteration of the interval, mean loss); only complete intervals, as the logger. */
static int export_fig3(const report_data *d, const char *dir) {
    const results_task_desc *t = d->t;
    int idx[6], n = fig3_methods(t, idx);
    textbuf b = {0};
    tb_printf(&b, "# %s Figure 3: training loss; per method two blocks: raw (iteration loss), then the mean of each "
                  "complete %d-iteration logging interval (iteration mean); block comments name the method\n",
              t->task, FIG3_LOG_INTERVAL);
    int blocks = 0;
    for (int k = 0; k < n; k++) {
        const results_run *r = run_at(d, 0, idx[k]);
        if (!r || r->n_curve == 0) continue;
        tb_printf(&b, "%s# method %s raw\n", blocks ? "\n\n" : "", t->methods[idx[k]].label);
        for (int64_t i = 0; i < r->n_curve; i++) {
            tb_printf(&b, "%lld", (long long)r->curve_iter[i]);
            dat_num(&b, r->curve_loss[i]);
            tb_printf(&b, "\n");
        }
        tb_printf(&b, "\n\n# method %s logged\n", t->methods[idx[k]].label);
        double sum = 0;
        int cnt = 0;
        for (int64_t i = 0; i < r->n_curve; i++) {
            sum += r->curve_loss[i];
            cnt++;
            if (r->curve_iter[i] % FIG3_LOG_INTERVAL == 0) {
                tb_printf(&b, "%lld", (long long)r->curve_iter[i]);
                dat_num(&b, sum / cnt);
                tb_printf(&b, "\n");
                sum = 0, cnt = 0;
            }
        }
        blocks++;
    }
    return write_text(dir, t->task, "fig3", &b);
}

/* Tasks whose table comes from an iteration-based run with several evaluations (ADE20K: the authors' logs evaluate
 * every 16k iterations): they get the metric-against-iteration figure. */
static int has_eval_curves(const results_task_desc *t) { return !strcmp(t->task, "ade20k"); }

static int export_data(const report_data *d, const char *dir) {
    const results_task_desc *t = d->t;
    if (mkdir_p(dir)) return -1;
    const char *metric = t->metrics[0].key;
    textbuf b = {0};
    /* accuracy: one block per dataset (+ average), one row per method */
    int groups = t->n_datasets + has_avg(t);
    double w = 0.8 / groups;
    tb_printf(&b, "# %s %s (%%), measured (col 3) and paper (col 4); one block per dataset, the last = average.\n"
                  "# columns: method_index x_position measured paper method_label state (0 complete, 1 nothing measured yet, "
                  "2 partial run)%s\n",
              t->task, metric, d->n_slots > 1 ? "; with several seeds col 3 is the mean over them and col 7 their sample sd (NaN for one)" : "");
    for (int g = 0; g < groups; g++) {
        tb_printf(&b, "%s# block %d: %s\n", g ? "\n\n" : "", g, g < t->n_datasets ? t->datasets[g].label : "Average");
        for (int mi = 0; mi < t->n_methods; mi++) {
            double x = mi + (g - (groups - 1) / 2.0) * w;
            int part = 0;
            double v = g < t->n_datasets ? measured(d, g, mi, metric, &part) : measured_avg(d, mi, metric, &part);
            int row = g < t->n_datasets ? paper_row(d, t->datasets[g].paper, t->metrics[0].paper, mi)
                                        : paper_avg_row(d, t->metrics[0].paper, mi);
            tb_printf(&b, "%d %.4f", mi, x);
            dat_num(&b, v);
            dat_num(&b, row >= 0 ? d->paper.rows[row].value : NAN);
            tb_printf(&b, " \"%s\" %d", t->methods[mi].label, !isfinite(v) ? 1 : part ? 2 : 0);
            if (d->n_slots > 1) dat_num(&b, seed_sd(d, g < t->n_datasets ? g : -1, mi, metric, NULL));
            tb_printf(&b, "\n");
        }
    }
    if (write_text(dir, t->task, "accuracy", &b)) return -1;
    /* params: trainable % (whole model, mean over datasets) vs average metric */
    tb_printf(&b, "# %s: trainable parameters (%% of the whole model incl. head, mean over datasets; col 2) vs average "
                  "%s (col 3); paper's backbone %% (col 4) and average (col 5); label (col 6). NaN = missing\n",
              t->task, metric);
    for (int mi = 0; mi < t->n_methods; mi++) {
        double s = 0;
        int k = 0;
        for (int di = 0; di < t->n_datasets; di++) {
            const results_run *r = run_at(d, di, mi);
            double p = r ? run_pct(r, 0) : NAN;
            if (isfinite(p)) {
                s += p;
                k++;
            }
        }
        tb_printf(&b, "%d", mi);
        dat_num(&b, k ? s / k : NAN);
        dat_num(&b, measured_avg(d, mi, metric, NULL));
        int row = paper_avg_row(d, t->metrics[0].paper, mi);
        double pp = paper_pct(d, mi);
        dat_num(&b, row >= 0 && isfinite(pp) ? pp : NAN);
        dat_num(&b, row >= 0 && isfinite(pp) ? d->paper.rows[row].value : NAN);
        tb_printf(&b, " \"%s\"\n", t->methods[mi].label);
    }
    if (write_text(dir, t->task, "params", &b)) return -1;
    /* loss curves: one file per dataset, one block per method that has a curve */
    for (int di = 0; di < t->n_datasets; di++) {
        tb_printf(&b, "# %s %s: training loss; columns: iteration loss moving_average epoch; one block per method "
                      "(the block's first comment names it)\n",
                  t->task, t->datasets[di].label);
        int blocks = 0;
        for (int mi = 0; mi < t->n_methods; mi++) {
            const results_run *r = run_at(d, di, mi);
            if (!r || r->n_curve == 0) continue;
            tb_printf(&b, "%s# method %s\n", blocks ? "\n\n" : "", t->methods[mi].label);
            int hw = smooth_window(r->n_curve) / 2;
            for (int64_t i = 0; i < r->n_curve; i++) {
                int64_t a = i - hw < 0 ? 0 : i - hw, z = i + hw >= r->n_curve ? r->n_curve - 1 : i + hw;
                double s = 0;
                for (int64_t j = a; j <= z; j++) s += r->curve_loss[j];
                tb_printf(&b, "%lld", (long long)r->curve_iter[i]);
                dat_num(&b, r->curve_loss[i]);
                dat_num(&b, s / (double)(z - a + 1));
                dat_num(&b, r->curve_epoch[i]);
                tb_printf(&b, "\n");
            }
            blocks++;
        }
        char suf[256];
        snprintf(suf, sizeof suf, "loss_%s", t->datasets[di].key);
        if (write_text(dir, t->task, suf, &b)) return -1;
    }
    if (fig3_methods(t, NULL) > 0 && export_fig3(d, dir)) return -1;
    if (has_eval_curves(t))
        for (int di = 0; di < t->n_datasets; di++) {
            tb_printf(&b, "# %s %s: %s (%%) at each evaluation; columns: iteration value; one block per method (the block's first "
                          "comment names it)\n", t->task, t->datasets[di].label, metric);
            int blocks = 0;
            for (int mi = 0; mi < t->n_methods; mi++) {
                const results_run *r = run_at(d, di, mi);
                int m = r ? metric_index(r, metric) : -1;
                if (!r || m < 0 || r->n_eval == 0) continue;
                tb_printf(&b, "%s# method %s\n", blocks ? "\n\n" : "", t->methods[mi].label);
                for (int64_t i = 0; i < r->n_eval; i++) {
                    tb_printf(&b, "%lld", (long long)r->eval_iter[i]);
                    dat_num(&b, r->eval[m][i]);
                    tb_printf(&b, "\n");
                }
                blocks++;
            }
            char suf[256];
            snprintf(suf, sizeof suf, "evals_%s", t->datasets[di].key);
            if (write_text(dir, t->task, suf, &b)) return -1;
        }
    return 0;
}

/* the ablation tables have no per-method figures */
static int no_figures(const char *task) {
    if (task && !strcmp(task, "voc_ablations"))
        return err_set("task voc_ablations has tables only (deltabench report tables --task voc_ablations), no figures");
    return 0;
}

int report_plot_data(const char *results_path, const char *task, const char *data_dir) {
    report_data d;
    if (no_figures(task) || data_load(results_path, task, &d)) return -1;
    int rc = export_data(&d, data_dir);
    data_free(&d);
    return rc;
}

/* ------------------------------------------------------------------------------------------------ */
/* gnuplot                                                                                          */

/* Run gnuplot -e <vars> <script>; the script writes to `outfile` (a temporary name we then rename). */
static int run_gnuplot(const char *script, const char *vars, const char *out) {
    const char *gp = getenv("DB_GNUPLOT");
    if (!gp || !*gp) gp = "gnuplot";
    char tmp[4096];
    if (atomic_tmpname(out, tmp, sizeof tmp)) return -1;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", script);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    size_t n = strlen(vars) + strlen(tmp) + strlen(dir) + 64;
    char *e = xmalloc(n);
    snprintf(e, n, "%s; outfile='%s'; scriptdir='%s'", vars, tmp, dir);
    char *argv[] = {(char *)gp, "-e", e, (char *)script, NULL};
    /* gnuplot's messages go to a log, shown only when it fails (it warns about groups without data) */
    char log[4200];
    snprintf(log, sizeof log, "%s.log", tmp);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    int r = posix_spawnp(&pid, gp, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (r != 0) {
        free(e);
        unlink(log);
        return err_set("cannot run %s (%s): install gnuplot-nox (make deps) or set DB_GNUPLOT", gp, strerror(r));
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) {
            free(e);
            return err_set("waiting for gnuplot: %s", strerror(errno));
        }
    free(e);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !file_exists(tmp)) {
        atomic_abort(tmp);
        char *msg = file_read_all(log, NULL);
        unlink(log);
        if (msg) {
            size_t k = strlen(msg);
            while (k && (msg[k - 1] == '\n' || msg[k - 1] == ' ')) msg[--k] = 0;
        }
        int rc = err_set("%s: gnuplot failed (exit %d) writing %s: %s", script, WIFEXITED(st) ? WEXITSTATUS(st) : -1,
                         out, msg && *msg ? msg + (strlen(msg) > 600 ? strlen(msg) - 600 : 0) : "no message");
        free(msg);
        return rc;
    }
    unlink(log);
    return atomic_commit(tmp, out);
}

/* Append "name='value'" with single quotes in value dropped (labels never need them). */
static void gp_var(textbuf *b, const char *name, const char *value) {
    tb_printf(b, "%s%s='", b->n ? "; " : "", name);
    for (const char *c = value; *c; c++)
        if (*c != '\'') tb_printf(b, "%c", *c);
    tb_printf(b, "'");
}

/* The same for text the enhanced terminals draw (titles, labels, legend words): their markup characters are
 * escaped, so "mAP@0.5" is not an overprint and "fixed_random_init" no subscript. */
static void gp_text_var(textbuf *b, const char *name, const char *value) {
    tb_printf(b, "%s%s='", b->n ? "; " : "", name);
    for (const char *c = value; *c; c++) {
        if (*c == '\'') continue;
        if (strchr("@_^{}&~", *c)) tb_printf(b, "\\");
        tb_printf(b, "%c", *c);
    }
    tb_printf(b, "'");
}

int report_plots(const char *results_path, const char *task, const char *data_dir, const char *scripts_dir,
                 const char *out_dir, int *made) {
    report_data d;
    if (no_figures(task) || data_load(results_path, task, &d)) return -1;
    int rc = export_data(&d, data_dir);
    if (!rc) rc = mkdir_p(out_dir);
    const results_task_desc *t = d.t;
    int count = 0;
    static const char *terms[2] = {"png", "svg"};
    char script[4096], datf[4096], out[4096], num[64];
    /* subtitle naming the profile and backbone */
    textbuf sub = {0}, bb = {0};
    distinct(&d, get_backbone, &bb);
    tb_printf(&sub, "profile %s, backbone %s, commit %s", d.info.profile, bb.s, d.info.commit);
    free(bb.s);
    for (int k = 0; k < 2 && !rc; k++) {
        /* accuracy */
        textbuf v = {0};
        snprintf(datf, sizeof datf, "%s/%s_accuracy.dat", data_dir, task);
        gp_var(&v, "term", terms[k]);
        gp_var(&v, "datafile", datf);
        textbuf names = {0};
        for (int di = 0; di < t->n_datasets; di++) tb_printf(&names, "%s%s", di ? " " : "", t->datasets[di].label);
        if (has_avg(t)) tb_printf(&names, " Average");
        gp_text_var(&v, "groups", names.s);
        free(names.s);
        textbuf tics = {0};
        for (int mi = 0; mi < t->n_methods; mi++) tb_printf(&tics, "%s\"%s\" %d", mi ? ", " : "", t->methods[mi].label, mi);
        gp_var(&v, "xticlist", tics.s);
        free(tics.s);
        snprintf(num, sizeof num, "%d", t->n_methods);
        tb_printf(&v, "; nmethods=%s; ngroups=%d; errbars=%d", num, t->n_datasets + has_avg(t), d.n_slots > 1);
        char title[512];
        snprintf(title, sizeof title, "%s: final %s, measured (bars) vs paper (markers)", t->title, t->metrics[0].label);
        gp_text_var(&v, "plottitle", title);
        gp_text_var(&v, "subtitle", sub.s);
        gp_text_var(&v, "ylabel", t->metrics[0].label);
        snprintf(script, sizeof script, "%s/accuracy.gp", scripts_dir);
        snprintf(out, sizeof out, "%s/%s_accuracy.%s", out_dir, task, terms[k]);
        rc = run_gnuplot(script, v.s, out);
        free(v.s);
        if (rc) break;
        count++;
        /* params */
        memset(&v, 0, sizeof v);
        snprintf(datf, sizeof datf, "%s/%s_params.dat", data_dir, task);
        gp_var(&v, "term", terms[k]);
        gp_var(&v, "datafile", datf);
        snprintf(title, sizeof title, "%s: trainable parameters vs average %s", t->title, t->metrics[0].label);
        gp_text_var(&v, "plottitle", title);
        gp_text_var(&v, "subtitle", sub.s);
        if (has_avg(t)) snprintf(title, sizeof title, "average %s over %d datasets", t->metrics[0].label, t->n_datasets);
        else snprintf(title, sizeof title, "%s on %s", t->metrics[0].label, t->datasets[0].label);
        gp_text_var(&v, "ylabel", title);
        int npts = 0;
        for (int mi = 0; mi < t->n_methods; mi++) {
            double a = measured_avg(&d, mi, t->metrics[0].key, NULL);
            int row = paper_avg_row(&d, t->metrics[0].paper, mi);
            npts += isfinite(a) || (row >= 0 && isfinite(paper_pct(&d, mi)));
        }
        tb_printf(&v, "; npoints=%d", npts);
        snprintf(script, sizeof script, "%s/params.gp", scripts_dir);
        snprintf(out, sizeof out, "%s/%s_params.%s", out_dir, task, terms[k]);
        rc = run_gnuplot(script, v.s, out);
        free(v.s);
        if (rc) break;
        count++;
        /* loss per dataset */
        for (int di = 0; di < t->n_datasets && !rc; di++) {
            textbuf titles = {0};
            int blocks = 0;
            for (int mi = 0; mi < t->n_methods; mi++) {
                const results_run *r = run_at(&d, di, mi);
                if (!r || r->n_curve == 0) continue;
                tb_printf(&titles, "%s%s", blocks ? " " : "", t->methods[mi].label);
                blocks++;
            }
            memset(&v, 0, sizeof v);
            snprintf(datf, sizeof datf, "%s/%s_loss_%s.dat", data_dir, task, t->datasets[di].key);
            gp_var(&v, "term", terms[k]);
            gp_var(&v, "datafile", datf);
            gp_text_var(&v, "titles", titles.s ? titles.s : "");
            tb_printf(&v, "; nblocks=%d", blocks);
            snprintf(title, sizeof title, "%s, %s: training loss per method", t->title, t->datasets[di].label);
            gp_text_var(&v, "plottitle", title);
            gp_text_var(&v, "subtitle", sub.s);
            free(titles.s);
            snprintf(script, sizeof script, "%s/loss.gp", scripts_dir);
            snprintf(out, sizeof out, "%s/%s_loss_%s.%s", out_dir, task, t->datasets[di].key, terms[k]);
            rc = run_gnuplot(script, v.s, out);
            free(v.s);
            if (!rc) count++;
        }
        /* the headline metric against iterations (iteration-based tasks) */
        for (int di = 0; di < t->n_datasets && !rc && has_eval_curves(t); di++) {
            textbuf titles = {0};
            int blocks = 0;
            for (int mi = 0; mi < t->n_methods; mi++) {
                const results_run *r = run_at(&d, di, mi);
                if (!r || r->n_eval == 0 || metric_index(r, t->metrics[0].key) < 0) continue;
                tb_printf(&titles, "%s%s", blocks ? " " : "", t->methods[mi].label);
                blocks++;
            }
            memset(&v, 0, sizeof v);
            snprintf(datf, sizeof datf, "%s/%s_evals_%s.dat", data_dir, task, t->datasets[di].key);
            gp_var(&v, "term", terms[k]);
            gp_var(&v, "datafile", datf);
            gp_text_var(&v, "titles", titles.s ? titles.s : "");
            gp_text_var(&v, "ylab", t->metrics[0].label);
            tb_printf(&v, "; nblocks=%d", blocks);
            snprintf(title, sizeof title, "%s, %s: %s against iterations", t->title, t->datasets[di].label, t->metrics[0].label);
            gp_text_var(&v, "plottitle", title);
            gp_text_var(&v, "subtitle", sub.s);
            free(titles.s);
            snprintf(script, sizeof script, "%s/evals.gp", scripts_dir);
            snprintf(out, sizeof out, "%s/%s_evals_%s.%s", out_dir, task, t->datasets[di].key, terms[k]);
            rc = run_gnuplot(script, v.s, out);
            free(v.s);
            if (!rc) count++;
        }
        /* Figure 3 (VOC) */
        int idx[6], nf = fig3_methods(t, idx);
        if (nf > 0 && !rc) {
            textbuf titles = {0};
            int blocks = 0;
            for (int q = 0; q < nf; q++) {
                const results_run *r = run_at(&d, 0, idx[q]);
                if (!r || r->n_curve == 0) continue;
                tb_printf(&titles, "%s%s", blocks ? " " : "", t->methods[idx[q]].label);
                blocks++;
            }
            memset(&v, 0, sizeof v);
            snprintf(datf, sizeof datf, "%s/%s_fig3.dat", data_dir, task);
            gp_var(&v, "term", terms[k]);
            gp_var(&v, "datafile", datf);
            gp_text_var(&v, "titles", titles.s ? titles.s : "");
            tb_printf(&v, "; nblocks=%d; interval=%d", blocks, FIG3_LOG_INTERVAL);
            snprintf(title, sizeof title, "%s: training loss (Figure 3 of the paper)", t->title);
            gp_text_var(&v, "plottitle", title);
            gp_text_var(&v, "subtitle", sub.s);
            free(titles.s);
            snprintf(script, sizeof script, "%s/fig3.gp", scripts_dir);
            snprintf(out, sizeof out, "%s/%s_fig3.%s", out_dir, task, terms[k]);
            rc = run_gnuplot(script, v.s, out);
            free(v.s);
            if (!rc) count++;
        }
    }
    free(sub.s);
    data_free(&d);
    if (!rc && made) *made = count;
    return rc;
}

/* ------------------------------------------------------------------------------------------------ */
/* the paper's Figure 1: ADE20K mIoU (x) against COCO box AP (y), one point per method                */

static int fig1_method(const results_task_desc *t, const char *key) {
    for (int mi = 0; mi < t->n_methods; mi++)
        if (!strcmp(t->methods[mi].key, key)) return mi;
    return -1;
}

int report_figure1(const char *ade_path, const char *coco_path, const char *data_dir, const char *scripts_dir, const char *out_dir) {
    report_data a, c;
    if (data_load(ade_path, "ade20k", &a)) return -1;
    if (data_load(coco_path, "coco", &c)) {
        data_free(&a);
        return -1;
    }
    int rc = mkdir_p(data_dir);
    if (!rc) rc = mkdir_p(out_dir);
    /* one row per method of the COCO table that the ADE20K table also has: measured (x, y), paper (x, y), full */
    textbuf b = {0};
    tb_printf(&b, "# Figure 1: ADE20K %s (x) against COCO %s (y) per method; columns: label measured_x measured_y paper_x "
                  "paper_y is_full (NaN = missing)\n# ade20k: %s (profile %s, commit %s)\n# coco: %s (profile %s, commit %s)\n",
              a.t->metrics[0].key, c.t->metrics[0].key, ade_path, a.info.profile, a.info.commit, coco_path, c.info.profile, c.info.commit);
    int npts = 0;
    double full[4] = {NAN, NAN, NAN, NAN};
    for (int mi = 0; mi < c.t->n_methods; mi++) {
        int ma = fig1_method(a.t, c.t->methods[mi].key);
        if (ma < 0) continue;
        double mx = measured(&a, 0, ma, a.t->metrics[0].key, NULL), my = measured(&c, 0, mi, c.t->metrics[0].key, NULL);
        int ra = paper_row(&a, a.t->datasets[0].paper, a.t->metrics[0].paper, ma), rcoco = paper_row(&c, c.t->datasets[0].paper, c.t->metrics[0].paper, mi);
        double px = ra >= 0 ? a.paper.rows[ra].value : NAN, py = rcoco >= 0 ? c.paper.rows[rcoco].value : NAN;
        int is_full = !strcmp(c.t->methods[mi].key, "full");
        if (is_full) full[0] = mx, full[1] = my, full[2] = px, full[3] = py;
        tb_printf(&b, "\"%s\"", c.t->methods[mi].label);
        dat_num(&b, mx), dat_num(&b, my), dat_num(&b, px), dat_num(&b, py);
        tb_printf(&b, " %d\n", is_full);
        npts += isfinite(mx) && isfinite(my);
    }
    char datf[4096], script[4096], out[4096];
    snprintf(datf, sizeof datf, "%s/figure1.dat", data_dir);
    if (!rc) rc = file_write_atomic(datf, b.s ? b.s : "", b.n);
    free(b.s);
    static const char *terms[2] = {"png", "svg"};
    for (int k = 0; k < 2 && !rc; k++) {
        textbuf v = {0};
        gp_var(&v, "term", terms[k]);
        gp_var(&v, "datafile", datf);
        char sub[1024];
        snprintf(sub, sizeof sub, "measured: ADE20K profile %s, COCO profile %s (commits %s, %s); paper: Swin-L UperNet, Swin-B Cascade Mask R-CNN",
                 a.info.profile, c.info.profile, a.info.commit, c.info.commit);
        gp_text_var(&v, "subtitle", sub);
        tb_printf(&v, "; npoints=%d; fx=%.6g; fy=%.6g; fpx=%.6g; fpy=%.6g", npts, isfinite(full[0]) ? full[0] : -1.0,
                  isfinite(full[1]) ? full[1] : -1.0, isfinite(full[2]) ? full[2] : -1.0, isfinite(full[3]) ? full[3] : -1.0);
        snprintf(script, sizeof script, "%s/figure1.gp", scripts_dir);
        snprintf(out, sizeof out, "%s/figure1.%s", out_dir, terms[k]);
        rc = run_gnuplot(script, v.s, out);
        free(v.s);
    }
    data_free(&a);
    data_free(&c);
    return rc;
}
