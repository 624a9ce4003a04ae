"""Mexican-hat power spectrum features (Arevalo et al. 2012, ALeRCE's ``mhps`` package).

A port of ALeRCE's C implementation (``mhps.statistics``) to a numba ``nogil`` kernel in
float64: the light curve is turned into flux ``10^(-0.4 (mag - mag0))``, convolved with two
Gaussians of widths ``sigma1 = 0.225 t / sqrt(1 + eps)`` and ``sigma2 = (1 + eps) sigma1``
(their difference is a Mexican hat at time scale ``t``), normalized by the convolved
sampling mask, and the variance of the filtered curve, minus the photometric-noise
power, is the power at that scale. ``t1 = 100 d`` gives MHPS_low, ``t2 = 10 d`` MHPS_high;
MHPS_ratio = low / high; MHPS_non_zero counts the points with enough neighbours in the
10 d filter; MHPS_PN_flag = 1 when the high-frequency power does not exceed the noise.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from .preprocess import BandLightCurves

NAMES = ("MHPS_ratio", "MHPS_low", "MHPS_high", "MHPS_non_zero", "MHPS_PN_flag")
MIN_POINTS = 1  # ALeRCE runs MHPS on any band with a detection
T1, T2 = 100.0, 10.0
# ALeRCE 1.1.1 calls mhps.statistics(mag, err, t, t1, t2): its extractor dt=3.0 is never
# passed, so the library default dt = 5 applies.
DT_MIN, MAG0, EPSILON = 5.0, 19.0, 1.0


@njit(nogil=True, cache=True)
def _mexican_hat_conv(a, time, mask, c1, c2, dtmin, b1, b2):
    n = a.size
    lo = -6.0 * c1
    hi = 6.0 * c1
    if hi < 6.0 * dtmin:
        lo = -6.0 * dtmin
        hi = 6.0 * dtmin
    step = (hi - lo) / 1000.0
    norm1 = 0.0
    norm2 = 0.0
    for k in range(1001):
        x = lo + k * step
        norm1 += math.exp(-x * x / (2 * c1 * c1))
        norm2 += math.exp(-x * x / (2 * c2 * c2))
    norm1 *= step
    norm2 *= step
    normf = 0.0
    for k in range(1001):
        x = lo + k * step
        diff = math.exp(-x * x / (2 * c1 * c1)) / norm1 - math.exp(-x * x / (2 * c2 * c2)) / norm2
        normf += diff * diff
    normf *= step
    for i in range(n):
        s1 = 0.0
        s2 = 0.0
        neighbours = 0
        for j in range(n):
            d = time[j] - time[i]
            if d > lo and d < hi and mask[j] > 0:
                s1 += a[j] * math.exp(-d * d / (2 * c1 * c1)) / norm1
                s2 += a[j] * math.exp(-d * d / (2 * c2 * c2)) / norm2
                if d >= lo * 2.0 / 3.0 and d <= hi * 2.0 / 3.0:
                    neighbours += 1
        b1[i] = s1 * mask[i]
        b2[i] = s2 * mask[i]
        if neighbours <= 3:
            b1[i] = -1.0
            b2[i] = -1.0
    return normf


@njit(nogil=True, cache=True)
def _filtered_power(flux, time, mask, t_scale, mean):
    n = flux.size
    sigma1 = 0.225 * t_scale / math.sqrt(1.0 + EPSILON)
    sigma2 = (1.0 + EPSILON) * sigma1
    mask_g1 = np.empty(n)
    mask_g2 = np.empty(n)
    rate_g1 = np.empty(n)
    rate_g2 = np.empty(n)
    _mexican_hat_conv(mask, time, mask, sigma1, sigma2, DT_MIN, mask_g1, mask_g2)
    norm = _mexican_hat_conv(flux, time, mask, sigma1, sigma2, DT_MIN, rate_g1, rate_g2)
    total = 0.0
    nonzero = 0
    valid = np.zeros(n, dtype=np.bool_)
    for k in range(n):
        if mask_g1[k] > 0:
            ik = rate_g1[k] / mask_g1[k] - rate_g2[k] / mask_g2[k]
            total += ik * ik
            nonzero += 1
            valid[k] = True
    if nonzero == 0:
        return np.nan, 0, valid
    return total / nonzero / norm / (mean * mean), nonzero, valid


@njit(nogil=True, cache=True)
def mhps_kernel(offsets, t_all, m_all, e_all, min_points):
    n_obj = offsets.size - 1
    out = np.full((n_obj, 5), np.nan)
    for o in range(n_obj):
        a = offsets[o]
        b = offsets[o + 1]
        if b - a < min_points:
            continue
        t = t_all[a:b]
        mag = m_all[a:b]
        err = e_all[a:b]
        flux = 10.0 ** (-0.4 * (mag - MAG0))
        mask = np.ones(b - a)
        mean = flux.mean()
        low, nz_low, valid = _filtered_power(flux, t, mask, T1, mean)
        pn = 0.0
        for k in range(b - a):
            if valid[k]:
                pn += math.log(10.0) * 10.0 ** (-0.4 * (mag[k] - MAG0)) * 0.4 * err[k]
        pn = (pn / nz_low) ** 2 / (mean * mean) if nz_low > 0 else np.nan
        low = low - pn
        high, nz_high, _ = _filtered_power(flux, t, mask, T2, mean)
        flag = 1.0
        if high > pn:
            high = high - pn
            flag = 0.0
        out[o, 0] = low / high if high != 0 else np.nan
        out[o, 1] = low
        out[o, 2] = high
        out[o, 3] = nz_high
        out[o, 4] = flag
    return out


def mhps_features(band: BandLightCurves, min_points: int = MIN_POINTS) -> dict[str, np.ndarray]:
    values = mhps_kernel(band.offsets, band.mjd, band.mag, band.err, min_points)
    return {name: values[:, i] for i, name in enumerate(NAMES)}
