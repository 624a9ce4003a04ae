"""Where alerts come from: a nightly ``ztf_public_YYYYMMDD.tar.gz``, a folder or glob of
``.avro`` files, locally or on S3. Yields raw file bytes; never decodes.

A source that cannot be read whole (a truncated tarball, an unreadable member) yields
what was readable, then one :class:`SourceItem` carrying the error and whatever bytes
were recovered, so the ingest can quarantine it instead of losing it.
"""
from __future__ import annotations

import glob
import os
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from lake import storage
# The night in an archive's name is the survey's naming (ZTF's here); kept importable
# from lake.sources for the callers that predate lake.surveys.
from lake.surveys.ztf.night import night_from_name  # noqa: F401

TARBALL_SUFFIXES = (".tar.gz", ".tgz", ".tar")


class SourceError(RuntimeError):
    """The source itself is missing or empty: the job stops with one clear line."""


@dataclass
class SourceItem:
    source: str            # the file or tarball this came from
    member: str            # file name (inside the tarball for tarballs)
    night: int | None      # YYYYMMDD from the source's name, if it has one
    data: bytes
    error: str | None = None   # "ErrorClass: message" when the bytes could not be read whole


def resolve(config: dict, source: str) -> list[str]:
    """Expand a source argument into the files to read, or raise SourceError."""
    if storage.is_s3(source):
        files = sorted(uri for uri, size in storage.list_s3(config, source))
    elif any(ch in source for ch in "*?["):
        files = sorted(p for p in glob.glob(source, recursive=True) if os.path.isfile(p))
    elif os.path.isdir(source):
        files = sorted(str(p) for p in Path(source).rglob("*")
                       if p.is_file() and not p.name.startswith("."))
    elif os.path.isfile(source):
        files = [source]
    else:
        raise SourceError(f"source not found: {source}")
    if not files:
        raise SourceError(f"source is empty: {source} holds no file")
    return files


def _is_tarball(name: str) -> bool:
    return name.endswith(TARBALL_SUFFIXES)


def _tar_members(source: str, handle, night: int | None) -> Iterator[SourceItem]:
    member_name, partial = None, bytearray()
    try:
        with tarfile.open(fileobj=handle, mode="r|*") as archive:
            for member in archive:
                if not member.isfile():
                    continue
                member_name, partial = member.name, bytearray()
                reader = archive.extractfile(member)
                # Read in pieces so that a member cut short keeps the bytes it has.
                while chunk := reader.read(1 << 20):
                    partial += chunk
                yield SourceItem(source, os.path.basename(member.name), night, bytes(partial))
                member_name = None
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        # Everything read whole has been yielded; keep the piece that broke.
        where = f"in member {member_name}" if member_name else "after its last whole member"
        yield SourceItem(source, os.path.basename(member_name or "") or "<rest of tarball>",
                         night, bytes(partial) if member_name else b"",
                         f"TruncatedTarball: tarball unreadable {where}: "
                         f"{type(error).__name__}: {error}")


def iter_items(config: dict, files: list[str], night: int | None = None) -> Iterator[SourceItem]:
    """Yield every alert file's bytes, in a stable order."""
    for path in files:
        file_night = night or night_from_name(path)
        with storage.open_binary(config, path) as handle:
            if _is_tarball(path):
                yield from _tar_members(path, handle, file_night)
            else:
                yield SourceItem(path, os.path.basename(path), file_night, handle.read())
