"""Run the whole pipeline for a night, or reprocess a range of nights in order.

    python jobs/nightly.py --night 20231101 --source /archive/ztf_public_20231101.tar.gz
    python jobs/nightly.py --nights 20231101..20231130 --archive /archive   # ztf_public_<night>.tar.gz
    python jobs/nightly.py --night 20231101 --archive /archive --from process
    spark-submit jobs/nightly.py --night 20231101 --archive s3://bucket/ztf

A stage already done for the same inputs and code version is skipped (see the run table);
--from STAGE forces that stage and the later ones.
"""
from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from lake import engine, storage
from lake.cli import fail, night_range, parse_night, setup_logging, user_error
from lake.config import load_config
from lake.stages import nightly
from lake.sources import SourceError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--night", help="YYYYMMDD")
    which.add_argument("--nights", help="FROM..TO (inclusive), processed in order")
    parser.add_argument("--source", help="the night's input (tarball, folder or glob); one night only")
    parser.add_argument("--archive", help="folder or s3:// prefix holding ztf_public_YYYYMMDD.tar.gz")
    parser.add_argument("--from", dest="from_stage", help="force this stage and the later ones")
    parser.add_argument("--lake", help="lake root (default: lake.root of the configuration)")
    parser.add_argument("--workers", type=int, help="worker processes (default: one per core)")
    args = parser.parse_args(argv)
    setup_logging()
    nights = [parse_night(args.night)] if args.night else night_range(args.nights)
    if args.source and len(nights) > 1:
        fail("--source names one night's input; use --archive for a range")
    if not (args.source or args.archive):
        fail("give --source (one night) or --archive (a folder of nightly tarballs)")
    names = [s.name for s in nightly.STAGES]
    if args.from_stage and args.from_stage not in names:
        fail(f"unknown stage {args.from_stage!r}; stages: {', '.join(names)}")
    if args.lake and not storage.is_s3(args.lake) and Path(args.lake).exists() and not (
            Path(args.lake).is_dir() and (not any(Path(args.lake).iterdir())
                                          or (Path(args.lake) / "alert").is_dir())):
        fail(f"--lake {args.lake} is not a lake (no alert table in it, and not empty)")
    config = load_config(overrides={"lake": {"root": args.lake}} if args.lake else None)
    clock, done, results = time.perf_counter(), [], {}
    try:
        for night in nights:
            source = args.source or storage.join(args.archive, f"ztf_public_{night}.tar.gz")
            try:
                ctx = nightly.run_night(config, night, source, args.from_stage, args.workers)
            except SourceError as error:
                if len(nights) == 1:
                    fail(str(error))
                print(f"[{night}] no input: {error}")
                continue
            except Exception as error:
                message = user_error(error)
                if message is not None:   # a wrong path, date or setting: no traceback
                    fail(f"night {night}: {message}"[:500])
                # a real failure: the traceback is logged; the last line says what
                logging.getLogger("nightly").exception("night %s failed", night)
                fail(f"night {night} failed: {type(error).__name__}: {error}"[:500], code=1)
            done.append(night)
            results[night] = ctx.results
    finally:
        engine.stop()
    print(summary(config, results))
    print(f"{len(done)} of {len(nights)} night(s) done in {time.perf_counter() - clock:.1f} s")
    return 0


def summary(config, results: dict) -> str:
    """What each night's stages did, and where its report is."""
    lines = []
    for night, stages in results.items():
        lines.append(f"night {night}:")
        for stage, result in stages.items():
            told = ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}"
                             for k, v in result.items())
            lines.append(f"  {stage:<9} {told}")
        version = (stages.get("publish") or {}).get("version")
        if version:
            lines.append("  report    " + storage.join(storage.publish_root(config), "catalog",
                                                       version, "report.html"))
    return "\n".join(lines)


if __name__ == "__main__":
    logging.captureWarnings(True)
    raise SystemExit(main())
