"""Train the stamp classifier (rotation-invariant CNN on cutouts + metadata).

    python jobs/train_stamp.py --simulated                        # default model (make models)
    python jobs/train_stamp.py --simulated --no-real              # simulator's own cutouts only
    python jobs/train_stamp.py --labels stamps.csv --lake ROOT    # candid|oid,class from the lake
    python jobs/train_stamp.py --labels stamps.csv --lake ROOT --simulated

--labels: a CSV with `candid` or `oid`/`objectId` and `class` (AGN, SN, VS, asteroid, bogus)
or `classALeRCE` (light-curve classes, mapped to their stamp class). By oid, each object's
first alert is used. Cutouts come from the lake's `cutout` table, metadata from `alert`;
25% (by oid hash) is held out for the metrics. Writes model.pt (a state dict), model.json,
metrics.json, MODEL_CARD.md and artifacts.json (sha256 of each, verified at load) into --out
(default var/models/stamp_classifier/<version>/, then made `current`).

--simulated uses the real alerts of --shared-data when present (as the light-curve job
does): the simulated scenes are rendered on real ZTF backgrounds and the weakly labeled
real alerts join the training set, held apart by object (science/stamp_classifier/train.py).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from science.stamp_classifier import CLASSES, StampClassifier, alert_images, metadata_frame  # noqa: E402
from science.stamp_classifier import train as strain  # noqa: E402
from science.stamp_classifier.data import META_SOURCE, STAMP_OF_LEAF  # noqa: E402

log = logging.getLogger("train_stamp")
DEFAULT_SHARED = REPO.parent / "shared" / "data"


def labeled_lake_alerts(labels_csv: str, lake_root: str) -> pd.DataFrame:
    import deltalake

    labels = pd.read_csv(labels_csv)
    if "class" not in labels.columns:
        labels["class"] = labels["classALeRCE"].map(STAMP_OF_LEAF)
    labels = labels[labels["class"].isin(CLASSES)]
    root = lake_root.rstrip("/")
    want = ["objectId", "candid", "jd", *[c for c in META_SOURCE]]
    alert = deltalake.DeltaTable(root + "/alert")
    cols = [c for c in want if c in alert.schema().to_arrow().names]
    alerts = alert.to_pandas(columns=cols)
    if "candid" in labels.columns:
        alerts = alerts.merge(labels[["candid", "class"]], on="candid")
    else:
        key = "oid" if "oid" in labels.columns else "objectId"
        alerts = alerts.sort_values("jd").drop_duplicates("objectId")
        alerts = alerts.merge(labels[[key, "class"]].rename(columns={key: "objectId"}), on="objectId")
    cut = deltalake.DeltaTable(root + "/cutout").to_pandas(
        columns=["candid", "cutoutScience", "cutoutTemplate", "cutoutDifference"],
        filters=[("candid", "in", alerts["candid"].astype("int64").tolist())] if len(alerts) else None)
    frame = alerts.merge(cut, on="candid")
    log.info("labeled alerts with cutouts in the lake: %d", len(frame))
    return frame


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--labels")
    p.add_argument("--lake")
    p.add_argument("--simulated", action="store_true")
    p.add_argument("--per-class", type=int, default=1000, help="simulated first alerts per class and season")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out")
    p.add_argument("--shared-data", default=str(DEFAULT_SHARED))
    p.add_argument("--no-real", action="store_true", help="ignore --shared-data (simulator's cutouts only)")
    p.add_argument("--real-repeat", type=int, default=strain.REAL_REPEAT,
                   help="times each weakly labeled real training alert is repeated")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not args.labels and not args.simulated:
        p.error("give --labels CSV --lake ROOT and/or --simulated")
    if args.labels and not args.lake:
        p.error("--labels needs --lake ROOT")
    shared = None if args.no_real or not Path(args.shared_data).is_dir() else args.shared_data
    if args.simulated and not args.labels:
        model, metrics, out = strain.train_default(args.out, per_class=args.per_class, epochs=args.epochs,
                                                   n_threads=args.threads, shared_data=shared,
                                                   real_repeat=args.real_repeat)
    else:
        from science.lc_classifier.train import is_test

        t0 = time.perf_counter()
        X_parts, m_parts, y_parts = [], [], []
        if args.simulated:
            X, meta, y = strain.simulated_set(strain.TRAIN_SEEDS, args.per_class)
            X_parts.append(X), m_parts.append(metadata_frame(meta)), y_parts.append(y)
        lab = labeled_lake_alerts(args.labels, args.lake)
        test = is_test(lab["objectId"])
        X_parts.append(alert_images(lab[~test])), m_parts.append(metadata_frame(lab[~test]))
        y_parts.append(lab.loc[~test, "class"].to_numpy())
        t1 = time.perf_counter()
        model = StampClassifier(epochs=args.epochs, n_threads=args.threads).fit(
            np.concatenate(X_parts), pd.concat(m_parts, ignore_index=True), np.concatenate(y_parts))
        t2 = time.perf_counter()
        held = lab[test]
        metrics = {"training_rows": int(sum(len(y) for y in y_parts)), "history": model.history_,
                   "labeled_test": strain.level_metrics(
                       held["class"], model.classes_[model.predict_proba_alerts(held).argmax(1)]) if len(held) else None,
                   "timing_s": {"data": round(t1 - t0, 1), "fit": round(t2 - t1, 1)}}
        if shared:
            metrics["real"] = strain.real_metrics(model, shared)
        out = Path(args.out) if args.out else REPO / "var" / "models" / model.name / model.version
        out.mkdir(parents=True, exist_ok=True)
        model.save(out / "model.pt")
        metrics["weights_sha256"] = model.weights_sha256_
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
        strain.write_model_card(model, metrics, out / "MODEL_CARD.md")
    from science.artifacts import publish   # checksums for safe loading; `current` for the default folder

    publish(out, ["model.pt", "model.json"], model.name, model.version, pointer=not args.out)
    log.info("%s %s written to %s", model.name, model.version, out)
    sim = metrics.get("simulated_test")
    if sim:
        print(f"simulated test: macro P {sim['macro_precision']:.3f} R {sim['macro_recall']:.3f} "
              f"F1 {sim['macro_f1']:.3f} accuracy {sim['accuracy']:.3f}")
    for key in ("real_heldout", "real"):
        real = metrics.get(key)
        if real:
            ba = real["cnn_only"]["balanced_accuracy"]
            print(f"{key}: {real['labels']}; CNN alone accuracy {real['cnn_only']['accuracy']:.3f}, balanced "
                  f"{ba['value']} over {ba['classes']}; recall "
                  + ", ".join(f"{c} {v['recall']:.3f}" for c, v in real["cnn_only"]["recall_by_class"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
