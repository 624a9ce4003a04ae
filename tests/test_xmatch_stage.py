"""The process stage's cross-match: tonight's objects -> ``xmatch``, and the WISE colour
features of the AllWISE-matched objects."""
from __future__ import annotations

import os

import deltalake
import pandas as pd
import numpy as np
import pytest

from tests.contextlake import context_lake

pytestmark = pytest.mark.slow


def table(config, name):
    return deltalake.DeltaTable(os.path.join(config["lake"]["root"], name)).to_pandas()


def test_process_stage_writes_xmatch_and_wise_colours(spark):
    lake = context_lake()
    xmatch = table(lake.config, "xmatch")
    assert not xmatch.duplicated(["oid", "catalog"]).any()
    assert set(xmatch["catalog"]) == {"allwise", "gaia_dr3"}
    assert (xmatch["survey"] == "ztf").all()
    assert xmatch["distance"].between(0, 2.0).all()
    assert (xmatch[xmatch["catalog"] == "gaia_dr3"]["distance"] <= 1.0).all()
    objects = table(lake.config, "object")
    assert set(xmatch["oid"]) <= set(objects["oid"])
    truth = lake.truth.set_index("objectId")["class"]
    stars = xmatch[(xmatch["catalog"] == "allwise")
                   & xmatch["oid"].map(truth).isin(["RRL", "E", "LPV", "CEP", "DSCT"])]
    assert len(stars) > 20

    feature = table(lake.config, "feature").set_index("oid")
    wise = xmatch[xmatch["catalog"] == "allwise"].set_index("oid")
    matched = feature.index.intersection(wise.index)
    with_features = feature.loc[matched][feature.loc[matched, "reason"].isna()]
    assert len(with_features) > 20
    np.testing.assert_allclose(with_features["W1-W2"],
                               wise.loc[with_features.index, "W1mag"]
                               - wise.loc[with_features.index, "W2mag"], atol=1e-9)
    assert with_features["W2-W3"].notna().all() and with_features["g-W2"].notna().any()
    unmatched = feature.index.difference(wise.index)
    assert feature.loc[unmatched, "W1-W2"].isna().all()


def test_reprocessing_changes_no_xmatch_row(spark):
    from lake.stages.process import process

    lake = context_lake()
    before = deltalake.DeltaTable(os.path.join(lake.config["lake"]["root"], "xmatch"))
    version = before.version()
    rows = before.to_pandas().sort_values(["oid", "catalog"]).reset_index(drop=True)
    process(lake.config, lake.nights)
    after = deltalake.DeltaTable(os.path.join(lake.config["lake"]["root"], "xmatch"))
    again = after.to_pandas().sort_values(["oid", "catalog"]).reset_index(drop=True)
    assert after.version() - version <= 1
    # same matches; distances and magnitudes within the lake's float tolerance (1e-9
    # relative: the engine's summation order may move the last bits)
    again = again[rows.columns]
    floats = [c for c in rows.columns if rows[c].dtype.kind == "f"]
    assert rows.drop(columns=floats).equals(again.drop(columns=floats))
    pd.testing.assert_frame_equal(rows[floats], again[floats], rtol=1e-9, atol=0)
