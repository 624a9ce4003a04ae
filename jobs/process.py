"""Correct, summarize and featurize the objects touched by one or more nights.

    python jobs/process.py --night 20181129 [--lake ROOT]
    python jobs/process.py --nights 20231101..20231103
    python jobs/process.py --all
    spark-submit jobs/process.py --night 20181129

Reads each touched object's whole history from all nights and updates the correction
columns of `detection`, and the `object`, `magstat` and `feature` tables (MERGE by key).
"""
from __future__ import annotations

import argparse
import logging

from lake import engine
from lake.cli import add_night_selection, fail, selected_nights, setup_logging
from lake.config import load_config
from lake.stages.process import process


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_night_selection(parser)
    parser.add_argument("--lake", help="lake root (default: lake.root of the configuration)")
    parser.add_argument("--workers", type=int, help="feature processes (default: one per core)")
    parser.add_argument("--no-features", action="store_true")
    args = parser.parse_args(argv)
    setup_logging()
    config = load_config(overrides={"lake": {"root": args.lake}} if args.lake else None)
    nights = selected_nights(args)
    try:
        result = process(config, nights, args.workers, with_features=not args.no_features)
    except RuntimeError as error:
        fail(str(error))
    finally:
        engine.stop()
    print(f"processed {result.objects} objects in {result.seconds:.1f} s "
          f"(features {result.feature_seconds:.1f} s), run {result.run_id}")
    for name, counts in result.tables.items():
        print(f"  {name:<10} +{counts['inserted']} rows, {counts['updated']} updated")
    return 0


if __name__ == "__main__":
    logging.captureWarnings(True)
    raise SystemExit(main())
