"""The brief's rules on top of the stamp CNN (ZTF's alert fields).

These read ZTF packet fields (``ssdistnr``, ``isdiffpos``, ``sgscore1``, ``distpsnr1``):
they are survey rules, to be provided by the survey (``lake/surveys/ztf``) once that seam
exists; until then this module is the one place they live and the stamp classifier's
batch function and training evaluation call them from here.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

ASTEROID_MAX_DIST = 5.0   # arcsec: ssdistnr within this (and >= 0) -> asteroid
STAR_SGSCORE = 0.5
STAR_DISTPSNR = 1.0       # arcsec


def _col(pdf: pd.DataFrame, name: str, default=np.nan) -> np.ndarray:
    if name in pdf.columns:
        return pd.to_numeric(pdf[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return np.full(len(pdf), default, dtype=np.float64)


def _positive(pdf: pd.DataFrame) -> np.ndarray:
    if "isdiffpos" not in pdf.columns:
        return np.ones(len(pdf), bool)
    s = pdf["isdiffpos"]
    if s.dtype == object:
        return s.astype(str).str.lower().isin(["t", "1", "true", "+1", "1.0"]).to_numpy()
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan) > 0


def apply_stamp_rules(pdf: pd.DataFrame, probs: np.ndarray, classes) -> np.ndarray:
    """The brief's rules on top of the CNN (returns a new (n, 5) matrix):

    - a known solar-system object nearby (``ssdistnr`` set: >= 0, not the -999 of "none",
      and <= ASTEROID_MAX_DIST arcsec) -> asteroid with probability 1;
    - no SN for a negative difference (``isdiffpos`` negative) or a likely star
      (``sgscore1 > 0.5`` and ``distpsnr1 < 1``): P(SN) set to 0, the rest renormalized.

    >>> pdf = pd.DataFrame({"ssdistnr": [-999.0, 1.2, -999.0], "isdiffpos": ["t", "t", "f"],
    ...                     "sgscore1": [0.9, 0.1, 0.1], "distpsnr1": [0.3, 5.0, 5.0]})
    >>> p = np.tile([[0.1, 0.6, 0.1, 0.1, 0.1]], (3, 1))
    >>> apply_stamp_rules(pdf, p, ["AGN", "SN", "VS", "asteroid", "bogus"]).round(2).tolist()
    [[0.25, 0.0, 0.25, 0.25, 0.25], [0.0, 0.0, 0.0, 1.0, 0.0], [0.25, 0.0, 0.25, 0.25, 0.25]]
    """
    classes = list(classes)
    p = np.array(probs, dtype=np.float64, copy=True)
    sn, ast = classes.index("SN"), classes.index("asteroid")
    star = (_col(pdf, "sgscore1") > STAR_SGSCORE) & (_col(pdf, "distpsnr1") < STAR_DISTPSNR)
    no_sn = ~_positive(pdf) | star
    p[no_sn, sn] = 0.0
    total = p.sum(axis=1, keepdims=True)
    k = p.shape[1]
    uniform = np.full(k, 1.0 / (k - 1))
    uniform[sn] = 0.0
    p = np.where(total > 0, p / np.where(total > 0, total, 1.0), uniform)
    ss = _col(pdf, "ssdistnr")
    asteroid = (ss >= 0) & (ss <= ASTEROID_MAX_DIST)
    p[asteroid] = 0.0
    p[asteroid, ast] = 1.0
    return p


__all__ = ["apply_stamp_rules", "ASTEROID_MAX_DIST", "STAR_SGSCORE", "STAR_DISTPSNR"]
