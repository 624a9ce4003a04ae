"""`make demo`: set up a lake and run the nightly pipeline on sample nights (embedded engine).

Sample nights are simulated by the project's own alert simulator (no download, no
../shared needed); when ../shared/data is present the real night 2018-11-29 is landed
too. Prints what each stage did and a summary of every table.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
from pathlib import Path

from lake import engine
from lake.cli import setup_logging
from lake.config import load_config
from lake.stages.nightly import run_night
from lake.summary import format_summary, table_summary
from lake.sources import night_from_name

REPO = Path(__file__).resolve().parents[1]
REAL_NIGHT = Path(os.environ.get("ALERT_LAKE_SHARED_DATA", REPO.parent / "shared" / "data")) \
    / "ztf" / "nights" / "ztf_public_20181129.tar.gz"


def sample_nights(out: Path, nights: int, alerts: int, seed: int) -> list[Path]:
    from simulator import simulate_season

    return [Path(p) for p in simulate_season(start="20231101", nights=nights,
                                             alerts_per_night=alerts, seed=seed, out=out)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lake", default="var/demo/lake")
    parser.add_argument("--nights", type=int, default=3)
    parser.add_argument("--alerts-per-night", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", action="store_true", help="keep the lake of an earlier demo")
    args = parser.parse_args(argv)
    setup_logging()
    lake_root = Path(args.lake).resolve()
    if not args.keep:
        shutil.rmtree(lake_root, ignore_errors=True)
    config = load_config(overrides={"lake": {"root": str(lake_root)}})

    print(f"== simulating {args.nights} nights x {args.alerts_per_night} alerts")
    inputs = sample_nights(lake_root.parent / "nights", args.nights, args.alerts_per_night,
                           args.seed)
    if REAL_NIGHT.exists():
        inputs.append(REAL_NIGHT)
    else:
        print(f"(real sample night not found at {REAL_NIGHT}; simulated nights only)")
    try:
        for path in inputs:
            print(f"== night {night_from_name(path.name)}: {path.name}")
            run_night(config, night_from_name(path.name), str(path))
    finally:
        engine.stop()
    print(f"\n== lake at {lake_root}")
    print(format_summary(table_summary(config)))
    from lake.publish import latest
    from lake.storage import publish_root

    pointer = latest(config) or {}
    print(f"\n== published catalog at {publish_root(config)} (latest: {pointer.get('version')})")
    if pointer.get("report"):
        print(f"   nightly report: {publish_root(config)}/{pointer['report']}")
    print("\nQuery it, e.g.:\n  .venv/bin/python -c \"from lake.config import load_config; "
          "from lake.publish import duckdb_catalog; "
          f"c = duckdb_catalog(load_config(overrides={{'lake': {{'root': '{lake_root}'}}}})); "
          "print(c.execute('SELECT class_name, count(*) n FROM probability WHERE "
          "classifier_name = \\'lc_classifier_top\\' AND ranking = 1 GROUP BY 1').df())\"")
    return 0


if __name__ == "__main__":
    logging.captureWarnings(True)
    raise SystemExit(main())
