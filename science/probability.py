"""Probability rows: the layout every classifier's batch function returns and the lake's
``probability`` table holds.

``oid, classifier_name, classifier_version, class_name, probability, ranking``: one row per
object, classifier_name and class; the probabilities of one (oid, classifier_name) sum to 1
and ranking 1 is the most probable class.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

PROBABILITY_COLUMNS = ["oid", "classifier_name", "classifier_version", "class_name",
                       "probability", "ranking"]
PROBABILITY_SCHEMA = ("oid string, classifier_name string, classifier_version string, "
                      "class_name string, probability double, ranking int")


def long_rows(oids, probs: np.ndarray, classes, name: str, version: str) -> pd.DataFrame:
    """Probability rows from an (n, k) matrix (rows renormalized to sum to 1; a row of
    zeros becomes uniform), ranked within each object (ties: the first class wins).

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


def empty_rows() -> pd.DataFrame:
    """No probability rows, with the columns and dtypes of real ones."""
    dtypes = {"probability": "float64", "ranking": "int32"}
    return pd.DataFrame({c: pd.Series(dtype=dtypes.get(c, object)) for c in PROBABILITY_COLUMNS})


__all__ = ["PROBABILITY_COLUMNS", "PROBABILITY_SCHEMA", "long_rows", "empty_rows"]
