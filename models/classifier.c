/* classifier.c - Swin + global average pooling + linear head (see classifier.h). */
#include "classifier.h"

#include <string.h>

#include "../core/init.h"

void classifier_build(classifier *c, const swin_config *cfg, const swin_plugin *m, int num_classes) {
    memset(c, 0, sizeof *c);
    swin_config bc = *cfg;
    bc.out_mask = 1 << (SWIN_STAGES - 1);
    params_init(&c->ps);
    swin_build(&c->bb, &c->ps, &bc, m);
    c->bb.token_outputs = 1;
    int C = bc.embed_dim << (SWIN_STAGES - 1);
    c->head_w = params_add(&c->ps, "head.fc.weight", 2, (int[]){num_classes, C});
    c->head_b = params_add(&c->ps, "head.fc.bias", 1, (int[]){num_classes});
    c->num_classes = num_classes;
    params_alloc(&c->ps);
}

void classifier_init(classifier *c, uint64_t seed) {
    rng_t r;
    rng_seed(&r, seed);
    swin_init(&c->bb, &r);
    for (int64_t i = 0; i < c->head_w->n; i++) c->head_w->data[i] = 0.01f * rng_normal(&r);
    init_const(c->head_b, 0.0f);
}

void classifier_free(classifier *c) {
    swin_free(&c->bb);
    params_free(&c->ps);
}

tensor *classifier_forward(classifier *c, graph *g, tensor *img) {
    swin_outputs o;
    swin_forward(&c->bb, g, img, &o);
    tensor *feat = op_mean_tokens(g, o.out[SWIN_STAGES - 1]); /* (B, C) */
    return op_linear(g, feat, c->head_w, c->head_b);
}
