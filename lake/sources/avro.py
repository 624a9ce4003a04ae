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
import itertools
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


class OversizedAlert(AvroError):
    """Decompressing the file would exceed the cap on decoded bytes (``ingest.max_alert_bytes``)."""


DEFAULT_MAX_DECODED_BYTES = 64 << 20


@dataclass(frozen=True)
class WriterSchema:
    """A parsed writer schema, shared by every file that embeds the same schema text."""

    key: int
    raw: dict
    parsed: Any


_schemas: dict[bytes, WriterSchema] = {}
_schema_keys = itertools.count()
MAX_CACHED_SCHEMAS = 256


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


def _read_varint(buffer: bytes) -> tuple[int, int]:
    """Unsigned varint at the start (snappy's uncompressed length) -> (value, size)."""
    value = 0
    for index, byte in enumerate(buffer[:10]):
        value |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            return value, index + 1
    raise CorruptAvro("snappy block without a valid length")


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


def _zero_width(avro_type, named: dict, seen: frozenset = frozenset()) -> bool:
    """Whether a value of this type may be encoded in no bytes at all."""
    if isinstance(avro_type, str):
        if avro_type in named and avro_type not in seen:
            return _zero_width(named[avro_type], named, seen | {avro_type})
        return avro_type == "null"
    if isinstance(avro_type, dict):
        kind = avro_type.get("type")
        if kind == "record":
            name = avro_type.get("name")
            return all(_zero_width(f.get("type"), named, seen | {name})
                       for f in avro_type.get("fields", []) if isinstance(f, dict))
        if kind == "fixed":
            return avro_type.get("size") == 0
        if kind in ("array", "map", "enum") or kind is None:
            return False
        return _zero_width(kind, named, seen)
    return False          # a union takes at least its branch index


def _has_zero_width_array(avro_type, named: dict) -> bool:
    """Whether an array anywhere in the schema has items that take no bytes."""
    if isinstance(avro_type, list):
        return any(_has_zero_width_array(t, named) for t in avro_type)
    if not isinstance(avro_type, dict):
        return False
    if avro_type.get("type") in ("record", "error", "enum", "fixed") and avro_type.get("name"):
        named.setdefault(avro_type["name"], avro_type)
        if avro_type.get("namespace"):
            named.setdefault(f"{avro_type['namespace']}.{avro_type['name']}", avro_type)
    kind = avro_type.get("type")
    if kind == "array":
        return (_zero_width(avro_type.get("items"), named)
                or _has_zero_width_array(avro_type.get("items"), named))
    if kind == "map":
        return _has_zero_width_array(avro_type.get("values"), named)
    if kind in ("record", "error"):
        return any(_has_zero_width_array(f.get("type"), named)
                   for f in avro_type.get("fields", []) if isinstance(f, dict))
    return _has_zero_width_array(kind, named) if isinstance(kind, (dict, list)) else False


def writer_schema(schema_bytes: bytes) -> WriterSchema:
    cached = _schemas.get(schema_bytes)
    if cached is None:
        try:
            raw = json.loads(schema_bytes)
            parsed = fastavro.parse_schema(raw, _write_hint=False)
        except Exception as error:
            raise CorruptAvro(f"unreadable writer schema: {error}") from error
        if not isinstance(raw, dict) or raw.get("type") != "record":
            raise CorruptAvro("writer schema is not a record")
        try:
            zero_width_array = _has_zero_width_array(raw, {})
        except RecursionError:
            zero_width_array = True
        if zero_width_array:
            raise CorruptAvro("writer schema has an array of items that take no bytes "
                              "(a count could make the reader loop without bound)")
        cached = WriterSchema(key=next(_schema_keys), raw=raw, parsed=parsed)
        if len(_schemas) >= MAX_CACHED_SCHEMAS:   # input with endless schemas: stay bounded
            _schemas.pop(next(iter(_schemas)))
        _schemas[schema_bytes] = cached
    return cached


def _too_big(size: int, room: int) -> OversizedAlert:
    return OversizedAlert(f"decoded blocks exceed the cap of {room} bytes left of "
                          f"ingest.max_alert_bytes (block of at least {size} bytes)")


def _decompress(codec: str, payload: bytes, room: int) -> bytes:
    """A block's bytes, decompressed only up to ``room`` bytes (a deflate bomb stops there;
    a snappy block's declared length is checked before anything is allocated)."""
    if codec == "null":
        if len(payload) > room:
            raise _too_big(len(payload), room)
        return payload
    if codec == "deflate":
        inflater = zlib.decompressobj(-15)
        try:
            data = inflater.decompress(payload, room + 1)
        except zlib.error as error:
            raise CorruptAvro(f"deflate block: {error}") from error
        if len(data) > room:
            raise _too_big(len(data), room)
        if not inflater.eof:
            raise CorruptAvro("deflate block ends before its end marker")
        return data
    if codec == "snappy":
        import cramjam

        declared, _ = _read_varint(payload)
        if declared > room:
            raise _too_big(declared, room)
        # Avro's snappy blocks carry a 4-byte CRC32 of the uncompressed data.
        try:
            data = bytes(cramjam.snappy.decompress_raw(payload[:-4]))
        except Exception as error:   # cramjam raises its own DecompressionError
            raise CorruptAvro(f"snappy block: {error}") from error
        if zlib.crc32(data) & 0xFFFFFFFF != int.from_bytes(payload[-4:], "big"):
            raise CorruptAvro("snappy block CRC mismatch")
        return data
    raise CorruptAvro(f"unsupported Avro codec {codec!r}")


def read_container(buffer: bytes, max_decoded_bytes: int | None = None
                   ) -> tuple[WriterSchema, list[dict]]:
    """Decode every record of an Avro container file held in memory, decompressing at
    most ``max_decoded_bytes`` (default DEFAULT_MAX_DECODED_BYTES) of blocks.

    Raises :class:`AvroError` (NotAvro, CorruptAvro, TruncatedAvro, OversizedAlert) for
    bad input, never anything else.
    """
    meta, sync, pos = _read_header(buffer)
    if "avro.schema" not in meta:
        raise CorruptAvro("header has no avro.schema")
    schema = writer_schema(meta["avro.schema"])
    codec = meta.get("avro.codec", b"null").decode("utf-8", "replace") or "null"
    room = max_decoded_bytes or DEFAULT_MAX_DECODED_BYTES
    records: list[dict] = []
    end = len(buffer)
    while pos < end:
        count, pos = _read_long(buffer, pos)
        size, pos = _read_long(buffer, pos)
        if size < 0 or count < 0:
            raise CorruptAvro("negative block size or record count")
        if pos + size + SYNC_SIZE > end:
            raise TruncatedAvro(f"block of {size} bytes runs past the end of the file")
        data = _decompress(codec, buffer[pos:pos + size], room)
        room -= len(data)
        # An alert record takes at least one byte; a larger count is a lie that would
        # otherwise make the reader loop (and allocate) without bound.
        if count > max(len(data), 1):
            raise CorruptAvro(f"block declares {count} records in {len(data)} bytes")
        block = io.BytesIO(data)
        pos += size
        if buffer[pos:pos + SYNC_SIZE] != sync:
            raise CorruptAvro("expected sync marker not found after a block")
        pos += SYNC_SIZE
        try:
            for _ in range(count):
                records.append(fastavro.schemaless_reader(block, schema.parsed, None))
        except Exception as error:  # fastavro raises many kinds for bytes that lie
            raise CorruptAvro(f"record does not match its schema: {type(error).__name__}: "
                              f"{error}") from error
        if block.tell() != len(block.getbuffer()):
            raise CorruptAvro("block holds more bytes than its records")
    if not records:
        raise CorruptAvro("container holds no record")
    return schema, records
