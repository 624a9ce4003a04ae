"""Helpers shared by the thin entry points in ``jobs/``: logging and clean failures."""
from __future__ import annotations

import logging
import os
import sys


# Libraries whose INFO lines say nothing an operator needs (great-expectations logs
# every temporary docs site it makes); ALERT_LAKE_LOG_LEVEL=DEBUG shows them again.
NOISY = ("py4j", "pyspark", "botocore", "urllib3", "s3transfer", "great_expectations",
         "numba", "matplotlib", "PIL", "fsspec", "asyncio")


def setup_logging() -> None:
    level = os.environ.get("ALERT_LAKE_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S", stream=sys.stderr)
    if level != "DEBUG":
        # Sail's own warnings ("Persist operation is not yet supported and is a no-op",
        # once per cached frame) are not the operator's business; errors still show.
        os.environ.setdefault("RUST_LOG", "error")
        for noisy in NOISY:
            logging.getLogger(noisy).setLevel(logging.WARNING)
        # great-expectations sets its loggers' levels again when it is imported: drop
        # their INFO records at the handlers too
        for handler in logging.getLogger().handlers:
            handler.addFilter(_quiet_libraries)
        import warnings

        warnings.filterwarnings("ignore", module="great_expectations")
        warnings.filterwarnings("ignore", message=".*SIMPLE card.*")   # astropy, ZTF stamps


def _quiet_libraries(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING or record.name.split(".")[0] not in NOISY


def progress(iterable, total: int | None = None, what: str = "", unit: str = "it"):
    """``iterable`` with a progress bar (count, rate, ETA) on stderr when it is a
    terminal; a plain pass-through in logs and tests (tqdm's ``disable=None``)."""
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=what, unit=unit, disable=None, mininterval=1.0,
                dynamic_ncols=True, leave=False)


def user_error(error: BaseException) -> str | None:
    """One line for the mistakes an operator makes (a wrong date, stage, lake or path),
    None for a real failure (which keeps its traceback in the log).

    >>> user_error(ValueError("unknown stage 'x'"))
    "unknown stage 'x'"
    >>> user_error(FileNotFoundError(2, "No such file or directory", "models/x.pt"))
    'not found: models/x.pt (No such file or directory)'
    >>> user_error(ZeroDivisionError()) is None
    True
    """
    from science.artifacts import ModelMissing

    if isinstance(error, ModelMissing):   # e.g. run from a checkout without `make models`
        return str(error)
    if isinstance(error, FileNotFoundError):
        return (f"not found: {error.filename} ({error.strerror})" if error.filename
                else str(error))
    if isinstance(error, (ValueError, KeyError, PermissionError, NotADirectoryError)):
        return str(error).strip("'\"") if isinstance(error, KeyError) else str(error)
    return None


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
