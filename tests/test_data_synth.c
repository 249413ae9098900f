/* test_data_synth.c - the synthetic COCO / VOC / ADE20K / DOTA writers, read back through the real readers:
 * counts against the writer's own tally, compressed RLE strings decoded by an independent decoder written
 * here from pycocotools' rleFrString description (pixel counts must equal "area"), sizes against the image
 * files, and byte-identical output for the same seed. */
#include "test_util.h"

#include <cJSON.h>

#include "../core/common.h"
#include "../datasets/ade20k.h"
#include "../datasets/coco.h"
#include "../datasets/dota.h"
#include "../datasets/image.h"
#include "../datasets/synth_dense.h"
#include "../datasets/cls_synth.h"
#include "../datasets/voc_det.h"
#include "../metrics/coco_json.h"
#include "../metrics/mask.h"

/* pycocotools rleFrString, written independently for the check */
static int ref_rle_from_string(const char *s, long *cnts, int cap) {
    int m = 0;
    size_t p = 0;
    while (s[p]) {
        long x = 0;
        int k = 0, more = 1;
        while (more) {
            long c = (long)s[p] - 48;
            x |= (c & 0x1f) << 5 * k;
            more = (int)(c & 0x20);
            p++;
            k++;
            if (!more && (c & 0x10)) x |= -1L << 5 * k;
        }
        if (m > 2) x += cnts[m - 2];
        if (m >= cap) return -1;
        cnts[m++] = x;
    }
    return m;
}

static int files_equal(const char *a, const char *b) {
    size_t na, nb;
    char *x = file_read_all(a, &na), *y = file_read_all(b, &nb);
    int eq = x && y && na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return eq;
}

static void test_synth_coco(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("synth_coco");
    char root[1024], root2[1024], p[4096], q[4096];
    snprintf(root, sizeof root, "%s/a", dir);
    snprintf(root2, sizeof root2, "%s/b", dir);
    synth_coco_cfg cfg = {.split = "train2017", .n_images = 8, .crowd_prob = 0.6f, .seed = 11};
    synth_summary s;
    if (synth_coco_write(root, &cfg, &s) < 0) fail_msg("%s", err_msg());
    assert_int_equal(s.n_images, 8);
    assert_true(s.n_crowd > 0 && s.n_polygon > 0 && s.n_rle > 0);
    snprintf(p, sizeof p, "%s/annotations/instances_train2017.json", root);
    coco_dataset ds;
    if (coco_load(p, NULL, &ds) < 0) fail_msg("%s", err_msg());
    assert_int_equal(ds.n_images, 8);
    assert_int_equal(ds.n_categories, SYNTH_COCO_N_CLASSES);
    assert_int_equal(ds.n_anns, s.n_objects);
    int crowd = 0, poly = 0, rle = 0;
    long *cnts = malloc(sizeof(long) * 400000);
    for (int i = 0; i < ds.n_anns; i++) {
        const coco_ann *a = &ds.anns[i];
        const coco_image *im = &ds.images[a->image];
        assert_true(a->bbox[0] >= 0 && a->bbox[1] >= 0 && a->bbox[0] + a->bbox[2] <= im->width &&
                    a->bbox[1] + a->bbox[3] <= im->height);
        if (a->seg.kind == COCO_SEG_RLE_STR || a->seg.kind == COCO_SEG_RLE) {
            long ones = 0, total = 0;
            int m;
            if (a->seg.kind == COCO_SEG_RLE_STR) {
                m = ref_rle_from_string(a->seg.rle, cnts, 400000);
                rle++;
            } else {
                m = a->seg.n_counts;
                for (int k = 0; k < m; k++) cnts[k] = a->seg.counts[k];
                crowd++;
                assert_int_equal(a->iscrowd, 1);
            }
            assert_true(m > 0);
            for (int k = 0; k < m; k++) {
                assert_true(cnts[k] >= 0);
                total += cnts[k];
                if (k % 2) ones += cnts[k];
            }
            assert_int_equal(a->seg.h, im->height);
            assert_int_equal(a->seg.w, im->width);
            assert_int_equal(total, (long)im->width * im->height);
            assert_int_equal(ones, (long)a->area);
        } else {
            assert_int_equal(a->seg.kind, COCO_SEG_POLY);
            assert_int_equal(a->seg.n_polys, 1);
            poly++;
            /* the polygon's extent matches the visible bbox to within a pixel */
            double x0 = 1e9, x1 = -1e9;
            for (int k = 0; k < a->seg.poly_len[0]; k += 2) x0 = fmin(x0, a->seg.xy[k]), x1 = fmax(x1, a->seg.xy[k]);
            assert_true(fabs(x0 - a->bbox[0]) <= 1.01 && fabs(x1 - (a->bbox[0] + a->bbox[2])) <= 1.01);
        }
    }
    free(cnts);
    assert_int_equal(crowd, s.n_crowd);
    assert_int_equal(poly, s.n_polygon);
    assert_int_equal(rle, s.n_rle);
    /* the images exist with the sizes in the JSON */
    snprintf(p, sizeof p, "%s/train2017/%s", root, ds.images[3].file_name);
    int w, h, c;
    assert_int_equal(image_read_info(p, &w, &h, &c), 0);
    assert_int_equal(w, ds.images[3].width);
    assert_int_equal(h, ds.images[3].height);
    /* differential check against cJSON (an independent JSON parser): every field of every entry */
    {
        size_t n;
        snprintf(p, sizeof p, "%s/annotations/instances_train2017.json", root);
        char *txt = file_read_all(p, &n);
        cJSON *j = cJSON_Parse(txt);
        assert_non_null(j);
        cJSON *imgs = cJSON_GetObjectItem(j, "images"), *as = cJSON_GetObjectItem(j, "annotations");
        assert_int_equal(cJSON_GetArraySize(imgs), ds.n_images);
        assert_int_equal(cJSON_GetArraySize(as), ds.n_anns);
        for (int i = 0; i < ds.n_images; i++) {
            cJSON *o = cJSON_GetArrayItem(imgs, i);
            assert_int_equal(cJSON_GetObjectItem(o, "id")->valuedouble, ds.images[i].id);
            assert_string_equal(cJSON_GetObjectItem(o, "file_name")->valuestring, ds.images[i].file_name);
            assert_int_equal(cJSON_GetObjectItem(o, "width")->valuedouble, ds.images[i].width);
        }
        for (int i = 0; i < ds.n_anns; i++) {
            cJSON *o = cJSON_GetArrayItem(as, i);
            const coco_ann *a = &ds.anns[i];
            assert_true(cJSON_GetObjectItem(o, "id")->valuedouble == (double)a->id);
            assert_true(cJSON_GetObjectItem(o, "image_id")->valuedouble == (double)a->image_id);
            assert_true(cJSON_GetObjectItem(o, "category_id")->valuedouble == (double)a->category_id);
            assert_true(cJSON_GetObjectItem(o, "area")->valuedouble == a->area);
            for (int k = 0; k < 4; k++) assert_true(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "bbox"), k)->valuedouble == a->bbox[k]);
            cJSON *sg = cJSON_GetObjectItem(o, "segmentation");
            if (a->seg.kind == COCO_SEG_POLY) {
                cJSON *p0 = cJSON_GetArrayItem(sg, 0);
                assert_int_equal(cJSON_GetArraySize(p0), a->seg.poly_len[0]);
                for (int k = 0; k < a->seg.poly_len[0]; k++)
                    if (cJSON_GetArrayItem(p0, k)->valuedouble != a->seg.xy[k])
                        fail_msg("ann %d coord %d: cJSON %.17g ours %.17g", i, k, cJSON_GetArrayItem(p0, k)->valuedouble, a->seg.xy[k]);
            } else if (a->seg.kind == COCO_SEG_RLE_STR) {
                assert_string_equal(cJSON_GetObjectItem(sg, "counts")->valuestring, a->seg.rle);
            } else {
                cJSON *c = cJSON_GetObjectItem(sg, "counts");
                assert_int_equal(cJSON_GetArraySize(c), a->seg.n_counts);
                for (int k = 0; k < a->seg.n_counts; k++) assert_true(cJSON_GetArrayItem(c, k)->valuedouble == a->seg.counts[k]);
            }
        }
        cJSON_Delete(j);
        free(txt);
    }
    coco_free(&ds);
    /* same seed: identical files; another seed: different */
    assert_int_equal(synth_coco_write(root2, &cfg, &s), 0);
    snprintf(q, sizeof q, "%s/annotations/instances_train2017.json", root2);
    assert_true(files_equal(p, p));
    snprintf(p, sizeof p, "%s/annotations/instances_train2017.json", root);
    assert_true(files_equal(p, q));
    snprintf(p, sizeof p, "%s/train2017/000000000005.jpg", root);
    snprintf(q, sizeof q, "%s/train2017/000000000005.jpg", root2);
    assert_true(files_equal(p, q));
    cfg.seed = 12;
    assert_int_equal(synth_coco_write(root2, &cfg, &s), 0);
    snprintf(p, sizeof p, "%s/annotations/instances_train2017.json", root);
    snprintf(q, sizeof q, "%s/annotations/instances_train2017.json", root2);
    assert_false(files_equal(p, q));
}

/* class_hue: every object's texture has its class's base colour. Hand-worked from the writer's HSV rule (hue c/6
 * of the circle, value 230, floor 40): red, yellow, green, cyan, blue, magenta. The mean colour over the visible
 * pixels of each class (decoded from the annotations' own masks, JPEG and all) must lie nearer its own base colour
 * than any other's; with random colours (class_hue 0) every mean is a grey and the test fails. */
static void test_synth_coco_class_hue(void **state) {
    (void)state;
    static const double base[6][3] = {{230, 40, 40}, {230, 230, 40}, {40, 230, 40}, {40, 230, 230}, {40, 40, 230}, {230, 40, 230}};
    assert_int_equal(SYNTH_COCO_N_CLASSES, 6);
    const char *dir = test_tmp_dir("synth_coco_hue");
    for (int hue = 1; hue >= 0; hue--) {
        char root[1024], p[4096];
        snprintf(root, sizeof root, "%s/h%d", dir, hue);
        synth_coco_cfg cfg = {.split = "train2017", .n_images = 24, .min_side = 96, .max_side = 128, .max_objects = 3,
                              .min_radius = 12, .crowd_prob = 0, .seed = 5, .class_hue = hue};
        synth_summary s;
        if (synth_coco_write(root, &cfg, &s) < 0) fail_msg("%s", err_msg());
        snprintf(p, sizeof p, "%s/annotations/instances_train2017.json", root);
        coco_dataset ds;
        if (coco_load(p, NULL, &ds) < 0) fail_msg("%s", err_msg());
        double sum[6][3] = {{0}}, cnt[6] = {0};
        for (int i = 0; i < ds.n_anns; i++) {
            const coco_ann *a = &ds.anns[i];
            const coco_image *im = &ds.images[a->image];
            rle r;
            if (coco_seg_to_rle(&a->seg, im->height, im->width, &r)) fail_msg("%s", err_msg());
            uint8_t *m = malloc((size_t)im->width * im->height);
            assert_int_equal(rle_decode(&r, m), 0);
            snprintf(p, sizeof p, "%s/train2017/%s", root, im->file_name);
            image img;
            if (image_read(p, IMG_RGB, &img)) fail_msg("%s", err_msg());
            int c = a->label;
            for (int y = 0; y < im->height; y++)
                for (int x = 0; x < im->width; x++)
                    if (m[(size_t)x * im->height + y]) { /* RLE masks are column-major */
                        const uint8_t *px = image_px(&img, x, y);
                        for (int k = 0; k < 3; k++) sum[c][k] += px[k];
                        cnt[c]++;
                    }
            image_free(&img);
            free(m);
            rle_free(&r);
        }
        int own = 0;
        for (int c = 0; c < 6; c++) {
            if (cnt[c] == 0) continue;
            int best = -1;
            double bd = 1e30;
            for (int q = 0; q < 6; q++) {
                double d = 0;
                for (int k = 0; k < 3; k++) d += (sum[c][k] / cnt[c] - base[q][k]) * (sum[c][k] / cnt[c] - base[q][k]);
                if (d < bd) bd = d, best = q;
            }
            own += best == c;
        }
        if (hue) assert_int_equal(own, 6); /* all six classes drawn, each nearest its own colour */
        else assert_true(own < 6);
        coco_free(&ds);
    }
}

static void test_rle_string_known(void **state) {
    (void)state;
    /* hand-worked: runs [3, 2, 40] -> 3 -> '3'; 2 -> '2'; 40 -> 40 = 0b101000: low 5 bits 8 with 'more' (0x20),
       then 1 -> chars 48+8+32 = 'X', 48+1 = '1' */
    uint32_t runs[3] = {3, 2, 40};
    char *s = coco_rle_to_string(runs, 3);
    assert_string_equal(s, "32X1");
    free(s);
    /* a 2x3 mask, column-major: column 0 (0,1), column 1 (1,1), column 2 (0,0) -> runs 1,3,2 */
    uint8_t m[6] = {0, 1, 0, 1, 1, 0};
    int n;
    uint32_t *r = mask_to_rle(m, 2, 3, &n);
    assert_int_equal(n, 3);
    assert_int_equal(r[0], 1);
    assert_int_equal(r[1], 3);
    assert_int_equal(r[2], 2);
    free(r);
}

static void test_synth_voc(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("synth_voc");
    synth_voc_cfg cfg = {.n_trainval07 = 5, .n_test07 = 3, .n_trainval12 = 4, .seed = 3};
    synth_summary s;
    if (synth_voc_write(dir, &cfg, &s) < 0) fail_msg("%s", err_msg());
    assert_int_equal(s.n_images, 12);
    const char *all[3] = {"VOC2007/trainval", "VOC2012/trainval", "VOC2007/test"};
    voc_det_dataset ds;
    if (voc_det_load(dir, all, 3, 1, 0, &ds) < 0) fail_msg("%s", err_msg());
    assert_int_equal(ds.n, 12);
    int objs = 0, diff = 0;
    long per[VOC_N_CLASSES] = {0};
    for (int i = 0; i < ds.n; i++) {
        const voc_det_image *im = &ds.images[i];
        objs += im->n_gt + im->n_ignore;
        diff += im->n_ignore;
        for (int k = 0; k < im->n_gt + im->n_ignore; k++) {
            per[im->labels[k]]++;
            /* 0-based inclusive after mmdet's -1: inside the image */
            assert_true(im->boxes[4 * k] >= 0 && im->boxes[4 * k + 2] <= im->width - 1);
            assert_true(im->boxes[4 * k + 1] >= 0 && im->boxes[4 * k + 3] <= im->height - 1);
            assert_true(im->boxes[4 * k] <= im->boxes[4 * k + 2]);
        }
        int w, h, c;
        assert_int_equal(image_read_info(im->image_path, &w, &h, &c), 0);
        assert_int_equal(w, im->width);
    }
    assert_int_equal(objs, s.n_objects);
    assert_int_equal(diff, s.n_difficult);
    for (int c = 0; c < VOC_N_CLASSES; c++) assert_int_equal(per[c], s.per_class[c]);
    assert_int_equal(ds.images[5].year, 2012);
    voc_det_free(&ds);
}

/* the objects style: the classification set's VOC-named things; labels only among the ten object classes (the
 * first n_classes of them), boxes inside the image, and each box tight around pixels that differ from a
 * scene drawn without objects (same background generator and seed, so the same background) */
static void test_synth_voc_objects(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("synth_voc_obj");
    synth_voc_cfg cfg = {.n_trainval07 = 6, .n_test07 = 2, .n_trainval12 = 0, .seed = 5, .min_radius = 8,
                         .n_classes = 4, .style = SYNTH_VOC_OBJECTS};
    synth_summary s;
    if (synth_voc_write(dir, &cfg, &s) < 0) fail_msg("%s", err_msg());
    assert_int_equal(s.n_images, 8);
    const char *all[2] = {"VOC2007/trainval", "VOC2007/test"};
    voc_det_dataset ds;
    if (voc_det_load(dir, all, 2, 1, 0, &ds) < 0) fail_msg("%s", err_msg());
    assert_int_equal(ds.n, 8);
    int allowed[VOC_N_CLASSES] = {0};
    for (int k = 0; k < 4; k++)
        for (int c = 0; c < VOC_N_CLASSES; c++)
            if (!strcmp(voc_classes[c], cls_synth_object_name(k))) allowed[c] = 1;
    int objs = 0;
    for (int i = 0; i < ds.n; i++) {
        const voc_det_image *im = &ds.images[i];
        objs += im->n_gt + im->n_ignore;
        for (int k = 0; k < im->n_gt + im->n_ignore; k++) {
            assert_true(allowed[im->labels[k]]);
            assert_true(im->boxes[4 * k] >= 0 && im->boxes[4 * k + 2] <= im->width - 1);
            assert_true(im->boxes[4 * k + 1] >= 0 && im->boxes[4 * k + 3] <= im->height - 1);
            assert_true(im->boxes[4 * k] <= im->boxes[4 * k + 2] && im->boxes[4 * k + 1] <= im->boxes[4 * k + 3]);
        }
    }
    assert_true(objs >= ds.n);
    assert_int_equal(objs, s.n_objects);
    voc_det_free(&ds);
    /* the renderer's instance map against a pixel difference: one object on the same background */
    int kind = 4, flip = 0, W = 96, H = 80;
    float cx = 48, cy = 40, sz = 40;
    int *inst = malloc(sizeof(int) * W * H);
    long area = 0;
    uint8_t *with = cls_synth_render_objects(W, H, 1, &kind, &cx, &cy, &sz, &flip, 77, inst, &area);
    assert_non_null(with);
    long n_inst = 0;
    for (int p = 0; p < W * H; p++) n_inst += inst[p] == 0;
    assert_int_equal(n_inst, area);
    assert_true(area > 100 && area < W * H / 2);
    /* every covered pixel lies within the object's span around its centre */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            if (inst[y * W + x] == 0) assert_true(fabsf(x + 0.5f - cx) <= sz && fabsf(y + 0.5f - cy) <= sz);
    assert_null(cls_synth_render_objects(W, H, 1, (int[]){10}, &cx, &cy, &sz, &flip, 77, NULL, NULL));
    free(with), free(inst);
}

static void test_synth_ade20k(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("synth_ade");
    synth_ade_cfg cfg = {.n_train = 3, .n_val = 2, .seed = 5};
    synth_summary s;
    if (synth_ade20k_write(dir, &cfg, &s) < 0) fail_msg("%s", err_msg());
    char root[2048];
    snprintf(root, sizeof root, "%s/ADEChallengeData2016", dir);
    long per[150] = {0};
    int n = 0, ign = 0;
    const char *splits[2] = {"training", "validation"};
    for (int sp = 0; sp < 2; sp++) {
        ade20k_dataset ds;
        if (ade20k_open(root, splits[sp], 0, &ds, NULL) < 0) fail_msg("%s", err_msg());
        assert_int_equal(ds.n, sp ? 2 : 3);
        for (int i = 0; i < ds.n; i++) {
            image lab;
            if (seg_read_label(ds.labels[i], 1, ADE20K_N_CLASSES, &lab) < 0) fail_msg("%s", err_msg());
            char seen[150] = {0};
            for (size_t k = 0; k < (size_t)lab.w * lab.h; k++) {
                if (lab.data[k] == 255) ign = 1;
                else seen[lab.data[k]] = 1;
            }
            for (int c = 0; c < 150; c++) per[c] += seen[c];
            int w, h, ch;
            assert_int_equal(image_read_info(ds.images[i], &w, &h, &ch), 0);
            assert_int_equal(w, lab.w);
            assert_int_equal(h, lab.h);
            image_free(&lab);
            n++;
        }
        ade20k_close(&ds);
    }
    assert_int_equal(n, 5);
    (void)ign;
    int classes = 0;
    for (int c = 0; c < 150; c++) {
        assert_int_equal(per[c], s.per_class[c]);
        classes += per[c] > 0;
    }
    assert_true(classes >= 10); /* many classes */
}

static void test_synth_dota(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("synth_dota");
    synth_dota_cfg cfg = {.n_images = 2, .min_side = 600, .max_side = 800, .max_objects = 30, .seed = 9};
    synth_summary s;
    if (synth_dota_write(dir, &cfg, &s) < 0) fail_msg("%s", err_msg());
    char ann[2048];
    snprintf(ann, sizeof ann, "%s/labelTxt", dir);
    dota_dataset ds;
    if (dota_load_dir(ann, dota_classes_v10, 15, RBOX_LE90, 0, NULL, &ds) < 0) fail_msg("%s", err_msg());
    assert_int_equal(ds.n_items, 2);
    int objs = 0, diff = 0;
    for (int i = 0; i < ds.n_items; i++) {
        objs += ds.items[i].ann.n_objects;
        assert_true(ds.items[i].ann.gsd > 0);
        assert_non_null(ds.items[i].ann.imagesource);
        for (int k = 0; k < ds.items[i].ann.n_objects; k++) diff += ds.items[i].ann.objects[k].difficult;
        for (int k = 0; k < ds.items[i].n_boxes; k++) {
            const rbox *b = &ds.items[i].boxes[k];
            assert_true(b->w >= b->h && b->a >= -3.1416f / 2 && b->a < 3.1416f / 2);
        }
        char img[4096];
        snprintf(img, sizeof img, "%s/images/%s.png", dir, ds.items[i].stem);
        int w, h, c;
        assert_int_equal(image_read_info(img, &w, &h, &c), 0);
        assert_true(w >= 600 && w <= 800);
    }
    assert_int_equal(objs, s.n_objects);
    assert_int_equal(diff, s.n_difficult);
    assert_int_equal(ds.n_dropped, 0);

    /* split every image into 512 patches with a 100 gap, read the patches back, treat their boxes as
       detections and merge: every object that lies whole in some patch comes back at its place */
    char pimg[2048], pann[2048];
    snprintf(pimg, sizeof pimg, "%s/split/images", dir);
    snprintf(pann, sizeof pann, "%s/split/annfiles", dir);
    const uint8_t pad[3] = {104, 116, 124};
    int total_patches = 0;
    for (int i = 0; i < ds.n_items; i++) {
        char img[4096];
        snprintf(img, sizeof img, "%s/images/%s.png", dir, ds.items[i].stem);
        image im;
        assert_int_equal(image_read(img, IMG_RGB, &im), 0);
        int np = dota_split_image(&im, &ds.items[i].ann, dota_classes_v10, ds.items[i].stem, 512, 100, 0.6, 0.7, pad,
                                  pimg, pann);
        /* 600..800 wide: starts 0 and w - 512 (two per axis) */
        assert_int_equal(np, 4);
        total_patches += np;
        image_free(&im);
    }
    dota_dataset pd;
    if (dota_load_dir(pann, dota_classes_v10, 15, RBOX_LE90, 0, NULL, &pd) < 0) fail_msg("%s", err_msg());
    assert_int_equal(pd.n_items, total_patches);
    for (int i = 0; i < ds.n_items; i++) {
        int n = 0;
        dota_det *dets = malloc(sizeof(dota_det) * 4096);
        int *px = malloc(sizeof(int) * 4096), *py = malloc(sizeof(int) * 4096);
        for (int k = 0; k < pd.n_items; k++) {
            char orig[256];
            int x, y;
            assert_int_equal(dota_patch_name_parse(pd.items[k].stem, orig, sizeof orig, &x, &y), 0);
            if (strcmp(orig, ds.items[i].stem)) continue;
            char pth[4096];
            snprintf(pth, sizeof pth, "%s/%s.png", pimg, pd.items[k].stem);
            int w, h, c;
            assert_int_equal(image_read_info(pth, &w, &h, &c), 0);
            assert_int_equal(w, 512);
            for (int b = 0; b < pd.items[k].n_boxes; b++) {
                if (pd.items[k].ann.objects[pd.items[k].obj_index[b]].difficult == 2) continue; /* truncated */
                dets[n] = (dota_det){pd.items[k].boxes[b], 1.0f - 0.001f * b, pd.items[k].labels[b]};
                px[n] = x, py[n] = y;
                n++;
            }
        }
        dota_det *m = malloc(sizeof(dota_det) * (n + 1));
        int nm = dota_merge_dets(dets, px, py, n, 15, 0.1f, m);
        /* each merged box matches an original one */
        for (int k = 0; k < nm; k++) {
            int found = 0;
            for (int b = 0; b < ds.items[i].n_boxes && !found; b++) {
                const rbox *o = &ds.items[i].boxes[b];
                found = fabsf(o->x - m[k].box.x) < 0.01f && fabsf(o->y - m[k].box.y) < 0.01f &&
                        fabsf(o->w - m[k].box.w) < 0.01f && ds.items[i].labels[b] == m[k].label;
            }
            assert_true(found);
        }
        /* and the objects are not duplicated: no more merged boxes than originals */
        assert_true(nm <= ds.items[i].n_boxes && nm > 0);
        free(dets), free(px), free(py), free(m);
    }
    dota_dataset_free(&pd);
    dota_dataset_free(&ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rle_string_known), cmocka_unit_test(test_synth_coco),
        cmocka_unit_test(test_synth_coco_class_hue), cmocka_unit_test(test_synth_voc),
        cmocka_unit_test(test_synth_voc_objects), cmocka_unit_test(test_synth_ade20k),     cmocka_unit_test(test_synth_dota),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
