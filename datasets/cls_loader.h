/* cls_loader.h - a threaded classification batch loader: worker threads (pthreads) read, decode and
 * augment images ahead of the training step into a ring of preallocated batch buffers.
 *
 * Determinism: the loader produces a fixed sequence of batches numbered from (start_epoch, start_iter).
 * Batch (e, i) holds the dataset items perm_e[i*B .. i*B+B-1], where perm_e is a Fisher-Yates shuffle
 * seeded by (seed, e) (identity order when shuffle is off), and item j of epoch e is augmented with the
 * generator cls_aug_seed(seed, e, j). So the content of every batch is a pure function of (seed, e, i):
 * the same for any number of threads, and a run resumed at (e, i) sees exactly the batches an
 * uninterrupted run would have seen from there. A sharded loader (shard_rank, shard_size) produces rank r's
 * slice of each of those batches, so the union over the ranks is exactly the unsharded batch.
 *
 * Usage:
 *   cls_loader_cfg cfg; cls_loader_cfg_default(&cfg, 1, 16, 224);   // train, batch 16, 224 px
 *   cfg.seed = 0; cfg.n_threads = 2; cfg.epochs = 100;
 *   cls_loader *L; if (cls_loader_open(&ds, &cfg, &L)) -> error
 *   cls_batch b; int rc;
 *   while ((rc = cls_loader_next(L, &b)) == 1) { ... b.images (b.n x 3 x S x S), b.labels ... }
 *   if (rc < 0) -> error (err_msg() names the image); cls_loader_close(L);
 * A batch's buffers stay valid until the next cls_loader_next or cls_loader_close. */
#ifndef DB_CLS_LOADER_H
#define DB_CLS_LOADER_H

#include <stdint.h>

#include "cls_augment.h"
#include "cls_dataset.h"

typedef struct cls_loader_cfg {
    int batch;           /* images per batch */
    int train;           /* 1: RandomResizedCrop + flip; 0: resize + center crop */
    int shuffle;         /* shuffle every epoch (default: = train) */
    int drop_last;       /* drop the last incomplete batch of an epoch (default: = train) */
    uint64_t seed;
    int n_threads;       /* worker threads; 0 = decode on the calling thread inside cls_loader_next */
    int n_buffers;       /* ring slots (default 2 * n_threads + 2) */
    int start_epoch;     /* resume position: first batch is (start_epoch, start_iter) */
    int start_iter;
    int epochs;          /* produce batches up to the end of epoch start_epoch + epochs - 1; 0 = endless */
    /* data-parallel sharding (0, 0 or 1: none): of every batch of `batch` items this loader produces only
     * the slice [shard_rank * batch / shard_size, (shard_rank + 1) * batch / shard_size), the same items with
     * the same augmentation as in the whole batch; needs batch % shard_size == 0 and drop_last */
    int shard_rank, shard_size;
    cls_aug_cfg aug;
} cls_loader_cfg;

typedef struct cls_batch {
    int n;               /* images in this batch (< batch only for a last partial batch; batch / shard_size sharded) */
    int epoch, iter;     /* its position */
    int size;            /* image side */
    float *images;       /* n x 3 x size x size, normalised */
    int *labels;         /* n */
    int *indices;        /* n dataset indices */
} cls_batch;

typedef struct cls_loader cls_loader;

/* Defaults: shuffle = drop_last = train, seed 0, 2 threads, endless, cls_aug_default(size). */
void cls_loader_cfg_default(cls_loader_cfg *cfg, int train, int batch, int size);
/* The dataset must outlive the loader. */
int cls_loader_open(const cls_dataset *ds, const cls_loader_cfg *cfg, cls_loader **out);
/* 1 = a batch in *b, 0 = no more batches (epochs done), -1 = error (decode failure etc.). */
int cls_loader_next(cls_loader *L, cls_batch *b);
int cls_loader_iters_per_epoch(const cls_loader *L);
void cls_loader_close(cls_loader *L);

/* Batches per epoch for n items: n / batch with drop_last, else ceil(n / batch). */
int cls_iters_per_epoch(int n, int batch, int drop_last);
/* The epoch permutation (perm: n ints) as the loader uses it. */
void cls_epoch_perm(uint64_t seed, int epoch, int n, int shuffle, int *perm);

#endif
