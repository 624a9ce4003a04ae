"""The streamed column update (``lake.delta.update_columns``): set columns of existing
rows from staged Parquet, rewriting only the data files that hold a changed row, in one
delta-rs commit of remove and add actions."""
from __future__ import annotations

import math
from pathlib import Path

import deltalake
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lake import delta, storage

SCHEMA = pa.schema([("candid", pa.int64()), ("oid", pa.string()), ("night", pa.int32()),
                    ("has_stamp", pa.bool_()), ("parent_candid", pa.int64()),
                    ("magpsf", pa.float32())])
UPDATE = pa.schema([("candid", pa.int64()), ("oid", pa.string()), ("night", pa.int32()),
                    ("magpsf_corr", pa.float64()), ("corrected", pa.bool_())])


def _write(folder, rows, schema):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"part-{len(list(folder.iterdir())):05d}.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return str(path)


def _land(config, tmp_path, nights):
    """Detections of ``nights`` {night: [candid, ...]}, one data file per night."""
    files = [_write(tmp_path / "landing", [
        {"candid": c, "oid": f"ZTF{c % 3}", "night": night, "has_stamp": True,
         "parent_candid": None, "magpsf": 18.0 + c / 10} for c in candids], SCHEMA)
        for night, candids in nights.items()]
    delta.append_staged(config, "detection", files, SCHEMA)


def _table(config):
    return (deltalake.DeltaTable(storage.table_uri(config, "detection")).to_pandas()
            .sort_values("candid").reset_index(drop=True))


def _files(config):
    return set(deltalake.DeltaTable(storage.table_uri(config, "detection")).file_uris())


def test_changed_rows_are_set_in_one_commit_and_untouched_files_kept(lake_config, tmp_path):
    _land(lake_config, tmp_path, {20231101: [1, 2, 3], 20231102: [4, 5]})
    before = _table(lake_config)
    files_before = _files(lake_config)
    staged = tmp_path / "update"
    _write(staged, [{"candid": 1, "oid": "ZTF1", "night": 20231101, "magpsf_corr": 17.5,
                     "corrected": True},
                    {"candid": 3, "oid": "ZTF0", "night": 20231101, "magpsf_corr": None,
                     "corrected": False},
                    {"candid": 99, "oid": "ZTF0", "night": 20231101, "magpsf_corr": 1.0,
                     "corrected": True}],   # no such detection: ignored, never inserted
           UPDATE)
    counts = delta.update_columns(lake_config, "detection", str(staged),
                                  ["magpsf_corr", "corrected"])
    assert counts["updated"] == 2 and counts["inserted"] == 0

    after = _table(lake_config)
    assert after["candid"].tolist() == [1, 2, 3, 4, 5]
    assert after.loc[0, "magpsf_corr"] == 17.5 and after.loc[0, "corrected"]
    assert math.isnan(after.loc[2, "magpsf_corr"]) and not after.loc[2, "corrected"]
    assert after.loc[[1, 3, 4], "corrected"].isna().all()     # not staged: still null
    # every other column and the partitioning are kept
    assert after[SCHEMA.names].equals(before[SCHEMA.names])
    table = deltalake.DeltaTable(storage.table_uri(lake_config, "detection"))
    assert table.metadata().partition_columns == ["night"]
    # the night without a change keeps its data file; the other one is rewritten
    files_after = _files(lake_config)
    assert len(files_after) == 2 and len(files_after & files_before) == 1
    assert next(iter(files_after & files_before)).count("night=20231102")
    history = table.history()
    assert [h["operation"] for h in history[:2]] == ["WRITE", "ADD COLUMN"]
    assert history[0]["lake.updated_rows"] == "2"
    assert counts["version"] == table.version()


def test_the_same_update_again_changes_nothing(lake_config, tmp_path):
    _land(lake_config, tmp_path, {20231101: [1, 2]})
    staged = tmp_path / "update"
    _write(staged, [{"candid": 1, "oid": "ZTF1", "night": 20231101, "magpsf_corr": 17.5,
                     "corrected": True}], UPDATE)
    first = delta.update_columns(lake_config, "detection", str(staged), ["magpsf_corr",
                                                                         "corrected"])
    again = delta.update_columns(lake_config, "detection", str(staged), ["magpsf_corr",
                                                                         "corrected"])
    assert again == {"version": first["version"], "inserted": 0, "updated": 0}
    # a value recomputed in another summation order (last bits) is the same value
    nudged = tmp_path / "nudged"
    _write(nudged, [{"candid": 1, "oid": "ZTF1", "night": 20231101,
                     "magpsf_corr": 17.5 * (1 + 1e-13), "corrected": True}], UPDATE)
    assert delta.update_columns(lake_config, "detection", str(nudged),
                                ["magpsf_corr", "corrected"])["updated"] == 0
    # a real change is one more commit
    changed = tmp_path / "changed"
    _write(changed, [{"candid": 2, "oid": "ZTF2", "night": 20231101, "magpsf_corr": 16.0,
                      "corrected": True}], UPDATE)
    counts = delta.update_columns(lake_config, "detection", str(changed),
                                  ["magpsf_corr", "corrected"])
    assert counts == {"version": first["version"] + 1, "inserted": 0, "updated": 1}
    assert _table(lake_config)["magpsf_corr"].tolist() == [17.5, 16.0]


def test_repeated_staged_keys_fail_and_write_nothing(lake_config, tmp_path):
    _land(lake_config, tmp_path, {20231101: [1]})
    staged = tmp_path / "update"
    row = {"candid": 1, "oid": "ZTF1", "night": 20231101, "magpsf_corr": 1.0, "corrected": True}
    _write(staged, [row, {**row, "magpsf_corr": 2.0}], UPDATE)
    version = deltalake.DeltaTable(storage.table_uri(lake_config, "detection")).version()
    with pytest.raises(ValueError, match="repeat a key"):
        delta.update_columns(lake_config, "detection", str(staged), ["magpsf_corr"])
    table = deltalake.DeltaTable(storage.table_uri(lake_config, "detection"))
    # only the metadata-only ADD COLUMN commit; the rows are as landed
    assert table.version() == version + 1 and table.history(1)[0]["operation"] == "ADD COLUMN"
    assert table.to_pandas()["magpsf_corr"].isna().all()
    # and the written-but-uncommitted file was removed
    folder = storage.table_uri(lake_config, "detection") + "/night=20231101"
    assert len(list(Path(folder).glob("*.parquet"))) == 1
