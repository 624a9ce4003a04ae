"""Operator output of the jobs: a user's mistake ends in one line (no traceback), a
publication ends with a summary naming the tables written and the report, and the
great-expectations / Sail noise is gone from it."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytest_plugins = ["tests.demolake"]


def job(*args, cwd=None, env=None) -> subprocess.CompletedProcess:
    # an operator's shell: not this test process's engine settings (RUST_LOG)
    environment = {**{k: v for k, v in os.environ.items() if k != "RUST_LOG"},
                   "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, str(REPO / "jobs" / args[0]), *args[1:]],
                          capture_output=True, text=True, cwd=cwd or REPO, env=environment,
                          timeout=900)


def one_line_error(done, expected: str) -> None:
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert "Traceback" not in done.stderr, done.stderr
    assert lines[-1].startswith("error: ") and expected in lines[-1], done.stderr


@pytest.mark.parametrize("args, expected", [
    (("nightly.py", "--night", "20241345", "--archive", "/nowhere"), "YYYYMMDD"),
    (("publish.py", "--night", "20241345"), "YYYYMMDD"),
    (("nightly.py", "--nights", "20241102..20241101", "--archive", "/x"), "ends before"),
    (("nightly.py", "--night", "20181129", "--archive", "/nowhere", "--from", "publsh"),
     "unknown stage 'publsh'; stages: ingest, process, classify, validate, publish"),
    (("publish.py", "--night", "20181129", "--lake", "/nowhere/lake"), "no lake at /nowhere/lake"),
])
def test_user_mistakes_are_one_line(args, expected, tmp_path):
    one_line_error(job(*args, cwd=tmp_path), expected)


def test_a_file_is_not_a_lake(tmp_path):
    bogus = tmp_path / "notes.txt"
    bogus.write_text("x")
    one_line_error(job("nightly.py", "--night", "20181129", "--archive", str(tmp_path),
                       "--lake", str(bogus)), "is not a lake")


def test_missing_models_are_one_line(tmp_path):
    from lake.cli import user_error
    from lake.config import load_config
    from lake.stages.classify import resolve_models

    config = load_config(overrides={"models": {"lc_dir": str(tmp_path / "no-models")}})
    with pytest.raises(Exception) as caught:
        resolve_models(config)
    message = user_error(caught.value)
    assert message and "\n" not in message.strip() and "no-models" in message


@pytest.mark.realdata
def test_publish_job_summary_and_no_noise(lake_copy):
    from lake import storage

    done = job("publish.py", "--night", "20181129", "--lake", storage.lake_root(lake_copy),
               "--to", storage.publish_root(lake_copy))
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "published night 20181129 as 20181129-" in out and "new file(s)" in out
    for table in ("object", "object_pixel", "magstat", "lightcurve"):
        assert f"  {table} " in out
    report = next(line.split()[-1] for line in out.splitlines() if line.strip().startswith("report"))
    assert Path(report).is_file() and report.endswith("report.html")
    noise = [line for line in done.stderr.splitlines()
             if "great_expectations" in line or "WARN sail" in line
             or "Persist operation" in line]
    assert noise == [], noise[:5]
