"""Serialize a planned season: Avro container files in gzipped tar archives.

Each alert is one Avro object container file (null codec, schema embedded, as ZTF's):
the header (magic, metadata with the writer schema, 16-byte sync marker) is built once
per process; the record is encoded from pieces: the candidate, prv_candidate and fp_hist
records vectorized over a chunk of alerts with numpy (``avrocodec``; each history record
is encoded once per chunk and reused by every alert that carries it), then the top-level
fields and cutouts encoded directly. The sync marker is derived from the candid, so output is
byte-for-byte deterministic for a seed.

A night's archive ``ztf_public_YYYYMMDD.tar.gz`` is one gzip member (as ZTF's, so
streaming readers such as ``tarfile.open(mode="r|gz")`` work) whose deflate stream is the
concatenation of byte-aligned pieces compressed independently, in parallel, by the worker
processes; the main process writes the gzip header, the pieces, a final block and the
trailer (CRC-32 combined from the pieces' CRCs, length). Each alert file is four pieces:
the tar header (stored), the Avro header with the schema (identical in every file:
deflated once per process, its bytes reused), the candidate and histories (deflated at
level 1) and the already-gzipped cutouts (stored), which saves ~80% of the time of
deflating everything.

>>> encode_long(0), encode_long(-1), encode_long(64)
(b'\\x00', b'\\x01', b'\\x80\\x01')
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import multiprocessing as mp
import os
import struct
import tarfile
import time
import zlib
from pathlib import Path

import numpy as np

from . import alerts, avrocodec, cadence, schema, stamps
from .season import Season

CHUNK_SIZE = 250  # alerts per task: fixed, so output does not depend on the process count
MAGIC = b"Obj\x01"


def encode_long(n: int) -> bytes:
    """Avro long: zigzag then base-128 varint."""
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def encode_bytes(b: bytes) -> bytes:
    return encode_long(len(b)) + b


def encode_string(s: str) -> bytes:
    return encode_bytes(s.encode("utf-8"))


def _header_prefix() -> bytes:
    meta = (
        encode_long(2)
        + encode_string("avro.schema")
        + encode_bytes(schema.alert_schema_json())
        + encode_string("avro.codec")
        + encode_bytes(b"null")
        + encode_long(0)
    )
    return MAGIC + meta


_PREFIX: bytes | None = None


def container_parts(head: bytes, tail: bytes, candid: int) -> tuple[bytes, bytes]:
    """An Avro object container file holding one record whose encoding is head + tail,
    without its constant header prefix (``header_prefix()``), in two pieces:
    (sync marker .. head, tail .. end)."""
    sync = hashlib.md5(str(candid).encode()).digest()
    return sync + encode_long(1) + encode_long(len(head) + len(tail)) + head, tail + sync


def header_prefix() -> bytes:
    """Magic and metadata (schema, codec) that start every alert file."""
    global _PREFIX
    if _PREFIX is None:
        _PREFIX = _header_prefix()
    return _PREFIX


def container(datum: bytes, candid: int) -> bytes:
    """An Avro object container file holding one encoded record."""
    return header_prefix() + b"".join(container_parts(datum, b"", candid))


def _array_union(items: list[bytes]) -> bytes:
    if not items:
        return b"\x00"  # null branch
    return b"\x02" + encode_long(len(items)) + b"".join(items) + b"\x00"


def _cutout(file_name: str, data: bytes) -> bytes:
    return b"\x02" + encode_string(file_name) + encode_bytes(data)


def _tar_header(name: str, size: int, mtime: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = mtime
    info.mode = 0o644
    info.uname = info.gname = "ztf"
    return info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "strict")


def _deflate_piece(data: bytes, level: int) -> bytes:
    """Raw deflate blocks of ``data``, byte-aligned and not final (sync flush): pieces from
    independent compressors concatenate into one valid deflate stream."""
    comp = zlib.compressobj(level, zlib.DEFLATED, -15)
    return comp.compress(data) + comp.flush(zlib.Z_SYNC_FLUSH)


def _stored_piece(data: bytes) -> bytes:
    """Deflate stored (uncompressed, non-final) blocks of ``data``: no compressor needed."""
    out = []
    for i in range(0, len(data), 65535):
        block = data[i : i + 65535]
        out.append(b"\x00" + struct.pack("<HH", len(block), 0xFFFF ^ len(block)) + block)
    return b"".join(out)


_HEADER_PIECE: dict = {}


def _avro_header_piece(level: int) -> bytes:
    """Deflated Avro file header (magic, schema, codec): identical in every alert file,
    so it is compressed once per process and its deflate bytes reused."""
    if level not in _HEADER_PIECE:
        _HEADER_PIECE[level] = _deflate_piece(header_prefix(), level)
    return _HEADER_PIECE[level]


def tar_deflate_pieces(files, mtime: int, level: int = 1) -> tuple[bytes, int, int]:
    """Deflate pieces whose decompression is the tar members of ``files`` (name, file
    bytes after the Avro header, already-compressed tail); returns (bytes, tar length,
    CRC-32).

    Per file: the tar header (stored), the Avro header (compressed once, reused), the
    record up to its cutouts (deflated at ``level``) and the already-gzipped cutouts
    (stored: deflating them again would cost ~4x the time for ~nothing).
    """
    header_piece = _avro_header_piece(level)
    prefix = header_prefix()
    prefix_crc = zlib.crc32(prefix)
    out = []
    crc = 0
    raw = 0
    for name, soft, hard in files:
        size = len(prefix) + len(soft) + len(hard)
        pad = b"\0" * ((-size) % 512)
        tar_header = _tar_header(name, size, mtime)
        tail = hard + pad
        out.extend(
            (
                _stored_piece(tar_header),
                header_piece,
                _deflate_piece(soft, level),
                _stored_piece(tail),
            )
        )
        crc = zlib.crc32(tar_header, crc)
        crc = crc32_combine(crc, prefix_crc, len(prefix))
        crc = zlib.crc32(tail, zlib.crc32(soft, crc))
        raw += len(tar_header) + size + len(pad)
    return b"".join(out), raw, crc


# CRC-32 of a concatenation from the CRCs of its parts (zlib's crc32_combine, which
# Python's zlib module does not expose): multiply by x^(8 len2) modulo the polynomial.
_POLY = 0xEDB88320


def _multmodp(a: int, b: int) -> int:
    m, p = 1 << 31, 0
    while True:
        if a & m:
            p ^= b
            if (a & (m - 1)) == 0:
                return p
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1


_X2N = [1 << 30]  # x^(2^k) modulo the polynomial, k = 0..63
for _ in range(63):
    _X2N.append(_multmodp(_X2N[-1], _X2N[-1]))


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC-32 of A + B from crc32(A), crc32(B) and len(B).

    >>> import zlib
    >>> crc32_combine(zlib.crc32(b"alert"), zlib.crc32(b"-lake"), 5) == zlib.crc32(b"alert-lake")
    True
    """
    return _multmodp(_shift_operator(len2), crc1) ^ crc2


@functools.lru_cache(maxsize=1024)
def _shift_operator(length: int) -> int:
    """x^(8 length) modulo the CRC polynomial."""
    p, k, n = 1 << 31, 3, length
    while n:
        if n & 1:
            p = _multmodp(_X2N[k & 63], p)
        n >>= 1
        k += 1
    return p


def encode_chunk(
    season: Season,
    rows: np.ndarray,
    rng: np.random.Generator,
    forced_photometry: bool = True,
    level: int = 1,
):
    """Encode alerts for detection ``rows``: a list of (candid, container file bytes in
    two pieces: up to the cutouts, then the cutouts to the end)."""
    n = len(rows)
    det_index = season.rows["det_index"][rows]
    cand_cols = alerts.candidate_columns(season, det_index)
    cand_bytes = avrocodec.encode_records(schema.CANDIDATE_FIELDS, cand_cols, n)
    lo = alerts.history_bounds(season, rows)
    spans = [np.arange(a, b) for a, b in zip(lo.tolist(), rows.tolist())]
    needed = np.unique(np.concatenate(spans)) if spans else np.zeros(0, np.int64)
    prv_bytes: dict = {}
    fp_bytes: dict = {}
    if len(needed):
        det_cols, nondet_cols, is_det = alerts.prv_columns(season, needed)
        for mask, cols in ((is_det, det_cols), (~is_det, nondet_cols)):
            if mask.any():
                enc = avrocodec.encode_records(schema.PRV_CANDIDATE_FIELDS, cols, int(mask.sum()))
                prv_bytes.update(zip(needed[mask].tolist(), enc))
        if forced_photometry:
            enc = avrocodec.encode_records(
                schema.FP_HIST_FIELDS, alerts.fp_columns(season, needed), len(needed)
            )
            fp_bytes.update(zip(needed.tolist(), enc))
    specs = alerts.stamp_specs(season, det_index, rows)
    version = encode_string(schema.SCHEMA_VERSION)
    publisher = encode_string(schema.PUBLISHER)
    obj_ids = season.object_id[season.rows["obj"][rows]].tolist()
    candids = cand_cols["candid"].tolist()
    pids = cand_cols["pid"].tolist()
    positive = (cand_cols["isdiffpos"] == "t").tolist()
    out = []
    for k, r in enumerate(rows.tolist()):
        candid = candids[k]
        hist = range(int(lo[k]), r)
        sci, ref, diff = stamps.triplet(specs[k], rng)
        stem = f"candid{candid}_pid{pids[k]}"
        diff_kind = "scimref" if positive[k] else "refmsci"
        head = b"".join(
            [
                version,
                publisher,
                encode_string(obj_ids[k]),
                encode_long(candid),
                cand_bytes[k],
                _array_union([prv_bytes[h] for h in hist]),
                _array_union([fp_bytes[h] for h in hist]) if forced_photometry else b"\x00",
            ]
        )
        tail = b"".join(
            [
                _cutout(f"{stem}_targ_sci.fits.gz", stamps.fits_gz(sci, level)),
                _cutout(f"candid{candid}_ref.fits.gz", stamps.fits_gz(ref, level)),
                _cutout(f"{stem}_targ_{diff_kind}.fits.gz", stamps.fits_gz(diff, level)),
            ]
        )
        out.append((candid, *container_parts(head, tail, candid)))
    return out


# --- nights ---------------------------------------------------------------------------
_STATE: dict = {}


def _night_chunks(season: Season, night: int):
    rows = season.alerts[night]
    order = np.lexsort((season.rows["jd"][rows], season.rows["obj"][rows]))
    rows = rows[order]
    return [rows[i : i + CHUNK_SIZE] for i in range(0, len(rows), CHUNK_SIZE)]


def _chunk_task(args):
    night, k, rows = args
    season = _STATE["season"]
    rng = np.random.default_rng([season.seed, int(night), season.partition[0], k, 11])
    mtime = _STATE["mtime"][night]
    files = [
        (f"{candid}.avro", soft, hard)
        for candid, soft, hard in encode_chunk(season, rows, rng, _STATE["fp"], _STATE["level"])
    ]
    return tar_deflate_pieces(files, mtime, _STATE["tar_level"])


class NightArchives:
    """The nightly ``ztf_public_YYYYMMDD.tar.gz`` files of a season, filled by one or
    more planned seasons (the partitions of a large night) and then closed.

    Usage: ``archives = NightArchives(out, nights)``, ``archives.add(season)`` for each
    partition, then ``archives.close()`` (or ``archives.abort()`` on error).
    """

    def __init__(self, out_dir, nights, tar_level: int = 1):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.nights = list(nights)
        self.tar_level = tar_level
        self.paths = {
            n: self.out_dir / f"ztf_public_{cadence.date_of(n)}.tar.gz" for n in self.nights
        }
        self._files = {n: open(self._part(n), "wb") for n in self.nights}  # noqa: SIM115
        self._raw = dict.fromkeys(self.nights, 0)
        self._crc = dict.fromkeys(self.nights, 0)
        for fh in self._files.values():  # gzip header: deflate, no name, mtime 0
            fh.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff")

    def _part(self, night) -> Path:
        return self.paths[night].with_name(self.paths[night].name + ".part")

    def add(
        self,
        season: Season,
        processes: int = 2,
        forced_photometry: bool = True,
        stamp_level: int = 1,
    ) -> None:
        """Encode and append every alert of ``season`` (chunks run on a fork pool)."""
        _STATE.update(
            season=season,
            fp=forced_photometry,
            level=stamp_level,
            tar_level=self.tar_level,
            mtime={
                n: calendar.timegm(time.strptime(cadence.date_of(n), "%Y%m%d")) + 86399
                for n in season.nights
            },
        )
        tasks = [
            (n, k, rows) for n in season.nights for k, rows in enumerate(_night_chunks(season, n))
        ]
        pool = None
        try:
            if processes <= 1:
                results = map(_chunk_task, tasks)
            else:
                pool = mp.get_context("fork").Pool(processes)
                results = pool.imap(_chunk_task, tasks, chunksize=1)
            for (night, _, _), (piece, n_raw, piece_crc) in zip(tasks, results):
                self._files[night].write(piece)
                self._crc[night] = crc32_combine(self._crc[night], piece_crc, n_raw)
                self._raw[night] += n_raw
            if pool is not None:
                pool.close()
                pool.join()
        finally:
            if pool is not None:
                pool.terminate()
            _STATE.clear()

    def close(self) -> list[Path]:
        """Finish every archive (end-of-tar blocks, final deflate block, gzip trailer)."""
        for night, fh in self._files.items():
            # end of archive: two zero blocks, padded to tar's 10240-byte record size
            end = b"\0" * (1024 + (-(self._raw[night] + 1024)) % tarfile.RECORDSIZE)
            comp = zlib.compressobj(self.tar_level, zlib.DEFLATED, -15)
            fh.write(comp.compress(end) + comp.flush(zlib.Z_FINISH))
            crc = crc32_combine(self._crc[night], zlib.crc32(end), len(end))
            fh.write(struct.pack("<II", crc, (self._raw[night] + len(end)) & 0xFFFFFFFF))
            fh.close()
        for night in self.nights:
            os.replace(self._part(night), self.paths[night])
        return [self.paths[n] for n in self.nights]

    def abort(self) -> None:
        """Close and delete the unfinished files."""
        for night, fh in self._files.items():
            fh.close()
            self._part(night).unlink(missing_ok=True)


def write_nights(
    season: Season,
    out_dir,
    processes: int = 2,
    forced_photometry: bool = True,
    stamp_level: int = 1,
    tar_level: int = 1,
) -> list[Path]:
    """Write ``ztf_public_YYYYMMDD.tar.gz`` for every night of the season; return paths."""
    archives = NightArchives(out_dir, season.nights, tar_level)
    try:
        archives.add(season, processes, forced_photometry, stamp_level)
    except BaseException:
        archives.abort()
        raise
    return archives.close()
