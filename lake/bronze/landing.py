"""Bronze tables from staged alerts: ``alert``, ``cutout``, ``quarantine``.

Pure ``DataFrame -> DataFrame`` functions; the staging tables come from
``lake.bronze.decode`` and every write goes through ``lake.delta.merge_into``.
"""
from __future__ import annotations


def alerts(staged_alert):
    """One row per alert, as decoded (candidate fields flattened, Avro bytes kept)."""
    return staged_alert


def cutouts(staged_cutout):
    """The three gzipped FITS stamps of every alert that has them."""
    return staged_cutout.filter("cutoutScience IS NOT NULL OR cutoutTemplate IS NOT NULL "
                                "OR cutoutDifference IS NOT NULL")


def quarantine(staged_quarantine):
    return staged_quarantine
