/* train_coco.c - the COCO task of the shared trainer: Cascade R-CNN on a COCO-layout set (see train_coco.h). */
#include "train_coco.h"

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
#include "../datasets/coco_pipeline.h"
#include "../methods/method.h"
#include "../metrics/coco_json.h"
#include "../metrics/coco_results.h"
#include "../models/det/cascade_rcnn.h"
#include "../models/det/retina_head.h" /* det_result_free */
#include "results.h"
#include "trainer.h"

static const char *const coco_metric_names[COCO_RUN_METRICS] = {"bbox_mAP",   "bbox_mAP_50", "bbox_mAP_75", "bbox_mAP_s",
                                                                "bbox_mAP_m", "bbox_mAP_l",  "segm_mAP",    "segm_mAP_50",
                                                                "segm_mAP_75", "segm_mAP_s", "segm_mAP_m",  "segm_mAP_l"};

typedef struct coco_task {
    const coco_run_spec *s;
    const recipe *r;
    cascade_rcnn net;
    coco_dataset train, test;
    char train_dir[1200], test_dir[1200], train_split[64], test_split[64];
    int *keep, n_keep;        /* training images kept by mmdet's _filter_imgs (dataset indices) */
    coco_gt gt;               /* the test split as the evaluator's ground truth */
    coco_pipeline_cfg pc;
    int batch, test_batch, ipe, num_classes;
    /* the training stream */
    int epoch, iter, *order, n_order;
    uint64_t step_seed;       /* the samplers' stream of the current batch, from (seed, epoch, iteration) */
    det_batch b, view;
    const train_task *t;
    double metrics[COCO_RUN_METRICS];
    int with_mask;
    double *cat_ap;           /* per class, percent */
    const char **class_names;
    det_result *res;          /* the last evaluation's detections per test image (original-image pixels) */
} coco_task;

/* ---- training stream: GroupSampler order per epoch over the kept images, batches loaded on demand ---- */
static int coco_open(void *self, int start_epoch, int start_iter) {
    coco_task *k = self;
    k->epoch = start_epoch, k->iter = start_iter;
    free(k->order);
    k->order = NULL;
    return 0;
}

static int coco_next(void *self, void **batch) {
    coco_task *k = self;
    if (k->iter >= k->ipe) k->epoch++, k->iter = 0, free(k->order), k->order = NULL;
    if (k->epoch >= k->r->epochs) return 0;
    if (!k->order && coco_group_sampler(&k->train, k->keep, k->n_keep, k->batch, k->r->seed, k->epoch, &k->order, &k->n_order)) return -1;
    uint64_t seed = k->r->seed * 0x100000001B3ULL ^ ((uint64_t)k->epoch << 32 | (uint32_t)k->iter);
    if (coco_batch_load(&k->train, k->train_dir, &k->pc, 1, k->order + (size_t)k->iter * k->batch, k->batch, seed, &k->b)) return -1;
    k->step_seed = seed * 0x9E3779B97F4A7C15ULL + 0x5851F42D4C957F2DULL;
    k->iter++;
    *batch = &k->b;
    int ns = k->t->shard_size;
    if (ns > 1) { /* data parallel: this rank's slice of the collated global batch (as train_det.c) */
        det_batch_shard_view(&k->b, k->t->shard_rank, ns, &k->view);
        *batch = &k->view;
    }
    return 1;
}

static void coco_close(void *self) {
    coco_task *k = self;
    free(k->order);
    k->order = NULL;
}

static void coco_batch_release(void *self, void *batch) {
    coco_task *k = self;
    (void)batch;
    det_batch_free(&k->b);
}

static int coco_step(void *self, graph *g, const void *batch, double *loss, double *parts) {
    coco_task *k = self;
    const det_batch *b = batch;
    rng_t r; /* the RPN's and the three stages' samplers: one stream per batch (and rank), so a resumed run draws the same */
    rng_seed(&r, k->step_seed ^ (0xD1B54A32D192ED03ULL * (uint64_t)(k->t->shard_rank + 1)));
    tensor *l;
    if (cascade_rcnn_loss(&k->net, g, det_batch_tensor(g, b), b->metas, b->gts, &r, &l, parts)) return -1;
    graph_keep(g, l->data);
    if (l->requires_grad) {
        tensor_grad(g, l)[0] = 1.0f;
        graph_backward(g);
    }
    *loss = l->data[0];
    return 0;
}

/* COCO bbox evaluation over the test split (every image, in file order), detections in original pixels */
static int coco_evaluate(void *self, graph *g, double *m) {
    coco_task *k = self;
    const coco_dataset *ds = &k->test;
    int n_img = ds->n_images;
    if (k->res)
        for (int i = 0; i < n_img; i++) det_result_free(&k->res[i]);
    free(k->res);
    k->res = xcalloc((size_t)n_img, sizeof *k->res);
    int rc = 0, n_done = 0;
    /* batches of one padded shape each, so that every image is padded as alone (det_test_batches) */
    int *tw = xmalloc(sizeof(int) * (n_img + 1)), *th = xmalloc(sizeof(int) * (n_img + 1));
    int *order = xmalloc(sizeof(int) * (n_img + 1)), *start = xmalloc(sizeof(int) * (n_img + 2));
    for (int i = 0; i < n_img; i++)
        det_test_size(ds->images[i].width, ds->images[i].height, k->pc.test_long, k->pc.test_short, 1, &tw[i], &th[i]);
    int n_batches = det_test_batches(tw, th, n_img, k->pc.size_divisor, k->test_batch, order, start);
    coco_image_dets *d = xcalloc((size_t)(n_img ? n_img : 1), sizeof *d);
    for (int bi = 0; bi < n_batches && !rc; bi++) {
        if (k->r->max_eval_batches > 0 && bi >= k->r->max_eval_batches) break;
        int n = start[bi + 1] - start[bi];
        const int *idx = order + start[bi];
        det_batch b;
        if (coco_batch_load(ds, k->test_dir, &k->pc, 0, idx, n, 0, &b)) {
            rc = -1;
            break;
        }
        graph_reset(g);
        det_result res[64];
        memset(res, 0, sizeof res);
        rc = cascade_rcnn_detect(&k->net, g, det_batch_tensor(g, &b), b.metas, res);
        det_batch_free(&b);
        for (int j = 0; j < n; j++) {
            k->res[idx[j]] = res[j]; /* owned by k->res now */
            const det_result *q = &k->res[idx[j]];
            d[n_done++] = (coco_image_dets){.image = idx[j], .n = q->n, .boxes = q->boxes, .scores = q->scores, .labels = q->labels,
                                            .masks = k->with_mask ? q->masks : NULL};
        }
    }
    free(tw), free(th), free(order), free(start);
    coco_det dt = {0};
    coco_summary sum = {0};
    for (int t = 0; t < 2 && !rc; t++) { /* bbox, then segm */
        if (t == 1 && !k->with_mask) {
            for (int j = 0; j < 6; j++) k->metrics[6 + j] = m[6 + j] = NAN;
            break;
        }
        int iou = t ? COCO_IOU_SEGM : COCO_IOU_BBOX;
        rc = coco_results_to_det(&k->gt, d, n_done, iou, &dt);
        if (!rc) rc = coco_eval_run(&k->gt, &dt, iou, k->r->threads, &sum);
        if (!rc) {
            for (int j = 0; j < 6; j++) k->metrics[6 * t + j] = m[6 * t + j] = sum.stats[j] >= 0 ? 100.0 * sum.stats[j] : NAN;
            if (t == 0)
                for (int c = 0; c < k->num_classes; c++) { /* per-class box AP */
                    k->cat_ap[c] = NAN;
                    for (int q = 0; q < sum.n_cats; q++)
                        if (c < k->gt.n_cats && sum.cat_ids[q] == k->gt.cat_ids[c])
                            k->cat_ap[c] = sum.cat_ap[q] >= 0 ? 100.0 * sum.cat_ap[q] : NAN;
                }
        }
        coco_summary_free(&sum);
        coco_det_free(&dt);
        memset(&sum, 0, sizeof sum), memset(&dt, 0, sizeof dt);
    }
    free(d);
    return rc;
}

/* the data every rank must agree on: per image its id, size and annotation count, for both splits */
static void coco_hash_split(sha256_ctx *c, const coco_dataset *d) {
    sha256_update(c, &d->n_images, sizeof d->n_images);
    for (int i = 0; i < d->n_images; i++) {
        const coco_image *im = &d->images[i];
        int64_t hdr[4] = {im->id, im->width, im->height, im->n_anns};
        sha256_update(c, hdr, sizeof hdr);
        sha256_update(c, im->file_name, strlen(im->file_name) + 1);
    }
}

static void coco_fingerprint(void *self, void *ctx) {
    coco_task *k = self;
    coco_hash_split(ctx, &k->train);
    coco_hash_split(ctx, &k->test);
}

static int is_head_param(const char *name) {
    return !strncmp(name, "neck.", 5) || !strncmp(name, "rpn_head.", 9) || !strncmp(name, "roi_head.", 9);
}

static void coco_fill_results(void *self, results_run *rr) {
    coco_task *k = self;
    static char data[2048];
    const coco_run_spec *s = k->s;
    snprintf(data, sizeof data, "%s%s%s (COCO layout)", s->data_desc ? s->data_desc : "", s->data_desc ? "; " : "", s->ds->root);
    int64_t bb_total = 0, bb_train = 0;
    for (int i = 0; i < k->net.ps.n; i++) {
        const param *p = k->net.ps.p[i];
        if (is_head_param(p->name)) continue;
        bb_total += p->t.n;
        if (p->trainable) bb_train += p->t.n;
    }
    rr->backbone_params = bb_total, rr->backbone_trainable_params = bb_train;
    rr->data = data;
    rr->train_split = k->train_split;
    rr->test_split = k->test_split;
    rr->n_train_samples = k->n_keep;
    rr->n_test_samples = k->test.n_images;
    rr->n_classes = k->num_classes;
    rr->n_per_class = k->num_classes, rr->class_names = k->class_names, rr->per_class = k->cat_ap;
}

static int json_pairs(const recipe *r, const char *key, int out[][2], int max, int *n) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(r->json, key);
    if (!a) return 0;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) < 1 || cJSON_GetArraySize(a) > max)
        return err_set("%s: \"%s\" must be a list of 1..%d [short, long] pairs", r->path, key, max);
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) {
        if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 2 || !cJSON_IsNumber(cJSON_GetArrayItem(e, 0)) ||
            !cJSON_IsNumber(cJSON_GetArrayItem(e, 1)))
            return err_set("%s: \"%s\"[%d] must be [short, long]", r->path, key, i);
        out[i][0] = cJSON_GetArrayItem(e, 0)->valueint, out[i][1] = cJSON_GetArrayItem(e, 1)->valueint;
        if (out[i][0] < 8 || out[i][1] < out[i][0]) return err_set("%s: \"%s\"[%d] = [%d, %d] is not a scale", r->path, key, i, out[i][0], out[i][1]);
        i++;
    }
    *n = i;
    return 0;
}

static int json_int2(const recipe *r, const char *key, int *a, int *b) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->json, key);
    if (!v) return 0;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2) return err_set("%s: \"%s\" must be a pair of numbers", r->path, key);
    *a = cJSON_GetArrayItem(v, 0)->valueint, *b = cJSON_GetArrayItem(v, 1)->valueint;
    return 0;
}

static const char *split_of(const cJSON *dj, const char *key, const char *def) {
    const cJSON *v = dj ? cJSON_GetObjectItemCaseSensitive(dj, key) : NULL;
    return cJSON_IsString(v) ? v->valuestring : def;
}

static int load_split(const recipe_dataset *d, const char *split, coco_dataset *ds, char *img_dir, size_t n) {
    char path[1400];
    snprintf(path, sizeof path, "%s/annotations/instances_%s.json", d->root, split);
    snprintf(img_dir, n, "%s/%s", d->root, split);
    if (!file_exists(path))
        return err_set("%s: no annotation file for split '%s' (want the COCO layout: annotations/instances_%s.json and %s/)", path, split,
                       split, split);
    return coco_load(path, NULL, ds);
}

int coco_train_run(const coco_run_spec *s, coco_run_out *out) {
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
    const cJSON *dj = recipe_dataset_json(r, s->ds->key);
    coco_task k;
    memset(&k, 0, sizeof k);
    k.s = s, k.r = r;
    snprintf(k.train_split, sizeof k.train_split, "%s", split_of(dj, "train", "train2017"));
    snprintf(k.test_split, sizeof k.test_split, "%s", split_of(dj, "test", "val2017"));
    int rc = -1, have_model = 0;
    if (load_split(s->ds, k.train_split, &k.train, k.train_dir, sizeof k.train_dir)) return -1;
    if (load_split(s->ds, k.test_split, &k.test, k.test_dir, sizeof k.test_dir)) {
        coco_free(&k.train);
        return -1;
    }
    /* labels are indices into the train file's categories, and the results map them back through the test file's */
    int same_cats = k.train.n_categories == k.test.n_categories;
    for (int c = 0; same_cats && c < k.train.n_categories; c++) same_cats = k.train.categories[c].id == k.test.categories[c].id;
    if (!same_cats) {
        err_set("%s: the categories of %s (%d) and %s (%d) differ in number, ids or order; both splits must list the same categories",
                s->ds->root, k.train_split, k.train.n_categories, k.test_split, k.test.n_categories);
        goto done;
    }
    k.with_mask = (int)recipe_num(r, "with_mask", 1) != 0;
    if (coco_gt_from_dataset(&k.test, k.with_mask, k.test_dir, &k.gt)) goto done;
    k.keep = xmalloc(sizeof(int) * (size_t)(k.train.n_images ? k.train.n_images : 1));
    k.n_keep = coco_filter_images(&k.train, 1, 32, k.keep); /* CocoDataset filter_empty_gt, min_size 32 */
    if (k.n_keep < 1 || k.test.n_images < 1) {
        err_set("%s: %d usable training and %d test images: both splits need images", s->ds->root, k.n_keep, k.test.n_images);
        goto done;
    }
    k.num_classes = (int)recipe_num(r, "num_classes", k.train.n_categories);
    if (k.num_classes < k.train.n_categories || k.num_classes < 1) {
        err_set("%s: \"num_classes\" %d, but %s has %d categories", r->path, k.num_classes, k.train_split, k.train.n_categories);
        goto done;
    }
    k.class_names = xcalloc((size_t)k.num_classes, sizeof *k.class_names);
    for (int c = 0; c < k.num_classes; c++) k.class_names[c] = c < k.train.n_categories ? k.train.categories[c].name : "unused";
    k.cat_ap = xcalloc((size_t)k.num_classes, sizeof *k.cat_ap);
    /* the pipeline */
    coco_pipeline_cfg_default(&k.pc);
    int np = 0;
    if (json_pairs(r, "ms_scales", k.pc.ms_scales, COCO_PIPE_MAX_SCALES, &np)) goto done;
    if (np) k.pc.n_ms = np;
    np = 0;
    if (json_pairs(r, "pre_scales", k.pc.pre_scales, COCO_PIPE_MAX_SCALES, &np)) goto done;
    if (np) k.pc.n_pre = np;
    if (json_int2(r, "crop_range", &k.pc.crop_lo, &k.pc.crop_hi)) goto done;
    if (json_int2(r, "test_scale", &k.pc.test_long, &k.pc.test_short)) goto done;
    k.pc.flip_ratio = (float)recipe_num(r, "flip_ratio", k.pc.flip_ratio);
    k.pc.n_policies = (int)recipe_num(r, "n_policies", k.pc.n_policies);
    k.batch = r->batch;
    k.test_batch = (int)recipe_num(r, "test_batch", 1);
    if (k.test_batch < 1 || k.test_batch > 64) k.test_batch = 1;
    if (k.batch < 1 || k.batch > 64) {
        err_set("%s: batch %d (1..64)", r->path, k.batch);
        goto done;
    }
    /* the model */
    swin_config bc;
    if (swin_preset(r->backbone, &bc)) goto done;
    bc.drop_path_rate = (float)r->drop_path;
    cascade_rcnn_config nc;
    cascade_rcnn_config_default(&nc, &bc, k.num_classes, (int)recipe_num(r, "fpn_channels", 256));
    for (int i = 0; i < CASCADE_STAGES; i++) {
        nc.bbox[i].conv_out_channels = (int)recipe_num(r, "conv_out_channels", nc.bbox[i].conv_out_channels);
        nc.bbox[i].fc_out_channels = (int)recipe_num(r, "fc_out_channels", nc.bbox[i].fc_out_channels);
        nc.bbox[i].sampler.num = (int)recipe_num(r, "rcnn_samples", nc.bbox[i].sampler.num);
        nc.mask[i].conv_out_channels = (int)recipe_num(r, "mask_channels", nc.mask[i].conv_out_channels);
    }
    nc.with_mask = k.with_mask;
    int tp = (int)recipe_num(r, "rpn_train_proposals", nc.rpn.train_proposal.max_per_img);
    int ep = (int)recipe_num(r, "rpn_test_proposals", nc.rpn.test_proposal.max_per_img);
    nc.rpn.train_proposal.nms_pre = nc.rpn.train_proposal.max_per_img = tp;
    nc.rpn.test_proposal.nms_pre = nc.rpn.test_proposal.max_per_img = ep;
    cascade_rcnn_build(&k.net, &nc, &sp.plug);
    have_model = 1;
    cascade_rcnn_init(&k.net, r->seed);
    if (s->pretrained && *s->pretrained) {
        ckpt_apply_opts ao = {.allow_missing = 1};
        if (ckpt_load_pretrained(&k.net.ps, s->pretrained, &ao, s->quiet ? NULL : stderr)) goto done;
    }
    int *order, n_order;
    if (coco_group_sampler(&k.train, k.keep, k.n_keep, k.batch, r->seed, 0, &order, &n_order)) goto done;
    free(order);
    k.ipe = n_order / k.batch;
    double lr = r->lr * recipe_lr_mult(r, sp.spec, s->ds->key);
    train_task t = {.self = &k, .ps = &k.net.ps, .iters_per_epoch = k.ipe, .plan_memory = 0, .n_parts = CASCADE_LOSS_N, .n_metrics = COCO_RUN_METRICS,
                    .train_open = coco_open, .train_next = coco_next, .train_close = coco_close, .batch_free = coco_batch_release,
                    .batch_images = det_batch_count, .batch_key = det_batch_plan_key, .step = coco_step, .evaluate = coco_evaluate,
                    .fill_results = coco_fill_results, .can_shard = 1, .eval_sharded = 0, .fingerprint = coco_fingerprint};
    for (int i = 0; i < CASCADE_LOSS_N; i++) t.part_name[i] = cascade_loss_names[i];
    for (int i = 0; i < COCO_RUN_METRICS; i++) t.metric_name[i] = coco_metric_names[i];
    k.t = &t;
    char bbjson[900];
    snprintf(bbjson, sizeof bbjson,
             "{\"name\": \"%s\", \"embed_dim\": %d, \"depths\": [%d, %d, %d, %d], \"num_heads\": [%d, %d, %d, %d], \"window\": %d, "
             "\"drop_path_rate\": %g, \"out_indices\": [0, 1, 2, 3], \"neck\": \"FPN %d, 5 outs, max-pool P6\", "
             "\"head\": \"Cascade %sR-CNN: RPN, 3 x ConvFCBBoxHead 4conv1fc (%d conv, %d fc), GIoU x10%s\"}",
             r->backbone, bc.embed_dim, bc.depths[0], bc.depths[1], bc.depths[2], bc.depths[3], bc.num_heads[0], bc.num_heads[1],
             bc.num_heads[2], bc.num_heads[3], bc.window, bc.drop_path_rate, nc.fpn_channels, k.with_mask ? "Mask " : "",
             nc.bbox[0].conv_out_channels, nc.bbox[0].fc_out_channels, k.with_mask ? ", 3 x FCNMaskHead" : "");
    trainer_spec ts = {.r = r, .method = sp.spec, .dataset_key = s->ds->key, .tag = tag, .lr = lr, .run_dir = s->run_dir,
                       .results_path = s->results_path, .results_key = key, .pretrained = s->pretrained, .backbone_json = bbjson,
                       .resume = s->resume, .restart_if_stale = s->restart_if_stale, .quiet = s->quiet, .stop_after_iters = s->stop_after_iters};
    if (!s->quiet)
        fprintf(stderr, "[%s] Cascade %sR-CNN on %s, %d train (%s, %d kept) / %d test images (%s), %d classes; %lld trainable of %lld parameters; lr %.3g; %d iterations/epoch\n",
                tag, k.with_mask ? "Mask " : "", r->backbone, k.train.n_images, k.train_split, k.n_keep, k.test.n_images, k.test_split, k.num_classes,
                (long long)params_count(&k.net.ps, 1), (long long)params_count(&k.net.ps, 0), lr, k.ipe);
    trainer_out to;
    if (trainer_run(&ts, &t, &to)) goto done;
    memcpy(out->bbox, to.final, sizeof out->bbox);
    memcpy(out->segm, to.final + 6, sizeof out->segm);
    out->wall_s = to.wall_s, out->final_loss = to.final_loss;
    out->iters = to.iters, out->trainable = to.trainable, out->total = to.total;
    out->stopped = to.stopped;
    rc = 0;
    if (s->dets_prefix && !to.stopped && k.res && comm_rank() == 0) { /* rank 0 evaluated alone */
        coco_image_dets *d = xcalloc((size_t)k.test.n_images, sizeof *d);
        for (int i = 0; i < k.test.n_images; i++)
            d[i] = (coco_image_dets){.image = i, .n = k.res[i].n, .boxes = k.res[i].boxes, .scores = k.res[i].scores, .labels = k.res[i].labels,
                                     .masks = k.with_mask ? k.res[i].masks : NULL};
        rc = coco_results2json(s->dets_prefix, &k.gt, d, k.test.n_images, k.with_mask);
        free(d);
    }
done:
    if (k.res)
        for (int i = 0; i < k.test.n_images; i++) det_result_free(&k.res[i]);
    free(k.res);
    free(k.order), free(k.keep), free(k.cat_ap), free(k.class_names);
    if (have_model) cascade_rcnn_free(&k.net);
    coco_gt_free(&k.gt);
    coco_free(&k.train);
    coco_free(&k.test);
    return rc;
}
