/* full.c - full fine-tuning: every backbone parameter trains (SwinTransformer in the Mona repo, §4.1). */
#include "method.h"

static int full_trainable(const char *name) { return 1; }

const method method_full = {
    .name = "full", .summary = "full fine-tuning: every backbone parameter", .plug.trainable = full_trainable};
