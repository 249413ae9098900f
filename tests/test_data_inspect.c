/* test_data_inspect.c - `deltabench data inspect` end to end on synthetic sets: the JSON summary's counts
 * against the writer's tally, and bad input (malformed JSON, unknown class, missing folder, a DOTA folder
 * without annotation files) giving a non-zero exit with the file named on stderr, or a warning and a count
 * with --skip-bad. */
#include "test_util.h"

#include <cJSON.h>
#include <unistd.h>

#include "../core/common.h"
#include "../datasets/synth_dense.h"

static const char *bin(void) {
    const char *b = getenv("DB_BIN");
    return b && *b ? b : "build/deltabench";
}

/* run a command, capture stdout into out (malloc'd) and stderr into a file; returns the exit status */
static int run(const char *args, char **out, char **err) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s data inspect %s > build/tmp/inspect_out.txt 2> build/tmp/inspect_err.txt", bin(), args);
    int rc = system(cmd);
    size_t n;
    *out = file_read_all("build/tmp/inspect_out.txt", &n);
    *err = file_read_all("build/tmp/inspect_err.txt", &n);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static double num(cJSON *j, const char *k) {
    cJSON *v = cJSON_GetObjectItem(j, k);
    if (!cJSON_IsNumber(v)) fail_msg("no number %s", k);
    return v->valuedouble;
}

static void test_inspect_coco_voc(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("inspect");
    char root[2048], args[4096];
    snprintf(root, sizeof root, "%s/coco", dir);
    synth_coco_cfg cc = {.split = "val2017", .n_images = 4, .crowd_prob = 0.5f, .seed = 2};
    synth_summary s;
    assert_int_equal(synth_coco_write(root, &cc, &s), 0);
    snprintf(args, sizeof args, "--format coco --json %s/annotations/instances_val2017.json", root);
    char *out, *err;
    assert_int_equal(run(args, &out, &err), 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    assert_int_equal((int)num(j, "images"), 4);
    assert_int_equal((int)num(j, "annotations"), s.n_objects);
    assert_int_equal((int)num(j, "crowd"), s.n_crowd);
    assert_int_equal((int)num(j, "segm_rle_compressed"), s.n_rle);
    cJSON *cls = cJSON_GetObjectItem(j, "classes");
    assert_int_equal(cJSON_GetArraySize(cls), SYNTH_COCO_N_CLASSES);
    for (int c = 0; c < SYNTH_COCO_N_CLASSES; c++)
        assert_int_equal((long)num(cJSON_GetArrayItem(cls, c), "instances"), s.per_class[c]);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "images_checked")));
    assert_int_equal((int)num(j, "bad_images"), 0);
    cJSON_Delete(j);
    free(out), free(err);
    /* a corrupt image: error naming it; with --skip-bad a warning and a count */
    char img[4096];
    snprintf(img, sizeof img, "%s/val2017/000000000002.jpg", root);
    assert_int_equal(file_write_atomic(img, "\xff\xd8garbage", 9), 0);
    snprintf(args, sizeof args, "--format coco %s/annotations/instances_val2017.json", root);
    assert_int_equal(run(args, &out, &err), 1);
    assert_non_null(strstr(err, "images[1] (id 2)"));
    assert_non_null(strstr(err, "000000000002.jpg"));
    free(out), free(err);
    snprintf(args, sizeof args, "--format coco --skip-bad --json %s/annotations/instances_val2017.json", root);
    assert_int_equal(run(args, &out, &err), 0);
    j = cJSON_Parse(out);
    assert_int_equal((int)num(j, "bad_images"), 1);
    cJSON_Delete(j);
    free(out), free(err);

    snprintf(root, sizeof root, "%s/voc", dir);
    synth_voc_cfg vc = {.n_trainval07 = 3, .n_test07 = 2, .n_trainval12 = 2, .seed = 4};
    assert_int_equal(synth_voc_write(root, &vc, &s), 0);
    snprintf(args, sizeof args, "--format voc --json --split VOC2007/trainval,VOC2007/test,VOC2012/trainval %s", root);
    assert_int_equal(run(args, &out, &err), 0);
    j = cJSON_Parse(out);
    assert_non_null(j);
    assert_int_equal((int)num(j, "images"), 7);
    assert_int_equal((int)num(j, "objects"), s.n_objects);
    assert_int_equal((int)num(j, "difficult"), s.n_difficult);
    cJSON_Delete(j);
    free(out), free(err);

    /* text output works too */
    snprintf(args, sizeof args, "--format voc %s", root);
    assert_int_equal(run(args, &out, &err), 0);
    assert_non_null(strstr(out, "images                 2"));
    free(out), free(err);
    /* a missing JPEG */
    snprintf(img, sizeof img, "%s/VOC2007/JPEGImages/000004.jpg", root);
    assert_int_equal(unlink(img), 0);
    assert_int_equal(run(args, &out, &err), 1);
    assert_non_null(strstr(err, "000004.jpg"));
    free(out), free(err);
    snprintf(args, sizeof args, "--format voc --no-images %s", root);
    assert_int_equal(run(args, &out, &err), 0);
    free(out), free(err);
}

static void test_inspect_bad(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("inspect_bad");
    char p[2048], args[4096];
    snprintf(p, sizeof p, "%s/bad.json", dir);
    const char *bad = "{\"images\": [{\"id\": 1, \"file_name\": \"a\", \"width\": 2, \"height\": 2}], \"categories\": "
                      "[{\"id\": 1, \"name\": \"x\"}], \"annotations\": [{\"id\": 1, \"image_id\": 1, \"category_id\": 1,"
                      " \"bbox\": [0,0,1,1], \"segmentation\": [[1,2,3,4]]}, {\"id\": 2, \"image_id\": 1, "
                      "\"category_id\": 1, \"bbox\": [0,0,1,1]}]}";
    assert_int_equal(file_write_atomic(p, bad, strlen(bad)), 0);
    char *out, *err;
    snprintf(args, sizeof args, "--format coco %s", p);
    assert_int_equal(run(args, &out, &err), 1);
    assert_non_null(strstr(err, "deltabench: "));
    assert_non_null(strstr(err, "bad.json: annotations[0] (id 1): segmentation polygon 0 has 4 coordinates"));
    free(out), free(err);
    snprintf(args, sizeof args, "--format coco --skip-bad --json %s", p);
    assert_int_equal(run(args, &out, &err), 0);
    assert_non_null(strstr(err, "warning"));
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    assert_int_equal((int)num(j, "skipped"), 1);
    assert_int_equal((int)num(j, "annotations"), 1);
    cJSON_Delete(j);
    free(out), free(err);
    /* DOTA: unknown class on line 2 */
    snprintf(p, sizeof p, "%s/labelTxt", dir);
    assert_int_equal(mkdir_p(p), 0);
    snprintf(p, sizeof p, "%s/labelTxt/P0001.txt", dir);
    const char *t = "1 1 30 1 30 20 1 20 plane 0\n1 1 30 1 30 20 1 20 spaceship 0\n";
    assert_int_equal(file_write_atomic(p, t, strlen(t)), 0);
    snprintf(args, sizeof args, "--format dota %s/labelTxt", dir);
    assert_int_equal(run(args, &out, &err), 1);
    assert_non_null(strstr(err, "P0001.txt:2: unknown class 'spaceship'"));
    free(out), free(err);
    /* a folder without annotation files (the images folder by mistake): an error saying what belongs there */
    snprintf(p, sizeof p, "%s/images", dir);
    assert_int_equal(mkdir_p(p), 0);
    snprintf(p, sizeof p, "%s/images/P0001.png", dir);
    assert_int_equal(file_write_atomic(p, "x", 1), 0);
    snprintf(args, sizeof args, "--format dota %s/images", dir);
    assert_int_equal(run(args, &out, &err), 1);
    assert_non_null(strstr(err, "no annotation files (*.txt)"));
    assert_non_null(strstr(err, "of them .png: 1"));
    assert_non_null(strstr(err, "labelTxt"));
    assert_non_null(strstr(err, "did you mean"));
    free(out), free(err);
    snprintf(args, sizeof args, "--format star --json %s/images", dir);
    assert_int_equal(run(args, &out, &err), 1);
    assert_non_null(strstr(err, "annfiles"));
    free(out), free(err);
    snprintf(args, sizeof args, "--format star %s/nothing", dir);
    assert_int_equal(run(args, &out, &err), 1);
    assert_non_null(strstr(err, "nothing"));
    free(out), free(err);
    snprintf(args, sizeof args, "--format nosuch %s", dir);
    assert_int_equal(run(args, &out, &err), 2);
    free(out), free(err);
}

static void test_split_cli(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("inspect_split");
    synth_dota_cfg c = {.n_images = 1, .min_side = 700, .max_side = 700, .max_objects = 12, .seed = 8};
    synth_summary s;
    assert_int_equal(synth_dota_write(dir, &c, &s), 0);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s data split --format dota --size 512 --gap 100 %s %s/out > /dev/null", bin(), dir, dir);
    assert_int_equal(system(cmd), 0);
    char args[4096], *out, *err;
    snprintf(args, sizeof args, "--format dota --json %s/out/annfiles", dir);
    assert_int_equal(run(args, &out, &err), 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    assert_int_equal((int)num(j, "images"), 4); /* 700 x 700: x and y starts 0 and 188 */
    assert_true(num(j, "objects") >= s.n_objects); /* objects near the cut appear in two patches */
    assert_int_equal((int)num(j, "bad_images"), 0);
    cJSON_Delete(j);
    free(out), free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inspect_coco_voc),
        cmocka_unit_test(test_inspect_bad),
        cmocka_unit_test(test_split_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
