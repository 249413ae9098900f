/* test_cls_augment.c - augmentation geometry against hand-computed cases: cv2-style bilinear resize on
 * tiny rows, the RandomResizedCrop fallbacks (wide, tall, in-range images), the test resize + center
 * crop of a linear-ramp image (bilinear interpolation reproduces a ramp exactly, so every output value
 * is known in closed form), flips, normalisation, and the RandomResizedCrop draws' bounds. */
#include "test_util.h"

#include "../core/common.h"
#include "../datasets/cls_augment.h"

static void test_resize_rows(void **state) {
    (void)state;
    /* upscale [0, 100] to 4: src x = (d + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25 -> clamp, 25, 75, clamp */
    uint8_t src[2] = {0, 100}, dst[4];
    cls_resize_bilinear(src, 2, 1, 0, 0, 2, 1, 4, 1, 0, 0, 4, 1, dst);
    uint8_t want[4] = {0, 25, 75, 100};
    assert_memory_equal(dst, want, 4);
    /* downscale [0, 10, 20, 30] to 2: src x = 0.5, 2.5 -> 5, 25 (no antialias, as cv2 INTER_LINEAR) */
    uint8_t s4[4] = {0, 10, 20, 30}, d2[2];
    cls_resize_bilinear(s4, 4, 1, 0, 0, 4, 1, 2, 1, 0, 0, 2, 1, d2);
    assert_int_equal(d2[0], 5);
    assert_int_equal(d2[1], 25);
    /* crop region (x 1..2 of the same row) resized to 4: [10, 20] -> 10, 12.5, 17.5, 20 -> rounds to even */
    uint8_t d4[4];
    cls_resize_bilinear(s4, 4, 1, 1, 0, 2, 1, 4, 1, 0, 0, 4, 1, d4);
    assert_int_equal(d4[0], 10);
    assert_int_equal(d4[1], 12); /* 12.5 -> lrintf half-even -> 12 */
    assert_int_equal(d4[2], 18); /* 17.5 -> 18 */
    assert_int_equal(d4[3], 20);
    /* same size: identity */
    uint8_t id[4];
    cls_resize_bilinear(s4, 4, 1, 0, 0, 4, 1, 4, 1, 0, 0, 4, 1, id);
    assert_memory_equal(id, s4, 4);
}

static void test_rrc_fallback(void **state) {
    (void)state;
    cls_aug_cfg c;
    cls_aug_default(&c, 224);
    rng_t r;
    rng_seed(&r, 1);
    /* scale (1, 1) on a 100x20 image: w = sqrt(2000*ar) fits but h = sqrt(2000/ar) >= 38 > 20: all 10
     * attempts fail. Fallback: W/H = 5 > 4/3 -> h = 20, w = round(20 * 4/3) = round(26.67) = 27,
     * x0 = (100 - 27) // 2 = 36, y0 = 0. */
    c.scale_min = c.scale_max = 1.0;
    cls_crop b = cls_rrc_params(&r, 100, 20, &c);
    assert_int_equal(b.w, 27);
    assert_int_equal(b.h, 20);
    assert_int_equal(b.x0, 36);
    assert_int_equal(b.y0, 0);
    /* tall 20x100: W/H = 0.2 < 3/4 -> w = 20, h = round(20 / 0.75) = 27, y0 = 36 */
    b = cls_rrc_params(&r, 20, 100, &c);
    assert_int_equal(b.w * 1000 + b.h, 20 * 1000 + 27);
    assert_int_equal(b.x0 * 1000 + b.y0, 36);
    /* scale 1.5 never fits; 50x40 has W/H = 1.25 inside the range -> whole image */
    c.scale_min = c.scale_max = 1.5;
    b = cls_rrc_params(&r, 50, 40, &c);
    assert_int_equal(b.x0 + b.y0, 0);
    assert_int_equal(b.w * 1000 + b.h, 50040);
    /* max_attempts 0 goes straight to the fallback */
    cls_aug_default(&c, 224);
    c.max_attempts = 0;
    b = cls_rrc_params(&r, 300, 200, &c);
    assert_int_equal(b.w * 1000 + b.h, 267200); /* 1.5 > 4/3 -> h 200, w round(266.67) = 267 */
    assert_int_equal(b.x0, 16);                 /* (300 - 267) // 2 */
}

static void test_rrc_draws_in_range(void **state) {
    (void)state;
    cls_aug_cfg c;
    cls_aug_default(&c, 224);
    int W = 500, H = 375, n_fallback = 0, flips = 0;
    double lo_ar = 1e9, hi_ar = 0, lo_s = 1e9, hi_s = 0;
    for (int i = 0; i < 4000; i++) {
        cls_crop b = cls_aug_train_params(W, H, &c, cls_aug_seed(7, 3, i));
        assert_true(b.x0 >= 0 && b.y0 >= 0 && b.w >= 1 && b.h >= 1);
        assert_true(b.x0 + b.w <= W && b.y0 + b.h <= H);
        flips += b.flip;
        if (b.w == W && b.h == H) {
            n_fallback++;
            continue;
        }
        double ar = (double)b.w / b.h, s = (double)b.w * b.h / (W * H);
        if (ar < lo_ar) lo_ar = ar;
        if (ar > hi_ar) hi_ar = ar;
        if (s < lo_s) lo_s = s;
        if (s > hi_s) hi_s = s;
        /* rounding to whole pixels moves the ratio by at most ~1 pixel in each side */
        assert_true(ar > 0.75 * (1 - 2.0 / b.h) - 1e-9 && ar < 4.0 / 3.0 * (1 + 2.0 / b.h) + 1e-9);
    }
    assert_true(lo_s < 0.09 && hi_s > 0.9);
    assert_true(lo_ar < 0.77 && hi_ar > 1.30);
    assert_true(flips > 1800 && flips < 2200);
    assert_true(n_fallback < 40);
    /* the draws are a function of the sample seed only */
    cls_crop a = cls_aug_train_params(W, H, &c, cls_aug_seed(7, 3, 11));
    cls_crop b = cls_aug_train_params(W, H, &c, cls_aug_seed(7, 3, 11));
    assert_memory_equal(&a, &b, sizeof a);
    assert_true(cls_aug_seed(7, 3, 11) != cls_aug_seed(7, 4, 11));
    assert_true(cls_aug_seed(7, 3, 11) != cls_aug_seed(8, 3, 11));
}

static void test_test_pipeline_ramp(void **state) {
    (void)state;
    cls_aug_cfg c;
    cls_aug_default(&c, 48);
    c.resize_short = 64;
    /* 120 x 80 (W x H): short side H -> 64, W' = int(64 * 120 / 80) = 96; scale 1.25 both ways.
     * Center crop: x1 = round((96 - 48) / 2) = 24, y1 = round((64 - 48) / 2) = 8. */
    int rw, rh;
    cls_crop box;
    cls_test_geometry(120, 80, &c, &rw, &rh, &box);
    assert_int_equal(rw, 96);
    assert_int_equal(rh, 64);
    assert_int_equal(box.x0, 24);
    assert_int_equal(box.y0, 8);
    assert_int_equal(box.w * 1000 + box.h, 48048);
    /* R = 2x, G = 3y, B = 100: output R = round(2 * ((24 + j + 0.5) * 1.25 - 0.5)) = round(60.25 + 2.5 j),
     * G = round(3 * ((8 + i + 0.5) * 1.25 - 0.5)) = round(30.375 + 3.75 i) (no ties in either). */
    image im;
    assert_int_equal(image_alloc(&im, 120, 80, 3), 0);
    for (int y = 0; y < 80; y++)
        for (int x = 0; x < 120; x++) {
            uint8_t *p = image_px(&im, x, y);
            p[0] = (uint8_t)(2 * x);
            p[1] = (uint8_t)(3 * y);
            p[2] = 100;
        }
    float *out = malloc(sizeof(float) * 3 * 48 * 48);
    assert_int_equal(cls_aug_test(&im, &c, out, NULL), 0);
    for (int i = 0; i < 48; i++)
        for (int j = 0; j < 48; j++) {
            double r = floor(60.25 + 2.5 * j + 0.5), g = floor(30.375 + 3.75 * i + 0.5);
            assert_true(fabs(out[i * 48 + j] - (r - 123.675) / 58.395) < 1e-5);
            assert_true(fabs(out[48 * 48 + i * 48 + j] - (g - 116.28) / 57.12) < 1e-5);
            assert_true(fabs(out[2 * 48 * 48 + i * 48 + j] - (100 - 103.53) / 57.375) < 1e-5);
        }
    /* Resize is skipped when the short side already has the target length; odd margins round half-even:
     * 64 x 81 -> crop y1 = round(16.5) = 16, x1 = 8 */
    cls_test_geometry(64, 81, &c, &rw, &rh, &box);
    assert_int_equal(rw * 1000 + rh, 64081);
    assert_int_equal(box.y0, 16);
    assert_int_equal(box.x0, 8);
    cls_test_geometry(64, 83, &c, &rw, &rh, &box);
    assert_int_equal(box.y0, 18); /* round(17.5) = 18 */
    /* portrait: W < H -> W' = 64, H' = int(64 * 200 / 100) = 128 */
    cls_test_geometry(100, 200, &c, &rw, &rh, &box);
    assert_int_equal(rw * 1000 + rh, 64128);
    cls_test_geometry(100, 299, &c, &rw, &rh, &box);
    assert_int_equal(rh, 191); /* int(191.36) */
    image_free(&im);
    free(out);
}

static void test_train_flip_and_fallback(void **state) {
    (void)state;
    cls_aug_cfg c;
    cls_aug_default(&c, 4);
    c.scale_min = c.scale_max = 2.0; /* never fits: the whole 4x4 image (ratio 1 is in range) */
    c.flip_prob = 1.0;
    image im;
    assert_int_equal(image_alloc(&im, 4, 4, 3), 0);
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++)
            for (int k = 0; k < 3; k++) image_px(&im, x, y)[k] = (uint8_t)(10 * x + 50 * y + k);
    c.mean[0] = c.mean[1] = c.mean[2] = 0;
    c.std[0] = c.std[1] = c.std[2] = 1;
    float out[48];
    assert_int_equal(cls_aug_train(&im, &c, 123, out, NULL), 0);
    for (int k = 0; k < 3; k++)
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 4; x++) assert_float_equal(out[k * 16 + y * 4 + x], 10 * (3 - x) + 50 * y + k, 0);
    c.flip_prob = 0.0;
    assert_int_equal(cls_aug_train(&im, &c, 123, out, NULL), 0);
    assert_float_equal(out[1], 10, 0);
    image_free(&im);
    /* bad inputs */
    image g;
    assert_int_equal(image_alloc(&g, 4, 4, 1), 0);
    assert_int_equal(cls_aug_train(&g, &c, 1, out, NULL), -1);
    image_free(&g);
    c.resize_short = 2;
    assert_int_equal(cls_aug_check(&c), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resize_rows),        cmocka_unit_test(test_rrc_fallback),
        cmocka_unit_test(test_rrc_draws_in_range), cmocka_unit_test(test_test_pipeline_ramp),
        cmocka_unit_test(test_train_flip_and_fallback),
    };
    return cmocka_run_group_tests_name("cls_augment", tests, NULL, NULL);
}
