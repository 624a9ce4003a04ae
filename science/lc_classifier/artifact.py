"""Safe artifacts of the light-curve classifier: nothing in them is code, nothing is
unpickled when they are loaded.

A version folder holds:

- ``model.json``: classifier_name, version, backend, the feature list, the taxonomy, the
  top and leaf classes, and the hierarchy's nodes (the top model, then one per top class:
  a forest/booster index and its column order, or the single class of a one-leaf node),
  the training-data sha256 and the training parameters;
- forest (``brf``): ``forest.npz``, the flat arrays of ``fastforest.PackedForests`` for
  every tree of the four forests (numeric arrays only, read with
  ``np.load(allow_pickle=False)``); prediction from them is bit-identical to
  scikit-learn's ``predict_proba`` on the trained forests;
- xgboost (``xgb``): ``node<i>.json`` per booster in xgboost's own JSON model format;
- ``artifacts.json``: the sha256 of each of those files (``science.artifacts``), checked
  when loading (a mismatch is refused).

Training keeps the imbalanced-learn / xgboost estimators in memory; inference only needs
these files (``load`` returns a ``PackedHierarchy``).
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from ..artifacts import ArtifactMismatch, ModelRef, read_verified, write_manifest
from .model import FILL_VALUE, TAXONOMY, HierarchyPredictor

FORMAT = "alert-lake/lc_classifier/1"
METADATA = "model.json"
FOREST = "forest.npz"


def _node_list(model):
    """[(top class or None, sub-model)] in the packing order: top, then each top class."""
    return [(None, model.top_model_)] + [(t, model.leaf_models_[t]) for t in model.top_classes_]


def save_model(model, folder) -> Path:
    """Write ``model``'s safe artifacts into ``folder``; returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    nodes, files, index = [], [], 0
    for top, sub in _node_list(model):
        if isinstance(sub, tuple):
            nodes.append({"top": top, "constant": sub[1]})
            continue
        node = {"top": top, "index": index}
        if model.backend == "brf":
            node["order"] = [int(i) for i in sub.order_]
        nodes.append(node)
        index += 1
    if model.backend == "brf":
        _, packed = model.packed()
        np.savez_compressed(folder / FOREST, **packed.to_arrays())
        files.append(FOREST)
    elif model.backend == "xgb":
        for node, (_, sub) in zip(nodes, _node_list(model)):
            if "index" in node:
                name = f"node{node['index']}.json"
                sub.get_booster().save_model(str(folder / name))
                files.append(name)
    else:
        raise ValueError(f"unknown backend {model.backend!r}")
    meta = {
        "format": FORMAT, "classifier_name": model.name, "version": model.version,
        "backend": model.backend, "features": list(model.feature_names_in_),
        "taxonomy": TAXONOMY, "top_classes": list(model.top_classes_),
        "leaf_classes": {t: list(v) for t, v in model.leaf_classes_.items()},
        "classes": [str(c) for c in model.classes_], "nodes": nodes,
        "fill_value": FILL_VALUE if model.backend == "brf" else None,
        "training_data_sha256": model.training_data_hash_,
        "n_train": getattr(model, "n_train_", None),
        "training_sources": getattr(model, "training_sources_", {}),
        "params": {k: v for k, v in model.get_params().items() if k != "features"},
    }
    (folder / METADATA).write_text(json.dumps(meta, indent=1, default=str) + "\n")
    write_manifest(folder, [METADATA, *files], model.name, model.version)
    return folder


class PackedHierarchy(HierarchyPredictor):
    """The hierarchical classifier rebuilt from its safe artifacts (inference only)."""

    def __init__(self, meta: dict, files: dict[str, bytes]):
        if meta.get("format") != FORMAT:
            raise ArtifactMismatch(f"unknown light-curve model format {meta.get('format')!r}")
        self.name = meta["classifier_name"]
        self.version = meta["version"]
        self.backend = meta["backend"]
        self.feature_names_in_ = list(meta["features"])
        self.n_features_in_ = len(self.feature_names_in_)
        self.top_classes_ = list(meta["top_classes"])
        self.leaf_classes_ = {t: list(v) for t, v in meta["leaf_classes"].items()}
        self.classes_ = np.array(meta["classes"])
        self.training_data_hash_ = meta["training_data_sha256"]
        self.n_train_ = meta.get("n_train")
        self.training_sources_ = meta.get("training_sources") or {}
        self.params = meta.get("params") or {}
        self.n_estimators = self.params.get("n_estimators")
        self.nodes = meta["nodes"]
        if [n["top"] for n in self.nodes] != [None, *self.top_classes_]:
            raise ArtifactMismatch("model.json: nodes do not match the top classes")
        if self.backend == "brf":
            from .fastforest import PackedForests

            with np.load(io.BytesIO(files[FOREST]), allow_pickle=False) as arrays:
                self.forests = PackedForests.from_arrays({k: arrays[k] for k in PackedForests.ARRAYS})
            self.fill_value = float(meta["fill_value"])
        elif self.backend == "xgb":
            from xgboost import Booster

            self.boosters = {}
            for node in self.nodes:
                if "index" in node:
                    booster = Booster()
                    booster.load_model(bytearray(files[f"node{node['index']}.json"]))
                    self.boosters[node["index"]] = booster
            self.set_n_jobs(1)
        else:
            raise ArtifactMismatch(f"unknown backend {self.backend!r}")

    def _prepare(self, M):
        if self.backend == "brf":
            M[np.isnan(M)] = self.fill_value
        return M

    def _node_probas(self, M):
        if self.backend == "brf":
            parts = self.forests.predict_proba(M) if self.forests.n_trees else []
        else:
            parts = []
            for node in self.nodes:
                if "index" in node:
                    p = np.asarray(self.boosters[node["index"]].inplace_predict(M), dtype=np.float64)
                    parts.append(np.column_stack([1.0 - p, p]) if p.ndim == 1 else p)
        probas = []
        for node in self.nodes:
            if "constant" in node:
                probas.append(np.ones((len(M), 1)))
            else:
                p = parts[node["index"]]
                probas.append(p[:, node["order"]] if "order" in node else p)
        return probas[0], dict(zip(self.top_classes_, probas[1:]))

    def set_n_jobs(self, n_jobs: int):
        """Threads of the xgboost boosters (the forest kernel runs on one thread)."""
        for booster in getattr(self, "boosters", {}).values():
            booster.set_param({"nthread": n_jobs})
        return self


def load(ref: ModelRef | str | Path) -> PackedHierarchy:
    """The model of a version folder (or a resolved ``ModelRef``), every file checked
    against its recorded sha256 first."""
    files = read_verified(ref)
    if METADATA not in files:
        raise ArtifactMismatch(f"{ref}: the manifest lists no {METADATA}")
    return PackedHierarchy(json.loads(files[METADATA]), files)


__all__ = ["save_model", "load", "PackedHierarchy", "FORMAT", "METADATA", "FOREST"]
