/* test_method_opts.c - method specs "name[:key=value...]" (methods/method.h): good specs give the canonical
 * spec and the file-safe key, bad ones an error naming the option and the accepted values; the defaults are
 * the authors' values (../shared/reference/mona_spec.md §2.1, §4.6-4.9); trainable counts under non-default
 * options equal formulas written out here by hand; a spec at its defaults builds exactly the plain method
 * (the one the goldens check); Swin forward + backward under non-default Mona and LoRand options against
 * finite differences. */
#include "test_util.h"

#include "fd_util.h"

#include "../core/checkpoint.h"
#include "../core/common.h"
#include "../methods/method.h"
#include "../models/swin.h"

static void expect_spec(const char *text, const char *spec, const char *key) {
    method_spec sp;
    if (method_spec_parse(text, &sp)) fail_msg("'%s': %s", text, err_msg());
    if (strcmp(sp.spec, spec)) fail_msg("'%s': canonical '%s', expected '%s'", text, sp.spec, spec);
    if (strcmp(sp.key, key)) fail_msg("'%s': key '%s', expected '%s'", text, sp.key, key);
    assert_ptr_equal(sp.plug.ctx, &sp.o);
    for (const char *c = sp.key; *c; c++) /* a directory and HDF5 group name (results.c's valid_key) */
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || strchr("_.-", *c)))
            fail_msg("'%s': key '%s' has '%c'", text, sp.key, *c);
    /* the canonical spec parses to itself */
    method_spec again;
    assert_int_equal(method_spec_parse(sp.spec, &again), 0);
    assert_string_equal(again.spec, sp.spec);
    assert_string_equal(again.key, sp.key);
}

static void test_parse_good(void **state) {
    (void)state;
    expect_spec("mona", "mona:width=64:kernels=3,5,7:scaled_ln=on", "mona");
    expect_spec("mona:width=32", "mona:width=32:kernels=3,5,7:scaled_ln=on", "mona_width32");
    expect_spec("mona:kernels=3,3,3", "mona:width=64:kernels=3,3,3:scaled_ln=on", "mona_kernels3-3-3");
    expect_spec("mona:scaled_ln=off:width=16", "mona:width=16:kernels=3,5,7:scaled_ln=off", "mona_width16_scaled_lnoff");
    expect_spec("mona:scaled_ln=false", "mona:width=64:kernels=3,5,7:scaled_ln=off", "mona_scaled_lnoff");
    /* an option written at its default value leaves the key plain */
    expect_spec("mona:width=64:kernels=3,5,7:scaled_ln=yes", "mona:width=64:kernels=3,5,7:scaled_ln=on", "mona");
    expect_spec("mona:kernels=1", "mona:width=64:kernels=1:scaled_ln=on", "mona_kernels1");
    expect_spec("lora:rank=16", "lora:rank=16:alpha=1", "lora_rank16");
    expect_spec("lora:alpha=0.5", "lora:rank=64:alpha=0.5", "lora_alpha0.5");
    expect_spec("lora:alpha=1e-5", "lora:rank=64:alpha=1e-05", "lora_alpha1e-05");
    expect_spec("lora:alpha=250000", "lora:rank=64:alpha=2.5e+05", "lora_alpha2.5e05"); /* shortest exact form; no + in keys */
    expect_spec("lora:alpha=0.123456789", "lora:rank=64:alpha=0.123456789", "lora_alpha0.123456789"); /* exact, not %g's 6 digits */
    expect_spec("adapter:width=32", "adapter:width=32", "adapter_width32");
    expect_spec("adaptformer", "adaptformer:width=64:scale=0.1", "adaptformer");
    expect_spec("adaptformer:scale=0.10", "adaptformer:width=64:scale=0.1", "adaptformer");
    expect_spec("lorand:factor=4:branches=2", "lorand:branches=2:kernel=8:factor=4", "lorand_branches2_factor4");
    for (int i = 0; i < method_count; i++) {
        const method *m = method_table[i];
        if (m->n_opts) continue;
        expect_spec(m->name, m->name, m->name);
    }
}

static void expect_error(const char *text, const char *needle) {
    method_spec sp;
    err_clear();
    if (method_spec_parse(text, &sp) == 0) fail_msg("'%s' parsed (canonical '%s'), expected an error", text, sp.spec);
    if (!strstr(err_msg(), needle)) fail_msg("'%s': error '%s' lacks '%s'", text, err_msg(), needle);
}

static void test_parse_bad(void **state) {
    (void)state;
    expect_error("", "empty method spec");
    expect_error("nosuch:width=3", "unknown method 'nosuch' in spec 'nosuch:width=3' (methods: full, fixed,");
    expect_error("Mona", "unknown method 'Mona'");
    expect_error("full:width=3", "method 'full' takes no options");
    expect_error("mona:depth=3", "method 'mona': unknown option 'depth' (options: width, kernels, scaled_ln)");
    expect_error("mona:width", "method 'mona': option 'width' needs a value, width=<an integer in 1..4096>");
    expect_error("mona:width=", "option 'width' has an empty value (expected an integer in 1..4096)");
    expect_error("mona:width=abc", "width=abc: 'abc' is not an integer (expected an integer in 1..4096)");
    expect_error("mona:width=3.5", "'3.5' is not an integer");
    expect_error("mona:width= 8", "is not an integer");
    expect_error("mona:width=0", "width=0: 0 is out of range (expected an integer in 1..4096)");
    expect_error("mona:width=5000", "5000 is out of range");
    expect_error("mona:width=8,8", "width=8,8: expected an integer in 1..4096");
    expect_error("mona:kernels=3,4", "kernels=3,4: 4 is out of range (expected 1 to 8 comma-separated integers in 1..15, odd)");
    expect_error("mona:kernels=3,,5", "kernels=3,,5: '' is not an integer");
    expect_error("mona:kernels=3,5,", "'' is not an integer");
    expect_error("mona:kernels=17", "17 is out of range");
    expect_error("mona:kernels=1,3,5,7,9,11,13,15,3", "has more than 8 values");
    expect_error("mona:scaled_ln=maybe", "method 'mona': scaled_ln=maybe: expected on or off");
    expect_error("mona:width=32:width=16", "option 'width' given twice");
    expect_error("mona:", "method 'mona': empty option in spec 'mona:'");
    expect_error("mona::width=8", "empty option");
    expect_error("lora:alpha=nan", "lora': alpha=nan is not a number (expected a number in 1e-06..1e+06)");
    expect_error("lora:alpha=1x", "alpha=1x is not a number");
    expect_error("lora:alpha=0", "alpha=0 is out of range");
    expect_error("lora:rank=1e3", "'1e3' is not an integer");
    expect_error("adaptformer:scale=-1", "scale=-1 is out of range (expected a number in 0..100)");
    expect_error("lorand:branches=9", "9 is out of range (expected an integer in 1..8)");
    char lng[300];
    snprintf(lng, sizeof lng, "mona:width=%0250d", 8);
    expect_error(lng, "characters");
    /* plain names still resolve through method_find */
    assert_non_null(method_find("mona"));
    assert_null(method_find("mona:width=32"));
}

/* the authors' values, from the spec (not from the option tables) */
static void test_defaults_authors(void **state) {
    (void)state;
    method_spec sp;
    assert_int_equal(method_spec_parse("mona", &sp), 0);
    assert_int_equal(sp.o.v[0].i[0], 64);                         /* §2.1 m = 64 */
    assert_int_equal(sp.o.v[1].n, 3);                             /* kernels 3, 5, 7 */
    assert_int_equal(sp.o.v[1].i[0], 3);
    assert_int_equal(sp.o.v[1].i[1], 5);
    assert_int_equal(sp.o.v[1].i[2], 7);
    assert_int_equal(sp.o.v[2].i[0], 1);                          /* scaled LayerNorm */
    assert_int_equal(method_spec_parse("lora", &sp), 0);
    assert_int_equal(sp.o.v[0].i[0], 64);                         /* §4.8 r = 64 */
    assert_true(sp.o.v[1].f == 1.0);                              /* lora_alpha = 1 */
    assert_int_equal(method_spec_parse("adapter", &sp), 0);
    assert_int_equal(sp.o.v[0].i[0], 64);                         /* §4.6 */
    assert_int_equal(method_spec_parse("adaptformer", &sp), 0);
    assert_int_equal(sp.o.v[0].i[0], 64);                         /* §4.7 */
    assert_true((float)sp.o.v[1].f == 0.1f);
    assert_int_equal(method_spec_parse("lorand", &sp), 0);
    assert_int_equal(sp.o.v[0].i[0], 4);                          /* §4.9 num_branch 4 */
    assert_int_equal(sp.o.v[1].i[0], 8);                          /* kernel_dim 8 */
    assert_int_equal(sp.o.v[2].i[0], 2);                          /* factor 2 */
    /* every table's default parses and lies in its range (method_opts_default aborts otherwise), and the
     * describe text names the range */
    for (int i = 0; i < method_count; i++) {
        const method *m = method_table[i];
        assert_true(m->n_opts <= METHOD_MAX_OPTS);
        method_opts o;
        method_opts_default(m, &o);
        for (int k = 0; k < m->n_opts; k++) {
            char d[160];
            method_opt_describe(&m->opts[k], d, sizeof d);
            assert_true(strlen(d) > 0);
            assert_non_null(m->opts[k].help);
        }
    }
}

static int64_t count_spec(const char *bb, const char *text) {
    swin_config cfg;
    assert_int_equal(swin_preset(bb, &cfg), 0);
    method_spec sp;
    if (method_spec_parse(text, &sp)) fail_msg("%s", err_msg());
    params ps;
    params_init(&ps);
    swin s;
    swin_build(&s, &ps, &cfg, &sp.plug);
    int64_t n = params_count(&ps, 1);
    swin_free(&s);
    params_free(&ps);
    return n;
}

/* Hand formulas per block of channel width C, summed over Swin-T's blocks (C = 96 << stage, depths 2,2,6,2). */
typedef int64_t (*per_block_fn)(int64_t C, const int *a);
static int64_t over_swin_t(per_block_fn f, const int *a) {
    static const int depth[4] = {2, 2, 6, 2};
    int64_t t = 0;
    for (int s = 0; s < 4; s++) t += depth[s] * f(96 << s, a);
    return t;
}
/* a = {W, scaled_ln, n_k, k...}: two units of W C + W (project1) + W C + C (project2) + sum (W k^2 + W)
 * (depthwise) + W W + W (projector) + 4 C (LN, gamma, gammax) */
static int64_t mona_block(int64_t C, const int *a) {
    int64_t W = a[0], u = W * C + W + W * C + C + W * W + W + (a[1] ? 4 * C : 0);
    for (int i = 0; i < a[2]; i++) u += W * a[3 + i] * a[3 + i] + W;
    return 2 * u;
}
static int64_t lora_block(int64_t C, const int *a) { return 2 * a[0] * C + 2 * C * a[0]; } /* A (2r, C), B (2C, r) */
static int64_t adapter_block(int64_t C, const int *a) { return 2 * (2 * a[0] * C + a[0] + C); }
static int64_t adaptformer_block(int64_t C, const int *a) { return 2 * a[0] * C + a[0] + C; }
/* a = {branches, k, factor}: two modules, each C -> h -> C with h = C / factor */
static int64_t lorand_block(int64_t C, const int *a) {
    int64_t nb = a[0], k = a[1], h = C / a[2];
    int64_t p1 = nb * (C * k + k * k + k * h) + h, p2 = nb * (h * k + k * k + k * C) + C;
    return 2 * (p1 + p2);
}

static void check_count(const char *text, per_block_fn f, const int *a) {
    int64_t got = count_spec("swin-t", text), want = over_swin_t(f, a);
    if (got != want) fail_msg("swin-t %s: %lld trainable, the formula says %lld", text, (long long)got, (long long)want);
}

static void test_counts_formula(void **state) {
    (void)state;
    /* the formulas at the defaults give the spec's §4.10 Swin-T row */
    assert_int_equal(over_swin_t(mona_block, (int[]){64, 1, 3, 3, 5, 7}), 1408128);
    assert_int_equal(over_swin_t(lora_block, (int[]){64}), 1130496);
    assert_int_equal(over_swin_t(adapter_block, (int[]){64}), 1140864);
    assert_int_equal(over_swin_t(adaptformer_block, (int[]){64}), 570432);
    assert_int_equal(over_swin_t(lorand_block, (int[]){4, 8, 2}), 873408);
    check_count("mona", mona_block, (int[]){64, 1, 3, 3, 5, 7});
    check_count("mona:width=32", mona_block, (int[]){32, 1, 3, 3, 5, 7});
    check_count("mona:kernels=3,3,3", mona_block, (int[]){64, 1, 3, 3, 3, 3});
    check_count("mona:scaled_ln=off", mona_block, (int[]){64, 0, 3, 3, 5, 7});
    check_count("mona:width=16:kernels=1,5,9,11:scaled_ln=off", mona_block, (int[]){16, 0, 4, 1, 5, 9, 11});
    check_count("lora:rank=16", lora_block, (int[]){16});
    check_count("lora:rank=1:alpha=4", lora_block, (int[]){1});
    check_count("adapter:width=32", adapter_block, (int[]){32});
    check_count("adaptformer:width=8:scale=1", adaptformer_block, (int[]){8});
    check_count("lorand:branches=2:kernel=4:factor=4", lorand_block, (int[]){2, 4, 4});
    check_count("lorand:factor=1", lorand_block, (int[]){4, 8, 1});
    /* methods without modules are unchanged */
    assert_int_equal(count_spec("swin-t", "bitfit"), 76218);
}

/* A spec at its defaults builds the plain method bit for bit: the same parameters (names, shapes, order,
 * trainable flags) and the same initial values, so the backbone goldens (tests/test_golden.c, which build the
 * plain rows) cover it. */
static void test_default_spec_is_plain(void **state) {
    (void)state;
    static const char *specs[] = {"mona:width=64:kernels=3,5,7:scaled_ln=on", "lora:rank=64:alpha=1", "adapter:width=64",
                                  "adaptformer:width=64:scale=0.1", "lorand:branches=4:kernel=8:factor=2"};
    swin_config cfg;
    assert_int_equal(swin_preset("tiny:8:1,1,1,1:1,1,2,2", &cfg), 0);
    for (int k = 0; k < 5; k++) {
        method_spec sp;
        assert_int_equal(method_spec_parse(specs[k], &sp), 0);
        params a, b;
        params_init(&a);
        params_init(&b);
        swin sa, sb;
        swin_build(&sa, &a, &cfg, &sp.m->plug);
        swin_build(&sb, &b, &cfg, &sp.plug);
        params_alloc(&a);
        params_alloc(&b);
        rng_t ra, rb;
        rng_seed(&ra, 5);
        rng_seed(&rb, 5);
        swin_init(&sa, &ra);
        swin_init(&sb, &rb);
        assert_int_equal(a.n, b.n);
        for (int i = 0; i < a.n; i++) {
            assert_string_equal(a.p[i]->name, b.p[i]->name);
            assert_int_equal(a.p[i]->trainable, b.p[i]->trainable);
            assert_int_equal(a.p[i]->t.n, b.p[i]->t.n);
            assert_memory_equal(a.p[i]->t.data, b.p[i]->t.data, sizeof(float) * a.p[i]->t.n);
        }
        swin_free(&sa);
        swin_free(&sb);
        params_free(&a);
        params_free(&b);
    }
}

/* ---- delta checkpoints record the spec; loading under another spec fails naming both ----------- */
typedef struct built {
    method_spec sp;
    params ps;
    swin s;
} built;

static void build(built *b, const char *text) {
    swin_config cfg;
    assert_int_equal(swin_preset("tiny:8:1,1,1,1:1,1,2,2", &cfg), 0);
    if (method_spec_parse(text, &b->sp)) fail_msg("%s", err_msg());
    params_init(&b->ps);
    swin_build(&b->s, &b->ps, &cfg, &b->sp.plug);
    params_alloc(&b->ps);
    rng_t r;
    rng_seed(&r, 3);
    swin_init(&b->s, &r);
}
static void unbuild(built *b) {
    swin_free(&b->s);
    params_free(&b->ps);
}

static void expect_load(const char *path, const char *text, const char *needle) {
    built b;
    build(&b, text);
    err_clear();
    int rc = method_load_delta(path, &b.ps, &b.sp, NULL);
    if (!needle && rc) fail_msg("%s under '%s': %s", path, text, err_msg());
    if (needle && !rc) fail_msg("%s loaded under '%s', expected an error", path, text);
    if (needle && !strstr(err_msg(), needle)) fail_msg("%s under '%s': '%s' lacks '%s'", path, text, err_msg(), needle);
    unbuild(&b);
}

static void test_delta_spec(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("method_opts");
    char p1[1100], p2[1100], p3[1100];
    snprintf(p1, sizeof p1, "%s/lora_alpha2.safetensors", dir);
    snprintf(p2, sizeof p2, "%s/mona_plain.safetensors", dir);
    snprintf(p3, sizeof p3, "%s/no_method.safetensors", dir);
    built b;
    build(&b, "lora:alpha=2");
    char meta[300];
    snprintf(meta, sizeof meta, "{\"method\": \"%s\"}", b.sp.spec);
    assert_int_equal(ckpt_save_delta(p1, &b.ps, meta), 0);
    assert_int_equal(ckpt_save_delta(p3, &b.ps, "{\"dataset\": \"x\"}"), 0);
    unbuild(&b);
    build(&b, "mona");
    assert_int_equal(ckpt_save_delta(p2, &b.ps, "{\"method\": \"mona\"}"), 0); /* written before specs: the plain name */
    unbuild(&b);
    expect_load(p1, "lora:alpha=2", NULL);
    expect_load(p1, "lora:alpha=2:rank=64", NULL); /* the same canonical spec */
    /* the same shapes, another spec: only the recorded spec tells */
    expect_load(p1, "lora", "a delta checkpoint of method 'lora:rank=64:alpha=2', this model is built with 'lora:rank=64:alpha=1'");
    expect_load(p1, "lora:rank=8", "this model is built with 'lora:rank=8:alpha=1'");
    expect_load(p2, "mona", NULL);
    expect_load(p2, "mona:width=32", "a delta checkpoint of method 'mona:width=64:kernels=3,5,7:scaled_ln=on'");
    expect_load(p3, "lora:alpha=2", "records no method (expected 'lora:rank=64:alpha=2')");
    /* and a correct load restores the values */
    built a, c;
    build(&a, "lora:alpha=2");
    for (int i = 0; i < a.ps.n; i++)
        if (a.ps.p[i]->trainable)
            for (int64_t j = 0; j < a.ps.p[i]->t.n; j++) a.ps.p[i]->t.data[j] = (float)(j % 7) - 3.0f;
    assert_int_equal(ckpt_save_delta(p1, &a.ps, meta), 0);
    build(&c, "lora:alpha=2");
    assert_int_equal(method_load_delta(p1, &c.ps, &c.sp, NULL), 0);
    for (int i = 0; i < a.ps.n; i++)
        if (a.ps.p[i]->trainable) assert_memory_equal(a.ps.p[i]->t.data, c.ps.p[i]->t.data, sizeof(float) * a.ps.p[i]->t.n);
    unbuild(&a);
    unbuild(&c);
}

/* ---- finite differences through a tiny Swin under non-default options -------------------------- */
static int swin_fwd(graph *g, fd_case *c, tensor **out) {
    swin_outputs o;
    swin_forward(c->user, g, c->leaf[0], &o);
    int n = 0;
    for (int i = 0; i < SWIN_STAGES; i++)
        if (o.out[i]) out[n++] = o.out[i];
    return n;
}

static void swin_opts_fd(const char *text, const char *const *check, int ncheck, int B, int H, int W) {
    swin_config cfg;
    assert_int_equal(swin_preset("tiny:8:1,1,1,1:1,1,2,2", &cfg), 0);
    cfg.drop_path_rate = 0.2f;
    method_spec sp;
    if (method_spec_parse(text, &sp)) fail_msg("%s", err_msg());
    params ps;
    params_init(&ps);
    swin s;
    swin_build(&s, &ps, &cfg, &sp.plug);
    params_alloc(&ps);
    rng_t r;
    rng_seed(&r, 42);
    swin_init(&s, &r);
    char name[256];
    snprintf(name, sizeof name, "swin tiny %s", sp.spec);
    fd_case c = fd_case_new(name, swin_fwd);
    c.user = &s;
    c.training = 1; /* dropout and drop path on, the same masks in every evaluation */
    c.seed = 99;
    /* a whole network in float32: larger steps and a looser tolerance than one op (as test_ops' swin cases) */
    c.h = 3e-2f;
    c.h_elem = 0.25f;
    c.tol = 2e-2f;
    c.elem_max = 4;
    c.ndir = 2;
    fd_add(&c, FD_LEAF(FD_ACT_GRAD, 1.0f, B, 3, H, W));
    for (int i = 0; i < ncheck; i++) {
        param *p = params_find(&ps, check[i]);
        if (!p) fail_msg("%s: no parameter %s", text, check[i]);
        assert_true(p->trainable);
        fd_add(&c, &p->t);
    }
    fd_run(&c);
    for (int i = 0; i < ps.n; i++)
        if (!ps.p[i]->trainable) assert_null(ps.p[i]->t.grad);
    swin_free(&s);
    params_free(&ps);
    fd_free_leaves();
}

static void test_fd_mona_opts(void **state) {
    (void)state;
    rng_seed(&fd_rng, 21);
    static const char *const check[] = {
        "layers.0.blocks.0.my_module_1.project1.weight",
        "layers.0.blocks.0.my_module_2.adapter_conv.conv1.weight", /* 1x1 */
        "layers.1.blocks.0.my_module_1.adapter_conv.conv2.weight", /* 5x5 */
        "layers.2.blocks.0.my_module_2.adapter_conv.projector.weight",
        "layers.3.blocks.0.my_module_2.project2.bias",
    };
    swin_opts_fd("mona:width=8:kernels=1,5:scaled_ln=off", check, 5, 2, 30, 26);
}

/* LoRand is not zero-initialised, so the first stage's modules get gradients ~1e-4 of the loss's scale, below
 * what float32 differences resolve: the leaves are taken from the later stages. */
static void test_fd_lorand_opts(void **state) {
    (void)state;
    rng_seed(&fd_rng, 22);
    static const char *const check[] = {
        "layers.3.blocks.0.lorand2.project1.param_dict.A1",
        "layers.2.blocks.0.lorand1.project2.param_dict.B0",
        "layers.3.blocks.0.lorand1.project2.param_dict.g1",
        "layers.1.blocks.0.lorand2.project2.param_dict.g1",
        "layers.3.blocks.0.lorand1.project2.bias",
    };
    swin_opts_fd("lorand:branches=2:kernel=3:factor=4", check, 5, 2, 28, 28);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good),       cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_defaults_authors), cmocka_unit_test(test_counts_formula),
        cmocka_unit_test(test_default_spec_is_plain), cmocka_unit_test(test_delta_spec),
        cmocka_unit_test(test_fd_mona_opts),
        cmocka_unit_test(test_fd_lorand_opts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
