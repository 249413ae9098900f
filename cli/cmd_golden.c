/* cmd_golden.c - `deltabench golden FILE.h5...`: conformance against golden tensors. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "../core/golden.h"
#include "commands.h"

static void golden_usage(FILE *f) {
    fprintf(f,
            "usage: deltabench golden [--threads N] FILE.h5...\n\n"
            "Reads golden files (schemas golden-backbone/1, golden-module/1, golden-adamw/1; see\n"
            "../shared/golden/README.md); for golden-adamw/1 it runs the project's AdamW on the file's parameter\n"
            "groups and compares every step (tolerance 1e-5). For the others it\n"
            "builds the backbone and method each names with its configuration, loads its parameters, runs forward\n"
            "and backward with its loss and prints, per tensor group, the largest relative error\n"
            "max|x - ref| / max|ref| (tolerance 1e-5 outputs and intermediates, 5e-5 gradients), and checks the\n"
            "set and count of trainable parameters. Exit status 1 if anything is beyond tolerance.\n\n"
            "  --threads N   OpenMP threads (default: all)\n");
}

int cmd_golden(int argc, char **argv) {
    int nfiles = 0, failed = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            golden_usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            omp_set_num_threads(atoi(argv[++i]));
            continue;
        }
        if (argv[i][0] == '-') {
            fprintf(stderr, "deltabench golden: unknown option %s\n", argv[i]);
            golden_usage(stderr);
            return 2;
        }
        nfiles++;
        golden_result r;
        if (golden_check(argv[i], &r)) {
            fprintf(stderr, "deltabench golden: %s\n", err_msg());
            failed++;
            continue;
        }
        golden_print(argv[i], &r);
        if (!r.ok) failed++;
    }
    if (!nfiles) {
        golden_usage(stderr);
        return 2;
    }
    printf("%d file(s): %d passed, %d failed\n", nfiles, nfiles - failed, failed);
    return failed ? 1 : 0;
}
