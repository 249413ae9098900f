/* reproduce_cls.c - the classification driver (see reproduce.h). */
#include "reproduce.h"

#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/checkpoint.h"
#include "../core/comm.h"
#include "../models/classifier.h"
#include "../methods/method.h"
#include "../core/sha256.h"
#include "../datasets/cls_synth.h"
#include "../datasets/coco.h"
#include "../datasets/synth_dense.h"
#include "../datasets/seg_pipeline.h"
#include "../datasets/voc_det.h"
#include "../metrics/voc_files.h"
#include "../models/det/cascade_rcnn.h"
#include "../models/det/retinanet.h"
#include "../models/seg/upernet.h"
#include "report.h"
#include "reproduce_int.h"
#include "results.h"
#include "train_cls.h"
#include "train_coco.h"
#include "train_det.h"
#include "train_seg.h"

const char *const reproduce_tasks = "cls, voc, ade20k, coco, voc-ablations";

void repro_opts_default(repro_opts *o) {
    memset(o, 0, sizeof *o);
    o->profile = "default";
    o->results = NULL;
    o->runs_dir = NULL;
    o->epochs = o->batch = o->max_iters = o->max_eval_batches = o->threads = -1;
    o->shared_dir = "../shared";
}

static int in_list(const char *list, const char *name) {
    if (!list || !*list) return 1;
    size_t k = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == k && !strncmp(p, name, k)) return 1;
        p = e ? e + 1 : NULL;
    }
    return 0;
}

static int load_profile(const char *profile, const recipe_vars *vars, recipe *r, const char *task) {
    char path[1200];
    if (strchr(profile, '/') || strstr(profile, ".json")) snprintf(path, sizeof path, "%s", profile);
    else if (recipe_path(task, profile, path, sizeof path)) return -1;
    return recipe_load(path, vars, r);
}

/* A complete run is reused only when the same recipe (threads and workers aside) trained it from the same
 * weights; otherwise it is trained again and replaces the stored one. weights_sha: lower-case hex of the
 * starting weights, "" for random initialisation, NULL when not known yet (the embedded backbone before
 * its pretraining: then only the recipe is compared). Returns 1 when current; 0 when it must run, with
 * *stale = 1 when a complete run made otherwise is stored. */
static int run_is_current(const char *results, const char *ds, const char *key, const char *rj, const char *weights_sha, int *stale) {
    *stale = 0;
    if (results_has_complete_run(results, ds, key) != 1) return 0;
    results_run rr;
    if (results_read_run(results, ds, key, &rr)) return 0;
    int same = recipe_text_same(rr.recipe_json, rj);
    if (same && weights_sha) same = !strcmp(weights_sha, rr.pretrained_sha256 ? rr.pretrained_sha256 : "");
    results_run_free(&rr);
    *stale = !same;
    return same;
}

/* The run key of seed index i of a run keyed `key`: the key itself for i = 0 (so that one seed is today's
 * table), "<key>_seed<i>" after it (experiments/report.c groups them back by that suffix). */
static void seed_key(const char *key, int i, char *out, size_t n) {
    if (i == 0) snprintf(out, n, "%s", key);
    else snprintf(out, n, "%s_seed%d", key, i);
}

/* Train with seed index i: recipe seed + i in r->seed and in the resolved JSON that each result stores. Index 0
 * leaves the recipe as it was loaded (a "seed" field it did not have is removed again), so that its runs stay
 * current against the ones made without --seeds. */
static int use_seed(recipe *r, uint64_t seed0, int had_seed_field, int i) {
    if (i == 0 && !had_seed_field) {
        cJSON_DeleteItemFromObjectCaseSensitive(r->json, "seed");
        r->seed = seed0;
        return 0;
    }
    return recipe_set(r, "seed", (double)(seed0 + (uint64_t)i));
}

/* lower-case hex SHA-256 of a weights file ("" for none); NULL (and no error) when the file is not there yet */
static const char *weights_sha(const char *path, char hex[65]) {
    hex[0] = 0;
    if (!path || !*path) return hex;
    if (!file_exists(path) || sha256_file_hex(path, hex)) return NULL;
    return hex;
}

/* the same, remembering the last file hashed (a released Swin-L is 800 MB; every run of a table starts
 * from the same one) */
typedef struct sha_memo {
    char path[1100], hex[65];
    int ok;
} sha_memo;
static const char *weights_sha_memo(const char *path, sha_memo *m) {
    if (!path) path = "";
    if (!m->ok || strcmp(m->path, path)) {
        snprintf(m->path, sizeof m->path, "%s", path);
        m->ok = weights_sha(path, m->hex) != NULL;
    }
    return m->ok ? m->hex : NULL;
}

static int cfg_int(const cJSON *c, const char *key, int def) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, key);
    return cJSON_IsNumber(v) ? v->valueint : def;
}

/* a synthetic VOCdevkit (datasets/synth_dense.h) sized by the entry's "synth_cfg"; <root>/synth.json records
 * the configuration, and a root whose synth.json matches is reused */
static int ensure_synth_voc(const recipe *r, const recipe_dataset *d, int quiet) {
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(recipe_dataset_json(r, d->key), "synth_cfg");
    synth_voc_cfg vc = {.n_trainval07 = cfg_int(c, "trainval07", 200), .n_test07 = cfg_int(c, "test07", 100),
                        .n_trainval12 = cfg_int(c, "trainval12", 200), .min_side = cfg_int(c, "min_side", 0),
                        .max_side = cfg_int(c, "max_side", 0), .max_objects = cfg_int(c, "max_objects", 0),
                        .min_radius = cfg_int(c, "min_radius", 0), .n_classes = cfg_int(c, "n_classes", 0), .seed = r->seed};
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(c, "style");
    if (st && !(cJSON_IsString(st) && (!strcmp(st->valuestring, "shapes") || !strcmp(st->valuestring, "objects"))))
        return err_set("recipe %s: datasets.%s.synth_cfg.style must be \"shapes\" or \"objects\"", r->path, d->key);
    vc.style = st && !strcmp(st->valuestring, "objects") ? SYNTH_VOC_OBJECTS : SYNTH_VOC_SHAPES;
    int max_cls = vc.style == SYNTH_VOC_OBJECTS ? 10 : 20;
    if (vc.n_classes < 0 || vc.n_classes > max_cls)
        return err_set("recipe %s: datasets.%s.synth_cfg.n_classes is %d; it must be 1..%d (0: all)", r->path, d->key, vc.n_classes, max_cls);
    char desc[512], path[1200];
    /* the shapes style keeps the stamp it always had, so existing caches stay valid */
    snprintf(desc, sizeof desc,
             "{\"kind\": \"voc_det\", \"writer\": \"synth_voc_write/1\", \"trainval07\": %d, \"test07\": %d, \"trainval12\": %d, "
             "\"min_side\": %d, \"max_side\": %d, \"max_objects\": %d, \"min_radius\": %d, \"n_classes\": %d, %s\"seed\": %llu}\n",
             vc.n_trainval07, vc.n_test07, vc.n_trainval12, vc.min_side, vc.max_side, vc.max_objects, vc.min_radius, vc.n_classes,
             vc.style == SYNTH_VOC_OBJECTS ? "\"style\": \"objects\", " : "", (unsigned long long)vc.seed);
    snprintf(path, sizeof path, "%s/synth.json", d->root);
    size_t n = 0;
    char *have = file_exists(path) ? file_read_all(path, &n) : NULL;
    int same = have && !strcmp(have, desc);
    free(have);
    if (same) return 0;
    if (!quiet) fprintf(stderr, "writing the synthetic VOC set (%d+%d trainval, %d test images) to %s\n", vc.n_trainval07, vc.n_trainval12, vc.n_test07, d->root);
    if (mkdir_p(d->root)) return -1;
    remove(path);
    synth_summary sum;
    if (synth_voc_write(d->root, &vc, &sum)) return err_prefix("%s", d->root);
    if (!quiet) fprintf(stderr, "  %d images, %d objects (%d difficult)\n", sum.n_images, sum.n_objects, sum.n_difficult);
    return file_write_atomic(path, desc, strlen(desc));
}

/* a synthetic ADEChallengeData2016 folder (datasets/synth_dense.h) sized by "synth_cfg"; the root names the
 * ADEChallengeData2016 folder itself, written from its parent; <root>/synth.json as for VOC */
static int ensure_synth_ade(const recipe *r, const recipe_dataset *d, int quiet) {
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(recipe_dataset_json(r, d->key), "synth_cfg");
    synth_ade_cfg ac = {.n_train = cfg_int(c, "training", 200), .n_val = cfg_int(c, "validation", 100), .min_side = cfg_int(c, "min_side", 0),
                        .max_side = cfg_int(c, "max_side", 0), .max_objects = cfg_int(c, "max_objects", 0),
                        .n_classes = cfg_int(c, "n_classes", 0), .seed = r->seed};
    if (ac.n_classes < 0 || ac.n_classes > 150)
        return err_set("recipe %s: datasets.%s.synth_cfg.n_classes is %d; it must be 1..150 (0: all)", r->path, d->key, ac.n_classes);
    const char *base = "/ADEChallengeData2016";
    size_t lr = strlen(d->root), lb = strlen(base);
    if (lr <= lb || strcmp(d->root + lr - lb, base))
        return err_set("recipe %s: datasets.%s.root '%s' must name an ADEChallengeData2016 folder for the synthetic writer", r->path, d->key, d->root);
    char parent[1024], desc[512], path[1200];
    snprintf(parent, sizeof parent, "%.*s", (int)(lr - lb), d->root);
    snprintf(desc, sizeof desc,
             "{\"kind\": \"ade20k\", \"writer\": \"synth_ade20k_write/2\", \"training\": %d, \"validation\": %d, \"min_side\": %d, "
             "\"max_side\": %d, \"max_objects\": %d, \"n_classes\": %d, \"seed\": %llu}\n",
             ac.n_train, ac.n_val, ac.min_side, ac.max_side, ac.max_objects, ac.n_classes, (unsigned long long)ac.seed);
    snprintf(path, sizeof path, "%s/synth.json", d->root);
    size_t n = 0;
    char *have = file_exists(path) ? file_read_all(path, &n) : NULL;
    int same = have && !strcmp(have, desc);
    free(have);
    if (same) return 0;
    if (!quiet) fprintf(stderr, "writing the synthetic ADE20K set (%d training, %d validation images) to %s\n", ac.n_train, ac.n_val, d->root);
    if (mkdir_p(d->root)) return -1;
    remove(path);
    synth_summary sum;
    if (synth_ade20k_write(parent, &ac, &sum)) return err_prefix("%s", d->root);
    if (!quiet) fprintf(stderr, "  %d images, %d objects\n", sum.n_images, sum.n_objects);
    return file_write_atomic(path, desc, strlen(desc));
}

/* a synthetic COCO folder (annotations/instances_<split>.json, <split>/) with polygon and RLE masks, one
 * synth_coco_write per split, sized by "synth_cfg"; <root>/synth.json as for VOC */
static int ensure_synth_coco(const recipe *r, const recipe_dataset *d, int quiet) {
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(recipe_dataset_json(r, d->key), "synth_cfg");
    int n_train = cfg_int(c, "train", 200), n_val = cfg_int(c, "val", 50), min_side = cfg_int(c, "min_side", 0),
        max_side = cfg_int(c, "max_side", 0), max_objects = cfg_int(c, "max_objects", 0), min_radius = cfg_int(c, "min_radius", 0);
    const cJSON *ch = c ? cJSON_GetObjectItemCaseSensitive(c, "class_hue") : NULL;
    if (ch && !cJSON_IsBool(ch))
        return err_set("recipe %s: datasets.%s.synth_cfg.class_hue must be true or false", r->path, d->key);
    int class_hue = cJSON_IsTrue(ch);
    double crowd = 0.3;
    const cJSON *cp = c ? cJSON_GetObjectItemCaseSensitive(c, "crowd_prob") : NULL;
    if (cJSON_IsNumber(cp)) crowd = cp->valuedouble;
    const cJSON *dj = recipe_dataset_json(r, d->key);
    const cJSON *trs = cJSON_GetObjectItemCaseSensitive(dj, "train"), *tes = cJSON_GetObjectItemCaseSensitive(dj, "test");
    const char *tr = cJSON_IsString(trs) ? trs->valuestring : "train2017", *te = cJSON_IsString(tes) ? tes->valuestring : "val2017";
    char desc[640], path[1200];
    snprintf(desc, sizeof desc,
             "{\"kind\": \"coco\", \"writer\": \"synth_coco_write/1\", \"%s\": %d, \"%s\": %d, \"min_side\": %d, \"max_side\": %d, "
             "\"max_objects\": %d, \"min_radius\": %d, \"crowd_prob\": %g, %s\"seed\": %llu}\n",
             tr, n_train, te, n_val, min_side, max_side, max_objects, min_radius, crowd, class_hue ? "\"class_hue\": true, " : "",
             (unsigned long long)r->seed);
    snprintf(path, sizeof path, "%s/synth.json", d->root);
    size_t n = 0;
    char *have = file_exists(path) ? file_read_all(path, &n) : NULL;
    int same = have && !strcmp(have, desc);
    free(have);
    if (same) return 0;
    if (!quiet) fprintf(stderr, "writing the synthetic COCO set (%d %s, %d %s images) to %s\n", n_train, tr, n_val, te, d->root);
    if (mkdir_p(d->root)) return -1;
    remove(path);
    for (int k = 0; k < (strcmp(tr, te) ? 2 : 1); k++) { /* a test split named as the train split is that set */
        synth_coco_cfg cc = {.split = k ? te : tr, .n_images = k ? n_val : n_train, .min_side = min_side, .max_side = max_side,
                             .max_objects = max_objects, .crowd_prob = (float)crowd, .seed = r->seed * 2 + (uint64_t)k,
                             .min_radius = min_radius, .class_hue = class_hue};
        synth_summary sum;
        if (synth_coco_write(d->root, &cc, &sum)) return err_prefix("%s", d->root);
        if (!quiet)
            fprintf(stderr, "  %s: %d images, %d objects (%d polygon, %d RLE, %d crowd)\n", cc.split, sum.n_images, sum.n_objects, sum.n_polygon,
                    sum.n_rle, sum.n_crowd);
    }
    return file_write_atomic(path, desc, strlen(desc));
}

static int ensure_synth_here(const recipe *r, const recipe_dataset *d, int quiet) {
    if (!strcmp(d->synth, "voc_det")) return ensure_synth_voc(r, d, quiet);
    if (!strcmp(d->synth, "coco")) return ensure_synth_coco(r, d, quiet);
    if (!strcmp(d->synth, "ade20k")) return ensure_synth_ade(r, d, quiet);
    synth_kind k;
    if (synth_kind_parse(d->synth, &k)) return -1;
    synth_opts so;
    memset(&so, 0, sizeof so);
    so.quiet = quiet;
    return cls_synth_write(k, d->root, r->seed, &so);
}

/* under mpirun rank 0 alone writes the data; the others wait for it (a failure on rank 0 ends the job) */
int ensure_synth(const recipe *r, const recipe_dataset *d, int quiet) {
    if (!d->synth[0]) return 0;
    if (comm_rank() == 0 && ensure_synth_here(r, d, quiet)) return -1;
    return comm_barrier();
}

/* whether the file at pr->output was written by this very pretraining recipe (its "deltabench" metadata) */
static int pretrained_matches(const recipe *pr) {
    ckpt_tensors h;
    if (ckpt_read_safetensors_meta(pr->output, &h)) return 0;
    const char *ms = ckpt_meta_get(&h, "deltabench");
    cJSON *mj = ms ? cJSON_Parse(ms) : NULL, *cur = NULL;
    char *rj = recipe_json(pr);
    cur = cJSON_Parse(rj);
    int same = recipe_json_same(cJSON_GetObjectItemCaseSensitive(mj, "recipe"), cur);
    free(rj);
    cJSON_Delete(mj), cJSON_Delete(cur);
    ckpt_tensors_free(&h);
    return same;
}

int swin_backbone_tag(const char *backbone, char *out, int n) {
    swin_config c;
    if (swin_preset(backbone, &c)) return -1;
    if (strncmp(backbone, "tiny:", 5)) { /* a preset: its name without the dash (swin-t: swint) */
        int k = 0;
        for (const char *p = backbone; *p && k < n - 1; p++)
            if (*p != '-') out[k++] = *p;
        out[k] = 0;
        return 0;
    }
    int k = snprintf(out, n, "tiny%dw%d", c.embed_dim, c.window);
    static const int dd[4] = {2, 2, 2, 2}, dh[4] = {1, 2, 4, 8};
    if (memcmp(c.depths, dd, sizeof dd))
        k += snprintf(out + k, n > k ? n - k : 0, "_d%d-%d-%d-%d", c.depths[0], c.depths[1], c.depths[2], c.depths[3]);
    if (memcmp(c.num_heads, dh, sizeof dh))
        k += snprintf(out + k, n > k ? n - k : 0, "_h%d-%d-%d-%d", c.num_heads[0], c.num_heads[1], c.num_heads[2], c.num_heads[3]);
    return k < n ? 0 : err_set("backbone tag of '%s' too long", backbone);
}

int pretrain_output_for(const char *output, const char *recipe_backbone, const char *backbone, char *out, int n) {
    if (!strcmp(recipe_backbone, backbone)) {
        snprintf(out, n, "%s", output);
        return 0;
    }
    char t0[96], t1[96];
    if (swin_backbone_tag(recipe_backbone, t0, sizeof t0) || swin_backbone_tag(backbone, t1, sizeof t1)) return -1;
    const char *base = strrchr(output, '/');
    base = base ? base + 1 : output;
    const char *at = strstr(base, t0);
    int k;
    if (at) /* swin_tiny16w4_upstream.safetensors -> swin_tiny8w4_upstream.safetensors */
        k = snprintf(out, n, "%.*s%s%s", (int)(at - output), output, t1, at + strlen(t0));
    else { /* the name does not say its backbone: the tag goes before the extension */
        const char *dot = strrchr(base, '.');
        if (!dot) dot = base + strlen(base);
        k = snprintf(out, n, "%.*s_%s%s", (int)(dot - output), output, t1, dot);
    }
    return k < n ? 0 : err_set("%s: the path for backbone %s is too long", output, backbone);
}

/* the pretraining recipe NAME, for another backbone when `backbone` is given and differs from the recipe's: the same
 * upstream task and schedule, its own output file (pretrain_output_for), both in the resolved JSON, so that the
 * cached file's metadata tells one backbone's pretraining from another's */
static int load_pretrain(const char *name, const recipe_vars *vars, const char *backbone, recipe *pr) {
    if (load_profile(name, vars, pr, "pretrain")) return -1;
    if (!backbone || !*backbone || !strcmp(backbone, pr->backbone)) return 0;
    char out[1024];
    if (!pr->output[0]) {
        recipe_free(pr);
        return err_set("%s: a pretraining recipe needs \"output\"", pr->path);
    }
    if (pretrain_output_for(pr->output, pr->backbone, backbone, out, sizeof out)) {
        recipe_free(pr);
        return err_prefix("pretraining %s for backbone %s", name, backbone);
    }
    snprintf(pr->backbone, sizeof pr->backbone, "%s", backbone);
    snprintf(pr->output, sizeof pr->output, "%s", out);
    cJSON_ReplaceItemInObjectCaseSensitive(pr->json, "backbone", cJSON_CreateString(backbone));
    cJSON_ReplaceItemInObjectCaseSensitive(pr->json, "output", cJSON_CreateString(out));
    return 0;
}

int pretrained_cached(const char *name, const recipe_vars *vars, char *out, int n) { return pretrained_cached_for(name, vars, NULL, out, n); }

int pretrained_cached_for(const char *name, const recipe_vars *vars, const char *backbone, char *out, int n) {
    recipe pr;
    if (load_pretrain(name, vars, backbone, &pr)) return -1;
    snprintf(out, n, "%s", pr.output);
    int rc = pr.output[0] && file_exists(pr.output) && pretrained_matches(&pr) ? 0 : 1;
    recipe_free(&pr);
    return rc;
}

int ensure_pretrained(const char *name, const recipe_vars *vars, int threads, int quiet, char *out, int n) {
    return ensure_pretrained_for(name, vars, NULL, threads, quiet, out, n);
}

int ensure_pretrained_for(const char *name, const recipe_vars *vars, const char *backbone, int threads, int quiet, char *out, int n) {
    recipe pr;
    if (load_pretrain(name, vars, backbone, &pr)) return -1;
    if (!pr.output[0]) {
        recipe_free(&pr);
        return err_set("%s: a pretraining recipe needs \"output\"", pr.path);
    }
    snprintf(out, n, "%s", pr.output);
    /* under mpirun rank 0 looks at the cached file (and moves a stale one aside) and tells the others */
    int64_t cached = 0;
    if (comm_rank() == 0) cached = file_exists(pr.output) ? (pretrained_matches(&pr) ? 1 : 2) : 0;
    if (comm_bcast(&cached, sizeof cached, 0)) {
        recipe_free(&pr);
        return -1;
    }
    if (comm_rank() != 0) quiet = 1;
    if (cached) {
        if (cached == 1) {
            if (!quiet) fprintf(stderr, "pretrained backbone: %s (cached; delete it to pretrain again)\n", pr.output);
            recipe_free(&pr);
            return 0;
        }
        /* made by another version of the recipe: keep it aside, pretrain again */
        char old[1200];
        snprintf(old, sizeof old, "%s.stale", pr.output);
        if (comm_rank() == 0 && rename(pr.output, old) != 0) {
            int e = errno;
            recipe_free(&pr);
            return err_set("%s: cannot move the stale pretrained backbone aside: %s", out, strerror(e));
        }
        if (!quiet) fprintf(stderr, "pretrained backbone: %s was made by another pretraining recipe (moved to %s); pretraining again\n", out, old);
    }
    if (threads > 0) pr.threads = threads;
    int rc = 0;
    for (int i = 0; i < pr.n_datasets && !rc; i++) rc = ensure_synth(&pr, &pr.datasets[i], quiet);
    char dir[1100];
    snprintf(dir, sizeof dir, "%s", pr.output);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    if (!rc && slash) rc = mkdir_p(dir);
    char run_dir[1200];
    snprintf(run_dir, sizeof run_dir, "%s.run", pr.output);
    if (!rc) {
        if (!quiet) fprintf(stderr, "pretraining the embedded backbone %s (%s) -> %s\n", pr.backbone, pr.path, pr.output);
        cls_run_spec s = {.r = &pr, .ds = &pr.datasets[0], .method = pr.methods[0], .pretrained = pr.pretrained, .run_dir = run_dir,
                          .resume = 1, .restart_if_stale = 1, .quiet = quiet, .save_backbone = pr.output, .data_desc = pr.description};
        cls_run_out ro;
        rc = cls_train_run(&s, &ro);
        if (!rc && ro.stopped) rc = err_set("pretraining interrupted; run the command again to resume it");
        if (!rc && !quiet) fprintf(stderr, "pretraining done: upstream top-1 %.2f (%.0f s)\n", ro.top1, ro.wall_s);
    }
    recipe_free(&pr);
    return rc;
}

/* lines of dir/name (0 when it is not there) */
static int count_lines_in(const char *dir, const char *name) {
    char p[1400];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "r");
    int n = 0, ch;
    if (!f) return 0;
    while ((ch = fgetc(f)) != EOF) n += ch == '\n';
    fclose(f);
    return n;
}

/* one training step per distinct model size, to estimate the time of the pending work */
static double estimate_step_s(const recipe *r) {
    swin_config sc;
    if (swin_preset(r->backbone, &sc)) return -1;
    classifier c;
    classifier_build(&c, &sc, &method_find("full")->plug, 16);
    classifier_init(&c, 0);
    graph g;
    graph_init(&g, 64 << 20);
    int B = r->batch < 4 ? r->batch : 4;
    double best = 1e30;
    for (int k = 0; k < 2; k++) {
        double t0 = time_now();
        graph_reset(&g);
        tensor *x = tensor_new4(&g, B, 3, r->img_size, r->img_size, 0);
        for (int64_t i = 0; i < x->n; i++) x->data[i] = (float)((i * 7919) % 255) / 255.0f;
        int labels[4] = {0, 1, 2, 3};
        tensor *loss = op_cross_entropy(&g, classifier_forward(&c, &g, x), labels, 0);
        tensor_grad(&g, loss)[0] = 1;
        graph_backward(&g);
        double dt = time_now() - t0;
        if (dt < best) best = dt;
    }
    graph_free(&g);
    classifier_free(&c);
    return best * r->batch / B;
}

/* ---- the task table ---- */
typedef struct repro_out {
    double metric[2]; /* cls: top-1, top-5; voc: mAP */
    double wall_s;
    int64_t trainable;
    int stopped;
} repro_out;

typedef struct repro_run {
    const recipe *r;
    const recipe_dataset *ds;
    const char *method, *key, *weights, *run_dir, *results, *data_desc;
    int quiet;
} repro_run;

static int cls_run(const repro_run *q, repro_out *out) {
    cls_run_spec s = {.r = q->r, .ds = q->ds, .method = q->method, .results_key = q->key, .pretrained = q->weights, .run_dir = q->run_dir,
                      .results_path = q->results, .resume = 1, .restart_if_stale = 1, .quiet = q->quiet, .data_desc = q->data_desc};
    cls_run_out ro;
    if (cls_train_run(&s, &ro)) return -1;
    out->metric[0] = ro.top1, out->metric[1] = ro.top5, out->wall_s = ro.wall_s, out->trainable = ro.trainable, out->stopped = ro.stopped;
    return 0;
}

static void cls_print(const char *ds, const char *key, const repro_out *o) {
    printf("%-12s %-18s top-1 %6.2f  top-5 %6.2f  %7.0f s  %lld trainable\n", ds, key, o->metric[0], o->metric[1], o->wall_s,
           (long long)o->trainable);
}

/* training iterations of one run from the data on disk (0 when it is not written yet) */
static int64_t cls_iters(const recipe *r, const recipe_dataset *d) {
    int n_train = count_lines_in(d->root, "train2mmcls.txt");
    return n_train ? (int64_t)(n_train / r->batch) * r->epochs : 0;
}

static int det_run(const repro_run *q, repro_out *out) {
    char dets[1500];
    snprintf(dets, sizeof dets, "%s/dets", q->run_dir);
    det_run_spec s = {.r = q->r, .ds = q->ds, .method = q->method, .results_key = q->key, .pretrained = q->weights, .run_dir = q->run_dir,
                      .results_path = q->results, .resume = 1, .restart_if_stale = 1, .quiet = q->quiet, .data_desc = q->data_desc,
                      .dets_dir = dets};
    det_run_out ro;
    if (det_train_run(&s, &ro)) return -1;
    out->metric[0] = ro.map, out->wall_s = ro.wall_s, out->trainable = ro.trainable, out->stopped = ro.stopped;
    return 0;
}

static void det_print(const char *ds, const char *key, const repro_out *o) {
    printf("%-10s %-18s mAP@0.5 %6.2f  %7.0f s  %lld trainable\n", ds, key, o->metric[0], o->wall_s, (long long)o->trainable);
}

/* the lines of the dataset entry's train splits, e.g. VOC2007/ImageSets/Main/trainval.txt */
static int64_t det_iters(const recipe *r, const recipe_dataset *d) {
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(recipe_dataset_json(r, d->key), "train"), *e;
    int n = 0;
    cJSON_ArrayForEach(e, tr) {
        if (!cJSON_IsString(e)) continue;
        char year[64], dir[1200];
        snprintf(year, sizeof year, "%s", e->valuestring);
        char *sl = strchr(year, '/');
        if (!sl) continue;
        *sl = 0;
        char list[96];
        snprintf(list, sizeof list, "%s.txt", sl + 1);
        snprintf(dir, sizeof dir, "%s/%s/ImageSets/Main", d->root, year);
        n += count_lines_in(dir, list);
    }
    return n ? (int64_t)(n / r->batch) * r->epochs : 0;
}

/* one RetinaNet training step (full fine-tuning) on a batch of img_scale-sized images, best of three */
static double det_step_s(const recipe *r) {
    swin_config sc;
    if (swin_preset(r->backbone, &sc)) return -1;
    retinanet_config nc;
    retinanet_config_default(&nc, &sc, VOC_N_CLASSES);
    nc.fpn_channels = (int)recipe_num(r, "neck_channels", 256);
    nc.feat_channels = (int)recipe_num(r, "head_channels", 256);
    retinanet net;
    retinanet_build(&net, &nc, &method_find("full")->plug);
    retinanet_init(&net, 0);
    int L = 1000, S = 600;
    const cJSON *is = cJSON_GetObjectItemCaseSensitive(r->json, "img_scale");
    if (cJSON_GetArraySize(is) == 2) L = cJSON_GetArrayItem(is, 0)->valueint, S = cJSON_GetArrayItem(is, 1)->valueint;
    int H = (S + 31) / 32 * 32, W = (L + 31) / 32 * 32, B = r->batch < 4 ? r->batch : 4;
    det_img_meta metas[4];
    det_gt gts[4];
    float box[4] = {0.2f * L, 0.2f * S, 0.6f * L, 0.7f * S};
    int lab = 3;
    for (int i = 0; i < B; i++) {
        metas[i] = (det_img_meta){.ori_h = S, .ori_w = L, .img_h = S, .img_w = L, .pad_h = H, .pad_w = W, .scale_factor = {1, 1, 1, 1}};
        gts[i] = (det_gt){.n = 1, .boxes = box, .labels = &lab};
    }
    graph g;
    graph_init(&g, 64 << 20);
    double best = 1e30;
    for (int k = 0; k < 3; k++) { /* the first step also sizes the arena */
        double t0 = time_now();
        graph_reset(&g);
        tensor *x = tensor_new4(&g, B, 3, H, W, 0);
        for (int64_t i = 0; i < x->n; i++) x->data[i] = (float)((i * 7919) % 255) / 255.0f - 0.5f;
        tensor *l;
        double lc, lb;
        if (retinanet_loss(&net, &g, x, metas, gts, &l, &lc, &lb)) break;
        tensor_grad(&g, l)[0] = 1;
        graph_backward(&g);
        double dt = time_now() - t0;
        if (dt < best) best = dt;
    }
    graph_free(&g);
    retinanet_free(&net);
    return best < 1e29 ? best * r->batch / B : -1;
}

static int seg_run(const repro_run *q, repro_out *out) {
    char preds[1500];
    snprintf(preds, sizeof preds, "%s/preds", q->run_dir);
    seg_run_spec s = {.r = q->r, .ds = q->ds, .method = q->method, .results_key = q->key, .pretrained = q->weights, .run_dir = q->run_dir,
                      .results_path = q->results, .resume = 1, .restart_if_stale = 1, .quiet = q->quiet, .data_desc = q->data_desc,
                      .preds_dir = preds};
    seg_run_out ro;
    if (seg_train_run(&s, &ro)) return -1;
    out->metric[0] = ro.miou, out->metric[1] = ro.best_miou, out->wall_s = ro.wall_s, out->trainable = ro.trainable, out->stopped = ro.stopped;
    return 0;
}

static void seg_print(const char *ds, const char *key, const repro_out *o) {
    printf("%-10s %-18s mIoU %6.2f (best %6.2f)  %7.0f s  %lld trainable\n", ds, key, o->metric[0], o->metric[1], o->wall_s,
           (long long)o->trainable);
}

/* iteration-based: the recipe's max_iters */
static int64_t seg_iters(const recipe *r, const recipe_dataset *d) { return r->max_iters; }

/* one UperNet training step (full fine-tuning) on a batch of crop-sized images, best of three */
static double seg_step_s(const recipe *r) {
    swin_config sc;
    if (swin_preset(r->backbone, &sc)) return -1;
    sc.out_mask = 0xF, sc.frozen_stages = -1;
    int ncls = (int)recipe_num(r, "num_classes", 150), crop = (int)recipe_num(r, "crop_size", 512), B = r->batch < 2 ? r->batch : 2;
    upernet_config nc;
    upernet_config_default(&nc, &sc, ncls);
    nc.channels = (int)recipe_num(r, "decode_channels", nc.channels);
    nc.aux_channels = (int)recipe_num(r, "aux_channels", nc.aux_channels);
    upernet net;
    upernet_build(&net, &nc, &method_find("full")->plug);
    upernet_init(&net, 0);
    seg_pipeline_cfg pc;
    seg_pipeline_cfg_default(&pc);
    pc.n_classes = ncls;
    seg_batch b;
    if (seg_batch_synthetic(&pc, B, crop, 1, &b)) {
        upernet_free(&net);
        return -1;
    }
    graph g;
    graph_init(&g, 64 << 20);
    g.training = 1;
    double best = 1e30;
    for (int k = 0; k < 3; k++) { /* the first step also sizes the arena */
        double t0 = time_now();
        graph_reset(&g);
        tensor *x = tensor_new4(&g, B, 3, crop, crop, 0);
        memcpy(x->data, b.images, sizeof(float) * x->n);
        tensor *l;
        double ld, la, acc;
        if (upernet_loss(&net, &g, x, b.labels, &l, &ld, &la, &acc)) break;
        tensor_grad(&g, l)[0] = 1;
        graph_backward(&g);
        double dt = time_now() - t0;
        if (dt < best) best = dt;
    }
    graph_free(&g);
    seg_batch_free(&b);
    upernet_free(&net);
    return best < 1e29 ? best * r->batch / B : -1;
}

static int coco_run(const repro_run *q, repro_out *out) {
    char dets[1500];
    snprintf(dets, sizeof dets, "%s/results", q->run_dir);
    coco_run_spec s = {.r = q->r, .ds = q->ds, .method = q->method, .results_key = q->key, .pretrained = q->weights, .run_dir = q->run_dir,
                       .results_path = q->results, .resume = 1, .restart_if_stale = 1, .quiet = q->quiet, .data_desc = q->data_desc,
                       .dets_prefix = dets};
    coco_run_out ro;
    if (coco_train_run(&s, &ro)) return -1;
    out->metric[0] = ro.bbox[0], out->metric[1] = ro.segm[0], out->wall_s = ro.wall_s, out->trainable = ro.trainable, out->stopped = ro.stopped;
    return 0;
}

static void coco_print(const char *ds, const char *key, const repro_out *o) {
    printf("%-10s %-18s box AP %6.2f  mask AP %6.2f  %7.0f s  %lld trainable\n", ds, key, o->metric[0], o->metric[1], o->wall_s,
           (long long)o->trainable);
}

/* the images of the train split's annotation file (an upper bound: mmdet drops those without annotations) */
static int64_t coco_iters(const recipe *r, const recipe_dataset *d) {
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(recipe_dataset_json(r, d->key), "train");
    char path[1400];
    snprintf(path, sizeof path, "%s/annotations/instances_%s.json", d->root, cJSON_IsString(tr) ? tr->valuestring : "train2017");
    if (!file_exists(path)) return 0;
    coco_dataset ds;
    if (coco_load(path, NULL, &ds)) return 0;
    int n = ds.n_images;
    coco_free(&ds);
    int64_t it = (int64_t)(n / (r->batch > 0 ? r->batch : 1)) * r->epochs;
    return r->max_iters > 0 && r->max_iters < it ? r->max_iters : it;
}

/* one Cascade Mask R-CNN training step (full fine-tuning) on a test_scale-sized image with three boxes and their
 * masks, best of three, times the batch */
static double coco_step_s(const recipe *r) {
    swin_config sc;
    if (swin_preset(r->backbone, &sc)) return -1;
    cascade_rcnn_config nc;
    cascade_rcnn_config_default(&nc, &sc, (int)recipe_num(r, "num_classes", 80), (int)recipe_num(r, "fpn_channels", 256));
    for (int i = 0; i < CASCADE_STAGES; i++) {
        nc.bbox[i].conv_out_channels = (int)recipe_num(r, "conv_out_channels", nc.bbox[i].conv_out_channels);
        nc.bbox[i].fc_out_channels = (int)recipe_num(r, "fc_out_channels", nc.bbox[i].fc_out_channels);
        nc.bbox[i].sampler.num = (int)recipe_num(r, "rcnn_samples", nc.bbox[i].sampler.num);
        nc.mask[i].conv_out_channels = (int)recipe_num(r, "mask_channels", nc.mask[i].conv_out_channels);
    }
    nc.with_mask = (int)recipe_num(r, "with_mask", 1) != 0;
    int tp = (int)recipe_num(r, "rpn_train_proposals", nc.rpn.train_proposal.max_per_img);
    nc.rpn.train_proposal.nms_pre = nc.rpn.train_proposal.max_per_img = tp;
    cascade_rcnn net;
    cascade_rcnn_build(&net, &nc, &method_find("full")->plug);
    cascade_rcnn_init(&net, 0);
    int L = 1333, S = 800;
    const cJSON *is = cJSON_GetObjectItemCaseSensitive(r->json, "test_scale");
    if (cJSON_GetArraySize(is) == 2) L = cJSON_GetArrayItem(is, 0)->valueint, S = cJSON_GetArrayItem(is, 1)->valueint;
    /* one image (the paper's Swin-B at 1333 x 800 needs some 8 GiB a training image), scaled to the batch */
    int H = (S + 31) / 32 * 32, W = (L + 31) / 32 * 32, B = 1;
    det_img_meta metas[1];
    det_gt gts[1];
    float box[12] = {0.2f * L, 0.2f * S, 0.6f * L, 0.7f * S, 0.5f * L, 0.1f * S, 0.9f * L, 0.5f * S, 0.05f * L, 0.6f * S, 0.3f * L, 0.95f * S};
    int lab[3] = {3, 1, 0};
    nc.mask[0].num_classes = nc.num_classes;
    uint8_t *masks = xcalloc((size_t)3 * H * W, 1); /* the boxes filled, at the padded size */
    for (int o = 0; o < 3; o++)
        for (int y = (int)box[4 * o + 1]; y < (int)box[4 * o + 3]; y++)
            memset(masks + ((size_t)o * H + y) * W + (int)box[4 * o], 1, (size_t)(box[4 * o + 2] - box[4 * o]));
    for (int i = 0; i < B; i++) {
        metas[i] = (det_img_meta){.ori_h = S, .ori_w = L, .img_h = S, .img_w = L, .pad_h = H, .pad_w = W, .scale_factor = {1, 1, 1, 1}};
        gts[i] = (det_gt){.n = 3, .boxes = box, .labels = lab, .masks = masks, .mask_h = H, .mask_w = W};
    }
    graph g;
    graph_init(&g, 64 << 20);
    g.training = 1;
    double best = 1e30;
    for (int k = 0; k < 3; k++) {
        double t0 = time_now();
        graph_reset(&g);
        tensor *x = tensor_new4(&g, B, 3, H, W, 0);
        for (int64_t i = 0; i < x->n; i++) x->data[i] = (float)((i * 7919) % 255) / 255.0f - 0.5f;
        tensor *l;
        rng_t rr;
        rng_seed(&rr, 1);
        if (cascade_rcnn_loss(&net, &g, x, metas, gts, &rr, &l, NULL)) break;
        tensor_grad(&g, l)[0] = 1;
        graph_backward(&g);
        double dt = time_now() - t0;
        if (dt < best) best = dt;
    }
    graph_free(&g);
    cascade_rcnn_free(&net);
    free(masks);
    return best < 1e29 ? best * r->batch / B : -1;
}

typedef struct repro_task_row {
    const char *task;
    int (*run)(const repro_run *q, repro_out *out);
    void (*print)(const char *ds, const char *key, const repro_out *o);
    int64_t (*iters)(const recipe *r, const recipe_dataset *d);
    double (*step_s)(const recipe *r);
    const char *step_what;
} repro_task_row;

static const repro_task_row task_rows[] = {
    {"cls", cls_run, cls_print, cls_iters, estimate_step_s, "full-tuning classification"},
    {"voc", det_run, det_print, det_iters, det_step_s, "full-tuning RetinaNet"},
    {"ade20k", seg_run, seg_print, seg_iters, seg_step_s, "full-tuning UperNet"},
    {"coco", coco_run, coco_print, coco_iters, coco_step_s, "full-tuning Cascade Mask R-CNN"},
};

int reproduce_task(const char *task, const repro_opts *o_in) {
    if (!strcmp(task, "voc_ablations") || !strcmp(task, "voc-ablations")) return reproduce_ablations(o_in);
    const repro_task_row *tr = NULL;
    for (size_t i = 0; i < sizeof task_rows / sizeof task_rows[0]; i++)
        if (!strcmp(task, task_rows[i].task)) tr = &task_rows[i];
    if (!tr) return err_set("no table driver for task '%s' (available: %s)", task, reproduce_tasks);
    repro_opts oo = *o_in;
    const repro_opts *o = &oo;
    char res_def[256], runs_def[256];
    snprintf(res_def, sizeof res_def, "results/%s.h5", task);
    snprintf(runs_def, sizeof runs_def, "results/runs/%s", task);
    if (!oo.results) oo.results = res_def;
    if (!oo.runs_dir) oo.runs_dir = runs_def;
    recipe r;
    if (load_profile(o->profile, &o->vars, &r, task)) return -1;
    if (strcmp(r.task, task)) {
        int e = err_set("%s: a recipe of task '%s', not '%s'", r.path, r.task, task);
        recipe_free(&r);
        return e;
    }
    int rc = 0;
    char *pending = NULL; /* [dataset][method]: 1 = to train */
    sha_memo memo = {.ok = 0};
    if (o->datasets_from) {
        recipe other;
        if (load_profile(o->datasets_from, &o->vars, &other, task)) {
            recipe_free(&r);
            return -1;
        }
        memcpy(r.datasets, other.datasets, sizeof r.datasets);
        r.n_datasets = other.n_datasets;
        cJSON *dj = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(other.json, "datasets"), 1);
        cJSON_ReplaceItemInObjectCaseSensitive(r.json, "datasets", dj);
        recipe_free(&other);
    }
#define OVR(field, key)                                                                                                \
    if (!rc && o->field >= 0) rc = recipe_set(&r, key, o->field);
    OVR(epochs, "epochs") OVR(batch, "batch") OVR(max_iters, "max_iters") OVR(max_eval_batches, "max_eval_batches");
    OVR(threads, "threads")
#undef OVR
    if (rc) goto out;
    /* --seeds: every run once per seed, recipe seed + i (use_seed); the data keeps the recipe's seed */
    const int n_seeds = o->seeds > 1 ? o->seeds : 1;
    const uint64_t seed0 = r.seed;
    const int had_seed = cJSON_GetObjectItemCaseSensitive(r.json, "seed") != NULL;
    /* the weights every run starts from */
    char pretrained[1100];
    snprintf(pretrained, sizeof pretrained, "%s", r.pretrained);
    int embedded = !strcmp(r.pretrained, "embedded");
    /* the work */
    int n_runs = 0, n_done = 0;
    int64_t iters = 0;
    printf("profile %s (%s)\n  %s\n", r.profile, r.path, r.description);
    printf("backbone %s, %d px, batch %d, %d epochs%s, lr %.4g, weights: %s\n", r.backbone, r.img_size, r.batch, r.epochs,
           r.max_iters > 0 ? " (capped by max_iters)" : "", r.lr, embedded ? "embedded (pretrained by the harness, cached)" : (r.pretrained[0] ? r.pretrained : "random init"));
    printf("results: %s, run states: %s/<dataset>/<method>\n", o->results, o->runs_dir);
    if (n_seeds > 1)
        printf("seeds: %d, the recipe's seed %llu + i for i = 0..%d; seed index 0 runs under the method's key, index i >= 1 under "
               "<method>_seed<i>\n", n_seeds, (unsigned long long)seed0, n_seeds - 1);
    if (o->batch >= 0 || o->epochs >= 0 || o->max_iters >= 0 || o->max_eval_batches >= 0)
        printf("note: overridden on the command line:%s%s%s%s (the resolved recipe stored with each result says so)\n",
               o->batch >= 0 ? " batch" : "", o->epochs >= 0 ? " epochs" : "", o->max_iters >= 0 ? " max_iters" : "",
               o->max_eval_batches >= 0 ? " max_eval_batches" : "");
    char wsha_buf[65];
    const char *wsha = weights_sha(embedded ? NULL : pretrained, wsha_buf);
    if (embedded) { /* the cached embedded backbone, if it is there already */
        char cached[1100];
        wsha = NULL;
        if (!pretrained_cached(r.pretrain_recipe, &o->vars, cached, sizeof cached)) wsha = weights_sha(cached, wsha_buf);
    }
    pending = xcalloc((size_t)n_seeds * r.n_datasets * r.n_methods + 1, 1); /* [seed][dataset][method] */
    for (int si = 0; si < n_seeds && !rc; si++) {
        if ((rc = use_seed(&r, seed0, had_seed, si))) break;
        char *rj_now = recipe_json(&r);
        for (int d = 0; d < r.n_datasets; d++) {
            if (!in_list(o->only_datasets, r.datasets[d].key)) continue;
            for (int m = 0; m < r.n_methods; m++) {
                if (!in_list(o->only_methods, r.method_keys[m])) continue;
                char key[RECIPE_METHOD_MAX + 16];
                seed_key(r.method_keys[m], si, key, sizeof key);
                int stale = 0;
                int done = !o->restart && run_is_current(o->results, r.datasets[d].key, key, rj_now, wsha, &stale);
                pending[((size_t)si * r.n_datasets + d) * r.n_methods + m] = !done;
                n_runs++;
                n_done += done;
                if (o->dry_run)
                    printf("  %-12s %-12s %s\n", r.datasets[d].key, key,
                           done ? "done (skipped)" : stale ? "to run again (stored run made by another recipe or other weights)" : "to run");
            }
        }
        free(rj_now);
    }
    if (!rc) rc = use_seed(&r, seed0, had_seed, 0);
    if (rc) goto out;
    if (o->dry_run) {
        char *js = cJSON_Print(r.json);
        printf("\nresolved recipe:\n%s\n", js);
        free(js);
        double step = tr->step_s(&r);
        /* iterations per run from the data sizes, where the data exists already */
        for (int d = 0; d < r.n_datasets; d++) {
            int64_t per = tr->iters(&r, &r.datasets[d]);
            if (r.max_iters > 0 && (per == 0 || per > r.max_iters)) per = r.max_iters;
            for (int si = 0; si < n_seeds; si++)
                for (int m = 0; m < r.n_methods; m++)
                    if (in_list(o->only_datasets, r.datasets[d].key) && in_list(o->only_methods, r.method_keys[m]) &&
                        pending[((size_t)si * r.n_datasets + d) * r.n_methods + m])
                        iters += per;
        }
        printf("\n%d runs, %d already complete. One %s training step takes about %.2f s here (measured now, batch %d);\n",
               n_runs, n_done, tr->step_what, step, r.batch);
        if (iters) printf("about %lld iterations pending: roughly %.0f minutes of training (PEFT steps are faster, evaluation adds some).\n",
                          (long long)iters, iters * step / 60);
        else if (n_done < n_runs) printf("iteration counts are known once the data exists (the embedded data is written on the first run).\n");
        char cached[1100];
        if (embedded && r.pretrain_recipe[0] && pretrained_cached(r.pretrain_recipe, &o->vars, cached, sizeof cached) == 1) {
            recipe pr;
            if (!load_profile(r.pretrain_recipe, &o->vars, &pr, "pretrain")) {
                int n_up = count_lines_in(pr.n_datasets ? pr.datasets[0].root : "", "train2mmcls.txt");
                double ps = estimate_step_s(&pr);
                printf("first, the embedded backbone is pretrained (recipe %s, %d epochs, one step about %.2f s, batch %d)", pr.path,
                       pr.epochs, ps, pr.batch);
                if (n_up > 0)
                    printf(": %d iterations, roughly %.0f minutes.\n", (n_up / pr.batch) * pr.epochs, (n_up / pr.batch) * pr.epochs * ps / 60);
                else
                    printf("; its upstream set is written first.\n");
                recipe_free(&pr);
            }
        }
        goto out;
    }
    if (embedded) {
        if (!r.pretrain_recipe[0]) {
            rc = err_set("%s: \"pretrained\": \"embedded\" needs \"pretrain_recipe\"", r.path);
            goto out;
        }
        if ((rc = ensure_pretrained(r.pretrain_recipe, &o->vars, r.threads, o->quiet, pretrained, sizeof pretrained))) goto out;
    }
    char paper_csv[1200];
    snprintf(paper_csv, sizeof paper_csv, "%s/reference/paper_numbers.csv", o->shared_dir);
    /* under mpirun rank 0 alone writes the results file, the tables and the figures */
    if (comm_rank() == 0 && (rc = results_open_or_create(o->results, task, r.profile, file_exists(paper_csv) ? paper_csv : NULL))) goto out;
    if ((rc = comm_barrier())) goto out;
    double t0 = time_now();
    int k = 0;
    /* seed by seed, so that the first seed's table (today's) is complete before the next seed starts */
    for (int si = 0; si < n_seeds && !rc; si++)
    for (int d = 0; d < r.n_datasets && !rc; d++) {
        if (!in_list(o->only_datasets, r.datasets[d].key)) continue;
        if ((rc = use_seed(&r, seed0, had_seed, 0)) || (rc = ensure_synth(&r, &r.datasets[d], o->quiet))) break; /* the recipe's seed */
        if ((rc = use_seed(&r, seed0, had_seed, si))) break;
        const char *desc_data = r.datasets[d].synth[0] ? "synthetic stand-in written by the harness (deltabench data synth)" : "user data";
        /* the methods, then the control run (fixed on a random backbone) */
        for (int m = 0; m <= r.n_methods && !rc; m++) {
            const char *meth, *key0, *weights = pretrained;
            char key[RECIPE_METHOD_MAX + 16];
            if (m < r.n_methods) {
                meth = r.methods[m];      /* the spec, "mona:width=32" */
                key0 = r.method_keys[m];  /* its run key, "mona_width32" */
                if (!in_list(o->only_methods, key0)) continue;
            } else {
                const cJSON *ctl = r.control;
                if (!ctl || o->no_control) break;
                const cJSON *cm = cJSON_GetObjectItemCaseSensitive(ctl, "method"), *ck = cJSON_GetObjectItemCaseSensitive(ctl, "key"),
                            *cp = cJSON_GetObjectItemCaseSensitive(ctl, "pretrained");
                if (!cJSON_IsString(cm) || !cJSON_IsString(ck)) {
                    rc = err_set("%s: \"control\" needs \"method\" and \"key\"", r.path);
                    break;
                }
                meth = cm->valuestring;
                key0 = ck->valuestring;
                if (o->only_methods && !in_list(o->only_methods, key0)) break;
                weights = cJSON_IsString(cp) ? cp->valuestring : "";
            }
            seed_key(key0, si, key, sizeof key); /* seed index >= 1: <key>_seed<i> */
            k++;
            char *rj = recipe_json(&r);
            int stale = 0, cur = 0;
            if (comm_rank() == 0) cur = !o->restart && run_is_current(o->results, r.datasets[d].key, key, rj, weights_sha_memo(weights, &memo), &stale);
            free(rj);
            int64_t dec[2] = {cur, stale}; /* rank 0's reading of the results file decides for every rank */
            if ((rc = comm_bcast(dec, sizeof dec, 0))) break;
            cur = (int)dec[0], stale = (int)dec[1];
            if (cur) {
                if (!o->quiet) fprintf(stderr, "[%s %s] complete in %s, skipped\n", r.datasets[d].key, key, o->results);
                continue;
            }
            if (stale && !o->quiet)
                fprintf(stderr, "[%s %s] the stored run was made by another recipe or other weights: training it again\n", r.datasets[d].key, key);
            char run_dir[1400];
            snprintf(run_dir, sizeof run_dir, "%s/%s/%s", o->runs_dir, r.datasets[d].key, key);
            if (o->restart && comm_rank() == 0) {
                char state[1500];
                snprintf(state, sizeof state, "%s/state.safetensors", run_dir);
                remove(state);
            }
            if (!o->quiet) fprintf(stderr, "== run %d (%s on %s), %.0f s elapsed\n", k, key, r.datasets[d].key, time_now() - t0);
            repro_run q = {.r = &r, .ds = &r.datasets[d], .method = meth, .key = key, .weights = weights, .run_dir = run_dir,
                           .results = o->results, .data_desc = desc_data, .quiet = o->quiet};
            repro_out ro;
            memset(&ro, 0, sizeof ro);
            rc = tr->run(&q, &ro);
            if (!rc && ro.stopped) {
                rc = err_set("interrupted: run the same command again to resume (%s)", run_dir);
                break;
            }
            if (!rc) tr->print(r.datasets[d].key, key, &ro);
            fflush(stdout);
        }
    }
    if (!rc) rc = use_seed(&r, seed0, had_seed, 0);
    if (!rc) printf("all runs complete (%.0f s this invocation)\n", time_now() - t0);
    if (!rc && !o->no_report && comm_rank() == 0) {
        rc = report_tables(o->results, task, "results");
        int made = 0;
        if (!rc) rc = report_plots(o->results, task, "build/plots", "plots", "plots", &made);
        if (!rc) printf("tables: results/%s.md, results/%s.tex; figures: %d in plots/\n", task, task, made);
    }
out:
    free(pending);
    recipe_free(&r);
    return rc;
}

/* ---- what the ablation driver (reproduce_ablations.c) shares with the table drivers ---- */
int repro_load_profile(const char *profile, const recipe_vars *vars, recipe *r, const char *task) { return load_profile(profile, vars, r, task); }
int repro_run_is_current(const char *results, const char *ds, const char *key, const char *rj, const char *weights_sha, int *stale) {
    return run_is_current(results, ds, key, rj, weights_sha, stale);
}
const char *repro_weights_sha(const char *path, char hex[65]) { return weights_sha(path, hex); }
double repro_det_step_s(const recipe *r) { return det_step_s(r); }
int64_t repro_det_iters(const recipe *r, const recipe_dataset *d) { return det_iters(r, d); }
double repro_cls_step_s(const recipe *r) { return estimate_step_s(r); }
int repro_count_lines(const char *dir, const char *name) { return count_lines_in(dir, name); }
