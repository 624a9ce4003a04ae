"""Classification stage: every classifier of ``science.registry`` on the input it names
(the light-curve classifier on every featurized object touched by the night(s), the stamp
classifier on each such object's first alert), applied as pandas UDFs (``mapInPandas``;
the model is loaded once per worker process), written to ``probability`` with one MERGE.

Each object, classifier and level gets one row per class (probabilities summing to 1,
ranking 1 = most probable); re-running replaces rows whose values changed and nothing else.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from pyspark.sql import Window, functions as F

from lake import delta, engine, storage, surveys
from lake.candidates import write_candidates
from lake.config import CONF_DIR
from lake.stages.process import touched_objects
from lake.stages.runner import stage_run
from science import registry
from science.artifacts import ModelMissing  # noqa: F401  (jobs/classify.py catches it from here)

log = logging.getLogger(__name__)

STAMP_COLUMNS = ("cutoutScience", "cutoutTemplate", "cutoutDifference")


@dataclass
class ClassifyResult:
    run_id: str
    objects: int
    rows: dict
    seconds: float


def resolve_models(config: dict, chosen=None) -> dict:
    """Every registered classifier's model as the settings say (``science.registry``);
    relative models folders are relative to the project root (the directory holding
    ``conf/``), never to the current directory. Raises ``ModelMissing``."""
    return registry.resolve_models(config.get("models"), root=CONF_DIR.parent,
                                   registry=entries(config) if chosen is None else chosen)


def entries(config: dict) -> tuple:
    """The registry's classifiers for the lake's survey; the others are logged as skipped
    (an LSST lake has no classifier of its own yet)."""
    survey = surveys.of(config).name
    chosen = registry.for_survey(survey)
    for entry in registry.REGISTRY:
        if entry not in chosen:
            log.info("%s skipped: it classifies %s objects, this lake's survey is %s",
                     entry.name, "/".join(entry.surveys), survey)
    return chosen


def feature_rows(spark, config: dict, oids):
    """The feature rows of the touched objects that have features (None: no table yet)."""
    if not delta.table_exists(config, "feature"):
        return None
    return (delta.read_table(spark, config, "feature")
            .join(oids, "oid", "left_semi").filter(F.col("reason").isNull()))


def first_alerts(spark, config: dict, oids):
    """Each object's first alert (earliest jd, then smallest candid) with its stamps."""
    alert = delta.read_table(spark, config, "alert").drop("avro").join(
        oids.withColumnRenamed("oid", "objectId"), "objectId", "left_semi")
    first = Window.partitionBy("objectId").orderBy("jd", "candid")
    alert = (alert.withColumn("_rank", F.row_number().over(first)).filter("_rank = 1")
             .drop("_rank"))
    cutout = delta.read_table(spark, config, "cutout").select("candid", *STAMP_COLUMNS)
    return alert.join(cutout, "candid", "left").withColumnRenamed("objectId", "oid")


# The input rows each registry entry names (science.registry.FEATURES / FIRST_ALERTS).
INPUTS = {registry.FEATURES: feature_rows, registry.FIRST_ALERTS: first_alerts}


def classify(config: dict, nights: list[int] | None = None, inputs: str = "") -> ClassifyResult:
    chosen = entries(config)
    models = resolve_models(config, chosen)
    rows = {}
    with stage_run(config, "classify", night=nights[-1] if nights else None,
                   inputs=inputs, after=("ingest", "process")) as run:
        spark, staging = run.spark, run.staging
        counts = {}
        oids = touched_objects(spark, config, nights)
        by_table, table_rows = {}, {}   # probability, and entries with a table of their own
        for entry in chosen:
            frame = INPUTS[entry.input](spark, config, oids) if entry.name in models else None
            if frame is None:
                continue
            frame = frame.mapInPandas(entry.udf(models[entry.name]), entry.schema)
            # Materialize each classifier's rows once (the UDF must not run twice).
            path = storage.join(staging, entry.name)
            frame.write.parquet(engine.spark_path(config, path))
            staged = spark.read.parquet(engine.spark_path(config, path))
            rows[entry.name] = staged.count()
            if entry.finish is not None:   # e.g. anomaly scores ranked within the night
                staged = entry.finish(staged, night=nights[-1] if nights else None,
                                      survey=surveys.of(config).name)
            table_rows[entry.table] = table_rows.get(entry.table, 0) + rows[entry.name]
            by_table[entry.table] = (staged if entry.table not in by_table
                                     else by_table[entry.table].unionByName(staged))
        for table, frame in by_table.items():
            if table_rows[table]:
                counts[table] = delta.merge_into(spark, config, table, frame)
        n_candidates = write_candidates(spark, config, oids, nights, counts)  # lake.candidates
        n_objects = oids.count()
        log.info("classified %d objects: %s rows; %d candidates", n_objects, rows, n_candidates)
        run.succeeded(rows_in=n_objects, rows_out=sum(rows.values()), tables=counts)
    return ClassifyResult(run.run_id, n_objects, rows, run.elapsed)
