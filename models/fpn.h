/* fpn.h - mmdet 2.11's FPN neck (mmdet/models/necks/fpn.py): 1x1 lateral convs, a top-down path that adds
 * the nearest-resized coarser lateral (resized to the finer lateral's exact size, so odd sizes work), a 3x3
 * output conv per level, and extra levels above the last input: strided 3x3 convs on the last input
 * ('on_input', the VOC RetinaNet and STAR setting), on the last lateral ('on_lateral') or on the last output
 * ('on_output'), optionally with a ReLU before each extra conv after the first, or, without extra convs,
 * max pooling with kernel 1 and stride 2 (the COCO Cascade Mask R-CNN setting). Every ConvModule is a conv
 * with bias, no norm and no activation, as the configs of the paper build them.
 *
 * Parameter names are the module's own ("<prefix>lateral_convs.<i>.conv.weight", "<prefix>fpn_convs.<j>.conv.bias",
 * the extra convs continuing the fpn_convs numbering), so mmdet checkpoints and the golden load as they are.
 * Initialisation: xavier uniform weights, zero biases (mmdet's FPN.init_weights). */
#ifndef DB_FPN_H
#define DB_FPN_H

#include "../core/params.h"

#define FPN_MAX_LEVELS 8

enum { FPN_EXTRA_NONE = 0, FPN_EXTRA_ON_INPUT, FPN_EXTRA_ON_LATERAL, FPN_EXTRA_ON_OUTPUT };

typedef struct fpn_config {
    int n_in;                       /* backbone levels used (from start_level on) */
    int in_channels[FPN_MAX_LEVELS];
    int out_channels;
    int num_outs;                   /* >= n_in; the levels above the inputs are extra */
    int extra;                      /* FPN_EXTRA_* (NONE: max-pool levels) */
    int relu_before_extra_convs;
} fpn_config;

typedef struct fpn {
    fpn_config cfg;
    tensor *lat_w[FPN_MAX_LEVELS], *lat_b[FPN_MAX_LEVELS];
    tensor *out_w[FPN_MAX_LEVELS], *out_b[FPN_MAX_LEVELS]; /* n_in output convs, then the extra convs */
} fpn;

/* Parse "on_input" / "on_lateral" / "on_output" / "none" (mmdet's add_extra_convs; "True" means on_input
 * as mmdet 2.11's legacy extra_convs_on_inputs default). -1 (err_set) for anything else. */
int fpn_extra_parse(const char *s, int *extra);
/* Declare the parameters under prefix ("neck." in a detector, "" for the golden). */
void fpn_declare(fpn *f, params *ps, const fpn_config *cfg, const char *prefix);
/* xavier uniform (gain 1) weights, zero biases. */
void fpn_init(fpn *f, rng_t *r);
/* x[i] (B, in_channels[i], H_i, W_i), i < n_in -> out[j] (B, out_channels, H'_j, W'_j), j < num_outs */
void fpn_forward(const fpn *f, graph *g, tensor *const *x, tensor **out);

#endif
