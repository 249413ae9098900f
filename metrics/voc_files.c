/* voc_files.c - VOC evaluation from a VOCdevkit folder and comp4 detection files (see voc_files.h). */
#include "voc_files.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/common.h"
#include "../datasets/voc_xml.h"

const char *const voc_class_names[20] = {"aeroplane", "bicycle", "bird",  "boat",        "bottle", "bus",   "car",
                                         "cat",       "chair",   "cow",   "diningtable", "dog",    "horse", "motorbike",
                                         "person",    "pottedplant", "sheep", "sofa",    "train",  "tvmonitor"};

typedef struct name_idx {
    char *name;
    int idx;
} name_idx;

static int cmp_name(const void *a, const void *b) { return strcmp(((const name_idx *)a)->name, ((const name_idx *)b)->name); }

static int find_name(const name_idx *t, int n, const char *s) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(t[mid].name, s);
        if (!c) return t[mid].idx;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

int voc_eval_files(const char *root, const char *split, const char *det_dir, const char *det_prefix, int protocol,
                   int ap_mode, double iou_thr, voc_result *out) {
    char path[4096];
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(det_dir, &st) != 0 || !S_ISDIR(st.st_mode)) /* a missing class file scores 0, a missing folder is a mistake */
        return err_set("%s: no such detections folder (the comp4_det_<split>_<class>.txt files of a run lie in "
                       "<runs>/<task>/<dataset>/<method>/dets)", det_dir);
    snprintf(path, sizeof path, "%s/ImageSets/Main/%s.txt", root, split);
    size_t n;
    char *list = file_read_all(path, &n);
    if (!list) return -1;
    /* image ids, one per line */
    int n_img = 0, cap = 256;
    name_idx *imgs = xmalloc((size_t)cap * sizeof(name_idx));
    for (char *save = NULL, *tok = strtok_r(list, "\r\n", &save); tok; tok = strtok_r(NULL, "\r\n", &save)) {
        while (*tok == ' ' || *tok == '\t') tok++;
        char *e = tok + strlen(tok);
        while (e > tok && (e[-1] == ' ' || e[-1] == '\t')) *--e = 0;
        if (!*tok) continue;
        if (n_img == cap) imgs = xrealloc(imgs, (size_t)(cap *= 2) * sizeof(name_idx));
        imgs[n_img] = (name_idx){xstrdup(tok), n_img};
        n_img++;
    }
    free(list);
    int rc = 0, n_gt = 0, gcap = 1024, n_dt = 0, dcap = 1024;
    voc_gt_box *gt = xmalloc((size_t)gcap * sizeof(voc_gt_box));
    voc_det_box *dt = xmalloc((size_t)dcap * sizeof(voc_det_box));
    double shift = protocol == VOC_PROTO_MMDET ? 1 : 0;
    for (int i = 0; i < n_img && !rc; i++) {
        snprintf(path, sizeof path, "%s/Annotations/%s.xml", root, imgs[i].name);
        voc_annotation a;
        if (voc_xml_load(path, &a) < 0) {
            rc = -1;
            break;
        }
        for (int j = 0; j < a.n_objects; j++) {
            int c = -1;
            for (int k = 0; k < 20; k++)
                if (!strcmp(a.objects[j].name, voc_class_names[k])) c = k;
            if (c < 0) continue; /* not a VOC class: both tools skip it */
            if (n_gt == gcap) gt = xrealloc(gt, (size_t)(gcap *= 2) * sizeof(voc_gt_box));
            voc_object *o = &a.objects[j];
            /* int(float(text)) as both tools read integers */
            double b[4] = {trunc(o->xmin), trunc(o->ymin), trunc(o->xmax), trunc(o->ymax)};
            gt[n_gt] = (voc_gt_box){i, c, {b[0] - shift, b[1] - shift, b[2] - shift, b[3] - shift}, o->difficult != 0};
            n_gt++;
        }
        voc_annotation_free(&a);
    }
    name_idx *sorted = xmalloc((size_t)(n_img + 1) * sizeof(name_idx));
    memcpy(sorted, imgs, (size_t)n_img * sizeof(name_idx));
    qsort(sorted, n_img, sizeof(name_idx), cmp_name);
    for (int c = 0; c < 20 && !rc; c++) {
        if (det_prefix)
            snprintf(path, sizeof path, "%s/%s%s.txt", det_dir, det_prefix, voc_class_names[c]);
        else
            snprintf(path, sizeof path, "%s/comp4_det_%s_%s.txt", det_dir, split, voc_class_names[c]);
        if (!file_exists(path)) continue;
        char *buf = file_read_all(path, &n);
        if (!buf) {
            rc = -1;
            break;
        }
        int line = 0;
        char *p = buf;
        while (*p && !rc) {
            line++;
            char *eol = strchr(p, '\n');
            if (eol) *eol = 0;
            char id[512];
            double v[5];
            int used = 0;
            char *s = p;
            while (*s == ' ' || *s == '\t' || *s == '\r') s++;
            if (*s) {
                if (sscanf(s, "%511s %lf %lf %lf %lf %lf %n", id, &v[0], &v[1], &v[2], &v[3], &v[4], &used) != 6) {
                    rc = err_set("%s:%d: expected \"image_id score x1 y1 x2 y2\"", path, line);
                    break;
                }
                int im = find_name(sorted, n_img, id);
                if (im < 0) {
                    rc = err_set("%s:%d: image id '%s' is not in %s/ImageSets/Main/%s.txt", path, line, id, root, split);
                    break;
                }
                if (n_dt == dcap) dt = xrealloc(dt, (size_t)(dcap *= 2) * sizeof(voc_det_box));
                dt[n_dt++] = (voc_det_box){im, c, v[0], {v[1] - shift, v[2] - shift, v[3] - shift, v[4] - shift}};
            }
            if (!eol) break;
            p = eol + 1;
        }
        free(buf);
    }
    if (!rc) rc = voc_eval_map(gt, n_gt, dt, n_dt, n_img, 20, iou_thr, protocol, ap_mode, out);
    for (int i = 0; i < n_img; i++) free(imgs[i].name);
    free(imgs);
    free(sorted);
    free(gt);
    free(dt);
    return rc;
}
