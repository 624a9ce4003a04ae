"""Schema evolution: new nullable columns, added in a metadata-only commit before the data
commit that carries them (history is never rewritten).

The streamed paths (``append``, ``update``) add them with delta-rs. The engine MERGE path
adds them through ``lake.engine.add_columns`` and then guards against an engine that would
write the new rows without them (below).
"""
from __future__ import annotations

import logging
import time

import deltalake
import pyarrow as pa

from lake import engine, storage
from lake.delta.read import delta_table, read_table

log = logging.getLogger(__name__)


def add_columns(target: deltalake.DeltaTable, name: str, fields: list[pa.Field]) -> None:
    """New nullable columns in a metadata-only commit (delta-rs)."""
    log.info("%s: adding columns %s", name, [f.name for f in fields])
    target.alter.add_columns([deltalake.Field.from_arrow(f.with_nullable(True)) for f in fields])


def arrow_fields(spark_fields) -> list[pa.Field]:
    from pyspark.sql.pandas.types import to_arrow_type

    return [pa.field(f.name, to_arrow_type(f.dataType), True) for f in spark_fields]


def add_columns_for_engine(spark, config: dict, name: str, spark_fields) -> None:
    """New columns for a write the engine will make: added (``lake.engine.add_columns``:
    DDL on a cluster, delta-rs on Sail, which does not parse ALTER TABLE), then waited
    for until the engine sees them."""
    log.info("%s: adding columns %s", name, [f.name for f in spark_fields])
    engine.add_columns(spark, config, storage.table_uri(config, name), arrow_fields(spark_fields))
    wait_for_columns(spark, config, name, [f.name for f in spark_fields])


# engine workaround (Sail 0.7.2): Sail silently drops columns its snapshot of the table
# lacks on write (mergeSchema ignored), so the write waits until the engine sees them.
# An engine difference: belongs in lake.engine (its owner moves it there).
def wait_for_columns(spark, config: dict, name: str, columns, attempts: int = 20) -> None:
    """Make sure the engine sees columns just added: writing before it sees them would
    lose their values."""
    for attempt in range(attempts):
        if set(columns) <= set(read_table(spark, config, name).columns):
            return
        time.sleep(0.25 * (attempt + 1))
    raise RuntimeError(f"the engine does not see the new columns {columns} of table {name}")


# engine workaround (Sail 0.7.2): the same silent column drop, checked after the write.
# An engine difference: belongs in lake.engine (its owner moves it there).
def check_written_columns(config: dict, name: str, files_before: set, columns) -> None:
    """Fail loudly if the engine wrote the commit's new files without the new columns:
    better a failed run than values lost unnoticed."""
    import pyarrow.parquet as pq

    for uri in set(delta_table(config, name).file_uris()) - files_before:
        filesystem, path = storage.arrow_filesystem(config, uri.removeprefix("file://"))
        missing = set(columns) - set(pq.read_schema(path, filesystem=filesystem).names)
        if missing:
            raise RuntimeError(f"table {name}: the engine wrote {uri} without the new "
                               f"columns {sorted(missing)}; re-run after restarting the job")
