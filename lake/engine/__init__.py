"""The compute engine: the only package that knows engine differences.

Three ways to get a SparkSession, one code path for the jobs:

* ``embedded`` (default): a Sail Spark Connect server (``pysail``) started inside this
  process; no server to run by hand, Delta and S3 built in.
* ``remote``: any Spark Connect server (``SPARK_REMOTE=sc://host:port``), including
  ``spark-submit --remote``.
* ``cluster``: classic Spark under ``spark-submit`` on a Spark 4.2 cluster with delta-spark
  (settings from ``conf/cluster.yaml``).

Modules: this one (sessions, paths, schema DDL, which writer writes tables:
``table_writes_through_engine``), ``batches`` (``map_batches``: where per-item Python work
runs), ``locks`` (table locks and the staging guard), ``cluster`` (the pinned Maven packages,
the session settings and the spark-submit command of a cluster).

Every workaround for the embedded engine (Sail 0.7.2): what Sail does, the workaround,
and the one place it is called from.

* Reads the S3 endpoint and region only from the environment: ``object_store_env``, set
  in ``os.environ`` before the server starts (``_start_embedded``, here).
* Drops a session idle for 900 s (a long decode left it idle; the next query failed):
  ``embedded_session_env`` gives ``engine.session_timeout`` (a day) (``_start_embedded``).
* Bounds memory only through its own settings: ``embedded_memory_env`` (``_start_embedded``).
* Logs every session at INFO: ``RUST_LOG=warn`` (``_start_embedded``).
* Percent-encodes local paths again, writing paths with `` %#?`` to the wrong folder:
  ``spark_path`` refuses them; every path the engine reads or writes goes through it
  (``lake.delta``, ``lake.stages``).
* Does not parse ALTER TABLE and silently drops unknown columns on append: ``add_columns``
  evolves the schema with delta-rs (DDL on a cluster) (``lake.delta.merge_into``).
* Sees columns just added only after a while, and may write without them meanwhile:
  ``lake.delta.schema.wait_for_columns`` and ``check_written_columns`` (kept in lake.delta,
  marked there) (``lake.delta.merge_into``).
* Re-commits a losing concurrent write without conflict checks (duplicate rows):
  ``locks.table_lock`` around every table write (``lake.delta``'s writers).
* Crashes selecting nested struct fields read back from Delta: ``NESTED_COLUMNS_SUPPORTED``
  is False, so the decode (``lake.bronze.decode``, run by ``lake.stages.ingest``) writes
  flat tables, on every engine, so that the tables do not depend on the engine.
* Runs Python UDFs in its own process under one GIL: ``batches.map_batches`` runs
  per-item Python work in ``process_pool`` beside it (``lake.stages.ingest`` decode,
  ``lake.stages.process`` features); on JVM Spark it is ``mapInArrow`` on the executors.
"""
from __future__ import annotations

import atexit
import logging
import os
import threading

from lake import storage

log = logging.getLogger(__name__)

# Sail 0.7.2 crashes selecting a nested struct field of a table read back from Delta
# ("Found unmasked nulls for non-nullable StructArray field"), while the same data as flat
# columns writes and reads back fine. So nested Avro records (candidate, prv_candidates,
# fp_hists) are exploded into flat columns by the decode, on every engine (the lake's
# tables are the same whichever engine wrote them), and a raw alert is kept as its bytes.
NESTED_COLUMNS_SUPPORTED = False

_lock = threading.Lock()
_embedded_server = None
_session = None
_session_mode = None


def engine_mode(config: dict) -> str:
    """Resolve ``engine.mode: auto`` to embedded, remote or cluster."""
    mode = (config.get("engine", {}).get("mode") or "auto").lower()
    if mode != "auto":
        return mode
    if remote_url(config):
        return "remote"
    # spark-submit (classic) hands the Python driver a Py4J gateway.
    if os.environ.get("PYSPARK_GATEWAY_PORT"):
        return "cluster"
    return "embedded"


def remote_url(config: dict) -> str | None:
    """The Spark Connect URL: configuration, SPARK_REMOTE, or ``spark-submit --remote``
    (which hands the Python driver its settings in PYSPARK_REMOTE_INIT_CONF_*)."""
    url = config.get("engine", {}).get("remote") or os.environ.get("SPARK_REMOTE")
    if url:
        return url
    import json

    for i in range(int(os.environ.get("PYSPARK_REMOTE_INIT_CONF_LEN") or 0)):
        settings = json.loads(os.environ.get(f"PYSPARK_REMOTE_INIT_CONF_{i}") or "{}")
        if settings.get("spark.remote"):
            return settings["spark.remote"]
    return None


def _start_embedded(config: dict) -> str:
    """Start Sail in-process once and return its sc:// URL."""
    global _embedded_server
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("RUST_LOG", "warn")  # Sail logs every session at INFO otherwise
    # Sail reads the object-store endpoint from the environment; credentials are
    # already there (from the environment, or resolved by ``object_store_env`` when the
    # settings say ``credentials: profile``).
    for name, value in object_store_env(config).items():
        os.environ.setdefault(name, value)
    for name, value in {**embedded_memory_env(config), **embedded_session_env(config)}.items():
        os.environ.setdefault(name, value)
    if _embedded_server is None:
        from pysail.spark import SparkConnectServer

        server = SparkConnectServer(ip="127.0.0.1", port=0)
        server.start(background=True)
        _embedded_server = server
        atexit.register(stop)
    host, port = _embedded_server.listening_address
    return f"sc://{host}:{port}"


def object_store_env(config) -> dict[str, str]:
    """Environment variables the embedded engine (Sail) reads to reach S3: it takes the
    endpoint and region from the environment only.

    >>> object_store_env({"object_store": {"endpoint": "http://127.0.0.1:8333"}})["AWS_ALLOW_HTTP"]
    'true'
    """
    store = config.get("object_store", {})
    env = {"AWS_REGION": store.get("region") or "us-east-1"}
    if store.get("credentials") == "profile":   # resolved here: Sail reads the variables
        from lake import storage

        env.update(storage.of(config).credentials())
    if store.get("endpoint"):
        env["AWS_ENDPOINT"] = store["endpoint"]
        env["AWS_ENDPOINT_URL"] = store["endpoint"]
        env["AWS_ALLOW_HTTP"] = "true" if store["endpoint"].startswith("http://") else "false"
    return env


def memory_limit_bytes(value, total: int | None = None) -> int:
    """Bytes of ``engine.memory_limit``: ``"40%"`` (of this machine's memory), ``"8G"``,
    ``"512M"``, a number of bytes, or 0 / ``"unbounded"`` for no limit.

    >>> memory_limit_bytes("25%", total=16 << 30) == 4 << 30
    True
    >>> memory_limit_bytes("1.5G"), memory_limit_bytes(0), memory_limit_bytes("unbounded")
    (1610612736, 0, 0)
    """
    text = str(value if value is not None else 0).strip().upper().removesuffix("B")
    if text in ("0", "", "UNBOUNDED", "NONE"):
        return 0
    if text.endswith("%"):
        # physical memory from the OS: psutil is only a test dependency
        total = total or os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        return int(total * float(text[:-1]) / 100)
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    if text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(float(text))


def embedded_memory_env(config: dict) -> dict[str, str]:
    """Sail settings that bound the embedded engine's memory.

    With a bounded pool, sorts and window functions spill to ``engine.spill_dir``
    beyond it; hash joins and some hash aggregations cannot spill and fail instead
    (measured: at 40% the magstat aggregation of a 1e5-alert night), which is why the
    default is unbounded.
    """
    engine_conf = config.get("engine", {})
    limit = memory_limit_bytes(engine_conf.get("memory_limit"))
    if not limit:
        return {}
    env = {"SAIL_RUNTIME__MEMORY_POOL__TYPE": "fair",
           "SAIL_RUNTIME__MEMORY_POOL__FAIR__MAX_SIZE": str(limit)}
    spill_dir = engine_conf.get("spill_dir")
    if spill_dir:
        os.makedirs(spill_dir, exist_ok=True)
        env["SAIL_RUNTIME__TEMPORARY_FILES__PATHS"] = f"[{os.path.abspath(spill_dir)}]"
    return env


def embedded_session_env(config: dict) -> dict[str, str]:
    """Sail drops a session idle for ``engine.session_timeout`` seconds (Sail's default is
    900). A nightly job's session idles while Python works outside the engine (decoding
    a 1e6-alert night took 20 minutes and the next query failed with "session ... is not
    running"), so the embedded server keeps sessions for a day by default.

    >>> embedded_session_env({"engine": {"session_timeout": 60}})
    {'SAIL_SPARK__SESSION_TIMEOUT_SECS': '60'}
    """
    seconds = int(config.get("engine", {}).get("session_timeout") or 86400)
    return {"SAIL_SPARK__SESSION_TIMEOUT_SECS": str(seconds)}


def get_spark(config: dict):
    """Return the SparkSession for this process (created once)."""
    global _session, _session_mode
    from pyspark.sql import SparkSession

    with _lock:
        if _session is not None:
            return _session
        mode = engine_mode(config)
        spark_conf = dict(config.get("engine", {}).get("spark_conf") or {})
        if mode == "embedded":
            builder = SparkSession.builder.remote(_start_embedded(config))
        elif mode == "remote":
            url = remote_url(config)
            if not url:
                raise ValueError("engine mode remote needs SPARK_REMOTE=sc://host:port")
            builder = SparkSession.builder.remote(url)
        elif mode == "cluster":
            from lake.engine import cluster

            from pyspark import SparkConf

            builder = SparkSession.builder.appName("alert-lake")
            given = SparkConf()  # spark-submit's --conf settings win over the configuration
            for key, value in cluster.session_conf(config).items():
                if not given.contains(key):
                    builder = builder.config(key, value)
        else:
            raise ValueError(f"unknown engine mode {mode!r} (embedded, remote, cluster, auto)")
        session = builder.getOrCreate()
        for key, value in spark_conf.items():
            try:
                session.conf.set(key, str(value))
            except Exception as error:  # static confs cannot change once a session runs
                log.debug("spark conf %s not set: %s", key, error)
        _session, _session_mode = session, mode
        log.info("engine: %s (Spark %s)", mode, session.version)
        return session


def stop() -> None:
    """Stop the session and the embedded server (tests and job exits)."""
    global _session, _embedded_server
    with _lock:
        for pool in _pools.values():
            pool.shutdown(cancel_futures=True)
        _pools.clear()
        if _session is not None:
            try:
                _session.stop()
            except Exception:  # the server may already be gone at interpreter exit
                pass
            _session = None
        if _embedded_server is not None:
            try:
                _embedded_server.stop()
            except Exception:
                pass
            _embedded_server = None


def spark_path(config: dict, uri: str) -> str:
    """The path a Spark engine reads: Hadoop's S3 connector on a cluster is ``s3a://``."""
    mode = engine_mode(config)
    if mode == "cluster" and uri.startswith("s3://"):
        return "s3a://" + uri[len("s3://"):]
    if mode == "embedded" and any(ch in uri for ch in " %#?"):
        # Sail 0.7.2 percent-encodes local paths again, writing to the wrong folder.
        raise ValueError(f"the embedded engine cannot use paths with spaces, %, # or ?: {uri!r}")
    return uri


def table_writes_through_engine(config: dict) -> bool:
    """Whether every table write must be a Delta operation of the engine (MERGE, append,
    ALTER TABLE), rather than the streamed delta-rs paths of ``lake.delta`` (``append``,
    ``update``). True on a cluster: delta-spark's S3 log store (S3SingleDriverLogStore)
    assumes that one process writes a table's log, so a delta-rs commit beside it would
    be a second, unsynchronised writer. Locally (embedded engine) every writer commits
    under the table's lock (``locks.table_lock``) with delta-rs' conditional log writes."""
    return engine_mode(config) == "cluster"


def add_columns(spark, config: dict, uri: str, fields) -> None:
    """Add nullable columns to a Delta table without rewriting its data.

    ``fields`` is a list of pyarrow fields. Sail does not parse ALTER TABLE, and it
    silently drops unknown columns on write, so locally the schema is evolved with
    delta-rs; delta-spark on a cluster takes the standard DDL.
    """
    if not fields:
        return
    if engine_mode(config) == "cluster":
        columns = ", ".join(f"`{f.name}` {_ddl_type(f.type)}" for f in fields)
        spark.sql(f"ALTER TABLE delta.`{spark_path(config, uri)}` ADD COLUMNS ({columns})")
        return
    import deltalake

    table = deltalake.DeltaTable(uri, storage_options=storage.delta_storage_options(config))
    table.alter.add_columns([deltalake.Field.from_arrow(f.with_nullable(True)) for f in fields])


def decode_parallelism(config) -> int:
    """Processes of the pool that runs per-item Python work beside the embedded engine
    (whose Python UDFs share one interpreter): ``ingest.workers``, else one per core.
    On a JVM Spark engine the executors do that work (``batches.map_batches``)."""
    workers = int(config.get("ingest", {}).get("workers") or 0)
    return workers if workers > 0 else (os.cpu_count() or 1)


def _ddl_type(arrow_type) -> str:
    """Spark SQL DDL name of a (flat) pyarrow type."""
    import pyarrow as pa

    names = {pa.bool_(): "BOOLEAN", pa.int8(): "TINYINT", pa.int16(): "SMALLINT",
             pa.int32(): "INT", pa.int64(): "BIGINT", pa.float32(): "FLOAT",
             pa.float64(): "DOUBLE", pa.string(): "STRING", pa.large_string(): "STRING",
             pa.binary(): "BINARY", pa.large_binary(): "BINARY", pa.date32(): "DATE"}
    if arrow_type in names:
        return names[arrow_type]
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMP"
    raise TypeError(f"no Spark DDL type for {arrow_type}")


_pools: dict = {}


def process_pool(workers: int, initializer=None):
    """A pool of ``workers`` Python processes, started once per job and reused by every
    stage (process start-up and library imports are paid once, not per stage).

    Pure-Python work goes here rather than into UDFs: under Sail all Python UDFs share
    one interpreter, so only separate processes use more than one core.
    """
    import concurrent.futures as futures
    import multiprocessing

    pool = _pools.get(workers)
    if pool is None:
        # spawn, not fork: the embedded engine's threads already run in this process.
        context = multiprocessing.get_context("spawn")
        pool = futures.ProcessPoolExecutor(workers, mp_context=context,
                                           initializer=_warm_worker, initargs=(os.getpid(),))
        _pools[workers] = pool
        atexit.register(pool.shutdown, cancel_futures=True)
    return pool


def _warm_worker(parent: int) -> None:
    """Start a worker: exit when the job's process is gone (a job killed with SIGKILL
    must not leave workers behind), and import the decoding libraries."""
    import time

    def watch_parent():
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch_parent, daemon=True, name="parent-watch").start()
    # Only what every task needs: a stage's own libraries (numba kernels of the feature
    # stage, ...) load with its first task, so the ingest does not wait for them.
    import lake.bronze.decode  # noqa: F401
