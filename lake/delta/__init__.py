"""Writing to the lake's Delta tables: three write paths, one rule for which copy wins.

Every write is one atomic Delta commit per table per run (a metadata-only column add may
precede it): a killed run leaves each table either before or after, never half-written,
and re-running changes nothing (no commit at all).

| path | module | used for | why |
|---|---|---|---|
| ``merge_into`` | ``merge`` | silver, gold and ops tables (detection, non_detection, ..., object, magstat, feature, probability, run, validation); a bronze batch in which a staged row outranks a landed one | the engine computes these frames; MERGE on the table's key, or an append of the new keys when nothing is replaced |
| ``append_staged`` | ``append`` | bronze tables landed as staged (alert, cutout, quarantine: ``lake.bronze.landing.AS_STAGED``) | a night's bulk (~24 kB of Avro bytes and stamps an alert) is copied file by file (pyarrow) and committed by delta-rs: memory bounded by one staged file |
| ``update_columns`` | ``update`` | the detection corrections (``lake.stages.process``) | only the data files holding a changed row are rewritten, one commit of remove and add actions: memory does not grow with the table |

``priority`` is the one definition of which copy of a key wins (``Table.priority`` in
``lake.tables``), from which the Spark window (``deduplicate``), the MERGE's SQL condition
and the streamed append's pandas choice are derived. ``schema`` adds columns (metadata
only) and holds the engine workarounds of the MERGE path (Sail 0.7.2 drops unknown
columns silently). ``read`` opens tables; ``datafiles`` writes data files outside the
engine.
"""
from __future__ import annotations

from lake.delta.append import append_staged
from lake.delta.merge import merge_into
from lake.delta.priority import deduplicate
from lake.delta.read import delta_table, read_table, table_exists
from lake.delta.update import update_columns

__all__ = ["append_staged", "deduplicate", "delta_table", "merge_into", "read_table",
           "table_exists", "update_columns"]
