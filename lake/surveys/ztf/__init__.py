"""ZTF (the Zwicky Transient Facility public alert stream): the first survey.

| member | module |
|---|---|
| packets -> staging tables, validation | ``parser`` (schemas 1.8 to 4.02) |
| nights of an alert and of an archive name | ``night`` |
| silver tables (detections, upper limits, forced photometry, cross-matches) | ``silver`` |
| correction strategy (ALeRCE's distnr < 1.4 correction, dubious) | ``correction`` |
| stellar rule, first-alert PS1 context, history counts | ``gold`` |
| stamp classifier rules | ``rules`` |

Table names are ALeRCE's (``ps1_ztf``, ``ss_ztf``, ``gaia_ztf``, ...). The Spark-side
modules are imported on use: decoding workers load only ``parser`` (pyarrow).
"""
from __future__ import annotations

from lake.surveys.base import FeatureRules, QualityRanges, Survey, Table
from lake.surveys.ztf import night, parser
from lake.surveys.ztf.night import JD_TO_MJD

TABLES = (
    Table("dataquality", "silver", ("candid", "oid"), ("night",), (),
          "image-quality fields of each alert's candidate"),
    Table("reference", "silver", ("oid", "rfid"), (), (("candid", False),),
          "reference image of each object and band"),
    Table("ps1_ztf", "silver", ("oid", "candid"), (), (),
          "Pan-STARRS1 cross-match of each alert (3 nearest sources)"),
    Table("ss_ztf", "silver", ("oid", "candid"), (), (),
          "nearest known solar-system object of each alert"),
    Table("gaia_ztf", "silver", ("oid", "candid"), (), (),
          "Gaia cross-match of each alert"),
)


class ZTF(Survey):
    name = "ztf"
    object_id = "objectId"
    alert_id = "candid"
    staging_tables = parser.STAGING_TABLES
    cutouts = parser.CUTOUTS
    bands = {1: "g", 2: "r", 3: "i"}
    tables = TABLES
    history_columns = ("ndethist", "ncovhist", "mjdstarthist", "mjdendhist")
    stellar_detection_columns = ("distnr", "chinr", "sharpnr")
    saturation_magnitude = 13.2
    feature_rules = FeatureRules(
        bands=(1, 2), quality_column="rb", quality_min=0.55,
        magnitude=("magpsf", "sigmapsf"),
        corrected_magnitude=("magpsf_corr", "sigmapsf_corr_ext"),
        context_columns=("sgscore1",))
    quality = QualityRanges(
        bands=(1, 2, 3), magnitude=(5.0, 30.0), sigma_max=5.0,
        alert_columns=("objectId", "candid", "schemavsn", "jd", "fid", "ra", "dec",
                       "magpsf", "sigmapsf", "isdiffpos", "source", "night"),
        alert_not_null=("objectId", "candid", "jd", "fid", "ra", "dec", "magpsf",
                        "sigmapsf"),
        alert_band="fid", alert_magnitude=("magpsf", "sigmapsf"),
        alert_time=("jd", JD_TO_MJD), alert_score=("rb", 0.0, 1.0))

    def validate(self, record):
        parser.validate(record)

    def parse(self, schema, packets, run_id):
        return parser.parse(schema, packets, run_id)

    def alert_mjd(self, record):
        return record["candidate"]["jd"] - JD_TO_MJD

    def night_of_alert(self, record):
        return night.night_of_jd(record["candidate"]["jd"])

    def night_from_name(self, name):
        return night.night_from_name(name)

    def silver_tables(self, staged):
        from lake.surveys.ztf import silver

        return silver.silver_tables(staged)

    def correct(self, detection):
        from lake.surveys.ztf import correction

        return correction.correct(detection)

    def object_context(self, read, alert):
        from lake.surveys.ztf import gold

        return gold.object_context(read, alert)

    def stellar(self, columns):
        from lake.surveys.ztf import gold

        return gold.stellar(columns)

    def object_history(self, alert):
        from lake.surveys.ztf import gold

        return gold.object_history(alert)

    def apply_stamp_rules(self, alerts, probs, classes):
        from lake.surveys.ztf import rules

        return rules.apply_stamp_rules(alerts, probs, classes)

    def object_partition_sql(self, oid):
        # ZTF ids are ZTF + 2-digit year + letters (ZTF18abcdefg): the first 7
        # characters (``ZTF18ab``) group objects of one year into a few hundred partitions.
        return f"left({oid}, 7)"
