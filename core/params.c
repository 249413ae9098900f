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
    free(ps->p);
    free(ps->frozen);
    free(ps->train);
    free(ps->grad);
    free(ps->hash);
    memset(ps, 0, sizeof *ps);
}

static void hash_rebuild(params *ps, int cap) {
    free(ps->hash);
    ps->hash_cap = cap;
    ps->hash = xmalloc(sizeof(int) * cap);
    for (int i = 0; i < cap; i++) ps->hash[i] = -1;
    for (int i = 0; i < ps->n; i++) {
        uint64_t h = name_hash(ps->p[i]->name) & (uint64_t)(cap - 1);
        while (ps->hash[h] >= 0) h = (h + 1) & (uint64_t)(cap - 1);
        ps->hash[h] = i;
    }
}

int params_index(const params *ps, const char *name) {
    if (!ps->hash_cap) return -1;
    uint64_t h = name_hash(name) & (uint64_t)(ps->hash_cap - 1);
    while (ps->hash[h] >= 0) {
        if (strcmp(ps->p[ps->hash[h]]->name, name) == 0) return ps->hash[h];
        h = (h + 1) & (uint64_t)(ps->hash_cap - 1);
    }
    return -1;
}

param *params_find(const params *ps, const char *name) {
    int i = params_index(ps, name);
    return i < 0 ? NULL : ps->p[i];
}

tensor *params_add(params *ps, const char *name, int ndim, const int *shape) {
    DB_ASSERT(!ps->allocated, "params_add after params_alloc (%s)", name);
    DB_ASSERT(ndim >= 1 && ndim <= TENSOR_MAX_DIMS, "%s", name);
    DB_ASSERT(params_index(ps, name) < 0, "duplicate parameter %s", name);
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
    if (ps->n * 2 > ps->hash_cap) hash_rebuild(ps, ps->hash_cap ? ps->hash_cap * 2 : 512);
    else {
        uint64_t h = name_hash(name) & (uint64_t)(ps->hash_cap - 1);
        while (ps->hash[h] >= 0) h = (h + 1) & (uint64_t)(ps->hash_cap - 1);
        ps->hash[h] = ps->n - 1;
    }
    return &p->t;
}

void params_set_trainable(params *ps, const char *name, int trainable) {
    param *p = params_find(ps, name);
    DB_ASSERT(p, "no parameter %s", name);
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
