"""Labeled stamps: simulated alerts (``simulator``, rendered without writing Avro) and
real ZTF alerts with labels that can be derived unambiguously.

Simulated: each object's first alert of the season (what the stamp classifier sees in
production), rendered by the simulator's own cutout model (``stamps.triplet``) from the
same per-alert scene specification the Avro writer uses; at most ``per_class`` alerts per
stamp class (AGN, SN, VS, asteroid, bogus).

With ``backgrounds`` the same scenes are rendered onto real ZTF background tiles
(``realistic.py``).

Real (``real_labeled_alerts``): alerts read with fastavro from ``../shared/data/ztf``,
weakly labeled from their metadata (``weak_labels``: known solar-system object ->
asteroid, very low drb/rb -> bogus, ALeRCE / BTS catalogue objects -> their stamp class,
a PS1 star with positive and negative differences -> VS); ``split_by_object`` holds them
apart by object.
"""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd

from . import stamps as st
from .model import CLASSES, metadata_frame

STAMP_OF_LEAF = {"AGN": "AGN", "QSO": "AGN", "Blazar": "AGN", "CEP": "VS", "DSCT": "VS", "E": "VS",
                 "LPV": "VS", "Periodic-Other": "VS", "RRL": "VS", "CV/Nova": "VS", "YSO": "VS",
                 "SLSN": "SN", "SNII": "SN", "SNIa": "SN", "SNIbc": "SN"}
# weak-label thresholds (see ``weak_labels``)
WEAK = {"max_ssdist": 5.0, "max_drb": 0.1, "max_rb": 0.3, "min_sgscore": 0.9, "max_distpsnr": 1.0}
REAL_TEST_FRACTION = 0.3
META_SOURCE = ["sgscore1", "sgscore2", "sgscore3", "distpsnr1", "distpsnr2", "distpsnr3", "isdiffpos",
               "fwhm", "magpsf", "sigmapsf", "ra", "dec", "diffmaglim", "classtar", "ndethist",
               "ncovhist", "chinr", "sharpnr", "ssdistnr", "xpos", "ypos"]


def simulated_stamps(seed: int = 0, alerts_per_night: int = 3000, nights: int = 2,
                     per_class: int = 1000, history_days: int = 60, start: str = "20231018",
                     mix=None, backgrounds=None):
    """(images (n, 3, 21, 21) normalized, alert metadata DataFrame, labels array).

    ``backgrounds`` (``realistic.Backgrounds``): render each alert's scene onto real ZTF
    background tiles with their real PSF width and noise (metadata ``fwhm`` set to the
    tile's), instead of the simulator's own clean cutouts."""
    from simulator import alerts as sim_alerts, plan_season, stamps as sim_stamps
    from simulator.lightcurves import STAMP_CLASS

    season = plan_season(start, nights=nights, alerts_per_night=alerts_per_night, seed=seed,
                         history_days=history_days, mix=mix or "balanced")
    rows = np.concatenate([season.alerts[n] for n in season.nights])
    rows = rows[np.lexsort((season.rows["jd"][rows], season.rows["obj"][rows]))]
    obj = season.rows["obj"][rows]
    first = np.r_[True, obj[1:] != obj[:-1]]
    rows = rows[first]
    label = np.array([STAMP_CLASS[c] for c in season.objs.cls[season.rows["obj"][rows]]])
    rng = np.random.default_rng([seed, 5])
    keep = []
    for c in CLASSES:
        idx = np.flatnonzero(label == c)
        keep.append(rng.permutation(idx)[:per_class])
    keep = np.sort(np.concatenate(keep))
    rows, label = rows[keep], label[keep]
    det_index = season.rows["det_index"][rows]
    specs = sim_alerts.stamp_specs(season, det_index, rows)
    meta = pd.DataFrame({c: np.asarray(season.det[c])[det_index] for c in META_SOURCE})
    if backgrounds is not None and len(backgrounds):
        from .realistic import render_all

        images, fwhm = render_all(specs, backgrounds, rng)
        meta["fwhm"] = fwhm
    else:
        images = np.empty((len(rows), 3, st.CROP, st.CROP), np.float32)
        for k, spec in enumerate(specs):
            sci, ref, diff = sim_stamps.triplet(spec, rng)
            images[k] = [st.crop(sci), st.crop(ref), st.crop(diff)]
        images = st.normalize(images)
    meta["oid"] = season.object_id[season.rows["obj"][rows]]
    meta["candid"] = np.asarray(season.det["candid"])[det_index]
    return images, meta, label


def _alert_files(shared_data: Path):
    base = Path(shared_data) / "ztf"
    for path in sorted(base.rglob("*.avro")):
        yield str(path), path.read_bytes()
    for path in sorted((base / "nights").glob("*.tar.gz")):
        try:
            with tarfile.open(path, "r:gz") as tar:
                for m in tar:
                    if m.isfile() and m.name.endswith(".avro"):
                        yield f"{path}:{m.name}", tar.extractfile(m).read()
        except (tarfile.TarError, EOFError, OSError):
            continue


def read_real_alerts(shared_data) -> pd.DataFrame:
    """Real ZTF alerts with cutouts: one row per alert (candidate fields flattened,
    objectId, the three cutout blobs, and ``n_prv_pos`` / ``n_prv_neg``: the positive and
    negative detections among the alert's previous candidates). Unreadable files are
    skipped."""
    import fastavro

    recs = []
    for name, raw in _alert_files(Path(shared_data)):
        try:
            for rec in fastavro.reader(io.BytesIO(raw)):
                cand = rec.get("candidate") or {}
                row = dict(cand)
                row["objectId"] = rec.get("objectId")
                row["candid"] = rec.get("candid", cand.get("candid"))
                for c in ("cutoutScience", "cutoutTemplate", "cutoutDifference"):
                    cut = rec.get(c)
                    row[c] = cut.get("stampData") if isinstance(cut, dict) else None
                # previous detections (non-detections have no candid)
                signs = [str(p.get("isdiffpos")).lower() for p in (rec.get("prv_candidates") or [])
                         if p.get("candid") is not None]
                row["n_prv_pos"] = sum(x in ("t", "1") for x in signs)
                row["n_prv_neg"] = sum(x in ("f", "0") for x in signs)
                row["source"] = name
                recs.append(row)
        except Exception:  # corrupt files are real bad input: skip
            continue
    frame = pd.DataFrame(recs)
    if len(frame):
        frame = frame.drop_duplicates("candid")
        frame = frame[frame[["cutoutScience", "cutoutTemplate", "cutoutDifference"]].notna().all(axis=1)]
    return frame.reset_index(drop=True)


def _num(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame.columns:
        return pd.Series(np.nan, index=frame.index)
    return pd.to_numeric(frame[name], errors="coerce")


def catalogue_labels(shared_data) -> dict:
    """objectId -> stamp class from ALeRCE's light-curve labels and the BTS SN Ia list."""
    shared_data = Path(shared_data)
    labels = {}
    for f in ("2000_labels.csv", "100_objects_labels.csv"):
        p = shared_data / "labels" / f
        if p.exists():
            t = pd.read_csv(p)
            labels.update(dict(zip(t["objectId"], t["classALeRCE"].map(STAMP_OF_LEAF))))
    bts = shared_data / "lightcurves" / "bts_snia" / "bts.csv"
    if bts.exists():
        labels.update({o: "SN" for o in pd.read_csv(bts)["ZTFID"]})
    return {k: v for k, v in labels.items() if isinstance(v, str)}


def weak_labels(frame: pd.DataFrame, catalogue: dict | None = None, max_ssdist: float = WEAK["max_ssdist"]):
    """(label, label_source) Series for real alert rows; NaN label where none follows.

    In order of precedence: a known solar-system object within ``max_ssdist`` arcsec ->
    asteroid (``ssdistnr``); very low real-bogus score -> bogus (``drb`` < 0.1, or ``rb``
    < 0.3 where the alert has no ``drb``); the object in ALeRCE's label files or the BTS
    list -> its stamp class (``catalogue``); a PS1 star counterpart (``sgscore1`` >= 0.9
    within 1 arcsec) with both positive and negative differences in this alert and its
    previous detections -> VS (a star that brightened and faded: real difference signs
    of both kinds do not come from a static star or a new transient).
    """
    ss, drb, rb = _num(frame, "ssdistnr"), _num(frame, "drb"), _num(frame, "rb")
    sg, dist = _num(frame, "sgscore1"), _num(frame, "distpsnr1")
    pos_now = (frame["isdiffpos"].astype(str).str.lower().isin(["t", "1", "true"]) if "isdiffpos" in frame
               else pd.Series(True, index=frame.index))
    n_pos = _num(frame, "n_prv_pos").fillna(0) + pos_now
    n_neg = _num(frame, "n_prv_neg").fillna(0) + ~pos_now
    label = pd.Series(np.nan, index=frame.index, dtype=object)
    source = pd.Series(np.nan, index=frame.index, dtype=object)

    def put(mask, name, src):
        mask = mask & label.isna()
        label[mask] = name
        source[mask] = src

    put((ss >= 0) & (ss <= max_ssdist), "asteroid", "ssdistnr")
    put(np.where(drb.notna(), drb < WEAK["max_drb"], rb < WEAK["max_rb"]), "bogus", "drb/rb")
    if catalogue:
        cat = frame["objectId"].map(catalogue)
        put(cat.notna(), cat, "catalogue")
    star = (sg >= WEAK["min_sgscore"]) & (dist >= 0) & (dist <= WEAK["max_distpsnr"])
    put(star & (n_pos > 0) & (n_neg > 0), "VS", "star+both_signs")
    return label, source


def real_labeled_alerts(shared_data, max_ssdist: float = WEAK["max_ssdist"]) -> pd.DataFrame:
    """Real alerts with a weak ``label`` and its ``label_source`` (rows without one dropped)."""
    frame = read_real_alerts(shared_data)
    if frame.empty:
        return frame
    frame["label"], frame["label_source"] = weak_labels(frame, catalogue_labels(shared_data), max_ssdist)
    return frame[frame["label"].isin(CLASSES)].reset_index(drop=True)


def split_by_object(frame: pd.DataFrame, fraction: float = REAL_TEST_FRACTION) -> np.ndarray:
    """Held-out mask by a hash of ``objectId``: every alert of an object on one side."""
    from science.lc_classifier.train import is_test

    return is_test(frame["objectId"].astype(str), fraction)


__all__ = ["simulated_stamps", "read_real_alerts", "real_labeled_alerts", "weak_labels", "catalogue_labels",
           "split_by_object", "metadata_frame", "WEAK"]
