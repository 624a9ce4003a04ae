"""One small simulated lake with reference catalogs, built once per test process and
shared by the context tests (cross-match stage, anomaly scores, candidates): two nights of
400 alerts with 60 days of history, the simulator's AllWISE and Gaia catalogs, ingested and
processed with the cross-match configured."""
from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pandas as pd

NIGHTS = [20231101, 20231102]
# Rich in supernovae (young ones are the candidates) with stars and AGN for the catalogs;
# asteroid and bogus values are shares of each night's alerts.
MIX = {"SNIa": 4, "SNII": 3, "SNIbc": 1, "RRL": 2, "E": 2, "LPV": 1, "AGN": 1, "QSO": 1,
       "YSO": 1, "asteroid": 0.05, "bogus": 0.05}


def catalog_settings(catalogs: dict) -> dict:
    return {"catalogs": {
        "allwise": {"path": str(catalogs["allwise"]), "id_column": "AllWISE",
                    "columns": ["W1mag", "W2mag", "W3mag", "W4mag"], "radius_arcsec": 2.0},
        "gaia_dr3": {"path": str(catalogs["gaia_dr3"]), "id_column": "source_id",
                     "columns": ["phot_g_mean_mag", "parallax", "parallax_over_error"],
                     "radius_arcsec": 1.0}}}


@functools.lru_cache(maxsize=None)
def context_lake() -> SimpleNamespace:
    from lake.config import load_config
    from lake.stages.ingest import ingest
    from lake.stages.process import process
    from simulator import simulate_season
    from simulator.catalogs import write_catalogs

    out = Path(tempfile.mkdtemp(prefix="contextlake-"))
    atexit.register(shutil.rmtree, out, True)
    # One process: the embedded engine's threads already run in the test process.
    paths = simulate_season(str(NIGHTS[0]), nights=len(NIGHTS), alerts_per_night=400, seed=11,
                            out=out / "nights", history_days=60, processes=1, class_mix=MIX)
    truth = pd.read_parquet(out / "nights" / "truth.parquet")
    catalogs = write_catalogs(truth, out / "catalogs", seed=2, max_rows=500)
    config = load_config(overrides={"lake": {"root": str(out / "lake")},
                                    "xmatch": catalog_settings(catalogs)})
    for path in paths:
        ingest(config, str(path))
    result = process(config, NIGHTS)
    return SimpleNamespace(config=config, truth=truth, catalogs=catalogs, out=out,
                           nights=NIGHTS, archives=paths, process=result)
