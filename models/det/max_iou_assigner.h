/* max_iou_assigner.h - mmdet 2.11's MaxIoUAssigner (mmdet/core/bbox/assigners/max_iou_assigner.py) with
 * BboxOverlaps2D IoUs, float32 in mmdet's operation order (as training computes it; ties between anchors
 * that have mathematically equal IoUs then resolve as in mmdet); ignored gts (ignore_iof_thr) optional. */
#ifndef DB_MAX_IOU_ASSIGNER_H
#define DB_MAX_IOU_ASSIGNER_H

typedef struct max_iou_cfg {
    float pos_iou_thr, neg_iou_thr, min_pos_iou;
    int gt_max_assign_all, match_low_quality;
    float neg_iou_min; /* negatives: max IoU in [neg_iou_min, neg_iou_thr); 0 as mmdet's float neg_iou_thr,
                          neg_iou_thr[0] when mmdet's is a tuple */
} max_iou_cfg;

/* iou (m, n), gt-major as mmdet's overlaps(gt, bboxes): iou[i * n + j] = IoU(b[i], a[j]) with
 * area = (x2-x1)*(y2-y1), wh = clamp(min(x2) - max(x1), 0), overlap = w*h, union = area_b + area_a - overlap,
 * iou = overlap / max(union, 1e-6), all float32. */
void bbox_overlaps_f32(const float *a, int n, const float *b, int m, float *iou);

/* Assign n bboxes to m gts. gt_inds (n): 0 negative, -1 ignored, i+1 = gt i; max_overlaps (n) or NULL;
 * labels (n) or NULL: gt label of positives, -1 otherwise (gt_labels NULL: -1 everywhere). Rules in order:
 * all -1; max IoU in [neg_iou_min, neg_iou_thr) -> 0; max IoU >= pos_iou_thr -> argmax gt (lowest index on ties);
 * with match_low_quality, for each gt i in order whose best IoU >= min_pos_iou: every bbox with exactly that
 * IoU (gt_max_assign_all) or the first one gets i+1. m = 0: all 0, max_overlaps 0. One scratch allocation
 * (m x n IoUs). Thresholds compare in float32, as a float32 tensor against a python float in torch. */
void max_iou_assign(const max_iou_cfg *cfg, const float *bboxes, int n, const float *gts, const int *gt_labels, int m, int *gt_inds,
                    float *max_overlaps, int *labels);
/* With ignored gts (mmdet's gt_bboxes_ignore, ignore_iof_thr > 0): bboxes whose largest IoF with an ignored
 * box exceeds ignore_iof_thr get IoU -1 with every gt before the rules (so they end ignored, -1). IoF =
 * overlap / max(area of the bbox, 1e-6) when ignore_wrt_candidates, else / max(area of the ignored box,
 * 1e-6). ignore_iof_thr <= 0 or n_ignore 0: max_iou_assign. */
void max_iou_assign_ignore(const max_iou_cfg *cfg, const float *bboxes, int n, const float *gts, const int *gt_labels, int m,
                           const float *ignores, int n_ignore, float ignore_iof_thr, int ignore_wrt_candidates, int *gt_inds,
                           float *max_overlaps, int *labels);
/* The same on a given (m, n) IoU matrix. */
void max_iou_assign_overlaps(const max_iou_cfg *cfg, const float *iou, int n, const int *gt_labels, int m, int *gt_inds,
                             float *max_overlaps, int *labels);

#endif
