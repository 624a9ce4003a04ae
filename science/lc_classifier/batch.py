"""The light-curve classifier's batch function (the body of its classification UDF):
rows of the ``feature`` table (one per oid) -> probability rows.

Each featurized object gets ``<name>_top`` rows (Periodic, Stochastic, Transient) and
``<name>`` rows (the 15 leaves, P(top) x P(leaf | top)); objects whose features were not
computed (``reason`` set) get none. ``<name>`` is the model's classifier_name
(``lc_classifier``, or ``lc_classifier_xgb`` for the xgboost variant).
"""
from __future__ import annotations

import pandas as pd

from ..artifacts import ModelRef
from ..cache import as_ref, batches_udf, load_cached
from ..probability import empty_rows, long_rows

LEVELS = ("top", "leaf")


def load_model(ref: ModelRef):
    """The registry's loader: safe artifacts, checksums verified, one inference thread
    (one worker process per core)."""
    from .artifact import load

    return load(ref).set_n_jobs(1)


def probabilities(features_pdf: pd.DataFrame, model, levels=LEVELS) -> pd.DataFrame:
    """Probability rows of a batch of feature rows (``oid`` a column or the index)."""
    pdf = features_pdf
    if "oid" not in pdf.columns:
        pdf = pdf.reset_index()
    if "reason" in pdf.columns:
        featurized = pdf["reason"].isna().to_numpy()
        if not featurized.all():   # the stage filters already: skip a copy of the batch
            pdf = pdf[featurized]
    if len(pdf) == 0:
        return empty_rows()
    oids = pdf["oid"].to_numpy()
    p_top, p_leaf = model.predict_proba_hierarchical(pdf)
    parts = []
    if "top" in levels:
        parts.append(long_rows(oids, p_top, model.top_classes_, f"{model.name}_top", model.version))
    if "leaf" in levels:
        parts.append(long_rows(oids, p_leaf, model.classes_, model.name, model.version))
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def lc_probabilities(features_pdf: pd.DataFrame, model_dir=None, levels=LEVELS,
                     model=None) -> pd.DataFrame:
    """``probabilities`` with the model of ``model_dir`` (a resolved ``ModelRef``, a
    version folder or a models folder with a ``current`` pointer), loaded once per process."""
    if model is None:
        model = load_cached(as_ref(model_dir, "models.lc_dir"), load_model)
    return probabilities(features_pdf, model, levels)


def lc_udf(model_dir, levels=LEVELS):
    """A mapInPandas function: iterator of feature batches -> probability rows. The model
    is resolved here (on the driver) and loaded once per worker process."""
    return batches_udf(as_ref(model_dir, "models.lc_dir"), load_model,
                       lambda pdf, model: probabilities(pdf, model, levels))


__all__ = ["probabilities", "lc_probabilities", "lc_udf", "load_model", "LEVELS"]
