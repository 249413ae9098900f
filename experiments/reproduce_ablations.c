/* reproduce_ablations.c - `deltabench reproduce voc-ablations`: the paper's three VOC ablation tables (Table 5,
 * Mona's intermediate width; Table 6, the backbone size, Full against Mona; Table 7, scaled LayerNorm and the
 * depthwise kernels) from one recipe (experiments/recipes/voc_ablations_<profile>.json) into one results file
 * (results/voc_ablations.h5), then results/voc_ablations.{md,tex}.
 *
 * The recipe is a VOC recipe (its data, backbone, schedule, detector) plus "ablations": the backbones the tables
 * use beside the recipe's own, and the tables, each a list of rows (a label, a method spec, optionally a backbone,
 * the paper's row it stands beside, the row it is compared with). A run is a (backbone, weights, canonical method
 * spec): rows that ask for the same one share it (the default Mona is in all three tables, Full and Mona at the
 * recipe's own size in Table 6), trained once and stored once. Its results key is the spec's key (mona_width4) on
 * the recipe's backbone, <spec key>.<backbone key> on another (full.embed8). Each run stores the recipe it ran: the
 * VOC recipe with its backbone, its weights and its one method, without "ablations", so that editing a table does
 * not make the other tables' runs stale (the recipe's top-level "methods", which the loader requires, names the
 * reference Mona and is not what runs). The table layout (which run each row shows) goes into the results file
 * (/ablations/layout), so the tables are made from that file alone (report_ablations.c). */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/comm.h"
#include "../core/common.h"
#include "../datasets/cls_synth.h"
#include "../methods/method.h"
#include "report.h"
#include "reproduce_int.h"
#include "results.h"
#include "train_det.h"

#define AB_MAX_BACKBONES 8
#define AB_MAX_TABLES 8
#define AB_MAX_ROWS 16
#define AB_MAX_RUNS 64

typedef struct ab_backbone {
    char key[32], label[128], backbone[96], pretrained[1024]; /* pretrained: "embedded", a path, or "" */
    char paper_dataset[128];
} ab_backbone;

typedef struct ab_run {
    int bb;                       /* index into backbones; 0 = the recipe's own */
    char spec[RECIPE_METHOD_MAX]; /* canonical */
    char key[RECIPE_METHOD_MAX + 40];
    int pending, stale;
    int weights_unknown; /* an embedded backbone not pretrained yet: "done" holds only if the pretraining gives the same weights */
} ab_run;

typedef struct ab_row {
    char id[32], label[128], bb_label[128], paper_dataset[128], paper_method[128];
    int run, ref; /* ref: row index of the row it is compared with, -1 none */
} ab_row;

typedef struct ab_table {
    char key[32], title[192], paper_task[64];
    int number, n_rows;
    ab_row rows[AB_MAX_ROWS];
} ab_table;

typedef struct ab_plan {
    ab_backbone bbs[AB_MAX_BACKBONES];
    int n_bbs;
    ab_run runs[AB_MAX_RUNS];
    int n_runs;
    ab_table tables[AB_MAX_TABLES];
    int n_tables;
} ab_plan;

/* a bounded copy (memmove: gcc cannot tell the plan's strings apart and warns about snprintf between them) */
static void scopy(char *dst, size_t n, const char *src) {
    size_t l = strlen(src);
    if (l >= n) l = n - 1;
    memmove(dst, src, l);
    dst[l] = 0;
}

/* a string field, ${VAR}s replaced; def when absent; an error when present and not a string */
static int field(const cJSON *o, const char *key, const char *def, const recipe_vars *vars, char *out, int n, const char *where) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        if (!def) return err_set("%s: missing \"%s\"", where, key);
        scopy(out, (size_t)n, def);
        return 0;
    }
    if (!cJSON_IsString(v)) return err_set("%s: \"%s\" must be a string", where, key);
    char w[1600];
    snprintf(w, sizeof w, "%s.%s", where, key);
    return recipe_substitute(v->valuestring, vars, out, n, w);
}

/* the run of (backbone bb, spec): found, or added */
static int plan_run(ab_plan *p, int bb, const char *spec_text, const char *where) {
    method_spec sp;
    if (method_spec_parse(spec_text, &sp)) return err_prefix("%s", where);
    for (int i = 0; i < p->n_runs; i++)
        if (p->runs[i].bb == bb && !strcmp(p->runs[i].spec, sp.spec)) return i;
    if (p->n_runs == AB_MAX_RUNS) return err_set("%s: more than %d distinct runs", where, AB_MAX_RUNS);
    ab_run *u = &p->runs[p->n_runs];
    memset(u, 0, sizeof *u);
    u->bb = bb;
    snprintf(u->spec, sizeof u->spec, "%s", sp.spec);
    char bkey[32];
    scopy(bkey, sizeof bkey, p->bbs[bb].key);
    int kl = bb == 0 ? snprintf(u->key, sizeof u->key, "%s", sp.key) : snprintf(u->key, sizeof u->key, "%s.%s", sp.key, bkey);
    if (kl >= RECIPE_METHOD_MAX) return err_set("%s: run key '%s' too long", where, u->key);
    for (int i = 0; i < p->n_runs; i++)
        if (!strcmp(p->runs[i].key, u->key)) return err_set("%s: two runs would be stored as '%s'", where, u->key);
    return p->n_runs++;
}

static int ablation_plan_parse(const recipe *r, const recipe_vars *vars, ab_plan *p) {
    memset(p, 0, sizeof *p);
    const cJSON *ab = cJSON_GetObjectItemCaseSensitive(r->json, "ablations");
    char w[1200];
    snprintf(w, sizeof w, "%s: ablations", r->path);
    if (!cJSON_IsObject(ab)) return err_set("%s: missing \"ablations\" object (the tables)", r->path);
    /* backbone 0: the recipe's own */
    ab_backbone *b0 = &p->bbs[p->n_bbs++];
    snprintf(b0->key, sizeof b0->key, "%s", "");
    snprintf(b0->backbone, sizeof b0->backbone, "%s", r->backbone);
    snprintf(b0->pretrained, sizeof b0->pretrained, "%s", r->pretrained);
    if (field(ab, "backbone_label", r->backbone, vars, b0->label, sizeof b0->label, w)) return -1;
    int alias[AB_MAX_BACKBONES]; /* entry index -> backbone index */
    char keys[AB_MAX_BACKBONES][32], labels[AB_MAX_BACKBONES][128], pds[AB_MAX_BACKBONES][128];
    int n_entries = 0;
    const cJSON *bl = cJSON_GetObjectItemCaseSensitive(ab, "backbones"), *e;
    if (bl && !cJSON_IsArray(bl)) return err_set("%s.backbones must be an array", w);
    cJSON_ArrayForEach(e, bl) {
        char we[1300];
        snprintf(we, sizeof we, "%s.backbones[%d]", w, n_entries);
        if (n_entries == AB_MAX_BACKBONES - 1) return err_set("%s: at most %d backbones", we, AB_MAX_BACKBONES - 1);
        ab_backbone b;
        memset(&b, 0, sizeof b);
        if (field(e, "key", NULL, vars, b.key, sizeof b.key, we) || field(e, "backbone", NULL, vars, b.backbone, sizeof b.backbone, we) ||
            field(e, "pretrained", r->pretrained, vars, b.pretrained, sizeof b.pretrained, we) ||
            field(e, "label", b.backbone, vars, b.label, sizeof b.label, we) ||
            field(e, "paper_dataset", "", vars, b.paper_dataset, sizeof b.paper_dataset, we))
            return -1;
        for (const char *c = b.key; *c; c++)
            if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-'))
                return err_set("%s: key '%s' must be letters, digits, '_' or '-'", we, b.key);
        if (!b.key[0]) return err_set("%s: empty key", we);
        for (int k = 0; k < n_entries; k++)
            if (!strcmp(keys[k], b.key)) return err_set("%s: key '%s' given twice", we, b.key);
        snprintf(keys[n_entries], sizeof keys[n_entries], "%s", b.key);
        snprintf(labels[n_entries], sizeof labels[n_entries], "%s", b.label);
        snprintf(pds[n_entries], sizeof pds[n_entries], "%s", b.paper_dataset);
        if (!strcmp(b.backbone, b0->backbone) && !strcmp(b.pretrained, b0->pretrained)) {
            alias[n_entries++] = 0; /* the recipe's own backbone under another name: its runs are the recipe backbone's */
            continue;
        }
        for (int k = 1; k < p->n_bbs; k++)
            if (!strcmp(p->bbs[k].backbone, b.backbone) && !strcmp(p->bbs[k].pretrained, b.pretrained))
                return err_set("%s: backbone '%s' with these weights is given twice", we, b.backbone);
        alias[n_entries++] = p->n_bbs;
        p->bbs[p->n_bbs++] = b;
    }
    const cJSON *tl = cJSON_GetObjectItemCaseSensitive(ab, "tables");
    if (!cJSON_IsArray(tl) || cJSON_GetArraySize(tl) < 1) return err_set("%s.tables must be a non-empty array", w);
    cJSON_ArrayForEach(e, tl) {
        char wt[1300];
        snprintf(wt, sizeof wt, "%s.tables[%d]", w, p->n_tables);
        if (p->n_tables == AB_MAX_TABLES) return err_set("%s: at most %d tables", wt, AB_MAX_TABLES);
        ab_table *t = &p->tables[p->n_tables];
        memset(t, 0, sizeof *t);
        char tdef_ds[128], tref[32];
        if (field(e, "key", NULL, vars, t->key, sizeof t->key, wt) || field(e, "title", t->key, vars, t->title, sizeof t->title, wt) ||
            field(e, "paper_task", "", vars, t->paper_task, sizeof t->paper_task, wt) ||
            field(e, "paper_dataset", "", vars, tdef_ds, sizeof tdef_ds, wt) || field(e, "reference", "", vars, tref, sizeof tref, wt))
            return -1;
        const cJSON *num = cJSON_GetObjectItemCaseSensitive(e, "number");
        t->number = cJSON_IsNumber(num) ? num->valueint : p->n_tables + 1;
        const cJSON *rl = cJSON_GetObjectItemCaseSensitive(e, "rows"), *re;
        if (!cJSON_IsArray(rl) || cJSON_GetArraySize(rl) < 1) return err_set("%s.rows must be a non-empty array", wt);
        char refs[AB_MAX_ROWS][32];
        cJSON_ArrayForEach(re, rl) {
            char wr[1400];
            snprintf(wr, sizeof wr, "%s.rows[%d]", wt, t->n_rows);
            if (t->n_rows == AB_MAX_ROWS) return err_set("%s: at most %d rows", wr, AB_MAX_ROWS);
            ab_row *row = &t->rows[t->n_rows];
            memset(row, 0, sizeof *row);
            char method[RECIPE_METHOD_MAX], bkey[32], defid[16];
            snprintf(defid, sizeof defid, "%d", t->n_rows);
            if (field(re, "method", NULL, vars, method, sizeof method, wr) || field(re, "id", defid, vars, row->id, sizeof row->id, wr) ||
                field(re, "label", method, vars, row->label, sizeof row->label, wr) || field(re, "backbone", "", vars, bkey, sizeof bkey, wr) ||
                field(re, "paper_method", "", vars, row->paper_method, sizeof row->paper_method, wr) ||
                field(re, "reference", tref, vars, refs[t->n_rows], sizeof refs[t->n_rows], wr))
                return -1;
            int bb = 0, entry = -1;
            if (bkey[0]) {
                for (int k = 0; k < n_entries; k++)
                    if (!strcmp(keys[k], bkey)) entry = k;
                if (entry < 0) return err_set("%s: backbone '%s' is not in ablations.backbones", wr, bkey);
                bb = alias[entry];
            }
            scopy(row->bb_label, sizeof row->bb_label, entry >= 0 ? labels[entry] : b0->label);
            /* the paper's dataset name: the row's, else its backbone entry's, else the table's */
            const char *pd = entry >= 0 && pds[entry][0] ? pds[entry] : tdef_ds;
            if (field(re, "paper_dataset", pd, vars, row->paper_dataset, sizeof row->paper_dataset, wr)) return -1;
            for (int k = 0; k < t->n_rows; k++)
                if (!strcmp(t->rows[k].id, row->id)) return err_set("%s: id '%s' given twice", wr, row->id);
            if ((row->run = plan_run(p, bb, method, wr)) < 0) return -1;
            t->n_rows++;
        }
        for (int i = 0; i < t->n_rows; i++) {
            t->rows[i].ref = -1;
            if (!refs[i][0]) continue;
            for (int k = 0; k < t->n_rows; k++)
                if (!strcmp(t->rows[k].id, refs[i])) t->rows[i].ref = k;
            if (t->rows[i].ref < 0) return err_set("%s.rows[%d]: reference '%s' is no row id of the table", wt, i, refs[i]);
            if (t->rows[i].ref == i) t->rows[i].ref = -1; /* the reference row itself */
        }
        p->n_tables++;
    }
    return 0;
}

/* the recipe one run trains: the VOC recipe with the run's backbone, weights and method, without "ablations".
 * The copy shares nothing with base's JSON. */
static int run_recipe(const recipe *base, const ab_plan *p, const ab_run *u, recipe *out) {
    const ab_backbone *b = &p->bbs[u->bb];
    *out = *base;
    out->json = cJSON_Duplicate(base->json, 1);
    if (!out->json) return err_set("out of memory copying the recipe");
    out->lr_config = cJSON_GetObjectItemCaseSensitive(out->json, "lr_config");
    out->paramwise = cJSON_GetObjectItemCaseSensitive(out->json, "paramwise_cfg");
    out->lr_mult = cJSON_GetObjectItemCaseSensitive(out->json, "lr_mult");
    out->control = cJSON_GetObjectItemCaseSensitive(out->json, "control");
    cJSON_DeleteItemFromObjectCaseSensitive(out->json, "ablations");
    snprintf(out->backbone, sizeof out->backbone, "%s", b->backbone);
    snprintf(out->pretrained, sizeof out->pretrained, "%s", b->pretrained);
    cJSON_ReplaceItemInObjectCaseSensitive(out->json, "backbone", cJSON_CreateString(b->backbone));
    cJSON_ReplaceItemInObjectCaseSensitive(out->json, "pretrained", cJSON_CreateString(b->pretrained));
    cJSON *ms = cJSON_CreateArray();
    cJSON_AddItemToArray(ms, cJSON_CreateString(u->spec));
    cJSON_ReplaceItemInObjectCaseSensitive(out->json, "methods", ms);
    snprintf(out->methods[0], sizeof out->methods[0], "%s", u->spec);
    memcpy(out->method_keys[0], u->key, strlen(u->key) + 1); /* < RECIPE_METHOD_MAX (plan_run) */
    out->n_methods = 1;
    return 0;
}

/* the weights a backbone starts from: the cached pretraining for "embedded" (*cached 1 when it is there), else the
 * path */
static int backbone_weights(const recipe *r, const ab_backbone *b, const recipe_vars *vars, char *out, int n, int *cached) {
    *cached = 1;
    if (strcmp(b->pretrained, "embedded")) {
        snprintf(out, n, "%s", b->pretrained);
        return 0;
    }
    if (!r->pretrain_recipe[0]) return err_set("%s: \"pretrained\": \"embedded\" needs \"pretrain_recipe\"", r->path);
    int c = pretrained_cached_for(r->pretrain_recipe, vars, b->backbone, out, n);
    if (c < 0) return -1;
    *cached = c == 0;
    return 0;
}

/* the resolved layout stored in the results file: what report_ablations.c draws */
static char *layout_json(const recipe *r, const ab_plan *p, const char *dataset) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "dataset", dataset);
    cJSON_AddStringToObject(j, "metric", "mAP");
    cJSON_AddStringToObject(j, "paper_metric", "APbox");
    cJSON_AddStringToObject(j, "recipe", r->path);
    cJSON *bj = cJSON_AddArrayToObject(j, "backbones");
    for (int i = 0; i < p->n_bbs; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "key", p->bbs[i].key);
        cJSON_AddStringToObject(o, "label", p->bbs[i].label);
        cJSON_AddStringToObject(o, "backbone", p->bbs[i].backbone);
        cJSON_AddStringToObject(o, "pretrained", p->bbs[i].pretrained);
        cJSON_AddItemToArray(bj, o);
    }
    cJSON *rj = cJSON_AddArrayToObject(j, "runs");
    for (int i = 0; i < p->n_runs; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "key", p->runs[i].key);
        cJSON_AddNumberToObject(o, "backbone", p->runs[i].bb);
        cJSON_AddStringToObject(o, "method", p->runs[i].spec);
        cJSON_AddItemToArray(rj, o);
    }
    cJSON *tj = cJSON_AddArrayToObject(j, "tables");
    for (int t = 0; t < p->n_tables; t++) {
        const ab_table *tb = &p->tables[t];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "key", tb->key);
        cJSON_AddNumberToObject(o, "number", tb->number);
        cJSON_AddStringToObject(o, "title", tb->title);
        cJSON_AddStringToObject(o, "paper_task", tb->paper_task);
        cJSON *rows = cJSON_AddArrayToObject(o, "rows");
        for (int k = 0; k < tb->n_rows; k++) {
            const ab_row *w = &tb->rows[k];
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "id", w->id);
            cJSON_AddStringToObject(x, "label", w->label);
            cJSON_AddStringToObject(x, "backbone_label", w->bb_label);
            cJSON_AddNumberToObject(x, "run", w->run);
            cJSON_AddStringToObject(x, "paper_dataset", w->paper_dataset);
            cJSON_AddStringToObject(x, "paper_method", w->paper_method);
            cJSON_AddNumberToObject(x, "reference", w->ref);
            cJSON_AddItemToArray(rows, x);
        }
        cJSON_AddItemToArray(tj, o);
    }
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

static int in_list(const char *list, const char *name) {
    if (!list || !*list) return 1;
    size_t k = strlen(name);
    for (const char *q = list; q && *q;) {
        const char *e = strchr(q, ',');
        size_t n = e ? (size_t)(e - q) : strlen(q);
        if (n == k && !strncmp(q, name, k)) return 1;
        q = e ? e + 1 : NULL;
    }
    return 0;
}

/* the tables a run appears in, "5, 6, 7" */
static void run_tables(const ab_plan *p, int ui, char *buf, int n) {
    int k = 0;
    buf[0] = 0;
    for (int t = 0; t < p->n_tables; t++) {
        int in = 0;
        for (int i = 0; i < p->tables[t].n_rows; i++) in |= p->tables[t].rows[i].run == ui;
        if (in) k += snprintf(buf + k, n > k ? n - k : 0, "%s%d", k ? ", " : "", p->tables[t].number);
    }
}

/* training iterations of a run: from the data on disk, else (the embedded data not written yet) from the sizes its
 * "synth_cfg" will write */
static int64_t run_iters(const recipe *rr) {
    const recipe_dataset *d = &rr->datasets[0];
    int64_t per = repro_det_iters(rr, d);
    if (!per && !strcmp(d->synth, "voc_det")) {
        const cJSON *dj = recipe_dataset_json(rr, d->key), *c = cJSON_GetObjectItemCaseSensitive(dj, "synth_cfg"), *e;
        int n = 0;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(dj, "train")) {
            const cJSON *k = NULL;
            if (cJSON_IsString(e) && !strcmp(e->valuestring, "VOC2007/trainval")) k = cJSON_GetObjectItemCaseSensitive(c, "trainval07");
            if (cJSON_IsString(e) && !strcmp(e->valuestring, "VOC2012/trainval")) k = cJSON_GetObjectItemCaseSensitive(c, "trainval12");
            n += cJSON_IsNumber(k) ? k->valueint : 0;
        }
        per = (int64_t)(n / rr->batch) * rr->epochs;
    }
    if (rr->max_iters > 0 && (per == 0 || per > rr->max_iters)) per = rr->max_iters;
    return per;
}

/* the dry run's time estimate: a full-tuning step of each backbone measured now, times the pending iterations;
 * the pretraining of each embedded backbone not cached yet */
static void estimate(const recipe *r, const ab_plan *p, const recipe_vars *vars) {
    double total = 0;
    int64_t iters_total = 0;
    for (int b = 0; b < p->n_bbs; b++) {
        int64_t iters = 0;
        int n = 0;
        recipe rr;
        for (int i = 0; i < p->n_runs; i++)
            if (p->runs[i].bb == b && p->runs[i].pending) n++;
        if (!n) continue;
        for (int i = 0; i < p->n_runs; i++)
            if (p->runs[i].bb == b && p->runs[i].pending) {
                if (run_recipe(r, p, &p->runs[i], &rr)) return;
                iters += run_iters(&rr);
                recipe_free(&rr);
            }
        double step = 0;
        if (iters) { /* no data yet (the paper profile without DATA_ROOT): nothing to multiply, and a Swin-L step needs ~20 GB */
            if (run_recipe(r, p, &p->runs[0], &rr)) return;
            snprintf(rr.backbone, sizeof rr.backbone, "%s", p->bbs[b].backbone);
            step = repro_det_step_s(&rr);
            recipe_free(&rr);
        }
        printf("  backbone %-36s %2d runs", p->bbs[b].backbone, n);
        if (iters) printf(", one full-tuning RetinaNet step %.2f s (batch %d), %lld iterations: about %.0f min\n", step, r->batch, (long long)iters, iters * step / 60);
        else printf(": iteration counts (and the step time, not measured) are known once the data exists\n");
        total += iters * step;
        iters_total += iters;
        char cached[1100];
        if (!strcmp(p->bbs[b].pretrained, "embedded") && r->pretrain_recipe[0] &&
            pretrained_cached_for(r->pretrain_recipe, vars, p->bbs[b].backbone, cached, sizeof cached) == 1) {
            recipe pr;
            if (repro_load_profile(r->pretrain_recipe, vars, &pr, "pretrain")) continue;
            snprintf(pr.backbone, sizeof pr.backbone, "%s", p->bbs[b].backbone);
            int n_up = repro_count_lines(pr.n_datasets ? pr.datasets[0].root : "", "train2mmcls.txt");
            if (!n_up && pr.n_datasets && !strcmp(pr.datasets[0].synth, "upstream"))
                n_up = synth_n_classes(SYNTH_UPSTREAM) * 300; /* not written yet: the upstream kind's 300 a class (cls_synth.h) */
            double ps = repro_cls_step_s(&pr); /* batch 4 scaled to 64: the best of three, a busy machine's outliers are large */
            for (int k = 0; k < 2; k++) {
                double q = repro_cls_step_s(&pr);
                if (q > 0 && q < ps) ps = q;
            }
            printf("    first pretrained by the harness (recipe %s, %d epochs, one step %.2f s, batch %d) to %s", pr.path, pr.epochs, ps, pr.batch,
                   cached);
            if (n_up > 0) {
                double s = (double)(n_up / pr.batch) * pr.epochs * ps;
                printf(": %d iterations, about %.0f min\n", (n_up / pr.batch) * pr.epochs, s / 60);
                total += s;
            } else
                printf("; its upstream set is written first\n");
            recipe_free(&pr);
        }
    }
    if (iters_total)
        printf("about %.0f minutes in all (%lld training iterations; PEFT steps are faster than full tuning's, evaluation adds some)\n",
               total / 60, (long long)iters_total);
}

int reproduce_ablations(const repro_opts *o_in) {
    const char *task = "voc_ablations";
    repro_opts oo = *o_in;
    const repro_opts *o = &oo;
    if (!oo.results) oo.results = "results/voc_ablations.h5";
    if (!oo.runs_dir) oo.runs_dir = "results/runs/voc_ablations";
    recipe r;
    if (repro_load_profile(o->profile, &o->vars, &r, task)) return -1;
    int rc = 0;
    ab_plan *p = xcalloc(1, sizeof *p);
    if (strcmp(r.task, task)) {
        rc = err_set("%s: a recipe of task '%s', not '%s'", r.path, r.task, task);
        goto out;
    }
    if (o->datasets_from) {
        recipe other;
        if ((rc = repro_load_profile(o->datasets_from, &o->vars, &other, task))) goto out;
        memcpy(r.datasets, other.datasets, sizeof r.datasets);
        r.n_datasets = other.n_datasets;
        cJSON_ReplaceItemInObjectCaseSensitive(r.json, "datasets", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(other.json, "datasets"), 1));
        recipe_free(&other);
    }
    if (r.n_datasets != 1) {
        rc = err_set("%s: the ablations run on one dataset, the recipe has %d", r.path, r.n_datasets);
        goto out;
    }
#define OVR(field, key)                                                                                                \
    if (!rc && o->field >= 0) rc = recipe_set(&r, key, o->field);
    OVR(epochs, "epochs") OVR(batch, "batch") OVR(max_iters, "max_iters") OVR(max_eval_batches, "max_eval_batches");
    OVR(threads, "threads")
#undef OVR
    if (rc || (rc = ablation_plan_parse(&r, &o->vars, p))) goto out;
    const recipe_dataset *ds = &r.datasets[0];
    printf("profile %s (%s)\n  %s\n", r.profile, r.path, r.description);
    printf("backbone %s, %d px, batch %d, %d epochs%s, lr %.4g, weights: %s\n", r.backbone, r.img_size, r.batch, r.epochs,
           r.max_iters > 0 ? " (capped by max_iters)" : "", r.lr,
           !strcmp(r.pretrained, "embedded") ? "embedded (pretrained by the harness, cached)" : (r.pretrained[0] ? r.pretrained : "random init"));
    printf("results: %s, run states: %s/%s/<run>\n", o->results, o->runs_dir, ds->key);
    if (o->batch >= 0 || o->epochs >= 0 || o->max_iters >= 0 || o->max_eval_batches >= 0)
        printf("note: overridden on the command line:%s%s%s%s (the resolved recipe stored with each result says so)\n",
               o->batch >= 0 ? " batch" : "", o->epochs >= 0 ? " epochs" : "", o->max_iters >= 0 ? " max_iters" : "",
               o->max_eval_batches >= 0 ? " max_eval_batches" : "");
    /* which runs are to train */
    int n_sel = 0, n_done = 0;
    for (int i = 0; i < p->n_runs; i++) {
        ab_run *u = &p->runs[i];
        if (!in_list(o->only_methods, u->key)) continue;
        n_sel++;
        recipe rr;
        if ((rc = run_recipe(&r, p, u, &rr))) goto out;
        char weights[1100], hex[65];
        int cached;
        if ((rc = backbone_weights(&r, &p->bbs[u->bb], &o->vars, weights, sizeof weights, &cached))) {
            recipe_free(&rr);
            goto out;
        }
        const char *wsha = cached ? repro_weights_sha(weights, hex) : NULL;
        u->weights_unknown = !wsha;
        char *rj = recipe_json(&rr);
        int done = !o->restart && repro_run_is_current(o->results, ds->key, u->key, rj, wsha, &u->stale);
        free(rj);
        recipe_free(&rr);
        u->pending = !done;
        n_done += done;
    }
    for (int t = 0; t < p->n_tables; t++) {
        const ab_table *tb = &p->tables[t];
        printf("\nTable %d: %s%s%s%s\n", tb->number, tb->title, tb->paper_task[0] ? " (paper rows: " : "", tb->paper_task,
               tb->paper_task[0] ? ")" : "");
        for (int k = 0; k < tb->n_rows; k++) {
            const ab_row *w = &tb->rows[k];
            const ab_run *u = &p->runs[w->run];
            char tabs[64];
            run_tables(p, w->run, tabs, sizeof tabs);
            printf("  %-22s %-28s %-44s run %-26s %s%s%s%s\n", w->label, w->bb_label, u->spec, u->key,
                   !in_list(o->only_methods, u->key) ? "not selected"
                   : !u->pending ? (u->weights_unknown ? "done (skipped unless its backbone's pretraining, to run first, gives other weights)"
                                                       : "done (skipped)")
                   : u->stale ? "to run again" : "to run",
                   strchr(tabs, ',') ? " (shared: tables " : "", strchr(tabs, ',') ? tabs : "", strchr(tabs, ',') ? ")" : "");
        }
    }
    int rows = 0;
    for (int t = 0; t < p->n_tables; t++) rows += p->tables[t].n_rows;
    printf("\n%d rows in %d tables from %d distinct runs (%d selected, %d already complete)\n", rows, p->n_tables, p->n_runs, n_sel, n_done);
    if (o->dry_run) {
        recipe rr;
        if ((rc = run_recipe(&r, p, &p->runs[0], &rr))) goto out;
        char *js = cJSON_Print(rr.json);
        printf("\nresolved recipe of run %s (the others differ in backbone, weights and method):\n%s\n\ntime estimate, measured now:\n", p->runs[0].key, js);
        free(js);
        recipe_free(&rr);
        estimate(&r, p, &o->vars);
        goto out;
    }
    char paper_csv[1200];
    snprintf(paper_csv, sizeof paper_csv, "%s/reference/paper_numbers.csv", o->shared_dir);
    if (comm_rank() == 0) {
        if ((rc = results_open_or_create(o->results, task, r.profile, file_exists(paper_csv) ? paper_csv : NULL))) goto out;
        char *lj = layout_json(&r, p, ds->key);
        rc = results_write_layout(o->results, lj);
        free(lj);
        if (rc) goto out;
    }
    if ((rc = comm_barrier())) goto out;
    if ((rc = ensure_synth(&r, ds, o->quiet))) goto out;
    const char *desc_data = ds->synth[0] ? "synthetic stand-in written by the harness (deltabench data synth)" : "user data";
    double t0 = time_now();
    for (int i = 0, k = 0; i < p->n_runs && !rc; i++) {
        ab_run *u = &p->runs[i];
        if (!in_list(o->only_methods, u->key)) continue;
        k++;
        const ab_backbone *b = &p->bbs[u->bb];
        char weights[1100];
        if (!strcmp(b->pretrained, "embedded")) {
            if (!r.pretrain_recipe[0]) {
                rc = err_set("%s: \"pretrained\": \"embedded\" needs \"pretrain_recipe\"", r.path);
                break;
            }
            if ((rc = ensure_pretrained_for(r.pretrain_recipe, &o->vars, b->backbone, r.threads, o->quiet, weights, sizeof weights))) break;
        } else
            snprintf(weights, sizeof weights, "%s", b->pretrained);
        recipe rr;
        if ((rc = run_recipe(&r, p, u, &rr))) break;
        char *rj = recipe_json(&rr), hex[65];
        int stale = 0, cur = 0;
        if (comm_rank() == 0) cur = !o->restart && repro_run_is_current(o->results, ds->key, u->key, rj, repro_weights_sha(weights, hex), &stale);
        free(rj);
        int64_t dec[2] = {cur, stale};
        if ((rc = comm_bcast(dec, sizeof dec, 0))) {
            recipe_free(&rr);
            break;
        }
        if (dec[0]) {
            if (!o->quiet) fprintf(stderr, "[%s %s] complete in %s, skipped\n", ds->key, u->key, o->results);
            recipe_free(&rr);
            continue;
        }
        if (dec[1] && !o->quiet)
            fprintf(stderr, "[%s %s] the stored run was made by another recipe or other weights: training it again\n", ds->key, u->key);
        char run_dir[1400], dets[1500];
        snprintf(run_dir, sizeof run_dir, "%s/%s/%s", o->runs_dir, ds->key, u->key);
        snprintf(dets, sizeof dets, "%s/dets", run_dir);
        if (o->restart && comm_rank() == 0) {
            char state[1500];
            snprintf(state, sizeof state, "%s/state.safetensors", run_dir);
            remove(state);
        }
        if (!o->quiet) fprintf(stderr, "== run %d (%s: %s on %s), %.0f s elapsed\n", k, u->key, u->spec, b->backbone, time_now() - t0);
        det_run_spec s = {.r = &rr, .ds = &rr.datasets[0], .method = u->spec, .results_key = u->key, .pretrained = weights, .run_dir = run_dir,
                          .results_path = o->results, .resume = 1, .restart_if_stale = 1, .quiet = o->quiet, .data_desc = desc_data,
                          .dets_dir = dets};
        det_run_out ro;
        rc = det_train_run(&s, &ro);
        recipe_free(&rr);
        if (!rc && ro.stopped) rc = err_set("interrupted: run the same command again to resume (%s)", run_dir);
        if (!rc) printf("%-10s %-30s mAP@0.5 %6.2f  %7.0f s  %lld trainable\n", ds->key, u->key, ro.map, ro.wall_s, (long long)ro.trainable);
        fflush(stdout);
    }
    if (!rc) printf("all runs complete (%.0f s this invocation)\n", time_now() - t0);
    if (!rc && !o->no_report && comm_rank() == 0) {
        rc = report_tables(o->results, task, "results");
        if (!rc) printf("tables: results/%s.md, results/%s.tex\n", task, task);
    }
out:
    free(p);
    recipe_free(&r);
    return rc;
}
