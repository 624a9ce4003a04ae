"""The Rubin night simulator: schema-10.0 alerts in both framings with truth, their
distributions next to the real Rubin alerts of ../shared/data/lsst, and a simulated night
landing in the lake as its truth says."""
from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path

import deltalake
import fastavro
import numpy as np
import pyarrow.parquet as pq
import pytest
from astropy.io import fits

from lake.config import load_config
from lake.stages.ingest import ingest
from simulator.rubin import packets

REPO = Path(__file__).resolve().parents[1]
ALERTS = 150


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    out = tmp_path_factory.mktemp("rubin-sim")
    done = subprocess.run(
        [sys.executable, "jobs/simulate.py", "--survey", "lsst", "--start", "20260305",
         "--alerts-per-night", str(ALERTS), "--seed", "3", "--framing", "both",
         "--out", str(out)], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def members(path: Path) -> list[tuple[str, bytes]]:
    with tarfile.open(path) as archive:
        return [(m.name, archive.extractfile(m).read()) for m in archive if m.isfile()]


def container_records(path: Path) -> list[dict]:
    return [r for _, data in members(path) for r in fastavro.reader(io.BytesIO(data))]


def real_records(shared_data) -> list[dict]:
    return [r for p in sorted((shared_data / "lsst" / "alerts").glob("*/*.avro"))
            for r in fastavro.reader(open(p, "rb"))]


def test_both_framings_hold_the_same_alerts(night):
    containers = container_records(night / "lsst_20260305.tar.gz")
    wires = [fastavro.schemaless_reader(io.BytesIO(data[5:]), packets.parsed((10, 0)))
             for _, data in members(night / "lsst_wire_20260305.tar.gz")]
    assert len(containers) == len(wires) == ALERTS
    assert {data[:5] for _, data in members(night / "lsst_wire_20260305.tar.gz")} == {
        b"\x00\x00\x00\x03\xe8"}                       # magic byte 0, schema id 1000
    assert ([r["diaSourceId"] for r in containers] == [r["diaSourceId"] for r in wires])
    truth = pq.read_table(night / "lsst_truth.parquet").to_pandas()
    assert truth["n_alerts"].sum() == ALERTS
    assert {"SNIa", "RRL", "AGN", "asteroid", "bogus"} <= set(truth["class"])
    asteroids = [r for r in containers if r["ssSource"] is not None]
    assert len(asteroids) == (truth["class"] == "asteroid").sum() == round(ALERTS * 0.05)
    assert all(r["diaSource"]["diaObjectId"] == 0 and r["mpc_orbits"] for r in asteroids)


def test_distributions_are_close_to_the_real_alerts(night, shared_data):
    sim = container_records(night / "lsst_20260305.tar.gz")
    real = real_records(shared_data)

    def snr(records):
        return np.abs([r["diaSource"]["psfFlux"] / r["diaSource"]["psfFluxErr"] for r in records])

    def history_snr(records):
        return np.median(np.abs([s["psfFlux"] / s["psfFluxErr"] for r in records
                                 for s in r.get("prvDiaSources") or ()]))

    def band_error(records, band):
        return np.median([r["diaSource"]["psfFluxErr"] for r in records
                          if r["diaSource"]["band"] == band])

    ratios = {
        "trigger snr q10": np.percentile(snr(sim), 10) / np.percentile(snr(real), 10),
        "trigger snr median": np.median(snr(sim)) / np.median(snr(real)),
        "history snr median": history_snr(sim) / history_snr(real),
        "i psfFluxErr median": band_error(sim, "i") / band_error(real, "i"),
    }
    print("simulated / real:", {k: round(v, 2) for k, v in ratios.items()})
    assert 0.8 < ratios["trigger snr q10"] < 1.5       # the 5-sigma detection threshold
    assert 0.5 < ratios["trigger snr median"] < 3.0
    assert 0.5 < ratios["history snr median"] < 3.0
    assert 0.4 < ratios["i psfFluxErr median"] < 2.5   # nJy, the depth of a visit
    # forced photometry scatters around zero flux before and between detections
    forced = [s["psfFlux"] / s["psfFluxErr"] for r in sim for s in r["prvDiaForcedSources"] or ()]
    real_forced = [s["psfFlux"] / s["psfFluxErr"] for r in real
                   for s in r.get("prvDiaForcedSources") or ()]
    assert abs(np.median(forced)) < 6 and abs(np.median(real_forced)) < 6
    # histories reach back 12 months at most, as Rubin's
    spans = [r["diaSource"]["midpointMjdTai"] - s["midpointMjdTai"] for r in sim
             for s in r["prvDiaSources"] or ()]
    assert 300 < max(spans) <= 365
    assert max(len(r["prvDiaSources"] or ()) for r in sim) >= 50
    # bands are ugrizy; cutouts are plain FITS float32 images, as the real ones
    assert {s["band"] for r in sim for s in [r["diaSource"], *(r["prvDiaSources"] or ())]} == set(
        "ugrizy")
    for record in sim[:5] + real[:5]:
        for name in ("cutoutScience", "cutoutTemplate", "cutoutDifference"):
            assert record[name][:6] == b"SIMPLE"
            image = fits.getdata(io.BytesIO(record[name]))
            assert image.dtype.str == ">f4" and image.ndim == 2 and max(image.shape) <= 63


def test_simulated_night_lands_as_its_truth_says(night, tmp_path, spark):
    config = load_config(overrides={"survey": "lsst", "lake": {"root": str(tmp_path / "lake")}})
    first = ingest(config, str(night / "lsst_20260305.tar.gz"))
    second = ingest(config, str(night / "lsst_wire_20260305.tar.gz"))
    assert first.alerts == second.alerts == ALERTS and first.quarantined == 0
    # the wire copies are the same alerts: nothing new lands
    assert all(c["inserted"] == 0 for name, c in second.tables.items() if name != "quarantine")
    truth = pq.read_table(night / "lsst_truth.parquet").to_pandas()
    ss = deltalake.DeltaTable(str(tmp_path / "lake" / "lsst_ss_detection")).to_pandas()
    assert len(ss) == round(ALERTS * 0.05)
    truth_ss = pq.read_table(night / "lsst_truth.parquet").column("ssObjectId").to_pylist()
    assert set(ss["ssObjectId"]) == {v for v in truth_ss if v is not None}
    alerts = deltalake.DeltaTable(str(tmp_path / "lake" / "alert")).to_pandas()
    assert set(alerts["night"]) == {20260305}
    alerted = truth[truth["n_alerts"] > 0]
    assert alerts["objectId"].nunique() == len(alerted)   # solar-system ones as ss<id>
