/* test_memplan.c - the planned activation memory (tensor.h): on real training steps of a small Swin
 * classifier, the plan never gives two buffers with overlapping lifetimes overlapping memory, a step
 * under the plan computes bit-identical loss, logits and gradients to the same step on the plain bump
 * arena (planning off, the reference), a dry run plans the first real step, a changed input size leaves
 * the plan and re-plans, and the
 * planned memory of a frozen-heavy method is below the unplanned arena. */
#include "test_util.h"

#include "../models/classifier.h"
#include "../models/det/retinanet.h"
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

/* With a key per input size, a new size gets a dry run instead of a step that leaves the plan, and a size
 * seen before re-uses its plan. */
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
        assert_int_equal(need, i == 0 || i == 2);
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
    assert_int_equal(g.stats.dry_runs, 2);
    assert_int_equal(g.stats.n_plans, 2);
    assert_int_equal(g.rec.high_water, 0);
    free(r60.grad), free(r44.grad);
    graph_free(&g);
    classifier_free(&c);
}

/* One keyed training step as the trainer runs it: reset, key, a dry run when no plan is held for the key,
 * the real step. Returns whether the dry run was needed. */
static int keyed_step(classifier *c, graph *g, int size, step_out *o) {
    graph_reset(g);
    graph_set_key(g, (uint64_t)size);
    int need = graph_plan_needed(g);
    if (need) {
        step_out d;
        graph_dry_begin(g);
        step_body(c, g, size, &d);
        free(d.grad);
        graph_reset(g);
        assert_false(graph_plan_needed(g));
    }
    step_body(c, g, size, o);
    assert_true(g->stats.planned && !g->stats.diverged);
    return need;
}

/* A plan for one evaluation forward (grad_mode 0) of size `size`: its logits. */
static void eval_logits(classifier *c, graph *g, int size, float *logits) {
    int gm = g->grad_mode, tr = g->training;
    g->grad_mode = 0, g->training = 0;
    graph_reset(g);
    graph_set_key(g, (uint64_t)size);
    rng_t r;
    rng_seed(&r, 77 + (uint64_t)size);
    if (graph_plan_needed(g)) {
        graph_dry_begin(g);
        tensor *x = tensor_new4(g, BATCH, 3, size, size, 0);
        graph_keep(g, classifier_forward(c, g, x)->data);
        graph_reset(g);
    }
    tensor *x = tensor_new4(g, BATCH, 3, size, size, 0);
    for (int64_t i = 0; i < x->n; i++) x->data[i] = rng_normal(&r);
    tensor *y = classifier_forward(c, g, x);
    graph_keep(g, y->data);
    if (g->planning) assert_true(g->stats.planned && !g->stats.diverged);
    memcpy(logits, y->data, sizeof(float) * BATCH * CLASSES);
    g->grad_mode = gm, g->training = tr;
}

/* Inputs whose size changes from batch to batch, training and evaluation interleaved: each (mode, size)
 * is planned once (one dry run), later steps of that size re-use its plan, and every step is bit-identical
 * to the unplanned reference of its size. */
static void test_alternating_sizes_reuse_plans(void **state) {
    (void)state;
    classifier c;
    build(&c, "mona");
    static const int sz[3] = {60, 44, 52};
    step_out ref[3];
    float ref_eval[3][BATCH * CLASSES];
    for (int k = 0; k < 3; k++) {
        reference_step(&c, sz[k], &ref[k]);
        graph g;
        graph_init(&g, 1 << 20);
        eval_logits(&c, &g, sz[k], ref_eval[k]); /* planning off: the reference */
        graph_free(&g);
    }
    graph g;
    graph_init(&g, 1 << 20);
    graph_plan_enable(&g);
    g.poison = 1;
    g.training = 1;
    static const int seq[] = {0, 1, 0, 2, 1, 1, 2, 0, 2, 1, 0};
    int n = (int)(sizeof seq / sizeof *seq), seen[3] = {0, 0, 0}, plans_when_all_seen = -1;
    for (int i = 0; i < n; i++) {
        int k = seq[i];
        step_out s;
        int need = keyed_step(&c, &g, sz[k], &s);
        assert_int_equal(need, !seen[k]);
        seen[k] = 1;
        assert_same(&s, &ref[k]);
        free(s.grad);
        if (i == 3) { /* the evaluation forwards get plans of their own beside the training ones */
            for (int e = 0; e < 3; e++) {
                float lg[BATCH * CLASSES];
                eval_logits(&c, &g, sz[e], lg);
                assert_memory_equal(lg, ref_eval[e], sizeof lg);
            }
            plans_when_all_seen = g.stats.n_plans;
        }
    }
    graph_reset(&g);
    assert_int_equal(plans_when_all_seen, 6);
    assert_int_equal(g.stats.n_plans, 6); /* stopped growing once every (mode, size) was seen */
    assert_int_equal(g.stats.dry_runs, 6);
    assert_int_equal(g.stats.held, 6);
    assert_int_equal(g.stats.evictions, 0);
    assert_int_equal(g.rec.high_water, 0); /* no step ever ran on the bump arena */
    /* the shared block is the largest plan's: the training plan of the largest input */
    assert_true(g.stats.block_bytes >= g.plan.bytes);
    for (int i = 0; i < g.n_held; i++) {
        assert_true(g.stats.block_bytes >= g.held[i].bytes);
        assert_plan_disjoint(&g.held[i]);
    }
    for (int k = 0; k < 3; k++) free(ref[k].grad);
    graph_free(&g);
    classifier_free(&c);
}

/* More sizes than slots: the least recently used plan is evicted; an evicted size is planned again (a dry
 * run), a held one is not; results stay bit-identical. */
static void test_lru_eviction(void **state) {
    (void)state;
    classifier c;
    build(&c, "lora");
    static const int sz[3] = {60, 44, 52};
    step_out ref[3];
    for (int k = 0; k < 3; k++) reference_step(&c, sz[k], &ref[k]);
    graph g;
    graph_init(&g, 1 << 20);
    graph_plan_enable(&g);
    graph_plan_slots(&g, 2);
    g.poison = 1;
    g.training = 1;
    /* slots after each step (most recent first): {60}, {44 60}, {60 44}, {52 60} (44 evicted),
     * {44 52} (60 evicted), {52 44}, {60 52} (44 evicted), {52 60}, {44 52} (60 evicted) */
    static const int seq[] = {0, 1, 0, 2, 1, 2, 0, 2, 1};
    static const int need[] = {1, 1, 0, 1, 1, 0, 1, 0, 1};
    static const int evicted[] = {0, 0, 0, 1, 2, 2, 3, 3, 4};
    for (int i = 0; i < (int)(sizeof seq / sizeof *seq); i++) {
        step_out s;
        assert_int_equal(keyed_step(&c, &g, sz[seq[i]], &s), need[i]);
        assert_int_equal(g.stats.evictions, evicted[i]);
        assert_true(g.stats.held <= 2);
        assert_same(&s, &ref[seq[i]]);
        free(s.grad);
    }
    /* fewer slots: the least recently used goes now (52), the current plan (44) stays */
    graph_reset(&g);
    graph_plan_slots(&g, 1);
    assert_int_equal(g.stats.held, 1);
    assert_int_equal(g.stats.evictions, 5);
    graph_set_key(&g, 44);
    assert_false(graph_plan_needed(&g));
    graph_set_key(&g, 52);
    assert_true(graph_plan_needed(&g));
    /* one slot: every new size replaces the plan */
    step_out s;
    assert_int_equal(keyed_step(&c, &g, 60, &s), 1);
    assert_same(&s, &ref[0]);
    free(s.grad);
    assert_int_equal(g.stats.held, 1);
    assert_int_equal(g.stats.evictions, 6);
    for (int k = 0; k < 3; k++) free(ref[k].grad);
    graph_free(&g);
    classifier_free(&c);
}

/* ---- RetinaNet (Swin + FPN + RetinaHead) on padded batches of two sizes ---- */
#define DET_B 2
#define DET_CLASSES 3

typedef struct det_case {
    int H, W;
    float *img; /* (DET_B, 3, H, W) */
    det_img_meta metas[DET_B];
    det_gt gts[DET_B];
    float boxes[DET_B][8];
    int labels[DET_B][2];
} det_case;

/* A padded batch of size H x W: image 0 fills it, image 1 is smaller (zero padding at the bottom and
 * right, as the collation leaves it); one or two boxes per image. */
static void det_case_make(det_case *d, int H, int W, uint64_t seed) {
    memset(d, 0, sizeof *d);
    d->H = H, d->W = W;
    d->img = xmalloc(sizeof(float) * DET_B * 3 * (size_t)H * W);
    rng_t r;
    rng_seed(&r, seed);
    for (int b = 0; b < DET_B; b++) {
        int h = b ? H - 32 : H, w = b ? W - 32 : W;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                    d->img[(((size_t)b * 3 + c) * H + y) * W + x] = y < h && x < w ? rng_normal(&r) : 0.0f;
        d->metas[b] = (det_img_meta){.ori_h = h, .ori_w = w, .img_h = h, .img_w = w, .pad_h = h, .pad_w = w,
                                     .scale_factor = {1, 1, 1, 1}};
        int n = b ? 1 : 2;
        float bx[8] = {4, 6, (float)w / 2, (float)h / 2, (float)w / 3, (float)h / 4, (float)w - 3, (float)h - 5};
        memcpy(d->boxes[b], bx, sizeof bx);
        d->labels[b][0] = b, d->labels[b][1] = 2;
        d->gts[b] = (det_gt){.n = n, .boxes = d->boxes[b], .labels = d->labels[b]};
    }
}

typedef struct det_out {
    float loss;
    double loss_cls, loss_bbox;
    float *grad;
    int64_t n_grad;
} det_out;

static uint64_t det_key(const det_case *d) { return (uint64_t)DET_B << 40 | (uint64_t)d->H << 20 | (uint64_t)d->W; }

/* forward, losses and backward of one training step (without the reset), as the detection task runs it */
static void det_step_body(retinanet *net, graph *g, const det_case *d, det_out *o) {
    params_zero_grad(&net->ps);
    rng_seed(&g->rng, 9); /* the same drop-path draws in every step */
    tensor *x = tensor_new4(g, DET_B, 3, d->H, d->W, 0);
    memcpy(x->data, d->img, sizeof(float) * x->n);
    tensor *l;
    assert_int_equal(retinanet_loss(net, g, x, d->metas, d->gts, &l, &o->loss_cls, &o->loss_bbox), 0);
    graph_keep(g, l->data);
    assert_true(l->requires_grad);
    tensor_grad(g, l)[0] = 1.0f;
    graph_backward(g);
    o->loss = l->data[0];
    o->n_grad = net->ps.n_train;
    o->grad = xmalloc(sizeof(float) * (size_t)o->n_grad);
    memcpy(o->grad, net->ps.grad, sizeof(float) * (size_t)o->n_grad);
}

/* reset, key, a dry run when the plan for the key is missing, the step; returns whether it dry-ran */
static int det_keyed_step(retinanet *net, graph *g, const det_case *d, det_out *o) {
    graph_reset(g);
    graph_set_key(g, det_key(d));
    int need = graph_plan_needed(g);
    if (need) {
        det_out dd;
        graph_dry_begin(g);
        det_step_body(net, g, d, &dd);
        free(dd.grad);
        graph_reset(g);
    }
    det_step_body(net, g, d, o);
    return need;
}

/* the inference forward's outputs (all levels, cls then reg, concatenated) */
static float *det_forward(retinanet *net, graph *g, const det_case *d, int64_t *n_out) {
    int gm = g->grad_mode, tr = g->training;
    g->grad_mode = 0, g->training = 0;
    graph_reset(g);
    graph_set_key(g, det_key(d));
    int L = net->cfg.num_outs;
    tensor *cls[FPN_MAX_LEVELS], *reg[FPN_MAX_LEVELS];
    if (graph_plan_needed(g)) {
        graph_dry_begin(g);
        retinanet_forward(net, g, tensor_new4(g, DET_B, 3, d->H, d->W, 0), cls, reg);
        for (int l = 0; l < L; l++) graph_keep(g, cls[l]->data), graph_keep(g, reg[l]->data);
        graph_reset(g);
    }
    tensor *x = tensor_new4(g, DET_B, 3, d->H, d->W, 0);
    memcpy(x->data, d->img, sizeof(float) * x->n);
    retinanet_forward(net, g, x, cls, reg);
    for (int l = 0; l < L; l++) graph_keep(g, cls[l]->data), graph_keep(g, reg[l]->data);
    int64_t n = 0;
    for (int l = 0; l < L; l++) n += cls[l]->n + reg[l]->n;
    float *out = xmalloc(sizeof(float) * (size_t)n), *p = out;
    for (int l = 0; l < L; l++) {
        memcpy(p, cls[l]->data, sizeof(float) * cls[l]->n), p += cls[l]->n;
        memcpy(p, reg[l]->data, sizeof(float) * reg[l]->n), p += reg[l]->n;
    }
    if (g->planning) assert_true(g->stats.planned && !g->stats.diverged);
    g->grad_mode = gm, g->training = tr;
    *n_out = n;
    return out;
}

/* A RetinaNet training step on two padded sizes (64 x 96 and 96 x 64: the same number of pixels, told
 * apart by the key) under the plans, with dead buffers poisoned: loss, loss parts and every trainable
 * gradient bit-identical to the unplanned step of the same size; each size planned once; the inference
 * forward gets plans of its own with bit-identical outputs. */
static void test_retinanet_two_sizes_planned(void **state) {
    (void)state;
    static const char *methods[] = {"mona", "full"};
    for (size_t k = 0; k < sizeof methods / sizeof *methods; k++) {
        swin_config bc;
        assert_int_equal(swin_preset("tiny:32:1,1,1,1:1,2,4,8:w4", &bc), 0);
        bc.drop_path_rate = 0.2f;
        retinanet_config nc;
        retinanet_config_default(&nc, &bc, DET_CLASSES);
        nc.fpn_channels = 16, nc.feat_channels = 16;
        const method *m = method_find(methods[k]);
        assert_non_null(m);
        retinanet net;
        retinanet_build(&net, &nc, &m->plug);
        retinanet_init(&net, 5);
        assert_true(net.ps.n_train > 0);
        det_case dc[2];
        det_case_make(&dc[0], 64, 96, 1);
        det_case_make(&dc[1], 96, 64, 2);
        det_out ref[2];
        float *ref_fwd[2];
        int64_t n_fwd[2];
        size_t ref_bytes[2];
        for (int s = 0; s < 2; s++) { /* the reference: planning off */
            graph g;
            graph_init(&g, 1 << 20);
            g.training = 1;
            graph_reset(&g);
            det_step_body(&net, &g, &dc[s], &ref[s]);
            ref_bytes[s] = graph_mem_bytes(&g);
            ref_fwd[s] = det_forward(&net, &g, &dc[s], &n_fwd[s]);
            graph_free(&g);
        }
        assert_true(isfinite(ref[0].loss) && isfinite(ref[1].loss));
        assert_true(ref[0].loss != ref[1].loss);
        graph g;
        graph_init(&g, 1 << 20);
        graph_plan_enable(&g);
        g.poison = 1; /* a buffer read after its planned lifetime would be NaN */
        g.training = 1;
        static const int seq[] = {0, 1, 0, 1, 1, 0};
        for (int i = 0; i < 6; i++) {
            int s = seq[i];
            det_out o;
            assert_int_equal(det_keyed_step(&net, &g, &dc[s], &o), i < 2);
            assert_true(g.stats.planned && !g.stats.diverged);
            assert_true(graph_mem_bytes(&g) < ref_bytes[s]); /* activation memory re-used within the step */
            assert_memory_equal(&o.loss, &ref[s].loss, sizeof o.loss);
            assert_memory_equal(&o.loss_cls, &ref[s].loss_cls, sizeof o.loss_cls);
            assert_memory_equal(&o.loss_bbox, &ref[s].loss_bbox, sizeof o.loss_bbox);
            assert_int_equal(o.n_grad, ref[s].n_grad);
            assert_memory_equal(o.grad, ref[s].grad, sizeof(float) * (size_t)o.n_grad);
            free(o.grad);
            if (i == 1 || i == 4)
                for (int e = 0; e < 2; e++) {
                    int64_t n;
                    float *f = det_forward(&net, &g, &dc[e], &n);
                    assert_int_equal(n, n_fwd[e]);
                    assert_memory_equal(f, ref_fwd[e], sizeof(float) * (size_t)n);
                    free(f);
                }
        }
        graph_reset(&g);
        assert_int_equal(g.stats.n_plans, 4); /* training and inference, two sizes each */
        assert_int_equal(g.stats.dry_runs, 4);
        assert_int_equal(g.rec.high_water, 0);
        assert_int_equal(g.stats.held, 4);
        assert_plan_disjoint(&g.plan);
        for (int i = 0; i < g.n_held; i++) assert_plan_disjoint(&g.held[i]);
        print_message("retinanet %s: %d-buffer training plan of %zu bytes (unplanned arena %zu), shared block %zu\n",
                      methods[k], g.plan.n, g.plan.bytes, ref_bytes[0], g.stats.block_bytes);
        graph_free(&g);
        for (int s = 0; s < 2; s++) free(ref[s].grad), free(ref_fwd[s]), free(dc[s].img);
        retinanet_free(&net);
    }
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
        cmocka_unit_test(test_alternating_sizes_reuse_plans),
        cmocka_unit_test(test_lru_eviction),
        cmocka_unit_test(test_retinanet_two_sizes_planned),
        cmocka_unit_test(test_frozen_methods_save_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
