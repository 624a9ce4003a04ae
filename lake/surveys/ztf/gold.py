"""ZTF's per-object inputs of the gold tables: the first alert's Pan-STARRS1
cross-match, ALeRCE's star-likeness rule, and the history counts ZTF puts in every
alert (brief §3, §4)."""
from __future__ import annotations

from typing import Callable, Mapping

from pyspark.sql import Column, DataFrame, functions as F

from lake.surveys.ztf.night import JD_TO_MJD

NEAR_PIXELS = 1.4          # distnr: a reference source under the detection
NEAR_PS1_ARCSEC = 1.4      # distpsnr1: a PS1 source at the detection
STAR_SGSCORE = 0.4


def stellar_rule(distnr: Column, distpsnr1: Column, sgscore1: Column, chinr: Column,
                 sharpnr: Column) -> Column:
    """ALeRCE's star-likeness from a detection and its PS1 cross-match."""
    near_ztf = (distnr >= 0) & (distnr < NEAR_PIXELS)
    near_ps1 = (distpsnr1 >= 0) & (distpsnr1 < NEAR_PS1_ARCSEC)
    return F.coalesce(
        (near_ztf & near_ps1 & (sgscore1 > STAR_SGSCORE))
        | (near_ztf & ~near_ps1 & (chinr < 2) & (sharpnr > -0.13) & (sharpnr < 0.1)),
        F.lit(False))


def stellar(columns: Mapping[str, Column]) -> Column:
    """The rule on the first detection's distnr, chinr, sharpnr and the context's
    distpsnr1, sgscore1 (``ZTF.stellar_detection_columns``, ``object_context``)."""
    return stellar_rule(columns["distnr"], columns["distpsnr1"], columns["sgscore1"],
                        columns["chinr"], columns["sharpnr"])


def first_ps1(ps1_ztf: DataFrame, alert: DataFrame) -> DataFrame:
    """PS1 cross-match of each object's earliest alert (oid, distpsnr1, sgscore1)."""
    first = (alert.groupBy(F.col("objectId").alias("oid"))
             .agg(F.min_by("candid", F.struct("jd", "candid")).alias("candid")))
    return first.join(ps1_ztf.select("oid", "candid", "distpsnr1", "sgscore1"),
                      ["oid", "candid"], "left").drop("candid")


def object_context(read: Callable[[str], DataFrame], alert: DataFrame) -> DataFrame:
    return first_ps1(read("ps1_ztf"), alert)


def object_history(alert: DataFrame) -> DataFrame:
    """ndethist, ncovhist and the history span of each object's latest alert."""
    latest = F.struct("jd", "candid")  # candid breaks ties between alerts of one exposure
    return alert.groupBy(F.col("objectId").alias("oid")).agg(
        F.max_by("ndethist", latest).cast("int").alias("ndethist"),
        F.max_by("ncovhist", latest).cast("int").alias("ncovhist"),
        (F.max_by("jdstarthist", latest) - JD_TO_MJD).alias("mjdstarthist"),
        (F.max_by("jdendhist", latest) - JD_TO_MJD).alias("mjdendhist"))
