"""Classifier inference throughput, one core: bare model call vs the UDF batch function.

Targets (brief §6): light-curve classifier >= 10,000 objects/s per core, stamp classifier
>= 1,000 alerts/s per core, both including the UDF overhead (the batch functions of
science/*/batch.py: feature alignment, probability rows, ranking; for stamps also
gzipped-FITS decoding, cropping, normalization, metadata and the rules). The forest's
model is a compiled pass over all trees, bit-identical to scikit-learn's predict_proba;
models load from their safe artifacts, which hold the packed arrays and not
scikit-learn's trees, so scikit-learn's own path is no longer measured here
(science/README.md keeps its last figures). Uses the `current` models under var/models
(run `make models` first); without them, trains quick stand-ins and says so.

Run: ``python bench/classify.py [--objects 20000] [--alerts 3000] [--batch 10000]``.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")   # one core: set before numpy/torch start
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import report  # noqa: E402

LC_TARGET = 10_000.0
STAMP_TARGET = 1_000.0


def _best(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _lc_features(n: int) -> pd.DataFrame:
    cache = sorted((REPO / "var" / "cache").glob("lc_training_*.parquet"))
    if cache:
        base = pd.read_parquet(cache[-1])
    else:
        from science.lc_classifier.train import simulated_set

        base = simulated_set(((5, 300, 500),), n_threads=2, nights=2)
    base = base.reset_index()
    reps = int(np.ceil(n / len(base)))
    out = pd.concat([base] * reps, ignore_index=True).head(n)
    out["oid"] = [f"ZTFbench{i:08d}" for i in range(len(out))]
    return out.drop(columns=[c for c in ("classALeRCE", "source", "test") if c in out.columns])


def _model_dir(name: str, make):
    from science.artifacts import ModelMissing, model_ref

    try:
        return model_ref(REPO / "var" / "models" / name), False
    except ModelMissing:
        return model_ref(make()), True


def bench_lc(n: int, batch: int) -> list[dict]:
    from science.cache import clear_cache, load_cached
    from science.lc_classifier.batch import lc_probabilities, load_model

    rows = []
    feats = _lc_features(n)
    for name, backend in (("lc_classifier", "brf"), ("lc_classifier_xgb", "xgb")):
        def make(backend=backend, name=name):
            from science.lc_classifier import train_default

            _, _, out = train_default(REPO / "var" / "bench" / "models" / name / "standin",
                                      backend=backend, n_threads=1, cache_dir=REPO / "var" / "cache",
                                      transfer_check=False)
            return out
        model_dir, standin = _model_dir(name, make)
        clear_cache()
        model = load_cached(model_dir, load_model)
        model.predict_proba_hierarchical(feats.head(100))   # warm-up
        bare = _best(lambda m=model: [m.predict_proba_hierarchical(feats.iloc[i:i + batch])
                                      for i in range(0, n, batch)])
        udf = _best(lambda d=model_dir: [lc_probabilities(feats.iloc[i:i + batch], d)
                                         for i in range(0, n, batch)])
        out_rows = len(lc_probabilities(feats.iloc[:batch], model_dir))
        row = {"stage": f"{name} ({model.version}{', stand-in' if standin else ''})",
               "items": n, "bare_per_s": n / bare, "udf_per_s": n / udf,
               "udf_overhead": udf / bare - 1.0, "target_per_s": LC_TARGET,
               "udf_vs_target": n / udf / LC_TARGET, "rows_per_batch": out_rows}
        rows.append(row)
    return rows


def _alerts(n: int) -> pd.DataFrame:
    from simulator import stamps as sim_stamps
    from science.stamp_classifier.data import simulated_stamps

    X, meta, y = simulated_stamps(seed=77, alerts_per_night=3000, nights=2, per_class=max(n // 5, 20))
    rng = np.random.default_rng(0)
    # full 63x63 gzipped FITS cutouts as the lake's cutout table holds them
    blobs = [[sim_stamps.fits_gz(rng.normal(150, 8, (63, 63)).astype(np.float32)
                                 + np.pad(X[i, j] * 500, 21)) for j in range(3)] for i in range(min(len(X), 64))]
    idx = np.arange(n) % len(meta)
    pdf = meta.iloc[idx].reset_index(drop=True)
    pdf["oid"] = [f"ZTFbench{i:08d}" for i in range(n)]
    for j, c in enumerate(("cutoutScience", "cutoutTemplate", "cutoutDifference")):
        pdf[c] = [blobs[i % len(blobs)][j] for i in range(n)]
    return pdf


def bench_stamp(n: int, batch: int) -> list[dict]:
    import torch

    from science.cache import clear_cache, load_cached
    from science.stamp_classifier.batch import load_model, stamp_probabilities
    from science.stamp_classifier import alert_images, metadata_frame

    torch.set_num_threads(1)

    def make():
        from science.stamp_classifier import train_default

        _, _, out = train_default(REPO / "var" / "bench" / "models" / "stamp_classifier" / "standin",
                                  per_class=300, epochs=2, n_threads=1)
        return out
    model_dir, standin = _model_dir("stamp_classifier", make)
    clear_cache()
    model = load_cached(model_dir, load_model)
    pdf = _alerts(n)
    images, meta = alert_images(pdf), metadata_frame(pdf)
    model.predict_proba(images[:64], meta.iloc[:64])
    bare = _best(lambda: [model.predict_proba(images[i:i + batch], meta.iloc[i:i + batch])
                          for i in range(0, n, batch)])
    udf = _best(lambda: [stamp_probabilities(pdf.iloc[i:i + batch], model_dir) for i in range(0, n, batch)])
    decode = _best(lambda: alert_images(pdf), repeat=1)
    return [{"stage": f"stamp_classifier ({model.version}{', stand-in' if standin else ''})", "items": n,
             "bare_per_s": n / bare, "udf_per_s": n / udf, "udf_overhead": udf / bare - 1.0,
             "target_per_s": STAMP_TARGET, "udf_vs_target": n / udf / STAMP_TARGET,
             "decode_crop_per_s": n / decode}]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--objects", type=int, default=20_000)
    p.add_argument("--alerts", type=int, default=3_000)
    p.add_argument("--batch", type=int, default=10_000, help="rows per UDF batch (Arrow default 10,000)")
    p.add_argument("--stamp-batch", type=int, default=1_000)
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    rows = bench_lc(args.objects, args.batch) + bench_stamp(args.alerts, args.stamp_batch)
    print("classifier inference, 1 core (bare model call vs UDF batch function, same run)")
    report("classify", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
