/* test_data_coco.c - the COCO reader and its JSON tokenizer on hand-written files: values read off the
 * text, the by-image index, mmdet's filters, every segmentation form, and bad entries (strict and
 * skip_bad). Numbers are checked against glibc strtod (correctly rounded). */
#include "test_util.h"

#include "../core/common.h"
#include "../datasets/coco.h"
#include "../datasets/json_scan.h"

static const char *good =
    "{\"info\": {\"year\": 2017, \"nested\": [[1, {\"a\": null}], \"x\\\"y\"]},\n"
    " \"licenses\": [],\n"
    " \"images\": [\n"
    "  {\"license\": 3, \"file_name\": \"000000000009.jpg\", \"height\": 480, \"width\": 640, \"id\": 9},\n"
    "  {\"id\": 7, \"file_name\": \"a\\u00e9b.jpg\", \"width\": 20, \"height\": 30},\n"
    "  {\"id\": 100, \"file_name\": \"empty.jpg\", \"width\": 50, \"height\": 40}\n"
    " ],\n"
    " \"annotations\": [\n"
    "  {\"segmentation\": [[500.49, 473.53, 599.06, 400.86, 20.0, 30.0], [1,2,3,4,5,6,7,8]], \"area\": 120057.13925,\n"
    "   \"iscrowd\": 0, \"image_id\": 9, \"bbox\": [1.08, 187.69, 611.59, 285.84], \"category_id\": 51, \"id\": 0},\n"
    "  {\"id\": 5, \"image_id\": 7, \"category_id\": 1, \"bbox\": [0, 0, 10, 10], \"iscrowd\": 1,\n"
    "   \"segmentation\": {\"counts\": [5, 10, 585], \"size\": [30, 20]}},\n"
    "  {\"id\": 6, \"image_id\": 9, \"category_id\": 1, \"bbox\": [10, 10, 0.5, 10], \"area\": 5,\n"
    "   \"segmentation\": {\"size\": [480, 640], \"counts\": \"PPYo0\"}},\n"
    "  {\"id\": 8, \"image_id\": 9, \"category_id\": 51, \"bbox\": [630, 470, 20, 20], \"area\": 1e2, \"ignore\": 0}\n"
    " ],\n"
    " \"categories\": [{\"supercategory\": \"kitchen\", \"id\": 51, \"name\": \"bowl\"},\n"
    "                {\"id\": 1, \"name\": \"person\"}]}\n";

static void test_coco_good(void **state) {
    (void)state;
    coco_dataset ds;
    if (coco_parse(good, strlen(good), "good.json", NULL, &ds) < 0) fail_msg("%s", err_msg());
    assert_int_equal(ds.n_images, 3);
    assert_int_equal(ds.n_categories, 2);
    assert_int_equal(ds.n_anns, 4);
    assert_int_equal(ds.images[0].id, 9);
    assert_string_equal(ds.images[0].file_name, "000000000009.jpg");
    assert_int_equal(ds.images[0].width, 640);
    assert_int_equal(ds.images[0].height, 480);
    assert_string_equal(ds.images[1].file_name, "a\xc3\xa9" "b.jpg");
    /* labels follow the file order of "categories" */
    assert_string_equal(ds.categories[0].name, "bowl");
    assert_string_equal(ds.categories[0].supercategory, "kitchen");
    assert_string_equal(ds.categories[1].supercategory, "");
    assert_int_equal(coco_find_label(&ds, 51), 0);
    assert_int_equal(coco_find_label(&ds, 1), 1);
    assert_int_equal(coco_find_label(&ds, 2), -1);
    assert_int_equal(coco_find_image(&ds, 7), 1);
    assert_int_equal(coco_find_image(&ds, 8), -1);
    const coco_ann *a = &ds.anns[0];
    assert_int_equal(a->id, 0);
    assert_int_equal(a->image, 0);
    assert_int_equal(a->label, 0);
    assert_true(a->bbox[0] == 1.08 && a->bbox[1] == 187.69 && a->bbox[2] == 611.59 && a->bbox[3] == 285.84);
    assert_true(a->area == 120057.13925);
    assert_int_equal(a->seg.kind, COCO_SEG_POLY);
    assert_int_equal(a->seg.n_polys, 2);
    assert_int_equal(a->seg.poly_len[0], 6);
    assert_int_equal(a->seg.poly_len[1], 8);
    assert_true(a->seg.xy[0] == 500.49 && a->seg.xy[3] == 400.86 && a->seg.xy[6] == 1 && a->seg.xy[13] == 8);
    a = &ds.anns[1];
    assert_int_equal(a->iscrowd, 1);
    assert_int_equal(a->seg.kind, COCO_SEG_RLE);
    assert_int_equal(a->seg.h, 30);
    assert_int_equal(a->seg.w, 20);
    assert_int_equal(a->seg.n_counts, 3);
    assert_int_equal(a->seg.counts[2], 585);
    assert_int_equal(a->has_area, 0);
    assert_true(a->area == 100); /* w*h when absent */
    a = &ds.anns[2];
    assert_int_equal(a->seg.kind, COCO_SEG_RLE_STR);
    assert_string_equal(a->seg.rle, "PPYo0");
    assert_int_equal(ds.anns[3].seg.kind, COCO_SEG_NONE);
    /* by-image index in file order */
    assert_int_equal(ds.images[0].n_anns, 3);
    assert_int_equal(ds.ann_index[ds.images[0].ann_first + 0], 0);
    assert_int_equal(ds.ann_index[ds.images[0].ann_first + 1], 2);
    assert_int_equal(ds.ann_index[ds.images[0].ann_first + 2], 3);
    assert_int_equal(ds.images[1].n_anns, 1);
    assert_int_equal(ds.images[2].n_anns, 0);
    /* mmdet _filter_imgs: the empty image goes, the crowd-only image stays; min_size 32 drops 20x30 */
    int keep[3];
    assert_int_equal(coco_filter_images(&ds, 1, 0, keep), 2);
    assert_int_equal(keep[0], 0);
    assert_int_equal(keep[1], 1);
    assert_int_equal(coco_filter_images(&ds, 0, 32, keep), 2);
    assert_int_equal(keep[1], 2);
    /* mmdet _parse_ann_info on image 9: ann 0 gt, ann 6 has w < 1 (skipped), ann 8 overlaps 10x10 -> gt */
    float boxes[16];
    int labels[4], idx[4], ngt;
    assert_int_equal(coco_image_targets(&ds, 0, boxes, labels, idx, &ngt), 2);
    assert_int_equal(ngt, 2);
    assert_int_equal(idx[1], 3);
    assert_true(fabsf(boxes[2] - (float)(1.08 + 611.59)) < 1e-4f);
    assert_true(boxes[4] == 630 && boxes[6] == 650);
    /* crowd-only image: one ignored box, no gt */
    assert_int_equal(coco_image_targets(&ds, 1, boxes, labels, idx, &ngt), 1);
    assert_int_equal(ngt, 0);
    assert_int_equal(labels[0], 1);
    coco_free(&ds);
}

static void expect_error(const char *json, const char *n1, const char *n2) {
    coco_dataset ds;
    assert_int_equal(coco_parse(json, strlen(json), "bad.json", NULL, &ds), -1);
    const char *m = err_msg();
    if (!strstr(m, "bad.json") || !strstr(m, n1) || (n2 && !strstr(m, n2))) fail_msg("unexpected message: %s", m);
    assert_int_equal(ds.n_anns, 0);
}

#define HDR "{\"images\": [{\"id\": 1, \"file_name\": \"a.jpg\", \"width\": 10, \"height\": 10}], " \
            "\"categories\": [{\"id\": 3, \"name\": \"c\"}], \"annotations\": ["

static void test_coco_bad(void **state) {
    (void)state;
    expect_error("{\"images\": [}", "bad.json:1:", "byte 12");
    expect_error("{\"images\": [], \"categories\": []", "end of file", NULL);
    expect_error("[1, 2]", "top level", NULL);
    expect_error("{\"images\": []}", "categories", NULL);
    expect_error("{\"images\": [], \"categories\": [],}", "trailing", NULL);
    expect_error("{\"images\": [], \"categories\": []} x", "after the top-level", NULL);
    expect_error("{\"images\": [{\"id\": 1, \"file_name\": \"a\", \"width\": 0, \"height\": 3}], \"categories\": []}",
                 "images[0] (id 1)", "width");
    expect_error(HDR "{\"id\": 4, \"image_id\": 1, \"category_id\": 3, \"bbox\": [1,2,3]}]}", "annotations[0] (id 4)",
                 "expected 4");
    expect_error(HDR "{\"id\": 4, \"image_id\": 2, \"category_id\": 3, \"bbox\": [1,2,3,4]}]}",
                 "annotations[0] (id 4)", "image_id 2");
    expect_error(HDR "{\"id\": 4, \"image_id\": 1, \"category_id\": 9, \"bbox\": [1,2,3,4]}]}", "category_id 9", NULL);
    expect_error(HDR "{\"id\": 4, \"image_id\": 1, \"category_id\": 3, \"bbox\": [1,2,3,4], "
                     "\"segmentation\": [[1,2,3,4]]}]}", "annotations[0] (id 4)", "polygon 0 has 4 coordinates");
    expect_error(HDR "{\"id\": 4, \"image_id\": 1, \"category_id\": 3, \"bbox\": [1,2,3,4], "
                     "\"segmentation\": {\"counts\": [1, 2], \"size\": [10, 10]}}]}", "sum to 3", NULL);
    expect_error(HDR "{\"id\": 4, \"image_id\": 1, \"category_id\": 3, \"bbox\": [1,2,3,4]}, "
                     "{\"id\": 4, \"image_id\": 1, \"category_id\": 3, \"bbox\": [1,2,3,4]}]}", "duplicate annotation id 4",
                 NULL);
    expect_error(HDR "{\"image_id\": 1, \"category_id\": 3, \"bbox\": [1,2,3,4]}]}", "annotations[0]", "missing \"id\"");
    expect_error(HDR "{\"id\": 1.5, \"image_id\": 1, \"category_id\": 3, \"bbox\": [1,2,3,4]}]}", "integer", NULL);
    expect_error(HDR "{\"id\": 1, \"image_id\": 1, \"category_id\": 3, \"bbox\": [1,2,3,4], \"iscrowd\": 2}]}",
                 "0 or 1", NULL);
    expect_error(HDR "{\"id\": 1, \"image_id\": 1, \"category_id\": 3, \"bbox\": [1,2,3,4], \"area\": 01}]}",
                 "expected ','", NULL);
    expect_error("{\"images\": [], \"categories\": [{\"id\": 1, \"name\": \"a\"}, {\"id\": 1, \"name\": \"b\"}]}",
                 "duplicate category id 1", NULL);
    expect_error("{\"images\": [{\"id\": 1, \"file_name\": \"a\", \"width\": 1, \"height\": 3}, "
                 "{\"id\": 1, \"file_name\": \"b\", \"width\": 1, \"height\": 3}], \"categories\": []}",
                 "duplicate image id 1", NULL);
    expect_error("{\"images\": [], \"categories\": [], \"x\": \"\\q\"}", "bad escape", NULL);
    assert_int_equal(coco_load("build/tmp/no/such/file.json", NULL, &(coco_dataset){0}), -1);
    assert_non_null(strstr(err_msg(), "no/such/file.json"));
}

static void test_coco_skip_bad(void **state) {
    (void)state;
    const char *json = HDR "{\"id\": 4, \"image_id\": 1, \"category_id\": 3, \"bbox\": [1,2,3,4]},"
                           "{\"id\": 5, \"image_id\": 1, \"category_id\": 3, \"bbox\": [1,2,3,4], "
                           " \"segmentation\": [[1,2,3,4,5,6],[1,2]]},"
                           "{\"id\": 6, \"image_id\": 77, \"category_id\": 3, \"bbox\": [1,2,3,4]},"
                           "{\"id\": 7, \"image_id\": 1, \"category_id\": 3, \"bbox\": [5,6,7,8], "
                           " \"segmentation\": [[9,8,7,6,5,4]]}]}";
    coco_options o = {.skip_bad = 1};
    coco_dataset ds;
    if (coco_parse(json, strlen(json), "skip.json", &o, &ds) < 0) fail_msg("%s", err_msg());
    assert_int_equal(ds.n_anns, 2);
    assert_int_equal(ds.n_skipped, 2);
    assert_int_equal(ds.anns[1].id, 7);
    /* the dropped entry's coordinates were rolled back */
    assert_int_equal(ds.anns[1].seg.n_polys, 1);
    assert_true(ds.anns[1].seg.xy[0] == 9 && ds.anns[1].seg.xy[5] == 4);
    assert_int_equal(ds.images[0].n_anns, 2);
    coco_free(&ds);
}

static void test_json_numbers(void **state) {
    (void)state;
    rng_t r;
    rng_seed(&r, 42);
    char buf[128];
    for (int i = 0; i < 200000; i++) {
        int kind = (int)rng_below(&r, 4);
        if (kind == 0) snprintf(buf, sizeof buf, "%.2f", rng_uniform(&r) * 1000);
        else if (kind == 1) snprintf(buf, sizeof buf, "%.17g", (rng_uniform(&r) - 0.5) * 1e6);
        else if (kind == 2) snprintf(buf, sizeof buf, "%lluE%d", (unsigned long long)rng_u64(&r) >> (rng_below(&r, 64)),
                                     (int)rng_below(&r, 80) - 40);
        else snprintf(buf, sizeof buf, "-0.%09u%09ue-%u", (unsigned)rng_below(&r, 1000000000),
                      (unsigned)rng_below(&r, 1000000000), rng_below(&r, 300));
        jscan s;
        js_init(&s, buf, strlen(buf), "n");
        double v;
        assert_int_equal(js_number(&s, &v), 0);
        assert_int_equal(js_finish(&s), 0);
        double ref = strtod(buf, NULL);
        if (memcmp(&v, &ref, sizeof v)) fail_msg("%s: %.17g vs strtod %.17g", buf, v, ref);
    }
    const char *bad[] = {"01", "1.", ".5", "-", "1e", "+1", "1.e5", "--1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        jscan s;
        js_init(&s, bad[i], strlen(bad[i]), "n");
        double v;
        int rc = js_number(&s, &v);
        if (rc == 0) rc = js_finish(&s);
        if (rc == 0) fail_msg("accepted %s", bad[i]);
    }
    /* deep nesting is skipped without recursion */
    size_t depth = 50000;
    char *deep = malloc(2 * depth + 1);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    jscan s;
    js_init(&s, deep, 2 * depth, "deep");
    assert_int_equal(js_skip(&s), 0);
    assert_int_equal(js_finish(&s), 0);
    free(deep);
    /* surrogate pair */
    const char *str = "\"\\ud83d\\ude00\"";
    js_init(&s, str, strlen(str), "s");
    char *out;
    assert_int_equal(js_string(&s, &out, NULL), 0);
    assert_string_equal(out, "\xf0\x9f\x98\x80");
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_coco_good),
        cmocka_unit_test(test_coco_bad),
        cmocka_unit_test(test_coco_skip_bad),
        cmocka_unit_test(test_json_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
