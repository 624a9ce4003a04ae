"""Fault injection: a nightly run killed at random points, two runs of one night at once,
and a full disk, each ending with tables identical to one clean run (or a clean error)."""
from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests import lakecheck

REPO = Path(__file__).resolve().parents[1]
NIGHT = "20181129"
TABLES = ("alert", "cutout", "quarantine", "detection", "non_detection", "dataquality",
          "reference", "ps1_ztf", "ss_ztf", "gaia_ztf", "object", "magstat", "feature")
pytestmark = [pytest.mark.slow, pytest.mark.realdata]


def nightly(lake: Path, source: Path, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(REPO / "jobs" / "nightly.py"), "--night", NIGHT,
                             "--source", str(source), "--lake", str(lake)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def finish(process: subprocess.Popen, timeout=600) -> tuple[int, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out + err


@pytest.fixture(scope="module")
def source(shared_data):
    return shared_data / "ztf" / "nights" / "ztf_public_20181129.tar.gz"


@pytest.fixture(scope="module")
def clean(source, tmp_path_factory):
    """One clean nightly run, and how long it took."""
    lake = tmp_path_factory.mktemp("clean") / "lake"
    clock = time.perf_counter()
    code, log = finish(nightly(lake, source))
    assert code == 0, log[-2000:]
    return lake, time.perf_counter() - clock


def test_killed_at_random_points_then_rerun_equals_clean(source, clean, tmp_path):
    clean_lake, seconds = clean
    rng = random.Random(20231018)
    outcomes = []
    for trial in range(3):
        lake = tmp_path / f"trial{trial}" / "lake"
        delay = rng.uniform(0.5, seconds * 0.9)
        process = nightly(lake, source)
        time.sleep(delay)
        children = psutil.Process(process.pid).children(recursive=True)
        process.send_signal(signal.SIGKILL)
        process.wait()
        psutil.wait_procs(children, timeout=10)
        committed = sorted(p.name for p in lake.glob("*/_delta_log")) if lake.exists() else []
        left = lakecheck.uncommitted_files(lake, TABLES + ("run", "validation"))
        code, log = finish(nightly(lake, source))
        assert code == 0, log[-2000:]
        lakecheck.assert_same_tables(clean_lake, lake, TABLES)
        # what the killed run wrote but never committed is gone too
        assert lakecheck.uncommitted_files(lake, TABLES + ("run", "validation")) == {}
        outcomes.append((round(delay, 1), len(committed),
                         sum(len(files) for files in left.values())))
    print("trials (kill after s, tables committed before the kill, uncommitted files left):",
          outcomes)


def test_two_runs_of_one_night_at_once(source, clean, tmp_path):
    clean_lake, _ = clean
    lake = tmp_path / "lake"
    first, second = nightly(lake, source), nightly(lake, source)
    results = [finish(first), finish(second)]
    assert any(code == 0 for code, _ in results), [log[-1500:] for _, log in results]
    for code, log in results:
        if code != 0:  # the loser fails cleanly, saying why; a re-run completes the night
            assert "Traceback" not in log or "conflict" in log.lower() or "commit" in log.lower(), log[-2000:]
    if any(code != 0 for code, _ in results):
        code, log = finish(nightly(lake, source))
        assert code == 0, log[-2000:]
    lakecheck.assert_same_tables(clean_lake, lake, TABLES)


@pytest.fixture
def tiny_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_disk_full_fails_clearly_and_keeps_tables(source, tiny_disk, tmp_path, shared_data):
    lake = tiny_disk / "lake"
    small = shared_data / "ztf" / "alerts" / "v3.3_20200101"   # fits in 12 MB
    code, log = finish(subprocess.Popen(
        [sys.executable, str(REPO / "jobs" / "ingest.py"), "--source", str(small), "--lake",
         str(lake)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    assert code == 0, log[-2000:]
    before = {n: lakecheck.table(lake, n) for n in ("alert", "detection")}
    code, log = finish(nightly(lake, source))          # ~50 MB more: the disk fills up
    assert code != 0
    assert "No space left on device" in log or "ENOSPC" in log or "os error 28" in log, log[-2000:]
    for name, frame in before.items():                 # every table still reads, unchanged
        after = lakecheck.table(lake, name)
        assert after.drop(columns=["avro"], errors="ignore").equals(
            frame.drop(columns=["avro"], errors="ignore")), name
