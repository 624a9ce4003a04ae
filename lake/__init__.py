"""alert-lake: a batch data lake for astronomical alert streams on Spark and Delta Lake.

Layout (open the module that matches the change you want to make):

- ``lake.config``    configuration from ``conf/*.yaml`` and the environment, parsed once
- ``lake.settings``  the typed settings ``load_config`` returns (still readable as a mapping)
- ``lake.storage``   the only module that knows storage paths and object-store access
                     (one ``Storage`` per settings: one boto3 client, one pyarrow filesystem)
- ``lake.engine``    the only package that knows engine differences (Sail / Spark Connect /
                     cluster) and every Sail workaround; ``lake.engine.batches`` decides where
                     per-item Python work runs (process pool or executors);
                     ``lake.engine.locks`` table locks and the staging guard
- ``lake.delta``     the write paths, one commit each: engine MERGE, streamed append, column
                     update, schema evolution; ``lake.delta.priority``: which copy of a key wins
- ``lake.tables``    the lake's tables: names, keys, partitioning
- ``lake.runlog``    the ``run`` table: what each job read, wrote and how long it took
- ``lake.sources``   reading alert files (Avro containers, tarballs, directories, S3), bounded
- ``lake.surveys``   everything survey-specific (``base.Survey``; ``ztf/``), asked by the layers
- ``lake.bronze``    decoding alerts into flat rows per table (pure Python + Arrow, via the survey)
- ``lake.silver``    DataFrame -> DataFrame transforms from staged alerts to silver tables
- ``lake.gold``      per-object products (object, magstat, feature)
- ``lake.quality``   data-quality gates;  ``lake.publish``  the curated catalog
- ``lake.stages``    the stages the jobs in ``jobs/`` run (ingest, process, classify,
                     nightly) and ``lake.stages.runner``, their shared bookkeeping

Outside ``lake``: ``science/`` (light-curve features and the classifiers, with their
registry), ``simulator/`` (synthetic nights; test, bench and training tooling, never
imported by ``lake``).
"""

__version__ = "0.1.0"
