/* upernet.c - Swin + UPerHead + FCN auxiliary head, mmseg 0.11 EncoderDecoder (see upernet.h). */
#include "upernet.h"

#include <stdio.h>
#include <string.h>

#include "../../core/ops.h"
#include "../../core/ops_nn.h"

void upernet_config_default(upernet_config *c, const swin_config *backbone, int num_classes) {
    memset(c, 0, sizeof *c);
    c->backbone = *backbone;
    c->backbone.out_mask = 0xF;      /* out_indices (0, 1, 2, 3) */
    c->backbone.frozen_stages = -1;  /* the segmentation Swin's default; the method decides what trains */
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
    seg_norm_config norm;
    DB_ASSERT(seg_norm_config_set(&norm, cfg->norm) == 0, "upernet: norm '%s' (SyncBN or BN)", cfg->norm);
    params_init(&m->ps);
    swin_build(&m->bb, &m->ps, &cfg->backbone, plug);
    m->bb.token_outputs = 0;
    int inch[SWIN_STAGES];
    m->n_in = swin_out_stages(&cfg->backbone, m->in_stage, inch);
    DB_ASSERT(m->n_in >= 1 && cfg->aux_in_index >= 0 && cfg->aux_in_index < m->n_in, "upernet: %d outputs, aux_in_index %d", m->n_in,
              cfg->aux_in_index);
    uper_head_config hc;
    uper_head_config_default(&hc, m->n_in, inch, cfg->channels, cfg->num_classes);
    hc.dropout_ratio = cfg->dropout_ratio;
    hc.norm = norm;
    uper_head_declare(&m->decode, &m->ps, &hc, "decode_head.");
    fcn_head_config ac;
    fcn_head_config_default(&ac, inch[cfg->aux_in_index], cfg->aux_channels, cfg->num_classes, cfg->aux_in_index);
    ac.dropout_ratio = cfg->dropout_ratio;
    ac.norm = norm;
    fcn_head_declare(&m->aux, &m->ps, &ac, "auxiliary_head.");
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
}

/* EncoderDecoder.extract_feat: the backbone outputs in out_indices order, (B, C_s, H_s, W_s) each */
static void extract_feat(upernet *m, graph *g, tensor *img, tensor **x) {
    swin_outputs o;
    swin_forward(&m->bb, g, img, &o);
    for (int i = 0; i < m->n_in; i++) x[i] = o.out[m->in_stage[i]];
}

int upernet_loss(upernet *m, graph *g, tensor *img, const uint8_t *label, tensor **loss, double *loss_decode, double *loss_aux,
                 double *acc_seg) {
    const upernet_config *c = &m->cfg;
    DB_ASSERT(img->ndim == 4, "upernet_loss: img must be (B, 3, H, W)");
    int B = img->shape[0], H = img->shape[2], W = img->shape[3];
    int min_scale = m->decode.cfg.pool_scales[0];
    for (int i = 1; i < m->decode.cfg.n_pool; i++)
        if (m->decode.cfg.pool_scales[i] < min_scale) min_scale = m->decode.cfg.pool_scales[i];
    if (g->training && (int64_t)B * min_scale * min_scale < 2)
        return err_set("upernet: a training batch of %d image(s) gives BatchNorm one value per channel in the %dx%d pooled branch "
                       "(torch rejects it too): use a batch of at least 2", B, min_scale, min_scale);
    int64_t n = (int64_t)B * H * W;
    int *lab = arena_alloc(&g->mem, sizeof(int) * (size_t)n); /* must live until backward: the step's arena */
    for (int64_t i = 0; i < n; i++) {
        int v = label[i];
        if (v != c->ignore_index && v >= c->num_classes)
            return err_set("upernet: label %d at pixel %lld: neither a class (< %d) nor ignore_index %d", v, (long long)i,
                           c->num_classes, c->ignore_index);
        lab[i] = v;
    }
    tensor *x[SWIN_STAGES];
    extract_feat(m, g, img, x);
    tensor *dec = uper_head_forward(&m->decode, g, x); /* (B, K, H/4, W/4) */
    tensor *aux = fcn_head_forward(&m->aux, g, x);     /* (B, K, H/16, W/16) */
    double acc = 0;
    tensor *ld = seg_decode_loss(g, dec, lab, H, W, c->ignore_index, 1.0f, &acc);
    tensor *la = seg_decode_loss(g, aux, lab, H, W, c->ignore_index, c->aux_loss_weight, NULL);
    if (loss_decode) *loss_decode = ld->data[0];
    if (loss_aux) *loss_aux = la->data[0];
    if (acc_seg) *acc_seg = acc;
    *loss = op_add(g, ld, la);
    return 0;
}

tensor *upernet_logits(upernet *m, graph *g, tensor *img, int out_h, int out_w) {
    DB_ASSERT(img->ndim == 4 && out_h > 0 && out_w > 0, "upernet_logits: img (B, 3, H, W), output %dx%d", out_h, out_w);
    tensor *x[SWIN_STAGES];
    extract_feat(m, g, img, x);
    tensor *y = uper_head_forward(&m->decode, g, x);
    int H = img->shape[2], W = img->shape[3];
    y = op_interpolate(g, y, H, W, INTERP_BILINEAR); /* encode_decode: to the input image size */
    if (out_h != H || out_w != W) y = op_interpolate(g, y, out_h, out_w, INTERP_BILINEAR); /* whole_inference rescale */
    return y;
}
