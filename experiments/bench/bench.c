/* bench.c - one training step per method, timed (see bench.h). */
#include "bench.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/backend.h"
#include "../../models/classifier.h"
#include "../../methods/method.h"
#include "../../core/optim.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Forward and backward of one batch; returns the loss tensor. */
static tensor *forward_backward(classifier *c, graph *g, const bench_cfg *cfg, const float *img, const int *labels) {
    tensor *x = tensor_new4(g, cfg->batch, 3, cfg->size, cfg->size, 0);
    memcpy(x->data, img, sizeof(float) * x->n);
    tensor *logits = classifier_forward(c, g, x);
    tensor *loss = op_cross_entropy(g, logits, labels, 0.0f);
    graph_keep(g, loss->data); /* read after the step */
    if (loss->requires_grad) {
        tensor_grad(g, loss)[0] = 1.0f;
        graph_backward(g);
    }
    return loss;
}

int bench_method(const bench_cfg *cfg, const char *mname, bench_result *r) {
    memset(r, 0, sizeof *r);
    snprintf(r->method, sizeof r->method, "%s", mname);
    const method *m = method_find(mname);
    if (!m) return err_set("unknown method '%s' (see deltabench methods)", mname);
    swin_config sc;
    if (swin_preset(cfg->backbone, &sc)) return -1;
    sc.drop_path_rate = cfg->drop_path;
    omp_set_num_threads(cfg->threads);
    openblas_set_num_threads(cfg->threads);
    classifier c;
    classifier_build(&c, &sc, &m->plug, cfg->classes);
    classifier_init(&c, cfg->seed);
    optim o;
    if (optim_adamw_init(&o, &c.ps, 1e-4, 0.9, 0.999, 1e-8, 0.05)) {
        classifier_free(&c);
        return -1;
    }
    r->trainable = params_count(&c.ps, 1);
    r->total = params_count(&c.ps, 0);
    r->param_bytes = sizeof(float) * (size_t)(c.ps.n_frozen + 4 * c.ps.n_train); /* values, grads, m, v */
    graph g;
    graph_init(&g, 64 << 20);
    if (cfg->plan) graph_plan_enable(&g);
    g.training = 1;
    rng_seed(&g.rng, cfg->seed + 1);
    rng_t data;
    rng_seed(&data, cfg->seed + 2);
    float *img = xmalloc(sizeof(float) * (size_t)cfg->batch * 3 * cfg->size * cfg->size);
    int *labels = xmalloc(sizeof(int) * cfg->batch);
    for (int64_t i = 0; i < (int64_t)cfg->batch * 3 * cfg->size * cfg->size; i++) img[i] = rng_normal(&data);
    for (int b = 0; b < cfg->batch; b++) labels[b] = (int)rng_below(&data, cfg->classes);
    int total = cfg->warmup + cfg->steps;
    double times[64];
    uint64_t f0 = 0;
    double optim_s = 0;
    for (int it = 0; it < total && it < 64 + cfg->warmup; it++) {
        if (it == cfg->warmup) {
            f0 = backend_flops;
            if (cfg->profile) graph_profile_enable(&g);
        }
        double t0 = time_now();
        graph_reset(&g);
        if (graph_plan_needed(&g)) { /* once, untimed: a dry run records the memory plan */
            graph_prof *prof = g.prof; /* nor profiled (it is one with --warmup 0) */
            g.prof = NULL;
            double td = time_now();
            graph_dry_begin(&g);
            forward_backward(&c, &g, cfg, img, labels);
            graph_reset(&g);
            t0 += time_now() - td;
            g.prof = prof;
        }
        params_zero_grad(&c.ps);
        tensor *loss = forward_backward(&c, &g, cfg, img, labels);
        double t_opt = time_now();
        optim_step(&o, 1e-4);
        double t_end = time_now(), dt = t_end - t0;
        if (it >= cfg->warmup) optim_s += t_end - t_opt;
        r->final_loss = loss->data[0];
        if (it >= cfg->warmup) times[r->n_steps++] = dt;
    }
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
    r->images_per_s = cfg->batch / r->median_s;
    r->gflops = r->gflop_per_step / r->median_s;
    r->arena_bytes = graph_mem_bytes(&g);
    r->arena_first_bytes = g.planning ? g.stats.meta_bytes + g.stats.record_bytes : g.mem.high_water;
    r->plan_bytes = g.plan.bytes;
    r->plan_live_peak = g.plan.live_peak;
    r->peak_rss = mem_peak_rss();
    free(img);
    free(labels);
    graph_free(&g);
    optim_free(&o);
    classifier_free(&c);
    return 0;
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
