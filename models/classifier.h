/* classifier.h - the classification model of the paper's classification table (mmcls ImageClassifier):
 * Swin backbone with out_indices (3,), global average pooling, LinearClsHead (init N(0, 0.01), bias 0).
 * Backbone parameters keep their official names; the head is "head.fc.weight" / "head.fc.bias" as mmcls
 * names it. */
#ifndef DB_CLASSIFIER_H
#define DB_CLASSIFIER_H

#include "swin.h"

typedef struct classifier {
    swin bb;
    params ps;
    tensor *head_w, *head_b;
    int num_classes;
} classifier;

/* Declare the backbone (cfg->out_mask is forced to the last stage) with the tuning method's plug-in, and the head, then
 * allocate the parameter blocks. */
void classifier_build(classifier *c, const swin_config *cfg, const swin_plugin *m, int num_classes);
/* Random initialisation of everything (backbone as swin_init, head N(0, 0.01)). */
void classifier_init(classifier *c, uint64_t seed);
void classifier_free(classifier *c);
/* img (B, 3, H, W) -> logits (B, num_classes) */
tensor *classifier_forward(classifier *c, graph *g, tensor *img);

#endif
