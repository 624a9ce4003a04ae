"""Detections from alerts and their histories: the survey-agnostic part.

An alert carries its own detection (the triggering source, with stamps) and earlier
detections of the same object (its history). The same detection appears in many
alerts; ``lake.tables`` says which copy wins: its own alert first (``has_stamp``), then
the earliest alert whose history holds it (``parent_candid``). A survey's
``silver_tables`` (e.g. ``lake.surveys.ztf.silver``) selects the columns and calls
:func:`detections`.
"""
from __future__ import annotations

from pyspark.sql import DataFrame, functions as F

from lake.silver.columns import night


def detections(own: DataFrame, previous: DataFrame | None) -> DataFrame:
    """One row per detection occurrence (not yet deduplicated).

    ``own``: the alerts' own detections (``oid`` and the detection fields); they get
    ``has_stamp`` true and a null ``parent_candid``. ``previous``: detections from the
    alerts' histories with the ``parent_candid`` of the alert that carried them; they
    get ``has_stamp`` false. Columns follow ``own``, then what only ``previous`` has.
    """
    own = own.select(*[F.col(c) for c in own.columns], F.lit(True).alias("has_stamp"),
                     F.lit(None).cast("long").alias("parent_candid"))
    if previous is None:
        return own
    fields = [c for c in previous.columns if c != "parent_candid"]
    previous = previous.select(*[F.col(c) for c in fields], F.lit(False).alias("has_stamp"),
                               F.col("parent_candid"))
    return own.unionByName(previous, allowMissingColumns=True)


def with_night(frame: DataFrame) -> DataFrame:
    """``night`` (YYYYMMDD of the observation, the partition) from ``mjd``."""
    return frame.withColumn("night", night(F.col("mjd")))
