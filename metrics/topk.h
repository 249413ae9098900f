/* topk.h - top-k classification accuracy (mmcls `accuracy`: a sample is correct when its label is among the
 * k highest scores). Scores may be logits or probabilities. Ties: among equal scores the lower class index
 * ranks first (what a stable descending sort gives). Used by the trainers in memory and by tests. */
#ifndef DB_TOPK_H
#define DB_TOPK_H

/* Number of the n rows (row-major n x classes) whose label is within the top k. Returns -1 with err_set
 * for a label outside 0..classes-1 (naming the row) or k outside 1..classes. */
long topk_count(const float *scores, const int *labels, int n, int classes, int k);
/* Fraction correct in [0, 1]; -1 on error (err_set). n == 0 gives 0. */
double topk_accuracy(const float *scores, const int *labels, int n, int classes, int k);

#endif
