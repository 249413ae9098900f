/* golden_op_head.c - golden-op/1 handlers for whole heads (RetinaHead; later UPerHead and the others). */
#include "golden_op.h"

const golden_op_entry golden_ops_head[] = {
    {NULL, NULL},
};
