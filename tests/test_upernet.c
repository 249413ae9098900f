/* test_upernet.c - the ADE20K UperNet (models/seg/upernet.c) on a tiny Swin: finite differences through the whole
 * training loss (decode + 0.4 aux, labels with ignored pixels) for backbone and head parameters and the image;
 * BatchNorm in evaluation normalises with the running statistics (an image's logits do not depend on the rest of
 * the batch, and moving a running mean moves them), a training step updates the running statistics exactly as
 * torch does (checked against the statistics of the aux head's conv output computed here) and evaluation leaves
 * them alone; under Mona every head parameter trains, the counts match a hand count and never include the BN
 * buffers; Dropout2d acts in training and is off in evaluation; labels outside the classes and a batch of one in
 * training are errors. */
#include "fd_util.h"

#include "../core/ops_nn.h"
#include "../methods/method.h"
#include "../models/seg/upernet.h"

#define TINY "tiny:8:1,1,1,1:1,1,1,1:w2"
enum { K = 5, CH = 16, ACH = 8, IMG = 64 };

static void tiny_build(upernet *m, const char *mname, float dropout, uint64_t seed) {
    swin_config sc;
    assert_int_equal(swin_preset(TINY, &sc), 0);
    upernet_config c;
    upernet_config_default(&c, &sc, K);
    c.channels = CH;
    c.aux_channels = ACH;
    c.dropout_ratio = dropout;
    const method *me = method_find(mname);
    assert_non_null(me);
    upernet_build(m, &c, &me->plug);
    upernet_init(m, seed);
}

/* image (B, 3, 64, 64) and labels with about 1/6 ignored */
static tensor *make_img(int B, uint64_t seed) {
    rng_seed(&fd_rng, seed);
    return FD_LEAF(FD_ACT_GRAD, 1.0f, B, 3, IMG, IMG);
}
static uint8_t *make_label(int B, uint64_t seed) {
    rng_t r;
    rng_seed(&r, seed);
    uint8_t *l = fd_pool_add(malloc((size_t)B * IMG * IMG));
    for (int i = 0; i < B * IMG * IMG; i++) {
        int blk = ((i / IMG) / 8) * 8 + (i % IMG) / 8; /* 8x8 blocks of one label, so the resize matters */
        uint32_t h = (uint32_t)(blk * 2654435761u + (i / (IMG * IMG)) * 97u + (uint32_t)seed);
        l[i] = (h >> 7) % 6 == 5 ? 255 : (uint8_t)((h >> 11) % K);
    }
    (void)r;
    return l;
}

/* ---- finite differences through the whole loss ---- */
typedef struct {
    upernet *m;
    const uint8_t *label;
} fd_ctx;

static int fwd_loss(graph *g, fd_case *c, tensor **out) {
    fd_ctx *q = c->user;
    tensor *loss;
    assert_int_equal(upernet_loss(q->m, g, c->leaf[0], q->label, &loss, NULL, NULL, NULL), 0);
    out[0] = loss;
    return 1;
}

static void test_upernet_fd(void **state) {
    (void)state;
    upernet m;
    tiny_build(&m, "full", 0.3f, 11);
    /* the heads' BN affine parameters and conv_seg get non-trivial values (init is 1, 0 and std 0.01); the BN
     * shifts keep nearly every ReLU input above its kink by much more than the steps (fd_util.h: kinks must be
     * avoided), so the differences see a smooth function */
    rng_t r;
    rng_seed(&r, 3);
    for (int i = 0; i < m.ps.n; i++) {
        param *p = m.ps.p[i];
        if (strncmp(p->name, "decode_head.", 12) && strncmp(p->name, "auxiliary_head.", 15)) continue;
        if (strstr(p->name, ".bn.weight"))
            for (int64_t j = 0; j < p->t.n; j++) p->t.data[j] = 0.5f + 0.5f * rng_uniform(&r);
        else if (strstr(p->name, ".bn.bias"))
            for (int64_t j = 0; j < p->t.n; j++) p->t.data[j] = 2.5f + 0.3f * rng_normal(&r);
        else if (strstr(p->name, "conv_seg.bias"))
            for (int64_t j = 0; j < p->t.n; j++) p->t.data[j] = 0.2f * rng_normal(&r);
        else if (strstr(p->name, "conv_seg.weight"))
            for (int64_t j = 0; j < p->t.n; j++) p->t.data[j] = 0.3f * rng_normal(&r);
    }
    int B = 3; /* BN of the 1x1 pooled branch over B values: with 2 its output is +-1, a step where they cross */
    fd_ctx q = {&m, make_label(B, 5)};
    fd_case c = fd_case_new("upernet loss (decode + 0.4 aux, dropout 0.3, 255s)", fwd_loss);
    c.user = &q;
    c.training = 1; /* batch statistics, the same dropout planes in every evaluation (fd re-seeds the rng) */
    c.elem_max = 4;
    c.ndir = 2;
    /* float32 differences of a whole-network loss (~1.6) for single elements of small gradients: measured worst
     * 8e-3 directional, 2.8e-2 elementwise (layers.1 qkv); a missing or mis-scaled path errs by far more */
    c.tol = 4e-2f;
    fd_add(&c, make_img(B, 21));
    static const char *names[] = {"layers.1.blocks.0.attn.qkv.weight", "patch_embed.proj.weight", "norm3.weight",
                                  "decode_head.psp_modules.1.1.conv.weight", "decode_head.bottleneck.bn.weight",
                                  "decode_head.lateral_convs.0.conv.weight", "decode_head.fpn_convs.1.bn.bias",
                                  "decode_head.fpn_bottleneck.conv.weight", "decode_head.conv_seg.weight",
                                  "auxiliary_head.convs.0.conv.weight", "auxiliary_head.conv_seg.bias"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        param *p = params_find(&m.ps, names[i]);
        assert_non_null(p);
        assert_true(p->trainable);
        fd_add(&c, &p->t);
    }
    fd_run(&c);
    upernet_free(&m);
    fd_free_leaves();
}

/* ---- BatchNorm: evaluation uses the running statistics, training updates them ---- */
static void test_upernet_bn_eval(void **state) {
    (void)state;
    upernet m;
    tiny_build(&m, "full", 0.1f, 12);
    rng_t r;
    rng_seed(&r, 4);
    for (int64_t i = 0; i < m.ps.n_buf; i++) m.ps.buf[i] = 0.5f + 0.2f * rng_uniform(&r); /* means and vars > 0 */
    float *buf0 = malloc(sizeof(float) * m.ps.n_buf);
    memcpy(buf0, m.ps.buf, sizeof(float) * m.ps.n_buf);
    graph g;
    graph_init(&g, 1 << 24);
    g.training = 0;
    g.grad_mode = 0;
    tensor *a = make_img(2, 31), *b = make_img(2, 32);
    memcpy(b->data, a->data, sizeof(float) * 3 * IMG * IMG); /* the same first image, another second one */
    int64_t per = (int64_t)K * IMG * IMG;
    float *ya = malloc(sizeof(float) * 2 * per);
    tensor *y = upernet_logits(&m, &g, a, IMG, IMG);
    assert_int_equal(y->shape[1], K);
    memcpy(ya, y->data, sizeof(float) * 2 * per);
    graph_reset(&g);
    y = upernet_logits(&m, &g, b, IMG, IMG);
    for (int64_t i = 0; i < per; i++) assert_float_equal(y->data[i], ya[i], 1e-5 * (1 + fabsf(ya[i])));
    double d2 = 0;
    for (int64_t i = per; i < 2 * per; i++) d2 += fabs(y->data[i] - ya[i]);
    assert_true(d2 > 0); /* the second images differ */
    assert_memory_equal(m.ps.buf, buf0, sizeof(float) * m.ps.n_buf); /* evaluation leaves the buffers alone */
    /* moving the fpn_bottleneck running mean moves the logits */
    param *rm = params_find(&m.ps, "decode_head.fpn_bottleneck.bn.running_mean");
    assert_non_null(rm);
    assert_true(rm->is_buffer);
    for (int64_t i = 0; i < rm->t.n; i++) rm->t.data[i] += 0.5f;
    graph_reset(&g);
    y = upernet_logits(&m, &g, a, IMG, IMG);
    double dm = 0;
    for (int64_t i = 0; i < per; i++) dm += fabs(y->data[i] - ya[i]);
    assert_true(dm > 1e-3);
    /* in training the batch statistics couple the images: the first image's logits depend on the second */
    for (int64_t i = 0; i < rm->t.n; i++) rm->t.data[i] -= 0.5f;
    g.training = 1;
    graph_reset(&g);
    y = upernet_logits(&m, &g, a, IMG, IMG);
    memcpy(ya, y->data, sizeof(float) * per);
    graph_reset(&g);
    y = upernet_logits(&m, &g, b, IMG, IMG);
    double dt = 0;
    for (int64_t i = 0; i < per; i++) dt += fabs(y->data[i] - ya[i]);
    assert_true(dt > 1e-3);
    graph_free(&g);
    free(ya);
    free(buf0);
    upernet_free(&m);
    fd_free_leaves();
}

/* running = 0.9 running + 0.1 stat (unbiased variance) for the aux head's BN, against the conv output's
 * statistics worked out here in double; every module's buffers moved */
static void test_upernet_bn_running_update(void **state) {
    (void)state;
    upernet m;
    tiny_build(&m, "full", 0.0f, 13);
    graph g;
    graph_init(&g, 1 << 24);
    g.training = 1;
    int B = 2;
    tensor *img = make_img(B, 41);
    uint8_t *lab = make_label(B, 7);
    /* the aux BN's input: conv(stage-2 output) */
    swin_outputs o;
    swin_forward(&m.bb, &g, img, &o);
    tensor *xc = op_conv2d_ex(&g, o.out[2], m.aux.convs[0].w, NULL, 1, 1, 1, 1, 1, 1, 1);
    int C = xc->shape[1];
    int64_t HW = (int64_t)xc->shape[2] * xc->shape[3], N = B * HW;
    double mean[ACH], var[ACH];
    for (int ch = 0; ch < C; ch++) {
        double s = 0, s2 = 0;
        for (int b = 0; b < B; b++)
            for (int64_t i = 0; i < HW; i++) s += xc->data[((int64_t)b * C + ch) * HW + i];
        mean[ch] = s / N;
        for (int b = 0; b < B; b++)
            for (int64_t i = 0; i < HW; i++) {
                double d = xc->data[((int64_t)b * C + ch) * HW + i] - mean[ch];
                s2 += d * d;
            }
        var[ch] = s2 / (N - 1);
    }
    float *buf0 = malloc(sizeof(float) * m.ps.n_buf);
    memcpy(buf0, m.ps.buf, sizeof(float) * m.ps.n_buf);
    graph_reset(&g);
    tensor *loss;
    assert_int_equal(upernet_loss(&m, &g, img, lab, &loss, NULL, NULL, NULL), 0);
    param *rm = params_find(&m.ps, "auxiliary_head.convs.0.bn.running_mean"),
          *rv = params_find(&m.ps, "auxiliary_head.convs.0.bn.running_var");
    assert_non_null(rm);
    assert_non_null(rv);
    for (int ch = 0; ch < C; ch++) {
        assert_float_equal(rm->t.data[ch], 0.1 * mean[ch], 1e-5 * (1 + fabs(mean[ch])));
        assert_float_equal(rv->t.data[ch], 0.9 + 0.1 * var[ch], 1e-5 * (1 + var[ch]));
    }
    for (int j = 0; j < m.ps.n_buffers; j++) { /* every BN of both heads saw a batch */
        param *p = m.ps.b[j];
        int moved = 0;
        for (int64_t i = 0; i < p->t.n; i++) moved |= p->t.data[i] != buf0[p->offset + i];
        if (!moved) fail_msg("%s did not change in a training step", p->name);
    }
    free(buf0);
    graph_free(&g);
    upernet_free(&m);
    fd_free_leaves();
}

/* ---- parameters under a method ---- */
static int64_t cm_params(int cin, int cout, int k) { return (int64_t)cout * cin * k * k + 2 * cout; }

static void test_upernet_counts_mona(void **state) {
    (void)state;
    upernet m;
    tiny_build(&m, "mona", 0.1f, 14);
    int64_t dec = 4 * cm_params(64, CH, 1) + cm_params(64 + 4 * CH, CH, 3) + cm_params(8, CH, 1) + cm_params(16, CH, 1) +
                  cm_params(32, CH, 1) + 3 * cm_params(CH, CH, 3) + cm_params(4 * CH, CH, 3) + K * CH + K;
    int64_t aux = cm_params(32, ACH, 3) + K * ACH + K;
    assert_int_equal(params_count_prefix(&m.ps, "decode_head.", 0), dec);
    assert_int_equal(params_count_prefix(&m.ps, "decode_head.", 1), dec);
    assert_int_equal(params_count_prefix(&m.ps, "auxiliary_head.", 0), aux);
    assert_int_equal(params_count_prefix(&m.ps, "auxiliary_head.", 1), aux);
    /* buffers: 2 per BN channel, none counted as parameters */
    int64_t bn_ch = 4 * CH + CH + 3 * CH + 3 * CH + CH + ACH;
    assert_int_equal(m.ps.n_buf, 2 * bn_ch);
    int64_t heads = dec + aux, total = params_count(&m.ps, 0), train = params_count(&m.ps, 1);
    int64_t bb = total - heads;
    assert_true(bb > 0);
    /* Mona: the backbone's own weights are frozen, its Mona modules train, the heads train */
    assert_true(params_count_prefix(&m.ps, "layers.0.blocks.0.attn.", 1) == 0);
    assert_true(train > heads && train < total);
    assert_false(params_find(&m.ps, "layers.0.blocks.0.attn.qkv.weight")->trainable);
    for (int i = 0; i < m.ps.n; i++) {
        param *p = m.ps.p[i];
        if (!strncmp(p->name, "decode_head.", 12) || !strncmp(p->name, "auxiliary_head.", 15))
            if (!p->trainable) fail_msg("%s is a head parameter and must train", p->name);
    }
    assert_non_null(params_find(&m.ps, "decode_head.psp_modules.0.1.conv.weight"));
    assert_non_null(params_find(&m.ps, "auxiliary_head.convs.0.bn.running_var"));
    assert_null(params_find(&m.ps, "decode_head.conv_seg.running_mean"));
    upernet_free(&m);
}

/* ---- dropout: on in training, off in evaluation ---- */
static void test_upernet_dropout(void **state) {
    (void)state;
    upernet m;
    tiny_build(&m, "full", 0.5f, 15);
    /* conv_seg large enough that dropping planes shows in the loss */
    for (int64_t i = 0; i < m.decode.seg_w->n; i++) m.decode.seg_w->data[i] = 0.5f * (float)((i % 7) - 3);
    graph g;
    graph_init(&g, 1 << 24);
    tensor *img = make_img(2, 51);
    uint8_t *lab = make_label(2, 8);
    double l1, l2, l1b;
    tensor *loss;
    g.training = 1;
    rng_seed(&g.rng, 1);
    assert_int_equal(upernet_loss(&m, &g, img, lab, &loss, &l1, NULL, NULL), 0);
    graph_reset(&g);
    rng_seed(&g.rng, 2);
    assert_int_equal(upernet_loss(&m, &g, img, lab, &loss, &l2, NULL, NULL), 0);
    graph_reset(&g);
    rng_seed(&g.rng, 1);
    assert_int_equal(upernet_loss(&m, &g, img, lab, &loss, &l1b, NULL, NULL), 0);
    assert_true(l1 != l2);                    /* other planes dropped */
    assert_float_equal(l1, l1b, 1e-6 * l1);   /* the same planes with the same stream */
    g.training = 0;
    g.grad_mode = 0;
    int64_t n = 2 * (int64_t)K * IMG * IMG;
    float *y1 = malloc(sizeof(float) * n);
    graph_reset(&g);
    rng_seed(&g.rng, 1);
    tensor *y = upernet_logits(&m, &g, img, IMG, IMG);
    memcpy(y1, y->data, sizeof(float) * n);
    graph_reset(&g);
    rng_seed(&g.rng, 2);
    y = upernet_logits(&m, &g, img, IMG, IMG);
    assert_memory_equal(y->data, y1, sizeof(float) * n);
    /* another output size: (B, K, out_h, out_w) */
    graph_reset(&g);
    y = upernet_logits(&m, &g, img, 37, 50);
    assert_int_equal(y->ndim, 4);
    assert_int_equal(y->shape[1], K);
    assert_int_equal(y->shape[2], 37);
    assert_int_equal(y->shape[3], 50);
    free(y1);
    graph_free(&g);
    upernet_free(&m);
    fd_free_leaves();
}

/* ---- loss values and errors ---- */
static void test_upernet_loss_parts_and_errors(void **state) {
    (void)state;
    upernet m;
    tiny_build(&m, "full", 0.0f, 16);
    graph g;
    graph_init(&g, 1 << 24);
    g.training = 1;
    tensor *img = make_img(2, 61);
    uint8_t *lab = make_label(2, 9);
    tensor *loss;
    double ld, la, acc;
    assert_int_equal(upernet_loss(&m, &g, img, lab, &loss, &ld, &la, &acc), 0);
    assert_int_equal(loss->n, 1);
    assert_float_equal(loss->data[0], ld + la, 1e-6 * (ld + la));
    /* near-uniform logits at init (conv_seg std 0.01): CE about log K times the non-ignored share */
    int64_t n = 2 * IMG * IMG, ign = 0;
    for (int64_t i = 0; i < n; i++) ign += lab[i] == 255;
    double share = (double)(n - ign) / n;
    assert_true(ign > 0 && share < 1);
    assert_float_equal(ld, log(K) * share, 0.05 * log(K));
    assert_float_equal(la, 0.4 * log(K) * share, 0.05 * log(K));
    assert_true(acc >= 0 && acc <= 100 * share + 1e-9); /* ignored pixels count as wrong */
    /* a label outside the classes */
    uint8_t *bad = fd_pool_add(malloc(n));
    memcpy(bad, lab, n);
    bad[100] = K;
    graph_reset(&g);
    assert_int_equal(upernet_loss(&m, &g, img, bad, &loss, NULL, NULL, NULL), -1);
    assert_non_null(strstr(err_msg(), "label"));
    err_clear();
    /* one image in training: BatchNorm of the 1x1 pooled branch would see one value */
    tensor *one = make_img(1, 62);
    graph_reset(&g);
    assert_int_equal(upernet_loss(&m, &g, one, lab, &loss, NULL, NULL, NULL), -1);
    err_clear();
    /* ... which evaluation allows */
    g.training = 0;
    graph_reset(&g);
    assert_int_equal(upernet_loss(&m, &g, one, lab, &loss, NULL, NULL, NULL), 0);
    graph_free(&g);
    upernet_free(&m);
    fd_free_leaves();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upernet_fd),
        cmocka_unit_test(test_upernet_bn_eval),
        cmocka_unit_test(test_upernet_bn_running_update),
        cmocka_unit_test(test_upernet_counts_mona),
        cmocka_unit_test(test_upernet_dropout),
        cmocka_unit_test(test_upernet_loss_parts_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
