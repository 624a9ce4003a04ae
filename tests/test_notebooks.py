"""The analyst notebooks run top to bottom (nbclient) against a publication of the
demo lake made here."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["tests.demolake"]

NIGHT = 20181129
NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
pytestmark = [pytest.mark.realdata, pytest.mark.slow]


@pytest.fixture(scope="module")
def publication(demo_lake, spark, tmp_path_factory):
    from lake.publish import publish

    root = tmp_path_factory.mktemp("nbpub") / "publish"
    config = {**demo_lake, "publish": {"root": str(root)}}
    publish(config, NIGHT, spark=spark, report=False)
    return config


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, publication, monkeypatch, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("ALERT_LAKE_PUBLISH", publication["publish"]["root"])
    monkeypatch.setenv("ALERT_LAKE_ROOT", publication["lake"]["root"])
    monkeypatch.setenv("ALERT_LAKE_NIGHT", str(NIGHT))
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code"
               for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    if path.stem != "01_query_catalog":
        assert any("image/png" in o.get("data", {}) for o in outputs), "no plot"
