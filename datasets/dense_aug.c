/* dense_aug.c - dense-task augmentation (see dense_aug.h). */
#include "dense_aug.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const float dense_imagenet_mean[3] = {123.675f, 116.28f, 103.53f};
const float dense_imagenet_std[3] = {58.395f, 57.12f, 57.375f};

void dense_sample_init(dense_sample *s, image *img) {
    memset(s, 0, sizeof *s);
    s->img = *img;
    memset(img, 0, sizeof *img);
    s->ori_w = s->img_w = s->img.w;
    s->ori_h = s->img_h = s->img.h;
    s->scale_w = s->scale_h = 1;
}

void dense_sample_free(dense_sample *s) {
    image_free(&s->img);
    free(s->boxes), free(s->labels), free(s->rboxes), free(s->rlabels), free(s->masks), free(s->seg), free(s->norm);
    memset(s, 0, sizeof *s);
}

void dense_rescale_size(int w, int h, int long_edge, int short_edge, int *nw, int *nh) {
    double mx = w > h ? w : h, mn = w > h ? h : w;
    int L = long_edge > short_edge ? long_edge : short_edge, S = long_edge > short_edge ? short_edge : long_edge;
    double sc = fmin(L / mx, S / mn);
    *nw = (int)(w * sc + 0.5);
    *nh = (int)(h * sc + 0.5);
    if (*nw < 1) *nw = 1;
    if (*nh < 1) *nh = 1;
}

void dense_random_ratio_scale(rng_t *r, int long_edge, int short_edge, float lo, float hi, int *ol, int *os) {
    double ratio = rng_uniform(r) * (hi - lo) + lo;
    *ol = (int)(long_edge * ratio);
    *os = (int)(short_edge * ratio);
}

void dense_random_range_scale(rng_t *r, int long_lo, int long_hi, int short_lo, int short_hi, int *ol, int *os) {
    *ol = long_lo + (int)rng_below(r, (uint32_t)(long_hi - long_lo + 1));
    *os = short_lo + (int)rng_below(r, (uint32_t)(short_hi - short_lo + 1));
}

/* cv2 INTER_LINEAR geometry, float arithmetic */
static void resize_bilinear(const image *src, image *dst) {
    double sx_scale = (double)src->w / dst->w, sy_scale = (double)src->h / dst->h;
    int C = src->c;
    int *x0 = malloc(sizeof(int) * (size_t)dst->w);
    float *fx = malloc(sizeof(float) * (size_t)dst->w);
    for (int x = 0; x < dst->w; x++) {
        double f = (x + 0.5) * sx_scale - 0.5;
        int sx = (int)floor(f);
        f -= sx;
        if (sx < 0) f = 0, sx = 0;
        if (sx >= src->w - 1) f = 0, sx = src->w - 1;
        x0[x] = sx;
        fx[x] = (float)f;
    }
    for (int y = 0; y < dst->h; y++) {
        double f = (y + 0.5) * sy_scale - 0.5;
        int sy = (int)floor(f);
        f -= sy;
        if (sy < 0) f = 0, sy = 0;
        if (sy >= src->h - 1) f = 0, sy = src->h - 1;
        int sy1 = sy + 1 < src->h ? sy + 1 : sy;
        float fy = (float)f;
        for (int x = 0; x < dst->w; x++) {
            int sx = x0[x], sx1 = sx + 1 < src->w ? sx + 1 : sx;
            const uint8_t *a = image_px(src, sx, sy), *b = image_px(src, sx1, sy), *c = image_px(src, sx, sy1),
                          *d = image_px(src, sx1, sy1);
            uint8_t *o = image_px(dst, x, y);
            for (int k = 0; k < C; k++) {
                float v = (1 - fy) * ((1 - fx[x]) * a[k] + fx[x] * b[k]) + fy * ((1 - fx[x]) * c[k] + fx[x] * d[k]);
                int iv = (int)lrintf(v);
                o[k] = (uint8_t)(iv < 0 ? 0 : iv > 255 ? 255 : iv);
            }
        }
    }
    free(x0);
    free(fx);
}

/* cv2 INTER_NEAREST: sx = min(floor(x * src/dst), src-1) */
static uint8_t *resize_nearest(const uint8_t *src, int sw, int sh, int dw, int dh) {
    uint8_t *dst = xmalloc((size_t)dw * dh);
    double fx = (double)sw / dw, fy = (double)sh / dh;
    for (int y = 0; y < dh; y++) {
        int sy = (int)floor(y * fy);
        if (sy > sh - 1) sy = sh - 1;
        for (int x = 0; x < dw; x++) {
            int sx = (int)floor(x * fx);
            if (sx > sw - 1) sx = sw - 1;
            dst[(size_t)y * dw + x] = src[(size_t)sy * sw + sx];
        }
    }
    return dst;
}

static float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }

int dense_resize(dense_sample *s, int long_edge, int short_edge, int keep_ratio) {
    int w = s->img.w, h = s->img.h, nw, nh;
    if (long_edge <= 0 || short_edge <= 0) return err_set("dense_resize: scale (%d, %d) must be positive", long_edge, short_edge);
    if (keep_ratio) dense_rescale_size(w, h, long_edge, short_edge, &nw, &nh);
    else nw = long_edge, nh = short_edge;
    image out;
    if (image_alloc(&out, nw, nh, s->img.c) < 0) return err_set("dense_resize: cannot allocate %dx%d", nw, nh);
    resize_bilinear(&s->img, &out);
    image_free(&s->img);
    s->img = out;
    float sw = (float)nw / w, sh = (float)nh / h;
    for (int i = 0; i < s->n_boxes; i++) {
        float *b = s->boxes + 4 * i;
        b[0] = clampf(b[0] * sw, 0, (float)nw), b[2] = clampf(b[2] * sw, 0, (float)nw);
        b[1] = clampf(b[1] * sh, 0, (float)nh), b[3] = clampf(b[3] * sh, 0, (float)nh);
    }
    float g = sqrtf(sw * sh);
    for (int i = 0; i < s->n_rboxes; i++) {
        rbox *b = &s->rboxes[i];
        b->x *= sw, b->y *= sh, b->w *= g, b->h *= g;
    }
    if (s->n_masks) {
        uint8_t *m = xmalloc((size_t)s->n_masks * nw * nh);
        for (int i = 0; i < s->n_masks; i++) {
            uint8_t *r = resize_nearest(s->masks + (size_t)i * w * h, w, h, nw, nh);
            memcpy(m + (size_t)i * nw * nh, r, (size_t)nw * nh);
            free(r);
        }
        free(s->masks);
        s->masks = m;
    }
    if (s->seg) {
        uint8_t *r = resize_nearest(s->seg, w, h, nw, nh);
        free(s->seg);
        s->seg = r;
    }
    s->img_w = nw, s->img_h = nh;
    s->scale_w *= sw, s->scale_h *= sh;
    return 0;
}

static void flip_plane(uint8_t *p, int w, int h, int c, int dir) {
    if (dir == DENSE_FLIP_H || dir == DENSE_FLIP_D)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w / 2; x++)
                for (int k = 0; k < c; k++) {
                    uint8_t *a = p + ((size_t)y * w + x) * c + k, *b = p + ((size_t)y * w + (w - 1 - x)) * c + k;
                    uint8_t t = *a; *a = *b; *b = t;
                }
    if (dir == DENSE_FLIP_V || dir == DENSE_FLIP_D)
        for (int y = 0; y < h / 2; y++)
            for (size_t i = 0; i < (size_t)w * c; i++) {
                uint8_t *a = p + (size_t)y * w * c + i, *b = p + (size_t)(h - 1 - y) * w * c + i;
                uint8_t t = *a; *a = *b; *b = t;
            }
}

void dense_flip(dense_sample *s, int dir) {
    if (dir == DENSE_FLIP_NONE) return;
    int w = s->img.w, h = s->img.h;
    flip_plane(s->img.data, w, h, s->img.c, dir);
    for (int i = 0; i < s->n_masks; i++) flip_plane(s->masks + (size_t)i * w * h, w, h, 1, dir);
    if (s->seg) flip_plane(s->seg, w, h, 1, dir);
    for (int i = 0; i < s->n_boxes; i++) {
        float *b = s->boxes + 4 * i;
        if (dir == DENSE_FLIP_H || dir == DENSE_FLIP_D) {
            float x1 = w - b[2], x2 = w - b[0];
            b[0] = x1, b[2] = x2;
        }
        if (dir == DENSE_FLIP_V || dir == DENSE_FLIP_D) {
            float y1 = h - b[3], y2 = h - b[1];
            b[1] = y1, b[3] = y2;
        }
    }
    for (int i = 0; i < s->n_rboxes; i++) {
        rbox *b = &s->rboxes[i];
        if (dir == DENSE_FLIP_H || dir == DENSE_FLIP_D) b->x = (float)w - b->x - 1;
        if (dir == DENSE_FLIP_V || dir == DENSE_FLIP_D) b->y = (float)h - b->y - 1;
        if (dir == DENSE_FLIP_D) continue;
        if (s->rver == RBOX_OC) {
            if (b->a != (float)(M_PI / 2)) {
                float t = b->w;
                b->a = (float)(M_PI / 2) - b->a;
                b->w = b->h;
                b->h = t;
            }
        } else { /* le90: norm_angle(pi - a) = (pi - a + pi/2) mod pi - pi/2 */
            double a = M_PI - b->a + M_PI / 2;
            a = fmod(a, M_PI);
            if (a < 0) a += M_PI;
            b->a = (float)(a - M_PI / 2);
        }
    }
    s->flip = dir;
}

int dense_random_flip(dense_sample *s, rng_t *r, const float probs[3]) {
    float u = rng_uniform(r), acc = 0;
    for (int d = 0; d < 3; d++) {
        acc += probs[d];
        if (u < acc) {
            dense_flip(s, d + 1);
            return d + 1;
        }
    }
    s->flip = DENSE_FLIP_NONE;
    return DENSE_FLIP_NONE;
}

int dense_crop(dense_sample *s, int x0, int y0, int cw, int ch) {
    int w = s->img.w, h = s->img.h;
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    int x1 = x0 + cw < w ? x0 + cw : w, y1 = y0 + ch < h ? y0 + ch : h;
    int nw = x1 - x0, nh = y1 - y0;
    if (nw <= 0 || nh <= 0) return err_set("dense_crop: empty crop at (%d, %d) size %dx%d of a %dx%d image", x0, y0, cw, ch, w, h);
    image out;
    image_alloc(&out, nw, nh, s->img.c);
    for (int y = 0; y < nh; y++) memcpy(image_px(&out, 0, y), image_px(&s->img, x0, y0 + y), (size_t)nw * s->img.c);
    image_free(&s->img);
    s->img = out;
    if (s->seg) {
        uint8_t *n = xmalloc((size_t)nw * nh);
        for (int y = 0; y < nh; y++) memcpy(n + (size_t)y * nw, s->seg + (size_t)(y0 + y) * w + x0, (size_t)nw);
        free(s->seg);
        s->seg = n;
    }
    /* boxes: shift, clip, keep non-empty (masks follow their box) */
    int k = 0;
    uint8_t *masks = s->n_masks ? xmalloc((size_t)s->n_masks * nw * nh) : NULL;
    for (int i = 0; i < s->n_boxes; i++) {
        float *b = s->boxes + 4 * i;
        float c[4] = {clampf(b[0] - x0, 0, (float)nw), clampf(b[1] - y0, 0, (float)nh), clampf(b[2] - x0, 0, (float)nw),
                      clampf(b[3] - y0, 0, (float)nh)};
        if (!(c[2] > c[0] && c[3] > c[1])) continue;
        memcpy(s->boxes + 4 * k, c, sizeof c);
        if (s->labels) s->labels[k] = s->labels[i];
        if (masks && i < s->n_masks)
            for (int y = 0; y < nh; y++)
                memcpy(masks + (size_t)k * nw * nh + (size_t)y * nw, s->masks + (size_t)i * w * h + (size_t)(y0 + y) * w + x0,
                       (size_t)nw);
        k++;
    }
    if (s->n_masks) {
        free(s->masks);
        s->masks = masks;
        s->n_masks = k;
    }
    s->n_boxes = k;
    k = 0;
    for (int i = 0; i < s->n_rboxes; i++) {
        rbox b = s->rboxes[i];
        b.x -= (float)x0, b.y -= (float)y0;
        if (b.x < 0 || b.y < 0 || b.x >= nw || b.y >= nh) continue;
        s->rboxes[k] = b;
        if (s->rlabels) s->rlabels[k] = s->rlabels[i];
        k++;
    }
    s->n_rboxes = k;
    s->img_w = nw, s->img_h = nh;
    return 0;
}

int dense_random_crop_seg(dense_sample *s, rng_t *r, int ch, int cw, float cat_max_ratio) {
    int w = s->img.w, h = s->img.h;
    int mh = h - ch > 0 ? h - ch : 0, mw = w - cw > 0 ? w - cw : 0;
    int oy = (int)rng_below(r, (uint32_t)mh + 1), ox = (int)rng_below(r, (uint32_t)mw + 1);
    if (cat_max_ratio < 1 && s->seg) {
        long *cnt = xmalloc(256 * sizeof(long));
        for (int t = 0; t < 10; t++) {
            memset(cnt, 0, 256 * sizeof(long));
            int y1 = oy + ch < h ? oy + ch : h, x1 = ox + cw < w ? ox + cw : w;
            for (int y = oy; y < y1; y++)
                for (int x = ox; x < x1; x++) cnt[s->seg[(size_t)y * w + x]]++;
            long sum = 0, mx = 0;
            int ncls = 0;
            for (int c = 0; c < 255; c++)
                if (cnt[c]) sum += cnt[c], ncls++, mx = cnt[c] > mx ? cnt[c] : mx;
            if (ncls > 1 && (double)mx / sum < cat_max_ratio) break;
            oy = (int)rng_below(r, (uint32_t)mh + 1);
            ox = (int)rng_below(r, (uint32_t)mw + 1);
        }
        free(cnt);
    }
    return dense_crop(s, ox, oy, cw, ch);
}

int dense_random_crop_det(dense_sample *s, rng_t *r, int lo, int hi, int allow_negative_crop) {
    int w = s->img.w, h = s->img.h;
    int hlo = lo < h ? lo : h, hhi = hi < h ? hi : h, wlo = lo < w ? lo : w, whi = hi < w ? hi : w;
    int ch = hlo + (int)rng_below(r, (uint32_t)(hhi - hlo + 1)), cw = wlo + (int)rng_below(r, (uint32_t)(whi - wlo + 1));
    int oy = (int)rng_below(r, (uint32_t)(h - ch) + 1), ox = (int)rng_below(r, (uint32_t)(w - cw) + 1);
    if (!allow_negative_crop && s->n_boxes > 0) {
        int any = 0;
        for (int i = 0; i < s->n_boxes && !any; i++) {
            const float *b = s->boxes + 4 * i;
            float x1 = clampf(b[0] - ox, 0, (float)cw), x2 = clampf(b[2] - ox, 0, (float)cw);
            float y1 = clampf(b[1] - oy, 0, (float)ch), y2 = clampf(b[3] - oy, 0, (float)ch);
            any = x2 > x1 && y2 > y1;
        }
        if (!any) return 0;
    }
    if (dense_crop(s, ox, oy, cw, ch) < 0) return -1;
    return 1;
}

/* ---- photometric (uint8 HSV as cv2) ---- */

static uint8_t conv8(float v, float alpha, float beta) {
    float x = v * alpha + beta;
    x = x < 0 ? 0 : x > 255 ? 255 : x;
    return (uint8_t)x; /* astype(uint8) truncates */
}

/* cv2's uint8 RGB2HSV: S and H through its 12-bit fixed-point division tables (rounded table entries, then
 * (x * tab + 2048) >> 12), H in [0, 180). */
void dense_rgb_to_hsv8(const uint8_t *p, uint8_t *hsv) {
    int r = p[0], g = p[1], b = p[2];
    int v = r > g ? (r > b ? r : b) : (g > b ? g : b), mn = r < g ? (r < b ? r : b) : (g < b ? g : b);
    int diff = v - mn;
    int sdiv = v ? (int)lrint((255 << 12) / (double)v) : 0;
    int hdiv = diff ? (int)lrint((180 << 12) / (6.0 * diff)) : 0;
    int s = (diff * sdiv + (1 << 11)) >> 12;
    int num = v == r ? g - b : v == g ? b - r + 2 * diff : r - g + 4 * diff;
    int hh = (num * hdiv + (1 << 11)) >> 12;
    if (hh < 0) hh += 180;
    hsv[0] = (uint8_t)hh, hsv[1] = (uint8_t)s, hsv[2] = (uint8_t)v;
}

/* HSV2RGB in float32 as cv2 (sector table), the 0..1 result times 255 rounded, as OpenCV's scalar path does.
 * OpenCV 4.6's vectorised path (used for most pixels of an image) can come out 1 lower; we stay within 1. */
void dense_hsv8_to_rgb(const uint8_t *hsv, uint8_t *p) {
    float h = (float)hsv[0] * (6.f / 180.f), s = (float)hsv[1] * (1.f / 255.f), v = (float)hsv[2] * (1.f / 255.f);
    float rgb[3];
    if (s == 0) {
        rgb[0] = rgb[1] = rgb[2] = v;
    } else {
        static const int sector_data[6][3] = {{1, 3, 0}, {1, 0, 2}, {3, 0, 1}, {0, 2, 1}, {0, 1, 3}, {2, 1, 0}};
        while (h < 0) h += 6;
        while (h >= 6) h -= 6;
        int sector = (int)floorf(h);
        h -= (float)sector;
        if (sector < 0 || sector >= 6) sector = 0, h = 0;
        float tab[4] = {v, v * (1.f - s), v * (1.f - s * h), v * (1.f - s * (1.f - h))};
        rgb[2] = tab[sector_data[sector][0]], rgb[1] = tab[sector_data[sector][1]], rgb[0] = tab[sector_data[sector][2]];
    }
    for (int k = 0; k < 3; k++) {
        int iv = (int)lrintf(rgb[k] * 255.f);
        p[k] = (uint8_t)(iv < 0 ? 0 : iv > 255 ? 255 : iv);
    }
}

void dense_photometric(dense_sample *s, rng_t *r) {
    size_t n = (size_t)s->img.w * s->img.h;
    uint8_t *d = s->img.data;
    if (s->img.c != 3) return;
    /* brightness */
    if (rng_below(r, 2)) {
        float beta = -32 + 64 * rng_uniform(r);
        for (size_t i = 0; i < 3 * n; i++) d[i] = conv8(d[i], 1, beta);
    }
    int mode = (int)rng_below(r, 2);
    float contrast_alpha = -1;
    if (rng_below(r, 2)) contrast_alpha = 0.5f + rng_uniform(r);
    if (mode == 1 && contrast_alpha > 0)
        for (size_t i = 0; i < 3 * n; i++) d[i] = conv8(d[i], contrast_alpha, 0);
    /* saturation */
    if (rng_below(r, 2)) {
        float alpha = 0.5f + rng_uniform(r);
        for (size_t i = 0; i < n; i++) {
            uint8_t hsv[3];
            dense_rgb_to_hsv8(d + 3 * i, hsv);
            hsv[1] = conv8(hsv[1], alpha, 0);
            dense_hsv8_to_rgb(hsv, d + 3 * i);
        }
    }
    /* hue */
    if (rng_below(r, 2)) {
        int delta = -18 + (int)rng_below(r, 36); /* np.random.randint(-18, 18) */
        for (size_t i = 0; i < n; i++) {
            uint8_t hsv[3];
            dense_rgb_to_hsv8(d + 3 * i, hsv);
            hsv[0] = (uint8_t)(((int)hsv[0] + delta + 180) % 180);
            dense_hsv8_to_rgb(hsv, d + 3 * i);
        }
    }
    if (mode == 0 && contrast_alpha > 0)
        for (size_t i = 0; i < 3 * n; i++) d[i] = conv8(d[i], contrast_alpha, 0);
}

int dense_normalize_pad(dense_sample *s, const float mean[3], const float std[3], int divisor) {
    if (s->img.c != 3) return err_set("dense_normalize_pad: expected a 3-channel image, got %d", s->img.c);
    if (divisor < 1) divisor = 1;
    int w = s->img.w, h = s->img.h;
    int pw = (w + divisor - 1) / divisor * divisor, ph = (h + divisor - 1) / divisor * divisor;
    free(s->norm);
    s->norm = xcalloc((size_t)3 * pw * ph, sizeof(float));
    for (int c = 0; c < 3; c++) {
        float inv = 1.f / std[c];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                s->norm[((size_t)c * ph + y) * pw + x] = ((float)image_px(&s->img, x, y)[c] - mean[c]) * inv;
    }
    if (s->seg) {
        uint8_t *n = xmalloc((size_t)pw * ph);
        memset(n, 255, (size_t)pw * ph);
        for (int y = 0; y < h; y++) memcpy(n + (size_t)y * pw, s->seg + (size_t)y * w, (size_t)w);
        free(s->seg);
        s->seg = n;
    }
    if (s->n_masks) {
        uint8_t *n = xcalloc((size_t)s->n_masks * pw * ph, 1);
        for (int i = 0; i < s->n_masks; i++)
            for (int y = 0; y < h; y++)
                memcpy(n + (size_t)i * pw * ph + (size_t)y * pw, s->masks + (size_t)i * w * h + (size_t)y * w, (size_t)w);
        free(s->masks);
        s->masks = n;
    }
    s->pad_w = pw, s->pad_h = ph;
    return 0;
}

int dense_collate(dense_sample *const *s, int n, float **out, int *H, int *W, uint8_t **seg_out) {
    int mh = 0, mw = 0;
    for (int i = 0; i < n; i++) {
        if (!s[i]->norm) return err_set("dense_collate: sample %d is not normalized (call dense_normalize_pad)", i);
        mh = s[i]->pad_h > mh ? s[i]->pad_h : mh;
        mw = s[i]->pad_w > mw ? s[i]->pad_w : mw;
    }
    float *b = xcalloc((size_t)n * 3 * mh * mw, sizeof(float));
    uint8_t *sg = seg_out ? xmalloc((size_t)n * mh * mw + 1) : NULL;
    if (sg) memset(sg, 255, (size_t)n * mh * mw);
    for (int i = 0; i < n; i++) {
        const dense_sample *x = s[i];
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < x->pad_h; y++)
                memcpy(b + (((size_t)i * 3 + c) * mh + y) * mw, x->norm + ((size_t)c * x->pad_h + y) * x->pad_w,
                       (size_t)x->pad_w * sizeof(float));
        if (sg && x->seg)
            for (int y = 0; y < x->pad_h; y++)
                memcpy(sg + ((size_t)i * mh + y) * mw, x->seg + (size_t)y * x->pad_w, (size_t)x->pad_w);
    }
    *out = b;
    *H = mh;
    *W = mw;
    if (seg_out) *seg_out = sg;
    return 0;
}
