/* optim_golden.h - run an optimiser golden file (schema golden-adamw/1, ../shared/golden/README.md)
 * through this project's AdamW: the same code path serves `make test` and `deltabench golden`. */
#ifndef DB_OPTIM_GOLDEN_H
#define DB_OPTIM_GOLDEN_H

#include <stdio.h>

#define OPTIM_GOLDEN_MAX_GROUPS 16

typedef struct optim_golden_result {
    int n_groups;
    char group[OPTIM_GOLDEN_MAX_GROUPS][64]; /* the file's parameter groups, in name order */
    double weight_decay[OPTIM_GOLDEN_MAX_GROUPS];
    double max_rel_err[OPTIM_GOLDEN_MAX_GROUPS]; /* largest max|x-ref|/max|ref| over the steps */
    int worst_step[OPTIM_GOLDEN_MAX_GROUPS];     /* the step k of that error (<g>/after<k>) */
    double worst;                                /* over every group */
    long long n_values;                          /* parameter values, all groups */
    int steps;
} optim_golden_result;

/* Read a golden-adamw/1 file (root attributes lr, beta1, beta2, eps, weight_decay (one per group),
 * steps; per group <g>/initial, <g>/grad<k>, <g>/after<k>), declare one trainable parameter per group
 * (groups in name order take the weight_decay entries in order), run `steps` AdamW steps and compare
 * every <g>/after<k>. Returns 0 (comparison done; judge res->worst against the tolerance, 1e-5), or -1
 * with err_set naming the file and the dataset. log (may be NULL) gets one line per group. */
int optim_golden_run(const char *path, optim_golden_result *res, FILE *log);

#endif
