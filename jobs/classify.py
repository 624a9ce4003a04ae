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
from lake.cli import add_night_selection, fail, selected_nights, setup_logging
from lake.config import load_config
from lake.stages.classify import ModelMissing, classify


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_night_selection(parser)
    parser.add_argument("--lake", help="lake root (default: lake.root of the configuration)")
    args = parser.parse_args(argv)
    setup_logging()
    config = load_config(overrides={"lake": {"root": args.lake}} if args.lake else None)
    nights = selected_nights(args)
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
