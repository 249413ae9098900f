/* test_common.c - the shared utilities: error messages, atomic writes, arena reuse, parameter blocks, the
 * bulk random fill. */
#include "test_util.h"

#include "../core/common.h"
#include "../core/params.h"
#include "../core/tensor.h"

static void test_err_prefix(void **state) {
    (void)state;
    assert_int_equal(err_set("bad value %d", 7), -1);
    err_prefix("file.json");
    assert_string_equal(err_msg(), "file.json: bad value 7");
}

static void test_atomic_write(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("common");
    char path[2048];
    snprintf(path, sizeof path, "%s/out.bin", dir);
    assert_int_equal(file_write_atomic(path, "hello", 5), 0);
    size_t n = 0;
    char *s = file_read_all(path, &n);
    assert_non_null(s);
    assert_int_equal(n, 5);
    assert_memory_equal(s, "hello", 5);
    free(s);
    assert_null(file_read_all("build/tmp/common/missing", &n));
    assert_non_null(strstr(err_msg(), "missing"));
}

static void test_arena_reuse(void **state) {
    (void)state;
    arena a;
    arena_init(&a, 1 << 20);
    for (int i = 0; i < 10; i++) arena_alloc(&a, 300000); /* spills past the first chunk */
    size_t hw = a.high_water;
    assert_true(hw >= 3000000);
    arena_reset(&a);
    size_t cap = a.capacity; /* merged into one chunk of the high-water size */
    assert_true(cap >= hw);
    for (int i = 0; i < 10; i++) arena_alloc(&a, 300000);
    assert_int_equal(a.capacity, cap); /* the second step fits: no new chunk */
    arena_free(&a);
}

/* rng_uniform_fill draws exactly what successive rng_uniform calls draw, and leaves the same state */
static void test_rng_uniform_fill(void **state) {
    (void)state;
    rng_t a, b;
    rng_seed(&a, 123);
    rng_seed(&b, 123);
    float u[1000];
    for (int n = 0; n < 1000; n += 333) {
        rng_uniform_fill(&a, u, n);
        for (int i = 0; i < n; i++) assert_true(u[i] == rng_uniform(&b));
        assert_true(a.s[0] == b.s[0] && a.s[1] == b.s[1]);
    }
}

static void test_params_blocks(void **state) {
    (void)state;
    params ps;
    params_init(&ps);
    int s1[2] = {3, 4}, s2[1] = {5}, s3[1] = {2};
    params_add(&ps, "a.weight", 2, s1);
    params_add(&ps, "a.bias", 1, s2);
    params_add(&ps, "b.weight", 1, s3);
    params_set_trainable(&ps, "a.weight", 0);
    params_alloc(&ps);
    assert_int_equal(ps.n_frozen, 12);
    assert_int_equal(ps.n_train, 7);
    param *b = params_find(&ps, "b.weight");
    assert_ptr_equal(b->t.data, ps.train + 5); /* declaration order inside the trainable block */
    assert_null(params_find(&ps, "a.weight")->t.grad);
    assert_null(params_find(&ps, "nope"));
    assert_int_equal(params_count(&ps, 1), 7);
    params_free(&ps);
}

/* buffers: a third block, found by name, never counted, never trainable, no gradient; many names (hash growth
 * across parameters and buffers) stay findable */
static void test_params_buffers(void **state) {
    (void)state;
    params ps;
    params_init(&ps);
    params_add(&ps, "bn.weight", 1, (int[]){4});
    tensor *rm = params_add_buffer(&ps, "bn.running_mean", 1, (int[]){4});
    tensor *rv = params_add_buffer(&ps, "bn.running_var", 1, (int[]){4});
    params_add(&ps, "bn.bias", 1, (int[]){4});
    char name[64];
    for (int i = 0; i < 600; i++) {
        snprintf(name, sizeof name, "m%d.w", i);
        params_add(&ps, name, 1, (int[]){1});
        snprintf(name, sizeof name, "m%d.running_mean", i);
        params_add_buffer(&ps, name, 1, (int[]){2});
    }
    params_set_trainable(&ps, "bn.bias", 0);
    params_alloc(&ps);
    assert_int_equal(ps.n, 602);
    assert_int_equal(ps.n_buffers, 602);
    assert_int_equal(ps.n_buf, 8 + 1200);
    assert_int_equal(ps.n_train, 4 + 600);
    assert_int_equal(ps.n_frozen, 4);
    assert_int_equal(params_count(&ps, 0), 608); /* buffers are not parameters */
    assert_int_equal(params_count(&ps, 1), 604);
    assert_int_equal(params_count_prefix(&ps, "bn.", 0), 8);
    param *m = params_find(&ps, "bn.running_mean"), *v = params_find(&ps, "bn.running_var");
    assert_non_null(m);
    assert_true(m->is_buffer && !m->trainable && v->is_buffer);
    assert_false(params_find(&ps, "bn.weight")->is_buffer);
    assert_ptr_equal(&m->t, rm);
    assert_ptr_equal(rm->data, ps.buf);
    assert_ptr_equal(rv->data, ps.buf + 4);
    assert_null(rm->grad);
    assert_int_equal(rm->requires_grad, 0);
    assert_int_equal(params_index(&ps, "bn.running_mean"), -1); /* not a parameter index */
    assert_int_equal(params_index(&ps, "bn.bias"), 1);
    for (int i = 0; i < 600; i += 37) {
        snprintf(name, sizeof name, "m%d.running_mean", i);
        param *q = params_find(&ps, name);
        assert_non_null(q);
        assert_true(q->is_buffer);
        assert_ptr_equal(q->t.data, ps.buf + 8 + 2 * i);
        snprintf(name, sizeof name, "m%d.w", i);
        assert_false(params_find(&ps, name)->is_buffer);
    }
    for (int64_t i = 0; i < ps.n_buf; i++) assert_true(ps.buf[i] == 0.0f);
    params_free(&ps);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_prefix),
        cmocka_unit_test(test_atomic_write),
        cmocka_unit_test(test_arena_reuse),
        cmocka_unit_test(test_params_blocks),
        cmocka_unit_test(test_params_buffers),
        cmocka_unit_test(test_rng_uniform_fill),
    };
    return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}
