"""Simulate nightly alert archives with known truth: ZTF (schema 4.02) or Rubin (10.0).

Usage:
    python jobs/simulate.py --start 20231018 --nights 3 --alerts-per-night 1500 \
        --seed 1 --out data/sim
    python jobs/simulate.py --survey lsst --start 20260305 --alerts-per-night 500 \
        --history-days 365 --framing both --out data/sim-lsst

ZTF: one ztf_public_YYYYMMDD.tar.gz per night plus truth.parquet and lightcurves.parquet.
Rubin (``simulator/rubin``): lsst_YYYYMMDD.tar.gz (Avro containers) and/or
lsst_wire_YYYYMMDD.tar.gz (Kafka wire packets) per dayObs night, plus lsst_truth.parquet.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from simulator import simulate_season


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--survey", choices=("ztf", "lsst"), default="ztf")
    p.add_argument("--start", required=True,
                   help="first night, YYYYMMDD (UT date; Rubin: dayObs)")
    p.add_argument("--nights", type=int, default=1)
    p.add_argument("--alerts-per-night", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument(
        "--history-days",
        type=int,
        default=None,
        help="(default: ZTF 30, Rubin 365) days simulated before --start (epochs appear in prv_candidates and "
        "lightcurves.parquet; use hundreds for long training light curves)",
    )
    p.add_argument("--class-mix", default="realistic", choices=["realistic", "balanced"])
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--no-forced-photometry", action="store_true", help="write fp_hists as null")
    p.add_argument("--no-lightcurves", action="store_true", help="skip lightcurves.parquet")
    p.add_argument("--first-partition", type=int, default=0, metavar="K",
                   help="number this run's sky partitions (50,000 alerts each) from K: runs "
                   "of one seed with disjoint numbers write disjoint objects and candids over "
                   "the same exposures, so several runs can make one very large night")
    p.add_argument("--framing", choices=("container", "wire", "both"), default="both",
                   help="Rubin: Avro containers, Kafka wire packets, or both")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    if args.survey == "lsst":
        from simulator.rubin.night import simulate_nights

        paths = simulate_nights(args.start, args.nights, args.alerts_per_night, seed=args.seed,
                                out=args.out, history_days=365 if args.history_days is None else args.history_days,
                                framing=args.framing)
    else:
        paths = _ztf(args)
    dt = time.perf_counter() - t0
    n = args.nights * args.alerts_per_night
    for path in paths:
        print(path)
    print(f"{n} alerts in {dt:.1f} s ({n / dt:.0f} alerts/s)", file=sys.stderr)
    return 0


def _ztf(args):
    return simulate_season(
        args.start,
        args.nights,
        args.alerts_per_night,
        seed=args.seed,
        out=args.out,
        history_days=30 if args.history_days is None else args.history_days,
        class_mix=args.class_mix,
        processes=args.processes,
        forced_photometry=not args.no_forced_photometry,
        export_lightcurves=not args.no_lightcurves,
        first_partition=args.first_partition,
    )


if __name__ == "__main__":
    sys.exit(main())
