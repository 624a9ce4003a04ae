"""Rubin / LSST (the Vera C. Rubin Observatory alert stream): the second survey.

| member | module |
|---|---|
| official schemas (``lsst-alert-packet``), schema ids, one field list per record kind | ``schemas`` |
| packets of a file: Avro containers and the Kafka wire framing | ``framing`` |
| packets -> staging tables, validation (schemas 7.4 to 11.x) | ``parser`` |
| the night (Rubin's dayObs) | ``night`` |
| silver tables (``lsst_*``) | ``silver`` |

In a lake of ``survey: lsst`` the ingest writes the generic bronze tables ``alert`` (key
``candid`` = the triggering diaSourceId; ``objectId`` = the diaObjectId as text, or
``ss<ssObjectId>`` for a solar-system source), ``cutout``,
``quarantine`` and ``run``, Rubin's own silver tables (ALeRCE's multi-survey names):
``lsst_detection``, ``lsst_forced_photometry``, ``lsst_dia_object``, ``lsst_ss_detection``,
``lsst_ss_object``, ``lsst_mpc_orbits``, and the generic ``detection`` (the light-curve
view the process stage reads: oid, candid, mjd, fid = band letter, magpsf/sigmapsf of
|psfFlux|, isdiffpos = the flux's sign; solar-system sources under ``ss<ssObjectId>``).
Rubin's ids, fluxes (nJy) and field names are kept as published.
The Spark-side module (``silver``) is imported on use: decoding workers load pyarrow only.
"""
from __future__ import annotations

from lake.surveys.base import FeatureRules, QualityRanges, Survey, Table
from lake.surveys.lsst import framing, parser
from lake.surveys.lsst.night import DAYOBS_OFFSET_DAYS, TAI_MINUS_UTC_DAYS
from lake.surveys.ztf.night import night_from_name

BANDS = ("u", "g", "r", "i", "z", "y")
# Latest reprocessing first; then the copy of its own alert (with stamps); then the
# earliest alert whose history carried it.
DETECTION_PRIORITY = (("timeProcessedMjdTai", True), ("has_stamp", True), ("alert_id", False))
LATEST_ALERT = (("alert_mjd", True), ("alert_id", True))

TABLES = (
    Table("lsst_detection", "silver", ("diaSourceId",), ("night",), DETECTION_PRIORITY,
          "every diaSource of the alerts and their prvDiaSources, one row per diaSourceId "
          "(latest timeProcessedMjdTai wins; withdrawn kept, flagged); nJy fluxes, AB mag"),
    Table("lsst_forced_photometry", "silver", ("diaForcedSourceId",), ("night",),
          (("timeProcessedMjdTai", True), ("alert_id", False)),
          "prvDiaForcedSources, one row per diaForcedSourceId (latest processing wins)"),
    Table("lsst_dia_object", "silver", ("diaObjectId",), (), LATEST_ALERT,
          "the diaObject of each object's latest alert"),
    Table("lsst_ss_detection", "silver", ("diaSourceId",), ("night",), (("alert_id", False),),
          "solar-system sources (ssSource), one row per diaSourceId"),
    Table("lsst_ss_object", "silver", ("ssObjectId",), (), LATEST_ALERT,
          "solar-system objects (ssObject, schema 7.x), latest per ssObjectId"),
    Table("lsst_mpc_orbits", "silver", ("ssObjectId",), (), LATEST_ALERT,
          "MPC orbits (mpc_orbits 10.0+, MPCORB 9.0), latest per ssObjectId"),
)


class LSST(Survey):
    name = "lsst"
    object_id = "objectId"      # the diaObjectId as text, ss<ssObjectId> for solar-system
    alert_id = "candid"
    staging_tables = parser.STAGING_TABLES
    cutouts = parser.CUTOUTS
    bands = {band: band for band in BANDS}
    tables = TABLES
    # what the latest alert of an object says of its history (12 months of sources and
    # forced sources ride along in every Rubin alert)
    history_columns = ("ndethist", "nforcedhist")
    stellar_detection_columns = ("extendedness",)
    saturation_magnitude = 16.0     # Rubin saturates around r ~ 16-17 in a 15 s snap
    # Flux-based six-band features are the Rubin science issue's; until then the process
    # stage writes object and magstat only.
    computes_features = False
    feature_rules = FeatureRules(
        bands=("g", "r"), quality_column="reliability", quality_min=0.5,
        magnitude=("magpsf", "sigmapsf"), corrected_magnitude=("magpsf", "sigmapsf"))
    quality = QualityRanges(
        bands=BANDS, magnitude=(5.0, 35.0), sigma_max=5.0,
        alert_columns=("candid", "diaSourceId", "midpointMjdTai", "band", "ra", "dec",
                       "psfFlux", "psfFluxErr", "source", "night"),
        alert_not_null=("candid", "diaSourceId", "midpointMjdTai", "band", "ra", "dec"),
        alert_band="band", alert_magnitude=None,
        # A dayObs night runs from 12:00 UTC of its date to 12:00 UTC the next day.
        alert_time=("midpointMjdTai", DAYOBS_OFFSET_DAYS), alert_score=("reliability", 0.0, 1.0))

    def read_packets(self, data, max_decoded_bytes=None):
        return framing.read_packets(data, max_decoded_bytes)

    def validate(self, record):
        parser.validate(record)

    def parse(self, schema, packets, run_id):
        return parser.parse(schema, packets, run_id)

    def alert_mjd(self, record):
        return record["diaSource"]["midpointMjdTai"]

    def night_window(self, night):
        """dayObs ``night``: from 12:00 UTC of its date to 12:00 UTC the next day (in TAI
        MJD, as ``midpointMjdTai``).

        >>> LSST().night_window(20260305)[0] - 61104.5 < 1e-3
        True
        """
        start, _ = super().night_window(night)
        start += DAYOBS_OFFSET_DAYS + TAI_MINUS_UTC_DAYS
        return start, start + 1.0

    def alert_link(self, staging_table):
        return self.alert_id if staging_table in ("alert", "cutout") else "alert_id"

    def night_of_alert(self, record):
        return parser.night_of_alert(record)

    def night_from_name(self, name):
        return night_from_name(name)

    def silver_tables(self, staged):
        from lake.surveys.lsst import silver

        return silver.silver_tables(staged)

    def correct(self, detection):
        from pyspark.sql import functions as F

        from lake.silver.correction import CORRECTION_COLUMNS

        # no reference-flux correction for Rubin (difference fluxes are published as such)
        detection = detection.drop(*[c for c in CORRECTION_COLUMNS if c in detection.columns])
        return detection.select(
            "*", F.lit(None).cast("double").alias("magpsf_corr"),
            F.lit(None).cast("double").alias("sigmapsf_corr"),
            F.lit(None).cast("double").alias("sigmapsf_corr_ext"),
            F.lit(False).alias("corrected"), F.lit(False).alias("dubious"))

    def object_context(self, read, alert):
        from pyspark.sql import functions as F

        return alert.filter(F.col("diaObjectId").isNotNull()).select(
            F.col("objectId").alias("oid")).distinct()

    def stellar(self, columns):
        from pyspark.sql import functions as F

        # Rubin's extendedness: 0 point-like, 1 extended
        return F.coalesce(columns["extendedness"] < F.lit(0.5), F.lit(False))

    def object_history(self, alert):
        from pyspark.sql import functions as F

        latest = F.struct("midpointMjdTai", "candid")
        return (alert.filter(F.col("diaObjectId").isNotNull())
                .groupBy(F.col("objectId").alias("oid")).agg(
                    (F.max_by("n_prv_dia_sources", latest) + 1).cast("int").alias("ndethist"),
                    F.max_by("n_prv_dia_forced_sources", latest).cast("int").alias("nforcedhist")))

    def apply_stamp_rules(self, alerts, probs, classes):
        raise NotImplementedError("the stamp classifier and its rules are ZTF's; "
                                  "Rubin has no stamp classifier yet")

    def object_partition_sql(self, oid):
        # diaObjectIds are 64-bit integers without a date prefix: 256 buckets of the id
        # (solar-system objects, ss<ssObjectId>, by a hash of the text)
        return (f"CAST(COALESCE(TRY_CAST({oid} AS UBIGINT), hash({oid})) % 256 AS INTEGER)")
