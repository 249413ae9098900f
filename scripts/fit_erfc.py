#!/usr/bin/env python3
"""fit_erfc.py - the coefficients of core/fastmath.h's erfc: erfc(a) ~= t exp(-a^2) P(t), t = 1 / (1 + a / 2),
P a polynomial of degree 8 fitted to the relative error on a in [0, 10] (least squares on Chebyshev nodes in t,
then Lawson reweighting towards the minimax). Reference values from Python's math.erfc (double). Prints the
coefficients (lowest degree first) and the largest relative error of the fit. A development tool: nothing
in the build runs it."""
import math
import numpy as np

P_SCALE, DEG, A_MAX, NODES = 0.5, 8, 10.0, 4000


def main():
    tmin = 1.0 / (1.0 + P_SCALE * A_MAX)
    k = np.arange(NODES)
    t = tmin + (1.0 - tmin) * (0.5 - 0.5 * np.cos(np.pi * (k + 0.5) / NODES))
    a = (1.0 / t - 1.0) / P_SCALE
    f = np.array([math.erfc(x) * math.exp(x * x) for x in a]) / t  # the P(t) that makes the formula exact
    w = np.ones_like(t)
    V = np.vander(t, DEG + 1, increasing=True)
    for _ in range(30):
        c, *_ = np.linalg.lstsq(V * (np.sqrt(w) / f)[:, None], np.sqrt(w), rcond=None)
        e = np.abs(V @ c / f - 1.0)
        w = w * e
        w /= w.sum()
    for i, ci in enumerate(c):
        print("c%d = %.9ef" % (i, ci))
    print("max relative error of the fit: %.2e" % e.max())


if __name__ == "__main__":
    main()
