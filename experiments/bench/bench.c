/* bench.c - one training step per method, timed (see bench.h): cls, retinanet, upernet, cascade. The timing loop is
 * shared by the tasks; each task builds its model and a fixed batch and hands the loop a forward + backward of
 * that batch. */
#include "bench.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/backend.h"
#include "../../core/comm.h"
#include "../../core/optim.h"
#include "../../datasets/det_pipeline.h"
#include "../../methods/method.h"
#include "../../models/classifier.h"
#include "../../models/det/cascade_rcnn.h"
#include "../../models/det/retinanet.h"
#include "../../models/seg/upernet.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One task's model and batch: step() runs forward and backward of the batch on g and returns the loss
 * (NULL with err_set on failure). */
typedef struct bench_task {
    params *ps;
    void *self;
    tensor *(*step)(void *self, graph *g, double *parts);
    int plan; /* plan activation memory (the task's trainer does too) */
} bench_task;

static tensor *loss_backward(graph *g, tensor *loss) {
    graph_keep(g, loss->data); /* read after the step */
    if (loss->requires_grad) {
        tensor_grad(g, loss)[0] = 1.0f;
        graph_backward(g);
    }
    return loss;
}

/* ---- cls: classifier, random images (B, 3, S, S) and labels, cross-entropy ---- */
typedef struct cls_bench {
    classifier c;
    const bench_cfg *cfg;
    float *img;
    int *labels;
} cls_bench;

static tensor *cls_step(void *self, graph *g, double *parts) {
    cls_bench *k = self;
    const bench_cfg *cfg = k->cfg;
    tensor *x = tensor_new4(g, cfg->batch, 3, cfg->size, cfg->size, 0);
    memcpy(x->data, k->img, sizeof(float) * x->n);
    tensor *logits = classifier_forward(&k->c, g, x);
    return loss_backward(g, op_cross_entropy(g, logits, k->labels, 0.0f));
}

/* ---- retinanet: the VOC detector, a synthetic batch through the detection pipeline, focal + L1 ---- */
typedef struct det_bench {
    retinanet net;
    det_batch b;
} det_bench;

static tensor *det_step(void *self, graph *g, double *parts) {
    det_bench *k = self;
    const det_batch *b = &k->b;
    tensor *x = tensor_new4(g, b->n, 3, b->H, b->W, 0);
    memcpy(x->data, b->images, sizeof(float) * x->n);
    tensor *l;
    if (retinanet_loss(&k->net, g, x, b->metas, b->gts, &l, &parts[0], &parts[1])) return NULL;
    return loss_backward(g, l);
}

/* ---- upernet: the ADE20K segmentor, a synthetic batch (bench_seg_batch), decode + 0.4 aux cross-entropy ---- */
typedef struct seg_bench {
    upernet net;
    const bench_cfg *cfg;
    float *img;
    uint8_t *labels;
} seg_bench;

static tensor *seg_step(void *self, graph *g, double *parts) {
    seg_bench *k = self;
    const bench_cfg *cfg = k->cfg;
    tensor *x = tensor_new4(g, cfg->batch, 3, cfg->size, cfg->size, 0);
    memcpy(x->data, k->img, sizeof(float) * x->n);
    tensor *l;
    if (upernet_loss(&k->net, g, x, k->labels, &l, &parts[0], &parts[1], NULL)) return NULL;
    return loss_backward(g, l);
}

/* ---- cascade: the COCO detector, a synthetic batch through the detection pipeline, RPN + three box stages ---- */
_Static_assert(CASCADE_LOSS_N <= BENCH_LOSS_PARTS, "bench_result.loss_parts holds the cascade's loss parts");

typedef struct cascade_bench {
    cascade_rcnn net;
    det_batch b;
    uint64_t sampler_seed;
    rng_t r;
} cascade_bench;

static tensor *cascade_step(void *self, graph *g, double *parts) {
    cascade_bench *k = self;
    const det_batch *b = &k->b;
    /* the samplers (RPN, then the three stages) draw from the same stream every step, so that every step samples
     * alike from its proposals */
    rng_seed(&k->r, k->sampler_seed);
    tensor *x = tensor_new4(g, b->n, 3, b->H, b->W, 0);
    memcpy(x->data, b->images, sizeof(float) * x->n);
    tensor *l;
    if (cascade_rcnn_loss(&k->net, g, x, b->metas, b->gts, &k->r, &l, parts)) return NULL;
    return loss_backward(g, l);
}

int bench_det_batch(const bench_cfg *cfg, det_batch *b) {
    int w = cfg->width > 0 ? cfg->width : cfg->size, h = cfg->size;
    det_pipeline_cfg pc;
    det_pipeline_cfg_default(&pc);
    pc.scale_long = w > h ? w : h, pc.scale_short = w > h ? h : w; /* the images stay as drawn (then padded to 32) */
    pc.flip_ratio = 0;
    return det_batch_synthetic_wh(&pc, cfg->batch, w, h, cfg->boxes, cfg->classes, cfg->seed + 2, b);
}

void bench_seg_batch(int batch, int size, int classes, uint64_t seed, float **images, uint8_t **labels) {
    rng_t r;
    rng_seed(&r, seed);
    int64_t np = (int64_t)batch * size * size;
    float *img = xmalloc(sizeof(float) * 3 * np);
    uint8_t *lab = xmalloc((size_t)np);
    for (int64_t i = 0; i < 3 * np; i++) img[i] = rng_normal(&r);
    int nb = (size + 7) / 8; /* 8x8 blocks per side */
    for (int b = 0; b < batch; b++) {
        uint8_t *blk = xmalloc((size_t)nb * nb);
        for (int i = 0; i < nb * nb; i++) blk[i] = rng_below(&r, 16) == 0 ? 255 : (uint8_t)rng_below(&r, (uint32_t)classes);
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++) lab[((int64_t)b * size + y) * size + x] = blk[(y / 8) * nb + x / 8];
        free(blk);
    }
    *images = img;
    *labels = lab;
}

/* warm-up and timed steps of one task (AdamW lr 1e-4, wd 0.05, as the recipes) */
static int bench_run(const bench_cfg *cfg, const char *mname, bench_task *t, bench_result *r) {
    optim o;
    if (optim_adamw_init(&o, t->ps, 1e-4, 0.9, 0.999, 1e-8, 0.05)) return -1;
    r->trainable = params_count(t->ps, 1);
    r->total = params_count(t->ps, 0);
    r->param_bytes = sizeof(float) * (size_t)(t->ps->n_frozen + 4 * t->ps->n_train); /* values, grads, m, v */
    graph g;
    graph_init(&g, 64 << 20);
    if (t->plan) graph_plan_enable(&g);
    g.training = 1;
    rng_seed(&g.rng, cfg->seed + 1);
    int total = cfg->warmup + cfg->steps, rc = 0;
    double times[64], ar_times[64];
    uint64_t f0 = 0;
    double optim_s = 0;
    for (int it = 0; it < total && it < 64 + cfg->warmup; it++) {
        if (it == cfg->warmup) {
            f0 = backend_flops;
            if (cfg->profile) graph_profile_enable(&g);
        }
        if (cfg->ranks && comm_barrier()) { /* the ranks start each step together */
            rc = -1;
            break;
        }
        double t0 = time_now();
        graph_reset(&g);
        if (graph_plan_needed(&g)) { /* once, untimed: a dry run records the memory plan */
            graph_prof *prof = g.prof; /* nor profiled (it is one with --warmup 0) */
            g.prof = NULL;
            double td = time_now(), parts[BENCH_LOSS_PARTS];
            graph_dry_begin(&g);
            if (!t->step(t->self, &g, parts)) {
                rc = err_prefix("%s: dry run", mname);
                break;
            }
            graph_reset(&g);
            t0 += time_now() - td;
            g.prof = prof;
        }
        params_zero_grad(t->ps);
        tensor *loss = t->step(t->self, &g, r->loss_parts);
        if (!loss) {
            rc = err_prefix("%s: step %d", mname, it);
            break;
        }
        double t_ar = time_now();
        if (cfg->ranks) { /* the trainer's sync: one all-reduce of the trainable block, then / N */
            if (comm_allreduce_sum_f32(t->ps->grad, t->ps->n_train)) {
                rc = -1;
                break;
            }
            float inv = 1.0f / (float)comm_size();
            for (int64_t i = 0; i < t->ps->n_train; i++) t->ps->grad[i] *= inv;
        }
        double t_opt = time_now();
        if (it >= cfg->warmup) ar_times[r->n_steps] = t_opt - t_ar;
        optim_step(&o, 1e-4);
        double t_end = time_now(), dt = t_end - t0;
        if (it >= cfg->warmup) optim_s += t_end - t_opt;
        r->final_loss = loss->data[0];
        if (it >= cfg->warmup) times[r->n_steps++] = dt;
    }
    if (!rc) {
        r->gflop_per_step = (double)(backend_flops - f0) / r->n_steps * 1e-9;
        if (cfg->profile) {
            graph_reset(&g); /* ends the last timed step */
            fprintf(stderr, "bench: %s: per-op profile of %d steps (%.1f ms/step in AdamW, not in the table)\n", mname,
                    r->n_steps, 1e3 * optim_s / r->n_steps);
            graph_profile_print(&g, stderr, cfg->profile);
        }
        memcpy(r->step_s, times, sizeof(double) * r->n_steps);
        qsort(times, r->n_steps, sizeof(double), cmp_double);
        r->median_s = r->n_steps % 2 ? times[r->n_steps / 2] : 0.5 * (times[r->n_steps / 2 - 1] + times[r->n_steps / 2]);
        r->min_s = times[0];
        r->n_ranks = cfg->ranks ? comm_size() : 1;
        r->images_per_s = cfg->batch * r->n_ranks / r->median_s; /* ranks: cfg->batch is the shard */
        qsort(ar_times, r->n_steps, sizeof(double), cmp_double);
        r->allreduce_s = !cfg->ranks ? 0 : r->n_steps % 2 ? ar_times[r->n_steps / 2] : 0.5 * (ar_times[r->n_steps / 2 - 1] + ar_times[r->n_steps / 2]);
        r->gflops = r->gflop_per_step / r->median_s;
        r->arena_bytes = graph_mem_bytes(&g);
        r->arena_first_bytes = g.planning ? g.stats.meta_bytes + g.stats.record_bytes : g.mem.high_water;
        r->plan_bytes = g.plan.bytes;
        r->plan_live_peak = g.plan.live_peak;
        r->peak_rss = mem_peak_rss();
    }
    graph_free(&g);
    optim_free(&o);
    return rc;
}

static int bench_cls(const bench_cfg *cfg, const method *m, bench_result *r) {
    swin_config sc;
    if (swin_preset(cfg->backbone, &sc)) return -1;
    sc.drop_path_rate = cfg->drop_path;
    cls_bench k = {.cfg = cfg};
    classifier_build(&k.c, &sc, &m->plug, cfg->classes);
    classifier_init(&k.c, cfg->seed);
    rng_t data;
    rng_seed(&data, cfg->seed + 2);
    int64_t n = (int64_t)cfg->batch * 3 * cfg->size * cfg->size;
    k.img = xmalloc(sizeof(float) * n);
    k.labels = xmalloc(sizeof(int) * cfg->batch);
    for (int64_t i = 0; i < n; i++) k.img[i] = rng_normal(&data);
    for (int b = 0; b < cfg->batch; b++) k.labels[b] = (int)rng_below(&data, cfg->classes);
    bench_task t = {.ps = &k.c.ps, .self = &k, .step = cls_step, .plan = cfg->plan};
    int rc = bench_run(cfg, m->name, &t, r);
    free(k.img);
    free(k.labels);
    classifier_free(&k.c);
    return rc;
}

static int bench_retinanet(const bench_cfg *cfg, const method *m, bench_result *r) {
    swin_config sc;
    if (swin_preset(cfg->backbone, &sc)) return -1;
    sc.drop_path_rate = cfg->drop_path;
    if (cfg->neck_channels < 1 || cfg->head_channels < 1 || cfg->classes < 1)
        return err_set("retinanet bench: neck %d, head %d channels, %d classes (all must be positive)", cfg->neck_channels,
                       cfg->head_channels, cfg->classes);
    det_bench k;
    memset(&k, 0, sizeof k);
    if (bench_det_batch(cfg, &k.b)) return -1;
    retinanet_config nc;
    retinanet_config_default(&nc, &sc, cfg->classes);
    nc.fpn_channels = cfg->neck_channels;
    nc.feat_channels = cfg->head_channels;
    retinanet_build(&k.net, &nc, &m->plug);
    retinanet_init(&k.net, cfg->seed);
    /* planned activation memory, as the detection task's trainer runs (train_det: plan_memory 1); one fixed
     * batch, so one plan */
    bench_task t = {.ps = &k.net.ps, .self = &k, .step = det_step, .plan = cfg->plan};
    int rc = bench_run(cfg, m->name, &t, r);
    det_batch_free(&k.b);
    retinanet_free(&k.net);
    return rc;
}

static int bench_upernet(const bench_cfg *cfg, const method *m, bench_result *r) {
    swin_config sc;
    if (swin_preset(cfg->backbone, &sc)) return -1;
    sc.drop_path_rate = cfg->drop_path;
    if (cfg->head_channels < 1 || cfg->aux_channels < 1 || cfg->classes < 1 || cfg->classes > 255)
        return err_set("upernet bench: head %d, aux %d channels, %d classes (channels positive, classes 1..255)", cfg->head_channels,
                       cfg->aux_channels, cfg->classes);
    if (cfg->batch < 2) /* the 1x1 pooled PPM branch gives BatchNorm one value per channel otherwise */
        return err_set("upernet bench: batch %d: BatchNorm in the heads needs a batch of at least 2", cfg->batch);
    seg_bench k = {.cfg = cfg};
    upernet_config nc;
    upernet_config_default(&nc, &sc, cfg->classes); /* out indices 0..3, frozen_stages -1, aux on stage 2 (0.4), ignore 255 */
    nc.channels = cfg->head_channels;
    nc.aux_channels = cfg->aux_channels;
    upernet_build(&k.net, &nc, &m->plug);
    upernet_init(&k.net, cfg->seed);
    bench_seg_batch(cfg->batch, cfg->size, cfg->classes, cfg->seed + 2, &k.img, &k.labels);
    /* planned activation memory, as the segmentation trainer runs (train_seg: plan_memory 1); one fixed batch, so
     * one plan */
    bench_task t = {.ps = &k.net.ps, .self = &k, .step = seg_step, .plan = cfg->plan};
    int rc = bench_run(cfg, m->name, &t, r);
    free(k.img);
    free(k.labels);
    upernet_free(&k.net);
    return rc;
}

static int bench_cascade(const bench_cfg *cfg, const method *m, bench_result *r) {
    swin_config sc;
    if (swin_preset(cfg->backbone, &sc)) return -1;
    sc.drop_path_rate = cfg->drop_path;
    if (cfg->neck_channels < 1 || cfg->head_channels < 1 || cfg->fc_channels < 1 || cfg->classes < 1)
        return err_set("cascade bench: neck %d, head %d, fc %d channels, %d classes (all must be positive)", cfg->neck_channels,
                       cfg->head_channels, cfg->fc_channels, cfg->classes);
    cascade_bench k;
    memset(&k, 0, sizeof k);
    if (bench_det_batch(cfg, &k.b)) return -1;
    cascade_rcnn_config nc; /* the COCO config: RPN 2000 training proposals, 512 rois per image and stage */
    cascade_rcnn_config_default(&nc, &sc, cfg->classes, cfg->neck_channels);
    for (int i = 0; i < CASCADE_STAGES; i++) nc.bbox[i].conv_out_channels = cfg->head_channels, nc.bbox[i].fc_out_channels = cfg->fc_channels;
    nc.with_mask = 0; /* the box branch only, as the peer's default (its --with-mask is not yet matched here) */
    cascade_rcnn_build(&k.net, &nc, &m->plug);
    cascade_rcnn_init(&k.net, cfg->seed);
    k.sampler_seed = cfg->seed + 3;
    /* no memory plan: how many proposals survive NMS, and so how many rois each stage samples, how many are
     * positive and what the next stage gets, depends on the values; a plan's dry run computes on garbage and
     * a recorded plan would be left by the next step (the cascade trainer will run unplanned as well) */
    bench_task t = {.ps = &k.net.ps, .self = &k, .step = cascade_step, .plan = 0};
    int rc = bench_run(cfg, m->name, &t, r);
    det_batch_free(&k.b);
    cascade_rcnn_free(&k.net);
    return rc;
}

int bench_method(const bench_cfg *cfg, const char *mname, bench_result *r) {
    memset(r, 0, sizeof *r);
    snprintf(r->method, sizeof r->method, "%s", mname);
    const method *m = method_find(mname);
    if (!m) return err_set("unknown method '%s' (see deltabench methods)", mname);
    if (cfg->steps < 1 || cfg->batch < 1 || cfg->size < 1) return err_set("bench: %d steps, batch %d, %d px", cfg->steps, cfg->batch, cfg->size);
    if (cfg->width > 0 && cfg->width != cfg->size && cfg->task != BENCH_RETINANET && cfg->task != BENCH_CASCADE)
        return err_set("bench: %dx%d px: only the detection tasks take images that are not square", cfg->width, cfg->size);
    omp_set_num_threads(cfg->threads);
    openblas_set_num_threads(cfg->threads);
    bench_cfg local = *cfg;
    if (cfg->ranks) { /* each rank steps on its shard of the global batch */
        int nr = comm_size();
        if (cfg->batch % nr) return err_set("bench: the global batch %d is not a multiple of the %d ranks", cfg->batch, nr);
        local.batch = cfg->batch / nr;
        local.seed = cfg->seed + 1000003ull * (uint64_t)comm_rank(); /* other images on every rank */
    }
    if (cfg->task == BENCH_RETINANET) return bench_retinanet(&local, m, r);
    if (cfg->task == BENCH_UPERNET) return bench_upernet(&local, m, r);
    if (cfg->task == BENCH_CASCADE) return bench_cascade(&local, m, r);
    return bench_cls(&local, m, r);
}

double bench_sgemm_peak(int threads, int n, int engine) {
    openblas_set_num_threads(threads);
    omp_set_num_threads(threads);
    float *a = xmalloc_aligned(sizeof(float) * (size_t)n * n), *b = xmalloc_aligned(sizeof(float) * (size_t)n * n),
          *c = xmalloc_aligned(sizeof(float) * (size_t)n * n);
    for (int64_t i = 0; i < (int64_t)n * n; i++) a[i] = b[i] = 1.0f / (1 + i % 7);
    double best = 0;
    for (int k = 0; k < 4; k++) {
        double t0 = time_now();
        if (engine) backend_get()->gemm(0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        else cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double dt = time_now() - t0;
        double gf = 2.0 * n * (double)n * n / dt * 1e-9;
        if (k > 0 && gf > best) best = gf; /* the first call warms up */
    }
    free(a);
    free(b);
    free(c);
    return best;
}
