/* coco.h - COCO instances JSON reader (instances_*.json, image_info_*.json) into one in-memory form.
 *
 * Images keep their id, file name and size; categories are mapped to contiguous labels 0..K-1 in the
 * order of the file's "categories" list (what mmdet 2.x's CocoDataset does, cat2label from
 * get_cat_ids()); annotations keep id (0 is valid), image id, category, bbox [x,y,w,h], area, iscrowd,
 * ignore and the segmentation unrasterised: polygons, uncompressed RLE counts, or the compressed RLE
 * string. Annotations are also indexed by image in file order (as pycocotools' imgToAnns).
 *
 * The file is read with a streaming tokenizer (json_scan.h), not a cJSON tree: the 448 MB
 * instances_train2017.json holds ~50 M numbers, which as cJSON nodes would need well over 3 GB. */
#ifndef DB_COCO_H
#define DB_COCO_H

#include <stddef.h>
#include <stdint.h>

typedef enum coco_seg_kind {
    COCO_SEG_NONE = 0, /* no "segmentation" key (or an empty list) */
    COCO_SEG_POLY,     /* list of polygons [x1,y1,x2,y2,...] */
    COCO_SEG_RLE,      /* {"counts": [uint...], "size": [h, w]} (uncompressed, column-major runs) */
    COCO_SEG_RLE_STR,  /* {"counts": "compressed string", "size": [h, w]} (pycocotools LEB128 form) */
} coco_seg_kind;

typedef struct coco_seg {
    coco_seg_kind kind;
    int n_polys;           /* POLY: number of polygons */
    const int *poly_len;   /* POLY: number of coordinates (2 * points) of each polygon */
    const double *xy;      /* POLY: all polygons' coordinates, concatenated */
    int h, w;              /* RLE, RLE_STR: "size" */
    int n_counts;          /* RLE: number of runs */
    const uint32_t *counts; /* RLE: the runs */
    const char *rle;       /* RLE_STR: the compressed counts string (NUL-terminated) */
    /* private: offsets into the pools while loading */
    size_t off_a, off_b;
} coco_seg;

typedef struct coco_ann {
    int64_t id;
    int64_t image_id;
    int image;             /* index into images[] */
    int64_t category_id;
    int label;             /* contiguous label of category_id */
    double bbox[4];        /* x, y, w, h as in the file */
    double area;           /* "area", or w*h when the key is absent (has_area = 0) */
    int has_area;
    int iscrowd;
    int ignore;            /* the optional "ignore" key (mmdet skips such annotations) */
    coco_seg seg;
} coco_ann;

typedef struct coco_image {
    int64_t id;
    const char *file_name;
    int width, height;
    int ann_first, n_anns; /* this image's annotations: ann_index[ann_first .. ann_first+n_anns) */
} coco_image;

typedef struct coco_category {
    int64_t id;
    const char *name;
    const char *supercategory; /* "" when absent */
} coco_category;

typedef struct coco_dataset {
    int n_images, n_categories, n_anns;
    coco_image *images;        /* file order */
    coco_category *categories; /* file order; label = index */
    coco_ann *anns;            /* file order (minus skipped entries) */
    int *ann_index;            /* annotation indices grouped by image (see coco_image.ann_first) */
    int n_skipped;             /* entries dropped under skip_bad */
    /* private storage */
    char *strings;
    double *xy_pool;
    int *len_pool;
    uint32_t *counts_pool;
    int64_t *img_sorted_ids;
    int *img_sorted_idx;
} coco_dataset;

typedef struct coco_options {
    int skip_bad; /* 0: the first bad annotation entry fails the load. 1: drop it, warn on stderr (first
                     10), count it in n_skipped. Malformed JSON always fails. */
} coco_options;

/* Load from a file / from memory (name used in messages). opts may be NULL (strict). On error returns -1
 * with err_msg() naming the file, the line/byte and the entry ("annotations[12] (id 345): ..."). */
int coco_load(const char *path, const coco_options *opts, coco_dataset *ds);
int coco_parse(const char *buf, size_t n, const char *name, const coco_options *opts, coco_dataset *ds);
void coco_free(coco_dataset *ds);

/* Index of the image with this id, or -1. */
int coco_find_image(const coco_dataset *ds, int64_t image_id);
/* Label of a category id, or -1. */
int coco_find_label(const coco_dataset *ds, int64_t category_id);

/* mmdet 2.x CocoDataset._filter_imgs: indices of the images kept (file order) into keep (n_images
 * entries); returns their number. filter_empty_gt drops images with no annotation at all (crowd ones
 * count as annotations); images whose shorter side is below min_size are dropped (mmdet: 32). */
int coco_filter_images(const coco_dataset *ds, int filter_empty_gt, int min_size, int *keep);

/* mmdet 2.x CocoDataset._parse_ann_info for one image: boxes as x1,y1,x2,y2 (= x+w, y+h). Annotations with
 * "ignore" set, with no overlap with the image, with area <= 0, or w < 1 or h < 1 are skipped; crowd ones go
 * to the ignore list. boxes/labels/ann_ids get up to image.n_anns entries each (gt first, then n_ignore
 * ignored ones after *n_gt); returns the number written in total or -1. ann_idx (may be NULL) receives the
 * annotation index of each entry. */
int coco_image_targets(const coco_dataset *ds, int image, float *boxes, int *labels, int *ann_idx, int *n_gt);

#endif
