/* test_reproduce_ablations.c - the VOC ablation driver (`deltabench reproduce voc-ablations`,
 * experiments/reproduce_ablations.c, report_ablations.c) on a tiny recipe: three tables whose rows ask for six
 * distinct runs (the default Mona in all three tables, Full and Mona on the recipe's backbone in the size table),
 * one of the sizes pretrained by the harness under a backbone override (its own cache file; cached, then stale
 * when the pretraining recipe changes). Checks: each run is stored once and every row names the right one, the
 * stored recipe of a run is its own (backbone, weights, one method, no "ablations"), the paper's numbers are
 * matched by (dataset, metric, method) names, the differences to each table's reference row, a repeat trains
 * nothing, and the cache names of pretraining for another backbone. */
#include "test_util.h"

#include <cJSON.h>
#include <sys/stat.h>

#include "../core/common.h"
#include "../core/h5io.h"
#include "../datasets/image.h"
#include "../experiments/report.h"
#include "../experiments/reproduce.h"
#include "../experiments/results.h"

#define MAIN_BB "tiny:16:1,1,1,1:1,2,4,8:w4"
#define SMALL_BB "tiny:8:1,1,1,1:1,2,4,8:w4"

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* a classification list set of 8 images of 32 x 32 in 2 classes, for a one-epoch pretraining */
static void write_upstream(const char *root) {
    char p[1400], cmd[1500];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/images'", root);
    assert_int_equal(system(cmd), 0);
    char list[512] = "";
    for (int i = 0; i < 8; i++) {
        image im = {.w = 32, .h = 32, .c = 3, .data = malloc(32 * 32 * 3)};
        for (int k = 0; k < 32 * 32 * 3; k++) im.data[k] = (uint8_t)((i % 2) ? (k * 7) % 251 : 255 - (k % 3) * 80);
        snprintf(p, sizeof p, "%s/images/u%d.png", root, i);
        assert_int_equal(image_write_png(p, &im), 0);
        free(im.data);
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "images/u%d.png %d\n", i, i % 2);
    }
    snprintf(p, sizeof p, "%s/train2mmcls.txt", root);
    write_file(p, list);
    snprintf(p, sizeof p, "%s/test2mmcls.txt", root);
    write_file(p, list);
}

static const char *write_pretrain_recipe(const char *dir, int epochs) {
    static char path[1200];
    snprintf(path, sizeof path, "%s/pretrain_tiny.json", dir);
    char text[2048];
    snprintf(text, sizeof text,
             "{\"task\": \"pretrain\", \"profile\": \"tiny\", \"description\": \"test\", \"backbone\": \"" MAIN_BB "\",\n"
             " \"pretrained\": \"\", \"img_size\": 32, \"batch\": 4, \"epochs\": %d, \"threads\": 2,\n"
             " \"optimizer\": {\"type\": \"AdamW\", \"lr\": 1e-3, \"weight_decay\": 0.05},\n"
             " \"lr_config\": {\"policy\": \"step\", \"step\": [10]}, \"eval_interval_epochs\": 1, \"seed\": 0,\n"
             " \"datasets\": [{\"key\": \"upstream\", \"format\": \"list\", \"root\": \"%s/up\"}],\n"
             " \"methods\": [\"full\"], \"output\": \"${CACHE}/pretrained/swin_tiny16w4_d1-1-1-1_upstream.safetensors\"}\n",
             epochs, dir);
    write_file(path, text);
    return path;
}

/* made-up paper numbers: the rows are found by their names, one method name under two datasets */
static void write_paper_csv(const char *dir) {
    char p[1300];
    snprintf(p, sizeof p, "%s/reference", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/reference/paper_numbers.csv", dir);
    write_file(p, "task,dataset,metric,method,value,trainable_params_pct,source\n"
                  "object_detection,PascalVOC(Test-L),APbox,Mona-dim64,99.9,,another task\n"
                  "ablation_dim,PascalVOC(Test-L),APbox,Mona-dim32,11.5,1.25,T1\n"
                  "ablation_dim,PascalVOC(Test-L),APbox,Mona-dim64,12.5,2.5,T2\n"
                  "ablation_modelsize,PascalVOC(Test-S),APbox,Full,20.25,100,T3\n"
                  "ablation_modelsize,PascalVOC(Test-S),APbox,Mona,23.75,,T4\n"
                  "ablation_modelsize,PascalVOC(Test-L),APbox,Full,30.5,100,T5\n"
                  "ablation_modelsize,PascalVOC(Test-L),APbox,Mona,31,,T6\n"
                  "ablation_design,PascalVOC(Test-L),APbox,Mona-noLN,40.5,,T7\n");
}

static const char *write_recipe(const char *dir, const char *pretrain) {
    static char path[1200];
    snprintf(path, sizeof path, "%s/voc_ablations_tiny.json", dir);
    char text[8192];
    snprintf(text, sizeof text,
             "{\"task\": \"voc_ablations\", \"profile\": \"tiny\", \"description\": \"test\", \"backbone\": \"" MAIN_BB "\",\n"
             " \"pretrained\": \"\", \"pretrain_recipe\": \"%s\", \"img_size\": 96, \"img_scale\": [96, 64], \"flip_ratio\": 0.0,\n"
             " \"neck_channels\": 16, \"head_channels\": 16, \"test_batch\": 2, \"batch\": 2, \"epochs\": 2, \"threads\": 2,\n"
             " \"optimizer\": {\"type\": \"AdamW\", \"lr\": 1e-3, \"weight_decay\": 0.05},\n"
             " \"lr_config\": {\"policy\": \"step\", \"step\": [10]}, \"eval_interval_epochs\": 2, \"seed\": 1,\n"
             " \"datasets\": [{\"key\": \"voc0712\", \"format\": \"voc\", \"root\": \"%s/VOCdevkit\", \"synth\": \"voc_det\",\n"
             "   \"synth_cfg\": {\"trainval07\": 2, \"test07\": 1, \"trainval12\": 0, \"min_side\": 64, \"max_side\": 96, \"max_objects\": 2},\n"
             "   \"train\": [\"VOC2007/trainval\"], \"test\": \"VOC2007/test\"}],\n"
             " \"methods\": [\"mona:width=4\"],\n"
             " \"ablations\": {\"backbone_label\": \"main\",\n"
             "  \"backbones\": [{\"key\": \"e8\", \"label\": \"small\", \"backbone\": \"" SMALL_BB "\", \"pretrained\": \"embedded\",\n"
             "                  \"paper_dataset\": \"PascalVOC(Test-S)\"},\n"
             "                 {\"key\": \"e16\", \"label\": \"large\", \"backbone\": \"" MAIN_BB "\", \"pretrained\": \"\",\n"
             "                  \"paper_dataset\": \"PascalVOC(Test-L)\"}],\n"
             "  \"tables\": [\n"
             "   {\"key\": \"width\", \"number\": 5, \"title\": \"width\", \"paper_task\": \"ablation_dim\", \"paper_dataset\": \"PascalVOC(Test-L)\",\n"
             "    \"reference\": \"w4\", \"rows\": [\n"
             "     {\"id\": \"w2\", \"label\": \"width 2\", \"method\": \"mona:width=2\", \"paper_method\": \"Mona-dim32\"},\n"
             "     {\"id\": \"w4\", \"label\": \"width 4\", \"method\": \"mona:width=4\", \"paper_method\": \"Mona-dim64\"}]},\n"
             "   {\"key\": \"size\", \"number\": 6, \"title\": \"size\", \"paper_task\": \"ablation_modelsize\", \"rows\": [\n"
             "     {\"id\": \"fs\", \"label\": \"Full S\", \"backbone\": \"e8\", \"method\": \"full\", \"paper_method\": \"Full\"},\n"
             "     {\"id\": \"ms\", \"label\": \"Mona S\", \"backbone\": \"e8\", \"method\": \"mona:width=4\", \"paper_method\": \"Mona\", \"reference\": \"fs\"},\n"
             "     {\"id\": \"fl\", \"label\": \"Full L\", \"backbone\": \"e16\", \"method\": \"full\", \"paper_method\": \"Full\"},\n"
             "     {\"id\": \"ml\", \"label\": \"Mona L\", \"backbone\": \"e16\", \"method\": \"mona:width=4:kernels=3,5,7\", \"paper_method\": \"Mona\",\n"
             "      \"reference\": \"fl\"}]},\n"
             "   {\"key\": \"design\", \"number\": 7, \"title\": \"design\", \"paper_dataset\": \"PascalVOC(Test-L)\", \"reference\": \"ln\", \"rows\": [\n"
             "     {\"id\": \"ln\", \"label\": \"LN on\", \"method\": \"mona:width=4\", \"paper_method\": \"Mona-LN\"},\n"
             "     {\"id\": \"noln\", \"label\": \"LN off\", \"method\": \"mona:width=4:scaled_ln=off\", \"paper_method\": \"Mona-noLN\"}]}]}}\n",
             pretrain, dir);
    write_file(path, text);
    return path;
}

/* the Markdown line of the row whose label starts it, into buf */
static void md_row(const char *md, const char *label, char *buf, size_t n) {
    char pre[128];
    snprintf(pre, sizeof pre, "\n| %s |", label);
    const char *p = strstr(md, pre);
    if (!p) fail_msg("no row '%s' in the Markdown", label);
    p++;
    const char *e = strchr(p, '\n');
    snprintf(buf, n, "%.*s", (int)(e ? e - p : (long)strlen(p)), p);
}

static double final_map(const char *results, const char *key) {
    results_run rr;
    if (results_read_run(results, "voc0712", key, &rr)) fail_msg("%s: %s", key, err_msg());
    double v = rr.final[0];
    results_run_free(&rr);
    return v;
}

static void test_cache_names(void **state) {
    (void)state;
    char out[512], tag[96];
    assert_int_equal(swin_backbone_tag("tiny:16:2,2,2,2:1,2,4,8:w4", tag, sizeof tag), 0);
    assert_string_equal(tag, "tiny16w4");
    assert_int_equal(swin_backbone_tag("tiny:8:1,1,1,1:1,2,4,8:w4", tag, sizeof tag), 0);
    assert_string_equal(tag, "tiny8w4_d1-1-1-1");
    assert_int_equal(swin_backbone_tag("swin-l", tag, sizeof tag), 0);
    assert_string_equal(tag, "swinl");
    /* the recipe's own backbone keeps the recipe's file: the embed-16 cache stays valid */
    assert_int_equal(pretrain_output_for("cache/pretrained/swin_tiny16w4_upstream.safetensors", "tiny:16:2,2,2,2:1,2,4,8:w4",
                                         "tiny:16:2,2,2,2:1,2,4,8:w4", out, sizeof out), 0);
    assert_string_equal(out, "cache/pretrained/swin_tiny16w4_upstream.safetensors");
    assert_int_equal(pretrain_output_for("cache/pretrained/swin_tiny16w4_upstream.safetensors", "tiny:16:2,2,2,2:1,2,4,8:w4",
                                         "tiny:8:2,2,2,2:1,2,4,8:w4", out, sizeof out), 0);
    assert_string_equal(out, "cache/pretrained/swin_tiny8w4_upstream.safetensors");
    /* a directory named like the tag is left alone; a file name without the tag gets it before the extension */
    assert_int_equal(pretrain_output_for("tiny16w4/backbone.safetensors", "tiny:16:2,2,2,2:1,2,4,8:w4", "tiny:24:2,2,2,2:1,2,4,8:w4", out,
                                         sizeof out), 0);
    assert_string_equal(out, "tiny16w4/backbone_tiny24w4.safetensors");
    assert_int_not_equal(pretrain_output_for("a.safetensors", "tiny:16:2,2,2,2:1,2,4,8:w4", "nonsense", out, sizeof out), 0);
}

static void test_driver(void **state) {
    (void)state;
    char dir[1024], up[1200], cache[1200], res[1200], runs[1200];
    snprintf(dir, sizeof dir, "%s", test_tmp_dir("reproduce_ablations"));
    snprintf(up, sizeof up, "%s/up", dir);
    snprintf(cache, sizeof cache, "%s/cache", dir);
    snprintf(res, sizeof res, "%s/voc_ablations.h5", dir);
    snprintf(runs, sizeof runs, "%s/runs", dir);
    write_upstream(up);
    write_paper_csv(dir);
    const char *pre = write_pretrain_recipe(dir, 1);
    char pre_path[1200];
    snprintf(pre_path, sizeof pre_path, "%s", pre);
    const char *recipe = write_recipe(dir, pre_path);
    repro_opts o;
    repro_opts_default(&o);
    o.profile = recipe;
    o.results = res;
    o.runs_dir = runs;
    o.quiet = 1;
    o.no_report = 1;
    o.shared_dir = dir;
    o.vars.cache = cache;
    /* a dry run trains and writes nothing */
    o.dry_run = 1;
    if (reproduce_task("voc-ablations", &o)) fail_msg("dry run: %s", err_msg());
    assert_false(file_exists(res));
    o.dry_run = 0;
    if (reproduce_task("voc-ablations", &o)) fail_msg("reproduce voc-ablations: %s", err_msg());

    /* the small backbone was pretrained into its own file; the recipe backbone's file was not made */
    char small[1400], big[1400];
    snprintf(small, sizeof small, "%s/pretrained/swin_tiny8w4_d1-1-1-1_upstream.safetensors", cache);
    snprintf(big, sizeof big, "%s/pretrained/swin_tiny16w4_d1-1-1-1_upstream.safetensors", cache);
    assert_true(file_exists(small));
    assert_false(file_exists(big));
    char found[1400];
    recipe_vars vars = {.cache = cache};
    assert_int_equal(pretrained_cached_for(pre_path, &vars, SMALL_BB, found, sizeof found), 0);
    assert_string_equal(found, small);
    assert_int_equal(pretrained_cached_for(pre_path, &vars, MAIN_BB, found, sizeof found), 1);
    assert_string_equal(found, big);

    /* six distinct runs, each stored once, though 8 rows name them */
    static const char *keys[6] = {"mona_width2", "mona_width4", "full.e8", "mona_width4.e8", "full", "mona_width4_scaled_lnoff"};
    char **ds, **me;
    int n = results_list_runs(res, &ds, &me);
    assert_int_equal(n, 6);
    for (int k = 0; k < 6; k++) {
        int c = 0;
        for (int i = 0; i < n; i++) c += !strcmp(me[i], keys[k]) && !strcmp(ds[i], "voc0712");
        if (c != 1) fail_msg("run %s stored %d times", keys[k], c);
    }
    h5_free_strings(ds, n);
    h5_free_strings(me, n);
    /* each run's stored recipe is its own: backbone, weights, one method, no "ablations" */
    char date0[6][64], sha0[6][80];
    for (int k = 0; k < 6; k++) {
        results_run rr;
        if (results_read_run(res, "voc0712", keys[k], &rr)) fail_msg("%s", err_msg());
        assert_int_equal(rr.complete, 1);
        snprintf(date0[k], sizeof date0[k], "%s", rr.date);
        snprintf(sha0[k], sizeof sha0[k], "%s", rr.pretrained_sha256 ? rr.pretrained_sha256 : "");
        cJSON *j = cJSON_Parse(rr.recipe_json);
        assert_non_null(j);
        int small_bb = strstr(keys[k], ".e8") != NULL;
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "backbone")->valuestring, small_bb ? SMALL_BB : MAIN_BB);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "pretrained")->valuestring, small_bb ? "embedded" : "");
        assert_null(cJSON_GetObjectItemCaseSensitive(j, "ablations"));
        const cJSON *ms = cJSON_GetObjectItemCaseSensitive(j, "methods");
        assert_int_equal(cJSON_GetArraySize(ms), 1);
        assert_string_equal(cJSON_GetArrayItem(ms, 0)->valuestring, rr.method_spec);
        assert_string_equal(rr.pretrained_path ? rr.pretrained_path : "", small_bb ? small : "");
        if (!strcmp(keys[k], "mona_width4")) assert_string_equal(rr.method_spec, "mona:width=4:kernels=3,5,7:scaled_ln=on");
        cJSON_Delete(j);
        results_run_free(&rr);
    }

    /* the layout: every row names the right run, the default Mona one run in three tables */
    char *lj = results_read_layout(res);
    assert_non_null(lj);
    cJSON *lay = cJSON_Parse(lj);
    free(lj);
    assert_non_null(lay);
    const cJSON *lruns = cJSON_GetObjectItemCaseSensitive(lay, "runs"), *tabs = cJSON_GetObjectItemCaseSensitive(lay, "tables");
    assert_int_equal(cJSON_GetArraySize(lruns), 6);
    assert_int_equal(cJSON_GetArraySize(tabs), 3);
    static const char *want[3][4] = {{"mona_width2", "mona_width4"},
                                     {"full.e8", "mona_width4.e8", "full", "mona_width4"},
                                     {"mona_width4", "mona_width4_scaled_lnoff"}};
    static const int nrows[3] = {2, 4, 2};
    int shared = -1;
    for (int t = 0; t < 3; t++) {
        const cJSON *rows = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(tabs, t), "rows");
        assert_int_equal(cJSON_GetArraySize(rows), nrows[t]);
        for (int i = 0; i < nrows[t]; i++) {
            int u = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(rows, i), "run")->valueint;
            assert_string_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(lruns, u), "key")->valuestring, want[t][i]);
            if (!strcmp(want[t][i], "mona_width4")) {
                if (shared < 0) shared = u;
                assert_int_equal(u, shared); /* the same run, not a copy */
            }
        }
    }
    cJSON_Delete(lay);

    /* the tables: measured beside the paper's row of the same names, differences to each table's reference */
    char *md = NULL, *tex = NULL, row[1024], want_d[32];
    if (report_table_texts(res, "voc_ablations", &md, &tex)) fail_msg("%s", err_msg());
    md_row(md, "width 4", row, sizeof row);
    assert_non_null(strstr(row, "| 2.5 |"));  /* the paper's trainable % */
    assert_non_null(strstr(row, "| 12.5 |")); /* not the other task's 99.9 */
    assert_non_null(strstr(row, "| ref | ref |"));
    md_row(md, "width 2", row, sizeof row);
    assert_non_null(strstr(row, "| 11.5 |"));
    assert_non_null(strstr(row, "| -1.0 |"));
    snprintf(want_d, sizeof want_d, "| %+.2f |", final_map(res, "mona_width2") - final_map(res, "mona_width4"));
    assert_non_null(strstr(row, want_d));
    md_row(md, "Mona S", row, sizeof row); /* "Mona" of the small backbone's dataset, compared with Full S */
    assert_non_null(strstr(row, "| 23.75 |"));
    assert_non_null(strstr(row, "| +3.5 |"));
    snprintf(want_d, sizeof want_d, "| %+.2f |", final_map(res, "mona_width4.e8") - final_map(res, "full.e8"));
    assert_non_null(strstr(row, want_d));
    assert_non_null(strstr(row, "`mona_width4.e8`"));
    md_row(md, "Mona L", row, sizeof row);
    assert_non_null(strstr(row, "| 31 |"));
    assert_non_null(strstr(row, "| +0.5 |"));
    assert_non_null(strstr(row, "`mona_width4`"));
    md_row(md, "LN off", row, sizeof row); /* its reference has no paper number: no paper difference */
    assert_non_null(strstr(row, "| 40.5 |"));
    assert_non_null(strstr(row, "| – |"));
    md_row(md, "`mona_width4`", row, sizeof row); /* the run list names it once, with its three tables */
    assert_non_null(strstr(row, "| 5, 6, 7 |"));
    int listed = 0;
    for (const char *q = strstr(md, "## Runs"); (q = strstr(q, "\n| `mona_width4` |")); q++) listed++;
    assert_int_equal(listed, 1);
    assert_non_null(strstr(tex, "\\label{tab:voc_ablation_size}"));
    free(md), free(tex);

    /* repeated: every run is current, nothing is trained or rewritten */
    if (reproduce_task("voc-ablations", &o)) fail_msg("again: %s", err_msg());
    for (int k = 0; k < 6; k++) {
        results_run rr;
        if (results_read_run(res, "voc0712", keys[k], &rr)) fail_msg("%s", err_msg());
        assert_string_equal(rr.date, date0[k]);
        results_run_free(&rr);
    }
    /* another pretraining recipe: the small backbone's file is stale, moved aside and made again; its two runs train
     * again (other weights), the others stay */
    write_pretrain_recipe(dir, 2);
    o.only_methods = "full.e8";
    if (reproduce_task("voc-ablations", &o)) fail_msg("after the pretraining changed: %s", err_msg());
    char stale[1500];
    snprintf(stale, sizeof stale, "%s.stale", small);
    assert_true(file_exists(stale));
    assert_true(file_exists(small));
    for (int k = 0; k < 6; k++) {
        results_run rr;
        if (results_read_run(res, "voc0712", keys[k], &rr)) fail_msg("%s", err_msg());
        /* trained again from the new weights (the date may fall in the same second: compare the weights' hash) */
        if (!strcmp(keys[k], "full.e8")) assert_string_not_equal(rr.pretrained_sha256, sha0[k]);
        else assert_string_equal(rr.date, date0[k]);
        results_run_free(&rr);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_cache_names), cmocka_unit_test(test_driver)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
