/* cmd_golden.c - `deltabench golden FILE.h5...`: conformance against golden tensors. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "../conformance/golden.h"
#include "commands.h"

static void golden_usage(FILE *f) {
    fprintf(f,
            "usage: deltabench golden [--threads N] FILE.h5...\n\n"
            "Reads golden files (schemas golden-backbone/1, golden-module/1, golden-adamw/1, golden-op/1; see\n"
            "../shared/golden/README.md and ../shared/golden/heads/README.md). For golden-op/1 (one op or head\n"
            "per file) it runs this build's op for the configuration in the file's attributes and compares\n"
            "outputs, gradients and integer results (exactly); an op not implemented yet is reported as\n"
            "NOT COVERED YET, neither passed nor failed. For golden-adamw/1 it runs the project's AdamW on the file's parameter\n"
            "groups and compares every step (tolerance 1e-5). For the others it\n"
            "builds the backbone and method each names with its configuration, loads its parameters, runs forward\n"
            "and backward with its loss and prints, per tensor group, the largest relative error\n"
            "max|x - ref| / max|ref| (tolerance 1e-5 outputs and intermediates, 5e-5 gradients), and checks the\n"
            "set and count of trainable parameters. Exit status 1 if anything is beyond tolerance (not-covered files\n"
            "do not fail the run; they are counted on the last line).\n\n"
            "  --threads N   OpenMP threads (default: all)\n");
}

int cmd_golden(int argc, char **argv) {
    int nfiles = 0, failed = 0, uncovered = 0;
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
        if (r.not_covered) uncovered++;
        else if (!r.ok) failed++;
    }
    if (!nfiles) {
        golden_usage(stderr);
        return 2;
    }
    printf("%d file(s): %d passed, %d failed, %d not covered yet\n", nfiles, nfiles - failed - uncovered, failed, uncovered);
    return failed ? 1 : 0;
}
