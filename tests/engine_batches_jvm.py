"""Run the execution seam's Spark path on a classic local JVM SparkSession (a separate
process: one JVM, no Spark Connect), for tests/test_engine_batches.py.

    python tests/engine_batches_jvm.py decode OUT FILE...      # ingest.stage -> OUT
    python tests/engine_batches_jvm.py features OUT INPUT_DIR  # compute_features -> OUT

Each writes what the embedded run writes (staging Parquet under OUT) plus
``OUT/summary.json`` (what the driver learned, and the Spark application id that proves
the work ran as mapInArrow tasks of this JVM session).
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def session():
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ["PYSPARK_PYTHON"] = sys.executable     # the executors' Python: this venv
    # the executors' Python workers import lake/science from this checkout
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    return (SparkSession.builder.master("local[2]").appName("alert-lake-batches-test")
            .config("spark.sql.shuffle.partitions", "2")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.ui.enabled", "false")
            .config("spark.executorEnv.PYTHONPATH", os.environ["PYTHONPATH"])
            .getOrCreate())


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(REPO))
    from lake.config import load_config

    what, out = argv[0], Path(argv[1])
    config = load_config(overrides={"lake": {"root": str(out / "lake")},
                                    "engine": {"mode": "cluster"}})
    spark = session()
    from lake.engine import batches

    assert batches.python_work_on_executors(config)
    summary = {"app": spark.sparkContext.applicationId,
               "master": spark.sparkContext.master}
    if what == "decode":
        from lake.stages.ingest import stage

        staged = stage(config, argv[2:], None, "parity", str(out / "staging"), spark=spark)
        summary.update(items=staged.items, rows=dict(staged.rows),
                       nights={str(k): v for k, v in staged.nights.items()})
    elif what == "features":
        import pyarrow.parquet as pq

        from lake.stages.process import compute_features

        inputs = {name: spark.createDataFrame(pq.read_table(Path(argv[2]) / f"{name}.parquet"))
                  for name in ("detection", "non_detection", "object")}
        features, _ = compute_features(spark, config, str(out / "staging"), inputs, workers=2)
        summary.update(rows=features.count())
    else:
        raise SystemExit(f"unknown work {what!r}")
    spark.stop()
    (out / "summary.json").write_text(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
