/* mask.h - binary masks as COCO run-length encodings: encode/decode, the compressed string form,
 * polygon and box rasterisation giving the same pixels as pycocotools' maskApi, area, bounding box,
 * union/intersection and mask IoU with crowd handling.
 *
 * An RLE describes an h x w mask in column-major (Fortran) order as alternating run lengths that start
 * with a run of zeros (possibly of length 0). */
#ifndef DB_MASK_H
#define DB_MASK_H

#include <stddef.h>
#include <stdint.h>

typedef struct rle {
    uint32_t h, w;
    size_t m;        /* number of runs */
    uint32_t *cnts;  /* m run lengths (malloc'd, NULL when m == 0) */
} rle;

void rle_free(rle *r);
/* Deep copy. */
void rle_copy(rle *dst, const rle *src);
/* Encode an h x w column-major 0/1 mask (any non-zero byte counts as 1). */
void rle_encode(rle *r, const uint8_t *mask, uint32_t h, uint32_t w);
/* Encode an h x w ROW-major mask (what a network's output usually is); same RLE as encoding its transpose
 * in column-major order. */
void rle_encode_rowmajor(rle *r, const uint8_t *mask, uint32_t h, uint32_t w);
/* Decode into an h*w column-major buffer of 0/1 bytes. Returns -1 (err_set) if the runs do not sum to
 * h*w. */
int rle_decode(const rle *r, uint8_t *mask);
/* Run lengths must sum to h*w: 0 if so, else -1 with err_set. */
int rle_check(const rle *r);
/* The compressed string form (LEB128-like, 6 bits per char in '0'..'o', deltas from the run two before
 * for runs after the third). Returns a malloc'd string. */
char *rle_to_string(const rle *r);
/* Parse a compressed string. Returns -1 with err_set on a character outside the alphabet, a truncated
 * code or runs not summing to h*w. */
int rle_from_string(rle *r, const char *s, uint32_t h, uint32_t w);
/* Rasterise a polygon of k >= 1 vertices (xy = x0,y0,x1,y1,...) exactly as pycocotools' rleFrPoly.
 * Returns 0, or -1 (err_set, r left empty) for a coordinate that is not finite or beyond +-1e6. */
int rle_from_poly(rle *r, const double *xy, size_t k, uint32_t h, uint32_t w);
/* Rasterise a box [x, y, w, h] as pycocotools' rleFrBbox (the box's four corners as a polygon). */
int rle_from_bbox(rle *r, const double bb[4], uint32_t h, uint32_t w);
/* Union (intersect = 0) or intersection (intersect = 1) of n RLEs. Sizes must agree; if they do not the
 * result is an empty 0 x 0 RLE (as pycocotools). n == 0 gives an empty 0 x 0 RLE. */
void rle_merge(const rle *rs, size_t n, rle *out, int intersect);
/* Number of foreground pixels. */
uint64_t rle_area(const rle *r);
/* Tight box [x, y, w, h] as pycocotools' rleToBbox (including its behaviour for masks spanning columns). */
void rle_to_bbox(const rle *r, double bb[4]);
/* IoU of a detection mask with a ground-truth mask; crowd ground truth divides by the detection area.
 * Returns -1 when the sizes differ and the boxes overlap (pycocotools' convention), 0 when the boxes do
 * not overlap. */
double rle_iou(const rle *dt, const rle *gt, int gt_crowd);
/* Box IoU of [x, y, w, h] boxes without the +1 pixel term; crowd divides by the detection's area. */
double bbox_iou(const double dt[4], const double gt[4], int gt_crowd);

#endif
