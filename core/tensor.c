/* tensor.c - arena allocator, planned activation memory, activation tensors and the autograd tape (see
 * tensor.h). */
#include "tensor.h"

#include <limits.h>
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
    g->left_at = -1;
    g->max_plans = GRAPH_PLAN_SLOTS;
    rng_seed(&g->rng, 0);
}

static void plan_clear(graph_plan *p) {
    free(p->size);
    free(p->offset);
    free(p->first);
    free(p->last);
    free(p->release);
    memset(p, 0, sizeof *p);
}

void graph_free(graph *g) {
    arena_free(&g->mem);
    if (g->rec.chunks) arena_free(&g->rec);
    plan_clear(&g->plan);
    for (int i = 0; i < g->n_held; i++) plan_clear(&g->held[i]);
    free(g->block);
    free(g->buf_size);
    free(g->buf_first);
    free(g->buf_last);
    free(g->buf_ptr);
    free(g->hash);
    for (int i = 0; i < g->n_scratch; i++) free(g->scratch[i]);
    free(g->scratch);
    free(g->nodes);
    free(g->prof);
    memset(g, 0, sizeof *g);
}

void graph_plan_enable(graph *g) {
    if (g->planning) return;
    g->planning = 1;
    arena_init(&g->rec, 1u << 20);
}

/* ---- the record: buffers of this step and a pointer -> buffer hash ---- */

static size_t ptr_hash(const void *p) {
    uint64_t x = (uint64_t)(uintptr_t)p >> 6;
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ULL;
    return (size_t)(x ^ (x >> 32));
}

static void hash_put(graph *g, int id) {
    if (2 * g->n_buf >= g->hash_cap) { /* grow and reinsert the live mapping (latest buffer per address) */
        int cap = g->hash_cap ? 2 * g->hash_cap : 4096;
        free(g->hash);
        g->hash = xmalloc(sizeof(int) * cap);
        for (int i = 0; i < cap; i++) g->hash[i] = -1;
        g->hash_cap = cap;
        for (int i = 0; i < id; i++) hash_put(g, i);
    }
    size_t m = (size_t)g->hash_cap - 1, h = ptr_hash(g->buf_ptr[id]) & m;
    while (g->hash[h] >= 0 && g->buf_ptr[g->hash[h]] != g->buf_ptr[id]) h = (h + 1) & m;
    g->hash[h] = id; /* an address reused by a later buffer now names that buffer */
}

static int hash_get(const graph *g, const void *p) {
    if (!g->hash_cap) return -1;
    size_t m = (size_t)g->hash_cap - 1, h = ptr_hash(p) & m;
    while (g->hash[h] >= 0) {
        if (g->buf_ptr[g->hash[h]] == p) return g->hash[h];
        h = (h + 1) & m;
    }
    return -1;
}

static void record_buf(graph *g, char *ptr, size_t need) {
    if (g->n_buf == g->cap_buf) {
        g->cap_buf = g->cap_buf ? 2 * g->cap_buf : 1024;
        g->buf_size = xrealloc(g->buf_size, sizeof(size_t) * g->cap_buf);
        g->buf_first = xrealloc(g->buf_first, sizeof(int) * g->cap_buf);
        g->buf_last = xrealloc(g->buf_last, sizeof(int) * g->cap_buf);
        g->buf_ptr = xrealloc(g->buf_ptr, sizeof(char *) * g->cap_buf);
    }
    int id = g->n_buf++;
    g->buf_size[id] = need;
    g->buf_first[id] = g->buf_last[id] = g->clock;
    g->buf_ptr[id] = ptr;
    hash_put(g, id);
}

/* Leave the plan from here on: buffers placed so far stay valid while their planned lifetime lasts,
 * later ones come from the bump arena, and the step is re-planned at the next reset. */
static void leave_plan(graph *g) {
    g->in_plan = 0;
    g->left_at = g->clock;
    g->stats.diverged = 1;
}

/* ---- the held plans ---- */

static int plan_is(const graph_plan *p, int training, int grad_mode, uint64_t key) {
    return p->n > 0 && p->training == training && p->grad_mode == grad_mode && p->key == key;
}

/* index of the held plan for (mode, key): -2 the current one, -1 none */
static int plan_find(const graph *g, int training, int grad_mode, uint64_t key) {
    if (plan_is(&g->plan, training, grad_mode, key)) return -2;
    for (int i = 0; i < g->n_held; i++)
        if (plan_is(&g->held[i], training, grad_mode, key)) return i;
    return -1;
}

static void plan_swap(graph_plan *a, graph_plan *b) {
    graph_plan t = *a;
    *a = *b;
    *b = t;
}

static void held_drop(graph *g, int i) {
    plan_clear(&g->held[i]);
    g->held[i] = g->held[--g->n_held];
    memset(&g->held[g->n_held], 0, sizeof g->held[0]);
}

/* Make room for one more plan next to the current one: the current plan moves to the held ones, and the
 * least recently used plan (the current one included) is dropped when that would exceed max_plans. */
static void plan_stash(graph *g) {
    if (g->plan.n == 0) return;
    while (g->n_held + 2 > g->max_plans) {
        int lru = -1;
        for (int i = 0; i < g->n_held; i++)
            if (lru < 0 || g->held[i].used < g->held[lru].used) lru = i;
        g->stats.evictions++;
        if (lru < 0 || g->plan.used < g->held[lru].used) {
            plan_clear(&g->plan);
            return;
        }
        held_drop(g, lru);
    }
    g->held[g->n_held++] = g->plan;
    memset(&g->plan, 0, sizeof g->plan);
}

/* The shared block: as large as the largest held plan (reallocated only when that changes, between steps). */
static void block_fit(graph *g) {
    size_t need = g->plan.bytes;
    for (int i = 0; i < g->n_held; i++)
        if (g->held[i].bytes > need) need = g->held[i].bytes;
    g->stats.held = g->n_held + (g->plan.n > 0);
    g->stats.block_bytes = need;
    if (need == g->block_cap && g->block) return;
    free(g->block);
    g->block = xmalloc_aligned(need ? need : 64);
    g->block_cap = need;
}

void graph_plan_slots(graph *g, int n) {
    DB_ASSERT(n >= 1 && n <= GRAPH_PLAN_MAX, "graph_plan_slots: %d plans (1 .. %d)", n, GRAPH_PLAN_MAX);
    DB_ASSERT(!g->started && g->n_buf == 0, "graph_plan_slots: called inside a step");
    g->max_plans = n;
    while (g->n_held + (g->plan.n > 0) > n) { /* evict the least recently used */
        int lru = -1;
        for (int i = 0; i < g->n_held; i++)
            if (lru < 0 || g->held[i].used < g->held[lru].used) lru = i;
        g->stats.evictions++;
        if (g->plan.n > 0 && g->plan.used < g->held[lru].used) plan_swap(&g->plan, &g->held[lru]);
        held_drop(g, lru);
    }
    if (g->planning) block_fit(g);
}

/* The step's first op or allocation: pick the plan of its mode and key (the current plan stays the last
 * one used when there is none). */
static void step_start(graph *g) {
    g->started = 1;
    g->steps++;
    g->stats.diverged = 0;
    int i = plan_find(g, g->training, g->grad_mode, g->key);
    if (i >= 0) plan_swap(&g->plan, &g->held[i]);
    g->in_plan = i != -1;
    if (g->in_plan) g->plan.used = g->steps;
    g->stats.planned = g->in_plan;
    g->stats.plan_bytes = g->plan.bytes;
    g->stats.live_peak = g->plan.live_peak;
}

/* A step in another mode (inference, evaluation) follows another op sequence: leave at once. */
static void check_mode(graph *g) {
    if (!g->started) step_start(g);
    if (g->in_plan && (g->training != g->plan.training || g->grad_mode != g->plan.grad_mode || g->key != g->plan.key))
        leave_plan(g);
}

#define DRY_SLOTS (1 << 18) /* distinct buffer addresses inside one dry-run scratch block */

/* Dry run: buffer id gets scratch + 64 (id mod DRY_SLOTS); a block is replaced (the old one kept until the
 * step ends) when a buffer does not fit. */
static char *dry_alloc(graph *g, size_t need) {
    DB_ASSERT(g->n_buf < DRY_SLOTS, "graph dry run: more than %d buffers in one step", DRY_SLOTS);
    size_t off = (size_t)64 * (size_t)(g->n_buf % DRY_SLOTS);
    if (!g->n_scratch || off + need > g->scratch_cap) {
        size_t cap = (size_t)64 * DRY_SLOTS + 2 * need;
        g->scratch = xrealloc(g->scratch, sizeof(char *) * (size_t)(g->n_scratch + 1));
        g->scratch[g->n_scratch] = xmalloc_aligned(cap);
        memset(g->scratch[g->n_scratch], 0, cap); /* finite values: garbage arithmetic stays fast */
        g->n_scratch++;
        g->scratch_cap = cap;
    }
    return g->scratch[g->n_scratch - 1] + off;
}

int graph_plan_needed(const graph *g) { return g->planning && plan_find(g, g->training, g->grad_mode, g->key) == -1; }

void graph_set_key(graph *g, uint64_t key) { g->key = key; }

void graph_dry_begin(graph *g) {
    DB_ASSERT(g->planning && g->n_buf == 0 && g->n_nodes == 0, "graph_dry_begin: planning off or step already started");
    g->dry = 1;
    g->in_plan = 0;
    g->started = 1; /* no plan picked */
    g->steps++;
    g->stats.planned = g->stats.diverged = 0;
    g->dry_rng = g->rng;
}

float *graph_alloc(graph *g, size_t bytes) {
    if (!g->planning) return arena_alloc(&g->mem, bytes);
    check_mode(g);
    if (g->n_buf == 0) g->rec_training = g->training, g->rec_grad_mode = g->grad_mode, g->rec_key = g->key;
    size_t need = (bytes + 63) & ~(size_t)63;
    if (need == 0) need = 64;
    int id = g->n_buf;
    char *p;
    if (g->dry) {
        p = dry_alloc(g, need);
    } else if (g->in_plan && id < g->plan.n && g->plan.size[id] == need && g->plan.first[id] == g->clock) {
        p = g->block + g->plan.offset[id];
    } else {
        if (g->in_plan) leave_plan(g);
        p = arena_alloc(&g->rec, need);
    }
    record_buf(g, p, need);
    return (float *)p;
}

float *graph_calloc(graph *g, size_t bytes) {
    char *p = (char *)graph_alloc(g, bytes);
    if (bytes < (1u << 20)) memset(p, 0, bytes);
    else { /* large gradient buffers: zero in parallel */
        size_t chunk = (bytes + 63) / 64;
#pragma omp parallel for schedule(static)
        for (int k = 0; k < 64; k++) {
            size_t lo = (size_t)k * chunk, hi = lo + chunk < bytes ? lo + chunk : bytes;
            if (lo < hi) memset(p + lo, 0, hi - lo);
        }
    }
    return (float *)p;
}

/* Debug poisoning: under the plan, every buffer whose planned lifetime has ended gets NaN bytes, so a use
 * that was not declared reads garbage instead of stale but correct data. */
static void poison_dead(graph *g) {
    if (!g->poison || !g->in_plan || !g->plan.release) return;
    while (g->n_released < g->plan.n && g->plan.last[g->plan.release[g->n_released]] < g->clock) {
        int id = g->plan.release[g->n_released++];
        if (id < g->n_buf) memset(g->block + g->plan.offset[id], 0xff, g->plan.size[id]);
    }
}

void graph_op(graph *g) {
    if (!g->planning) return;
    g->clock++;
    check_mode(g);
    poison_dead(g);
}

void graph_use(graph *g, const void *p) {
    if (!g->planning || !p) return;
    int id = hash_get(g, p);
    if (id < 0) return;
    if (g->buf_last[id] < g->clock) g->buf_last[id] = g->clock;
    if (id < g->plan.n && g->block && (const char *)p >= g->block && (const char *)p < g->block + g->plan.bytes) {
        /* a buffer placed by the plan is intact only within its planned lifetime, and after the step left
         * the plan only if that lifetime reaches the point where it left */
        DB_ASSERT(g->in_plan ? g->clock <= g->plan.last[id] : g->plan.last[id] >= g->left_at,
                  "graph plan: buffer %d used at tick %d beyond its planned lifetime (last %d): this step's "
                  "operations differ from the planned step after memory was reused; disable planning for graphs "
                  "whose operations depend on data",
                  id, g->clock, g->plan.last[id]);
    }
}

void graph_use_list(graph *g, const void *const *p, int n) {
    for (int i = 0; i < n; i++) graph_use(g, p[i]);
}

/* profiler: charge the time since the current forward op started to it, and start timing `name` */
static graph_prof_entry *prof_entry(graph_prof *p, const char *name) {
    for (int i = 0; i < p->n; i++)
        if (p->e[i].name == name) return &p->e[i];
    if (p->n == GRAPH_PROF_MAX) return NULL;
    p->e[p->n] = (graph_prof_entry){.name = name};
    return &p->e[p->n++];
}

static void prof_switch(graph_prof *p, const char *name) {
    double now = time_now();
    if (p->cur) {
        graph_prof_entry *e = prof_entry(p, p->cur);
        if (e) {
            e->fwd_s += now - p->t_cur;
            e->fwd_calls++;
        }
    }
    p->cur = name;
    p->t_cur = now;
    if (name) p->active = 1;
}

void graph_op_tensors(graph *g, const char *name, const tensor *const *t, int n) {
    g->op_name = name;
    if (g->prof) prof_switch(g->prof, name);
    if (!g->planning) return;
    g->clock++;
    check_mode(g);
    poison_dead(g);
    for (int i = 0; i < n; i++)
        if (t[i]) graph_use(g, t[i]->data);
}

void graph_keep(graph *g, const void *p) {
    if (!g->planning || !p) return;
    int id = hash_get(g, p);
    if (id >= 0) g->buf_last[id] = INT_MAX;
}

/* Greedy by size: place buffers from the largest down, each at the best-fitting gap (smallest that
 * holds it, lowest offset on ties) among the already placed buffers whose lifetimes overlap its own. */
void graph_plan_pack(graph_plan *pl) {
    int n = pl->n;
    pl->offset = xrealloc(pl->offset, sizeof(size_t) * (n ? n : 1));
    int *order = xmalloc(sizeof(int) * (n ? n : 1));
    for (int i = 0; i < n; i++) order[i] = i;
    /* insertion-free sort: by size descending, then allocation order */
    for (int w = 1; w < n; w *= 2) { /* bottom-up merge sort keeps it O(n log n) and deterministic */
        int *tmp = xmalloc(sizeof(int) * n);
        for (int lo = 0; lo < n; lo += 2 * w) {
            int mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n, a = lo, b = mid, k = lo;
            while (a < mid && b < hi) {
                int x = order[a], y = order[b];
                int take_a = pl->size[x] > pl->size[y] || (pl->size[x] == pl->size[y] && x < y);
                tmp[k++] = take_a ? order[a++] : order[b++];
            }
            while (a < mid) tmp[k++] = order[a++];
            while (b < hi) tmp[k++] = order[b++];
        }
        memcpy(order, tmp, sizeof(int) * n);
        free(tmp);
    }
    int *placed = xmalloc(sizeof(int) * (n ? n : 1)); /* placed buffers sorted by offset */
    int np = 0;
    size_t bytes = 0;
    for (int k = 0; k < n; k++) {
        int i = order[k];
        size_t sz = pl->size[i], prev_end = 0, best = (size_t)-1, best_gap = (size_t)-1;
        for (int q = 0; q < np; q++) {
            int j = placed[q];
            if (pl->first[j] > pl->last[i] || pl->first[i] > pl->last[j]) continue; /* lifetimes disjoint */
            if (pl->offset[j] > prev_end) {
                size_t gap = pl->offset[j] - prev_end;
                if (gap >= sz && gap < best_gap) best_gap = gap, best = prev_end;
            }
            if (pl->offset[j] + pl->size[j] > prev_end) prev_end = pl->offset[j] + pl->size[j];
        }
        pl->offset[i] = best != (size_t)-1 ? best : prev_end;
        if (pl->offset[i] + sz > bytes) bytes = pl->offset[i] + sz;
        int q = np; /* insert keeping offset order */
        while (q > 0 && pl->offset[placed[q - 1]] > pl->offset[i]) {
            placed[q] = placed[q - 1];
            q--;
        }
        placed[q] = i;
        np++;
    }
    pl->bytes = bytes;
    /* live peak: sweep over allocation and release ticks */
    size_t live = 0, peak = 0;
    for (int k = 0; k < n; k++) order[k] = k; /* buffers by first tick (allocation order is tick order) */
    int *by_last = placed;
    for (int k = 0; k < n; k++) by_last[k] = k;
    for (int w = 1; w < n; w *= 2) { /* sort by last tick */
        int *tmp = xmalloc(sizeof(int) * n);
        for (int lo = 0; lo < n; lo += 2 * w) {
            int mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n, a = lo, b = mid, kk = lo;
            while (a < mid && b < hi) tmp[kk++] = pl->last[by_last[a]] <= pl->last[by_last[b]] ? by_last[a++] : by_last[b++];
            while (a < mid) tmp[kk++] = by_last[a++];
            while (b < hi) tmp[kk++] = by_last[b++];
        }
        memcpy(by_last, tmp, sizeof(int) * n);
        free(tmp);
    }
    int r = 0;
    for (int k = 0; k < n; k++) {
        int i = order[k];
        while (r < n && pl->last[by_last[r]] < pl->first[i]) live -= pl->size[by_last[r++]];
        live += pl->size[i];
        if (live > peak) peak = live;
    }
    pl->live_peak = peak;
    free(order);
    free(placed);
}

/* Build the plan of this step's (mode, key) from its record, unless the held plan has that record: it
 * replaces the plan of that (mode, key), or is added to the held plans. */
static void replan(graph *g) {
    graph_plan *pl = &g->plan;
    int same = pl->n == g->n_buf;
    for (int i = 0; same && i < g->n_buf; i++)
        same = pl->size[i] == g->buf_size[i] && pl->first[i] == g->buf_first[i] && pl->last[i] == g->buf_last[i];
    same = same && plan_is(pl, g->rec_training, g->rec_grad_mode, g->rec_key);
    if (same && g->block) return;
    double t0 = time_now();
    if (plan_is(pl, g->rec_training, g->rec_grad_mode, g->rec_key)) plan_clear(pl); /* the step left its own plan */
    else {
        int i = plan_find(g, g->rec_training, g->rec_grad_mode, g->rec_key);
        if (i >= 0) held_drop(g, i); /* (the mode changed between the step's first op and its first allocation) */
        plan_stash(g);
    }
    int n = g->n_buf;
    pl->n = n;
    pl->size = xmalloc(sizeof(size_t) * (n ? n : 1));
    pl->first = xmalloc(sizeof(int) * (n ? n : 1));
    pl->last = xmalloc(sizeof(int) * (n ? n : 1));
    memcpy(pl->size, g->buf_size, sizeof(size_t) * n);
    memcpy(pl->first, g->buf_first, sizeof(int) * n);
    memcpy(pl->last, g->buf_last, sizeof(int) * n);
    graph_plan_pack(pl);
    pl->training = g->rec_training;
    pl->grad_mode = g->rec_grad_mode;
    pl->key = g->rec_key;
    pl->used = g->steps;
    pl->release = xmalloc(sizeof(int) * (n ? n : 1));
    for (int i = 0; i < n; i++) pl->release[i] = i;
    for (int i = 1; i < n; i++) { /* insertion sort by last tick (nearly sorted already) */
        int v = pl->release[i], k = i;
        while (k > 0 && pl->last[pl->release[k - 1]] > pl->last[v]) {
            pl->release[k] = pl->release[k - 1];
            k--;
        }
        pl->release[k] = v;
    }
    g->stats.pack_s = time_now() - t0;
    block_fit(g);
    g->stats.n_plans++;
    g->stats.plan_bytes = pl->bytes;
    g->stats.live_peak = pl->live_peak;
}

void graph_reset(graph *g) {
    if (g->prof) { /* a step ends: nothing after it is charged to an op */
        prof_switch(g->prof, NULL);
        g->prof->steps += g->prof->active;
        g->prof->active = 0;
    }
    g->n_nodes = 0;
    g->stats.meta_bytes = g->mem.high_water;
    arena_reset(&g->mem);
    if (!g->planning) return;
    if (g->n_buf) {
        if (!g->stats.planned || g->stats.diverged) {
            size_t sum = 0;
            for (int i = 0; i < g->n_buf; i++) sum += g->buf_size[i];
            g->stats.record_bytes = sum;
        }
        replan(g);
        /* the bump arena of an unplanned step is given back: the plan's block replaces it */
        if (g->rec.capacity > (1u << 20)) {
            arena_free(&g->rec);
            arena_init(&g->rec, 1u << 20);
        } else
            arena_reset(&g->rec);
        g->rec.high_water = 0;
    }
    if (g->dry) { /* back to the state before the dry run */
        for (int i = 0; i < g->n_scratch; i++) free(g->scratch[i]);
        g->n_scratch = 0;
        g->scratch_cap = 0;
        g->rng = g->dry_rng;
        g->dry = 0;
        g->stats.dry_runs++;
    }
    g->n_buf = 0;
    g->n_released = 0;
    g->clock = 0;
    if (g->hash) memset(g->hash, 0xff, sizeof(int) * g->hash_cap);
    g->in_plan = 0; /* the plan is picked at the step's first op or allocation (step_start) */
    g->started = 0;
    g->left_at = -1;
}

size_t graph_mem_bytes(const graph *g) {
    if (!g->planning) return g->mem.high_water;
    size_t f = g->stats.planned ? g->plan.bytes + (g->stats.diverged ? g->rec.high_water : 0) : g->rec.high_water;
    return g->mem.high_water + f;
}

void *graph_push(graph *g, backward_fn fn, size_t ctx_size) {
    if (g->n_nodes == g->cap_nodes) {
        g->cap_nodes *= 2;
        g->nodes = xrealloc(g->nodes, sizeof(tape_node) * g->cap_nodes);
    }
    void *ctx = arena_alloc(&g->mem, ctx_size);
    g->nodes[g->n_nodes].fn = fn;
    g->nodes[g->n_nodes].ctx = ctx;
    g->nodes[g->n_nodes].name = g->op_name;
    g->n_nodes++;
    return ctx;
}

void graph_backward(graph *g) {
    graph_prof *p = g->prof;
    if (p) prof_switch(p, NULL); /* the forward ends here */
    for (int i = g->n_nodes - 1; i >= 0; i--) {
        graph_op(g); /* each node is one tick */
        double t0 = p ? time_now() : 0;
        g->nodes[i].fn(g->nodes[i].ctx);
        if (p) {
            graph_prof_entry *e = prof_entry(p, g->nodes[i].name ? g->nodes[i].name : "(unnamed)");
            if (e) {
                e->bwd_s += time_now() - t0;
                e->bwd_calls++;
            }
        }
    }
}

void graph_profile_enable(graph *g) {
    if (!g->prof) g->prof = xmalloc(sizeof *g->prof);
    memset(g->prof, 0, sizeof *g->prof);
}

static int prof_cmp(const void *a, const void *b) {
    const graph_prof_entry *x = a, *y = b;
    double tx = x->fwd_s + x->bwd_s, ty = y->fwd_s + y->bwd_s;
    return tx < ty ? 1 : tx > ty ? -1 : 0;
}

void graph_profile_print(const graph *g, FILE *f, int top) {
    const graph_prof *p = g->prof;
    if (!p || p->steps == 0) {
        fprintf(f, "profile: no step timed\n");
        return;
    }
    graph_prof_entry e[GRAPH_PROF_MAX];
    memcpy(e, p->e, sizeof(graph_prof_entry) * p->n);
    qsort(e, p->n, sizeof *e, prof_cmp);
    double tf = 0, tb = 0;
    for (int i = 0; i < p->n; i++) {
        tf += e[i].fwd_s;
        tb += e[i].bwd_s;
    }
    double tot = tf + tb;
    double k = 1e3 / p->steps;
    fprintf(f, "%-26s %9s %9s %9s %7s %7s\n", "op (per step, ms)", "forward", "backward", "total", "share", "calls");
    for (int i = 0; i < p->n && (top <= 0 || i < top); i++)
        fprintf(f, "%-26s %9.1f %9.1f %9.1f %6.1f%% %7ld\n", e[i].name, e[i].fwd_s * k, e[i].bwd_s * k,
                (e[i].fwd_s + e[i].bwd_s) * k, tot > 0 ? 100 * (e[i].fwd_s + e[i].bwd_s) / tot : 0,
                (e[i].fwd_calls + e[i].bwd_calls) / p->steps);
    fprintf(f, "%-26s %9.1f %9.1f %9.1f\n", "all ops", tf * k, tb * k, tot * k);
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
    t->data = graph_alloc(g, sizeof(float) * (size_t)t->n);
    t->requires_grad = requires_grad && g->grad_mode;
    return t;
}

tensor *tensor_new4(graph *g, int d0, int d1, int d2, int d3, int requires_grad) {
    int s[4] = {d0, d1, d2, d3};
    return tensor_new(g, 4, s, requires_grad);
}

tensor *tensor_like(graph *g, const tensor *t, int requires_grad) { return tensor_new(g, t->ndim, t->shape, requires_grad); }

float *tensor_grad(graph *g, tensor *t) {
    if (t->is_param) {
        DB_ASSERT(t->grad, "gradient requested for a frozen parameter");
        t->grad_set = 1;
        return t->grad;
    }
    if (!t->grad) t->grad = graph_calloc(g, sizeof(float) * (size_t)t->n);
    else graph_use(g, t->grad);
    return t->grad;
}

const char *tensor_shape_str(const tensor *t, char *buf, int n) {
    int k = snprintf(buf, n, "(");
    for (int i = 0; i < t->ndim && k < n; i++) k += snprintf(buf + k, n - k, i ? ", %d" : "%d", t->shape[i]);
    if (k < n) snprintf(buf + k, n - k, ")");
    return buf;
}
