"""The expectation suites: what a night must satisfy before it is published.

One suite per table (bronze ``alert``, ``cutout``, ``quarantine``; silver ``detection``;
gold ``object``, ``magstat``, ``feature``, and ``probability`` when the table exists),
plus cross-table checks built as small derived DataFrames and validated with the same
great-expectations machinery (row counts against the ``run`` table, every alerted
object present downstream, probabilities summing to 1 per object/classifier/level).

Scope per night N: partitioned tables are read at ``night = N``; gold tables are read
for the objects with an alert in night N (what that night's processing touched).
Bounds and the alert table's required columns are the survey's (``Survey.quality``,
e.g. ZTF's bands 1-3 and magnitudes 5-30); ``quality.night_margin_days`` (default 0.25)
widens the "observed during the night" windows.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import great_expectations.expectations as gxe
from pyspark.sql import Window, functions as F

from lake import surveys
from lake.silver.correction import UNDEFINED as SENTINEL_MAG  # "undefined" corrected mag

ERROR, WARNING = "error", "warning"
PROB_TOLERANCE = 1e-3


@dataclass
class Check:
    """A DataFrame and the expectations it must meet."""

    table: str
    name: str
    frame: object
    expectations: list = field(default_factory=list)   # [(expectation, severity)]
    version: int | None = None

    def expect(self, expectation, severity: str = ERROR) -> "Check":
        self.expectations.append((expectation, severity))
        return self


def _not_null(check: Check, *columns, severity=ERROR):
    for column in columns:
        check.expect(gxe.ExpectColumnValuesToNotBeNull(column=column), severity)


def _between(check: Check, column, low=None, high=None, severity=ERROR, **kwargs):
    check.expect(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=low,
                                                   max_value=high, **kwargs), severity)


def _unique(check: Check, *columns):
    if len(columns) == 1:
        check.expect(gxe.ExpectColumnValuesToBeUnique(column=columns[0]))
    else:
        check.expect(gxe.ExpectCompoundColumnsToBeUnique(column_list=list(columns)))


def _columns(check: Check, columns):
    check.expect(gxe.ExpectTableColumnsToMatchSet(column_set=list(columns), exact_match=False))


def _radec(check: Check, ra="ra", dec="dec"):
    _between(check, ra, 0.0, 360.0)
    _between(check, dec, -90.0, 90.0)


def _empty(table: str, name: str, frame, what: str) -> Check:
    """Rows of ``frame`` are violations: the check expects none."""
    return Check(table, name, frame).expect(gxe.ExpectTableRowCountToEqual(
        value=0, meta={"what": what}))


def expected_ingest_counts(run_rows: list[dict], night: int) -> dict | None:
    """Rows the ingest runs of ``night`` say they landed: per source, the latest
    succeeded run counts (re-runs land the same input again)."""
    latest: dict[str, dict] = {}
    for row in run_rows:
        if row["stage"] != "ingest" or row["night"] != night or row["status"] != "succeeded":
            continue
        if row["source"] not in latest or row["started_at"] > latest[row["source"]]["started_at"]:
            latest[row["source"]] = row
    if not latest:
        return None
    return {"alert": sum(int(r["rows_out"] or 0) for r in latest.values()),
            "quarantine": sum(int(r["quarantined"] or 0) for r in latest.values()),
            "runs": sorted(r["run_id"] for r in latest.values())}


def build_checks(read, night: int, present: set[str], run_rows: list[dict],
                 margin: float = 0.25, survey=None) -> tuple[list[Check], list[str]]:
    """Every check of ``night``. ``read(name)`` returns the table's DataFrame (at the
    version being validated); ``present`` names the tables that exist; ``survey``
    gives the ranges (default: the default survey). Returns the checks and notes on
    what was skipped and why."""
    survey = surveys.get(survey)
    ranges = survey.quality
    bands, mag_range = list(ranges.bands), ranges.magnitude
    checks, notes = [], []
    # the night as the survey names nights (ZTF: the UTC date; Rubin: dayObs)
    mjd0, mjd1 = survey.night_window(night)
    time_column, time_offset = ranges.alert_time
    time0 = mjd0 + time_offset
    at_night = F.col("night") == night

    if "alert" not in present:
        return checks, [f"no alert table: nothing landed, night {night} cannot be validated"]
    alert = read("alert").filter(at_night)
    night_oids = alert.select(F.col(survey.object_id).alias("oid")).distinct()
    night_alerts = alert.select(F.col(survey.alert_id).alias("candid"))

    # --- bronze ---------------------------------------------------------------------
    c = Check("alert", "alert", alert)
    _columns(c, list(ranges.alert_columns))
    c.expect(gxe.ExpectTableRowCountToBeBetween(min_value=1))
    _not_null(c, *ranges.alert_not_null)
    _unique(c, survey.alert_id)
    c.expect(gxe.ExpectColumnValuesToBeInSet(column=ranges.alert_band, value_set=bands))
    _radec(c)
    if ranges.alert_magnitude is not None:
        magnitude, error = ranges.alert_magnitude
        _between(c, magnitude, *mag_range)
        _between(c, error, 0.0, ranges.sigma_max, strict_min=True)
    if ranges.alert_score is not None:
        _between(c, *ranges.alert_score)
    _between(c, time_column, time0 - margin, time0 + (mjd1 - mjd0) + margin)  # in the night
    checks.append(c)

    expected = expected_ingest_counts(run_rows, night)
    if expected is None:
        notes.append(f"no succeeded ingest run recorded for night {night}: "
                     "row counts not compared with the run table")
        checks.append(Check("run", "run.ingest_recorded", read("run").filter(
            (F.col("stage") == "ingest") & (F.col("night") == night)
            & (F.col("status") == "succeeded"))).expect(
            gxe.ExpectTableRowCountToBeBetween(min_value=1), WARNING))
    else:
        checks[-1].expect(gxe.ExpectTableRowCountToEqual(
            value=expected["alert"], meta={"source": "run", "runs": expected["runs"]}))

    if "cutout" in present:
        c = Check("cutout", "cutout", read("cutout").filter(at_night))
        _columns(c, [survey.alert_id, *survey.cutouts, "night"])
        _not_null(c, survey.alert_id, *survey.cutouts)
        _unique(c, survey.alert_id)
        checks.append(c)
        checks.append(_empty("cutout", "cutout.every_alert_has_stamps",
                             night_alerts.join(read("cutout").filter(at_night)
                                               .select(F.col(survey.alert_id).alias("candid")),
                                               "candid", "left_anti"),
                             "alerts without a cutout row"))
    if "quarantine" in present:
        c = Check("quarantine", "quarantine", read("quarantine").filter(at_night))
        _columns(c, ["source", "member", "error_class", "error_message", "sha256", "raw", "night"])
        _not_null(c, "source", "member", "error_class", "sha256")
        _unique(c, "member", "sha256")
        if expected is not None:
            c.expect(gxe.ExpectTableRowCountToEqual(
                value=expected["quarantine"], meta={"source": "run", "runs": expected["runs"]}))
        checks.append(c)

    # --- silver ---------------------------------------------------------------------
    if "detection" in present:
        detection = read("detection")
        c = Check("detection", "detection", detection.filter(at_night))
        _columns(c, ["oid", "candid", "mjd", "fid", "magpsf", "sigmapsf", "isdiffpos", "ra",
                     "dec", "has_stamp", "night", "corrected", "magpsf_corr",
                     "sigmapsf_corr", "sigmapsf_corr_ext", "dubious"])
        _not_null(c, "oid", "candid", "mjd", "fid", "magpsf", "sigmapsf", "ra", "dec",
                  "corrected")
        _unique(c, "candid", "oid")
        c.expect(gxe.ExpectColumnValuesToBeInSet(column="fid", value_set=bands))
        c.expect(gxe.ExpectColumnValuesToBeInSet(column="isdiffpos", value_set=[-1, 1]))
        _radec(c)
        _between(c, "magpsf", *mag_range)
        _between(c, "sigmapsf", 0.0, ranges.sigma_max, strict_min=True)
        _between(c, "mjd", mjd0, mjd1, strict_max=True)   # partition = observation's night
        _between(c, "magpsf_corr", *mag_range, row_condition=f"magpsf_corr <> {SENTINEL_MAG}",
                 condition_parser="spark")
        checks.append(c)
        checks.append(_empty("detection", "detection.every_alert_detected",
                             night_alerts.join(detection.filter(at_night)
                                               .select("candid"), "candid", "left_anti"),
                             "alerts of the night without their detection row"))
    else:
        notes.append("no detection table")

    # --- gold -----------------------------------------------------------------------
    if "object" in present:
        obj = read("object").join(night_oids, "oid", "left_semi")
        c = Check("object", "object", obj)
        _columns(c, ["oid", *survey.history_columns, "corrected", "stellar", "ndet",
                     "g_r_max", "g_r_mean", "meanra", "meandec", "firstmjd", "lastmjd",
                     "deltajd"])
        _not_null(c, "oid", "ndet", "meanra", "meandec", "firstmjd", "lastmjd")
        _unique(c, "oid")
        _radec(c, "meanra", "meandec")
        _between(c, "ndet", 1)
        _between(c, "lastmjd", mjd0 - margin)
        _between(c, "deltajd", 0.0)
        c.expect(gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="lastmjd", column_B="firstmjd", or_equal=True))
        checks.append(c)
        checks.append(_empty("object", "object.every_alerted_object",
                             night_oids.join(read("object").select("oid"), "oid", "left_anti"),
                             "objects alerted in the night without an object row "
                             "(processing not run?)"))
    else:
        notes.append("no object table (processing not run?)")
    if "magstat" in present:
        c = Check("magstat", "magstat", read("magstat").join(night_oids, "oid", "left_semi"))
        _columns(c, ["oid", "fid", "ndet", "magmean", "magmedian", "magmax", "magmin",
                     "firstmjd", "lastmjd", "saturation_rate"])
        _not_null(c, "oid", "fid", "ndet", "magmean", "firstmjd", "lastmjd")
        _unique(c, "oid", "fid")
        c.expect(gxe.ExpectColumnValuesToBeInSet(column="fid", value_set=bands))
        _between(c, "ndet", 1)
        for column in ("magmean", "magmedian", "magmax", "magmin"):
            _between(c, column, *mag_range)
        _between(c, "saturation_rate", 0.0, 1.0)
        c.expect(gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="lastmjd", column_B="firstmjd", or_equal=True))
        checks.append(c)
    if "feature" in present:
        c = Check("feature", "feature", read("feature").join(night_oids, "oid", "left_semi"))
        _columns(c, ["oid", "feature_version"])
        _not_null(c, "oid", "feature_version")
        _unique(c, "oid")
        checks.append(c)
    if "probability" in present:
        checks += probability_checks(read("probability").join(night_oids, "oid", "left_semi"))
    else:
        notes.append("no probability table (classifiers not run): probability suite skipped")
    return checks, notes


def probability_checks(probability) -> list[Check]:
    group = ["oid", "classifier_name", "classifier_version"]
    if "level" in probability.columns:
        group.append("level")
    c = Check("probability", "probability", probability)
    _columns(c, ["oid", "classifier_name", "classifier_version", "class_name",
                 "probability", "ranking"])
    _not_null(c, "oid", "classifier_name", "classifier_version", "class_name",
              "probability", "ranking")
    _unique(c, *group, "class_name")
    _unique(c, *group, "ranking")
    _between(c, "probability", 0.0, 1.0)
    _between(c, "ranking", 1)
    sums = probability.groupBy(*group).agg(F.sum("probability").alias("probability_sum"),
                                           F.min("ranking").alias("best_ranking"))
    s = Check("probability", "probability.sums_to_one", sums)
    _between(s, "probability_sum", 1 - PROB_TOLERANCE, 1 + PROB_TOLERANCE)
    s.expect(gxe.ExpectColumnValuesToBeInSet(column="best_ranking", value_set=[1]))
    top = probability.withColumn("_max", F.max("probability").over(Window.partitionBy(*group)))
    best = _empty("probability", "probability.ranking_1_is_most_probable",
                  top.filter((F.col("ranking") == 1) & (F.col("probability") < F.col("_max")
                                                        - 1e-9)).drop("_max"),
                  "groups whose ranking 1 is not the most probable class")
    return [c, s, best]


def describe_kwargs(expectation) -> str:
    data = expectation.configuration.kwargs if hasattr(expectation, "configuration") else {}
    data = {k: v for k, v in dict(data).items() if k not in ("batch_id", "result_format")}
    return json.dumps(data, sort_keys=True, default=str)
