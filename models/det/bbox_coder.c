/* bbox_coder.c - mmdet 2.11 DeltaXYWHBBoxCoder: bbox2delta (float32) and delta2bbox with its backward. */
#include "bbox_coder.h"

#include <math.h>
#include <stddef.h>

void delta_coder_default(delta_coder *c) {
    for (int i = 0; i < 4; i++) c->means[i] = 0.0f, c->stds[i] = 1.0f;
    c->wh_ratio_clip = 16.0f / 1000.0f;
    c->clip_border = 1;
}

void delta_encode(const delta_coder *c, const float *props, const float *gts, int n, float *deltas) {
    for (int i = 0; i < n; i++) {
        const float *p = props + 4 * i, *g = gts + 4 * i;
        float px = (p[0] + p[2]) * 0.5f, py = (p[1] + p[3]) * 0.5f;
        float pw = p[2] - p[0], ph = p[3] - p[1];
        float gx = (g[0] + g[2]) * 0.5f, gy = (g[1] + g[3]) * 0.5f;
        float gw = g[2] - g[0], gh = g[3] - g[1];
        float d[4] = {(gx - px) / pw, (gy - py) / ph, logf(gw / pw), logf(gh / ph)};
        for (int q = 0; q < 4; q++) deltas[4 * i + q] = (d[q] - c->means[q]) / c->stds[q];
    }
}

/* one decoded box; the clamp and clip masks for the backward */
typedef struct decoded_box {
    double px, py, pw, ph, dx, dy, ew, eh; /* ew = exp(clamped dw) */
    int wclamp, hclamp;                    /* dw / dh clamped (gradient 0) */
    double v[4];                           /* before clipping */
} decoded_box;

static void decode_one(const delta_coder *c, const float *r, const float *dl, decoded_box *b) {
    double max_ratio = fabs(log((double)c->wh_ratio_clip));
    double d[4];
    for (int q = 0; q < 4; q++) d[q] = (double)dl[q] * c->stds[q] + c->means[q];
    b->wclamp = !(d[2] >= -max_ratio && d[2] <= max_ratio);
    b->hclamp = !(d[3] >= -max_ratio && d[3] <= max_ratio);
    double dw = d[2] < -max_ratio ? -max_ratio : d[2] > max_ratio ? max_ratio : d[2];
    double dh = d[3] < -max_ratio ? -max_ratio : d[3] > max_ratio ? max_ratio : d[3];
    b->px = ((double)r[0] + r[2]) * 0.5, b->py = ((double)r[1] + r[3]) * 0.5;
    b->pw = (double)r[2] - r[0], b->ph = (double)r[3] - r[1];
    b->dx = d[0], b->dy = d[1];
    b->ew = exp(dw), b->eh = exp(dh);
    double gw = b->pw * b->ew, gh = b->ph * b->eh;
    double gx = b->px + b->pw * b->dx, gy = b->py + b->ph * b->dy;
    b->v[0] = gx - gw * 0.5, b->v[1] = gy - gh * 0.5, b->v[2] = gx + gw * 0.5, b->v[3] = gy + gh * 0.5;
}

static int clipping(const delta_coder *c, float max_h, float max_w) { return c->clip_border && max_h > 0 && max_w > 0; }

void delta_decode(const delta_coder *c, const float *rois, const float *deltas, int n, int k, float max_h, float max_w, float *out) {
    int clip = clipping(c, max_h, max_w);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < k; j++) {
            decoded_box b;
            size_t o = (size_t)i * 4 * k + 4 * j;
            decode_one(c, rois + 4 * i, deltas + o, &b);
            for (int q = 0; q < 4; q++) {
                double v = b.v[q];
                if (clip) {
                    double hi = q & 1 ? max_h : max_w;
                    v = v < 0 ? 0 : v > hi ? hi : v;
                }
                out[o + q] = (float)v;
            }
        }
}

void delta_decode_bwd(const delta_coder *c, const float *rois, const float *deltas, int n, int k, float max_h, float max_w,
                      const float *dout, float *ddeltas) {
    int clip = clipping(c, max_h, max_w);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < k; j++) {
            decoded_box b;
            size_t o = (size_t)i * 4 * k + 4 * j;
            decode_one(c, rois + 4 * i, deltas + o, &b);
            double g[4];
            for (int q = 0; q < 4; q++) {
                double hi = q & 1 ? max_h : max_w;
                g[q] = !clip || (b.v[q] >= 0 && b.v[q] <= hi) ? dout[o + q] : 0.0;
            }
            /* x1 = px + pw dx - pw e^dw / 2, x2 = px + pw dx + pw e^dw / 2 (y likewise) */
            double gdx = b.pw * (g[0] + g[2]), gdy = b.ph * (g[1] + g[3]);
            double gdw = b.wclamp ? 0.0 : 0.5 * b.pw * b.ew * (g[2] - g[0]);
            double gdh = b.hclamp ? 0.0 : 0.5 * b.ph * b.eh * (g[3] - g[1]);
            ddeltas[o + 0] += (float)(gdx * c->stds[0]);
            ddeltas[o + 1] += (float)(gdy * c->stds[1]);
            ddeltas[o + 2] += (float)(gdw * c->stds[2]);
            ddeltas[o + 3] += (float)(gdh * c->stds[3]);
        }
}
