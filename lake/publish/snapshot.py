"""Catalog snapshots: the catalog as of a Delta version or a time, exported to
``<publication root>/snapshots/YYYY-MM-DD/`` with its manifest.

``as_of`` is a version of the ``object`` table (an int: every other table is taken at
its last commit at or before that version's commit time) or a timestamp (ISO date or
date-time, UTC when no zone is given; a bare date means the end of that day). The
folder is the date of the as-of time (today for "now"). Exporting the same version
twice gives identical files, manifest included: rows are sorted, writer options fixed,
and nothing in the files depends on when they were written.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging

import deltalake

from lake import storage
from lake.publish.catalog import FORMAT, SOURCE_TABLES, write_catalog
from lake.publish.publisher import check_access, read_json
from lake.runlog import code_version

log = logging.getLogger(__name__)

ANCHOR = "object"


def parse_as_of(text: str | int | None):
    """``"12"`` -> 12 (a version); a date or date-time -> aware datetime (UTC)."""
    if text is None or isinstance(text, int):
        return text
    text = str(text).strip()
    if text.isdigit() and len(text) < 8:
        return int(text)
    if len(text) == 10:  # a date: the end of that day
        day = dt.date.fromisoformat(text)
        return dt.datetime.combine(day, dt.time(23, 59, 59, 999000), dt.timezone.utc)
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def _commits(config: dict, name: str) -> list[tuple[int, int]] | None:
    uri = storage.table_uri(config, name)
    options = storage.delta_storage_options(config)
    if not deltalake.DeltaTable.is_deltatable(uri, options):
        return None
    history = deltalake.DeltaTable(uri, storage_options=options).history()
    return sorted((int(h["version"]), int(h["timestamp"])) for h in history)


def resolve(config: dict, as_of) -> tuple[dict[str, int], dt.datetime | None]:
    """Delta version of each source table for ``as_of``, and the as-of time."""
    commits = {name: c for name in SOURCE_TABLES if (c := _commits(config, name))}
    if ANCHOR not in commits:
        raise RuntimeError("the lake has no object table: nothing to export")
    if as_of is None:
        return {name: c[-1][0] for name, c in commits.items()}, None
    if isinstance(as_of, int):
        known = dict(commits[ANCHOR])
        if as_of not in known:
            raise ValueError(f"object table has no version {as_of} "
                             f"(versions {min(known)}..{max(known)})")
        ms = known[as_of]
        moment = dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc)
    else:
        moment, ms = as_of, int(as_of.timestamp() * 1000)
    versions = {}
    for name, history in commits.items():
        before = [v for v, t in history if t <= ms]
        if name == ANCHOR and isinstance(as_of, int):
            before = [as_of]
        if before:
            versions[name] = max(before)
    if ANCHOR not in versions:
        raise ValueError(f"the object table did not exist yet at {moment.isoformat()}")
    return versions, moment


def export_snapshot(config: dict, as_of=None, root: str | None = None,
                    keep_days: int | None = None, today: dt.date | None = None) -> dict:
    """Export the catalog as of ``as_of``; returns the snapshot's manifest."""
    root = (root or storage.publish_root(config)).rstrip("/")
    check_access(config, root)
    as_of = parse_as_of(as_of)
    versions, moment = resolve(config, as_of)
    day = (moment.date() if moment else (today or dt.datetime.now(dt.timezone.utc).date()))
    folder = storage.join(root, "snapshots", day.isoformat())
    tables = write_catalog(config, versions, folder)
    manifest = {
        "format": FORMAT, "kind": "snapshot", "date": day.isoformat(),
        "as_of": {"requested": None if as_of is None else str(as_of),
                  "time": moment.isoformat() if moment else None},
        "code_version": code_version(),
        "source": {"lake": storage.lake_root(config), "delta_versions": versions},
        "tables": tables,
    }
    payload = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    storage.write_bytes(config, storage.join(folder, "manifest.json"), payload,
                        "application/json")
    # A second export on the same day replaces the first: drop files it no longer lists.
    listed = {f["path"] for t in tables.values() for f in t["files"]} | {"manifest.json"}
    for uri in storage.list_files(config, folder):
        relative = uri[len(folder):].lstrip("/").replace("\\", "/")
        if relative not in listed:
            storage.delete_file(config, uri)
    log.info("snapshot %s: %s", day, {k: v["rows"] for k, v in tables.items()})
    if keep_days is not None:
        snapshot_retention(config, root, keep_days, today)
    manifest["sha256"] = hashlib.sha256(payload).hexdigest()
    return manifest


def list_snapshots(config: dict, root: str | None = None) -> list[str]:
    root = (root or storage.publish_root(config)).rstrip("/")
    return [d for d in storage.list_dirs(config, storage.join(root, "snapshots"))
            if read_json(config, storage.join(root, "snapshots", d, "manifest.json"))]


def snapshot_retention(config: dict, root: str | None = None, keep_days: int = 30,
                       today: dt.date | None = None) -> list[str]:
    """Delete snapshots dated more than ``keep_days`` days before ``today``."""
    root = (root or storage.publish_root(config)).rstrip("/")
    today = today or dt.datetime.now(dt.timezone.utc).date()
    cutoff = today - dt.timedelta(days=keep_days)
    deleted = []
    for name in storage.list_dirs(config, storage.join(root, "snapshots")):
        try:
            day = dt.date.fromisoformat(name)
        except ValueError:
            continue
        if day < cutoff:
            storage.remove_tree(config, storage.join(root, "snapshots", name))
            deleted.append(name)
    return deleted
