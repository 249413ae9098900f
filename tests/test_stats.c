/* test_stats.c - metrics/stats: the Student t distribution against t-table quantiles (two-sided 0.05 and
 * 0.01 points), closed forms for 1 and 2 degrees of freedom, the incomplete beta function at values known in
 * closed form, mean and sample standard deviation, and the paired t-test on a case worked by hand. */
#include "test_util.h"

#include "../metrics/stats.h"

#define PI 3.14159265358979323846

/* t-table points: P(|T| >= t) for T ~ t(dof). The quantiles to 16 digits are the 0.975 and 0.995 points of
 * the t distribution (checked here against a Simpson integration of the density); the three-digit ones are
 * the values a printed t-table gives, so they are only good to about 3e-5 in p. */
static void test_t_table(void **state) {
    (void)state;
    static const struct {
        double t, dof, p, tol;
    } pts[] = {
        {2.776, 4, 0.05, 5e-5},       {12.706, 1, 0.05, 5e-5},      {2.228, 10, 0.05, 5e-5},
        {2.7764451051977987, 4, 0.05, 1e-10}, {12.706204736174707, 1, 0.05, 1e-10}, {2.2281388519649385, 10, 0.05, 1e-10},
        {2.0422724563012373, 30, 0.05, 1e-10}, {4.032142983557536, 5, 0.01, 1e-11},
        {0, 3, 1.0, 0}, {0, 1, 1.0, 0}, {1.5, 3, 0.23058386524482397, 1e-10}, {0.5, 7, 0.6324071356892981, 1e-10},
    };
    for (size_t i = 0; i < sizeof pts / sizeof pts[0]; i++) {
        double p = stats_t_p_two_sided(pts[i].t, pts[i].dof), pn = stats_t_p_two_sided(-pts[i].t, pts[i].dof);
        printf("  t = %-20.17g dof %2.0f: p = %.15f (expected %.15f)\n", pts[i].t, pts[i].dof, p, pts[i].p);
        assert_true(fabs(p - pts[i].p) <= pts[i].tol);
        assert_true(p == pn); /* symmetric */
        /* the CDF at the upper point: 1 - p / 2 */
        if (pts[i].t > 0) assert_true(fabs(stats_t_cdf(pts[i].t, pts[i].dof) - (1 - pts[i].p / 2)) <= pts[i].tol);
    }
    assert_true(stats_t_cdf(0, 5) == 0.5);
    assert_true(stats_t_p_two_sided(INFINITY, 3) == 0);
    assert_true(isnan(stats_t_p_two_sided(NAN, 3)));
    assert_true(isnan(stats_t_p_two_sided(1, 0)));
    /* many degrees of freedom: the normal distribution's 1.959964 (two-sided 0.05) */
    assert_true(fabs(stats_t_p_two_sided(1.959963984540054, 1e7) - 0.05) < 1e-7);
}

/* closed forms: dof 1 (Cauchy) F(t) = 1/2 + atan(t)/pi; dof 2 F(t) = 1/2 + t / (2 sqrt(2 + t^2)) */
static void test_t_closed_forms(void **state) {
    (void)state;
    for (double t = -30; t <= 30; t += 0.37) {
        double f1 = 0.5 + atan(t) / PI, f2 = 0.5 + t / (2 * sqrt(2 + t * t));
        assert_true(fabs(stats_t_cdf(t, 1) - f1) < 1e-13);
        assert_true(fabs(stats_t_cdf(t, 2) - f2) < 1e-13);
    }
}

/* I_x(a, 1) = x^a, I_x(1, b) = 1 - (1 - x)^b, I_x(a, b) = 1 - I_{1-x}(b, a), I_{1/2}(a, a) = 1/2 */
static void test_betai(void **state) {
    (void)state;
    for (double x = 0.01; x < 1; x += 0.07) {
        assert_true(fabs(stats_betai(2.5, 1, x) - pow(x, 2.5)) < 1e-13);
        assert_true(fabs(stats_betai(1, 3.5, x) - (1 - pow(1 - x, 3.5))) < 1e-13);
        assert_true(fabs(stats_betai(3.2, 7.1, x) - (1 - stats_betai(7.1, 3.2, 1 - x))) < 1e-13);
    }
    assert_true(fabs(stats_betai(40, 40, 0.5) - 0.5) < 1e-13);
    assert_true(stats_betai(2, 3, 0) == 0 && stats_betai(2, 3, 1) == 1);
    assert_true(isnan(stats_betai(-1, 3, 0.5)) && isnan(stats_betai(2, 3, 1.5)));
}

static void test_mean_sd(void **state) {
    (void)state;
    double x[4] = {2, 4, 4, 6}, m, s; /* mean 4, squared deviations 4 + 0 + 0 + 4 = 8, / 3 */
    stats_mean_sd(x, 4, &m, &s);
    assert_true(m == 4 && fabs(s - sqrt(8.0 / 3)) < 1e-15);
    stats_mean_sd(x, 1, &m, &s);
    assert_true(m == 2 && isnan(s));
    stats_mean_sd(x, 0, &m, &s);
    assert_true(isnan(m) && isnan(s));
}

/* By hand: a = (80, 82, 85), b = (78, 81, 81): d = (2, 1, 4), mean 7/3, squared deviations 1/9 + 16/9 + 25/9 =
 * 14/3, variance 7/3, sd sqrt(7/3), t = (7/3) / sqrt(7/9) = sqrt(7) = 2.6458, dof 2, and with dof 2
 * p = 1 - t / sqrt(2 + t^2) = 1 - sqrt(7) / 3 = 0.118083. */
static void test_paired(void **state) {
    (void)state;
    double a[3] = {80, 82, 85}, b[3] = {78, 81, 81};
    stats_paired r;
    stats_paired_ttest(a, b, 3, &r);
    printf("  paired: mean %.6f sd %.6f t %.6f dof %.0f p %.6f\n", r.mean_diff, r.sd_diff, r.t, r.dof, r.p);
    assert_int_equal(r.n, 3);
    assert_true(fabs(r.mean_diff - 7.0 / 3) < 1e-13);
    assert_true(fabs(r.sd_diff - sqrt(7.0 / 3)) < 1e-13);
    assert_true(fabs(r.t - sqrt(7.0)) < 1e-13);
    assert_true(r.dof == 2);
    assert_true(fabs(r.p - (1 - sqrt(7.0) / 3)) < 1e-13);
    /* swapped: the sign of the difference and of t flips, p stays */
    stats_paired s;
    stats_paired_ttest(b, a, 3, &s);
    assert_true(fabs(s.t + r.t) < 1e-13 && fabs(s.p - r.p) < 1e-15);
    /* one pair: only the mean difference */
    stats_paired_ttest(a, b, 1, &s);
    assert_true(s.mean_diff == 2 && isnan(s.t) && isnan(s.dof) && isnan(s.p));
    /* no spread: every pair differs by 1 (t infinite, p 0); identical samples (no evidence: p 1) */
    double c[3] = {81, 83, 86};
    stats_paired_ttest(c, a, 3, &s);
    assert_true(isinf(s.t) && s.t > 0 && s.p == 0 && s.dof == 2);
    stats_paired_ttest(a, a, 3, &s);
    assert_true(s.mean_diff == 0 && isnan(s.t) && s.p == 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_t_table), cmocka_unit_test(test_t_closed_forms), cmocka_unit_test(test_betai),
        cmocka_unit_test(test_mean_sd), cmocka_unit_test(test_paired),
    };
    return cmocka_run_group_tests_name("stats", tests, NULL, NULL);
}
