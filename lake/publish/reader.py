"""Reading a publication: follow ``latest.json`` (or a snapshot) to its manifest and
open its tables with pyarrow or DuckDB. Works for a local folder and for s3://
(through pyarrow's S3 filesystem, so DuckDB needs no extension)."""
from __future__ import annotations

import json

import pyarrow.dataset as pads

from lake import storage
from alert_lake_client import table_dataset


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
        from lake.publish.publisher import read_json

        pointer = read_json(config, storage.join(root, "latest.json"))
        if pointer is None:
            raise FileNotFoundError(
                f"no publication at {root} (no latest.json): publish a night first "
                "(make demo, or python jobs/publish.py --night YYYYMMDD), or set "
                "ALERT_LAKE_ROOT to a lake that has one")
        folder = storage.join(root, *pointer["manifest"].split("/")[:-1])
    return json.loads(storage.read_bytes(config, storage.join(folder, "manifest.json"))), folder


def dataset(config: dict, table: str, root: str | None = None, **which) -> pads.Dataset:
    """One published table as a pyarrow dataset (hive partition columns included)."""
    data, folder = manifest(config, root, **which)
    return manifest_dataset(config, data, data_root(config, data, folder, root), table)


def data_root(config: dict, data: dict, folder: str, root: str | None = None) -> str:
    """Where a manifest's file paths start: the publication root (versions share its
    files) or a snapshot's own folder (self-contained)."""
    if data.get("kind") == "publication":
        return (root or storage.publish_root(config)).rstrip("/")
    return folder


def manifest_dataset(config: dict, data: dict, base: str, table: str) -> pads.Dataset:
    filesystem, path = storage.arrow_filesystem(config, base)
    return table_dataset(filesystem, path.rstrip("/"), data, table)


def duckdb_catalog(config: dict, root: str | None = None, con=None, **which):
    """A DuckDB connection with one view per published table."""
    import duckdb

    con = con or duckdb.connect()
    data, folder = manifest(config, root, **which)
    base = data_root(config, data, folder, root)
    for table in data["tables"]:
        con.register(table, manifest_dataset(config, data, base, table))
    return con
