/* cmd_ckpt.c - `deltabench ckpt`: inspect checkpoint files (.pth written by torch.save, .safetensors,
 * deltabench delta and training-state checkpoints): tensor count, parameter count, dtypes, metadata,
 * optionally every tensor; --json for machines. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/checkpoint.h"
#include "../core/common.h"
#include "commands.h"

static void ckpt_usage(FILE *f) {
    fprintf(f,
            "usage: deltabench ckpt [--tensors] [--json] FILE...\n\n"
            "Read checkpoint files and summarise them: PyTorch .pth (torch.save >= 1.6 zip archives; the\n"
            "state dict is the top-level dict or its 'state_dict' / 'model' entry) and .safetensors (including\n"
            "deltabench delta and training-state checkpoints, whose metadata is printed).\n\n"
            "options:\n"
            "  --tensors   list every tensor: name, dtype in the file, shape (default: off)\n"
            "  --json      one JSON object per file on stdout (default: text)\n"
            "  -h, --help  this help\n\n"
            "Exit status 0 when every file was read, 1 otherwise (the error names the file and the place).\n");
}

static void shape_txt(const ckpt_tensor *t, char *buf, size_t n) {
    size_t k = (size_t)snprintf(buf, n, "(");
    for (int d = 0; d < t->ndim && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, d ? ", %lld" : "%lld", (long long)t->shape[d]);
    if (k < n) snprintf(buf + k, n - k, ")");
}

int cmd_ckpt(int argc, char **argv) {
    int json = 0, tensors = 0, nfiles = 0, rc = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            ckpt_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--tensors")) tensors = 1;
        else if (argv[i][0] == '-') {
            fprintf(stderr, "deltabench ckpt: unknown option '%s'\n\n", argv[i]);
            ckpt_usage(stderr);
            return 2;
        } else nfiles++;
    }
    if (!nfiles) {
        ckpt_usage(stderr);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-') continue;
        ckpt_tensors sd;
        if (ckpt_load_state_dict(argv[i], &sd)) {
            fprintf(stderr, "deltabench: %s\n", err_msg());
            rc = 1;
            continue;
        }
        int64_t total = 0;
        for (int k = 0; k < sd.n; k++) total += sd.t[k].n;
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "file", argv[i]);
            cJSON_AddNumberToObject(o, "n_tensors", sd.n);
            cJSON_AddNumberToObject(o, "n_values", (double)total);
            cJSON_AddNumberToObject(o, "n_skipped_entries", sd.n_skipped);
            cJSON *m = cJSON_AddObjectToObject(o, "metadata");
            for (int k = 0; k < sd.n_meta; k++) cJSON_AddStringToObject(m, sd.meta_key[k], sd.meta_val[k]);
            if (tensors) {
                cJSON *a = cJSON_AddArrayToObject(o, "tensors");
                for (int k = 0; k < sd.n; k++) {
                    cJSON *t = cJSON_CreateObject();
                    cJSON_AddStringToObject(t, "name", sd.t[k].name);
                    cJSON_AddStringToObject(t, "dtype", sd.t[k].dtype);
                    cJSON *s = cJSON_AddArrayToObject(t, "shape");
                    for (int d = 0; d < sd.t[k].ndim; d++) cJSON_AddItemToArray(s, cJSON_CreateNumber((double)sd.t[k].shape[d]));
                    cJSON_AddItemToArray(a, t);
                }
            }
            char *s = cJSON_PrintUnformatted(o);
            printf("%s\n", s);
            free(s);
            cJSON_Delete(o);
        } else {
            printf("%s: %d tensors, %lld values", argv[i], sd.n, (long long)total);
            if (sd.n_skipped) printf(", %d non-tensor entries skipped", sd.n_skipped);
            printf("\n");
            for (int k = 0; k < sd.n_meta; k++) printf("  meta %s = %s\n", sd.meta_key[k], sd.meta_val[k]);
            if (tensors)
                for (int k = 0; k < sd.n; k++) {
                    char sh[256];
                    shape_txt(&sd.t[k], sh, sizeof sh);
                    printf("  %-60s %-5s %s\n", sd.t[k].name, sd.t[k].dtype, sh);
                }
        }
        ckpt_tensors_free(&sd);
    }
    return rc;
}
