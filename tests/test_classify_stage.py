"""The classification stage on a simulated season: both classifiers run as pandas UDFs
on the embedded engine and fill the probability table consistently and idempotently."""
from __future__ import annotations

import os

import deltalake
import numpy as np
import pandas as pd
import pytest

from lake.stages.classify import ModelMissing, classify, resolve_models
from science import registry
from lake.stages.ingest import ingest
from lake.stages.process import process


@pytest.fixture(scope="module")
def season(tmp_path_factory):
    from simulator import simulate_season

    out = tmp_path_factory.mktemp("season")
    # One process: the embedded engine's threads already run in this test process.
    paths = simulate_season("20231101", nights=2, alerts_per_night=400, seed=11, out=out,
                            history_days=365, processes=1)
    return paths, pd.read_parquet(out / "truth.parquet")


@pytest.fixture(scope="module")
def classified(season, spark, tmp_path_factory):
    from lake.config import load_config

    try:
        resolve_models(load_config())
    except ModelMissing as error:
        pytest.skip(str(error))
    paths, truth = season
    config = load_config(overrides={"lake": {"root": str(tmp_path_factory.mktemp("lake"))}})
    for path in paths:
        ingest(config, str(path))
    process(config, [20231101, 20231102])
    result = classify(config, [20231101, 20231102])
    table = deltalake.DeltaTable(os.path.join(config["lake"]["root"], "probability")).to_pandas()
    return config, result, table, truth


@pytest.mark.slow
def test_probabilities_are_consistent(classified):
    _, result, table, _ = classified
    assert set(table["classifier_name"]) >= {"lc_classifier", "lc_classifier_top",
                                            "stamp_classifier"}
    assert table["probability"].between(0, 1).all()
    sums = table.groupby(["oid", "classifier_name"])["probability"].sum()
    np.testing.assert_allclose(sums, 1.0, atol=1e-6)
    sizes = table.groupby(["oid", "classifier_name"]).size()
    expected = {"lc_classifier": 15, "lc_classifier_top": 3, "stamp_classifier": 5}
    assert all(sizes.xs(name, level=1).eq(n).all() for name, n in expected.items())
    best = table[table["ranking"] == 1].groupby(["oid", "classifier_name"]).size()
    assert (best == 1).all()
    assert result.objects == table["oid"].nunique() or result.objects > 0


@pytest.mark.slow
def test_classes_agree_with_truth(classified):
    _, _, table, truth = classified
    top = table[(table["classifier_name"] == "lc_classifier_top") & (table["ranking"] == 1)]
    joined = top.merge(truth, left_on="oid", right_on="objectId")
    assert len(joined) >= 50
    accuracy = (joined["class_name"] == joined["top_class"]).mean()
    assert accuracy > 0.8, f"top-level accuracy on simulated objects {accuracy:.2f}"
    stamp = table[(table["classifier_name"] == "stamp_classifier") & (table["ranking"] == 1)]
    asteroids = truth.loc[truth["class"] == "asteroid", "objectId"]
    flagged = stamp[stamp["oid"].isin(asteroids)]
    assert len(flagged) and (flagged["class_name"] == "asteroid").all()


@pytest.mark.slow
def test_rerun_changes_nothing(classified):
    config, _, table, _ = classified
    again = classify(config, [20231101, 20231102])
    after = deltalake.DeltaTable(os.path.join(config["lake"]["root"], "probability")).to_pandas()
    assert len(after) == len(table)
    counts = again.rows
    assert sum(counts.values()) > 0


@pytest.mark.slow
def test_every_registered_classifier_writes_its_rows(classified, monkeypatch):
    """The stage runs what the registry lists: the default entries' rows are there, and
    one more entry (the xgboost variant as a third classifier) is one more line."""
    from science.lc_classifier import batch as lc_batch

    config, result, table, _ = classified
    assert set(result.rows) == {entry.name for entry in registry.REGISTRY}
    assert all(result.rows[entry.name] > 0 for entry in registry.REGISTRY)
    written = {name for entry in registry.REGISTRY for name in entry.writes}
    assert set(table["classifier_name"]) == written
    extra = registry.Classifier("lc_classifier_xgb", ("lc_classifier_xgb_top", "lc_classifier_xgb"),
                                registry.FEATURES, lc_batch.probabilities, lc_batch.load_model,
                                "lc_xgb_dir", "var/models/lc_classifier_xgb")
    try:
        extra.resolve(config.get("models"))
    except ModelMissing as error:
        pytest.skip(str(error))
    monkeypatch.setattr(registry, "REGISTRY", (*registry.REGISTRY, extra))
    again = classify(config, [20231101, 20231102])
    after = deltalake.DeltaTable(os.path.join(config["lake"]["root"], "probability")).to_pandas()
    assert set(again.rows) == {entry.name for entry in registry.REGISTRY}
    assert set(after["classifier_name"]) == written | set(extra.writes)
    lc_objects = set(table.loc[table["classifier_name"] == "lc_classifier", "oid"])
    assert set(after.loc[after["classifier_name"] == "lc_classifier_xgb", "oid"]) == lc_objects
    unchanged = after[after["classifier_name"].isin(written)]
    assert len(unchanged) == len(table)
