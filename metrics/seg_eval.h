/* seg_eval.h - semantic segmentation mIoU / mAcc / aAcc as mmseg's mean_iou (../shared/reference/
 * metrics.md B.3): optional reduce_zero_label on the ground truth (0 -> ignore, k -> k-1), pixels whose
 * ground truth is the ignore index dropped, per-class histograms of prediction, ground truth and their
 * agreement summed over the dataset, then IoU = I / (P + G - I) per class; classes with zero union (zero
 * ground truth for Acc) are NaN and left out of the means. Labels outside 0..n_classes-1 are not counted.
 * Trainers call accumulate per image and finish once; the CLI reads PNG label maps. */
#ifndef DB_SEG_EVAL_H
#define DB_SEG_EVAL_H

#include <stddef.h>
#include <stdint.h>

typedef struct seg_eval {
    int n_classes, ignore_index, reduce_zero_label;
    double *inter, *pred, *label; /* [n_classes] pixel counts */
    /* results (seg_eval_finish) */
    double *iou, *acc;            /* [n_classes], NaN where undefined */
    double miou, macc, aacc;
} seg_eval;

void seg_eval_init(seg_eval *s, int n_classes, int ignore_index, int reduce_zero_label);
/* One image: n pixels of prediction and raw ground truth (before reduce_zero_label). */
void seg_eval_accumulate(seg_eval *s, const int32_t *pred, const int32_t *gt, size_t n);
void seg_eval_accumulate_u8(seg_eval *s, const uint8_t *pred, const uint8_t *gt, size_t n);
/* Compute iou/acc/miou/macc/aacc from the sums (may be called again after more images). */
void seg_eval_finish(seg_eval *s);
void seg_eval_free(seg_eval *s);

/* Whole folders: every <name>.png in gt_dir (sorted by name) against pred_dir/<name>.png (8-bit label maps;
 * palette PNGs give indices, as mmseg's pillow read). Errors (missing prediction, size mismatch, truncated
 * or non-label PNG) name the file. Returns 0 or -1. *n_images gets the number of pairs. */
int seg_eval_dirs(seg_eval *s, const char *gt_dir, const char *pred_dir, const char *suffix, int *n_images);

#endif
