"""The production training paths, end to end on a real lake: `jobs/train_lc.py --labels
CSV --lake ROOT` (ALeRCE's `oid,classALeRCE` joined to the lake's `feature` table) and
`jobs/train_stamp.py --labels CSV --lake ROOT` (labels joined to the `alert` and
`cutout` tables). The lake is the real night 2018-11-29 landed and processed
(``tests.demolake``); the label files are written here for objects of that lake, since
ALeRCE's label files barely overlap that night (checked below)."""
from __future__ import annotations

import hashlib
import json
import sys

import numpy as np
import pandas as pd
import pytest

from tests.conftest import REPO

pytest_plugins = ["tests.demolake"]
sys.path.insert(0, str(REPO / "jobs"))

# Leaves assigned to objects without a real ALeRCE label (by oid hash): the point is the
# path (join, split, fit, metrics, card, artifact), not what the labels mean.
FILL_LEAVES = ["E", "RRL", "LPV", "QSO", "AGN", "SNIa", "SNII"]


def _lake_table(config, name, columns=None):
    import deltalake

    from lake import storage

    return deltalake.DeltaTable(storage.table_uri(config, name)).to_pandas(columns=columns)


def _hash_pick(oid: str, options):
    return options[int(hashlib.sha1(oid.encode()).hexdigest()[:8], 16) % len(options)]


@pytest.mark.slow
@pytest.mark.realdata
def test_train_lc_from_labels_and_lake(demo_lake, shared_data, tmp_path):
    import train_lc

    from science.lc_classifier import load

    features = _lake_table(demo_lake, "feature")
    oids = sorted(features.loc[features["reason"].isna(), "oid"])
    assert len(oids) >= 40, "the real night should give objects with features"
    real = pd.concat([pd.read_csv(shared_data / "labels" / "2000_labels.csv"),
                      pd.read_csv(shared_data / "labels" / "100_objects_labels.csv")])
    known = real.drop_duplicates("objectId").set_index("objectId")["classALeRCE"]
    overlap = [o for o in oids if o in known.index]
    assert len(overlap) < len(oids) / 2          # why the labels are written here
    labels = pd.DataFrame({"oid": oids,
                           "classALeRCE": [known.get(o, _hash_pick(o, FILL_LEAVES)) for o in oids]})
    # an unknown object and a class outside the taxonomy are dropped with a warning
    labels = pd.concat([labels, pd.DataFrame({"oid": ["ZTF00notinlake", oids[0] + "x"],
                                              "classALeRCE": ["SNIa", "Nova?"]})])
    csv = tmp_path / "labels.csv"
    labels.to_csv(csv, index=False)
    out = tmp_path / "lc"
    assert train_lc.main(["--labels", str(csv), "--lake", demo_lake["lake"]["root"], "--no-real",
                          "--trees", "20", "--threads", "1", "--out", str(out)]) == 0

    model = load(out)
    assert model.version.startswith("1.0.0+brf.") and len(model.training_data_hash_) == 64
    assert model.version.endswith(model.training_data_hash_[:8])
    assert model.training_sources_ == {"labels:labels.csv": model.n_train_}
    lake_feats = [c for c in features.columns if c not in ("oid", "feature_version", "n_det_used", "reason",
                                                           "last_mjd_before_fid_1", "last_mjd_before_fid_2")]
    assert set(model.feature_names_in_) == set(lake_feats)
    metrics = json.loads((out / "metrics.json").read_text())
    test = metrics["labeled_test"]
    held = sum(1 for o in oids if _is_test(o))
    assert test["top"]["n"] == held > 0 and np.asarray(test["leaf"]["confusion"]).sum() == held
    assert 0 <= test["top"]["macro_recall"] <= 1 and "macro_f1" in test["leaf"]
    assert model.n_train_ == len(oids) - held
    card = (out / "MODEL_CARD.md").read_text()
    for needle in (model.version, model.training_data_hash_, "Feature list", "Multiband_period"):
        assert needle in card
    # the artifact classifies the lake's own rows through the inference function
    from science.lc_classifier.batch import lc_probabilities

    rows = lc_probabilities(features, out)
    assert rows["oid"].nunique() == len(oids) and set(rows["classifier_version"]) == {model.version}
    np.testing.assert_allclose(rows.groupby(["oid", "classifier_name"])["probability"].sum(), 1.0)


def _is_test(oid: str) -> bool:
    from science.lc_classifier.train import is_test

    return bool(is_test([oid])[0])


@pytest.mark.slow
@pytest.mark.realdata
def test_train_stamp_from_labels_and_lake(demo_lake, tmp_path):
    import train_stamp

    from science.stamp_classifier import load

    alerts = _lake_table(demo_lake, "alert", ["objectId", "candid", "jd", "ssdistnr", "sgscore1",
                                             "distpsnr1", "rb"])
    first = alerts.sort_values(["jd", "candid"]).drop_duplicates("objectId")
    # labels from the alerts' own cross-matches: a known solar-system object within 5"
    # is an asteroid (as in the rules); a likely star a variable star; the rest by hash
    ss = first["ssdistnr"].between(0, 5)
    star = (first["sgscore1"] > 0.5) & (first["distpsnr1"] < 1)
    cls = np.where(ss, "asteroid", np.where(star, "VS", [_hash_pick(o, ["SN", "AGN", "bogus"])
                                                          for o in first["objectId"]]))
    labels = pd.DataFrame({"oid": first["objectId"], "class": cls}).head(400)
    assert labels["class"].nunique() >= 3
    csv = tmp_path / "stamps.csv"
    labels.to_csv(csv, index=False)
    out = tmp_path / "stamp"
    assert train_stamp.main(["--labels", str(csv), "--lake", demo_lake["lake"]["root"], "--no-real",
                             "--epochs", "1", "--threads", "1", "--out", str(out)]) == 0
    model = load(out)
    metrics = json.loads((out / "metrics.json").read_text())
    held = int(sum(_is_test(o) for o in labels["oid"]))
    assert metrics["training_rows"] == len(labels) - held
    assert metrics["labeled_test"]["n"] == held > 0
    assert model.version.startswith("1.0.0+cnn.") and len(model.training_data_hash_) == 64
    card = (out / "MODEL_CARD.md").read_text()
    assert model.version in card and model.training_data_hash_ in card
