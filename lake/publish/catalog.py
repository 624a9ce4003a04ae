"""The published catalog: which curated tables, how they are laid out, and the
deterministic, incremental Parquet writer shared by publications and snapshots.

Tables (``CATALOG``; adding one is one line: a ``CatalogTable`` naming its lake table):

| table | partitioned by | sorted by | written each night |
|---|---|---|---|
| object | - | healpix, oid | rewritten (one row per object); ``healpix``: see columns |
| object_pixel | - | pixel | rewritten: the cone-search index (``lake.publish.columns``) |
| magstat | - | oid, fid | rewritten |
| feature | - | oid | rewritten |
| probability | classifier_name | oid, classifier_version, class_name, ranking | partitions whose rows changed |
| lightcurve | night | oid, mjd, fid, candid | the nights whose detections/non-detections changed |
| forced_photometry | night | oid, mjd, fid | the nights whose forced photometry changed |

Files live under ``data/<table>/[<partition>=<value>/]<sha256>.parquet`` of the root
(the publication root, or a snapshot's own folder), named by their content: a file
that an earlier publication wrote already is not written again, so each night writes
only what changed. For tables partitioned by ``night`` (the source's own Delta
partitioning, the UTC night of the observation) the writer does not even read the
unchanged nights: the manifest keeps a digest of each night's Delta data files, and
only nights whose digest changed are exported (a night's alerts touch the ~30 nights
their histories span, so the cost follows the night, not the lake). The other tables
(one row per object) are recomputed and their unchanged files skipped.

Within each file rows are sorted by the table's key with row groups of
``ROW_GROUP_ROWS`` and statistics, so ``WHERE oid = ...`` reads only the row groups that
can hold the object; the light curve also carries ``oid_prefix`` (the survey's object
partition, ``Survey.object_partition_sql``) as a plain column for older queries.

Sources are read at fixed Delta versions with delta-rs and sorted with DuckDB (which
spills to disk, so tables larger than memory still sort); files are written with pyarrow
from memory buffers, so each file's checksum (its name) is known before it is uploaded.
"""
from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable

import deltalake
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lake import storage, surveys
from lake.publish.columns import HEALPIX_ORDER, INDEX_ORDER, documented

log = logging.getLogger(__name__)

FORMAT = "alert-lake-catalog/2"
DATA = "data"                       # folder of the data files under a root
ROW_GROUP_ROWS = 16_384
DEFAULT_ROWS_PER_FILE = 1_000_000   # ~tens of MB of light curve per file
# Fixed writer options: same rows + same pyarrow version -> same bytes.
PARQUET_OPTIONS = dict(compression="zstd", compression_level=3, use_dictionary=True,
                       write_statistics=True, version="2.6", data_page_size=1 << 20)


@dataclass(frozen=True)
class CatalogTable:
    """One published table: its lake sources, sort key and partition column.
    ``query(columns, survey)`` gives its SQL over the sources (registered under their
    names; ``columns`` maps each to its column names); by default all of the first
    source. ``partition_by="night"`` makes the table incremental by night."""
    name: str
    sources: tuple[str, ...]
    sort: tuple[str, ...]
    partition_by: str | None = None
    required: bool = True
    query: Callable[[dict, object], str] | None = None

    @property
    def by_night(self) -> bool:
        return self.partition_by == "night"

    def sql(self, columns: dict[str, set[str]], survey) -> str:
        return self.query(columns, survey) if self.query else f"SELECT * FROM {self.sources[0]}"


DETECTION_COLUMNS = ("candid", "mjd", "fid", "magpsf", "sigmapsf", "magpsf_corr",
                     "sigmapsf_corr", "sigmapsf_corr_ext", "isdiffpos", "diffmaglim", "ra",
                     "dec", "rb", "corrected", "dubious", "has_stamp", "night")
LIGHTCURVE_TYPES = {"candid": "BIGINT", "mjd": "DOUBLE", "fid": "INTEGER", "magpsf": "FLOAT",
                    "sigmapsf": "FLOAT", "magpsf_corr": "DOUBLE", "sigmapsf_corr": "DOUBLE",
                    "sigmapsf_corr_ext": "DOUBLE", "isdiffpos": "INTEGER",
                    "diffmaglim": "FLOAT", "ra": "DOUBLE", "dec": "DOUBLE", "rb": "FLOAT",
                    "corrected": "BOOLEAN", "dubious": "BOOLEAN", "has_stamp": "BOOLEAN",
                    "night": "INTEGER"}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lightcurve_sql(columns: dict[str, set[str]], survey=None) -> str:
    det, non = columns["detection"], columns.get("non_detection")
    prefix = f"{surveys.get(survey).object_partition_sql('oid')} AS oid_prefix"

    def pick(available, column):
        return (f"CAST({_quote(column)} AS {LIGHTCURVE_TYPES[column]})" if column in available
                else f"CAST(NULL AS {LIGHTCURVE_TYPES[column]})") + f" AS {column}"

    sql = ("SELECT " + ", ".join(["oid", prefix, "TRUE AS detected"]
                                 + [pick(det, c) for c in DETECTION_COLUMNS])
           + " FROM detection")
    if non is not None:
        non_cols = [pick(non, c) if c in ("mjd", "fid", "diffmaglim", "night")
                    else f"CAST(NULL AS {LIGHTCURVE_TYPES[c]}) AS {c}" for c in DETECTION_COLUMNS]
        sql += (" UNION ALL SELECT " + ", ".join(["oid", prefix, "FALSE AS detected"] + non_cols)
                + " FROM non_detection")
    return sql


def _object_sql(columns, survey) -> str:
    return "SELECT *, healpix29(meanra, meandec) AS healpix FROM object"


def _object_pixel_sql(columns, survey) -> str:
    shift = 2 * (HEALPIX_ORDER - INDEX_ORDER)
    distance = ("degrees(2 * asin(least(1, sqrt(sin((o.d - radians(c.center_dec)) / 2) ^ 2 "
                "+ cos(o.d) * cos(radians(c.center_dec)) "
                "* sin((o.a - radians(c.center_ra)) / 2) ^ 2))))")
    return f"""
        WITH o AS (SELECT healpix29(meanra, meandec) >> {shift} AS pixel,
                          radians(meanra) AS a, radians(meandec) AS d
                   FROM object WHERE meanra IS NOT NULL AND meandec IS NOT NULL),
        v AS (SELECT pixel, count(*) AS objects, avg(cos(d) * cos(a)) AS x,
                     avg(cos(d) * sin(a)) AS y, avg(sin(d)) AS z FROM o GROUP BY pixel),
        c AS (SELECT pixel, objects, (degrees(atan2(y, x)) + 360) % 360 AS center_ra,
                     degrees(atan2(z, sqrt(x * x + y * y))) AS center_dec FROM v)
        SELECT c.pixel, c.objects, c.center_ra, c.center_dec,
               max({distance}) + 1e-9 AS radius_deg
        FROM c JOIN o USING (pixel) GROUP BY c.pixel, c.objects, c.center_ra, c.center_dec"""


def healpix29(ra: pa.Array, dec: pa.Array) -> pa.Array:
    """HEALPix pixel (order 29, nested) of positions in degrees; null where unknown.
    A DuckDB function of the catalog's connection (astropy-healpix does the sphere)."""
    import astropy.units as u
    import numpy as np
    from astropy_healpix import lonlat_to_healpix

    known = pc.and_(pc.is_valid(ra), pc.is_valid(dec))
    lon = pc.fill_null(ra, 0.0).to_numpy(zero_copy_only=False)
    lat = np.clip(pc.fill_null(dec, 0.0).to_numpy(zero_copy_only=False), -90, 90)
    pixels = lonlat_to_healpix(lon * u.deg, lat * u.deg, 2 ** HEALPIX_ORDER, order="nested")
    return pc.if_else(known, pa.array(np.asarray(pixels, dtype=np.int64)),
                      pa.nulls(len(ra), pa.int64()))


CATALOG = (
    CatalogTable("object", ("object",), ("healpix", "oid"), query=_object_sql),
    CatalogTable("object_pixel", ("object",), ("pixel",), query=_object_pixel_sql),
    CatalogTable("magstat", ("magstat",), ("oid", "fid")),
    CatalogTable("feature", ("feature",), ("oid",), required=False),
    CatalogTable("probability", ("probability",),
                 ("oid", "classifier_version", "class_name", "ranking"),
                 "classifier_name", required=False),
    CatalogTable("lightcurve", ("detection", "non_detection"),
                 ("oid", "mjd", "fid", "candid"), "night", query=_lightcurve_sql),
    CatalogTable("forced_photometry", ("forced_photometry",), ("oid", "mjd", "fid"), "night",
                 required=False),
    # context and follow-up (lake.xmatch, science.anomaly, lake.candidates)
    CatalogTable("xmatch", ("xmatch",), ("oid", "catalog"), required=False),
    CatalogTable("anomaly", ("anomaly",), ("oid", "model", "top_class"), required=False),
    CatalogTable("candidate", ("candidate",), ("night", "rank", "oid"), required=False),
)
SOURCE_TABLES = tuple(dict.fromkeys(s for spec in CATALOG for s in spec.sources))


def open_source(config: dict, name: str, version: int) -> deltalake.DeltaTable:
    return deltalake.DeltaTable(storage.table_uri(config, name), version=version,
                                storage_options=storage.delta_storage_options(config))


def parquet_bytes(table: pa.Table, name: str = "") -> bytes:
    """Deterministic Parquet: fixed options and row groups; no pandas metadata, but the
    table's and columns' descriptions and units (``lake.publish.columns``)."""
    table = documented(name, table.replace_schema_metadata(None))
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, row_group_size=ROW_GROUP_ROWS, **PARQUET_OPTIONS)
    return sink.getvalue().to_pybytes()


def night_digests(config: dict, spec: CatalogTable, versions: dict[str, int],
                  salt: str = "") -> dict[str, str]:
    """Digest of each night partition of a night-partitioned table's sources: the Delta
    data files (and table ids) holding that night, so a night whose files did not change
    has the same digest and need not be read again."""
    per_night: dict[str, list[str]] = defaultdict(list)
    for source in spec.sources:
        if source not in versions:
            continue
        table = open_source(config, source, versions[source])
        ident = table.metadata().id
        actions = pa.table(table.get_add_actions(flatten=True))
        column = "partition.night" if "partition.night" in actions.column_names else None
        if column is None:
            raise RuntimeError(f"{source} is not partitioned by night: cannot publish "
                               f"{spec.name} by night")
        for path, night in zip(actions.column("path").to_pylist(),
                               actions.column(column).to_pylist()):
            per_night[str(night)].append(f"{source}:{ident}:{path}")
    return {night: hashlib.sha256("\n".join([salt] + sorted(paths)).encode()).hexdigest()[:20]
            for night, paths in per_night.items()}


class CatalogWriter:
    """Writes the catalog tables of one state of the lake under ``root``; with the
    ``previous`` manifest of the same root, reuses what it holds (see the module)."""

    def __init__(self, config: dict, versions: dict[str, int], root: str,
                 previous: dict | None = None, rows_per_file: int | None = None,
                 on_file=None, salt: str = ""):
        self.config, self.versions, self.root = config, versions, root.rstrip("/")
        self.previous = (previous or {}).get("tables", {}) \
            if (previous or {}).get("format") == FORMAT else {}
        self.known = {f["path"] for t in self.previous.values() for f in t["files"]}
        self.rows_per_file = int(rows_per_file or (config.get("publish") or {}).get(
            "rows_per_file") or DEFAULT_ROWS_PER_FILE)
        self.on_file, self.salt = on_file, salt
        self.written = {"files": 0, "bytes": 0, "reused_files": 0, "tables": {}}

    def write(self) -> dict:
        import duckdb

        self.con = duckdb.connect()
        self.con.execute("SET threads TO 2")
        self.con.create_function("healpix29", healpix29, ["DOUBLE", "DOUBLE"], "BIGINT",
                                 type="arrow", null_handling="special")
        self.datasets, self.columns = {}, {}
        for name in SOURCE_TABLES:
            if name in self.versions:
                dataset = open_source(self.config, name, self.versions[name]).to_pyarrow_dataset()
                self.datasets[name] = dataset
                self.columns[name] = set(dataset.schema.names)
        tables = {}
        try:
            for spec in CATALOG:
                if spec.sources[0] not in self.columns:
                    if spec.required:
                        raise RuntimeError(f"cannot publish: the lake has no {spec.sources[0]} "
                                           "table")
                    continue
                tables[spec.name] = self._table(spec)
        finally:
            self.con.close()
        return tables

    def _table(self, spec: CatalogTable) -> dict:
        previous = self.previous.get(spec.name)
        entry = {"sort": list(spec.sort),
                 "partitioning": [spec.partition_by] if spec.partition_by else [],
                 "sources": {s: self.versions[s] for s in spec.sources if s in self.versions}}
        files, schema = [], None
        for source in spec.sources:   # everything registered, unfiltered
            if source in self.datasets:
                self.con.register(source, self.datasets[source])
        query = spec.sql(self.columns, surveys.of(self.config))
        if spec.by_night:
            digests = night_digests(self.config, spec, self.versions, self.salt)
            old = (previous or {}).get("night_digests", {})
            changed = sorted(n for n, d in digests.items() if old.get(n) != d)
            files = [f for f in (previous or {}).get("files", [])
                     if f["partition"]["night"] in digests and f["partition"]["night"] not in changed]
            self.written["reused_files"] += len(files)
            entry["night_digests"] = digests
            schema = (previous or {}).get("schema") if files else None
            if changed:
                nights = pa.array([int(n) for n in changed], pa.int32())
                for source in spec.sources:   # read only the changed nights
                    if source in self.datasets:
                        self.con.register(source, self.datasets[source].scanner(
                            filter=pc.field("night").isin(nights)).to_reader())
                new, schema = self._write_partitions(spec, query)
                files += new
        else:
            files, schema = self._write_partitions(spec, query)
        files.sort(key=lambda f: f["path"])
        entry.update(rows=sum(f["rows"] for f in files), files=files, schema=schema or [])
        log.info("%-17s %d rows in %d file(s)", spec.name, entry["rows"], len(files))
        return entry

    def _write_partitions(self, spec: CatalogTable, query: str) -> tuple[list, list]:
        order = ", ".join(f"{_quote(c)} ASC NULLS LAST" for c in spec.sort)
        if not spec.partition_by:
            data = _normalize(self.con.sql(f"SELECT * FROM ({query}) ORDER BY {order}")
                              .to_arrow_table())
            return self._write_files(spec, data, None), _schema(data)
        # Materialize once, clustered by partition: each partition is then a cheap range
        # of one in-memory table instead of a new scan of the Delta sources.
        key = _quote(spec.partition_by)
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE staged AS SELECT * FROM ({query}) "
                         f"ORDER BY {key}, {order}")
        values = [r[0] for r in self.con.sql("SELECT DISTINCT " + key + " FROM staged "
                                             "ORDER BY 1").fetchall()]
        files, schema = [], None
        from lake.cli import progress

        for value in progress(values, len(values), f"{spec.name} partitions", "part"):
            literal = "'" + str(value).replace("'", "''") + "'"
            data = _normalize(self.con.sql(
                f"SELECT * EXCLUDE ({key}) FROM staged WHERE {key} = {literal} "
                f"ORDER BY {order}").to_arrow_table())
            schema = schema or _schema(data)
            files += self._write_files(spec, data, str(value))
        self.con.execute("DROP TABLE staged")
        return files, schema

    def _write_files(self, spec: CatalogTable, data: pa.Table, value: str | None) -> list:
        folder = f"{DATA}/{spec.name}" + (f"/{spec.partition_by}={value}" if value else "")
        files = []
        for start in range(0, max(data.num_rows, 1), self.rows_per_file):
            part = data.slice(start, self.rows_per_file)
            payload = parquet_bytes(part, spec.name)
            sha = hashlib.sha256(payload).hexdigest()
            relative = f"{folder}/{sha[:32]}.parquet"
            if relative in self.known:
                self.written["reused_files"] += 1
            else:
                uri = storage.join(self.root, *relative.split("/"))
                storage.write_bytes(self.config, uri, payload)
                self.written["files"] += 1
                self.written["bytes"] += len(payload)
                self.written["tables"][spec.name] = \
                    self.written["tables"].get(spec.name, 0) + len(payload)
                if self.on_file:
                    self.on_file(uri)
            files.append({"path": relative, "rows": part.num_rows, "bytes": len(payload),
                          "sha256": sha,
                          "partition": {spec.partition_by: value} if value else {}})
        return files


def write_catalog(config: dict, versions: dict[str, int], root: str, previous: dict | None = None,
                  rows_per_file: int | None = None, on_file=None, salt: str = "") -> tuple[dict, dict]:
    """Write every catalog table from the sources at ``versions`` under ``root``
    (reusing the files of the ``previous`` manifest of that root). Returns the
    manifest's ``tables`` section and what was written (files, bytes, reused files).
    ``on_file(uri)`` is called after each file is written (progress, tests)."""
    writer = CatalogWriter(config, versions, root, previous, rows_per_file, on_file, salt)
    tables = writer.write()
    return tables, writer.written


def referenced_files(manifest: dict) -> set[str]:
    """Root-relative paths of the data files a manifest uses."""
    return {f["path"] for t in manifest.get("tables", {}).values() for f in t["files"]}


def _schema(table: pa.Table) -> list[dict]:
    return [{"name": f.name, "type": str(f.type)} for f in table.schema]


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
