"""The ``run`` table: one row per job run (stage, night, rows in and out, quarantined,
duration, code version), written when the run ends, whether it succeeded or failed."""
from __future__ import annotations

import datetime as dt
import json
import logging
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

import lake
from lake import delta, engine

log = logging.getLogger(__name__)

RUN_SCHEMA = pa.schema([
    ("run_id", pa.string()), ("stage", pa.string()), ("night", pa.int32()),
    ("source", pa.string()), ("inputs", pa.string()), ("status", pa.string()),
    ("started_at", pa.timestamp("us", tz="UTC")), ("finished_at", pa.timestamp("us", tz="UTC")),
    ("duration_s", pa.float64()), ("rows_in", pa.int64()), ("rows_out", pa.int64()),
    ("quarantined", pa.int64()), ("tables", pa.string()), ("code_version", pa.string()),
    ("engine", pa.string()), ("host", pa.string()), ("error", pa.string()),
])


def code_version() -> str:
    """Package version plus the git commit of the checkout, when there is one."""
    repo = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{lake.__version__}+{sha}" if sha else lake.__version__


def new_run_id(stage: str) -> str:
    return f"{stage}-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


@dataclass
class Run:
    """A job run being timed; ``finish`` writes its row to the run table."""

    stage: str
    source: str = ""
    night: int | None = None
    inputs: str = ""        # fingerprint of the input files (nightly skips done stages)
    run_id: str = ""
    started_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))
    _clock: float = field(default_factory=time.perf_counter)

    def __post_init__(self):
        self.run_id = self.run_id or new_run_id(self.stage)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._clock

    def row(self, status: str, rows_in: int = 0, rows_out: int = 0, quarantined: int = 0,
            tables: dict | None = None, config: dict | None = None, error: str | None = None):
        return {
            "run_id": self.run_id, "stage": self.stage, "night": self.night,
            "source": self.source, "inputs": self.inputs, "status": status,
            "started_at": self.started_at,
            "finished_at": dt.datetime.now(dt.timezone.utc), "duration_s": self.elapsed,
            "rows_in": rows_in, "rows_out": rows_out, "quarantined": quarantined,
            "tables": json.dumps(tables or {}, sort_keys=True), "code_version": code_version(),
            "engine": engine.engine_mode(config or {}), "host": socket.gethostname(),
            "error": error,
        }

    def finish(self, spark, config: dict, status: str, **counts) -> dict:
        row = self.row(status, config=config, **counts)
        frame = spark.createDataFrame(pa.Table.from_pylist([row], schema=RUN_SCHEMA))
        delta.merge_into(spark, config, "run", frame)
        log.info("run %s %s in %.1f s", self.run_id, status, row["duration_s"])
        return row


def record_abandoned(spark, config: dict, stage: str, leftovers: list[dict]) -> list[str]:
    """A ``run`` row with status ``abandoned`` for each run found dead by the staging it
    left (``leftovers``: the lock records of ``lake.engine.locks.clear_stale_staging``),
    unless that run wrote its own row before it died. Returns the run ids recorded."""
    def moment(seconds):
        return dt.datetime.fromtimestamp(seconds, dt.timezone.utc) if seconds else None

    ids = [left["run_id"] for left in leftovers]
    if ids and delta.table_exists(config, "run"):
        landed = delta.delta_table(config, "run").to_pyarrow_table(columns=["run_id"])
        ids = [i for i in ids if i not in set(landed.column("run_id").to_pylist())]
    rows = [{"run_id": left["run_id"], "stage": stage, "status": "abandoned",
             "started_at": moment(left.get("started")),
             "finished_at": moment(left.get("heartbeat")), "host": left.get("host"),
             "engine": engine.engine_mode(config), "code_version": code_version(),
             "error": f"killed: pid {left.get('pid')} on {left.get('host')} ended without "
                      f"finishing; its staging was removed by a later run"}
            for left in leftovers if left["run_id"] in ids]
    if rows:
        frame = spark.createDataFrame(pa.Table.from_pylist(rows, schema=RUN_SCHEMA))
        delta.merge_into(spark, config, "run", frame)
        log.warning("%d killed %s run(s) marked abandoned: %s", len(rows), stage, ids)
    return [row["run_id"] for row in rows]
