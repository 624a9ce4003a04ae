"""A small client for a published alert-lake catalog (a local folder or S3).

    pip install 'alert-lake[client]'        # duckdb + pyarrow only: no Spark, no torch

    from alert_lake_client import Catalog
    cat = Catalog("s3://bucket/catalog", endpoint="http://localhost:8333")   # or a folder
    cat.object("ZTF18abcdefg")              # dict, or None
    cat.lightcurve("ZTF18abcdefg")          # pyarrow.Table: detections and upper limits
    cat.cone(150.1, 2.2, radius_arcsec=30)  # objects within 30", nearest first
    cat.query("SELECT class_name, count(*) FROM probability WHERE ranking = 1 GROUP BY 1")

The catalog is found from ``latest.json`` (or ``version=`` / ``snapshot=``); each
published table is a DuckDB view over the manifest's Parquet files (pyarrow reads
them, so S3 needs no DuckDB extension). S3 credentials come from the environment
(AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), as for the AWS tools.

A cone search reads only the object files' row groups whose ``healpix`` range can hold
the cone: the ``object_pixel`` table names the order-6 pixels with objects, their
centre and radius, and each kept pixel p is the range ``[p << 46, (p + 1) << 46)`` of
the order-29 nested ``healpix`` column the object files are sorted by.
"""
from __future__ import annotations

import json
import math
from urllib.parse import urlparse

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
from pyarrow import fs

__all__ = ["Catalog", "table_dataset", "DATA"]

DATA = "data"
HEALPIX_ORDER = 29


def _filesystem(root: str, endpoint: str | None = None, region: str | None = None):
    """A pyarrow filesystem and the path of ``root`` inside it."""
    if not root.startswith(("s3://", "s3a://")):
        return fs.LocalFileSystem(), str(root).rstrip("/")
    parsed = urlparse(root)
    kwargs = {"region": region or "us-east-1"}
    if endpoint:
        url = urlparse(endpoint)
        kwargs.update(endpoint_override=url.netloc, scheme=url.scheme or "https")
    return fs.S3FileSystem(**kwargs), f"{parsed.netloc}/{parsed.path.strip('/')}"


def table_dataset(filesystem, base: str, manifest: dict, table: str) -> pads.Dataset:
    """One table of a manifest as a pyarrow dataset (hive partition columns included);
    ``base`` is where the manifest's file paths start."""
    spec = manifest["tables"][table]
    prefix = f"{base}/{DATA}/{table}"
    files = [f"{prefix}/{f['path'][len(DATA) + len(table) + 2:]}" for f in spec["files"]]
    partitioning = pads.partitioning(flavor="hive") if spec["partitioning"] else None
    return pads.dataset(files, format="parquet", filesystem=filesystem,
                        partitioning=partitioning, partition_base_dir=prefix)


def _distance_deg(ra1, dec1, ra2, dec2) -> float:
    """Great-circle distance (haversine), degrees."""
    a = math.radians(ra1), math.radians(dec1), math.radians(ra2), math.radians(dec2)
    h = math.sin((a[3] - a[1]) / 2) ** 2 + math.cos(a[1]) * math.cos(a[3]) * math.sin(
        (a[2] - a[0]) / 2) ** 2
    return math.degrees(2 * math.asin(min(1.0, math.sqrt(h))))


class Catalog:
    """A published catalog (``root``: a folder or ``s3://bucket/prefix``)."""

    def __init__(self, root: str, *, version: str | None = None, snapshot: str | None = None,
                 endpoint: str | None = None, region: str | None = None):
        self.filesystem, self.root = _filesystem(root, endpoint, region)
        if snapshot:
            folder = f"{self.root}/snapshots/{snapshot}"
            self.base = folder
        else:
            if version is None:
                version = self._json(f"{self.root}/latest.json")["version"]
            folder, self.base = f"{self.root}/catalog/{version}", self.root
        self.manifest = self._json(f"{folder}/manifest.json")
        self.version = self.manifest.get("version") or self.manifest.get("name")
        self.night = self.manifest.get("night")
        self.con = duckdb.connect()
        self.datasets = {name: table_dataset(self.filesystem, self.base, self.manifest, name)
                         for name in self.manifest["tables"]}
        for name, dataset in self.datasets.items():
            self.con.register(name, dataset)
        self.last_scan: dict = {}

    def _json(self, path: str) -> dict:
        try:
            with self.filesystem.open_input_stream(path) as handle:
                return json.loads(handle.read())
        except FileNotFoundError:
            raise FileNotFoundError(f"no published catalog at {path} (publish a night "
                                    "first: python jobs/publish.py --night YYYYMMDD)") from None

    @property
    def tables(self) -> list[str]:
        return sorted(self.datasets)

    def query(self, sql: str, params=None) -> pa.Table:
        """Any SQL over the published tables (one view per table)."""
        return self.con.sql(sql, params=params).to_arrow_table()

    def object(self, oid: str) -> dict | None:
        rows = self.datasets["object"].to_table(filter=pc.field("oid") == oid).to_pylist()
        return rows[0] if rows else None

    def lightcurve(self, oid: str) -> pa.Table:
        """Detections (``detected``) and upper limits of one object, by time."""
        return self._of("lightcurve", oid, ["mjd", "fid"])

    def forced_photometry(self, oid: str) -> pa.Table:
        return self._of("forced_photometry", oid, ["mjd"])

    def probabilities(self, oid: str) -> pa.Table:
        return self._of("probability", oid, ["classifier_name", "ranking"])

    def _of(self, table: str, oid: str, order: list[str]) -> pa.Table:
        if table not in self.datasets:
            raise KeyError(f"this publication has no {table} table (tables: {self.tables})")
        rows = self.datasets[table].to_table(filter=pc.field("oid") == oid)
        return rows.sort_by([(c, "ascending") for c in order if c in rows.column_names])

    def cone(self, ra: float, dec: float, radius_arcsec: float) -> pa.Table:
        """Objects within ``radius_arcsec`` of (ra, dec) (degrees, ICRS), nearest first,
        with their ``distance_arcsec``. ``last_scan`` tells what was read."""
        radius = radius_arcsec / 3600.0
        index = self.datasets["object_pixel"].to_table(
            columns=["pixel", "center_ra", "center_dec", "radius_deg"]).to_pylist()
        pixels = [row["pixel"] for row in index if _distance_deg(
            ra, dec, row["center_ra"], row["center_dec"]) <= row["radius_deg"] + radius]
        self.last_scan = {"pixels": len(pixels), "row_groups": 0, "row_groups_total": 0}
        if not pixels:
            return self.datasets["object"].schema.empty_table().append_column(
                "distance_arcsec", pa.array([], pa.float64()))
        shift = 2 * (HEALPIX_ORDER - int(self._index_order()))
        field = pc.field("healpix")
        keep = None
        for lo, hi in _ranges(sorted(pixels)):
            term = (field >= (lo << shift)) & (field < ((hi + 1) << shift))
            keep = term if keep is None else keep | term
        parts = []
        for fragment in self.datasets["object"].get_fragments():
            self.last_scan["row_groups_total"] += fragment.metadata.num_row_groups
            for group in fragment.split_by_row_group(filter=keep):
                self.last_scan["row_groups"] += 1
                parts.append(group.to_table(filter=keep, schema=self.datasets["object"].schema))
        found = pa.concat_tables(parts) if parts else self.datasets["object"].schema.empty_table()
        self.con.register("_cone", found)
        try:
            return self.con.sql(
                "SELECT * FROM (SELECT *, degrees(2 * asin(least(1, sqrt(sin(radians(meandec - ?) / 2) ^ 2 "
                "+ cos(radians(meandec)) * cos(radians(?)) * sin(radians(meanra - ?) / 2) ^ 2)))) "
                "* 3600 AS distance_arcsec FROM _cone) WHERE distance_arcsec <= ? "
                "ORDER BY distance_arcsec, oid", params=[dec, dec, ra, radius_arcsec]).to_arrow_table()
        finally:
            self.con.unregister("_cone")

    def _index_order(self) -> int:
        """The order of ``object_pixel`` (in the object files' schema metadata)."""
        meta = self.datasets["object"].schema.metadata or {}
        return json.loads(meta[b"healpix"])["index_order"] if b"healpix" in meta else 6


def _ranges(pixels: list[int]):
    """Consecutive pixels as (first, last) ranges.

    >>> list(_ranges([1, 2, 3, 7, 9, 10]))
    [(1, 3), (7, 7), (9, 10)]
    """
    start = prev = pixels[0]
    for p in pixels[1:]:
        if p != prev + 1:
            yield start, prev
            start = p
        prev = p
    yield start, prev
