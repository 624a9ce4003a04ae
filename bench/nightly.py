"""Whole-night scale benchmark: simulated nights through every nightly stage.

    python bench/nightly.py                       # 1e4, 2e4 and 1e5 alerts
    python bench/nightly.py --sizes 1e4 2e4 1e5 2e5 1e6 --keep-raw-avro false

For each size: simulate one night (not timed as part of the pipeline), then run the nightly
stages on a fresh lake and record per-stage wall time, throughput, peak memory (the
machine's memory in use; the process tree's summed private memory as an upper bound) and
the lake's size. Results: var/bench/nightly.json, a markdown table (var/bench/nightly.md)
and a plot (var/bench/nightly.png). Cost growth is reported as the
exponent b of time ~ alerts^b between consecutive sizes; "doubling the alerts costs at
most 2.2x the time" is b <= log2(2.2) = 1.14.
"""
from __future__ import annotations

import argparse
import math
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from simulator.api import PARTITION_ALERTS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, report  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
NIGHT = 20231101


class PeakMemory:
    """Peak memory of this process and all its children, sampled.

    ``machine_peak`` is the machine's memory in use (total - available) above its level
    at the start: on an otherwise idle machine, what the night really needed. ``peak``
    sums each process's private memory (resident minus file-backed and shared pages), an
    upper bound that still counts twice the pages forked workers share copy-on-write.
    Summed resident size is not used: the engine maps the files it reads, and that page
    cache is counted in every process mapping it (the 1e6 night's summed resident size
    reached 24.8 GB on this 23 GiB machine without swap).
    """

    def __init__(self, every: float = 0.5):
        self.every, self.peak, self.machine_peak, self._stop = every, 0, 0, threading.Event()
        self.stage, self.stage_peaks = None, {}
        self._thread = threading.Thread(target=self._run, daemon=True)

    def mark(self, line: str) -> None:
        """Follow the nightly job's progress lines to attribute peaks to stages."""
        words = line.split()
        if len(words) >= 3 and words[2] == "running":
            self.stage = words[1]

    @staticmethod
    def _machine_in_use() -> int:
        memory = psutil.virtual_memory()
        return memory.total - memory.available

    def _run(self):
        me, baseline = psutil.Process(), self._machine_in_use()
        while not self._stop.is_set():
            total = 0
            for process in [me, *me.children(recursive=True)]:
                try:
                    info = process.memory_info()
                    total += info.rss - info.shared
                except psutil.Error:
                    pass
            machine = self._machine_in_use() - baseline
            self.peak = max(self.peak, total)
            self.machine_peak = max(self.machine_peak, machine)
            if self.stage:   # per stage, the honest figure: the machine's memory in use
                self.stage_peaks[self.stage] = max(self.stage_peaks.get(self.stage, 0), machine)
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


# The simulator plans a night in sky partitions of 50,000 alerts, but its memory still
# grows with the night (a 1e6-alert night was killed at 22 GB after 40%): nights above
# this many alerts are simulated in parts, one process each, of the same seed with
# disjoint partition numbers (``--first-partition``: same exposures, disjoint objects and
# candids) and landed together as one night from a folder of tarballs. (Parts with their
# own seeds, as before, reused candids: the lake keeps one alert per candid.)
MAX_SIMULATED_PART = 250_000


def simulate(alerts: int, out: Path, seed: int, reuse: bool = False) -> tuple[Path, float]:
    """Simulate one night of ``alerts``; returns its source (a tarball, or a folder of
    tarballs for a night simulated in parts) and the seconds it took."""
    parts = max(1, -(-alerts // MAX_SIMULATED_PART))
    source = out / f"ztf_public_{NIGHT}.tar.gz" if parts == 1 else out / "alerts"
    if reuse and source.exists():   # simulated before (a 1e6 night takes ~15 min, 24 GB)
        return source, float("nan")
    clock = time.perf_counter()
    for part in range(parts):
        size = alerts // parts + (part < alerts % parts)
        where = out if parts == 1 else out / f"part-{part}"
        first_partition = part * -(-MAX_SIMULATED_PART // PARTITION_ALERTS)  # 5 per part
        subprocess.run([sys.executable, str(REPO / "jobs" / "simulate.py"), "--start",
                        str(NIGHT), "--nights", "1", "--alerts-per-night", str(size),
                        "--seed", str(seed), "--first-partition", str(first_partition),
                        "--no-lightcurves", "--out", str(where)], check=True, capture_output=True)
        if parts > 1:
            (out / "alerts.partial").mkdir(parents=True, exist_ok=True)
            (where / f"ztf_public_{NIGHT}.tar.gz").rename(
                out / "alerts.partial" / f"ztf_public_{NIGHT}_part{part}.tar.gz")
    if parts > 1:
        (out / "alerts.partial").rename(source)
    return source, time.perf_counter() - clock


def run_night(source: Path, lake: Path, keep_raw: bool) -> dict:
    from lake import engine
    from lake.config import load_config
    from lake.stages import nightly

    config = load_config(overrides={"lake": {"root": str(lake)},
                                    "publish": {"root": str(lake) + "-publish"},
                                    "ingest": {"keep_raw_avro": keep_raw}})
    stages = {}
    try:
        with PeakMemory() as memory:
            clock = time.perf_counter()
            context = nightly.run_night(config, NIGHT, str(source), report=memory.mark)
            total = time.perf_counter() - clock
        for name, result in context.results.items():
            stages[name] = result.get("seconds")
    finally:
        engine.stop()
    return {"total_s": total, "stages": stages, "peak_gb": memory.peak / 1e9,
            "machine_gb": memory.machine_peak / 1e9,
            "stage_peak_gb": {k: v / 1e9 for k, v in memory.stage_peaks.items()},
            "results": context.results}


def _size(path: Path) -> float:
    """GB of a file or of every file under a folder."""
    if path.is_file():
        return path.stat().st_size / 1e9
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e9


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", type=float, default=[1e4, 2e4, 1e5])
    parser.add_argument("--keep-raw-avro", default="true", choices=["true", "false"])
    parser.add_argument("--workdir", default=None, help="where nights and lakes go (big)")
    parser.add_argument("--reuse-nights", action="store_true",
                        help="keep simulated nights in --workdir (night-<size>/, seed = the "
                             "size's position in --sizes) and reuse them when present")
    args = parser.parse_args(argv)
    rows = []
    work = Path(args.workdir or tempfile.mkdtemp(prefix="nightly-bench-"))
    try:
        for seed, size in enumerate(int(s) for s in args.sizes):
            night_dir, lake = work / f"night-{size}", work / f"lake-{size}"
            source, sim_seconds = simulate(size, night_dir, seed, args.reuse_nights)
            shutil.rmtree(lake, ignore_errors=True)   # left by a killed run: start empty
            result = run_night(source, lake, args.keep_raw_avro == "true")
            row = {"alerts": size, "simulate_s": sim_seconds, "total_s": result["total_s"],
                   "alerts_per_s": size / result["total_s"], "peak_gb": result["peak_gb"],
                   "machine_gb": result["machine_gb"],
                   "input_gb": _size(source), "lake_gb": _size(lake)}
            for stage, seconds in result["stages"].items():
                row[f"{stage}_s"] = seconds
            for stage, peak in result["stage_peak_gb"].items():
                row[f"{stage}_gb"] = peak
            if rows:
                previous = rows[-1]
                row["growth_b"] = (math.log(row["total_s"] / previous["total_s"])
                                   / math.log(size / previous["alerts"]))
            rows.append(row)
            report("nightly", rows)   # after each size: a long run killed later keeps these
            print(f"{size} alerts: {result['total_s']:.1f} s "
                  f"({size / result['total_s']:.0f} alerts/s), machine memory "
                  f"{result['machine_gb']:.1f} GB (private sum {result['peak_gb']:.1f} GB)",
                  flush=True)
            if not args.reuse_nights:
                shutil.rmtree(night_dir, ignore_errors=True)
            shutil.rmtree(lake, ignore_errors=True)
            shutil.rmtree(str(lake) + "-publish", ignore_errors=True)
    finally:
        if not args.reuse_nights:
            shutil.rmtree(work, ignore_errors=True)
    report("nightly", rows)
    _markdown(rows)
    _plot(rows)
    if rows:
        big = rows[-1]
        projected = big["total_s"] * (1e6 / big["alerts"]) ** max(
            [r.get("growth_b", 1.0) for r in rows[1:]] or [1.0])
        print(f"targets: 1e6 alerts within 3600 s (projected from {big['alerts']}: "
              f"{projected:.0f} s); growth exponent <= 1.14 (2x alerts <= 2.2x time)")
    return rows


def _markdown(rows: list[dict]) -> None:
    if not rows:
        return
    columns = list(dict.fromkeys(k for r in rows for k in r))
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        lines.append("| " + " | ".join(
            f"{r[c]:.3g}" if isinstance(r.get(c), float) else str(r.get(c, "")) for c in columns) + " |")
    (RESULTS / "nightly.md").write_text("\n".join(lines) + "\n")


def _plot(rows: list[dict]) -> None:
    if not rows:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    alerts = [r["alerts"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    for stage in ("ingest", "process", "classify", "validate", "publish"):
        values = [r.get(f"{stage}_s") for r in rows]
        if all(v is not None for v in values):
            ax.loglog(alerts, values, "o-", label=stage)
    ax.loglog(alerts, [r["total_s"] for r in rows], "k*-", label="total")
    ax.loglog(alerts, [rows[0]["total_s"] * a / alerts[0] for a in alerts], "k:", label="linear")
    ax.axhline(3600, color="r", lw=0.8, label="60 min")
    ax.set_xlabel("alerts in the night")
    ax.set_ylabel("wall time (s)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(RESULTS / "nightly.png", dpi=120)


if __name__ == "__main__":
    main()
