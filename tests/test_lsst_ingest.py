"""Rubin nights land in the lake (``survey: lsst``): real and official sample packets, both
framings, folders, globs, tar.gz, local and s3://; the lsst_* tables hold what a plain
fastavro read of the same packets says; bad packets are quarantined with the rest landing;
a re-measured source's latest processing wins, withdrawn sources stay flagged; reruns and
nights out of order give the same tables."""
from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path

import deltalake
import fastavro
import pandas as pd
import pyarrow as pa
import pytest

from lake.config import load_config
from lake.stages.ingest import ingest
from lake.surveys.lsst import framing
from lake.tables import ingest_tables
from simulator.rubin import packets
from tests import lakecheck

pytest_plugins = ["tests.s3server"]

REPO = Path(__file__).resolve().parents[1]
V10 = (10, 0)
COMPARED = tuple(n for n in ingest_tables("lsst") if n != "quarantine")


def config_of(root, **extra) -> dict:
    return load_config(overrides={"survey": "lsst", "lake": {"root": str(root)}, **extra})


def table(root, name):
    """A Delta table as pandas, 64-bit ids kept exact (nullable integers, not floats)."""
    arrow = deltalake.DeltaTable(str(Path(root) / name)).to_pyarrow_table()
    return arrow.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype(),
                                         pa.int32(): pd.Int32Dtype()}.get)


def source(diaSourceId, diaObjectId, mjd, processed, flux=2000.0, withdrawn=None, **extra):
    return packets.source(V10, diaSourceId=diaSourceId, diaObjectId=diaObjectId,
                          midpointMjdTai=mjd, timeProcessedMjdTai=processed,
                          timeWithdrawnMjdTai=withdrawn, band="g", ra=1.0, dec=-1.0,
                          psfFlux=flux, psfFluxErr=flux / 20, **extra)


def alert(trigger, history=(), forced=()):
    return packets.record(V10, diaSourceId=trigger["diaSourceId"], diaSource=trigger,
                          prvDiaSources=list(history) or None,
                          prvDiaForcedSources=list(forced) or None,
                          diaObject=packets.dia_object(V10, diaObjectId=trigger["diaObjectId"],
                                                       ra=1.0, dec=-1.0),
                          cutoutDifference=b"SIMPLE  = T")


@pytest.fixture(scope="module")
def night_folder(shared_data, tmp_path_factory):
    """A Rubin night as a folder: 20 real 9.0 alerts, the real 10.0 container, the 9.0-11.0
    official samples, the real alerts again as Kafka wire packets, and bad packets."""
    folder = tmp_path_factory.mktemp("rubin") / "night"
    folder.mkdir()
    lsst = shared_data / "lsst"
    for path in sorted((lsst / "alerts" / "v9.0_fink").glob("*.avro"))[:20]:
        (folder / path.name).write_bytes(path.read_bytes())
    real = lsst / "alerts" / "v10.0_2026-03" / "part-2-918301.avro"
    (folder / real.name).write_bytes(real.read_bytes())
    for version in ("9/0", "10/0", "11/0"):
        sample = lsst / "schema" / version / "sample_data" / "fakeAlert.avro"
        (folder / f"sample-{version.replace('/', '_')}.avro").write_bytes(sample.read_bytes())
    # the real 10.0 alerts re-encoded as the stream delivers them (schema id 1000)
    schema = packets.parsed(V10)
    for index, record in enumerate(fastavro.reader(io.BytesIO(real.read_bytes()))):
        # Fink re-serves an absent ssSource / orbit as a record of nulls; the stream has null
        official = {f["name"]: None if isinstance(record.get(f["name"]), dict) and not any(
                        v is not None for v in record[f["name"]].values()) else record.get(f["name"])
                    for f in packets.definition(V10)["fields"]}
        payload = io.BytesIO()
        fastavro.schemaless_writer(payload, schema, official)
        (folder / f"wire-{index}.bin").write_bytes(framing.frame(1000, payload.getvalue()))
    good = (folder / "wire-0.bin").read_bytes()
    (folder / "bad-truncated.bin").write_bytes(good[:len(good) // 2])
    (folder / "bad-magic.bin").write_bytes(b"\x07" + good[1:])
    (folder / "bad-id.bin").write_bytes(framing.frame(77, good[5:]))
    ztf = sorted((shared_data / "ztf" / "alerts" / "v3.3_20200101").glob("*.avro"))[0]
    (folder / "bad-ztf.avro").write_bytes(ztf.read_bytes())
    (folder / "bad-nosource.bin").write_bytes(packets.wire(packets.record(V10, diaSourceId=5), V10))
    return folder


def plain_counts(folder: Path) -> dict:
    """What a plain fastavro read of the good packets holds (independent of the lake)."""
    sources, forced, objects, alerts, ss = set(), set(), set(), set(), set()
    for path in sorted(folder.iterdir()):
        data = path.read_bytes()
        if path.name.startswith("bad-"):
            continue
        if data[:1] == b"\x00":
            records = [fastavro.schemaless_reader(io.BytesIO(data[5:]), packets.parsed(V10))]
        else:
            records = list(fastavro.reader(io.BytesIO(data)))
        for record in records:
            alerts.add(record["diaSource"]["diaSourceId"])
            for entry in [record["diaSource"]] + list(record.get("prvDiaSources") or ()):
                sources.add(entry["diaSourceId"])
            for entry in record.get("prvDiaForcedSources") or ():
                forced.add(entry["diaForcedSourceId"])
            if (record.get("ssSource") or {}).get("ssObjectId"):
                ss.add(record["diaSource"]["diaSourceId"])
            obj = (record.get("diaObject") or {}).get("diaObjectId")
            if obj:
                objects.add(obj)
    return {"alerts": len(alerts), "sources": len(sources), "forced": len(forced),
            "objects": len(objects), "ss": len(ss)}


@pytest.fixture(scope="module")
def clean(night_folder, tmp_path_factory, spark):
    root = tmp_path_factory.mktemp("clean") / "lake"
    result = ingest(config_of(root), str(night_folder))
    return root, result


def test_night_lands_as_plain_fastavro_reads_it(night_folder, clean):
    root, result = clean
    expected = plain_counts(night_folder)
    assert result.alerts == expected["alerts"] == 20 + 7 + 1
    assert result.quarantined == 5
    quarantine = table(root, "quarantine")
    assert dict(zip(quarantine["member"], quarantine["error_class"])) == {
        "bad-truncated.bin": "TruncatedAvro", "bad-magic.bin": "NotAvro",
        "bad-id.bin": "UnknownSchemaId", "bad-ztf.avro": "InvalidAlert",
        "bad-nosource.bin": "InvalidAlert"}
    for member, raw in zip(quarantine["member"], quarantine["raw"]):
        assert raw == (night_folder / member).read_bytes()
    detection = table(root, "lsst_detection")
    assert len(detection) == detection["diaSourceId"].nunique() == expected["sources"]
    assert len(table(root, "lsst_forced_photometry")) == expected["forced"] == 2321
    assert set(table(root, "lsst_dia_object")["diaObjectId"]) <= set(detection["diaObjectId"])
    assert len(table(root, "lsst_dia_object")) == expected["objects"]
    # nJy kept, AB magnitude added; bands are letters; nights are dayObs
    positive = detection[detection["psfFlux"] > 0]
    assert ((positive["mag"] - (-2.5 * positive["psfFlux"].map(__import__("math").log10)
                                + 31.4)).abs() < 1e-9).all()
    assert detection.loc[detection["psfFlux"] <= 0, "mag"].isna().all()
    assert set(detection["band"]) <= set("ugrizy")
    alerts = table(root, "alert")
    assert set(alerts["night"]) == {20250905, 20260305, 20250815}
    # single-packet files keep their bytes (the wire copies of the real 10.0 alerts lose to
    # the container's copies, which come first by source name: a multi-alert file has none)
    single = ~alerts["member"].str.startswith("part-")
    assert alerts.loc[single, "avro"].notna().all() and single.sum() == 21
    ss = table(root, "lsst_ss_detection")
    assert len(ss) == expected["ss"] >= 3 and ss["ssObjectId"].notna().all()
    assert len(table(root, "cutout")) == 20 + 7


def test_rerun_is_identical_and_lands_nothing(night_folder, clean, tmp_path):
    root, _ = clean
    again = ingest(config_of(root), str(night_folder))
    assert all(counts["inserted"] == 0 and counts["updated"] == 0
               for counts in again.tables.values())
    # the same packets through a glob, in a fresh lake, give the same tables
    other = tmp_path / "lake"
    ingest(config_of(other), str(night_folder / "*"))
    lakecheck.assert_same_tables(root, other, COMPARED)


def test_remeasured_source_wins_and_withdrawn_are_kept(tmp_path, spark):
    night1 = tmp_path / "n1"
    night2 = tmp_path / "n2"
    night1.mkdir()
    night2.mkdir()
    first = source(101, 7, 61100.1, 61100.11, flux=1000.0)
    (night1 / "a.bin").write_bytes(packets.wire(alert(first), V10))
    remeasured = source(101, 7, 61100.1, 61103.5, flux=1500.0)
    withdrawn = source(102, 7, 61101.1, 61101.11, withdrawn=61103.5)
    second = source(103, 7, 61103.2, 61103.21)
    forced = [packets.forced_source(V10, diaForcedSourceId=900 + i, diaObjectId=7,
                                    midpointMjdTai=61099.1 + i, band="r", psfFlux=10.0 * i,
                                    psfFluxErr=5.0, timeProcessedMjdTai=61103.0)
              for i in range(3)]
    (night2 / "b.bin").write_bytes(packets.wire(alert(second, [remeasured, withdrawn], forced), V10))
    lakes = []
    for order in ((night1, night2), (night2, night1)):
        root = tmp_path / f"lake{len(lakes)}"
        for night in order:
            ingest(config_of(root), str(night))
        lakes.append(root)
    lakecheck.assert_same_tables(lakes[0], lakes[1], COMPARED)
    detection = table(lakes[0], "lsst_detection").set_index("diaSourceId")
    assert detection.loc[101, "psfFlux"] == 1500.0            # the later processing
    assert detection.loc[101, "timeProcessedMjdTai"] == 61103.5
    assert bool(detection.loc[102, "withdrawn"]) and not bool(detection.loc[103, "withdrawn"])
    assert not bool(detection.loc[101, "withdrawn"])
    # dayObs: 2026-03-01 02:24, 03-02 02:24, 03-04 04:48 UTC are the nights of 02-28, 03-01, 03-03
    assert sorted(detection["night"]) == [20260228, 20260301, 20260303]
    forced_table = table(lakes[0], "lsst_forced_photometry")
    assert sorted(forced_table["diaForcedSourceId"]) == [900, 901, 902]
    dia_object = table(lakes[0], "lsst_dia_object")
    assert list(dia_object["alert_id"]) == [103]               # the latest alert's diaObject


def test_tarball_on_s3_and_the_command_line(night_folder, clean, s3_env, tmp_path):
    # no night in the name: each alert takes its own dayObs (a dated name is checked
    # against the alerts' times, and these span three nights)
    archive = tmp_path / "rubin_alerts.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(night_folder.iterdir()):
            tar.add(path, arcname=path.name)
    s3_env.client().put_object(Bucket=s3_env.bucket, Key="in/rubin_alerts.tar.gz",
                               Body=archive.read_bytes())
    root = tmp_path / "lake"
    done = subprocess.run(
        [sys.executable, "jobs/ingest.py", "--survey", "lsst", "--lake", str(root),
         "--source", f"s3://{s3_env.bucket}/in/rubin_alerts.tar.gz"],
        cwd=REPO, capture_output=True, text=True,
        env={**__import__("os").environ, "ALERT_LAKE__object_store__endpoint": s3_env.endpoint})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "28 alerts landed, 5 quarantined" in done.stdout
    clean_root, _ = clean
    for name in ("alert", "lsst_detection", "lsst_forced_photometry", "lsst_dia_object"):
        assert len(table(root, name)) == len(table(clean_root, name)), name
