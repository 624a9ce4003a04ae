"""alert-lake: a batch data lake for astronomical alert streams on Spark and Delta Lake.

Layout (open the module that matches the change you want to make):

- ``lake.config``   configuration from ``conf/*.yaml`` and the environment
- ``lake.engine``   the only module that knows engine differences (Sail / Spark Connect / cluster)
- ``lake.storage``  the only module that knows storage paths and object-store access
- ``lake.tables``   the lake's tables: names, keys, partitioning
- ``lake.delta``    writing to Delta tables: engine MERGE, streamed append, column update; which copy wins
- ``lake.runlog``   the ``run`` table: what each job read, wrote and how long it took
- ``lake.ztf``      reading ZTF alert files (Avro containers, tarballs, directories, S3)
- ``lake.surveys``  everything survey-specific (``base.Survey``; ``ztf/``), asked by the layers
- ``lake.bronze``   decoding alerts into flat rows per table (runs in worker processes)
- ``lake.silver``   DataFrame -> DataFrame transforms from staged alerts to silver tables
- ``lake.stages`` the stages the jobs in ``jobs/`` run (ingest, ...)
"""

__version__ = "0.1.0"
