"""``magstat``: one row per (oid, fid), ALeRCE's magnitude statistics (brief §4).

Input detections must carry the correction columns (``lake.silver.correction``) and
hold every detection of each object. Statistics without suffix use the difference
magnitude ``magpsf``; the ``_corr`` ones use ``magpsf_corr`` of corrected detections
whose corrected magnitude is defined (< 100).
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window, functions as F

SATURATION_MAG = 13.2     # corrected magnitudes brighter than this are likely saturated
DMDT_MIN_GAP = 0.5        # days between a non-detection and the first detection


def _stats(value: Column, order: Column, suffix: str) -> list[Column]:
    return [
        F.avg(value).alias(f"magmean{suffix}"), F.median(value).alias(f"magmedian{suffix}"),
        F.max(value).alias(f"magmax{suffix}"), F.min(value).alias(f"magmin{suffix}"),
        F.stddev_pop(value).alias(f"magsigma{suffix}"),
        F.max_by(value, F.when(value.isNotNull(), order)).alias(f"maglast{suffix}"),
        F.min_by(value, F.when(value.isNotNull(), order)).alias(f"magfirst{suffix}"),
    ]


def stellar(distnr: Column, distpsnr1: Column, sgscore1: Column, chinr: Column,
            sharpnr: Column) -> Column:
    """ALeRCE's star-likeness from a detection and its PS1 cross-match."""
    near_ztf = (distnr >= 0) & (distnr < 1.4)
    near_ps1 = (distpsnr1 >= 0) & (distpsnr1 < 1.4)
    return F.coalesce(
        (near_ztf & near_ps1 & (sgscore1 > 0.4))
        | (near_ztf & ~near_ps1 & (chinr < 2) & (sharpnr > -0.13) & (sharpnr < 0.1)),
        F.lit(False))


def first_ps1(ps1_ztf: DataFrame, alert: DataFrame) -> DataFrame:
    """PS1 cross-match of each object's earliest alert (oid, distpsnr1, sgscore1)."""
    first = (alert.groupBy(F.col("objectId").alias("oid"))
             .agg(F.min_by("candid", F.struct("jd", "candid")).alias("candid")))
    return first.join(ps1_ztf.select("oid", "candid", "distpsnr1", "sgscore1"),
                      ["oid", "candid"], "left").drop("candid")


def magstat(detection: DataFrame, non_detection: DataFrame | None, ps1: DataFrame) -> DataFrame:
    valid_corr = F.col("corrected") & (F.col("magpsf_corr") < 100)
    corrected_mag = F.when(valid_corr, F.col("magpsf_corr"))
    first = F.struct("mjd", "candid")  # candid breaks ties at equal mjd
    stats = detection.groupBy("oid", "fid").agg(
        F.count("*").cast("int").alias("ndet"),
        F.sum(F.col("dubious").cast("int")).cast("int").alias("ndubious"),
        F.min_by("corrected", first).alias("corrected"),
        *_stats(F.col("magpsf"), first, ""),
        *_stats(corrected_mag, first, "_corr"),
        F.min("mjd").alias("firstmjd"), F.max("mjd").alias("lastmjd"),
        F.when(F.count_if(valid_corr) > 0,
               F.count_if(valid_corr & (F.col("magpsf_corr") < SATURATION_MAG))
               / F.count_if(valid_corr)).alias("saturation_rate"),
        F.min_by("sigmapsf", first).alias("_sigma_first"),
        F.min_by("distnr", first).alias("_distnr"), F.min_by("chinr", first).alias("_chinr"),
        F.min_by("sharpnr", first).alias("_sharpnr"),
    )
    stats = stats.join(ps1, "oid", "left").withColumn("stellar", stellar(
        F.col("_distnr"), F.col("distpsnr1"), F.col("sgscore1"), F.col("_chinr"),
        F.col("_sharpnr"))).drop("distpsnr1", "sgscore1", "_distnr", "_chinr", "_sharpnr")
    stats = _with_dmdt(stats, non_detection)
    return stats.drop("_sigma_first")


def _with_dmdt(stats: DataFrame, non_detection: DataFrame | None) -> DataFrame:
    """Rise rate against the non-detections more than 0.5 d before the first detection:
    dmdt = (mag_first + e_mag_first - diffmaglim) / dt, the minimum over them.
    dm_first and sigmadm_first follow ALeRCE's code (mag_first - diffmaglim,
    e_mag_first - diffmaglim) for compatibility."""
    columns = ("dmdt_first", "dm_first", "sigmadm_first", "dt_first")
    if non_detection is None:
        return stats.withColumns({c: F.lit(None).cast("double") for c in columns})
    limits = non_detection.select("oid", "fid", F.col("mjd").alias("_nd_mjd"), "diffmaglim")
    pairs = (stats.select("oid", "fid", "firstmjd", "magfirst", "_sigma_first")
             .join(limits, ["oid", "fid"])
             .filter(F.col("_nd_mjd") < F.col("firstmjd") - DMDT_MIN_GAP))
    dt = F.col("firstmjd") - F.col("_nd_mjd")
    pairs = pairs.withColumns({
        "dt_first": dt,
        "dmdt_first": (F.col("magfirst") + F.col("_sigma_first") - F.col("diffmaglim")) / dt,
        "dm_first": F.col("magfirst") - F.col("diffmaglim"),
        "sigmadm_first": F.col("_sigma_first") - F.col("diffmaglim"),
    })
    steepest = Window.partitionBy("oid", "fid").orderBy("dmdt_first", "_nd_mjd")
    best = (pairs.withColumn("_rank", F.row_number().over(steepest)).filter("_rank = 1")
            .select("oid", "fid", *columns))
    return stats.join(best, ["oid", "fid"], "left")
