/* test_ops_nn.c - the dense-head ops of core/ops_nn.h: finite differences for every op and configuration
 * (strides, padding, dilation, groups, odd sizes, resize up and down, ceil mode, training and evaluation
 * norms), the fast conv path against the direct-loop reference, hand-computed cases, and every golden of
 * ../shared/golden/heads for these ops through golden_check (the golden_op_run dispatcher). */
#include "fd_util.h"

#include "../conformance/golden.h"
#include "../core/ops_nn.h"

/* ------------------------------------------------------------------------------------------------ */
/* conv2d_ex                                                                                         */
typedef struct {
    const char *name;
    int B, Cin, H, W, Cout, kh, kw, sh, sw, ph, pw, dh, dw, G, bias;
} conv_cfg;

static const conv_cfg conv_cfgs[] = {
    {"3x3 s1 p1 odd map", 2, 3, 7, 9, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {"1x1 s1 (gemm on x)", 2, 4, 6, 5, 6, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1},
    {"1x1 s1 groups 2 no bias", 2, 4, 5, 5, 8, 1, 1, 1, 1, 0, 0, 1, 1, 2, 0},
    {"1x1 s2", 1, 4, 7, 8, 3, 1, 1, 2, 2, 0, 0, 1, 1, 1, 0},
    {"3x3 s2 p1 odd map", 2, 3, 9, 7, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1},
    {"3x3 dilation 2 pad 2", 1, 2, 9, 10, 3, 3, 3, 1, 1, 2, 2, 2, 2, 1, 1},
    {"3x3 groups 2", 2, 4, 7, 7, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2, 1},
    {"3x3 depthwise", 1, 4, 6, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1, 4, 1},
    {"3x2 stride (2,1) pad (1,0) dil (1,2)", 1, 3, 8, 7, 2, 3, 2, 2, 1, 1, 0, 1, 2, 1, 1},
    {"5x5 s3 p2 (stride > 1 leaves rows out)", 1, 2, 11, 10, 3, 5, 5, 3, 3, 2, 2, 1, 1, 1, 1},
};

static int fwd_conv(graph *g, fd_case *c, tensor **out) {
    const conv_cfg *q = c->user;
    out[0] = op_conv2d_ex(g, c->leaf[0], c->leaf[1], c->leaf[2], q->sh, q->sw, q->ph, q->pw, q->dh, q->dw, q->G);
    return 1;
}
static int fwd_conv_ref(graph *g, fd_case *c, tensor **out) {
    const conv_cfg *q = c->user;
    out[0] = op_conv2d_ref(g, c->leaf[0], c->leaf[1], c->leaf[2], q->sh, q->sw, q->ph, q->pw, q->dh, q->dw, q->G);
    return 1;
}

static void test_conv2d_ex_fd(void **state) {
    (void)state;
    rng_seed(&fd_rng, 11);
    for (size_t i = 0; i < sizeof conv_cfgs / sizeof conv_cfgs[0]; i++) {
        const conv_cfg *q = &conv_cfgs[i];
        for (int ref = 0; ref < 2; ref++) {
            char name[128];
            snprintf(name, sizeof name, "conv2d_%s %s", ref ? "ref" : "ex", q->name);
            fd_case c = fd_case_new(name, ref ? fwd_conv_ref : fwd_conv);
            c.user = (void *)q;
            fd_add(&c, FD_LEAF(FD_ACT_GRAD, 1.0f, q->B, q->Cin, q->H, q->W));
            fd_add(&c, FD_LEAF(FD_PARAM_TRAIN, 0.5f, q->Cout, q->Cin / q->G, q->kh, q->kw));
            c.leaf[c.nl++] = q->bias ? FD_LEAF(FD_PARAM_TRAIN, 0.5f, q->Cout) : NULL;
            fd_run(&c);
        }
    }
    fd_free_leaves();
}

/* ------------------------------------------------------------------------------------------------ */
/* conv over packed planes (a head's levels and images side by side)                                */
typedef struct {
    int L, k, dil, C, Cout, bias;
    int H[3], W[3];
} planes_cfg;

/* leaf 0..L-1 the levels, then w, b: pack, conv, unpack every level */
static int fwd_planes(graph *g, fd_case *c, tensor **out) {
    const planes_cfg *q = c->user;
    planes p;
    planes_make(&p, c->leaf, q->L);
    tensor *x = op_planes_pack(g, c->leaf, &p);
    tensor *y = op_conv2d_planes(g, x, &p, c->leaf[q->L], c->leaf[q->L + 1], q->dil);
    for (int l = 0; l < q->L; l++) out[l] = op_planes_unpack(g, y, &p, l);
    return q->L;
}
/* the same through op_conv2d_ex level by level */
static int fwd_planes_ex(graph *g, fd_case *c, tensor **out) {
    const planes_cfg *q = c->user;
    int pad = q->dil * (q->k - 1) / 2;
    for (int l = 0; l < q->L; l++) out[l] = op_conv2d_ex(g, c->leaf[l], c->leaf[q->L], c->leaf[q->L + 1], 1, 1, pad, pad, q->dil, q->dil, 1);
    return q->L;
}

static const planes_cfg planes_cfgs[] = {
    {3, 3, 1, 3, 4, 1, {7, 4, 1}, {9, 5, 2}},  /* a level of one row and two columns: every tap but the centre is padding */
    {2, 1, 1, 4, 3, 1, {5, 3, 0}, {6, 2, 0}},  /* 1x1: the gemm on the packed input itself */
    {3, 3, 2, 2, 3, 0, {8, 3, 2}, {6, 4, 1}},  /* dilation 2, no bias, a level narrower than the dilation */
    {2, 5, 1, 2, 2, 1, {6, 2, 0}, {7, 9, 0}},  /* 5x5 */
};

static void test_conv2d_planes_fd(void **state) {
    (void)state;
    rng_seed(&fd_rng, 19);
    for (size_t i = 0; i < sizeof planes_cfgs / sizeof planes_cfgs[0]; i++) {
        const planes_cfg *q = &planes_cfgs[i];
        for (int chunk = 0; chunk < 2; chunk++) { /* one chunk; a chunk per plane (the smallest bound) */
            int64_t old = planes_chunk_floats(chunk ? 1 : 0);
            char name[96];
            snprintf(name, sizeof name, "conv2d_planes %d levels k %d dil %d%s", q->L, q->k, q->dil, chunk ? ", a chunk per plane" : "");
            fd_case c = fd_case_new(name, fwd_planes);
            c.user = (void *)q;
            for (int l = 0; l < q->L; l++) fd_add(&c, FD_LEAF(FD_ACT_GRAD, 1.0f, 2, q->C, q->H[l], q->W[l]));
            fd_add(&c, FD_LEAF(FD_PARAM_TRAIN, 0.5f, q->Cout, q->C, q->k, q->k));
            c.leaf[c.nl++] = q->bias ? FD_LEAF(FD_PARAM_TRAIN, 0.5f, q->Cout) : NULL;
            fd_run(&c);
            planes_chunk_floats(old);
        }
    }
    fd_free_leaves();
}

/* forward and backward against op_conv2d_ex on each level, at sizes with several gemm blocks and both threads,
 * in one chunk and in chunks of a few planes; a frozen weight gets no gradient */
static void test_conv2d_planes_vs_ex(void **state) {
    (void)state;
    rng_seed(&fd_rng, 23);
    const planes_cfg cs[] = {{3, 3, 1, 40, 36, 1, {20, 10, 5}, {16, 8, 4}}, {2, 1, 1, 24, 30, 1, {12, 6, 0}, {10, 5, 0}},
                             {3, 3, 2, 16, 20, 0, {13, 7, 2}, {11, 6, 3}}};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
        for (int mode = 0; mode < 3; mode++) { /* 0: one chunk, 1: small chunks, 2: frozen weight */
            const planes_cfg *q = &cs[i];
            int B = 3;
            tensor *leaf[FD_MAXL] = {0};
            for (int l = 0; l < q->L; l++) leaf[l] = FD_LEAF(FD_ACT_GRAD, 1.0f, B, q->C, q->H[l], q->W[l]);
            leaf[q->L] = FD_LEAF(mode == 2 ? FD_PARAM_FROZEN : FD_PARAM_TRAIN, 0.2f, q->Cout, q->C, q->k, q->k);
            leaf[q->L + 1] = q->bias ? FD_LEAF(FD_PARAM_TRAIN, 0.5f, q->Cout) : NULL;
            int64_t old = planes_chunk_floats(mode == 1 ? (int64_t)q->C * q->k * q->k * 300 : 0);
            fd_case c = fd_case_new("planes vs ex", NULL);
            c.user = (void *)q;
            for (int j = 0; j < q->L + 2; j++) c.leaf[c.nl++] = leaf[j];
            float *R[FD_MAXO] = {0}, *y[2][3], *dx[2][3], *dw[2] = {0}, *db[2] = {0};
            for (int e = 0; e < 2; e++) {
                graph g;
                graph_init(&g, 1 << 20);
                c.fwd = e ? fwd_planes_ex : fwd_planes;
                for (int l = 0; l < q->L; l++) leaf[l]->grad = NULL;
                if (mode != 2) memset(leaf[q->L]->grad, 0, sizeof(float) * leaf[q->L]->n);
                if (q->bias) memset(leaf[q->L + 1]->grad, 0, sizeof(float) * leaf[q->L + 1]->n);
                tensor *out[FD_MAXO] = {0};
                int no = c.fwd(&g, &c, out);
                assert_int_equal(no, q->L);
                for (int l = 0; l < q->L; l++) {
                    if (!R[l]) {
                        R[l] = fd_pool_add(malloc(sizeof(float) * out[l]->n));
                        for (int64_t j = 0; j < out[l]->n; j++) R[l][j] = rng_normal(&fd_rng);
                    }
                    loss_dot_seed(&g, out[l], R[l]);
                }
                graph_backward(&g);
                for (int l = 0; l < q->L; l++) {
                    y[e][l] = fd_pool_add(malloc(sizeof(float) * out[l]->n));
                    memcpy(y[e][l], out[l]->data, sizeof(float) * out[l]->n);
                    dx[e][l] = fd_pool_add(malloc(sizeof(float) * leaf[l]->n));
                    memcpy(dx[e][l], leaf[l]->grad, sizeof(float) * leaf[l]->n);
                    assert_int_equal(out[l]->n, (int64_t)B * q->Cout * q->H[l] * q->W[l]);
                }
                if (mode != 2) dw[e] = fd_pool_add(malloc(sizeof(float) * leaf[q->L]->n)), memcpy(dw[e], leaf[q->L]->grad, sizeof(float) * leaf[q->L]->n);
                if (q->bias) db[e] = fd_pool_add(malloc(sizeof(float) * q->Cout)), memcpy(db[e], leaf[q->L + 1]->grad, sizeof(float) * q->Cout);
                for (int l = 0; l < q->L; l++) leaf[l]->grad = NULL;
                graph_free(&g);
            }
            planes_chunk_floats(old);
            double ey = 0, ex = 0;
            for (int l = 0; l < q->L; l++) {
                int64_t ny = (int64_t)B * q->Cout * q->H[l] * q->W[l];
                ey = fmax(ey, test_rel_err(y[0][l], y[1][l], ny));
                ex = fmax(ex, test_rel_err(dx[0][l], dx[1][l], leaf[l]->n));
                double nx = 0;
                for (int64_t j = 0; j < leaf[l]->n; j++) nx += fabs(dx[0][l][j]);
                assert_true(nx > 0); /* the gradient reached every level */
            }
            double ew = dw[0] ? test_rel_err(dw[0], dw[1], leaf[q->L]->n) : 0, eb = db[0] ? test_rel_err(db[0], db[1], q->Cout) : 0;
            print_message("conv2d_planes vs ex: %d levels k %d dil %d mode %d  y %.2e dx %.2e dw %.2e db %.2e\n", q->L, q->k, q->dil, mode, ey, ex, ew, eb);
            assert_true(ey < 1e-5 && ex < 1e-5 && ew < 1e-5 && eb < 1e-5);
            if (mode == 2) assert_null(dw[0]);
        }
    fd_free_leaves();
}

/* a frozen weight gets no gradient, an input that needs none gets none, the bias still does */
static void test_conv2d_ex_frozen(void **state) {
    (void)state;
    rng_seed(&fd_rng, 12);
    for (int k = 0; k < 2; k++) {
        const conv_cfg *q = &conv_cfgs[k]; /* im2col path and 1x1 path */
        fd_case c = fd_case_new(k ? "conv2d_ex 1x1 frozen w, x without grad" : "conv2d_ex 3x3 frozen w, x without grad", fwd_conv);
        c.user = (void *)q;
        fd_add(&c, FD_LEAF(FD_ACT_NOGRAD, 1.0f, q->B, q->Cin, q->H, q->W));
        fd_add(&c, FD_LEAF(FD_PARAM_FROZEN, 0.5f, q->Cout, q->Cin / q->G, q->kh, q->kw));
        fd_add(&c, FD_LEAF(FD_PARAM_TRAIN, 0.5f, q->Cout));
        fd_run(&c);
        /* frozen weight, trainable input */
        fd_case d = fd_case_new("conv2d_ex frozen w and no bias, x with grad", fwd_conv);
        d.user = (void *)q;
        fd_add(&d, FD_LEAF(FD_ACT_GRAD, 1.0f, q->B, q->Cin, q->H, q->W));
        fd_add(&d, FD_LEAF(FD_PARAM_FROZEN, 0.5f, q->Cout, q->Cin / q->G, q->kh, q->kw));
        d.leaf[d.nl++] = NULL;
        fd_run(&d);
    }
    fd_free_leaves();
}

/* run a conv (fast or reference) forward and backward with loss sum(y * R); copies y, dx, dw, db out */
static void conv_run(int ref, const conv_cfg *q, tensor *x, tensor *w, tensor *b, const float *R, float **y, float **dx,
                     float **dw, float **db, int64_t *ny) {
    graph g;
    graph_init(&g, 1 << 20);
    x->grad = NULL;
    memset(w->grad, 0, sizeof(float) * w->n);
    if (b) memset(b->grad, 0, sizeof(float) * b->n);
    tensor *t = (ref ? op_conv2d_ref : op_conv2d_ex)(&g, x, w, b, q->sh, q->sw, q->ph, q->pw, q->dh, q->dw, q->G);
    *ny = t->n;
    loss_dot_seed(&g, t, R);
    graph_backward(&g);
    *y = malloc(sizeof(float) * t->n);
    memcpy(*y, t->data, sizeof(float) * t->n);
    *dx = malloc(sizeof(float) * x->n);
    memcpy(*dx, x->grad, sizeof(float) * x->n);
    *dw = malloc(sizeof(float) * w->n);
    memcpy(*dw, w->grad, sizeof(float) * w->n);
    *db = NULL;
    if (b) {
        *db = malloc(sizeof(float) * b->n);
        memcpy(*db, b->grad, sizeof(float) * b->n);
    }
    x->grad = NULL;
    graph_free(&g);
}

/* the im2col + gemm path (and its 1x1 shortcut) against the direct loops, on maps and channel counts larger
 * than the finite-difference cases (several gemm blocks, both threads) */
static void test_conv2d_ex_vs_ref(void **state) {
    (void)state;
    rng_seed(&fd_rng, 13);
    for (size_t i = 0; i < sizeof conv_cfgs / sizeof conv_cfgs[0]; i++) {
        conv_cfg q = conv_cfgs[i];
        q.Cin *= 8;
        q.Cout *= 6;
        q.H += 14;
        q.W += 17;
        tensor *x = FD_LEAF(FD_ACT_GRAD, 1.0f, q.B, q.Cin, q.H, q.W);
        tensor *w = FD_LEAF(FD_PARAM_TRAIN, 0.2f, q.Cout, q.Cin / q.G, q.kh, q.kw);
        tensor *b = q.bias ? FD_LEAF(FD_PARAM_TRAIN, 0.5f, q.Cout) : NULL;
        int Ho = (q.H + 2 * q.ph - q.dh * (q.kh - 1) - 1) / q.sh + 1, Wo = (q.W + 2 * q.pw - q.dw * (q.kw - 1) - 1) / q.sw + 1;
        int64_t ny = (int64_t)q.B * q.Cout * Ho * Wo, n2;
        float *R = fd_pool_add(malloc(sizeof(float) * ny));
        for (int64_t j = 0; j < ny; j++) R[j] = rng_normal(&fd_rng);
        float *y[2], *dx[2], *dw[2], *db[2];
        for (int ref = 0; ref < 2; ref++) {
            conv_run(ref, &q, x, w, b, R, &y[ref], &dx[ref], &dw[ref], &db[ref], &n2);
            assert_int_equal(n2, ny);
        }
        double ey = test_rel_err(y[0], y[1], ny), ex = test_rel_err(dx[0], dx[1], x->n), ew = test_rel_err(dw[0], dw[1], w->n);
        double eb = b ? test_rel_err(db[0], db[1], b->n) : 0;
        print_message("conv2d_ex vs ref %-40s y %.2e dx %.2e dw %.2e db %.2e\n", q.name, ey, ex, ew, eb);
        assert_true(ey < 1e-5 && ex < 1e-5 && ew < 1e-5 && eb < 1e-5);
        for (int ref = 0; ref < 2; ref++) {
            free(y[ref]);
            free(dx[ref]);
            free(dw[ref]);
            free(db[ref]);
        }
    }
    fd_free_leaves();
}

/* many small maps (RoI features: the side-by-side columns path, several images per gemm, a last chunk shorter than
 * the others) against the direct loops: 3x3 pad 1 on 7x7, 1x1, 3x3 stride 2 on 14x14 */
static void test_conv2d_ex_many_small(void **state) {
    (void)state;
    rng_seed(&fd_rng, 17);
    const conv_cfg cs[] = {{"7x7 maps 3x3 p1, 203 images", 203, 12, 7, 7, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
                           {"7x7 maps 1x1, 150 images", 150, 9, 7, 7, 5, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0},
                           {"14x14 maps 3x3 s2, 40 images", 40, 6, 14, 14, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1}};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        const conv_cfg *q = &cs[i];
        tensor *x = FD_LEAF(FD_ACT_GRAD, 1.0f, q->B, q->Cin, q->H, q->W);
        tensor *w = FD_LEAF(FD_PARAM_TRAIN, 0.2f, q->Cout, q->Cin / q->G, q->kh, q->kw);
        tensor *b = q->bias ? FD_LEAF(FD_PARAM_TRAIN, 0.5f, q->Cout) : NULL;
        int Ho = (q->H + 2 * q->ph - q->dh * (q->kh - 1) - 1) / q->sh + 1, Wo = (q->W + 2 * q->pw - q->dw * (q->kw - 1) - 1) / q->sw + 1;
        int64_t ny = (int64_t)q->B * q->Cout * Ho * Wo, n2;
        float *R = fd_pool_add(malloc(sizeof(float) * ny));
        for (int64_t j = 0; j < ny; j++) R[j] = rng_normal(&fd_rng);
        float *y[2], *dx[2], *dw[2], *db[2];
        for (int ref = 0; ref < 2; ref++) {
            conv_run(ref, q, x, w, b, R, &y[ref], &dx[ref], &dw[ref], &db[ref], &n2);
            assert_int_equal(n2, ny);
        }
        double ey = test_rel_err(y[0], y[1], ny), ex = test_rel_err(dx[0], dx[1], x->n), ew = test_rel_err(dw[0], dw[1], w->n);
        double eb = b ? test_rel_err(db[0], db[1], b->n) : 0;
        print_message("conv2d_ex vs ref %-40s y %.2e dx %.2e dw %.2e db %.2e\n", q->name, ey, ex, ew, eb);
        assert_true(ey < 1e-5 && ex < 1e-5 && ew < 1e-5 && eb < 1e-5);
        for (int ref = 0; ref < 2; ref++) free(y[ref]), free(dx[ref]), free(dw[ref]), free(db[ref]);
    }
    fd_free_leaves();
}

/* where op_conv2d (ops.h) applies (square stride and padding, no dilation) both give the same values */
static void test_conv2d_ex_vs_op_conv2d(void **state) {
    (void)state;
    rng_seed(&fd_rng, 14);
    for (size_t i = 0; i < sizeof conv_cfgs / sizeof conv_cfgs[0]; i++) {
        const conv_cfg *q = &conv_cfgs[i];
        if (q->sh != q->sw || q->ph != q->pw || q->dh != 1 || q->dw != 1) continue;
        tensor *x = FD_LEAF(FD_ACT_NOGRAD, 1.0f, q->B, q->Cin, q->H, q->W);
        tensor *w = FD_LEAF(FD_PARAM_FROZEN, 0.5f, q->Cout, q->Cin / q->G, q->kh, q->kw);
        tensor *b = q->bias ? FD_LEAF(FD_PARAM_FROZEN, 0.5f, q->Cout) : NULL;
        graph g;
        graph_init(&g, 1 << 20);
        tensor *y1 = op_conv2d_ex(&g, x, w, b, q->sh, q->sw, q->ph, q->pw, 1, 1, q->G);
        tensor *y2 = op_conv2d(&g, x, w, b, q->sh, q->ph, q->G);
        assert_int_equal(y1->n, y2->n);
        assert_true(test_rel_err(y1->data, y2->data, y1->n) < 1e-6);
        graph_free(&g);
    }
    fd_free_leaves();
}

/* a hand case: 1x1 image 3x3, kernel of ones with dilation 2 and pad 2 sums the corners of the window */
static void test_conv2d_ex_hand(void **state) {
    (void)state;
    graph g;
    graph_init(&g, 1 << 20);
    tensor *x = tensor_new4(&g, 1, 1, 3, 3, 0), *w = tensor_new4(&g, 1, 1, 3, 3, 0);
    for (int i = 0; i < 9; i++) x->data[i] = (float)(i + 1), w->data[i] = 1.0f;
    /* dilation 2, pad 2: output (3 + 4 - 4 - 1) + 1 = 3; y[r][c] = sum of x[r-2+2i][c-2+2j] inside */
    tensor *y = op_conv2d_ex(&g, x, w, NULL, 1, 1, 2, 2, 2, 2, 1);
    assert_int_equal(y->shape[2], 3);
    assert_int_equal(y->shape[3], 3);
    /* taps at rows {r-2, r, r+2} x cols {c-2, c, c+2} inside the map: corners 1+3+7+9, edges 2+8 or 4+6, centre 5 */
    const float want_c[9] = {20, 10, 20, 10, 5, 10, 20, 10, 20};
    for (int i = 0; i < 9; i++) assert_float_equal(y->data[i], want_c[i], 1e-6);
    /* stride (2, 1) and no padding on a 1x1 kernel of 2: every other row, doubled */
    tensor_set_shape(w, 4, (int[]){1, 1, 1, 1});
    w->data[0] = 2;
    tensor *y2 = op_conv2d_ex(&g, x, w, NULL, 2, 1, 0, 0, 1, 1, 1);
    assert_int_equal(y2->shape[2], 2);
    assert_int_equal(y2->shape[3], 3);
    const float want2[6] = {2, 4, 6, 14, 16, 18};
    for (int i = 0; i < 6; i++) assert_float_equal(y2->data[i], want2[i], 1e-6);
    graph_free(&g);
}

/* ------------------------------------------------------------------------------------------------ */
/* ReLU                                                                                              */
/* values away from the kink at 0 by more than the finite-difference step */
static void away_from_zero(tensor *t, float margin) {
    for (int64_t i = 0; i < t->n; i++) t->data[i] = t->data[i] >= 0 ? t->data[i] + margin : t->data[i] - margin;
}

static int fwd_relu(graph *g, fd_case *c, tensor **out) {
    out[0] = op_relu(g, c->leaf[0]);
    return 1;
}
/* conv -> in-place ReLU -> conv: the in-place ReLU overwrites the first conv's output */
static int fwd_conv_relu_inplace(graph *g, fd_case *c, tensor **out) {
    tensor *h = op_conv2d_ex(g, c->leaf[0], c->leaf[1], c->leaf[2], 1, 1, 1, 1, 1, 1, 1);
    tensor *r = op_relu_inplace(g, h);
    assert_ptr_equal(r->data, h->data);
    out[0] = op_conv2d_ex(g, r, c->leaf[3], NULL, 1, 1, 0, 0, 1, 1, 1);
    return 1;
}
static int fwd_conv_relu(graph *g, fd_case *c, tensor **out) {
    tensor *h = op_conv2d_ex(g, c->leaf[0], c->leaf[1], c->leaf[2], 1, 1, 1, 1, 1, 1, 1);
    out[0] = op_conv2d_ex(g, op_relu(g, h), c->leaf[3], NULL, 1, 1, 0, 0, 1, 1, 1);
    return 1;
}

static void test_relu(void **state) {
    (void)state;
    rng_seed(&fd_rng, 21);
    fd_case c = fd_case_new("relu (2, 3, 5, 7)", fwd_relu);
    tensor *x = FD_LEAF(FD_ACT_GRAD, 1.0f, 2, 3, 5, 7);
    away_from_zero(x, 0.2f);
    fd_add(&c, x);
    fd_run(&c);
    fd_case d = fd_case_new("relu (17) of a parameter", fwd_relu);
    tensor *p = FD_LEAF(FD_PARAM_TRAIN, 1.0f, 17);
    away_from_zero(p, 0.2f);
    fd_add(&d, p);
    fd_run(&d);
    /* hand values; gradient 0 at exactly 0 */
    graph g;
    graph_init(&g, 1 << 20);
    tensor *h = tensor_new4(&g, 1, 1, 1, 4, 1);
    const float v[4] = {-1.5f, 0.0f, 2.0f, 1e-30f};
    memcpy(h->data, v, sizeof v);
    tensor *y = op_relu(&g, h);
    const float R[4] = {1, 1, 1, 1};
    loss_dot_seed(&g, y, R);
    graph_backward(&g);
    const float wy[4] = {0, 0, 2, 1e-30f}, wg[4] = {0, 0, 1, 1};
    for (int i = 0; i < 4; i++) {
        assert_float_equal(y->data[i], wy[i], 0);
        assert_float_equal(h->grad[i], wg[i], 0);
    }
    /* in place on a parameter falls back to a copy */
    tensor *q = op_relu_inplace(&g, p);
    assert_true(q->data != p->data);
    graph_free(&g);
    fd_free_leaves();
}

/* the in-place ReLU inside a network: the same values and gradients as the copying one, and finite differences */
static void test_relu_inplace(void **state) {
    (void)state;
    rng_seed(&fd_rng, 22);
    tensor *x = FD_LEAF(FD_ACT_GRAD, 1.0f, 2, 3, 6, 5), *w1 = FD_LEAF(FD_PARAM_TRAIN, 0.3f, 4, 3, 3, 3),
           *b1 = FD_LEAF(FD_PARAM_TRAIN, 0.3f, 4), *w2 = FD_LEAF(FD_PARAM_TRAIN, 0.5f, 3, 4, 1, 1);
    fd_case c = fd_case_new("conv -> relu_inplace -> conv 1x1", fwd_conv_relu_inplace);
    fd_add(&c, x);
    fd_add(&c, w1);
    fd_add(&c, b1);
    fd_add(&c, w2);
    c.h = 1e-3f; /* the hidden map has values near the kink */
    fd_run(&c);
    /* against op_relu */
    float *out[2], *gx[2], *gw[2];
    for (int k = 0; k < 2; k++) {
        graph g;
        graph_init(&g, 1 << 20);
        fd_case t = c;
        t.fwd = k ? fwd_conv_relu : fwd_conv_relu_inplace;
        x->grad = NULL;
        memset(w1->grad, 0, sizeof(float) * w1->n);
        tensor *o[1];
        t.fwd(&g, &t, o);
        float *R = malloc(sizeof(float) * o[0]->n);
        for (int64_t i = 0; i < o[0]->n; i++) R[i] = (float)((i * 7) % 5) - 2.0f;
        loss_dot_seed(&g, o[0], R);
        graph_backward(&g);
        out[k] = malloc(sizeof(float) * o[0]->n);
        memcpy(out[k], o[0]->data, sizeof(float) * o[0]->n);
        gx[k] = malloc(sizeof(float) * x->n);
        memcpy(gx[k], x->grad, sizeof(float) * x->n);
        gw[k] = malloc(sizeof(float) * w1->n);
        memcpy(gw[k], w1->grad, sizeof(float) * w1->n);
        x->grad = NULL;
        free(R);
        graph_free(&g);
    }
    assert_memory_equal(out[0], out[1], sizeof(float) * 2 * 3 * 6 * 5);
    assert_memory_equal(gx[0], gx[1], sizeof(float) * x->n);
    assert_memory_equal(gw[0], gw[1], sizeof(float) * w1->n);
    for (int k = 0; k < 2; k++) free(out[k]), free(gx[k]), free(gw[k]);
    fd_free_leaves();
}

/* ------------------------------------------------------------------------------------------------ */
/* interpolate                                                                                       */
typedef struct {
    const char *name;
    int B, C, H, W, Ho, Wo; /* Ho == 0: by scale */
    float sh, sw;
    int mode;
} interp_cfg;

static const interp_cfg interp_cfgs[] = {
    {"nearest size up 7x9 -> 13x17", 2, 3, 7, 9, 13, 17, 0, 0, INTERP_NEAREST},
    {"nearest size down 13x17 -> 6x7", 1, 2, 13, 17, 6, 7, 0, 0, INTERP_NEAREST},
    {"nearest size 2x (5x4 -> 10x8)", 1, 2, 5, 4, 10, 8, 0, 0, INTERP_NEAREST},
    {"nearest scale 2", 1, 2, 5, 3, 0, 0, 2, 2, INTERP_NEAREST},
    {"nearest scale 0.5 on odd 7x9", 1, 2, 7, 9, 0, 0, 0.5f, 0.5f, INTERP_NEAREST},
    {"bilinear size up 5x6 -> 11x13", 2, 2, 5, 6, 11, 13, 0, 0, INTERP_BILINEAR},
    {"bilinear size down 13x11 -> 5x4", 1, 3, 13, 11, 5, 4, 0, 0, INTERP_BILINEAR},
    {"bilinear size same 4x5", 1, 2, 4, 5, 4, 5, 0, 0, INTERP_BILINEAR},
    {"bilinear scale 2", 1, 2, 5, 7, 0, 0, 2, 2, INTERP_BILINEAR},
    {"bilinear scale (1.5, 0.5)", 1, 2, 5, 7, 0, 0, 1.5f, 0.5f, INTERP_BILINEAR},
    {"bilinear size to 1x1 and from 1 row", 1, 2, 1, 6, 3, 1, 0, 0, INTERP_BILINEAR},
};

static int fwd_interp(graph *g, fd_case *c, tensor **out) {
    const interp_cfg *q = c->user;
    out[0] = q->Ho ? op_interpolate(g, c->leaf[0], q->Ho, q->Wo, q->mode) : op_interpolate_scale(g, c->leaf[0], q->sh, q->sw, q->mode);
    return 1;
}

static void test_interpolate_fd(void **state) {
    (void)state;
    rng_seed(&fd_rng, 31);
    for (size_t i = 0; i < sizeof interp_cfgs / sizeof interp_cfgs[0]; i++) {
        const interp_cfg *q = &interp_cfgs[i];
        fd_case c = fd_case_new(q->name, fwd_interp);
        c.user = (void *)q;
        fd_add(&c, FD_LEAF(FD_ACT_GRAD, 1.0f, q->B, q->C, q->H, q->W));
        fd_run(&c);
    }
    fd_free_leaves();
}

static void test_interpolate_hand(void **state) {
    (void)state;
    graph g;
    graph_init(&g, 1 << 20);
    /* bilinear x2 of [0, 1]: src = (d + 0.5) / 2 - 0.5 = -0.25 (-> 0), 0.25, 0.75, 1.25 (-> last) */
    tensor *x = tensor_new4(&g, 1, 1, 1, 2, 0);
    x->data[0] = 0, x->data[1] = 1;
    tensor *y = op_interpolate_scale(&g, x, 1, 2, INTERP_BILINEAR);
    assert_int_equal(y->shape[3], 4);
    const float want[4] = {0, 0.25f, 0.75f, 1};
    for (int i = 0; i < 4; i++) assert_float_equal(y->data[i], want[i], 1e-7);
    /* a ramp 0..4 resized to 7 columns: scale 1.5 uses the ratio 1/1.5, size 7 uses 5/7 (column 3: src 1.8333 vs 2) */
    tensor *r = tensor_new4(&g, 1, 1, 1, 5, 0);
    for (int i = 0; i < 5; i++) r->data[i] = (float)i;
    tensor *ys = op_interpolate_scale(&g, r, 1, 1.5f, INTERP_BILINEAR), *yz = op_interpolate(&g, r, 1, 7, INTERP_BILINEAR);
    assert_int_equal(ys->shape[3], 7);
    assert_float_equal(ys->data[3], 3.5 / 1.5 - 0.5, 1e-6);
    assert_float_equal(yz->data[3], 2.0, 1e-6);
    /* nearest 7 -> 13: src = floor(d * 7 / 13) */
    tensor *n7 = tensor_new4(&g, 1, 1, 1, 7, 0);
    for (int i = 0; i < 7; i++) n7->data[i] = (float)i;
    tensor *yn = op_interpolate(&g, n7, 1, 13, INTERP_NEAREST);
    for (int d = 0; d < 13; d++) assert_float_equal(yn->data[d], (float)((d * 7) / 13), 0);
    graph_free(&g);
}

/* ------------------------------------------------------------------------------------------------ */
/* max pool                                                                                          */
typedef struct {
    const char *name;
    int B, C, H, W, k, s, p, ceil, Ho, Wo; /* Ho, Wo: PyTorch's output size, worked out by hand */
} pool_cfg;

static const pool_cfg pool_cfgs[] = {
    {"k2 s2 even map", 1, 2, 6, 8, 2, 2, 0, 0, 3, 4},
    {"k2 s2 odd map floor", 1, 2, 7, 9, 2, 2, 0, 0, 3, 4},
    {"k2 s2 odd map ceil", 1, 2, 7, 9, 2, 2, 0, 1, 4, 5},
    {"k3 s2 p1 (ResNet stem) odd", 2, 2, 7, 8, 3, 2, 1, 0, 4, 4},
    {"k3 s2 ceil 8x9", 1, 2, 8, 9, 3, 2, 0, 1, 4, 4},
    /* ceil: (5 + 2 - 2) / 2 -> 3, + 1 = 4 windows, but the 4th would start at 6 >= 5 + 1: dropped */
    {"k2 s2 p1 ceil drops the last window", 1, 2, 5, 5, 2, 2, 1, 1, 3, 3},
    {"k1 s2 (subsampling, FPN's extra level)", 1, 3, 5, 6, 1, 2, 0, 0, 3, 3},
    {"k3 s1 p1 same size", 1, 2, 5, 4, 3, 1, 1, 0, 5, 4},
};

static int fwd_pool(graph *g, fd_case *c, tensor **out) {
    const pool_cfg *q = c->user;
    out[0] = op_max_pool2d(g, c->leaf[0], q->k, q->s, q->p, q->ceil);
    assert_int_equal(out[0]->shape[2], q->Ho);
    assert_int_equal(out[0]->shape[3], q->Wo);
    return 1;
}

/* distinct values spaced by more than the finite-difference steps, so no window has a near tie */
static void distinct_values(tensor *t) {
    int64_t n = t->n;
    for (int64_t i = 0; i < n; i++) t->data[i] = (float)i;
    for (int64_t i = n - 1; i > 0; i--) { /* shuffle */
        int64_t j = (int64_t)rng_below(&fd_rng, (uint32_t)(i + 1));
        float v = t->data[i];
        t->data[i] = t->data[j];
        t->data[j] = v;
    }
    for (int64_t i = 0; i < n; i++) t->data[i] = (t->data[i] - n / 2) * (2.0f / n);
}

static void test_max_pool_fd(void **state) {
    (void)state;
    rng_seed(&fd_rng, 41);
    for (size_t i = 0; i < sizeof pool_cfgs / sizeof pool_cfgs[0]; i++) {
        const pool_cfg *q = &pool_cfgs[i];
        char name[96];
        snprintf(name, sizeof name, "max_pool2d %s", q->name);
        fd_case c = fd_case_new(name, fwd_pool);
        c.user = (void *)q;
        tensor *x = FD_LEAF(FD_ACT_GRAD, 1.0f, q->B, q->C, q->H, q->W);
        distinct_values(x);
        fd_add(&c, x);
        c.h = 2e-4f; /* below half the spacing 2/n even along a random direction */
        fd_run(&c);
    }
    fd_free_leaves();
}

static void test_max_pool_hand(void **state) {
    (void)state;
    graph g;
    graph_init(&g, 1 << 20);
    tensor *x = tensor_new4(&g, 1, 1, 4, 4, 1);
    for (int i = 0; i < 16; i++) x->data[i] = (float)i; /* x[r][c] = 4 r + c */
    /* k3 s2 p1: windows rows {-1..1}, {1..3} and the same columns: maxima at (1,1), (1,3), (3,1), (3,3) */
    tensor *y = op_max_pool2d(&g, x, 3, 2, 1, 0);
    const float want[4] = {5, 7, 13, 15};
    for (int i = 0; i < 4; i++) assert_float_equal(y->data[i], want[i], 0);
    /* ties: the first maximum in the window gets the gradient */
    tensor *t = tensor_new4(&g, 1, 1, 2, 2, 1);
    for (int i = 0; i < 4; i++) t->data[i] = 1.0f;
    tensor *yt = op_max_pool2d(&g, t, 2, 2, 0, 0);
    const float R[1] = {3};
    loss_dot_seed(&g, yt, R);
    graph_backward(&g);
    const float wg[4] = {3, 0, 0, 0};
    for (int i = 0; i < 4; i++) assert_float_equal(t->grad[i], wg[i], 0);
    graph_free(&g);
}

/* ------------------------------------------------------------------------------------------------ */
/* conv_transpose2d                                                                                  */
typedef struct {
    const char *name;
    int B, Cin, H, W, Cout, kh, kw, sh, sw, ph, pw, oph, opw, dh, dw, G, bias;
} convt_cfg;

static const convt_cfg convt_cfgs[] = {
    {"k2 s2 (FCNMaskHead upsampling)", 2, 3, 4, 5, 4, 2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 1, 1},
    {"k3 s2 p1 odd map", 1, 3, 5, 3, 2, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1, 1, 1},
    {"k3 s2 p1 output padding 1", 1, 2, 4, 3, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 0},
    {"k3 s1 p2 dilation 2 groups 2", 1, 4, 5, 4, 6, 3, 3, 1, 1, 2, 2, 0, 0, 2, 2, 2, 1},
    {"k3x2 stride (2,1) pad (1,0)", 2, 2, 4, 5, 3, 3, 2, 2, 1, 1, 0, 0, 0, 1, 1, 1, 1},
};

static int fwd_convt(graph *g, fd_case *c, tensor **out) {
    const convt_cfg *q = c->user;
    out[0] = op_conv_transpose2d_ex(g, c->leaf[0], c->leaf[1], c->leaf[2], q->sh, q->sw, q->ph, q->pw, q->oph, q->opw, q->dh,
                                    q->dw, q->G);
    int Ho = (q->H - 1) * q->sh - 2 * q->ph + q->dh * (q->kh - 1) + q->oph + 1;
    int Wo = (q->W - 1) * q->sw - 2 * q->pw + q->dw * (q->kw - 1) + q->opw + 1;
    assert_int_equal(out[0]->shape[1], q->Cout);
    assert_int_equal(out[0]->shape[2], Ho);
    assert_int_equal(out[0]->shape[3], Wo);
    return 1;
}

static void test_conv_transpose2d_fd(void **state) {
    (void)state;
    rng_seed(&fd_rng, 51);
    for (size_t i = 0; i < sizeof convt_cfgs / sizeof convt_cfgs[0]; i++) {
        const convt_cfg *q = &convt_cfgs[i];
        char name[96];
        snprintf(name, sizeof name, "conv_transpose2d %s", q->name);
        fd_case c = fd_case_new(name, fwd_convt);
        c.user = (void *)q;
        fd_add(&c, FD_LEAF(FD_ACT_GRAD, 1.0f, q->B, q->Cin, q->H, q->W));
        fd_add(&c, FD_LEAF(FD_PARAM_TRAIN, 0.5f, q->Cin, q->Cout / q->G, q->kh, q->kw));
        c.leaf[c.nl++] = q->bias ? FD_LEAF(FD_PARAM_TRAIN, 0.5f, q->Cout) : NULL;
        fd_run(&c);
    }
    fd_free_leaves();
}

/* the transposed conv is the adjoint of the conv with the same weight array and geometry:
 * <conv_transpose2d(x, w), u> = <x, conv2d(u, w)> (checked against the direct-loop conv) */
static void test_conv_transpose2d_adjoint(void **state) {
    (void)state;
    rng_seed(&fd_rng, 52);
    for (size_t i = 0; i < sizeof convt_cfgs / sizeof convt_cfgs[0]; i++) {
        const convt_cfg *q = &convt_cfgs[i];
        if (q->oph || q->opw) continue; /* with output padding the conv of the larger map has one more row */
        graph g;
        graph_init(&g, 1 << 20);
        tensor *x = FD_LEAF(FD_ACT_NOGRAD, 1.0f, q->B, q->Cin, q->H, q->W);
        tensor *w = FD_LEAF(FD_PARAM_FROZEN, 0.5f, q->Cin, q->Cout / q->G, q->kh, q->kw);
        tensor *y = op_conv_transpose2d_ex(&g, x, w, NULL, q->sh, q->sw, q->ph, q->pw, 0, 0, q->dh, q->dw, q->G);
        tensor *u = fd_leaf(FD_ACT_NOGRAD, 1.0f, 4, y->shape);
        tensor *v = op_conv2d_ref(&g, u, w, NULL, q->sh, q->sw, q->ph, q->pw, q->dh, q->dw, q->G);
        assert_int_equal(v->n, x->n);
        double a = 0, b = 0, s = 0;
        for (int64_t j = 0; j < y->n; j++) a += (double)y->data[j] * u->data[j], s += fabs((double)y->data[j] * u->data[j]);
        for (int64_t j = 0; j < x->n; j++) b += (double)x->data[j] * v->data[j];
        assert_true(fabs(a - b) <= 1e-5 * s);
        graph_free(&g);
    }
    fd_free_leaves();
}

/* ------------------------------------------------------------------------------------------------ */
/* BatchNorm, GroupNorm                                                                              */
typedef struct {
    int training, affine;
    float *rm, *rv; /* evaluation: fixed running statistics */
} bn_cfg;

static int fwd_bn(graph *g, fd_case *c, tensor **out) {
    const bn_cfg *q = c->user;
    /* training: no running buffers, so every evaluation sees the same state */
    out[0] = op_batch_norm(g, c->leaf[0], c->leaf[1], c->leaf[2], q->training ? NULL : q->rm, q->training ? NULL : q->rv,
                           q->training, 0.1f, 1e-5f);
    return 1;
}

static void test_batch_norm_fd(void **state) {
    (void)state;
    rng_seed(&fd_rng, 61);
    static const int shapes[][4] = {{3, 4, 5, 3}, {5, 3, 1, 1}, {6, 3, 0, 0}}; /* (B, C, H, W); {6, 3}: (B, C). Two values per statistic would be degenerate (xhat = +-1) */
    float rm[4] = {0.3f, -0.2f, 0.1f, 0.0f}, rv[4] = {0.8f, 1.5f, 0.6f, 1.1f};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int mode = 0; mode < 3; mode++) { /* training affine, training plain, evaluation affine */
            bn_cfg q = {mode < 2, mode != 1, rm, rv};
            const int *sh = shapes[s];
            int nd = sh[2] ? 4 : 2;
            char name[96];
            snprintf(name, sizeof name, "batch_norm (%d, %d%s) %s", sh[0], sh[1], nd == 4 ? ", H, W" : "",
                     mode == 0 ? "training" : mode == 1 ? "training, no affine" : "evaluation");
            fd_case c = fd_case_new(name, fwd_bn);
            c.user = &q;
            fd_add(&c, fd_leaf(FD_ACT_GRAD, 1.5f, nd, sh));
            c.leaf[c.nl++] = q.affine ? FD_LEAF(FD_PARAM_TRAIN, 1.0f, sh[1]) : NULL;
            c.leaf[c.nl++] = q.affine ? FD_LEAF(FD_PARAM_TRAIN, 1.0f, sh[1]) : NULL;
            fd_run(&c);
        }
    fd_free_leaves();
}

/* the statistics and the running update against sums worked out here in double */
static void test_batch_norm_stats(void **state) {
    (void)state;
    rng_seed(&fd_rng, 62);
    int B = 3, C = 4, HW = 10;
    tensor *x = FD_LEAF(FD_ACT_NOGRAD, 2.0f, B, C, 2, 5);
    for (int64_t i = 0; i < x->n; i++) x->data[i] += 0.5f * (float)((i / HW) % C); /* channel offsets */
    float rm[4] = {0.1f, 0.2f, 0.3f, 0.4f}, rv[4] = {1, 2, 3, 4}, rm0[4], rv0[4];
    memcpy(rm0, rm, sizeof rm);
    memcpy(rv0, rv, sizeof rv);
    graph g;
    graph_init(&g, 1 << 20);
    tensor *y = op_batch_norm(&g, x, NULL, NULL, rm, rv, 1, 0.25f, 1e-5f);
    for (int c = 0; c < C; c++) {
        double s = 0, s2 = 0, ys = 0, ys2 = 0;
        int n = B * HW;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < HW; i++) s += x->data[(b * C + c) * HW + i];
        double m = s / n;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < HW; i++) {
                double d = x->data[(b * C + c) * HW + i] - m, v = y->data[(b * C + c) * HW + i];
                s2 += d * d;
                ys += v;
                ys2 += v * v;
            }
        double var = s2 / n;
        assert_true(fabs(rm[c] - (0.75 * rm0[c] + 0.25 * m)) < 1e-6);
        assert_true(fabs(rv[c] - (0.75 * rv0[c] + 0.25 * s2 / (n - 1))) < 1e-5);
        assert_true(fabs(ys / n) < 1e-6);                           /* normalised: mean 0 */
        assert_true(fabs(ys2 / n - var / (var + 1e-5)) < 1e-5);      /* and variance var / (var + eps) */
    }
    graph_free(&g);
    fd_free_leaves();
}

typedef struct {
    int groups;
} gn_cfg;

static int fwd_gn(graph *g, fd_case *c, tensor **out) {
    const gn_cfg *q = c->user;
    out[0] = op_group_norm(g, c->leaf[0], q->groups, c->leaf[1], c->leaf[2], 1e-5f);
    return 1;
}

static void test_group_norm_fd(void **state) {
    (void)state;
    rng_seed(&fd_rng, 71);
    static const struct {
        int B, C, H, W, groups, affine;
    } cases[] = {{2, 6, 5, 3, 3, 1}, {2, 6, 5, 3, 1, 1}, {1, 4, 3, 5, 4, 1}, {2, 8, 3, 3, 2, 0}, {3, 8, 1, 1, 2, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gn_cfg q = {cases[i].groups};
        char name[96];
        snprintf(name, sizeof name, "group_norm (%d, %d, %d, %d) groups %d%s", cases[i].B, cases[i].C, cases[i].H, cases[i].W,
                 q.groups, cases[i].affine ? "" : " no affine");
        fd_case c = fd_case_new(name, fwd_gn);
        c.user = &q;
        fd_add(&c, FD_LEAF(FD_ACT_GRAD, 1.5f, cases[i].B, cases[i].C, cases[i].H, cases[i].W));
        c.leaf[c.nl++] = cases[i].affine ? FD_LEAF(FD_PARAM_TRAIN, 1.0f, cases[i].C) : NULL;
        c.leaf[c.nl++] = cases[i].affine ? FD_LEAF(FD_PARAM_TRAIN, 1.0f, cases[i].C) : NULL;
        fd_run(&c);
    }
    fd_free_leaves();
}

/* ------------------------------------------------------------------------------------------------ */
/* adaptive average pool                                                                             */
static int fwd_aap(graph *g, fd_case *c, tensor **out) {
    const int *o = c->user;
    out[0] = op_adaptive_avg_pool2d(g, c->leaf[0], o[0], o[1]);
    return 1;
}

static void test_adaptive_avg_pool_fd(void **state) {
    (void)state;
    rng_seed(&fd_rng, 81);
    static const int cases[][6] = {{2, 3, 11, 13, 1, 1}, {2, 3, 11, 13, 2, 2}, {2, 3, 11, 13, 3, 3}, {2, 3, 11, 13, 6, 6},
                                   {1, 2, 5, 7, 3, 4},   {1, 2, 3, 4, 5, 6},   {1, 2, 8, 8, 4, 4}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int *q = cases[i];
        char name[96];
        snprintf(name, sizeof name, "adaptive_avg_pool2d %dx%d -> %dx%d", q[2], q[3], q[4], q[5]);
        fd_case c = fd_case_new(name, fwd_aap);
        c.user = (void *)(q + 4);
        fd_add(&c, FD_LEAF(FD_ACT_GRAD, 1.0f, q[0], q[1], q[2], q[3]));
        fd_run(&c);
    }
    fd_free_leaves();
}

static void test_adaptive_avg_pool_hand(void **state) {
    (void)state;
    graph g;
    graph_init(&g, 1 << 20);
    tensor *x = tensor_new4(&g, 1, 1, 3, 3, 0);
    for (int i = 0; i < 9; i++) x->data[i] = (float)i;
    /* 3 -> 2: bins [0, 2) and [1, 3) overlap in the middle row and column */
    tensor *y = op_adaptive_avg_pool2d(&g, x, 2, 2);
    const float want[4] = {2, 3, 5, 6};
    for (int i = 0; i < 4; i++) assert_float_equal(y->data[i], want[i], 1e-6);
    graph_free(&g);
}

/* ------------------------------------------------------------------------------------------------ */
/* channel concatenation and channel dropout                                                         */
static int fwd_concat(graph *g, fd_case *c, tensor **out) {
    out[0] = op_concat_channels(g, c->leaf, c->nl);
    return 1;
}

static void test_concat_channels_fd(void **state) {
    (void)state;
    rng_seed(&fd_rng, 101);
    fd_case c = fd_case_new("concat_channels (2, 3|1|4, 5, 7), middle input needs no gradient", fwd_concat);
    fd_add(&c, FD_LEAF(FD_ACT_GRAD, 1.0f, 2, 3, 5, 7));
    fd_add(&c, FD_LEAF(FD_ACT_NOGRAD, 1.0f, 2, 1, 5, 7));
    fd_add(&c, FD_LEAF(FD_PARAM_TRAIN, 1.0f, 2, 4, 5, 7));
    fd_run(&c);
    fd_case c1 = fd_case_new("concat_channels one input (3, 2, 4, 1)", fwd_concat);
    fd_add(&c1, FD_LEAF(FD_ACT_GRAD, 1.0f, 3, 2, 4, 1));
    fd_run(&c1);
    fd_free_leaves();
}

/* the layout: y[b, off_i + k] = xs[i][b, k] element for element */
static void test_concat_channels_hand(void **state) {
    (void)state;
    graph g;
    graph_init(&g, 1 << 20);
    tensor *a = tensor_new4(&g, 2, 1, 2, 3, 0), *b = tensor_new4(&g, 2, 2, 2, 3, 0);
    for (int i = 0; i < 12; i++) a->data[i] = (float)i, b->data[i] = 100.0f + i, b->data[12 + i] = 200.0f + i;
    tensor *y = op_concat_channels(&g, (tensor *[]){a, b}, 2);
    assert_int_equal(y->shape[1], 3);
    for (int bi = 0; bi < 2; bi++)
        for (int ch = 0; ch < 3; ch++)
            for (int k = 0; k < 6; k++) {
                float want = ch == 0 ? a->data[bi * 6 + k] : b->data[(bi * 2 + ch - 1) * 6 + k];
                assert_true(y->data[(bi * 3 + ch) * 6 + k] == want);
            }
    graph_free(&g);
}

static int fwd_dropout2d(graph *g, fd_case *c, tensor **out) {
    out[0] = op_dropout2d(g, c->leaf[0], *(const float *)c->user);
    return 1;
}

static void test_dropout2d_fd(void **state) {
    (void)state;
    rng_seed(&fd_rng, 102);
    static float p = 0.4f;
    fd_case c = fd_case_new("dropout2d p 0.4 (3, 5, 4, 3) training", fwd_dropout2d);
    c.user = &p;
    c.training = 1; /* fd_util re-seeds the graph's rng before every forward: the same planes drop each time */
    fd_add(&c, FD_LEAF(FD_ACT_GRAD, 1.0f, 3, 5, 4, 3));
    fd_run(&c);
    fd_free_leaves();
}

/* whole planes dropped, survivors scaled by 1/(1-p), the drop rate near p, the graph's stream used; identity in
 * evaluation and at p = 0 */
static void test_dropout2d_planes(void **state) {
    (void)state;
    graph g;
    graph_init(&g, 1 << 22);
    int B = 8, C = 64, HW = 12;
    tensor *x = tensor_new4(&g, B, C, 3, 4, 0);
    for (int64_t i = 0; i < x->n; i++) x->data[i] = 1.0f + (float)(i % 7);
    g.training = 1;
    rng_seed(&g.rng, 5);
    float p = 0.3f;
    tensor *y = op_dropout2d(&g, x, p);
    assert_ptr_not_equal(y, x);
    int dropped = 0;
    for (int pl = 0; pl < B * C; pl++) {
        float r = y->data[pl * HW] / x->data[pl * HW];
        int zero = r == 0.0f;
        if (!zero) assert_float_equal(r, 1.0f / (1.0f - p), 1e-6);
        for (int i = 0; i < HW; i++) assert_float_equal(y->data[pl * HW + i], x->data[pl * HW + i] * r, 1e-6);
        dropped += zero;
    }
    double rate = (double)dropped / (B * C); /* 512 planes: sd 0.02 */
    assert_true(rate > 0.2 && rate < 0.4);
    /* the same seed gives the same planes, another seed others */
    rng_seed(&g.rng, 5);
    tensor *y2 = op_dropout2d(&g, x, p);
    assert_memory_equal(y->data, y2->data, sizeof(float) * x->n);
    rng_seed(&g.rng, 6);
    tensor *y3 = op_dropout2d(&g, x, p);
    assert_true(memcmp(y->data, y3->data, sizeof(float) * x->n) != 0);
    assert_ptr_equal(op_dropout2d(&g, x, 0.0f), x);
    g.training = 0;
    assert_ptr_equal(op_dropout2d(&g, x, p), x);
    graph_free(&g);
}

/* ------------------------------------------------------------------------------------------------ */
/* planned memory: a small net of every op here gives bit-identical results with planning on and      */
/* poison (a buffer read after its declared last use would be NaN) as with planning off               */
enum { PN_W1, PN_B1, PN_BNW, PN_BNB, PN_W2, PN_GNW, PN_GNB, PN_WT, PN_BT, PN_W3, PN_N };

static double plan_net_step(graph *g, tensor **P, const float *R1, const float *R2) {
    graph_reset(g);
    for (int i = 0; i < PN_N; i++) memset(P[i]->grad, 0, sizeof(float) * P[i]->n);
    tensor *x = tensor_new4(g, 2, 3, 13, 11, 0);
    for (int64_t i = 0; i < x->n; i++) x->data[i] = (float)((i * 37) % 23) / 11.0f - 1.0f;
    tensor *h = op_conv2d_ex(g, x, P[PN_W1], P[PN_B1], 1, 1, 1, 1, 1, 1, 1); /* (2, 8, 13, 11) */
    h = op_batch_norm(g, h, P[PN_BNW], P[PN_BNB], NULL, NULL, 1, 0.1f, 1e-5f);
    h = op_relu_inplace(g, h);
    h = op_max_pool2d(g, h, 3, 2, 1, 0);                                        /* (2, 8, 7, 6) */
    tensor *h2 = op_conv2d_ex(g, h, P[PN_W2], NULL, 1, 1, 0, 0, 1, 1, 1);       /* 1x1 path */
    h2 = op_group_norm(g, h2, 4, P[PN_GNW], P[PN_GNB], 1e-5f);
    tensor *h3 = op_interpolate(g, h2, 13, 11, INTERP_NEAREST);
    tensor *h4 = op_interpolate_scale(g, h2, 2, 2, INTERP_BILINEAR);            /* (2, 8, 14, 12) */
    tensor *h5 = op_conv_transpose2d(g, h2, P[PN_WT], P[PN_BT], 2, 0);          /* (2, 4, 14, 12) */
    tensor *h6 = op_conv2d_ex(g, h4, P[PN_W3], NULL, 1, 1, 1, 1, 1, 1, 2);      /* groups 2 */
    tensor *o1 = op_adaptive_avg_pool2d(g, op_add(g, h5, h6), 3, 3), *o2 = op_relu(g, h3);
    double L = loss_dot_seed(g, o1, R1) + loss_dot_seed(g, o2, R2);
    graph_backward(g);
    return L;
}

static void test_planned_memory(void **state) {
    (void)state;
    rng_seed(&fd_rng, 91);
    tensor *P[PN_N] = {
        FD_LEAF(FD_PARAM_TRAIN, 0.3f, 8, 3, 3, 3), FD_LEAF(FD_PARAM_TRAIN, 0.3f, 8), FD_LEAF(FD_PARAM_TRAIN, 1.0f, 8),
        FD_LEAF(FD_PARAM_TRAIN, 1.0f, 8),          FD_LEAF(FD_PARAM_TRAIN, 0.3f, 8, 8, 1, 1), FD_LEAF(FD_PARAM_TRAIN, 1.0f, 8),
        FD_LEAF(FD_PARAM_TRAIN, 1.0f, 8),          FD_LEAF(FD_PARAM_TRAIN, 0.3f, 8, 4, 2, 2), FD_LEAF(FD_PARAM_TRAIN, 0.3f, 4),
        FD_LEAF(FD_PARAM_TRAIN, 0.3f, 4, 4, 3, 3)};
    float R1[2 * 4 * 9], R2[2 * 8 * 13 * 11];
    for (size_t i = 0; i < sizeof R1 / sizeof *R1; i++) R1[i] = rng_normal(&fd_rng);
    for (size_t i = 0; i < sizeof R2 / sizeof *R2; i++) R2[i] = rng_normal(&fd_rng);
    int64_t total = 0;
    for (int i = 0; i < PN_N; i++) total += P[i]->n;
    float *ref = malloc(sizeof(float) * total), *got = malloc(sizeof(float) * total);
    graph g;
    graph_init(&g, 1 << 20);
    double L0 = plan_net_step(&g, P, R1, R2);
    for (int i = 0, o = 0; i < PN_N; o += P[i]->n, i++) memcpy(ref + o, P[i]->grad, sizeof(float) * P[i]->n);
    graph_free(&g);
    graph_init(&g, 1 << 20);
    graph_plan_enable(&g);
    g.poison = 1;
    for (int step = 0; step < 3; step++) {
        double L = plan_net_step(&g, P, R1, R2);
        for (int i = 0, o = 0; i < PN_N; o += P[i]->n, i++) memcpy(got + o, P[i]->grad, sizeof(float) * P[i]->n);
        assert_true(L == L0);
        assert_memory_equal(got, ref, sizeof(float) * total);
        if (step) assert_true(g.stats.planned && !g.stats.diverged);
    }
    assert_true(g.stats.plan_bytes < g.stats.record_bytes);
    graph_free(&g);
    free(ref);
    free(got);
    fd_free_leaves();
}

/* ------------------------------------------------------------------------------------------------ */
/* goldens                                                                                           */
static void check_golden(const char *file) {
    char rel[256];
    snprintf(rel, sizeof rel, "golden/heads/%s", file);
    const char *path = test_shared_path(rel);
    golden_result r;
    if (golden_check(path, &r)) fail_msg("%s", err_msg());
    if (r.not_covered || !r.ok) {
        golden_print(path, &r);
        fail_msg("%s: %s", file, r.problem);
    }
    char line[512];
    int k = snprintf(line, sizeof line, "golden %-34s op %-20s", file, r.method);
    for (int i = 0; i < r.n_groups && k < (int)sizeof line; i++)
        k += snprintf(line + k, sizeof line - k, " %s %.2e", r.groups[i].name, r.groups[i].max_err);
    print_message("%s\n", line);
    assert_true(r.n_groups >= 2);
}

static void test_goldens_interpolate(void **state) {
    (void)state;
    check_golden("interpolate_nearest_size.h5");
    check_golden("interpolate_bilinear_size.h5");
    check_golden("interpolate_bilinear_down.h5");
    check_golden("interpolate_bilinear_scale2.h5");
}

static void test_goldens_nn_norm(void **state) {
    (void)state;
    check_golden("conv_transpose2d.h5");
    check_golden("batch_norm_train.h5");
    check_golden("group_norm.h5");
    check_golden("adaptive_avg_pool.h5");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_ex_fd),
        cmocka_unit_test(test_conv2d_ex_frozen),
        cmocka_unit_test(test_conv2d_ex_vs_ref), cmocka_unit_test(test_conv2d_ex_many_small),
        cmocka_unit_test(test_conv2d_ex_vs_op_conv2d),
        cmocka_unit_test(test_conv2d_ex_hand),
        cmocka_unit_test(test_conv2d_planes_fd),
        cmocka_unit_test(test_conv2d_planes_vs_ex),
        cmocka_unit_test(test_relu),
        cmocka_unit_test(test_relu_inplace),
        cmocka_unit_test(test_interpolate_fd),
        cmocka_unit_test(test_interpolate_hand),
        cmocka_unit_test(test_max_pool_fd),
        cmocka_unit_test(test_max_pool_hand),
        cmocka_unit_test(test_conv_transpose2d_fd),
        cmocka_unit_test(test_conv_transpose2d_adjoint),
        cmocka_unit_test(test_batch_norm_fd),
        cmocka_unit_test(test_batch_norm_stats),
        cmocka_unit_test(test_group_norm_fd),
        cmocka_unit_test(test_adaptive_avg_pool_fd),
        cmocka_unit_test(test_adaptive_avg_pool_hand),
        cmocka_unit_test(test_concat_channels_fd),
        cmocka_unit_test(test_concat_channels_hand),
        cmocka_unit_test(test_dropout2d_fd),
        cmocka_unit_test(test_dropout2d_planes),
        cmocka_unit_test(test_planned_memory),
        cmocka_unit_test(test_goldens_interpolate),
        cmocka_unit_test(test_goldens_nn_norm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
