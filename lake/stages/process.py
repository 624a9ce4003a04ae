"""Processing stage: for the objects that received detections in the given nights, read
their whole history from all nights and update ``detection`` (correction columns),
``object``, ``magstat`` and ``feature``, each in one MERGE commit.

    detection, non_detection (touched objects, all nights)
        -> lake.silver.correction.correct        (Spark)
        -> lake.gold.magstat / lake.gold.object  (Spark)
        -> lake.gold.feature                     (pandas, one process per core)

Features are the per-object Python work: the corrected light curves are staged as
Parquet in buckets of whole objects and each bucket is one task of the execution seam
(``lake.engine.batches``): a worker process beside the embedded engine (whose Python
UDFs share one interpreter), so both cores are used; an executor's ``mapInArrow`` task
on a JVM Spark engine, which reads its bucket and writes its features itself.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.sql import functions as F

from lake import delta, engine, storage
from lake.engine import batches
from lake.gold import feature as feature_table
from lake import surveys
from lake.gold.magstat import magstat
from lake.gold.object import objects
from lake.stages.runner import StageRun, stage_run
from lake.silver.correction import CORRECTION_COLUMNS, correct
from lake.xmatch.stage import match_night

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


FEATURE_INPUTS = ("detection", "non_detection", "object")


def read_bucket(tasks: pa.Table, staging: str, config) -> Iterator[dict]:
    """The execution seam's ``read``: the staged inputs of each bucket of whole objects
    in ``tasks`` (nothing for a bucket without detections)."""
    for bucket in tasks.column("bucket").to_pylist():
        def read(name, bucket=bucket):
            filesystem, path = storage.arrow_filesystem(
                config, storage.join(staging, "feature_input", name, f"_bucket={bucket}"))
            try:
                return pq.read_table(path, filesystem=filesystem)
            except (FileNotFoundError, OSError):
                return None

        inputs = {name: read(name) for name in FEATURE_INPUTS}
        if inputs["detection"] is not None and inputs["detection"].num_rows:
            yield inputs


def features_of(inputs: dict) -> dict[str, pa.Table]:
    """The execution seam's ``fn``: features of a bucket of whole objects."""
    frames = {name: t.to_pandas() if t is not None else None for name, t in inputs.items()}
    result = feature_table.compute(frames["detection"], frames["non_detection"],
                                   frames["object"])
    return {"feature": pa.Table.from_pandas(result, preserve_index=False)}


def compute_features(spark, config, staging: str, inputs: dict, workers: int):
    """Stage inputs in buckets of whole objects, extract features through the execution
    seam (a process pool beside the embedded engine, the executors of a Spark engine)."""
    buckets = max(1, workers * BUCKETS_PER_WORKER)
    for name, frame in inputs.items():
        if frame is None:
            continue
        (frame.withColumn("_bucket", F.pmod(F.hash("oid"), F.lit(buckets)))
         .write.mode("overwrite").partitionBy("_bucket")
         .parquet(engine.spark_path(config, storage.join(staging, "feature_input", name))))
    written = batches.map_batches(
        spark, config, pa.table({"bucket": pa.array(range(buckets), pa.int32())}),
        features_of, staging, read=read_bucket, read_args=(staging, config), workers=workers)
    seconds, count = written.seconds, written.rows["feature"]
    log.info("features of %d objects in %.1f s (%.0f objects/s, %s)", count, seconds,
             count / seconds if seconds else 0.0,
             "on the executors" if batches.python_work_on_executors(config)
             else f"{workers} processes")
    if not count:
        return None, seconds
    return spark.read.parquet(engine.spark_path(config, storage.join(staging, "feature"))), seconds


def process(config, nights: list[int] | None = None, workers: int | None = None,
            with_features: bool = True, inputs: str = "") -> ProcessResult:
    with stage_run(config, "process", night=nights[-1] if nights else None,
                   inputs=inputs, after=("ingest",)) as run:
        return _process(config, run, nights, workers, with_features)


def _process(config, run: StageRun, nights, workers, with_features) -> ProcessResult:
    spark, staging = run.spark, run.staging
    survey = surveys.of(config)
    workers = workers or engine.decode_parallelism(config)
    counts, feature_seconds, n_objects = {}, 0.0, 0
    if not delta.table_exists(config, "detection"):
        raise RuntimeError("the lake has no detection table yet: run the ingest first")
    oids = touched_objects(spark, config, nights)
    detection = delta.read_table(spark, config, "detection").join(oids, "oid", "left_semi")
    corrected_path = storage.join(staging, "corrected_detection")
    correct(detection, survey).write.parquet(engine.spark_path(config, corrected_path))
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
    ps1 = survey.object_context(
        lambda name: delta.read_table(spark, config, name), alert)
    reference = _read(spark, config, "reference")
    stats = magstat(corrected, non_detection, ps1, survey=survey)
    stats_path = storage.join(staging, "magstat")
    stats.write.parquet(engine.spark_path(config, stats_path))
    stats = spark.read.parquet(engine.spark_path(config, stats_path))
    counts["magstat"] = delta.merge_into(spark, config, "magstat", stats)
    object_frame = objects(corrected, stats, alert, ps1, reference, survey=survey)
    object_path = storage.join(staging, "object")
    object_frame.write.parquet(engine.spark_path(config, object_path))
    object_frame = spark.read.parquet(engine.spark_path(config, object_path))
    counts["object"] = delta.merge_into(spark, config, "object", object_frame)
    wise = match_night(spark, config, staging, object_frame, counts)   # lake.xmatch

    if with_features and not survey.computes_features:
        log.info("no features for %s objects yet: object and magstat only", survey.name)
    elif with_features:
        features, feature_seconds = compute_features(spark, config, staging, {
            "detection": feature_table.detection_input(corrected, ps1),
            "non_detection": (non_detection.select(*feature_table.NON_DETECTION_INPUT)
                              if non_detection is not None else None),
            "object": (object_frame.select(*feature_table.OBJECT_INPUT) if wise is None else
                       object_frame.select(*feature_table.OBJECT_INPUT).join(wise, "oid", "left")),
        }, workers)
        if features is not None:
            counts["feature"] = delta.merge_into(spark, config, "feature", features)
    for name, c in counts.items():
        log.info("%-10s +%d rows, %d updated, version %d", name, c["inserted"],
                 c["updated"], c["version"])
    run.succeeded(rows_in=n_objects, rows_out=n_objects, tables=counts)
    return ProcessResult(run.run_id, nights, n_objects, counts, run.elapsed, feature_seconds)
