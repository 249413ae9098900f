/* topk.c - top-k accuracy (see topk.h). */
#include "topk.h"

#include "../core/common.h"

long topk_count(const float *scores, const int *labels, int n, int classes, int k) {
    if (k < 1 || k > classes) return err_set("topk: k = %d must be in 1..%d (the number of classes)", k, classes);
    long correct = 0;
    for (int i = 0; i < n; i++) {
        int y = labels[i];
        if (y < 0 || y >= classes) return err_set("topk: sample %d has label %d outside 0..%d", i, y, classes - 1);
        const float *s = scores + (size_t)i * classes;
        float sy = s[y];
        /* rank of the label: classes scoring higher, plus equal scores at a lower index */
        int rank = 0;
        for (int c = 0; c < classes && rank < k; c++)
            if (s[c] > sy || (s[c] == sy && c < y)) rank++;
        if (rank < k) correct++;
    }
    return correct;
}

double topk_accuracy(const float *scores, const int *labels, int n, int classes, int k) {
    if (n <= 0) return 0;
    long c = topk_count(scores, labels, n, classes, k);
    return c < 0 ? -1 : (double)c / n;
}
