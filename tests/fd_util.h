/* fd_util.h - a finite-difference gradient checker for tests of new ops and heads (the same method as the
 * checker inside test_ops.c, with the forward given as a callback so any test file can use it).
 *
 * Leaves (inputs and parameters, allocated outside the graph with fd_leaf) feed a forward callback that
 * returns up to FD_MAXO output tensors; the loss is L = sum_k sum(y_k * R_k) with R fixed random. One forward
 * + backward gives the analytic gradients; then for each leaf that needs one:
 *   - directional: (L(x + h v) - L(x - h v)) / 2h against <grad, v> for random v, error relative to
 *     max(|<grad, v>|, ||grad||_2);
 *   - elementwise: central differences of single elements (all of a small leaf, elem_max sampled of a large
 *     one) against grad[i], relative to max|grad|.
 * Steps are relative to the leaf's rms (at least 1e-2). Defaults: h 1e-2, tolerance 1e-2. The graph's rng is
 * re-seeded before every forward, so dropout-like randomness is the same in every evaluation. Leaves that
 * need no gradient must end with none. Ops with kinks (ReLU, max pool, clamps) need inputs away from the kink
 * by more than h: choose them so (an element that misses is retried once at h/4, which a kink passes and a
 * wrong gradient does not). DB_FD_VERBOSE=1 prints each leaf's errors.
 *
 * Use:
 *     static int fwd(graph *g, fd_case *c, tensor **out) { out[0] = op_relu(g, c->leaf[0]); return 1; }
 *     fd_case c = fd_case_new("relu (3, 4)", fwd);
 *     fd_add(&c, fd_leaf(FD_ACT_GRAD, 1.0f, 2, (int[]){3, 4}));
 *     fd_run(&c);  ... fd_free_leaves();
 */
#ifndef DB_FD_UTIL_H
#define DB_FD_UTIL_H

#include "test_util.h"

#include "../core/ops.h"
#include "../core/tensor.h"

#define FD_MAXL 16
#define FD_MAXO 8

enum { FD_ACT_GRAD, FD_ACT_NOGRAD, FD_PARAM_TRAIN, FD_PARAM_FROZEN };

typedef struct fd_case fd_case;
typedef int (*fd_forward_fn)(graph *g, fd_case *c, tensor **out);
struct fd_case {
    const char *name;
    fd_forward_fn fwd;
    void *user; /* the test's settings for fwd */
    int nl;
    tensor *leaf[FD_MAXL];
    int training;
    uint64_t seed;
    float h, tol, h_elem;
    int elem_max, ndir;
    double dir_err, elem_err; /* results */
};

static void *fd_pool_[512];
static int fd_npool_;
static rng_t fd_rng; /* the tests' randomness: seed it per test */

static inline void *fd_pool_add(void *p) {
    assert_true(fd_npool_ < 512);
    return fd_pool_[fd_npool_++] = p;
}
static inline void fd_free_leaves(void) {
    while (fd_npool_) free(fd_pool_[--fd_npool_]);
}

/* A leaf of the given kind, values offset + scale * N(0, 1). */
static inline tensor *fd_leaf(int kind, float scale, int ndim, const int *shape) {
    tensor *t = fd_pool_add(calloc(1, sizeof *t));
    tensor_set_shape(t, ndim, shape);
    t->data = fd_pool_add(malloc(sizeof(float) * (t->n ? t->n : 1)));
    for (int64_t i = 0; i < t->n; i++) t->data[i] = scale * rng_normal(&fd_rng);
    t->requires_grad = kind == FD_ACT_GRAD || kind == FD_PARAM_TRAIN;
    t->is_param = kind == FD_PARAM_TRAIN || kind == FD_PARAM_FROZEN;
    if (kind == FD_PARAM_TRAIN) t->grad = fd_pool_add(calloc(t->n ? t->n : 1, sizeof(float)));
    return t;
}
#define FD_LEAF(kind, scale, ...) \
    fd_leaf(kind, scale, (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)), (int[]){__VA_ARGS__})

static inline fd_case fd_case_new(const char *name, fd_forward_fn fwd) {
    fd_case c;
    memset(&c, 0, sizeof c);
    c.name = name;
    c.fwd = fwd;
    c.h = 1e-2f;
    c.tol = 1e-2f;
    c.elem_max = 48;
    c.ndir = 3;
    c.seed = 77;
    return c;
}
static inline void fd_add(fd_case *c, tensor *t) {
    assert_true(c->nl < FD_MAXL);
    c->leaf[c->nl++] = t;
}

static inline double fd_eval_(fd_case *c, graph *g, float **R, int backward) {
    graph_reset(g);
    rng_seed(&g->rng, c->seed);
    g->training = c->training;
    for (int i = 0; i < c->nl; i++) {
        tensor *t = c->leaf[i];
        if (!t) continue;
        if (!t->is_param) t->grad = NULL;
        else if (t->grad) memset(t->grad, 0, sizeof(float) * t->n);
    }
    tensor *out[FD_MAXO] = {0};
    int no = c->fwd(g, c, out);
    assert_true(no >= 1 && no <= FD_MAXO);
    double L = 0;
    for (int k = 0; k < no; k++) {
        if (!out[k]) continue;
        if (!R[k]) {
            R[k] = fd_pool_add(malloc(sizeof(float) * (out[k]->n ? out[k]->n : 1)));
            for (int64_t i = 0; i < out[k]->n; i++) R[k][i] = rng_normal(&fd_rng);
        }
        if (out[k]->requires_grad || !backward) L += loss_dot_seed(g, out[k], R[k]);
    }
    if (backward) graph_backward(g);
    return L;
}

static inline double fd_at_(fd_case *c, graph *g, float **R, float *x, int64_t n, const float *v, int64_t one, double h) {
    float *save = malloc(sizeof(float) * n);
    memcpy(save, x, sizeof(float) * n);
    if (v)
        for (int64_t i = 0; i < n; i++) x[i] = (float)(save[i] + h * v[i]);
    else
        x[one] = (float)(save[one] + h);
    double L = fd_eval_(c, g, R, 0);
    memcpy(x, save, sizeof(float) * n);
    free(save);
    return L;
}

/* Run the checks (cmocka failure on any error above c->tol); the worst errors land in c->dir_err, c->elem_err. */
static inline void fd_run(fd_case *c) {
    graph g;
    graph_init(&g, 1 << 20);
    float *R[FD_MAXO] = {0};
    fd_eval_(c, &g, R, 1);
    float *an[FD_MAXL] = {0};
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
        double gmax = 0, gn = 0, rms = 0;
        for (int64_t j = 0; j < n; j++) {
            gn += (double)an[i][j] * an[i][j];
            if (fabs(an[i][j]) > gmax) gmax = fabs(an[i][j]);
            rms += (double)t->data[j] * t->data[j];
        }
        gn = sqrt(gn);
        rms = sqrt(rms / n);
        double h = c->h * (rms > 1e-2 ? rms : 1e-2);
        double he = (c->h_elem > 0 ? c->h_elem : c->h) * (rms > 1e-2 ? rms : 1e-2);
        double leaf_dir = 0, leaf_elem = 0;
        float *v = malloc(sizeof(float) * n);
        for (int d = 0; d < c->ndir; d++) {
            double dot = 0;
            for (int64_t j = 0; j < n; j++) {
                v[j] = rng_normal(&fd_rng);
                dot += (double)an[i][j] * v[j];
            }
            double lp = fd_at_(c, &g, R, t->data, n, v, 0, h), lm = fd_at_(c, &g, R, t->data, n, v, 0, -h);
            double fd = (lp - lm) / (2.0 * h), den = fmax(fabs(dot), gn);
            double err = den > 0 ? fabs(fd - dot) / den : fabs(fd);
            if (err > leaf_dir) leaf_dir = err;
            if (!(err <= c->tol))
                fail_msg("%s: leaf %d direction %d: finite difference %.8g, analytic %.8g (|grad| %.3g): rel err %.3g > %.3g",
                         c->name, i, d, fd, dot, gn, err, c->tol);
        }
        free(v);
        int64_t m = n <= c->elem_max ? n : c->elem_max;
        for (int64_t e = 0; e < m; e++) {
            int64_t j = n <= c->elem_max ? e : (int64_t)rng_below(&fd_rng, (uint32_t)n);
            double lp = fd_at_(c, &g, R, t->data, n, NULL, j, he), lm = fd_at_(c, &g, R, t->data, n, NULL, j, -he);
            double fd = (lp - lm) / (2.0 * he);
            double err = gmax > 0 ? fabs(fd - an[i][j]) / gmax : fabs(fd);
            /* A ReLU or max/min kink within he of the point bends the central difference; a wrong gradient does
             * not go away with a smaller step, a kink does: retry once at he/4 (float32 noise allows no smaller). */
            if (!(err <= c->tol)) {
                double hk = he / 4.0;
                double fk = (fd_at_(c, &g, R, t->data, n, NULL, j, hk) - fd_at_(c, &g, R, t->data, n, NULL, j, -hk)) / (2.0 * hk);
                double ek = gmax > 0 ? fabs(fk - an[i][j]) / gmax : fabs(fk);
                if (ek < err) err = ek, fd = fk;
            }
            if (err > leaf_elem) leaf_elem = err;
            if (!(err <= c->tol))
                fail_msg("%s: leaf %d element %lld: finite difference %.8g, analytic %.8g (max|grad| %.3g): rel err %.3g > %.3g",
                         c->name, i, (long long)j, fd, an[i][j], gmax, err, c->tol);
        }
        free(an[i]);
        if (getenv("DB_FD_VERBOSE"))
            print_message("   leaf %d (n %lld, rms %.3g, h %.3g / %.3g): directional %.2e elementwise %.2e\n", i, (long long)n,
                          rms, h, he, leaf_dir, leaf_elem);
        worst_dir = fmax(worst_dir, leaf_dir);
        worst_elem = fmax(worst_elem, leaf_elem);
    }
    print_message("fd %-50s directional %.2e  elementwise %.2e\n", c->name, worst_dir, worst_elem);
    c->dir_err = worst_dir;
    c->elem_err = worst_elem;
    graph_free(&g);
}

#endif
