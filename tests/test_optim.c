/* test_optim.c - AdamW against torch.optim.AdamW (golden/adamw.h5), SGD (plain, momentum, nesterov) and
 * gradient clipping against hand-computed values, mmcv parameter-group rules on the recipes of
 * mona_spec.md §6, and the mmcv learning-rate schedules against values worked out from their formulas. */
#include "test_util.h"

#include <cJSON.h>

#include "../core/common.h"
#include "../core/h5io.h"
#include "../core/optim.h"
#include "../core/optim_golden.h"
#include "../core/params.h"
#include "../core/schedule.h"

/* ---------------- AdamW golden ---------------- */

static void test_adamw_golden(void **state) {
    (void)state;
    hid_t f = h5_open_read(test_shared_path("golden/adamw.h5"));
    if (f < 0) fail_msg("%s", err_msg());
    char schema[64];
    assert_int_equal(h5_attr_str(f, "/", "schema", schema, sizeof schema), 0);
    assert_string_equal(schema, "golden-adamw/1");
    double lr, b1, b2, eps, wd[2];
    int64_t steps;
    assert_int_equal(h5_attr_f64(f, "/", "lr", &lr, 1), 1);
    assert_int_equal(h5_attr_f64(f, "/", "beta1", &b1, 1), 1);
    assert_int_equal(h5_attr_f64(f, "/", "beta2", &b2, 1), 1);
    assert_int_equal(h5_attr_f64(f, "/", "eps", &eps, 1), 1);
    assert_int_equal(h5_attr_f64(f, "/", "weight_decay", wd, 2), 2);
    assert_int_equal(h5_attr_i64(f, "/", "steps", &steps, 1), 1);

    const char *names[2] = {"p", "q"};
    params ps;
    params_init(&ps);
    float *init[2];
    int64_t numel[2];
    for (int k = 0; k < 2; k++) {
        char path[64];
        int nd;
        int64_t sh[8];
        snprintf(path, sizeof path, "%s/initial", names[k]);
        init[k] = h5_read_f32(f, path, &nd, sh);
        assert_non_null(init[k]);
        int shape[8];
        numel[k] = 1;
        for (int d = 0; d < nd; d++) {
            shape[d] = (int)sh[d];
            numel[k] *= sh[d];
        }
        params_add(&ps, names[k], nd, shape);
    }
    /* a frozen parameter between them: it must be left untouched and get no state */
    int fs[1] = {3};
    params_add(&ps, "frozen", 1, fs);
    params_set_trainable(&ps, "frozen", 0);
    params_alloc(&ps);
    /* two groups: base weight decay wd[0], the second group's as a multiplier */
    params_find(&ps, "p")->decay_mult = 1.0f;
    params_find(&ps, "q")->decay_mult = (float)(wd[1] / wd[0]);
    for (int k = 0; k < 2; k++) memcpy(params_find(&ps, names[k])->t.data, init[k], sizeof(float) * numel[k]);
    float *fr = params_find(&ps, "frozen")->t.data;
    fr[0] = 1, fr[1] = 2, fr[2] = 3;

    optim o;
    assert_int_equal(optim_adamw_init(&o, &ps, lr, b1, b2, eps, wd[0]), 0);
    assert_int_equal(o.n, numel[0] + numel[1]);
    double worst = 0;
    for (int64_t s = 0; s < steps; s++) {
        for (int k = 0; k < 2; k++) {
            char path[64];
            int nd;
            int64_t sh[8];
            snprintf(path, sizeof path, "%s/grad%ld", names[k], (long)s);
            float *g = h5_read_f32(f, path, &nd, sh);
            assert_non_null(g);
            memcpy(params_find(&ps, names[k])->t.grad, g, sizeof(float) * numel[k]);
            free(g);
        }
        optim_step(&o, lr);
        for (int k = 0; k < 2; k++) {
            char path[64];
            int nd;
            int64_t sh[8];
            snprintf(path, sizeof path, "%s/after%ld", names[k], (long)s);
            float *ref = h5_read_f32(f, path, &nd, sh);
            assert_non_null(ref);
            double e = test_rel_err(params_find(&ps, names[k])->t.data, ref, numel[k]);
            if (e > 1e-5) fail_msg("AdamW %s step %ld: rel err %g > 1e-5", names[k], (long)s, e);
            if (e > worst) worst = e;
            free(ref);
        }
    }
    print_message("AdamW vs torch (adamw.h5): largest relative error %.3g over %ld steps\n", worst, (long)steps);
    assert_int_equal(o.step, steps);
    assert_true(fr[0] == 1 && fr[1] == 2 && fr[2] == 3);
    optim_free(&o);
    for (int k = 0; k < 2; k++) free(init[k]);
    params_free(&ps);
    h5_close(f);
}

/* the same file through optim_golden_run, the code path of `deltabench golden` */
static void test_adamw_golden_run(void **state) {
    (void)state;
    optim_golden_result r;
    if (optim_golden_run(test_shared_path("golden/adamw.h5"), &r, NULL)) fail_msg("%s", err_msg());
    assert_int_equal(r.n_groups, 2);
    assert_string_equal(r.group[0], "p");
    assert_string_equal(r.group[1], "q");
    assert_int_equal(r.steps, 3);
    assert_true(r.weight_decay[0] == 0.05 && r.weight_decay[1] == 0.0);
    if (!(r.worst <= 1e-5)) fail_msg("AdamW golden: worst rel err %g > 1e-5", r.worst);
    assert_int_equal(optim_golden_run(test_shared_path("golden/backbone_full.h5"), &r, NULL), -1);
    assert_non_null(strstr(err_msg(), "golden-adamw/1"));
}

/* ---------------- SGD and clipping, by hand ---------------- */

static void two_param_store(params *ps) {
    params_init(ps);
    int s[1] = {2};
    params_add(ps, "w", 1, s);
    params_alloc(ps);
}

static void run_sgd(int nesterov, double momentum, float out[2][2]) {
    params ps;
    two_param_store(&ps);
    ps.train[0] = 1, ps.train[1] = -2;
    optim o;
    optim_cfg c = optim_cfg_sgd(0.1, momentum, 0.01, nesterov);
    assert_int_equal(optim_init(&o, &ps, &c), 0);
    for (int s = 0; s < 2; s++) {
        ps.grad[0] = 0.5f, ps.grad[1] = 1.0f;
        optim_step(&o, 0.1);
        out[s][0] = ps.train[0];
        out[s][1] = ps.train[1];
    }
    optim_free(&o);
    params_free(&ps);
}

static void test_sgd_hand(void **state) {
    (void)state;
    float r[2][2];
    /* momentum 0.9, wd 0.01, lr 0.1, p0 = (1, -2), g = (0.5, 1) twice:
     * d1 = g + wd p = (0.51, 0.98); buf = d1; p1 = (0.949, -2.098)
     * d2 = (0.50949, 0.97902); buf = 0.9*d1 + d2 = (0.96849, 1.86102); p2 = (0.852151, -2.284102) */
    run_sgd(0, 0.9, r);
    assert_float_equal(r[0][0], 0.949, 1e-6);
    assert_float_equal(r[0][1], -2.098, 1e-6);
    assert_float_equal(r[1][0], 0.852151, 1e-6);
    assert_float_equal(r[1][1], -2.284102, 1e-6);
    /* nesterov: p1 = p0 - 0.1*(d1 + 0.9 d1) = (0.9031, -2.1862); d2 = (0.509031, 0.978138);
     * buf = (0.968031, 1.860138); p2 = p1 - 0.1*(d2 + 0.9 buf) = (0.76507411, -2.45142622) */
    run_sgd(1, 0.9, r);
    assert_float_equal(r[0][0], 0.9031, 1e-6);
    assert_float_equal(r[0][1], -2.1862, 1e-6);
    assert_float_equal(r[1][0], 0.76507411, 1e-6);
    assert_float_equal(r[1][1], -2.45142622, 1e-6);
    /* no momentum: p1 = (0.949, -2.098); p2 = p1 - 0.1*(0.50949, 0.97902) = (0.898051, -2.195902) */
    run_sgd(0, 0.0, r);
    assert_float_equal(r[1][0], 0.898051, 1e-6);
    assert_float_equal(r[1][1], -2.195902, 1e-6);
    /* invalid configurations are errors, not crashes */
    params ps;
    two_param_store(&ps);
    optim o;
    optim_cfg c = optim_cfg_sgd(0.1, 0.0, 0.0, 1);
    assert_int_equal(optim_init(&o, &ps, &c), -1);
    assert_non_null(strstr(err_msg(), "nesterov"));
    c = optim_cfg_adamw(-1, 0);
    assert_int_equal(optim_init(&o, &ps, &c), -1);
    params_free(&ps);
}

static void test_clip_grad_norm(void **state) {
    (void)state;
    params ps;
    params_init(&ps);
    int s1[1] = {1}, s2[1] = {1};
    params_add(&ps, "a", 1, s1);
    params_add(&ps, "frozen", 1, s2);
    params_add(&ps, "b", 1, s2);
    params_set_trainable(&ps, "frozen", 0);
    params_alloc(&ps);
    ps.grad[0] = 3, ps.grad[1] = 4; /* total norm 5 */
    assert_float_equal(optim_clip_grad_norm(&ps, 10.0), 5.0, 1e-12);
    assert_true(ps.grad[0] == 3 && ps.grad[1] == 4); /* below max_norm: untouched */
    assert_float_equal(optim_clip_grad_norm(&ps, 1.0), 5.0, 1e-12);
    /* coef = 1 / (5 + 1e-6) */
    assert_float_equal(ps.grad[0], 3.0 / (5.0 + 1e-6), 1e-7);
    assert_float_equal(ps.grad[1], 4.0 / (5.0 + 1e-6), 1e-7);
    /* max_norm exactly the norm: coef = 5/(5+1e-6) < 1, torch scales (slightly) too */
    ps.grad[0] = 3, ps.grad[1] = 4;
    optim_clip_grad_norm(&ps, 5.0);
    assert_float_equal(ps.grad[0], 3.0 * 5.0 / (5.0 + 1e-6), 1e-7);
    params_free(&ps);
}

/* ---------------- parameter groups ---------------- */

static void add(params *ps, const char *name, int nd, int d0, int d1, int d2, int d3) {
    int s[4] = {d0, d1, d2, d3};
    params_add(ps, name, nd, s);
}

static void mini_store(params *ps, const char *pre) {
    char n[256];
    params_init(ps);
#define A(name, ...) (snprintf(n, sizeof n, "%s%s", pre, name), add(ps, n, __VA_ARGS__))
    A("patch_embed.proj.weight", 4, 4, 3, 4, 4);
    A("patch_embed.proj.bias", 1, 4, 0, 0, 0);
    A("patch_embed.norm.weight", 1, 4, 0, 0, 0);
    A("patch_embed.norm.bias", 1, 4, 0, 0, 0);
    A("layers.0.blocks.0.norm1.weight", 1, 4, 0, 0, 0);
    A("layers.0.blocks.0.attn.relative_position_bias_table", 2, 169, 2, 0, 0);
    A("layers.0.blocks.0.attn.qkv.weight", 2, 12, 4, 0, 0);
    A("layers.0.blocks.0.attn.qkv.bias", 1, 12, 0, 0, 0);
    A("layers.0.blocks.0.mlp.fc1.weight", 2, 16, 4, 0, 0);
    A("layers.0.blocks.0.my_module_1.norm.weight", 1, 4, 0, 0, 0);
    A("layers.0.blocks.0.my_module_1.norm.bias", 1, 4, 0, 0, 0);
    A("layers.0.blocks.0.my_module_1.gamma", 1, 4, 0, 0, 0);
    A("layers.0.blocks.0.my_module_1.project1.weight", 2, 64, 4, 0, 0);
    A("layers.0.blocks.0.my_module_1.project1.bias", 1, 64, 0, 0, 0);
    A("layers.0.blocks.0.my_module_1.adapter_conv.conv1.weight", 4, 64, 1, 3, 3);
    A("layers.0.blocks.0.my_module_1.adapter_conv.conv1.bias", 1, 64, 0, 0, 0);
    A("layers.0.blocks.0.my_module_1.adapter_conv.projector.weight", 4, 64, 64, 1, 1);
    A("layers.0.blocks.0.my_module_1.adapter_conv.projector.bias", 1, 64, 0, 0, 0);
#undef A
    snprintf(n, sizeof n, "%slayers.0.blocks.0.mlp.fc1.weight", pre);
    params_set_trainable(ps, n, 0);
    params_alloc(ps);
}

static void expect(const params *ps, const char *pre, const char *name, double lr_mult, double decay_mult) {
    char n[256];
    snprintf(n, sizeof n, "%s%s", pre, name);
    const param *p = params_find(ps, n);
    if (!p) fail_msg("no parameter %s", n);
    if (p->lr_mult != (float)lr_mult || p->decay_mult != (float)decay_mult)
        fail_msg("%s: lr_mult %g decay_mult %g, expected %g %g", n, p->lr_mult, p->decay_mult, lr_mult, decay_mult);
}

static void test_param_groups_cls(void **state) {
    (void)state;
    /* classification recipe (§6.4): norm_decay_mult 0, bias_decay_mult 0, .absolute_pos_embed and
     * .relative_position_bias_table decay 0; dwconv rule is x1 and wins over the bias rule */
    const char *cfg = "{\"norm_decay_mult\": 0.0, \"bias_decay_mult\": 0.0, \"custom_keys\": "
                      "{\".absolute_pos_embed\": {\"decay_mult\": 0.0}, "
                      "\".relative_position_bias_table\": {\"decay_mult\": 0.0}}}";
    cJSON *j = cJSON_Parse(cfg);
    assert_non_null(j);
    pg_rules r;
    assert_int_equal(pg_rules_from_json(&r, j, "cls.json"), 0);
    cJSON_Delete(j);
    params ps;
    mini_store(&ps, "");
    pg_apply(&ps, &r, "backbone.");
    const char *e = "";
    expect(&ps, e, "patch_embed.proj.weight", 1, 1);
    expect(&ps, e, "patch_embed.proj.bias", 1, 0);
    expect(&ps, e, "patch_embed.norm.weight", 1, 0);
    expect(&ps, e, "patch_embed.norm.bias", 1, 0);
    expect(&ps, e, "layers.0.blocks.0.norm1.weight", 1, 0);
    expect(&ps, e, "layers.0.blocks.0.attn.relative_position_bias_table", 1, 0);
    expect(&ps, e, "layers.0.blocks.0.attn.qkv.weight", 1, 1);
    expect(&ps, e, "layers.0.blocks.0.attn.qkv.bias", 1, 0);
    expect(&ps, e, "layers.0.blocks.0.my_module_1.norm.weight", 1, 0);
    expect(&ps, e, "layers.0.blocks.0.my_module_1.gamma", 1, 1);
    expect(&ps, e, "layers.0.blocks.0.my_module_1.project1.weight", 1, 1);
    expect(&ps, e, "layers.0.blocks.0.my_module_1.project1.bias", 1, 0);
    expect(&ps, e, "layers.0.blocks.0.my_module_1.adapter_conv.conv1.weight", 1, 1);
    expect(&ps, e, "layers.0.blocks.0.my_module_1.adapter_conv.conv1.bias", 1, 1); /* dwconv, not bias */
    expect(&ps, e, "layers.0.blocks.0.my_module_1.adapter_conv.projector.bias", 1, 0); /* 1x1 conv: bias rule */
    /* frozen parameters are left alone */
    expect(&ps, e, "layers.0.blocks.0.mlp.fc1.weight", 1, 1);
    params_free(&ps);
    pg_rules_free(&r);
}

static void test_param_groups_mmcv_keys(void **state) {
    (void)state;
    /* ADE20K Mona (§6.3): 'backbone' (lr 1) is longer than 'norm' and matches every backbone
     * parameter first, so Mona's LN keeps full decay; the baseline recipe without it gives norms 0. */
    pg_rules r;
    pg_rules_init(&r);
    pg_rules_add_key(&r, "absolute_pos_embed", 1, 0);
    pg_rules_add_key(&r, "relative_position_bias_table", 1, 0);
    pg_rules_add_key(&r, "norm", 1, 0);
    params ps;
    mini_store(&ps, "backbone.");
    pg_apply(&ps, &r, NULL);
    const char *b = "backbone.";
    expect(&ps, b, "layers.0.blocks.0.my_module_1.norm.weight", 1, 0);
    expect(&ps, b, "patch_embed.norm.bias", 1, 0);
    expect(&ps, b, "layers.0.blocks.0.attn.relative_position_bias_table", 1, 0);
    expect(&ps, b, "layers.0.blocks.0.attn.qkv.bias", 1, 1); /* no bias rule in this recipe */
    pg_rules_add_key(&r, "backbone", 1, 1);
    pg_apply(&ps, &r, NULL);
    expect(&ps, b, "layers.0.blocks.0.my_module_1.norm.weight", 1, 1);
    expect(&ps, b, "patch_embed.norm.bias", 1, 1);
    /* relative_position_bias_table (27 chars) is longer than backbone: still decay 0 */
    expect(&ps, b, "layers.0.blocks.0.attn.relative_position_bias_table", 1, 0);
    params_free(&ps);
    pg_rules_free(&r);

    /* ties in length: alphabetical order decides ("0.no" < "norm", both 4 chars, both in norm1.weight) */
    pg_rules_init(&r);
    pg_rules_add_key(&r, "norm", 3, 0.5);
    pg_rules_add_key(&r, "0.no", 2, 0.25);
    mini_store(&ps, "");
    pg_apply(&ps, &r, NULL);
    expect(&ps, "", "layers.0.blocks.0.norm1.weight", 2, 0.25);
    expect(&ps, "", "layers.0.blocks.0.my_module_1.norm.weight", 3, 0.5); /* "1.norm": no "0.no" */
    pg_rules_add_key(&r, "norm1", 4, 0); /* longer: tried first */
    pg_apply(&ps, &r, NULL);
    expect(&ps, "", "layers.0.blocks.0.norm1.weight", 4, 0);
    expect(&ps, "", "patch_embed.norm.weight", 3, 0.5);
    params_free(&ps);
    pg_rules_free(&r);

    /* bias_lr_mult applies to biases of non-norm modules only */
    pg_rules_init(&r);
    r.bias_lr_mult = 2;
    mini_store(&ps, "");
    pg_apply(&ps, &r, NULL);
    expect(&ps, "", "patch_embed.proj.bias", 2, 1);
    expect(&ps, "", "patch_embed.norm.bias", 1, 1);
    params_free(&ps);
    pg_rules_free(&r);

    /* bad configurations name the field */
    cJSON *j = cJSON_Parse("{\"norm_decay\": 0}");
    assert_int_equal(pg_rules_from_json(&r, j, "x.json"), -1);
    assert_non_null(strstr(err_msg(), "norm_decay"));
    cJSON_Delete(j);
}

/* ---------------- schedules (mmcv LrUpdaterHook) ---------------- */

#define LR_EQ(a, b) assert_true(fabs((a) - (b)) <= 1e-12 * fabs(b) + 1e-18)

static void test_sched_step_coco(void **state) {
    (void)state;
    /* COCO 3x (§6.1): step at epochs 27 and 33, 500-iteration linear warm-up ratio 0.001 */
    cJSON *j = cJSON_Parse("{\"policy\": \"step\", \"warmup\": \"linear\", \"warmup_iters\": 500, "
                           "\"warmup_ratio\": 0.001, \"step\": [27, 33]}");
    sched s;
    assert_int_equal(sched_from_json(&s, j, 1000, 36, 36000, "coco"), 0);
    cJSON_Delete(j);
    double b = 1e-4;
    LR_EQ(sched_lr_at(&s, b, 0), 1e-4 * 0.001);            /* 1 - (1-0)(1-0.001) */
    LR_EQ(sched_lr_at(&s, b, 250), 1e-4 * 0.5005);          /* 1 - 0.5*0.999 */
    LR_EQ(sched_lr_at(&s, b, 499), 1e-4 * (1 - 0.002 * 0.999));
    LR_EQ(sched_lr_at(&s, b, 500), 1e-4);
    LR_EQ(sched_lr_at(&s, b, 26999), 1e-4);
    LR_EQ(sched_lr_at(&s, b, 27000), 1e-5);
    LR_EQ(sched_lr_at(&s, b, 32999), 1e-5);
    LR_EQ(sched_lr_at(&s, b, 33000), 1e-6);
    LR_EQ(sched_lr_at(&s, b, 35999), 1e-6);

    /* step by iteration with an int period and a floor */
    sched_init(&s);
    s.policy = SCHED_STEP;
    s.by_epoch = 0;
    s.n_steps = 1;
    s.step_is_period = 1;
    s.steps[0] = 10;
    s.gamma = 0.5;
    assert_int_equal(sched_validate(&s, "t"), 0);
    LR_EQ(sched_lr_at(&s, 1.0, 9), 1.0);
    LR_EQ(sched_lr_at(&s, 1.0, 25), 0.25);
    s.has_min_lr = 1;
    s.min_lr = 0.3;
    LR_EQ(sched_lr_at(&s, 1.0, 25), 0.3);
}

static void test_sched_cosine_poly(void **state) {
    (void)state;
    /* classification (§6.4): cosine by iteration, min_lr_ratio 1e-2, linear warm-up of 20 epochs
     * (10 iterations per epoch -> 200 iterations), ratio 1e-3, 1000 iterations. Base lr 1. */
    cJSON *j = cJSON_Parse("{\"policy\": \"CosineAnnealing\", \"by_epoch\": false, \"min_lr_ratio\": 0.01, "
                           "\"warmup\": \"linear\", \"warmup_ratio\": 0.001, \"warmup_iters\": 20, "
                           "\"warmup_by_epoch\": true}");
    sched s;
    assert_int_equal(sched_from_json(&s, j, 10, 100, 1000, "cls"), 0);
    cJSON_Delete(j);
    assert_int_equal(sched_warmup_iters(&s), 200);
    /* regular(100) = 0.01 + 0.495*(cos(0.1 pi) + 1) = 0.9757729755661011; times 1 - 0.5*0.999 */
    LR_EQ(sched_lr_at(&s, 1.0, 100), 0.4883743742708335);
    LR_EQ(sched_regular_lr(&s, 1.0, 100), 0.9757729755661011);
    LR_EQ(sched_lr_at(&s, 1.0, 500), 0.505);
    LR_EQ(sched_lr_at(&s, 1.0, 1000), 0.01);
    LR_EQ(sched_lr_at(&s, 1.0, 0), 0.001); /* cos(0) = 1: regular 1, warm-up factor 0.001 */

    /* cosine by epoch with an absolute min_lr: base 1e-3, min 1e-6, epoch 30 of 100 (iter 213, 7/epoch) */
    sched_init(&s);
    s.policy = SCHED_COSINE;
    s.iters_per_epoch = 7;
    s.max_epochs = 100;
    s.has_min_lr = 1;
    s.min_lr = 1e-6;
    assert_int_equal(sched_validate(&s, "t"), 0);
    LR_EQ(sched_lr_at(&s, 1e-3, 213), 0.0007940987335200905);
    LR_EQ(sched_lr_at(&s, 1e-3, 216), 0.0007940987335200905); /* same epoch */

    /* ADE20K (§6.3): poly power 1, min_lr 0, by iteration, 1500-iteration warm-up ratio 1e-6, 160k */
    j = cJSON_Parse("{\"policy\": \"poly\", \"power\": 1.0, \"min_lr\": 0.0, \"by_epoch\": false, "
                    "\"warmup\": \"linear\", \"warmup_iters\": 1500, \"warmup_ratio\": 1e-6}");
    assert_int_equal(sched_from_json(&s, j, 0, 0, 160000, "ade"), 0);
    cJSON_Delete(j);
    LR_EQ(sched_lr_at(&s, 3e-4, 0), 3e-4 * 1e-6);
    LR_EQ(sched_lr_at(&s, 3e-4, 750), 0.000149297024296875); /* 3e-4*(1-750/160000)*(1-0.5*(1-1e-6)) */
    LR_EQ(sched_lr_at(&s, 3e-4, 1500), 3e-4 * 0.990625);
    LR_EQ(sched_lr_at(&s, 3e-4, 160000), 0.0);
    /* poly power 0.9 with a floor: (1e-2 - 1e-4)*0.5^0.9 + 1e-4 */
    s.power = 0.9;
    s.min_lr = 1e-4;
    LR_EQ(sched_regular_lr(&s, 1e-2, 80000), 0.005405278639554652);

    /* exp and constant warm-ups on a fixed schedule */
    sched_init(&s);
    s.by_epoch = 0;
    s.warmup = WARMUP_EXP;
    s.warmup_iters = 10;
    s.warmup_ratio = 0.1;
    LR_EQ(sched_lr_at(&s, 1.0, 4), 0.251188643150958); /* 0.1^(1-0.4) */
    s.warmup = WARMUP_CONSTANT;
    LR_EQ(sched_lr_at(&s, 1.0, 4), 0.1);
    LR_EQ(sched_lr_at(&s, 1.0, 10), 1.0);

    /* errors */
    j = cJSON_Parse("{\"policy\": \"CosineAnnealing\", \"by_epoch\": false}");
    assert_int_equal(sched_from_json(&s, j, 10, 1, 10, "bad.json"), -1);
    assert_non_null(strstr(err_msg(), "min_lr"));
    cJSON_Delete(j);
    j = cJSON_Parse("{\"policy\": \"OneCycle\"}");
    assert_int_equal(sched_from_json(&s, j, 10, 1, 10, "bad.json"), -1);
    assert_non_null(strstr(err_msg(), "OneCycle"));
    cJSON_Delete(j);
}

static void test_sched_optim_step(void **state) {
    (void)state;
    /* per-group schedules: with an absolute min_lr the group with lr_mult 2 is not simply 2x */
    params ps;
    params_init(&ps);
    int s1[1] = {1};
    params_add(&ps, "a", 1, s1);
    params_add(&ps, "b", 1, s1);
    params_alloc(&ps);
    params_find(&ps, "b")->lr_mult = 2;
    sched s;
    sched_init(&s);
    s.policy = SCHED_POLY;
    s.by_epoch = 0;
    s.max_iters = 10;
    s.has_min_lr = 1;
    s.min_lr = 0.1;
    optim o;
    optim_cfg c = optim_cfg_sgd(1.0, 0, 0, 0);
    assert_int_equal(optim_init(&o, &ps, &c), 0);
    ps.grad[0] = 1, ps.grad[1] = 1;
    sched_optim_step(&o, &s, 5);
    /* a: (1-0.1)*0.5+0.1 = 0.55; b: (2-0.1)*0.5+0.1 = 1.05 */
    assert_float_equal(ps.train[0], -0.55, 1e-7);
    assert_float_equal(ps.train[1], -1.05, 1e-7);
    optim_free(&o);
    params_free(&ps);
}

static void test_optim_cfg_json(void **state) {
    (void)state;
    cJSON *j = cJSON_Parse("{\"type\": \"AdamW\", \"lr\": 0.0001, \"betas\": [0.9, 0.999], \"weight_decay\": 0.05, "
                           "\"paramwise_cfg\": {\"custom_keys\": {\"norm\": {\"decay_mult\": 0.0}}}}");
    optim_cfg c;
    pg_rules r;
    assert_int_equal(optim_cfg_from_json(&c, &r, j, "coco.json"), 0);
    cJSON_Delete(j);
    assert_int_equal(c.kind, OPTIM_ADAMW);
    assert_true(c.lr == 1e-4 && c.weight_decay == 0.05 && c.beta2 == 0.999 && c.eps == 1e-8);
    assert_int_equal(r.n_keys, 1);
    assert_string_equal(r.keys[0].key, "norm");
    assert_true(r.keys[0].decay_mult == 0.0 && r.keys[0].lr_mult == 1.0);
    pg_rules_free(&r);
    j = cJSON_Parse("{\"type\": \"SGD\", \"lr\": 0.01, \"momentum\": 0.9, \"weight_decay\": 0.0001}");
    assert_int_equal(optim_cfg_from_json(&c, NULL, j, "x.json"), 0);
    cJSON_Delete(j);
    assert_true(c.kind == OPTIM_SGD && c.momentum == 0.9 && c.weight_decay == 1e-4 && !c.nesterov);
    j = cJSON_Parse("{\"type\": \"SGD\", \"lr\": 0.01, \"betas\": [0.9, 0.99]}");
    assert_int_equal(optim_cfg_from_json(&c, NULL, j, "x.json"), -1);
    assert_non_null(strstr(err_msg(), "betas"));
    cJSON_Delete(j);
    j = cJSON_Parse("{\"type\": \"Adam\"}");
    assert_int_equal(optim_cfg_from_json(&c, NULL, j, "x.json"), -1);
    assert_non_null(strstr(err_msg(), "x.json"));
    cJSON_Delete(j);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adamw_golden),       cmocka_unit_test(test_adamw_golden_run),       cmocka_unit_test(test_sgd_hand),
        cmocka_unit_test(test_clip_grad_norm),     cmocka_unit_test(test_param_groups_cls),
        cmocka_unit_test(test_param_groups_mmcv_keys), cmocka_unit_test(test_sched_step_coco),
        cmocka_unit_test(test_sched_cosine_poly),  cmocka_unit_test(test_sched_optim_step),
        cmocka_unit_test(test_optim_cfg_json),
    };
    return cmocka_run_group_tests_name("optim", tests, NULL, NULL);
}
