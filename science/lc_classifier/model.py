"""Hierarchical light-curve classifier (ALeRCE, Sanchez-Saez et al. 2021).

Four models: a *top* model (Periodic / Stochastic / Transient) and one model per top
class over its leaves; ``P(leaf) = P(top) x P(leaf | top)``, so the 15 leaf
probabilities of an object sum to 1 and their sums per top class equal the top
probabilities (the hierarchy is consistent by construction).

Two backends behind one scikit-learn estimator interface:

- ``HierarchicalRandomForest``: imbalanced-learn ``BalancedRandomForestClassifier``
  (each tree grown on a bootstrap sample undersampled to the rarest class; entropy
  criterion, ``max_features='sqrt'``, 500 trees per model as ALeRCE). Prediction walks
  the four forests in one compiled pass (``fastforest``), bit-identical to scikit-learn's.
- ``HierarchicalXGBoost``: xgboost ``XGBClassifier`` (hist trees) with balanced sample
  weights (each class weighs as much as every other), the same hierarchy.

Missing features: the feature library returns NaN when a feature is undefined (too few
points in a band, no non-detection, no WISE match). ``inf`` is treated as missing too.
The forest fills missing values with ``-999`` as ALeRCE does (below every real value,
so a tree can isolate "missing" with one split); xgboost keeps NaN and learns, at each
split, the branch missing values take (no sentinel). Columns of the feature list that
are absent from the input are missing for every row; extra columns are ignored.

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> leaves = ["CEP", "RRL", "AGN", "QSO", "SNIa", "SNII"]
>>> y = np.repeat(leaves, 30)
>>> X = pd.DataFrame({"a": rng.normal(np.repeat(np.arange(6), 30), 0.3), "b": rng.normal(size=180)})
>>> m = HierarchicalRandomForest(n_estimators=10, random_state=0).fit(X, y)
>>> m.top_classes_
['Periodic', 'Stochastic', 'Transient']
>>> p = m.predict_proba(X.head(3))
>>> np.allclose(p.sum(axis=1), 1.0), p.shape
(True, (3, 6))
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

MODEL_VERSION = "1.0.0"
FILL_VALUE = -999.0

# ALeRCE's taxonomy (brief §4): top class -> leaves
TAXONOMY = {
    "Periodic": ["CEP", "DSCT", "E", "LPV", "Periodic-Other", "RRL"],
    "Stochastic": ["AGN", "Blazar", "CV/Nova", "QSO", "YSO"],
    "Transient": ["SLSN", "SNII", "SNIa", "SNIbc"],
}
TOP_OF = {leaf: top for top, leaves in TAXONOMY.items() for leaf in leaves}

# Columns of the feature table that are never model inputs: status columns and
# absolute times (an MJD says when, not what; a model would learn the survey's calendar).
NON_FEATURES = {"oid", "objectId", "feature_version", "n_det_used", "reason", "night",
                "last_mjd_before_fid_1", "last_mjd_before_fid_2", "classALeRCE"}


def default_feature_list(columns) -> list[str]:
    """Model inputs among ``columns``: every numeric feature except NON_FEATURES."""
    return [c for c in columns if c not in NON_FEATURES]


def data_hash(X: pd.DataFrame, y) -> str:
    """sha256 of the training matrix (columns, values) and labels: identifies the
    training data in the model card."""
    h = hashlib.sha256()
    h.update(json.dumps(list(map(str, X.columns))).encode())
    h.update(np.ascontiguousarray(X.to_numpy(dtype=np.float64)).tobytes())
    h.update("\n".join(map(str, y)).encode())
    return h.hexdigest()


class HierarchyPredictor:
    """The prediction side of the hierarchy, shared by the trained estimators and the
    models loaded from their safe artifacts (``artifact.PackedHierarchy``). Needs
    ``feature_names_in_``, ``top_classes_``, ``leaf_classes_``, ``classes_``,
    ``_prepare(M)`` and ``_node_probas(M)``."""

    def _matrix(self, X) -> np.ndarray:
        """Feature matrix in the model's column order, float32, missing handled."""
        if isinstance(X, pd.DataFrame):
            cols = self.feature_names_in_
            present = [c for c in cols if c in X.columns]
            if len(present) == len(cols):
                M = X[cols].to_numpy(dtype=np.float32, na_value=np.nan)
            else:
                M = np.full((len(X), len(cols)), np.nan, np.float32)
                idx = [cols.index(c) for c in present]
                M[:, idx] = X[present].to_numpy(dtype=np.float32, na_value=np.nan)
        else:
            M = np.asarray(X, dtype=np.float32)
            if M.ndim != 2 or M.shape[1] != len(self.feature_names_in_):
                raise ValueError(f"expected {len(self.feature_names_in_)} feature columns")
        M = np.array(M, dtype=np.float32, copy=True)
        M[~np.isfinite(M)] = np.nan
        return self._prepare(M)

    def predict_proba_hierarchical(self, X) -> tuple[np.ndarray, np.ndarray]:
        """(top probabilities (n, n_top) in ``top_classes_`` order, leaf probabilities
        (n, n_leaf) in ``classes_`` order), with P(leaf) = P(top) x P(leaf | top)."""
        M = self._matrix(X)
        p_top, conds = self._node_probas(M)
        parts = [p_top[:, [j]] * conds[t] for j, t in enumerate(self.top_classes_)]
        p_leaf = np.hstack(parts) if parts else np.zeros((len(M), 0))
        return p_top, p_leaf

    def predict_proba(self, X) -> np.ndarray:
        """Leaf probabilities (n, n_leaf), columns in ``classes_`` order."""
        return self.predict_proba_hierarchical(X)[1]

    def predict_top_proba(self, X) -> np.ndarray:
        return self.predict_proba_hierarchical(X)[0]

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def predict_top(self, X) -> np.ndarray:
        return np.array(self.top_classes_)[np.argmax(self.predict_top_proba(X), axis=1)]


class _Hierarchical(HierarchyPredictor, BaseEstimator, ClassifierMixin):
    """Shared logic of the trained estimators: fitting, sub-models, persistence."""

    name = "lc_classifier"
    backend = "?"

    def __init__(self, n_estimators: int = 500, max_depth=None, n_jobs: int = 1,
                 random_state: int = 0, features: list[str] | None = None):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.features = features

    # --- backend hooks -------------------------------------------------------------
    def _new_model(self, n_classes: int):  # pragma: no cover - abstract
        raise NotImplementedError

    def _fit_one(self, X: np.ndarray, y: np.ndarray, classes: list[str]):
        raise NotImplementedError  # pragma: no cover

    def _proba_one(self, model, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover

    def fit(self, X, y):
        """Fit the top model and one model per top class. ``X``: DataFrame of features
        (or array with ``features`` set); ``y``: leaf labels (ALeRCE class names)."""
        y = np.asarray(y).astype(str)
        unknown = sorted(set(y) - set(TOP_OF))
        if unknown:
            raise ValueError(f"labels outside the taxonomy: {unknown}")
        if isinstance(X, pd.DataFrame):
            names = list(self.features) if self.features is not None else default_feature_list(X.columns)
            X = X.reindex(columns=names)
        else:
            if self.features is None:
                raise ValueError("pass a DataFrame or set features=[...] for array input")
            names = list(self.features)
            X = pd.DataFrame(np.asarray(X, dtype=float), columns=names)
        self.feature_names_in_ = names
        self.n_features_in_ = len(names)
        self.training_data_hash_ = data_hash(X, y)
        self.version = f"{MODEL_VERSION}+{self.backend}.{self.training_data_hash_[:8]}"
        M = self._matrix(X)
        top = np.array([TOP_OF[c] for c in y])
        self.top_classes_ = [t for t in TAXONOMY if t in set(top)]
        self.leaf_classes_ = {t: [c for c in TAXONOMY[t] if c in set(y)] for t in self.top_classes_}
        self.classes_ = np.array([c for t in self.top_classes_ for c in self.leaf_classes_[t]])
        self.top_model_ = self._fit_one(M, top, self.top_classes_)
        self.leaf_models_ = {}
        for t in self.top_classes_:
            sel = top == t
            self.leaf_models_[t] = self._fit_one(M[sel], y[sel], self.leaf_classes_[t])
        self.n_train_ = len(y)
        return self

    def _proba(self, model, M, n_classes):
        if isinstance(model, tuple):  # a top class with a single leaf
            return np.ones((len(M), 1))
        return self._proba_one(model, M)

    def _node_probas(self, M):
        """(top probabilities, {top class: P(leaf | top)}) of a prepared matrix."""
        p_top = self._proba(self.top_model_, M, len(self.top_classes_))
        return p_top, {t: self._proba(self.leaf_models_[t], M, len(self.leaf_classes_[t]))
                       for t in self.top_classes_}

    def set_n_jobs(self, n_jobs: int):
        """Threads used by predict (and later fits) in every sub-model; inference in a
        Spark worker uses 1 (one worker process per core)."""
        self.n_jobs = n_jobs
        for model in [getattr(self, "top_model_", None), *getattr(self, "leaf_models_", {}).values()]:
            if model is None or isinstance(model, tuple):
                continue
            model.set_params(n_jobs=n_jobs)
            if hasattr(model, "get_booster"):
                model.get_booster().set_param({"nthread": n_jobs})
        return self

    # --- persistence ---------------------------------------------------------------
    def save(self, folder) -> Path:
        """Write the safe artifacts (``model.json`` + ``forest.npz`` or one xgboost JSON
        per node, and ``artifacts.json`` with their sha256) into ``folder``; see
        ``artifact.py``. Load them with ``science.lc_classifier.load(folder)``."""
        from .artifact import save_model

        return save_model(self, folder)


class HierarchicalRandomForest(_Hierarchical):
    """ALeRCE's hierarchical balanced random forest (imbalanced-learn), NaN -> -999."""

    name = "lc_classifier"
    backend = "brf"
    use_compiled = True   # False: scikit-learn's own predict_proba, tree by tree

    def __init__(self, n_estimators: int = 500, max_depth=None, n_jobs: int = 1,
                 random_state: int = 0, features: list[str] | None = None,
                 criterion: str = "entropy", max_features="sqrt"):
        super().__init__(n_estimators, max_depth, n_jobs, random_state, features)
        self.criterion = criterion
        self.max_features = max_features

    def _prepare(self, M):
        M[np.isnan(M)] = FILL_VALUE
        return M

    def _fit_one(self, M, y, classes):
        if len(classes) == 1:
            return ("constant", classes[0])
        from imblearn.ensemble import BalancedRandomForestClassifier

        model = BalancedRandomForestClassifier(
            n_estimators=self.n_estimators, criterion=self.criterion, max_depth=self.max_depth,
            max_features=self.max_features, sampling_strategy="all", replacement=True,
            bootstrap=False, n_jobs=self.n_jobs, random_state=self.random_state)
        model.fit(M, y)
        # column order of predict_proba == classes (sorted by sklearn): reorder to ours
        model.order_ = [list(model.classes_).index(c) for c in classes]
        self.__dict__.pop("_packed", None)
        return model

    def _proba_one(self, model, M):
        return model.predict_proba(M)[:, model.order_]

    def _node_probas(self, M):
        # all trees of the four forests in one compiled pass (bit-identical to sklearn's)
        if not self.use_compiled:
            return super()._node_probas(M)
        nodes, forests = self.packed()
        probas = {id(m): p[:, m.order_] for m, p in zip(nodes, forests.predict_proba(M))}

        def get(model):
            return np.ones((len(M), 1)) if isinstance(model, tuple) else probas[id(model)]
        return get(self.top_model_), {t: get(self.leaf_models_[t]) for t in self.top_classes_}

    def packed(self):
        """(the forests of the hierarchy, in the order top then leaves of each top class,
        their ``PackedForests``), built once."""
        packed = self.__dict__.get("_packed")
        if packed is None:
            from .fastforest import PackedForests

            nodes = [m for m in (self.top_model_, *self.leaf_models_.values()) if not isinstance(m, tuple)]
            packed = self._packed = (nodes, PackedForests(nodes))
        return packed

    def __getstate__(self):
        state = dict(super().__getstate__())   # a copy: never drop it from the live model
        state.pop("_packed", None)   # rebuilt on first use after loading
        return state


class HierarchicalXGBoost(_Hierarchical):
    """The same hierarchy with xgboost gradient-boosted trees and balanced class weights;
    missing values stay NaN (xgboost learns their branch)."""

    name = "lc_classifier_xgb"
    backend = "xgb"

    def __init__(self, n_estimators: int = 300, max_depth=6, n_jobs: int = 1,
                 random_state: int = 0, features: list[str] | None = None,
                 learning_rate: float = 0.1, subsample: float = 0.8,
                 colsample_bytree: float = 0.5):
        super().__init__(n_estimators, max_depth, n_jobs, random_state, features)
        self.learning_rate = learning_rate
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree

    def _prepare(self, M):
        return M

    def _fit_one(self, M, y, classes):
        if len(classes) == 1:
            return ("constant", classes[0])
        from xgboost import XGBClassifier

        codes = np.array([classes.index(c) for c in y])
        counts = np.bincount(codes, minlength=len(classes)).astype(float)
        weight = (len(codes) / (len(classes) * counts))[codes]
        model = XGBClassifier(
            n_estimators=self.n_estimators, max_depth=self.max_depth or 0,
            learning_rate=self.learning_rate, subsample=self.subsample,
            colsample_bytree=self.colsample_bytree, tree_method="hist", n_jobs=self.n_jobs,
            random_state=self.random_state, objective="multi:softprob" if len(classes) > 2 else "binary:logistic",
            eval_metric="mlogloss" if len(classes) > 2 else "logloss")
        model.fit(M, codes, sample_weight=weight)
        return model

    def _proba_one(self, model, M):
        booster = model.get_booster()
        p = booster.inplace_predict(M)
        p = np.asarray(p, dtype=np.float64)
        if p.ndim == 1:  # binary
            p = np.column_stack([1.0 - p, p])
        return p


BACKENDS = {"brf": HierarchicalRandomForest, "xgb": HierarchicalXGBoost}
