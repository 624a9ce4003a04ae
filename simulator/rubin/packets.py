"""Rubin alert records of an official schema, and their two framings.

The schemas are the ``lsst-alert-packet`` package's (read where it installs them; nothing is
copied). ``record(version, **top)`` fills every field a caller does not give with the
type's neutral value (null for a nullable field, 0, "", False), so that a test or the night
simulator writes only the fields it means; ``container`` and ``wire`` encode records as an
Avro container file (any codec) or as one Kafka wire packet (magic byte 0, the 4-byte
schema id, schemaless Avro).
"""
from __future__ import annotations

import functools
import io
from typing import Iterable

import fastavro

from lake.surveys.lsst import framing, schemas

NEUTRAL = {"int": 0, "long": 0, "float": 0.0, "double": 0.0, "string": "", "boolean": False,
           "bytes": b""}


@functools.lru_cache(maxsize=None)
def definition(version: tuple[int, int]) -> dict:
    return schemas.official()[version]


@functools.lru_cache(maxsize=None)
def parsed(version: tuple[int, int]):
    return fastavro.parse_schema(definition(version))


def _neutral(avro_type):
    if isinstance(avro_type, list):
        return None if "null" in avro_type else _neutral(avro_type[0])
    if isinstance(avro_type, dict):
        kind = avro_type.get("type")
        if kind == "record":
            return fill(avro_type, {})
        if kind == "array":
            return []
        return _neutral(kind)
    return NEUTRAL.get(avro_type)


def fill(record_schema: dict, values: dict) -> dict:
    """A record of ``record_schema``: ``values`` where given, else neutral values."""
    return {f["name"]: values[f["name"]] if f["name"] in values else _neutral(f["type"])
            for f in record_schema["fields"]}


def kind_schema(version: tuple[int, int], kind: str) -> dict:
    return schemas.kind_record(definition(version), kind)


def source(version: tuple[int, int], **values) -> dict:
    """A diaSource of the schema version."""
    return fill(kind_schema(version, "diaSource"), values)


def forced_source(version: tuple[int, int], **values) -> dict:
    return fill(kind_schema(version, "diaForcedSource"), values)


def dia_object(version: tuple[int, int], **values) -> dict:
    return fill(kind_schema(version, "diaObject"), values)


def record(version: tuple[int, int], **top) -> dict:
    """An alert record of the schema version (top-level fields from ``top``)."""
    return fill(definition(version), top)


def container(records: Iterable[dict], version: tuple[int, int], codec: str = "null") -> bytes:
    out = io.BytesIO()
    fastavro.writer(out, parsed(version), list(records), codec=codec)
    return out.getvalue()


def wire(alert: dict, version: tuple[int, int], schema_id: int | None = None) -> bytes:
    """One Kafka wire packet (the schema id of ``version`` unless ``schema_id`` is given)."""
    out = io.BytesIO()
    fastavro.schemaless_writer(out, parsed(version), alert)
    return framing.frame(schemas.schema_id(version) if schema_id is None else schema_id,
                         out.getvalue())
