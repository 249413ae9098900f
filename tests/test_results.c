/* test_results.c - the results file (schema, atomic add/replace, skip-complete check), the paper-number
 * CSV, SHA-256 against the FIPS 180-4 example vectors, and the tables/figure data made from a results file.
 * All runs below are hand-made TEST FIXTURES with round numbers, not measurements; the expected table cells
 * and averages are worked out by hand in the comments. */
#include "test_util.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../core/common.h"
#include "../core/h5io.h"
#include "../core/sha256.h"
#include "../experiments/report.h"
#include "../experiments/results.h"

/* ---- SHA-256 ---- */

static void test_sha256_vectors(void **state) {
    (void)state;
    char hex[65];
    /* FIPS 180-4 / NIST CSRC examples */
    sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha256_hex(m448, strlen(m448), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
                       "mnopqrstnopqrstu";
    sha256_hex(m896, strlen(m896), hex);
    assert_string_equal(hex, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    /* one million 'a', fed in uneven pieces through the streaming interface, and as a file */
    char *a = xmalloc(1000000);
    memset(a, 'a', 1000000);
    sha256_ctx c;
    sha256_init(&c);
    size_t off = 0, step = 1;
    while (off < 1000000) {
        size_t k = step < 1000000 - off ? step : 1000000 - off;
        sha256_update(&c, a + off, k);
        off += k;
        step = step * 3 + 1;
        if (step > 70000) step = 7;
    }
    uint8_t d[32];
    sha256_final(&c, d);
    assert_int_equal(d[0], 0xcd);
    assert_int_equal(d[31], 0xd0);
    const char *dir = test_tmp_dir("results_sha");
    char p[2048];
    snprintf(p, sizeof p, "%s/a.bin", dir);
    assert_int_equal(file_write_atomic(p, a, 1000000), 0);
    assert_int_equal(sha256_file_hex(p, hex), 0);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
    snprintf(p, sizeof p, "%s/none.bin", dir);
    assert_int_equal(sha256_file_hex(p, hex), -1);
    assert_non_null(strstr(err_msg(), "none.bin"));
}

/* ---- paper CSV ---- */

static void write_file(const char *path, const char *text) { assert_int_equal(file_write_atomic(path, text, strlen(text)), 0); }

static void test_paper_csv_parse(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("results_csv");
    char p[2048];
    snprintf(p, sizeof p, "%s/numbers.csv", dir);
    write_file(p, "task,dataset,metric,method,value,trainable_params_pct,source\n"
                  "classification,A(x),top1,Full,99.50,100,S5\n"
                  "detection,B,AP,Full,1.5,,S1\n"
                  "\n"
                  "classification,\"A(x)\",top1,Mona,\"98.25\",,\"S4, with a comma\"\r\n"
                  "classification,A(x),top1,Mona,97,2.5,S6 unreliable (?)\n");
    results_paper pp;
    assert_int_equal(results_paper_parse_csv(p, "classification", &pp), 0);
    assert_int_equal(pp.n, 3);
    assert_string_equal(pp.rows[0].dataset, "A(x)");
    assert_true(pp.rows[0].value == 99.50);
    assert_true(pp.rows[0].trainable_pct == 100.0);
    assert_int_equal(pp.rows[0].line, 2);
    assert_string_equal(pp.rows[1].method, "Mona");
    assert_true(pp.rows[1].value == 98.25);
    assert_true(isnan(pp.rows[1].trainable_pct));
    assert_string_equal(pp.rows[1].source, "S4, with a comma");
    assert_int_equal(pp.rows[1].line, 5);
    /* the unreliable row is kept but not chosen for display */
    assert_int_equal(results_paper_find(&pp, "A(x)", "top1", "Mona"), 1);
    assert_int_equal(results_paper_find(&pp, "A(x)", "top5", "Mona"), -1);
    results_paper_free(&pp);
    assert_int_equal(results_paper_parse_csv(p, NULL, &pp), 0);
    assert_int_equal(pp.n, 4);
    results_paper_free(&pp);
    /* errors name the line */
    write_file(p, "task,dataset,metric,method,value,trainable_params_pct,source\nclassification,A,top1,Full,9x,,S\n");
    assert_int_equal(results_paper_parse_csv(p, NULL, &pp), -1);
    assert_non_null(strstr(err_msg(), "numbers.csv:2"));
    assert_non_null(strstr(err_msg(), "9x"));
    write_file(p, "task,dataset,metric,value,source\n");
    assert_int_equal(results_paper_parse_csv(p, NULL, &pp), -1);
    assert_non_null(strstr(err_msg(), "method"));
    write_file(p, "task,dataset,metric,method,value,trainable_params_pct,source\nclassification,\"A,top1\n");
    assert_int_equal(results_paper_parse_csv(p, NULL, &pp), -1);
    assert_non_null(strstr(err_msg(), "unterminated"));
}

/* The shared CSV, read line by line here with a plain split (it has no quoted fields): every
 * classification row must reach /paper unchanged, in order. */
static void test_paper_rows_match_shared_csv(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("results_paper");
    char csv[4096], h5[2048];
    snprintf(csv, sizeof csv, "%s", test_shared_path("reference/paper_numbers.csv"));
    snprintf(h5, sizeof h5, "%s/cls.h5", dir);
    assert_int_equal(results_open_or_create(h5, "cls", "default", csv), 0);
    results_paper pp;
    assert_int_equal(results_read_paper(h5, &pp), 0);
    FILE *f = fopen(csv, "r");
    assert_non_null(f);
    char line[4096];
    int k = 0, ln = 0;
    while (fgets(line, sizeof line, f)) {
        ln++;
        line[strcspn(line, "\r\n")] = 0;
        if (ln == 1 || strncmp(line, "classification,", 15)) continue;
        char *fld[7], *save = NULL, *s = line;
        int nf = 0;
        /* strsep keeps empty fields */
        while (nf < 7 && (fld[nf] = strsep(&s, ",")) != NULL) nf++;
        (void)save;
        assert_int_equal(nf, 7);
        assert_true(k < pp.n);
        assert_string_equal(pp.rows[k].dataset, fld[1]);
        assert_string_equal(pp.rows[k].metric, fld[2]);
        assert_string_equal(pp.rows[k].method, fld[3]);
        assert_true(pp.rows[k].value == strtod(fld[4], NULL));
        if (*fld[5]) assert_true(pp.rows[k].trainable_pct == strtod(fld[5], NULL));
        else assert_true(isnan(pp.rows[k].trainable_pct));
        assert_string_equal(pp.rows[k].source, fld[6]);
        assert_int_equal(pp.rows[k].line, ln);
        k++;
    }
    fclose(f);
    assert_int_equal(k, pp.n);
    assert_true(pp.n >= 10);
    /* spot checks typed from paper_numbers.md section 1.4 */
    int i = results_paper_find(&pp, "Flowers102(Swin-L)", "top1", "Mona");
    assert_true(i >= 0 && pp.rows[i].value == 99.6764);
    i = results_paper_find(&pp, "Flowers102(Swin-L)", "top1", "Full");
    assert_true(i >= 0 && pp.rows[i].value == 99.5772); /* not the S6 "unreliable" 97.40 */
    i = results_paper_find(&pp, "average3(Swin-L)", "top5", "Mona");
    assert_true(i >= 0 && pp.rows[i].value == 99.7592);
    results_paper_free(&pp);
    results_info in;
    assert_int_equal(results_read_info(h5, &in), 0);
    assert_string_equal(in.schema, "deltabench-results/1");
    assert_string_equal(in.task, "cls");
    assert_string_equal(in.profile, "default");
    assert_int_equal(strlen(in.paper_csv_sha256), 64);
    assert_string_equal(in.paper_csv, csv);
    assert_int_equal(strlen(in.created), 20);
}

/* ---- fixture runs ---- */

typedef struct fixture {
    int64_t iter[100];
    double epoch[100], loss[100], lr[100], ips[100];
    int64_t eval_iter[2];
    double top1[2], top5[2];
    results_run run;
} fixture;

/* A run with final top-1 = top1, top-5 = 99; loss[i] = 3 - 0.01 i + (i odd ? 0.3 : 0). */
static void fixture_make(fixture *fx, const char *dataset, const char *method, double top1, int complete,
                         int64_t bb_trainable, int64_t bb_total) {
    memset(fx, 0, sizeof *fx);
    for (int i = 0; i < 100; i++) {
        fx->iter[i] = 10 * (i + 1);
        fx->epoch[i] = 0.1 * (i + 1);
        fx->loss[i] = 3.0 - 0.01 * i + (i % 2 ? 0.3 : 0.0);
        fx->lr[i] = 1e-3;
        fx->ips[i] = 50;
    }
    fx->eval_iter[0] = 500;
    fx->eval_iter[1] = 1000;
    fx->top1[0] = top1 - 10;
    fx->top1[1] = top1;
    fx->top5[0] = 90;
    fx->top5[1] = 99;
    results_run *r = &fx->run;
    r->dataset = dataset;
    r->method = method;
    r->complete = complete;
    r->seed = 7;
    r->recipe_json = "{\"epochs\": 10, \"batch\": 16, \"lr\": 0.001}";
    r->backbone = "swin-test";
    r->backbone_json = "{\"embed\": 32, \"depths\": [2, 2]}";
    r->pretrained_path = "";
    r->trainable_params = bb_trainable + 100;
    r->total_params = bb_total + 100;
    r->backbone_trainable_params = bb_trainable;
    r->backbone_params = bb_total;
    r->data = "fixture data";
    r->train_split = "train";
    r->test_split = "test";
    r->n_train_samples = 200;
    r->n_test_samples = 100;
    r->n_classes = 10;
    r->wall_time_s = 12.5;
    r->peak_mem_bytes = 1 << 26;
    r->threads = 2;
    r->n_curve = 100;
    r->curve_iter = fx->iter;
    r->curve_epoch = fx->epoch;
    r->curve_loss = fx->loss;
    r->curve_lr = fx->lr;
    r->curve_img_s = fx->ips;
    r->n_metrics = 2;
    r->metric[0] = "top1";
    r->metric[1] = "top5";
    r->n_eval = 2;
    r->eval_iter = fx->eval_iter;
    r->eval[0] = fx->top1;
    r->eval[1] = fx->top5;
    r->final[0] = top1;
    r->final[1] = 99;
}

static void test_write_read_roundtrip(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("results_rw");
    char h5[2048], w[2048];
    snprintf(h5, sizeof h5, "%s/sub/cls.h5", dir);
    assert_int_equal(results_has_complete_run(h5, "flowers102", "mona"), 0); /* no file yet */
    assert_int_equal(results_open_or_create(h5, "cls", "default", NULL), 0);
    /* pretrained weights: a small file whose SHA-256 is the FIPS "abc" vector */
    snprintf(w, sizeof w, "%s/weights.bin", dir);
    write_file(w, "abc");
    static fixture fx;
    fixture_make(&fx, "flowers102", "mona", 91.25, 1, 1000, 40000);
    fx.run.pretrained_path = w;
    assert_int_equal(results_write_run(h5, &fx.run), 0);
    results_run r;
    assert_int_equal(results_read_run(h5, "flowers102", "mona", &r), 0);
    assert_int_equal(r.complete, 1);
    assert_int_equal(r.seed, 7);
    assert_string_equal(r.recipe_json, fx.run.recipe_json);
    assert_string_equal(r.backbone_json, fx.run.backbone_json);
    assert_string_equal(r.pretrained_path, w);
    assert_string_equal(r.pretrained_sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(r.trainable_params, 1100);
    assert_int_equal(r.total_params, 40100);
    assert_int_equal(r.backbone_trainable_params, 1000);
    assert_int_equal(r.n_curve, 100);
    assert_int_equal(r.curve_iter[99], 1000);
    assert_true(r.curve_loss[1] == 3.0 - 0.01 + 0.3);
    assert_true(r.curve_epoch[4] == 0.5);
    assert_int_equal(r.n_metrics, 2);
    assert_string_equal(r.metric[0], "top1");
    assert_string_equal(r.metric[1], "top5");
    assert_int_equal(r.n_eval, 2);
    assert_true(r.eval[0][0] == 81.25);
    assert_true(r.final[0] == 91.25);
    assert_true(r.final[1] == 99);
    assert_true(r.wall_time_s == 12.5);
    assert_int_equal(r.peak_mem_bytes, 1 << 26);
    assert_string_equal(r.commit, build_commit());
    assert_int_equal(strlen(r.date), 20);
    assert_true(strlen(r.hostname) > 0);
    results_run_free(&r);
    assert_int_equal(results_has_complete_run(h5, "flowers102", "mona"), 1);
    assert_int_equal(results_has_complete_run(h5, "flowers102", "lora"), 0);
    /* a partial run is not complete */
    fixture_make(&fx, "voc2007", "lora", 40, 0, 500, 40000);
    assert_int_equal(results_write_run(h5, &fx.run), 0);
    assert_int_equal(results_has_complete_run(h5, "voc2007", "lora"), 0);
    char **ds, **me;
    int n = results_list_runs(h5, &ds, &me);
    assert_int_equal(n, 2);
    assert_string_equal(ds[0], "flowers102");
    assert_string_equal(me[0], "mona");
    assert_string_equal(ds[1], "voc2007");
    assert_string_equal(me[1], "lora");
    h5_free_strings(ds, n);
    h5_free_strings(me, n);
    /* the same file for another profile or task is refused */
    assert_int_equal(results_open_or_create(h5, "cls", "paper", NULL), -1);
    assert_non_null(strstr(err_msg(), "profile 'default'"));
    assert_int_equal(results_open_or_create(h5, "nosuch", "default", NULL), -1);
    assert_non_null(strstr(err_msg(), "unknown task"));
    /* reopening for the same profile keeps the runs */
    assert_int_equal(results_open_or_create(h5, "cls", "default", NULL), 0);
    assert_int_equal(results_has_complete_run(h5, "flowers102", "mona"), 1);
    /* bad input is refused before anything is written */
    fixture_make(&fx, "flowers/102", "mona", 1, 1, 1, 2);
    assert_int_equal(results_write_run(h5, &fx.run), -1);
    fixture_make(&fx, "flowers102", "mona", 1, 1, 1, 2);
    fx.run.recipe_json = "{\"epochs\": ";
    assert_int_equal(results_write_run(h5, &fx.run), -1);
    assert_non_null(strstr(err_msg(), "recipe_json"));
    assert_int_equal(results_has_complete_run(h5, "flowers102", "mona"), 1);
}

static long file_size(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static void test_atomic_replace_keeps_runs(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("results_atomic");
    char h5[2048], tmp[2200];
    snprintf(h5, sizeof h5, "%s/cls.h5", dir);
    assert_int_equal(results_open_or_create(h5, "cls", "default", test_shared_path("reference/paper_numbers.csv")), 0);
    static fixture fx;
    fixture_make(&fx, "flowers102", "full", 80, 0, 40000, 40000);
    assert_int_equal(results_write_run(h5, &fx.run), 0);
    fixture_make(&fx, "oxford_pets", "mona", 70, 1, 1000, 40000);
    assert_int_equal(results_write_run(h5, &fx.run), 0);
    long size2 = file_size(h5);
    /* replace the first run: the second stays, the paper numbers stay, the file does not grow */
    fixture_make(&fx, "flowers102", "full", 85, 1, 40000, 40000);
    assert_int_equal(results_write_run(h5, &fx.run), 0);
    results_run r;
    assert_int_equal(results_read_run(h5, "flowers102", "full", &r), 0);
    assert_true(r.final[0] == 85);
    assert_int_equal(r.complete, 1);
    results_run_free(&r);
    assert_int_equal(results_read_run(h5, "oxford_pets", "mona", &r), 0);
    assert_true(r.final[0] == 70);
    assert_int_equal(r.n_curve, 100);
    assert_true(r.curve_loss[99] == 3.0 - 0.99 + 0.3);
    results_run_free(&r);
    assert_int_equal(file_size(h5), size2);
    results_paper pp;
    assert_int_equal(results_read_paper(h5, &pp), 0);
    assert_true(pp.n >= 10);
    results_paper_free(&pp);
    /* a write that fails half-way (the pretrained file to hash is missing, found after the temporary file
       was started) leaves the old file byte-identical and no temporary behind */
    size_t n0, n1;
    char *before = file_read_all(h5, &n0);
    fixture_make(&fx, "voc2007", "mona", 60, 1, 1000, 40000);
    fx.run.pretrained_path = "build/tmp/results_atomic/no_such_weights.pth";
    assert_int_equal(results_write_run(h5, &fx.run), -1);
    assert_non_null(strstr(err_msg(), "no_such_weights.pth"));
    char *after = file_read_all(h5, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    free(before);
    free(after);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", h5, (long)getpid());
    assert_false(file_exists(tmp));
    /* a stale temporary from a killed writer does not matter */
    write_file(tmp, "half-written garbage");
    fixture_make(&fx, "voc2007", "mona", 60, 1, 1000, 40000);
    assert_int_equal(results_write_run(h5, &fx.run), 0);
    assert_int_equal(results_has_complete_run(h5, "voc2007", "mona"), 1);
    assert_int_equal(results_has_complete_run(h5, "oxford_pets", "mona"), 1);
    /* a damaged results file is never overwritten */
    char bad[2048];
    snprintf(bad, sizeof bad, "%s/bad.h5", dir);
    write_file(bad, "this is not HDF5");
    assert_int_equal(results_write_run(bad, &fx.run), -1);
    assert_int_equal(results_has_complete_run(bad, "voc2007", "mona"), -1);
    char *s = file_read_all(bad, NULL);
    assert_string_equal(s, "this is not HDF5");
    free(s);
    assert_int_equal(results_write_run("build/tmp/results_atomic/none.h5", &fx.run), -1);
    assert_non_null(strstr(err_msg(), "results_open_or_create"));
}

/* ---- tables and figure data ---- */

/* Fixture for the report: Mona on all three datasets (91.25, 80.5, 70 -> average 241.75/3 = 80.58),
 * Full on Flowers102 only (95), Adapter on Flowers102 partial (50), backbone 1000/40000 = 2.50 %. */
static const char *report_fixture(void) {
    static char h5[2048];
    const char *dir = test_tmp_dir("results_report");
    snprintf(h5, sizeof h5, "%s/cls.h5", dir);
    assert_int_equal(results_open_or_create(h5, "cls", "default", test_shared_path("reference/paper_numbers.csv")), 0);
    static fixture fx;
    fixture_make(&fx, "flowers102", "mona", 91.25, 1, 1000, 40000);
    assert_int_equal(results_write_run(h5, &fx.run), 0);
    fixture_make(&fx, "oxford_pets", "mona", 80.5, 1, 1000, 40000);
    assert_int_equal(results_write_run(h5, &fx.run), 0);
    fixture_make(&fx, "voc2007", "mona", 70, 1, 1000, 40000);
    assert_int_equal(results_write_run(h5, &fx.run), 0);
    fixture_make(&fx, "flowers102", "full", 95, 1, 40000, 40000);
    assert_int_equal(results_write_run(h5, &fx.run), 0);
    fixture_make(&fx, "flowers102", "adapter", 50, 0, 2000, 40000);
    assert_int_equal(results_write_run(h5, &fx.run), 0);
    fixture_make(&fx, "cifar", "mona", 50, 1, 2000, 40000); /* not a task dataset: listed, not tabled */
    assert_int_equal(results_write_run(h5, &fx.run), 0);
    fixture_make(&fx, "flowers102", "fixed", 42.5, 1, 0, 40000);
    assert_int_equal(results_write_run(h5, &fx.run), 0);
    fixture_make(&fx, "flowers102", "fixed_random_init", 30, 1, 0, 40000); /* the control: beside Fixed */
    assert_int_equal(results_write_run(h5, &fx.run), 0);
    return h5;
}

static void test_tables(void **state) {
    (void)state;
    const char *h5 = report_fixture();
    char *md, *tex;
    assert_int_equal(report_table_texts(h5, "cls", &md, &tex), 0);
    /* paper numbers from paper_numbers.csv: Mona 99.6764 / 95.4765 / 86.9709, average 94.0413, 2.56 %;
       Full 99.5772 / 94.6579 / 84.1276, average 92.7876 (derived row), 100 %; Adapter Flowers 99.5934 */
    assert_non_null(strstr(md, "| Mona | 2.50 | 2.56 | 91.25 | 99.6764 | 80.50 | 95.4765 | 70.00 | 86.9709 | 80.58 | 94.0413 | – | 0.806 |\n"));
    assert_non_null(strstr(md, "| Full | 100.00 | 100 | 95.00 | 99.5772 | missing | 94.6579 | missing | 84.1276 | missing | 92.7876 | – | – |\n"));
    assert_non_null(strstr(md, "| Adapter | 5.00 | – | 50.00* | 99.5934 | missing | – | missing | 87.0355 | missing | – | – | – |\n"));
    assert_non_null(strstr(md, "| LoRand | missing | – | missing | – | missing | – | missing | – | missing | – | – | – |\n"));
    /* top-5 table: only the average of Mona has a paper number (99.7592) */
    assert_non_null(strstr(md, "| Mona | 2.50 | 2.56 | 99.00 | – | 99.00 | – | 99.00 | – | 99.00 | 99.7592 | – | 0.990 |\n"));
    /* rows in the paper's order, profile and commit in the caption, extra run listed */
    const char *order[] = {"| Full |", "| Fixed |", "| BitFit |", "| NormTuning |", "| Partial-1 |", "| Adapter |",
                           "| LoRA |", "| AdaptFormer |", "| LoRand |", "| Mona |"};
    const char *prev = md;
    for (int i = 0; i < 10; i++) {
        const char *q = strstr(prev, order[i]);
        assert_non_null(q);
        prev = q;
    }
    assert_non_null(strstr(md, "Profile: `default` — embedded default"));
    assert_non_null(strstr(md, "Backbone: swin-test"));
    assert_non_null(strstr(md, build_commit()));
    assert_non_null(strstr(md, "| cifar | `mona` | random init | 50.00 | 99.00 | – | – | – |\n"));
    /* the control beside Fixed on the same dataset: 42.50 - 30.00 */
    assert_non_null(strstr(md, "| Flowers102 | `fixed_random_init` | random init | 30.00 | 99.00 | Fixed | 42.50 | +12.50 |\n"));
    assert_non_null(strstr(md, "`fixed_random_init` is the control run"));
    /* the unreliable S6 number is listed with the sources but not shown in the tables */
    assert_non_null(strstr(md, "| Flowers102(Swin-L) | top1 | Full | 97.4 | 100 | S6 unreliable (?) | no |\n"));
    assert_non_null(strstr(md, "| Flowers102(Swin-L) | top1 | Full | 99.5772 | 100 | S5 | yes |\n"));
    assert_non_null(strstr(tex, "Mona & 2.50 & 2.56 & 91.25 & 99.6764 & 80.50 & 95.4765 & 70.00 & 86.9709 & 80.58 & 94.0413 & -- & 0.806 \\\\"));
    assert_non_null(strstr(tex, "Adapter & 5.00 & -- & 50.00$^*$ & 99.5934 & missing & --"));
    assert_non_null(strstr(tex, "\\texttt{default}"));
    free(md);
    free(tex);
    /* files */
    assert_int_equal(report_tables(h5, "cls", "build/tmp/results_report/out"), 0);
    char *f = file_read_all("build/tmp/results_report/out/cls.md", NULL);
    assert_non_null(f);
    assert_non_null(strstr(f, "| Mona | 2.50 | 2.56 | 91.25 |"));
    free(f);
    assert_true(file_exists("build/tmp/results_report/out/cls.tex"));
    /* a file of another task is refused */
    assert_int_equal(report_table_texts("build/tmp/results_report/none.h5", "cls", &md, &tex), -1);
}

static void test_plot_data(void **state) {
    (void)state;
    const char *h5 = report_fixture();
    const char *dd = "build/tmp/results_report/dat";
    assert_int_equal(report_plot_data(h5, "cls", dd), 0);
    char *s = file_read_all("build/tmp/results_report/dat/cls_accuracy.dat", NULL);
    assert_non_null(s);
    /* 4 groups of width 0.2: Flowers102 (group 0) of Mona (index 9) sits at 9 + (0 - 1.5) * 0.2 = 8.7 */
    assert_non_null(strstr(s, "\n9 8.7000 91.25 99.6764 \"Mona\" 0\n"));
    /* Average block (group 3): 9 + 1.5 * 0.2 = 9.3, measured 80.5833 (6 significant digits) */
    assert_non_null(strstr(s, "\n9 9.3000 80.5833 94.0413 \"Mona\" 0\n"));
    assert_non_null(strstr(s, "\n0 -0.1000 NaN 94.6579 \"Full\" 1\n")); /* OxfordPets: 0 + (1 - 1.5) * 0.2 */
    assert_non_null(strstr(s, "\n5 4.7000 50 99.5934 \"Adapter\" 2\n")); /* partial: 5 - 1.5 * 0.2 */
    free(s);
    s = file_read_all("build/tmp/results_report/dat/cls_params.dat", NULL);
    assert_non_null(s);
    /* whole-model share of Mona: 1100 / 40100 = 2.74314 %; paper point 2.56 % / 94.0413 */
    assert_non_null(strstr(s, "\n9 2.74314 80.5833 2.56 94.0413 \"Mona\"\n"));
    assert_non_null(strstr(s, "\n8 NaN NaN NaN NaN \"LoRand\"\n"));
    free(s);
    s = file_read_all("build/tmp/results_report/dat/cls_loss_flowers102.dat", NULL);
    assert_non_null(s);
    /* 100 points -> window 5; losses 3.0, 3.29, 2.98, 3.27, 2.96: at i = 2 (iteration 30) their mean
       15.5 / 5 = 3.1; the first point averages itself and its two right neighbours: 9.27 / 3 = 3.09 */
    assert_non_null(strstr(s, "\n30 2.98 3.1 0.3\n"));
    assert_non_null(strstr(s, "\n10 3 3.09 0.1\n"));
    /* blocks in the paper's order: Full, Adapter, Mona */
    const char *a = strstr(s, "# method Full"), *b = strstr(s, "# method Adapter"), *c = strstr(s, "# method Mona");
    assert_true(a && b && c && a < b && b < c);
    free(s);
}

static void test_plots_render(void **state) {
    (void)state;
    const char *h5 = report_fixture();
    int made = 0;
    int rc = report_plots(h5, "cls", "build/tmp/results_report/dat", "plots", "build/tmp/results_report/fig", &made);
    if (rc) fail_msg("%s", err_msg());
    assert_int_equal(made, 10);
    const char *names[] = {"accuracy", "params", "loss_flowers102", "loss_oxford_pets", "loss_voc2007"};
    for (int i = 0; i < 5; i++)
        for (int k = 0; k < 2; k++) {
            char p[512];
            snprintf(p, sizeof p, "build/tmp/results_report/fig/cls_%s.%s", names[i], k ? "svg" : "png");
            assert_true(file_size(p) > 2000);
            char *s = file_read_all(p, NULL);
            if (k) assert_non_null(strstr(s, "<svg"));
            else assert_memory_equal(s, "\x89PNG", 4);
            free(s);
        }
}


/* A results file written by h5py from results/README.md alone (tests/fixtures/results/make_h5py_fixture.py):
 * the reader, the skip check and the table must understand it, and adding a run must keep its runs. */
static void test_h5py_written_file(void **state) {
    (void)state;
    const char *fx_path = "tests/fixtures/results/h5py_cls.h5";
    results_info in;
    assert_int_equal(results_read_info(fx_path, &in), 0);
    assert_string_equal(in.profile, "paper");
    assert_int_equal(in.threads, 4);
    assert_string_equal(in.cpu_model, "Fixture CPU");
    char **ds, **me;
    int n = results_list_runs(fx_path, &ds, &me);
    assert_int_equal(n, 2);
    assert_string_equal(me[0], "full");
    assert_string_equal(me[1], "mona");
    h5_free_strings(ds, n);
    h5_free_strings(me, n);
    assert_int_equal(results_has_complete_run(fx_path, "oxford_pets", "mona"), 1);
    assert_int_equal(results_has_complete_run(fx_path, "oxford_pets", "full"), 0); /* partial */
    results_run r;
    assert_int_equal(results_read_run(fx_path, "oxford_pets", "mona", &r), 0);
    assert_true(r.final[0] == 95.5 && r.final[1] == 99.5);
    assert_int_equal(r.n_curve, 4);
    assert_true(r.curve_loss[2] == 1.0);
    assert_int_equal(r.n_eval, 2);
    assert_true(r.eval[0][0] == 90.5);
    assert_int_equal(r.seed, 3);
    assert_int_equal(r.n_classes, 37);
    assert_string_equal(r.recipe_json, "{\"epochs\": 100, \"batch\": 16}");
    results_run_free(&r);
    char *md, *tex;
    assert_int_equal(report_table_texts(fx_path, "cls", &md, &tex), 0);
    /* Mona backbone 5e6 / 2e8 = 2.50 %; the fixture's /paper holds only the two OxfordPets rows */
    assert_non_null(strstr(md, "| Mona | 2.50 | 2.56 | missing | – | 95.50 | 95.4765 | missing | – | missing | – | – | – |\n"));
    assert_non_null(strstr(md, "| Full | 100.00 | 100 | missing | – | 94.25* | 94.6579 | missing | – | missing | – | – | – |\n"));
    assert_non_null(strstr(md, "Profile: `paper` — paper"));
    assert_non_null(strstr(md, "Backbone: Swin-L/224 (IN-22K)"));
    assert_non_null(strstr(md, "Commit: abc1234"));
    free(md);
    free(tex);
    /* add a run to a copy: the h5py runs and /paper are carried over */
    const char *dir = test_tmp_dir("results_h5py");
    char cp[2048];
    snprintf(cp, sizeof cp, "%s/cls.h5", dir);
    size_t len;
    char *bytes = file_read_all(fx_path, &len);
    assert_non_null(bytes);
    assert_int_equal(file_write_atomic(cp, bytes, len), 0);
    free(bytes);
    assert_int_equal(results_open_or_create(cp, "cls", "default", NULL), -1);
    assert_int_equal(results_open_or_create(cp, "cls", "paper", NULL), 0);
    static fixture fx;
    fixture_make(&fx, "voc2007", "lora", 77, 1, 10, 100);
    assert_int_equal(results_write_run(cp, &fx.run), 0);
    assert_int_equal(results_has_complete_run(cp, "oxford_pets", "mona"), 1);
    assert_int_equal(results_has_complete_run(cp, "voc2007", "lora"), 1);
    assert_int_equal(results_read_run(cp, "oxford_pets", "mona", &r), 0);
    assert_true(r.final[0] == 95.5);
    results_run_free(&r);
    results_paper pp;
    assert_int_equal(results_read_paper(cp, &pp), 0);
    assert_int_equal(pp.n, 2);
    assert_true(pp.rows[1].value == 95.4765 && pp.rows[1].trainable_pct == 2.56);
    assert_string_equal(pp.rows[1].source, "S5");
    results_paper_free(&pp);
}


/* A writer killed (SIGKILL) at an arbitrary point while replacing runs over and over: the file stays a
 * readable results file with every earlier run, and the next writer is not blocked by a stale lock. */
static void test_killed_writer(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("results_kill");
    char h5[2048];
    snprintf(h5, sizeof h5, "%s/cls.h5", dir);
    assert_int_equal(results_open_or_create(h5, "cls", "default", test_shared_path("reference/paper_numbers.csv")), 0);
    static fixture fx;
    fixture_make(&fx, "flowers102", "mona", 91.25, 1, 1000, 40000);
    assert_int_equal(results_write_run(h5, &fx.run), 0);
    fixture_make(&fx, "oxford_pets", "lora", 60, 1, 1000, 40000);
    assert_int_equal(results_write_run(h5, &fx.run), 0);
    for (int attempt = 0; attempt < 3; attempt++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            for (int i = 0; i < 100000; i++) {
                fixture_make(&fx, "voc2007", "mona", i % 100, 1, 1000, 40000);
                if (results_write_run(h5, &fx.run)) _exit(3);
            }
            _exit(0);
        }
        usleep(20000 + 15000 * attempt);
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        assert_true(WIFSIGNALED(st));
        assert_int_equal(results_has_complete_run(h5, "flowers102", "mona"), 1);
        assert_int_equal(results_has_complete_run(h5, "oxford_pets", "lora"), 1);
        results_run r;
        assert_int_equal(results_read_run(h5, "flowers102", "mona", &r), 0);
        assert_true(r.final[0] == 91.25);
        assert_int_equal(r.n_curve, 100);
        results_run_free(&r);
        results_paper pp;
        assert_int_equal(results_read_paper(h5, &pp), 0);
        assert_true(pp.n >= 10);
        results_paper_free(&pp);
    }
    fixture_make(&fx, "voc2007", "full", 50, 1, 40000, 40000);
    assert_int_equal(results_write_run(h5, &fx.run), 0);
    assert_int_equal(results_has_complete_run(h5, "voc2007", "full"), 1);
    /* the temporaries of the killed writers were removed by that write */
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "ls %s | grep -q tmp", dir);
    assert_int_not_equal(system(cmd), 0);
}


/* A task with a single dataset (as COCO, ADE20K or DOTA will be) has no average column. */
static void test_tables_single_dataset(void **state) {
    (void)state;
    const char *h5 = report_fixture();
    results_task_desc one = *results_task("cls");
    one.n_datasets = 1; /* flowers102 only */
    one.paper_average = NULL;
    char *md, *tex;
    assert_int_equal(report_table_texts_for(h5, &one, &md, &tex), 0);
    assert_non_null(strstr(md, "| Method | Trainable % | (paper) | Flowers102 | (paper) | Δ Full | PPT |\n|:--|--:|--:|--:|--:|--:|--:|\n"));
    /* Δ Full = 91.25 - 95.00; PPT = 0.9125 x exp(-log10(1000 / 1e7 + 1)) = 0.9125 x 0.9999566 = 0.91246 */
    assert_non_null(strstr(md, "| Mona | 2.50 | 2.56 | 91.25 | 99.6764 | -3.75 | 0.912 |\n"));
    assert_non_null(strstr(md, "| Full | 100.00 | 100 | 95.00 | 99.5772 | – | – |\n"));
    assert_null(strstr(md, "Average"));
    assert_non_null(strstr(tex, "\\begin{tabular}{l rr rr rr}"));
    assert_non_null(strstr(tex, "Mona & 2.50 & 2.56 & 91.25 & 99.6764 & -3.75 & 0.912 \\\\\n"));
    free(md);
    free(tex);
}

/* The paper's Figure 3 for VOC: six methods only (BitFit is not one), the mean of each complete 50-iteration
 * logging interval. Fixture losses (logged every 10 iterations): 3.0, 3.29, 2.98, 3.27, 2.96 in iterations
 * 10-50 (mean 15.5 / 5 = 3.1), 3.25, 2.94, 3.23, 2.92, 3.21 in 60-100 (15.55 / 5 = 3.11). */
static void test_fig3_voc(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("results_fig3");
    char h5[2048], dd[2048], fd[2048], p[4096];
    snprintf(h5, sizeof h5, "%s/voc.h5", dir);
    snprintf(dd, sizeof dd, "%s/dat", dir);
    snprintf(fd, sizeof fd, "%s/fig", dir);
    assert_int_equal(results_open_or_create(h5, "voc", "default", test_shared_path("reference/paper_numbers.csv")), 0);
    static fixture fx;
    const char *methods[3] = {"mona", "bitfit", "full"};
    for (int i = 0; i < 3; i++) {
        fixture_make(&fx, "voc0712", methods[i], 60 + i, 1, 1000, 40000);
        fx.run.n_metrics = 1;
        fx.run.metric[0] = "mAP";
        assert_int_equal(results_write_run(h5, &fx.run), 0);
    }
    int made = 0;
    if (report_plots(h5, "voc", dd, "plots", fd, &made)) fail_msg("%s", err_msg());
    snprintf(p, sizeof p, "%s/voc_fig3.dat", dd);
    char *s = file_read_all(p, NULL);
    assert_non_null(s);
    const char *a = strstr(s, "# method Full raw"), *b = strstr(s, "# method Full logged"), *c = strstr(s, "# method Mona raw"),
               *e = strstr(s, "# method Mona logged");
    assert_true(a && b && c && e && a < b && b < c && c < e); /* the legend's order: Full before Mona */
    assert_null(strstr(s, "BitFit"));
    assert_non_null(strstr(b, "\n50 3.1\n100 3.11\n"));
    assert_non_null(strstr(a, "\n10 3\n20 3.29\n"));
    free(s);
    for (int k = 0; k < 2; k++) {
        snprintf(p, sizeof p, "%s/voc_fig3.%s", fd, k ? "svg" : "png");
        assert_true(file_size(p) > 2000);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_paper_csv_parse),
        cmocka_unit_test(test_paper_rows_match_shared_csv),
        cmocka_unit_test(test_write_read_roundtrip),
        cmocka_unit_test(test_atomic_replace_keeps_runs),
        cmocka_unit_test(test_killed_writer),
        cmocka_unit_test(test_tables),
        cmocka_unit_test(test_tables_single_dataset),
        cmocka_unit_test(test_plot_data),
        cmocka_unit_test(test_plots_render),
        cmocka_unit_test(test_h5py_written_file),
        cmocka_unit_test(test_fig3_voc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
