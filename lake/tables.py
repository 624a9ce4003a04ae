"""The lake's tables: name, layer, key, partitioning, and which duplicate wins.

Every write to a table is keyed (see ``lake.delta``: a MERGE on the key, or for the bronze
bulk and the detection corrections a streamed append of exactly the rows a MERGE would
insert / a streamed column update), so landing the same input twice, or nights out of
order, gives the same rows. When two rows share a key,
the one that sorts first by ``priority`` is kept, in a batch and against the table:
that is what makes the result independent of the order nights arrive in.

Partitioning: tables that grow with every night are partitioned by ``night``
(YYYYMMDD, int). For bronze tables it is the night the alert was published; for
detections, non-detections and forced photometry it is the UTC date of the
observation itself (from mjd), so an object's history lands in the partitions of
the nights it was observed, and a night's MERGE touches only the ~30 partitions
its alerts' histories span. Small cross-match tables are not partitioned.

The tables below are every survey's; each survey adds its own (``Survey.tables``, e.g.
ZTF's ``dataquality``, ``reference``, ``ps1_ztf``, ``ss_ztf``, ``gaia_ztf``), registered
after the generic silver tables.
"""
from __future__ import annotations

from lake import surveys
from lake.surveys.base import Survey, Table

__all__ = ["TABLES", "Table", "PROCESS_TABLES", "INGEST_TABLES", "ingest_tables"]


# A detection seen in its own alert (with stamps) beats the copies in later alerts'
# histories; among history copies the one from the earliest alert wins.
HISTORY_PRIORITY = (("parent_candid", False),)
DETECTION_PRIORITY = (("has_stamp", True), ("parent_candid", False))

BRONZE_AND_SILVER = [
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
]
GOLD_AND_OPS = [
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
    Table("xmatch", "gold", ("oid", "catalog"), (), (),
          "nearest reference-catalog source within the radius (lake.xmatch): catalog id, "
          "distance (arcsec), the chosen columns", replace=True),
    Table("anomaly", "gold", ("oid", "model", "version", "top_class"), (), (),
          "isolation-forest anomaly score per object and top class (science.anomaly), with "
          "its rank among the night's objects (1 = most anomalous)", replace=True),
    Table("candidate", "gold", ("oid", "night"), (), (),
          "tonight's young transients for follow-up (lake.candidates): rank, score, first "
          "detection, prior non-detection, host, reason", replace=True),
]
SURVEY_TABLES = [t for survey in surveys.SURVEYS.values() for t in survey.tables]

TABLES: dict[str, Table] = {t.name: t for t in BRONZE_AND_SILVER + SURVEY_TABLES + GOLD_AND_OPS}
if len(TABLES) != len(BRONZE_AND_SILVER) + len(SURVEY_TABLES) + len(GOLD_AND_OPS):
    raise RuntimeError("two tables share a name: a survey's tables need their own names")

PROCESS_TABLES = ("detection", "object", "magstat", "feature")


def ingest_tables(survey: "str | Survey | None" = None) -> tuple[str, ...]:
    """Tables an ingest of the survey's alerts writes, in the order it writes them."""
    return (tuple(t.name for t in BRONZE_AND_SILVER)
            + tuple(t.name for t in surveys.get(survey).tables))


INGEST_TABLES = ingest_tables()   # the default survey's
