/* uper_head.h - the decode heads of the ADE20K UperNet, as mmseg 0.11 builds them (the Swin segmentation fork
 * of the Mona repository, Swin-Transformer-Semantic-Segmentation/mmseg/models/decode_heads/):
 *
 *   UPerHead (uper_head.py, with PPM from psp_head.py): pyramid pooling on the last input (per pool scale
 *   adaptive average pooling, a 1x1 ConvModule, bilinear resize back, align_corners False), concatenated with
 *   that input, `bottleneck` 3x3 ConvModule; 1x1 `lateral_convs` on the other inputs; top-down
 *   lat[i-1] = lat[i-1] + bilinear(lat[i], size of lat[i-1]); 3x3 `fpn_convs` on every level but the last
 *   (which is the bottleneck output itself); all resized (bilinear) to level 0 and concatenated in level order;
 *   `fpn_bottleneck` 3x3 ConvModule; then BaseDecodeHead.cls_seg (decode_head.py): Dropout2d(dropout_ratio)
 *   and `conv_seg`, a 1x1 conv with bias.
 *   FCNHead (fcn_head.py): num_convs ConvModules (kernel k, padding k/2 * dilation, dilation) on the input
 *   in_index, optionally `conv_cat` on cat[input, output] (concat_input), then cls_seg.
 *
 * Every ConvModule (mmcv 1.3 cnn/bricks/conv_module.py) is conv without bias (a norm follows) + BatchNorm +
 * ReLU. BatchNorm: batch statistics (biased variance) when the graph is training, with the running statistics
 * updated (running = (1 - momentum) running + momentum stat, unbiased variance; momentum 0.1, eps 1e-5), the
 * running statistics when it is not. The running statistics are buffers of the parameter store
 * (params_add_buffer), named as torch's state dict names them ("<m>.bn.running_mean", "<m>.bn.running_var").
 * norm "SyncBN" or "BN": on one process SyncBN is BN over the whole batch, so both compute BN here; the field
 * is kept (and recorded) so that a data-parallel all-reduce of the batch statistics can be added at one place,
 * seg_conv_module_forward.
 *
 * Parameter names are mmseg's, under a prefix ("decode_head.", "auxiliary_head.", "" for the goldens):
 * "psp_modules.<i>.1.conv.weight", "psp_modules.<i>.1.bn.{weight,bias}", "bottleneck.*", "lateral_convs.<i>.*",
 * "fpn_convs.<i>.*", "fpn_bottleneck.*", "convs.<i>.*", "conv_cat.*", "conv_seg.{weight,bias}".
 * Initialisation: ConvModule.init_weights (mmcv 1.3): kaiming_init(conv) = kaiming normal, mode fan_out,
 * nonlinearity relu (std sqrt(2 / (Cout k k))), constant_init(bn, 1, bias 0); BaseDecodeHead.init_weights:
 * normal_init(conv_seg, std 0.01), bias 0. Running statistics start at torch's defaults (mean 0, var 1). */
#ifndef DB_UPER_HEAD_H
#define DB_UPER_HEAD_H

#include "../../core/params.h"

#define UPER_MAX_LEVELS 8
#define UPER_MAX_POOLS 8
#define FCN_MAX_CONVS 8

/* the norm of every ConvModule of a head */
typedef struct seg_norm_config {
    char type[8];   /* "SyncBN" or "BN" (both BN over the batch on one process) */
    float eps;      /* 1e-5 */
    float momentum; /* 0.1 */
} seg_norm_config;

/* ConvModule(conv no bias, BN, ReLU) */
typedef struct seg_conv_module {
    tensor *w;                          /* (Cout, Cin, k, k) */
    tensor *bn_w, *bn_b;                /* (Cout) */
    tensor *running_mean, *running_var; /* buffers (Cout) */
    int pad, dil;
    seg_norm_config norm;
} seg_conv_module;

typedef struct uper_head_config {
    int n_in;                         /* inputs (multiple_select over in_index) */
    int in_channels[UPER_MAX_LEVELS];
    int channels;                     /* 512 */
    int n_pool;
    int pool_scales[UPER_MAX_POOLS];  /* 1, 2, 3, 6 */
    int num_classes;
    float dropout_ratio;              /* 0.1 */
    seg_norm_config norm;
} uper_head_config;

typedef struct uper_head {
    uper_head_config cfg;
    seg_conv_module psp[UPER_MAX_POOLS], bottleneck, lateral[UPER_MAX_LEVELS], fpn[UPER_MAX_LEVELS], fpn_bottleneck;
    tensor *seg_w, *seg_b; /* conv_seg (num_classes, channels, 1, 1), (num_classes) */
} uper_head;

typedef struct fcn_head_config {
    int in_channels, channels, num_classes;
    int in_index;      /* which input of the list the head reads (2: Swin stage 2) */
    int num_convs;     /* 1 (0: the input itself, in_channels == channels) */
    int kernel_size;   /* 3 */
    int dilation;      /* 1 */
    int concat_input;  /* 0 */
    float dropout_ratio;
    seg_norm_config norm;
} fcn_head_config;

typedef struct fcn_head {
    fcn_head_config cfg;
    seg_conv_module convs[FCN_MAX_CONVS], conv_cat;
    tensor *seg_w, *seg_b;
} fcn_head;

/* "SyncBN" or "BN" with eps 1e-5, momentum 0.1; -1 (err_set) for any other type. */
int seg_norm_config_set(seg_norm_config *n, const char *type);

/* mmseg's defaults: UPerHead pool scales 1,2,3,6, dropout 0.1, SyncBN; n_in inputs of in_channels. */
void uper_head_config_default(uper_head_config *c, int n_in, const int *in_channels, int channels, int num_classes);
void uper_head_declare(uper_head *h, params *ps, const uper_head_config *cfg, const char *prefix);
void uper_head_init(uper_head *h, rng_t *r);
/* x[i] (B, in_channels[i], H_i, W_i), i < n_in -> seg_logit (B, num_classes, H_0, W_0). BN trains (and updates
 * the running statistics) when g->training, as does the dropout. */
tensor *uper_head_forward(const uper_head *h, graph *g, tensor *const *x);

/* FCNHead defaults: num_convs 1, kernel 3, dilation 1, concat_input 0, dropout 0.1, SyncBN. */
void fcn_head_config_default(fcn_head_config *c, int in_channels, int channels, int num_classes, int in_index);
void fcn_head_declare(fcn_head *h, params *ps, const fcn_head_config *cfg, const char *prefix);
void fcn_head_init(fcn_head *h, rng_t *r);
/* x[in_index] (B, in_channels, H, W) -> (B, num_classes, H, W) */
tensor *fcn_head_forward(const fcn_head *h, graph *g, tensor *const *x);

/* BaseDecodeHead.losses (decode_head.py) for one head: seg_logit (N, C, h, w) resized bilinear (align_corners
 * False) to the label size H x W, then CrossEntropyLoss(use_sigmoid False) with ignore_index, the mean over all
 * N*H*W pixels (ignored ones included), times loss_weight -> (1). label (N*H*W) stays caller memory until
 * backward. *acc_seg (if not NULL): mmseg 0.11 accuracy (losses/accuracy.py), 100 * #(argmax == label) / (N*H*W),
 * the first maximum winning ties; ignored pixels count as wrong. */
tensor *seg_decode_loss(graph *g, tensor *seg_logit, const int *label, int H, int W, int ignore_index, float loss_weight,
                        double *acc_seg);

#endif
