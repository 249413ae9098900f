/* golden_op_det.c - golden-op/1 handlers for the detection building blocks (anchors, assigner, box coder,
 * NMS). */
#include "golden_op.h"

const golden_op_entry golden_ops_det[] = {
    {NULL, NULL},
};
