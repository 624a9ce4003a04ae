"""Classification stage: the light-curve classifier on every featurized object touched
by the night(s), the stamp classifier on each such object's first alert, both applied as
pandas UDFs (``mapInPandas``; the model is loaded once per worker process), written to
``probability`` with one MERGE.

Each object, classifier and level gets one row per class (probabilities summing to 1,
ranking 1 = most probable); re-running replaces rows whose values changed and nothing else.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import Window, functions as F

from lake import delta, engine, storage
from lake.stages.process import touched_objects
from lake.stages.runner import stage_run

log = logging.getLogger(__name__)

STAMP_COLUMNS = ("cutoutScience", "cutoutTemplate", "cutoutDifference")


class ModelMissing(RuntimeError):
    pass


@dataclass
class ClassifyResult:
    run_id: str
    objects: int
    rows: dict
    seconds: float


def model_dirs(config: dict) -> dict[str, Path]:
    models = config.get("models") or {}
    dirs = {"lc": Path(models.get("lc_dir") or "var/models/lc_classifier"),
            "stamp": Path(models.get("stamp_dir") or "var/models/stamp_classifier")}
    for kind, path in dirs.items():
        from lake.classify import LC_ARTIFACT, STAMP_ARTIFACT, resolve_artifact

        try:
            resolve_artifact(path, LC_ARTIFACT if kind == "lc" else STAMP_ARTIFACT)
        except FileNotFoundError:
            raise ModelMissing(f"no trained {kind} model under {path.resolve()}: "
                               f"run `make models` (or set models.{kind}_dir)") from None
    return {kind: path.resolve() for kind, path in dirs.items()}


def first_alerts(spark, config: dict, oids):
    """Each object's first alert (earliest jd, then smallest candid) with its stamps."""
    alert = delta.read_table(spark, config, "alert").drop("avro").join(
        oids.withColumnRenamed("oid", "objectId"), "objectId", "left_semi")
    first = Window.partitionBy("objectId").orderBy("jd", "candid")
    alert = (alert.withColumn("_rank", F.row_number().over(first)).filter("_rank = 1")
             .drop("_rank"))
    cutout = delta.read_table(spark, config, "cutout").select("candid", *STAMP_COLUMNS)
    return alert.join(cutout, "candid", "left").withColumnRenamed("objectId", "oid")


def classify(config: dict, nights: list[int] | None = None, inputs: str = "") -> ClassifyResult:
    from lake.classify import PROBABILITY_SCHEMA, lc_udf, stamp_udf

    dirs = model_dirs(config)
    rows = {}
    with stage_run(config, "classify", night=nights[-1] if nights else None,
                   inputs=inputs) as run:
        spark, staging = run.spark, run.staging
        counts = {}
        oids = touched_objects(spark, config, nights)
        frames = []
        if delta.table_exists(config, "feature"):
            features = (delta.read_table(spark, config, "feature")
                        .join(oids, "oid", "left_semi").filter(F.col("reason").isNull()))
            frames.append(("lc", features.mapInPandas(lc_udf(str(dirs["lc"])),
                                                      PROBABILITY_SCHEMA)))
        frames.append(("stamp", first_alerts(spark, config, oids).mapInPandas(
            stamp_udf(str(dirs["stamp"])), PROBABILITY_SCHEMA)))
        probability = None
        for kind, frame in frames:
            # Materialize each classifier's rows once (the UDF must not run twice).
            path = storage.join(staging, kind)
            frame.write.parquet(engine.spark_path(config, path))
            staged = spark.read.parquet(engine.spark_path(config, path))
            rows[kind] = staged.count()
            probability = staged if probability is None else probability.unionByName(staged)
        counts["probability"] = delta.merge_into(spark, config, "probability", probability)
        n_objects = oids.count()
        log.info("classified %d objects: %s probability rows", n_objects, rows)
        run.succeeded(rows_in=n_objects, rows_out=sum(rows.values()), tables=counts)
    return ClassifyResult(run.run_id, n_objects, rows, run.elapsed)
