/* test_optim_skip.c - the optimiser skips a trainable parameter that backward never reached, as torch
 * skips parameters whose .grad is None: no weight decay, no moment update, no step count. A Swin with
 * all four output norms under norm_tuning, with a loss on out3 only, leaves norm0..norm2 trainable but
 * outside the loss; when norm2 joins the loss in the second step, its first update is AdamW's first step
 * (bias corrections of step 1), computed here by hand from its gradient. The per-parameter step counts
 * survive a training-state checkpoint. */
#include "test_util.h"

#include "../core/checkpoint.h"
#include "../core/ops.h"
#include "../core/optim.h"
#include "../models/swin.h"
#include "../methods/method.h"

#define LR 1e-3
#define WD 0.05

typedef struct model {
    params ps;
    swin s;
} model;

static void model_build(model *m) {
    swin_config sc;
    assert_int_equal(swin_preset("tiny:16:1,1,2,1:1,2,2,4", &sc), 0);
    sc.out_mask = 0xF; /* out_indices (0, 1, 2, 3): norm0..norm3 exist and train under norm_tuning */
    params_init(&m->ps);
    swin_build(&m->s, &m->ps, &sc, &method_find("norm_tuning")->plug);
    m->s.token_outputs = 1;
    params_alloc(&m->ps);
    rng_t r;
    rng_seed(&r, 3);
    swin_init(&m->s, &r);
    /* non-trivial values, so that weight decay would show */
    for (int64_t i = 0; i < m->ps.n_train; i++) m->ps.train[i] = 0.5f + 0.1f * rng_normal(&r);
}

/* One step: loss = sum of w . out[i] over the stages in loss_mask. */
static void train_step(model *m, graph *g, optim *o, int loss_mask) {
    graph_reset(g);
    params_zero_grad(&m->ps);
    tensor *x = tensor_new4(g, 1, 3, 32, 32, 0);
    rng_t r;
    rng_seed(&r, 9);
    for (int64_t i = 0; i < x->n; i++) x->data[i] = rng_normal(&r);
    swin_outputs out;
    swin_forward(&m->s, g, x, &out);
    for (int i = 0; i < SWIN_STAGES; i++) {
        if (!(loss_mask & (1 << i))) continue;
        float *w = xmalloc(sizeof(float) * (size_t)out.out[i]->n);
        for (int64_t k = 0; k < out.out[i]->n; k++) w[k] = rng_normal(&r);
        loss_dot_seed(g, out.out[i], w);
        free(w);
    }
    graph_backward(g);
}

static float *copy_of(const tensor *t) {
    float *c = xmalloc(sizeof(float) * (size_t)t->n);
    memcpy(c, t->data, sizeof(float) * (size_t)t->n);
    return c;
}

static void test_untouched_parameters_are_skipped(void **state) {
    (void)state;
    model m;
    model_build(&m);
    optim o;
    assert_int_equal(optim_adamw_init(&o, &m.ps, LR, 0.9, 0.999, 1e-8, WD), 0);
    graph g;
    graph_init(&g, 1 << 20);
    const char *names[4] = {"norm0.weight", "norm1.bias", "norm2.bias", "norm3.weight"};
    param *p[4];
    float *before[4];
    for (int i = 0; i < 4; i++) {
        p[i] = params_find(&m.ps, names[i]);
        assert_non_null(p[i]);
        assert_true(p[i]->trainable);
        before[i] = copy_of(&p[i]->t);
    }
    /* step 1: only out3 in the loss */
    train_step(&m, &g, &o, 1 << 3);
    for (int i = 0; i < 3; i++) assert_false(p[i]->t.grad_set);
    assert_true(p[3]->t.grad_set);
    optim_step(&o, LR);
    for (int i = 0; i < 3; i++) { /* bit-identical, no state, no step */
        assert_memory_equal(p[i]->t.data, before[i], sizeof(float) * (size_t)p[i]->t.n);
        for (int64_t k = 0; k < p[i]->t.n; k++) {
            assert_true(o.exp_avg[p[i]->offset + k] == 0.0f);
            assert_true(o.exp_avg_sq[p[i]->offset + k] == 0.0f);
        }
    }
    assert_memory_not_equal(p[3]->t.data, before[3], sizeof(float) * (size_t)p[3]->t.n);
    int idx2 = params_index(&m.ps, "norm2.bias"), idx3 = params_index(&m.ps, "norm3.weight");
    assert_int_equal(o.param_step[idx2], 0);
    assert_int_equal(o.param_step[idx3], 1);
    { /* the per-parameter step counts survive a training-state checkpoint */
        char path[2048];
        snprintf(path, sizeof path, "%s/state.safetensors", test_tmp_dir("optim_skip"));
        train_state st = {.iter = 1};
        assert_int_equal(ckpt_save_train_state(path, &m.ps, &o, &st, NULL), 0);
        optim o2;
        assert_int_equal(optim_adamw_init(&o2, &m.ps, LR, 0.9, 0.999, 1e-8, WD), 0);
        assert_int_equal(ckpt_load_train_state(path, &m.ps, &o2, &st, NULL), 0);
        assert_int_equal(o2.step, 1);
        for (int k = 0; k < m.ps.n; k++) assert_int_equal(o2.param_step[k], o.param_step[k]);
        optim_free(&o2);
    }
    /* step 2: out2 joins; norm2.bias gets AdamW's first step: p (1 - lr wd) - lr g / (|g| + eps) */
    train_step(&m, &g, &o, (1 << 3) | (1 << 2));
    assert_true(p[2]->t.grad_set);
    assert_false(p[0]->t.grad_set);
    float *g2 = xmalloc(sizeof(float) * (size_t)p[2]->t.n), *p2 = copy_of(&p[2]->t);
    memcpy(g2, p[2]->t.grad, sizeof(float) * (size_t)p[2]->t.n);
    optim_step(&o, LR);
    assert_int_equal(o.step, 2);
    assert_int_equal(o.param_step[idx2], 1);
    assert_int_equal(o.param_step[idx3], 2);
    int nonzero = 0;
    for (int64_t k = 0; k < p[2]->t.n; k++) {
        double gk = g2[k], want = p2[k] * (1.0 - LR * WD) - LR * gk / (fabs(gk) + 1e-8);
        nonzero += gk != 0;
        assert_true(fabs(p[2]->t.data[k] - want) <= 1e-6 * (fabs(want) + 1e-3));
    }
    assert_true(nonzero > 0);
    assert_memory_equal(p[0]->t.data, before[0], sizeof(float) * (size_t)p[0]->t.n);
    assert_memory_equal(p[1]->t.data, before[1], sizeof(float) * (size_t)p[1]->t.n);
    for (int i = 0; i < 4; i++) free(before[i]);
    free(g2);
    free(p2);
    graph_free(&g);
    optim_free(&o);
    swin_free(&m.s);
    params_free(&m.ps);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_untouched_parameters_are_skipped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
