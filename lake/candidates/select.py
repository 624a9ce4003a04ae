"""``candidate``: tonight's young transients worth following up, ranked, with the reason.

An object touched by the night is a candidate when all of these hold (settings
``candidates``, defaults in ``CANDIDATE_DEFAULTS``):

- young: its first detection is at most ``max_age_days`` before its last one, which is
  tonight's (ALeRCE SN Hunter looks at objects first seen in the last few days);
- a positive difference at the first detection (isdiffpos +1);
- P(SN) >= ``min_sn_probability`` from the stamp classifier (class SN, first alert) or the
  light-curve classifier (sum of SNIa, SNIbc, SNII, SLSN); the score is the larger;
- not a known star: the object table's ``stellar`` flag (PS1 sgscore1 / ZTF reference
  source rule) is false and no ``star_catalog`` cross-match has a significant parallax
  (parallax_over_error >= ``star_parallax_over_error``);
- not a known solar-system object: no alert of the object has one within
  ``max_ss_distance_arcsec`` (ZTF's ssdistnr);
- a non-detection at most ``nondetection_window_days`` before the first detection whose
  limit is deeper (fainter) than the first detection's magnitude: the rise is real.

Host: the nearest source of ``host_catalog`` in ``xmatch`` (id and offset), when any.
Ranked by score (then youngest first); ``reason`` says why in words and numbers.
"""
from __future__ import annotations

import datetime

from pyspark.sql import DataFrame, Window, functions as F

from lake import delta, surveys

SN_CLASSES = ("SNIa", "SNIbc", "SNII", "SLSN")
CANDIDATE_DEFAULTS = {
    "max_age_days": 3.0,
    "min_sn_probability": 0.5,
    "nondetection_window_days": 5.0,
    "max_ss_distance_arcsec": 5.0,
    "star_parallax_over_error": 5.0,
    "host_catalog": "allwise",
    "star_catalog": "gaia_dr3",
}


def candidate_settings(config) -> dict:
    return {**CANDIDATE_DEFAULTS, **dict((config or {}).get("candidates") or {})}


def night_start_mjd(night: int) -> float:
    day = datetime.date(night // 10000, night // 100 % 100, night % 100)
    return float((day - datetime.date(1858, 11, 17)).days)


def _read(spark, config, name, oids):
    if not delta.table_exists(config, name):
        return None
    return delta.read_table(spark, config, name).join(oids, "oid", "left_semi")


def select_candidates(spark, config, oids: DataFrame, night: int) -> DataFrame | None:
    """The night's candidates among ``oids`` (one column ``oid``); None without the
    tables they need (object, detection, probability)."""
    s = candidate_settings(config)
    obj = _read(spark, config, "object", oids)
    det = _read(spark, config, "detection", oids)
    prob = _read(spark, config, "probability", oids)
    if obj is None or det is None or prob is None:
        return None
    first = Window.partitionBy("oid").orderBy("mjd", "candid")
    first_det = (det.withColumn("_n", F.row_number().over(first)).filter("_n = 1")
                 .select("oid", F.col("mjd").alias("first_mjd"), F.col("fid").alias("first_fid"),
                         F.col("magpsf").alias("first_magpsf"),
                         F.col("sigmapsf").alias("first_sigmapsf"),
                         F.col("isdiffpos").alias("first_isdiffpos"),
                         F.col("candid").alias("first_candid")))
    last = det.groupBy("oid").agg(F.max("mjd").alias("last_mjd"))
    p = prob.groupBy("oid").agg(
        F.max(F.when((F.col("classifier_name") == "stamp_classifier")
                     & (F.col("class_name") == "SN"), F.col("probability"))).alias("p_sn_stamp"),
        F.sum(F.when((F.col("classifier_name") == "lc_classifier")
                     & F.col("class_name").isin(*SN_CLASSES), F.col("probability")))
        .alias("p_sn_lc"))
    frame = (obj.select("oid", "meanra", "meandec", "stellar").join(first_det, "oid")
             .join(last, "oid").join(p, "oid", "left"))

    nd = _read(spark, config, "non_detection", oids)
    if nd is not None:
        window = float(s["nondetection_window_days"])
        prior = nd.join(first_det.select("oid", "first_mjd", "first_magpsf"), "oid").filter(
            (F.col("mjd") < F.col("first_mjd")) & (F.col("mjd") >= F.col("first_mjd") - window)
            & (F.col("diffmaglim") > F.col("first_magpsf")))
        latest = Window.partitionBy("oid").orderBy(F.col("mjd").desc(), F.col("fid"))
        prior = (prior.withColumn("_n", F.row_number().over(latest)).filter("_n = 1")
                 .select("oid", F.col("mjd").alias("nd_mjd"), F.col("fid").alias("nd_fid"),
                         F.col("diffmaglim").alias("nd_diffmaglim")))
        frame = frame.join(prior, "oid", "left")
    else:
        frame = frame.select("*", *[F.lit(None).cast(t).alias(c) for c, t in
                                    (("nd_mjd", "double"), ("nd_fid", "int"),
                                     ("nd_diffmaglim", "double"))])
    ss = _read(spark, config, "ss_ztf", oids)
    if ss is not None and "ssdistnr" in ss.columns:
        near = ss.filter((F.col("ssdistnr") >= 0)
                         & (F.col("ssdistnr") < float(s["max_ss_distance_arcsec"])))
        frame = frame.join(near.select("oid").distinct().withColumn("_ss", F.lit(True)), "oid",
                           "left")
    else:
        frame = frame.withColumn("_ss", F.lit(None).cast("boolean"))
    xm = _read(spark, config, "xmatch", oids)
    star_col, host_cols = F.lit(None).cast("double"), None
    if xm is not None:
        if "parallax_over_error" in xm.columns:
            frame = frame.join(xm.filter(F.col("catalog") == s["star_catalog"]).select(
                "oid", F.col("parallax_over_error").alias("_poe")), "oid", "left")
            star_col = F.col("_poe")
        host_cols = xm.filter(F.col("catalog") == s["host_catalog"]).select(
            "oid", F.col("catalog").alias("host_catalog"), F.col("catalog_id").alias("host_id"),
            F.col("distance").alias("host_offset_arcsec"))
        frame = frame.join(host_cols, "oid", "left")
    if host_cols is None:
        frame = frame.select("*", *[F.lit(None).cast(t).alias(c) for c, t in
                                    (("host_catalog", "string"), ("host_id", "string"),
                                     ("host_offset_arcsec", "double"))])
    score = F.greatest(F.coalesce("p_sn_stamp", F.lit(0.0)), F.coalesce("p_sn_lc", F.lit(0.0)))
    frame = frame.withColumn("score", score).withColumn(
        "age_days", F.col("last_mjd") - F.col("first_mjd"))
    keep = ((F.col("last_mjd") >= F.lit(night_start_mjd(night)))
            & (F.col("age_days") <= float(s["max_age_days"]))
            & (F.col("first_isdiffpos") > 0)
            & (F.col("score") >= float(s["min_sn_probability"]))
            & ~F.coalesce(F.col("stellar"), F.lit(False))
            & ~F.coalesce(star_col >= float(s["star_parallax_over_error"]), F.lit(False))
            & ~F.coalesce(F.col("_ss"), F.lit(False))
            & F.col("nd_mjd").isNotNull())
    band = F.when(F.col("first_fid") == 1, "g").when(F.col("first_fid") == 2, "r").otherwise("i")
    reason = F.concat_ws("; ",
        F.format_string("first detected %.2f d before the last detection (%s %.2f +- %.2f)",
                        F.col("age_days"), band, F.col("first_magpsf"), F.col("first_sigmapsf")),
        F.format_string("P(SN) %.2f (stamp %.2f, light curve %.2f)", F.col("score"),
                        F.coalesce("p_sn_stamp", F.lit(float("nan"))),
                        F.coalesce("p_sn_lc", F.lit(float("nan")))),
        F.format_string("non-detection %.2f d before at %.2f, deeper than the first detection",
                        F.col("first_mjd") - F.col("nd_mjd"), F.col("nd_diffmaglim")),
        F.lit("positive difference, not stellar, no known solar-system object"),
        F.when(F.col("host_id").isNotNull(), F.format_string(
            "host %s %s at %.2f arcsec", F.col("host_catalog"), F.col("host_id"),
            F.col("host_offset_arcsec"))).otherwise(F.lit("no catalog host")))
    ranked = Window.partitionBy("night").orderBy(F.col("score").desc(), F.col("first_mjd").desc(),
                                                 F.col("oid"))
    return frame.filter(keep).withColumn("night", F.lit(night)).select(
        "oid", F.lit(surveys.of(config).name).alias("survey"), "night",
        F.row_number().over(ranked).cast("int").alias("rank"), "score", "p_sn_stamp",
        "p_sn_lc", "first_candid", "first_mjd", "first_fid", "first_magpsf", "first_sigmapsf",
        "last_mjd", "age_days", "nd_mjd", "nd_fid", "nd_diffmaglim",
        F.col("meanra").alias("ra"), F.col("meandec").alias("dec"), "host_catalog", "host_id",
        "host_offset_arcsec", reason.alias("reason"))


def write_candidates(spark, config, oids: DataFrame, nights, counts: dict) -> int:
    """The classify stage's step: the last night's candidates merged into ``candidate``."""
    if not nights:
        return 0
    frame = select_candidates(spark, config, oids, nights[-1])
    if frame is None:
        return 0
    n = frame.count()
    if n:
        counts["candidate"] = delta.merge_into(spark, config, "candidate", frame)
    return n
