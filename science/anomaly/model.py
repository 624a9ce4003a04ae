"""Isolation forests per top class, kept as flat numeric arrays.

Training uses scikit-learn's ``IsolationForest`` (Liu, Ting & Zhou 2008). Inference reads
only ``forest.npz`` (numeric arrays, ``allow_pickle=False``) and ``model.json``: each tree
as (left, right, feature, threshold, leaf path length), walked for all rows at once in
numpy. The anomaly score is the paper's s(x) = 2^(-E[h(x)] / c(max_samples)) in (0, 1],
higher = more anomalous; it equals scikit-learn's ``-score_samples(x)`` (tested), so the
stored model is the trained one. Missing features are filled with the class's training
median (isolation trees cannot take NaN), a feature missing in all training rows with 0.
"""
from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..artifacts import ModelRef, read_verified, write_manifest

NAME = "anomaly_iforest"
MODEL_VERSION = "1.0.0"
FORMAT = "alert-lake/anomaly/1"
METADATA = "model.json"
FOREST = "forest.npz"


def average_path_length(n) -> np.ndarray:
    """c(n): the mean path length of an unsuccessful search in a binary search tree of n
    points (the paper's normalisation; c(1) = 0, c(2) = 1), as scikit-learn defines it."""
    n = np.asarray(n, dtype=np.float64)
    out = np.zeros_like(n)
    two = n == 2
    big = n > 2
    out[two] = 1.0
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


@dataclass
class Forest:
    """One class's trees, concatenated: node arrays plus each tree's first node."""
    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    leaf_value: np.ndarray       # depth + c(samples in the leaf), at leaves
    roots: np.ndarray
    max_samples: int
    fill: np.ndarray             # per feature: training median

    def path_lengths(self, X: np.ndarray) -> np.ndarray:
        X = np.where(np.isfinite(X), X, self.fill).astype(np.float32)  # trees split float32
        total = np.zeros(len(X))
        rows = np.arange(len(X))
        for root in self.roots:
            node = np.full(len(X), root, np.int64)
            while True:
                inner = self.left[node] >= 0
                if not inner.any():
                    break
                f = self.feature[node[inner]]
                go_left = X[rows[inner], f] <= self.threshold[node[inner]]
                node[inner] = np.where(go_left, self.left[node[inner]], self.right[node[inner]])
            total += self.leaf_value[node]
        return total

    def score(self, X: np.ndarray) -> np.ndarray:
        mean = self.path_lengths(X) / len(self.roots)
        return 2.0 ** (-mean / average_path_length(self.max_samples))


def pack(forest, fill: np.ndarray) -> Forest:
    """A fitted ``IsolationForest`` as flat arrays (node ids offset per tree; feature ids
    mapped through each tree's feature subset to the full feature list)."""
    parts = {k: [] for k in ("left", "right", "feature", "threshold", "leaf_value")}
    roots, offset = [], 0
    for tree, features in zip(forest.estimators_, forest.estimators_features_):
        t = tree.tree_
        n = t.node_count
        depth = np.zeros(n, np.int64)
        for i in range(n):             # parents come before children in sklearn's arrays
            for child in (t.children_left[i], t.children_right[i]):
                if child >= 0:
                    depth[child] = depth[i] + 1
        leaf = t.children_left == -1
        parts["left"].append(np.where(leaf, -1, t.children_left + offset))
        parts["right"].append(np.where(leaf, -1, t.children_right + offset))
        parts["feature"].append(np.where(leaf, 0, np.asarray(features)[np.maximum(t.feature, 0)]))
        parts["threshold"].append(t.threshold.astype(np.float64))
        parts["leaf_value"].append(np.where(
            leaf, depth + average_path_length(t.n_node_samples), 0.0))
        roots.append(offset)
        offset += n
    return Forest(*(np.concatenate(parts[k]) for k in ("left", "right", "feature", "threshold",
                                                         "leaf_value")),
                  roots=np.asarray(roots, np.int64), max_samples=int(forest.max_samples_),
                  fill=np.asarray(fill, np.float64))


@dataclass
class AnomalyModel:
    features: list[str]
    forests: dict[str, Forest]          # top class -> forest
    version: str = MODEL_VERSION
    name: str = NAME
    training: dict = field(default_factory=dict)

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        cols = [frame[c] if c in frame.columns else pd.Series(np.nan, index=frame.index)
                for c in self.features]
        return np.column_stack([pd.to_numeric(c, errors="coerce").to_numpy(np.float64)
                                for c in cols]) if cols else np.zeros((len(frame), 0))

    def scores(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """{top class: anomaly score of every row of ``frame``}."""
        X = self.matrix(frame)
        return {top: forest.score(X) for top, forest in self.forests.items()}

    def save(self, folder) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {}
        for i, f in enumerate(self.forests.values()):
            for key in ("left", "right", "feature", "threshold", "leaf_value", "roots", "fill"):
                arrays[f"{i}_{key}"] = getattr(f, key)
        np.savez_compressed(folder / FOREST, **arrays)
        meta = {"format": FORMAT, "classifier_name": self.name, "version": self.version,
                "features": self.features, "classes": list(self.forests),
                "max_samples": {t: f.max_samples for t, f in self.forests.items()},
                "training": self.training}
        (folder / METADATA).write_text(json.dumps(meta, indent=1, default=str))
        write_manifest(folder, [METADATA, FOREST], self.name, self.version)
        return folder


def fit(features: pd.DataFrame, top_class, feature_names: list[str], *, n_estimators: int = 200,
        max_samples: int = 256, seed: int = 0, version: str = MODEL_VERSION) -> AnomalyModel:
    """One isolation forest per top class, on the rows of that class."""
    from sklearn.ensemble import IsolationForest

    top_class = np.asarray(top_class)
    probe = AnomalyModel(list(feature_names), {})
    X = probe.matrix(features)
    forests = {}
    for top in sorted(set(top_class.tolist())):
        rows = X[top_class == top]
        with warnings.catch_warnings():   # a feature missing in every row: filled with 0
            warnings.simplefilter("ignore", RuntimeWarning)
            fill = np.nanmedian(np.where(np.isfinite(rows), rows, np.nan), axis=0)
        fill = np.where(np.isfinite(fill), fill, 0.0)
        rows = np.where(np.isfinite(rows), rows, fill)
        forest = IsolationForest(n_estimators=n_estimators, max_samples=min(max_samples, len(rows)),
                                 random_state=seed).fit(rows)
        forests[top] = pack(forest, fill)
        forests[top].sklearn = forest   # kept in memory for the equality check in training
    counts = {t: int((top_class == t).sum()) for t in forests}
    return AnomalyModel(list(feature_names), forests, version,
                        training={"rows_per_class": counts, "n_estimators": n_estimators,
                                  "max_samples": max_samples, "seed": seed})


def load(ref: ModelRef | str | Path) -> AnomalyModel:
    """The model of a version folder, every file checked against its sha256."""
    files = read_verified(ref)
    meta = json.loads(files[METADATA])
    if meta.get("format") != FORMAT:
        raise ValueError(f"not an anomaly model ({meta.get('format')!r}, expected {FORMAT})")
    with np.load(io.BytesIO(files[FOREST]), allow_pickle=False) as z:
        forests = {}
        for i, top in enumerate(meta["classes"]):
            get = {k: z[f"{i}_{k}"] for k in ("left", "right", "feature", "threshold",
                                               "leaf_value", "roots", "fill")}
            forests[top] = Forest(get["left"], get["right"], get["feature"], get["threshold"],
                                  get["leaf_value"], get["roots"], int(meta["max_samples"][top]),
                                  get["fill"])
    return AnomalyModel(meta["features"], forests, meta["version"], meta["classifier_name"],
                        meta.get("training", {}))
