"""Validate a night and publish the curated catalog as Parquet (local folder or S3).

    python jobs/publish.py --night 20181129 [--lake ROOT] [--to s3://bucket/catalog] [--keep 7]
    spark-submit jobs/publish.py --night 20181129

Runs the night's data-quality gates (great-expectations; results in the `validation`
table), then writes what changed in the catalog tables (lake.publish.catalog), the night's
report and object pages, the version's manifest last, then `latest.json`; prints what it
wrote and where the report is. A failing gate publishes
nothing, prints the failed expectations and exits 1; an object-store failure exits 2
(readers still see the previous version; re-run to complete).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from lake import engine
from lake.cli import fail, parse_night, setup_logging, user_error
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
    overrides = {}
    if args.lake:
        overrides["lake"] = {"root": args.lake}
    if args.to:
        overrides["publish"] = {"root": args.to}
    night = parse_night(args.night)
    config = load_config(overrides=overrides or None)
    from lake import storage

    lake = storage.lake_root(config)
    if not storage.is_s3(lake) and not Path(lake, "object").is_dir():
        fail(f"no lake at {lake} (no object table): check --lake or ALERT_LAKE_ROOT")

    from lake.publish import PublishError, publish
    from lake.quality import GateFailed

    try:
        manifest = publish(config, night, gate=not args.skip_gate, report=not args.no_report,
                           keep=args.keep)
    except GateFailed as error:
        print(error.result.to_markdown(), file=sys.stderr)
        print(f"error: {error}; night {night} NOT published", file=sys.stderr)
        return 1
    except (PublishError, RuntimeError, ValueError, FileNotFoundError) as error:
        fail(user_error(error) or str(error))
    finally:
        engine.stop()
    root = storage.publish_root(config)
    written = manifest.get("written") or {}
    print(f"published night {night} as {manifest['version']} to {root} "
          f"({written.get('files', 0)} new file(s), {written.get('bytes', 0) / 1e6:.1f} MB; "
          f"{written.get('reused_files', 0)} reused)")
    for name, table in manifest["tables"].items():
        new = (written.get("tables") or {}).get(name, 0)
        print(f"  {name:<17} {table['rows']:>9} rows in {len(table['files'])} file(s)"
              f"{f', {new / 1e6:.1f} MB written' if new else ''}")
    if manifest.get("report"):
        print(f"  report            {storage.join(root, *manifest['report'].split('/'))}")
    return 0


if __name__ == "__main__":
    logging.captureWarnings(True)
    raise SystemExit(main())
