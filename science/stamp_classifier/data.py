"""Labeled stamps: simulated alerts (``simulator``, rendered without writing Avro) and
real ZTF alerts with labels that can be derived unambiguously.

Simulated: each object's first alert of the season (what the stamp classifier sees in
production), rendered by the simulator's own cutout model (``stamps.triplet``) from the
same per-alert scene specification the Avro writer uses; at most ``per_class`` alerts per
stamp class (AGN, SN, VS, asteroid, bogus).

Real (``real_labeled_alerts``): alerts read with fastavro from ``../shared/data/ztf``;
label ``asteroid`` when a known solar-system object is within 5 arcsec (``ssdistnr``),
``SN`` when the object is a BTS SN Ia, and the ALeRCE light-curve label's stamp class
(``labels/2000_labels.csv``, ``100_objects_labels.csv``) otherwise.
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
META_SOURCE = ["sgscore1", "sgscore2", "sgscore3", "distpsnr1", "distpsnr2", "distpsnr3", "isdiffpos",
               "fwhm", "magpsf", "sigmapsf", "ra", "dec", "diffmaglim", "classtar", "ndethist",
               "ncovhist", "chinr", "sharpnr", "ssdistnr", "xpos", "ypos"]


def simulated_stamps(seed: int = 0, alerts_per_night: int = 3000, nights: int = 2,
                     per_class: int = 1000, history_days: int = 60, start: str = "20231018",
                     mix=None):
    """(images (n, 3, 21, 21) normalized, alert metadata DataFrame, labels array)."""
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
    images = np.empty((len(rows), 3, st.CROP, st.CROP), np.float32)
    for k, spec in enumerate(specs):
        sci, ref, diff = sim_stamps.triplet(spec, rng)
        images[k] = [st.crop(sci), st.crop(ref), st.crop(diff)]
    images = st.normalize(images)
    meta = pd.DataFrame({c: np.asarray(season.det[c])[det_index] for c in META_SOURCE})
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
    objectId, the three cutout blobs). Unreadable files are skipped."""
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
                row["source"] = name
                recs.append(row)
        except Exception:  # corrupt files are real bad input: skip
            continue
    frame = pd.DataFrame(recs)
    if len(frame):
        frame = frame.drop_duplicates("candid")
        frame = frame[frame[["cutoutScience", "cutoutTemplate", "cutoutDifference"]].notna().all(axis=1)]
    return frame.reset_index(drop=True)


def real_labeled_alerts(shared_data, max_ssdist: float = 5.0) -> pd.DataFrame:
    """Real alerts with a derived ``label`` column (rows without a label dropped)."""
    shared_data = Path(shared_data)
    frame = read_real_alerts(shared_data)
    if frame.empty:
        return frame
    labels = {}
    for f in ("2000_labels.csv", "100_objects_labels.csv"):
        p = shared_data / "labels" / f
        if p.exists():
            t = pd.read_csv(p)
            labels.update(dict(zip(t["objectId"], t["classALeRCE"].map(STAMP_OF_LEAF))))
    bts = shared_data / "lightcurves" / "bts_snia" / "bts.csv"
    sn = set(pd.read_csv(bts)["ZTFID"]) if bts.exists() else set()
    ss = pd.to_numeric(frame.get("ssdistnr"), errors="coerce")
    label = frame["objectId"].map(labels)
    label = label.where(~frame["objectId"].isin(sn), "SN")
    label = label.where(~((ss >= 0) & (ss <= max_ssdist)), "asteroid")
    frame["label"] = label
    frame["label_source"] = np.where((ss >= 0) & (ss <= max_ssdist), "ssdistnr",
                                     np.where(frame["objectId"].isin(sn), "bts", "alerce_labels"))
    return frame[frame["label"].notna()].reset_index(drop=True)


__all__ = ["simulated_stamps", "read_real_alerts", "real_labeled_alerts", "metadata_frame"]
