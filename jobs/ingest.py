"""Land nightly alert dumps (ZTF, or Rubin with --survey lsst) as Delta tables.

    python jobs/ingest.py --source ztf_public_20181129.tar.gz [--night YYYYMMDD] [--lake ROOT]
    python jobs/ingest.py --survey lsst --source 'rubin/*.avro' --lake var/lake-lsst
    spark-submit jobs/ingest.py --source s3://bucket/ztf_public_20181129.tar.gz

``--source``: a ztf_public_YYYYMMDD.tar.gz, a folder or glob of .avro files, local or s3://.
``--survey``: whose packets these are (default: ``survey:`` of the configuration); Rubin's
are Avro containers or Kafka wire-framed packets (``lake/surveys/lsst``). A lake holds one
survey: give a Rubin night its own ``--lake``.
Bad files go to the quarantine table; the job exits 0 and says how many. A missing or
empty source exits 2 with one line.
"""
from __future__ import annotations

import argparse
import logging

from lake import engine, surveys
from lake.cli import fail, parse_night, setup_logging
from lake.config import load_config
from lake.stages.ingest import ingest
from lake.sources import SourceError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", required=True, help="tarball, folder or glob (local or s3://)")
    parser.add_argument("--night", help="YYYYMMDD (default: from the file name, else the alerts' jd)")
    parser.add_argument("--lake", help="lake root (default: lake.root of the configuration)")
    parser.add_argument("--survey", choices=sorted(surveys.SURVEYS),
                        help="survey of the packets (default: survey: of the configuration)")
    parser.add_argument("--workers", type=int, help="decoding processes (default: one per core)")
    args = parser.parse_args(argv)
    setup_logging()
    overrides = {}
    if args.lake:
        overrides["lake"] = {"root": args.lake}
    if args.survey:
        overrides["survey"] = args.survey
    config = load_config(overrides=overrides or None)
    try:
        result = ingest(config, args.source, parse_night(args.night), args.workers)
    except SourceError as error:
        fail(str(error))
    finally:
        engine.stop()
    rate = result.items / result.seconds if result.seconds else 0.0
    print(f"ingested {args.source}: "
          f"{result.items} files, {result.alerts} alerts landed, "
          f"{result.quarantined} quarantined, in {result.seconds:.1f} s ({rate:.0f} files/s); "
          f"night {result.night}, run {result.run_id}")
    for name, counts in result.tables.items():
        print(f"  {name:<18} +{counts['inserted']} rows, {counts['updated']} updated")
    return 0


if __name__ == "__main__":
    logging.captureWarnings(True)
    raise SystemExit(main())
