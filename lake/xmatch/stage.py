"""The process stage's cross-match step: tonight's objects -> ``xmatch`` (one MERGE)."""
from __future__ import annotations

import logging

from pyspark.sql import DataFrame, functions as F

from lake import delta, engine, storage
from lake.config import CONF_DIR
from .catalogs import catalog_specs
from .match import match_objects, wise_magnitudes

log = logging.getLogger(__name__)


def match_night(spark, config, staging: str, objects: DataFrame, counts: dict):
    """Cross-match ``objects`` (the ``object`` rows of the touched objects: oid, meanra,
    meandec) with every configured catalog, merge the matches into ``xmatch`` (its row
    counts into ``counts``) and return the AllWISE magnitudes (oid, W1, W2, W3) for the
    features, or None (no catalog configured, or no match)."""
    if not catalog_specs(config, CONF_DIR.parent):
        return None
    positions = objects.select("oid", F.col("meanra").alias("ra"), F.col("meandec").alias("dec"))
    matches = match_objects(spark, config, positions, root=CONF_DIR.parent)
    if matches is None:
        return None
    path = storage.join(staging, "xmatch")
    matches.write.parquet(engine.spark_path(config, path))   # the join runs once
    matches = spark.read.parquet(engine.spark_path(config, path))
    if matches.limit(1).count():
        counts["xmatch"] = delta.merge_into(spark, config, "xmatch", matches)
    return wise_magnitudes(matches)
