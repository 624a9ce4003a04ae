"""Alert simulator: ZTF-like nightly alert archives (schema 4.02) with known truth.

Usage::

    from simulator import simulate_season
    simulate_season("20231018", 3, 1500, seed=1, out="data/sim")

See simulator/README.md for the physical models, their parameter ranges and sources.
"""

from .api import LIGHTCURVES_FILE, TRUTH_FILE, simulate_season
from .season import Season, lightcurve_table, plan_season, truth_table
from .writer import write_nights

__all__ = [
    "LIGHTCURVES_FILE",
    "TRUTH_FILE",
    "Season",
    "lightcurve_table",
    "plan_season",
    "simulate_season",
    "truth_table",
    "write_nights",
]
