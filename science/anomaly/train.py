"""Training of the anomaly forests, their metrics and their model card.

Training rows: the light-curve classifier's labeled feature set (simulated seasons plus
the real labeled curves when present; ``science.lc_classifier.train.training_frames``,
whose parquet cache ``make models`` fills first), each object under its top class, the
held-out rows left out. Metric: for each top class, the AUC with which its forest tells
held-out objects of the other top classes (anomalies to it) from its own held-out objects.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..artifacts import publish
from ..card import json_block, write_card
from ..lc_classifier.model import TOP_OF, data_hash, default_feature_list
from .model import MODEL_VERSION, AnomalyModel, fit

EXTRA_COLUMNS = {"source", "test", "classALeRCE", "top_class"}
# The light curve's shape, per band (_1 g, _2 r) and across bands: not its brightness,
# position, number of epochs or the survey's depth, which say where and how often an object
# was seen rather than what it does. Measured on a simulated season (forests trained on
# RRL, EB, SNIa, SNII, AGN, QSO; AUC of injected objects against held-out normal ones of
# their top class), this set against all 178 features: LPV 0.99 / 0.97, CV/Nova 0.99 /
# 1.00, YSO 0.94 / 0.93, Blazar 0.99 / 0.98, CEP 0.65 / 0.51; delta Scuti (0.35 / 0.38)
# and SLSNe (0.57 / 0.61) are not told apart from RRL and other SNe by either.
SHAPE_PER_BAND = ("Amplitude", "Std", "Skew", "SmallKurtosis", "Eta_e", "ExcessVar",
                  "Autocor_length", "Harmonics_mag_1", "Harmonics_mse", "Period_band",
                  "MHPS_ratio", "IAR_phi", "SF_ML_amplitude", "SF_ML_gamma", "SPM_tau_rise",
                  "SPM_tau_fall", "SPM_chi", "SPM_beta", "StetsonK", "Q31", "LinearTrend",
                  "Gskew", "Beyond1Std", "MaxSlope", "delta_mag_fid", "delta_mjd_fid")
SHAPE_MULTIBAND = ("Multiband_period", "PPE", "g-r_mean", "g-r_max")
SHAPE_FEATURES = tuple(f"{n}_{b}" for n in SHAPE_PER_BAND for b in (1, 2)) + SHAPE_MULTIBAND


def feature_names(frame: pd.DataFrame, subset=SHAPE_FEATURES) -> list[str]:
    """Model inputs: the numeric features of ``frame`` in ``subset`` (None: all of them)."""
    numeric = [c for c in frame.columns if c not in EXTRA_COLUMNS
               and pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])]
    names = default_feature_list(numeric)
    return names if subset is None else [c for c in names if c in set(subset)]


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties half (Mann-Whitney)."""
    if not len(positive) or not len(negative):
        return float("nan")
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([positive, negative]))
    return float((ranks[:len(positive)].sum() - len(positive) * (len(positive) + 1) / 2)
                 / (len(positive) * len(negative)))


def train(frame: pd.DataFrame, n_estimators: int = 200, seed: int = 0) -> tuple[AnomalyModel, dict]:
    """Forests on the training rows of ``frame`` (``classALeRCE``, optional ``test``)."""
    frame = frame[frame["classALeRCE"].isin(TOP_OF)]
    top = frame["classALeRCE"].map(TOP_OF).to_numpy()
    test = frame["test"].to_numpy(bool) if "test" in frame.columns else np.zeros(len(frame), bool)
    names = feature_names(frame)
    digest = data_hash(frame[~test][names], top[~test])
    model = fit(frame[~test], top[~test], names, n_estimators=n_estimators, seed=seed,
                version=f"{MODEL_VERSION}+if.{digest[:8]}")
    model.training["training_data_sha256"] = digest
    metrics = {"features": len(names), "training_rows": model.training["rows_per_class"],
               "training_data_sha256": digest}
    # The stored (packed) forests score exactly like scikit-learn's.
    X = model.matrix(frame[~test][:500])
    metrics["max_abs_difference_to_sklearn"] = max(
        float(np.abs(f.score(X) + f.sklearn.score_samples(np.where(np.isfinite(X), X, f.fill))).max())
        for f in model.forests.values())
    if test.any():
        scores = model.scores(frame[test])
        metrics["heldout_auc_other_classes"] = {
            t: auc(s[top[test] != t], s[top[test] == t]) for t, s in scores.items()}
        metrics["heldout_rows"] = int(test.sum())
    return model, metrics


def write_model(model: AnomalyModel, metrics: dict, out, pointer: bool = False) -> Path:
    out = Path(out)
    model.save(out)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
    header = {"classifier_name": model.name, "version": model.version,
              "model": "scikit-learn IsolationForest per top class (packed to arrays)",
              "trees per forest": model.training.get("n_estimators"),
              "max samples per tree": model.training.get("max_samples"),
              "features": len(model.features),
              "training data sha256": model.training.get("training_data_sha256"),
              "training rows": ", ".join(f"{k}: {v}" for k, v in
                                         model.training.get("rows_per_class", {}).items())}
    sections = [
        ("Model", "One isolation forest per top class (Periodic, Stochastic, Transient) over "
         "the light-curve features; score s(x) = 2^(-E[h(x)]/c(n)) in (0, 1], higher = "
         "more anomalous for that class; missing features filled with the class's training "
         "median. Inference walks the stored arrays (no pickle)."),
        ("Held-out check", "AUC of each forest separating held-out objects of the other top "
         "classes from its own held-out objects:\n\n" + json_block(
             metrics.get("heldout_auc_other_classes", {}))),
        ("Metrics", json_block(metrics)),
    ]
    write_card(out / "MODEL_CARD.md", f"Anomaly model {model.name} {model.version}", header,
               sections)
    metrics["artifacts"] = publish(out, pointer=pointer)
    return out


__all__ = ["train", "write_model", "feature_names", "auc", "MODEL_VERSION"]
