"""The stage runner: what every stage does around its work, written once.

    with stage_run(config, "process", night=..., inputs=...) as run:
        ...                      # run.spark, run.staging (locked, removed at the end)
        run.succeeded(rows_in=..., rows_out=..., tables=...)

* a row in the ``run`` table (``lake.runlog.Run``) timed from entry to ``succeeded``;
* the run's staging folder under ``<lake>/_staging/<run id>``, locked while the run lives
  and removed when it ends, after clearing what killed runs of the same stage left
  (``lake.engine.locks``: their staging; ``lake.delta.orphans``: the data files they wrote
  into tables but never committed) and recording those runs as ``abandoned``;
* on any error (KeyboardInterrupt too) a ``failed`` row carrying the error, then the
  error goes on; a failure to record it (the lake itself may be what broke) is logged and
  never hides the original error.
"""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Iterator

from lake import engine, runlog, storage
from lake.delta import orphans
from lake.engine import locks
from lake.runlog import Run
from lake.tables import TABLES

log = logging.getLogger(__name__)


@dataclass
class StageRun:
    """A running stage: its run record, session and staging folder."""

    run: Run
    config: object
    spark: object = None
    staging: str | None = None
    row: dict | None = field(default=None, repr=False)

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def elapsed(self) -> float:
        return self.run.elapsed

    def succeeded(self, **counts) -> dict:
        """Write the ``succeeded`` row (rows_in, rows_out, quarantined, tables)."""
        self.row = self.run.finish(self.spark, self.config, "succeeded", **counts)
        return self.row


@contextlib.contextmanager
def stage_run(config, stage: str, *, source: str = "lake", night: int | None = None,
              inputs: str = "", run_id: str | None = None, stale_prefix: str | None = None,
              staging: bool = True) -> Iterator[StageRun]:
    """Run a stage's body with its run record, staging guard and failure record.

    ``run_id``: a chosen id (the ingest names its runs after its inputs, so that the
    staging of a killed run of the same inputs is recognised); ``stale_prefix``: the
    staging folders of dead runs to clear first (default: every dead run of ``stage``);
    ``staging=False``: no staging guard (then a killed run of the stage is not found).
    """
    run = Run(stage, source=source, night=night, inputs=inputs, run_id=run_id or "")
    current = StageRun(run, config)
    guard, abandoned = contextlib.nullcontext(), []
    if staging:
        current.staging = storage.staging_uri(config, run.run_id)
        abandoned = locks.clear_stale_staging(config, stale_prefix or f"{stage}-")
        guard = locks.staging(config, current.staging)
    with guard:
        current.spark = engine.get_spark(config)
        try:
            # killed runs whose staging was just cleared get an ``abandoned`` row, and the
            # data files they wrote but never committed are removed
            runlog.record_abandoned(current.spark, config, stage, abandoned)
            if abandoned:
                started = [left.get("started") for left in abandoned]
                orphans.sweep(config, TABLES, None if None in started else min(started))
            yield current
            if current.row is None:
                raise RuntimeError(f"stage {stage} ended without recording its result")
        except BaseException as error:
            try:
                run.finish(current.spark, config, "failed",
                           error=f"{type(error).__name__}: {error}"[:2000])
            except Exception:  # the failure may be the lake itself; the original error matters
                log.exception("could not record the failed run")
            raise
