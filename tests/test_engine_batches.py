"""The execution seam (``lake.engine.batches.map_batches``): per-item Python work runs in
the process pool beside the embedded engine and as mapInArrow tasks on a JVM Spark
engine, with the same functions and the same output.

The JVM cases run a classic ``local[2]`` SparkSession in a subprocess
(tests/engine_batches_jvm.py) on real alerts and real light curves, and compare what it
wrote with the embedded run's output row for row.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import REPO


# --- functions handed to the seam (module level: they go to other processes) ---------

def numbers_of(tasks: pa.Table, per_task: int):
    """read: each task row (n) becomes two batches of ``per_task`` numbers."""
    for n in tasks.column("n").to_pylist():
        for half in range(2):
            start = n * 100 + half * per_task
            yield pa.table({"task": [n] * per_task, "x": list(range(start, start + per_task))})


def squares_and_odds(batch: pa.Table, power: int) -> dict[str, pa.Table]:
    x = batch.column("x").to_pylist()
    return {"power": batch.append_column("y", pa.array([v ** power for v in x])),
            "odd": batch.filter(pa.array([v % 2 == 1 for v in x]))}


def rows_of(batch: pa.Table, outputs: dict) -> dict:
    return {"in": batch.num_rows}


def _config(tmp_path, **engine):
    from lake.config import load_config

    return load_config(overrides={"lake": {"root": str(tmp_path / "lake")},
                                  "engine": {"mode": "embedded", **engine}})


@pytest.mark.parametrize("workers", [1, 2])
def test_pool_runs_read_and_fn_and_writes_every_output(tmp_path, workers):
    from lake.engine import batches

    config = _config(tmp_path)
    assert not batches.python_work_on_executors(config)
    out = tmp_path / "out"
    written = batches.map_batches(None, config, pa.table({"n": [1, 2, 3]}), squares_and_odds,
                                  str(out), args=(3,), read=numbers_of, read_args=(4,),
                                  workers=workers, summarize=rows_of)
    assert written.rows["power"] == 3 * 2 * 4
    assert written.rows["odd"] == 3 * 2 * 2
    assert sorted(i["in"] for i in written.info) == [4] * 6
    power = pq.read_table(out / "power").to_pandas()
    assert sorted(power["x"]) == sorted(n * 100 + k for n in (1, 2, 3) for k in range(8))
    assert (power["y"] == power["x"] ** 3).all()
    assert written.schema("power").names == ["task", "x", "y"]
    assert (pq.read_table(out / "odd").column("x").to_pandas() % 2 == 1).all()


def test_read_on_driver_ships_batches_to_the_pool(tmp_path):
    from lake.engine import batches

    config = _config(tmp_path)
    out = tmp_path / "out"
    written = batches.map_batches(None, config, pa.table({"n": [5, 6]}), squares_and_odds,
                                  str(out), args=(2,), read=numbers_of, read_args=(3,),
                                  read_on_driver=True, workers=2)
    assert written.pieces == 4 and written.rows["power"] == 12
    assert sorted(pq.read_table(out / "power").column("y").to_pylist()) == sorted(
        v * v for n in (5, 6) for v in range(n * 100, n * 100 + 6))


def test_where_python_work_runs(tmp_path):
    from lake.engine import batches

    assert not batches.python_work_on_executors(_config(tmp_path))
    assert batches.python_work_on_executors(_config(tmp_path, mode="cluster"))
    assert batches.python_work_on_executors(_config(tmp_path, mode="remote",
                                                    remote="sc://h:1"))
    # pinned: a remote Sail server also runs Python UDFs under one interpreter
    assert not batches.python_work_on_executors(_config(tmp_path, mode="remote",
                                                        remote="sc://h:1",
                                                        python_work="pool"))
    with pytest.raises(ValueError):
        batches.python_work_on_executors(_config(tmp_path, python_work="threads"))


# --- the same work on the JVM engine and on the embedded engine ------------------------

def _alert_inputs(shared_data) -> list[str]:
    """Real alerts of three schema versions (some corrupt: quarantined) and a tarball."""
    alerts = shared_data / "ztf" / "alerts"
    files = []
    for folder in ("v1.8_20180601_some_corrupt", "v3.3_20200101", "mixed_schemas_snappy",
                   "v4.02_20231018"):
        files += sorted(str(p) for p in (alerts / folder).glob("*.avro"))[:40]
    files.append(str(shared_data / "ztf" / "nights" / "ztf_public_20180819_mod1000.tar.gz"))
    return files


def _jvm(*args) -> dict:
    # without what the embedded engine of this process put in the environment (pyspark
    # would otherwise build a Spark Connect session)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SAIL_", "SPARK_CONNECT", "SPARK_REMOTE", "SPARK_LOCAL_REMOTE"))}
    done = subprocess.run([sys.executable, str(REPO / "tests" / "engine_batches_jvm.py"),
                           *map(str, args)], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((__import__("pathlib").Path(args[1]) / "summary.json").read_text())


def _rows(folder) -> pd.DataFrame:
    """Every row of a staged table, in a canonical order (tasks may finish in any order)."""
    # file by file: parts of different schema versions hold different columns
    frame = pa.concat_tables([pq.read_table(path) for path in sorted(folder.glob("*.parquet"))],
                             promote_options="permissive").to_pandas()
    frame = frame[sorted(frame.columns)]
    keys = [c for c in frame.columns if frame[c].map(
        lambda v: v is None or isinstance(v, (str, int, float, bool))).all()]
    return frame.sort_values(keys).reset_index(drop=True)


@pytest.mark.slow
@pytest.mark.realdata
def test_decode_on_the_jvm_engine_matches_the_embedded_engine(shared_data, tmp_path):
    from lake.bronze.decode import STAGING_TABLES
    from lake.stages.ingest import stage

    files = _alert_inputs(shared_data)
    config = _config(tmp_path)
    embedded = stage(config, files, None, "parity", str(tmp_path / "embedded"), workers=2)
    summary = _jvm("decode", tmp_path / "jvm", *files)
    assert summary["master"] == "local[2]"
    assert summary["items"] == embedded.items
    assert summary["rows"] == dict(embedded.rows)
    assert summary["nights"] == {str(k): v for k, v in embedded.nights.items()}
    assert embedded.rows["alert"] > 100 and embedded.rows["quarantine"] > 0
    # the tarball's members were read (on the executors, for the JVM run) too
    sources = set(_rows(tmp_path / "jvm" / "staging" / "alert")["source"])
    assert files[-1] in sources and len(sources) > 100
    for name in STAGING_TABLES:
        if embedded.rows[name] == 0:
            assert not (tmp_path / "jvm" / "staging" / name).exists()
            continue
        pd.testing.assert_frame_equal(_rows(tmp_path / "jvm" / "staging" / name),
                                      _rows(tmp_path / "embedded" / name))


def _feature_inputs(shared_data, folder) -> None:
    """A few real ZTF objects (ALeRCE's examples) in the feature stage's input layout."""
    base = shared_data / "lightcurves" / "alerce_examples"
    detections = pd.read_parquet(base / "detections_sample.parquet").reset_index()
    oids = sorted(detections["oid"].unique())[:12]    # the sample holds 10 objects
    detections = detections[detections["oid"].isin(oids)].drop_duplicates(["oid", "fid", "mjd"])
    from lake.gold.feature import DETECTION_INPUT, NON_DETECTION_INPUT, OBJECT_INPUT

    detections = detections.reset_index(drop=True)
    detections["candid"] = range(len(detections))
    for column in ("magpsf_corr", "sigmapsf_corr", "sigmapsf_corr_ext", "sgscore1"):
        if column not in detections:
            detections[column] = float("nan")
    if "corrected" not in detections:
        detections["corrected"] = False
    detections["corrected"] = detections["corrected"].fillna(False).astype(bool)
    detections["isdiffpos"] = detections["isdiffpos"].astype("int32")
    from lake import surveys

    rules = surveys.get("ztf").feature_rules      # the survey's quality column (rb)
    detections = detections[[*DETECTION_INPUT, *rules.detection_columns, "sgscore1"]]
    non_detections = pd.read_parquet(base / "non_detections_sample.parquet").reset_index()
    non_detections = non_detections[non_detections["oid"].isin(oids)][list(NON_DETECTION_INPUT)]
    objects = detections.groupby("oid", as_index=False).agg(meanra=("ra", "mean"),
                                                            meandec=("dec", "mean"))
    folder.mkdir()
    for name, frame in (("detection", detections), ("non_detection", non_detections),
                        ("object", objects[list(OBJECT_INPUT)])):
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False),
                       folder / f"{name}.parquet")


@pytest.mark.slow
@pytest.mark.realdata
def test_features_on_the_jvm_engine_match_the_embedded_engine(shared_data, spark, tmp_path):
    from lake.stages.process import compute_features

    inputs = tmp_path / "inputs"
    _feature_inputs(shared_data, inputs)
    config = _config(tmp_path)
    frames = {name: spark.createDataFrame(pq.read_table(inputs / f"{name}.parquet"))
              for name in ("detection", "non_detection", "object")}
    embedded, _ = compute_features(spark, config, str(tmp_path / "embedded"), frames, 2)
    n_objects = embedded.count()
    summary = _jvm("features", tmp_path / "jvm", inputs)
    n_inputs = pq.read_table(inputs / "detection.parquet").column("oid").unique()
    assert summary["rows"] == n_objects == len(n_inputs) >= 10
    jvm, local = (_rows(tmp_path / "jvm" / "staging" / "feature"),
                  _rows(tmp_path / "embedded" / "feature"))
    assert local["reason"].isna().sum() > 0    # real features, not only rejections
    pd.testing.assert_frame_equal(jvm, local)
