/* nms.c - greedy NMS (torchvision semantics, see nms.h). */
#include "nms.h"

#include <stdlib.h>

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

/* Greedy suppression over the candidates ord[0..m) (already in visiting order); kept ones get flag 1.
 * kb (m x 5 floats) holds the kept boxes and their areas contiguously. */
static void suppress(const float *boxes, const nms_key *ord, int m, double thr, float *kb, unsigned char *flag) {
    int nk = 0, pos_thr = thr >= 0;
    for (int t = 0; t < m; t++) {
        int j = ord[t].idx;
        const float *b = boxes + 4 * (size_t)j;
        float x1 = b[0], y1 = b[1], x2 = b[2], y2 = b[3];
        float area = (x2 - x1) * (y2 - y1);
        int dead = 0;
        for (int q = 0; q < nk && !dead; q++) {
            const float *k = kb + 5 * q;
            float xx1 = k[0] > x1 ? k[0] : x1, yy1 = k[1] > y1 ? k[1] : y1;
            float xx2 = k[2] < x2 ? k[2] : x2, yy2 = k[3] < y2 ? k[3] : y2;
            float w = xx2 - xx1, h = yy2 - yy1;
            if (pos_thr && (!(w > 0) || !(h > 0))) continue; /* inter 0: IoU 0 or NaN, never > thr >= 0 */
            w = 0.0f < w ? w : 0.0f; /* std::max(0.f, w) */
            h = 0.0f < h ? h : 0.0f;
            float inter = w * h;
            float ovr = inter / (k[4] + area - inter);
            if ((double)ovr > thr) dead = 1;
        }
        if (dead) continue;
        float *k = kb + 5 * nk++;
        k[0] = x1, k[1] = y1, k[2] = x2, k[3] = y2, k[4] = area;
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
    for (int i = 0; i < n; i++) {
        ord[i].score = scores[i], ord[i].idx = i, ord[i].cls = idxs ? idxs[i] : 0;
        flag[i] = 0;
    }
    if (!idxs) {
        qsort(ord, (size_t)n, sizeof *ord, cmp_key);
        suppress(boxes, ord, n, thr, kb, flag);
    } else {
        qsort(ord, (size_t)n, sizeof *ord, cmp_key_cls);
        for (int s = 0; s < n;) {
            int e = s + 1;
            while (e < n && ord[e].cls == ord[s].cls) e++;
            suppress(boxes, ord + s, e - s, thr, kb, flag);
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
