"""Ingest throughput: real night and a bigger input, on 1 and 2 decoding processes,
next to a plain single-process fastavro loop over the same files (the reference).

    python bench/ingest.py [--repeat 10]
    python bench/ingest.py --survey lsst [--alerts 20000] [--history-days 60]

``--survey lsst``: a simulated Rubin night (``simulator.rubin``, schema 10.0 containers with
cutouts) of ``--alerts`` alerts, in alerts/s and MB/s (uncompressed alert bytes) next to a
plain fastavro decode loop over the same packets. Histories are ``--history-days`` long
(Rubin's are up to 365: the packets, and both loops, get slower in proportion).
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


def ingest_once(source: Path, workers: int, lake_root: Path, survey: str = "ztf"
                ) -> tuple[int, float, float]:
    from lake.config import load_config
    from lake.stages.ingest import ingest

    config = load_config(overrides={"lake": {"root": str(lake_root)}, "survey": survey,
                                    "ingest": {"workers": workers, "chunk_alerts": 500}})
    result = ingest(config, str(source), workers=workers)
    return result.alerts, result.seconds, result.decode_seconds


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=10, help="copies of the night in the bigger input")
    parser.add_argument("--survey", choices=("ztf", "lsst"), default="ztf")
    parser.add_argument("--alerts", type=int, default=20000, help="Rubin: alerts of the night")
    parser.add_argument("--history-days", type=int, default=60, help="Rubin: history length")
    args = parser.parse_args(argv)
    if args.survey == "lsst":
        return lsst(args)
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


def tar_bytes(path: Path) -> int:
    """Uncompressed bytes of the alert files in a tarball."""
    with tarfile.open(path) as archive:
        return sum(m.size for m in archive if m.isfile())


def lsst(args) -> list[dict]:
    from lake import engine
    from lake.config import load_config
    from simulator.rubin.night import simulate_nights

    engine.get_spark(load_config())  # start the engine outside the timings
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clock = time.perf_counter()
        night, = simulate_nights("20260305", 1, args.alerts, seed=1, out=tmp / "sim",
                                 history_days=args.history_days, framing="container")
        print(f"simulated {args.alerts} Rubin alerts in {time.perf_counter() - clock:.0f} s")
        megabytes = tar_bytes(night) / 1e6
        alerts, reference = fastavro_loop(night)
        ref_rate = alerts / reference
        for workers in (1, 2):
            landed, seconds, decode = ingest_once(night, workers, tmp / f"lake-{workers}", "lsst")
            assert landed == alerts, (landed, alerts)
            rate = alerts / seconds
            rows.append({"input": f"rubin_sim_{alerts}", "alerts": alerts, "MB": megabytes,
                         "cores": workers, "ingest_s": seconds, "alerts_per_s": rate,
                         "MB_per_s": megabytes / seconds, "per_core": rate / workers,
                         "decode_s": decode, "fastavro_loop_per_s": ref_rate,
                         "fastavro_MB_per_s": megabytes / reference,
                         "x_reference_per_core": rate / workers / ref_rate})
    report("ingest_lsst", rows)
    print("target: >= 0.6x of the plain decode loop per core")
    engine.stop()
    return rows


if __name__ == "__main__":
    main()
