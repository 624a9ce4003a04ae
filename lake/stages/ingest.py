"""Ingest stage: nightly alert files -> bronze and silver Delta tables.

    files ──(driver: read bytes)──> chunks ──(process pool: decode, flatten)──> staging Parquet
    staging ──(Spark: transforms of lake.bronze / lake.silver)──> MERGE, one commit per table

Decoding is the only per-alert Python work and runs in a pool of worker processes
(one per core by default), because the embedded engine runs Python UDFs in a single
interpreter. Everything after is set-based Spark work. Staging files live under
``<lake>/_staging/`` and are removed when the run has committed.
"""
from __future__ import annotations

import collections
import concurrent.futures as futures
import hashlib
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from lake import delta, engine, storage, surveys
from lake.engine import locks
from lake.bronze import landing
from lake.bronze.decode import QUARANTINE_SCHEMA, STAGING_TABLES, decode_items
from lake.runlog import Run
from lake.tables import INGEST_TABLES, ingest_tables
from lake import sources
from lake.sources import SourceItem

log = logging.getLogger(__name__)

MAX_CHUNK_BYTES = 256 << 20


@dataclass
class Staged:
    """What the decode step wrote to staging."""

    items: int = 0
    rows: collections.Counter = field(default_factory=collections.Counter)
    schemas: dict[str, list[pa.Schema]] = field(default_factory=dict)
    nights: collections.Counter = field(default_factory=collections.Counter)
    seconds: float = 0.0

    def add(self, result: dict) -> None:
        self.items += result["items"]
        self.rows.update(result["rows"])
        self.nights.update(result["nights"])
        for name, schema in result["schemas"].items():
            self.schemas.setdefault(name, []).append(schema)

    def schema(self, name: str) -> pa.Schema | None:
        if name not in self.schemas:
            return None
        return pa.unify_schemas(self.schemas[name], promote_options="permissive")


@dataclass
class IngestResult:
    run_id: str
    night: int | None
    files: int
    items: int
    alerts: int
    quarantined: int
    tables: dict[str, dict]
    seconds: float
    decode_seconds: float


def decode_chunk(chunk_id: int, items: list[SourceItem], staging: str, run_id: str,
                 keep_raw_avro: bool, config: dict) -> dict:
    """Decode one chunk of alert files and write its staging Parquet files.
    Runs in a worker process; returns row counts and schemas for the driver."""
    tables = decode_items(items, run_id, keep_raw_avro)
    result = {"items": len(items), "rows": {}, "schemas": {}, "nights": collections.Counter()}
    for name, table in tables.items():
        result["rows"][name] = table.num_rows
        if table.num_rows == 0:
            continue
        filesystem, path = storage.arrow_filesystem(config, storage.join(staging, name))
        filesystem.create_dir(path, recursive=True)
        pq.write_table(table, f"{path}/part-{chunk_id:06d}.parquet", filesystem=filesystem,
                       compression="snappy")
        result["schemas"][name] = table.schema
    if "alert" in tables:
        result["nights"].update(tables["alert"].column("night").to_pylist())
    return result


def _chunks(items: Iterable[SourceItem], size: int) -> Iterator[list[SourceItem]]:
    chunk, nbytes = [], 0
    for item in items:
        chunk.append(item)
        nbytes += len(item.data)
        if len(chunk) >= size or nbytes >= MAX_CHUNK_BYTES:
            yield chunk
            chunk, nbytes = [], 0
    if chunk:
        yield chunk


class _Progress:
    def __init__(self, every: float = 5.0):
        self.every, self.start, self.last = every, time.perf_counter(), 0.0

    def __call__(self, staged: Staged, done: bool = False) -> None:
        now = time.perf_counter()
        if done or now - self.last >= self.every:
            self.last = now
            rate = staged.items / max(now - self.start, 1e-9)
            log.info("decoded %d files (%d alerts, %d quarantined), %.0f files/s",
                     staged.items, staged.rows["alert"], staged.rows["quarantine"], rate)


def stage(config: dict, files: list[str], night: int | None, run_id: str, staging: str,
          workers: int | None = None) -> Staged:
    """Decode every alert file of ``files`` into staging Parquet, on ``workers`` processes."""
    ingest_conf = config.get("ingest", {})
    workers = workers or engine.decode_parallelism(config)
    keep_raw = bool(ingest_conf.get("keep_raw_avro", True))
    chunks = _chunks(sources.iter_items(config, files, night),
                     int(ingest_conf.get("chunk_alerts") or 1000))
    staged, progress, clock = Staged(), _Progress(), time.perf_counter()
    first = next(chunks, None)
    second = next(chunks, None) if first is not None else None
    if second is None or workers == 1:
        # Small inputs (one chunk) or one worker: decode here, no process start-up.
        for chunk_id, chunk in enumerate(c for c in (first, second) if c is not None):
            staged.add(decode_chunk(chunk_id, chunk, staging, run_id, keep_raw, config))
            progress(staged)
        for chunk_id, chunk in enumerate(chunks, start=2):
            staged.add(decode_chunk(chunk_id, chunk, staging, run_id, keep_raw, config))
            progress(staged)
    else:
        pool = engine.process_pool(workers)
        pending: set[futures.Future] = set()
        for chunk_id, chunk in enumerate(itertools.chain([first, second], chunks)):
            pending.add(pool.submit(decode_chunk, chunk_id, chunk, staging, run_id,
                                    keep_raw, config))
            if len(pending) >= 2 * workers:  # bound the bytes held in memory
                done, pending = futures.wait(pending, return_when=futures.FIRST_COMPLETED)
                for future in done:
                    staged.add(future.result())
                progress(staged)
        for future in futures.as_completed(pending):
            staged.add(future.result())
    staged.seconds = time.perf_counter() - clock
    progress(staged, done=True)
    return staged


def read_staged(spark, config: dict, staging: str, staged: Staged) -> dict:
    """Staging tables as DataFrames (None for a table no file had rows for)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    frames = {}
    for name in STAGING_TABLES:
        schema = staged.schema(name)
        frames[name] = None if schema is None else (
            spark.read.schema(from_arrow_schema(schema))
            .parquet(engine.spark_path(config, storage.join(staging, name))))
    if frames["quarantine"] is None:  # so that the quarantine table exists from night one
        frames["quarantine"] = spark.createDataFrame([], from_arrow_schema(QUARANTINE_SCHEMA))
    return frames


def build_tables(staged: dict, survey=None) -> dict:
    """Every ingest table as a DataFrame (or None when the batch has no rows for it):
    the generic bronze tables, then the survey's silver tables (``Survey.silver_tables``)."""
    survey = surveys.get(survey)
    tables = {name: None for name in ingest_tables(survey)}
    if staged["quarantine"] is not None:
        tables["quarantine"] = landing.quarantine(staged["quarantine"])
    if staged["alert"] is None:
        return tables
    tables.update({
        "alert": landing.alerts(staged["alert"]),
        "cutout": landing.cutouts(staged["cutout"], survey),
    })
    tables.update(survey.silver_tables(staged))
    return tables


def _land_as_staged(config: dict, name: str, staging: str, staged: Staged) -> dict | None:
    """Bronze tables that are their staging table as it is (``landing.AS_STAGED``) are
    streamed into the lake by delta-rs, not through the engine: they hold the night's bulk
    (Avro bytes, cutouts). None: MERGE through the engine instead (no staged rows, or a
    staged row replaces a landed one)."""
    schema = staged.schema(name) if name in landing.AS_STAGED else None
    files = storage.list_files(config, storage.join(staging, name)) if schema else []
    # the alert staging is still read by the silver transforms; the others are not
    return (delta.append_staged(config, name, files, schema, consume=name != "alert")
            if files else None)


def _staging_key(files: list[str], night: int | None) -> str:
    return hashlib.sha1("\n".join(files + [str(night)]).encode()).hexdigest()[:12]


def ingest(config: dict, source: str, night: int | None = None,
           workers: int | None = None, inputs: str = "") -> IngestResult:
    """Land ``source`` (tarball, folder, glob, local or s3://) into the lake."""
    files = sources.resolve(config, source)          # raises SourceError: missing / empty
    night = night or (sources.night_from_name(files[0]) if len(files) == 1 else None)
    key = _staging_key(files, night)
    run = Run("ingest", source=source, night=night, inputs=inputs)
    run.run_id = f"ingest-{key}-{run.run_id.split('-', 1)[1]}"
    staging = storage.staging_uri(config, run.run_id)
    locks.clear_stale_staging(config, f"ingest-{key}-")
    with locks.staging(config, staging):
        return _ingest(config, source, files, night, workers, run, staging)


def _ingest(config, source, files, night, workers, run, staging) -> IngestResult:
    log.info("ingest %s: %d file(s), night %s, run %s", source, len(files), night or "from jd",
             run.run_id)
    spark = engine.get_spark(config)
    try:
        staged = stage(config, files, night, run.run_id, staging, workers)
        if run.night is None and staged.nights:
            run.night = staged.nights.most_common(1)[0][0]
        frames = build_tables(read_staged(spark, config, staging, staged))
        counts = {}
        for name in INGEST_TABLES:
            frame = frames[name]
            if frame is None:
                continue
            clock = time.perf_counter()
            result = _land_as_staged(config, name, staging, staged)
            if result is None:
                if delta.table_exists(config, name) and frame.isEmpty():
                    continue
                result = delta.merge_into(spark, config, name, frame)
            counts[name] = result
            log.info("%-18s +%d rows (%d updated), version %d, %.1f s", name,
                     counts[name]["inserted"], counts[name]["updated"], counts[name]["version"],
                     time.perf_counter() - clock)
        # Alerts = distinct alerts of the input (a dump may hold one alert twice).
        alerts = (frames["alert"].select("candid").distinct().count()
                  if frames["alert"] is not None else 0)
        quarantined = staged.rows["quarantine"]
        run.finish(spark, config, "succeeded", rows_in=staged.items, rows_out=alerts,
                   quarantined=quarantined, tables=counts)
    except BaseException as error:
        try:
            run.finish(spark, config, "failed", error=f"{type(error).__name__}: {error}"[:2000])
        except Exception:  # the failure may be the lake itself; the original error matters
            log.exception("could not record the failed run")
        raise
    return IngestResult(run.run_id, run.night, len(files), staged.items, alerts, quarantined,
                        counts, run.elapsed, staged.seconds)
