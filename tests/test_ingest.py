"""Ingest of real ZTF alerts: every schema lands, counts match an independent fastavro
count, values survive, bad input is quarantined, and re-runs change nothing."""
from __future__ import annotations

import gzip
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import deltalake
import numpy as np
import pytest
from astropy.io import fits

from lake.stages.ingest import ingest
from lake.tables import INGEST_TABLES
from lake.sources import SourceError
from tests import lakecheck

REPO = Path(__file__).resolve().parents[1]
REAL_SETS = [
    "nights/ztf_public_20181129.tar.gz",
    "nights/ztf_public_20180819_mod1000.tar.gz",
    "alerts/v4.02_20231018",
    "alerts/v3.3_20200101",
    "alerts/mixed_schemas_snappy",
    "alerts/official_examples",
    "alerts/v1.8_20180601_some_corrupt",
]
pytestmark = pytest.mark.realdata


def rows(config, name):
    return deltalake.DeltaTable(os.path.join(config["lake"]["root"], name)).to_pandas()


@pytest.mark.parametrize("dataset", REAL_SETS)
def test_counts_match_fastavro(shared_data, spark, lake_config, dataset):
    path = str(shared_data / "ztf" / dataset)
    expected = lakecheck.fastavro_counts(path)
    result = ingest(lake_config, path)
    assert result.alerts == expected["unique_alerts"]
    assert result.quarantined == expected["corrupt"]
    assert len(rows(lake_config, "alert")) == expected["unique_alerts"]
    assert len(rows(lake_config, "cutout")) == expected["unique_alerts"]
    assert len(rows(lake_config, "detection")) == expected["detections"]
    if expected["non_detections"]:
        assert len(rows(lake_config, "non_detection")) == expected["non_detections"]
    assert len(rows(lake_config, "quarantine")) == expected["corrupt"]
    run = rows(lake_config, "run")
    assert list(run["status"]) == ["succeeded"]
    assert run["rows_out"].item() == expected["unique_alerts"]
    assert run["quarantined"].item() == expected["corrupt"]


def test_values_survive(shared_data, spark, lake_config):
    import fastavro

    path = shared_data / "ztf" / "nights" / "ztf_public_20181129.tar.gz"
    ingest(lake_config, str(path))
    name, data = lakecheck.alert_files(str(path))[7]
    record = next(fastavro.reader(io.BytesIO(data)))
    candidate = record["candidate"]
    alert = rows(lake_config, "alert").set_index("candid").loc[candidate["candid"]]
    assert alert["objectId"] == record["objectId"]
    assert alert["night"] == 20181129
    assert alert["member"] == name
    assert bytes(alert["avro"]) == data
    assert alert["magpsf"] == pytest.approx(candidate["magpsf"])

    detection = rows(lake_config, "detection").set_index("candid").loc[candidate["candid"]]
    assert detection["mjd"] == pytest.approx(candidate["jd"] - 2400000.5, abs=1e-9)
    assert detection["fid"] == candidate["fid"]
    assert detection["isdiffpos"] == (1 if candidate["isdiffpos"] in ("t", "1") else -1)
    assert detection["has_stamp"] and np.isnan(detection["parent_candid"]) or \
        detection["parent_candid"] is None
    assert detection["night"] == 20181129

    # History copies point at the alert that carried them.
    history = rows(lake_config, "detection").query("not has_stamp")
    assert len(history) and history["parent_candid"].notna().all()

    cutout = rows(lake_config, "cutout").set_index("candid").loc[candidate["candid"]]
    for column in ("cutoutScience", "cutoutTemplate", "cutoutDifference"):
        assert bytes(cutout[column]) == record[column]["stampData"]
        with fits.open(io.BytesIO(gzip.decompress(bytes(cutout[column])))) as hdus:
            assert hdus[0].data.shape == (63, 63)


def test_isdiffpos_negative_and_mixed_schemas(shared_data, spark, lake_config):
    ingest(lake_config, str(shared_data / "ztf" / "alerts"))
    detections = rows(lake_config, "detection")
    assert set(detections["isdiffpos"]) == {1, -1}
    assert set(detections["fid"]) <= {1, 2, 3}
    alert = rows(lake_config, "alert")
    # Schemas 1.8 (no schemavsn) to 4.02 land in one table.
    assert {"3.0", "3.3", "4.02"} <= set(alert["schemavsn"].dropna())
    assert alert["schemavsn"].isna().sum() == 10
    assert "drb" in alert.columns and alert["drb"].notna().any() and alert["drb"].isna().any()


def test_corrupt_files_are_quarantined_with_their_bytes(shared_data, spark, lake_config):
    folder = shared_data / "ztf" / "alerts" / "v1.8_20180601_some_corrupt"
    result = ingest(lake_config, str(folder))
    assert (result.alerts, result.quarantined) == (10, 5)
    quarantine = rows(lake_config, "quarantine")
    for _, row in quarantine.iterrows():
        assert bytes(row["raw"]) == (folder / row["member"]).read_bytes()
        assert row["error_class"] in {"CorruptAvro", "TruncatedAvro"}
        assert row["error_message"]


def run_job(*args, env=None, **kwargs):
    return subprocess.run([sys.executable, str(REPO / "jobs" / "ingest.py"), *args],
                          capture_output=True, text=True, env={**os.environ, **(env or {})},
                          **kwargs)


def test_cli_says_how_many_were_quarantined(shared_data, tmp_path):
    folder = shared_data / "ztf" / "alerts" / "v1.8_20180601_some_corrupt"
    done = run_job("--source", str(folder), "--lake", str(tmp_path / "lake"), "--night",
                   "20180601")
    assert done.returncode == 0, done.stderr
    assert "10 alerts landed, 5 quarantined" in done.stdout


@pytest.mark.parametrize("make_source, message", [
    (lambda tmp: tmp / "nothing-here.tar.gz", "source not found"),
    (lambda tmp: (tmp / "empty").mkdir() or tmp / "empty", "source is empty"),
])
def test_missing_or_empty_source_fails_with_one_line(tmp_path, make_source, message):
    done = run_job("--source", str(make_source(tmp_path)), "--lake", str(tmp_path / "lake"))
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert not (tmp_path / "lake" / "alert").exists()


def test_truncated_tarball_lands_what_is_readable(shared_data, spark, lake_config, tmp_path):
    whole = (shared_data / "ztf" / "nights" / "ztf_public_20181129.tar.gz").read_bytes()
    cut = tmp_path / "ztf_public_20181129.tar.gz"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    result = ingest(lake_config, str(cut))
    assert 0 < result.alerts < 499
    quarantine = rows(lake_config, "quarantine")
    assert list(quarantine["error_class"]) == ["TruncatedTarball"]
    assert "unreadable" in quarantine["error_message"].item()
    # Every alert that landed is one of the real night's alerts, whole.
    expected = {name for name, _ in lakecheck.alert_files(str(
        shared_data / "ztf" / "nights" / "ztf_public_20181129.tar.gz"))}
    assert set(rows(lake_config, "alert")["member"]) <= expected


def test_reingest_changes_nothing(shared_data, spark, lake_config, tmp_path):
    path = str(shared_data / "ztf" / "alerts" / "v4.02_20231018")
    ingest(lake_config, path)
    before = {n: lakecheck.table(lake_config["lake"]["root"], n, drop=()) for n in
              ("alert", "detection", "non_detection", "cutout")}
    again = ingest(lake_config, path)
    assert all(c["inserted"] == 0 and c["updated"] == 0 for c in again.tables.values())
    for name, frame in before.items():
        after = lakecheck.table(lake_config["lake"]["root"], name, drop=())
        assert len(after) == len(frame)
        assert after.drop(columns=["avro"], errors="ignore").equals(
            frame.drop(columns=["avro"], errors="ignore")), name


def _split_by_time(shared_data, tmp_path):
    """The 4.02 alerts split in two 'nights' by jd: later alerts carry the earlier ones'
    detections in their histories, so the order of landing matters unless handled."""
    import fastavro

    folder = shared_data / "ztf" / "alerts" / "v4.02_20231018"
    jds = {}
    for path in folder.iterdir():
        with open(path, "rb") as handle:
            jds[path] = next(fastavro.reader(handle))["candidate"]["jd"]
    median = float(np.median(list(jds.values())))
    early, late = tmp_path / "early", tmp_path / "late"
    early.mkdir(), late.mkdir()
    for path, jd in jds.items():
        shutil.copy(path, (early if jd <= median else late) / path.name)
    return early, late


def test_out_of_order_nights_give_the_same_tables(shared_data, spark, tmp_path):
    from lake.config import load_config

    early, late = _split_by_time(shared_data, tmp_path)
    in_order = load_config(overrides={"lake": {"root": str(tmp_path / "in_order")}})
    reverse = load_config(overrides={"lake": {"root": str(tmp_path / "reverse")}})
    # (each alert's night from its own jd: a night given that they were not observed
    # in would quarantine them, lake.bronze.decode.check_night)
    ingest(in_order, str(early))
    ingest(in_order, str(late))
    ingest(reverse, str(late))
    result = ingest(reverse, str(early))
    # Landing the earlier alerts second replaced history copies by the alerts' own rows.
    assert result.tables["detection"]["updated"] > 0
    lakecheck.assert_same_tables(tmp_path / "in_order", tmp_path / "reverse",
                                 [n for n in INGEST_TABLES if n != "quarantine"])


def test_schema_evolves_with_a_new_field(shared_data, spark, lake_config, tmp_path):
    import fastavro

    path = shared_data / "ztf" / "alerts" / "v3.3_20200101"
    ingest(lake_config, str(path))
    first_version = deltalake.DeltaTable(os.path.join(lake_config["lake"]["root"], "alert")).version()

    source = sorted(path.iterdir())[0]
    with open(source, "rb") as handle:
        reader = fastavro.reader(handle)
        schema, record = reader.writer_schema, next(reader)
    candidate_schema = next(f for f in schema["fields"] if f["name"] == "candidate")["type"]
    candidate_schema["fields"].append({"name": "newscore", "type": ["null", "float"],
                                       "default": None})
    record["candidate"]["newscore"] = 0.75
    # A candid no alert of the set has (the set's candids are consecutive: +1 would collide
    # with the next alert, and the copy already landed would rightly win).
    record["candidate"]["candid"] += 10**9
    record["candid"] = record["candidate"]["candid"]
    newer = tmp_path / "newer"
    newer.mkdir()
    with open(newer / "new.avro", "wb") as handle:
        fastavro.writer(handle, fastavro.parse_schema(schema), [record])
    ingest(lake_config, str(newer))

    table = deltalake.DeltaTable(os.path.join(lake_config["lake"]["root"], "alert"))
    alert = table.to_pandas()
    assert "newscore" in alert.columns
    assert alert["newscore"].notna().sum() == 1
    assert alert.loc[alert["newscore"].notna(), "newscore"].item() == pytest.approx(0.75)
    # History was not rewritten: no file was removed, the old version still reads.
    removed = [a for a in table.history() if a.get("operation") in ("DELETE", "UPDATE")]
    assert not removed
    old = deltalake.DeltaTable(os.path.join(lake_config["lake"]["root"], "alert"),
                               version=first_version).to_pandas()
    assert len(old) == 50 and "newscore" not in old.columns


@pytest.mark.slow
@pytest.mark.parametrize("kill_when", ["decoding", "committing"])
def test_killed_run_then_rerun_equals_a_clean_run(shared_data, tmp_path, kill_when):
    path = str(shared_data / "ztf" / "alerts")
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    assert run_job("--source", path, "--lake", str(clean)).returncode == 0
    process = subprocess.Popen([sys.executable, str(REPO / "jobs" / "ingest.py"),
                                "--source", path, "--lake", str(killed)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker = killed / ("_staging" if kill_when == "decoding" else "detection" + "/_delta_log")
    deadline = time.time() + 120
    while not marker.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    import psutil

    workers = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signal.SIGKILL)
    process.wait()
    # The killed job's worker processes notice and exit by themselves.
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert not alive, f"worker processes left behind: {[p.pid for p in alive]}"
    assert run_job("--source", path, "--lake", str(killed)).returncode == 0
    lakecheck.assert_same_tables(clean, killed, INGEST_TABLES)
    assert not list((killed / "_staging").glob("*")), "staging of the killed run was cleared"


def test_source_errors_are_raised_in_the_api(lake_config, tmp_path):
    with pytest.raises(SourceError):
        ingest(lake_config, str(tmp_path / "missing"))
