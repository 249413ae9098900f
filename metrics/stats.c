/* stats.c - see stats.h. */
#include "stats.h"

#include <math.h>

void stats_mean_sd(const double *x, int n, double *mean, double *sd) {
    *mean = *sd = NAN;
    if (n < 1) return;
    double s = 0;
    for (int i = 0; i < n; i++) s += x[i];
    *mean = s / n;
    if (n < 2) return;
    double q = 0; /* two passes: the squares of the deviations, not the difference of two large sums */
    for (int i = 0; i < n; i++) q += (x[i] - *mean) * (x[i] - *mean);
    *sd = sqrt(q / (n - 1));
}

/* The continued fraction of I_x(a, b) (Numerical Recipes' betacf, DLMF 8.17.22):
 *   I_x(a, b) = x^a (1 - x)^b / (a B(a, b)) * 1 / (1 + d_1 / (1 + d_2 / (1 + ...)))
 * with d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)) and d_{2m} = m (b - m) x / ((a + 2m - 1)(a + 2m)).
 * Modified Lentz: the value is the product of the ratios C_j D_j of successive convergents, with tiny
 * stand-ins for zero denominators; it converges fast for x < (a + 1) / (a + b + 2), the caller swaps a and b
 * (I_x(a, b) = 1 - I_{1-x}(b, a)) otherwise. Returns the fraction 1 / (1 + d_1 / ...). */
static double betacf(double a, double b, double x) {
    const double tiny = 1e-300, eps = 1e-15;
    double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0);
    if (fabs(d) < tiny) d = tiny;
    d = 1.0 / d;
    double h = d;
    for (int m = 1; m <= 10000; m++) {
        int m2 = 2 * m;
        double aa = m * (b - m) * x / ((a - 1.0 + m2) * (a + m2)); /* d_{2m} */
        d = 1.0 + aa * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1.0 + aa / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        h *= d * c;
        aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + 1.0 + m2)); /* d_{2m+1} */
        d = 1.0 + aa * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1.0 + aa / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1.0) < eps) break;
    }
    return h;
}

double stats_betai(double a, double b, double x) {
    if (!(a > 0) || !(b > 0) || !(x >= 0) || !(x <= 1)) return NAN;
    if (x == 0 || x == 1) return x;
    /* x^a (1 - x)^b / B(a, b), in logarithms (lgamma) so that large a, b do not overflow */
    double front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
    if (x < (a + 1.0) / (a + b + 2.0)) return front * betacf(a, b, x) / a;
    return 1.0 - front * betacf(b, a, 1.0 - x) / b;
}

/* P(|T| >= |t|) = I_{v / (v + t^2)}(v / 2, 1 / 2) for T ~ t(v) (Abramowitz & Stegun 26.7.1 with 26.5.27) */
double stats_t_p_two_sided(double t, double dof) {
    if (isnan(t) || !(dof > 0)) return NAN;
    if (isinf(t)) return 0.0;
    return stats_betai(0.5 * dof, 0.5, dof / (dof + t * t));
}

double stats_t_cdf(double t, double dof) {
    double p = stats_t_p_two_sided(t, dof);
    if (isnan(p)) return NAN;
    return t > 0 ? 1.0 - 0.5 * p : 0.5 * p; /* the distribution is symmetric about 0 */
}

void stats_paired_ttest(const double *a, const double *b, int n, stats_paired *out) {
    out->n = n;
    out->mean_diff = out->sd_diff = out->t = out->dof = out->p = NAN;
    if (n < 1) return;
    double s = 0, q = 0; /* mean and sample sd of the differences, in two passes as stats_mean_sd */
    for (int i = 0; i < n; i++) s += a[i] - b[i];
    out->mean_diff = s / n;
    for (int i = 0; i < n; i++) q += (a[i] - b[i] - out->mean_diff) * (a[i] - b[i] - out->mean_diff);
    if (n < 2) return;
    out->sd_diff = sqrt(q / (n - 1));
    out->dof = n - 1;
    if (out->sd_diff == 0) { /* no spread: every pair differs by the same amount */
        out->t = out->mean_diff == 0 ? NAN : copysign(INFINITY, out->mean_diff);
        out->p = out->mean_diff == 0 ? 1.0 : 0.0;
        return;
    }
    out->t = out->mean_diff / (out->sd_diff / sqrt((double)n));
    out->p = stats_t_p_two_sided(out->t, out->dof);
}
