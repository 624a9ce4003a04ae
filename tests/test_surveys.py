"""The survey seam: the registry, what every survey declares, and ZTF's implementation
(band map, nights, rules, ranges, partitioning), with the ZTF parser checked on real
alerts of every schema (1.8 to 4.02) against an independent fastavro reading."""
from __future__ import annotations

import datetime as dt
import glob
import inspect
import io
import math

import duckdb
import fastavro
import numpy as np
import pandas as pd
import pytest

from lake import surveys
from lake.bronze.decode import STAGING_TABLES, decode_items
from lake.config import load_config
from lake.sources import SourceItem, iter_items, resolve
from lake.surveys.base import FeatureRules, InvalidAlert, QualityRanges, Survey, Table
from lake.tables import INGEST_TABLES, TABLES, ingest_tables
from tests import lakecheck

ZTF = surveys.get("ztf")
RUBIN_LETTERS = set("ugrizy")


# --- the registry and what every survey declares ----------------------------------------

def test_registry_default_and_lookup():
    assert surveys.DEFAULT == "ztf"
    assert surveys.get() is ZTF and surveys.get(None) is ZTF and surveys.get(ZTF) is ZTF
    with pytest.raises(KeyError, match="unknown survey 'hsc'.*ztf"):
        surveys.get("hsc")


def test_config_selects_the_survey():
    assert load_config(environ={})["survey"] == "ztf"
    assert surveys.of(load_config(environ={})) is ZTF
    assert surveys.of({}) is ZTF          # no setting: the default
    with pytest.raises(KeyError):
        surveys.of({"survey": "nope"})


@pytest.mark.parametrize("name", sorted(surveys.SURVEYS))
def test_every_survey_declares_everything(name):
    survey = surveys.get(name)
    assert isinstance(survey, Survey) and survey.name == name
    assert not getattr(type(survey), "__abstractmethods__", None)
    declared = [m for m, _ in inspect.getmembers(Survey) if not m.startswith("_")]
    for member in ("object_id", "alert_id", "staging_tables", "cutouts", "bands", "tables",
                   "history_columns", "stellar_detection_columns", "saturation_magnitude",
                   "feature_rules", "quality"):
        assert getattr(survey, member, None) not in (None, "", ()), member
    assert {"validate", "parse", "silver_tables", "correct", "object_partition_sql"} <= set(declared)
    assert isinstance(survey.feature_rules, FeatureRules)
    assert isinstance(survey.quality, QualityRanges)
    assert "quarantine" not in survey.staging_tables and "alert" in survey.staging_tables
    # bands: letters of the u..y system, each once; features and checks use known bands
    assert set(survey.bands.values()) <= RUBIN_LETTERS
    assert len(set(survey.bands.values())) == len(survey.bands)
    assert set(survey.feature_rules.bands) <= set(survey.bands)
    assert set(survey.quality.bands) == set(survey.bands)
    low, high = survey.quality.magnitude
    assert low < high and survey.quality.sigma_max > 0


@pytest.mark.parametrize("name", sorted(surveys.SURVEYS))
def test_survey_tables_are_registered(name):
    survey = surveys.get(name)
    ingest = ingest_tables(survey)
    for table in survey.tables:
        assert isinstance(table, Table) and table.layer == "silver"
        assert TABLES[table.name] is table
        assert table.name in ingest
    # the generic bronze and silver tables come first, then the survey's own
    assert ingest[:6] == ("alert", "cutout", "quarantine", "detection", "non_detection",
                          "forced_photometry")


def test_ztf_tables_keep_alerce_names():
    assert INGEST_TABLES == ("alert", "cutout", "quarantine", "detection", "non_detection",
                             "forced_photometry", "dataquality", "reference", "ps1_ztf",
                             "ss_ztf", "gaia_ztf")
    assert [t for t in TABLES if not t.startswith("lsst_")] == [
        "alert", "cutout", "quarantine", "detection", "non_detection", "forced_photometry",
        "dataquality", "reference", "ps1_ztf", "ss_ztf", "gaia_ztf", "object", "magstat",
        "feature", "probability", "validation", "run", "xmatch", "anomaly", "candidate"]
    assert TABLES["ps1_ztf"].keys == ("oid", "candid")
    assert TABLES["reference"].keys == ("oid", "rfid")
    assert STAGING_TABLES == ("alert", "cutout", "prv_candidate", "fp_hist", "quarantine")


# --- ZTF: bands, nights, rules, ranges, partitioning -------------------------------------

def test_ztf_band_map():
    assert dict(ZTF.bands) == {1: "g", 2: "r", 3: "i"}
    assert [ZTF.band_name(f) for f in (1, 2, 3)] == ["g", "r", "i"]
    assert [ZTF.band_id(b) for b in "gri"] == [1, 2, 3]
    with pytest.raises(KeyError, match="no band 'u'"):
        ZTF.band_id("u")


def test_ztf_night_from_archive_name():
    assert ZTF.night_from_name("s3://bucket/ztf_public_20181129.tar.gz") == 20181129
    assert ZTF.night_from_name("/data/ztf_public_20231018.tgz") == 20231018
    assert ZTF.night_from_name("516171791415015025.avro") is None      # a candid, not a date
    assert ZTF.night_from_name("120181129.avro") is None    # inside a longer number
    assert ZTF.night_from_name("ztf_public_20183129.tar.gz") is None   # not a month
    # lake.sources keeps the name for its callers
    from lake import sources
    assert sources.night_from_name("ztf_public_20181129.tar.gz") == 20181129


def test_ztf_feature_rules_are_the_preprocessing_defaults():
    """The survey's rules reproduce today's preprocessing exactly."""
    from science.features import preprocess

    defaults = {name: p.default for name, p in
                inspect.signature(preprocess).parameters.items()
                if p.default is not inspect.Parameter.empty}
    kwargs = ZTF.feature_rules.preprocess_kwargs()
    assert kwargs == {k: defaults[k] for k in kwargs}
    assert kwargs["bands"] == (1, 2) and kwargs["quality_column"] == "rb"
    assert kwargs["quality_min"] == 0.55
    assert ZTF.feature_rules.detection_columns == ("rb",)
    assert ZTF.feature_rules.context_columns == ("sgscore1",)


def test_preprocess_takes_another_surveys_rules():
    """A survey with letter bands and its own column names gets the same light curves."""
    from science.features.preprocess import preprocess

    rng = np.random.default_rng(3)
    n = 8
    ztf_rows = pd.DataFrame({
        "oid": ["a"] * 2 * n, "candid": np.arange(2 * n), "mjd": np.arange(2 * n, dtype=float),
        "fid": [1] * n + [2] * n, "magpsf": rng.uniform(17, 19, 2 * n),
        "sigmapsf": np.full(2 * n, 0.1), "rb": np.r_[np.full(2 * n - 1, 0.9), 0.1],
        "isdiffpos": 1, "ra": 10.0, "dec": 5.0})
    other = ztf_rows.rename(columns={"magpsf": "mag", "sigmapsf": "e_mag", "rb": "reliability"})
    other["fid"] = other["fid"].map({1: "g", 2: "r"})
    a = preprocess(ztf_rows)
    b = preprocess(other, bands=("g", "r"), quality_column="reliability", quality_min=0.55,
                   magnitude=("mag", "e_mag"),
                   corrected_magnitude=("magpsf_corr", "sigmapsf_corr_ext"))
    assert list(a.batch.oids) == list(b.batch.oids) == ["a"]
    assert a.status["n_det_used"].tolist() == b.status["n_det_used"].tolist() == [2 * n - 1]
    for ztf_band, letter in ((1, "g"), (2, "r")):
        np.testing.assert_array_equal(a.batch.bands[ztf_band].mag, b.batch.bands[letter].mag)
        np.testing.assert_array_equal(a.batch.bands[ztf_band].mjd, b.batch.bands[letter].mjd)


def test_ztf_stamp_rules_are_the_classifiers():
    from lake.surveys.ztf.rules import apply_stamp_rules

    pdf = pd.DataFrame({"ssdistnr": [-999.0, 1.2, 7.0, -999.0],
                        "isdiffpos": ["t", "t", "t", "f"],
                        "sgscore1": [0.9, 0.1, 0.1, 0.1], "distpsnr1": [0.3, 5.0, 5.0, 5.0]})
    classes = ["AGN", "SN", "VS", "asteroid", "bogus"]
    p = np.tile([[0.1, 0.6, 0.1, 0.1, 0.1]], (4, 1))
    ruled = ZTF.apply_stamp_rules(pdf, p, classes)
    np.testing.assert_allclose(ruled, apply_stamp_rules(pdf, p, classes))
    assert ruled[0, 1] == 0.0                  # a likely star: no SN
    assert ruled[1].tolist() == [0, 0, 0, 1, 0]  # a known asteroid 1.2" away
    assert ruled[2, 1] == pytest.approx(0.6)   # asteroid 7" away: too far, SN kept
    assert ruled[3, 1] == 0.0                  # negative difference: no SN
    np.testing.assert_allclose(ruled.sum(axis=1), 1.0)


def test_ztf_quality_ranges():
    q = ZTF.quality
    assert q.bands == (1, 2, 3) and q.magnitude == (5.0, 30.0) and q.sigma_max == 5.0
    assert q.alert_time == ("jd", 2400000.5) and q.alert_score == ("rb", 0.0, 1.0)
    assert q.alert_band == "fid" and q.alert_magnitude == ("magpsf", "sigmapsf")
    assert set(q.alert_not_null) <= set(q.alert_columns)
    assert {ZTF.object_id, ZTF.alert_id, q.alert_time[0], q.alert_band} <= set(q.alert_columns)


def test_ztf_object_partition():
    sql = ZTF.object_partition_sql("oid")
    con = duckdb.connect()     # its own connection: the module-level one may be in use
    got = con.sql(f"SELECT {sql} FROM (VALUES ('ZTF18abcdefg'), ('ZTF23aaaaaab')) t(oid)"
                  ).fetchall()
    assert [r[0] for r in got] == ["ZTF18ab", "ZTF23aa"]


def test_catalog_partitions_by_the_surveys_rule():
    from lake.publish.catalog import _lightcurve_sql

    class ByYear(type(ZTF)):
        name = "ztf_by_year"

        def object_partition_sql(self, oid):
            return f"substr({oid}, 4, 2)"

    columns = {"detection": {"oid", "mjd", "fid"}, "non_detection": {"oid", "mjd"}}
    assert _lightcurve_sql(columns).count("left(oid, 7) AS oid_prefix") == 2
    sql = _lightcurve_sql(columns, ByYear())
    assert sql.count("substr(oid, 4, 2) AS oid_prefix") == 2 and "left(oid" not in sql


def test_ztf_validate_rejects_incomplete_packets():
    good = {"objectId": "ZTF18abc", "candidate": {"candid": 1, "jd": 2458451.7}}
    ZTF.validate(good)
    ZTF.validate({"objectId": "ZTF18abc", "candid": 1, "candidate": {"jd": 2458451.7}})
    for broken, message in (
            ({"objectId": "ZTF18abc"}, "no candidate"),
            ({"candidate": {"candid": 1, "jd": 1.0}}, "no objectId"),
            ({"objectId": "x", "candidate": {"jd": 1.0}}, "no candid"),
            ({"objectId": "x", "candidate": {"candid": 1}}, "no jd")):
        with pytest.raises(InvalidAlert, match=message):
            ZTF.validate(broken)


# --- the ZTF parser on real alerts of every schema -----------------------------------------

def _real_sources(shared_data) -> list[str]:
    return (sorted(glob.glob(str(shared_data / "ztf" / "alerts" / "*")))
            + sorted(glob.glob(str(shared_data / "ztf" / "nights" / "*.tar.gz"))))


def _same(value, expected) -> bool:
    if isinstance(expected, float) or isinstance(value, float):
        if value is None or expected is None:
            return value is expected
        if math.isnan(expected):
            return math.isnan(value)
        return np.float32(value) == np.float32(expected) or value == expected
    return value == expected


def _expected(path: str):
    """Alerts, history entries, forced photometry and stamps read with plain fastavro."""
    alerts, bad = [], 0
    for name, data in lakecheck.alert_files(path):
        try:   # a file counts only when read whole
            records = list(fastavro.reader(io.BytesIO(data)))
        except Exception:
            bad += 1
            continue
        alerts.extend((name, r) for r in records)
    return alerts, bad


@pytest.mark.realdata
def test_ztf_parser_on_every_real_schema(shared_data):
    """Every real sample (schemas 1.8 to 4.02, tarballs and folders) parses into staging
    rows holding exactly the packets' values: one alert row per packet with every
    candidate field, one history row per prv_candidates entry, one forced-photometry row
    per fp_hists entry, the stamps byte for byte, the night from the name or the jd."""
    config = {"lake": {"root": "unused"}}
    schemas = set()
    for source in _real_sources(shared_data):
        items = list(iter_items(config, resolve(config, source)))
        tables = decode_items(items, "run-test", keep_raw_avro=False, survey=ZTF)
        packets, corrupt = _expected(source)
        assert tables["quarantine"].num_rows == corrupt, source
        # rows come grouped by writer schema: match them to packets by file and candid
        alert = {(row["member"], row["candid"]): row for row in tables["alert"].to_pylist()}
        assert len(alert) == tables["alert"].num_rows == len(packets), source
        by_candid = {}
        for member, record in packets:
            candidate = record["candidate"]
            candid = candidate.get("candid") or record.get("candid")
            row = alert[(member, candid)]
            assert row["objectId"] == record["objectId"]
            assert row["schemavsn"] == record.get("schemavsn")
            # the night: from the archive's (or file's) name, else the candidate's jd
            utc_date = dt.date(1858, 11, 17) + dt.timedelta(
                days=math.floor(candidate["jd"] - 2400000.5))
            assert ZTF.night_of_alert(record) == int(utc_date.strftime("%Y%m%d"))
            named = ZTF.night_from_name(source if source.endswith(".tar.gz") else member)
            assert row["night"] == (named or ZTF.night_of_alert(record))
            for field, value in candidate.items():
                if field in row and not isinstance(value, dict):
                    assert _same(row[field], value), (source, candid, field)
            assert row["n_prv_candidates"] == len(record.get("prv_candidates") or ())
            assert row["n_fp_hists"] == len(record.get("fp_hists") or ())
            schemas.add(record.get("schemavsn"))
            by_candid[candid] = record
        history = tables.get("prv_candidate")
        expected_history = {}
        for _, record in packets:
            parent = record["candidate"].get("candid") or record.get("candid")
            for entry in record.get("prv_candidates") or ():
                expected_history.setdefault((record["objectId"], parent), []).append(entry)
        staged_history = {}
        for row in (history.to_pylist() if history is not None else []):
            staged_history.setdefault((row.pop("objectId"), row.pop("parent_candid")),
                                      []).append(row)
        assert staged_history.keys() == expected_history.keys(), source
        for key, entries in expected_history.items():
            rows = staged_history[key]
            assert len(rows) == len(entries), (source, key)
            for entry, row in zip(entries, rows):
                for field, value in entry.items():
                    assert _same(row[field], value), (source, key, field)
        forced = tables.get("fp_hist")
        fp_entries = sum(len(r.get("fp_hists") or ()) for _, r in packets)
        assert (forced.num_rows if forced is not None else 0) == fp_entries, source
        cutout = tables["cutout"].to_pylist()
        assert len(cutout) == len(packets)
        for row in cutout:
            record = by_candid[row["candid"]]
            for name in ZTF.cutouts:
                assert row[name] == record[name]["stampData"]
    # schema 1.8 packets carry no schemavsn (None)
    assert {None, "3.0", "3.1", "3.2", "3.3", "3.5", "4.02"} <= schemas


@pytest.mark.realdata
def test_a_packet_without_its_ids_is_quarantined(shared_data):
    path = sorted(glob.glob(str(shared_data / "ztf" / "alerts" / "v3.3_20200101" / "*.avro")))[0]
    with open(path, "rb") as handle:
        reader = fastavro.reader(handle)
        schema, record = reader.writer_schema, next(reader)
    record["objectId"] = None
    buffer = io.BytesIO()
    schema_without_id = dict(schema, fields=[dict(f, type=["null", "string"])
                                             if f["name"] == "objectId" else f
                                             for f in schema["fields"]])
    fastavro.writer(buffer, schema_without_id, [record])
    item = SourceItem("test", "no_id.avro", None, buffer.getvalue())
    tables = decode_items([item], "run-test", survey=ZTF)
    assert "alert" not in tables
    row = tables["quarantine"].to_pylist()[0]
    assert (row["member"], row["error_class"]) == ("no_id.avro", "InvalidAlert")
    assert "objectId" in row["error_message"]


def test_lsst_tables_keep_alerce_names():
    from lake.tables import ingest_tables

    assert ingest_tables("lsst") == (
        "alert", "cutout", "quarantine", "detection", "non_detection", "forced_photometry",
        "lsst_detection", "lsst_forced_photometry", "lsst_dia_object", "lsst_ss_detection",
        "lsst_ss_object", "lsst_mpc_orbits")
    assert TABLES["lsst_detection"].keys == ("diaSourceId",)
    assert TABLES["lsst_detection"].priority[0] == ("timeProcessedMjdTai", True)
    assert surveys.get("lsst").bands == {b: b for b in "ugrizy"}
