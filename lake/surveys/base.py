"""What a survey provides: everything the lake's generic layers must not know.

The generic layers (``lake.bronze``, ``lake.silver``, ``lake.gold``, ``lake.quality``,
``lake.publish``, the stages) hold no survey's field names, bands, formulas or
thresholds: they ask a :class:`Survey` (``lake.surveys.get(name)``). One folder per
survey implements it (``lake/surveys/ztf/``); ``lake/surveys/README.md`` says what each
member must return and which layer calls it.

The interface assumes nothing of one survey: band ids may be numbers (ZTF's fid 1, 2, 3)
or letters (Rubin's u..y); photometry may arrive as magnitudes or fluxes (the parser and
the correction strategy decide what lands in the detection table); a survey may have
upper limits, forced photometry, both or neither (its ``silver_tables`` returns None for
what it has not); a survey without a reference-flux correction returns detections with
``corrected`` false and null corrected magnitudes from ``correct``.

Pure declarations (frozen dataclasses) for what is data, abstract methods for what is
code; Spark-side code is imported by each implementation on use, so that decoding
workers load only pyarrow.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence, Union

if TYPE_CHECKING:  # only for annotations: the interface itself imports no engine
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    from pyspark.sql import Column, DataFrame

    from lake.sources import SourceItem
    from lake.sources.avro import WriterSchema

BandId = Union[int, str]
# One decoded packet as the generic decoder hands it to a parser: where it came from, the
# Avro record, and its original bytes (None when not kept, or when a file held several).
Packet = tuple["SourceItem", dict, Union[bytes, None]]


class InvalidAlert(ValueError):
    """Decoded, but lacks what every alert of the survey must have (the survey's
    ``validate`` says what): the file is quarantined."""


@dataclass(frozen=True)
class Table:
    """How the lake stores one table: name, layer, key, partitioning, and which
    duplicate wins. The generic tables are declared in ``lake.tables``; a survey declares
    its own (``Survey.tables``) and ``lake.tables`` registers them."""

    name: str
    layer: str                      # bronze | silver | gold | ops
    keys: tuple[str, ...]
    partition_by: tuple[str, ...] = ()
    # (column, descending): the row that sorts first wins among rows with one key.
    priority: tuple[tuple[str, bool], ...] = ()
    description: str = ""
    # Derived tables: a recomputed row replaces the stored one when any value differs.
    replace: bool = False


@dataclass(frozen=True)
class FeatureRules:
    """Light-curve preprocessing rules (``science.features.preprocess``): the bands
    features are computed in, the per-detection quality cut, and the magnitude columns.
    ``preprocess_kwargs()`` is what ``preprocess`` takes."""

    bands: tuple[BandId, ...]
    quality_column: str                 # real/bogus score of a detection (ZTF: rb)
    quality_min: float
    magnitude: tuple[str, str]          # (magnitude, error) of every detection
    corrected_magnitude: tuple[str, str]  # (magnitude, error) when the object is corrected
    # Per-object columns of ``Survey.object_context`` the feature extractor reads.
    context_columns: tuple[str, ...] = ()

    def preprocess_kwargs(self) -> dict[str, Any]:
        return {"bands": self.bands, "quality_column": self.quality_column,
                "quality_min": self.quality_min, "magnitude": self.magnitude,
                "corrected_magnitude": self.corrected_magnitude}

    @property
    def detection_columns(self) -> tuple[str, ...]:
        """Detection columns the rules read beyond the generic light-curve ones."""
        return (self.quality_column,)


@dataclass(frozen=True)
class QualityRanges:
    """Physical ranges and required columns the expectation suites check
    (``lake.quality.suites``)."""

    bands: tuple[BandId, ...]               # every band id a detection may carry
    magnitude: tuple[float, float]          # difference and apparent magnitudes
    sigma_max: float                        # 0 < magnitude error <= sigma_max
    alert_columns: tuple[str, ...]          # the bronze alert table must have these
    alert_not_null: tuple[str, ...]         # ... and these must never be null
    alert_band: str                         # the alert's band column (values in ``bands``)
    # (magnitude, error) columns of the alert checked against ``magnitude`` and
    # ``sigma_max``; None for a survey whose packets carry fluxes only.
    alert_magnitude: tuple[str, str] | None
    # The alert's observation time column and its offset from MJD (time = mjd + offset),
    # for "observed during the night" (ZTF: jd, 2400000.5; an MJD column: offset 0).
    alert_time: tuple[str, float]
    # (column, low, high) of a score the alert carries (ZTF: rb in [0, 1]), or None.
    alert_score: tuple[str, float, float] | None = None


class Survey(abc.ABC):
    """One alert survey. Subclasses set the declarations and implement the methods;
    the registry (``lake.surveys.SURVEYS``) holds one instance per survey."""

    #: Registry name and the ``survey:`` config value (``ztf``).
    name: str
    #: Columns of the staged / bronze ``alert`` table holding the object id and the
    #: alert id (the silver and gold tables call them ``oid`` and ``candid``).
    object_id: str
    alert_id: str
    #: Staging tables ``parse`` returns (the generic ``quarantine`` comes on top), in
    #: the order the ingest reads them.
    staging_tables: tuple[str, ...]
    #: Columns of the staged ``cutout`` table holding the stamps.
    cutouts: tuple[str, ...]
    #: Band id (as in the ``fid`` column) -> band letter; in display order.
    bands: Mapping[BandId, str]
    #: The survey's own tables (cross-matches, extras), registered by ``lake.tables``
    #: after the generic silver tables; ``silver_tables`` returns a frame for each.
    tables: tuple[Table, ...]
    #: Columns ``object_history`` returns besides ``oid`` (in ``object`` table order).
    history_columns: tuple[str, ...]
    #: Columns of each object's first detection that ``stellar`` reads.
    stellar_detection_columns: tuple[str, ...]
    #: Corrected magnitudes brighter than this are likely saturated (magstat's
    #: ``saturation_rate``).
    saturation_magnitude: float
    feature_rules: FeatureRules
    #: Whether the process stage computes light-curve features (and so the classifiers
    #: that read them run) for the survey's objects; False until its extractor exists.
    computes_features: bool = True
    quality: QualityRanges

    # --- bronze: packets -> staging tables (lake.bronze.decode, in worker processes) ----

    def read_packets(self, data: bytes, max_decoded_bytes: int | None = None
                     ) -> tuple["WriterSchema", list[dict]]:
        """The packets of one alert file and the writer schema they were read with.
        Default: an Avro container file (schema embedded), decoding at most
        ``max_decoded_bytes``. Raise ``AvroError`` for bytes that are not the survey's
        packets or exceed the cap (the file is quarantined)."""
        from lake.sources.avro import read_container

        return read_container(data, max_decoded_bytes)

    @abc.abstractmethod
    def validate(self, record: dict) -> None:
        """Raise :class:`InvalidAlert` when a decoded packet lacks what every alert
        must have (ids, the triggering detection, its time)."""

    @abc.abstractmethod
    def parse(self, schema: "WriterSchema", packets: Sequence[Packet],
              run_id: str) -> dict[str, "pa.Table"]:
        """Flatten validated packets of one writer schema into Arrow staging tables,
        one per name of ``staging_tables`` the packets have rows for. Must include
        ``alert`` (one row per packet, with ``object_id``, ``alert_id``, ``night``,
        ``source``, ``member``, ``ingest_run_id``) and ``cutout`` (alerts that carry
        stamps, with ``alert_id``, ``night`` and ``cutouts``)."""

    @abc.abstractmethod
    def alert_mjd(self, record: dict) -> float:
        """Observation time (MJD) of a packet's triggering detection (the night given to
        its file is checked against it: ``night_window``)."""

    def night_window(self, night: int) -> tuple[float, float]:
        """The MJD interval [start, end) of a night (YYYYMMDD) as the survey names nights.
        Default: the UTC date (ZTF's archive nights). A survey naming nights by a local
        date (Rubin's dayObs) overrides it.

        >>> from lake.surveys import get
        >>> get("ztf").night_window(20181129)
        (58451.0, 58452.0)
        """
        import datetime

        day = datetime.datetime.strptime(str(night), "%Y%m%d").date()
        start = float((day - datetime.date(1858, 11, 17)).days)
        return start, start + 1.0

    def alert_link(self, staging_table: str) -> str:
        """The column of a staging table naming the alert its rows came from (the
        ``alert_id`` of ``alert`` and ``cutout``; ``parent_<alert_id>`` of a history),
        so that an alert set aside after decoding takes all its rows with it."""
        return self.alert_id if staging_table in ("alert", "cutout") \
            else f"parent_{self.alert_id}"

    @abc.abstractmethod
    def night_of_alert(self, record: dict) -> int:
        """Observing night (YYYYMMDD) of a packet, from its own observation time (used
        when the file's name carries no night)."""

    @abc.abstractmethod
    def night_from_name(self, name: str) -> int | None:
        """Night (YYYYMMDD) in an archive file's name, or None."""

    # --- bands ----------------------------------------------------------------------

    def band_name(self, band: BandId) -> str:
        """Letter of a band id.

        >>> from lake.surveys import get
        >>> get("ztf").band_name(2)
        'r'
        """
        return self.bands[band]

    def band_id(self, letter: str) -> BandId:
        """Band id of a letter (KeyError for a band the survey has not).

        >>> from lake.surveys import get
        >>> get("ztf").band_id("g")
        1
        """
        for band, name in self.bands.items():
            if name == letter:
                return band
        raise KeyError(f"survey {self.name} has no band {letter!r}")

    # --- silver (lake.stages.ingest.build_tables; lake.stages.process) ---------------

    @abc.abstractmethod
    def silver_tables(self, staged: Mapping[str, "DataFrame | None"]
                      ) -> dict[str, "DataFrame | None"]:
        """The generic silver tables (``detection``, ``non_detection``,
        ``forced_photometry``) and every table of ``tables`` from the staging frames
        (None where the batch has no rows, or the survey has no such data).
        ``detection`` rows carry ``oid``, ``candid``, ``mjd``, ``night``, ``fid``,
        ``has_stamp``, ``parent_candid`` and ``isdiffpos`` as +1/-1
        (``lake.silver.detection`` helps)."""

    @abc.abstractmethod
    def correct(self, detection: "DataFrame") -> "DataFrame":
        """The correction strategy: add ``lake.silver.correction.CORRECTION_COLUMNS``
        (corrected magnitudes and errors, ``corrected``, ``dubious``) to detections
        holding every detection of each object they contain."""

    # --- gold (lake.gold.magstat, lake.gold.object, lake.gold.feature) ----------------

    @abc.abstractmethod
    def object_context(self, read: Callable[[str], "DataFrame"],
                       alert: "DataFrame") -> "DataFrame":
        """One row per object of ``alert`` (the bronze alerts of the objects being
        processed): ``oid`` and the per-object columns ``stellar`` and the features
        read (ZTF: the first alert's PS1 distance and star score). ``read(name)``
        reads a lake table."""

    @abc.abstractmethod
    def stellar(self, columns: Mapping[str, "Column"]) -> "Column":
        """Star-likeness of an object (boolean, never null) from its first detection's
        ``stellar_detection_columns`` and its ``object_context`` columns, by name."""

    @abc.abstractmethod
    def object_history(self, alert: "DataFrame") -> "DataFrame":
        """One row per object (``oid``) with ``history_columns``: what the survey's
        alerts say of the object's whole history (ZTF: ndethist, ncovhist, mjdstarthist,
        mjdendhist of its latest alert)."""

    # --- classification (the stamp classifier's rules) -------------------------------

    @abc.abstractmethod
    def apply_stamp_rules(self, alerts: "pd.DataFrame", probs: "np.ndarray",
                          classes: Iterable[str]) -> "np.ndarray":
        """The rules on top of the stamp classifier: a new (n, k) probability matrix
        for the alert rows ``alerts`` (ZTF: known solar-system object -> asteroid; no SN
        for a negative difference or a likely star)."""

    # --- publication (lake.publish.catalog) -----------------------------------------

    @abc.abstractmethod
    def object_partition_sql(self, oid: str) -> str:
        """A DuckDB SQL expression of the column ``oid`` giving the light-curve
        partition of an object (few hundred partitions, stable for an object)."""


def staging_tables(survey: Survey) -> tuple[str, ...]:
    """Every staging table of a survey's ingest: its own, then the generic quarantine."""
    return tuple(survey.staging_tables) + ("quarantine",)
