/* nms.c - greedy NMS (torchvision semantics, see nms.h). */
#include "nms.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/common.h"

typedef struct nms_key {
    float score;
    int cls, idx;
} nms_key;

/* decreasing score, then increasing index: a total order, so the result equals a stable sort's. NaN scores
 * come first, as torch's descending sort puts them. */
static int cmp_score(const nms_key *a, const nms_key *b) {
    int an = a->score != a->score, bn = b->score != b->score;
    if (an != bn) return an ? -1 : 1;
    if (!an && a->score != b->score) return a->score > b->score ? -1 : 1;
    return (a->idx > b->idx) - (a->idx < b->idx);
}
static int cmp_key(const void *pa, const void *pb) { return cmp_score(pa, pb); }
static int cmp_key_cls(const void *pa, const void *pb) {
    const nms_key *a = pa, *b = pb;
    if (a->cls != b->cls) return a->cls < b->cls ? -1 : 1;
    return cmp_score(a, b);
}

/* The float threshold f with (float x > f) <=> ((double)x > thr) for every float x (NaN: both false), so
 * the comparison stays in float32 and vectorises: the largest float not above thr. */
static float float_threshold(double thr) {
    float f = (float)thr;
    if ((double)f > thr) f = nextafterf(f, -INFINITY);
    return f;
}

#define NMS_CHUNK 64

/* Greedy suppression over the candidates ord[0..m) (already in visiting order); kept ones get flag 1. The
 * kept boxes live in k (5 arrays of m floats: x1, y1, x2, y2, area) and each candidate is compared with all
 * of them, NMS_CHUNK at a time, with torchvision's formula (no branch: w = max(0, .), inter / (a + b - inter)). */
static void suppress(const float *boxes, const nms_key *ord, int m, float thr, float *k, unsigned char *flag) {
    float *kx1 = k, *ky1 = k + m, *kx2 = k + 2 * (size_t)m, *ky2 = k + 3 * (size_t)m, *ka = k + 4 * (size_t)m;
    int nk = 0;
    for (int t = 0; t < m; t++) {
        int j = ord[t].idx;
        const float *b = boxes + 4 * (size_t)j;
        const float x1 = b[0], y1 = b[1], x2 = b[2], y2 = b[3];
        const float area = (x2 - x1) * (y2 - y1);
        int dead = 0;
        for (int q0 = 0; q0 < nk && !dead; q0 += NMS_CHUNK) {
            int q1 = q0 + NMS_CHUNK < nk ? q0 + NMS_CHUNK : nk;
            int any = 0;
            for (int q = q0; q < q1; q++) {
                float xx1 = kx1[q] > x1 ? kx1[q] : x1, yy1 = ky1[q] > y1 ? ky1[q] : y1;
                float xx2 = kx2[q] < x2 ? kx2[q] : x2, yy2 = ky2[q] < y2 ? ky2[q] : y2;
                float w = xx2 - xx1, h = yy2 - yy1;
                w = 0.0f < w ? w : 0.0f; /* std::max(0.f, w) */
                h = 0.0f < h ? h : 0.0f;
                float inter = w * h;
                float ovr = inter / (ka[q] + area - inter);
                any |= ovr > thr;
            }
            dead = any;
        }
        if (dead) continue;
        kx1[nk] = x1, ky1[nk] = y1, kx2[nk] = x2, ky2[nk] = y2, ka[nk] = area;
        nk++;
        flag[j] = 1;
    }
}

int nms_run(const float *boxes, const float *scores, const int *idxs, int n, double thr, int *keep) {
    if (n <= 0) return 0;
    /* one scratch block: keys (n), kept boxes (n x 5), flags (n) */
    size_t sz_keys = sizeof(nms_key) * (size_t)n, sz_kb = sizeof(float) * 5 * (size_t)n;
    char *mem = xmalloc(sz_keys + sz_kb + (size_t)n);
    nms_key *ord = (nms_key *)mem;
    float *kb = (float *)(mem + sz_keys);
    unsigned char *flag = (unsigned char *)(mem + sz_keys + sz_kb);
    const float fthr = float_threshold(thr);
    for (int i = 0; i < n; i++) {
        ord[i].score = scores[i], ord[i].idx = i, ord[i].cls = idxs ? idxs[i] : 0;
        flag[i] = 0;
    }
    if (!idxs) {
        qsort(ord, (size_t)n, sizeof *ord, cmp_key);
        suppress(boxes, ord, n, fthr, kb, flag);
    } else {
        qsort(ord, (size_t)n, sizeof *ord, cmp_key_cls);
        for (int s = 0; s < n;) {
            int e = s + 1;
            while (e < n && ord[e].cls == ord[s].cls) e++;
            suppress(boxes, ord + s, e - s, fthr, kb, flag);
            s = e;
        }
        qsort(ord, (size_t)n, sizeof *ord, cmp_key); /* back to the global visiting order */
    }
    int nk = 0;
    for (int t = 0; t < n; t++)
        if (flag[ord[t].idx]) keep[nk++] = ord[t].idx;
    free(mem);
    return nk;
}

int nms_boxes(const float *boxes, const float *scores, int n, float iou_thr, int *keep) { return nms_run(boxes, scores, NULL, n, iou_thr, keep); }

int nms_batched(const float *boxes, const float *scores, const int *idxs, int n, float iou_thr, int *keep) {
    return nms_run(boxes, scores, idxs, n, iou_thr, keep);
}

int nms_multiclass(const float *boxes, int box_per_class, const float *scores, int score_stride, int n, int C, float score_thr,
                   float nms_iou, int max_per_img, det_result *out) {
    int nc = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < C; k++) nc += scores[(size_t)i * score_stride + k] > score_thr;
    size_t cap = (size_t)(nc ? nc : 1);
    float *cb = xmalloc(sizeof(float) * 4 * cap), *cs = xmalloc(sizeof(float) * cap);
    int *cl = xmalloc(sizeof(int) * cap), *keep = xmalloc(sizeof(int) * cap);
    nc = 0;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < C; k++) {
            float s = scores[(size_t)i * score_stride + k];
            if (!(s > score_thr)) continue;
            const float *b = boxes + (box_per_class ? 4 * ((size_t)i * C + k) : 4 * (size_t)i);
            memcpy(cb + 4 * (size_t)nc, b, 4 * sizeof(float));
            cs[nc] = s;
            cl[nc++] = k;
        }
    int nkeep = nc ? nms_batched(cb, cs, cl, nc, nms_iou, keep) : 0;
    if (max_per_img > 0 && nkeep > max_per_img) nkeep = max_per_img;
    memset(out, 0, sizeof *out);
    out->n = nkeep;
    out->boxes = xmalloc(sizeof(float) * 4 * (size_t)(nkeep ? nkeep : 1));
    out->scores = xmalloc(sizeof(float) * (size_t)(nkeep ? nkeep : 1));
    out->labels = xmalloc(sizeof(int) * (size_t)(nkeep ? nkeep : 1));
    for (int q = 0; q < nkeep; q++) {
        memcpy(out->boxes + 4 * (size_t)q, cb + 4 * (size_t)keep[q], 4 * sizeof(float));
        out->scores[q] = cs[keep[q]];
        out->labels[q] = cl[keep[q]];
    }
    free(cb), free(cs), free(cl), free(keep);
    return nkeep;
}
