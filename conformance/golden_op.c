/* golden_op.c - the golden-op/1 dispatcher (see golden_op.h). */
#include "golden_op.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const golden_op_entry *const tables[] = {golden_ops_nn, golden_ops_norm, golden_ops_det, golden_ops_loss, golden_ops_head};

static const golden_op_entry *find(const char *op) {
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (const golden_op_entry *e = tables[t]; e->op; e++)
            if (!strcmp(e->op, op)) return e;
    return NULL;
}

int golden_op_covered(const char *op) { return find(op) != NULL; }

int golden_op_run(hid_t f, golden_result *r) {
    if (h5_attr_str(f, "/", "op", r->method, sizeof r->method)) return -1;
    const golden_op_entry *e = find(r->method);
    if (!e) {
        r->not_covered = 1;
        snprintf(r->problem, sizeof r->problem, "op '%s' is not implemented in this build (a later issue's part)", r->method);
        return 0;
    }
    r->trainable_ok = 1; /* golden-op files carry no trainable list */
    return e->run(f, r);
}

int golden_compare_i64(hid_t f, golden_result *r, const char *gname, const char *path, const int64_t *x, int64_t n) {
    int nd;
    int64_t sh[8];
    int64_t *ref = h5_read_i64(f, path, &nd, sh);
    if (!ref) return -1;
    int64_t c = 1;
    for (int i = 0; i < nd; i++) c *= sh[i];
    if (c != n) {
        free(ref);
        return err_set("%s: %lld elements, the implementation has %lld", path, (long long)c, (long long)n);
    }
    int64_t bad = -1;
    for (int64_t i = 0; i < n && bad < 0; i++)
        if (x[i] != ref[i]) bad = i;
    golden_record(r, gname, 0.0, path, bad < 0 ? 0.0 : 1.0);
    if (bad >= 0 && !strstr(r->problem, "element"))
        snprintf(r->problem + strlen(r->problem), sizeof r->problem - strlen(r->problem), " (first differing element %lld: %lld, reference %lld)",
                 (long long)bad, (long long)x[bad], (long long)ref[bad]);
    free(ref);
    return 0;
}
