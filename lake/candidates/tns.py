"""TNS AT bulk report of chosen candidates, as the TNS bulk-report manual lays it out:
``{"at_report": {"0": {ra, dec, reporting_group_id, discovery_data_source_id, reporter,
discovery_datetime, at_type, internal_name, remarks, non_detection, photometry}, ...}}``.

Only ever written to a file (``jobs/export_tns.py``): nothing here talks to the network.
Every report is checked against ``tns_at_report.schema.json`` (the manual's fields and
value formats: ids and numbers as strings, dates as 'YYYY-MM-DD HH:MM:SS.sss') before it
is written. Settings (``tns`` section): reporter, reporting_group_id (your group's id; no
default), and the survey's TNS ids (ZTF: discovery data source 48, instrument ZTF-Cam 196,
filters g 110 / r 111 / i 112, flux units 1 = AB mag).
"""
from __future__ import annotations

import datetime
import json
from pathlib import Path

import pandas as pd

SCHEMA = Path(__file__).with_name("tns_at_report.schema.json")
TNS_DEFAULTS = {
    "reporter": None,
    "reporting_group_id": None,
    "discovery_data_source_id": "48",
    "instrument_value": "196",
    "filters": {1: "110", 2: "111", 3: "112"},
    "flux_units": "1",
    "at_type": "1",
    "observer": "Robot",
    "exptime": "30",
    "position_error_arcsec": "0.085",
}


class ReportInvalid(ValueError):
    """A report that does not follow the TNS bulk-report format."""


def tns_settings(config, **overrides) -> dict:
    s = {**TNS_DEFAULTS, **dict((config or {}).get("tns") or {})}
    s.update({k: v for k, v in overrides.items() if v is not None})
    s["filters"] = {int(k): str(v) for k, v in s["filters"].items()}
    for key in ("reporter", "reporting_group_id"):
        if not s.get(key):
            raise ReportInvalid(f"tns.{key} is not set (configuration or --{key.replace('_', '-')})")
    return s


def tns_datetime(mjd: float) -> str:
    moment = datetime.datetime(1858, 11, 17) + datetime.timedelta(days=float(mjd))
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _num(value, digits: int = 4) -> str:
    return f"{float(value):.{digits}f}"


def _measurement(s, mjd, fid, **values) -> dict:
    return {"obsdate": tns_datetime(mjd), **values, "flux_units": s["flux_units"],
            "filter_value": s["filters"][int(fid)], "instrument_value": s["instrument_value"],
            "exptime": s["exptime"], "observer": s["observer"]}


def report_entry(candidate, photometry: pd.DataFrame, s: dict) -> dict:
    """One AT report: the candidate row (``candidate`` table) and its detections to report
    (mjd, fid, magpsf, sigmapsf; the first one is the discovery)."""
    photometry = photometry.sort_values("mjd")
    group = {str(i): _measurement(s, r.mjd, r.fid, flux=_num(r.magpsf, 3),
                                  flux_error=_num(r.sigmapsf, 3), comments="ZTF alert photometry")
             for i, r in enumerate(photometry.itertuples())}
    entry = {
        "ra": {"value": _num(candidate["ra"], 7), "error": s["position_error_arcsec"], "units": "arcsec"},
        "dec": {"value": _num(candidate["dec"], 7), "error": s["position_error_arcsec"], "units": "arcsec"},
        "reporting_group_id": str(s["reporting_group_id"]),
        "discovery_data_source_id": str(s["discovery_data_source_id"]),
        "reporter": str(s["reporter"]),
        "discovery_datetime": tns_datetime(candidate["first_mjd"]),
        "at_type": str(s["at_type"]),
        "internal_name": str(candidate["oid"]),
        "remarks": f"rank {int(candidate['rank'])} of night {int(candidate['night'])}: "
                   f"{candidate['reason']}",
        "non_detection": _measurement(s, candidate["nd_mjd"], candidate["nd_fid"],
                                      limiting_flux=_num(candidate["nd_diffmaglim"], 3),
                                      comments="last non-detection before discovery"),
        "photometry": {"photometry_group": group},
    }
    if isinstance(candidate.get("host_id"), str) and candidate["host_id"]:
        entry["host_name"] = f"{candidate['host_catalog']} {candidate['host_id']}"
    return entry


def at_report(candidates: pd.DataFrame, detections: pd.DataFrame, s: dict) -> dict:
    """The bulk report of ``candidates`` (in rank order); ``detections`` are theirs (oid,
    mjd, fid, magpsf, sigmapsf): the discovery and the latest detection are reported."""
    reports = {}
    for i, (_, cand) in enumerate(candidates.sort_values("rank").iterrows()):
        mine = detections[detections["oid"] == cand["oid"]].sort_values("mjd")
        picked = mine[mine["mjd"] >= cand["first_mjd"]]
        picked = pd.concat([picked.head(1), picked.tail(1)]).drop_duplicates("mjd")
        reports[str(i)] = report_entry(cand, picked, s)
    report = {"at_report": reports}
    validate(report)
    return report


def validate(report: dict) -> None:
    """Raise ``ReportInvalid`` (one line: where and what) unless ``report`` follows the
    format."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    error = jsonschema.exceptions.best_match(validator.iter_errors(report))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top)"
        raise ReportInvalid(f"TNS report invalid at {where}: {error.message}")


def write_report(report: dict, out) -> Path:
    """Write the report to ``out`` (a new file: an existing one is never overwritten)."""
    validate(report)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "x") as handle:
        json.dump(report, handle, indent=1)
        handle.write("\n")
    return out
