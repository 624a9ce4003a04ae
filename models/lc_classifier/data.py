"""Labeled light curves in the lake's ``detection`` layout: simulated seasons (with truth)
and the real labeled light curves of ``../shared/data`` (BTS SNe Ia, Stripe 82 RR Lyrae).

Everything here is pandas/numpy (no Spark): training and evaluation call
``lake.features.extract_features`` on these frames, exactly as the pipeline does on the
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
    from lake.simulator import truth_table

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
    det["rb"] = 1.0
    det["ra"] = np.nan
    det["dec"] = np.nan
    det["sgscore1"] = np.nan
    return det[DETECTION_COLUMNS]


def bts_snia_detections(shared_data: Path, limit: int | None = None) -> pd.DataFrame:
    """BTS SN Ia light curves (mag, magerr, band g/R) in the detection layout: mag ->
    magpsf, magerr -> sigmapsf, g -> fid 1, R -> fid 2, rb 1, not corrected, isdiffpos +1."""
    return _read_curves(Path(shared_data) / "lightcurves" / "bts_snia" / "light-curves",
                        {"g": 1, "R": 2}, limit)


def s82_rrlyrae_detections(shared_data: Path, limit: int | None = None) -> pd.DataFrame:
    """Stripe 82 RR Lyrae (SDSS g, r; not ZTF cadence) in the detection layout."""
    return _read_curves(Path(shared_data) / "lightcurves" / "s82_rrlyrae" / "light-curves",
                        {"g": 1, "r": 2}, limit, prefix="S82_")


def alerce_labeled_features(shared_data: Path) -> tuple[pd.DataFrame, pd.Series]:
    """The 100 real ALeRCE feature vectors (index oid) and their labels."""
    base = Path(shared_data) / "labels"
    feats = pd.read_csv(base / "100_objects_features.csv").set_index("objectId")
    labels = pd.read_csv(base / "100_objects_labels.csv").set_index("objectId")["classALeRCE"]
    feats.index.name = "oid"
    return feats, labels.reindex(feats.index)
