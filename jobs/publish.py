"""Validate a night and publish the curated catalog as Parquet (local folder or S3).

    python jobs/publish.py --night 20181129 [--lake ROOT] [--to s3://bucket/catalog] [--keep 7]
    spark-submit jobs/publish.py --night 20181129

Runs the night's data-quality gates (great-expectations; results in the `validation`
table), then writes object, magstat, feature, probability and lightcurve under a new
versioned prefix, its manifest last, then `latest.json`. A failing gate publishes
nothing, prints the failed expectations and exits 1; an object-store failure exits 2
(readers still see the previous version; re-run to complete).
"""
from __future__ import annotations

import argparse
import logging
import sys

from lake import engine
from lake.cli import fail, parse_night, setup_logging
from lake.config import load_config


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--night", required=True, help="YYYYMMDD")
    parser.add_argument("--lake", help="lake root (default: lake.root of the configuration)")
    parser.add_argument("--to", help="publication root, a folder or s3://bucket/prefix "
                        "(default: publish.root, else `publish` beside the lake)")
    parser.add_argument("--keep", type=int, help="keep only the N newest versions")
    parser.add_argument("--no-report", action="store_true", help="skip the nightly HTML report")
    parser.add_argument("--skip-gate", action="store_true",
                        help="publish without validating (an operator's override)")
    args = parser.parse_args(argv)
    setup_logging()
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    overrides = {}
    if args.lake:
        overrides["lake"] = {"root": args.lake}
    if args.to:
        overrides["publish"] = {"root": args.to}
    config = load_config(overrides=overrides or None)
    night = parse_night(args.night)

    from lake.publish import PublishError, publish
    from lake.quality import GateFailed

    try:
        manifest = publish(config, night, gate=not args.skip_gate, report=not args.no_report,
                           keep=args.keep)
    except GateFailed as error:
        print(error.result.to_markdown(), file=sys.stderr)
        print(f"error: {error}; night {night} NOT published", file=sys.stderr)
        return 1
    except (PublishError, RuntimeError) as error:
        fail(str(error))
    finally:
        engine.stop()
    from lake import storage

    print(f"published night {night} as {manifest['version']} "
          f"to {storage.publish_root(config)}")
    for name, table in manifest["tables"].items():
        print(f"  {name:<12} {table['rows']:>9} rows in {len(table['files'])} file(s)")
    return 0


if __name__ == "__main__":
    logging.captureWarnings(True)
    raise SystemExit(main())
