"""Write a TNS AT bulk report (JSON) of a night's follow-up candidates to a file.

    python jobs/export_tns.py --night 20231102 --out var/tns/20231102.json
    python jobs/export_tns.py --night 20231102 --top 5 --reporter "A. Astronomer" --reporting-group-id 123
    python jobs/export_tns.py --night 20231102 --oid ZTF23abcdefg --oid ZTF23hijklmn

Takes the `candidate` table's rows of the night (all, the best --top N, or the --oid ones),
their discovery and latest detections and the last non-detection before discovery, and
writes the report in the TNS bulk-report format, checked against it first. It is never
sent anywhere: submit it yourself after review. An existing --out file is never
overwritten. No candidate for the night, an unknown --oid or a missing reporter / group id
(settings `tns`) exits 2 with one line.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lake.cli import fail, parse_night, setup_logging  # noqa: E402
from lake.config import load_config  # noqa: E402

log = logging.getLogger("export_tns")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--night", required=True, help="YYYYMMDD")
    parser.add_argument("--out", required=True, help="the JSON file to write (must not exist)")
    parser.add_argument("--lake", help="lake root (default: lake.root of the configuration)")
    parser.add_argument("--top", type=int, help="only the N best-ranked candidates")
    parser.add_argument("--oid", action="append", help="only these objects (repeatable)")
    parser.add_argument("--reporter", help="reporter names (default: tns.reporter)")
    parser.add_argument("--reporting-group-id", help="TNS group id (default: tns.reporting_group_id)")
    args = parser.parse_args(argv)
    setup_logging()
    night = parse_night(args.night)
    config = load_config(overrides={"lake": {"root": args.lake}} if args.lake else None)

    from lake import delta
    from lake.candidates.tns import ReportInvalid, at_report, tns_settings, write_report

    try:
        settings = tns_settings(config, reporter=args.reporter,
                                reporting_group_id=args.reporting_group_id)
    except ReportInvalid as error:
        fail(str(error))
    if Path(args.out).exists():
        fail(f"{args.out} exists: refusing to overwrite it")
    if not delta.table_exists(config, "candidate"):
        fail("the lake has no candidate table: run the classify stage first")
    candidates = delta.delta_table(config, "candidate").to_pandas(filters=[("night", "=", night)])
    if args.oid:
        unknown = sorted(set(args.oid) - set(candidates["oid"]))
        if unknown:
            fail(f"not a candidate of night {night}: {', '.join(unknown)}")
        candidates = candidates[candidates["oid"].isin(args.oid)]
    candidates = candidates.sort_values("rank")
    if args.top:
        candidates = candidates.head(args.top)
    if candidates.empty:
        fail(f"no candidate for night {night}")
    detections = delta.delta_table(config, "detection").to_pandas(
        columns=["oid", "mjd", "fid", "magpsf", "sigmapsf"],
        filters=[("oid", "in", list(candidates["oid"]))])
    try:
        report = at_report(candidates, detections, settings)
        out = write_report(report, args.out)
    except ReportInvalid as error:
        fail(str(error), 1)
    log.info("TNS AT report of %d candidates of night %d written to %s (not sent)",
             len(report["at_report"]), night, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
