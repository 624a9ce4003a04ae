"""Detection and non-detection features per band (ALeRCE's SN detection extractors) and iqr.

Computed with vectorized pandas group-bys over all objects at once, on the preprocessed
detections (feature magnitudes) and the raw non-detections (upper limits).

Detections (band b): n_det, n_pos / n_neg (isdiffpos), positive_fraction, first_mag
(earliest), mean_mag, min_mag, delta_mag_fid (max - min), delta_mjd_fid (last - first),
iqr (75th - 25th percentile, linear interpolation = scipy.stats.iqr).

Non-detections of band b split at the band's first detection: n_non_det_before/after_fid,
max/median_diffmaglim_before/after_fid, last_diffmaglim_before_fid and last_mjd_before_fid
(the latest one before), dmag_non_det_fid = median_diffmaglim_before - min_mag,
dmag_first_det_fid = last_diffmaglim_before - first_mag.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

DETECTION_NAMES = ("delta_mag_fid", "delta_mjd_fid", "first_mag", "mean_mag", "min_mag",
                   "n_det", "n_neg", "n_pos", "positive_fraction", "iqr")
NON_DETECTION_NAMES = ("n_non_det_before_fid", "max_diffmaglim_before_fid",
                       "median_diffmaglim_before_fid", "last_diffmaglim_before_fid",
                       "last_mjd_before_fid", "dmag_non_det_fid", "dmag_first_det_fid",
                       "n_non_det_after_fid", "max_diffmaglim_after_fid",
                       "median_diffmaglim_after_fid")


def _wide(per_band: pd.DataFrame, oids: np.ndarray, bands) -> pd.DataFrame:
    """(oid, fid)-indexed frame -> one column per feature and band, suffix _fid."""
    out = {}
    for fid in bands:
        part = per_band.xs(fid, level="fid") if fid in per_band.index.get_level_values("fid") else None
        for col in per_band.columns:
            values = part[col].reindex(oids) if part is not None else pd.Series(np.nan, index=oids)
            out[f"{col}_{fid}"] = values.to_numpy(dtype=float)
    return pd.DataFrame(out, index=pd.Index(oids, name="oid"))


def detection_features(det: pd.DataFrame, oids: np.ndarray, bands=(1, 2)) -> pd.DataFrame:
    """``det``: preprocessed detections sorted by (oid, fid, mjd)."""
    det = det[det["fid"].isin(bands)]
    grouped = det.groupby(["oid", "fid"], sort=False)
    mag = grouped["mag_ml"]
    n_pos = (det["isdiffpos_sign"] > 0).groupby([det["oid"], det["fid"]], sort=False).sum()
    n_neg = (det["isdiffpos_sign"] < 0).groupby([det["oid"], det["fid"]], sort=False).sum()
    per_band = pd.DataFrame({
        "delta_mag_fid": mag.max() - mag.min(),
        "delta_mjd_fid": grouped["mjd"].last() - grouped["mjd"].first(),
        "first_mag": mag.first(),
        "mean_mag": mag.mean(),
        "min_mag": mag.min(),
        "n_det": grouped.size(),
        "n_neg": n_neg,
        "n_pos": n_pos,
        "positive_fraction": n_pos / (n_pos + n_neg),
        "iqr": mag.quantile(0.75) - mag.quantile(0.25),
    })
    return _wide(per_band, oids, bands)


def non_detection_features(det: pd.DataFrame, non_det: pd.DataFrame | None, oids: np.ndarray,
                           bands=(1, 2)) -> pd.DataFrame:
    det = det[det["fid"].isin(bands)]
    first = det.groupby(["oid", "fid"], sort=False).agg(
        first_mjd=("mjd", "first"), first_mag=("mag_ml", "first"), min_mag=("mag_ml", "min"))
    if non_det is None or len(non_det) == 0:
        nd = pd.DataFrame({"oid": pd.Series(dtype=object), "fid": pd.Series(dtype=np.int64),
                           "mjd": pd.Series(dtype=float), "diffmaglim": pd.Series(dtype=float)})
    else:
        nd = non_det.reset_index() if "oid" not in non_det.columns else non_det
        nd = nd[["oid", "fid", "mjd", "diffmaglim"]].copy()
        nd["fid"] = pd.to_numeric(nd["fid"], errors="coerce")
        nd = nd.dropna(subset=["fid", "mjd"])
        nd["fid"] = nd["fid"].astype(np.int64)
        nd["diffmaglim"] = pd.to_numeric(nd["diffmaglim"], errors="coerce").astype(float)
        nd = nd[nd["oid"].isin(oids) & nd["fid"].isin(bands)]
        nd = nd.drop_duplicates(["oid", "fid", "mjd"]).sort_values(["oid", "fid", "mjd"], kind="mergesort")
    nd = nd.merge(first.reset_index(), on=["oid", "fid"], how="inner")
    before = nd[nd["mjd"] < nd["first_mjd"]]
    after = nd[nd["mjd"] >= nd["first_mjd"]]
    gb = before.groupby(["oid", "fid"], sort=False)
    ga = after.groupby(["oid", "fid"], sort=False)
    per_band = pd.DataFrame(index=first.index)
    per_band["n_non_det_before_fid"] = gb.size().reindex(first.index).fillna(0)
    per_band["max_diffmaglim_before_fid"] = gb["diffmaglim"].max()
    per_band["median_diffmaglim_before_fid"] = gb["diffmaglim"].median()
    per_band["last_diffmaglim_before_fid"] = gb["diffmaglim"].last()
    per_band["last_mjd_before_fid"] = gb["mjd"].last()
    per_band["dmag_non_det_fid"] = per_band["median_diffmaglim_before_fid"] - first["min_mag"]
    per_band["dmag_first_det_fid"] = per_band["last_diffmaglim_before_fid"] - first["first_mag"]
    per_band["n_non_det_after_fid"] = ga.size().reindex(first.index).fillna(0)
    per_band["max_diffmaglim_after_fid"] = ga["diffmaglim"].max()
    per_band["median_diffmaglim_after_fid"] = ga["diffmaglim"].median()
    return _wide(per_band, oids, bands)
