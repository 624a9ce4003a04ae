"""Colors and context features: g-r colors, galactic coordinates, rb, sgscore1, WISE colors.

- g-r_max / g-r_mean: min / mean uncorrected ``magpsf`` in g minus the same in r;
  g-r_max_corr / g-r_mean_corr: the same on the feature magnitudes, NaN when they equal the
  uncorrected ones (object not corrected), as ALeRCE does.
- gal_l, gal_b: galactic coordinates of the mean position (objects' meanra/meandec when
  given, else the mean ra/dec of the detections), vectorized with astropy.
- rb, sgscore1: medians over the preprocessed detections (ALeRCE's extractors).
- W1-W2, W2-W3, g-W2, g-W3, r-W2, r-W3: when W1..W3 columns exist (in detections or
  objects); g and r are the mean feature magnitudes in each band. Else NaN.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

COLOR_NAMES = ("g-r_max", "g-r_max_corr", "g-r_mean", "g-r_mean_corr")
CONTEXT_NAMES = ("gal_b", "gal_l", "rb", "sgscore1")
WISE_NAMES = ("W1-W2", "W2-W3", "g-W2", "g-W3", "r-W2", "r-W3")


def color_features(det: pd.DataFrame, oids: np.ndarray) -> pd.DataFrame:
    index = pd.Index(oids, name="oid")
    stats = det[det["fid"].isin([1, 2])].groupby(["oid", "fid"]).agg(
        raw_min=("magpsf", "min"), raw_mean=("magpsf", "mean"),
        ml_min=("mag_ml", "min"), ml_mean=("mag_ml", "mean")).unstack("fid")

    def col(stat, fid):
        key = (stat, fid)
        return stats[key].reindex(index) if key in stats.columns else pd.Series(np.nan, index=index)

    out = pd.DataFrame(index=index)
    out["g-r_max"] = col("raw_min", 1) - col("raw_min", 2)
    out["g-r_mean"] = col("raw_mean", 1) - col("raw_mean", 2)
    gr_max_corr = col("ml_min", 1) - col("ml_min", 2)
    gr_mean_corr = col("ml_mean", 1) - col("ml_mean", 2)
    same = (gr_max_corr == out["g-r_max"]) & (gr_mean_corr == out["g-r_mean"])
    out["g-r_max_corr"] = gr_max_corr.where(~same)
    out["g-r_mean_corr"] = gr_mean_corr.where(~same)
    return out[list(COLOR_NAMES)]


def galactic_coordinates(ra_deg: np.ndarray, dec_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorized ICRS -> galactic (l, b) in degrees.

    >>> l, b = galactic_coordinates(np.array([192.85948]), np.array([27.12825]))  # north pole
    >>> round(float(b[0]), 3)
    90.0
    """
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    ra = np.asarray(ra_deg, dtype=float)
    dec = np.asarray(dec_deg, dtype=float)
    ok = np.isfinite(ra) & np.isfinite(dec)
    gal_l = np.full(ra.shape, np.nan)
    gal_b = np.full(ra.shape, np.nan)
    if ok.any():
        galactic = SkyCoord(ra=ra[ok] * u.deg, dec=dec[ok] * u.deg, frame="icrs").galactic
        gal_l[ok] = galactic.l.deg
        gal_b[ok] = galactic.b.deg
    return gal_l, gal_b


def _mean_position(det: pd.DataFrame, objects: pd.DataFrame | None, index: pd.Index):
    if objects is not None and {"meanra", "meandec"} <= set(objects.columns):
        obj = objects.reset_index() if "oid" not in objects.columns else objects
        obj = obj.drop_duplicates("oid").set_index("oid")
        ra = obj["meanra"].reindex(index)
        dec = obj["meandec"].reindex(index)
        if ra.notna().all() and dec.notna().all():
            return ra.to_numpy(float), dec.to_numpy(float)
    if not {"ra", "dec"} <= set(det.columns):
        return np.full(len(index), np.nan), np.full(len(index), np.nan)
    # Mean of ra across the 0/360 wrap: average unit vectors.
    ra_rad = np.radians(det["ra"].astype(float))
    g = pd.DataFrame({"oid": det["oid"], "x": np.cos(ra_rad), "y": np.sin(ra_rad),
                      "dec": det["dec"].astype(float)}).groupby("oid").mean().reindex(index)
    ra = np.degrees(np.arctan2(g["y"], g["x"])) % 360.0
    return ra.to_numpy(float), g["dec"].to_numpy(float)


def _first_non_null(frame: pd.DataFrame, column: str, index: pd.Index) -> pd.Series:
    return frame[["oid", column]].dropna().drop_duplicates("oid").set_index("oid")[column].reindex(index)


def context_features(det: pd.DataFrame, oids: np.ndarray, objects: pd.DataFrame | None,
                     mean_mag: dict[int, np.ndarray]) -> pd.DataFrame:
    index = pd.Index(oids, name="oid")
    out = pd.DataFrame(index=index)
    ra, dec = _mean_position(det, objects, index)
    gal_l, gal_b = galactic_coordinates(ra, dec)
    out["gal_b"] = gal_b
    out["gal_l"] = gal_l
    out["rb"] = det.groupby("oid")["rb"].median().reindex(index)
    out["sgscore1"] = (det.groupby("oid")["sgscore1"].median().reindex(index)
                       if "sgscore1" in det.columns else np.nan)

    wise = {}
    for band in ("W1", "W2", "W3"):
        if band in det.columns:
            wise[band] = _first_non_null(det, band, index).astype(float)
        elif objects is not None and band in objects.columns:
            obj = objects.reset_index() if "oid" not in objects.columns else objects
            wise[band] = _first_non_null(obj, band, index).astype(float)
        else:
            wise[band] = pd.Series(np.nan, index=index)
    g = pd.Series(mean_mag[1], index=index)
    r = pd.Series(mean_mag[2], index=index)
    out["W1-W2"] = wise["W1"] - wise["W2"]
    out["W2-W3"] = wise["W2"] - wise["W3"]
    out["g-W2"] = g - wise["W2"]
    out["g-W3"] = g - wise["W3"]
    out["r-W2"] = r - wise["W2"]
    out["r-W3"] = r - wise["W3"]
    return out[list(CONTEXT_NAMES + WISE_NAMES)]
