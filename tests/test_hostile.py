"""Hostile and broken input: every case lands the good alerts exactly as a clean run of
them would, and turns the bad piece into one quarantine row with its reason and the
bytes that were safe to keep; bad command lines stop with one line and exit 2; locks
are only ever released or broken by their owner, renewed while held, and the leftovers
of dead runs are cleared (and their runs marked abandoned) by the next run."""
from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
import tarfile
import time
import tracemalloc
import zlib
from pathlib import Path

import deltalake
import pytest

from lake import sources
from lake.config import load_config
from lake.engine import locks
from lake.stages.ingest import _staging_key, ingest
from lake.tables import INGEST_TABLES
from tests import lakecheck

pytest_plugins = ["tests.s3server"]

REPO = Path(__file__).resolve().parents[1]
NIGHT = 20181129
GOOD = 5
# Every table but the quarantine must equal the clean run's (the run table differs by run).
COMPARED = tuple(name for name in INGEST_TABLES if name != "quarantine")


@pytest.fixture(scope="module")
def alerts(shared_data):
    """(name, bytes) of a few real alerts of one night."""
    return lakecheck.alert_files(str(shared_data / "ztf" / "nights"
                                     / "ztf_public_20181129.tar.gz"))[:GOOD + 1]


def member(name: str, data: bytes) -> bytes:
    """A regular tar member (header and padded data), as it sits in a tar stream."""
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info.tobuf(tarfile.GNU_FORMAT) + data + bytes(-len(data) % tarfile.BLOCKSIZE)


def raw_deflate(data: bytes, final: bool = False) -> bytes:
    """A self-contained deflate segment: segments made apart can be spliced into one
    stream, since a full flush leaves nothing for the next segment to refer back to."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(zlib.Z_FINISH if final
                                                        else zlib.Z_FULL_FLUSH)


GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03"


def write_tarball(path: Path, entries: list) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for info, data in entries:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def regular(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def config_of(root: Path, **ingest_conf) -> dict:
    return load_config(overrides={"lake": {"root": str(root)}, "ingest": ingest_conf})


def rows(config: dict, name: str):
    return deltalake.DeltaTable(os.path.join(config["lake"]["root"], name)).to_pandas()


@pytest.fixture(scope="module")
def clean_lake(alerts, spark, tmp_path_factory):
    """The lake of a clean run of the good alerts."""
    folder = tmp_path_factory.mktemp("clean")
    source = write_tarball(folder / "ztf_public_20181129.tar.gz",
                           [regular(name, data) for name, data in alerts[:GOOD]])
    config = config_of(folder / "lake")
    ingest(config, str(source))
    return folder / "lake"


def assert_rest_unchanged(clean_lake: Path, config: dict) -> None:
    """Every table but the quarantine holds the clean run's rows (order-independent,
    compared without where the rows came from, which differs by test)."""
    for name in COMPARED:
        exists = [(Path(r) / name / "_delta_log").is_dir()
                  for r in (clean_lake, config["lake"]["root"])]
        assert exists[0] == exists[1], name
        if exists[0]:
            drop = ("ingest_run_id", "source")
            a = lakecheck.table(clean_lake, name, drop=drop)
            b = lakecheck.table(config["lake"]["root"], name, drop=drop)
            assert list(a.columns) == list(b.columns), name
            assert a.equals(b) or a.to_dict("records") == b.to_dict("records"), name


def only_quarantine_row(config: dict) -> dict:
    quarantine = rows(config, "quarantine")
    assert len(quarantine) == 1, quarantine[["member", "error_class", "error_message"]]
    row = quarantine.iloc[0].to_dict()
    assert row["size_bytes"] == len(row["raw"])
    return row


# --- tarballs ---------------------------------------------------------------------------

def write_gzip_bomb(path: Path, before: list[bytes], bomb_mib: int, after: list[bytes]) -> int:
    """A tarball whose member ``bomb.avro`` is ``bomb_mib`` MiB of zeros, compressed ~1000x,
    between real members. Written as spliced deflate segments, so it takes no time."""
    zeros = bytes(1 << 20)
    segment = raw_deflate(zeros)
    info = tarfile.TarInfo("bomb.avro")
    info.size = bomb_mib << 20
    head = b"".join(before) + info.tobuf(tarfile.GNU_FORMAT)
    tail = b"".join(after) + bytes(2 * tarfile.BLOCKSIZE)
    crc = zlib.crc32(head)
    for _ in range(bomb_mib):
        crc = zlib.crc32(zeros, crc)
    crc = zlib.crc32(tail, crc)
    total = len(head) + info.size + len(tail)
    with open(path, "wb") as out:
        out.write(GZIP_HEADER + raw_deflate(head))
        for _ in range(bomb_mib):
            out.write(segment)
        out.write(raw_deflate(tail, final=True))
        out.write(crc.to_bytes(4, "little") + (total & 0xFFFFFFFF).to_bytes(4, "little"))
    return info.size


def test_gzip_bomb_member_is_quarantined_in_bounded_memory(alerts, clean_lake, tmp_path):
    source = tmp_path / "ztf_public_20181129.tar.gz"
    bomb_bytes = write_gzip_bomb(source, [member(n, d) for n, d in alerts[:3]], 1024,
                                 [member(n, d) for n, d in alerts[3:GOOD]])
    assert source.stat().st_size < bomb_bytes / 500          # it is a bomb
    config = config_of(tmp_path / "lake")
    tracemalloc.start()
    try:
        result = ingest(config, str(source))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < bomb_bytes / 8, f"peak Python memory {peak} while reading the bomb"
    assert (result.alerts, result.quarantined) == (GOOD, 1)
    row = only_quarantine_row(config)
    assert (row["member"], row["error_class"]) == ("bomb.avro", "OversizedMember")
    assert f"member of {bomb_bytes} bytes" in row["error_message"]
    assert row["raw"] == bytes(sources.DEFAULT_QUARANTINE_HEAD_BYTES)  # its first bytes
    assert_rest_unchanged(clean_lake, config)


def test_oversized_member_is_quarantined_with_its_first_bytes(alerts, clean_lake, tmp_path):
    big = random.Random(23).randbytes(300_000)
    source = write_tarball(tmp_path / "ztf_public_20181129.tar.gz",
                           [regular(n, d) for n, d in alerts[:2]] + [regular("big.avro", big)]
                           + [regular(n, d) for n, d in alerts[2:GOOD]])
    config = config_of(tmp_path / "lake", max_member_bytes=200_000, quarantine_head_bytes=4096)
    result = ingest(config, str(source))
    assert (result.alerts, result.quarantined) == (GOOD, 1)
    row = only_quarantine_row(config)
    assert (row["member"], row["error_class"]) == ("big.avro", "OversizedMember")
    assert "300000 bytes" in row["error_message"]
    assert "max_member_bytes=200000" in row["error_message"]
    assert row["raw"] == big[:4096]
    assert_rest_unchanged(clean_lake, config)


def test_truncated_member_is_quarantined_with_its_partial_bytes(alerts, clean_lake, tmp_path):
    cut_name, cut_data = alerts[GOOD]
    whole = b"".join(member(n, d) for n, d in alerts[:GOOD])
    kept = len(cut_data) // 2
    stream = whole + member(cut_name, cut_data)[:tarfile.BLOCKSIZE + kept]
    source = tmp_path / "ztf_public_20181129.tar.gz"
    source.write_bytes(GZIP_HEADER + raw_deflate(stream))    # no end marker: cut off
    config = config_of(tmp_path / "lake")
    result = ingest(config, str(source))
    assert (result.alerts, result.quarantined) == (GOOD, 1)
    row = only_quarantine_row(config)
    assert (row["member"], row["error_class"]) == (cut_name, "TruncatedTarball")
    assert f"after {kept} of its {len(cut_data)} bytes" in row["error_message"]
    assert row["raw"] == cut_data[:kept]
    assert_rest_unchanged(clean_lake, config)


def avro_deflate_bomb(alert: bytes, mib: int) -> bytes:
    """The alert's own Avro header (codec deflate) and one block that inflates to ``mib``
    MiB of zeros."""
    import fastavro

    from lake.sources.avro import _read_header

    reader = fastavro.reader(io.BytesIO(alert))
    rewritten = io.BytesIO()
    fastavro.writer(rewritten, reader.writer_schema, list(reader), codec="deflate")
    rewritten = rewritten.getvalue()
    _, sync, header_end = _read_header(rewritten)
    payload = raw_deflate(bytes(1 << 20)) * mib + raw_deflate(b"", final=True)

    def varint(value: int) -> bytes:
        value, out = value << 1, bytearray()
        while True:
            byte, value = value & 0x7F, value >> 7
            out.append(byte | (0x80 if value else 0))
            if not value:
                return bytes(out)

    return rewritten[:header_end] + varint(1) + varint(len(payload)) + payload + sync


def test_avro_deflate_bomb_is_quarantined_in_bounded_memory(alerts, clean_lake, tmp_path):
    bomb = avro_deflate_bomb(alerts[0][1], 256)
    source = write_tarball(tmp_path / "ztf_public_20181129.tar.gz",
                           [regular(n, d) for n, d in alerts[:GOOD]] + [regular("bomb.avro", bomb)])
    cap = 8 << 20
    config = config_of(tmp_path / "lake", max_alert_bytes=cap)
    tracemalloc.start()
    try:
        result = ingest(config, str(source))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # inflating stops at the cap (the output buffer may be twice what it holds)
    assert peak < 4 * cap < (256 << 20), f"peak Python memory {peak} while inflating the bomb"
    assert (result.alerts, result.quarantined) == (GOOD, 1)
    row = only_quarantine_row(config)
    assert (row["member"], row["error_class"]) == ("bomb.avro", "OversizedAlert")
    assert "max_alert_bytes" in row["error_message"]
    assert row["raw"] == bomb
    assert_rest_unchanged(clean_lake, config)


def link_or_special(kind: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(f"{kind}.avro")
    info.type = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
                 "fifo": tarfile.FIFOTYPE, "chardev": tarfile.CHRTYPE}[kind]
    if kind.endswith("link"):
        info.linkname = "../../../etc/passwd"
    return info


@pytest.mark.parametrize("kind, error_class, reason", [
    ("symlink", "TarLink", "symbolic link to '../../../etc/passwd'"),
    ("hardlink", "TarLink", "hard link to '../../../etc/passwd'"),
    ("fifo", "TarSpecialMember", "a FIFO"),
    ("chardev", "TarSpecialMember", "a character device"),
])
def test_link_and_special_members_are_quarantined(alerts, clean_lake, tmp_path, kind,
                                                  error_class, reason):
    source = write_tarball(tmp_path / "ztf_public_20181129.tar.gz",
                           [regular(n, d) for n, d in alerts[:2]] + [(link_or_special(kind), None)]
                           + [regular(n, d) for n, d in alerts[2:GOOD]])
    config = config_of(tmp_path / "lake")
    result = ingest(config, str(source))
    assert (result.alerts, result.quarantined) == (GOOD, 1)
    row = only_quarantine_row(config)
    assert (row["member"], row["error_class"]) == (f"{kind}.avro", error_class)
    assert reason in row["error_message"]
    assert row["raw"] == b""                                  # nothing is followed
    assert_rest_unchanged(clean_lake, config)


def test_directory_members_are_skipped(alerts):
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w:gz") as archive:
        folder = tarfile.TarInfo("night")
        folder.type = tarfile.DIRTYPE
        archive.addfile(folder)
        info, data = regular("night/" + alerts[0][0], alerts[0][1])
        archive.addfile(info, io.BytesIO(data))
    stream.seek(0)
    items = list(sources._tar_members("x.tar.gz", stream, NIGHT, sources.Limits()))
    assert [(i.member, i.data, i.error) for i in items] == [(alerts[0][0], alerts[0][1], None)]


# --- folders ----------------------------------------------------------------------------

def test_folder_symlink_out_of_the_folder_is_not_followed(alerts, clean_lake, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.avro"
    secret.write_bytes(b"root-only secret")
    folder = tmp_path / "night"
    folder.mkdir()
    for name, data in alerts[:GOOD]:
        (folder / name).write_bytes(data)
    (folder / "secret.avro").symlink_to(secret)
    (folder / "inside.avro").symlink_to(folder / alerts[0][0])    # inside: read (same alert)
    config = config_of(tmp_path / "lake")
    result = ingest(config, str(folder), night=NIGHT)
    assert (result.alerts, result.quarantined) == (GOOD, 1)
    row = only_quarantine_row(config)
    assert (row["member"], row["error_class"]) == ("secret.avro", "LinkOutsideSource")
    assert row["raw"] == b"" and row["size_bytes"] == 0
    assert_rest_unchanged(clean_lake, config)


# --- identity conflicts -----------------------------------------------------------------

def forged(data: bytes, **changes) -> bytes:
    """The alert ``data`` re-encoded with top-level fields changed (e.g. another objectId)."""
    import fastavro

    reader = fastavro.reader(io.BytesIO(data))
    records = [{**record, **changes} for record in reader]
    out = io.BytesIO()
    fastavro.writer(out, reader.writer_schema, records)
    return out.getvalue()


def copy_of(clean_lake: Path, tmp_path: Path) -> dict:
    import shutil

    shutil.copytree(clean_lake, tmp_path / "lake")
    return config_of(tmp_path / "lake")


def test_candid_landed_under_another_object_is_quarantined(alerts, clean_lake, tmp_path):
    name, data = alerts[0]
    fake = forged(data, objectId="ZTF99zzzzzz")
    config = copy_of(clean_lake, tmp_path)
    source = write_tarball(tmp_path / "ztf_public_20181129.tar.gz", [regular(name, fake)])
    result = ingest(config, str(source))
    assert (result.alerts, result.quarantined) == (0, 1)
    row = only_quarantine_row(config)
    assert row["error_class"] == "IdentityConflict"
    assert "already landed under object" in row["error_message"]
    assert "ZTF99zzzzzz" in row["error_message"]
    assert row["raw"] == fake
    assert_rest_unchanged(clean_lake, config)


def test_two_copies_of_a_candid_in_one_night_land_the_first(alerts, clean_lake, tmp_path):
    """In one staging, the copy first by the alert table's priority (source, member) lands."""
    name, data = alerts[0]
    fake = forged(data, objectId="ZTF99zzzzzz")
    source = write_tarball(tmp_path / "ztf_public_20181129.tar.gz",
                           [regular(n, d) for n, d in alerts[:GOOD]]
                           + [regular("zz_" + name, fake)])
    config = config_of(tmp_path / "lake")
    result = ingest(config, str(source))
    assert (result.alerts, result.quarantined) == (GOOD, 1)
    row = only_quarantine_row(config)
    assert (row["member"], row["error_class"]) == ("zz_" + name, "IdentityConflict")
    assert f"also staged from {source}:{name}" in row["error_message"]
    assert row["raw"] == fake
    assert_rest_unchanged(clean_lake, config)


@pytest.mark.parametrize("night, margin, error_class, message", [
    # observed outside the night given: the time check quarantines them
    (20181201, 0.25, "NightMismatch", "outside night 20181201"),
    # a tolerance wide enough to pass the next night: the lake still holds each alert
    # under one night, so the copies are identity conflicts
    (20181130, 2.0, "IdentityConflict", "already landed under night 20181129"),
])
def test_landed_alerts_given_another_night_are_quarantined(alerts, clean_lake, tmp_path,
                                                           night, margin, error_class,
                                                           message):
    """Re-ingesting landed alerts under another --night neither duplicates nor moves them."""
    import shutil

    shutil.copytree(clean_lake, tmp_path / "lake")
    config = load_config(overrides={"lake": {"root": str(tmp_path / "lake")},
                                    "quality": {"night_margin_days": margin}})
    source = write_tarball(tmp_path / "alerts.tar.gz",
                           [regular(n, d) for n, d in alerts[:GOOD]])
    result = ingest(config, str(source), night=night)
    assert (result.alerts, result.quarantined) == (0, GOOD)
    quarantine = rows(config, "quarantine")
    assert set(quarantine["error_class"]) == {error_class}
    assert quarantine["error_message"].str.contains(message).all()
    assert sorted(quarantine["raw"]) == sorted(d for _, d in alerts[:GOOD])
    assert_rest_unchanged(clean_lake, config)


# --- secrets and configuration ------------------------------------------------------------

@pytest.fixture
def aws_profile_home(s3_server, tmp_path, monkeypatch):
    """A home folder whose ~/.aws/credentials holds the S3 server's real keys, and an
    environment without AWS variables."""
    aws = tmp_path / "home" / ".aws"
    aws.mkdir(parents=True)
    (aws / "credentials").write_text(f"[default]\naws_access_key_id = {s3_server.access_key}\n"
                                     f"aws_secret_access_key = {s3_server.secret_key}\n")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    return s3_server


@pytest.mark.parametrize("reader", ["boto3", "pyarrow"])
def test_credentials_come_only_from_the_environment(aws_profile_home, reader):
    """~/.aws holds valid keys, the environment none: the lake's requests go unsigned and
    the server refuses them; ``credentials: profile`` opts in to the SDK's chain."""
    from lake import storage

    server = aws_profile_home
    uri = f"s3://{server.bucket}/secret-probe"

    def list_with(credentials: str):
        config = load_config(overrides={"object_store": {"endpoint": server.endpoint,
                                                         "credentials": credentials}})
        if reader == "boto3":
            return storage.s3_client(config).list_objects_v2(Bucket=server.bucket)
        filesystem, path = storage.arrow_filesystem(config, uri)
        return filesystem.get_file_info(path)

    with pytest.raises(Exception) as refused:
        list_with("environment")
    assert "AccessDenied" in str(refused.value) or "403" in str(refused.value) \
        or "ACCESS_DENIED" in str(refused.value).upper(), refused.value
    list_with("profile")        # the same keys through the opt-in: accepted


def test_unknown_credential_source_is_refused():
    with pytest.raises(ValueError, match="object_store.credentials must be one of"):
        load_config(overrides={"object_store": {"credentials": "ask-the-shell"}})


def test_environment_name_must_be_a_file_of_conf(tmp_path):
    planted = tmp_path / "planted.yaml"
    planted.write_text("lake: {root: /tmp/elsewhere}\n")
    relative = os.path.relpath(planted.with_suffix(""), REPO / "conf")
    for name in (relative, "../..", str(planted.with_suffix("")), "nope"):
        with pytest.raises(ValueError, match="ALERT_LAKE_ENV must name a file of conf/"):
            load_config(environ={"ALERT_LAKE_ENV": name})
    assert load_config(environ={"ALERT_LAKE_ENV": "test"}).env == "test"


# --- locks ------------------------------------------------------------------------------

@pytest.fixture
def s3_config(s3_env, tmp_path):
    prefix = f"s3://{s3_env.bucket}/{tmp_path.name}/lake"
    return load_config(overrides={"lake": {"root": prefix},
                                  "object_store": {"endpoint": s3_env.endpoint}})


def lock_object(s3_config: dict, name: str) -> tuple[str, str]:
    from lake import storage

    return storage.split_s3(storage.join(storage.lake_root(s3_config), "_locks", name))


def test_s3_lock_owned_by_another_writer_is_not_deleted(s3_config):
    from lake import storage

    client = storage.s3_client(s3_config)
    bucket, key = lock_object(s3_config, "alert.lock")
    stalled = locks.S3Lease(client, bucket, key, lease_seconds=1.0)   # never renews
    assert stalled.try_acquire()
    time.sleep(1.5)                                   # its lease runs out
    taker = locks.S3Lease(client, bucket, key, lease_seconds=60.0)
    assert not taker.try_acquire()                    # breaks the expired lease...
    assert taker.try_acquire()                        # ...then takes the lock
    assert not stalled.renew() and stalled.lost       # the stalled writer knows it lost it
    stalled.release()                                 # and must not delete the taker's lock
    held, _ = locks.read_s3_lock(client, bucket, key)
    assert held["owner"] == taker.record["owner"]
    assert not locks.delete_s3_lock(client, bucket, key, stalled.etag)
    assert locks.read_s3_lock(client, bucket, key)[0]["owner"] == taker.record["owner"]
    taker.release()
    assert locks.read_s3_lock(client, bucket, key) == (None, None)


def test_s3_lease_is_renewed_past_its_original_expiry(s3_config):
    from lake import storage

    client = storage.s3_client(s3_config)
    bucket, key = lock_object(s3_config, "detection.lock")
    uri = f"s3://{bucket}/{key}"
    with locks.s3_lock(s3_config, uri, timeout=5, lease_seconds=2.0) as lease:
        first, _ = locks.read_s3_lock(client, bucket, key)
        for field in ("owner", "host", "pid", "started", "heartbeat", "expires"):
            assert field in first
        while time.time() < first["expires"] + 1.0:  # well past the first lease
            time.sleep(0.2)
        now, _ = locks.read_s3_lock(client, bucket, key)
        assert now["owner"] == first["owner"] and now["expires"] > first["expires"]
        assert not locks.S3Lease(client, bucket, key, 60.0).try_acquire()   # still held
        assert not lease.lost
    assert locks.read_s3_lock(client, bucket, key) == (None, None)


def test_s3_staging_of_a_dead_run_is_cleared(s3_env, s3_config):
    from lake import storage

    client = storage.s3_client(s3_config)
    staging = storage.join(storage.lake_root(s3_config), "_staging")
    now = time.time()
    for run_id, expires in (("ingest-k-dead", now - 1), ("ingest-k-live", now + 600)):
        bucket, key = storage.split_s3(storage.join(staging, run_id, "alert", "part-0.parquet"))
        client.put_object(Bucket=bucket, Key=key, Body=b"left by a run")
        client.put_object(Bucket=bucket, Key=f"{key.split('/alert/')[0]}.lock",
                          Body=json.dumps({**locks.liveness(), "expires": expires}).encode())
    abandoned = locks.clear_stale_staging(s3_config, "ingest-k-")
    assert [a["run_id"] for a in abandoned] == ["ingest-k-dead"]
    prefix = storage.split_s3(staging)[1]
    left = [k[len(prefix) + 1:] for k in s3_env.keys(prefix)]
    assert left == ["ingest-k-live.lock", "ingest-k-live/alert/part-0.parquet"]


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def stale_staging(root: Path, run_id: str, record: dict | None) -> Path:
    folder = root / "_staging" / run_id / "alert"
    folder.mkdir(parents=True)
    (folder / "part-000000.parquet").write_bytes(b"left by a killed run")
    lock = root / "_staging" / f"{run_id}.lock"
    lock.write_text(json.dumps(record) if record is not None else "")
    return lock


def test_stale_lock_of_a_dead_pid_is_cleared(tmp_path):
    root = tmp_path / "lake"
    config = config_of(root)
    gone = {**locks.liveness(), "pid": dead_pid()}
    free = stale_staging(root, "ingest-k-1", gone)                 # nobody holds it
    held_by_dead = stale_staging(root, "ingest-k-2", gone)        # held, records a dead pid
    live = stale_staging(root, "ingest-k-3", locks.liveness())   # held by a live run
    held = [locks.try_file_lock(held_by_dead), locks.try_file_lock(live)]
    try:
        abandoned = locks.clear_stale_staging(config, "ingest-k-")
    finally:
        for handle in held:
            handle.close()
    assert sorted(a["run_id"] for a in abandoned) == ["ingest-k-1", "ingest-k-2"]
    assert all(a["pid"] == gone["pid"] for a in abandoned)
    assert not free.exists() and not (root / "_staging" / "ingest-k-1").exists()
    assert not held_by_dead.exists() and not (root / "_staging" / "ingest-k-2").exists()
    assert live.exists() and (root / "_staging" / "ingest-k-3" / "alert").is_dir()


def test_killed_run_is_marked_abandoned_by_the_next_run(alerts, spark, tmp_path):
    source = write_tarball(tmp_path / "ztf_public_20181129.tar.gz",
                           [regular(n, d) for n, d in alerts[:GOOD]])
    root = tmp_path / "lake"
    config = config_of(root)
    killed = f"ingest-{_staging_key([str(source)], NIGHT)}-20181130T101010-0badc0de"
    lock = stale_staging(root, killed, {**locks.liveness(), "pid": dead_pid()})
    result = ingest(config, str(source))
    assert result.alerts == GOOD
    assert not lock.exists() and not (root / "_staging" / killed).exists()
    assert list((root / "_staging").iterdir()) == []             # the run's own is gone too
    run = rows(config, "run").set_index("run_id")
    assert run.loc[killed, "status"] == "abandoned"
    assert "killed" in run.loc[killed, "error"]
    assert run.loc[result.run_id, "status"] == "succeeded"


def test_data_files_a_killed_run_never_committed_are_removed(alerts, clean_lake, tmp_path):
    """A killed writer leaves data files no version holds; the next run that finds it
    dead removes them (and only them: files older versions hold stay)."""
    import shutil

    config = copy_of(clean_lake, tmp_path)
    root = tmp_path / "lake"
    held = {name: sorted((root / name).rglob("*.parquet")) for name in ("alert", "detection")}
    planted = []
    for files in held.values():      # a copy of a real data file, as a writer leaves it
        target = files[0].with_name("part-99999-killed-writer-c000.snappy.parquet")
        shutil.copy(files[0], target)
        planted.append(target)
    assert set(lakecheck.uncommitted_files(root, held)) == set(held)
    source = write_tarball(tmp_path / "ztf_public_20181129.tar.gz",
                           [regular(n, d) for n, d in alerts[:GOOD]])
    killed = f"ingest-{_staging_key([str(source)], NIGHT)}-20181130T101010-0badc0de"
    stale_staging(root, killed, {**locks.liveness(), "pid": dead_pid()})
    result = ingest(config, str(source))         # the same alerts again: nothing to add
    assert result.alerts == GOOD
    assert not any(path.exists() for path in planted)
    assert lakecheck.uncommitted_files(root, INGEST_TABLES) == {}
    assert all(path.exists() for files in held.values() for path in files)
    assert_rest_unchanged(clean_lake, config)


def test_local_lock_files_are_removed_and_record_their_holder(tmp_path):
    path = tmp_path / "_locks" / "alert.lock"
    with locks.file_lock(path, timeout=1):
        record = json.loads(path.read_text())
        assert (record["pid"], record["host"]) == (os.getpid(), locks.socket.gethostname())
        with pytest.raises(locks.LockTimeout):
            with locks.file_lock(path, timeout=0.2):
                pass
    assert not path.exists()
