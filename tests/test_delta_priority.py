"""The one rule of which copy of a key wins (``lake.delta.priority``): its Spark window, its
SQL condition and its pandas choice agree on the same rows, NULLs and ties included."""
from __future__ import annotations

import itertools

import pandas as pd
import pytest

from lake.delta import priority
from lake.tables import TABLES

DETECTION = TABLES["detection"]     # (has_stamp desc, parent_candid asc)
ALERT = TABLES["alert"]             # (source asc, member asc)


def _detections() -> pd.DataFrame:
    """Every combination of has_stamp {True, False, NULL} and parent_candid {NULL, 5, 7},
    twice each (a tie on the priority, told apart by magpsf), spread over a few keys."""
    rows = []
    combos = list(itertools.product([True, False, None], [None, 5, 7], [17.0, 18.0]))
    for key in range(4):
        # each key holds a different subset, so that different combinations win
        for i, (stamp, parent, mag) in enumerate(combos):
            if (i + key) % (key + 2) == 0 or key == 0:
                rows.append({"candid": key, "oid": "ZTF1", "has_stamp": stamp,
                             "parent_candid": parent, "magpsf": mag + key})
    return pd.DataFrame(rows).astype({"has_stamp": "boolean", "parent_candid": "Int64"})


def _spark_frame(spark, rows: pd.DataFrame, schema: str):
    records = [{k: (None if pd.isna(v) else v) for k, v in r.items()}
               for r in rows.to_dict("records")]
    return spark.createDataFrame(records, schema)


DETECTION_SCHEMA = "candid long, oid string, has_stamp boolean, parent_candid long, magpsf double"


def _dense_rank(rows: pd.DataFrame, table) -> pd.Series:
    """Position of each row in the table's ranking, equal for rows tied on every term
    (from the pandas form)."""
    ordered = priority.sort_by_priority(rows, table)
    columns = [r.column for r in priority.ranking(table)]
    rank, previous, ranks = -1, object(), {}
    for index, values in zip(ordered.index, ordered[columns].itertuples(index=False)):
        values = tuple(None if pd.isna(v) else v for v in values)
        if values != previous:
            rank, previous = rank + 1, values
        ranks[index] = rank
    return pd.Series(ranks).reindex(rows.index)


def test_the_ranking_is_the_tables_priority_with_null_placement():
    assert [(r.column, r.descending, r.nulls_first) for r in priority.ranking(DETECTION)] == [
        ("has_stamp", True, False), ("parent_candid", False, True)]
    assert priority.priority_columns(ALERT) == ["source", "member"]
    assert priority.outranks_sql(TABLES["cutout"]) == "FALSE"      # no priority: never


def test_pandas_picks_the_alerts_own_detection_then_the_earliest_history_copy():
    rows = pd.DataFrame({"candid": [1, 1, 1, 1, 2, 2, 2],
                         "oid": ["a"] * 7,
                         "has_stamp": [None, False, False, True, False, False, None],
                         "parent_candid": [None, 7, 5, 9, 7, None, None],
                         "_file": [0, 0, 1, 1, 0, 1, 2], "_row": range(7)}
                        ).astype({"has_stamp": "boolean", "parent_candid": "Int64"})
    first = priority.first_by_priority(rows, DETECTION).set_index("candid")
    assert first.loc[1, "_row"] == 3           # has_stamp true beats everything
    assert first.loc[2, "_row"] == 5           # no stamp anywhere: NULL parent first


def test_spark_and_pandas_keep_the_same_row_per_key(spark):
    rows = _detections()
    kept = (priority.deduplicate(_spark_frame(spark, rows, DETECTION_SCHEMA), DETECTION)
            .toPandas().sort_values("candid").reset_index(drop=True))
    # the pandas form broken by the same columns as the Spark window (every other one)
    expected = (priority.first_by_priority(rows, DETECTION, then=["magpsf"])
                .sort_values("candid").reset_index(drop=True))
    assert len(kept) == rows["candid"].nunique() == 4
    for column in ("candid", "has_stamp", "parent_candid", "magpsf"):
        assert [None if pd.isna(v) else v for v in kept[column]] == \
               [None if pd.isna(v) else v for v in expected[column]], column
    # key 0 holds every combination: a stamped copy, NULL parent, lower magpsf
    assert bool(kept.loc[0, "has_stamp"]) and pd.isna(kept.loc[0, "parent_candid"])
    assert kept.loc[0, "magpsf"] == 17.0


@pytest.mark.parametrize("table, schema, rows", [
    (DETECTION, DETECTION_SCHEMA, None),
    (ALERT, "candid long, source string, member string",
     pd.DataFrame({"candid": [1] * 6, "source": ["b", "a", None, "a", "b", None],
                   "member": ["m", "n", "m", None, "m", "z"]})),
])
def test_the_sql_condition_holds_exactly_when_pandas_ranks_strictly_first(spark, table,
                                                                          schema, rows):
    rows = (_detections() if rows is None else rows).reset_index(drop=True)
    rows = rows.assign(row_id=range(len(rows)))
    frame = _spark_frame(spark, rows, schema + ", row_id long")
    frame.createOrReplaceTempView("priority_rows")
    on = " AND ".join(f"s.`{k}` = t.`{k}`" for k in table.keys)
    pairs = spark.sql(
        f"SELECT s.row_id AS s_id, t.row_id AS t_id, ({priority.outranks_sql(table)}) AS wins "
        f"FROM priority_rows s JOIN priority_rows t ON {on}").toPandas()
    spark.catalog.dropTempView("priority_rows")
    rank = _dense_rank(rows, table)
    expected = (rank[pairs["s_id"]].to_numpy() < rank[pairs["t_id"]].to_numpy())
    got = pairs["wins"].astype("boolean").fillna(False).to_numpy(dtype=bool)  # NULL: no win
    assert len(pairs) > len(rows)
    assert (got == expected).all()
    assert got.any() and not got.all()                         # wins, losses and ties
    ties = rank[pairs["s_id"]].to_numpy() == rank[pairs["t_id"]].to_numpy()
    assert (ties & (pairs["s_id"] != pairs["t_id"]).to_numpy()).any()
