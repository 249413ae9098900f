/* cmd_eval.c - `deltabench eval coco|voc|seg|dota|bench-coco`: score detection, segmentation and rotated
 * detection results with the reference tools' exact rules (metrics/). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "../metrics/coco_eval.h"
#include "../metrics/coco_json.h"
#include "../metrics/voc_files.h"
#include "../metrics/seg_eval.h"
#include "../metrics/dota_eval.h"
#include "commands.h"

static int fail(void) {
    fprintf(stderr, "deltabench: %s\n", err_msg());
    return 1;
}

/* Option parsing helpers: "--name value" and "--name=value". */
static const char *opt_value(int argc, char **argv, int *i, const char *name) {
    size_t n = strlen(name);
    if (!strncmp(argv[*i], name, n)) {
        if (argv[*i][n] == '=') return argv[*i] + n + 1;
        if (argv[*i][n] == 0) {
            if (*i + 1 >= argc) {
                err_set("option %s needs a value", name);
                return NULL;
            }
            return argv[++*i];
        }
    }
    return NULL;
}

/* JSON has no NaN: undefined values (a class absent everywhere, a devkit AP of 0/0 recall) are null */
static void print_num(double v) {
    if (isnan(v))
        printf("null");
    else
        printf("%.17g", v);
}

/* ---------------- coco ---------------- */
static void coco_usage(FILE *f) {
    fprintf(f,
            "usage: deltabench eval coco --gt instances.json --dt results.json [--iou-type bbox|segm] [--json]\n"
            "                            [--threads N]\n\n"
            "COCO box or mask AP/AR exactly as pycocotools' COCOeval (crowd regions, per-image per-category\n"
            "maxDets 1/10/100, inclusive area ranges, 101-point interpolation).\n\n"
            "  --gt FILE        ground truth, COCO instances JSON (required)\n"
            "  --dt FILE        results JSON: a list of {image_id, category_id, score, bbox | segmentation}\n"
            "                   (required). As pycocotools' loadRes: if the first entry has a bbox, areas are\n"
            "                   box areas; else mask areas from the RLE segmentation.\n"
            "  --iou-type T     bbox (default) or segm\n"
            "  --threads N      worker threads (default: OpenMP default, i.e. all cores)\n"
            "  --json           print a JSON object instead of pycocotools' 12-line summary\n");
}

static int eval_coco(int argc, char **argv) {
    const char *gt_path = NULL, *dt_path = NULL, *v;
    int iou_type = COCO_IOU_BBOX, json = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            coco_usage(stdout);
            return 0;
        } else if ((v = opt_value(argc, argv, &i, "--gt"))) {
            gt_path = v;
        } else if ((v = opt_value(argc, argv, &i, "--dt"))) {
            dt_path = v;
        } else if ((v = opt_value(argc, argv, &i, "--iou-type"))) {
            if (!strcmp(v, "bbox"))
                iou_type = COCO_IOU_BBOX;
            else if (!strcmp(v, "segm"))
                iou_type = COCO_IOU_SEGM;
            else {
                fprintf(stderr, "deltabench: --iou-type must be bbox or segm, got '%s'\n", v);
                return 2;
            }
        } else if ((v = opt_value(argc, argv, &i, "--threads"))) {
            threads = atoi(v);
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else {
            fprintf(stderr, "deltabench: eval coco: unknown option '%s'\n\n", argv[i]);
            coco_usage(stderr);
            return 2;
        }
    }
    if (!gt_path || !dt_path) {
        fprintf(stderr, "deltabench: eval coco needs --gt and --dt\n\n");
        coco_usage(stderr);
        return 2;
    }
    coco_gt gt;
    coco_det dt;
    coco_summary s;
    double t0 = time_now();
    if (coco_gt_load(gt_path, iou_type == COCO_IOU_SEGM, &gt) < 0) return fail();
    if (coco_results_load(dt_path, &gt, iou_type == COCO_IOU_SEGM, &dt) < 0) {
        coco_gt_free(&gt);
        return fail();
    }
    double t1 = time_now();
    if (coco_eval_run(&gt, &dt, iou_type, threads, &s) < 0) {
        coco_gt_free(&gt);
        coco_det_free(&dt);
        return fail();
    }
    double t2 = time_now();
    if (json) {
        static const char *names[12] = {"AP", "AP50", "AP75", "APs", "APm", "APl",
                                        "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"};
        printf("{\"iou_type\": \"%s\", \"n_images\": %d, \"n_dets\": %d", iou_type ? "segm" : "bbox", gt.n_images, dt.n);
        for (int i = 0; i < 12; i++) printf(", \"%s\": %.17g", names[i], s.stats[i]);
        printf(", \"per_category_ap\": {");
        for (int k = 0; k < s.n_cats; k++) printf("%s\"%lld\": %.17g", k ? ", " : "", (long long)s.cat_ids[k], s.cat_ap[k]);
        printf("}, \"load_s\": %.3f, \"eval_s\": %.3f}\n", t1 - t0, t2 - t1);
    } else {
        coco_summary_print(&s, iou_type, stdout);
    }
    coco_summary_free(&s);
    coco_gt_free(&gt);
    coco_det_free(&dt);
    return 0;
}



/* ---------------- voc ---------------- */
static void voc_usage(FILE *f) {
    fprintf(f,
            "usage: deltabench eval voc --root VOCdevkit/VOC2007 --dets DIR [--split test] [--metric 11points|area]\n"
            "                           [--protocol mmdet|devkit] [--iou 0.5] [--prefix P] [--json]\n\n"
            "Pascal VOC mAP over the 20 classes; difficult objects ignored.\n\n"
            "  --root DIR       VOC year folder with Annotations/ and ImageSets/Main/ (required)\n"
            "  --dets DIR       folder of per-class detection files, lines \"image_id score x1 y1 x2 y2\" (required)\n"
            "  --split S        image set (default test)\n"
            "  --prefix P       detection file name prefix (default comp4_det_<split>_); a missing class file\n"
            "                   means no detections for that class\n"
            "  --metric M       11points (VOC2007, default; what mmdet uses for VOC2007) or area (VOC2010+)\n"
            "  --protocol P     mmdet (default; mmdet 2.x eval_map: IoU >= thr without +1, float32 IoU) or\n"
            "                   devkit (official devkit / py-faster-rcnn voc_eval: IoU > thr with +1)\n"
            "  --iou T          IoU threshold (default 0.5)\n"
            "  --json           JSON output\n"
            "mAP: mmdet averages the classes with at least one non-difficult ground truth; devkit averages all 20\n"
            "(pascal_voc._do_python_eval): a class without non-difficult ground truth scores AP 0 under 11points and,\n"
            "with a detection, NaN under area (recall 0/0), which makes the mAP NaN as in the devkit.\n");
}

static int eval_voc(int argc, char **argv) {
    const char *root = NULL, *dets = NULL, *split = "test", *prefix = NULL, *v;
    int protocol = VOC_PROTO_MMDET, mode = VOC_AP_11POINTS, json = 0;
    double iou = 0.5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            voc_usage(stdout);
            return 0;
        } else if ((v = opt_value(argc, argv, &i, "--root"))) {
            root = v;
        } else if ((v = opt_value(argc, argv, &i, "--dets"))) {
            dets = v;
        } else if ((v = opt_value(argc, argv, &i, "--split"))) {
            split = v;
        } else if ((v = opt_value(argc, argv, &i, "--prefix"))) {
            prefix = v;
        } else if ((v = opt_value(argc, argv, &i, "--metric"))) {
            if (!strcmp(v, "11points")) mode = VOC_AP_11POINTS;
            else if (!strcmp(v, "area")) mode = VOC_AP_AREA;
            else {
                fprintf(stderr, "deltabench: --metric must be 11points or area\n");
                return 2;
            }
        } else if ((v = opt_value(argc, argv, &i, "--protocol"))) {
            if (!strcmp(v, "mmdet")) protocol = VOC_PROTO_MMDET;
            else if (!strcmp(v, "devkit")) protocol = VOC_PROTO_DEVKIT;
            else {
                fprintf(stderr, "deltabench: --protocol must be mmdet or devkit\n");
                return 2;
            }
        } else if ((v = opt_value(argc, argv, &i, "--iou"))) {
            iou = atof(v);
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else {
            fprintf(stderr, "deltabench: eval voc: unknown option '%s'\n\n", argv[i]);
            voc_usage(stderr);
            return 2;
        }
    }
    if (!root || !dets) {
        fprintf(stderr, "deltabench: eval voc needs --root and --dets\n\n");
        voc_usage(stderr);
        return 2;
    }
    voc_result r;
    if (voc_eval_files(root, split, dets, prefix, protocol, mode, iou, &r) < 0) return fail();
    if (r.no_positives) {
        fprintf(stderr, "deltabench: note: %d class(es) without non-difficult ground truth, averaged into the devkit's mAP "
                        "with AP %s:", r.no_positives, mode == VOC_AP_AREA ? "0, or NaN where detected" : "0");
        for (int c = 0; c < 20; c++)
            if (r.num_gts[c] == 0) fprintf(stderr, " %s", voc_class_names[c]);
        fprintf(stderr, " (--protocol mmdet leaves them out)\n");
    }
    if (json) {
        printf("{\"protocol\": \"%s\", \"metric\": \"%s\", \"iou\": %g, \"mAP\": ", protocol ? "devkit" : "mmdet",
               mode ? "area" : "11points", iou);
        print_num(r.map);
        printf(", \"classes\": [");
        for (int c = 0; c < 20; c++) {
            printf("%s{\"class\": \"%s\", \"gts\": %d, \"dets\": %d, \"recall\": %.17g, \"ap\": ", c ? ", " : "",
                   voc_class_names[c], r.num_gts[c], r.num_dets[c], r.recall[c]);
            print_num(r.ap[c]);
            printf("}");
        }
        printf("]}\n");
    } else {
        printf("%-12s %6s %6s %8s %8s\n", "class", "gts", "dets", "recall", "ap");
        for (int c = 0; c < 20; c++)
            printf("%-12s %6d %6d %8.3f %8.3f\n", voc_class_names[c], r.num_gts[c], r.num_dets[c], r.recall[c], r.ap[c]);
        printf("%-12s %6s %6s %8s %8.3f   (%s, %s, IoU %g)\n", "mAP", "", "", "", r.map, protocol ? "devkit" : "mmdet",
               mode ? "area" : "11points", iou);
    }
    voc_result_free(&r);
    return 0;
}


/* ---------------- seg ---------------- */
static void seg_usage(FILE *f) {
    fprintf(f,
            "usage: deltabench eval seg --gt DIR --pred DIR --classes N [--reduce-zero-label] [--ignore 255]\n"
            "                           [--suffix .png] [--json]\n\n"
            "Semantic segmentation mIoU, mAcc, aAcc and the per-class table, as mmseg's mean_iou: sums over the\n"
            "whole dataset, classes absent from both prediction and ground truth excluded (NaN).\n\n"
            "  --gt DIR              ground-truth label maps (8-bit PNG; palette PNGs give indices) (required)\n"
            "  --pred DIR            predicted label maps with the same file names, at the original size (required)\n"
            "  --classes N           number of classes (required; ADE20K: 150)\n"
            "  --reduce-zero-label   ground truth 0 -> ignored, k -> k-1 (ADE20K; default off)\n"
            "  --ignore V            ignore index (default 255)\n"
            "  --suffix S            label map file suffix (default .png)\n"
            "  --json                JSON output\n");
}

static int eval_seg(int argc, char **argv) {
    const char *gt = NULL, *pred = NULL, *suffix = ".png", *v;
    int classes = 0, reduce = 0, ignore = 255, json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            seg_usage(stdout);
            return 0;
        } else if ((v = opt_value(argc, argv, &i, "--gt"))) {
            gt = v;
        } else if ((v = opt_value(argc, argv, &i, "--pred"))) {
            pred = v;
        } else if ((v = opt_value(argc, argv, &i, "--classes"))) {
            classes = atoi(v);
        } else if ((v = opt_value(argc, argv, &i, "--ignore"))) {
            ignore = atoi(v);
        } else if ((v = opt_value(argc, argv, &i, "--suffix"))) {
            suffix = v;
        } else if (!strcmp(argv[i], "--reduce-zero-label")) {
            reduce = 1;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else {
            fprintf(stderr, "deltabench: eval seg: unknown option '%s'\n\n", argv[i]);
            seg_usage(stderr);
            return 2;
        }
    }
    if (!gt || !pred || classes < 1 || classes > 256) {
        fprintf(stderr, "deltabench: eval seg needs --gt, --pred and --classes (1..256)\n\n");
        seg_usage(stderr);
        return 2;
    }
    seg_eval s;
    int n;
    seg_eval_init(&s, classes, ignore, reduce);
    if (seg_eval_dirs(&s, gt, pred, suffix, &n) < 0) {
        seg_eval_free(&s);
        return fail();
    }
    if (json) {
        printf("{\"images\": %d, \"classes\": %d, \"aAcc\": ", n, classes);
        print_num(s.aacc);
        printf(", \"mIoU\": ");
        print_num(s.miou);
        printf(", \"mAcc\": ");
        print_num(s.macc);
        printf(", \"IoU\": [");
        for (int c = 0; c < classes; c++) printf("%s", c ? ", " : ""), print_num(s.iou[c]);
        printf("], \"Acc\": [");
        for (int c = 0; c < classes; c++) printf("%s", c ? ", " : ""), print_num(s.acc[c]);
        printf("]}\n");
    } else {
        printf("%-8s %8s %8s\n", "class", "IoU", "Acc");
        for (int c = 0; c < classes; c++) printf("%-8d %8.2f %8.2f\n", c, 100 * s.iou[c], 100 * s.acc[c]);
        printf("%d images: aAcc %.2f  mIoU %.2f  mAcc %.2f\n", n, 100 * s.aacc, 100 * s.miou, 100 * s.macc);
    }
    seg_eval_free(&s);
    return 0;
}


/* ---------------- dota ---------------- */
static void dota_usage(FILE *f) {
    fprintf(f,
            "usage: deltabench eval dota --gt labelTxt/ --dets DIR [--protocol devkit|mmrotate] [--classes dota10|dota15|star]\n"
            "                            [--metric 11points|area] [--iou 0.5] [--prefix Task1_] [--json]\n\n"
            "Rotated detection mAP. Ground truth: one DOTA label file per image (x1 y1 ... x4 y4 class difficult);\n"
            "detections: <prefix><class>.txt with lines \"image score x1 y1 x2 y2 x3 y3 x4 y4\".\n\n"
            "  --gt DIR         label files; every *.txt is an image of the test set (required)\n"
            "  --dets DIR       detection files (required); a missing class file means no detections\n"
            "  --protocol P     devkit (default): DOTA devkit Task 1 - exact polygon IoU > thr, difficult ignored,\n"
            "                   mAP over all classes of the list; mmrotate: eval_rbbox_map as the STAR numbers -\n"
            "                   minimum-area rotated rectangles, rectangle IoU >= thr, difficult kept as ordinary\n"
            "                   ground truth (mmrotate's difficulty threshold 100), mAP over classes with ground truth\n"
            "  --classes L      dota10 (15 classes, default), dota15 (16), star (48)\n"
            "  --metric M       11points (default, use_07_metric) or area\n"
            "  --iou T          IoU threshold (default 0.5)\n"
            "  --prefix P       detection file prefix (default Task1_)\n"
            "  --json           JSON output\n");
}

static int eval_dota(int argc, char **argv) {
    const char *gt = NULL, *dets = NULL, *prefix = "Task1_", *v;
    const char *const *classes = dota_classes_v10;
    int n_classes = 15, protocol = DOTA_PROTO_DEVKIT, mode = VOC_AP_11POINTS, json = 0;
    double iou = 0.5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            dota_usage(stdout);
            return 0;
        } else if ((v = opt_value(argc, argv, &i, "--gt"))) {
            gt = v;
        } else if ((v = opt_value(argc, argv, &i, "--dets"))) {
            dets = v;
        } else if ((v = opt_value(argc, argv, &i, "--prefix"))) {
            prefix = v;
        } else if ((v = opt_value(argc, argv, &i, "--iou"))) {
            iou = atof(v);
        } else if ((v = opt_value(argc, argv, &i, "--protocol"))) {
            if (!strcmp(v, "devkit")) protocol = DOTA_PROTO_DEVKIT;
            else if (!strcmp(v, "mmrotate")) protocol = DOTA_PROTO_MMROTATE;
            else {
                fprintf(stderr, "deltabench: --protocol must be devkit or mmrotate\n");
                return 2;
            }
        } else if ((v = opt_value(argc, argv, &i, "--metric"))) {
            if (!strcmp(v, "11points")) mode = VOC_AP_11POINTS;
            else if (!strcmp(v, "area")) mode = VOC_AP_AREA;
            else {
                fprintf(stderr, "deltabench: --metric must be 11points or area\n");
                return 2;
            }
        } else if ((v = opt_value(argc, argv, &i, "--classes"))) {
            if (!strcmp(v, "dota10")) classes = dota_classes_v10, n_classes = 15;
            else if (!strcmp(v, "dota15")) classes = dota_classes_v15, n_classes = 16;
            else if (!strcmp(v, "star")) classes = star_classes, n_classes = 48;
            else {
                fprintf(stderr, "deltabench: --classes must be dota10, dota15 or star\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else {
            fprintf(stderr, "deltabench: eval dota: unknown option '%s'\n\n", argv[i]);
            dota_usage(stderr);
            return 2;
        }
    }
    if (!gt || !dets) {
        fprintf(stderr, "deltabench: eval dota needs --gt and --dets\n\n");
        dota_usage(stderr);
        return 2;
    }
    voc_result r;
    if (dota_eval_files(gt, dets, prefix, classes, n_classes, protocol, iou, mode, &r) < 0) return fail();
    if (json) {
        printf("{\"protocol\": \"%s\", \"metric\": \"%s\", \"iou\": %g, \"mAP\": ", protocol ? "mmrotate" : "devkit",
               mode ? "area" : "11points", iou);
        print_num(r.map);
        printf(", \"classes\": [");
        for (int c = 0; c < n_classes; c++) {
            printf("%s{\"class\": \"%s\", \"gts\": %d, \"dets\": %d, \"recall\": %.17g, \"ap\": ", c ? ", " : "",
                   classes[c], r.num_gts[c], r.num_dets[c], r.recall[c]);
            print_num(r.ap[c]);
            printf("}");
        }
        printf("]}\n");
    } else {
        printf("%-20s %6s %6s %8s %8s\n", "class", "gts", "dets", "recall", "ap");
        for (int c = 0; c < n_classes; c++)
            printf("%-20s %6d %6d %8.3f %8.3f\n", classes[c], r.num_gts[c], r.num_dets[c], r.recall[c], r.ap[c]);
        printf("%-20s %6s %6s %8s %8.4f   (%s, %s, IoU %g)\n", "mAP", "", "", "", r.map, protocol ? "mmrotate" : "devkit",
               mode ? "area" : "11points", iou);
    }
    voc_result_free(&r);
    return 0;
}

/* ---------------- bench-coco ---------------- */
/* A val2017-sized synthetic problem: n_images images of 640x480 (every 4th 480x640), 80 categories,
 * n_gt ground-truth objects (1% crowd) spread over the images, and per image 100 detections: a noisy
 * copy of most ground-truth objects (some with the wrong category) plus random boxes. Ground-truth masks
 * are octagons inscribed in the boxes; detection masks are octagons of the detection boxes. */
static void octagon(const double bb[4], double xy[16]) {
    double x = bb[0], y = bb[1], w = bb[2], h = bb[3], cx = w * 0.3, cy = h * 0.3;
    double v[16] = {x + cx, y, x + w - cx, y, x + w, y + cy, x + w, y + h - cy,
                    x + w - cx, y + h, x + cx, y + h, x, y + h - cy, x, y + cy};
    memcpy(xy, v, sizeof v);
}

static void synth_coco(int n_images, int n_gt, int dets_per_image, uint64_t seed, int masks, coco_gt *gt, coco_det *dt) {
    rng_t r;
    rng_seed(&r, seed);
    memset(gt, 0, sizeof *gt);
    memset(dt, 0, sizeof *dt);
    gt->n_images = n_images;
    gt->images = xcalloc((size_t)n_images, sizeof(coco_gt_image));
    for (int i = 0; i < n_images; i++) {
        gt->images[i].id = 100000 + 7 * (int64_t)i;
        gt->images[i].width = i % 4 == 3 ? 480 : 640;
        gt->images[i].height = i % 4 == 3 ? 640 : 480;
    }
    gt->n_cats = 80;
    gt->cat_ids = xcalloc(80, sizeof(int64_t));
    for (int k = 0; k < 80; k++) gt->cat_ids[k] = k + 1 + k / 10; /* gaps, like COCO's 1..90 */
    gt->n_anns = n_gt;
    gt->anns = xcalloc((size_t)n_gt, sizeof(coco_gt_ann));
    for (int j = 0; j < n_gt; j++) {
        coco_gt_ann *a = &gt->anns[j];
        int i = (int)rng_below(&r, (uint32_t)n_images);
        const coco_gt_image *im = &gt->images[i];
        a->id = j + 1;
        a->image_id = im->id;
        a->category_id = gt->cat_ids[rng_below(&r, 80)];
        double s = rng_uniform(&r);
        double w = 4 + s * s * (im->width * 0.6), h = w * (0.5 + rng_uniform(&r));
        if (h > im->height * 0.8) h = im->height * 0.8;
        a->bbox[0] = rng_uniform(&r) * (im->width - w);
        a->bbox[1] = rng_uniform(&r) * (im->height - h);
        a->bbox[2] = w;
        a->bbox[3] = h;
        a->iscrowd = rng_below(&r, 100) == 0;
        double xy[16];
        octagon(a->bbox, xy);
        rle m;
        rle_from_poly(&m, xy, 8, (uint32_t)im->height, (uint32_t)im->width);
        a->area = (double)rle_area(&m);
        if (masks)
            a->mask = m;
        else
            rle_free(&m);
    }
    /* ground truth per image, to derive detections */
    int *cnt = xcalloc((size_t)n_images + 1, sizeof(int)), *start = xcalloc((size_t)n_images + 1, sizeof(int));
    int *idx = xmalloc((size_t)(n_gt + 1) * sizeof(int));
    for (int j = 0; j < n_gt; j++) cnt[(gt->anns[j].image_id - 100000) / 7]++;
    for (int i = 0; i < n_images; i++) start[i + 1] = start[i] + cnt[i];
    memset(cnt, 0, sizeof(int) * (size_t)n_images);
    for (int j = 0; j < n_gt; j++) {
        int i = (int)((gt->anns[j].image_id - 100000) / 7);
        idx[start[i] + cnt[i]++] = j;
    }
    dt->n = n_images * dets_per_image;
    dt->dets = xcalloc((size_t)dt->n, sizeof(coco_dt_ann));
    int n = 0;
    for (int i = 0; i < n_images; i++) {
        const coco_gt_image *im = &gt->images[i];
        for (int d = 0; d < dets_per_image; d++) {
            coco_dt_ann *o = &dt->dets[n++];
            o->image_id = im->id;
            int ng = start[i + 1] - start[i];
            if (ng > 0 && d < 3 * ng && rng_below(&r, 10) < 8) {
                const coco_gt_ann *a = &gt->anns[idx[start[i] + (int)rng_below(&r, (uint32_t)ng)]];
                double nz = 0.02 + 0.15 * rng_uniform(&r);
                o->bbox[0] = a->bbox[0] + a->bbox[2] * nz * (2 * rng_uniform(&r) - 1);
                o->bbox[1] = a->bbox[1] + a->bbox[3] * nz * (2 * rng_uniform(&r) - 1);
                o->bbox[2] = a->bbox[2] * (1 + nz * (2 * rng_uniform(&r) - 1));
                o->bbox[3] = a->bbox[3] * (1 + nz * (2 * rng_uniform(&r) - 1));
                o->category_id = rng_below(&r, 10) < 9 ? a->category_id : gt->cat_ids[rng_below(&r, 80)];
                o->score = 0.3 + 0.7 * rng_uniform(&r);
            } else {
                double w = 8 + rng_uniform(&r) * 200, h = 8 + rng_uniform(&r) * 200;
                o->bbox[0] = rng_uniform(&r) * (im->width - w);
                o->bbox[1] = rng_uniform(&r) * (im->height - h);
                o->bbox[2] = w;
                o->bbox[3] = h;
                o->category_id = gt->cat_ids[rng_below(&r, 80)];
                o->score = 0.5 * rng_uniform(&r);
            }
            o->score = (double)(float)o->score;
            if (masks) {
                double xy[16];
                octagon(o->bbox, xy);
                rle_from_poly(&o->mask, xy, 8, (uint32_t)im->height, (uint32_t)im->width);
                o->area = (double)rle_area(&o->mask);
                rle_to_bbox(&o->mask, o->bbox);
            } else {
                o->area = o->bbox[2] * o->bbox[3];
            }
        }
    }
    free(cnt);
    free(start);
    free(idx);
}

/* Write the synthetic problem as COCO JSON files so the reference tool can run on the same numbers. */
static int write_synth(const char *dir, const coco_gt *gt, const coco_det *dt, int masks) {
    char path[4096], tmp[4200];
    if (mkdir_p(dir) < 0) return -1;
    snprintf(path, sizeof path, "%s/gt.json", dir);
    if (atomic_tmpname(path, tmp, sizeof tmp) < 0) return -1;
    FILE *f = fopen(tmp, "w");
    if (!f) return err_set("%s: cannot write", tmp);
    fprintf(f, "{\"images\": [");
    for (int i = 0; i < gt->n_images; i++)
        fprintf(f, "%s{\"id\": %lld, \"file_name\": \"%lld.jpg\", \"width\": %d, \"height\": %d}", i ? ", " : "",
                (long long)gt->images[i].id, (long long)gt->images[i].id, gt->images[i].width, gt->images[i].height);
    fprintf(f, "], \"categories\": [");
    for (int k = 0; k < gt->n_cats; k++)
        fprintf(f, "%s{\"id\": %lld, \"name\": \"c%lld\"}", k ? ", " : "", (long long)gt->cat_ids[k], (long long)gt->cat_ids[k]);
    fprintf(f, "], \"annotations\": [");
    for (int j = 0; j < gt->n_anns; j++) {
        const coco_gt_ann *a = &gt->anns[j];
        double xy[16];
        octagon(a->bbox, xy);
        fprintf(f, "%s{\"id\": %lld, \"image_id\": %lld, \"category_id\": %lld, \"iscrowd\": %d, \"area\": %.17g, "
                   "\"bbox\": [%.17g, %.17g, %.17g, %.17g], \"segmentation\": [[",
                j ? ",\n" : "", (long long)a->id, (long long)a->image_id, (long long)a->category_id, a->iscrowd, a->area,
                a->bbox[0], a->bbox[1], a->bbox[2], a->bbox[3]);
        for (int q = 0; q < 16; q++) fprintf(f, "%s%.17g", q ? ", " : "", xy[q]);
        fprintf(f, "]]}");
    }
    fprintf(f, "]}\n");
    if (fclose(f) != 0 || atomic_commit(tmp, path) < 0) return err_set("%s: write failed", path);
    snprintf(path, sizeof path, "%s/%s.json", dir, masks ? "dt_segm" : "dt_bbox");
    if (atomic_tmpname(path, tmp, sizeof tmp) < 0) return -1;
    f = fopen(tmp, "w");
    if (!f) return err_set("%s: cannot write", tmp);
    fprintf(f, "[");
    for (int j = 0; j < dt->n; j++) {
        const coco_dt_ann *d = &dt->dets[j];
        fprintf(f, "%s{\"image_id\": %lld, \"category_id\": %lld, \"score\": %.17g", j ? ",\n" : "", (long long)d->image_id,
                (long long)d->category_id, d->score);
        if (masks) {
            char *s = rle_to_string(&d->mask);
            fprintf(f, ", \"segmentation\": {\"size\": [%u, %u], \"counts\": \"", d->mask.h, d->mask.w);
            for (char *c = s; *c; c++) { /* the RLE alphabet includes the backslash: JSON-escape it */
                if (*c == '\\') fputc('\\', f);
                fputc(*c, f);
            }
            fprintf(f, "\"}}");
            free(s);
        } else {
            fprintf(f, ", \"bbox\": [%.17g, %.17g, %.17g, %.17g]}", d->bbox[0], d->bbox[1], d->bbox[2], d->bbox[3]);
        }
    }
    fprintf(f, "]\n");
    if (fclose(f) != 0 || atomic_commit(tmp, path) < 0) return err_set("%s: write failed", path);
    return 0;
}

static void bench_usage(FILE *f) {
    fprintf(f,
            "usage: deltabench eval bench-coco [--iou-type bbox|segm] [--threads N] [--images N] [--gt-boxes N]\n"
            "                                  [--dets-per-image N] [--seed S] [--repeat R] [--write DIR] [--json]\n\n"
            "Times COCO evaluation (in memory: matching, accumulation, summary) on a synthetic val2017-sized problem.\n\n"
            "  --iou-type T        bbox (default) or segm\n"
            "  --threads N         threads (default 2)\n"
            "  --images N          images (default 5000)\n"
            "  --gt-boxes N        ground-truth objects (default 36000)\n"
            "  --dets-per-image N  detections per image (default 100)\n"
            "  --seed S            generator seed (default 1)\n"
            "  --repeat R          timed repetitions, the best is reported (default 3)\n"
            "  --write DIR         also write DIR/gt.json and DIR/dt_bbox.json (or dt_segm.json) for the\n"
            "                      reference tool, and time `eval coco` on those files (load + evaluation)\n"
            "  --json              machine-readable output\n");
}

static int eval_bench_coco(int argc, char **argv) {
    int iou_type = COCO_IOU_BBOX, threads = 2, n_images = 5000, n_gt = 36000, dpi = 100, repeat = 3, json = 0;
    uint64_t seed = 1;
    const char *write_dir = NULL, *v;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            bench_usage(stdout);
            return 0;
        } else if ((v = opt_value(argc, argv, &i, "--iou-type"))) {
            iou_type = !strcmp(v, "segm") ? COCO_IOU_SEGM : COCO_IOU_BBOX;
        } else if ((v = opt_value(argc, argv, &i, "--threads"))) {
            threads = atoi(v);
        } else if ((v = opt_value(argc, argv, &i, "--images"))) {
            n_images = atoi(v);
        } else if ((v = opt_value(argc, argv, &i, "--gt-boxes"))) {
            n_gt = atoi(v);
        } else if ((v = opt_value(argc, argv, &i, "--dets-per-image"))) {
            dpi = atoi(v);
        } else if ((v = opt_value(argc, argv, &i, "--seed"))) {
            seed = strtoull(v, NULL, 10);
        } else if ((v = opt_value(argc, argv, &i, "--repeat"))) {
            repeat = atoi(v);
        } else if ((v = opt_value(argc, argv, &i, "--write"))) {
            write_dir = v;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else {
            fprintf(stderr, "deltabench: eval bench-coco: unknown option '%s'\n\n", argv[i]);
            bench_usage(stderr);
            return 2;
        }
    }
    if (n_images < 1 || n_gt < 0 || dpi < 0 || repeat < 1) {
        fprintf(stderr, "deltabench: eval bench-coco: sizes must be positive\n");
        return 2;
    }
    coco_gt gt;
    coco_det dt;
    double t0 = time_now();
    synth_coco(n_images, n_gt, dpi, seed, iou_type == COCO_IOU_SEGM, &gt, &dt);
    double t_gen = time_now() - t0, best = 1e30;
    coco_summary s;
    memset(&s, 0, sizeof s);
    for (int r = 0; r < repeat; r++) {
        coco_summary_free(&s);
        double t = time_now();
        if (coco_eval_run(&gt, &dt, iou_type, threads, &s) < 0) return fail();
        t = time_now() - t;
        if (t < best) best = t;
    }
    double t_files = -1;
    if (write_dir) {
        if (write_synth(write_dir, &gt, &dt, iou_type == COCO_IOU_SEGM) < 0) return fail();
        char gp[4096], dp[4096];
        snprintf(gp, sizeof gp, "%s/gt.json", write_dir);
        snprintf(dp, sizeof dp, "%s/%s.json", write_dir, iou_type == COCO_IOU_SEGM ? "dt_segm" : "dt_bbox");
        double t = time_now();
        coco_gt g2;
        coco_det d2;
        coco_summary s2;
        if (coco_gt_load(gp, iou_type == COCO_IOU_SEGM, &g2) < 0) return fail();
        if (coco_results_load(dp, &g2, iou_type == COCO_IOU_SEGM, &d2) < 0) return fail();
        if (coco_eval_run(&g2, &d2, iou_type, threads, &s2) < 0) return fail();
        t_files = time_now() - t;
        for (int i = 0; i < 12; i++)
            if (s2.stats[i] != s.stats[i])
                fprintf(stderr, "deltabench: note: stats[%d] from files %.17g vs in memory %.17g\n", i, s2.stats[i], s.stats[i]);
        coco_summary_free(&s2);
        coco_gt_free(&g2);
        coco_det_free(&d2);
    }
    if (json) {
        printf("{\"iou_type\": \"%s\", \"images\": %d, \"gt\": %d, \"dets\": %d, \"threads\": %d, \"generate_s\": %.3f, "
               "\"eval_s\": %.4f, \"files_eval_s\": %.3f, \"AP\": %.17g, \"AP50\": %.17g, \"AR100\": %.17g}\n",
               iou_type ? "segm" : "bbox", n_images, n_gt, dt.n, threads, t_gen, best, t_files, s.stats[0], s.stats[1], s.stats[8]);
    } else {
        printf("bench-coco %s: %d images, %d gt, %d detections, %d threads\n", iou_type ? "segm" : "bbox", n_images, n_gt, dt.n, threads);
        printf("  generate %.3f s, evaluate (best of %d) %.4f s\n", t_gen, repeat, best);
        if (write_dir) printf("  from files (load gt + results JSON, evaluate): %.3f s\n", t_files);
        coco_summary_print(&s, iou_type, stdout);
    }
    coco_summary_free(&s);
    coco_gt_free(&gt);
    coco_det_free(&dt);
    return 0;
}

/* ---------------- dispatch ---------------- */
static void eval_usage(FILE *f) {
    fprintf(f, "usage: deltabench eval <coco|voc|seg|dota|bench-coco> [options]   (eval <kind> --help for options)\n\n"
               "  coco        COCO box/mask AP and AR (pycocotools)\n"
               "  voc         Pascal VOC mAP (mmdet 2.x eval_map or the devkit's voc_eval)\n"
               "  seg         semantic segmentation mIoU/mAcc/aAcc (mmseg mean_iou)\n"
               "  dota        rotated detection mAP (DOTA devkit Task1, or mmrotate eval_rbbox_map)\n"
               "  bench-coco  time COCO bbox evaluation on a val2017-sized synthetic problem\n");
}

int cmd_eval(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        eval_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "coco")) return eval_coco(argc - 1, argv + 1);
    if (!strcmp(argv[1], "voc")) return eval_voc(argc - 1, argv + 1);
    if (!strcmp(argv[1], "seg")) return eval_seg(argc - 1, argv + 1);
    if (!strcmp(argv[1], "dota")) return eval_dota(argc - 1, argv + 1);
    if (!strcmp(argv[1], "bench-coco")) return eval_bench_coco(argc - 1, argv + 1);
    fprintf(stderr, "deltabench: eval: unknown kind '%s'\n\n", argv[1]);
    eval_usage(stderr);
    return 2;
}
