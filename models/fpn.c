/* fpn.c - the FPN neck (see fpn.h). */
#include "fpn.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../core/init.h"
#include "../core/ops.h"
#include "../core/ops_nn.h"

int fpn_extra_parse(const char *s, int *extra) {
    if (!strcmp(s, "on_input") || !strcmp(s, "True") || !strcmp(s, "true")) *extra = FPN_EXTRA_ON_INPUT;
    else if (!strcmp(s, "on_lateral")) *extra = FPN_EXTRA_ON_LATERAL;
    else if (!strcmp(s, "on_output")) *extra = FPN_EXTRA_ON_OUTPUT;
    else if (!strcmp(s, "none") || !strcmp(s, "False") || !strcmp(s, "false") || !strcmp(s, "0")) *extra = FPN_EXTRA_NONE;
    else return err_set("FPN add_extra_convs '%s': expected on_input, on_lateral, on_output or none", s);
    return 0;
}

static void conv_decl(params *ps, const char *prefix, const char *kind, int i, int cout, int cin, int k, tensor **w, tensor **b) {
    char name[160];
    snprintf(name, sizeof name, "%s%s.%d.conv.weight", prefix, kind, i);
    *w = params_add(ps, name, 4, (int[]){cout, cin, k, k});
    snprintf(name, sizeof name, "%s%s.%d.conv.bias", prefix, kind, i);
    *b = params_add(ps, name, 1, (int[]){cout});
}

void fpn_declare(fpn *f, params *ps, const fpn_config *cfg, const char *prefix) {
    memset(f, 0, sizeof *f);
    DB_ASSERT(cfg->n_in >= 1 && cfg->n_in <= cfg->num_outs && cfg->num_outs <= FPN_MAX_LEVELS, "fpn: %d inputs, %d outputs", cfg->n_in,
              cfg->num_outs);
    f->cfg = *cfg;
    int C = cfg->out_channels;
    for (int i = 0; i < cfg->n_in; i++) conv_decl(ps, prefix, "lateral_convs", i, C, cfg->in_channels[i], 1, &f->lat_w[i], &f->lat_b[i]);
    for (int i = 0; i < cfg->n_in; i++) conv_decl(ps, prefix, "fpn_convs", i, C, C, 3, &f->out_w[i], &f->out_b[i]);
    if (cfg->extra != FPN_EXTRA_NONE)
        for (int i = cfg->n_in; i < cfg->num_outs; i++) {
            int cin = i == cfg->n_in && cfg->extra == FPN_EXTRA_ON_INPUT ? cfg->in_channels[cfg->n_in - 1] : C;
            conv_decl(ps, prefix, "fpn_convs", i, C, cin, 3, &f->out_w[i], &f->out_b[i]);
        }
}

static void xavier_uniform(tensor *w, rng_t *r) {
    int fan_in = w->shape[1] * w->shape[2] * w->shape[3], fan_out = w->shape[0] * w->shape[2] * w->shape[3];
    init_uniform(w, sqrtf(6.0f / (float)(fan_in + fan_out)), r);
}

void fpn_init(fpn *f, rng_t *r) {
    for (int i = 0; i < FPN_MAX_LEVELS; i++) {
        if (f->lat_w[i]) xavier_uniform(f->lat_w[i], r), init_const(f->lat_b[i], 0.0f);
        if (f->out_w[i]) xavier_uniform(f->out_w[i], r), init_const(f->out_b[i], 0.0f);
    }
}

static tensor *conv(graph *g, tensor *x, tensor *w, tensor *b, int stride) {
    int k = w->shape[2];
    return op_conv2d_ex(g, x, w, b, stride, stride, k / 2, k / 2, 1, 1, 1);
}

void fpn_forward(const fpn *f, graph *g, tensor *const *x, tensor **out) {
    const fpn_config *c = &f->cfg;
    int L = c->n_in;
    tensor *lat[FPN_MAX_LEVELS];
    for (int i = 0; i < L; i++) lat[i] = conv(g, x[i], f->lat_w[i], f->lat_b[i], 1); /* (B, C, H_i, W_i) */
    /* top-down: lateral_{i-1} += nearest(lateral_i, size of lateral_{i-1}), coarsest first */
    for (int i = L - 1; i > 0; i--)
        lat[i - 1] = op_add(g, lat[i - 1], op_interpolate(g, lat[i], lat[i - 1]->shape[2], lat[i - 1]->shape[3], INTERP_NEAREST));
    for (int i = 0; i < L; i++) out[i] = conv(g, lat[i], f->out_w[i], f->out_b[i], 1);
    for (int i = L; i < c->num_outs; i++) {
        if (c->extra == FPN_EXTRA_NONE) {
            out[i] = op_max_pool2d(g, out[i - 1], 1, 2, 0, 0); /* F.max_pool2d(outs[-1], 1, stride=2) */
            continue;
        }
        tensor *src;
        if (i == L) src = c->extra == FPN_EXTRA_ON_INPUT ? x[L - 1] : c->extra == FPN_EXTRA_ON_LATERAL ? lat[L - 1] : out[L - 1];
        else src = c->relu_before_extra_convs ? op_relu(g, out[i - 1]) : out[i - 1];
        out[i] = conv(g, src, f->out_w[i], f->out_b[i], 2);
    }
}
