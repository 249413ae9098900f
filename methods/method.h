/* method.h - the tuning-method interface. A method is one row of the table in methods/method_table.c
 * and one file methods/<name>.c: a name, a summary, its options and a plug-in for the backbone's insertion
 * points (models/swin.h: modules per Swin block, declared as named parameters, acting at fixed hook points of
 * the block's forward, and the rule deciding by name which backbone parameters train). Adding a method: write
 * methods/<name>.c defining `const method method_<name>` and add one row to the table.
 *
 * Options. A method is named by a spec "name[:key=value[:key=value...]]" (a value may hold commas:
 * "mona:kernels=3,3,3"); each method file declares its options (name, type, the authors' value as default,
 * range, help) and reads the parsed values in block_declare from the plug-in's ctx (a method_opts; NULL =
 * every option at its default, which is what method_find's plain rows give). method_spec_parse checks a spec
 * against the table and gives
 *   spec  the canonical spec, every option written with defaults filled, in the table's order
 *         ("mona:width=64:kernels=3,5,7:scaled_ln=on"); what results and checkpoints record;
 *   key   a name safe for directories and HDF5 groups: the method name alone when every option is at its
 *         default ("mona", so the paper tables' keys stay), else the name followed by "_<key><value>" for each
 *         option off its default, commas in lists written '-', on/off as on/off ("mona_width32",
 *         "mona_kernels3-3-3_scaled_lnoff", "lora_rank16_alpha2"); characters [A-Za-z0-9_.-] only. */
#ifndef DB_METHOD_H
#define DB_METHOD_H

#include "../models/swin.h"

#define METHOD_MAX_OPTS 6
#define METHOD_MAX_LIST 8
#define METHOD_SPEC_MAX 192

typedef enum method_opt_type { MOPT_INT, MOPT_FLOAT, MOPT_BOOL, MOPT_INT_LIST } method_opt_type;

/* One option of a method, declared in the method's file. A value must parse as `type` and lie in [lo, hi]
 * (every element of a list, which holds 1..max_len elements; odd: integers must be odd). */
typedef struct method_opt {
    const char *key;
    method_opt_type type;
    const char *def; /* the authors' value, written as in a spec ("64", "3,5,7", "on", "0.1") */
    double lo, hi;
    int max_len;     /* MOPT_INT_LIST: at most this many elements (<= METHOD_MAX_LIST) */
    int odd;         /* integers must be odd (kernel sizes) */
    const char *help;
} method_opt;

typedef struct method_value {
    int n;                  /* elements (1 for scalars) */
    int i[METHOD_MAX_LIST]; /* MOPT_INT, MOPT_BOOL (0/1) and list elements */
    double f;               /* MOPT_FLOAT */
} method_value;

struct method;
/* Parsed option values of one method, in the order of its option table. */
typedef struct method_opts {
    const struct method *m;
    method_value v[METHOD_MAX_OPTS];
} method_opts;

typedef struct method {
    const char *name;
    const char *summary;
    swin_plugin plug;       /* what the backbone sees (ctx NULL: the default options) */
    const method_opt *opts; /* the options it takes (n_opts of them; NULL/0: none) */
    int n_opts;
} method;

extern const method *const method_table[];
extern const int method_count;
/* Look a method up by its plain name (NULL if none). */
const method *method_find(const char *name);

/* A method with its options resolved: what a run builds its backbone with. plug is m->plug with ctx = &o, so
 * a method_spec must stay where method_spec_parse wrote it while a backbone built from &plug lives. */
typedef struct method_spec {
    const method *m;
    method_opts o;
    char spec[METHOD_SPEC_MAX]; /* canonical, defaults filled */
    char key[METHOD_SPEC_MAX];  /* file-safe name (see above) */
    swin_plugin plug;
} method_spec;

/* Parse and check a spec. -1 with err_set naming the method, the option and the accepted values (unknown
 * method or option, missing or malformed value, out of range, option given twice). */
int method_spec_parse(const char *text, method_spec *out);
/* The defaults of m (its table's def strings; they are checked by the tests, a bad one aborts). */
void method_opts_default(const method *m, method_opts *o);
/* The options a plug-in's block_declare receives: ctx itself, or m's defaults written into *tmp when ctx is NULL. */
const method_opts *method_opts_get(const void *ctx, const method *m, method_opts *tmp);
/* "width=64 (integer 1..4096)": an option's accepted values, for help and error messages. */
void method_opt_describe(const method_opt *o, char *buf, int n);
/* Canonical spec of a (possibly plain) spec text into buf: 0, or -1 (err_set) if it does not parse. */
int method_spec_canonical(const char *text, char *buf, int n);

/* Load a delta checkpoint (core/checkpoint.h, ckpt_load_delta) onto a store built with sp, after checking that its
 * metadata "method" (the spec the trainer recorded) has sp's canonical spec: a mismatch, or no method recorded,
 * is an error naming both, even where the shapes would agree (lora:alpha=2 against lora). */
int method_load_delta(const char *path, params *ps, const method_spec *sp, char **metadata_json);

/* Helpers for method files. */
tensor *method_param(params *ps, const block_info *bi, const char *suffix, int ndim, const int *shape);
int name_contains(const char *name, const char *needle);

#endif
