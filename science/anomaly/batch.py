"""The anomaly model's batch function (the body of its UDF in the classify stage): rows of
the ``feature`` table -> one score row per object and top class; and the night's ranking
the stage applies to all of them (``rank_in_night``)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..artifacts import ModelRef

SCORE_SCHEMA = "oid string, model string, version string, top_class string, score double"


def load_model(ref: ModelRef):
    from .model import load

    return load(ref)


def scores(features_pdf: pd.DataFrame, model) -> pd.DataFrame:
    pdf = features_pdf if "oid" in features_pdf.columns else features_pdf.reset_index()
    if "reason" in pdf.columns:
        pdf = pdf[pdf["reason"].isna()]
    if not len(pdf):
        return pd.DataFrame({c: pd.Series(dtype="float64" if c == "score" else "object")
                             for c in ("oid", "model", "version", "top_class", "score")})
    by_class = model.scores(pdf)
    oids = pdf["oid"].to_numpy(dtype=object)
    return pd.DataFrame({
        "oid": np.tile(oids, len(by_class)),
        "model": model.name, "version": model.version,
        "top_class": np.repeat(np.asarray(list(by_class), dtype=object), len(oids)),
        "score": np.concatenate(list(by_class.values())),
    })


def rank_in_night(frame, night: int | None, survey: str):
    """The stage's finishing step: survey, night and the rank of each score among the
    run's objects (1 = most anomalous, per model, version and top class; ties by oid)."""
    from pyspark.sql import Window, functions as F

    order = Window.partitionBy("model", "version", "top_class").orderBy(F.col("score").desc(),
                                                                          "oid")
    return frame.select(
        "oid", F.lit(survey).alias("survey"), "model", "version", "top_class", "score",
        F.row_number().over(order).cast("int").alias("rank"),
        F.lit(night).cast("int").alias("night"))
