/* test_metrics_coco.c - COCO masks and COCOeval against numbers produced by pycocotools itself
 * (tests/fixtures/metrics/gen_coco.py), plus the bad-input errors. */
#include "test_util.h"

#include <cJSON.h>

#include "../core/common.h"
#include "../metrics/coco_eval.h"
#include "../metrics/coco_json.h"
#include "../metrics/mask.h"

#define FIX "tests/fixtures/metrics/"

static cJSON *load_json(const char *path) {
    size_t n;
    char *s = file_read_all(path, &n);
    if (!s) fail_msg("%s", err_msg());
    cJSON *j = cJSON_Parse(s);
    free(s);
    if (!j) fail_msg("cannot parse %s", path);
    return j;
}

static void test_polygon_rasterisation(void **state) {
    (void)state;
    cJSON *m = load_json(FIX "coco_masks.json");
    cJSON *p;
    int n = 0;
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(m, "polys")) {
        int h = cJSON_GetObjectItem(p, "h")->valueint, w = cJSON_GetObjectItem(p, "w")->valueint;
        cJSON *xy = cJSON_GetObjectItem(p, "xy");
        int k = cJSON_GetArraySize(xy);
        double *v = malloc(sizeof(double) * k);
        for (int i = 0; i < k; i++) v[i] = cJSON_GetArrayItem(xy, i)->valuedouble;
        rle r;
        assert_int_equal(rle_from_poly(&r, v, (size_t)k / 2, (uint32_t)h, (uint32_t)w), 0);
        char *s = rle_to_string(&r);
        assert_string_equal(s, cJSON_GetObjectItem(p, "counts")->valuestring);
        assert_int_equal(rle_area(&r), cJSON_GetObjectItem(p, "area")->valueint);
        double bb[4];
        rle_to_bbox(&r, bb);
        for (int i = 0; i < 4; i++) assert_true(bb[i] == cJSON_GetArrayItem(cJSON_GetObjectItem(p, "bbox"), i)->valuedouble);
        /* string round trip and encode/decode round trip */
        rle r2, r3;
        assert_int_equal(rle_from_string(&r2, s, (uint32_t)h, (uint32_t)w), 0);
        assert_int_equal(r2.m, r.m);
        assert_memory_equal(r2.cnts, r.cnts, r.m * sizeof(uint32_t));
        uint8_t *mask = malloc((size_t)h * w);
        assert_int_equal(rle_decode(&r, mask), 0);
        rle_encode(&r3, mask, (uint32_t)h, (uint32_t)w);
        assert_int_equal(r3.m, r.m);
        assert_memory_equal(r3.cnts, r.cnts, r.m * sizeof(uint32_t));
        rle_free(&r3);
        uint8_t *rowmajor = malloc((size_t)h * w); /* the same mask stored row by row */
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) rowmajor[y * w + x] = mask[x * h + y];
        rle_encode_rowmajor(&r3, rowmajor, (uint32_t)h, (uint32_t)w);
        assert_int_equal(r3.m, r.m);
        assert_memory_equal(r3.cnts, r.cnts, r.m * sizeof(uint32_t));
        free(rowmajor);
        free(mask);
        free(s);
        free(v);
        rle_free(&r);
        rle_free(&r2);
        rle_free(&r3);
        n++;
    }
    assert_int_equal(n, 40);
    cJSON_ArrayForEach(p, cJSON_GetObjectItem(m, "boxes")) {
        double bb[4];
        for (int i = 0; i < 4; i++) bb[i] = cJSON_GetArrayItem(cJSON_GetObjectItem(p, "bbox"), i)->valuedouble;
        rle r;
        assert_int_equal(rle_from_bbox(&r, bb, (uint32_t)cJSON_GetObjectItem(p, "h")->valueint, (uint32_t)cJSON_GetObjectItem(p, "w")->valueint), 0);
        char *s = rle_to_string(&r);
        assert_string_equal(s, cJSON_GetObjectItem(p, "counts")->valuestring);
        free(s);
        rle_free(&r);
    }
    /* mask IoU with crowd, merge */
    cJSON *io = cJSON_GetObjectItem(m, "iou");
    uint32_t h = (uint32_t)cJSON_GetObjectItem(io, "h")->valueint, w = (uint32_t)cJSON_GetObjectItem(io, "w")->valueint;
    rle dt[4], gt[4];
    for (int i = 0; i < 4; i++) {
        assert_int_equal(rle_from_string(&dt[i], cJSON_GetArrayItem(cJSON_GetObjectItem(io, "dt"), i)->valuestring, h, w), 0);
        assert_int_equal(rle_from_string(&gt[i], cJSON_GetArrayItem(cJSON_GetObjectItem(io, "gt"), i)->valuestring, h, w), 0);
    }
    for (int d = 0; d < 4; d++)
        for (int g = 0; g < 4; g++) {
            int crowd = cJSON_GetArrayItem(cJSON_GetObjectItem(io, "crowd"), g)->valueint;
            double want = cJSON_GetArrayItem(cJSON_GetArrayItem(cJSON_GetObjectItem(io, "iou"), d), g)->valuedouble;
            assert_true(fabs(rle_iou(&dt[d], &gt[g], crowd) - want) < 1e-12);
        }
    rle u, x;
    rle_merge(dt, 3, &u, 0);
    rle_merge(dt, 3, &x, 1);
    char *su = rle_to_string(&u), *sx = rle_to_string(&x);
    assert_string_equal(su, cJSON_GetObjectItem(cJSON_GetObjectItem(m, "merge"), "union")->valuestring);
    assert_string_equal(sx, cJSON_GetObjectItem(cJSON_GetObjectItem(m, "merge"), "intersect")->valuestring);
    free(su);
    free(sx);
    rle_free(&u);
    rle_free(&x);
    for (int i = 0; i < 4; i++) rle_free(&dt[i]), rle_free(&gt[i]);
    cJSON_Delete(m);
}

static void check_run(const char *name, const char *dt_file, int iou_type) {
    cJSON *e = cJSON_GetObjectItem(load_json(FIX "coco_expected.json"), name);
    coco_gt gt;
    coco_det dt;
    coco_summary s;
    assert_int_equal(coco_gt_load(FIX "coco_gt.json", iou_type == COCO_IOU_SEGM, &gt), 0);
    assert_int_equal(coco_results_load(dt_file, &gt, iou_type == COCO_IOU_SEGM, &dt), 0);
    assert_int_equal(coco_eval_run(&gt, &dt, iou_type, 2, &s), 0);
    for (int i = 0; i < 12; i++) {
        double want = cJSON_GetArrayItem(cJSON_GetObjectItem(e, "stats"), i)->valuedouble;
        if (fabs(s.stats[i] - want) > 1e-9) fail_msg("%s stats[%d] = %.17g, pycocotools %.17g", name, i, s.stats[i], want);
    }
    for (int k = 0; k < s.n_cats; k++) {
        double want = cJSON_GetArrayItem(cJSON_GetObjectItem(e, "cat_ap"), k)->valuedouble;
        assert_int_equal(s.cat_ids[k], cJSON_GetArrayItem(cJSON_GetObjectItem(e, "cat_ids"), k)->valueint);
        if (fabs(s.cat_ap[k] - want) > 1e-9) fail_msg("%s cat %d AP %.17g, pycocotools %.17g", name, k, s.cat_ap[k], want);
    }
    coco_summary_free(&s);
    coco_gt_free(&gt);
    coco_det_free(&dt);
}

static void test_coco_bbox(void **state) {
    (void)state;
    check_run("bbox", FIX "coco_dt_bbox.json", COCO_IOU_BBOX);
}
static void test_coco_segm(void **state) {
    (void)state;
    check_run("segm", FIX "coco_dt_segm.json", COCO_IOU_SEGM);
}
/* mmdet-style mask results carry a bbox: pycocotools then takes the areas from the boxes */
static void test_coco_segm_with_boxes(void **state) {
    (void)state;
    check_run("segm_bbox", FIX "coco_dt_segm_bbox.json", COCO_IOU_SEGM);
}

/* in-memory use without files: a hand-checked case. One image, one gt box, three detections: a perfect
 * match (score .9), a duplicate (.8, FP), a miss (.7, FP). Precision 1 up to recall 1 -> AP 1 at every IoU. */
static void test_coco_in_memory(void **state) {
    (void)state;
    coco_gt_image im = {1, 100, 100};
    int64_t cat = 3;
    coco_gt_ann a = {.id = 0, .image_id = 1, .category_id = 3, .bbox = {10, 10, 40, 40}, .area = 1600};
    coco_gt gt = {1, &im, 1, &cat, 1, &a};
    coco_dt_ann d[3] = {{1, 3, 0.9, {10, 10, 40, 40}, 1600, {0}},
                        {1, 3, 0.8, {10, 10, 40, 40}, 1600, {0}},
                        {1, 3, 0.7, {60, 60, 10, 10}, 100, {0}}};
    coco_det dt = {3, d};
    coco_summary s;
    assert_int_equal(coco_eval_run(&gt, &dt, COCO_IOU_BBOX, 1, &s), 0);
    /* annotation id 0 reads as "unmatched" in pycocotools: the match counts as a false positive */
    assert_true(s.stats[0] == 0);
    coco_summary_free(&s);
    a.id = 5;
    assert_int_equal(coco_eval_run(&gt, &dt, COCO_IOU_BBOX, 1, &s), 0);
    assert_true(fabs(s.stats[0] - 1) < 1e-12);
    assert_true(fabs(s.stats[8] - 1) < 1e-12);
    assert_true(s.stats[3] == -1 && s.stats[5] == -1); /* no small / large ground truth */
    coco_summary_free(&s);
}

static void write_file(const char *path, const char *s) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(s, f);
    fclose(f);
}

static void test_coco_bad_inputs(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("metrics_coco");
    char p[1200], cmd[4096];
    coco_gt gt;
    coco_det dt;
    assert_int_equal(coco_gt_load(FIX "coco_gt.json", 1, &gt), 0);
    /* malformed JSON */
    snprintf(p, sizeof p, "%s/bad.json", dir);
    write_file(p, "[{\"image_id\": 7, \"category_id\": 1, \"bbox\": [1,2,3,4], \"score\": 0.5},\n {\"image_id\": 7,, }]");
    assert_int_equal(coco_results_load(p, &gt, 0, &dt), -1);
    assert_non_null(strstr(err_msg(), "bad.json"));
    assert_non_null(strstr(err_msg(), "entry 1"));
    /* unknown image id */
    write_file(p, "[{\"image_id\": 7, \"category_id\": 1, \"bbox\": [1,2,3,4], \"score\": 0.5},\n"
                  " {\"image_id\": 999, \"category_id\": 1, \"bbox\": [1,2,3,4], \"score\": 0.5}]");
    assert_int_equal(coco_results_load(p, &gt, 0, &dt), -1);
    assert_non_null(strstr(err_msg(), "bad.json: entry 1"));
    assert_non_null(strstr(err_msg(), "999"));
    snprintf(cmd, sizeof cmd, "%s eval coco --gt " FIX "coco_gt.json --dt %s >/dev/null 2>&1", getenv("DB_BIN") ? getenv("DB_BIN") : "build/deltabench", p);
    assert_int_not_equal(system(cmd), 0);
    /* wrong-sized mask (image 3 is 120x90) */
    write_file(p, "[{\"image_id\": 3, \"category_id\": 1, \"segmentation\": {\"size\": [90, 120], \"counts\": [10800]}, \"score\": 0.5}]");
    assert_int_equal(coco_results_load(p, &gt, 1, &dt), -1);
    assert_non_null(strstr(err_msg(), "bad.json: entry 0"));
    assert_non_null(strstr(err_msg(), "size"));
    /* a compressed RLE string whose runs do not cover the mask */
    write_file(p, "[{\"image_id\": 3, \"category_id\": 1, \"segmentation\": {\"size\": [120, 90], \"counts\": \"05\"}, \"score\": 0.5}]");
    assert_int_equal(coco_results_load(p, &gt, 1, &dt), -1);
    assert_non_null(strstr(err_msg(), "entry 0"));
    /* a polygon far outside any image (would overflow the rasteriser's integer walk) */
    write_file(p, "[{\"image_id\": 3, \"category_id\": 1, \"bbox\": [1,2,3,4], \"segmentation\": [[1e12, 0, 5, 5, 0, 5]], \"score\": 0.5}]");
    assert_int_equal(coco_results_load(p, &gt, 1, &dt), -1);
    assert_non_null(strstr(err_msg(), "entry 0"));
    /* malformed ground truth */
    snprintf(p, sizeof p, "%s/gt.json", dir);
    write_file(p, "{\"images\": [{\"id\": 1, \"file_name\": \"a\", \"width\": 5, \"height\": 5}], \"annotations\": [");
    assert_int_equal(coco_gt_load(p, 0, &gt), -1);
    assert_non_null(strstr(err_msg(), "gt.json"));
    coco_gt_free(&gt);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_polygon_rasterisation), cmocka_unit_test(test_coco_bbox),
        cmocka_unit_test(test_coco_segm),            cmocka_unit_test(test_coco_segm_with_boxes),
        cmocka_unit_test(test_coco_in_memory),       cmocka_unit_test(test_coco_bad_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
