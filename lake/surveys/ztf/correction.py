"""ZTF's correction strategy: ALeRCE's magnitude correction and flags (brief §4), as
Spark column expressions.

A ZTF detection is a difference-image magnitude. When a reference source sits under it
(``distnr < 1.4`` pixels) the apparent magnitude is recovered by adding the reference
flux back, with the sign of the difference (``isdiffpos``):

    f = 10^(-0.4 magnr) + s 10^(-0.4 magpsf)          magpsf_corr = -2.5 log10 f
    sigmapsf_corr = sqrt(10^(-0.8 magpsf) sigmapsf^2 - 10^(-0.8 magnr) sigmagnr^2) / f
    sigmapsf_corr_ext = 10^(-0.4 magpsf) sigmapsf / f

Undefined values (f <= 0, negative radicand) are stored as 100, as ALeRCE does;
uncorrected detections have null corrected magnitudes. ``corrected`` also requires a
real reference source (distnr >= 0 and magnr > 0): ZTF writes -999 when there is none,
which the plain ``distnr < 1.4`` test would take for a match.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window, functions as F

from lake.silver.correction import CORRECTION_COLUMNS, UNDEFINED

DISTNR_MAX = 1.4       # pixels


def _flux(mag: Column) -> Column:
    return F.pow(F.lit(10.0), F.lit(-0.4) * mag)


def is_corrected() -> Column:
    distnr, magnr = F.col("distnr"), F.col("magnr")
    return F.coalesce((distnr >= 0) & (distnr < DISTNR_MAX) & (magnr > 0), F.lit(False))


def correct(detection: DataFrame) -> DataFrame:
    """Add magpsf_corr, sigmapsf_corr, sigmapsf_corr_ext, corrected and dubious.

    ``detection`` must hold every detection of each object it contains (dubious
    compares each detection with the object's first one in the same band).
    """
    frame = detection.drop(*[c for c in CORRECTION_COLUMNS if c in detection.columns])
    sign = F.col("isdiffpos").cast("double")
    reference_flux, difference_flux = _flux(F.col("magnr")), _flux(F.col("magpsf"))
    total_flux = reference_flux + sign * difference_flux
    radicand = (difference_flux ** 2 * F.col("sigmapsf") ** 2
                - reference_flux ** 2 * F.col("sigmagnr") ** 2)
    corrected = F.col("corrected")
    defined = corrected & (total_flux > 0)
    frame = frame.withColumn("corrected", is_corrected())
    frame = frame.withColumns({
        "magpsf_corr": F.when(defined, -2.5 * F.log10(total_flux))
                        .when(corrected, F.lit(UNDEFINED)),
        "sigmapsf_corr": F.when(defined & (radicand >= 0), F.sqrt(radicand) / total_flux)
                          .when(corrected, F.lit(UNDEFINED)),
        "sigmapsf_corr_ext": F.when(defined, difference_flux * F.col("sigmapsf") / total_flux)
                              .when(corrected, F.lit(UNDEFINED)),
    })
    return with_dubious(frame)


def with_dubious(frame: DataFrame) -> DataFrame:
    """dubious = (not corrected and negative difference) or the detection's corrected
    flag differs from that of the object's first detection in the band."""
    first_in_band = Window.partitionBy("oid", "fid").orderBy("mjd", "candid")
    first_corrected = F.first("corrected").over(first_in_band)
    negative = F.col("isdiffpos") < 0
    return frame.withColumn(
        "dubious", (~F.col("corrected") & negative) | (first_corrected != F.col("corrected")))
