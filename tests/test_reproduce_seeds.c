/* test_reproduce_seeds.c - `deltabench reproduce --seeds N` (experiments/reproduce.c) and the seed tables
 * (experiments/report.c) on a tiny classification recipe: with --seeds 2 every (dataset, method) and the control
 * run twice, seed index 1 under "<key>_seed1" with the recipe's seed + 1 recorded and its own runs directory, and
 * the two seeds train differently; repeating with --seeds 3 trains only the third seed; the table's mean ± sd,
 * paired Δ Full, t, dof and p equal the values computed here from the stored per-seed metrics (by the closed form
 * of the t distribution with one degree of freedom, not by metrics/stats); the CLI refuses --seeds 0 and a
 * non-number. */
#include "test_util.h"

#include <sys/stat.h>
#include <sys/wait.h>

#include "../core/common.h"
#include "../datasets/cls_synth.h"
#include "../experiments/report.h"
#include "../experiments/reproduce.h"
#include "../experiments/results.h"

#define PI 3.14159265358979323846

#define ND 3
static const char *const dsets[ND] = {"flowers102", "oxford_pets", "voc2007"}, *const dlabels[ND] = {"Flowers102", "OxfordPets", "VOC2007"};
static const char *const meths[3] = {"full", "bitfit", "mona"}, *const mlabels[3] = {"Full", "BitFit", "Mona"};

/* the three datasets of the table, each a tiny synthetic Flowers set of its own seed (16 classes x 3 train images:
 * 6 iterations of 8 an epoch; 32 test images) */
static const char *write_recipe(const char *dir) {
    static char path[1200];
    snprintf(path, sizeof path, "%s/cls_seeds.json", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "{\"task\": \"cls\", \"profile\": \"seeds\", \"description\": \"test\", \"backbone\": \"tiny:8:1,1,1,1:1,1,1,1\",\n"
            " \"pretrained\": \"\", \"img_size\": 32, \"batch\": 8, \"epochs\": 3, \"threads\": 2, \"drop_path_rate\": 0.1,\n"
            " \"optimizer\": {\"type\": \"AdamW\", \"lr\": 1e-3, \"weight_decay\": 0.05},\n"
            " \"lr_config\": {\"policy\": \"CosineAnnealing\", \"by_epoch\": false, \"min_lr_ratio\": 0.01},\n"
            " \"eval_interval_epochs\": 3, \"seed\": 5, \"workers\": 1,\n"
            " \"datasets\": [{\"key\": \"flowers102\", \"format\": \"list\", \"root\": \"%s/d0\"},\n"
            "              {\"key\": \"oxford_pets\", \"format\": \"list\", \"root\": \"%s/d1\"},\n"
            "              {\"key\": \"voc2007\", \"format\": \"list\", \"root\": \"%s/d2\"}],\n"
            " \"methods\": [\"full\", \"bitfit\", \"mona\"],\n"
            " \"control\": {\"method\": \"fixed\", \"key\": \"fixed_random_init\", \"pretrained\": \"\"}}\n",
            dir, dir, dir);
    fclose(f);
    return path;
}

static double final_top1(const char *results, const char *ds, const char *key, int64_t *seed, double *last_loss, char *date, size_t nd) {
    results_run rr;
    if (results_read_run(results, ds, key, &rr)) fail_msg("%s/%s: %s", ds, key, err_msg());
    assert_int_equal(rr.complete, 1);
    assert_string_equal(rr.metric[0], "top1");
    double v = rr.final[0];
    if (seed) *seed = rr.seed;
    if (last_loss) *last_loss = rr.curve_loss[rr.n_curve - 1];
    if (date) snprintf(date, nd, "%s", rr.date);
    results_run_free(&rr);
    return v;
}

/* The row "| <group> | <method> | ..." of the Markdown table that starts with `title`, its 8 cells. */
static int table_row(const char *md, const char *title, const char *group, const char *method, char cells[8][64]) {
    const char *t = strstr(md, title);
    assert_non_null(t);
    const char *end = strstr(t, "\n\n**Table");
    char want[256];
    snprintf(want, sizeof want, "\n| %s | %s |", group, method);
    const char *r = strstr(t, want);
    if (!r || (end && r > end)) return -1;
    r += 2;
    for (int c = 0; c < 8; c++) {
        const char *e = strchr(r, '|');
        assert_non_null(e);
        while (*r == ' ') r++;
        int n = (int)(e - r);
        while (n > 0 && r[n - 1] == ' ') n--;
        snprintf(cells[c], 64, "%.*s", n, r);
        r = e + 1;
    }
    return 0;
}

/* the numbers a cell shows, printed here from the value as the report prints it */
static void expect_cell(const char *cell, const char *fmt, double v) {
    char want[64];
    snprintf(want, sizeof want, fmt, v);
    if (strcmp(cell, want)) fail_msg("cell '%s', expected '%s'", cell, want);
}

/* mean, sample sd and the paired test against full over two seeds, computed here */
static void check_row(const char *md, const char *group, int mi, const double v[2], const double vf[2]) {
    char c[8][64];
    if (table_row(md, "**Table 1 (seeds).**", group, mlabels[mi], c)) fail_msg("no seed row %s / %s", group, mlabels[mi]);
    double mean = (v[0] + v[1]) / 2, sd = fabs(v[0] - v[1]) / sqrt(2.0); /* n = 2: sqrt(((a-m)^2 + (b-m)^2) / 1) */
    assert_string_equal(c[2], "2");
    char want[64];
    snprintf(want, sizeof want, "%.2f ± %.2f", mean, sd);
    assert_string_equal(c[3], want);
    printf("  %-12s %-7s n 2  %s", group, mlabels[mi], c[3]);
    if (mi == 0) { /* full against itself: no test */
        assert_string_equal(c[4], "–");
        assert_string_equal(c[5], "–");
        printf("\n");
        return;
    }
    double d0 = v[0] - vf[0], d1 = v[1] - vf[1], dm = (d0 + d1) / 2, dsd = fabs(d0 - d1) / sqrt(2.0);
    expect_cell(c[4], "%+.2f", dm);
    assert_string_equal(c[6], "1");
    printf("  Δ %s t %s dof %s p %s\n", c[4], c[5], c[6], c[7]);
    if (dsd == 0) return; /* equal differences (t infinite): not expected with two training seeds */
    double t = dm / (dsd / sqrt(2.0)), p = 1 - 2 / PI * atan(fabs(t)); /* t(1) is the Cauchy distribution */
    expect_cell(c[5], "%.3f", t);
    if (p >= 1e-4) expect_cell(c[7], "%.4f", p);
    else expect_cell(c[7], "%.1e", p);
}

static void test_seeds(void **state) {
    (void)state;
    const char *dir0 = test_tmp_dir("reproduce_seeds");
    char dir[1100], data[1200], res[1200], runs[1200];
    snprintf(dir, sizeof dir, "%s", dir0);
    synth_opts so = {.n_train_per_class = 3, .n_test_per_class = 2, .img_min = 32, .img_max = 40, .quiet = 1};
    for (int di = 0; di < ND; di++) {
        snprintf(data, sizeof data, "%s/d%d", dir, di);
        if (cls_synth_write(SYNTH_FLOWERS, data, 11 + di, &so)) fail_msg("%s", err_msg());
    }
    snprintf(res, sizeof res, "%s/cls.h5", dir);
    snprintf(runs, sizeof runs, "%s/runs", dir);
    repro_opts o;
    repro_opts_default(&o);
    o.profile = write_recipe(dir);
    o.results = res;
    o.runs_dir = runs;
    o.no_report = 1;
    o.quiet = 1;
    o.shared_dir = test_shared_dir();
    o.seeds = 2;
    double t0 = time_now();
    if (reproduce_task("cls", &o)) fail_msg("reproduce cls --seeds 2: %s", err_msg());
    printf("  24 runs (3 datasets x (3 methods + control) x 2 seeds) in %.1f s\n", time_now() - t0);
    /* two distinct seeded runs of everything, with the seed recorded, each in its own runs directory */
    double v[ND][3][2];
    char date1[64];
    for (int di = 0; di < ND; di++)
        for (int mi = 0; mi < 4; mi++) {
            const char *key = mi < 3 ? meths[mi] : "fixed_random_init";
            char k1[128], rd[1400];
            snprintf(k1, sizeof k1, "%s_seed1", key);
            int64_t s0, s1;
            double l0, l1;
            double a = final_top1(res, dsets[di], key, &s0, &l0, NULL, 0), b = final_top1(res, dsets[di], k1, &s1, &l1, date1, sizeof date1);
            assert_int_equal(s0, 5);
            assert_int_equal(s1, 6);
            assert_true(l0 != l1); /* another initialisation, data order and augmentation */
            if (mi < 3) v[di][mi][0] = a, v[di][mi][1] = b;
            snprintf(rd, sizeof rd, "%s/%s/%s", runs, dsets[di], k1);
            struct stat st;
            assert_int_equal(stat(rd, &st), 0);
            assert_true(S_ISDIR(st.st_mode));
        }
    /* the table: mean ± sd in the main table, the seed table's numbers recomputed from the stored metrics */
    char *md = NULL, *tex = NULL;
    if (report_table_texts(res, "cls", &md, &tex)) fail_msg("%s", err_msg());
    assert_non_null(strstr(md, "**Table 2 (seeds).**")); /* top-5 is reported by the paper: it gets one too */
    assert_non_null(strstr(tex, "tab:cls_top1_seeds"));
    assert_non_null(strstr(md, "| Flowers102 | Mona `_seed1` | complete | 6 |"));
    for (int di = 0; di < ND; di++)
        for (int mi = 0; mi < 3; mi++) check_row(md, dlabels[di], mi, v[di][mi], v[di][0]);
    double avg[3][2];
    for (int mi = 0; mi < 3; mi++)
        for (int s = 0; s < 2; s++) avg[mi][s] = (v[0][mi][s] + v[1][mi][s] + v[2][mi][s]) / 3; /* seed by seed over the datasets */
    for (int mi = 0; mi < 3; mi++) check_row(md, "Average", mi, avg[mi], avg[0]);
    /* Table 1's cell of Mona on Flowers102: "mean ± sd" */
    char want[96];
    snprintf(want, sizeof want, "| Mona | ");
    const char *row = strstr(md, want);
    assert_non_null(row);
    snprintf(want, sizeof want, "%.2f ± %.2f", (v[0][2][0] + v[0][2][1]) / 2, fabs(v[0][2][0] - v[0][2][1]) / sqrt(2.0));
    const char *cell = strstr(row, want);
    assert_true(cell && cell < strchr(row, '\n'));
    free(md), free(tex);
    /* --seeds 3 on one run: seeds 0 and 1 are complete and skipped, only mona_seed2 trains */
    o.seeds = 3;
    o.only_methods = "mona";
    o.only_datasets = "flowers102";
    o.no_control = 1;
    if (reproduce_task("cls", &o)) fail_msg("reproduce cls --seeds 3: %s", err_msg());
    char date1b[64];
    int64_t s2;
    final_top1(res, "flowers102", "mona_seed2", &s2, NULL, NULL, 0);
    assert_int_equal(s2, 7);
    final_top1(res, "voc2007", "fixed_random_init_seed1", NULL, NULL, date1b, sizeof date1b);
    assert_string_equal(date1, date1b); /* the last run checked above, not rewritten */
    assert_int_equal(results_has_complete_run(res, "oxford_pets", "mona_seed2"), 0);
    if (report_table_texts(res, "cls", &md, &tex)) fail_msg("%s", err_msg());
    char c[8][64];
    assert_int_equal(table_row(md, "**Table 1 (seeds).**", "Flowers102", "Mona", c), 0);
    assert_string_equal(c[2], "3");
    assert_string_equal(c[6], "1"); /* full has two seeds: two pairs */
    free(md), free(tex);
}

static void test_cli_seeds(void **state) {
    (void)state;
    const char *bin = getenv("DB_BIN");
    if (!bin || !*bin) bin = "build/deltabench";
    const char *dir = test_tmp_dir("reproduce_seeds_cli");
    const char *bad[3] = {"0", "two", "-1"};
    char cmd[4096], p[1200];
    for (int i = 0; i < 3; i++) {
        snprintf(cmd, sizeof cmd, "%s reproduce cls --seeds %s --dry-run 2> %s/err.txt", bin, bad[i], dir);
        int st = system(cmd);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 2);
        snprintf(p, sizeof p, "%s/err.txt", dir);
        char *e = file_read_all(p, NULL);
        assert_non_null(e);
        assert_non_null(strstr(e, "--seeds needs a whole number of seeds"));
        free(e);
    }
    snprintf(cmd, sizeof cmd, "%s reproduce --help | grep -q -- '--seeds N'", bin);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seeds),
        cmocka_unit_test(test_cli_seeds),
    };
    return cmocka_run_group_tests_name("reproduce_seeds", tests, NULL, NULL);
}
