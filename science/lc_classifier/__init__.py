"""Hierarchical light-curve classifier (ALeRCE): balanced random forests or xgboost.

Public API::

    from science.lc_classifier import HierarchicalRandomForest, HierarchicalXGBoost, load, train_default
    model = HierarchicalRandomForest(n_estimators=500).fit(features_df, leaf_labels)
    p_top, p_leaf = model.predict_proba_hierarchical(features_df)
    model.save("var/models/lc_classifier/<version>/model.joblib"); model = load(dir_or_file)

See science/README.md.
"""
from __future__ import annotations

from pathlib import Path

from .model import (BACKENDS, FILL_VALUE, MODEL_VERSION, TAXONOMY, TOP_OF, HierarchicalRandomForest,
                    HierarchicalXGBoost, default_feature_list)

ARTIFACT = "model.joblib"


def load(path):
    """Load a model from its ``model.joblib`` or the folder holding it."""
    path = Path(path)
    if path.is_dir():
        path = path / ARTIFACT
    return HierarchicalRandomForest.load(path)


def train_default(out_dir=None, backend: str = "brf", **kwargs):
    """Train the default model (simulated seasons + real labeled curves); see train.py."""
    from .train import train_default as _train

    return _train(out_dir, backend=backend, **kwargs)


__all__ = ["HierarchicalRandomForest", "HierarchicalXGBoost", "BACKENDS", "TAXONOMY", "TOP_OF",
           "FILL_VALUE", "MODEL_VERSION", "default_feature_list", "load", "train_default", "ARTIFACT"]
