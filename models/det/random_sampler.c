/* random_sampler.c - mmdet 2.11's RandomSampler on assignment results (see random_sampler.h). */
#include "random_sampler.h"

#include <stdlib.h>
#include <string.h>

void random_sampler_cfg_rpn(random_sampler_cfg *c) { *c = (random_sampler_cfg){256, 0.5f, -1}; }

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* the candidates (gallery, k of them) whose gt_inds satisfy want_pos ? > 0 : == 0, then at most `expect` of
 * them into out (increasing); returns the count */
static int sample_side(const int *gt_inds, int n, int want_pos, int expect, rng_t *r, int *scratch, int *out) {
    int k = 0;
    for (int i = 0; i < n; i++)
        if (want_pos ? gt_inds[i] > 0 : gt_inds[i] == 0) scratch[k++] = i;
    if (expect < 0) expect = 0;
    if (k <= expect) { /* all of them, already increasing */
        memcpy(out, scratch, sizeof(int) * (size_t)k);
        return k;
    }
    for (int i = 0; i < expect; i++) { /* random_choice: the first `expect` of a uniform permutation */
        int j = i + (int)rng_below(r, (uint32_t)(k - i)), t = scratch[i];
        scratch[i] = scratch[j];
        scratch[j] = t;
    }
    memcpy(out, scratch, sizeof(int) * (size_t)expect);
    qsort(out, (size_t)expect, sizeof(int), cmp_int);
    return expect;
}

void random_sample(const random_sampler_cfg *c, const int *gt_inds, int n, rng_t *r, int *pos, int *npos, int *neg, int *nneg) {
    int *scratch = xmalloc(sizeof(int) * (size_t)(n ? n : 1));
    int exp_pos = (int)(c->num * c->pos_fraction); /* int(self.num * self.pos_fraction) */
    *npos = sample_side(gt_inds, n, 1, exp_pos, r, scratch, pos);
    int exp_neg = c->num - *npos;
    if (c->neg_pos_ub >= 0) {
        int ub = (int)(c->neg_pos_ub * (*npos > 1 ? *npos : 1));
        if (exp_neg > ub) exp_neg = ub;
    }
    *nneg = sample_side(gt_inds, n, 0, exp_neg, r, scratch, neg);
    free(scratch);
}
