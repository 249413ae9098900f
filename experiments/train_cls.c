/* train_cls.c - the classification task of the shared trainer (experiments/trainer.h): the classifier, its
 * loader, cross-entropy and top-1/top-5 evaluation (see train_cls.h). */
#include "train_cls.h"

#include <cJSON.h>
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/checkpoint.h"
#include "../core/comm.h"
#include "../core/sha256.h"
#include "../models/classifier.h"
#include "../methods/method.h"
#include "../core/optim.h"
#include "../core/schedule.h"
#include "../datasets/cls_dataset.h"
#include "../datasets/cls_loader.h"
#include "../metrics/topk.h"
#include "results.h"
#include "trainer.h"

/* Forward, loss and backward of one training batch; the loss value stays readable after backward. */
static tensor *train_forward_backward(classifier *c, graph *g, const cls_batch *b) {
    tensor *x = tensor_new4(g, b->n, 3, b->size, b->size, 0);
    memcpy(x->data, b->images, sizeof(float) * x->n);
    tensor *logits = classifier_forward(c, g, x);
    tensor *loss = op_cross_entropy(g, logits, b->labels, 0.0f);
    graph_keep(g, loss->data);
    if (loss->requires_grad) {
        tensor_grad(g, loss)[0] = 1.0f;
        graph_backward(g);
    }
    return loss;
}

/* top-1 / top-5 over the test split (no gradients, eval mode). Under mpirun rank r evaluates the test batches
 * b with b % N == r and the counts are summed over the ranks (exact: integer counts), so every rank returns
 * the single-process numbers. */
static int evaluate(classifier *c, graph *g, const cls_dataset *test, const recipe *r, double *top1, double *top5) {
    cls_loader_cfg lc;
    cls_loader_cfg_default(&lc, 0, r->batch, r->img_size);
    lc.aug.resize_short = r->test_resize;
    lc.seed = r->seed;
    lc.n_threads = r->workers;
    lc.epochs = 1;
    cls_loader *L;
    if (cls_loader_open(test, &lc, &L)) return -1;
    long c1 = 0, c5 = 0, n = 0, nb = 0;
    int k5 = c->num_classes < 5 ? c->num_classes : 5;
    cls_batch b;
    int rc;
    int gm = g->grad_mode, tr = g->training;
    g->grad_mode = 0;
    g->training = 0;
    int rank = comm_rank(), n_ranks = comm_size();
    while ((rc = cls_loader_next(L, &b)) == 1) {
        if (r->max_eval_batches > 0 && nb >= r->max_eval_batches) break;
        if (nb++ % n_ranks != rank) continue;
        graph_reset(g);
        graph_set_key(g, (uint64_t)b.n << 32 | (uint32_t)b.size); /* the last batch may be smaller */
        if (graph_plan_needed(g)) { /* a dry run first records the memory plan of the evaluation forward */
            graph_dry_begin(g);
            tensor *xd = tensor_new4(g, b.n, 3, b.size, b.size, 0);
            memcpy(xd->data, b.images, sizeof(float) * xd->n);
            graph_keep(g, classifier_forward(c, g, xd)->data);
            graph_reset(g);
        }
        tensor *x = tensor_new4(g, b.n, 3, b.size, b.size, 0);
        memcpy(x->data, b.images, sizeof(float) * x->n);
        tensor *logits = classifier_forward(c, g, x);
        graph_keep(g, logits->data);
        c1 += topk_count(logits->data, b.labels, b.n, c->num_classes, 1);
        c5 += topk_count(logits->data, b.labels, b.n, c->num_classes, k5);
        n += b.n;
    }
    g->grad_mode = gm;
    g->training = tr;
    cls_loader_close(L);
    if (rc < 0) return -1;
    double cnt[3] = {(double)c1, (double)c5, (double)n};
    if (comm_allreduce_sum_f64(cnt, 3)) return -1;
    c1 = (long)cnt[0], c5 = (long)cnt[1], n = (long)cnt[2];
    *top1 = n ? 100.0 * c1 / n : 0;
    *top5 = n ? 100.0 * c5 / n : 0;
    return 0;
}

/* the trained backbone in the layout of a released Swin classification checkpoint: backbone names
 * without prefix, the last stage's output norm as "norm.*", the head as "head.*" */
int cls_save_released_layout(const char *path, const classifier *c, const char *prefix, const char *meta_json) {
    const params *ps = &c->ps;
    st_entry *e = xcalloc(ps->n, sizeof *e);
    int64_t(*shapes)[TENSOR_MAX_DIMS] = xcalloc(ps->n, sizeof *shapes);
    char **names = xcalloc(ps->n, sizeof(char *));
    int n = 0;
    for (int i = 0; i < ps->n; i++) {
        const param *p = ps->p[i];
        char name[256];
        const char *pre = prefix ? prefix : "";
        if (!strncmp(p->name, "norm3.", 6)) snprintf(name, sizeof name, "%snorm.%s", pre, p->name + 6);
        else if (!strncmp(p->name, "head.fc.", 8)) snprintf(name, sizeof name, "%shead.%s", pre, p->name + 8);
        else snprintf(name, sizeof name, "%s%s", pre, p->name);
        names[n] = xstrdup(name);
        for (int k = 0; k < p->t.ndim; k++) shapes[n][k] = p->t.shape[k];
        e[n] = (st_entry){names[n], p->t.ndim, shapes[n], p->t.data};
        n++;
    }
    const char *mk[2] = {"format", "deltabench"}, *mv[2] = {"pt", meta_json};
    int rc = safetensors_write(path, e, n, mk, mv, 2);
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    free(shapes);
    free(e);
    return rc;
}


/* ---- the classification task ---- */
typedef struct cls_task {
    const cls_run_spec *s;
    const recipe *r;
    classifier c;
    swin_config sc;
    cls_dataset train, test;
    cls_loader *L;
    cls_batch b;
    int ipe;
    const train_task *t; /* its shard (set by the trainer) */
} cls_task;

static int cls_open(void *self, int start_epoch, int start_iter) {
    cls_task *k = self;
    const recipe *r = k->r;
    cls_loader_cfg lc;
    cls_loader_cfg_default(&lc, 1, r->batch, r->img_size);
    lc.aug.resize_short = r->test_resize;
    lc.aug.scale_min = r->crop_scale[0], lc.aug.scale_max = r->crop_scale[1];
    lc.seed = r->seed;
    lc.n_threads = r->workers;
    lc.start_epoch = start_epoch;
    lc.start_iter = start_iter;
    lc.epochs = r->epochs - start_epoch;
    lc.shard_rank = k->t->shard_rank, lc.shard_size = k->t->shard_size;
    return cls_loader_open(&k->train, &lc, &k->L);
}

static int cls_next(void *self, void **batch) {
    cls_task *k = self;
    int rc = cls_loader_next(k->L, &k->b);
    *batch = rc == 1 ? &k->b : NULL;
    return rc;
}

static void cls_close(void *self) {
    cls_task *k = self;
    if (k->L) cls_loader_close(k->L);
    k->L = NULL;
}

static void cls_batch_free(void *self, void *batch) {}
static int cls_batch_images(const void *batch) { return ((const cls_batch *)batch)->n; }
static uint64_t cls_batch_key(const void *batch) {
    const cls_batch *b = batch;
    return (uint64_t)b->n << 32 | (uint32_t)b->size;
}

static int cls_step(void *self, graph *g, const void *batch, double *loss, double *parts) {
    cls_task *k = self;
    tensor *l = train_forward_backward(&k->c, g, batch);
    *loss = l->data[0];
    return 0;
}

static int cls_evaluate(void *self, graph *g, double *m) {
    cls_task *k = self;
    return evaluate(&k->c, g, &k->test, k->r, &m[0], &m[1]);
}

static void cls_fill_results(void *self, results_run *rr) {
    cls_task *k = self;
    static char data[2048];
    const cls_run_spec *s = k->s;
    snprintf(data, sizeof data, "%s%s%s", s->data_desc ? s->data_desc : "", s->data_desc ? "; " : "", k->train.description);
    rr->backbone_params = params_count(&k->c.ps, 0) - k->c.head_w->n - k->c.head_b->n;
    rr->backbone_trainable_params = params_count(&k->c.ps, 1) - k->c.head_w->n - k->c.head_b->n;
    rr->data = data;
    rr->train_split = k->train.description;
    rr->test_split = k->test.description;
    rr->n_train_samples = k->train.n;
    rr->n_test_samples = k->test.n;
    rr->n_classes = k->train.n_classes;
}

/* the data every rank must agree on: per split the item count, the classes, and per item its path below the
 * root, its label and its file size */
static void cls_hash_split(sha256_ctx *c, const cls_dataset *d) {
    sha256_update(c, &d->n, sizeof d->n);
    sha256_update(c, &d->n_classes, sizeof d->n_classes);
    size_t rl = d->root ? strlen(d->root) : 0;
    for (int i = 0; i < d->n; i++) {
        const char *p = d->paths[i];
        if (rl && !strncmp(p, d->root, rl)) p += rl;
        struct stat sb;
        int64_t size = stat(d->paths[i], &sb) == 0 ? (int64_t)sb.st_size : -1;
        sha256_update(c, p, strlen(p) + 1);
        sha256_update(c, &d->labels[i], sizeof d->labels[i]);
        sha256_update(c, &size, sizeof size);
    }
}

static void cls_fingerprint(void *self, void *ctx) {
    cls_task *k = self;
    cls_hash_split(ctx, &k->train);
    cls_hash_split(ctx, &k->test);
}

static int cls_save_extra(void *self, const char *meta_json) {
    cls_task *k = self;
    return k->s->save_backbone ? cls_save_released_layout(k->s->save_backbone, &k->c, NULL, meta_json) : 0;
}

int cls_train_run(const cls_run_spec *s, cls_run_out *out) {
    const recipe *r = s->r;
    memset(out, 0, sizeof *out);
    method_spec sp; /* the method with its options; the backbone's plug-in points into it for the whole run */
    if (method_spec_parse(s->method, &sp)) return err_prefix("%s", r->path);
    const char *key = s->results_key ? s->results_key : sp.key;
    char tag[256];
    snprintf(tag, sizeof tag, "%s %s", s->ds->key, key);
    if (r->threads > 0) {
        omp_set_num_threads(r->threads);
        openblas_set_num_threads(r->threads);
    }
    cls_format fmt;
    if (cls_format_parse(s->ds->format, &fmt)) return err_prefix("%s: datasets[%s]", r->path, s->ds->key);
    cls_task k;
    memset(&k, 0, sizeof k);
    k.s = s, k.r = r;
    if (cls_dataset_open(fmt, s->ds->root, "train", &k.train)) return -1;
    if (cls_dataset_open(fmt, s->ds->root, "test", &k.test)) {
        cls_dataset_free(&k.train);
        return -1;
    }
    int rc = -1, have_model = 0;
    if (swin_preset(r->backbone, &k.sc)) goto done;
    k.sc.drop_path_rate = (float)r->drop_path;
    if (k.train.n < r->batch) {
        err_set("%s: %d training images, fewer than one batch of %d", s->ds->root, k.train.n, r->batch);
        goto done;
    }
    classifier_build(&k.c, &k.sc, &sp.plug, k.train.n_classes);
    have_model = 1;
    classifier_init(&k.c, r->seed);
    if (s->pretrained && *s->pretrained) {
        ckpt_apply_opts ao = {.allow_missing = 1};
        if (ckpt_load_pretrained(&k.c.ps, s->pretrained, &ao, s->quiet ? NULL : stderr)) goto done;
    }
    double lr = r->lr * recipe_lr_mult(r, sp.spec, s->ds->key);
    k.ipe = cls_iters_per_epoch(k.train.n, r->batch, 1);
    train_task t = {.self = &k, .ps = &k.c.ps, .iters_per_epoch = k.ipe, .plan_memory = 1, .n_metrics = 2, .metric_name = {"top1", "top5"},
                    .train_open = cls_open, .train_next = cls_next, .train_close = cls_close, .batch_free = cls_batch_free,
                    .batch_images = cls_batch_images, .batch_key = cls_batch_key, .step = cls_step, .evaluate = cls_evaluate,
                    .fill_results = cls_fill_results, .can_shard = 1, .eval_sharded = 1, .fingerprint = cls_fingerprint};
    k.t = &t;
    char bbjson[700];
    const swin_config *sc = &k.sc;
    snprintf(bbjson, sizeof bbjson,
             "{\"name\": \"%s\", \"embed_dim\": %d, \"depths\": [%d, %d, %d, %d], \"num_heads\": [%d, %d, %d, %d], \"window\": %d, "
             "\"drop_path_rate\": %g}",
             r->backbone, sc->embed_dim, sc->depths[0], sc->depths[1], sc->depths[2], sc->depths[3], sc->num_heads[0], sc->num_heads[1],
             sc->num_heads[2], sc->num_heads[3], sc->window, sc->drop_path_rate);
    trainer_spec ts = {.r = r, .method = sp.spec, .dataset_key = s->ds->key, .tag = tag, .lr = lr, .run_dir = s->run_dir,
                       .results_path = s->results_path, .results_key = key, .pretrained = s->pretrained, .backbone_json = bbjson,
                       .resume = s->resume, .restart_if_stale = s->restart_if_stale, .quiet = s->quiet,
                       .stop_after_iters = s->stop_after_iters, .save_extra = cls_save_extra};
    if (!s->quiet)
        fprintf(stderr, "[%s] %s, %d train / %d test images, %d classes; %lld trainable of %lld parameters; lr %.3g; %d iterations\n",
                tag, r->backbone, k.train.n, k.test.n, k.train.n_classes, (long long)params_count(&k.c.ps, 1),
                (long long)params_count(&k.c.ps, 0), lr, (int)(r->max_iters > 0 && r->max_iters < (int64_t)k.ipe * r->epochs ? r->max_iters : (int64_t)k.ipe * r->epochs));
    trainer_out to;
    if (trainer_run(&ts, &t, &to)) goto done;
    out->top1 = to.final[0], out->top5 = to.final[1];
    out->wall_s = to.wall_s, out->final_loss = to.final_loss;
    out->iters = to.iters, out->trainable = to.trainable, out->total = to.total;
    out->stopped = to.stopped;
    rc = 0;
done:
    if (have_model) classifier_free(&k.c);
    cls_dataset_free(&k.train);
    cls_dataset_free(&k.test);
    return rc;
}
