"""The cross-match itself: a join on HEALPix pixels in the engine.

Each object is exploded to its pixel at the catalog's join order and that pixel's 8
neighbours (``cdshealpix``, the pixel library hats uses; a pixel at a base-pixel corner
has 7). Each catalog source's pixel at that order comes from its HATS spatial index
(``_healpix_29 >> 2 (29 - order)``, an integer shift in the engine). Joined on the pixel,
every pair gets its great-circle distance (haversine, exact at the poles and across
ra = 0/360); the nearest source within the radius is kept (ties: the smaller id).
Join pixels are at least 3 radii wide (``CatalogSpec.join_order``), so no source within
the radius lies outside an object's 3 x 3 block.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, Window, functions as F
from pyspark.sql.types import DoubleType, LongType, StringType, StructField, StructType

from lake import surveys
from .catalogs import CatalogSpec, catalog_specs, footprint_files

log = logging.getLogger(__name__)

XMATCH_COLUMNS = ("oid", "survey", "catalog", "catalog_id", "distance", "catalog_ra",
                  "catalog_dec")
_NEIGHBOURHOOD = StructType([StructField("oid", StringType()), StructField("ra", DoubleType()),
                             StructField("dec", DoubleType()), StructField("_pix", LongType())])
WISE = ("allwise", {"W1": "W1mag", "W2": "W2mag", "W3": "W3mag"})


def neighbourhood(order: int):
    """mapInPandas: (oid, ra, dec) -> one row per pixel of each object's 3 x 3 block."""
    def explode(batches):
        import cdshealpix.nested as nested
        from hats.pixel_math.healpix_shim import radec2pix

        for pdf in batches:
            if not len(pdf):
                continue
            own = radec2pix(order, pdf["ra"].to_numpy(float), pdf["dec"].to_numpy(float))
            block = nested.neighbours(own.astype(np.uint64), order).astype(np.int64)
            rows = np.repeat(np.arange(len(pdf)), block.shape[1])
            pix = block.reshape(-1)
            keep = pix >= 0
            yield pd.DataFrame({"oid": pdf["oid"].to_numpy()[rows[keep]],
                                "ra": pdf["ra"].to_numpy(float)[rows[keep]],
                                "dec": pdf["dec"].to_numpy(float)[rows[keep]],
                                "_pix": pix[keep]})
    return explode


def angular_distance_arcsec(ra1, dec1, ra2, dec2):
    """Haversine great-circle distance of columns in degrees, in arcseconds."""
    r = F.lit(np.pi / 180.0)
    half_dra = (ra2 - ra1) * r / 2
    half_ddec = (dec2 - dec1) * r / 2
    h = F.pow(F.sin(half_ddec), 2) + F.cos(dec1 * r) * F.cos(dec2 * r) * F.pow(F.sin(half_dra), 2)
    return F.asin(F.sqrt(F.least(h, F.lit(1.0)))) * 2 * F.lit(180.0 / np.pi * 3600.0)


def crossmatch(spark, objects: DataFrame, spec: CatalogSpec, survey: str) -> DataFrame | None:
    """Nearest source of ``spec`` within its radius for each object of ``objects``
    (columns oid, ra, dec); None when no catalog partition overlaps them."""
    catalog = spec.open()
    info = catalog.catalog_info
    order = spec.join_order
    objects = objects.select("oid", F.col("ra").cast("double"), F.col("dec").cast("double")) \
        .filter(F.col("ra").isNotNull() & F.col("dec").isNotNull())
    # Cheap (vectorized pixel math): recomputed for the footprint and for the join.
    block = objects.mapInPandas(neighbourhood(order), _NEIGHBOURHOOD)
    pixels = np.array([r[0] for r in block.select("_pix").distinct().collect()], np.int64)
    files = footprint_files(catalog, pixels, order) if len(pixels) else []
    log.info("xmatch %s: %d footprint pixels (order %d) -> %d of %d partitions", spec.name,
             len(pixels), order, len(files), len(catalog.get_healpix_pixels()))
    if not files:
        return None
    ra_col, dec_col = info.ra_column or "ra", info.dec_column or "dec"
    index_col, index_order = info.healpix_column or "_healpix_29", info.healpix_order or 29
    sources = spark.read.parquet(*files).select(
        F.col(spec.id_column).cast("string").alias("catalog_id"),
        F.col(ra_col).cast("double").alias("catalog_ra"),
        F.col(dec_col).cast("double").alias("catalog_dec"),
        F.shiftright(F.col(index_col).cast("long"), 2 * (index_order - order)).alias("_pix"),
        *[F.col(c).cast("double").alias(c) for c in spec.columns])
    pairs = block.join(sources, "_pix").withColumn(
        "distance", angular_distance_arcsec(F.col("ra"), F.col("dec"), F.col("catalog_ra"),
                                            F.col("catalog_dec")))
    pairs = pairs.filter(F.col("distance") <= spec.radius_arcsec)
    nearest = Window.partitionBy("oid").orderBy("distance", "catalog_id")
    return (pairs.withColumn("_rank", F.row_number().over(nearest)).filter("_rank = 1")
            .select("oid", F.lit(survey).alias("survey"), F.lit(spec.name).alias("catalog"),
                    "catalog_id", "distance", "catalog_ra", "catalog_dec", *spec.columns))


def match_objects(spark, config, objects: DataFrame, root=None) -> DataFrame | None:
    """Every configured catalog's matches of ``objects`` (oid, ra, dec), as one frame
    with the union of the chosen columns (null where a catalog has no such column);
    None when no catalog is configured or nothing matched."""
    specs = catalog_specs(config, root)
    if not specs:
        return None
    survey = surveys.of(config).name
    chosen = list(dict.fromkeys(c for s in specs for c in s.columns))
    frames = []
    for spec in specs:
        frame = crossmatch(spark, objects, spec, survey)
        if frame is None:
            continue
        frames.append(frame.select(*XMATCH_COLUMNS, *[
            (F.col(c) if c in spec.columns else F.lit(None)).cast("double").alias(c)
            for c in chosen]))
    if not frames:
        return None
    out = frames[0]
    for frame in frames[1:]:
        out = out.unionByName(frame)
    return out


def wise_magnitudes(xmatch: DataFrame | None) -> DataFrame | None:
    """(oid, W1, W2, W3) of the AllWISE matches, the columns the WISE colour features
    read (``science.features.colors``); None without an AllWISE match."""
    catalog, columns = WISE
    if xmatch is None or not all(c in xmatch.columns for c in columns.values()):
        return None
    return xmatch.filter(F.col("catalog") == catalog).select(
        "oid", *[F.col(src).alias(dst) for dst, src in columns.items()])
