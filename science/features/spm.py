"""Supernova parametric model (Villar et al. 2019 as modified by ALeRCE): SPM_* features.

Model (ALeRCE's ``model_inference``), with ``t1 = t0 + gamma`` and a smooth switch
``sigmoid = 1 / (1 + exp(-(t - t1) / 3))``::

    F(t) = A / (1 + exp(-(t - t0) / tau_rise)) * (
             (1 - beta) exp(-(t - t1) / tau_fall) * sigmoid
           + (1 - beta (t - t0) / gamma) * (1 - sigmoid))

Data, as ALeRCE's ZTF extractor: flux in mJy from the uncorrected difference magnitude
``magpsf`` (``10^(-(m + 48.6)/2.5 + 26)``; isdiffpos is ignored as in ALeRCE), errors
``flux(m - sigma) - flux(m)``, times from the band's first detection. Bounds: A in
[max/3, 3 max], t0 in [-50, 50], gamma, tau_rise, tau_fall in [1, 100], beta in [0, 1].
SPM_chi = sum((model - flux)^2 / (err + 0.01)^2) / (N - 6), NaN when N <= 6.

ALeRCE fits with scipy's ``curve_fit`` (unweighted, trust-region, ``ftol = A_guess / 20``,
which in practice stops after the first step). Here the same unweighted least squares is
solved to convergence with a bounded Levenberg-Marquardt (projected steps, forward-difference
Jacobian) in numba, from two starting points, keeping the lower cost.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from .preprocess import BandLightCurves

NAMES = ("SPM_A", "SPM_t0", "SPM_gamma", "SPM_beta", "SPM_tau_rise", "SPM_tau_fall", "SPM_chi")
MIN_POINTS = 6
N_PARAMS = 6


def mag_to_flux(mag):
    """ALeRCE's conversion of AB magnitudes to flux in mJy.

    >>> round(float(mag_to_flux(16.4)), 6)
    1.0
    """
    return 10.0 ** (-(np.asarray(mag, dtype=float) + 48.6) / 2.5 + 26.0)


@njit(nogil=True, cache=True)
def spm_model(times, a, t0, gamma, beta, t_rise, t_fall):
    t1 = t0 + gamma
    out = np.empty(times.size)
    for i in range(times.size):
        t = times[i]
        sig = 1.0 / (1.0 + math.exp(min(-(t - t1) / 3.0, 700.0)))
        den = 1.0 + math.exp(min(-(t - t0) / t_rise, 700.0))
        fall = math.exp(min(-(t - t1) / t_fall, 700.0))
        out[i] = ((1.0 - beta) * fall * sig + (1.0 - beta * (t - t0) / gamma) * (1.0 - sig)) * a / den
    return out


@njit(nogil=True, cache=True)
def _model_p(times, p):
    return spm_model(times, p[0], p[1], p[2], p[3], p[4], p[5])


@njit(nogil=True, cache=True)
def _cost(times, flux, p):
    r = _model_p(times, p) - flux
    return (r * r).sum()


@njit(nogil=True, cache=True)
def fit_spm(times, flux, lo, hi, p0, max_iter):
    """Bounded Levenberg-Marquardt on the unweighted squared residuals."""
    p = np.minimum(np.maximum(p0.copy(), lo), hi)
    n = times.size
    cost = _cost(times, flux, p)
    lam = 1e-3
    rel = 1.0
    jac = np.empty((n, N_PARAMS))
    for _ in range(max_iter):
        base = _model_p(times, p)
        r = base - flux
        for j in range(N_PARAMS):
            h = 1e-6 * max(abs(p[j]), 1.0)
            if p[j] + h > hi[j]:
                h = -h
            q = p.copy()
            q[j] += h
            jac[:, j] = (_model_p(times, q) - base) / h
        jtj = jac.T @ jac
        grad = jac.T @ r
        improved = False
        for _ in range(12):
            a = jtj.copy()
            for j in range(N_PARAMS):
                a[j, j] += lam * (jtj[j, j] + 1e-12)
            step = np.linalg.solve(a, -grad)
            trial = np.minimum(np.maximum(p + step, lo), hi)
            trial_cost = _cost(times, flux, trial)
            if np.isfinite(trial_cost) and trial_cost < cost:
                rel = (cost - trial_cost) / max(cost, 1e-300)
                p = trial
                cost = trial_cost
                lam = max(lam / 3.0, 1e-9)
                improved = True
                break
            lam *= 4.0
        if not improved or rel < 1e-10:
            break
    return p, cost


@njit(nogil=True, cache=True)
def spm_kernel(offsets, t_all, magpsf_all, sigmapsf_all, min_points):
    n_obj = offsets.size - 1
    out = np.full((n_obj, 7), np.nan)
    for o in range(n_obj):
        a0 = offsets[o]
        b0 = offsets[o + 1]
        n = b0 - a0
        if n < min_points:
            continue
        times = t_all[a0:b0] - t_all[a0]
        mag = magpsf_all[a0:b0]
        flux = 10.0 ** (-(mag + 48.6) / 2.5 + 26.0)
        err = 10.0 ** (-(mag - sigmapsf_all[a0:b0] + 48.6) / 2.5 + 26.0) - flux
        k_max = np.argmax(flux)
        f_max = flux[k_max]
        t_max = times[k_max]
        lo = np.array([f_max / 3.0, -50.0, 1.0, 0.0, 1.0, 1.0])
        hi = np.array([f_max * 3.0, 50.0, 100.0, 1.0, 100.0, 100.0])
        starts = np.array([
            # ALeRCE ZTF start (amplitude clipped into its bounds)
            [1.2 * f_max, -5.0, min(100.0, max(1.0, times[-1])), 0.5,
             min(100.0, max(1.0, t_max / 2.0)), 40.0],
            # ALeRCE phase-II start: peak-anchored
            [1.2 * f_max, min(50.0, max(-50.0, t_max * 2.0 / 3.0)),
             min(100.0, max(1.0, t_max)), 0.5, min(100.0, max(1.0, t_max / 2.0)), 50.0],
        ])
        best_cost = np.inf
        best = np.full(N_PARAMS, np.nan)
        for s in range(starts.shape[0]):
            p, cost = fit_spm(times, flux, lo, hi, starts[s], 60)
            if cost < best_cost:
                best_cost = cost
                best = p
        if not np.isfinite(best_cost):
            continue
        pred = _model_p(times, best)
        chi = (((pred - flux) / (err + 0.01)) ** 2).sum()
        for j in range(N_PARAMS):
            out[o, j] = best[j]
        if n - N_PARAMS >= 1:
            out[o, 6] = chi / (n - N_PARAMS)
    return out


def spm_features(band: BandLightCurves, min_points: int = MIN_POINTS) -> dict[str, np.ndarray]:
    values = spm_kernel(band.offsets, band.mjd, band.magpsf, band.sigmapsf, min_points)
    return {name: values[:, i] for i, name in enumerate(NAMES)}
