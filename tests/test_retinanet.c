/* test_retinanet.c - RetinaNet end to end: every golden of ../shared/golden/heads/ (the RetinaNet issue's,
 * the ADE20K heads' and the COCO RoIAlign files) passes through `deltabench golden`'s code path, none reported
 * as not covered; the detection pipeline's metas follow mmdet's Resize/Pad arithmetic on a hand
 * case; and RetinaNet (a small Swin + FPN + RetinaHead, random init, full fine-tuning) trained on the shared
 * trainer over a few synthetic VOC images, written in the VOC layout and read back by the real reader,
 * overfits them: mAP@0.5 (mmdet's eval_map) of at least 90 on those same images. */
#include "test_util.h"

#include <dirent.h>

#include "../conformance/golden.h"
#include "../datasets/det_pipeline.h"
#include "../datasets/synth_dense.h"
#include "../experiments/recipe.h"
#include "../experiments/train_det.h"
#include "../methods/method.h"
#include "../models/det/retinanet.h"
#include "../core/params.h"

static void test_head_goldens(void **state) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", test_shared_path("golden/heads"));
    DIR *d = opendir(dir);
    if (!d) fail_msg("cannot open %s", dir);
    struct dirent *e;
    int passed = 0;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 3, ".h5")) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        golden_result r;
        if (golden_check(path, &r)) fail_msg("%s: %s", path, err_msg());
        if (r.not_covered || !r.ok) {
            golden_print(path, &r);
            fail_msg("%s: %s", e->d_name, r.not_covered ? "not covered" : "does not pass");
        }
        passed++;
    }
    closedir(d);
    assert_true(passed >= 43); /* the 43 files of 2026-12-07, every one covered (RoIAlign included) */
}

/* mmdet Resize(1000, 600, keep_ratio) + Pad(32) on a 500 x 375 image: scale min(1000/500, 600/375) = 1.6,
 * new size int(500 * 1.6 + 0.5) = 800 x 600, padded to 800 x 608; boxes scaled by (1.6, 1.6) */
static void test_pipeline_meta(void **state) {
    image img;
    assert_int_equal(image_alloc(&img, 500, 375, 3), 0);
    memset(img.data, 100, (size_t)500 * 375 * 3);
    dense_sample s;
    dense_sample_init(&s, &img);
    s.n_boxes = 1;
    s.boxes = malloc(4 * sizeof(float));
    s.labels = malloc(sizeof(int));
    float bx[4] = {10, 20, 110, 220};
    memcpy(s.boxes, bx, sizeof bx);
    s.labels[0] = 3;
    det_pipeline_cfg c;
    det_pipeline_cfg_default(&c);
    det_img_meta m;
    assert_int_equal(det_pipeline_apply(&c, 0, &s, NULL, &m), 0);
    assert_int_equal(m.ori_w, 500), assert_int_equal(m.ori_h, 375);
    assert_int_equal(m.img_w, 800), assert_int_equal(m.img_h, 600);
    assert_int_equal(m.pad_w, 800), assert_int_equal(m.pad_h, 608);
    assert_true(fabs(m.scale_factor[0] - 1.6) < 1e-6 && fabs(m.scale_factor[1] - 1.6) < 1e-6);
    assert_true(fabs(s.boxes[0] - 16) < 1e-4 && fabs(s.boxes[3] - 352) < 1e-4);
    assert_int_equal(m.flip, 0);
    dense_sample_free(&s);
}

/* test batches of one padded shape (hand case): sizes after the resize, divisor 32, batch 2 */
static void test_test_batches(void **state) {
    (void)state;
    /* padded: 0 (160,128) 1 (160,128) 2 (128,160) 3 (160,160) 4 (160,128) 5 (128,160) 6 (160,128) */
    int w[7] = {160, 135, 128, 150, 139, 117, 160}, h[7] = {108, 128, 160, 150, 100, 160, 127};
    int order[7], start[8];
    int nb = det_test_batches(w, h, 7, 32, 2, order, start);
    int want_order[7] = {0, 1, 4, 6, 2, 5, 3}, want_start[5] = {0, 2, 4, 6, 7};
    assert_int_equal(nb, 4);
    for (int i = 0; i < 7; i++) assert_int_equal(order[i], want_order[i]);
    for (int b = 0; b <= nb; b++) assert_int_equal(start[b], want_start[b]);
    /* batch 1: file order kept within a shape, one image each */
    nb = det_test_batches(w, h, 7, 32, 1, order, start);
    assert_int_equal(nb, 7);
    /* the keep-ratio test size (mmcv rescale_size) */
    int tw, th;
    det_test_size(200, 100, 160, 128, 1, &tw, &th);
    assert_int_equal(tw, 160), assert_int_equal(th, 80);
    det_test_size(100, 150, 160, 128, 1, &tw, &th);
    assert_int_equal(tw, 107), assert_int_equal(th, 160); /* scale min(160 / 150, 128 / 100) */
}

/* What the test batches rely on: detections of an image in a batch of its own padded shape equal those of the
 * image alone, bit for bit (Mona included, whose convolutions see the padding). Random weights, the
 * classification bias at 0 so that every anchor scores about 0.5 and detections exist. */
static void test_batch_independence(void **state) {
    (void)state;
    swin_config bc;
    assert_int_equal(swin_preset("tiny:16:1,1,1,1:1,2,4,8:w4", &bc), 0);
    retinanet_config nc;
    retinanet_config_default(&nc, &bc, VOC_N_CLASSES);
    nc.fpn_channels = nc.feat_channels = 16;
    const method *m = method_find("mona");
    assert_non_null(m);
    retinanet d;
    retinanet_build(&d, &nc, &m->plug);
    retinanet_init(&d, 3);
    /* perturb the adapter weights so that Mona changes the features visibly */
    for (int i = 0; i < d.ps.n; i++)
        if (strstr(d.ps.p[i]->name, "my_module") && strstr(d.ps.p[i]->name, "weight"))
            for (int64_t k = 0; k < d.ps.p[i]->t.n; k++) d.ps.p[i]->t.data[k] += 0.05f * (float)((k * 7919) % 13 - 6);
    param *cb = params_find(&d.ps, "bbox_head.retina_cls.bias");
    assert_non_null(cb);
    for (int64_t k = 0; k < cb->t.n; k++) cb->t.data[k] = 0.0f;
    det_pipeline_cfg c;
    det_pipeline_cfg_default(&c);
    c.scale_long = 96, c.scale_short = 64;
    det_batch b;
    assert_int_equal(det_batch_synthetic_wh(&c, 3, 96, 64, 2, VOC_N_CLASSES, 11, &b), 0);
    graph g;
    graph_init(&g, 1 << 24);
    det_result all[3], one;
    memset(all, 0, sizeof all);
    graph_reset(&g);
    assert_int_equal(retinanet_detect(&d, &g, det_batch_tensor(&g, &b), b.metas, all), 0);
    for (int j = 0; j < 3; j++) {
        det_batch v;
        det_batch_shard_view(&b, j, 3, &v);
        assert_int_equal(det_batch_count(&v), 1);
        memset(&one, 0, sizeof one);
        graph_reset(&g);
        assert_int_equal(retinanet_detect(&d, &g, det_batch_tensor(&g, &v), v.metas, &one), 0);
        assert_true(one.n > 10);
        assert_int_equal(one.n, all[j].n);
        assert_memory_equal(one.scores, all[j].scores, sizeof(float) * one.n);
        assert_memory_equal(one.boxes, all[j].boxes, sizeof(float) * 4 * one.n);
        assert_memory_equal(one.labels, all[j].labels, sizeof(int) * one.n);
        det_result_free(&one);
        det_result_free(&all[j]);
    }
    graph_free(&g);
    det_batch_free(&b);
    retinanet_free(&d);
}

static void test_overfit(void **state) {
    const char *dir = test_tmp_dir("retinanet_overfit");
    char root[1100], path[1100];
    snprintf(root, sizeof root, "%s/VOCdevkit", dir);
    synth_voc_cfg vc = {.n_trainval07 = 2, .n_test07 = 1, .n_trainval12 = 0, .min_side = 96, .max_side = 128, .max_objects = 2, .seed = 3};
    synth_summary sum;
    if (synth_voc_write(root, &vc, &sum)) fail_msg("%s", err_msg());
    snprintf(path, sizeof path, "%s/recipe.json", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "{\"task\": \"det\", \"profile\": \"test\", \"backbone\": \"tiny:32:1,1,1,1:1,2,4,8:w4\", \"img_size\": 128, \"batch\": 2,\n"
            " \"epochs\": %d, \"img_scale\": [128, 128], \"flip_ratio\": 0.0, \"neck_channels\": 32, \"head_channels\": 32,\n"
            " \"optimizer\": {\"type\": \"AdamW\", \"lr\": 1e-3, \"weight_decay\": 0.0001},\n"
            " \"lr_config\": {\"policy\": \"step\", \"step\": [%d]}, \"eval_interval_epochs\": 1000, \"seed\": 1, \"threads\": 2,\n"
            " \"datasets\": [{\"key\": \"voc0712\", \"format\": \"voc\", \"root\": \"%s\", \"train\": [\"VOC2007/trainval\"], \"test\": \"VOC2007/trainval\"}],\n"
            " \"methods\": [\"full\"]}\n",
            getenv("DB_OVERFIT_EPOCHS") ? atoi(getenv("DB_OVERFIT_EPOCHS")) : 300, getenv("DB_OVERFIT_STEP") ? atoi(getenv("DB_OVERFIT_STEP")) : 240, root);
    fclose(f);
    recipe r;
    recipe_vars v = {0};
    if (recipe_load(path, &v, &r)) fail_msg("%s", err_msg());
    char run_dir[1100];
    snprintf(run_dir, sizeof run_dir, "%s/run", dir);
    det_run_spec s = {.r = &r, .ds = &r.datasets[0], .method = "full", .run_dir = run_dir, .quiet = !getenv("DB_VERBOSE")};
    det_run_out o;
    if (det_train_run(&s, &o)) fail_msg("det_train_run: %s", err_msg());
    printf("  overfit: %lld iterations, final loss %.4f, mAP@0.5 %.2f (%.1f s)\n", (long long)o.iters, o.final_loss, o.map, o.wall_s);
    assert_true(o.map >= 90.0);
    recipe_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_goldens),
        cmocka_unit_test(test_pipeline_meta),
        cmocka_unit_test(test_test_batches),
        cmocka_unit_test(test_batch_independence),
        cmocka_unit_test(test_overfit),
    };
    return cmocka_run_group_tests_name("retinanet", tests, NULL, NULL);
}
