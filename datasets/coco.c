/* coco.c - COCO instances JSON reader (see coco.h): one streaming pass over the file with json_scan,
 * appending to flat pools, then the id lookups and the by-image index. */
#include "coco.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "json_scan.h"

typedef struct pool {
    void *p;
    size_t n, cap, elem;
} pool;

static size_t pool_push(pool *pl, const void *v, size_t count) {
    if (pl->n + count > pl->cap) {
        size_t c = pl->cap ? pl->cap : 1024;
        while (c < pl->n + count) c *= 2;
        pl->p = xrealloc(pl->p, c * pl->elem);
        pl->cap = c;
    }
    size_t at = pl->n;
    if (v) memcpy((char *)pl->p + at * pl->elem, v, count * pl->elem);
    pl->n += count;
    return at;
}

typedef struct cctx {
    jscan s;
    const coco_options *opts;
    coco_dataset *ds;
    pool strings, xy, lens, counts;
    pool anns, entries, images, cats;
    char bad[512]; /* the first problem of the current entry */
    int n_warned;
} cctx;

static void bad_entry(cctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bad_entry(cctx *c, const char *fmt, ...) {
    if (c->bad[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->bad, sizeof c->bad, fmt, ap);
    va_end(ap);
}

/* an entry failed: fail the load, or skip it with a warning. Returns -1 to fail, 0 to skip. */
static int entry_failed(cctx *c, const char *section, int index, int64_t id, int have_id) {
    char idbuf[48] = "";
    if (have_id) snprintf(idbuf, sizeof idbuf, " (id %lld)", (long long)id);
    if (!c->opts || !c->opts->skip_bad)
        return err_set("%s: %s[%d]%s: %s", c->s.src, section, index, idbuf, c->bad);
    if (c->n_warned++ < 10)
        fprintf(stderr, "deltabench: warning: %s: %s[%d]%s: %s (skipped)\n", c->s.src, section, index, idbuf,
                c->bad);
    c->ds->n_skipped++;
    return 0;
}

/* a number that must be an integer; type errors are entry errors (value skipped) */
static int get_int(cctx *c, const char *key, int64_t *v, int *ok) {
    int ch = js_peek(&c->s);
    if (ch != '-' && (ch < '0' || ch > '9')) {
        bad_entry(c, "\"%s\" must be an integer", key);
        *ok = 0;
        return js_skip(&c->s);
    }
    double d;
    if (js_number(&c->s, &d) < 0) return -1;
    if (d != floor(d) || fabs(d) > 9007199254740992.0) {
        bad_entry(c, "\"%s\" must be an integer, got %g", key, d);
        *ok = 0;
        return 0;
    }
    *v = (int64_t)d;
    *ok = 1;
    return 0;
}

static int get_num(cctx *c, const char *key, double *v, int *ok) {
    int ch = js_peek(&c->s);
    if (ch != '-' && (ch < '0' || ch > '9')) {
        bad_entry(c, "\"%s\" must be a number", key);
        *ok = 0;
        return js_skip(&c->s);
    }
    if (js_number(&c->s, v) < 0) return -1;
    if (!isfinite(*v)) {
        bad_entry(c, "\"%s\" is not finite", key);
        *ok = 0;
        return 0;
    }
    *ok = 1;
    return 0;
}

static int get_str(cctx *c, const char *key, size_t *off, int *ok) {
    if (js_peek(&c->s) != '"') {
        bad_entry(c, "\"%s\" must be a string", key);
        *ok = 0;
        return js_skip(&c->s);
    }
    char *t;
    size_t n;
    if (js_string(&c->s, &t, &n) < 0) return -1;
    *off = pool_push(&c->strings, t, n + 1);
    free(t);
    *ok = 1;
    return 0;
}

/* ---- images ---- */
static int parse_images(cctx *c) {
    if (js_peek(&c->s) != '[') return js_error(&c->s, "\"images\" must be a list");
    if (js_arr_begin(&c->s) < 0) return -1;
    int first = 1, r, index = 0;
    while ((r = js_arr_next(&c->s, &first)) > 0) {
        c->bad[0] = 0;
        coco_image im = {0};
        size_t fname = 0;
        int have_id = 0, have_f = 0, have_w = 0, have_h = 0;
        if (js_peek(&c->s) != '{') {
            bad_entry(c, "an image must be an object");
            if (js_skip(&c->s) < 0) return -1;
        } else {
            if (js_obj_begin(&c->s) < 0) return -1;
            int f2 = 1, r2;
            char key[32];
            while ((r2 = js_obj_key(&c->s, &f2, key, sizeof key)) > 0) {
                int ok = 0, rc;
                int64_t v = 0;
                if (!strcmp(key, "id")) {
                    rc = get_int(c, key, &im.id, &ok);
                    have_id = ok;
                } else if (!strcmp(key, "file_name")) {
                    rc = get_str(c, key, &fname, &ok);
                    have_f = ok;
                } else if (!strcmp(key, "width") || !strcmp(key, "height")) {
                    rc = get_int(c, key, &v, &ok);
                    if (ok && (v <= 0 || v > 1000000)) bad_entry(c, "\"%s\" must be in 1..1000000, got %lld", key, (long long)v), ok = 0;
                    if (ok && key[0] == 'w') im.width = (int)v, have_w = 1;
                    if (ok && key[0] == 'h') im.height = (int)v, have_h = 1;
                } else {
                    rc = js_skip(&c->s);
                }
                if (rc < 0) return -1;
            }
            if (r2 < 0) return -1;
            if (!have_id) bad_entry(c, "missing \"id\"");
            else if (!have_f) bad_entry(c, "missing \"file_name\"");
            else if (!have_w) bad_entry(c, "missing \"width\"");
            else if (!have_h) bad_entry(c, "missing \"height\"");
        }
        if (c->bad[0]) {
            if (entry_failed(c, "images", index, im.id, have_id) < 0) return -1;
        } else {
            im.file_name = (const char *)(uintptr_t)fname; /* offset until the pool is final */
            pool_push(&c->images, &im, 1);
        }
        index++;
    }
    return r;
}

/* ---- categories ---- */
static int parse_categories(cctx *c) {
    if (js_peek(&c->s) != '[') return js_error(&c->s, "\"categories\" must be a list");
    if (js_arr_begin(&c->s) < 0) return -1;
    int first = 1, r, index = 0;
    while ((r = js_arr_next(&c->s, &first)) > 0) {
        c->bad[0] = 0;
        coco_category cat = {0};
        size_t name = 0, super = (size_t)-1;
        int have_id = 0, have_name = 0;
        if (js_peek(&c->s) != '{') {
            bad_entry(c, "a category must be an object");
            if (js_skip(&c->s) < 0) return -1;
        } else {
            if (js_obj_begin(&c->s) < 0) return -1;
            int f2 = 1, r2;
            char key[32];
            while ((r2 = js_obj_key(&c->s, &f2, key, sizeof key)) > 0) {
                int ok = 0, rc;
                if (!strcmp(key, "id")) {
                    rc = get_int(c, key, &cat.id, &ok);
                    have_id = ok;
                } else if (!strcmp(key, "name")) {
                    rc = get_str(c, key, &name, &ok);
                    have_name = ok;
                } else if (!strcmp(key, "supercategory")) {
                    rc = get_str(c, key, &super, &ok);
                    if (!ok) super = (size_t)-1;
                } else {
                    rc = js_skip(&c->s);
                }
                if (rc < 0) return -1;
            }
            if (r2 < 0) return -1;
            if (!have_id) bad_entry(c, "missing \"id\"");
            else if (!have_name) bad_entry(c, "missing \"name\"");
        }
        /* a bad category cannot be skipped: labels would shift */
        if (c->bad[0]) return err_set("%s: categories[%d]: %s", c->s.src, index, c->bad);
        cat.name = (const char *)(uintptr_t)name;
        cat.supercategory = (const char *)(uintptr_t)super;
        pool_push(&c->cats, &cat, 1);
        index++;
    }
    return r;
}

/* ---- segmentation ---- */
static int parse_polygons(cctx *c, coco_seg *sg) {
    sg->kind = COCO_SEG_POLY;
    sg->off_a = c->lens.n;
    sg->off_b = c->xy.n;
    if (js_arr_begin(&c->s) < 0) return -1;
    int first = 1, r;
    while ((r = js_arr_next(&c->s, &first)) > 0) {
        if (js_peek(&c->s) != '[') {
            bad_entry(c, "segmentation polygon %d must be a list of numbers", sg->n_polys);
            if (js_skip(&c->s) < 0) return -1;
            continue;
        }
        if (js_arr_begin(&c->s) < 0) return -1;
        int f2 = 1, r2, n = 0;
        while ((r2 = js_arr_next(&c->s, &f2)) > 0) {
            double v;
            int ok;
            if (get_num(c, "segmentation", &v, &ok) < 0) return -1;
            if (ok) {
                pool_push(&c->xy, &v, 1);
                n++;
            }
        }
        if (r2 < 0) return -1;
        if (n < 6 || n % 2)
            bad_entry(c, "segmentation polygon %d has %d coordinates (a polygon needs an even number, at least 6)",
                      sg->n_polys, n);
        pool_push(&c->lens, &n, 1);
        sg->n_polys++;
    }
    return r;
}

static int parse_rle(cctx *c, coco_seg *sg) {
    if (js_obj_begin(&c->s) < 0) return -1;
    int f = 1, r, have_size = 0, have_counts = 0;
    char key[32];
    uint64_t sum = 0;
    while ((r = js_obj_key(&c->s, &f, key, sizeof key)) > 0) {
        if (!strcmp(key, "size")) {
            int64_t hw[2] = {0, 0};
            int n = 0;
            if (js_peek(&c->s) != '[') {
                bad_entry(c, "segmentation \"size\" must be [height, width]");
                if (js_skip(&c->s) < 0) return -1;
                continue;
            }
            if (js_arr_begin(&c->s) < 0) return -1;
            int f2 = 1, r2;
            while ((r2 = js_arr_next(&c->s, &f2)) > 0) {
                int64_t v = 0;
                int ok;
                if (get_int(c, "segmentation size", &v, &ok) < 0) return -1;
                if (n < 2) hw[n] = v;
                n++;
            }
            if (r2 < 0) return -1;
            if (n != 2 || hw[0] <= 0 || hw[1] <= 0 || hw[0] > 1000000 || hw[1] > 1000000)
                bad_entry(c, "segmentation \"size\" must be [height, width] with positive values");
            sg->h = (int)hw[0];
            sg->w = (int)hw[1];
            have_size = 1;
        } else if (!strcmp(key, "counts")) {
            int ch = js_peek(&c->s);
            if (ch == '"') {
                char *t;
                size_t n;
                if (js_string(&c->s, &t, &n) < 0) return -1;
                for (size_t i = 0; i < n; i++)
                    if (t[i] < 48 || t[i] > 111) {
                        bad_entry(c, "compressed RLE counts has a character outside '0'..'o' at %zu", i);
                        break;
                    }
                sg->kind = COCO_SEG_RLE_STR;
                sg->off_a = pool_push(&c->strings, t, n + 1);
                free(t);
            } else if (ch == '[') {
                sg->kind = COCO_SEG_RLE;
                sg->off_a = c->counts.n;
                if (js_arr_begin(&c->s) < 0) return -1;
                int f2 = 1, r2;
                while ((r2 = js_arr_next(&c->s, &f2)) > 0) {
                    int64_t v = 0;
                    int ok;
                    if (get_int(c, "segmentation counts", &v, &ok) < 0) return -1;
                    if (ok && (v < 0 || v > 0xFFFFFFFFll)) bad_entry(c, "RLE count %lld out of range", (long long)v);
                    uint32_t u = (uint32_t)v;
                    pool_push(&c->counts, &u, 1);
                    sum += (uint64_t)u;
                    sg->n_counts++;
                }
                if (r2 < 0) return -1;
            } else {
                bad_entry(c, "segmentation \"counts\" must be a list or a string");
                if (js_skip(&c->s) < 0) return -1;
            }
            have_counts = 1;
        } else if (js_skip(&c->s) < 0) {
            return -1;
        }
    }
    if (r < 0) return -1;
    if (!have_size || !have_counts) bad_entry(c, "an RLE segmentation needs \"size\" and \"counts\"");
    else if (sg->kind == COCO_SEG_RLE && sum != (uint64_t)sg->h * (uint64_t)sg->w)
        bad_entry(c, "RLE counts sum to %llu but size is %dx%d", (unsigned long long)sum, sg->h, sg->w);
    return 0;
}

/* ---- annotations ---- */
static int parse_annotations(cctx *c) {
    if (js_peek(&c->s) != '[') return js_error(&c->s, "\"annotations\" must be a list");
    if (js_arr_begin(&c->s) < 0) return -1;
    int first = 1, r, index = 0;
    while ((r = js_arr_next(&c->s, &first)) > 0) {
        c->bad[0] = 0;
        coco_ann a;
        memset(&a, 0, sizeof a);
        int have_id = 0, have_img = 0, have_cat = 0, have_bbox = 0;
        size_t xy0 = c->xy.n, len0 = c->lens.n, cnt0 = c->counts.n, str0 = c->strings.n;
        if (js_peek(&c->s) != '{') {
            bad_entry(c, "an annotation must be an object");
            if (js_skip(&c->s) < 0) return -1;
        } else {
            if (js_obj_begin(&c->s) < 0) return -1;
            int f2 = 1, r2;
            char key[32];
            while ((r2 = js_obj_key(&c->s, &f2, key, sizeof key)) > 0) {
                int ok = 0, rc = 0;
                int64_t v = 0;
                if (!strcmp(key, "id")) {
                    rc = get_int(c, key, &a.id, &ok);
                    have_id = ok;
                } else if (!strcmp(key, "image_id")) {
                    rc = get_int(c, key, &a.image_id, &ok);
                    have_img = ok;
                } else if (!strcmp(key, "category_id")) {
                    rc = get_int(c, key, &a.category_id, &ok);
                    have_cat = ok;
                } else if (!strcmp(key, "area")) {
                    rc = get_num(c, key, &a.area, &ok);
                    a.has_area = ok;
                } else if (!strcmp(key, "iscrowd") || !strcmp(key, "ignore")) {
                    int ch = js_peek(&c->s), b = 0;
                    if (ch == 't' || ch == 'f') {
                        rc = js_bool(&c->s, &b);
                        v = b;
                    } else {
                        rc = get_int(c, key, &v, &ok);
                        if (ok && v != 0 && v != 1) bad_entry(c, "\"%s\" must be 0 or 1, got %lld", key, (long long)v);
                    }
                    if (key[1] == 's') a.iscrowd = (int)(v != 0);
                    else a.ignore = (int)(v != 0);
                } else if (!strcmp(key, "bbox")) {
                    if (js_peek(&c->s) != '[') {
                        bad_entry(c, "\"bbox\" must be a list of 4 numbers");
                        rc = js_skip(&c->s);
                    } else {
                        if (js_arr_begin(&c->s) < 0) return -1;
                        int f3 = 1, r3, n = 0;
                        while ((r3 = js_arr_next(&c->s, &f3)) > 0) {
                            double d = 0;
                            if (get_num(c, "bbox", &d, &ok) < 0) return -1;
                            if (n < 4) a.bbox[n] = d;
                            n++;
                        }
                        if (r3 < 0) return -1;
                        if (n != 4) bad_entry(c, "\"bbox\" has %d numbers, expected 4 (x, y, w, h)", n);
                        else if (a.bbox[2] < 0 || a.bbox[3] < 0)
                            bad_entry(c, "\"bbox\" has a negative width or height (%g, %g)", a.bbox[2], a.bbox[3]);
                        have_bbox = 1;
                    }
                } else if (!strcmp(key, "segmentation")) {
                    if (a.seg.kind != COCO_SEG_NONE) {
                        bad_entry(c, "\"segmentation\" given twice");
                        rc = js_skip(&c->s);
                    } else {
                        int ch = js_peek(&c->s);
                        if (ch == '[') rc = parse_polygons(c, &a.seg);
                        else if (ch == '{') rc = parse_rle(c, &a.seg);
                        else {
                            bad_entry(c, "\"segmentation\" must be a list of polygons or an RLE object");
                            rc = js_skip(&c->s);
                        }
                    }
                } else {
                    rc = js_skip(&c->s);
                }
                if (rc < 0) return -1;
            }
            if (r2 < 0) return -1;
            if (!have_id) bad_entry(c, "missing \"id\"");
            else if (!have_img) bad_entry(c, "missing \"image_id\"");
            else if (!have_cat) bad_entry(c, "missing \"category_id\"");
            else if (!have_bbox) bad_entry(c, "missing \"bbox\"");
        }
        if (c->bad[0]) {
            if (entry_failed(c, "annotations", index, a.id, have_id) < 0) return -1;
            /* drop what the entry appended */
            c->xy.n = xy0, c->lens.n = len0, c->counts.n = cnt0, c->strings.n = str0;
        } else {
            if (!a.has_area) a.area = a.bbox[2] * a.bbox[3];
            pool_push(&c->anns, &a, 1);
            pool_push(&c->entries, &index, 1);
        }
        index++;
    }
    return r;
}

/* ---- lookups ---- */
typedef struct idpair {
    int64_t id;
    int idx;
} idpair;
static int idpair_cmp(const void *a, const void *b) {
    const idpair *x = a, *y = b;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return x->idx - y->idx;
}
static int bsearch_id(const int64_t *ids, int n, int64_t id) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (ids[mid] == id) return mid;
        if (ids[mid] < id) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

int coco_find_image(const coco_dataset *ds, int64_t image_id) {
    int k = bsearch_id(ds->img_sorted_ids, ds->n_images, image_id);
    return k < 0 ? -1 : ds->img_sorted_idx[k];
}

int coco_find_label(const coco_dataset *ds, int64_t category_id) {
    /* categories are few: a linear scan is fine */
    for (int i = 0; i < ds->n_categories; i++)
        if (ds->categories[i].id == category_id) return i;
    return -1;
}

void coco_free(coco_dataset *ds) {
    if (!ds) return;
    free(ds->images);
    free(ds->categories);
    free(ds->anns);
    free(ds->ann_index);
    free(ds->strings);
    free(ds->xy_pool);
    free(ds->len_pool);
    free(ds->counts_pool);
    free(ds->img_sorted_ids);
    free(ds->img_sorted_idx);
    memset(ds, 0, sizeof *ds);
}

static int finalize(cctx *c) {
    coco_dataset *ds = c->ds;
    if (!c->strings.p) pool_push(&c->strings, "", 1);
    ds->strings = c->strings.p;
    ds->xy_pool = c->xy.p;
    ds->len_pool = c->lens.p;
    ds->counts_pool = c->counts.p;
    ds->images = c->images.p;
    ds->n_images = (int)c->images.n;
    ds->categories = c->cats.p;
    ds->n_categories = (int)c->cats.n;
    ds->anns = c->anns.p;
    ds->n_anns = (int)c->anns.n;
    int *entries = c->entries.p;
    memset(&c->strings, 0, sizeof c->strings);
    memset(&c->xy, 0, sizeof c->xy);
    memset(&c->lens, 0, sizeof c->lens);
    memset(&c->counts, 0, sizeof c->counts);
    memset(&c->images, 0, sizeof c->images);
    memset(&c->cats, 0, sizeof c->cats);
    memset(&c->anns, 0, sizeof c->anns);
    memset(&c->entries, 0, sizeof c->entries);
    int rc = 0;

    for (int i = 0; i < ds->n_images; i++) ds->images[i].file_name = ds->strings + (uintptr_t)ds->images[i].file_name;
    for (int i = 0; i < ds->n_categories; i++) {
        coco_category *k = &ds->categories[i];
        k->name = ds->strings + (uintptr_t)k->name;
        k->supercategory = (uintptr_t)k->supercategory == (uintptr_t)(size_t)-1 ? "" : ds->strings + (uintptr_t)k->supercategory;
        for (int j = 0; j < i; j++)
            if (ds->categories[j].id == k->id) {
                rc = err_set("%s: categories[%d]: duplicate category id %lld (also categories[%d])", c->s.src, i,
                             (long long)k->id, j);
                goto out;
            }
    }
    /* image ids: sorted copy for lookups, duplicates are an error */
    idpair *ip = xmalloc(((size_t)ds->n_images + 1) * sizeof *ip);
    for (int i = 0; i < ds->n_images; i++) ip[i] = (idpair){ds->images[i].id, i};
    qsort(ip, (size_t)ds->n_images, sizeof *ip, idpair_cmp);
    ds->img_sorted_ids = xmalloc(((size_t)ds->n_images + 1) * sizeof(int64_t));
    ds->img_sorted_idx = xmalloc(((size_t)ds->n_images + 1) * sizeof(int));
    for (int i = 0; i < ds->n_images; i++) {
        if (i > 0 && ip[i].id == ip[i - 1].id) {
            rc = err_set("%s: images[%d]: duplicate image id %lld (also images[%d])", c->s.src, ip[i].idx,
                         (long long)ip[i].id, ip[i - 1].idx);
            free(ip);
            goto out;
        }
        ds->img_sorted_ids[i] = ip[i].id;
        ds->img_sorted_idx[i] = ip[i].idx;
    }
    free(ip);
    /* annotations: resolve image and category, fix the segmentation pointers, drop bad ones (skip_bad) */
    int kept = 0;
    for (int i = 0; i < ds->n_anns; i++) {
        coco_ann *a = &ds->anns[i];
        c->bad[0] = 0;
        a->image = coco_find_image(ds, a->image_id);
        a->label = coco_find_label(ds, a->category_id);
        if (a->image < 0) bad_entry(c, "image_id %lld is not in \"images\"", (long long)a->image_id);
        else if (a->label < 0) bad_entry(c, "category_id %lld is not in \"categories\"", (long long)a->category_id);
        if (c->bad[0]) {
            if (entry_failed(c, "annotations", entries[i], a->id, 1) < 0) {
                rc = -1;
                goto out;
            }
            continue;
        }
        coco_seg *sg = &a->seg;
        if (sg->kind == COCO_SEG_POLY) {
            sg->poly_len = ds->len_pool + sg->off_a;
            sg->xy = ds->xy_pool + sg->off_b;
        } else if (sg->kind == COCO_SEG_RLE) {
            sg->counts = ds->counts_pool + sg->off_a;
        } else if (sg->kind == COCO_SEG_RLE_STR) {
            sg->rle = ds->strings + sg->off_a;
        }
        ds->anns[kept] = *a;
        entries[kept] = entries[i];
        kept++;
    }
    ds->n_anns = kept;
    /* duplicate annotation ids */
    {
        idpair *ap = xmalloc(((size_t)kept + 1) * sizeof *ap);
        for (int i = 0; i < kept; i++) ap[i] = (idpair){ds->anns[i].id, i};
        qsort(ap, (size_t)kept, sizeof *ap, idpair_cmp);
        for (int i = 1; i < kept; i++)
            if (ap[i].id == ap[i - 1].id) {
                rc = err_set("%s: annotations[%d]: duplicate annotation id %lld (also annotations[%d])", c->s.src,
                             entries[ap[i].idx], (long long)ap[i].id, entries[ap[i - 1].idx]);
                free(ap);
                goto out;
            }
        free(ap);
    }
    /* by-image index: counting sort, stable (file order within an image) */
    for (int i = 0; i < ds->n_images; i++) ds->images[i].n_anns = 0;
    for (int i = 0; i < kept; i++) ds->images[ds->anns[i].image].n_anns++;
    int acc = 0;
    for (int i = 0; i < ds->n_images; i++) {
        ds->images[i].ann_first = acc;
        acc += ds->images[i].n_anns;
        ds->images[i].n_anns = 0;
    }
    ds->ann_index = xmalloc(((size_t)kept + 1) * sizeof(int));
    for (int i = 0; i < kept; i++) {
        coco_image *im = &ds->images[ds->anns[i].image];
        ds->ann_index[im->ann_first + im->n_anns++] = i;
    }
out:
    free(entries);
    return rc;
}

int coco_parse(const char *buf, size_t n, const char *name, const coco_options *opts, coco_dataset *ds) {
    memset(ds, 0, sizeof *ds);
    cctx *c = xcalloc(1, sizeof *c);
    js_init(&c->s, buf, n, name);
    c->opts = opts;
    c->ds = ds;
    c->strings.elem = 1;
    c->xy.elem = sizeof(double);
    c->lens.elem = sizeof(int);
    c->counts.elem = sizeof(uint32_t);
    c->anns.elem = sizeof(coco_ann);
    c->entries.elem = sizeof(int);
    c->images.elem = sizeof(coco_image);
    c->cats.elem = sizeof(coco_category);
    int rc = 0, have_images = 0, have_cats = 0;
    if (js_peek(&c->s) != '{') {
        rc = js_error(&c->s, "the top level must be an object with \"images\", \"annotations\", \"categories\"");
        goto fail;
    }
    if (js_obj_begin(&c->s) < 0) goto fail;
    int first = 1, r;
    char key[32];
    while ((r = js_obj_key(&c->s, &first, key, sizeof key)) > 0) {
        int rr;
        if (!strcmp(key, "images")) {
            if (have_images) {
                rc = js_error(&c->s, "\"images\" given twice");
                goto fail;
            }
            rr = parse_images(c), have_images = 1;
        } else if (!strcmp(key, "annotations")) {
            if (c->anns.n || c->entries.n) {
                rc = js_error(&c->s, "\"annotations\" given twice");
                goto fail;
            }
            rr = parse_annotations(c);
        } else if (!strcmp(key, "categories")) {
            if (have_cats) {
                rc = js_error(&c->s, "\"categories\" given twice");
                goto fail;
            }
            rr = parse_categories(c), have_cats = 1;
        } else {
            rr = js_skip(&c->s);
        }
        if (rr < 0) goto fail;
    }
    if (r < 0 || js_finish(&c->s) < 0) goto fail;
    if (!have_images) {
        rc = err_set("%s: no \"images\" list: not a COCO annotation file", c->s.src);
        goto fail;
    }
    if (!have_cats) {
        rc = err_set("%s: no \"categories\" list: not a COCO annotation file", c->s.src);
        goto fail;
    }
    if (finalize(c) < 0) {
        coco_free(ds);
        free(c);
        return -1;
    }
    free(c);
    return 0;
fail:
    (void)rc;
    free(c->strings.p);
    free(c->xy.p);
    free(c->lens.p);
    free(c->counts.p);
    free(c->anns.p);
    free(c->entries.p);
    free(c->images.p);
    free(c->cats.p);
    free(c);
    memset(ds, 0, sizeof *ds);
    return -1;
}

int coco_load(const char *path, const coco_options *opts, coco_dataset *ds) {
    memset(ds, 0, sizeof *ds);
    size_t n = 0;
    char *buf = file_read_all(path, &n);
    if (!buf) return -1;
    int rc = coco_parse(buf, n, path, opts, ds);
    free(buf);
    return rc;
}

int coco_filter_images(const coco_dataset *ds, int filter_empty_gt, int min_size, int *keep) {
    int k = 0;
    for (int i = 0; i < ds->n_images; i++) {
        const coco_image *im = &ds->images[i];
        if (filter_empty_gt && im->n_anns == 0) continue;
        if ((im->width < im->height ? im->width : im->height) < min_size) continue;
        keep[k++] = i;
    }
    return k;
}

int coco_image_targets(const coco_dataset *ds, int image, float *boxes, int *labels, int *ann_idx, int *n_gt) {
    if (image < 0 || image >= ds->n_images) return err_set("coco_image_targets: image index %d out of range", image);
    const coco_image *im = &ds->images[image];
    int ng = 0, ni = 0;
    /* two passes: gt first, then ignored (crowd) */
    for (int pass = 0; pass < 2; pass++) {
        for (int j = 0; j < im->n_anns; j++) {
            int ai = ds->ann_index[im->ann_first + j];
            const coco_ann *a = &ds->anns[ai];
            if (a->ignore) continue;
            double x1 = a->bbox[0], y1 = a->bbox[1], w = a->bbox[2], h = a->bbox[3];
            double iw = fmax(0, fmin(x1 + w, im->width) - fmax(x1, 0));
            double ih = fmax(0, fmin(y1 + h, im->height) - fmax(y1, 0));
            if (iw * ih == 0) continue;
            if (a->area <= 0 || w < 1 || h < 1) continue;
            if (a->iscrowd != pass) continue;
            int o = ng + ni;
            boxes[4 * o + 0] = (float)x1;
            boxes[4 * o + 1] = (float)y1;
            boxes[4 * o + 2] = (float)(x1 + w);
            boxes[4 * o + 3] = (float)(y1 + h);
            labels[o] = a->label;
            if (ann_idx) ann_idx[o] = ai;
            if (pass == 0) ng++;
            else ni++;
        }
    }
    *n_gt = ng;
    return ng + ni;
}
