/* synth_dense.c - synthetic COCO / VOC / ADE20K / DOTA datasets (see synth_dense.h): a small polygon
 * painter with textures and an instance map, and one writer per format. */
#include "synth_dense.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "cls_synth.h"
#include "dota.h"
#include "image.h"
#include "voc_det.h"

const char *const synth_coco_classes[SYNTH_COCO_N_CLASSES] = {"rectangle", "ellipse", "triangle",
                                                              "diamond",   "pentagon", "star"};

/* ---- painter ---- */

typedef struct texture {
    int kind;            /* 0 solid, 1 stripes, 2 checker, 3 gradient, 4 noise */
    uint8_t c1[3], c2[3];
    float period, angle;
    uint32_t salt;
} texture;

static uint32_t hash3(uint32_t x, uint32_t y, uint32_t s) {
    uint32_t h = x * 0x9E3779B1u ^ (y + 0x7F4A7C15u) * 0x85EBCA77u ^ s * 0xC2B2AE3Du;
    h ^= h >> 15;
    h *= 0x2C1B3C6Du;
    h ^= h >> 12;
    return h;
}

static void texel(const texture *t, int x, int y, uint8_t *px) {
    float f = 0;
    switch (t->kind) {
    case 1: f = fmodf(fabsf(x * cosf(t->angle) + y * sinf(t->angle)) / t->period, 2.f) < 1.f; break;
    case 2: f = (((int)(x / t->period) + (int)(y / t->period)) & 1); break;
    case 3: f = (float)((x + y) % (int)(4 * t->period + 1)) / (4 * t->period + 1); break;
    case 4: f = (float)(hash3((uint32_t)x, (uint32_t)y, t->salt) & 255) / 255.f * 0.5f; break;
    default: f = 0;
    }
    for (int c = 0; c < 3; c++) px[c] = (uint8_t)lrintf(t->c1[c] * (1 - f) + t->c2[c] * f);
}

static void random_texture(rng_t *r, texture *t, const uint8_t *base) {
    t->kind = (int)rng_below(r, 5);
    for (int c = 0; c < 3; c++) {
        t->c1[c] = base ? base[c] : (uint8_t)rng_below(r, 256);
        t->c2[c] = (uint8_t)rng_below(r, 256);
    }
    t->period = 2 + 10 * rng_uniform(r);
    t->angle = (float)(M_PI * rng_uniform(r));
    t->salt = (uint32_t)rng_u64(r);
}

/* Fill a polygon (even-odd, pixel centres) into img with a texture and into inst (if not NULL) with id;
 * returns the number of pixels painted. */
static long paint_polygon(image *img, int *inst, int id, const double *xy, int n, const texture *t) {
    double y0 = 1e30, y1 = -1e30;
    for (int i = 0; i < n; i++) y0 = fmin(y0, xy[2 * i + 1]), y1 = fmax(y1, xy[2 * i + 1]);
    int ya = (int)fmax(0, floor(y0)), yb = (int)fmin(img->h - 1, ceil(y1));
    double xs[64];
    long painted = 0;
    for (int y = ya; y <= yb; y++) {
        double yc = y + 0.5;
        int k = 0;
        for (int i = 0; i < n && k < 64; i++) {
            double ax = xy[2 * i], ay = xy[2 * i + 1], bx = xy[2 * ((i + 1) % n)], by = xy[2 * ((i + 1) % n) + 1];
            if ((ay <= yc && by > yc) || (by <= yc && ay > yc)) xs[k++] = ax + (yc - ay) / (by - ay) * (bx - ax);
        }
        for (int i = 1; i < k; i++) /* insertion sort */
            for (int j = i; j > 0 && xs[j - 1] > xs[j]; j--) {
                double tmp = xs[j]; xs[j] = xs[j - 1]; xs[j - 1] = tmp;
            }
        for (int i = 0; i + 1 < k; i += 2) {
            int xa = (int)ceil(xs[i] - 0.5), xb = (int)ceil(xs[i + 1] - 0.5) - 1;
            if (xa < 0) xa = 0;
            if (xb > img->w - 1) xb = img->w - 1;
            for (int x = xa; x <= xb; x++) {
                texel(t, x, y, image_px(img, x, y));
                if (inst) inst[(size_t)y * img->w + x] = id;
                painted++;
            }
        }
    }
    return painted;
}

/* shape polygons: kind 0 rectangle, 1 ellipse, 2 triangle, 3 diamond, 4 pentagon, 5 star; returns points */
static int shape_polygon(int kind, double cx, double cy, double r, double aspect, double rot, double *xy) {
    int n = 0;
    double pts[48][2];
    switch (kind) {
    case 0: {
        double hw = r, hh = r * aspect;
        double q[4][2] = {{-hw, -hh}, {hw, -hh}, {hw, hh}, {-hw, hh}};
        for (int i = 0; i < 4; i++) pts[n][0] = q[i][0], pts[n][1] = q[i][1], n++;
        break;
    }
    case 1:
        for (int i = 0; i < 24; i++) pts[n][0] = r * cos(2 * M_PI * i / 24), pts[n][1] = r * aspect * sin(2 * M_PI * i / 24), n++;
        break;
    case 2:
        for (int i = 0; i < 3; i++) pts[n][0] = r * cos(2 * M_PI * i / 3 - M_PI / 2), pts[n][1] = r * sin(2 * M_PI * i / 3 - M_PI / 2), n++;
        break;
    case 3: {
        double q[4][2] = {{0, -r * aspect}, {r, 0}, {0, r * aspect}, {-r, 0}};
        for (int i = 0; i < 4; i++) pts[n][0] = q[i][0], pts[n][1] = q[i][1], n++;
        break;
    }
    case 4:
        for (int i = 0; i < 5; i++) pts[n][0] = r * cos(2 * M_PI * i / 5 - M_PI / 2), pts[n][1] = r * sin(2 * M_PI * i / 5 - M_PI / 2), n++;
        break;
    default:
        for (int i = 0; i < 10; i++) {
            double rr = i % 2 ? r * 0.45 : r;
            pts[n][0] = rr * cos(2 * M_PI * i / 10 - M_PI / 2), pts[n][1] = rr * sin(2 * M_PI * i / 10 - M_PI / 2), n++;
        }
    }
    double c = cos(rot), s = sin(rot);
    for (int i = 0; i < n; i++) {
        xy[2 * i] = cx + c * pts[i][0] - s * pts[i][1];
        xy[2 * i + 1] = cy + s * pts[i][0] + c * pts[i][1];
    }
    return n;
}

static void paint_background(image *img, rng_t *r) {
    texture t;
    random_texture(r, &t, NULL);
    for (int c = 0; c < 3; c++) t.c1[c] = (uint8_t)(t.c1[c] / 2 + 64), t.c2[c] = (uint8_t)(t.c2[c] / 2 + 64);
    for (int y = 0; y < img->h; y++)
        for (int x = 0; x < img->w; x++) texel(&t, x, y, image_px(img, x, y));
}

static int rand_between(rng_t *r, int lo, int hi) { return hi <= lo ? lo : lo + (int)rng_below(r, (uint32_t)(hi - lo + 1)); }

static int join(char *out, size_t n, const char *a, const char *b) {
    int k = snprintf(out, n, "%s/%s", a, b);
    if (k < 0 || (size_t)k >= n) return err_set("%s/%s: path too long", a, b);
    return 0;
}

/* ---- RLE helpers ---- */

uint32_t *mask_to_rle(const uint8_t *mask, int h, int w, int *n) {
    size_t total = (size_t)h * w;
    uint32_t *runs = xmalloc((total + 2) * sizeof *runs);
    int k = 0;
    uint8_t cur = 0;
    uint32_t len = 0;
    for (int x = 0; x < w; x++)
        for (int y = 0; y < h; y++) {
            uint8_t v = mask[(size_t)y * w + x] ? 1 : 0;
            if (v != cur) {
                runs[k++] = len;
                len = 0;
                cur = v;
            }
            len++;
        }
    runs[k++] = len;
    *n = k;
    return runs;
}

char *coco_rle_to_string(const uint32_t *cnts, int m) {
    char *s = xmalloc((size_t)m * 7 + 1);
    size_t p = 0;
    for (int i = 0; i < m; i++) {
        long x = (long)cnts[i];
        if (i > 2) x -= (long)cnts[i - 2];
        int more = 1;
        while (more) {
            long c = x & 0x1f;
            x >>= 5;
            more = (c & 0x10) ? x != -1 : x != 0;
            if (more) c |= 0x20;
            s[p++] = (char)(c + 48);
        }
    }
    s[p] = 0;
    return s;
}

/* ---- COCO ---- */

typedef struct objinfo {
    int label, id;
    long full;
    double poly[96];
    int npts;
    int crowd_group; /* -1 or the crowd annotation index */
} objinfo;

/* hue c / n of the circle, saturated: one base colour per class */
static void class_colour(int c, int n, uint8_t *rgb) {
    double hue = 6.0 * c / n;
    int i = (int)hue;
    double f = hue - i;
    double v = 230, p = 40, q = v - (v - p) * f, t = p + (v - p) * f;
    double rr[6] = {v, q, p, p, t, v}, gg[6] = {t, v, v, q, p, p}, bb[6] = {p, p, t, v, v, q};
    rgb[0] = (uint8_t)rr[i % 6], rgb[1] = (uint8_t)gg[i % 6], rgb[2] = (uint8_t)bb[i % 6];
}

int synth_coco_write(const char *root, const synth_coco_cfg *cfg_in, synth_summary *sum) {
    synth_coco_cfg cfg = *cfg_in;
    if (!cfg.split) cfg.split = "train2017";
    if (cfg.min_side <= 0) cfg.min_side = 160;
    if (cfg.max_side < cfg.min_side) cfg.max_side = cfg.min_side < 320 ? 320 : cfg.min_side;
    if (cfg.max_objects <= 0) cfg.max_objects = 8;
    if (cfg.crowd_prob < 0) cfg.crowd_prob = 0;
    memset(sum, 0, sizeof *sum);
    char imgdir[4096], anndir[4096], path[8192];
    if (join(imgdir, sizeof imgdir, root, cfg.split) < 0 || join(anndir, sizeof anndir, root, "annotations") < 0) return -1;
    if (mkdir_p(imgdir) < 0 || mkdir_p(anndir) < 0) return -1;
    rng_t r;
    rng_seed(&r, cfg.seed);
    cJSON *j = cJSON_CreateObject();
    cJSON *info = cJSON_AddObjectToObject(j, "info");
    cJSON_AddStringToObject(info, "description", "deltabench synthetic COCO-format shapes");
    cJSON_AddNumberToObject(info, "seed", (double)cfg.seed);
    cJSON *images = cJSON_AddArrayToObject(j, "images");
    cJSON *anns = cJSON_AddArrayToObject(j, "annotations");
    cJSON *cats = cJSON_AddArrayToObject(j, "categories");
    for (int c = 0; c < SYNTH_COCO_N_CLASSES; c++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "supercategory", "shape");
        cJSON_AddNumberToObject(o, "id", c + 1);
        cJSON_AddStringToObject(o, "name", synth_coco_classes[c]);
        cJSON_AddItemToArray(cats, o);
    }
    int rc = 0, ann_id = 1;
    for (int im_i = 0; im_i < cfg.n_images && rc == 0; im_i++) {
        int w = rand_between(&r, cfg.min_side, cfg.max_side), h = rand_between(&r, cfg.min_side, cfg.max_side);
        image img;
        image_alloc(&img, w, h, 3);
        int *inst = xmalloc((size_t)w * h * sizeof(int));
        for (size_t k = 0; k < (size_t)w * h; k++) inst[k] = -1;
        paint_background(&img, &r);
        int n_obj = rand_between(&r, 1, cfg.max_objects);
        int crowd = rng_uniform(&r) < cfg.crowd_prob;
        int n_total = n_obj + (crowd ? 8 : 0);
        objinfo *objs = xcalloc((size_t)n_total, sizeof *objs);
        int crowd_label = (int)rng_below(&r, SYNTH_COCO_N_CLASSES);
        double mn = fmin(w, h), ccx = 0, ccy = 0;
        for (int o = 0; o < n_total; o++) {
            objinfo *ob = &objs[o];
            int in_crowd = o >= n_obj;
            ob->label = in_crowd ? crowd_label : (int)rng_below(&r, SYNTH_COCO_N_CLASSES);
            ob->crowd_group = in_crowd ? 0 : -1;
            double r0 = cfg.min_radius > 0 && cfg.min_radius < 0.4 * mn ? cfg.min_radius : 3.0;
            double rad = in_crowd ? 3 + 4 * rng_uniform(&r) : exp(log(r0) + rng_uniform(&r) * (log(0.4 * mn) - log(r0)));
            double cx, cy;
            if (in_crowd) { /* clustered around one point */
                if (o == n_obj) ccx = mn * 0.2 + rng_uniform(&r) * (w - 0.4 * mn), ccy = mn * 0.2 + rng_uniform(&r) * (h - 0.4 * mn);
                cx = ccx + (rng_uniform(&r) - 0.5) * mn * 0.25;
                cy = ccy + (rng_uniform(&r) - 0.5) * mn * 0.25;
            } else {
                cx = rng_uniform(&r) * w;
                cy = rng_uniform(&r) * h;
            }
            double aspect = 0.5 + rng_uniform(&r), rot = rng_uniform(&r) * M_PI;
            ob->npts = shape_polygon(ob->label, cx, cy, rad, aspect, rot, ob->poly);
            texture t;
            uint8_t col[3];
            if (cfg.class_hue) class_colour(ob->label, SYNTH_COCO_N_CLASSES, col);
            random_texture(&r, &t, cfg.class_hue ? col : NULL);
            ob->full = paint_polygon(&img, inst, o, ob->poly, ob->npts, &t);
        }
        /* visible masks */
        long *vis = xcalloc((size_t)n_total, sizeof(long));
        for (size_t k = 0; k < (size_t)w * h; k++)
            if (inst[k] >= 0) vis[inst[k]]++;
        uint8_t *mask = xmalloc((size_t)w * h);
        for (int o = 0; o <= n_obj && o < n_total; o++) {
            int is_crowd = o == n_obj;
            if (is_crowd && !crowd) break;
            long area = 0;
            int x0 = w, y0 = h, x1 = -1, y1 = -1;
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    int id = inst[(size_t)y * w + x];
                    int on = is_crowd ? id >= n_obj : id == o;
                    mask[(size_t)y * w + x] = (uint8_t)on;
                    if (on) {
                        area++;
                        if (x < x0) x0 = x;
                        if (x > x1) x1 = x;
                        if (y < y0) y0 = y;
                        if (y > y1) y1 = y;
                    }
                }
            if (area == 0) continue; /* fully hidden (or outside): not annotated */
            cJSON *a = cJSON_CreateObject();
            cJSON_AddNumberToObject(a, "id", ann_id++);
            cJSON_AddNumberToObject(a, "image_id", im_i + 1);
            cJSON_AddNumberToObject(a, "category_id", (is_crowd ? crowd_label : objs[o].label) + 1);
            double bb[4] = {x0, y0, x1 - x0 + 1, y1 - y0 + 1};
            cJSON_AddItemToObject(a, "bbox", cJSON_CreateDoubleArray(bb, 4));
            cJSON_AddNumberToObject(a, "area", (double)area);
            cJSON_AddNumberToObject(a, "iscrowd", is_crowd);
            int inside = 1;
            for (int p = 0; p < objs[o].npts && !is_crowd; p++)
                inside &= objs[o].poly[2 * p] >= 0 && objs[o].poly[2 * p] <= w && objs[o].poly[2 * p + 1] >= 0 &&
                          objs[o].poly[2 * p + 1] <= h;
            if (!is_crowd && vis[o] == objs[o].full && inside) {
                cJSON *segs = cJSON_CreateArray();
                double rounded[96];
                for (int p = 0; p < 2 * objs[o].npts; p++) rounded[p] = round(objs[o].poly[p] * 100) / 100;
                cJSON_AddItemToArray(segs, cJSON_CreateDoubleArray(rounded, 2 * objs[o].npts));
                cJSON_AddItemToObject(a, "segmentation", segs);
                sum->n_polygon++;
            } else {
                int nr;
                uint32_t *runs = mask_to_rle(mask, h, w, &nr);
                cJSON *seg = cJSON_CreateObject();
                if (is_crowd) {
                    cJSON *cnt = cJSON_CreateArray();
                    for (int k = 0; k < nr; k++) cJSON_AddItemToArray(cnt, cJSON_CreateNumber(runs[k]));
                    cJSON_AddItemToObject(seg, "counts", cnt);
                    sum->n_crowd++;
                } else {
                    char *s = coco_rle_to_string(runs, nr);
                    cJSON_AddStringToObject(seg, "counts", s);
                    free(s);
                    sum->n_rle++;
                }
                int hw[2] = {h, w};
                cJSON_AddItemToObject(seg, "size", cJSON_CreateIntArray(hw, 2));
                cJSON_AddItemToObject(a, "segmentation", seg);
                free(runs);
            }
            cJSON_AddItemToArray(anns, a);
            sum->n_objects++;
            sum->per_class[is_crowd ? crowd_label : objs[o].label]++;
        }
        char fname[64];
        snprintf(fname, sizeof fname, "%012d.jpg", im_i + 1);
        cJSON *io = cJSON_CreateObject();
        cJSON_AddNumberToObject(io, "id", im_i + 1);
        cJSON_AddStringToObject(io, "file_name", fname);
        cJSON_AddNumberToObject(io, "width", w);
        cJSON_AddNumberToObject(io, "height", h);
        cJSON_AddItemToArray(images, io);
        snprintf(path, sizeof path, "%s/%s", imgdir, fname);
        if (image_write_jpeg(path, &img, 92) < 0) rc = -1;
        sum->n_images++;
        free(vis);
        free(mask);
        free(objs);
        free(inst);
        image_free(&img);
    }
    if (rc == 0) {
        char *s = cJSON_PrintUnformatted(j);
        snprintf(path, sizeof path, "%s/instances_%s.json", anndir, cfg.split);
        rc = s ? file_write_atomic(path, s, strlen(s)) : err_set("%s: cannot format JSON", path);
        free(s);
    }
    cJSON_Delete(j);
    return rc;
}

/* ---- VOC ---- */

static int write_voc_year(const char *devkit, const char *year, const char *const *lists, const int *counts,
                          int n_lists, const synth_voc_cfg *cfg, rng_t *r, int *serial, synth_summary *sum) {
    char base[4096], p[8192];
    snprintf(base, sizeof base, "%s/%s", devkit, year);
    const char *subs[3] = {"Annotations", "JPEGImages", "ImageSets/Main"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", base, subs[i]);
        if (mkdir_p(p) < 0) return -1;
    }
    for (int l = 0; l < n_lists; l++) {
        size_t cap = 64 + (size_t)counts[l] * 16, len = 0;
        char *list = xmalloc(cap);
        list[0] = 0;
        for (int i = 0; i < counts[l]; i++) {
            char id[32];
            if (!strcmp(year, "VOC2007")) snprintf(id, sizeof id, "%06d", ++*serial);
            else snprintf(id, sizeof id, "2012_%06d", ++*serial);
            len += (size_t)snprintf(list + len, cap - len, "%s\n", id);
            int w = rand_between(r, cfg->min_side, cfg->max_side), h = rand_between(r, cfg->min_side, cfg->max_side);
            image img;
            image_alloc(&img, w, h, 3);
            int *inst = xmalloc((size_t)w * h * sizeof(int));
            for (size_t k = 0; k < (size_t)w * h; k++) inst[k] = -1;
            int n, lab[16];
            long full[16];
            double mn = fmin(w, h);
            double r0 = cfg->min_radius > 0 ? cfg->min_radius : 5.0;
            if (cfg->style == SYNTH_VOC_OBJECTS) {
                n = rand_between(r, 1, cfg->max_objects);
                /* the classification set's VOC-named objects (cls_synth), random colours, spans log-uniform
                 * from 2 r0 to 0.8 of the short side, later ones in front */
                int n_obj = cls_synth_object_count();
                int n_cls = cfg->n_classes > 0 && cfg->n_classes < n_obj ? cfg->n_classes : n_obj;
                int kinds[16], flip[16];
                float ox[16], oy[16], os[16];
                for (int o = 0; o < n; o++) {
                    kinds[o] = (int)rng_below(r, (uint32_t)n_cls);
                    lab[o] = 0;
                    for (int c = 0; c < VOC_N_CLASSES; c++)
                        if (!strcmp(voc_classes[c], cls_synth_object_name(kinds[o]))) lab[o] = c;
                    os[o] = (float)exp(log(2 * r0) + rng_uniform(r) * (log(0.8 * mn) - log(2 * r0)));
                    ox[o] = (float)(rng_uniform(r) * w), oy[o] = (float)(rng_uniform(r) * h);
                    flip[o] = rng_uniform(r) < 0.5;
                }
                uint8_t *px = cls_synth_render_objects(w, h, n, kinds, ox, oy, os, flip, rng_u64(r), inst, full);
                if (!px) {
                    free(inst), image_free(&img), free(list);
                    return err_set("synth_voc_write: cannot draw a %dx%d object scene (sides must be 8..4096)", w, h);
                }
                memcpy(img.data, px, (size_t)w * h * 3);
                free(px);
            } else { /* the draws in the order they always had, so the shapes style's output is unchanged */
                paint_background(&img, r);
                n = rand_between(r, 1, cfg->max_objects);
                for (int o = 0; o < n; o++) {
                    int n_cls = cfg->n_classes > 0 && cfg->n_classes < VOC_N_CLASSES ? cfg->n_classes : VOC_N_CLASSES;
                    lab[o] = (int)rng_below(r, (uint32_t)n_cls);
                    double rad = exp(log(r0) + rng_uniform(r) * (log(0.4 * mn) - log(r0)));
                    double poly[96];
                    int np = shape_polygon(lab[o] % 6, rng_uniform(r) * w, rng_uniform(r) * h, rad,
                                           0.6 + 0.2 * (lab[o] / 6), rng_uniform(r) * M_PI, poly);
                    texture t;
                    uint8_t col[3];
                    class_colour(lab[o], n_cls, col);
                    random_texture(r, &t, col);
                    full[o] = paint_polygon(&img, inst, o, poly, np, &t);
                }
            }
            size_t xcap = 4096, xl = 0;
            char *xml = xmalloc(xcap);
            xl += (size_t)snprintf(xml + xl, xcap - xl,
                                   "<annotation>\n\t<folder>%s</folder>\n\t<filename>%s.jpg</filename>\n"
                                   "\t<source><database>deltabench synthetic</database></source>\n"
                                   "\t<size>\n\t\t<width>%d</width>\n\t\t<height>%d</height>\n\t\t<depth>3</depth>\n"
                                   "\t</size>\n\t<segmented>0</segmented>\n",
                                   year, id, w, h);
            for (int o = 0; o < n; o++) {
                long vis = 0;
                int x0 = w, y0 = h, x1 = -1, y1 = -1;
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++)
                        if (inst[(size_t)y * w + x] == o) {
                            vis++;
                            if (x < x0) x0 = x;
                            if (x > x1) x1 = x;
                            if (y < y0) y0 = y;
                            if (y > y1) y1 = y;
                        }
                if (vis == 0) continue;
                int difficult = (x1 - x0 + 1) < 10 || (y1 - y0 + 1) < 10 || vis * 3 < full[o];
                int truncated = x0 == 0 || y0 == 0 || x1 == w - 1 || y1 == h - 1;
                if (xl + 512 > xcap) xcap *= 2, xml = xrealloc(xml, xcap);
                xl += (size_t)snprintf(xml + xl, xcap - xl,
                                       "\t<object>\n\t\t<name>%s</name>\n\t\t<pose>Unspecified</pose>\n"
                                       "\t\t<truncated>%d</truncated>\n\t\t<difficult>%d</difficult>\n"
                                       "\t\t<bndbox>\n\t\t\t<xmin>%d</xmin>\n\t\t\t<ymin>%d</ymin>\n"
                                       "\t\t\t<xmax>%d</xmax>\n\t\t\t<ymax>%d</ymax>\n\t\t</bndbox>\n\t</object>\n",
                                       voc_classes[lab[o]], truncated, difficult, x0 + 1, y0 + 1, x1 + 1, y1 + 1);
                sum->n_objects++;
                sum->n_difficult += difficult;
                sum->per_class[lab[o]]++;
            }
            xl += (size_t)snprintf(xml + xl, xcap - xl, "</annotation>\n");
            snprintf(p, sizeof p, "%s/Annotations/%s.xml", base, id);
            int rc = file_write_atomic(p, xml, xl);
            snprintf(p, sizeof p, "%s/JPEGImages/%s.jpg", base, id);
            if (rc == 0) rc = image_write_jpeg(p, &img, 92);
            free(xml);
            free(inst);
            image_free(&img);
            sum->n_images++;
            if (rc < 0) {
                free(list);
                return -1;
            }
        }
        snprintf(p, sizeof p, "%s/ImageSets/Main/%s.txt", base, lists[l]);
        int rc = file_write_atomic(p, list, len);
        free(list);
        if (rc < 0) return -1;
    }
    return 0;
}

int synth_voc_write(const char *root, const synth_voc_cfg *cfg_in, synth_summary *sum) {
    synth_voc_cfg cfg = *cfg_in;
    if (cfg.min_side <= 0) cfg.min_side = 160;
    if (cfg.max_side < cfg.min_side) cfg.max_side = cfg.min_side < 320 ? 320 : cfg.min_side;
    if (cfg.max_objects <= 0) cfg.max_objects = 5;
    if (cfg.max_objects > 16) cfg.max_objects = 16;
    memset(sum, 0, sizeof *sum);
    rng_t r;
    rng_seed(&r, cfg.seed);
    int serial = 0;
    const char *l07[2] = {"trainval", "test"};
    int c07[2] = {cfg.n_trainval07, cfg.n_test07};
    if (write_voc_year(root, "VOC2007", l07, c07, 2, &cfg, &r, &serial, sum) < 0) return -1;
    const char *l12[1] = {"trainval"};
    int c12[1] = {cfg.n_trainval12};
    serial = 0;
    if (cfg.n_trainval12 > 0 && write_voc_year(root, "VOC2012", l12, c12, 1, &cfg, &r, &serial, sum) < 0) return -1;
    return 0;
}

/* ---- ADE20K ---- */

int synth_ade20k_write(const char *root, const synth_ade_cfg *cfg_in, synth_summary *sum) {
    synth_ade_cfg cfg = *cfg_in;
    if (cfg.min_side <= 0) cfg.min_side = 128;
    if (cfg.max_side < cfg.min_side) cfg.max_side = cfg.min_side < 256 ? 256 : cfg.min_side;
    if (cfg.max_objects <= 0) cfg.max_objects = 20;
    if (cfg.n_classes <= 0 || cfg.n_classes > 150) cfg.n_classes = 150;
    const int nc = cfg.n_classes;
    memset(sum, 0, sizeof *sum);
    rng_t r;
    rng_seed(&r, cfg.seed);
    const char *splits[2] = {"training", "validation"};
    const char *prefix[2] = {"ADE_train", "ADE_val"};
    int counts[2] = {cfg.n_train, cfg.n_val};
    /* band classes (0-based ADE labels): sky 2, wall 0, building 1, floor 3, road 6, grass 9, ceiling 5 */
    const int tops[3] = {2, 5, 2}, mids[3] = {0, 1, 0}, bottoms[4] = {3, 6, 9, 13};
    for (int s = 0; s < 2; s++) {
        char idir[4096], adir[4096], p[8192];
        snprintf(idir, sizeof idir, "%s/ADEChallengeData2016/images/%s", root, splits[s]);
        snprintf(adir, sizeof adir, "%s/ADEChallengeData2016/annotations/%s", root, splits[s]);
        if (mkdir_p(idir) < 0 || mkdir_p(adir) < 0) return -1;
        for (int i = 0; i < counts[s]; i++) {
            int w = rand_between(&r, cfg.min_side, cfg.max_side), h = rand_between(&r, cfg.min_side, cfg.max_side);
            image img, lab;
            image_alloc(&img, w, h, 3);
            image_alloc(&lab, w, h, 1);
            int *inst = xmalloc((size_t)w * h * sizeof(int));
            int bands[3] = {tops[rng_below(&r, 3)] % nc, mids[rng_below(&r, 3)] % nc, bottoms[rng_below(&r, 4)] % nc};
            int cut1 = (int)(h * (0.2 + 0.2 * rng_uniform(&r))), cut2 = (int)(h * (0.55 + 0.2 * rng_uniform(&r)));
            texture bt[3];
            for (int b = 0; b < 3; b++) {
                uint8_t col[3];
                class_colour(bands[b], nc, col);
                random_texture(&r, &bt[b], col);
            }
            for (int y = 0; y < h; y++) {
                int b = y < cut1 ? 0 : y < cut2 ? 1 : 2;
                for (int x = 0; x < w; x++) {
                    texel(&bt[b], x, y, image_px(&img, x, y));
                    inst[(size_t)y * w + x] = bands[b];
                }
            }
            int n = rand_between(&r, 1, cfg.max_objects);
            sum->n_objects += n;
            for (int o = 0; o < n; o++) {
                /* mostly objects of the 150 classes; some "other" (label 0 in the file) blobs */
                int other = rng_uniform(&r) < 0.1f;
                int c = other ? -1 : (int)rng_below(&r, (uint32_t)nc);
                double poly[96];
                double mn = fmin(w, h), rad = exp(log(3.0) + rng_uniform(&r) * (log(0.3 * mn) - log(3.0)));
                int np = shape_polygon(other ? 1 : c % 6, rng_uniform(&r) * w, rng_uniform(&r) * h, rad,
                                       0.5 + rng_uniform(&r), rng_uniform(&r) * M_PI, poly);
                texture t;
                uint8_t col[3];
                class_colour(other ? 0 : c, nc, col);
                random_texture(&r, &t, col);
                paint_polygon(&img, inst, c, poly, np, &t);
            }
            char seen[151] = {0};
            for (size_t k = 0; k < (size_t)w * h; k++) {
                int c = inst[k];
                lab.data[k] = (uint8_t)(c + 1); /* file value: 0 other, k+1 class k */
                if (c >= 0) seen[c] = 1;
            }
            for (int c = 0; c < 150; c++) sum->per_class[c] += seen[c];
            snprintf(p, sizeof p, "%s/%s_%08d.jpg", idir, prefix[s], i + 1);
            int rc = image_write_jpeg(p, &img, 92);
            snprintf(p, sizeof p, "%s/%s_%08d.png", adir, prefix[s], i + 1);
            if (rc == 0) rc = image_write_png(p, &lab);
            free(inst);
            image_free(&img);
            image_free(&lab);
            if (rc < 0) return -1;
            sum->n_images++;
        }
    }
    return 0;
}

/* ---- DOTA ---- */

int synth_dota_write(const char *root, const synth_dota_cfg *cfg_in, synth_summary *sum) {
    synth_dota_cfg cfg = *cfg_in;
    if (cfg.min_side <= 0) cfg.min_side = 1024;
    if (cfg.max_side < cfg.min_side) cfg.max_side = cfg.min_side < 2048 ? 2048 : cfg.min_side;
    if (cfg.max_objects <= 0) cfg.max_objects = 40;
    memset(sum, 0, sizeof *sum);
    rng_t r;
    rng_seed(&r, cfg.seed);
    char idir[4096], ldir[4096], p[8192];
    snprintf(idir, sizeof idir, "%s/images", root);
    snprintf(ldir, sizeof ldir, "%s/labelTxt", root);
    if (mkdir_p(idir) < 0 || mkdir_p(ldir) < 0) return -1;
    /* typical long side per class, in pixels (planes and courts large, vehicles small) */
    static const float size_of[15] = {60, 90, 120, 250, 18, 35, 40, 60, 50, 30, 200, 100, 80, 40, 45};
    for (int i = 0; i < cfg.n_images; i++) {
        int w = rand_between(&r, cfg.min_side, cfg.max_side), h = rand_between(&r, cfg.min_side, cfg.max_side);
        image img;
        image_alloc(&img, w, h, 3);
        paint_background(&img, &r);
        int n = rand_between(&r, 1, cfg.max_objects);
        rbox *placed = xmalloc((size_t)n * sizeof *placed);
        int np = 0;
        size_t cap = 256 + (size_t)n * 128, len = 0;
        char *txt = xmalloc(cap);
        double gsd = 0.1 + 0.9 * rng_uniform(&r);
        len += (size_t)snprintf(txt + len, cap - len, "imagesource:deltabench-synthetic\ngsd:%.6f\n", gsd);
        for (int o = 0; o < n; o++) {
            int c = (int)rng_below(&r, 15);
            float L = size_of[c] * (0.6f + 0.8f * rng_uniform(&r));
            rbox b = {(float)(L + rng_uniform(&r) * (w - 2 * L)), (float)(L + rng_uniform(&r) * (h - 2 * L)), L,
                      L * (0.3f + 0.6f * rng_uniform(&r)), (float)(M_PI * (rng_uniform(&r) - 0.5))};
            int clash = 0;
            for (int k = 0; k < np && !clash; k++) {
                float dx = b.x - placed[k].x, dy = b.y - placed[k].y, rr = (b.w + placed[k].w) * 0.75f;
                clash = dx * dx + dy * dy < rr * rr;
            }
            if (clash || b.w < 4) continue;
            placed[np++] = b;
            float poly[8];
            rbox_to_poly(&b, poly);
            double xy[8];
            for (int k = 0; k < 8; k++) xy[k] = poly[k];
            texture t;
            uint8_t col[3];
            class_colour(c, 15, col);
            random_texture(&r, &t, col);
            paint_polygon(&img, NULL, 0, xy, 4, &t);
            int difficult = b.h < 12 || rng_uniform(&r) < 0.05f;
            len += (size_t)snprintf(txt + len, cap - len, "%.1f %.1f %.1f %.1f %.1f %.1f %.1f %.1f %s %d\n", poly[0],
                                    poly[1], poly[2], poly[3], poly[4], poly[5], poly[6], poly[7], dota_classes_v10[c],
                                    difficult);
            sum->n_objects++;
            sum->n_difficult += difficult;
            sum->per_class[c]++;
        }
        snprintf(p, sizeof p, "%s/P%04d.txt", ldir, i + 1);
        int rc = file_write_atomic(p, txt, len);
        snprintf(p, sizeof p, "%s/P%04d.png", idir, i + 1);
        if (rc == 0) rc = image_write_png(p, &img);
        free(txt);
        free(placed);
        image_free(&img);
        if (rc < 0) return -1;
        sum->n_images++;
    }
    return 0;
}
