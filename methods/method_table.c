/* method_table.c - the table of tuning methods (one row per method) and helpers for method files. */
#include <stdio.h>
#include <string.h>

#include "method.h"

extern const method method_full, method_fixed, method_bitfit, method_norm_tuning, method_partial_1, method_adapter,
    method_adaptformer, method_lora, method_lorand, method_mona;

/* In the paper's order: no extra structure, then extra structure, then Mona. */
const method *const method_table[] = {
    &method_full,    &method_fixed,       &method_bitfit, &method_norm_tuning, &method_partial_1,
    &method_adapter, &method_adaptformer, &method_lora,   &method_lorand,      &method_mona,
};
const int method_count = (int)(sizeof method_table / sizeof method_table[0]);

const method *method_find(const char *name) {
    for (int i = 0; i < method_count; i++)
        if (!strcmp(method_table[i]->name, name)) return method_table[i];
    return NULL;
}

tensor *method_param(params *ps, const block_info *bi, const char *suffix, int ndim, const int *shape) {
    char name[192];
    snprintf(name, sizeof name, "%s.%s", bi->prefix, suffix);
    return params_add(ps, name, ndim, shape);
}

int name_contains(const char *name, const char *needle) { return strstr(name, needle) != NULL; }
