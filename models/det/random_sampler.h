/* random_sampler.h - mmdet 2.11's RandomSampler (mmdet/core/bbox/samplers/random_sampler.py on
 * base_sampler.py) for assignment results: positives (gt_inds > 0) and negatives (gt_inds == 0) drawn
 * uniformly without replacement from the project's seeded generator where there are more than wanted. The
 * draws use a different generator than torch.randperm, so the chosen sets differ from mmdet's run; their
 * counts and distribution do not. add_gt_as_proposals is the caller's (it prepends the gts before
 * assignment); the RPN has it False. */
#ifndef DB_RANDOM_SAMPLER_H
#define DB_RANDOM_SAMPLER_H

#include "../../core/common.h"

typedef struct random_sampler_cfg {
    int num;            /* samples per image: 256 (RPN), 512 (R-CNN) */
    float pos_fraction; /* 0.5 (RPN), 0.25 (R-CNN) */
    int neg_pos_ub;     /* -1: no bound on negatives / positives */
} random_sampler_cfg;

/* The RPN's: num 256, pos_fraction 0.5, neg_pos_ub -1. */
void random_sampler_cfg_rpn(random_sampler_cfg *c);

/* Sample from gt_inds (n): num_expected_pos = int(num * pos_fraction); every positive index when there are at
 * most that many, else that many chosen at random; then num_expected_neg = num - #pos (with neg_pos_ub >= 0 at
 * most int(neg_pos_ub * max(1, #pos))), every negative or that many chosen at random. pos and neg (n each, or
 * at least the counts) receive the indices in increasing order (mmdet's unique() sorts), counts in *npos, *nneg.
 * Random draws: positives first, then negatives, each a partial Fisher-Yates shuffle of the candidate list with
 * rng_below (nothing is drawn when all candidates are taken). One scratch allocation. */
void random_sample(const random_sampler_cfg *c, const int *gt_inds, int n, rng_t *r, int *pos, int *npos, int *neg, int *nneg);

#endif
