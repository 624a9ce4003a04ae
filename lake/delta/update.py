"""The streamed column update: derived columns of rows already landed, set file by file.

Used for the detection corrections (``lake.stages.process``: magpsf_corr and the other
``CORRECTION_COLUMNS`` of every detection of the objects touched). The engine's MERGE
would join the whole table with the batch in memory (a 1e6-alert night's detection MERGE
took 15 GB on the embedded engine), so this is done as a Delta UPDATE does it: each data
file holding a changed row is rewritten with the new values (pyarrow) and the rewrites
are committed as one transaction of remove and add actions (delta-rs). Memory: the
narrow batch plus one data file.
"""
from __future__ import annotations

import logging
import time

import deltalake
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from lake import engine, storage
from lake.delta.datafiles import PartitionedWriter, data_file_uri, partition_text
from lake.delta.read import delta_table
from lake.delta.schema import add_columns
from lake.engine import locks
from lake.tables import TABLES

log = logging.getLogger(__name__)


def update_columns(config: dict, name: str, staged_uri: str, columns) -> dict[str, int]:
    """Set ``columns`` of existing rows of table ``name`` from the staged Parquet at
    ``staged_uri`` (the table's key and partition columns plus ``columns``), where they
    differ; staged rows without a match are ignored. One commit (remove and add actions
    of the rewritten data files), under the table's lock. Where tables are written only
    by the engine (``engine.table_writes_through_engine``: delta-spark on a cluster), the
    same as the engine's MERGE (``merge.update_matched``).
    """
    if engine.table_writes_through_engine(config):
        from lake.delta.merge import update_matched

        return update_matched(engine.get_spark(config), config, name, staged_uri, columns)
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
        add_columns(target, name, new_fields)
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
    with PartitionedWriter(config, uri, schema, table.partition_by, table.keys) as writer:
        for file in files.to_pylist():
            values = tuple(partition_text(file[f"partition.{c}"]) for c in partitions)
            rows = by_partition.get(values)
            if rows is None:
                continue
            data = _rewritten_file(config, data_file_uri(uri, file["path"]), schema,
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


def _require_plain_data_files(target: deltalake.DeltaTable, name: str) -> None:
    """Rows live in the data files as they are: no deletion vectors, no column mapping
    (the lake's tables never enable them; a table made elsewhere might)."""
    features = set(target.protocol().reader_features or [])
    unsupported = features & {"deletionVectors", "columnMapping"}
    if unsupported:
        raise RuntimeError(f"table {name} uses {sorted(unsupported)}, which the lake's "
                           "column update does not read; recreate it without them")


def _split_by_partition(rows: pa.Table, partitions: list[str]) -> dict[tuple, pa.Table]:
    """Rows by partition value (as the Delta log holds it: ``partition_text``)."""
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
    """Elementwise: equal, both null or both NaN; floats to 1e-9 relative (as the MERGE's ``merge._same``)."""
    same = pc.fill_null(pc.equal(old, new), False)
    both_null = pc.and_(pc.is_null(old), pc.is_null(new))
    same = pc.or_(same, both_null)
    if pa.types.is_floating(old.type):
        close = pc.less_equal(pc.abs(pc.subtract(old, new)),
                              pc.multiply(pc.max_element_wise(pc.abs(old), pc.abs(new)), 1e-9))
        both_nan = pc.and_(pc.is_nan(old), pc.is_nan(new))
        same = pc.or_(same, pc.fill_null(pc.or_(close, both_nan), False))
    return same
