"""The same transforms give the same tables on a JVM Spark standalone cluster (started
here from the pyspark install on 127.0.0.1) and on the embedded engine; and
``spark-submit --remote`` runs the nightly job end to end against a Spark Connect server.

Delta and s3a jars cannot be fetched on these machines, so the cluster run covers the
pure DataFrame transforms of every stage (the tables' contents); writing Delta on a
cluster is delta-spark's job, configured in conf/cluster.yaml.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.realdata]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _spark_bin(name: str) -> str:
    import pyspark

    return str(Path(pyspark.__file__).parent / "bin" / name)


def _wait_for(predicate, seconds: float, what: str):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise TimeoutError(f"{what} did not come up in {seconds:.0f} s")


@pytest.fixture(scope="module")
def jvm_cluster(tmp_path_factory):
    """A Spark standalone master and one worker, JVM, on 127.0.0.1."""
    if shutil.which("java") is None:
        pytest.skip("no java on this machine: the JVM cluster cannot start")
    logs = tmp_path_factory.mktemp("cluster")
    port = _free_port()
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(logs),
           "SPARK_WORKER_DIR": str(logs / "work")}
    for name in ("SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED"):  # the classic driver, not Connect
        env.pop(name, None)
    master = subprocess.Popen(
        [_spark_bin("spark-class"), "org.apache.spark.deploy.master.Master", "--host",
         "127.0.0.1", "--port", str(port), "--webui-port", str(_free_port())],
        stdout=open(logs / "master.log", "w"), stderr=subprocess.STDOUT, env=env)
    url = f"spark://127.0.0.1:{port}"
    worker = subprocess.Popen(
        [_spark_bin("spark-class"), "org.apache.spark.deploy.worker.Worker", url, "--host",
         "127.0.0.1", "--cores", "2", "--memory", "2g", "--webui-port", str(_free_port())],
        stdout=open(logs / "worker.log", "w"), stderr=subprocess.STDOUT, env=env)
    try:
        _wait_for(lambda: "Successfully registered with master" in (logs / "worker.log").read_text(), 120,
                  "the Spark standalone worker")
        yield url, env
    finally:
        for process in (worker, master):
            process.terminate()
        for process in (worker, master):
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="module")
def staged(shared_data, tmp_path_factory):
    from lake.stages.ingest import decode_chunk
    from lake.sources import iter_items

    out = tmp_path_factory.mktemp("staged")
    items = list(iter_items({}, [str(shared_data / "ztf" / "nights" / "ztf_public_20181129.tar.gz")]))
    decode_chunk(0, items, str(out), "parity", False, {})
    return out


def _normalized(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame[sorted(frame.columns)].copy()
    for column in frame.columns:
        if frame[column].dtype == object and frame[column].map(lambda v: isinstance(v, bool)).any():
            frame[column] = frame[column].astype("boolean")
    order = [c for c in frame.columns if frame[c].dtype != object
             or frame[c].map(lambda v: isinstance(v, str) or v is None).all()]
    return frame.sort_values(order).reset_index(drop=True)


def test_transforms_match_on_jvm_cluster_and_embedded_engine(jvm_cluster, staged, spark, tmp_path):
    from tests.engine_parity import transforms

    url, env = jvm_cluster
    out = tmp_path / "jvm"
    out.mkdir()
    done = subprocess.run([sys.executable, str(REPO / "tests" / "engine_parity.py"), "--master",
                           url, "--staged", str(staged), "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    embedded = {name: frame.toPandas() for name, frame in transforms(spark, str(staged)).items()}
    assert {"detection", "non_detection", "alert", "magstat", "object"} <= set(embedded)
    for name, ours in embedded.items():
        theirs = pd.read_parquet(out / f"{name}.parquet")
        a, b = _normalized(ours), _normalized(theirs)
        assert list(a.columns) == list(b.columns), name
        assert len(a) == len(b) > 0, name
        for column in a.columns:
            left, right = a[column], b[column]
            if pd.api.types.is_float_dtype(left) or pd.api.types.is_float_dtype(right):
                np.testing.assert_allclose(left.astype(float), right.astype(float), rtol=1e-9,
                                           atol=1e-9, equal_nan=True, err_msg=f"{name}.{column}")
            else:
                assert left.astype(object).where(left.notna(), None).tolist() == \
                    right.astype(object).where(right.notna(), None).tolist(), f"{name}.{column}"


def test_spark_submit_remote_runs_the_nightly_job(shared_data, tmp_path):
    """spark-submit --remote against a Spark Connect server (Sail, in its own process)."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", "from pysail.spark import SparkConnectServer; "
         f"SparkConnectServer('127.0.0.1', {port}).start(background=False)"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: _port_open(port), 60, "the Spark Connect server")
        lake = tmp_path / "lake"
        env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable,
               "PYSPARK_DRIVER_PYTHON": sys.executable}
        done = subprocess.run(
            [_spark_bin("spark-submit"), "--remote", f"sc://127.0.0.1:{port}",
             str(REPO / "jobs" / "nightly.py"), "--night", "20181129", "--source",
             str(shared_data / "ztf" / "nights" / "ztf_public_20181129.tar.gz"), "--lake",
             str(lake)], capture_output=True, text=True, env=env, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        import deltalake

        run = deltalake.DeltaTable(str(lake / "run")).to_pandas()
        assert set(run["engine"]) == {"remote"}
        assert set(run["stage"]) >= {"ingest", "process"}
        assert (run["status"] == "succeeded").all()
        assert len(deltalake.DeltaTable(str(lake / "alert")).to_pandas(columns=["candid"])) == 499
    finally:
        server.terminate()
        server.wait(20)


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
