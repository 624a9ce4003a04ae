"""Decode Avro object container files (one ZTF alert per file) with fastavro.

Every ZTF alert file embeds its full writer schema. Parsing it costs about as much as
decoding the record, so the container header is read here and the parsed schema is
cached by its bytes; the records themselves are decoded by fastavro's C reader. The
codecs ZTF and its brokers use are supported: null, deflate and snappy.

Errors are raised as :class:`AvroError` subclasses with a short class name, which the
ingest stores in the quarantine table.
"""
from __future__ import annotations

import io
import json
import zlib
from dataclasses import dataclass
from typing import Any

import fastavro

MAGIC = b"Obj\x01"
SYNC_SIZE = 16


class AvroError(ValueError):
    """A file that is not a readable Avro container."""


class NotAvro(AvroError):
    pass


class CorruptAvro(AvroError):
    pass


class TruncatedAvro(AvroError):
    pass


@dataclass(frozen=True)
class WriterSchema:
    """A parsed writer schema, shared by every file that embeds the same schema text."""

    key: int
    raw: dict
    parsed: Any


_schemas: dict[bytes, WriterSchema] = {}


def _read_long(buffer: bytes, pos: int) -> tuple[int, int]:
    """Zig-zag varint at ``pos`` -> (value, new position)."""
    shift = result = 0
    while True:
        if pos >= len(buffer):
            raise TruncatedAvro("file ends inside a header or block length")
        byte = buffer[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7
        if shift > 63:
            raise CorruptAvro("varint longer than 64 bits")


def _read_bytes(buffer: bytes, pos: int) -> tuple[bytes, int]:
    size, pos = _read_long(buffer, pos)
    if size < 0 or pos + size > len(buffer):
        raise TruncatedAvro("file ends inside the header")
    return buffer[pos:pos + size], pos + size


def _read_header(buffer: bytes) -> tuple[dict[str, bytes], bytes, int]:
    if not buffer.startswith(MAGIC):
        raise NotAvro("no Avro magic bytes (Obj\\x01) at the start of the file")
    pos = len(MAGIC)
    meta: dict[str, bytes] = {}
    while True:
        count, pos = _read_long(buffer, pos)
        if count == 0:
            break
        if count < 0:  # a negative count is followed by the block's byte size
            count = -count
            _, pos = _read_long(buffer, pos)
        for _ in range(count):
            key, pos = _read_bytes(buffer, pos)
            value, pos = _read_bytes(buffer, pos)
            meta[key.decode("utf-8", "replace")] = value
    if pos + SYNC_SIZE > len(buffer):
        raise TruncatedAvro("file ends before the sync marker")
    return meta, buffer[pos:pos + SYNC_SIZE], pos + SYNC_SIZE


def writer_schema(schema_bytes: bytes) -> WriterSchema:
    cached = _schemas.get(schema_bytes)
    if cached is None:
        try:
            raw = json.loads(schema_bytes)
            parsed = fastavro.parse_schema(raw, _write_hint=False)
        except Exception as error:
            raise CorruptAvro(f"unreadable writer schema: {error}") from error
        cached = WriterSchema(key=len(_schemas), raw=raw, parsed=parsed)
        _schemas[schema_bytes] = cached
    return cached


def _decompress(codec: str, payload: bytes) -> bytes:
    if codec == "null":
        return payload
    if codec == "deflate":
        return zlib.decompress(payload, -15)
    if codec == "snappy":
        import cramjam

        # Avro's snappy blocks carry a 4-byte CRC32 of the uncompressed data.
        data = bytes(cramjam.snappy.decompress_raw(payload[:-4]))
        if zlib.crc32(data) & 0xFFFFFFFF != int.from_bytes(payload[-4:], "big"):
            raise CorruptAvro("snappy block CRC mismatch")
        return data
    raise CorruptAvro(f"unsupported Avro codec {codec!r}")


def read_container(buffer: bytes) -> tuple[WriterSchema, list[dict]]:
    """Decode every record of an Avro container file held in memory.

    Raises :class:`AvroError` (NotAvro, CorruptAvro, TruncatedAvro) for bad input.
    """
    meta, sync, pos = _read_header(buffer)
    if "avro.schema" not in meta:
        raise CorruptAvro("header has no avro.schema")
    schema = writer_schema(meta["avro.schema"])
    codec = meta.get("avro.codec", b"null").decode() or "null"
    records: list[dict] = []
    end = len(buffer)
    while pos < end:
        count, pos = _read_long(buffer, pos)
        size, pos = _read_long(buffer, pos)
        if size < 0 or count < 0:
            raise CorruptAvro("negative block size or record count")
        if pos + size + SYNC_SIZE > end:
            raise TruncatedAvro(f"block of {size} bytes runs past the end of the file")
        block = io.BytesIO(_decompress(codec, buffer[pos:pos + size]))
        pos += size
        if buffer[pos:pos + SYNC_SIZE] != sync:
            raise CorruptAvro("expected sync marker not found after a block")
        pos += SYNC_SIZE
        try:
            for _ in range(count):
                records.append(fastavro.schemaless_reader(block, schema.parsed, None))
        except (EOFError, IndexError, ValueError, UnicodeDecodeError, TypeError) as error:
            raise CorruptAvro(f"record does not match its schema: {type(error).__name__}: "
                              f"{error}") from error
        if block.tell() != len(block.getbuffer()):
            raise CorruptAvro("block holds more bytes than its records")
    if not records:
        raise CorruptAvro("container holds no record")
    return schema, records
