/* cmd_data.c - `deltabench data inspect --format F PATH`: read a dataset through the trainers' readers and
 * print its summary, to check a download before a long run. The formats are the rows of one table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "commands.h"
#include "../datasets/dota.h"
#include "../datasets/image.h"
#include "../datasets/synth_dense.h"
#include "data_inspect.h"

/* One row per format. */
static const data_format formats[] = {
    {"coco", data_inspect_coco, "a COCO instances JSON file, e.g. coco/annotations/instances_val2017.json"},
    {"voc", data_inspect_voc, "a VOCdevkit folder (VOC2007/, VOC2012/); --split VOC2007/trainval,VOC2012/trainval"},
    {"ade20k", data_inspect_ade20k, "an ADEChallengeData2016 folder (images/, annotations/); --split training"},
    {"dota", data_inspect_dota, "a labelTxt folder of DOTA v1.0/v1.5 *.txt (original or split patches)"},
    {"star", data_inspect_star, "a STAR annfiles folder of *.txt (STAR-MMRotate layout: STAR/train/annfiles)"},
    {"cls", data_inspect_cls, "a classification root: flowers102, pets, voc2007, mmcls lists or class folders (auto-detected)"},
};
static const int n_formats = (int)(sizeof formats / sizeof formats[0]);

static void data_usage(FILE *f) {
    fprintf(f,
            "usage: deltabench data inspect --format FORMAT [options] PATH\n"
            "       deltabench data synth --format coco|voc|ade20k|dota [--seed N] [--images N] OUT\n"
            "       deltabench data synth --kind flowers|pets|voc|upstream --out DIR [options]  (classification;\n"
            "                                                                 see data synth --kind x --help)\n"
            "       deltabench data split --format dota|star [--size 1024] [--gap 200] [--version 1.0|1.5] IN OUT\n\n"
            "split cuts IN/images/*.png with IN/labelTxt/*.txt (star: IN/annfiles) into patches as mmrotate's\n"
            "img_split (rate 1.0, img_rate_thr 0.6, iof_thr 0.7, padding 104,116,124), writing OUT/images and\n"
            "OUT/annfiles.\n\n"
            "synth --format writes a seeded synthetic dense dataset in the format's real layout under OUT (default\n"
            "8 images, seed 0; voc: N trainval07 + N/2 test07 + N trainval12; ade20k: N training + N/2\n"
            "validation). synth --kind writes a classification set (cli/cmd_synth.c).\n\n"
            "Reads a dataset with the same readers the trainers use and prints a summary (images, instances per\n"
            "class, crowd/difficult/ignored counts, image and object size ranges). Exit status 0 when it reads\n"
            "cleanly, 1 on the first bad file or entry (named in the message) unless --skip-bad is given.\n\n"
            "options:\n"
            "  --format FORMAT   required; one of:\n");
    for (int i = 0; i < n_formats; i++) fprintf(f, "                      %-7s PATH = %s\n", formats[i].name, formats[i].path_help);
    fprintf(f,
            "  --json            print one JSON object instead of text (default: text)\n"
            "  --skip-bad        skip bad samples/entries with a warning, count them (default: fail)\n"
            "  --split NAME      voc: comma-separated VOCyyyy/<list> (default VOC2007/test); ade20k: training or\n"
            "                    validation (default validation)\n"
            "  --version V       dota: class list 1.0 (15 classes) or 1.5 (16) (default: 1.0)\n"
            "  --angle A         dota/star: rotated-box convention le90 or oc (default: le90)\n"
            "  --images DIR      coco: the image folder (default: <annotations>/../<split>, e.g. coco/val2017)\n"
            "  --no-images       do not open the images (default: each must exist, its header must decode\n"
            "                    and its size match the annotation)\n"
            "  -h, --help        this help\n");
}

static int data_synth(int argc, char **argv) {
    const char *format = NULL, *out = NULL;
    long seed = 0, n = 8;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--format") && i + 1 < argc) format = argv[++i];
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--images") && i + 1 < argc) n = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            data_usage(stdout);
            return 0;
        } else if (argv[i][0] != '-' && !out) out = argv[i];
        else {
            fprintf(stderr, "deltabench: data synth: unknown option or missing value: %s\n", argv[i]);
            return 2;
        }
    }
    if (!format || !out || n < 1 || n > 1000000) {
        fprintf(stderr, "deltabench: data synth: --format and OUT are required (and --images >= 1)\n");
        return 2;
    }
    synth_summary s;
    int rc;
    if (!strcmp(format, "coco")) {
        synth_coco_cfg c = {.split = "train2017", .n_images = (int)n, .crowd_prob = 0.3f, .seed = (uint64_t)seed};
        rc = synth_coco_write(out, &c, &s);
        if (rc == 0) {
            c.split = "val2017";
            c.n_images = (int)(n / 2 > 0 ? n / 2 : 1);
            c.seed = (uint64_t)seed + 1000003;
            synth_summary s2;
            rc = synth_coco_write(out, &c, &s2);
            s.n_images += s2.n_images, s.n_objects += s2.n_objects;
        }
    } else if (!strcmp(format, "voc")) {
        synth_voc_cfg c = {.n_trainval07 = (int)n, .n_test07 = (int)(n / 2 > 0 ? n / 2 : 1), .n_trainval12 = (int)n,
                           .seed = (uint64_t)seed};
        rc = synth_voc_write(out, &c, &s);
    } else if (!strcmp(format, "ade20k")) {
        synth_ade_cfg c = {.n_train = (int)n, .n_val = (int)(n / 2 > 0 ? n / 2 : 1), .seed = (uint64_t)seed};
        rc = synth_ade20k_write(out, &c, &s);
    } else if (!strcmp(format, "dota")) {
        synth_dota_cfg c = {.n_images = (int)n, .seed = (uint64_t)seed};
        rc = synth_dota_write(out, &c, &s);
    } else {
        fprintf(stderr, "deltabench: data synth: unknown format '%s' (coco, voc, ade20k, dota)\n", format);
        return 2;
    }
    if (rc < 0) {
        fprintf(stderr, "deltabench: %s\n", err_msg());
        return 1;
    }
    printf("wrote %d images, %d objects (%s, seed %ld) under %s\n", s.n_images, s.n_objects, format, seed, out);
    return 0;
}

static int data_split(int argc, char **argv) {
    const char *format = NULL, *in = NULL, *out = NULL, *version = "1.0";
    long size = 1024, gap = 200;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--format") && i + 1 < argc) format = argv[++i];
        else if (!strcmp(argv[i], "--size") && i + 1 < argc) size = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--gap") && i + 1 < argc) gap = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--version") && i + 1 < argc) version = argv[++i];
        else if (argv[i][0] != '-' && !in) in = argv[i];
        else if (argv[i][0] != '-' && !out) out = argv[i];
        else {
            fprintf(stderr, "deltabench: data split: unknown option or missing value: %s\n", argv[i]);
            return 2;
        }
    }
    if (!format || !in || !out || size < 16 || gap < 0 || gap >= size) {
        fprintf(stderr, "deltabench: data split: --format, IN and OUT are required (and 0 <= gap < size)\n");
        return 2;
    }
    const char *const *cls = dota_classes_v10;
    int ncls = 15;
    const char *ann_sub = "labelTxt";
    if (!strcmp(format, "star")) cls = star_classes, ncls = 48, ann_sub = "annfiles";
    else if (!strcmp(format, "dota") && !strcmp(version, "1.5")) cls = dota_classes_v15, ncls = 16;
    else if (strcmp(format, "dota")) {
        fprintf(stderr, "deltabench: data split: --format must be dota or star\n");
        return 2;
    }
    char ann_dir[4096], oi[4096], oa[4096];
    snprintf(ann_dir, sizeof ann_dir, "%s/%s", in, ann_sub);
    snprintf(oi, sizeof oi, "%s/images", out);
    snprintf(oa, sizeof oa, "%s/annfiles", out);
    dota_dataset ds;
    if (dota_load_dir(ann_dir, cls, ncls, RBOX_LE90, 0, NULL, &ds) < 0) {
        fprintf(stderr, "deltabench: %s\n", err_msg());
        return 1;
    }
    static const uint8_t pad[3] = {104, 116, 124};
    long patches = 0;
    for (int i = 0; i < ds.n_items; i++) {
        char ip[8192];
        snprintf(ip, sizeof ip, "%s/images/%s.png", in, ds.items[i].stem);
        image im;
        int np = -1;
        if (image_read(ip, IMG_RGB, &im) == 0) {
            np = dota_split_image(&im, &ds.items[i].ann, cls, ds.items[i].stem, (int)size, (int)gap, 0.6, 0.7, pad, oi, oa);
            image_free(&im);
        }
        if (np < 0) {
            fprintf(stderr, "deltabench: %s\n", err_msg());
            dota_dataset_free(&ds);
            return 1;
        }
        patches += np;
    }
    printf("split %d images into %ld patches of %ld (gap %ld) under %s\n", ds.n_items, patches, size, gap, out);
    dota_dataset_free(&ds);
    return 0;
}

int cmd_data(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        data_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "synth")) {
        /* --kind: the classification sets (cli/cmd_synth.c); --format: the dense sets (below) */
        for (int i = 2; i < argc; i++)
            if (!strcmp(argv[i], "--kind")) return cmd_data_synth(argc - 1, argv + 1);
        for (int i = 2; i < argc; i++)
            if (!strcmp(argv[i], "--format")) return data_synth(argc, argv);
        return cmd_data_synth(argc - 1, argv + 1); /* its usage and errors */
    }
    if (!strcmp(argv[1], "split")) return data_split(argc, argv);
    if (strcmp(argv[1], "inspect")) {
        fprintf(stderr, "deltabench: data: unknown action '%s' (inspect, synth or split)\n\n", argv[1]);
        data_usage(stderr);
        return 2;
    }
    data_inspect_args a;
    memset(&a, 0, sizeof a);
    const char *format = NULL;
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i];
        int has_val = i + 1 < argc;
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            data_usage(stdout);
            return 0;
        } else if (!strcmp(o, "--json")) {
            a.json = 1;
        } else if (!strcmp(o, "--no-images")) {
            a.no_images = 1;
        } else if (!strcmp(o, "--images") && has_val) {
            a.images = argv[++i];
        } else if (!strcmp(o, "--skip-bad")) {
            a.skip_bad = 1;
        } else if ((!strcmp(o, "--format") || !strcmp(o, "--split") || !strcmp(o, "--version") ||
                    !strcmp(o, "--angle")) && has_val) {
            const char *v = argv[++i];
            if (o[2] == 'f') format = v;
            else if (o[2] == 's') a.split = v;
            else if (o[2] == 'v') a.version = v;
            else a.angle = v;
        } else if (o[0] == '-' && o[1]) {
            fprintf(stderr, "deltabench: data inspect: unknown option or missing value: %s\n", o);
            return 2;
        } else if (!a.path) {
            a.path = o;
        } else {
            fprintf(stderr, "deltabench: data inspect: more than one PATH ('%s', '%s')\n", a.path, o);
            return 2;
        }
    }
    if (!format || !a.path) {
        fprintf(stderr, "deltabench: data inspect: --format and PATH are required\n\n");
        data_usage(stderr);
        return 2;
    }
    for (int i = 0; i < n_formats; i++)
        if (!strcmp(format, formats[i].name)) {
            err_clear();
            int rc = formats[i].inspect(&a);
            if (rc != 0) {
                fprintf(stderr, "deltabench: %s\n", err_msg());
                return 1;
            }
            return 0;
        }
    fprintf(stderr, "deltabench: data inspect: unknown format '%s'; known:", format);
    for (int i = 0; i < n_formats; i++) fprintf(stderr, " %s", formats[i].name);
    fprintf(stderr, "\n");
    return 2;
}
