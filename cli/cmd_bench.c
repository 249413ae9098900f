/* cmd_bench.c - `deltabench bench`: one training step (forward, backward, AdamW) per method, each
 * method in its own child process (so its peak memory is its own), against the PyTorch peer on the same
 * machine in the same run: task cls (the classifier, experiments/bench/torch_peer.py), task retinanet
 * (the VOC RetinaNet on a fixed synthetic batch, experiments/bench/torch_peer_retinanet.py) or task upernet
 * (the ADE20K UperNet on a fixed synthetic batch, experiments/bench/torch_peer_upernet.py) or task cascade (the
 * COCO Cascade R-CNN on a fixed synthetic batch, experiments/bench/torch_peer_cascade.py), all on Debian's
 * python3-torch. */
#include <cJSON.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../core/backend.h"
#include "../core/comm.h"
#include "../core/common.h"
#include "../datasets/det_pipeline.h"
#include "../experiments/bench/bench.h"
#include "../models/det/cascade_rcnn.h"
#include "../methods/method.h"
#include "commands.h"

static void bench_usage(FILE *f) {
    fprintf(f,
            "usage: deltabench bench [--task cls|retinanet|upernet|cascade] [options]\n\n"
            "Times one training step (forward, backward, AdamW) per tuning method and, where Debian's\n"
            "python3-torch is installed, the same step in PyTorch, printing the speed ratio. Also measures the\n"
            "machine's sgemm peak for context.\n"
            "  --task cls        (default) the classifier: Swin, GAP, linear head, cross-entropy on random images;\n"
            "                    peer experiments/bench/torch_peer.py\n"
            "  --task retinanet  the VOC detector: Swin (out_indices 1-3, frozen_stages 1), FPN (5 levels, extra\n"
            "                    convs on the input), RetinaHead, focal + L1 loss with mmdet 2.11's targets, on a\n"
            "                    fixed synthetic batch (random pixels through the detection pipeline, --boxes\n"
            "                    ground truths per image, from the seed); peer experiments/bench/torch_peer_retinanet.py\n"
            "                    (python3-torch and python3-torchvision), which gets the same batch\n"
            "  --task upernet    the ADE20K segmentor: Swin (out_indices 0-3, frozen_stages -1), UPerHead (--head-channels,\n"
            "                    pool scales 1,2,3,6) and the FCN auxiliary head on stage 2 (--aux-channels, loss weight\n"
            "                    0.4), BN in the heads, cross-entropy (ignore 255, logits resized to the labels) on a fixed\n"
            "                    synthetic batch (N(0,1) pixels, 8x8 label blocks, 1 in 16 ignored, from the seed); peer\n"
            "                    experiments/bench/torch_peer_upernet.py (python3-torch), which gets the same batch\n"
            "  --task cascade    the COCO detector (boxes; the mask branch is not in the model yet): Swin (out_indices\n"
            "                    0-3), FPN (5 levels, the fifth by max pool), RPN (2000 training proposals), three cascade\n"
            "                    stages (RoIAlign 7, 4conv1fc heads with BN, 512 rois per image and stage, CE + GIoU x 10,\n"
            "                    stage weights 1, 0.5, 0.25, refinement between stages), on a fixed synthetic batch (as\n"
            "                    retinanet's; the samplers' random stream restarts every step); no memory plan (the\n"
            "                    proposal and roi counts depend on the values); peer\n"
            "                    experiments/bench/torch_peer_cascade.py (python3-torch and python3-torchvision)\n\n"
            "  --backbone NAME   swin-t|swin-s|swin-b|swin-l|tiny:... (default swin-t)\n"
            "  --size N, --image-size N  square input side (default cls 224, retinanet and upernet 512); WxH (width x\n"
            "                    height) for retinanet and cascade (default cascade 800x512)\n"
            "  --batch N         batch size (default cls 8, retinanet and upernet 2, cascade 1; upernet needs 2 or more for BN)\n"
            "  --threads N       threads for OpenMP/OpenBLAS and torch (default 2)\n"
            "  --steps N         timed steps per method, median reported (default 5, at most 64)\n"
            "  --warmup N        untimed steps first, for both engines (default 3: PyTorch's first steps\n"
            "                    run up to 2x slower while its allocator warms up)\n"
            "  --methods LIST    comma-separated methods or 'all' (default all)\n"
            "  --classes N       classes (default cls 100, retinanet 20 as VOC, upernet 150 as ADE20K, cascade 80 as COCO)\n"
            "  --neck-channels N retinanet, cascade: FPN channels (default 256)\n"
            "  --head-channels N retinanet: head tower channels (default 256); upernet: UPerHead channels (default 512);\n"
            "                    cascade: the box heads' conv channels (default 256)\n"
            "  --fc-channels N   cascade: the box heads' fc width (default 1024)\n"
            "  --aux-channels N  upernet: FCN auxiliary head channels (default 256)\n"
            "  --boxes N         retinanet, cascade: ground-truth boxes per synthetic image (default 3)\n"
            "  --drop-path F     drop-path rate (default 0.2; module dropout is 0.1 as in the reference)\n"
            "  --seed N          model and batch seed (default 0)\n"
            "  --peer 0|1        run the PyTorch peer (default 1); --no-peer is --peer 0\n"
            "  --no-plan         keep every activation until the step ends (bump arena, no memory plan); by\n"
            "                    default every task plans its activation memory, as its trainer does\n"
            "  --profile N       also print, per method, the N ops that took longest in the timed steps\n"
            "                    (forward and backward ms per step; time between op starts, so\n"
            "                    the step's own glue is charged to the op before it)\n"
            "  --peer-python P   interpreter for the peer (default /usr/bin/python3)\n"
            "  --json            machine-readable output on stdout\n"
            "  --ranks           data parallel: run under mpirun -np N (or alone for N = 1); --batch is the global\n"
            "                    batch, each rank steps on batch / N samples and the trainable gradient is all-reduced\n"
            "                    as in training. Prints per method the bytes all-reduced per step (trainable x 4),\n"
            "                    the median step (barrier to AdamW) and the all-reduce's share; in-process, no peer\n");
}

/* Every measurement runs in a forked child: the parent never starts an OpenMP or BLAS thread, since a
 * thread pool does not survive fork() (libgomp deadlocks in a child of a process that used it). A NULL
 * method measures the sgemm peak (into r->gflops). */
static int run_child(const bench_cfg *cfg, const char *m, bench_result *r) {
    int fd[2];
    if (pipe(fd)) return err_set("pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return err_set("fork: %s", strerror(errno));
    if (pid == 0) {
        close(fd[0]);
        bench_result res;
        memset(&res, 0, sizeof res);
        int rc = 0;
        if (m) rc = bench_method(cfg, m, &res);
        else {
            res.gflops = bench_sgemm_peak(cfg->threads, 2048, 1);
            res.blas_gflops = bench_sgemm_peak(cfg->threads, 2048, 0);
        }
        if (rc) fprintf(stderr, "deltabench bench: %s: %s\n", m, err_msg());
        else if (write(fd[1], &res, sizeof res) != (ssize_t)sizeof res) rc = 1;
        _exit(rc ? 1 : 0);
    }
    close(fd[1]);
    ssize_t got = 0, k;
    while (got < (ssize_t)sizeof *r && (k = read(fd[0], (char *)r + got, sizeof *r - got)) > 0) got += k;
    close(fd[0]);
    int st;
    waitpid(pid, &st, 0);
    if (got != (ssize_t)sizeof *r || !WIFEXITED(st) || WEXITSTATUS(st))
        return err_set("%s: benchmark child failed", m ? m : "sgemm peak");
    return 0;
}

static char *peer_script(const char *name) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return NULL;
    exe[n] = 0;
    char *dir = dirname(exe); /* build/ */
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/../experiments/bench/%s", dir, name);
    return file_exists(path) ? xstrdup(path) : NULL;
}

/* The retinanet and cascade batch for the peer, in dir: batch.f32 (the collated images, float32, native order) and
 * batch.json (shape, metas, ground truths). The parent builds the same batch as the children (the
 * pipeline starts no thread). */
static int write_det_batch(const bench_cfg *cfg, const char *dir) {
    det_batch b;
    if (bench_det_batch(cfg, &b)) return -1;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/batch.f32", dir);
    int rc = file_write_atomic(path, b.images, sizeof(float) * (size_t)b.n * 3 * b.H * b.W);
    cJSON *j = cJSON_CreateObject(), *metas = cJSON_AddArrayToObject(j, "metas"), *gts = cJSON_AddArrayToObject(j, "gts");
    cJSON_AddItemToObject(j, "shape", cJSON_CreateIntArray((int[]){b.n, 3, b.H, b.W}, 4));
    cJSON_AddStringToObject(j, "images", "batch.f32");
    for (int i = 0; i < b.n; i++) {
        const det_img_meta *m = &b.metas[i];
        cJSON *mj = cJSON_CreateObject();
        cJSON_AddItemToObject(mj, "img_shape", cJSON_CreateIntArray((int[]){m->img_h, m->img_w}, 2));
        cJSON_AddItemToObject(mj, "pad_shape", cJSON_CreateIntArray((int[]){m->pad_h, m->pad_w}, 2));
        cJSON_AddItemToArray(metas, mj);
        cJSON *gj = cJSON_CreateObject(), *boxes = cJSON_AddArrayToObject(gj, "boxes");
        for (int k = 0; k < b.gts[i].n; k++) cJSON_AddItemToArray(boxes, cJSON_CreateFloatArray(b.gts[i].boxes + 4 * k, 4));
        cJSON_AddItemToObject(gj, "labels", cJSON_CreateIntArray(b.gts[i].labels, b.gts[i].n));
        cJSON_AddItemToArray(gts, gj);
    }
    char *txt = cJSON_Print(j);
    snprintf(path, sizeof path, "%s/batch.json", dir);
    if (!rc) rc = file_write_atomic(path, txt, strlen(txt));
    free(txt);
    cJSON_Delete(j);
    det_batch_free(&b);
    return rc;
}

/* The upernet batch for the peer, in dir: images.f32 (B, 3, S, S) float32 native order, labels.u8 (B, S, S) and
 * batch.json (shape, file names). The parent draws it as the children do (bench_seg_batch, no thread). */
static int write_seg_batch(const bench_cfg *cfg, const char *dir) {
    float *img;
    uint8_t *lab;
    bench_seg_batch(cfg->batch, cfg->size, cfg->classes, cfg->seed + 2, &img, &lab);
    size_t np = (size_t)cfg->batch * cfg->size * cfg->size;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/images.f32", dir);
    int rc = file_write_atomic(path, img, sizeof(float) * 3 * np);
    snprintf(path, sizeof path, "%s/labels.u8", dir);
    if (!rc) rc = file_write_atomic(path, lab, np);
    free(img);
    free(lab);
    if (rc) return -1;
    char txt[512];
    snprintf(txt, sizeof txt, "{\"shape\": [%d, 3, %d, %d], \"images\": \"images.f32\", \"labels\": \"labels.u8\", \"ignore_index\": 255}\n",
             cfg->batch, cfg->size, cfg->size);
    snprintf(path, sizeof path, "%s/batch.json", dir);
    return file_write_atomic(path, txt, strlen(txt));
}

/* the peer's batch files (either task's) and their folder */
static void remove_batch_dir(const char *dir) {
    static const char *const files[] = {"batch.f32", "batch.json", "images.f32", "labels.u8"};
    char f[PATH_MAX + 16];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(f, sizeof f, "%s/%s", dir, files[i]);
        if (unlink(f) && errno != ENOENT) fprintf(stderr, "bench: removing %s: %s\n", f, strerror(errno));
    }
    if (rmdir(dir)) fprintf(stderr, "bench: removing %s: %s\n", dir, strerror(errno));
}

/* run the peer and return its parsed JSON (NULL if unavailable) */
static cJSON *run_peer(const char *py, const bench_cfg *cfg, const char *methods) {
    int det = cfg->task == BENCH_RETINANET || cfg->task == BENCH_CASCADE; /* the detection peers need torchvision */
    const char *name = cfg->task == BENCH_RETINANET ? "torch_peer_retinanet.py"
                       : cfg->task == BENCH_UPERNET ? "torch_peer_upernet.py"
                       : cfg->task == BENCH_CASCADE ? "torch_peer_cascade.py"
                                                    : "torch_peer.py";
    char *script = peer_script(name);
    if (!script) {
        fprintf(stderr, "bench: peer script experiments/bench/%s not found next to the build\n", name);
        return NULL;
    }
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s -c 'import torch%s' 2>/dev/null", py, det ? ", torchvision" : "");
    if (system(cmd) != 0) {
        fprintf(stderr, "bench: %s has no torch%s (install Debian's python3-torch%s for the PyTorch comparison)\n", py,
                det ? " or torchvision" : "", det ? " and python3-torchvision" : "");
        free(script);
        return NULL;
    }
    char dir[PATH_MAX] = "";
    int n = snprintf(cmd, sizeof cmd,
                     "%s %s --backbone %s --size %d --batch %d --threads %d --steps %d --warmup %d --methods %s --classes %d "
                     "--drop-path-rate %g --dropout 0.1 --seed %llu --json",
                     py, script, cfg->backbone, cfg->size, cfg->batch, cfg->threads, cfg->steps, cfg->warmup, methods,
                     cfg->classes, cfg->drop_path, (unsigned long long)cfg->seed);
    free(script);
    if (cfg->task != BENCH_CLS) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/deltabench-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) {
            fprintf(stderr, "bench: mkdtemp %s: %s; no comparison\n", dir, strerror(errno));
            return NULL;
        }
        int seg = cfg->task == BENCH_UPERNET;
        if (seg ? write_seg_batch(cfg, dir) : write_det_batch(cfg, dir)) {
            fprintf(stderr, "bench: writing the peer's batch to %s: %s; no comparison\n", dir, err_msg());
            remove_batch_dir(dir);
            return NULL;
        }
        if (seg)
            snprintf(cmd + n, sizeof cmd - n, " --head-channels %d --aux-channels %d --batch-json %s/batch.json", cfg->head_channels,
                     cfg->aux_channels, dir);
        else if (cfg->task == BENCH_CASCADE)
            snprintf(cmd + n, sizeof cmd - n, " --width %d --neck-channels %d --head-channels %d --fc-channels %d --batch-json %s/batch.json",
                     cfg->width, cfg->neck_channels, cfg->head_channels, cfg->fc_channels, dir);
        else
            snprintf(cmd + n, sizeof cmd - n, " --neck-channels %d --head-channels %d --batch-json %s/batch.json",
                     cfg->neck_channels, cfg->head_channels, dir);
    }
    fprintf(stderr, "bench: running the PyTorch peer: %s\n", cmd);
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = xmalloc(cap);
    size_t k;
    while ((k = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += k;
        if (len + 1 >= cap) buf = xrealloc(buf, cap *= 2);
    }
    buf[len] = 0;
    int st = pclose(p);
    cJSON *j = st == 0 ? cJSON_Parse(buf) : NULL;
    if (!j) fprintf(stderr, "bench: the peer failed (exit %d); no comparison\n", st);
    free(buf);
    if (*dir) remove_batch_dir(dir);
    return j;
}

static const cJSON *peer_result(const cJSON *peer, const char *m) {
    const cJSON *arr = peer ? cJSON_GetObjectItem(peer, "results") : NULL, *it;
    cJSON_ArrayForEach(it, arr) {
        const cJSON *name = cJSON_GetObjectItem(it, "method");
        if (cJSON_IsString(name) && !strcmp(name->valuestring, m)) return it;
    }
    return NULL;
}

static double jnum(const cJSON *o, const char *k) {
    const cJSON *v = o ? cJSON_GetObjectItem(o, k) : NULL;
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static int parse_int(const char *opt, const char *v, int min, int *out) {
    char *end;
    errno = 0;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || errno || *end || end == v || x < min || x > 1 << 30) {
        fprintf(stderr, "deltabench bench: %s needs a whole number >= %d (got '%s')\n", opt, min, v ? v : "");
        return -1;
    }
    *out = (int)x;
    return 0;
}

static void print_cls_table(const bench_cfg *cfg, const char *const *list, int n, const bench_result *res, const cJSON *pj,
                            double peak) {
    printf("%-12s %10s %8s %8s %7s %9s %9s %9s %9s %11s %9s %8s\n", "method", "trainable", "s/step", "img/s", "GFLOP/s",
           "% peak", "peak MiB", "act MiB", "act 1st", "torch s/st", "torch MiB", "speedup");
    for (int i = 0; i < n; i++) {
        const cJSON *p = peer_result(pj, list[i]);
        double ps = jnum(p, "median_step_s"), pm = jnum(p, "peak_rss_bytes");
        printf("%-12s %10lld %8.3f %8.2f %7.1f %8.1f%% %9.0f %9.0f %9.0f", list[i], (long long)res[i].trainable,
               res[i].median_s, res[i].images_per_s, res[i].gflops, 100 * res[i].gflops / peak, res[i].peak_rss / 1048576.0,
               res[i].arena_bytes / 1048576.0, res[i].arena_first_bytes / 1048576.0);
        if (ps > 0) printf(" %11.3f %9.0f %7.2fx\n", ps, pm / 1048576.0, ps / res[i].median_s);
        else printf(" %11s %9s %8s\n", "-", "-", "-");
    }
    printf("\nspeedup = PyTorch median step time / deltabench median step time (same machine, same run).\n"
           "peak MiB: process peak RSS (the plan is recorded on a dry run that keeps no activation);\n"
           "act MiB: activation memory of a step under the plan; act 1st: what a step keeps without a plan.\n");
}

/* retinanet and upernet: the same columns, the task's notes */
static void print_dense_table(const bench_cfg *cfg, const char *const *list, int n, const bench_result *res, const cJSON *pj,
                            double peak) {
    printf("%-12s %10s %10s %8s %8s %7s %7s %7s %8s %8s %9s %9s %9s %9s %8s %7s\n", "method", "trainable", "torch tr.",
           "s/step", "min s", "img/s", "GFLOP/s", "% peak", "peak MiB", "act MiB", "loss", "torch s/st", "torch min",
           "torch MiB", "t. loss", "ratio");
    for (int i = 0; i < n; i++) {
        const cJSON *p = peer_result(pj, list[i]);
        double ps = jnum(p, "median_step_s"), pmin = jnum(p, "min_step_s"), pm = jnum(p, "peak_rss_bytes"),
               pt = jnum(p, "trainable_params"), pl = jnum(p, "final_loss");
        char ptr[32] = "-";
        if (pt >= 0) snprintf(ptr, sizeof ptr, "%.0f", pt);
        printf("%-12s %10lld %10s %8.3f %8.3f %7.2f %7.1f %6.1f%% %8.0f %8.0f %9.4f", list[i], (long long)res[i].trainable, ptr,
               res[i].median_s, res[i].min_s, res[i].images_per_s, res[i].gflops, 100 * res[i].gflops / peak,
               res[i].peak_rss / 1048576.0, res[i].arena_bytes / 1048576.0, res[i].final_loss);
        if (ps > 0) printf(" %9.3f %9.3f %9.0f %8.4f %6.2fx\n", ps, pmin, pm / 1048576.0, pl, ps / res[i].median_s);
        else printf(" %9s %9s %9s %8s %7s\n", "-", "-", "-", "-", "-");
    }
    printf("\nratio = PyTorch median step time / deltabench median step time (same machine, same run, same batch).\n");
    if (cfg->task == BENCH_UPERNET) {
        printf("trainable: the segmentor's trainable parameters (backbone under the method, frozen_stages -1, UPerHead, FCN head;\n"
               "BN running statistics are buffers, not counted);\n"
               "GFLOP/s: the FLOPs the engine's gemm, convolution (im2col gemm) and attention kernels count, per median step;\n"
               "peak MiB: process peak RSS; act MiB: the step's activation memory (its plan's block, as the segmentation\n"
               "trainer runs; with --no-plan the bump arena); loss: decode + 0.4 aux cross-entropy of the last timed step\n"
               "(before its AdamW update); the two engines start from different random weights, so their losses agree only\n"
               "roughly (at the start both near 1.4 ln(classes) times the labelled share, 15/16).\n");
        return;
    }
    if (cfg->task == BENCH_CASCADE) {
        printf("trainable: the detector's trainable parameters (backbone under the method, out_indices 0-3, nothing frozen\n"
               "beyond the method; FPN, RPN, the three box heads; BN running statistics are buffers, not counted);\n"
               "GFLOP/s: the FLOPs the engine's gemm, convolution (im2col gemm) and attention kernels count, per median step;\n"
               "peak MiB: process peak RSS; act MiB: the step's activation memory (bump arena: no memory plan, the\n"
               "proposal and roi counts depend on the values); loss: RPN + the three stages' CE + GIoU (x 1, 0.5, 0.25) of\n"
               "the last timed step (before its AdamW update); the two engines start from different random weights and\n"
               "draw different samples, so their losses agree only roughly.\n");
        return;
    }
    printf("trainable: the detector's trainable parameters (backbone under the method with frozen_stages 1, FPN, head);\n"
           "GFLOP/s: the FLOPs the engine's gemm, convolution (im2col gemm) and attention kernels count, per median step;\n"
           "peak MiB: process peak RSS; act MiB: the step's activation memory (its plan's block, as the detection\n"
           "trainer runs; with --no-plan the bump arena); loss: focal + L1 of the last timed step (before its AdamW update); the two\n"
           "engines start from different random weights, so their losses agree only roughly.\n");
}

/* --ranks: every method in this process (no fork under MPI), the table on rank 0 */
static int bench_ranks(const bench_cfg *cfg, const char **list, int n, const char *task_name, int json) {
    int nr = comm_size();
    if (cfg->batch % nr) {
        fprintf(stderr, "deltabench bench: --batch %d is not a multiple of the %d ranks\n", cfg->batch, nr);
        return 2;
    }
    char host[256] = "unknown";
    if (gethostname(host, sizeof host)) snprintf(host, sizeof host, "unknown");
    if (json) printf("{\"task\": \"%s\", \"backbone\": \"%s\", \"size\": %d, \"global_batch\": %d, \"ranks\": %d, \"threads_per_rank\": %d, "
                     "\"steps\": %d, \"warmup\": %d, \"host\": \"%s\", \"commit\": \"%s\", \"mpi\": \"%s\", \"methods\": [",
                     task_name, cfg->backbone, cfg->size, cfg->batch, nr, cfg->threads, cfg->steps, cfg->warmup, host, build_commit(), comm_library());
    else
        printf("bench --ranks: %s %s %d px, global batch %d over %d rank%s (%d per rank, %d thread%s each), median of %d steps after %d, %s, %s, commit %s\n"
               "%-14s %12s %14s %12s %14s %10s   (allreduce ms: 0 on 1 rank, nothing is sent)\n",
               task_name, cfg->backbone, cfg->size, cfg->batch, nr, nr > 1 ? "s" : "", cfg->batch / nr, cfg->threads, cfg->threads > 1 ? "s" : "",
               cfg->steps, cfg->warmup, nr > 1 ? comm_library() : "no MPI (one process)", host, build_commit(), "method", "trainable", "allreduce B/step",
               "step ms", "allreduce ms", "img/s");
    for (int i = 0; i < n; i++) {
        bench_result r;
        if (comm_rank() == 0) fprintf(stderr, "bench: [%d/%d] %s on %d rank%s...\n", i + 1, n, list[i], nr, nr > 1 ? "s" : "");
        if (bench_method(cfg, list[i], &r)) {
            fprintf(stderr, "deltabench bench: %s: %s\n", list[i], err_msg());
            return 1;
        }
        long long bytes = 4LL * r.trainable;
        if (json)
            printf("%s{\"method\": \"%s\", \"trainable\": %lld, \"allreduce_bytes\": %lld, \"step_s\": %.6g, \"allreduce_s\": %.6g, \"images_per_s\": %.6g}",
                   i ? ", " : "", list[i], (long long)r.trainable, bytes, r.median_s, nr > 1 ? r.allreduce_s : 0.0, r.images_per_s);
        else
            printf("%-14s %12lld %14lld %12.1f %14.2f %10.2f\n", list[i], (long long)r.trainable, bytes, 1e3 * r.median_s,
                   nr > 1 ? 1e3 * r.allreduce_s : 0.0, r.images_per_s);
        fflush(stdout);
    }
    if (json) printf("]}\n");
    return 0;
}

int cmd_bench(int argc, char **argv) {
    bench_cfg cfg = {.size = -1, .batch = -1, .threads = 2, .steps = 5, .warmup = 3, .classes = -1, .drop_path = 0.2f, .seed = 0,
                     .plan = 1, .neck_channels = -1, .head_channels = -1, .boxes = -1, .aux_channels = -1, .fc_channels = -1};
    snprintf(cfg.backbone, sizeof cfg.backbone, "swin-t");
    const char *methods = "all", *py = "/usr/bin/python3";
    int json = 0, peer = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            bench_usage(stdout);
            return 0;
        }
        int *ip = NULL, min = 1;
        if ((!strcmp(a, "--size") || !strcmp(a, "--image-size")) && v && strchr(v, 'x')) { /* WxH */
            char *end;
            long w = strtol(v, &end, 10), h = *end == 'x' ? strtol(end + 1, &end, 10) : 0;
            if (*end || w < 1 || h < 1 || w > 1 << 16 || h > 1 << 16) {
                fprintf(stderr, "deltabench bench: %s needs N or WxH (got '%s')\n", a, v);
                return 2;
            }
            cfg.width = (int)w, cfg.size = (int)h;
            i++;
            continue;
        }
        if (!strcmp(a, "--size") || !strcmp(a, "--image-size")) ip = &cfg.size, cfg.width = 0;
        else if (!strcmp(a, "--batch")) ip = &cfg.batch;
        else if (!strcmp(a, "--threads")) ip = &cfg.threads;
        else if (!strcmp(a, "--steps")) ip = &cfg.steps;
        else if (!strcmp(a, "--warmup")) ip = &cfg.warmup, min = 0;
        else if (!strcmp(a, "--classes")) ip = &cfg.classes;
        else if (!strcmp(a, "--profile")) ip = &cfg.profile;
        else if (!strcmp(a, "--neck-channels")) ip = &cfg.neck_channels;
        else if (!strcmp(a, "--head-channels")) ip = &cfg.head_channels;
        else if (!strcmp(a, "--boxes")) ip = &cfg.boxes;
        else if (!strcmp(a, "--aux-channels")) ip = &cfg.aux_channels;
        else if (!strcmp(a, "--fc-channels")) ip = &cfg.fc_channels;
        else if (!strcmp(a, "--peer")) ip = &peer, min = 0;
        if (ip) {
            if (parse_int(a, v, min, ip)) return 2;
            if (ip == &peer && peer > 1) {
                fprintf(stderr, "deltabench bench: --peer takes 0 or 1\n");
                return 2;
            }
            i++;
            continue;
        }
        if (!strcmp(a, "--task") && v) {
            i++;
            if (!strcmp(v, "cls")) cfg.task = BENCH_CLS;
            else if (!strcmp(v, "retinanet")) cfg.task = BENCH_RETINANET;
            else if (!strcmp(v, "upernet")) cfg.task = BENCH_UPERNET;
            else if (!strcmp(v, "cascade")) cfg.task = BENCH_CASCADE;
            else {
                fprintf(stderr, "deltabench bench: unknown task '%s' (cls, retinanet, upernet or cascade)\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--backbone") && v) snprintf(cfg.backbone, sizeof cfg.backbone, "%s", argv[++i]);
        else if (!strcmp(a, "--methods") && v) methods = argv[++i];
        else if (!strcmp(a, "--drop-path") && v) cfg.drop_path = (float)atof(argv[++i]);
        else if (!strcmp(a, "--seed") && v) cfg.seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "--peer-python") && v) py = argv[++i];
        else if (!strcmp(a, "--no-peer")) peer = 0;
        else if (!strcmp(a, "--no-plan")) cfg.plan = 0;
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--ranks")) cfg.ranks = 1;
        else {
            fprintf(stderr, "deltabench bench: unknown option '%s'%s\n", a, v || a[0] != '-' ? "" : " (or its value is missing)");
            bench_usage(stderr);
            return 2;
        }
    }
    int casc = cfg.task == BENCH_CASCADE, det = cfg.task == BENCH_RETINANET || casc, seg = cfg.task == BENCH_UPERNET,
        dense = det || seg;
    if (!det && (cfg.neck_channels > 0 || cfg.boxes > 0)) {
        fprintf(stderr, "deltabench bench: --neck-channels and --boxes are options of --task retinanet and --task cascade\n");
        return 2;
    }
    if (!dense && cfg.head_channels > 0) {
        fprintf(stderr, "deltabench bench: --head-channels is an option of --task retinanet, upernet and cascade\n");
        return 2;
    }
    if (!casc && cfg.fc_channels > 0) {
        fprintf(stderr, "deltabench bench: --fc-channels is an option of --task cascade\n");
        return 2;
    }
    if (!det && cfg.width > 0 && cfg.width != cfg.size) {
        fprintf(stderr, "deltabench bench: WxH images are an option of --task retinanet and --task cascade (got %dx%d)\n", cfg.width,
                cfg.size);
        return 2;
    }
    if (!seg && cfg.aux_channels > 0) {
        fprintf(stderr, "deltabench bench: --aux-channels is an option of --task upernet\n");
        return 2;
    }
    if (cfg.size < 0) {
        cfg.size = dense ? 512 : 224;
        if (casc) cfg.width = 800; /* 800x512 (W x H) */
    }
    if (cfg.width <= 0) cfg.width = cfg.size;
    if (cfg.batch < 0) cfg.batch = casc ? 1 : dense ? 2 : 8;
    if (cfg.classes < 0) cfg.classes = casc ? 80 : det ? 20 : seg ? 150 : 100;
    if (cfg.neck_channels < 0) cfg.neck_channels = 256;
    if (cfg.head_channels < 0) cfg.head_channels = seg ? 512 : 256;
    if (cfg.fc_channels < 0) cfg.fc_channels = 1024;
    if (cfg.aux_channels < 0) cfg.aux_channels = 256;
    if (cfg.boxes < 0) cfg.boxes = 3;
    if (dense && (cfg.size < 32 || cfg.width < 32)) {
        fprintf(stderr, "deltabench bench: --task %s needs --image-size >= 32 (got %dx%d)\n", casc ? "cascade" : det ? "retinanet" : "upernet",
                cfg.width, cfg.size);
        return 2;
    }
    if (seg && cfg.classes > 255) {
        fprintf(stderr, "deltabench bench: --task upernet takes at most 255 classes (labels are 8-bit, 255 ignored; got %d)\n", cfg.classes);
        return 2;
    }
    if (seg && cfg.batch < 2 && !cfg.ranks) {
        fprintf(stderr, "deltabench bench: --task upernet needs --batch >= 2 (BatchNorm in the heads; got %d)\n", cfg.batch);
        return 2;
    }
    if (cfg.steps > 64) cfg.steps = 64;
    /* the method list */
    const char *list[32];
    int n = 0;
    char *copy = xstrdup(methods);
    if (!strcmp(methods, "all"))
        for (int i = 0; i < method_count; i++) list[n++] = method_table[i]->name;
    else
        for (char *t = strtok(copy, ","); t && n < 32; t = strtok(NULL, ",")) {
            if (!method_find(t)) {
                fprintf(stderr, "deltabench bench: unknown method '%s' (see deltabench methods)\n", t);
                return 2;
            }
            list[n++] = t;
        }
    if (!n) {
        fprintf(stderr, "deltabench bench: --methods '%s' names no method\n", methods);
        return 2;
    }
    const char *task_name = casc ? "cascade" : det ? "retinanet" : seg ? "upernet" : "cls";
    if (cfg.ranks) return bench_ranks(&cfg, list, n, task_name, json);
    char host[256] = "unknown";
    gethostname(host, sizeof host);
    fprintf(stderr, "bench: measuring the sgemm peak (2048^3, %d threads, deltabench's gemm and OpenBLAS)...\n", cfg.threads);
    bench_result pk;
    if (run_child(&cfg, NULL, &pk)) {
        fprintf(stderr, "deltabench bench: %s\n", err_msg());
        return 1;
    }
    double peak = pk.gflops, blas_peak = pk.blas_gflops;
    int avx512 = backend_cpu_gemm_avx512(-1);
    const char *kernel = avx512 ? "its AVX-512 kernel" : "OpenBLAS";
    const char *coretype = getenv("OPENBLAS_CORETYPE");
    bench_result *res = xcalloc(n, sizeof *res);
    for (int i = 0; i < n; i++) {
        fprintf(stderr, "bench: [%d/%d] %s %s: %d+%d steps of batch %d at %dx%d px...\n", i + 1, n, task_name, list[i], cfg.warmup,
                cfg.steps, cfg.batch, cfg.width, cfg.size);
        if (run_child(&cfg, list[i], &res[i])) {
            fprintf(stderr, "deltabench bench: %s\n", err_msg());
            return 1;
        }
        fprintf(stderr, "bench:   median %.3f s/step, %.2f img/s, peak RSS %.0f MiB, loss %.4f\n", res[i].median_s,
                res[i].images_per_s, res[i].peak_rss / 1048576.0, res[i].final_loss);
    }
    /* the peer gets the same list */
    char mlist[1024] = "";
    for (int i = 0; i < n; i++) snprintf(mlist + strlen(mlist), sizeof mlist - strlen(mlist), "%s%s", i ? "," : "", list[i]);
    cJSON *pj = peer ? run_peer(py, &cfg, mlist) : NULL;
    const cJSON *tv = pj ? cJSON_GetObjectItem(pj, "torch_version") : NULL;
    /* retinanet, upernet: the two engines must train the same parameters */
    int mismatch = 0;
    if (dense && pj)
        for (int i = 0; i < n; i++) {
            double pt = jnum(peer_result(pj, list[i]), "trainable_params");
            if (pt != (double)res[i].trainable) {
                fprintf(stderr, "deltabench bench: %s: trainable parameters differ: deltabench %lld, PyTorch peer %.0f\n", list[i],
                        (long long)res[i].trainable, pt);
                mismatch = 1;
            }
        }
    if (json) {
        printf("{\"schema\": \"deltabench-bench/1\", \"task\": \"%s\", \"commit\": \"%s\", \"host\": \"%s\", \"sgemm_peak_gflops\": %.1f, "
               "\"gemm_kernel\": \"%s\", \"openblas_sgemm_peak_gflops\": %.1f, \"openblas_coretype\": \"%s\",\n",
               task_name, build_commit(), host, peak, avx512 ? "avx512" : "openblas", blas_peak, coretype ? coretype : "");
        printf(" \"config\": {\"backbone\": \"%s\", \"size\": %d, \"batch\": %d, \"threads\": %d, \"steps\": %d, \"warmup\": %d, "
               "\"classes\": %d, \"drop_path\": %g, \"seed\": %llu",
               cfg.backbone, cfg.size, cfg.batch, cfg.threads, cfg.steps, cfg.warmup, cfg.classes, cfg.drop_path,
               (unsigned long long)cfg.seed);
        if (det) printf(", \"width\": %d, \"neck_channels\": %d, \"head_channels\": %d, \"boxes\": %d", cfg.width, cfg.neck_channels,
                        cfg.head_channels, cfg.boxes);
        if (casc) printf(", \"fc_channels\": %d", cfg.fc_channels);
        if (seg) printf(", \"head_channels\": %d, \"aux_channels\": %d", cfg.head_channels, cfg.aux_channels);
        printf("},\n \"peer\": %s%s%s,\n \"results\": [\n", cJSON_IsString(tv) ? "\"pytorch " : "null",
               cJSON_IsString(tv) ? tv->valuestring : "", cJSON_IsString(tv) ? "\"" : "");
        const char *part2[2] = {seg ? "loss_decode" : "loss_cls", seg ? "loss_aux" : "loss_bbox"};
        const char *const *part = casc ? cascade_loss_names : part2;
        int np = casc ? CASCADE_LOSS_N : 2;
        for (int i = 0; i < n; i++) {
            const cJSON *p = peer_result(pj, list[i]);
            double ps = jnum(p, "median_step_s");
            printf("  {\"method\": \"%s\", \"median_step_s\": %.4f, \"min_step_s\": %.4f, \"images_per_s\": %.3f, \"gflop_per_step\": %.2f, "
                   "\"gflops\": %.2f, \"peak_rss_bytes\": %zu, \"arena_bytes\": %zu, \"arena_first_step_bytes\": %zu, "
                   "\"plan_bytes\": %zu, \"plan_live_peak_bytes\": %zu, \"trainable\": %lld, \"final_loss\": %.6g",
                   list[i], res[i].median_s, res[i].min_s, res[i].images_per_s, res[i].gflop_per_step, res[i].gflops, res[i].peak_rss,
                   res[i].arena_bytes, res[i].arena_first_bytes, res[i].plan_bytes, res[i].plan_live_peak,
                   (long long)res[i].trainable, res[i].final_loss);
            for (int k = 0; k < np; k++) printf(", \"%s\": %.6g", part[k], res[i].loss_parts[k]);
            for (int k = 0; k < np; k++) printf(", \"peer_%s\": %.6g", part[k], jnum(p, part[k]));
            printf(", \"peer_median_step_s\": %.4f, \"peer_min_step_s\": %.4f, \"peer_peak_rss_bytes\": %.0f, \"peer_trainable\": %.0f, "
                   "\"peer_final_loss\": %.6g, \"speedup_vs_peer\": %.3f}%s\n",
                   ps, jnum(p, "min_step_s"), jnum(p, "peak_rss_bytes"), jnum(p, "trainable_params"), jnum(p, "final_loss"),
                   ps > 0 ? ps / res[i].median_s : -1, i + 1 < n ? "," : "");
        }
        printf(" ]}\n");
    } else {
        if (casc)
            printf("deltabench bench --task cascade: %s + FPN %d (P6 by max pool) + RPN + 3 cascade stages (RoIAlign 7, %d convs %d + fc %d, "
                   "BN), %d classes, %dx%d px, batch %d (%d boxes per image), %d threads, median of %d steps (after %d warm-up), no memory "
                   "plan, host %s, commit %s\n",
                   cfg.backbone, cfg.neck_channels, 4, cfg.head_channels, cfg.fc_channels, cfg.classes, cfg.width, cfg.size, cfg.batch,
                   cfg.boxes, cfg.threads, cfg.steps, cfg.warmup, host, build_commit());
        else if (det)
            printf("deltabench bench --task retinanet: %s + FPN %d + RetinaHead %d, %d classes, %dx%d px, batch %d (%d boxes per image), "
                   "%d threads, median of %d steps (after %d warm-up), host %s, commit %s\n",
                   cfg.backbone, cfg.neck_channels, cfg.head_channels, cfg.classes, cfg.width, cfg.size, cfg.batch, cfg.boxes, cfg.threads,
                   cfg.steps, cfg.warmup, host, build_commit());
        else if (seg)
            printf("deltabench bench --task upernet: %s + UPerHead %d (PPM 1,2,3,6) + FCN head %d on stage 2 (x 0.4), BN, %d classes "
                   "(ignore 255), %d px, batch %d, %d threads, median of %d steps (after %d warm-up), host %s, commit %s\n",
                   cfg.backbone, cfg.head_channels, cfg.aux_channels, cfg.classes, cfg.size, cfg.batch, cfg.threads, cfg.steps,
                   cfg.warmup, host, build_commit());
        else
            printf("deltabench bench: %s, %d px, batch %d, %d threads, median of %d steps (after %d warm-up), host %s, commit %s\n",
                   cfg.backbone, cfg.size, cfg.batch, cfg.threads, cfg.steps, cfg.warmup, host, build_commit());
        printf("machine sgemm peak (2048^3, %d threads): %.1f GFLOP/s through deltabench's gemm (%s), %.1f through "
               "OpenBLAS%s%s%s\n",
               cfg.threads, peak, kernel, blas_peak, coretype ? " (OPENBLAS_CORETYPE=" : "", coretype ? coretype : "",
               coretype ? ")" : "");
        printf("peer: %s\n\n", pj ? (cJSON_IsString(tv) ? tv->valuestring : "pytorch") : "none");
        if (dense) print_dense_table(&cfg, list, n, res, pj, peak);
        else print_cls_table(&cfg, list, n, res, pj, peak);
    }
    cJSON_Delete(pj);
    free(res);
    free(copy);
    if (mismatch) {
        fprintf(stderr, "deltabench bench: FAILED: the PyTorch peer trains a different number of parameters (above)\n");
        return 1;
    }
    return 0;
}
