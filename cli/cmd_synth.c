/* cmd_synth.c - `deltabench data synth`: write one of the embedded synthetic classification datasets
 * (stand-ins for Flowers102, Oxford-IIIT Pets, VOC2007, or the upstream pretraining set) as JPEGs in the
 * authors' list format, then read it back through the list reader to check it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "../datasets/cls_dataset.h"
#include "../datasets/cls_synth.h"
#include "commands.h"

static void synth_usage(FILE *f) {
    fprintf(f,
            "usage: deltabench data synth --kind KIND --out DIR [options]\n\n"
            "Draws a synthetic classification dataset (deterministic for a seed, any thread count) and writes it\n"
            "in the authors' mmcls list layout: DIR/train2mmcls.txt, DIR/test2mmcls.txt, DIR/classes.txt,\n"
            "DIR/images/{train,test}/*.jpg, DIR/synth.json. A DIR whose synth.json matches is reused as is.\n"
            "Read it with the 'list' classification format (cls_dataset_open(CLS_FMT_LIST, DIR, ...)).\n\n"
            "options:\n"
            "  --kind KIND        required: flowers (16 classes), pets (12), voc (10), upstream (40)\n"
            "  --out DIR          required: output folder (created)\n"
            "  --seed N           generator seed (default 0)\n"
            "  --train N          training images per class (default: flowers 20, pets 30, voc 35, upstream 300)\n"
            "  --test N           test images per class (default: flowers 15, pets 20, voc 25, upstream 25)\n"
            "  --size MIN[:MAX]   image sides drawn in [MIN, MAX] (default 96:128; upstream 80:112)\n"
            "  --quality Q        JPEG quality 1..100 (default 90)\n"
            "  --force            rewrite even when DIR/synth.json matches\n"
            "  --json             print a JSON summary on stdout (default: one text line)\n"
            "  -q, --quiet        no progress lines on stderr\n"
            "  -h, --help         this help\n");
}

static int parse_int_arg(const char *opt, const char *v, long lo, long hi, long *out) {
    char *end;
    long x = strtol(v, &end, 10);
    if (end == v || (*end && *end != ':') || x < lo || x > hi) {
        fprintf(stderr, "deltabench: data synth: %s wants an integer in %ld..%ld, got '%s'\n", opt, lo, hi, v);
        return -1;
    }
    *out = x;
    return 0;
}

int cmd_data_synth(int argc, char **argv) {
    const char *kind_s = NULL, *out = NULL;
    unsigned long long seed = 0;
    synth_opts o;
    memset(&o, 0, sizeof o);
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int hv = i + 1 < argc;
        long v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            synth_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--kind") && hv) kind_s = argv[++i];
        else if (!strcmp(a, "--out") && hv) out = argv[++i];
        else if (!strcmp(a, "--seed") && hv) {
            char *end;
            const char *s = argv[++i];
            seed = strtoull(s, &end, 10);
            if (end == s || *end) {
                fprintf(stderr, "deltabench: data synth: --seed wants a non-negative integer, got '%s'\n", s);
                return 2;
            }
        } else if (!strcmp(a, "--train") && hv) {
            if (parse_int_arg(a, argv[++i], 1, 100000, &v)) return 2;
            o.n_train_per_class = (int)v;
        } else if (!strcmp(a, "--test") && hv) {
            if (parse_int_arg(a, argv[++i], 1, 100000, &v)) return 2;
            o.n_test_per_class = (int)v;
        } else if (!strcmp(a, "--size") && hv) {
            const char *s = argv[++i];
            if (parse_int_arg(a, s, 16, 2048, &v)) return 2;
            o.img_min = o.img_max = (int)v;
            const char *colon = strchr(s, ':');
            if (colon) {
                if (parse_int_arg(a, colon + 1, 16, 2048, &v)) return 2;
                o.img_max = (int)v;
            }
        } else if (!strcmp(a, "--quality") && hv) {
            if (parse_int_arg(a, argv[++i], 1, 100, &v)) return 2;
            o.jpeg_quality = (int)v;
        } else if (!strcmp(a, "--force")) o.force = 1;
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) o.quiet = 1;
        else {
            fprintf(stderr, "deltabench: data synth: unknown option or missing value: %s\n\n", a);
            synth_usage(stderr);
            return 2;
        }
    }
    if (!kind_s || !out) {
        fprintf(stderr, "deltabench: data synth: --kind and --out are required\n\n");
        synth_usage(stderr);
        return 2;
    }
    synth_kind kind;
    if (synth_kind_parse(kind_s, &kind)) {
        fprintf(stderr, "deltabench: %s\n", err_msg());
        return 2;
    }
    double t0 = time_now();
    if (mkdir_p(out) || cls_synth_write(kind, out, seed, &o)) {
        fprintf(stderr, "deltabench: %s\n", err_msg());
        return 1;
    }
    double dt = time_now() - t0;
    /* read it back through the real list reader */
    cls_dataset tr, te;
    if (cls_dataset_open(CLS_FMT_LIST, out, "train", &tr)) {
        fprintf(stderr, "deltabench: reading back: %s\n", err_msg());
        return 1;
    }
    if (cls_dataset_open(CLS_FMT_LIST, out, "test", &te)) {
        fprintf(stderr, "deltabench: reading back: %s\n", err_msg());
        cls_dataset_free(&tr);
        return 1;
    }
    if (json)
        printf("{\"kind\": \"%s\", \"out\": \"%s\", \"seed\": %llu, \"n_classes\": %d, \"n_train\": %d, \"n_test\": %d, "
               "\"seconds\": %.3f}\n",
               synth_kind_name(kind), out, seed, tr.n_classes, tr.n, te.n, dt);
    else
        printf("synth %s seed %llu: %d classes, %d train + %d test images in %s (%.1f s)\n", synth_kind_name(kind), seed,
               tr.n_classes, tr.n, te.n, out, dt);
    cls_dataset_free(&tr);
    cls_dataset_free(&te);
    return 0;
}
