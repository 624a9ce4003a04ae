"""The lake's tables: name, layer, key, partitioning, and which duplicate wins.

Every write to a table is a MERGE on its key (see ``lake.delta``), so landing the same
input twice, or nights out of order, gives the same rows. When two rows share a key,
the one that sorts first by ``priority`` is kept, in a batch and against the table:
that is what makes the result independent of the order nights arrive in.

Partitioning: tables that grow with every night are partitioned by ``night``
(YYYYMMDD, int). For bronze tables it is the night the alert was published; for
detections, non-detections and forced photometry it is the UTC date of the
observation itself (from mjd), so an object's history lands in the partitions of
the nights it was observed, and a night's MERGE touches only the ~30 partitions
its alerts' histories span. Small cross-match tables are not partitioned.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    name: str
    layer: str                      # bronze | silver | gold | ops
    keys: tuple[str, ...]
    partition_by: tuple[str, ...] = ()
    # (column, descending): the row that sorts first wins among rows with one key.
    priority: tuple[tuple[str, bool], ...] = ()
    description: str = ""
    # Derived tables: a recomputed row replaces the stored one when any value differs.
    replace: bool = False


# A detection seen in its own alert (with stamps) beats the copies in later alerts'
# histories; among history copies the one from the earliest alert wins.
HISTORY_PRIORITY = (("parent_candid", False),)
DETECTION_PRIORITY = (("has_stamp", True), ("parent_candid", False))

TABLES: dict[str, Table] = {t.name: t for t in [
    Table("alert", "bronze", ("candid",), ("night",), (("source", False), ("member", False)),
          "one row per alert: top-level fields, the candidate's fields, origin, Avro bytes"),
    Table("cutout", "bronze", ("candid",), ("night",), (),
          "the three gzipped FITS stamps of each alert"),
    Table("quarantine", "bronze", ("member", "sha256"), ("night",), (("source", False),),
          "unreadable or invalid input files: why, and their raw bytes"),
    Table("detection", "silver", ("candid", "oid"), ("night",), DETECTION_PRIORITY,
          "detections from alerts and their histories, one row per (candid, oid)"),
    Table("non_detection", "silver", ("oid", "fid", "mjd"), ("night",), HISTORY_PRIORITY,
          "upper limits (diffmaglim) from alert histories, one row per (oid, fid, mjd)"),
    Table("forced_photometry", "silver", ("oid", "pid"), ("night",), HISTORY_PRIORITY,
          "forced photometry history (ZTF schema 4.x fp_hists), one row per (oid, pid)"),
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
    Table("object", "gold", ("oid",), (), (),
          "one row per object: history counts, position, colors, flags", replace=True),
    Table("magstat", "gold", ("oid", "fid"), (), (),
          "magnitude statistics per object and band", replace=True),
    Table("feature", "gold", ("oid",), (), (),
          "ALeRCE light-curve features, one column per feature, with feature_version",
          replace=True),
    Table("probability", "gold", ("oid", "classifier_name", "classifier_version", "class_name"),
          (), (), "class probabilities per object, classifier (and level) and class, with ranking",
          replace=True),
    Table("validation", "ops", ("validation_id", "seq"), (), (),
          "data-quality results: one row per expectation of each validation run"),
    Table("run", "ops", ("run_id",), (), (),
          "one row per job run: stage, night, rows in and out, duration, code version"),
]}

PROCESS_TABLES = ("detection", "object", "magstat", "feature")
INGEST_TABLES = ("alert", "cutout", "quarantine", "detection", "non_detection",
                 "forced_photometry", "dataquality", "reference", "ps1_ztf", "ss_ztf",
                 "gaia_ztf")
