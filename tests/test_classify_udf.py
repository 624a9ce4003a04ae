"""The classifiers' batch functions behind the classification UDFs (science/*/batch.py),
the model pointer, the per-process cache and safe, checksum-verified loading."""
from __future__ import annotations

import gzip
import io

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

import science.cache as classify
from science.artifacts import ArtifactMismatch, ModelMissing, model_ref, publish, write_pointer
from science.lc_classifier import TAXONOMY, HierarchicalRandomForest, HierarchicalXGBoost
from science.lc_classifier import batch as lc_batch
from science.lc_classifier.batch import lc_probabilities
from science.probability import PROBABILITY_COLUMNS
from science.stamp_classifier.batch import stamp_probabilities
from lake.surveys.ztf.rules import apply_stamp_rules
from science.stamp_classifier import CLASSES, METADATA, StampClassifier, metadata_frame

LEAVES = [c for v in TAXONOMY.values() for c in v]
FEATURES = [f"f{i}" for i in range(12)]


def synthetic_features(n_per_class=15, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(LEAVES, n_per_class)
    centers = rng.normal(0, 3, (len(LEAVES), len(FEATURES)))
    X = centers[np.repeat(np.arange(len(LEAVES)), n_per_class)] + rng.normal(size=(len(y), len(FEATURES)))
    frame = pd.DataFrame(X, columns=FEATURES)
    frame.insert(0, "oid", [f"ZTF{i:06d}" for i in range(len(y))])
    frame["feature_version"] = "x"
    frame["reason"] = None
    return frame, y


@pytest.fixture(scope="module")
def lc_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    frame, y = synthetic_features()
    out = {}
    for cls, name in ((HierarchicalRandomForest, "brf"), (HierarchicalXGBoost, "xgb")):
        m = cls(n_estimators=10).fit(frame, y)
        m.save(root / name / m.version)
        write_pointer(root / name, m.version)
        out[name] = root / name
    return out


def fits_gz(img) -> bytes:
    buf = io.BytesIO()
    fits.PrimaryHDU(img).writeto(buf)
    return gzip.compress(buf.getvalue())


@pytest.fixture(scope="module")
def stamp_dir(tmp_path_factory):
    rng = np.random.default_rng(0)
    n = 100
    X = rng.random((n, 3, 21, 21)).astype(np.float32)
    y = np.array(CLASSES * (n // len(CLASSES)))
    meta = pd.DataFrame(rng.normal(size=(n, len(METADATA))), columns=METADATA)
    model = StampClassifier(epochs=1, n_threads=1).fit(X, meta, y)
    path = tmp_path_factory.mktemp("stamp") / model.version
    model.save(path / "model.pt")
    publish(path, ["model.pt"], model.name, model.version, pointer=True)
    return path.parent


def alert_rows(n=6, seed=1):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        shape = (63, 63) if i != 2 else (53, 63)              # one edge-of-CCD cutout
        rows.append({
            "objectId": f"ZTF23a{i:06d}", "candid": 1000 + i,
            "cutoutScience": fits_gz(rng.normal(100, 5, shape).astype(np.float32)),
            "cutoutTemplate": fits_gz(rng.normal(100, 3, shape).astype(np.float32)),
            "cutoutDifference": fits_gz(rng.normal(0, 5, shape).astype(np.float32)),
            "sgscore1": 0.9 if i == 3 else 0.1, "distpsnr1": 0.4 if i == 3 else 8.0,
            "sgscore2": 0.5, "sgscore3": 0.5, "distpsnr2": 10.0, "distpsnr3": 15.0,
            "isdiffpos": "f" if i == 4 else "t", "fwhm": 2.0, "magpsf": 18.5, "sigmapsf": 0.1,
            "ra": 10.0 + i, "dec": 20.0, "diffmaglim": 20.5, "classtar": 0.9, "ndethist": 1,
            "ncovhist": 5, "chinr": 1.0, "sharpnr": 0.0, "xpos": 1500.0, "ypos": 3070.0,
            "ssdistnr": 1.5 if i == 5 else -999.0,
        })
    return pd.DataFrame(rows)


def check_rows(out: pd.DataFrame):
    assert list(out.columns) == PROBABILITY_COLUMNS
    sums = out.groupby(["oid", "classifier_name"])["probability"].sum()
    assert np.allclose(sums, 1.0)
    for _, g in out.groupby(["oid", "classifier_name"]):
        assert sorted(g["ranking"]) == list(range(1, len(g) + 1))
        assert g.loc[g["ranking"] == 1, "probability"].iloc[0] == g["probability"].max()


@pytest.mark.parametrize("backend", ["brf", "xgb"])
def test_lc_probabilities_rows(lc_dirs, backend):
    frame, _ = synthetic_features(2, seed=5)
    frame.loc[0, "reason"] = "too_few_detections"
    classify.clear_cache()
    out = lc_probabilities(frame, lc_dirs[backend])
    check_rows(out)
    name = "lc_classifier" if backend == "brf" else "lc_classifier_xgb"
    assert set(out["classifier_name"]) == {name, name + "_top"}
    assert frame.loc[0, "oid"] not in set(out["oid"])           # no features -> no rows
    assert out["oid"].nunique() == len(frame) - 1
    top = out[out["classifier_name"] == name + "_top"].set_index(["oid", "class_name"])["probability"]
    leaf = out[out["classifier_name"] == name].copy()
    leaf["top"] = leaf["class_name"].map({c: t for t, v in TAXONOMY.items() for c in v})
    summed = leaf.groupby(["oid", "top"])["probability"].sum()
    assert np.allclose(summed.sort_index().to_numpy(), top.sort_index().to_numpy())
    assert (out["classifier_version"].str.startswith("1.0.0+")).all()


def test_lc_probabilities_accepts_oid_index_and_empty(lc_dirs):
    frame, _ = synthetic_features(1)
    out = lc_probabilities(frame.set_index("oid"), lc_dirs["brf"], levels=("leaf",))
    assert len(out) == len(frame) * 15
    empty = lc_probabilities(frame.head(0), lc_dirs["brf"])
    assert list(empty.columns) == PROBABILITY_COLUMNS and len(empty) == 0


def test_model_loaded_once_per_process(lc_dirs, monkeypatch):
    classify.clear_cache()
    calls = []
    real_load = lc_batch.load_model
    monkeypatch.setattr(lc_batch, "load_model", lambda p: calls.append(p) or real_load(p))
    frame, _ = synthetic_features(1)
    run = lc_batch.lc_udf(lc_dirs["brf"])
    outs = list(run(iter([frame.iloc[:5], frame.iloc[5:10], frame.iloc[10:]])))
    assert len(calls) == 1 and sum(len(o) for o in outs) == len(frame) * 18


def test_stamp_probabilities_rules_and_sums(stamp_dir):
    classify.clear_cache()
    alerts = alert_rows()
    out = stamp_probabilities(alerts, stamp_dir)
    check_rows(out)
    assert set(out["classifier_name"]) == {"stamp_classifier"} and out["oid"].nunique() == len(alerts)
    p = out.pivot(index="oid", columns="class_name", values="probability")
    assert p.loc["ZTF23a000005", "asteroid"] == 1.0          # ssdistnr set and close
    assert p.loc["ZTF23a000004", "SN"] == 0.0                # negative difference
    assert p.loc["ZTF23a000003", "SN"] == 0.0                # likely star
    raw = stamp_probabilities(alerts, stamp_dir, rules=False).pivot(
        index="oid", columns="class_name", values="probability")
    assert raw.loc["ZTF23a000005", "asteroid"] < 1.0 and raw.loc["ZTF23a000004", "SN"] > 0.0


def test_stamp_rules_keep_ssdistnr_sentinel_and_far_objects():
    pdf = pd.DataFrame({"ssdistnr": [-999.0, 30.0, None], "isdiffpos": [1, 1, 1],
                        "sgscore1": [0.1] * 3, "distpsnr1": [9.0] * 3})
    p = np.tile(np.array([[0.1, 0.5, 0.2, 0.1, 0.1]]), (3, 1))
    assert np.allclose(apply_stamp_rules(pdf, p, CLASSES), p)


def test_pointer_wins_over_a_newer_planted_folder(tmp_path):
    import os
    import time

    frame, y = synthetic_features(3, seed=9)
    real = HierarchicalRandomForest(n_estimators=3, random_state=1).fit(frame, y)
    real.save(tmp_path / "real")
    write_pointer(tmp_path, "real")
    planted = HierarchicalRandomForest(n_estimators=3, random_state=2).fit(frame.iloc[::-1], y[::-1])
    planted.save(tmp_path / "planted")
    t = time.time()
    os.utime(tmp_path / "real" / "artifacts.json", (t - 100, t - 100))   # the planted one is newer
    assert model_ref(tmp_path).path == (tmp_path / "real").resolve()
    assert model_ref(tmp_path, version="planted").path == (tmp_path / "planted").resolve()   # a pin
    classify.clear_cache()
    rows = lc_probabilities(frame, tmp_path)
    assert set(rows["classifier_version"]) == {real.version}
    with pytest.raises(ModelMissing, match="make models"):
        model_ref(tmp_path / "none")
    (tmp_path / "current").write_text("../real\n")               # a pointer cannot leave the folder
    with pytest.raises(ModelMissing, match="invalid model version"):
        model_ref(tmp_path)


def test_relative_models_folder_is_not_read_from_the_current_directory(tmp_path, monkeypatch):
    frame, y = synthetic_features(2, seed=3)
    planted = HierarchicalRandomForest(n_estimators=2).fit(frame, y)
    planted.save(tmp_path / "var" / "models" / "lc_x" / "v1")
    write_pointer(tmp_path / "var" / "models" / "lc_x", "v1")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelMissing):   # resolved against the project root, not the cwd
        model_ref("var/models/lc_x")
    assert model_ref("var/models/lc_x", root=tmp_path).path == (tmp_path / "var/models/lc_x/v1").resolve()


@pytest.mark.parametrize("backend", ["brf", "xgb"])
def test_tampered_artifact_is_refused(lc_dirs, backend, tmp_path):
    import shutil

    source = model_ref(lc_dirs[backend]).path
    copy = tmp_path / source.name
    shutil.copytree(source, copy)
    payload = sorted(p for p in copy.iterdir() if p.name not in ("artifacts.json", "model.json"))[0]
    data = bytearray(payload.read_bytes())
    data[len(data) // 2] ^= 0x01
    payload.write_bytes(bytes(data))
    classify.clear_cache()
    with pytest.raises(ArtifactMismatch, match="sha256"):
        lc_probabilities(synthetic_features(1)[0], copy)
    meta = copy / "model.json"      # the metadata is covered too
    shutil.copy(source / payload.name, payload)
    meta.write_text(meta.read_text().replace('"Periodic"', '"Periodik"', 1))
    with pytest.raises(ArtifactMismatch, match="model.json"):
        lc_probabilities(synthetic_features(1)[0], copy)


def test_manifest_changed_after_resolution_is_refused(lc_dirs, tmp_path):
    import shutil

    from science.artifacts import write_manifest

    copy = tmp_path / "v"
    shutil.copytree(model_ref(lc_dirs["brf"]).path, copy)
    ref = model_ref(copy)
    (copy / "forest.npz").write_bytes(b"not a forest")
    write_manifest(copy, ["model.json", "forest.npz"], "lc_classifier", "x")   # re-signed by someone
    classify.clear_cache()
    with pytest.raises(ArtifactMismatch, match="changed since"):
        lc_batch.load_model(ref)


@pytest.mark.parametrize("backend", ["brf", "xgb"])
def test_loading_never_unpickles(lc_dirs, backend, monkeypatch):
    import pickle

    import joblib

    def refuse(*args, **kwargs):
        raise AssertionError("a model artifact was unpickled")

    real_np_load = np.load

    def np_load(*args, **kwargs):
        assert kwargs.get("allow_pickle") is False
        return real_np_load(*args, **kwargs)

    for module, name in ((pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (joblib, "load")):
        monkeypatch.setattr(module, name, refuse)
    monkeypatch.setattr(np, "load", np_load)
    classify.clear_cache()
    folder = model_ref(lc_dirs[backend]).path
    assert not any(p.suffix in (".joblib", ".pkl", ".pickle") for p in folder.iterdir())
    out = lc_probabilities(synthetic_features(1)[0], lc_dirs[backend])
    check_rows(out)


def test_safe_forest_is_bit_identical_to_sklearn(lc_dirs):
    from science.lc_classifier.artifact import load

    frame, y = synthetic_features()
    trained = HierarchicalRandomForest(n_estimators=10).fit(frame, y)   # same data and seed
    loaded = load(model_ref(lc_dirs["brf"]).path)
    assert loaded.version == trained.version
    X = synthetic_features(4, seed=12)[0]
    X.iloc[:5, 1:4] = np.nan
    trained.use_compiled = False                     # scikit-learn's own predict_proba
    ref = trained.predict_proba_hierarchical(X)
    got = loaded.predict_proba_hierarchical(X)
    assert np.array_equal(got[0], ref[0]) and np.array_equal(got[1], ref[1])


def test_metadata_of_alert_rows_complete():
    m = metadata_frame(alert_rows(2))
    assert list(m.columns) == METADATA and m.notna().all().all()
