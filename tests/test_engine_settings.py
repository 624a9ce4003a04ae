"""Typed settings (``lake.settings``) and the storage object of a settings object
(``lake.storage.of``): parsed once, read as a mapping, picklable, one client per run."""
from __future__ import annotations

import pickle

import pytest


def _config(**overrides):
    from lake.config import load_config

    return load_config(overrides=overrides, environ={"ALERT_LAKE__ingest__chunk_alerts": "300"})


def test_typed_sections_and_mapping_access_agree():
    config = _config(lake={"root": "/tmp/somewhere"}, engine={"mode": "embedded"})
    assert config.lake.root == config["lake"]["root"] == "/tmp/somewhere"
    assert config.ingest.chunk_alerts == config["ingest"]["chunk_alerts"] == 300
    assert config.get("engine", {}).get("mode") == config.engine.mode == "embedded"
    assert config.get("no_such_section", {}) == {}
    assert config.engine.session_timeout == 86400 and config.object_store.region == "us-east-1"
    assert dict(config["engine"]["spark_conf"]) == dict(config.engine.spark_conf)
    # a configuration file's unknown keys stay readable
    assert _config(ingest={"extra": 5})["ingest"]["extra"] == 5
    with pytest.raises(TypeError):
        config["lake"]["root"] = "elsewhere"      # parsed once: read-only


def test_defaults_read_as_the_code_always_read_them():
    from lake.settings import Settings

    settings = Settings.parse({"ingest": {"workers": None, "chunk_alerts": 0}})
    assert settings.ingest.workers == 0 and settings.ingest.chunk_alerts == 1000
    assert settings.lake.root == "var/lake" and settings.engine.python_work == "auto"
    assert "lake" not in settings                 # absent sections are not invented


def test_settings_pickle_without_their_clients(tmp_path):
    from lake import storage

    config = _config(lake={"root": str(tmp_path / "lake")})
    store = storage.of(config)
    assert storage.of(config) is store            # one storage object per settings
    copy = pickle.loads(pickle.dumps(config))
    assert copy == config and copy.ingest == config.ingest
    assert storage.of(copy) is not store          # a new process builds its own
    assert storage.of(copy).lake_root == store.lake_root == str(tmp_path / "lake")


def test_one_client_per_storage_object_until_the_credentials_change(monkeypatch):
    from lake import storage

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "one")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    config = _config(lake={"root": "s3://bucket/lake"},
                     object_store={"endpoint": "http://127.0.0.1:1"})
    client = storage.s3_client(config)
    filesystem, path = storage.arrow_filesystem(config, "s3://bucket/lake/x")
    assert storage.s3_client(config) is client and path == "bucket/lake/x"
    assert storage.arrow_filesystem(config, "s3://bucket/other")[0] is filesystem
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "rotated")
    assert storage.s3_client(config) is not client
    assert storage.arrow_filesystem(config, "s3://bucket/x")[0] is not filesystem
    assert storage.delta_storage_options(config)["AWS_SECRET_ACCESS_KEY"] == "rotated"
