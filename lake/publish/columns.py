"""What the published columns mean: descriptions and units, written into each Parquet
file's schema (field metadata ``description`` and ``unit``; table metadata
``description``) so that a file read on its own documents itself. Adding a published
column's documentation is one line below; columns without a line are written without.

The sky index: ``healpix`` is the HEALPix pixel of (meanra, meandec) at order
``HEALPIX_ORDER`` (29, nside 2**29, ~0.4 mas), NESTED numbering, ICRS; the pixel of
order ``k`` of an object is ``healpix >> (2 * (29 - k))``. ``object_pixel`` lists, per
pixel of order ``INDEX_ORDER``, its objects' centre and the largest distance of one of
them to it: a cone search keeps the pixels it can reach and reads only their ranges of
``healpix`` (the object files are sorted by it, with row-group statistics).
"""
from __future__ import annotations

import json

import pyarrow as pa

HEALPIX_ORDER = 29
INDEX_ORDER = 6          # 49,152 pixels of ~0.92 deg

TABLES = {
    "object": "one row per object: position, history counts, first/last detection",
    "object_pixel": f"cone-search index: HEALPix pixels (order {INDEX_ORDER}, nested) "
                    "holding objects, their centre and radius",
    "magstat": "magnitude statistics of each object in each band",
    "feature": "light-curve features of each object (ALeRCE feature set)",
    "probability": "class probabilities of each object per classifier; ranking 1 = most probable",
    "lightcurve": "detections (detected = true) and upper limits (detected = false) of "
                  "each object, partitioned by the UTC night of the observation",
    "forced_photometry": "forced photometry at each object's position, partitioned by night",
}

# column -> (description, unit); unit "" when dimensionless
COLUMNS = {
    "oid": ("object identifier of the survey", ""),
    "healpix": (f"HEALPix pixel of (meanra, meandec), order {HEALPIX_ORDER}, nested, ICRS", ""),
    "pixel": (f"HEALPix pixel, order {INDEX_ORDER}, nested", ""),
    "center_ra": ("mean right ascension of the pixel's objects", "deg"),
    "center_dec": ("mean declination of the pixel's objects", "deg"),
    "radius_deg": ("largest distance of one of the pixel's objects to its centre", "deg"),
    "objects": ("number of objects in the pixel", ""),
    "meanra": ("mean right ascension of the detections (ICRS)", "deg"),
    "meandec": ("mean declination of the detections (ICRS)", "deg"),
    "sigmara": ("scatter of right ascension of the detections", "arcsec"),
    "sigmadec": ("scatter of declination of the detections", "arcsec"),
    "ra": ("right ascension (ICRS)", "deg"),
    "dec": ("declination (ICRS)", "deg"),
    "ndet": ("number of detections", ""),
    "ndethist": ("number of detections in the survey's history of the position", ""),
    "ncovhist": ("number of times the position was observed", ""),
    "firstmjd": ("time of the first detection", "d (MJD)"),
    "lastmjd": ("time of the last detection", "d (MJD)"),
    "deltajd": ("time between first and last detection", "d"),
    "mjd": ("time of the observation", "d (MJD)"),
    "fid": ("band id of the survey (ZTF: 1 g, 2 r, 3 i)", ""),
    "candid": ("identifier of the detection (alert candidate)", ""),
    "detected": ("true: a detection; false: an upper limit (diffmaglim)", ""),
    "magpsf": ("PSF-fit magnitude of the difference image", "mag"),
    "sigmapsf": ("1-sigma uncertainty of magpsf", "mag"),
    "magpsf_corr": ("magnitude corrected for the reference flux", "mag"),
    "sigmapsf_corr": ("uncertainty of magpsf_corr", "mag"),
    "sigmapsf_corr_ext": ("uncertainty of magpsf_corr for an extended source", "mag"),
    "diffmaglim": ("5-sigma limiting magnitude of the difference image", "mag"),
    "isdiffpos": ("+1: science brighter than reference, -1: fainter", ""),
    "rb": ("real-bogus score (0 bogus .. 1 real)", ""),
    "night": ("UTC night of the observation (YYYYMMDD)", ""),
    "oid_prefix": ("survey's object partition of oid (ZTF: first 7 characters)", ""),
    "probability": ("probability of the class", ""),
    "ranking": ("rank of the class for the object and classifier (1 = most probable)", ""),
    "class_name": ("class", ""),
    "classifier_name": ("classifier (and level)", ""),
    "classifier_version": ("version of the classifier's model", ""),
    "magmean": ("mean magnitude in the band", "mag"),
    "magmedian": ("median magnitude in the band", "mag"),
    "magmax": ("faintest magnitude in the band", "mag"),
    "magmin": ("brightest magnitude in the band", "mag"),
    "magsigma": ("standard deviation of the magnitudes in the band", "mag"),
    "forcediffimflux": ("forced PSF flux of the difference image", "DN"),
    "forcediffimfluxunc": ("uncertainty of forcediffimflux", "DN"),
}


def documented(table_name: str, table: pa.Table) -> pa.Table:
    """``table`` with descriptions and units in its schema (deterministic)."""
    fields = []
    for field in table.schema:
        doc = COLUMNS.get(field.name)
        fields.append(field.with_metadata({"description": doc[0], "unit": doc[1]})
                      if doc else field)
    meta = {"description": TABLES.get(table_name, ""), "table": table_name}
    if "healpix" in table.column_names:
        meta["healpix"] = json.dumps({"order": HEALPIX_ORDER, "scheme": "nested",
                                      "frame": "icrs", "index_order": INDEX_ORDER})
    return table.cast(pa.schema(fields, metadata=meta))
