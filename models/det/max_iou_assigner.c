/* max_iou_assigner.c - mmdet 2.11 MaxIoUAssigner.assign_wrt_overlaps and bbox_overlaps (see the header). */
#include "max_iou_assigner.h"

#include <stdlib.h>

#include "../../core/common.h"

void bbox_overlaps_f32(const float *a, int n, const float *b, int m, float *iou) {
    for (int i = 0; i < m; i++) {
        const float *g = b + 4 * i;
        float area_g = (g[2] - g[0]) * (g[3] - g[1]);
        float *row = iou + (size_t)i * n;
        for (int j = 0; j < n; j++) {
            const float *p = a + 4 * j;
            float area_p = (p[2] - p[0]) * (p[3] - p[1]);
            float lx = g[0] > p[0] ? g[0] : p[0], ly = g[1] > p[1] ? g[1] : p[1];
            float rx = g[2] < p[2] ? g[2] : p[2], ry = g[3] < p[3] ? g[3] : p[3];
            float w = rx - lx, h = ry - ly;
            if (w < 0) w = 0; /* clamp(min=0) */
            if (h < 0) h = 0;
            float overlap = w * h;
            float uni = area_g + area_p - overlap;
            if (uni < 1e-6f) uni = 1e-6f; /* torch.max(union, eps) */
            row[j] = overlap / uni;
        }
    }
}

void max_iou_assign_overlaps(const max_iou_cfg *cfg, const float *iou, int n, const int *gt_labels, int m, int *gt_inds,
                             float *max_overlaps, int *labels) {
    if (m == 0 || n == 0) {
        for (int j = 0; j < n; j++) {
            gt_inds[j] = m == 0 ? 0 : -1;
            if (max_overlaps) max_overlaps[j] = 0;
            if (labels) labels[j] = -1;
        }
        return;
    }
    const float neg_lo = cfg->neg_iou_min, neg = cfg->neg_iou_thr, pos = cfg->pos_iou_thr;
    for (int j = 0; j < n; j++) {
        /* overlaps.max(dim=0): first maximum (lowest gt index) */
        float best = iou[j];
        int arg = 0;
        for (int i = 1; i < m; i++) {
            float v = iou[(size_t)i * n + j];
            if (v > best) best = v, arg = i;
        }
        int a = -1;
        if (best >= neg_lo && best < neg) a = 0;
        if (best >= pos) a = arg + 1;
        gt_inds[j] = a;
        if (max_overlaps) max_overlaps[j] = best;
    }
    if (cfg->match_low_quality)
        for (int i = 0; i < m; i++) {
            const float *row = iou + (size_t)i * n;
            float best = row[0];
            int arg = 0;
            for (int j = 1; j < n; j++)
                if (row[j] > best) best = row[j], arg = j;
            if (!(best >= cfg->min_pos_iou)) continue;
            if (cfg->gt_max_assign_all) {
                for (int j = 0; j < n; j++)
                    if (row[j] == best) gt_inds[j] = i + 1;
            } else
                gt_inds[arg] = i + 1;
        }
    if (labels)
        for (int j = 0; j < n; j++) labels[j] = gt_inds[j] > 0 && gt_labels ? gt_labels[gt_inds[j] - 1] : -1;
}

/* max over the ignored boxes of the IoF of bbox j (mmdet bbox_overlaps mode 'iof', float32) */
static float max_iof(const float *p, const float *ign, int n_ignore, int wrt_candidates) {
    float best = 0;
    for (int i = 0; i < n_ignore; i++) {
        const float *g = ign + 4 * i;
        const float *a1 = wrt_candidates ? p : g, *a2 = wrt_candidates ? g : p; /* bboxes1, bboxes2 */
        float area1 = (a1[2] - a1[0]) * (a1[3] - a1[1]);
        float lx = a1[0] > a2[0] ? a1[0] : a2[0], ly = a1[1] > a2[1] ? a1[1] : a2[1];
        float rx = a1[2] < a2[2] ? a1[2] : a2[2], ry = a1[3] < a2[3] ? a1[3] : a2[3];
        float w = rx - lx, h = ry - ly;
        if (w < 0) w = 0;
        if (h < 0) h = 0;
        float den = area1 < 1e-6f ? 1e-6f : area1;
        float v = w * h / den;
        if (i == 0 || v > best) best = v;
    }
    return best;
}

void max_iou_assign_ignore(const max_iou_cfg *cfg, const float *bboxes, int n, const float *gts, const int *gt_labels, int m,
                           const float *ignores, int n_ignore, float ignore_iof_thr, int ignore_wrt_candidates, int *gt_inds,
                           float *max_overlaps, int *labels) {
    if (!(ignore_iof_thr > 0) || n_ignore <= 0 || n <= 0 || m <= 0) {
        max_iou_assign(cfg, bboxes, n, gts, gt_labels, m, gt_inds, max_overlaps, labels);
        return;
    }
    float *iou = xmalloc(sizeof(float) * (size_t)m * n);
    bbox_overlaps_f32(bboxes, n, gts, m, iou);
    for (int j = 0; j < n; j++)
        if (max_iof(bboxes + 4 * j, ignores, n_ignore, ignore_wrt_candidates) > ignore_iof_thr)
            for (int i = 0; i < m; i++) iou[(size_t)i * n + j] = -1.0f; /* overlaps[:, ignore] = -1 */
    max_iou_assign_overlaps(cfg, iou, n, gt_labels, m, gt_inds, max_overlaps, labels);
    free(iou);
}

void max_iou_assign(const max_iou_cfg *cfg, const float *bboxes, int n, const float *gts, const int *gt_labels, int m, int *gt_inds,
                    float *max_overlaps, int *labels) {
    float *iou = NULL;
    if (m > 0 && n > 0) {
        iou = xmalloc(sizeof(float) * (size_t)m * n);
        bbox_overlaps_f32(bboxes, n, gts, m, iou);
    }
    max_iou_assign_overlaps(cfg, iou, n, gt_labels, m, gt_inds, max_overlaps, labels);
    free(iou);
}
