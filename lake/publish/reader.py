"""Reading a publication: follow ``latest.json`` (or a snapshot) to its manifest and
open its tables with pyarrow or DuckDB. Works for a local folder and for s3://
(through pyarrow's S3 filesystem, so DuckDB needs no extension)."""
from __future__ import annotations

import json

import pyarrow.dataset as pads

from lake import storage


def manifest(config: dict, root: str | None = None, snapshot: str | None = None,
             version: str | None = None) -> tuple[dict, str]:
    """The manifest and its folder: the latest publication, a ``version``, or a
    ``snapshot``: its name (``YYYY-MM-DD-<digest>``) or a date (the last one of that day)."""
    root = (root or storage.publish_root(config)).rstrip("/")
    if snapshot:
        if len(snapshot) == 10:  # a date: the latest export of that day
            from lake.publish.snapshot import list_snapshots

            names = [n for n in list_snapshots(config, root) if n.startswith(snapshot)]
            if not names:
                raise FileNotFoundError(f"no snapshot of {snapshot} under {root}/snapshots")
            snapshot = max(names, key=lambda n: json.loads(storage.read_bytes(
                config, storage.join(root, "snapshots", n, "manifest.json")))["as_of"]["time"] or "")
        folder = storage.join(root, "snapshots", snapshot)
    elif version:
        folder = storage.join(root, "catalog", version)
    else:
        pointer = json.loads(storage.read_bytes(config, storage.join(root, "latest.json")))
        folder = storage.join(root, *pointer["manifest"].split("/")[:-1])
    return json.loads(storage.read_bytes(config, storage.join(folder, "manifest.json"))), folder


def dataset(config: dict, table: str, root: str | None = None, **which) -> pads.Dataset:
    """One published table as a pyarrow dataset (hive partition columns included)."""
    data, folder = manifest(config, root, **which)
    spec = data["tables"][table]
    filesystem, base = storage.arrow_filesystem(config, storage.join(folder, table))
    files = [f"{base}/{f['path'][len(table) + 1:]}" for f in spec["files"]]
    partitioning = (pads.partitioning(flavor="hive") if spec["partitioning"] else None)
    return pads.dataset(files, format="parquet", filesystem=filesystem,
                        partitioning=partitioning, partition_base_dir=base)


def duckdb_catalog(config: dict, root: str | None = None, con=None, **which):
    """A DuckDB connection with one view per published table."""
    import duckdb

    con = con or duckdb.connect()
    data, _ = manifest(config, root, **which)
    for table in data["tables"]:
        con.register(table, dataset(config, table, root, **which))
    return con
