"""Follow-up candidates (lake.candidates) on the shared simulated lake: the engine's
selection equals the criteria evaluated independently in pandas, candidates are young
simulated supernovae, and each has a rank and a reason."""
from __future__ import annotations

import os

import deltalake
import numpy as np
import pandas as pd
import pytest

from lake.candidates import candidate_settings, select_candidates
from lake.candidates.select import night_start_mjd

pytestmark = pytest.mark.slow
SN = {"SNIa", "SNII", "SNIbc", "SLSN"}


def table(root, name):
    path = os.path.join(root, name)
    return deltalake.DeltaTable(path).to_pandas() if os.path.isdir(path) else None


@pytest.fixture(scope="module")
def lake_with_sn_probabilities(spark):
    """The shared lake with stamp-classifier-shaped probability rows from the simulator's
    truth (P(SN) 0.9 for supernovae, 0.1 otherwise; two SNe at 0.3): the selection is
    tested on known inputs, whatever models are installed."""
    from lake import delta
    from tests.contextlake import context_lake

    lake = context_lake()
    truth = lake.truth.set_index("objectId")["class"]
    objects = table(lake.config["lake"]["root"], "object")
    p_sn = np.where(objects["oid"].map(truth).isin(SN), 0.9, 0.1)
    low = np.flatnonzero(p_sn == 0.9)[:2]
    p_sn[low] = 0.3
    rows = pd.DataFrame({"oid": np.repeat(objects["oid"].to_numpy(), 2),
                         "classifier_name": "stamp_classifier", "classifier_version": "truth",
                         "class_name": np.tile(["SN", "VS"], len(objects)),
                         "probability": np.column_stack([p_sn, 1 - p_sn]).ravel(),
                         "ranking": np.column_stack([np.where(p_sn >= 0.5, 1, 2),
                                                     np.where(p_sn >= 0.5, 2, 1)]).ravel().astype("int32")})
    delta.merge_into(spark, lake.config, "probability", spark.createDataFrame(rows))
    return lake


def expected(root, settings, night) -> pd.DataFrame:
    """The criteria of lake.candidates.select, in pandas, from the tables."""
    obj = table(root, "object").set_index("oid")
    det = table(root, "detection").sort_values(["mjd", "candid"])
    first = det.groupby("oid").first()
    last = det.groupby("oid")["mjd"].max()
    prob = table(root, "probability")
    stamp = prob[(prob.classifier_name == "stamp_classifier") & (prob.class_name == "SN")]
    lc = prob[(prob.classifier_name == "lc_classifier") & prob.class_name.isin(SN)]
    score = pd.concat([stamp.groupby("oid")["probability"].max(),
                       lc.groupby("oid")["probability"].sum()], axis=1).max(axis=1)
    nd = table(root, "non_detection").merge(first[["mjd", "magpsf"]].rename(
        columns={"mjd": "first_mjd", "magpsf": "first_mag"}), left_on="oid", right_index=True)
    nd = nd[(nd.mjd < nd.first_mjd) & (nd.mjd >= nd.first_mjd - settings["nondetection_window_days"])
            & (nd.diffmaglim > nd.first_mag)]
    ss = table(root, "ss_ztf")
    near_ss = set(ss[(ss.ssdistnr >= 0) & (ss.ssdistnr < settings["max_ss_distance_arcsec"])].oid)
    xm = table(root, "xmatch")
    stars = set(xm[(xm.catalog == "gaia_dr3")
                   & (xm.parallax_over_error >= settings["star_parallax_over_error"])].oid)
    keep = []
    for oid in obj.index:
        f = first.loc[oid]
        if (last[oid] >= night_start_mjd(night)
                and last[oid] - f.mjd <= settings["max_age_days"] and f.isdiffpos > 0
                and score.get(oid, 0) >= settings["min_sn_probability"]
                and not obj.loc[oid, "stellar"] and oid not in stars and oid not in near_ss
                and oid in set(nd.oid)):
            keep.append(oid)
    return pd.DataFrame({"oid": keep, "score": score.reindex(keep).to_numpy()})


def test_candidates_match_the_criteria_and_the_truth(spark, lake_with_sn_probabilities):
    lake = lake_with_sn_probabilities
    root, night = lake.config["lake"]["root"], lake.nights[-1]
    oids = spark.createDataFrame(table(root, "object")[["oid"]])
    got = select_candidates(spark, lake.config, oids, night).toPandas()
    want = expected(root, candidate_settings(lake.config), night)
    assert len(want) >= 3
    assert set(got["oid"]) == set(want["oid"])
    # All are young simulated supernovae caught on the rise.
    truth = lake.truth.set_index("objectId")
    assert got["oid"].map(truth["class"]).isin(SN).all()
    assert (got["age_days"] <= 3.0).all() and (got["nd_diffmaglim"] > got["first_magpsf"]).all()
    assert sorted(got["rank"]) == list(range(1, len(got) + 1))
    assert got.sort_values("rank")["score"].is_monotonic_decreasing
    assert got["reason"].str.contains("P\\(SN\\) 0.90").all()
    assert got["reason"].str.contains("non-detection").all()
    hosted = got[got["host_id"].notna()]
    assert len(hosted) and hosted["reason"].str.contains("host allwise").all()
    assert (hosted["host_offset_arcsec"] <= 2.0).all()
    # Thresholds work: a stricter age keeps a subset; the two SNe at P(SN) 0.3 are out.
    strict = dict(lake.config.get("candidates") or {}, max_age_days=1.0)
    from lake.config import load_config
    stricter = select_candidates(spark, load_config(overrides={
        "lake": {"root": root}, "xmatch": dict(lake.config["xmatch"]), "candidates": strict}),
        oids, night).toPandas()
    assert set(stricter["oid"]) <= set(got["oid"]) and (stricter["age_days"] <= 1.0).all()


def test_classify_stage_writes_the_candidate_table(spark, lake_with_sn_probabilities, monkeypatch):
    from lake.stages.classify import classify
    from science import registry

    lake = lake_with_sn_probabilities
    root = lake.config["lake"]["root"]
    monkeypatch.setattr(registry, "REGISTRY", ())   # keep the truth-shaped probabilities
    classify(lake.config, lake.nights)
    candidate = table(root, "candidate")
    assert candidate is not None and len(candidate) >= 3
    assert not candidate.duplicated(["oid", "night"]).any()
    assert (candidate["night"] == lake.nights[-1]).all() and (candidate["survey"] == "ztf").all()
    version = deltalake.DeltaTable(os.path.join(root, "candidate")).version()
    classify(lake.config, lake.nights)
    assert deltalake.DeltaTable(os.path.join(root, "candidate")).version() - version <= 1
