"""Storage paths and object-store access: the only module that knows where data lives.

A lake root is a local folder or ``s3://bucket/prefix``. Tables live at
``<root>/<table name>``; staging files of a run at ``<root>/_staging/<run id>``.
S3 credentials come only from the environment (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY), or from the AWS SDK's chain when ``object_store.credentials`` says
``profile``; the endpoint and region from the configuration.

One :class:`Storage` per settings object (``storage.of(config)``) holds the resolved roots,
one boto3 client and one pyarrow S3 filesystem, built on first use and reused by every
call of the run (a new process builds its own: the settings pickle without them). The
module-level functions are that object's methods, for callers that hold a configuration.
"""
from __future__ import annotations

import fnmatch
import os
import posixpath
import threading
from pathlib import Path
from typing import Any, Iterator, Mapping
from urllib.parse import urlparse

from lake import settings as settings_module


def is_s3(uri: str) -> bool:
    return str(uri).startswith(("s3://", "s3a://"))


def join(root: str, *parts: str) -> str:
    """Join path parts under a local or s3:// root.

    >>> join("s3://bucket/lake", "detection")
    's3://bucket/lake/detection'
    >>> join("/data/lake", "_staging", "r1")
    '/data/lake/_staging/r1'
    """
    if is_s3(root):
        return posixpath.join(root.rstrip("/"), *parts)
    return str(Path(root, *parts))


def split_s3(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> ``("bucket", "a/b")``."""
    parsed = urlparse(uri)
    return parsed.netloc, parsed.path.lstrip("/")


CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def _environment_credentials() -> dict[str, str]:
    return {name: os.environ[name] for name in CREDENTIAL_VARIABLES if os.environ.get(name)}


def _profile_credentials(profile: str | None) -> dict[str, str]:
    """Credentials the AWS SDK's chain resolves (``object_store.credentials: profile``),
    as the three variables, so that boto3, pyarrow and delta-rs all use the same ones."""
    import boto3

    resolved = boto3.Session(profile_name=profile).get_credentials()
    if resolved is None:
        raise RuntimeError(f"object_store.credentials is 'profile' but the AWS credential "
                           f"chain found none (profile {profile or 'default'})")
    frozen = resolved.get_frozen_credentials()
    creds = {"AWS_ACCESS_KEY_ID": frozen.access_key, "AWS_SECRET_ACCESS_KEY": frozen.secret_key}
    if frozen.token:
        creds["AWS_SESSION_TOKEN"] = frozen.token
    return creds


class Storage:
    """Where the lake's data lives and the clients that reach it, for one settings object.

    Credentials are read at each use, from the environment only unless the settings say
    ``object_store.credentials: profile`` (then from the AWS SDK's chain): when they change
    (a test, a rotated token), the client and filesystem are rebuilt, otherwise they are
    reused. With neither, requests go unsigned: nothing falls back to ``~/.aws`` unasked.
    """

    def __init__(self, config: Mapping):
        self.settings = settings_module.of(config)
        store = self.settings.object_store
        self.endpoint: str | None = store.endpoint or None
        self.region: str = store.region or "us-east-1"
        self.credential_source: str = store.credentials
        self.profile: str | None = store.profile
        self._lock = threading.Lock()
        self._client: tuple[tuple, Any] | None = None
        self._filesystem: tuple[tuple, Any] | None = None

    # --- paths (a relative local root is resolved against the current folder at each use,
    # as it always was) ------------------------------------------------------------
    @property
    def lake_root(self) -> str:
        root = str(self.settings["lake"]["root"])
        return root if is_s3(root) else str(Path(root).resolve())

    @property
    def publish_root(self) -> str:
        root = (self.settings.get("publish") or {}).get("root")
        if root:
            root = str(root).rstrip("/")
            return root if is_s3(root) else str(Path(root).resolve())
        lake = self.lake_root.rstrip("/")
        return posixpath.join(posixpath.dirname(lake), "publish") if is_s3(lake) \
            else str(Path(lake).parent / "publish")

    def table_uri(self, table: str) -> str:
        return join(self.lake_root, table)

    def staging_uri(self, run_id: str) -> str:
        return join(self.lake_root, "_staging", run_id)

    # --- clients -------------------------------------------------------------------
    def credentials(self) -> dict[str, str]:
        """The S3 credentials to use now, as the three AWS variables (empty: unsigned)."""
        if self.credential_source == "profile":
            return _profile_credentials(self.profile)
        return _environment_credentials()

    def delta_storage_options(self) -> dict[str, str]:
        """Options for delta-rs (``deltalake``) to reach the lake's object store."""
        creds = self.credentials()
        # without credentials delta-rs would search ~/.aws itself: unsigned instead
        options = {**creds, "AWS_REGION": self.region,
                   **({} if creds else {"AWS_SKIP_SIGNATURE": "true"})}
        if self.endpoint:
            options["AWS_ENDPOINT_URL"] = self.endpoint
            options["AWS_ALLOW_HTTP"] = "true" if self.endpoint.startswith("http://") else "false"
            # S3-compatible servers that implement conditional writes make commits safe
            # without a lock service; SeaweedFS does.
            options["conditional_put"] = "etag"
        return options

    def s3_client(self) -> Any:
        creds = self.credentials()
        key = tuple(sorted(creds.items()))
        with self._lock:
            if self._client is None or self._client[0] != key:
                self._client = (key, self._new_client(creds))
            return self._client[1]

    def _new_client(self, creds: dict) -> Any:
        import boto3
        from botocore.config import Config

        from botocore import UNSIGNED

        # No credentials: unsigned requests (boto3 would otherwise search ~/.aws).
        signing = {} if creds else {"signature_version": UNSIGNED}
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=creds.get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=creds.get("AWS_SECRET_ACCESS_KEY"),
            aws_session_token=creds.get("AWS_SESSION_TOKEN"),
            config=Config(retries={"max_attempts": 3, "mode": "standard"},
                          s3={"addressing_style": "path"}, **signing),
        )

    def arrow_filesystem(self, uri: str):
        """A pyarrow filesystem and the path inside it for ``uri``."""
        from pyarrow import fs

        if not is_s3(uri):
            return fs.LocalFileSystem(), str(uri)
        creds = self.credentials()
        key = tuple(sorted(creds.items()))
        with self._lock:
            if self._filesystem is None or self._filesystem[0] != key:
                self._filesystem = (key, self._new_filesystem(creds))
            filesystem = self._filesystem[1]
        bucket, key_path = split_s3(uri)
        return filesystem, f"{bucket}/{key_path}"

    def _new_filesystem(self, creds: dict):
        from pyarrow import fs

        kwargs: dict[str, Any] = {"region": self.region}
        if creds:
            kwargs.update(access_key=creds.get("AWS_ACCESS_KEY_ID"),
                          secret_key=creds.get("AWS_SECRET_ACCESS_KEY"),
                          session_token=creds.get("AWS_SESSION_TOKEN"))
        else:   # pyarrow would otherwise search ~/.aws
            kwargs["anonymous"] = True
        if self.endpoint:
            parsed = urlparse(self.endpoint)
            kwargs.update(endpoint_override=parsed.netloc, scheme=parsed.scheme or "https")
        return fs.S3FileSystem(**kwargs)

    # --- files and objects -----------------------------------------------------------
    def make_dirs(self, uri: str) -> None:
        if not is_s3(uri):
            Path(uri).mkdir(parents=True, exist_ok=True)

    def remove_tree(self, uri: str) -> None:
        """Delete a folder (local) or every object under a prefix (S3)."""
        if not is_s3(uri):
            import shutil

            shutil.rmtree(uri, ignore_errors=True)
            return
        bucket, prefix = split_s3(uri.rstrip("/") + "/")
        client = self.s3_client()
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                client.delete_objects(Bucket=bucket, Delete={"Objects": keys})

    def list_s3(self, uri: str) -> Iterator[tuple[str, int]]:
        """Yield (s3 uri, size) of the objects matching ``uri`` (a prefix or a glob)."""
        bucket, key = split_s3(uri)
        wildcard = any(ch in key for ch in "*?[")
        prefix = key.split("*")[0].split("?")[0].split("[")[0] if wildcard else key
        client = self.s3_client()
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                name = item["Key"]
                if wildcard and not fnmatch.fnmatch(name, key):
                    continue
                if not wildcard and name != key and not name.startswith(key.rstrip("/") + "/"):
                    continue
                yield f"s3://{bucket}/{name}", item["Size"]

    def open_binary(self, uri: str):
        """Open a local file or an S3 object for streaming binary reads."""
        if not is_s3(uri):
            return open(uri, "rb")
        bucket, key = split_s3(uri)
        return self.s3_client().get_object(Bucket=bucket, Key=key)["Body"]

    def write_bytes(self, uri: str, data: bytes, content_type: str | None = None) -> None:
        """Write one object/file whole. Local files appear atomically (temp file + rename);
        an S3 PUT is atomic by itself."""
        if not is_s3(uri):
            path = Path(uri)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
            return
        bucket, key = split_s3(uri)
        extra = {"ContentType": content_type} if content_type else {}
        self.s3_client().put_object(Bucket=bucket, Key=key, Body=data, **extra)

    def read_bytes(self, uri: str) -> bytes:
        with self.open_binary(uri) as handle:
            return handle.read()

    def exists(self, uri: str) -> bool:
        """Whether a file/object exists (not a folder or prefix)."""
        if not is_s3(uri):
            return Path(uri).is_file()
        from botocore.exceptions import ClientError

        bucket, key = split_s3(uri)
        try:
            self.s3_client().head_object(Bucket=bucket, Key=key)
            return True
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def list_files(self, uri: str) -> list[str]:
        """Every file/object under a folder or prefix (recursive), sorted; [] when absent."""
        if is_s3(uri):
            return sorted(name for name, _ in self.list_s3(uri.rstrip("/") + "/"))
        root = Path(uri)
        return sorted(str(p) for p in root.rglob("*") if p.is_file()) if root.is_dir() else []

    def list_modified(self, uri: str) -> list[tuple[str, float]]:
        """(file, modification time in epoch seconds) of every file under a folder or
        prefix (recursive), sorted; [] when absent."""
        if not is_s3(uri):
            return [(path, os.stat(path).st_mtime) for path in self.list_files(uri)]
        bucket, prefix = split_s3(uri.rstrip("/") + "/")
        found = []
        for page in self.s3_client().get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix):
            found += [(f"s3://{bucket}/{item['Key']}", item["LastModified"].timestamp())
                      for item in page.get("Contents", [])]
        return sorted(found)

    def list_dirs(self, uri: str) -> list[str]:
        """Names of the immediate sub-folders (common prefixes on S3) of ``uri``, sorted."""
        if not is_s3(uri):
            root = Path(uri)
            return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        bucket, prefix = split_s3(uri.rstrip("/") + "/")
        names = []
        paginator = self.s3_client().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
            names += [p["Prefix"][len(prefix):].rstrip("/") for p in page.get("CommonPrefixes", [])]
        return sorted(names)

    def delete_file(self, uri: str) -> None:
        if not is_s3(uri):
            Path(uri).unlink(missing_ok=True)
            return
        bucket, key = split_s3(uri)
        self.s3_client().delete_object(Bucket=bucket, Key=key)


def of(config: Mapping) -> Storage:
    """The storage object of a configuration: one per settings object (cached on it, and
    rebuilt in each new process); a plain dict gets a fresh one on every call."""
    if isinstance(config, settings_module.Settings):
        return config.cached("storage", lambda: Storage(config))
    return Storage(config)


# --- the module-level API: the storage object of ``config`` does the work ------------

def lake_root(config: Mapping) -> str:
    return of(config).lake_root


def table_uri(config: Mapping, table: str) -> str:
    return of(config).table_uri(table)


def staging_uri(config: Mapping, run_id: str) -> str:
    return of(config).staging_uri(run_id)


def delta_storage_options(config: Mapping) -> dict[str, str]:
    """Options for delta-rs (``deltalake``) to reach the lake's object store."""
    return of(config).delta_storage_options()


def s3_client(config: Mapping) -> Any:
    return of(config).s3_client()


def arrow_filesystem(config: Mapping, uri: str):
    """A pyarrow filesystem and the path inside it for ``uri``."""
    return of(config).arrow_filesystem(uri)


def make_dirs(config: Mapping, uri: str) -> None:
    of(config).make_dirs(uri)


def remove_tree(config: Mapping, uri: str) -> None:
    """Delete a folder (local) or every object under a prefix (S3)."""
    of(config).remove_tree(uri)


def list_s3(config: Mapping, uri: str) -> Iterator[tuple[str, int]]:
    """Yield (s3 uri, size) of the objects matching ``uri`` (a prefix or a glob)."""
    return of(config).list_s3(uri)


def open_binary(config: Mapping, uri: str):
    """Open a local file or an S3 object for streaming binary reads."""
    return of(config).open_binary(uri)


def publish_root(config: Mapping) -> str:
    """Root of the published catalog: ``publish.root`` of the configuration, else the
    folder ``publish`` beside the lake root (``/data/lake`` -> ``/data/publish``,
    ``s3://bucket/lake`` -> ``s3://bucket/publish``).

    >>> publish_root({"lake": {"root": "s3://b/x/lake"}})
    's3://b/x/publish'
    >>> publish_root({"lake": {"root": "/l"}, "publish": {"root": "s3://p/cat/"}})
    's3://p/cat'
    """
    return of(config).publish_root


def write_bytes(config: Mapping, uri: str, data: bytes, content_type: str | None = None) -> None:
    """Write one object/file whole (atomically: temp file + rename locally, one PUT on S3)."""
    of(config).write_bytes(uri, data, content_type)


def read_bytes(config: Mapping, uri: str) -> bytes:
    return of(config).read_bytes(uri)


def exists(config: Mapping, uri: str) -> bool:
    """Whether a file/object exists (not a folder or prefix)."""
    return of(config).exists(uri)


def list_files(config: Mapping, uri: str) -> list[str]:
    """Every file/object under a folder or prefix (recursive), sorted; [] when absent."""
    return of(config).list_files(uri)


def list_modified(config: Mapping, uri: str) -> list[tuple[str, float]]:
    return of(config).list_modified(uri)


def list_dirs(config: Mapping, uri: str) -> list[str]:
    """Names of the immediate sub-folders (common prefixes on S3) of ``uri``, sorted."""
    return of(config).list_dirs(uri)


def delete_file(config: Mapping, uri: str) -> None:
    of(config).delete_file(uri)
