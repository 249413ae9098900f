/* test_cls_dataset.c - classification readers on tiny hand-made dataset trees: Flowers102 (.mat files
 * written here with libmatio in the official layout: double row vectors "labels", "trnid", "valid",
 * "tstid"), Oxford-IIIT Pets, VOC2007 (hand-written XML; the single-label rule checked on hand-computed
 * cases), the authors' list format and the image-folder layout; missing and corrupt files. */
#include "test_util.h"

#include <matio.h>
#include <unistd.h>

#include "../core/common.h"
#include "../datasets/cls_dataset.h"
#include "../datasets/image.h"
#include "../datasets/voc_xml.h"

static char g_path[4096];
static const char *P(const char *root, const char *rel) {
    snprintf(g_path, sizeof g_path, "%s/%s", root, rel);
    return g_path;
}
static void put_text(const char *root, const char *rel, const char *text) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", root, rel);
    char *slash = strrchr(dir, '/');
    *slash = 0;
    assert_int_equal(mkdir_p(dir), 0);
    assert_int_equal(file_write_atomic(P(root, rel), text, strlen(text)), 0);
}
static void put_jpeg(const char *root, const char *rel) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", root, rel);
    *strrchr(dir, '/') = 0;
    assert_int_equal(mkdir_p(dir), 0);
    image im;
    assert_int_equal(image_alloc(&im, 8, 6, 3), 0);
    assert_int_equal(image_write_jpeg(P(root, rel), &im, 90), 0);
    image_free(&im);
}

static void mat_write_vec(mat_t *m, const char *name, const double *v, int n) {
    size_t dims[2] = {1, (size_t)n};
    matvar_t *var = Mat_VarCreate(name, MAT_C_DOUBLE, MAT_T_DOUBLE, 2, dims, (void *)v, 0);
    assert_non_null(var);
    assert_int_equal(Mat_VarWrite(m, var, MAT_COMPRESSION_NONE), 0);
    Mat_VarFree(var);
}

static void make_flowers(const char *root, int with_tstid) {
    double labels[8] = {1, 2, 3, 1, 2, 3, 1, 2};
    double trn[3] = {1, 2, 3}, val[2] = {5, 4}, tst[3] = {6, 7, 8};
    assert_int_equal(mkdir_p(root), 0);
    mat_t *m = Mat_CreateVer(P(root, "imagelabels.mat"), NULL, MAT_FT_MAT5);
    assert_non_null(m);
    mat_write_vec(m, "labels", labels, 8);
    Mat_Close(m);
    m = Mat_CreateVer(P(root, "setid.mat"), NULL, MAT_FT_MAT5);
    assert_non_null(m);
    mat_write_vec(m, "trnid", trn, 3);
    mat_write_vec(m, "valid", val, 2);
    if (with_tstid) mat_write_vec(m, "tstid", tst, 3);
    Mat_Close(m);
    char rel[64];
    for (int i = 1; i <= 8; i++) {
        snprintf(rel, sizeof rel, "jpg/image_%05d.jpg", i);
        put_jpeg(root, rel);
    }
}

static void test_flowers(void **state) {
    (void)state;
    const char *root = test_tmp_dir("cls_ds_flowers");
    make_flowers(root, 1);
    cls_format f;
    assert_int_equal(cls_format_parse("flowers102", &f), 0);
    cls_dataset ds;
    assert_int_equal(cls_dataset_open(f, root, "train", &ds), 0);
    /* train = trnid {1,2,3} + valid {5,4}, sorted by id; labels 1-based -> 0-based */
    assert_int_equal(ds.n, 5);
    int want[5] = {0, 1, 2, 0, 1};
    for (int i = 0; i < 5; i++) assert_int_equal(ds.labels[i], want[i]);
    assert_non_null(strstr(ds.paths[3], "jpg/image_00004.jpg"));
    assert_int_equal(ds.n_classes, 3);
    assert_string_equal(ds.class_names[2], "2");
    assert_non_null(strstr(ds.description, "trnid + valid"));
    int *cnt = cls_dataset_class_counts(&ds);
    assert_int_equal(cnt[0] * 100 + cnt[1] * 10 + cnt[2], 221);
    free(cnt);
    cls_dataset_free(&ds);
    assert_int_equal(cls_dataset_open(f, root, "test", &ds), 0);
    assert_int_equal(ds.n, 3);
    assert_int_equal(ds.labels[0] * 100 + ds.labels[1] * 10 + ds.labels[2], 201); /* ids 6,7,8 -> 3,1,2 */
    assert_non_null(strstr(ds.description, "tstid"));
    cls_dataset_free(&ds);
    assert_int_equal(cls_dataset_open(f, root, "valid", &ds), 0);
    assert_int_equal(ds.n, 2);
    cls_dataset_free(&ds);
    assert_int_equal(cls_dataset_open(f, root, "bogus", &ds), -1);
    assert_non_null(strstr(err_msg(), "bogus"));

    /* a missing image names the file */
    unlink(P(root, "jpg/image_00007.jpg"));
    assert_int_equal(cls_dataset_open(f, root, "test", &ds), -1);
    assert_non_null(strstr(err_msg(), "image_00007.jpg"));
    /* a missing variable */
    root = test_tmp_dir("cls_ds_flowers2");
    make_flowers(root, 0);
    assert_int_equal(cls_dataset_open(f, root, "test", &ds), -1);
    assert_non_null(strstr(err_msg(), "tstid"));
    assert_non_null(strstr(err_msg(), "setid.mat"));
    /* corrupt and truncated .mat */
    size_t n;
    char *buf = file_read_all(P(root, "imagelabels.mat"), &n);
    assert_non_null(buf);
    assert_int_equal(file_write_atomic(P(root, "imagelabels.mat"), buf, n / 2 + 10), 0);
    assert_int_equal(cls_dataset_open(f, root, "train", &ds), -1);
    assert_non_null(strstr(err_msg(), "imagelabels.mat"));
    free(buf);
    assert_int_equal(file_write_atomic(P(root, "imagelabels.mat"), "garbage garbage", 15), 0);
    assert_int_equal(cls_dataset_open(f, root, "train", &ds), -1);
    assert_non_null(strstr(err_msg(), "imagelabels.mat"));
    unlink(P(root, "imagelabels.mat"));
    assert_int_equal(cls_dataset_open(f, root, "train", &ds), -1);
    assert_non_null(strstr(err_msg(), "missing"));
    assert_int_equal(cls_dataset_open(f, "build/tmp/no_such_root", "train", &ds), -1);
    assert_non_null(strstr(err_msg(), "no_such_root"));
}

static void test_pets(void **state) {
    (void)state;
    const char *root = test_tmp_dir("cls_ds_pets");
    put_text(root, "annotations/trainval.txt",
             "Abyssinian_100 1 1 1\namerican_bulldog_10 2 2 1\nAbyssinian_101 1 1 1\nyorkshire_terrier_9 37 2 25\n");
    put_text(root, "annotations/test.txt", "# Image CLASS-ID SPECIES BREED ID\r\namerican_bulldog_11 2 2 1\r\n\r\n");
    put_jpeg(root, "images/Abyssinian_100.jpg");
    put_jpeg(root, "images/Abyssinian_101.jpg");
    put_jpeg(root, "images/american_bulldog_10.jpg");
    put_jpeg(root, "images/american_bulldog_11.jpg");
    put_jpeg(root, "images/yorkshire_terrier_9.jpg");
    cls_dataset ds;
    assert_int_equal(cls_dataset_open(CLS_FMT_PETS, root, "train", &ds), 0);
    assert_int_equal(ds.n, 4);
    assert_int_equal(ds.labels[0], 0);
    assert_int_equal(ds.labels[1], 1);
    assert_int_equal(ds.labels[3], 36);
    assert_int_equal(ds.n_classes, 37);
    assert_string_equal(ds.class_names[0], "Abyssinian");
    assert_string_equal(ds.class_names[1], "american_bulldog");
    assert_string_equal(ds.class_names[36], "yorkshire_terrier");
    assert_non_null(strstr(ds.description, "trainval.txt"));
    cls_dataset_free(&ds);
    assert_int_equal(cls_dataset_open(CLS_FMT_PETS, root, "test", &ds), 0);
    assert_int_equal(ds.n, 1);
    assert_int_equal(ds.labels[0], 1);
    cls_dataset_free(&ds);
    /* inconsistent class id, bad line, missing image: all name file and line */
    put_text(root, "annotations/test.txt", "american_bulldog_11 2 2 1\nAbyssinian_100 2 1 1\n");
    assert_int_equal(cls_dataset_open(CLS_FMT_PETS, root, "test", &ds), -1);
    assert_non_null(strstr(err_msg(), "test.txt:2"));
    put_text(root, "annotations/test.txt", "american_bulldog_11 x 2 1\n");
    assert_int_equal(cls_dataset_open(CLS_FMT_PETS, root, "test", &ds), -1);
    assert_non_null(strstr(err_msg(), "test.txt:1"));
    put_text(root, "annotations/test.txt", "american_bulldog_11 2 2 1\nbeagle_1 3 2 2\n");
    assert_int_equal(cls_dataset_open(CLS_FMT_PETS, root, "test", &ds), -1);
    assert_non_null(strstr(err_msg(), "beagle_1.jpg"));
    assert_non_null(strstr(err_msg(), "test.txt:2"));
    unlink(P(root, "annotations/test.txt"));
    assert_int_equal(cls_dataset_open(CLS_FMT_PETS, root, "test", &ds), -1);
    assert_non_null(strstr(err_msg(), "test.txt"));
}

static void voc_xml(const char *root, const char *id, const char *objects) {
    char rel[256], text[4096];
    snprintf(rel, sizeof rel, "Annotations/%s.xml", id);
    snprintf(text, sizeof text,
             "<annotation>\n<folder>VOC2007</folder>\n<filename>%s.jpg</filename>\n"
             "<size><width>100</width><height>80</height><depth>3</depth></size>\n%s</annotation>\n",
             id, objects);
    put_text(root, rel, text);
    snprintf(rel, sizeof rel, "JPEGImages/%s.jpg", id);
    put_jpeg(root, rel);
}
#define OBJ(name, diff, x0, y0, x1, y1)                                                                           \
    "<object><name>" name "</name><pose>Unspecified</pose><truncated>0</truncated><difficult>" #diff             \
    "</difficult><bndbox><xmin>" #x0 "</xmin><ymin>" #y0 "</ymin><xmax>" #x1 "</xmax><ymax>" #y1                 \
    "</ymax></bndbox></object>\n"

static void test_voc(void **state) {
    (void)state;
    const char *root = test_tmp_dir("cls_ds_voc");
    /* 000001: dog 10x10=100, person 50x50 but difficult, cat 20x20=400 -> cat (7) */
    voc_xml(root, "000001", OBJ("dog", 0, 1, 1, 10, 10) OBJ("person", 1, 1, 1, 50, 50) OBJ("cat", 0, 31, 21, 50, 40));
    /* 000002: every object difficult -> all considered: bird 5x5, car 30x30 -> car (6) */
    voc_xml(root, "000002", OBJ("bird", 1, 1, 1, 5, 5) OBJ("car", 1, 11, 11, 40, 40));
    /* 000003: tie 10x20 = 20x10 -> the first listed, sheep (16) */
    voc_xml(root, "000003", OBJ("sheep", 0, 1, 1, 10, 20) OBJ("cow", 0, 1, 1, 20, 10));
    /* 000004: +1 convention matters: tvmonitor 1..10 x 1..10 = 100 px vs chair 0..9 x 0..9.5 -> 100 vs 105 */
    voc_xml(root, "000004", OBJ("tvmonitor", 0, 1, 1, 10, 10) OBJ("chair", 0, 0, 0, 9, 10));
    put_text(root, "ImageSets/Main/trainval.txt", "000001\n000002\n000003\n");
    put_text(root, "ImageSets/Main/test.txt", "000004\n");
    cls_dataset ds;
    assert_int_equal(cls_dataset_open(CLS_FMT_VOC2007, root, "train", &ds), 0);
    assert_int_equal(ds.n, 3);
    assert_int_equal(ds.labels[0], 7);
    assert_int_equal(ds.labels[1], 6);
    assert_int_equal(ds.labels[2], 16);
    assert_int_equal(ds.n_classes, 20);
    assert_string_equal(ds.class_names[0], "aeroplane");
    assert_string_equal(ds.class_names[19], "tvmonitor");
    assert_non_null(strstr(ds.description, "largest non-difficult"));
    cls_dataset_free(&ds);
    assert_int_equal(cls_dataset_open(CLS_FMT_VOC2007, root, "test", &ds), 0);
    assert_int_equal(ds.labels[0], 8); /* chair: 10 x 11 = 110 > 100 */
    cls_dataset_free(&ds);
    /* unknown class, no objects, missing xml, malformed xml */
    voc_xml(root, "000005", OBJ("unicorn", 0, 1, 1, 5, 5));
    put_text(root, "ImageSets/Main/val.txt", "000001\n000005\n");
    assert_int_equal(cls_dataset_open(CLS_FMT_VOC2007, root, "val", &ds), -1);
    assert_non_null(strstr(err_msg(), "unicorn"));
    assert_non_null(strstr(err_msg(), "val.txt:2"));
    voc_xml(root, "000006", "");
    put_text(root, "ImageSets/Main/val.txt", "000006\n");
    assert_int_equal(cls_dataset_open(CLS_FMT_VOC2007, root, "val", &ds), -1);
    assert_non_null(strstr(err_msg(), "000006.xml"));
    put_text(root, "ImageSets/Main/val.txt", "000009\n");
    assert_int_equal(cls_dataset_open(CLS_FMT_VOC2007, root, "val", &ds), -1);
    assert_non_null(strstr(err_msg(), "000009"));
    put_text(root, "Annotations/000006.xml", "<annotation><object><name>dog</name>");
    put_text(root, "ImageSets/Main/val.txt", "000006\n");
    assert_int_equal(cls_dataset_open(CLS_FMT_VOC2007, root, "val", &ds), -1);
    assert_non_null(strstr(err_msg(), "000006"));
    unlink(P(root, "JPEGImages/000004.jpg"));
    assert_int_equal(cls_dataset_open(CLS_FMT_VOC2007, root, "test", &ds), -1);
    assert_non_null(strstr(err_msg(), "000004.jpg"));
}

static void test_list(void **state) {
    (void)state;
    const char *root = test_tmp_dir("cls_ds_list");
    put_jpeg(root, "a/x 1.jpg");
    put_jpeg(root, "b.jpg");
    put_jpeg(root, "c.jpg");
    put_text(root, "train2mmcls.txt", "a/x 1.jpg 2\nb.jpg 0\n\n");
    put_text(root, "test2mmcls.txt", "c.jpg 4\n");
    cls_dataset ds;
    assert_int_equal(cls_dataset_open(CLS_FMT_LIST, root, "train", &ds), 0);
    assert_int_equal(ds.n, 2);
    assert_int_equal(ds.labels[0], 2);
    assert_non_null(strstr(ds.paths[0], "a/x 1.jpg"));
    assert_int_equal(ds.n_classes, 5); /* the test list's label 4 counts */
    assert_string_equal(ds.class_names[4], "4");
    cls_dataset_free(&ds);
    put_text(root, "classes.txt", "zero\none\ntwo\nthree\nfour\nfive\n");
    assert_int_equal(cls_dataset_open(CLS_FMT_LIST, root, "test", &ds), 0);
    assert_int_equal(ds.n_classes, 6);
    assert_string_equal(ds.class_names[4], "four");
    assert_int_equal(ds.labels[0], 4);
    cls_dataset_free(&ds);
    assert_int_equal(cls_dataset_open(CLS_FMT_LIST, root, "train2mmcls.txt", &ds), 0);
    assert_int_equal(ds.n, 2);
    cls_dataset_free(&ds);
    put_text(root, "classes.txt", "zero\n");
    assert_int_equal(cls_dataset_open(CLS_FMT_LIST, root, "train", &ds), -1);
    assert_non_null(strstr(err_msg(), "classes.txt"));
    unlink(P(root, "classes.txt"));
    put_text(root, "test2mmcls.txt", "c.jpg 4\nc.jpg\n");
    assert_int_equal(cls_dataset_open(CLS_FMT_LIST, root, "test", &ds), -1);
    assert_non_null(strstr(err_msg(), "test2mmcls.txt:2"));
    put_text(root, "test2mmcls.txt", "c.jpg -1\n");
    assert_int_equal(cls_dataset_open(CLS_FMT_LIST, root, "test", &ds), -1);
    assert_non_null(strstr(err_msg(), "test2mmcls.txt:1"));
    put_text(root, "test2mmcls.txt", "c.jpg 1\nd.jpg 1\n");
    assert_int_equal(cls_dataset_open(CLS_FMT_LIST, root, "test", &ds), -1);
    assert_non_null(strstr(err_msg(), "d.jpg"));
    assert_int_equal(cls_dataset_open(CLS_FMT_LIST, root, "val", &ds), -1);
    assert_non_null(strstr(err_msg(), "val2mmcls.txt"));
}

static void test_folder(void **state) {
    (void)state;
    const char *root = test_tmp_dir("cls_ds_folder");
    put_jpeg(root, "train/dog/2.jpg");
    put_jpeg(root, "train/dog/1.JPG");
    put_jpeg(root, "train/cat/9.jpeg");
    put_text(root, "train/dog/notes.txt", "not an image");
    put_jpeg(root, "test/dog/5.jpg");
    cls_dataset ds;
    assert_int_equal(cls_dataset_open(CLS_FMT_FOLDER, root, "train", &ds), 0);
    assert_int_equal(ds.n, 3);
    assert_int_equal(ds.n_classes, 2);
    assert_string_equal(ds.class_names[0], "cat");
    assert_int_equal(ds.labels[0], 0);
    assert_non_null(strstr(ds.paths[1], "dog/1.JPG"));
    assert_int_equal(ds.labels[2], 1);
    cls_dataset_free(&ds);
    assert_int_equal(cls_dataset_open(CLS_FMT_FOLDER, root, "test", &ds), 0);
    assert_int_equal(ds.n, 1);
    assert_int_equal(ds.labels[0], 1); /* classes come from train/: dog = 1 even though test has only dog */
    cls_dataset_free(&ds);
    put_jpeg(root, "test/zebra/1.jpg");
    assert_int_equal(cls_dataset_open(CLS_FMT_FOLDER, root, "test", &ds), -1);
    assert_non_null(strstr(err_msg(), "zebra"));
    assert_int_equal(cls_dataset_open(CLS_FMT_FOLDER, root, "val", &ds), -1);
    assert_non_null(strstr(err_msg(), "val"));
    cls_format f;
    assert_int_equal(cls_format_parse("imagenet", &f), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flowers), cmocka_unit_test(test_pets),   cmocka_unit_test(test_voc),
        cmocka_unit_test(test_list),    cmocka_unit_test(test_folder),
    };
    return cmocka_run_group_tests_name("cls_dataset", tests, NULL, NULL);
}
