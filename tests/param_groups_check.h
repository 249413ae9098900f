/* param_groups_check.h - one check shared by the dense drivers' tests: a default recipe's paramwise_cfg applied
 * to a built detector's parameter store (mmcv's DefaultOptimizerConstructor rules, core/optim). Every trainable
 * parameter under one of the head prefixes must get lr_mult head_mult with full decay; every other trainable
 * one (the backbone, delta modules included) lr_mult 1, and the backbone's norms and relative position tables
 * decay 0. Each head prefix, the backbone and its norms must be seen at least once; the tables too when
 * expect_tables. Include after test_util.h and core/optim.h. */
#ifndef DELTABENCH_TESTS_PARAM_GROUPS_CHECK_H
#define DELTABENCH_TESTS_PARAM_GROUPS_CHECK_H

static inline void check_param_groups(params *ps, const struct cJSON *paramwise, const char *recipe_path, const char *const *heads,
                                      int n_heads, float head_mult, int expect_tables) {
    pg_rules rules;
    if (pg_rules_from_json(&rules, paramwise, recipe_path)) fail_msg("%s", err_msg());
    pg_apply_ex(ps, &rules, NULL, NULL, 0);
    int n_head[8] = {0}, n_bb = 0, n_norm = 0, n_table = 0;
    assert_true(n_heads >= 1 && n_heads <= 8);
    for (int i = 0; i < ps->n; i++) {
        const param *p = ps->p[i];
        if (!p->trainable) continue;
        int h = -1;
        for (int q = 0; q < n_heads; q++)
            if (!strncmp(p->name, heads[q], strlen(heads[q]))) h = q;
        if (h >= 0) {
            n_head[h]++;
            if (p->lr_mult != head_mult || p->decay_mult != 1.0f)
                fail_msg("%s: lr_mult %g decay_mult %g, expected %g 1", p->name, p->lr_mult, p->decay_mult, head_mult);
            continue;
        }
        n_bb++;
        if (p->lr_mult != 1.0f) fail_msg("%s: lr_mult %g, expected 1", p->name, p->lr_mult);
        if (strstr(p->name, "norm") || strstr(p->name, "relative_position_bias_table")) {
            strstr(p->name, "norm") ? n_norm++ : n_table++;
            if (p->decay_mult != 0.0f) fail_msg("%s: decay_mult %g, expected 0", p->name, p->decay_mult);
        }
    }
    for (int q = 0; q < n_heads; q++)
        if (n_head[q] == 0) fail_msg("no trainable parameter under %s", heads[q]);
    assert_true(n_bb > 0 && n_norm > 0);
    if (expect_tables) assert_true(n_table > 0);
    pg_rules_free(&rules);
}

#endif
