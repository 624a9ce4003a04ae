"""Publication of a night's catalog to a local folder or S3, behind the quality gate.

Layout under the publication root (``storage.publish_root``: ``publish.root`` of the
configuration, else ``publish`` beside the lake):

    latest.json                          entry point: {"version", "night", "manifest", ...}
    nights/<YYYYMMDD>.json               the last publication of each night
    catalog/<version>/manifest.json      tables, files, row counts, sha256, Delta versions
    catalog/<version>/report.html        the nightly report; quality.html: the gate's result
    data/<table>/[<partition>/]<sha256>.parquet
                                         data files, named by content and shared by versions
                                         (see lake.publish.catalog): a night writes only
                                         the files that changed

A version is ``<night>-<digest>``; the digest is made of what the version holds: the
identity of each source table (the id Delta gives a table when it is created, so two
lakes never share a digest), its Delta version and the code version. Publishing a night
again without changes is a no-op; publishing a state that an earlier version already
holds (an older night republished after a newer one) only writes the night's pointer; a
run that was interrupted is completed by re-running it. ``latest.json`` names the newest
night published: it never moves back to an older night. Readers never see half a
publication: a version's data files are written (under new names) before its manifest,
then the night pointer, and ``latest.json`` last; files no manifest names (left by an
interrupted run, or by versions retention deleted) are removed by retention, and the
``.tmp-<pid>`` files of a killed local writer by the next publication.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import time
from pathlib import Path

from lake import storage
from lake.publish.catalog import (DATA, FORMAT, open_source, referenced_files, source_versions,
                                  write_catalog)
from lake.runlog import code_version

log = logging.getLogger(__name__)

LATEST = "latest.json"


class PublishError(RuntimeError):
    """A publication could not be done; nothing new became visible to readers."""


def _now() -> str:
    # microseconds: retention orders versions by it, and publications can follow each
    # other within one second
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")


def _dump(data: dict) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, default=str) + "\n").encode()


def read_json(config: dict, uri: str) -> dict | None:
    try:
        return json.loads(storage.read_bytes(config, uri))
    except FileNotFoundError:
        return None
    except Exception as error:  # botocore NoSuchKey
        if getattr(error, "response", {}).get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise


def check_access(config: dict, root: str) -> None:
    """Fail early, with one clear message, when the object store cannot be used."""
    if not storage.is_s3(root):
        return
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    bucket, prefix = storage.split_s3(root)
    endpoint = (config.get("object_store") or {}).get("endpoint") or "AWS S3"
    try:
        storage.s3_client(config).list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
    except NoCredentialsError:
        raise PublishError(f"no credentials for {endpoint}: set AWS_ACCESS_KEY_ID and "
                           "AWS_SECRET_ACCESS_KEY") from None
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "?")
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403",
                    "InvalidToken", "ExpiredToken"):
            raise PublishError(
                f"{endpoint} rejected the credentials ({code}) for s3://{bucket}: check "
                "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; nothing was published") from None
        if code in ("NoSuchBucket", "404"):
            raise PublishError(f"bucket {bucket!r} does not exist at {endpoint}") from None
        raise PublishError(f"{endpoint}: {code}: {error}") from None
    except BotoCoreError as error:
        raise PublishError(f"cannot reach {endpoint}: {error}") from None


def source_identity(config: dict, versions: dict[str, int]) -> dict[str, str]:
    """The Delta table id (a UUID written when the table was created) of each source."""
    return {name: open_source(config, name, version).metadata().id
            for name, version in versions.items()}


def state_digest(versions: dict[str, int], identity: dict[str, str], code: str) -> str:
    """Digest of a catalog's content: which tables (by identity), at which versions, by
    which code. Two lakes, or two states of one lake, never share it.

    >>> a = state_digest({"object": 3}, {"object": "id-a"}, "0.1.0")
    >>> a == state_digest({"object": 3}, {"object": "id-b"}, "0.1.0"), len(a)
    (False, 12)
    """
    state = sorted((name, identity.get(name, ""), version) for name, version in versions.items())
    return hashlib.sha256(json.dumps([FORMAT, code, state]).encode()).hexdigest()[:12]


def version_id(night: int, digest: str) -> str:
    return f"{night}-{digest}"


def _existing_version(config: dict, root: str, digest: str) -> str | None:
    """A complete version of any night that holds this exact state already."""
    for name in storage.list_dirs(config, storage.join(root, "catalog")):
        if name.endswith(f"-{digest}") and read_json(
                config, storage.join(root, "catalog", name, "manifest.json")) is not None:
            return name
    return None


def _moves_latest(current: dict | None, pointer: dict) -> bool:
    """``latest.json`` follows the newest night: a newer night, or a new version of the
    same night, moves it; republishing an older night does not.

    >>> _moves_latest({"night": 20240102, "version": "a"}, {"night": 20240101, "version": "b"})
    False
    >>> _moves_latest({"night": 20240102, "version": "a"}, {"night": 20240102, "version": "b"})
    True
    """
    if current is None:
        return True
    if int(current.get("night") or 0) != int(pointer["night"]):
        return int(pointer["night"]) > int(current.get("night") or 0)
    return current.get("version") != pointer["version"]


def latest(config: dict, root: str | None = None) -> dict | None:
    """The ``latest.json`` pointer of a publication root (None before the first)."""
    root = root or storage.publish_root(config)
    return read_json(config, storage.join(root, LATEST))


def publish(config: dict, night: int, spark=None, validation=None, gate: bool = True,
            root: str | None = None, report: bool = True, keep: int | None = None,
            on_file=None) -> dict:
    """Validate (unless ``validation`` is given or ``gate`` is False) and publish the
    catalog for ``night``; returns the manifest. Raises ``GateFailed`` when the night
    fails its data-quality gate (nothing is published), ``PublishError`` when the object
    store refuses or fails (readers still see the previous publication)."""
    from lake.quality import GateFailed

    clock = time.perf_counter()
    root = (root or storage.publish_root(config)).rstrip("/")
    check_access(config, root)
    remove_stale_temporaries(root)
    if gate and validation is None:
        from lake import engine
        from lake.quality import validate

        spark = spark or engine.get_spark(config)
        validation = validate(spark, config, night)
    if validation is not None and not validation.success:
        _write_rejection(config, validation)
        raise GateFailed(validation)

    versions = source_versions(config)
    if validation is not None:  # publish exactly what was validated
        versions.update({k: v for k, v in validation.versions.items() if k in versions})
    code = code_version()
    identity = source_identity(config, versions)
    digest = state_digest(versions, identity, code)
    try:
        version = _existing_version(config, root, digest)
        if version is not None:
            manifest = read_json(config, storage.join(root, "catalog", version, "manifest.json"))
            log.info("version %s already holds this state: pointers only", version)
        else:
            version = version_id(night, digest)
            prefix = storage.join(root, "catalog", version)
            manifest = _write_version(config, root, night, version, prefix, versions,
                                      identity, code, validation, report, on_file)
        pointer = {"format": FORMAT, "version": version, "night": night,
                   "manifest": f"catalog/{version}/manifest.json",
                   "report": manifest.get("report"), "published_at": manifest["published_at"]}
        storage.write_bytes(config, storage.join(root, "nights", f"{night}.json"),
                            _dump(pointer), "application/json")
        current = latest(config, root)
        if _moves_latest(current, pointer):
            storage.write_bytes(config, storage.join(root, LATEST), _dump(pointer),
                                "application/json")
        elif current.get("version") != version:
            log.info("latest.json stays on night %s (newer than %s)", current.get("night"), night)
        if keep:
            apply_retention(config, root, keep)
    except PublishError:
        raise
    except Exception as error:
        raise PublishError(f"publication {version} of night {night} did not complete "
                           f"({type(error).__name__}: {error}); readers still see the "
                           "previous version; run it again to complete it") from error
    log.info("published night %s as %s in %.1f s", night, version, time.perf_counter() - clock)
    return manifest


def _previous_manifest(config: dict, root: str) -> dict | None:
    """The manifest ``latest.json`` names: the files a new version can reuse (retention
    never deletes it, so its files are there)."""
    pointer = latest(config, root)
    return read_json(config, storage.join(root, pointer["manifest"])) if pointer else None


def _write_version(config, root, night, version, prefix, versions, identity, code, validation,
                   report, on_file) -> dict:
    tables, written = write_catalog(config, versions, root, _previous_manifest(config, root),
                                    on_file=on_file, salt=code)
    extra = {}
    if validation is not None:
        payload = validation.to_html().encode()
        storage.write_bytes(config, storage.join(prefix, "quality.html"), payload, "text/html")
        extra["quality.html"] = payload
    pages = {}
    if report:
        from lake.publish.pages import page_path
        from lake.publish.report import night_pages, nightly_report

        from lake.cli import progress

        pages = night_pages(config, night, versions)
        for oid, text in progress(pages.items(), len(pages), "object pages", "page"):
            # before the report that links them
            storage.write_bytes(config, storage.join(prefix, *page_path(oid).split("/")),
                                text.encode(), "text/html")
        payload = nightly_report(config, night, versions, validation, tables,
                                 pages=True).encode()
        storage.write_bytes(config, storage.join(prefix, "report.html"), payload, "text/html")
        extra["report.html"] = payload
    manifest = {
        "format": FORMAT, "kind": "publication", "version": version, "night": night,
        "published_at": _now(), "code_version": code,
        "source": {"lake": storage.lake_root(config), "delta_versions": versions,
                   "table_ids": identity},
        "tables": tables,
        "written": written,
        "documents": {name: {"path": name, "bytes": len(data),
                             "sha256": hashlib.sha256(data).hexdigest()}
                      for name, data in extra.items()},
        "report": f"catalog/{version}/report.html" if report else None,
        "pages": {"folder": "objects/", "objects": len(pages)},
        "validation": None if validation is None else {
            k: v for k, v in validation.summary().items() if k != "tables"},
    }
    storage.write_bytes(config, storage.join(prefix, "manifest.json"), _dump(manifest),
                        "application/json")
    return manifest


def _write_rejection(config: dict, validation) -> None:
    """Keep the failing gate's report next to the lake (not in the publication)."""
    folder = storage.join(storage.lake_root(config), "_reports", "quality",
                          f"night={validation.night}")
    try:
        storage.write_bytes(config, storage.join(folder, f"{validation.validation_id}.html"),
                            validation.to_html().encode(), "text/html")
        storage.write_bytes(config, storage.join(folder, f"{validation.validation_id}.md"),
                            validation.to_markdown().encode(), "text/markdown")
    except Exception:
        log.exception("could not write the quality report")


def list_versions(config: dict, root: str | None = None) -> list[dict]:
    """Every version under ``catalog/``: complete ones (with their manifest) and not."""
    root = (root or storage.publish_root(config)).rstrip("/")
    out = []
    for name in storage.list_dirs(config, storage.join(root, "catalog")):
        manifest = read_json(config, storage.join(root, "catalog", name, "manifest.json"))
        out.append({"version": name, "complete": manifest is not None,
                    "published_at": manifest.get("published_at") if manifest else None,
                    "night": manifest.get("night") if manifest else None})
    return out


def apply_retention(config: dict, root: str | None = None, keep: int = 7) -> list[str]:
    """Delete all but the ``keep`` newest complete versions, and incomplete versions
    (left by interrupted runs; run one publisher at a time), never the one
    ``latest.json`` names; night pointers to deleted versions are removed too.
    Returns the deleted versions."""
    root = (root or storage.publish_root(config)).rstrip("/")
    pinned = {(latest(config, root) or {}).get("version")}
    versions = list_versions(config, root)
    complete = sorted((v for v in versions if v["complete"]),
                      key=lambda v: (v["published_at"] or "", v["version"]), reverse=True)
    keep_set = {v["version"] for v in complete[:max(keep, 1)]} | pinned
    doomed = [v["version"] for v in versions if v["version"] not in keep_set]
    for name in doomed:
        storage.remove_tree(config, storage.join(root, "catalog", name))
        log.info("retention: deleted version %s", name)
    for uri in storage.list_files(config, storage.join(root, "nights")):
        pointer = read_json(config, uri) or {}
        if pointer.get("version") in doomed:
            storage.delete_file(config, uri)
    collect_garbage(config, root)
    return doomed


def collect_garbage(config: dict, root: str) -> int:
    """Delete the data files no complete version's manifest names (those of deleted
    versions and of interrupted runs); run one publisher at a time. Returns how many."""
    used = set()
    for name in storage.list_dirs(config, storage.join(root, "catalog")):
        manifest = read_json(config, storage.join(root, "catalog", name, "manifest.json"))
        used |= referenced_files(manifest or {})
    data = storage.join(root, DATA)
    deleted = 0
    for uri in storage.list_files(config, data):
        relative = DATA + "/" + uri[len(data):].replace(os.sep, "/").lstrip("/")
        if relative not in used:
            storage.delete_file(config, uri)
            deleted += 1
    if deleted:
        log.info("retention: deleted %d data file(s) no version uses", deleted)
    return deleted


TEMPORARY = re.compile(r"^\..+\.tmp-(\d+)$")   # lake.storage.write_bytes: .<name>.tmp-<pid>


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # someone else's live process
        return True
    return True


def remove_stale_temporaries(root: str) -> list[str]:
    """Delete the temporary files (``.<name>.tmp-<pid>``) that a local writer killed
    before its rename left under ``root``, when process ``pid`` is no longer running
    on this host (a live one may still be writing). S3 writes leave none (one PUT)."""
    if storage.is_s3(root) or not Path(root).is_dir():
        return []
    removed = []
    for path in Path(root).rglob(".*.tmp-*"):
        match = TEMPORARY.match(path.name)
        if match and path.is_file() and not _alive(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed.append(str(path))
    if removed:
        log.warning("removed %d temporary file(s) left by killed publisher(s): %s",
                    len(removed), ", ".join(removed[:3]) + (" ..." if len(removed) > 3 else ""))
    return removed
