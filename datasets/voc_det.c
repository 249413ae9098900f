/* voc_det.c - Pascal VOC detection dataset on top of voc_xml (see voc_det.h). */
#include "voc_det.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "image.h"
#include "voc_xml.h"

const char *const voc_classes[VOC_N_CLASSES] = {"aeroplane", "bicycle", "bird",  "boat",      "bottle",
                                                "bus",       "car",     "cat",   "chair",     "cow",
                                                "diningtable", "dog",   "horse", "motorbike", "person",
                                                "pottedplant", "sheep", "sofa",  "train",     "tvmonitor"};

int voc_read_id_list(const char *path, char ***ids, int *n) {
    *ids = NULL;
    *n = 0;
    size_t len;
    char *buf = file_read_all(path, &len);
    if (!buf) return -1;
    int cap = 0;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        while (*line && isspace((unsigned char)*line)) line++;
        size_t k = 0;
        while (line[k] && !isspace((unsigned char)line[k])) k++;
        if (!k) continue;
        if (*n == cap) cap = cap ? 2 * cap : 1024, *ids = xrealloc(*ids, (size_t)cap * sizeof **ids);
        (*ids)[*n] = xmalloc(k + 1);
        memcpy((*ids)[*n], line, k);
        (*ids)[*n][k] = 0;
        (*n)++;
    }
    free(buf);
    if (*n == 0) {
        free(*ids);
        *ids = NULL;
        return err_set("%s: the image list is empty", path);
    }
    return 0;
}

void voc_det_free(voc_det_dataset *ds) {
    if (!ds) return;
    for (int i = 0; i < ds->n; i++) {
        voc_det_image *im = &ds->images[i];
        free(im->id), free(im->image_path), free(im->ann_path), free(im->boxes), free(im->labels);
    }
    free(ds->images);
    memset(ds, 0, sizeof *ds);
}

static int voc_class_index(const char *name) {
    for (int c = 0; c < VOC_N_CLASSES; c++)
        if (!strcmp(voc_classes[c], name)) return c;
    return -1;
}

/* one image; returns 0, -1 on error */
static int load_one(const char *root, const char *id, int year, voc_det_image *im, int *unknown) {
    memset(im, 0, sizeof *im);
    char p[8192];
    snprintf(p, sizeof p, "%s/Annotations/%s.xml", root, id);
    voc_annotation a;
    if (voc_xml_load(p, &a) < 0) return -1;
    im->id = xstrdup(id);
    im->ann_path = xstrdup(p);
    snprintf(p, sizeof p, "%s/JPEGImages/%s.jpg", root, id);
    im->image_path = xstrdup(p);
    im->year = year;
    if (a.has_size) {
        im->width = a.width;
        im->height = a.height;
    } else {
        int c;
        if (image_read_info(im->image_path, &im->width, &im->height, &c) < 0) {
            err_prefix("%s has no <size>", im->ann_path);
            voc_annotation_free(&a);
            return -1;
        }
    }
    im->boxes = xmalloc(((size_t)a.n_objects + 1) * 4 * sizeof(float));
    im->labels = xmalloc(((size_t)a.n_objects + 1) * sizeof(int));
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < a.n_objects; i++) {
            const voc_object *o = &a.objects[i];
            int lab = voc_class_index(o->name);
            if (lab < 0) {
                if (pass == 0) (*unknown)++;
                continue;
            }
            if ((o->difficult != 0) != pass) continue;
            int k = im->n_gt + im->n_ignore;
            /* mmdet: int(float(text)) truncates toward zero, then - 1 */
            im->boxes[4 * k + 0] = (float)((long)o->xmin - 1);
            im->boxes[4 * k + 1] = (float)((long)o->ymin - 1);
            im->boxes[4 * k + 2] = (float)((long)o->xmax - 1);
            im->boxes[4 * k + 3] = (float)((long)o->ymax - 1);
            im->labels[k] = lab;
            if (pass == 0) im->n_gt++;
            else im->n_ignore++;
        }
    voc_annotation_free(&a);
    return 0;
}

int voc_det_load(const char *devkit, const char *const *splits, int n_splits, int test_mode, int skip_bad,
                 voc_det_dataset *ds) {
    memset(ds, 0, sizeof *ds);
    int cap = 0, warned = 0;
    for (int s = 0; s < n_splits; s++) {
        /* "VOC2007/trainval" -> root <devkit>/VOC2007, list ImageSets/Main/trainval.txt */
        const char *slash = strrchr(splits[s], '/');
        if (!slash || slash == splits[s] || !slash[1]) {
            voc_det_free(ds);
            return err_set("VOC split '%s' must look like VOC2007/trainval", splits[s]);
        }
        char root[4096], list[8192];
        snprintf(root, sizeof root, "%s/%.*s", devkit, (int)(slash - splits[s]), splits[s]);
        snprintf(list, sizeof list, "%s/ImageSets/Main/%s.txt", root, slash + 1);
        int year = strstr(root, "VOC2007") ? 2007 : strstr(root, "VOC2012") ? 2012 : 0;
        char **ids;
        int n;
        if (voc_read_id_list(list, &ids, &n) < 0) {
            voc_det_free(ds);
            return -1;
        }
        int rc = 0;
        for (int i = 0; i < n; i++) {
            voc_det_image im;
            if (load_one(root, ids[i], year, &im, &ds->n_unknown_class) < 0) {
                if (!skip_bad) {
                    err_prefix("%s line %d (id %s)", list, i + 1, ids[i]);
                    rc = -1;
                    break;
                }
                if (warned++ < 10) fprintf(stderr, "deltabench: warning: %s (image skipped)\n", err_msg());
                ds->n_skipped++;
                free(im.id), free(im.image_path), free(im.ann_path), free(im.boxes), free(im.labels);
                continue;
            }
            if (!test_mode &&
                ((im.width < im.height ? im.width : im.height) < 32 || im.n_gt + im.n_ignore == 0)) {
                ds->n_filtered++;
                free(im.id), free(im.image_path), free(im.ann_path), free(im.boxes), free(im.labels);
                continue;
            }
            if (ds->n == cap) cap = cap ? 2 * cap : 1024, ds->images = xrealloc(ds->images, (size_t)cap * sizeof *ds->images);
            ds->images[ds->n++] = im;
        }
        for (int i = 0; i < n; i++) free(ids[i]);
        free(ids);
        if (rc < 0) {
            voc_det_free(ds);
            return -1;
        }
    }
    return 0;
}
