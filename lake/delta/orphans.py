"""Data files a killed writer left behind: written into a table's folder, never committed.

A write of the lake is one commit per table (``lake.delta``): a run killed before its
commit leaves the table as it was, but the data files it had written stay in the folder,
referenced by no version. They change no read (Delta reads what the log names) and only
take disk, until the next run of the stage finds the dead run (``lake.stages.runner``)
and calls :func:`sweep`. It removes, while holding each table's write lock (so no live
writer is between writing a file and committing it), the data files that no commit of
the log ever added and that were written after the dead run started (less an hour, for
clock skew between hosts and the object store). Files removed by a commit stay: they are
referenced (time travel and snapshots read them) until a vacuum.

Not ``DeltaTable.vacuum``: with a zero retention it also deletes the removed files that
older versions still need, and with the default retention it keeps a week of orphans.
"""
from __future__ import annotations

import json
import logging
from urllib.parse import unquote

import pyarrow as pa

from lake import storage
from lake.delta.read import delta_table, table_exists
from lake.engine import locks

log = logging.getLogger(__name__)

SKEW_SECONDS = 3600.0


def committed_paths(config: dict, name: str) -> set[str]:
    """Paths (relative to the table, decoded) of every data file the table's log adds, in
    any version whose commit file is still there, and of every file of its current
    version (which covers versions folded into a checkpoint)."""
    uri = storage.table_uri(config, name)
    paths = set()
    for commit in storage.list_files(config, storage.join(uri, "_delta_log")):
        if not commit.endswith(".json"):
            continue
        for line in storage.read_bytes(config, commit).splitlines():
            action = json.loads(line) if line.strip() else {}
            for kind in ("add", "remove"):
                if kind in action:
                    paths.add(unquote(action[kind]["path"]))
    current = pa.table(delta_table(config, name).get_add_actions(flatten=True))
    paths.update(unquote(p) for p in current.column("path").to_pylist())
    return paths


def orphan_files(config: dict, name: str, since: float | None = None) -> list[str]:
    """Data files (URIs) in table ``name``'s folder that no commit references, written at
    or after ``since`` (epoch seconds; None: any time)."""
    uri = storage.table_uri(config, name).rstrip("/")
    if not table_exists(config, name):
        return []
    referenced = committed_paths(config, name)
    orphans = []
    for path, modified in storage.list_modified(config, uri):
        relative = path[len(uri) + 1:]
        if relative.startswith("_delta_log/") or not relative.endswith(".parquet"):
            continue
        if since is not None and modified < since:
            continue
        if relative not in referenced:
            orphans.append(path)
    return orphans


def sweep(config: dict, tables, since: float | None) -> dict[str, int]:
    """Delete the orphan data files of ``tables`` written since ``since`` less the clock
    skew allowance, each table under its write lock. Returns {table: files deleted}."""
    since = None if since is None else since - SKEW_SECONDS
    deleted = {}
    for name in tables:
        if not table_exists(config, name):
            continue
        with locks.table_lock(config, name):
            orphans = orphan_files(config, name, since)
            for path in orphans:
                storage.delete_file(config, path)
        if orphans:
            deleted[name] = len(orphans)
    if deleted:
        log.warning("removed the uncommitted data files of killed runs: %s", deleted)
    return deleted
