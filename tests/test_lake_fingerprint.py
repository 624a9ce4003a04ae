"""bench/lake_fingerprint.py: equal rows in any order (and floats within 1e-12) give equal
fingerprints; a changed value, or values re-paired across rows, give different ones."""
from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "lake_fingerprint.py"
spec = importlib.util.spec_from_file_location("lake_fingerprint", SCRIPT)
fp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fp)

ROWS = [
    {"oid": "ZTF18aaa", "fid": 1, "mag": 18.123456789012, "flux": None, "stamp": b"\x00\x01",
     "hist": [1.5, 2.25], "note": None},
    {"oid": "ZTF18aab", "fid": 2, "mag": -0.000123456789, "flux": math.nan, "stamp": b"\x02",
     "hist": [], "note": "ok"},
    {"oid": "ZTF18aac", "fid": 1, "mag": 1.0e20 / 3.0, "flux": math.inf, "stamp": None,
     "hist": None, "note": "x"},
]
SCHEMA = pa.schema([("oid", pa.string()), ("fid", pa.int32()), ("mag", pa.float64()),
                    ("flux", pa.float32()), ("stamp", pa.binary()),
                    ("hist", pa.list_(pa.float64())), ("note", pa.string())])


def write_lake(root: Path, rows: list[dict], table: str = "detection", schema=SCHEMA) -> Path:
    write_deltalake(str(root / table), pa.Table.from_pylist(rows, schema=schema), mode="append")
    return root


def table_fingerprint(root: Path, table: str = "detection") -> dict:
    return fp.fingerprint(root)["tables"][table]


def test_order_and_tiny_float_noise_do_not_count(tmp_path):
    noisy = [dict(r) for r in reversed(ROWS)]
    for row in noisy:
        row["mag"] *= 1 + 1e-12
        row["hist"] = None if row["hist"] is None else [v * (1 - 1e-12) for v in row["hist"]]
    a = table_fingerprint(write_lake(tmp_path / "a", ROWS))
    b = table_fingerprint(write_lake(tmp_path / "b", noisy[:1]))
    write_lake(tmp_path / "b", noisy[1:])  # a second commit: other files, same rows
    b = table_fingerprint(tmp_path / "b")
    assert a["rows"] == b["rows"] == 3
    assert a["hash"] == b["hash"]
    assert a["column_hashes"] == b["column_hashes"]


def test_a_changed_value_changes_the_hash_and_names_the_column(tmp_path, capsys):
    changed = [dict(r) for r in ROWS]
    changed[1]["mag"] *= 1 + 1e-7
    for name, rows in (("a", ROWS), ("b", changed)):
        (tmp_path / f"{name}.json").write_text(json.dumps(fp.fingerprint(
            write_lake(tmp_path / name, rows))))
    assert fp.compare(tmp_path / "a.json", tmp_path / "b.json") == 1
    out = capsys.readouterr().out
    assert "values differ in: mag" in out
    assert "MATCH" not in out


@pytest.mark.parametrize("column, value", [("flux", None), ("stamp", b"\x03"),
                                           ("hist", [1.5]), ("note", "")])
def test_null_nan_binary_and_nested_values_are_told_apart(tmp_path, column, value):
    changed = [dict(r) for r in ROWS]
    changed[1][column] = value
    a = table_fingerprint(write_lake(tmp_path / "a", ROWS))
    b = table_fingerprint(write_lake(tmp_path / "b", changed))
    assert a["hash"] != b["hash"]
    assert [c for c in a["columns"] if a["column_hashes"][c] != b["column_hashes"][c]] == [column]


def test_values_paired_differently_across_rows_differ(tmp_path):
    swapped = [dict(r) for r in ROWS]
    swapped[0]["fid"], swapped[1]["fid"] = swapped[1]["fid"], swapped[0]["fid"]
    a = table_fingerprint(write_lake(tmp_path / "a", ROWS))
    b = table_fingerprint(write_lake(tmp_path / "b", swapped))
    assert a["column_hashes"] == b["column_hashes"]  # each column holds the same values
    assert a["hash"] != b["hash"]


def test_run_specific_columns_and_lake_paths_do_not_count(tmp_path):
    schema = pa.schema([("run_id", pa.string()), ("stage", pa.string()),
                        ("source", pa.string()), ("duration_s", pa.float64())])
    prints = []
    for name, seconds in (("one", 1.5), ("two", 7.0)):
        lake = tmp_path / name / "lake"
        rows = [{"run_id": f"ingest-{name}", "stage": "ingest",
                 "source": str(tmp_path / name / "nights" / "n1.tar.gz"), "duration_s": seconds}]
        prints.append(table_fingerprint(write_lake(lake, rows, "run", schema), "run"))
    assert prints[0]["excluded"] == ["duration_s", "run_id"]
    assert prints[0]["hash"] == prints[1]["hash"]
    # the same path outside the lake's folders still counts
    other = [{"run_id": "x", "stage": "ingest", "source": "/elsewhere/n1.tar.gz",
              "duration_s": 0.0}]
    lake = write_lake(tmp_path / "three" / "lake", other, "run", schema)
    assert table_fingerprint(lake, "run")["hash"] != prints[0]["hash"]


def test_publication_compares_content_not_bytes_nor_timestamps(tmp_path, capsys):
    data = pa.Table.from_pylist(ROWS, schema=SCHEMA)
    out = {}
    for name, rows, stamp, version in (("a", data, "2026-01-01T00:00:00", "20231101-aaaa"),
                                       ("b", data.take([2, 0, 1]), "2026-02-02T00:00:00",
                                        "20231101-bbbb")):
        publish = tmp_path / name / "publish"
        folder = publish / "catalog" / version / "object"
        folder.mkdir(parents=True)
        pq.write_table(rows, folder / "part-00000.parquet",
                       compression="zstd" if name == "a" else "snappy")
        manifest = {"version": version, "night": 20231101, "published_at": stamp,
                    "code_version": f"0.1+{name}", "source": {
                        "lake": str(tmp_path / name / "lake"), "delta_versions": {"object": 3}},
                    "tables": {"object": {"rows": 3, "files": [
                        {"path": "object/part-00000.parquet", "rows": 3, "sha256": name}]}}}
        (publish / "catalog" / version / "manifest.json").write_text(json.dumps(manifest))
        (publish / "latest.json").write_text(json.dumps(
            {"version": version, "manifest": f"catalog/{version}/manifest.json",
             "published_at": stamp}))
        write_lake(tmp_path / name / "lake", ROWS)
        result = fp.fingerprint(tmp_path / name / "lake", publish)
        out[name] = tmp_path / f"{name}.json"
        out[name].write_text(json.dumps(result))
    assert fp.compare(out["a"], out["b"]) == 0
    capsys.readouterr()
    # a manifest that counts other rows differs
    manifest_b = tmp_path / "b" / "publish" / "catalog" / "20231101-bbbb" / "manifest.json"
    manifest = json.loads(manifest_b.read_text())
    manifest["tables"]["object"]["rows"] = 4
    manifest_b.write_text(json.dumps(manifest))
    out["b"].write_text(json.dumps(fp.fingerprint(tmp_path / "b" / "lake",
                                                  tmp_path / "b" / "publish")))
    assert fp.compare(out["a"], out["b"]) == 1
    assert ".tables.object.rows: 3 != 4" in capsys.readouterr().out


def test_canonical_floats():
    assert list(fp.canonical_floats([0.0, -0.0, math.nan, math.inf, -math.inf])) == \
        ["0", "0", "nan", "inf", "-inf"]
    assert fp.canonical_float(1.0) == "1000000000e-9"
    assert fp.canonical_float(9.99999999996) == "1000000000e-8"  # rounding gains a digit
    assert fp.canonical_float(-123.456) == fp.canonical_float(-123.456 * (1 + 1e-13))
    assert fp.canonical_float(1e-300) != fp.canonical_float(1.000000001e-300)
    assert fp.canonical_float(1.5e300) == "1500000000e291"
