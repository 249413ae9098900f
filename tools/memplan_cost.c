/* memplan_cost.c - what the activation memory planner (core/tensor.h) costs and saves on RetinaNet training
 * steps (Swin + FPN + RetinaHead, synthetic padded batches): for each padded size given, the same training
 * step unplanned (bump arena) and planned; the cost of a re-plan (the recording dry run, and the plan
 * computation at the reset after it) against a step under the plan; the activation bytes of both paths
 * and the plan's metadata; and, after every size was seen, one more planned step per size to show that a
 * size seen before re-uses its plan (no dry run, nothing re-planned). A measurement, not a test:
 *
 *   build/memplan_cost [--backbone swin-t] [--batch 2] [--size 512x512[,HxW...]] [--method mona]
 *                      [--neck 256] [--head 256] [--steps 2] [--threads 2]
 *
 * Times are medians over --steps steps (after one warm-up step per path), wall clock and process CPU time
 * (all threads): on a shared machine the CPU time is the steadier of the two. */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/tensor.h"
#include "../methods/method.h"
#include "../models/det/retinanet.h"

#define MAX_SIZES 8

typedef struct batch {
    int n, H, W;
    float *img;
    det_img_meta *metas;
    det_gt *gts;
    float *boxes;
    int *labels;
} batch;

/* n images filling the padded size, one box each */
static void batch_make(batch *b, int n, int H, int W, uint64_t seed) {
    b->n = n, b->H = H, b->W = W;
    b->img = xmalloc(sizeof(float) * (size_t)n * 3 * H * W);
    b->metas = xcalloc((size_t)n, sizeof *b->metas);
    b->gts = xcalloc((size_t)n, sizeof *b->gts);
    b->boxes = xmalloc(sizeof(float) * 4 * (size_t)n);
    b->labels = xmalloc(sizeof(int) * (size_t)n);
    rng_t r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < (size_t)n * 3 * H * W; i++) b->img[i] = rng_normal(&r);
    for (int i = 0; i < n; i++) {
        b->metas[i] = (det_img_meta){.ori_h = H, .ori_w = W, .img_h = H, .img_w = W, .pad_h = H, .pad_w = W, .scale_factor = {1, 1, 1, 1}};
        float bx[4] = {0.1f * W, 0.2f * H, 0.6f * W, 0.7f * H};
        memcpy(b->boxes + 4 * i, bx, sizeof bx);
        b->labels[i] = i % 20;
        b->gts[i] = (det_gt){.n = 1, .boxes = b->boxes + 4 * i, .labels = b->labels + i};
    }
}

static void batch_free(batch *b) { free(b->img), free(b->metas), free(b->gts), free(b->boxes), free(b->labels); }

/* forward, loss and backward (the detection task's step) */
static float step_body(retinanet *net, graph *g, const batch *b) {
    params_zero_grad(&net->ps);
    tensor *x = tensor_new4(g, b->n, 3, b->H, b->W, 0);
    memcpy(x->data, b->img, sizeof(float) * x->n);
    tensor *l;
    if (retinanet_loss(net, g, x, b->metas, b->gts, &l, NULL, NULL)) {
        fprintf(stderr, "memplan_cost: %s\n", err_msg());
        exit(1);
    }
    graph_keep(g, l->data);
    tensor_grad(g, l)[0] = 1.0f;
    graph_backward(g);
    return l->data[0];
}

static uint64_t key_of(const batch *b) { return (uint64_t)b->n << 40 | (uint64_t)b->H << 20 | (uint64_t)b->W; }

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *t, int n) {
    qsort(t, n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* seconds of CPU time used by the process (all threads) */
static double cpu_now(void) {
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)) return 0;
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double mib(size_t b) { return (double)b / (1024.0 * 1024.0); }

int main(int argc, char **argv) {
    const char *backbone = "swin-t", *mname = "mona", *sizes = "512x512";
    int bs = 2, neck = 256, head = 256, steps = 2, threads = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) goto usage;
        if (!strcmp(a, "--backbone")) backbone = v;
        else if (!strcmp(a, "--method")) mname = v;
        else if (!strcmp(a, "--size")) sizes = v;
        else if (!strcmp(a, "--batch")) bs = atoi(v);
        else if (!strcmp(a, "--neck")) neck = atoi(v);
        else if (!strcmp(a, "--head")) head = atoi(v);
        else if (!strcmp(a, "--steps")) steps = atoi(v);
        else if (!strcmp(a, "--threads")) threads = atoi(v);
        else goto usage;
        i++;
    }
    if (bs < 1 || neck < 1 || head < 1 || steps < 1 || steps > 32 || threads < 1) goto usage;
    int H[MAX_SIZES], W[MAX_SIZES], ns = 0;
    for (const char *p = sizes; *p && ns < MAX_SIZES;) {
        int used = 0;
        if (sscanf(p, "%dx%d%n", &H[ns], &W[ns], &used) != 2 || H[ns] < 32 || W[ns] < 32 || H[ns] % 32 || W[ns] % 32) {
            fprintf(stderr, "memplan_cost: --size '%s': expected HxW[,HxW...], multiples of 32\n", sizes);
            return 2;
        }
        ns++, p += used;
        if (*p == ',') p++;
        else if (*p) {
            fprintf(stderr, "memplan_cost: --size '%s': expected HxW[,HxW...]\n", sizes);
            return 2;
        }
    }
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
    swin_config bc;
    if (swin_preset(backbone, &bc)) {
        fprintf(stderr, "memplan_cost: %s\n", err_msg());
        return 2;
    }
    bc.drop_path_rate = 0.2f;
    const method *m = method_find(mname);
    if (!m) {
        fprintf(stderr, "memplan_cost: unknown method '%s'\n", mname);
        return 2;
    }
    retinanet_config nc;
    retinanet_config_default(&nc, &bc, 20);
    nc.fpn_channels = neck, nc.feat_channels = head;
    retinanet net;
    retinanet_build(&net, &nc, &m->plug);
    retinanet_init(&net, 1);
    printf("RetinaNet %s + FPN %d + head %d, %s (%lld trainable of %lld), batch %d, %d threads, median of %d steps\n", backbone, neck, head,
           mname, (long long)params_count(&net.ps, 1), (long long)params_count(&net.ps, 0), bs, threads, steps);
    batch b[MAX_SIZES];
    for (int s = 0; s < ns; s++) batch_make(&b[s], bs, H[s], W[s], 7 + s);

    graph gp;
    graph_init(&gp, 64 << 20);
    graph_plan_enable(&gp);
    gp.training = 1;
    double t[32], c[32];
    for (int s = 0; s < ns; s++) {
        /* unplanned (a graph of its own per size, so that its arena high-water is this size's): one warm-up,
         * then timed steps */
        graph gu;
        graph_init(&gu, 64 << 20);
        gu.training = 1;
        for (int i = 0; i <= steps; i++) {
            rng_seed(&gu.rng, 3);
            double t0 = time_now(), c0 = cpu_now();
            graph_reset(&gu);
            step_body(&net, &gu, &b[s]);
            if (i) t[i - 1] = time_now() - t0, c[i - 1] = cpu_now() - c0;
        }
        double unplanned_s = median(t, steps), unplanned_c = median(c, steps);
        size_t unplanned_bytes = graph_mem_bytes(&gu);
        graph_free(&gu);
        /* planned: the first step of this size re-plans (dry run + plan computation), then timed steps */
        rng_seed(&gp.rng, 3);
        graph_reset(&gp);
        graph_set_key(&gp, key_of(&b[s]));
        if (!graph_plan_needed(&gp)) {
            fprintf(stderr, "memplan_cost: size %dx%d already planned\n", H[s], W[s]);
            return 1;
        }
        double t0 = time_now(), c0 = cpu_now();
        graph_dry_begin(&gp);
        step_body(&net, &gp, &b[s]);
        double t1 = time_now(), c1 = cpu_now();
        graph_reset(&gp); /* plans from the dry run's record */
        double t2 = time_now(), dry_s = t1 - t0, dry_c = c1 - c0, reset_s = t2 - t1, pack_s = gp.stats.pack_s;
        for (int i = 0; i <= steps; i++) {
            rng_seed(&gp.rng, 3);
            double t3 = time_now(), c3 = cpu_now();
            if (i) {
                graph_reset(&gp);
                graph_set_key(&gp, key_of(&b[s]));
                if (graph_plan_needed(&gp)) return fprintf(stderr, "memplan_cost: the plan was not kept\n"), 1;
            }
            step_body(&net, &gp, &b[s]);
            if (!gp.stats.planned || gp.stats.diverged) return fprintf(stderr, "memplan_cost: step left its plan\n"), 1;
            if (i) t[i - 1] = time_now() - t3, c[i - 1] = cpu_now() - c3;
        }
        double planned_s = median(t, steps), planned_c = median(c, steps);
        size_t planned_bytes = graph_mem_bytes(&gp);
        size_t meta = (size_t)gp.plan.n * (2 * sizeof(size_t) + 3 * sizeof(int));
        printf("\n%dx%d (key %#llx): %d buffers\n", H[s], W[s], (unsigned long long)key_of(&b[s]), gp.plan.n);
        printf("  step unplanned        %8.3f s wall %8.3f s CPU   activation memory %8.1f MiB (bump arena + small objects)\n",
               unplanned_s, unplanned_c, mib(unplanned_bytes));
        printf("  step under the plan   %8.3f s wall %8.3f s CPU   activation memory %8.1f MiB (plan %.1f MiB, live-peak bound %.1f MiB)\n",
               planned_s, planned_c, mib(planned_bytes), mib(gp.plan.bytes), mib(gp.plan.live_peak));
        printf("  re-plan: dry run      %8.3f s wall %8.3f s CPU   (%.2f planned steps of CPU time)\n", dry_s, dry_c,
               dry_c / planned_c);
        printf("  re-plan: reset + plan %8.4f s wall                  (packing and copying the record %.4f s)\n", reset_s, pack_s);
        printf("  recorded buffers (without reuse) %.1f MiB; plan metadata held %.2f MiB\n", mib(gp.stats.record_bytes), mib(meta));
    }
    /* every size seen: one more step per size, each under its held plan */
    int plans = gp.stats.n_plans, dry = gp.stats.dry_runs, ok = 1;
    printf("\nrevisit:");
    for (int s = 0; s < ns; s++) {
        graph_reset(&gp);
        graph_set_key(&gp, key_of(&b[s]));
        int need = graph_plan_needed(&gp);
        double c0 = cpu_now();
        step_body(&net, &gp, &b[s]);
        ok = ok && !need && gp.stats.planned && !gp.stats.diverged;
        printf(" %dx%d %.3f s CPU%s", H[s], W[s], cpu_now() - c0, need ? " (needed a plan)" : "");
    }
    graph_reset(&gp);
    printf("\nplans computed %d (before the revisit %d), dry runs %d (%d), held %d, evictions %d, shared block %.1f MiB; peak RSS %.1f MiB\n",
           gp.stats.n_plans, plans, gp.stats.dry_runs, dry, gp.stats.held, gp.stats.evictions, mib(gp.stats.block_bytes), mib(mem_peak_rss()));
    int rc = ok && gp.stats.n_plans == plans ? 0 : 1;
    graph_free(&gp);
    for (int s = 0; s < ns; s++) batch_free(&b[s]);
    retinanet_free(&net);
    return rc;
usage:
    fprintf(stderr, "usage: memplan_cost [--backbone swin-t] [--batch 2] [--size 512x512[,HxW...]] [--method mona] [--neck 256] "
                    "[--head 256] [--steps 2] [--threads 2]\n");
    return 2;
}
