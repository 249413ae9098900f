/* test_golden.c - every golden file of ../shared/golden (backbone under each method, the LoRand module, the
 * segmentation heads) through the same code path as `deltabench golden`, within the README's tolerances. Extra golden
 * files of other sizes (tests/fixtures/golden/, made by the authors' code) go through the same path. */
#include "test_util.h"

#include <dirent.h>
#include <hdf5.h>
#include <unistd.h>

#include "../core/common.h"
#include "../conformance/golden.h"

static void check_file(const char *path) {
    golden_result r;
    int rc = golden_check(path, &r);
    if (rc) fail_msg("%s", err_msg());
    if (!r.ok) {
        golden_print(path, &r);
        fail_msg("%s: %s", path, r.problem);
    }
    assert_true(r.n_groups >= 3);
}

static void test_shared_goldens(void **state) {
    (void)state;
    static const char *files[] = {"backbone_full.h5",        "backbone_fixed.h5",   "backbone_bitfit.h5",
                                  "backbone_norm_tuning.h5", "backbone_partial_1.h5", "backbone_adapter.h5",
                                  "backbone_adaptformer.h5", "backbone_lora.h5",    "backbone_mona.h5",
                                  "module_lorand.h5"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "golden/%s", files[i]);
        check_file(test_shared_path(rel));
    }
}

/* golden-adamw/1 through golden_check as well */
static void test_adamw_golden_file(void **state) {
    (void)state;
    golden_result r;
    if (golden_check(test_shared_path("golden/adamw.h5"), &r)) fail_msg("%s", err_msg());
    if (!r.ok) {
        golden_print("adamw.h5", &r);
        fail_msg("adamw.h5: %s", r.problem);
    }
    assert_string_equal(r.schema, "golden-adamw/1");
    assert_int_equal(r.n_groups, 2);
}

static void test_extra_goldens(void **state) {
    (void)state;
    DIR *d = opendir("tests/fixtures/golden");
    if (!d) skip();
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        size_t k = strlen(e->d_name);
        if (k < 4 || strcmp(e->d_name + k - 3, ".h5")) continue;
        char path[1024];
        snprintf(path, sizeof path, "tests/fixtures/golden/%s", e->d_name);
        check_file(path);
        n++;
    }
    closedir(d);
    assert_true(n > 0);
}

/* the segmentation heads' golden-op/1 files (../shared/golden/heads/): mmseg 0.11 UPerHead (seg_logit, input and
 * parameter gradients, the BN running statistics after the step) and BaseDecodeHead.losses (resize, CE, loss
 * weight, acc_seg) */
static void test_seg_head_goldens(void **state) {
    (void)state;
    static const char *files[] = {"golden/heads/uper_head.h5", "golden/heads/seg_decode_loss.h5"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        golden_result r;
        const char *path = test_shared_path(files[i]);
        if (golden_check(path, &r)) fail_msg("%s: %s", path, err_msg());
        if (r.not_covered || !r.ok) {
            golden_print(path, &r);
            fail_msg("%s: %s", path, r.not_covered ? "not covered" : r.problem);
        }
        assert_true(r.n_groups >= 2);
    }
}

/* copy src to dst (bytes) */
static void copy_file(const char *src, const char *dst) {
    FILE *a = fopen(src, "rb"), *b = fopen(dst, "wb");
    if (!a || !b) fail_msg("copy %s -> %s", src, dst);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0) assert_int_equal(fwrite(buf, 1, n, b), n);
    assert_int_equal(fclose(a), 0);
    assert_int_equal(fclose(b), 0);
}

/* the running statistics are compared: a uper_head file whose outputs/<m>.bn.running_var is off by 1e-3 fails
 * and names that tensor */
static void test_uper_head_running_stats_checked(void **state) {
    (void)state;
    char tmp[] = "/tmp/db_uper_XXXXXX";
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    close(fd);
    copy_file(test_shared_path("golden/heads/uper_head.h5"), tmp);
    const char *ds = "outputs/psp_modules.3.1.bn.running_var";
    hid_t f = H5Fopen(tmp, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t d = H5Dopen2(f, ds, H5P_DEFAULT);
    assert_true(d >= 0);
    float v[16];
    assert_true(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    v[5] += 1e-3f;
    assert_true(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    H5Dclose(d);
    H5Fclose(f);
    golden_result r;
    if (golden_check(tmp, &r)) fail_msg("%s", err_msg());
    unlink(tmp);
    assert_false(r.ok);
    assert_non_null(strstr(r.problem, "psp_modules.3.1.bn.running_var"));
}

/* a golden whose tensors were perturbed must fail: the check can fail */
static void test_bad_file(void **state) {
    (void)state;
    golden_result r;
    assert_int_equal(golden_check("tests/no_such_golden.h5", &r), -1);
    assert_non_null(strstr(err_msg(), "no_such_golden.h5"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_goldens),
        cmocka_unit_test(test_adamw_golden_file),
        cmocka_unit_test(test_extra_goldens),
        cmocka_unit_test(test_seg_head_goldens),
        cmocka_unit_test(test_uper_head_running_stats_checked),
        cmocka_unit_test(test_bad_file),
    };
    return cmocka_run_group_tests_name("golden", tests, NULL, NULL);
}
