/* train_det.c - the detection task of the shared trainer: RetinaNet on VOC (see train_det.h). */
#include "train_det.h"

#include <cJSON.h>
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/checkpoint.h"
#include "../core/comm.h"
#include "../core/sha256.h"
#include "../datasets/det_pipeline.h"
#include "../methods/method.h"
#include "../metrics/voc_eval.h"
#include "../metrics/voc_files.h"
#include "../models/det/retinanet.h"
#include "results.h"
#include "trainer.h"

typedef struct det_task {
    const det_run_spec *s;
    const recipe *r;
    retinanet net;
    voc_det_dataset train, test;
    det_pipeline_cfg pc;
    int batch, test_batch, ipe;
    /* the training stream */
    int epoch, iter, *order, n_order;
    det_batch b, view; /* view: this rank's images of b (data parallel) */
    const train_task *t;
    char train_desc[512], test_desc[256];
    double map, ap[VOC_N_CLASSES];
    voc_det_box *dt; /* the last evaluation's detections (original-image pixels, mmdet's 0-based frame) */
    int n_dt;
} det_task;

static int json_splits(const cJSON *a, char out[][64], int max, const char *where) {
    if (cJSON_IsString(a)) {
        snprintf(out[0], 64, "%s", a->valuestring);
        return 1;
    }
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) < 1 || cJSON_GetArraySize(a) > max)
        return err_set("%s: expected a split name or a list of up to %d (e.g. [\"VOC2007/trainval\", \"VOC2012/trainval\"])", where, max);
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) {
        if (!cJSON_IsString(e)) return err_set("%s: split names must be strings", where);
        snprintf(out[n++], 64, "%s", e->valuestring);
    }
    return n;
}

/* ---- training stream: GroupSampler order per epoch, batches loaded on demand ---- */
static int det_open(void *self, int start_epoch, int start_iter) {
    det_task *k = self;
    k->epoch = start_epoch, k->iter = start_iter;
    free(k->order);
    k->order = NULL;
    return 0;
}

static int det_next(void *self, void **batch) {
    det_task *k = self;
    if (k->iter >= k->ipe) k->epoch++, k->iter = 0, free(k->order), k->order = NULL;
    if (k->epoch >= k->r->epochs) return 0;
    if (!k->order && det_group_sampler(&k->train, k->batch, k->r->seed, k->epoch, &k->order, &k->n_order)) return -1;
    uint64_t seed = k->r->seed * 0x100000001B3ULL ^ ((uint64_t)k->epoch << 32 | (uint32_t)k->iter);
    if (det_batch_load(&k->train, &k->pc, 1, k->order + (size_t)k->iter * k->batch, k->batch, seed, &k->b)) return -1;
    k->iter++;
    *batch = &k->b;
    int ns = k->t->shard_size;
    if (ns > 1) {
        /* Data parallel: every rank loads the whole global batch (flips are drawn per image from (seed, index),
         * so they are the single process's) and steps on its slice of the collated tensor: the images keep the
         * global batch's padded size, as in one process (a shard padded to its own largest image would see other
         * window partitions). Decoding is repeated on every rank; the network runs on the slice only. */
        det_batch_shard_view(&k->b, k->t->shard_rank, ns, &k->view);
        *batch = &k->view;
    }
    return 1;
}

static void det_close(void *self) {
    det_task *k = self;
    free(k->order);
    k->order = NULL;
}

static void det_batch_release(void *self, void *batch) {
    det_task *k = self;
    (void)batch; /* the batch or the view into it */
    det_batch_free(&k->b);
}

/* Memory plans held: one per padded training size and one per padded test size. VOC (sides up to 500) at
 * img_scale 1000 x 600 pads to one side of 608 (or 1024) and the other in steps of 32: some 30 to 40 sizes
 * per split by that arithmetic. A held plan costs only its offsets and lifetimes (the block is shared), an
 * eviction a dry run when the size comes back, so every size of a run is held. */
#define DET_PLAN_SLOTS 96

static int det_step(void *self, graph *g, const void *batch, double *loss, double *parts) {
    det_task *k = self;
    const det_batch *b = batch;
    tensor *l;
    if (retinanet_loss(&k->net, g, det_batch_tensor(g, b), b->metas, b->gts, &l, &parts[0], &parts[1])) return -1;
    graph_keep(g, l->data);
    if (l->requires_grad) {
        tensor_grad(g, l)[0] = 1.0f;
        graph_backward(g);
    }
    *loss = l->data[0];
    return 0;
}

/* VOC mAP@0.5 (mmdet eval_map, 11 points) over the test split, detections in original-image pixels */
static int det_evaluate(void *self, graph *g, double *m) {
    det_task *k = self;
    const voc_det_dataset *ds = &k->test;
    int n_gt = 0;
    for (int i = 0; i < ds->n; i++) n_gt += ds->images[i].n_gt + ds->images[i].n_ignore;
    voc_gt_box *gt = xmalloc(sizeof *gt * (n_gt ? n_gt : 1));
    int q = 0;
    for (int i = 0; i < ds->n; i++) {
        const voc_det_image *im = &ds->images[i];
        for (int j = 0; j < im->n_gt + im->n_ignore; j++, q++) {
            gt[q].image = i, gt[q].label = im->labels[j], gt[q].difficult = j >= im->n_gt;
            for (int c = 0; c < 4; c++) gt[q].box[c] = im->boxes[4 * j + c];
        }
    }
    int cap = 1024, n_dt = 0, rc = 0;
    voc_det_box *dt = xmalloc(sizeof *dt * cap);
    /* batches of one padded shape each, so that every image is padded as alone (det_test_batches) */
    int *tw = xmalloc(sizeof(int) * (ds->n + 1)), *th = xmalloc(sizeof(int) * (ds->n + 1));
    int *order = xmalloc(sizeof(int) * (ds->n + 1)), *start = xmalloc(sizeof(int) * (ds->n + 2));
    for (int i = 0; i < ds->n; i++)
        det_test_size(ds->images[i].width, ds->images[i].height, k->pc.scale_long, k->pc.scale_short, k->pc.keep_ratio, &tw[i], &th[i]);
    int n_batches = det_test_batches(tw, th, ds->n, k->pc.size_divisor, k->test_batch, order, start);
    for (int bi = 0; bi < n_batches && !rc; bi++) {
        if (k->r->max_eval_batches > 0 && bi >= k->r->max_eval_batches) break;
        int n = start[bi + 1] - start[bi];
        const int *idx = order + start[bi];
        det_batch b;
        if (det_batch_load(ds, &k->pc, 0, idx, n, 0, &b)) {
            rc = -1;
            break;
        }
        graph_reset(g);
        graph_set_key(g, det_batch_plan_key(&b)); /* one memory plan per padded test size (tensor.h) */
        if (graph_plan_needed(g)) { /* a dry run first records the plan of the inference forward */
            tensor *cls[FPN_MAX_LEVELS], *reg[FPN_MAX_LEVELS];
            graph_dry_begin(g);
            retinanet_forward(&k->net, g, det_batch_tensor(g, &b), cls, reg);
            for (int l = 0; l < k->net.cfg.num_outs; l++) graph_keep(g, cls[l]->data), graph_keep(g, reg[l]->data);
            graph_reset(g);
        }
        det_result res[64];
        memset(res, 0, sizeof res);
        rc = retinanet_detect(&k->net, g, det_batch_tensor(g, &b), b.metas, res);
        for (int j = 0; j < n && !rc; j++) {
            for (int d = 0; d < res[j].n; d++) {
                if (n_dt == cap) dt = xrealloc(dt, sizeof *dt * (cap *= 2));
                voc_det_box *o = &dt[n_dt++];
                o->image = idx[j], o->label = res[j].labels[d], o->score = res[j].scores[d];
                for (int c = 0; c < 4; c++) o->box[c] = res[j].boxes[4 * d + c];
            }
        }
        for (int j = 0; j < n; j++) det_result_free(&res[j]);
        det_batch_free(&b);
    }
    free(tw), free(th), free(order), free(start);
    free(k->dt);
    k->dt = dt, k->n_dt = rc ? 0 : n_dt;
    dt = NULL;
    voc_result vr;
    if (!rc) rc = voc_eval_map(gt, n_gt, k->dt, n_dt, ds->n, VOC_N_CLASSES, 0.5, VOC_PROTO_MMDET, VOC_AP_11POINTS, &vr);
    if (!rc) {
        k->map = m[0] = 100.0 * vr.map;
        for (int c = 0; c < VOC_N_CLASSES; c++) k->ap[c] = 100.0 * vr.ap[c];
        voc_result_free(&vr);
    }
    free(gt), free(dt);
    return rc;
}

/* the data every rank must agree on: per image its id, size and boxes with labels, for both splits */
static void det_hash_split(sha256_ctx *c, const voc_det_dataset *d) {
    sha256_update(c, &d->n, sizeof d->n);
    for (int i = 0; i < d->n; i++) {
        const voc_det_image *im = &d->images[i];
        int hdr[4] = {im->width, im->height, im->n_gt, im->n_ignore}, m = im->n_gt + im->n_ignore;
        sha256_update(c, im->id, strlen(im->id) + 1);
        sha256_update(c, hdr, sizeof hdr);
        sha256_update(c, im->boxes, sizeof(float) * 4 * (size_t)m);
        sha256_update(c, im->labels, sizeof(int) * (size_t)m);
    }
}

static void det_fingerprint(void *self, void *ctx) {
    det_task *k = self;
    det_hash_split(ctx, &k->train);
    det_hash_split(ctx, &k->test);
}

static void det_fill_results(void *self, results_run *rr) {
    det_task *k = self;
    static char data[2048];
    const det_run_spec *s = k->s;
    snprintf(data, sizeof data, "%s%s%s (VOC layout)", s->data_desc ? s->data_desc : "", s->data_desc ? "; " : "", s->ds->root);
    int64_t bb_total = 0, bb_train = 0;
    for (int i = 0; i < k->net.ps.n; i++) {
        const param *p = k->net.ps.p[i];
        if (!strncmp(p->name, "neck.", 5) || !strncmp(p->name, "bbox_head.", 10)) continue;
        bb_total += p->t.n;
        if (p->trainable) bb_train += p->t.n;
    }
    rr->backbone_params = bb_total, rr->backbone_trainable_params = bb_train;
    rr->data = data;
    rr->train_split = k->train_desc;
    rr->test_split = k->test_desc;
    rr->n_train_samples = k->train.n;
    rr->n_test_samples = k->test.n;
    rr->n_classes = VOC_N_CLASSES;
    rr->n_per_class = VOC_N_CLASSES, rr->class_names = voc_class_names, rr->per_class = k->ap;
}

/* the detections of the last evaluation as comp4 files, one per class (1-based coordinates, written with
 * 9 significant digits so that reading them back gives the evaluated numbers to float precision) */
static int det_write_comp4(const det_task *k, const char *dir, const char *split) {
    if (mkdir_p(dir)) return -1;
    for (int c = 0; c < VOC_N_CLASSES; c++) {
        size_t cap = 4096, len = 0;
        char *buf = xmalloc(cap);
        buf[0] = 0;
        for (int i = 0; i < k->n_dt; i++) {
            const voc_det_box *d = &k->dt[i];
            if (d->label != c) continue;
            if (len + 256 > cap) buf = xrealloc(buf, cap *= 2);
            len += (size_t)snprintf(buf + len, cap - len, "%s %.9g %.9g %.9g %.9g %.9g\n", k->test.images[d->image].id, d->score,
                                    d->box[0] + 1.0, d->box[1] + 1.0, d->box[2] + 1.0, d->box[3] + 1.0);
        }
        char path[1400];
        snprintf(path, sizeof path, "%s/comp4_det_%s_%s.txt", dir, split, voc_class_names[c]);
        int rc = file_write_atomic(path, buf, len);
        free(buf);
        if (rc) return -1;
    }
    return 0;
}

int det_train_run(const det_run_spec *s, det_run_out *out) {
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
    const cJSON *dj = recipe_dataset_json(r, s->ds->key);
    char tr[4][64], te[1][64];
    int ntr = json_splits(dj ? cJSON_GetObjectItemCaseSensitive(dj, "train") : NULL, tr, 4, r->path);
    if (ntr < 0) return -1;
    if (json_splits(dj ? cJSON_GetObjectItemCaseSensitive(dj, "test") : NULL, te, 1, r->path) < 0) return -1;
    det_task k;
    memset(&k, 0, sizeof k);
    k.s = s, k.r = r;
    const char *trp[4] = {tr[0], tr[1], tr[2], tr[3]}, *tep[1] = {te[0]};
    if (voc_det_load(s->ds->root, trp, ntr, 0, 0, &k.train)) return -1;
    if (voc_det_load(s->ds->root, tep, 1, 1, 0, &k.test)) {
        voc_det_free(&k.train);
        return -1;
    }
    size_t len = 0;
    for (int i = 0; i < ntr; i++) len += snprintf(k.train_desc + len, sizeof k.train_desc - len, "%s%s", i ? "+" : "", tr[i]);
    snprintf(k.test_desc, sizeof k.test_desc, "%s", te[0]);
    int rc = -1, have_model = 0;
    det_pipeline_cfg_default(&k.pc);
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(r->json, "img_scale");
    if (sc) {
        if (!cJSON_IsArray(sc) || cJSON_GetArraySize(sc) != 2) {
            err_set("%s: \"img_scale\" must be [long, short] (mmdet's Resize img_scale)", r->path);
            goto done;
        }
        k.pc.scale_long = cJSON_GetArrayItem(sc, 0)->valueint, k.pc.scale_short = cJSON_GetArrayItem(sc, 1)->valueint;
    }
    k.pc.flip_ratio = (float)recipe_num(r, "flip_ratio", 0.5);
    k.batch = r->batch;
    k.test_batch = (int)recipe_num(r, "test_batch", 1);
    if (k.test_batch < 1 || k.test_batch > 64) k.test_batch = 1;
    if (k.train.n < 1 || k.test.n < 1) {
        err_set("%s: %d training and %d test images: both splits need images", s->ds->root, k.train.n, k.test.n);
        goto done;
    }
    swin_config bc;
    if (swin_preset(r->backbone, &bc)) goto done;
    bc.drop_path_rate = (float)r->drop_path;
    retinanet_config nc;
    retinanet_config_default(&nc, &bc, VOC_N_CLASSES);
    nc.fpn_channels = (int)recipe_num(r, "neck_channels", 256);
    nc.feat_channels = (int)recipe_num(r, "head_channels", 256);
    retinanet_build(&k.net, &nc, &sp.plug);
    have_model = 1;
    retinanet_init(&k.net, r->seed);
    if (s->pretrained && *s->pretrained) {
        ckpt_apply_opts ao = {.allow_missing = 1};
        if (ckpt_load_pretrained(&k.net.ps, s->pretrained, &ao, s->quiet ? NULL : stderr)) goto done;
    }
    int *order, n_order;
    if (det_group_sampler(&k.train, k.batch, r->seed, 0, &order, &n_order)) goto done;
    free(order);
    k.ipe = n_order / k.batch;
    double lr = r->lr * recipe_lr_mult(r, sp.spec, s->ds->key);
    train_task t = {.self = &k, .ps = &k.net.ps, .iters_per_epoch = k.ipe, .plan_memory = 1, .plan_slots = DET_PLAN_SLOTS, .n_parts = 2,
                    .part_name = {"loss_cls", "loss_bbox"}, .n_metrics = 1, .metric_name = {"mAP"}, .train_open = det_open,
                    .train_next = det_next, .train_close = det_close, .batch_free = det_batch_release, .batch_images = det_batch_count,
                    .batch_key = det_batch_plan_key, .step = det_step, .evaluate = det_evaluate, .fill_results = det_fill_results,
                    .can_shard = 1, .eval_sharded = 0, .fingerprint = det_fingerprint};
    k.t = &t;
    char bbjson[700];
    snprintf(bbjson, sizeof bbjson,
             "{\"name\": \"%s\", \"embed_dim\": %d, \"depths\": [%d, %d, %d, %d], \"num_heads\": [%d, %d, %d, %d], \"window\": %d, "
             "\"drop_path_rate\": %g, \"out_indices\": [1, 2, 3], \"frozen_stages\": 1, \"neck\": \"FPN %d on_input 5 outs\", "
             "\"head\": \"RetinaHead %d\"}",
             r->backbone, bc.embed_dim, bc.depths[0], bc.depths[1], bc.depths[2], bc.depths[3], bc.num_heads[0], bc.num_heads[1],
             bc.num_heads[2], bc.num_heads[3], bc.window, bc.drop_path_rate, nc.fpn_channels, nc.feat_channels);
    trainer_spec ts = {.r = r, .method = sp.spec, .dataset_key = s->ds->key, .tag = tag, .lr = lr, .run_dir = s->run_dir,
                       .results_path = s->results_path, .results_key = key, .pretrained = s->pretrained, .backbone_json = bbjson,
                       .resume = s->resume, .restart_if_stale = s->restart_if_stale, .quiet = s->quiet, .stop_after_iters = s->stop_after_iters};
    if (!s->quiet)
        fprintf(stderr, "[%s] RetinaNet on %s, %d train (%s) / %d test images; %lld trainable of %lld parameters; lr %.3g; %d iterations/epoch\n",
                tag, r->backbone, k.train.n, k.train_desc, k.test.n, (long long)params_count(&k.net.ps, 1), (long long)params_count(&k.net.ps, 0),
                lr, k.ipe);
    trainer_out to;
    if (trainer_run(&ts, &t, &to)) goto done;
    out->map = to.final[0];
    out->n_classes = VOC_N_CLASSES;
    memcpy(out->ap, k.ap, sizeof k.ap);
    out->wall_s = to.wall_s, out->final_loss = to.final_loss;
    out->iters = to.iters, out->trainable = to.trainable, out->total = to.total;
    out->stopped = to.stopped;
    rc = 0;
    if (s->dets_dir && !to.stopped && k.dt && comm_rank() == 0) { /* rank 0 evaluated alone */
        const char *sl = strrchr(te[0], '/');
        rc = det_write_comp4(&k, s->dets_dir, sl ? sl + 1 : te[0]);
    }
done:
    free(k.dt);
    free(k.order);
    if (have_model) retinanet_free(&k.net);
    voc_det_free(&k.train);
    voc_det_free(&k.test);
    return rc;
}
