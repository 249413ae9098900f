/* fixed.c - the backbone is frozen entirely; only the task head trains (SwinTransformer_fixed, §4.2). */
#include "method.h"

static int fixed_trainable(const char *name) { return 0; }

const method method_fixed = {.name = "fixed", .summary = "frozen backbone, head only", .plug.trainable = fixed_trainable};
