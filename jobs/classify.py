"""Classify the objects touched by one or more nights (light curves and stamps).

    python jobs/classify.py --night 20231101 [--lake ROOT]
    python jobs/classify.py --nights 20231101..20231130
    spark-submit jobs/classify.py --night 20231101

Writes the `probability` table (oid, classifier_name, classifier_version, class_name,
probability, ranking) by MERGE. Needs trained models (`make models`).
"""
from __future__ import annotations

import argparse
import logging

from lake import engine
from lake.cli import fail, night_range, parse_night, setup_logging
from lake.config import load_config
from lake.pipeline.classify import ModelMissing, classify


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--night", help="YYYYMMDD")
    which.add_argument("--nights", help="FROM..TO")
    which.add_argument("--all", action="store_true", help="every object in the lake")
    parser.add_argument("--lake", help="lake root (default: lake.root of the configuration)")
    args = parser.parse_args(argv)
    setup_logging()
    config = load_config(overrides={"lake": {"root": args.lake}} if args.lake else None)
    nights = None if args.all else ([parse_night(args.night)] if args.night
                                    else night_range(args.nights))
    try:
        result = classify(config, nights)
    except ModelMissing as error:
        fail(str(error))
    finally:
        engine.stop()
    print(f"classified {result.objects} objects in {result.seconds:.1f} s: "
          + ", ".join(f"{k} {v} rows" for k, v in result.rows.items()))
    return 0


if __name__ == "__main__":
    logging.captureWarnings(True)
    raise SystemExit(main())
