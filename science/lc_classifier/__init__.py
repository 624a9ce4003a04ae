"""Hierarchical light-curve classifier (ALeRCE): balanced random forests or xgboost.

Public API::

    from science.lc_classifier import HierarchicalRandomForest, HierarchicalXGBoost, load, train_default
    model = HierarchicalRandomForest(n_estimators=500).fit(features_df, leaf_labels)
    p_top, p_leaf = model.predict_proba_hierarchical(features_df)
    model.save("var/models/lc_classifier/<version>")      # safe artifacts (artifact.py)
    model = load("var/models/lc_classifier")             # the `current` version (or a version folder)
    rows = probabilities(features_pdf, model)            # batch.py: probability rows (the UDF body)

See science/README.md.
"""
from __future__ import annotations

from .model import (BACKENDS, FILL_VALUE, MODEL_VERSION, TAXONOMY, TOP_OF, HierarchicalRandomForest,
                    HierarchicalXGBoost, default_feature_list)


def load(path, version: str | None = None):
    """The model of a version folder, or of a classifier's models folder (its pinned
    ``version``, else its ``current`` pointer); safe artifacts only, checksums verified.
    A relative ``path`` is relative to the project root."""
    from ..artifacts import version_folder
    from .artifact import load as load_artifacts

    return load_artifacts(version_folder(path, version, hint="models.lc_dir"))


def train_default(out_dir=None, backend: str = "brf", **kwargs):
    """Train the default model (simulated seasons + real labeled curves); see train.py."""
    from .train import train_default as _train

    return _train(out_dir, backend=backend, **kwargs)


__all__ = ["HierarchicalRandomForest", "HierarchicalXGBoost", "BACKENDS", "TAXONOMY", "TOP_OF",
           "FILL_VALUE", "MODEL_VERSION", "default_feature_list", "load", "train_default"]
