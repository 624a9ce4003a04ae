"""Damped random walk (Ornstein-Uhlenbeck) Gaussian-process features: GP_DRW_sigma, GP_DRW_tau.

ALeRCE fits celerite2's ``RealTerm(a, c)`` kernel ``k(dt) = a exp(-c |dt|)`` plus the
photometric variances on the diagonal to ``mag - mean(mag)`` by maximum likelihood
(L-BFGS-B on ``log a, log c`` from ``(0, 0)``) and reports ``GP_DRW_sigma = a`` (a
variance, despite the name) and ``GP_DRW_tau = 1 / c``.

A one-term real kernel is exactly an OU process, whose likelihood a scalar Kalman filter
computes in O(N); the optimizer is a Nelder-Mead simplex on ``(log a, log c)`` from the
same start. Both run in numba without the GIL.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from .preprocess import BandLightCurves

NAMES = ("GP_DRW_sigma", "GP_DRW_tau")
MIN_POINTS = 6
_LOG_2PI = math.log(2.0 * math.pi)


@njit(nogil=True, cache=True)
def drw_neg_log_likelihood(log_a, log_c, t, y, var_err):
    """-log L of the OU process with variance a and rate c, observed with noise var_err."""
    if log_a > 30 or log_a < -40 or log_c > 30 or log_c < -40:
        return 1e300
    a = math.exp(log_a)
    c = math.exp(log_c)
    mean = 0.0
    p = a
    nll = 0.0
    for i in range(t.size):
        if i > 0:
            phi = math.exp(-c * (t[i] - t[i - 1]))
            mean = phi * mean
            p = phi * phi * p + a * (1.0 - phi * phi)
        s = p + var_err[i]
        if s <= 0:
            return 1e300
        v = y[i] - mean
        nll += 0.5 * (v * v / s + math.log(s) + _LOG_2PI)
        k = p / s
        mean = mean + k * v
        p = (1.0 - k) * p
    return nll


@njit(nogil=True, cache=True)
def _nelder_mead_2d(t, y, var_err, x0, y0, step, max_iter, tol):
    pts = np.array([[x0, y0], [x0 + step, y0], [x0, y0 + step]])
    vals = np.empty(3)
    for i in range(3):
        vals[i] = drw_neg_log_likelihood(pts[i, 0], pts[i, 1], t, y, var_err)
    for _ in range(max_iter):
        order = np.argsort(vals)
        pts = pts[order]
        vals = vals[order]
        if abs(vals[2] - vals[0]) <= tol * (abs(vals[0]) + 1e-12) and \
                abs(pts[2, 0] - pts[0, 0]) + abs(pts[2, 1] - pts[0, 1]) < 1e-6:
            break
        centroid = 0.5 * (pts[0] + pts[1])
        reflected = centroid + (centroid - pts[2])
        fr = drw_neg_log_likelihood(reflected[0], reflected[1], t, y, var_err)
        if fr < vals[0]:
            expanded = centroid + 2.0 * (centroid - pts[2])
            fe = drw_neg_log_likelihood(expanded[0], expanded[1], t, y, var_err)
            if fe < fr:
                pts[2] = expanded
                vals[2] = fe
            else:
                pts[2] = reflected
                vals[2] = fr
        elif fr < vals[1]:
            pts[2] = reflected
            vals[2] = fr
        else:
            contracted = centroid + 0.5 * (pts[2] - centroid)
            fc = drw_neg_log_likelihood(contracted[0], contracted[1], t, y, var_err)
            if fc < vals[2]:
                pts[2] = contracted
                vals[2] = fc
            else:
                for i in range(1, 3):
                    pts[i] = pts[0] + 0.5 * (pts[i] - pts[0])
                    vals[i] = drw_neg_log_likelihood(pts[i, 0], pts[i, 1], t, y, var_err)
    best = np.argmin(vals)
    return pts[best, 0], pts[best, 1]


@njit(nogil=True, cache=True)
def drw_kernel(offsets, t_all, m_all, e_all, min_points):
    n_obj = offsets.size - 1
    out = np.full((n_obj, 2), np.nan)
    for o in range(n_obj):
        a0 = offsets[o]
        b0 = offsets[o + 1]
        if b0 - a0 < min_points:
            continue
        t = t_all[a0:b0] - t_all[a0]
        m = m_all[a0:b0]
        y = m - m.mean()
        var_err = e_all[a0:b0] ** 2
        log_a, log_c = _nelder_mead_2d(t, y, var_err, 0.0, 0.0, 1.0, 400, 1e-10)
        out[o, 0] = math.exp(log_a)
        out[o, 1] = math.exp(-log_c)
    return out


def drw_features(band: BandLightCurves, min_points: int = MIN_POINTS) -> dict[str, np.ndarray]:
    values = drw_kernel(band.offsets, band.mjd, band.mag, band.err, min_points)
    return {name: values[:, i] for i, name in enumerate(NAMES)}
