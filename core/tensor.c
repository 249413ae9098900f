/* tensor.c - arena allocator, activation tensors and the autograd tape (see tensor.h). */
#include "tensor.h"

#include <stdlib.h>
#include <string.h>

struct arena_chunk {
    arena_chunk *next;
    size_t size, used;
    char *mem;
};

static arena_chunk *chunk_new(size_t size) {
    arena_chunk *c = xcalloc(1, sizeof *c);
    c->size = size;
    c->mem = xmalloc_aligned(size);
    return c;
}

void arena_init(arena *a, size_t initial_bytes) {
    memset(a, 0, sizeof *a);
    if (initial_bytes < (1u << 20)) initial_bytes = 1u << 20;
    a->chunks = chunk_new(initial_bytes);
    a->capacity = initial_bytes;
}

void *arena_alloc(arena *a, size_t bytes) {
    size_t need = (bytes + 63) & ~(size_t)63;
    if (need == 0) need = 64;
    arena_chunk *c = a->chunks;
    if (c->used + need > c->size) {
        size_t sz = c->size * 2;
        if (sz < need) sz = need;
        arena_chunk *n = chunk_new(sz);
        n->next = c;
        a->chunks = n;
        a->capacity += sz;
        c = n;
    }
    void *p = c->mem + c->used;
    c->used += need;
    a->used_total += need;
    if (a->used_total > a->high_water) a->high_water = a->used_total;
    return p;
}

void *arena_calloc(arena *a, size_t bytes) {
    char *p = arena_alloc(a, bytes);
    if (bytes < (1u << 20)) memset(p, 0, bytes);
    else { /* large gradient buffers: zero in parallel */
        size_t chunk = (bytes + 63) / 64;
#pragma omp parallel for schedule(static)
        for (int k = 0; k < 64; k++) {
            size_t lo = (size_t)k * chunk, hi = lo + chunk < bytes ? lo + chunk : bytes;
            if (lo < hi) memset(p + lo, 0, hi - lo);
        }
    }
    return p;
}

void arena_reset(arena *a) {
    if (a->chunks && a->chunks->next) { /* spilled: merge into one chunk of the high-water size */
        arena_chunk *c = a->chunks;
        while (c) {
            arena_chunk *n = c->next;
            free(c->mem);
            free(c);
            c = n;
        }
        size_t sz = a->high_water + (a->high_water >> 4) + 4096;
        a->chunks = chunk_new(sz);
        a->capacity = sz;
    }
    a->chunks->used = 0;
    a->used_total = 0;
}

void arena_free(arena *a) {
    arena_chunk *c = a->chunks;
    while (c) {
        arena_chunk *n = c->next;
        free(c->mem);
        free(c);
        c = n;
    }
    memset(a, 0, sizeof *a);
}

void graph_init(graph *g, size_t arena_bytes) {
    memset(g, 0, sizeof *g);
    arena_init(&g->mem, arena_bytes);
    g->cap_nodes = 1024;
    g->nodes = xmalloc(sizeof(tape_node) * g->cap_nodes);
    g->grad_mode = 1;
    rng_seed(&g->rng, 0);
}

void graph_free(graph *g) {
    arena_free(&g->mem);
    free(g->nodes);
    memset(g, 0, sizeof *g);
}

void graph_reset(graph *g) {
    g->n_nodes = 0;
    arena_reset(&g->mem);
}

void *graph_push(graph *g, backward_fn fn, size_t ctx_size) {
    if (g->n_nodes == g->cap_nodes) {
        g->cap_nodes *= 2;
        g->nodes = xrealloc(g->nodes, sizeof(tape_node) * g->cap_nodes);
    }
    void *ctx = arena_alloc(&g->mem, ctx_size);
    g->nodes[g->n_nodes].fn = fn;
    g->nodes[g->n_nodes].ctx = ctx;
    g->n_nodes++;
    return ctx;
}

void graph_backward(graph *g) {
    for (int i = g->n_nodes - 1; i >= 0; i--) g->nodes[i].fn(g->nodes[i].ctx);
}

int64_t shape_numel(int ndim, const int *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    return n;
}

void tensor_set_shape(tensor *t, int ndim, const int *shape) {
    DB_ASSERT(ndim >= 0 && ndim <= TENSOR_MAX_DIMS);
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->n = shape_numel(ndim, shape);
}

tensor *tensor_new(graph *g, int ndim, const int *shape, int requires_grad) {
    tensor *t = arena_alloc(&g->mem, sizeof(tensor));
    memset(t, 0, sizeof *t);
    tensor_set_shape(t, ndim, shape);
    t->data = arena_alloc(&g->mem, sizeof(float) * (size_t)t->n);
    t->requires_grad = requires_grad && g->grad_mode;
    return t;
}

tensor *tensor_new4(graph *g, int d0, int d1, int d2, int d3, int requires_grad) {
    int s[4] = {d0, d1, d2, d3};
    return tensor_new(g, 4, s, requires_grad);
}

tensor *tensor_like(graph *g, const tensor *t, int requires_grad) { return tensor_new(g, t->ndim, t->shape, requires_grad); }

float *tensor_grad(graph *g, tensor *t) {
    if (!t->grad) {
        DB_ASSERT(!t->is_param, "gradient requested for a frozen parameter");
        t->grad = arena_calloc(&g->mem, sizeof(float) * (size_t)t->n);
    }
    return t->grad;
}

const char *tensor_shape_str(const tensor *t, char *buf, int n) {
    int k = snprintf(buf, n, "(");
    for (int i = 0; i < t->ndim && k < n; i++) k += snprintf(buf + k, n - k, i ? ", %d" : "%d", t->shape[i]);
    if (k < n) snprintf(buf + k, n - k, ")");
    return buf;
}
