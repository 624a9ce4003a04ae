"""The stamp classifier's batch function (the body of its classification UDF): alert
rows with cutouts -> ``stamp_classifier`` probability rows (AGN, SN, VS, asteroid, bogus),
with the ZTF survey's rules (``lake.surveys.ztf.rules``) on top.

Input: one row per alert with ``oid`` (or ``objectId``), the three cutouts
(``cutoutScience``, ``cutoutTemplate``, ``cutoutDifference``: gzipped FITS bytes, or
already decoded arrays) and the candidate's metadata columns (``model.METADATA``; missing
ones count as missing values). One set of rows per input row: the stage passes each
object's first alert.
"""
from __future__ import annotations

import pandas as pd

from ..artifacts import ModelRef, read_verified
from ..cache import as_ref, batches_udf, load_cached
from ..probability import empty_rows, long_rows
from lake import surveys

ARTIFACT = "model.pt"
SURVEY = "ztf"   # the network and its metadata are ZTF's: so are the rules on top


def load_model(ref: ModelRef):
    """The registry's loader: every file of the version folder checked against its
    recorded sha256, then the network loaded (``StampClassifier.load``)."""
    from .model import StampClassifier

    read_verified(ref)
    return StampClassifier.load(ref.path / ARTIFACT)


def probabilities(alerts_pdf: pd.DataFrame, model, rules: bool = True,
                  oid_column: str | None = None) -> pd.DataFrame:
    """Probability rows of a batch of alerts."""
    if len(alerts_pdf) == 0:
        return empty_rows()
    col = oid_column or ("oid" if "oid" in alerts_pdf.columns else "objectId")
    probs = model.predict_proba_alerts(alerts_pdf)
    if rules:
        probs = surveys.get(SURVEY).apply_stamp_rules(alerts_pdf, probs, model.classes_)
    return long_rows(alerts_pdf[col].to_numpy(), probs, model.classes_, model.name, model.version)


def stamp_probabilities(alerts_pdf: pd.DataFrame, model_dir=None, rules: bool = True,
                        model=None, oid_column: str | None = None) -> pd.DataFrame:
    """``probabilities`` with the model of ``model_dir`` (a resolved ``ModelRef``, a
    version folder or a models folder with a ``current`` pointer), loaded once per process."""
    if model is None:
        model = load_cached(as_ref(model_dir, "models.stamp_dir"), load_model)
    return probabilities(alerts_pdf, model, rules, oid_column)


def stamp_udf(model_dir, rules: bool = True):
    """A mapInPandas function: iterator of alert batches -> probability rows."""
    return batches_udf(as_ref(model_dir, "models.stamp_dir"), load_model,
                       lambda pdf, model: probabilities(pdf, model, rules))


__all__ = ["probabilities", "stamp_probabilities", "stamp_udf", "load_model"]
