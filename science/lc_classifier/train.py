"""Training sets, training, evaluation and the model card of the light-curve classifier.

Default model (``train_default``): features of simulated seasons (``simulator``,
several histories so that light curves span a few months to a few years, transients
over-weighted because many of them never reach 6 detections) plus the real labeled light
curves at hand (BTS SNe Ia, Stripe 82 RR Lyrae). Every set is split by a hash of the oid
into a training part (75%) and a held-out test part (25%), so a re-run gives the same
split. The 100 real ALeRCE feature vectors (``labels/100_objects_features.csv``) are a
real test set only (their period features are computed differently, see
science/features/README.md).
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import data as lcdata
from .model import BACKENDS, TAXONOMY, TOP_OF, default_feature_list

REPO = Path(__file__).resolve().parents[2]

log = logging.getLogger(__name__)

# Simulated seasons of the default training set: (seed, history_days, alerts_per_night)
DEFAULT_SEASONS = ((11, 150, 1500), (12, 450, 1200), (13, 900, 700), (14, 300, 1500))
# class weights of the simulated population: transients x3 (most fade before 6 detections)
TRAINING_MIX = {c: (3.0 if TOP_OF[c] == "Transient" else 1.0) for c in TOP_OF}
TRAINING_MIX.update({"asteroid": 0.05, "bogus": 0.05})
TEST_FRACTION = 0.25
# Version of the real-curve conversions (part of the feature cache key).
CONVERSION_VERSION = 2
# Features the converted real curves cannot carry: no non-detections and no PS1 match are
# known for them. They are missing (NaN) on every real row and, so that "missing" does not
# tell real from simulated, on as many simulated rows of each class that half of every
# class's training rows miss them (``mask_like_real``).
NONDET_PREFIXES = ("n_non_det_", "max_diffmaglim_", "median_diffmaglim_", "last_diffmaglim_",
                   "dmag_non_det_fid", "dmag_first_det_fid", "last_mjd_before_fid")
MASKED_SHARE = 0.5


def real_unknown_features(columns) -> list[str]:
    """The features converted real curves cannot carry (see NONDET_PREFIXES)."""
    return [c for c in columns if c == "sgscore1" or str(c).startswith(NONDET_PREFIXES)]


def mask_like_real(train: pd.DataFrame, share: float = MASKED_SHARE) -> pd.DataFrame:
    """Training rows with the real-unknown features missing on every real row and on
    simulated rows (chosen by oid hash) so that ``share`` of each class misses them, as far
    as the class's real rows allow: the missingness pattern then carries no class or
    source information. Rows of other sources (lake labels) are left as they are."""
    train = train.copy()
    cols = real_unknown_features(train.columns)
    real = train["source"].str.startswith("real").to_numpy()
    sim = train["source"].str.startswith("sim").to_numpy()   # lake-labeled rows keep theirs
    train.loc[real, cols] = np.nan
    key = np.array([int(hashlib.sha1(f"mask{o}".encode()).hexdigest()[:8], 16) for o in train.index])
    chosen = np.zeros(len(train), bool)
    labels = train["classALeRCE"].to_numpy()
    for c in np.unique(labels):
        in_c = labels == c
        k = int(round(share * in_c.sum())) - int((in_c & real).sum())
        sim_idx = np.flatnonzero(in_c & sim)
        if k > 0:
            chosen[sim_idx[np.argsort(key[sim_idx])[:k]]] = True
    train.loc[chosen, cols] = np.nan
    return train


def is_test(oids, fraction: float = TEST_FRACTION) -> np.ndarray:
    """Deterministic held-out split by a hash of the oid."""
    return np.array([int(hashlib.sha1(str(o).encode()).hexdigest()[:8], 16) / 2**32 < fraction
                     for o in oids], dtype=bool)


def _features(det, nondet=None, n_threads: int = 2) -> pd.DataFrame:
    from science.features import extract_features

    f = extract_features(det, nondet, n_threads=n_threads)
    if "oid" in f.columns:
        f = f.set_index("oid")
    return f


def simulated_set(seasons=DEFAULT_SEASONS, n_threads: int = 2, mix=None,
                  start: str = "20231018", nights: int = 3) -> pd.DataFrame:
    """Features of simulated seasons with ``classALeRCE`` and ``source`` columns
    (objects the extractor rejects, e.g. < 6 detections, are dropped)."""
    from simulator import plan_season

    parts = []
    for seed, history, per_night in seasons:
        season = plan_season(start, nights=nights, alerts_per_night=per_night, seed=seed,
                             history_days=history, mix=mix or TRAINING_MIX)
        det, nondet, labels = lcdata.season_lightcurves(season)
        f = _features(det, nondet, n_threads)
        f = f[f["reason"].isna()]
        f["classALeRCE"] = labels.set_index("oid")["classALeRCE"].reindex(f.index)
        f["source"] = f"sim:{seed}:{history}d"
        parts.append(f)
    return pd.concat(parts)


def real_sets(shared_data, n_threads: int = 2) -> dict[str, pd.DataFrame]:
    """Features of the real labeled light curves: {'bts_snia': ..., 's82_rrl': ...}; the
    features they cannot carry (``real_unknown_features``) are NaN."""
    shared_data = Path(shared_data)
    out = {}
    bts = lcdata.bts_snia_detections(shared_data)
    meta = pd.read_csv(shared_data / "lightcurves" / "bts_snia" / "bts.csv")
    from astropy.coordinates import SkyCoord
    import astropy.units as u

    c = SkyCoord(meta["RA"].to_numpy(), meta["Dec"].to_numpy(), unit=(u.hourangle, u.deg))
    pos = pd.DataFrame({"ra": c.ra.deg, "dec": c.dec.deg}, index=meta["ZTFID"])
    bts["ra"] = bts["oid"].map(pos["ra"])
    bts["dec"] = bts["oid"].map(pos["dec"])
    f = _features(bts, None, n_threads)
    f = f[f["reason"].isna()]
    f[real_unknown_features(f.columns)] = np.nan
    f["classALeRCE"] = "SNIa"
    f["source"] = "real:bts_snia"
    out["bts_snia"] = f
    rrl = lcdata.s82_rrlyrae_detections(shared_data)   # as ZTF would see them
    f = _features(rrl, None, n_threads)
    f = f[f["reason"].isna()]
    f[real_unknown_features(f.columns)] = np.nan
    f["classALeRCE"] = "RRL"
    f["source"] = "real:s82_rrlyrae"
    out["s82_rrl"] = f
    return out


def training_frames(shared_data=None, seasons=DEFAULT_SEASONS, n_threads: int = 2,
                    cache_dir=None) -> pd.DataFrame:
    """All labeled feature rows (simulated + real) with ``classALeRCE``, ``source`` and
    ``test`` (held-out) columns; cached as parquet in ``cache_dir`` when given."""
    key = hashlib.sha1(json.dumps([list(map(list, seasons)), str(shared_data),
                                   _feature_version(), CONVERSION_VERSION]).encode()).hexdigest()[:12]
    cache = Path(cache_dir) / f"lc_training_{key}.parquet" if cache_dir else None
    if cache is not None and cache.exists():
        return pd.read_parquet(cache)
    t0 = time.perf_counter()
    parts = [simulated_set(seasons, n_threads)]
    log.info("simulated features: %d objects in %.0f s", len(parts[0]), time.perf_counter() - t0)
    if shared_data is not None and Path(shared_data).is_dir():
        parts.extend(real_sets(shared_data, n_threads).values())
    frame = pd.concat(parts)
    frame.index.name = "oid"
    frame["test"] = is_test(frame.index)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(cache)
    return frame


def _feature_version():
    from science.features import FEATURE_VERSION

    return FEATURE_VERSION


# --- metrics ---------------------------------------------------------------------------
def level_metrics(y_true, y_pred, labels) -> dict:
    """Confusion matrix (rows true, columns predicted, in ``labels`` order) and macro
    precision / recall / F1 over the labels present in ``y_true``."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    present = [c for c in labels if c in set(y_true)]
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=present, average="macro",
                                                 zero_division=0)
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    return {"labels": list(labels), "confusion": cm.tolist(), "n": int(len(y_true)),
            "macro_precision": float(p), "macro_recall": float(r), "macro_f1": float(f),
            "accuracy": float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))}


def evaluate(model, features: pd.DataFrame, labels) -> dict:
    """Top- and leaf-level metrics of ``model`` on labeled features."""
    labels = np.asarray(labels).astype(str)
    p_top, p_leaf = model.predict_proba_hierarchical(features)
    top_pred = np.array(model.top_classes_)[p_top.argmax(1)]
    leaf_pred = model.classes_[p_leaf.argmax(1)]
    top_true = np.array([TOP_OF[c] for c in labels])
    return {"top": level_metrics(top_true, top_pred, model.top_classes_),
            "leaf": level_metrics(labels, leaf_pred, list(model.classes_))}


def share(model, features: pd.DataFrame, top: str, leaf: str) -> dict:
    """Share of objects classified ``top`` at the top level and ``leaf`` at the leaf level."""
    if len(features) == 0:
        return {"n": 0, f"share_{top}": None, f"share_{leaf}": None}
    p_top, p_leaf = model.predict_proba_hierarchical(features)
    top_pred = np.array(model.top_classes_)[p_top.argmax(1)]
    leaf_pred = model.classes_[p_leaf.argmax(1)]
    return {"n": int(len(features)), f"share_{top}": float(np.mean(top_pred == top)),
            f"share_{leaf}": float(np.mean(leaf_pred == leaf)),
            "leaf_counts": pd.Series(leaf_pred).value_counts().to_dict()}


def real_metrics(model, frame: pd.DataFrame | None, shared_data=None) -> dict:
    """Metrics on real data: held-out BTS SNe Ia and Stripe 82 RR Lyrae shares, and the
    100 ALeRCE feature vectors (top and leaf metrics)."""
    out = {}
    if frame is not None:
        held = frame[frame["test"]]
        out["bts_snia_heldout"] = share(model, held[held["source"] == "real:bts_snia"], "Transient", "SNIa")
        out["s82_rrl_heldout"] = share(model, held[held["source"] == "real:s82_rrlyrae"], "Periodic", "RRL")
    if shared_data is not None and Path(shared_data, "labels", "100_objects_features.csv").exists():
        feats, labels = lcdata.alerce_labeled_features(shared_data)
        common = [c for c in model.feature_names_in_ if c in feats.columns]
        m = evaluate(model, feats, labels)
        m["features_matched"] = f"{len(common)}/{len(model.feature_names_in_)}"
        out["alerce_100"] = m
    return out


# --- training ----------------------------------------------------------------------------
def fit(frame: pd.DataFrame, backend: str = "brf", n_estimators: int | None = None,
        n_jobs: int = 2, random_state: int = 0, sources=None):
    """Fit a hierarchical model on the training rows of ``frame`` (``test`` False;
    ``sources``: prefixes of ``source`` to use, default all). When ``frame`` holds
    converted real curves, the training rows go through ``mask_like_real`` (also for a
    model fitted on the simulated rows only, which is then applied to the real ones)."""
    with_real = "source" in frame.columns and frame["source"].str.startswith("real").any()
    train = frame[~frame["test"]] if "test" in frame.columns else frame
    if sources is not None:
        train = train[train["source"].str.startswith(tuple(sources))]
    train = train[train["classALeRCE"].isin(list(TOP_OF))]
    if with_real:
        train = mask_like_real(train)
    kwargs = {"n_jobs": n_jobs, "random_state": random_state}
    if n_estimators is not None:
        kwargs["n_estimators"] = n_estimators
    model = BACKENDS[backend](**kwargs)
    feats = default_feature_list([c for c in train.columns if c not in ("source", "test")])
    model.features = feats
    model.fit(train[feats], train["classALeRCE"].to_numpy())
    model.set_n_jobs(1)
    model.training_sources_ = train["source"].value_counts().to_dict()
    return model


def full_metrics(model, frame: pd.DataFrame, shared_data=None) -> dict:
    test = frame[frame["test"]] if "test" in frame.columns else frame
    sim = test[test["source"].str.startswith("sim")]
    out = {"simulated_test": evaluate(model, sim, sim["classALeRCE"]),
           "real": real_metrics(model, frame, shared_data)}
    if frame["source"].str.startswith("real").any():
        out["simulated_test_masked"] = masked_control(model, sim)
    return out


def masked_control(model, sim_test: pd.DataFrame) -> dict:
    """Held-out simulated rows with the real-unknown features missing, as on real rows: if
    the model read "missing" as "real, so SNIa or RRL", other classes would turn into
    SNIa/RRL here."""
    masked = sim_test.copy()
    masked[real_unknown_features(masked.columns)] = np.nan
    m = evaluate(model, masked, masked["classALeRCE"])
    leaf_pred = model.predict(masked)
    for leaf in ("SNIa", "RRL"):
        others = masked["classALeRCE"].to_numpy() != leaf
        m[f"share_{leaf}_among_other_classes"] = float(np.mean(leaf_pred[others] == leaf))
    return m


def transfer_metrics(frame: pd.DataFrame, backend: str = "brf", n_estimators=None,
                     n_jobs: int = 2) -> dict:
    """Domain-transfer check: a model fitted on the simulated training rows only, applied
    to every real light curve (BTS SNe Ia, Stripe 82 RR Lyrae, train and test halves)."""
    model = fit(frame, backend, n_estimators, n_jobs=n_jobs, sources=["sim"])
    real = frame[frame["source"].str.startswith("real")]
    return {"bts_snia_all": share(model, real[real["source"] == "real:bts_snia"], "Transient", "SNIa"),
            "s82_rrl_all": share(model, real[real["source"] == "real:s82_rrlyrae"], "Periodic", "RRL")}


def train_default(out_dir=None, backend: str = "brf", n_estimators: int | None = None,
                  shared_data=None, seasons=DEFAULT_SEASONS, n_threads: int = 2,
                  cache_dir=REPO / "var" / "cache", sources=None,
                  transfer_check: bool = True) -> tuple[object, dict, Path]:
    """Build the training set, fit, evaluate, write the model's version folder
    (``write_model``) into ``out_dir`` (default ``var/models/<name>/<version>/``, then made
    the ``current`` one)."""
    t0 = time.perf_counter()
    frame = training_frames(shared_data, seasons, n_threads, cache_dir)
    t1 = time.perf_counter()
    model = fit(frame, backend, n_estimators, n_jobs=n_threads, sources=sources)
    t2 = time.perf_counter()
    metrics = full_metrics(model, frame, shared_data)
    if transfer_check and frame["source"].str.startswith("real").any():
        metrics["transfer_sim_only"] = transfer_metrics(frame, backend, n_estimators, n_threads)
    metrics["timing_s"] = {"features": round(t1 - t0, 1), "fit": round(t2 - t1, 1)}
    metrics["training_rows"] = int((~frame["test"]).sum())
    out = Path(out_dir) if out_dir else REPO / "var" / "models" / model.name / model.version
    write_model(model, metrics, out, pointer=out_dir is None)
    return model, metrics, out


def write_model(model, metrics: dict, out, pointer: bool = False) -> Path:
    """Write a trained model's version folder: the safe artifacts (``artifact.py``),
    ``metrics.json`` and ``MODEL_CARD.md``, each artifact's sha256 recorded in all three;
    with ``pointer``, make it the ``current`` model of its parent folder."""
    from ..artifacts import publish
    from .card import write_model_card

    out = Path(out)
    model.save(out)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, default=str))
    write_model_card(model, metrics, out / "MODEL_CARD.md")
    metrics["artifacts"] = publish(out, pointer=pointer)
    return out


__all__ = ["simulated_set", "real_sets", "training_frames", "evaluate", "level_metrics", "share",
           "real_metrics", "fit", "full_metrics", "train_default", "write_model", "is_test", "TAXONOMY"]
