/* train_seg.c - the semantic-segmentation task of the shared trainer: UperNet on ADE20K (see train_seg.h). */
#include "train_seg.h"

#include <cJSON.h>
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/checkpoint.h"
#include "../core/ops_nn.h"
#include "../datasets/seg_pipeline.h"
#include "../methods/method.h"
#include "../metrics/seg_eval.h"
#include "../models/seg/upernet.h"
#include "results.h"
#include "trainer.h"

typedef struct seg_task {
    const seg_run_spec *s;
    const recipe *r;
    upernet net;
    ade20k_dataset train, test;
    seg_pipeline_cfg pc;
    int batch, ipe;
    /* the training stream */
    int epoch, iter, *order, n_order;
    seg_batch b;
    char train_split[64], test_split[64];
    double iou[SEG_MAX_CLASSES], acc[SEG_MAX_CLASSES];
    uint8_t **pred; /* the last evaluation's predictions, one label map per validation image (ori size) */
    int *pred_w, *pred_h, n_pred;
} seg_task;

static int rpair(const recipe *r, const char *key, double *a, double *b) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->json, key);
    if (!v) return 0;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2 || !cJSON_IsNumber(cJSON_GetArrayItem(v, 0)) ||
        !cJSON_IsNumber(cJSON_GetArrayItem(v, 1)))
        return err_set("%s: \"%s\" must be a pair of numbers", r->path, key);
    *a = cJSON_GetArrayItem(v, 0)->valuedouble, *b = cJSON_GetArrayItem(v, 1)->valuedouble;
    return 0;
}

const cJSON *seg_per_method(const recipe *r, const char *field, const char *key, const char *method) {
    char f[96];
    snprintf(f, sizeof f, "%s_per_method", field);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(r->json, f);
    if (!cJSON_IsObject(t)) return NULL;
    const cJSON *v = key ? cJSON_GetObjectItemCaseSensitive(t, key) : NULL;
    if (!v && method) v = cJSON_GetObjectItemCaseSensitive(t, method);
    return v;
}

/* ---- training stream: one shuffled pass per epoch, batches loaded on demand, running on past the epochs ---- */
static int seg_open(void *self, int start_epoch, int start_iter) {
    seg_task *k = self;
    k->epoch = start_epoch, k->iter = start_iter;
    free(k->order);
    k->order = NULL;
    return 0;
}

static int seg_next(void *self, void **batch) {
    seg_task *k = self;
    if (k->iter >= k->ipe) k->epoch++, k->iter = 0, free(k->order), k->order = NULL;
    if (!k->order && seg_sampler(k->train.n, k->batch, k->r->seed, k->epoch, &k->order, &k->n_order)) return -1;
    uint64_t seed = k->r->seed * 0x100000001B3ULL ^ ((uint64_t)k->epoch << 32 | (uint32_t)k->iter);
    if (seg_batch_load_train(&k->train, &k->pc, k->order + (size_t)k->iter * k->batch, k->batch, seed, &k->b)) return -1;
    k->iter++;
    *batch = &k->b;
    return 1;
}

static void seg_close(void *self) {
    seg_task *k = self;
    free(k->order);
    k->order = NULL;
}

static void seg_batch_release(void *self, void *batch) { seg_batch_free(batch); }
static int seg_batch_images(const void *batch) { return ((const seg_batch *)batch)->n; }
static uint64_t seg_batch_key(const void *batch) {
    const seg_batch *b = batch;
    return (uint64_t)b->n << 40 | (uint64_t)b->H << 20 | (uint64_t)b->W;
}

/* one plan per training crop size and one per resized validation size (the synthetic and real images vary) */
#define SEG_PLAN_SLOTS 96

static tensor *batch_tensor(graph *g, const seg_batch *b) {
    tensor *x = tensor_new4(g, b->n, 3, b->H, b->W, 0);
    memcpy(x->data, b->images, sizeof(float) * x->n);
    return x;
}

static int seg_step(void *self, graph *g, const void *batch, double *loss, double *parts) {
    seg_task *k = self;
    const seg_batch *b = batch;
    tensor *l;
    if (upernet_loss(&k->net, g, batch_tensor(g, b), b->labels, &l, &parts[0], &parts[1], &parts[2])) return -1;
    graph_keep(g, l->data);
    if (l->requires_grad) {
        tensor_grad(g, l)[0] = 1.0f;
        graph_backward(g);
    }
    *loss = l->data[0];
    return 0;
}

/* mmseg whole-mode inference: the logits resized to the resized image, then to the original size (two bilinear
 * resizes, as encode_decode and inference(rescale=True) do), argmax over the classes */
static int seg_predict(seg_task *k, graph *g, const seg_batch *b, uint8_t *pred) {
    graph_reset(g);
    graph_set_key(g, seg_batch_key(b) | (uint64_t)1 << 62);
    if (graph_plan_needed(g)) {
        graph_dry_begin(g);
        tensor *y = upernet_logits(&k->net, g, batch_tensor(g, b), b->H, b->W);
        if (!y) return -1;
        y = op_interpolate(g, y, b->ori_h, b->ori_w, INTERP_BILINEAR);
        graph_keep(g, y->data);
        graph_reset(g);
    }
    tensor *y = upernet_logits(&k->net, g, batch_tensor(g, b), b->H, b->W);
    if (!y) return -1;
    y = op_interpolate(g, y, b->ori_h, b->ori_w, INTERP_BILINEAR);
    int C = y->shape[1];
    size_t P = (size_t)b->ori_h * b->ori_w;
    for (size_t p = 0; p < P; p++) {
        int best = 0;
        float bv = y->data[p];
        for (int c = 1; c < C; c++) {
            float v = y->data[(size_t)c * P + p];
            if (v > bv) bv = v, best = c; /* torch argmax: the first maximum */
        }
        pred[p] = (uint8_t)best;
    }
    return 0;
}

static void preds_free(seg_task *k) {
    for (int i = 0; i < k->n_pred; i++) free(k->pred[i]);
    free(k->pred), free(k->pred_w), free(k->pred_h);
    k->pred = NULL, k->pred_w = k->pred_h = NULL, k->n_pred = 0;
}

/* mIoU, mAcc, aAcc (percent) over the validation split */
static int seg_evaluate(void *self, graph *g, double *m) {
    seg_task *k = self;
    const ade20k_dataset *ds = &k->test;
    int n = ds->n;
    if (k->r->max_eval_batches > 0 && k->r->max_eval_batches < n) n = k->r->max_eval_batches;
    preds_free(k);
    k->pred = xcalloc(n, sizeof *k->pred);
    k->pred_w = xcalloc(n, sizeof(int)), k->pred_h = xcalloc(n, sizeof(int));
    seg_eval ev;
    seg_eval_init(&ev, k->net.cfg.num_classes, SEG_IGNORE, 0); /* the labels are already reduced (seg_pipeline) */
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        seg_batch b;
        if (seg_batch_load_test(ds, &k->pc, i, &b)) {
            rc = -1;
            break;
        }
        size_t P = (size_t)b.ori_h * b.ori_w;
        k->pred[i] = xmalloc(P);
        k->pred_w[i] = b.ori_w, k->pred_h[i] = b.ori_h;
        k->n_pred = i + 1;
        rc = seg_predict(k, g, &b, k->pred[i]);
        if (!rc) seg_eval_accumulate_u8(&ev, k->pred[i], b.labels, P);
        seg_batch_free(&b);
    }
    if (!rc) {
        seg_eval_finish(&ev);
        m[0] = 100.0 * ev.miou, m[1] = 100.0 * ev.macc, m[2] = 100.0 * ev.aacc;
        for (int c = 0; c < k->net.cfg.num_classes && c < SEG_MAX_CLASSES; c++) k->iou[c] = 100.0 * ev.iou[c], k->acc[c] = 100.0 * ev.acc[c];
    }
    seg_eval_free(&ev);
    return rc;
}

static const char *const *class_names(int n) {
    static char names[SEG_MAX_CLASSES][16];
    static const char *ptr[SEG_MAX_CLASSES];
    if (n == ADE20K_N_CLASSES) return ade20k_classes;
    for (int c = 0; c < n && c < SEG_MAX_CLASSES; c++) snprintf(names[c], sizeof names[c], "class%d", c), ptr[c] = names[c];
    return ptr;
}

static void seg_fill_results(void *self, results_run *rr) {
    seg_task *k = self;
    static char data[2048], tr[256], te[256];
    const seg_run_spec *s = k->s;
    snprintf(data, sizeof data, "%s%s%s (ADE20K layout)", s->data_desc ? s->data_desc : "", s->data_desc ? "; " : "", s->ds->root);
    int64_t bb_total = 0, bb_train = 0;
    for (int i = 0; i < k->net.ps.n; i++) {
        const param *p = k->net.ps.p[i];
        if (p->is_buffer || !strncmp(p->name, "decode_head.", 12) || !strncmp(p->name, "auxiliary_head.", 15)) continue;
        bb_total += p->t.n;
        if (p->trainable) bb_train += p->t.n;
    }
    snprintf(tr, sizeof tr, "images/%s", k->train_split);
    snprintf(te, sizeof te, "images/%s", k->test_split);
    rr->backbone_params = bb_total, rr->backbone_trainable_params = bb_train;
    rr->data = data;
    rr->train_split = tr;
    rr->test_split = te;
    rr->n_train_samples = k->train.n;
    rr->n_test_samples = k->test.n;
    rr->n_classes = k->net.cfg.num_classes;
    rr->n_per_class = k->net.cfg.num_classes, rr->class_names = class_names(k->net.cfg.num_classes), rr->per_class = k->iou;
    rr->per_class2_name = "per_class_acc", rr->per_class2 = k->acc;
}

/* the last evaluation's predictions as 8-bit PNG label maps named after the images */
static int seg_write_preds(const seg_task *k, const char *dir) {
    if (mkdir_p(dir)) return -1;
    for (int i = 0; i < k->n_pred; i++) {
        const char *nm = strrchr(k->test.labels[i], '/');
        nm = nm ? nm + 1 : k->test.labels[i];
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, nm);
        image im = {.w = k->pred_w[i], .h = k->pred_h[i], .c = 1, .data = k->pred[i]};
        uint8_t *buf;
        size_t n;
        if (image_encode_png(&im, NULL, 0, &buf, &n)) return err_prefix("%s", path);
        int rc = file_write_atomic(path, buf, n);
        free(buf);
        if (rc) return -1;
    }
    return 0;
}

static int json_split(const cJSON *dj, const char *field, const char *def, char *out, int n, const char *where) {
    const cJSON *v = dj ? cJSON_GetObjectItemCaseSensitive(dj, field) : NULL;
    if (!v) {
        snprintf(out, n, "%s", def);
        return 0;
    }
    if (!cJSON_IsString(v)) return err_set("%s: dataset \"%s\" must be a split name (\"training\", \"validation\")", where, field);
    snprintf(out, n, "%s", v->valuestring);
    return 0;
}

/* mmseg's EncoderDecoder names: backbone.*, decode_head.*, auxiliary_head.* (our backbone names carry no prefix) */
static const char *const seg_head_prefixes[2] = {"decode_head.", "auxiliary_head."};

int seg_train_run(const seg_run_spec *s, seg_run_out *out) {
    const recipe *r = s->r;
    memset(out, 0, sizeof *out);
    method_spec sp;
    if (method_spec_parse(s->method, &sp)) return err_prefix("%s", r->path);
    const char *key = s->results_key ? s->results_key : sp.key;
    char tag[256];
    snprintf(tag, sizeof tag, "%s %s", s->ds->key, key);
    if (r->threads > 0) {
        omp_set_num_threads(r->threads);
        openblas_set_num_threads(r->threads);
    }
    if (!r->iter_based) return err_set("%s: a segmentation recipe is iteration-based (\"runner\": \"iter\", \"max_iters\")", r->path);
    seg_task k;
    memset(&k, 0, sizeof k);
    k.s = s, k.r = r;
    const cJSON *dj = recipe_dataset_json(r, s->ds->key);
    if (json_split(dj, "train", "training", k.train_split, sizeof k.train_split, r->path) ||
        json_split(dj, "test", "validation", k.test_split, sizeof k.test_split, r->path))
        return -1;
    if (ade20k_open(s->ds->root, k.train_split, 0, &k.train, NULL)) return -1;
    if (ade20k_open(s->ds->root, k.test_split, 0, &k.test, NULL)) {
        ade20k_close(&k.train);
        return -1;
    }
    int rc = -1, have_model = 0;
    seg_pipeline_cfg_default(&k.pc);
    double a = k.pc.scale_long, b = k.pc.scale_short;
    if (rpair(r, "img_scale", &a, &b)) goto done;
    k.pc.scale_long = (int)a, k.pc.scale_short = (int)b;
    a = k.pc.ratio_lo, b = k.pc.ratio_hi;
    if (rpair(r, "ratio_range", &a, &b)) goto done;
    k.pc.ratio_lo = (float)a, k.pc.ratio_hi = (float)b;
    k.pc.crop = (int)recipe_num(r, "crop_size", 512);
    k.pc.cat_max_ratio = (float)recipe_num(r, "cat_max_ratio", 0.75);
    k.pc.flip_ratio = (float)recipe_num(r, "flip_ratio", 0.5);
    k.pc.photometric = (int)recipe_num(r, "photometric", 1);
    k.pc.n_classes = (int)recipe_num(r, "num_classes", ADE20K_N_CLASSES);
    if (k.pc.n_classes < 2 || k.pc.n_classes > SEG_MAX_CLASSES - 1) {
        err_set("%s: \"num_classes\" %d must be 2..%d", r->path, k.pc.n_classes, SEG_MAX_CLASSES - 1);
        goto done;
    }
    k.batch = r->batch;
    if (k.train.n < k.batch || k.test.n < 1) {
        err_set("%s: %d training and %d validation images: training needs at least one batch (%d) and validation one image",
                s->ds->root, k.train.n, k.test.n, k.batch);
        goto done;
    }
    k.ipe = k.train.n / k.batch;
    /* the released configs' per-method differences: drop path, the heads' norm, the parameter groups */
    swin_config bc;
    if (swin_preset(r->backbone, &bc)) goto done;
    const cJSON *dp = seg_per_method(r, "drop_path", key, sp.m->name);
    bc.drop_path_rate = (float)(cJSON_IsNumber(dp) ? dp->valuedouble : r->drop_path);
    bc.out_mask = 0xF;
    bc.frozen_stages = -1;
    upernet_config nc;
    upernet_config_default(&nc, &bc, k.pc.n_classes);
    nc.channels = (int)recipe_num(r, "decode_channels", nc.channels);
    nc.aux_channels = (int)recipe_num(r, "aux_channels", nc.aux_channels);
    nc.dropout_ratio = (float)recipe_num(r, "dropout_ratio", nc.dropout_ratio);
    nc.aux_loss_weight = (float)recipe_num(r, "aux_loss_weight", nc.aux_loss_weight);
    const cJSON *hn = seg_per_method(r, "head_norm", key, sp.m->name);
    if (!cJSON_IsString(hn)) hn = cJSON_GetObjectItemCaseSensitive(r->json, "head_norm");
    if (cJSON_IsString(hn)) {
        if (strcmp(hn->valuestring, "BN") && strcmp(hn->valuestring, "SyncBN")) {
            err_set("%s: head norm \"%s\" must be \"BN\" or \"SyncBN\"", r->path, hn->valuestring);
            goto done;
        }
        snprintf(nc.norm, sizeof nc.norm, "%s", hn->valuestring);
    }
    const cJSON *pw = seg_per_method(r, "paramwise", key, sp.m->name);
    upernet_build(&k.net, &nc, &sp.plug);
    have_model = 1;
    upernet_init(&k.net, r->seed);
    if (s->pretrained && *s->pretrained) {
        ckpt_apply_opts ao = {.allow_missing = 1};
        if (ckpt_load_pretrained(&k.net.ps, s->pretrained, &ao, s->quiet ? NULL : stderr)) goto done;
    }
    double lr = r->lr * recipe_lr_mult(r, sp.spec, s->ds->key);
    train_task t = {.self = &k, .ps = &k.net.ps, .iters_per_epoch = k.ipe, .plan_memory = 1, .plan_slots = SEG_PLAN_SLOTS, .n_parts = 3,
                    .part_name = {"loss_decode", "loss_aux", "acc_seg"}, .n_metrics = 3, .metric_name = {"mIoU", "mAcc", "aAcc"},
                    .train_open = seg_open, .train_next = seg_next, .train_close = seg_close, .batch_free = seg_batch_release,
                    .batch_images = seg_batch_images, .batch_key = seg_batch_key, .step = seg_step, .evaluate = seg_evaluate,
                    .fill_results = seg_fill_results, .record_best = 1, .match_prefix = "backbone.",
                    .match_keep = seg_head_prefixes, .n_match_keep = 2};
    char bbjson[900];
    snprintf(bbjson, sizeof bbjson,
             "{\"name\": \"%s\", \"embed_dim\": %d, \"depths\": [%d, %d, %d, %d], \"num_heads\": [%d, %d, %d, %d], \"window\": %d, "
             "\"drop_path_rate\": %g, \"out_indices\": [0, 1, 2, 3], \"frozen_stages\": -1, \"decode_head\": \"UPerHead %d, pool scales "
             "1,2,3,6, %s, dropout %g\", \"auxiliary_head\": \"FCNHead %d on stage %d, %s, loss weight %g\", \"num_classes\": %d}",
             r->backbone, bc.embed_dim, bc.depths[0], bc.depths[1], bc.depths[2], bc.depths[3], bc.num_heads[0], bc.num_heads[1],
             bc.num_heads[2], bc.num_heads[3], bc.window, bc.drop_path_rate, nc.channels, nc.norm, nc.dropout_ratio, nc.aux_channels,
             nc.aux_in_index, nc.norm, nc.aux_loss_weight, nc.num_classes);
    trainer_spec ts = {.r = r, .method = sp.spec, .dataset_key = s->ds->key, .tag = tag, .lr = lr, .run_dir = s->run_dir,
                       .results_path = s->results_path, .results_key = key, .pretrained = s->pretrained, .backbone_json = bbjson,
                       .resume = s->resume, .restart_if_stale = s->restart_if_stale, .quiet = s->quiet, .stop_after_iters = s->stop_after_iters,
                       .paramwise = cJSON_IsObject(pw) ? pw : NULL};
    if (!s->quiet)
        fprintf(stderr,
                "[%s] UperNet on %s, %d train (%s) / %d validation images; %lld trainable of %lld parameters; lr %.3g, drop path %g, "
                "heads %s%s; %d iterations (%d per epoch)\n",
                tag, r->backbone, k.train.n, k.train_split, k.test.n, (long long)params_count(&k.net.ps, 1),
                (long long)params_count(&k.net.ps, 0), lr, bc.drop_path_rate, nc.norm, cJSON_IsObject(pw) ? ", the method's own paramwise_cfg" : "",
                r->max_iters, k.ipe);
    trainer_out to;
    if (trainer_run(&ts, &t, &to)) goto done;
    out->miou = to.final[0], out->macc = to.final[1], out->aacc = to.final[2];
    out->best_miou = to.best_value, out->best_iter = to.best_iter;
    out->wall_s = to.wall_s, out->final_loss = to.final_loss;
    out->iters = to.iters, out->trainable = to.trainable, out->total = to.total;
    out->stopped = to.stopped;
    rc = 0;
    if (s->preds_dir && !to.stopped && k.n_pred) rc = seg_write_preds(&k, s->preds_dir);
done:
    preds_free(&k);
    free(k.order);
    if (have_model) upernet_free(&k.net);
    ade20k_close(&k.train);
    ade20k_close(&k.test);
    return rc;
}
