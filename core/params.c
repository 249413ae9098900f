/* params.c - parameter store with frozen and trainable blocks (see params.h). */
#include "params.h"

#include <stdlib.h>
#include <string.h>

static uint64_t name_hash(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

void params_init(params *ps) { memset(ps, 0, sizeof *ps); }

void params_free(params *ps) {
    for (int i = 0; i < ps->n; i++) {
        free(ps->p[i]->name);
        free(ps->p[i]);
    }
    for (int i = 0; i < ps->n_buffers; i++) {
        free(ps->b[i]->name);
        free(ps->b[i]);
    }
    free(ps->p);
    free(ps->b);
    free(ps->buf);
    free(ps->frozen);
    free(ps->train);
    free(ps->grad);
    free(ps->hash);
    memset(ps, 0, sizeof *ps);
}

/* hash entry v: parameter v (v >= 0), buffer -2 - v (v <= -2), empty -1 */
static param *hash_entry(const params *ps, int v) { return v >= 0 ? ps->p[v] : ps->b[-2 - v]; }

static void hash_insert(params *ps, const char *name, int v) {
    uint64_t h = name_hash(name) & (uint64_t)(ps->hash_cap - 1);
    while (ps->hash[h] != -1) h = (h + 1) & (uint64_t)(ps->hash_cap - 1);
    ps->hash[h] = v;
}

static void hash_rebuild(params *ps, int cap) {
    free(ps->hash);
    ps->hash_cap = cap;
    ps->hash = xmalloc(sizeof(int) * cap);
    for (int i = 0; i < cap; i++) ps->hash[i] = -1;
    for (int i = 0; i < ps->n; i++) hash_insert(ps, ps->p[i]->name, i);
    for (int j = 0; j < ps->n_buffers; j++) hash_insert(ps, ps->b[j]->name, -2 - j);
}

/* the hash entry of name (-1: none) */
static int hash_lookup(const params *ps, const char *name) {
    if (!ps->hash_cap) return -1;
    uint64_t h = name_hash(name) & (uint64_t)(ps->hash_cap - 1);
    while (ps->hash[h] != -1) {
        if (strcmp(hash_entry(ps, ps->hash[h])->name, name) == 0) return ps->hash[h];
        h = (h + 1) & (uint64_t)(ps->hash_cap - 1);
    }
    return -1;
}

int params_index(const params *ps, const char *name) {
    int v = hash_lookup(ps, name);
    return v >= 0 ? v : -1;
}

param *params_find(const params *ps, const char *name) {
    int v = hash_lookup(ps, name);
    return v == -1 ? NULL : hash_entry(ps, v);
}

/* make room for one more name, then insert it as entry v */
static void hash_add(params *ps, const char *name, int v) {
    if ((ps->n + ps->n_buffers) * 2 > ps->hash_cap) hash_rebuild(ps, ps->hash_cap ? ps->hash_cap * 2 : 512);
    else hash_insert(ps, name, v);
}

tensor *params_add(params *ps, const char *name, int ndim, const int *shape) {
    DB_ASSERT(!ps->allocated, "params_add after params_alloc (%s)", name);
    DB_ASSERT(ndim >= 1 && ndim <= TENSOR_MAX_DIMS, "%s", name);
    DB_ASSERT(hash_lookup(ps, name) == -1, "duplicate parameter %s", name);
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? 2 * ps->cap : 256;
        ps->p = xrealloc(ps->p, sizeof(param *) * ps->cap);
    }
    param *p = xcalloc(1, sizeof *p);
    p->name = xstrdup(name);
    tensor_set_shape(&p->t, ndim, shape);
    p->t.is_param = 1;
    p->trainable = 1;
    p->decay_mult = 1.0f;
    p->lr_mult = 1.0f;
    ps->p[ps->n++] = p;
    hash_add(ps, name, ps->n - 1);
    return &p->t;
}

tensor *params_add_buffer(params *ps, const char *name, int ndim, const int *shape) {
    DB_ASSERT(!ps->allocated, "params_add_buffer after params_alloc (%s)", name);
    DB_ASSERT(ndim >= 1 && ndim <= TENSOR_MAX_DIMS, "%s", name);
    DB_ASSERT(hash_lookup(ps, name) == -1, "duplicate buffer %s", name);
    if (ps->n_buffers == ps->cap_b) {
        ps->cap_b = ps->cap_b ? 2 * ps->cap_b : 64;
        ps->b = xrealloc(ps->b, sizeof(param *) * ps->cap_b);
    }
    param *p = xcalloc(1, sizeof *p);
    p->name = xstrdup(name);
    tensor_set_shape(&p->t, ndim, shape);
    p->t.is_param = 1;
    p->is_buffer = 1;
    p->trainable = 0;
    p->decay_mult = 0.0f;
    p->lr_mult = 0.0f;
    ps->b[ps->n_buffers++] = p;
    hash_add(ps, name, -2 - (ps->n_buffers - 1));
    return &p->t;
}

void params_set_trainable(params *ps, const char *name, int trainable) {
    param *p = params_find(ps, name);
    DB_ASSERT(p, "no parameter %s", name);
    DB_ASSERT(!p->is_buffer || !trainable, "buffer %s cannot be trainable", name);
    DB_ASSERT(!ps->allocated, "params_set_trainable after params_alloc");
    p->trainable = trainable;
}

void params_alloc(params *ps) {
    DB_ASSERT(!ps->allocated);
    int64_t nf = 0, nt = 0;
    for (int i = 0; i < ps->n; i++) {
        param *p = ps->p[i];
        if (p->trainable) {
            p->offset = nt;
            nt += p->t.n;
        } else {
            p->offset = nf;
            nf += p->t.n;
        }
    }
    ps->n_frozen = nf;
    ps->n_train = nt;
    ps->frozen = xmalloc_aligned(sizeof(float) * (size_t)(nf ? nf : 1));
    ps->train = xmalloc_aligned(sizeof(float) * (size_t)(nt ? nt : 1));
    ps->grad = xmalloc_aligned(sizeof(float) * (size_t)(nt ? nt : 1));
    memset(ps->frozen, 0, sizeof(float) * (size_t)nf);
    memset(ps->train, 0, sizeof(float) * (size_t)nt);
    memset(ps->grad, 0, sizeof(float) * (size_t)nt);
    for (int i = 0; i < ps->n; i++) {
        param *p = ps->p[i];
        if (p->trainable) {
            p->t.data = ps->train + p->offset;
            p->t.grad = ps->grad + p->offset;
            p->t.requires_grad = 1;
            p->t.grad_set = 1;
        } else {
            p->t.data = ps->frozen + p->offset;
            p->t.grad = NULL;
            p->t.requires_grad = 0;
        }
    }
    int64_t nb = 0;
    for (int j = 0; j < ps->n_buffers; j++) {
        ps->b[j]->offset = nb;
        nb += ps->b[j]->t.n;
    }
    ps->n_buf = nb;
    ps->buf = xmalloc_aligned(sizeof(float) * (size_t)(nb ? nb : 1));
    memset(ps->buf, 0, sizeof(float) * (size_t)nb);
    for (int j = 0; j < ps->n_buffers; j++) {
        param *p = ps->b[j];
        p->t.data = ps->buf + p->offset;
        p->t.grad = NULL;
        p->t.requires_grad = 0;
    }
    ps->allocated = 1;
}

void params_zero_grad(params *ps) {
    if (ps->n_train) memset(ps->grad, 0, sizeof(float) * (size_t)ps->n_train);
    for (int i = 0; i < ps->n; i++) ps->p[i]->t.grad_set = 0;
}

int64_t params_count(const params *ps, int trainable_only) {
    int64_t c = 0;
    for (int i = 0; i < ps->n; i++)
        if (!trainable_only || ps->p[i]->trainable) c += ps->p[i]->t.n;
    return c;
}

int64_t params_count_prefix(const params *ps, const char *prefix, int trainable_only) {
    int64_t c = 0;
    size_t k = strlen(prefix);
    for (int i = 0; i < ps->n; i++)
        if ((!trainable_only || ps->p[i]->trainable) && strncmp(ps->p[i]->name, prefix, k) == 0) c += ps->p[i]->t.n;
    return c;
}
