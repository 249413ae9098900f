/* test_methods.c - trainable-parameter counts of every method on Swin-T/S/B/L against the table in
 * ../shared/reference/mona_spec.md §4.10 (several rows checked there against the authors' training logs),
 * and the freezing rules on names. */
#include "test_util.h"

#include "../models/swin.h"
#include "../methods/method.h"

static int64_t count(const char *bb, const char *meth, int out_mask) {
    swin_config cfg;
    assert_int_equal(swin_preset(bb, &cfg), 0);
    cfg.out_mask = out_mask;
    params ps;
    params_init(&ps);
    swin s;
    const method *m = method_find(meth);
    assert_non_null(m);
    swin_build(&s, &ps, &cfg, &m->plug);
    int64_t n = params_count(&ps, 1);
    swin_free(&s);
    params_free(&ps);
    return n;
}

static const char *order[] = {"full", "bitfit", "norm_tuning", "partial_1", "mona", "adapter", "adaptformer", "lora", "lorand"};

static void check_row(const char *bb, int mask, const long long *expect) {
    for (int i = 0; i < 9; i++) {
        long long got = (long long)count(bb, order[i], mask);
        if (got != expect[i]) fail_msg("%s %s: %lld trainable, the spec says %lld", bb, order[i], got, expect[i]);
    }
    assert_int_equal(count(bb, "fixed", mask), 0);
}

static void test_counts_spec_table(void **state) {
    (void)state;
    static const long long t[] = {27520698, 76218, 26112, 7091928, 1408128, 1140864, 570432, 1130496, 873408};
    static const long long s[] = {48838602, 151242, 44544, 7091928, 2867328, 2331264, 1165632, 2310144, 1784256};
    static const long long b[] = {86745016, 201656, 59392, 12601632, 3667456, 3107328, 1553664, 3080192, 2370816};
    static const long long l[] = {194998164, 302484, 89088, 28339632, 5267712, 4659456, 2329728, 4620288, 3543936};
    static const long long l13[] = {194997780, 302292, 88704, 28339632, 5267712, 4659456, 2329728, 4620288, 3543936};
    check_row("swin-t", 0xF, t);
    check_row("swin-s", 0xF, s);
    check_row("swin-b", 0xF, b);
    check_row("swin-l", 0xF, l);
    check_row("swin-l", 0xE, l13);
}

static void test_rules(void **state) {
    (void)state;
    const method *bf = method_find("bitfit"), *p1 = method_find("partial_1"), *mo = method_find("mona");
    assert_true(bf->plug.trainable("layers.0.blocks.0.attn.relative_position_bias_table")); /* substring rule */
    assert_false(bf->plug.trainable("layers.0.downsample.reduction.weight"));
    assert_true(p1->plug.trainable("layers.3.blocks.1.mlp.fc2.bias"));
    assert_false(p1->plug.trainable("norm3.weight"));
    assert_true(mo->plug.trainable("layers.1.blocks.0.my_module_2.gamma"));
    assert_false(mo->plug.trainable("layers.1.blocks.0.attn.qkv.weight"));
    assert_null(method_find("no_such_method"));
}

/* frozen_stages = 1 freezes the patch embedding even under full tuning (VOC configs, spec §4.1) */
static void test_frozen_stages(void **state) {
    (void)state;
    swin_config cfg;
    swin_preset("swin-t", &cfg);
    cfg.frozen_stages = 1;
    params ps;
    params_init(&ps);
    swin s;
    swin_build(&s, &ps, &cfg, &method_find("full")->plug);
    assert_false(params_find(&ps, "patch_embed.proj.weight")->trainable);
    assert_false(params_find(&ps, "patch_embed.norm.bias")->trainable);
    assert_true(params_find(&ps, "layers.0.blocks.0.norm1.weight")->trainable);
    assert_int_equal(params_count(&ps, 1), 27520698 - (96 * 3 * 16 + 96 * 3));
    swin_free(&s);
    params_free(&ps);
}

/* free configs: "tiny:<embed>:<depths>:<heads>[:w<window>]"; the relative-position table has (2M-1)^2 rows */
static void test_tiny_spec(void **state) {
    (void)state;
    swin_config cfg;
    assert_int_equal(swin_preset("tiny:32:2,2,2,2:1,2,4,8", &cfg), 0);
    assert_int_equal(cfg.window, 7);
    assert_int_equal(swin_preset("tiny:32:2,2,2,2:1,2,4,8:w4", &cfg), 0);
    assert_int_equal(cfg.window, 4);
    assert_int_equal(cfg.embed_dim, 32);
    assert_int_equal(cfg.num_heads[3], 8);
    params ps;
    params_init(&ps);
    swin s;
    swin_build(&s, &ps, &cfg, &method_find("full")->plug);
    param *p = params_find(&ps, "layers.0.blocks.0.attn.relative_position_bias_table");
    assert_non_null(p);
    const tensor *t = &p->t;
    assert_int_equal(t->shape[0], 7 * 7);
    assert_int_equal(t->shape[1], 1);
    swin_free(&s);
    params_free(&ps);
    assert_int_equal(swin_preset("tiny:32:2,2,2,2:1,2,4,8:x4", &cfg), -1);
    assert_int_equal(swin_preset("tiny:32:2,2,2,2:1,2,4,8:w", &cfg), -1);
    assert_int_equal(swin_preset("tiny:32:2,2,2,2:1,2,4,8:w4x", &cfg), -1);
    assert_int_equal(swin_preset("tiny:32:2,2,2,2:1,2,4,8:w0", &cfg), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_spec_table),
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_frozen_stages),
        cmocka_unit_test(test_tiny_spec),
    };
    return cmocka_run_group_tests_name("methods", tests, NULL, NULL);
}
