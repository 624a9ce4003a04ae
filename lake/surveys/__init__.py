"""The surveys the lake ingests, by name. ``get(name)`` returns one
(:class:`lake.surveys.base.Survey`); ``of(config)`` the one the configuration selects
(``survey:`` in ``conf/default.yaml``, default ``ztf``). See ``README.md`` for what a
survey provides and how to add one (a folder plus a line in ``SURVEYS``)."""
from __future__ import annotations

from lake.surveys.base import Survey
from lake.surveys.lsst import LSST
from lake.surveys.ztf import ZTF

SURVEYS: dict[str, Survey] = {"ztf": ZTF(), "lsst": LSST()}
DEFAULT = "ztf"


def get(name: "str | Survey | None" = None) -> Survey:
    """The survey called ``name`` (None: the default; a Survey is returned as it is).

    >>> get().name, get("ztf") is get()
    ('ztf', True)
    """
    if isinstance(name, Survey):
        return name
    name = name or DEFAULT
    try:
        return SURVEYS[name]
    except KeyError:
        raise KeyError(f"unknown survey {name!r}: known are {', '.join(sorted(SURVEYS))}") from None


def of(config: dict | None) -> Survey:
    """The survey selected by a configuration (``survey: ztf``)."""
    return get((config or {}).get("survey"))


__all__ = ["SURVEYS", "DEFAULT", "Survey", "get", "of"]
