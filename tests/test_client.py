"""The light client (alert_lake_client): object, lightcurve, cone and query over a
local and an S3 (SeaweedFS) publication of the demo lake, checked against the lake;
it imports without Spark, torch or the lake package."""
from __future__ import annotations

import math
import subprocess
import sys

import pytest

pytest_plugins = ["tests.demolake", "tests.s3server"]

NIGHT = 20181129
pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def published(demo_lake, tmp_path_factory):
    from lake.publish import publish

    config = {**demo_lake, "publish": {"root": str(tmp_path_factory.mktemp("pub") / "p")}}
    return config, publish(config, NIGHT, gate=False, report=False)


def _distance_arcsec(ra1, dec1, ra2, dec2):
    from astropy.coordinates import SkyCoord

    return SkyCoord(ra1, dec1, unit="deg").separation(SkyCoord(ra2, dec2, unit="deg")).arcsec


def test_client_imports_no_spark_torch_or_lake():
    code = ("import sys, alert_lake_client; heavy = [m for m in ('pyspark', 'torch', 'lake', "
            "'deltalake', 'pysail') if m in sys.modules]; print(heavy); sys.exit(bool(heavy))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_object_lightcurve_query_against_the_lake(published):
    import deltalake
    import pyarrow.compute as pc

    from alert_lake_client import Catalog
    from lake import storage

    config, manifest = published
    cat = Catalog(storage.publish_root(config))
    assert cat.version == manifest["version"] and "object_pixel" in cat.tables
    lake_objects = deltalake.DeltaTable(storage.table_uri(config, "object")).to_pyarrow_table()
    oid = max(lake_objects.to_pylist(), key=lambda r: (r["ndet"], r["oid"]))["oid"]
    row = cat.object(oid)
    expected = lake_objects.filter(pc.field("oid") == oid).to_pylist()[0]
    assert {k: row[k] for k in expected} == expected and row["healpix"] > 0
    assert cat.object("ZTF00nothere") is None
    lc = cat.lightcurve(oid)
    det = deltalake.DeltaTable(storage.table_uri(config, "detection")).to_pyarrow_dataset()
    non = deltalake.DeltaTable(storage.table_uri(config, "non_detection")).to_pyarrow_dataset()
    assert pc.sum(lc.column("detected")).as_py() == det.count_rows(filter=pc.field("oid") == oid)
    assert lc.num_rows == det.count_rows(filter=pc.field("oid") == oid) + \
        non.count_rows(filter=pc.field("oid") == oid)
    assert lc.column("mjd").to_pylist() == sorted(lc.column("mjd").to_pylist())
    counts = cat.query("SELECT count(*) AS n FROM object").column("n")[0].as_py()
    assert counts == lake_objects.num_rows
    top = cat.query("SELECT count(*) AS n FROM probability WHERE ranking = 1 AND "
                    "classifier_name = 'lc_classifier_top'").column("n")[0].as_py()
    assert top == lake_objects.num_rows
    with pytest.raises(KeyError, match="no forced_photometry table"):
        cat.forced_photometry(oid)
    # descriptions and units travel with the files
    field = cat.datasets["object"].schema.field("meanra")
    assert field.metadata[b"unit"] == b"deg" and b"right ascension" in field.metadata[b"description"]


def test_cone_search_matches_brute_force_and_reads_only_its_pixels(demo_lake, tmp_path,
                                                                   monkeypatch):
    """Small row groups so that pruning is visible: a cone reads a fraction of them and
    finds exactly the objects a brute-force separation finds."""
    import deltalake

    from alert_lake_client import Catalog
    from lake import storage
    from lake.publish import catalog, publish

    monkeypatch.setattr(catalog, "ROW_GROUP_ROWS", 16)
    config = {**demo_lake, "publish": {"root": str(tmp_path / "pub")}}
    publish(config, NIGHT, gate=False, report=False)
    cat = Catalog(str(tmp_path / "pub"))
    objects = deltalake.DeltaTable(storage.table_uri(config, "object")).to_pyarrow_table(
        columns=["oid", "meanra", "meandec"]).to_pylist()
    centre = objects[len(objects) // 2]
    for radius in (5.0, 1800.0, 7200.0):
        found = cat.cone(centre["meanra"], centre["meandec"], radius)
        expected = sorted(o["oid"] for o in objects if _distance_arcsec(
            centre["meanra"], centre["meandec"], o["meanra"], o["meandec"]) <= radius)
        assert sorted(found.column("oid").to_pylist()) == expected, radius
        for o, d in zip(found.column("oid").to_pylist(),
                        found.column("distance_arcsec").to_pylist()):
            ref = next(x for x in objects if x["oid"] == o)
            assert math.isclose(d, _distance_arcsec(centre["meanra"], centre["meandec"],
                                                    ref["meanra"], ref["meandec"]),
                                rel_tol=1e-6, abs_tol=1e-6)
        assert cat.last_scan["row_groups"] < cat.last_scan["row_groups_total"] / 2, cat.last_scan
    assert found.column("oid")[0].as_py() == centre["oid"]
    empty = cat.cone((centre["meanra"] + 180) % 360, -centre["meandec"], 1.0)
    assert empty.num_rows == 0 and "distance_arcsec" in empty.column_names


def test_client_over_s3(published, spark, s3_env):
    from alert_lake_client import Catalog
    from lake.config import load_config
    from lake.publish import publish

    config, local = published
    s3 = load_config(overrides={"lake": {"root": config["lake"]["root"]},
                                "publish": {"root": f"s3://{s3_env.bucket}/client"}})
    manifest = publish(s3, NIGHT, gate=False, report=False)
    cat = Catalog(f"s3://{s3_env.bucket}/client", endpoint=s3_env.endpoint)
    assert cat.version == manifest["version"] == local["version"]
    oid = cat.query("SELECT oid FROM object ORDER BY ndet DESC, oid LIMIT 1").column(0)[0].as_py()
    assert cat.object(oid)["oid"] == oid
    assert cat.lightcurve(oid).num_rows == Catalog(
        config["publish"]["root"]).lightcurve(oid).num_rows
    with pytest.raises(FileNotFoundError, match="no published catalog"):
        Catalog(f"s3://{s3_env.bucket}/nothing-here", endpoint=s3_env.endpoint)
