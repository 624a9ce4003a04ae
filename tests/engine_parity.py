"""Every stage's pure DataFrame transforms on one engine, for the engine-parity test.

Run by the test in this process (embedded engine) and as a subprocess under classic
PySpark against a JVM Spark standalone cluster:

    python tests/engine_parity.py --master spark://127.0.0.1:7077 --staged DIR --out DIR
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STAGING = ("alert", "cutout", "prv_candidate", "fp_hist", "quarantine")


def transforms(spark, staged: str) -> dict:
    """Ingest and processing transforms from staged alerts, as DataFrames by table."""
    from lake.delta import deduplicate
    from lake import surveys
    from lake.gold.magstat import magstat
    from lake.gold.object import objects
    from lake.stages.ingest import build_tables
    from lake.silver.correction import correct
    from lake.tables import TABLES

    frames = {name: (spark.read.parquet(os.path.join(staged, name))
                     if os.path.isdir(os.path.join(staged, name)) else None) for name in STAGING}
    tables = {name: deduplicate(frame, TABLES[name])
              for name, frame in build_tables(frames).items() if frame is not None}
    corrected = correct(tables["detection"])
    ps1 = surveys.get("ztf").object_context(tables.__getitem__, tables["alert"])
    stats = magstat(corrected, tables.get("non_detection"), ps1)
    tables.update({"corrected_detection": corrected, "magstat": stats,
                   "object": objects(corrected, stats, tables["alert"], ps1,
                                     tables.get("reference"))})
    # Binary columns (Avro bytes, stamps) are compared by the ingest tests.
    return {name: frame.select([f.name for f in frame.schema.fields
                                if f.dataType.typeName() != "binary"])
            for name, frame in tables.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--master", required=True)
    parser.add_argument("--staged", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    from pyspark.sql import SparkSession

    spark = (SparkSession.builder.master(args.master).appName("engine-parity")
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.sql.shuffle.partitions", "4")
             .config("spark.executor.memory", "1g").getOrCreate())
    for name, frame in transforms(spark, args.staged).items():
        frame.toPandas().to_parquet(os.path.join(args.out, f"{name}.parquet"))
    spark.stop()


if __name__ == "__main__":
    main()
