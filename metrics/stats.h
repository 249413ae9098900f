/* stats.h - the small statistics behind the seeded tables (experiments/report.c): mean and sample standard
 * deviation, the Student t distribution (through the regularized incomplete beta function) and the paired
 * t-test over seeds. Plain doubles, no allocation. */
#ifndef DB_STATS_H
#define DB_STATS_H

/* Mean and sample standard deviation (divisor n - 1) of x[0..n-1]; *sd is NaN for n < 2, both NaN for n < 1. */
void stats_mean_sd(const double *x, int n, double *mean, double *sd);

/* The regularized incomplete beta function I_x(a, b) = B(x; a, b) / B(a, b) for a, b > 0 and 0 <= x <= 1
 * (NaN outside), by its continued fraction evaluated with the modified Lentz method. */
double stats_betai(double a, double b, double x);

/* Student's t distribution with dof > 0 degrees of freedom (dof need not be an integer): the CDF P(T <= t),
 * and the two-sided p-value P(|T| >= |t|). NaN for a NaN t or dof <= 0; t = +-inf gives 1/0 and 0. */
double stats_t_cdf(double t, double dof);
double stats_t_p_two_sided(double t, double dof);

/* The paired t-test of a against b: d_i = a_i - b_i over the n pairs, t = mean(d) / (sd(d) / sqrt(n)) with
 * n - 1 degrees of freedom and the two-sided p-value. n < 2: t, dof and p are NaN (mean_diff is still the
 * mean). sd(d) = 0: t = +-inf and p = 0 when mean(d) != 0, t = NaN and p = 1 when every difference is 0. */
typedef struct stats_paired {
    int n;            /* pairs */
    double mean_diff; /* mean of a_i - b_i */
    double sd_diff;   /* its sample standard deviation */
    double t, dof, p; /* statistic, n - 1, two-sided p-value */
} stats_paired;
void stats_paired_ttest(const double *a, const double *b, int n, stats_paired *out);

#endif
