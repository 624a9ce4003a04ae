"""Rubin packets -> staging tables (no engine): every real and official sample packet of
../shared/data/lsst, every schema version from 7.4 to 11.x, both framings, and the bad
packets the quarantine must take (one row each, with reason and raw bytes)."""
from __future__ import annotations

import glob
import io
import os

import fastavro
import pytest

from lake import surveys
from lake.bronze.decode import decode_items
from lake.sources import SourceItem
from lake.surveys.lsst import framing, schemas
from lake.surveys.lsst.night import day_obs
from simulator.rubin import packets

LSST = surveys.get("lsst")
SAMPLE_VERSIONS = ("7/4", "9/0", "10/0", "11/0")


def item(name: str, data: bytes) -> SourceItem:
    return SourceItem(name, os.path.basename(name), None, data)


def files(folder) -> list[SourceItem]:
    return [item(p, open(p, "rb").read()) for p in sorted(glob.glob(str(folder)))]


def decode(items, survey=LSST):
    return decode_items(items, "run-test", True, survey)


def alert(version, diaSourceId=11, diaObjectId=21, mjd=61105.09, **top):
    """An alert of the official schema ``version`` with one diaSource and its diaObject."""
    key = "alertId" if version < (9, 0) else "diaSourceId"
    return packets.record(
        version, **{key: diaSourceId},
        diaSource=packets.source(version, diaSourceId=diaSourceId, diaObjectId=diaObjectId,
                                 midpointMjdTai=mjd, band="r", ra=10.0, dec=-30.0,
                                 psfFlux=3631.0, psfFluxErr=36.31, visit=1, detector=1),
        diaObject=packets.dia_object(version, diaObjectId=diaObjectId, ra=10.0, dec=-30.0),
        **top)


def test_official_schemas_come_from_the_package_with_rubin_ids():
    ids = schemas.registry()
    assert {704, 900, 1000, 1100} <= set(ids)
    assert all(version >= (7, 4) for version, _ in ids.values())
    # one field list per record kind over every version: 7.4's covariances and 10.0's
    # fields are both in it, each once
    names = [name for name, _ in schemas.canonical("diaSource")]
    assert len(names) == len(set(names))
    assert {"psfRa", "timeProcessedMjdTai", "diaSourceId", "band"} <= set(names)


def test_every_real_and_sample_packet(shared_data):
    lsst = shared_data / "lsst"
    fink = files(lsst / "alerts" / "v9.0_fink" / "*.avro")
    real = files(lsst / "alerts" / "v10.0_2026-03" / "*.avro")
    samples = [item(str(lsst / "schema" / v / "sample_data" / "fakeAlert.avro"),
                    (lsst / "schema" / v / "sample_data" / "fakeAlert.avro").read_bytes())
               for v in SAMPLE_VERSIONS]
    tables = decode(fink + real + samples)
    truth = {}
    for one in fink + real + samples:
        truth[one.source] = list(fastavro.reader(io.BytesIO(one.data)))
    alerts = tables["alert"].to_pylist()
    quarantined = tables["quarantine"].to_pylist()
    # the 7.4 sample's midpointMjdTai (1480360995) is no MJD: quarantined with that reason
    assert [(q["member"], q["error_class"]) for q in quarantined] == [
        ("fakeAlert.avro", "InvalidAlert")]
    assert "1480360995" in quarantined[0]["error_message"]
    assert quarantined[0]["raw"] == samples[0].data
    landed = [a for a in alerts]
    assert len(landed) == sum(len(r) for r in truth.values()) - 1 == 100 + 7 + 3
    assert sorted(a["schemavsn"] for a in landed) == ["10.0"] * 8 + ["11.0"] + ["9.0"] * 101
    assert {a["band"] for a in landed} <= set("ugrizy")
    # every diaSource and history entry is staged; fluxes as published (nJy)
    expected_sources = sum(1 + len(r.get("prvDiaSources") or ()) for rs in truth.values()
                           for r in rs if r["diaSource"]["midpointMjdTai"] < 2e5)
    assert tables["dia_source"].num_rows == expected_sources
    expected_forced = sum(len(r.get("prvDiaForcedSources") or ()) for rs in truth.values()
                          for r in rs)
    assert tables["dia_forced_source"].num_rows == expected_forced == 2321 + 0
    first = truth[real[0].source][0]
    row = next(a for a in landed if a["candid"] == first["diaSourceId"])
    assert row["psfFlux"] == pytest.approx(first["diaSource"]["psfFlux"])
    assert row["night"] == 20260305 == day_obs(first["diaSource"]["midpointMjdTai"])
    assert row["observation_reason"] == "ddf_edfs_b"
    # real solar-system alerts: diaObjectId 0 as published, resolved to null; ssObjectId set
    ss = [a for a in landed if a["ssObjectId"] is not None]
    assert ss and all(a["diaObjectId"] is None for a in ss)
    assert {a["candid"] for a in ss} <= set(tables["ss_source"].column("alert_id").to_pylist())
    # cutouts: the real alerts carry three FITS stamps, the samples none
    cutouts = tables["cutout"].to_pylist()
    assert len(cutouts) == 107
    assert all(c[name][:2] in (b"\x1f\x8b", b"SI") for c in cutouts for name in LSST.cutouts)


def test_every_schema_version_stages_into_one_table_schema(shared_data):
    staged = {}
    for version in sorted(schemas.official()):
        staged[version] = decode([item(f"v{version}.avro", packets.container(
            [alert(version)], version, "deflate"))])
        assert staged[version]["quarantine"].num_rows == 0, version
    for name in ("dia_source", "dia_object"):
        shapes = {v: staged[v][name].schema for v in staged}
        assert len(set(shapes.values())) == 1, name
    # 7.4's ids (alertId at the top) land under the same names
    assert staged[(7, 4)]["alert"].column("candid").to_pylist() == [11]
    assert staged[(11, 0)]["alert"].column("diaObjectId").to_pylist() == [21]


def test_wire_framing_maps_schema_ids_and_quarantines_bad_packets(shared_data):
    version = (10, 0)
    good = packets.wire(alert(version, diaSourceId=1), version)
    ztf = next(iter(glob.glob(str(shared_data / "ztf" / "alerts" / "v3.3_20200101" / "*.avro"))))
    without_source = packets.wire(packets.record(version, diaSourceId=3), version)
    bad = {
        "truncated.bin": good[:-7],
        "magic.bin": b"\x01" + good[1:],
        "unknown-id.bin": framing.frame(4242, good[5:]),
        "ztf.avro": open(ztf, "rb").read(),
        "no-diasource.bin": without_source,
        "empty.bin": b"",
    }
    tables = decode([item("good.bin", good)] + [item(k, v) for k, v in bad.items()])
    assert tables["alert"].column("candid").to_pylist() == [1]
    reasons = {q["member"]: q["error_class"] for q in tables["quarantine"].to_pylist()}
    assert reasons == {"truncated.bin": "TruncatedAvro", "magic.bin": "NotAvro",
                       "unknown-id.bin": "UnknownSchemaId",
                       "ztf.avro": "InvalidAlert", "no-diasource.bin": "InvalidAlert",
                       "empty.bin": "NotAvro"}
    raws = {q["member"]: q["raw"] for q in tables["quarantine"].to_pylist()}
    assert raws == bad
    # and the reverse: a Rubin packet given to the ZTF survey is quarantined
    ztf_tables = decode([item("good.avro", packets.container([alert(version)], version))],
                        surveys.get("ztf"))
    assert ztf_tables["quarantine"].column("error_class").to_pylist() == ["InvalidAlert"]
    assert "alert" not in ztf_tables or ztf_tables["alert"].num_rows == 0


def test_wire_packet_over_the_decode_cap_is_quarantined():
    version = (10, 0)
    data = packets.wire(alert(version), version)
    capped = SourceItem("big.bin", "big.bin", None, data, max_decoded_bytes=100)
    tables = decode([capped])
    assert tables["quarantine"].column("error_class").to_pylist() == ["OversizedAlert"]


def test_day_obs_is_the_local_evening_date():
    # a night in Chile spans ~23:00 to ~10:00 UTC: one dayObs, the date of its evening
    evening, morning = 61104.98, 61105.40       # 2026-03-05 23:31 and 2026-03-06 09:36 UTC
    assert day_obs(evening) == day_obs(morning) == 20260305
    assert day_obs(61105.51) == 20260306
