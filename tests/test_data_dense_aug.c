/* test_data_dense_aug.c - dense augmentation on hand-computed cases: mmcv rescale sizes, cv2 bilinear and
 * nearest sampling, box/mask/rotated-box flips (mmdet/mmrotate formulas worked by hand), crops, cat_max_ratio,
 * HSV conversion against known colours, normalization, padding and collation. */
#include "test_util.h"

#include "../core/common.h"
#include "../datasets/dense_aug.h"

#define PI 3.14159265358979323846

static void make_sample(dense_sample *s, int w, int h) {
    image im;
    assert_int_equal(image_alloc(&im, w, h, 3), 0);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) image_px(&im, x, y)[c] = (uint8_t)(10 * x + y + c);
    dense_sample_init(s, &im);
}

static void test_rescale(void **state) {
    (void)state;
    int w, h;
    dense_rescale_size(500, 375, 1000, 600, &w, &h); /* min(2, 1.6) */
    assert_int_equal(w, 800);
    assert_int_equal(h, 600);
    dense_rescale_size(640, 480, 1333, 800, &w, &h); /* 1.6667: 1066.67 -> 1067 */
    assert_int_equal(w, 1067);
    assert_int_equal(h, 800);
    dense_rescale_size(375, 500, 600, 1000, &w, &h); /* order of the scale does not matter */
    assert_int_equal(w, 600);
    assert_int_equal(h, 800);
    rng_t r;
    rng_seed(&r, 1);
    for (int i = 0; i < 100; i++) {
        int L, S;
        dense_random_ratio_scale(&r, 2048, 512, 0.5f, 2.0f, &L, &S);
        assert_true(L >= 1024 && L <= 4096 && S >= 256 && S <= 1024);
        assert_true(abs(L - 4 * S) <= 4);
        dense_random_range_scale(&r, 1333, 1333, 480, 800, &L, &S);
        assert_true(L == 1333 && S >= 480 && S <= 800);
    }
}

static void test_resize(void **state) {
    (void)state;
    /* 2x1 image [0, 100] to 4x1: cv2 linear gives 0, 25, 75, 100 */
    image im;
    assert_int_equal(image_alloc(&im, 2, 1, 3), 0);
    memset(image_px(&im, 1, 0), 100, 3);
    dense_sample s;
    dense_sample_init(&s, &im);
    s.seg = malloc(2);
    s.seg[0] = 1, s.seg[1] = 2;
    s.n_boxes = 1;
    s.boxes = malloc(4 * sizeof(float));
    float b0[4] = {0.5f, 0, 2, 1};
    memcpy(s.boxes, b0, sizeof b0);
    s.n_rboxes = 1;
    s.rboxes = malloc(sizeof(rbox));
    s.rboxes[0] = (rbox){1, 0.5f, 1, 0.5f, 0.2f};
    assert_int_equal(dense_resize(&s, 4, 1, 0), 0);
    assert_int_equal(s.img.w, 4);
    uint8_t want[4] = {0, 25, 75, 100};
    for (int x = 0; x < 4; x++) assert_int_equal(image_px(&s.img, x, 0)[0], want[x]);
    /* nearest: floor(x * 0.5) */
    assert_int_equal(s.seg[0], 1);
    assert_int_equal(s.seg[1], 1);
    assert_int_equal(s.seg[2], 2);
    assert_int_equal(s.seg[3], 2);
    assert_true(s.boxes[0] == 1 && s.boxes[2] == 4 && s.boxes[3] == 1);
    /* RResize: x * 2, y * 1, w and h * sqrt(2) */
    assert_true(fabsf(s.rboxes[0].x - 2) < 1e-6f && fabsf(s.rboxes[0].w - sqrtf(2)) < 1e-6f &&
                fabsf(s.rboxes[0].h - 0.5f * sqrtf(2)) < 1e-6f && s.rboxes[0].a == 0.2f);
    assert_true(s.scale_w == 2 && s.scale_h == 1);
    dense_sample_free(&s);
    /* keep-ratio with clipping of a box that overhangs */
    make_sample(&s, 500, 375);
    s.n_boxes = 1;
    s.boxes = malloc(4 * sizeof(float));
    float b1[4] = {10, 20, 110, 400};
    memcpy(s.boxes, b1, sizeof b1);
    assert_int_equal(dense_resize(&s, 1000, 600, 1), 0);
    assert_int_equal(s.img_w, 800);
    float w1[4] = {16, 32, 176, 600};
    for (int k = 0; k < 4; k++) assert_true(fabsf(s.boxes[k] - w1[k]) < 1e-4f);
    dense_sample_free(&s);
}

static void test_flip(void **state) {
    (void)state;
    for (int ver = 0; ver < 2; ver++) {
        dense_sample s;
        make_sample(&s, 20, 10);
        s.rver = ver ? RBOX_OC : RBOX_LE90;
        s.n_boxes = 1;
        s.boxes = malloc(4 * sizeof(float));
        float b[4] = {0, 1, 5, 3};
        memcpy(s.boxes, b, sizeof b);
        s.n_masks = 1;
        s.masks = calloc(200, 1);
        s.masks[0] = 1; /* pixel (0, 0) */
        s.n_rboxes = 1;
        s.rboxes = malloc(sizeof(rbox));
        s.rboxes[0] = ver ? (rbox){10, 5, 4, 2, 0.3f} : (rbox){10, 5, 4, 2, 0.3f};
        dense_flip(&s, DENSE_FLIP_H);
        assert_true(s.boxes[0] == 15 && s.boxes[2] == 20 && s.boxes[1] == 1);
        assert_int_equal(s.masks[19], 1);
        assert_int_equal(s.masks[0], 0);
        assert_int_equal(image_px(&s.img, 0, 0)[0], 190); /* was at x = 19 */
        assert_true(s.rboxes[0].x == 9 && s.rboxes[0].y == 5);
        if (ver == 0) {
            assert_true(fabsf(s.rboxes[0].a + 0.3f) < 1e-6f && s.rboxes[0].w == 4);
        } else { /* oc: the short side now points at pi/2 - 0.3 */
            assert_true(fabsf(s.rboxes[0].a - (float)(PI / 2 - 0.3)) < 1e-6f && s.rboxes[0].w == 2 && s.rboxes[0].h == 4);
        }
        dense_flip(&s, DENSE_FLIP_D);
        /* diagonal: x' = W - x - 1, y' = H - y - 1, angle kept */
        assert_true(s.rboxes[0].x == 10 && s.rboxes[0].y == 4);
        assert_true(s.boxes[0] == 0 && s.boxes[2] == 5 && s.boxes[1] == 7 && s.boxes[3] == 9);
        assert_int_equal(s.masks[199], 0);
        assert_int_equal(s.masks[180], 1); /* (19,0) -> (0, 9) */
        dense_flip(&s, DENSE_FLIP_V);
        assert_true(s.boxes[1] == 1 && s.boxes[3] == 3);
        dense_sample_free(&s);
    }
    rng_t r;
    rng_seed(&r, 3);
    int counts[4] = {0};
    for (int i = 0; i < 4000; i++) {
        dense_sample s;
        make_sample(&s, 2, 2);
        float p[3] = {0.25f, 0.25f, 0.25f};
        counts[dense_random_flip(&s, &r, p)]++;
        dense_sample_free(&s);
    }
    for (int k = 0; k < 4; k++) assert_true(counts[k] > 850 && counts[k] < 1150);
}

static void test_crop(void **state) {
    (void)state;
    dense_sample s;
    make_sample(&s, 20, 10);
    s.n_boxes = 2;
    s.boxes = malloc(8 * sizeof(float));
    s.labels = malloc(2 * sizeof(int));
    float b[8] = {2, 2, 8, 8, 15, 0, 19, 3};
    memcpy(s.boxes, b, sizeof b);
    s.labels[0] = 4, s.labels[1] = 7;
    s.n_masks = 2;
    s.masks = calloc(400, 1);
    s.masks[200 + 3 * 20 + 17] = 1; /* mask 1 at (17, 3) */
    s.seg = malloc(200);
    for (int i = 0; i < 200; i++) s.seg[i] = (uint8_t)(i % 20);
    /* crop x 10..19, y 1..6: box 0 clipped to nothing (x2 8 < 10) -> dropped; box 1 -> (5, 0, 9, 2) */
    assert_int_equal(dense_crop(&s, 10, 1, 10, 6), 0);
    assert_int_equal(s.img_w, 10);
    assert_int_equal(s.img_h, 6);
    assert_int_equal(s.n_boxes, 1);
    assert_int_equal(s.labels[0], 7);
    assert_true(s.boxes[0] == 5 && s.boxes[1] == 0 && s.boxes[2] == 9 && s.boxes[3] == 2);
    assert_int_equal(s.n_masks, 1);
    assert_int_equal(s.masks[2 * 10 + 7], 1); /* (17,3) -> (7,2) */
    assert_int_equal(s.seg[0], 10);
    assert_int_equal(image_px(&s.img, 0, 0)[0], 10 * 10 + 1);
    assert_int_equal(dense_crop(&s, 50, 50, 5, 5), -1);
    dense_sample_free(&s);

    /* cat_max_ratio: left half class 0, right half class 1; a 2x2 crop passes only across the border */
    int ok = 0;
    for (int seed = 0; seed < 20; seed++) {
        rng_t r;
        rng_seed(&r, (uint64_t)seed);
        make_sample(&s, 4, 4);
        s.seg = malloc(16);
        for (int i = 0; i < 16; i++) s.seg[i] = (uint8_t)(i % 4 >= 2);
        assert_int_equal(dense_random_crop_seg(&s, &r, 2, 2, 0.75f), 0);
        assert_int_equal(s.img_w, 2);
        ok += s.seg[0] != s.seg[1];
        dense_sample_free(&s);
    }
    assert_true(ok >= 18); /* fails only when 11 draws in a row miss (p = (2/3)^11 each) */

    /* mmdet absolute_range crop: sizes within [384, 600] (clamped to the image), boxes inside the crop */
    rng_t r;
    rng_seed(&r, 5);
    for (int t = 0; t < 20; t++) {
        make_sample(&s, 700, 500);
        s.n_boxes = 1;
        s.boxes = malloc(4 * sizeof(float));
        s.labels = malloc(sizeof(int));
        float bb[4] = {0, 0, 20, 20};
        memcpy(s.boxes, bb, sizeof bb);
        s.labels[0] = 1;
        int rc = dense_random_crop_det(&s, &r, 384, 600, 0);
        if (rc == 1) {
            assert_true(s.img_w >= 384 && s.img_w <= 600 && s.img_h >= 384 && s.img_h <= 500);
            assert_int_equal(s.n_boxes, 1); /* the only box survived, else the crop was refused */
            assert_true(s.boxes[0] >= 0 && s.boxes[2] <= s.img_w);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(s.img_w, 700); /* unchanged */
        }
        dense_sample_free(&s);
    }
}

static void test_hsv_photometric(void **state) {
    (void)state;
    struct { uint8_t rgb[3], hsv[3]; } known[] = {
        {{255, 0, 0}, {0, 255, 255}},   {{0, 255, 0}, {60, 255, 255}}, {{0, 0, 255}, {120, 255, 255}},
        {{255, 255, 0}, {30, 255, 255}}, {{128, 128, 128}, {0, 0, 128}}, {{255, 0, 255}, {150, 255, 255}},
        {{100, 50, 0}, {15, 255, 100}},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        uint8_t hsv[3], back[3];
        dense_rgb_to_hsv8(known[i].rgb, hsv);
        assert_memory_equal(hsv, known[i].hsv, 3);
        dense_hsv8_to_rgb(hsv, back);
        assert_memory_equal(back, known[i].rgb, 3);
    }
    /* round trip error of uint8 HSV stays small for all colours on a grid */
    int worst = 0;
    for (int r = 0; r < 256; r += 5)
        for (int g = 0; g < 256; g += 5)
            for (int b = 0; b < 256; b += 5) {
                uint8_t p[3] = {(uint8_t)r, (uint8_t)g, (uint8_t)b}, hsv[3], q[3];
                dense_rgb_to_hsv8(p, hsv);
                dense_hsv8_to_rgb(hsv, q);
                for (int k = 0; k < 3; k++) worst = abs(p[k] - q[k]) > worst ? abs(p[k] - q[k]) : worst;
            }
    assert_true(worst <= 6); /* cv2 4.6 itself round-trips this grid with a worst error of 6 (H in 2-degree steps) */
    /* photometric keeps size, is deterministic for a seed and changes something */
    dense_sample a, b;
    make_sample(&a, 16, 8);
    make_sample(&b, 16, 8);
    rng_t r1, r2;
    rng_seed(&r1, 77);
    rng_seed(&r2, 77);
    int changed = 0;
    for (int i = 0; i < 5; i++) {
        dense_photometric(&a, &r1);
        dense_photometric(&b, &r2);
    }
    assert_memory_equal(a.img.data, b.img.data, 16 * 8 * 3);
    dense_sample c;
    make_sample(&c, 16, 8);
    changed = memcmp(a.img.data, c.img.data, 16 * 8 * 3) != 0;
    assert_true(changed);
    dense_sample_free(&a), dense_sample_free(&b), dense_sample_free(&c);
}

static void test_normalize_collate(void **state) {
    (void)state;
    dense_sample a, b;
    make_sample(&a, 3, 2);
    make_sample(&b, 40, 33);
    a.seg = calloc(6, 1);
    assert_int_equal(dense_normalize_pad(&a, dense_imagenet_mean, dense_imagenet_std, 32), 0);
    assert_int_equal(dense_normalize_pad(&b, dense_imagenet_mean, dense_imagenet_std, 32), 0);
    assert_int_equal(a.pad_w, 32);
    assert_int_equal(a.pad_h, 32);
    assert_int_equal(b.pad_w, 64);
    assert_int_equal(b.pad_h, 64);
    /* pixel (1, 1) channel 2: 10 + 1 + 2 = 13 -> (13 - 103.53) / 57.375 */
    assert_true(fabsf(a.norm[(2 * 32 + 1) * 32 + 1] - (13 - 103.53f) / 57.375f) < 1e-5f);
    assert_true(a.norm[(0 * 32 + 5) * 32 + 5] == 0);
    assert_int_equal(a.seg[1 * 32 + 2], 0);
    assert_int_equal(a.seg[1 * 32 + 3], 255);
    dense_sample *batch[2] = {&a, &b};
    float *t;
    uint8_t *sg;
    int H, W;
    assert_int_equal(dense_collate(batch, 2, &t, &H, &W, &sg), 0);
    assert_int_equal(H, 64);
    assert_int_equal(W, 64);
    assert_true(t[(0 * 64 + 1) * 64 + 1] == a.norm[(0 * 32 + 1) * 32 + 1]);
    assert_true(t[(0 * 64 + 40) * 64 + 40] == 0);
    assert_true(t[((size_t)(1 * 3 + 1) * 64 + 10) * 64 + 20] == b.norm[(1 * 64 + 10) * 64 + 20]);
    assert_int_equal(sg[0], 0);
    assert_int_equal(sg[40 * 64 + 40], 255);
    assert_int_equal(sg[64 * 64 + 5], 255); /* b has no label map */
    free(t);
    free(sg);
    dense_sample_free(&a);
    dense_sample_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rescale), cmocka_unit_test(test_resize),           cmocka_unit_test(test_flip),
        cmocka_unit_test(test_crop),    cmocka_unit_test(test_hsv_photometric), cmocka_unit_test(test_normalize_collate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
