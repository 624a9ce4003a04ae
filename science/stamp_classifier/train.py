"""Training and evaluation of the stamp classifier; model card.

Default model (``train_default``): simulated first alerts of two seasons (class mix
tilted towards AGN and SNe so that every stamp class has ``per_class`` first alerts)
and a held-out test season (a different seed); 8 epochs on 2 threads. With the real
data (``shared_data``): the real alerts are split by object (``data.split_by_object``);
the simulated scenes are rendered on real background tiles of the training objects
(``realistic.py``; the test season on those of the held-out objects), the weakly labeled
real training alerts (``data.weak_labels``) join the training set, and the weakly labeled
held-out alerts are the real test set, reported for the CNN alone and with the rules, with
per-class recall and the balanced accuracy (mean recall over classes with enough
examples).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import data as sdata
from ..card import confusion_markdown, json_block, level_summary, write_card
from .model import CLASSES, StampClassifier, alert_images, metadata_frame

REPO = Path(__file__).resolve().parents[2]

STAMP_MIX = {"AGN": 3, "QSO": 3, "Blazar": 2, "SNIa": 2, "SNII": 2, "SNIbc": 1, "SLSN": 1,
             "RRL": 1, "E": 1, "LPV": 1, "CEP": 0.5, "DSCT": 0.5, "Periodic-Other": 1, "YSO": 1,
             "CV/Nova": 1, "asteroid": 0.25, "bogus": 0.25}
TRAIN_SEEDS = (101, 102)
TEST_SEED = 201
REAL_REPEAT = 8        # weakly labeled real training alerts, repeated (few; flips augment them)
MIN_CLASS_COUNT = 10   # a class with fewer real examples stays out of the balanced accuracy


def level_metrics(y_true, y_pred, labels=CLASSES) -> dict:
    from science.lc_classifier.train import level_metrics as lm

    return lm(np.asarray(y_true), np.asarray(y_pred), list(labels))


def simulated_set(seeds, per_class: int, alerts_per_night: int = 6000, nights: int = 2, backgrounds=None):
    parts = [sdata.simulated_stamps(seed=s, alerts_per_night=alerts_per_night, nights=nights,
                                    per_class=per_class, mix=STAMP_MIX, backgrounds=backgrounds) for s in seeds]
    X = np.concatenate([p[0] for p in parts])
    meta = pd.concat([p[1] for p in parts], ignore_index=True)
    y = np.concatenate([p[2] for p in parts])
    return X, meta, y


def recall_by_class(level: dict) -> dict:
    """Per-class recall and support from a ``level_metrics`` confusion matrix."""
    out = {}
    for name, row in zip(level["labels"], level["confusion"]):
        n = int(sum(row))
        if n:
            out[name] = {"n": n, "recall": round(row[level["labels"].index(name)] / n, 3)}
    return out


def balanced_accuracy(recall: dict, min_count: int = MIN_CLASS_COUNT) -> dict:
    """Mean recall over the classes with at least ``min_count`` examples (ALeRCE reports
    accuracy on a balanced test set; a class with fewer examples says too little)."""
    used = {k: v["recall"] for k, v in recall.items() if v["n"] >= min_count}
    return {"value": round(float(np.mean(list(used.values()))), 3) if used else None,
            "classes": sorted(used), "too_few": {k: v["n"] for k, v in recall.items() if v["n"] < min_count}}


def evaluate_real(model, alerts: pd.DataFrame) -> dict:
    """Metrics of ``model`` on weakly labeled real alerts (``label`` column): the CNN alone
    (ssdistnr is not one of its inputs) and with the rules of the ZTF survey (``lake.surveys.ztf.rules``)."""
    from lake.surveys.ztf.rules import apply_stamp_rules

    if alerts.empty:
        return {}
    p = model.predict_proba_alerts(alerts)
    raw = model.classes_[p.argmax(1)]
    ruled = model.classes_[apply_stamp_rules(alerts, p, model.classes_).argmax(1)]
    out = {"n": int(len(alerts)), "objects": int(alerts["objectId"].nunique()),
           "labels": alerts["label"].value_counts().to_dict(),
           "label_sources": alerts["label_source"].value_counts().to_dict()}
    for key, pred in (("cnn_only", raw), ("with_rules", ruled)):
        lm = level_metrics(alerts["label"], pred)
        lm["recall_by_class"] = recall_by_class(lm)
        lm["balanced_accuracy"] = balanced_accuracy(lm["recall_by_class"])
        out[key] = lm
    return out


def real_metrics(model, shared_data) -> dict:
    """Every weakly labeled real alert (for a model that saw none of them in training)."""
    return evaluate_real(model, sdata.real_labeled_alerts(shared_data))


def real_split(shared_data):
    """(all real alerts with weak labels where they follow, held-out mask by object)."""
    alerts = sdata.read_real_alerts(shared_data)
    if alerts.empty:
        return alerts, np.zeros(0, bool)
    alerts["label"], alerts["label_source"] = sdata.weak_labels(alerts, sdata.catalogue_labels(shared_data))
    return alerts, sdata.split_by_object(alerts)


def _real_section(title: str, real: dict) -> tuple[str, str]:
    body = [f"{real['n']} alerts of {real['objects']} objects; labels {real['labels']}; "
            f"label sources {real['label_sources']}.", ""]
    for key, name in (("cnn_only", "CNN alone"), ("with_rules", "With the rules (lake.surveys.ztf.rules)")):
        lm = real[key]
        ba = lm["balanced_accuracy"]
        body += [f"**{name}**: " + level_summary(lm),
                 f"balanced accuracy (mean recall over {', '.join(ba['classes'])}): {ba['value']}; "
                 f"classes with fewer than {MIN_CLASS_COUNT} examples (not in it): {ba['too_few'] or 'none'}", "",
                 "| class | n | recall |", "|---|---|---|"]
        body += [f"| {c} | {v['n']} | {v['recall']:.3f} |" for c, v in lm["recall_by_class"].items()]
        body += ["", confusion_markdown(lm), ""]
    return title, "\n".join(body)


def write_model_card(model, metrics: dict, path):
    header = {"classifier_name": model.name, "version": model.version, "backend": "PyTorch CNN (CPU)",
              "training data sha256": model.training_data_hash_,
              "weights sha256 (model.pt, verified at load)": metrics.get("weights_sha256"),
              "training rows": metrics.get("training_rows"),
              "training sources": metrics.get("training_sources"),
              "epochs": model.epochs, "classes": ", ".join(model.classes_),
              "metadata features": ", ".join(model.metadata_)}
    from . import model as model_module

    sections = [("Model", (model.__class__.__doc__ or "") + "\n\n" + model_module.__doc__.split(">>>")[0])]
    for key, title in (("simulated_test", "Held-out simulated test set (another seed; on real backgrounds of "
                        "held-out objects when real data is present), CNN alone"),
                       ("simulated_test_plain", "Held-out simulated test set, the simulator's own clean "
                        "cutouts, CNN alone")):
        sim = metrics.get(key)
        if sim:
            rec = recall_by_class(sim)
            sections.append((title, level_summary(sim) + "\n\nrecall: "
                             + ", ".join(f"{c} {v['recall']:.3f}" for c, v in rec.items())
                             + "\n\n" + confusion_markdown(sim)))
    if metrics.get("real_heldout"):
        sections.append(_real_section("Weakly labeled real alerts, held out by object (never in training)",
                                      metrics["real_heldout"]))
    if metrics.get("real"):
        sections.append(_real_section("All weakly labeled real alerts (the model trained on none)", metrics["real"]))
    for extra in ("training_classes", "timing_s", "history"):
        if extra in metrics:
            sections.append((extra, json_block(metrics[extra])))
    sections.append(("Limitations", LIMITATIONS))
    return write_card(path, f"Model card: {model.name} {model.version}", header, sections)


LIMITATIONS = (
    "Real labels are weak (from metadata, see science/stamp_classifier/data.py `weak_labels`), not "
    "visual inspection. The asteroid and bogus rules use ssdistnr and drb/rb, which are not CNN inputs; "
    "the VS rule uses sgscore1/distpsnr1, which are, so VS recall partly measures that rule. The real "
    "alerts at hand hold almost no AGN and SN (ALeRCE / BTS catalogue objects: a handful), so the "
    "balanced real accuracy covers VS, asteroid and bogus only; AGN and SN rest on the simulated scenes "
    "on real backgrounds. Without ../shared/data the model is trained on the simulator's clean cutouts "
    "alone. Retrain with jobs/train_stamp.py --labels on real labeled alerts when available.")


def _stack(parts):
    X = np.concatenate([p[0] for p in parts])
    meta = pd.concat([p[1] for p in parts], ignore_index=True)
    y = np.concatenate([p[2] for p in parts])
    return X, meta, y


def training_data(per_class: int, shared_data=None, seeds=TRAIN_SEEDS, test_seed: int = TEST_SEED,
                  real_repeat: int = REAL_REPEAT, test_per_class=None, plain_test: bool = True,
                  alerts_per_night: int = 6000):
    """Training and test sets. With real data: simulated scenes on real backgrounds of the
    training objects plus the weakly labeled real training alerts (repeated
    ``real_repeat`` times: they are few, and flips augment them); the held-out real
    objects give the real test set and the backgrounds of the simulated test set."""
    test_per_class = test_per_class or max(per_class // 3, 50)
    out = {"sources": {}}
    bg_train = bg_test = None
    real_train = real_test = None
    if shared_data is not None and Path(shared_data).is_dir():
        from .realistic import background_tiles

        alerts, test = real_split(shared_data)
        if len(alerts):
            bg_train, bg_test = background_tiles(alerts[~test]), background_tiles(alerts[test])
            labeled = alerts["label"].isin(CLASSES).to_numpy()
            real_train = alerts[labeled & ~test].reset_index(drop=True)
            real_test = alerts[labeled & test].reset_index(drop=True)
            out["sources"]["real background tiles (train / test objects)"] = f"{len(bg_train)} / {len(bg_test)}"
    parts = [simulated_set(seeds, per_class, alerts_per_night, backgrounds=bg_train)]
    out["sources"]["simulated" + (" on real backgrounds" if bg_train is not None else "")] = int(len(parts[0][2]))
    if real_train is not None and len(real_train):
        images, meta = alert_images(real_train), real_train
        rep = np.tile(np.arange(len(real_train)), real_repeat)
        parts.append((images[rep], meta.iloc[rep].reset_index(drop=True), real_train["label"].to_numpy()[rep]))
        out["sources"][f"weakly labeled real (x{real_repeat})"] = int(len(real_train))
    X, meta, y = _stack(parts)
    out["train"] = (X, metadata_frame(meta), y)
    Xt, mt, yt = simulated_set((test_seed,), test_per_class, alerts_per_night, backgrounds=bg_test)
    out["simulated_test"] = (Xt, metadata_frame(mt), yt)
    if bg_test is not None and plain_test:
        Xp, mp, yp = simulated_set((test_seed,), test_per_class, alerts_per_night)
        out["simulated_test_plain"] = (Xp, metadata_frame(mp), yp)
    out["real_test"] = real_test
    return out


def train_default(out_dir=None, per_class: int = 1000, epochs: int = 8, n_threads: int = 2,
                  shared_data=None, seeds=TRAIN_SEEDS, test_seed: int = TEST_SEED, real_repeat: int = REAL_REPEAT):
    """Build the data, fit, evaluate; write model.pt, model.json, metrics.json,
    MODEL_CARD.md to ``out_dir`` (default ``var/science/stamp_classifier/<version>/``)."""
    t0 = time.perf_counter()
    data = training_data(per_class, shared_data, seeds, test_seed, real_repeat)
    X, meta, y = data["train"]
    t1 = time.perf_counter()
    model = StampClassifier(epochs=epochs, n_threads=n_threads).fit(X, meta, y)
    t2 = time.perf_counter()
    metrics = {"training_rows": int(len(y)), "training_sources": data["sources"],
               "training_classes": pd.Series(y).value_counts().to_dict()}
    for key in ("simulated_test", "simulated_test_plain"):
        if key in data:
            Xt, mt, yt = data[key]
            metrics[key] = level_metrics(yt, model.predict(Xt, mt))
    if data["real_test"] is not None:
        metrics["real_heldout"] = evaluate_real(model, data["real_test"])
    metrics["history"] = model.history_
    metrics["timing_s"] = {"data": round(t1 - t0, 1), "fit": round(t2 - t1, 1),
                           "evaluate": round(time.perf_counter() - t2, 1)}
    out = Path(out_dir) if out_dir else REPO / "var" / "models" / model.name / model.version
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model.pt")
    metrics["weights_sha256"] = model.weights_sha256_
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
    write_model_card(model, metrics, out / "MODEL_CARD.md")
    return model, metrics, out
