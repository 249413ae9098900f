/* method.h - the tuning-method interface. A method is one row of the table in methods/method_table.c
 * and one file methods/<name>.c: a name, a summary and a plug-in for the backbone's insertion points
 * (models/swin.h: modules per Swin block, declared as named parameters, acting at fixed hook points of the
 * block's forward, and the rule deciding by name which backbone parameters train). Adding a method: write
 * methods/<name>.c defining `const method method_<name>` and add one row to the table. */
#ifndef DB_METHOD_H
#define DB_METHOD_H

#include "../models/swin.h"

typedef struct method {
    const char *name;
    const char *summary;
    swin_plugin plug; /* what the backbone sees */
} method;

extern const method *const method_table[];
extern const int method_count;
/* Look a method up by name (NULL if none). */
const method *method_find(const char *name);

/* Helpers for method files. */
tensor *method_param(params *ps, const block_info *bi, const char *suffix, int ndim, const int *shape);
int name_contains(const char *name, const char *needle);

#endif
