"""Data-quality gates: suites pass on a real night, fail on injected bad rows, block
publication and make the job exit non-zero."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

NIGHT = 20181129

pytest_plugins = ["tests.demolake"]

REPO = Path(__file__).resolve().parents[1]


def test_expected_ingest_counts_takes_latest_run_per_source():
    from lake.quality.suites import expected_ingest_counts

    runs = [
        {"run_id": "a", "stage": "ingest", "night": 1, "source": "x", "status": "succeeded",
         "started_at": 1, "rows_out": 10, "quarantined": 1},
        {"run_id": "b", "stage": "ingest", "night": 1, "source": "x", "status": "succeeded",
         "started_at": 2, "rows_out": 10, "quarantined": 1},
        {"run_id": "c", "stage": "ingest", "night": 1, "source": "y", "status": "failed",
         "started_at": 3, "rows_out": 0, "quarantined": 0},
        {"run_id": "d", "stage": "ingest", "night": 1, "source": "z", "status": "succeeded",
         "started_at": 3, "rows_out": 5, "quarantined": 0},
        {"run_id": "e", "stage": "process", "night": 1, "source": "lake",
         "status": "succeeded", "started_at": 4, "rows_out": 7, "quarantined": 0},
    ]
    assert expected_ingest_counts(runs, 1) == {"alert": 15, "quarantine": 1, "runs": ["b", "d"]}
    assert expected_ingest_counts(runs, 2) is None


@pytest.mark.realdata
def test_real_night_passes_and_is_recorded(spark, demo_lake):
    from lake.quality import read_results, validate

    result = validate(spark, demo_lake, NIGHT)
    assert result.success, result.to_markdown()
    tables = result.summary()["tables"]
    for name in ("alert", "cutout", "quarantine", "detection", "object", "magstat", "feature",
                 "probability"):
        assert tables[name]["expectations"] > 0, name
    assert any(r["check_name"] == "probability.sums_to_one" for r in result.rows)
    # row counts compared with the run table
    assert any(r["expectation"] == "expect_table_row_count_to_equal" and r["table_name"] == "alert"
               and json.loads(r["observed"]) == 499 for r in result.rows)
    recorded = read_results(demo_lake, NIGHT, result.validation_id)
    assert len(recorded) == len(result.rows) and recorded["success"].all()
    assert "PASSED" in result.to_markdown() and "<table>" in result.to_html()


@pytest.mark.realdata
def test_missing_probability_table_is_skipped(spark, lake_copy):
    from lake import storage
    from lake.quality import validate

    shutil.rmtree(storage.table_uri(lake_copy, "probability"))
    result = validate(spark, lake_copy, NIGHT, record=False)
    assert result.success
    assert "probability" not in result.summary()["tables"]
    assert any("probability" in n for n in result.notes)


def _inject_bad_rows(config):
    import deltalake
    import pyarrow as pa
    import pyarrow.compute as pc

    from lake import storage

    opts = storage.delta_storage_options(config)
    # detection: a duplicate (candid, oid) with an impossible magnitude
    det = deltalake.DeltaTable(storage.table_uri(config, "detection"))
    rows = det.to_pyarrow_table(filters=[("night", "=", NIGHT)]).slice(0, 2)
    rows = rows.set_column(rows.schema.get_field_index("magpsf"), "magpsf",
                           pa.array([45.0, 45.0], rows.schema.field("magpsf").type))
    deltalake.write_deltalake(det, rows, mode="append", storage_options=opts)
    # alert: one more alert than the ingest run landed
    alert = deltalake.DeltaTable(storage.table_uri(config, "alert"))
    extra = alert.to_pyarrow_table().slice(0, 1)
    extra = extra.set_column(extra.schema.get_field_index("candid"), "candid",
                             pa.array([1], pa.int64()))
    deltalake.write_deltalake(alert, extra, mode="append", storage_options=opts)
    # probability: one classification whose probabilities do not sum to 1
    prob = deltalake.DeltaTable(storage.table_uri(config, "probability"))
    first = prob.to_pyarrow_table().slice(0, 1)
    oid = first.column("oid")[0].as_py()
    bad = prob.to_pyarrow_table(filters=[("oid", "=", oid)])
    bad = bad.filter(pc.equal(bad.column("classifier_name"), "lc_classifier_top"))
    bad = bad.set_column(bad.schema.get_field_index("classifier_version"), "classifier_version",
                         pa.array(["0.bad"] * bad.num_rows))
    bad = bad.set_column(bad.schema.get_field_index("probability"), "probability",
                         pa.array([0.7] * bad.num_rows))
    deltalake.write_deltalake(prob, bad, mode="append", storage_options=opts)


@pytest.mark.realdata
@pytest.mark.slow
def test_bad_rows_fail_the_gate_and_block_publication(spark, lake_copy):
    from lake.publish import latest, publish
    from lake.quality import GateFailed, read_results, validate

    first = publish(lake_copy, NIGHT, spark=spark, report=False)   # a good publication
    _inject_bad_rows(lake_copy)
    result = validate(spark, lake_copy, NIGHT)
    assert not result.success
    failed = {(r["check_name"], r["expectation"], r["column_name"]) for r in result.failures()}
    assert ("detection", "expect_column_values_to_be_between", "magpsf") in failed
    assert ("detection", "expect_compound_columns_to_be_unique", "candid,oid") in failed
    assert ("alert", "expect_table_row_count_to_equal", None) in failed
    assert ("probability.sums_to_one", "expect_column_values_to_be_between",
            "probability_sum") in failed
    markdown = result.to_markdown()
    assert "FAILED" in markdown and "magpsf" in markdown and "probability_sum" in markdown
    assert not read_results(lake_copy, NIGHT, result.validation_id)["success"].all()

    with pytest.raises(GateFailed, match="failed .* data-quality"):
        publish(lake_copy, NIGHT, spark=spark)
    assert latest(lake_copy)["version"] == first["version"]     # still the good one
    reports = list(Path(lake_copy["lake"]["root"], "_reports", "quality").rglob("*.html"))
    assert reports

    # the job: failed expectations on stderr, exit code 1, nothing new published
    env = {**os.environ, "ALERT_LAKE_ENV": "test", "SPARK_LOCAL_IP": "127.0.0.1"}
    job = subprocess.run([sys.executable, str(REPO / "jobs" / "publish.py"), "--night",
                          str(NIGHT), "--lake", lake_copy["lake"]["root"], "--to",
                          lake_copy["publish"]["root"], "--no-report"],
                         capture_output=True, text=True, env=env, cwd=REPO, timeout=240)
    assert job.returncode == 1, job.stderr[-3000:]
    assert "NOT published" in job.stderr and "expect_column_values_to_be_between" in job.stderr
    assert latest(lake_copy)["version"] == first["version"]
