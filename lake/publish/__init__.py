"""Publication of the curated catalog as Parquet (local folder or S3).

    manifest = publish(config, night)                  # gate + versioned publication
    manifest = export_snapshot(config, as_of="12")     # catalog at a Delta version/time
    con = duckdb_catalog(config)                       # analysts: DuckDB views

Layout and guarantees: ``lake.publish.publisher`` and ``lake.publish.catalog``.
"""
from lake.publish.catalog import CATALOG, FORMAT
from lake.publish.publisher import (PublishError, apply_retention, latest, list_versions,
                                    publish)
from lake.publish.reader import dataset, duckdb_catalog, manifest
from lake.publish.snapshot import export_snapshot, list_snapshots, snapshot_retention

__all__ = ["publish", "export_snapshot", "latest", "list_versions", "apply_retention",
           "list_snapshots", "snapshot_retention", "PublishError", "CATALOG", "FORMAT",
           "dataset", "duckdb_catalog", "manifest"]
