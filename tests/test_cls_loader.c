/* test_cls_loader.c - the threaded loader: identical batches (bit for bit) for 0, 1 and 3 worker threads;
 * a loader started at (epoch, iteration) reproduces the tail of an uninterrupted run; shuffling gives a
 * permutation per epoch; drop_last and the partial last batch; evaluation batches equal the test
 * pipeline applied directly; a corrupt image is reported with its path; closing mid-stream. */
#include "test_util.h"

#include <unistd.h>

#include "../core/common.h"
#include "../datasets/cls_dataset.h"
#include "../datasets/cls_loader.h"
#include "../datasets/image.h"

#define N_IMG 13

static const char *make_list_dataset(const char *name) {
    const char *root = test_tmp_dir(name);
    static char rootbuf[1024];
    snprintf(rootbuf, sizeof rootbuf, "%s", root);
    char path[2048], list[4096] = "";
    for (int i = 0; i < N_IMG; i++) {
        image im;
        assert_int_equal(image_alloc(&im, 20 + 3 * i, 30 - i, 3), 0);
        for (int y = 0; y < im.h; y++)
            for (int x = 0; x < im.w; x++)
                for (int k = 0; k < 3; k++) image_px(&im, x, y)[k] = (uint8_t)(x * 7 + y * 11 + k * 40 + i * 13);
        snprintf(path, sizeof path, "%s/img%02d.jpg", rootbuf, i);
        assert_int_equal(image_write_jpeg(path, &im, 90), 0);
        image_free(&im);
        char line[64];
        snprintf(line, sizeof line, "img%02d.jpg %d\n", i, i % 3);
        strcat(list, line);
    }
    snprintf(path, sizeof path, "%s/train2mmcls.txt", rootbuf);
    assert_int_equal(file_write_atomic(path, list, strlen(list)), 0);
    return rootbuf;
}

typedef struct run {
    int n_batches;
    int epoch[64], iter[64], n[64];
    int idx[64][8];
    float *img[64];
} run;

static void run_free(run *r) {
    for (int i = 0; i < r->n_batches; i++) free(r->img[i]);
}

static void collect(const cls_dataset *ds, cls_loader_cfg cfg, run *r) {
    memset(r, 0, sizeof *r);
    cls_loader *L;
    assert_int_equal(cls_loader_open(ds, &cfg, &L), 0);
    cls_batch b;
    int rc;
    size_t per = (size_t)3 * cfg.aug.size * cfg.aug.size;
    while ((rc = cls_loader_next(L, &b)) == 1) {
        int k = r->n_batches++;
        assert_true(k < 64);
        r->epoch[k] = b.epoch;
        r->iter[k] = b.iter;
        r->n[k] = b.n;
        for (int j = 0; j < b.n; j++) {
            r->idx[k][j] = b.indices[j];
            assert_int_equal(b.labels[j], ds->labels[b.indices[j]]);
        }
        r->img[k] = malloc(sizeof(float) * per * b.n);
        memcpy(r->img[k], b.images, sizeof(float) * per * b.n);
    }
    assert_int_equal(rc, 0);
    cls_loader_close(L);
}

static void assert_same(const run *a, int a0, const run *b, int b0, int count, size_t per) {
    for (int k = 0; k < count; k++) {
        assert_int_equal(a->epoch[a0 + k], b->epoch[b0 + k]);
        assert_int_equal(a->iter[a0 + k], b->iter[b0 + k]);
        assert_int_equal(a->n[a0 + k], b->n[b0 + k]);
        assert_memory_equal(a->idx[a0 + k], b->idx[b0 + k], sizeof(int) * a->n[a0 + k]);
        assert_memory_equal(a->img[a0 + k], b->img[b0 + k], sizeof(float) * per * a->n[a0 + k]);
    }
}

static void test_threads_and_resume(void **state) {
    (void)state;
    const char *root = make_list_dataset("cls_loader_a");
    cls_dataset ds;
    assert_int_equal(cls_dataset_open(CLS_FMT_LIST, root, "train", &ds), 0);
    cls_loader_cfg cfg;
    cls_loader_cfg_default(&cfg, 1, 4, 16);
    cfg.seed = 42;
    cfg.epochs = 3;
    size_t per = 3 * 16 * 16;
    run r0, r1, r3;
    cfg.n_threads = 0;
    collect(&ds, cfg, &r0);
    cfg.n_threads = 1;
    collect(&ds, cfg, &r1);
    cfg.n_threads = 3;
    cfg.n_buffers = 2; /* fewer slots than threads: workers must wait for the consumer */
    collect(&ds, cfg, &r3);
    /* 13 images, batch 4, drop_last: 3 iterations per epoch, 3 epochs */
    assert_int_equal(r0.n_batches, 9);
    assert_same(&r0, 0, &r1, 0, 9, per);
    assert_same(&r0, 0, &r3, 0, 9, per);
    /* each epoch: 12 distinct indices in 0..12; epochs differ in order */
    for (int e = 0; e < 3; e++) {
        int seen[N_IMG] = {0};
        for (int k = 3 * e; k < 3 * e + 3; k++) {
            assert_int_equal(r0.n[k], 4);
            assert_int_equal(r0.epoch[k], e);
            for (int j = 0; j < 4; j++) seen[r0.idx[k][j]]++;
        }
        int distinct = 0;
        for (int i = 0; i < N_IMG; i++) {
            assert_true(seen[i] <= 1);
            distinct += seen[i];
        }
        assert_int_equal(distinct, 12);
    }
    assert_true(memcmp(r0.idx[0], r0.idx[3], sizeof(int) * 4) != 0);
    /* resume at epoch 1, iteration 2: identical to batches 5..8 of the full run */
    run rr;
    cfg.n_threads = 2;
    cfg.n_buffers = 0;
    cfg.start_epoch = 1;
    cfg.start_iter = 2;
    cfg.epochs = 2; /* up to the end of epoch 2 */
    collect(&ds, cfg, &rr);
    assert_int_equal(rr.n_batches, 4);
    assert_same(&r0, 5, &rr, 0, 4, per);
    /* a different seed changes the crops */
    run rs;
    cfg.seed = 43;
    cfg.start_epoch = 0;
    cfg.start_iter = 0;
    cfg.epochs = 1;
    collect(&ds, cfg, &rs);
    assert_true(memcmp(rs.idx[0], r0.idx[0], sizeof(int) * 4) != 0 ||
                memcmp(rs.img[0], r0.img[0], sizeof(float) * per * 4) != 0);
    run_free(&r0);
    run_free(&r1);
    run_free(&r3);
    run_free(&rr);
    run_free(&rs);
    /* bad resume positions */
    cls_loader *L;
    cfg.start_iter = 3;
    assert_int_equal(cls_loader_open(&ds, &cfg, &L), -1);
    cfg.start_iter = 0;
    cfg.batch = 14;
    assert_int_equal(cls_loader_open(&ds, &cfg, &L), -1);
    assert_non_null(strstr(err_msg(), "no complete batch"));
    cls_dataset_free(&ds);
}

static void test_eval_order_and_content(void **state) {
    (void)state;
    const char *root = make_list_dataset("cls_loader_b");
    cls_dataset ds;
    assert_int_equal(cls_dataset_open(CLS_FMT_LIST, root, "train", &ds), 0);
    cls_loader_cfg cfg;
    cls_loader_cfg_default(&cfg, 0, 4, 16);
    cfg.epochs = 1;
    run r;
    collect(&ds, cfg, &r);
    /* no shuffle, no drop: 4 batches, last holds 1 image; order 0..12 */
    assert_int_equal(r.n_batches, 4);
    assert_int_equal(r.n[3], 1);
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < r.n[k]; j++) assert_int_equal(r.idx[k][j], 4 * k + j);
    /* content equals the test pipeline applied to the decoded file */
    float *want = malloc(sizeof(float) * 3 * 16 * 16);
    for (int i = 0; i < N_IMG; i++) {
        image im;
        assert_int_equal(image_read(ds.paths[i], IMG_RGB, &im), 0);
        assert_int_equal(cls_aug_test(&im, &cfg.aug, want, NULL), 0);
        image_free(&im);
        assert_memory_equal(r.img[i / 4] + (size_t)(i % 4) * 768, want, sizeof(float) * 768);
    }
    free(want);
    run_free(&r);
    cls_dataset_free(&ds);
}

static void test_errors_and_close(void **state) {
    (void)state;
    const char *root = make_list_dataset("cls_loader_c");
    cls_dataset ds;
    assert_int_equal(cls_dataset_open(CLS_FMT_LIST, root, "train", &ds), 0);
    /* truncate image 5 after opening: the loader reports it with its path */
    size_t n;
    char *buf = file_read_all(ds.paths[5], &n);
    assert_int_equal(file_write_atomic(ds.paths[5], buf, n / 3), 0);
    free(buf);
    cls_loader_cfg cfg;
    cls_loader_cfg_default(&cfg, 0, 4, 16);
    cfg.epochs = 1;
    cls_loader *L;
    assert_int_equal(cls_loader_open(&ds, &cfg, &L), 0);
    cls_batch b;
    assert_int_equal(cls_loader_next(L, &b), 1);
    assert_int_equal(cls_loader_next(L, &b), -1);
    assert_non_null(strstr(err_msg(), "img05.jpg"));
    assert_non_null(strstr(err_msg(), "JPEG"));
    cls_loader_close(L);
    /* endless loader closed while its workers are ahead */
    cfg.epochs = 0;
    cfg.train = 1;
    cfg.n_threads = 2;
    cls_dataset_free(&ds);
    root = make_list_dataset("cls_loader_d");
    assert_int_equal(cls_dataset_open(CLS_FMT_LIST, root, "train", &ds), 0);
    assert_int_equal(cls_loader_open(&ds, &cfg, &L), 0);
    assert_int_equal(cls_loader_iters_per_epoch(L), 4);
    for (int i = 0; i < 10; i++) assert_int_equal(cls_loader_next(L, &b), 1);
    assert_int_equal(b.epoch, 2);
    assert_int_equal(b.iter, 1);
    cls_loader_close(L);
    cls_dataset_free(&ds);
    assert_int_equal(cls_iters_per_epoch(13, 4, 1), 3);
    assert_int_equal(cls_iters_per_epoch(13, 4, 0), 4);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_and_resume),
        cmocka_unit_test(test_eval_order_and_content),
        cmocka_unit_test(test_errors_and_close),
    };
    return cmocka_run_group_tests_name("cls_loader", tests, NULL, NULL);
}
