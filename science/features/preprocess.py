"""Light-curve preprocessing (brief section 4) and the batch layout the kernels consume.

ALeRCE's rules, applied to the lake's ``detection`` table layout:

- keep ``rb >= 0.55``;
- choose the magnitude used for features: ``magpsf_corr``/``sigmapsf_corr_ext`` when the
  object is corrected (its first detection is), else ``magpsf``/``sigmapsf``;
- drop rows with missing/non-finite required values and keep ``0 < sigma < 1``;
- one detection per (oid, mjd), keeping the highest ``rb``;
- an object needs >= 6 detections in g or in r, otherwise its features are null with a
  reason (never an error).

The result is a :class:`LightCurveBatch`: for each band a CSR-like layout (one flat,
time-sorted array per quantity plus ``offsets``) so that numba kernels can loop over many
objects in one call without the GIL.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# ZTF's rules (the defaults; other surveys pass theirs to ``preprocess``)
RB_THRESHOLD = 0.55
QUALITY_COLUMN = "rb"
MAX_SIGMA = 1.0
MIN_DETECTIONS = 6
ALERCE_MIN_TOTAL_DETECTIONS = 5  # ALeRCE 1.1.1 keeps objects with more than this
BANDS = (1, 2)
MAGNITUDE = ("magpsf", "sigmapsf")
CORRECTED_MAGNITUDE = ("magpsf_corr", "sigmapsf_corr_ext")

REASON_NO_DETECTIONS = "no_valid_detections"
REASON_TOO_FEW = "too_few_detections"


def normalize_isdiffpos(values: pd.Series) -> np.ndarray:
    """Map isdiffpos given as +1/-1 numbers or 't'/'f'/'1'/'0' strings to int8 +1/-1.

    >>> normalize_isdiffpos(pd.Series(['t', 'f', '1', '0'])).tolist()
    [1, -1, 1, -1]
    >>> normalize_isdiffpos(pd.Series([1.0, -1.0, 1, -1])).tolist()
    [1, -1, 1, -1]
    """
    if values.dtype == object or pd.api.types.is_string_dtype(values) or pd.api.types.is_bool_dtype(values):
        text = values.astype(str).str.strip().str.lower()
        positive = text.isin(["t", "1", "1.0", "true", "+1"])
    else:
        positive = pd.to_numeric(values, errors="coerce").to_numpy() > 0
    return np.where(positive, 1, -1).astype(np.int8)


@dataclass(frozen=True)
class BandLightCurves:
    """Time-sorted light curves of one band for many objects (CSR layout).

    Object ``i`` owns rows ``offsets[i]:offsets[i+1]`` of every array.
    ``mag``/``err`` are the feature magnitudes (corrected when the object is corrected);
    ``magpsf``/``sigmapsf`` the uncorrected difference magnitudes (used by SPM).
    """

    fid: int
    offsets: np.ndarray
    mjd: np.ndarray
    mag: np.ndarray
    err: np.ndarray
    magpsf: np.ndarray
    sigmapsf: np.ndarray
    isdiffpos: np.ndarray

    @property
    def n_points(self) -> np.ndarray:
        return np.diff(self.offsets)

    def arrays(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mjd, mag, err) of object ``i``."""
        a, b = self.offsets[i], self.offsets[i + 1]
        return self.mjd[a:b], self.mag[a:b], self.err[a:b]


@dataclass
class LightCurveBatch:
    """Preprocessed detections of the objects that have enough points."""

    oids: np.ndarray
    detections: pd.DataFrame  # clean rows of the eligible objects, sorted by oid, fid, mjd
    bands: dict[int, BandLightCurves] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.oids)


@dataclass
class PreprocessResult:
    batch: LightCurveBatch
    status: pd.DataFrame  # index oid (every input oid): n_det_used, reason


def _object_corrected(detections: pd.DataFrame, objects: pd.DataFrame | None) -> pd.Series:
    """Per-oid corrected flag: from the objects table when given, else the first detection."""
    if objects is not None and "corrected" in objects.columns:
        obj = objects.reset_index() if "oid" not in objects.columns else objects
        return obj.drop_duplicates("oid").set_index("oid")["corrected"].astype(bool)
    if "corrected" not in detections.columns:
        return pd.Series(False, index=pd.Index(detections["oid"].unique(), name="oid"))
    first = detections.sort_values(["oid", "mjd"], kind="mergesort").drop_duplicates("oid")
    return first.set_index("oid")["corrected"].fillna(False).astype(bool)


PREPROCESSING_DEFAULT = "default"
PREPROCESSING_ALERCE = "alerce_1.1.1"
PREPROCESSING_MODES = (PREPROCESSING_DEFAULT, PREPROCESSING_ALERCE)


def _feature_magnitudes(det: pd.DataFrame, quality_column: str = QUALITY_COLUMN) -> None:
    """Add mag_ml/err_ml (corrected when the object is) and isdiffpos_sign in place."""
    for col in ("magpsf", "sigmapsf", "mjd", quality_column):
        det[col] = pd.to_numeric(det[col], errors="coerce").astype(float)
    has_corr = {"magpsf_corr", "sigmapsf_corr_ext"} <= set(det.columns)
    if has_corr:
        mag_corr = pd.to_numeric(det["magpsf_corr"], errors="coerce").astype(float)
        err_corr = pd.to_numeric(det["sigmapsf_corr_ext"], errors="coerce").astype(float)
        use_corr = det["object_corrected"].to_numpy()
        det["mag_ml"] = np.where(use_corr, mag_corr, det["magpsf"])
        det["err_ml"] = np.where(use_corr, err_corr, det["sigmapsf"])
    else:
        det["mag_ml"] = det["magpsf"]
        det["err_ml"] = det["sigmapsf"]
    det["isdiffpos_sign"] = (normalize_isdiffpos(det["isdiffpos"]) if "isdiffpos" in det.columns
                             else np.ones(len(det), dtype=np.int8))


def preprocess(detections: pd.DataFrame, objects: pd.DataFrame | None = None,
               min_detections: int = MIN_DETECTIONS, mode: str = PREPROCESSING_DEFAULT,
               bands=BANDS, quality_column: str = QUALITY_COLUMN,
               quality_min: float = RB_THRESHOLD, magnitude=MAGNITUDE,
               corrected_magnitude=CORRECTED_MAGNITUDE) -> PreprocessResult:
    """Apply ALeRCE's preprocessing; return the batch of eligible objects and a status table.

    ``detections`` may carry ``oid`` as a column or as the index. ``mode`` is
    ``"default"`` (the rules in the module docstring) or ``"alerce_1.1.1"``: exactly
    ALeRCE lc_classifier 1.1.1's ``DetectionsPreprocessorZTF`` (see :func:`_alerce_rows`),
    so that features can be compared to or combined with ALeRCE's published ones.
    The other defaults are ZTF's rules; a survey gives its own (``lake.surveys``:
    ``feature_rules.preprocess_kwargs()``): the bands, the quality column and its cut, and
    the (magnitude, error) columns, uncorrected and corrected.
    """
    if mode not in PREPROCESSING_MODES:
        raise ValueError(f"unknown preprocessing {mode!r}; expected one of {PREPROCESSING_MODES}")
    det = detections.reset_index() if "oid" not in detections.columns else detections
    renames = {a: b for a, b in zip((*magnitude, *corrected_magnitude),
                                    (*MAGNITUDE, *CORRECTED_MAGNITUDE)) if a != b}
    if renames:  # the kernels read ZTF's names: the survey's columns take them
        det = det.drop(columns=[b for b in renames.values() if b in det.columns]).rename(columns=renames)
    all_oids = pd.Index(pd.unique(det["oid"]), name="oid")
    numeric_bands = all(isinstance(fid, (int, np.integer)) for fid in bands)
    if mode == PREPROCESSING_ALERCE:
        det = _alerce_rows(det, objects)
    else:
        det = _default_rows(det, objects, quality_column, quality_min, numeric_bands)
    if numeric_bands:
        det["fid"] = det["fid"].astype(np.int64)
    det = det.sort_values(["oid", "fid", "mjd"], kind="mergesort").reset_index(drop=True)

    counts = det.groupby(["oid", "fid"]).size().unstack(fill_value=0)
    if mode == PREPROCESSING_ALERCE:
        # ALeRCE's per-band test measures the length of a boolean series, so it counts
        # all the object's rows: more than 5 detections in total, across bands.
        enough = counts.sum(axis=1) > ALERCE_MIN_TOTAL_DETECTIONS
    else:  # enough detections in one of the bands
        enough = pd.Series(False, index=counts.index)
        for fid in bands:
            if fid in counts.columns:
                enough |= counts[fid] >= min_detections
    eligible = enough[enough].index

    n_used = det.groupby("oid").size().reindex(all_oids, fill_value=0)
    reason = pd.Series(None, index=all_oids, dtype=object)
    reason[n_used == 0] = REASON_NO_DETECTIONS
    reason[(n_used > 0) & ~all_oids.isin(eligible)] = REASON_TOO_FEW
    status = pd.DataFrame({"n_det_used": n_used.astype(np.int64), "reason": reason})

    det = det[det["oid"].isin(eligible)].reset_index(drop=True)
    oids = np.asarray(all_oids[all_oids.isin(eligible)], dtype=object)
    batch = LightCurveBatch(oids=oids, detections=det)
    for fid in bands:
        batch.bands[fid] = _band_arrays(det, oids, fid)
    return PreprocessResult(batch=batch, status=status)


def _default_rows(det: pd.DataFrame, objects: pd.DataFrame | None,
                  quality_column: str = QUALITY_COLUMN, quality_min: float = RB_THRESHOLD,
                  numeric_bands: bool = True) -> pd.DataFrame:
    # A total order first, so that ties (equal mjd or rb) never depend on the order rows
    # arrived in: the same object gets the same features whatever batch it is in.
    order = [c for c in ("oid", "mjd", "fid", "candid", "magpsf") if c in det.columns]
    det = det.sort_values(order, kind="mergesort").reset_index(drop=True)
    corrected = _object_corrected(det, objects)
    det["object_corrected"] = det["oid"].map(corrected).fillna(False).astype(bool)
    _feature_magnitudes(det, quality_column)
    required = ["mjd", "fid", "magpsf", "sigmapsf", "mag_ml", "err_ml", quality_column]
    if not numeric_bands:  # letter bands (u..y): present, not numeric
        required.remove("fid")
    required += [c for c in ("ra", "dec") if c in det.columns]
    values = det[required].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(values).all(axis=1)
    if not numeric_bands:
        ok &= det["fid"].notna().to_numpy()
    ok &= det[quality_column].to_numpy() >= quality_min
    err = det["err_ml"].to_numpy()
    ok &= (err > 0.0) & (err < MAX_SIGMA)
    det = det[ok]
    # One detection per (oid, mjd): the same exposure can yield two sources; keep best rb.
    det = det.sort_values(quality_column, ascending=False, kind="mergesort")
    return det.drop_duplicates(["oid", "mjd"], keep="first")


def _alerce_rows(det: pd.DataFrame, objects: pd.DataFrame | None) -> pd.DataFrame:
    """ALeRCE 1.1.1's row selection, in its order (REFERENCE_FEATURES.md of alerce_examples).

    1. feature magnitudes from ``objects.corrected`` (else the first detection's flag);
    2. the *first row in input order* per (oid, mjd), before any quality cut;
    3. +-inf as NaN, drop rows with NaN in mjd, fid, magpsf, sigmapsf, the feature
       magnitude and error, ra, dec, rb or **sgscore1**;
    4. 0 < sigma < 1; 5. rb >= 0.55. The > 5 detections rule is applied by the caller.
    """
    det = det.reset_index(drop=True)
    corrected = _object_corrected(det, objects)
    det["object_corrected"] = det["oid"].map(corrected).fillna(False).astype(bool)
    det = det.drop_duplicates(["oid", "mjd"], keep="first").copy()
    _feature_magnitudes(det)
    required = ["mjd", "fid", "magpsf", "sigmapsf", "mag_ml", "err_ml", "ra", "dec", "rb", "sgscore1"]
    missing = [c for c in required if c not in det.columns]
    if missing:
        raise ValueError(f"alerce_1.1.1 preprocessing needs detection columns {missing}")
    values = det[required].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(values).all(axis=1)
    err = det["err_ml"].to_numpy()
    ok &= (err > 0.0) & (err < MAX_SIGMA)
    ok &= det["rb"].to_numpy() >= RB_THRESHOLD
    return det[ok]


def _band_arrays(det: pd.DataFrame, oids: np.ndarray, fid: int) -> BandLightCurves:
    band = det[det["fid"] == fid]
    # Rows are sorted by (oid, fid, mjd) and oids follow the input order, so map each oid
    # to its position and count rows per position.
    position = pd.Series(np.arange(len(oids)), index=pd.Index(oids, name="oid"))
    band_pos = position.reindex(band["oid"]).to_numpy()
    order = np.argsort(band_pos, kind="mergesort")
    band = band.iloc[order]
    counts = np.bincount(band_pos[order], minlength=len(oids)) if len(band) else np.zeros(len(oids), int)
    offsets = np.zeros(len(oids) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])

    def col(name):
        return np.ascontiguousarray(band[name].to_numpy(dtype=np.float64))

    return BandLightCurves(
        fid=fid, offsets=offsets, mjd=col("mjd"), mag=col("mag_ml"), err=col("err_ml"),
        magpsf=col("magpsf"), sigmapsf=col("sigmapsf"),
        isdiffpos=np.ascontiguousarray(band["isdiffpos_sign"].to_numpy(dtype=np.int8)))


def band_batch_from_arrays(curves: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                           fid: int = 1) -> BandLightCurves:
    """Build a :class:`BandLightCurves` from (mjd, mag, err) tuples (tests, benchmarks).

    Each curve is sorted by time; uncorrected magnitudes equal the given ones.

    >>> b = band_batch_from_arrays([(np.array([2., 1.]), np.array([10., 11.]), np.array([.1, .1]))])
    >>> b.offsets.tolist(), b.mjd.tolist(), b.mag.tolist()
    ([0, 2], [1.0, 2.0], [11.0, 10.0])
    """
    offsets = np.zeros(len(curves) + 1, dtype=np.int64)
    ts, ms, es = [], [], []
    for i, (t, m, e) in enumerate(curves):
        order = np.argsort(t, kind="mergesort")
        ts.append(np.asarray(t, float)[order])
        ms.append(np.asarray(m, float)[order])
        es.append(np.asarray(e, float)[order])
        offsets[i + 1] = offsets[i] + len(t)
    cat = (lambda xs: np.ascontiguousarray(np.concatenate(xs)) if xs else np.zeros(0))
    t, m, e = cat(ts), cat(ms), cat(es)
    return BandLightCurves(fid=fid, offsets=offsets, mjd=t, mag=m, err=e, magpsf=m.copy(),
                           sigmapsf=e.copy(), isdiffpos=np.ones(len(t), dtype=np.int8))
