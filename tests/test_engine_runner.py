"""The stage runner (``lake.stages.runner.stage_run``): run record, staging guard and
failure record, written once for every stage."""
from __future__ import annotations

import os
import time

import deltalake
import pytest


def _runs(config):
    return deltalake.DeltaTable(os.path.join(config["lake"]["root"], "run")).to_pandas()


def test_a_failing_stage_records_its_error_and_removes_its_staging(lake_config, spark):
    from lake.stages.runner import stage_run

    with pytest.raises(ZeroDivisionError):
        with stage_run(lake_config, "probe", night=20181129) as run:
            staging = run.staging
            os.makedirs(staging)
            open(os.path.join(staging, "part"), "w").close()
            raise ZeroDivisionError("division by zero")
    assert not os.path.exists(staging)
    runs = _runs(lake_config)
    assert list(runs["status"]) == ["failed"] and list(runs["night"]) == [20181129]
    assert runs["error"][0].startswith("ZeroDivisionError")


def test_a_stage_without_a_result_is_a_failure(lake_config, spark):
    from lake.stages.runner import stage_run

    with pytest.raises(RuntimeError, match="without recording"):
        with stage_run(lake_config, "probe", staging=False):
            pass
    assert list(_runs(lake_config)["status"]) == ["failed"]


def test_the_recorded_duration_covers_the_stage_work(lake_config, spark):
    from lake.stages.runner import stage_run

    outer = time.perf_counter()
    with stage_run(lake_config, "validate", staging=False) as run:
        inner = time.perf_counter()
        time.sleep(0.2)
        work = time.perf_counter() - inner
        row = run.succeeded(rows_out=3)
    total = time.perf_counter() - outer
    assert work <= row["duration_s"] <= total
    runs = _runs(lake_config)
    assert list(runs["status"]) == ["succeeded"] and list(runs["rows_out"]) == [3]
    assert runs["duration_s"][0] == pytest.approx(row["duration_s"])
