/* cmd_reproduce.c - `deltabench reproduce cls|voc|ade20k|coco|voc-ablations` (the paper's classification table, its
 * Pascal VOC detection, ADE20K and COCO columns, the VOC ablations) and `deltabench pretrain` (the embedded default's upstream backbone). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/comm.h"
#include "../core/common.h"
#include "../experiments/reproduce.h"
#include "../models/classifier.h"
#include "../methods/method.h"
#include "../experiments/train_cls.h"
#include "commands.h"

static void on_signal(int sig) {
    (void)sig;
    cls_train_interrupted = 1;
}

static void install_handlers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static void reproduce_usage(FILE *f) {
    fprintf(f,
            "usage: deltabench reproduce cls|voc|ade20k|coco|voc-ablations [options]\n\n"
            "Runs every (dataset, method) of a paper table under one recipe profile into one results file\n"
            "(results/<task>.h5), then writes the tables and figures. Finished runs are skipped when the command\n"
            "is repeated; an interrupted run (Ctrl-C, kill) resumes from its last checkpoint with the same result.\n"
            "  cls   classification (Flowers102, Oxford Pets, VOC2007), recipes experiments/recipes/cls_*.json\n"
            "  voc   RetinaNet on Pascal VOC 07+12, tested on VOC2007 test (mmdet's 11-point mAP@0.5), recipes\n"
            "        experiments/recipes/voc_*.json; each run also writes its test detections as comp4 files\n"
            "        (results/runs/voc/<dataset>/<method>/dets) that `deltabench eval voc` scores\n"
            "  ade20k UperNet on ADE20K (iteration-based, mmseg's single-scale mIoU on the validation set),\n"
            "        recipes experiments/recipes/ade20k_*.json; each run writes its validation predictions as PNG\n"
            "        label maps (results/runs/ade20k/ade20k/<method>/preds) that `deltabench eval seg` scores\n"
            "  coco  Cascade Mask R-CNN on COCO (train2017 / val2017, box and mask AP as mmdet logs them),\n"
            "        recipes experiments/recipes/coco_*.json; each run writes its val detections as COCO results\n"
            "        files (results/runs/coco/coco/<method>/results.{bbox,segm}.json) that `deltabench eval coco`\n"
            "        and pycocotools' loadRes score\n"
            "  voc-ablations  the paper's VOC ablations (Table 5 Mona's width, Table 6 backbone size with Full\n"
            "        against Mona, Table 7 scaled LayerNorm and kernels), RetinaNet as in voc, recipes\n"
            "        experiments/recipes/voc_ablations_*.json (the rows are the recipe's \"ablations\"); a run two\n"
            "        tables share is trained once; results/voc_ablations.h5, .md, .tex. The embedded default\n"
            "        pretrains each backbone size it needs (cached per size, e.g. cache/pretrained/\n"
            "        swin_tiny8w4_upstream.safetensors); the paper profile takes Swin-T/B from $PRETRAINED_T,\n"
            "        $PRETRAINED_B and Swin-L from --pretrained. --methods filters by run key (mona_width2,\n"
            "        full.embed8)\n\n"
            "  --profile P         default (embedded synthetic data and harness-pretrained backbone) or paper\n"
            "                      (the authors' recipe), or a recipe .json (default: default)\n"
            "  --data-root DIR     real datasets for the paper profile: cls: DIR/flowers102, DIR/oxford_pets,\n"
            "                      DIR/VOCdevkit/VOC2007; voc: DIR/VOCdevkit/VOC2007 and VOC2012;\n"
            "                      ade20k: DIR/ADEChallengeData2016; coco: DIR/coco/{train2017,val2017,\n"
            "                      annotations} (or $DATA_ROOT)\n"
            "  --pretrained FILE   released Swin checkpoint (.pth or .safetensors), e.g.\n"
            "                      swin_large_patch4_window7_224_22k.pth (coco: swin_base_patch4_window7_224_22k.pth;\n"
            "                      or $PRETRAINED)\n"
            "  --cache DIR         synthetic data and the pretrained embedded backbone (default cache)\n"
            "  --results FILE      results file (default results/<task>.h5)\n"
            "  --runs-dir DIR      per-run checkpoints (default results/runs/<task>)\n"
            "  --methods LIST      only these methods (comma-separated run keys: mona, mona_width32)\n"
            "  --datasets LIST     only these datasets (cls: flowers102, oxford_pets, voc2007; voc: voc0712; ade20k: ade20k)\n"
            "  --datasets-from P   use the datasets of profile P (e.g. the paper recipe on the synthetic data)\n"
            "  --epochs N, --batch N, --max-iters N, --max-eval-batches N, --threads N   override the recipe\n"
            "  --seeds N           run every (dataset, method), and the control, with N seeds: the recipe's seed + i,\n"
            "                      i = 0..N-1 (default 1: the recipe's seed alone). Seed i >= 1 runs under the key\n"
            "                      <method>_seed<i> (results group and runs dir; seed 0 keeps <method>), each resumable and\n"
            "                      skipped when complete on its own; the tables then give mean +- sd over the seeds and a\n"
            "                      paired t-test of each method against full fine-tuning (same seed index = one pair)\n"
            "  --restart           ignore finished runs and saved states: train everything again\n"
            "  --no-control        skip the control run (fixed on a randomly initialised backbone)\n"
            "  --no-report         do not write tables and figures\n"
            "  --dry-run           print the resolved recipe, the runs and a time estimate; train nothing\n"
            "  --shared DIR        the shared reference folder for the paper's numbers (default ../shared)\n"
            "  --quiet             no progress lines\n");
}

int cmd_reproduce(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        reproduce_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "cls") && strcmp(argv[1], "voc") && strcmp(argv[1], "ade20k") && strcmp(argv[1], "coco") &&
        strcmp(argv[1], "voc-ablations") && strcmp(argv[1], "voc_ablations")) {
        fprintf(stderr, "deltabench reproduce: task '%s' is not available yet (available: %s)\n", argv[1], reproduce_tasks);
        return 2;
    }
    repro_opts o;
    repro_opts_default(&o);
    o.vars.data_root = getenv("DATA_ROOT");
    o.vars.pretrained = getenv("PRETRAINED");
    o.vars.cache = "cache";
    const char *sh = getenv("DB_SHARED");
    if (sh && *sh) o.shared_dir = sh;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define STR(name, field)                                                                                               \
    if (!strcmp(a, name) && v) {                                                                                       \
        field = v;                                                                                                     \
        i++;                                                                                                           \
        continue;                                                                                                      \
    }
#define INT(name, field)                                                                                               \
    if (!strcmp(a, name) && v) {                                                                                       \
        char *end;                                                                                                     \
        long x = strtol(v, &end, 10);                                                                                  \
        if (*end || x < 0) {                                                                                           \
            fprintf(stderr, "deltabench reproduce: %s needs a non-negative integer, got '%s'\n", name, v);           \
            return 2;                                                                                                  \
        }                                                                                                              \
        field = (int)x;                                                                                                \
        i++;                                                                                                           \
        continue;                                                                                                      \
    }
        STR("--profile", o.profile) STR("--data-root", o.vars.data_root) STR("--pretrained", o.vars.pretrained)
        STR("--cache", o.vars.cache) STR("--results", o.results) STR("--runs-dir", o.runs_dir) STR("--methods", o.only_methods)
        STR("--datasets", o.only_datasets) STR("--datasets-from", o.datasets_from) STR("--shared", o.shared_dir)
        INT("--epochs", o.epochs) INT("--batch", o.batch) INT("--max-iters", o.max_iters) INT("--max-eval-batches", o.max_eval_batches)
        INT("--threads", o.threads)
#undef STR
#undef INT
        if (!strcmp(a, "--seeds")) {
            char *end = NULL;
            long x = v ? strtol(v, &end, 10) : 0;
            if (!v || end == v || *end || x < 1 || x > 1000) {
                fprintf(stderr, "deltabench reproduce: --seeds needs a whole number of seeds from 1 to 1000, got '%s'\n", v ? v : "nothing");
                return 2;
            }
            o.seeds = (int)x;
            i++;
            continue;
        }
        if (!strcmp(a, "--restart")) o.restart = 1;
        else if (!strcmp(a, "--no-control")) o.no_control = 1;
        else if (!strcmp(a, "--no-report")) o.no_report = 1;
        else if (!strcmp(a, "--dry-run")) o.dry_run = 1;
        else if (!strcmp(a, "--quiet")) o.quiet = 1;
        else {
            fprintf(stderr, "deltabench reproduce: unknown option '%s' (see --help)\n", a);
            return 2;
        }
    }
    install_handlers();
    if (comm_rank() != 0) o.quiet = 1; /* under mpirun rank 0 speaks for the job */
    if (reproduce_task(argv[1], &o)) {
        fprintf(stderr, "deltabench: %s\n", err_msg());
        return 1;
    }
    return 0;
}

/* a randomly initialised backbone in the released layout (for smoke runs of the paper profile) */
static int write_random_official(const char *backbone, const char *out) {
    if (file_exists(out)) {
        printf("%s (exists)\n", out);
        return 0;
    }
    swin_config sc;
    if (swin_preset(backbone, &sc)) return -1;
    classifier c;
    classifier_build(&c, &sc, &method_find("full")->plug, 1000);
    classifier_init(&c, 0);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", out);
    char *sl = strrchr(dir, '/');
    if (sl) {
        *sl = 0;
        if (mkdir_p(dir)) return -1;
    }
    char meta[256];
    snprintf(meta, sizeof meta, "{\"note\": \"random initialisation of %s in the released layout, for smoke runs\"}", backbone);
    int rc = cls_save_released_layout(out, &c, "backbone.", meta);
    classifier_free(&c);
    if (!rc) printf("%s\n", out);
    return rc;
}

int cmd_pretrain(int argc, char **argv) {
    const char *name = "default", *cache = "cache", *backbone = NULL;
    int threads = -1;
    if (argc >= 4 && !strcmp(argv[1], "--random-official")) {
        if (write_random_official(argv[2], argv[3])) {
            fprintf(stderr, "deltabench: %s\n", err_msg());
            return 1;
        }
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: deltabench pretrain [--recipe PROFILE|FILE.json] [--backbone B] [--cache DIR] [--threads N]\n\n"
                   "Pretrains the embedded default's backbone on the synthetic upstream task (recipe experiments/recipes/pretrain_default.json:\n"
                   "full training from scratch) and writes it, in the layout of a released Swin checkpoint, to the\n"
                   "recipe's output under the cache (default cache/pretrained/). A cached file is reused; an\n"
                   "interrupted pretraining resumes. --backbone B pretrains B instead (e.g. tiny:8:2,2,2,2:1,2,4,8:w4, as the\n"
                   "VOC ablations' Table 6 does) with the same upstream task and schedule, into its own file named by B's tag\n"
                   "(cache/pretrained/swin_tiny8w4_upstream.safetensors).\n\n"
                   "       deltabench pretrain --random-official BACKBONE OUT.safetensors\n"
                   "writes a randomly initialised BACKBONE (e.g. swin-l) in the layout of the authors' re-wrapped\n"
                   "released checkpoints (keys behind 'backbone.', with norm.* and head.*), for smoke runs.\n");
            return 0;
        }
        if (!strcmp(argv[i], "--recipe") && i + 1 < argc) name = argv[++i];
        else if (!strcmp(argv[i], "--cache") && i + 1 < argc) cache = argv[++i];
        else if (!strcmp(argv[i], "--backbone") && i + 1 < argc) backbone = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "deltabench pretrain: unknown option '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }
    install_handlers();
    recipe_vars v = {.cache = cache};
    char out[1200];
    if (ensure_pretrained_for(name, &v, backbone, threads, 0, out, sizeof out)) {
        fprintf(stderr, "deltabench: %s\n", err_msg());
        return 1;
    }
    printf("%s\n", out);
    return 0;
}
