"""Column expressions shared by the silver transforms (ZTF conventions of brief §3)."""
from __future__ import annotations

from pyspark.sql import Column, functions as F

JD_TO_MJD = 2400000.5
MJD_UNIX_EPOCH = 40587.0  # MJD of 1970-01-01


def mjd(jd: str = "jd") -> Column:
    """``mjd = jd - 2400000.5``."""
    return F.col(jd) - F.lit(JD_TO_MJD)


def night(mjd_column: Column) -> Column:
    """Observing night as YYYYMMDD (int): the UTC date of the observation."""
    seconds = ((mjd_column - F.lit(MJD_UNIX_EPOCH)) * F.lit(86400.0)).cast("long")
    return F.date_format(F.timestamp_seconds(seconds), "yyyyMMdd").cast("int")


def isdiffpos_sign(column: str = "isdiffpos") -> Column:
    """ZTF's isdiffpos ('t'/'1' positive, 'f'/'0' negative) as +1 / -1, as ALeRCE stores it."""
    text = F.lower(F.trim(F.col(column).cast("string")))
    return F.when(text.isin("t", "1", "true"), F.lit(1)).otherwise(F.lit(-1)).cast("int")


def present(frame, names) -> list[str]:
    """The names among ``names`` that ``frame`` has (older schemas lack some fields)."""
    have = set(frame.columns)
    return [n for n in names if n in have]
