/* test_reproduce_voc.c - the VOC table driver (`deltabench reproduce voc`, experiments/reproduce.c) on a tiny
 * recipe: it writes the synthetic VOCdevkit named by the recipe (read back by the real reader), trains two
 * methods (full, fixed) through the shared trainer on two images that are also its test images, stores each run with its per-class APs, writes the test detections as
 * comp4 files that `deltabench eval voc`'s code scores to the stored mAP, skips complete runs when repeated,
 * and writes the tables; a recipe of another task is refused. */
#include "test_util.h"

#include "../core/common.h"
#include "../core/h5io.h"
#include "../core/optim.h"
#include "../experiments/report.h"
#include "../experiments/recipe.h"
#include "../experiments/reproduce.h"
#include "../experiments/results.h"
#include "../experiments/train_det.h"
#include "../datasets/synth_dense.h"
#include "../metrics/voc_files.h"
#include "../methods/method.h"
#include "../models/det/retinanet.h"
#include "param_groups_check.h"

/* two training images that are also the test images, so that a short run of full fine-tuning detects them
 * (a non-zero mAP makes the comp4 check meaningful); fixed trains only the neck and head */
static const char *write_recipe(const char *dir, const char *task) {
    static char path[1200];
    snprintf(path, sizeof path, "%s/voc_tiny_%s.json", dir, task);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "{\"task\": \"%s\", \"profile\": \"tiny\", \"description\": \"test\", \"backbone\": \"tiny:32:1,1,1,1:1,2,4,8:w4\",\n"
            " \"pretrained\": \"\", \"img_size\": 128, \"img_scale\": [128, 128], \"flip_ratio\": 0.0, \"neck_channels\": 32,\n"
            " \"head_channels\": 32, \"test_batch\": 2, \"batch\": 2, \"epochs\": 150, \"threads\": 2,\n"
            " \"optimizer\": {\"type\": \"AdamW\", \"lr\": 1e-3, \"weight_decay\": 0.0001},\n"
            " \"lr_config\": {\"policy\": \"step\", \"step\": [130]}, \"eval_interval_epochs\": 75, \"seed\": 1,\n"
            " \"datasets\": [{\"key\": \"voc0712\", \"format\": \"voc\", \"root\": \"%s/VOCdevkit\", \"synth\": \"voc_det\",\n"
            "   \"synth_cfg\": {\"trainval07\": 2, \"test07\": 1, \"trainval12\": 0, \"min_side\": 96, \"max_side\": 128, \"max_objects\": 2},\n"
            "   \"train\": [\"VOC2007/trainval\"], \"test\": \"VOC2007/trainval\"}],\n"
            " \"methods\": [\"full\", \"fixed\"]}\n",
            task, dir);
    fclose(f);
    return path;
}

static void opts(repro_opts *o, const char *profile, const char *dir) {
    static char res[1200], runs[1200];
    snprintf(res, sizeof res, "%s/voc.h5", dir);
    snprintf(runs, sizeof runs, "%s/runs", dir);
    repro_opts_default(o);
    o->profile = profile;
    o->results = res;
    o->runs_dir = runs;
    o->no_report = 1;
    o->quiet = 1;
    o->shared_dir = test_shared_dir();
}

static void test_driver(void **state) {
    const char *dir = test_tmp_dir("reproduce_voc");
    const char *recipe = write_recipe(dir, "voc");
    repro_opts o;
    opts(&o, recipe, dir);
    if (reproduce_task("voc", &o)) fail_msg("reproduce voc: %s", err_msg());
    const char *meths[2] = {"full", "fixed"};
    char date0[2][64];
    for (int m = 0; m < 2; m++) {
        assert_int_equal(results_has_complete_run(o.results, "voc0712", meths[m]), 1);
        results_run rr;
        if (results_read_run(o.results, "voc0712", meths[m], &rr)) fail_msg("%s", err_msg());
        assert_int_equal(rr.n_metrics, 1);
        assert_string_equal(rr.metric[0], "mAP");
        assert_int_equal(rr.n_eval, 2); /* every 75 epochs */
        assert_int_equal(rr.n_curve_parts, 2);
        assert_int_equal(rr.n_test_samples, 2);
        assert_int_equal(rr.n_train_samples, 2);
        double stored = rr.final[0];
        snprintf(date0[m], sizeof date0[m], "%s", rr.date);
        results_run_free(&rr);
        /* the comp4 files give the stored mAP through the file evaluator (VOC2007/trainval) */
        char root[1300], dets[1300];
        snprintf(root, sizeof root, "%s/VOCdevkit/VOC2007", dir);
        snprintf(dets, sizeof dets, "%s/runs/voc0712/%s/dets", dir, meths[m]);
        voc_result vr;
        if (voc_eval_files(root, "trainval", dets, NULL, VOC_PROTO_MMDET, VOC_AP_11POINTS, 0.5, &vr)) fail_msg("%s", err_msg());
        printf("  %s: stored mAP %.6f, from the comp4 files %.6f\n", meths[m], stored, 100.0 * vr.map);
        assert_true(fabs(stored - 100.0 * vr.map) < 1e-6);
        if (m == 0) assert_true(stored > 20.0); /* full fine-tuning finds the two images' objects */
        /* per-class APs: 20 values, named, their mean over the classes with ground truth is the mAP */
        char g[256];
        snprintf(g, sizeof g, "/runs/voc0712/%s/final/per_class", meths[m]);
        hid_t f = h5_open_read(o.results);
        assert_true(f >= 0);
        int nd;
        int64_t shape[4];
        float *ap = h5_read_f32(f, g, &nd, shape);
        assert_non_null(ap);
        assert_int_equal(nd, 1);
        assert_int_equal(shape[0], 20);
        char names[1024];
        assert_int_equal(h5_attr_str(f, g, "class_names", names, sizeof names), 0);
        assert_non_null(strstr(names, "aeroplane,bicycle,bird"));
        for (int c = 0; c < 20; c++)
            if (!isnan(vr.ap[c])) assert_true(fabs(ap[c] - 100.0 * vr.ap[c]) < 1e-3);
        free(ap);
        h5_close(f);
        voc_result_free(&vr);
    }
    /* repeated: both runs are complete and current, nothing is trained or rewritten */
    if (reproduce_task("voc", &o)) fail_msg("reproduce voc (again): %s", err_msg());
    for (int m = 0; m < 2; m++) {
        results_run rr;
        if (results_read_run(o.results, "voc0712", meths[m], &rr)) fail_msg("%s", err_msg());
        assert_string_equal(rr.date, date0[m]);
        results_run_free(&rr);
    }
    /* the table has both methods and leaves the others missing */
    char *md = NULL, *tex = NULL;
    if (report_table_texts(o.results, "voc", &md, &tex)) fail_msg("%s", err_msg());
    assert_non_null(strstr(md, "| Full |"));
    assert_non_null(strstr(md, "missing"));
    assert_null(strstr(md, "(seeds)")); /* one seed: no seed tables, no "±" */
    assert_null(strstr(md, "±"));
    free(md), free(tex);
    /* a dry run trains nothing and succeeds */
    o.dry_run = 1;
    assert_int_equal(reproduce_task("voc", &o), 0);
}

/* A detection run stopped mid-epoch (and once more at an epoch end) and resumed ends bit-identical to an
 * uninterrupted one: final loss, mAP and the delta checkpoint's bytes. Flip 0.5 and Mona with drop path make
 * the data order, the flip draws and the dropout stream part of what must be restored. 4 images, batch 2,
 * 3 epochs. */
static void test_det_resume(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("reproduce_voc_resume");
    char root[1200], rpath[1200];
    snprintf(root, sizeof root, "%s/VOCdevkit", dir);
    synth_voc_cfg vc = {.n_trainval07 = 4, .n_test07 = 2, .min_side = 64, .max_side = 96, .max_objects = 2, .seed = 3};
    synth_summary sum;
    if (synth_voc_write(root, &vc, &sum)) fail_msg("%s", err_msg());
    snprintf(rpath, sizeof rpath, "%s/voc_resume.json", dir);
    FILE *f = fopen(rpath, "w");
    assert_non_null(f);
    fprintf(f,
            "{\"task\": \"voc\", \"profile\": \"resume\", \"description\": \"test\", \"backbone\": \"tiny:16:1,1,1,1:1,2,4,8:w4\",\n"
            " \"pretrained\": \"\", \"img_size\": 96, \"img_scale\": [96, 64], \"flip_ratio\": 0.5, \"neck_channels\": 16,\n"
            " \"head_channels\": 16, \"test_batch\": 2, \"batch\": 2, \"epochs\": 3, \"threads\": 2, \"drop_path_rate\": 0.2,\n"
            " \"optimizer\": {\"type\": \"AdamW\", \"lr\": 1e-3, \"weight_decay\": 0.05},\n"
            " \"lr_config\": {\"policy\": \"step\", \"step\": [2]}, \"eval_interval_epochs\": 1, \"checkpoint_interval_iters\": 1, \"seed\": 5,\n"
            " \"datasets\": [{\"key\": \"voc0712\", \"format\": \"voc\", \"root\": \"%s\",\n"
            "   \"train\": [\"VOC2007/trainval\"], \"test\": \"VOC2007/test\"}],\n"
            " \"methods\": [\"mona\"]}\n",
            root);
    fclose(f);
    recipe r;
    if (recipe_load(rpath, &(recipe_vars){0}, &r)) fail_msg("%s", err_msg());
    const char *names[3] = {"ref", "mid", "end"};
    int stops[3] = {0, 4, 3}; /* 3 iterations an epoch (below): 4 stops inside epoch 2, 3 at the end of epoch 1 */
    det_run_out out[3];
    char a[1400], b[1400];
    for (int k = 0; k < 3; k++) {
        char rd[1300];
        snprintf(rd, sizeof rd, "%s/%s", dir, names[k]);
        det_run_spec s = {.r = &r, .ds = &r.datasets[0], .method = "mona", .run_dir = rd, .results_key = names[k],
                          .data_desc = "test", .quiet = 1, .stop_after_iters = stops[k]};
        if (det_train_run(&s, &out[k])) fail_msg("%s: %s", names[k], err_msg());
        if (stops[k]) {
            assert_int_equal(out[k].stopped, 1);
            assert_int_equal(out[k].iters, stops[k]);
            s.stop_after_iters = 0;
            s.resume = 1;
            if (det_train_run(&s, &out[k])) fail_msg("%s resumed: %s", names[k], err_msg());
        }
        assert_int_equal(out[k].stopped, 0);
        /* GroupSampler: each orientation group padded to a multiple of the batch; these 4 images fall 3 + 1,
         * so an epoch is (4 + 2) / 2 = 3 iterations */
        assert_int_equal(out[k].iters, 9);
        printf("  %s: final loss %.9g, mAP %.6f\n", names[k], out[k].final_loss, out[k].map);
        if (k) {
            assert_memory_equal(&out[k].final_loss, &out[0].final_loss, sizeof(double));
            assert_memory_equal(&out[k].map, &out[0].map, sizeof(double));
            snprintf(a, sizeof a, "%s/ref/delta.safetensors", dir);
            snprintf(b, sizeof b, "%s/delta.safetensors", rd);
            size_t na = 0, nb = 0;
            char *x = file_read_all(a, &na), *y = file_read_all(b, &nb);
            assert_non_null(x);
            assert_non_null(y);
            assert_int_equal(na, nb);
            assert_memory_equal(x, y, na);
            free(x), free(y);
        }
    }
    recipe_free(&r);
}

static void test_wrong_task(void **state) {
    const char *dir = test_tmp_dir("reproduce_voc_wrong");
    repro_opts o;
    opts(&o, write_recipe(dir, "cls"), dir);
    assert_int_equal(reproduce_task("voc", &o), -1);
    assert_non_null(strstr(err_msg(), "not 'voc'"));
    assert_int_equal(reproduce_task("seg", &o), -1);
    assert_non_null(strstr(err_msg(), "available"));
}

/* The embedded default's optimiser groups, applied as the shared trainer applies them to a RetinaNet (names as
 * they are, no prefix): the backbone (and Mona's modules) at the base rate, the neck and head, which start from
 * scratch, at 4x; the norms and relative position tables keep decay 0 under the neck/head keys' longer names. */
static void test_default_param_groups(void **state) {
    (void)state;
    const char *path = "experiments/recipes/voc_default.json"; /* the tests run from the repository root */
    recipe r;
    if (recipe_load(path, &(recipe_vars){0}, &r)) fail_msg("%s", err_msg());
    assert_non_null(r.paramwise);
    assert_true(fabs(r.lr - 1e-4) < 1e-12);
    const char *specs[2] = {"full", "mona:width=4"};
    for (int k = 0; k < 2; k++) {
        swin_config bc;
        if (swin_preset("tiny:8:1,1,1,1:1,1,2,2:w2", &bc)) fail_msg("%s", err_msg());
        retinanet_config nc;
        retinanet_config_default(&nc, &bc, 6);
        nc.fpn_channels = nc.feat_channels = 8;
        method_spec sp;
        if (method_spec_parse(specs[k], &sp)) fail_msg("%s", err_msg());
        retinanet d;
        retinanet_build(&d, &nc, &sp.plug);
        static const char *const heads[2] = {"neck.", "bbox_head."};
        check_param_groups(&d.ps, r.paramwise, path, heads, 2, 4.0f, k == 0);
        retinanet_free(&d);
    }
    recipe_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_driver),
        cmocka_unit_test(test_det_resume),
        cmocka_unit_test(test_default_param_groups),
        cmocka_unit_test(test_wrong_task),
    };
    return cmocka_run_group_tests_name("reproduce_voc", tests, NULL, NULL);
}
