"""The streamed append: staged Parquet landed without the engine, in one commit.

Used for the bronze tables the ingest lands as staged (``lake.bronze.landing.AS_STAGED``:
alert, cutout, quarantine), which hold a night's bulk (Avro bytes and cutouts, ~24 kB an
alert): a MERGE or a partitioned write in the engine joins or sorts the whole batch.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import deltalake
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lake import engine, storage
from lake.delta.datafiles import PartitionedWriter
from lake.delta.priority import first_by_priority, priority_columns
from lake.delta.read import delta_table, table_exists
from lake.delta.schema import add_columns
from lake.engine import locks
from lake.tables import TABLES, Table

log = logging.getLogger(__name__)


def append_staged(config: dict, name: str, files: list[str], schema: pa.Schema,
                  consume: bool = False) -> dict | None:
    """Land staged Parquet ``files`` (rows of table ``name``, schema ``schema``) without the
    engine: the same rows a MERGE would insert, copied file by file into new data files
    (pyarrow) and committed as one append (delta-rs), so memory stays bounded by one
    staged file however large the night.

    Duplicates are resolved on the narrow key and priority columns only, by the table's
    priority (``priority.first_by_priority``; ties: the first staged row). Returns None,
    writing nothing, when some staged row outranks a row the table holds: the caller then
    MERGEs. ``consume``: delete each staged file once streamed (a night's cutouts are
    ~18 GB a million alerts; without this the disk holds them three times: source,
    staging, table).

    Also None where tables are written only by the engine
    (``engine.table_writes_through_engine``: a cluster's delta-spark): the caller's MERGE
    is then the one write.
    """
    if engine.table_writes_through_engine(config):
        return None
    with locks.table_lock(config, name):
        return _append_staged(config, name, files, schema, consume)


@dataclass
class AppendPlan:
    """What a streamed append copies: the rows ``keep[i]`` of staged file ``i``, in the
    table's schema ``target`` (its columns, then the new ones ``new_fields``)."""
    keep: dict[int, np.ndarray]
    target: pa.Schema
    new_fields: list[pa.Field]
    exists: bool
    rows: int


def plan_append(config: dict, name: str, files: list[str], schema: pa.Schema
                ) -> AppendPlan | None:
    """Which staged rows to append, decided on the narrow key, priority and partition
    columns: one per key (the first by priority), none whose key the table holds. None
    when a staged row outranks a held one (a MERGE's job)."""
    table = TABLES[name]
    narrow_columns = list(dict.fromkeys([*table.keys, *priority_columns(table),
                                         *table.partition_by]))
    staged = staged_narrow(config, files, narrow_columns)
    winners = first_by_priority(staged, table)
    exists = table_exists(config, name)
    target, new_fields = schema, []
    if exists:
        current = pa.schema(delta_table(config, name).schema().to_arrow())
        new_fields = [f for f in schema if f.name not in current.names]
        target = pa.schema(list(current) + new_fields)
        held = _held_rows(config, name, winners, narrow_columns, table)
        if len(held):
            keys = list(table.keys)
            marked = winners.merge(held[keys].drop_duplicates(), on=keys, how="left",
                                   indicator="_held")
            rivals = marked[marked["_held"] == "both"].drop(columns="_held")
            # the held row sorts before a staged one it ties with: a tie never replaces
            both = pd.concat([held.assign(_file=-1, _row=-1), rivals], ignore_index=True)
            if (first_by_priority(both, table)["_file"] >= 0).any():
                return None
            winners = marked[marked["_held"] == "left_only"].drop(columns="_held")
    keep = {i: np.sort(rows.to_numpy()) for i, rows in winners.groupby("_file")["_row"]}
    return AppendPlan(keep, target, new_fields, exists, len(winners))


def planned_rows(config: dict, files: list[str], plan: AppendPlan, consume: bool = False):
    """The planned rows, staged file by staged file, in the plan's schema (a generator of
    pyarrow tables; a consumed staged file is deleted once read)."""
    for i, staged_uri in enumerate(files):
        if i not in plan.keep:
            continue
        filesystem, path = storage.arrow_filesystem(config, staged_uri)
        part = pq.read_table(path, filesystem=filesystem)
        if len(plan.keep[i]) < part.num_rows:
            part = part.take(pa.array(plan.keep[i]))
        yield pa.Table.from_arrays(
            [part.column(f.name).cast(f.type) if f.name in part.column_names
             else pa.nulls(part.num_rows, f.type) for f in plan.target], schema=plan.target)
        del part
        if consume:
            storage.delete_file(config, staged_uri)


def _append_staged(config: dict, name: str, files: list[str], schema: pa.Schema,
                   consume: bool):
    table = TABLES[name]
    plan = plan_append(config, name, files, schema)
    if plan is None:
        return None
    if not plan.keep:
        return {"version": delta_table(config, name).version(), "inserted": 0, "updated": 0}
    if plan.new_fields:
        add_columns(delta_table(config, name), name, plan.new_fields)
    uri = storage.table_uri(config, name)
    log.info("%s: appending %d staged rows", name, plan.rows)
    with PartitionedWriter(config, uri, plan.target, table.partition_by, table.keys) as writer:
        for rows in planned_rows(config, files, plan, consume):
            writer.write(rows)
        actions = writer.finish()
        if plan.exists:
            delta_table(config, name).create_write_transaction(
                actions, "append", plan.target, list(table.partition_by) or None)
        else:
            deltalake.transaction.create_table_with_add_actions(
                uri, deltalake.Schema.from_arrow(plan.target), actions, "error",
                list(table.partition_by) or None,
                storage_options=storage.delta_storage_options(config))
    return {"version": delta_table(config, name).version(), "inserted": plan.rows,
            "updated": 0}


def staged_narrow(config: dict, files: list[str], columns: list[str]) -> pd.DataFrame:
    """The ``columns`` (e.g. key, priority and partition) of every row of staged Parquet
    ``files``, with its file index ``_file`` and row ``_row`` in that file."""
    parts = []
    for i, uri in enumerate(files):
        filesystem, path = storage.arrow_filesystem(config, uri)
        part = pq.read_table(path, columns=columns, filesystem=filesystem).to_pandas()
        parts.append(part.assign(_file=i, _row=np.arange(len(part))))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def _held_rows(config: dict, name: str, staged: pd.DataFrame, columns: list[str],
               table: Table) -> pd.DataFrame:
    """The table's rows (narrow columns) whose key is among the staged keys."""
    import pyarrow.dataset as ds

    dataset = delta_table(config, name).to_pyarrow_dataset()
    condition = None
    for column in table.partition_by:      # partition pruning: only the nights touched
        values = staged[column].dropna().unique().tolist()
        if values:
            term = ds.field(column).isin(values)
            condition = term if condition is None else condition & term
    key = table.keys[0]
    term = ds.field(key).isin(staged[key].dropna().unique().tolist())
    condition = term if condition is None else condition & term
    held = dataset.to_table(columns=[c for c in columns if c in dataset.schema.names],
                            filter=condition).to_pandas()
    return held.merge(staged[list(table.keys)].drop_duplicates(), on=list(table.keys))
