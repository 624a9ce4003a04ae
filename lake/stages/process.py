"""Processing stage: for the objects that received detections in the given nights, read
their whole history from all nights and update ``detection`` (correction columns),
``object``, ``magstat`` and ``feature``, each in one MERGE commit.

    detection, non_detection (touched objects, all nights)
        -> lake.silver.correction.correct        (Spark)
        -> lake.gold.magstat / lake.gold.object  (Spark)
        -> lake.gold.feature                     (pandas, one process per core)

Features are the per-object Python work: the corrected light curves are staged as
Parquet in buckets of whole objects and each bucket runs in a worker process, so both
cores are used on the embedded engine (whose Python UDFs share one interpreter).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import functions as F

from lake import delta, engine, storage
from lake.engine import locks
from lake.gold import feature as feature_table
from lake import surveys
from lake.gold.magstat import magstat
from lake.gold.object import objects
from lake.runlog import Run
from lake.silver.correction import CORRECTION_COLUMNS, correct

log = logging.getLogger(__name__)

BUCKETS_PER_WORKER = 4


@dataclass
class ProcessResult:
    run_id: str
    nights: list[int] | None
    objects: int
    tables: dict
    seconds: float
    feature_seconds: float


def _read(spark, config, name):
    return delta.read_table(spark, config, name) if delta.table_exists(config, name) else None


def touched_objects(spark, config: dict, nights: list[int] | None):
    """Objects with an alert in ``nights`` (all objects when nights is None)."""
    alert = delta.read_table(spark, config, "alert")
    if nights:
        alert = alert.filter(F.col("night").isin(nights))
    return alert.select(F.col("objectId").alias("oid")).distinct()


def _features_of_bucket(bucket: int, staging: str, config: dict) -> dict:
    """Worker: features of one bucket of whole objects, written as Parquet."""
    clock = time.perf_counter()

    def read(name):
        filesystem, path = storage.arrow_filesystem(
            config, storage.join(staging, "feature_input", name, f"_bucket={bucket}"))
        try:
            return pq.read_table(path, filesystem=filesystem).to_pandas()
        except (FileNotFoundError, OSError):
            return None

    detections = read("detection")
    if detections is None or detections.empty:
        return {"bucket": bucket, "objects": 0, "seconds": 0.0}
    result = feature_table.compute(detections, read("non_detection"), read("object"))
    filesystem, path = storage.arrow_filesystem(config, storage.join(staging, "feature"))
    filesystem.create_dir(path, recursive=True)
    pq.write_table(pa.Table.from_pandas(result, preserve_index=False),
                   f"{path}/part-{bucket:05d}.parquet", filesystem=filesystem)
    return {"bucket": bucket, "objects": len(result), "seconds": time.perf_counter() - clock}


def compute_features(spark, config: dict, staging: str, inputs: dict, workers: int):
    """Stage inputs in buckets of whole objects, extract features in a process pool."""
    buckets = max(1, workers * BUCKETS_PER_WORKER)
    for name, frame in inputs.items():
        if frame is None:
            continue
        (frame.withColumn("_bucket", F.pmod(F.hash("oid"), F.lit(buckets)))
         .write.mode("overwrite").partitionBy("_bucket")
         .parquet(engine.spark_path(config, storage.join(staging, "feature_input", name))))
    clock = time.perf_counter()
    if workers == 1:
        results = [_features_of_bucket(b, staging, config) for b in range(buckets)]
    else:
        results = list(engine.process_pool(workers).map(
            _features_of_bucket, range(buckets), [staging] * buckets, [config] * buckets))
    seconds = time.perf_counter() - clock
    count = sum(r["objects"] for r in results)
    log.info("features of %d objects in %.1f s (%.0f objects/s, %d processes)", count,
             seconds, count / seconds if seconds else 0.0, workers)
    if not count:
        return None, seconds
    return spark.read.parquet(engine.spark_path(config, storage.join(staging, "feature"))), seconds


def process(config: dict, nights: list[int] | None = None, workers: int | None = None,
            with_features: bool = True, inputs: str = "") -> ProcessResult:
    spark = engine.get_spark(config)
    run = Run("process", source="lake", night=nights[-1] if nights else None, inputs=inputs)
    staging = storage.staging_uri(config, run.run_id)
    locks.clear_stale_staging(config, "process-")
    with locks.staging(config, staging):
        return _process(config, spark, run, staging, nights, workers, with_features)


def _process(config, spark, run, staging, nights, workers, with_features) -> ProcessResult:
    workers = workers or engine.decode_parallelism(config)
    counts, feature_seconds, n_objects = {}, 0.0, 0
    try:
        if not delta.table_exists(config, "detection"):
            raise RuntimeError("the lake has no detection table yet: run the ingest first")
        oids = touched_objects(spark, config, nights)
        detection = delta.read_table(spark, config, "detection").join(oids, "oid", "left_semi")
        corrected_path = storage.join(staging, "corrected_detection")
        correct(detection).write.parquet(engine.spark_path(config, corrected_path))
        corrected = spark.read.parquet(engine.spark_path(config, corrected_path))
        n_objects = corrected.select("oid").distinct().count()
        log.info("processing %d objects (%s)", n_objects,
                 f"nights {nights[0]}..{nights[-1]}" if nights else "all nights")

        counts["detection"] = delta.update_columns(config, "detection", corrected_path,
                                                   CORRECTION_COLUMNS)
        non_detection = _read(spark, config, "non_detection")
        if non_detection is not None:
            non_detection = non_detection.join(oids, "oid", "left_semi")
        alert = delta.read_table(spark, config, "alert").join(
            oids.withColumnRenamed("oid", "objectId"), "objectId", "left_semi")
        ps1 = surveys.of(config).object_context(
            lambda name: delta.read_table(spark, config, name), alert)
        reference = _read(spark, config, "reference")
        stats = magstat(corrected, non_detection, ps1)
        stats_path = storage.join(staging, "magstat")
        stats.write.parquet(engine.spark_path(config, stats_path))
        stats = spark.read.parquet(engine.spark_path(config, stats_path))
        counts["magstat"] = delta.merge_into(spark, config, "magstat", stats)
        object_frame = objects(corrected, stats, alert, ps1, reference)
        object_path = storage.join(staging, "object")
        object_frame.write.parquet(engine.spark_path(config, object_path))
        object_frame = spark.read.parquet(engine.spark_path(config, object_path))
        counts["object"] = delta.merge_into(spark, config, "object", object_frame)

        if with_features:
            features, feature_seconds = compute_features(spark, config, staging, {
                "detection": feature_table.detection_input(corrected, ps1),
                "non_detection": (non_detection.select(*feature_table.NON_DETECTION_INPUT)
                                  if non_detection is not None else None),
                "object": object_frame.select(*feature_table.OBJECT_INPUT),
            }, workers)
            if features is not None:
                counts["feature"] = delta.merge_into(spark, config, "feature", features)
        for name, c in counts.items():
            log.info("%-10s +%d rows, %d updated, version %d", name, c["inserted"],
                     c["updated"], c["version"])
        run.finish(spark, config, "succeeded", rows_in=n_objects, rows_out=n_objects,
                   tables=counts)
    except BaseException as error:
        try:
            run.finish(spark, config, "failed", error=f"{type(error).__name__}: {error}"[:2000])
        except Exception:
            log.exception("could not record the failed run")
        raise
    return ProcessResult(run.run_id, nights, n_objects, counts, run.elapsed, feature_seconds)
