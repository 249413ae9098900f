/* golden.h - conformance against the authors' golden tensors (../shared/golden/README.md): builds the
 * backbone and method a golden file names, loads its parameters, runs forward and backward with its loss
 * and compares every tensor. Schemas: golden-backbone/1, golden-module/1, golden-adamw/1, and golden-op/1
 * (one op or head per file, ../shared/golden/heads/; golden_op.h). */
#ifndef DB_GOLDEN_H
#define DB_GOLDEN_H

#define GOLDEN_TOL_OUT 1e-5
#define GOLDEN_TOL_GRAD 5e-5

typedef struct golden_group {
    char name[32];      /* "outputs", "intermediates", "grads/input", "grads/params", "params" */
    int count;          /* tensors compared */
    double max_err;     /* largest max|x - ref| / max|ref| */
    char worst[160];    /* the tensor with that error */
    double tol;
} golden_group;

#define GOLDEN_MAX_GROUPS 12

typedef struct golden_result {
    char schema[32], method[32]; /* method: the method, or for golden-op/1 the op */
    golden_group groups[GOLDEN_MAX_GROUPS];
    int n_groups;
    int trainable_ok;          /* set of trainable parameters equals the file's list */
    long long trainable_count; /* elements */
    int trainable_expected_names, trainable_names;
    double loss, loss_ref;
    int ok;                    /* everything within tolerance */
    char problem[512];         /* first mismatch described, if any */
    int not_covered;           /* golden-op/1: an op this build does not implement yet (neither pass nor fail) */
} golden_result;

/* Run the check on one file. Returns 0 when the run completed (see r->ok for the verdict), -1 on an
 * unreadable or malformed file (err_msg()). */
int golden_check(const char *path, golden_result *r);
/* Print the per-group table. */
void golden_print(const char *path, const golden_result *r);

#endif
