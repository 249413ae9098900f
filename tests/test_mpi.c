/* test_mpi.c - data-parallel training over MPI (core/comm.h, experiments/trainer.h), through the command line:
 *   1. equivalence: `mpirun -np 2 deltabench reproduce cls` with global batch 8 gives the single-process run's
 *      losses, evaluation history, final metrics and delta parameters up to float summation order (drop path
 *      on, so the sharded random stream is checked too), for Mona and for full fine-tuning;
 *   2. faults and resume: a rank killed (SIGKILL) mid-run ends the job with Open MPI's message and a non-zero
 *      status instead of hanging; the state rank 0 left resumes in a single process, and a single process's
 *      state resumes under 2 ranks, both to the uninterrupted run's result;
 *   3. ranks started with different recipes, on different data or from different builds refuse to start and say which;
 *   4. bench --ranks reports 4 x trainable bytes all-reduced per step;
 *   5. every collective of core/comm.h, the SyncBN seam included, on 3 ranks (this binary relaunched by mpirun).
 * Skipped (not passed) when the build has no MPI or mpirun is missing (DB_MPIRUN empty). Every mpirun runs
 * under `timeout`, so a hang fails the test instead of stalling make test; nothing is timed. */
#include "test_util.h"

#include <cJSON.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/checkpoint.h"
#include "../core/comm.h"
#include "../core/common.h"
#include "../datasets/cls_synth.h"
#include "../experiments/results.h"

static char g_dir[1024], g_bin[1024], g_mpirun[1024];

/* tolerances: float summation order only (the 2-rank gradient is a sum of two half-batch means) */
#define TOL_LOSS 1e-4  /* |loss_2 - loss_1| / max(1, |loss_1|) per logged step */
#define TOL_DELTA 1e-3 /* max |delta_2 - delta_1| / max |delta_1| over every tensor of the delta */
/* Detection: a short run (15 steps) is held to TOL_LOSS and TOL_DELTA like classification; a long one (90
 * steps, so that its mAP is not 0) only in its first STRICT_STEPS losses and in the mAP (TOL_MAP points): the
 * summation-order differences grow through training, chaotically. Measured with 180 steps: 1e-4 relative in the
 * loss by step 100, then 1e-2 to 0.4 by steps 120-160, and full fine-tuning's final mAP 0.4 points apart in one
 * build and 7 points in another whose only change was the order of a few sums (every mAP at step 90 equal in both
 * builds). So the long run stops at step 90, and its later losses and its delta are not compared. */
#define STRICT_STEPS 20
#define TOL_MAP 1.5

static void write_recipe(const char *name, const char *extra) {
    char path[1200], text[4096];
    snprintf(path, sizeof path, "%s/%s.json", g_dir, name);
    snprintf(text, sizeof text,
             "{\"task\": \"cls\", \"profile\": \"mpitest\", \"backbone\": \"tiny:8:1,1,1,1:1,1,1,1\", \"pretrained\": \"\",\n"
             " \"img_size\": 32, \"batch\": 8, \"epochs\": 3, \"drop_path_rate\": 0.2%s,\n"
             " \"optimizer\": {\"type\": \"AdamW\", \"lr\": 2e-3, \"weight_decay\": 0.05, \"betas\": [0.9, 0.999], \"eps\": 1e-8},\n"
             " \"grad_clip\": 5.0, \"lr_config\": {\"policy\": \"CosineAnnealing\", \"by_epoch\": false, \"min_lr_ratio\": 0.01,\n"
             "   \"warmup\": \"linear\", \"warmup_ratio\": 0.001, \"warmup_iters\": 1, \"warmup_by_epoch\": true},\n"
             " \"eval_interval_epochs\": 1, \"checkpoint_interval_iters\": 3, \"seed\": 5, \"workers\": 1, \"threads\": 1,\n"
             " \"datasets\": [{\"key\": \"flowers102\", \"format\": \"list\", \"root\": \"${CACHE}/flowers\"}],\n"
             " \"methods\": [\"mona\", \"full\"]}\n",
             extra ? extra : "");
    assert_int_equal(file_write_atomic(path, text, strlen(text)), 0);
}

static int group_setup(void **state) {
    (void)state;
    const char *m = getenv("DB_MPIRUN"), *b = getenv("DB_BIN");
    snprintf(g_mpirun, sizeof g_mpirun, "%s", m ? m : "");
    snprintf(g_bin, sizeof g_bin, "%s", b && *b ? b : "build/deltabench");
    snprintf(g_dir, sizeof g_dir, "%s", test_tmp_dir("mpi"));
    /* 16 classes x 2 train images: 4 iterations of 8 per epoch, 12 in all; 16 test images */
    char data[1200];
    snprintf(data, sizeof data, "%s/cache/flowers", g_dir);
    synth_opts so = {.n_train_per_class = 2, .n_test_per_class = 1, .img_min = 32, .img_max = 40, .quiet = 1};
    if (cls_synth_write(SYNTH_FLOWERS, data, 11, &so)) return fprintf(stderr, "%s\n", err_msg()), -1;
    snprintf(data, sizeof data, "%s/cache_copy/flowers", g_dir); /* the same data under another root */
    if (cls_synth_write(SYNTH_FLOWERS, data, 11, &so)) return fprintf(stderr, "%s\n", err_msg()), -1;
    snprintf(data, sizeof data, "%s/cache_other/flowers", g_dir); /* other data: another seed */
    if (cls_synth_write(SYNTH_FLOWERS, data, 12, &so)) return fprintf(stderr, "%s\n", err_msg()), -1;
    /* mpirun as root needs these (harmless otherwise); one OpenMP thread per rank */
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    setenv("OMP_NUM_THREADS", "1", 1);
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    return 0;
}

static void need_mpi(void) {
    if (!comm_built() || !g_mpirun[0]) {
        fprintf(stderr, "test_mpi: %s: skipped\n", !comm_built() ? "this build has no MPI" : "no mpirun (DB_MPIRUN)");
        skip();
    }
}

/* sh -c cmd; its exit status (124: timeout killed it) */
static int sh(const char *cmd) {
    int st = system(cmd);
    if (st == -1) fail_msg("system(%s) failed", cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* <g_dir>/rel, into one of four rotating static buffers */
static const char *at(const char *rel) {
    static char buf[4][1400];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, rel);
    return buf[k];
}

static char *slurp(const char *path) {
    size_t n;
    char *s = file_read_all(path, &n);
    if (!s) fail_msg("%s", err_msg());
    return s;
}

/* One `reproduce cls` invocation into results/runs named by tag: np 0 without mpirun; env: variables before the
 * command; extra: more options. Returns the exit status; the output goes to <dir>/<tag>.log. */
static int run_tag(const char *tag, int np, const char *env, const char *recipe, const char *extra) {
    char cmd[8192], launcher[1200] = "";
    if (np > 0) snprintf(launcher, sizeof launcher, "timeout 300 %s -np %d --oversubscribe", g_mpirun, np);
    snprintf(cmd, sizeof cmd,
             "%s %s %s reproduce cls --profile %s/%s.json --cache %s/cache --results %s/%s.h5 --runs-dir %s/runs_%s "
             "--no-report --no-control --shared %s/none %s > %s/%s.log 2>&1",
             env ? env : "", launcher, g_bin, g_dir, recipe, g_dir, g_dir, tag, g_dir, tag, g_dir, extra ? extra : "", g_dir, tag);
    int rc = sh(cmd);
    if (rc == 124) {
        char log[1200];
        snprintf(log, sizeof log, "%s/%s.log", g_dir, tag);
        char *s = slurp(log);
        fail_msg("%s: mpirun hung (killed by timeout after 300 s); output:\n%s", tag, s);
    }
    return rc;
}

static void run_ok(const char *tag, int np, const char *env, const char *recipe, const char *extra) {
    int rc = run_tag(tag, np, env, recipe, extra);
    if (rc != 0) {
        char log[1200];
        snprintf(log, sizeof log, "%s/%s.log", g_dir, tag);
        char *s = slurp(log);
        fail_msg("%s: exit %d; output:\n%s", tag, rc, s);
    }
}

/* the run `key` of dataset ds in results tag b against the reference tag a: every logged loss (n_curve steps,
 * 0: as many as a has), the evaluation history (n_eval), the final metrics (within metric_tol; < 0: one test
 * image of a top-k accuracy) and the delta */
static void compare_runs_ds(const char *a, const char *b, const char *ds, const char *key, int n_curve, int n_eval, double metric_tol,
                            int strict_steps, double tol_delta) {
    char pa[1200], pb[1200];
    snprintf(pa, sizeof pa, "%s/%s.h5", g_dir, a);
    snprintf(pb, sizeof pb, "%s/%s.h5", g_dir, b);
    results_run x, y;
    if (results_read_run(pa, ds, key, &x)) fail_msg("%s", err_msg());
    if (results_read_run(pb, ds, key, &y)) fail_msg("%s", err_msg());
    assert_int_equal(x.complete, 1);
    assert_int_equal(y.complete, 1);
    if (n_curve) assert_int_equal(x.n_curve, n_curve);
    assert_true(x.n_curve > 1);
    assert_int_equal(y.n_curve, x.n_curve);
    double worst = 0;
    for (int64_t i = 0; i < x.n_curve; i++) {
        assert_int_equal(x.curve_iter[i], y.curve_iter[i]);
        assert_memory_equal(&x.curve_lr[i], &y.curve_lr[i], sizeof(double));
        double d = fabs(x.curve_loss[i] - y.curve_loss[i]) / fmax(1.0, fabs(x.curve_loss[i]));
        if (strict_steps > 0 && x.curve_iter[i] > strict_steps) continue;
        if (!(d <= TOL_LOSS)) fail_msg("%s %s step %lld: loss %.9g (%s) vs %.9g (%s)", key, b, (long long)x.curve_iter[i], x.curve_loss[i], a, y.curve_loss[i], b);
        if (d > worst) worst = d;
    }
    /* the two runs must actually have trained: the losses move */
    assert_true(fabs(x.curve_loss[0] - x.curve_loss[x.n_curve - 1]) > 1e-3);
    assert_int_equal(x.n_eval, n_eval);
    assert_int_equal(y.n_eval, n_eval);
    assert_int_equal(x.n_metrics, y.n_metrics);
    double one = metric_tol >= 0 ? metric_tol : 100.0 / (double)x.n_test_samples, worst_m = 0;
    for (int k = 0; k < x.n_eval; k++)
        for (int m = 0; m < x.n_metrics; m++) {
            double d = fabs(x.eval[m][k] - y.eval[m][k]);
            if (!(d <= one + 1e-9)) fail_msg("%s %s evaluation %d %s: %.4f vs %.4f (tolerance %.3g)", key, b, k, x.metric[m], x.eval[m][k], y.eval[m][k], one);
            worst_m = fmax(worst_m, d);
        }
    for (int m = 0; m < x.n_metrics; m++) assert_true(fabs(x.final[m] - y.final[m]) <= one + 1e-9);
    assert_int_equal(x.trainable_params, y.trainable_params);
    results_run_free(&x);
    results_run_free(&y);
    if (tol_delta < 0) {
        fprintf(stderr, "test_mpi: %s %s, %s vs %s: max loss difference %.3g (relative, first %d steps), max metric difference %.3g\n", ds, key, b, a,
                worst, strict_steps, worst_m);
        return;
    }
    snprintf(pa, sizeof pa, "%s/runs_%s/%s/%s/delta.safetensors", g_dir, a, ds, key);
    snprintf(pb, sizeof pb, "%s/runs_%s/%s/%s/delta.safetensors", g_dir, b, ds, key);
    ckpt_tensors ta, tb;
    if (ckpt_load_state_dict(pa, &ta)) fail_msg("%s", err_msg());
    if (ckpt_load_state_dict(pb, &tb)) fail_msg("%s", err_msg());
    assert_true(ta.n > 0);
    assert_int_equal(ta.n, tb.n);
    double md = 0, mx = 0;
    for (int i = 0; i < ta.n; i++) {
        const ckpt_tensor *t = ckpt_tensors_find(&tb, ta.t[i].name);
        if (!t) fail_msg("%s: no tensor %s", pb, ta.t[i].name);
        assert_int_equal(ta.t[i].n, t->n);
        for (int64_t j = 0; j < t->n; j++) {
            md = fmax(md, fabs((double)ta.t[i].data[j] - (double)t->data[j]));
            mx = fmax(mx, fabs((double)ta.t[i].data[j]));
        }
    }
    ckpt_tensors_free(&ta);
    ckpt_tensors_free(&tb);
    fprintf(stderr, "test_mpi: %s %s, %s vs %s: max loss difference %.3g (relative), max metric difference %.3g, max delta difference %.3g (of max |delta| %.3g)\n",
            ds, key, b, a, worst, worst_m, md, mx);
    if (!(md <= tol_delta * mx)) fail_msg("%s %s: the delta differs by %.3g (max |delta| %.3g)", key, b, md, mx);
}

static void compare_runs(const char *a, const char *b, const char *key) { compare_runs_ds(a, b, "flowers102", key, 12, 3, -1, 0, TOL_DELTA); }

/* 1. 2 ranks x 4 = 1 process x 8 */
static void test_equivalence(void **state) {
    (void)state;
    need_mpi();
    write_recipe("r", NULL);
    run_ok("one", 0, NULL, "r", NULL);
    run_ok("two", 2, NULL, "r", NULL);
    char *log = slurp(at("two.log"));
    assert_non_null(strstr(log, "data parallel over 2 ranks"));
    free(log);
    compare_runs("one", "two", "mona");
    compare_runs("one", "two", "full");
}

/* 1b. detection: RetinaNet, 2 ranks x 2 = 1 process x 4, flips and drop path on, images of several sizes (the
 * shards keep the global batch's padded size), the loss normaliser all-reduced; mAP (on the training split,
 * so that it is not 0) within 1 point */
/* the detection recipe `name` with `epochs` epochs of 3 steps (8 images, batch 4, GroupSampler), evaluated every
 * eval_every epochs on the training split; run by 1 process and by 2 ranks into det<name>_<np> */
static void det_runs(const char *name, int epochs, int eval_every) {
    char path[1200], text[4096];
    snprintf(path, sizeof path, "%s/%s.json", g_dir, name);
    snprintf(text, sizeof text,
             "{\"task\": \"voc\", \"profile\": \"mpitest\", \"backbone\": \"tiny:16:1,1,1,1:1,2,4,8:w4\", \"pretrained\": \"\",\n"
             " \"img_size\": 96, \"img_scale\": [96, 80], \"flip_ratio\": 0.5, \"neck_channels\": 16, \"head_channels\": 16,\n"
             " \"test_batch\": 2, \"batch\": 4, \"epochs\": %d, \"drop_path_rate\": 0.2, \"threads\": 1, \"workers\": 1,\n"
             " \"optimizer\": {\"type\": \"AdamW\", \"lr\": 1e-3, \"weight_decay\": 0.0001},\n"
             " \"lr_config\": {\"policy\": \"step\", \"step\": [%d]}, \"eval_interval_epochs\": %d, \"seed\": 3,\n"
             " \"datasets\": [{\"key\": \"voc0712\", \"format\": \"voc\", \"root\": \"${CACHE}/vocdet\", \"synth\": \"voc_det\",\n"
             "   \"synth_cfg\": {\"trainval07\": 8, \"test07\": 4, \"trainval12\": 0, \"min_side\": 64, \"max_side\": 96, \"max_objects\": 2},\n"
             "   \"train\": [\"VOC2007/trainval\"], \"test\": \"VOC2007/trainval\"}],\n"
             " \"methods\": [\"mona\", \"full\"]}\n",
             epochs, epochs * 5 / 6, eval_every);
    assert_int_equal(file_write_atomic(path, text, strlen(text)), 0);
    char cmd[8192];
    for (int np = 0; np <= 2; np += 2) {
        char launcher[1200] = "";
        if (np) snprintf(launcher, sizeof launcher, "timeout 300 %s -np %d --oversubscribe", g_mpirun, np);
        snprintf(cmd, sizeof cmd,
                 "%s %s reproduce voc --profile %s/%s.json --cache %s/cache --results %s/det%s_%d.h5 --runs-dir %s/runs_det%s_%d "
                 "--no-report --no-control --shared %s/none > %s/det%s_%d.log 2>&1",
                 launcher, g_bin, g_dir, name, g_dir, g_dir, name, np, g_dir, name, np, g_dir, g_dir, name, np);
        int rc = sh(cmd);
        char log[256];
        snprintf(log, sizeof log, "det%s_%d.log", name, np);
        if (rc) fail_msg("%s: exit %d\n%s", cmd, rc, slurp(at(log)));
        char *s = slurp(at(log));
        if (np) assert_non_null(strstr(s, "data parallel over 2 ranks"));
        free(s);
    }
}

/* 1b. detection: RetinaNet, 2 ranks x 2 = 1 process x 4, flips and drop path on, images of several sizes (the
 * shards keep the global batch's padded size), the loss normaliser all-reduced */
static void test_equivalence_det(void **state) {
    (void)state;
    need_mpi();
    det_runs("short", 5, 5);
    for (int m = 0; m < 2; m++) compare_runs_ds("detshort_0", "detshort_2", "voc0712", m ? "full" : "mona", 15, 1, 0.5, 0, TOL_DELTA);
    det_runs("long", 30, 15);
    for (int m = 0; m < 2; m++) compare_runs_ds("detlong_0", "detlong_2", "voc0712", m ? "full" : "mona", 90, 2, TOL_MAP, STRICT_STEPS, -1);
    /* the mAP comparison means something only when the detector finds objects */
    results_run x;
    if (results_read_run(at("detlong_0.h5"), "voc0712", "full", &x)) fail_msg("%s", err_msg());
    if (!(x.final[0] > 1.0)) fail_msg("full's mAP is %.2f: the detector learnt nothing, the mAP comparison would be empty", x.final[0]);
    results_run_free(&x);
}

/* 2. a rank killed mid-run; resume across a change of the number of ranks */
static void test_kill_and_resume(void **state) {
    (void)state;
    need_mpi();
    write_recipe("r", NULL);
    if (!file_exists(at("one.h5"))) run_ok("one", 0, NULL, "r", NULL);
    /* rank 1 dies after 5 of 12 steps: the job ends (not hangs), with a non-zero status and Open MPI's word */
    int rc = run_tag("kill2", 2, "DB_FAULT_KILL=1:5", "r", "--methods mona");
    char *log = slurp(at("kill2.log"));
    if (rc == 0) fail_msg("a killed rank left mpirun with status 0:\n%s", log);
    assert_non_null(strstr(log, "DB_FAULT_KILL: rank 1"));
    if (!strstr(log, "signal 9") && !strstr(log, "Killed")) fail_msg("no word of the killed rank in the output:\n%s", log);
    free(log);
    /* rank 0 saved the state at the epoch end (4 steps); one process finishes the run from there */
    assert_true(file_exists(at("runs_kill2/flowers102/mona/state.safetensors")));
    run_ok("kill2", 0, NULL, "r", "--methods mona");
    log = slurp(at("kill2.log"));
    assert_non_null(strstr(log, "resuming at iteration 4"));
    free(log);
    compare_runs("one", "kill2", "mona");
    /* the other way: one process dies after 7 steps (state at 6), two ranks finish it */
    rc = run_tag("kill1", 0, "DB_FAULT_KILL=0:7", "r", "--methods mona");
    assert_int_not_equal(rc, 0);
    run_ok("kill1", 2, NULL, "r", "--methods mona");
    log = slurp(at("kill1.log"));
    assert_non_null(strstr(log, "resuming at iteration 6"));
    assert_non_null(strstr(log, "data parallel over 2 ranks"));
    free(log);
    compare_runs("one", "kill1", "mona");
}

/* 3. ranks that disagree refuse to start, naming what differs and which rank */
static void test_disagree(void **state) {
    (void)state;
    need_mpi();
    write_recipe("r", NULL);
    char cmd[16384], common[4096];
    snprintf(common, sizeof common, "reproduce cls --profile %s/r.json --results %s/dis.h5 --runs-dir %s/runs_dis --no-report --no-control --methods mona",
             g_dir, g_dir, g_dir);
    /* another batch on rank 1 (MPMD: one command line per rank) */
    snprintf(cmd, sizeof cmd, "timeout 300 %s --oversubscribe -np 1 %s %s --cache %s/cache : -np 1 %s %s --cache %s/cache --batch 4 > %s/dis.log 2>&1",
             g_mpirun, g_bin, common, g_dir, g_bin, common, g_dir, g_dir);
    int rc = sh(cmd);
    char *log = slurp(at("dis.log"));
    if (rc == 0 || rc == 124) fail_msg("ranks with different recipes: exit %d\n%s", rc, log);
    if (!strstr(log, "disagree about the recipe") || !strstr(log, "rank 1 differs from rank 0")) fail_msg("no message naming the recipe and rank 1:\n%s", log);
    assert_false(file_exists(at("runs_dis/flowers102/mona/state.safetensors")));
    free(log);
    /* the same data under another root trains; other data refuses */
    snprintf(cmd, sizeof cmd, "timeout 300 %s --oversubscribe -np 1 %s %s --cache %s/cache : -np 1 %s %s --cache %s/cache_copy > %s/dis.log 2>&1",
             g_mpirun, g_bin, common, g_dir, g_bin, common, g_dir, g_dir);
    rc = sh(cmd);
    log = slurp(at("dis.log"));
    if (rc != 0) fail_msg("ranks with the same data under two roots: exit %d\n%s", rc, log);
    free(log);
    snprintf(cmd, sizeof cmd, "timeout 300 %s --oversubscribe -np 1 %s %s --cache %s/cache --restart : -np 1 %s %s --cache %s/cache_other --restart > %s/dis.log 2>&1",
             g_mpirun, g_bin, common, g_dir, g_bin, common, g_dir, g_dir);
    rc = sh(cmd);
    log = slurp(at("dis.log"));
    if (rc == 0 || rc == 124) fail_msg("ranks on different data: exit %d\n%s", rc, log);
    if (!strstr(log, "disagree about the data") || !strstr(log, "rank 1 differs from rank 0")) fail_msg("no message naming the data and rank 1:\n%s", log);
    free(log);
    /* another build on rank 1: a copy of the binary whose commit string (build_commit(), one literal, as
     * `deltabench version` prints it) is changed
     * in place to another of the same length */
    size_t nb;
    char *bin = file_read_all(g_bin, &nb);
    if (!bin) fail_msg("%s", err_msg());
    char commit[256] = "";
    snprintf(cmd, sizeof cmd, "%s version > %s/version.txt", g_bin, g_dir); /* the binary's own commit */
    assert_int_equal(sh(cmd), 0);
    char *ver = slurp(at("version.txt"));
    if (sscanf(ver, "deltabench commit %255s", commit) != 1) fail_msg("%s version printed no commit:\n%s", g_bin, ver);
    free(ver);
    size_t cl = strlen(commit), hits = 0;
    assert_true(cl > 0);
    for (size_t i = 0; i + cl + 1 <= nb; i++)
        if (!memcmp(bin + i, commit, cl + 1)) { /* with its NUL: the literal itself */
            memset(bin + i, 'x', cl);
            hits++;
        }
    if (hits != 1) fail_msg("%s holds the commit string '%s' %zu times, expected once", g_bin, commit, hits);
    assert_int_equal(file_write_atomic(at("deltabench_other"), bin, nb), 0);
    free(bin);
    assert_int_equal(chmod(at("deltabench_other"), 0755), 0);
    snprintf(cmd, sizeof cmd, "timeout 300 %s --oversubscribe -np 1 %s %s --cache %s/cache --restart : -np 1 %s %s --cache %s/cache --restart > %s/dis.log 2>&1",
             g_mpirun, g_bin, common, g_dir, at("deltabench_other"), common, g_dir, g_dir);
    rc = sh(cmd);
    log = slurp(at("dis.log"));
    if (rc == 0 || rc == 124) fail_msg("ranks of two builds: exit %d\n%s", rc, log);
    if (!strstr(log, "disagree about the build commit") || !strstr(log, "rank 1 differs from rank 0")) fail_msg("no message naming the commit and rank 1:\n%s", log);
    free(log);
    /* a global batch the ranks cannot share equally */
    snprintf(cmd, sizeof cmd, "timeout 300 %s --oversubscribe -np 3 %s %s --cache %s/cache --restart > %s/dis.log 2>&1", g_mpirun, g_bin, common, g_dir, g_dir);
    rc = sh(cmd);
    log = slurp(at("dis.log"));
    if (rc == 0 || rc == 124) fail_msg("batch 8 over 3 ranks: exit %d\n%s", rc, log);
    if (!strstr(log, "not a multiple of the 3 ranks")) fail_msg("no message about the batch:\n%s", log);
    free(log);
}

/* 4. bench --ranks on 2 ranks: the bytes all-reduced per step are 4 x the trainable count, for each method */
static void test_bench_ranks(void **state) {
    (void)state;
    need_mpi();
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "timeout 300 %s -np 2 --oversubscribe %s bench --ranks --backbone tiny:8:1,1,1,1:1,1,1,1 --size 32 --batch 4 --threads 1 "
             "--steps 2 --warmup 1 --classes 10 --methods full,mona --json > %s/bench.json 2> %s/bench.log",
             g_mpirun, g_bin, g_dir, g_dir);
    int rc = sh(cmd);
    if (rc) fail_msg("bench --ranks: exit %d\n%s", rc, slurp(at("bench.log")));
    char *js = slurp(at("bench.json"));
    cJSON *j = cJSON_Parse(js);
    if (!j) fail_msg("bench --ranks printed no JSON (only rank 0 may print):\n%s", js);
    assert_int_equal(cJSON_GetObjectItem(j, "ranks")->valueint, 2);
    assert_int_equal(cJSON_GetObjectItem(j, "global_batch")->valueint, 4);
    const cJSON *ms = cJSON_GetObjectItem(j, "methods"), *m;
    assert_int_equal(cJSON_GetArraySize(ms), 2);
    double tr[2];
    int k = 0;
    cJSON_ArrayForEach(m, ms) {
        double t = cJSON_GetObjectItem(m, "trainable")->valuedouble, b = cJSON_GetObjectItem(m, "allreduce_bytes")->valuedouble;
        assert_true(t > 0);
        assert_true(b == 4 * t);
        assert_true(cJSON_GetObjectItem(m, "step_s")->valuedouble > 0);
        assert_true(cJSON_GetObjectItem(m, "allreduce_s")->valuedouble > 0);
        tr[k++] = t;
    }
    assert_true(tr[1] != tr[0]); /* full and mona differ */
    cJSON_Delete(j);
    free(js);
}

/* Launched by mpirun (test_collectives below): every collective of core/comm.h against its known result on N
 * ranks, the SyncBN seam included. Exit 0 when all agree; rank 0 prints what differs. */
static int collectives_main(int argc, char **argv) {
    if (comm_init(&argc, &argv)) return fprintf(stderr, "%s\n", err_msg()), 1;
    int r = comm_rank(), n = comm_size(), bad = 0;
    if (n < 2) bad |= 1;
    float f[3] = {1.0f + r, 0.5f, (float)(r * r)};
    if (comm_allreduce_sum_f32(f, 3)) bad |= 2;
    float want0 = 0, want2 = 0;
    for (int q = 0; q < n; q++) want0 += 1.0f + q, want2 += (float)(q * q);
    if (f[0] != want0 || f[1] != 0.5f * n || f[2] != want2) bad |= 4;
    double d = 0.25 * r;
    if (comm_allreduce_sum_f64(&d, 1) || d != 0.25 * n * (n - 1) / 2) bad |= 8;
    int64_t mx[2] = {r, -r};
    if (comm_allreduce_max_i64(mx, 2) || mx[0] != n - 1 || mx[1] != 0) bad |= 16;
    char word[8] = "";
    if (r == 0) snprintf(word, sizeof word, "rank0");
    if (comm_bcast(word, sizeof word, 0) || strcmp(word, "rank0")) bad |= 32;
    /* SyncBN: rank q holds q + 1 rows of channel values (c + 1) and (c + 1)^2 summed per row */
    float sum[2] = {(float)(r + 1) * 1, (float)(r + 1) * 2}, sq[2] = {(float)(r + 1) * 1, (float)(r + 1) * 4};
    int64_t cnt = r + 1, rows = (int64_t)n * (n + 1) / 2;
    if (comm_syncbn_reduce(sum, sq, 2, &cnt) || cnt != rows || sum[0] != rows || sum[1] != 2 * rows || sq[1] != 4 * rows) bad |= 64;
    if (comm_barrier()) bad |= 128;
    int64_t all = bad;
    if (comm_allreduce_max_i64(&all, 1)) all |= 256;
    if (r == 0 && all) fprintf(stderr, "collectives on %d ranks: failed checks 0x%llx\n", n, (long long)all);
    if (r == 0 && !all) printf("collectives on %d ranks: all agree\n", n);
    comm_finalize();
    return all ? 1 : 0;
}

/* 5. the communicator's collectives and the SyncBN seam, on 3 ranks (this binary, relaunched by mpirun) */
static void test_collectives(void **state) {
    (void)state;
    need_mpi();
    char self[1024], cmd[4096];
    ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
    if (k <= 0) fail_msg("readlink /proc/self/exe failed");
    self[k] = 0;
    snprintf(cmd, sizeof cmd, "DB_TEST_COLLECTIVES=1 timeout 300 %s -np 3 --oversubscribe %s > %s/coll.log 2>&1", g_mpirun, self, g_dir);
    int rc = sh(cmd);
    char *log = slurp(at("coll.log"));
    if (rc != 0 || !strstr(log, "collectives on 3 ranks: all agree")) fail_msg("exit %d:\n%s", rc, log);
    free(log);
}

int main(int argc, char **argv) {
    if (getenv("DB_TEST_COLLECTIVES")) return collectives_main(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equivalence),
        cmocka_unit_test(test_equivalence_det),
        cmocka_unit_test(test_kill_and_resume),
        cmocka_unit_test(test_disagree),
        cmocka_unit_test(test_bench_ranks),
        cmocka_unit_test(test_collectives),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
