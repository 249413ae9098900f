/* golden_op.h - golden-op/1 files (../shared/golden/heads/, schema in its README): one op or head per file,
 * named by the root attribute `op`, with its configuration in root attributes, inputs/, params/, outputs/,
 * loss_weights/ (objective = sum over outputs of sum(out * R)), grads/inputs/, grads/params/, intermediates/.
 *
 * Each group of ops has its own table of handlers (golden_op_nn.c: convolution, pooling, FPN; golden_op_norm.c:
 * normalisation, resize, adaptive pooling; golden_op_det.c: anchors, assigner, coder, NMS; golden_op_loss.c: losses; golden_op_head.c:
 * whole heads such as RetinaHead); golden_op_run looks the
 * file's op up in every table and runs it. An op in no table is reported as not covered yet, never as
 * passing. A handler builds the op for whatever configuration the file's attributes describe, runs forward
 * (and backward with the file's objective where it has loss_weights) and records every comparison with the
 * helpers below (floats: max|x - ref| / max|ref| against GOLDEN_TOL_OUT / GOLDEN_TOL_GRAD; integers exactly). */
#ifndef DB_GOLDEN_OP_H
#define DB_GOLDEN_OP_H

#include "../core/h5io.h"
#include "../core/params.h"
#include "../core/tensor.h"
#include "golden.h"

/* Run the op of an open golden-op/1 file into r (r->method = the op). 0: ran (see r), -1: error (err_msg). */
typedef int (*golden_op_fn)(hid_t f, golden_result *r);
typedef struct golden_op_entry {
    const char *op;  /* the file's `op` attribute */
    golden_op_fn run;
} golden_op_entry;

/* The handler tables, each ended by {NULL, NULL}. */
extern const golden_op_entry golden_ops_nn[];
extern const golden_op_entry golden_ops_det[];
extern const golden_op_entry golden_ops_norm[];
extern const golden_op_entry golden_ops_loss[];
extern const golden_op_entry golden_ops_head[];

int golden_op_run(hid_t f, golden_result *r);
/* 1 when this build has a handler for op. */
int golden_op_covered(const char *op);

/* ---- helpers shared by the handlers and the other golden runners (golden.c) ---- */
/* Record one comparison (tensor tname of group gname) with its error; the first error above tol becomes
 * r->problem. */
void golden_record(golden_result *r, const char *gname, double tol, const char *tname, double err);
/* Compare x (n floats) with dataset path (same element count, else an error); x NULL counts as a failure. */
int golden_compare(hid_t f, golden_result *r, const char *gname, double tol, const char *path, const float *x, int64_t n);
/* Integers must match exactly (error 0 or 1 recorded, tolerance 0); shape by element count. */
int golden_compare_i64(hid_t f, golden_result *r, const char *gname, const char *path, const int64_t *x, int64_t n);
/* A tensor in g holding dataset path (requires_grad set). NULL on error. */
tensor *golden_input(graph *g, hid_t f, const char *path);
/* loss += sum(x * R) with R = dataset path, and seed dL/dx = R (loss_dot_seed). */
int golden_seed_loss(graph *g, hid_t f, const char *path, tensor *x, double *loss);
/* Load every params/<name> of the file into the store (every one must exist there with its shape, and every
 * parameter of the store must be in the file). */
int golden_load_params(hid_t f, params *ps);
/* Compare the gradient of every trainable parameter of ps with grads/params/<name>. */
int golden_compare_param_grads(hid_t f, params *ps, golden_result *r);

#endif
