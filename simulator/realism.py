"""Compare simulated alerts with real ZTF alerts, field by field.

Criterion (used by tests/test_simulator_realism.py): for each compared quantity the
two-sample Kolmogorov-Smirnov statistic D (the largest gap between the two empirical
CDFs) must be below ``max_ks`` (0.25 by default: no quantile of one sample sits more
than 25 percentile points away in the other), and the simulated median (the mean for
``frac_*`` indicator columns) must be within ``median_tol`` of the real one. ``compare``
returns the table so it can be printed.

>>> import pandas as pd
>>> a = pd.DataFrame({"x": np.linspace(0, 1, 101)})
>>> b = pd.DataFrame({"x": np.linspace(0.05, 1.05, 101)})
>>> t = compare(a, b, {"x": 0.1}); float(t.loc[0, "ks"]) < 0.06, bool(t.loc[0, "passed"])
(True, True)
"""

from __future__ import annotations

import gzip
import io
import tarfile
import warnings
from pathlib import Path

import numpy as np

CANDIDATE_STATS = (
    "magpsf",
    "sigmapsf",
    "diffmaglim",
    "rb",
    "drb",
    "fwhm",
    "distnr",
    "magnr",
    "sgscore1",
    "distpsnr1",
    "nbad",
    "isdiffpos",
    "ssdistnr",
    "classtar",
    "elong",
    "scorr",
    "chinr",
    "sharpnr",
)


def ks_statistic(a, b) -> float:
    """Two-sample Kolmogorov-Smirnov statistic D = max |F_a(x) - F_b(x)|."""
    a = np.sort(np.asarray(a, float))
    b = np.sort(np.asarray(b, float))
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if not len(a) or not len(b):
        return float("nan")
    grid = np.concatenate([a, b])
    fa = np.searchsorted(a, grid, side="right") / len(a)
    fb = np.searchsorted(b, grid, side="right") / len(b)
    return float(np.max(np.abs(fa - fb)))


def compare(sim, real, median_tol: dict, max_ks: float = 0.25):
    """Table of KS statistic, medians and 10/90% quantiles per column of ``median_tol``."""
    import pandas as pd

    out = []
    for col, tol in median_tol.items():
        s = np.asarray(sim[col], float)
        r = np.asarray(real[col], float)
        s, r = s[np.isfinite(s)], r[np.isfinite(r)]
        fraction = col.startswith("frac_")  # 0/1 indicator: compare means, not medians
        d = ks_statistic(s, r)
        center = np.mean if fraction else np.median
        ms, mr = float(center(s)), float(center(r))
        out.append(
            {
                "field": col,
                "n_sim": len(s),
                "n_real": len(r),
                "ks": round(d, 3),
                "median_sim": round(ms, 3),
                "median_real": round(mr, 3),
                "q10_sim": round(float(np.quantile(s, 0.1)), 3),
                "q10_real": round(float(np.quantile(r, 0.1)), 3),
                "q90_sim": round(float(np.quantile(s, 0.9)), 3),
                "q90_real": round(float(np.quantile(r, 0.9)), 3),
                "median_tol": tol,
                "max_ks": max_ks,
                "passed": bool(d <= max_ks and abs(ms - mr) <= tol),
            }
        )
    return pd.DataFrame(out)


def _robust_std(x):
    """3-sigma-clipped standard deviation (5 iterations): robust to sources and, unlike
    the MAD, not discretized by quantized pixel values."""
    x = x[np.isfinite(x)]
    keep = x
    for _ in range(5):
        med, sd = np.median(keep), keep.std()
        keep = x[np.abs(x - med) < 3 * sd]
    return float(keep.std())


def stamp_stats(alert: dict) -> dict:
    """Pixel statistics of an alert's three cutouts (medians and robust rms)."""
    from astropy.io import fits

    out = {}
    for key, short in (
        ("cutoutScience", "sci"),
        ("cutoutTemplate", "ref"),
        ("cutoutDifference", "diff"),
    ):
        cut = alert.get(key)
        if not cut:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # real ZTF headers have a non-standard SIMPLE card
            data = fits.getdata(io.BytesIO(gzip.decompress(cut["stampData"]))).astype(float)
        if data.shape != (63, 63):
            continue
        out[f"{short}_median"] = float(np.nanmedian(data))
        out[f"{short}_rms"] = float(_robust_std(data))
        core = data[29:34, 29:34]
        out[f"{short}_peak_snr"] = float(
            (np.nanmax(core) - np.nanmedian(data)) / max(_robust_std(data), 1e-6)
        )
    return out


def alert_row(alert: dict, with_stamps: bool = True) -> dict:
    """Flat row of compared quantities for one alert."""
    c = alert["candidate"]
    row = {k: c.get(k) for k in CANDIDATE_STATS}
    row["isdiffpos"] = 1.0 if c.get("isdiffpos") in ("t", "1") else 0.0
    prv = alert.get("prv_candidates") or []
    row["n_prv"] = len(prv)
    row["n_prv_det"] = sum(p.get("candid") is not None for p in prv)
    row["frac_near_ref"] = float(c.get("distnr") is not None and 0 <= c["distnr"] < 1.4)
    for key in ("sgscore1", "distpsnr1", "ssdistnr"):
        if row[key] is not None and row[key] < -900:  # ZTF's "none" sentinel
            row[key] = np.nan
    if with_stamps:
        row.update(stamp_stats(alert))
    return {k: (np.nan if v is None else v) for k, v in row.items()}


def read_alert_files(paths, with_stamps: bool = True, limit: int | None = None):
    """Rows of compared quantities from .avro files and/or .tar.gz nightly archives."""
    import fastavro
    import pandas as pd

    rows = []
    for path in paths:
        path = Path(path)
        if path.name.endswith(".tar.gz"):
            with tarfile.open(path) as tf:
                for member in tf:
                    if member.isfile():
                        for alert in fastavro.reader(tf.extractfile(member)):
                            rows.append(alert_row(alert, with_stamps))
                    if limit and len(rows) >= limit:
                        break
        else:
            with open(path, "rb") as fh:
                for alert in fastavro.reader(fh):
                    rows.append(alert_row(alert, with_stamps))
        if limit and len(rows) >= limit:
            break
    return pd.DataFrame(rows)


# quantities compared with the schema-4.02 sample (2023, which is rb >= 0.55 filtered)
# and the tolerance on the median of each
TOLERANCES_402 = {
    "magpsf": 0.35,
    "sigmapsf": 0.03,
    "diffmaglim": 0.25,
    "rb": 0.06,
    "fwhm": 0.35,
    "distnr": 1.0,
    "frac_near_ref": 0.1,
    "n_prv": 5.0,
    "sci_median": 40.0,
    "sci_rms": 1.2,
    "ref_rms": 0.5,
    "diff_rms": 1.2,
    "diff_peak_snr": 8.0,
}
# quantities compared with the 2018 public night (its PS1 cross-match is unaltered)
TOLERANCES_2018 = {"sgscore1": 0.15, "distpsnr1": 1.0}


def realism_report(sim, real_402, real_2018):
    """The full comparison: simulated alerts (rb >= 0.55 for the 4.02 sample, whose
    alerts passed that cut) against both real samples."""
    import pandas as pd

    cut = sim[sim["rb"] >= 0.55]
    a = compare(cut, real_402, TOLERANCES_402)
    a.insert(0, "reference", "v4.02_20231018 (rb>=0.55)")
    b = compare(sim, real_2018, TOLERANCES_2018)
    b.insert(0, "reference", "ztf_public_20181129")
    return pd.concat([a, b], ignore_index=True)
