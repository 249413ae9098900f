/* ckpt_internal.h - helpers shared by the checkpoint readers (safetensors.c, pickle.c, checkpoint.c):
 * dtype table and conversion of raw little-endian element data to float32. Not a public API. */
#ifndef DB_CKPT_INTERNAL_H
#define DB_CKPT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "checkpoint.h"

typedef enum { DT_F32 = 0, DT_F16, DT_BF16, DT_F64, DT_I64, DT_I32, DT_I16, DT_I8, DT_U8, DT_BOOL, DT_COUNT } ckpt_dtype;

/* Element size in bytes. */
int ckpt_dtype_size(ckpt_dtype d);
/* Safetensors name ("F32", ...). */
const char *ckpt_dtype_name(ckpt_dtype d);
/* From a safetensors dtype name; -1 when unknown. */
int ckpt_dtype_from_name(const char *s);
/* Convert n elements starting at src (any alignment, little-endian) to float32. */
void ckpt_convert(ckpt_dtype d, const void *src, float *dst, int64_t n);
/* Append a tensor (takes ownership of data) to sd. */
ckpt_tensor *ckpt_tensors_push(ckpt_tensors *sd, const char *name, ckpt_dtype d, int ndim, const int64_t *shape,
                               float *data);
void ckpt_tensors_add_meta(ckpt_tensors *sd, const char *key, const char *val);

#endif
