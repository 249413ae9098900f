/* ade20k.c - ADE20K folder scan and label-map reading (see ade20k.h). */
#include "ade20k.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/common.h"

/* mmseg ADE20KDataset.CLASSES (index = label after reduce_zero_label) */
const char *const ade20k_classes[ADE20K_N_CLASSES] = {
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed ", "windowpane", "grass", "cabinet",
    "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair", "car", "water",
    "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field", "armchair", "seat", "fence", "desk",
    "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion", "base", "box", "column", "signboard",
    "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace", "refrigerator", "grandstand",
    "path", "stairs", "runway", "case", "pool table", "pillow", "screen door", "stairway", "river", "bridge",
    "bookcase", "blind", "coffee table", "toilet", "flower", "book", "hill", "bench", "countertop", "stove",
    "palm", "kitchen island", "computer", "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus",
    "towel", "light", "truck", "tower", "chandelier", "awning", "streetlight", "booth", "television receiver",
    "airplane", "dirt track", "apparel", "pole", "land", "bannister", "escalator", "ottoman", "bottle",
    "buffet", "poster", "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer", "plaything",
    "swimming pool", "stool", "barrel", "basket", "waterfall", "tent", "bag", "minibike", "cradle", "oven",
    "ball", "food", "step", "tank", "trade name", "microwave", "pot", "animal", "bicycle", "lake",
    "dishwasher", "screen", "blanket", "sculpture", "hood", "sconce", "vase", "traffic light", "tray",
    "ashcan", "fan", "pier", "crt screen", "plate", "monitor", "bulletin board", "shower", "radiator",
    "glass", "clock", "flag"};

typedef struct strlist {
    char **v;
    int n, cap;
} strlist;
static void sl_push(strlist *l, char *s) {
    if (l->n == l->cap) l->cap = l->cap ? 2 * l->cap : 256, l->v = xrealloc(l->v, (size_t)l->cap * sizeof *l->v);
    l->v[l->n++] = s;
}

/* relative names of *.jpg under dir (recursive, as mmcv.scandir) */
static int scan_jpg(const char *root, const char *rel, strlist *out, int depth) {
    char path[4096];
    snprintf(path, sizeof path, "%s%s%s", root, rel[0] ? "/" : "", rel);
    DIR *d = opendir(path);
    if (!d) return err_set("%s: cannot open the image folder: %s", path, strerror(errno));
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char sub[4096];
        snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
        char full[8192];
        snprintf(full, sizeof full, "%s/%s", root, sub);
        struct stat st;
        if (stat(full, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth < 16 && scan_jpg(root, sub, out, depth + 1) < 0) {
                rc = -1;
                break;
            }
        } else {
            size_t l = strlen(e->d_name);
            if (l > 4 && !strcmp(e->d_name + l - 4, ".jpg")) sl_push(out, xstrdup(sub));
        }
    }
    closedir(d);
    return rc;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void ade20k_close(ade20k_dataset *ds) {
    if (!ds) return;
    for (int i = 0; i < ds->n; i++) free(ds->images[i]), free(ds->labels[i]);
    free(ds->images);
    free(ds->labels);
    memset(ds, 0, sizeof *ds);
}

int ade20k_open(const char *root, const char *split, int skip_bad, ade20k_dataset *ds, int *n_skipped) {
    memset(ds, 0, sizeof *ds);
    if (!split) split = "training";
    char imgdir[4096], anndir[4096];
    snprintf(imgdir, sizeof imgdir, "%s/images/%s", root, split);
    snprintf(anndir, sizeof anndir, "%s/annotations/%s", root, split);
    strlist names = {0};
    if (scan_jpg(imgdir, "", &names, 0) < 0) {
        for (int i = 0; i < names.n; i++) free(names.v[i]);
        free(names.v);
        return -1;
    }
    qsort(names.v, (size_t)names.n, sizeof *names.v, cmp_str);
    ds->images = xmalloc(((size_t)names.n + 1) * sizeof(char *));
    ds->labels = xmalloc(((size_t)names.n + 1) * sizeof(char *));
    int rc = 0, warned = 0;
    for (int i = 0; i < names.n; i++) {
        char img[8192], lab[8192];
        snprintf(img, sizeof img, "%s/%s", imgdir, names.v[i]);
        snprintf(lab, sizeof lab, "%s/%.*s.png", anndir, (int)strlen(names.v[i]) - 4, names.v[i]);
        if (!file_exists(lab)) {
            if (!skip_bad) {
                rc = err_set("%s: the label map for image %s is missing", lab, img);
                break;
            }
            if (warned++ < 10) fprintf(stderr, "deltabench: warning: %s: label map missing (image skipped)\n", lab);
            if (n_skipped) (*n_skipped)++;
            continue;
        }
        ds->images[ds->n] = xstrdup(img);
        ds->labels[ds->n] = xstrdup(lab);
        ds->n++;
    }
    for (int i = 0; i < names.n; i++) free(names.v[i]);
    free(names.v);
    if (rc == 0 && ds->n == 0 && !skip_bad) rc = err_set("%s: no *.jpg images found", imgdir);
    if (rc < 0) ade20k_close(ds);
    return rc;
}

void seg_reduce_zero_label(uint8_t *lab, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint8_t v = lab[i];
        lab[i] = v == 0 ? 255 : v == 255 ? 255 : (uint8_t)(v - 1);
    }
}

static int seg_check(const char *name, int reduce_zero_label, int n_classes, image *out) {
    size_t n = (size_t)out->w * out->h;
    if (reduce_zero_label) seg_reduce_zero_label(out->data, n);
    for (size_t i = 0; i < n; i++) {
        int v = out->data[i];
        if (v != SEG_IGNORE && v >= n_classes) {
            int x = (int)(i % (size_t)out->w), y = (int)(i / (size_t)out->w);
            image_free(out);
            return err_set("%s: pixel (x %d, y %d) has label %d%s, outside 0..%d and not 255 (ignore)", name, x, y,
                           reduce_zero_label ? v + 1 : v, reduce_zero_label ? " (before reduce_zero_label)" : "",
                           n_classes - 1);
        }
    }
    return 0;
}

int seg_read_label(const char *path, int reduce_zero_label, int n_classes, image *out) {
    if (image_read(path, IMG_LABEL, out) < 0) return -1;
    return seg_check(path, reduce_zero_label, n_classes, out);
}

int seg_decode_label(const uint8_t *buf, size_t n, const char *name, int reduce_zero_label, int n_classes,
                     image *out) {
    if (image_decode(buf, n, name, IMG_LABEL, out) < 0) return -1;
    return seg_check(name, reduce_zero_label, n_classes, out);
}
