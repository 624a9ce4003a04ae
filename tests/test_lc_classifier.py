"""Light-curve classifier: hierarchy, accuracy on held-out simulated objects, xgboost
variant, missing values, persistence, model card, real-data conversions."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from science.lc_classifier import (TAXONOMY, TOP_OF, HierarchicalRandomForest, HierarchicalXGBoost,
                                  load)
from science.lc_classifier import data as lcdata
from science.lc_classifier import train as lctrain


@pytest.fixture(scope="module")
def frame():
    """Features of a small simulated season (all 15 classes), with a held-out split."""
    seasons = ((7, 300, 450),)
    f = lctrain.simulated_set(seasons, n_threads=2, nights=2)
    f["test"] = lctrain.is_test(f.index, 0.3)
    assert f["classALeRCE"].nunique() >= 12
    return f


@pytest.fixture(scope="module")
def forest(frame):
    return lctrain.fit(frame, "brf", n_estimators=40)


@pytest.fixture(scope="module")
def xgb(frame):
    return lctrain.fit(frame, "xgb", n_estimators=40, n_jobs=1)


def test_taxonomy_matches_brief():
    assert sum(len(v) for v in TAXONOMY.values()) == 15
    assert set(TAXONOMY) == {"Periodic", "Stochastic", "Transient"}
    assert TOP_OF["RRL"] == "Periodic" and TOP_OF["QSO"] == "Stochastic" and TOP_OF["SNIa"] == "Transient"


@pytest.mark.parametrize("which", ["forest", "xgb"])
def test_held_out_accuracy_well_above_chance(frame, which, request):
    model = request.getfixturevalue(which)
    test = frame[frame["test"]]
    m = lctrain.evaluate(model, test, test["classALeRCE"])
    assert m["top"]["macro_recall"] > 0.8          # chance: 1/3
    assert m["leaf"]["macro_recall"] > 0.45        # chance: 1/15
    assert m["leaf"]["accuracy"] > 0.5
    assert np.asarray(m["top"]["confusion"]).sum() == len(test)


@pytest.mark.parametrize("which", ["forest", "xgb"])
def test_probabilities_sum_to_one_and_hierarchy_consistent(frame, which, request):
    model = request.getfixturevalue(which)
    p_top, p_leaf = model.predict_proba_hierarchical(frame.head(50))
    assert np.allclose(p_top.sum(1), 1.0) and np.allclose(p_leaf.sum(1), 1.0)
    assert (p_leaf >= 0).all()
    for j, top in enumerate(model.top_classes_):
        cols = [list(model.classes_).index(c) for c in model.leaf_classes_[top]]
        assert np.allclose(p_leaf[:, cols].sum(1), p_top[:, j])
    assert np.array_equal(model.predict_proba(frame.head(50)), p_leaf)


@pytest.mark.parametrize("which", ["forest", "xgb"])
def test_estimator_interface_and_save_load_round_trip(frame, which, request, tmp_path):
    model = request.getfixturevalue(which)
    assert list(model.classes_) == [c for t in model.top_classes_ for c in TAXONOMY[t] if c in model.classes_]
    assert "last_mjd_before_fid_1" not in model.feature_names_in_   # absolute times are not inputs
    assert len(model.feature_names_in_) == model.n_features_in_ > 150
    assert model.version.startswith("1.0.0+") and len(model.training_data_hash_) == 64
    path = model.save(tmp_path / "m")
    back = load(tmp_path / "m")
    X = frame.head(40)
    assert np.array_equal(back.predict_proba(X), model.predict_proba(X))
    assert back.version == model.version and back.feature_names_in_ == model.feature_names_in_
    assert path.exists()


def test_missing_values_are_handled(forest, xgb, frame):
    X = frame.head(20).copy()
    X.iloc[:5, :40] = np.nan          # undefined features
    X.iloc[5:8, 3] = np.inf            # non-finite -> missing
    X = X.drop(columns=["Multiband_period", "gal_b"])   # absent columns -> missing for all rows
    for model in (forest, xgb):
        p = model.predict_proba(X)
        assert np.isfinite(p).all() and np.allclose(p.sum(1), 1.0)
    M = forest._matrix(X)
    assert (M[:5, 0] == -999.0).all()     # ALeRCE's fill value in the forest
    assert np.isnan(xgb._matrix(X)[:5, 0]).all()   # xgboost keeps NaN (learned default branch)


def test_column_order_does_not_matter(forest, frame):
    X = frame.head(10)
    shuffled = X[list(reversed(X.columns))]
    assert np.array_equal(forest.predict_proba(shuffled), forest.predict_proba(X))


def test_rejects_labels_outside_taxonomy(frame):
    with pytest.raises(ValueError, match="outside the taxonomy"):
        HierarchicalRandomForest(n_estimators=2).fit(frame.head(10), ["SNIa"] * 9 + ["Nova?"])


def test_single_leaf_top_class():
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.normal(size=60), "b": rng.normal(size=60)})
    y = ["RRL"] * 20 + ["E"] * 20 + ["SNIa"] * 20   # Transient has one leaf here
    m = HierarchicalXGBoost(n_estimators=5).fit(X, y)
    p_top, p_leaf = m.predict_proba_hierarchical(X)
    assert list(m.classes_) == ["E", "RRL", "SNIa"]
    assert np.allclose(p_leaf[:, 2], p_top[:, 1])


def test_model_card_and_metrics(forest, frame, tmp_path):
    from science.lc_classifier.card import write_model_card

    metrics = lctrain.full_metrics(forest, frame)
    path = write_model_card(forest, metrics, tmp_path / "MODEL_CARD.md")
    text = path.read_text()
    for needle in (forest.version, forest.training_data_hash_, "top level", "leaf level",
                   "macro recall", "Feature list", "Multiband_period", "| Periodic |"):
        assert needle in text


def test_correct_magnitudes_matches_formula():
    det = pd.DataFrame({"magpsf": [18.0, 19.0, 18.0], "sigmapsf": [0.1, 0.1, 0.1],
                        "magnr": [17.0, 17.0, 17.0], "sigmagnr": [0.02, 0.02, 0.02],
                        "distnr": [0.5, 0.5, 2.0], "isdiffpos": ["t", "f", "t"]})
    out = lcdata.correct_magnitudes(det)
    f = 10 ** (-0.4 * 17.0) - 10 ** (-0.4 * 19.0)
    assert out["magpsf_corr"][1] == pytest.approx(-2.5 * np.log10(f))
    assert out["corrected"].tolist() == [True, True, False]
    assert np.isnan(out["magpsf_corr"][2])


def test_compiled_forest_equals_sklearn(forest, frame):
    X = frame.head(300).copy()
    X.iloc[:20, :30] = np.nan
    fast = forest.predict_proba_hierarchical(X)
    forest.use_compiled = False
    try:
        ref = forest.predict_proba_hierarchical(X)
    finally:
        forest.use_compiled = True
    assert np.array_equal(fast[0], ref[0]) and np.array_equal(fast[1], ref[1])   # bit-identical
    assert "_packed" in forest.__dict__ and "_packed" not in forest.__getstate__()
    assert "_packed" in forest.__dict__      # pickling does not drop it from the live model


def test_packed_forests_edge_cases(forest):
    from science.lc_classifier.fastforest import PackedForests, _floor_f32

    t = np.array([0.1, 1 / 3, -2.7, 5.0])
    f = _floor_f32(t)
    assert (f.astype(np.float64) <= t).all() and (np.nextafter(f, np.float32(np.inf)) > t).all()
    packed = PackedForests([forest.top_model_])
    M = np.zeros((3, forest.n_features_in_), np.float32)
    assert np.array_equal(packed.predict_proba(M)[0], forest.top_model_.predict_proba(M))
    assert packed.predict_proba(M[:0])[0].shape == (0, len(forest.top_classes_))
    M[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        packed.predict_proba(M)


def test_mask_like_real_balances_missingness(frame):
    train = frame[~frame["test"]].copy()
    real = train[train["classALeRCE"] == "SNIa"].head(10).copy()
    real.index = "real" + real.index.astype(str)
    real["source"] = "real:bts_snia"
    masked = lctrain.mask_like_real(pd.concat([train, real]))
    cols = lctrain.real_unknown_features(masked.columns)
    assert "sgscore1" in cols and "n_non_det_before_fid_1" in cols and "Multiband_period" not in cols
    missing = masked[cols].isna().all(axis=1)
    assert missing[masked["source"].str.startswith("real")].all()
    share = missing.groupby(masked["classALeRCE"]).mean()
    counts = masked["classALeRCE"].value_counts()
    assert (share - 0.5).abs().max() <= 1.0 / counts.min()     # half of every class
    untouched = [c for c in masked.columns if c not in cols]
    pd.testing.assert_frame_equal(masked[untouched], pd.concat([train, real])[untouched])


@pytest.mark.realdata
def test_real_light_curves_in_detection_layout(shared_data):
    bts = lcdata.bts_snia_detections(shared_data, limit=5)
    rrl = lcdata.s82_rrlyrae_detections(shared_data, limit=3)
    for det in (bts, rrl):
        assert list(det.columns) == lcdata.DETECTION_COLUMNS
        assert set(det["fid"]) <= {1, 2}
        assert det["rb"].between(0, 1).all() and det["rb"].std() > 0.05     # not a constant tell
    assert (bts["isdiffpos"] == 1).all() and not bts["corrected"].any()
    assert bts["oid"].str.startswith("ZTF").all() and rrl["oid"].str.startswith("S82_").all()


@pytest.mark.realdata
def test_stripe82_converted_as_ztf_difference_photometry(shared_data):
    raw = lcdata.s82_rrlyrae_detections(shared_data, limit=4, ztf_like=False)
    det = lcdata.s82_rrlyrae_detections(shared_data, limit=4)
    assert set(det["oid"]) <= set(raw["oid"]) and len(det) < len(raw)   # faint differences undetected
    span = det.groupby("oid")["mjd"].agg(lambda t: t.max() - t.min())
    assert (span <= lcdata.HISTORY_DAYS).all()
    assert set(det["isdiffpos"]) == {-1, 1} and det["corrected"].all()
    # the corrected magnitude is the star's (noisy) magnitude at that epoch
    both = det.merge(raw[["oid", "mjd", "fid", "magpsf"]], on=["oid", "mjd", "fid"], suffixes=("", "_raw"))
    assert len(both) == len(det)
    assert np.median(np.abs(both["magpsf_corr"] - both["magpsf_raw"])) < 0.05
    assert (det["magpsf"] > both["magpsf_raw"]).all()      # a difference is fainter than the star
    assert det["dec"].between(*lcdata.S82_DEC).all() and det.groupby("oid")["ra"].nunique().eq(1).all()
    again = lcdata.s82_rrlyrae_detections(shared_data, limit=4)
    pd.testing.assert_frame_equal(det, again)               # deterministic


@pytest.mark.realdata
def test_alerce_feature_vectors_match_our_names(shared_data, forest):
    feats, labels = lcdata.alerce_labeled_features(shared_data)
    assert len(feats) >= 95 and labels.notna().all()   # 98 of the 100 labeled objects have features
    common = [c for c in forest.feature_names_in_ if c in feats.columns]
    assert len(common) >= len(forest.feature_names_in_) - 2     # all but Harmonics_chi_1/2
    m = lctrain.evaluate(forest, feats, labels)
    assert m["top"]["n"] == len(feats)
