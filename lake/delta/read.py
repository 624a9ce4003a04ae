"""Reading the lake's Delta tables: does a table exist, the engine's DataFrame of it, the
delta-rs handle on it, and what its log says (column types, the last commit's counts)."""
from __future__ import annotations

import deltalake

from lake import engine, storage


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


def target_types(config: dict, name: str) -> dict:
    """Spark column types of a table, read from its Delta log with delta-rs.

    # engine workaround (Sail 0.7.2): the engine may keep a snapshot of the table that
    # predates a schema change made by delta-rs, so its schema is not asked of the engine.
    """
    import pyarrow as pa
    from pyspark.sql.pandas.types import from_arrow_schema

    schema = pa.schema(delta_table(config, name).schema().to_arrow())
    return {f.name: f.dataType for f in from_arrow_schema(schema).fields}


def last_commit_counts(config: dict, name: str) -> dict[str, int]:
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
