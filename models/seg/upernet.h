/* upernet.h - the ADE20K segmentor of the paper (docs/dense_spec.md 9, mona_spec.md 6.3): mmseg 0.11's
 * EncoderDecoder (mmseg/models/segmentors/encoder_decoder.py) with a Swin backbone (out indices from the config,
 * 0..3 for ADE20K, a tuning method plugged into its insertion points as in retinanet.h), UPerHead on every
 * backbone output (channels 512, pool scales 1,2,3,6) and an FCN auxiliary head on output 2 (channels 256,
 * loss weight 0.4), both with Dropout2d 0.1 and SyncBN (uper_head.h).
 *
 * Training (EncoderDecoder.forward_train): backbone, decode_head.forward_train and auxiliary_head.forward_train,
 * each BaseDecodeHead.losses: logits resized bilinear (align_corners False) to the label size, CrossEntropy with
 * ignore index 255 averaged over all pixels, the auxiliary loss times aux_loss_weight; the total is their sum.
 * Inference (whole mode, EncoderDecoder.encode_decode then whole_inference with rescale): the decode head's
 * logits resized bilinear to the image size, then to the requested output size.
 *
 * Parameters: backbone names as released (no prefix, as the classifier and RetinaNet), "decode_head.*",
 * "auxiliary_head.*" as mmseg names them; BN running statistics are buffers of the store (params.h). */
#ifndef DB_UPERNET_H
#define DB_UPERNET_H

#include "../swin.h"
#include "uper_head.h"

typedef struct upernet_config {
    swin_config backbone; /* out_mask, frozen_stages and drop_path_rate as given (ADE20K: 0xF, -1; 0.2 Mona / 0.3 others) */
    int num_classes;      /* 150 */
    int channels;         /* UPerHead channels, 512 */
    int aux_channels;     /* FCNHead channels, 256 */
    int aux_in_index;     /* FCNHead input among the backbone outputs, 2 */
    float aux_loss_weight;/* 0.4 */
    float dropout_ratio;  /* both heads, 0.1 */
    int ignore_index;     /* 255 */
    char norm[8];         /* "SyncBN" or "BN" (both BN over the batch on one process; recorded) */
} upernet_config;

/* The ADE20K config values (upernet_swin.py as the Mona ADE20K configs set it) on the given backbone: out indices
 * 0..3, frozen_stages -1, channels 512, aux 256 on output 2 with weight 0.4, dropout 0.1, ignore 255, SyncBN. */
void upernet_config_default(upernet_config *c, const swin_config *backbone, int num_classes);

typedef struct upernet {
    upernet_config cfg;
    params ps;
    swin bb;
    uper_head decode;
    fcn_head aux;
    int n_in;                  /* backbone outputs feeding the decode head */
    int in_stage[SWIN_STAGES]; /* their stages */
} upernet;

/* Declares the backbone (no prefix), decode_head.*, auxiliary_head.*; params_alloc inside. Aborts on an invalid
 * config (a norm other than SyncBN/BN, aux_in_index outside the outputs). */
void upernet_build(upernet *m, const upernet_config *cfg, const swin_plugin *plug);
/* The backbone's init, then the heads' (uper_head.h), from one seeded stream. */
void upernet_init(upernet *m, uint64_t seed);
void upernet_free(upernet *m);

/* Training: img (B, 3, H, W), label (B*H*W) uint8 at the image size, ignore_index (255) = ignore, any other value
 * < num_classes. *loss = decode + aux (a scalar tensor ready for backward); *loss_decode, *loss_aux (the aux one
 * already multiplied by its weight) and *acc_seg (the decode head's mmseg accuracy in percent) may be NULL.
 * -1 (err_set) for a label outside the classes, or a training batch too small for BatchNorm (the 1x1 pooled PPM
 * branch needs B >= 2, as torch's BatchNorm). */
int upernet_loss(upernet *m, graph *g, tensor *img, const uint8_t *label, tensor **loss, double *loss_decode, double *loss_aux,
                 double *acc_seg);
/* Inference (graph not training): (B, num_classes, out_h, out_w) logits of the decode head. */
tensor *upernet_logits(upernet *m, graph *g, tensor *img, int out_h, int out_w);

#endif
