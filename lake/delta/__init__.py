"""Writing DataFrames to the lake's Delta tables: one MERGE commit per table per run.

``merge_into`` is the single write path of the pipeline:

1. duplicates inside the batch are resolved by the table's key and priority;
2. a new table is created by the write itself (one commit);
3. an existing table first gains any new columns (metadata-only, history untouched),
   then the batch is MERGEd on the key: new keys inserted, an existing key replaced
   only by a row of higher priority. When no batch row outranks an existing one (the
   usual night: new alerts, history copies already landed), the same result is written
   as an append of the new keys, which streams the rows instead of joining them whole.
   Either way one atomic Delta commit: a killed run leaves each table either before or
   after, never half-written, and re-running changes nothing.

``append_staged`` is the second write path, for the bronze bulk (Avro bytes, cutouts):
the same rows as ``merge_into`` would insert, decided on the narrow key and priority
columns, copied from the staging files without the engine, in one commit.

``update_columns`` is the third, for derived columns of rows already landed (the
detection corrections): the data files holding a changed row are rewritten one at a
time and swapped in one commit, so memory does not grow with the table.
"""
from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import deltalake
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from lake import engine, storage
from lake.engine import locks
from lake.tables import TABLES, Table

log = logging.getLogger(__name__)


def deduplicate(frame, table: Table):
    """Keep one row per key: the first by the table's priority (then by every column,
    so that the choice never depends on row order)."""
    from pyspark.sql import Window, functions as F

    # Most batches hold no duplicate key: checking on the key columns alone is far
    # cheaper than ranking whole rows (alerts carry their Avro bytes).
    if frame.groupBy(*table.keys).count().filter("count > 1").isEmpty():
        return frame
    order = [F.col(c).desc_nulls_last() if desc else F.col(c).asc_nulls_first()
             for c, desc in table.priority]
    order += [F.col(c).asc_nulls_first() for c in frame.columns
              if c not in table.keys and c not in dict(table.priority)
              and _orderable(frame.schema[c].dataType)]
    window = Window.partitionBy(*table.keys).orderBy(*order)
    return (frame.withColumn("_rank", F.row_number().over(window))
            .filter("_rank = 1").drop("_rank"))


def _orderable(data_type) -> bool:
    from pyspark.sql import types as T

    return not isinstance(data_type, (T.BinaryType, T.ArrayType, T.MapType, T.StructType))


def table_exists(config: dict, name: str) -> bool:
    return deltalake.DeltaTable.is_deltatable(storage.table_uri(config, name),
                                              storage.delta_storage_options(config))


def read_table(spark, config: dict, name: str, version: int | None = None):
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(engine.spark_path(config, storage.table_uri(config, name)))


def delta_table(config: dict, name: str) -> deltalake.DeltaTable:
    return deltalake.DeltaTable(storage.table_uri(config, name),
                                storage_options=storage.delta_storage_options(config))


def _arrow_fields(spark_fields) -> list[pa.Field]:
    from pyspark.sql.pandas.types import to_arrow_type

    return [pa.field(f.name, to_arrow_type(f.dataType), True) for f in spark_fields]


def _better(table: Table) -> str:
    """SQL condition: the source row s outranks the target row t."""
    clauses, ties = [], []
    for column, descending in table.priority:
        s, t = f"s.`{column}`", f"t.`{column}`"
        # NULL ranks first ascending and last descending, as in deduplicate().
        if descending:
            wins = f"({s} IS NOT NULL AND ({t} IS NULL OR {s} > {t}))"
        else:
            wins = f"({s} IS NULL AND {t} IS NOT NULL) OR ({s} < {t})"
        clauses.append("(" + " AND ".join(ties + [f"({wins})"]) + ")")
        ties.append(f"({s} <=> {t})")
    return " OR ".join(clauses)


def _literal(value: Any) -> str:
    return repr(value) if isinstance(value, (int, float)) else "'" + str(value).replace("'", "''") + "'"


def merge_into(spark, config: dict, name: str, frame) -> dict[str, int]:
    """MERGE ``frame`` into table ``name`` (created if missing); returns row counts.
    Runs under the table's lock (see ``lake.engine.locks``)."""
    with locks.table_lock(config, name):
        return _merge_into(spark, config, name, frame)


def _merge_into(spark, config: dict, name: str, frame) -> dict[str, int]:
    from pyspark.sql import functions as F

    table = TABLES[name]
    uri = storage.table_uri(config, name)
    path = engine.spark_path(config, uri)
    batch = deduplicate(frame, table)

    if not table_exists(config, name):
        writer = batch.write.format("delta").mode("error")
        if table.partition_by:
            writer = writer.partitionBy(*table.partition_by)
        writer.save(path)
        return _last_commit_counts(config, name)

    version_before = delta_table(config, name).version()
    target_types = _target_types(config, name)
    new_fields = [f for f in batch.schema.fields if f.name not in target_types]
    if new_fields:
        log.info("%s: adding columns %s", name, [f.name for f in new_fields])
        engine.add_columns(spark, config, uri, _arrow_fields(new_fields))
        _wait_for_columns(spark, config, name, [f.name for f in new_fields])
        target_types.update({f.name: f.dataType for f in new_fields})
    batch = batch.select([F.col(c).cast(target_types[c]).alias(c) for c in batch.columns])

    prune = _partition_filter(batch, table)
    files_before = set(delta_table(config, name).file_uris()) if new_fields else set()
    if not table.replace and not _any_winner(spark, path, batch, table, prune):
        counts = _append_new_keys(spark, config, name, batch, table, prune, target_types,
                                  version_before)
    else:
        counts = _merge(spark, config, name, batch, table, prune, version_before)
    if new_fields:
        _check_written_columns(config, name, files_before, [f.name for f in new_fields])
    return counts


def _partition_filter(batch, table: Table) -> dict[str, list]:
    """The partition values the batch touches (to prune the target to them)."""
    prune = {}
    for column in table.partition_by:
        values = [r[0] for r in batch.select(column).distinct().collect()]
        if values and all(v is not None for v in values):
            prune[column] = sorted(values)
    return prune


def _target_condition(prune: dict[str, list], alias: str = "t") -> str:
    return " AND ".join(f"{alias}.`{c}` IN ({', '.join(_literal(v) for v in values)})"
                        for c, values in prune.items())


def _temp_view(frame, prefix: str) -> str:
    view = f"{prefix}_{uuid.uuid4().hex[:8]}"
    frame.createOrReplaceTempView(view)
    return view


def _any_winner(spark, path: str, batch, table: Table, prune: dict) -> bool:
    """Does any batch row outrank the table's row of the same key? Decided on the key
    and priority columns only (narrow), so that the common case, a night of new keys and
    history copies the table already holds, needs no MERGE of whole rows."""
    if not table.priority:
        return False  # without a priority, an existing key is never replaced
    narrow = list(table.keys) + [c for c, _ in table.priority if c not in table.keys]
    view = _temp_view(batch.select(*narrow), "winner_source")
    columns = ", ".join(f"`{c}`" for c in narrow)
    where = f"WHERE {_target_condition(prune)}" if prune else ""
    on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in table.keys)
    try:
        return bool(spark.sql(
            f"SELECT 1 FROM {view} s JOIN (SELECT {columns} FROM delta.`{path}` t {where}) t "
            f"ON {on} WHERE {_better(table)} LIMIT 1").collect())
    finally:
        spark.catalog.dropTempView(view)


def _append_new_keys(spark, config: dict, name: str, batch, table: Table, prune: dict,
                     target_types: dict, version_before: int) -> dict[str, int]:
    """Insert the batch rows whose key the table lacks, as one append commit: the
    same result as the MERGE when no existing row is replaced, but the wide rows are
    only streamed (anti-join against the table's keys), never joined whole."""
    from pyspark.sql import functions as F

    path = engine.spark_path(config, storage.table_uri(config, name))
    columns = ", ".join(f"`{k}`" for k in table.keys)
    where = f" WHERE {_target_condition(prune)}" if prune else ""
    existing = spark.sql(f"SELECT {columns} FROM delta.`{path}` t{where}")
    rows = batch.join(existing, list(table.keys), "left_anti")
    # Columns in the table's order; a column the batch lacks is NULL, as MERGE inserts.
    rows = rows.select([F.col(c) if c in batch.columns else F.lit(None).cast(t).alias(c)
                        for c, t in target_types.items()])
    if rows.isEmpty():
        return {"version": version_before, "inserted": 0, "updated": 0}
    writer = rows.write.format("delta").mode("append")
    if table.partition_by:
        writer = writer.partitionBy(*table.partition_by)
    writer.save(path)
    return _last_commit_counts(config, name)


def _merge(spark, config: dict, name: str, batch, table: Table, prune: dict,
           version_before: int) -> dict[str, int]:
    path = engine.spark_path(config, storage.table_uri(config, name))
    view = _temp_view(batch, f"merge_source_{name}")
    on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in table.keys)
    if prune:
        on += " AND " + _target_condition(prune)
    columns = ", ".join(f"`{c}`" for c in batch.columns)
    values = ", ".join(f"s.`{c}`" for c in batch.columns)
    sql = f"MERGE INTO delta.`{path}` AS t USING {view} AS s ON {on}\n"
    updates = ", ".join(f"t.`{c}` = s.`{c}`" for c in batch.columns)
    if table.replace:
        sql += (f"WHEN MATCHED AND NOT ({_same(batch.columns, batch.schema)}) "
                f"THEN UPDATE SET {updates}\n")
    elif table.priority:
        sql += f"WHEN MATCHED AND ({_better(table)}) THEN UPDATE SET {updates}\n"
    sql += f"WHEN NOT MATCHED THEN INSERT ({columns}) VALUES ({values})"
    return _run_merge(spark, config, name, view, sql, version_before)


def append_staged(config: dict, name: str, files: list[str], schema: pa.Schema,
                  consume: bool = False) -> dict | None:
    """Land staged Parquet ``files`` (rows of table ``name``, schema ``schema``) without the
    engine: the same rows a MERGE would insert, copied file by file into new data files
    (pyarrow) and committed as one append (delta-rs), so memory stays bounded by one
    staged file however large the night.

    This is the write path of the bronze tables, which hold a night's bulk (Avro bytes and
    cutouts, ~24 kB an alert): a MERGE or a partitioned write in the engine joins or sorts
    the whole batch. Duplicates are resolved on the narrow key and priority columns only,
    as ``deduplicate`` does (ties: the first staged row). Returns None, writing nothing,
    when some staged row outranks a row the table holds: the caller then MERGEs.
    ``consume``: delete each staged file once streamed (a night's cutouts are ~18 GB a
    million alerts; without this the disk holds them three times: source, staging, table).
    """
    with locks.table_lock(config, name):
        return _append_staged(config, name, files, schema, consume)


def _append_staged(config: dict, name: str, files: list[str], schema: pa.Schema,
                   consume: bool):
    table = TABLES[name]
    priority = [c for c, _ in table.priority if c not in table.keys]
    narrow_columns = list(dict.fromkeys([*table.keys, *priority, *table.partition_by]))
    staged = _staged_narrow(config, files, narrow_columns)
    winners = _first_by_priority(staged, table)
    exists = table_exists(config, name)
    target = schema
    if exists:
        current = pa.schema(delta_table(config, name).schema().to_arrow())
        target = pa.schema(list(current) + [f for f in schema if f.name not in current.names])
        held = _held_rows(config, name, winners, narrow_columns, table)
        if len(held):
            keys = list(table.keys)
            marked = winners.merge(held[keys].drop_duplicates(), on=keys, how="left",
                                   indicator="_held")
            rivals = marked[marked["_held"] == "both"].drop(columns="_held")
            both = pd.concat([held.assign(_file=-1, _row=-1), rivals], ignore_index=True)
            if (_first_by_priority(both, table)["_file"] >= 0).any():
                return None       # a staged row replaces a held one: a MERGE's job
            winners = marked[marked["_held"] == "left_only"].drop(columns="_held")
    keep = {i: np.sort(rows.to_numpy()) for i, rows in winners.groupby("_file")["_row"]}
    if not keep:
        return {"version": delta_table(config, name).version(), "inserted": 0, "updated": 0}

    new_fields = [f for f in target if exists and f.name not in current.names]
    if new_fields:
        _add_columns(delta_table(config, name), name, new_fields)
    uri = storage.table_uri(config, name)
    log.info("%s: appending %d staged rows", name, len(winners))
    with _PartitionedWriter(config, uri, target, table.partition_by, table.keys) as writer:
        for i, staged_uri in enumerate(files):
            if i not in keep:
                continue
            filesystem, path = storage.arrow_filesystem(config, staged_uri)
            part = pq.read_table(path, filesystem=filesystem)
            if len(keep[i]) < part.num_rows:
                part = part.take(pa.array(keep[i]))
            writer.write(pa.Table.from_arrays(
                [part.column(f.name).cast(f.type) if f.name in part.column_names
                 else pa.nulls(part.num_rows, f.type) for f in target], schema=target))
            del part
            if consume:
                storage.delete_file(config, staged_uri)
        actions = writer.finish()
        if exists:
            delta_table(config, name).create_write_transaction(
                actions, "append", target, list(table.partition_by) or None)
        else:
            deltalake.transaction.create_table_with_add_actions(
                uri, deltalake.Schema.from_arrow(target), actions, "error",
                list(table.partition_by) or None,
                storage_options=storage.delta_storage_options(config))
    return {"version": delta_table(config, name).version(), "inserted": len(winners),
            "updated": 0}


def _add_columns(target: deltalake.DeltaTable, name: str, fields: list[pa.Field]) -> None:
    """New nullable columns in a metadata-only commit (history untouched), made before the
    data commit as the MERGE path does."""
    log.info("%s: adding columns %s", name, [f.name for f in fields])
    target.alter.add_columns([deltalake.Field.from_arrow(f.with_nullable(True)) for f in fields])


def _partition_text(value) -> str | None:
    """A partition value as the Delta log holds it."""
    return None if value is None else str(value)


class _PartitionedWriter:
    """Parquet data files of a Delta table, one open file per partition value, rolled at
    ``target_bytes``; ``finish`` returns their add actions (with row counts and the key
    columns' min/max for data skipping). Files of a write that fails are deleted: never
    committed, they would only be litter.

    Written with pyarrow rather than delta-rs's writer (2-3x faster here): gzipped FITS
    stamps and Avro bytes are stored as they are (no dictionary, no compression, no
    statistics), the other columns snappy-compressed."""

    def __init__(self, config: dict, uri: str, schema: pa.Schema, partition_by, keys,
                 target_bytes: int = 256 << 20):
        self.config, self.uri, self.partition_by, self.keys = config, uri, list(partition_by), keys
        self.file_schema = pa.schema([f for f in schema if f.name not in self.partition_by])
        blobs = [f.name for f in self.file_schema
                 if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type)]
        self.options = {
            "use_dictionary": [n for n in self.file_schema.names if n not in blobs],
            "compression": {n: "none" if n in blobs else "snappy" for n in self.file_schema.names},
            "write_statistics": [n for n in self.file_schema.names if n not in blobs]}
        self.target_bytes = target_bytes
        self.open: dict[tuple, dict] = {}
        self.done: list[dict] = []

    def __enter__(self):
        return self

    def __exit__(self, kind, error, trace):
        if kind is None:
            return
        for entry in list(self.open.values()) + self.done:
            try:
                if entry.get("writer") is not None:
                    entry["writer"].close()
                storage.delete_file(self.config, storage.join(self.uri, entry["path"]))
            except Exception:   # the original error matters
                log.debug("could not delete %s", entry["path"])

    def write(self, rows: pa.Table) -> None:
        if not self.partition_by:
            self._write_part((), rows)
            return
        values = rows.select(self.partition_by).group_by(self.partition_by).aggregate([])
        for value in values.to_pylist():
            mask = None
            for column, v in value.items():
                term = (pc.is_null(rows.column(column)) if v is None
                        else pc.equal(rows.column(column), v))
                mask = term if mask is None else pc.and_(mask, term)
            self._write_part(tuple(value.items()), rows.filter(mask))

    def _write_part(self, partition: tuple, rows: pa.Table) -> None:
        entry = self.open.get(partition)
        if entry is None:
            folder = "/".join(f"{c}={'__HIVE_DEFAULT_PARTITION__' if v is None else v}"
                              for c, v in partition)
            path = "/".join(p for p in (folder, f"part-{uuid.uuid4().hex}.parquet") if p)
            filesystem, full = storage.arrow_filesystem(self.config, storage.join(self.uri, path))
            if not storage.is_s3(self.uri):
                filesystem.create_dir(full.rsplit("/", 1)[0], recursive=True)
            entry = self.open[partition] = {
                "path": path, "partition": partition, "rows": 0, "bytes": 0, "stats": [],
                "writer": pq.ParquetWriter(full, self.file_schema, filesystem=filesystem,
                                           **self.options)}
        rows = rows.select(self.file_schema.names)
        entry["writer"].write_table(rows)
        entry["rows"] += rows.num_rows
        entry["bytes"] += rows.nbytes
        entry["stats"].append({k: pc.min_max(rows.column(k)).as_py() for k in self.keys
                               if k in self.file_schema.names})
        if entry["bytes"] >= self.target_bytes:
            self._close(partition)

    def _close(self, partition: tuple) -> None:
        entry = self.open.pop(partition)
        entry["writer"].close()
        entry["writer"] = None
        self.done.append(entry)

    def finish(self) -> list:
        import json

        from deltalake.transaction import AddAction

        for partition in list(self.open):
            self._close(partition)
        actions = []
        for entry in self.done:
            filesystem, full = storage.arrow_filesystem(
                self.config, storage.join(self.uri, entry["path"]))
            keys = [k for k in self.keys if k in self.file_schema.names]
            ranges = {k: [s[k] for s in entry["stats"] if s[k]["min"] is not None] for k in keys}
            stats = {"numRecords": entry["rows"],
                     "minValues": {k: min(r["min"] for r in v) for k, v in ranges.items() if v},
                     "maxValues": {k: max(r["max"] for r in v) for k, v in ranges.items() if v}}
            actions.append(AddAction(
                entry["path"], filesystem.get_file_info(full).size,
                {c: _partition_text(v) for c, v in entry["partition"]},
                int(time.time() * 1000), True, json.dumps(stats)))
        return actions


def _staged_narrow(config: dict, files: list[str], columns: list[str]) -> pd.DataFrame:
    """The key, priority and partition columns of every staged row, with its file and row."""
    parts = []
    for i, uri in enumerate(files):
        filesystem, path = storage.arrow_filesystem(config, uri)
        part = pq.read_table(path, columns=columns, filesystem=filesystem).to_pandas()
        parts.append(part.assign(_file=i, _row=np.arange(len(part))))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def _first_by_priority(rows: pd.DataFrame, table: Table) -> pd.DataFrame:
    """One row per key: the first by the table's priority (NULL first ascending, last
    descending, as in ``deduplicate``), then by staged file and row."""
    order, ascending = [], []
    for column, descending in table.priority:
        rows = rows.assign(**{f"_null_{column}": rows[column].isna()})
        order += [f"_null_{column}", column]
        ascending += [descending, not descending]
    rows = rows.sort_values(order + ["_file", "_row"], ascending=ascending + [True, True],
                            kind="stable")
    return rows.drop_duplicates(list(table.keys))[
        [c for c in rows.columns if not c.startswith("_null_")]]


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


def update_columns(config: dict, name: str, staged_uri: str, columns) -> dict[str, int]:
    """Set ``columns`` of existing rows of table ``name`` from the staged Parquet at
    ``staged_uri`` (the table's key and partition columns plus ``columns``), where they
    differ; staged rows without a match are ignored. One commit, under the table's lock.

    The engine's MERGE would join the whole table with the batch in memory (a 1e6-alert
    night's detection MERGE took 15 GB on the embedded engine), so this is done file by
    file instead, as a Delta UPDATE does it: each data file holding a changed row is
    rewritten with the new values (pyarrow) and the rewrites are committed as one
    transaction of remove and add actions (delta-rs). Memory: the narrow batch plus one
    data file.
    """
    with locks.table_lock(config, name):
        return _update_columns(config, name, staged_uri, list(columns))


def _update_columns(config: dict, name: str, staged_uri: str, columns: list[str]):
    from deltalake.transaction import CommitProperties, RemoveAction

    table = TABLES[name]
    keys = list(table.keys)
    partitions = [c for c in table.partition_by if c not in keys]
    target = delta_table(config, name)
    _require_plain_data_files(target, name)
    filesystem, path = storage.arrow_filesystem(config, staged_uri)
    staged = pads.dataset(path, filesystem=filesystem, format="parquet")
    schema = pa.schema(target.schema().to_arrow())
    new_fields = [staged.schema.field(c) for c in columns if c not in schema.names]
    if new_fields:
        _add_columns(target, name, new_fields)
        target = delta_table(config, name)
        schema = pa.schema(target.schema().to_arrow())
    version_before = target.version()
    wanted = keys + partitions + columns
    batch = staged.to_table(columns=wanted)
    batch = pa.Table.from_arrays([batch.column(c).cast(schema.field(c).type) for c in wanted],
                                 names=[c if c in keys else f"{c}{_NEW}" for c in wanted])
    by_partition = _split_by_partition(batch, [f"{c}{_NEW}" for c in partitions])

    uri = storage.table_uri(config, name)
    files = pa.table(target.get_add_actions(flatten=True)).select(
        ["path", "size_bytes", *(f"partition.{c}" for c in partitions)])
    removes, updated = [], 0
    deleted_at = int(time.time() * 1000)
    with _PartitionedWriter(config, uri, schema, table.partition_by, table.keys) as writer:
        for file in files.to_pylist():
            values = tuple(_partition_text(file[f"partition.{c}"]) for c in partitions)
            rows = by_partition.get(values)
            if rows is None:
                continue
            data = _rewritten_file(config, _data_file_uri(uri, file["path"]), schema,
                                   dict(zip(partitions, values)), keys, columns, rows)
            if data is None:
                continue
            rewritten, changed = data
            writer.write(rewritten)
            removes.append(RemoveAction(file["path"], True, deleted_at, file["size_bytes"],
                                        dict(zip(partitions, values))))
            updated += changed
        adds = writer.finish()
        if removes:
            log.info("%s: %d rows updated, %d of %d data files rewritten", name, updated,
                     len(removes), files.num_rows)
            target.create_write_transaction(
                adds + removes, "append", schema, partitions or None,
                commit_properties=CommitProperties(custom_metadata={
                    "lake.operation": "update_columns", "lake.updated_columns": ",".join(columns),
                    "lake.updated_rows": str(updated)}))
    version = delta_table(config, name).version()
    return {"version": version if removes else version_before, "inserted": 0,
            "updated": updated}


_NEW = "__new"   # suffix of the staged values next to a data file's own


def _data_file_uri(table_uri: str, path: str) -> str:
    """A data file's location: the Delta log holds paths relative to the table, or
    absolute URIs (as a shallow clone writes), percent-encoded."""
    from urllib.parse import unquote

    path = unquote(path)
    if "://" in path:
        return path.removeprefix("file://")
    return path if path.startswith("/") else storage.join(table_uri, path)


def _require_plain_data_files(target: deltalake.DeltaTable, name: str) -> None:
    """Rows live in the data files as they are: no deletion vectors, no column mapping
    (the lake's tables never enable them; a table made elsewhere might)."""
    features = set(target.protocol().reader_features or [])
    unsupported = features & {"deletionVectors", "columnMapping"}
    if unsupported:
        raise RuntimeError(f"table {name} uses {sorted(unsupported)}, which the lake's "
                           "column update does not read; recreate it without them")


def _split_by_partition(rows: pa.Table, partitions: list[str]) -> dict[tuple, pa.Table]:
    """Rows by partition value (as the Delta log holds it: ``_partition_text``)."""
    if not partitions:
        return {(): rows}
    values = rows.select(partitions).to_pandas().astype("string")
    groups = values.groupby(partitions, dropna=False, sort=False).indices
    return {tuple(None if pd.isna(v) else v for v in (key if isinstance(key, tuple) else (key,))):
            rows.take(pa.array(index)) for key, index in groups.items()}


def _rewritten_file(config: dict, uri: str, schema: pa.Schema, partition: dict, keys,
                    columns, staged: pa.Table):
    """The data file at ``uri`` with ``columns`` set from ``staged`` (matched on
    ``keys``) in the table's schema, and the count of rows changed; None if none is."""
    filesystem, path = storage.arrow_filesystem(config, uri)
    present = pq.read_schema(path, filesystem=filesystem).names
    held = pq.read_table(path, columns=keys + [c for c in columns if c in present],
                         filesystem=filesystem)
    held = held.append_column("_row", pa.array(np.arange(held.num_rows)))
    matched = held.join(staged.select(keys + [f"{c}{_NEW}" for c in columns]), keys,
                        join_type="inner")
    differs = None
    for c in columns:
        old = (matched.column(c) if c in present
               else pa.nulls(matched.num_rows, schema.field(c).type))
        term = pc.invert(_same_values(old.cast(schema.field(c).type),
                                      matched.column(f"{c}{_NEW}")))
        differs = term if differs is None else pc.or_(differs, term)
    if differs is None or not pc.any(differs).as_py():
        return None
    changed = matched.filter(differs)
    changed = changed.take(pc.sort_indices(changed.column("_row")))
    if pc.count_distinct(changed.column("_row")).as_py() != changed.num_rows:
        raise ValueError(f"the staged rows repeat a key of {uri}: one value per row")
    mask = np.zeros(held.num_rows, dtype=bool)
    mask[changed.column("_row").to_numpy()] = True
    data = pq.read_table(path, filesystem=filesystem)
    arrays = []
    for field in schema:
        if field.name in partition:   # not in the file: from the Delta log, as text
            array = pa.array([partition[field.name]] * data.num_rows, pa.string())
        elif field.name in data.column_names:
            array = data.column(field.name)
        else:
            array = pa.nulls(data.num_rows, field.type)
        array = array.cast(field.type)
        if field.name in columns:
            array = pc.replace_with_mask(_flat(array), pa.array(mask),
                                         _flat(changed.column(f"{field.name}{_NEW}")))
        arrays.append(array)
    return pa.Table.from_arrays(arrays, schema=schema), changed.num_rows


def _flat(array):
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _same_values(old, new):
    """Elementwise: equal, both null or both NaN; floats to 1e-9 relative (as ``_same``)."""
    same = pc.fill_null(pc.equal(old, new), False)
    both_null = pc.and_(pc.is_null(old), pc.is_null(new))
    same = pc.or_(same, both_null)
    if pa.types.is_floating(old.type):
        close = pc.less_equal(pc.abs(pc.subtract(old, new)),
                              pc.multiply(pc.max_element_wise(pc.abs(old), pc.abs(new)), 1e-9))
        both_nan = pc.and_(pc.is_nan(old), pc.is_nan(new))
        same = pc.or_(same, pc.fill_null(pc.or_(close, both_nan), False))
    return same


def _target_types(config: dict, name: str) -> dict:
    """Column types of a table, read from its Delta log with delta-rs (not through the
    engine, which may keep a snapshot that predates a schema change)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    schema = pa.schema(delta_table(config, name).schema().to_arrow())
    return {f.name: f.dataType for f in from_arrow_schema(schema).fields}


def _wait_for_columns(spark, config: dict, name: str, columns, attempts: int = 20) -> None:
    """Make sure the engine sees columns just added: Sail drops unknown columns on
    write silently, so writing before it sees them would lose their values."""
    for attempt in range(attempts):
        if set(columns) <= set(read_table(spark, config, name).columns):
            return
        time.sleep(0.25 * (attempt + 1))
    raise RuntimeError(f"the engine does not see the new columns {columns} of table {name}")


def _check_written_columns(config: dict, name: str, files_before: set, columns) -> None:
    """Fail loudly if the engine wrote the commit's new files without new columns (the
    silent column drop of Sail 0.7.2): better a failed run than values lost unnoticed."""
    import pyarrow.parquet as pq

    for uri in set(delta_table(config, name).file_uris()) - files_before:
        filesystem, path = storage.arrow_filesystem(config, uri.removeprefix("file://"))
        missing = set(columns) - set(pq.read_schema(path, filesystem=filesystem).names)
        if missing:
            raise RuntimeError(f"table {name}: the engine wrote {uri} without the new "
                               f"columns {sorted(missing)}; re-run after restarting the job")


def _same(columns, schema) -> str:
    """SQL: target and source rows hold the same values. Floating-point columns compare
    to 1e-9 relative: a parallel aggregation sums in a varying order, and a recomputed
    mean that differs in its last bit must not rewrite the row."""
    from pyspark.sql import types as T

    floats = {f.name for f in schema.fields
              if isinstance(f.dataType, (T.DoubleType, T.FloatType))}

    def same(c):
        exact = f"(t.`{c}` <=> s.`{c}`)"
        if c not in floats:
            return exact
        return (f"({exact} OR abs(t.`{c}` - s.`{c}`) <= "
                f"1e-9 * greatest(abs(t.`{c}`), abs(s.`{c}`)))")

    return " AND ".join(same(c) for c in columns)


def _run_merge(spark, config: dict, name: str, view: str, sql: str, version_before: int):
    try:
        spark.sql(sql).collect()
    finally:
        spark.catalog.dropTempView(view)
    counts = _last_commit_counts(config, name)
    if counts["version"] == version_before:  # nothing to change: no commit was made
        return {"version": version_before, "inserted": 0, "updated": 0}
    return counts


def _last_commit_counts(config: dict, name: str) -> dict[str, int]:
    """Rows inserted/updated by the table's last commit (from its Delta log)."""
    commit = delta_table(config, name).history(1)[0]
    metrics = commit.get("operationMetrics") or {}

    def metric(*names):
        for key in names:
            if key in metrics:
                return int(metrics[key])
        return 0

    return {"version": int(commit.get("version", -1)),
            "inserted": metric("numTargetRowsInserted", "numOutputRows"),
            "updated": metric("numTargetRowsUpdated")}
