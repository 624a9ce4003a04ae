"""Locks that serialize writers of one table (and guard a run's staging files).

Delta's optimistic concurrency is only as good as the writer's conflict checks, and the
embedded engine (Sail 0.7.2) re-commits a losing write without them: two concurrent
runs creating or merging into the same table both "succeed" and duplicate rows. So every
write to a table happens under that table's lock, and reads the table's latest version
inside it.

- local lakes: ``fcntl.flock`` on ``<lake>/_locks/<name>.lock``; the kernel releases it
  when the process dies (a job killed with SIGKILL never leaves a stale lock).
- S3 lakes: an object ``<lake>/_locks/<name>.lock`` created with a conditional put
  (If-None-Match: *); it carries an expiry, after which another writer may break it.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path

from lake import storage

S3_LEASE_SECONDS = 3600


class LockTimeout(TimeoutError):
    pass


@contextlib.contextmanager
def file_lock(path: str | Path, timeout: float = 3600.0, poll: float = 0.1):
    """Exclusive flock on a local file, waiting up to ``timeout`` seconds."""
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LockTimeout(f"{path} is held by another run") from None
                time.sleep(poll)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def try_file_lock(path: str | Path):
    """The open, locked handle of ``path``, or None when another process holds it."""
    import fcntl

    handle = open(path, "a+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return handle
    except BlockingIOError:
        handle.close()
        return None


@contextlib.contextmanager
def table_lock(config: dict, name: str, timeout: float = 3600.0):
    root = storage.lake_root(config)
    if not storage.is_s3(root):
        with file_lock(Path(root) / "_locks" / f"{name}.lock", timeout):
            yield
        return
    with _s3_lock(config, storage.join(root, "_locks", f"{name}.lock"), timeout):
        yield


@contextlib.contextmanager
def _s3_lock(config: dict, uri: str, timeout: float):
    from botocore.exceptions import ClientError

    client = storage.s3_client(config)
    bucket, key = storage.split_s3(uri)
    deadline = time.monotonic() + timeout
    owner = f"{socket.gethostname()}:{os.getpid()}:{time.time()}"
    while True:
        body = json.dumps({"owner": owner, "expires": time.time() + S3_LEASE_SECONDS})
        try:
            client.put_object(Bucket=bucket, Key=key, Body=body.encode(), IfNoneMatch="*")
            break
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in (
                    "PreconditionFailed", "ConditionalRequestConflict", "412"):
                raise
            try:
                held = json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())
                if held.get("expires", 0) < time.time():   # an expired lease: break it
                    client.delete_object(Bucket=bucket, Key=key)
                    continue
            except ClientError:
                continue
            if time.monotonic() > deadline:
                raise LockTimeout(f"{uri} is held by {held.get('owner')}") from None
            time.sleep(0.5)
    try:
        yield
    finally:
        client.delete_object(Bucket=bucket, Key=key)


@contextlib.contextmanager
def staging(config: dict, uri: str):
    """A run's staging folder: locked while the run lives, removed when it ends."""
    if storage.is_s3(uri):
        try:
            yield
        finally:
            storage.remove_tree(config, uri)
        return
    os.makedirs(os.path.dirname(uri), exist_ok=True)
    with file_lock(uri + ".lock", timeout=0):
        try:
            yield
        finally:
            storage.remove_tree(config, uri)
    with contextlib.suppress(OSError):
        os.remove(uri + ".lock")


def clear_stale_staging(config: dict, prefix: str) -> None:
    """Remove staging folders named ``prefix*`` left by killed runs. A live run holds the
    lock beside its folder, so a concurrent run keeps its files. (On S3 leftovers stay
    until removed by hand: nothing tells a dead run from a live one there.)"""
    root = storage.join(storage.lake_root(config), "_staging")
    if storage.is_s3(root):
        return
    for lock_path in Path(root).glob(f"{prefix}*.lock"):
        handle = try_file_lock(lock_path)
        if handle is None:
            continue
        storage.remove_tree(config, str(lock_path)[: -len(".lock")])
        with contextlib.suppress(OSError):
            os.remove(lock_path)
        handle.close()
