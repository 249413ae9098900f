/* mask.c - COCO run-length masks: the same pixels and numbers as pycocotools' maskApi (see mask.h). */
#include "mask.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"

void rle_free(rle *r) {
    free(r->cnts);
    r->cnts = NULL;
    r->m = 0;
}

static void rle_set(rle *r, uint32_t h, uint32_t w, size_t m, const uint32_t *cnts) {
    r->h = h;
    r->w = w;
    r->m = m;
    r->cnts = m ? xmalloc(m * sizeof(uint32_t)) : NULL;
    if (m && cnts) memcpy(r->cnts, cnts, m * sizeof(uint32_t));
}

void rle_copy(rle *dst, const rle *src) { rle_set(dst, src->h, src->w, src->m, src->cnts); }

void rle_encode(rle *r, const uint8_t *mask, uint32_t h, uint32_t w) {
    size_t n = (size_t)h * w, m = 0;
    uint32_t *runs = xmalloc((n + 1) * sizeof(uint32_t));
    uint8_t cur = 0;
    uint32_t len = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = mask[i] != 0;
        if (b != cur) {
            runs[m++] = len;
            len = 0;
            cur = b;
        }
        len++;
    }
    runs[m++] = len;
    rle_set(r, h, w, m, runs);
    free(runs);
}

void rle_encode_rowmajor(rle *r, const uint8_t *mask, uint32_t h, uint32_t w) {
    size_t n = (size_t)h * w, m = 0;
    uint32_t *runs = xmalloc((n + 1) * sizeof(uint32_t));
    uint8_t cur = 0;
    uint32_t len = 0;
    for (uint32_t x = 0; x < w; x++)
        for (uint32_t y = 0; y < h; y++) {
            uint8_t b = mask[(size_t)y * w + x] != 0;
            if (b != cur) {
                runs[m++] = len;
                len = 0;
                cur = b;
            }
            len++;
        }
    runs[m++] = len;
    rle_set(r, h, w, m, runs);
    free(runs);
}

int rle_check(const rle *r) {
    uint64_t s = 0;
    for (size_t i = 0; i < r->m; i++) s += r->cnts[i];
    if (s != (uint64_t)r->h * r->w)
        return err_set("RLE run lengths sum to %llu but the mask is %ux%u = %llu pixels", (unsigned long long)s,
                       r->h, r->w, (unsigned long long)r->h * r->w);
    return 0;
}

int rle_decode(const rle *r, uint8_t *mask) {
    if (rle_check(r)) return -1;
    size_t p = 0;
    uint8_t v = 0;
    for (size_t i = 0; i < r->m; i++) {
        memset(mask + p, v, r->cnts[i]);
        p += r->cnts[i];
        v = !v;
    }
    return 0;
}

char *rle_to_string(const rle *r) {
    char *s = xmalloc(r->m * 7 + 1);
    size_t p = 0;
    for (size_t i = 0; i < r->m; i++) {
        int64_t x = r->cnts[i];
        if (i > 2) x -= (int64_t)r->cnts[i - 2];
        for (;;) {
            int c = (int)(x & 0x1f);
            x >>= 5; /* arithmetic shift keeps the sign */
            int more = (c & 0x10) ? x != -1 : x != 0;
            if (more) c |= 0x20;
            s[p++] = (char)(c + 48);
            if (!more) break;
        }
    }
    s[p] = 0;
    return s;
}

int rle_from_string(rle *r, const char *s, uint32_t h, uint32_t w) {
    size_t len = strlen(s), m = 0, p = 0;
    uint32_t *cnts = xmalloc((len + 1) * sizeof(uint32_t));
    while (p < len) {
        int64_t x = 0;
        int k = 0, more = 1;
        while (more) {
            if (p >= len) {
                free(cnts);
                return err_set("compressed RLE string is truncated at character %zu", p);
            }
            int c = (unsigned char)s[p] - 48;
            if (c < 0 || c > 63 || k > 12) {
                free(cnts);
                return err_set("compressed RLE string has an invalid character '%c' at position %zu", s[p], p);
            }
            x |= (int64_t)(c & 0x1f) << (5 * k);
            more = c & 0x20;
            p++;
            k++;
            if (!more && (c & 0x10)) x |= (int64_t)-1 * ((int64_t)1 << (5 * k));
        }
        if (m > 2) x += (int64_t)cnts[m - 2];
        if (x < 0 || x > UINT32_MAX) {
            free(cnts);
            return err_set("compressed RLE string decodes to an invalid run length %lld (run %zu)", (long long)x, m);
        }
        cnts[m++] = (uint32_t)x;
    }
    rle_set(r, h, w, m, cnts);
    free(cnts);
    if (rle_check(r)) {
        rle_free(r);
        return -1;
    }
    return 0;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x > y ? 1 : x < y ? -1 : 0;
}

/* The pycocotools rasterisation: vertices are scaled by 5 and rounded, every edge is walked one step per
 * unit of its longer axis, and the points where the walk changes column give, after scaling back, the
 * first pixel inside the polygon in each crossed column; sorting those crossings column-major yields the
 * runs. */
int rle_from_poly(rle *r, const double *xy, size_t k, uint32_t h, uint32_t w) {
    const double scale = 5;
    memset(r, 0, sizeof *r);
    if (k == 0) return err_set("polygon without vertices");
    for (size_t j = 0; j < 2 * k; j++)
        if (!(fabs(xy[j]) <= 1e6)) return err_set("polygon coordinate %zu is %g (must be finite, |v| <= 1e6)", j, xy[j]);
    int *vx = xmalloc((k + 1) * sizeof(int)), *vy = xmalloc((k + 1) * sizeof(int));
    for (size_t j = 0; j < k; j++) {
        vx[j] = (int)(scale * xy[2 * j] + .5);
        vy[j] = (int)(scale * xy[2 * j + 1] + .5);
    }
    vx[k] = vx[0];
    vy[k] = vy[0];
    size_t npts = 0;
    for (size_t j = 0; j < k; j++) {
        int ax = abs(vx[j] - vx[j + 1]), ay = abs(vy[j] - vy[j + 1]);
        npts += (size_t)(ax > ay ? ax : ay) + 1;
    }
    int *px = xmalloc((npts + 1) * sizeof(int)), *py = xmalloc((npts + 1) * sizeof(int));
    size_t n = 0;
    for (size_t j = 0; j < k; j++) {
        int x0 = vx[j], x1 = vx[j + 1], y0 = vy[j], y1 = vy[j + 1];
        int dx = abs(x1 - x0), dy = abs(y0 - y1);
        int along_x = dx >= dy;
        int rev = along_x ? x0 > x1 : y0 > y1;
        if (rev) {
            int t = x0;
            x0 = x1;
            x1 = t;
            t = y0;
            y0 = y1;
            y1 = t;
        }
        if (along_x) {
            double slope = (double)(y1 - y0) / dx;
            for (int d = 0; d <= dx; d++) {
                int t = rev ? dx - d : d;
                px[n] = t + x0;
                py[n] = (int)(y0 + slope * t + .5);
                n++;
            }
        } else {
            double slope = (double)(x1 - x0) / dy;
            for (int d = 0; d <= dy; d++) {
                int t = rev ? dy - d : d;
                py[n] = t + y0;
                px[n] = (int)(x0 + slope * t + .5);
                n++;
            }
        }
    }
    /* column crossings, scaled back to pixel units */
    uint32_t *pos = xmalloc((n + 1) * sizeof(uint32_t));
    size_t np = 0;
    for (size_t j = 1; j < n; j++) {
        if (px[j] == px[j - 1]) continue;
        double xd = (double)(px[j] < px[j - 1] ? px[j] : px[j] - 1);
        xd = (xd + .5) / scale - .5;
        if (floor(xd) != xd || xd < 0 || xd > (double)((size_t)w - 1)) continue;
        double yd = (double)(py[j] < py[j - 1] ? py[j] : py[j - 1]);
        yd = (yd + .5) / scale - .5;
        if (yd < 0)
            yd = 0;
        else if (yd > h)
            yd = h;
        yd = ceil(yd);
        pos[np++] = (uint32_t)((int)xd * (int)h + (int)yd);
    }
    pos[np++] = (uint32_t)((size_t)h * w);
    free(vx);
    free(vy);
    free(px);
    free(py);
    qsort(pos, np, sizeof(uint32_t), cmp_u32);
    /* successive differences are the run lengths; zero-length runs after the first merge two runs */
    uint32_t prev = 0;
    for (size_t j = 0; j < np; j++) {
        uint32_t t = pos[j];
        pos[j] -= prev;
        prev = t;
    }
    uint32_t *runs = xmalloc(np * sizeof(uint32_t));
    size_t m = 0, j = 0;
    runs[m++] = pos[j++];
    while (j < np) {
        if (pos[j] > 0) {
            runs[m++] = pos[j++];
        } else {
            j++;
            if (j < np) runs[m - 1] += pos[j++];
        }
    }
    rle_set(r, h, w, m, runs);
    free(pos);
    free(runs);
    return 0;
}

int rle_from_bbox(rle *r, const double bb[4], uint32_t h, uint32_t w) {
    double x0 = bb[0], x1 = bb[0] + bb[2], y0 = bb[1], y1 = bb[1] + bb[3];
    double xy[8] = {x0, y0, x0, y1, x1, y1, x1, y0};
    return rle_from_poly(r, xy, 4, h, w);
}

/* Walks the runs of one RLE: value and remaining length of the current run. */
typedef struct run_cursor {
    const rle *r;
    size_t i;
    uint32_t left;
    int v;
} run_cursor;

static void cursor_init(run_cursor *c, const rle *r) {
    c->r = r;
    c->i = 0;
    c->v = 0;
    c->left = r->m ? r->cnts[0] : 0;
    while (c->left == 0 && c->i + 1 < r->m) { /* skip empty runs (a mask starting with a 1) */
        c->i++;
        c->left = r->cnts[c->i];
        c->v = !c->v;
    }
}

static void cursor_advance(run_cursor *c, uint32_t n) {
    c->left -= n;
    while (c->left == 0 && c->i + 1 < c->r->m) {
        c->i++;
        c->left = c->r->cnts[c->i];
        c->v = !c->v;
    }
}

void rle_merge(const rle *rs, size_t n, rle *out, int intersect) {
    if (n == 0) {
        rle_set(out, 0, 0, 0, NULL);
        return;
    }
    if (n == 1) {
        rle_copy(out, &rs[0]);
        return;
    }
    uint32_t h = rs[0].h, w = rs[0].w;
    for (size_t i = 1; i < n; i++)
        if (rs[i].h != h || rs[i].w != w) {
            rle_set(out, 0, 0, 0, NULL);
            return;
        }
    rle acc;
    rle_copy(&acc, &rs[0]);
    size_t total = (size_t)h * w;
    uint32_t *runs = xmalloc((total + 2) * sizeof(uint32_t));
    for (size_t i = 1; i < n; i++) {
        run_cursor a, b;
        cursor_init(&a, &acc);
        cursor_init(&b, &rs[i]);
        size_t m = 0, done = 0;
        int cur = 0;
        uint32_t len = 0;
        while (done < total) {
            uint32_t step = a.left < b.left ? a.left : b.left;
            if (step == 0) break; /* malformed input: runs do not cover the mask */
            int v = intersect ? (a.v && b.v) : (a.v || b.v);
            if (v != cur) {
                runs[m++] = len;
                len = 0;
                cur = v;
            }
            len += step;
            done += step;
            cursor_advance(&a, step);
            cursor_advance(&b, step);
        }
        runs[m++] = len;
        rle_free(&acc);
        rle_set(&acc, h, w, m, runs);
    }
    free(runs);
    *out = acc;
}

uint64_t rle_area(const rle *r) {
    uint64_t a = 0;
    for (size_t j = 1; j < r->m; j += 2) a += r->cnts[j];
    return a;
}

/* Same arithmetic as pycocotools' rleToBbox, in 32-bit unsigned integers. */
void rle_to_bbox(const rle *r, double bb[4]) {
    uint32_t h = r->h, w = r->w;
    size_t m = (r->m / 2) * 2;
    if (m == 0 || h == 0) {
        bb[0] = bb[1] = bb[2] = bb[3] = 0;
        return;
    }
    uint32_t xs = w, ys = h, xe = 0, ye = 0, cc = 0, xprev = 0;
    for (size_t j = 0; j < m; j++) {
        cc += r->cnts[j];
        uint32_t t = cc - (uint32_t)(j % 2);
        uint32_t y = t % h, x = (t - y) / h;
        if (j % 2 == 0)
            xprev = x;
        else if (xprev < x) { /* the run spans columns: full height */
            ys = 0;
            ye = h - 1;
        }
        if (x < xs) xs = x;
        if (x > xe) xe = x;
        if (y < ys) ys = y;
        if (y > ye) ye = y;
    }
    bb[0] = xs;
    bb[2] = xe - xs + 1;
    bb[1] = ys;
    bb[3] = ye - ys + 1;
}

double bbox_iou(const double d[4], const double g[4], int gt_crowd) {
    double da = d[2] * d[3], ga = g[2] * g[3];
    double iw = fmin(d[2] + d[0], g[2] + g[0]) - fmax(d[0], g[0]);
    if (iw <= 0) return 0;
    double ih = fmin(d[3] + d[1], g[3] + g[1]) - fmax(d[1], g[1]);
    if (ih <= 0) return 0;
    double inter = iw * ih;
    double uni = gt_crowd ? da : da + ga - inter;
    return inter / uni;
}

double rle_iou(const rle *dt, const rle *gt, int gt_crowd) {
    double db[4], gb[4];
    rle_to_bbox(dt, db);
    rle_to_bbox(gt, gb);
    if (!(bbox_iou(db, gb, gt_crowd) > 0)) return 0;
    if (dt->h != gt->h || dt->w != gt->w) return -1;
    run_cursor a, b;
    cursor_init(&a, dt);
    cursor_init(&b, gt);
    size_t total = (size_t)dt->h * dt->w, done = 0;
    uint64_t inter = 0, uni = 0;
    while (done < total) {
        uint32_t step = a.left < b.left ? a.left : b.left;
        if (step == 0) break;
        if (a.v || b.v) uni += step;
        if (a.v && b.v) inter += step;
        done += step;
        cursor_advance(&a, step);
        cursor_advance(&b, step);
    }
    if (inter == 0) return 0;
    if (gt_crowd) uni = rle_area(dt);
    return (double)inter / (double)uni;
}
