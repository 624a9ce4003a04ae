"""Where alerts come from: a nightly ``ztf_public_YYYYMMDD.tar.gz``, a folder or glob of
``.avro`` files, locally or on S3. Yields raw file bytes; never decodes.

Nothing read here can make the ingest fail or hold unbounded memory. Whatever cannot
be taken as an alert file becomes one :class:`SourceItem` carrying an ``error``
(``"ErrorClass: reason"``) and the bytes that were safe to keep, which the decode turns
into a quarantine row:

- ``OversizedMember``: a file or tar member larger than ``ingest.max_member_bytes``;
  only its first ``ingest.quarantine_head_bytes`` are kept. Tarballs are decompressed
  piece by piece as they are read, so a gzip bomb is never expanded in memory.
- ``TruncatedTarball``: the tarball breaks off (or is corrupt) inside a member (its
  partial bytes are kept) or after its last whole member.
- ``TarLink`` / ``TarSpecialMember``: symbolic or hard links, FIFOs and devices inside a
  tarball (no bytes: links are never followed). Directory members are skipped: they hold
  no bytes, and the files under them arrive as members of their own.
- ``LinkOutsideSource``: a symbolic link in a folder or glob source that points outside
  the source folder (or nowhere); it is not followed and nothing outside is read.
- ``NotRegularFile`` / ``UnreadableFile``: a FIFO, socket or device in a folder, or a
  file that cannot be opened or read.
"""
from __future__ import annotations

import collections
import glob
import os
import re
import stat
import tarfile
import zlib
from dataclasses import dataclass
from typing import Iterator

from lake import storage
# The night in an archive's name is the survey's naming (ZTF's here); kept importable
# from lake.sources for the callers that predate lake.surveys.
from lake.surveys.ztf.night import night_from_name  # noqa: F401

TARBALL_SUFFIXES = (".tar.gz", ".tgz", ".tar")
GZIP_MAGIC = b"\x1f\x8b"
READ_PIECE = 1 << 16          # bytes asked of a source (and produced by gunzip) at a time

# Caps (``ingest:`` in conf/default.yaml). The largest real alert file in the shared data
# is 1.6 MB (an LSST container of several alerts; the largest ZTF alert is 80 kB) and the
# largest decoded Avro block 312 kB, so these leave a margin of 20x and more.
DEFAULT_MAX_MEMBER_BYTES = 32 << 20
DEFAULT_MAX_ALERT_BYTES = 64 << 20
DEFAULT_QUARANTINE_HEAD_BYTES = 64 << 10


class SourceError(RuntimeError):
    """The source itself is missing or empty: the job stops with one clear line."""


@dataclass
class SourceItem:
    source: str            # the file or tarball this came from
    member: str            # file name (inside the tarball for tarballs)
    night: int | None      # YYYYMMDD from the source's name, if it has one
    data: bytes
    error: str | None = None   # "ErrorClass: reason" when the bytes are not an alert file
    max_decoded_bytes: int | None = None   # cap on the Avro bytes decoded from ``data``


@dataclass(frozen=True)
class Limits:
    max_member_bytes: int = DEFAULT_MAX_MEMBER_BYTES
    max_alert_bytes: int = DEFAULT_MAX_ALERT_BYTES
    head_bytes: int = DEFAULT_QUARANTINE_HEAD_BYTES

    @classmethod
    def of(cls, config: dict) -> "Limits":
        ingest = config.get("ingest") or {}
        return cls(int(ingest.get("max_member_bytes") or DEFAULT_MAX_MEMBER_BYTES),
                   int(ingest.get("max_alert_bytes") or DEFAULT_MAX_ALERT_BYTES),
                   int(ingest.get("quarantine_head_bytes") or DEFAULT_QUARANTINE_HEAD_BYTES))


class ListedFile(str):
    """A path found by listing a folder or glob (not named by the user). ``refusal`` says
    why it is not read (a link out of the folder, a FIFO...); a listed regular file is
    opened without following links, so it cannot be swapped for one after the listing;
    a link to a file inside the folder is read through ``target``, its resolved path."""

    refusal: str | None = None
    target: str | None = None

    @classmethod
    def link(cls, path: str, target: str) -> "ListedFile":
        listed = cls(path)
        listed.target = target
        return listed

    @classmethod
    def refused(cls, path: str, refusal: str) -> "ListedFile":
        listed = cls(path)
        listed.refusal = refusal
        return listed


def _within(path: str, root: str) -> bool:
    return os.path.commonpath([path, root]) == root


def _listed(path: str, root: str) -> ListedFile | None:
    """A listed entry as a ListedFile (refused or to read), or None to leave it out."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        target = os.path.realpath(path)
        if not _within(target, root) or not os.path.exists(target):
            return ListedFile.refused(
                path, "LinkOutsideSource: symbolic link pointing outside the source folder "
                      "(or nowhere); links out of the source are never followed")
        if os.path.isdir(target):
            return None        # its files are listed under their own path in the folder
        return ListedFile.link(path, target) if os.path.isfile(target) else ListedFile.refused(
            path, "NotRegularFile: symbolic link to something that is not a regular file")
    if stat.S_ISDIR(info.st_mode):
        return None
    if not stat.S_ISREG(info.st_mode):
        return ListedFile.refused(
            path, f"NotRegularFile: {_kind(info.st_mode)}; only regular files are read")
    return ListedFile(path)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def _list_folder(folder: str) -> list[ListedFile]:
    root = os.path.realpath(folder)
    found = []
    for directory, subdirs, names in os.walk(folder, followlinks=False):
        for name in sorted(subdirs) + names:
            if name.startswith("."):
                continue
            listed = _listed(os.path.join(directory, name), root)
            if listed is not None:
                found.append(listed)
        subdirs[:] = [d for d in subdirs if not d.startswith(".")]
    return found


def _list_glob(pattern: str) -> list[ListedFile]:
    fixed = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
    root = os.path.realpath(os.path.dirname(fixed) or ".")
    found = (_listed(p, root) for p in glob.glob(pattern, recursive=True))
    return [listed for listed in found if listed is not None]


def resolve(config: dict, source: str) -> list[str]:
    """Expand a source argument into the files to read, or raise SourceError."""
    if storage.is_s3(source):
        files = sorted(uri for uri, size in storage.list_s3(config, source))
    elif any(ch in source for ch in "*?["):
        files = sorted(_list_glob(source))
    elif os.path.isdir(source):
        files = sorted(_list_folder(source))
    elif os.path.isfile(source):
        files = [source]       # named by the user: a link is theirs to follow
    else:
        raise SourceError(f"source not found: {source}")
    if not files:
        raise SourceError(f"source is empty: {source} holds no file")
    return files


def _is_tarball(name: str) -> bool:
    return name.endswith(TARBALL_SUFFIXES)


class _TarStream:
    """The plain tar bytes of a tarball, gunzipped only as far as they are read (so a
    gzip bomb is expanded piece by piece, never whole). Keeps a window of the latest
    bytes it produced, so the part of a member read before the stream broke off can be
    recovered, and says whether the compressed stream ended before its end marker."""

    def __init__(self, handle, window: int):
        self.handle, self.window_size = handle, window
        self.position = 0                 # offset in the plain tar stream
        self.recent: collections.deque[tuple[int, bytes]] = collections.deque()
        self.recent_bytes = 0             # (pieces are kept by reference: no copy)
        self.truncated = False
        self.pending = handle.read(READ_PIECE)
        self.inflater = self._new_inflater() if self.pending.startswith(GZIP_MAGIC) else None

    @staticmethod
    def _new_inflater():
        return zlib.decompressobj(16 + zlib.MAX_WBITS)

    def _produce(self, size: int) -> bytes:
        if self.inflater is None:
            data, self.pending = self.pending[:size], self.pending[size:]
            return data or self.handle.read(size)
        while True:
            if not self.pending:
                self.pending = self.handle.read(READ_PIECE)
                if not self.pending:
                    if not self.inflater.eof:
                        self.truncated = True
                    return b""
            if self.inflater.eof:   # a concatenated gzip member follows, or trailing junk
                rest = self.inflater.unused_data + self.pending
                if not rest.startswith(GZIP_MAGIC):
                    self.pending = b""
                    return b""
                self.inflater, self.pending = self._new_inflater(), rest
            data = self.inflater.decompress(self.pending, size)
            self.pending = self.inflater.unconsumed_tail
            if data:
                return data

    def read(self, size: int = READ_PIECE) -> bytes:
        pieces, got = [], 0
        while got < size:
            data = self._produce(size - got)
            if not data:
                break
            pieces.append(data)
            got += len(data)
        out = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        if out:
            self.recent.append((self.position, out))
            self.recent_bytes += len(out)
            while self.recent_bytes - len(self.recent[0][1]) >= self.window_size:
                self.recent_bytes -= len(self.recent.popleft()[1])
            self.position += len(out)
        return out

    def since(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes from ``offset`` on, of what the window still holds."""
        kept = b"".join(piece[max(0, offset - start):] for start, piece in self.recent
                        if start + len(piece) > offset)
        return kept[:size]


def _link_or_special(member: tarfile.TarInfo) -> str | None:
    """The quarantine reason of a member that is not a regular file (None: read it)."""
    if member.isfile():
        return None
    if member.issym() or member.islnk():
        kind = "symbolic" if member.issym() else "hard"
        return (f"TarLink: member is a {kind} link to {member.linkname!r}; "
                f"links are never followed")
    for test, name in ((member.isfifo, "a FIFO"), (member.ischr, "a character device"),
                       (member.isblk, "a block device")):
        if test():
            return f"TarSpecialMember: member is {name}, which holds no alert"
    return f"TarSpecialMember: member of tar type {member.type!r}, which holds no alert"


def _tar_members(source: str, handle, night: int | None, limits: Limits
                 ) -> Iterator[SourceItem]:
    """Every member of a tarball read as a stream (see the module doc for what becomes a
    quarantine item). Directory members are skipped: they hold no bytes of their own."""
    stream = _TarStream(handle, limits.max_member_bytes + (1 << 20))
    current: tarfile.TarInfo | None = None

    def item(member_name: str, data: bytes, error: str | None = None) -> SourceItem:
        return SourceItem(source, os.path.basename(member_name), night, data, error,
                          limits.max_alert_bytes)

    try:
        with tarfile.open(fileobj=stream, mode="r|", bufsize=READ_PIECE) as archive:
            for member in archive:
                if member.isdir():
                    continue
                reason = _link_or_special(member)
                if reason:
                    yield item(member.name, b"", reason)
                    continue
                current = member
                reader = archive.extractfile(member)
                if member.size > limits.max_member_bytes:
                    head = reader.read(min(limits.head_bytes, member.size))
                    current = None
                    yield item(member.name, head,
                               f"OversizedMember: member of {member.size} bytes, over the "
                               f"cap ingest.max_member_bytes={limits.max_member_bytes}; "
                               f"first {len(head)} bytes kept")
                    continue          # the rest is skipped by reading through it, piecewise
                data = reader.read()
                current = None
                yield item(member.name, data)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        if current is not None:
            size = min(current.size, limits.head_bytes if current.size >
                       limits.max_member_bytes else current.size)
            partial = stream.since(current.offset_data, size)
            yield item(current.name, partial,
                       f"TruncatedTarball: tarball unreadable in member {current.name} "
                       f"after {len(partial)} of its {current.size} bytes: "
                       f"{type(error).__name__}: {error}")
        else:
            yield item("<rest of tarball>", b"",
                       f"TruncatedTarball: tarball unreadable after its last whole member: "
                       f"{type(error).__name__}: {error}")
        return
    if stream.truncated:
        yield item("<rest of tarball>", b"",
                   "TruncatedTarball: tarball unreadable after its last whole member: the "
                   "gzip stream ends before its end marker")


def _read_capped(handle, limits: Limits) -> tuple[bytes, int | None]:
    """(bytes, None) for a file within the cap, else (its first bytes, bytes seen)."""
    data = bytearray()
    while len(data) <= limits.max_member_bytes:
        piece = handle.read(min(READ_PIECE, limits.max_member_bytes + 1 - len(data)))
        if not piece:
            return bytes(data), None
        data += piece
    return bytes(data[:limits.head_bytes]), len(data)


def _open(config: dict, path: str):
    if isinstance(path, ListedFile) and not storage.is_s3(path):
        return os.fdopen(os.open(path.target or path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)),
                         "rb")
    return storage.open_binary(config, path)


def iter_items(config: dict, files: list[str], night: int | None = None) -> Iterator[SourceItem]:
    """Yield every alert file's bytes (or a quarantine item), in a stable order."""
    limits = Limits.of(config)
    for path in files:
        file_night = night or night_from_name(path)
        name = os.path.basename(path)
        refusal = getattr(path, "refusal", None)
        if refusal:
            yield SourceItem(path, name, file_night, b"", refusal, limits.max_alert_bytes)
            continue
        try:
            with _open(config, path) as handle:
                if _is_tarball(path):
                    yield from _tar_members(path, handle, file_night, limits)
                    continue
                data, seen = _read_capped(handle, limits)
        except OSError as error:
            yield SourceItem(path, name, file_night, b"",
                             f"UnreadableFile: {type(error).__name__}: {error}",
                             limits.max_alert_bytes)
            continue
        error = None if seen is None else (
            f"OversizedMember: file of more than {limits.max_member_bytes} bytes, over the cap "
            f"ingest.max_member_bytes; first {len(data)} bytes kept")
        yield SourceItem(path, name, file_night, data, error, limits.max_alert_bytes)
