/* coco_results.h - detections of a COCO model as the standard results files (what mmdet 2.11's
 * CocoDataset.results2json / _det2json / _segm2json write and pycocotools' loadRes reads), and the same
 * detections evaluated in memory with identical numbers.
 *
 * Files: <prefix>.bbox.json, a JSON list of {"image_id", "bbox": [x, y, w, h], "score", "category_id"}, and
 * <prefix>.segm.json, the same entries with "segmentation": {"size": [h, w], "counts": compressed RLE}
 * added (mmdet 2.11 keeps the "bbox" key in segm entries too, so pycocotools takes the BOX area w*h for the
 * segm area ranges; mmdet >= 2.12 pops it). Order as mmdet: images in the order given, within an image by
 * label ascending, within a label in the order given. Values as mmdet: the float32 box corners widened to
 * double, w = x2 - x1 and h = y2 - y1 in double (xyxy2xywh, no +1), the float32 score widened, category_id =
 * the ground truth's cat_ids[label] (dataset.cat_ids), the segm score = the box score (Cascade Mask R-CNN's
 * mask results are not (segm, score) tuples). Numbers are printed with the fewest digits that read back to
 * the same double (Python's repr), so a reader gets the exact values. Files are written to a temporary name
 * and renamed into place. */
#ifndef DB_COCO_RESULTS_H
#define DB_COCO_RESULTS_H

#include <stdint.h>

#include "coco_eval.h"

/* Detections of one image, in original-image pixels (mmdet's results after rescale). */
typedef struct coco_image_dets {
    int image;            /* index into gt->images */
    int n;
    const float *boxes;   /* n x (x1, y1, x2, y2) */
    const float *scores;  /* n */
    const int *labels;    /* n, 0..K-1 (index into gt->cat_ids) */
    const uint8_t *masks; /* n x height x width row-major 0/1 at the image's size, or NULL (box-only) */
} coco_image_dets;

/* Write one results file: iou_type COCO_IOU_BBOX (no segmentation) or COCO_IOU_SEGM (every image with
 * detections must have masks). Returns 0 or -1 (err_set: a label outside the categories, an image index out
 * of range, a non-finite value, missing masks, the file). */
int coco_results_write(const char *path, const coco_gt *gt, const coco_image_dets *d, int n_images, int iou_type);
/* results2json: <prefix>.bbox.json, and <prefix>.segm.json when with_segm. */
int coco_results2json(const char *prefix, const coco_gt *gt, const coco_image_dets *d, int n_images, int with_segm);

/* The detections as the evaluator's input, entry for entry what coco_json.h's coco_results_load makes of the
 * file coco_results_write writes (same order, bbox, area = w*h, score, category_id; masks RLE-encoded when
 * iou_type is COCO_IOU_SEGM). */
int coco_results_to_det(const coco_gt *gt, const coco_image_dets *d, int n_images, int iou_type, coco_det *out);

/* Evaluate in memory: the twelve numbers for bbox into bbox_stats, and for segm into segm_stats (NULL: not
 * evaluated; gt must then carry masks, see coco_gt_from_dataset). n_threads as coco_eval_run. */
int coco_results_evaluate(const coco_gt *gt, const coco_image_dets *d, int n_images, int n_threads, double bbox_stats[12],
                          double segm_stats[12]);

/* The shortest decimal form of v that reads back as v (Python's float repr digits); buf >= 32 bytes. */
void coco_format_double(double v, char *buf, int cap);

#endif
