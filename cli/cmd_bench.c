/* cmd_bench.c - `deltabench bench`: one training step (forward, backward, AdamW) per method, each
 * method in its own child process (so its peak memory is its own), against the PyTorch peer
 * (experiments/bench/torch_peer.py on Debian's python3-torch) on the same machine in the same run. */
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
#include "../core/common.h"
#include "../experiments/bench/bench.h"
#include "../methods/method.h"
#include "commands.h"

static void bench_usage(FILE *f) {
    fprintf(f,
            "usage: deltabench bench [options]\n\n"
            "Times one classification training step (forward, backward, AdamW) per tuning method and, where\n"
            "Debian's python3-torch is installed, the same step in PyTorch (experiments/bench/torch_peer.py),\n"
            "printing the speed ratio. Also measures the machine's sgemm peak for context.\n\n"
            "  --backbone NAME   swin-t|swin-s|swin-b|swin-l|tiny:... (default swin-t)\n"
            "  --size N          square input side (default 224)\n"
            "  --batch N         batch size (default 8)\n"
            "  --threads N       threads for OpenMP/OpenBLAS and torch (default 2)\n"
            "  --steps N         timed steps per method, median reported (default 5)\n"
            "  --warmup N        untimed steps first, for both engines (default 3: PyTorch's first steps\n"
            "                    run up to 2x slower while its allocator warms up)\n"
            "  --methods LIST    comma-separated methods or 'all' (default all)\n"
            "  --classes N       head classes (default 100)\n"
            "  --drop-path F     drop-path rate (default 0.2; module dropout is 0.1 as in the reference)\n"
            "  --no-peer         skip the PyTorch peer\n"
            "  --no-plan         keep every activation until the step ends (bump arena, no memory plan)\n"
            "  --profile N       also print, per method, the N ops that took longest in the timed steps\n"
            "                    (forward and backward ms per step; time between op starts, so\n"
            "                    the step's own glue is charged to the op before it)\n"
            "  --peer-python P   interpreter for the peer (default /usr/bin/python3)\n"
            "  --json            machine-readable output on stdout\n");
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

static char *peer_script(void) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return NULL;
    exe[n] = 0;
    char *dir = dirname(exe); /* build/ */
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/../experiments/bench/torch_peer.py", dir);
    return file_exists(path) ? xstrdup(path) : NULL;
}

/* run the peer and return its parsed JSON (NULL if unavailable) */
static cJSON *run_peer(const char *py, const bench_cfg *cfg, const char *methods) {
    char *script = peer_script();
    if (!script) {
        fprintf(stderr, "bench: peer script experiments/bench/torch_peer.py not found next to the build\n");
        return NULL;
    }
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s -c 'import torch' 2>/dev/null", py);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench: %s has no torch (install Debian's python3-torch for the PyTorch comparison)\n", py);
        free(script);
        return NULL;
    }
    snprintf(cmd, sizeof cmd,
             "%s %s --backbone %s --size %d --batch %d --threads %d --steps %d --warmup %d --methods %s --classes %d "
             "--drop-path-rate %g --dropout 0.1 --seed %llu --json",
             py, script, cfg->backbone, cfg->size, cfg->batch, cfg->threads, cfg->steps, cfg->warmup, methods, cfg->classes,
             cfg->drop_path, (unsigned long long)cfg->seed);
    free(script);
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

int cmd_bench(int argc, char **argv) {
    bench_cfg cfg = {.size = 224, .batch = 8, .threads = 2, .steps = 5, .warmup = 3, .classes = 100, .drop_path = 0.2f, .seed = 0,
                     .plan = 1};
    snprintf(cfg.backbone, sizeof cfg.backbone, "swin-t");
    const char *methods = "all", *py = "/usr/bin/python3";
    int json = 0, peer = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            bench_usage(stdout);
            return 0;
        }
#define INTOPT(name, field)                                                                                            \
    if (!strcmp(a, name) && v) {                                                                                       \
        cfg.field = atoi(v);                                                                                           \
        i++;                                                                                                           \
        if (cfg.field <= 0 && strcmp(name, "--warmup")) {                                                              \
            fprintf(stderr, "deltabench bench: %s needs a positive number\n", name);                                  \
            return 2;                                                                                                  \
        }                                                                                                              \
        continue;                                                                                                      \
    }
        INTOPT("--size", size) INTOPT("--batch", batch) INTOPT("--threads", threads) INTOPT("--steps", steps)
        INTOPT("--warmup", warmup) INTOPT("--classes", classes) INTOPT("--profile", profile)
#undef INTOPT
        if (!strcmp(a, "--backbone") && v) snprintf(cfg.backbone, sizeof cfg.backbone, "%s", argv[++i]);
        else if (!strcmp(a, "--methods") && v) methods = argv[++i];
        else if (!strcmp(a, "--drop-path") && v) cfg.drop_path = (float)atof(argv[++i]);
        else if (!strcmp(a, "--peer-python") && v) py = argv[++i];
        else if (!strcmp(a, "--no-peer")) peer = 0;
        else if (!strcmp(a, "--no-plan")) cfg.plan = 0;
        else if (!strcmp(a, "--json")) json = 1;
        else {
            fprintf(stderr, "deltabench bench: unknown option '%s'\n", a);
            bench_usage(stderr);
            return 2;
        }
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
        fprintf(stderr, "bench: [%d/%d] %s: %d+%d steps of batch %d at %d px...\n", i + 1, n, list[i], cfg.warmup, cfg.steps,
                cfg.batch, cfg.size);
        if (run_child(&cfg, list[i], &res[i])) {
            fprintf(stderr, "deltabench bench: %s\n", err_msg());
            return 1;
        }
        fprintf(stderr, "bench:   median %.3f s/step, %.2f img/s, peak RSS %.0f MiB\n", res[i].median_s, res[i].images_per_s,
                res[i].peak_rss / 1048576.0);
    }
    /* the peer gets the same list */
    char mlist[1024] = "";
    for (int i = 0; i < n; i++) snprintf(mlist + strlen(mlist), sizeof mlist - strlen(mlist), "%s%s", i ? "," : "", list[i]);
    cJSON *pj = peer ? run_peer(py, &cfg, mlist) : NULL;
    const cJSON *tv = pj ? cJSON_GetObjectItem(pj, "torch_version") : NULL;
    if (json) {
        printf("{\"schema\": \"deltabench-bench/1\", \"commit\": \"%s\", \"host\": \"%s\", \"sgemm_peak_gflops\": %.1f, "
               "\"gemm_kernel\": \"%s\", \"openblas_sgemm_peak_gflops\": %.1f, \"openblas_coretype\": \"%s\",\n",
               build_commit(), host, peak, avx512 ? "avx512" : "openblas", blas_peak,
               coretype ? coretype : "");
        printf(" \"config\": {\"backbone\": \"%s\", \"size\": %d, \"batch\": %d, \"threads\": %d, \"steps\": %d, \"warmup\": %d, "
               "\"classes\": %d, \"drop_path\": %g, \"seed\": %llu},\n",
               cfg.backbone, cfg.size, cfg.batch, cfg.threads, cfg.steps, cfg.warmup, cfg.classes, cfg.drop_path,
               (unsigned long long)cfg.seed);
        printf(" \"peer\": %s%s%s,\n \"results\": [\n", cJSON_IsString(tv) ? "\"pytorch " : "null", cJSON_IsString(tv) ? tv->valuestring : "",
               cJSON_IsString(tv) ? "\"" : "");
        for (int i = 0; i < n; i++) {
            const cJSON *p = peer_result(pj, list[i]);
            double ps = jnum(p, "median_step_s");
            printf("  {\"method\": \"%s\", \"median_step_s\": %.4f, \"images_per_s\": %.3f, \"gflop_per_step\": %.2f, \"gflops\": %.2f, "
                   "\"peak_rss_bytes\": %zu, \"arena_bytes\": %zu, \"arena_first_step_bytes\": %zu, \"plan_bytes\": %zu, \"plan_live_peak_bytes\": %zu, \"trainable\": %lld, \"peer_median_step_s\": %.4f, "
                   "\"peer_peak_rss_bytes\": %.0f, \"speedup_vs_peer\": %.3f}%s\n",
                   list[i], res[i].median_s, res[i].images_per_s, res[i].gflop_per_step, res[i].gflops, res[i].peak_rss,
                   res[i].arena_bytes, res[i].arena_first_bytes, res[i].plan_bytes, res[i].plan_live_peak, (long long)res[i].trainable, ps, jnum(p, "peak_rss_bytes"), ps > 0 ? ps / res[i].median_s : -1,
                   i + 1 < n ? "," : "");
        }
        printf(" ]}\n");
    } else {
        printf("deltabench bench: %s, %d px, batch %d, %d threads, median of %d steps (after %d warm-up), host %s, commit %s\n",
               cfg.backbone, cfg.size, cfg.batch, cfg.threads, cfg.steps, cfg.warmup, host, build_commit());
        printf("machine sgemm peak (2048^3, %d threads): %.1f GFLOP/s through deltabench's gemm (%s), %.1f through "
               "OpenBLAS%s%s%s\n",
               cfg.threads, peak, kernel, blas_peak, coretype ? " (OPENBLAS_CORETYPE=" : "", coretype ? coretype : "",
               coretype ? ")" : "");
        printf("peer: %s\n\n", pj ? (cJSON_IsString(tv) ? tv->valuestring : "pytorch") : "none");
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
    cJSON_Delete(pj);
    free(res);
    free(copy);
    return 0;
}
