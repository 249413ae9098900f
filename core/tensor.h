/* tensor.h - float32 tensors, the activation arena, the planned activation memory and the autograd tape.
 *
 * Design: ops are functions that compute their forward result immediately and, when a gradient must
 * flow through them, push a node (backward function + context) on the graph's tape. graph_backward()
 * replays the tape in reverse. Parameters live outside the graph, in the parameter store (params.h):
 * frozen ones have grad == NULL, so no op ever computes their weight gradient, and an op whose inputs
 * need no gradient pushes nothing at all.
 *
 * Memory: small things (tensor structs, backward contexts, index maps) live in the bump arena g->mem,
 * reset every step. Float buffers (activations, saved statistics, masks, activation gradients) come
 * from graph_alloc. Without planning (the default) graph_alloc is the same bump arena. With planning on
 * (graph_plan_enable) every buffer's lifetime is recorded on a logical clock: each op starts a tick
 * (graph_op / GRAPH_OP), each backward node runs in its own tick, and ops declare the buffers they read
 * (forward inputs, and in backward only what the backward actually uses: GRAPH_USE). A buffer lives from
 * the tick that allocated it to the last tick that used it. At the end of a step the recorded buffers
 * are packed into one block (greedy by size, best fit among buffers with overlapping lifetimes); the
 * next step with the same allocation sequence gets every buffer at its planned offset, with no
 * per-tensor allocation and with memory reused as soon as a buffer's last reader has run. A step whose
 * allocations differ (another input size) continues in a bump arena from the first difference and is
 * re-planned.
 *
 * Several plans: a plan is named by the step's mode (training, grad_mode) and the caller's key
 * (graph_set_key: e.g. the padded batch shape N, H, W packed in 64 bits; 0 when the caller gives none).
 * The graph holds up to graph_plan_slots() plans (GRAPH_PLAN_SLOTS by default) and picks, at the first op
 * or allocation of a step, the one of the step's mode and key; a new (mode, key) is recorded and planned
 * next to the others, evicting the least recently used plan when all slots are taken. So inputs whose
 * size changes from batch to batch (detection's padded batches) re-use one plan per size, and training
 * and evaluation keep theirs. A step that leaves the plan of its own (mode, key) replaces that plan. The
 * plans share one block of the largest plan's size (one step runs at a time); a held plan costs only its
 * offsets and lifetimes (about 30 bytes a buffer). */
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
    int grad_set;      /* parameters: backward wrote the gradient since the last params_zero_grad */
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
    const char *name; /* the forward op that pushed it (its C function name), for the profiler */
} tape_node;

/* Per-op time profile (graph_profile_enable): forward time is what elapses from one op's start (GRAPH_OP)
 * to the next op's start, charged to the first; each backward node is timed alone and charged to the
 * forward op that pushed it. Names are the ops' C function names (__func__), compared by pointer. */
#define GRAPH_PROF_MAX 128
typedef struct graph_prof_entry {
    const char *name;
    double fwd_s, bwd_s;
    long fwd_calls, bwd_calls;
} graph_prof_entry;
typedef struct graph_prof {
    int n, steps, active; /* steps: resets that ended a step in which an op ran (active) */
    graph_prof_entry e[GRAPH_PROF_MAX];
    const char *cur; /* forward op being timed (NULL: none) */
    double t_cur;    /* when it started */
} graph_prof;

/* A memory plan: n buffers in allocation order, each with its size, lifetime [first, last] in ticks and
 * offset inside one block of `bytes`. live_peak is the largest sum of sizes alive in one tick (a lower
 * bound for any packing). */
typedef struct graph_plan {
    int n;
    size_t *size, *offset;
    int *first, *last;
    size_t bytes, live_peak;
    int training, grad_mode; /* the graph's mode in the recorded step */
    uint64_t key;            /* the caller's step key in the recorded step (graph_set_key) */
    int *release;            /* buffers ordered by last tick (poisoning) */
    uint64_t used;           /* the graph's step count when the plan last served (or was made): LRU */
} graph_plan;

#define GRAPH_PLAN_SLOTS 8 /* plans held by default (graph_plan_slots) */
#define GRAPH_PLAN_MAX 128 /* the most plans a graph can hold */

typedef struct graph_mem_stats {
    int planned;        /* the last step ran (at least at its start) under a plan */
    int diverged;       /* ... and its allocations left the plan (it was re-planned) */
    int n_plans;        /* plans computed so far */
    int held;           /* plans held now (at most graph_plan_slots) */
    int evictions;      /* plans dropped so far to make room (least recently used first) */
    int dry_runs;       /* dry runs done so far */
    double pack_s;      /* seconds the last plan computation took (packing, copying the record) */
    size_t record_bytes; /* float-buffer bytes of the last recorded step without reuse (sum of its buffers) */
    size_t plan_bytes;   /* block size of the current plan */
    size_t block_bytes;  /* the shared block: the largest held plan */
    size_t live_peak;    /* lower bound of the current plan */
    size_t meta_bytes;   /* high-water of the small-object arena */
} graph_mem_stats;

typedef struct graph {
    arena mem;     /* tensor structs, contexts, index maps; float buffers too when not planning */
    tape_node *nodes;
    int n_nodes, cap_nodes;
    int training;  /* dropout / drop path active */
    int grad_mode; /* 0: pure inference, never record */
    rng_t rng;     /* dropout / drop path randomness */
    /* data-parallel shard (shard_total 0: none): this step's batch is samples [shard_offset, shard_offset +
     * shard_count) of a global batch of shard_total. The random ops (dropout, drop path) then draw the global
     * batch's numbers from rng and use their slice, so every sample sees the randomness of an unsharded step
     * and rng advances the same on every rank. */
    int shard_offset, shard_count, shard_total;
    /* planned float memory (graph_plan_enable) */
    int planning;  /* 0: graph_alloc is the bump arena, nothing recorded */
    int clock;     /* current tick */
    arena rec;     /* float buffers of an unplanned step, or after leaving the plan */
    graph_plan plan; /* current plan: the last step's or the one this step picked (plan.n == 0: none) */
    graph_plan held[GRAPH_PLAN_MAX]; /* the other plans held (n_held of them, in no order) */
    int n_held, max_plans;           /* max_plans: plan and held together (graph_plan_slots) */
    uint64_t steps;                  /* steps started so far (the LRU clock) */
    int started;   /* this step's first op or allocation happened (the plan is picked then) */
    char *block;   /* block_cap bytes >= plan.bytes: the largest held plan */
    size_t block_cap;
    int in_plan;   /* this step's allocations so far match the plan */
    int left_at;   /* tick at which this step left the plan (-1: did not) */
    int rec_training, rec_grad_mode; /* the mode at this step's first allocation */
    uint64_t key, rec_key; /* the caller's key for the coming steps (e.g. input shape), and this step's */
    /* this step's record: buffer i allocated at tick first[i], last used at last[i] */
    int n_buf, cap_buf;
    size_t *buf_size;
    int *buf_first, *buf_last;
    char **buf_ptr;
    int poison;    /* debug (tests): under a plan, fill every buffer with NaN once its lifetime ended */
    int dry;       /* this step is a dry run (graph_dry_begin) */
    char **scratch; /* dry run: the scratch blocks every buffer aliases */
    int n_scratch;
    size_t scratch_cap;
    rng_t dry_rng;  /* the graph's rng before the dry run, restored after it */
    int n_released; /* plan.release[] entries poisoned so far */
    int *hash; /* pointer -> buffer index, open addressing */
    int hash_cap;
    graph_mem_stats stats;
    const char *op_name; /* the forward op now running (set by GRAPH_OP) */
    graph_prof *prof;    /* NULL unless graph_profile_enable */
} graph;

void graph_init(graph *g, size_t arena_bytes);
void graph_free(graph *g);
/* Clear the tape and reset the arena (invalidates every activation). */
void graph_reset(graph *g);
/* Allocate a backward context of ctx_size bytes and record fn on the tape. */
void *graph_push(graph *g, backward_fn fn, size_t ctx_size);
/* Run the tape in reverse. Seed the output gradients (tensor_grad) before calling. */
void graph_backward(graph *g);

/* ---- planned float memory ---- */
/* Turn planning on (takes effect at the next graph_reset; the first step records, later steps run
 * under the plan). Callers must then mark with graph_keep every buffer they read after the op that
 * produced it has been consumed (e.g. the loss value read after backward). */
void graph_plan_enable(graph *g);
/* A float buffer for this step (64-byte aligned; uninitialised / zeroed). */
float *graph_alloc(graph *g, size_t bytes);
float *graph_calloc(graph *g, size_t bytes);
/* Start a new tick: called at the top of every op, before its reads and allocations. */
void graph_op(graph *g);
/* Declare that the current tick reads (or writes) buffer p; pointers that graph_alloc did not return
 * (parameters, caller memory, NULL) are ignored. */
void graph_use(graph *g, const void *p);
void graph_use_list(graph *g, const void *const *p, int n);
#define GRAPH_USE(g, ...) \
    graph_use_list((g), (const void *const[]){__VA_ARGS__}, (int)(sizeof((const void *const[]){__VA_ARGS__}) / sizeof(void *)))
/* New tick + read the data of the given tensors (NULL allowed): the first line of an op. name is the op's
 * name (GRAPH_OP passes __func__), for the tape and the profiler. */
void graph_op_tensors(graph *g, const char *name, const tensor *const *t, int n);
#define GRAPH_OP(g, ...)                                                                                           \
    graph_op_tensors((g), __func__, (const tensor *const[]){__VA_ARGS__},                                          \
                     (int)(sizeof((const tensor *const[]){__VA_ARGS__}) / sizeof(tensor *)))
/* Hold up to n plans (1 .. GRAPH_PLAN_MAX; the default is GRAPH_PLAN_SLOTS); extra ones are evicted now,
 * least recently used first. */
void graph_plan_slots(graph *g, int n);
/* Dry run: 1 when planning is on and no plan is held for the graph's mode (training, grad_mode) and
 * key: the first step of a mode or input size, or one whose plan was evicted. The caller then runs the step once with
 * graph_dry_begin before the real one: every float buffer aliases a small scratch area (distinct
 * addresses, shared memory), so the results are garbage and must be discarded (parameter gradients
 * included: params_zero_grad before the real step), but the step's allocation and use record is exact;
 * the next graph_reset plans from it and restores the graph's rng, so the real step runs under the plan
 * and never holds every activation at once. Ops must not branch on float values. */
int graph_plan_needed(const graph *g);
/* Say what the coming steps look like (e.g. batch and image size): each key (with the mode) has its own
 * plan; a plan recorded under another key is not used (graph_plan_needed says so before the step starts,
 * instead of the step leaving the plan). */
void graph_set_key(graph *g, uint64_t key);
void graph_dry_begin(graph *g);
/* Keep buffer p alive until the step ends. */
void graph_keep(graph *g, const void *p);
/* Bytes of activation memory the last step used (small-object arena + float buffers: the plan's
 * block when it ran under a plan, else the bump high-water). */
size_t graph_mem_bytes(const graph *g);
/* ---- per-op profile ---- */
/* Start (or restart from zero) timing every op of the following steps; graph_reset ends a step. */
void graph_profile_enable(graph *g);
/* Print the profile, one line per op with its forward and backward milliseconds per step, calls per step
 * and share of the timed op total, largest first; top limits the lines (0: all). */
void graph_profile_print(const graph *g, FILE *f, int top);

/* Pack a record into offsets (exposed for tests). Fills plan->offset, bytes and live_peak. */
void graph_plan_pack(graph_plan *plan);

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
