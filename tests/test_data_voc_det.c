/* test_data_voc_det.c - the VOC detection dataset on a hand-made VOCdevkit: 07+12 concatenation, mmdet 2.x's
 * int(float(v)) - 1 boxes (expected values computed by hand), difficult -> ignore, unknown classes,
 * the training filter, a missing <size> (read from the JPEG header) and bad files. */
#include "test_util.h"

#include "../core/common.h"
#include "../datasets/image.h"
#include "../datasets/voc_det.h"

static void put(const char *root, const char *rel, const char *text) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    char d[4096];
    snprintf(d, sizeof d, "%s", p);
    *strrchr(d, '/') = 0;
    assert_int_equal(mkdir_p(d), 0);
    assert_int_equal(file_write_atomic(p, text, strlen(text)), 0);
}

static void test_voc_det(void **state) {
    (void)state;
    const char *root = test_tmp_dir("voc_det");
    put(root, "VOC2007/ImageSets/Main/trainval.txt", "000001\n000002\n\n000003\n");
    put(root, "VOC2007/ImageSets/Main/test.txt", "000004\n");
    put(root, "VOC2012/ImageSets/Main/trainval.txt", "2008_000001\n");
    put(root, "VOC2007/Annotations/000001.xml",
        "<annotation><size><width>353</width><height>500</height><depth>3</depth></size>"
        "<object><name>dog</name><difficult>0</difficult><bndbox><xmin>48</xmin><ymin>240</ymin>"
        "<xmax>195.7</xmax><ymax>371</ymax></bndbox></object>"
        "<object><name>person</name><difficult>1</difficult><bndbox><xmin>8</xmin><ymin>12</ymin>"
        "<xmax>352</xmax><ymax>498</ymax></bndbox></object>"
        "<object><name>unicorn</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox>"
        "</object></annotation>");
    /* only difficult objects: kept by the filter (mmdet counts any known-class object) */
    put(root, "VOC2007/Annotations/000002.xml",
        "<annotation><size><width>100</width><height>100</height></size>"
        "<object><name>cat</name><difficult>1</difficult><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>50</xmax>"
        "<ymax>50</ymax></bndbox></object></annotation>");
    /* too small (shorter side 31): filtered in training, kept in test mode */
    put(root, "VOC2007/Annotations/000003.xml",
        "<annotation><size><width>31</width><height>100</height></size>"
        "<object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>20</xmax><ymax>50</ymax></bndbox>"
        "</object></annotation>");
    put(root, "VOC2007/Annotations/000004.xml",
        "<annotation><object><name>car</name><bndbox><xmin>2</xmin><ymin>3</ymin><xmax>10</xmax><ymax>7</ymax>"
        "</bndbox></object></annotation>");
    put(root, "VOC2012/Annotations/2008_000001.xml",
        "<annotation><size><width>500</width><height>375</height></size><object><name>tvmonitor</name>"
        "<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>500</xmax><ymax>375</ymax></bndbox></object></annotation>");
    /* 000004 has no <size>: its JPEG header gives 64 x 48 */
    char p[4096];
    snprintf(p, sizeof p, "%s/VOC2007/JPEGImages", root);
    assert_int_equal(mkdir_p(p), 0);
    snprintf(p, sizeof p, "%s/VOC2007/JPEGImages/000004.jpg", root);
    image im;
    assert_int_equal(image_alloc(&im, 64, 48, 3), 0);
    assert_int_equal(image_write_jpeg(p, &im, 90), 0);
    image_free(&im);

    const char *trainval[2] = {"VOC2007/trainval", "VOC2012/trainval"};
    voc_det_dataset ds;
    if (voc_det_load(root, trainval, 2, 0, 0, &ds) < 0) fail_msg("%s", err_msg());
    assert_int_equal(ds.n, 3);
    assert_int_equal(ds.n_filtered, 1);
    assert_int_equal(ds.n_unknown_class, 1);
    voc_det_image *a = &ds.images[0];
    assert_string_equal(a->id, "000001");
    assert_int_equal(a->year, 2007);
    assert_int_equal(a->width, 353);
    assert_int_equal(a->n_gt, 1);
    assert_int_equal(a->n_ignore, 1);
    /* dog: 48 240 195.7 371 -> int() -> 48 240 195 371 -> -1 -> 47 239 194 370 */
    float want[8] = {47, 239, 194, 370, 7, 11, 351, 497};
    assert_memory_equal(a->boxes, want, sizeof want);
    assert_int_equal(a->labels[0], 11); /* dog */
    assert_int_equal(a->labels[1], 14); /* person, difficult -> ignore */
    assert_int_equal(ds.images[1].n_gt, 0);
    assert_int_equal(ds.images[1].n_ignore, 1);
    assert_string_equal(ds.images[2].id, "2008_000001");
    assert_int_equal(ds.images[2].year, 2012);
    assert_int_equal(ds.images[2].labels[0], 19);
    assert_non_null(strstr(ds.images[2].image_path, "VOC2012/JPEGImages/2008_000001.jpg"));
    voc_det_free(&ds);

    const char *test[1] = {"VOC2007/test"};
    assert_int_equal(voc_det_load(root, test, 1, 1, 0, &ds), 0);
    assert_int_equal(ds.n, 1);
    assert_int_equal(ds.images[0].width, 64);
    assert_int_equal(ds.images[0].height, 48);
    voc_det_free(&ds);

    /* bad inputs: a missing XML and a malformed one name the list line and the file */
    put(root, "VOC2007/ImageSets/Main/bad.txt", "000001\n000009\n");
    const char *bad[1] = {"VOC2007/bad"};
    assert_int_equal(voc_det_load(root, bad, 1, 0, 0, &ds), -1);
    assert_non_null(strstr(err_msg(), "bad.txt line 2 (id 000009)"));
    assert_non_null(strstr(err_msg(), "000009.xml"));
    assert_int_equal(voc_det_load(root, bad, 1, 0, 1, &ds), 0);
    assert_int_equal(ds.n, 1);
    assert_int_equal(ds.n_skipped, 1);
    voc_det_free(&ds);
    put(root, "VOC2007/Annotations/000009.xml", "<annotation><object><name>cat</name></annotation>");
    assert_int_equal(voc_det_load(root, bad, 1, 0, 0, &ds), -1);
    assert_non_null(strstr(err_msg(), "malformed XML"));
    const char *nosplit[1] = {"trainval"};
    assert_int_equal(voc_det_load(root, nosplit, 1, 0, 0, &ds), -1);
    const char *missing[1] = {"VOC2007/nothere"};
    assert_int_equal(voc_det_load(root, missing, 1, 0, 0, &ds), -1);
    assert_non_null(strstr(err_msg(), "ImageSets/Main/nothere.txt"));
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_voc_det)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
