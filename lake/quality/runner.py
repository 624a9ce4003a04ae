"""Run the suites of a night with great-expectations on the engine's DataFrames and
record the results in the ``validation`` table.

great-expectations' Spark datasource runs on the embedded engine's Spark Connect
DataFrames (verified with pysail 0.7.2 / pyspark 4.2.0 / great-expectations 1.24.1),
so the checks execute in the engine, as on a cluster.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass, field

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")  # no usage statistics calls home

import deltalake  # noqa: E402
import pyarrow as pa  # noqa: E402

from lake import delta, storage, surveys  # noqa: E402
from lake.quality.spec import VALIDATION_SCHEMA, VALIDATION_TABLE  # noqa: E402
from lake.quality.suites import ERROR, build_checks  # noqa: E402
from lake.runlog import code_version  # noqa: E402

log = logging.getLogger(__name__)

SUITE_TABLES = ("alert", "cutout", "quarantine", "detection", "object", "magstat",
                "feature", "probability", "run")


class GateFailed(RuntimeError):
    """A night failed its data-quality gate: it must not be published."""

    def __init__(self, result: "ValidationResult"):
        self.result = result
        failed = result.failures()
        names = sorted({f"{r['check_name']}:{r['expectation']}"
                        + (f"({r['column_name']})" if r["column_name"] else "") for r in failed})
        super().__init__(f"night {result.night} failed {len(failed)} data-quality "
                         f"expectation(s): " + ", ".join(names[:8])
                         + (" ..." if len(names) > 8 else ""))


@dataclass
class ValidationResult:
    validation_id: str
    night: int
    success: bool
    versions: dict[str, int]           # Delta version of every table validated
    rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def failures(self, severity: str = ERROR) -> list[dict]:
        return [r for r in self.rows if not r["success"] and r["severity"] == severity]

    def warnings(self) -> list[dict]:
        return self.failures("warning")

    def summary(self) -> dict:
        by_table: dict[str, dict] = {}
        for r in self.rows:
            t = by_table.setdefault(r["table_name"], {"expectations": 0, "failed": 0,
                                                      "warnings": 0})
            t["expectations"] += 1
            if not r["success"]:
                t["failed" if r["severity"] == ERROR else "warnings"] += 1
        return {"validation_id": self.validation_id, "night": self.night,
                "success": self.success, "expectations": len(self.rows),
                "failed": len(self.failures()), "warnings": len(self.warnings()),
                "tables": by_table, "versions": self.versions, "notes": self.notes}

    def to_markdown(self) -> str:
        from lake.quality.render import markdown

        return markdown(self)

    def to_html(self) -> str:
        from lake.quality.render import html

        return html(self)

    def raise_for_failures(self) -> "ValidationResult":
        if not self.success:
            raise GateFailed(self)
        return self


def _context():
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    try:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    except Exception:  # progress bars are cosmetic
        pass
    return context


def _json(value) -> str | None:
    if value is None:
        return None
    return json.dumps(value, sort_keys=True, default=str)[:4000]


def _run_check(context, datasource, check, index: int, night: int) -> list[dict]:
    import great_expectations as gx

    asset = datasource.add_dataframe_asset(name=f"{check.name}-{index}")
    batch = asset.add_batch_definition_whole_dataframe("batch").get_batch(
        batch_parameters={"dataframe": check.frame})
    suite = context.suites.add(gx.ExpectationSuite(
        name=f"{night}-{check.name}-{index}",
        expectations=[e for e, _ in check.expectations]))
    # the suite holds the expectations in the order given: map severities by position
    severities = {e.id: sev for (_, sev), e in zip(check.expectations, suite.expectations)}
    outcome = batch.validate(suite, result_format={"result_format": "SUMMARY",
                                                   "partial_unexpected_count": 5})
    rows = []
    for result in outcome.results:
        config = result.expectation_config
        kwargs = {k: v for k, v in dict(config.kwargs).items()
                  if k not in ("batch_id", "result_format")}
        info = result.exception_info or {}
        if "raised_exception" not in info and info:  # {id: {...}} when several
            info = next(iter(info.values()))
        details = result.result or {}
        rows.append({
            "table_name": check.table, "check_name": check.name,
            "expectation": config.type,
            "column_name": kwargs.get("column") or (",".join(kwargs["column_list"])
                                                    if "column_list" in kwargs else None),
            "kwargs": _json(kwargs), "severity": severities.get(config.id, ERROR),
            "success": bool(result.success),
            "observed": _json(details.get("observed_value")),
            "element_count": details.get("element_count"),
            "unexpected_count": details.get("unexpected_count"),
            "unexpected_sample": _json(details.get("partial_unexpected_list")),
            "error": (info.get("exception_message") or None) if info.get("raised_exception")
            else None,
            "table_version": check.version,
        })
    return rows


def table_versions(config: dict, names=SUITE_TABLES) -> dict[str, int]:
    """Current Delta version of each existing table among ``names``."""
    versions = {}
    for name in names:
        if delta.table_exists(config, name):
            versions[name] = delta.delta_table(config, name).version()
    return versions


def validate(spark, config: dict, night: int, versions: dict[str, int] | None = None,
             record: bool = True) -> ValidationResult:
    """Validate ``night`` (tables read at ``versions``, default their current versions),
    record one row per expectation in the ``validation`` table and return the result.
    ``result.success`` is False when any error-severity expectation failed."""
    import great_expectations as gx

    clock = time.perf_counter()
    versions = dict(versions or table_versions(config))
    validation_id = (f"validation-{night}-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}"
                     f"-{uuid.uuid4().hex[:8]}")

    def read(name):
        return delta.read_table(spark, config, name, version=versions.get(name))

    run_rows = []
    if "run" in versions:
        run_rows = delta.delta_table(config, "run")
        run_rows.load_as_version(versions["run"])
        run_rows = run_rows.to_pyarrow_table(columns=[
            "run_id", "stage", "night", "source", "status", "started_at", "rows_out",
            "quarantined"]).to_pylist()
    margin = float((config.get("quality") or {}).get("night_margin_days", 0.25))
    checks, notes = build_checks(read, night, set(versions), run_rows, margin,
                                 surveys.of(config))
    for check in checks:
        check.version = versions.get(check.table)

    context = _context()
    datasource = context.data_sources.add_spark(name="lake")
    rows = []
    for index, check in enumerate(checks):
        try:
            rows += _run_check(context, datasource, check, index, night)
        except Exception as error:  # a check that cannot run is a failed check
            log.exception("check %s could not run", check.name)
            rows.append({"table_name": check.table, "check_name": check.name,
                         "expectation": "check_runs", "column_name": None, "kwargs": None,
                         "severity": ERROR, "success": False, "observed": None,
                         "element_count": None, "unexpected_count": None,
                         "unexpected_sample": None,
                         "error": f"{type(error).__name__}: {error}"[:2000],
                         "table_version": check.version})
    if not checks:
        rows.append({"table_name": "alert", "check_name": "alert", "expectation": "table_exists",
                     "column_name": None, "kwargs": None, "severity": ERROR, "success": False,
                     "observed": None, "element_count": None, "unexpected_count": None,
                     "unexpected_sample": None, "error": "; ".join(notes), "table_version": None})
    now, version = dt.datetime.now(dt.timezone.utc), code_version()
    for seq, row in enumerate(rows):
        row.update(validation_id=validation_id, seq=seq, night=night, validated_at=now,
                   code_version=version, ge_version=gx.__version__)
    success = all(r["success"] for r in rows if r["severity"] == ERROR)
    result = ValidationResult(validation_id, night, success, versions, rows, notes,
                              time.perf_counter() - clock)
    log.info("validation %s: %s, %d expectations, %d failed, %d warnings, %.1f s",
             validation_id, "passed" if success else "FAILED", len(rows),
             len(result.failures()), len(result.warnings()), result.seconds)
    if record:
        record_result(spark, config, result)
    return result


def record_result(spark, config: dict, result: ValidationResult) -> None:
    """Append the result's rows to the ``validation`` table (one commit)."""
    from lake.tables import TABLES

    table = pa.Table.from_pylist(result.rows, schema=VALIDATION_SCHEMA)
    if VALIDATION_TABLE.name in TABLES:
        delta.merge_into(spark, config, VALIDATION_TABLE.name, spark.createDataFrame(table))
        return
    # Until lake.tables registers the spec, write with delta-rs (rows are new by key).
    deltalake.write_deltalake(storage.table_uri(config, VALIDATION_TABLE.name), table,
                              mode="append", schema_mode="merge",
                              storage_options=storage.delta_storage_options(config))


def read_results(config: dict, night: int | None = None, validation_id: str | None = None):
    """Rows of the validation table (pandas), optionally for one night or run."""
    if not delta.table_exists(config, VALIDATION_TABLE.name):
        return None
    frame = delta.delta_table(config, VALIDATION_TABLE.name).to_pandas()
    if night is not None:
        frame = frame[frame["night"] == night]
    if validation_id is not None:
        frame = frame[frame["validation_id"] == validation_id]
    return frame.sort_values(["validated_at", "seq"]).reset_index(drop=True)
