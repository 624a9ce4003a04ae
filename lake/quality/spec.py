"""The ``validation`` table: one row per expectation evaluated by a data-quality run."""
from __future__ import annotations

import pyarrow as pa

from lake.tables import TABLES

VALIDATION_TABLE = TABLES["validation"]

VALIDATION_SCHEMA = pa.schema([
    ("validation_id", pa.string()), ("seq", pa.int32()), ("night", pa.int32()),
    ("table_name", pa.string()), ("check_name", pa.string()), ("expectation", pa.string()),
    ("column_name", pa.string()), ("kwargs", pa.string()), ("severity", pa.string()),
    ("success", pa.bool_()), ("observed", pa.string()), ("element_count", pa.int64()),
    ("unexpected_count", pa.int64()), ("unexpected_sample", pa.string()),
    ("error", pa.string()), ("table_version", pa.int64()),
    ("validated_at", pa.timestamp("us", tz="UTC")), ("code_version", pa.string()),
    ("ge_version", pa.string()),
])
