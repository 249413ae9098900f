/* cmd_eval.c - `deltabench eval coco|voc|seg|dota|bench-coco`: score detection, segmentation and rotated
 * detection results with the reference tools' exact rules (metrics/). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "../metrics/coco_eval.h"
#include "../metrics/coco_json.h"
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
    fprintf(stderr, "deltabench: eval: unknown kind '%s'\n\n", argv[1]);
    eval_usage(stderr);
    return 2;
}
