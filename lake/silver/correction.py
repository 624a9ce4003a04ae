"""Detection corrections: the columns every survey's correction strategy writes, and
the entry point the processing stage calls.

A strategy (``Survey.correct``, e.g. ``lake.surveys.ztf.correction``) is a
``DataFrame -> DataFrame`` function of detections holding every detection of each
object; it adds ``CORRECTION_COLUMNS``: the apparent magnitude and its errors where the
survey can recover it, ``corrected``, and ``dubious``. A survey without a correction
writes ``corrected`` false and null corrected magnitudes.
"""
from __future__ import annotations

from pyspark.sql import DataFrame

UNDEFINED = 100.0      # ALeRCE's value for an undefined corrected magnitude or error
CORRECTION_COLUMNS = ("magpsf_corr", "sigmapsf_corr", "sigmapsf_corr_ext", "corrected",
                      "dubious")


def correct(detection: DataFrame, survey=None) -> DataFrame:
    """Add ``CORRECTION_COLUMNS`` by the survey's strategy (default: the default survey)."""
    from lake import surveys

    return (survey or surveys.get()).correct(detection)
