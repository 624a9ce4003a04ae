"""Multiband period search: Multiband_period, PPE, Period_band_*, delta_period_*, Power_rate_*.

ALeRCE's definition (lc_classifier 1.1.1 ``PeriodExtractor`` with P4J's ``MultiBandPeriodogram``,
method MHAOV, one harmonic, float32 data):

- per band b with more than 5 points, magnitudes m, errors e, weights 1/e^2: the raw
  multi-harmonic AOV statistic ``aov_b(f)`` is the weighted sum of squares (chi^2 about the
  weighted mean) that a constant plus one sinusoid at f removes, ``wvar_b`` the chi^2
  about the weighted mean, ``d2_b = N_b - 3``;
- multiband periodogram ``P(f) = sum d2_b * sum aov_b / (2 (sum wvar_b - sum aov_b))``,
  single band ``P_b(f) = d2_b aov_b / (2 (wvar_b - aov_b))``;
- coarse grid ``f = 1e-3, 2e-3, ... < 20 d^-1`` (float32 ``arange``), then the 10 highest
  local maxima are refined on ``f +- 1e-3`` in steps of 1e-4; a refined value replaces the
  coarse entry when higher (single-band values follow it);
- Multiband_period = 1 / the best refined local maximum; Period_band_b = 1 / argmax P_b
  on the same (updated) grid; PPE = 1 - entropy of the normalised 100 highest values
  (+0.01) / ln 100; Power_rate_k = P at the grid frequency nearest 1/(k P_peak) over the
  peak power. Fewer than 10 local maxima: NaN (P4J raises, ALeRCE returns NaN).

``aov_b`` is computed here as ``wvar_b`` times the generalized Lomb-Scargle power (the same
projection), with trigonometric recurrences over a uniform grid (SIMD-friendly, no sin/cos
per point and frequency), on the float32-rounded times, magnitudes and errors P4J uses.

Alias resolution (``resolve_aliases``, on by default): ALeRCE's one-harmonic peak of a
non-sinusoidal pulsator observed once a night is often a 1 c/d alias. Each of the 10
refined optima and its ``+- 1, +- 2 d^-1`` aliases is scored by the chi^2 a multiband
N_RANK_HARMONICS-harmonic Fourier series removes; a candidate replaces ALeRCE's choice
only when it removes clearly more (ALIAS_MARGIN of the residual chi^2), and is then
refined. Beyond a 1000 d baseline the coarse step is 1/baseline (``adaptive_grid``). The
PPE and Power_rate features keep the MHAOV periodogram.

Reuse: when a previous frequency is given for an object (``previous``), the grid search is
skipped and only a window around it is refined (for a night that only adds a few points).
PPE cannot be recomputed that way and is returned as NaN (the caller keeps the old one);
Power_rate is then evaluated exactly at f/k.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from .preprocess import BandLightCurves

# ALeRCE 1.1.1's grid (PeriodExtractor: fmin=1e-3, fmax=20, fresolution=1e-3; finetune
# n_local_optima=10, fresolution=1e-4).
FREQ_MIN, FREQ_MAX, FREQ_STEP = 1e-3, 20.0, 1e-3
FINE_STEP = 1e-4
N_LOCAL_OPTIMA = 10
COARSE_GRID = np.arange(FREQ_MIN, FREQ_MAX, FREQ_STEP, dtype=np.float32).astype(np.float64)
PERIOD_MIN = 1.0 / FREQ_MAX
PERIOD_MAX = 1.0 / FREQ_MIN
MIN_POINTS = 6   # PeriodExtractor leaves out bands with <= 5 points
N_PPE_TOP = 100
ALIAS_OFFSETS = (-1.0, 1.0, -2.0, 2.0)  # d^-1
ALIAS_WINDOW = 0.01  # d^-1 searched around each alias
ALIAS_PEAKS = 3  # periodogram peaks scored per alias window
ALIAS_REFINED = 4  # best-scoring candidates refined by the harmonic fit
ALIAS_MARGIN = 0.02
POWER_RATE_FACTORS = (0.25, 1.0 / 3.0, 0.5, 2.0, 3.0, 4.0)
POWER_RATE_NAMES = ("Power_rate_1/4", "Power_rate_1/3", "Power_rate_1/2",
                    "Power_rate_2", "Power_rate_3", "Power_rate_4")
NAMES = ("Multiband_period", "PPE", "Period_band_1", "delta_period_1", "Period_band_2",
         "delta_period_2") + POWER_RATE_NAMES
_TWO_PI = 2.0 * math.pi
_RESEED_EVERY = 256  # re-seed the trig recurrence with exact sin/cos (bounds drift)
N_RANK_HARMONICS = 4


@njit(nogil=True, cache=True, fastmath=True)
def gls_power_grid(t, y, w, f0, df, nf, out):
    """Normalized GLS power of one band at f0 + k df, k < nf, into ``out[:nf]``.

    ``y`` must be centred on its weighted mean and ``w`` normalized to sum 1.
    """
    n = t.size
    yy = 0.0
    wy = np.empty(n)
    for i in range(n):
        wy[i] = w[i] * y[i]
        yy += wy[i] * y[i]
    if yy <= 0.0 or n == 0:
        out[:nf] = 0.0
        return
    cd = np.empty(n)
    sd = np.empty(n)
    cs = np.empty(n)
    sn = np.empty(n)
    for i in range(n):
        ph = _TWO_PI * df * t[i]
        cd[i] = math.cos(ph)
        sd[i] = math.sin(ph)
    for k0 in range(0, nf, _RESEED_EVERY):
        f = f0 + k0 * df
        for i in range(n):
            ph = _TWO_PI * f * t[i]
            cs[i] = math.cos(ph)
            sn[i] = math.sin(ph)
        k1 = min(k0 + _RESEED_EVERY, nf)
        for k in range(k0, k1):
            c_sum = 0.0
            s_sum = 0.0
            yc = 0.0
            ys = 0.0
            c2 = 0.0
            cxs = 0.0
            for i in range(n):
                c = cs[i]
                s = sn[i]
                wi = w[i]
                c_sum += wi * c
                s_sum += wi * s
                yc += wy[i] * c
                ys += wy[i] * s
                c2 += wi * (c * c - s * s)
                cxs += wi * (c * s)
                cs[i] = c * cd[i] - s * sd[i]
                sn[i] = s * cd[i] + c * sd[i]
            cc = 0.5 * (1.0 + c2) - c_sum * c_sum
            ss = 0.5 * (1.0 - c2) - s_sum * s_sum
            csc = cxs - c_sum * s_sum
            det = cc * ss - csc * csc
            if det <= 1e-12:
                out[k] = 0.0
            else:
                out[k] = (ss * yc * yc + cc * ys * ys - 2.0 * csc * yc * ys) / (yy * det)


@njit(nogil=True, cache=True, error_model="numpy")
def _prepare_band(t_raw, m, e, t_ref):
    w = 1.0 / (e * e)
    chi_w = w.copy()
    wsum = w.sum()
    mean = (w * m).sum() / wsum
    y = m - mean
    chi0 = (chi_w * y * y).sum()
    return t_raw - t_ref, y, w / wsum, chi0


@njit(nogil=True, cache=True, error_model="numpy")
def harmonic_chi2_reduction(ts, ys, ws, chis, used, f, n_harmonics):
    """Fraction of the multiband chi^2 removed by an n-harmonic Fourier series at ``f``
    (its own constant and amplitudes per band), from the normal equations accumulated with
    the harmonic recurrence (one sin/cos per point).

    Used to rank candidate peaks: a one-harmonic periodogram often prefers a daily alias
    of a non-sinusoidal pulsator, the multi-harmonic fit does not.
    """
    total = 0.0
    removed = 0.0
    n_par = 2 * n_harmonics + 1
    row = np.empty(n_par)
    for b in range(2):
        if not used[b]:
            continue
        t = ts[b]
        y = ys[b]
        w = ws[b]
        n = t.size
        if n <= n_par:
            continue
        normal = np.zeros((n_par, n_par))
        rhs = np.zeros(n_par)
        chi_null = 0.0
        for i in range(n):
            ph = _TWO_PI * f * t[i]
            c1 = math.cos(ph)
            s1 = math.sin(ph)
            row[0] = 1.0
            ck = c1
            sk = s1
            for h in range(n_harmonics):
                row[1 + 2 * h] = ck
                row[2 + 2 * h] = sk
                ck, sk = ck * c1 - sk * s1, sk * c1 + ck * s1
            wi = w[i]
            for p in range(n_par):
                wp = wi * row[p]
                rhs[p] += wp * y[i]
                for q in range(p, n_par):
                    normal[p, q] += wp * row[q]
            chi_null += wi * y[i] * y[i]
        for p in range(n_par):
            normal[p, p] += 1e-9
            for q in range(p):
                normal[p, q] = normal[q, p]
        coef = np.linalg.solve(normal, rhs)
        chi_fit = chi_null - (coef * rhs).sum()
        if chi_null > 0:
            removed += chis[b] * (1.0 - chi_fit / chi_null)
            total += chis[b]
    return removed / total if total > 0 else 0.0


@njit(nogil=True, cache=True, error_model="numpy")
def _band_aov(t, y, w, chi0, f0, df, nf, out):
    """Raw one-harmonic AOV of one band (chi^2 removed) at f0 + k df into ``out[:nf]``."""
    gls_power_grid(t, y, w, f0, df, nf, out)
    for k in range(nf):
        out[k] *= chi0


@njit(nogil=True, cache=True, error_model="numpy")
def _mhaov_from_aov(aov_sum, wvar_sum, d2_sum):
    den = wvar_sum - aov_sum
    if den < 1e-9:
        den = 1e-9
    return d2_sum * aov_sum / (2.0 * den)


@njit(nogil=True, cache=True, error_model="numpy")
def _fine_grid(ts, ys, ws, chis, d2s, used, f0, df, nf):
    """Multiband and single-band MHAOV on a uniform grid: (multi[nf], single[2, nf])."""
    aov = np.zeros((2, nf))
    multi = np.zeros(nf)
    single = np.full((2, nf), np.nan)
    wvar = 0.0
    d2 = 0.0
    for b in range(2):
        if used[b]:
            _band_aov(ts[b], ys[b], ws[b], chis[b], f0, df, nf, aov[b])
            wvar += chis[b]
            d2 += d2s[b]
            for k in range(nf):
                single[b, k] = _mhaov_from_aov(aov[b, k], chis[b], d2s[b])
    for k in range(nf):
        multi[k] = _mhaov_from_aov(aov[0, k] * used[0] + aov[1, k] * used[1], wvar, d2)
    return multi, single


@njit(nogil=True, cache=True, error_model="numpy")
def _local_maxima_desc(power, n_keep, require_all=True):
    """Indices of the n_keep highest strict interior local maxima (P4J's rule), descending;
    fewer than n_keep -> empty (``require_all``, P4J's failure) or padded with -1."""
    nf = power.size
    idx = np.full(n_keep, -1, dtype=np.int64)
    val = np.full(n_keep, -np.inf)
    count = 0
    for k in range(1, nf - 1):
        p = power[k]
        if not (p > power[k - 1] and p > power[k + 1]):
            continue
        count += 1
        if p <= val[n_keep - 1]:
            continue
        j = n_keep - 1
        while j > 0 and val[j - 1] < p:
            val[j] = val[j - 1]
            idx[j] = idx[j - 1]
            j -= 1
        val[j] = p
        idx[j] = k
    if count < n_keep and require_all:
        return np.zeros(0, dtype=np.int64)
    return idx


@njit(nogil=True, cache=True, error_model="numpy")
def _nearest_index(freq, target):
    """ALeRCE PowerRateExtractor's nearest-grid rule on a sorted grid."""
    i = np.searchsorted(freq, target)
    if i == 0:
        return 0
    if target > freq[-1]:
        return freq.size - 1
    if target > 0.5 * (freq[i - 1] + freq[i]):
        return i
    return i - 1


@njit(nogil=True, cache=True, error_model="numpy")
def _harmonic_refine(ts, ys, ws, chis, used, f_center, half_width, step, n_harmonics):
    """Frequency in f_center +- half_width (grid ``step``) whose n-harmonic multiband fit
    removes the most chi^2; (frequency, fraction removed)."""
    nf = 2 * int(round(half_width / step)) + 1
    best_f = f_center
    best = -1.0
    for k in range(nf):
        f = f_center - half_width + k * step
        if f <= 0:
            continue
        score = harmonic_chi2_reduction(ts, ys, ws, chis, used, f, n_harmonics)
        if score > best:
            best = score
            best_f = f
    return best_f, best


_F32_PI = np.float32(3.1415926535897)


@njit(nogil=True, cache=True, error_model="numpy")
def aov_float32_phase(t32, y, wn, chi0, freq32):
    """P4J's raw one-harmonic MHAOV (chi^2 removed by a constant + sinusoid) at one
    frequency, with the phase as P4J computes it: the float32 product t f of float32 MJDs,
    reduced mod 1. With MJDs ~6e4 that rounding moves each phase by up to ~1/64 cycle and
    decides between neighbouring fine-grid frequencies, hence its emulation; the sums are
    in float64 (their float32 rounding in P4J is ~1e-7, negligible beside it).
    ``y`` is centred on the weighted mean, ``wn`` are the normalized weights 1/e^2.
    """
    c_sum = 0.0
    s_sum = 0.0
    yc = 0.0
    ys = 0.0
    cc2 = 0.0
    cxs = 0.0
    yy = 0.0
    for i in range(t32.size):
        arg = t32[i] * freq32
        frac = np.float64(arg - np.float32(math.floor(arg)))
        ph = 2.0 * np.float64(_F32_PI) * frac
        c = math.cos(ph)
        s = math.sin(ph)
        w = wn[i]
        c_sum += w * c
        s_sum += w * s
        yc += w * y[i] * c
        ys += w * y[i] * s
        cc2 += w * c * c
        cxs += w * c * s
        yy += w * y[i] * y[i]
    cc = cc2 - c_sum * c_sum
    ss = (1.0 - cc2) - s_sum * s_sum
    csc = cxs - c_sum * s_sum
    det = cc * ss - csc * csc
    if det <= 1e-12 or yy <= 0.0:
        return 0.0
    return chi0 * (ss * yc * yc + cc * ys * ys - 2.0 * csc * yc * ys) / (yy * det)


@njit(nogil=True, cache=True, error_model="numpy")
def _arange32(start, stop, step):
    """numpy.arange(start, stop, step, dtype=float32) for float64 start/stop/step."""
    n = int(math.ceil((stop - start) / step))
    out = np.empty(max(n, 0), dtype=np.float32)
    if n <= 0:
        return out
    out[0] = np.float32(start)
    if n > 1:
        second = np.float32(start + step)
        delta = second - out[0]
        out[1] = second
        for i in range(2, n):
            out[i] = out[0] + np.float32(i) * delta
    return out


@njit(nogil=True, cache=True, error_model="numpy")
def _finetune32(t32s, ys, ws, wvars, d2s, used, f_center, coarse_step, fine_step):
    """P4J's fine-tuning window around one coarse optimum, exactly: (freqs, multi, single)."""
    freqs = _arange32(np.float64(f_center) - coarse_step, np.float64(f_center) + coarse_step, fine_step)
    nf = freqs.size
    multi = np.zeros(nf)
    single = np.full((2, nf), np.nan)
    wvar = 0.0
    d2 = 0.0
    for b in range(2):
        if used[b]:
            wvar += wvars[b]
            d2 += d2s[b]
    for k in range(nf):
        aov_sum = 0.0
        for b in range(2):
            if used[b]:
                a = aov_float32_phase(t32s[b], ys[b], ws[b], wvars[b], freqs[k])
                aov_sum += a
                single[b, k] = np.float32(d2s[b] / 2.0 * a / (wvars[b] - a))
        multi[k] = np.float32(d2 * aov_sum / (2.0 * (wvar - aov_sum)))
    return freqs, multi, single


@njit(nogil=True, cache=True, error_model="numpy")
def period_kernel(off1, t1, m1, e1, off2, t2, m2, e2, previous_freq, min_points, alerce_grid,
                  resolve_aliases, n_rank_harmonics, adaptive_grid):
    """Columns: best freq, PPE, band-1 freq, band-2 freq, six power rates."""
    n_obj = off1.size - 1
    out = np.full((n_obj, 10), np.nan)
    for o in range(n_obj):
        n1 = off1[o + 1] - off1[o]
        n2 = off2[o + 1] - off2[o]
        used = np.array([n1 >= min_points, n2 >= min_points])
        if not used[0] and not used[1]:
            continue
        tmin = np.inf
        tmax = -np.inf
        if used[0]:
            tmin = min(tmin, t1[off1[o]])
            tmax = max(tmax, t1[off1[o + 1] - 1])
        if used[1]:
            tmin = min(tmin, t2[off2[o]])
            tmax = max(tmax, t2[off2[o + 1] - 1])
        baseline = tmax - tmin
        if baseline <= 0:
            continue
        # ALeRCE's 1e-3 d^-1 step samples a peak of width 1/baseline; beyond 1000 d (not in
        # ZTF's first years) it would step over peaks, so the adaptive grid uses 1/baseline.
        if adaptive_grid and baseline * FREQ_STEP > 1.0:
            coarse_step = 1.0 / baseline
            grid = FREQ_MIN + np.arange(int((FREQ_MAX - FREQ_MIN) / coarse_step)) * coarse_step
        else:
            coarse_step = FREQ_STEP
            grid = alerce_grid
        fine_step = coarse_step * (FINE_STEP / FREQ_STEP)
        nf = grid.size
        f0 = grid[0]
        df = (grid[-1] - grid[0]) / (nf - 1)
        t_ref = 0.5 * (tmin + tmax)
        empty = np.zeros(1)
        ta, ya, wa, ca = (_prepare_band(t1[off1[o]:off1[o + 1]], m1[off1[o]:off1[o + 1]],
                                        e1[off1[o]:off1[o + 1]], t_ref)
                          if used[0] else (empty, empty, empty, 0.0))
        tb, yb, wb, cb = (_prepare_band(t2[off2[o]:off2[o + 1]], m2[off2[o]:off2[o + 1]],
                                        e2[off2[o]:off2[o + 1]], t_ref)
                          if used[1] else (empty, empty, empty, 0.0))
        ts = (ta, tb)
        ys = (ya, yb)
        ws = (wa, wb)
        chis = np.array([ca, cb])
        d2s = np.array([n1 - 3.0, n2 - 3.0])
        if chis.sum() <= 0:
            continue
        band_freq = np.full(2, np.nan)
        prev = previous_freq[o]
        power_rates = np.full(6, np.nan)
        if prev > 0:
            half = 3.0 * FREQ_STEP
            n_win = 2 * int(round(half / FINE_STEP)) + 1
            multi, single = _fine_grid(ts, ys, ws, chis, d2s, used, prev - half, FINE_STEP, n_win)
            kbest = np.argmax(multi)
            best_f = prev - half + kbest * FINE_STEP
            best_p = multi[kbest]
            ppe = np.nan
            for b in range(2):
                if used[b]:
                    band_freq[b] = prev - half + np.argmax(single[b]) * FINE_STEP
            for j in range(6):
                f_rate = best_f / POWER_RATE_FACTORS[j]
                pr, _ = _fine_grid(ts, ys, ws, chis, d2s, used, f_rate, 1.0, 1)
                power_rates[j] = pr[0] / best_p
        else:
            freq = grid.copy()
            per, single = _fine_grid(ts, ys, ws, chis, d2s, used, f0, df, nf)
            optima = _local_maxima_desc(per, N_LOCAL_OPTIMA)
            if optima.size == 0:
                continue
            sl = ((off1[o], off1[o + 1]), (off2[o], off2[o + 1]))
            t32s = (t1[sl[0][0]:sl[0][1]].astype(np.float32), t2[sl[1][0]:sl[1][1]].astype(np.float32))
            for k in optima:
                fine_f, fine, fine_single = _finetune32(t32s, ys, ws, chis, d2s, used,
                                                        np.float32(freq[k]), coarse_step, fine_step)
                kb = np.argmax(fine)
                if fine[kb] > per[k]:
                    freq[k] = np.float64(fine_f[kb])
                    per[k] = fine[kb]
                    for b in range(2):
                        single[b, k] = fine_single[b, kb]
            kbest = optima[0]
            for k in optima:
                if per[k] > per[kbest]:
                    kbest = k
            best_f = freq[kbest]
            best_p = per[kbest]
            for b in range(2):
                if used[b]:
                    band_freq[b] = freq[np.argmax(single[b])]
            # ALeRCE's PPE: 1 - entropy of the normalized top-100 periodogram values.
            n_top = min(N_PPE_TOP, nf)
            top = np.partition(per, nf - n_top)[nf - n_top:] + 1e-2
            top = top / top.sum()
            ppe = 1.0 - (-(top * np.log(top)).sum()) / math.log(float(N_PPE_TOP))
            # ALeRCE's Power_rate: the global argmax and the nearest grid value.
            kmax = np.argmax(per)
            sorted_freq = freq
            sorted_per = per
            for k in range(nf - 1):
                if freq[k + 1] < freq[k]:
                    order = np.argsort(freq)
                    sorted_freq = freq[order]
                    sorted_per = per[order]
                    break
            peak_period = 1.0 / freq[kmax]
            for j in range(6):
                target = 1.0 / (peak_period * POWER_RATE_FACTORS[j])
                power_rates[j] = sorted_per[_nearest_index(sorted_freq, target)] / per[kmax]
            if resolve_aliases:
                # Candidates: the other refined optima, and the periodogram peaks within
                # ALIAS_WINDOW of ALeRCE's peak +- 1, 2 d^-1 (the sidereal-day alias sits
                # 0.0027 d^-1 off a whole cycle, many peak widths for a long baseline).
                # Each is scored by the chi^2 a multiband N-harmonic series removes.
                half = fine_step
                step = fine_step / 3.0
                s_ref = harmonic_chi2_reduction(ts, ys, ws, chis, used, best_f, n_rank_harmonics)
                choice = best_f
                best_score = s_ref
                n_cand = optima.size + len(ALIAS_OFFSETS) * ALIAS_PEAKS
                cands = np.full(n_cand, -1.0)
                for j in range(optima.size):
                    if optima[j] != kbest:
                        cands[j] = freq[optima[j]]
                n_win = int(2.0 * ALIAS_WINDOW / fine_step) + 1
                j = optima.size
                for alias in ALIAS_OFFSETS:
                    lo_win = best_f + alias - ALIAS_WINDOW
                    if lo_win < FREQ_MIN or lo_win + 2 * ALIAS_WINDOW > FREQ_MAX:
                        j += ALIAS_PEAKS
                        continue
                    win, _ = _fine_grid(ts, ys, ws, chis, d2s, used, lo_win, fine_step, n_win)
                    for kk in _local_maxima_desc(win, ALIAS_PEAKS, False):
                        if kk >= 0:
                            cands[j] = lo_win + kk * fine_step
                        j += 1
                # Two stages: score every candidate where it is, then refine the best few
                # over +- 1 peak width (a 4-harmonic optimum is ~4x narrower than the
                # one-harmonic peak and need not sit on it).
                scores = np.full(n_cand, -1.0)
                for j in range(n_cand):
                    if cands[j] > 0:
                        scores[j] = harmonic_chi2_reduction(ts, ys, ws, chis, used, cands[j],
                                                            n_rank_harmonics)
                order = np.argsort(scores)[::-1]
                half = 1.0 / baseline
                step = half / 8.0
                f_ref, s_ref = _harmonic_refine(ts, ys, ws, chis, used, best_f, half, step,
                                                n_rank_harmonics)
                best_score = s_ref
                for j in order[:ALIAS_REFINED]:
                    if scores[j] < 0:
                        continue
                    f_a, s_a = _harmonic_refine(ts, ys, ws, chis, used, cands[j], half, step,
                                                n_rank_harmonics)
                    # Switch only on a clear gain: residual chi^2 smaller by ALIAS_MARGIN.
                    if (1.0 - s_a) < (1.0 - best_score) * (1.0 - ALIAS_MARGIN):
                        choice = f_a
                        best_score = s_a
                best_f = choice
        if not (best_p > 0):
            continue
        out[o, 0] = best_f
        out[o, 1] = ppe
        out[o, 2] = band_freq[0]
        out[o, 3] = band_freq[1]
        for j in range(6):
            out[o, 4 + j] = power_rates[j]
    return out


def _float32(values: np.ndarray) -> np.ndarray:
    """P4J casts times, magnitudes and errors to float32; the rounding is reproduced."""
    return np.ascontiguousarray(np.asarray(values, dtype=np.float32).astype(np.float64))


def period_features(g: BandLightCurves, r: BandLightCurves, previous_period: np.ndarray | None = None,
                    min_points: int = MIN_POINTS, resolve_aliases: bool = True,
                    n_rank_harmonics: int = N_RANK_HARMONICS,
                    adaptive_grid: bool | None = None) -> dict[str, np.ndarray]:
    """Period features for every object of the batch (g = band 1, r = band 2).

    ``resolve_aliases=False`` and ``adaptive_grid=False`` give ALeRCE 1.1.1's search exactly;
    ``adaptive_grid`` defaults to ``resolve_aliases``.
    """
    if adaptive_grid is None:
        adaptive_grid = resolve_aliases
    n_obj = len(g.offsets) - 1
    prev_freq = np.zeros(n_obj)
    if previous_period is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.asarray(previous_period, dtype=float)
            prev_freq = np.where(np.isfinite(p) & (p > 0), 1.0 / p, 0.0)
    values = period_kernel(g.offsets, _float32(g.mjd), _float32(g.mag), _float32(g.err),
                           r.offsets, _float32(r.mjd), _float32(r.mag), _float32(r.err),
                           prev_freq, min_points, COARSE_GRID, resolve_aliases, n_rank_harmonics,
                           adaptive_grid)
    with np.errstate(divide="ignore"):
        period = 1.0 / values[:, 0]
        p1 = 1.0 / values[:, 2]
        p2 = 1.0 / values[:, 3]
    result = {
        "Multiband_period": period,
        "PPE": values[:, 1],
        "Period_band_1": p1,
        "delta_period_1": np.abs(period - p1),
        "Period_band_2": p2,
        "delta_period_2": np.abs(period - p2),
    }
    for j, name in enumerate(POWER_RATE_NAMES):
        result[name] = values[:, 4 + j]
    return result
