/* test_metrics_voc.c - VOC mAP against mmdet 2.x eval_map and the devkit's voc_eval (+ pascal_voc's plain
 * mean) run on the same fixture (tests/fixtures/metrics/gen_voc.py), the >= / > threshold rule, the mean over
 * classes without positives (mmdet leaves them out, the devkit averages them in), and bad detection files. */
#include "test_util.h"

#include <cJSON.h>

#include "../core/common.h"
#include "../metrics/voc_eval.h"
#include "../metrics/voc_files.h"

#define FIX "tests/fixtures/metrics/"

/* The fixture writes the devkit's NaN (recall 0/0 under the area rule) as null. */
static double num_or_nan(const cJSON *v) {
    assert_non_null(v);
    return cJSON_IsNull(v) ? NAN : v->valuedouble;
}
static int same(double got, double want) { return isnan(want) ? isnan(got) : fabs(got - want) <= 1e-6; }

static void check(const char *name, int protocol, int mode) {
    size_t n;
    char *s = file_read_all(FIX "voc_expected.json", &n);
    assert_non_null(s);
    cJSON *all = cJSON_Parse(s);
    free(s);
    cJSON *e = cJSON_GetObjectItem(all, name);
    assert_non_null(e);
    voc_result r;
    if (voc_eval_files(FIX "voc/VOC2007", "test", FIX "voc/dets", NULL, protocol, mode, 0.5, &r) < 0) fail_msg("%s", err_msg());
    double want = num_or_nan(cJSON_GetObjectItem(e, "map"));
    if (!same(r.map, want)) fail_msg("%s mAP %.17g, reference %.17g", name, r.map, want);
    for (int c = 0; c < 20; c++) {
        double a = num_or_nan(cJSON_GetArrayItem(cJSON_GetObjectItem(e, "ap"), c));
        int g = cJSON_GetArrayItem(cJSON_GetObjectItem(e, "num_gts"), c)->valueint;
        assert_int_equal(r.num_gts[c], g);
        /* mmdet leaves classes without ground truth out (its AP there is not part of the result) */
        if ((g > 0 || protocol == VOC_PROTO_DEVKIT) && !same(r.ap[c], a))
            fail_msg("%s class %s AP %.17g, reference %.17g", name, voc_class_names[c], r.ap[c], a);
    }
    voc_result_free(&r);
    cJSON_Delete(all);
}

static void test_voc_mmdet_11points(void **s) { (void)s; check("mmdet_11points", VOC_PROTO_MMDET, VOC_AP_11POINTS); }
static void test_voc_mmdet_area(void **s) { (void)s; check("mmdet_area", VOC_PROTO_MMDET, VOC_AP_AREA); }
static void test_voc_devkit_11points(void **s) { (void)s; check("devkit_11points", VOC_PROTO_DEVKIT, VOC_AP_11POINTS); }
static void test_voc_devkit_area(void **s) { (void)s; check("devkit_area", VOC_PROTO_DEVKIT, VOC_AP_AREA); }

/* IoU exactly 0.5: a match for mmdet (>=, no +1), not for the devkit (>, +1). Hand-computed. */
static void test_voc_threshold_rule(void **state) {
    (void)state;
    voc_result r;
    voc_gt_box g = {0, 3, {0, 0, 10, 10}, 0};
    voc_det_box d = {0, 3, 0.9, {0, 0, 20, 10}}; /* 100 / 200 */
    assert_int_equal(voc_eval_map(&g, 1, &d, 1, 1, 5, 0.5, VOC_PROTO_MMDET, VOC_AP_11POINTS, &r), 0);
    assert_true(fabs(r.ap[3] - 1) < 1e-12 && fabs(r.map - 1) < 1e-12);
    voc_result_free(&r);
    voc_gt_box g2 = {0, 3, {0, 0, 9, 9}, 0};
    voc_det_box d2 = {0, 3, 0.9, {0, 0, 19, 9}}; /* (10*10) / (20*10) with +1 */
    assert_int_equal(voc_eval_map(&g2, 1, &d2, 1, 1, 5, 0.5, VOC_PROTO_DEVKIT, VOC_AP_11POINTS, &r), 0);
    assert_true(r.ap[3] == 0);
    voc_result_free(&r);
    /* a difficult ground truth: the matching detection is neither TP nor FP, no positives -> left out */
    g.difficult = 1;
    assert_int_equal(voc_eval_map(&g, 1, &d, 1, 1, 5, 0.5, VOC_PROTO_MMDET, VOC_AP_11POINTS, &r), 0);
    assert_int_equal(r.num_gts[3], 0);
    assert_true(r.map == 0);
    voc_result_free(&r);
}

/* Class 1 has ground truth and a matching detection (AP 1); class 2 only a difficult object with a detection
 * on it. mmdet: mAP over class 1 only = 1. The devkit averages all 5 classes: AP 1, 0, 0, 0, 0 -> 0.2 under
 * the 11-point rule; under the area rule class 2's AP is NaN (sum of (NaN - 0) * 0), so the mAP is NaN. */
static void test_voc_devkit_mean_over_all_classes(void **state) {
    (void)state;
    voc_gt_box g[2] = {{0, 1, {10, 10, 50, 50}, 0}, {0, 2, {60, 60, 90, 90}, 1}};
    voc_det_box d[2] = {{0, 1, 0.9, {10, 10, 50, 50}}, {0, 2, 0.8, {60, 60, 90, 90}}};
    voc_result r;
    assert_int_equal(voc_eval_map(g, 2, d, 2, 1, 5, 0.5, VOC_PROTO_MMDET, VOC_AP_11POINTS, &r), 0);
    assert_true(fabs(r.map - 1) < 1e-12);
    assert_int_equal(r.no_positives, 0);
    voc_result_free(&r);
    assert_int_equal(voc_eval_map(g, 2, d, 2, 1, 5, 0.5, VOC_PROTO_DEVKIT, VOC_AP_11POINTS, &r), 0);
    assert_true(fabs(r.ap[1] - 1) < 1e-12 && r.ap[2] == 0);
    assert_true(fabs(r.map - 0.2) < 1e-12);
    assert_int_equal(r.no_positives, 4);
    voc_result_free(&r);
    assert_int_equal(voc_eval_map(g, 2, d, 2, 1, 5, 0.5, VOC_PROTO_DEVKIT, VOC_AP_AREA, &r), 0);
    assert_true(fabs(r.ap[1] - 1) < 1e-12 && isnan(r.ap[2]) && r.ap[3] == 0);
    assert_true(isnan(r.map));
    voc_result_free(&r);
}

/* The CLI: the devkit's mean in the JSON, NaN as null, and a note naming the classes without positives. */
static void test_voc_cli_devkit_note(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("metrics_voc_cli");
    char cmd[4096], out[1200], err[1200];
    const char *bin = getenv("DB_BIN") ? getenv("DB_BIN") : "build/deltabench";
    snprintf(out, sizeof out, "%s/out.json", dir);
    snprintf(err, sizeof err, "%s/err.txt", dir);
    snprintf(cmd, sizeof cmd, "%s eval voc --root " FIX "voc/VOC2007 --dets " FIX "voc/dets --protocol devkit --json >%s 2>%s",
             bin, out, err);
    assert_int_equal(system(cmd), 0);
    size_t n;
    char *s = file_read_all(err, &n);
    assert_non_null(s);
    assert_non_null(strstr(s, "bicycle"));
    assert_non_null(strstr(s, "bus"));
    free(s);
    s = file_read_all(out, &n);
    cJSON *j = cJSON_Parse(s);
    free(s);
    assert_non_null(j);
    assert_true(fabs(cJSON_GetObjectItem(j, "mAP")->valuedouble - 0.13667832167832167) < 1e-6);
    cJSON_Delete(j);
    snprintf(cmd, sizeof cmd, "%s eval voc --root " FIX "voc/VOC2007 --dets " FIX "voc/dets --protocol devkit --metric area "
             "--json >%s 2>/dev/null", bin, out);
    assert_int_equal(system(cmd), 0);
    s = file_read_all(out, &n);
    j = cJSON_Parse(s);
    free(s);
    assert_non_null(j);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "mAP")));
    cJSON_Delete(j);
}

static void test_voc_bad_dets(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("metrics_voc");
    char p[1200], cmd[4096];
    snprintf(p, sizeof p, "%s/comp4_det_test_car.txt", dir);
    FILE *f = fopen(p, "w");
    fprintf(f, "000001 0.5 1 2 30 40\n999999 0.5 1 2 30 40\n");
    fclose(f);
    voc_result r;
    assert_int_equal(voc_eval_files(FIX "voc/VOC2007", "test", dir, NULL, VOC_PROTO_MMDET, VOC_AP_11POINTS, 0.5, &r), -1);
    assert_non_null(strstr(err_msg(), "comp4_det_test_car.txt:2"));
    assert_non_null(strstr(err_msg(), "999999"));
    snprintf(cmd, sizeof cmd, "%s eval voc --root " FIX "voc/VOC2007 --dets %s >/dev/null 2>&1",
             getenv("DB_BIN") ? getenv("DB_BIN") : "build/deltabench", dir);
    assert_int_not_equal(system(cmd), 0);
    f = fopen(p, "w");
    fprintf(f, "000001 0.5 1 2 30\n");
    fclose(f);
    assert_int_equal(voc_eval_files(FIX "voc/VOC2007", "test", dir, NULL, VOC_PROTO_MMDET, VOC_AP_11POINTS, 0.5, &r), -1);
    assert_non_null(strstr(err_msg(), "comp4_det_test_car.txt:1"));
}

/* a detections folder that does not exist is an error naming it, not an mAP of 0 */
static void test_voc_missing_dets_dir(void **state) {
    (void)state;
    voc_result r;
    assert_int_equal(voc_eval_files("build/tmp", "test", "build/tmp/no_such_dets_folder", NULL, VOC_PROTO_MMDET, VOC_AP_11POINTS, 0.5, &r), -1);
    assert_non_null(strstr(err_msg(), "build/tmp/no_such_dets_folder: no such detections folder"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_voc_mmdet_11points), cmocka_unit_test(test_voc_mmdet_area),
        cmocka_unit_test(test_voc_devkit_11points), cmocka_unit_test(test_voc_devkit_area),
        cmocka_unit_test(test_voc_threshold_rule),  cmocka_unit_test(test_voc_devkit_mean_over_all_classes),
        cmocka_unit_test(test_voc_cli_devkit_note), cmocka_unit_test(test_voc_bad_dets), cmocka_unit_test(test_voc_missing_dets_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
