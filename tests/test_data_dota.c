/* test_data_dota.c - DOTA/STAR annotation text, poly2obb (le90/oc), rotated IoU and NMS, patch splitting and
 * merging, on hand-computed cases (angles and areas worked out on paper; window starts from img_split's
 * formulas by hand). */
#include "test_util.h"

#include "../core/common.h"
#include "../datasets/dota.h"

#define PI 3.14159265358979323846

static void test_dota_txt(void **state) {
    (void)state;
    const char *txt = "imagesource:GoogleEarth\r\ngsd:0.146343590398\r\n"
                      "2753 2408 2861 2385 2888 2468 2805 2502 plane 0\r\n"
                      "\r\n"
                      "10.5 20 50 20 50 40 10 40 small-vehicle 1\n"
                      "1 2 3 2 3 4 1 4 helicopter\n";
    dota_ann a;
    if (dota_parse_txt(txt, strlen(txt), "P0001.txt", dota_classes_v10, 15, NULL, &a, NULL) < 0)
        fail_msg("%s", err_msg());
    assert_string_equal(a.imagesource, "GoogleEarth");
    assert_true(fabs(a.gsd - 0.146343590398) < 1e-12);
    assert_int_equal(a.n_objects, 3);
    assert_true(a.objects[0].poly[0] == 2753 && a.objects[0].poly[7] == 2502);
    assert_int_equal(a.objects[0].label, 0);
    assert_int_equal(a.objects[0].line, 3);
    assert_true(a.objects[1].poly[0] == 10.5f);
    assert_int_equal(a.objects[1].label, 4);
    assert_int_equal(a.objects[1].difficult, 1);
    assert_int_equal(a.objects[2].label, 14);
    assert_int_equal(a.objects[2].difficult, 0);
    dota_ann_free(&a);
    /* v1.5 class, STAR class */
    const char *t15 = "1 1 9 1 9 9 1 9 container-crane 0\n";
    assert_int_equal(dota_parse_txt(t15, strlen(t15), "x.txt", dota_classes_v10, 15, NULL, &a, NULL), -1);
    assert_non_null(strstr(err_msg(), "x.txt:1: unknown class 'container-crane'"));
    assert_int_equal(dota_parse_txt(t15, strlen(t15), "x.txt", dota_classes_v15, 16, NULL, &a, NULL), 0);
    assert_int_equal(a.objects[0].label, 15);
    dota_ann_free(&a);
    const char *ts = "1 1 9 1 9 9 1 9 containment_vessel 0\n";
    assert_int_equal(dota_parse_txt(ts, strlen(ts), "s.txt", star_classes, 48, NULL, &a, NULL), 0);
    assert_int_equal(a.objects[0].label, 47);
    dota_ann_free(&a);
    /* bad lines */
    const char *bad = "1 1 9 1 9 9 1 9 plane 0\n1 1 9 1 9 x 1 9 plane 0\n1 2 3\n";
    assert_int_equal(dota_parse_txt(bad, strlen(bad), "b.txt", dota_classes_v10, 15, NULL, &a, NULL), -1);
    assert_non_null(strstr(err_msg(), "b.txt:2: coordinate 6"));
    dota_options o = {.skip_bad = 1};
    int skipped = 0;
    assert_int_equal(dota_parse_txt(bad, strlen(bad), "b.txt", dota_classes_v10, 15, &o, &a, &skipped), 0);
    assert_int_equal(a.n_objects, 1);
    assert_int_equal(skipped, 2);
    dota_ann_free(&a);
}

static void test_poly_to_rbox(void **state) {
    (void)state;
    /* axis-aligned 40x20 rectangle centred at (30, 30) */
    float p[8] = {10, 20, 50, 20, 50, 40, 10, 40};
    rbox b;
    assert_int_equal(poly_to_rbox(p, RBOX_LE90, &b), 1);
    assert_true(fabsf(b.x - 30) < 1e-4f && fabsf(b.y - 30) < 1e-4f);
    assert_true(fabsf(b.w - 40) < 1e-4f && fabsf(b.h - 20) < 1e-4f && fabsf(b.a) < 1e-6f);
    /* oc: angle in (0, 90]: the 20-long side is the one at 90 degrees */
    assert_int_equal(poly_to_rbox(p, RBOX_OC, &b), 1);
    assert_true(fabsf(b.w - 20) < 1e-4f && fabsf(b.h - 40) < 1e-4f && fabsf(b.a - (float)(PI / 2)) < 1e-6f);
    /* a 60x10 box rotated by +30 degrees, corners worked out by hand:
       c = (100, 50), u = (cos30, sin30) * 30 = (25.9808, 15), v = (-sin30, cos30) * 5 = (-2.5, 4.3301) */
    float q[8] = {100 + 25.9808f - 2.5f, 50 + 15 + 4.3301f, 100 + 25.9808f + 2.5f, 50 + 15 - 4.3301f,
                  100 - 25.9808f + 2.5f, 50 - 15 - 4.3301f, 100 - 25.9808f - 2.5f, 50 - 15 + 4.3301f};
    assert_int_equal(poly_to_rbox(q, RBOX_LE90, &b), 1);
    assert_true(fabsf(b.x - 100) < 1e-3f && fabsf(b.y - 50) < 1e-3f);
    assert_true(fabsf(b.w - 60) < 1e-3f && fabsf(b.h - 10) < 1e-3f);
    assert_true(fabsf(b.a - (float)(PI / 6)) < 1e-5f);
    /* oc: the 10-long side points at 30 + 90 = 120 degrees, outside (0, 90]; the 60-long side at 30 */
    assert_int_equal(poly_to_rbox(q, RBOX_OC, &b), 1);
    assert_true(fabsf(b.w - 60) < 1e-3f && fabsf(b.a - (float)(PI / 6)) < 1e-5f);
    /* rotated by -30 degrees: le90 -> -30, oc -> 60 with w and h swapped */
    for (int i = 0; i < 4; i++) q[2 * i + 1] = 100 - q[2 * i + 1];
    assert_int_equal(poly_to_rbox(q, RBOX_LE90, &b), 1);
    assert_true(fabsf(b.a + (float)(PI / 6)) < 1e-5f && fabsf(b.w - 60) < 1e-3f);
    assert_int_equal(poly_to_rbox(q, RBOX_OC, &b), 1);
    assert_true(fabsf(b.a - (float)(PI / 3)) < 1e-5f && fabsf(b.w - 10) < 1e-3f && fabsf(b.h - 60) < 1e-3f);
    /* point order does not matter; a quadrilateral that is not a rectangle: triangle-ish kite */
    float k[8] = {0, 0, 10, 0, 10, 10, 0, 10};
    float k2[8] = {10, 10, 0, 0, 0, 10, 10, 0}; /* self-intersecting order, same hull */
    rbox b1, b2;
    assert_int_equal(poly_to_rbox(k, RBOX_LE90, &b1), 1);
    assert_int_equal(poly_to_rbox(k2, RBOX_LE90, &b2), 1);
    assert_true(b1.x == b2.x && b1.y == b2.y && b1.w == b2.w && b1.h == b2.h);
    /* a square: le90 gives -90 degrees for the axis-aligned case (cv2 >= 4.5.1 reports 90, then wrapped) */
    assert_true(fabsf(b1.a + (float)(PI / 2)) < 1e-6f);
    /* too thin: dropped as mmrotate does (side < 2) */
    float thin[8] = {0, 0, 50, 0, 50, 1.5f, 0, 1.5f};
    assert_int_equal(poly_to_rbox(thin, RBOX_LE90, &b), 0);
    float line[8] = {0, 0, 1, 1, 2, 2, 3, 3};
    assert_int_equal(poly_to_rbox(line, RBOX_OC, &b), 0);
    /* roundtrip through the polygon */
    rbox r = {200, 100, 80, 30, 0.7f}, r2;
    float pp[8];
    rbox_to_poly(&r, pp);
    assert_int_equal(poly_to_rbox(pp, RBOX_LE90, &r2), 1);
    assert_true(fabsf(r2.x - 200) < 1e-3f && fabsf(r2.w - 80) < 1e-3f && fabsf(r2.h - 30) < 1e-3f);
    assert_true(fabsf(r2.a - 0.7f) < 1e-5f);
}

static void test_rbox_iou_nms(void **state) {
    (void)state;
    rbox a = {0, 0, 2, 2, 0}, b = {0, 0, 2, 2, (float)(PI / 4)};
    assert_true(fabs(rbox_iou(&a, &a) - 1) < 1e-6);
    /* a square and the same square turned 45 degrees: octagon 8(sqrt2-1), IoU = 1/sqrt2 */
    assert_true(fabs(rbox_iou(&a, &b) - 1 / sqrt(2.0)) < 1e-5);
    /* axis-aligned 4x2 boxes shifted by 1 in x: inter 3x2 = 6, union 10 */
    rbox c = {10, 10, 4, 2, 0}, d = {11, 10, 4, 2, 0};
    assert_true(fabs(rbox_iou(&c, &d) - 0.6) < 1e-6);
    rbox e = {11, 10, 2, 4, (float)(PI / 2)}; /* same as d, other representation */
    assert_true(fabs(rbox_iou(&c, &e) - 0.6) < 1e-5);
    rbox far = {100, 100, 4, 2, 0};
    assert_true(rbox_iou(&c, &far) == 0);
    rbox boxes[4] = {c, d, far, {10.2f, 10, 4, 2, 0}};
    float scores[4] = {0.5f, 0.9f, 0.3f, 0.1f};
    int keep[4];
    /* d first (0.9); c has IoU 0.6 with d -> suppressed; far kept; the last has IoU 3.2/4.8 = 0.667 with d */
    assert_int_equal(rbox_nms(boxes, scores, 4, 0.5f, keep), 2);
    assert_int_equal(keep[0], 1);
    assert_int_equal(keep[1], 2);
    /* at 0.7: c (0.6 with d) stays, and c suppresses the last (IoU 7.6/8.4 = 0.905) */
    assert_int_equal(rbox_nms(boxes, scores, 4, 0.7f, keep), 3);
    assert_int_equal(keep[1], 0);
}

static void test_split_merge(void **state) {
    (void)state;
    int win[4 * 16];
    /* 2000 x 1500, size 1024, gap 200: step 824; x starts 0, 824, 976 (last moved in); y starts 0, 476 */
    assert_int_equal(dota_split_windows(2000, 1500, 1024, 200, 0.6, win, 16), 6);
    int expect[6][2] = {{0, 0}, {0, 476}, {824, 0}, {824, 476}, {976, 0}, {976, 476}};
    for (int i = 0; i < 6; i++) {
        assert_int_equal(win[4 * i], expect[i][0]);
        assert_int_equal(win[4 * i + 1], expect[i][1]);
        assert_int_equal(win[4 * i + 2], expect[i][0] + 1024);
    }
    /* a small image: one padded window, kept although its image rate 0.143 < 0.6 */
    assert_int_equal(dota_split_windows(500, 300, 1024, 200, 0.6, win, 16), 1);
    assert_int_equal(win[2], 1024);
    /* 1100 wide: x starts 0 and 824 -> 76 (1100 - 1024) */
    assert_int_equal(dota_split_windows(1100, 1024, 1024, 200, 0.6, win, 16), 2);
    assert_int_equal(win[4], 76);
    assert_int_equal(dota_split_windows(10, 10, 100, 100, 0.6, win, 16), -1);

    /* window objects: one inside, one 75% inside (truncated -> difficult 2), one 50% inside (dropped) */
    dota_ann a = {0};
    dota_object objs[3] = {
        {{100, 100, 140, 100, 140, 120, 100, 120}, 1, 0, 1},
        {{1014, 10, 1054, 10, 1054, 20, 1014, 20}, 2, 0, 2}, /* window x in [0, 1024): 10 of 40 wide inside */
        {{994, 30, 1034, 30, 1034, 40, 994, 40}, 3, 1, 3},   /* 30 of 40 inside: iof 0.75 */
    };
    a.objects = objs;
    a.n_objects = 3;
    a.gsd = -1;
    int w0[4] = {0, 0, 1024, 1024};
    dota_ann out;
    assert_int_equal(dota_window_objects(&a, w0, 0.7, &out), 2);
    assert_int_equal(out.objects[0].difficult, 0);
    assert_int_equal(out.objects[1].label, 3);
    assert_int_equal(out.objects[1].difficult, 2);
    dota_ann_free(&out);
    int w1[4] = {976, 0, 2000, 1024};
    assert_int_equal(dota_window_objects(&a, w1, 0.7, &out), 2); /* the last two lie inside [976, 2000) */
    assert_true(out.objects[0].poly[0] == 1014 - 976);
    assert_int_equal(out.objects[0].difficult, 0);
    assert_int_equal(out.objects[1].difficult, 1);
    dota_ann_free(&out);

    char orig[64], name[128];
    int x, y;
    dota_patch_name("P0001", 1024, 824, 0, name, sizeof name);
    assert_string_equal(name, "P0001__1024__824___0");
    assert_int_equal(dota_patch_name_parse(name, orig, sizeof orig, &x, &y), 0);
    assert_string_equal(orig, "P0001");
    assert_int_equal(x, 824);
    assert_int_equal(y, 0);
    assert_int_equal(dota_patch_name_parse("P0002__1.0__10___20", orig, sizeof orig, &x, &y), 0);
    assert_true(x == 10 && y == 20);
    assert_int_equal(dota_patch_name_parse("P0003", orig, sizeof orig, &x, &y), -1);
    assert_string_equal(orig, "P0003");

    /* merge: the same plane seen from two patches; a second class untouched */
    dota_det dets[3] = {{{900, 50, 40, 20, 0}, 0.8f, 0}, {{76, 50, 40, 20, 0}, 0.9f, 0}, {{5, 5, 4, 4, 0}, 0.3f, 1}};
    int px[3] = {0, 824, 0}, py[3] = {0, 0, 0};
    dota_det m[3];
    assert_int_equal(dota_merge_dets(dets, px, py, 3, 2, 0.1f, m), 2);
    assert_true(m[0].score == 0.9f && m[0].box.x == 900 && m[0].label == 0);
    assert_int_equal(m[1].label, 1);
}

static void test_dota_dir(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("dota_dir");
    char path[2048];
    snprintf(path, sizeof path, "%s/b.txt", dir);
    const char *t1 = "0 0 40 0 40 20 0 20 ship 0\n0 0 40 0 40 1 0 1 ship 0\n";
    assert_int_equal(file_write_atomic(path, t1, strlen(t1)), 0);
    snprintf(path, sizeof path, "%s/a.txt", dir);
    assert_int_equal(file_write_atomic(path, "", 0), 0);
    dota_dataset ds;
    if (dota_load_dir(dir, dota_classes_v10, 15, RBOX_LE90, 0, NULL, &ds) < 0) fail_msg("%s", err_msg());
    assert_int_equal(ds.n_items, 2);
    assert_string_equal(ds.items[0].stem, "a");
    assert_int_equal(ds.items[1].ann.n_objects, 2);
    assert_int_equal(ds.items[1].n_boxes, 1);
    assert_int_equal(ds.n_dropped, 1);
    assert_int_equal(ds.items[1].labels[0], 6);
    dota_dataset_free(&ds);
    assert_int_equal(dota_load_dir(dir, dota_classes_v10, 15, RBOX_LE90, 1, NULL, &ds), 0);
    assert_int_equal(ds.n_items, 1);
    dota_dataset_free(&ds);
    assert_int_equal(dota_load_dir("build/tmp/nonexistent_dir", dota_classes_v10, 15, RBOX_LE90, 1, NULL, &ds), -1);
    assert_non_null(strstr(err_msg(), "nonexistent_dir"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dota_txt),  cmocka_unit_test(test_poly_to_rbox), cmocka_unit_test(test_rbox_iou_nms),
        cmocka_unit_test(test_split_merge), cmocka_unit_test(test_dota_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
