/* method.h - the tuning-method interface. A method is one row of the table in methods/method_table.c
 * and one file methods/<name>.c. It may add modules to each Swin block (declared as named parameters),
 * act at fixed hook points of the block's forward, and it decides by name which backbone parameters
 * train. Adding a method: write methods/<name>.c defining `const method method_<name>` and add one row
 * to the table.
 *
 * Block forward with its hook points (swin.c):
 *     Y   = LN1(X); windows; QKV = qkv(Yw)          -> HOOK_QKV(QKV, aux = Yw)
 *     A   = proj(attention); un-window                 -> HOOK_ATTN_BRANCH(A)
 *     A   = DropPath(A)                                -> HOOK_ATTN_POST_DP(A)
 *     X1  = X + A                                      -> HOOK_ATTN_RESIDUAL(X1)
 *     F   = fc2(gelu(fc1(LN2(X1))))                    -> HOOK_MLP_BRANCH(F)
 *     F   = DropPath(F)                                -> HOOK_MLP_POST_DP(F)
 *     X2  = X1 + F (+ HOOK_MLP_PARALLEL(X1) if it returns a tensor)
 *                                                      -> HOOK_MLP_RESIDUAL(X2)
 */
#ifndef DB_METHOD_H
#define DB_METHOD_H

#include "../core/ops.h"
#include "../core/params.h"

typedef enum hook_point {
    HOOK_QKV,
    HOOK_ATTN_BRANCH,
    HOOK_ATTN_POST_DP,
    HOOK_ATTN_RESIDUAL,
    HOOK_MLP_BRANCH,
    HOOK_MLP_POST_DP,
    HOOK_MLP_PARALLEL,
    HOOK_MLP_RESIDUAL,
    HOOK_COUNT
} hook_point;

#define HOOK_BIT(h) (1u << (h))

/* What a method's module sees of its block. */
typedef struct block_info {
    char prefix[64]; /* "layers.2.blocks.5" */
    int stage, block, dim, heads;
    int H, W; /* the block's un-padded resolution in the current forward */
} block_info;

typedef struct method {
    const char *name;
    const char *summary;
    unsigned hooks; /* HOOK_BIT(...) of the points apply() acts on */
    /* Declare this block's module parameters; return its state (malloc'd; NULL if none). */
    void *(*block_declare)(params *ps, const block_info *bi);
    /* Act at a hook point: return the new tensor (or, for HOOK_MLP_PARALLEL, the addend). */
    tensor *(*apply)(void *mod, graph *g, hook_point hp, tensor *x, tensor *aux, const block_info *bi);
    /* Initialise the module's parameters (after params_alloc). */
    void (*block_init)(void *mod, rng_t *rng, const block_info *bi);
    /* The freezing rule: is this backbone parameter (official name, no prefix) trainable? */
    int (*trainable)(const char *name);
} method;

extern const method *const method_table[];
extern const int method_count;
/* Look a method up by name (NULL if none). */
const method *method_find(const char *name);

/* Helpers for method files. */
tensor *method_param(params *ps, const block_info *bi, const char *suffix, int ndim, const int *shape);
int name_contains(const char *name, const char *needle);

#endif
