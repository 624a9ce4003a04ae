"""The embedded engine keeps an idle session alive as long as ``engine.session_timeout``.

A nightly job leaves its session idle while Python decodes the night outside the engine
(20 minutes for 1e6 alerts); Sail's own 900 s idle limit made the next query fail. Each
case runs in its own process because the embedded server reads the setting at start.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from tests.conftest import REPO

IDLE_QUERY = textwrap.dedent("""
    import sys, time
    from lake import engine
    from lake.config import load_config

    overrides = {"engine": {"mode": "embedded"}}
    if sys.argv[1] != "default":
        overrides["engine"]["session_timeout"] = int(sys.argv[1])
    spark = engine.get_spark(load_config(overrides=overrides))
    assert spark.range(3).count() == 3
    time.sleep(6)
    try:
        print("ALIVE", spark.range(5).count())
    except Exception as error:
        print("DROPPED", error)
    engine.stop()
""")


def _idle_then_query(timeout: str) -> str:
    # without the Sail settings an engine started earlier in this process put in os.environ
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAIL_")}
    result = subprocess.run([sys.executable, "-c", IDLE_QUERY, timeout], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_idle_session_survives_with_the_default_timeout():
    assert "ALIVE 5" in _idle_then_query("default")


def test_session_timeout_reaches_the_engine():
    # the control: a 2 s limit does drop the session idle for 6 s, so the setting is live
    assert "is not running" in _idle_then_query("2")
