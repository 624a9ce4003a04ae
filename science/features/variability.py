"""Per-band variability features (ALeRCE's turbo-fats set).

Five features whose light-curve (Rust) definition equals ALeRCE's are taken from
light-curve: Mean, MedianAbsDev (MedianAbsoluteDeviation), MaxSlope (MaximumSlope),
StetsonK and LinearTrend (slope of the ordinary least-squares line). The others differ
from light-curve's namesakes (ddof, weighting, bias corrections, percentile rules), so they
are hand-written in one numba ``nogil`` kernel that loops over all objects of a band,
following ALeRCE's formulas line by line.
"""
from __future__ import annotations

import math

import light_curve as lc
import numpy as np
from numba import njit
from scipy.special import chdtr

from .preprocess import BandLightCurves

LIGHT_CURVE_NAMES = ("Mean", "MedianAbsDev", "MaxSlope", "StetsonK", "LinearTrend")
KERNEL_NAMES = (
    "Amplitude", "AndersonDarling", "Autocor_length", "Beyond1Std", "Con", "Eta_e", "Gskew",
    "Meanvariance", "MedianBRP", "PairSlopeTrend", "PercentAmplitude", "Q31", "Rcs", "Skew",
    "SmallKurtosis", "Std", "Pvar", "ExcessVar", "SF_ML_amplitude", "SF_ML_gamma", "IAR_phi",
)
NAMES = tuple(sorted(LIGHT_CURVE_NAMES + KERNEL_NAMES))
MIN_POINTS = 6

_LC_EXTRACTOR = lc.Extractor(lc.Mean(), lc.MedianAbsoluteDeviation(), lc.MaximumSlope(),
                             lc.StetsonK(), lc.LinearTrend())
_E_INV = math.exp(-1.0)
_SQRT2 = math.sqrt(2.0)


@njit(nogil=True, cache=True)
def _median_of(values):
    return np.median(values) if values.size > 0 else np.nan


@njit(nogil=True, cache=True)
def _anderson_darling(m):
    # scipy.stats.anderson(x)[0] for the normal distribution, then ALeRCE's sigmoid.
    n = m.size
    y = np.sort(m)
    mean = y.mean()
    s = math.sqrt(((y - mean) ** 2).sum() / (n - 1))
    if s == 0.0:
        return np.nan
    total = 0.0
    for i in range(n):
        wi = (y[i] - mean) / s
        wj = (y[n - 1 - i] - mean) / s
        logcdf = math.log(max(0.5 * math.erfc(-wi / _SQRT2), 1e-300))
        logsf = math.log(max(0.5 * math.erfc(wj / _SQRT2), 1e-300))
        total += (2.0 * (i + 1) - 1.0) / n * (logcdf + logsf)
    a2 = -n - total
    return 1.0 / (1.0 + math.exp(-10.0 * (a2 - 0.3)))


@njit(nogil=True, cache=True)
def _autocor_length(m):
    # statsmodels acf (fft=False): biased autocovariance over the full-sample variance;
    # the first lag where it drops below 1/e, or the curve length when it never does.
    n = m.size
    d = m - m.mean()
    c0 = (d * d).sum()
    if c0 == 0.0:
        return np.nan
    for k in range(1, n):
        ck = 0.0
        for i in range(n - k):
            ck += d[i] * d[i + k]
        if ck / c0 < _E_INV:
            return float(k)
    return float(n)


@njit(nogil=True, cache=True)
def _con(m, mean, std):
    n = m.size
    if n < 3:
        return 0.0
    count = 0
    for i in range(n - 2):
        beyond = True
        for j in range(3):
            v = m[i + j]
            if not (v > mean + 2 * std or v < mean - 2 * std):
                beyond = False
                break
        if beyond:
            count += 1
    return count / (n - 2.0)


@njit(nogil=True, cache=True)
def _structure_function(t, m, e):
    """ALeRCE's SF_ML: binned structure function fitted as A (tau/yr)^gamma in log-log."""
    n = m.size
    logbins = np.arange(math.log10(5.0), math.log10(2000.0), 0.1)
    bins = 10.0 ** logbins
    nb = bins.size - 1
    sums = np.zeros(nb)
    counts = np.zeros(nb)
    for i in range(n):
        for j in range(i + 1, n):
            dt = t[j] - t[i]
            if dt < 5.0 or dt > 365.0:
                continue
            k = np.searchsorted(bins, dt, side="right") - 1
            if k < 0 or k >= nb:
                continue
            dm = m[i] - m[j]
            sums[k] += dm * dm - (e[i] * e[i] + e[j] * e[j])
            counts[k] += 1
    xs = np.empty(nb)
    ys = np.empty(nb)
    n_sf = 0
    n_sel = 0
    for k in range(nb):
        if counts[k] < 1:
            continue
        mean_sf = sums[k] / counts[k]
        if mean_sf < 0:
            continue
        n_sf += 1
        tau = 0.5 * (bins[k] + bins[k + 1]) / 365.0
        if tau <= 0.5 and tau > 0.01:
            xs[n_sel] = math.log10(tau)
            ys[n_sel] = math.log10(math.sqrt(mean_sf)) if mean_sf > 0 else -np.inf
            n_sel += 1
    if n_sf < 2 or n_sel < 2:
        return -0.5, -0.5
    x = xs[:n_sel]
    y = ys[:n_sel]
    if not np.all(np.isfinite(y)):
        return -0.5, -0.5
    xm = x.mean()
    ym = y.mean()
    sxx = ((x - xm) ** 2).sum()
    if sxx == 0.0:
        return -0.5, -0.5
    gamma = ((x - xm) * (y - ym)).sum() / sxx
    a = 10.0 ** (ym - gamma * xm)
    if a < 0.005:
        a = 0.0
        gamma = 0.0
    elif a > 15.0:
        a = 15.0
    gamma = min(max(gamma, -0.5), 3.0)
    return a, gamma


@njit(nogil=True, cache=True)
def _iar_objective(phi, t, y, yerr):
    # ALeRCE's IAR Kalman-filter objective (standardized series).
    n = y.size
    sighat = 1.0
    xhat = 0.0
    sum_lambda = 0.0
    sum_error = 0.0
    if not (abs(phi) < 1.0):
        return 1e10
    for i in range(n - 1):
        lam = sighat + yerr[i + 1] ** 2
        if lam <= 0 or np.isnan(lam):
            sum_lambda = n * 1e10
            break
        delta = t[i + 1] - t[i]
        f = phi ** delta
        qt = (1.0 - phi ** (2.0 * delta)) * 1.0
        sum_lambda += math.log(lam)
        theta = f * sighat
        innovation = y[i] - xhat
        sum_error += innovation ** 2 / lam
        xhat = f * xhat + theta / lam * innovation
        sighat = f * sighat * f + qt - theta / lam * theta
    out = (sum_lambda + sum_error) / n
    if np.isnan(out):
        return 1e10
    return out


@njit(nogil=True, cache=True)
def _iar_phi(t, m, e):
    std = math.sqrt(((m - m.mean()) ** 2).sum() / (m.size - 1))
    if std == 0.0:
        return np.nan
    y = (m - m.mean()) / std
    yerr = e / std
    # Bounded golden-section search on (0, 1), like scipy's minimize_scalar(bounded).
    lo, hi = 0.0, 1.0
    g = (math.sqrt(5.0) - 1.0) / 2.0
    c = hi - g * (hi - lo)
    d = lo + g * (hi - lo)
    fc = _iar_objective(c, t, y, yerr)
    fd = _iar_objective(d, t, y, yerr)
    for _ in range(80):
        if hi - lo < 1e-10:
            break
        if fc < fd:
            hi, d, fd = d, c, fc
            c = hi - g * (hi - lo)
            fc = _iar_objective(c, t, y, yerr)
        else:
            lo, c, fc = c, d, fd
            d = lo + g * (hi - lo)
            fd = _iar_objective(d, t, y, yerr)
    return 0.5 * (lo + hi)


@njit(nogil=True, cache=True)
def variability_kernel(offsets, t_all, m_all, e_all, min_points):
    """One row per object, columns in KERNEL_NAMES order (Pvar column holds chi^2)."""
    n_obj = offsets.size - 1
    out = np.full((n_obj, 21), np.nan)
    for o in range(n_obj):
        a = offsets[o]
        b = offsets[o + 1]
        n = b - a
        if n < min_points:
            continue
        t = t_all[a:b]
        m = m_all[a:b]
        e = e_all[a:b]
        mean = m.mean()
        std = math.sqrt(((m - mean) ** 2).sum() / n)
        median = np.median(m)
        srt = np.sort(m)
        k5 = int(math.ceil(0.05 * n))
        out[o, 0] = (np.median(srt[n - k5:]) - np.median(srt[:k5])) / 2.0
        out[o, 1] = _anderson_darling(m)
        out[o, 2] = _autocor_length(m)
        w = 1.0 / (e * e)
        wmean = (m * w).sum() / w.sum()
        std1 = math.sqrt(((m - wmean) ** 2).sum() / (n - 1))
        beyond = 0
        for i in range(n):
            if m[i] > wmean + std1 or m[i] < wmean - std1:
                beyond += 1
        out[o, 3] = beyond / n
        out[o, 4] = _con(m, mean, std)
        var = std * std
        if var > 0:
            s1 = 0.0
            s2 = 0.0
            for i in range(n - 1):
                dt = t[i + 1] - t[i]
                wi = 1.0 / (dt * dt)
                s1 += wi * (m[i + 1] - m[i]) ** 2
                s2 += wi
            out[o, 5] = s1 / s2 / var
        p3 = np.percentile(m, 3.0)
        p97 = np.percentile(m, 97.0)
        out[o, 6] = _median_of(m[m <= p3]) + _median_of(m[m >= p97]) - 2 * median
        out[o, 7] = std / mean
        amp10 = (srt[n - 1] - srt[0]) / 10.0
        inside = 0
        for i in range(n):
            if m[i] < median + amp10 and m[i] > median - amp10:
                inside += 1
        out[o, 8] = inside / n
        last = m[max(0, n - 30):]
        ups = 0
        downs = 0
        for i in range(last.size - 1):
            if last[i + 1] - last[i] > 0:
                ups += 1
            else:
                downs += 1
        out[o, 9] = (ups - downs) / 30.0
        out[o, 10] = np.abs(m - median).max() / median
        out[o, 11] = np.percentile(m, 75.0) - np.percentile(m, 25.0)
        if std > 0:
            cums = np.cumsum(m - mean) / (n * std)
            out[o, 12] = cums.max() - cums.min()
            z = (m - mean) / std
            out[o, 13] = (z ** 3).mean()
            c1 = n * (n + 1.0) / ((n - 1.0) * (n - 2.0) * (n - 3.0))
            c2 = 3.0 * (n - 1.0) ** 2 / ((n - 2.0) * (n - 3.0))
            out[o, 14] = c1 * (z ** 4).sum() - c2
        out[o, 15] = std
        out[o, 16] = (((m - mean) / e) ** 2).sum()  # chi^2, turned into Pvar outside
        out[o, 17] = ((m - mean) ** 2 - e * e).sum() / (n * mean * mean)
        sf_a, sf_g = _structure_function(t, m, e)
        out[o, 18] = sf_a
        out[o, 19] = sf_g
        out[o, 20] = _iar_phi(t, m, e)
    return out


def variability_features(band: BandLightCurves, min_points: int = MIN_POINTS) -> dict[str, np.ndarray]:
    """All variability features of one band for every object of the batch."""
    kernel = variability_kernel(band.offsets, band.mjd, band.mag, band.err, min_points)
    n_points = band.n_points
    result = {name: kernel[:, i] for i, name in enumerate(KERNEL_NAMES)}
    chi = result["Pvar"]
    with np.errstate(invalid="ignore"):
        result["Pvar"] = np.where(np.isfinite(chi), chdtr(np.maximum(n_points - 1, 1), chi), np.nan)

    lc_values = np.full((len(n_points), 7), np.nan)
    idx = np.flatnonzero(n_points >= min_points)
    if idx.size:
        curves = [band.arrays(i) for i in idx]
        lc_values[idx] = _LC_EXTRACTOR.many(curves, sorted=True, check=False, n_jobs=1,
                                             fill_value=np.nan)
    # Extractor output: mean, MAD, max slope, StetsonK, trend, trend_sigma, noise.
    for name, col in zip(LIGHT_CURVE_NAMES, (0, 1, 2, 3, 4)):
        result[name] = lc_values[:, col]
    return result
