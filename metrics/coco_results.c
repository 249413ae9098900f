/* coco_results.c - COCO results files as mmdet 2.11 writes them, and the same detections in memory (see
 * coco_results.h). */
#include "coco_results.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "mask.h"

void coco_format_double(double v, char *buf, int cap) {
    if (!isfinite(v)) { /* callers refuse these; Python would write NaN / Infinity, which is not JSON */
        snprintf(buf, cap, "%s", isnan(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity");
        return;
    }
    /* the fewest significant digits that read back, then Python's layout: positional for exponents -4..15
     * (integral values with ".0"), else d.ddde+XX */
    int p = 1;
    for (; p < 17; p++) {
        snprintf(buf, cap, "%.*e", p - 1, v);
        if (strtod(buf, NULL) == v) break;
    }
    snprintf(buf, cap, "%.*e", p - 1, v);
    const char *e = strchr(buf, 'e');
    int ex = e ? atoi(e + 1) : 0;
    if (ex >= -4 && ex < 16) {
        int dec = p - 1 - ex;
        if (dec > 0) {
            snprintf(buf, cap, "%.*f", dec, v);
        } else {
            snprintf(buf, cap, "%.0f.0", v);
        }
    }
}

/* one output entry: image entry e, detection j */
typedef struct res_ref {
    int e, j, label;
} res_ref;

static int cmp_ref(const void *a, const void *b) {
    const res_ref *x = a, *y = b;
    if (x->e != y->e) return x->e < y->e ? -1 : 1;
    if (x->label != y->label) return x->label < y->label ? -1 : 1;
    return x->j < y->j ? -1 : x->j > y->j;
}

/* validate and order the detections as mmdet's loops (image, label, index within label) */
static int collect(const coco_gt *gt, const coco_image_dets *d, int n_images, int iou_type, res_ref **out, int *n_out) {
    size_t total = 0;
    for (int e = 0; e < n_images; e++) {
        const coco_image_dets *x = &d[e];
        if (x->image < 0 || x->image >= gt->n_images)
            return err_set("COCO results: entry %d: image index %d (the ground truth has %d images)", e, x->image, gt->n_images);
        if (x->n < 0) return err_set("COCO results: entry %d: %d detections", e, x->n);
        if (x->n && (!x->boxes || !x->scores || !x->labels))
            return err_set("COCO results: entry %d (image id %lld): boxes, scores and labels are needed", e,
                           (long long)gt->images[x->image].id);
        if (x->n && iou_type == COCO_IOU_SEGM && !x->masks)
            return err_set("COCO results: entry %d (image id %lld): segm results need masks", e, (long long)gt->images[x->image].id);
        total += (size_t)x->n;
    }
    res_ref *r = xmalloc(sizeof(res_ref) * (total + 1));
    size_t k = 0;
    for (int e = 0; e < n_images; e++) {
        const coco_image_dets *x = &d[e];
        for (int j = 0; j < x->n; j++) {
            int lab = x->labels[j];
            const float *b = x->boxes + 4 * j;
            if (lab < 0 || lab >= gt->n_cats) {
                free(r);
                return err_set("COCO results: image id %lld, detection %d: label %d outside the %d categories",
                               (long long)gt->images[x->image].id, j, lab, gt->n_cats);
            }
            if (!isfinite(b[0]) || !isfinite(b[1]) || !isfinite(b[2]) || !isfinite(b[3]) || !isfinite(x->scores[j])) {
                free(r);
                return err_set("COCO results: image id %lld, detection %d: box or score is not finite",
                               (long long)gt->images[x->image].id, j);
            }
            r[k++] = (res_ref){e, j, lab};
        }
    }
    qsort(r, k, sizeof(res_ref), cmp_ref);
    *out = r;
    *n_out = (int)k;
    return 0;
}

/* mmdet's xyxy2xywh on the float32 corners widened to double */
static void ref_bbox(const coco_image_dets *x, int j, double bb[4]) {
    const float *b = x->boxes + 4 * j;
    bb[0] = (double)b[0], bb[1] = (double)b[1];
    bb[2] = (double)b[2] - (double)b[0];
    bb[3] = (double)b[3] - (double)b[1];
}

static void ref_rle(const coco_gt *gt, const coco_image_dets *x, int j, rle *r) {
    const coco_gt_image *im = &gt->images[x->image];
    size_t plane = (size_t)im->height * im->width;
    rle_encode_rowmajor(r, x->masks + plane * j, (uint32_t)im->height, (uint32_t)im->width);
}

int coco_results_write(const char *path, const coco_gt *gt, const coco_image_dets *d, int n_images, int iou_type) {
    res_ref *refs;
    int n;
    if (iou_type != COCO_IOU_BBOX && iou_type != COCO_IOU_SEGM) return err_set("coco_results_write: iou type %d", iou_type);
    if (collect(gt, d, n_images, iou_type, &refs, &n)) return err_prefix("%s", path);
    char tmp[4096];
    if (atomic_tmpname(path, tmp, sizeof tmp)) {
        free(refs);
        return -1;
    }
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        free(refs);
        return err_set("%s: cannot write: %s", tmp, strerror(errno));
    }
    fputc('[', f);
    for (int k = 0; k < n; k++) {
        const coco_image_dets *x = &d[refs[k].e];
        int j = refs[k].j;
        double bb[4];
        ref_bbox(x, j, bb);
        char v[4][40], sc[40];
        for (int q = 0; q < 4; q++) coco_format_double(bb[q], v[q], sizeof v[q]);
        coco_format_double((double)x->scores[j], sc, sizeof sc);
        fprintf(f, "%s{\"image_id\": %lld, \"bbox\": [%s, %s, %s, %s], \"score\": %s, \"category_id\": %lld", k ? ", " : "",
                (long long)gt->images[x->image].id, v[0], v[1], v[2], v[3], sc, (long long)gt->cat_ids[refs[k].label]);
        if (iou_type == COCO_IOU_SEGM) {
            rle r;
            ref_rle(gt, x, j, &r);
            char *s = rle_to_string(&r);
            /* the compressed alphabet ('0'..'o') has no character JSON must escape except the backslash */
            fprintf(f, ", \"segmentation\": {\"size\": [%u, %u], \"counts\": \"", r.h, r.w);
            for (const char *c = s; *c; c++) {
                if (*c == '\\') fputc('\\', f);
                fputc(*c, f);
            }
            fputs("\"}", f);
            free(s);
            rle_free(&r);
        }
        fputc('}', f);
    }
    fputc(']', f);
    free(refs);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        atomic_abort(tmp);
        return err_set("%s: write failed: %s", tmp, strerror(errno));
    }
    return atomic_commit(tmp, path);
}

int coco_results2json(const char *prefix, const coco_gt *gt, const coco_image_dets *d, int n_images, int with_segm) {
    char p[4096];
    int k = snprintf(p, sizeof p, "%s.bbox.json", prefix);
    if (k < 0 || (size_t)k >= sizeof p) return err_set("%s: path too long", prefix);
    if (coco_results_write(p, gt, d, n_images, COCO_IOU_BBOX)) return -1;
    if (!with_segm) return 0;
    snprintf(p, sizeof p, "%s.segm.json", prefix);
    return coco_results_write(p, gt, d, n_images, COCO_IOU_SEGM);
}

int coco_results_to_det(const coco_gt *gt, const coco_image_dets *d, int n_images, int iou_type, coco_det *out) {
    memset(out, 0, sizeof *out);
    res_ref *refs;
    int n;
    if (collect(gt, d, n_images, iou_type, &refs, &n)) return -1;
    out->dets = xcalloc((size_t)n + 1, sizeof(coco_dt_ann));
    for (int k = 0; k < n; k++) {
        const coco_image_dets *x = &d[refs[k].e];
        int j = refs[k].j;
        coco_dt_ann *a = &out->dets[k];
        a->image_id = gt->images[x->image].id;
        a->category_id = gt->cat_ids[refs[k].label];
        a->score = (double)x->scores[j];
        ref_bbox(x, j, a->bbox);
        a->area = a->bbox[2] * a->bbox[3]; /* loadRes with a "bbox" key: the box area, for segm too (mmdet 2.11) */
        if (iou_type == COCO_IOU_SEGM) ref_rle(gt, x, j, &a->mask);
    }
    out->n = n;
    free(refs);
    return 0;
}

int coco_results_evaluate(const coco_gt *gt, const coco_image_dets *d, int n_images, int n_threads, double bbox_stats[12],
                          double segm_stats[12]) {
    for (int t = 0; t < 2; t++) {
        double *dst = t == 0 ? bbox_stats : segm_stats;
        if (!dst) continue;
        int iou = t == 0 ? COCO_IOU_BBOX : COCO_IOU_SEGM;
        coco_det dt;
        if (coco_results_to_det(gt, d, n_images, iou, &dt)) return -1;
        coco_summary s;
        int rc = coco_eval_run(gt, &dt, iou, n_threads, &s);
        coco_det_free(&dt);
        if (rc) return err_prefix("COCO %s evaluation", t == 0 ? "bbox" : "segm");
        memcpy(dst, s.stats, sizeof s.stats);
        coco_summary_free(&s);
    }
    return 0;
}
