"""Bronze tables from staged alerts: ``alert``, ``cutout``, ``quarantine``.

Pure ``DataFrame -> DataFrame`` functions; the staging tables come from
``lake.bronze.decode``. These tables are their staging rows as they are, so the ingest
lands them with ``lake.delta.append_staged`` (streamed, one commit) and uses these
functions, through ``lake.delta.merge_into``, only when a staged row must replace a
landed one.
"""
from __future__ import annotations

# Tables landed exactly as staged (the functions below are identities on their rows):
# the ingest streams them into the lake without the engine (``lake.delta.append_staged``).
AS_STAGED = ("alert", "cutout", "quarantine")


def alerts(staged_alert):
    """One row per alert, as decoded (candidate fields flattened, Avro bytes kept)."""
    return staged_alert


def cutouts(staged_cutout, survey=None):
    """The stamps of every alert that has them (as decoding stages them); the stamp
    columns are the survey's ``cutouts`` (ZTF: three gzipped FITS images)."""
    from lake import surveys

    names = surveys.get(survey).cutouts
    return staged_cutout.filter(" OR ".join(f"{name} IS NOT NULL" for name in names))


def quarantine(staged_quarantine):
    return staged_quarantine
