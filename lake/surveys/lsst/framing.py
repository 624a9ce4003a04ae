"""Rubin packets as they arrive: Avro container files, or the Kafka wire framing.

* Avro container files (``Obj\\x01``, schema embedded; one or many alerts, any codec): what
  archives and brokers' exports hold (every real file of ``../shared/data/lsst``). Read by
  the bounded container reader the ZTF ingest uses (``lake.sources.avro.read_container``).
* Confluent wire framing (what a Kafka consumer of Rubin's stream receives): one magic byte
  0, a 4-byte big-endian schema id, then one schemaless Avro record. The id is looked up
  in Rubin's registry convention (``schemas.registry``); an id no official schema has is
  quarantined (``UnknownSchemaId``), as is any other first byte (``NotAvro``).
"""
from __future__ import annotations

import io

import fastavro

from lake.sources.avro import (DEFAULT_MAX_DECODED_BYTES, AvroError, CorruptAvro, MAGIC,
                               NotAvro, OversizedAlert, TruncatedAvro, WriterSchema,
                               read_container, writer_schema)
from lake.surveys.lsst import schemas

WIRE_MAGIC = 0
WIRE_HEADER = 5


class UnknownSchemaId(AvroError):
    """A wire-framed packet whose schema id no official Rubin schema has."""


def wire_header(data: bytes) -> int | None:
    """The schema id of a wire-framed packet, None when ``data`` is not one."""
    if len(data) >= WIRE_HEADER and data[0] == WIRE_MAGIC:
        return int.from_bytes(data[1:WIRE_HEADER], "big")
    return None


def frame(schema_id: int, payload: bytes) -> bytes:
    """The wire framing of a schemaless Avro payload (what Rubin's producers send)."""
    return bytes([WIRE_MAGIC]) + schema_id.to_bytes(4, "big") + payload


def read_wire(data: bytes, max_decoded_bytes: int | None = None
              ) -> tuple[WriterSchema, list[dict]]:
    """The one record of a wire-framed packet and the official schema it was written with."""
    schema_id = wire_header(data)
    if schema_id is None:
        raise NotAvro("not a Kafka wire packet: the first byte is not the magic byte 0"
                      if data[:1] != b"\x00" else "wire packet shorter than its 5-byte header")
    known = schemas.registry().get(schema_id)
    if known is None:
        ids = ", ".join(str(i) for i in sorted(schemas.registry()))
        raise UnknownSchemaId(f"schema id {schema_id} is no Rubin alert schema (known: {ids})")
    payload = data[WIRE_HEADER:]
    room = max_decoded_bytes or DEFAULT_MAX_DECODED_BYTES
    if len(payload) > room:
        raise OversizedAlert(f"packet of {len(payload)} bytes exceeds the cap of {room} bytes "
                             "(ingest.max_alert_bytes)")
    schema = writer_schema(known[1])
    block = io.BytesIO(payload)
    try:
        record = fastavro.schemaless_reader(block, schema.parsed, None)
    except EOFError as error:
        raise TruncatedAvro(f"packet ends inside its record (schema id {schema_id})") from error
    except Exception as error:    # fastavro raises many kinds for bytes that lie
        raise CorruptAvro(f"record does not match schema id {schema_id}: "
                          f"{type(error).__name__}: {error}") from error
    if block.tell() != len(payload):
        raise CorruptAvro(f"{len(payload) - block.tell()} bytes after the record "
                          f"(schema id {schema_id}): not one packet of that schema")
    return schema, [record]


def read_packets(data: bytes, max_decoded_bytes: int | None = None
                 ) -> tuple[WriterSchema, list[dict]]:
    """Packets of one file in either framing (see module doc)."""
    if data.startswith(MAGIC):
        return read_container(data, max_decoded_bytes)
    if data[:1] == b"\x00":
        return read_wire(data, max_decoded_bytes)
    raise NotAvro("neither an Avro container (Obj\\x01) nor a Kafka wire packet "
                  "(magic byte 0): wrong first byte")
