/* dota_eval.h - rotated detection mAP (../shared/reference/metrics.md B.4), two conventions:
 *   DOTA devkit Task 1 (dota_evaluation_task1.py): quadrilaterals, horizontal-box prefilter with the +1
 *     pixel term, exact polygon IoU (polyiou's signed triangle decomposition, valid for any simple
 *     quadrilateral), match when IoU > thr, difficult ground truth ignored, mAP over every class of the
 *     list (a class without ground truth scores 0; under the area rule NaN when it has a detection, recall
 *     0/0, and then the mAP is NaN, as the devkit's).
 *   mmrotate 0.3.x eval_rbbox_map: rotated rectangles (cx, cy, w, h, angle), rotated-rectangle IoU, match
 *     when IoU >= thr, per-image best-IoU assignment as mmdet, ignore boxes skipped, mAP over classes with
 *     ground truth. mmrotate's DOTA/STAR readers keep difficult objects as ordinary ground truth (difficulty
 *     threshold 100) and drop polygons whose minimum-area rectangle has a side below 2 px.
 * Both default to the VOC07 11-point AP. Results come back in a voc_result (voc_eval.h). */
#ifndef DB_DOTA_EVAL_H
#define DB_DOTA_EVAL_H

#include "../datasets/dota.h"
#include "voc_eval.h"

enum { DOTA_PROTO_DEVKIT = 0, DOTA_PROTO_MMROTATE = 1 };

/* IoU of two quadrilaterals (x1 y1 ... x4 y4) as the devkit's polyiou.iou_poly. */
double dota_poly_iou(const double p[8], const double q[8]);

typedef struct dota_poly_obj {
    int image, label;
    double poly[8];
    int difficult; /* gt: non-zero = difficult */
    double score;  /* detections */
} dota_poly_obj;

typedef struct dota_rbox_obj {
    int image, label;
    rbox box;
    int ignore;   /* gt: an ignore box (bboxes_ignore) */
    double score; /* detections */
} dota_rbox_obj;

int dota_eval_devkit(const dota_poly_obj *gt, int n_gt, const dota_poly_obj *dt, int n_dt, int n_images, int n_classes,
                     double iou_thr, int ap_mode, voc_result *out);
int dota_eval_mmrotate(const dota_rbox_obj *gt, int n_gt, const dota_rbox_obj *dt, int n_dt, int n_images,
                       int n_classes, double iou_thr, int ap_mode, voc_result *out);

/* From files: ground truth = every *.txt in gt_dir (the image list, sorted), detections =
 * det_dir/<prefix><class>.txt with lines "image score x1 y1 x2 y2 x3 y3 x4 y4" (a missing file = no
 * detections). classes: the class list (dota_classes_v10 ...). Errors name the file and line.
 * Ground-truth objects of a class outside the list (a DOTA-v1.5 container-crane in a v1.0 evaluation):
 * devkit: not counted, as dota_evaluation_task1 (which keeps each evaluated class's objects by name), with a
 * note on stderr naming the file and the class; mmrotate: an error, as mmrotate's DOTADataset (KeyError in
 * cls_map), except for a polygon with a side < 2 px, which mmrotate skips before reading its class. */
int dota_eval_files(const char *gt_dir, const char *det_dir, const char *prefix, const char *const *classes,
                    int n_classes, int protocol, double iou_thr, int ap_mode, voc_result *out);

#endif
