/* nms.h - greedy non-maximum suppression as torchvision.ops.nms / batched_nms (the goldens' reference):
 * boxes visited by decreasing score (equal scores: lower index first), a kept box suppresses every later box
 * with IoU > iou_thr (strict), IoU = inter / (area_i + area_j - inter) in float32, no +1; suppressed boxes
 * suppress nothing. mmcv's CPU kernel (mmdet 2.11) would suppress at IoU >= thr: only exact-threshold pairs
 * differ. Each candidate is compared with the boxes kept so far only (O(n log n + n * kept), vectorised: 10k
 * boxes in about 10 ms on one core); one scratch allocation per call. */
#ifndef DB_NMS_H
#define DB_NMS_H

#include "det_types.h"

/* boxes (n, 4), scores (n); keep (n) receives the kept indices by decreasing score; returns their count. */
int nms_boxes(const float *boxes, const float *scores, int n, float iou_thr, int *keep);
/* The same per class id idxs (n): boxes of different ids never suppress each other; keep ordered by
 * decreasing score over all ids (ties: lower index first). */
int nms_batched(const float *boxes, const float *scores, const int *idxs, int n, float iou_thr, int *keep);
/* Both with the threshold in double, as torchvision's kernel compares the float32 IoU with it (a float
 * threshold such as 0.3f lies above 0.3: an IoU of exactly 0.3f is suppressed by 0.3 but not by 0.3f).
 * idxs NULL: one class. */
int nms_run(const float *boxes, const float *scores, const int *idxs, int n, double iou_thr, int *keep);

/* mmdet 2.11's multiclass_nms (core/post_processing/bbox_nms.py): boxes (n, 4) shared by the classes
 * (box_per_class 0) or (n, 4 C) one per class (box_per_class 1), scores (n, score_stride) whose first C columns
 * are the classes (a softmax's background column after them is ignored); every (box, class) in row-major order
 * with score > score_thr is a candidate, batched NMS per class at IoU > nms_iou, the first max_per_img (> 0) by
 * decreasing score. out gets malloc'd arrays (det_result_free); returns the count kept. */
int nms_multiclass(const float *boxes, int box_per_class, const float *scores, int score_stride, int n, int C, float score_thr,
                   float nms_iou, int max_per_img, det_result *out);

#endif
