"""Configuration: ``conf/default.yaml``, then ``conf/$ALERT_LAKE_ENV.yaml``, then environment.

Nothing else in the project reads configuration files or environment variables for
settings; jobs call :func:`load_config` once and pass the result down. The result is a
:class:`lake.settings.Settings`: typed sections that also read as the nested mapping the
files describe.
"""
from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Mapping

import yaml

from lake.settings import Settings

CONF_DIR = Path(os.environ.get("ALERT_LAKE_CONF_DIR", Path(__file__).resolve().parents[1] / "conf"))

# Environment shortcuts for the settings operators change most.
ENV_SHORTCUTS = {
    "ALERT_LAKE_ROOT": ("lake", "root"),
    "ALERT_LAKE_ENGINE": ("engine", "mode"),
    "SPARK_REMOTE": ("engine", "remote"),
    "ALERT_LAKE_WORKERS": ("ingest", "workers"),
    "AWS_ENDPOINT_URL": ("object_store", "endpoint"),
    "ALERT_LAKE_S3_ENDPOINT": ("object_store", "endpoint"),
    "AWS_REGION": ("object_store", "region"),
}
GENERIC_PREFIX = "ALERT_LAKE__"


def _merge(base: dict, override: Mapping) -> dict:
    merged = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _read_yaml(path: Path) -> dict:
    with open(path) as handle:
        return yaml.safe_load(handle) or {}


ENV_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def environments() -> list[str]:
    """The environment names ``conf/`` offers (its YAML files but the default)."""
    return sorted(p.stem for p in CONF_DIR.glob("*.yaml") if p.stem != "default")


def env_file(env: str) -> Path:
    """The file of environment ``env``: ``conf/<env>.yaml``, and only that (a name, not a
    path: ``ALERT_LAKE_ENV=../..`` must not load an arbitrary YAML file).

    >>> env_file("test").name
    'test.yaml'
    >>> env_file("../../etc/x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: ALERT_LAKE_ENV must name a file of conf/ (...), got '../../etc/x'
    """
    path = CONF_DIR / f"{env}.yaml"
    if not ENV_NAME.fullmatch(env) or not path.is_file():
        raise ValueError(f"ALERT_LAKE_ENV must name a file of conf/ "
                         f"({', '.join(environments())}), got {env!r}")
    return path


def load_config(env: str | None = None, overrides: Mapping | None = None,
                environ: Mapping[str, str] | None = None) -> Settings:
    """Return the merged configuration, parsed once into typed settings (which also
    read as the nested mapping: ``cfg["lake"]["root"]``).

    >>> cfg = load_config(environ={"ALERT_LAKE_ROOT": "/tmp/x", "ALERT_LAKE__ingest__workers": "3"})
    >>> cfg["lake"]["root"], cfg["ingest"]["workers"], cfg.ingest.workers
    ('/tmp/x', 3, 3)
    """
    environ = os.environ if environ is None else environ
    config = _read_yaml(CONF_DIR / "default.yaml")
    env = env or environ.get("ALERT_LAKE_ENV")
    if env:
        config = _merge(config, _read_yaml(env_file(env)))
    # Later shortcuts win: ALERT_LAKE_S3_ENDPOINT over AWS_ENDPOINT_URL.
    for name, (section, key) in ENV_SHORTCUTS.items():
        if environ.get(name):
            config.setdefault(section, {})[key] = yaml.safe_load(environ[name])
    for name, value in environ.items():
        if name.startswith(GENERIC_PREFIX):
            section, _, key = name[len(GENERIC_PREFIX):].partition("__")
            if section and key:
                config.setdefault(section, {})[key] = yaml.safe_load(value)
    config["env"] = env or "default"
    return Settings.parse(_merge(config, overrides or {}))
