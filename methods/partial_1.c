/* partial_1.c - Partial-1 (§4.5): the last block of the last stage trains, selected as the authors do by
 * the substring 'layers.3.blocks.1' (the output norm norm3 stays frozen). */
#include "method.h"

static int partial_1_trainable(const char *name) { return name_contains(name, "layers.3.blocks.1"); }

const method method_partial_1 = {
    .name = "partial_1", .summary = "last block of the last stage ('layers.3.blocks.1')", .plug.trainable = partial_1_trainable};
