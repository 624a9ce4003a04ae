"""Writing DataFrames to the lake's Delta tables: one MERGE commit per table per run.

``merge_into`` is the single write path of the pipeline:

1. duplicates inside the batch are resolved by the table's key and priority;
2. a new table is created by the write itself (one commit);
3. an existing table first gains any new columns (metadata-only, history untouched),
   then the batch is MERGEd on the key: new keys inserted, an existing key replaced
   only by a row of higher priority. A MERGE is one atomic Delta commit, so a killed
   run leaves each table either before or after, never half-written, and re-running
   changes nothing.
"""
from __future__ import annotations

import logging
import uuid
from typing import Any

import deltalake
import pyarrow as pa

from lake import engine, locks, storage
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
    Runs under the table's lock (see ``lake.locks``)."""
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

    view = f"merge_source_{name}_{uuid.uuid4().hex[:8]}"
    batch.createOrReplaceTempView(view)
    on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in table.keys)
    if table.partition_by:
        # Prune the target to the partitions the batch touches.
        for column in table.partition_by:
            values = [r[0] for r in batch.select(column).distinct().collect()]
            if values and all(v is not None for v in values):
                on += f" AND t.`{column}` IN ({', '.join(_literal(v) for v in sorted(values))})"
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
    files_before = set(delta_table(config, name).file_uris()) if new_fields else set()
    counts = _run_merge(spark, config, name, view, sql, version_before)
    if new_fields:
        _check_written_columns(config, name, files_before, [f.name for f in new_fields])
    return counts


def update_columns(spark, config: dict, name: str, frame, columns) -> dict[str, int]:
    """Set ``columns`` of existing rows (matched on the table's key) where they differ;
    rows of ``frame`` without a match are ignored. One commit, under the table's lock."""
    with locks.table_lock(config, name):
        return _update_columns(spark, config, name, frame, columns)


def _update_columns(spark, config: dict, name: str, frame, columns) -> dict[str, int]:
    from pyspark.sql import functions as F

    table = TABLES[name]
    uri = storage.table_uri(config, name)
    version_before = delta_table(config, name).version()
    target_types = _target_types(config, name)
    missing = [f for f in frame.schema.fields if f.name in columns and f.name not in target_types]
    if missing:
        engine.add_columns(spark, config, uri, _arrow_fields(missing))
        _wait_for_columns(spark, config, name, [f.name for f in missing])
        target_types.update({f.name: f.dataType for f in missing})
    keep = list(table.keys) + [c for c in table.partition_by if c not in table.keys] + list(columns)
    batch = frame.select([F.col(c).cast(target_types[c]).alias(c) for c in keep])
    view = f"update_source_{name}_{uuid.uuid4().hex[:8]}"
    batch.createOrReplaceTempView(view)
    on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in table.keys)
    on += "".join(f" AND t.`{c}` = s.`{c}`" for c in table.partition_by)
    updates = ", ".join(f"t.`{c}` = s.`{c}`" for c in columns)
    sql = (f"MERGE INTO delta.`{engine.spark_path(config, uri)}` AS t USING {view} AS s ON {on}\n"
           f"WHEN MATCHED AND NOT ({_same(columns, batch.schema)}) THEN UPDATE SET {updates}")
    return _run_merge(spark, config, name, view, sql, version_before)


def _target_types(config: dict, name: str) -> dict:
    """Column types of a table, read from its Delta log with delta-rs (not through the
    engine, which may keep a snapshot that predates a schema change)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    schema = pa.schema(delta_table(config, name).schema().to_arrow())
    return {f.name: f.dataType for f in from_arrow_schema(schema).fields}


def _wait_for_columns(spark, config: dict, name: str, columns, attempts: int = 20) -> None:
    """Make sure the engine sees columns just added: Sail drops unknown columns on
    write silently, so writing before it sees them would lose their values."""
    import time

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
