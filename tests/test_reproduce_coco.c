/* test_reproduce_coco.c - the COCO table driver (`deltabench reproduce coco`, experiments/reproduce.c,
 * train_coco.c) on a tiny recipe: it writes the synthetic COCO set named by the recipe (polygon and RLE masks,
 * read back by the real reader), trains full fine-tuning of Cascade Mask R-CNN through the shared trainer on
 * three images that are also its test images, stores the 12 metrics (bbox and segm) and the 11 losses, writes
 * the test detections as COCO results files (bbox and segm) that the results loader and `deltabench eval
 * coco`'s evaluator score to the stored box and mask AP, and writes the tables; and a run stopped mid-epoch
 * and resumed ends bit-identical to an uninterrupted one. */
#include "test_util.h"

#include "../core/common.h"
#include "../datasets/synth_dense.h"
#include "../experiments/report.h"
#include "../experiments/reproduce.h"
#include "../experiments/results.h"
#include "../experiments/train_coco.h"
#include "../metrics/coco_eval.h"
#include "../metrics/coco_json.h"
#include "../core/optim.h"
#include "../experiments/recipe.h"
#include "../methods/method.h"
#include "../models/det/cascade_rcnn.h"
#include "param_groups_check.h"

static const char *write_recipe(const char *dir, int epochs, const char *methods, const char *extra, double flip, int policies) {
    static char path[1200];
    snprintf(path, sizeof path, "%s/coco_tiny.json", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "{\"task\": \"coco\", \"profile\": \"tiny\", \"description\": \"test\", \"backbone\": \"tiny:16:1,1,1,1:1,2,4,8:w4\",\n"
            " \"pretrained\": \"\", \"img_size\": 96, \"ms_scales\": [[96, 128]], \"pre_scales\": [[96, 128]], \"crop_range\": [80, 96],\n"
            " \"test_scale\": [128, 96], \"flip_ratio\": %g, \"n_policies\": %d, \"fpn_channels\": 16, \"conv_out_channels\": 32,\n"
            " \"fc_out_channels\": 64, \"mask_channels\": 16, \"rpn_train_proposals\": 100, \"rpn_test_proposals\": 50, \"rcnn_samples\": 32,\n"
            " \"test_batch\": 2, \"batch\": 1, \"epochs\": %d, \"threads\": 2, %s\n"
            " \"optimizer\": {\"type\": \"AdamW\", \"lr\": 1e-3, \"weight_decay\": 0.0001},\n"
            " \"lr_config\": {\"policy\": \"step\", \"step\": [%d]}, \"eval_interval_epochs\": %d, \"checkpoint_interval_iters\": 1, \"seed\": 1,\n"
            " \"datasets\": [{\"key\": \"coco\", \"format\": \"coco\", \"root\": \"%s/coco\", \"synth\": \"coco\",\n"
            "   \"synth_cfg\": {\"train\": 3, \"val\": 1, \"min_side\": 96, \"max_side\": 112, \"max_objects\": 2, \"min_radius\": 14, \"crowd_prob\": 0},\n"
            "   \"train\": \"train2017\", \"test\": \"train2017\"}],\n"
            " \"methods\": [%s]}\n",
            flip, policies, epochs, extra, epochs * 4 / 5 > 0 ? epochs * 4 / 5 : 1, epochs > 1 ? epochs / 2 : 1, dir, methods);
    fclose(f);
    return path;
}

static void test_driver(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("reproduce_coco");
    repro_opts o;
    static char res[1200], runs[1200];
    snprintf(res, sizeof res, "%s/coco.h5", dir);
    snprintf(runs, sizeof runs, "%s/runs", dir);
    repro_opts_default(&o);
    o.profile = write_recipe(dir, 80, "\"full\"", "", 0.0, 1);
    o.results = res, o.runs_dir = runs, o.no_report = 1, o.quiet = 1, o.shared_dir = test_shared_dir();
    if (reproduce_task("coco", &o)) fail_msg("reproduce coco: %s", err_msg());
    assert_int_equal(results_has_complete_run(o.results, "coco", "full"), 1);
    results_run rr;
    if (results_read_run(o.results, "coco", "full", &rr)) fail_msg("%s", err_msg());
    assert_int_equal(rr.n_metrics, 12);
    assert_string_equal(rr.metric[0], "bbox_mAP");
    assert_string_equal(rr.metric[6], "segm_mAP");
    assert_int_equal(rr.n_curve_parts, 11);
    assert_string_equal(rr.curve_part_name[4], "s0.loss_mask");
    assert_int_equal(rr.n_eval, 2);
    assert_int_equal(rr.n_train_samples, 3);
    double box = rr.final[0], mask = rr.final[6];
    results_run_free(&rr);
    print_message("stored box AP %.4f, mask AP %.4f\n", box, mask);
    assert_true(box > 20.0 && mask > 20.0); /* full fine-tuning finds the three images' objects */
    /* the results files, read back as pycocotools' loadRes does, give the stored numbers */
    char ann[1300], path[1400];
    snprintf(ann, sizeof ann, "%s/coco/annotations/instances_train2017.json", dir);
    coco_gt gt;
    if (coco_gt_load(ann, 1, &gt)) fail_msg("%s", err_msg());
    for (int t = 0; t < 2; t++) {
        snprintf(path, sizeof path, "%s/runs/coco/full/results.%s.json", dir, t ? "segm" : "bbox");
        coco_det dt;
        if (coco_results_load(path, &gt, t, &dt)) fail_msg("%s", err_msg());
        coco_summary s;
        if (coco_eval_run(&gt, &dt, t ? COCO_IOU_SEGM : COCO_IOU_BBOX, 2, &s)) fail_msg("%s", err_msg());
        double want = t ? mask : box;
        print_message("%s: from %s %.6f, stored %.6f (%d detections)\n", t ? "segm" : "bbox", path, 100.0 * s.stats[0], want, dt.n);
        assert_true(fabs(100.0 * s.stats[0] - want) < 1e-9);
        coco_summary_free(&s);
        coco_det_free(&dt);
    }
    coco_gt_free(&gt);
    /* the tables: Full measured, the others missing */
    char *md = NULL, *tex = NULL;
    if (report_table_texts(o.results, "coco", &md, &tex)) fail_msg("%s", err_msg());
    assert_non_null(strstr(md, "| Full |"));
    assert_non_null(strstr(md, "AP mask"));
    assert_non_null(strstr(md, "missing"));
    free(md), free(tex);
}

/* stopped after 4 of 6 iterations (mid-epoch 2 of 2: 3 images, batch 1) and after 3 (the end of epoch 1),
 * then resumed: final loss, box and mask AP and the delta checkpoint's bytes equal the uninterrupted run's.
 * Mona with drop path, the AutoAugment crop policy and flips make the data and random streams part of what must
 * be restored; the samplers draw from (seed, epoch, iteration). */
static void test_coco_resume(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("reproduce_coco_resume");
    const char *rpath = write_recipe(dir, 2, "\"mona\"", "\"drop_path_rate\": 0.2,", 0.5, 2);
    recipe r;
    if (recipe_load(rpath, &(recipe_vars){0}, &r)) fail_msg("%s", err_msg());
    if (ensure_synth(&r, &r.datasets[0], 1)) fail_msg("%s", err_msg());
    const char *names[3] = {"ref", "mid", "end"};
    int stops[3] = {0, 4, 3};
    coco_run_out out[3];
    for (int k = 0; k < 3; k++) {
        char rd[1300];
        snprintf(rd, sizeof rd, "%s/%s", dir, names[k]);
        coco_run_spec s = {.r = &r, .ds = &r.datasets[0], .method = "mona", .run_dir = rd, .results_key = names[k], .data_desc = "test",
                           .quiet = 1, .stop_after_iters = stops[k]};
        if (coco_train_run(&s, &out[k])) fail_msg("%s: %s", names[k], err_msg());
        if (stops[k]) {
            assert_int_equal(out[k].stopped, 1);
            assert_int_equal(out[k].iters, stops[k]);
            s.stop_after_iters = 0;
            s.resume = 1;
            if (coco_train_run(&s, &out[k])) fail_msg("%s resumed: %s", names[k], err_msg());
        }
        assert_int_equal(out[k].stopped, 0);
        assert_int_equal(out[k].iters, 6);
        print_message("  %s: final loss %.9g, box AP %.6f, mask AP %.6f\n", names[k], out[k].final_loss, out[k].bbox[0], out[k].segm[0]);
        if (k) {
            assert_memory_equal(&out[k].final_loss, &out[0].final_loss, sizeof(double));
            assert_true(out[k].bbox[0] == out[0].bbox[0] || (isnan(out[k].bbox[0]) && isnan(out[0].bbox[0])));
            assert_true(out[k].segm[0] == out[0].segm[0] || (isnan(out[k].segm[0]) && isnan(out[0].segm[0])));
            char a[1400], b[1400];
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

/* The embedded default's optimiser groups on a Cascade Mask R-CNN built from coco_default.json: the neck, the
 * RPN and the RoI heads (from scratch) at lr_mult 4 with full decay (their BatchNorms are named bn, which the
 * norm key does not match, as in mmdet), every backbone parameter (Mona's modules included) at lr_mult 1, the
 * backbone's norms and relative position tables without decay. */
static void test_default_param_groups(void **state) {
    (void)state;
    const char *path = "experiments/recipes/coco_default.json"; /* the tests run from the repository root */
    recipe r;
    if (recipe_load(path, &(recipe_vars){0}, &r)) fail_msg("%s", err_msg());
    assert_non_null(r.paramwise);
    assert_true(fabs(r.lr - 1e-4) < 1e-12);
    const char *specs[2] = {"full", "mona:width=4"};
    for (int k = 0; k < 2; k++) {
        swin_config bc;
        if (swin_preset("tiny:8:1,1,1,1:1,1,2,2:w2", &bc)) fail_msg("%s", err_msg());
        cascade_rcnn_config cc;
        cascade_rcnn_config_default(&cc, &bc, 6, 8);
        method_spec sp;
        if (method_spec_parse(specs[k], &sp)) fail_msg("%s", err_msg());
        cascade_rcnn d;
        cascade_rcnn_build(&d, &cc, &sp.plug);
        static const char *const heads[3] = {"neck.", "rpn_head.", "roi_head."};
        check_param_groups(&d.ps, r.paramwise, path, heads, 3, 4.0f, k == 0);
        cascade_rcnn_free(&d);
    }
    recipe_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_driver), cmocka_unit_test(test_coco_resume),
                                       cmocka_unit_test(test_default_param_groups)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
