/* anchor_generator.c - mmdet 2.11 AnchorGenerator (see anchor_generator.h), float32 as the reference. */
#include "anchor_generator.h"

#include <math.h>
#include <string.h>

#include "../../core/common.h"

int anchor_gen_init(anchor_gen *a, int n_levels, const float *strides, const float *base_sizes, const float *ratios, int nr,
                    const float *scales, int ns, int scale_major, float center_offset) {
    if (n_levels < 1 || n_levels > ANCHOR_MAX_LEVELS)
        return err_set("anchor_gen_init: %d levels (1 to %d)", n_levels, ANCHOR_MAX_LEVELS);
    if (nr < 1 || ns < 1 || nr * ns > ANCHOR_MAX_BASE)
        return err_set("anchor_gen_init: %d ratios x %d scales (at most %d base anchors)", nr, ns, ANCHOR_MAX_BASE);
    memset(a, 0, sizeof *a);
    a->n_levels = n_levels;
    a->n_base = nr * ns;
    a->center_offset = center_offset;
    for (int l = 0; l < n_levels; l++) {
        a->strides[l] = strides[l];
        /* torch: w * w_ratios (python number times float32 tensor) then * scales, all float32 */
        float w = base_sizes ? base_sizes[l] : strides[l], h = w;
        float xc = (float)((double)center_offset * w), yc = (float)((double)center_offset * h);
        float *b = a->base[l];
        for (int r = 0; r < nr; r++)
            for (int s = 0; s < ns; s++) {
                float hr = sqrtf(ratios[r]), wr = 1.0f / hr;
                float ws, hs;
                if (scale_major) { /* (w * w_ratios[:, None] * scales[None, :]).view(-1) */
                    ws = (w * wr) * scales[s];
                    hs = (h * hr) * scales[s];
                } else { /* (w * scales[:, None] * w_ratios[None, :]).view(-1) */
                    ws = (w * scales[s]) * wr;
                    hs = (h * scales[s]) * hr;
                }
                float *o = b + 4 * (scale_major ? r * ns + s : s * nr + r);
                o[0] = xc - 0.5f * ws;
                o[1] = yc - 0.5f * hs;
                o[2] = xc + 0.5f * ws;
                o[3] = yc + 0.5f * hs;
            }
    }
    return 0;
}

int anchor_octave_scales(double octave_base_scale, int scales_per_octave, float *scales, int max) {
    int n = scales_per_octave < max ? scales_per_octave : max;
    for (int k = 0; k < n; k++) scales[k] = (float)(pow(2.0, (double)k / scales_per_octave) * octave_base_scale);
    return n;
}

void anchor_gen_init_retina(anchor_gen *a) {
    const float strides[5] = {8, 16, 32, 64, 128}, ratios[3] = {0.5f, 1.0f, 2.0f};
    float scales[3];
    anchor_octave_scales(4.0, 3, scales, 3);
    int rc = anchor_gen_init(a, 5, strides, NULL, ratios, 3, scales, 3, 1, 0.0f);
    DB_ASSERT(rc == 0);
}

void anchor_gen_grid(const anchor_gen *a, int level, int H, int W, float *out) {
    DB_ASSERT(level >= 0 && level < a->n_levels);
    const int A = a->n_base;
    const float *b = a->base[level];
    const float st = a->strides[level];
    for (int y = 0; y < H; y++) {
        float sy = (float)y * st; /* torch: arange(H) * stride (integer), then cast to float32: exact */
        for (int x = 0; x < W; x++) {
            float sx = (float)x * st;
            float *o = out + (size_t)((size_t)y * W + x) * A * 4;
            for (int k = 0; k < A; k++) {
                o[4 * k + 0] = b[4 * k + 0] + sx;
                o[4 * k + 1] = b[4 * k + 1] + sy;
                o[4 * k + 2] = b[4 * k + 2] + sx;
                o[4 * k + 3] = b[4 * k + 3] + sy;
            }
        }
    }
}

void anchor_gen_valid(const anchor_gen *a, int level, int H, int W, int pad_h, int pad_w, uint8_t *out) {
    DB_ASSERT(level >= 0 && level < a->n_levels);
    const int A = a->n_base;
    double st = a->strides[level];
    int vh = (int)ceil(pad_h / st), vw = (int)ceil(pad_w / st);
    if (vh > H) vh = H;
    if (vw > W) vw = W;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t v = x < vw && y < vh;
            memset(out + ((size_t)y * W + x) * A, v, (size_t)A);
        }
}
