"""Export the catalog at the end of a completed nightly run to <publication root>/snapshots/YYYY-MM-DD-<digest>/.

    python jobs/export_snapshot.py                          # now (current versions), dated today
    python jobs/export_snapshot.py --as-of 12               # the nightly run that wrote object version 12
    python jobs/export_snapshot.py --as-of 2023-11-02       # the last nightly run completed by the end of that day (UTC)
    python jobs/export_snapshot.py --as-of 2023-11-02T06:00:00Z --keep-days 30
    spark-submit jobs/export_snapshot.py --as-of 12

Exporting the same state twice gives identical files; two different states exported on
one day get two folders. `--keep-days N` deletes snapshots dated more than N days ago.
Cron (daily at 07:00 UTC, keep 90 days):

    0 7 * * * cd /opt/alert-lake && mkdir -p var/log && .venv/bin/python jobs/export_snapshot.py --keep-days 90 >> var/log/snapshot.log 2>&1
"""
from __future__ import annotations

import argparse
import logging

from lake.cli import fail, setup_logging
from lake.config import load_config


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--as-of", help="VERSION (of the object table) or TIMESTAMP "
                        "(YYYY-MM-DD or ISO date-time; default: now)")
    parser.add_argument("--lake", help="lake root (default: lake.root of the configuration)")
    parser.add_argument("--to", help="publication root (default: publish.root, else "
                        "`publish` beside the lake)")
    parser.add_argument("--keep-days", type=int, help="delete snapshots older than N days")
    args = parser.parse_args(argv)
    setup_logging()
    overrides = {}
    if args.lake:
        overrides["lake"] = {"root": args.lake}
    if args.to:
        overrides["publish"] = {"root": args.to}
    config = load_config(overrides=overrides or None)

    from lake.publish import PublishError, export_snapshot

    try:
        manifest = export_snapshot(config, args.as_of, keep_days=args.keep_days)
    except (PublishError, RuntimeError, ValueError) as error:
        fail(str(error))
    print(f"snapshot {manifest['name']} (as of {manifest['as_of']['time'] or 'now'}): "
          f"Delta versions {manifest['source']['delta_versions']}")
    for name, table in manifest["tables"].items():
        print(f"  {name:<12} {table['rows']:>9} rows in {len(table['files'])} file(s)")
    return 0


if __name__ == "__main__":
    logging.captureWarnings(True)
    raise SystemExit(main())
