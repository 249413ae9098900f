/* golden_op_nn.c - golden-op/1 handlers for convolution, transposed convolution, pooling and the FPN neck. */
#include "golden_op.h"

const golden_op_entry golden_ops_nn[] = {
    {NULL, NULL},
};
