"""The published catalog: which curated tables, how they are laid out, and the
deterministic Parquet writer shared by publications and snapshots.

Tables (each sorted by its key, so equal inputs give byte-identical files):

| table | partitioned by | sorted by | for queries like |
|---|---|---|---|
| object | - | oid | one object; cone/box searches on meanra/meandec; by firstmjd/lastmjd |
| magstat | - | oid, fid | per-band statistics of objects |
| feature | - | oid | features of objects, training sets |
| probability | classifier_name | oid, classifier_version, ranking | objects of a class above a probability |
| lightcurve | oid_prefix | oid, mjd, fid, candid | one object's light curve (detections and non-detections) |

``oid_prefix`` is the survey's partition of an object (``Survey.object_partition_sql``;
for ZTF the first 7 characters of the oid, ``ZTF18ab``): filter on it
(``oid_prefix = left(oid, 7)``) and on ``oid`` to read one object; files are sorted by oid
with small row groups, so even an unfiltered ``WHERE oid = ...`` reads little.

Sources are read at fixed Delta versions with delta-rs and sorted with DuckDB (which
spills to disk, so tables larger than memory still sort); files are written with pyarrow
from memory buffers, so each file's checksum is known before it is uploaded.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import deltalake
import pyarrow as pa
import pyarrow.parquet as pq

from lake import storage, surveys

log = logging.getLogger(__name__)

FORMAT = "alert-lake-catalog/1"
ROW_GROUP_ROWS = 16_384
DEFAULT_ROWS_PER_FILE = 1_000_000
# Fixed writer options: same rows + same pyarrow version -> same bytes.
PARQUET_OPTIONS = dict(compression="zstd", compression_level=3, use_dictionary=True,
                       write_statistics=True, version="2.6", data_page_size=1 << 20)

SOURCE_TABLES = ("object", "magstat", "feature", "probability", "detection", "non_detection")


@dataclass(frozen=True)
class CatalogTable:
    name: str
    sources: tuple[str, ...]
    sort: tuple[str, ...]
    partition_by: str | None = None
    required: bool = True


CATALOG = (
    CatalogTable("object", ("object",), ("oid",)),
    CatalogTable("magstat", ("magstat",), ("oid", "fid")),
    CatalogTable("feature", ("feature",), ("oid",), required=False),
    CatalogTable("probability", ("probability",),
                 ("oid", "classifier_version", "class_name", "ranking"),
                 "classifier_name", required=False),
    CatalogTable("lightcurve", ("detection", "non_detection"),
                 ("oid", "mjd", "fid", "candid"), "oid_prefix"),
)

DETECTION_COLUMNS = ("candid", "mjd", "fid", "magpsf", "sigmapsf", "magpsf_corr",
                     "sigmapsf_corr", "sigmapsf_corr_ext", "isdiffpos", "diffmaglim", "ra",
                     "dec", "rb", "corrected", "dubious", "has_stamp", "night")
LIGHTCURVE_TYPES = {"candid": "BIGINT", "mjd": "DOUBLE", "fid": "INTEGER", "magpsf": "FLOAT",
                    "sigmapsf": "FLOAT", "magpsf_corr": "DOUBLE", "sigmapsf_corr": "DOUBLE",
                    "sigmapsf_corr_ext": "DOUBLE", "isdiffpos": "INTEGER",
                    "diffmaglim": "FLOAT", "ra": "DOUBLE", "dec": "DOUBLE", "rb": "FLOAT",
                    "corrected": "BOOLEAN", "dubious": "BOOLEAN", "has_stamp": "BOOLEAN",
                    "night": "INTEGER"}


def open_source(config: dict, name: str, version: int) -> deltalake.DeltaTable:
    return deltalake.DeltaTable(storage.table_uri(config, name), version=version,
                                storage_options=storage.delta_storage_options(config))


def parquet_bytes(table: pa.Table) -> bytes:
    """Deterministic Parquet: no schema metadata (pandas), fixed options and row groups."""
    table = table.replace_schema_metadata(None)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, row_group_size=ROW_GROUP_ROWS, **PARQUET_OPTIONS)
    return sink.getvalue().to_pybytes()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lightcurve_sql(columns: dict[str, set[str]], survey=None) -> str:
    det, non = columns["detection"], columns.get("non_detection")
    prefix = f"{surveys.get(survey).object_partition_sql('oid')} AS oid_prefix"

    def pick(available, column):
        return (f"CAST({_quote(column)} AS {LIGHTCURVE_TYPES[column]})" if column in available
                else f"CAST(NULL AS {LIGHTCURVE_TYPES[column]})") + f" AS {column}"

    select = ["oid", prefix, "TRUE AS detected"]
    sql = ("SELECT " + ", ".join(select + [pick(det, c) for c in DETECTION_COLUMNS])
           + " FROM detection")
    if non is not None:
        non_cols = [pick(non, c) if c in ("mjd", "fid", "diffmaglim", "night")
                    else f"CAST(NULL AS {LIGHTCURVE_TYPES[c]}) AS {c}" for c in DETECTION_COLUMNS]
        sql += (" UNION ALL SELECT " + ", ".join(
            ["oid", prefix, "FALSE AS detected"]
            + non_cols) + " FROM non_detection")
    return sql


def _split(table: pa.Table, rows_per_file: int):
    for start in range(0, max(table.num_rows, 1), rows_per_file):
        yield table.slice(start, rows_per_file)


def write_catalog(config: dict, versions: dict[str, int], dest: str,
                  rows_per_file: int | None = None, on_file=None) -> dict:
    """Write every catalog table from the sources at ``versions`` under ``dest``.
    Returns the manifest's ``tables`` section. ``on_file(uri)`` is called after
    each file is written (progress, tests)."""
    import duckdb

    rows_per_file = int(rows_per_file or (config.get("publish") or {}).get("rows_per_file")
                        or DEFAULT_ROWS_PER_FILE)
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    columns = {}
    for name in SOURCE_TABLES:
        if name in versions:
            dataset = open_source(config, name, versions[name]).to_pyarrow_dataset()
            con.register(name, dataset)
            columns[name] = set(dataset.schema.names)
    tables = {}
    for spec in CATALOG:
        if spec.sources[0] not in columns:
            if spec.required:
                raise RuntimeError(f"cannot publish: the lake has no {spec.sources[0]} table")
            continue
        if spec.name == "lightcurve":
            query = _lightcurve_sql(columns, surveys.of(config))
        else:
            query = f"SELECT * FROM {spec.sources[0]}"
        order = ", ".join(f"{_quote(c)} ASC NULLS LAST" for c in spec.sort)
        partitions = [None]
        if spec.partition_by:
            # Materialize once, clustered by partition: each partition is then a cheap
            # range of one in-memory table instead of a new scan of the Delta sources.
            con.execute(f"CREATE OR REPLACE TEMP TABLE staged_{spec.name} AS {query} "
                        f"ORDER BY {_quote(spec.partition_by)}, {order}")
            query = f"SELECT * FROM staged_{spec.name}"
            partitions = [r[0] for r in con.sql(
                f"SELECT DISTINCT {_quote(spec.partition_by)} FROM ({query}) ORDER BY 1"
            ).fetchall()]
        files, total = [], 0
        schema = None
        for value in partitions:
            sub = query
            if spec.partition_by:
                literal = "'" + str(value).replace("'", "''") + "'"
                sub = (f"SELECT * EXCLUDE ({_quote(spec.partition_by)}) FROM ({query}) "
                       f"WHERE {_quote(spec.partition_by)} = {literal}")
            data = con.sql(f"{sub} ORDER BY {order}").to_arrow_table()
            data = _normalize(data)
            schema = schema or data.schema
            folder = spec.name if value is None else f"{spec.name}/{spec.partition_by}={value}"
            for index, part in enumerate(_split(data, rows_per_file)):
                payload = parquet_bytes(part)
                relative = f"{folder}/part-{index:05d}.parquet"
                uri = storage.join(dest, *relative.split("/"))
                storage.write_bytes(config, uri, payload)
                files.append({"path": relative, "rows": part.num_rows, "bytes": len(payload),
                              "sha256": hashlib.sha256(payload).hexdigest()})
                total += part.num_rows
                if on_file:
                    on_file(uri)
        tables[spec.name] = {
            "rows": total, "files": files, "sort": list(spec.sort),
            "partitioning": [spec.partition_by] if spec.partition_by else [],
            "sources": {s: versions[s] for s in spec.sources if s in versions},
            "schema": [{"name": f.name, "type": str(f.type)} for f in schema] if schema else [],
        }
        log.info("%-12s %d rows in %d file(s)", spec.name, total, len(files))
    con.close()
    return tables


def _normalize(table: pa.Table) -> pa.Table:
    """Plain Arrow types (DuckDB may hand out views/large types)."""
    fields = []
    for f in table.schema:
        t = f.type
        if pa.types.is_string_view(t) or pa.types.is_large_string(t):
            t = pa.string()
        elif pa.types.is_binary_view(t) or pa.types.is_large_binary(t):
            t = pa.binary()
        fields.append(pa.field(f.name, t, f.nullable))
    return table.cast(pa.schema(fields))


def source_versions(config: dict) -> dict[str, int]:
    """Current Delta version of every source table that exists."""
    versions = {}
    options = storage.delta_storage_options(config)
    for name in SOURCE_TABLES:
        uri = storage.table_uri(config, name)
        if deltalake.DeltaTable.is_deltatable(uri, options):
            versions[name] = deltalake.DeltaTable(uri, storage_options=options).version()
    return versions
