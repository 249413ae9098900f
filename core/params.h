/* params.h - the parameter store: every parameter of a model, named with its official state-dict name,
 * laid out in two contiguous float blocks, one frozen and one trainable. Gradients and optimiser state
 * exist only for the trainable block, so the optimiser, an all-reduce and the delta checkpoint each see
 * one flat buffer.
 *
 * Life cycle: params_add() declares (name, shape) while the model is built; the tuning method then
 * marks which are trainable (params_set_trainable / params_mark_by_rule); params_alloc() lays out the
 * blocks and points every parameter's tensor into them. Pointers returned by params_add stay valid.
 *
 * Buffers (params_add_buffer): mutable state that is neither a parameter nor differentiated, e.g. BatchNorm's
 * running_mean / running_var. They are kept apart from the parameters (ps->b, not ps->p, so every loop over the
 * parameters, the counts, the optimiser and the checkpoints of parameters never see them), laid out by
 * params_alloc in a third contiguous block ps->buf of ps->n_buf floats (declaration order, zeroed), and found by
 * params_find like a parameter (param.is_buffer = 1; names are unique across parameters and buffers). */
#ifndef DB_PARAMS_H
#define DB_PARAMS_H

#include "tensor.h"

typedef struct param {
    char *name;
    tensor t;       /* t.data into a block after params_alloc; t.grad into the grad block if trainable */
    int trainable;
    int64_t offset; /* element offset inside its block */
    float decay_mult; /* weight-decay multiplier chosen by the recipe's parameter groups (default 1) */
    float lr_mult;    /* learning-rate multiplier (default 1) */
    int is_buffer;    /* a buffer (params_add_buffer): offset into ps->buf, never trainable, no gradient */
} param;

typedef struct params {
    param **p;
    int n, cap;
    float *frozen; /* n_frozen floats */
    float *train;  /* n_train floats */
    float *grad;   /* n_train floats */
    int64_t n_frozen, n_train;
    param **b;     /* the buffers, declaration order (n_buffers of them) */
    int n_buffers, cap_b;
    float *buf;    /* n_buf floats: every buffer's data */
    int64_t n_buf;
    int allocated;
    /* name -> index hash (open addressing): parameter i as i, buffer j as -2 - j, -1 empty */
    int *hash;
    int hash_cap;
} params;

void params_init(params *ps);
void params_free(params *ps);
/* Declare a parameter; trainable defaults to 1. Aborts on duplicate names (a programming error). */
tensor *params_add(params *ps, const char *name, int ndim, const int *shape);
/* Declare a buffer (see above); aborts on a duplicate name (parameter or buffer). Its tensor is not trainable,
 * has no gradient (grad NULL, requires_grad 0) and is_param set (it lives in the store: no op overwrites it in
 * place). */
tensor *params_add_buffer(params *ps, const char *name, int ndim, const int *shape);
/* The parameter or buffer of that name (NULL if none). */
param *params_find(const params *ps, const char *name);
/* Index of the parameter in ps->p (-1 if none; buffers have no index here). */
int params_index(const params *ps, const char *name);
void params_set_trainable(params *ps, const char *name, int trainable);
/* Lay out the blocks (parameters keep declaration order inside each block; buffers in the buffer block) and
 * zero them. */
void params_alloc(params *ps);
/* Zero the gradient block and mark every gradient absent (torch's zero_grad(set_to_none=True)): until an
 * op writes a parameter's gradient (tensor_grad sets grad_set) the optimiser skips it. After
 * params_alloc every trainable gradient counts as present. */
void params_zero_grad(params *ps);
/* Parameters only (buffers never count, as torch's parameters() and mmseg's counts). */
int64_t params_count(const params *ps, int trainable_only);
/* Count of the parameters whose name starts with prefix (e.g. "backbone."), optionally trainable only. */
int64_t params_count_prefix(const params *ps, const char *prefix, int trainable_only);

#endif
