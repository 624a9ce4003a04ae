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

The fit is ALeRCE 1.1.1's exactly: scipy's bounded trust-region reflective least squares
(what ``curve_fit`` runs), unweighted, 2-point Jacobian, from ALeRCE's start
(A = 3 max, t0 = -5, gamma = span, beta = 0.5, tau_rise = (t_peak - t_first)/2,
tau_fall = 40) with its loose ``ftol = A_guess / 20`` (retry ``A_guess / 3``; NaN after a
second failure), on float32 times and fluxes. The loose tolerance stops the fit after a
few steps, so the parameters often sit near the start or a bound: that *is* ALeRCE's
feature. The model residuals are a numba kernel; the optimizer is scipy's.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit
from scipy.optimize import least_squares

from .preprocess import BandLightCurves

NAMES = ("SPM_A", "SPM_t0", "SPM_gamma", "SPM_beta", "SPM_tau_rise", "SPM_tau_fall", "SPM_chi")
MIN_POINTS = 1  # ALeRCE fits any band with a detection; SPM_chi needs > 6 points
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
def _residuals(p, times, flux):
    return spm_model(times, p[0], p[1], p[2], p[3], p[4], p[5]) - flux


def _fit_like_alerce(times: np.ndarray, flux: np.ndarray) -> np.ndarray:
    """ALeRCE 1.1.1's ``SNModelScipy.fit``: ``curve_fit`` (bounded TRF, 2-point Jacobian,
    unweighted) from its start point with ``ftol = A_guess / 20``, retried with
    ``A_guess / 3`` on failure, NaN after a second failure. ``least_squares`` is what
    ``curve_fit`` runs; a non-success status is curve_fit's RuntimeError.
    """
    f_max = float(flux.max())
    lo = np.array([f_max / 3.0, -50.0, 1.0, 0.0, 1.0, 1.0])
    hi = np.array([f_max * 3.0, 50.0, 100.0, 1.0, 100.0, 100.0])
    a_guess = max(hi[0], max(lo[0], 1.2 * f_max))     # = the upper bound, as in ALeRCE
    p0 = np.array([a_guess, -5.0, min(100.0, max(1.0, times.max() - times.min())), 0.5,
                   min(100.0, max(1.0, (times[np.argmax(flux)] - times.min()) / 2.0)), 40.0])
    for ftol in (a_guess / 20.0, a_guess / 3.0):
        try:
            res = least_squares(_residuals, p0, jac="2-point", bounds=(lo, hi), method="trf",
                                ftol=ftol, args=(times, flux))
        except ValueError:
            continue
        if res.success:
            return res.x
    return np.full(N_PARAMS, np.nan)


def spm_fit_band(mjd: np.ndarray, magpsf: np.ndarray, sigmapsf: np.ndarray) -> np.ndarray:
    """The 7 SPM features of one band (time-sorted detections), as ALeRCE computes them."""
    n = mjd.size
    out = np.full(7, np.nan)
    if n == 0:
        return out
    # ALeRCE casts the relative times and the fluxes to float32 before fitting.
    times = (mjd - mjd.min()).astype(np.float32).astype(np.float64)
    flux_raw = mag_to_flux(magpsf)
    err = mag_to_flux(magpsf - sigmapsf) - flux_raw
    flux = flux_raw.astype(np.float32).astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        params = _fit_like_alerce(times, flux)
        out[:N_PARAMS] = params
        if n - N_PARAMS >= 1 and np.isfinite(params).all():
            pred = spm_model(times, *params)
            out[6] = float((((pred - flux) / (err + 0.01)) ** 2).sum() / (n - N_PARAMS))
    return out


def spm_features(band: BandLightCurves, min_points: int = MIN_POINTS) -> dict[str, np.ndarray]:
    n_obj = len(band.offsets) - 1
    values = np.full((n_obj, 7), np.nan)
    for o in range(n_obj):
        a, b = band.offsets[o], band.offsets[o + 1]
        if b - a >= min_points:
            values[o] = spm_fit_band(band.mjd[a:b], band.magpsf[a:b], band.sigmapsf[a:b])
    return {name: values[:, i] for i, name in enumerate(NAMES)}
