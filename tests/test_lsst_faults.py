"""Fault injection on a Rubin ingest: killed (SIGKILL) at random points then rerun, and
nights out of order, each ending with the tables of one clean run."""
from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from lake.tables import ingest_tables
from simulator.rubin.night import simulate_nights
from tests import lakecheck

REPO = Path(__file__).resolve().parents[1]
COMPARED = tuple(n for n in ingest_tables("lsst") if n != "quarantine")
pytestmark = [pytest.mark.slow]


def ingest_job(lake: Path, source: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(REPO / "jobs" / "ingest.py"), "--survey", "lsst",
                             "--source", str(source), "--lake", str(lake)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen, timeout=600) -> tuple[int, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out + err


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    out = tmp_path_factory.mktemp("rubin-nights")
    return simulate_nights("20260305", 2, 120, seed=11, out=out, history_days=60,
                           framing="container")


@pytest.fixture(scope="module")
def clean(nights, tmp_path_factory):
    lake = tmp_path_factory.mktemp("clean") / "lake"
    clock = time.perf_counter()
    for night in nights:
        code, log = finish(ingest_job(lake, night))
        assert code == 0, log[-2000:]
    return lake, (time.perf_counter() - clock) / len(nights)


def test_killed_at_random_points_then_rerun_equals_clean(nights, clean, tmp_path):
    clean_lake, seconds = clean
    rng = random.Random(20260305)
    outcomes = []
    for trial in range(2):
        lake = tmp_path / f"trial{trial}" / "lake"
        code, log = finish(ingest_job(lake, nights[0]))
        assert code == 0, log[-2000:]
        delay = rng.uniform(0.5, seconds * 0.9)
        process = ingest_job(lake, nights[1])
        time.sleep(delay)
        children = psutil.Process(process.pid).children(recursive=True)
        process.send_signal(signal.SIGKILL)
        process.wait()
        for child in children:
            if child.is_running():
                child.kill()
        psutil.wait_procs(children, timeout=10)
        code, log = finish(ingest_job(lake, nights[1]))
        assert code == 0, log[-2000:]
        lakecheck.assert_same_tables(clean_lake, lake, COMPARED)
        outcomes.append(round(delay, 1))
    print("killed after (s):", outcomes)


def test_nights_out_of_order_equal_clean(nights, clean, tmp_path):
    clean_lake, _ = clean
    lake = tmp_path / "lake"
    for night in reversed(nights):
        code, log = finish(ingest_job(lake, night))
        assert code == 0, log[-2000:]
    lakecheck.assert_same_tables(clean_lake, lake, COMPARED)
