"""Cross-match with HATS catalogs (lake.xmatch) against brute force and the simulator's
truth, at HEALPix pixel borders and corners, across ra = 0/360 and near the poles."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lake.config import load_config
from lake.xmatch import CatalogMissing, catalog_specs, match_objects
from simulator.catalogs import offset_position, write_catalogs, write_hats

RADIUS = 2.0


def brute_force(objects: pd.DataFrame, sources: pd.DataFrame, radius: float) -> dict:
    """{oid: (source id, distance)} of the nearest source within radius (astropy)."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    a = SkyCoord(objects["ra"].to_numpy() * u.deg, objects["dec"].to_numpy() * u.deg)
    b = SkyCoord(sources["ra"].to_numpy() * u.deg, sources["dec"].to_numpy() * u.deg)
    ia, ib, sep, _ = b.search_around_sky(a, radius * u.arcsec)
    best = {}
    for i, j, d in zip(ia, ib, sep.to_value(u.arcsec)):
        oid, sid = objects["oid"].iloc[i], str(sources["id"].iloc[j])
        if oid not in best or (d, sid) < best[oid]:
            best[oid] = (d, sid)
    return {oid: (sid, d) for oid, (d, sid) in best.items()}


def config_for(catalogs: dict) -> dict:
    return load_config(overrides={"xmatch": {"catalogs": catalogs}})


def engine_matches(spark, config, objects: pd.DataFrame) -> pd.DataFrame:
    frame = match_objects(spark, config, spark.createDataFrame(objects[["oid", "ra", "dec"]]))
    return frame.toPandas() if frame is not None else pd.DataFrame(columns=["oid"])


def assert_same_as_brute_force(matches, objects, sources, radius):
    want = brute_force(objects, sources, radius)
    got = {r.oid: (r.catalog_id, r.distance) for r in matches.itertuples()}
    assert set(got) == set(want), (sorted(set(want) - set(got))[:5], sorted(set(got) - set(want))[:5])
    for oid, (sid, d) in want.items():
        assert got[oid][0] == sid, oid
        assert got[oid][1] == pytest.approx(d, abs=1e-6)
    return want


def border_objects(order: int) -> pd.DataFrame:
    """Objects on the corners and edge midpoints of HEALPix pixels at ``order`` (all over
    the sky, including base-pixel corners where a pixel has 7 neighbours), on ra = 0 and
    within 0.01 deg of both poles."""
    import cdshealpix.nested as nested

    rng = np.random.default_rng(5)
    pix = np.concatenate([rng.integers(0, 12 * 4 ** order, 60),
                          np.array([0, 4 ** order - 1, 4 * 4 ** order, 11 * 4 ** order])])
    lon, lat = nested.vertices(pix.astype(np.uint64), order)
    ra, dec = lon.to_value("deg").ravel(), lat.to_value("deg").ravel()
    mid_lon, mid_lat = nested.vertices(pix.astype(np.uint64), order, step=2)
    ra = np.concatenate([ra, mid_lon.to_value("deg").ravel(), np.zeros(6), np.full(6, 359.9999999),
                         rng.uniform(0, 360, 20), rng.uniform(0, 360, 20), [0.0, 0.0]])
    dec = np.concatenate([dec, mid_lat.to_value("deg").ravel(), rng.uniform(-60, 80, 12),
                          rng.uniform(89.99, 90.0, 20), rng.uniform(-90.0, -89.99, 20),
                          [90.0, -90.0]])
    return pd.DataFrame({"oid": [f"obj{i:05d}" for i in range(len(ra))], "ra": ra % 360.0,
                         "dec": dec})


def sources_around(objects: pd.DataFrame, per_object: int, rng) -> pd.DataFrame:
    n = len(objects) * per_object
    dist = rng.uniform(0.0, 2.6 * RADIUS, n)
    ra, dec = offset_position(np.repeat(objects["ra"].to_numpy(), per_object),
                              np.repeat(objects["dec"].to_numpy(), per_object), dist,
                              rng.uniform(0, 2 * np.pi, n))
    return pd.DataFrame({"id": np.arange(n, dtype=np.int64) + 10 ** 12, "ra": ra, "dec": dec,
                         "mag": rng.uniform(10, 20, n)})


def test_pixel_borders_corners_and_poles(spark, tmp_path):
    spec = catalog_specs(config_for({"c": {"path": str(tmp_path / "c"), "id_column": "id",
                                            "radius_arcsec": RADIUS}}))[0]
    objects = border_objects(spec.join_order)
    sources = sources_around(objects, 4, np.random.default_rng(9))
    write_hats(sources, tmp_path / "c", "c", max_rows=40)   # many partitions, several orders
    config = config_for({"c": {"path": str(tmp_path / "c"), "id_column": "id",
                               "columns": ["mag"], "radius_arcsec": RADIUS}})
    matches = engine_matches(spark, config, objects)
    want = assert_same_as_brute_force(matches, objects, sources, RADIUS)
    assert len(want) > 0.8 * len(objects)
    # The neighbour pixels were needed: many nearest sources lie in another join pixel.
    from hats.pixel_math.healpix_shim import radec2pix
    merged = matches.merge(objects, on="oid")
    own = radec2pix(spec.join_order, merged["ra"].to_numpy(), merged["dec"].to_numpy())
    theirs = radec2pix(spec.join_order, merged["catalog_ra"].to_numpy(),
                       merged["catalog_dec"].to_numpy())
    assert (own != theirs).sum() > 0.2 * len(merged)
    polar = objects[np.abs(objects["dec"]) > 89.98]["oid"]
    assert matches["oid"].isin(polar).sum() >= 0.8 * len(polar)
    assert set(matches["mag"].round(9)) <= set(sources["mag"].round(9))


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    from simulator import simulate_season

    out = tmp_path_factory.mktemp("season")
    simulate_season("20231101", nights=1, alerts_per_night=400, seed=21, out=out, processes=1,
                    export_lightcurves=False)
    truth = pd.read_parquet(out / "truth.parquet")
    catalogs = write_catalogs(truth, out / "catalogs", seed=3, max_rows=200)
    return truth, catalogs


def test_matches_simulator_truth(spark, simulated):
    truth, catalogs = simulated
    config = config_for({
        "allwise": {"path": str(catalogs["allwise"]), "id_column": "AllWISE",
                    "columns": ["W1mag", "W2mag", "W3mag"], "radius_arcsec": RADIUS},
        "gaia_dr3": {"path": str(catalogs["gaia_dr3"]), "id_column": "source_id",
                     "columns": ["parallax"], "radius_arcsec": 1.0}})
    objects = truth.rename(columns={"objectId": "oid"})[["oid", "ra", "dec", "class"]]
    matches = engine_matches(spark, config, objects)
    allwise = pd.read_parquet(catalogs["allwise"] / "dataset", partitioning=None).rename(columns={"AllWISE": "id"})
    got = matches[matches["catalog"] == "allwise"]
    assert_same_as_brute_force(got, objects, allwise, RADIUS)
    # Truth: each star and AGN matches its own AllWISE source, each transient whose host
    # lies well inside the radius its host; bogus and asteroids only field sources.
    owner = dict(zip(allwise["id"], allwise["sim_objectId"]))
    got = got.assign(owner=got["catalog_id"].map(owner)).merge(objects, on="oid")
    stars = got[got["class"].isin(["RRL", "E", "LPV", "CEP", "DSCT", "AGN", "QSO", "Blazar"])]
    assert len(stars) > 30 and (stars["owner"] == stars["oid"]).mean() > 0.97
    n_truth = objects["class"].isin(["RRL", "E", "LPV", "CEP", "DSCT", "AGN", "QSO", "Blazar"]).sum()
    assert len(stars) >= 0.97 * n_truth
    assert got[got["class"].isin(["bogus", "asteroid"])]["owner"].isna().all()
    hosts = got[got["class"].str.startswith("SN")].merge(
        truth[["objectId", "host_offset_arcsec"]], left_on="oid", right_on="objectId")
    near = hosts[hosts["host_offset_arcsec"] < RADIUS - 0.6]
    assert len(near) and (near["owner"] == near["oid"]).mean() > 0.9
    # WISE colours by class: AGN in the Stern et al. wedge, stars near 0.
    colour = got["W1mag"] - got["W2mag"]
    assert colour[got["class"].isin(["AGN", "QSO"])].median() > 0.8
    assert abs(colour[got["class"].isin(["RRL", "E"])].median()) < 0.15
    gaia = matches[matches["catalog"] == "gaia_dr3"]
    assert set(gaia["oid"]) <= set(objects[~objects["class"].str.startswith("SN")]["oid"])
    assert gaia["W1mag"].isna().all() and got["parallax"].isna().all()


def test_configuration_errors_are_one_line(spark, tmp_path):
    config = config_for({"x": {"path": str(tmp_path / "absent"), "id_column": "id",
                               "radius_arcsec": 1.0}})
    with pytest.raises(CatalogMissing, match="no folder"):
        match_objects(spark, config, spark.createDataFrame(
            pd.DataFrame({"oid": ["a"], "ra": [1.0], "dec": [2.0]})))
    with pytest.raises(ValueError, match="radius_arcsec"):
        catalog_specs(config_for({"x": {"path": "p", "id_column": "id"}}))
    (tmp_path / "empty").mkdir()
    with pytest.raises(CatalogMissing, match="not a HATS catalog"):
        catalog_specs(config_for({"x": {"path": str(tmp_path / "empty"), "id_column": "id",
                                        "radius_arcsec": 1.0}}))[0].open()
    with pytest.raises(FileExistsError):
        write_hats(pd.DataFrame({"ra": [1.0], "dec": [1.0]}), tmp_path, "x")
