/* cls_loader.c - worker threads fill a ring of batch buffers in batch order; the consumer takes them in
 * order. Batch g (counted from the start position) always goes to slot g % n_buffers, and a worker may
 * claim batch g only while g < consumed + n_buffers, so a slot is never overwritten before the
 * consumer has moved past it. Batch content depends only on (seed, epoch, iter): see cls_loader.h. */
#include "cls_loader.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"

typedef struct slot {
    int64_t g;          /* batch number held (ready), -1 when none */
    int status;         /* 0 ok, -1 error */
    char err[1024];
    cls_batch b;
} slot;

struct cls_loader {
    const cls_dataset *ds;
    cls_loader_cfg cfg;
    int ipe;            /* iterations per epoch */
    int64_t total;      /* number of batches to produce (INT64_MAX = endless) */
    int nbuf;
    slot *slots;
    pthread_t *threads;
    int n_started;
    pthread_mutex_t mu;
    pthread_cond_t can_claim, ready;
    int64_t next_claim; /* next batch a worker will take */
    int64_t consumed;   /* batches the consumer has finished with */
    int holding;        /* consumer holds batch `consumed` */
    int stop;
    /* scratch of the synchronous path */
    int *perm0;
    int perm0_epoch;
    uint8_t *scratch0;
};

int cls_iters_per_epoch(int n, int batch, int drop_last) {
    if (batch <= 0 || n <= 0) return 0;
    return drop_last ? n / batch : (n + batch - 1) / batch;
}

void cls_epoch_perm(uint64_t seed, int epoch, int n, int shuffle, int *perm) {
    for (int i = 0; i < n; i++) perm[i] = i;
    if (!shuffle) return;
    rng_t r;
    rng_seed(&r, cls_aug_seed(seed ^ 0x5bd1e9955bd1e995ULL, epoch, -1));
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(&r, (uint32_t)(i + 1));
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

void cls_loader_cfg_default(cls_loader_cfg *cfg, int train, int batch, int size) {
    memset(cfg, 0, sizeof *cfg);
    cfg->batch = batch;
    cfg->train = train;
    cfg->shuffle = train;
    cfg->drop_last = train;
    cfg->n_threads = 2;
    cls_aug_default(&cfg->aug, size);
}

/* Fill slot s with batch g. perm/perm_epoch: the caller's cached permutation. Returns 0 or -1 (message in s->err). */
static int fill_batch(cls_loader *L, int64_t g, slot *s, int *perm, int *perm_epoch, uint8_t *scratch) {
    int64_t pos = (int64_t)L->cfg.start_iter + g;
    int epoch = L->cfg.start_epoch + (int)(pos / L->ipe);
    int iter = (int)(pos % L->ipe);
    if (*perm_epoch != epoch) {
        cls_epoch_perm(L->cfg.seed, epoch, L->ds->n, L->cfg.shuffle, perm);
        *perm_epoch = epoch;
    }
    int B = L->cfg.batch, S = L->cfg.aug.size, ns = L->cfg.shard_size > 1 ? L->cfg.shard_size : 1;
    int first = iter * B, n = L->ds->n - first < B ? L->ds->n - first : B;
    if (ns > 1) first += L->cfg.shard_rank * (B / ns), n = B / ns; /* drop_last: every batch is whole */
    size_t per = (size_t)3 * S * S;
    s->status = 0;
    s->err[0] = 0;
    s->b.n = n;
    s->b.epoch = epoch;
    s->b.iter = iter;
    s->b.size = S;
    for (int k = 0; k < n; k++) {
        int idx = perm[first + k];
        s->b.indices[k] = idx;
        s->b.labels[k] = L->ds->labels[idx];
        image im;
        int rc = image_read(L->ds->paths[idx], IMG_RGB, &im);
        if (!rc) {
            if (L->cfg.train)
                rc = cls_aug_train(&im, &L->cfg.aug, cls_aug_seed(L->cfg.seed, epoch, idx), s->b.images + k * per, scratch);
            else
                rc = cls_aug_test(&im, &L->cfg.aug, s->b.images + k * per, scratch);
            if (rc) err_prefix("%s", L->ds->paths[idx]);
            image_free(&im);
        }
        if (rc) {
            snprintf(s->err, sizeof s->err, "loader, epoch %d batch %d: %s", epoch, iter, err_msg());
            s->status = -1;
            return -1;
        }
    }
    return 0;
}

static void *worker_main(void *arg) {
    cls_loader *L = arg;
    int *perm = xmalloc(sizeof(int) * (L->ds->n > 0 ? L->ds->n : 1));
    int perm_epoch = -1;
    uint8_t *scratch = xmalloc((size_t)L->cfg.aug.size * L->cfg.aug.size * 3);
    for (;;) {
        pthread_mutex_lock(&L->mu);
        while (!L->stop && (L->next_claim >= L->total || L->next_claim >= L->consumed + L->nbuf))
            pthread_cond_wait(&L->can_claim, &L->mu);
        if (L->stop) {
            pthread_mutex_unlock(&L->mu);
            break;
        }
        int64_t g = L->next_claim++;
        slot *s = &L->slots[g % L->nbuf];
        pthread_mutex_unlock(&L->mu);
        fill_batch(L, g, s, perm, &perm_epoch, scratch);
        pthread_mutex_lock(&L->mu);
        s->g = g;
        pthread_cond_broadcast(&L->ready);
        pthread_mutex_unlock(&L->mu);
    }
    free(perm);
    free(scratch);
    return NULL;
}

int cls_loader_open(const cls_dataset *ds, const cls_loader_cfg *cfg, cls_loader **out) {
    *out = NULL;
    if (!ds || ds->n <= 0) return err_set("loader: empty dataset");
    if (cfg->batch < 1) return err_set("loader: batch size %d < 1", cfg->batch);
    if (cls_aug_check(&cfg->aug)) return -1;
    if (cfg->n_threads < 0 || cfg->n_threads > 256) return err_set("loader: %d threads outside 0..256", cfg->n_threads);
    int ipe = cls_iters_per_epoch(ds->n, cfg->batch, cfg->drop_last);
    if (ipe == 0)
        return err_set("loader: %d images make no complete batch of %d (drop_last is on)", ds->n, cfg->batch);
    if (cfg->start_epoch < 0 || cfg->start_iter < 0 || cfg->start_iter >= ipe)
        return err_set("loader: resume position epoch %d iteration %d is outside 0..%d iterations per epoch",
                       cfg->start_epoch, cfg->start_iter, ipe - 1);
    if (cfg->epochs < 0) return err_set("loader: epochs %d < 0", cfg->epochs);
    int ns = cfg->shard_size > 1 ? cfg->shard_size : 1;
    if (ns > 1 && (cfg->batch % ns || !cfg->drop_last))
        return err_set("loader: a batch of %d cannot be split into %d equal shards%s", cfg->batch, ns,
                       cfg->drop_last ? " (the batch must be a multiple of the number of ranks)" : " without drop_last");
    if (ns > 1 && (cfg->shard_rank < 0 || cfg->shard_rank >= ns))
        return err_set("loader: shard %d outside 0..%d", cfg->shard_rank, ns - 1);
    cls_loader *L = xcalloc(1, sizeof *L);
    L->ds = ds;
    L->cfg = *cfg;
    L->ipe = ipe;
    L->total = cfg->epochs ? (int64_t)cfg->epochs * ipe - cfg->start_iter : INT64_MAX;
    L->nbuf = cfg->n_buffers > 0 ? cfg->n_buffers : 2 * cfg->n_threads + 2;
    L->slots = xcalloc(L->nbuf, sizeof(slot));
    size_t per = (size_t)3 * cfg->aug.size * cfg->aug.size;
    for (int i = 0; i < L->nbuf; i++) {
        L->slots[i].g = -1;
        L->slots[i].b.images = xmalloc_aligned(sizeof(float) * per * (cfg->batch / ns));
        L->slots[i].b.labels = xmalloc(sizeof(int) * (cfg->batch / ns));
        L->slots[i].b.indices = xmalloc(sizeof(int) * (cfg->batch / ns));
    }
    pthread_mutex_init(&L->mu, NULL);
    pthread_cond_init(&L->can_claim, NULL);
    pthread_cond_init(&L->ready, NULL);
    L->perm0_epoch = -1;
    if (cfg->n_threads == 0) {
        L->perm0 = xmalloc(sizeof(int) * ds->n);
        L->scratch0 = xmalloc(per);
    } else {
        L->threads = xcalloc(cfg->n_threads, sizeof(pthread_t));
        for (int t = 0; t < cfg->n_threads; t++) {
            if (pthread_create(&L->threads[t], NULL, worker_main, L) != 0) {
                cls_loader_close(L);
                return err_set("loader: cannot start worker thread %d", t);
            }
            L->n_started++;
        }
    }
    *out = L;
    return 0;
}

int cls_loader_iters_per_epoch(const cls_loader *L) { return L->ipe; }

int cls_loader_next(cls_loader *L, cls_batch *b) {
    memset(b, 0, sizeof *b);
    pthread_mutex_lock(&L->mu);
    if (L->holding) {
        L->consumed++;
        L->holding = 0;
        pthread_cond_broadcast(&L->can_claim);
    }
    if (L->consumed >= L->total) {
        pthread_mutex_unlock(&L->mu);
        return 0;
    }
    int64_t g = L->consumed;
    slot *s = &L->slots[g % L->nbuf];
    if (L->cfg.n_threads == 0) {
        pthread_mutex_unlock(&L->mu);
        fill_batch(L, g, s, L->perm0, &L->perm0_epoch, L->scratch0);
        s->g = g;
        pthread_mutex_lock(&L->mu);
    } else {
        while (s->g != g) pthread_cond_wait(&L->ready, &L->mu);
    }
    L->holding = 1;
    pthread_mutex_unlock(&L->mu);
    if (s->status) return err_set("%s", s->err);
    *b = s->b;
    return 1;
}

void cls_loader_close(cls_loader *L) {
    if (!L) return;
    pthread_mutex_lock(&L->mu);
    L->stop = 1;
    pthread_cond_broadcast(&L->can_claim);
    pthread_mutex_unlock(&L->mu);
    for (int t = 0; t < L->n_started; t++) pthread_join(L->threads[t], NULL);
    pthread_mutex_destroy(&L->mu);
    pthread_cond_destroy(&L->can_claim);
    pthread_cond_destroy(&L->ready);
    for (int i = 0; i < L->nbuf; i++) {
        free(L->slots[i].b.images);
        free(L->slots[i].b.labels);
        free(L->slots[i].b.indices);
    }
    free(L->slots);
    free(L->threads);
    free(L->perm0);
    free(L->scratch0);
    free(L);
}
