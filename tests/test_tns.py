"""The TNS AT bulk report (lake.candidates.tns, jobs/export_tns.py): written to a file from
the night's candidates, checked against the TNS bulk-report format, never overwritten."""
from __future__ import annotations

import copy
import json

import pandas as pd
import pytest

from lake.candidates.tns import ReportInvalid, at_report, tns_datetime, tns_settings, validate
from tests.test_candidate import lake_with_sn_probabilities  # noqa: F401  (a fixture)

SETTINGS = {"tns": {"reporter": "A. Astronomer on behalf of the lake", "reporting_group_id": "123"}}


def candidate_rows():
    return pd.DataFrame([
        {"oid": "ZTF23aaaaaaa", "night": 20231102, "rank": 1, "ra": 10.5, "dec": -5.25,
         "first_mjd": 60250.25, "nd_mjd": 60248.2, "nd_fid": 2, "nd_diffmaglim": 20.6,
         "reason": "young", "host_catalog": "allwise", "host_id": "J004200.00-051500.0"},
        {"oid": "ZTF23bbbbbbb", "night": 20231102, "rank": 2, "ra": 359.99, "dec": 89.9,
         "first_mjd": 60251.1, "nd_mjd": 60249.0, "nd_fid": 1, "nd_diffmaglim": 20.1,
         "reason": "young", "host_catalog": None, "host_id": None}])


def detection_rows():
    return pd.DataFrame({"oid": ["ZTF23aaaaaaa"] * 3 + ["ZTF23bbbbbbb"],
                         "mjd": [60250.25, 60251.3, 60252.2, 60251.1], "fid": [1, 2, 1, 2],
                         "magpsf": [19.5, 19.2, 18.9, 19.9], "sigmapsf": [0.1, 0.08, 0.07, 0.12]})


def test_report_follows_the_format():
    report = at_report(candidate_rows(), detection_rows(), tns_settings(SETTINGS))
    first = report["at_report"]["0"]
    assert first["internal_name"] == "ZTF23aaaaaaa"
    assert first["discovery_datetime"] == tns_datetime(60250.25) == "2023-11-02 06:00:00.000"
    group = first["photometry"]["photometry_group"]
    assert [g["obsdate"] for g in group.values()] == [tns_datetime(60250.25), tns_datetime(60252.2)]
    assert group["0"]["filter_value"] == "110" and group["0"]["flux"] == "19.500"
    assert first["non_detection"]["limiting_flux"] == "20.600"
    assert first["non_detection"]["filter_value"] == "111"
    assert first["host_name"] == "allwise J004200.00-051500.0"
    assert "host_name" not in report["at_report"]["1"]
    assert report["at_report"]["1"]["dec"]["value"] == "89.9000000"


@pytest.mark.parametrize("breakage", [
    lambda r: r["at_report"]["0"].pop("non_detection"),
    lambda r: r["at_report"]["0"].update(discovery_datetime="2023-11-03T06:00:00"),
    lambda r: r["at_report"]["0"]["ra"].update(value=10.5),
    lambda r: r["at_report"]["0"]["photometry"]["photometry_group"]["0"].pop("flux_error"),
    lambda r: r["at_report"]["0"].update(reporting_group_id="ALeRCE"),
    lambda r: r["at_report"]["0"].update(unexpected="x"),
    lambda r: r.update(at_report={}),
])
def test_a_broken_report_is_refused(breakage):
    report = at_report(candidate_rows(), detection_rows(), tns_settings(SETTINGS))
    broken = copy.deepcopy(report)
    breakage(broken)
    with pytest.raises(ReportInvalid, match="TNS report invalid"):
        validate(broken)


def test_reporter_and_group_are_required():
    with pytest.raises(ReportInvalid, match="tns.reporting_group_id is not set"):
        tns_settings({"tns": {"reporter": "me"}})


@pytest.mark.slow
def test_export_job_writes_a_valid_file_and_never_overwrites(
        spark, tmp_path, capsys, monkeypatch, lake_with_sn_probabilities):  # noqa: F811
    """The job on the shared simulated lake's candidates (see tests/test_candidate.py)."""
    import importlib.util
    from pathlib import Path

    from lake.stages.classify import classify
    from science import registry

    lake = lake_with_sn_probabilities
    root = lake.config["lake"]["root"]
    monkeypatch.setattr(registry, "REGISTRY", ())   # the candidates of the truth-shaped P(SN)
    classify(lake.config, lake.nights)
    spec = importlib.util.spec_from_file_location(
        "export_tns", Path(__file__).resolve().parents[1] / "jobs" / "export_tns.py")
    job = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(job)
    out = tmp_path / "tns.json"
    night = str(lake.nights[-1])
    assert job.main(["--night", night, "--out", str(out), "--lake", root, "--top", "2",
                     "--reporter", "Test", "--reporting-group-id", "1"]) == 0
    report = json.loads(out.read_text())
    validate(report)
    assert 1 <= len(report["at_report"]) <= 2
    with pytest.raises(SystemExit) as stop:
        job.main(["--night", night, "--out", str(out), "--lake", root, "--reporter", "T",
                  "--reporting-group-id", "1"])
    assert stop.value.code == 2 and "refusing to overwrite" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        job.main(["--night", "20231101", "--out", str(tmp_path / "b.json"), "--lake", root,
                  "--reporter", "T", "--reporting-group-id", "1", "--oid", "ZTF00nothere"])
    assert stop.value.code == 2
