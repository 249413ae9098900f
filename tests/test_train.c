/* test_train.c - the classification trainer end to end on a tiny Swin and a tiny synthetic Flowers set:
 * a run stopped mid-epoch or at an epoch end (once or twice) and resumed ends bit for bit where an
 * uninterrupted run ends (top-1/top-5, final loss, every delta tensor, the training curve and the
 * evaluation history in the results file, every logged double exactly); resuming with a changed recipe
 * or from a truncated state file fails with a message naming the state file; recipe_load names the file and the field on bad input; and
 * the trainer's parameter groups follow the default recipe's paramwise_cfg (checked from outside through
 * the AdamW update rule: with lr*wd = 0.1, one step moves a decayed parameter to 0.9*p0 +- lr and an
 * undecayed one to p0 +- lr). */
#include "test_util.h"

#include <cJSON.h>
#include <unistd.h>

#include "../core/checkpoint.h"
#include "../models/classifier.h"
#include "../core/common.h"
#include "../datasets/cls_synth.h"
#include "../experiments/recipe.h"
#include "../experiments/results.h"
#include "../experiments/train_cls.h"
#include "../methods/method.h"

#define BACKBONE "tiny:8:1,1,1,1:1,1,1,1"

static char g_dir[1024], g_data[1100];

static int group_setup(void **state) {
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s", test_tmp_dir("train"));
    snprintf(g_data, sizeof g_data, "%s/flowers", g_dir);
    /* 16 classes x 2 train images = 32 images: 4 iterations of 8 per epoch; 16 test images */
    synth_opts so = {.n_train_per_class = 2, .n_test_per_class = 1, .img_min = 32, .img_max = 40, .quiet = 1};
    if (cls_synth_write(SYNTH_FLOWERS, g_data, 11, &so)) {
        fprintf(stderr, "%s\n", err_msg());
        return -1;
    }
    return 0;
}

/* The default recipe's paramwise_cfg as JSON text (malloc'd). */
static char *default_paramwise(void) {
    char path[1100];
    snprintf(path, sizeof path, "experiments/recipes/cls_default.json");
    recipe d;
    recipe_vars v = {.cache = g_dir};
    assert_int_equal(recipe_load(path, &v, &d), 0);
    assert_non_null(d.paramwise);
    char *s = cJSON_PrintUnformatted(d.paramwise);
    recipe_free(&d);
    return s;
}

/* Write a recipe into the scratch dir and load it. extra: more top-level fields (",\"k\": v" ...). */
static void make_recipe(recipe *r, const char *name, int epochs, double lr, double wd, const char *lr_config, const char *extra) {
    char *pw = default_paramwise();
    char path[1200], text[8192];
    snprintf(path, sizeof path, "%s/%s.json", g_dir, name);
    snprintf(text, sizeof text,
             "{\"task\": \"cls\", \"profile\": \"test\", \"backbone\": \"" BACKBONE "\", \"pretrained\": \"\",\n"
             " \"img_size\": 32, \"batch\": 8, \"epochs\": %d,\n"
             " \"optimizer\": {\"type\": \"AdamW\", \"lr\": %.17g, \"weight_decay\": %.17g, \"betas\": [0.9, 0.999], \"eps\": 1e-8},\n"
             " \"paramwise_cfg\": %s, \"grad_clip\": 5.0, \"lr_config\": %s,\n"
             " \"eval_interval_epochs\": 1, \"seed\": 5, \"workers\": 1, \"threads\": 2%s,\n"
             " \"datasets\": [{\"key\": \"flowers102\", \"format\": \"list\", \"root\": \"${CACHE}/flowers\"}],\n"
             " \"methods\": [\"mona\"]}\n",
             epochs, lr, wd, pw, lr_config, extra ? extra : "");
    free(pw);
    assert_int_equal(file_write_atomic(path, text, strlen(text)), 0);
    recipe_vars v = {.cache = g_dir};
    if (recipe_load(path, &v, r)) fail_msg("%s", err_msg());
}

#define COSINE                                                                                                         \
    "{\"policy\": \"CosineAnnealing\", \"by_epoch\": false, \"min_lr_ratio\": 0.01, \"warmup\": \"linear\", "          \
    "\"warmup_ratio\": 0.001, \"warmup_iters\": 1, \"warmup_by_epoch\": true}"
/* drop path on (the graph's generator must be restored on resume), a mid-epoch checkpoint every 5 */
#define RESUME_EXTRA ", \"drop_path_rate\": 0.2, \"checkpoint_interval_iters\": 5"

static cls_run_spec spec(const recipe *r, const char *method, const char *run_dir, const char *results, const char *key) {
    cls_run_spec s = {0};
    s.r = r;
    s.ds = &r->datasets[0];
    s.method = method;
    s.pretrained = "";
    s.run_dir = run_dir;
    s.results_path = results;
    s.results_key = key;
    s.quiet = 1;
    return s;
}

static void run_ok(const cls_run_spec *s, cls_run_out *o) {
    if (cls_train_run(s, o)) fail_msg("cls_train_run: %s", err_msg());
}

static void assert_same_delta(const char *a, const char *b) {
    ckpt_tensors ta, tb;
    if (ckpt_load_state_dict(a, &ta)) fail_msg("%s", err_msg());
    if (ckpt_load_state_dict(b, &tb)) fail_msg("%s", err_msg());
    assert_true(ta.n > 0);
    assert_int_equal(ta.n, tb.n);
    for (int i = 0; i < ta.n; i++) {
        const ckpt_tensor *y = ckpt_tensors_find(&tb, ta.t[i].name);
        if (!y) fail_msg("%s: no tensor %s", b, ta.t[i].name);
        assert_int_equal(ta.t[i].n, y->n);
        if (ta.t[i].n && memcmp(ta.t[i].data, y->data, sizeof(float) * ta.t[i].n))
            fail_msg("tensor %s differs between %s and %s", ta.t[i].name, a, b);
    }
    ckpt_tensors_free(&ta);
    ckpt_tensors_free(&tb);
}

static void assert_same_results(const char *path, const char *ka, const char *kb) {
    results_run a, b;
    if (results_read_run(path, "flowers102", ka, &a)) fail_msg("%s", err_msg());
    if (results_read_run(path, "flowers102", kb, &b)) fail_msg("%s", err_msg());
    assert_int_equal(a.complete, 1);
    assert_int_equal(b.complete, 1);
    assert_int_equal(a.n_curve, 12);
    assert_int_equal(a.n_curve, b.n_curve);
    for (int64_t i = 0; i < a.n_curve; i++) {
        assert_int_equal(a.curve_iter[i], i + 1);
        assert_int_equal(b.curve_iter[i], i + 1);
        assert_memory_equal(&a.curve_loss[i], &b.curve_loss[i], sizeof(double));
        assert_memory_equal(&a.curve_lr[i], &b.curve_lr[i], sizeof(double));
        assert_memory_equal(&a.curve_epoch[i], &b.curve_epoch[i], sizeof(double));
    }
    assert_int_equal(a.n_eval, 3); /* one per epoch */
    assert_int_equal(a.n_eval, b.n_eval);
    assert_int_equal(a.n_metrics, 2);
    for (int64_t k = 0; k < a.n_eval; k++) {
        assert_int_equal(a.eval_iter[k], 4 * (k + 1));
        assert_int_equal(a.eval_iter[k], b.eval_iter[k]);
        for (int m = 0; m < 2; m++) assert_memory_equal(&a.eval[m][k], &b.eval[m][k], sizeof(double));
    }
    for (int m = 0; m < 2; m++) assert_memory_equal(&a.final[m], &b.final[m], sizeof(double));
    results_run_free(&a);
    results_run_free(&b);
}

static void assert_same_out(const cls_run_out *a, const cls_run_out *b) {
    assert_int_equal(a->iters, 12);
    assert_int_equal(b->iters, 12);
    assert_int_equal(b->stopped, 0);
    assert_memory_equal(&a->top1, &b->top1, sizeof(double));
    assert_memory_equal(&a->top5, &b->top5, sizeof(double));
    assert_memory_equal(&a->final_loss, &b->final_loss, sizeof(double));
    assert_true(isfinite(a->final_loss));
}

/* 1. uninterrupted vs stopped-and-resumed: mid-epoch (6 of 12, after the checkpoint at 5), at an epoch
 * end (4), and stopped twice (4, then 5 more: 9, which crosses the epoch end at 8). */
static void test_resume_bit_exact(void **state) {
    (void)state;
    recipe r;
    make_recipe(&r, "resume", 3, 2e-3, 0.05, COSINE, RESUME_EXTRA);
    char res[1200], dref[1200], dmid[1200], dend[1200], dtwo[1200], a[1300], b[1300];
    snprintf(res, sizeof res, "%s/results.h5", g_dir);
    snprintf(dref, sizeof dref, "%s/run_ref", g_dir);
    snprintf(dmid, sizeof dmid, "%s/run_mid", g_dir);
    snprintf(dend, sizeof dend, "%s/run_end", g_dir);
    snprintf(dtwo, sizeof dtwo, "%s/run_two", g_dir);
    if (results_open_or_create(res, "cls", "test", NULL)) fail_msg("%s", err_msg());

    cls_run_out ref, o;
    cls_run_spec s = spec(&r, "mona", dref, res, "ref");
    run_ok(&s, &ref);
    assert_int_equal(ref.stopped, 0);

    /* mid-epoch */
    s = spec(&r, "mona", dmid, res, "mid");
    s.stop_after_iters = 6;
    run_ok(&s, &o);
    assert_int_equal(o.stopped, 1);
    assert_int_equal(o.iters, 6);
    snprintf(a, sizeof a, "%s/delta.safetensors", dmid);
    assert_false(file_exists(a)); /* no final checkpoint for a stopped run */
    assert_int_equal(results_has_complete_run(res, "flowers102", "mid"), 0);
    s.stop_after_iters = 0;
    s.resume = 1;
    run_ok(&s, &o);
    assert_same_out(&ref, &o);

    /* at an epoch end */
    s = spec(&r, "mona", dend, res, "end");
    s.stop_after_iters = 4;
    run_ok(&s, &o);
    assert_int_equal(o.stopped, 1);
    assert_int_equal(o.iters, 4);
    s.stop_after_iters = 0;
    s.resume = 1;
    run_ok(&s, &o);
    assert_same_out(&ref, &o);

    /* stopped twice: the second stop counts from where the resumed run started */
    s = spec(&r, "mona", dtwo, res, "two");
    s.stop_after_iters = 4;
    run_ok(&s, &o);
    assert_int_equal(o.iters, 4);
    s.resume = 1;
    s.stop_after_iters = 5;
    run_ok(&s, &o);
    assert_int_equal(o.stopped, 1);
    assert_int_equal(o.iters, 9);
    s.stop_after_iters = 0;
    run_ok(&s, &o);
    assert_same_out(&ref, &o);

    snprintf(a, sizeof a, "%s/delta.safetensors", dref);
    const char *dirs[3] = {dmid, dend, dtwo}, *keys[3] = {"mid", "end", "two"};
    for (int i = 0; i < 3; i++) {
        snprintf(b, sizeof b, "%s/delta.safetensors", dirs[i]);
        assert_same_delta(a, b);
        assert_same_results(res, "ref", keys[i]);
    }
    recipe_free(&r);
}

/* 1b. the saved history is exact: with a fixed lr one ulp above 1e-3 every logged lr is that double, which
 * a JSON writer printing 15 significant digits turns into 0.001; a resumed run must still log it exactly. */
static void test_resume_history_exact(void **state) {
    (void)state;
    const double lr = nextafter(1e-3, 1.0);
    recipe r;
    make_recipe(&r, "exact", 1, lr, 0.05, "{\"policy\": \"fixed\"}", NULL);
    char res[1200], dref[1200], dres[1200];
    snprintf(res, sizeof res, "%s/results_exact.h5", g_dir);
    snprintf(dref, sizeof dref, "%s/run_exact_ref", g_dir);
    snprintf(dres, sizeof dres, "%s/run_exact_resumed", g_dir);
    if (results_open_or_create(res, "cls", "test", NULL)) fail_msg("%s", err_msg());
    cls_run_out o;
    cls_run_spec s = spec(&r, "bitfit", dref, res, "ref");
    run_ok(&s, &o);
    s = spec(&r, "bitfit", dres, res, "resumed");
    s.stop_after_iters = 3;
    run_ok(&s, &o);
    assert_int_equal(o.iters, 3);
    s.stop_after_iters = 0;
    s.resume = 1;
    run_ok(&s, &o);
    results_run a, b;
    if (results_read_run(res, "flowers102", "ref", &a)) fail_msg("%s", err_msg());
    if (results_read_run(res, "flowers102", "resumed", &b)) fail_msg("%s", err_msg());
    assert_int_equal(a.n_curve, 4);
    assert_int_equal(b.n_curve, 4);
    for (int i = 0; i < 4; i++) {
        assert_true(a.curve_lr[i] == lr);
        if (b.curve_lr[i] != lr) fail_msg("resumed curve lr[%d] = %.17g, not %.17g", i, b.curve_lr[i], lr);
        assert_memory_equal(&a.curve_loss[i], &b.curve_loss[i], sizeof(double));
    }
    results_run_free(&a);
    results_run_free(&b);
    recipe_free(&r);
}

/* 2 and 3. a changed recipe and a truncated state file: errors naming the state file, no crash */
static void test_resume_errors(void **state) {
    (void)state;
    recipe r, r2;
    make_recipe(&r, "err", 3, 2e-3, 0.05, COSINE, RESUME_EXTRA);
    make_recipe(&r2, "err_lr", 3, 3e-3, 0.05, COSINE, RESUME_EXTRA);
    char dir[1200], st[1300];
    snprintf(dir, sizeof dir, "%s/run_err", g_dir);
    snprintf(st, sizeof st, "%s/state.safetensors", dir);
    cls_run_out o;
    cls_run_spec s = spec(&r, "mona", dir, NULL, NULL);
    s.stop_after_iters = 2;
    run_ok(&s, &o);
    assert_int_equal(o.stopped, 1);
    assert_true(file_exists(st));

    /* different lr */
    cls_run_spec s2 = spec(&r2, "mona", dir, NULL, NULL);
    s2.resume = 1;
    assert_int_equal(cls_train_run(&s2, &o), -1);
    assert_non_null(strstr(err_msg(), st));
    assert_non_null(strstr(err_msg(), "different recipe"));

    /* truncated state file, at several lengths (inside the header length, the JSON header, the data) */
    size_t n;
    char *full = file_read_all(st, &n);
    assert_non_null(full);
    size_t cuts[4] = {0, 5, 40, n / 2};
    s.stop_after_iters = 0;
    s.resume = 1;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(file_write_atomic(st, full, cuts[i]), 0);
        assert_int_equal(cls_train_run(&s, &o), -1);
        if (!strstr(err_msg(), "state.safetensors")) fail_msg("cut at %zu: message without the file: %s", cuts[i], err_msg());
    }
    /* the intact file resumes */
    assert_int_equal(file_write_atomic(st, full, n), 0);
    s.stop_after_iters = 1;
    run_ok(&s, &o);
    assert_int_equal(o.iters, 3);
    free(full);

    /* the driver's mode (restart_if_stale): a state left by another recipe is dropped and the run equals a
     * fresh one under the new recipe */
    cls_run_spec s3 = spec(&r2, "mona", dir, NULL, NULL);
    s3.resume = 1;
    s3.restart_if_stale = 1;
    cls_run_out o3, o4;
    run_ok(&s3, &o3);
    char dir2[1300];
    snprintf(dir2, sizeof dir2, "%s/run_err_fresh", g_dir);
    cls_run_spec s4 = spec(&r2, "mona", dir2, NULL, NULL);
    run_ok(&s4, &o4);
    assert_int_equal(o3.stopped, 0);
    assert_int_equal(o3.iters, o4.iters);
    assert_memory_equal(&o3.final_loss, &o4.final_loss, sizeof(double));
    assert_memory_equal(&o3.top1, &o4.top1, sizeof(double));
    recipe_free(&r);
    recipe_free(&r2);
}

/* recipes that differ only in threads/workers train the same; any other field makes them differ */
static void test_recipe_same(void **state) {
    (void)state;
    assert_true(recipe_text_same("{\"a\": 1, \"b\": [1, 2], \"threads\": 2}", "{\"b\": [1, 2], \"a\": 1, \"workers\": 3}"));
    assert_false(recipe_text_same("{\"a\": 1, \"b\": [1, 2]}", "{\"a\": 1, \"b\": [2, 1]}"));
    assert_false(recipe_text_same("{\"a\": 1}", "{\"a\": 1, \"epochs\": 2}"));
    assert_false(recipe_text_same(NULL, "{}"));
    assert_false(recipe_text_same("{", "{}"));
}

/* 4. recipe_load errors name the file and the field */
static void expect_recipe_error(const char *name, const char *text, const char *field) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.json", g_dir, name);
    assert_int_equal(file_write_atomic(path, text, strlen(text)), 0);
    recipe r;
    recipe_vars v = {.cache = g_dir};
    assert_int_equal(recipe_load(path, &v, &r), -1);
    const char *m = err_msg();
    if (!strstr(m, path) || !strstr(m, field)) fail_msg("%s: expected the file and '%s' in: %s", name, field, m);
    assert_null(r.json);
}

#define R_HEAD "{\"task\": \"cls\", \"profile\": \"t\", \"backbone\": \"" BACKBONE "\", \"img_size\": 32, \"batch\": 8, \"epochs\": 1,\n"
#define R_OPT "\"optimizer\": {\"lr\": 0.001},\n"
#define R_LR "\"lr_config\": {\"policy\": \"fixed\"},\n"
#define R_DS "\"datasets\": [{\"key\": \"flowers102\", \"format\": \"list\", \"root\": \"${CACHE}/flowers\"}],\n"
#define R_M "\"methods\": [\"full\"]}\n"

static void test_recipe_errors(void **state) {
    (void)state;
    /* the well-formed base loads */
    {
        char path[1200];
        const char *ok = R_HEAD R_OPT R_LR R_DS R_M;
        snprintf(path, sizeof path, "%s/ok.json", g_dir);
        assert_int_equal(file_write_atomic(path, ok, strlen(ok)), 0);
        recipe r;
        recipe_vars v = {.cache = g_dir};
        if (recipe_load(path, &v, &r)) fail_msg("%s", err_msg());
        char root[1300];
        snprintf(root, sizeof root, "%s/flowers", g_dir);
        assert_string_equal(r.datasets[0].root, root);
        assert_true(r.crop_scale[0] == 0.08 && r.crop_scale[1] == 1.0); /* mmcls default when absent */
        recipe_free(&r);
    }
    {
        char path[1200];
        const char *ok = R_HEAD R_OPT R_LR "\"crop_scale\": [0.35, 1],\n" R_DS R_M;
        snprintf(path, sizeof path, "%s/ok_crop.json", g_dir);
        assert_int_equal(file_write_atomic(path, ok, strlen(ok)), 0);
        recipe r;
        recipe_vars v = {.cache = g_dir};
        if (recipe_load(path, &v, &r)) fail_msg("%s", err_msg());
        assert_true(r.crop_scale[0] == 0.35 && r.crop_scale[1] == 1.0);
        recipe_free(&r);
    }
    expect_recipe_error("bad_crop", R_HEAD R_OPT R_LR "\"crop_scale\": [0.5, 0.2],\n" R_DS R_M, "0 < min <= max <= 1");
    expect_recipe_error("bad_crop2", R_HEAD R_OPT R_LR "\"crop_scale\": 0.5,\n" R_DS R_M, "\"crop_scale\" must be [min, max]");
    /* malformed JSON: the line of the error (a missing comma after line 2) */
    expect_recipe_error("bad_json", R_HEAD R_OPT "\"lr_config\": {\"policy\": \"fixed\"}\n" R_DS R_M, ":4:");
    expect_recipe_error("no_optimizer", R_HEAD R_LR R_DS R_M, "\"optimizer\"");
    expect_recipe_error("no_lr", R_HEAD "\"optimizer\": {\"weight_decay\": 0.1},\n" R_LR R_DS R_M, "\"lr\"");
    expect_recipe_error("no_datasets", R_HEAD R_OPT R_LR R_M, "\"datasets\"");
    expect_recipe_error("no_root", R_HEAD R_OPT R_LR "\"datasets\": [{\"key\": \"flowers102\", \"format\": \"list\"}],\n" R_M,
                        "datasets[0]: missing \"root\"");
    expect_recipe_error("unknown_var",
                        R_HEAD R_OPT R_LR "\"datasets\": [{\"key\": \"flowers102\", \"format\": \"list\", \"root\": \"${NOPE}/x\"}],\n" R_M,
                        "${NOPE}");
    expect_recipe_error("unknown_var2",
                        R_HEAD R_OPT R_LR "\"datasets\": [{\"key\": \"flowers102\", \"format\": \"list\", \"root\": \"${NOPE}/x\"}],\n" R_M,
                        "datasets[0]: \"root\"");
    expect_recipe_error("dup_top", R_HEAD R_OPT R_LR R_DS "\"epochs\": 2,\n" R_M, "\"epochs\" is given twice");
    expect_recipe_error("dup_nested", R_HEAD "\"optimizer\": {\"lr\": 0.001, \"lr\": 0.002},\n" R_LR R_DS R_M,
                        "\"lr\" is given twice in \"optimizer\"");
    expect_recipe_error("bad_type", R_HEAD R_OPT R_LR R_DS "\"methods\": [\"full\"], \"seed\": \"zero\"}\n", "\"seed\"");
}

/* 6. a method with options: the run goes under the spec's key, the results record the canonical spec, the
 * delta records it too (method_load_delta accepts it), a state saved under another spec of the same shapes is
 * refused on resume; recipes check their method specs; lr_mult rows by key, then by method */
static void test_method_spec_run(void **state) {
    (void)state;
    recipe r;
    make_recipe(&r, "spec", 1, 2e-3, 0.05, COSINE, NULL);
    char dir[1200], res[1200], delta[1300];
    snprintf(dir, sizeof dir, "%s/run_spec", g_dir);
    snprintf(res, sizeof res, "%s/spec_results.h5", g_dir);
    snprintf(delta, sizeof delta, "%s/delta.safetensors", dir);
    remove(res);
    if (results_open_or_create(res, "cls", "test", NULL)) fail_msg("%s", err_msg());
    cls_run_out o;
    cls_run_spec s = spec(&r, "mona:scaled_ln=off:width=8", dir, res, NULL);
    run_ok(&s, &o);
    results_run rr;
    if (results_read_run(res, "flowers102", "mona_width8_scaled_lnoff", &rr)) fail_msg("%s", err_msg());
    assert_string_equal(rr.method_spec, "mona:width=8:kernels=3,5,7:scaled_ln=off");
    assert_true(rr.complete);
    results_run_free(&rr);
    ckpt_tensors h;
    if (ckpt_read_safetensors_meta(delta, &h)) fail_msg("%s", err_msg());
    assert_string_equal(ckpt_meta_get(&h, "method"), "mona:width=8:kernels=3,5,7:scaled_ln=off");
    ckpt_tensors_free(&h);
    {
        method_spec sp;
        assert_int_equal(method_spec_parse("mona:width=8:scaled_ln=off", &sp), 0);
        classifier c;
        swin_config sc;
        assert_int_equal(swin_preset(BACKBONE, &sc), 0);
        classifier_build(&c, &sc, &sp.plug, 16);
        if (method_load_delta(delta, &c.ps, &sp, NULL)) fail_msg("%s", err_msg());
        classifier_free(&c);
    }
    /* resume under another spec with the same shapes */
    char dir2[1300], st[1400];
    snprintf(dir2, sizeof dir2, "%s/run_spec_lora", g_dir);
    snprintf(st, sizeof st, "%s/state.safetensors", dir2);
    cls_run_spec sa = spec(&r, "lora:alpha=2", dir2, NULL, NULL);
    sa.stop_after_iters = 2;
    run_ok(&sa, &o);
    assert_int_equal(o.stopped, 1);
    cls_run_spec sb = spec(&r, "lora", dir2, NULL, NULL);
    sb.resume = 1;
    assert_int_equal(cls_train_run(&sb, &o), -1);
    if (!strstr(err_msg(), st) || !strstr(err_msg(), "saved under method 'lora:rank=64:alpha=2', this run is 'lora:rank=64:alpha=1'"))
        fail_msg("%s", err_msg());
    sa.stop_after_iters = 0;
    sa.resume = 1;
    run_ok(&sa, &o); /* the same spec resumes */
    assert_int_equal(o.stopped, 0);
    /* a bad spec fails before anything is written, naming the option */
    cls_run_spec sc = spec(&r, "mona:width=0", dir, NULL, NULL);
    assert_int_equal(cls_train_run(&sc, &o), -1);
    assert_non_null(strstr(err_msg(), "width=0"));
    /* lr_mult: the key's row, else the method's */
    {
        recipe q;
        make_recipe(&q, "spec_lr", 1, 2e-3, 0.05, COSINE, ", \"lr_mult\": {\"mona\": {\"flowers102\": 2.0}, \"mona_width32\": {\"flowers102\": 3.0}}");
        assert_true(recipe_lr_mult(&q, "mona", "flowers102") == 2.0);
        assert_true(recipe_lr_mult(&q, "mona:width=16", "flowers102") == 2.0);
        assert_true(recipe_lr_mult(&q, "mona:width=32", "flowers102") == 3.0);
        assert_true(recipe_lr_mult(&q, "mona:width=64:kernels=3,5,7", "flowers102") == 2.0);
        assert_true(recipe_lr_mult(&q, "lora", "flowers102") == 1.0);
        recipe_free(&q);
    }
    recipe_free(&r);
}

static void test_recipe_method_specs(void **state) {
    (void)state;
    char path[1200];
    const char *ok = R_HEAD R_OPT R_LR R_DS "\"methods\": [\"full\", \"mona\", \"mona:width=32\", \"mona:kernels=3,3,3:scaled_ln=off\"]}\n";
    snprintf(path, sizeof path, "%s/ok_specs.json", g_dir);
    assert_int_equal(file_write_atomic(path, ok, strlen(ok)), 0);
    recipe r;
    recipe_vars v = {.cache = g_dir};
    if (recipe_load(path, &v, &r)) fail_msg("%s", err_msg());
    assert_int_equal(r.n_methods, 4);
    assert_string_equal(r.methods[2], "mona:width=32");
    assert_string_equal(r.method_keys[0], "full");
    assert_string_equal(r.method_keys[1], "mona");
    assert_string_equal(r.method_keys[2], "mona_width32");
    assert_string_equal(r.method_keys[3], "mona_kernels3-3-3_scaled_lnoff");
    recipe_free(&r);
    expect_recipe_error("bad_spec", R_HEAD R_OPT R_LR R_DS "\"methods\": [\"full\", \"mona:width=0\"]}\n",
                        "methods[1]: method 'mona': width=0: 0 is out of range (expected an integer in 1..4096)");
    expect_recipe_error("bad_spec2", R_HEAD R_OPT R_LR R_DS "\"methods\": [\"mona:depth=3\"]}\n", "methods[0]: method 'mona': unknown option 'depth'");
    expect_recipe_error("dup_spec", R_HEAD R_OPT R_LR R_DS "\"methods\": [\"mona\", \"mona:width=64\"]}\n",
                        "methods[0] 'mona' and methods[1] 'mona:width=64' are the same run");
    /* method_options: a plainly named method takes the recipe's options and keeps its plain key; one written
     * with options keeps exactly those */
    const char *mo = R_HEAD R_OPT R_LR R_DS "\"method_options\": {\"mona\": \"width=4\", \"lora\": \"rank=7\"},\n"
                     "\"methods\": [\"full\", \"mona\", \"mona:width=32\", \"lora\", \"adapter\"]}\n";
    snprintf(path, sizeof path, "%s/method_options.json", g_dir);
    assert_int_equal(file_write_atomic(path, mo, strlen(mo)), 0);
    if (recipe_load(path, &v, &r)) fail_msg("%s", err_msg());
    assert_int_equal(r.n_methods, 5);
    assert_string_equal(r.methods[1], "mona:width=4");
    assert_string_equal(r.method_keys[1], "mona");
    assert_string_equal(r.methods[2], "mona:width=32");
    assert_string_equal(r.method_keys[2], "mona_width32");
    assert_string_equal(r.methods[3], "lora:rank=7");
    assert_string_equal(r.method_keys[3], "lora");
    assert_string_equal(r.methods[4], "adapter");
    assert_string_equal(r.method_keys[4], "adapter");
    recipe_free(&r);
    expect_recipe_error("bad_options", R_HEAD R_OPT R_LR R_DS "\"method_options\": {\"mona\": \"width=0\"}, \"methods\": [\"mona\"]}\n",
                        "methods[0]: method 'mona': width=0: 0 is out of range");
    expect_recipe_error("bad_options2", R_HEAD R_OPT R_LR R_DS "\"method_options\": {\"mona\": 4}, \"methods\": [\"mona\"]}\n",
                        "method_options.mona must be a string");
}

/* 5. parameter groups through the trainer: one AdamW step from known weights with lr*wd = 0.1 */
static void test_param_groups(void **state) {
    (void)state;
    const double lr = 1e-3, wd = 100;
    recipe r;
    make_recipe(&r, "pg", 1, lr, wd, "{\"policy\": \"fixed\"}", ", \"max_iters\": 1");
    /* initial weights, all in [0.5, 1.5): written as a pretrained checkpoint */
    swin_config sc;
    assert_int_equal(swin_preset(BACKBONE, &sc), 0);
    const method *m = method_find("full");
    assert_non_null(m);
    classifier c;
    classifier_build(&c, &sc, &m->plug, 16);
    st_entry *e = xcalloc(c.ps.n, sizeof *e);
    int64_t(*shapes)[TENSOR_MAX_DIMS] = xcalloc(c.ps.n, sizeof *shapes);
    for (int i = 0; i < c.ps.n; i++) {
        param *p = c.ps.p[i];
        for (int64_t k = 0; k < p->t.n; k++) p->t.data[k] = 0.5f + (float)((i * 37 + k * 13) % 100) / 100.0f;
        for (int d = 0; d < p->t.ndim; d++) shapes[i][d] = p->t.shape[d];
        e[i] = (st_entry){p->name, p->t.ndim, shapes[i], p->t.data};
    }
    char pre[1200], dir[1200], delta[1300];
    snprintf(pre, sizeof pre, "%s/pg_init.safetensors", g_dir);
    snprintf(dir, sizeof dir, "%s/run_pg", g_dir);
    snprintf(delta, sizeof delta, "%s/delta.safetensors", dir);
    assert_int_equal(safetensors_write(pre, e, c.ps.n, NULL, NULL, 0), 0);

    cls_run_spec s = spec(&r, "full", dir, NULL, NULL);
    s.pretrained = pre;
    cls_run_out o;
    run_ok(&s, &o);
    assert_int_equal(o.iters, 1);
    ckpt_tensors after;
    if (ckpt_load_state_dict(delta, &after)) fail_msg("%s", err_msg());
    /* name -> expected decay multiplier, by the default paramwise_cfg's rules */
    static const struct {
        const char *name;
        double dm;
    } want[] = {
        {"patch_embed.proj.weight", 1},
        {"patch_embed.proj.bias", 0},
        {"patch_embed.norm.weight", 0},
        {"patch_embed.norm.bias", 0},
        {"layers.0.blocks.0.norm1.weight", 0},
        {"layers.0.blocks.0.attn.qkv.weight", 1},
        {"layers.0.blocks.0.attn.qkv.bias", 0},
        {"layers.0.blocks.0.attn.relative_position_bias_table", 0},
        {"layers.1.blocks.0.mlp.fc1.weight", 1},
        {"layers.1.blocks.0.mlp.fc1.bias", 0},
        {"layers.0.downsample.norm.weight", 0},
        {"layers.0.downsample.reduction.weight", 1},
        {"norm3.weight", 0},
        {"head.fc.weight", 1},
        {"head.fc.bias", 0},
    };
    for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
        param *p = params_find(&c.ps, want[w].name);
        if (!p) fail_msg("the model has no parameter %s", want[w].name);
        const ckpt_tensor *t = ckpt_tensors_find(&after, want[w].name);
        if (!t) fail_msg("%s: no trained %s", delta, want[w].name);
        assert_int_equal(t->n, p->t.n);
        double shrink = 1 - lr * wd * want[w].dm, worst = 0;
        for (int64_t k = 0; k < t->n; k++) {
            double dev = fabs(t->data[k] - p->t.data[k] * shrink);
            if (dev > worst) worst = dev;
        }
        /* an Adam first step moves by at most lr; the other decay choice would be off by >= 0.05 */
        if (worst > lr * 1.01 + 1e-6) fail_msg("%s: decay_mult is not %g (max deviation %g)", want[w].name, want[w].dm, worst);
    }
    ckpt_tensors_free(&after);
    free(e);
    free(shapes);
    classifier_free(&c);
    recipe_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recipe_errors),
        cmocka_unit_test(test_recipe_same),
        cmocka_unit_test(test_param_groups),
        cmocka_unit_test(test_resume_errors),
        cmocka_unit_test(test_recipe_method_specs),
        cmocka_unit_test(test_method_spec_run),
        cmocka_unit_test(test_resume_bit_exact),
        cmocka_unit_test(test_resume_history_exact),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
