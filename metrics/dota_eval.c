/* dota_eval.c - DOTA devkit Task 1 and mmrotate eval_rbbox_map mAP (see dota_eval.h). */
#include "dota_eval.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"

/* ---- polygon IoU: intersection of two simple polygons as the sum over edge pairs of the signed
 * intersections of the triangles (origin, edge), each computed by convex clipping ---- */
typedef struct pt {
    double x, y;
} pt;

static const double tiny = 1e-8;
static int sgn(double v) { return (v > tiny) - (v < -tiny); }
static double cross_o(pt o, pt a, pt b) { return (a.x - o.x) * (b.y - o.y) - (b.x - o.x) * (a.y - o.y); }

static double signed_area(const pt *p, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) {
        int j = (i + 1) % n;
        s += p[i].x * p[j].y - p[i].y * p[j].x;
    }
    return s / 2;
}

/* Keep the part of polygon p (n points, in place) left of the directed line a->b. */
static void clip_left(pt *p, int *n, pt a, pt b) {
    pt out[16];
    int m = 0, k = *n;
    for (int i = 0; i < k; i++) {
        pt u = p[i], v = p[(i + 1) % k];
        double su = cross_o(a, b, u), sv = cross_o(a, b, v);
        if (sgn(su) > 0) out[m++] = u;
        if (sgn(su) != sgn(sv) && m < 15) {
            /* where segment u-v meets the line (skipped when parallel to it) */
            double d = sv - su;
            if (sgn(d) != 0) out[m++] = (pt){(u.x * sv - v.x * su) / d, (u.y * sv - v.y * su) / d};
        }
    }
    /* drop consecutive duplicates */
    int q = 0;
    for (int i = 0; i < m; i++)
        if (q == 0 || sgn(out[i].x - p[q - 1].x) != 0 || sgn(out[i].y - p[q - 1].y) != 0) p[q++] = out[i];
    while (q > 1 && sgn(p[q - 1].x - p[0].x) == 0 && sgn(p[q - 1].y - p[0].y) == 0) q--;
    *n = q;
}

/* Signed area of triangle(O, a, b) intersected with triangle(O, c, d). */
static double tri_pair(pt a, pt b, pt c, pt d) {
    pt o = {0, 0};
    int s1 = sgn(cross_o(o, a, b)), s2 = sgn(cross_o(o, c, d));
    if (s1 == 0 || s2 == 0) return 0;
    if (s1 < 0) {
        pt t = a;
        a = b;
        b = t;
    }
    if (s2 < 0) {
        pt t = c;
        c = d;
        d = t;
    }
    pt p[16] = {o, a, b};
    int n = 3;
    clip_left(p, &n, o, c);
    clip_left(p, &n, c, d);
    clip_left(p, &n, d, o);
    double r = fabs(signed_area(p, n));
    return s1 * s2 < 0 ? -r : r;
}

double dota_poly_iou(const double p8[8], const double q8[8]) {
    pt p[4], q[4];
    for (int i = 0; i < 4; i++) {
        p[i] = (pt){p8[2 * i], p8[2 * i + 1]};
        q[i] = (pt){q8[2 * i], q8[2 * i + 1]};
    }
    double ap = signed_area(p, 4), aq = signed_area(q, 4);
    if (ap < 0)
        for (int i = 0; i < 2; i++) {
            pt t = p[i];
            p[i] = p[3 - i];
            p[3 - i] = t;
        }
    if (aq < 0)
        for (int i = 0; i < 2; i++) {
            pt t = q[i];
            q[i] = q[3 - i];
            q[3 - i] = t;
        }
    double inter = 0;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) inter += tri_pair(p[i], p[(i + 1) % 4], q[j], q[(j + 1) % 4]);
    double uni = fabs(ap) + fabs(aq) - inter;
    return inter / uni;
}

/* ---- matching ---- */
/* Generic driver: protocol decides IoU, rule and ignores. */
static int eval_rotated(const void *gt, int n_gt, const void *dt, int n_dt, int n_images, int n_classes, double thr,
                        int ap_mode, int protocol, voc_result *out) {
    const dota_poly_obj *pg = gt, *pd = dt;
    const dota_rbox_obj *rg = gt, *rd = dt;
    int mm = protocol == DOTA_PROTO_MMROTATE;
#define G_IMG(j) (mm ? rg[j].image : pg[j].image)
#define G_LAB(j) (mm ? rg[j].label : pg[j].label)
#define D_IMG(j) (mm ? rd[j].image : pd[j].image)
#define D_LAB(j) (mm ? rd[j].label : pd[j].label)
#define D_SCORE(j) (mm ? rd[j].score : pd[j].score)
#define G_IGN(j) (mm ? rg[j].ignore : pg[j].difficult)
    for (int j = 0; j < n_gt; j++)
        if (G_IMG(j) < 0 || G_IMG(j) >= n_images || G_LAB(j) < 0 || G_LAB(j) >= n_classes)
            return err_set("rotated evaluation: ground truth %d has image/label out of range", j);
    for (int j = 0; j < n_dt; j++)
        if (D_IMG(j) < 0 || D_IMG(j) >= n_images || D_LAB(j) < 0 || D_LAB(j) >= n_classes)
            return err_set("rotated evaluation: detection %d has image/label out of range", j);
    voc_result_alloc(out, n_classes);
    det_key *gk = xmalloc((size_t)(n_gt + 1) * sizeof(det_key)), *dk = xmalloc((size_t)(n_dt + 1) * sizeof(det_key));
    for (int j = 0; j < n_gt; j++) gk[j] = (det_key){G_LAB(j) * n_images + G_IMG(j), j, 0};
    for (int j = 0; j < n_dt; j++) dk[j] = (det_key){D_LAB(j) * n_images + D_IMG(j), j, D_SCORE(j)};
    qsort(gk, n_gt, sizeof(det_key), det_key_cmp);
    qsort(dk, n_dt, sizeof(det_key), det_key_cmp);
    unsigned char *tp = xcalloc((size_t)n_dt + 1, 1), *fp = xcalloc((size_t)n_dt + 1, 1);
    double *score = xmalloc((size_t)(n_dt + 1) * sizeof(double));
    long long *tie = xmalloc((size_t)(n_dt + 1) * sizeof(long long));
    int *order = xmalloc((size_t)(n_gt + 1) * sizeof(int));
    unsigned char *covered = xcalloc((size_t)n_gt + 1, 1);
    int gp = 0, dp = 0, n_ap = 0;
    double sum_ap = 0;
    for (int c = 0; c < n_classes; c++) {
        int nd = 0, npos = 0;
        for (int i = 0; i < n_images; i++) {
            int key = c * n_images + i, g0 = gp, q = 0;
            while (gp < n_gt && gk[gp].key == key) gp++;
            int ng = gp - g0;
            /* mmrotate stacks the ordinary boxes first, then the ignore boxes */
            for (int g = g0; g < gp; g++)
                if (!mm || !G_IGN(gk[g].pos)) order[q++] = gk[g].pos;
            if (mm)
                for (int g = g0; g < gp; g++)
                    if (G_IGN(gk[g].pos)) order[q++] = gk[g].pos;
            for (int g = 0; g < ng; g++) {
                covered[g] = 0;
                if (!G_IGN(order[g])) npos++;
            }
            while (dp < n_dt && dk[dp].key == key) {
                int dj = dk[dp].pos;
                double best = -INFINITY;
                int m = -1;
                if (mm) {
                    for (int g = 0; g < ng; g++) {
                        double v = (double)(float)rbox_iou(&rd[dj].box, &rg[order[g]].box);
                        if (v > best) best = v, m = g;
                    }
                } else {
                    const double *b = pd[dj].poly;
                    double bx0 = fmin(fmin(b[0], b[2]), fmin(b[4], b[6])), bx1 = fmax(fmax(b[0], b[2]), fmax(b[4], b[6]));
                    double by0 = fmin(fmin(b[1], b[3]), fmin(b[5], b[7])), by1 = fmax(fmax(b[1], b[3]), fmax(b[5], b[7]));
                    for (int g = 0; g < ng; g++) {
                        const double *G = pg[order[g]].poly;
                        double gx0 = fmin(fmin(G[0], G[2]), fmin(G[4], G[6])), gx1 = fmax(fmax(G[0], G[2]), fmax(G[4], G[6]));
                        double gy0 = fmin(fmin(G[1], G[3]), fmin(G[5], G[7])), gy1 = fmax(fmax(G[1], G[3]), fmax(G[5], G[7]));
                        double iw = fmax(fmin(gx1, bx1) - fmax(gx0, bx0) + 1., 0.), ih = fmax(fmin(gy1, by1) - fmax(gy0, by0) + 1., 0.);
                        double inter = iw * ih;
                        double uni = (bx1 - bx0 + 1.) * (by1 - by0 + 1.) + (gx1 - gx0 + 1.) * (gy1 - gy0 + 1.) - inter;
                        if (!(inter / uni > 0)) continue; /* the devkit's horizontal-box prefilter */
                        double v = dota_poly_iou(G, b);
                        if (v > best) best = v, m = g;
                    }
                }
                int hit = m >= 0 && (mm ? best >= thr : best > thr);
                tp[nd] = fp[nd] = 0;
                if (hit) {
                    if (!G_IGN(order[m])) {
                        if (!covered[m])
                            covered[m] = 1, tp[nd] = 1;
                        else
                            fp[nd] = 1;
                    }
                } else {
                    fp[nd] = 1;
                }
                score[nd] = D_SCORE(dj);
                tie[nd] = mm ? (long long)i * (n_dt + 1) + nd : (long long)dj;
                nd++;
                dp++;
            }
        }
        out->num_gts[c] = npos;
        out->num_dets[c] = nd;
        voc_ap_from_marks(score, tie, tp, fp, nd, npos, ap_mode, mm, &out->ap[c], &out->recall[c]);
        /* the devkit: recall 0/0 is NaN; the 11-point rule finds no recall >= t (0), the area rule's sum carries
         * the NaN when there is a detection (as voc_eval.c's devkit protocol) */
        if (npos == 0 && !mm) out->ap[c] = ap_mode == VOC_AP_AREA && nd > 0 ? NAN : 0;
        if (npos > 0 || !mm) {
            sum_ap += out->ap[c];
            n_ap++;
        }
    }
#undef G_IMG
#undef G_LAB
#undef D_IMG
#undef D_LAB
#undef D_SCORE
#undef G_IGN
    out->map = n_ap ? sum_ap / n_ap : 0;
    free(gk);
    free(dk);
    free(tp);
    free(fp);
    free(score);
    free(tie);
    free(order);
    free(covered);
    return 0;
}

int dota_eval_devkit(const dota_poly_obj *gt, int n_gt, const dota_poly_obj *dt, int n_dt, int n_images, int n_classes,
                     double iou_thr, int ap_mode, voc_result *out) {
    return eval_rotated(gt, n_gt, dt, n_dt, n_images, n_classes, iou_thr, ap_mode, DOTA_PROTO_DEVKIT, out);
}

int dota_eval_mmrotate(const dota_rbox_obj *gt, int n_gt, const dota_rbox_obj *dt, int n_dt, int n_images,
                       int n_classes, double iou_thr, int ap_mode, voc_result *out) {
    return eval_rotated(gt, n_gt, dt, n_dt, n_images, n_classes, iou_thr, ap_mode, DOTA_PROTO_MMROTATE, out);
}

/* Minimum-area enclosing rectangle of a quadrilateral (rotating calipers over its convex hull), with no
 * minimum size: a detection is a rotated box whatever its size (mmrotate only filters ground truth). */
static int min_area_rect(const double q[8], rbox *out) {
    pt p[4], hull[8];
    for (int i = 0; i < 4; i++) p[i] = (pt){q[2 * i], q[2 * i + 1]};
    /* sort by x then y (insertion sort of 4) */
    for (int i = 1; i < 4; i++)
        for (int j = i; j > 0 && (p[j].x < p[j - 1].x || (p[j].x == p[j - 1].x && p[j].y < p[j - 1].y)); j--) {
            pt t = p[j];
            p[j] = p[j - 1];
            p[j - 1] = t;
        }
    int k = 0;
    for (int i = 0; i < 4; i++) {
        while (k >= 2 && cross_o(hull[k - 2], hull[k - 1], p[i]) <= 0) k--;
        hull[k++] = p[i];
    }
    for (int i = 2, t = k + 1; i >= 0; i--) {
        while (k >= t && cross_o(hull[k - 2], hull[k - 1], p[i]) <= 0) k--;
        hull[k++] = p[i];
    }
    k--;
    if (k < 3) return 0;
    double best = INFINITY;
    for (int e = 0; e < k; e++) {
        double dx = hull[(e + 1) % k].x - hull[e].x, dy = hull[(e + 1) % k].y - hull[e].y, len = sqrt(dx * dx + dy * dy);
        if (len == 0) continue;
        double ux = dx / len, uy = dy / len, u0 = INFINITY, u1 = -INFINITY, v0 = INFINITY, v1 = -INFINITY;
        for (int i = 0; i < k; i++) {
            double pu = hull[i].x * ux + hull[i].y * uy, pv = -hull[i].x * uy + hull[i].y * ux;
            u0 = fmin(u0, pu), u1 = fmax(u1, pu), v0 = fmin(v0, pv), v1 = fmax(v1, pv);
        }
        double area = (u1 - u0) * (v1 - v0);
        if (area < best) {
            best = area;
            double cu = (u0 + u1) / 2, cv = (v0 + v1) / 2;
            *out = (rbox){(float)(cu * ux - cv * uy), (float)(cu * uy + cv * ux), (float)(u1 - u0), (float)(v1 - v0),
                          (float)atan2(uy, ux)};
        }
    }
    return best < INFINITY;
}

/* ---- files ---- */
typedef struct stem_idx {
    const char *stem;
    int idx;
} stem_idx;

static int cmp_stem(const void *a, const void *b) { return strcmp(((const stem_idx *)a)->stem, ((const stem_idx *)b)->stem); }

int dota_eval_files(const char *gt_dir, const char *det_dir, const char *prefix, const char *const *classes,
                    int n_classes, int protocol, double iou_thr, int ap_mode, voc_result *out) {
    memset(out, 0, sizeof *out);
    if (!prefix) prefix = "Task1_";
    dota_dataset ds;
    int mm = protocol == DOTA_PROTO_MMROTATE;
    /* objects of classes outside the list: the devkit does not count them; mmrotate stops (see dota.h) */
    dota_options opts = {.skip_bad = 0, .unknown = mm ? DOTA_UNKNOWN_MMROTATE : DOTA_UNKNOWN_SKIP};
    if (dota_load_dir(gt_dir, classes, n_classes, RBOX_LE90, 0, &opts, &ds) < 0) {
        if (mm && strstr(err_msg(), "unknown class")) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", err_msg());
            err_set("%s: not among the %d evaluated classes; mmrotate's DOTADataset stops on it too (KeyError in "
                    "cls_map); the devkit protocol leaves such objects out, or pick the class list with --classes",
                    msg, n_classes);
        }
        return -1;
    }
    if (ds.n_unknown) {
        int shown = 0;
        for (int i = 0; i < ds.n_items; i++) {
            const dota_ann *a = &ds.items[i].ann;
            if (!a->n_unknown) continue;
            if (shown++ < 10)
                fprintf(stderr, "deltabench: note: %s/%s.txt: %d object(s) of class %s, not among the %d evaluated classes, "
                                "not counted (%s)\n",
                        gt_dir, ds.items[i].stem, a->n_unknown, a->unknown_classes, n_classes,
                        mm ? "a side under 2 px: mmrotate's reader skips it before reading its class"
                           : "as the DOTA devkit, which keeps each evaluated class's objects by name");
        }
        if (shown > 10) fprintf(stderr, "deltabench: note: ... %d more file(s) with such objects\n", shown - 10);
        fprintf(stderr, "deltabench: note: %d ground-truth object(s) of classes outside the list not counted\n", ds.n_unknown);
    }
    int n_gt = 0, cap_gt = 0;
    for (int i = 0; i < ds.n_items; i++) cap_gt += ds.items[i].ann.n_objects;
    dota_poly_obj *pg = xcalloc((size_t)cap_gt + 1, sizeof(dota_poly_obj));
    dota_rbox_obj *rg = xcalloc((size_t)cap_gt + 1, sizeof(dota_rbox_obj));
    for (int i = 0; i < ds.n_items; i++) {
        const dota_item *it = &ds.items[i];
        if (mm) {
            for (int b = 0; b < it->n_boxes; b++) /* polygons mmrotate could not turn into a box are dropped */
                rg[n_gt++] = (dota_rbox_obj){i, it->labels[b], it->boxes[b], 0, 0};
        } else {
            for (int o = 0; o < it->ann.n_objects; o++) {
                const dota_object *ob = &it->ann.objects[o];
                dota_poly_obj *g = &pg[n_gt++];
                g->image = i;
                g->label = ob->label;
                g->difficult = ob->difficult != 0;
                for (int k = 0; k < 8; k++) g->poly[k] = ob->poly[k];
            }
        }
    }
    stem_idx *st = xmalloc((size_t)(ds.n_items + 1) * sizeof(stem_idx));
    for (int i = 0; i < ds.n_items; i++) st[i] = (stem_idx){ds.items[i].stem, i};
    qsort(st, ds.n_items, sizeof(stem_idx), cmp_stem);
    int n_dt = 0, cap = 1024, rc = 0;
    dota_poly_obj *pd = xmalloc((size_t)cap * sizeof(dota_poly_obj));
    dota_rbox_obj *rd = xmalloc((size_t)cap * sizeof(dota_rbox_obj));
    char path[4096];
    for (int c = 0; c < n_classes && !rc; c++) {
        snprintf(path, sizeof path, "%s/%s%s.txt", det_dir, prefix, classes[c]);
        if (!file_exists(path)) continue;
        size_t n;
        char *buf = file_read_all(path, &n);
        if (!buf) {
            rc = -1;
            break;
        }
        char *p = buf;
        int line = 0;
        while (*p && !rc) {
            line++;
            char *eol = strchr(p, '\n');
            if (eol) *eol = 0;
            char *s = p;
            while (*s == ' ' || *s == '\t' || *s == '\r') s++;
            if (*s) {
                char id[512];
                double v[9];
                if (sscanf(s, "%511s %lf %lf %lf %lf %lf %lf %lf %lf %lf", id, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                           &v[6], &v[7], &v[8]) != 10) {
                    rc = err_set("%s:%d: expected \"image score x1 y1 x2 y2 x3 y3 x4 y4\"", path, line);
                    break;
                }
                stem_idx key = {id, 0}, *f = bsearch(&key, st, ds.n_items, sizeof(stem_idx), cmp_stem);
                if (!f) {
                    rc = err_set("%s:%d: image '%s' has no ground-truth file %s/%s.txt", path, line, id, gt_dir, id);
                    break;
                }
                if (n_dt == cap) {
                    cap *= 2;
                    pd = xrealloc(pd, (size_t)cap * sizeof(dota_poly_obj));
                    rd = xrealloc(rd, (size_t)cap * sizeof(dota_rbox_obj));
                }
                dota_poly_obj *d = &pd[n_dt];
                memset(d, 0, sizeof *d);
                d->image = f->idx;
                d->label = c;
                d->score = v[0];
                for (int k = 0; k < 8; k++) d->poly[k] = v[k + 1];
                dota_rbox_obj *r = &rd[n_dt];
                memset(r, 0, sizeof *r);
                r->image = f->idx;
                r->label = c;
                r->score = (double)(float)v[0];
                double pf[8];
                for (int k = 0; k < 8; k++) pf[k] = (double)(float)v[k + 1];
                if (!min_area_rect(pf, &r->box)) r->box = (rbox){0, 0, 0, 0, 0}; /* degenerate: never matches */
                n_dt++;
            }
            if (!eol) break;
            p = eol + 1;
        }
        free(buf);
    }
    if (!rc) {
        if (mm)
            rc = dota_eval_mmrotate(rg, n_gt, rd, n_dt, ds.n_items, n_classes, iou_thr, ap_mode, out);
        else
            rc = dota_eval_devkit(pg, n_gt, pd, n_dt, ds.n_items, n_classes, iou_thr, ap_mode, out);
    }
    free(st);
    free(pg);
    free(rg);
    free(pd);
    free(rd);
    dota_dataset_free(&ds);
    return rc;
}
