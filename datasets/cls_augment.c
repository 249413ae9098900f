/* cls_augment.c - RandomResizedCrop / flip / resize-short-side + center crop / ImageNet normalisation
 * with mmcls 0.25 semantics (see cls_augment.h for the rules and where they come from). */
#include "cls_augment.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void cls_aug_default(cls_aug_cfg *c, int size) {
    memset(c, 0, sizeof *c);
    c->size = size;
    c->resize_short = (int)lround(size * 256.0 / 224.0);
    c->scale_min = 0.08;
    c->scale_max = 1.0;
    c->ratio_min = 3.0 / 4.0;
    c->ratio_max = 4.0 / 3.0;
    c->max_attempts = 10;
    c->flip_prob = 0.5;
    const float mean[3] = {123.675f, 116.28f, 103.53f}, std[3] = {58.395f, 57.12f, 57.375f};
    memcpy(c->mean, mean, sizeof mean);
    memcpy(c->std, std, sizeof std);
}

int cls_aug_check(const cls_aug_cfg *c) {
    if (c->size < 1 || c->size > 4096) return err_set("augmentation: output size %d outside 1..4096", c->size);
    if (c->resize_short < c->size)
        return err_set("augmentation: test resize %d is smaller than the crop %d", c->resize_short, c->size);
    if (!(c->scale_min > 0 && c->scale_min <= c->scale_max))
        return err_set("augmentation: bad scale range (%g, %g)", c->scale_min, c->scale_max);
    if (!(c->ratio_min > 0 && c->ratio_min <= c->ratio_max))
        return err_set("augmentation: bad ratio range (%g, %g)", c->ratio_min, c->ratio_max);
    if (c->max_attempts < 0) return err_set("augmentation: max_attempts %d < 0", c->max_attempts);
    if (!(c->flip_prob >= 0 && c->flip_prob <= 1)) return err_set("augmentation: flip_prob %g outside 0..1", c->flip_prob);
    for (int k = 0; k < 3; k++)
        if (!(c->std[k] > 0)) return err_set("augmentation: std[%d] = %g must be > 0", k, c->std[k]);
    return 0;
}

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t cls_aug_seed(uint64_t seed, int64_t epoch, int64_t index) {
    uint64_t h = mix64(seed + 0x9e3779b97f4a7c15ULL);
    h = mix64(h ^ ((uint64_t)epoch + 0x632be59bd9b4e019ULL));
    h = mix64(h ^ ((uint64_t)index + 0x8cb92ba72f3d8dd7ULL));
    return h;
}

double cls_rng_double(rng_t *r) { return (double)(rng_u64(r) >> 11) * (1.0 / 9007199254740992.0); }

/* Python round(): nearest, ties to even (nearbyint in the default rounding mode). */
static int py_round(double x) { return (int)nearbyint(x); }

/* random.randint(a, b), inclusive */
static int rand_int(rng_t *r, int a, int b) { return a + (int)rng_below(r, (uint32_t)(b - a + 1)); }

cls_crop cls_rrc_params(rng_t *r, int W, int H, const cls_aug_cfg *c) {
    cls_crop b = {0, 0, W, H, 0};
    double area = (double)W * H;
    double lr0 = log(c->ratio_min), lr1 = log(c->ratio_max);
    for (int t = 0; t < c->max_attempts; t++) {
        double target_area = (c->scale_min + (c->scale_max - c->scale_min) * cls_rng_double(r)) * area;
        double ar = exp(lr0 + (lr1 - lr0) * cls_rng_double(r));
        int tw = py_round(sqrt(target_area * ar));
        int th = py_round(sqrt(target_area / ar));
        if (tw > 0 && tw <= W && th > 0 && th <= H) {
            b.y0 = rand_int(r, 0, H - th); /* mmcls draws ymin first */
            b.x0 = rand_int(r, 0, W - tw);
            b.w = tw;
            b.h = th;
            return b;
        }
    }
    double in_ratio = (double)W / H;
    int tw, th;
    if (in_ratio < c->ratio_min) {
        tw = W;
        th = py_round(tw / c->ratio_min);
    } else if (in_ratio > c->ratio_max) {
        th = H;
        tw = py_round(th * c->ratio_max);
    } else {
        tw = W;
        th = H;
    }
    b.y0 = (H - th) / 2; /* floor division of non-negative values */
    b.x0 = (W - tw) / 2;
    b.w = tw;
    b.h = th;
    return b;
}

cls_crop cls_aug_train_params(int W, int H, const cls_aug_cfg *c, uint64_t sample_seed) {
    rng_t r;
    rng_seed(&r, sample_seed);
    cls_crop b = cls_rrc_params(&r, W, H, c);
    b.flip = cls_rng_double(&r) < c->flip_prob;
    return b;
}

void cls_test_geometry(int W, int H, const cls_aug_cfg *c, int *rw, int *rh, cls_crop *box) {
    int t = c->resize_short;
    int w = W, h = H;
    if (!((W <= H && W == t) || (H <= W && H == t))) {
        if (W < H) {
            w = t;
            h = (int)((double)t * H / W);
        } else {
            h = t;
            w = (int)((double)t * W / H);
        }
    }
    *rw = w;
    *rh = h;
    int y1 = py_round((h - c->size) / 2.0), x1 = py_round((w - c->size) / 2.0);
    if (y1 < 0) y1 = 0;
    if (x1 < 0) x1 = 0;
    int y2 = (h < y1 + c->size ? h : y1 + c->size), x2 = (w < x1 + c->size ? w : x1 + c->size);
    box->x0 = x1;
    box->y0 = y1;
    box->w = x2 - x1;
    box->h = y2 - y1;
    box->flip = 0;
}

/* cv2 INTER_LINEAR source coordinate for destination index d: integer index and weight of the next. */
static void lin_coord(int d, double scale, int n, int *i0, float *f) {
    double fx = (d + 0.5) * scale - 0.5;
    int sx = (int)floor(fx);
    fx -= sx;
    if (sx < 0) {
        fx = 0;
        sx = 0;
    }
    if (sx >= n - 1) {
        fx = 0;
        sx = n - 1;
    }
    *i0 = sx;
    *f = (float)fx;
}

void cls_resize_bilinear(const uint8_t *src, int src_w, int c, int sx0, int sy0, int sw, int sh, int dw, int dh,
                         int ox, int oy, int ow, int oh, uint8_t *dst) {
    double scx = (double)sw / dw, scy = (double)sh / dh;
    int *xi = malloc(sizeof(int) * ow);
    float *xf = malloc(sizeof(float) * ow);
    DB_ASSERT(xi && xf);
    for (int j = 0; j < ow; j++) lin_coord(ox + j, scx, sw, &xi[j], &xf[j]);
    size_t stride = (size_t)src_w * c;
    for (int i = 0; i < oh; i++) {
        int y0;
        float fy;
        lin_coord(oy + i, scy, sh, &y0, &fy);
        int y1 = y0 + (fy > 0 ? 1 : 0);
        const uint8_t *r0 = src + (size_t)(sy0 + y0) * stride + (size_t)sx0 * c;
        const uint8_t *r1 = src + (size_t)(sy0 + y1) * stride + (size_t)sx0 * c;
        uint8_t *o = dst + (size_t)i * ow * c;
        for (int j = 0; j < ow; j++) {
            int x0 = xi[j], x1 = x0 + (xf[j] > 0 ? 1 : 0);
            float fx = xf[j];
            for (int k = 0; k < c; k++) {
                float a = r0[x0 * c + k] + fx * (r0[x1 * c + k] - r0[x0 * c + k]);
                float b = r1[x0 * c + k] + fx * (r1[x1 * c + k] - r1[x0 * c + k]);
                float v = a + fy * (b - a);
                int q = (int)lrintf(v);
                o[j * c + k] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
            }
        }
    }
    free(xi);
    free(xf);
}

void cls_normalize_chw(const uint8_t *hwc, int w, int h, const float mean[3], const float std[3], int flip,
                       float *out) {
    size_t plane = (size_t)w * h;
    for (int k = 0; k < 3; k++) {
        float m = mean[k], is = 1.0f / std[k];
        float *o = out + k * plane;
        for (int y = 0; y < h; y++) {
            const uint8_t *row = hwc + (size_t)y * w * 3;
            for (int x = 0; x < w; x++) {
                int sx = flip ? w - 1 - x : x;
                o[(size_t)y * w + x] = ((float)row[sx * 3 + k] - m) * is;
            }
        }
    }
}

static int check_image(const image *im) {
    if (!im || !im->data || im->c != 3 || im->w < 1 || im->h < 1)
        return err_set("augmentation: need a decoded 3-channel image (got %dx%dx%d)", im ? im->w : 0, im ? im->h : 0,
                       im ? im->c : 0);
    return 0;
}

int cls_aug_train(const image *im, const cls_aug_cfg *c, uint64_t sample_seed, float *out, uint8_t *scratch) {
    if (check_image(im)) return -1;
    cls_crop b = cls_aug_train_params(im->w, im->h, c, sample_seed);
    uint8_t *buf = scratch ? scratch : xmalloc((size_t)c->size * c->size * 3);
    cls_resize_bilinear(im->data, im->w, 3, b.x0, b.y0, b.w, b.h, c->size, c->size, 0, 0, c->size, c->size, buf);
    cls_normalize_chw(buf, c->size, c->size, c->mean, c->std, b.flip, out);
    if (!scratch) free(buf);
    return 0;
}

int cls_aug_test(const image *im, const cls_aug_cfg *c, float *out, uint8_t *scratch) {
    if (check_image(im)) return -1;
    int rw, rh;
    cls_crop b;
    cls_test_geometry(im->w, im->h, c, &rw, &rh, &b);
    if (b.w != c->size || b.h != c->size)
        return err_set("augmentation: image %dx%d resized to %dx%d is smaller than the %d crop", im->w, im->h, rw, rh,
                       c->size);
    uint8_t *buf = scratch ? scratch : xmalloc((size_t)c->size * c->size * 3);
    cls_resize_bilinear(im->data, im->w, 3, 0, 0, im->w, im->h, rw, rh, b.x0, b.y0, b.w, b.h, buf);
    cls_normalize_chw(buf, c->size, c->size, c->mean, c->std, 0, out);
    if (!scratch) free(buf);
    return 0;
}
