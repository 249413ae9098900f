/* test_cls_synth.c - the synthetic classification data: byte-identical output for the same seed with 1
 * or 2 threads, different output for another seed, read back through the list reader with balanced
 * labels and the declared class names, reuse of a complete directory, the CLI, and a check that the
 * labels carry signal (a colour-histogram nearest-centroid classifier is far above chance on flowers
 * and pets, whose classes differ in colour). */
#include "test_util.h"

#include <omp.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/common.h"
#include "../datasets/cls_dataset.h"
#include "../datasets/cls_synth.h"
#include "../datasets/image.h"

static void write_small(synth_kind k, const char *dir, uint64_t seed, int threads) {
    synth_opts o;
    memset(&o, 0, sizeof o);
    o.n_train_per_class = 2;
    o.n_test_per_class = 1;
    o.img_min = 40;
    o.img_max = 56;
    o.quiet = 1;
    omp_set_num_threads(threads);
    assert_int_equal(cls_synth_write(k, dir, seed, &o), 0);
    omp_set_num_threads(2);
}

static int same_file(const char *a, const char *b) {
    size_t na, nb;
    char *x = file_read_all(a, &na), *y = file_read_all(b, &nb);
    int same = x && y && na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return same;
}

static void test_determinism(void **state) {
    (void)state;
    char a[2048], b[2048], c[2048];
    snprintf(a, sizeof a, "%s", test_tmp_dir("cls_synth_a"));
    snprintf(b, sizeof b, "%s", test_tmp_dir("cls_synth_b"));
    snprintf(c, sizeof c, "%s", test_tmp_dir("cls_synth_c"));
    for (int k = 0; k < SYNTH_COUNT; k++) {
        write_small((synth_kind)k, a, 5, 1);
        write_small((synth_kind)k, b, 5, 2);
        write_small((synth_kind)k, c, 6, 2);
        cls_dataset da, db;
        assert_int_equal(cls_dataset_open(CLS_FMT_LIST, a, "train", &da), 0);
        assert_int_equal(cls_dataset_open(CLS_FMT_LIST, b, "train", &db), 0);
        assert_int_equal(da.n, db.n);
        int differ = 0;
        for (int i = 0; i < da.n; i++) {
            assert_true(same_file(da.paths[i], db.paths[i]));
            char pc[4200];
            snprintf(pc, sizeof pc, "%s/%s", c, da.paths[i] + strlen(a) + 1);
            differ += !same_file(da.paths[i], pc);
        }
        assert_true(differ > da.n / 2); /* another seed draws other images */
        char pa[2100], pb[2100];
        snprintf(pa, sizeof pa, "%s/synth.json", a);
        snprintf(pb, sizeof pb, "%s/synth.json", b);
        assert_true(same_file(pa, pb));
        cls_dataset_free(&da);
        cls_dataset_free(&db);
    }
}

static void test_read_back(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("cls_synth_rb");
    char d[2048];
    snprintf(d, sizeof d, "%s", dir);
    write_small(SYNTH_VOC, d, 1, 2);
    cls_dataset ds;
    assert_int_equal(cls_dataset_open(CLS_FMT_LIST, d, "train", &ds), 0);
    assert_int_equal(ds.n, 20); /* 2 per class on average over 10 classes */
    assert_int_equal(ds.n_classes, 10);
    assert_string_equal(ds.class_names[7], "person");
    int *cnt = cls_dataset_class_counts(&ds);
    assert_true(cnt[7] >= 2 * cnt[0] - 1); /* person twice as frequent */
    free(cnt);
    for (int i = 0; i < ds.n; i++) {
        image im;
        assert_int_equal(image_read(ds.paths[i], IMG_RGB, &im), 0);
        assert_true(im.w >= 40 && im.w <= 56 && im.h >= 40 && im.h <= 56);
        image_free(&im);
    }
    cls_dataset_free(&ds);
    assert_int_equal(cls_dataset_open(CLS_FMT_LIST, d, "test", &ds), 0);
    assert_int_equal(ds.n, 10);
    cls_dataset_free(&ds);
    for (int k = 0; k < SYNTH_COUNT; k++)
        for (int c = 0; c < synth_n_classes((synth_kind)k); c++) assert_true(strcmp(synth_class_name((synth_kind)k, c), "?"));
    assert_int_equal(synth_n_classes(SYNTH_UPSTREAM), 40);

    /* a complete directory is reused: a removed image is not redrawn unless forced */
    char img[2200];
    snprintf(img, sizeof img, "%s/images/train/voc_00003.jpg", d);
    assert_int_equal(unlink(img), 0);
    write_small(SYNTH_VOC, d, 1, 2);
    assert_false(file_exists(img));
    synth_opts o;
    memset(&o, 0, sizeof o);
    o.n_train_per_class = 2;
    o.n_test_per_class = 1;
    o.img_min = 40;
    o.img_max = 56;
    o.quiet = 1;
    o.force = 1;
    assert_int_equal(cls_synth_write(SYNTH_VOC, d, 1, &o), 0);
    assert_true(file_exists(img));
    /* other parameters rewrite without force */
    o.force = 0;
    o.n_train_per_class = 3;
    assert_int_equal(cls_synth_write(SYNTH_VOC, d, 1, &o), 0);
    assert_int_equal(cls_dataset_open(CLS_FMT_LIST, d, "train", &ds), 0);
    assert_int_equal(ds.n, 30);
    cls_dataset_free(&ds);
    synth_kind k;
    assert_int_equal(synth_kind_parse("imagenet", &k), -1);
    assert_null(cls_synth_render(SYNTH_PETS, 99, 1, 32, 32));
}

/* 4x4x4 colour histogram of the central half of the image */
static void hist_feature(const uint8_t *px, int w, int h, float *f) {
    memset(f, 0, sizeof(float) * 64);
    int n = 0;
    for (int y = h / 4; y < 3 * h / 4; y++)
        for (int x = w / 4; x < 3 * w / 4; x++) {
            const uint8_t *p = px + ((size_t)y * w + x) * 3;
            f[(p[0] >> 6) * 16 + (p[1] >> 6) * 4 + (p[2] >> 6)] += 1;
            n++;
        }
    for (int i = 0; i < 64; i++) f[i] /= n;
}

static void test_labels_carry_signal(void **state) {
    (void)state;
    synth_kind kinds[2] = {SYNTH_FLOWERS, SYNTH_PETS};
    for (int t = 0; t < 2; t++) {
        synth_kind k = kinds[t];
        int nc = synth_n_classes(k), ntr = 8, nte = 4, S = 48;
        float *cent = calloc((size_t)nc * 64, sizeof(float)), f[64];
        for (int c = 0; c < nc; c++)
            for (int i = 0; i < ntr; i++) {
                uint8_t *px = cls_synth_render(k, c, 1000 + c * 100 + i, S, S);
                hist_feature(px, S, S, f);
                for (int j = 0; j < 64; j++) cent[c * 64 + j] += f[j] / ntr;
                free(px);
            }
        int correct = 0;
        for (int c = 0; c < nc; c++)
            for (int i = 0; i < nte; i++) {
                uint8_t *px = cls_synth_render(k, c, 900000 + c * 100 + i, S, S);
                hist_feature(px, S, S, f);
                free(px);
                int best = 0;
                float bd = 1e30f;
                for (int q = 0; q < nc; q++) {
                    float d = 0;
                    for (int j = 0; j < 64; j++) d += (f[j] - cent[q * 64 + j]) * (f[j] - cent[q * 64 + j]);
                    if (d < bd) bd = d, best = q;
                }
                correct += best == c;
            }
        double acc = (double)correct / (nc * nte);
        print_message("synth %s: colour-histogram nearest centroid %.2f (chance %.2f)\n", synth_kind_name(k), acc, 1.0 / nc);
        assert_true(acc > 3.0 / nc);
        free(cent);
    }
}

static void test_cli(void **state) {
    (void)state;
    const char *bin = getenv("DB_BIN");
    if (!bin || !*bin) bin = "build/deltabench";
    const char *dir = test_tmp_dir("cls_synth_cli");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s data synth --kind flowers --out %s/f --seed 3 --train 1 --test 1 --size 32 -q > %s/out.txt",
             bin, dir, dir);
    assert_int_equal(system(cmd), 0);
    char p[2048];
    snprintf(p, sizeof p, "%s/out.txt", dir);
    char *out = file_read_all(p, NULL);
    assert_non_null(out);
    assert_non_null(strstr(out, "16 classes, 16 train + 16 test"));
    free(out);
    snprintf(cmd, sizeof cmd, "%s data inspect --format cls --split train %s/f > %s/insp.txt", bin, dir, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s data synth --kind nope --out %s/x 2> /dev/null", bin, dir);
    assert_int_not_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s data synth --kind pets 2> /dev/null", bin);
    assert_int_not_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_read_back),
        cmocka_unit_test(test_labels_carry_signal),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests_name("cls_synth", tests, NULL, NULL);
}
