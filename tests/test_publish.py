"""Publication: layout, manifest, idempotence, snapshots, retention, and a real S3
server (SeaweedFS): read back with DuckDB and pyarrow, wrong credentials, a server
killed in the middle of a publication."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

pytest_plugins = ["tests.demolake", "tests.s3server"]

NIGHT = 20181129
pytestmark = pytest.mark.realdata


def _sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): _sha(p) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def published(demo_lake, spark, tmp_path_factory):
    """The demo lake published once to a local folder."""
    from lake.publish import publish

    config = {**demo_lake, "publish": {"root": str(tmp_path_factory.mktemp("pub") / "publish")}}
    return config, publish(config, NIGHT, spark=spark)


def test_local_publication_layout_manifest_and_reads(published):
    import deltalake
    import duckdb
    import pyarrow.parquet as pq

    from lake import storage
    from lake.publish import dataset, duckdb_catalog, latest

    config, manifest = published
    root = Path(storage.publish_root(config))
    pointer = latest(config)
    assert pointer["version"] == manifest["version"] and pointer["night"] == NIGHT
    assert json.loads((root / "nights" / f"{NIGHT}.json").read_text())["version"] == \
        manifest["version"]
    folder = root / "catalog" / manifest["version"]
    # every table whose lake source exists, and no other
    optional = {name: name for name in ("forced_photometry", "xmatch", "anomaly", "candidate")}
    present = {name for name, source in optional.items()
               if deltalake.DeltaTable.is_deltatable(storage.table_uri(config, source))}
    assert set(manifest["tables"]) == {"object", "object_pixel", "magstat", "feature",
                                       "probability", "lightcurve"} | present
    for table in manifest["tables"].values():
        assert sum(f["rows"] for f in table["files"]) == table["rows"]
        for f in table["files"]:   # data files: under the root, named by their content
            assert f["path"].startswith("data/") and f["sha256"][:32] in f["path"]
            assert _sha(root / f["path"]) == f["sha256"], f["path"]
            assert pq.read_metadata(root / f["path"]).num_rows == f["rows"]
    # row counts and source versions match the lake
    for name in ("object", "magstat", "feature", "probability"):
        source = deltalake.DeltaTable(storage.table_uri(config, name))
        assert manifest["tables"][name]["rows"] == source.to_pyarrow_dataset().count_rows()
        assert manifest["source"]["delta_versions"][name] == source.version()
    detections = deltalake.DeltaTable(storage.table_uri(config, "detection")).to_pyarrow_dataset()
    non = deltalake.DeltaTable(storage.table_uri(config, "non_detection")).to_pyarrow_dataset()
    assert manifest["tables"]["lightcurve"]["rows"] == detections.count_rows() + non.count_rows()
    assert manifest["validation"]["success"] and manifest["code_version"]
    # objects sorted by their HEALPix index (order 29, nested: astropy-healpix agrees)
    import astropy.units as u
    from astropy_healpix import lonlat_to_healpix

    objects = pq.read_table(root / manifest["tables"]["object"]["files"][0]["path"])
    keys = list(zip(objects.column("healpix").to_pylist(), objects.column("oid").to_pylist()))
    assert keys == sorted(keys)
    expected = lonlat_to_healpix(objects.column("meanra").to_numpy() * u.deg,
                                 objects.column("meandec").to_numpy() * u.deg, 2 ** 29,
                                 order="nested")
    assert objects.column("healpix").to_pylist() == [int(p) for p in expected]
    pixels = pq.read_table(root / manifest["tables"]["object_pixel"]["files"][0]["path"])
    assert set(pixels.column("pixel").to_pylist()) == {p >> 46 for p, _ in keys}
    assert sum(pixels.column("objects").to_pylist()) == objects.num_rows
    # the documented reads: DuckDB over the manifest, DuckDB over the folder, pyarrow
    con = duckdb_catalog(config)
    oid = con.execute("SELECT oid FROM object ORDER BY ndet DESC, oid LIMIT 1").fetchone()[0]
    lc = con.execute(f"SELECT detected, count(*) FROM lightcurve WHERE oid_prefix = left('{oid}', 7)"
                 f" AND oid = '{oid}' GROUP BY ALL ORDER BY 1").fetchall()
    ndet = con.execute(f"SELECT ndet FROM object WHERE oid = '{oid}'").fetchone()[0]
    assert dict(lc)[True] == ndet
    direct = duckdb.execute(
        f"SELECT count(*) FROM read_parquet('{root}/data/lightcurve/*/*.parquet', "
        f"hive_partitioning = true) WHERE oid = '{oid}'").fetchone()[0]
    assert direct == sum(n for _, n in lc)
    top = con.execute("SELECT class_name, count(*) FROM probability WHERE ranking = 1 AND "
                  "classifier_name = 'lc_classifier_top' GROUP BY 1").fetchall()
    assert sum(n for _, n in top) == manifest["tables"]["object"]["rows"]
    table = dataset(config, "lightcurve").to_table(filter=(
        __import__("pyarrow.dataset").dataset.field("oid") == oid))
    assert table.num_rows == direct and "oid_prefix" in table.column_names
    # the nightly report and the quality page are published with the night
    report = (folder / "report.html").read_text()
    assert report.count("data:image/png;base64,") >= 4 and "Data quality" in report
    assert "PASSED" in (folder / "quality.html").read_text()


def test_republishing_is_idempotent(published, spark):
    from lake import storage
    from lake.publish import list_versions, publish

    config, manifest = published
    root = Path(storage.publish_root(config))
    before = _tree(root)
    again = publish(config, NIGHT, spark=spark)
    assert again == manifest
    assert _tree(root) == before
    assert [v["version"] for v in list_versions(config)] == [manifest["version"]]


def test_publication_retention(demo_lake, spark, tmp_path, monkeypatch):
    from lake.publish import apply_retention, latest, list_versions, publish, publisher

    config = {**demo_lake, "publish": {"root": str(tmp_path / "publish")}}
    made = []
    for code in ("1", "2", "3"):   # a new code version gives a new catalog version
        monkeypatch.setattr(publisher, "code_version", lambda code=code: f"0.1.0+test{code}")
        made.append(publish(config, NIGHT, spark=spark, gate=False, report=False)["version"])
    assert len(set(made)) == 3
    (tmp_path / "publish" / "catalog" / "19990101-incomplete" / "object").mkdir(parents=True)
    deleted = apply_retention(config, keep=2)
    assert set(deleted) == {made[0], "19990101-incomplete"}
    assert {v["version"] for v in list_versions(config)} == set(made[1:])
    assert latest(config)["version"] == made[2]


def test_snapshot_is_deterministic_and_retained(demo_lake, tmp_path):
    import deltalake

    from lake import storage
    from lake.publish import export_snapshot, list_snapshots, snapshot_retention

    version = deltalake.DeltaTable(storage.table_uri(demo_lake, "object")).version()
    one = {**demo_lake, "publish": {"root": str(tmp_path / "one")}}
    two = {**demo_lake, "publish": {"root": str(tmp_path / "two")}}
    first = export_snapshot(one, as_of=str(version))
    second = export_snapshot(two, as_of=version)
    name, day = first["name"], first["date"]
    assert name.startswith(day + "-")
    assert first == second and first["source"]["delta_versions"]["object"] == version
    files = _tree(tmp_path / "one" / "snapshots" / name)
    assert files == _tree(tmp_path / "two" / "snapshots" / name)
    assert "manifest.json" in files and any(k.startswith("data/lightcurve/night=") for k in files)
    export_snapshot(one, as_of=version)          # again into the same folder: unchanged
    assert _tree(tmp_path / "one" / "snapshots" / name) == files
    # a timestamp before the lake existed has no catalog
    with pytest.raises(ValueError):
        export_snapshot(one, as_of="2001-01-01")
    assert list_snapshots(one) == [name]
    import datetime as dt

    later = dt.date.fromisoformat(day) + dt.timedelta(days=40)
    assert snapshot_retention(one, keep_days=30, today=later) == [name]
    assert list_snapshots(one) == []


def _replace_probability(config, seed: int) -> None:
    """Give a lake a probability table of its own (a new Delta table id, version 0)."""
    import shutil

    import deltalake
    import numpy as np
    import pyarrow.compute as pc

    from lake import storage

    uri = storage.table_uri(config, "probability")
    table = deltalake.DeltaTable(uri).to_pyarrow_table()
    noise = np.random.default_rng(seed).uniform(0, 1e-3, table.num_rows)
    table = table.set_column(table.schema.get_field_index("probability"), "probability",
                             pc.add(table.column("probability"), noise))
    shutil.rmtree(uri)
    deltalake.write_deltalake(uri, table)


def test_two_lakes_never_share_a_version_and_latest_never_moves_back(demo_lake, spark, tmp_path):
    """Issue 22: two lakes published into one root got the same version name (the digest
    was of Delta version numbers only); republishing an older night moved latest.json
    back and wrote a second copy of the same catalog."""
    from lake import storage
    from lake.publish import latest, list_versions, publish

    import shutil

    root = str(tmp_path / "shared-root")
    lake_a, lake_b = ({**demo_lake, "lake": {**demo_lake["lake"], "root": str(tmp_path / name)}}
                      for name in ("a", "b"))
    for config in (lake_a, lake_b):
        shutil.copytree(demo_lake["lake"]["root"], config["lake"]["root"])
    _replace_probability(lake_a, 1)
    _replace_probability(lake_b, 2)     # same Delta version numbers, other content
    a = publish({**lake_a, "publish": {"root": root}}, NIGHT, spark=spark, gate=False,
                report=False)
    b = publish({**lake_b, "publish": {"root": root}}, NIGHT, spark=spark, gate=False,
                report=False)
    assert a["source"]["delta_versions"] == b["source"]["delta_versions"]
    assert a["version"] != b["version"]
    config_b = {**lake_b, "publish": {"root": root}}
    assert latest(config_b)["version"] == b["version"]
    # an older night republished from the same state: a pointer, no copy, latest stays
    older = publish(config_b, NIGHT - 1, spark=spark, gate=False, report=False)
    assert older["version"] == b["version"]
    assert latest(config_b)["night"] == NIGHT
    assert len(list_versions(config_b)) == 2
    assert (Path(storage.publish_root(config_b)) / "nights" / f"{NIGHT - 1}.json").exists()


def test_snapshot_as_of_a_version_is_a_whole_nightly_run(tmp_path):
    """Issue 22: --as-of 0 exported no features or classes and --as-of 1 mixed nights:
    an object version now names the whole nightly run that wrote it."""
    import datetime as dt
    import time

    import deltalake
    import pyarrow as pa

    from lake import storage
    from lake.config import load_config
    from lake.publish.snapshot import nightly_runs, resolve
    from lake.runlog import RUN_SCHEMA

    config = load_config(overrides={"lake": {"root": str(tmp_path / "lake")}})
    runs = []

    def commit(name, night):
        uri = storage.table_uri(config, name)
        deltalake.write_deltalake(uri, pa.table({"oid": [f"o{night}"], "night": [night]}),
                                  mode="append")
        time.sleep(0.01)
        return deltalake.DeltaTable(uri).version()

    def run(stage, night, tables):
        time.sleep(0.01)
        runs.append({"run_id": f"{stage}-{night}", "stage": stage, "night": night,
                     "status": "succeeded", "finished_at": dt.datetime.now(dt.timezone.utc),
                     "tables": __import__("json").dumps(tables)})
        time.sleep(0.01)

    for night in (20240101, 20240102):
        run("ingest", night, {"detection": {"version": commit("detection", night)}})
        process = {name: {"version": commit(name, night)} for name in ("object", "feature")}
        run("process", night, process)
        run("classify", night, {"probability": {"version": commit("probability", night)}})
    commit("object", 20240103)          # a write outside any recorded nightly run
    rows = pa.Table.from_pylist([{**r, "started_at": r["finished_at"]} for r in runs],
                                schema=RUN_SCHEMA)
    deltalake.write_deltalake(storage.table_uri(config, "run"), rows)

    assert [r["night"] for r in nightly_runs(config)] == [20240101, 20240102]
    first, _ = resolve(config, 0)
    assert first == {"object": 0, "feature": 0, "probability": 0, "detection": 0}
    second, _ = resolve(config, 1)
    assert second == {"object": 1, "feature": 1, "probability": 1, "detection": 1}
    with pytest.raises(ValueError, match="no completed nightly run wrote version 2"):
        resolve(config, 2)
    with pytest.raises(ValueError, match="object table has no version 7"):
        resolve(config, 7)


def _add_night(config, night: int, rows: int = 50) -> None:
    """Append a night of detections to a lake (some objects' next observations)."""
    import deltalake
    import pyarrow as pa

    from lake import storage

    uri = storage.table_uri(config, "detection")
    det = deltalake.DeltaTable(uri).to_pyarrow_table().slice(0, rows)
    det = det.set_column(det.schema.get_field_index("night"), "night",
                         pa.array([night] * det.num_rows, pa.int32()))
    det = det.set_column(det.schema.get_field_index("candid"), "candid",
                         pa.array(range(10 ** 17, 10 ** 17 + det.num_rows), pa.int64()))
    deltalake.write_deltalake(uri, det, mode="append", partition_by=["night"])


def test_next_night_writes_only_what_changed(lake_copy):
    """Issue 22: every publication copied the whole catalog. The next night writes its
    own light-curve partition and no file an earlier version holds; the new version
    still reads as the whole catalog."""
    import deltalake

    from lake import storage
    from lake.publish import dataset, list_versions, publish

    first = publish(lake_copy, NIGHT, gate=False, report=False)
    assert first["written"]["files"] == sum(len(t["files"]) for t in first["tables"].values())
    _add_night(lake_copy, NIGHT + 1)
    second = publish(lake_copy, NIGHT + 1, gate=False, report=False)
    assert second["version"] != first["version"]
    # the light curve: one new partition, written as one file; the other nights reused
    lc_old, lc_new = first["tables"]["lightcurve"], second["tables"]["lightcurve"]
    new_files = [f for f in lc_new["files"] if f not in lc_old["files"]]
    assert [f["partition"] for f in new_files] == [{"night": str(NIGHT + 1)}]
    assert second["written"]["tables"] == {"lightcurve": new_files[0]["bytes"]}
    assert second["written"]["files"] == 1
    assert second["written"]["reused_files"] == sum(
        len(t["files"]) for t in second["tables"].values()) - 1
    for name in ("object", "magstat", "feature", "probability"):   # unchanged: same files
        assert second["tables"][name]["files"] == first["tables"][name]["files"]
    # the new version reads as the whole catalog, the old one as before
    det = deltalake.DeltaTable(storage.table_uri(lake_copy, "detection")).to_pyarrow_dataset()
    non = deltalake.DeltaTable(storage.table_uri(lake_copy, "non_detection")).to_pyarrow_dataset()
    assert dataset(lake_copy, "lightcurve").count_rows() == det.count_rows() + non.count_rows()
    assert dataset(lake_copy, "lightcurve", version=first["version"]).count_rows() == \
        lc_old["rows"]
    assert lc_new["rows"] == lc_old["rows"] + 50
    # a detection changed in an old night: only that night is exported again
    from lake.publish.catalog import CATALOG, night_digests, source_versions

    spec = next(t for t in CATALOG if t.name == "lightcurve")
    digests = night_digests(lake_copy, spec, source_versions(lake_copy),
                            second["code_version"])
    assert digests == lc_new["night_digests"]
    assert len(list_versions(lake_copy)) == 2


def test_retention_deletes_the_files_no_version_uses(lake_copy):
    from lake import storage
    from lake.publish import apply_retention, publish

    root = Path(storage.publish_root(lake_copy))
    first = publish(lake_copy, NIGHT, gate=False, report=False)
    _add_night(lake_copy, NIGHT + 1)
    second = publish(lake_copy, NIGHT + 1, gate=False, report=False)
    orphan = root / "data" / "lightcurve" / "night=1" / "0123.parquet"   # an interrupted run's
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"x")
    assert apply_retention(lake_copy, keep=1) == [first["version"]]
    from lake.publish.catalog import referenced_files

    on_disk = {str(p.relative_to(root)) for p in (root / "data").rglob("*.parquet")}
    assert on_disk == referenced_files(second)


def test_killed_publishers_temporary_files_are_removed(lake_copy):
    """Issue 23: a publisher killed between writing a temporary file and renaming it
    left ``.<name>.tmp-<pid>`` behind for ever. The next publication removes those of
    dead processes and leaves a live writer's alone."""
    import os
    import subprocess
    import sys

    from lake import storage
    from lake.publish import publish

    root = Path(storage.publish_root(lake_copy))
    first = publish(lake_copy, NIGHT, gate=False, report=False)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    data_file = root / first["tables"]["object"]["files"][0]["path"]
    stale = data_file.with_name(f".{data_file.name}.tmp-{dead}")
    stale_report = root / "catalog" / first["version"] / f".report.html.tmp-{dead}"
    live = data_file.with_name(f".{data_file.name}.tmp-{os.getpid()}")
    for path in (stale, stale_report, live):
        path.write_bytes(b"half a file")
    again = publish(lake_copy, NIGHT, gate=False, report=False)
    assert again["version"] == first["version"]
    assert not stale.exists() and not stale_report.exists()
    assert live.exists()      # this process is alive: maybe still writing
    live.unlink()


def test_publications_of_one_state_are_byte_identical(lake_copy, tmp_path):
    """Same lake state -> same data files (names and bytes) in two publication roots."""
    from lake.publish import publish

    one = publish({**lake_copy, "publish": {"root": str(tmp_path / "one")}}, NIGHT,
                  gate=False, report=False)
    two = publish({**lake_copy, "publish": {"root": str(tmp_path / "two")}}, NIGHT,
                  gate=False, report=False)
    assert one["tables"] == two["tables"] and one["version"] == two["version"]
    assert _tree(tmp_path / "one" / "data") == _tree(tmp_path / "two" / "data")


# --- S3 (SeaweedFS) -----------------------------------------------------------------

def _s3_config(demo_lake, server, prefix):
    from lake.config import load_config

    return load_config(overrides={"lake": {"root": demo_lake["lake"]["root"]},
                                  "publish": {"root": f"s3://{server.bucket}/{prefix}"}})


def test_publish_to_s3_and_read_back(demo_lake, spark, s3_env):
    import pyarrow.dataset as pads
    import pyarrow.parquet as pq

    from lake import storage
    from lake.publish import dataset, duckdb_catalog, latest, publish

    config = _s3_config(demo_lake, s3_env, "catalog-a")
    manifest = publish(config, NIGHT, spark=spark, report=False)
    assert latest(config)["version"] == manifest["version"]
    keys = s3_env.keys("catalog-a/")
    assert "catalog-a/latest.json" in keys
    assert f"catalog-a/catalog/{manifest['version']}/manifest.json" in keys
    listed = [f"catalog-a/{f['path']}" for t in manifest["tables"].values() for f in t["files"]]
    assert set(listed) <= set(keys)
    # checksums of what the server holds
    client = s3_env.client()
    for key, f in zip(listed, [f for t in manifest["tables"].values() for f in t["files"]]):
        body = client.get_object(Bucket=s3_env.bucket, Key=key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == f["sha256"]
    # pyarrow straight from S3
    filesystem, base = storage.arrow_filesystem(
        config, f"s3://{s3_env.bucket}/catalog-a/data/object")
    objects = pq.read_table(base, filesystem=filesystem)
    assert objects.num_rows == manifest["tables"]["object"]["rows"]
    lc = dataset(config, "lightcurve")
    oid = objects.column("oid")[0].as_py()
    assert lc.to_table(filter=pads.field("oid") == oid).num_rows > 0
    # DuckDB over the same datasets
    con = duckdb_catalog(config)
    assert con.execute("SELECT count(*) FROM magstat").fetchone()[0] == \
        manifest["tables"]["magstat"]["rows"]
    assert con.execute(f"SELECT count(*) FROM lightcurve WHERE oid = '{oid}'").fetchone()[0] > 0


def test_wrong_credentials_publish_nothing(demo_lake, spark, s3_env, monkeypatch):
    from lake.publish import PublishError, publish

    import boto3

    config = _s3_config(demo_lake, s3_env, "catalog-b")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    boto3.setup_default_session()   # boto3 resolves credentials once per session
    try:
        with pytest.raises(PublishError, match="rejected the credentials"):
            publish(config, NIGHT, spark=spark, report=False)
    finally:
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_env.secret_key)
        boto3.setup_default_session()
    assert s3_env.keys("catalog-b/") == []


@pytest.mark.slow
def test_server_killed_mid_publication_then_rerun(demo_lake, spark, s3_env, monkeypatch):
    from lake.publish import PublishError, latest, publish, publisher, reader

    config = _s3_config(demo_lake, s3_env, "catalog-c")
    first = publish(config, NIGHT, spark=spark, report=False)
    from lake.publish import catalog

    monkeypatch.setattr(publisher, "code_version", lambda: "0.1.0+next")
    monkeypatch.setattr(catalog, "ROW_GROUP_ROWS", 1000)   # new code, new files
    written = []

    def crash_after_two(uri):
        written.append(uri)
        if len(written) == 2:
            s3_env.kill()

    try:
        with pytest.raises(PublishError, match="did not complete"):
            publish(config, NIGHT, spark=spark, report=False, on_file=crash_after_two)
    finally:
        s3_env.kill()
        s3_env.start()
    pointer = latest(config)
    assert pointer["version"] == first["version"]               # readers see the old version
    data, _ = reader.manifest(config)
    assert data["version"] == first["version"]
    from lake.publish.catalog import referenced_files

    keys = s3_env.keys("catalog-c/")
    old = {f"catalog-c/{p}" for p in referenced_files(first)} | {
        "catalog-c/latest.json", f"catalog-c/nights/{NIGHT}.json",
        f"catalog-c/catalog/{first['version']}/manifest.json"} | {
        f"catalog-c/catalog/{first['version']}/{name}" for name in first["documents"]}
    partial = [k for k in keys if k not in old]     # the interrupted run's new data files
    assert partial and all(k.startswith("catalog-c/data/") for k in partial)
    second = publish(config, NIGHT, spark=spark, report=False)   # the re-run completes it
    assert second["version"] != first["version"]
    assert latest(config)["version"] == second["version"]
    client = s3_env.client()
    for table in second["tables"].values():
        for f in table["files"]:
            body = client.get_object(Bucket=s3_env.bucket,
                                     Key=f"catalog-c/{f['path']}")
            assert hashlib.sha256(body["Body"].read()).hexdigest() == f["sha256"]
