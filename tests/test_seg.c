/* test_seg.c - the ADE20K segmentation task end to end on small synthetic sets written in the ADEChallengeData2016
 * layout and read back by the real reader: mmseg's train pipeline (crop size, label values, determinism), UperNet's
 * evaluation mode (BN from the running statistics: an image's logits do not depend on what else is in the batch),
 * training a small UperNet on the shared trainer (the iteration-based runner, poly schedule) until it fits its
 * training images (mIoU computed by mmseg's mean_iou code well above chance), the written predictions scored again
 * from the PNG files by `deltabench eval seg`'s code to the stored numbers, and kill-and-resume giving bit-identical
 * results (the BatchNorm running statistics travel in the state and the delta). */
#include "test_util.h"

#include <math.h>

#include <cJSON.h>

#include "../core/checkpoint.h"
#include "../core/optim.h"
#include "../datasets/seg_pipeline.h"
#include "../datasets/synth_dense.h"
#include "../experiments/recipe.h"
#include "../experiments/train_seg.h"
#include "../methods/method.h"
#include "../metrics/seg_eval.h"
#include "../models/seg/upernet.h"

static void write_set(const char *dir, int n_train, int n_val, int n_classes, char *root, size_t n) {
    synth_ade_cfg c = {.n_train = n_train, .n_val = n_val, .min_side = 64, .max_side = 96, .max_objects = 3, .n_classes = n_classes, .seed = 7};
    synth_summary sum;
    if (synth_ade20k_write(dir, &c, &sum)) fail_msg("%s", err_msg());
    snprintf(root, n, "%s/ADEChallengeData2016", dir);
}

static void test_pipeline(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("seg_pipeline");
    char root[1200];
    write_set(dir, 4, 2, 8, root, sizeof root);
    ade20k_dataset ds;
    if (ade20k_open(root, "training", 0, &ds, NULL)) fail_msg("%s", err_msg());
    assert_int_equal(ds.n, 4);
    seg_pipeline_cfg c;
    seg_pipeline_cfg_default(&c);
    c.scale_long = 128, c.scale_short = 64, c.crop = 48;
    int idx[2] = {2, 0};
    seg_batch a, b;
    if (seg_batch_load_train(&ds, &c, idx, 2, 11, &a) || seg_batch_load_train(&ds, &c, idx, 2, 11, &b)) fail_msg("%s", err_msg());
    assert_int_equal(a.n, 2);
    assert_int_equal(a.H, 48);
    assert_int_equal(a.W, 48);
    assert_memory_equal(a.images, b.images, sizeof(float) * 2 * 3 * 48 * 48); /* same seed, same batch */
    assert_memory_equal(a.labels, b.labels, 2 * 48 * 48);
    int seen = 0;
    for (int i = 0; i < 2 * 48 * 48; i++) {
        assert_true(a.labels[i] < 8 || a.labels[i] == 255); /* reduce_zero_label: 0 -> 255, k -> k - 1 */
        seen |= a.labels[i] != 255;
    }
    assert_true(seen);
    seg_batch_free(&b);
    if (seg_batch_load_train(&ds, &c, idx, 2, 12, &b)) fail_msg("%s", err_msg());
    assert_true(memcmp(a.images, b.images, sizeof(float) * 2 * 3 * 48 * 48) != 0); /* another draw */
    seg_batch_free(&a), seg_batch_free(&b);
    /* the test batch: the image resized to fit (128, 64), the label map at the original size */
    if (seg_batch_load_test(&ds, &c, 1, &a)) fail_msg("%s", err_msg());
    image lab;
    if (seg_read_label(ds.labels[1], 1, 8, &lab)) fail_msg("%s", err_msg());
    assert_int_equal(a.ori_w, lab.w);
    assert_int_equal(a.ori_h, lab.h);
    assert_memory_equal(a.labels, lab.data, (size_t)lab.w * lab.h);
    int nw, nh;
    dense_rescale_size(lab.w, lab.h, 128, 64, &nw, &nh);
    assert_int_equal(a.W, nw);
    assert_int_equal(a.H, nh);
    image_free(&lab);
    seg_batch_free(&a);
    /* a one-image training set cannot fill a batch of two (mmseg drops the last partial batch) */
    int *order, n_out;
    assert_int_equal(seg_sampler(1, 2, 0, 0, &order, &n_out), -1);
    assert_non_null(strstr(err_msg(), "batch"));
    ade20k_close(&ds);
}

/* evaluation mode: BN uses the running statistics, so image 0's logits are the same alone and beside image 1 */
static void test_eval_batch_independent(void **state) {
    (void)state;
    swin_config sc;
    if (swin_preset("tiny:8:1,1,1,1:1,1,2,2:w2", &sc)) fail_msg("%s", err_msg());
    upernet_config nc;
    upernet_config_default(&nc, &sc, 5);
    nc.channels = 8, nc.aux_channels = 8;
    upernet m;
    upernet_build(&m, &nc, &method_find("full")->plug);
    upernet_init(&m, 3);
    for (int i = 0; i < m.ps.n_buffers; i++) /* running statistics away from their (0, 1) start */
        for (int64_t k = 0; k < m.ps.b[i]->t.n; k++)
            m.ps.b[i]->t.data[k] = strstr(m.ps.b[i]->name, "running_var") ? 0.5f + 0.01f * (float)(k % 7) : 0.1f * (float)(k % 5) - 0.2f;
    graph g;
    graph_init(&g, 16 << 20);
    g.training = 0, g.grad_mode = 0;
    rng_t r;
    rng_seed(&r, 9);
    int S = 32;
    size_t plane = (size_t)3 * S * S;
    float *img = malloc(sizeof(float) * 2 * plane);
    for (size_t i = 0; i < 2 * plane; i++) img[i] = rng_uniform(&r) * 2 - 1;
    tensor *x1 = tensor_new4(&g, 1, 3, S, S, 0);
    memcpy(x1->data, img, sizeof(float) * plane);
    tensor *y1 = upernet_logits(&m, &g, x1, S, S);
    size_t ny = (size_t)5 * S * S;
    float *keep = malloc(sizeof(float) * ny);
    memcpy(keep, y1->data, sizeof(float) * ny);
    graph_reset(&g);
    tensor *x2 = tensor_new4(&g, 2, 3, S, S, 0);
    memcpy(x2->data, img, sizeof(float) * 2 * plane);
    tensor *y2 = upernet_logits(&m, &g, x2, S, S);
    double md = 0, mx = 0;
    for (size_t i = 0; i < ny; i++) md = fmax(md, fabs(y2->data[i] - keep[i])), mx = fmax(mx, fabs(keep[i]));
    printf("  eval: max |logit alone - logit in a batch of 2| = %.3g (max |logit| %.3g)\n", md, mx);
    assert_true(mx > 0);
    assert_true(md <= 1e-5 * mx);
    /* and the training mode does depend on the batch (batch statistics): the check above can fail */
    graph_reset(&g);
    g.training = 1;
    tensor *y3 = upernet_logits(&m, &g, x2, S, S);
    double md3 = 0;
    for (size_t i = 0; i < ny; i++) md3 = fmax(md3, fabs(y3->data[i] - keep[i]));
    assert_true(md3 > 1e-3 * mx);
    free(img), free(keep);
    graph_free(&g);
    upernet_free(&m);
}

static void write_recipe(const char *path, const char *root, int iters, int eval_every, double lr, const char *method, const char *test) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "{\"task\": \"ade20k\", \"profile\": \"test\", \"description\": \"test\", \"backbone\": \"tiny:16:1,1,1,1:1,2,4,8:w4\",\n"
            " \"pretrained\": \"\", \"runner\": \"iter\", \"max_iters\": %d, \"eval_interval_iters\": %d, \"img_size\": 64,\n"
            " \"img_scale\": [96, 64], \"ratio_range\": [0.75, 1.25], \"crop_size\": 64, \"cat_max_ratio\": 0.75, \"flip_ratio\": 0.5,\n"
            " \"photometric\": true, \"num_classes\": 8, \"decode_channels\": 24, \"aux_channels\": 16, \"dropout_ratio\": 0.1,\n"
            " \"batch\": 2, \"threads\": 2, \"drop_path_rate\": 0.1,\n"
            " \"optimizer\": {\"type\": \"AdamW\", \"lr\": %g, \"weight_decay\": 0.01},\n"
            " \"paramwise_cfg\": {\"custom_keys\": {\"relative_position_bias_table\": {\"decay_mult\": 0.0}, \"norm\": {\"decay_mult\": 0.0}}},\n"
            " \"lr_config\": {\"policy\": \"poly\", \"power\": 1.0, \"min_lr\": 0.0, \"by_epoch\": false, \"warmup\": \"linear\",\n"
            "               \"warmup_iters\": 5, \"warmup_ratio\": 1e-6},\n"
            " \"checkpoint_interval_iters\": 1, \"seed\": 5,\n"
            " \"datasets\": [{\"key\": \"ade20k\", \"format\": \"ade20k\", \"root\": \"%s\", \"train\": \"training\", \"test\": \"%s\"}],\n"
            " \"methods\": [\"%s\"]}\n",
            iters, eval_every, lr, root, test, method);
    fclose(f);
}

/* a kill at any iteration and a resume give the same final loss, metrics and delta (running statistics included)
 * as the uninterrupted run */
static void test_seg_resume(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("seg_resume");
    char root[1200], rpath[1300];
    write_set(dir, 4, 2, 8, root, sizeof root);
    snprintf(rpath, sizeof rpath, "%s/ade_resume.json", dir);
    write_recipe(rpath, root, 7, 3, 1e-3, "mona", "validation");
    recipe r;
    if (recipe_load(rpath, &(recipe_vars){0}, &r)) fail_msg("%s", err_msg());
    const char *names[3] = {"ref", "mid", "end"};
    int stops[3] = {0, 5, 2}; /* 2 iterations an epoch: 5 stops inside epoch 3, 2 at the end of epoch 1 */
    seg_run_out out[3];
    for (int k = 0; k < 3; k++) {
        char rd[1400];
        snprintf(rd, sizeof rd, "%s/%s", dir, names[k]);
        seg_run_spec s = {.r = &r, .ds = &r.datasets[0], .method = "mona", .run_dir = rd, .results_key = names[k], .data_desc = "test",
                          .quiet = 1, .stop_after_iters = stops[k]};
        if (seg_train_run(&s, &out[k])) fail_msg("%s: %s", names[k], err_msg());
        if (stops[k]) {
            assert_int_equal(out[k].stopped, 1);
            assert_int_equal(out[k].iters, stops[k]);
            s.stop_after_iters = 0;
            s.resume = 1;
            if (seg_train_run(&s, &out[k])) fail_msg("%s resumed: %s", names[k], err_msg());
        }
        assert_int_equal(out[k].stopped, 0);
        assert_int_equal(out[k].iters, 7); /* iteration-based: max_iters, over 4 epochs of 2 iterations */
        printf("  %s: final loss %.9g, mIoU %.6f (best %.6f at %lld)\n", names[k], out[k].final_loss, out[k].miou, out[k].best_miou,
               (long long)out[k].best_iter);
        if (k) {
            assert_memory_equal(&out[k].final_loss, &out[0].final_loss, sizeof(double));
            assert_memory_equal(&out[k].miou, &out[0].miou, sizeof(double));
            char a[1500], b[1500];
            snprintf(a, sizeof a, "%s/ref/delta.safetensors", dir);
            snprintf(b, sizeof b, "%s/delta.safetensors", rd);
            size_t na = 0, nb = 0;
            char *x = file_read_all(a, &na), *y = file_read_all(b, &nb);
            assert_non_null(x);
            assert_non_null(y);
            assert_int_equal(na, nb);
            assert_memory_equal(x, y, na);
            assert_non_null(memmem(x, na, "decode_head.bottleneck.bn.running_var", 37)); /* the buffers are in the delta */
            free(x), free(y);
        }
    }
    recipe_free(&r);
}

/* training fits the training images; the stored mIoU equals the one scored again from the written PNG predictions */
static void test_seg_fit_and_preds(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("seg_fit");
    char root[1200], rpath[1300], rd[1300], preds[1400], gt[1400];
    write_set(dir, 4, 2, 4, root, sizeof root);
    snprintf(rpath, sizeof rpath, "%s/ade_fit.json", dir);
    int iters = getenv("DB_SEG_FIT_ITERS") ? atoi(getenv("DB_SEG_FIT_ITERS")) : 200;
    write_recipe(rpath, root, iters, 0, 2e-3, "full", "training"); /* evaluated on its training images */
    recipe r;
    if (recipe_load(rpath, &(recipe_vars){0}, &r)) fail_msg("%s", err_msg());
    snprintf(rd, sizeof rd, "%s/run", dir);
    snprintf(preds, sizeof preds, "%s/preds", rd);
    seg_run_spec s = {.r = &r, .ds = &r.datasets[0], .method = "full", .run_dir = rd, .data_desc = "test", .quiet = !getenv("DB_VERBOSE"),
                      .preds_dir = preds};
    seg_run_out o;
    if (seg_train_run(&s, &o)) fail_msg("%s", err_msg());
    printf("  fit: %lld iterations, final loss %.4f, mIoU %.2f mAcc %.2f aAcc %.2f (%.1f s)\n", (long long)o.iters, o.final_loss, o.miou,
           o.macc, o.aacc, o.wall_s);
    assert_true(o.aacc >= 75.0); /* chance: about 25 (4 classes, the largest about a third) */
    assert_true(o.miou >= 50.0);
    /* `deltabench eval seg --gt annotations/training --pred preds --classes 8 --reduce-zero-label` */
    snprintf(gt, sizeof gt, "%s/annotations/training", root);
    seg_eval ev;
    seg_eval_init(&ev, 8, 255, 1);
    int n = 0;
    if (seg_eval_dirs(&ev, gt, preds, ".png", &n)) fail_msg("%s", err_msg());
    assert_int_equal(n, 4);
    printf("  from the PNG files: mIoU %.6f (stored %.6f)\n", 100.0 * ev.miou, o.miou);
    assert_true(fabs(100.0 * ev.miou - o.miou) < 1e-9);
    assert_true(fabs(100.0 * ev.aacc - o.aacc) < 1e-9);
    seg_eval_free(&ev);
    recipe_free(&r);
}


/* the paper profile as the released configs have it: iteration-based 160k, the per-method differences, and
 * Mona's extra "backbone" custom key matched as mmcv matches it (longest key first, on "backbone.<name>") */
static void test_paper_recipe(void **state) {
    (void)state;
    const char *path = "experiments/recipes/ade20k_paper.json"; /* the tests run from the repository root */
    recipe r;
    recipe_vars v = {.data_root = "/data", .pretrained = "swin_large_patch4_window7_224_22k.pth", .cache = "cache"};
    if (recipe_load(path, &v, &r)) fail_msg("%s", err_msg());
    assert_int_equal(r.iter_based, 1);
    assert_int_equal(r.max_iters, 160000);
    assert_int_equal(r.eval_interval_iters, 16000);
    assert_int_equal(r.batch, 16);
    assert_true(fabs(r.lr - 6e-5) < 1e-12);
    assert_true(fabs(r.lr * recipe_lr_mult(&r, "mona", "ade20k") - 3e-4) < 1e-12);
    assert_true(recipe_lr_mult(&r, "full", "ade20k") == 1.0);
    const cJSON *dp = seg_per_method(&r, "drop_path", "mona", "mona");
    assert_true(cJSON_IsNumber(dp) && fabs(dp->valuedouble - 0.2) < 1e-12);
    assert_null(seg_per_method(&r, "drop_path", "full", "full"));
    assert_true(fabs(r.drop_path - 0.3) < 1e-12);
    const cJSON *hn = seg_per_method(&r, "head_norm", "lora", "lora");
    assert_true(cJSON_IsString(hn) && !strcmp(hn->valuestring, "BN"));
    assert_null(seg_per_method(&r, "head_norm", "mona", "mona"));
    /* decay multipliers on a small Mona UperNet: the baselines' rules give Mona's LayerNorm decay 0, Mona's own
     * rules (the "backbone" key) give it full decay; the relative position tables get 0 under both */
    swin_config sc;
    if (swin_preset("tiny:8:1,1,1,1:1,1,2,2:w2", &sc)) fail_msg("%s", err_msg());
    upernet_config nc;
    upernet_config_default(&nc, &sc, 150);
    nc.channels = 8, nc.aux_channels = 8;
    method_spec sp;
    if (method_spec_parse("mona", &sp)) fail_msg("%s", err_msg());
    upernet m;
    upernet_build(&m, &nc, &sp.plug);
    const char *keep[2] = {"decode_head.", "auxiliary_head."};
    const cJSON *pw[2] = {r.paramwise, seg_per_method(&r, "paramwise", "mona", "mona")};
    assert_non_null(pw[0]);
    assert_non_null(pw[1]);
    for (int k = 0; k < 2; k++) {
        pg_rules rules;
        if (pg_rules_from_json(&rules, pw[k], path)) fail_msg("%s", err_msg());
        pg_apply_ex(&m.ps, &rules, "backbone.", keep, 2);
        int n_ln = 0, n_table = 0, n_head = 0;
        for (int i = 0; i < m.ps.n; i++) {
            const param *p = m.ps.p[i];
            if (!p->trainable) continue;
            if (strstr(p->name, "my_module") && strstr(p->name, "norm.")) n_ln++, assert_true(p->decay_mult == (k ? 1.0f : 0.0f));
            if (strstr(p->name, "relative_position_bias_table")) n_table++, assert_true(p->decay_mult == 0.0f);
            if (!strncmp(p->name, "decode_head.", 12)) n_head++, assert_true(p->decay_mult == 1.0f); /* no key matches "bn" */
        }
        assert_true(n_ln > 0 && n_head > 0);
        pg_rules_free(&rules);
    }
    upernet_free(&m);
    recipe_free(&r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipeline),
        cmocka_unit_test(test_paper_recipe),
        cmocka_unit_test(test_eval_batch_independent),
        cmocka_unit_test(test_seg_resume),
        cmocka_unit_test(test_seg_fit_and_preds),
    };
    return cmocka_run_group_tests_name("seg", tests, NULL, NULL);
}
