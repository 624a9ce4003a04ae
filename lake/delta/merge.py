"""The engine write path: MERGE a DataFrame into a table by its key, one commit.

Used for every table the ingest does not stream (silver, gold, ops tables) and for a
bronze batch in which a staged row must replace a landed one.

1. duplicates inside the batch are resolved by the table's key and priority
   (``priority.deduplicate``);
2. a new table is created by the write itself (one commit);
3. an existing table first gains any new columns (``schema``), then the batch is MERGEd
   on the key: new keys inserted, an existing key replaced only by a row of higher
   priority (``priority.outranks_sql``), or, for a derived table (``Table.replace``), by
   a row whose values differ. When no batch row outranks an existing one (the usual
   night: new alerts, history copies already landed), the same result is written as an
   append of the new keys, which streams the rows instead of joining them whole.
"""
from __future__ import annotations

import uuid
from typing import Any

from lake import engine, storage
from lake.delta import schema as schema_evolution
from lake.delta.priority import deduplicate, outranks_sql, priority_columns
from lake.delta.read import delta_table, last_commit_counts, table_exists, target_types
from lake.engine import locks
from lake.tables import TABLES, Table


def merge_into(spark, config: dict, name: str, frame) -> dict[str, int]:
    """MERGE ``frame`` into table ``name`` (created if missing); returns row counts.
    Runs under the table's lock (see ``lake.engine.locks``)."""
    with locks.table_lock(config, name):
        return _merge_into(spark, config, name, frame)


def _merge_into(spark, config: dict, name: str, frame) -> dict[str, int]:
    from pyspark.sql import functions as F

    table = TABLES[name]
    path = engine.spark_path(config, storage.table_uri(config, name))
    batch = deduplicate(frame, table)

    if not table_exists(config, name):
        writer = batch.write.format("delta").mode("error")
        if table.partition_by:
            writer = writer.partitionBy(*table.partition_by)
        writer.save(path)
        return last_commit_counts(config, name)

    version_before = delta_table(config, name).version()
    types = target_types(config, name)
    new_fields = [f for f in batch.schema.fields if f.name not in types]
    if new_fields:
        schema_evolution.add_columns_for_engine(spark, config, name, new_fields)
        types.update({f.name: f.dataType for f in new_fields})
    batch = batch.select([F.col(c).cast(types[c]).alias(c) for c in batch.columns])

    prune = _partition_filter(batch, table)
    files_before = set(delta_table(config, name).file_uris()) if new_fields else set()
    if not table.replace and not _any_winner(spark, path, batch, table, prune):
        counts = _append_new_keys(spark, config, name, batch, table, prune, types,
                                  version_before)
    else:
        counts = _merge(spark, config, name, batch, table, prune, version_before)
    if new_fields:
        schema_evolution.check_written_columns(config, name, files_before,
                                               [f.name for f in new_fields])
    return counts


def _literal(value: Any) -> str:
    return repr(value) if isinstance(value, (int, float)) else "'" + str(value).replace("'", "''") + "'"


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
    narrow = list(table.keys) + priority_columns(table)
    view = _temp_view(batch.select(*narrow), "winner_source")
    columns = ", ".join(f"`{c}`" for c in narrow)
    where = f"WHERE {_target_condition(prune)}" if prune else ""
    on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in table.keys)
    try:
        return bool(spark.sql(
            f"SELECT 1 FROM {view} s JOIN (SELECT {columns} FROM delta.`{path}` t {where}) t "
            f"ON {on} WHERE {outranks_sql(table)} LIMIT 1").collect())
    finally:
        spark.catalog.dropTempView(view)


def _append_new_keys(spark, config: dict, name: str, batch, table: Table, prune: dict,
                     types: dict, version_before: int) -> dict[str, int]:
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
                        for c, t in types.items()])
    if rows.isEmpty():
        return {"version": version_before, "inserted": 0, "updated": 0}
    writer = rows.write.format("delta").mode("append")
    if table.partition_by:
        writer = writer.partitionBy(*table.partition_by)
    writer.save(path)
    return last_commit_counts(config, name)


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
        sql += f"WHEN MATCHED AND ({outranks_sql(table)}) THEN UPDATE SET {updates}\n"
    sql += f"WHEN NOT MATCHED THEN INSERT ({columns}) VALUES ({values})"
    return _run_merge(spark, config, name, view, sql, version_before)


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
    counts = last_commit_counts(config, name)
    if counts["version"] == version_before:  # nothing to change: no commit was made
        return {"version": version_before, "inserted": 0, "updated": 0}
    return counts


def update_matched(spark, config: dict, name: str, staged_uri: str, columns) -> dict[str, int]:
    """The engine's form of ``lake.delta.update_columns``: set ``columns`` of the rows of
    table ``name`` that the staged Parquet at ``staged_uri`` matches (on the table's key
    and partition columns) where they differ, as one MERGE (``WHEN MATCHED ... UPDATE``;
    new columns first by ALTER TABLE). Staged rows without a match are ignored. Used where
    tables are written only by the engine (``engine.table_writes_through_engine``)."""
    with locks.table_lock(config, name):
        from pyspark.sql import functions as F

        table = TABLES[name]
        path = engine.spark_path(config, storage.table_uri(config, name))
        staged = spark.read.parquet(engine.spark_path(config, staged_uri))
        version_before = delta_table(config, name).version()
        types = target_types(config, name)
        new_fields = [f for f in staged.schema.fields if f.name in columns and f.name not in types]
        if new_fields:
            schema_evolution.add_columns_for_engine(spark, config, name, new_fields)
            types.update({f.name: f.dataType for f in new_fields})
        match = list(table.keys) + [c for c in table.partition_by if c not in table.keys]
        batch = staged.select([F.col(c).cast(types[c]).alias(c) for c in match + list(columns)])
        prune = _partition_filter(batch, table)
        view = _temp_view(batch, f"update_source_{name}")
        on = " AND ".join(f"t.`{k}` <=> s.`{k}`" if k in table.partition_by else
                          f"t.`{k}` = s.`{k}`" for k in match)
        if prune:
            on += " AND " + _target_condition(prune)
        updates = ", ".join(f"t.`{c}` = s.`{c}`" for c in columns)
        sql = (f"MERGE INTO delta.`{path}` AS t USING {view} AS s ON {on}\n"
               f"WHEN MATCHED AND NOT ({_same(columns, batch.schema)}) THEN UPDATE SET {updates}")
        return _run_merge(spark, config, name, view, sql, version_before)
