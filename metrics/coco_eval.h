/* coco_eval.h - COCO box and mask AP/AR, number for number with pycocotools' COCOeval (see
 * ../shared/reference/metrics.md B.1): crowd handling, per-image per-category maxDets, inclusive area
 * ranges, 101-point interpolation, the twelve summary numbers. Works on in-memory structs, so trainers
 * can evaluate without writing files; coco_json.h loads the same structs from JSON files. */
#ifndef DB_COCO_EVAL_H
#define DB_COCO_EVAL_H

#include <stdint.h>
#include <stdio.h>

#include "mask.h"

enum { COCO_IOU_BBOX = 0, COCO_IOU_SEGM = 1 };

typedef struct coco_gt_image {
    int64_t id;
    int height, width;
} coco_gt_image;

/* A ground-truth annotation. `mask` is only needed for segm evaluation (see coco_gt_rasterize). */
typedef struct coco_gt_ann {
    int64_t id, image_id, category_id;
    double bbox[4]; /* x, y, w, h */
    double area;    /* the annotation's `area` field: used for the area ranges, also for bbox */
    int iscrowd;    /* crowd ground truth is ignored and may absorb many detections */
    rle mask;
} coco_gt_ann;

typedef struct coco_gt {
    int n_images;
    coco_gt_image *images;
    int n_cats;
    int64_t *cat_ids;
    int n_anns;
    coco_gt_ann *anns;
} coco_gt;

/* A detection. area: box w*h for box results, mask pixel count for mask results (as pycocotools'
 * loadRes); bbox from the mask when absent. */
typedef struct coco_dt_ann {
    int64_t image_id, category_id;
    double score;
    double bbox[4];
    double area;
    rle mask;
} coco_dt_ann;

typedef struct coco_det {
    int n;
    coco_dt_ann *dets;
} coco_det;

/* The twelve summary numbers, in pycocotools' order: AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100,
 * ARs, ARm, ARl. -1 where undefined. Plus per-category AP (IoU .50:.95, area all, maxDets 100; -1 for a
 * category without non-ignored ground truth) and the full precision/recall arrays. */
typedef struct coco_summary {
    double stats[12];
    int n_cats;
    int64_t *cat_ids;
    double *cat_ap;    /* [n_cats] */
    double *precision; /* [T=10][R=101][K][A=4][M=3], -1 where undefined */
    double *recall;    /* [T][K][A][M] */
} coco_summary;

/* Evaluate. Returns 0, or -1 with err_set (a detection on an image id absent from gt, a mask of the
 * wrong size for segm, ...). Detections on category ids absent from gt are dropped (as pycocotools).
 * n_threads <= 0 uses the OpenMP default. */
int coco_eval_run(const coco_gt *gt, const coco_det *dt, int iou_type, int n_threads, coco_summary *out);
void coco_summary_free(coco_summary *s);
/* Print the twelve numbers in pycocotools' layout. */
void coco_summary_print(const coco_summary *s, int iou_type, FILE *f);

/* Free what the loaders (coco_json.h) allocated: the arrays and every mask. */
void coco_gt_free(coco_gt *gt);
void coco_det_free(coco_det *dt);

#endif
