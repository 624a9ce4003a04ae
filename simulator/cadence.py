"""ZTF survey geometry and observing cadence.

The sky above dec -30 is tiled by ~7 x 7 deg fields (ZTF's primary grid, ids from 245);
each field is split into 16 CCDs x 4 readout quadrants (``rcid`` 0..63). A field is
observed on a night when the weather is good, it is in season (within ~100 deg of the
anti-solar right ascension) and the public survey's 2-night cadence picks it; then it
gets one g and one r exposure minutes apart. Every object on a field shares that
field's exposures, so its jd, pid, diffmaglim and zero point (Bellm et al. 2019,
PASP 131, 018002; Masci et al. 2019, PASP 131, 018003).

>>> int(night_id(mjd_of("20231018"))), int(night_id(mjd_of("20181129")))
(2481, 697)
>>> f, rc = field_and_rcid(np.array([350.55]), np.array([51.52]))
>>> int(f[0]) >= FIRST_FIELD and 0 <= int(rc[0]) <= 63
True
"""

from __future__ import annotations

import datetime as _dt
import functools
from dataclasses import dataclass

import numpy as np

PIXEL_SCALE = 1.012  # arcsec / pixel (ZTF camera)
FIELD_SIZE = 7.0  # deg, field side on the grid
DEC_MIN = -30.0
FIRST_FIELD = 245
SURVEY_DAY0 = _dt.date(2017, 1, 1)  # nid counts UT days from here (nid 697 = 2018-11-29)
MJD_UNIX0 = 40587.0
DETECTOR_NX, DETECTOR_NY = 3072, 3080  # pixels of one readout quadrant image

FID_NAME = {1: "zg", 2: "zr", 3: "zi"}


def mjd_of(yyyymmdd: str) -> int:
    """MJD at 0h UT of a YYYYMMDD date."""
    d = _dt.datetime.strptime(yyyymmdd, "%Y%m%d").date()
    return int((d - _dt.date(1858, 11, 17)).days)


@functools.lru_cache(maxsize=4096)
def date_of(mjd: int) -> str:
    """YYYYMMDD of an integer MJD.

    >>> date_of(mjd_of("20240229"))
    '20240229'
    """
    return (_dt.date(1858, 11, 17) + _dt.timedelta(days=int(mjd))).strftime("%Y%m%d")


def night_id(mjd: int | np.ndarray):
    """ZTF night id (nid): days since 2017-01-01."""
    return np.asarray(mjd, dtype=np.int64) - mjd_of(SURVEY_DAY0.strftime("%Y%m%d"))


# --- field grid ---------------------------------------------------------------------
def _grid():
    dec_edges = np.arange(DEC_MIN, 90.0 + 1e-9, FIELD_SIZE)
    dec_edges[-1] = 90.0
    rows = []
    for lo, hi in zip(dec_edges[:-1], dec_edges[1:]):
        center = 0.5 * (lo + hi)
        n_ra = max(1, int(round(360.0 * np.cos(np.radians(center)) / FIELD_SIZE)))
        rows.append((lo, hi, n_ra))
    offsets = np.cumsum([0] + [r[2] for r in rows])
    return (
        np.array([r[0] for r in rows]),
        np.array([r[1] for r in rows]),
        np.array([r[2] for r in rows]),
        offsets,
    )


_DEC_LO, _DEC_HI, _N_RA, _OFFSETS = _grid()
N_FIELDS = int(_OFFSETS[-1])


def field_center_ra(field: np.ndarray) -> np.ndarray:
    """Right ascension of a field's center [deg]."""
    idx = np.asarray(field) - FIRST_FIELD
    band = np.searchsorted(_OFFSETS, idx, side="right") - 1
    k = idx - _OFFSETS[band]
    return (k + 0.5) * 360.0 / _N_RA[band]


def field_and_rcid(ra: np.ndarray, dec: np.ndarray):
    """Field id and readout-channel id (0..63) of sky positions [deg]."""
    ra, dec = np.asarray(ra, float), np.asarray(dec, float)
    band = np.clip(np.searchsorted(_DEC_LO, dec, side="right") - 1, 0, len(_DEC_LO) - 1)
    width = 360.0 / _N_RA[band]
    k = np.floor((ra % 360.0) / width).astype(np.int64) % _N_RA[band]
    field = FIRST_FIELD + _OFFSETS[band] + k
    # 8 x 8 quadrants over the field: 4 x 4 CCDs, each 2 x 2 quadrants
    fx = np.clip(((ra % 360.0) / width - k) * 8, 0, 7.999).astype(np.int64)
    fy = np.clip((dec - _DEC_LO[band]) / (_DEC_HI[band] - _DEC_LO[band]) * 8, 0, 7.999)
    fy = fy.astype(np.int64)
    ccd = (fy // 2) * 4 + fx // 2  # 0..15
    quadrant = (fy % 2) * 2 + fx % 2  # 0..3
    return field.astype(np.int64), (ccd * 4 + quadrant).astype(np.int64)


def random_positions_in_fields(field: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """Random (ra, dec) [deg] inside each given field (its 1-99% central part)."""
    idx = np.asarray(field) - FIRST_FIELD
    band = np.searchsorted(_OFFSETS, idx, side="right") - 1
    n = len(idx)
    lo = np.sin(np.radians(_DEC_LO[band]))
    hi = np.sin(np.radians(_DEC_HI[band]))
    dec = np.degrees(np.arcsin(lo + rng.uniform(0.01, 0.99, n) * (hi - lo)))  # equal area
    ra = (field_center_ra(field) + rng.uniform(-0.49, 0.49, n) * 360.0 / _N_RA[band]) % 360.0
    return ra, dec


def antisolar_ra(mjd: np.ndarray) -> np.ndarray:
    """Right ascension opposite the Sun (mean longitude approximation) [deg]."""
    return (280.46 + 0.9856474 * (np.asarray(mjd, float) - 51544.5) + 180.0) % 360.0


# --- exposures -------------------------------------------------------------------
@dataclass
class Exposures:
    """One row per (field, night, band) exposure, as numpy columns, sorted by field, jd."""

    field: np.ndarray
    night: np.ndarray  # integer MJD of the UT date
    fid: np.ndarray
    jd: np.ndarray
    fracday: np.ndarray  # 6-digit fraction of the UT day, as in ZTF file names
    diffmaglim: np.ndarray
    fwhm: np.ndarray  # seeing [pixels]
    sky: np.ndarray  # science-image background [DN]
    magzpsci: np.ndarray
    magzpsciunc: np.ndarray
    magzpscirms: np.ndarray
    clrcoeff: np.ndarray
    clrcounc: np.ndarray
    zpclrcov: np.ndarray
    clrmed: np.ndarray
    clrrms: np.ndarray
    nmatches: np.ndarray
    field_start: np.ndarray  # index of each field's first exposure (len N_FIELDS + 1)

    def __len__(self) -> int:
        return len(self.jd)

    def of_field(self, field: int) -> slice:
        i = int(field) - FIRST_FIELD
        return slice(int(self.field_start[i]), int(self.field_start[i + 1]))


def build_exposures(first_night: int, n_nights: int, forced_nights, rng) -> Exposures:
    """Simulate the survey's exposures on every field for nights [first, first+n).

    ``forced_nights`` (integer MJDs) always have good weather: the nights the caller
    asked alerts for are observed.
    """
    nights = first_night + np.arange(n_nights)
    n_f = N_FIELDS
    fields = FIRST_FIELD + np.arange(n_f)
    good_weather = rng.random(n_nights) < 0.78  # Palomar: ~75-80% of nights usable
    good_weather |= np.isin(nights, np.asarray(list(forced_nights), dtype=np.int64))
    ra_c = field_center_ra(fields)
    dra = np.abs((ra_c[:, None] - antisolar_ra(nights)[None, :] + 180.0) % 360.0 - 180.0)
    dec_band = np.searchsorted(_OFFSETS, fields - FIRST_FIELD, side="right") - 1
    circumpolar = (_DEC_LO[dec_band] >= 68.0)[:, None]
    in_season = (dra < 100.0) | circumpolar
    # public survey: every field every second night (parity by field, ~3-day revisits
    # after weather), a few extras
    parity_match = ((fields[:, None] + nights[None, :]) % 2) == 0
    p_obs = np.where(parity_match, 0.56, 0.1)
    # ~12% of fields are in high-cadence programs (observed nearly every night)
    high_cadence = rng.random(n_f) < 0.12
    p_obs = np.where(high_cadence[:, None], 0.8, p_obs)
    observed = good_weather[None, :] & in_season & (rng.random((n_f, n_nights)) < p_obs)
    fi, ni = np.nonzero(observed)
    n_vis = len(fi)
    # one g and one r visit per observed field-night, each kept with p=0.93
    first_time = rng.uniform(0.14, 0.46, n_vis)
    gap = rng.uniform(0.02, 0.06, n_vis)
    g_first = rng.random(n_vis) < 0.5
    frac = np.stack(
        [
            np.where(g_first, first_time, first_time + gap),
            np.where(g_first, first_time + gap, first_time),
        ],
        axis=1,
    )
    keep = rng.random((n_vis, 2)) < 0.93
    vi, band = np.nonzero(keep)
    # ~25% of exposures get a same-night revisit in the same band (overlapping fields of
    # the secondary grid, repeated visits), which spreads the epochs per month as in ZTF
    again = rng.random(len(vi)) < 0.25
    later = np.zeros(n_vis)[vi]
    later = np.r_[later, rng.uniform(0.03, 0.12, int(again.sum()))]
    vi, band = np.r_[vi, vi[again]], np.r_[band, band[again]]
    fid = band + 1
    n = len(vi)
    night = nights[ni[vi]]
    frac = _sequential_times(night, frac[vi, band] + later)
    # seeing (pixels): lognormal around 2.1 px; depth loses ~0.7 mag per pixel of seeing
    fwhm = np.clip(rng.lognormal(np.log(2.1), 0.22, n), 1.1, 6.5)
    sky = rng.lognormal(np.log(175.0), 0.38, n) * np.where(fid == 1, 0.85, 1.1)
    # depth: worse with seeing and sky; a tail of shallow exposures (clouds, twilight)
    lim = (
        20.64
        - 0.45 * (fwhm - 2.1)
        - 0.4 * np.log(sky / 175.0)
        - rng.exponential(0.15, n)
        + rng.normal(0, 0.08, n)
    )
    lim += np.where(fid == 1, 0.08, 0.0)
    zp = np.where(fid == 1, 26.32, 26.22) + rng.normal(0.0, 0.08, n)
    ex = Exposures(
        field=fields[fi[vi]],
        night=night,
        fid=fid,
        jd=night + frac + 2400000.5,
        fracday=frac,
        diffmaglim=np.clip(lim, 18.6, 21.3),
        fwhm=fwhm,
        sky=sky,
        magzpsci=zp,
        magzpsciunc=rng.lognormal(np.log(4.5e-6), 0.8, n),
        magzpscirms=np.clip(rng.normal(0.033, 0.01, n), 0.012, 0.08),
        clrcoeff=np.where(fid == 1, -0.065, 0.085) + rng.normal(0, 0.02, n),
        clrcounc=rng.lognormal(np.log(8e-6), 0.8, n),
        zpclrcov=-rng.lognormal(np.log(6e-6), 0.8, n),
        clrmed=np.where(fid == 1, 0.56, 0.7) + rng.normal(0, 0.12, n),
        clrrms=np.clip(rng.normal(0.25, 0.06, n), 0.1, 0.36),
        nmatches=rng.integers(170, 2230, n),
        field_start=np.zeros(0, dtype=np.int64),
    )
    order = np.lexsort((ex.jd, ex.field))
    for name in ex.__dataclass_fields__:
        if name != "field_start":
            setattr(ex, name, getattr(ex, name)[order])
    ex.field_start = np.searchsorted(ex.field, FIRST_FIELD + np.arange(n_f + 1))
    return ex


EXPOSURE_SPACING = 40.0 / 86400.0  # 30 s exposure + ~10 s readout and slew [days]


def _sequential_times(night: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Exposure times (UT day fractions) as close to ``wanted`` as one camera allows:
    within a night, exposures follow each other at least EXPOSURE_SPACING apart, so each
    has its own exposure id (the 5 fraction-of-day digits in pid) as in ZTF.

    >>> _sequential_times(np.array([1, 1, 1, 2]), np.array([0.2, 0.2001, 0.3, 0.2])).tolist()
    [0.2, 0.200463, 0.3, 0.2]
    """
    order = np.lexsort((wanted, night))
    d = wanted[order]
    n = night[order]
    first = np.r_[True, n[1:] != n[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(len(d)), 0))
    rank = np.arange(len(d)) - start
    # t_i = max over j <= i in the night of (d_j + (i - j) spacing): running max per night
    shifted = d - rank * EXPOSURE_SPACING
    # running max restarting at each night: later nights are offset upwards by far more
    # than a day's range, so a maximum cannot leak from one night into the next
    offset = np.cumsum(first) * 10.0
    run = np.maximum.accumulate(shifted + offset) - offset
    out = np.empty_like(d)
    out[order] = np.round(run + rank * EXPOSURE_SPACING, 6)
    return out


def difference_image_names(night, fracday, field, fid, rcid) -> np.ndarray:
    """ZTF difference-image file names, e.g. ztf_20231018454722_000564_zr_c15_o_q1_....

    >>> str(difference_image_names([60235], [0.454722], [564], [2], [56])[0])
    'ztf_20231018454722_000564_zr_c15_o_q1_scimrefdiffimg.fits'
    """
    rcid = np.asarray(rcid)
    rows = zip(
        np.asarray(night).tolist(),
        np.round(np.asarray(fracday) * 1e6).astype(np.int64).tolist(),
        np.asarray(field).tolist(),
        np.asarray(fid).tolist(),
        (rcid // 4 + 1).tolist(),
        (rcid % 4 + 1).tolist(),
    )
    return np.array(
        [
            f"ztf_{date_of(n)}{fd:06d}_{fl:06d}_{FID_NAME[f]}_c{c:02d}_o_q{q}_scimrefdiffimg.fits"
            for n, fd, fl, f, c, q in rows
        ],
        dtype=object,
    )


def pid_of(nid, fracday, rcid):
    """ZTF processing id: nid, 5 digits of the exposure's day fraction, rcid, '15'.

    >>> int(pid_of(2481, 0.454722, 56))
    2481454725615
    """
    expid = np.floor(np.asarray(fracday) * 1e5 + 1e-6).astype(np.int64)
    return np.asarray(nid, np.int64) * 10**9 + expid * 10**4 + np.asarray(rcid, np.int64) * 100 + 15


def candid_of(pid, tblid):
    """ZTF candidate id: pid x 10^6 + pipeline code 15 + 3-digit table row id.

    >>> int(candid_of(2481454725615, 32))
    2481454725615015032
    """
    tblid = np.asarray(tblid, np.int64)
    return np.asarray(pid, np.int64) * 10**6 + (15 + tblid // 1000) * 1000 + tblid % 1000
