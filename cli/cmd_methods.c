/* cmd_methods.c - `deltabench methods`: the method table with each method's trainable backbone parameters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "../models/swin.h"
#include "../methods/method.h"
#include "commands.h"

static void methods_usage(FILE *f) {
    fprintf(f,
            "usage: deltabench methods [--backbone NAME] [--out-indices LIST] [--json]\n\n"
            "Lists every tuning method with the number of trainable backbone parameters it leaves and their share\n"
            "of the plain backbone's parameters (nothing is allocated: counts come from the declarations).\n\n"
            "  --backbone NAME      swin-t, swin-s, swin-b, swin-l or tiny:<embed>:<depths>:<heads> (default swin-l)\n"
            "  --out-indices LIST   output stages, e.g. 1,2,3 (default 0,1,2,3; norm{i} exists for each)\n"
            "  --json               machine-readable output\n");
}

/* parse "1,2,3" into a stage mask */
int parse_out_indices(const char *s, int *mask) {
    *mask = 0;
    for (const char *p = s; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > 3) return err_set("--out-indices '%s': expected stage numbers 0..3 separated by commas", s);
        *mask |= 1 << v;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return err_set("--out-indices '%s': unexpected '%c'", s, *end);
    }
    return *mask ? 0 : err_set("--out-indices: empty");
}

int cmd_methods(int argc, char **argv) {
    const char *bb = "swin-l";
    int json = 0, out_mask = 0xF;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            methods_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--backbone") && i + 1 < argc) bb = argv[++i];
        else if (!strcmp(argv[i], "--out-indices") && i + 1 < argc) {
            if (parse_out_indices(argv[++i], &out_mask)) {
                fprintf(stderr, "deltabench methods: %s\n", err_msg());
                return 2;
            }
        } else if (!strcmp(argv[i], "--json")) json = 1;
        else {
            fprintf(stderr, "deltabench methods: unknown option '%s'\n", argv[i]);
            methods_usage(stderr);
            return 2;
        }
    }
    swin_config cfg;
    if (swin_preset(bb, &cfg)) {
        fprintf(stderr, "deltabench methods: %s\n", err_msg());
        return 2;
    }
    cfg.out_mask = out_mask;
    int64_t base = 0;
    {
        params ps;
        params_init(&ps);
        swin s;
        swin_build(&s, &ps, &cfg, &method_find("full")->plug);
        base = params_count(&ps, 0);
        swin_free(&s);
        params_free(&ps);
    }
    char desc[256];
    swin_config_str(&cfg, desc, sizeof desc);
    if (json) printf("{\"backbone\": \"%s\", \"config\": \"%s\", \"backbone_params\": %lld, \"methods\": [", bb, desc, (long long)base);
    else printf("%s: %s, %lld parameters\n\n%-12s %14s %9s  %s\n", bb, desc, (long long)base, "method", "trainable", "% of bb", "what trains");
    for (int i = 0; i < method_count; i++) {
        const method *m = method_table[i];
        params ps;
        params_init(&ps);
        swin s;
        swin_build(&s, &ps, &cfg, &m->plug);
        int64_t t = params_count(&ps, 1);
        double pct = 100.0 * (double)t / (double)base;
        if (json)
            printf("%s{\"method\": \"%s\", \"trainable\": %lld, \"percent\": %.4f, \"total\": %lld}", i ? ", " : "", m->name,
                   (long long)t, pct, (long long)params_count(&ps, 0));
        else printf("%-12s %14lld %8.3f%%  %s\n", m->name, (long long)t, pct, m->summary);
        swin_free(&s);
        params_free(&ps);
    }
    if (json) printf("]}\n");
    return 0;
}
