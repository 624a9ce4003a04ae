"""The project's own Avro writer schema for ZTF alerts, version 4.02.

Built in Python from the documented field names and types of ZTF's public alert
schema 4.02 (alert, candidate, prv_candidate, fp_hist, cutout), so that files written
with it are read by any ZTF alert consumer exactly as real alerts are: same record
names (``ztf.alert`` / ``ztf.alert.candidate`` ...), same field order, same types,
same nullability. Nothing here is copied from the official ``.avsc`` files.

>>> schema = alert_schema()
>>> schema["name"], schema["namespace"], [f["name"] for f in schema["fields"]][:4]
('alert', 'ztf', ['schemavsn', 'publisher', 'objectId', 'candid'])
>>> len(CANDIDATE_FIELDS), len(PRV_CANDIDATE_FIELDS), len(FP_HIST_FIELDS)
(103, 57, 29)
"""

from __future__ import annotations

import functools
import json

import fastavro

SCHEMA_VERSION = "4.02"
PUBLISHER = "ZTF (www.ztf.caltech.edu)"
NAMESPACE = "ztf.alert"

# Field specs: (name, avro primitive type, nullable). Nullable fields are unions
# ["null", type] defaulting to null; the few nullable fields without a default in
# prv_candidate (marked REQUIRED_NULLABLE) must be present but may be null.
_D, _F, _I, _L, _S = "double", "float", "int", "long", "string"

_PS1_BLOCK = [(f"{band}mag{k}", _F, True) for k in (2, 3) for band in ("sg", "sr", "si", "sz")]

CANDIDATE_FIELDS: list[tuple[str, str, bool]] = [
    ("jd", _D, False),
    ("fid", _I, False),
    ("pid", _L, False),
    ("diffmaglim", _F, True),
    ("pdiffimfilename", _S, True),
    ("programpi", _S, True),
    ("programid", _I, False),
    ("candid", _L, False),
    ("isdiffpos", _S, False),
    ("tblid", _L, True),
    ("nid", _I, True),
    ("rcid", _I, True),
    ("field", _I, True),
    ("xpos", _F, True),
    ("ypos", _F, True),
    ("ra", _D, False),
    ("dec", _D, False),
    ("magpsf", _F, False),
    ("sigmapsf", _F, False),
    ("chipsf", _F, True),
    ("magap", _F, True),
    ("sigmagap", _F, True),
    ("distnr", _F, True),
    ("magnr", _F, True),
    ("sigmagnr", _F, True),
    ("chinr", _F, True),
    ("sharpnr", _F, True),
    ("sky", _F, True),
    ("magdiff", _F, True),
    ("fwhm", _F, True),
    ("classtar", _F, True),
    ("mindtoedge", _F, True),
    ("magfromlim", _F, True),
    ("seeratio", _F, True),
    ("aimage", _F, True),
    ("bimage", _F, True),
    ("aimagerat", _F, True),
    ("bimagerat", _F, True),
    ("elong", _F, True),
    ("nneg", _I, True),
    ("nbad", _I, True),
    ("rb", _F, True),
    ("ssdistnr", _F, True),
    ("ssmagnr", _F, True),
    ("ssnamenr", _S, True),
    ("sumrat", _F, True),
    ("magapbig", _F, True),
    ("sigmagapbig", _F, True),
    ("ranr", _D, False),
    ("decnr", _D, False),
    ("sgmag1", _F, True),
    ("srmag1", _F, True),
    ("simag1", _F, True),
    ("szmag1", _F, True),
    ("sgscore1", _F, True),
    ("distpsnr1", _F, True),
    ("ndethist", _I, False),
    ("ncovhist", _I, False),
    ("jdstarthist", _D, True),
    ("jdendhist", _D, True),
    ("scorr", _D, True),
    ("tooflag", _I, True),
    ("objectidps1", _L, True),
    ("objectidps2", _L, True),
    *_PS1_BLOCK[:4],
    ("sgscore2", _F, True),
    ("distpsnr2", _F, True),
    ("objectidps3", _L, True),
    *_PS1_BLOCK[4:],
    ("sgscore3", _F, True),
    ("distpsnr3", _F, True),
    ("nmtchps", _I, False),
    ("rfid", _L, False),
    ("jdstartref", _D, False),
    ("jdendref", _D, False),
    ("nframesref", _I, False),
    ("rbversion", _S, False),
    ("dsnrms", _F, True),
    ("ssnrms", _F, True),
    ("dsdiff", _F, True),
    ("magzpsci", _F, True),
    ("magzpsciunc", _F, True),
    ("magzpscirms", _F, True),
    ("nmatches", _I, False),
    ("clrcoeff", _F, True),
    ("clrcounc", _F, True),
    ("zpclrcov", _F, True),
    ("zpmed", _F, True),
    ("clrmed", _F, True),
    ("clrrms", _F, True),
    ("neargaia", _F, True),
    ("neargaiabright", _F, True),
    ("maggaia", _F, True),
    ("maggaiabright", _F, True),
    ("exptime", _F, True),
    ("drb", _F, True),
    ("drbversion", _S, False),
]

# prv_candidate: a detection or an upper limit (candid null). Measurement fields are
# nullable without a default: a writer must always emit them (possibly as null).
REQUIRED_NULLABLE = {"candid", "isdiffpos", "ra", "dec", "magpsf", "sigmapsf", "ranr", "decnr"}
_PRV_NAMES = [
    "jd",
    "fid",
    "pid",
    "diffmaglim",
    "pdiffimfilename",
    "programpi",
    "programid",
    "candid",
    "isdiffpos",
    "tblid",
    "nid",
    "rcid",
    "field",
    "xpos",
    "ypos",
    "ra",
    "dec",
    "magpsf",
    "sigmapsf",
    "chipsf",
    "magap",
    "sigmagap",
    "distnr",
    "magnr",
    "sigmagnr",
    "chinr",
    "sharpnr",
    "sky",
    "magdiff",
    "fwhm",
    "classtar",
    "mindtoedge",
    "magfromlim",
    "seeratio",
    "aimage",
    "bimage",
    "aimagerat",
    "bimagerat",
    "elong",
    "nneg",
    "nbad",
    "rb",
    "ssdistnr",
    "ssmagnr",
    "ssnamenr",
    "sumrat",
    "magapbig",
    "sigmagapbig",
    "ranr",
    "decnr",
    "scorr",
    "magzpsci",
    "magzpsciunc",
    "magzpscirms",
    "clrcoeff",
    "clrcounc",
    "rbversion",
]
_CAND_TYPES = {name: typ for name, typ, _ in CANDIDATE_FIELDS}
_PRV_NOT_NULL = {"jd", "fid", "pid", "programid", "rbversion"}
PRV_CANDIDATE_FIELDS: list[tuple[str, str, bool]] = [
    (name, _CAND_TYPES[name], name not in _PRV_NOT_NULL) for name in _PRV_NAMES
]

# fp_hist: forced PSF photometry on the difference image at the object's position.
FP_HIST_FIELDS: list[tuple[str, str, bool]] = [
    ("field", _I, True),
    ("rcid", _I, True),
    ("fid", _I, False),
    ("pid", _L, False),
    ("rfid", _L, False),
    ("sciinpseeing", _F, True),
    ("scibckgnd", _F, True),
    ("scisigpix", _F, True),
    ("magzpsci", _F, True),
    ("magzpsciunc", _F, True),
    ("magzpscirms", _F, True),
    ("clrcoeff", _F, True),
    ("clrcounc", _F, True),
    ("exptime", _F, True),
    ("adpctdif1", _F, True),
    ("adpctdif2", _F, True),
    ("diffmaglim", _F, True),
    ("programid", _I, False),
    ("jd", _D, False),
    ("forcediffimflux", _F, True),
    ("forcediffimfluxunc", _F, True),
    ("procstatus", _S, True),
    ("distnr", _F, True),
    ("ranr", _D, False),
    ("decnr", _D, False),
    ("magnr", _F, True),
    ("sigmagnr", _F, True),
    ("chinr", _F, True),
    ("sharpnr", _F, True),
]

CUTOUT_KEYS = ("cutoutScience", "cutoutTemplate", "cutoutDifference")


def _field(name: str, typ: str, nullable: bool, required: bool = False) -> dict:
    if not nullable:
        return {"name": name, "type": typ}
    if required:
        return {"name": name, "type": ["null", typ]}
    return {"name": name, "type": ["null", typ], "default": None}


def _record(name: str, specs, required_nullable=frozenset()) -> dict:
    return {
        "type": "record",
        "name": name,
        "namespace": NAMESPACE,
        "fields": [_field(n, t, nl, n in required_nullable) for n, t, nl in specs],
    }


def candidate_schema() -> dict:
    """Record schema ``ztf.alert.candidate``."""
    return _record("candidate", CANDIDATE_FIELDS)


def prv_candidate_schema() -> dict:
    """Record schema ``ztf.alert.prv_candidate``."""
    return _record("prv_candidate", PRV_CANDIDATE_FIELDS, REQUIRED_NULLABLE)


def fp_hist_schema() -> dict:
    """Record schema ``ztf.alert.fp_hist``."""
    return _record("fp_hist", FP_HIST_FIELDS)


def cutout_schema() -> dict:
    """Record schema ``ztf.alert.cutout``: a gzipped FITS file and its name."""
    return {
        "type": "record",
        "name": "cutout",
        "namespace": NAMESPACE,
        "fields": [{"name": "fileName", "type": "string"}, {"name": "stampData", "type": "bytes"}],
    }


def alert_schema() -> dict:
    """The full alert schema (record ``ztf.alert``), nested types defined inline once."""
    return {
        "type": "record",
        "name": "alert",
        "namespace": "ztf",
        "doc": "ZTF alert schema 4.02 (alert-lake simulator writer schema)",
        "fields": [
            {"name": "schemavsn", "type": "string"},
            {"name": "publisher", "type": "string"},
            {"name": "objectId", "type": "string"},
            {"name": "candid", "type": "long"},
            {"name": "candidate", "type": candidate_schema()},
            {
                "name": "prv_candidates",
                "type": ["null", {"type": "array", "items": prv_candidate_schema()}],
                "default": None,
            },
            {
                "name": "fp_hists",
                "type": ["null", {"type": "array", "items": fp_hist_schema()}],
                "default": None,
            },
            {"name": "cutoutScience", "type": ["null", cutout_schema()], "default": None},
            {"name": "cutoutTemplate", "type": ["null", "ztf.alert.cutout"], "default": None},
            {"name": "cutoutDifference", "type": ["null", "ztf.alert.cutout"], "default": None},
        ],
    }


@functools.cache
def parsed(name: str = "alert"):
    """fastavro-parsed schema by record name, parsed once per process.

    >>> parsed("candidate")["name"]
    'ztf.alert.candidate'
    """
    builders = {
        "alert": alert_schema,
        "candidate": candidate_schema,
        "prv_candidate": prv_candidate_schema,
        "fp_hist": fp_hist_schema,
    }
    return fastavro.parse_schema(builders[name]())


@functools.cache
def alert_schema_json() -> bytes:
    """Canonical-ish JSON text of the alert schema, embedded in every container file."""
    return json.dumps(alert_schema(), separators=(",", ":")).encode()
