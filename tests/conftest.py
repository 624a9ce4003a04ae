"""Shared pytest fixtures.

Real survey data lives beside the repository in ``../shared/data`` and is read in
place; tests that need it skip with a clear message when it is absent.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ALERT_LAKE_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of ../shared/data, or skip the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real survey data not found at {SHARED_DATA} (set ALERT_LAKE_SHARED_DATA)")
    return SHARED_DATA


os.environ.setdefault("ALERT_LAKE_ENV", "test")
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


@pytest.fixture(scope="session")
def engine_server():
    """The embedded engine's server, stopped at the end of the test session."""
    from lake import engine

    yield engine
    engine.stop()


@pytest.fixture(scope="module")
def spark(engine_server):
    """The embedded engine's session (one Sail server for the whole test session). A
    session the server dropped during a long run of other test modules is replaced, so
    that a module never starts with a dead one."""
    from lake.config import load_config

    session = engine_server.get_spark(load_config())
    try:
        session.range(1).collect()
    except Exception:
        engine_server.stop()
        session = engine_server.get_spark(load_config())
    return session


@pytest.fixture
def lake_config(tmp_path):
    """Configuration of a fresh, empty lake in a temporary folder."""
    from lake.config import load_config

    return load_config(overrides={"lake": {"root": str(tmp_path / "lake")}})
