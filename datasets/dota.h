/* dota.h - DOTA v1.0/v1.5 and STAR oriented-object annotations (labelTxt / annfiles *.txt), as
 * mmrotate 0.x and STAR-MMRotate read them; polygon <-> rotated box in the le90 and oc conventions
 * (mmrotate poly2obb_np / obb2poly); DOTA's patch splitting (img_split: 1024 windows with a 200 gap,
 * img_rate_thr 0.6, iof_thr 0.7, truncated objects marked difficult 2) and the merge of patch detections
 * (translate by the patch offset, per-class rotated NMS at IoU 0.1).
 *
 * One line per object: "x1 y1 x2 y2 x3 y3 x4 y4 class difficult". Original DOTA files may start with
 * "imagesource:..." and "gsd:..." lines; they are read (gsd kept) and not counted as objects. */
#ifndef DB_DOTA_H
#define DB_DOTA_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"

typedef enum rbox_version { RBOX_LE90 = 0, RBOX_OC = 1 } rbox_version;

/* Rotated box: center, width, height, angle in radians (image coordinates, y down; width is the side along
 * (cos a, sin a)). le90: w >= h, a in [-pi/2, pi/2). oc: a in (0, pi/2]. */
typedef struct rbox {
    float x, y, w, h, a;
} rbox;

/* Class lists: mmrotate DOTADataset (v1.0, 15), DOTAv15Dataset (v1.5, 16), STAR-MMRotate STARDataset (48). */
extern const char *const dota_classes_v10[15];
extern const char *const dota_classes_v15[16];
extern const char *const star_classes[48];

typedef struct dota_object {
    float poly[8];   /* as in the file (float32, like mmrotate) */
    int label;       /* index into the class list */
    int difficult;   /* 10th field, 0 when absent */
    int line;        /* line in the file (1-based) */
} dota_object;

typedef struct dota_ann {
    char *imagesource; /* NULL when absent */
    double gsd;        /* -1 when absent or unparsable */
    int n_objects;
    dota_object *objects;
    int n_unknown;              /* objects of a class outside the list, not counted (DOTA_UNKNOWN_SKIP...) */
    char unknown_classes[96];   /* their distinct class names, ", "-separated (cut at the size) */
} dota_ann;

/* An object whose class is not in the class list:
 *   DOTA_UNKNOWN_FAIL:     an error (with skip_bad: a bad line, warned and skipped);
 *   DOTA_UNKNOWN_SKIP:     not counted, as the DOTA devkit's dota_evaluation_task1 (it keeps the objects of
 *                          each evaluated class by name); counted in dota_ann.n_unknown;
 *   DOTA_UNKNOWN_MMROTATE: as mmrotate's DOTADataset.load_annotations: an error when poly2obb succeeds
 *                          (cls_map[cls_name] raises KeyError), not counted when the polygon has a side
 *                          < 2 px (poly2obb fails first and the line is skipped before its class is read). */
typedef enum dota_unknown { DOTA_UNKNOWN_FAIL = 0, DOTA_UNKNOWN_SKIP = 1, DOTA_UNKNOWN_MMROTATE = 2 } dota_unknown;

typedef struct dota_options {
    int skip_bad; /* 0: a bad line fails. 1: warn (first 10) and skip it, counted in *n_skipped. */
    int unknown;  /* dota_unknown (default DOTA_UNKNOWN_FAIL) */
} dota_options;

/* Parse one annotation text (name for messages). Lines with fewer than 9 fields (except the header lines)
 * or non-numeric coordinates are errors ("<name>:<line>: ..."), and so is an unknown class unless
 * opts->unknown says otherwise. n_skipped may be NULL. */
int dota_parse_txt(const char *buf, size_t n, const char *name, const char *const *classes, int n_classes,
                   const dota_options *opts, dota_ann *out, int *n_skipped);
int dota_load_txt(const char *path, const char *const *classes, int n_classes, const dota_options *opts,
                  dota_ann *out, int *n_skipped);
void dota_ann_free(dota_ann *a);

/* A dataset: every *.txt under ann_dir (sorted by name), image = <stem>.png, with the mmrotate training
 * targets (rotated boxes of the objects whose poly2obb succeeds, i.e. both sides >= 2 px). */
typedef struct dota_item {
    char *stem;        /* file name without .txt */
    dota_ann ann;
    int n_boxes;       /* objects with a valid rotated box */
    rbox *boxes;
    int *labels;
    int *obj_index;    /* the object each box came from */
} dota_item;

typedef struct dota_dataset {
    int n_items;
    dota_item *items;
    int n_skipped;     /* bad lines skipped (skip_bad) */
    int n_unknown;     /* objects of classes outside the list, not counted (opts->unknown) */
    int n_dropped;     /* objects dropped by poly2obb (a side < 2 px) */
} dota_dataset;

/* filter_empty: drop items without any valid box (mmrotate DOTADataset._filter_imgs, train mode). Note that
 * STAR-MMRotate's STARDataset also drops zero-byte annotation files whenever filter_empty_gt is set (the
 * CustomDataset default, test configs included); pass filter_empty = 1 to match it there. A folder without
 * any *.txt gives 0 items (mmrotate's test phase would list the images instead). */
int dota_load_dir(const char *ann_dir, const char *const *classes, int n_classes, rbox_version v,
                  int filter_empty, const dota_options *opts, dota_dataset *ds);
void dota_dataset_free(dota_dataset *ds);

/* mmrotate poly2obb_np (cv2.minAreaRect of the 4 points, then the convention). Returns 1 and fills *out, or
 * 0 when a side of the minimum-area rectangle is below 2 (mmrotate drops such objects). */
int poly_to_rbox(const float poly[8], rbox_version v, rbox *out);
/* Corners: center +- w/2 (cos a, sin a) +- h/2 (-sin a, cos a), in mmrotate obb2poly_le90's order. */
void rbox_to_poly(const rbox *b, float poly[8]);
/* Re-express a box in a convention (same rectangle). */
rbox rbox_normalize(rbox b, rbox_version v);
/* IoU of two rotated boxes (exact convex-polygon intersection). */
double rbox_iou(const rbox *a, const rbox *b);
/* Rotated NMS as mmcv nms_rotated: by descending score, suppress boxes with IoU >= thr with a kept one.
 * keep receives indices (descending score); returns their number. */
int rbox_nms(const rbox *boxes, const float *scores, int n, float iou_thr, int *keep);
/* Area of a simple polygon (absolute shoelace) and of its intersection with an axis-aligned rectangle. */
double poly_area(const float *xy, int n_pts);
double poly_rect_intersection(const float *xy, int n_pts, double x0, double y0, double x1, double y1);

/* img_split.get_sliding_window for one size/gap: windows (x0, y0, x1, y1) into win (4 * max entries);
 * returns the number (at most max) or -1. */
int dota_split_windows(int width, int height, int size, int gap, double img_rate_thr, int *win, int max);
/* img_split.get_window_obj + the label writing in crop_and_save_img: objects whose polygon lies in the
 * window with iof >= iof_thr, translated to the window, difficult set to 2 when iof < 1. */
int dota_window_objects(const dota_ann *a, const int win[4], double iof_thr, dota_ann *out);
/* Patch file stem "<orig>__<size>__<x>___<y>" (img_split) -> orig, x, y. Returns 0, or -1 when the name has
 * no offset (mmrotate then warns and uses 0, 0; *x = *y = 0 and orig = the whole name here too). */
int dota_patch_name_parse(const char *stem, char *orig, size_t orig_size, int *x, int *y);
void dota_patch_name(const char *orig, int size, int x, int y, char *out, size_t out_size);

/* img_split for one image at rate 1.0: windows (size, gap, img_rate_thr), objects per window (iof_thr), each
 * patch cropped and padded to size x size with pad_rgb (mmrotate: 104, 116, 124) and written as
 * <out_img_dir>/<stem>__<size>__<x>___<y>.png with its label file in out_ann_dir (one line per object:
 * translated polygon, class name, difficulty, 2 for truncated objects; empty file when none). Returns the
 * number of patches or -1. */
int dota_split_image(const image *img, const dota_ann *a, const char *const *classes, const char *stem, int size,
                     int gap, double img_rate_thr, double iof_thr, const uint8_t pad_rgb[3], const char *out_img_dir,
                     const char *out_ann_dir);

/* One detection in patch or image coordinates. */
typedef struct dota_det {
    rbox box;
    float score;
    int label;
} dota_det;
/* mmrotate DOTADataset.merge_det for one original image: dets of all its patches (offsets px, py per
 * detection, added to the center), per-class rotated NMS at iou_thr (0.1). out gets at most n entries;
 * returns the number kept, grouped by class, descending score within a class. */
int dota_merge_dets(const dota_det *dets, const int *px, const int *py, int n, int n_classes, float iou_thr,
                    dota_det *out);

#endif
