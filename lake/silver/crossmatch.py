"""Per-alert tables cut from the candidate: data quality, reference image, and the
Pan-STARRS1, solar-system and Gaia cross-matches ZTF computes for each alert."""
from __future__ import annotations

from pyspark.sql import DataFrame, functions as F

from lake.silver.columns import mjd, night, present

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
