"""Benchmark: the lake's hand-written streamed write paths against delta-rs's own.

Two writes, each measured in its own process (peak RSS from the kernel's high-water mark
``VmHWM`` and a 20 Hz psutil sampler; wall time and the process's CPU time), on synthetic data with the real column
layout (the staging schemas of ``lake.bronze.decode`` from a real ZTF 4.02 alert):

- ``--case append``: a night's bronze landing, the ``alert`` and ``cutout`` tables
  (~24 kB of blobs an alert: 8 kB of Avro bytes, three 5.3 kB stamps, incompressible).
  The table already holds 5% of the night's keys from an earlier source (which outranks
  the new one: their copies are dropped) and 1% of the staged alerts are staged twice.
- ``--case update``: the detection corrections, 5.6 detections an alert over 31 nights,
  the five ``CORRECTION_COLUMNS`` set on every row (the first process of a night: the
  columns are added, every row changes).

``--path``:
- ``handwritten``: ``lake.delta.append_staged`` / ``lake.delta.update_columns`` (pyarrow
  data files, one delta-rs transaction of add (and remove) actions);
- ``deltars-merge``: ``DeltaTable.merge(reader, ..., streamed_exec=True)`` with the
  priority rule (append) or the changed-value rule (update) as the MERGE's conditions;
- ``deltars-write``: the same decision as ``handwritten`` but the rows written by
  ``write_deltalake`` from a ``RecordBatchReader`` (append; update: an overwrite of the
  touched nights with the rewritten files as the reader).

    python bench/delta_paths.py --case append --alerts 100000 --path handwritten

Generated data is kept under ``--work`` (reused by the next path of the same size);
``--clean`` removes it. Run one measurement at a time: the figures are the machine's.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ALERTS_PER_FILE = 1000          # the ingest's chunk_alerts (conf/default.yaml)
AVRO_BYTES, STAMP_BYTES = 8000, 5300
NIGHT = 20231018
DETECTIONS_PER_ALERT = 5.6
HISTORY_NIGHTS = 31
LANDED_SHARE, REPEATED_SHARE = 0.05, 0.01
CORRECTIONS = [("magpsf_corr", pa.float64()), ("sigmapsf_corr", pa.float64()),
               ("sigmapsf_corr_ext", pa.float64()), ("corrected", pa.bool_()),
               ("dubious", pa.bool_())]


# --- synthetic data with the real layout --------------------------------------------------

def real_staging_schemas() -> dict[str, pa.Schema]:
    from lake.bronze.decode import decode_items
    from lake.sources import SourceItem

    from bench.common import SHARED_DATA

    path = sorted(glob.glob(str(SHARED_DATA / "ztf" / "alerts" / "v4.02_20231018" / "*.avro")))[0]
    tables = decode_items([SourceItem(path, "m", None, Path(path).read_bytes())], "bench")
    return {name: table.schema for name, table in tables.items()}


def detection_schema(history: pa.Schema) -> pa.Schema:
    """The detection table's columns (``lake.silver.detection``) from the history layout."""
    fields = [pa.field("oid", pa.string())]
    fields += [f if f.name != "isdiffpos" else pa.field("isdiffpos", pa.int32())
               for f in history if f.name not in ("objectId", "parent_candid")]
    fields += [pa.field("drb", pa.float32()), pa.field("drbversion", pa.string()),
               pa.field("has_stamp", pa.bool_()), pa.field("parent_candid", pa.int64()),
               pa.field("mjd", pa.float64()), pa.field("night", pa.int32())]
    return pa.schema(fields)


def _blobs(rng, rows: int, size: int) -> pa.Array:
    data = rng.integers(0, 256, rows * size, dtype=np.uint8).tobytes()
    offsets = np.arange(0, (rows + 1) * size, size, dtype=np.int32)
    return pa.Array.from_buffers(pa.binary(), rows, [None, pa.py_buffer(offsets.tobytes()),
                                                     pa.py_buffer(data)])


def _column(rng, field: pa.Field, rows: int) -> pa.Array:
    kind = field.type
    if pa.types.is_floating(kind):
        return pa.array(rng.normal(18, 2, rows).astype(kind.to_pandas_dtype()))
    if pa.types.is_integer(kind):
        return pa.array(rng.integers(0, 1000, rows).astype(kind.to_pandas_dtype()))
    if pa.types.is_boolean(kind):
        return pa.array(rng.random(rows) < 0.5)
    if pa.types.is_binary(kind):
        return _blobs(rng, rows, AVRO_BYTES if field.name == "avro" else STAMP_BYTES)
    return pa.array(np.array(["ztf_value_%d" % i for i in range(16)])[rng.integers(0, 16, rows)])


def _table(rng, schema: pa.Schema, rows: int, given: dict) -> pa.Table:
    return pa.Table.from_arrays([given[f.name] if f.name in given
                                 else _column(rng, f, rows).cast(f.type) for f in schema],
                                schema=schema)


def generate_append(work: Path, alerts: int) -> None:
    """Staged alert and cutout files of one night, and a lake holding 5% of its keys."""
    schemas = real_staging_schemas()
    rng = np.random.default_rng(alerts)
    candids = np.arange(alerts, dtype=np.int64) + 10**12
    repeated = rng.choice(candids, int(alerts * REPEATED_SHARE), replace=False)
    order = np.concatenate([candids, repeated])
    rng.shuffle(order)
    for name in ("alert", "cutout"):
        (work / "staged" / name).mkdir(parents=True, exist_ok=True)
    for i, start in enumerate(range(0, len(order), ALERTS_PER_FILE)):
        rows = order[start:start + ALERTS_PER_FILE]
        _write_staged(rng, work / "staged", i, rows, schemas, "b.tar.gz")
    # the earlier landing: 5% of the keys from a source that sorts first (it keeps them)
    landed = rng.choice(candids, int(alerts * LANDED_SHARE), replace=False)
    (work / "landed").mkdir(parents=True, exist_ok=True)
    for name in ("alert", "cutout"):
        (work / "landed" / name).mkdir(parents=True, exist_ok=True)
    for i, start in enumerate(range(0, len(landed), ALERTS_PER_FILE)):
        _write_staged(rng, work / "landed", i, landed[start:start + ALERTS_PER_FILE], schemas,
                      "a.tar.gz")
    config = _config(work / "base")
    from lake import delta
    for name in ("alert", "cutout"):
        files = sorted(glob.glob(str(work / "landed" / name / "*.parquet")))
        delta.append_staged(config, name, files, schemas[name])
    shutil.rmtree(work / "landed")


def _write_staged(rng, folder: Path, i: int, candids, schemas, source: str) -> None:
    rows = len(candids)
    given = {"candid": pa.array(candids), "night": pa.array(np.full(rows, NIGHT, np.int32)),
             "source": pa.array([source] * rows), "member": pa.array([f"{c}.avro" for c in candids]),
             "objectId": pa.array([f"ZTF23a{c % 10**7:07d}" for c in candids])}
    for name in ("alert", "cutout"):
        pq.write_table(_table(rng, schemas[name], rows, given),
                       folder / name / f"part-{i:06d}.parquet", compression="snappy")


def generate_update(work: Path, alerts: int) -> None:
    """A detection table of the night's objects and the staged corrections of every row."""
    import deltalake

    schema = detection_schema(real_staging_schemas()["prv_candidate"])
    rng = np.random.default_rng(alerts)
    total = int(alerts * DETECTIONS_PER_ALERT)
    chunk = 200_000

    def batches():
        for start in range(0, total, chunk):
            rows = min(chunk, total - start)
            candid = np.arange(start, start + rows, dtype=np.int64) + 10**12
            given = {"candid": pa.array(candid),
                     "oid": pa.array([f"ZTF23a{c % (alerts // 2 or 1):07d}" for c in candid]),
                     "night": pa.array((NIGHT - rng.integers(0, HISTORY_NIGHTS, rows))
                                       .astype(np.int32)),
                     "parent_candid": pa.nulls(rows, pa.int64())}
            yield from _table(rng, schema, rows, given).to_batches()

    config = _config(work / "base")
    from lake import storage
    deltalake.write_deltalake(storage.table_uri(config, "detection"),
                              pa.RecordBatchReader.from_batches(schema, batches()),
                              partition_by=["night"])
    # the staged corrections, as the engine writes them: several files, in no order
    table = deltalake.DeltaTable(storage.table_uri(config, "detection"))
    keys = table.to_pyarrow_table(columns=["candid", "oid", "night"])
    keys = keys.take(pa.array(rng.permutation(keys.num_rows)))
    staged = work / "staged" / "corrected_detection"
    staged.mkdir(parents=True, exist_ok=True)
    per_file = -(-keys.num_rows // 8)
    for i in range(8):
        part = keys.slice(i * per_file, per_file)
        columns = {f.name: _column(rng, pa.field(f.name, f.type), part.num_rows)
                   for f in map(lambda c: pa.field(*c), CORRECTIONS)}
        for name, column in columns.items():
            part = part.append_column(name, column)
        pq.write_table(part, staged / f"part-{i:05d}.parquet")


# --- the measured writes -----------------------------------------------------------------

def _config(root: Path) -> dict:
    from lake.config import load_config

    return load_config(overrides={"lake": {"root": str(root)}})


def append_handwritten(config, staged: Path, schemas) -> dict:
    from lake import delta

    return {name: delta.append_staged(config, name, _files(staged, name), schemas[name])
            for name in ("alert", "cutout")}


def append_deltars_write(config, staged: Path, schemas) -> dict:
    import deltalake

    from lake import storage
    from lake.delta import append
    from lake.tables import TABLES

    counts = {}
    for name in ("alert", "cutout"):
        files = _files(staged, name)
        plan = append.plan_append(config, name, files, schemas[name])
        assert plan is not None and not plan.new_fields
        reader = pa.RecordBatchReader.from_batches(
            plan.target, (b for t in append.planned_rows(config, files, plan)
                          for b in t.to_batches()))
        deltalake.write_deltalake(storage.table_uri(config, name), reader, mode="append",
                                  partition_by=list(TABLES[name].partition_by) or None,
                                  storage_options=storage.delta_storage_options(config))
        counts[name] = {"inserted": plan.rows}
    return counts


def datafusion_sql(spark_sql: str) -> str:
    """Spark SQL's quoting and NULL-safe equality in DataFusion's dialect."""
    return spark_sql.replace("`", '"').replace("<=>", "IS NOT DISTINCT FROM")


def append_deltars_merge(config, staged: Path, schemas) -> dict:
    """The batch's own duplicates resolved on the narrow columns (a MERGE needs one source
    row per key), then delta-rs's streamed MERGE decides against the landed rows."""
    from lake import delta
    from lake.delta import append, priority
    from lake.tables import TABLES

    counts = {}
    for name in ("alert", "cutout"):
        table, files = TABLES[name], _files(staged, name)
        narrow = list(dict.fromkeys([*table.keys, *priority.priority_columns(table),
                                     *table.partition_by]))
        winners = priority.first_by_priority(append.staged_narrow(config, files, narrow), table)
        keep = {i: np.sort(r.to_numpy()) for i, r in winners.groupby("_file")["_row"]}
        target = delta.delta_table(config, name)
        plan = append.AppendPlan(keep, pa.schema(target.schema().to_arrow()), [], True,
                                 len(winners))
        reader = pa.RecordBatchReader.from_batches(
            plan.target, (b for t in append.planned_rows(config, files, plan)
                          for b in t.to_batches()))
        on = " AND ".join(f's."{k}" = t."{k}"' for k in table.keys)
        on += f' AND t."night" = {NIGHT}'
        merger = target.merge(reader, on, source_alias="s", target_alias="t",
                              streamed_exec=True)
        if table.priority:
            merger = merger.when_matched_update_all(
                predicate=datafusion_sql(priority.outranks_sql(table)))
        counts[name] = merger.when_not_matched_insert_all().execute()
    return counts


def update_handwritten(config, staged: Path) -> dict:
    from lake import delta

    return delta.update_columns(config, "detection", str(staged), [c for c, _ in CORRECTIONS])


def update_deltars_merge(config, staged: Path) -> dict:
    import deltalake
    import pyarrow.dataset as pads

    from lake import delta

    target = delta.delta_table(config, "detection")
    target.alter.add_columns([deltalake.Field.from_arrow(pa.field(c, t)) for c, t in CORRECTIONS])
    target = delta.delta_table(config, "detection")
    source = pads.dataset(str(staged), format="parquet")
    reader = source.scanner(batch_size=64_000).to_reader()
    same = []
    for c, kind in CORRECTIONS:
        exact = f'(t."{c}" IS NOT DISTINCT FROM s."{c}")'
        same.append(f"({exact} OR abs(t.\"{c}\" - s.\"{c}\") <= 1e-9 * greatest(abs(t.\"{c}\"), "
                    f"abs(s.\"{c}\")))" if kind == pa.float64() else f"({exact})")
    merger = target.merge(reader, 't."candid" = s."candid" AND t."oid" = s."oid" AND '
                          't."night" = s."night"', source_alias="s", target_alias="t",
                          streamed_exec=True)
    return merger.when_matched_update({c: f's."{c}"' for c, _ in CORRECTIONS},
                                      predicate="NOT (" + " AND ".join(same) + ")").execute()


def update_deltars_write(config, staged: Path) -> dict:
    """The hand-written per-file rewrite as a reader; delta-rs writes and commits it as an
    overwrite of the touched nights."""
    import deltalake
    import pyarrow.dataset as pads

    from lake import delta, storage
    from lake.delta import datafiles, schema as schema_evolution, update

    columns = [c for c, _ in CORRECTIONS]
    target = delta.delta_table(config, "detection")
    source = pads.dataset(str(staged), format="parquet")
    schema_evolution.add_columns(target, "detection",
                                 [source.schema.field(c) for c in columns])
    target = delta.delta_table(config, "detection")
    schema = pa.schema(target.schema().to_arrow())
    wanted = ["candid", "oid", "night"] + columns
    batch = source.to_table(columns=wanted)
    batch = pa.Table.from_arrays([batch.column(c).cast(schema.field(c).type) for c in wanted],
                                 names=["candid", "oid"] + [f"{c}{update._NEW}"
                                                            for c in wanted[2:]])
    by_night = update._split_by_partition(batch, [f"night{update._NEW}"])
    uri = storage.table_uri(config, "detection")
    files = pa.table(target.get_add_actions(flatten=True)).select(["path", "partition.night"])
    touched = sorted({int(v[0]) for v in by_night})
    changed = [0]

    def rows():
        for file in files.to_pylist():
            night = datafiles.partition_text(file["partition.night"])
            if (night,) not in by_night:
                continue
            data = update._rewritten_file(config, datafiles.data_file_uri(uri, file["path"]),
                                          schema, {"night": night}, ["candid", "oid"], columns,
                                          by_night[(night,)])
            if data is None:    # the file as it is (the overwrite replaces the whole night)
                path = datafiles.data_file_uri(uri, file["path"])
                held = pq.read_table(path)
                data = (pa.Table.from_arrays(
                    [held.column(f.name).cast(f.type) if f.name in held.column_names else
                     pa.array([night] * held.num_rows).cast(f.type) if f.name == "night" else
                     pa.nulls(held.num_rows, f.type) for f in schema], schema=schema), 0)
            changed[0] += data[1]
            yield from data[0].to_batches()

    deltalake.write_deltalake(uri, pa.RecordBatchReader.from_batches(schema, rows()),
                              mode="overwrite", partition_by=["night"],
                              predicate=f"night IN ({', '.join(map(str, touched))})")
    return {"updated": changed[0]}


def _files(staged: Path, name: str) -> list[str]:
    return sorted(glob.glob(str(staged / name / "*.parquet")))


class PeakMemory:
    """Peak RSS of this process: a 20 Hz sampler, and the kernel's high-water mark."""

    def __init__(self, limit: int = 0):
        import psutil

        self.process, self.peak, self.stop = psutil.Process(), 0, threading.Event()
        self.limit = limit
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            if self.limit and self.peak > self.limit:   # a shared machine: stop, say so
                print(json.dumps({"aborted": f"RSS above {self.limit / 2**30:.1f} GiB"}),
                      flush=True)
                os._exit(3)
            time.sleep(0.05)

    def __enter__(self):
        self.start = self.process.memory_info().rss
        self.thread.start()
        return self

    def __exit__(self, *_):
        self.stop.set()
        self.thread.join()

    @staticmethod
    def high_water_mark() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return 0


def measure(case: str, path: str, alerts: int, work: Path, limit: int = 0) -> dict:
    import deltalake

    from lake import storage

    data = work / f"{case}-{alerts}"
    lake = work / f"lake-{case}-{alerts}-{path}"
    shutil.rmtree(lake, ignore_errors=True)
    shutil.copytree(data / "base", lake)
    config = _config(lake)
    staged = data / "staged"
    if case == "append":
        schemas = real_staging_schemas()
        run = {"handwritten": append_handwritten, "deltars-write": append_deltars_write,
               "deltars-merge": append_deltars_merge}[path]
        call = lambda: run(config, staged, schemas)  # noqa: E731
    else:
        run = {"handwritten": update_handwritten, "deltars-write": update_deltars_write,
               "deltars-merge": update_deltars_merge}[path]
        call = lambda: run(config, staged / "corrected_detection")  # noqa: E731
    import gc
    gc.collect()
    with PeakMemory(limit) as memory:
        clock, cpu = time.perf_counter(), memory.process.cpu_times()
        counts = call()
        seconds = time.perf_counter() - clock
        used = memory.process.cpu_times()
    # CPU seconds of the process (all threads): less sensitive than wall time to a
    # machine shared with other work
    cpu_seconds = used.user + used.system - cpu.user - cpu.system
    tables = ("alert", "cutout") if case == "append" else ("detection",)
    result = {"case": case, "path": path, "alerts": alerts, "seconds": round(seconds, 1),
              "cpu_seconds": round(cpu_seconds, 1),
              "peak_rss_mb": round(memory.peak / 2**20), "vmhwm_mb":
              round(PeakMemory.high_water_mark() / 2**20),
              "rss_before_mb": round(memory.start / 2**20)}
    for name in tables:
        table = deltalake.DeltaTable(storage.table_uri(config, name))
        keys = table.to_pyarrow_table(columns=["candid"]).column("candid")
        result[f"{name}_rows"] = len(keys)
        result[f"{name}_distinct"] = len(keys.unique())
        result[f"{name}_files"] = len(table.file_uris())
    if case == "update":
        corrected = deltalake.DeltaTable(storage.table_uri(config, "detection")).to_pyarrow_table(
            columns=["magpsf_corr"]).column("magpsf_corr")
        result["corrected_rows"] = len(corrected) - corrected.null_count
    result["counts"] = str(counts)[:300]
    shutil.rmtree(lake, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", choices=["append", "update"], required=True)
    parser.add_argument("--alerts", type=int, required=True)
    parser.add_argument("--path", choices=["handwritten", "deltars-merge", "deltars-write"])
    parser.add_argument("--work", type=Path, default=REPO / "var" / "bench" / "delta_paths")
    parser.add_argument("--generate", action="store_true", help="only generate the data")
    parser.add_argument("--clean", action="store_true", help="remove this size's data")
    parser.add_argument("--max-rss-gb", type=float, default=0,
                        help="abort the measurement above this RSS (0: no limit)")
    args = parser.parse_args()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    data = args.work / f"{args.case}-{args.alerts}"
    if args.clean:
        shutil.rmtree(data, ignore_errors=True)
        return
    if args.generate:
        shutil.rmtree(data, ignore_errors=True)
        clock = time.perf_counter()
        (generate_append if args.case == "append" else generate_update)(data, args.alerts)
        print(f"generated {data} in {time.perf_counter() - clock:.0f} s", file=sys.stderr)
        return
    if not (data / "base").exists():   # generated in a child process: not in the peak
        subprocess.run([sys.executable, __file__, "--case", args.case, "--alerts",
                        str(args.alerts), "--work", str(args.work), "--generate"], check=True)
    result = measure(args.case, args.path, args.alerts, args.work,
                     int(args.max_rss_gb * 2**30))
    print(json.dumps(result))
    with open(args.work / "results.jsonl", "a") as out:
        out.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
