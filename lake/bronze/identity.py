"""Identity conflicts: an alert id staged under another object or night than it holds.

An alert id (ZTF's ``candid``) names one alert for good. When a night's staging holds an
alert id that the lake already holds under another object id or another night (a
re-ingest under the wrong ``--night``, a corrupted or forged dump), or that the staging
holds twice so, landing it would rewrite or duplicate a landed alert. Neither copy is
chosen silently: the landed alert stays as it is, the first staged copy by the ``alert``
table's priority (source, member) lands when nothing holds the id yet, and every other
copy goes to ``quarantine`` with the reason and its Avro bytes; its rows are removed from
every staging table (``Survey.alert_link``), so no cutout, detection or history of it
lands either.

The first copy landed is the one kept: a lake fed two conflicting dumps keeps the copy of
the dump landed first and quarantines the other.

The check reads the narrow id columns only: of the staging (this night's alerts) and of
the whole ``alert`` table, every night (the landed copy may sit under any night), with
the staged ids as a filter.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lake import delta, storage
from lake.bronze.decode import QUARANTINE_SCHEMA
from lake.delta.append import staged_narrow
from lake.delta.priority import first_by_priority
from lake.surveys.base import Survey
from lake.tables import TABLES

log = logging.getLogger(__name__)

ERROR_CLASS = "IdentityConflict"


@dataclass(frozen=True)
class Conflict:
    """One staged copy of an alert that must not land, and why."""
    alert_id: int
    object_id: str
    source: str
    member: str
    night: int
    reason: str


def find_conflicts(staged: pd.DataFrame, landed: pd.DataFrame, survey: Survey
                   ) -> list[Conflict]:
    """The staged copies (rows of ``staged``: alert id, object id, night, source, member,
    ``_file``, ``_row``) that conflict with ``landed`` (alert id, object id, night of the
    lake's alerts) or with the copy of the same id that wins in the staging.

    >>> from lake import surveys
    >>> ztf = surveys.get("ztf")
    >>> staged = pd.DataFrame({"candid": [1, 2, 2], "objectId": ["A", "B", "C"],
    ...     "night": [20240101] * 3, "source": ["s"] * 3, "member": ["a", "b", "c"],
    ...     "_file": [0, 0, 0], "_row": [0, 1, 2]})
    >>> landed = pd.DataFrame({"candid": [1], "objectId": ["Z"], "night": [20231231]})
    >>> [(c.alert_id, c.member) for c in find_conflicts(staged, landed, ztf)]
    [(1, 'a'), (2, 'c')]
    """
    aid, oid = survey.alert_id, survey.object_id
    if staged.empty:
        return []
    # Whom each staged copy is compared with: the landed copy when the lake holds the id,
    # else the staging's first copy by priority (which is compared with nothing).
    held = landed.drop_duplicates(aid)[[aid, oid, "night"]].assign(
        _where="already landed")
    first = first_by_priority(staged, TABLES["alert"])
    first = first[[aid, oid, "night", "source", "member", "_file", "_row"]].rename(
        columns={"_file": "_first_file", "_row": "_first_row"})
    first["_where"] = "also staged from " + first["source"] + ":" + first["member"]
    first = first[~first[aid].isin(held[aid])].drop(columns=["source", "member"])
    other = pd.concat([held, first], ignore_index=True).rename(
        columns={oid: "_other_object", "night": "_other_night"})
    rows = staged.merge(other, on=aid, how="left")
    is_first = (rows["_file"] == rows["_first_file"]) & (rows["_row"] == rows["_first_row"])
    differs = ((rows[oid] != rows["_other_object"])
               | (rows["night"].astype("int64") != rows["_other_night"].astype("int64")))
    rows = rows[differs & ~is_first]
    return [Conflict(int(r[aid]), r[oid], r["source"], r["member"], int(r["night"]),
                     _reason(r[aid], r[oid], r["night"], r["_other_object"],
                             r["_other_night"], r["_where"]))
            for r in rows.to_dict("records")]


def _reason(alert_id, object_id, night, other_object, other_night, where: str) -> str:
    if object_id != other_object:
        return f"alert {alert_id} of object {object_id} is {where} under object {other_object}"
    return f"alert {alert_id} of night {night} is {where} under night {other_night}"


def set_aside(config, survey: Survey, staging: str, staged, run_id: str) -> int:
    """Find the staging's identity conflicts, move their rows out of every staging table
    and into the staged quarantine (``staged``: ``lake.stages.ingest.Staged``, whose row
    counts and schemas are updated). Returns how many alerts were set aside."""
    alert_files = storage.list_files(config, storage.join(staging, "alert"))
    if not alert_files:
        return 0
    columns = [survey.alert_id, survey.object_id, "night", "source", "member"]
    narrow = staged_narrow(config, alert_files, columns)
    landed = _landed(config, survey, narrow[survey.alert_id].unique().tolist())
    conflicts = find_conflicts(narrow, landed, survey)
    if not conflicts:
        return 0
    by_copy = {(c.source, c.member, c.alert_id): c for c in conflicts}
    quarantined = _remove_alerts(config, alert_files, survey.alert_id, by_copy, run_id)
    staged.rows["alert"] -= len(quarantined)
    # The other staging tables name a row's alert by id and object (and night where they
    # have it): a copy set aside takes the rows only it has, not those of a kept copy of
    # the same alert.
    aid, oid = survey.alert_id, survey.object_id
    kept = narrow[~narrow.set_index(["source", "member", aid]).index.isin(list(by_copy))]
    for name in survey.staging_tables:
        if name == "alert":
            continue
        files = storage.list_files(config, storage.join(staging, name))
        if files:
            staged.rows[name] -= _remove_rows(config, files, survey.alert_link(name), aid,
                                              oid, conflicts, kept)
    rows = pa.Table.from_pylist(quarantined, schema=QUARANTINE_SCHEMA)
    folder = storage.join(staging, "quarantine")
    storage.make_dirs(config, folder)   # none when decoding quarantined nothing
    _write(config, storage.join(folder, f"identity-{run_id}.parquet"), rows)
    staged.rows["quarantine"] += rows.num_rows
    staged.schemas.setdefault("quarantine", []).append(QUARANTINE_SCHEMA)
    for conflict in conflicts[:5]:
        log.warning("quarantined: %s (%s:%s)", conflict.reason, conflict.source, conflict.member)
    log.warning("%d staged alert(s) quarantined as identity conflicts (%s)", len(conflicts),
                ERROR_CLASS)
    return len(conflicts)


def _landed(config, survey: Survey, alert_ids: list) -> pd.DataFrame:
    """Alert id, object id and night of the lake's alerts among ``alert_ids``, every night."""
    import pyarrow.dataset as ds

    columns = [survey.alert_id, survey.object_id, "night"]
    if not delta.table_exists(config, "alert"):
        return pd.DataFrame(columns=columns)
    dataset = delta.delta_table(config, "alert").to_pyarrow_dataset()
    return dataset.to_table(columns=columns,
                            filter=ds.field(survey.alert_id).isin(alert_ids)).to_pandas()


def _remove_alerts(config, files: list[str], alert_id: str, by_copy: dict, run_id: str
                   ) -> list[dict]:
    """Drop the conflicting copies from the staged alert files; their quarantine rows."""
    quarantined = []
    for uri in files:
        filesystem, path = storage.arrow_filesystem(config, uri)
        part = pq.read_table(path, filesystem=filesystem)
        keys = zip(part.column("source").to_pylist(), part.column("member").to_pylist(),
                   part.column(alert_id).to_pylist())
        drop = [by_copy.get(key) for key in keys]
        if not any(drop):
            continue
        raw = (part.column("avro").to_pylist() if "avro" in part.column_names
               else [None] * part.num_rows)
        for conflict, data in zip(drop, raw):
            if conflict is not None:
                quarantined.append(_quarantine_row(conflict, data, run_id))
        _write(config, uri, part.filter(pa.array([c is None for c in drop])))
    return quarantined


def _remove_rows(config, files: list[str], link: str, aid: str, oid: str,
                 conflicts: list[Conflict], kept: pd.DataFrame) -> int:
    """Drop the rows of staged files that belong to set-aside copies only; how many."""
    filesystem, path = storage.arrow_filesystem(config, files[0])
    schema = pq.read_schema(path, filesystem=filesystem)
    columns = [link] + [c for c in (oid, "night") if c in schema.names]
    gone = pd.DataFrame({link: [c.alert_id for c in conflicts],
                         oid: [c.object_id for c in conflicts],
                         "night": [c.night for c in conflicts]})[columns]
    survivors = kept.rename(columns={aid: link})[columns]
    gone = pd.MultiIndex.from_frame(gone.drop_duplicates()).difference(
        pd.MultiIndex.from_frame(survivors.drop_duplicates()))
    if gone.empty:
        return 0
    ids = pa.array(sorted(set(gone.get_level_values(0))), pa.int64())
    removed = 0
    for uri in files:
        filesystem, path = storage.arrow_filesystem(config, uri)
        if not pc.any(pc.is_in(pq.read_table(path, columns=[link], filesystem=filesystem)
                               .column(link), value_set=ids)).as_py():
            continue
        part = pq.read_table(path, filesystem=filesystem)
        hit = pd.MultiIndex.from_frame(part.select(columns).to_pandas()).isin(gone)
        removed += int(hit.sum())
        _write(config, uri, part.filter(pa.array(~hit)))
    return removed


def _quarantine_row(conflict: Conflict, data: bytes | None, run_id: str) -> dict:
    data = data or b""
    message = conflict.reason + ("" if data else " (its Avro bytes were not kept: "
                                 "ingest.keep_raw_avro or a file of several alerts)")
    return {"source": conflict.source, "member": conflict.member, "night": conflict.night,
            "error_class": ERROR_CLASS, "error_message": message, "size_bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(), "raw": data, "ingest_run_id": run_id}


def _write(config, uri: str, table: pa.Table) -> None:
    filesystem, path = storage.arrow_filesystem(config, uri)
    pq.write_table(table, path, filesystem=filesystem)
