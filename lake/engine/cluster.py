"""Classic Spark on a cluster (``spark-submit``) with delta-spark and s3a: the one place that
knows the Maven packages, the session settings and the spark-submit command.

``conf/cluster.yaml`` pins the packages (``engine.packages``) and the Delta/s3a settings
(``engine.spark_conf``); the tests (``tests/cluster_fixture.py``), ``bench/cluster.py``,
CI (``python -m lake.engine.cluster resolve``) and the README's command read them from here.

    python -m lake.engine.cluster packages   # the --packages value
    python -m lake.engine.cluster resolve    # download the packages into the Ivy cache once
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from lake.config import CONF_DIR

REPO = Path(__file__).resolve().parents[2]


def cluster_yaml() -> dict:
    with open(CONF_DIR / "cluster.yaml") as handle:
        return yaml.safe_load(handle) or {}


def packages() -> list[str]:
    """Maven coordinates the driver and executors load (``--packages``)."""
    return list(cluster_yaml()["engine"]["packages"])


def exclude_packages() -> list[str]:
    """Dependencies of the packages left out (``--exclude-packages``): Spark's own jars
    already provide them, in the version the cluster runs."""
    return list(cluster_yaml()["engine"].get("exclude_packages") or [])


def spark_home() -> str:
    """The pyspark install, which is a Spark distribution (``bin/``, ``sbin/``, ``jars/``);
    spark-submit's own lookup (find-spark-home) fails inside a virtualenv without it."""
    import pyspark

    return os.environ.get("SPARK_HOME") or str(Path(pyspark.__file__).parent)


def s3a_conf(config) -> dict[str, str]:
    """Hadoop s3a settings for the configured object store (endpoint, region, TLS);
    credentials come from the environment (``EnvironmentVariableCredentialsProvider``
    in conf/cluster.yaml), never from here.

    >>> s3a_conf({"object_store": {"endpoint": "http://127.0.0.1:8333"}})["spark.hadoop.fs.s3a.connection.ssl.enabled"]
    'false'
    """
    store = config.get("object_store", {}) or {}
    conf = {"spark.hadoop.fs.s3a.endpoint.region": store.get("region") or "us-east-1"}
    endpoint = store.get("endpoint")
    if endpoint:
        conf["spark.hadoop.fs.s3a.endpoint"] = endpoint
        conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = str(
            endpoint.startswith("https://")).lower()
    return conf


def session_conf(config) -> dict[str, str]:
    """Every setting a cluster session starts with: ``engine.spark_conf`` (Delta catalog,
    s3a) plus the object store's s3a endpoint. Given to the session builder, so that the
    static ones (``spark.sql.extensions``, ``spark.hadoop.*``) apply: under spark-submit
    the Python driver creates the SparkContext itself. A setting given to spark-submit
    (``--conf``) wins over these (``lake.engine.get_spark``)."""
    conf = {k: str(v) for k, v in (config.get("engine", {}).get("spark_conf") or {}).items()}
    conf.update(s3a_conf(config))
    return conf


def submit_command(master: str, script: str, *args: str, executor_memory: str = "2g",
                   executor_cores: int = 1, conf: dict | None = None,
                   python: str | None = None) -> list[str]:
    """The spark-submit command line that runs ``script`` on ``master`` with the pinned
    packages. The executors run ``python`` (default: this interpreter) and import the
    project from this checkout (``spark.executorEnv.PYTHONPATH``): the project installed
    on every node. ``conf``: more ``--conf`` settings (credentials, event log)."""
    python = python or sys.executable
    command = [str(Path(spark_home()) / "bin" / "spark-submit"), "--master", master,
               "--packages", ",".join(packages()),
               "--exclude-packages", ",".join(exclude_packages()),
               "--executor-memory", executor_memory,
               "--conf", f"spark.executor.cores={executor_cores}",
               "--conf", f"spark.pyspark.python={python}",
               "--conf", f"spark.pyspark.driver.python={python}",
               "--conf", f"spark.executorEnv.PYTHONPATH={REPO}"]
    for key, value in (conf or {}).items():
        command += ["--conf", f"{key}={value}"]
    return command + [script, *args]


def submit_env(extra: dict | None = None) -> dict[str, str]:
    """The environment spark-submit needs: SPARK_HOME, the driver importing this checkout."""
    env = dict(os.environ)
    env.update(SPARK_HOME=spark_home(), SPARK_LOCAL_IP=env.get("SPARK_LOCAL_IP", "127.0.0.1"),
               PYSPARK_PYTHON=sys.executable,
               PYTHONPATH=os.pathsep.join([str(REPO)] + [p for p in env.get(
                   "PYTHONPATH", "").split(os.pathsep) if p and p != str(REPO)]))
    env.update(extra or {})
    return env


def resolve() -> None:
    """Resolve the packages once (the first resolve downloads several hundred MB into the
    Ivy cache, ``~/.ivy2.5.2``): a local job that finds s3a and writes and reads a Delta
    table. Raises CalledProcessError when they do not load."""
    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder) / "probe.py"
        probe.write_text(
            "import sys\n"
            "from py4j.java_gateway import JavaClass\n"
            "from pyspark.sql import SparkSession\n"
            "s = SparkSession.builder.getOrCreate()\n"
            "assert isinstance(s.sparkContext._jvm.org.apache.hadoop.fs.s3a.S3AFileSystem, JavaClass)\n"
            "s.range(3).write.format('delta').save(sys.argv[1])\n"
            "assert s.read.format('delta').load(sys.argv[1]).count() == 3\n"
            "s.stop()\n")
        conf = {key: value for key, value in cluster_yaml()["engine"]["spark_conf"].items()
                if key.startswith("spark.sql.")}
        command = submit_command("local[1]", str(probe), str(Path(folder) / "table"),
                                 conf={"spark.ui.enabled": "false", **conf})
        result = subprocess.run(command, env=submit_env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        if result.returncode != 0:
            print(result.stderr[-4000:], file=sys.stderr)
            raise subprocess.CalledProcessError(result.returncode, command)
    print("resolved: " + ",".join(packages()))


def main(argv: list[str]) -> int:
    what = argv[0] if argv else ""
    if what == "packages":
        print(",".join(packages()))
    elif what == "resolve":
        resolve()
    else:
        print("usage: python -m lake.engine.cluster packages|resolve", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
