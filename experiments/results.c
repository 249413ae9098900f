/* results.c - the results HDF5 file: atomic add/replace of runs, readers, paper-number CSV (see results.h
 * and results/README.md for the layout). */
#include "results.h"

#include <cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "../core/common.h"
#include "../core/h5io.h"
#include "../core/sha256.h"

/* ------------------------------------------------------------------------------------------------ */
/* task descriptors                                                                                 */

static const results_task_desc tasks[] = {
    {
        .task = "cls",
        .paper_task = "classification",
        .title = "Image classification",
        .n_datasets = 3,
        .datasets = {{"flowers102", "Flowers102", "Flowers102(Swin-L)"},
                     {"oxford_pets", "OxfordPets", "OxfordPets(Swin-L)"},
                     {"voc2007", "VOC2007", "VOC2007(Swin-L)"}},
        .paper_average = "average3(Swin-L)",
        /* The paper's row order (tables 1-4): no extra structure, then extra structure, then Mona. */
        .n_methods = 10,
        .methods = {{"full", "Full", "Full"},
                    {"fixed", "Fixed", "Fixed"},
                    {"bitfit", "BitFit", "BitFit"},
                    {"norm_tuning", "NormTuning", "NormTuning"},
                    {"partial_1", "Partial-1", "Partial-1"},
                    {"adapter", "Adapter", "Adapter"},
                    {"lora", "LoRA", "LoRA"},
                    {"adaptformer", "AdaptFormer", "AdaptFormer"},
                    {"lorand", "LoRand", "LoRand"},
                    {"mona", "Mona", "Mona"}},
        .n_metrics = 2,
        .metrics = {{"top1", "top-1 (%)", "top1"}, {"top5", "top-5 (%)", "top5"}},
    },
    {
        /* Table 2's Pascal VOC column: RetinaNet, VOC 07+12 trainval, VOC2007 test, mmdet's 11-point mAP@0.5 */
        .task = "voc",
        .paper_task = "object_detection",
        .title = "Object detection (Pascal VOC, RetinaNet)",
        .n_datasets = 1,
        .datasets = {{"voc0712", "VOC07+12", "PascalVOC0712(Swin-L;RetinaNet)"}},
        .paper_average = NULL,
        .n_methods = 10,
        .methods = {{"full", "Full", "Full"},
                    {"fixed", "Fixed", "Fixed"},
                    {"bitfit", "BitFit", "BitFit"},
                    {"norm_tuning", "NormTuning", "NormTuning"},
                    {"partial_1", "Partial-1", "Partial-1"},
                    {"adapter", "Adapter", "Adapter"},
                    {"lora", "LoRA", "LoRA"},
                    {"adaptformer", "AdaptFormer", "AdaptFormer"},
                    {"lorand", "LoRand", "LoRand"},
                    {"mona", "Mona", "Mona"}},
        .n_metrics = 1,
        .metrics = {{"mAP", "mAP@0.5 (%)", "APbox"}},
    },
    {
        /* Table 2's ADE20K column: UperNet, 160k iterations, single-scale mIoU on the validation set */
        .task = "ade20k",
        .paper_task = "semantic_segmentation",
        .title = "Semantic segmentation (ADE20K, UperNet)",
        .n_datasets = 1,
        .datasets = {{"ade20k", "ADE20K", "ADE20K(Swin-L;UperNet)"}},
        .paper_average = NULL,
        .n_methods = 10,
        .methods = {{"full", "Full", "Full"},
                    {"fixed", "Fixed", "Fixed"},
                    {"bitfit", "BitFit", "BitFit"},
                    {"norm_tuning", "NormTuning", "NormTuning"},
                    {"partial_1", "Partial-1", "Partial-1"},
                    {"adapter", "Adapter", "Adapter"},
                    {"lora", "LoRA", "LoRA"},
                    {"adaptformer", "AdaptFormer", "AdaptFormer"},
                    {"lorand", "LoRand", "LoRand"},
                    {"mona", "Mona", "Mona"}},
        .n_metrics = 3,
        .metrics = {{"mIoU", "mIoU (%)", "mIoU"}, {"mAcc", "mAcc (%)", "mAcc"}, {"aAcc", "aAcc (%)", "aAcc"}},
    },
    {
        /* Table 1: COCO instance segmentation, Cascade Mask R-CNN, Swin-B; box and mask numbers as mmdet logs them */
        .task = "coco",
        .paper_task = "instance_segmentation",
        .title = "Instance segmentation (COCO, Cascade Mask R-CNN)",
        .n_datasets = 1,
        .datasets = {{"coco", "COCO", "COCO(Swin-B;CascadeMaskRCNN)"}},
        .paper_average = NULL,
        .n_methods = 10,
        .methods = {{"full", "Full", "Full"},
                    {"fixed", "Fixed", "Fixed"},
                    {"bitfit", "BitFit", "BitFit"},
                    {"norm_tuning", "NormTuning", "NormTuning"},
                    {"partial_1", "Partial-1", "Partial-1"},
                    {"adapter", "Adapter", "Adapter"},
                    {"lora", "LoRA", "LoRA"},
                    {"adaptformer", "AdaptFormer", "AdaptFormer"},
                    {"lorand", "LoRand", "LoRand"},
                    {"mona", "Mona", "Mona"}},
        .n_metrics = 12,
        .metrics = {{"bbox_mAP", "AP box (%)", "APbox"},
                    {"bbox_mAP_50", "AP50 box (%)", "APbox50"},
                    {"bbox_mAP_75", "AP75 box (%)", "APbox75"},
                    {"bbox_mAP_s", "APs box (%)", "APboxS"},
                    {"bbox_mAP_m", "APm box (%)", "APboxM"},
                    {"bbox_mAP_l", "APl box (%)", "APboxL"},
                    {"segm_mAP", "AP mask (%)", "APmask"},
                    {"segm_mAP_50", "AP50 mask (%)", "APmask50"},
                    {"segm_mAP_75", "AP75 mask (%)", "APmask75"},
                    {"segm_mAP_s", "APs mask (%)", "APmaskS"},
                    {"segm_mAP_m", "APm mask (%)", "APmaskM"},
                    {"segm_mAP_l", "APl mask (%)", "APmaskL"}},
    },
    {
        /* Tables 5-7: the paper's VOC ablations (Mona's width, the backbone size, scaled LayerNorm and the kernels),
         * RetinaNet as in the voc task. Their rows are not fixed methods but (backbone, method spec) runs chosen by the
         * recipe; the driver stores them in /ablations/layout and the tables follow it (report_ablations.c). */
        .task = "voc_ablations",
        .paper_task = "ablation_dim,ablation_modelsize,ablation_design",
        .title = "Pascal VOC ablations (RetinaNet): Mona's width, backbone size, design",
        .n_datasets = 1,
        .datasets = {{"voc0712", "VOC07+12", "PascalVOC(Swin-L;RetinaNet)"}},
        .paper_average = NULL,
        .n_methods = 0,
        .n_metrics = 1,
        .metrics = {{"mAP", "mAP@0.5 (%)", "APbox"}},
    },
};

const results_task_desc *results_task(const char *task) {
    int n = (int)(sizeof tasks / sizeof tasks[0]);
    for (int i = 0; i < n; i++)
        if (task && !strcmp(task, tasks[i].task)) return &tasks[i];
    char known[256] = "";
    for (int i = 0; i < n; i++) {
        if (i) strncat(known, ", ", sizeof known - strlen(known) - 1);
        strncat(known, tasks[i].task, sizeof known - strlen(known) - 1);
    }
    err_set("unknown task '%s' (known: %s)", task ? task : "(null)", known);
    return NULL;
}

/* ------------------------------------------------------------------------------------------------ */
/* small helpers                                                                                    */

void results_now_utc(char buf[32]) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void results_cpu_model(char *buf, int n) {
    snprintf(buf, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "model name", 10)) {
            char *c = strchr(line, ':');
            if (c) {
                c++;
                while (*c == ' ' || *c == '\t') c++;
                c[strcspn(c, "\n")] = 0;
                snprintf(buf, n, "%s", c);
            }
            break;
        }
    }
    fclose(f);
}

static void host_name(char *buf, int n) {
    if (gethostname(buf, (size_t)n) != 0) snprintf(buf, n, "unknown");
    buf[n - 1] = 0;
}

static int valid_key(const char *s) {
    if (!s || !*s || !strcmp(s, ".") || !strcmp(s, "..")) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.') return 0;
    return 1;
}

static const char *nz(const char *s) { return s ? s : ""; }

/* Exclusive lock on the directory holding path (released by close). Returns fd or -1. */
static int lock_dir(const char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    if (!*dir) snprintf(dir, sizeof dir, "/");
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return err_set("%s: cannot open directory %s: %s", path, dir, strerror(errno));
    while (flock(fd, LOCK_EX) != 0) {
        if (errno == EINTR) continue;
        int e = errno;
        close(fd);
        return err_set("%s: cannot lock directory %s: %s", path, dir, strerror(e));
    }
    return fd;
}

static void unlock_dir(int fd) {
    if (fd >= 0) {
        flock(fd, LOCK_UN);
        close(fd);
    }
}

static int set_str(hid_t f, const char *obj, const char *name, const char *v) {
    return h5_set_attr_str(f, obj, name, nz(v));
}
static int set_i64(hid_t f, const char *obj, const char *name, int64_t v) { return h5_set_attr_i64(f, obj, name, &v, 1); }
static int set_f64(hid_t f, const char *obj, const char *name, double v) { return h5_set_attr_f64(f, obj, name, &v, 1); }

/* ------------------------------------------------------------------------------------------------ */
/* paper CSV                                                                                        */

void results_paper_free(results_paper *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++) {
        results_paper_row *r = &p->rows[i];
        free(r->task);
        free(r->dataset);
        free(r->metric);
        free(r->method);
        free(r->source);
    }
    free(p->rows);
    p->rows = NULL;
    p->n = 0;
}

/* Split one CSV record starting at *pp (RFC 4180 quoting; a quoted field may span lines). Fields are
 * malloc'd into fields[] (at most maxf). Returns the field count, or -1 on an unterminated quote. *pp is
 * advanced past the record's line end; *lines counts the newlines consumed. */
static int csv_record(const char **pp, char **fields, int maxf, int *lines) {
    const char *p = *pp;
    int nf = 0;
    size_t cap = 64, len = 0;
    char *cur = xmalloc(cap);
    int quoted = 0, done = 0;
    while (!done) {
        char c = *p;
        if (quoted) {
            if (!c) {
                free(cur);
                for (int i = 0; i < nf; i++) free(fields[i]);
                return -1;
            }
            if (c == '"') {
                if (p[1] == '"') {
                    c = '"';
                    p++;
                } else {
                    quoted = 0;
                    p++;
                    continue;
                }
            } else if (c == '\n')
                (*lines)++;
        } else {
            if (c == '"') {
                quoted = 1;
                p++;
                continue;
            }
            if (c == ',' || c == '\n' || c == '\r' || !c) {
                cur[len] = 0;
                if (nf < maxf) fields[nf] = cur;
                else free(cur);
                nf++;
                cur = NULL;
                if (c == ',') {
                    cap = 64;
                    len = 0;
                    cur = xmalloc(cap);
                    p++;
                    continue;
                }
                if (c == '\r') p++;
                if (*p == '\n') {
                    p++;
                    (*lines)++;
                }
                done = 1;
                continue;
            }
        }
        if (len + 2 > cap) cur = xrealloc(cur, cap *= 2);
        cur[len++] = c;
        p++;
    }
    *pp = p;
    return nf;
}

static char *trim_dup(const char *s) {
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    char *r = xmalloc(n + 1);
    memcpy(r, s, n);
    r[n] = 0;
    return r;
}

/* whether name is one of the comma-separated names of list */
static int name_in_list(const char *list, const char *name) {
    size_t k = strlen(name);
    for (const char *p = list; p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == k && !strncmp(p, name, k)) return 1;
        p = e ? e + 1 : NULL;
    }
    return 0;
}

int results_paper_parse_csv(const char *csv_path, const char *paper_task, results_paper *out) {
    memset(out, 0, sizeof *out);
    char *text = file_read_all(csv_path, NULL);
    if (!text) return err_prefix("paper numbers");
    static const char *cols[7] = {"task", "dataset", "metric", "method", "value", "trainable_params_pct", "source"};
    int idx[7];
    const char *p = text;
    int line = 1, lines = 0;
    char *f[32];
    int nf = csv_record(&p, f, 32, &lines);
    if (nf <= 0) {
        free(text);
        return err_set("%s:1: missing header line", csv_path);
    }
    for (int c = 0; c < 7; c++) {
        idx[c] = -1;
        for (int i = 0; i < nf && i < 32; i++) {
            char *t = trim_dup(f[i]);
            if (!strcmp(t, cols[c])) idx[c] = i;
            free(t);
        }
        if (idx[c] < 0) {
            for (int i = 0; i < nf && i < 32; i++) free(f[i]);
            free(text);
            return err_set("%s:1: header has no column '%s' (expected task,dataset,metric,method,value,"
                           "trainable_params_pct,source)", csv_path, cols[c]);
        }
    }
    for (int i = 0; i < nf && i < 32; i++) free(f[i]);
    line += lines;
    int cap = 0;
    while (*p) {
        int start = line;
        lines = 0;
        nf = csv_record(&p, f, 32, &lines);
        line += lines;
        if (nf < 0) {
            results_paper_free(out);
            free(text);
            return err_set("%s:%d: unterminated quoted field", csv_path, start);
        }
        if (nf == 1 && !*f[0]) { /* blank line */
            free(f[0]);
            continue;
        }
        int bad = nf < 7 || nf > 32;
        if (bad) {
            for (int i = 0; i < nf && i < 32; i++) free(f[i]);
            results_paper_free(out);
            free(text);
            return err_set("%s:%d: %d fields, expected 7", csv_path, start, nf);
        }
        char *task = trim_dup(f[idx[0]]);
        if (paper_task && !name_in_list(paper_task, task)) {
            free(task);
            for (int i = 0; i < nf; i++) free(f[i]);
            continue;
        }
        results_paper_row r = {0};
        r.task = task;
        r.dataset = trim_dup(f[idx[1]]);
        r.metric = trim_dup(f[idx[2]]);
        r.method = trim_dup(f[idx[3]]);
        r.source = trim_dup(f[idx[6]]);
        r.line = start;
        char *v = trim_dup(f[idx[4]]), *pct = trim_dup(f[idx[5]]);
        char *end;
        errno = 0;
        r.value = strtod(v, &end);
        int vbad = !*v || *end || errno;
        r.trainable_pct = NAN;
        int pbad = 0;
        if (*pct) {
            errno = 0;
            r.trainable_pct = strtod(pct, &end);
            pbad = *end || errno;
        }
        for (int i = 0; i < nf; i++) free(f[i]);
        if (vbad || pbad) {
            int e = err_set("%s:%d: %s '%s' is not a number", csv_path, start, vbad ? "value" : "trainable_params_pct",
                            vbad ? v : pct);
            free(v);
            free(pct);
            results_paper_row *rr = &r;
            free(rr->task);
            free(rr->dataset);
            free(rr->metric);
            free(rr->method);
            free(rr->source);
            results_paper_free(out);
            free(text);
            return e;
        }
        free(v);
        free(pct);
        if (out->n == cap) out->rows = xrealloc(out->rows, sizeof(results_paper_row) * (size_t)(cap = cap ? 2 * cap : 64));
        out->rows[out->n++] = r;
    }
    free(text);
    return 0;
}

static int contains_ci(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (!strncasecmp(hay, needle, n)) return 1;
    return 0;
}

int results_paper_find(const results_paper *p, const char *dataset, const char *metric, const char *method) {
    for (int i = 0; i < p->n; i++) {
        const results_paper_row *r = &p->rows[i];
        if (!strcmp(r->dataset, dataset) && !strcmp(r->metric, metric) && !strcmp(r->method, method) &&
            !contains_ci(r->source, "unreliable"))
            return i;
    }
    return -1;
}

static int write_paper(hid_t f, const results_paper *p, const char *csv, const char *csv_sha, const char *paper_task) {
    if (h5_ensure_group(f, "/paper")) return -1;
    int n = p->n;
    const char **tk = xcalloc((size_t)n + 1, sizeof(char *));
    for (int i = 0; i < n; i++) tk[i] = p->rows[i].task ? p->rows[i].task : "";
    int rt = h5_write_strings(f, "/paper/task", n, tk); /* per row: a file may hold the rows of several paper tasks */
    free(tk);
    if (rt) return -1;
    const char **ds = xcalloc((size_t)n + 1, sizeof(char *)), **me = xcalloc((size_t)n + 1, sizeof(char *)),
               **mt = xcalloc((size_t)n + 1, sizeof(char *)), **so = xcalloc((size_t)n + 1, sizeof(char *));
    double *v = xcalloc((size_t)n + 1, sizeof(double)), *pc = xcalloc((size_t)n + 1, sizeof(double));
    int64_t *ln = xcalloc((size_t)n + 1, sizeof(int64_t));
    for (int i = 0; i < n; i++) {
        ds[i] = p->rows[i].dataset;
        mt[i] = p->rows[i].metric;
        me[i] = p->rows[i].method;
        so[i] = p->rows[i].source;
        v[i] = p->rows[i].value;
        pc[i] = p->rows[i].trainable_pct;
        ln[i] = p->rows[i].line;
    }
    int64_t shape[1] = {n};
    int rc = h5_write_strings(f, "/paper/dataset", n, ds) || h5_write_strings(f, "/paper/metric", n, mt) ||
             h5_write_strings(f, "/paper/method", n, me) || h5_write_strings(f, "/paper/source", n, so) ||
             h5_write_f64(f, "/paper/value", 1, shape, v) || h5_write_f64(f, "/paper/trainable_pct", 1, shape, pc) ||
             h5_write_i64(f, "/paper/csv_line", 1, shape, ln) || set_str(f, "/paper", "csv_path", csv) ||
             set_str(f, "/paper", "csv_sha256", csv_sha) || set_str(f, "/paper", "paper_task", paper_task);
    free(ds);
    free(me);
    free(mt);
    free(so);
    free(v);
    free(pc);
    free(ln);
    return rc ? -1 : 0;
}

/* ------------------------------------------------------------------------------------------------ */
/* whole-file rewrite                                                                               */

typedef struct rewrite {
    const results_info *info; /* root attributes to write */
    const results_run *run;   /* run to add/replace, or NULL */
    const results_paper *paper; /* new /paper, or NULL to keep the old one */
    const char *paper_csv, *paper_sha, *paper_task;
    const char *layout;         /* new /ablations/layout, or NULL to keep the old one */
} rewrite;

static int copy_obj(hid_t src, hid_t dst, const char *path) {
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    herr_t r = H5Ocopy(src, path, dst, path, H5P_DEFAULT, lcpl);
    H5Pclose(lcpl);
    if (r < 0) return err_set("cannot copy '%s' into the new file", path);
    return 0;
}

static int write_run_group(hid_t f, const results_run *r);

static int write_root(hid_t f, const results_info *in) {
    return (set_str(f, "/", "schema", in->schema) || set_str(f, "/", "task", in->task) ||
            set_str(f, "/", "profile", in->profile) || set_str(f, "/", "created", in->created) ||
            set_str(f, "/", "updated", in->updated) || set_str(f, "/", "commit", in->commit) ||
            set_str(f, "/", "hostname", in->hostname) || set_str(f, "/", "cpu_model", in->cpu_model) ||
            set_i64(f, "/", "threads", in->threads))
               ? -1
               : 0;
}

/* Remove "<path>.tmp.<pid>" files left by writers that died (their pid no longer exists). Called with
 * the directory lock held, so no live writer of this library is using one. */
static void remove_stale_tmps(const char *path) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    const char *bslash = strrchr(path, '/');
    const char *base = bslash ? bslash + 1 : path;
    if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    DIR *dp = opendir(*dir ? dir : "/");
    if (!dp) return;
    size_t bl = strlen(base);
    struct dirent *e;
    while ((e = readdir(dp)) != NULL) {
        if (strncmp(e->d_name, base, bl) || strncmp(e->d_name + bl, ".tmp.", 5)) continue;
        char *end;
        long pid = strtol(e->d_name + bl + 5, &end, 10);
        if (*end || pid <= 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char p[8192];
        snprintf(p, sizeof p, "%s/%s", *dir ? dir : "", e->d_name);
        unlink(p);
    }
    closedir(dp);
}

/* Write <path> afresh: root attributes, every run of the old file (if any) except the one replaced, the
 * new run, /paper (new or copied). Caller holds the directory lock. */
static int rewrite_file(const char *path, const rewrite *w) {
    char tmp[4096];
    if (atomic_tmpname(path, tmp, sizeof tmp)) return -1;
    remove_stale_tmps(path);
    hid_t old = -1;
    if (file_exists(path)) {
        old = h5_open_read(path);
        if (old < 0) return err_prefix("%s: existing results file unreadable; move it aside before writing", path);
    }
    hid_t f = h5_create(tmp);
    if (f < 0) {
        h5_close(old);
        return -1;
    }
    int rc = write_root(f, w->info) || h5_ensure_group(f, "/runs");
    if (!rc && old >= 0) {
        char **ds = NULL, **me = NULL;
        int n = results_list_runs(path, &ds, &me);
        if (n < 0) rc = -1;
        for (int i = 0; i < n && !rc; i++) {
            if (w->run && !strcmp(ds[i], w->run->dataset) && !strcmp(me[i], w->run->method)) continue;
            char g[1024];
            snprintf(g, sizeof g, "/runs/%s/%s", ds[i], me[i]);
            rc = copy_obj(old, f, g);
        }
        if (n >= 0) {
            h5_free_strings(ds, n);
            h5_free_strings(me, n);
        }
        if (!rc && !w->paper && h5_exists(old, "/paper")) rc = copy_obj(old, f, "/paper");
        if (!rc && !w->layout && h5_exists(old, "/ablations")) rc = copy_obj(old, f, "/ablations");
    }
    if (!rc && w->layout) {
        const char *one[1] = {w->layout};
        rc = h5_write_strings(f, "/ablations/layout", 1, one);
    }
    if (!rc && w->paper) rc = write_paper(f, w->paper, w->paper_csv, w->paper_sha, w->paper_task);
    if (!rc && w->run) rc = write_run_group(f, w->run);
    h5_close(old);
    if (H5Fclose(f) < 0 && !rc) rc = err_set("%s: cannot finish writing the HDF5 file", tmp);
    if (rc) {
        atomic_abort(tmp);
        return err_prefix("%s", path);
    }
    return atomic_commit(tmp, path);
}

static void info_fill_writer(results_info *in, int64_t threads, const char *commit, const char *host, const char *cpu) {
    results_now_utc(in->updated);
    snprintf(in->commit, sizeof in->commit, "%s", commit ? commit : build_commit());
    if (host) snprintf(in->hostname, sizeof in->hostname, "%s", host);
    else host_name(in->hostname, sizeof in->hostname);
    if (cpu) snprintf(in->cpu_model, sizeof in->cpu_model, "%s", cpu);
    else results_cpu_model(in->cpu_model, sizeof in->cpu_model);
    in->threads = threads;
}

int results_open_or_create(const char *path, const char *task, const char *profile, const char *paper_csv) {
    const results_task_desc *t = results_task(task);
    if (!t) return err_prefix("%s", path);
    if (!valid_key(profile)) return err_set("%s: invalid profile name '%s'", path, nz(profile));
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        if (mkdir_p(dir)) return -1;
    }
    results_paper paper = {0};
    char sha[65] = "";
    if (paper_csv) {
        if (results_paper_parse_csv(paper_csv, t->paper_task, &paper)) return err_prefix("%s", path);
        if (sha256_file_hex(paper_csv, sha)) {
            results_paper_free(&paper);
            return -1;
        }
    }
    int lk = lock_dir(path);
    if (lk < 0) {
        results_paper_free(&paper);
        return -1;
    }
    results_info in = {0};
    int rc = 0;
    if (file_exists(path)) {
        rc = results_read_info(path, &in);
        if (!rc && strcmp(in.schema, RESULTS_SCHEMA))
            rc = err_set("%s: schema '%s', this build writes '%s'; move the old file aside", path, in.schema, RESULTS_SCHEMA);
        if (!rc && strcmp(in.task, task))
            rc = err_set("%s: holds task '%s', not '%s'; use another results file", path, in.task, task);
        if (!rc && strcmp(in.profile, profile))
            rc = err_set("%s: holds profile '%s', not '%s'; use another results file (e.g. results/%s_%s.h5)", path,
                         in.profile, profile, task, profile);
        if (!rc && paper_csv) {
            info_fill_writer(&in, in.threads, NULL, NULL, NULL);
            rewrite w = {.info = &in, .paper = &paper, .paper_csv = paper_csv, .paper_sha = sha, .paper_task = t->paper_task};
            rc = rewrite_file(path, &w);
        }
    } else {
        snprintf(in.schema, sizeof in.schema, "%s", RESULTS_SCHEMA);
        snprintf(in.task, sizeof in.task, "%s", task);
        snprintf(in.profile, sizeof in.profile, "%s", profile);
        results_now_utc(in.created);
        info_fill_writer(&in, omp_get_max_threads(), NULL, NULL, NULL);
        rewrite w = {.info = &in, .paper = paper_csv ? &paper : NULL, .paper_csv = paper_csv, .paper_sha = sha,
                     .paper_task = t->paper_task};
        rc = rewrite_file(path, &w);
    }
    unlock_dir(lk);
    results_paper_free(&paper);
    return rc;
}

/* ------------------------------------------------------------------------------------------------ */
/* runs                                                                                             */

static int check_json(const char *what, const char *s, const results_run *r) {
    if (!s || !*s) return 0;
    cJSON *j = cJSON_Parse(s);
    if (!j) return err_set("run %s/%s: %s is not valid JSON (near '%.40s')", r->dataset, r->method, what, nz(cJSON_GetErrorPtr()));
    cJSON_Delete(j);
    return 0;
}

static int check_run(const results_run *r) {
    if (!valid_key(r->dataset) || !valid_key(r->method))
        return err_set("run '%s/%s': dataset and method must be non-empty names of letters, digits, '_', '-', '.'",
                       nz(r->dataset), nz(r->method));
    if (r->n_metrics < 0 || r->n_metrics > RESULTS_MAX_METRICS)
        return err_set("run %s/%s: %d metrics (at most %d)", r->dataset, r->method, r->n_metrics, RESULTS_MAX_METRICS);
    for (int m = 0; m < r->n_metrics; m++) {
        if (!valid_key(r->metric[m])) return err_set("run %s/%s: metric %d has an invalid name", r->dataset, r->method, m);
        for (int k = 0; k < m; k++)
            if (!strcmp(r->metric[k], r->metric[m]))
                return err_set("run %s/%s: metric '%s' given twice", r->dataset, r->method, r->metric[m]);
        if (r->n_eval > 0 && !r->eval[m]) return err_set("run %s/%s: eval values of '%s' missing", r->dataset, r->method, r->metric[m]);
    }
    if (r->n_curve < 0 || r->n_eval < 0) return err_set("run %s/%s: negative curve/eval length", r->dataset, r->method);
    if (r->n_curve > 0 && (!r->curve_iter || !r->curve_epoch || !r->curve_loss || !r->curve_lr || !r->curve_img_s))
        return err_set("run %s/%s: training curve arrays missing", r->dataset, r->method);
    if (r->n_eval > 0 && !r->eval_iter) return err_set("run %s/%s: eval iterations missing", r->dataset, r->method);
    if (r->trainable_params < 0 || r->total_params < 0 || r->trainable_params > r->total_params)
        return err_set("run %s/%s: trainable params %lld vs total %lld", r->dataset, r->method, (long long)r->trainable_params,
                       (long long)r->total_params);
    if (r->backbone_trainable_params < 0 || r->backbone_params < 0 || r->backbone_trainable_params > r->backbone_params)
        return err_set("run %s/%s: backbone trainable params %lld vs backbone %lld", r->dataset, r->method,
                       (long long)r->backbone_trainable_params, (long long)r->backbone_params);
    if (r->pretrained_sha256 && *r->pretrained_sha256) {
        int ok = strlen(r->pretrained_sha256) == 64;
        for (const char *c = r->pretrained_sha256; ok && *c; c++) ok = isxdigit((unsigned char)*c);
        if (!ok) return err_set("run %s/%s: pretrained_sha256 is not 64 hex digits", r->dataset, r->method);
    }
    if (check_json("recipe_json", r->recipe_json, r) || check_json("backbone_json", r->backbone_json, r)) return -1;
    return 0;
}

static double pct(int64_t a, int64_t b) { return b > 0 ? 100.0 * (double)a / (double)b : NAN; }

static int write_run_group(hid_t f, const results_run *r) {
    char g[1024], p[1200];
    snprintf(g, sizeof g, "/runs/%s/%s", r->dataset, r->method);
    if (h5_ensure_group(f, g)) return -1;
    char now[32], host[256], cpu[256];
    results_now_utc(now);
    host_name(host, sizeof host);
    results_cpu_model(cpu, sizeof cpu);
    char metrics[512] = "";
    for (int m = 0; m < r->n_metrics; m++) {
        if (m) strncat(metrics, ",", sizeof metrics - strlen(metrics) - 1);
        strncat(metrics, r->metric[m], sizeof metrics - strlen(metrics) - 1);
    }
    int rc = set_str(f, g, "status", r->complete ? "complete" : "partial") || set_i64(f, g, "seed", r->seed) ||
             set_str(f, g, "method_spec", r->method_spec && *r->method_spec ? r->method_spec : r->method) ||
             set_str(f, g, "recipe", r->recipe_json && *r->recipe_json ? r->recipe_json : "{}") ||
             set_str(f, g, "backbone", r->backbone) ||
             set_str(f, g, "backbone_config", r->backbone_json && *r->backbone_json ? r->backbone_json : "{}") ||
             set_str(f, g, "pretrained_path", r->pretrained_path) ||
             set_i64(f, g, "trainable_params", r->trainable_params) || set_i64(f, g, "total_params", r->total_params) ||
             set_f64(f, g, "trainable_pct", pct(r->trainable_params, r->total_params)) ||
             set_i64(f, g, "backbone_trainable_params", r->backbone_trainable_params) ||
             set_i64(f, g, "backbone_params", r->backbone_params) ||
             set_f64(f, g, "backbone_trainable_pct", pct(r->backbone_trainable_params, r->backbone_params)) ||
             set_str(f, g, "data", r->data) || set_str(f, g, "train_split", r->train_split) ||
             set_str(f, g, "test_split", r->test_split) || set_i64(f, g, "n_train_samples", r->n_train_samples) ||
             set_i64(f, g, "n_test_samples", r->n_test_samples) || set_i64(f, g, "n_classes", r->n_classes) ||
             set_f64(f, g, "wall_time_s", r->wall_time_s) || set_i64(f, g, "peak_mem_bytes", r->peak_mem_bytes) ||
             set_i64(f, g, "threads", r->threads) || set_str(f, g, "commit", r->commit ? r->commit : build_commit()) ||
             set_str(f, g, "date", r->date ? r->date : now) || set_str(f, g, "hostname", r->hostname ? r->hostname : host) ||
             set_str(f, g, "cpu_model", r->cpu_model ? r->cpu_model : cpu) || set_str(f, g, "metrics", metrics);
    if (rc) return -1;
    /* checksum of the pretrained weights */
    char sha[65] = "";
    if (r->pretrained_sha256 && *r->pretrained_sha256) {
        for (int i = 0; i < 64; i++) sha[i] = (char)tolower((unsigned char)r->pretrained_sha256[i]);
        sha[64] = 0;
    } else if (r->pretrained_path && *r->pretrained_path) {
        if (sha256_file_hex(r->pretrained_path, sha)) return err_prefix("run %s/%s: pretrained weights", r->dataset, r->method);
    }
    if (set_str(f, g, "pretrained_sha256", sha)) return -1;
    int64_t nc[1] = {r->n_curve}, ne[1] = {r->n_eval};
    static const int64_t zi[1] = {0};
    static const double zd[1] = {0};
#define ARR(a, z) ((a) ? (a) : (z))
    snprintf(p, sizeof p, "%s/curve/iteration", g);
    if (h5_write_i64(f, p, 1, nc, ARR(r->curve_iter, zi))) return -1;
    snprintf(p, sizeof p, "%s/curve/epoch", g);
    if (h5_write_f64(f, p, 1, nc, ARR(r->curve_epoch, zd))) return -1;
    snprintf(p, sizeof p, "%s/curve/loss", g);
    if (h5_write_f64(f, p, 1, nc, ARR(r->curve_loss, zd))) return -1;
    snprintf(p, sizeof p, "%s/curve/lr", g);
    if (h5_write_f64(f, p, 1, nc, ARR(r->curve_lr, zd))) return -1;
    snprintf(p, sizeof p, "%s/curve/images_per_s", g);
    if (h5_write_f64(f, p, 1, nc, ARR(r->curve_img_s, zd))) return -1;
    for (int k = 0; k < r->n_curve_parts; k++) {
        snprintf(p, sizeof p, "%s/curve/%s", g, r->curve_part_name[k]);
        if (h5_write_f64(f, p, 1, nc, ARR(r->curve_part[k], zd))) return -1;
    }
    if (r->n_curve_parts > 0) {
        char parts[256] = "";
        for (int k = 0; k < r->n_curve_parts; k++)
            snprintf(parts + strlen(parts), sizeof parts - strlen(parts), "%s%s", k ? "," : "", r->curve_part_name[k]);
        if (set_str(f, g, "curve_parts", parts)) return -1;
    }
    snprintf(p, sizeof p, "%s/eval/iteration", g);
    if (h5_write_i64(f, p, 1, ne, ARR(r->eval_iter, zi))) return -1;
    for (int m = 0; m < r->n_metrics; m++) {
        snprintf(p, sizeof p, "%s/eval/%s", g, r->metric[m]);
        if (h5_write_f64(f, p, 1, ne, ARR(r->eval[m], zd))) return -1;
        snprintf(p, sizeof p, "%s/final/%s", g, r->metric[m]);
        if (h5_write_f64(f, p, 0, NULL, &r->final[m])) return -1;
    }
#undef ARR
    snprintf(p, sizeof p, "%s/final", g);
    if (h5_ensure_group(f, p)) return -1;
    if (r->n_per_class > 0) {
        size_t cap = 64, len = 0;
        for (int c = 0; c < r->n_per_class; c++) cap += strlen(r->class_names[c]) + 1;
        char *names = xmalloc(cap);
        names[0] = 0;
        for (int c = 0; c < r->n_per_class; c++) len += (size_t)snprintf(names + len, cap - len, "%s%s", c ? "," : "", r->class_names[c]);
        int64_t n[1] = {r->n_per_class};
        snprintf(p, sizeof p, "%s/final/per_class", g);
        int bad = h5_write_f64(f, p, 1, n, r->per_class) || set_str(f, p, "class_names", names);
        if (!bad && r->per_class2_name && r->per_class2) {
            snprintf(p, sizeof p, "%s/final/%s", g, r->per_class2_name);
            bad = h5_write_f64(f, p, 1, n, r->per_class2) || set_str(f, p, "class_names", names);
        }
        free(names);
        if (bad) return -1;
    }
    if (r->best_iter > 0) {
        char an[96];
        snprintf(p, sizeof p, "%s/final", g);
        snprintf(an, sizeof an, "best_%s", r->n_metrics > 0 ? r->metric[0] : "metric");
        if (set_f64(f, p, an, r->best_value) || set_i64(f, p, "best_iter", r->best_iter)) return -1;
    }
    return 0;
}

int results_write_run(const char *path, const results_run *run) {
    if (check_run(run)) return err_prefix("%s", path);
    if (!file_exists(path)) return err_set("%s: no results file; call results_open_or_create first", path);
    int lk = lock_dir(path);
    if (lk < 0) return -1;
    results_info in;
    int rc = results_read_info(path, &in);
    if (!rc) {
        info_fill_writer(&in, run->threads, run->commit, run->hostname, run->cpu_model);
        rewrite w = {.info = &in, .run = run};
        rc = rewrite_file(path, &w);
    }
    unlock_dir(lk);
    return rc;
}

/* ------------------------------------------------------------------------------------------------ */
/* reading                                                                                          */

static int get_str(hid_t f, const char *obj, const char *name, char *buf, int n) { return h5_attr_str(f, obj, name, buf, n); }

int results_read_info(const char *path, results_info *out) {
    memset(out, 0, sizeof *out);
    hid_t f = h5_open_read(path);
    if (f < 0) return -1;
    int rc = get_str(f, "/", "schema", out->schema, sizeof out->schema);
    if (rc) {
        h5_close(f);
        return err_set("%s: not a deltabench results file (no 'schema' attribute on /)", path);
    }
    rc = get_str(f, "/", "task", out->task, sizeof out->task) || get_str(f, "/", "profile", out->profile, sizeof out->profile) ||
         get_str(f, "/", "created", out->created, sizeof out->created) ||
         get_str(f, "/", "updated", out->updated, sizeof out->updated) ||
         get_str(f, "/", "commit", out->commit, sizeof out->commit) ||
         get_str(f, "/", "hostname", out->hostname, sizeof out->hostname) ||
         get_str(f, "/", "cpu_model", out->cpu_model, sizeof out->cpu_model) ||
         h5_attr_i64(f, "/", "threads", &out->threads, 1) < 0;
    if (!rc && h5_exists(f, "/paper")) {
        rc = get_str(f, "/paper", "csv_path", out->paper_csv, sizeof out->paper_csv) ||
             get_str(f, "/paper", "csv_sha256", out->paper_csv_sha256, sizeof out->paper_csv_sha256);
    }
    h5_close(f);
    return rc ? -1 : 0;
}

typedef struct name_list {
    char **v;
    int n, cap;
} name_list;

static herr_t group_names_cb(hid_t g, const char *name, const H5L_info_t *info, void *op) {
    (void)info;
    name_list *l = op;
    H5O_info_t oi;
    if (H5Oget_info_by_name(g, name, &oi, H5P_DEFAULT) < 0 || oi.type != H5O_TYPE_GROUP) return 0;
    if (l->n == l->cap) l->v = xrealloc(l->v, sizeof(char *) * (size_t)(l->cap = l->cap ? 2 * l->cap : 16));
    l->v[l->n++] = xstrdup(name);
    return 0;
}

static int subgroups(hid_t f, const char *path, name_list *l) {
    memset(l, 0, sizeof *l);
    hid_t g = H5Gopen2(f, path, H5P_DEFAULT);
    if (g < 0) return err_set("cannot open group '%s'", path);
    hsize_t idx = 0;
    herr_t r = H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, group_names_cb, l);
    H5Gclose(g);
    if (r < 0) {
        h5_free_strings(l->v, l->n);
        return err_set("cannot list group '%s'", path);
    }
    return 0;
}

int results_list_runs(const char *path, char ***datasets, char ***methods) {
    *datasets = *methods = NULL;
    hid_t f = h5_open_read(path);
    if (f < 0) return -1;
    if (!h5_exists(f, "/runs")) {
        h5_close(f);
        return 0;
    }
    name_list dl;
    if (subgroups(f, "/runs", &dl)) {
        h5_close(f);
        return err_prefix("%s", path);
    }
    name_list od = {0}, om = {0};
    int rc = 0;
    for (int i = 0; i < dl.n && !rc; i++) {
        char g[1024];
        snprintf(g, sizeof g, "/runs/%s", dl.v[i]);
        name_list ml;
        if (subgroups(f, g, &ml)) {
            rc = -1;
            break;
        }
        for (int j = 0; j < ml.n; j++) {
            if (od.n == od.cap) {
                od.cap = od.cap ? 2 * od.cap : 32;
                od.v = xrealloc(od.v, sizeof(char *) * (size_t)od.cap);
                om.v = xrealloc(om.v, sizeof(char *) * (size_t)od.cap);
            }
            od.v[od.n++] = xstrdup(dl.v[i]);
            om.v[om.n++] = ml.v[j];
        }
        free(ml.v);
    }
    h5_free_strings(dl.v, dl.n);
    h5_close(f);
    if (rc) {
        h5_free_strings(od.v, od.n);
        h5_free_strings(om.v, om.n);
        return err_prefix("%s", path);
    }
    *datasets = od.v;
    *methods = om.v;
    return od.n;
}

int results_has_complete_run(const char *path, const char *dataset, const char *method) {
    if (!file_exists(path)) return 0;
    if (!valid_key(dataset) || !valid_key(method)) return err_set("invalid run name '%s/%s'", nz(dataset), nz(method));
    hid_t f = h5_open_read(path);
    if (f < 0) return -1;
    char g[1024], st[32] = "";
    snprintf(g, sizeof g, "/runs/%s/%s", dataset, method);
    int res = 0;
    if (h5_exists(f, g)) {
        if (get_str(f, g, "status", st, sizeof st)) res = -1;
        else res = !strcmp(st, "complete");
    }
    h5_close(f);
    return res;
}

void results_run_free(results_run *r) {
    if (!r) return;
    const char **strs[] = {&r->dataset, &r->method, &r->method_spec, &r->recipe_json, &r->backbone, &r->backbone_json,
                           &r->pretrained_path, &r->pretrained_sha256, &r->data, &r->train_split, &r->test_split,
                           &r->commit, &r->date, &r->hostname, &r->cpu_model};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) free((void *)*strs[i]);
    free((void *)r->curve_iter);
    free((void *)r->curve_epoch);
    free((void *)r->curve_loss);
    free((void *)r->curve_lr);
    free((void *)r->curve_img_s);
    for (int k = 0; k < r->n_curve_parts; k++) free((void *)r->curve_part_name[k]), free((void *)r->curve_part[k]);
    free((void *)r->eval_iter);
    for (int m = 0; m < r->n_metrics; m++) {
        free((void *)r->metric[m]);
        free((void *)r->eval[m]);
    }
    memset(r, 0, sizeof *r);
}

/* Variable-length string attribute, malloc'd. */
static char *attr_dup(hid_t f, const char *obj, const char *name, int *rc) {
    if (*rc) return NULL;
    H5A_info_t ai;
    size_t cap = 1 << 16;
    if (H5Aget_info_by_name(f, obj, name, &ai, H5P_DEFAULT) >= 0 && ai.data_size > cap) cap = ai.data_size + 1;
    /* variable-length strings report the pointer size; grow until the value fits */
    for (;;) {
        char *buf = xmalloc(cap);
        if (h5_attr_str(f, obj, name, buf, (int)cap)) {
            free(buf);
            *rc = -1;
            return NULL;
        }
        if (strlen(buf) + 1 < cap || cap > (1u << 30)) return buf;
        free(buf);
        cap *= 4;
    }
}

static int64_t attr_i64(hid_t f, const char *obj, const char *name, int *rc) {
    int64_t v = 0;
    if (!*rc && h5_attr_i64(f, obj, name, &v, 1) != 1) *rc = -1;
    return v;
}
static double attr_f64(hid_t f, const char *obj, const char *name, int *rc) {
    double v = 0;
    if (!*rc && h5_attr_f64(f, obj, name, &v, 1) != 1) *rc = -1;
    return v;
}

static double *read_f64(hid_t f, const char *path, int64_t want, int *rc) {
    if (*rc) return NULL;
    /* h5io reads float32 only; results keep float64, so read directly */
    if (!h5_exists(f, path)) {
        *rc = err_set("missing dataset '%s'", path);
        return NULL;
    }
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
    if (d < 0) {
        *rc = err_set("cannot open dataset '%s'", path);
        return NULL;
    }
    hid_t s = H5Dget_space(d);
    hssize_t n = H5Sget_simple_extent_npoints(s);
    H5Sclose(s);
    if (want >= 0 && n != want) {
        H5Dclose(d);
        *rc = err_set("dataset '%s' has %lld values, expected %lld", path, (long long)n, (long long)want);
        return NULL;
    }
    double *v = xmalloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    if (n > 0 && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) {
        free(v);
        H5Dclose(d);
        *rc = err_set("cannot read dataset '%s'", path);
        return NULL;
    }
    H5Dclose(d);
    return v;
}

static int64_t *read_i64(hid_t f, const char *path, int64_t *n, int *rc) {
    if (*rc) return NULL;
    int nd;
    int64_t shape[8];
    int64_t *v = h5_read_i64(f, path, &nd, shape);
    if (!v) {
        *rc = -1;
        return NULL;
    }
    *n = nd == 0 ? 1 : shape[0];
    return v;
}

int results_read_run(const char *path, const char *dataset, const char *method, results_run *r) {
    memset(r, 0, sizeof *r);
    if (!valid_key(dataset) || !valid_key(method)) return err_set("invalid run name '%s/%s'", nz(dataset), nz(method));
    hid_t f = h5_open_read(path);
    if (f < 0) return -1;
    char g[1024], p[1200];
    snprintf(g, sizeof g, "/runs/%s/%s", dataset, method);
    if (!h5_exists(f, g)) {
        h5_close(f);
        return err_set("%s: no run '%s'", path, g);
    }
    int rc = 0;
    r->dataset = xstrdup(dataset);
    r->method = xstrdup(method);
    r->method_spec = H5Aexists_by_name(f, g, "method_spec", H5P_DEFAULT) > 0 ? attr_dup(f, g, "method_spec", &rc) : xstrdup(method);
    char *status = attr_dup(f, g, "status", &rc);
    r->complete = status && !strcmp(status, "complete");
    free(status);
    r->seed = attr_i64(f, g, "seed", &rc);
    r->recipe_json = attr_dup(f, g, "recipe", &rc);
    r->backbone = attr_dup(f, g, "backbone", &rc);
    r->backbone_json = attr_dup(f, g, "backbone_config", &rc);
    r->pretrained_path = attr_dup(f, g, "pretrained_path", &rc);
    r->pretrained_sha256 = attr_dup(f, g, "pretrained_sha256", &rc);
    r->trainable_params = attr_i64(f, g, "trainable_params", &rc);
    r->total_params = attr_i64(f, g, "total_params", &rc);
    r->backbone_trainable_params = attr_i64(f, g, "backbone_trainable_params", &rc);
    r->backbone_params = attr_i64(f, g, "backbone_params", &rc);
    r->data = attr_dup(f, g, "data", &rc);
    r->train_split = attr_dup(f, g, "train_split", &rc);
    r->test_split = attr_dup(f, g, "test_split", &rc);
    r->n_train_samples = attr_i64(f, g, "n_train_samples", &rc);
    r->n_test_samples = attr_i64(f, g, "n_test_samples", &rc);
    r->n_classes = attr_i64(f, g, "n_classes", &rc);
    r->wall_time_s = attr_f64(f, g, "wall_time_s", &rc);
    r->peak_mem_bytes = attr_i64(f, g, "peak_mem_bytes", &rc);
    r->threads = attr_i64(f, g, "threads", &rc);
    r->commit = attr_dup(f, g, "commit", &rc);
    r->date = attr_dup(f, g, "date", &rc);
    r->hostname = attr_dup(f, g, "hostname", &rc);
    r->cpu_model = attr_dup(f, g, "cpu_model", &rc);
    char *metrics = attr_dup(f, g, "metrics", &rc);
    if (!rc && metrics) {
        char *save = NULL;
        for (char *tok = strtok_r(metrics, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            if (r->n_metrics == RESULTS_MAX_METRICS) {
                rc = err_set("too many metrics");
                break;
            }
            r->metric[r->n_metrics++] = xstrdup(tok);
        }
    }
    free(metrics);
    snprintf(p, sizeof p, "%s/curve/iteration", g);
    r->curve_iter = read_i64(f, p, &r->n_curve, &rc);
    snprintf(p, sizeof p, "%s/curve/epoch", g);
    r->curve_epoch = read_f64(f, p, r->n_curve, &rc);
    snprintf(p, sizeof p, "%s/curve/loss", g);
    r->curve_loss = read_f64(f, p, r->n_curve, &rc);
    snprintf(p, sizeof p, "%s/curve/lr", g);
    r->curve_lr = read_f64(f, p, r->n_curve, &rc);
    snprintf(p, sizeof p, "%s/curve/images_per_s", g);
    r->curve_img_s = read_f64(f, p, r->n_curve, &rc);
    if (!rc && H5Aexists_by_name(f, g, "curve_parts", H5P_DEFAULT) > 0) {
        char *parts = attr_dup(f, g, "curve_parts", &rc);
        char *save = NULL;
        for (char *tok = parts && !rc ? strtok_r(parts, ",", &save) : NULL; tok && r->n_curve_parts < RESULTS_MAX_PARTS; tok = strtok_r(NULL, ",", &save)) {
            r->curve_part_name[r->n_curve_parts] = xstrdup(tok);
            snprintf(p, sizeof p, "%s/curve/%s", g, tok);
            r->curve_part[r->n_curve_parts++] = read_f64(f, p, r->n_curve, &rc);
        }
        free(parts);
    }
    snprintf(p, sizeof p, "%s/eval/iteration", g);
    r->eval_iter = read_i64(f, p, &r->n_eval, &rc);
    for (int m = 0; m < r->n_metrics && !rc; m++) {
        snprintf(p, sizeof p, "%s/eval/%s", g, r->metric[m]);
        r->eval[m] = read_f64(f, p, r->n_eval, &rc);
        snprintf(p, sizeof p, "%s/final/%s", g, r->metric[m]);
        double *v = read_f64(f, p, 1, &rc);
        r->final[m] = v ? v[0] : NAN;
        free(v);
    }
    h5_close(f);
    if (rc) {
        results_run_free(r);
        return err_prefix("%s: run %s", path, g);
    }
    return 0;
}

int results_read_paper(const char *path, results_paper *out) {
    memset(out, 0, sizeof *out);
    hid_t f = h5_open_read(path);
    if (f < 0) return -1;
    if (!h5_exists(f, "/paper")) {
        h5_close(f);
        return 0;
    }
    char **ds = NULL, **mt = NULL, **me = NULL, **so = NULL;
    int rc = 0;
    int n = h5_read_strings(f, "/paper/dataset", &ds);
    int n2 = n >= 0 ? h5_read_strings(f, "/paper/metric", &mt) : -1;
    int n3 = n2 >= 0 ? h5_read_strings(f, "/paper/method", &me) : -1;
    int n4 = n3 >= 0 ? h5_read_strings(f, "/paper/source", &so) : -1;
    double *v = NULL, *pc = NULL;
    int64_t *ln = NULL, nl = 0;
    char task[128] = "";
    if (n < 0 || n2 != n || n3 != n || n4 != n) rc = -1;
    if (!rc) {
        v = read_f64(f, "/paper/value", n, &rc);
        pc = read_f64(f, "/paper/trainable_pct", n, &rc);
        ln = read_i64(f, "/paper/csv_line", &nl, &rc);
        if (!rc && n > 0 && nl != n) rc = err_set("/paper/csv_line has %lld entries, expected %d", (long long)nl, n);
        if (!rc) rc = get_str(f, "/paper", "paper_task", task, sizeof task);
    }
    char **tk = NULL; /* files written before /paper/task: every row has the file's paper task */
    int nt = !rc && h5_exists(f, "/paper/task") ? h5_read_strings(f, "/paper/task", &tk) : 0;
    if (nt < 0 || (tk && nt != n)) rc = err_set("/paper/task has %d entries, expected %d", nt, n);
    if (!rc) {
        out->n = n;
        out->rows = xcalloc((size_t)n + 1, sizeof(results_paper_row));
        for (int i = 0; i < n; i++) {
            results_paper_row *r = &out->rows[i];
            r->task = xstrdup(tk ? tk[i] : task);
            r->dataset = xstrdup(ds[i]);
            r->metric = xstrdup(mt[i]);
            r->method = xstrdup(me[i]);
            r->source = xstrdup(so[i]);
            r->value = v[i];
            r->trainable_pct = pc[i];
            r->line = (int)ln[i];
        }
    }
    if (tk) h5_free_strings(tk, nt);
    if (ds) h5_free_strings(ds, n);
    if (mt) h5_free_strings(mt, n2);
    if (me) h5_free_strings(me, n3);
    if (so) h5_free_strings(so, n4);
    free(v);
    free(pc);
    free(ln);
    h5_close(f);
    if (rc) return err_prefix("%s: /paper", path);
    return 0;
}

int results_write_layout(const char *path, const char *layout_json) {
    cJSON *j = layout_json ? cJSON_Parse(layout_json) : NULL;
    if (!j) return err_set("%s: the table layout is not valid JSON", path);
    cJSON_Delete(j);
    int lk = lock_dir(path);
    if (lk < 0) return -1;
    results_info in;
    int rc = results_read_info(path, &in);
    if (!rc) {
        info_fill_writer(&in, in.threads, NULL, NULL, NULL);
        rewrite w = {.info = &in, .layout = layout_json};
        rc = rewrite_file(path, &w);
    }
    unlock_dir(lk);
    return rc;
}

char *results_read_layout(const char *path) {
    hid_t f = h5_open_read(path);
    if (f < 0) return NULL;
    char *out = NULL;
    if (h5_exists(f, "/ablations/layout")) {
        char **s = NULL;
        int n = h5_read_strings(f, "/ablations/layout", &s);
        if (n == 1) out = xstrdup(s[0]);
        else if (n >= 0) err_set("%s: /ablations/layout holds %d strings, expected 1", path, n);
        if (n >= 0) h5_free_strings(s, n);
    } else
        err_set("%s: no /ablations/layout (not written by an ablation driver)", path);
    h5_close(f);
    return out;
}
