"""Helpers shared by the thin entry points in ``jobs/``: logging and clean failures."""
from __future__ import annotations

import logging
import os
import sys


def setup_logging() -> None:
    logging.basicConfig(
        level=os.environ.get("ALERT_LAKE_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S",
        stream=sys.stderr)
    for noisy in ("py4j", "pyspark", "botocore", "urllib3", "s3transfer"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def fail(message: str, code: int = 2) -> None:
    """Stop the job with one clear line on stderr."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def parse_night(text: str | None) -> int | None:
    """``YYYYMMDD`` (a real calendar date) -> int, or one clear line and exit 2.

    >>> parse_night("20181129")
    20181129
    """
    import datetime as dt

    if text is None:
        return None
    try:
        if len(text) != 8 or not text.isdigit():
            raise ValueError
        dt.datetime.strptime(text, "%Y%m%d")
    except ValueError:
        fail(f"--night must be a date as YYYYMMDD, got {text!r}")
    return int(text)


def night_range(text: str) -> list[int]:
    """``FROM..TO`` (YYYYMMDD) -> every night in between, inclusive.

    >>> night_range("20231130..20231202")
    [20231130, 20231201, 20231202]
    """
    import datetime as dt

    start, _, end = text.partition("..")
    try:
        first = dt.datetime.strptime(start, "%Y%m%d").date()
        last = dt.datetime.strptime(end or start, "%Y%m%d").date()
    except ValueError:
        fail(f"nights must be FROM..TO as YYYYMMDD..YYYYMMDD, got {text!r}")
    if last < first:
        fail(f"night range ends before it starts: {text!r}")
    return [int((first + dt.timedelta(days=i)).strftime("%Y%m%d"))
            for i in range((last - first).days + 1)]


def add_night_selection(parser) -> None:
    """--night / --nights FROM..TO / --all, for jobs that work on the objects of nights."""
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--night", help="YYYYMMDD")
    which.add_argument("--nights", help="FROM..TO, e.g. 20231101..20231130")
    which.add_argument("--all", action="store_true", help="every object in the lake")


def selected_nights(args) -> list[int] | None:
    """The nights chosen with add_night_selection (None = all)."""
    if args.all:
        return None
    return [parse_night(args.night)] if args.night else night_range(args.nights)
