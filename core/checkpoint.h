/* checkpoint.h - reading pretrained weights (.safetensors and PyTorch .pth zip archives), mapping them
 * onto the parameter store with an mmcv-style report of unexpected and missing keys, and writing and
 * reading deltabench's own checkpoints: delta checkpoints (only the trainable parameters plus metadata,
 * a .safetensors file) and training-state checkpoints for resume (delta + optimiser state + counters +
 * random-generator state). Every file is written atomically.
 *
 * Formats read:
 *  - safetensors: 8-byte little-endian header length, a JSON header {name: {dtype, shape,
 *    data_offsets}, "__metadata__": {str: str}}, raw little-endian data. F32, F16, BF16, F64 (and the
 *    integer types I64, I32, I16, I8, U8, BOOL) are converted to float32.
 *  - .pth as written by torch.save >= 1.6: a zip archive holding <archive>/data.pkl (pickle protocol 2-5)
 *    and one raw file <archive>/data/<key> per storage. The unpickler implements the opcodes torch.save
 *    emits (it never executes code: classes are recorded by name) and understands
 *    torch._utils._rebuild_tensor_v2 / _rebuild_tensor / _rebuild_parameter with persistent-id storage
 *    tuples, honouring sizes, strides and storage offsets (shared storages included). The state dict
 *    is the top-level dict, or its "state_dict" or "model" entry when that is a dict; entries that are
 *    not tensors (ints, strings, lists, nested dicts) are skipped and counted. Anything else fails with
 *    a message naming the file, the pickle opcode and its byte offset. The pre-1.6 legacy format is
 *    detected and refused with a clear message. */
#ifndef DB_CHECKPOINT_H
#define DB_CHECKPOINT_H

#include <stdint.h>

#include "common.h"
#include "optim.h"
#include "params.h"

#define CKPT_MAX_DIMS 8

typedef struct ckpt_tensor {
    char *name;    /* key as in the file */
    char dtype[8]; /* dtype in the file: "F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL" */
    int ndim;
    int64_t shape[CKPT_MAX_DIMS];
    int64_t n;     /* number of elements */
    float *data;   /* contiguous row-major float32 (malloc'd; NULL when n == 0) */
} ckpt_tensor;

typedef struct ckpt_tensors {
    ckpt_tensor *t;
    int n, cap;
    char **meta_key, **meta_val; /* safetensors __metadata__ (string -> string) */
    int n_meta;
    int n_skipped; /* non-tensor entries of a .pth state dict */
} ckpt_tensors;

void ckpt_tensors_init(ckpt_tensors *sd);
void ckpt_tensors_free(ckpt_tensors *sd);
const ckpt_tensor *ckpt_tensors_find(const ckpt_tensors *sd, const char *name);
const char *ckpt_meta_get(const ckpt_tensors *sd, const char *key); /* NULL when absent */

/* Read a state dict: .safetensors by its extension or header, otherwise a torch.save zip archive.
 * Returns 0, or -1 with err_set naming the file and the place. out is initialised here. */
int ckpt_load_state_dict(const char *path, ckpt_tensors *out);
int ckpt_read_safetensors(const char *path, ckpt_tensors *out);
/* Only the __metadata__ strings of a .safetensors file (reads the header, not the tensors). */
int ckpt_read_safetensors_meta(const char *path, ckpt_tensors *out);
int ckpt_read_pth(const char *path, ckpt_tensors *out);

/* ---- mapping a state dict onto the parameter store ---- */
typedef struct ckpt_report {
    char **unexpected; /* source keys (as in the file) that matched no parameter, in file order */
    int n_unexpected;
    char **missing;    /* parameters of the store (names as in the store) not in the source, store order */
    int n_missing;
    int n_missing_in_scope; /* of those, how many lie under target_prefix (the ones that are errors) */
    char **mismatch;   /* "name: shape (a, b) in the checkpoint, (c, d) in the model" */
    int n_mismatch;
    int n_loaded;      /* parameters copied */
    int64_t n_loaded_elems;
} ckpt_report;

typedef struct ckpt_apply_opts {
    const char *strip_prefix;  /* removed from source keys (after "module." and "backbone."), may be NULL */
    const char *target_prefix; /* prepended to the stripped key to form the store name, may be NULL; also
                                  the scope in which a missing parameter is an error */
    int allow_missing;         /* 1: missing parameters are reported, not an error */
} ckpt_apply_opts;

/* Copy every source tensor whose mapped name is a parameter with the same shape into the store (frozen
 * or trainable block). Source key mapping (mmcv's revise_keys / prefix handling): drop a leading
 * "module."; if the result names a parameter, that is the one; otherwise drop a leading "backbone.",
 * then strip_prefix, then prepend target_prefix. Unused source keys (for a released Swin:
 * relative_position_index, attn_mask, norm.*, head.*) are reported as unexpected, never errors.
 * Errors (-1 with err_set naming the file given as `source`): a shape mismatch, two source keys
 * mapping to the same parameter, or - unless allow_missing - a parameter under target_prefix that the
 * source lacks. rep (may be NULL) is filled either way; free with ckpt_report_free. */
int ckpt_apply_ex(params *ps, const ckpt_tensors *sd, const char *source, const ckpt_apply_opts *opts,
                  ckpt_report *rep);
/* ckpt_apply_ex with strip_prefix and allow_missing only (no target prefix, source "state dict"). */
int ckpt_apply(params *ps, const ckpt_tensors *sd, const char *strip_prefix, int allow_missing, ckpt_report *rep);
void ckpt_report_free(ckpt_report *rep);
/* The report as mmcv's load_state_dict logs it (malloc'd; "" when everything matched):
 *   "The model and loaded state dict do not match exactly\n"
 *   "\nsize mismatch for x: copying a param with shape torch.Size([2, 3]) from checkpoint, the shape in
 *    current model is torch.Size([2, 2])."
 *   "\nunexpected key in source state_dict: a, b\n" "\nmissing keys in source state_dict: c, d\n" */
char *ckpt_report_str(const ckpt_report *rep);
/* ckpt_load_state_dict + ckpt_apply_ex; the report is printed to `log` (may be NULL). */
int ckpt_load_pretrained(params *ps, const char *path, const ckpt_apply_opts *opts, FILE *log);

/* ---- writing safetensors ---- */
typedef struct st_entry {
    const char *name;
    int ndim;
    const int64_t *shape;
    const float *data; /* F32, n = product of shape */
} st_entry;
/* Write a .safetensors file atomically: the entries (F32) and __metadata__ (n_meta key/value strings). */
int safetensors_write(const char *path, const st_entry *e, int n, const char *const *meta_key,
                      const char *const *meta_val, int n_meta);

/* ---- delta checkpoints ---- */
#define CKPT_DELTA_SCHEMA "deltabench-delta/1"
#define CKPT_TRAIN_SCHEMA "deltabench-train-state/1"

/* Write the trainable parameters (their store names and shapes) as a .safetensors file, atomically.
 * __metadata__ holds: "schema" (CKPT_DELTA_SCHEMA), "commit" (build_commit()), "format" ("pt"),
 * "n_params" and every member of metadata_json (a JSON object, may be NULL): strings as they are,
 * other values as compact JSON text (so {"method": "mona", "backbone": {...}, "config": {...}} keeps
 * the resolved config as JSON). */
int ckpt_save_delta(const char *path, const params *ps, const char *metadata_json);
/* Load a delta checkpoint on top of a built backbone: the file must carry CKPT_DELTA_SCHEMA, and its
 * tensors must be exactly the store's trainable parameters (every name, every shape). metadata_json
 * (may be NULL) receives a malloc'd JSON object of the __metadata__ strings. */
int ckpt_load_delta(const char *path, params *ps, char **metadata_json);

/* ---- training state for resume ---- */
#define CKPT_MAX_RNG 8
typedef struct train_state {
    int64_t iter;  /* iterations done */
    int64_t epoch; /* epochs done */
    int n_rng;     /* random generators to save (data order, augmentation, dropout...) */
    rng_t rng[CKPT_MAX_RNG];
} train_state;
/* Delta parameters + optimiser state (per parameter "optim.exp_avg.<name>", "optim.exp_avg_sq.<name>"
 * or "optim.momentum_buffer.<name>"; the step count in metadata) + iter/epoch + rng states, all bit
 * exact, plus metadata_json as for ckpt_save_delta; schema CKPT_TRAIN_SCHEMA. Atomic. */
int ckpt_save_train_state(const char *path, const params *ps, const optim *o, const train_state *st,
                          const char *metadata_json);
/* Restore into an allocated store and an initialised optimiser of the same kind. Every trainable
 * parameter and its optimiser state must be present with the right shape. */
int ckpt_load_train_state(const char *path, params *ps, optim *o, train_state *st, char **metadata_json);

#endif
