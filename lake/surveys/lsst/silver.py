"""Rubin's silver tables from the staged packets (Spark).

* ``lsst_detection``          every diaSource (triggering and ``prvDiaSources``), one row per
                              diaSourceId: the latest ``timeProcessedMjdTai`` wins (a
                              re-measured source replaces the older measurement), then the
                              copy of its own alert, then the earliest carrying alert.
                              Withdrawn sources are kept, ``withdrawn`` true.
* ``lsst_forced_photometry``  ``prvDiaForcedSources``, one row per diaForcedSourceId (latest
                              ``timeProcessedMjdTai`` wins)
* ``lsst_dia_object``         the latest diaObject of each object (of its latest alert)
* ``lsst_ss_detection``       ssSource rows (solar-system sources), by diaSourceId
* ``lsst_ss_object``          ssObject (schema 7.x), latest per ssObjectId
* ``lsst_mpc_orbits``         MPC orbits (``mpc_orbits`` 10.0+, ``MPCORB`` 9.0), latest per
                              ssObjectId

Fluxes stay in nJy as published; ``mag`` / ``e_mag`` are AB magnitudes from ``psfFlux``
(``m = -2.5 log10(f / nJy) + 31.4``, null for a flux <= 0). ``night`` is the dayObs of
``midpointMjdTai`` (``lake.surveys.lsst.night``).
"""
from __future__ import annotations

import math

from pyspark.sql import Column, DataFrame, functions as F

from lake.silver.columns import night as utc_night
from lake.surveys.lsst.night import DAYOBS_OFFSET_DAYS, TAI_MINUS_UTC_DAYS

AB_ZERO_POINT_NJY = 31.4
MAG_PER_RELATIVE_FLUX = 2.5 / math.log(10.0)   # 1.0857: dm = 1.0857 df / f


def day_obs(mjd_tai: Column) -> Column:
    """dayObs (YYYYMMDD, int) of a TAI MJD column (``night.day_obs`` in Spark)."""
    return utc_night(mjd_tai - F.lit(TAI_MINUS_UTC_DAYS + DAYOBS_OFFSET_DAYS))


def ab_magnitude(flux: str, error: str) -> tuple[Column, Column]:
    """(mag, e_mag) AB from a flux and its error in nJy; null for a flux that is not > 0."""
    positive = F.col(flux) > 0
    mag = F.when(positive, F.lit(-2.5) * F.log10(F.col(flux)) + F.lit(AB_ZERO_POINT_NJY))
    e_mag = F.when(positive, F.lit(MAG_PER_RELATIVE_FLUX) * F.col(error) / F.col(flux))
    return mag, e_mag


def _id(column: str) -> Column:
    """A Rubin id with 0 ("no id") as null."""
    return F.when(F.col(column) != 0, F.col(column))


def resolved_ids(staged: DataFrame) -> DataFrame:
    """A source's diaObjectId / ssObjectId, 0 as null; a source without a diaObjectId (the
    official samples' history entries) takes its alert's: it is a source of that object."""
    return (staged
            .withColumn("diaObjectId", F.coalesce(_id("diaObjectId"), F.col("alert_dia_object_id")))
            .withColumn("ssObjectId", _id("ssObjectId")))


def detections(staged: DataFrame) -> DataFrame:
    mag, e_mag = ab_magnitude("psfFlux", "psfFluxErr")
    return (resolved_ids(staged).filter(F.col("diaSourceId").isNotNull())
            .withColumn("night", day_obs(F.col("midpointMjdTai")))
            .withColumn("mag", mag.cast("double")).withColumn("e_mag", e_mag.cast("double"))
            .withColumn("withdrawn", F.col("timeWithdrawnMjdTai").isNotNull()))


def forced_photometry(staged: DataFrame) -> DataFrame:
    mag, e_mag = ab_magnitude("psfFlux", "psfFluxErr")
    staged = staged.withColumn(
        "diaObjectId", F.coalesce(_id("diaObjectId"), F.col("alert_dia_object_id")))
    return (staged.filter(F.col("diaForcedSourceId").isNotNull())
            .withColumn("night", day_obs(F.col("midpointMjdTai")))
            .withColumn("mag", mag.cast("double")).withColumn("e_mag", e_mag.cast("double"))
            .withColumn("withdrawn", F.col("timeWithdrawnMjdTai").isNotNull()))


def per_object(staged: DataFrame, key: str) -> DataFrame:
    """Rows that name their object (brokers re-serve absent records as all-null ones)."""
    return staged.filter(F.col(key).isNotNull() & (F.col(key) != 0))


def ss_detections(staged: DataFrame) -> DataFrame:
    # 9.0 made the ssSource's diaSourceId nullable: it is the carrying alert's own source
    return (staged.withColumn("diaSourceId", F.coalesce(F.col("diaSourceId"), F.col("alert_id")))
            .withColumn("ssObjectId", F.coalesce(_id("ssObjectId"), F.col("alert_ss_object_id")))
            .withColumn("night", F.col("alert_night"))
            .filter(F.col("ssObjectId").isNotNull()))


# The generic detection table's columns (the vocabulary the process stage reads), from a
# Rubin source: the difference magnitude of |psfFlux| with the flux's sign as isdiffpos.
GENERIC_EXTRA = ("ra", "dec", "band", "psfFlux", "psfFluxErr", "reliability", "extendedness",
                 "midpointMjdTai", "timeProcessedMjdTai", "withdrawn")


def generic_detections(lsst_detection: DataFrame) -> DataFrame:
    """``detection`` (oid, candid, mjd, fid, magpsf, sigmapsf, isdiffpos, has_stamp,
    parent_candid, night): every diaSource under the alert's generic object id (the
    diaObjectId as text, ``ss<ssObjectId>`` for a solar-system source, as the alert's
    ``objectId``). ``lsst_detection`` is the record (its re-measurement rule); this is the
    light-curve view of it."""
    flux, error = F.abs(F.col("psfFlux")), F.col("psfFluxErr")
    measured = flux > 0
    oid = F.coalesce(F.col("diaObjectId").cast("string"),
                     F.concat(F.lit("ss"), F.col("ssObjectId").cast("string")))
    return lsst_detection.filter(oid.isNotNull()).select(
        oid.alias("oid"),
        F.col("diaSourceId").alias("candid"),
        F.col("midpointMjdTai").alias("mjd"),
        F.col("band").alias("fid"),
        F.when(measured, F.lit(-2.5) * F.log10(flux) + F.lit(AB_ZERO_POINT_NJY))
        .cast("double").alias("magpsf"),
        F.when(measured, F.lit(MAG_PER_RELATIVE_FLUX) * error / flux).cast("double")
        .alias("sigmapsf"),
        F.when(F.col("psfFlux") < 0, F.lit(-1)).otherwise(F.lit(1)).cast("int").alias("isdiffpos"),
        *[F.col(c) for c in GENERIC_EXTRA if c in lsst_detection.columns],
        "has_stamp",
        F.when(~F.col("has_stamp"), F.col("alert_id")).alias("parent_candid"),
        "night")


def silver_tables(staged: dict) -> dict[str, DataFrame | None]:
    """Every Rubin silver table of an ingest batch (staged ``alert`` is not None), and the
    generic ``detection`` light-curve view (Rubin has no upper limits; its forced
    photometry is keyed by its own id, so it stays in lsst_forced_photometry)."""
    def of(name, build, *args):
        return None if staged.get(name) is None else build(staged[name], *args)

    lsst_detection = of("dia_source", detections)
    return {
        "detection": None if lsst_detection is None else generic_detections(lsst_detection),
        "non_detection": None, "forced_photometry": None,
        "lsst_detection": lsst_detection,
        "lsst_forced_photometry": of("dia_forced_source", forced_photometry),
        "lsst_dia_object": of("dia_object", per_object, "diaObjectId"),
        "lsst_ss_detection": of("ss_source", ss_detections),
        "lsst_ss_object": of("ss_object", per_object, "ssObjectId"),
        "lsst_mpc_orbits": of("mpc_orbits", per_object, "ssObjectId"),
    }
