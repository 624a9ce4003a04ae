"""Locks that serialize writers of one table (and guard a run's staging files).

Delta's optimistic concurrency is only as good as the writer's conflict checks, and the
embedded engine (Sail 0.7.2) re-commits a losing write without them: two concurrent
runs creating or merging into the same table both "succeed" and duplicate rows. So every
write to a table happens under that table's lock, and reads the table's latest version
inside it.

Every lock records its holder's liveness (:func:`liveness`: owner token, host, pid,
start time, heartbeat), so that what a dead run left behind can be told from what a live
run is using:

- local lakes: ``fcntl.flock`` on ``<lake>/_locks/<name>.lock``; the kernel releases it
  when the process dies (a job killed with SIGKILL never holds a lock). The holder
  removes the file when it releases it (a waiter that then finds its locked file gone
  from the path starts over, so two runs never hold two files of one name).
- S3 lakes: an object ``<lake>/_locks/<name>.lock`` created with a conditional put
  (``If-None-Match: *``) and holding a lease. A background thread renews the lease every
  quarter of it with ``If-Match`` on the object's ETag, so a write longer than the lease
  keeps its lock; releasing is a delete with ``If-Match`` on the holder's ETag, and
  breaking an expired lease a delete with ``If-Match`` on the ETag read, so no run ever
  deletes a lock another run holds (SeaweedFS and AWS S3 both honour these conditions).

A run's staging folder ``<lake>/_staging/<run_id>`` has a lock beside it
(``<run_id>.lock``). :func:`clear_stale_staging` removes the folders of dead runs and
returns what their locks recorded, so the stage can mark those runs ``abandoned``.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from pathlib import Path

from lake import storage

log = logging.getLogger(__name__)

S3_LEASE_SECONDS = 600.0      # a dead holder's S3 lock is free this long after its heartbeat
_STARTED = time.time()


class LockTimeout(TimeoutError):
    pass


def liveness(lease_seconds: float | None = None, owner: str | None = None) -> dict:
    """Who holds a lock and when it last showed life (written into every lock)."""
    now = time.time()
    record = {"owner": owner or uuid.uuid4().hex, "host": socket.gethostname(),
              "pid": os.getpid(), "started": _STARTED, "heartbeat": now}
    if lease_seconds is not None:
        record["expires"] = now + lease_seconds
    return record


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:      # alive, owned by someone else
        return True
    return True


def _read_record(path: str | Path) -> dict:
    try:
        record = json.loads(Path(path).read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _holder_dead(record: dict) -> bool:
    """A lock record written on this host by a process that no longer runs."""
    pid = record.get("pid")
    return (record.get("host") == socket.gethostname() and isinstance(pid, int)
            and pid != os.getpid() and not pid_alive(pid))


def _flock_same_file(path: Path, blocking_deadline: float | None, poll: float):
    """Open and flock ``path``; None when it is held (and the deadline, if any, passed).
    After locking, check the path still names the locked file: its holder may have
    removed it while we waited, and a new file of that name may be held by another."""
    import fcntl

    while True:
        handle = open(path, "a+")
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if blocking_deadline is None or time.monotonic() > blocking_deadline:
                    handle.close()
                    return None
                time.sleep(poll)
        try:
            same = os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return handle
        handle.close()


def _write_record(handle, record: dict) -> None:
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps(record))
    handle.flush()


def _release_file(path: Path, handle) -> None:
    """Remove the lock file while still holding it, then unlock (see the module doc)."""
    with contextlib.suppress(OSError):
        os.remove(path)
    handle.close()


@contextlib.contextmanager
def file_lock(path: str | Path, timeout: float = 3600.0, poll: float = 0.1):
    """Exclusive flock on a local file, waiting up to ``timeout`` seconds; the file holds
    the holder's liveness and is removed on release."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = _flock_same_file(path, time.monotonic() + timeout, poll)
    if handle is None:
        raise LockTimeout(f"{path} is held by {_read_record(path).get('pid', 'another run')}")
    try:
        _write_record(handle, liveness())
        yield
    finally:
        _release_file(path, handle)


def try_file_lock(path: str | Path):
    """The open, locked handle of ``path``, or None when another process holds it."""
    return _flock_same_file(Path(path), None, 0.0)


@contextlib.contextmanager
def table_lock(config: dict, name: str, timeout: float = 3600.0):
    root = storage.lake_root(config)
    if not storage.is_s3(root):
        with file_lock(Path(root) / "_locks" / f"{name}.lock", timeout):
            yield
        return
    with s3_lock(config, storage.join(root, "_locks", f"{name}.lock"), timeout):
        yield


def _error_code(error) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


PRECONDITION_CODES = ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")


class S3Lease:
    """One held S3 lock object, renewed in the background until released."""

    def __init__(self, client, bucket: str, key: str, lease_seconds: float):
        self.client, self.bucket, self.key = client, bucket, key
        self.lease_seconds = lease_seconds
        self.record = liveness(lease_seconds)
        self.etag: str | None = None
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def _body(self) -> bytes:
        now = time.time()
        self.record.update(heartbeat=now, expires=now + self.lease_seconds)
        return json.dumps(self.record).encode()

    def try_acquire(self) -> bool:
        """Create the lock object if absent; break it first if its lease has expired."""
        from botocore.exceptions import ClientError

        try:
            self.etag = self.client.put_object(Bucket=self.bucket, Key=self.key,
                                               Body=self._body(), IfNoneMatch="*")["ETag"]
            return True
        except ClientError as error:
            if _error_code(error) not in PRECONDITION_CODES:
                raise
        held, etag = read_s3_lock(self.client, self.bucket, self.key)
        if held is not None and held.get("expires", 0) < time.time():
            if delete_s3_lock(self.client, self.bucket, self.key, etag):
                log.warning("broke the expired lock %s of %s (pid %s on %s)", self.uri,
                            held.get("owner"), held.get("pid"), held.get("host"))
        return False

    def start_renewing(self) -> None:
        self._thread = threading.Thread(target=self._renew_loop, daemon=True,
                                        name=f"lease {self.key}")
        self._thread.start()

    def renew(self) -> bool:
        """Extend the lease, only if the object is still ours (If-Match on our ETag)."""
        from botocore.exceptions import ClientError

        try:
            self.etag = self.client.put_object(Bucket=self.bucket, Key=self.key,
                                               Body=self._body(), IfMatch=self.etag)["ETag"]
            return True
        except ClientError as error:
            if _error_code(error) in PRECONDITION_CODES + ("NoSuchKey", "404"):
                self.lost = True
                log.error("lost the lock %s: another run took it over", self.uri)
                return False
            raise

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.lease_seconds / 4):
            try:
                if not self.renew():
                    return
            except Exception as error:   # the server may be back before the lease ends
                log.warning("could not renew the lock %s: %s", self.uri, error)

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if not self.lost and not delete_s3_lock(self.client, self.bucket, self.key, self.etag):
            log.error("the lock %s was no longer ours at release: left in place", self.uri)


def read_s3_lock(client, bucket: str, key: str) -> tuple[dict | None, str | None]:
    """(record, ETag) of a lock object, (None, None) when there is none."""
    from botocore.exceptions import ClientError

    try:
        response = client.get_object(Bucket=bucket, Key=key)
        body = response["Body"].read()
    except ClientError as error:
        if _error_code(error) in ("NoSuchKey", "404"):
            return None, None
        raise
    try:
        record = json.loads(body)
    except ValueError:
        record = {}
    return (record if isinstance(record, dict) else {}), response["ETag"]


def delete_s3_lock(client, bucket: str, key: str, etag: str | None) -> bool:
    """Delete the lock object only if it is still the version ``etag`` names."""
    from botocore.exceptions import ClientError

    if etag is None:
        return False
    try:
        client.delete_object(Bucket=bucket, Key=key, IfMatch=etag)
        return True
    except ClientError as error:
        if _error_code(error) in PRECONDITION_CODES + ("NoSuchKey", "404"):
            return False
        raise


@contextlib.contextmanager
def s3_lock(config: dict, uri: str, timeout: float, lease_seconds: float | None = None):
    """Hold the S3 lock object ``uri`` (see the module doc), waiting up to ``timeout``."""
    bucket, key = storage.split_s3(uri)
    lease = S3Lease(storage.s3_client(config), bucket, key, lease_seconds or S3_LEASE_SECONDS)
    deadline = time.monotonic() + timeout
    while not lease.try_acquire():
        if time.monotonic() > deadline:
            held, _ = read_s3_lock(lease.client, bucket, key)
            raise LockTimeout(f"{uri} is held by {(held or {}).get('owner')}") from None
        time.sleep(0.5)
    lease.start_renewing()
    try:
        yield lease
    finally:
        lease.release()


@contextlib.contextmanager
def staging(config: dict, uri: str):
    """A run's staging folder: locked while the run lives, removed when it ends."""
    if storage.is_s3(uri):
        with s3_lock(config, uri + ".lock", timeout=0):
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


def _file_lock_held(path: Path) -> bool:
    """Whether a live process holds the flock of ``path`` now. Probed with a shared lock
    taken and dropped at once, and never on a file younger than a second: its creator
    takes the exclusive lock right after creating it, with no wait (``staging``)."""
    import fcntl

    try:
        if time.time() - path.stat().st_mtime < 1.0:
            return True
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return not _holder_dead(_read_record(path))
    finally:
        os.close(fd)


def live_runs(config: dict, prefix: str) -> list[dict]:
    """Liveness records (``run_id`` added) of the runs named ``prefix*`` that hold their
    staging lock now (local: the flock is held; S3: the lease has not expired)."""
    root = storage.join(storage.lake_root(config), "_staging")
    live = []
    if storage.is_s3(root):
        for uri, record, _ in _s3_staging_locks(config, root, prefix):
            if record is not None and record.get("expires", 0) >= time.time():
                live.append({**record, "run_id": uri.rsplit("/", 1)[-1][: -len(".lock")]})
        return live
    for lock_path in sorted(Path(root).glob(f"{prefix}*.lock")):
        if _file_lock_held(lock_path):
            live.append({**_read_record(lock_path), "run_id": lock_path.name[: -len(".lock")]})
    return live


def wait_for_runs(config: dict, prefixes, timeout: float, poll: float = 2.0,
                  report_every: float = 60.0) -> None:
    """Wait until no run named ``prefix*`` (of ``prefixes``) is alive: a stage reading
    what another one is still writing (a process of the night being ingested) starts
    after it instead of failing on a half-landed night. LockTimeout after ``timeout``."""
    deadline, reported = time.monotonic() + timeout, 0.0
    while True:
        running = [run for prefix in prefixes for run in live_runs(config, prefix)]
        if not running:
            return
        now = time.monotonic()
        if now > deadline:
            raise LockTimeout(f"run {running[0]['run_id']} (pid {running[0].get('pid')} on "
                              f"{running[0].get('host')}) is still writing the lake after "
                              f"{timeout:.0f} s of waiting")
        if now - reported >= report_every:
            log.info("waiting for %s to finish", ", ".join(r["run_id"] for r in running))
            reported = now
        time.sleep(poll)


def clear_stale_staging(config: dict, prefix: str) -> list[dict]:
    """Remove the staging folders named ``prefix*`` of dead runs; return the liveness
    records of their locks (``run_id`` added), so the stage can mark those runs
    ``abandoned``. A run is dead when nothing holds its lock (local: the flock is free,
    or the recorded pid no longer runs on this host; S3: the lease has expired). A live
    run keeps its files."""
    root = storage.join(storage.lake_root(config), "_staging")
    if storage.is_s3(root):
        return _clear_stale_s3_staging(config, root, prefix)
    abandoned = []
    for lock_path in sorted(Path(root).glob(f"{prefix}*.lock")):
        record = _read_record(lock_path)
        handle = try_file_lock(lock_path)
        if handle is None and not _holder_dead(record):
            continue
        storage.remove_tree(config, str(lock_path)[: -len(".lock")])
        if handle is not None:
            _release_file(lock_path, handle)
        else:          # held by an orphan of the dead run: its work is lost either way
            with contextlib.suppress(OSError):
                os.remove(lock_path)
        abandoned.append({**record, "run_id": lock_path.name[: -len(".lock")]})
    return abandoned


def _s3_staging_locks(config: dict, root: str, prefix: str):
    """(uri, record, ETag) of every staging lock object named ``prefix*`` under ``root``."""
    client = storage.s3_client(config)
    for uri in sorted(uri for uri, _ in storage.list_s3(config, storage.join(root, prefix + "*"))
                      if uri.endswith(".lock")):
        yield (uri, *read_s3_lock(client, *storage.split_s3(uri)))


def _clear_stale_s3_staging(config: dict, root: str, prefix: str) -> list[dict]:
    client = storage.s3_client(config)
    abandoned = []
    for uri, record, etag in _s3_staging_locks(config, root, prefix):
        bucket, key = storage.split_s3(uri)
        if record is None or record.get("expires", 0) >= time.time():
            continue
        folder = uri[: -len(".lock")]
        storage.remove_tree(config, folder)
        if delete_s3_lock(client, bucket, key, etag):
            abandoned.append({**record, "run_id": folder.rsplit("/", 1)[-1]})
    return abandoned
