/* dota.c - DOTA / STAR annotation text, rotated boxes, patch split and merge (see dota.h). */
#include "dota.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"

const char *const dota_classes_v10[15] = {"plane", "baseball-diamond", "bridge", "ground-track-field",
                                          "small-vehicle", "large-vehicle", "ship", "tennis-court",
                                          "basketball-court", "storage-tank", "soccer-ball-field", "roundabout",
                                          "harbor", "swimming-pool", "helicopter"};
const char *const dota_classes_v15[16] = {"plane", "baseball-diamond", "bridge", "ground-track-field",
                                          "small-vehicle", "large-vehicle", "ship", "tennis-court",
                                          "basketball-court", "storage-tank", "soccer-ball-field", "roundabout",
                                          "harbor", "swimming-pool", "helicopter", "container-crane"};
const char *const star_classes[48] = {
    "ship", "boat", "crane", "goods_yard", "tank", "storehouse", "breakwater", "dock", "airplane",
    "boarding_bridge", "runway", "taxiway", "terminal", "apron", "gas_station", "truck", "car", "truck_parking",
    "car_parking", "bridge", "cooling_tower", "chimney", "vapor", "smoke", "genset", "coal_yard", "lattice_tower",
    "substation", "wind_mill", "cement_concrete_pavement", "toll_gate", "flood_dam", "gravity_dam", "ship_lock",
    "ground_track_field", "basketball_court", "engineering_vehicle", "foundation_pit", "intersection",
    "soccer_ball_field", "tennis_court", "tower_crane", "unfinished_building", "arch_dam", "roundabout",
    "baseball_diamond", "stadium", "containment_vessel"};

void dota_ann_free(dota_ann *a) {
    if (!a) return;
    free(a->imagesource);
    free(a->objects);
    memset(a, 0, sizeof *a);
}

static int line_fail(const dota_options *o, int *n_skipped, int *warned, const char *name, int line,
                     const char *what, const char *tok) {
    if (!o || !o->skip_bad) return err_set("%s:%d: %s '%.80s'", name, line, what, tok);
    if ((*warned)++ < 10)
        fprintf(stderr, "deltabench: warning: %s:%d: %s '%.80s' (line skipped)\n", name, line, what, tok);
    if (n_skipped) (*n_skipped)++;
    return 0;
}

/* Count an object of a class outside the list and keep its class name (distinct names, as room allows). */
static void note_unknown(dota_ann *a, const char *cls) {
    a->n_unknown++;
    size_t l = strlen(a->unknown_classes), cl = strlen(cls);
    for (const char *p = a->unknown_classes; (p = strstr(p, cls)); p += cl)
        if ((p == a->unknown_classes || p[-1] == ' ') && (p[cl] == 0 || p[cl] == ',')) return;
    if (l + cl + 3 < sizeof a->unknown_classes)
        snprintf(a->unknown_classes + l, sizeof a->unknown_classes - l, "%s%s", l ? ", " : "", cls);
}

int dota_parse_txt(const char *buf, size_t n, const char *name, const char *const *classes, int n_classes,
                   const dota_options *opts, dota_ann *out, int *n_skipped) {
    memset(out, 0, sizeof *out);
    out->gsd = -1;
    int cap = 0, line = 0, warned = 0;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && buf[j] != '\n') j++;
        line++;
        size_t len = j - i;
        const char *l = buf + i;
        i = j + 1;
        /* strip a CR */
        while (len > 0 && (l[len - 1] == '\r')) len--;
        char tmp[1024];
        if (len >= sizeof tmp) {
            char head[64];
            snprintf(head, sizeof head, "%.*s", 40, l);
            if (line_fail(opts, n_skipped, &warned, name, line, "line too long", head) < 0) goto fail;
            continue;
        }
        memcpy(tmp, l, len);
        tmp[len] = 0;
        if (!strncmp(tmp, "imagesource:", 12)) {
            free(out->imagesource);
            out->imagesource = xstrdup(tmp + 12);
            continue;
        }
        if (!strncmp(tmp, "gsd:", 4)) {
            char *end;
            errno = 0;
            double g = strtod(tmp + 4, &end);
            while (*end && isspace((unsigned char)*end)) end++;
            out->gsd = (end != tmp + 4 && !*end && !errno && isfinite(g)) ? g : -1; /* img_split: None if bad */
            continue;
        }
        char *tok[12];
        int nt = 0;
        char *save = NULL;
        for (char *t = strtok_r(tmp, " \t\f\v", &save); t && nt < 12; t = strtok_r(NULL, " \t\f\v", &save))
            tok[nt++] = t;
        if (nt == 0) continue; /* blank line */
        if (nt < 9) {
            if (line_fail(opts, n_skipped, &warned, name, line,
                          "expected 'x1 y1 x2 y2 x3 y3 x4 y4 class [difficult]', got a line starting", tok[0]) < 0)
                goto fail;
            continue;
        }
        dota_object o;
        memset(&o, 0, sizeof o);
        o.line = line;
        int bad = 0;
        for (int k = 0; k < 8 && !bad; k++) {
            char *end;
            errno = 0;
            double v = strtod(tok[k], &end);
            if (*end || end == tok[k] || !isfinite(v) || fabs(v) > 1e7) {
                char what[64];
                snprintf(what, sizeof what, "coordinate %d is not a finite number:", k + 1);
                if (line_fail(opts, n_skipped, &warned, name, line, what, tok[k]) < 0) goto fail;
                bad = 1;
            }
            o.poly[k] = (float)v;
        }
        if (bad) continue;
        o.label = -1;
        for (int c = 0; c < n_classes; c++)
            if (!strcmp(classes[c], tok[8])) {
                o.label = c;
                break;
            }
        if (o.label < 0) {
            int mode = opts ? opts->unknown : DOTA_UNKNOWN_FAIL;
            rbox unused;
            if (mode == DOTA_UNKNOWN_SKIP || (mode == DOTA_UNKNOWN_MMROTATE && !poly_to_rbox(o.poly, RBOX_LE90, &unused))) {
                note_unknown(out, tok[8]);
                continue;
            }
            if (line_fail(opts, n_skipped, &warned, name, line, "unknown class", tok[8]) < 0) goto fail;
            continue;
        }
        if (nt >= 10) {
            char *end;
            errno = 0;
            long d = strtol(tok[9], &end, 10);
            if (*end || end == tok[9] || errno || d < 0 || d > 1000000) {
                if (line_fail(opts, n_skipped, &warned, name, line, "difficult is not a non-negative integer:",
                              tok[9]) < 0)
                    goto fail;
                continue;
            }
            o.difficult = (int)d;
        }
        if (out->n_objects == cap) {
            cap = cap ? 2 * cap : 16;
            out->objects = xrealloc(out->objects, (size_t)cap * sizeof *out->objects);
        }
        out->objects[out->n_objects++] = o;
    }
    return 0;
fail:
    dota_ann_free(out);
    return -1;
}

int dota_load_txt(const char *path, const char *const *classes, int n_classes, const dota_options *opts,
                  dota_ann *out, int *n_skipped) {
    memset(out, 0, sizeof *out);
    size_t n;
    char *buf = file_read_all(path, &n);
    if (!buf) return -1;
    int rc = dota_parse_txt(buf, n, path, classes, n_classes, opts, out, n_skipped);
    free(buf);
    return rc;
}

/* ---- rotated boxes ---- */

rbox rbox_normalize(rbox b, rbox_version v) {
    const double pi = M_PI;
    double a = b.a, w = b.w, h = b.h;
    /* first to oc: a in (0, pi/2], w along a */
    a = fmod(a, pi);
    if (a < 0) a += pi; /* [0, pi) */
    if (a > pi / 2) {   /* the h side points at a - pi/2 in (0, pi/2) */
        a -= pi / 2;
        double t = w; w = h; h = t;
    } else if (a == 0) {
        a = pi / 2;
        double t = w; w = h; h = t;
    }
    if (v == RBOX_LE90) {
        /* mmrotate poly2obb_np_le90 applied to cv2's (w, h, a) with a in (0, 90] */
        if (w < h) {
            double t = w; w = h; h = t;
            a += pi / 2;
        }
        while (!(a < pi / 2 && a >= -pi / 2)) a += a >= pi / 2 ? -pi : pi;
    }
    b.a = (float)a;
    b.w = (float)w;
    b.h = (float)h;
    return b;
}

static double cross3(const double *o, const double *a, const double *b) {
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
}
static int pt_cmp(const void *x, const void *y) {
    const double *a = x, *b = y;
    if (a[0] != b[0]) return a[0] < b[0] ? -1 : 1;
    if (a[1] != b[1]) return a[1] < b[1] ? -1 : 1;
    return 0;
}

int poly_to_rbox(const float poly[8], rbox_version v, rbox *out) {
    double p[4][2], hull[8][2];
    for (int i = 0; i < 4; i++) p[i][0] = poly[2 * i], p[i][1] = poly[2 * i + 1];
    qsort(p, 4, sizeof p[0], pt_cmp);
    int k = 0;
    for (int i = 0; i < 4; i++) { /* lower hull */
        while (k >= 2 && cross3(hull[k - 2], hull[k - 1], p[i]) <= 0) k--;
        hull[k][0] = p[i][0], hull[k][1] = p[i][1], k++;
    }
    for (int i = 2, t = k + 1; i >= 0; i--) { /* upper hull */
        while (k >= t && cross3(hull[k - 2], hull[k - 1], p[i]) <= 0) k--;
        hull[k][0] = p[i][0], hull[k][1] = p[i][1], k++;
    }
    k--; /* last point repeats the first */
    if (k < 3) return 0; /* degenerate: a side would be 0 */
    /* Ties: cv2's rotatingCalipers visits the edges by increasing orientation modulo 90 degrees and keeps
     * the last of equal float areas, so among (near-)equal minima the largest orientation mod pi/2 wins. */
    double best = INFINITY, bw = 0, bh = 0, bcx = 0, bcy = 0, bang = 0, bmod = -1;
    for (int e = 0; e < k; e++) {
        double dx = hull[(e + 1) % k][0] - hull[e][0], dy = hull[(e + 1) % k][1] - hull[e][1];
        double len = sqrt(dx * dx + dy * dy);
        if (len == 0) continue;
        double ux = dx / len, uy = dy / len;
        double mnu = INFINITY, mxu = -INFINITY, mnv = INFINITY, mxv = -INFINITY;
        for (int i = 0; i < k; i++) {
            double pu = hull[i][0] * ux + hull[i][1] * uy;
            double pv = -hull[i][0] * uy + hull[i][1] * ux;
            mnu = fmin(mnu, pu), mxu = fmax(mxu, pu), mnv = fmin(mnv, pv), mxv = fmax(mxv, pv);
        }
        double area = (mxu - mnu) * (mxv - mnv);
        double mod = fmod(atan2(uy, ux), M_PI / 2);
        if (mod < 0) mod += M_PI / 2;
        int better = area < best * (1 - 1e-6) || (area <= best * (1 + 1e-6) && mod > bmod);
        if (better) {
            best = area;
            bmod = mod;
            bw = mxu - mnu;
            bh = mxv - mnv;
            double cu = (mnu + mxu) / 2, cv = (mnv + mxv) / 2;
            bcx = cu * ux - cv * uy;
            bcy = cu * uy + cv * ux;
            bang = atan2(uy, ux);
        }
    }
    if (!(bw >= 2 && bh >= 2)) return 0;
    rbox r = {(float)bcx, (float)bcy, (float)bw, (float)bh, (float)bang};
    *out = rbox_normalize(r, v);
    return 1;
}

void rbox_to_poly(const rbox *b, float poly[8]) {
    double c = cos(b->a), s = sin(b->a);
    double v1x = b->w / 2 * c, v1y = b->w / 2 * s, v2x = -b->h / 2 * s, v2y = b->h / 2 * c;
    double pts[4][2] = {{b->x + v1x + v2x, b->y + v1y + v2y},
                        {b->x + v1x - v2x, b->y + v1y - v2y},
                        {b->x - v1x - v2x, b->y - v1y - v2y},
                        {b->x - v1x + v2x, b->y - v1y + v2y}};
    for (int i = 0; i < 4; i++) poly[2 * i] = (float)pts[i][0], poly[2 * i + 1] = (float)pts[i][1];
}

double poly_area(const float *xy, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) {
        int j = (i + 1) % n;
        s += (double)xy[2 * i] * xy[2 * j + 1] - (double)xy[2 * j] * xy[2 * i + 1];
    }
    return fabs(s) / 2;
}

static double area_d(const double *xy, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) {
        int j = (i + 1) % n;
        s += xy[2 * i] * xy[2 * j + 1] - xy[2 * j] * xy[2 * i + 1];
    }
    return s / 2;
}

/* Sutherland-Hodgman: clip polygon (n points in `in`) by the half-plane a*x + b*y <= c; returns new count */
static int clip_half(const double *in, int n, double a, double b, double c, double *out) {
    int m = 0;
    for (int i = 0; i < n; i++) {
        const double *P = in + 2 * i, *Q = in + 2 * ((i + 1) % n);
        double fp = a * P[0] + b * P[1] - c, fq = a * Q[0] + b * Q[1] - c;
        if (fp <= 0) out[2 * m] = P[0], out[2 * m + 1] = P[1], m++;
        if ((fp < 0 && fq > 0) || (fp > 0 && fq < 0)) {
            double t = fp / (fp - fq);
            out[2 * m] = P[0] + t * (Q[0] - P[0]);
            out[2 * m + 1] = P[1] + t * (Q[1] - P[1]);
            m++;
        }
    }
    return m;
}

double poly_rect_intersection(const float *xy, int n, double x0, double y0, double x1, double y1) {
    if (n < 3) return 0;
    /* each clip at most doubles the vertex count */
    double *a = xmalloc((size_t)n * 2 * 16 * sizeof *a), *b = xmalloc((size_t)n * 2 * 16 * sizeof *b);
    for (int i = 0; i < 2 * n; i++) a[i] = xy[i];
    int m = n;
    m = clip_half(a, m, -1, 0, -x0, b);
    m = clip_half(b, m, 1, 0, x1, a);
    m = clip_half(a, m, 0, -1, -y0, b);
    m = clip_half(b, m, 0, 1, y1, a);
    double r = m >= 3 ? fabs(area_d(a, m)) : 0;
    free(a);
    free(b);
    return r;
}

double rbox_iou(const rbox *A, const rbox *B) {
    /* shift to A's center for precision, as mmcv does */
    rbox a = *A, b = *B;
    b.x -= a.x, b.y -= a.y, a.x = 0, a.y = 0;
    double area_a = (double)a.w * a.h, area_b = (double)b.w * b.h;
    if (area_a <= 0 || area_b <= 0) return 0;
    float pa[8], pb[8];
    rbox_to_poly(&a, pa);
    rbox_to_poly(&b, pb);
    double P[2 * 16], Q[2 * 16];
    for (int i = 0; i < 8; i++) P[i] = pb[i];
    /* make a's polygon counter-clockwise in the math sense for the half-plane tests */
    double pad[8];
    for (int i = 0; i < 8; i++) pad[i] = pa[i];
    if (area_d(pad, 4) < 0) {
        for (int i = 0; i < 4; i++) pad[2 * i] = pa[2 * (3 - i)], pad[2 * i + 1] = pa[2 * (3 - i) + 1];
    }
    int m = 4;
    double *in = P, *out = Q;
    for (int e = 0; e < 4 && m > 0; e++) {
        double x0 = pad[2 * e], y0 = pad[2 * e + 1], x1 = pad[2 * ((e + 1) % 4)], y1 = pad[2 * ((e + 1) % 4) + 1];
        /* inside = left of the edge: cross(e, p - p0) >= 0  <=>  -(dy)*x + dx*y >= -(dy)*x0 + dx*y0 */
        double dx = x1 - x0, dy = y1 - y0;
        m = clip_half(in, m, dy, -dx, dy * x0 - dx * y0, out);
        double *t = in; in = out; out = t;
    }
    double inter = m >= 3 ? fabs(area_d(in, m)) : 0;
    double u = area_a + area_b - inter;
    return u > 0 ? inter / u : 0;
}

typedef struct sidx {
    float s;
    int i;
} sidx;
static int sidx_cmp(const void *x, const void *y) {
    const sidx *a = x, *b = y;
    if (a->s != b->s) return a->s > b->s ? -1 : 1;
    return a->i - b->i;
}

int rbox_nms(const rbox *boxes, const float *scores, int n, float iou_thr, int *keep) {
    sidx *o = xmalloc(((size_t)n + 1) * sizeof *o);
    char *sup = xcalloc((size_t)n + 1, 1);
    for (int i = 0; i < n; i++) o[i] = (sidx){scores[i], i};
    qsort(o, (size_t)n, sizeof *o, sidx_cmp);
    int k = 0;
    for (int a = 0; a < n; a++) {
        if (sup[a]) continue;
        keep[k++] = o[a].i;
        for (int b = a + 1; b < n; b++)
            if (!sup[b] && rbox_iou(&boxes[o[a].i], &boxes[o[b].i]) >= iou_thr) sup[b] = 1;
    }
    free(o);
    free(sup);
    return k;
}

/* ---- split / merge ---- */

int dota_split_windows(int width, int height, int size, int gap, double img_rate_thr, int *win, int max) {
    if (size <= gap || size <= 0 || gap < 0 || width <= 0 || height <= 0)
        return err_set("dota_split_windows: invalid size %d / gap %d / image %dx%d", size, gap, width, height);
    int step = size - gap;
    int xn = width <= size ? 1 : (int)ceil((double)(width - size) / step + 1);
    int yn = height <= size ? 1 : (int)ceil((double)(height - size) / step + 1);
    if ((long)xn * yn > (long)max) return err_set("dota_split_windows: %d windows do not fit in %d", xn * yn, max);
    double *rate = xmalloc((size_t)xn * yn * sizeof *rate);
    int n = 0;
    for (int i = 0; i < xn; i++) {
        int xs = step * i;
        if (xn > 1 && i == xn - 1 && xs + size > width) xs = width - size;
        for (int j = 0; j < yn; j++) { /* itertools.product(x_start, y_start): x outer */
            int ys = step * j;
            if (yn > 1 && j == yn - 1 && ys + size > height) ys = height - size;
            int *w = win + 4 * n;
            w[0] = xs, w[1] = ys, w[2] = xs + size, w[3] = ys + size;
            double iw = fmin(w[2], width) - fmax(w[0], 0), ih = fmin(w[3], height) - fmax(w[1], 0);
            rate[n] = (iw * ih) / ((double)size * size);
            n++;
        }
    }
    int any = 0;
    double mx = 0;
    for (int i = 0; i < n; i++) any |= rate[i] > img_rate_thr, mx = fmax(mx, rate[i]);
    if (!any)
        for (int i = 0; i < n; i++)
            if (fabs(rate[i] - mx) < 0.01) rate[i] = 1;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (rate[i] > img_rate_thr) memmove(win + 4 * k, win + 4 * i, 4 * sizeof(int)), k++;
    free(rate);
    return k;
}

int dota_window_objects(const dota_ann *a, const int win[4], double iof_thr, dota_ann *out) {
    memset(out, 0, sizeof *out);
    out->gsd = a->gsd;
    out->imagesource = a->imagesource ? xstrdup(a->imagesource) : NULL;
    out->objects = xmalloc(((size_t)a->n_objects + 1) * sizeof *out->objects);
    for (int i = 0; i < a->n_objects; i++) {
        const dota_object *o = &a->objects[i];
        /* img_split.bbox_overlaps_iof: intersection / max(area, 1e-6), area as float32 */
        double inter = poly_rect_intersection(o->poly, 4, win[0], win[1], win[2], win[3]);
        float area = (float)poly_area(o->poly, 4);
        double iof = inter / fmax((double)area, 1e-6);
        if (!(iof >= iof_thr)) continue;
        dota_object t = *o;
        for (int k = 0; k < 4; k++) t.poly[2 * k] -= (float)win[0], t.poly[2 * k + 1] -= (float)win[1];
        if (iof < 1) t.difficult = 2;
        out->objects[out->n_objects++] = t;
    }
    return out->n_objects;
}

int dota_patch_name_parse(const char *stem, char *orig, size_t orig_size, int *x, int *y) {
    /* orig = text before the first "__"; offset = the first "__<digits>___<digits>" match */
    const char *us = strstr(stem, "__");
    size_t ol = us ? (size_t)(us - stem) : strlen(stem);
    snprintf(orig, orig_size, "%.*s", (int)ol, stem);
    *x = *y = 0;
    for (const char *p = strstr(stem, "__"); p; p = strstr(p + 1, "__")) {
        const char *q = p + 2;
        if (!isdigit((unsigned char)*q)) continue;
        const char *d = q;
        while (isdigit((unsigned char)*d)) d++;
        if (strncmp(d, "___", 3) || !isdigit((unsigned char)d[3])) continue;
        *x = atoi(q);
        *y = atoi(d + 3);
        return 0;
    }
    return -1;
}

void dota_patch_name(const char *orig, int size, int x, int y, char *out, size_t out_size) {
    snprintf(out, out_size, "%s__%d__%d___%d", orig, size, x, y);
}

int dota_merge_dets(const dota_det *dets, const int *px, const int *py, int n, int n_classes, float iou_thr,
                    dota_det *out) {
    rbox *boxes = xmalloc(((size_t)n + 1) * sizeof *boxes);
    float *scores = xmalloc(((size_t)n + 1) * sizeof *scores);
    int *idx = xmalloc(((size_t)n + 1) * sizeof *idx);
    int *keep = xmalloc(((size_t)n + 1) * sizeof *keep);
    int k = 0;
    for (int c = 0; c < n_classes; c++) {
        int m = 0;
        for (int i = 0; i < n; i++)
            if (dets[i].label == c) {
                boxes[m] = dets[i].box;
                boxes[m].x += (float)px[i];
                boxes[m].y += (float)py[i];
                scores[m] = dets[i].score;
                idx[m] = i;
                m++;
            }
        int nk = rbox_nms(boxes, scores, m, iou_thr, keep);
        for (int j = 0; j < nk; j++) {
            out[k] = dets[idx[keep[j]]];
            out[k].box = boxes[keep[j]];
            k++;
        }
    }
    free(boxes);
    free(scores);
    free(idx);
    free(keep);
    return k;
}

/* shortest decimal that reads back as the same float (like Python's repr of the value) */
static void fmt_float(char *out, size_t n, float v) {
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(out, n, "%.*g", prec, (double)v);
        if (strtof(out, NULL) == v) break;
    }
    if (!strpbrk(out, ".eEn")) strncat(out, ".0", n - strlen(out) - 1); /* 12 -> 12.0 as numpy floats print */
}

int dota_split_image(const image *img, const dota_ann *a, const char *const *classes, const char *stem, int size,
                     int gap, double img_rate_thr, double iof_thr, const uint8_t pad_rgb[3], const char *out_img_dir,
                     const char *out_ann_dir) {
    int max = 1 + (img->w / (size - gap > 0 ? size - gap : 1) + 2) * (img->h / (size - gap > 0 ? size - gap : 1) + 2);
    int *win = xmalloc((size_t)max * 4 * sizeof(int));
    int nw = dota_split_windows(img->w, img->h, size, gap, img_rate_thr, win, max);
    if (nw < 0) {
        free(win);
        return -1;
    }
    if (mkdir_p(out_img_dir) < 0 || mkdir_p(out_ann_dir) < 0) {
        free(win);
        return -1;
    }
    int rc = 0;
    for (int w = 0; w < nw && rc == 0; w++) {
        const int *W = win + 4 * w;
        char name[1024], path[4096];
        dota_patch_name(stem, W[2] - W[0], W[0], W[1], name, sizeof name);
        image patch;
        if (image_alloc(&patch, size, size, img->c) < 0) {
            rc = err_set("dota_split_image: cannot allocate a %d patch", size);
            break;
        }
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++) {
                uint8_t *d = image_px(&patch, x, y);
                int sx = W[0] + x, sy = W[1] + y;
                if (sx < img->w && sy < img->h) memcpy(d, image_px(img, sx, sy), (size_t)img->c);
                else
                    for (int c = 0; c < img->c; c++) d[c] = pad_rgb[img->c == 3 ? c : 0];
            }
        snprintf(path, sizeof path, "%s/%s.png", out_img_dir, name);
        rc = image_write_png(path, &patch);
        image_free(&patch);
        if (rc < 0) break;
        dota_ann sub;
        dota_window_objects(a, W, iof_thr, &sub);
        size_t cap = 64 + (size_t)sub.n_objects * 256, len = 0;
        char *txt = xmalloc(cap);
        txt[0] = 0;
        for (int k = 0; k < sub.n_objects; k++) {
            for (int j = 0; j < 8; j++) {
                char num[48];
                fmt_float(num, sizeof num, sub.objects[k].poly[j]);
                len += (size_t)snprintf(txt + len, cap - len, "%s ", num);
            }
            len += (size_t)snprintf(txt + len, cap - len, "%s %d\n", classes[sub.objects[k].label], sub.objects[k].difficult);
        }
        snprintf(path, sizeof path, "%s/%s.txt", out_ann_dir, name);
        rc = file_write_atomic(path, txt, len);
        free(txt);
        dota_ann_free(&sub);
    }
    free(win);
    return rc < 0 ? -1 : nw;
}

/* ---- directory ---- */

static int str_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void dota_dataset_free(dota_dataset *ds) {
    if (!ds) return;
    for (int i = 0; i < ds->n_items; i++) {
        dota_item *it = &ds->items[i];
        free(it->stem);
        dota_ann_free(&it->ann);
        free(it->boxes);
        free(it->labels);
        free(it->obj_index);
    }
    free(ds->items);
    memset(ds, 0, sizeof *ds);
}

int dota_load_dir(const char *ann_dir, const char *const *classes, int n_classes, rbox_version v,
                  int filter_empty, const dota_options *opts, dota_dataset *ds) {
    memset(ds, 0, sizeof *ds);
    DIR *d = opendir(ann_dir);
    if (!d) return err_set("%s: cannot open the annotation folder: %s", ann_dir, strerror(errno));
    char **names = NULL;
    int nn = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".txt")) continue;
        if (nn == cap) cap = cap ? 2 * cap : 64, names = xrealloc(names, (size_t)cap * sizeof *names);
        names[nn++] = xstrdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)nn, sizeof *names, str_cmp);
    ds->items = xcalloc((size_t)nn + 1, sizeof *ds->items);
    int rc = 0;
    for (int i = 0; i < nn; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", ann_dir, names[i]);
        dota_item it;
        memset(&it, 0, sizeof it);
        if (dota_load_txt(path, classes, n_classes, opts, &it.ann, &ds->n_skipped) < 0) {
            rc = -1;
            break;
        }
        ds->n_unknown += it.ann.n_unknown;
        it.stem = xstrdup(names[i]);
        it.stem[strlen(it.stem) - 4] = 0;
        it.boxes = xmalloc(((size_t)it.ann.n_objects + 1) * sizeof *it.boxes);
        it.labels = xmalloc(((size_t)it.ann.n_objects + 1) * sizeof *it.labels);
        it.obj_index = xmalloc(((size_t)it.ann.n_objects + 1) * sizeof *it.obj_index);
        for (int k = 0; k < it.ann.n_objects; k++) {
            if (poly_to_rbox(it.ann.objects[k].poly, v, &it.boxes[it.n_boxes])) {
                it.labels[it.n_boxes] = it.ann.objects[k].label;
                it.obj_index[it.n_boxes] = k;
                it.n_boxes++;
            } else {
                ds->n_dropped++;
            }
        }
        if (filter_empty && it.n_boxes == 0) {
            free(it.stem);
            dota_ann_free(&it.ann);
            free(it.boxes), free(it.labels), free(it.obj_index);
            continue;
        }
        ds->items[ds->n_items++] = it;
    }
    for (int i = 0; i < nn; i++) free(names[i]);
    free(names);
    if (rc < 0) dota_dataset_free(ds);
    return rc;
}
