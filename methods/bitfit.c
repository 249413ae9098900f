/* bitfit.c - BitFit as the authors code it (§4.3): every parameter whose name contains "bias" trains,
 * which by substring also catches attn.relative_position_bias_table. */
#include "method.h"

static int bitfit_trainable(const char *name) { return name_contains(name, "bias"); }

const method method_bitfit = {.name = "bitfit",
                              .summary = "names containing 'bias' (biases and relative-position tables)",
                              .plug.trainable = bitfit_trainable};
