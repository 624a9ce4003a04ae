"""A summary of the lake's tables (rows, Delta version, files, size), read with delta-rs
so that it needs no engine."""
from __future__ import annotations

import deltalake

from lake import storage
from lake.tables import TABLES


def table_summary(config: dict) -> list[dict]:
    rows = []
    options = storage.delta_storage_options(config)
    for name, spec in TABLES.items():
        uri = storage.table_uri(config, name)
        if not deltalake.DeltaTable.is_deltatable(uri, options):
            continue
        table = deltalake.DeltaTable(uri, storage_options=options)
        actions = table.get_add_actions(flatten=True)
        sizes = actions.column("size_bytes").to_pylist() if actions.num_rows else []
        counts = actions.column("num_records").to_pylist() if actions.num_rows else []
        rows.append({"table": name, "layer": spec.layer, "rows": int(sum(counts)),
                     "version": table.version(), "files": len(sizes),
                     "mb": sum(sizes) / 1e6, "columns": len(table.schema().fields),
                     "partitioned_by": ",".join(spec.partition_by) or "-"})
    return rows


def format_summary(rows: list[dict]) -> str:
    header = f"{'table':<18} {'layer':<7} {'rows':>9} {'version':>7} {'files':>5} {'MB':>8} {'cols':>4}  partitioned by"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r['table']:<18} {r['layer']:<7} {r['rows']:>9} {r['version']:>7} "
                     f"{r['files']:>5} {r['mb']:>8.2f} {r['columns']:>4}  {r['partitioned_by']}")
    return "\n".join(lines)
