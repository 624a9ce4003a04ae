"""A real Spark standalone cluster for tests and benchmarks: a master and N workers started
with the pyspark install's ``sbin/spark-daemon.sh`` on 127.0.0.1 (free ports, one core and
a few GB each), jobs run on it with ``spark-submit`` (``lake.engine.cluster.submit_command``:
the pinned packages), and what the event log says about where tasks ran.

Use it from a test module with ``pytest_plugins = ["tests.s3server", "tests.cluster_fixture"]``
(fixture ``spark_cluster``: two workers, module-scoped), or ``StandaloneCluster`` directly.
"""
from __future__ import annotations

import collections
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from lake.engine import cluster as cluster_engine
from tests.s3server import free_ports

MASTER = "org.apache.spark.deploy.master.Master"
WORKER = "org.apache.spark.deploy.worker.Worker"


class StandaloneCluster:
    """A standalone master and ``workers`` workers (``cores`` and ``memory`` each), run as
    Spark daemons with their pid and log files under ``folder``."""

    def __init__(self, folder: Path, workers: int = 2, cores: int = 1, memory: str = "3g"):
        self.folder = Path(folder)
        self.workers, self.cores, self.memory = workers, cores, memory
        self.port, self.ui_port, *self.worker_ui_ports = free_ports(2 + workers)
        self.master_url = f"spark://127.0.0.1:{self.port}"
        self.events = self.folder / "events"
        self.started = False

    def _env(self) -> dict[str, str]:
        env = cluster_engine.submit_env()
        env.update(SPARK_PID_DIR=str(self.folder / "pids"), SPARK_LOG_DIR=str(self.folder / "logs"),
                   SPARK_IDENT_STRING=f"alertlake{self.port}")
        return env

    def _daemon(self, action: str, klass: str, instance: int, *args: str) -> None:
        script = Path(cluster_engine.spark_home()) / "sbin" / "spark-daemon.sh"
        subprocess.run(["bash", str(script), action, klass, str(instance), *args],
                       env=self._env(), check=True, stdout=subprocess.DEVNULL)

    def start(self, timeout: float = 120.0) -> "StandaloneCluster":
        for name in ("pids", "logs", "events"):
            (self.folder / name).mkdir(parents=True, exist_ok=True)
        self.started = True
        self._daemon("start", MASTER, 1, "--host", "127.0.0.1", "--port", str(self.port),
                     "--webui-port", str(self.ui_port))
        for i in range(self.workers):
            self._daemon("start", WORKER, i + 1, "--host", "127.0.0.1",
                         "--cores", str(self.cores), "--memory", self.memory,
                         "--webui-port", str(self.worker_ui_ports[i]),
                         "--work-dir", str(self.folder / f"work-{i + 1}"), self.master_url)
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                if len(self.alive_workers()) == self.workers:
                    return self
            except OSError:
                pass
            time.sleep(1.0)
        logs = "\n".join(p.read_text()[-1500:] for p in (self.folder / "logs").glob("*.out"))
        self.stop()
        raise RuntimeError(f"the standalone cluster did not come up in {timeout} s:\n{logs}")

    def state(self) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ui_port}/json/", timeout=5) as r:
            return json.load(r)

    def alive_workers(self) -> list[dict]:
        return [w for w in self.state().get("workers", []) if w.get("state") == "ALIVE"]

    def stop(self) -> None:
        if not self.started:
            return
        for i in range(self.workers):
            self._daemon("stop", WORKER, i + 1)
        self._daemon("stop", MASTER, 1)
        self.started = False

    def submit_command(self, script: str, *args: str, conf: dict | None = None,
                       executor_memory: str = "2g") -> list[str]:
        """spark-submit of ``script`` on this cluster, with an event log, every worker's
        core taken, and the first job waiting until all executors registered (so that
        the decode's tasks can use both workers)."""
        settings = {"spark.eventLog.enabled": "true", "spark.eventLog.dir": str(self.events),
                    "spark.eventLog.rolling.enabled": "false",
                    "spark.eventLog.compress": "false",
                    "spark.cores.max": str(self.workers * self.cores),
                    "spark.scheduler.minRegisteredResourcesRatio": "1.0",
                    "spark.scheduler.maxRegisteredResourcesWaitingTime": "120s",
                    "spark.ui.enabled": "false", "spark.log.level": "WARN",
                    # a few thousand alerts: conf/cluster.yaml's 200 would be tiny tasks
                    "spark.sql.shuffle.partitions": str(2 * self.workers * self.cores),
                    **(conf or {})}
        return cluster_engine.submit_command(self.master_url, script, *args,
                                             executor_memory=executor_memory, conf=settings)


def executor_conf(env: dict[str, str]) -> dict[str, str]:
    """``spark.executorEnv.*`` for the object store credentials in ``env`` (executors read
    the input files and write staging Parquet themselves)."""
    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "ALERT_LAKE_S3_ENDPOINT")
    return {f"spark.executorEnv.{n}": env[n] for n in names if env.get(n)}


def event_logs(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and not p.name.startswith("."))


def executors_by_description(log: Path) -> dict[str, set[str]]:
    """Executor ids that ran the tasks of each job description (``spark.job.description``,
    which ``lake.engine.batches`` sets to ``map_batches:<function>``) in one event log."""
    stage_description, by_description = {}, collections.defaultdict(set)
    with open(log) as handle:
        for line in handle:
            event = json.loads(line)
            kind = event.get("Event")
            if kind == "SparkListenerJobStart":
                description = (event.get("Properties") or {}).get("spark.job.description")
                for stage in event.get("Stage IDs", []):
                    stage_description[stage] = description
            elif kind == "SparkListenerTaskEnd":
                description = stage_description.get(event.get("Stage ID"))
                if description:
                    by_description[description].add(event["Task Info"]["Executor ID"])
    return dict(by_description)


def executor_workers(log: Path) -> dict[str, str]:
    """Executor id -> the worker that launched it (its log URL names the worker's port)."""
    workers = {}
    with open(log) as handle:
        for line in handle:
            event = json.loads(line)
            if event.get("Event") == "SparkListenerExecutorAdded":
                urls = event["Executor Info"].get("Log Urls") or {}
                workers[event["Executor ID"]] = next(iter(urls.values()), "").split("/logPage")[0]
    return workers


@pytest.fixture(scope="module")
def spark_cluster(tmp_path_factory):
    """A running standalone master with two one-core workers (skips without Java)."""
    if not shutil.which("java") and not os.environ.get("JAVA_HOME"):
        pytest.skip("java not found: the standalone cluster needs a JVM")
    cluster = StandaloneCluster(tmp_path_factory.mktemp("spark-cluster")).start()
    yield cluster
    cluster.stop()
