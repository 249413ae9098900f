/* cmd_methods.c - `deltabench methods [SPEC...]`: the method table (or the given method specs, e.g.
 * mona:width=32) with each one's trainable backbone parameters; --help lists every method's options. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "../models/swin.h"
#include "../methods/method.h"
#include "commands.h"

static void methods_usage(FILE *f) {
    fprintf(f,
            "usage: deltabench methods [--backbone NAME] [--out-indices LIST] [--json] [SPEC...]\n\n"
            "Lists every tuning method (or each SPEC given) with the number of trainable backbone parameters it\n"
            "leaves and their share of the plain backbone's parameters (nothing is allocated: counts come from the\n"
            "declarations).\n\n"
            "  --backbone NAME      swin-t, swin-s, swin-b, swin-l or tiny:<embed>:<depths>:<heads> (default swin-l)\n"
            "  --out-indices LIST   output stages, e.g. 1,2,3 (default 0,1,2,3; norm{i} exists for each)\n"
            "  --json               machine-readable output\n"
            "  SPEC                 a method with options, name[:key=value[:key=value...]], e.g. mona:width=32,\n"
            "                       mona:kernels=3,3,3, mona:scaled_ln=off, lora:rank=16, adapter:width=32\n\n"
            "A spec names a method wherever one is asked for (recipes' \"methods\" lists, --methods). Results and\n"
            "checkpoints record its canonical form, every option with its default filled in; run directories and\n"
            "result groups use its key: the plain name at the defaults, else name_<key><value>... (mona_width32,\n"
            "mona_kernels3-3-3, lora_rank16_alpha0.5). The defaults are the authors' values.\n\n"
            "Methods and their options:\n");
    for (int i = 0; i < method_count; i++) {
        const method *m = method_table[i];
        fprintf(f, "  %-12s %s%s\n", m->name, m->summary, m->n_opts ? "" : " (no options)");
        for (int k = 0; k < m->n_opts; k++) {
            char acc[160];
            method_opt_describe(&m->opts[k], acc, sizeof acc);
            fprintf(f, "      %-10s default %-6s %s; %s\n", m->opts[k].key, m->opts[k].def, acc, m->opts[k].help);
        }
    }
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
    int json = 0, out_mask = 0xF, n_specs = 0;
    method_spec *specs = xcalloc((size_t)argc + method_count, sizeof *specs);
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
        else if (argv[i][0] != '-') {
            if (method_spec_parse(argv[i], &specs[n_specs])) {
                fprintf(stderr, "deltabench methods: %s\n", err_msg());
                free(specs);
                return 2;
            }
            n_specs++;
        } else {
            fprintf(stderr, "deltabench methods: unknown option '%s'\n", argv[i]);
            methods_usage(stderr);
            free(specs);
            return 2;
        }
    }
    if (!n_specs)
        for (int i = 0; i < method_count; i++)
            if (method_spec_parse(method_table[i]->name, &specs[n_specs++])) DB_ASSERT(0, "%s", err_msg());
    swin_config cfg;
    if (swin_preset(bb, &cfg)) {
        fprintf(stderr, "deltabench methods: %s\n", err_msg());
        free(specs);
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
    for (int i = 0; i < n_specs; i++) {
        const method_spec *sp = &specs[i];
        params ps;
        params_init(&ps);
        swin s;
        swin_build(&s, &ps, &cfg, &sp->plug);
        int64_t t = params_count(&ps, 1);
        double pct = 100.0 * (double)t / (double)base;
        if (json)
            printf("%s{\"method\": \"%s\", \"spec\": \"%s\", \"key\": \"%s\", \"trainable\": %lld, \"percent\": %.4f, \"total\": %lld}",
                   i ? ", " : "", sp->m->name, sp->spec, sp->key, (long long)t, pct, (long long)params_count(&ps, 0));
        else {
            const char *opt = strchr(sp->spec, ':');
            printf("%-12s %14lld %8.3f%%  %s%s%s%s\n", sp->key, (long long)t, pct, sp->m->summary, opt ? " [" : "", opt ? opt + 1 : "",
                   opt ? "]" : "");
        }
        swin_free(&s);
        params_free(&ps);
    }
    if (json) printf("]}\n");
    free(specs);
    return 0;
}
