"""``magstat``: one row per (oid, fid), ALeRCE's magnitude statistics (brief §4).

Input detections must carry the correction columns (``lake.silver.correction``) and
hold every detection of each object. Statistics without suffix use the difference
magnitude ``magpsf``; the ``_corr`` ones use ``magpsf_corr`` of corrected detections
whose corrected magnitude is defined (< 100). ``stellar`` is the survey's rule
(``Survey.stellar``) on the band's first detection and the object's context
(``Survey.object_context``); ``saturation_rate`` counts corrected magnitudes brighter
than the survey's ``saturation_magnitude``.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window, functions as F

from lake import surveys
from lake.silver.correction import UNDEFINED

DMDT_MIN_GAP = 0.5        # days between a non-detection and the first detection


def _stats(value: Column, order: Column, suffix: str) -> list[Column]:
    return [
        F.avg(value).alias(f"magmean{suffix}"), F.median(value).alias(f"magmedian{suffix}"),
        F.max(value).alias(f"magmax{suffix}"), F.min(value).alias(f"magmin{suffix}"),
        F.stddev_pop(value).alias(f"magsigma{suffix}"),
        F.max_by(value, F.when(value.isNotNull(), order)).alias(f"maglast{suffix}"),
        F.min_by(value, F.when(value.isNotNull(), order)).alias(f"magfirst{suffix}"),
    ]


def first_detection(name: str) -> str:
    """Column holding an object's (or band's) first-detection value of ``name``."""
    return f"_{name}"


def stellar(survey, context_columns) -> Column:
    """The survey's star-likeness of the first detection's columns (aggregated as
    ``first_detection(name)``) and the object's context columns."""
    columns = {name: F.col(first_detection(name)) for name in survey.stellar_detection_columns}
    columns.update({name: F.col(name) for name in context_columns if name != "oid"})
    return survey.stellar(columns)


def magstat(detection: DataFrame, non_detection: DataFrame | None, context: DataFrame,
            survey=None) -> DataFrame:
    """One row per (oid, fid). ``context``: the survey's ``object_context`` (one row
    per object) for the star-likeness rule."""
    survey = surveys.get(survey)
    valid_corr = F.col("corrected") & (F.col("magpsf_corr") < UNDEFINED)
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
               F.count_if(valid_corr & (F.col("magpsf_corr") < survey.saturation_magnitude))
               / F.count_if(valid_corr)).alias("saturation_rate"),
        F.min_by("sigmapsf", first).alias("_sigma_first"),
        *[F.min_by(name, first).alias(first_detection(name))
          for name in survey.stellar_detection_columns],
    )
    context_columns = [c for c in context.columns if c != "oid"]
    stats = stats.join(context, "oid", "left").withColumn(
        "stellar", stellar(survey, context_columns)).drop(
        *context_columns, *[first_detection(n) for n in survey.stellar_detection_columns])
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
