"""The top-level Extractor: composes feature evaluators, like light-curve's ``Extractor``.

Each evaluator computes one group of features for *all* objects of a preprocessed batch in
one call (numba ``nogil`` kernels, light-curve's Rust code or vectorized pandas), so a Spark
``applyInPandas``/``mapInPandas`` UDF should hand it many objects at a time. Evaluators
that need another group's output (harmonics and Psi need the period; WISE colors need the
mean magnitudes) read it from the shared :class:`EvaluationContext`.

Objects without >= 6 valid detections in g or r get a row of nulls with a ``reason``.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import colors, detections, drw, harmonics, mhps, period, spm, variability
from .preprocess import (BANDS, PREPROCESSING_ALERCE, PREPROCESSING_DEFAULT, PREPROCESSING_MODES, LightCurveBatch,
                         preprocess)

FEATURE_VERSION = "alert-lake-features-2.0.0"  # 2.0: ALeRCE 1.1.1 period (MHAOV), SPM, MHPS, rules
STATUS_COLUMNS = ("feature_version", "n_det_used", "reason")


@dataclass
class EvaluationContext:
    non_detections: pd.DataFrame | None = None
    objects: pd.DataFrame | None = None
    previous: pd.DataFrame | None = None
    results: dict[str, np.ndarray] = field(default_factory=dict)


def _suffixed(names, bands=BANDS):
    return tuple(f"{name}_{fid}" for fid in bands for name in names)


class FeatureEvaluator:
    """A group of features. Subclasses set ``group``, ``names`` and implement ``evaluate``."""

    group: str = ""
    names: tuple[str, ...] = ()

    def evaluate(self, batch: LightCurveBatch, context: EvaluationContext) -> dict[str, np.ndarray]:
        raise NotImplementedError


class PerBandEvaluator(FeatureEvaluator):
    """Runs ``band_function(band, **kwargs)`` on each band and suffixes the names with _fid."""

    base_names: tuple[str, ...] = ()

    def __init__(self, bands=BANDS):
        self.bands = tuple(bands)
        self.names = _suffixed(self.base_names, self.bands)

    def band_values(self, batch, fid, context) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def evaluate(self, batch, context):
        out = {}
        for fid in self.bands:
            for name, values in self.band_values(batch, fid, context).items():
                out[f"{name}_{fid}"] = values
        return out


class VariabilityEvaluator(PerBandEvaluator):
    group = "variability"
    base_names = variability.NAMES

    def band_values(self, batch, fid, context):
        return variability.variability_features(batch.bands[fid])


class MHPSEvaluator(PerBandEvaluator):
    group = "mhps"
    base_names = mhps.NAMES

    def band_values(self, batch, fid, context):
        return mhps.mhps_features(batch.bands[fid])


class DRWEvaluator(PerBandEvaluator):
    group = "drw"
    base_names = drw.NAMES

    def band_values(self, batch, fid, context):
        return drw.drw_features(batch.bands[fid])


class SPMEvaluator(PerBandEvaluator):
    group = "spm"
    base_names = spm.NAMES

    def band_values(self, batch, fid, context):
        return spm.spm_features(batch.bands[fid])


class PeriodEvaluator(FeatureEvaluator):
    """Multiband period search; ``previous`` (oid, Multiband_period[, PPE]) enables reuse."""

    group = "period"
    names = period.NAMES

    def __init__(self, resolve_aliases: bool = True):
        self.resolve_aliases = resolve_aliases

    def evaluate(self, batch, context):
        previous_period = previous_ppe = None
        if context.previous is not None and len(context.previous):
            prev = context.previous
            prev = prev.reset_index() if "oid" not in prev.columns else prev
            prev = prev.drop_duplicates("oid").set_index("oid")
            previous_period = prev["Multiband_period"].reindex(batch.oids).to_numpy(float)
            if "PPE" in prev.columns:
                previous_ppe = prev["PPE"].reindex(batch.oids).to_numpy(float)
        out = period.period_features(batch.bands[1], batch.bands[2], previous_period,
                                     resolve_aliases=self.resolve_aliases)
        if previous_ppe is not None:
            reused = np.isfinite(previous_period) & (previous_period > 0)
            out["PPE"] = np.where(reused, previous_ppe, out["PPE"])
        return out


class HarmonicsEvaluator(PerBandEvaluator):
    group = "harmonics"
    base_names = harmonics.NAMES + harmonics.PSI_NAMES

    def band_values(self, batch, fid, context):
        periods = context.results["Multiband_period"]
        out = harmonics.harmonics_features(batch.bands[fid], periods)
        out.update(harmonics.psi_features(batch.bands[fid], periods))
        return out


class DetectionEvaluator(FeatureEvaluator):
    group = "detections"
    names = _suffixed(detections.DETECTION_NAMES)

    def evaluate(self, batch, context):
        frame = detections.detection_features(batch.detections, batch.oids)
        return {c: frame[c].to_numpy(float) for c in frame.columns}


class NonDetectionEvaluator(FeatureEvaluator):
    group = "non_detections"
    names = _suffixed(detections.NON_DETECTION_NAMES)

    def evaluate(self, batch, context):
        frame = detections.non_detection_features(batch.detections, context.non_detections, batch.oids)
        return {c: frame[c].to_numpy(float) for c in frame.columns}


class ColorEvaluator(FeatureEvaluator):
    group = "colors"
    names = colors.COLOR_NAMES

    def evaluate(self, batch, context):
        frame = colors.color_features(batch.detections, batch.oids)
        return {c: frame[c].to_numpy(float) for c in frame.columns}


class ContextEvaluator(FeatureEvaluator):
    """gal_l/gal_b, rb, sgscore1 and WISE colors (needs mean_mag_1/2 from detections)."""

    group = "context"
    names = colors.CONTEXT_NAMES + colors.WISE_NAMES

    def evaluate(self, batch, context):
        mean_mag = {fid: context.results.get(f"mean_mag_{fid}", np.full(len(batch), np.nan))
                    for fid in BANDS}
        frame = colors.context_features(batch.detections, batch.oids, context.objects, mean_mag)
        return {c: frame[c].to_numpy(float) for c in frame.columns}


def default_evaluators(resolve_aliases: bool = True) -> list[FeatureEvaluator]:
    return [DetectionEvaluator(), NonDetectionEvaluator(), VariabilityEvaluator(), MHPSEvaluator(),
            PeriodEvaluator(resolve_aliases=resolve_aliases), HarmonicsEvaluator(), DRWEvaluator(), SPMEvaluator(),
            ColorEvaluator(), ContextEvaluator()]


class Extractor:
    """Compose feature evaluators; call on detection rows of many objects.

    >>> ext = Extractor()
    >>> 'Multiband_period' in ext.names and 'Amplitude_1' in ext.names
    True
    """

    def __init__(self, *evaluators: FeatureEvaluator, min_detections: int = 6,
                 preprocessing: str = PREPROCESSING_DEFAULT):
        if preprocessing not in PREPROCESSING_MODES:
            raise ValueError(f"unknown preprocessing {preprocessing!r}; "
                             f"expected one of {PREPROCESSING_MODES}")
        # ALeRCE's own period (no alias resolution) where its preprocessing is asked for.
        self.evaluators = (list(evaluators) if evaluators else
                           default_evaluators(resolve_aliases=preprocessing != PREPROCESSING_ALERCE))
        self.min_detections = min_detections
        self.preprocessing = preprocessing
        self.names = tuple(sorted(n for ev in self.evaluators for n in ev.names))
        self.timings: dict[str, float] = {}

    def __call__(self, detections: pd.DataFrame, non_detections: pd.DataFrame | None = None,
                 objects: pd.DataFrame | None = None, previous: pd.DataFrame | None = None,
                 n_threads: int = 1) -> pd.DataFrame:
        """One row per input oid: the features, feature_version, n_det_used and reason.

        ``n_threads > 1`` splits the objects into chunks evaluated in threads; the kernels
        release the GIL, so this uses several cores inside one Python process.
        """
        self.timings = {}
        det = detections.reset_index() if "oid" not in detections.columns else detections
        if n_threads <= 1:
            return self._extract(det, non_detections, objects, previous)
        oids = pd.unique(det["oid"])
        chunks = [c for c in np.array_split(oids, n_threads) if len(c)]
        with ThreadPoolExecutor(max_workers=n_threads) as pool:
            parts = list(pool.map(lambda c: self._extract(det[det["oid"].isin(c)], non_detections,
                                                          objects, previous), chunks))
        return pd.concat(parts)

    def _extract(self, det, non_detections, objects, previous) -> pd.DataFrame:
        start = time.perf_counter()
        prepared = preprocess(det, objects, self.min_detections, mode=self.preprocessing)
        self._add_time("preprocess", time.perf_counter() - start)
        batch = prepared.batch
        context = EvaluationContext(non_detections=non_detections, objects=objects, previous=previous)
        for evaluator in self.evaluators:
            start = time.perf_counter()
            context.results.update(evaluator.evaluate(batch, context) if len(batch) else
                                   {n: np.zeros(0) for n in evaluator.names})
            self._add_time(evaluator.group, time.perf_counter() - start)
        features = pd.DataFrame({name: np.asarray(context.results[name], dtype=float)
                                 for name in self.names}, index=pd.Index(batch.oids, name="oid"))
        status = prepared.status
        features = features.reindex(status.index)
        features["feature_version"] = FEATURE_VERSION
        features["n_det_used"] = status["n_det_used"]
        features["reason"] = status["reason"]
        return features

    def _add_time(self, group, seconds):
        self.timings[group] = self.timings.get(group, 0.0) + seconds


def extract_features(detections: pd.DataFrame, non_detections: pd.DataFrame | None = None,
                     objects: pd.DataFrame | None = None, previous: pd.DataFrame | None = None,
                     n_threads: int = 1, preprocessing: str = PREPROCESSING_DEFAULT) -> pd.DataFrame:
    """ALeRCE light-curve features of every object in ``detections`` (lake layout).

    See :class:`Extractor`. ``previous`` (oid, Multiband_period[, PPE]) restricts the period
    search to a window around each object's previous period. ``preprocessing="alerce_1.1.1"``
    selects ALeRCE lc_classifier 1.1.1's own preprocessing (``preprocess.py``).
    """
    return Extractor(preprocessing=preprocessing)(detections, non_detections, objects, previous,
                                                  n_threads=n_threads)


def feature_names() -> tuple[str, ...]:
    """Feature columns produced by the default extractor (without status columns)."""
    return Extractor().names
