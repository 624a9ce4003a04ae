"""Rubin's official alert schemas (the ``lsst-alert-packet`` package) as the lake uses them.

* ``registry()``: schema id -> writer schema, for packets in the Kafka wire framing. The id
  is Rubin's registry convention (``lsst.alert.packet.Schema.get_schema_id``): major * 100
  + minor, so 7.4 -> 704, 10.0 -> 1000, 11.0 -> 1100.
* ``canonical(kind)``: one Arrow field list per record kind (``diaSource``,
  ``diaForcedSource``, ``diaObject``, ``ssSource``, ``ssObject``, ``mpc_orbits``), the union
  of the fields of every supported version with the widest type any version gives a field
  (int -> long, float -> double). Staging tables are built with it, so a night of schema 7.4
  and a night of 11.0 land in one table schema (11.0 made nullable ints non-nullable: Arrow
  columns are nullable either way).

Nothing is copied from the package: the ``.avsc`` files are read from where it installs them.
"""
from __future__ import annotations

import functools
import json
import os

import pyarrow as pa

from lake.bronze.flatten import AVRO_TO_ARROW, non_null, record_of

# The oldest schema the lake reads; every later one the package ships is read too.
OLDEST = (7, 4)
# Record kinds of an alert: the packet field(s) holding them (9.0 called the orbits MPCORB).
KINDS = {
    "diaSource": ("diaSource", "prvDiaSources"),
    "diaForcedSource": ("prvDiaForcedSources",),
    "diaObject": ("diaObject",),
    "ssSource": ("ssSource",),
    "ssObject": ("ssObject",),
    "mpc_orbits": ("mpc_orbits", "MPCORB"),
}
WIDER = {pa.int32(): pa.int64(), pa.float32(): pa.float64()}
TIMESTAMP = pa.timestamp("us", tz="UTC")


def arrow_type(avro_type) -> pa.DataType:
    """Arrow type of a primitive (nullable) Avro field type; timestamps as UTC timestamps."""
    avro_type = non_null(avro_type)
    if isinstance(avro_type, dict):
        if str(avro_type.get("logicalType", "")).startswith("timestamp-"):
            return TIMESTAMP
        avro_type = avro_type.get("type")
    if isinstance(avro_type, list) or avro_type not in AVRO_TO_ARROW:
        return pa.string()
    return AVRO_TO_ARROW[avro_type]


def flat_fields(record: dict | None) -> list[tuple[str, pa.DataType]]:
    """(name, Arrow type) of a record schema's primitive fields, in schema order."""
    if record is None:
        return []
    return [(f["name"], arrow_type(f["type"])) for f in record["fields"]
            if record_of(f["type"]) is None]


def kind_record(schema: dict, kind: str) -> dict | None:
    """The record schema of ``kind`` in an alert schema (None when this version has none)."""
    fields = {f["name"]: f["type"] for f in schema.get("fields", [])}
    for name in KINDS[kind]:
        if name in fields:
            return record_of(fields[name])
    return None


def _widest(a: pa.DataType, b: pa.DataType) -> pa.DataType:
    """One type for a field two versions type differently (int/long -> long,
    float/double -> double; anything else lands as text)."""
    if a == b:
        return a
    a, b = WIDER.get(a, a), WIDER.get(b, b)
    return a if a == b else pa.string()


@functools.lru_cache(maxsize=1)
def official() -> dict[tuple[int, int], dict]:
    """(major, minor) -> fully resolved alert schema, every version from OLDEST on."""
    from lsst.alert.packet import Schema, get_schema_root

    root = get_schema_root()
    versions = {}
    for major in os.listdir(root):
        for minor in (os.listdir(os.path.join(root, major)) if major.isdigit() else ()):
            if not minor.isdigit() or (int(major), int(minor)) < OLDEST:
                continue
            path = os.path.join(root, major, minor, f"lsst.v{major}_{minor}.alert.avsc")
            if os.path.exists(path):
                versions[(int(major), int(minor))] = Schema.from_file(path).definition
    return dict(sorted(versions.items()))


def schema_id(version: tuple[int, int]) -> int:
    """Rubin's registry id of a schema version (major * 100 + minor)."""
    return version[0] * 100 + version[1]


@functools.lru_cache(maxsize=1)
def registry() -> dict[int, tuple[tuple[int, int], bytes]]:
    """Schema id -> (version, schema JSON text) of every supported version."""
    return {schema_id(v): (v, json.dumps(s).encode()) for v, s in official().items()}


@functools.lru_cache(maxsize=None)
def canonical(kind: str) -> tuple[tuple[str, pa.DataType], ...]:
    """The fields of a record kind over every supported version: the newest version's
    order first, then fields only older versions had; each with its widest type."""
    types: dict[str, pa.DataType] = {}
    for version in sorted(official(), reverse=True):
        for name, dtype in flat_fields(kind_record(official()[version], kind)):
            types[name] = _widest(types[name], dtype) if name in types else dtype
    return tuple(types.items())


def version_of(schema: dict) -> tuple[int, int] | None:
    """Version of an alert schema from its name (``lsst.v10_0.alert``), None when the name
    says none (brokers re-serve packets under their own record names)."""
    import re

    match = re.search(r"v(\d+)_(\d+)", str(schema.get("name", "")))
    return (int(match.group(1)), int(match.group(2))) if match else None
