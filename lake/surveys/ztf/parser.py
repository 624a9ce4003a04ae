"""ZTF packets (schemas 1.8 to 4.02) -> staging tables.

* ``alert``          one row per alert: top-level fields, the candidate's fields as columns,
                     where it came from, and (optionally) the original Avro bytes
* ``cutout``         one row per alert that has stamps: the three gzipped FITS stamps
* ``prv_candidate``  one row per history entry, detections and upper limits alike
* ``fp_hist``        one row per forced-photometry entry (schema 4.x)

An alert must have an objectId, a candidate record with a jd, and a candid (in the
candidate, or at the top level as some old files have it). The generic decoding loop
(reading files, quarantine, grouping by writer schema) is ``lake.bronze.decode``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from lake.bronze.flatten import (Fields, append_columns, flat_fields, layout_cache,
                                 nested_fields, records_table, table)
from lake.surveys.base import InvalidAlert, Packet
from lake.surveys.ztf.night import night_of_jd

STAGING_TABLES = ("alert", "cutout", "prv_candidate", "fp_hist")
CUTOUTS = ("cutoutScience", "cutoutTemplate", "cutoutDifference")
# Staging history tables and the packet field each one flattens.
HISTORIES = (("prv_candidate", "prv_candidates"), ("fp_hist", "fp_hists"))

CUTOUT_SCHEMA = pa.schema([
    ("objectId", pa.string()), ("candid", pa.int64()), ("night", pa.int32()),
    ("cutoutScience", pa.binary()), ("cutoutTemplate", pa.binary()),
    ("cutoutDifference", pa.binary()),
])
ALERT_META = [
    ("objectId", pa.string()), ("candid", pa.int64()), ("schemavsn", pa.string()),
    ("publisher", pa.string()), ("night", pa.int32()), ("source", pa.string()),
    ("member", pa.string()), ("ingest_run_id", pa.string()),
    ("n_prv_candidates", pa.int32()), ("n_fp_hists", pa.int32()),
]
HISTORY_META = [("objectId", pa.string()), ("parent_candid", pa.int64())]


@dataclass
class Layout:
    """Column names and Arrow types of one writer schema, computed once per schema."""

    top: Fields
    candidate: Fields
    prv_candidate: Fields
    fp_hist: Fields

    @classmethod
    def of(cls, schema: dict) -> "Layout":
        return cls(top=flat_fields(schema), candidate=nested_fields(schema, "candidate"),
                   prv_candidate=nested_fields(schema, "prv_candidates"),
                   fp_hist=nested_fields(schema, "fp_hists"))


layout_of = layout_cache(Layout.of)


def validate(record: dict) -> None:
    candidate = record.get("candidate")
    if not isinstance(candidate, dict):
        raise InvalidAlert("alert has no candidate record")
    if not record.get("objectId"):
        raise InvalidAlert("alert has no objectId")
    if candidate.get("candid") is None and record.get("candid") is None:
        raise InvalidAlert("alert has no candid")
    if candidate.get("jd") is None:
        raise InvalidAlert("candidate has no jd")
    try:   # a jd that is no date (NaN, inf, 1e300) must not crash the night's decode
        night_of_jd(candidate["jd"])
    except (TypeError, ValueError, OverflowError):
        raise InvalidAlert(f"candidate jd {candidate['jd']!r} is not a date") from None


def _stamp(record: dict, name: str):
    cutout = record.get(name)
    return cutout.get("stampData") if isinstance(cutout, dict) else None


def parse(schema, alerts: Sequence[Packet], run_id: str) -> dict[str, pa.Table]:
    """Staging tables of validated packets of one writer schema (see module doc)."""
    layout = layout_of(schema)
    candidates = [record["candidate"] for _, record, _ in alerts]
    candids = [c.get("candid") if c.get("candid") is not None else r.get("candid")
               for (_, r, _), c in zip(alerts, candidates)]
    object_ids = [record["objectId"] for _, record, _ in alerts]
    meta = {
        "objectId": object_ids, "candid": candids,
        "schemavsn": [record.get("schemavsn") for _, record, _ in alerts],
        "publisher": [record.get("publisher") for _, record, _ in alerts],
        "night": [item.night or night_of_jd(c["jd"]) for (item, _, _), c in zip(alerts, candidates)],
        "source": [item.source for item, _, _ in alerts],
        "member": [item.member for item, _, _ in alerts],
        "ingest_run_id": [run_id] * len(alerts),
        "n_prv_candidates": [len(r.get("prv_candidates") or ()) for _, r, _ in alerts],
        "n_fp_hists": [len(r.get("fp_hists") or ()) for _, r, _ in alerts],
    }
    taken = {name for name, _ in ALERT_META} | {"avro"}
    candidate_fields = [(n, t) for n, t in layout.candidate if n not in taken]
    alert = append_columns(table(meta, ALERT_META), records_table(candidates, candidate_fields))
    if alerts and alerts[0][2] is not None:
        alert = alert.append_column(pa.field("avro", pa.binary()),
                                    pa.array([raw for _, _, raw in alerts], pa.binary()))
    tables = {"alert": alert}

    cutouts = {"objectId": object_ids, "candid": candids, "night": meta["night"]}
    for name in CUTOUTS:
        cutouts[name] = [_stamp(record, name) for _, record, _ in alerts]
    cutout = table(cutouts, list(zip(CUTOUT_SCHEMA.names, CUTOUT_SCHEMA.types)))
    # only alerts that carry stamps (the bronze table is landed as staged, see landing)
    present = pc.or_(pc.or_(pc.is_valid(cutout.column(CUTOUTS[0])),
                            pc.is_valid(cutout.column(CUTOUTS[1]))),
                     pc.is_valid(cutout.column(CUTOUTS[2])))
    tables["cutout"] = cutout.filter(present)

    for staged, key in HISTORIES:
        fields = getattr(layout, staged)
        if not fields:   # the schema has no such history (forced photometry before 4.x)
            continue
        entries, owners, parents = [], [], []
        for (_, record, _), oid, parent in zip(alerts, object_ids, candids):
            history = record.get(key) or ()
            entries.extend(history)
            owners.extend([oid] * len(history))
            parents.extend([parent] * len(history))
        history = table({"objectId": owners, "parent_candid": parents}, HISTORY_META)
        tables[staged] = append_columns(history, records_table(entries, fields))
    return tables
