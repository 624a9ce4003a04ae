"""Benchmark the alert simulator: alerts/s written on 1 and 2 worker processes.

    python bench/simulate.py [--alerts 6000] [--processes 1 2]

Plans one night (not timed), then times ``write_nights`` (Avro encoding, cutouts,
gzipped tar) for each process count; prints alerts/s and the speed-up.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulator import plan_season, write_nights

TARGET_ALERTS_PER_S = 2000  # issue 3: a 10^6-alert night in minutes on 2 cores


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--alerts", type=int, default=6000, help="alerts in the benchmark night")
    p.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--no-ingest", action="store_true", help="skip ingesting the simulated night")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    season = plan_season("20231018", 1, args.alerts, seed=args.seed, history_days=30)
    plan_s = time.perf_counter() - t0
    print(
        f"plan: {args.alerts} alerts, {len(season.objs)} objects, {len(season.rows['obj'])} "
        f"photometry rows in {plan_s:.2f} s ({args.alerts / plan_s:.0f} alerts/s)"
    )
    rates = {}
    for n in args.processes:
        out = Path(tempfile.mkdtemp(prefix="simbench"))
        try:
            cpu0 = os.times()
            t = time.perf_counter()
            paths = write_nights(season, out, processes=n)
            dt = time.perf_counter() - t
            cpu1 = os.times()
            size = sum(p.stat().st_size for p in paths)
            if n == max(args.processes) and not args.no_ingest:
                ingest_rate = _ingest(paths[0], out / "lake")
        finally:
            shutil.rmtree(out, ignore_errors=True)
        # CPU seconds of this process and of the (joined) worker processes: on a shared
        # machine wall time depends on other load, CPU time per alert does not
        cpu = sum(
            getattr(cpu1, k) - getattr(cpu0, k)
            for k in ("user", "system", "children_user", "children_system")
        )
        rates[n] = args.alerts / dt
        capacity = args.alerts / cpu * n
        ratio = rates[n] / TARGET_ALERTS_PER_S
        print(
            f"write: {n} process(es): {args.alerts} alerts in {dt:.2f} s = {rates[n]:.0f} "
            f"alerts/s (ratio to the {TARGET_ALERTS_PER_S} alerts/s target: {ratio:.2f}); "
            f"{1e3 * cpu / args.alerts:.2f} ms CPU/alert, i.e. {capacity:.0f} alerts/s with "
            f"{n} idle core(s); {size / args.alerts / 1024:.1f} KiB/alert"
        )
    load = os.getloadavg()[0]
    print(f"machine load average (1 min) at the end: {load:.2f} on {os.cpu_count()} cores")
    if 1 in rates and 2 in rates:
        print(f"speed-up 2 vs 1 process: {rates[2] / rates[1]:.2f}x")
    if not args.no_ingest:
        n = max(args.processes)
        print(f"the same night ingested (embedded engine, {n} workers): {ingest_rate:.0f} alerts/s; "
              f"simulating it is {rates[n] / ingest_rate:.1f}x faster than landing it")
    return rates


def _ingest(path: Path, lake: Path) -> float:
    """alerts/s of the ingest stage on a simulated night (engine started after writing:
    the simulator forks its workers)."""
    from lake import engine
    from lake.config import load_config
    from lake.stages.ingest import ingest

    config = load_config(overrides={"lake": {"root": str(lake)}})
    try:
        engine.get_spark(config)
        result = ingest(config, str(path))
    finally:
        engine.stop()
    return result.alerts / result.seconds


if __name__ == "__main__":
    main()
