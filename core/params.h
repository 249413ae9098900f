/* params.h - the parameter store: every parameter of a model, named with its official state-dict name,
 * laid out in two contiguous float blocks, one frozen and one trainable. Gradients and optimiser state
 * exist only for the trainable block, so the optimiser, an all-reduce and the delta checkpoint each see
 * one flat buffer.
 *
 * Life cycle: params_add() declares (name, shape) while the model is built; the tuning method then
 * marks which are trainable (params_set_trainable / params_mark_by_rule); params_alloc() lays out the
 * blocks and points every parameter's tensor into them. Pointers returned by params_add stay valid. */
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
} param;

typedef struct params {
    param **p;
    int n, cap;
    float *frozen; /* n_frozen floats */
    float *train;  /* n_train floats */
    float *grad;   /* n_train floats */
    int64_t n_frozen, n_train;
    int allocated;
    /* name -> index hash (open addressing) */
    int *hash;
    int hash_cap;
} params;

void params_init(params *ps);
void params_free(params *ps);
/* Declare a parameter; trainable defaults to 1. Aborts on duplicate names (a programming error). */
tensor *params_add(params *ps, const char *name, int ndim, const int *shape);
param *params_find(const params *ps, const char *name);
int params_index(const params *ps, const char *name);
void params_set_trainable(params *ps, const char *name, int trainable);
/* Lay out the blocks (parameters keep declaration order inside each block) and zero them. */
void params_alloc(params *ps);
/* Zero the gradient block and mark every gradient absent (torch's zero_grad(set_to_none=True)): until an
 * op writes a parameter's gradient (tensor_grad sets grad_set) the optimiser skips it. After
 * params_alloc every trainable gradient counts as present. */
void params_zero_grad(params *ps);
int64_t params_count(const params *ps, int trainable_only);
/* Count of the parameters whose name starts with prefix (e.g. "backbone."), optionally trainable only. */
int64_t params_count_prefix(const params *ps, const char *prefix, int trainable_only);

#endif
