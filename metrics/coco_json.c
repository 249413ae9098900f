/* coco_json.c - ground truth and results JSON into coco_gt / coco_det (see coco_json.h). */
#include "coco_json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "../datasets/json_scan.h"

int coco_seg_to_rle(const coco_seg *sg, int h, int w, rle *r) {
    memset(r, 0, sizeof *r);
    switch (sg->kind) {
    case COCO_SEG_POLY: {
        if (sg->n_polys == 0) return err_set("empty polygon list");
        rle *parts = xcalloc((size_t)sg->n_polys, sizeof(rle));
        const double *xy = sg->xy;
        /* pycocotools treats the whole list as boxes when its first polygon has exactly 4 numbers */
        int as_boxes = sg->poly_len[0] == 4;

        for (int p = 0; p < sg->n_polys; p++) {
            int len = sg->poly_len[p];
            if (as_boxes) {
                if (len != 4) {
                    for (int q = 0; q < p; q++) rle_free(&parts[q]);
                    free(parts);
                    return err_set("segmentation: first polygon has 4 numbers (read as a box) but polygon %d has %d", p, len);
                }
                if (rle_from_bbox(&parts[p], xy, (uint32_t)h, (uint32_t)w) < 0) {
                    for (int q = 0; q < p; q++) rle_free(&parts[q]);
                    free(parts);
                    return err_prefix("segmentation box %d", p);
                }
            } else {
                if (len < 6) {
                    for (int q = 0; q < p; q++) rle_free(&parts[q]);
                    free(parts);
                    return err_set("segmentation: polygon %d has %d coordinates (needs at least 3 points)", p, len);
                }
                if (rle_from_poly(&parts[p], xy, (size_t)len / 2, (uint32_t)h, (uint32_t)w) < 0) {
                    for (int q = 0; q < p; q++) rle_free(&parts[q]);
                    free(parts);
                    return err_prefix("segmentation polygon %d", p);
                }
            }
            xy += len;
        }
        rle_merge(parts, (size_t)sg->n_polys, r, 0);
        for (int p = 0; p < sg->n_polys; p++) rle_free(&parts[p]);
        free(parts);
        return 0;
    }
    case COCO_SEG_RLE:
        r->h = (uint32_t)sg->h;
        r->w = (uint32_t)sg->w;
        r->m = (size_t)sg->n_counts;
        r->cnts = xmalloc((r->m + 1) * sizeof(uint32_t));
        if (r->m) memcpy(r->cnts, sg->counts, r->m * sizeof(uint32_t));
        return rle_check(r);
    case COCO_SEG_RLE_STR:
        return rle_from_string(r, sg->rle, (uint32_t)sg->h, (uint32_t)sg->w);
    default:
        return err_set("no segmentation");
    }
}

int coco_gt_from_dataset(const coco_dataset *ds, int need_masks, const char *src, coco_gt *gt) {
    memset(gt, 0, sizeof *gt);
    gt->n_images = ds->n_images;
    gt->images = xcalloc((size_t)ds->n_images + 1, sizeof(coco_gt_image));
    for (int i = 0; i < ds->n_images; i++) {
        gt->images[i].id = ds->images[i].id;
        gt->images[i].height = ds->images[i].height;
        gt->images[i].width = ds->images[i].width;
    }
    gt->n_cats = ds->n_categories;
    gt->cat_ids = xcalloc((size_t)ds->n_categories + 1, sizeof(int64_t));
    for (int k = 0; k < ds->n_categories; k++) gt->cat_ids[k] = ds->categories[k].id;
    gt->n_anns = ds->n_anns;
    gt->anns = xcalloc((size_t)ds->n_anns + 1, sizeof(coco_gt_ann));
    for (int j = 0; j < ds->n_anns; j++) {
        const coco_ann *a = &ds->anns[j];
        coco_gt_ann *g = &gt->anns[j];
        g->id = a->id;
        g->image_id = a->image_id;
        g->category_id = a->category_id;
        memcpy(g->bbox, a->bbox, sizeof g->bbox);
        g->area = a->area;
        g->iscrowd = a->iscrowd;
        if (need_masks && a->image >= 0) {
            const coco_image *im = &ds->images[a->image];
            if (coco_seg_to_rle(&a->seg, im->height, im->width, &g->mask) < 0) {
                err_prefix("%s: annotations[%d] (id %lld)", src, j, (long long)a->id);
                coco_gt_free(gt);
                return -1;
            }
            if (g->mask.h != (uint32_t)im->height || g->mask.w != (uint32_t)im->width) {
                err_set("%s: annotations[%d] (id %lld): mask size %ux%u differs from image %lld's %dx%d", src, j,
                        (long long)a->id, g->mask.h, g->mask.w, (long long)im->id, im->height, im->width);
                coco_gt_free(gt);
                return -1;
            }
        }
    }
    return 0;
}

int coco_gt_load(const char *path, int need_masks, coco_gt *gt) {
    coco_dataset ds;
    if (coco_load(path, NULL, &ds) < 0) return -1;
    int rc = coco_gt_from_dataset(&ds, need_masks, path, gt);
    coco_free(&ds);
    return rc;
}

/* ---- results ---- */

typedef struct img_tab {
    int64_t id;
    int h, w;
} img_tab;

static int cmp_img_tab(const void *a, const void *b) {
    int64_t x = ((const img_tab *)a)->id, y = ((const img_tab *)b)->id;
    return x > y ? 1 : x < y ? -1 : 0;
}

static const img_tab *find_img(const img_tab *t, int n, int64_t id) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (t[mid].id == id) return &t[mid];
        if (t[mid].id < id)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

static int get_i64(jscan *s, const char *key, int64_t *v) {
    double d;
    if (js_number(s, &d) < 0) return -1;
    if (d != (double)(int64_t)d) return js_error(s, "\"%s\" must be an integer, got %.17g", key, d);
    *v = (int64_t)d;
    return 0;
}

/* One parsed result entry before conversion. */
typedef struct res_entry {
    int64_t image_id, category_id;
    double score;
    int have_img, have_cat, have_score, n_bbox;
    double bbox[4];
    int seg_kind;  /* 0 none, 1 RLE string, 2 RLE list, 3 polygons */
    int seg_h, seg_w;
    char *counts_str;
    uint32_t *counts;
    size_t n_counts;
    double *xy;
    int *poly_len;
    int n_polys;
    size_t n_xy;
} res_entry;

static void res_entry_clear(res_entry *e) {
    free(e->counts_str);
    free(e->counts);
    free(e->xy);
    free(e->poly_len);
    memset(e, 0, sizeof *e);
}

static int parse_segmentation(jscan *s, res_entry *e) {
    int ch = js_peek(s);
    if (ch == '{') {
        if (js_obj_begin(s) < 0) return -1;
        int f = 1, r;
        char key[32];
        while ((r = js_obj_key(s, &f, key, sizeof key)) > 0) {
            if (!strcmp(key, "size")) {
                if (js_arr_begin(s) < 0) return -1;
                int f2 = 1, r2, n = 0;
                while ((r2 = js_arr_next(s, &f2)) > 0) {
                    int64_t v = 0;
                    if (get_i64(s, "size", &v) < 0) return -1;
                    if (v <= 0 || v > 1000000) return js_error(s, "segmentation size must be positive");
                    if (n == 0) e->seg_h = (int)v;
                    if (n == 1) e->seg_w = (int)v;
                    n++;
                }
                if (r2 < 0) return -1;
                if (n != 2) return js_error(s, "segmentation \"size\" must be [height, width]");
            } else if (!strcmp(key, "counts")) {
                if (js_peek(s) == '"') {
                    if (js_string(s, &e->counts_str, NULL) < 0) return -1;
                    e->seg_kind = 1;
                } else {
                    if (js_arr_begin(s) < 0) return -1;
                    int f2 = 1, r2;
                    size_t cap = 16;
                    e->counts = xmalloc(cap * sizeof(uint32_t));
                    while ((r2 = js_arr_next(s, &f2)) > 0) {
                        int64_t v = 0;
                        if (get_i64(s, "counts", &v) < 0) return -1;
                        if (v < 0 || v > 0xFFFFFFFFll) return js_error(s, "RLE count out of range");
                        if (e->n_counts == cap) e->counts = xrealloc(e->counts, (cap *= 2) * sizeof(uint32_t));
                        e->counts[e->n_counts++] = (uint32_t)v;
                    }
                    if (r2 < 0) return -1;
                    e->seg_kind = 2;
                }
            } else if (js_skip(s) < 0) {
                return -1;
            }
        }
        if (r < 0) return -1;
        if (!e->seg_kind || !e->seg_h) return js_error(s, "an RLE segmentation needs \"size\" and \"counts\"");
        return 0;
    }
    if (ch == '[') {
        if (js_arr_begin(s) < 0) return -1;
        int f = 1, r;
        size_t cap = 64;
        e->xy = xmalloc(cap * sizeof(double));
        while ((r = js_arr_next(s, &f)) > 0) {
            if (js_arr_begin(s) < 0) return -1;
            int f2 = 1, r2, len = 0;
            while ((r2 = js_arr_next(s, &f2)) > 0) {
                double v;
                if (js_number(s, &v) < 0) return -1;
                if (e->n_xy == cap) e->xy = xrealloc(e->xy, (cap *= 2) * sizeof(double));
                e->xy[e->n_xy++] = v;
                len++;
            }
            if (r2 < 0) return -1;
            e->poly_len = xrealloc(e->poly_len, (size_t)(e->n_polys + 1) * sizeof(int));
            e->poly_len[e->n_polys++] = len;
        }
        if (r < 0) return -1;
        e->seg_kind = e->n_polys ? 3 : 0;
        return 0;
    }
    return js_error(s, "\"segmentation\" must be an RLE object or a list of polygons");
}

int coco_results_parse(const char *buf, size_t n, const char *src, const coco_gt *gt, int need_masks, coco_det *dt) {
    memset(dt, 0, sizeof *dt);
    img_tab *tab = xmalloc((size_t)(gt->n_images + 1) * sizeof(img_tab));
    for (int i = 0; i < gt->n_images; i++)
        tab[i] = (img_tab){gt->images[i].id, gt->images[i].height, gt->images[i].width};
    qsort(tab, gt->n_images, sizeof(img_tab), cmp_img_tab);
    jscan s;
    js_init(&s, buf, n, src);
    size_t cap = 1024;
    dt->dets = xcalloc(cap, sizeof(coco_dt_ann));
    int box_mode = -1; /* decided by the first entry, as pycocotools' loadRes */
    int rc = 0, index = 0, r, first = 1;
    res_entry e;
    memset(&e, 0, sizeof e);
    if (js_peek(&s) != '[') {
        rc = js_error(&s, "a results file must be a JSON list of detections");
        goto done;
    }
    if (js_arr_begin(&s) < 0) {
        rc = -1;
        goto done;
    }
    while ((r = js_arr_next(&s, &first)) > 0) {
        res_entry_clear(&e);
        if (js_peek(&s) != '{') {
            rc = js_error(&s, "entry %d: a detection must be an object", index);
            goto done;
        }
        if (js_obj_begin(&s) < 0) {
            rc = -1;
            goto done;
        }
        int f = 1, r2;
        char key[32];
        while ((r2 = js_obj_key(&s, &f, key, sizeof key)) > 0) {
            int c = 0;
            if (!strcmp(key, "image_id")) {
                c = get_i64(&s, key, &e.image_id);
                e.have_img = 1;
            } else if (!strcmp(key, "category_id")) {
                c = get_i64(&s, key, &e.category_id);
                e.have_cat = 1;
            } else if (!strcmp(key, "score")) {
                c = js_number(&s, &e.score);
                e.have_score = 1;
            } else if (!strcmp(key, "bbox")) {
                if (js_peek(&s) != '[') {
                    c = js_error(&s, "entry %d: \"bbox\" must be [x, y, w, h]", index);
                } else if ((c = js_arr_begin(&s)) == 0) {
                    int f2 = 1, r3;
                    while ((r3 = js_arr_next(&s, &f2)) > 0) {
                        double v;
                        if ((c = js_number(&s, &v)) < 0) break;
                        if (e.n_bbox < 4) e.bbox[e.n_bbox] = v;
                        e.n_bbox++;
                    }
                    if (r3 < 0) c = -1;
                    if (!c && e.n_bbox != 0 && e.n_bbox != 4)
                        c = js_error(&s, "entry %d: \"bbox\" must have 4 numbers, got %d", index, e.n_bbox);
                }
            } else if (!strcmp(key, "segmentation")) {
                c = parse_segmentation(&s, &e);
            } else {
                c = js_skip(&s);
            }
            if (c < 0) {
                err_prefix("entry %d", index);
                rc = -1;
                goto done;
            }
        }
        if (r2 < 0) {
            err_prefix("entry %d", index);
            rc = -1;
            goto done;
        }
        if (!e.have_img || !e.have_cat || !e.have_score) {
            rc = err_set("%s: entry %d: a detection needs \"image_id\", \"category_id\" and \"score\"", src, index);
            goto done;
        }
        const img_tab *im = find_img(tab, gt->n_images, e.image_id);
        if (!im) {
            rc = err_set("%s: entry %d: image_id %lld is not an image of the ground truth (results must refer to "
                         "ground-truth images)", src, index, (long long)e.image_id);
            goto done;
        }
        if (box_mode < 0) box_mode = e.n_bbox == 4;
        if (dt->n == (int)cap) {
            dt->dets = xrealloc(dt->dets, cap * 2 * sizeof(coco_dt_ann));
            memset(dt->dets + cap, 0, cap * sizeof(coco_dt_ann));
            cap *= 2;
        }
        coco_dt_ann *d = &dt->dets[dt->n];
        d->image_id = e.image_id;
        d->category_id = e.category_id;
        d->score = e.score;
        /* the mask (only for segm evaluation, or to get the area/box in mask mode) */
        int want_mask = need_masks || !box_mode;
        if (want_mask) {
            int c = 0;
            if (e.seg_kind == 1) {
                c = rle_from_string(&d->mask, e.counts_str, (uint32_t)e.seg_h, (uint32_t)e.seg_w);
            } else if (e.seg_kind == 2) {
                d->mask = (rle){(uint32_t)e.seg_h, (uint32_t)e.seg_w, e.n_counts, e.counts};
                e.counts = NULL;
                c = rle_check(&d->mask);
            } else if (e.seg_kind == 3 && box_mode) {
                coco_seg sg = {.kind = COCO_SEG_POLY, .n_polys = e.n_polys, .poly_len = e.poly_len, .xy = e.xy};
                c = coco_seg_to_rle(&sg, im->h, im->w, &d->mask);
            } else if (e.seg_kind == 0 && box_mode && e.n_bbox == 4) {
                double x1 = e.bbox[0], x2 = e.bbox[0] + e.bbox[2], y1 = e.bbox[1], y2 = e.bbox[1] + e.bbox[3];
                double xy[8] = {x1, y1, x1, y2, x2, y2, x2, y1};
                c = rle_from_poly(&d->mask, xy, 4, (uint32_t)im->h, (uint32_t)im->w);
            } else {
                c = err_set("mask results need an RLE \"segmentation\" {\"size\", \"counts\"}");
            }
            if (c < 0) {
                err_prefix("%s: entry %d (image_id %lld)", src, index, (long long)e.image_id);
                rle_free(&d->mask);
                rc = -1;
                goto done;
            }
            if (d->mask.h != (uint32_t)im->h || d->mask.w != (uint32_t)im->w) {
                rc = err_set("%s: entry %d (image_id %lld): mask size %ux%u differs from the image's %dx%d", src, index,
                             (long long)e.image_id, d->mask.h, d->mask.w, im->h, im->w);
                rle_free(&d->mask);
                goto done;
            }
        }
        if (box_mode) {
            if (e.n_bbox != 4) {
                rle_free(&d->mask);
                rc = err_set("%s: entry %d: no \"bbox\" (the first entry has one, so all must)", src, index);
                goto done;
            }
            memcpy(d->bbox, e.bbox, sizeof d->bbox);
            d->area = e.bbox[2] * e.bbox[3];
        } else {
            d->area = (double)rle_area(&d->mask);
            if (e.n_bbox == 4)
                memcpy(d->bbox, e.bbox, sizeof d->bbox);
            else
                rle_to_bbox(&d->mask, d->bbox);
        }
        if (!need_masks) rle_free(&d->mask);
        dt->n++;
        index++;
    }
    if (r < 0) err_prefix("after entry %d", index - 1);
    if (r < 0 || js_finish(&s) < 0) rc = -1;
done:
    res_entry_clear(&e);
    free(tab);
    if (rc) coco_det_free(dt);
    return rc;
}

int coco_results_load(const char *path, const coco_gt *gt, int need_masks, coco_det *dt) {
    size_t n;
    char *buf = file_read_all(path, &n);
    if (!buf) return -1;
    int rc = coco_results_parse(buf, n, path, gt, need_masks, dt);
    free(buf);
    return rc;
}
