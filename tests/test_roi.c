/* test_roi.c - RoIAlign (core/ops_nn.c: op_roi_align, op_roi_align_levels): hand-computed values on a linear
 * map (interior, outside the top-left, clamped at the bottom-right edge, not aligned, zero width), a
 * per-sample brute force written from the kernels' bilinear_interpolate on random rois of every kind and
 * settings the goldens do not have (sampling_ratio 2, aligned False), finite differences of the backward,
 * the multi-level op against one single-level call per roi, the same bits on 1 and 2 threads, and the four
 * roi_align goldens of ../shared/golden/heads through golden_check. SingleRoIExtractor
 * (models/det/roi_extractor.c): hand-computed level assignment (mmdet's map_roi_levels, float32 boundaries),
 * the forward against op_roi_align on each roi's level, and finite differences through it. */
#include "fd_util.h"

#include <math.h>
#include <omp.h>

#include "../conformance/golden.h"
#include "../core/ops_nn.h"
#include "../models/det/roi_extractor.h"

/* rois tensor (K, 5) in g from a table */
static tensor *rois_new(graph *g, const float *r, int K) {
    tensor *t = tensor_new(g, 2, (int[]){K, 5}, 0);
    memcpy(t->data, r, sizeof(float) * 5 * K);
    return t;
}

/* x (1, 1, 4, 4) with x[r, c] = 10 r + c + 1: bilinear interpolation of a linear map is exact, so an interior
 * bin is the map at the bin's centre */
static void test_roi_align_hand(void **state) {
    (void)state;
    graph g;
    graph_init(&g, 1 << 20);
    tensor *x = tensor_new4(&g, 1, 1, 4, 4, 0);
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) x->data[r * 4 + c] = 10.0f * r + c + 1;
    /* whole map, 2x2 bins: start -0.5, bin 2, grid 2: samples at rows/cols 0, 1 | 2, 3 (3 = H - 1: both taps
     * on row 3). Bin (0, 0) averages rows 0, 1 and cols 0, 1: 10 * 0.5 + 0.5 + 1 = 6.5 */
    const float r1[5] = {0, 0, 0, 4, 4};
    tensor *y = op_roi_align(&g, x, rois_new(&g, r1, 1), 2, 2, 1.0f, 0, 1);
    const float w1[4] = {6.5f, 8.5f, 26.5f, 28.5f};
    for (int i = 0; i < 4; i++) assert_float_equal(y->data[i], w1[i], 1e-5);
    /* (-3, -3, 1, 1), 1x1: start -3.5, len 4, grid 4, samples -3, -2 (outside: 0), -1 (clamped to 0), 0 per axis:
     * 2 x 2 samples of x[0, 0] = 1 out of 16 -> 0.25 */
    const float r2[5] = {0, -3, -3, 1, 1};
    y = op_roi_align(&g, x, rois_new(&g, r2, 1), 1, 1, 1.0f, 0, 1);
    assert_float_equal(y->data[0], 0.25f, 1e-6);
    /* (2, 2, 6, 6), 1x1: start 1.5, samples 2, 3, 4 (4 <= H: clamped to row 3), 5 (> H: 0) per axis; rows {2, 3, 3},
     * cols {2, 3, 3}: sum 3 * 10 * 8 + 3 * 8 + 9 = 273 over 16 */
    const float r3[5] = {0, 2, 2, 6, 6};
    y = op_roi_align(&g, x, rois_new(&g, r3, 1), 1, 1, 1.0f, 0, 1);
    assert_float_equal(y->data[0], 273.0f / 16.0f, 1e-5);
    /* not aligned: (1, 1, 1.5, 1.5) has len 0.5 -> 1, one sample at 1.5: 15 + 1.5 + 1 */
    const float r4[5] = {0, 1, 1, 1.5f, 1.5f};
    y = op_roi_align(&g, x, rois_new(&g, r4, 1), 1, 1, 1.0f, 0, 0);
    assert_float_equal(y->data[0], 17.5f, 1e-5);
    /* aligned, zero width: no samples, 0; spatial scale 0.5 on (2, 2, 6, 6) = the whole-map roi of r1 at 1x1 */
    const float r5[10] = {0, 1, 1, 1, 3, 0, 0, 0, 8, 8};
    y = op_roi_align(&g, x, rois_new(&g, r5, 2), 1, 1, 0.5f, 0, 1);
    assert_float_equal(y->data[0], 0.0f, 0);
    assert_float_equal(y->data[1], 10.0f * 1.5f + 1.5f + 1, 1e-5);
    /* sampling_ratio 1 on the whole map, 2x2: one sample at each bin centre (0.5, 2.5): 6.5, 8.5, 26.5, 28.5 */
    y = op_roi_align(&g, x, rois_new(&g, r1, 1), 2, 2, 1.0f, 1, 1);
    for (int i = 0; i < 4; i++) assert_float_equal(y->data[i], w1[i], 1e-5);
    graph_free(&g);
}

/* the kernels' bilinear_interpolate for one sample, written out per sample (no tables) */
static double brute_sample(const float *v, int H, int W, double yy, double xx) {
    if (yy < -1.0 || yy > H || xx < -1.0 || xx > W) return 0;
    if (yy <= 0) yy = 0;
    if (xx <= 0) xx = 0;
    int yl = (int)yy, xl = (int)xx, yh, xh;
    if (yl >= H - 1) yh = yl = H - 1, yy = yl;
    else yh = yl + 1;
    if (xl >= W - 1) xh = xl = W - 1, xx = xl;
    else xh = xl + 1;
    double ly = yy - yl, lx = xx - xl, hy = 1 - ly, hx = 1 - lx;
    return hy * hx * v[yl * W + xl] + hy * lx * v[yl * W + xh] + ly * hx * v[yh * W + xl] + ly * lx * v[yh * W + xh];
}

static void brute_roi_align(const tensor *x, const float *rois, int K, int oh, int ow, double scale, int sr, int aligned, float *y) {
    int C = x->shape[1], H = x->shape[2], W = x->shape[3];
    for (int k = 0; k < K; k++) {
        const float *r = rois + 5 * k;
        double off = aligned ? 0.5 : 0, x1 = r[1] * scale - off, y1 = r[2] * scale - off;
        double rw = r[3] * scale - off - x1, rh = r[4] * scale - off - y1;
        if (!aligned) rw = fmax(rw, 1), rh = fmax(rh, 1);
        double bw = rw / ow, bh = rh / oh;
        int gw = sr > 0 ? sr : (int)ceil(rw / ow), gh = sr > 0 ? sr : (int)ceil(rh / oh);
        int cnt = gh * gw > 1 ? gh * gw : 1;
        for (int c = 0; c < C; c++) {
            const float *v = x->data + ((int64_t)(int)r[0] * C + c) * H * W;
            for (int ph = 0; ph < oh; ph++)
                for (int pw = 0; pw < ow; pw++) {
                    double s = 0;
                    for (int iy = 0; iy < gh; iy++)
                        for (int ix = 0; ix < gw; ix++)
                            s += brute_sample(v, H, W, y1 + ph * bh + (iy + 0.5) * bh / gh, x1 + pw * bw + (ix + 0.5) * bw / gw);
                    y[(((int64_t)k * C + c) * oh + ph) * ow + pw] = (float)(s / cnt);
                }
        }
    }
}

/* K rois on an image of ih x iw pixels: the special kinds of the goldens, then random ones */
static float *make_rois(int K, int N, float ih, float iw) {
    static const float special[][4] = {{0, 0, 1, 1},        {-0.2f, -0.1f, 0.3f, 0.4f}, {0.8f, 0.9f, 1.3f, 1.2f},
                                       {1.1f, 0.1f, 1.4f, 0.3f}, {0.3f, 0.3f, 0.3f, 0.6f}, {0.5f, 0.5f, 0.505f, 0.503f},
                                       {0.0f, 0.45f, 1.0f, 0.47f}};
    float *r = fd_pool_add(malloc(sizeof(float) * 5 * K));
    for (int k = 0; k < K; k++) {
        float *p = r + 5 * k;
        p[0] = (float)(k % N);
        if (k < 7) {
            p[1] = special[k][0] * iw, p[2] = special[k][1] * ih, p[3] = special[k][2] * iw, p[4] = special[k][3] * ih;
        } else {
            float a = rng_uniform(&fd_rng) * iw, b = rng_uniform(&fd_rng) * ih;
            p[1] = a, p[2] = b, p[3] = a + rng_uniform(&fd_rng) * iw * 0.6f, p[4] = b + rng_uniform(&fd_rng) * ih * 0.6f;
        }
    }
    return r;
}

static void test_roi_align_brute(void **state) {
    (void)state;
    rng_seed(&fd_rng, 5);
    /* N, C, H, W, K, oh, ow, 1/scale, sampling_ratio, aligned */
    static const int cases[][10] = {{2, 3, 13, 17, 16, 7, 7, 4, 0, 1}, {1, 2, 9, 6, 12, 14, 14, 8, 0, 1},
                                    {2, 2, 11, 10, 12, 3, 5, 4, 2, 1}, {2, 2, 11, 10, 12, 7, 7, 4, 0, 0},
                                    {1, 1, 5, 5, 10, 2, 2, 1, 3, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int *q = cases[i];
        graph g;
        graph_init(&g, 1 << 20);
        tensor *x = tensor_new4(&g, q[0], q[1], q[2], q[3], 0);
        for (int64_t j = 0; j < x->n; j++) x->data[j] = rng_normal(&fd_rng);
        float *r = make_rois(q[4], q[0], (float)(q[2] * q[7]), (float)(q[3] * q[7]));
        tensor *y = op_roi_align(&g, x, rois_new(&g, r, q[4]), q[5], q[6], 1.0f / q[7], q[8], q[9]);
        float *want = malloc(sizeof(float) * y->n);
        assert_non_null(want);
        brute_roi_align(x, r, q[4], q[5], q[6], 1.0 / q[7], q[8], q[9], want);
        double e = test_rel_err(y->data, want, y->n);
        print_message("roi_align case %zu: rel err vs per-sample brute force %.2e\n", i, e);
        assert_true(e < 1e-6);
        free(want);
        graph_free(&g);
    }
    fd_free_leaves();
}

typedef struct {
    int oh, ow, inv_scale, sr, aligned;
} roi_fd_cfg;

static int fwd_roi(graph *g, fd_case *c, tensor **out) {
    const roi_fd_cfg *q = c->user;
    out[0] = op_roi_align(g, c->leaf[0], c->leaf[1], q->oh, q->ow, 1.0f / q->inv_scale, q->sr, q->aligned);
    return 1;
}

static void test_roi_align_fd(void **state) {
    (void)state;
    rng_seed(&fd_rng, 9);
    static const roi_fd_cfg cfgs[] = {{7, 7, 4, 0, 1}, {3, 4, 8, 2, 1}, {2, 2, 4, 0, 0}};
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        const roi_fd_cfg *q = &cfgs[i];
        char name[64];
        snprintf(name, sizeof name, "roi_align %dx%d 1/%d sr %d aligned %d", q->oh, q->ow, q->inv_scale, q->sr, q->aligned);
        fd_case c = fd_case_new(name, fwd_roi);
        c.user = (void *)q;
        int N = 2, H = 9, W = 11, K = 12;
        fd_add(&c, FD_LEAF(FD_ACT_GRAD, 1.0f, N, 3, H, W));
        tensor *rois = FD_LEAF(FD_ACT_NOGRAD, 0.0f, K, 5);
        memcpy(rois->data, make_rois(K, N, (float)(H * q->inv_scale), (float)(W * q->inv_scale)), sizeof(float) * 5 * K);
        fd_add(&c, rois);
        c.elem_max = 200;
        fd_run(&c);
        print_message("%s: directional %.2e, elementwise %.2e\n", name, c.dir_err, c.elem_err);
    }
    fd_free_leaves();
}

/* op_roi_align_levels = one op_roi_align per roi on its level, forward and backward; the same bits on 1 and 2
 * threads (rois in parallel forward, channels in parallel backward) */
static void roi_levels_run(int threads, tensor **x, float *rois, const int *level, int K, const float *R, float **y_out,
                           float **dx_out) {
    omp_set_num_threads(threads);
    graph g;
    graph_init(&g, 1 << 20);
    for (int l = 0; l < 3; l++) x[l]->grad = NULL;
    static const float scales[3] = {0.25f, 0.125f, 0.0625f};
    tensor *y = op_roi_align_levels(&g, x, 3, scales, rois_new(&g, rois, K), level, 7, 7, 0, 1);
    loss_dot_seed(&g, y, R);
    graph_backward(&g);
    *y_out = malloc(sizeof(float) * y->n);
    assert_non_null(*y_out);
    memcpy(*y_out, y->data, sizeof(float) * y->n);
    int64_t tot = x[0]->n + x[1]->n + x[2]->n, o = 0;
    *dx_out = calloc(tot, sizeof(float));
    assert_non_null(*dx_out);
    for (int l = 0; l < 3; o += x[l]->n, l++)
        if (x[l]->grad) memcpy(*dx_out + o, x[l]->grad, sizeof(float) * x[l]->n);
    graph_free(&g);
}

static void test_roi_align_levels(void **state) {
    (void)state;
    rng_seed(&fd_rng, 13);
    int N = 2, C = 5, K = 15;
    tensor *x[3];
    for (int l = 0; l < 3; l++) x[l] = FD_LEAF(FD_ACT_GRAD, 1.0f, N, C, 24 >> l, 20 >> l);
    float *rois = make_rois(K, N, 96, 80);
    int level[15];
    for (int k = 0; k < K; k++) level[k] = (k * 7) % 3;
    float *R = fd_pool_add(malloc(sizeof(float) * K * C * 49));
    for (int i = 0; i < K * C * 49; i++) R[i] = rng_normal(&fd_rng);
    float *y1, *d1, *y2, *d2;
    roi_levels_run(1, x, rois, level, K, R, &y1, &d1);
    roi_levels_run(2, x, rois, level, K, R, &y2, &d2);
    int64_t tot = x[0]->n + x[1]->n + x[2]->n;
    assert_memory_equal(y1, y2, sizeof(float) * K * C * 49);
    assert_memory_equal(d1, d2, sizeof(float) * tot);
    /* the same from one single-level call per roi; gradients summed over the calls */
    float *dref = calloc(tot, sizeof(float));
    assert_non_null(dref);
    static const float scales[3] = {0.25f, 0.125f, 0.0625f};
    int64_t off[3] = {0, x[0]->n, x[0]->n + x[1]->n};
    for (int k = 0; k < K; k++) {
        graph g;
        graph_init(&g, 1 << 20);
        x[level[k]]->grad = NULL;
        tensor *y = op_roi_align(&g, x[level[k]], rois_new(&g, rois + 5 * k, 1), 7, 7, scales[level[k]], 0, 1);
        assert_memory_equal(y->data, y1 + (int64_t)k * C * 49, sizeof(float) * C * 49);
        loss_dot_seed(&g, y, R + (int64_t)k * C * 49);
        graph_backward(&g);
        for (int64_t i = 0; i < x[level[k]]->n; i++) dref[off[level[k]] + i] += x[level[k]]->grad[i];
        graph_free(&g);
    }
    double e = test_rel_err(d1, dref, tot);
    print_message("roi_align_levels: dx vs per-roi calls %.2e\n", e);
    assert_true(e < 1e-6);
    omp_set_num_threads(1);
    free(y1), free(d1), free(y2), free(d2), free(dref);
    fd_free_leaves();
}

/* ------------------------------------------------------------------------------------------------ */
/* SingleRoIExtractor                                                                                */
static void test_roi_levels_hand(void **state) {
    (void)state;
    roi_extractor_config c;
    roi_extractor_config_default(&c, 7);
    assert_int_equal(c.n_levels, 4);
    assert_true(c.strides[0] == 4 && c.strides[3] == 32 && c.finest_scale == 56 && c.aligned && !c.sampling_ratio);
    /* scale = sqrt(w h): level floor(log2(scale / 56 + 1e-6)) clamped to 0..3 */
    static const float r[][5] = {
        {0, 0, 0, 10, 10},        /* 10: log2(0.18) < 0 -> 0 */
        {0, 0, 0, 111.9f, 111.9f}, /* 111.9 / 56 = 1.998 -> 0 */
        {0, 0, 0, 111.99f, 112},   /* 111.995 / 56 = 1.99991 (+1e-6 still < 2) -> 0 */
        {0, 0, 0, 111.9999f, 112}, /* 111.99995 / 56 = 1.9999991, + 1e-6 rounds to 2.0f: log2 0 -> 1 */
        {0, 0, 0, 112, 112},       /* 2 + 1e-6 -> 1 */
        {1, 0, 0, 448, 112},       /* sqrt(50176) = 224: 4 -> 2 */
        {0, 0, 0, 223, 224},       /* 223.5: 3.99 -> 1 */
        {0, 10, 10, 458, 458},     /* 448: 8 -> 3 */
        {0, 0, 0, 1000, 1000},     /* 17.9 -> 4, clamped to 3 */
        {0, 5, 5, 5, 20},          /* zero area: log2(1e-6) -> clamped to 0 */
        {0, 10, 0, 5, 10},         /* negative area: sqrt NaN, no level (-1) */
    };
    static const int want[] = {0, 0, 0, 1, 1, 2, 1, 3, 3, 0, -1};
    int K = (int)(sizeof r / sizeof r[0]), level[16];
    roi_extractor_map_levels(&c, &r[0][0], K, 4, level);
    for (int k = 0; k < K; k++)
        if (level[k] != want[k]) fail_msg("roi %d: level %d, want %d", k, level[k], want[k]);
    /* with 2 feature levels the clamp is at 1 */
    roi_extractor_map_levels(&c, &r[0][0], K, 2, level);
    for (int k = 0; k < K; k++) assert_int_equal(level[k], want[k] > 1 ? 1 : want[k]);
}

/* finest_scale 8 so that a 64 x 64 image reaches every level: scale < 16 -> 0, < 32 -> 1, < 64 -> 2, else 3 */
static const float ext_rois[][5] = {{0, 3, 4, 13, 12},  {1, 20, 8, 40, 26},  {0, 10, 20, 50, 60},  {1, 0, 0, 64, 64},
                                    {1, 40, 2, 52, 15}, {0, -8, -8, 60, 70}, {0, 33, 33, 34.5f, 35}, {1, 5, 40, 60, 50}};
/* scales sqrt(80) = 8.9, sqrt(360) = 19.0, 40, 64 (8 + 1e-6: log2 just above 3), sqrt(156) = 12.5, sqrt(5304) = 72.8,
 * sqrt(3) = 1.7, sqrt(550) = 23.5 */
static const int ext_levels[] = {0, 1, 2, 3, 0, 3, 0, 1};

static int fwd_extractor(graph *g, fd_case *c, tensor **out) {
    roi_extractor_config *q = c->user;
    out[0] = roi_extractor_forward(q, g, c->leaf, 4, c->leaf[4]);
    return 1;
}

static void test_roi_extractor(void **state) {
    (void)state;
    rng_seed(&fd_rng, 21);
    roi_extractor_config q;
    roi_extractor_config_default(&q, 5);
    q.finest_scale = 8;
    int K = (int)(sizeof ext_rois / sizeof ext_rois[0]), level[8];
    roi_extractor_map_levels(&q, &ext_rois[0][0], K, 4, level);
    for (int k = 0; k < K; k++)
        if (level[k] != ext_levels[k]) fail_msg("roi %d: level %d, want %d", k, level[k], ext_levels[k]);
    fd_case c = fd_case_new("roi_extractor 4 levels 5x5", fwd_extractor);
    c.user = &q;
    for (int l = 0; l < 4; l++) fd_add(&c, FD_LEAF(FD_ACT_GRAD, 1.0f, 2, 3, 16 >> l, 16 >> l));
    tensor *rois = FD_LEAF(FD_ACT_NOGRAD, 0.0f, K, 5);
    memcpy(rois->data, ext_rois, sizeof ext_rois);
    fd_add(&c, rois);
    c.elem_max = 300;
    fd_run(&c);
    print_message("roi_extractor: directional %.2e, elementwise %.2e\n", c.dir_err, c.elem_err);
    /* the forward is op_roi_align on each roi's level with spatial scale 1 / stride */
    graph g;
    graph_init(&g, 1 << 20);
    tensor *y = roi_extractor_forward(&q, &g, c.leaf, 4, rois);
    assert_int_equal(y->ndim, 4);
    assert_true(y->shape[0] == K && y->shape[1] == 3 && y->shape[2] == 5 && y->shape[3] == 5);
    for (int k = 0; k < K; k++) {
        int l = ext_levels[k];
        tensor *yk = op_roi_align(&g, c.leaf[l], rois_new(&g, ext_rois[k], 1), 5, 5, 1.0f / (4 << l), 0, 1);
        assert_memory_equal(yk->data, y->data + (int64_t)k * 75, sizeof(float) * 75);
    }
    /* one level: no mapping, every roi on level 0 */
    tensor *y1 = roi_extractor_forward(&q, &g, c.leaf, 1, rois);
    tensor *y0 = op_roi_align(&g, c.leaf[0], rois, 5, 5, 0.25f, 0, 1);
    assert_memory_equal(y1->data, y0->data, sizeof(float) * y0->n);
    /* a negative-area roi (no level, -1) gives zeros and no gradient; the roi beside it is pooled as usual */
    graph g2;
    graph_init(&g2, 1 << 20);
    static const float bad[2][5] = {{0, 10, 0, 5, 10}, {1, 0, 0, 64, 64}};
    for (int l = 0; l < 4; l++) c.leaf[l]->grad = NULL;
    tensor *yb = roi_extractor_forward(&q, &g2, c.leaf, 4, rois_new(&g2, &bad[0][0], 2));
    for (int i = 0; i < 75; i++) assert_true(yb->data[i] == 0.0f);
    assert_memory_equal(yb->data + 75, y->data + 3 * 75, sizeof(float) * 75); /* = ext_rois[3] */
    float *R = malloc(sizeof(float) * yb->n);
    assert_non_null(R);
    for (int i = 0; i < yb->n; i++) R[i] = 1.0f;
    loss_dot_seed(&g2, yb, R);
    graph_backward(&g2);
    free(R);
    assert_null(c.leaf[0]->grad); /* level 0 got nothing; level 3 got the second roi's gradient */
    assert_non_null(c.leaf[3]->grad);
    graph_free(&g2);
    graph_free(&g);
    fd_free_leaves();
}

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
    int k = snprintf(line, sizeof line, "golden %-30s op %-10s", file, r.method);
    for (int i = 0; i < r.n_groups && k < (int)sizeof line; i++)
        k += snprintf(line + k, sizeof line - k, " %s %.2e", r.groups[i].name, r.groups[i].max_err);
    print_message("%s\n", line);
    assert_int_equal(r.n_groups >= 2, 1);
}

static void test_roi_align_goldens(void **state) {
    (void)state;
    check_golden("roi_align_out7_scale0.25.h5");
    check_golden("roi_align_out7_scale0.125.h5");
    check_golden("roi_align_out14_scale0.25.h5");
    check_golden("roi_align_out14_scale0.125.h5");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roi_align_hand),   cmocka_unit_test(test_roi_align_brute),
        cmocka_unit_test(test_roi_align_fd),     cmocka_unit_test(test_roi_align_levels),
        cmocka_unit_test(test_roi_align_goldens), cmocka_unit_test(test_roi_levels_hand),
        cmocka_unit_test(test_roi_extractor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
