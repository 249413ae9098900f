/* norm_tuning.c - NormTuning (§4.4): every parameter whose name contains "norm" trains (all LayerNorms). */
#include "method.h"

static int norm_tuning_trainable(const char *name) { return name_contains(name, "norm"); }

const method method_norm_tuning = {
    .name = "norm_tuning", .summary = "names containing 'norm' (every LayerNorm)", .plug.trainable = norm_tuning_trainable};
