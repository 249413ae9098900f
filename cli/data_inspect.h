/* data_inspect.h - the per-format summaries behind `deltabench data inspect`. Each format is one row
 * {name, function, summary} in the table in cli/cmd_data.c; a function reads PATH through the same reader
 * the trainers use and prints a summary (text, or one JSON object with --json). Add a format: write
 * `int data_inspect_<name>(const data_inspect_args *a)` in its own cli/data_inspect_<name>.c, declare it
 * here, add its row to the table. */
#ifndef DB_DATA_INSPECT_H
#define DB_DATA_INSPECT_H

typedef struct data_inspect_args {
    const char *path;    /* the dataset (file or folder, per format) */
    int json;            /* print one JSON object instead of text */
    int skip_bad;        /* skip bad samples with a warning and count them, instead of failing */
    const char *split;   /* format-specific split name, NULL for the default */
    const char *version; /* format-specific variant (dota: "1.0" or "1.5"; angle conventions: le90/oc) */
    const char *angle;   /* dota/star: rotated-box convention "le90" (default) or "oc" */
    const char *images;  /* coco: the image folder (default: inferred from the annotation path) */
    int no_images;       /* do not open the image files (default: check each exists and its header size) */
} data_inspect_args;

typedef struct data_format {
    const char *name;
    int (*inspect)(const data_inspect_args *a);
    const char *path_help; /* what PATH is */
} data_format;

int data_inspect_coco(const data_inspect_args *a);
int data_inspect_voc(const data_inspect_args *a);
int data_inspect_ade20k(const data_inspect_args *a);
int data_inspect_dota(const data_inspect_args *a);
int data_inspect_star(const data_inspect_args *a);
int data_inspect_cls(const data_inspect_args *a);

#endif
