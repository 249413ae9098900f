/* cmd_data.c - `deltabench data inspect --format F PATH`: read a dataset through the trainers' readers and
 * print its summary, to check a download before a long run. The formats are the rows of one table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "commands.h"
#include "data_inspect.h"

/* One row per format. */
static const data_format formats[] = {
    {"coco", data_inspect_coco, "a COCO instances JSON file, e.g. coco/annotations/instances_val2017.json"},
    {"voc", data_inspect_voc, "a VOCdevkit folder (VOC2007/, VOC2012/); --split VOC2007/trainval,VOC2012/trainval"},
    {"ade20k", data_inspect_ade20k, "an ADEChallengeData2016 folder (images/, annotations/); --split training"},
    {"dota", data_inspect_dota, "a labelTxt folder of DOTA v1.0/v1.5 *.txt (original or split patches)"},
    {"star", data_inspect_star, "a STAR annfiles folder of *.txt (STAR-MMRotate layout: STAR/train/annfiles)"},
};
static const int n_formats = (int)(sizeof formats / sizeof formats[0]);

static void data_usage(FILE *f) {
    fprintf(f,
            "usage: deltabench data inspect --format FORMAT [options] PATH\n\n"
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
            "  -h, --help        this help\n");
}

int cmd_data(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        data_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "inspect")) {
        fprintf(stderr, "deltabench: data: unknown action '%s' (only 'inspect')\n\n", argv[1]);
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
