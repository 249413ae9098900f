/* coco_json.h - file inputs of the COCO evaluation: the ground truth from an instances JSON (read with
 * datasets/coco.h) and the standard results JSON (a list of {image_id, category_id, score, bbox and/or
 * segmentation}), loaded with pycocotools' loadRes rules into the in-memory structs of coco_eval.h. */
#ifndef DB_COCO_JSON_H
#define DB_COCO_JSON_H

#include "../datasets/coco.h"
#include "coco_eval.h"

/* Rasterise one annotation's segmentation at h x w into r, as pycocotools' annToRLE (what mmdet 2.11's
 * LoadAnnotations._poly2mask does): polygons through frPyObjects (a first polygon of exactly 4 numbers makes
 * the whole list boxes, as pycocotools) and merged; uncompressed RLE taken at its own "size"; compressed RLE
 * parsed. Returns 0 or -1 (err_set; r left empty). */
int coco_seg_to_rle(const coco_seg *sg, int h, int w, rle *r);

/* Convert a loaded dataset. need_masks: rasterise every annotation's segmentation (polygons with
 * rle_from_poly at the image size, merged; uncompressed or compressed RLE decoded). src names the file in
 * messages. Returns 0 or -1 (err_set naming src and the annotation). */
int coco_gt_from_dataset(const coco_dataset *ds, int need_masks, const char *src, coco_gt *gt);
/* Load ground truth straight from an instances JSON file. */
int coco_gt_load(const char *path, int need_masks, coco_gt *gt);

/* Load a results JSON. As pycocotools' loadRes: when the first entry has a non-empty "bbox", every entry's
 * area is its box w*h (and a missing segmentation becomes the box polygon); otherwise entries must carry an
 * RLE "segmentation" whose pixel count is the area and whose tight box is the bbox. Masks are only
 * decoded when need_masks. Every image_id must be a ground-truth image: otherwise -1 with a message naming
 * the file and the entry. */
int coco_results_load(const char *path, const coco_gt *gt, int need_masks, coco_det *dt);
int coco_results_parse(const char *buf, size_t n, const char *src, const coco_gt *gt, int need_masks, coco_det *dt);

#endif
