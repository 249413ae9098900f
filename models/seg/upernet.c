/* upernet.c - Swin + UPerHead + FCN auxiliary head (see upernet.h). */
#include "upernet.h"

#include <stdlib.h>
#include <string.h>

#include "../../core/ops.h"
#include "../../core/ops_nn.h"

void upernet_config_default(upernet_config *c, const swin_config *backbone, int num_classes) {
    memset(c, 0, sizeof *c);
    c->backbone = *backbone;
    c->backbone.out_mask = 0xF; /* out_indices (0, 1, 2, 3) */
    c->backbone.frozen_stages = -1;
    c->num_classes = num_classes;
    c->channels = 512;
    c->aux_channels = 256;
    c->aux_in_index = 2;
    c->aux_loss_weight = 0.4f;
    c->dropout_ratio = 0.1f;
    c->ignore_index = 255;
    snprintf(c->norm, sizeof c->norm, "SyncBN");
}

void upernet_build(upernet *m, const upernet_config *cfg, const swin_plugin *plug) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    DB_ASSERT(cfg->backbone.out_mask == 0xF, "upernet: the backbone must output all four stages (out_mask 0x%x)", cfg->backbone.out_mask);
    params_init(&m->ps);
    swin_build(&m->bb, &m->ps, &cfg->backbone, plug);
    m->bb.token_outputs = 0;
    int inch[SWIN_STAGES];
    for (int s = 0; s < SWIN_STAGES; s++) inch[s] = cfg->backbone.embed_dim << s;
    uper_head_config hc;
    uper_head_config_default(&hc, SWIN_STAGES, inch, cfg->channels, cfg->num_classes);
    hc.dropout_ratio = cfg->dropout_ratio;
    DB_ASSERT(!seg_norm_config_set(&hc.norm, cfg->norm), "upernet: norm '%s'", cfg->norm);
    uper_head_declare(&m->decode, &m->ps, &hc, "decode_head.");
    fcn_head_config fc;
    fcn_head_config_default(&fc, inch[cfg->aux_in_index], cfg->aux_channels, cfg->num_classes, cfg->aux_in_index);
    fc.dropout_ratio = cfg->dropout_ratio;
    DB_ASSERT(!seg_norm_config_set(&fc.norm, cfg->norm), "upernet: norm '%s'", cfg->norm);
    fcn_head_declare(&m->aux, &m->ps, &fc, "auxiliary_head.");
    params_alloc(&m->ps);
}

void upernet_init(upernet *m, uint64_t seed) {
    rng_t r;
    rng_seed(&r, seed);
    swin_init(&m->bb, &r);
    uper_head_init(&m->decode, &r);
    fcn_head_init(&m->aux, &r);
}

void upernet_free(upernet *m) {
    swin_free(&m->bb);
    params_free(&m->ps);
    free(m->label_buf);
    m->label_buf = NULL, m->label_cap = 0;
}

static void backbone_features(upernet *m, graph *g, tensor *img, tensor **x) {
    swin_outputs o;
    swin_forward(&m->bb, g, img, &o);
    for (int s = 0; s < SWIN_STAGES; s++) x[s] = o.out[s]; /* (B, C0 << s, H/4 >> s, W/4 >> s) */
}

int upernet_loss(upernet *m, graph *g, tensor *img, const uint8_t *label, tensor **loss, double *loss_decode, double *loss_aux,
                 double *acc_seg) {
    int B = img->shape[0], H = img->shape[2], W = img->shape[3];
    size_t n = (size_t)B * H * W;
    if (n > m->label_cap) {
        free(m->label_buf);
        m->label_buf = xmalloc(sizeof(int) * n);
        m->label_cap = n;
    }
    for (size_t i = 0; i < n; i++) {
        int v = label[i];
        if (v != m->cfg.ignore_index && v >= m->cfg.num_classes)
            return err_set("upernet: label %d at pixel %zu of the batch is neither a class (< %d) nor ignore (%d)", v, i, m->cfg.num_classes,
                           m->cfg.ignore_index);
        m->label_buf[i] = v;
    }
    tensor *x[SWIN_STAGES];
    backbone_features(m, g, img, x);
    tensor *dec = uper_head_forward(&m->decode, g, x); /* (B, K, H/4, W/4) */
    tensor *aux = fcn_head_forward(&m->aux, g, x);     /* (B, K, H/16, W/16) */
    tensor *ld = seg_decode_loss(g, dec, m->label_buf, H, W, m->cfg.ignore_index, 1.0f, acc_seg);
    tensor *la = seg_decode_loss(g, aux, m->label_buf, H, W, m->cfg.ignore_index, m->cfg.aux_loss_weight, NULL);
    *loss_decode = ld->data[0], *loss_aux = la->data[0];
    *loss = op_add(g, ld, la);
    return 0;
}

tensor *upernet_logits(upernet *m, graph *g, tensor *img, int out_h, int out_w) {
    tensor *x[SWIN_STAGES];
    backbone_features(m, g, img, x);
    tensor *dec = uper_head_forward(&m->decode, g, x);
    return op_interpolate(g, dec, out_h, out_w, INTERP_BILINEAR);
}
