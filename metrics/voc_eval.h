/* voc_eval.h - Pascal VOC detection mAP, two conventions (../shared/reference/metrics.md B.2):
 *   VOC_PROTO_MMDET:  mmdet 2.x eval_map: IoU without the +1 pixel term computed in float32 (as mmdet's
 *                     bbox_overlaps), match when IoU >= thr, classes without (non-difficult) ground truth
 *                     left out of mAP.
 *   VOC_PROTO_DEVKIT: the official devkit / py-faster-rcnn voc_eval: IoU with the +1 term in double,
 *                     match when IoU > thr; mAP is the plain mean over all classes (pascal_voc's
 *                     _do_python_eval): a class without non-difficult ground truth has recall 0/0 = NaN, so
 *                     AP 0 under the 11-point rule and NaN under the area rule when it has a detection (0
 *                     without one), and that AP is averaged in (a NaN AP makes the mAP NaN, as the devkit's).
 * Both: difficult ground truth is ignored (not a positive; a detection whose best match is difficult is
 * neither TP nor FP); each detection goes to its single best-IoU ground truth (the first on ties), an
 * already matched one makes it a FP. AP by the VOC2007 11-point rule or the area under the envelope.
 * Detections are ranked by score; ties keep (image, input) order. In-memory API for trainers; the CLI
 * reads VOCdevkit folders and comp4 files. */
#ifndef DB_VOC_EVAL_H
#define DB_VOC_EVAL_H

enum { VOC_PROTO_MMDET = 0, VOC_PROTO_DEVKIT = 1 };
enum { VOC_AP_11POINTS = 0, VOC_AP_AREA = 1 };

/* Boxes are x1, y1, x2, y2 in one frame for gt and detections. */
typedef struct voc_gt_box {
    int image, label;
    double box[4];
    int difficult;
} voc_gt_box;

typedef struct voc_det_box {
    int image, label;
    double score;
    double box[4];
} voc_det_box;

typedef struct voc_result {
    int n_classes;
    double map;      /* mmdet: mean AP over classes with at least one non-difficult ground truth;
                      * devkit: mean over all classes */
    double *ap;      /* [n_classes]; classes without ground truth: 0 (devkit area rule: NaN, see above) */
    int *num_gts;    /* non-difficult ground truth per class */
    int *num_dets;
    double *recall;  /* final recall per class (0 without detections) */
    int no_positives; /* devkit: classes without non-difficult ground truth, averaged in as above */
} voc_result;

/* Returns 0, or -1 with err_set for labels/images out of range. */
int voc_eval_map(const voc_gt_box *gt, int n_gt, const voc_det_box *dt, int n_dt, int n_images, int n_classes,
                 double iou_thr, int protocol, int ap_mode, voc_result *out);
void voc_result_free(voc_result *r);
/* Zero *out and allocate its per-class arrays (n_classes + 1 entries each); shared by the VOC and DOTA
 * evaluators. */
void voc_result_alloc(voc_result *out, int n_classes);

/* A ground truth or detection grouped by key = label * n_images + image; sorted by det_key_cmp: key
 * ascending, score descending, then input position (a stable order, as the references' sorts give). */
typedef struct det_key {
    int key, pos;
    double score;
} det_key;
int det_key_cmp(const void *a, const void *b);

/* AP from a recall/precision curve (n points), as mmdet's average_precision / the devkit's voc_ap. */
double voc_average_precision(const double *recall, const double *precision, int n, int ap_mode);

/* Shared with the DOTA evaluation: rank-and-score a class whose detections were already marked.
 * tp/fp per detection, scores, and a tie key (equal scores rank by ascending tie key, i.e. the order a stable
 * sort of the reference tool's list gives); n_pos positives. Fills *ap and *final_recall.
 * float32_precision: compute precision in float32 as mmdet does. */
void voc_ap_from_marks(const double *score, const long long *tie, const unsigned char *tp, const unsigned char *fp, int n,
                       int n_pos, int ap_mode, int float32_precision, double *ap, double *final_recall);

#endif
