"""Column expressions shared by the silver transforms of every survey."""
from __future__ import annotations

from pyspark.sql import Column, functions as F

MJD_UNIX_EPOCH = 40587.0  # MJD of 1970-01-01


def night(mjd_column: Column) -> Column:
    """Observing night as YYYYMMDD (int): the UTC date of the observation."""
    seconds = ((mjd_column - F.lit(MJD_UNIX_EPOCH)) * F.lit(86400.0)).cast("long")
    return F.date_format(F.timestamp_seconds(seconds), "yyyyMMdd").cast("int")


def present(frame, names) -> list[str]:
    """The names among ``names`` that ``frame`` has (older schemas lack some fields)."""
    have = set(frame.columns)
    return [n for n in names if n in have]
