"""Cross-match throughput (lake.xmatch): matches/s per core of the engine's HEALPix join
on a HATS catalog, next to a reference measured in the same run: astropy's
``search_around_sky`` (a KD-tree over the whole catalog in one process) on the same data.

    python bench/xmatch.py [--objects 20000] [--per-object 4]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import report  # noqa: E402

RADIUS = 2.0


def sky(n: int, per_object: int, seed: int = 0):
    from simulator.catalogs import offset_position

    rng = np.random.default_rng(seed)
    ra = rng.uniform(0, 360, n)
    dec = np.degrees(np.arcsin(rng.uniform(-0.5, 1.0, n)))      # ZTF-like: north of -30
    objects = pd.DataFrame({"oid": [f"o{i:07d}" for i in range(n)], "ra": ra, "dec": dec})
    m = n * per_object
    sra, sdec = offset_position(np.repeat(ra, per_object), np.repeat(dec, per_object),
                                rng.uniform(0, 2.6 * RADIUS, m), rng.uniform(0, 2 * np.pi, m))
    sources = pd.DataFrame({"id": np.arange(m, dtype=np.int64), "ra": sra, "dec": sdec,
                            "mag": rng.uniform(10, 20, m)})
    return objects, sources


def reference(objects, sources) -> tuple[int, float]:
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    start = time.perf_counter()
    a = SkyCoord(objects["ra"].to_numpy() * u.deg, objects["dec"].to_numpy() * u.deg)
    b = SkyCoord(sources["ra"].to_numpy() * u.deg, sources["dec"].to_numpy() * u.deg)
    ia, _, sep, _ = b.search_around_sky(a, RADIUS * u.arcsec)   # ia: into a
    order = np.lexsort((sep.to_value(u.arcsec), ia))
    nearest = np.unique(ia[order], return_index=True)[1]
    return len(nearest), time.perf_counter() - start


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=20000)
    parser.add_argument("--per-object", type=int, default=4)
    args = parser.parse_args(argv)
    from lake import engine
    from lake.config import load_config
    from lake.xmatch import match_objects
    from simulator.catalogs import write_hats

    objects, sources = sky(args.objects, args.per_object)
    cores = os.cpu_count() or 1
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        write_hats(sources, Path(tmp) / "cat", "bench", max_rows=20_000)
        config = load_config(overrides={"xmatch": {"catalogs": {"bench": {
            "path": str(Path(tmp) / "cat"), "id_column": "id", "columns": ["mag"],
            "radius_arcsec": RADIUS}}}})
        spark = engine.get_spark(config)
        frame = spark.createDataFrame(objects)
        match_objects(spark, config, spark.createDataFrame(objects.head(500))).count()  # warm
        start = time.perf_counter()
        n = match_objects(spark, config, frame).count()
        seconds = time.perf_counter() - start
        engine.stop()
    rows.append({"method": "engine HEALPix join (lake.xmatch)", "objects": len(objects),
                 "sources": len(sources), "matches": n, "seconds": seconds, "cores": cores,
                 "matches_per_s": n / seconds, "per_core": n / seconds / cores})
    n_ref, ref_seconds = reference(objects, sources)
    rows.append({"method": "reference: astropy search_around_sky", "objects": len(objects),
                 "sources": len(sources), "matches": n_ref, "seconds": ref_seconds, "cores": 1,
                 "matches_per_s": n_ref / ref_seconds, "per_core": n_ref / ref_seconds})
    if n != n_ref:
        print(f"warning: {n} matches against the reference's {n_ref}")
    rows[0]["x_reference_per_core"] = rows[0]["per_core"] / rows[1]["per_core"]
    report("xmatch", rows)
    return rows


if __name__ == "__main__":
    main()
