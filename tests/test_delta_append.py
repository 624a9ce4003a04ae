"""The streamed bronze write path (``lake.delta.append_staged``): the rows a MERGE would
insert, by the same key and priority rules, in one delta-rs commit."""
from __future__ import annotations

from pathlib import Path

import deltalake
import pyarrow as pa
import pyarrow.parquet as pq

from lake import delta, storage

SCHEMA = pa.schema([("candid", pa.int64()), ("night", pa.int32()), ("source", pa.string()),
                    ("member", pa.string()), ("magpsf", pa.float32())])


def _stage(tmp_path, name, rows, schema=SCHEMA):
    folder = tmp_path / "staging" / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"part-{len(list(folder.iterdir())):06d}.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return sorted(str(p) for p in folder.iterdir())


def _row(candid, source="b.tar.gz", member="m", magpsf=18.0, night=20231101):
    return {"candid": candid, "night": night, "source": source, "member": member,
            "magpsf": magpsf}


def _table(config, name):
    return (deltalake.DeltaTable(storage.table_uri(config, name)).to_pandas()
            .sort_values("candid").reset_index(drop=True))


def test_duplicates_resolved_by_priority_and_landed_rows_kept(lake_config, tmp_path):
    files = _stage(tmp_path, "alert", [_row(1, "b.tar.gz", magpsf=1.0), _row(2)])
    # candid 1 again, from a source that sorts first: it wins within the batch
    files = _stage(tmp_path, "alert", [_row(1, "a.tar.gz", magpsf=2.0), _row(3, night=20231102)])
    counts = delta.append_staged(lake_config, "alert", files, SCHEMA)
    assert counts["inserted"] == 3 and counts["version"] == 0
    landed = _table(lake_config, "alert")
    assert landed["candid"].tolist() == [1, 2, 3]
    assert landed.loc[0, "source"] == "a.tar.gz" and landed.loc[0, "magpsf"] == 2.0
    assert sorted(landed["night"].unique()) == [20231101, 20231102]        # partitioned

    # again, plus one new row: only the new key is appended, one commit
    files = _stage(tmp_path, "alert", [_row(4)])
    counts = delta.append_staged(lake_config, "alert", files, SCHEMA)
    assert counts == {"version": 1, "inserted": 1, "updated": 0}
    assert _table(lake_config, "alert")["candid"].tolist() == [1, 2, 3, 4]
    # nothing new: no commit at all
    assert delta.append_staged(lake_config, "alert", files, SCHEMA)["version"] == 1


def test_a_staged_row_that_outranks_a_landed_one_is_left_to_merge(lake_config, tmp_path):
    first = tmp_path / "first"
    delta.append_staged(lake_config, "alert", _stage(first, "alert", [_row(1, "b.tar.gz")]),
                        SCHEMA)
    # same source and member: the landed row stays (a tie never replaces)
    second = tmp_path / "second"
    assert delta.append_staged(lake_config, "alert",
                               _stage(second, "alert", [_row(1, "b.tar.gz", magpsf=5.0)]),
                               SCHEMA)["inserted"] == 0
    # a source that sorts first must replace it: not this path's job
    third = tmp_path / "third"
    assert delta.append_staged(lake_config, "alert",
                               _stage(third, "alert", [_row(1, "a.tar.gz"), _row(9)]),
                               SCHEMA) is None
    assert _table(lake_config, "alert")["candid"].tolist() == [1]          # nothing written


def test_new_columns_are_added_and_older_rows_read_null(lake_config, tmp_path):
    delta.append_staged(lake_config, "alert", _stage(tmp_path / "a", "alert", [_row(1)]), SCHEMA)
    wider = SCHEMA.append(pa.field("new_field", pa.float64()))
    files = _stage(tmp_path / "b", "alert", [{**_row(2), "new_field": 0.5}], wider)
    delta.append_staged(lake_config, "alert", files, wider)
    landed = _table(lake_config, "alert")
    assert landed["new_field"].isna().tolist() == [True, False]
    history = deltalake.DeltaTable(storage.table_uri(lake_config, "alert")).history()
    # a metadata-only commit adds the column, then one append: history is not rewritten
    assert [h["operation"] for h in history[:2]] == ["WRITE", "ADD COLUMN"]


def test_cutouts_without_priority_keep_the_landed_row(lake_config, tmp_path):
    schema = pa.schema([("candid", pa.int64()), ("night", pa.int32()),
                        ("cutoutScience", pa.binary())])
    files = _stage(tmp_path / "a", "cutout", [{"candid": 1, "night": 1, "cutoutScience": b"a"},
                                              {"candid": 1, "night": 1, "cutoutScience": b"b"}],
                   schema)
    assert delta.append_staged(lake_config, "cutout", files, schema)["inserted"] == 1
    files = _stage(tmp_path / "b", "cutout", [{"candid": 1, "night": 1, "cutoutScience": b"c"},
                                              {"candid": 2, "night": 1, "cutoutScience": b"d"}],
                   schema)
    assert delta.append_staged(lake_config, "cutout", files, schema, consume=True)["inserted"] == 1
    assert _table(lake_config, "cutout")["cutoutScience"].tolist() == [b"a", b"d"]  # first staged
    assert not any(Path(f).exists() for f in files)          # consumed: staged files removed
