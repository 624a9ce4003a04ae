"""Train the light-curve classifier (hierarchical balanced random forest and/or xgboost).

    python jobs/train_lc.py --simulated                          # default model (make models)
    python jobs/train_lc.py --simulated --backend both           # forest and xgboost, compared
    python jobs/train_lc.py --labels labels.csv --lake ROOT      # ALeRCE-format labels (oid,classALeRCE)
    python jobs/train_lc.py --labels labels.csv --lake ROOT --simulated   # both sources

Writes the model's version folder: its safe artifacts (model.json + forest.npz for the
forest, model.json + one xgboost JSON per node for xgboost; no pickle), artifacts.json
(their sha256, also in metrics.json and MODEL_CARD.md, checked at load), metrics.json and
MODEL_CARD.md, into <models dir>/<classifier_name>/<version>/ (--models-dir, default
var/models) and makes it the classifier's `current` version (the pointer the classify
stage loads); or into --out exactly, with no pointer written. With --labels, the labeled objects are joined
to the lake's `feature` table (objects without features are reported and dropped) and 25%
of them (by oid hash) are held out for the metrics. Real light curves from
../shared/data (BTS SNe Ia, Stripe 82 RR Lyrae, ALeRCE's 100 feature vectors) are added
to training/evaluation when present (--no-real to skip).
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import pandas as pd  # noqa: E402

from science.lc_classifier import TOP_OF  # noqa: E402
from science.lc_classifier import train as lctrain  # noqa: E402

log = logging.getLogger("train_lc")
DEFAULT_SHARED = REPO.parent / "shared" / "data"


def labeled_lake_features(labels_csv: str, lake_root: str, storage_options=None) -> pd.DataFrame:
    """ALeRCE-format labels joined to the lake's feature table (index oid)."""
    import deltalake

    labels = pd.read_csv(labels_csv)
    oid_col = "oid" if "oid" in labels.columns else "objectId"
    labels = labels.rename(columns={oid_col: "oid"})[["oid", "classALeRCE"]].drop_duplicates("oid")
    unknown = labels[~labels["classALeRCE"].isin(list(TOP_OF))]
    if len(unknown):
        log.warning("%d labels outside the taxonomy dropped: %s", len(unknown),
                    unknown["classALeRCE"].value_counts().to_dict())
    labels = labels[labels["classALeRCE"].isin(list(TOP_OF))]
    features = deltalake.DeltaTable(lake_root.rstrip("/") + "/feature",
                                    storage_options=storage_options).to_pandas()
    if "reason" in features.columns:
        features = features[features["reason"].isna()]
    frame = features.merge(labels, on="oid", how="inner").set_index("oid")
    log.info("labels: %d, with features in the lake: %d", len(labels), len(frame))
    if len(frame) == 0:
        raise SystemExit("no labeled object has features in the lake")
    frame["source"] = "labels:" + Path(labels_csv).name
    frame["test"] = lctrain.is_test(frame.index)
    return frame


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--labels", help="CSV oid (or objectId),classALeRCE")
    p.add_argument("--lake", help="lake root holding the feature table (with --labels)")
    p.add_argument("--simulated", action="store_true", help="train on simulated seasons (+ real curves)")
    p.add_argument("--backend", choices=["brf", "xgb", "both"], default="brf")
    p.add_argument("--trees", type=int, help="trees per model (default: brf 500, xgb 300)")
    p.add_argument("--out", help="the version folder to write (no `current` pointer; with "
                   "--backend both, one subfolder per backend)")
    p.add_argument("--models-dir", default=str(REPO / "var" / "models"),
                   help="models folder: writes <dir>/<name>/<version>/ and <dir>/<name>/current "
                   "(default var/models of the project)")
    p.add_argument("--shared-data", default=str(DEFAULT_SHARED))
    p.add_argument("--no-real", action="store_true", help="do not use ../shared/data")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cache", default=str(REPO / "var" / "cache"), help="feature cache folder")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not args.labels and not args.simulated:
        p.error("give --labels CSV --lake ROOT and/or --simulated")
    if args.labels and not args.lake:
        p.error("--labels needs --lake ROOT")
    shared = None if args.no_real or not Path(args.shared_data).is_dir() else args.shared_data
    t0 = time.perf_counter()
    parts = []
    if args.simulated:
        parts.append(lctrain.training_frames(shared, n_threads=args.threads, cache_dir=args.cache))
    if args.labels:
        parts.append(labeled_lake_features(args.labels, args.lake))
    frame = pd.concat(parts)
    t_data = time.perf_counter() - t0
    backends = ["brf", "xgb"] if args.backend == "both" else [args.backend]
    summary = {}
    for backend in backends:
        t1 = time.perf_counter()
        model = lctrain.fit(frame, backend, args.trees, n_jobs=args.threads)
        t_fit = time.perf_counter() - t1
        metrics = {}
        test = frame[frame["test"]]
        sim = test[test["source"].str.startswith("sim")]
        if len(sim):
            metrics["simulated_test"] = lctrain.evaluate(model, sim, sim["classALeRCE"])
            if frame["source"].str.startswith("real").any():
                metrics["simulated_test_masked"] = lctrain.masked_control(model, sim)
        lab = test[test["source"].str.startswith("labels")]
        if len(lab):
            metrics["labeled_test"] = lctrain.evaluate(model, lab, lab["classALeRCE"])
        metrics["real"] = lctrain.real_metrics(model, frame, shared)
        if args.simulated and shared:
            metrics["transfer_sim_only"] = lctrain.transfer_metrics(frame, backend, args.trees, args.threads)
        metrics["timing_s"] = {"data": round(t_data, 1), "fit": round(t_fit, 1)}
        metrics["training_rows"] = int((~frame["test"]).sum())
        out = Path(args.out) / backend if args.out and len(backends) > 1 else \
            Path(args.out) if args.out else Path(args.models_dir) / model.name / model.version
        # Each backend is its own classifier (lc_classifier: the forest, ALeRCE's model;
        # lc_classifier_xgb beside it), with its own folder and `current` pointer.
        lctrain.write_model(model, metrics, out, pointer=not args.out)
        summary[backend] = (model, metrics, out)
        log.info("%s %s written to %s (fit %.0f s)", model.name, model.version, out, t_fit)
    print(comparison_table(summary))
    return 0


def comparison_table(summary: dict) -> str:
    rows = ["| metric | " + " | ".join(m.name for m, _, _ in summary.values()) + " |",
            "|---" * (len(summary) + 1) + "|"]

    def get(metrics, *path):
        v = metrics
        for k in path:
            v = v.get(k) if isinstance(v, dict) else None
        return f"{v:.3f}" if isinstance(v, float) else ("-" if v is None else str(v))

    keys = []
    for level in ("top", "leaf"):
        for stat in ("macro_precision", "macro_recall", "macro_f1"):
            keys.append((f"sim test {level} {stat}", ("simulated_test", level, stat)))
            keys.append((f"labeled test {level} {stat}", ("labeled_test", level, stat)))
    keys += [("sim test, real-unknown features masked: leaf macro F1", ("simulated_test_masked", "leaf", "macro_f1")),
             ("  same: other classes called SNIa", ("simulated_test_masked", "share_SNIa_among_other_classes")),
             ("  same: other classes called RRL", ("simulated_test_masked", "share_RRL_among_other_classes")),
             ("BTS SN Ia held-out: Transient", ("real", "bts_snia_heldout", "share_Transient")),
             ("BTS SN Ia held-out: SNIa", ("real", "bts_snia_heldout", "share_SNIa")),
             ("S82 RRL held-out: Periodic", ("real", "s82_rrl_heldout", "share_Periodic")),
             ("S82 RRL held-out: RRL", ("real", "s82_rrl_heldout", "share_RRL")),
             ("sim-only model, all BTS: Transient", ("transfer_sim_only", "bts_snia_all", "share_Transient")),
             ("sim-only model, all BTS: SNIa", ("transfer_sim_only", "bts_snia_all", "share_SNIa")),
             ("sim-only model, all S82: Periodic", ("transfer_sim_only", "s82_rrl_all", "share_Periodic")),
             ("sim-only model, all S82: RRL", ("transfer_sim_only", "s82_rrl_all", "share_RRL")),
             ("ALeRCE 100: top macro recall", ("real", "alerce_100", "top", "macro_recall")),
             ("ALeRCE 100: top accuracy", ("real", "alerce_100", "top", "accuracy")),
             ("ALeRCE 100: leaf macro F1", ("real", "alerce_100", "leaf", "macro_f1")),
             ("ALeRCE 100: leaf accuracy", ("real", "alerce_100", "leaf", "accuracy")),
             ("fit seconds", ("timing_s", "fit"))]
    for label, path in keys:
        vals = [get(metrics, *path) for _, metrics, _ in summary.values()]
        if any(v != "-" for v in vals):
            rows.append(f"| {label} | " + " | ".join(vals) + " |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
