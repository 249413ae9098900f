/* upernet.h - the ADE20K segmentor of the paper: mmseg 0.11's EncoderDecoder with a Swin backbone (out_indices
 * 0..3, frozen_stages -1, a tuning method plugged into its insertion points), UPerHead as the decode head and an
 * FCNHead on stage 2 as the auxiliary head (models/seg/uper_head.h). forward_train: both heads' losses
 * (BaseDecodeHead.losses, the auxiliary one x 0.4); whole-mode inference: the decode head's logits resized to the
 * input (encode_decode). Parameter names: backbone as released (no prefix, as the classifier and RetinaNet),
 * "decode_head.*", "auxiliary_head.*" as mmseg names them; BN running statistics are buffers of the store. */
#ifndef DB_UPERNET_H
#define DB_UPERNET_H

#include "../swin.h"
#include "uper_head.h"

typedef struct upernet_config {
    swin_config backbone;   /* out_mask and frozen_stages as given (the ADE20K config: 0xF and -1) */
    int num_classes;        /* 150 */
    int channels;           /* decode head, 512 */
    int aux_channels;       /* auxiliary head, 256 */
    int aux_in_index;       /* 2 */
    float aux_loss_weight;  /* 0.4 */
    float dropout_ratio;    /* 0.1, both heads */
    int ignore_index;       /* 255 */
    char norm[8];           /* "SyncBN" or "BN" */
} upernet_config;

/* The ADE20K config's values on the given backbone (out indices 0..3, frozen_stages -1). */
void upernet_config_default(upernet_config *c, const swin_config *backbone, int num_classes);

typedef struct upernet {
    upernet_config cfg;
    params ps;
    swin bb;
    uper_head decode;
    fcn_head aux;
    int *label_buf; /* the labels as ints for the loss (kept until backward) */
    size_t label_cap;
} upernet;

void upernet_build(upernet *m, const upernet_config *cfg, const swin_plugin *plug);
void upernet_init(upernet *m, uint64_t seed);
void upernet_free(upernet *m);

/* Training: img (B, 3, H, W), label (B*H*W) uint8 at the image size, 255 = ignore. *loss = decode + aux x weight
 * (a scalar ready for backward); the parts and the decode head's acc_seg (percent). -1 (err_set) on bad input. */
int upernet_loss(upernet *m, graph *g, tensor *img, const uint8_t *label, tensor **loss, double *loss_decode, double *loss_aux,
                 double *acc_seg);
/* Inference: the decode head's logits resized bilinear (align_corners False) to (out_h, out_w):
 * (B, num_classes, out_h, out_w). */
tensor *upernet_logits(upernet *m, graph *g, tensor *img, int out_h, int out_w);

#endif
