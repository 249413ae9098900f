/* nms.h - greedy non-maximum suppression as torchvision.ops.nms / batched_nms (the goldens' reference):
 * boxes visited by decreasing score (equal scores: lower index first), a kept box suppresses every later box
 * with IoU > iou_thr (strict), IoU = inter / (area_i + area_j - inter) in float32, no +1; suppressed boxes
 * suppress nothing. mmcv's CPU kernel (mmdet 2.11) would suppress at IoU >= thr: only exact-threshold pairs
 * differ. Each candidate is compared with the boxes kept so far only (O(n log n + n * kept), vectorised: 10k
 * boxes in about 10 ms on one core); one scratch allocation per call. */
#ifndef DB_NMS_H
#define DB_NMS_H

/* boxes (n, 4), scores (n); keep (n) receives the kept indices by decreasing score; returns their count. */
int nms_boxes(const float *boxes, const float *scores, int n, float iou_thr, int *keep);
/* The same per class id idxs (n): boxes of different ids never suppress each other; keep ordered by
 * decreasing score over all ids (ties: lower index first). */
int nms_batched(const float *boxes, const float *scores, const int *idxs, int n, float iou_thr, int *keep);
/* Both with the threshold in double, as torchvision's kernel compares the float32 IoU with it (a float
 * threshold such as 0.3f lies above 0.3: an IoU of exactly 0.3f is suppressed by 0.3 but not by 0.3f).
 * idxs NULL: one class. */
int nms_run(const float *boxes, const float *scores, const int *idxs, int n, double iou_thr, int *keep);

#endif
