/* data_inspect_dense.c - `data inspect` summaries for the dense formats: COCO, VOC, ADE20K, DOTA, STAR. Each
 * loads through the datasets/ reader, then prints counts and ranges as text or one JSON object (cJSON). */
#include <cJSON.h>
#include <dirent.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/common.h"
#include "../datasets/coco.h"
#include "../datasets/dota.h"
#include "../datasets/image.h"
#include "../datasets/voc_det.h"
#include "../datasets/ade20k.h"
#include "data_inspect.h"

typedef struct range {
    double lo, hi;
    long n;
} range;
static void range_add(range *r, double v) {
    if (!r->n || v < r->lo) r->lo = v;
    if (!r->n || v > r->hi) r->hi = v;
    r->n++;
}
static cJSON *range_json(const range *r) {
    cJSON *o = cJSON_CreateObject();
    if (r->n) {
        cJSON_AddNumberToObject(o, "min", r->lo);
        cJSON_AddNumberToObject(o, "max", r->hi);
    }
    return o;
}
static void range_text(const char *what, const range *r) {
    if (r->n) printf("  %-22s %g .. %g\n", what, r->lo, r->hi);
    else printf("  %-22s (none)\n", what);
}

/* Check one image file: it exists, its header decodes, its size matches (want_w/h > 0). Returns 0 when good,
 * 1 when bad but skipped (warning printed, *bad counted), -1 when bad (error set). */
static int check_image(const char *path, int want_w, int want_h, int skip_bad, long *bad, int *warned) {
    int w, h, c;
    int rc = image_read_info(path, &w, &h, &c);
    if (rc == 0 && want_w > 0 && (w != want_w || h != want_h))
        rc = err_set("%s: image is %dx%d but the annotation says %dx%d", path, w, h, want_w, want_h);
    if (rc == 0) return 0;
    if (!skip_bad) return -1;
    if ((*warned)++ < 10) fprintf(stderr, "deltabench: warning: %s (counted as a bad image)\n", err_msg());
    (*bad)++;
    return 1;
}

/* print and free a JSON summary */
static int emit_json(cJSON *o) {
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) return err_set("cannot format the JSON summary (out of memory)");
    printf("%s\n", s);
    free(s);
    return 0;
}

static void per_class_text(int n, const char *const *names, const long *count) {
    printf("  instances per class:\n");
    for (int i = 0; i < n; i++) printf("    %3d %-28s %ld\n", i, names[i], count[i]);
}

static cJSON *per_class_json(int n, const char *const *names, const long *count) {
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        cJSON *c = cJSON_CreateObject();
        cJSON_AddNumberToObject(c, "label", i);
        cJSON_AddStringToObject(c, "name", names[i]);
        cJSON_AddNumberToObject(c, "instances", (double)count[i]);
        cJSON_AddItemToArray(arr, c);
    }
    return arr;
}

int data_inspect_coco(const data_inspect_args *a) {
    coco_options o = {.skip_bad = a->skip_bad};
    coco_dataset ds;
    double t0 = time_now();
    if (coco_load(a->path, &o, &ds) < 0) return -1;
    double load_s = time_now() - t0;
    long *count = xcalloc((size_t)ds.n_categories + 1, sizeof(long));
    const char **names = xmalloc(((size_t)ds.n_categories + 1) * sizeof *names);
    for (int i = 0; i < ds.n_categories; i++) names[i] = ds.categories[i].name;
    long crowd = 0, ignore = 0, kinds[4] = {0}, empty = 0;
    range iw = {0}, ih = {0}, bw = {0}, bh = {0}, area = {0};
    for (int i = 0; i < ds.n_images; i++) {
        range_add(&iw, ds.images[i].width);
        range_add(&ih, ds.images[i].height);
        empty += ds.images[i].n_anns == 0;
    }
    for (int i = 0; i < ds.n_anns; i++) {
        const coco_ann *x = &ds.anns[i];
        count[x->label]++;
        crowd += x->iscrowd;
        ignore += x->ignore;
        kinds[x->seg.kind]++;
        if (!x->iscrowd) {
            range_add(&bw, x->bbox[2]);
            range_add(&bh, x->bbox[3]);
            range_add(&area, x->area);
        }
    }
    int *keep = xmalloc(((size_t)ds.n_images + 1) * sizeof(int));
    int n_train = coco_filter_images(&ds, 1, 32, keep);
    free(keep);
    int rc = 0, warned = 0;
    long bad_images = 0;
    char imgdir[4096] = "";
    if (!a->no_images) {
        if (a->images) {
            snprintf(imgdir, sizeof imgdir, "%s", a->images);
        } else { /* .../annotations/instances_<split>.json -> .../<split> */
            char p1[4096], p2[4096];
            snprintf(p1, sizeof p1, "%s", a->path);
            snprintf(p2, sizeof p2, "%s", a->path);
            const char *base = basename(p1);
            const char *root = dirname(dirname(p2));
            const char *u = strchr(base, '_');
            const char *dot = strrchr(base, '.');
            if (u && dot && dot > u + 1) snprintf(imgdir, sizeof imgdir, "%s/%.*s", root, (int)(dot - u - 1), u + 1);
        }
        struct stat st;
        if (!imgdir[0] || stat(imgdir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            if (a->images) {
                rc = err_set("%s: no such image folder", a->images);
            } else {
                fprintf(stderr, "deltabench: note: images not checked: folder '%s' not found (give --images DIR)\n",
                        imgdir);
                imgdir[0] = 0;
            }
        }
        for (int i = 0; rc == 0 && imgdir[0] && i < ds.n_images; i++) {
            char p[8192];
            snprintf(p, sizeof p, "%s/%s", imgdir, ds.images[i].file_name);
            if (check_image(p, ds.images[i].width, ds.images[i].height, a->skip_bad, &bad_images, &warned) < 0) {
                err_prefix("images[%d] (id %lld)", i, (long long)ds.images[i].id);
                rc = -1;
            }
        }
    }
    if (rc < 0) {
        free(count);
        free(names);
        coco_free(&ds);
        return -1;
    }
    if (a->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "format", "coco");
        cJSON_AddStringToObject(j, "path", a->path);
        cJSON_AddNumberToObject(j, "images", ds.n_images);
        cJSON_AddNumberToObject(j, "images_without_annotations", (double)empty);
        cJSON_AddNumberToObject(j, "images_kept_by_filter_empty_gt_min_size_32", n_train);
        cJSON_AddNumberToObject(j, "categories", ds.n_categories);
        cJSON_AddNumberToObject(j, "annotations", ds.n_anns);
        cJSON_AddNumberToObject(j, "crowd", (double)crowd);
        cJSON_AddNumberToObject(j, "ignore", (double)ignore);
        cJSON_AddNumberToObject(j, "segm_polygon", (double)kinds[COCO_SEG_POLY]);
        cJSON_AddNumberToObject(j, "segm_rle", (double)kinds[COCO_SEG_RLE]);
        cJSON_AddNumberToObject(j, "segm_rle_compressed", (double)kinds[COCO_SEG_RLE_STR]);
        cJSON_AddNumberToObject(j, "segm_none", (double)kinds[COCO_SEG_NONE]);
        cJSON_AddNumberToObject(j, "skipped", ds.n_skipped);
        cJSON_AddBoolToObject(j, "images_checked", imgdir[0] != 0);
        cJSON_AddNumberToObject(j, "bad_images", (double)bad_images);
        cJSON_AddItemToObject(j, "image_width", range_json(&iw));
        cJSON_AddItemToObject(j, "image_height", range_json(&ih));
        cJSON_AddItemToObject(j, "box_width", range_json(&bw));
        cJSON_AddItemToObject(j, "box_height", range_json(&bh));
        cJSON_AddItemToObject(j, "area", range_json(&area));
        cJSON_AddItemToObject(j, "classes", per_class_json(ds.n_categories, names, count));
        cJSON_AddNumberToObject(j, "load_seconds", load_s);
        cJSON_AddNumberToObject(j, "peak_rss_bytes", (double)mem_peak_rss());
        rc = emit_json(j);
    } else {
        printf("COCO %s\n", a->path);
        printf("  images                 %d (%ld without annotations; %d kept by filter_empty_gt + min_size 32)\n",
               ds.n_images, empty, n_train);
        printf("  categories             %d\n", ds.n_categories);
        printf("  annotations            %d (crowd %ld, ignore %ld)\n", ds.n_anns, crowd, ignore);
        printf("  segmentation           polygons %ld, RLE %ld, compressed RLE %ld, none %ld\n", kinds[COCO_SEG_POLY],
               kinds[COCO_SEG_RLE], kinds[COCO_SEG_RLE_STR], kinds[COCO_SEG_NONE]);
        if (ds.n_skipped) printf("  skipped bad entries    %d\n", ds.n_skipped);
        if (imgdir[0]) printf("  image files            checked in %s (%ld bad)\n", imgdir, bad_images);
        else printf("  image files            not checked\n");
        range_text("image width", &iw);
        range_text("image height", &ih);
        range_text("box width (non-crowd)", &bw);
        range_text("box height (non-crowd)", &bh);
        range_text("area (non-crowd)", &area);
        per_class_text(ds.n_categories, names, count);
        printf("  load                   %.2f s, peak RSS %.0f MB\n", load_s, mem_peak_rss() / 1e6);
    }
    free(count);
    free(names);
    coco_free(&ds);
    return rc;
}

/* A DOTA/STAR folder without any *.txt: say what belongs there, and where the labels may be instead
 * (mmrotate would take such a folder as the test phase and list its images with no ground truth). */
static long count_suffix(const char *dir, const char *suffix, long *entries) {
    long n = 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    size_t sl = strlen(suffix);
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (entries) (*entries)++;
        size_t l = strlen(e->d_name);
        if (l > sl && !strcmp(e->d_name + l - sl, suffix)) n++;
    }
    closedir(d);
    return n;
}

static int no_annotation_files(const char *path, const char *fmt) {
    int star = !strcmp(fmt, "star");
    const char *want = star ? "annfiles" : "labelTxt";
    long entries = 0, pngs = count_suffix(path, ".png", &entries);
    char hint[4400] = "";
    char p1[4096], sib[4200];
    snprintf(p1, sizeof p1, "%s", path);
    const char *parent = dirname(p1);
    const char *cands[3] = {want, star ? "labelTxt" : "annfiles", NULL};
    for (int k = 0; cands[k] && !hint[0]; k++) {
        struct stat st;
        snprintf(sib, sizeof sib, "%s/%s", parent, cands[k]);
        if (stat(sib, &st) == 0 && S_ISDIR(st.st_mode) && strcmp(sib, path) && count_suffix(sib, ".txt", NULL) > 0)
            snprintf(hint, sizeof hint, "; did you mean %s?", sib);
    }
    return err_set("%s: no annotation files (*.txt) in this folder (entries: %ld, of them .png: %ld). --format %s reads a %s "
                   "folder: one text file per image, <image>.txt, lines \"x1 y1 x2 y2 x3 y3 x4 y4 class difficult\" "
                   "(%s)%s",
                   path, entries, pngs, fmt, want,
                   star ? "STAR/{train,test}/annfiles/" : "DOTA/{train,val}/labelTxt/ or a split's annfiles/", hint);
}

static int inspect_rotated(const data_inspect_args *a, const char *fmt, const char *const *classes, int n_classes) {
    rbox_version v = RBOX_LE90;
    if (a->angle && !strcmp(a->angle, "oc")) v = RBOX_OC;
    else if (a->angle && strcmp(a->angle, "le90")) return err_set("--angle must be le90 or oc, not '%s'", a->angle);
    dota_options o = {.skip_bad = a->skip_bad};
    dota_dataset ds;
    double t0 = time_now();
    if (dota_load_dir(a->path, classes, n_classes, v, 0, &o, &ds) < 0) return -1;
    if (ds.n_items == 0) {
        dota_dataset_free(&ds);
        return no_annotation_files(a->path, fmt);
    }
    double load_s = time_now() - t0;
    long bad_images = 0;
    int warned = 0, checked = 0;
    if (!a->no_images) {
        char p1[4096], idir[4096];
        snprintf(p1, sizeof p1, "%s", a->path);
        snprintf(idir, sizeof idir, "%s/images", dirname(p1));
        struct stat st;
        if (stat(idir, &st) == 0 && S_ISDIR(st.st_mode)) {
            checked = 1;
            for (int i = 0; i < ds.n_items; i++) {
                char p[8192];
                snprintf(p, sizeof p, "%s/%s.png", idir, ds.items[i].stem);
                if (check_image(p, 0, 0, a->skip_bad, &bad_images, &warned) < 0) {
                    dota_dataset_free(&ds);
                    return -1;
                }
            }
        } else {
            fprintf(stderr, "deltabench: note: images not checked: no folder %s next to the annotations\n", idir);
        }
    }
    long *count = xcalloc((size_t)n_classes, sizeof(long));
    long objects = 0, difficult = 0, empty = 0, boxes = 0;
    range bw = {0}, bh = {0}, gsd = {0};
    for (int i = 0; i < ds.n_items; i++) {
        const dota_item *it = &ds.items[i];
        objects += it->ann.n_objects;
        empty += it->n_boxes == 0;
        if (it->ann.gsd > 0) range_add(&gsd, it->ann.gsd);
        for (int k = 0; k < it->ann.n_objects; k++) {
            count[it->ann.objects[k].label]++;
            difficult += it->ann.objects[k].difficult != 0;
        }
        for (int k = 0; k < it->n_boxes; k++) {
            range_add(&bw, it->boxes[k].w);
            range_add(&bh, it->boxes[k].h);
            boxes++;
        }
    }
    int rc = 0;
    if (a->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "format", fmt);
        cJSON_AddStringToObject(j, "path", a->path);
        cJSON_AddStringToObject(j, "angle_version", v == RBOX_LE90 ? "le90" : "oc");
        cJSON_AddNumberToObject(j, "images", ds.n_items);
        cJSON_AddNumberToObject(j, "images_without_boxes", (double)empty);
        cJSON_AddNumberToObject(j, "objects", (double)objects);
        cJSON_AddNumberToObject(j, "difficult", (double)difficult);
        cJSON_AddNumberToObject(j, "rotated_boxes", (double)boxes);
        cJSON_AddNumberToObject(j, "dropped_side_below_2px", ds.n_dropped);
        cJSON_AddNumberToObject(j, "skipped", ds.n_skipped);
        cJSON_AddBoolToObject(j, "images_checked", checked);
        cJSON_AddNumberToObject(j, "bad_images", (double)bad_images);
        cJSON_AddItemToObject(j, "box_width", range_json(&bw));
        cJSON_AddItemToObject(j, "box_height", range_json(&bh));
        cJSON_AddItemToObject(j, "gsd", range_json(&gsd));
        cJSON_AddItemToObject(j, "classes", per_class_json(n_classes, classes, count));
        cJSON_AddNumberToObject(j, "load_seconds", load_s);
        rc = emit_json(j);
    } else {
        printf("%s %s (angle convention %s)\n", fmt, a->path, v == RBOX_LE90 ? "le90" : "oc");
        printf("  images (txt files)     %d (%ld without a valid box)\n", ds.n_items, empty);
        printf("  objects                %ld (difficult %ld)\n", objects, difficult);
        printf("  rotated boxes          %ld (dropped, a side < 2 px: %d)\n", boxes, ds.n_dropped);
        if (ds.n_skipped) printf("  skipped bad lines      %d\n", ds.n_skipped);
        printf("  image files            %s (%ld bad)\n", checked ? "checked" : "not checked", bad_images);
        range_text("box width", &bw);
        range_text("box height", &bh);
        range_text("gsd", &gsd);
        per_class_text(n_classes, classes, count);
    }
    free(count);
    dota_dataset_free(&ds);
    return rc;
}

int data_inspect_dota(const data_inspect_args *a) {
    if (!a->version || !strcmp(a->version, "1.0")) return inspect_rotated(a, "dota", dota_classes_v10, 15);
    if (!strcmp(a->version, "1.5")) return inspect_rotated(a, "dota", dota_classes_v15, 16);
    return err_set("--version for dota must be 1.0 or 1.5, not '%s'", a->version);
}

int data_inspect_star(const data_inspect_args *a) { return inspect_rotated(a, "star", star_classes, 48); }

/* ---- VOC ---- */

int data_inspect_voc(const data_inspect_args *a) {
    /* --split: comma-separated, default the test set */
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", a->split ? a->split : "VOC2007/test");
    const char *splits[8];
    int ns = 0;
    char *save = NULL;
    for (char *t = strtok_r(buf, ",", &save); t && ns < 8; t = strtok_r(NULL, ",", &save)) splits[ns++] = t;
    voc_det_dataset ds;
    if (voc_det_load(a->path, splits, ns, 1, a->skip_bad, &ds) < 0) return -1;
    long gt[VOC_N_CLASSES] = {0}, diff[VOC_N_CLASSES] = {0}, n_gt = 0, n_diff = 0, empty = 0, bad_images = 0;
    int warned = 0;
    for (int i = 0; !a->no_images && i < ds.n; i++)
        if (check_image(ds.images[i].image_path, ds.images[i].width, ds.images[i].height, a->skip_bad, &bad_images,
                        &warned) < 0) {
            err_prefix("%s", ds.images[i].ann_path);
            voc_det_free(&ds);
            return -1;
        }
    range iw = {0}, ih = {0}, bw = {0}, bh = {0};
    for (int i = 0; i < ds.n; i++) {
        const voc_det_image *im = &ds.images[i];
        range_add(&iw, im->width);
        range_add(&ih, im->height);
        empty += im->n_gt + im->n_ignore == 0;
        for (int k = 0; k < im->n_gt + im->n_ignore; k++) {
            if (k < im->n_gt) gt[im->labels[k]]++, n_gt++;
            else diff[im->labels[k]]++, n_diff++;
            range_add(&bw, im->boxes[4 * k + 2] - im->boxes[4 * k] + 1); /* legacy +1 */
            range_add(&bh, im->boxes[4 * k + 3] - im->boxes[4 * k + 1] + 1);
        }
    }
    int rc = 0;
    if (a->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "format", "voc");
        cJSON_AddStringToObject(j, "path", a->path);
        cJSON_AddStringToObject(j, "splits", a->split ? a->split : "VOC2007/test");
        cJSON_AddNumberToObject(j, "images", ds.n);
        cJSON_AddNumberToObject(j, "images_without_objects", (double)empty);
        cJSON_AddNumberToObject(j, "objects", (double)(n_gt + n_diff));
        cJSON_AddNumberToObject(j, "difficult", (double)n_diff);
        cJSON_AddNumberToObject(j, "unknown_class_objects", ds.n_unknown_class);
        cJSON_AddBoolToObject(j, "images_checked", !a->no_images);
        cJSON_AddNumberToObject(j, "bad_images", (double)bad_images);
        cJSON_AddNumberToObject(j, "skipped", ds.n_skipped);
        cJSON_AddItemToObject(j, "image_width", range_json(&iw));
        cJSON_AddItemToObject(j, "image_height", range_json(&ih));
        cJSON_AddItemToObject(j, "box_width", range_json(&bw));
        cJSON_AddItemToObject(j, "box_height", range_json(&bh));
        cJSON *arr = per_class_json(VOC_N_CLASSES, voc_classes, gt);
        for (int c = 0; c < VOC_N_CLASSES; c++)
            cJSON_AddNumberToObject(cJSON_GetArrayItem(arr, c), "difficult", (double)diff[c]);
        cJSON_AddItemToObject(j, "classes", arr);
        rc = emit_json(j);
    } else {
        printf("VOC %s splits %s\n", a->path, a->split ? a->split : "VOC2007/test");
        printf("  images                 %d (%ld without objects)\n", ds.n, empty);
        printf("  objects                %ld (difficult %ld; unknown class skipped %d)\n", n_gt + n_diff, n_diff,
               ds.n_unknown_class);
        if (ds.n_skipped) printf("  skipped bad images     %d\n", ds.n_skipped);
        printf("  image files            %s (%ld bad)\n", a->no_images ? "not checked" : "checked", bad_images);
        range_text("image width", &iw);
        range_text("image height", &ih);
        range_text("box width", &bw);
        range_text("box height", &bh);
        printf("  instances per class (not difficult / difficult):\n");
        for (int c = 0; c < VOC_N_CLASSES; c++) printf("    %3d %-28s %ld / %ld\n", c, voc_classes[c], gt[c], diff[c]);
    }
    voc_det_free(&ds);
    return rc;
}

/* ---- ADE20K ---- */

int data_inspect_ade20k(const data_inspect_args *a) {
    const char *split = a->split ? a->split : "validation";
    ade20k_dataset ds;
    int skipped = 0;
    if (ade20k_open(a->path, split, a->skip_bad, &ds, &skipped) < 0) return -1;
    long *pix = xcalloc(ADE20K_N_CLASSES, sizeof(long));
    long *imgs = xcalloc(ADE20K_N_CLASSES, sizeof(long));
    long ignore = 0, total = 0;
    range iw = {0}, ih = {0}, ncls = {0};
    int rc = 0, warned = 0, n_ok = 0;
    for (int i = 0; i < ds.n; i++) {
        int w, h, c;
        image lab;
        if (image_read_info(ds.images[i], &w, &h, &c) < 0 || seg_read_label(ds.labels[i], 1, ADE20K_N_CLASSES, &lab) < 0) {
            if (!a->skip_bad) {
                rc = -1;
                break;
            }
            if (warned++ < 10) fprintf(stderr, "deltabench: warning: %s (skipped)\n", err_msg());
            skipped++;
            continue;
        }
        if (lab.w != w || lab.h != h) {
            err_set("%s: label map is %dx%d but the image %s is %dx%d", ds.labels[i], lab.w, lab.h, ds.images[i], w, h);
            image_free(&lab);
            if (!a->skip_bad) {
                rc = -1;
                break;
            }
            if (warned++ < 10) fprintf(stderr, "deltabench: warning: %s (skipped)\n", err_msg());
            skipped++;
            continue;
        }
        char seen[ADE20K_N_CLASSES] = {0};
        size_t n = (size_t)w * h;
        for (size_t k = 0; k < n; k++) {
            int v = lab.data[k];
            if (v == SEG_IGNORE) ignore++;
            else pix[v]++, seen[v] = 1;
        }
        int nc = 0;
        for (int k = 0; k < ADE20K_N_CLASSES; k++) imgs[k] += seen[k], nc += seen[k];
        range_add(&ncls, nc);
        total += (long)n;
        range_add(&iw, w);
        range_add(&ih, h);
        image_free(&lab);
        n_ok++;
    }
    if (rc == 0 && a->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "format", "ade20k");
        cJSON_AddStringToObject(j, "path", a->path);
        cJSON_AddStringToObject(j, "split", split);
        cJSON_AddNumberToObject(j, "images", n_ok);
        cJSON_AddNumberToObject(j, "skipped", skipped);
        cJSON_AddNumberToObject(j, "pixels", (double)total);
        cJSON_AddNumberToObject(j, "ignored_pixels", (double)ignore);
        cJSON_AddItemToObject(j, "image_width", range_json(&iw));
        cJSON_AddItemToObject(j, "image_height", range_json(&ih));
        cJSON_AddItemToObject(j, "classes_per_image", range_json(&ncls));
        cJSON *arr = cJSON_CreateArray();
        for (int c = 0; c < ADE20K_N_CLASSES; c++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "label", c);
            cJSON_AddStringToObject(o, "name", ade20k_classes[c]);
            cJSON_AddNumberToObject(o, "pixels", (double)pix[c]);
            cJSON_AddNumberToObject(o, "images", (double)imgs[c]);
            cJSON_AddItemToArray(arr, o);
        }
        cJSON_AddItemToObject(j, "classes", arr);
        rc = emit_json(j);
    } else if (rc == 0) {
        printf("ADE20K %s split %s (reduce_zero_label)\n", a->path, split);
        printf("  images                 %d (skipped %d)\n", n_ok, skipped);
        printf("  pixels                 %ld (ignored, label 0 'other': %ld)\n", total, ignore);
        range_text("image width", &iw);
        range_text("image height", &ih);
        range_text("classes per image", &ncls);
        printf("  per class (pixels, images):\n");
        for (int c = 0; c < ADE20K_N_CLASSES; c++)
            if (pix[c]) printf("    %3d %-28s %ld  %ld\n", c, ade20k_classes[c], pix[c], imgs[c]);
    }
    free(pix);
    free(imgs);
    ade20k_close(&ds);
    return rc;
}
