"""A session-wide demo lake for the quality, publication and notebook tests: the real
night 2018-11-29 landed and processed, plus a small synthetic `probability` table (as
the classifiers would write it) so that the probability paths run. Tests that change
the lake take a copy (``lake_copy``). Use with ``pytest_plugins = ["tests.demolake"]``."""
from __future__ import annotations

import hashlib
import shutil

import pytest

NIGHT = 20181129
TOP_CLASSES = ("Periodic", "Stochastic", "Transient")
STAMP_CLASSES = ("AGN", "SN", "VS", "asteroid", "bogus")


def synthetic_probabilities(oids) -> "pa.Table":  # noqa: F821
    """Deterministic class probabilities per object for two classifiers."""
    import numpy as np
    import pyarrow as pa

    rows = []
    for oid in sorted(oids):
        seed = int(hashlib.sha256(oid.encode()).hexdigest()[:8], 16)
        rng = np.random.default_rng(seed)
        for name, version, classes in (("lc_classifier_top", "1.0.0", TOP_CLASSES),
                                       ("stamp_classifier", "1.0.0", STAMP_CLASSES)):
            p = rng.dirichlet(np.ones(len(classes)))
            order = np.argsort(-p, kind="stable")
            ranking = np.empty(len(classes), dtype=np.int32)
            ranking[order] = np.arange(1, len(classes) + 1)
            for c, prob, rank in zip(classes, p, ranking):
                rows.append({"oid": oid, "classifier_name": name, "classifier_version": version,
                             "class_name": c, "probability": float(prob), "ranking": int(rank)})
    return pa.Table.from_pylist(rows, schema=pa.schema([
        ("oid", pa.string()), ("classifier_name", pa.string()),
        ("classifier_version", pa.string()), ("class_name", pa.string()),
        ("probability", pa.float64()), ("ranking", pa.int32())]))


@pytest.fixture(scope="session")
def demo_lake(shared_data, engine_server, tmp_path_factory):
    """Configuration of the demo lake (do not modify it: use ``lake_copy``)."""
    import deltalake

    from lake import storage
    from lake.config import load_config
    from lake.stages.ingest import ingest
    from lake.stages.process import process

    root = tmp_path_factory.mktemp("demo") / "lake"
    config = load_config(overrides={"lake": {"root": str(root)}})
    ingest(config, str(shared_data / "ztf" / "nights" / f"ztf_public_{NIGHT}.tar.gz"))
    process(config, [NIGHT])
    oids = deltalake.DeltaTable(storage.table_uri(config, "object")).to_pyarrow_table(
        columns=["oid"]).column("oid").to_pylist()
    deltalake.write_deltalake(storage.table_uri(config, "probability"),
                              synthetic_probabilities(oids))
    return config


@pytest.fixture
def lake_copy(demo_lake, tmp_path):
    """A private copy of the demo lake (its own publication root too)."""
    from lake.config import load_config

    root = tmp_path / "lake"
    shutil.copytree(demo_lake["lake"]["root"], root)
    shutil.rmtree(root / "validation", ignore_errors=True)
    return load_config(overrides={"lake": {"root": str(root)},
                                  "publish": {"root": str(tmp_path / "publish")}})
