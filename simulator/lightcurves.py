"""Physical light-curve models of the 15 ALeRCE classes (plus bogus and asteroid).

Every model returns the *flux* of the variable component in units where magnitude
m = -2.5 log10(flux) (so flux 1 is m = 0), per band (fid 1 = g, 2 = r), at given times.
``template_flux`` is that component's flux in the survey's reference image (the mean
for pulsators and stochastic sources, quiescence for CVs, zero for supernovae), so the
difference-image flux is ``flux - template_flux``. Parameter ranges and their literature
sources are documented in simulator/README.md; every sampled parameter goes to the
truth table.

>>> rng = np.random.default_rng(1)
>>> p = sample_params("RRL", 3, rng, t_lo=60000.0, t_hi=60100.0)
>>> bool(np.all((p["period"] > 0.2) & (p["period"] < 1.0)))
True
>>> t = np.linspace(60000, 60001, 50); f = flux("RRL", p, np.zeros(50, int), t, np.full(50, 2), rng)
>>> amp = -2.5 * np.log10(f.min() / f.max()); bool(abs(amp - p["amplitude_r"][0]) < 0.05)
True
"""

from __future__ import annotations

import functools

import numpy as np

TOP_CLASS = {
    "CEP": "Periodic",
    "DSCT": "Periodic",
    "E": "Periodic",
    "LPV": "Periodic",
    "Periodic-Other": "Periodic",
    "RRL": "Periodic",
    "AGN": "Stochastic",
    "Blazar": "Stochastic",
    "CV/Nova": "Stochastic",
    "QSO": "Stochastic",
    "YSO": "Stochastic",
    "SLSN": "Transient",
    "SNII": "Transient",
    "SNIa": "Transient",
    "SNIbc": "Transient",
    "bogus": "bogus",
    "asteroid": "asteroid",
}
# ALeRCE stamp-classifier class of each light-curve class (Carrasco-Davis et al. 2021)
STAMP_CLASS = {c: {"Periodic": "VS", "Transient": "SN"}.get(t, t) for c, t in TOP_CLASS.items()}
STAMP_CLASS.update({"AGN": "AGN", "QSO": "AGN", "Blazar": "AGN", "CV/Nova": "VS", "YSO": "VS"})
LC_CLASSES = [c for c, t in TOP_CLASS.items() if t in ("Periodic", "Stochastic", "Transient")]
PERIODIC = [c for c in LC_CLASSES if TOP_CLASS[c] == "Periodic"]
STOCHASTIC_DRW = ("AGN", "QSO", "Blazar")
TRANSIENTS = [c for c in LC_CLASSES if TOP_CLASS[c] == "Transient"]


def mag_to_flux(m):
    return 10.0 ** (-0.4 * np.asarray(m, dtype=float))


def flux_to_mag(f):
    return -2.5 * np.log10(f)


def faint_weighted(rng, lo, hi, n, slope=0.6):
    """Magnitudes with Euclidean-like counts dN/dm ~ 10^(slope m), between lo and hi."""
    a, b = 10 ** (slope * lo), 10 ** (slope * hi)
    return np.log10(a + rng.random(n) * (b - a)) / slope


# --- periodic shapes ----------------------------------------------------------------
_N_PHASE = 512
_RISE_GRID = np.linspace(0.08, 0.5, 22)


@functools.lru_cache(maxsize=1)
def _pulsation_bank() -> np.ndarray:
    """Smoothed asymmetric sawtooth templates, 0 = maximum light, 1 = minimum light.

    A pulsator brightens over a fraction ``rise`` of its cycle and fades over the rest
    (RRab rise ~0.15, Cepheids ~0.3, RRc/DSCT ~0.4-0.5 i.e. near-sinusoidal).
    """
    phase = np.arange(_N_PHASE) / _N_PHASE
    bank = np.empty((len(_RISE_GRID), _N_PHASE))
    kernel = np.exp(-0.5 * (np.minimum(phase, 1 - phase) / 0.025) ** 2)
    kf = np.fft.rfft(kernel / kernel.sum())
    for i, rise in enumerate(_RISE_GRID):
        saw = np.where(phase < rise, 1 - phase / rise, (phase - rise) / (1 - rise))
        smooth = np.fft.irfft(np.fft.rfft(saw) * kf, _N_PHASE)
        bank[i] = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    return bank


def _pulsation(phase, rise):
    bank = _pulsation_bank()
    ri = np.clip(np.searchsorted(_RISE_GRID, rise), 0, len(_RISE_GRID) - 1)
    pi = (np.mod(phase, 1.0) * _N_PHASE).astype(np.int64) % _N_PHASE
    return bank[ri, pi]


def _eclipse_flux(phase, depth1, depth2, width, ellipsoidal):
    """Relative flux of an eclipsing binary: two Gaussian eclipses plus ellipsoidal term."""
    d = np.mod(phase + 0.5, 1.0) - 0.5
    d2 = np.mod(phase, 1.0) - 0.5
    f = 1.0 - depth1 * np.exp(-0.5 * (d / width) ** 2) - depth2 * np.exp(-0.5 * (d2 / width) ** 2)
    return f * (1.0 - ellipsoidal * 0.5 * (1 - np.cos(4 * np.pi * phase)))


# --- parameter sampling --------------------------------------------------------------
def sample_params(cls: str, n: int, rng: np.random.Generator, t_lo: float, t_hi: float) -> dict:
    """Physical parameters of ``n`` objects of class ``cls``.

    ``t_lo``/``t_hi`` (MJD) bound the simulated time span; transients explode and
    outbursts happen inside it. Always returns ``mag_g``/``mag_r`` (mean, quiescent or
    peak apparent magnitude), ``period`` (NaN if aperiodic), ``amplitude_g/_r``.
    """
    u = rng.random
    p: dict[str, np.ndarray] = {"period": np.full(n, np.nan)}
    if cls == "RRL":
        is_c = u(n) < 0.3  # RRc fraction ~30% (Catelan & Smith 2015)
        p["subtype"] = np.where(is_c, 1.0, 0.0)
        p["period"] = np.where(
            is_c, rng.uniform(0.22, 0.42, n), rng.normal(0.57, 0.08, n).clip(0.42, 0.95)
        )
        p["amplitude_g"] = np.where(is_c, rng.uniform(0.25, 0.55, n), rng.uniform(0.6, 1.3, n))
        p["rise"] = np.where(is_c, rng.uniform(0.38, 0.48, n), rng.uniform(0.1, 0.2, n))
        p["amplitude_r"] = p["amplitude_g"] * rng.uniform(0.7, 0.8, n)
        color = rng.normal(0.3, 0.08, n)
        p["mag_r"] = rng.uniform(14.0, 19.0, n)
    elif cls == "CEP":
        p["period"] = 10 ** np.clip(rng.normal(0.75, 0.35, n), 0.0, 2.0)
        p["amplitude_g"] = rng.uniform(0.4, 1.2, n)
        p["amplitude_r"] = p["amplitude_g"] * rng.uniform(0.6, 0.75, n)
        p["rise"] = rng.uniform(0.22, 0.36, n)
        # Leavitt law M_V = -2.43 (log P - 1) - 4.05 (Benedict et al. 2007)
        p["abs_mag_v"] = -2.43 * (np.log10(p["period"]) - 1) - 4.05
        color = rng.normal(0.7, 0.15, n)
        p["mag_r"] = rng.uniform(13.0, 18.0, n)
        p["distance_kpc"] = 10 ** ((p["mag_r"] + 0.2 - p["abs_mag_v"] + 5) / 5) / 1000.0
    elif cls == "DSCT":
        p["period"] = 10 ** rng.uniform(np.log10(0.04), np.log10(0.28), n)
        p["amplitude_g"] = rng.uniform(0.25, 0.8, n)  # HADS: > 0.3 mag (Breger 2000)
        p["amplitude_r"] = p["amplitude_g"] * rng.uniform(0.75, 0.85, n)
        p["rise"] = rng.uniform(0.3, 0.48, n)
        p["period2_ratio"] = np.where(u(n) < 0.4, 0.773, 0.0)  # 1O/F period ratio
        color = rng.normal(0.15, 0.1, n)
        p["mag_r"] = rng.uniform(14.0, 18.5, n)
    elif cls == "E":
        contact = u(n) < 0.5
        p["subtype"] = np.where(contact, 1.0, 0.0)  # 1 = EW (contact), 0 = EA (detached)
        p["period"] = np.where(
            contact,
            10 ** rng.uniform(np.log10(0.22), np.log10(0.8), n),
            10 ** rng.uniform(np.log10(0.5), np.log10(12.0), n),
        )
        p["depth1"] = np.where(contact, rng.uniform(0.1, 0.35, n), rng.uniform(0.25, 0.7, n))
        p["depth2"] = p["depth1"] * np.where(
            contact, rng.uniform(0.7, 1.0, n), rng.uniform(0.05, 0.7, n)
        )
        p["width"] = np.where(contact, rng.uniform(0.1, 0.16, n), rng.uniform(0.02, 0.06, n))
        p["ellipsoidal"] = np.where(contact, rng.uniform(0.05, 0.2, n), rng.uniform(0.0, 0.03, n))
        p["amplitude_r"] = -2.5 * np.log10(1 - p["depth1"])
        p["amplitude_g"] = p["amplitude_r"] * rng.uniform(1.0, 1.1, n)
        color = rng.normal(0.5, 0.25, n)
        p["mag_r"] = rng.uniform(13.5, 19.0, n)
    elif cls == "LPV":
        mira = u(n) < 0.5
        p["subtype"] = np.where(mira, 1.0, 0.0)  # 1 = Mira, 0 = semi-regular
        p["period"] = np.where(mira, rng.uniform(150, 700, n), rng.uniform(30, 200, n))
        p["amplitude_r"] = np.where(mira, rng.uniform(1.5, 4.0, n), rng.uniform(0.2, 1.0, n))
        p["amplitude_g"] = p["amplitude_r"] * rng.uniform(1.2, 1.5, n)
        p["period2"] = p["period"] * rng.uniform(5.0, 12.0, n)  # long secondary modulation
        color = rng.normal(1.6, 0.3, n)
        p["mag_r"] = rng.uniform(13.0, 18.0, n)
    elif cls == "Periodic-Other":
        p["period"] = 10 ** rng.uniform(np.log10(0.3), np.log10(40.0), n)
        p["amplitude_r"] = rng.uniform(0.1, 0.5, n)
        p["amplitude_g"] = p["amplitude_r"] * rng.uniform(1.0, 1.3, n)
        p["rise"] = rng.uniform(0.4, 0.5, n)
        color = rng.normal(0.8, 0.3, n)
        p["mag_r"] = rng.uniform(14.0, 18.5, n)
    elif cls in STOCHASTIC_DRW:
        if cls == "QSO":  # MacLeod et al. 2010: SF_inf ~0.2 mag, tau_rest ~200 d
            z = rng.uniform(0.3, 2.5, n)
            sf = rng.uniform(0.18, 0.4, n)
            tau = 10 ** rng.normal(2.4, 0.25, n) * (1 + z)
            color = rng.normal(0.15, 0.1, n)
            p["mag_r"] = faint_weighted(rng, 16.5, 19.8, n)
        elif cls == "AGN":  # nucleus of a visible host (Sanchez-Saez et al. 2018)
            z = rng.uniform(0.03, 0.4, n)
            sf = rng.uniform(0.25, 0.5, n)
            tau = 10 ** rng.normal(2.3, 0.3, n) * (1 + z)
            color = rng.normal(0.4, 0.15, n)
            p["mag_r"] = faint_weighted(rng, 16.0, 19.0, n)  # nucleus
            p["host_mag_r"] = p["mag_r"] - rng.uniform(-0.3, 1.5, n)  # host-diluted
        else:  # Blazar: larger, faster (Ruan et al. 2012)
            z = rng.uniform(0.1, 2.0, n)
            sf = rng.uniform(0.6, 1.5, n)
            tau = 10 ** rng.uniform(1.0, 2.3, n)
            color = rng.normal(0.45, 0.15, n)
            p["mag_r"] = faint_weighted(rng, 16.0, 19.0, n)
        p["redshift"], p["drw_sf"], p["drw_tau"] = z, sf, tau
        p["amplitude_r"] = sf
        p["amplitude_g"] = sf * rng.uniform(1.1, 1.3, n)  # bluer when brighter
    elif cls == "YSO":
        kind = rng.choice(3, n, p=[0.45, 0.3, 0.25])  # 0 dipper, 1 burster, 2 stochastic
        p["subtype"] = kind.astype(float)
        p["drw_sf"] = rng.uniform(0.08, 0.3, n)
        p["drw_tau"] = rng.uniform(1.0, 20.0, n)
        p["period"] = np.where(kind == 0, rng.uniform(3.0, 12.0, n), np.nan)  # quasi-periodic dips
        p["dip_depth"] = np.where(kind == 0, rng.uniform(0.3, 1.3, n), 0.0)
        p["dip_width"] = rng.uniform(0.05, 0.2, n)
        p["burst_amp"] = np.where(kind == 1, rng.uniform(0.5, 1.5, n), 0.0)
        p["burst_rate"] = rng.uniform(1 / 60.0, 1 / 15.0, n)
        p["amplitude_r"] = np.maximum(p["dip_depth"], p["burst_amp"]) + p["drw_sf"]
        p["amplitude_g"] = p["amplitude_r"] * 1.3
        color = rng.normal(1.2, 0.3, n)
        p["mag_r"] = rng.uniform(14.0, 18.5, n)
        p["t_first"] = t_lo - rng.uniform(0, 30, n)
    elif cls == "CV/Nova":
        nova = u(n) < 0.15
        p["subtype"] = np.where(nova, 1.0, 0.0)
        p["mag_r"] = rng.uniform(18.0, 21.5, n)  # quiescence
        p["amplitude_r"] = np.where(nova, rng.uniform(7.0, 11.0, n), rng.uniform(2.5, 5.0, n))
        p["amplitude_g"] = p["amplitude_r"] + 0.2
        p["recurrence"] = np.where(nova, np.inf, 10 ** rng.uniform(1.2, 2.4, n))
        p["outburst_length"] = np.where(nova, 0.0, rng.uniform(2.0, 12.0, n))
        p["decline_tau"] = np.where(nova, rng.uniform(6.0, 40.0, n), rng.uniform(0.7, 2.0, n))
        p["t_first"] = np.where(nova, rng.uniform(t_lo, t_hi, n), t_lo - rng.uniform(0, 150, n))
        color = rng.normal(0.3, 0.2, n)
    elif cls in TRANSIENTS:
        p.update(_sample_supernova(cls, n, rng, t_lo, t_hi))
        color = p.pop("peak_color")
    else:
        raise ValueError(f"no light-curve model for class {cls!r}")
    p["mag_g"] = p["mag_r"] + color
    p.setdefault("redshift", np.full(n, np.nan))
    if "host_mag_r" in p:
        p["host_mag_g"] = p["host_mag_r"] + rng.normal(0.7, 0.1, n)
    return p


# Villar et al. (2019) model: per-type parameter ranges (rest frame, days) and peak
# absolute magnitudes (Richardson et al. 2014; Gal-Yam 2019 for SLSNe).
_SN_TYPES = {
    #         M_peak      sd    t_rise      gamma        beta (1/d)     t_fall       g-r peak
    "SNIa": (-19.25, 0.25, (2.5, 4.5), (4.0, 12.0), (0.010, 0.020), (18.0, 35.0), (-0.05, 0.1)),
    "SNII": (-16.9, 0.9, (1.0, 3.0), (50.0, 100.0), (0.002, 0.006), (10.0, 30.0), (-0.1, 0.15)),
    "SNIbc": (-17.6, 0.8, (2.0, 4.0), (4.0, 12.0), (0.015, 0.030), (12.0, 28.0), (0.2, 0.15)),
    "SLSN": (-21.3, 0.6, (8.0, 18.0), (15.0, 50.0), (0.004, 0.010), (35.0, 90.0), (-0.15, 0.1)),
}


@functools.lru_cache(maxsize=1)
def _distance_modulus_grid():
    from astropy.cosmology import Planck18

    z = np.geomspace(1e-3, 3.0, 400)
    return z, Planck18.distmod(z).value, Planck18.angular_diameter_distance(z).value * 1e3


def angular_kpc_per_arcsec(z):
    """kpc per arcsec at redshift z (Planck18)."""
    zg, _, da_kpc = _distance_modulus_grid()
    return np.interp(z, zg, da_kpc) * np.pi / 180.0 / 3600.0


def _sample_supernova(cls, n, rng, t_lo, t_hi):
    m_abs, m_sd, rise, gamma, beta, fall, color = _SN_TYPES[cls]
    M = rng.normal(m_abs, m_sd, n)
    m_peak = faint_weighted(rng, 15.8, 20.4, n)
    zg, mu, _ = _distance_modulus_grid()
    z = np.interp(m_peak - M, mu, zg)
    dil = 1.0 + z
    p = {
        "abs_mag_peak": M,
        "redshift": z,
        "mag_r": m_peak,
        "t0": rng.uniform(t_lo, t_hi, n),
        "tau_rise": rng.uniform(*rise, n) * dil,
        "gamma": rng.uniform(*gamma, n) * dil,
        "beta": rng.uniform(*beta, n) / dil,
        "tau_fall": rng.uniform(*fall, n) * dil,
        "peak_color": rng.normal(color[0], color[1], n),
    }
    p["g_fall_factor"] = rng.uniform(0.55, 0.8, n)  # g declines faster than r
    p["amplitude_r"] = np.full(n, np.nan)
    p["amplitude_g"] = np.full(n, np.nan)
    # hosts: dwarfs for SLSNe (Lunnan et al. 2014), ~L* galaxies otherwise
    host_abs = np.where(cls == "SLSN", rng.normal(-17.3, 1.0, n), rng.normal(-20.3, 1.0, n))
    p["host_mag_r"] = host_abs + np.interp(z, zg, mu)
    re_kpc = np.where(
        cls == "SLSN", rng.lognormal(np.log(1.0), 0.4, n), rng.lognormal(np.log(3.5), 0.4, n)
    )
    p["host_re_arcsec"] = np.clip(re_kpc / angular_kpc_per_arcsec(z), 0.3, 30.0)
    # exponential disk: 2D offset ~ Gamma(2, h), h = R_e / 1.68
    p["host_offset_arcsec"] = rng.gamma(2.0, p["host_re_arcsec"] / 1.68, n)
    return p


def _villar(t, t0, tau_rise, gamma, beta, tau_fall):
    dt = t - t0
    rise = 1.0 / (1.0 + np.exp(-np.clip(dt / tau_rise, -50, 50)))
    plateau = np.clip(1.0 - beta * dt, 0.0, None)
    tail = np.clip(1.0 - beta * gamma, 1e-3, None) * np.exp(
        -np.clip((dt - gamma) / tau_fall, -50, 50)
    )
    return rise * np.where(dt < gamma, plateau, tail)


def _villar_peak(p, band_fall):
    """Peak of the un-normalized Villar curve, found on a grid of 400 times per object."""
    grid = np.linspace(-5, 5, 400)[None, :] * p["tau_rise"][:, None] + p["t0"][:, None]
    grid = np.concatenate(
        [grid, p["t0"][:, None] + np.linspace(0, 1, 100)[None, :] * p["gamma"][:, None]], 1
    )
    v = _villar(
        grid,
        p["t0"][:, None],
        p["tau_rise"][:, None],
        p["gamma"][:, None],
        p["beta"][:, None],
        band_fall[:, None],
    )
    return v.max(axis=1)


# --- evaluation -----------------------------------------------------------------------
def _band(p, key, fid):
    """Per-point value of a per-band parameter (key_g for fid 1, key_r otherwise)."""
    return np.where(fid == 1, p[f"{key}_g"], p[f"{key}_r"])


def flux(
    cls: str,
    params: dict,
    idx: np.ndarray,
    t: np.ndarray,
    fid: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Flux of the variable component at times ``t`` [MJD] in bands ``fid``.

    ``idx`` maps each point to its object (row of ``params``); for stochastic classes the
    points of each object must be sorted by time (one realization per object shared by
    both bands).
    """
    p = {k: np.asarray(v)[idx] for k, v in params.items()}
    mag0 = _band(p, "mag", fid)
    if cls in ("RRL", "CEP", "DSCT", "Periodic-Other"):
        amp = _band(p, "amplitude", fid)
        phase = t / p["period"]
        shape = _pulsation(phase, p["rise"])
        if cls == "DSCT":
            second = p["period2_ratio"] > 0
            shape = np.where(
                second, 0.8 * shape + 0.2 * _pulsation(t / (p["period"] * 0.773), 0.45), shape
            )
        return mag_to_flux(mag0 - amp / 2 + amp * shape)
    if cls == "E":
        ph = t / p["period"]
        g_scale = np.where(fid == 1, p["amplitude_g"] / p["amplitude_r"], 1.0)
        rel = _eclipse_flux(
            ph,
            np.clip(p["depth1"] * g_scale, 0, 0.95),
            p["depth2"] * g_scale,
            p["width"],
            p["ellipsoidal"],
        )
        return mag_to_flux(mag0) * rel
    if cls == "LPV":
        amp = _band(p, "amplitude", fid)
        mod = 1.0 + 0.15 * np.sin(2 * np.pi * t / p["period2"])
        m = mag0 + amp / 2 * mod * (
            np.sin(2 * np.pi * t / p["period"]) + 0.15 * np.sin(4 * np.pi * t / p["period"] + 0.7)
        )
        return mag_to_flux(m)
    if cls in STOCHASTIC_DRW:
        x = _drw(idx, t, p["drw_tau"], rng)  # unit-variance process
        scale = _band(p, "amplitude", fid) / np.sqrt(2.0)  # sigma = SF_inf / sqrt(2)
        return mag_to_flux(mag0 + scale * x)
    if cls == "YSO":
        x = _drw(idx, t, p["drw_tau"], rng) * p["drw_sf"] / np.sqrt(2.0)
        col = np.where(fid == 1, 1.3, 1.0)  # dust: deeper in g
        phase = np.where(np.isfinite(p["period"]), t / np.nan_to_num(p["period"], nan=1.0), 0.0)
        d = np.mod(phase, 1.0) - 0.5
        dip = p["dip_depth"] * col * np.exp(-0.5 * (d / p["dip_width"]) ** 2)
        burst = p["burst_amp"] * _outbursts(t, p["t_first"], 1.0 / p["burst_rate"], 2.0, 1.5)
        return mag_to_flux(mag0 + x * col + dip) + mag_to_flux(mag0) * (10 ** (0.4 * burst) - 1)
    if cls == "CV/Nova":
        amp = _band(p, "amplitude", fid)
        quiet = mag_to_flux(mag0)
        rec = np.where(np.isfinite(p["recurrence"]), p["recurrence"], 1e9)
        prof = _outbursts(
            t,
            p["t_first"],
            rec,
            p["outburst_length"],
            p["decline_tau"],
            jitter=np.isfinite(p["recurrence"]),
        )
        return quiet * (1.0 + (10 ** (0.4 * amp) - 1.0) * prof)
    if cls in TRANSIENTS:
        fall = p["tau_fall"] * np.where(fid == 1, p["g_fall_factor"], 1.0)
        shape = _villar(t, p["t0"], p["tau_rise"], p["gamma"], p["beta"], fall)
        # peak normalization per object and band (computed on the objects, not points)
        norm = _norm_cache(params, cls)
        peak = np.where(fid == 1, norm[0][idx], norm[1][idx])
        return mag_to_flux(mag0) * shape / peak
    raise ValueError(f"no light-curve model for class {cls!r}")


def _norm_cache(params, cls):
    if "_peak_norm" not in params:
        pr = {k: np.asarray(v) for k, v in params.items()}
        params["_peak_norm"] = np.stack(
            [
                _villar_peak(pr, pr["tau_fall"] * pr["g_fall_factor"]),
                _villar_peak(pr, pr["tau_fall"]),
            ]
        )
    return params["_peak_norm"]


def _outbursts(t, t_first, recurrence, length, tau, jitter=True):
    """Outburst profile (0..1) per point: 0.5 d rise, flat top of ``length`` d, exp decline.

    Outbursts start at ``t_first`` and recur every ``recurrence`` days, quasi-periodically
    (each interval is stretched by up to +-25%, deterministically per object).
    """
    t = np.asarray(t, float)
    t_first, recurrence, length, tau, jitter = np.broadcast_arrays(
        np.asarray(t_first, float),
        np.asarray(recurrence, float),
        np.asarray(length, float),
        np.asarray(tau, float),
        np.asarray(jitter, float),
    )
    out = np.zeros_like(t)
    if t.size == 0:
        return out
    k_max = int(min(400, np.ceil((t.max() - t_first.min()) / recurrence.min()) + 1))
    start = t_first.copy()
    for k in range(max(k_max, 1)):
        dt = t - start
        decay = np.where(dt < length, 1.0, np.exp(-np.clip(dt - length, 0, None) / tau))
        out = np.maximum(out, np.clip(dt / 0.5, 0.0, 1.0) * decay * (dt > 0))
        start = start + recurrence * (1.0 + 0.25 * jitter * np.sin(7.3 * (k + 1) + 13.1 * t_first))
    return np.clip(out, 0.0, 1.0)


def _drw(idx, t, tau, rng):
    """Unit-variance damped random walk (Ornstein-Uhlenbeck) per object, exact update.

    Points of one object are contiguous and time-ordered; one walk per object.
    """
    n = len(t)
    x = np.empty(n)
    if n == 0:
        return x
    starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
    lengths = np.diff(np.r_[starts, n])
    z = rng.standard_normal(n)
    x[starts] = z[starts]
    for k in range(1, int(lengths.max())):
        rows = starts[lengths > k] + k
        a = np.exp(-np.clip(t[rows] - t[rows - 1], 0, None) / tau[rows])
        x[rows] = a * x[rows - 1] + np.sqrt(1.0 - a * a) * z[rows]
    return x


def template_flux(cls: str, params: dict, rng: np.random.Generator) -> np.ndarray:
    """Flux of the variable component in the reference image, shape (n, 2) for g, r.

    The reference is a coadd of ~15-40 epochs: the mean light for pulsators and
    stochastic sources (evaluated over a full cycle), quiescence for CVs, nothing for
    supernovae (references predate them).
    """
    n = len(params["mag_r"])
    out = np.empty((n, 2))
    for b, fid in enumerate((1, 2)):
        if cls in TRANSIENTS:
            out[:, b] = 0.0
        elif cls in ("CV/Nova",) or cls in STOCHASTIC_DRW or cls == "YSO":
            out[:, b] = mag_to_flux(params["mag_g" if fid == 1 else "mag_r"])
        else:
            k = 64
            idx = np.repeat(np.arange(n), k)
            per = np.nan_to_num(np.asarray(params["period"]), nan=1.0)
            if cls == "LPV":
                per = np.asarray(params["period2"])  # average over the slow modulation too
            t = (np.tile((np.arange(k) + 0.5) / k, n)) * per[idx]
            out[:, b] = flux(cls, params, idx, t, np.full(n * k, fid), rng).reshape(n, k).mean(1)
    return out
