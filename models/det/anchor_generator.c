/* anchor_generator.c - mmdet 2.11 AnchorGenerator (see anchor_generator.h), float32 as the reference. */
#include "anchor_generator.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/common.h"
#include "../../core/tensor.h"

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

void anchor_set_build(anchor_set *s, const anchor_gen *a, int L, const int *H, const int *W) {
    DB_ASSERT(L >= 1 && L <= a->n_levels && L <= ANCHOR_MAX_LEVELS, "anchor set: %d levels, %d anchor levels", L, a->n_levels);
    memset(s, 0, sizeof *s);
    s->L = L;
    for (int l = 0; l < L; l++) {
        s->H[l] = H[l], s->W[l] = W[l];
        s->level_off[l] = s->total;
        s->total += H[l] * W[l] * a->n_base;
    }
    s->level_off[L] = s->total;
    size_t n = (size_t)(s->total ? s->total : 1);
    s->anchors = xmalloc(sizeof(float) * 4 * n);
    s->inside = xmalloc(sizeof(float) * 4 * n);
    s->valid = xmalloc(n);
    s->inside_idx = xmalloc(sizeof(int) * n);
    for (int l = 0; l < L; l++) anchor_gen_grid(a, l, H[l], W[l], s->anchors + 4 * (size_t)s->level_off[l]);
}

int anchor_set_inside(anchor_set *s, const anchor_gen *a, int img_h, int img_w, int pad_h, int pad_w, int allowed_border) {
    for (int l = 0; l < s->L; l++) anchor_gen_valid(a, l, s->H[l], s->W[l], pad_h, pad_w, s->valid + s->level_off[l]);
    int n = 0;
    float ab = (float)allowed_border;
    for (int i = 0; i < s->total; i++) {
        if (!s->valid[i]) continue;
        const float *b = s->anchors + 4 * (size_t)i;
        if (allowed_border >= 0 && !(b[0] >= -ab && b[1] >= -ab && b[2] < img_w + ab && b[3] < img_h + ab)) continue;
        memcpy(s->inside + 4 * (size_t)n, b, 4 * sizeof(float));
        s->inside_idx[n++] = i;
    }
    return n;
}

void anchor_set_free(anchor_set *s) {
    free(s->anchors), free(s->inside), free(s->valid), free(s->inside_idx);
    memset(s, 0, sizeof *s);
}

void anchor_targets_alloc(graph *g, int B, int total, int **labels, float **label_weights, float **bbox_targets,
                          float **bbox_weights) {
    size_t n = (size_t)B * total;
    *labels = arena_alloc(&g->mem, sizeof(int) * n);
    *label_weights = arena_calloc(&g->mem, sizeof(float) * n);
    *bbox_targets = arena_calloc(&g->mem, sizeof(float) * n * 4);
    *bbox_weights = arena_calloc(&g->mem, sizeof(float) * n * 4);
}
