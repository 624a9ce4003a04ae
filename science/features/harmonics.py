"""Features that need the period: 7-harmonic Fourier fit and the folded-curve Psi features.

Harmonics (ALeRCE's HarmonicsExtractor): weighted least squares of
``m(t) = c0 + sum_k a_k cos(2 pi k f t) + b_k sin(2 pi k f t)``, k = 1..7, at the multiband
frequency, weights ``1 / (err + 0.01)``; Harmonics_mag_k = sqrt(a_k^2 + b_k^2),
Harmonics_phase_k = phase_k - k phase_1 (mod 2 pi) for k >= 2, Harmonics_mse the mean
squared residual and Harmonics_chi the chi^2 per degree of freedom (N - 15), NaN when
N <= 15.

Psi_CS, Psi_eta (ALeRCE's FoldedKimExtractor): fold the band at twice the period, sort by
phase, then the range of the cumulative sum and the von Neumann ratio of the folded mags.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from .preprocess import BandLightCurves

N_HARMONICS = 7
ERROR_FLOOR = 0.01
MIN_POINTS = 1  # ALeRCE fits any band with at least one detection (pinv)
NAMES = tuple(f"Harmonics_mag_{k}" for k in range(1, N_HARMONICS + 1)) + tuple(
    f"Harmonics_phase_{k}" for k in range(2, N_HARMONICS + 1)) + ("Harmonics_mse", "Harmonics_chi")
PSI_NAMES = ("Psi_CS", "Psi_eta")


@njit(nogil=True, cache=True)
def harmonics_kernel(offsets, t_all, m_all, e_all, periods, min_points):
    n_obj = offsets.size - 1
    n_par = 2 * N_HARMONICS + 1
    out = np.full((n_obj, 2 * N_HARMONICS + 1), np.nan)
    for o in range(n_obj):
        a0 = offsets[o]
        b0 = offsets[o + 1]
        n = b0 - a0
        period = periods[o]
        if n < min_points or not (period > 0):
            continue
        t = t_all[a0:b0]
        m = m_all[a0:b0]
        inv_err = 1.0 / (e_all[a0:b0] + ERROR_FLOOR)
        f = 1.0 / period
        design = np.empty((n, n_par))
        for i in range(n):
            design[i, 0] = 1.0
            for k in range(N_HARMONICS):
                ph = 2.0 * math.pi * f * (k + 1) * t[i]
                design[i, 1 + k] = math.cos(ph)
                design[i, 1 + N_HARMONICS + k] = math.sin(ph)
        weighted = design * inv_err.reshape(-1, 1)
        # Minimum-norm least squares (ALeRCE uses pinv): defined even when N < 15.
        coef = np.linalg.lstsq(weighted, m * inv_err, rcond=-1.0)[0]
        fitted = design @ coef
        cos_c = coef[1:1 + N_HARMONICS]
        sin_c = coef[1 + N_HARMONICS:]
        mags = np.sqrt(cos_c ** 2 + sin_c ** 2)
        phases = np.arctan2(sin_c, cos_c)
        for k in range(N_HARMONICS):
            out[o, k] = mags[k]
        for k in range(1, N_HARMONICS):
            rel = phases[k] - phases[0] * (k + 1)
            out[o, N_HARMONICS + k - 1] = rel % (2.0 * math.pi)
        resid = fitted - m
        out[o, 2 * N_HARMONICS - 1] = (resid ** 2).mean()
        dof = n - n_par
        if dof >= 1:
            out[o, 2 * N_HARMONICS] = ((resid * inv_err) ** 2).sum() / dof
    return out


@njit(nogil=True, cache=True)
def psi_kernel(offsets, t_all, m_all, periods, min_points):
    n_obj = offsets.size - 1
    out = np.full((n_obj, 2), np.nan)
    for o in range(n_obj):
        a0 = offsets[o]
        b0 = offsets[o + 1]
        n = b0 - a0
        period = periods[o]
        if n < min_points or not (period > 0):
            continue
        t = t_all[a0:b0]
        m = m_all[a0:b0]
        phase = np.mod(t, 2.0 * period) / (2.0 * period)
        folded = m[np.argsort(phase)]
        mean = folded.mean()
        var = ((folded - mean) ** 2).mean()
        if var <= 0:
            continue
        sigma = math.sqrt(var)
        cums = np.cumsum(folded - mean) / (n * sigma)
        out[o, 0] = cums.max() - cums.min()
        out[o, 1] = ((folded[1:] - folded[:-1]) ** 2).sum() / ((n - 1) * var)
    return out


def harmonics_features(band: BandLightCurves, periods: np.ndarray,
                       min_points: int = MIN_POINTS) -> dict[str, np.ndarray]:
    values = harmonics_kernel(band.offsets, band.mjd, band.mag, band.err,
                              np.ascontiguousarray(periods, dtype=float), min_points)
    return {name: values[:, i] for i, name in enumerate(NAMES)}


def psi_features(band: BandLightCurves, periods: np.ndarray,
                 min_points: int = MIN_POINTS) -> dict[str, np.ndarray]:
    values = psi_kernel(band.offsets, band.mjd, band.mag,
                        np.ascontiguousarray(periods, dtype=float), min_points)
    return {name: values[:, i] for i, name in enumerate(PSI_NAMES)}
