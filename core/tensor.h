/* tensor.h - float32 tensors, the activation arena and the autograd tape.
 *
 * Design: ops are functions that compute their forward result immediately and, when a gradient must
 * flow through them, push a node (backward function + context) on the graph's tape. graph_backward()
 * replays the tape in reverse. Activations, saved contexts and activation gradients live in the graph's
 * arena, which is reset after every step: after the first step has set its high-water mark no memory
 * is allocated per tensor per step. Parameters live outside the arena, in the parameter store
 * (params.h): frozen ones have grad == NULL, so no op ever computes their weight gradient, and an op
 * whose inputs need no gradient pushes nothing at all. */
#ifndef DB_TENSOR_H
#define DB_TENSOR_H

#include <stdint.h>

#include "common.h"

#define TENSOR_MAX_DIMS 6

typedef struct tensor {
    float *data;
    float *grad;       /* gradient buffer; NULL until a gradient reaches it (activations) or if frozen (params) */
    int ndim;
    int shape[TENSOR_MAX_DIMS];
    int64_t n;         /* number of elements */
    int requires_grad; /* a gradient must flow back to this tensor */
    int is_param;      /* lives in the parameter store; its grad buffer is preallocated */
} tensor;

/* ---- arena: bump allocator reset every step ---- */
typedef struct arena_chunk arena_chunk;
typedef struct arena {
    arena_chunk *chunks; /* current chunk first */
    size_t used_total;   /* bytes handed out since the last reset */
    size_t high_water;   /* the largest used_total seen */
    size_t capacity;     /* bytes held */
} arena;
void arena_init(arena *a, size_t initial_bytes);
void *arena_alloc(arena *a, size_t bytes); /* 64-byte aligned, uninitialised */
void *arena_calloc(arena *a, size_t bytes);
/* Forget everything allocated; if the last step spilled into several chunks, merge them into one
 * chunk of the high-water size so the next step allocates nothing. */
void arena_reset(arena *a);
void arena_free(arena *a);

/* ---- graph: arena + tape ---- */
typedef void (*backward_fn)(void *ctx);
typedef struct tape_node {
    backward_fn fn;
    void *ctx;
} tape_node;

typedef struct graph {
    arena mem;
    tape_node *nodes;
    int n_nodes, cap_nodes;
    int training;  /* dropout / drop path active */
    int grad_mode; /* 0: pure inference, never record */
    rng_t rng;     /* dropout / drop path randomness */
} graph;

void graph_init(graph *g, size_t arena_bytes);
void graph_free(graph *g);
/* Clear the tape and reset the arena (invalidates every activation). */
void graph_reset(graph *g);
/* Allocate a backward context of ctx_size bytes and record fn on the tape. */
void *graph_push(graph *g, backward_fn fn, size_t ctx_size);
/* Run the tape in reverse. Seed the output gradients (tensor_grad) before calling. */
void graph_backward(graph *g);

/* New activation tensor in the arena (data uninitialised). requires_grad as given (only honoured if
 * g->grad_mode). */
tensor *tensor_new(graph *g, int ndim, const int *shape, int requires_grad);
tensor *tensor_new4(graph *g, int d0, int d1, int d2, int d3, int requires_grad);
tensor *tensor_like(graph *g, const tensor *t, int requires_grad);
/* A view sharing data with a different shape (same element count). Gradients are not shared: use
 * op_reshape for a differentiable reshape. */
/* Return the gradient buffer of t, allocating a zeroed one in the arena the first time. */
float *tensor_grad(graph *g, tensor *t);
/* Shape helpers. */
int64_t shape_numel(int ndim, const int *shape);
void tensor_set_shape(tensor *t, int ndim, const int *shape);
/* "(2, 3, 90, 118)" into buf. */
const char *tensor_shape_str(const tensor *t, char *buf, int n);

#endif
