"""Decode raw alert files into flat, columnar staging tables (pure Python + Arrow).

This is the only per-alert Python work of the ingest; it runs in worker processes
(``lake.stages.ingest``) because Python work inside the embedded engine's UDFs is
serialized by one interpreter lock. The loop here is survey-agnostic: the survey
(``lake.surveys``) reads each file's packets, validates them and flattens the packets
of one writer schema into its staging tables (ZTF: ``alert``, ``cutout``,
``prv_candidate``, ``fp_hist``; see ``lake.surveys.ztf.parser``), with the flattening
machinery of ``lake.bronze.flatten``. On top comes the generic

* ``quarantine``     one row per unreadable or invalid file, with the raw bytes.
"""
from __future__ import annotations

import hashlib
from typing import Iterable

import pyarrow as pa

from lake import surveys
from lake.sources import SourceItem
from lake.sources.avro import AvroError
from lake.surveys.base import InvalidAlert, Packet, Survey, staging_tables

# The default survey's staging tables (the ingest reads them in this order).
STAGING_TABLES = staging_tables(surveys.get())

QUARANTINE_SCHEMA = pa.schema([
    ("source", pa.string()), ("member", pa.string()), ("night", pa.int32()),
    ("error_class", pa.string()), ("error_message", pa.string()),
    ("size_bytes", pa.int64()), ("sha256", pa.string()), ("raw", pa.binary()),
    ("ingest_run_id", pa.string()),
])

__all__ = ["InvalidAlert", "NightMismatch", "QUARANTINE_SCHEMA", "STAGING_TABLES", "decode_items",
           "quarantine_row"]


def quarantine_row(item: SourceItem, error_class: str, message: str, run_id: str) -> dict:
    return {"source": item.source, "member": item.member, "night": item.night,
            "error_class": error_class, "error_message": message[:2000],
            "size_bytes": len(item.data), "sha256": hashlib.sha256(item.data).hexdigest(),
            "raw": item.data, "ingest_run_id": run_id}


class NightMismatch(InvalidAlert):
    """A packet observed outside the night its file was given (``--night`` or the
    archive's name): landing it would file it under the wrong night."""


def check_night(survey: Survey, record: dict, night: int, margin_days: float) -> None:
    """Raise :class:`NightMismatch` unless the packet's observation time lies in the
    survey's window of ``night`` widened by ``margin_days`` on each side
    (``quality.night_margin_days``, the tolerance the night's quality gate uses too)."""
    start, end = survey.night_window(night)
    mjd = survey.alert_mjd(record)
    if not (start - margin_days <= mjd < end + margin_days):
        raise NightMismatch(
            f"observed at MJD {mjd:.5f}, outside night {night} (MJD {start:g} to {end:g}, "
            f"+- {margin_days:g} d): wrong --night or archive name?")


def decode_items(items: Iterable[SourceItem], run_id: str, keep_raw_avro: bool = True,
                 survey: Survey | None = None, night_margin_days: float | None = 0.25
                 ) -> dict[str, pa.Table]:
    """Decode alert files into staging tables (see module doc). Never raises for bad
    input: what cannot be decoded or validated becomes a quarantine row, and so does a
    file given a night its packets were not observed in (``check_night``; None: no check).
    ``survey``: whose packets these are (default: ``lake.surveys.DEFAULT``)."""
    survey = survey or surveys.get()
    groups: dict[int, tuple[object, list[Packet]]] = {}
    quarantined: list[dict] = []
    for item in items:
        if item.error:
            error_class, _, message = item.error.partition(": ")
            quarantined.append(quarantine_row(item, error_class, message, run_id))
            continue
        try:
            schema, records = survey.read_packets(item.data, item.max_decoded_bytes)
            for record in records:
                survey.validate(record)
                if item.night is not None and night_margin_days is not None:
                    check_night(survey, record, item.night, night_margin_days)
        except (AvroError, InvalidAlert) as error:
            quarantined.append(quarantine_row(item, type(error).__name__, str(error), run_id))
            continue
        group = groups.get(schema.key)
        if group is None:
            group = groups[schema.key] = (schema, [])
        raw = item.data if keep_raw_avro and len(records) == 1 else None
        for record in records:
            group[1].append((item, record, raw))

    pieces: dict[str, list[pa.Table]] = {name: [] for name in staging_tables(survey)}
    for schema, packets in groups.values():
        for name, table in survey.parse(schema, packets, run_id).items():
            pieces[name].append(table)
    pieces["quarantine"].append(pa.Table.from_pylist(quarantined, schema=QUARANTINE_SCHEMA))
    return {name: pa.concat_tables(tables, promote_options="permissive")
            for name, tables in pieces.items() if tables}
