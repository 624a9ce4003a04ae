"""Helpers shared by the benchmarks: timing, the real data folder, result tables."""
from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ALERT_LAKE_SHARED_DATA", REPO.parent / "shared" / "data"))
RESULTS = REPO / "var" / "bench"


@contextmanager
def timed(store: dict, key: str):
    start = time.perf_counter()
    yield
    store[key] = time.perf_counter() - start


def report(name: str, rows: list[dict]) -> None:
    """Print a result table and keep it as JSON under var/bench/."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(rows, indent=2))
    if not rows:
        return
    columns = list(rows[0])
    widths = [max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in rows:
        print("  ".join(_fmt(row.get(c)).ljust(w) for c, w in zip(columns, widths)))


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3f}"
    return str(value)
