"""Ingest stage: nightly alert files -> bronze and silver Delta tables.

    files ──(read_alert_files)──> batches ──(decode_batch: decode, flatten)──> staging Parquet
    staging ──(Spark: transforms of lake.bronze / lake.silver)──> MERGE, one commit per table

Decoding is the only per-alert Python work. It goes through the execution seam
(``lake.engine.batches.map_batches``): beside the embedded engine the files are read here
and decoded in a pool of worker processes (one per core by default), because the embedded
engine runs Python UDFs in a single interpreter; on a JVM Spark engine the executors read
the files (one task per file or tarball) and decode them in ``mapInArrow``. Everything
after is set-based Spark work. Staging files live under ``<lake>/_staging/`` and are
removed when the run has committed (``lake.stages.runner``).
"""
from __future__ import annotations

import collections
import hashlib
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import pyarrow as pa

from lake import delta, engine, settings, storage, surveys
from lake.engine import batches
from lake.bronze import identity, landing
from lake.bronze.decode import QUARANTINE_SCHEMA, decode_items
from lake.runlog import new_run_id
from lake.stages.runner import StageRun, stage_run
from lake.surveys.base import staging_tables
from lake.tables import ingest_tables
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

    @classmethod
    def of(cls, written: batches.Written) -> "Staged":
        staged = cls(items=sum(info["items"] for info in written.info), rows=written.rows,
                     schemas=written.schemas, seconds=written.seconds)
        for info in written.info:
            staged.nights.update({int(k): v for k, v in info["nights"].items()})
        return staged

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


# The fields of lake.sources.SourceItem, in its order (the decode cap travels with the bytes).
ITEM_SCHEMA = pa.schema([("source", pa.string()), ("member", pa.string()),
                         ("night", pa.int32()), ("data", pa.binary()), ("error", pa.string()),
                         ("max_decoded_bytes", pa.int64())])
# One row per input file; ``listed`` / ``target`` / ``refusal`` carry what the listing of a
# folder or glob found (lake.sources.ListedFile), so that readers on any engine open it as
# listed: never following a link out of the folder, never reading a refused entry.
FILE_SCHEMA = pa.schema([("path", pa.string()), ("night", pa.int32()), ("listed", pa.bool_()),
                         ("target", pa.string()), ("refusal", pa.string())])


def files_table(files: list[str], night: int | None) -> pa.Table:
    """The ingest's task table (``FILE_SCHEMA``) of the resolved input files."""
    return pa.table({
        "path": [str(f) for f in files], "night": pa.array([night] * len(files), pa.int32()),
        "listed": [isinstance(f, sources.ListedFile) for f in files],
        "target": [getattr(f, "target", None) for f in files],
        "refusal": [getattr(f, "refusal", None) for f in files]}, schema=FILE_SCHEMA)


def _as_listed(path: str, listed: bool, target: str | None, refusal: str | None):
    if not listed:
        return path
    if refusal:
        return sources.ListedFile.refused(path, refusal)
    return sources.ListedFile.link(path, target) if target else sources.ListedFile(path)


def items_table(items: Iterable[SourceItem]) -> pa.Table:
    """Alert files' bytes as an Arrow batch (one row per file or tarball member)."""
    items = list(items)
    return pa.table({"source": [i.source for i in items], "member": [i.member for i in items],
                     "night": pa.array([i.night for i in items], pa.int32()),
                     "data": pa.array([i.data for i in items], pa.binary()),
                     "error": [i.error for i in items],
                     "max_decoded_bytes": pa.array([i.max_decoded_bytes for i in items],
                                                   pa.int64())}, schema=ITEM_SCHEMA)


def read_alert_files(files: pa.Table, config, chunk_alerts: int) -> Iterator[pa.Table]:
    """The execution seam's ``read``: the bytes of every alert file of ``files`` (paths of
    .avro files or tarballs, with the night to give their alerts), in batches of at most
    ``chunk_alerts`` files and MAX_CHUNK_BYTES. Runs on the driver beside the embedded
    engine, on the executors of a Spark engine."""
    rows = zip(*(files.column(name).to_pylist() for name in FILE_SCHEMA.names))
    items = itertools.chain.from_iterable(
        sources.iter_items(config, [_as_listed(path, listed, target, refusal)], night)
        for path, night, listed, target, refusal in rows)
    for chunk in _chunks(items, chunk_alerts):
        yield items_table(chunk)


def decode_batch(batch: pa.Table, run_id: str, keep_raw_avro: bool,
                 night_margin_days: float = 0.25, survey: str | None = None
                 ) -> dict[str, pa.Table]:
    """The execution seam's ``fn``: decode a batch of alert files into staging tables,
    flat on every engine (nested records exploded into columns: the embedded engine cannot
    select nested fields read back from Delta, ``lake.engine.NESTED_COLUMNS_SUPPORTED``)."""
    columns = [batch.column(name).to_pylist() for name in ITEM_SCHEMA.names]  # column-wise: fast
    return decode_items((SourceItem(*values) for values in zip(*columns)), run_id, keep_raw_avro,
                        surveys.get(survey), night_margin_days=night_margin_days)


def staged_nights(batch: pa.Table, tables: dict[str, pa.Table]) -> dict:
    """Files decoded and nights of their alerts (the seam's ``summarize``)."""
    nights = collections.Counter(tables["alert"].column("night").to_pylist()
                                 if "alert" in tables else ())
    return {"items": batch.num_rows, "nights": {str(k): v for k, v in nights.items()}}


def decode_chunk(chunk_id: int, items: list[SourceItem], staging: str, run_id: str,
                 keep_raw_avro: bool, config) -> dict:
    """Decode one chunk of alert files here and write its staging Parquet files."""
    margin = settings.of(config).quality.night_margin_days
    return batches.run_batch(decode_batch, items_table(items),
                             (run_id, keep_raw_avro, margin, surveys.of(config).name),
                             staging, chunk_id, 0, config, staged_nights)


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

    def __call__(self, written: batches.Written, done: bool = False) -> None:
        now = time.perf_counter()
        if done or now - self.last >= self.every:
            self.last = now
            files = sum(info["items"] for info in written.info)
            rate = files / max(now - self.start, 1e-9)
            log.info("decoded %d files (%d alerts, %d quarantined), %.0f files/s",
                     files, written.rows["alert"], written.rows["quarantine"], rate)


def stage(config, files: list[str], night: int | None, run_id: str, staging: str,
          workers: int | None = None, spark=None) -> Staged:
    """Decode every alert file of ``files`` into staging Parquet, through the execution
    seam: in ``workers`` processes beside the embedded engine (the files are read here),
    on the executors of a Spark engine (which read the files themselves)."""
    ingest_conf = config.get("ingest", {})
    keep_raw = bool(ingest_conf.get("keep_raw_avro", True))
    chunk_alerts = int(ingest_conf.get("chunk_alerts") or 1000)
    margin = settings.of(config).quality.night_margin_days
    progress = _Progress()
    written = batches.map_batches(
        spark, config, files_table(files, night),
        decode_batch, staging, args=(run_id, keep_raw, margin, surveys.of(config).name),
        read=read_alert_files,
        read_args=(config, chunk_alerts), read_on_driver=True, workers=workers,
        summarize=staged_nights, progress=progress)
    progress(written, done=True)
    return Staged.of(written)


def read_staged(spark, config: dict, staging: str, staged: Staged) -> dict:
    """Staging tables as DataFrames (None for a table no file had rows for)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    frames = {}
    for name in staging_tables(surveys.of(config)):
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


def ingest(config, source: str, night: int | None = None,
           workers: int | None = None, inputs: str = "") -> IngestResult:
    """Land ``source`` (tarball, folder, glob, local or s3://) into the lake."""
    files = sources.resolve(config, source)          # raises SourceError: missing / empty
    night = night or (sources.night_from_name(files[0]) if len(files) == 1 else None)
    key = _staging_key(files, night)
    # Named after the inputs, so that the staging of a killed run of them is recognised.
    run_id = f"ingest-{key}-{new_run_id('ingest').split('-', 1)[1]}"
    with stage_run(config, "ingest", source=source, night=night, inputs=inputs,
                   run_id=run_id, stale_prefix=f"ingest-{key}-") as run:
        return _ingest(config, source, files, night, workers, run)


def _ingest(config, source, files, night, workers, run: StageRun) -> IngestResult:
    log.info("ingest %s: %d file(s), night %s, run %s", source, len(files), night or "from jd",
             run.run_id)
    spark, staging = run.spark, run.staging
    staged = stage(config, files, night, run.run_id, staging, workers, spark)
    if run.run.night is None and staged.nights:
        run.run.night = staged.nights.most_common(1)[0][0]
    survey = surveys.of(config)
    identity.set_aside(config, survey, staging, staged, run.run_id)
    frames = build_tables(read_staged(spark, config, staging, staged), survey)
    counts = {}
    for name in ingest_tables(survey):
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
    run.succeeded(rows_in=staged.items, rows_out=alerts, quarantined=quarantined,
                  tables=counts)
    return IngestResult(run.run_id, run.run.night, len(files), staged.items, alerts,
                        quarantined, counts, run.elapsed, staged.seconds)
