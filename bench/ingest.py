"""Ingest throughput: real night and a bigger input, on 1 and 2 decoding processes,
next to a plain single-process fastavro loop over the same files (the reference).

    python bench/ingest.py [--repeat 10]
"""
from __future__ import annotations

import argparse
import io
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import fastavro

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED_DATA, report  # noqa: E402

NIGHT = "ztf/nights/ztf_public_20181129.tar.gz"


def fastavro_loop(path: Path) -> tuple[int, float]:
    """Reference: read the tarball and decode every alert with fastavro.reader."""
    start, alerts = time.perf_counter(), 0
    with tarfile.open(path) as archive:
        for member in archive:
            if member.isfile():
                alerts += len(list(fastavro.reader(io.BytesIO(archive.extractfile(member).read()))))
    return alerts, time.perf_counter() - start


def repeated_night(source: Path, copies: int, out: Path) -> Path:
    """The night ``copies`` times, each copy with fresh candids (a bigger real-shaped input)."""
    with tarfile.open(source) as archive:
        files = [archive.extractfile(m).read() for m in archive if m.isfile()]
    target = out / f"ztf_public_20181129x{copies}.tar.gz"
    with tarfile.open(target, "w:gz", compresslevel=1) as archive:
        for copy in range(copies):
            for data in files:
                reader = fastavro.reader(io.BytesIO(data))
                schema, record = reader.writer_schema, next(reader)
                record["candidate"]["candid"] += copy * 10**6
                record["candid"] = record["candidate"]["candid"]
                record["objectId"] = f"{record['objectId'][:-2]}{copy:02d}"[-12:]
                buffer = io.BytesIO()
                fastavro.writer(buffer, schema, [record])
                info = tarfile.TarInfo(f"{record['candid']}.avro")
                info.size = buffer.tell()
                buffer.seek(0)
                archive.addfile(info, buffer)
    return target


def ingest_once(source: Path, workers: int, lake_root: Path) -> tuple[int, float, float]:
    from lake.config import load_config
    from lake.stages.ingest import ingest

    config = load_config(overrides={"lake": {"root": str(lake_root)},
                                    "ingest": {"workers": workers, "chunk_alerts": 500}})
    result = ingest(config, str(source), workers=workers)
    return result.alerts, result.seconds, result.decode_seconds


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=10, help="copies of the night in the bigger input")
    args = parser.parse_args(argv)
    night = SHARED_DATA / NIGHT
    if not night.exists():
        print(f"skipped: {night} not found (the benchmark reads the real night)")
        return []
    from lake import engine
    from lake.config import load_config

    engine.get_spark(load_config())  # start the engine outside the timings
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        inputs = [("night_20181129", night),
                  (f"night_x{args.repeat}", repeated_night(night, args.repeat, tmp))]
        for label, source in inputs:
            alerts, reference = fastavro_loop(source)
            ref_rate = alerts / reference
            for workers in (1, 2):
                landed, seconds, decode = ingest_once(source, workers, tmp / f"lake-{label}-{workers}")
                rate = alerts / seconds
                rows.append({"input": label, "alerts": alerts, "cores": workers,
                             "ingest_s": seconds, "alerts_per_s": rate,
                             "per_core": rate / workers, "decode_s": decode,
                             "fastavro_loop_per_s": ref_rate, "x_reference": rate / ref_rate})
    report("ingest", rows)
    big = [r for r in rows if r["input"] != "night_20181129"]
    if len(big) == 2:
        print(f"scaling 1 -> 2 cores: {big[1]['alerts_per_s'] / big[0]['alerts_per_s']:.2f}x; "
              f"targets: >= 500 alerts/s per core, >= 900 alerts/s on 2 cores")
    engine.stop()
    return rows


if __name__ == "__main__":
    main()
