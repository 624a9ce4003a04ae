"""The README's catalog snippets run exactly as printed (Querying: DuckDB, pyarrow and
the light client) against a published demo night, from a fresh folder with
``ALERT_LAKE_ROOT`` naming the lake; and the snapshot cron line runs as printed with
only its folder and lake replaced."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["tests.demolake"]

REPO = Path(__file__).resolve().parents[1]
NIGHT = 20181129
pytestmark = pytest.mark.realdata


def _section(title: str) -> str:
    text = (REPO / "README.md").read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def catalog_snippets() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", _section("Querying"), re.S)
    return [b for b in blocks if "lake.publish" in b or "alert_lake_client" in b]


@pytest.fixture(scope="module")
def published_lake(demo_lake, tmp_path_factory):
    """A copy of the demo lake with its night published beside it (``publish/``)."""
    import shutil

    from lake.config import load_config
    from lake.publish import publish

    root = tmp_path_factory.mktemp("readme") / "lake"
    shutil.copytree(demo_lake["lake"]["root"], root)
    publish(load_config(overrides={"lake": {"root": str(root)}}), NIGHT, gate=False,
            report=False)
    return root


def _env(lake: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERT_LAKE_")}
    return {**env, "ALERT_LAKE_ROOT": str(lake), "ALERT_LAKE_ENV": "test",
            "PYTHONPATH": str(REPO)}


def test_the_readme_has_the_catalog_snippets():
    snippets = catalog_snippets()
    assert len(snippets) == 3
    assert any("alert_lake_client" in s and "cone(" in s for s in snippets)


@pytest.mark.parametrize("index", range(3))
def test_readme_catalog_snippet_runs_as_printed(published_lake, tmp_path, index):
    snippet = catalog_snippets()[index]
    # the client snippet names the publication as seen from the project folder
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "publish").symlink_to(published_lake.parent / "publish")
    done = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path,
                          env=_env(published_lake), capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"{snippet}\n{done.stdout}\n{done.stderr[-3000:]}"


def test_readme_snapshot_cron_line_runs(published_lake, tmp_path):
    """The cron line failed because var/log/ did not exist: it runs from an empty
    folder holding only the project (as /opt/alert-lake would)."""
    line = next(t for t in _section("Publishing").splitlines() if t.startswith("0 7 * * * "))
    command = line[len("0 7 * * * "):]
    home = tmp_path / "alert-lake"
    home.mkdir()
    for name in ("lake", "jobs", "conf", "science", "simulator", "alert_lake_client", ".venv"):
        (home / name).symlink_to(REPO / name)
    command = command.replace("/opt/alert-lake", str(home)).replace(
        "s3://bucket/lake", str(published_lake))
    done = subprocess.run(["sh", "-c", command], env=_env(published_lake),
                          capture_output=True, text=True, timeout=600)
    log = (home / "var" / "log" / "snapshot.log").read_text()
    assert done.returncode == 0, log[-3000:]
    assert "snapshot " in log and (published_lake.parent / "publish" / "snapshots").is_dir()
