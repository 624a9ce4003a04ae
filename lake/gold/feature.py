"""``feature``: ALeRCE light-curve features per object (``science.features``), computed on
batches of whole objects with pandas. ``lake.stages.process`` runs the batches in
parallel processes; this module only says what goes in and what comes out. What the
preprocessing keeps (bands, quality cut, magnitude columns) is the survey's
``feature_rules``."""
from __future__ import annotations

import pandas as pd
from pyspark.sql import DataFrame

from lake import surveys
from science.features import extract_features

DETECTION_INPUT = ("oid", "candid", "mjd", "fid", "magpsf", "sigmapsf", "magpsf_corr",
                   "sigmapsf_corr", "sigmapsf_corr_ext", "corrected", "isdiffpos", "ra",
                   "dec")
NON_DETECTION_INPUT = ("oid", "fid", "mjd", "diffmaglim")
OBJECT_INPUT = ("oid", "meanra", "meandec")


def detection_input(detection: DataFrame, context: DataFrame, survey=None) -> DataFrame:
    """Detections with the columns the extractor reads: the light curve, the survey's
    quality column (ZTF: rb) and its per-object context columns (ZTF: sgscore1)."""
    rules = surveys.get(survey).feature_rules
    wanted = DETECTION_INPUT + rules.detection_columns
    have = [c for c in wanted if c in detection.columns]
    return detection.select(*have).join(context.select("oid", *rules.context_columns),
                                        "oid", "left")


def compute(detections: pd.DataFrame, non_detections: pd.DataFrame | None,
            objects: pd.DataFrame | None) -> pd.DataFrame:
    """One row per object of ``detections``: every feature, feature_version, reason."""
    features = extract_features(detections, non_detections, objects)
    return features.reset_index() if "oid" not in features.columns else features
