/* test_checkpoint.c - checkpoint reading and writing: the golden Swin checkpoints (.pth written by
 * torch.save, and .safetensors) load into a store declared from backbone_full.h5 and equal its params/
 * exactly, with the unexpected/missing report the golden README describes; small torch.save fixtures
 * (tests/fixtures/ckpt, made by make_fixtures.py with python3-torch) cover nesting, prefixes, strides,
 * offsets, shared storages, dtypes, pickle protocols 2/4/5 and non-tensor entries; corrupt and
 * truncated files fail with errors; delta and training-state checkpoints round-trip bit-exactly. */
#include "test_util.h"

#include <zip.h>

#include "../core/checkpoint.h"
#include "../core/common.h"
#include "../core/h5io.h"
#include "../core/optim.h"
#include "../core/params.h"

#define FIX "tests/fixtures/ckpt/"

/* ---------------- golden checkpoints ---------------- */

typedef struct {
    params ps;
    char **names;
    float **ref;
    int n;
    int depths[4];
} golden;

static void golden_load(golden *g, int freeze_odd) {
    hid_t f = h5_open_read(test_shared_path("golden/backbone_full.h5"));
    if (f < 0) fail_msg("%s", err_msg());
    int64_t dep[4];
    assert_int_equal(h5_attr_i64(f, "/", "depths", dep, 4), 4);
    for (int i = 0; i < 4; i++) g->depths[i] = (int)dep[i];
    g->n = h5_list_datasets(f, "params", &g->names);
    assert_true(g->n > 0);
    g->ref = xcalloc((size_t)g->n, sizeof(float *));
    params_init(&g->ps);
    for (int i = 0; i < g->n; i++) {
        char path[512];
        snprintf(path, sizeof path, "params/%s", g->names[i]);
        int nd;
        int64_t sh[8];
        g->ref[i] = h5_read_f32(f, path, &nd, sh);
        assert_non_null(g->ref[i]);
        int shape[8];
        for (int d = 0; d < nd; d++) shape[d] = (int)sh[d];
        params_add(&g->ps, g->names[i], nd, shape);
        if (freeze_odd && (i % 2)) params_set_trainable(&g->ps, g->names[i], 0);
    }
    params_alloc(&g->ps);
    h5_close(f);
}

static void golden_free(golden *g) {
    for (int i = 0; i < g->n; i++) free(g->ref[i]);
    free(g->ref);
    h5_free_strings(g->names, g->n);
    params_free(&g->ps);
}

static int in_list(char **l, int n, const char *s) {
    for (int i = 0; i < n; i++)
        if (strcmp(l[i], s) == 0) return 1;
    return 0;
}

static void check_golden_file(const char *rel) {
    golden g;
    golden_load(&g, 1);
    ckpt_tensors sd;
    const char *path = test_shared_path(rel);
    char pathc[4096];
    snprintf(pathc, sizeof pathc, "%s", path);
    if (ckpt_load_state_dict(pathc, &sd)) fail_msg("%s", err_msg());
    /* missing norm0..3 is an error unless allowed */
    ckpt_report rep;
    ckpt_apply_opts strict = {NULL, NULL, 0};
    assert_int_equal(ckpt_apply_ex(&g.ps, &sd, pathc, &strict, &rep), -1);
    assert_non_null(strstr(err_msg(), "missing keys in source state_dict: norm0."));
    assert_non_null(strstr(err_msg(), pathc));
    ckpt_report_free(&rep);
    ckpt_apply_opts lax = {NULL, NULL, 1};
    if (ckpt_apply_ex(&g.ps, &sd, pathc, &lax, &rep)) fail_msg("%s", err_msg());

    /* the report: exactly what the golden README lists */
    int nb = 0;
    for (int s = 0; s < 4; s++) nb += g.depths[s];
    assert_int_equal(rep.n_unexpected, nb + 4);
    for (int s = 0; s < 4; s++)
        for (int b = 0; b < g.depths[s]; b++) {
            char k[128];
            snprintf(k, sizeof k, "layers.%d.blocks.%d.attn.relative_position_index", s, b);
            if (!in_list(rep.unexpected, rep.n_unexpected, k)) fail_msg("%s: %s not reported as unexpected", rel, k);
        }
    const char *extra[4] = {"norm.weight", "norm.bias", "head.weight", "head.bias"};
    for (int i = 0; i < 4; i++) assert_true(in_list(rep.unexpected, rep.n_unexpected, extra[i]));
    assert_int_equal(rep.n_missing, 8);
    assert_int_equal(rep.n_missing_in_scope, 8);
    for (int i = 0; i < 4; i++) {
        char w[32], b[32];
        snprintf(w, sizeof w, "norm%d.weight", i);
        snprintf(b, sizeof b, "norm%d.bias", i);
        assert_true(in_list(rep.missing, rep.n_missing, w));
        assert_true(in_list(rep.missing, rep.n_missing, b));
    }
    assert_int_equal(rep.n_mismatch, 0);
    assert_int_equal(rep.n_loaded, g.n - 8);
    char *txt = ckpt_report_str(&rep);
    assert_non_null(strstr(txt, "The model and loaded state dict do not match exactly\n\nunexpected key in source "
                                "state_dict: layers.0.blocks.0.attn.relative_position_index, "));
    assert_non_null(strstr(txt, "\n\nmissing keys in source state_dict: norm0.bias, norm0.weight, norm1.bias"));
    free(txt);

    /* every loaded tensor equals params/<name> exactly, in the frozen and the trainable block */
    for (int i = 0; i < g.n; i++) {
        const param *p = params_find(&g.ps, g.names[i]);
        if (in_list(rep.missing, rep.n_missing, g.names[i])) continue;
        if (memcmp(p->t.data, g.ref[i], sizeof(float) * (size_t)p->t.n) != 0)
            fail_msg("%s: %s differs from backbone_full.h5", rel, g.names[i]);
    }
    /* and each source tensor of the file was used or reported */
    assert_int_equal(rep.n_loaded + rep.n_unexpected, sd.n);
    ckpt_report_free(&rep);
    ckpt_tensors_free(&sd);
    golden_free(&g);
}

static void test_golden_pth(void **state) {
    (void)state;
    check_golden_file("golden/swin_golden_official.pth");
}

static void test_golden_safetensors(void **state) {
    (void)state;
    check_golden_file("golden/swin_golden.safetensors");
}

/* ---------------- torch.save fixtures ---------------- */

static const ckpt_tensor *need_t(const ckpt_tensors *sd, const char *name, const char *dtype, int ndim) {
    const ckpt_tensor *t = ckpt_tensors_find(sd, name);
    if (!t) fail_msg("tensor %s not read", name);
    assert_string_equal(t->dtype, dtype);
    assert_int_equal(t->ndim, ndim);
    return t;
}

static void check_mixed(const ckpt_tensors *sd, const char *pre) {
    char n[128];
#define T(name, dt, nd) (snprintf(n, sizeof n, "%s%s", pre, name), need_t(sd, n, dt, nd))
    const ckpt_tensor *t = T("a.weight", "F32", 2);
    assert_int_equal(t->shape[0], 2);
    assert_int_equal(t->shape[1], 3);
    for (int i = 0; i < 6; i++) assert_true(t->data[i] == 0.5f * i); /* arange(6).reshape(2,3)*0.5 */
    t = T("b.weight", "F32", 2);                                      /* arange(6).reshape(2,3).t() */
    assert_int_equal(t->shape[0], 3);
    assert_int_equal(t->shape[1], 2);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 2; c++) assert_true(t->data[r * 2 + c] == (float)(c * 3 + r));
    t = T("c.bias", "F32", 1); /* (arange(10)+100)[2:5] */
    assert_int_equal(t->n, 3);
    for (int i = 0; i < 3; i++) assert_true(t->data[i] == 102.0f + i);
    t = T("c.other", "F32", 1); /* (arange(10)+100)[::3] */
    assert_int_equal(t->n, 4);
    for (int i = 0; i < 4; i++) assert_true(t->data[i] == 100.0f + 3 * i);
    t = T("h16", "F16", 1);
    float h[6] = {1.5f, -2.25f, 65504.0f, ldexpf(1, -14), ldexpf(1, -24), 3 * ldexpf(1, -24)};
    for (int i = 0; i < 6; i++) assert_true(t->data[i] == h[i]);
    t = T("bf16", "BF16", 1);
    assert_true(t->data[0] == 1.5f && t->data[1] == -3.0f && t->data[2] == ldexpf(1, 100));
    t = T("f64", "F64", 2);
    assert_true(t->data[0] == (float)0.1 && t->data[1] == (float)-1e-3);
    t = T("i64", "I64", 1);
    assert_true(t->data[0] == -3 && t->data[1] == 7 && t->data[2] == ldexpf(1, 40));
    t = T("i32", "I32", 1);
    assert_true(t->data[0] == -5 && t->data[1] == 6);
    t = T("i16", "I16", 1);
    assert_true(t->data[0] == -7);
    t = T("i8", "I8", 1);
    assert_true(t->data[0] == -128 && t->data[1] == 127);
    t = T("u8", "U8", 1);
    assert_true(t->data[0] == 0 && t->data[1] == 255);
    t = T("flag", "BOOL", 1);
    assert_true(t->data[0] == 1 && t->data[1] == 0);
    t = T("scalar", "F32", 0);
    assert_int_equal(t->n, 1);
    assert_true(t->data[0] == 2.5f);
    t = T("empty", "F32", 2);
    assert_int_equal(t->n, 0);
    assert_int_equal(t->shape[1], 3);
    T("num_batches_tracked", "I64", 0);
#undef T
    assert_int_equal(sd->n, 16);
    assert_int_equal(sd->n_skipped, 3); /* step, tag, sizes */
}

static void test_pth_fixtures(void **state) {
    (void)state;
    ckpt_tensors sd;
    if (ckpt_load_state_dict(FIX "mmcv_nested.pth", &sd)) fail_msg("%s", err_msg());
    check_mixed(&sd, "backbone.");
    ckpt_tensors_free(&sd);
    if (ckpt_load_state_dict(FIX "model_proto4.pth", &sd)) fail_msg("%s", err_msg());
    check_mixed(&sd, "");
    ckpt_tensors_free(&sd);
    if (ckpt_load_state_dict(FIX "parameters_proto5.pth", &sd)) fail_msg("%s", err_msg());
    assert_int_equal(sd.n, 2);
    const ckpt_tensor *w = need_t(&sd, "w", "F32", 2), *v = need_t(&sd, "v", "F32", 1);
    for (int i = 0; i < 4; i++) assert_true(w->data[i] == i - 1.0f);
    for (int i = 0; i < 3; i++) assert_true(v->data[i] == 0.25f);
    ckpt_tensors_free(&sd);
    /* a tensor subclass: _rebuild_from_type_v2 wrapping _rebuild_tensor_v2; arange(3)*2 */
    if (ckpt_load_state_dict(FIX "subclass.pth", &sd)) fail_msg("%s", err_msg());
    assert_int_equal(sd.n, 1);
    const ckpt_tensor *t = need_t(&sd, "sub", "F32", 1);
    assert_true(t->n == 3 && t->data[0] == 0 && t->data[1] == 2 && t->data[2] == 4);
    ckpt_tensors_free(&sd);
}

static void test_safetensors_dtypes(void **state) {
    (void)state;
    ckpt_tensors sd;
    if (ckpt_load_state_dict(FIX "dtypes.safetensors", &sd)) fail_msg("%s", err_msg());
    assert_int_equal(sd.n, 5);
    const ckpt_tensor *t = need_t(&sd, "x.f32", "F32", 2);
    assert_true(t->data[0] == 1 && t->data[1] == -2 && t->data[2] == 0.5f && t->data[3] == 3);
    t = need_t(&sd, "x.f16", "F16", 1);
    assert_true(t->data[0] == 1.5f && t->data[1] == -0.25f && t->data[2] == ldexpf(1, -24));
    t = need_t(&sd, "x.bf16", "BF16", 1);
    assert_true(t->data[0] == 1.5f && t->data[1] == -3.0f);
    t = need_t(&sd, "x.f64", "F64", 2);
    assert_true(t->data[0] == (float)0.1 && t->data[1] == -7.0f);
    t = need_t(&sd, "x.i64", "I64", 1);
    assert_true(t->data[0] == -9 && t->data[1] == ldexpf(1, 33));
    assert_string_equal(ckpt_meta_get(&sd, "who"), "fixture");
    ckpt_tensors_free(&sd);
}

static void test_apply_mapping(void **state) {
    (void)state;
    ckpt_tensors sd;
    if (ckpt_load_state_dict(FIX "mmcv_nested.pth", &sd)) fail_msg("%s", err_msg());
    /* store names carry a "backbone." prefix plus a neck that the checkpoint does not have */
    params ps;
    params_init(&ps);
    int s23[2] = {2, 3}, s32[2] = {3, 2}, s3[1] = {3}, s5[1] = {5};
    params_add(&ps, "backbone.a.weight", 2, s23);
    params_add(&ps, "backbone.b.weight", 2, s32);
    params_add(&ps, "backbone.c.bias", 1, s3);
    params_add(&ps, "neck.x", 1, s5);
    params_alloc(&ps);
    ckpt_apply_opts o = {NULL, "backbone.", 0};
    ckpt_report rep;
    /* neck.x is missing but outside the target scope: not an error */
    if (ckpt_apply_ex(&ps, &sd, FIX "mmcv_nested.pth", &o, &rep)) fail_msg("%s", err_msg());
    assert_int_equal(rep.n_loaded, 3);
    assert_int_equal(rep.n_missing, 1);
    assert_int_equal(rep.n_missing_in_scope, 0);
    assert_string_equal(rep.missing[0], "neck.x");
    assert_int_equal(rep.n_unexpected, 13);
    assert_string_equal(rep.unexpected[0], "backbone.c.other"); /* names as in the file, file order */
    assert_true(params_find(&ps, "backbone.b.weight")->t.data[1] == 3.0f);
    ckpt_report_free(&rep);
    params_free(&ps);

    /* a shape mismatch is an error that names the parameter and both shapes */
    params_init(&ps);
    int s22[2] = {2, 2};
    params_add(&ps, "a.weight", 2, s22);
    params_alloc(&ps);
    assert_int_equal(ckpt_apply(&ps, &sd, NULL, 1, &rep), -1);
    assert_non_null(strstr(err_msg(), "a.weight"));
    assert_non_null(strstr(err_msg(), "torch.Size([2, 3])"));
    assert_non_null(strstr(err_msg(), "torch.Size([2, 2])"));
    assert_int_equal(rep.n_mismatch, 1);
    char *txt = ckpt_report_str(&rep);
    assert_non_null(strstr(txt, "The model and loaded state dict do not match exactly\n\nsize mismatch for a.weight: "
                                "copying a param with shape torch.Size([2, 3]) from checkpoint, the shape in current "
                                "model is torch.Size([2, 2]).\nunexpected key in source state_dict: "
                                "backbone.b.weight, "));
    free(txt);
    ckpt_report_free(&rep);
    params_free(&ps);

    /* a configurable prefix: "c." stripped after "backbone." */
    params_init(&ps);
    params_add(&ps, "bias", 1, s3);
    params_alloc(&ps);
    assert_int_equal(ckpt_apply(&ps, &sd, "c.", 0, NULL), 0);
    assert_true(ps.train[0] == 102.0f && ps.train[2] == 104.0f);
    params_free(&ps);

    /* ckpt_load_pretrained: read, map and log the report */
    params_init(&ps);
    params_add(&ps, "a.weight", 2, s23);
    params_add(&ps, "missing.one", 1, s3);
    params_alloc(&ps);
    FILE *log = tmpfile();
    assert_non_null(log);
    ckpt_apply_opts lax = {NULL, NULL, 1};
    assert_int_equal(ckpt_load_pretrained(&ps, FIX "mmcv_nested.pth", &lax, log), 0);
    char text[4096];
    rewind(log);
    size_t tn = fread(text, 1, sizeof text - 1, log);
    text[tn] = 0;
    fclose(log);
    assert_non_null(strstr(text, "load checkpoint from " FIX "mmcv_nested.pth: 1 tensors loaded (6 values)"));
    assert_non_null(strstr(text, "missing keys in source state_dict: missing.one\n"));
    ckpt_apply_opts strict = {NULL, NULL, 0};
    assert_int_equal(ckpt_load_pretrained(&ps, FIX "mmcv_nested.pth", &strict, NULL), -1);
    assert_non_null(strstr(err_msg(), "missing.one"));
    params_free(&ps);

    /* a key that names a parameter exactly is taken as it is (a whole-detector checkpoint) */
    params_init(&ps);
    params_add(&ps, "backbone.c.bias", 1, s3);
    params_add(&ps, "c.bias", 1, s3);
    params_alloc(&ps);
    assert_int_equal(ckpt_apply(&ps, &sd, NULL, 1, &rep), 0);
    assert_true(params_find(&ps, "backbone.c.bias")->t.data[0] == 102.0f);
    assert_int_equal(rep.n_missing, 1);
    assert_string_equal(rep.missing[0], "c.bias");
    ckpt_report_free(&rep);
    params_free(&ps);
    ckpt_tensors_free(&sd);
}

static void expect_fail(const char *path, const char *needle1, const char *needle2) {
    ckpt_tensors sd;
    int rc = ckpt_load_state_dict(path, &sd);
    if (rc != -1) fail_msg("%s loaded, expected an error", path);
    if (needle1 && !strstr(err_msg(), needle1)) fail_msg("%s: message '%s' lacks '%s'", path, err_msg(), needle1);
    if (needle2 && !strstr(err_msg(), needle2)) fail_msg("%s: message '%s' lacks '%s'", path, err_msg(), needle2);
    assert_int_equal(sd.n, 0);
}

static void test_unsupported_inputs(void **state) {
    (void)state;
    expect_fail(FIX "quantized.pth", "QInt8Storage", "offset");
    expect_fail(FIX "legacy.pth", "legacy", "legacy.pth");
    expect_fail(FIX "list_root.pth", "list", "not a dict");
    expect_fail(FIX "nonexistent.pth", "nonexistent.pth", "cannot open");
    expect_fail(FIX "make_fixtures.py", "not a torch.save zip", NULL);
}

/* Write a zip holding arc/data.pkl = pkl (n bytes) and arc/data/0 = 16 bytes of data. */
static void write_zip(const char *path, const void *pkl, size_t n) {
    remove(path);
    int e = 0;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &e);
    assert_non_null(z);
    zip_source_t *s = zip_source_buffer(z, pkl, n, 0);
    assert_true(zip_file_add(z, "arc/data.pkl", s, ZIP_FL_OVERWRITE) >= 0);
    static const float four[4] = {1, 2, 3, 4};
    s = zip_source_buffer(z, four, sizeof four, 0);
    assert_true(zip_file_add(z, "arc/data/0", s, ZIP_FL_OVERWRITE) >= 0);
    assert_int_equal(zip_close(z), 0);
}

static void test_corrupt_files(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("ckpt_corrupt");
    char path[1024];
    /* truncated copies of both golden files: every cut must fail cleanly */
    const char *srcs[2] = {"golden/swin_golden_official.pth", "golden/swin_golden.safetensors"};
    for (int k = 0; k < 2; k++) {
        size_t n = 0;
        char *buf = file_read_all(test_shared_path(srcs[k]), &n);
        assert_non_null(buf);
        snprintf(path, sizeof path, "%s/cut%s", dir, k ? ".safetensors" : ".pth");
        size_t cuts[] = {0, 1, 7, 8, 9, 100, 5000, 12000, n / 3, n / 2, n - 4096, n - 100, n - 1};
        for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
            assert_int_equal(file_write_atomic(path, buf, cuts[c]), 0);
            ckpt_tensors sd;
            if (ckpt_load_state_dict(path, &sd) != -1) fail_msg("%s cut at %zu bytes loaded", srcs[k], cuts[c]);
            assert_non_null(strstr(err_msg(), "cut"));
        }
        free(buf);
    }
    /* the golden pickle, truncated or mutated inside a valid zip: errors naming opcode and offset */
    size_t n = 0;
    char *pth = file_read_all(test_shared_path("golden/swin_golden_official.pth"), &n);
    assert_non_null(pth);
    free(pth);
    int e = 0;
    zip_t *z = zip_open(test_shared_path("golden/swin_golden_official.pth"), ZIP_RDONLY, &e);
    assert_non_null(z);
    zip_stat_t st;
    assert_int_equal(zip_stat(z, "swin_golden_official/data.pkl", 0, &st), 0);
    unsigned char *pkl = xmalloc(st.size);
    zip_file_t *zf = zip_fopen(z, "swin_golden_official/data.pkl", 0);
    assert_int_equal(zip_fread(zf, pkl, st.size), (zip_int64_t)st.size);
    zip_fclose(zf);
    zip_close(z);
    snprintf(path, sizeof path, "%s/mut.pth", dir);
    size_t cuts[] = {1, 2, 3, 20, 50, 87, 145, 149, 200, 1000, st.size / 2, st.size - 1};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        write_zip(path, pkl, cuts[c]);
        ckpt_tensors sd;
        assert_int_equal(ckpt_load_state_dict(path, &sd), -1);
        assert_non_null(strstr(err_msg(), "mut.pth:arc/data.pkl"));
    }
    /* random byte mutations: must never crash; whatever loads must be sane */
    rng_t r;
    rng_seed(&r, 1234);
    unsigned char *m = xmalloc(st.size);
    int failed = 0;
    for (int it = 0; it < 300; it++) {
        memcpy(m, pkl, st.size);
        int k = 1 + (int)rng_below(&r, 4);
        for (int j = 0; j < k; j++) m[rng_below(&r, (uint32_t)st.size)] = (unsigned char)rng_below(&r, 256);
        write_zip(path, m, st.size);
        ckpt_tensors sd;
        if (ckpt_load_state_dict(path, &sd)) {
            failed++;
            assert_true(strlen(err_msg()) > 0);
        } else
            ckpt_tensors_free(&sd);
    }
    assert_true(failed > 0);
    /* an unknown opcode is named */
    const unsigned char bad[] = {0x80, 0x02, '}', 'I', '1', '\n', '.'};
    write_zip(path, bad, sizeof bad);
    ckpt_tensors sd;
    assert_int_equal(ckpt_load_state_dict(path, &sd), -1);
    assert_non_null(strstr(err_msg(), "opcode 0x49 'I' at offset 3"));
    free(m);
    free(pkl);

    /* safetensors headers that lie */
    snprintf(path, sizeof path, "%s/bad.safetensors", dir);
    const char *hdrs[] = {
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 12]}}",  /* span != shape */
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}",  /* past the data */
        "{\"a\": {\"dtype\": \"C64\", \"shape\": [1], \"data_offsets\": [0, 8]}}",   /* dtype */
        "{\"a\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 8]}}",  /* shape */
        "{\"a\": [1, 2]}", "[1]", "{\"a\": {\"dtype\": \"F32\"", "{\"__metadata__\": {\"x\": 1}}"};
    for (size_t i = 0; i < sizeof hdrs / sizeof hdrs[0]; i++) {
        size_t hl = strlen(hdrs[i]);
        unsigned char *b = xcalloc(8 + hl + 8, 1);
        for (int j = 0; j < 8; j++) b[j] = (unsigned char)((uint64_t)hl >> (8 * j));
        memcpy(b + 8, hdrs[i], hl);
        assert_int_equal(file_write_atomic(path, b, 8 + hl + 8), 0);
        free(b);
        assert_int_equal(ckpt_read_safetensors(path, &sd), -1);
        assert_non_null(strstr(err_msg(), "bad.safetensors"));
    }
}

/* ---------------- delta and training-state checkpoints ---------------- */

static void model_store(params *ps, int variant) {
    params_init(ps);
    int s1[2] = {4, 3}, s2[1] = {4}, s3[4] = {2, 1, 3, 3}, s4[1] = {7};
    params_add(ps, "layers.0.blocks.0.attn.qkv.weight", 2, s1);
    params_add(ps, "layers.0.blocks.0.my_module_1.gamma", 1, s2);
    params_add(ps, "layers.0.blocks.0.my_module_1.adapter_conv.conv1.weight", 4, s3);
    params_add(ps, "norm0.weight", 1, s4);
    params_set_trainable(ps, "layers.0.blocks.0.attn.qkv.weight", 0);
    if (variant == 1) params_set_trainable(ps, "norm0.weight", 0);
    params_alloc(ps);
}

static void fill(params *ps, uint64_t seed) {
    rng_t r;
    rng_seed(&r, seed);
    for (int64_t i = 0; i < ps->n_train; i++) ps->train[i] = rng_normal(&r);
    for (int64_t i = 0; i < ps->n_frozen; i++) ps->frozen[i] = rng_normal(&r);
}

static void test_delta_roundtrip(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("ckpt_delta");
    char path[1024];
    snprintf(path, sizeof path, "%s/mona.safetensors", dir);
    params a, b;
    model_store(&a, 0);
    fill(&a, 1);
    const char *meta = "{\"method\": \"mona\", \"backbone\": {\"embed_dim\": 16, \"depths\": [2, 2, 2, 2]}, "
                       "\"config\": {\"lr\": 0.0001}}";
    if (ckpt_save_delta(path, &a, meta)) fail_msg("%s", err_msg());
    /* the file holds the trainable parameters only */
    ckpt_tensors sd;
    if (ckpt_read_safetensors(path, &sd)) fail_msg("%s", err_msg());
    assert_int_equal(sd.n, 3);
    assert_null(ckpt_tensors_find(&sd, "layers.0.blocks.0.attn.qkv.weight"));
    assert_string_equal(ckpt_meta_get(&sd, "schema"), CKPT_DELTA_SCHEMA);
    assert_string_equal(ckpt_meta_get(&sd, "method"), "mona");
    assert_string_equal(ckpt_meta_get(&sd, "backbone"), "{\"embed_dim\":16,\"depths\":[2,2,2,2]}");
    assert_string_equal(ckpt_meta_get(&sd, "commit"), build_commit());
    ckpt_tensors_free(&sd);

    model_store(&b, 0);
    fill(&b, 2);
    float frozen_before = b.frozen[0];
    char *mj = NULL;
    if (ckpt_load_delta(path, &b, &mj)) fail_msg("%s", err_msg());
    assert_memory_equal(a.train, b.train, sizeof(float) * (size_t)a.n_train);
    assert_true(b.frozen[0] == frozen_before); /* the backbone is not touched */
    assert_non_null(strstr(mj, "\"method\":\"mona\""));
    free(mj);
    params_free(&b);

    /* a model with another trainable set refuses it */
    model_store(&b, 1);
    assert_int_equal(ckpt_load_delta(path, &b, NULL), -1);
    assert_non_null(strstr(err_msg(), "norm0.weight"));
    params_free(&b);

    /* truncated: a clear error, the store untouched */
    size_t n = 0;
    char *buf = file_read_all(path, &n);
    char cut[1100];
    snprintf(cut, sizeof cut, "%s/cut.safetensors", dir);
    assert_int_equal(file_write_atomic(cut, buf, n - 5), 0);
    free(buf);
    model_store(&b, 0);
    fill(&b, 3);
    float t0 = b.train[0];
    assert_int_equal(ckpt_load_delta(cut, &b, NULL), -1);
    assert_non_null(strstr(err_msg(), "cut.safetensors"));
    assert_non_null(strstr(err_msg(), "truncated"));
    assert_true(b.train[0] == t0);
    params_free(&b);
    /* a golden safetensors file is not a delta checkpoint */
    model_store(&b, 0);
    char gp[4096];
    snprintf(gp, sizeof gp, "%s", test_shared_path("golden/swin_golden.safetensors"));
    assert_int_equal(ckpt_load_delta(gp, &b, NULL), -1);
    assert_non_null(strstr(err_msg(), "schema"));
    params_free(&b);
    params_free(&a);
}

static void adam_steps(params *ps, optim *o, int k, uint64_t seed) {
    rng_t r;
    rng_seed(&r, seed);
    for (int s = 0; s < k; s++) {
        for (int64_t i = 0; i < ps->n_train; i++) ps->grad[i] = rng_normal(&r);
        optim_step(o, 1e-3);
    }
}

static void test_train_state_roundtrip(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("ckpt_train");
    char path[1024];
    snprintf(path, sizeof path, "%s/state.safetensors", dir);
    params a, b;
    model_store(&a, 0);
    fill(&a, 1);
    optim oa, ob;
    assert_int_equal(optim_adamw_init(&oa, &a, 1e-3, 0.9, 0.999, 1e-8, 0.05), 0);
    adam_steps(&a, &oa, 3, 7);
    train_state st = {.iter = 3, .epoch = 1, .n_rng = 2};
    rng_seed(&st.rng[0], 99);
    rng_seed(&st.rng[1], 100);
    rng_u64(&st.rng[1]);
    if (ckpt_save_train_state(path, &a, &oa, &st, "{\"method\": \"mona\", \"seed\": 5}")) fail_msg("%s", err_msg());

    model_store(&b, 0);
    fill(&b, 2);
    assert_int_equal(optim_adamw_init(&ob, &b, 1e-3, 0.9, 0.999, 1e-8, 0.05), 0);
    train_state sb;
    char *mj = NULL;
    if (ckpt_load_train_state(path, &b, &ob, &sb, &mj)) fail_msg("%s", err_msg());
    assert_memory_equal(a.train, b.train, sizeof(float) * (size_t)a.n_train);
    assert_memory_equal(oa.exp_avg, ob.exp_avg, sizeof(float) * (size_t)a.n_train);
    assert_memory_equal(oa.exp_avg_sq, ob.exp_avg_sq, sizeof(float) * (size_t)a.n_train);
    assert_int_equal(ob.step, 3);
    assert_int_equal(sb.iter, 3);
    assert_int_equal(sb.epoch, 1);
    assert_int_equal(sb.n_rng, 2);
    assert_memory_equal(sb.rng, st.rng, sizeof(rng_t) * 2);
    assert_non_null(strstr(mj, "\"seed\":\"5\""));
    free(mj);
    /* resuming continues exactly as the uninterrupted run */
    adam_steps(&a, &oa, 2, 8);
    adam_steps(&b, &ob, 2, 8);
    assert_memory_equal(a.train, b.train, sizeof(float) * (size_t)a.n_train);

    /* truncated file: clear error, nothing overwritten */
    size_t n = 0;
    char *buf = file_read_all(path, &n);
    char cut[1100];
    snprintf(cut, sizeof cut, "%s/cut.safetensors", dir);
    assert_int_equal(file_write_atomic(cut, buf, n / 2), 0);
    free(buf);
    float keep = b.train[1];
    assert_int_equal(ckpt_load_train_state(cut, &b, &ob, &sb, NULL), -1);
    assert_non_null(strstr(err_msg(), "cut.safetensors"));
    assert_true(b.train[1] == keep);
    /* the wrong optimiser kind is refused */
    optim os;
    optim_cfg c = optim_cfg_sgd(0.1, 0.9, 0, 0);
    assert_int_equal(optim_init(&os, &b, &c), 0);
    assert_int_equal(ckpt_load_train_state(path, &b, &os, &sb, NULL), -1);
    assert_non_null(strstr(err_msg(), "adamw"));
    /* an SGD state round-trips too (momentum buffers) */
    rng_t r;
    rng_seed(&r, 3);
    for (int s = 0; s < 2; s++) {
        for (int64_t i = 0; i < b.n_train; i++) b.grad[i] = rng_normal(&r);
        optim_step(&os, 0.1);
    }
    if (ckpt_save_train_state(path, &b, &os, &sb, NULL)) fail_msg("%s", err_msg());
    optim os2;
    assert_int_equal(optim_init(&os2, &a, &c), 0);
    if (ckpt_load_train_state(path, &a, &os2, &sb, NULL)) fail_msg("%s", err_msg());
    assert_memory_equal(os.exp_avg, os2.exp_avg, sizeof(float) * (size_t)a.n_train);
    assert_int_equal(os2.step, 2);
    /* a delta checkpoint is not a training state */
    assert_int_equal(ckpt_save_delta(path, &a, NULL), 0);
    assert_int_equal(ckpt_load_train_state(path, &a, &os2, &sb, NULL), -1);
    assert_non_null(strstr(err_msg(), "schema"));
    optim_free(&os);
    optim_free(&os2);
    optim_free(&oa);
    optim_free(&ob);
    params_free(&a);
    params_free(&b);
}

/* the CLI: deltabench ckpt --json on a fixture, and a clear failure on a legacy file */
static void test_cli_ckpt(void **state) {
    (void)state;
    const char *bin = getenv("DB_BIN");
    if (!bin || !*bin) bin = "build/deltabench";
    char cmd[2048], out[4096] = "";
    snprintf(cmd, sizeof cmd, "'%s' ckpt --json --tensors " FIX "parameters_proto5.pth 2>&1", bin);
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    assert_int_equal(pclose(f), 0);
    assert_non_null(strstr(out, "\"n_tensors\":2"));
    assert_non_null(strstr(out, "{\"name\":\"w\",\"dtype\":\"F32\",\"shape\":[2,2]}"));
    snprintf(cmd, sizeof cmd, "'%s' ckpt " FIX "legacy.pth 2>&1", bin);
    f = popen(cmd, "r");
    assert_non_null(f);
    n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    assert_int_not_equal(pclose(f), 0);
    assert_non_null(strstr(out, "deltabench: " FIX "legacy.pth: a legacy"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_pth),          cmocka_unit_test(test_golden_safetensors),
        cmocka_unit_test(test_pth_fixtures),        cmocka_unit_test(test_safetensors_dtypes),
        cmocka_unit_test(test_apply_mapping),       cmocka_unit_test(test_unsupported_inputs),
        cmocka_unit_test(test_corrupt_files),       cmocka_unit_test(test_delta_roundtrip),
        cmocka_unit_test(test_train_state_roundtrip), cmocka_unit_test(test_cli_ckpt),
    };
    return cmocka_run_group_tests_name("checkpoint", tests, NULL, NULL);
}
