"""Data-quality gates (great-expectations) for the lake's tables.

    result = validate(spark, config, night)       # runs every suite, records `validation`
    result.success, result.failures(), result.to_markdown(), result.to_html()
    result.raise_for_failures()                   # GateFailed when an error-level check failed

Suites: ``lake.quality.suites``; the ``validation`` table spec: ``VALIDATION_TABLE``.
"""
from lake.quality.spec import VALIDATION_SCHEMA, VALIDATION_TABLE
from lake.quality.runner import (GateFailed, ValidationResult, read_results, table_versions,
                                 validate)

__all__ = ["VALIDATION_TABLE", "VALIDATION_SCHEMA", "GateFailed", "ValidationResult",
           "validate", "read_results", "table_versions"]
