"""``object``: one row per object (ALeRCE's object table, brief §3).

Survey-specific inputs come from the survey: the history columns (``Survey.object_history``),
the star-likeness rule (``Survey.stellar``) and the band ids of g and r for the colors.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, functions as F

from lake import surveys
from lake.gold.magstat import first_detection, stellar


def _wrapped_offset(ra: Column, ra0: Column) -> Column:
    """RA offset from ra0 in (-180, 180], so that objects at RA ~ 0/360 average right."""
    return F.pmod(ra - ra0 + 180.0, F.lit(360.0)) - 180.0


def objects(detection: DataFrame, magstat: DataFrame, alert: DataFrame,
            context: DataFrame, reference: DataFrame | None, survey=None) -> DataFrame:
    """One row per object of ``detection`` (corrected, every detection of each object).
    ``alert``: the objects' bronze alerts; ``context``: the survey's ``object_context``."""
    survey = surveys.get(survey)
    first = F.struct("mjd", "candid")
    by_object = detection.groupBy("oid").agg(
        F.count("*").cast("int").alias("ndet"),
        F.min("mjd").alias("firstmjd"), F.max("mjd").alias("lastmjd"),
        F.min_by("corrected", first).alias("corrected"),
        (F.min_by("isdiffpos", first) > 0).alias("diffpos"),
        F.min_by("ra", first).alias("_ra0"),
        *[F.min_by(name, first).alias(first_detection(name))
          for name in survey.stellar_detection_columns],
    )
    positions = detection.join(by_object.select("oid", "_ra0"), "oid").groupBy("oid").agg(
        F.avg(_wrapped_offset(F.col("ra"), F.col("_ra0"))).alias("_dra"),
        F.stddev_pop(_wrapped_offset(F.col("ra"), F.col("_ra0"))).alias("sigmara"),
        F.avg("dec").alias("meandec"), F.stddev_pop("dec").alias("sigmadec"))
    history = survey.object_history(alert)
    colors = _colors(magstat, survey.band_id("g"), survey.band_id("r"))
    result = (by_object.join(positions, "oid").join(history, "oid", "left")
              .join(colors, "oid", "left").join(context, "oid", "left"))
    result = result.withColumns({
        "meanra": F.pmod(F.col("_ra0") + F.col("_dra"), F.lit(360.0)),
        "deltajd": F.col("lastmjd") - F.col("firstmjd"),
        "stellar": stellar(survey, context.columns),
    })
    result = result.join(_reference_change(reference, by_object), "oid", "left")
    return result.select(
        "oid", *survey.history_columns, "corrected", "stellar",
        "ndet", "g_r_max", "g_r_max_corr", "g_r_mean", "g_r_mean_corr", "meanra", "meandec",
        "sigmara", "sigmadec", "deltajd", "firstmjd", "lastmjd", "diffpos",
        F.coalesce(F.col("reference_change"), F.lit(False)).alias("reference_change"))


def _colors(magstat: DataFrame, g_band, r_band) -> DataFrame:
    """g - r at maximum brightness (min magnitudes) and of the mean magnitudes."""
    g = magstat.filter(F.col("fid") == g_band).select(
        "oid", *[F.col(c).alias(f"g_{c}") for c in ("magmin", "magmin_corr", "magmean", "magmean_corr")])
    r = magstat.filter(F.col("fid") == r_band).select(
        "oid", *[F.col(c).alias(f"r_{c}") for c in ("magmin", "magmin_corr", "magmean", "magmean_corr")])
    both = g.join(r, "oid")
    return both.select(
        "oid",
        (F.col("g_magmin") - F.col("r_magmin")).alias("g_r_max"),
        (F.col("g_magmin_corr") - F.col("r_magmin_corr")).alias("g_r_max_corr"),
        (F.col("g_magmean") - F.col("r_magmean")).alias("g_r_mean"),
        (F.col("g_magmean_corr") - F.col("r_magmean_corr")).alias("g_r_mean_corr"))


def _reference_change(reference: DataFrame | None, by_object: DataFrame) -> DataFrame:
    """True when an object's band has more than one reference image, or its reference
    was rebuilt after the object's first detection (mjdendref > firstmjd)."""
    if reference is None or "mjdendref" not in reference.columns:
        return by_object.select("oid", F.lit(None).cast("boolean").alias("reference_change"))
    per_band = reference.groupBy("oid", "fid").agg(
        F.countDistinct("rfid").alias("_refs"), F.max("mjdendref").alias("_end"))
    return (per_band.join(by_object.select("oid", "firstmjd"), "oid")
            .groupBy("oid").agg(F.max((F.col("_refs") > 1)
                                      | (F.col("_end") > F.col("firstmjd"))).alias("reference_change")))
