/* test_metrics_topk.c - top-k accuracy against torch.topk as mmcls computes it (gen_topk.py), ties and bad
 * labels by hand. */
#include "test_util.h"

#include <cJSON.h>

#include "../core/common.h"
#include "../metrics/topk.h"

static void test_topk_reference(void **state) {
    (void)state;
    size_t len;
    char *s = file_read_all("tests/fixtures/metrics/topk.json", &len);
    assert_non_null(s);
    cJSON *j = cJSON_Parse(s);
    free(s);
    int n = cJSON_GetObjectItem(j, "n")->valueint, C = cJSON_GetObjectItem(j, "classes")->valueint;
    float *sc = malloc(sizeof(float) * n * C);
    int *lab = malloc(sizeof(int) * n);
    for (int i = 0; i < n * C; i++) sc[i] = (float)cJSON_GetArrayItem(cJSON_GetObjectItem(j, "scores"), i)->valuedouble;
    for (int i = 0; i < n; i++) lab[i] = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "labels"), i)->valueint;
    cJSON *e = cJSON_GetObjectItem(j, "expected_percent");
    /* counts exactly; mmcls's percentage is computed in float32 */
    assert_int_equal(topk_count(sc, lab, n, C, 1), cJSON_GetObjectItem(e, "top1_count")->valueint);
    assert_int_equal(topk_count(sc, lab, n, C, 5), cJSON_GetObjectItem(e, "top5_count")->valueint);
    assert_true(fabs(100 * topk_accuracy(sc, lab, n, C, 1) - cJSON_GetObjectItem(e, "top1")->valuedouble) < 1e-5);
    assert_true(fabs(100 * topk_accuracy(sc, lab, n, C, 5) - cJSON_GetObjectItem(e, "top5")->valuedouble) < 1e-5);
    free(sc);
    free(lab);
    cJSON_Delete(j);
}

static void test_topk_by_hand(void **state) {
    (void)state;
    float s[3 * 4] = {0.1f, 0.7f, 0.2f, 0.0f,   /* label 1: top-1 */
                      0.5f, 0.5f, 0.1f, 0.2f,   /* label 1 ties with class 0: rank 1 -> top-2 only */
                      -1.0f, -3.0f, -2.0f, -0.5f}; /* label 1 (logits): rank 3 */
    int y[3] = {1, 1, 1};
    assert_int_equal(topk_count(s, y, 3, 4, 1), 1);
    assert_int_equal(topk_count(s, y, 3, 4, 2), 2);
    assert_int_equal(topk_count(s, y, 3, 4, 4), 3);
    assert_true(fabs(topk_accuracy(s, y, 3, 4, 2) - 2.0 / 3) < 1e-15);
    int bad[3] = {1, 4, 0};
    assert_int_equal(topk_count(s, bad, 3, 4, 1), -1);
    assert_non_null(strstr(err_msg(), "sample 1"));
    assert_int_equal(topk_count(s, y, 3, 4, 5), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_topk_reference), cmocka_unit_test(test_topk_by_hand)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
