/* ade20k.h - ADE20K (ADEChallengeData2016) semantic segmentation as mmseg 0.x's ADE20KDataset reads it:
 * images/<split>/ (recursively) *.jpg with label maps annotations/<split>/<same name>.png, sorted by name, label
 * maps read "unchanged" (palette index or gray value) and reduce_zero_label applied: 0 (other) -> 255
 * (ignore), k -> k-1, 255 stays 255. 150 classes. The same reader serves the synthetic ADE20K-format set. */
#ifndef DB_ADE20K_H
#define DB_ADE20K_H

#include <stddef.h>
#include <stdint.h>

#include "image.h"

#define ADE20K_N_CLASSES 150
#define SEG_IGNORE 255
extern const char *const ade20k_classes[ADE20K_N_CLASSES];

typedef struct ade20k_dataset {
    int n;
    char **images; /* full paths, sorted by the name relative to images/<split> */
    char **labels; /* matching label-map paths */
} ade20k_dataset;

/* Scan root/images/<split> (split: "training" or "validation"). Every image must have its label map
 * unless skip_bad (then it is skipped with a warning and counted in *n_skipped; may be NULL). */
int ade20k_open(const char *root, const char *split, int skip_bad, ade20k_dataset *ds, int *n_skipped);
void ade20k_close(ade20k_dataset *ds);

/* mmseg reduce_zero_label on a label map in place. */
void seg_reduce_zero_label(uint8_t *lab, size_t n);
/* Read a label map (1 channel), optionally reduce_zero_label, and check every value is < n_classes or 255:
 * an out-of-range label is an error naming the file and the pixel. */
int seg_read_label(const char *path, int reduce_zero_label, int n_classes, image *out);
/* The same from memory (name used in messages). */
int seg_decode_label(const uint8_t *buf, size_t n, const char *name, int reduce_zero_label, int n_classes,
                     image *out);

#endif
