/* bench.h - the training-step benchmark behind `deltabench bench` / `make bench`: one full training
 * step (forward, backward, AdamW) per method, timed, of the classification model (task cls), of the VOC
 * RetinaNet (task retinanet: Swin + FPN + RetinaHead, focal + L1 loss on a fixed synthetic batch) or of the
 * ADE20K UperNet (task upernet: Swin + UPerHead + FCN auxiliary head, cross-entropy on a fixed synthetic
 * batch) or of the COCO Cascade R-CNN (task cascade: Swin + FPN + RPN + the three cascade box stages, on a fixed
 * synthetic batch of width x height images); plus the machine's measured sgemm peak for context. */
#ifndef DB_BENCH_H
#define DB_BENCH_H

#include <stddef.h>
#include <stdint.h>

enum { BENCH_CLS = 0, BENCH_RETINANET = 1, BENCH_UPERNET = 2, BENCH_CASCADE = 3 };

#define BENCH_LOSS_PARTS 12 /* the most loss parts a task reports (cascade: CASCADE_LOSS_N) */

typedef struct bench_cfg {
    int task; /* BENCH_CLS, BENCH_RETINANET, BENCH_UPERNET or BENCH_CASCADE */
    char backbone[96];
    int size, batch, threads, steps, warmup, classes; /* size: the image side (detection: its height) */
    int width;                               /* retinanet, cascade: image width (0: size, square images) */
    int neck_channels, head_channels, boxes; /* retinanet: FPN width, head tower width, gt boxes per image;
                                              * upernet: head_channels is the UPerHead's channels */
    int aux_channels;                        /* upernet: the FCN auxiliary head's channels */
    int fc_channels;                         /* cascade: the box heads' fc width (head_channels: their conv width,
                                              * neck_channels: FPN = RPN = RoI feature width) */
    float drop_path;
    uint64_t seed;
    int plan; /* plan activation memory (graph_plan_enable); on by default in the CLI */
    int profile; /* print a per-op time profile of the timed steps to stderr (top `profile` ops) */
    int ranks;   /* data parallel (core/comm.h): batch is the global batch, each of the comm_size() ranks steps
                  * on batch / N samples, then the gradient is all-reduced; every step starts at a barrier */
} bench_cfg;

typedef struct bench_result {
    char method[32];
    double median_s, min_s, images_per_s, gflop_per_step, gflops;
    double blas_gflops; /* the sgemm-peak child only: OpenBLAS's peak (gflops holds the engine's) */
    double step_s[64];
    int n_steps;
    size_t peak_rss, arena_bytes, param_bytes;
    size_t arena_first_bytes; /* activation bytes the first step would keep without a plan */
    size_t plan_bytes, plan_live_peak; /* the plan's float block and its lower bound (0 without a plan) */
    int64_t trainable, total;
    float final_loss;
    double loss_parts[BENCH_LOSS_PARTS]; /* of the last step: retinanet loss_cls, loss_bbox; upernet loss_decode, loss_aux
                                          * (x 0.4); cascade the CASCADE_LOSS_* parts (cascade_loss_names) */
    int n_ranks;          /* ranks: the number of ranks; allreduce_s the median seconds of the gradient all-reduce
                           * (on rank 0, so it includes waiting for the slowest rank's backward) */
    double allreduce_s;
} bench_result;

/* The upernet task's fixed batch, drawn from seed: images (B, 3, S, S) N(0, 1) float32 and labels (B*S*S) uint8,
 * 8x8-pixel blocks of one class in [0, classes) with about one block in 16 ignore_index 255. Caller frees both. */
void bench_seg_batch(int batch, int size, int classes, uint64_t seed, float **images, uint8_t **labels);
/* The retinanet and cascade tasks' fixed batch: det_batch_synthetic_wh of cfg->batch images (cfg->width or
 * cfg->size) x cfg->size, cfg->boxes boxes each, cfg->classes classes, from cfg->seed + 2, through the train
 * pipeline kept at that size (no flip), padded to 32. */
struct det_batch;
int bench_det_batch(const bench_cfg *cfg, struct det_batch *b);
/* Run one method's benchmark of cfg->task in this process. Returns 0 or -1 (err_msg). */
int bench_method(const bench_cfg *cfg, const char *method, bench_result *r);
/* Best-of-3 GFLOP/s of an n x n x n sgemm on `threads` threads: through the engine's gemm (engine = 1: its own
 * AVX-512 kernel where the processor has one, split across the threads) or OpenBLAS's threaded cblas_sgemm (0). */
double bench_sgemm_peak(int threads, int n, int engine);

#endif
