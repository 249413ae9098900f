/* test_data_ade20k.c - ADE20K folder scan (sorted, recursive, missing label maps) and label maps with
 * reduce_zero_label (gray and palette PNGs; expected values worked out by hand from mmseg's rule). */
#include "test_util.h"

#include "../core/common.h"
#include "../datasets/ade20k.h"
#include "../datasets/image.h"

static void write_label(const char *path, const uint8_t *v, int w, int h, int palette) {
    image im;
    assert_int_equal(image_alloc(&im, w, h, 1), 0);
    memcpy(im.data, v, (size_t)w * h);
    uint8_t pal[256 * 3];
    for (int i = 0; i < 256; i++) pal[3 * i] = (uint8_t)i, pal[3 * i + 1] = (uint8_t)(255 - i), pal[3 * i + 2] = 7;
    int rc = palette ? image_write_png_palette(path, &im, pal, 256) : image_write_png(path, &im);
    assert_int_equal(rc, 0);
    image_free(&im);
}

static void write_jpg(const char *path) {
    image im;
    assert_int_equal(image_alloc(&im, 4, 2, 3), 0);
    assert_int_equal(image_write_jpeg(path, &im, 90), 0);
    image_free(&im);
}

static void test_ade20k_scan_and_labels(void **state) {
    (void)state;
    const char *root = test_tmp_dir("ade20k");
    char p[4096];
    const char *dirs[] = {"images/validation/sub", "annotations/validation/sub"};
    for (int i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s", root, dirs[i]);
        assert_int_equal(mkdir_p(p), 0);
    }
    const char *names[] = {"ADE_val_00000002", "ADE_val_00000001", "sub/ADE_val_00000003"};
    uint8_t lab[8] = {0, 1, 2, 150, 255, 7, 0, 151};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/images/validation/%s.jpg", root, names[i]);
        write_jpg(p);
        snprintf(p, sizeof p, "%s/annotations/validation/%s.png", root, names[i]);
        uint8_t l2[8];
        memcpy(l2, lab, 8);
        if (i < 2) l2[7] = 3; /* only the third map has the out-of-range 151 */
        write_label(p, l2, 4, 2, i == 1);
    }
    ade20k_dataset ds;
    if (ade20k_open(root, "validation", 0, &ds, NULL) < 0) fail_msg("%s", err_msg());
    assert_int_equal(ds.n, 3);
    assert_non_null(strstr(ds.images[0], "ADE_val_00000001.jpg"));
    assert_non_null(strstr(ds.labels[0], "annotations/validation/ADE_val_00000001.png"));
    assert_non_null(strstr(ds.images[2], "sub/ADE_val_00000003.jpg"));
    /* palette map (index values) and gray map give the same labels after reduce_zero_label */
    for (int i = 0; i < 2; i++) {
        image im;
        if (seg_read_label(ds.labels[i], 1, ADE20K_N_CLASSES, &im) < 0) fail_msg("%s", err_msg());
        uint8_t want[8] = {255, 0, 1, 149, 255, 6, 255, 2};
        assert_int_equal(im.w, 4);
        assert_int_equal(im.h, 2);
        assert_memory_equal(im.data, want, 8);
        image_free(&im);
    }
    image im;
    assert_int_equal(seg_read_label(ds.labels[2], 1, ADE20K_N_CLASSES, &im), -1);
    assert_non_null(strstr(err_msg(), "ADE_val_00000003.png: pixel (x 3, y 1) has label 151"));
    /* without the reduction the raw values come back */
    assert_int_equal(seg_read_label(ds.labels[0], 0, 256, &im), 0);
    assert_memory_equal(im.data, ((uint8_t[8]){0, 1, 2, 150, 255, 7, 0, 3}), 8);
    image_free(&im);
    ade20k_close(&ds);

    /* a missing label map: an error naming it, or skipped and counted */
    snprintf(p, sizeof p, "%s/images/validation/ADE_val_00000009.jpg", root);
    write_jpg(p);
    assert_int_equal(ade20k_open(root, "validation", 0, &ds, NULL), -1);
    assert_non_null(strstr(err_msg(), "ADE_val_00000009.png"));
    int skipped = 0;
    assert_int_equal(ade20k_open(root, "validation", 1, &ds, &skipped), 0);
    assert_int_equal(ds.n, 3);
    assert_int_equal(skipped, 1);
    ade20k_close(&ds);
    assert_int_equal(ade20k_open(root, "training", 0, &ds, NULL), -1);
    assert_non_null(strstr(err_msg(), "images/training"));
    /* a corrupt label map */
    snprintf(p, sizeof p, "%s/bad.png", root);
    assert_int_equal(file_write_atomic(p, "\x89PNG\r\n\x1a\nxx", 10), 0);
    assert_int_equal(seg_read_label(p, 1, ADE20K_N_CLASSES, &im), -1);
    assert_non_null(strstr(err_msg(), "bad.png"));
}

static void test_reduce_zero_label(void **state) {
    (void)state;
    uint8_t v[256];
    for (int i = 0; i < 256; i++) v[i] = (uint8_t)i;
    seg_reduce_zero_label(v, 256);
    assert_int_equal(v[0], 255);
    assert_int_equal(v[1], 0);
    assert_int_equal(v[151], 150);
    assert_int_equal(v[254], 253);
    assert_int_equal(v[255], 255);
    assert_string_equal(ade20k_classes[0], "wall");
    assert_string_equal(ade20k_classes[149], "flag");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ade20k_scan_and_labels),
        cmocka_unit_test(test_reduce_zero_label),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
