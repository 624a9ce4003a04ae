"""Which copy of a key wins: the one rule, and the three forms the write paths need.

A table's ``priority`` (``lake.tables.Table.priority``) is a list of (column, descending):
among rows with one key, the row that sorts first wins. ``ranking`` turns it into the
single definition of that order, with NULL placement (NULL sorts first ascending and last
descending, Spark's default), and every form below is derived from it:

- ``spark_order`` / ``deduplicate``: the Spark window that keeps one row per key of a batch;
- ``outranks_sql``: the SQL condition "source row s beats target row t" of the MERGE
  (a tie never replaces the target row);
- ``first_by_priority``: the same choice on a pandas frame of the narrow key and priority
  columns (the streamed bronze append decides which staged rows to copy with it).

Rows tied on every priority column are broken by ``then`` columns, which differ by path
and are part of its contract: the Spark window uses every other orderable column (the
choice never depends on row order), the streamed append the staged file and row (the
first staged copy). ``tests/test_delta_priority.py`` checks the three forms agree.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from lake.tables import Table


@dataclass(frozen=True)
class Rank:
    """One term of a table's priority: the row with the smaller value wins (the larger
    one when ``descending``); NULL loses when descending and wins when ascending."""
    column: str
    descending: bool

    @property
    def nulls_first(self) -> bool:
        return not self.descending


def ranking(table: Table) -> list[Rank]:
    """The table's priority, the only definition of which copy wins."""
    return [Rank(column, descending) for column, descending in table.priority]


def priority_columns(table: Table) -> list[str]:
    """The priority columns that are not key columns (the narrow columns a decision needs
    next to the key)."""
    return [r.column for r in ranking(table) if r.column not in table.keys]


# --- Spark -----------------------------------------------------------------------------

def spark_order(table: Table, then=()) -> list:
    """Spark sort expressions: the table's ranking, then ``then`` ascending (NULL first)."""
    from pyspark.sql import functions as F

    order = [F.col(r.column).desc_nulls_last() if r.descending
             else F.col(r.column).asc_nulls_first() for r in ranking(table)]
    return order + [F.col(c).asc_nulls_first() for c in then]


def deduplicate(frame, table: Table):
    """Keep one row per key: the first by the table's priority (then by every other
    orderable column, so that the choice never depends on row order)."""
    from pyspark.sql import Window, functions as F

    # Most batches hold no duplicate key: checking on the key columns alone is far
    # cheaper than ranking whole rows (alerts carry their Avro bytes).
    if frame.groupBy(*table.keys).count().filter("count > 1").isEmpty():
        return frame
    ranked = {r.column for r in ranking(table)}
    then = [c for c in frame.columns if c not in table.keys and c not in ranked
            and _orderable(frame.schema[c].dataType)]
    window = Window.partitionBy(*table.keys).orderBy(*spark_order(table, then))
    return (frame.withColumn("_rank", F.row_number().over(window))
            .filter("_rank = 1").drop("_rank"))


def _orderable(data_type) -> bool:
    from pyspark.sql import types as T

    return not isinstance(data_type, (T.BinaryType, T.ArrayType, T.MapType, T.StructType))


# --- SQL -------------------------------------------------------------------------------

def outranks_sql(table: Table, source: str = "s", target: str = "t") -> str:
    """SQL condition: the ``source`` row sorts strictly before the ``target`` row by the
    table's ranking (ties on every term: false). Spark SQL; an empty priority gives
    ``FALSE`` (an existing row is never replaced)."""
    clauses, ties = [], []
    for rank in ranking(table):
        s, t = f"{source}.`{rank.column}`", f"{target}.`{rank.column}`"
        if rank.descending:        # NULL last: a value beats NULL
            wins = f"({s} IS NOT NULL AND ({t} IS NULL OR {s} > {t}))"
        else:                      # NULL first: NULL beats a value
            wins = f"({s} IS NULL AND {t} IS NOT NULL) OR ({s} < {t})"
        clauses.append("(" + " AND ".join(ties + [f"({wins})"]) + ")")
        ties.append(f"({s} <=> {t})")
    return " OR ".join(clauses) or "FALSE"


# --- pandas ----------------------------------------------------------------------------

def sort_by_priority(rows: pd.DataFrame, table: Table, then=()) -> pd.DataFrame:
    """``rows`` in the table's ranking order, then by ``then`` ascending (stable)."""
    order, ascending, flags = [], [], {}
    for rank in ranking(table):
        flag = f"_null_{rank.column}"
        flags[flag] = rows[rank.column].isna()
        order += [flag, rank.column]
        # the NULL flag sorts True (NULL) first when NULLs come first
        ascending += [not rank.nulls_first, not rank.descending]
    rows = rows.assign(**flags)
    rows = rows.sort_values(order + list(then), ascending=ascending + [True] * len(then),
                            kind="stable", na_position="first")
    return rows.drop(columns=list(flags))


def first_by_priority(rows: pd.DataFrame, table: Table,
                      then=("_file", "_row")) -> pd.DataFrame:
    """One row per key: the first by the table's ranking, then by ``then``."""
    return sort_by_priority(rows, table, then).drop_duplicates(list(table.keys))
