"""Compare our feature distributions with ALeRCE's own feature values (real objects).

ALeRCE's feature tables at hand (``features_sample.parquet``, ``100_objects_features.csv``)
are for *other* objects than the photometry we have, so the comparison is distributional:
for each feature, where our median falls inside ALeRCE's 5-95% range, and a note on why
the definitions differ where they do. For the 10 stars whose ALeRCE 1.1.1 values *are*
known (``reference_features_1.1.1.parquet``), ``agreement_with_reference`` compares object
by object.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

# Why a feature is expected to differ from ALeRCE's values (see README.md).
KNOWN_DIFFERENCES = {
    "PPE": "MHAOV as ALeRCE; P4J's float32 phase noise on the coarse grid moves it by a few %",
    "Power_rate": "MHAOV as ALeRCE; small ratios within P4J's float32 phase noise",
    "Harmonics_chi": "not in ALeRCE's 2021 feature set; from its newer extractor",
    "IAR_phi": "golden-section search (ALeRCE: scipy bounded Brent); same objective",
    "GP_DRW": "Kalman OU likelihood + Nelder-Mead (ALeRCE: celerite2 + L-BFGS-B); same model",
    "MHPS": "float64 port of ALeRCE's float32 C code",
    "Multiband_period": "ALeRCE's MHAOV search; default mode also resolves 1-2 c/d aliases",
    "delta_period": "follows the period definitions",
}


def _note(feature: str) -> str:
    for key, note in KNOWN_DIFFERENCES.items():
        if feature.startswith(key):
            return note
    return ""


def compare_with_alerce(ours: pd.DataFrame, alerce: pd.DataFrame) -> pd.DataFrame:
    """Per-feature comparison of two feature tables (one row per object each).

    Returns one row per common numeric feature: our/ALeRCE median and 5/95 percentiles,
    the fraction of our finite values inside ALeRCE's [p5, p95], whether our median lies in
    it (``agrees``), and a note on known definition differences.

    >>> a = pd.DataFrame({'x': np.arange(100.0)}); b = pd.DataFrame({'x': np.arange(100.0) + 1})
    >>> bool(compare_with_alerce(a, b).loc['x', 'agrees'])
    True
    """
    rows = {}
    for col in sorted(set(ours.columns) & set(alerce.columns)):
        x = pd.to_numeric(ours[col], errors="coerce").to_numpy(float)
        y = pd.to_numeric(alerce[col], errors="coerce").to_numpy(float)
        x = x[np.isfinite(x)]
        y = y[np.isfinite(y)]
        if len(y) == 0:
            continue
        lo, hi = np.percentile(y, [5, 95])
        inside = float(np.mean((x >= lo) & (x <= hi))) if len(x) else np.nan
        med = float(np.median(x)) if len(x) else np.nan
        rows[col] = {
            "n_ours": len(x), "n_alerce": len(y),
            "median_ours": med, "median_alerce": float(np.median(y)),
            "p5_alerce": lo, "p95_alerce": hi, "frac_ours_in_alerce_5_95": inside,
            "agrees": bool(lo <= med <= hi) if len(x) else False,
            "note": _note(col),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def agreement_with_reference(ours: pd.DataFrame, reference: pd.DataFrame,
                             rtol: float = 0.05, atol: float = 1e-9) -> pd.DataFrame:
    """Per-feature, per-object agreement of two tables of the *same* objects.

    A value agrees when both are NaN, or both are finite and
    ``|ours - ref| <= rtol * max(|ours|, |ref|) + atol``. Returns one row per feature of
    ``reference``: ``n_objects``, ``n_agree``, ``fraction`` and the worst object.

    >>> a = pd.DataFrame({'x': [1.0, 2.0, np.nan]}, index=list('abc'))
    >>> b = pd.DataFrame({'x': [1.04, 3.0, np.nan]}, index=list('abc'))
    >>> row = agreement_with_reference(a, b).loc['x']
    >>> int(row['n_agree']), row['worst_oid']
    (2, 'b')
    """
    ours = ours.reindex(reference.index)
    rows = {}
    for col in reference.columns:
        y = pd.to_numeric(reference[col], errors="coerce").to_numpy(float)
        x = (pd.to_numeric(ours[col], errors="coerce").to_numpy(float) if col in ours.columns
             else np.full(len(y), np.nan))
        both_nan = np.isnan(x) & np.isnan(y)
        with np.errstate(invalid="ignore"):
            gap = np.abs(x - y)
            close = gap <= rtol * np.maximum(np.abs(x), np.abs(y)) + atol
            rel = np.where(both_nan, 0.0, np.where(np.isfinite(gap),
                                                   gap / (np.maximum(np.abs(x), np.abs(y)) + atol),
                                                   np.inf))
        ok = both_nan | close
        worst = int(np.argmax(rel)) if len(rel) else 0
        rows[col] = {"n_objects": len(y), "n_agree": int(ok.sum()), "fraction": float(ok.mean()),
                     "worst_oid": reference.index[worst] if len(rel) else None,
                     "worst_ours": x[worst] if len(x) else np.nan,
                     "worst_reference": y[worst] if len(y) else np.nan}
    return pd.DataFrame.from_dict(rows, orient="index")


def feature_group(name: str) -> str:
    """The feature group a column belongs to, for summary tables.

    >>> feature_group('Harmonics_mag_3_1'), feature_group('Power_rate_1/2'), feature_group('Mean_2')
    ('Harmonics', 'Power_rate', 'other')
    """
    for prefix in ("Harmonics", "Psi", "MHPS", "SPM", "GP_DRW", "Power_rate", "Period_band",
                   "delta_period", "Multiband_period", "PPE"):
        if name.startswith(prefix):
            return prefix
    return "other"
