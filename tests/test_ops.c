/* test_ops.c - every op's backward against finite differences, a few forwards against hand-computed
 * values or naive loops written here, the frozen-parameter and empty-tape rules, and a whole tiny Swin
 * (Mona, LoRA) against finite differences.
 *
 * The gradient checker: leaves (inputs and parameters, outside the arena) feed an op or a chain of ops;
 * the loss is L = sum_k sum(y_k * R_k) (R fixed random, accumulated in double). One forward + backward
 * gives the analytic gradients, then for each leaf that needs one:
 *   - directional check: for random directions v ~ N(0, 1), (L(x + h v) - L(x - h v)) / 2h against
 *     <grad, v>; error measured relative to max(|<grad, v>|, ||grad||_2) (the typical size of <grad, v>);
 *   - elementwise check: central differences of single elements (all of a small leaf, a sample of a large
 *     one) against grad[i], relative to max|grad|.
 * Steps are relative to the leaf's rms (at least 1e-2): one op h = 1e-2, tolerance 1e-2 (the errors seen
 * are 1e-6..3e-4); the whole Swin h = 3e-2 (directional) / 0.25 (elementwise), tolerance 2e-2 (errors seen
 * up to 1.4e-2 on one Mona leaf, mostly below 8e-3; they fall as h grows, so they are float32 rounding, not curvature). DB_FD_VERBOSE=1 prints
 * the error of every leaf.
 * Randomness in the graph (dropout, drop path) is made identical for every evaluation by re-seeding
 * g->rng before each forward. Leaves that need no gradient must end with none. */
#include "test_util.h"

#include <omp.h>

#include "../core/backend.h"
#include "../core/fastmath.h"
#include "../core/ops.h"
#include "../core/params.h"
#include "../models/swin.h"
#include "../methods/method.h"

#define MAXL 16
#define MAXO 4

/* ---- leaves: tensors that live outside the arena ---------------------------------------------- */
enum { ACT_GRAD, ACT_NOGRAD, PARAM_TRAIN, PARAM_FROZEN };

static void *pool[256];
static int npool;
static void *pool_add(void *p) {
    assert_true(npool < 256);
    return pool[npool++] = p;
}
static void pool_free(void) {
    while (npool) free(pool[--npool]);
}

static rng_t trng; /* test randomness (seeded per test) */

static tensor *leaf_new(int kind, int ndim, const int *shape, float scale, float offset) {
    tensor *t = pool_add(calloc(1, sizeof *t));
    tensor_set_shape(t, ndim, shape);
    t->data = pool_add(malloc(sizeof(float) * t->n));
    for (int64_t i = 0; i < t->n; i++) t->data[i] = offset + scale * rng_normal(&trng);
    t->requires_grad = kind == ACT_GRAD || kind == PARAM_TRAIN;
    t->is_param = kind == PARAM_TRAIN || kind == PARAM_FROZEN;
    if (kind == PARAM_TRAIN) t->grad = pool_add(calloc(t->n, sizeof(float)));
    return t;
}
#define LEAF(kind, scale, ...) leaf_new(kind, (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)), (int[]){__VA_ARGS__}, scale, 0.0f)

/* ---- the case: which op, its leaves, its settings ---------------------------------------------- */
enum {
    K_LINEAR, K_LINRES, K_LN, K_GELU, K_ADD, K_ADD_SELF, K_AXPY, K_SCALE, K_AFFINE2, K_GATHER, K_RESHAPE, K_TO_NHWC,
    K_TO_NCHW, K_CONV, K_DW, K_DWMIX, K_LNMIX, K_ATTN, K_LORA, K_MEAN, K_LORAND, K_CE, K_DROPOUT, K_GELU_DROP, K_DROPPATH, K_CHAIN, K_SWIN
};

typedef struct fdc {
    const char *name;
    int kind;
    int nl;
    tensor *leaf[MAXL]; /* may hold NULL (an absent optional input) */
    /* op settings */
    int stride, pad, groups;
    float s, p, eps;
    const int *idx;
    int n_out, ondim, oshape[4];
    const int *labels, *rel_index;
    const float *mask;
    int nw_img, T, heads;
    int nb;
    swin *sw;
    params *ps;
    /* check settings */
    int training;
    uint64_t seed;
    float h, tol;   /* step (relative to the leaf's rms, at least 1e-2) and tolerance */
    float h_elem;   /* step of the elementwise check if > 0 (else h) */
    int elem_max; /* elements per leaf checked one by one: all if n <= elem_max, else elem_max sampled */
    int ndir;     /* random directions per leaf */
} fdc;

static int case_forward(graph *g, fdc *c, tensor **out) {
    tensor **L = c->leaf;
    switch (c->kind) {
    case K_LINEAR: out[0] = op_linear(g, L[0], L[1], L[2]); return 1;
    case K_LINRES: /* s != 0: the residual is the input itself (both gradients land in one buffer) */
        out[0] = op_linear_residual(g, c->s != 0.0f ? L[0] : L[3], L[0], L[1], L[2]);
        return 1;
    case K_LN: out[0] = op_layernorm(g, L[0], L[1], L[2], c->eps); return 1;
    case K_GELU: out[0] = op_gelu(g, L[0]); return 1;
    case K_ADD: out[0] = op_add(g, L[0], L[1]); return 1;
    case K_ADD_SELF: out[0] = op_add(g, L[0], L[0]); return 1; /* a leaf used twice: gradients accumulate */
    case K_AXPY: out[0] = op_axpy(g, L[0], c->s, L[1]); return 1;
    case K_SCALE: out[0] = op_scale(g, L[0], c->s); return 1;
    case K_AFFINE2: out[0] = op_affine2(g, L[0], L[1], L[2], L[3]); return 1;
    case K_GATHER: out[0] = op_gather_rows(g, L[0], c->idx, c->n_out, c->ondim, c->oshape); return 1;
    case K_RESHAPE: /* reshape (of the leaf, or of an intermediate when s != 0), then a non-linear op */
        out[0] = op_gelu(g, op_reshape(g, c->s != 0.0f ? op_scale(g, L[0], c->s) : L[0], c->ondim, c->oshape));
        return 1;
    case K_TO_NHWC: out[0] = op_nchw_to_nhwc(g, L[0]); return 1;
    case K_TO_NCHW: out[0] = op_nhwc_to_nchw(g, L[0]); return 1;
    case K_CONV: out[0] = op_conv2d(g, L[0], L[1], L[2], c->stride, c->pad, c->groups); return 1;
    case K_DW: out[0] = op_dwconv_nhwc(g, L[0], L[1], L[2]); return 1;
    case K_LNMIX: out[0] = op_layernorm_mix(g, L[0], L[1], L[2], c->eps, L[3], L[4]); return 1;
    case K_DWMIX: { /* leaves: x, then (w_i, b_i) pairs */
        tensor *w[4], *b[4];
        for (int i = 0; i < c->nb; i++) w[i] = L[1 + 2 * i], b[i] = L[2 + 2 * i];
        out[0] = op_dwconv_mix_nhwc(g, L[0], L[0]->shape[1], L[0]->shape[2], c->nb, w, b, c->s, c->eps);
        return 1;
    }
    case K_ATTN:
        out[0] = op_window_attention(g, L[0], L[1], c->rel_index, c->mask, c->nw_img, c->T, c->heads, c->s);
        return 1;
    case K_LORA: out[0] = op_lora_qv(g, L[0], L[1], L[2], c->s); return 1;
    case K_MEAN: out[0] = op_mean_tokens(g, L[0]); return 1;
    case K_LORAND: out[0] = op_lorand_weight(g, c->nb, &L[0], &L[c->nb], &L[2 * c->nb]); return 1;
    case K_CE: out[0] = op_cross_entropy(g, L[0], c->labels, c->eps); return 1;
    case K_DROPOUT: out[0] = op_dropout(g, op_scale(g, L[0], 1.0f), c->p); return 1;
    case K_GELU_DROP: out[0] = op_gelu_dropout(g, op_scale(g, L[0], 1.0f), c->p); return 1;
    case K_DROPPATH: out[0] = op_drop_path(g, op_scale(g, L[0], 1.0f), c->p); return 1;
    case K_CHAIN: { /* x feeds several ops: its gradient is the sum over all of them */
        tensor *a = op_layernorm(g, L[0], L[1], L[2], 1e-5f);
        tensor *h = op_gelu(g, op_linear(g, a, L[3], L[4]));
        tensor *f = op_axpy(g, L[0], 0.5f, op_linear(g, h, L[5], NULL));
        out[0] = op_add(g, op_affine2(g, f, L[1], a, L[2]), op_scale(g, L[0], -0.3f));
        out[1] = op_mean_tokens(g, op_reshape(g, h, 3, (int[]){2, L[0]->shape[0] / 2, L[3]->shape[0]}));
        return 2;
    }
    case K_SWIN: {
        params_zero_grad(c->ps);
        swin_outputs o;
        swin_forward(c->sw, g, L[0], &o);
        int n = 0;
        for (int i = 0; i < SWIN_STAGES; i++)
            if (o.out[i]) out[n++] = o.out[i];
        return n;
    }
    }
    fail_msg("unknown case kind %d", c->kind);
    return 0;
}

/* One evaluation of L; R[k] is made on the first call. backward: also run the tape. */
static double fd_eval(fdc *c, graph *g, float **R, int backward) {
    graph_reset(g);
    rng_seed(&g->rng, c->seed);
    g->training = c->training;
    for (int i = 0; i < c->nl; i++) {
        tensor *t = c->leaf[i];
        if (!t) continue;
        if (!t->is_param) t->grad = NULL;
        else if (t->grad) memset(t->grad, 0, sizeof(float) * t->n);
    }
    tensor *out[MAXO];
    int no = case_forward(g, c, out);
    double L = 0;
    for (int k = 0; k < no; k++) {
        if (!R[k]) {
            R[k] = pool_add(malloc(sizeof(float) * out[k]->n));
            for (int64_t i = 0; i < out[k]->n; i++) R[k][i] = rng_normal(&trng);
        }
        L += loss_dot_seed(g, out[k], R[k]);
    }
    if (backward) graph_backward(g);
    return L;
}

static double fd_at(fdc *c, graph *g, float **R, float *x, int64_t n, const float *v, int64_t one, double h) {
    /* L(x + h v) (v NULL: only element `one` moves by h) */
    float *save = malloc(sizeof(float) * n);
    memcpy(save, x, sizeof(float) * n);
    if (v)
        for (int64_t i = 0; i < n; i++) x[i] = (float)(save[i] + h * v[i]);
    else
        x[one] = (float)(save[one] + h);
    double L = fd_eval(c, g, R, 0);
    memcpy(x, save, sizeof(float) * n);
    free(save);
    return L;
}

/* Run the checks; returns the worst relative errors through *dir_err and *elem_err. */
static void fd_check(fdc *c, double *dir_err_out, double *elem_err_out) {
    graph g;
    graph_init(&g, 1 << 20);
    float *R[MAXO] = {0};
    if (!c->ndir) c->ndir = 3;
    if (!c->seed) c->seed = 1234;
    fd_eval(c, &g, R, 1);
    float *an[MAXL] = {0};
    for (int i = 0; i < c->nl; i++) {
        tensor *t = c->leaf[i];
        if (!t) continue;
        if (!t->requires_grad) {
            if (t->grad) fail_msg("%s: leaf %d needs no gradient but got one", c->name, i);
            continue;
        }
        if (!t->grad) fail_msg("%s: leaf %d needs a gradient and got none", c->name, i);
        an[i] = malloc(sizeof(float) * t->n);
        memcpy(an[i], t->grad, sizeof(float) * t->n);
    }
    double worst_dir = 0, worst_elem = 0;
    for (int i = 0; i < c->nl; i++) {
        if (!an[i]) continue;
        tensor *t = c->leaf[i];
        int64_t n = t->n;
        double gmax = 0, gn = 0;
        for (int64_t j = 0; j < n; j++) {
            gn += (double)an[i][j] * an[i][j];
            if (fabs(an[i][j]) > gmax) gmax = fabs(an[i][j]);
        }
        gn = sqrt(gn);
        /* the step: h relative to the leaf's size (rms), so small weights are not moved by a large fraction */
        double rms = 0;
        for (int64_t j = 0; j < n; j++) rms += (double)t->data[j] * t->data[j];
        rms = sqrt(rms / n);
        double h = c->h * (rms > 1e-2 ? rms : 1e-2);
        double he = (c->h_elem > 0 ? c->h_elem : c->h) * (rms > 1e-2 ? rms : 1e-2);
        double leaf_dir = 0, leaf_elem = 0;
        /* directional */
        float *v = malloc(sizeof(float) * n);
        for (int d = 0; d < c->ndir; d++) {
            double dot = 0;
            for (int64_t j = 0; j < n; j++) {
                v[j] = rng_normal(&trng);
                dot += (double)an[i][j] * v[j];
            }
            double lp = fd_at(c, &g, R, t->data, n, v, 0, h), lm = fd_at(c, &g, R, t->data, n, v, 0, -h);
            double fd = (lp - lm) / (2.0 * h);
            double den = fmax(fabs(dot), gn);
            double err = den > 0 ? fabs(fd - dot) / den : fabs(fd);
            if (err > leaf_dir) leaf_dir = err;
            if (!(err <= c->tol))
                fail_msg("%s: leaf %d direction %d: finite difference %.8g, analytic %.8g (|grad| %.3g): rel err %.3g > %.3g",
                         c->name, i, d, fd, dot, gn, err, c->tol);
        }
        free(v);
        /* elementwise */
        int64_t m = n <= c->elem_max ? n : c->elem_max;
        for (int64_t e = 0; e < m; e++) {
            int64_t j = n <= c->elem_max ? e : (int64_t)rng_below(&trng, (uint32_t)n);
            double lp = fd_at(c, &g, R, t->data, n, NULL, j, he), lm = fd_at(c, &g, R, t->data, n, NULL, j, -he);
            double fd = (lp - lm) / (2.0 * he);
            double err = gmax > 0 ? fabs(fd - an[i][j]) / gmax : fabs(fd);
            if (err > leaf_elem) leaf_elem = err;
            if (!(err <= c->tol))
                fail_msg("%s: leaf %d element %lld: finite difference %.8g, analytic %.8g (max|grad| %.3g): rel err %.3g > %.3g",
                         c->name, i, (long long)j, fd, an[i][j], gmax, err, c->tol);
        }
        free(an[i]);
        if (getenv("DB_FD_VERBOSE"))
            print_message("   leaf %d (n %lld, rms %.3g, h %.3g / %.3g): directional %.2e elementwise %.2e\n", i, (long long)n, rms, h, he, leaf_dir, leaf_elem);
        worst_dir = fmax(worst_dir, leaf_dir);
        worst_elem = fmax(worst_elem, leaf_elem);
    }
    print_message("fd %-44s directional %.2e  elementwise %.2e\n", c->name, worst_dir, worst_elem);
    if (dir_err_out) *dir_err_out = worst_dir;
    if (elem_err_out) *elem_err_out = worst_elem;
    graph_free(&g);
}

/* the default settings for one-op cases */
static fdc fd_case(const char *name, int kind) {
    fdc c;
    memset(&c, 0, sizeof c);
    c.name = name;
    c.kind = kind;
    c.h = 1e-2f;
    c.tol = 1e-2f;
    c.elem_max = 48;
    c.ndir = 3;
    c.seed = 77;
    return c;
}
static void add_leaves(fdc *c, int n, ...) {
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) c->leaf[c->nl++] = va_arg(ap, tensor *);
    va_end(ap);
}
#define RUN(c) fd_check(&(c), NULL, NULL)

/* ================================================================================================ */
/* finite-difference checks, one op at a time                                                        */

static void test_fd_linear(void **state) {
    (void)state;
    rng_seed(&trng, 1);
    {
        fdc c = fd_case("linear x(2,3,5) w(4,5) b", K_LINEAR);
        add_leaves(&c, 3, LEAF(ACT_GRAD, 1, 2, 3, 5), LEAF(PARAM_TRAIN, 0.5f, 4, 5), LEAF(PARAM_TRAIN, 0.5f, 4));
        RUN(c);
    }
    {
        fdc c = fd_case("linear no bias", K_LINEAR);
        add_leaves(&c, 3, LEAF(ACT_GRAD, 1, 6, 5), LEAF(ACT_GRAD, 0.5f, 3, 5), NULL);
        RUN(c);
    }
    {
        /* frozen weight: x and the bias still get their gradients; the weight none (tensor_grad would
         * abort on a frozen parameter, and its grad stays NULL) */
        fdc c = fd_case("linear frozen weight", K_LINEAR);
        add_leaves(&c, 3, LEAF(ACT_GRAD, 1, 7, 4), LEAF(PARAM_FROZEN, 0.5f, 3, 4), LEAF(PARAM_TRAIN, 0.5f, 3));
        RUN(c);
        assert_null(c.leaf[1]->grad);
    }
    {
        fdc c = fd_case("linear frozen weight and bias, x only", K_LINEAR);
        add_leaves(&c, 3, LEAF(ACT_GRAD, 1, 5, 4), LEAF(PARAM_FROZEN, 0.5f, 6, 4), LEAF(PARAM_FROZEN, 0.5f, 6));
        RUN(c);
    }
    {
        fdc c = fd_case("linear weight only (x needs none)", K_LINEAR);
        add_leaves(&c, 3, LEAF(ACT_NOGRAD, 1, 5, 4), LEAF(PARAM_TRAIN, 0.5f, 6, 4), NULL);
        RUN(c);
    }
    pool_free();
}

/* linear + residual in one op: the forward against op_add(res, op_linear(...)), the backward against finite
 * differences (separate residual, the input as its own residual, no bias, frozen weight) */
static void test_fd_linear_residual(void **state) {
    (void)state;
    rng_seed(&trng, 4);
    static const struct {
        int R, in, out, bias, self, wkind;
    } cfgs[] = {{5, 4, 3, 1, 0, PARAM_TRAIN}, {6, 4, 4, 1, 1, PARAM_TRAIN}, {3, 7, 2, 0, 0, PARAM_TRAIN},
                {4, 3, 5, 1, 0, PARAM_FROZEN}};
    for (size_t q = 0; q < sizeof cfgs / sizeof cfgs[0]; q++) {
        int R = cfgs[q].R, in = cfgs[q].in, out = cfgs[q].out;
        char *name = pool_add(malloc(80));
        snprintf(name, 80, "linear_residual (%d,%d)->%d%s%s%s", R, in, out, cfgs[q].self ? " res = x" : "",
                 cfgs[q].bias ? "" : " no bias", cfgs[q].wkind == PARAM_FROZEN ? " frozen" : "");
        fdc c = fd_case(name, K_LINRES);
        c.s = cfgs[q].self ? 1.0f : 0.0f;
        tensor *x = LEAF(ACT_GRAD, 1, R, in), *w = LEAF(cfgs[q].wkind, 0.5f, out, in);
        tensor *b = cfgs[q].bias ? LEAF(cfgs[q].wkind, 0.5f, out) : NULL;
        tensor *res = cfgs[q].self ? NULL : LEAF(ACT_GRAD, 1, R, out);
        add_leaves(&c, 4, x, w, b, res);
        graph g;
        graph_init(&g, 1 << 20);
        tensor *r = res ? res : x;
        tensor *y = op_linear_residual(&g, r, x, w, b), *y2 = op_add(&g, r, op_linear(&g, x, w, b));
        for (int64_t i = 0; i < y->n; i++)
            if (fabsf(y->data[i] - y2->data[i]) > 1e-5f * (1 + fabsf(y2->data[i]))) fail_msg("%s: y[%lld] %g vs add + linear %g", name, (long long)i, y->data[i], y2->data[i]);
        graph_free(&g);
        RUN(c);
        if (cfgs[q].wkind == PARAM_FROZEN) assert_null(w->grad);
    }
    pool_free();
}

static void test_fd_layernorm(void **state) {
    (void)state;
    rng_seed(&trng, 2);
    {
        fdc c = fd_case("layernorm (6,7)", K_LN);
        c.eps = 1e-5f;
        tensor *x = LEAF(ACT_GRAD, 2, 6, 7);
        for (int64_t i = 0; i < x->n; i++) x->data[i] += 3.0f; /* a non-zero mean */
        add_leaves(&c, 3, x, LEAF(PARAM_TRAIN, 1, 7), LEAF(PARAM_TRAIN, 1, 7));
        RUN(c);
    }
    {
        fdc c = fd_case("layernorm frozen affine (2,3,16)", K_LN);
        c.eps = 1e-5f;
        add_leaves(&c, 3, LEAF(ACT_GRAD, 1, 2, 3, 16), LEAF(PARAM_FROZEN, 1, 16), LEAF(PARAM_FROZEN, 1, 16));
        RUN(c);
    }
    {
        fdc c = fd_case("layernorm without affine", K_LN);
        c.eps = 1e-5f;
        add_leaves(&c, 3, LEAF(ACT_GRAD, 1, 4, 6), NULL, NULL);
        RUN(c);
    }
    {
        fdc c = fd_case("layernorm bias without weight", K_LN);
        c.eps = 1e-5f;
        add_leaves(&c, 3, LEAF(ACT_GRAD, 1, 4, 6), NULL, LEAF(PARAM_TRAIN, 1, 6));
        RUN(c);
    }
    {
        fdc c = fd_case("layernorm affine only", K_LN);
        c.eps = 1e-5f;
        add_leaves(&c, 3, LEAF(ACT_NOGRAD, 1, 9, 5), LEAF(PARAM_TRAIN, 1, 5), LEAF(PARAM_TRAIN, 1, 5));
        RUN(c);
    }
    pool_free();
}

static void test_fd_elementwise(void **state) {
    (void)state;
    rng_seed(&trng, 3);
    {
        fdc c = fd_case("gelu (64) in [-6, 6]", K_GELU);
        tensor *x = LEAF(ACT_GRAD, 2, 64);
        add_leaves(&c, 1, x);
        c.h = 1e-3f;
        RUN(c);
    }
    {
        fdc c = fd_case("add", K_ADD);
        add_leaves(&c, 2, LEAF(ACT_GRAD, 1, 3, 5), LEAF(PARAM_TRAIN, 1, 3, 5));
        RUN(c);
    }
    {
        fdc c = fd_case("add (a, a): accumulation", K_ADD_SELF);
        add_leaves(&c, 1, LEAF(ACT_GRAD, 1, 4, 5));
        RUN(c);
    }
    {
        fdc c = fd_case("axpy s=-0.7", K_AXPY);
        c.s = -0.7f;
        add_leaves(&c, 2, LEAF(ACT_GRAD, 1, 3, 5), LEAF(ACT_GRAD, 1, 3, 5));
        RUN(c);
    }
    {
        fdc c = fd_case("axpy, only b needs a gradient", K_AXPY);
        c.s = 2.5f;
        add_leaves(&c, 2, LEAF(ACT_NOGRAD, 1, 3, 5), LEAF(ACT_GRAD, 1, 3, 5));
        RUN(c);
    }
    {
        fdc c = fd_case("scale 1.3", K_SCALE);
        c.s = 1.3f;
        add_leaves(&c, 1, LEAF(ACT_GRAD, 1, 2, 7));
        RUN(c);
    }
    {
        fdc c = fd_case("affine2 a(5,6) ga b gb", K_AFFINE2);
        add_leaves(&c, 4, LEAF(ACT_GRAD, 1, 5, 6), LEAF(PARAM_TRAIN, 1, 6), LEAF(ACT_GRAD, 1, 5, 6), LEAF(PARAM_TRAIN, 1, 6));
        RUN(c);
    }
    {
        fdc c = fd_case("affine2, frozen ga and gb", K_AFFINE2);
        add_leaves(&c, 4, LEAF(ACT_GRAD, 1, 5, 6), LEAF(PARAM_FROZEN, 1, 6), LEAF(ACT_GRAD, 1, 5, 6), LEAF(PARAM_FROZEN, 1, 6));
        RUN(c);
    }
    {
        fdc c = fd_case("chain: x through layernorm, linear, gelu, axpy, affine2, scale, mean", K_CHAIN);
        add_leaves(&c, 6, LEAF(ACT_GRAD, 1, 6, 5), LEAF(PARAM_TRAIN, 1, 5), LEAF(PARAM_TRAIN, 1, 5), LEAF(PARAM_TRAIN, 0.5f, 7, 5),
                   LEAF(PARAM_FROZEN, 0.5f, 7), LEAF(PARAM_TRAIN, 0.5f, 5, 7));
        RUN(c);
    }
    {
        fdc c = fd_case("mean_tokens (2,5,3)", K_MEAN);
        add_leaves(&c, 1, LEAF(ACT_GRAD, 1, 2, 5, 3));
        RUN(c);
    }
    pool_free();
}

static void test_fd_layout(void **state) {
    (void)state;
    rng_seed(&trng, 4);
    static const int idx[9] = {2, -1, 0, 2, 4, -1, 2, 1, 0}; /* padding and repeated rows */
    {
        fdc c = fd_case("gather_rows with -1 and repeats", K_GATHER);
        c.idx = idx;
        c.n_out = 9;
        c.ondim = 3;
        c.oshape[0] = 3, c.oshape[1] = 3, c.oshape[2] = 3;
        add_leaves(&c, 1, LEAF(ACT_GRAD, 1, 5, 3));
        RUN(c);
    }
    {
        fdc c = fd_case("reshape (2,3,4) -> (6,4) of an intermediate", K_RESHAPE);
        c.s = 1.5f;
        c.ondim = 2;
        c.oshape[0] = 6, c.oshape[1] = 4;
        add_leaves(&c, 1, LEAF(ACT_GRAD, 1, 2, 3, 4));
        RUN(c);
    }
    {
        fdc c = fd_case("reshape of a parameter", K_RESHAPE);
        c.ondim = 4;
        c.oshape[0] = 3, c.oshape[1] = 2, c.oshape[2] = 1, c.oshape[3] = 1;
        add_leaves(&c, 1, LEAF(PARAM_TRAIN, 1, 3, 2));
        RUN(c);
    }
    {
        fdc c = fd_case("nchw_to_nhwc (2,3,4,5)", K_TO_NHWC);
        add_leaves(&c, 1, LEAF(ACT_GRAD, 1, 2, 3, 4, 5));
        RUN(c);
    }
    {
        fdc c = fd_case("nhwc_to_nchw (2,4,5,3)", K_TO_NCHW);
        add_leaves(&c, 1, LEAF(ACT_GRAD, 1, 2, 4, 5, 3));
        RUN(c);
    }
    pool_free();
}

/* naive direct convolution in double, PyTorch semantics */
static void conv_ref(const tensor *x, const tensor *w, const tensor *b, int stride, int pad, int G, double *y, int Ho, int Wo) {
    int B = x->shape[0], Cin = x->shape[1], H = x->shape[2], W = x->shape[3], Cout = w->shape[0], kh = w->shape[2],
        kw = w->shape[3];
    int cig = Cin / G, cog = Cout / G;
    for (int bi = 0; bi < B; bi++)
        for (int o = 0; o < Cout; o++)
            for (int r = 0; r < Ho; r++)
                for (int s = 0; s < Wo; s++) {
                    double acc = b ? b->data[o] : 0;
                    int gi = o / cog;
                    for (int ci = 0; ci < cig; ci++)
                        for (int i = 0; i < kh; i++)
                            for (int j = 0; j < kw; j++) {
                                int rr = r * stride - pad + i, ss = s * stride - pad + j;
                                if (rr < 0 || rr >= H || ss < 0 || ss >= W) continue;
                                acc += (double)w->data[((o * cig + ci) * kh + i) * kw + j] *
                                       x->data[((bi * Cin + gi * cig + ci) * H + rr) * W + ss];
                            }
                    y[((bi * Cout + o) * Ho + r) * Wo + s] = acc;
                }
}

static void test_fd_conv2d(void **state) {
    (void)state;
    rng_seed(&trng, 5);
    static const struct {
        const char *name;
        int B, Cin, H, W, Cout, k, stride, pad, groups, bias, wkind;
    } cfgs[] = {
        {"conv2d k4 s4 p0 (patch embed)", 2, 3, 8, 9, 4, 4, 4, 0, 1, 1, PARAM_TRAIN},
        {"conv2d k4 s4 p0 frozen weight and bias", 1, 3, 8, 8, 4, 4, 4, 0, 1, 1, PARAM_FROZEN},
        {"conv2d k4 s4 bias only (x and weight need none)", 1, 3, 8, 4, 4, 4, 4, 0, 1, 1, -1},
        {"conv2d k3 s1 p1", 2, 3, 5, 6, 5, 3, 1, 1, 1, 1, PARAM_TRAIN},
        {"conv2d k3 s2 p1 groups 2", 2, 4, 7, 6, 6, 3, 2, 1, 2, 1, PARAM_TRAIN},
        {"conv2d 1x1 no bias", 2, 5, 4, 3, 3, 1, 1, 0, 1, 0, PARAM_TRAIN},
        {"conv2d k3 s1 p1 groups 4 (depthwise)", 1, 4, 4, 5, 4, 3, 1, 1, 4, 1, PARAM_TRAIN},
    };
    for (size_t q = 0; q < sizeof cfgs / sizeof cfgs[0]; q++) {
        fdc c = fd_case(cfgs[q].name, K_CONV);
        c.stride = cfgs[q].stride, c.pad = cfgs[q].pad, c.groups = cfgs[q].groups;
        int bitfit = cfgs[q].wkind < 0; /* frozen weight, trainable bias, input without gradient */
        tensor *x = LEAF(bitfit ? ACT_NOGRAD : ACT_GRAD, 1, cfgs[q].B, cfgs[q].Cin, cfgs[q].H, cfgs[q].W);
        tensor *w = LEAF(bitfit ? PARAM_FROZEN : cfgs[q].wkind, 0.5f, cfgs[q].Cout, cfgs[q].Cin / cfgs[q].groups, cfgs[q].k, cfgs[q].k);
        tensor *b = cfgs[q].bias ? LEAF(bitfit ? PARAM_TRAIN : cfgs[q].wkind, 0.5f, cfgs[q].Cout) : NULL;
        add_leaves(&c, 3, x, w, b);
        /* the forward against a direct convolution */
        graph g;
        graph_init(&g, 1 << 20);
        tensor *y = op_conv2d(&g, x, w, b, c.stride, c.pad, c.groups);
        int Ho = (cfgs[q].H + 2 * c.pad - cfgs[q].k) / c.stride + 1, Wo = (cfgs[q].W + 2 * c.pad - cfgs[q].k) / c.stride + 1;
        assert_int_equal(y->shape[2], Ho);
        assert_int_equal(y->shape[3], Wo);
        double *ref = malloc(sizeof(double) * y->n);
        conv_ref(x, w, b, c.stride, c.pad, c.groups, ref, Ho, Wo);
        for (int64_t i = 0; i < y->n; i++)
            if (fabs(y->data[i] - ref[i]) > 1e-4 * (1 + fabs(ref[i]))) fail_msg("%s: y[%lld] %g vs direct %g", c.name, (long long)i, y->data[i], ref[i]);
        free(ref);
        graph_free(&g);
        RUN(c);
        if (cfgs[q].wkind != PARAM_TRAIN) assert_null(w->grad);
    }
    pool_free();
}

static void test_fd_dwconv(void **state) {
    (void)state;
    rng_seed(&trng, 6);
    static const struct {
        int k, B, H, W, C;
    } cfgs[] = {{3, 2, 5, 4, 3}, {5, 1, 6, 7, 2}, {7, 1, 8, 9, 2}, {3, 1, 1, 2, 3}, {5, 2, 3, 2, 2}, {7, 1, 2, 3, 3}, {7, 1, 1, 1, 2}};
    for (size_t q = 0; q < sizeof cfgs / sizeof cfgs[0]; q++) {
        char *name = pool_add(malloc(64));
        snprintf(name, 64, "dwconv_nhwc k%d (%d,%d,%d,%d)", cfgs[q].k, cfgs[q].B, cfgs[q].H, cfgs[q].W, cfgs[q].C);
        fdc c = fd_case(name, K_DW);
        int k = cfgs[q].k, B = cfgs[q].B, H = cfgs[q].H, W = cfgs[q].W, C = cfgs[q].C;
        tensor *x = LEAF(ACT_GRAD, 1, B, H, W, C), *w = LEAF(PARAM_TRAIN, 0.5f, C, 1, k, k), *b = LEAF(PARAM_TRAIN, 0.5f, C);
        add_leaves(&c, 3, x, w, b);
        /* forward against a direct loop */
        graph g;
        graph_init(&g, 1 << 20);
        tensor *y = op_dwconv_nhwc(&g, x, w, b);
        for (int bi = 0; bi < B; bi++)
            for (int r = 0; r < H; r++)
                for (int s = 0; s < W; s++)
                    for (int ch = 0; ch < C; ch++) {
                        double acc = b->data[ch];
                        for (int i = 0; i < k; i++)
                            for (int j = 0; j < k; j++) {
                                int rr = r + i - k / 2, ss = s + j - k / 2;
                                if (rr >= 0 && rr < H && ss >= 0 && ss < W)
                                    acc += (double)w->data[(ch * k + i) * k + j] * x->data[((bi * H + rr) * W + ss) * C + ch];
                            }
                        float got = y->data[((bi * H + r) * W + s) * C + ch];
                        if (fabs(got - acc) > 1e-4 * (1 + fabs(acc))) fail_msg("%s: forward %g vs direct %g", name, got, acc);
                    }
        graph_free(&g);
        RUN(c);
    }
    {
        fdc c = fd_case("dwconv_nhwc k5, frozen kernel", K_DW);
        add_leaves(&c, 3, LEAF(ACT_GRAD, 1, 1, 4, 4, 2), LEAF(PARAM_FROZEN, 0.5f, 2, 1, 5, 5), LEAF(PARAM_FROZEN, 0.5f, 2));
        RUN(c);
    }
    pool_free();
}

/* LayerNorm + mix in one op: the forward against op_affine2(op_layernorm(...)) and a direct loop in
 * double, the backward against finite differences (with and without LN weights, frozen parameters) */
static void test_fd_layernorm_mix(void **state) {
    (void)state;
    rng_seed(&trng, 8);
    static const struct {
        int R, C, affine, pkind, xkind;
    } cfgs[] = {{7, 5, 1, PARAM_TRAIN, ACT_GRAD}, {3, 64, 1, PARAM_TRAIN, ACT_GRAD}, {4, 3, 0, PARAM_TRAIN, ACT_GRAD},
                {5, 6, 1, PARAM_FROZEN, ACT_GRAD}, {6, 4, 1, PARAM_TRAIN, ACT_NOGRAD}};
    for (size_t q = 0; q < sizeof cfgs / sizeof cfgs[0]; q++) {
        int R = cfgs[q].R, C = cfgs[q].C;
        char *name = pool_add(malloc(80));
        snprintf(name, 80, "layernorm_mix (%d,%d)%s%s%s", R, C, cfgs[q].affine ? "" : " no LN weights",
                 cfgs[q].pkind == PARAM_FROZEN ? " frozen LN" : "", cfgs[q].xkind == ACT_NOGRAD ? " x no grad" : "");
        fdc c = fd_case(name, K_LNMIX);
        c.eps = 1e-5f;
        tensor *x = leaf_new(cfgs[q].xkind, 2, (int[]){R, C}, 1.0f, 0.3f);
        tensor *w = cfgs[q].affine ? leaf_new(cfgs[q].pkind, 1, &C, 0.5f, 1.0f) : NULL;
        tensor *b = cfgs[q].affine ? LEAF(cfgs[q].pkind, 0.5f, C) : NULL;
        tensor *ga = LEAF(PARAM_TRAIN, 0.5f, C), *gx = leaf_new(PARAM_TRAIN, 1, &C, 0.5f, 1.0f);
        add_leaves(&c, 5, x, w, b, ga, gx);
        graph g;
        graph_init(&g, 1 << 20);
        tensor *y = op_layernorm_mix(&g, x, w, b, c.eps, ga, gx);
        tensor *y2 = op_affine2(&g, op_layernorm(&g, x, w, b, c.eps), ga, x, gx);
        for (int r = 0; r < R; r++) {
            double mu = 0, var = 0;
            for (int k = 0; k < C; k++) mu += x->data[r * C + k];
            mu /= C;
            for (int k = 0; k < C; k++) var += (x->data[r * C + k] - mu) * (x->data[r * C + k] - mu);
            var /= C;
            for (int k = 0; k < C; k++) {
                double h = (x->data[r * C + k] - mu) / sqrt(var + c.eps);
                double n = w ? h * w->data[k] + b->data[k] : h;
                double ref = n * ga->data[k] + (double)x->data[r * C + k] * gx->data[k];
                float got = y->data[r * C + k];
                if (fabs(got - ref) > 1e-5 * (1 + fabs(ref))) fail_msg("%s: y[%d,%d] %g vs direct %g", name, r, k, got, ref);
                if (fabs(got - y2->data[r * C + k]) > 1e-5 * (1 + fabs(ref)))
                    fail_msg("%s: y[%d,%d] %g vs layernorm + affine2 %g", name, r, k, got, y2->data[r * C + k]);
            }
        }
        graph_free(&g);
        RUN(c);
        if (cfgs[q].pkind == PARAM_FROZEN) assert_null(w->grad), assert_null(b->grad);
    }
    pool_free();
}

/* The plain depthwise loops (double accumulation) the backend's blocked kernels are checked against:
 * y = b + sum_{i,j} w[c,i,j] x[r+i-p, s+j-p]; dx, dw, db the exact adjoints. NHWC, stride 1, pad k/2. */
static void dwconv_ref_fwd(const float *x, const float *w, const float *b, double *y, int B, int H, int W, int C, int k) {
    int p = k / 2;
    for (int bi = 0; bi < B; bi++)
        for (int r = 0; r < H; r++)
            for (int s = 0; s < W; s++)
                for (int c = 0; c < C; c++) {
                    double acc = b ? b[c] : 0.0;
                    for (int i = 0; i < k; i++)
                        for (int j = 0; j < k; j++) {
                            int rr = r + i - p, ss = s + j - p;
                            if (rr >= 0 && rr < H && ss >= 0 && ss < W)
                                acc += (double)w[(c * k + i) * k + j] * x[(((int64_t)bi * H + rr) * W + ss) * C + c];
                        }
                    y[(((int64_t)bi * H + r) * W + s) * C + c] = acc;
                }
}

static void dwconv_ref_bwd(const float *x, const float *w, const float *dy, double *dx, double *dw, double *db, int B, int H,
                           int W, int C, int k) {
    int p = k / 2;
    for (int bi = 0; bi < B; bi++)
        for (int r = 0; r < H; r++)
            for (int s = 0; s < W; s++)
                for (int c = 0; c < C; c++) {
                    double d = dy[(((int64_t)bi * H + r) * W + s) * C + c];
                    db[c] += d;
                    for (int i = 0; i < k; i++)
                        for (int j = 0; j < k; j++) {
                            int rr = r + i - p, ss = s + j - p;
                            if (rr < 0 || rr >= H || ss < 0 || ss >= W) continue;
                            int64_t xi = (((int64_t)bi * H + rr) * W + ss) * C + c;
                            dx[xi] += d * w[(c * k + i) * k + j];
                            dw[(c * k + i) * k + j] += d * x[xi];
                        }
                }
}

/* largest |got - ref| / max(1, max|ref|) over n values; got starts from `base` (the += contract) */
static double dw_err(const float *got, const float *base, const double *ref, int64_t n) {
    double mx = 1, e = 0;
    for (int64_t i = 0; i < n; i++) mx = fmax(mx, fabs(ref[i]));
    for (int64_t i = 0; i < n; i++) e = fmax(e, fabs((double)got[i] - base[i] - ref[i]));
    return e / mx;
}

/* the backend's depthwise kernels against the plain loops: odd sizes, channel counts below, at and above
 * the register block, every optional output absent in turn, and the += contract of the backward */
static void test_dwconv_kernels(void **state) {
    (void)state;
    rng_seed(&trng, 21);
    const backend_ops *be = backend_get();
    static const int ks[] = {1, 3, 5, 7, 9}, Cs[] = {1, 5, 64, 19, 33};
    static const int sizes[][3] = {{2, 7, 9}, {1, 3, 2}, {1, 1, 1}, {2, 11, 5}, {1, 6, 13}};
    int ncase = 0;
    for (int ki = 0; ki < 5; ki++)
        for (int ci = 0; ci < 5; ci++)
            for (int si = 0; si < 5; si++) {
                int k = ks[ki], C = Cs[ci], B = sizes[si][0], H = sizes[si][1], W = sizes[si][2];
                int variant = ncase++ % 4; /* 0: all outputs; 1: no bias; 2: no dx; 3: no dw (bias only) */
                int64_t n = (int64_t)B * H * W * C, nw = (int64_t)C * k * k;
                float *x = malloc(sizeof(float) * n), *dy = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
                float *w = malloc(sizeof(float) * nw), *b = malloc(sizeof(float) * C);
                float *dx = malloc(sizeof(float) * n), *dw = malloc(sizeof(float) * nw), *db = malloc(sizeof(float) * C);
                float *dx0 = malloc(sizeof(float) * n), *dw0 = malloc(sizeof(float) * nw), *db0 = malloc(sizeof(float) * C);
                double *ry = calloc(n, sizeof(double)), *rdx = calloc(n, sizeof(double)), *rdw = calloc(nw, sizeof(double)),
                       *rdb = calloc(C, sizeof(double));
                for (int64_t i = 0; i < n; i++) x[i] = rng_normal(&trng), dy[i] = rng_normal(&trng), dx0[i] = dx[i] = rng_normal(&trng);
                for (int64_t i = 0; i < nw; i++) w[i] = rng_normal(&trng), dw0[i] = dw[i] = rng_normal(&trng);
                for (int c = 0; c < C; c++) b[c] = rng_normal(&trng), db0[c] = db[c] = rng_normal(&trng);
                const float *bias = variant == 1 ? NULL : b;
                be->dwconv_fwd(x, w, bias, y, B, H, W, C, k);
                dwconv_ref_fwd(x, w, bias, ry, B, H, W, C, k);
                float *zero = calloc(n, sizeof(float));
                double e = dw_err(y, zero, ry, n);
                free(zero);
                if (e > 1e-5) fail_msg("dwconv fwd k%d C%d (%d,%d,%d) bias %d: rel err %.3g", k, C, B, H, W, bias != NULL, e);
                float *pdx = variant == 2 ? NULL : dx, *pdw = variant == 3 ? NULL : dw;
                be->dwconv_bwd(x, w, dy, pdx, pdw, db, B, H, W, C, k);
                dwconv_ref_bwd(x, w, dy, rdx, rdw, rdb, B, H, W, C, k);
                if (pdx && (e = dw_err(dx, dx0, rdx, n)) > 1e-5) fail_msg("dwconv dx k%d C%d (%d,%d,%d): rel err %.3g", k, C, B, H, W, e);
                if (!pdx)
                    for (int64_t i = 0; i < n; i++) assert_true(dx[i] == dx0[i]);
                if (pdw && (e = dw_err(dw, dw0, rdw, nw)) > 1e-5) fail_msg("dwconv dw k%d C%d (%d,%d,%d): rel err %.3g", k, C, B, H, W, e);
                if (!pdw)
                    for (int64_t i = 0; i < nw; i++) assert_true(dw[i] == dw0[i]);
                if ((e = dw_err(db, db0, rdb, C)) > 1e-5) fail_msg("dwconv db k%d C%d (%d,%d,%d): rel err %.3g", k, C, B, H, W, e);
                free(x), free(dy), free(y), free(w), free(b), free(dx), free(dw), free(db), free(dx0), free(dw0), free(db0);
                free(ry), free(rdx), free(rdw), free(rdb);
            }
    print_message("dwconv kernels: %d cases against the plain loops\n", ncase);
}

/* Mona's multi-scale conv as one op: the forward against the separate convs (plain loops in double),
 * the backward against finite differences, with trainable, frozen and absent biases */
static void test_fd_dwconv_mix(void **state) {
    (void)state;
    rng_seed(&trng, 7);
    static const struct {
        int B, H, W, C, n, k[3], bias, wkind, xkind;
        float s, id;
    } cfgs[] = {
        {2, 5, 6, 3, 3, {3, 5, 7}, 1, PARAM_TRAIN, ACT_GRAD, 1.0f / 3.0f, 1.0f}, /* Mona's */
        {1, 8, 9, 2, 3, {7, 3, 5}, 1, PARAM_TRAIN, ACT_GRAD, 0.5f, 0.0f},
        {1, 3, 2, 5, 2, {1, 5, 0}, 0, PARAM_TRAIN, ACT_GRAD, 1.0f, -2.0f},
        {2, 4, 3, 2, 3, {3, 5, 7}, 1, PARAM_FROZEN, ACT_GRAD, 1.0f / 3.0f, 1.0f},
        {1, 6, 4, 3, 1, {3, 0, 0}, 1, PARAM_TRAIN, ACT_NOGRAD, 2.0f, 0.5f},
    };
    for (size_t q = 0; q < sizeof cfgs / sizeof cfgs[0]; q++) {
        int B = cfgs[q].B, H = cfgs[q].H, W = cfgs[q].W, C = cfgs[q].C, n = cfgs[q].n;
        char *name = pool_add(malloc(96));
        snprintf(name, 96, "dwconv_mix n%d k%d,%d,%d (%d,%d,%d,%d) s %.3g id %.3g%s%s", n, cfgs[q].k[0], cfgs[q].k[1],
                 cfgs[q].k[2], B, H, W, C, cfgs[q].s, cfgs[q].id, cfgs[q].bias ? "" : " no bias",
                 cfgs[q].wkind == PARAM_FROZEN ? " frozen" : "");
        fdc c = fd_case(name, K_DWMIX);
        c.nb = n, c.s = cfgs[q].s, c.eps = cfgs[q].id;
        tensor *x = LEAF(cfgs[q].xkind, 1, B, H, W, C);
        add_leaves(&c, 1, x);
        for (int i = 0; i < n; i++) {
            int k = cfgs[q].k[i];
            add_leaves(&c, 2, LEAF(cfgs[q].wkind, 0.5f, C, 1, k, k), cfgs[q].bias ? LEAF(PARAM_TRAIN, 0.5f, C) : NULL);
        }
        /* forward against id * x + s * sum_i (plain conv i) */
        int64_t nx = x->n;
        double *ref = calloc(nx, sizeof(double)), *one = malloc(sizeof(double) * nx);
        for (int64_t e = 0; e < nx; e++) ref[e] = cfgs[q].id * (double)x->data[e];
        for (int i = 0; i < n; i++) {
            tensor *w = c.leaf[1 + 2 * i], *b = c.leaf[2 + 2 * i];
            dwconv_ref_fwd(x->data, w->data, b ? b->data : NULL, one, B, H, W, C, w->shape[2]);
            for (int64_t e = 0; e < nx; e++) ref[e] += cfgs[q].s * one[e];
        }
        graph g;
        graph_init(&g, 1 << 20);
        tensor *wl[3], *bl[3];
        for (int i = 0; i < n; i++) wl[i] = c.leaf[1 + 2 * i], bl[i] = c.leaf[2 + 2 * i];
        tensor *y = op_dwconv_mix_nhwc(&g, x, H, W, n, wl, bl, cfgs[q].s, cfgs[q].id);
        for (int64_t e = 0; e < nx; e++)
            if (fabs(y->data[e] - ref[e]) > 1e-5 * (1 + fabs(ref[e]))) fail_msg("%s: y[%lld] %g vs separate convs %g", name, (long long)e, y->data[e], ref[e]);
        graph_free(&g);
        free(ref);
        free(one);
        RUN(c);
        if (cfgs[q].wkind == PARAM_FROZEN)
            for (int i = 0; i < n; i++) assert_null(c.leaf[1 + 2 * i]->grad);
    }
    pool_free();
}

/* Swin's relative position index for an M x M window */
static int *rel_index_new(int M) {
    int T = M * M;
    int *ri = pool_add(malloc(sizeof(int) * T * T));
    for (int t1 = 0; t1 < T; t1++)
        for (int t2 = 0; t2 < T; t2++) ri[t1 * T + t2] = (t1 / M - t2 / M + M - 1) * (2 * M - 1) + (t1 % M - t2 % M + M - 1);
    return ri;
}

static void test_fd_attention(void **state) {
    (void)state;
    rng_seed(&trng, 7);
    static const struct {
        int M, heads, d, nw_img, nimg, masked;
    } cfgs[] = {{2, 2, 2, 2, 2, 0}, {2, 2, 3, 2, 2, 1}, {3, 3, 2, 1, 2, 1}, {2, 1, 4, 3, 1, 1}};
    for (size_t q = 0; q < sizeof cfgs / sizeof cfgs[0]; q++) {
        int M = cfgs[q].M, T = M * M, heads = cfgs[q].heads, C = heads * cfgs[q].d, nw_img = cfgs[q].nw_img;
        int nwin = nw_img * cfgs[q].nimg;
        char *name = pool_add(malloc(80));
        snprintf(name, 80, "window_attention M%d heads %d C %d windows %d %s", M, heads, C, nwin, cfgs[q].masked ? "mask" : "no mask");
        fdc c = fd_case(name, K_ATTN);
        c.rel_index = rel_index_new(M);
        c.T = T, c.heads = heads, c.nw_img = nw_img, c.s = 1.0f / sqrtf((float)cfgs[q].d);
        if (cfgs[q].masked) { /* the shifted-window mask: regions, -100 between different ones */
            float *mask = pool_add(malloc(sizeof(float) * nw_img * T * T));
            for (int w = 0; w < nw_img; w++)
                for (int t1 = 0; t1 < T; t1++)
                    for (int t2 = 0; t2 < T; t2++) {
                        int r1 = (t1 % M + w) % 2 == 0, r2 = (t2 % M + w) % 2 == 0;
                        mask[(w * T + t1) * T + t2] = (r1 == r2 || w == 0) ? 0.0f : -100.0f;
                    }
            c.mask = mask;
        }
        add_leaves(&c, 2, LEAF(ACT_GRAD, 1, nwin * T, 3 * C), LEAF(PARAM_TRAIN, 0.5f, (2 * M - 1) * (2 * M - 1), heads));
        RUN(c);
    }
    {
        fdc c = fd_case("window_attention table only (qkv needs none)", K_ATTN);
        c.rel_index = rel_index_new(2);
        c.T = 4, c.heads = 2, c.nw_img = 1, c.s = 0.5f;
        add_leaves(&c, 2, LEAF(ACT_NOGRAD, 1, 3 * 4, 3 * 4), LEAF(PARAM_TRAIN, 0.5f, 9, 2));
        RUN(c);
    }
    {
        fdc c = fd_case("window_attention frozen table", K_ATTN);
        c.rel_index = rel_index_new(2);
        c.T = 4, c.heads = 2, c.nw_img = 1, c.s = 0.5f;
        add_leaves(&c, 2, LEAF(ACT_GRAD, 1, 2 * 4, 3 * 4), LEAF(PARAM_FROZEN, 0.5f, 9, 2));
        RUN(c);
    }
    pool_free();
}

static void test_fd_lora_lorand(void **state) {
    (void)state;
    rng_seed(&trng, 8);
    {
        fdc c = fd_case("lora_qv C4 r2 s0.5", K_LORA);
        c.s = 0.5f;
        add_leaves(&c, 3, LEAF(ACT_GRAD, 1, 5, 12), LEAF(ACT_GRAD, 1, 5, 4), LEAF(PARAM_TRAIN, 1, 8, 2));
        RUN(c);
    }
    {
        fdc c = fd_case("lora_qv, frozen qkv path", K_LORA);
        c.s = 1.5f;
        add_leaves(&c, 3, LEAF(ACT_NOGRAD, 1, 3, 9), LEAF(ACT_GRAD, 1, 3, 6), LEAF(PARAM_TRAIN, 1, 6, 3));
        RUN(c);
    }
    {
        fdc c = fd_case("lorand_weight nb3 in6 k2 out5", K_LORAND);
        c.nb = 3;
        for (int i = 0; i < 3; i++) c.leaf[i] = LEAF(PARAM_TRAIN, 1, 6, 2);
        for (int i = 0; i < 3; i++) c.leaf[3 + i] = LEAF(PARAM_TRAIN, 1, 2, 2);
        for (int i = 0; i < 3; i++) c.leaf[6 + i] = LEAF(PARAM_TRAIN, 1, 2, 5);
        c.nl = 9;
        /* the forward against a direct sum: W[o][i] = sum_b sum_pq A[i][p] g[p][q] B[q][o] */
        graph g;
        graph_init(&g, 1 << 20);
        tensor *W = op_lorand_weight(&g, 3, &c.leaf[0], &c.leaf[3], &c.leaf[6]);
        assert_int_equal(W->shape[0], 5);
        assert_int_equal(W->shape[1], 6);
        for (int o = 0; o < 5; o++)
            for (int i = 0; i < 6; i++) {
                double s = 0;
                for (int b = 0; b < 3; b++)
                    for (int p = 0; p < 2; p++)
                        for (int q = 0; q < 2; q++)
                            s += (double)c.leaf[b]->data[i * 2 + p] * c.leaf[3 + b]->data[p * 2 + q] * c.leaf[6 + b]->data[q * 5 + o];
                assert_true(fabs(W->data[o * 6 + i] - s) < 1e-5 * (1 + fabs(s)));
            }
        graph_free(&g);
        RUN(c);
    }
    {
        fdc c = fd_case("lorand_weight nb1, frozen g", K_LORAND);
        c.nb = 1;
        add_leaves(&c, 3, LEAF(PARAM_TRAIN, 1, 4, 3), LEAF(PARAM_FROZEN, 1, 3, 3), LEAF(PARAM_TRAIN, 1, 3, 2));
        RUN(c);
    }
    pool_free();
}

static void test_fd_loss_and_random(void **state) {
    (void)state;
    rng_seed(&trng, 9);
    static const int labels[4] = {3, 0, 4, 3};
    {
        fdc c = fd_case("cross_entropy (4,5)", K_CE);
        c.labels = labels;
        c.eps = 0.0f;
        add_leaves(&c, 1, LEAF(ACT_GRAD, 2, 4, 5));
        RUN(c);
    }
    {
        fdc c = fd_case("cross_entropy smoothing 0.1", K_CE);
        c.labels = labels;
        c.eps = 0.1f;
        add_leaves(&c, 1, LEAF(ACT_GRAD, 2, 4, 5));
        RUN(c);
    }
    {
        fdc c = fd_case("dropout p0.3 training, fixed seed", K_DROPOUT);
        c.p = 0.3f, c.training = 1, c.seed = 5;
        add_leaves(&c, 1, LEAF(ACT_GRAD, 1, 4, 10));
        RUN(c);
        /* the fixed mask has both kinds of entries: x * 0 and x / 0.7 */
        graph g;
        graph_init(&g, 1 << 20);
        g.training = 1;
        rng_seed(&g.rng, 5);
        tensor *y = op_dropout(&g, c.leaf[0], 0.3f);
        int zero = 0, kept = 0;
        for (int64_t i = 0; i < y->n; i++) {
            if (y->data[i] == 0.0f) zero++;
            else if (fabsf(y->data[i] - c.leaf[0]->data[i] / 0.7f) <= 1e-6f * (1 + fabsf(y->data[i]))) kept++;
        }
        assert_int_equal(zero + kept, y->n);
        assert_true(zero > 0 && kept > 0);
        graph_free(&g);
    }
    {
        /* gelu + dropout in one op: element i is dropped iff the i-th uniform of the seeded stream is < p, the
         * rest is the exact GELU (double) / (1 - p); op_dropout(op_gelu) draws the same mask */
        fdc c = fd_case("gelu_dropout p0.3 (5,9) training, fixed seed", K_GELU_DROP);
        c.p = 0.3f, c.training = 1, c.seed = 6;
        add_leaves(&c, 1, LEAF(ACT_GRAD, 1.5f, 5, 9));
        RUN(c);
        graph g;
        graph_init(&g, 1 << 20);
        g.training = 1;
        rng_seed(&g.rng, 6);
        tensor *y = op_gelu_dropout(&g, c.leaf[0], 0.3f);
        rng_seed(&g.rng, 6);
        tensor *y2 = op_dropout(&g, op_gelu(&g, c.leaf[0]), 0.3f);
        rng_t r;
        rng_seed(&r, 6);
        int zero = 0;
        for (int64_t i = 0; i < y->n; i++) {
            double v = c.leaf[0]->data[i], ref = rng_uniform(&r) < 0.3f ? 0.0 : 0.5 * v * (1 + erf(v / sqrt(2.0))) / 0.7;
            zero += ref == 0.0;
            if (fabs(y->data[i] - ref) > 1e-6 * (1 + fabs(ref))) fail_msg("gelu_dropout y[%lld] %g vs %g", (long long)i, y->data[i], ref);
            if (fabs(y2->data[i] - ref) > 1e-6 * (1 + fabs(ref))) fail_msg("dropout(gelu) y[%lld] %g vs %g", (long long)i, y2->data[i], ref);
        }
        assert_true(zero > 0 && zero < y->n);
        g.training = 0; /* not training: plain GELU */
        tensor *y3 = op_gelu_dropout(&g, c.leaf[0], 0.3f);
        for (int64_t i = 0; i < y3->n; i++) {
            double v = c.leaf[0]->data[i], ref = 0.5 * v * (1 + erf(v / sqrt(2.0)));
            assert_true(fabs(y3->data[i] - ref) <= 1e-6 * (1 + fabs(ref)));
        }
        graph_free(&g);
    }
    {
        fdc c = fd_case("drop_path p0.4 (6,3,5) training, fixed seed", K_DROPPATH);
        c.p = 0.4f, c.training = 1, c.seed = 11;
        add_leaves(&c, 1, LEAF(ACT_GRAD, 1, 6, 3, 5));
        RUN(c);
        graph g;
        graph_init(&g, 1 << 20);
        g.training = 1;
        rng_seed(&g.rng, 11);
        tensor *y = op_drop_path(&g, c.leaf[0], 0.4f);
        int dropped = 0;
        for (int b = 0; b < 6; b++) { /* a whole sample is dropped or scaled by 1/(1-p) */
            int z = 0, k = 0;
            for (int i = 0; i < 15; i++) {
                float v = y->data[b * 15 + i], x = c.leaf[0]->data[b * 15 + i];
                if (v == 0.0f) z++;
                else if (fabsf(v - x / 0.6f) <= 1e-6f * (1 + fabsf(v))) k++;
            }
            assert_true(z == 15 || k == 15);
            dropped += z == 15;
        }
        assert_true(dropped > 0 && dropped < 6);
        graph_free(&g);
    }
    pool_free();
}

/* ================================================================================================ */
/* forwards against hand-computed values                                                             */

static tensor *const_leaf(int kind, int ndim, const int *shape, const float *v) {
    tensor *t = leaf_new(kind, ndim, shape, 0, 0);
    memcpy(t->data, v, sizeof(float) * t->n);
    return t;
}

static void test_forward_hand(void **state) {
    (void)state;
    graph g;
    graph_init(&g, 1 << 20);
    /* conv2d: x = 1..9 (3x3), w = [[1,2],[3,4]], b = 0.5, stride 1 pad 0 */
    {
        float xv[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, wv[4] = {1, 2, 3, 4}, bv[1] = {0.5f};
        tensor *x = const_leaf(ACT_NOGRAD, 4, (int[]){1, 1, 3, 3}, xv), *w = const_leaf(PARAM_FROZEN, 4, (int[]){1, 1, 2, 2}, wv);
        tensor *b = const_leaf(PARAM_FROZEN, 1, (int[]){1}, bv);
        tensor *y = op_conv2d(&g, x, w, b, 1, 0, 1);
        float want[4] = {37.5f, 47.5f, 67.5f, 77.5f};
        assert_int_equal(y->n, 4);
        for (int i = 0; i < 4; i++) assert_float_equal(y->data[i], want[i], 1e-5);
        /* stride 2, pad 1: windows at (-1,-1), (-1,1), (1,-1), (1,1): 4*1, 3*2+4*3, 2*4+4*7, 1*5+2*6+3*8+4*9 */
        y = op_conv2d(&g, x, w, NULL, 2, 1, 1);
        float want2[4] = {4, 18, 36, 77};
        for (int i = 0; i < 4; i++) assert_float_equal(y->data[i], want2[i], 1e-5);
    }
    /* LayerNorm of [1, 2, 3, 4] (mean 2.5, var 1.25, eps 1e-5), w = [1, 1, 2, 0.5], b = [0, 1, 0, 0] */
    {
        float xv[4] = {1, 2, 3, 4}, wv[4] = {1, 1, 2, 0.5f}, bv[4] = {0, 1, 0, 0};
        tensor *x = const_leaf(ACT_NOGRAD, 2, (int[]){1, 4}, xv);
        tensor *y = op_layernorm(&g, x, const_leaf(PARAM_FROZEN, 1, (int[]){4}, wv), const_leaf(PARAM_FROZEN, 1, (int[]){4}, bv), 1e-5f);
        float want[4] = {-1.3416354f, 0.5527882f, 0.8944236f, 0.6708177f};
        for (int i = 0; i < 4; i++) assert_float_equal(y->data[i], want[i], 2e-6);
    }
    /* GELU 0.5 x (1 + erf(x / sqrt 2)) at known points */
    {
        float xv[6] = {-3, -1, 0, 0.5f, 1, 2};
        float want[6] = {-0.004049694f, -0.158655254f, 0.0f, 0.345731231f, 0.841344746f, 1.954499736f};
        tensor *y = op_gelu(&g, const_leaf(ACT_NOGRAD, 1, (int[]){6}, xv));
        for (int i = 0; i < 6; i++) assert_float_equal(y->data[i], want[i], 2e-6);
    }
    /* attention, 1 head, 2 tokens, C 2, scale 1: q0 = (1,0), q1 = (0.5,-1), k0 = (1,0), k1 = (0,2),
     * v0 = (1,2), v1 = (-1,3); bias table (0, 0.5, -0.5), rel_index [[0,1],[2,0]].
     * S = [[1, 0.5], [0, -2]] -> P row 0 = (sigmoid(0.5), 1 - sigmoid(0.5)), row 1 = (sigmoid(2), ...)
     * out0 = (2 sigmoid(0.5) - 1, 3 - sigmoid(0.5)), out1 = (tanh(1), 3 - sigmoid(2)) */
    {
        float qkv[12] = {1, 0, 1, 0, 1, 2, 0.5f, -1, 0, 2, -1, 3};
        float table[3] = {0, 0.5f, -0.5f};
        static const int ri[4] = {0, 1, 2, 0};
        tensor *q = const_leaf(ACT_NOGRAD, 2, (int[]){2, 6}, qkv), *tb = const_leaf(PARAM_FROZEN, 2, (int[]){3, 1}, table);
        tensor *y = op_window_attention(&g, q, tb, ri, NULL, 1, 2, 1, 1.0f);
        float want[4] = {0.24491866f, 2.37754067f, 0.76159416f, 2.11920292f};
        for (int i = 0; i < 4; i++) assert_float_equal(y->data[i], want[i], 1e-6);
        /* mask -100 on (0, 1): token 0 sees only itself */
        static const float mask[4] = {0, -100, 0, 0};
        y = op_window_attention(&g, q, tb, ri, mask, 1, 2, 1, 1.0f);
        float want2[4] = {1, 2, 0.76159416f, 2.11920292f};
        for (int i = 0; i < 4; i++) assert_float_equal(y->data[i], want2[i], 1e-6);
    }
    /* cross-entropy of logits (0, ln 2, ln 3), label 2: -log(1/2) = ln 2; smoothing 0.1 over 3 classes:
     * -(0.9 + 0.1/3) log(1/2) - (0.1/3)(log(1/6) + log(1/3)) */
    {
        float z[3] = {0, logf(2), logf(3)};
        static const int lab[1] = {2};
        tensor *l = const_leaf(ACT_NOGRAD, 2, (int[]){1, 3}, z);
        assert_float_equal(op_cross_entropy(&g, l, lab, 0)->data[0], 0.693147181f, 1e-6);
        assert_float_equal(op_cross_entropy(&g, l, lab, 0.1f)->data[0], 0.743283094f, 1e-6);
    }
    /* NCHW -> NHWC: x[b][c][h][w] = 1000b + 100c + 10h + w lands at y[b][h][w][c] */
    {
        tensor *x = leaf_new(ACT_NOGRAD, 4, (int[]){2, 3, 2, 4}, 0, 0);
        for (int b = 0; b < 2; b++)
            for (int c = 0; c < 3; c++)
                for (int h = 0; h < 2; h++)
                    for (int w = 0; w < 4; w++) x->data[((b * 3 + c) * 2 + h) * 4 + w] = 1000 * b + 100 * c + 10 * h + w;
        tensor *y = op_nchw_to_nhwc(&g, x);
        assert_int_equal(y->shape[1], 2);
        assert_int_equal(y->shape[3], 3);
        for (int b = 0; b < 2; b++)
            for (int c = 0; c < 3; c++)
                for (int h = 0; h < 2; h++)
                    for (int w = 0; w < 4; w++) assert_float_equal(y->data[((b * 2 + h) * 4 + w) * 3 + c], 1000 * b + 100 * c + 10 * h + w, 0);
        tensor *z = op_nhwc_to_nchw(&g, y);
        for (int64_t i = 0; i < x->n; i++) assert_float_equal(z->data[i], x->data[i], 0);
    }
    /* dropout's keep rate over 20000 elements: 0.3 +- 5 sigma */
    {
        rng_seed(&g.rng, 3);
        g.training = 1;
        tensor *x = leaf_new(ACT_NOGRAD, 1, (int[]){20000}, 0, 1.0f);
        tensor *y = op_dropout(&g, x, 0.3f);
        int z = 0;
        for (int i = 0; i < 20000; i++) z += y->data[i] == 0.0f;
        assert_true(fabs(z / 20000.0 - 0.3) < 5 * sqrt(0.3 * 0.7 / 20000));
        g.training = 0; /* not training: identity */
        assert_ptr_equal(op_dropout(&g, x, 0.3f), x);
        assert_ptr_equal(op_drop_path(&g, x, 0.3f), x);
    }
    graph_free(&g);
    pool_free();
}

/* ================================================================================================ */
/* an op whose inputs need no gradient records nothing                                               */

static void test_no_grad_no_tape(void **state) {
    (void)state;
    rng_seed(&trng, 10);
    graph g;
    graph_init(&g, 1 << 20);
    g.training = 1;
    tensor *x = LEAF(ACT_NOGRAD, 1, 6, 8), *w = LEAF(PARAM_FROZEN, 1, 4, 8), *b = LEAF(PARAM_FROZEN, 1, 4);
    tensor *v = LEAF(PARAM_FROZEN, 1, 8), *img = LEAF(ACT_NOGRAD, 1, 1, 2, 5, 5), *cw = LEAF(PARAM_FROZEN, 1, 4, 1, 3, 3);
    tensor *dx = LEAF(ACT_NOGRAD, 1, 1, 3, 3, 4), *dww = LEAF(PARAM_FROZEN, 1, 4, 1, 3, 3), *dwb = LEAF(PARAM_FROZEN, 1, 4);
    tensor *qkv = LEAF(ACT_NOGRAD, 1, 8, 12), *table = LEAF(PARAM_FROZEN, 1, 9, 2), *t = LEAF(ACT_NOGRAD, 1, 8, 4);
    tensor *lb = LEAF(PARAM_FROZEN, 1, 8, 2), *x3 = LEAF(ACT_NOGRAD, 1, 2, 3, 8);
    tensor *A = LEAF(PARAM_FROZEN, 1, 8, 2), *G = LEAF(PARAM_FROZEN, 1, 2, 2), *Bm = LEAF(PARAM_FROZEN, 1, 2, 8);
    const int *ri = rel_index_new(2);
    static const int idx[4] = {0, -1, 5, 5}, labels[6] = {0, 1, 2, 3, 0, 1};
    tensor *ys[32];
    int n = 0;
    ys[n++] = op_linear(&g, x, w, b);
    ys[n++] = op_linear(&g, x, w, NULL);
    ys[n++] = op_layernorm(&g, x, v, v, 1e-5f);
    ys[n++] = op_gelu(&g, x);
    ys[n++] = op_add(&g, x, x);
    ys[n++] = op_axpy(&g, x, 0.5f, x);
    ys[n++] = op_scale(&g, x, 2.0f);
    ys[n++] = op_affine2(&g, x, v, x, v);
    ys[n++] = op_gather_rows(&g, x, idx, 4, 2, (int[]){4, 8});
    ys[n++] = op_reshape(&g, x, 2, (int[]){8, 6});
    ys[n++] = op_nchw_to_nhwc(&g, img);
    ys[n++] = op_nhwc_to_nchw(&g, dx);
    ys[n++] = op_conv2d(&g, img, cw, NULL, 1, 1, 2);
    ys[n++] = op_dwconv_nhwc(&g, dx, dww, dwb);
    ys[n++] = op_window_attention(&g, qkv, table, ri, NULL, 1, 4, 2, 0.5f);
    ys[n++] = op_lora_qv(&g, qkv, t, lb, 0.5f);
    ys[n++] = op_dropout(&g, x, 0.5f);
    ys[n++] = op_drop_path(&g, x3, 0.5f);
    ys[n++] = op_mean_tokens(&g, x3);
    tensor *Ap[1] = {A}, *Gp[1] = {G}, *Bp[1] = {Bm};
    ys[n++] = op_lorand_weight(&g, 1, Ap, Gp, Bp);
    ys[n++] = op_cross_entropy(&g, x, labels, 0.1f);
    assert_int_equal(g.n_nodes, 0);
    for (int i = 0; i < n; i++) assert_int_equal(ys[i]->requires_grad, 0);
    /* and with grad_mode off, even inputs that need a gradient record nothing */
    g.grad_mode = 0;
    tensor *xg = LEAF(ACT_GRAD, 1, 6, 8);
    tensor *y = op_gelu(&g, op_linear(&g, xg, w, b));
    assert_int_equal(g.n_nodes, 0);
    assert_int_equal(y->requires_grad, 0);
    graph_free(&g);
    pool_free();
}

/* ================================================================================================ */
/* a whole tiny Swin under a tuning method                                                           */

static void randomize(params *ps, const char *substr, float scale) {
    for (int i = 0; i < ps->n; i++)
        if (strstr(ps->p[i]->name, substr))
            for (int64_t j = 0; j < ps->p[i]->t.n; j++) ps->p[i]->t.data[j] = scale * rng_normal(&trng);
}

static void swin_fd(const char *name, const char *cfgname, int window, const char *meth, int B, int H, int W,
                    const char *const *check, int ncheck, const char *const *rand, int nrand) {
    swin_config cfg;
    assert_int_equal(swin_preset(cfgname, &cfg), 0);
    if (window) cfg.window = window;
    cfg.drop_path_rate = 0.3f;
    const method *m = method_find(meth);
    assert_non_null(m);
    params ps;
    params_init(&ps);
    swin s;
    swin_build(&s, &ps, &cfg, &m->plug);
    params_alloc(&ps);
    rng_t r;
    rng_seed(&r, 42);
    swin_init(&s, &r);
    /* move the zero / tiny initialisations (LoRA B = 0, Mona gamma = 1e-6) so every path carries gradient */
    for (int i = 0; i < nrand; i++) randomize(&ps, rand[i], 0.5f);
    fdc c = fd_case(name, K_SWIN);
    c.sw = &s;
    c.ps = &ps;
    c.training = 1; /* dropout and drop path on, the same masks in every evaluation */
    c.seed = 99;
    /* float32 rounding through a whole network is far above that of one op: larger steps (the error
     * falls as h grows up to these sizes, so it is rounding, not curvature), a looser tolerance */
    c.h = 3e-2f;
    c.h_elem = 0.25f;
    c.tol = 2e-2f;
    c.elem_max = 4;
    c.ndir = 2;
    c.leaf[c.nl++] = LEAF(ACT_GRAD, 1, B, 3, H, W);
    for (int i = 0; i < ncheck; i++) {
        param *p = params_find(&ps, check[i]);
        if (!p) fail_msg("%s: no parameter %s", name, check[i]);
        assert_true(p->trainable);
        c.leaf[c.nl++] = &p->t;
    }
    RUN(c);
    /* every frozen backbone parameter kept grad == NULL (tensor_grad would have aborted) */
    for (int i = 0; i < ps.n; i++)
        if (!ps.p[i]->trainable) assert_null(ps.p[i]->t.grad);
    swin_free(&s);
    params_free(&ps);
    pool_free();
}

static void test_fd_swin_mona(void **state) {
    (void)state;
    rng_seed(&trng, 11);
    static const char *const check[] = {
        "layers.0.blocks.0.my_module_1.project1.weight",
        "layers.0.blocks.0.my_module_1.gamma",
        "layers.0.blocks.0.my_module_1.norm.weight",
        "layers.0.blocks.0.my_module_2.adapter_conv.conv1.weight",
        "layers.1.blocks.0.my_module_1.adapter_conv.conv3.weight",
        "layers.2.blocks.0.my_module_2.adapter_conv.projector.weight",
        "layers.3.blocks.0.my_module_2.project2.bias",
        "layers.3.blocks.0.my_module_1.gammax",
    };
    static const char *const rnd[] = {"gamma"};
    /* the brief's config: window 7, one block per stage; 30x26 pads the patch grid to 8x7 */
    swin_fd("swin tiny:8:1,1,1,1:1,1,2,2 mona", "tiny:8:1,1,1,1:1,1,2,2", 0, "mona", 2, 30, 26, check, 8, rnd, 1);
}

static void test_fd_swin_lora(void **state) {
    (void)state;
    rng_seed(&trng, 12);
    static const char *const check[] = {
        "layers.0.blocks.0.attn.qkv.lora_A",
        "layers.0.blocks.1.attn.qkv.lora_B",
        "layers.1.blocks.1.attn.qkv.lora_A",
        "layers.3.blocks.0.attn.qkv.lora_B",
    };
    static const char *const rnd[] = {"lora_B"};
    swin_fd("swin tiny:8:1,1,1,1:1,1,2,2 lora", "tiny:8:1,1,1,1:1,1,2,2", 0, "lora", 1, 28, 32, check + 3, 1, rnd, 1);
    /* window 3 and two blocks per stage: shifted windows with their mask, window padding at 5x4 */
    swin_fd("swin tiny:8:2,2,1,1:1,2,2,2 window 3 lora", "tiny:8:2,2,1,1:1,2,2,2", 3, "lora", 2, 20, 13, check, 4, rnd, 1);
}

static void test_fd_swin_full_shifted(void **state) {
    (void)state;
    rng_seed(&trng, 13);
    /* full tuning: the backbone's own parameters (table, qkv, norms, patch embedding, merging) */
    static const char *const check[] = {
        "patch_embed.proj.weight",
        "patch_embed.norm.bias",
        "layers.0.blocks.1.attn.relative_position_bias_table",
        "layers.0.blocks.1.attn.qkv.weight",
        "layers.0.blocks.0.mlp.fc1.bias",
        "layers.0.downsample.reduction.weight",
        "layers.1.downsample.norm.weight",
        "norm2.weight",
    };
    static const char *const rnd[] = {"relative_position_bias_table"};
    swin_fd("swin tiny:8:2,2,1,1:1,2,2,2 window 3 full", "tiny:8:2,2,1,1:1,2,2,2", 3, "full", 2, 19, 22, check, 8, rnd, 1);
}


/* ---- fastmath.h and the GELU kernels against libm in double ------------------------------------ */
static void test_fastmath(void **state) {
    double e_exp = 0, e_cdf = 0, e_tail = 0, e_pdf = 0;
    for (double xd = -87.0; xd < 88.0; xd += 3.7e-4) {
        float x = (float)xd; /* the float input; the reference is exact for it */
        double r = exp((double)x);
        e_exp = fmax(e_exp, fabs(fm_exp(x) - r) / r);
    }
    for (double xd = -12.0; xd < 12.0; xd += 1.3e-5) {
        float x = (float)xd, pdf;
        float c = fm_normcdf_pdf(x, &pdf);
        double rc = 0.5 * erfc(-(double)x / sqrt(2.0)), rp = exp(-0.5 * (double)x * x) / sqrt(2.0 * M_PI);
        e_cdf = fmax(e_cdf, fabs(c - rc));
        if (x < 0.0f && rc > 1e-37) e_tail = fmax(e_tail, fabs(c - rc) / rc);
        if (rp > 1e-30) e_pdf = fmax(e_pdf, fabs(pdf - rp) / rp);
    }
    print_message("fastmath: exp rel %.2e, Phi abs %.2e, lower tail rel %.2e, pdf rel %.2e\n", e_exp, e_cdf, e_tail, e_pdf);
    assert_true(e_exp < 2e-7);
    assert_true(e_cdf < 3e-7);
    assert_true(e_tail < 1e-6);
    assert_true(e_pdf < 5e-7);
    /* the special values: the clamps keep exp finite and positive, Phi in [0, 1] */
    assert_true(fm_exp(-1000.0f) > 0.0f && fm_exp(-1000.0f) < 1e-37f);
    assert_true(isfinite(fm_exp(1000.0f)));
    float pdf;
    assert_true(fm_normcdf_pdf(-40.0f, &pdf) == 0.0f || fm_normcdf_pdf(-40.0f, &pdf) < 1e-37f);
    assert_true(fm_normcdf_pdf(40.0f, &pdf) == 1.0f);
    assert_true(fabsf(fm_normcdf_pdf(0.0f, &pdf) - 0.5f) < 1e-7f);

    /* the backend's GELU forward and backward (odd length: the vector loops' tails) */
    const backend_ops *be = backend_get();
    int64_t n = 200003;
    float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n), *dy = malloc(sizeof(float) * n),
          *dx = malloc(sizeof(float) * n);
    for (int64_t i = 0; i < n; i++) {
        x[i] = -10.0f + 20.0f * (float)i / (float)(n - 1);
        dy[i] = 1.0f + 0.25f * (float)(i % 7);
        dx[i] = 0.5f; /* the backward accumulates */
    }
    be->gelu_fwd(x, y, n);
    be->gelu_bwd(x, dy, dx, n);
    double e_f = 0, e_b = 0;
    for (int64_t i = 0; i < n; i++) {
        double v = x[i], cdf = 0.5 * erfc(-v / sqrt(2.0)), d = cdf + v * exp(-0.5 * v * v) / sqrt(2.0 * M_PI);
        double s = fmax(1.0, fabs(v));
        e_f = fmax(e_f, fabs(y[i] - v * cdf) / s);
        e_b = fmax(e_b, fabs(dx[i] - (0.5 + dy[i] * d)) / (s * dy[i]));
    }
    print_message("GELU kernels: forward %.2e, backward %.2e (absolute, per max(1, |x|))\n", e_f, e_b);
    assert_true(e_f < 4e-7);
    assert_true(e_b < 4e-7);
    free(x);
    free(y);
    free(dy);
    free(dx);
}

/* ---- the backend's gemm (threads split the product by rows or K, each runs the AVX-512 kernel or OpenBLAS) and
 * the AVX-512 kernel alone, against plain loops in double ---------------------------------------------------- */
typedef void (*gemm_fn)(int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int);

/* one product with padded leading dimensions; beta 0 starts C as NaN (BLAS: C is then not read) */
static int gemm_case(gemm_fn fn, int M, int N, int K, int ta, int tb, float alpha, float beta, rng_t *rng) {
    int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 2;
    int64_t na = (int64_t)(ta ? K : M) * lda, nb = (int64_t)(tb ? N : K) * ldb, nc = (int64_t)M * ldc;
    float *A = malloc(sizeof(float) * na), *B = malloc(sizeof(float) * nb), *C = malloc(sizeof(float) * nc);
    double *ref = malloc(sizeof(double) * nc);
    for (int64_t i = 0; i < na; i++) A[i] = rng_normal(rng);
    for (int64_t i = 0; i < nb; i++) B[i] = rng_normal(rng);
    for (int64_t i = 0; i < nc; i++) C[i] = beta == 0.0f && i % ldc < N ? NAN : rng_normal(rng);
    double scale = 1e-30;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < ldc; j++) {
            int64_t o = (int64_t)i * ldc + j;
            if (j >= N) { /* the padding must stay untouched */
                ref[o] = C[o];
                continue;
            }
            double acc = 0;
            for (int k = 0; k < K; k++)
                acc += (double)(ta ? A[(int64_t)k * lda + i] : A[(int64_t)i * lda + k]) *
                       (tb ? B[(int64_t)j * ldb + k] : B[(int64_t)k * ldb + j]);
            ref[o] = alpha * acc + (beta == 0.0f ? 0.0 : beta * (double)C[o]);
            scale = fmax(scale, fabs(ref[o]));
        }
    fn(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    double err = 0;
    for (int64_t i = 0; i < nc; i++) err = isnan(C[i]) ? INFINITY : fmax(err, fabs(C[i] - ref[i]));
    int ok = err / scale <= 2e-6;
    if (!ok) print_error("gemm M %d N %d K %d ta %d tb %d beta %g: error %.3g of %.3g\n", M, N, K, ta, tb, beta, err, scale);
    free(A);
    free(B);
    free(C);
    free(ref);
    return ok;
}

static void test_gemm_split(void **state) {
    const backend_ops *be = backend_get();
    rng_t rng;
    rng_seed(&rng, 11);
    int threads = omp_get_max_threads(), ncase = 0;
    omp_set_num_threads(2); /* the split paths need more than one thread, whatever the machine */
    /* the backend's gemm, {M, N, K}: split by rows, split by K, too small to split, K large but C too big to keep
     * per thread; with each kernel this processor has */
    static const int shapes[][3] = {{517, 67, 129}, {33, 45, 3001}, {7, 5, 3}, {70, 9, 20011}};
    int had = backend_cpu_gemm_avx512(-1);
    for (int kern = 0; kern <= gemm_avx512_available(); kern++) {
        backend_cpu_gemm_avx512(kern);
        for (int si = 0; si < 4; si++)
            for (int t = 0; t < 4; t++, ncase++)
                assert_true(gemm_case(be->gemm, shapes[si][0], shapes[si][1], shapes[si][2], t & 1, t >> 1, 0.7f,
                                      t == 3 ? 0.0f : 0.3f, &rng));
    }
    backend_cpu_gemm_avx512(had);
    omp_set_num_threads(threads);
    /* the AVX-512 kernel alone: edge tiles (M, N not multiples of 12 and 32), K past one block (384) and N past
     * one panel block (2048), A read in place (N <= 512, untransposed) with and without edge tiles, beta 0, 1 and
     * other, a 1 x 1 x 1 product */
    if (gemm_avx512_available()) {
        static const int edge[][3] = {{13, 2050, 390}, {1, 1, 1}, {25, 33, 1}, {12, 32, 384}, {37, 95, 769}, {25, 64, 100}};
        static const float betas[] = {0.0f, 1.0f, -0.5f};
        for (int si = 0; si < 6; si++)
            for (int t = 0; t < 4; t++, ncase++)
                assert_true(gemm_case(gemm_avx512, edge[si][0], edge[si][1], edge[si][2], t & 1, t >> 1, si == 1 ? 1.0f : -1.3f,
                                      betas[(si + t) % 3], &rng));
    } else
        print_message("gemm: this processor has no AVX-512; the AVX-512 kernel is not tested here\n");
    print_message("gemm: %d cases against plain loops\n", ncase);
}

/* ---- the per-op profile: which op each forward and backward call is charged to, and the step count ---- */
static void test_profile_counts(void **state) {
    (void)state;
    rng_seed(&trng, 12);
    graph g;
    graph_init(&g, 1 << 20);
    tensor *x = LEAF(ACT_GRAD, 1, 6, 8), *w = LEAF(PARAM_TRAIN, 1, 4, 8), *b = LEAF(PARAM_FROZEN, 1, 4);
    tensor *w2 = LEAF(PARAM_TRAIN, 1, 4, 4);
    graph_profile_enable(&g);
    for (int step = 0; step < 3; step++) {
        graph_reset(&g);
        tensor *h = op_gelu(&g, op_linear(&g, x, w, b)); /* (6, 4) */
        tensor *y = op_linear(&g, h, w2, NULL);           /* (6, 4): a second linear, so 2 linear nodes a step */
        float *gy = tensor_grad(&g, y);
        for (int64_t i = 0; i < y->n; i++) gy[i] = 1.0f;
        graph_backward(&g);
    }
    graph_reset(&g); /* ends the third step */
    const graph_prof *p = g.prof;
    assert_int_equal(p->steps, 3);
    long lin_f = -1, lin_b = -1, gelu_f = -1, gelu_b = -1;
    for (int i = 0; i < p->n; i++) {
        if (!strcmp(p->e[i].name, "op_linear")) lin_f = p->e[i].fwd_calls, lin_b = p->e[i].bwd_calls;
        if (!strcmp(p->e[i].name, "op_gelu")) gelu_f = p->e[i].fwd_calls, gelu_b = p->e[i].bwd_calls;
        assert_true(p->e[i].fwd_s >= 0 && p->e[i].bwd_s >= 0);
    }
    assert_int_equal(lin_f, 6); /* two linears a step */
    assert_int_equal(lin_b, 6);
    assert_int_equal(gelu_f, 3);
    assert_int_equal(gelu_b, 3);
    char buf[4096];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    graph_profile_print(&g, f, 0);
    fclose(f);
    assert_non_null(strstr(buf, "op_linear"));
    assert_non_null(strstr(buf, "all ops"));
    graph_free(&g);
    pool_free();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_hand),
        cmocka_unit_test(test_fastmath),
        cmocka_unit_test(test_profile_counts),
        cmocka_unit_test(test_gemm_split),
        cmocka_unit_test(test_no_grad_no_tape),
        cmocka_unit_test(test_fd_linear),
        cmocka_unit_test(test_fd_linear_residual),
        cmocka_unit_test(test_fd_layernorm),
        cmocka_unit_test(test_fd_layernorm_mix),
        cmocka_unit_test(test_fd_elementwise),
        cmocka_unit_test(test_fd_layout),
        cmocka_unit_test(test_fd_conv2d),
        cmocka_unit_test(test_fd_dwconv),
        cmocka_unit_test(test_dwconv_kernels),
        cmocka_unit_test(test_fd_dwconv_mix),
        cmocka_unit_test(test_fd_attention),
        cmocka_unit_test(test_fd_lora_lorand),
        cmocka_unit_test(test_fd_loss_and_random),
        cmocka_unit_test(test_fd_swin_mona),
        cmocka_unit_test(test_fd_swin_lora),
        cmocka_unit_test(test_fd_swin_full_shifted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
