/* test_metrics_dota.c - rotated mAP against the DOTA devkit (Task 1, polyiou) and mmrotate's
 * eval_rbbox_map on the fixture of gen_dota.py, polygon IoU against polyiou itself, the > / >= rule by hand,
 * ground truth of classes outside the evaluated list (gen_dota_unknown.py: the devkit does not count it,
 * mmrotate's reader stops on it unless the polygon is thinner than 2 px), and bad detection files. */
#include "test_util.h"

#include <cJSON.h>

#include "../core/common.h"
#include "../metrics/dota_eval.h"

#define FIX "tests/fixtures/metrics/"

static cJSON *load(const char *p) {
    size_t n;
    char *s = file_read_all(p, &n);
    assert_non_null(s);
    cJSON *j = cJSON_Parse(s);
    free(s);
    assert_non_null(j);
    return j;
}

static void check(const char *name, int protocol) {
    cJSON *all = load(FIX "dota_expected.json"), *e = cJSON_GetObjectItem(all, name);
    voc_result r;
    if (dota_eval_files(FIX "dota/labelTxt", FIX "dota/dets", NULL, dota_classes_v10, 15, protocol, 0.5, VOC_AP_11POINTS, &r) < 0)
        fail_msg("%s", err_msg());
    double want = cJSON_GetObjectItem(e, "map")->valuedouble;
    if (fabs(r.map - want) > 1e-6) fail_msg("%s mAP %.17g, reference %.17g", name, r.map, want);
    for (int c = 0; c < 15; c++) {
        assert_int_equal(r.num_gts[c], cJSON_GetArrayItem(cJSON_GetObjectItem(e, "num_gts"), c)->valueint);
        double a = cJSON_GetArrayItem(cJSON_GetObjectItem(e, "ap"), c)->valuedouble;
        if (fabs(r.ap[c] - a) > 1e-6) fail_msg("%s class %d AP %.17g, reference %.17g", name, c, r.ap[c], a);
    }
    voc_result_free(&r);
    cJSON_Delete(all);
}

static void test_dota_devkit(void **s) { (void)s; check("devkit", DOTA_PROTO_DEVKIT); }
static void test_dota_mmrotate(void **s) { (void)s; check("mmrotate", DOTA_PROTO_MMROTATE); }

static void test_dota_polyiou(void **state) {
    (void)state;
    cJSON *all = load(FIX "dota_polyiou.json"), *p;
    int n = 0;
    cJSON_ArrayForEach(p, all) {
        double a[8], b[8];
        for (int k = 0; k < 8; k++) {
            a[k] = cJSON_GetArrayItem(cJSON_GetObjectItem(p, "p"), k)->valuedouble;
            b[k] = cJSON_GetArrayItem(cJSON_GetObjectItem(p, "q"), k)->valuedouble;
        }
        double want = cJSON_GetObjectItem(p, "iou")->valuedouble, got = dota_poly_iou(a, b);
        if (fabs(got - want) > 1e-9) fail_msg("pair %d: IoU %.17g, polyiou %.17g", n, got, want);
        n++;
    }
    assert_true(n > 40);
    cJSON_Delete(all);
}

/* IoU exactly 0.5: a miss for the devkit (> 0.5), a match for mmrotate (>= 0.5). */
static void test_dota_threshold_rule(void **state) {
    (void)state;
    dota_poly_obj g = {0, 2, {0, 0, 10, 0, 10, 10, 0, 10}, 0, 0}, d = {0, 2, {0, 0, 20, 0, 20, 10, 0, 10}, 0, 0.9};
    voc_result r;
    assert_true(fabs(dota_poly_iou(d.poly, g.poly) - 0.5) < 1e-15);
    assert_int_equal(dota_eval_devkit(&g, 1, &d, 1, 1, 3, 0.5, VOC_AP_11POINTS, &r), 0);
    assert_true(r.ap[2] == 0);
    voc_result_free(&r);
    dota_rbox_obj rg = {0, 2, {5, 5, 10, 10, 0}, 0, 0}, rd = {0, 2, {10, 5, 20, 10, 0}, 0, 0.9};
    assert_int_equal(dota_eval_mmrotate(&rg, 1, &rd, 1, 1, 3, 0.5, VOC_AP_11POINTS, &r), 0);
    assert_true(fabs(r.ap[2] - 1) < 1e-12);
    assert_true(fabs(r.map - 1) < 1e-12); /* classes without ground truth are left out */
    voc_result_free(&r);
    /* devkit: a difficult ground truth is not a positive and absorbs its match */
    g.difficult = 1;
    d.poly[2] = d.poly[4] = 10;
    assert_int_equal(dota_eval_devkit(&g, 1, &d, 1, 1, 3, 0.5, VOC_AP_11POINTS, &r), 0);
    assert_int_equal(r.num_gts[2], 0);
    assert_int_equal(r.num_dets[2], 1);
    voc_result_free(&r);
}

/* A v1.5 container-crane in a v1.0 evaluation: the devkit leaves it out (a plane detection lying on one is a
 * false positive); deltabench matches its APs and says on stderr which file and class were not counted. */
static double num_or_nan(const cJSON *v) { /* the fixture writes the devkit's NaN as null */
    assert_non_null(v);
    return cJSON_IsNull(v) ? NAN : v->valuedouble;
}
static int same(double got, double want) { return isnan(want) ? isnan(got) : fabs(got - want) <= 1e-6; }

static void check_unknown(const char *name, int mode) {
    cJSON *all = load(FIX "dota_unknown_expected.json"), *e = cJSON_GetObjectItem(all, name);
    voc_result r;
    if (dota_eval_files(FIX "dota_unknown/labelTxt", FIX "dota_unknown/dets", NULL, dota_classes_v10, 15, DOTA_PROTO_DEVKIT,
                        0.5, mode, &r) < 0)
        fail_msg("%s", err_msg());
    double want = num_or_nan(cJSON_GetObjectItem(e, "map"));
    if (!same(r.map, want)) fail_msg("%s mAP %.17g, reference %.17g", name, r.map, want);
    for (int c = 0; c < 15; c++) {
        assert_int_equal(r.num_gts[c], cJSON_GetArrayItem(cJSON_GetObjectItem(e, "num_gts"), c)->valueint);
        double a = num_or_nan(cJSON_GetArrayItem(cJSON_GetObjectItem(e, "ap"), c));
        if (!same(r.ap[c], a)) fail_msg("%s class %d AP %.17g, reference %.17g", name, c, r.ap[c], a);
    }
    voc_result_free(&r);
    cJSON_Delete(all);
}

static void test_dota_unknown_class_devkit(void **state) {
    (void)state;
    check_unknown("devkit", VOC_AP_11POINTS);
    check_unknown("devkit_area", VOC_AP_AREA); /* helicopter: a detection, no ground truth -> NaN, mAP NaN */
    const char *dir = test_tmp_dir("metrics_dota_unknown");
    char cmd[4096], err[1200];
    snprintf(err, sizeof err, "%s/err.txt", dir);
    snprintf(cmd, sizeof cmd, "%s eval dota --gt " FIX "dota_unknown/labelTxt --dets " FIX "dota_unknown/dets >/dev/null 2>%s",
             getenv("DB_BIN") ? getenv("DB_BIN") : "build/deltabench", err);
    assert_int_equal(system(cmd), 0);
    size_t n;
    char *t = file_read_all(err, &n);
    assert_non_null(t);
    assert_non_null(strstr(t, "U0001.txt"));
    assert_non_null(strstr(t, "U0002.txt: 2 object(s) of class container-crane"));
    free(t);
}

/* mmrotate's DOTADataset looks each class up in cls_map: KeyError on the container-crane of labelTxt/, so the
 * mmrotate protocol stops too, naming the file, the line and the class. In labelTxt_thin/ the only
 * container-crane is 1.5 px wide: poly2obb_np fails before the lookup and mmrotate reads the other boxes. */
static void test_dota_unknown_class_mmrotate(void **state) {
    (void)state;
    cJSON *all = load(FIX "dota_unknown_expected.json"), *e = cJSON_GetObjectItem(all, "mmrotate_reader");
    cJSON *ke = cJSON_GetObjectItem(e, "labelTxt");
    assert_string_equal(cJSON_GetObjectItem(ke, "error")->valuestring, "KeyError");
    voc_result r;
    assert_int_equal(dota_eval_files(FIX "dota_unknown/labelTxt", FIX "dota_unknown/dets", NULL, dota_classes_v10, 15,
                                     DOTA_PROTO_MMROTATE, 0.5, VOC_AP_11POINTS, &r), -1);
    assert_non_null(strstr(err_msg(), "U0001.txt:4"));
    assert_non_null(strstr(err_msg(), cJSON_GetObjectItem(ke, "class")->valuestring));
    assert_non_null(strstr(err_msg(), "mmrotate"));
    /* the thin one: the reader keeps exactly mmrotate's boxes */
    dota_options o = {.unknown = DOTA_UNKNOWN_MMROTATE};
    dota_dataset ds;
    if (dota_load_dir(FIX "dota_unknown/labelTxt_thin", dota_classes_v10, 15, RBOX_LE90, 0, &o, &ds) < 0) fail_msg("%s", err_msg());
    assert_int_equal(ds.n_items, 1);
    assert_int_equal(ds.n_unknown, 1);
    cJSON *want = cJSON_GetObjectItem(cJSON_GetObjectItem(e, "labelTxt_thin"), "T0001");
    cJSON *labels = cJSON_GetObjectItem(want, "labels"), *boxes = cJSON_GetObjectItem(want, "boxes");
    assert_int_equal(ds.items[0].n_boxes, cJSON_GetArraySize(labels));
    for (int b = 0; b < ds.items[0].n_boxes; b++) {
        assert_int_equal(ds.items[0].labels[b], cJSON_GetArrayItem(labels, b)->valueint);
        const rbox *x = &ds.items[0].boxes[b];
        float got[5] = {x->x, x->y, x->w, x->h, x->a};
        for (int k = 0; k < 5; k++) {
            double w = cJSON_GetArrayItem(cJSON_GetArrayItem(boxes, b), k)->valuedouble;
            if (fabs(got[k] - w) > 1e-4) fail_msg("box %d field %d: %.9g, mmrotate %.9g", b, k, got[k], w);
        }
    }
    dota_dataset_free(&ds);
    /* and the evaluation runs on it (no detections: every AP 0) */
    const char *dir = test_tmp_dir("metrics_dota_thin");
    assert_int_equal(dota_eval_files(FIX "dota_unknown/labelTxt_thin", dir, NULL, dota_classes_v10, 15, DOTA_PROTO_MMROTATE,
                                     0.5, VOC_AP_11POINTS, &r), 0);
    assert_int_equal(r.num_gts[0], 1);
    assert_int_equal(r.num_gts[6], 1);
    voc_result_free(&r);
    /* the default reader still stops on an unknown class */
    assert_int_equal(dota_load_dir(FIX "dota_unknown/labelTxt_thin", dota_classes_v10, 15, RBOX_LE90, 0, NULL, &ds), -1);
    assert_non_null(strstr(err_msg(), "unknown class"));
    cJSON_Delete(all);
}

static void test_dota_bad_dets(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("metrics_dota");
    char p[1200], cmd[4096];
    snprintf(p, sizeof p, "%s/Task1_ship.txt", dir);
    FILE *f = fopen(p, "w");
    fprintf(f, "P0001 0.5 1 1 5 1 5 5 1 5\nP9999 0.5 1 1 5 1 5 5 1 5\n");
    fclose(f);
    voc_result r;
    assert_int_equal(dota_eval_files(FIX "dota/labelTxt", dir, NULL, dota_classes_v10, 15, DOTA_PROTO_DEVKIT, 0.5, VOC_AP_11POINTS, &r), -1);
    assert_non_null(strstr(err_msg(), "Task1_ship.txt:2"));
    assert_non_null(strstr(err_msg(), "P9999"));
    snprintf(cmd, sizeof cmd, "%s eval dota --gt " FIX "dota/labelTxt --dets %s >/dev/null 2>&1",
             getenv("DB_BIN") ? getenv("DB_BIN") : "build/deltabench", dir);
    assert_int_not_equal(system(cmd), 0);
    f = fopen(p, "w");
    fprintf(f, "P0001 0.5 1 1 5 1 5 5 1\n");
    fclose(f);
    assert_int_equal(dota_eval_files(FIX "dota/labelTxt", dir, NULL, dota_classes_v10, 15, DOTA_PROTO_MMROTATE, 0.5, VOC_AP_11POINTS, &r), -1);
    assert_non_null(strstr(err_msg(), "Task1_ship.txt:1"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dota_devkit),         cmocka_unit_test(test_dota_mmrotate),
        cmocka_unit_test(test_dota_polyiou),        cmocka_unit_test(test_dota_threshold_rule),
        cmocka_unit_test(test_dota_unknown_class_devkit), cmocka_unit_test(test_dota_unknown_class_mmrotate),
        cmocka_unit_test(test_dota_bad_dets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
