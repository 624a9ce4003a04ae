"""Classifier inference as pandas batch functions (for mapInPandas / applyInPandas UDFs).

Both functions return *probability rows*, the layout of the lake's ``probability`` table:
``oid, classifier_name, classifier_version, class_name, probability, ranking`` (ranking 1
= most probable within one object and classifier_name). The probabilities of one object
and classifier_name sum to 1.

- ``lc_probabilities(features_pdf, model_dir)``: rows of the ``feature`` table (one per
  oid) -> the light-curve classifier's ``<name>_top`` rows (Periodic, Stochastic,
  Transient) and ``<name>`` rows (the 15 leaves, P(top) x P(leaf | top)). Objects whose
  features were not computed (``reason`` set) get no rows.
- ``stamp_probabilities(alerts_pdf, model_dir)``: alert rows (candidate columns + the
  three cutout blobs) -> ``stamp_classifier`` rows (AGN, SN, VS, asteroid, bogus), with
  the brief's rules on top (see ``apply_stamp_rules``).

Models are loaded once per worker process and kept in a module-level cache keyed by
the artifact path and its modification time (a retrained model in the same folder is
picked up; nothing is reloaded per batch). ``model_dir`` is a model folder (holding
``model.joblib`` / ``model.pt``) or a parent folder of versions (the newest is used).

Wiring into Spark (the probability schema is ``PROBABILITY_SCHEMA``)::

    feats.mapInPandas(lc_udf("var/models/lc_classifier"), PROBABILITY_SCHEMA)
    alerts.mapInPandas(stamp_udf("var/models/stamp_classifier"), PROBABILITY_SCHEMA)
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pandas as pd

from lake.surveys.ztf.rules import apply_stamp_rules  # the stamp classifier is ZTF's

PROBABILITY_COLUMNS = ["oid", "classifier_name", "classifier_version", "class_name",
                       "probability", "ranking"]
PROBABILITY_SCHEMA = ("oid string, classifier_name string, classifier_version string, "
                      "class_name string, probability double, ranking int")
LC_ARTIFACT = "model.joblib"
STAMP_ARTIFACT = "model.pt"

_CACHE: dict = {}
_LOCK = threading.Lock()


def resolve_artifact(model_dir, artifact: str) -> Path:
    """The artifact file of ``model_dir`` (a file, a model folder, or a folder of
    version folders: the most recently written one)."""
    path = Path(model_dir)
    if path.is_file():
        return path
    if (path / artifact).is_file():
        return path / artifact
    found = sorted(path.glob(f"*/{artifact}"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise FileNotFoundError(f"no {artifact} in {path} or its subfolders")
    return found[-1]


def load_cached(model_dir, kind: str):
    """The model of ``model_dir`` (kind 'lc' or 'stamp'), loaded once per process."""
    artifact = resolve_artifact(model_dir, LC_ARTIFACT if kind == "lc" else STAMP_ARTIFACT)
    key = (kind, str(artifact.resolve()), artifact.stat().st_mtime_ns, os.getpid())
    model = _CACHE.get(key)
    if model is None:
        with _LOCK:
            model = _CACHE.get(key)
            if model is None:
                if kind == "lc":
                    from science.lc_classifier import load
                else:
                    from science.stamp_classifier import load
                model = load(artifact)
                if kind == "lc":
                    model.set_n_jobs(1)   # one worker process per core
                for old in [k for k in _CACHE if k[:2] == key[:2]]:
                    del _CACHE[old]
                _CACHE[key] = model
    return model


def clear_cache() -> None:
    _CACHE.clear()


def long_rows(oids, probs: np.ndarray, classes, name: str, version: str) -> pd.DataFrame:
    """Probability rows from an (n, k) matrix (rows renormalized to sum to 1).

    >>> long_rows(["a"], np.array([[0.2, 0.8]]), ["X", "Y"], "clf", "1").to_dict("list")
    {'oid': ['a', 'a'], 'classifier_name': ['clf', 'clf'], 'classifier_version': ['1', '1'], \
'class_name': ['X', 'Y'], 'probability': [0.2, 0.8], 'ranking': [2, 1]}
    """
    probs = np.asarray(probs, dtype=np.float64)
    n, k = probs.shape
    total = probs.sum(axis=1, keepdims=True)
    probs = np.where(total > 0, probs / np.where(total > 0, total, 1.0), 1.0 / max(k, 1))
    order = np.argsort(-probs, axis=1, kind="stable")
    ranks = np.empty((n, k), np.int32)
    ranks[np.arange(n)[:, None], order] = np.arange(1, k + 1, dtype=np.int32)
    return pd.DataFrame({
        "oid": np.repeat(np.asarray(oids, dtype=object), k),
        "classifier_name": name,
        "classifier_version": version,
        "class_name": np.tile(np.asarray(classes, dtype=object), n),
        "probability": probs.ravel(),
        "ranking": ranks.ravel(),
    })


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="int32" if c == "ranking" else "float64" if c == "probability"
                                      else object) for c in PROBABILITY_COLUMNS})


def lc_probabilities(features_pdf: pd.DataFrame, model_dir, levels=("top", "leaf"),
                     model=None) -> pd.DataFrame:
    """Light-curve classifier probability rows for a batch of feature rows.

    ``levels``: 'top' (classifier_name ``<name>_top``) and/or 'leaf' (``<name>``).
    """
    model = model or load_cached(model_dir, "lc")
    pdf = features_pdf
    if "oid" not in pdf.columns:
        pdf = pdf.reset_index()
    if "reason" in pdf.columns:
        featurized = pdf["reason"].isna().to_numpy()
        if not featurized.all():   # the stage filters already: skip a copy of the batch
            pdf = pdf[featurized]
    if len(pdf) == 0:
        return _empty()
    oids = pdf["oid"].to_numpy()
    p_top, p_leaf = model.predict_proba_hierarchical(pdf)
    parts = []
    if "top" in levels:
        parts.append(long_rows(oids, p_top, model.top_classes_, f"{model.name}_top", model.version))
    if "leaf" in levels:
        parts.append(long_rows(oids, p_leaf, model.classes_, model.name, model.version))
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def stamp_probabilities(alerts_pdf: pd.DataFrame, model_dir, rules: bool = True,
                        model=None, oid_column: str | None = None) -> pd.DataFrame:
    """Stamp classifier probability rows for a batch of alerts.

    ``alerts_pdf``: one row per alert with ``oid`` (or ``objectId``), the three cutouts
    (``cutoutScience``, ``cutoutTemplate``, ``cutoutDifference``: gzipped FITS bytes, or
    already decoded arrays) and the candidate's metadata columns (see
    ``science.stamp_classifier.METADATA``; missing ones count as missing values). One set
    of rows per input row: pass each object's first alert.
    """
    model = model or load_cached(model_dir, "stamp")
    if len(alerts_pdf) == 0:
        return _empty()
    col = oid_column or ("oid" if "oid" in alerts_pdf.columns else "objectId")
    probs = model.predict_proba_alerts(alerts_pdf)
    if rules:
        probs = apply_stamp_rules(alerts_pdf, probs, model.classes_)
    return long_rows(alerts_pdf[col].to_numpy(), probs, model.classes_, model.name, model.version)


def lc_udf(model_dir, levels=("top", "leaf")):
    """A mapInPandas function: iterator of feature batches -> probability rows."""
    def run(batches):
        for pdf in batches:
            yield lc_probabilities(pdf, model_dir, levels)
    return run


def stamp_udf(model_dir, rules: bool = True):
    """A mapInPandas function: iterator of alert batches -> probability rows."""
    def run(batches):
        for pdf in batches:
            yield stamp_probabilities(pdf, model_dir, rules)
    return run


__all__ = ["lc_probabilities", "stamp_probabilities", "apply_stamp_rules", "long_rows", "lc_udf",
           "stamp_udf", "load_cached", "clear_cache", "resolve_artifact", "PROBABILITY_COLUMNS",
           "PROBABILITY_SCHEMA"]
