"""ZTF's silver tables from the staged alerts and histories.

A ZTF alert carries its own detection (the candidate, with stamps) and up to 30 days
of earlier entries of the same object (``prv_candidates``): an entry with a candid is a
detection, one without is an upper limit (non-detection). Schema 4.x adds forced
photometry (``fp_hists``). The per-alert tables are cut from the candidate: data
quality, reference image, and the Pan-STARRS1, solar-system and Gaia cross-matches ZTF
computes for each alert.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, functions as F

from lake.silver import detection as generic
from lake.silver.columns import night, present
from lake.surveys.ztf.night import JD_TO_MJD

HISTORY_META = ("objectId", "parent_candid")
# Fields of the candidate that history entries lack but a detection should keep.
CANDIDATE_ONLY = ("drb", "drbversion")
NON_DETECTION_COLUMNS = ("oid", "fid", "mjd", "diffmaglim", "pid", "jd", "parent_candid",
                         "night")

DATAQUALITY = ("fid", "xpos", "ypos", "chipsf", "sky", "fwhm", "classtar", "mindtoedge",
               "seeratio", "aimage", "bimage", "aimagerat", "bimagerat", "nneg", "nbad",
               "sumrat", "scorr", "dsnrms", "ssnrms", "magzpsci", "magzpsciunc",
               "magzpscirms", "nmatches", "clrcoeff", "clrcounc", "zpclrcov", "zpmed",
               "clrmed", "clrrms", "exptime")
REFERENCE = ("candid", "fid", "rcid", "field", "magnr", "sigmagnr", "chinr", "sharpnr",
             "ranr", "decnr", "nframesref")
PS1 = tuple(f"{name}{i}" for i in (1, 2, 3)
            for name in ("objectidps", "sgmag", "srmag", "simag", "szmag", "sgscore",
                         "distpsnr")) + ("nmtchps",)
SOLAR_SYSTEM = ("ssdistnr", "ssmagnr", "ssnamenr")
GAIA = ("neargaia", "neargaiabright", "maggaia", "maggaiabright")


def mjd(jd: str = "jd") -> Column:
    """``mjd = jd - 2400000.5``."""
    return F.col(jd) - F.lit(JD_TO_MJD)


def isdiffpos_sign(column: str = "isdiffpos") -> Column:
    """ZTF's isdiffpos ('t'/'1' positive, 'f'/'0' negative) as +1 / -1, as ALeRCE stores it."""
    text = F.lower(F.trim(F.col(column).cast("string")))
    return F.when(text.isin("t", "1", "true"), F.lit(1)).otherwise(F.lit(-1)).cast("int")


def _finish(frame: DataFrame) -> DataFrame:
    frame = generic.with_night(frame.withColumn("mjd", mjd()))
    if "isdiffpos" in frame.columns:
        frame = frame.withColumn("isdiffpos", isdiffpos_sign())
    return frame


def detections(staged_alert: DataFrame, staged_history: DataFrame | None) -> DataFrame:
    """One row per detection occurrence (not yet deduplicated): the alerts' own
    candidates (``has_stamp`` true) and the detections in their histories."""
    history_fields = ([c for c in staged_history.columns if c not in HISTORY_META]
                      if staged_history is not None else [])
    fields = history_fields or [c for c in staged_alert.columns if c in _DEFAULT_FIELDS]
    own = staged_alert.select(
        F.col("objectId").alias("oid"),
        *[F.col(c) for c in present(staged_alert, fields + list(CANDIDATE_ONLY))])
    previous = None if staged_history is None else (
        staged_history.filter(F.col("candid").isNotNull()).select(
            F.col("objectId").alias("oid"), *[F.col(c) for c in history_fields],
            F.col("parent_candid")))
    return _finish(generic.detections(own, previous))


def non_detections(staged_history: DataFrame) -> DataFrame:
    """Upper limits: history entries without a candid."""
    limits = _finish(staged_history.filter(F.col("candid").isNull())
                     .withColumnRenamed("objectId", "oid"))
    return limits.select(*present(limits, NON_DETECTION_COLUMNS))


def forced_photometry(staged_fp: DataFrame) -> DataFrame:
    """Forced photometry history (ZTF 4.x ``fp_hists``) with mjd and night."""
    return _finish(staged_fp.withColumnRenamed("objectId", "oid"))


def _with_oid(staged_alert: DataFrame) -> DataFrame:
    return staged_alert.withColumnRenamed("objectId", "oid")


def dataquality(staged_alert: DataFrame) -> DataFrame:
    alerts = _with_oid(staged_alert)
    return alerts.select("candid", "oid", *present(alerts, DATAQUALITY),
                         mjd().alias("mjd"), night(mjd()).alias("night"))


def reference(staged_alert: DataFrame) -> DataFrame:
    alerts = _with_oid(staged_alert)
    columns = ["oid", "rfid", *present(alerts, REFERENCE)]
    for edge in ("jdstartref", "jdendref"):
        if edge in alerts.columns:
            columns.append(mjd(edge).alias("mjd" + edge[2:]))
    if "rfid" not in alerts.columns:
        alerts = alerts.withColumn("rfid", F.lit(None).cast("long"))
    return alerts.filter(F.col("rfid").isNotNull()).select(*columns)


def _per_alert(staged_alert: DataFrame, names) -> DataFrame:
    alerts = _with_oid(staged_alert)
    return alerts.select("oid", "candid", *present(alerts, names))


def ps1_ztf(staged_alert: DataFrame) -> DataFrame:
    return _per_alert(staged_alert, PS1)


def ss_ztf(staged_alert: DataFrame) -> DataFrame:
    return _per_alert(staged_alert, SOLAR_SYSTEM)


def gaia_ztf(staged_alert: DataFrame) -> DataFrame:
    return _per_alert(staged_alert, GAIA)


def silver_tables(staged: dict) -> dict[str, DataFrame | None]:
    """Every ZTF silver table of an ingest batch (staged ``alert`` is not None)."""
    alert, history, forced = staged["alert"], staged["prv_candidate"], staged["fp_hist"]
    return {
        "detection": detections(alert, history),
        "non_detection": non_detections(history) if history is not None else None,
        "forced_photometry": forced_photometry(forced) if forced is not None else None,
        "dataquality": dataquality(alert),
        "reference": reference(alert),
        "ps1_ztf": ps1_ztf(alert),
        "ss_ztf": ss_ztf(alert),
        "gaia_ztf": gaia_ztf(alert),
    }


# Detection fields when no alert in the batch has a history to take names from.
_DEFAULT_FIELDS = {
    "jd", "fid", "pid", "diffmaglim", "pdiffimfilename", "programpi", "programid",
    "candid", "isdiffpos", "tblid", "nid", "rcid", "field", "xpos", "ypos", "ra", "dec",
    "magpsf", "sigmapsf", "chipsf", "magap", "sigmagap", "distnr", "magnr", "sigmagnr",
    "chinr", "sharpnr", "sky", "magdiff", "fwhm", "classtar", "mindtoedge", "magfromlim",
    "seeratio", "aimage", "bimage", "aimagerat", "bimagerat", "elong", "nneg", "nbad", "rb",
    "ssdistnr", "ssmagnr", "ssnamenr", "sumrat", "magapbig", "sigmagapbig", "ranr", "decnr",
    "scorr", "magzpsci", "magzpsciunc", "magzpscirms", "clrcoeff", "clrcounc", "rbversion",
}
