"""Publication over a season: time and bytes written per night, incremental vs a full copy.

    python bench/publish.py                          # 30 nights of 1e4 alerts
    python bench/publish.py --nights 10 --alerts 2000

The season's lake is made of real Delta tables (delta-rs), grown night by night from the
schemas and rows of the demo night (``var/demo/lake`` or ``--template``; build it with
``make demo``): each night appends ``--alerts`` detections (30% of them of new objects),
twice as many non-detections, a share of them into the five previous night partitions
(alert histories reach back), and rewrites the object, magstat, feature and probability
tables with every object seen so far, as the processing and classification stages do.
The nightly pipeline itself is not run (30 nights of it do not fit this bench's budget);
only the publication is timed. After each night, the catalog is published
incrementally (what ``jobs/publish.py`` does) and, as the reference measured in the same
run, copied whole into a fresh root (what every publication did before). Flat means the
ratio of the last five nights' bytes written to the first five's stays near 1 for the
incremental publication while the full copy's grows with the lake.
Results: var/bench/publish.json.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, report  # noqa: E402

FIRST_NIGHT = 20240101
MJD0 = 60310.0   # 2024-01-01


def _night(k: int) -> int:
    import datetime as dt

    return int((dt.date(2024, 1, 1) + dt.timedelta(days=int(k))).strftime("%Y%m%d"))


class Season:
    """A lake grown night by night from a template night's rows."""

    def __init__(self, template: Path, root: Path, alerts: int, seed: int = 0):
        import deltalake

        self.root, self.alerts = root, alerts
        self.rng = np.random.default_rng(seed)
        load = lambda name: deltalake.DeltaTable(str(template / name)).to_pyarrow_table()  # noqa: E731
        self.det, self.non = load("detection"), load("non_detection")
        self.obj, self.mag = load("object"), load("magstat")
        self.feat = load("feature") if (template / "feature").exists() else None
        self.prob = load("probability") if (template / "probability").exists() else None
        self.oids: list[str] = []
        self.candid = 10 ** 15

    def _with(self, table: pa.Table, **columns) -> pa.Table:
        for name, values in columns.items():
            i = table.schema.get_field_index(name)
            table = table.set_column(i, table.schema.field(i), pa.array(
                values, table.schema.field(i).type))
        return table

    def _sample(self, table: pa.Table, n: int) -> pa.Table:
        return table.take(self.rng.integers(0, table.num_rows, n))

    def grow(self, k: int) -> None:
        import deltalake

        night = _night(k)
        new = int(self.alerts * 0.3) if self.oids else self.alerts // 3
        self.oids += [f"ZTF24{k:03d}{i:06d}" for i in range(new)]
        known = np.array(self.oids)
        oids = np.concatenate([known[-new:], self.rng.choice(known, self.alerts - new)])
        det = self._sample(self.det, self.alerts)
        det = self._with(det, oid=oids, night=np.full(self.alerts, night),
                         mjd=MJD0 + k + self.rng.uniform(0.1, 0.4, self.alerts),
                         candid=np.arange(self.candid, self.candid + self.alerts))
        self.candid += self.alerts
        deltalake.write_deltalake(str(self.root / "detection"), det, mode="append",
                                  partition_by=["night"])
        # non-detections: most tonight, the rest into the histories' earlier nights
        n = 2 * self.alerts
        back = np.where(self.rng.uniform(size=n) < 0.7, 0, self.rng.integers(1, 6, n))
        back = np.minimum(back, k)
        non = self._sample(self.non, n)
        non = self._with(non, oid=self.rng.choice(oids, n),
                         night=[_night(k - b) for b in back],
                         mjd=MJD0 + k - back + self.rng.uniform(0.1, 0.4, n))
        deltalake.write_deltalake(str(self.root / "non_detection"), non, mode="append",
                                  partition_by=["night"])
        everyone = np.array(self.oids)
        for name, template, per_object in (("object", self.obj, 1), ("magstat", self.mag, 2),
                                           ("feature", self.feat, 1),
                                           ("probability", self.prob, 8)):
            if template is None:
                continue
            rows = self._per_object(template, everyone, per_object, k)
            deltalake.write_deltalake(str(self.root / name), rows, mode="overwrite")

    def _per_object(self, template: pa.Table, oids: np.ndarray, per_object: int, k: int):
        """Each object's rows: a template object's rows (stable per object, with values
        that change for the objects alerted tonight, as an upsert would)."""
        first = pc.unique(template.column("oid"))
        groups = {o: template.filter(pc.equal(template.column("oid"), o))
                  for o in first.to_pylist()[:64]}
        keys = list(groups)
        index = np.array([hash(o) % len(keys) for o in oids])
        parts, names = [], []
        for g, key in enumerate(keys):
            members = oids[index == g]
            if len(members) == 0:
                continue
            rows = groups[key]
            reps = rows.take(np.tile(np.arange(rows.num_rows), len(members)))
            names.append(np.repeat(members, rows.num_rows))
            parts.append(reps)
        table = pa.concat_tables(parts)
        table = self._with(table, oid=np.concatenate(names))
        if "lastmjd" in table.column_names:   # tonight's objects change
            tonight = pc.starts_with(table.column("oid"), f"ZTF24{k:03d}")
            last = pc.if_else(tonight, pa.scalar(MJD0 + k, table.schema.field("lastmjd").type),
                              table.column("lastmjd"))
            table = table.set_column(table.schema.get_field_index("lastmjd"), "lastmjd", last)
        return table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nights", type=int, default=30)
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--template", default=str(REPO / "var" / "demo" / "lake"))
    parser.add_argument("--workdir", help="keep the season here (default: a temporary folder)")
    args = parser.parse_args(argv)
    template = Path(args.template)
    if not (template / "detection" / "_delta_log").is_dir():
        print(f"no template lake at {template}: run `make demo` or pass --template")
        return 1
    from lake.config import load_config
    from lake.publish import publish

    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench-publish-"))
    lake, pub = work / "lake", work / "publish"
    season = Season(template, lake, args.alerts)
    config = load_config(overrides={"lake": {"root": str(lake)}, "publish": {"root": str(pub)}})
    rows = []
    try:
        for k in range(args.nights):
            season.grow(k)
            night = _night(k)
            start = time.perf_counter()
            manifest = publish(config, night, gate=False, report=False, keep=3)
            incremental = time.perf_counter() - start
            full_root = work / "full"
            start = time.perf_counter()
            full = publish(config, night, gate=False, report=False, root=str(full_root))
            full_s = time.perf_counter() - start
            shutil.rmtree(full_root)
            lc = manifest["tables"]["lightcurve"]
            rows.append({"night": night, "lightcurve_rows": lc["rows"],
                         "incr_s": incremental, "incr_MB": manifest["written"]["bytes"] / 1e6,
                         "incr_files": manifest["written"]["files"],
                         "full_s": full_s, "full_MB": full["written"]["bytes"] / 1e6,
                         "lc_MB_per_file": lc_mb(lc),
                         "incr_lc_MB": manifest["written"]["tables"].get("lightcurve", 0) / 1e6,
                         "incr_objects_MB": sum(v for t, v in manifest["written"]["tables"].items()
                                                if t != "lightcurve") / 1e6})
            print(rows[-1], flush=True)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    report("publish", rows)
    # the first nights' histories reach back fewer than 5 nights: compare from night 6
    head, tail = rows[5:10] if len(rows) >= 15 else rows[:5], rows[-5:]
    for key in ("incr_MB", "incr_lc_MB", "incr_objects_MB", "incr_s", "full_MB", "full_s"):
        ratio = np.mean([r[key] for r in tail]) / max(np.mean([r[key] for r in head]), 1e-9)
        print(f"{key:16} last 5 nights / nights {rows.index(head[0]) + 1}-"
              f"{rows.index(head[-1]) + 1}: {ratio:.2f}")
    return 0


def lc_mb(table: dict) -> float:
    files = table["files"]
    return sum(f["bytes"] for f in files) / max(len(files), 1) / 1e6


if __name__ == "__main__":
    raise SystemExit(main())
