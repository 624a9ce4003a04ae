"""Public entry point: simulate a season of ZTF-like nightly alert archives."""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from . import cadence
from .season import lightcurve_table, plan_season, truth_table
from .writer import NightArchives

TRUTH_FILE = "truth.parquet"
LIGHTCURVES_FILE = "lightcurves.parquet"
# Alerts per night planned at once: memory grows ~30 kB per alert of a night (its objects'
# whole photometry and candidate columns), so larger nights are planned in sky partitions.
PARTITION_ALERTS = 50_000


def simulate_season(
    start: str,
    nights: int,
    alerts_per_night: int,
    seed: int = 0,
    out: str | Path = ".",
    *,
    history_days: int = 30,
    class_mix="realistic",
    processes: int = 2,
    forced_photometry: bool = True,
    export_lightcurves: bool = True,
    first_partition: int = 0,
) -> list[Path]:
    """Write ``nights`` nightly archives starting at ``start`` (YYYYMMDD) into ``out``.

    Each archive ``ztf_public_YYYYMMDD.tar.gz`` holds ``alerts_per_night`` alerts (exactly,
    when the class mix includes asteroids or bogus, as the default does) in ZTF schema 4.02.
    Also writes ``truth.parquet`` (one row per object: objectId, class, top_class,
    stamp_class, period and the physical parameters) and, with ``export_lightcurves``,
    ``lightcurves.parquet``: every object's full labeled photometry (detections and upper
    limits) over the whole simulated history, including the ``history_days`` before
    ``start`` that produced no archive but whose epochs appear in the alerts'
    prv_candidates. Use ``history_days`` of a few hundred to give variable stars long,
    classifiable light curves after only a few written nights; ``class_mix='balanced'``
    for equal numbers of objects per light-curve class. Deterministic for a seed.
    Nights above PARTITION_ALERTS alerts are planned and written in sky partitions, one
    at a time. Memory still grows with the number of partitions (a 1e6-alert night, 20
    partitions, was killed at 22 GB; 250,000 alerts peak at 3.8 GB), so a very large
    night is best written by several runs, one process each, of the same seed with
    disjoint ``first_partition`` numbers (e.g. 0, 5, 10, 15 for four runs of 5
    partitions): they share the survey's exposures, and the partition number sets the
    objects' random stream, objectId serial range and candid table-id range, so their
    objects and candids are disjoint and the archives together make one night.

    Returns the archive paths, in night order.
    """
    first = cadence.mjd_of(start)  # validates the date early
    out = Path(out)
    n_parts = max(1, math.ceil(alerts_per_night / PARTITION_ALERTS))
    archives = NightArchives(out, [first + k for k in range(nights)])
    sinks: dict[str, pq.ParquetWriter] = {}
    try:
        for part in range(n_parts):
            share = alerts_per_night // n_parts + (part < alerts_per_night % n_parts)
            season = plan_season(
                start,
                nights,
                share,
                seed=seed,
                history_days=history_days,
                mix=class_mix,
                partition=(part, n_parts),
                id_block=first_partition + part,
            )
            archives.add(season, processes=processes, forced_photometry=forced_photometry)
            _append(sinks, out / TRUTH_FILE, truth_table(season))
            if export_lightcurves:
                _append(sinks, out / LIGHTCURVES_FILE, lightcurve_table(season))
            del season
    except BaseException:
        archives.abort()
        raise
    finally:
        for sink in sinks.values():
            sink.close()
    return archives.close()


def _append(sinks: dict, path: Path, frame) -> None:
    """Append a DataFrame to a Parquet file (one row group per partition)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    key = str(path)
    if key not in sinks:
        sinks[key] = pq.ParquetWriter(path, table.schema)
    sinks[key].write_table(table.cast(sinks[key].schema))
