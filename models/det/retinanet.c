/* retinanet.c - Swin + FPN + RetinaHead (see retinanet.h). */
#include "retinanet.h"

#include <string.h>

#include "../../core/ops.h"

void retinanet_config_default(retinanet_config *c, const swin_config *backbone, int num_classes) {
    memset(c, 0, sizeof *c);
    c->backbone = *backbone;
    c->backbone.out_mask = 0xE; /* out_indices (1, 2, 3) */
    c->backbone.frozen_stages = 1;
    c->num_classes = num_classes;
    c->fpn_channels = 256;
    c->feat_channels = 256;
    c->num_outs = 5;
}

void retinanet_build(retinanet *d, const retinanet_config *cfg, const swin_plugin *plug) {
    memset(d, 0, sizeof *d);
    d->cfg = *cfg;
    params_init(&d->ps);
    swin_build(&d->bb, &d->ps, &cfg->backbone, plug);
    d->bb.token_outputs = 0;
    fpn_config fc = {0};
    d->n_in = swin_out_stages(&cfg->backbone, d->in_stage, fc.in_channels);
    fc.n_in = d->n_in;
    fc.out_channels = cfg->fpn_channels;
    fc.num_outs = cfg->num_outs;
    fc.extra = FPN_EXTRA_ON_INPUT;
    fpn_declare(&d->neck, &d->ps, &fc, "neck.");
    retina_head_config hc;
    retina_head_config_default(&hc, cfg->num_classes, cfg->fpn_channels, cfg->feat_channels);
    DB_ASSERT(hc.anchors.n_levels >= cfg->num_outs, "retinanet: %d outputs, %d anchor levels", cfg->num_outs, hc.anchors.n_levels);
    retina_head_declare(&d->head, &d->ps, &hc, "bbox_head.");
    params_alloc(&d->ps);
}

void retinanet_init(retinanet *d, uint64_t seed) {
    rng_t r;
    rng_seed(&r, seed);
    swin_init(&d->bb, &r);
    fpn_init(&d->neck, &r);
    retina_head_init(&d->head, &r);
}

void retinanet_free(retinanet *d) {
    swin_free(&d->bb);
    params_free(&d->ps);
}

void retinanet_forward(retinanet *d, graph *g, tensor *img, tensor **cls, tensor **reg) {
    swin_outputs o;
    swin_forward(&d->bb, g, img, &o);
    tensor *x[SWIN_STAGES], *feats[FPN_MAX_LEVELS];
    for (int i = 0; i < d->n_in; i++) x[i] = o.out[d->in_stage[i]]; /* (B, C_s, H_s, W_s) */
    fpn_forward(&d->neck, g, x, feats);
    retina_head_forward(&d->head, g, feats, d->cfg.num_outs, cls, reg);
}

int retinanet_loss(retinanet *d, graph *g, tensor *img, const det_img_meta *metas, const det_gt *gts, tensor **loss, double *loss_cls,
                   double *loss_bbox) {
    int L = d->cfg.num_outs, B = img->shape[0];
    tensor *cls[FPN_MAX_LEVELS], *reg[FPN_MAX_LEVELS], *lc[FPN_MAX_LEVELS], *lb[FPN_MAX_LEVELS];
    retinanet_forward(d, g, img, cls, reg);
    retina_targets t;
    if (retina_head_targets(&d->head, g, cls, L, metas, gts, B, &t)) return -1;
    retina_head_loss(&d->head, g, cls, reg, L, &t, lc, lb);
    tensor *sum = NULL;
    double sc = 0, sb = 0;
    for (int l = 0; l < L; l++) {
        sc += lc[l]->data[0], sb += lb[l]->data[0];
        tensor *s = op_add(g, lc[l], lb[l]);
        sum = sum ? op_add(g, sum, s) : s;
    }
    *loss = sum;
    if (loss_cls) *loss_cls = sc;
    if (loss_bbox) *loss_bbox = sb;
    return 0;
}

int retinanet_detect(retinanet *d, graph *g, tensor *img, const det_img_meta *metas, det_result *out) {
    int L = d->cfg.num_outs;
    tensor *cls[FPN_MAX_LEVELS], *reg[FPN_MAX_LEVELS];
    retinanet_forward(d, g, img, cls, reg);
    for (int l = 0; l < L; l++) graph_keep(g, cls[l]->data), graph_keep(g, reg[l]->data);
    return retina_head_get_bboxes(&d->head, cls, reg, L, metas, img->shape[0], 1, out);
}
