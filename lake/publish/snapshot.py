"""Catalog snapshots: the catalog as it stood at the end of a completed nightly run,
exported to ``<publication root>/snapshots/<YYYY-MM-DD>-<digest>/`` with its manifest.

A snapshot never mixes nights. ``as_of`` says which nightly run:

* a version of the ``object`` table (an int): the nightly run whose processing stage
  wrote that version (found in the ``run`` table), taken at the end of that night's run
  (after its classification), so its features and classes are in;
* a time (ISO date or date-time, UTC when no zone is given; a bare date means the end of
  that day): the last nightly run that had completed by then;
* ``None``: the tables as they are now.

Every source table is then taken at its last commit at or before that run's end. A
lake without a ``run`` table falls back to commit times alone (the object version's
table state just before the object table changed again).

The folder is the date of the as-of time (today for "now") plus the digest of the
state (table identities, versions, code version): two exports of one day of different
states never overwrite each other, and exporting the same state twice gives identical
files, manifest included (rows sorted, writer options fixed, nothing depends on when
they were written).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging

import deltalake

from lake import storage
from lake.publish.catalog import FORMAT, SOURCE_TABLES, write_catalog
from lake.publish.publisher import check_access, read_json, source_identity, state_digest
from lake.runlog import code_version

log = logging.getLogger(__name__)

ANCHOR = "object"
# Stages whose runs write catalog tables: a nightly run ends with the last of them.
WRITING_STAGES = ("ingest", "process", "classify")


def parse_as_of(text: str | int | None):
    """``"12"`` -> 12 (a version); a date or date-time -> aware datetime (UTC).

    >>> parse_as_of("12"), parse_as_of("2023-11-02").isoformat()
    (12, '2023-11-02T23:59:59.999000+00:00')
    >>> parse_as_of("20231102") == parse_as_of("2023-11-02")   # the lake's night format
    True
    """
    if text is None or isinstance(text, int):
        return text
    text = str(text).strip()
    if text.isdigit() and len(text) < 8:
        return int(text)
    if len(text) == 10 or (len(text) == 8 and text.isdigit()):  # a date: the end of that day
        day = dt.date.fromisoformat(text) if len(text) == 10 else \
            dt.datetime.strptime(text, "%Y%m%d").date()
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


def nightly_runs(config: dict) -> list[dict]:
    """Completed nightly runs, oldest first: consecutive succeeded runs of the writing
    stages for one night form one nightly run; ``end_ms`` is when its last one finished,
    ``object_versions`` the object-table versions its processing wrote."""
    uri = storage.table_uri(config, "run")
    options = storage.delta_storage_options(config)
    if not deltalake.DeltaTable.is_deltatable(uri, options):
        return []
    rows = deltalake.DeltaTable(uri, storage_options=options).to_pyarrow_table(
        columns=["stage", "night", "status", "finished_at", "tables"]).to_pylist()
    rows = sorted((r for r in rows if r["status"] == "succeeded"
                   and r["stage"] in WRITING_STAGES and r["finished_at"] is not None),
                  key=lambda r: r["finished_at"])
    runs: list[dict] = []
    for row in rows:
        if not runs or runs[-1]["night"] != row["night"]:
            runs.append({"night": row["night"], "object_versions": set(), "stages": set()})
        run = runs[-1]
        run["end_ms"] = int(row["finished_at"].timestamp() * 1000) + 1
        run["stages"].add(row["stage"])
        written = (json.loads(row["tables"] or "{}") or {}).get(ANCHOR) or {}
        if "version" in written:
            run["object_versions"].add(int(written["version"]))
    return runs


def _run_end(config: dict, as_of, commits: dict) -> int | None:
    """End (ms since the epoch) of the nightly run ``as_of`` names; None: no run table."""
    runs = nightly_runs(config)
    if not runs:
        return None
    if isinstance(as_of, int):
        for run in runs:
            if as_of in run["object_versions"]:
                return run["end_ms"]
        known = sorted(v for r in runs for v in r["object_versions"])
        raise ValueError(f"no completed nightly run wrote version {as_of} of the object "
                         f"table (versions written by nightly runs: {known or 'none'})")
    ms = int(as_of.timestamp() * 1000)
    ended = [r["end_ms"] for r in runs if r["end_ms"] <= ms]
    if not ended:
        raise ValueError(f"no nightly run had completed by {as_of.isoformat()}")
    return ended[-1]


def resolve(config: dict, as_of) -> tuple[dict[str, int], dt.datetime | None]:
    """Delta version of each source table for ``as_of``, and the as-of time."""
    commits = {name: c for name in SOURCE_TABLES if (c := _commits(config, name))}
    if ANCHOR not in commits:
        raise RuntimeError("the lake has no object table: nothing to export")
    if as_of is None:
        return {name: c[-1][0] for name, c in commits.items()}, None
    known = dict(commits[ANCHOR])
    if isinstance(as_of, int) and as_of not in known:
        raise ValueError(f"object table has no version {as_of} "
                         f"(versions {min(known)}..{max(known)})")
    end_ms = _run_end(config, as_of, commits)
    if end_ms is None:  # no run table: just before the object table changed again
        if isinstance(as_of, int):
            later = [t for v, t in commits[ANCHOR] if v > as_of]
            end_ms = (min(later) - 1) if later else commits[ANCHOR][-1][1]
        else:
            end_ms = int(as_of.timestamp() * 1000)
    versions = {}
    for name, history in commits.items():
        before = [v for v, t in history if t <= end_ms]
        if before:
            versions[name] = max(before)
    if ANCHOR not in versions:
        raise ValueError("the object table did not exist yet at "
                         f"{dt.datetime.fromtimestamp(end_ms / 1000, dt.timezone.utc).isoformat()}")
    if isinstance(as_of, int):
        versions[ANCHOR] = max(versions[ANCHOR], as_of)
    moment = dt.datetime.fromtimestamp(end_ms / 1000, dt.timezone.utc)
    return versions, moment


def export_snapshot(config: dict, as_of=None, root: str | None = None,
                    keep_days: int | None = None, today: dt.date | None = None) -> dict:
    """Export the catalog as of ``as_of``; returns the snapshot's manifest."""
    root = (root or storage.publish_root(config)).rstrip("/")
    check_access(config, root)
    as_of = parse_as_of(as_of)
    versions, moment = resolve(config, as_of)
    day = (moment.date() if moment else (today or dt.datetime.now(dt.timezone.utc).date()))
    code = code_version()
    identity = source_identity(config, versions)
    name = f"{day.isoformat()}-{state_digest(versions, identity, code)}"
    folder = storage.join(root, "snapshots", name)
    existing = read_json(config, storage.join(folder, "manifest.json"))
    if existing is not None:
        log.info("snapshot %s already exported", name)
        payload = (json.dumps(existing, indent=2, sort_keys=True) + "\n").encode()
        existing["sha256"] = hashlib.sha256(payload).hexdigest()
        if keep_days is not None:
            snapshot_retention(config, root, keep_days, today)
        return existing
    tables, _ = write_catalog(config, versions, folder, salt=code)
    manifest = {
        "format": FORMAT, "kind": "snapshot", "name": name, "date": day.isoformat(),
        "as_of": {"requested": None if as_of is None else str(as_of),
                  "time": moment.isoformat() if moment else None},
        "code_version": code,
        "source": {"lake": storage.lake_root(config), "delta_versions": versions,
                   "table_ids": identity},
        "tables": tables,
    }
    payload = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    storage.write_bytes(config, storage.join(folder, "manifest.json"), payload,
                        "application/json")
    log.info("snapshot %s: %s", name, {k: v["rows"] for k, v in tables.items()})
    if keep_days is not None:
        snapshot_retention(config, root, keep_days, today)
    manifest["sha256"] = hashlib.sha256(payload).hexdigest()
    return manifest


def list_snapshots(config: dict, root: str | None = None) -> list[str]:
    """Names (``YYYY-MM-DD-<digest>``) of the complete snapshots, oldest date first."""
    root = (root or storage.publish_root(config)).rstrip("/")
    return sorted(d for d in storage.list_dirs(config, storage.join(root, "snapshots"))
                  if read_json(config, storage.join(root, "snapshots", d, "manifest.json")))


def snapshot_retention(config: dict, root: str | None = None, keep_days: int = 30,
                       today: dt.date | None = None) -> list[str]:
    """Delete snapshots dated more than ``keep_days`` days before ``today``."""
    root = (root or storage.publish_root(config)).rstrip("/")
    today = today or dt.datetime.now(dt.timezone.utc).date()
    cutoff = today - dt.timedelta(days=keep_days)
    deleted = []
    for name in storage.list_dirs(config, storage.join(root, "snapshots")):
        try:
            day = dt.date.fromisoformat(name[:10])
        except ValueError:
            continue
        if day < cutoff:
            storage.remove_tree(config, storage.join(root, "snapshots", name))
            deleted.append(name)
    return deleted
