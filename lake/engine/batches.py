"""Where per-item Python work runs: the execution seam (``map_batches``).

The stages hand their per-item Python work (Avro decoding, light-curve features) to
:func:`map_batches` as two plain functions, the same on every engine:

* ``read(tasks, *args)``: turns a few rows of the task table (file paths, bucket numbers)
  into the work's input batches (Arrow tables, or a dict of them), e.g. reads alert files;
* ``fn(batch, *args)``: the pure work, Arrow in and ``{output name: Arrow table}`` out.

The seam decides where they run and writes every output table as Parquet under
``out/<output name>/``; what comes back to the driver is a small :class:`Written` summary
(rows and schema per output, per-task ``info``). Output schemas are whatever ``fn``
produced (alert files of different schema versions decode to different columns); the
caller reads ``out/<name>`` with ``Written.schema(name)``.

* **Embedded engine (Sail)**: Python UDFs would share Sail's one interpreter and GIL, so
  the work runs in this job's process pool (``lake.engine.process_pool``), one task per
  process at a time. ``read_on_driver=True`` runs ``read`` here and ships its batches to
  the pool (a gzip tarball is one stream: read once, decoded on every core); otherwise each
  pool process reads its own task (features read their bucket's staged Parquet).
* **JVM Spark** (``engine.mode: cluster``, or a Spark Connect server: anything but the
  embedded engine): the task table becomes a DataFrame with one partition per task (up to
  the engine's parallelism) and ``mapInArrow`` runs ``read`` then ``fn`` on the executors,
  which read the inputs and write the outputs themselves; the driver only sees the
  summary rows. The outputs' folder must be reachable by the executors (on a cluster the
  lake, hence its ``_staging``, is on S3).

``engine.python_work`` pins the choice (``pool`` or ``executors``; default ``auto``), e.g.
for a remote Sail server, whose UDFs also share one interpreter.
"""
from __future__ import annotations

import collections
import contextlib
import concurrent.futures as futures
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping

import pyarrow as pa
import pyarrow.parquet as pq

from lake import storage

SUMMARY_SCHEMA = pa.schema([
    ("task", pa.int64()), ("piece", pa.int64()), ("name", pa.string()),
    ("rows", pa.int64()), ("schema", pa.binary()), ("info", pa.string()),
    ("seconds", pa.float64()),
])
TASK_COLUMN = "_task"


def python_work_on_executors(config: Mapping) -> bool:
    """Whether per-item Python work runs on the engine's executors (JVM Spark) rather than
    in a process pool beside the embedded engine."""
    from lake import engine

    pinned = str((config.get("engine") or {}).get("python_work") or "auto").lower()
    if pinned in ("pool", "executors"):
        return pinned == "executors"
    if pinned != "auto":
        raise ValueError(f"engine.python_work must be auto, pool or executors, not {pinned!r}")
    return engine.engine_mode(config) != "embedded"


@dataclass
class Written:
    """What the tasks wrote: rows and schemas per output, and each task's ``info``."""

    rows: collections.Counter = field(default_factory=collections.Counter)
    schemas: dict[str, list[pa.Schema]] = field(default_factory=dict)
    info: list[dict] = field(default_factory=list)
    pieces: int = 0
    seconds: float = 0.0

    def add(self, summary: dict) -> None:
        self.pieces += 1
        self.info.append(summary["info"])
        for name, rows in summary["rows"].items():
            self.rows[name] += rows
        for name, schema in summary["schemas"].items():
            self.schemas.setdefault(name, []).append(schema)

    def schema(self, name: str) -> pa.Schema | None:
        """The union of the schemas written for ``name`` (None: no task wrote rows)."""
        if name not in self.schemas:
            return None
        return pa.unify_schemas(self.schemas[name], promote_options="permissive")


def write_outputs(outputs: Mapping[str, pa.Table] | pa.Table, out: str, task: int, piece: int,
                  config: Mapping, info: dict | None = None) -> dict:
    """Write ``fn``'s output tables under ``out/<name>/``; their rows and schemas."""
    if isinstance(outputs, pa.Table):
        outputs = {"": outputs}
    summary = {"rows": {}, "schemas": {}, "info": info or {}}
    for name, table in outputs.items():
        summary["rows"][name] = table.num_rows
        if table.num_rows == 0:
            continue
        filesystem, path = storage.arrow_filesystem(config, storage.join(out, name)
                                                    if name else out)
        filesystem.create_dir(path, recursive=True)
        pq.write_table(table, f"{path}/part-{task:06d}-{piece:04d}.parquet",
                       filesystem=filesystem, compression="snappy")
        summary["schemas"][name] = table.schema
    return summary


def run_batch(fn, batch, args: tuple, out: str, task: int, piece: int, config: Mapping,
              summarize=None) -> dict:
    """One batch of work where it runs: ``fn``, then its outputs to Parquet."""
    outputs = fn(batch, *args)
    info = summarize(batch, outputs) if summarize is not None else None
    return write_outputs(outputs, out, task, piece, config, info)


def run_task(read, read_args: tuple, fn, args: tuple, tasks: pa.Table, out: str, task: int,
             config: Mapping, summarize=None) -> list[dict]:
    """One task where it runs: ``read`` its input batches, then ``fn`` on each."""
    batches = read(tasks, *read_args) if read is not None else [tasks]
    return [run_batch(fn, batch, args, out, task, piece, config, summarize)
            for piece, batch in enumerate(batches)]


def map_batches(spark, config: Mapping, tasks: pa.Table, fn: Callable, out: str, *,
                args: tuple = (), read: Callable | None = None, read_args: tuple = (),
                read_on_driver: bool = False,
                workers: int | None = None, summarize: Callable | None = None,
                progress: Callable[[Written], None] | None = None) -> Written:
    """Run ``read`` + ``fn`` over ``tasks`` on the engine's executors (JVM Spark) or in
    the process pool (embedded engine); write each output under ``out``.

    ``tasks``: an Arrow table, one row per task. ``read(tasks, *read_args)`` yields
    ``fn``'s input batches for any number of task rows (one in the pool, a partition's
    on the executors; default: the task rows are the input).
    ``fn(batch, *args)`` returns ``{name: table}`` (or one table, written to ``out``).
    ``summarize(batch, outputs)``: a small JSON-able dict per batch (``Written.info``).
    ``progress(written)`` is called as batches complete. Every function must be
    importable by name (module-level): they go to other processes.
    """
    from lake import engine

    clock = time.perf_counter()
    written = Written()
    if python_work_on_executors(config):
        _on_executors(spark, config, tasks, fn, args, out, read, read_args, summarize,
                      written)
    else:
        workers = workers or engine.decode_parallelism(config)
        if read_on_driver:
            batches = read(tasks, *read_args) if read is not None else iter([tasks])
            _pool_batches(config, batches, fn, out, args, workers, summarize, written, progress)
        else:
            _pool_tasks(config, tasks, fn, args, out, read, read_args, workers, summarize,
                        written, progress)
    written.seconds = time.perf_counter() - clock
    if progress is not None:
        progress(written)
    return written


# --- embedded engine: the process pool ------------------------------------------------

def _pool_batches(config, batches: Iterable, fn, out, args, workers, summarize,
                  written: Written, progress) -> None:
    """Batches read here, worked on in the pool (at most 2 per process in flight, which
    bounds the bytes held in memory)."""
    from lake import engine

    batches = iter(batches)
    first = next(batches, None)
    second = next(batches, None) if first is not None else None
    if second is None or workers == 1:
        # Small inputs (one batch) or one worker: work here, no process start-up.
        for task, batch in enumerate(itertools.chain(
                (b for b in (first, second) if b is not None), batches)):
            written.add(run_batch(fn, batch, args, out, task, 0, config, summarize))
            if progress is not None:
                progress(written)
        return
    pool = engine.process_pool(workers)
    pending: set[futures.Future] = set()
    for task, batch in enumerate(itertools.chain([first, second], batches)):
        pending.add(pool.submit(run_batch, fn, batch, args, out, task, 0, config, summarize))
        if len(pending) >= 2 * workers:
            done, pending = futures.wait(pending, return_when=futures.FIRST_COMPLETED)
            for future in done:
                written.add(future.result())
            if progress is not None:
                progress(written)
    for future in futures.as_completed(pending):
        written.add(future.result())


def _pool_tasks(config, tasks: pa.Table, fn, args, out, read, read_args, workers, summarize,
                written: Written, progress) -> None:
    """Each task read and worked on by one pool process."""
    from lake import engine

    rows = [tasks.slice(i, 1) for i in range(tasks.num_rows)]
    if workers == 1:
        results = (run_task(read, read_args, fn, args, row, out, i, config, summarize)
                   for i, row in enumerate(rows))
    else:
        n = len(rows)
        results = engine.process_pool(workers).map(
            run_task, [read] * n, [read_args] * n, [fn] * n, [args] * n, rows, [out] * n,
            range(n), [config] * n, [summarize] * n)
    for summaries in results:
        for summary in summaries:
            written.add(summary)
        if progress is not None:
            progress(written)


# --- JVM Spark: mapInArrow on the executors ----------------------------------------------

def _on_executors(spark, config, tasks: pa.Table, fn, args, out, read, read_args, summarize,
                  written: Written) -> None:
    if tasks.num_rows == 0:
        return
    numbered = tasks.append_column(TASK_COLUMN, pa.array(range(tasks.num_rows), pa.int64()))
    partitions = max(1, min(tasks.num_rows, _parallelism(spark)))
    # One task per row, spread over the partitions by task number.
    frame = spark.createDataFrame(numbered).repartitionByRange(
        partitions, TASK_COLUMN)
    work = _ExecutorWork(read, read_args, fn, args, out, config, summarize)
    from pyspark.sql.pandas.types import from_arrow_schema

    with _job_description(spark, f"map_batches:{fn.__module__}.{fn.__qualname__}"):
        summary = frame.mapInArrow(work, from_arrow_schema(SUMMARY_SCHEMA)).toArrow()
    by_piece: dict[tuple[int, int], dict] = {}
    for row in summary.to_pylist():
        piece = by_piece.setdefault((row["task"], row["piece"]), {
            "rows": {}, "schemas": {}, "info": json.loads(row["info"])})
        if row["name"] is None:
            continue
        piece["rows"][row["name"]] = row["rows"]
        if row["schema"] is not None:
            piece["schemas"][row["name"]] = pa.ipc.read_schema(pa.py_buffer(row["schema"]))
    for key in sorted(by_piece):
        written.add(by_piece[key])


@contextlib.contextmanager
def _job_description(spark, text: str):
    """Name the Spark jobs of a seam call (``spark.job.description``), so that the event
    log and the UI tell which tasks decoded or computed features, and on which executor.
    Classic sessions only (Spark Connect has no SparkContext)."""
    try:
        context = spark.sparkContext
    except Exception:
        context = None
    if context is None:
        yield
        return
    context.setJobDescription(text)
    try:
        yield
    finally:
        context.setJobDescription(None)


def _parallelism(spark) -> int:
    """Cores the engine offers Python work (classic: defaultParallelism; Connect: the
    shuffle partitions setting as the best available figure)."""
    try:
        return int(spark.sparkContext.defaultParallelism)
    except Exception:  # Spark Connect has no SparkContext
        return int(spark.conf.get("spark.sql.shuffle.partitions", "200"))


class _ExecutorWork:
    """The mapInArrow function: runs on an executor, one call per partition."""

    def __init__(self, read, read_args, fn, args, out, config, summarize):
        self.read, self.read_args, self.fn, self.args = read, read_args, fn, args
        self.out, self.config, self.summarize = out, config, summarize

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            # The partition's task rows go to ``read`` together (so that small files are
            # decoded in batches of chunk size, not one by one); its outputs are named
            # after its first task.
            if batch.num_rows == 0:
                continue
            table = pa.Table.from_batches([batch])
            task = min(table.column(TASK_COLUMN).to_pylist())
            clock = time.perf_counter()
            summaries = run_task(self.read, self.read_args, self.fn, self.args,
                                 table.drop_columns([TASK_COLUMN]), self.out, task,
                                 self.config, self.summarize)
            yield _summary_batch(task, summaries, time.perf_counter() - clock)


def _summary_batch(task: int, summaries: list[dict], seconds: float) -> pa.RecordBatch:
    rows: list[dict[str, Any]] = []
    for piece, summary in enumerate(summaries):
        info = json.dumps(summary["info"])
        names = list(summary["rows"]) or [None]
        for name in names:
            schema = summary["schemas"].get(name) if name is not None else None
            rows.append({"task": task, "piece": piece, "name": name,
                         "rows": summary["rows"].get(name, 0) if name is not None else 0,
                         "schema": schema.serialize().to_pybytes() if schema is not None
                         else None, "info": info, "seconds": seconds})
    return pa.RecordBatch.from_pylist(rows, schema=SUMMARY_SCHEMA)
