/* report_ablations.c - the tables of an ablation results file (results/voc_ablations.h5): one table per entry of
 * the layout the driver stored (/ablations/layout, reproduce_ablations.c), each row the run it names beside the
 * paper's row of the same (dataset, metric, method) names in /paper, with the trainable share of the backbone and
 * the difference to the table's reference row, measured and the paper's. Everything shown is read from the file. */
#include <cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "report.h"
#include "results.h"
#include "textbuf.h"

static const char *js(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}
static int ji(const cJSON *o, const char *k, int def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valueint : def;
}

typedef struct ab_data {
    results_info info;
    results_paper paper;
    cJSON *layout;
    const cJSON *runs, *tables, *backbones;
    int n_runs;
    results_run *rr; /* [n_runs] */
    int *have;       /* 1: in the file */
    const char *dataset, *metric, *paper_metric;
} ab_data;

static void ab_free(ab_data *d) {
    for (int i = 0; i < d->n_runs; i++)
        if (d->have[i]) results_run_free(&d->rr[i]);
    free(d->rr);
    free(d->have);
    cJSON_Delete(d->layout);
    results_paper_free(&d->paper);
}

static int ab_load(const char *path, ab_data *d) {
    memset(d, 0, sizeof *d);
    if (results_read_info(path, &d->info) || results_read_paper(path, &d->paper)) return -1;
    char *lj = results_read_layout(path);
    if (!lj) return -1;
    d->layout = cJSON_Parse(lj);
    free(lj);
    if (!d->layout) return err_set("%s: /ablations/layout is not valid JSON", path);
    d->runs = cJSON_GetObjectItemCaseSensitive(d->layout, "runs");
    d->tables = cJSON_GetObjectItemCaseSensitive(d->layout, "tables");
    d->backbones = cJSON_GetObjectItemCaseSensitive(d->layout, "backbones");
    d->dataset = js(d->layout, "dataset");
    d->metric = js(d->layout, "metric");
    d->paper_metric = js(d->layout, "paper_metric");
    d->n_runs = cJSON_GetArraySize(d->runs);
    d->rr = xcalloc((size_t)d->n_runs + 1, sizeof(results_run));
    d->have = xcalloc((size_t)d->n_runs + 1, sizeof(int));
    for (int i = 0; i < d->n_runs; i++) {
        const char *key = js(cJSON_GetArrayItem(d->runs, i), "key");
        int h = results_has_complete_run(path, d->dataset, key);
        if (h < 0) {
            ab_free(d);
            return -1;
        }
        /* partial runs are shown too (marked): read whatever is stored */
        if (!results_read_run(path, d->dataset, key, &d->rr[i])) d->have[i] = 1;
        else err_clear();
    }
    return 0;
}

static const results_run *row_run(const ab_data *d, const cJSON *row) {
    int u = ji(row, "run", -1);
    return u >= 0 && u < d->n_runs && d->have[u] ? &d->rr[u] : NULL;
}

static double run_value(const ab_data *d, const results_run *r, int *partial) {
    if (partial) *partial = r && !r->complete;
    if (!r) return NAN;
    for (int m = 0; m < r->n_metrics; m++)
        if (!strcmp(r->metric[m], d->metric)) return r->final[m];
    return NAN;
}

static double run_pct(const results_run *r) {
    if (!r) return NAN;
    if (r->backbone_params > 0) return 100.0 * (double)r->backbone_trainable_params / (double)r->backbone_params;
    return r->total_params > 0 ? 100.0 * (double)r->trainable_params / (double)r->total_params : NAN;
}

static int paper_index(const ab_data *d, const cJSON *row) {
    const char *ds = js(row, "paper_dataset"), *me = js(row, "paper_method");
    if (!*ds || !*me) return -1;
    return results_paper_find(&d->paper, ds, d->paper_metric, me);
}

/* the texts of one row's cells */
typedef struct ab_cells {
    char pct[32], ppct[32], val[32], pval[32], dv[32], pdv[32];
} ab_cells;

static void row_cells(const ab_data *d, const cJSON *rows, const cJSON *row, int tex, ab_cells *c) {
    const char *dash = tex ? "--" : "–";
    const results_run *r = row_run(d, row);
    double p = run_pct(r);
    if (isfinite(p)) snprintf(c->pct, sizeof c->pct, "%.2f", p);
    else snprintf(c->pct, sizeof c->pct, "%s", r ? "n/a" : "missing");
    int pi = paper_index(d, row);
    if (pi >= 0 && isfinite(d->paper.rows[pi].trainable_pct)) tb_number(d->paper.rows[pi].trainable_pct, c->ppct, sizeof c->ppct);
    else snprintf(c->ppct, sizeof c->ppct, "%s", dash);
    int part;
    double v = run_value(d, r, &part);
    if (!r) snprintf(c->val, sizeof c->val, "missing");
    else if (!isfinite(v)) snprintf(c->val, sizeof c->val, "%s", part ? "partial" : "n/a");
    else snprintf(c->val, sizeof c->val, "%.2f%s", v, part ? (tex ? "$^*$" : "*") : "");
    if (pi >= 0) tb_number(d->paper.rows[pi].value, c->pval, sizeof c->pval);
    else snprintf(c->pval, sizeof c->pval, "%s", dash);
    int ref = ji(row, "reference", -1);
    const cJSON *rrow = ref >= 0 ? cJSON_GetArrayItem(rows, ref) : NULL;
    snprintf(c->dv, sizeof c->dv, "%s", dash);
    snprintf(c->pdv, sizeof c->pdv, "%s", dash);
    if (!rrow) { /* the reference of some row of the table: "ref" */
        int is_ref = 0;
        const cJSON *o;
        cJSON_ArrayForEach(o, rows) is_ref |= ji(o, "reference", -1) >= 0 && cJSON_GetArrayItem(rows, ji(o, "reference", -1)) == row;
        if (is_ref) snprintf(c->dv, sizeof c->dv, "ref"), snprintf(c->pdv, sizeof c->pdv, "ref");
        return;
    }
    double rv = run_value(d, row_run(d, rrow), NULL);
    if (isfinite(v) && isfinite(rv)) snprintf(c->dv, sizeof c->dv, "%+.2f", v - rv);
    int rpi = paper_index(d, rrow);
    if (pi >= 0 && rpi >= 0) snprintf(c->pdv, sizeof c->pdv, "%+.1f", d->paper.rows[pi].value - d->paper.rows[rpi].value);
}

static const char *profile_note(const char *profile) {
    if (!strcmp(profile, "default"))
        return "embedded default (synthetic stand-in VOC and small Swins pretrained by the harness on a synthetic upstream task; "
               "the absolute numbers are not comparable with the paper's Swin-T/B/L ones, only the ordering and the differences are)";
    if (!strcmp(profile, "paper")) return "paper (the authors' VOC recipe, mona_spec.md section 6.2, on the real data)";
    return "custom profile";
}

/* distinct values of a run field over the runs present */
static void distinct(const ab_data *d, int commit, textbuf *b, int tex) {
    int k = 0;
    for (int i = 0; i < d->n_runs; i++) {
        if (!d->have[i]) continue;
        const char *v = commit ? d->rr[i].commit : d->rr[i].data;
        if (!v || !*v) continue;
        int dup = 0;
        for (int j = 0; j < i; j++)
            if (d->have[j]) {
                const char *w = commit ? d->rr[j].commit : d->rr[j].data;
                dup |= w && !strcmp(w, v);
            }
        if (dup) continue;
        tb_printf(b, "%s", k++ ? "; " : "");
        if (tex) tb_tex(b, v);
        else tb_md(b, v);
    }
    if (!k) tb_printf(b, "none recorded");
}

static void tables_of_run(const ab_data *d, int u, textbuf *b) {
    int k = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, d->tables) {
        int in = 0;
        const cJSON *row;
        cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(t, "rows")) in |= ji(row, "run", -1) == u;
        if (in) tb_printf(b, "%s%d", k++ ? ", " : "", ji(t, "number", 0));
    }
}

static char *make_md(const ab_data *d) {
    textbuf b = {0};
    int present = 0, complete = 0, rows = 0;
    for (int i = 0; i < d->n_runs; i++) present += d->have[i], complete += d->have[i] && d->rr[i].complete;
    const cJSON *t;
    cJSON_ArrayForEach(t, d->tables) rows += cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(t, "rows"));
    tb_printf(&b, "# Pascal VOC ablations (RetinaNet): measured vs. paper (profile `%s`)\n\n", d->info.profile);
    tb_printf(&b,
              "Generated by `deltabench report tables --task voc_ablations` from the results file alone (schema `%s`, created %s, "
              "last written %s by commit %s on %s, %s). %d rows in %d tables show %d distinct runs (a run two tables share is "
              "trained and stored once); %d present, %d complete. Profile: %s. Data: ",
              d->info.schema, d->info.created, d->info.updated, d->info.commit, d->info.hostname, d->info.cpu_model, rows,
              cJSON_GetArraySize(d->tables), d->n_runs, present, complete, profile_note(d->info.profile));
    distinct(d, 0, &b, 0);
    tb_printf(&b, ". Commit: ");
    distinct(d, 1, &b, 0);
    tb_printf(&b, ".\n\nEach table: mAP@0.5 (%%) on the test split after the last iteration, measured by deltabench (\"ours\") beside "
                  "the paper's row (\"paper\"; \"–\" where the paper gives no number); Trainable %%: the share of the backbone's "
                  "parameters that train (delta modules included), as the paper counts; Δ: the difference to the row the table "
                  "compares with (\"ref\"; in Table 6 each Mona row with Full at its size), measured and the paper's; \"*\" = run "
                  "not complete, \"missing\" = no run in the file.\n\n");
    cJSON_ArrayForEach(t, d->tables) {
        const cJSON *rl = cJSON_GetObjectItemCaseSensitive(t, "rows"), *row;
        tb_printf(&b, "**Table %d.** ", ji(t, "number", 0));
        tb_md(&b, js(t, "title"));
        if (*js(t, "paper_task")) tb_printf(&b, " (paper rows: `%s`)", js(t, "paper_task"));
        tb_printf(&b, ".\n\n| Row | Backbone | Method | Run | Trainable %% | (paper) | mAP@0.5 | (paper) | Δ | (paper) |\n"
                      "|:--|:--|:--|:--|--:|--:|--:|--:|--:|--:|\n");
        cJSON_ArrayForEach(row, rl) {
            ab_cells c;
            row_cells(d, rl, row, 0, &c);
            int u = ji(row, "run", -1);
            const cJSON *run = cJSON_GetArrayItem(d->runs, u);
            tb_printf(&b, "| ");
            tb_md(&b, js(row, "label"));
            tb_printf(&b, " | ");
            tb_md(&b, js(row, "backbone_label"));
            tb_printf(&b, " | `%s` | `%s` | %s | %s | %s | %s | %s | %s |\n", js(run, "method"), js(run, "key"), c.pct, c.ppct, c.val, c.pval,
                      c.dv, c.pdv);
        }
        tb_printf(&b, "\n");
    }
    /* the paper's rows */
    tb_printf(&b, "## The paper's numbers and their sources\n\nFrom `%s` (SHA-256 `%.12s…`), rows of tasks `%s`; the source tags are "
                  "explained in `paper_numbers.md`. A table row shows the paper's row of its dataset, metric and method names.\n\n"
                  "| Task | Dataset | Metric | Method | Value | Trainable %% | Source | Shown |\n|:--|:--|:--|:--|--:|--:|:--|:--|\n",
              d->info.paper_csv[0] ? d->info.paper_csv : "(no CSV recorded)", d->info.paper_csv_sha256, results_task("voc_ablations")->paper_task);
    for (int i = 0; i < d->paper.n; i++) {
        const results_paper_row *r = &d->paper.rows[i];
        char v[64], p[64];
        tb_number(r->value, v, sizeof v);
        if (isfinite(r->trainable_pct)) tb_number(r->trainable_pct, p, sizeof p);
        else snprintf(p, sizeof p, "–");
        int shown = 0;
        cJSON_ArrayForEach(t, d->tables) {
            const cJSON *row;
            cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(t, "rows")) shown |= paper_index(d, row) == i;
        }
        tb_printf(&b, "| %s | ", r->task ? r->task : "");
        tb_md(&b, r->dataset);
        tb_printf(&b, " | %s | ", r->metric);
        tb_md(&b, r->method);
        tb_printf(&b, " | %s | %s | ", v, p);
        tb_md(&b, r->source);
        tb_printf(&b, " | %s |\n", shown ? "yes" : "no");
    }
    if (!d->paper.n) tb_printf(&b, "| (none) | | | | | | | |\n");
    /* every run once */
    tb_printf(&b, "\n## Runs\n\nEach run once, with the tables that show it.\n\n| Run | Backbone | Method | Tables | Status | Seed | Trainable "
                  "params | Total params | Wall time (s) | Peak memory (MiB) | Threads | Pretrained (SHA-256) | Commit | Date |\n"
                  "|:--|:--|:--|:--|:--|--:|--:|--:|--:|--:|--:|:--|:--|:--|\n");
    for (int i = 0; i < d->n_runs; i++) {
        const cJSON *run = cJSON_GetArrayItem(d->runs, i);
        const cJSON *bb = cJSON_GetArrayItem(d->backbones, ji(run, "backbone", 0));
        tb_printf(&b, "| `%s` | `%s` | `%s` | ", js(run, "key"), js(bb, "backbone"), js(run, "method"));
        tables_of_run(d, i, &b);
        if (!d->have[i]) {
            tb_printf(&b, " | missing | | | | | | | | | |\n");
            continue;
        }
        const results_run *r = &d->rr[i];
        tb_printf(&b, " | %s | %lld | %lld | %lld | %.1f | %.0f | %lld | ", r->complete ? "complete" : "partial", (long long)r->seed,
                  (long long)r->trainable_params, (long long)r->total_params, r->wall_time_s, (double)r->peak_mem_bytes / 1048576.0,
                  (long long)r->threads);
        tb_md(&b, r->pretrained_path && *r->pretrained_path ? r->pretrained_path : "random init");
        if (r->pretrained_sha256 && *r->pretrained_sha256) tb_printf(&b, " (`%.12s…`)", r->pretrained_sha256);
        tb_printf(&b, " | ");
        tb_md(&b, r->commit);
        tb_printf(&b, " | ");
        tb_md(&b, r->date);
        tb_printf(&b, " |\n");
    }
    tb_printf(&b, "\n");
    return b.s;
}

static char *make_tex(const ab_data *d) {
    textbuf b = {0};
    tb_printf(&b, "%% Generated by `deltabench report tables --task voc_ablations` from the results file alone (profile %s).\n"
                  "%% Needs \\usepackage{booktabs}.\n\n",
              d->info.profile);
    const cJSON *t;
    cJSON_ArrayForEach(t, d->tables) {
        const cJSON *rl = cJSON_GetObjectItemCaseSensitive(t, "rows"), *row;
        tb_printf(&b, "\\begin{table}[t]\n\\centering\n\\small\n\\caption{Pascal VOC ablation (RetinaNet), ");
        tb_tex(&b, js(t, "title"));
        tb_printf(&b, ": mAP@0.5 (\\%%) measured by deltabench (ours) beside the paper's (paper; -- where it gives none). Profile \\texttt{");
        tb_tex(&b, d->info.profile);
        tb_printf(&b, "}: ");
        tb_tex(&b, profile_note(d->info.profile));
        tb_printf(&b, ". Trainable \\%%: share of the backbone's parameters that train; $\\Delta$: difference to the reference row (ref); "
                      "$^*$ run not complete. Commit ");
        distinct(d, 1, &b, 1);
        tb_printf(&b, ".}\n\\label{tab:voc_ablation_%s}\n\\begin{tabular}{ll rr rr rr}\n\\toprule\n & & \\multicolumn{2}{c}{Trainable \\%%} & "
                      "\\multicolumn{2}{c}{mAP@0.5} & \\multicolumn{2}{c}{$\\Delta$} \\\\\n"
                      "\\cmidrule(lr){3-4}\\cmidrule(lr){5-6}\\cmidrule(lr){7-8}\nRow & Backbone & ours & paper & ours & paper & ours & paper \\\\\n"
                      "\\midrule\n",
                  js(t, "key"));
        cJSON_ArrayForEach(row, rl) {
            ab_cells c;
            row_cells(d, rl, row, 1, &c);
            tb_tex(&b, js(row, "label"));
            tb_printf(&b, " & ");
            tb_tex(&b, js(row, "backbone_label"));
            tb_printf(&b, " & %s & %s & %s & %s & %s & %s \\\\\n", c.pct, c.ppct, c.val, c.pval, c.dv, c.pdv);
        }
        tb_printf(&b, "\\bottomrule\n\\end{tabular}\n\\end{table}\n\n");
    }
    return b.s;
}

int report_ablation_texts(const char *results_path, char **md, char **tex) {
    ab_data d;
    if (ab_load(results_path, &d)) return -1;
    *md = make_md(&d);
    *tex = make_tex(&d);
    ab_free(&d);
    return 0;
}
