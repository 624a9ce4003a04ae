"""``feature``: ALeRCE light-curve features per object (``science.features``), computed on
batches of whole objects with pandas. ``lake.stages.process`` runs the batches in
parallel processes; this module only says what goes in and what comes out."""
from __future__ import annotations

import pandas as pd
from pyspark.sql import DataFrame

from science.features import extract_features

DETECTION_INPUT = ("oid", "candid", "mjd", "fid", "magpsf", "sigmapsf", "magpsf_corr",
                   "sigmapsf_corr", "sigmapsf_corr_ext", "corrected", "isdiffpos", "rb", "ra",
                   "dec")
NON_DETECTION_INPUT = ("oid", "fid", "mjd", "diffmaglim")
OBJECT_INPUT = ("oid", "meanra", "meandec")


def detection_input(detection: DataFrame, ps1: DataFrame) -> DataFrame:
    """Detections with the columns the extractor reads (sgscore1 from PS1)."""
    have = [c for c in DETECTION_INPUT if c in detection.columns]
    return detection.select(*have).join(ps1.select("oid", "sgscore1"), "oid", "left")


def compute(detections: pd.DataFrame, non_detections: pd.DataFrame | None,
            objects: pd.DataFrame | None) -> pd.DataFrame:
    """One row per object of ``detections``: every feature, feature_version, reason."""
    features = extract_features(detections, non_detections, objects)
    return features.reset_index() if "oid" not in features.columns else features
