"""A bounded fuzzing pass over the alert decode (``lake.bronze.decode.decode_items``):
real alerts (ZTF null-codec, deflate and snappy, LSST) mutated by bit flips, truncations,
random bytes and huge declared lengths, and plain random bytes. Every input must either
decode or become exactly one quarantine row holding its bytes; nothing may raise, and
memory stays bounded (Python allocations traced per example)."""
from __future__ import annotations

import functools
import io
import tracemalloc

import fastavro
from hypothesis import HealthCheck, given, settings, strategies as st

from lake.bronze.decode import decode_items
from lake.sources import SourceItem
from tests import lakecheck

MAX_DECODED = 8 << 20           # the per-alert cap given to every fuzzed item
MEMORY_BOUND = 96 << 20          # traced peak allowed per example (caps + a margin)
# Bounded for CI (both tests together take well under a minute on one core); derandomized
# so a failure reproduces. Raise max_examples locally for a longer pass.
FUZZ = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


def reencoded(data: bytes, codec: str) -> bytes:
    reader = fastavro.reader(io.BytesIO(data))
    out = io.BytesIO()
    fastavro.writer(out, reader.writer_schema, list(reader), codec=codec)
    return out.getvalue()


@functools.cache
def real_seeds(shared_data) -> list[tuple[bytes, int]]:
    """(bytes, offset of the first block) of a few real alerts (a plain function, not a
    fixture, so that a failing example does not print megabytes of seeds)."""
    ztf = lakecheck.alert_files(str(shared_data / "ztf" / "nights"
                                    / "ztf_public_20181129.tar.gz"))[:2]
    snappy = lakecheck.alert_files(str(shared_data / "ztf" / "alerts"
                                       / "mixed_schemas_snappy"))[:1]
    lsst = sorted(p for p in (shared_data / "lsst" / "alerts").rglob("*.avro")
                  if p.stat().st_size < 400_000)[:1]
    found = [data for _, data in ztf + snappy] + [p.read_bytes() for p in lsst]
    found.append(reencoded(ztf[0][1], "deflate"))
    return [(data, records_start(data)) for data in found]


def records_start(data: bytes) -> int:
    """Offset of the first block: mutations aimed past it hit the alert's own fields
    (the ~10 kB schema before it and the stamps after it would take most of them)."""
    from lake.sources.avro import _read_header

    return _read_header(data)[2]


def zigzag_varint(value: int) -> bytes:
    value = (value << 1) ^ (value >> 63)
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


where = st.tuples(st.booleans(), st.floats(0, 1, exclude_max=True))   # (in the records?, at)
mutation = st.one_of(
    st.tuples(st.just("flip"), st.lists(st.tuples(where, st.integers(0, 7)),
                                        min_size=1, max_size=8)),
    st.tuples(st.just("truncate"), where),
    st.tuples(st.just("splice"), where, st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("length"), where,
              st.sampled_from([2**31 - 1, 2**31, 2**40, 2**62, -(2**62), -1])),
    st.tuples(st.just("random"), st.binary(max_size=2048), st.booleans()),
)
RECORD_SPAN = 2048            # bytes after the first block's start aimed at by "in the records"


def position(seed: tuple[bytes, int], at: tuple[bool, float]) -> int:
    data, start = seed
    in_records, fraction = at
    if in_records:
        return min(len(data) - 1, start + int(fraction * RECORD_SPAN))
    return int(fraction * len(data))


def mutate(seed: tuple[bytes, int], change) -> bytes:
    data, kind = seed[0], change[0]
    if kind == "flip":
        out = bytearray(data)
        for at, bit in change[1]:
            out[position(seed, at)] ^= 1 << bit
        return bytes(out)
    if kind == "truncate":
        return data[:position(seed, change[1])]
    if kind == "splice":
        at = position(seed, change[1])
        return data[:at] + change[2] + data[at + len(change[2]):]
    if kind == "length":      # a huge or negative declared length (block size, count, string)
        at = position(seed, change[1])
        return data[:at] + zigzag_varint(change[2]) + data[at + 1:]
    noise, with_magic = change[1], change[2]
    return (b"Obj\x01" + noise) if with_magic else noise


def fuzz_items(seeds, picks) -> list[SourceItem]:
    return [SourceItem("fuzz.tar.gz", f"m{index}.avro", None,
                       mutate(seeds[seed % len(seeds)], change),
                       max_decoded_bytes=MAX_DECODED)
            for index, (seed, change) in enumerate(picks)]


@FUZZ
@given(picks=st.lists(st.tuples(st.integers(0, 15), mutation), min_size=1, max_size=3))
def test_every_mutated_alert_decodes_or_is_quarantined(shared_data, picks):
    seeds = real_seeds(shared_data)
    items = fuzz_items(seeds, picks)
    items.append(SourceItem("fuzz.tar.gz", "clean.avro", None, seeds[0][0]))
    tracemalloc.start()
    try:
        tables = decode_items(items, "fuzz")           # must not raise
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_BOUND, f"decode peaked at {peak} bytes"
    landed = tables["alert"].column("member").to_pylist() if "alert" in tables else []
    quarantine = tables["quarantine"].to_pylist()
    assert "clean.avro" in landed
    for item in items:
        rows = [row for row in quarantine if row["member"] == item.member]
        assert (item.member in landed) != bool(rows), item.member   # exactly one outcome
        if rows:
            assert len(rows) == 1 and rows[0]["raw"] == item.data and rows[0]["error_class"]


@functools.cache
def real_record(shared_data) -> tuple[dict, dict, list[tuple[str, str, object]]]:
    """A real ZTF alert as (writer schema, record, [(where, field name, Avro type)])."""
    data = real_seeds(shared_data)[0][0]
    reader = fastavro.reader(io.BytesIO(data))
    schema, record = reader.writer_schema, next(reader)
    fields = {f["name"]: f["type"] for f in schema["fields"]}
    candidate = next(t for t in ([fields["candidate"]] if isinstance(fields["candidate"], dict)
                                 else fields["candidate"]) if isinstance(t, dict))
    scalar = [("top", f["name"], f["type"]) for f in schema["fields"]
              if f["name"] not in ("candidate", "prv_candidates", "cutoutScience",
                                   "cutoutTemplate", "cutoutDifference")]
    scalar += [("candidate", f["name"], f["type"]) for f in candidate["fields"]]
    return schema, record, scalar


# Fields the ingest reads itself (keys, night, detections): drawn more often than the rest.
USED_BY_THE_LAKE = {"objectId", "candid", "jd", "fid", "ra", "dec", "magpsf", "sigmapsf",
                    "isdiffpos", "schemavsn", "publisher", "rb", "drb", "magnr", "distnr"}


def value_of(avro_type):
    """Any value an Avro field of this type can hold, odd ones included (NaN, inf,
    extreme integers, empty and non-ASCII text, null where allowed)."""
    options = avro_type if isinstance(avro_type, list) else [avro_type]
    strategies = []
    for option in options:
        option = option.get("type") if isinstance(option, dict) else option
        strategies.append({
            "null": st.none(), "boolean": st.booleans(), "string": st.text(max_size=40),
            "int": st.integers(-2**31, 2**31 - 1), "long": st.integers(-2**63, 2**63 - 1),
            "float": st.floats(width=32), "double": st.floats(),
            "bytes": st.binary(max_size=64)}.get(option, st.none()))
    return st.one_of(strategies)


@settings(FUZZ, max_examples=120)
@given(data=st.data())
def test_every_rewritten_field_decodes_or_is_quarantined(shared_data, data):
    """Well-formed Avro whose values are odd: a schema-aware pass that reaches the
    decode's own checks and conversions (byte mutations mostly break the container)."""
    schema, record, scalar = real_record(shared_data)
    used = [field for field in scalar if field[1] in USED_BY_THE_LAKE]
    changed = dict(record, candidate=dict(record["candidate"]))
    for _ in range(data.draw(st.integers(1, 4))):
        where, name, avro_type = data.draw(st.one_of(st.sampled_from(used),
                                                     st.sampled_from(scalar)))
        target = changed if where == "top" else changed["candidate"]
        target[name] = data.draw(value_of(avro_type))
    out = io.BytesIO()
    try:
        fastavro.writer(out, schema, [changed])
    except Exception:      # fastavro cannot write it (e.g. a union it cannot resolve)
        return
    item = SourceItem("fuzz", "rewritten.avro", None, out.getvalue(),
                      max_decoded_bytes=MAX_DECODED)
    tables = decode_items([item], "fuzz")              # must not raise
    landed = tables["alert"].num_rows if "alert" in tables else 0
    quarantined = tables["quarantine"].num_rows
    assert (landed, quarantined) in ((1, 0), (0, 1))
    if quarantined:
        assert tables["quarantine"].column("raw")[0].as_py() == item.data
