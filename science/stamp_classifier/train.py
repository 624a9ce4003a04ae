"""Training and evaluation of the stamp classifier; model card.

Default model (``train_default``): simulated first alerts of two seasons (class mix
tilted towards AGN and SNe so that every stamp class has ``per_class`` first alerts),
split into training and a held-out test season (a different seed); 8 epochs on 2 threads
(~1-2 min). Real evaluation: the real ZTF alerts with a derivable label
(``data.real_labeled_alerts``), reported for the CNN alone and with the rules.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import data as sdata
from .model import CLASSES, StampClassifier, metadata_frame

REPO = Path(__file__).resolve().parents[2]

STAMP_MIX = {"AGN": 3, "QSO": 3, "Blazar": 2, "SNIa": 2, "SNII": 2, "SNIbc": 1, "SLSN": 1,
             "RRL": 1, "E": 1, "LPV": 1, "CEP": 0.5, "DSCT": 0.5, "Periodic-Other": 1, "YSO": 1,
             "CV/Nova": 1, "asteroid": 0.25, "bogus": 0.25}
TRAIN_SEEDS = (101, 102)
TEST_SEED = 201


def level_metrics(y_true, y_pred, labels=CLASSES) -> dict:
    from science.lc_classifier.train import level_metrics as lm

    return lm(np.asarray(y_true), np.asarray(y_pred), list(labels))


def simulated_set(seeds, per_class: int, alerts_per_night: int = 6000, nights: int = 2):
    parts = [sdata.simulated_stamps(seed=s, alerts_per_night=alerts_per_night, nights=nights,
                                    per_class=per_class, mix=STAMP_MIX) for s in seeds]
    X = np.concatenate([p[0] for p in parts])
    meta = pd.concat([p[1] for p in parts], ignore_index=True)
    y = np.concatenate([p[2] for p in parts])
    return X, meta, y


def real_metrics(model, shared_data) -> dict:
    from lake.surveys.ztf.rules import apply_stamp_rules

    real = sdata.real_labeled_alerts(shared_data)
    if real.empty:
        return {}
    p = model.predict_proba_alerts(real)
    raw = model.classes_[p.argmax(1)]
    ruled = model.classes_[apply_stamp_rules(real, p, model.classes_).argmax(1)]
    out = {"n": int(len(real)), "labels": real["label"].value_counts().to_dict(),
           "cnn_only": level_metrics(real["label"], raw), "with_rules": level_metrics(real["label"], ruled)}
    ast = real["label"] == "asteroid"
    out["asteroid_recall_cnn_only"] = round(float(np.mean(raw[ast] == "asteroid")), 3) if ast.any() else None
    out["per_alert"] = [{"objectId": o, "label": label, "cnn": r, "with_rules": w}
                        for o, label, r, w in zip(real["objectId"], real["label"], raw, ruled)
                        if label != "asteroid"]
    return out


def write_model_card(model, metrics: dict, path):
    from ..card import confusion_markdown, json_block, level_summary, write_card

    header = {"classifier_name": model.name, "version": model.version, "backend": "PyTorch CNN (CPU)",
              "training data sha256": model.training_data_hash_, "training rows": metrics.get("training_rows"),
              "epochs": model.epochs, "classes": ", ".join(model.classes_),
              "metadata features": ", ".join(model.metadata_)}
    sections = [("Model", (model.__class__.__doc__ or "") + "\n\n" + (__import__("science.stamp_classifier.model",
                 fromlist=["x"]).__doc__.split(">>>")[0]))]
    sim = metrics.get("simulated_test")
    if sim:
        sections.append(("Held-out simulated test set (another seed), CNN alone",
                         level_summary(sim) + "\n\n" + confusion_markdown(sim)))
    real = metrics.get("real")
    if real:
        body = [f"{real['n']} real ZTF alerts with a derived label: {real['labels']}.",
                f"Asteroid recall of the CNN alone (ssdistnr not an input): {real['asteroid_recall_cnn_only']}",
                "", "CNN alone: " + level_summary(real["cnn_only"]), "", confusion_markdown(real["cnn_only"]),
                "", "With the rules: " + level_summary(real["with_rules"]),
                "", "Non-asteroid real alerts: " + json.dumps(real["per_alert"])]
        sections.append(("Real alerts", "\n".join(body)))
    for extra in ("timing_s", "history"):
        if extra in metrics:
            sections.append((extra, json_block(metrics[extra])))
    sections.append(("Limitations", "Trained on simulated cutouts only (simulator's scene model); "
                     "the real labeled alerts at hand are almost all asteroids, so real-data figures for "
                     "AGN/SN/VS/bogus are anecdotal. Retrain with jobs/train_stamp.py --labels on real "
                     "labeled alerts when available."))
    return write_card(path, f"Model card: {model.name} {model.version}", header, sections)


def train_default(out_dir=None, per_class: int = 1500, epochs: int = 8, n_threads: int = 2,
                  shared_data=None, seeds=TRAIN_SEEDS, test_seed: int = TEST_SEED):
    """Simulate, fit, evaluate; write model.pt, metrics.json, MODEL_CARD.md to ``out_dir``
    (default ``var/models/stamp_classifier/<version>/``)."""
    t0 = time.perf_counter()
    X, meta, y = simulated_set(seeds, per_class)
    Xt, mt, yt = simulated_set((test_seed,), max(per_class // 3, 50))
    t1 = time.perf_counter()
    model = StampClassifier(epochs=epochs, n_threads=n_threads).fit(X, metadata_frame(meta), y)
    t2 = time.perf_counter()
    metrics = {"training_rows": int(len(y)), "training_classes": pd.Series(y).value_counts().to_dict(),
               "simulated_test": level_metrics(yt, model.predict(Xt, metadata_frame(mt))),
               "history": model.history_}
    if shared_data is not None and Path(shared_data).is_dir():
        metrics["real"] = real_metrics(model, shared_data)
    metrics["timing_s"] = {"simulate": round(t1 - t0, 1), "fit": round(t2 - t1, 1)}
    out = Path(out_dir) if out_dir else REPO / "var" / "models" / model.name / model.version
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model.pt")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
    write_model_card(model, metrics, out / "MODEL_CARD.md")
    return model, metrics, out
