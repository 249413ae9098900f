/* test_memplan.c - the planned activation memory (tensor.h): on real training steps of a small Swin
 * classifier, the plan never gives two buffers with overlapping lifetimes overlapping memory, a step
 * under the plan computes bit-identical loss, logits and gradients to the same step on the plain bump
 * arena (planning off, the reference), a dry run plans the first real step, a changed input size leaves
 * the plan and re-plans, and the
 * planned memory of a frozen-heavy method is below the unplanned arena. */
#include "test_util.h"

#include "../models/classifier.h"
#include "../core/tensor.h"
#include "../methods/method.h"

#define BACKBONE "tiny:16:2,2,2,2:1,2,2,4"
#define BATCH 2
#define CLASSES 5

typedef struct step_out {
    float loss;
    float logits[BATCH * CLASSES];
    float *grad; /* copy of the trainable gradient block */
    int64_t n_grad;
} step_out;

static void build(classifier *c, const char *mname) {
    swin_config sc;
    assert_int_equal(swin_preset(BACKBONE, &sc), 0);
    sc.drop_path_rate = 0.3f; /* drop-path masks must survive until backward */
    const method *m = method_find(mname);
    assert_non_null(m);
    classifier_build(c, &sc, &m->plug, CLASSES);
    classifier_init(c, 11);
}

/* One training step (forward, backward) on graph g with a fixed image of side `size`, without the reset. */
static void step_body(classifier *c, graph *g, int size, step_out *o) {
    static const int labels[BATCH] = {1, 3};
    params_zero_grad(&c->ps);
    rng_seed(&g->rng, 5); /* the same dropout and drop-path draws in every step */
    tensor *x = tensor_new4(g, BATCH, 3, size, size, 0);
    rng_t r;
    rng_seed(&r, 77 + (uint64_t)size);
    for (int64_t i = 0; i < x->n; i++) x->data[i] = rng_normal(&r);
    tensor *logits = classifier_forward(c, g, x);
    graph_keep(g, logits->data);
    tensor *loss = op_cross_entropy(g, logits, labels, 0.1f);
    graph_keep(g, loss->data);
    assert_true(loss->requires_grad);
    tensor_grad(g, loss)[0] = 1.0f;
    graph_backward(g);
    o->loss = loss->data[0];
    memcpy(o->logits, logits->data, sizeof o->logits);
    o->n_grad = c->ps.n_train;
    o->grad = xmalloc(sizeof(float) * (size_t)(o->n_grad ? o->n_grad : 1));
    memcpy(o->grad, c->ps.grad, sizeof(float) * (size_t)o->n_grad);
}

static void step(classifier *c, graph *g, int size, step_out *o) {
    graph_reset(g);
    step_body(c, g, size, o);
}

static void assert_same(const step_out *a, const step_out *b) {
    assert_memory_equal(&a->loss, &b->loss, sizeof a->loss);
    assert_memory_equal(a->logits, b->logits, sizeof a->logits);
    assert_int_equal(a->n_grad, b->n_grad);
    assert_memory_equal(a->grad, b->grad, sizeof(float) * (size_t)a->n_grad);
}

/* The reference: the same step with planning off (every buffer kept until the step ends). */
static void reference_step(classifier *c, int size, step_out *o) {
    graph g;
    graph_init(&g, 1 << 20);
    g.training = 1;
    step(c, &g, size, o);
    graph_free(&g);
}

/* No two buffers whose lifetimes overlap share a byte. */
static void assert_plan_disjoint(const graph_plan *p) {
    assert_true(p->n > 100);
    for (int i = 0; i < p->n; i++) {
        assert_true(p->offset[i] % 64 == 0);
        assert_true(p->offset[i] + p->size[i] <= p->bytes);
        for (int j = i + 1; j < p->n; j++) {
            int live_both = p->first[i] <= p->last[j] && p->first[j] <= p->last[i];
            int mem_both = p->offset[i] < p->offset[j] + p->size[j] && p->offset[j] < p->offset[i] + p->size[i];
            if (live_both && mem_both) fail_msg("buffers %d and %d overlap in time and memory", i, j);
        }
    }
    assert_true(p->bytes >= p->live_peak);
}

static void test_plan_disjoint_and_bit_identical(void **state) {
    (void)state;
    static const char *methods[] = {"mona", "lora", "full", "fixed", "adapter", "norm_tuning"};
    for (size_t k = 0; k < sizeof methods / sizeof *methods; k++) {
        classifier c;
        build(&c, methods[k]);
        step_out ref, s1, s2, s3;
        reference_step(&c, 60, &ref);
        graph g;
        graph_init(&g, 1 << 20);
        graph_plan_enable(&g);
        g.poison = 1; /* a use the ops did not declare would read NaN */
        g.training = 1;
        step(&c, &g, 60, &s1); /* records */
        assert_false(g.stats.planned);
        step(&c, &g, 60, &s2); /* runs under the plan made from s1 */
        assert_true(g.stats.planned);
        assert_false(g.stats.diverged);
        assert_int_equal(g.stats.n_plans, 1);
        step(&c, &g, 60, &s3);
        assert_true(g.stats.planned && !g.stats.diverged);
        assert_int_equal(g.stats.n_plans, 1); /* same record: the plan is kept */
        assert_plan_disjoint(&g.plan);
        assert_same(&s1, &ref);
        assert_same(&s2, &ref);
        assert_same(&s3, &ref);
        /* memory is reused: the plan is well below keeping everything */
        assert_true(g.stats.plan_bytes < g.stats.record_bytes);
        free(ref.grad), free(s1.grad), free(s2.grad), free(s3.grad);
        graph_free(&g);
        classifier_free(&c);
    }
}

static void test_replan_on_new_size(void **state) {
    (void)state;
    classifier c;
    build(&c, "mona");
    step_out r60, r44;
    reference_step(&c, 60, &r60);
    reference_step(&c, 44, &r44);
    graph g;
    graph_init(&g, 1 << 20);
    graph_plan_enable(&g);
    g.poison = 1;
    g.training = 1;
    static const int sizes[] = {60, 60, 44, 44, 44, 60, 60};
    static const int planned[] = {0, 1, 1, 1, 1, 1, 1}, diverged[] = {0, 0, 1, 0, 0, 1, 0};
    static const int plans_after[] = {1, 1, 2, 2, 2, 3, 3};
    size_t bytes60 = 0, bytes44 = 0;
    for (int i = 0; i < 7; i++) {
        step_out s;
        step(&c, &g, sizes[i], &s);
        assert_int_equal(g.stats.planned, planned[i]);
        assert_int_equal(g.stats.diverged, diverged[i]);
        assert_same(&s, sizes[i] == 60 ? &r60 : &r44);
        free(s.grad);
        graph_reset(&g); /* re-plans when the record differs */
        assert_int_equal(g.stats.n_plans, plans_after[i]);
        assert_plan_disjoint(&g.plan);
        if (sizes[i] == 60) bytes60 = g.plan.bytes;
        else bytes44 = g.plan.bytes;
    }
    assert_true(bytes44 < bytes60); /* the smaller input got its own, smaller plan */
    free(r60.grad), free(r44.grad);
    graph_free(&g);
    classifier_free(&c);
}

/* A dry run records the plan without keeping any activation: the first real step already runs under the
 * plan, bit-identical to the reference, and the bump arena is never used. */
static void test_dry_run_plans_first_step(void **state) {
    (void)state;
    static const char *methods[] = {"mona", "full", "fixed"};
    for (size_t k = 0; k < sizeof methods / sizeof *methods; k++) {
        classifier c;
        build(&c, methods[k]);
        step_out ref, dry, s1, s2;
        reference_step(&c, 60, &ref);
        graph g;
        graph_init(&g, 1 << 20);
        graph_plan_enable(&g);
        g.poison = 1;
        g.training = 1;
        graph_reset(&g);
        assert_true(graph_plan_needed(&g));
        rng_t before = g.rng;
        graph_dry_begin(&g);
        step_body(&c, &g, 60, &dry);
        graph_reset(&g);
        assert_false(graph_plan_needed(&g));
        assert_int_equal(g.stats.dry_runs, 1);
        assert_memory_equal(&g.rng, &before, sizeof before);
        step(&c, &g, 60, &s1);
        assert_true(g.stats.planned && !g.stats.diverged);
        step(&c, &g, 60, &s2);
        assert_true(g.stats.planned && !g.stats.diverged);
        assert_int_equal(g.stats.n_plans, 1);
        assert_int_equal(g.rec.high_water, 0);
        assert_plan_disjoint(&g.plan);
        g.training = 0; /* evaluation follows another op sequence: it needs its own dry run */
        assert_true(graph_plan_needed(&g));
        g.training = 1;
        assert_false(graph_plan_needed(&g));
        assert_same(&s1, &ref);
        assert_same(&s2, &ref);
        free(ref.grad), free(dry.grad), free(s1.grad), free(s2.grad);
        graph_free(&g);
        classifier_free(&c);
    }
}

/* With a key per input size, a new size gets a dry run instead of a step that leaves the plan. */
static void test_key_dry_runs_new_size(void **state) {
    (void)state;
    classifier c;
    build(&c, "lora");
    step_out r60, r44;
    reference_step(&c, 60, &r60);
    reference_step(&c, 44, &r44);
    graph g;
    graph_init(&g, 1 << 20);
    graph_plan_enable(&g);
    g.poison = 1;
    g.training = 1;
    static const int sizes[] = {60, 60, 44, 60};
    for (int i = 0; i < 4; i++) {
        graph_reset(&g);
        graph_set_key(&g, (uint64_t)sizes[i]);
        int need = graph_plan_needed(&g);
        assert_int_equal(need, i != 1);
        if (need) {
            step_out d;
            graph_dry_begin(&g);
            step_body(&c, &g, sizes[i], &d);
            free(d.grad);
            graph_reset(&g);
        }
        step_out s;
        step_body(&c, &g, sizes[i], &s);
        assert_true(g.stats.planned && !g.stats.diverged);
        assert_same(&s, sizes[i] == 60 ? &r60 : &r44);
        free(s.grad);
    }
    assert_int_equal(g.stats.dry_runs, 3);
    assert_int_equal(g.rec.high_water, 0);
    free(r60.grad), free(r44.grad);
    graph_free(&g);
    classifier_free(&c);
}

/* Planned activation bytes (and the unplanned arena's) of one method after two steps. */
static void method_bytes(const char *mname, size_t *planned, size_t *unplanned) {
    classifier c;
    build(&c, mname);
    graph g;
    graph_init(&g, 1 << 20);
    graph_plan_enable(&g);
    g.training = 1;
    step_out s;
    step(&c, &g, 60, &s);
    free(s.grad);
    *unplanned = graph_mem_bytes(&g);
    step(&c, &g, 60, &s);
    free(s.grad);
    assert_true(g.stats.planned && !g.stats.diverged);
    *planned = graph_mem_bytes(&g);
    print_message("%s: plan %zu bytes, live peak %zu (lower bound), %d buffers\n", mname, g.plan.bytes, g.plan.live_peak,
                  g.plan.n);
    graph_free(&g);
    classifier_free(&c);
}

static void test_frozen_methods_save_memory(void **state) {
    (void)state;
    size_t fixed_p, fixed_u, full_p, full_u;
    method_bytes("fixed", &fixed_p, &fixed_u);
    method_bytes("full", &full_p, &full_u);
    print_message("activation bytes: fixed %zu planned / %zu unplanned, full %zu / %zu\n", fixed_p, fixed_u, full_p, full_u);
    assert_true(fixed_p < fixed_u);
    assert_true(full_p < full_u);
    assert_true(fixed_p < full_p); /* a frozen backbone keeps (almost) nothing for backward */
    assert_true(2 * fixed_p < fixed_u);
}

/* The packer on a hand-made record: three buffers, the first two alive together, the third after. */
static void test_pack_by_hand(void **state) {
    (void)state;
    size_t size[3] = {128, 64, 192};
    int first[3] = {0, 1, 3}, last[3] = {2, 2, 4};
    graph_plan p = {.n = 3, .size = size, .first = first, .last = last};
    graph_plan_pack(&p);
    /* largest first: buffer 2 at 0; buffer 0 (alive 0..2, disjoint from 2) also at 0; buffer 1 after 0 */
    assert_int_equal(p.offset[2], 0);
    assert_int_equal(p.offset[0], 0);
    assert_int_equal(p.offset[1], 128);
    assert_int_equal(p.bytes, 192);
    assert_int_equal(p.live_peak, 192);
    free(p.offset);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pack_by_hand),
        cmocka_unit_test(test_plan_disjoint_and_bit_identical),
        cmocka_unit_test(test_replan_on_new_size),
        cmocka_unit_test(test_dry_run_plans_first_step),
        cmocka_unit_test(test_key_dry_runs_new_size),
        cmocka_unit_test(test_frozen_methods_save_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
