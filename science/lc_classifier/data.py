"""Labeled light curves in the lake's ``detection`` layout: simulated seasons (with truth)
and the real labeled light curves of ``../shared/data`` (BTS SNe Ia, Stripe 82 RR Lyrae).

Everything here is pandas/numpy (no Spark): training and evaluation call
``science.features.extract_features`` on these frames, exactly as the pipeline does on the
lake's tables.

>>> det = pd.DataFrame({"magpsf": [18.0, 18.0], "sigmapsf": [0.1, 0.1], "magnr": [17.0, 30.0],
...                     "sigmagnr": [0.02, 0.02], "distnr": [0.5, 3.0], "isdiffpos": [1, -1]})
>>> out = correct_magnitudes(det)
>>> out["corrected"].tolist(), round(float(out["magpsf_corr"][0]), 3)
([True, False], 16.636)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DISTNR_MAX = 1.4
UNDEFINED = 100.0


def _sign(isdiffpos) -> np.ndarray:
    s = pd.Series(isdiffpos)
    if s.dtype == object:
        return np.where(s.astype(str).str.lower().isin(["t", "1", "true", "+1"]), 1.0, -1.0)
    return np.where(s.to_numpy(dtype=float) > 0, 1.0, -1.0)


def correct_magnitudes(det: pd.DataFrame) -> pd.DataFrame:
    """ALeRCE's magnitude correction (brief §4) in numpy, same rules as
    ``lake.silver.correction`` (which is the Spark version used by the pipeline)."""
    out = det.copy()
    sign = _sign(out["isdiffpos"])
    out["isdiffpos"] = sign.astype(np.int64)
    distnr = out["distnr"].to_numpy(float)
    magnr = out["magnr"].to_numpy(float)
    corrected = (distnr >= 0) & (distnr < DISTNR_MAX) & (magnr > 0)
    with np.errstate(all="ignore"):
        fr = 10 ** (-0.4 * magnr)
        fd = 10 ** (-0.4 * out["magpsf"].to_numpy(float))
        total = fr + sign * fd
        rad = fd**2 * out["sigmapsf"].to_numpy(float) ** 2 - fr**2 * out["sigmagnr"].to_numpy(float) ** 2
        defined = corrected & (total > 0)
        mag = np.where(defined, -2.5 * np.log10(total), np.where(corrected, UNDEFINED, np.nan))
        sig = np.where(defined & (rad >= 0), np.sqrt(rad) / total, np.where(corrected, UNDEFINED, np.nan))
        ext = np.where(defined, fd * out["sigmapsf"].to_numpy(float) / total,
                       np.where(corrected, UNDEFINED, np.nan))
    out["corrected"] = corrected
    out["magpsf_corr"] = mag
    out["sigmapsf_corr"] = sig
    out["sigmapsf_corr_ext"] = ext
    return out


DETECTION_COLUMNS = ["oid", "candid", "mjd", "fid", "magpsf", "sigmapsf", "magpsf_corr",
                     "sigmapsf_corr", "sigmapsf_corr_ext", "corrected", "isdiffpos", "rb",
                     "ra", "dec", "sgscore1"]


def season_lightcurves(season, min_det: int = 1, max_days: float | None = None):
    """(detections, non_detections, labels) of a planned simulator season.

    ``labels``: one row per object with ``oid``, ``classALeRCE`` (leaf class) and
    ``top_class``; asteroids and bogus fillers are left out (they are not light-curve
    classes). ``max_days`` keeps only the last ``max_days`` of each history (None: all).
    """
    from simulator import truth_table

    rows, ex, det = season.rows, season.ex, season.det
    truth = truth_table(season)
    keep_obj = truth["top_class"].isin(["Periodic", "Stochastic", "Transient"]).to_numpy()
    obj = rows["obj"]
    di = rows["det_index"]
    is_det = di >= 0
    dsel = np.flatnonzero(is_det & keep_obj[obj])
    d = di[dsel]
    frame = pd.DataFrame({
        "oid": season.object_id[obj[dsel]],
        "candid": np.asarray(det["candid"])[d],
        "mjd": np.asarray(det["jd"])[d] - 2400000.5,
        "fid": np.asarray(det["fid"])[d].astype(np.int64),
        "magpsf": np.asarray(det["magpsf"])[d], "sigmapsf": np.asarray(det["sigmapsf"])[d],
        "isdiffpos": np.asarray(det["isdiffpos"])[d],
        "rb": np.asarray(det["rb"])[d], "ra": np.asarray(det["ra"])[d], "dec": np.asarray(det["dec"])[d],
        "sgscore1": np.asarray(det["sgscore1"])[d], "distnr": np.asarray(det["distnr"])[d],
        "magnr": np.asarray(det["magnr"])[d], "sigmagnr": np.asarray(det["sigmagnr"])[d],
    })
    frame = correct_magnitudes(frame)
    nsel = np.flatnonzero(~is_det & keep_obj[obj])
    nondet = pd.DataFrame({
        "oid": season.object_id[obj[nsel]],
        "fid": ex.fid[rows["exp"][nsel]].astype(np.int64),
        "mjd": rows["jd"][nsel] - 2400000.5,
        "diffmaglim": ex.diffmaglim[rows["exp"][nsel]],
    })
    if max_days is not None:
        last = frame.groupby("oid")["mjd"].transform("max")
        frame = frame[frame["mjd"] >= last - max_days]
        lastn = nondet["oid"].map(frame.groupby("oid")["mjd"].max())
        nondet = nondet[nondet["mjd"] >= lastn - max_days]
    counts = frame.groupby("oid").size()
    ok = counts.index[counts >= min_det]
    frame = frame[frame["oid"].isin(ok)].reset_index(drop=True)
    nondet = nondet[nondet["oid"].isin(ok)].reset_index(drop=True)
    labels = truth.loc[keep_obj, ["objectId", "class", "top_class"]].rename(
        columns={"objectId": "oid", "class": "classALeRCE"})
    labels = labels[labels["oid"].isin(ok)].reset_index(drop=True)
    return frame, nondet, labels


def _oid_rng(oid: str, salt: str = "") -> np.random.Generator:
    """A generator seeded by the oid (conversions are deterministic per object)."""
    import hashlib

    return np.random.default_rng(int(hashlib.sha1(f"{salt}{oid}".encode()).hexdigest()[:12], 16))


def ztf_like_rb(oids) -> np.ndarray:
    """Real/bogus scores for converted real detections, drawn per detection from the
    simulator's distribution for real (non-bogus) detections, which is the same for every
    class (``simulator.photometry``: logit-normal, mu 1.45, sd 0.95): a constant rb
    of 1 would tell the model which curves are converted."""
    oids = np.asarray(oids)
    out = np.empty(len(oids))
    for oid in pd.unique(oids):
        idx = np.flatnonzero(oids == oid)
        out[idx] = 1.0 / (1.0 + np.exp(-_oid_rng(oid, "rb").normal(1.45, 0.95, len(idx))))
    return out


def _read_curves(folder: Path, band_map: dict, limit: int | None, prefix: str = ""):
    files = sorted(Path(folder).glob("*.csv"))
    if limit is not None:
        files = files[:limit]
    parts = []
    for f in files:
        lc = pd.read_csv(f)
        lc = lc[lc["band"].isin(band_map)]
        if lc.empty:
            continue
        parts.append(pd.DataFrame({
            "oid": prefix + f.stem, "mjd": lc["time"].to_numpy(float),
            "fid": lc["band"].map(band_map).to_numpy(np.int64),
            "magpsf": lc["mag"].to_numpy(float), "sigmapsf": lc["magerr"].to_numpy(float)}))
    if not parts:
        return pd.DataFrame(columns=DETECTION_COLUMNS)
    det = pd.concat(parts, ignore_index=True)
    det["candid"] = np.arange(len(det), dtype=np.int64)
    det["magpsf_corr"] = np.nan
    det["sigmapsf_corr"] = np.nan
    det["sigmapsf_corr_ext"] = np.nan
    det["corrected"] = False
    det["isdiffpos"] = 1
    det["rb"] = ztf_like_rb(det["oid"])
    det["ra"] = np.nan
    det["dec"] = np.nan
    det["sgscore1"] = np.nan
    return det[DETECTION_COLUMNS]


def bts_snia_detections(shared_data: Path, limit: int | None = None) -> pd.DataFrame:
    """BTS SN Ia light curves (ZTF difference photometry: mag, magerr, band g/R) in the
    detection layout: mag -> magpsf, magerr -> sigmapsf, g -> fid 1, R -> fid 2, not
    corrected, isdiffpos +1, rb drawn as ``ztf_like_rb``. No non-detections are known."""
    return _read_curves(Path(shared_data) / "lightcurves" / "bts_snia" / "light-curves",
                        {"g": 1, "R": 2}, limit)


def s82_rrlyrae_detections(shared_data: Path, limit: int | None = None,
                           ztf_like: bool = True) -> pd.DataFrame:
    """Stripe 82 RR Lyrae (SDSS g, r; SDSS epochs, not ZTF cadence) in the detection layout.

    ``ztf_like`` (default) converts them as ZTF would see these stars (``to_ztf_difference``):
    difference photometry against a reference, detections only above a ZTF-like limit,
    ZTF-like noise, corrected magnitudes, the last HISTORY_DAYS days, positions in the
    Stripe 82 footprint. Without it: SDSS magnitudes as magpsf, every epoch, isdiffpos +1.
    """
    det = _read_curves(Path(shared_data) / "lightcurves" / "s82_rrlyrae" / "light-curves",
                       {"g": 1, "r": 2}, limit, prefix="S82_")
    return to_ztf_difference(det) if ztf_like and len(det) else det


HISTORY_DAYS = 900.0      # the longest simulated history of the training set
S82_RA = (-50.0, 60.0)    # Stripe 82 footprint (deg)
S82_DEC = (-1.25, 1.25)


def to_ztf_difference(det: pd.DataFrame, history_days: float = HISTORY_DAYS) -> pd.DataFrame:
    """Apparent magnitudes of a variable star (``magpsf`` = the star's magnitude) -> what
    ZTF's difference imaging reports, per object and band:

    - the last ``history_days`` days (the simulated histories are at most that long);
    - reference flux = mean flux of the band; difference flux ``dF = F - F_ref`` plus ZTF
      noise ``sigma_F = sqrt((F_lim / 5)^2 + (0.01 F)^2)`` with a per-epoch 5-sigma limit
      ``lim = 20.64 - Exp(0.15) + N(0, 0.15)`` clipped to 18.6-21.3 (the simulator's
      exposure depths; SDSS errors, ~0.01 mag, are negligible beside these);
    - detected when ``|dF| >= 5 sigma_F`` (other epochs are not alerts);
    - ``magpsf = -2.5 log10 |dF|``, ``sigmapsf = 1.0857 sigma_F / |dF|``, ``isdiffpos`` the
      sign; ``magnr`` = reference magnitude at ``distnr`` 0.2 px, so
      ``correct_magnitudes`` gives ``magpsf_corr`` = the star's noisy magnitude.
    """
    parts = []
    for oid, g in det.groupby("oid", sort=False):
        rng = _oid_rng(oid, "ztf")
        g = g[g["mjd"] >= g["mjd"].max() - history_days].copy()
        flux = 10 ** (-0.4 * g["magpsf"].to_numpy(float))
        ref = g.assign(f=flux).groupby("fid")["f"].transform("mean").to_numpy()
        lim = np.clip(20.64 - rng.exponential(0.15, len(g)) + rng.normal(0, 0.15, len(g)), 18.6, 21.3)
        sigma = np.sqrt((10 ** (-0.4 * lim) / 5) ** 2 + (0.01 * flux) ** 2)
        diff = flux - ref + rng.normal(0, 1, len(g)) * sigma
        keep = np.abs(diff) >= 5 * sigma
        g = g.assign(magpsf=-2.5 * np.log10(np.abs(diff)), sigmapsf=1.0857 * sigma / np.abs(diff),
                     isdiffpos=np.where(diff > 0, 1, -1), magnr=-2.5 * np.log10(ref), sigmagnr=0.01,
                     distnr=0.2)[keep]
        g["ra"] = rng.uniform(*S82_RA) % 360.0
        g["dec"] = rng.uniform(*S82_DEC)
        parts.append(g)
    out = correct_magnitudes(pd.concat(parts, ignore_index=True))
    out["rb"] = ztf_like_rb(out["oid"])
    return out[DETECTION_COLUMNS].reset_index(drop=True)


def alerce_labeled_features(shared_data: Path) -> tuple[pd.DataFrame, pd.Series]:
    """The 100 real ALeRCE feature vectors (index oid) and their labels."""
    base = Path(shared_data) / "labels"
    feats = pd.read_csv(base / "100_objects_features.csv").set_index("objectId")
    labels = pd.read_csv(base / "100_objects_labels.csv").set_index("objectId")["classALeRCE"]
    feats.index.name = "oid"
    return feats, labels.reindex(feats.index)
