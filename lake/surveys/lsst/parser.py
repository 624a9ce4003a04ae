"""Rubin packets (schemas 7.4 to 11.x, official or as brokers re-serve them) -> staging tables.

* ``alert``              one row per alert: ``candid`` (the triggering diaSourceId, the
                         generic alert key), the packet's top-level fields, the triggering
                         diaSource's fields as columns, origin, and the original bytes
* ``cutout``             one row per alert with stamps: the three FITS cutouts (plain bytes)
* ``dia_source``         the triggering diaSource (``has_stamp`` true) and every
                         ``prvDiaSources`` entry, with ``alert_id`` (the carrying alert)
* ``dia_forced_source``  every ``prvDiaForcedSources`` entry, with ``alert_id``
* ``dia_object``         the alert's diaObject, with ``alert_id`` and ``alert_mjd``
* ``ss_source``          the alert's ssSource (solar-system sources), with ``alert_id``
* ``ss_object``          the alert's ssObject (schema 7.x)
* ``mpc_orbits``         the alert's orbit (``mpc_orbits`` 10.0+, ``MPCORB`` 9.0)

Every per-record table has the canonical fields of its kind (``schemas.canonical``: every
version's fields, widest type), so every schema version stages into one table schema.
Fields a packet's writer schema has beyond them (a newer version) are appended.
An alert must have a diaSource record with a diaSourceId, a midpointMjdTai that is a date,
and an object: a diaObjectId (the diaSource's, else the diaObject's: the official sample
alerts leave the diaSource's null) or, for a solar-system source, an ssObjectId. Rubin
writes 0 for "no id" (real 10.0 alerts: ``diaObjectId`` 0 on solar-system sources); the
alert's resolved ``diaObjectId`` / ``ssObjectId`` columns hold null there, and the staged
sources carry the alert's resolved ids (``alert_dia_object_id``, ``alert_ss_object_id``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from lake.bronze.flatten import append_columns, layout_cache, records_table, table
from lake.surveys.base import InvalidAlert, Packet
from lake.surveys.lsst import schemas
from lake.surveys.lsst.night import day_obs

CUTOUTS = ("cutoutScience", "cutoutTemplate", "cutoutDifference")
# Staging table -> record kind, and where in a packet its records are.
PER_ALERT = (("dia_object", "diaObject"), ("ss_source", "ssSource"),
             ("ss_object", "ssObject"), ("mpc_orbits", "mpc_orbits"))
STAGING_TABLES = ("alert", "cutout", "dia_source", "dia_forced_source") + tuple(
    name for name, _ in PER_ALERT)
TOP_LEVEL = (("observation_reason", pa.string()), ("target_name", pa.string()))

ALERT_META = [
    ("candid", pa.int64()), ("objectId", pa.string()), ("diaObjectId", pa.int64()),
    ("ssObjectId", pa.int64()),
    ("schemavsn", pa.string()), ("night", pa.int32()),
    ("source", pa.string()), ("member", pa.string()), ("ingest_run_id", pa.string()),
    ("n_prv_dia_sources", pa.int32()), ("n_prv_dia_forced_sources", pa.int32()),
    *TOP_LEVEL,
]
CUTOUT_META = [("candid", pa.int64()), ("diaObjectId", pa.int64()), ("night", pa.int32())]
OWNER = [("alert_id", pa.int64()), ("alert_mjd", pa.float64()), ("alert_night", pa.int32()),
         ("alert_dia_object_id", pa.int64()), ("alert_ss_object_id", pa.int64())]


@dataclass
class Layout:
    """Fields of each record kind for one writer schema: the canonical ones, then what this
    writer has beyond them."""

    fields: dict[str, list[tuple[str, pa.DataType]]]
    version: str

    @classmethod
    def of(cls, schema: dict) -> "Layout":
        fields = {}
        for kind in schemas.KINDS:
            canonical = list(schemas.canonical(kind))
            known = {name for name, _ in canonical}
            extra = [(n, t) for n, t in schemas.flat_fields(schemas.kind_record(schema, kind))
                     if n not in known]
            fields[kind] = canonical + extra
        version = schemas.version_of(schema)
        return cls(fields, f"{version[0]}.{version[1]}" if version else None)


layout_of = layout_cache(Layout.of)


def validate(record: dict) -> None:
    source = record.get("diaSource")
    if not isinstance(source, dict):
        raise InvalidAlert("packet has no diaSource record (not a Rubin alert?)")
    if source.get("diaSourceId") is None:
        raise InvalidAlert("diaSource has no diaSourceId")
    mjd = source.get("midpointMjdTai")
    if not isinstance(mjd, (int, float)) or not math.isfinite(mjd) or not 0 < mjd < 2e5:
        raise InvalidAlert(f"diaSource midpointMjdTai {mjd!r} is not a date")
    if dia_object_id(record) is None and ss_object_id(record) is None:
        raise InvalidAlert("alert has neither a diaObjectId nor an ssObjectId")


def _id(value):
    return value if isinstance(value, int) and value != 0 else None


def dia_object_id(record: dict) -> int | None:
    """The alert's diaObjectId: its diaSource's, else its diaObject's; None for 0."""
    found = _id(record["diaSource"].get("diaObjectId"))
    if found is None and isinstance(record.get("diaObject"), dict):
        found = _id(record["diaObject"].get("diaObjectId"))
    return found


def object_key(dia_object: int | None, ss_object: int | None) -> str:
    """The alert's generic object id (``objectId``; the detection table's ``oid``): the
    diaObjectId as text, or ``ss<ssObjectId>`` for a solar-system source (never null, so
    that every alert names an object; the prefix keeps the two id spaces apart).

    >>> object_key(170028485706776685, None), object_key(None, 21163624394469969)
    ('170028485706776685', 'ss21163624394469969')
    """
    return str(dia_object) if dia_object is not None else f"ss{ss_object}"


def ss_object_id(record: dict) -> int | None:
    """The alert's ssObjectId (its diaSource's, else its ssSource's); None for 0."""
    found = _id(record["diaSource"].get("ssObjectId"))
    if found is None and isinstance(record.get("ssSource"), dict):
        found = _id(record["ssSource"].get("ssObjectId"))
    return found


def night_of_alert(record: dict) -> int:
    return day_obs(record["diaSource"]["midpointMjdTai"])


def _version(record: dict, layout: Layout) -> str | None:
    # brokers re-serve packets under their own record name and say the version in a field
    named = record.get("lsst_schema_version")
    if isinstance(named, str):
        version = schemas.version_of({"name": named})
        if version:
            return f"{version[0]}.{version[1]}"
    return layout.version


def _owned(records: list[dict], owners: list[tuple], fields) -> pa.Table:
    owner = table({name: [o[i] for o in owners] for i, (name, _) in enumerate(OWNER)}, OWNER)
    return append_columns(owner, records_table(records, fields))


def _kind_records(record: dict, kind: str) -> list[dict]:
    for name in schemas.KINDS[kind]:
        value = record.get(name)
        if isinstance(value, dict):
            return [value]
        if isinstance(value, list):
            return [v for v in value if isinstance(v, dict)]
    return []


def parse(schema, alerts: Sequence[Packet], run_id: str) -> dict[str, pa.Table]:
    """Staging tables of validated packets of one writer schema (see module doc)."""
    layout = layout_of(schema)
    sources = [record["diaSource"] for _, record, _ in alerts]
    candids = [s["diaSourceId"] for s in sources]
    mjds = [float(s["midpointMjdTai"]) for s in sources]
    nights = [item.night or day_obs(mjd) for (item, _, _), mjd in zip(alerts, mjds)]
    object_ids = [dia_object_id(record) for _, record, _ in alerts]
    ss_ids = [ss_object_id(record) for _, record, _ in alerts]
    meta = {
        "candid": candids, "diaObjectId": object_ids, "ssObjectId": ss_ids,
        "objectId": [object_key(o, ss) for o, ss in zip(object_ids, ss_ids)],
        "schemavsn": [_version(record, layout) for _, record, _ in alerts],
        "night": nights,
        "source": [item.source for item, _, _ in alerts],
        "member": [item.member for item, _, _ in alerts],
        "ingest_run_id": [run_id] * len(alerts),
        "n_prv_dia_sources": [len(r.get("prvDiaSources") or ()) for _, r, _ in alerts],
        "n_prv_dia_forced_sources": [len(r.get("prvDiaForcedSources") or ())
                                     for _, r, _ in alerts],
    }
    for name, _ in TOP_LEVEL:
        meta[name] = [r.get(name) if isinstance(r.get(name), str) else None
                      for _, r, _ in alerts]
    taken = {name for name, _ in ALERT_META} | {"avro"}
    source_fields = [(n, t) for n, t in layout.fields["diaSource"] if n not in taken]
    alert = append_columns(table(meta, ALERT_META), records_table(sources, source_fields))
    if alerts and alerts[0][2] is not None:
        alert = alert.append_column(pa.field("avro", pa.binary()),
                                    pa.array([raw for _, _, raw in alerts], pa.binary()))
    tables = {"alert": alert}

    cutouts = {"candid": candids, "diaObjectId": object_ids,
               "night": nights}
    for name in CUTOUTS:
        cutouts[name] = [r.get(name) if isinstance(r.get(name), bytes) else None
                         for _, r, _ in alerts]
    cutout = table(cutouts, CUTOUT_META + [(name, pa.binary()) for name in CUTOUTS])
    present = pc.or_(pc.or_(pc.is_valid(cutout.column(CUTOUTS[0])),
                            pc.is_valid(cutout.column(CUTOUTS[1]))),
                     pc.is_valid(cutout.column(CUTOUTS[2])))
    tables["cutout"] = cutout.filter(present)

    owners = list(zip(candids, mjds, nights, object_ids, ss_ids))
    # dia_source: the triggering source (has_stamp) first, then the history entries.
    entries, entry_owners, own = list(sources), list(owners), [True] * len(sources)
    for (_, record, _), owner in zip(alerts, owners):
        history = [s for s in (record.get("prvDiaSources") or ()) if isinstance(s, dict)]
        entries.extend(history)
        entry_owners.extend([owner] * len(history))
        own.extend([False] * len(history))
    dia_source = _owned(entries, entry_owners, layout.fields["diaSource"])
    tables["dia_source"] = dia_source.append_column(
        pa.field("has_stamp", pa.bool_()), pa.array(own, pa.bool_()))

    forced, forced_owners = [], []
    for (_, record, _), owner in zip(alerts, owners):
        history = _kind_records(record, "diaForcedSource")
        forced.extend(history)
        forced_owners.extend([owner] * len(history))
    if forced:
        tables["dia_forced_source"] = _owned(forced, forced_owners,
                                             layout.fields["diaForcedSource"])

    for staged, kind in PER_ALERT:
        records, record_owners = [], []
        for (_, record, _), owner in zip(alerts, owners):
            for entry in _kind_records(record, kind):
                # orbits (10.0+) do not name the ssObject; the alert's source does
                if kind == "mpc_orbits" and entry.get("ssObjectId") is None:
                    entry = {**entry, "ssObjectId": owner[4]}
                records.append(entry)
                record_owners.append(owner)
        if records:
            tables[staged] = _owned(records, record_owners, layout.fields[kind])
    return tables
