/* test_coco_results.c - COCO results files as mmdet 2.11 writes them (metrics/coco_results.h): the entries'
 * values and order read back with cJSON, the masks' compressed RLE decoding to the written masks, and the
 * round trip file -> metrics/coco_json.h loader -> evaluator giving exactly the in-memory path's 12 + 12
 * numbers, on a synth_coco_write set with perturbed ground truth as detections. */
#include "test_util.h"

#include <cJSON.h>

#include "../core/common.h"
#include "../datasets/coco.h"
#include "../datasets/synth_dense.h"
#include "../metrics/coco_eval.h"
#include "../metrics/coco_json.h"
#include "../metrics/coco_results.h"
#include "../metrics/mask.h"

static void test_format_double(void **state) {
    (void)state;
    char b[40];
    coco_format_double(0.1, b, sizeof b);
    assert_string_equal(b, "0.1");
    coco_format_double(100, b, sizeof b);
    assert_string_equal(b, "100.0");
    coco_format_double(1.0 / 3, b, sizeof b);
    assert_string_equal(b, "0.3333333333333333");
    coco_format_double((double)0.1f, b, sizeof b); /* what Python prints for float(np.float32(0.1)) */
    assert_string_equal(b, "0.10000000149011612");
    coco_format_double(1e-05, b, sizeof b);
    assert_string_equal(b, "1e-05");
    coco_format_double(-2.5, b, sizeof b);
    assert_string_equal(b, "-2.5");
    /* Python's repr layout: positional for exponents -4..15, else d.ddde+XX */
    const double pv[] = {1e16, 1234567.0, 1.5e-07, 0.0001, 123.456, 1e22, -0.0, 0.00012345, 9999999999999998.0, 5e-324};
    const char *ps[] = {"1e+16", "1234567.0", "1.5e-07", "0.0001", "123.456", "1e+22", "-0.0", "0.00012345",
                        "9999999999999998.0", "5e-324"};
    for (int i = 0; i < 10; i++) {
        coco_format_double(pv[i], b, sizeof b);
        assert_string_equal(b, ps[i]);
    }
    rng_t r;
    rng_seed(&r, 3);
    for (int i = 0; i < 2000; i++) {
        double v = ((double)rng_u64(&r) / 18446744073709551616.0 - 0.5) * pow(10, (int)rng_below(&r, 12) - 4);
        coco_format_double(v, b, sizeof b);
        assert_true(strtod(b, NULL) == v);
        float f = (float)v;
        coco_format_double((double)f, b, sizeof b);
        assert_true(strtod(b, NULL) == (double)f);
    }
}

/* the synthetic set, its ground truth with masks, and detections made from it */
typedef struct fixture {
    coco_dataset ds;
    coco_gt gt;
    int n_img;
    coco_image_dets *d;
    float **boxes, **scores;
    int **labels;
    uint8_t **masks;
} fixture;

static void make_fixture(fixture *F, const char *name, int n_images, uint64_t seed) {
    memset(F, 0, sizeof *F);
    const char *dir = test_tmp_dir(name);
    char root[2048], ann[4096];
    snprintf(root, sizeof root, "%s/coco", dir);
    synth_coco_cfg cfg = {.split = "val2017", .n_images = n_images, .crowd_prob = 0.4f, .max_objects = 10, .seed = seed};
    synth_summary sum;
    if (synth_coco_write(root, &cfg, &sum) < 0) fail_msg("%s", err_msg());
    snprintf(ann, sizeof ann, "%s/annotations/instances_val2017.json", root);
    if (coco_load(ann, NULL, &F->ds) < 0) fail_msg("%s", err_msg());
    if (coco_gt_from_dataset(&F->ds, 1, ann, &F->gt) < 0) fail_msg("%s", err_msg());
    int n = F->ds.n_images;
    F->n_img = n;
    F->d = calloc(n, sizeof *F->d);
    F->boxes = calloc(n, sizeof(float *)), F->scores = calloc(n, sizeof(float *));
    F->labels = calloc(n, sizeof(int *)), F->masks = calloc(n, sizeof(uint8_t *));
    rng_t r;
    rng_seed(&r, seed * 7 + 1);
    for (int i = 0; i < n; i++) {
        const coco_image *im = &F->ds.images[i];
        int W = im->width, H = im->height, cap = 2 * im->n_anns + 4, k = 0;
        size_t plane = (size_t)W * H;
        float *bx = malloc(sizeof(float) * 4 * cap), *sc = malloc(sizeof(float) * cap);
        int *lb = malloc(sizeof(int) * cap);
        uint8_t *mk = calloc((size_t)cap * plane, 1), *col = malloc(plane);
        for (int a = 0; a < im->n_anns; a++) {
            int ai = F->ds.ann_index[im->ann_first + a];
            const coco_ann *A = &F->ds.anns[ai];
            for (int copy = 0; copy < 2; copy++) {
                if (copy == 1 && rng_uniform(&r) < 0.6f) continue; /* some duplicates */
                double x = A->bbox[0], y = A->bbox[1], w = A->bbox[2], h = A->bbox[3];
                double j = copy ? 0.25 : 0.08;
                float *o = bx + 4 * k;
                o[0] = (float)(x + (rng_uniform(&r) - 0.5) * j * w);
                o[1] = (float)(y + (rng_uniform(&r) - 0.5) * j * h);
                o[2] = (float)(x + w + (rng_uniform(&r) - 0.5) * j * w);
                o[3] = (float)(y + h + (rng_uniform(&r) - 0.5) * j * h);
                /* scores with ties (quantised) so that the order of equal scores matters */
                sc[k] = (float)((int)(rng_uniform(&r) * 20) / 20.0 + 0.025);
                lb[k] = rng_uniform(&r) < 0.85f ? A->label : (int)rng_below(&r, F->ds.n_categories);
                /* the gt mask, shifted by a few pixels */
                assert_int_equal(rle_decode(&F->gt.anns[ai].mask, col), 0);
                int sx = (int)rng_below(&r, 5) - 2, sy = (int)rng_below(&r, 5) - 2 + copy;
                uint8_t *m = mk + plane * k;
                for (int yy = 0; yy < H; yy++)
                    for (int xx = 0; xx < W; xx++) {
                        int u = xx - sx, v = yy - sy;
                        if (u >= 0 && u < W && v >= 0 && v < H) m[(size_t)yy * W + xx] = col[(size_t)u * H + v];
                    }
                k++;
            }
        }
        for (int fp = 0; fp < 2; fp++) { /* false positives: random rectangles */
            float x0 = rng_uniform(&r) * W * 0.7f, y0 = rng_uniform(&r) * H * 0.7f;
            float x1 = x0 + 2 + rng_uniform(&r) * (W - x0 - 2), y1 = y0 + 2 + rng_uniform(&r) * (H - y0 - 2);
            float *o = bx + 4 * k;
            o[0] = x0, o[1] = y0, o[2] = x1, o[3] = y1;
            sc[k] = rng_uniform(&r) * 0.5f;
            lb[k] = (int)rng_below(&r, F->ds.n_categories);
            uint8_t *m = mk + plane * k;
            for (int yy = (int)y0; yy < (int)y1 && yy < H; yy++)
                for (int xx = (int)x0; xx < (int)x1 && xx < W; xx++) m[(size_t)yy * W + xx] = 1;
            k++;
        }
        free(col);
        F->boxes[i] = bx, F->scores[i] = sc, F->labels[i] = lb, F->masks[i] = mk;
        /* images in reverse order: the files follow the order given */
        F->d[n - 1 - i] = (coco_image_dets){.image = i, .n = k, .boxes = bx, .scores = sc, .labels = lb, .masks = mk};
    }
}

static void free_fixture(fixture *F) {
    for (int i = 0; i < F->n_img; i++) free(F->boxes[i]), free(F->scores[i]), free(F->labels[i]), free(F->masks[i]);
    free(F->boxes), free(F->scores), free(F->labels), free(F->masks), free(F->d);
    coco_gt_free(&F->gt);
    coco_free(&F->ds);
}

static cJSON *load_json(const char *path) {
    size_t n;
    char *s = file_read_all(path, &n);
    if (!s) fail_msg("%s", err_msg());
    cJSON *j = cJSON_Parse(s);
    free(s);
    if (!j) fail_msg("cannot parse %s", path);
    return j;
}

/* the file's entries, value for value, against mmdet's _det2json / _segm2json loops */
static void test_file_contents(void **state) {
    (void)state;
    fixture F;
    make_fixture(&F, "coco_results_a", 5, 21);
    char prefix[4096], p[4200];
    snprintf(prefix, sizeof prefix, "build/tmp/coco_results_a/results");
    if (coco_results2json(prefix, &F.gt, F.d, F.n_img, 1) < 0) fail_msg("%s", err_msg());
    for (int segm = 0; segm < 2; segm++) {
        snprintf(p, sizeof p, "%s.%s.json", prefix, segm ? "segm" : "bbox");
        cJSON *j = load_json(p);
        assert_true(cJSON_IsArray(j));
        cJSON *it = j->child;
        int total = 0, n_backslash = 0;
        for (int e = 0; e < F.n_img; e++) {
            const coco_image_dets *x = &F.d[e];
            const coco_gt_image *im = &F.gt.images[x->image];
            for (int lab = 0; lab < F.gt.n_cats; lab++)
                for (int q = 0; q < x->n; q++) {
                    if (x->labels[q] != lab) continue;
                    assert_non_null(it);
                    const float *b = x->boxes + 4 * q;
                    assert_true(cJSON_GetObjectItem(it, "image_id")->valuedouble == (double)im->id);
                    assert_true(cJSON_GetObjectItem(it, "category_id")->valuedouble == (double)F.gt.cat_ids[lab]);
                    assert_true(F.gt.cat_ids[lab] == lab + 1); /* synth: ids 1..6, so a label written as id shows */
                    assert_true(cJSON_GetObjectItem(it, "score")->valuedouble == (double)x->scores[q]);
                    cJSON *bb = cJSON_GetObjectItem(it, "bbox");
                    assert_int_equal(cJSON_GetArraySize(bb), 4);
                    assert_true(cJSON_GetArrayItem(bb, 0)->valuedouble == (double)b[0]);
                    assert_true(cJSON_GetArrayItem(bb, 1)->valuedouble == (double)b[1]);
                    assert_true(cJSON_GetArrayItem(bb, 2)->valuedouble == (double)b[2] - (double)b[0]);
                    assert_true(cJSON_GetArrayItem(bb, 3)->valuedouble == (double)b[3] - (double)b[1]);
                    cJSON *sg = cJSON_GetObjectItem(it, "segmentation");
                    if (!segm) {
                        assert_null(sg);
                    } else {
                        cJSON *sz = cJSON_GetObjectItem(sg, "size");
                        assert_int_equal(cJSON_GetArrayItem(sz, 0)->valueint, im->height);
                        assert_int_equal(cJSON_GetArrayItem(sz, 1)->valueint, im->width);
                        const char *cs = cJSON_GetStringValue(cJSON_GetObjectItem(sg, "counts"));
                        assert_non_null(cs);
                        n_backslash += strchr(cs, '\\') != NULL;
                        rle r;
                        assert_int_equal(rle_from_string(&r, cs, (uint32_t)im->height, (uint32_t)im->width), 0);
                        size_t plane = (size_t)im->height * im->width;
                        uint8_t *col = malloc(plane);
                        assert_int_equal(rle_decode(&r, col), 0);
                        const uint8_t *m = x->masks + plane * q;
                        for (int yy = 0; yy < im->height; yy++)
                            for (int xx = 0; xx < im->width; xx++)
                                assert_int_equal(col[(size_t)xx * im->height + yy], m[(size_t)yy * im->width + xx]);
                        free(col);
                        rle_free(&r);
                    }
                    it = it->next;
                    total++;
                }
        }
        assert_null(it);
        assert_true(total > 10);
        if (segm) print_message("segm file: %d entries, %d counts strings with a backslash\n", total, n_backslash);
        cJSON_Delete(j);
    }
    /* no temporary left behind */
    snprintf(p, sizeof p, "test -z \"$(ls build/tmp/coco_results_a | grep tmp)\"");
    assert_int_equal(system(p), 0);
    /* bad input */
    int bad_label = 6;
    float box[4] = {1, 1, 5, 5}, sc = 0.5f;
    coco_image_dets bd = {.image = 0, .n = 1, .boxes = box, .scores = &sc, .labels = &bad_label};
    snprintf(p, sizeof p, "%s.bad.json", prefix);
    assert_int_equal(coco_results_write(p, &F.gt, &bd, 1, COCO_IOU_BBOX), -1);
    assert_non_null(strstr(err_msg(), "label 6"));
    assert_false(file_exists(p));
    bad_label = 0;
    assert_int_equal(coco_results_write(p, &F.gt, &bd, 1, COCO_IOU_SEGM), -1); /* no masks */
    assert_non_null(strstr(err_msg(), "need masks"));
    bd.image = F.gt.n_images;
    assert_int_equal(coco_results_write(p, &F.gt, &bd, 1, COCO_IOU_BBOX), -1);
    box[2] = NAN;
    bd.image = 0;
    assert_int_equal(coco_results_write(p, &F.gt, &bd, 1, COCO_IOU_BBOX), -1);
    assert_non_null(strstr(err_msg(), "not finite"));
    free_fixture(&F);
}

/* the files through coco_json.h's loaders and the evaluator == the in-memory path, number for number */
static void test_round_trip_numbers(void **state) {
    (void)state;
    fixture F;
    make_fixture(&F, "coco_results_b", 12, 33);
    double mb[12], ms[12];
    if (coco_results_evaluate(&F.gt, F.d, F.n_img, 1, mb, ms) < 0) fail_msg("%s", err_msg());
    char prefix[] = "build/tmp/coco_results_b/results", p[256], ann[256];
    if (coco_results2json(prefix, &F.gt, F.d, F.n_img, 1) < 0) fail_msg("%s", err_msg());
    /* ground truth read again from the file, as a client would */
    snprintf(ann, sizeof ann, "build/tmp/coco_results_b/coco/annotations/instances_val2017.json");
    coco_gt gt2;
    if (coco_gt_load(ann, 1, &gt2) < 0) fail_msg("%s", err_msg());
    for (int t = 0; t < 2; t++) {
        snprintf(p, sizeof p, "%s.%s.json", prefix, t ? "segm" : "bbox");
        coco_det dt, mem;
        if (coco_results_load(p, &gt2, t == 1, &dt) < 0) fail_msg("%s", err_msg());
        assert_int_equal(coco_results_to_det(&F.gt, F.d, F.n_img, t, &mem), 0);
        assert_int_equal(dt.n, mem.n);
        for (int k = 0; k < dt.n; k++) { /* entry for entry */
            const coco_dt_ann *a = &dt.dets[k], *b = &mem.dets[k];
            assert_true(a->image_id == b->image_id && a->category_id == b->category_id && a->score == b->score);
            assert_memory_equal(a->bbox, b->bbox, sizeof a->bbox);
            assert_true(a->area == b->area);
            if (t == 1) {
                assert_true(a->mask.h == b->mask.h && a->mask.w == b->mask.w && a->mask.m == b->mask.m);
                assert_memory_equal(a->mask.cnts, b->mask.cnts, sizeof(uint32_t) * a->mask.m);
            }
        }
        coco_summary s;
        if (coco_eval_run(&gt2, &dt, t, 1, &s) < 0) fail_msg("%s", err_msg());
        const double *m = t ? ms : mb;
        print_message("%s: file", t ? "segm" : "bbox");
        for (int q = 0; q < 12; q++) print_message(" %.4f", s.stats[q]);
        print_message("\n");
        for (int q = 0; q < 12; q++)
            if (s.stats[q] != m[q]) fail_msg("%s stat %d: file %.17g, memory %.17g", t ? "segm" : "bbox", q, s.stats[q], m[q]);
        /* perturbed ground truth: well above chance, below perfect */
        assert_true(s.stats[0] > 0.2 && s.stats[0] < 0.95);
        assert_true(s.stats[1] >= s.stats[0] && s.stats[8] > 0.3);
        coco_summary_free(&s);
        coco_det_free(&dt);
        coco_det_free(&mem);
    }
    coco_gt_free(&gt2);
    free_fixture(&F);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_double),
        cmocka_unit_test(test_file_contents),
        cmocka_unit_test(test_round_trip_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
