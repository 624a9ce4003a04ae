"""The nightly pipeline: ingest -> process -> (classify -> validate -> publish) for a night.

Every stage records a row in the ``run`` table with a fingerprint of the night's input
files and the code version. A stage that already succeeded for the same night, inputs and
code version is skipped, so re-running a night after a crash resumes where it stopped;
``from_stage`` forces that stage and every later one to run again.
"""
from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from lake import delta, engine, storage
from lake.stages.ingest import ingest
from lake.stages.process import process
from lake.runlog import code_version
from lake.stages.runner import stage_run
from lake import sources

log = logging.getLogger(__name__)


@dataclass
class Stage:
    name: str
    run: Callable[["NightContext"], dict]


@dataclass
class NightContext:
    config: dict
    night: int
    source: str
    inputs: str                       # fingerprint of the night's input files
    workers: int | None = None
    results: dict = field(default_factory=dict)
    validation: object = None         # the night's data-quality result, once validated


def fingerprint(config: dict, source: str) -> str:
    """Names and sizes of the input files: a new or changed file changes the fingerprint."""
    files = sources.resolve(config, source)
    digest = hashlib.sha256()
    for path in files:
        size = (next(storage.list_s3(config, path))[1] if storage.is_s3(path)
                else storage_size(path))
        digest.update(f"{path}\t{size}\n".encode())
    return digest.hexdigest()[:16]


def storage_size(path: str) -> int:
    import os

    return os.lstat(path).st_size   # a link is not followed (see lake.sources)


def _ingest(ctx: NightContext) -> dict:
    result = ingest(ctx.config, ctx.source, ctx.night, ctx.workers, inputs=ctx.inputs)
    return {"alerts": result.alerts, "quarantined": result.quarantined,
            "seconds": result.seconds}


def _process(ctx: NightContext) -> dict:
    result = process(ctx.config, [ctx.night], ctx.workers, inputs=ctx.inputs)
    return {"objects": result.objects, "seconds": result.seconds}


def _classify(ctx: NightContext) -> dict:
    from lake.stages.classify import classify

    result = classify(ctx.config, [ctx.night], inputs=ctx.inputs)
    return {"objects": result.objects, **{f"{k}_rows": v for k, v in result.rows.items()}}


def _validate(ctx: NightContext) -> dict:
    """Data-quality gate: a failing night raises GateFailed and is not published."""
    from lake.quality import validate

    with _recorded(ctx, "validate") as run:
        result = validate(run.spark, ctx.config, ctx.night)
        ctx.validation = result
        result.raise_for_failures()
        run.succeeded(rows_out=len(result.failures()) + len(result.warnings()))
    return {"passed": result.success, "warnings": len(result.warnings())}


def _publish(ctx: NightContext) -> dict:
    from lake.publish import publish

    with _recorded(ctx, "publish") as run:
        manifest = publish(ctx.config, ctx.night, run.spark, validation=ctx.validation)
        run.succeeded(rows_out=sum(t.get("rows", 0)
                                   for t in manifest.get("tables", {}).values()))
    return {"version": manifest.get("version", "")}


def _recorded(ctx: NightContext, stage: str):
    """The run record of a stage that does not write its own run row (so it can be
    skipped next time): timed over the stage's whole work. It has no staging files, but
    keeps the staging guard, so that a killed run of it is found by the next one
    (an ``abandoned`` row; its uncommitted data files removed)."""
    return stage_run(ctx.config, stage, source=ctx.source, night=ctx.night,
                     inputs=ctx.inputs)


STAGES: list[Stage] = [Stage("ingest", _ingest), Stage("process", _process),
                       Stage("classify", _classify), Stage("validate", _validate),
                       Stage("publish", _publish)]


def register(stage: Stage, after: str | None = None) -> None:
    """Add a stage (e.g. classify, validate, publish) to the nightly pipeline."""
    names = [s.name for s in STAGES]
    STAGES.insert(names.index(after) + 1 if after in names else len(STAGES), stage)


def already_done(spark, config: dict, stage: str, night: int, inputs: str) -> bool:
    if not delta.table_exists(config, "run"):
        return False
    runs = delta.read_table(spark, config, "run")
    if "inputs" not in runs.columns:
        return False
    done = runs.filter((runs.stage == stage) & (runs.night == night) & (runs.inputs == inputs)
                       & (runs.status == "succeeded") & (runs.code_version == code_version()))
    return not done.isEmpty()


def run_night(config: dict, night: int, source: str, from_stage: str | None = None,
              workers: int | None = None, report: Callable[[str], None] = print) -> NightContext:
    names = [s.name for s in STAGES]
    if from_stage and from_stage not in names:
        raise ValueError(f"unknown stage {from_stage!r}; stages: {', '.join(names)}")
    ctx = NightContext(config, night, source, fingerprint(config, source), workers)
    spark = engine.get_spark(config)
    forced = False
    for stage in STAGES:
        forced = forced or stage.name == from_stage
        if not forced and already_done(spark, config, stage.name, night, ctx.inputs):
            report(f"[{night}] {stage.name:<9} skipped (done for these inputs and code version)")
            ctx.results[stage.name] = {"skipped": True}
            continue
        clock = time.perf_counter()
        report(f"[{night}] {stage.name:<9} running")
        ctx.results[stage.name] = {**stage.run(ctx), "seconds": time.perf_counter() - clock}
        summary = ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}"
                            for k, v in ctx.results[stage.name].items())
        report(f"[{night}] {stage.name:<9} done in {time.perf_counter() - clock:.1f} s: {summary}")
    return ctx
