"""Rubin's observing cadence and depths, as the night simulator uses them.

* Visits of 30 s (Rubin's baseline takes one 30 s exposure per visit), in pairs ~33 min
  apart on the same night (to link moving objects), the pair in two bands (g+r, r+i, i+z,
  u+g, z+y, as the baseline survey pairs them).
* A field is revisited every few days: on each night of the season it is visited with
  probability ``VISIT_PROBABILITY`` (1/3: a mean revisit of 3 nights, weather included).
* Single-visit 5-sigma point-source depths per band (AB) from the LSST science
  requirements (Ivezic et al. 2019, ApJ 873, 111: u 23.9, g 25.0, r 24.7, i 24.0, z 23.3,
  y 22.1), made 0.8 mag shallower: the real 2025-26 alerts in ``../shared/data/lsst``
  (early operations) have psfFluxErr ~ 630 nJy in i, a 5-sigma depth near 22.7. Each
  visit's depth scatters by 0.3 mag (seeing, sky, airmass).
"""
from __future__ import annotations

import numpy as np

BANDS = ("u", "g", "r", "i", "z", "y")
DESIGN_DEPTH = {"u": 23.9, "g": 25.0, "r": 24.7, "i": 24.0, "z": 23.3, "y": 22.1}
EARLY_OPERATIONS_OFFSET = 0.8
DEPTH = {band: m - EARLY_OPERATIONS_OFFSET for band, m in DESIGN_DEPTH.items()}
DEPTH_SCATTER = 0.3
PAIRS = (("g", "r"), ("r", "i"), ("i", "z"), ("u", "g"), ("z", "y"))
PAIR_WEIGHTS = np.array([0.3, 0.3, 0.2, 0.1, 0.1])
PAIR_GAP_DAYS = 33.0 / 1440.0
VISIT_SECONDS = 30.0
VISIT_PROBABILITY = 1.0 / 3.0
# A night's visits fall between ~23:30 and ~09:30 UTC at Cerro Pachon (MJD fraction).
NIGHT_START, NIGHT_LENGTH = 0.98, 0.40
AB_ZERO_POINT_NJY = 31.4
# Sky under a 0.7" PSF (r ~ 21.2 mag / arcsec^2 over ~2.3 arcsec^2, ~20.3 mag) is ~3.4 mag
# brighter than r's 5-sigma depth (23.9 here): source noise matters only above it.
SKY_EQUIVALENT = 3.4


def flux_njy(mag):
    """AB magnitude -> flux in nJy (m = -2.5 log10(f / nJy) + 31.4)."""
    return 10.0 ** (-0.4 * (np.asarray(mag, dtype=float) - AB_ZERO_POINT_NJY))


def visits(rng: np.random.Generator, first_night: int, last_night: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One field's visits over integer MJD nights [first, last]: (mjd, band index,
    5-sigma depth), sorted by time."""
    nights = np.arange(first_night, last_night + 1)
    observed = nights[rng.random(len(nights)) < VISIT_PROBABILITY]
    pair = rng.choice(len(PAIRS), size=len(observed), p=PAIR_WEIGHTS)
    start = observed + NIGHT_START + rng.random(len(observed)) * (NIGHT_LENGTH - PAIR_GAP_DAYS)
    mjd = np.stack([start, start + PAIR_GAP_DAYS], axis=1).ravel()
    band = np.array([[BANDS.index(PAIRS[p][0]), BANDS.index(PAIRS[p][1])] for p in pair],
                    dtype=int).reshape(-1)
    depth = np.array([DEPTH[BANDS[b]] for b in band]) + rng.normal(0, DEPTH_SCATTER, len(band))
    return mjd, band, depth


def flux_error(depth: np.ndarray, flux: np.ndarray) -> np.ndarray:
    """psfFlux error [nJy] of a visit: the sky-limited error at its 5-sigma depth, and the
    source's own photon noise, which equals the sky's for a source as bright as the sky
    under the PSF (~ SKY_EQUIVALENT mag brighter than the 5-sigma depth)."""
    sky = flux_njy(depth) / 5.0
    return sky * np.sqrt(1.0 + np.abs(flux) / flux_njy(np.asarray(depth) - SKY_EQUIVALENT))
