/* cmd_report.c - `deltabench report tables|plots|runs`: tables, figures and a run listing made from a
 * results HDF5 file alone (experiments/report.h, experiments/results.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "../experiments/report.h"
#include "../experiments/results.h"
#include "commands.h"

static void report_usage(FILE *f) {
    fprintf(f,
            "usage: deltabench report tables|plots|runs|figure1 [options]\n\n"
            "Make the tables and figures of a task from its results file alone (nothing is re-run).\n\n"
            "  tables   write <out>/<task>.md and <out>/<task>.tex: measured numbers beside the paper's\n"
            "  plots    export figure data to <data>/<task>_*.dat and run gnuplot on <scripts>/*.gp, writing\n"
            "           <out>/<task>_accuracy, <task>_params and <task>_loss_<dataset> as .png and .svg\n"
            "  runs     list the runs in the file (dataset, method, status, final metrics)\n\n"
            "options:\n"
            "  --task NAME       task (default cls; known: cls)\n"
            "  --results FILE    results file (default results/<task>.h5)\n"
            "  figure1  the paper's Figure 1 (ADE20K mIoU against COCO box AP per method) from --ade20k FILE\n"
            "           (default results/ade20k.h5) and --coco FILE (default results/coco.h5): <out>/figure1.png, .svg\n"
            "  --out DIR         output folder (default results for tables, plots for plots)\n"
            "  --data DIR        figure data folder (plots only; default build/plots)\n"
            "  --scripts DIR     gnuplot scripts folder (plots only; default plots)\n"
            "  --print           tables: also print the Markdown on stdout\n"
            "  --json            runs: print JSON instead of text\n"
            "  -h, --help        this help\n");
}

/* A JSON string literal (quotes, backslashes and control characters escaped). */
static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

static int list_runs(const char *path, int json) {
    char **ds, **me;
    int n = results_list_runs(path, &ds, &me);
    if (n < 0) return -1;
    if (json) {
        printf("{\"results\": ");
        json_str(path);
        printf(", \"runs\": [");
    }
    for (int i = 0; i < n; i++) {
        results_run r;
        if (results_read_run(path, ds[i], me[i], &r)) {
            for (int k = 0; k < n; k++) {
                free(ds[k]);
                free(me[k]);
            }
            free(ds);
            free(me);
            return -1;
        }
        if (json) {
            printf("%s\n  {\"dataset\": ", i ? "," : "");
            json_str(r.dataset);
            printf(", \"method\": ");
            json_str(r.method);
            printf(", \"status\": \"%s\", \"final\": {", r.complete ? "complete" : "partial");
            for (int m = 0; m < r.n_metrics; m++) {
                if (isfinite(r.final[m])) printf("%s\"%s\": %.6g", m ? ", " : "", r.metric[m], r.final[m]);
                else printf("%s\"%s\": null", m ? ", " : "", r.metric[m]);
            }
            printf("}, \"wall_time_s\": %.3f, \"trainable_params\": %lld}", r.wall_time_s, (long long)r.trainable_params);
        } else {
            printf("%-14s %-12s %-8s", r.dataset, r.method, r.complete ? "complete" : "partial");
            for (int m = 0; m < r.n_metrics; m++) printf("  %s %.2f", r.metric[m], r.final[m]);
            printf("  %.1f s\n", r.wall_time_s);
        }
        results_run_free(&r);
    }
    if (json) printf("%s]}\n", n ? "\n" : "");
    for (int k = 0; k < n; k++) {
        free(ds[k]);
        free(me[k]);
    }
    free(ds);
    free(me);
    return 0;
}

int cmd_report(int argc, char **argv) {
    const char *task = "cls", *results = NULL, *out = NULL, *data = "build/plots", *scripts = "plots";
    const char *what = NULL, *ade = "results/ade20k.h5", *coco = "results/coco.h5";
    int print = 0, json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            report_usage(stdout);
            return 0;
        }
        const char **dst = NULL;
        if (!strcmp(a, "--task")) dst = &task;
        else if (!strcmp(a, "--results")) dst = &results;
        else if (!strcmp(a, "--out")) dst = &out;
        else if (!strcmp(a, "--data")) dst = &data;
        else if (!strcmp(a, "--scripts")) dst = &scripts;
        else if (!strcmp(a, "--ade20k")) dst = &ade;
        else if (!strcmp(a, "--coco")) dst = &coco;
        if (dst) {
            if (i + 1 >= argc) {
                fprintf(stderr, "deltabench: report: %s needs a value\n", a);
                return 2;
            }
            *dst = argv[++i];
            continue;
        }
        if (!strcmp(a, "--print")) print = 1;
        else if (!strcmp(a, "--json")) json = 1;
        else if (a[0] != '-' && !what) what = a;
        else {
            fprintf(stderr, "deltabench: report: unknown argument '%s'\n\n", a);
            report_usage(stderr);
            return 2;
        }
    }
    if (what && !strcmp(what, "figure1")) {
        const char *need[2] = {ade, coco}, *mk[2] = {"ade20k", "coco"};
        for (int k = 0; k < 2; k++)
            if (!file_exists(need[k])) {
                fprintf(stderr, "deltabench: report figure1: %s: no such file; make it with `make reproduce-%s` (Figure 1 needs both tables)\n",
                        need[k], mk[k]);
                return 1;
            }
        if (report_figure1(ade, coco, data, scripts, out ? out : "plots")) {
            fprintf(stderr, "deltabench: %s\n", err_msg());
            return 1;
        }
        fprintf(stderr, "report: wrote %s/figure1.png and .svg from %s and %s, data in %s/figure1.dat\n", out ? out : "plots", ade, coco, data);
        return 0;
    }
    if (!what || (strcmp(what, "tables") && strcmp(what, "plots") && strcmp(what, "runs"))) {
        fprintf(stderr, "deltabench: report: say what to make: tables, plots, runs or figure1\n\n");
        report_usage(stderr);
        return 2;
    }
    if (!results_task(task)) {
        fprintf(stderr, "deltabench: %s\n", err_msg());
        return 2;
    }
    char defres[1024];
    if (!results) {
        snprintf(defres, sizeof defres, "results/%s.h5", task);
        results = defres;
    }
    if (!file_exists(results)) {
        fprintf(stderr, "deltabench: %s: no such file; make it with `make reproduce-%s` or pass --results FILE\n", results,
                task);
        return 1;
    }
    int rc = 0;
    if (!strcmp(what, "tables")) {
        if (!out) out = "results";
        char *md = NULL, *tex = NULL;
        rc = report_tables(results, task, out);
        if (!rc && print && !report_table_texts(results, task, &md, &tex)) fputs(md, stdout);
        free(md);
        free(tex);
        if (!rc) fprintf(stderr, "report: wrote %s/%s.md and %s/%s.tex from %s\n", out, task, out, task, results);
    } else if (!strcmp(what, "plots")) {
        if (!out) out = "plots";
        int made = 0;
        rc = report_plots(results, task, data, scripts, out, &made);
        if (!rc) fprintf(stderr, "report: wrote %d figures (png and svg) to %s/, data in %s/\n", made, out, data);
    } else {
        rc = list_runs(results, json);
    }
    if (rc) {
        fprintf(stderr, "deltabench: %s\n", err_msg());
        return 1;
    }
    return 0;
}
