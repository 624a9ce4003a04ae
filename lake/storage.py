"""Storage paths and object-store access: the only module that knows where data lives.

A lake root is a local folder or ``s3://bucket/prefix``. Tables live at
``<root>/<table name>``; staging files of a run at ``<root>/_staging/<run id>``.
S3 credentials come only from the environment (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY); the endpoint and region from the configuration.
"""
from __future__ import annotations

import fnmatch
import os
import posixpath
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlparse


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


def lake_root(config: dict) -> str:
    root = str(config["lake"]["root"])
    return root if is_s3(root) else str(Path(root).resolve())


def table_uri(config: dict, table: str) -> str:
    return join(lake_root(config), table)


def staging_uri(config: dict, run_id: str) -> str:
    return join(lake_root(config), "_staging", run_id)


def split_s3(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` -> ``("bucket", "a/b")``."""
    parsed = urlparse(uri)
    return parsed.netloc, parsed.path.lstrip("/")


def _credentials() -> dict[str, str]:
    creds = {}
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        if os.environ.get(name):
            creds[name] = os.environ[name]
    return creds


def delta_storage_options(config: dict) -> dict[str, str]:
    """Options for delta-rs (``deltalake``) to reach the lake's object store."""
    store = config.get("object_store", {})
    options = {**_credentials(), "AWS_REGION": store.get("region") or "us-east-1"}
    if store.get("endpoint"):
        options["AWS_ENDPOINT_URL"] = store["endpoint"]
        options["AWS_ALLOW_HTTP"] = "true" if store["endpoint"].startswith("http://") else "false"
        # S3-compatible servers that implement conditional writes make commits safe
        # without a lock service; SeaweedFS does.
        options["conditional_put"] = "etag"
    return options


def object_store_env(config: dict) -> dict[str, str]:
    """Environment variables the embedded engine (Sail) reads to reach S3."""
    store = config.get("object_store", {})
    env = {"AWS_REGION": store.get("region") or "us-east-1"}
    if store.get("endpoint"):
        env["AWS_ENDPOINT"] = store["endpoint"]
        env["AWS_ENDPOINT_URL"] = store["endpoint"]
        env["AWS_ALLOW_HTTP"] = "true" if store["endpoint"].startswith("http://") else "false"
    return env


def s3_client(config: dict) -> Any:
    import boto3
    from botocore.config import Config

    store = config.get("object_store", {})
    creds = _credentials()  # read now, so a changed environment is seen (boto3 caches)
    return boto3.client(
        "s3",
        endpoint_url=store.get("endpoint") or None,
        region_name=store.get("region") or "us-east-1",
        aws_access_key_id=creds.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=creds.get("AWS_SECRET_ACCESS_KEY"),
        aws_session_token=creds.get("AWS_SESSION_TOKEN"),
        config=Config(retries={"max_attempts": 3, "mode": "standard"},
                      s3={"addressing_style": "path"}),
    )


def arrow_filesystem(config: dict, uri: str):
    """A pyarrow filesystem and the path inside it for ``uri``."""
    from pyarrow import fs

    if not is_s3(uri):
        return fs.LocalFileSystem(), str(uri)
    store = config.get("object_store", {})
    endpoint = store.get("endpoint")
    kwargs: dict[str, Any] = {"region": store.get("region") or "us-east-1"}
    creds = _credentials()
    if creds:
        kwargs.update(access_key=creds.get("AWS_ACCESS_KEY_ID"),
                      secret_key=creds.get("AWS_SECRET_ACCESS_KEY"),
                      session_token=creds.get("AWS_SESSION_TOKEN"))
    if endpoint:
        parsed = urlparse(endpoint)
        kwargs.update(endpoint_override=parsed.netloc, scheme=parsed.scheme or "https")
    bucket, key = split_s3(uri)
    return fs.S3FileSystem(**kwargs), f"{bucket}/{key}"


def make_dirs(config: dict, uri: str) -> None:
    if not is_s3(uri):
        Path(uri).mkdir(parents=True, exist_ok=True)


def remove_tree(config: dict, uri: str) -> None:
    """Delete a folder (local) or every object under a prefix (S3)."""
    if not is_s3(uri):
        import shutil

        shutil.rmtree(uri, ignore_errors=True)
        return
    bucket, prefix = split_s3(uri.rstrip("/") + "/")
    client = s3_client(config)
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys})


def list_s3(config: dict, uri: str) -> Iterator[tuple[str, int]]:
    """Yield (s3 uri, size) of the objects matching ``uri`` (a prefix or a glob)."""
    bucket, key = split_s3(uri)
    wildcard = any(ch in key for ch in "*?[")
    prefix = key.split("*")[0].split("?")[0].split("[")[0] if wildcard else key
    client = s3_client(config)
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            name = item["Key"]
            if wildcard and not fnmatch.fnmatch(name, key):
                continue
            if not wildcard and name != key and not name.startswith(key.rstrip("/") + "/"):
                continue
            yield f"s3://{bucket}/{name}", item["Size"]


def open_binary(config: dict, uri: str):
    """Open a local file or an S3 object for streaming binary reads."""
    if not is_s3(uri):
        return open(uri, "rb")
    bucket, key = split_s3(uri)
    return s3_client(config).get_object(Bucket=bucket, Key=key)["Body"]


# --- Publication (lake.publish): where curated Parquet goes, and small-object I/O ------

def publish_root(config: dict) -> str:
    """Root of the published catalog: ``publish.root`` of the configuration, else the
    folder ``publish`` beside the lake root (``/data/lake`` -> ``/data/publish``,
    ``s3://bucket/lake`` -> ``s3://bucket/publish``).

    >>> publish_root({"lake": {"root": "s3://b/x/lake"}})
    's3://b/x/publish'
    >>> publish_root({"lake": {"root": "/l"}, "publish": {"root": "s3://p/cat/"}})
    's3://p/cat'
    """
    root = (config.get("publish") or {}).get("root")
    if root:
        root = str(root).rstrip("/")
        return root if is_s3(root) else str(Path(root).resolve())
    lake = lake_root(config).rstrip("/")
    return posixpath.join(posixpath.dirname(lake), "publish") if is_s3(lake) \
        else str(Path(lake).parent / "publish")


def write_bytes(config: dict, uri: str, data: bytes, content_type: str | None = None) -> None:
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
    s3_client(config).put_object(Bucket=bucket, Key=key, Body=data, **extra)


def read_bytes(config: dict, uri: str) -> bytes:
    with open_binary(config, uri) as handle:
        return handle.read()


def exists(config: dict, uri: str) -> bool:
    """Whether a file/object exists (not a folder or prefix)."""
    if not is_s3(uri):
        return Path(uri).is_file()
    from botocore.exceptions import ClientError

    bucket, key = split_s3(uri)
    try:
        s3_client(config).head_object(Bucket=bucket, Key=key)
        return True
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise


def list_files(config: dict, uri: str) -> list[str]:
    """Every file/object under a folder or prefix (recursive), sorted; [] when absent."""
    if is_s3(uri):
        return sorted(name for name, _ in list_s3(config, uri.rstrip("/") + "/"))
    root = Path(uri)
    return sorted(str(p) for p in root.rglob("*") if p.is_file()) if root.is_dir() else []


def list_dirs(config: dict, uri: str) -> list[str]:
    """Names of the immediate sub-folders (common prefixes on S3) of ``uri``, sorted."""
    if not is_s3(uri):
        root = Path(uri)
        return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    bucket, prefix = split_s3(uri.rstrip("/") + "/")
    names = []
    paginator = s3_client(config).get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
        names += [p["Prefix"][len(prefix):].rstrip("/") for p in page.get("CommonPrefixes", [])]
    return sorted(names)


def delete_file(config: dict, uri: str) -> None:
    if not is_s3(uri):
        Path(uri).unlink(missing_ok=True)
        return
    bucket, key = split_s3(uri)
    s3_client(config).delete_object(Bucket=bucket, Key=key)
