"""Detections, non-detections and forced photometry from alerts and their histories.

A ZTF alert carries its own detection (the candidate, with stamps) and up to 30 days
of earlier entries of the same object (``prv_candidates``): an entry with a candid is a
detection, one without is an upper limit (non-detection). The same detection appears
in many alerts; ``lake.tables`` says which copy wins (its own alert first).
"""
from __future__ import annotations

from pyspark.sql import DataFrame, functions as F

from lake.silver.columns import isdiffpos_sign, mjd, night, present

HISTORY_META = ("objectId", "parent_candid")
# Fields of the candidate that history entries lack but a detection should keep.
CANDIDATE_ONLY = ("drb", "drbversion")
NON_DETECTION_COLUMNS = ("oid", "fid", "mjd", "diffmaglim", "pid", "jd", "parent_candid",
                         "night")


def _finish(frame: DataFrame) -> DataFrame:
    frame = frame.withColumn("mjd", mjd()).withColumn("night", night(F.col("mjd")))
    if "isdiffpos" in frame.columns:
        frame = frame.withColumn("isdiffpos", isdiffpos_sign())
    return frame


def detections(staged_alert: DataFrame, staged_history: DataFrame | None) -> DataFrame:
    """One row per detection occurrence (not yet deduplicated): the alerts' own
    candidates (``has_stamp`` true) and the detections in their histories."""
    history_fields = ([c for c in staged_history.columns if c not in HISTORY_META]
                      if staged_history is not None else [])
    fields = history_fields or [c for c in staged_alert.columns if c in _DEFAULT_FIELDS]
    own = staged_alert.select(
        F.col("objectId").alias("oid"),
        *[F.col(c) for c in present(staged_alert, fields + list(CANDIDATE_ONLY))],
        F.lit(True).alias("has_stamp"),
        F.lit(None).cast("long").alias("parent_candid"),
    )
    if staged_history is None:
        return _finish(own)
    previous = staged_history.filter(F.col("candid").isNotNull()).select(
        F.col("objectId").alias("oid"), *[F.col(c) for c in history_fields],
        F.lit(False).alias("has_stamp"), F.col("parent_candid"),
    )
    return _finish(own.unionByName(previous, allowMissingColumns=True))


def non_detections(staged_history: DataFrame) -> DataFrame:
    """Upper limits: history entries without a candid."""
    limits = _finish(staged_history.filter(F.col("candid").isNull())
                     .withColumnRenamed("objectId", "oid"))
    return limits.select(*present(limits, NON_DETECTION_COLUMNS))


def forced_photometry(staged_fp: DataFrame) -> DataFrame:
    """Forced photometry history (ZTF 4.x ``fp_hists``) with mjd and night."""
    return _finish(staged_fp.withColumnRenamed("objectId", "oid"))


# Detection fields when no alert in the batch has a history to take names from.
_DEFAULT_FIELDS = {
    "jd", "fid", "pid", "diffmaglim", "pdiffimfilename", "programpi", "programid",
    "candid", "isdiffpos", "tblid", "nid", "rcid", "field", "xpos", "ypos", "ra", "dec",
    "magpsf", "sigmapsf", "chipsf", "magap", "sigmagap", "distnr", "magnr", "sigmagnr",
    "chinr", "sharpnr", "sky", "magdiff", "fwhm", "classtar", "mindtoedge", "magfromlim",
    "seeratio", "aimage", "bimage", "aimagerat", "bimagerat", "elong", "nneg", "nbad", "rb",
    "ssdistnr", "ssmagnr", "ssnamenr", "sumrat", "magapbig", "sigmagapbig", "ranr", "decnr",
    "scorr", "magzpsci", "magzpsciunc", "magzpscirms", "clrcoeff", "clrcounc", "rbversion",
}
