/* seg_eval.c - mmseg-compatible mIoU (see seg_eval.h). */
#include "seg_eval.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "../datasets/image.h"

void seg_eval_init(seg_eval *s, int n_classes, int ignore_index, int reduce_zero_label) {
    memset(s, 0, sizeof *s);
    s->n_classes = n_classes;
    s->ignore_index = ignore_index;
    s->reduce_zero_label = reduce_zero_label;
    s->inter = xcalloc((size_t)n_classes + 1, sizeof(double));
    s->pred = xcalloc((size_t)n_classes + 1, sizeof(double));
    s->label = xcalloc((size_t)n_classes + 1, sizeof(double));
    s->iou = xcalloc((size_t)n_classes + 1, sizeof(double));
    s->acc = xcalloc((size_t)n_classes + 1, sizeof(double));
}

static inline void count_pixel(seg_eval *s, int32_t p, int32_t g) {
    if (s->reduce_zero_label) {
        /* mmseg on uint8: 0 -> 255, then minus 1, then 254 -> 255 */
        g = g == 0 ? 255 : g;
        g = (g - 1) & 0xff;
        if (g == 254) g = 255;
    }
    if (g == s->ignore_index) return;
    int C = s->n_classes;
    if (g >= 0 && g < C) s->label[g] += 1;
    if (p >= 0 && p < C) {
        s->pred[p] += 1;
        if (p == g) s->inter[p] += 1;
    }
}

void seg_eval_accumulate(seg_eval *s, const int32_t *pred, const int32_t *gt, size_t n) {
    for (size_t i = 0; i < n; i++) count_pixel(s, pred[i], gt[i]);
}

void seg_eval_accumulate_u8(seg_eval *s, const uint8_t *pred, const uint8_t *gt, size_t n) {
    for (size_t i = 0; i < n; i++) count_pixel(s, pred[i], gt[i]);
}

void seg_eval_finish(seg_eval *s) {
    double si = 0, sl = 0, mi = 0, ma = 0;
    int ni = 0, na = 0;
    for (int c = 0; c < s->n_classes; c++) {
        double u = s->pred[c] + s->label[c] - s->inter[c];
        s->iou[c] = u > 0 ? s->inter[c] / u : NAN;
        s->acc[c] = s->label[c] > 0 ? s->inter[c] / s->label[c] : NAN;
        si += s->inter[c];
        sl += s->label[c];
        if (!isnan(s->iou[c])) mi += s->iou[c], ni++;
        if (!isnan(s->acc[c])) ma += s->acc[c], na++;
    }
    s->aacc = sl > 0 ? si / sl : NAN;
    s->miou = ni ? mi / ni : NAN;
    s->macc = na ? ma / na : NAN;
}

void seg_eval_free(seg_eval *s) {
    free(s->inter);
    free(s->pred);
    free(s->label);
    free(s->iou);
    free(s->acc);
    memset(s, 0, sizeof *s);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int seg_eval_dirs(seg_eval *s, const char *gt_dir, const char *pred_dir, const char *suffix, int *n_images) {
    if (!suffix) suffix = ".png";
    *n_images = 0;
    DIR *d = opendir(gt_dir);
    if (!d) return err_set("%s: cannot open the ground-truth folder", gt_dir);
    char **names = NULL;
    int n = 0, cap = 0;
    size_t sl = strlen(suffix);
    for (struct dirent *e; (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        if (l <= sl || strcmp(e->d_name + l - sl, suffix)) continue;
        if (n == cap) names = xrealloc(names, (size_t)(cap = cap ? 2 * cap : 64) * sizeof(char *));
        names[n++] = xstrdup(e->d_name);
    }
    closedir(d);
    if (n == 0) {
        free(names);
        return err_set("%s: no *%s label maps", gt_dir, suffix);
    }
    qsort(names, n, sizeof(char *), cmp_str);
    int rc = 0;
    char gp[4096], pp[4096];
    for (int i = 0; i < n && !rc; i++) {
        snprintf(gp, sizeof gp, "%s/%s", gt_dir, names[i]);
        snprintf(pp, sizeof pp, "%s/%s", pred_dir, names[i]);
        if (!file_exists(pp)) {
            rc = err_set("%s: no prediction for ground truth %s", pp, gp);
            break;
        }
        image g, p;
        if (image_read(gp, IMG_LABEL, &g) < 0) {
            rc = -1;
            break;
        }
        if (image_read(pp, IMG_LABEL, &p) < 0) {
            image_free(&g);
            rc = -1;
            break;
        }
        if (g.w != p.w || g.h != p.h)
            rc = err_set("%s: prediction is %dx%d but the ground truth %s is %dx%d (predictions must be at the original "
                         "resolution)", pp, p.w, p.h, gp, g.w, g.h);
        else
            seg_eval_accumulate_u8(s, p.data, g.data, (size_t)g.w * g.h);
        image_free(&g);
        image_free(&p);
        (*n_images)++;
    }
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    if (!rc) seg_eval_finish(s);
    return rc;
}
