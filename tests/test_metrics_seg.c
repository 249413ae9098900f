/* test_metrics_seg.c - mIoU/mAcc/aAcc against mmseg's mean_iou on PNG fixtures (gen_seg.py), a
 * hand-computed in-memory case, and bad label maps (truncated PNG, size mismatch, missing prediction). */
#include "test_util.h"

#include <cJSON.h>

#include "../core/common.h"
#include "../metrics/seg_eval.h"

#define FIX "tests/fixtures/metrics/"

static void check(const char *name) {
    size_t n;
    char *txt = file_read_all(FIX "seg_expected.json", &n);
    assert_non_null(txt);
    cJSON *all = cJSON_Parse(txt);
    free(txt);
    cJSON *e = cJSON_GetObjectItem(all, name);
    int C = cJSON_GetObjectItem(e, "classes")->valueint;
    seg_eval s;
    seg_eval_init(&s, C, 255, cJSON_IsTrue(cJSON_GetObjectItem(e, "reduce_zero_label")));
    char g[256], p[256];
    snprintf(g, sizeof g, FIX "seg/%s/gt", name);
    snprintf(p, sizeof p, FIX "seg/%s/pred", name);
    int ni;
    if (seg_eval_dirs(&s, g, p, NULL, &ni) < 0) fail_msg("%s", err_msg());
    assert_int_equal(ni, 4);
    assert_true(fabs(s.aacc - cJSON_GetObjectItem(e, "aAcc")->valuedouble) < 1e-12);
    assert_true(fabs(s.miou - cJSON_GetObjectItem(e, "mIoU")->valuedouble) < 1e-12);
    assert_true(fabs(s.macc - cJSON_GetObjectItem(e, "mAcc")->valuedouble) < 1e-12);
    for (int c = 0; c < C; c++) {
        cJSON *iu = cJSON_GetArrayItem(cJSON_GetObjectItem(e, "IoU"), c), *ac = cJSON_GetArrayItem(cJSON_GetObjectItem(e, "Acc"), c);
        if (cJSON_IsNull(iu)) assert_true(isnan(s.iou[c]));
        else assert_true(fabs(s.iou[c] - iu->valuedouble) < 1e-12);
        if (cJSON_IsNull(ac)) assert_true(isnan(s.acc[c]));
        else assert_true(fabs(s.acc[c] - ac->valuedouble) < 1e-12);
    }
    seg_eval_free(&s);
    cJSON_Delete(all);
}

static void test_seg_plain(void **st) { (void)st; check("plain"); }
static void test_seg_reduce_zero_label(void **st) { (void)st; check("reduce"); }

/* Two images, 3 classes. Image 1: gt 0 0 1 255, pred 0 1 1 2. Image 2: gt 1 1, pred 1 0.
 * Counted pixels: (0,0) (0,1) (1,1) (1,1) (1,0). I = [1, 2, 0], P = [2, 3, 0], G = [2, 3, 0].
 * IoU = [1/3, 2/4, NaN]; Acc = [1/2, 2/3, NaN]; aAcc = 3/5. (pred 2 lands on an ignored pixel.) */
static void test_seg_by_hand(void **st) {
    (void)st;
    seg_eval s;
    seg_eval_init(&s, 3, 255, 0);
    int32_t g1[4] = {0, 0, 1, 255}, p1[4] = {0, 1, 1, 2}, g2[2] = {1, 1}, p2[2] = {1, 0};
    seg_eval_accumulate(&s, p1, g1, 4);
    seg_eval_accumulate(&s, p2, g2, 2);
    seg_eval_finish(&s);
    assert_true(fabs(s.iou[0] - 1.0 / 3) < 1e-15 && fabs(s.iou[1] - 0.5) < 1e-15 && isnan(s.iou[2]));
    assert_true(fabs(s.acc[0] - 0.5) < 1e-15 && fabs(s.acc[1] - 2.0 / 3) < 1e-15 && isnan(s.acc[2]));
    assert_true(fabs(s.aacc - 0.6) < 1e-15);
    assert_true(fabs(s.miou - (1.0 / 3 + 0.5) / 2) < 1e-15);
    seg_eval_free(&s);
}

static void copy_file(const char *from, const char *to, long keep) {
    size_t n;
    char *b = file_read_all(from, &n);
    assert_non_null(b);
    FILE *f = fopen(to, "wb");
    fwrite(b, 1, keep >= 0 && (size_t)keep < n ? (size_t)keep : n, f);
    fclose(f);
    free(b);
}

static void test_seg_bad_inputs(void **st) {
    (void)st;
    const char *dir = test_tmp_dir("metrics_seg");
    char g[1200], p[1200], f1[1300], f2[1300], cmd[4096];
    snprintf(g, sizeof g, "%s/gt", dir);
    snprintf(p, sizeof p, "%s/pred", dir);
    mkdir_p(g);
    mkdir_p(p);
    snprintf(f1, sizeof f1, "%s/img00.png", g);
    copy_file(FIX "seg/plain/gt/img00.png", f1, -1);
    snprintf(f2, sizeof f2, "%s/img00.png", p);
    copy_file(FIX "seg/plain/pred/img00.png", f2, 60); /* truncated */
    seg_eval s;
    int n;
    seg_eval_init(&s, 6, 255, 0);
    assert_int_equal(seg_eval_dirs(&s, g, p, NULL, &n), -1);
    assert_non_null(strstr(err_msg(), "pred/img00.png"));
    snprintf(cmd, sizeof cmd, "%s eval seg --gt %s --pred %s --classes 6 >/dev/null 2>&1",
             getenv("DB_BIN") ? getenv("DB_BIN") : "build/deltabench", g, p);
    assert_int_not_equal(system(cmd), 0);
    copy_file(FIX "seg/plain/pred/img01.png", f2, -1); /* 30x11 against 17x23 */
    assert_int_equal(seg_eval_dirs(&s, g, p, NULL, &n), -1);
    assert_non_null(strstr(err_msg(), "pred/img00.png"));
    assert_non_null(strstr(err_msg(), "11x30"));
    remove(f2);
    assert_int_equal(seg_eval_dirs(&s, g, p, NULL, &n), -1);
    assert_non_null(strstr(err_msg(), "no prediction"));
    seg_eval_free(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seg_plain), cmocka_unit_test(test_seg_reduce_zero_label),
        cmocka_unit_test(test_seg_by_hand), cmocka_unit_test(test_seg_bad_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
