"""Fingerprint a lake and its publication, to check that a refactor preserved behaviour.

Issue 16's acceptance asks that ``make demo`` produce identical tables and manifests before
and after the refactor. This script therefore reads only the *outputs* (Delta tables, the
published JSON and Parquet) with deltalake / pyarrow / numpy / pandas, and never imports the
project's ``lake`` package: it runs unchanged on the old tree and on the new one.

    python bench/lake_fingerprint.py --lake var/demo/lake --publish var/demo/publish --out a.json
    python bench/lake_fingerprint.py --compare a.json b.json     # exit 1 when anything differs

What is compared, and why so:

* **Every Delta table** under ``--lake`` (every folder holding a ``_delta_log``): its row
  count, its columns and their Arrow types, an order-independent hash of its rows, and one
  per column (a multiset hash of that column's values, which tells *which* columns differ).
  Row order, file layout and Delta versions are the write layer's business, not behaviour,
  so they do not count. A row is hashed from a canonical text of each of its columns, in
  column-name order: floats rounded to 10 significant digits (1e-9 relative: a changed
  summation order may change the last bits), -0.0 as 0, NaN / +inf / -inf / null each as
  their own token (null stays distinct from NaN: SQL treats them differently); integers and
  booleans as their value (so a widened integer type keeps its hashes; the type change is
  reported separately); binary values as their sha256; nested values (lists, structs, maps)
  as canonical JSON with the same float rounding; timestamps as integer ticks with unit and
  zone. The table hash is the sha256 of the sorted 128-bit row hashes (each row: the
  value hashes of its columns, two keyed SipHash-64 from ``pandas.util.hash_array``, mixed
  in column order). Limitation: rounding cannot be tolerant everywhere; two floats 1e-12
  apart that straddle a 10th-digit rounding boundary hash differently (about one value in
  a hundred such pairs), and ``--compare`` then names the column so it can be checked by hand.
* **Strings that embed where the lake is** (input file paths of the simulated nights, for
  example) are compared with the lake root, its parent folder and the publication root
  replaced by ``<LAKE>``, ``<LAKE_PARENT>``, ``<PUBLISH>``: two demo runs into two folders
  then compare equal, while any other change to those strings still counts.
* **Columns that legitimately differ between two runs of the same code** are left out, per
  table, by ``EXCLUDED`` below (run ids, timestamps, durations, code version, host, an input
  fingerprint hashed from absolute paths, Delta versions). The script prints the list it
  applied to each table and stores it in its output.
* **The publication** under ``--publish``: ``latest.json``, ``nights/*.json`` and every
  ``catalog/<version>/manifest.json``, canonicalized with the keys of ``PUBLISH_VOLATILE``
  removed (timestamps, code version, file byte sizes and sha256, the validation id, Delta
  versions), paths normalized as above, and each version name (``<night>-<digest of the
  code version and Delta versions>``) replaced by ``<version NIGHT>``. Every published
  Parquet file is fingerprinted by its *content* (read with pyarrow, same canonical row
  hashing as the tables), not by its bytes, so a new pyarrow or writer setting does not
  count as a change. The HTML reports hold timestamps and are only checked to exist. The
  Delta versions recorded in the JSON are kept under ``info`` and printed when they differ;
  ``--strict-versions`` makes them count.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable

FORMAT = "lake-fingerprint/1"
SIGNIFICANT_DIGITS = 10
# Two independent SipHash keys (16 bytes each): 128 bits per value and per row.
HASH_KEYS = ("alert-lake-fp-k1", "alert-lake-fp-k2")
NULL = "\x00null"
BATCH_ROWS = 65_536

# Columns left out of each table's fingerprint (by table name, i.e. the folder name), and why.
EXCLUDED: dict[str, dict[str, str]] = {
    "run": {
        "run_id": "stage name + start time + random suffix",
        "started_at": "wall-clock time",
        "finished_at": "wall-clock time",
        "duration_s": "timing",
        "code_version": "package version + git commit",
        "host": "machine name",
        "inputs": "sha256 of the input files' absolute paths and sizes (paths move with the lake)",
    },
    "validation": {
        "validation_id": "night + time + random suffix",
        "validated_at": "wall-clock time",
        "code_version": "package version + git commit",
        "table_version": "Delta version of the validated table: counts commits, not rows",
    },
    "alert": {"ingest_run_id": "id of the ingest run (time + random suffix)"},
    "quarantine": {"ingest_run_id": "id of the ingest run (time + random suffix)"},
}
# Folders under the lake that are not part of its content.
SKIPPED_DIRS = {"_staging", "_delta_log"}

# Keys removed from the publication's JSON documents (anywhere in the tree), and why.
PUBLISH_VOLATILE: dict[str, str] = {
    "published_at": "wall-clock time",
    "exported_at": "wall-clock time",
    "code_version": "package version + git commit",
    "validation_id": "night + time + random suffix",
    "sha256": "digest of file bytes (writer-dependent; content is hashed instead) or of the "
              "HTML documents, which hold timestamps",
    "bytes": "file sizes (writer-dependent; content is hashed instead)",
    "delta_versions": "Delta versions count commits, not rows (kept under info)",
    "sources": "Delta versions of the sources of a catalog table (kept under info)",
    "versions": "Delta versions of the validated tables (kept under info)",
    "seconds": "timing",
}
VERSION_KEYS = ("delta_versions", "sources", "versions")


# --- canonical values ------------------------------------------------------------------

def canonical_floats(values: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Text of each float rounded to SIGNIFICANT_DIGITS significant digits, written as an
    integer mantissa and a power of ten (exact: no float-printing subtleties)."""
    x = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(x) & (x != 0)
    with np.errstate(all="ignore"):
        exponent = np.floor(np.log10(np.abs(np.where(finite, x, 1.0)))).astype(np.int64)
        shift = SIGNIFICANT_DIGITS - 1 - exponent
        # Scale in two steps so that 10**shift never overflows for tiny or huge values.
        half = shift // 2
        mantissa = np.round(x * 10.0 ** half * 10.0 ** (shift - half))
        carry = np.abs(mantissa) >= 10.0 ** SIGNIFICANT_DIGITS  # 9.99..96 gains a digit
        mantissa = np.where(carry, np.round(mantissa / 10.0), mantissa)
        shift = np.where(carry, shift - 1, shift)
    mantissa = np.where(finite, mantissa, 0).astype(np.int64)
    out = np.char.add(np.char.add(mantissa.astype(str), "e"), (-shift).astype(str)).astype(object)
    out[x == 0] = "0"
    out[np.isnan(x)] = "nan"
    out[x == np.inf] = "inf"
    out[x == -np.inf] = "-inf"
    if valid is not None:
        out[~valid] = NULL
    return out


def canonical_float(value: float) -> str:
    return canonical_floats(np.array([value], dtype=np.float64))[0]


def _canonical_json_value(value):
    if isinstance(value, float):
        return {"f": canonical_float(value)}
    if isinstance(value, (bytes, bytearray)):
        return {"b": hashlib.sha256(value).hexdigest()}
    if isinstance(value, dict):
        return {str(k): _canonical_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):  # a map arrives as a list of (key, value) tuples
        return [_canonical_json_value(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def canonical_json(value) -> str:
    return json.dumps(_canonical_json_value(value), sort_keys=True, separators=(",", ":"),
                      default=str)


class PathNormalizer:
    """Replaces the absolute folders of one run by tokens, longest first."""

    def __init__(self, replacements: dict[str, str]):
        self.pairs = sorted(((k, v) for k, v in replacements.items() if k),
                            key=lambda kv: -len(kv[0]))

    def __call__(self, text: str) -> str:
        for folder, token in self.pairs:
            text = text.replace(folder, token)
        return text

    def array(self, values: pa.Array) -> pa.Array:
        for folder, token in self.pairs:
            values = pc.replace_substring(values, folder, token)
        return values


def canonical_column(column: pa.Array, normalize: PathNormalizer) -> np.ndarray:
    """One canonical string per value of an Arrow array (an object ndarray)."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column, kind = column.dictionary_decode(), kind.value_type
    valid = np.asarray(column.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_floating(kind):
        values = pc.fill_null(column.cast(pa.float64()), 0.0).to_numpy(zero_copy_only=False)
        return canonical_floats(values, valid)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or \
            pa.types.is_string_view(kind):
        text = normalize.array(column.cast(pa.string()))
        out = np.asarray(pc.fill_null(text, "").to_numpy(zero_copy_only=False), dtype=object)
    elif pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or \
            pa.types.is_fixed_size_binary(kind) or pa.types.is_binary_view(kind):
        out = np.array([hashlib.sha256(v).hexdigest() if v is not None else NULL
                        for v in column.to_pylist()], dtype=object)
    elif pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        filled = pc.fill_null(column, False if pa.types.is_boolean(kind) else 0)
        out = filled.to_numpy(zero_copy_only=False).astype(str).astype(object)
    elif pa.types.is_timestamp(kind) or pa.types.is_date(kind) or pa.types.is_time(kind) \
            or pa.types.is_duration(kind):
        width = pa.int32() if kind.bit_width == 32 else pa.int64()
        ticks = pc.fill_null(column.cast(width), 0).to_numpy(zero_copy_only=False)
        out = np.char.add(ticks.astype(str), f" {kind}").astype(object)
    elif pa.types.is_nested(kind):
        out = np.array([normalize(canonical_json(v)) if v is not None else NULL
                        for v in column.to_pylist()], dtype=object)
    elif pa.types.is_null(kind):
        out = np.full(len(column), NULL, dtype=object)
    else:  # decimals and anything else: Python's text of the value
        out = np.array([str(v) for v in column.to_pylist()], dtype=object)
    out[~valid] = NULL
    return out


# --- tables ----------------------------------------------------------------------------

class TableHasher:
    """Accumulates the row hashes and the per-column multiset hashes of one table."""

    MIX = np.uint64(0x100000001B3)  # FNV-64 prime: the position of a column changes the row hash

    def __init__(self, columns: list[str]):
        self.columns = columns
        self.rows: list[np.ndarray] = []
        self.column_sums = {c: np.zeros(len(HASH_KEYS), dtype=np.uint64) for c in columns}
        self.count = 0

    def add(self, batch: pa.RecordBatch | pa.Table, normalize: PathNormalizer) -> None:
        n = batch.num_rows
        if n == 0:
            return
        acc = [np.full(n, np.uint64(len(self.columns)), dtype=np.uint64) for _ in HASH_KEYS]
        with np.errstate(over="ignore"):
            for index, name in enumerate(self.columns):
                column = batch.column(name)
                if isinstance(column, pa.ChunkedArray):
                    column = column.combine_chunks()
                texts = canonical_column(column, normalize)
                for k, key in enumerate(HASH_KEYS):
                    h = pd.util.hash_array(texts, hash_key=key, categorize=False)
                    acc[k] = (acc[k] ^ h) * self.MIX + np.uint64(index + 1)
                    # A sum of value hashes (mod 2**64) is an order-independent multiset hash.
                    self.column_sums[name][k] += h.sum(dtype=np.uint64)
        self.rows.append(np.stack(acc, axis=1))
        self.count += n

    def result(self) -> dict:
        rows = np.concatenate(self.rows) if self.rows else np.zeros((0, 2), dtype=np.uint64)
        rows = rows[np.lexsort((rows[:, 1], rows[:, 0]))]
        digest = hashlib.sha256(np.ascontiguousarray(rows).astype(">u8").tobytes())
        return {"rows": self.count, "columns": self.columns, "hash": digest.hexdigest(),
                "column_hashes": {c: "".join(f"{int(v):016x}" for v in sums)
                                  for c, sums in self.column_sums.items()}}


def find_delta_tables(lake: Path) -> list[Path]:
    found = []
    for folder, dirs, _files in os.walk(lake):
        if "_delta_log" in dirs:
            found.append(Path(folder))
            dirs[:] = []  # a table's own folders (partitions) hold no other table
            continue
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
    return sorted(found)


def fingerprint_delta(path: Path, normalize: PathNormalizer) -> dict:
    dataset = DeltaTable(str(path)).to_pyarrow_dataset()
    excluded_spec = EXCLUDED.get(path.name, {})
    names = sorted(dataset.schema.names)
    kept = [c for c in names if c not in excluded_spec]
    hasher = TableHasher(kept)
    for batch in dataset.to_batches(columns=kept, batch_size=BATCH_ROWS):
        hasher.add(batch, normalize)
    result = hasher.result()
    result["schema"] = {f.name: str(f.type) for f in dataset.schema if f.name in kept}
    result["excluded"] = [c for c in names if c in excluded_spec]
    return result


def fingerprint_parquet(path: Path, normalize: PathNormalizer) -> dict:
    parquet = pq.ParquetFile(path)
    hasher = TableHasher(sorted(parquet.schema_arrow.names))
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
        hasher.add(batch, normalize)
    result = hasher.result()
    result["schema"] = {f.name: str(f.type) for f in parquet.schema_arrow}
    return result


# --- publication -----------------------------------------------------------------------

def _strip(value, info: dict, where: str):
    """Drops the PUBLISH_VOLATILE keys, keeping Delta versions under ``info``."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in VERSION_KEYS:
                info[f"{where}.{key}"] = item
            if key not in PUBLISH_VOLATILE:
                out[key] = _strip(item, info, f"{where}.{key}")
        return out
    if isinstance(value, list):
        return [_strip(v, info, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def version_labels(root: Path) -> dict[str, str]:
    """Catalog version name -> ``<version NIGHT>`` (``#2``... when a night has several)."""
    labels: dict[str, str] = {}
    catalog = root / "catalog"
    if catalog.is_dir():
        for folder in sorted(p for p in catalog.iterdir() if p.is_dir()):
            night = folder.name.split("-")[0]
            seen = sum(1 for v in labels.values() if v.startswith(f"<version {night}"))
            labels[folder.name] = f"<version {night}{f'#{seen + 1}' if seen else ''}>"
    return labels


def fingerprint_publication(root: Path, normalize: PathNormalizer) -> dict:
    labels = version_labels(root)
    relabel = PathNormalizer({**dict(normalize.pairs), **labels})
    documents, parquet, info, files = {}, {}, {}, []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        name = relabel(path.relative_to(root).as_posix())
        files.append(name)
        if path.suffix == ".json":
            stripped = _strip(json.loads(path.read_text()), info, name)
            documents[name] = json.loads(relabel(json.dumps(stripped, sort_keys=True)))
        elif path.suffix == ".parquet":
            parquet[name] = fingerprint_parquet(path, relabel)
    info = json.loads(relabel(json.dumps(info, sort_keys=True)))
    return {"files": sorted(files), "documents": documents, "parquet": parquet, "info": info,
            "versions": sorted(labels.values())}


# --- fingerprint and compare -----------------------------------------------------------

def fingerprint(lake: Path, publish: Path | None = None) -> dict:
    lake = lake.resolve()
    replacements = {str(lake): "<LAKE>", str(lake.parent): "<LAKE_PARENT>"}
    if publish is not None:
        replacements[str(publish.resolve())] = "<PUBLISH>"
    normalize = PathNormalizer(replacements)
    tables = {}
    for path in find_delta_tables(lake):
        name = path.relative_to(lake).as_posix()
        tables[name] = fingerprint_delta(path, normalize)
        print(f"{name:<20} {tables[name]['rows']:>9} rows {len(tables[name]['columns']):>4} "
              f"columns   excluded: {', '.join(tables[name]['excluded']) or '-'}",
              file=sys.stderr)
    out = {"format": FORMAT, "significant_digits": SIGNIFICANT_DIGITS, "tables": tables,
           "excluded_columns": EXCLUDED, "publish_volatile_keys": PUBLISH_VOLATILE}
    if publish is not None and publish.is_dir():
        out["publication"] = pub = fingerprint_publication(publish.resolve(), normalize)
        print(f"publication: {len(pub['files'])} files, {len(pub['documents'])} JSON, "
              f"{len(pub['parquet'])} Parquet; versions {', '.join(pub['versions'])}",
              file=sys.stderr)
    return out


def _diff_json(a, b, where: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        diffs = []
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                diffs.append(f"{where}.{key}: only in {'B' if key not in a else 'A'}")
            else:
                diffs += _diff_json(a[key], b[key], f"{where}.{key}")
        return diffs
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _diff_json(x, y, f"{where}[{i}]")]
    return [] if a == b else [f"{where}: {json.dumps(a)[:150]} != {json.dumps(b)[:150]}"]


def _compare_hashed(kind: str, a: dict, b: dict, list_equal: bool = True) -> list[str]:
    """Differences between two sets of hashed tables (printed); equal ones are printed
    one by one, or counted when ``list_equal`` is False (the many published files)."""
    problems, equal = [], 0
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            notes = [f"only in {'B' if name not in a else 'A'}"]
        else:
            x, y = a[name], b[name]
            notes = []
            if x["rows"] != y["rows"]:
                notes.append(f"rows {x['rows']} != {y['rows']}")
            for side, mine, other in (("A", x, y), ("B", y, x)):
                only = sorted(set(mine["columns"]) - set(other["columns"]))
                if only:
                    notes.append(f"columns only in {side}: {', '.join(only)}")
            shared = [c for c in x["columns"] if c in y["columns"]]
            types = [f"{c} {x['schema'][c]}->{y['schema'][c]}" for c in shared
                     if x.get("schema", {}).get(c) != y.get("schema", {}).get(c)]
            if types:
                notes.append(f"types differ: {', '.join(types)}")
            differing = [c for c in shared if x["column_hashes"][c] != y["column_hashes"][c]]
            if differing:
                notes.append(f"values differ in: {', '.join(differing)}")
            if x["hash"] != y["hash"] and not notes:
                notes.append("same values per column, paired differently across rows")
        if notes:
            problems.append(f"{kind} {name}: {'; '.join(notes)}")
            print(f"DIFFERENT {kind:<8} {name}: {'; '.join(notes)}")
        else:
            equal += 1
            if list_equal:
                print(f"equal     {kind:<8} {name} ({a[name]['rows']} rows)")
    if not list_equal:
        print(f"equal     {kind:<8} {equal} of {len(set(a) | set(b))} files")
    return problems


def compare(path_a: Path, path_b: Path, strict_versions: bool = False) -> int:
    """Print what is equal and what differs; 1 when anything differs, else 0."""
    a, b = json.loads(Path(path_a).read_text()), json.loads(Path(path_b).read_text())
    problems = _compare_hashed("table", a["tables"], b["tables"])
    pub_a, pub_b = a.get("publication"), b.get("publication")
    if (pub_a is None) != (pub_b is None):
        problems.append("publication present in only one")
        print("DIFFERENT publication: present in only one fingerprint")
    elif pub_a is not None:
        if pub_a["files"] != pub_b["files"]:
            only_a = sorted(set(pub_a["files"]) - set(pub_b["files"]))
            only_b = sorted(set(pub_b["files"]) - set(pub_a["files"]))
            problems.append("published files")
            print(f"DIFFERENT published files: only in A {only_a[:10]}, only in B {only_b[:10]}")
        problems += _compare_hashed("parquet", pub_a["parquet"], pub_b["parquet"],
                                    list_equal=False)
        for name in sorted(set(pub_a["documents"]) | set(pub_b["documents"])):
            diffs = _diff_json(pub_a["documents"].get(name), pub_b["documents"].get(name))
            if diffs:
                problems.append(f"document {name}")
                print(f"DIFFERENT document {name}:")
                for line in diffs[:20]:
                    print(f"    {line}")
            else:
                print(f"equal     document {name}")
        info = _diff_json(pub_a.get("info"), pub_b.get("info"))
        if info:
            print(f"{'DIFFERENT' if strict_versions else 'note:'} Delta versions recorded in "
                  f"the publication differ ({len(info)}):")
            for line in info[:20]:
                print(f"    {line}")
            if strict_versions:
                problems.append("Delta versions")
    verdict = "MATCH" if not problems else f"{len(problems)} difference(s)"
    print(f"\n{verdict}: {path_a} vs {path_b}")
    return 1 if problems else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lake", type=Path, help="lake root (folder holding the tables)")
    parser.add_argument("--publish", type=Path, help="publication root (latest.json ...)")
    parser.add_argument("--out", type=Path, help="fingerprint JSON to write")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("A.json", "B.json"))
    parser.add_argument("--strict-versions", action="store_true",
                        help="with --compare: the Delta versions in the publication count too")
    args = parser.parse_args(argv)
    if args.compare:
        return compare(*args.compare, strict_versions=args.strict_versions)
    if not args.lake or not args.out:
        parser.error("--lake and --out are required (or --compare A.json B.json)")
    result = fingerprint(args.lake, args.publish)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
