"""Reference catalogs consistent with a simulated season, written in the HATS layout.

No real catalog can be downloaded here, so the simulator writes its own AllWISE-like and
Gaia-DR3-like catalogs from ``truth.parquet``: the sources the simulated objects would
have in them, plus unrelated field sources around them, as HEALPix-partitioned Parquet
that ``hats.read_hats`` opens (``hats.properties``, ``partition_info.csv``,
``dataset/Norder=K/Dir=D/Npix=P.parquet``, ``dataset/_metadata``).

What each class gets (mid-infrared colours in Vega magnitudes, Wright et al. 2010 fig. 12;
the AGN wedge W1-W2 >= 0.8 of Stern et al. 2012):

| truth class | AllWISE counterpart | W1-W2 | W2-W3 | r-W2 | Gaia counterpart |
|---|---|---|---|---|---|
| periodic stars, CV/Nova | at the object, 0.15" scatter | 0.0 +- 0.05 | 0.1 +- 0.2 | 1.5 +- 0.4 | yes, parallax > 0 |
| LPV | at the object | 0.2 +- 0.1 | 0.5 +- 0.3 | 4.0 +- 0.5 | yes |
| YSO | at the object | 0.8 +- 0.3 | 2.5 +- 0.5 | 3.5 +- 0.5 | yes |
| AGN, QSO, Blazar | at the object | 1.1 +- 0.2 | 2.8 +- 0.4 | 4.5 +- 0.5 | yes, parallax ~ 0 |
| transients (SNe, SLSN) | their host at ``host_offset_arcsec`` | 0.2 +- 0.15 | 2.0 +- 0.6 | 3.0 +- 0.4 (host r) | no |
| bogus, asteroid | none | | | | |

Every source carries ``sim_objectId`` (the object it belongs to, or null for a field
source): the truth the cross-match is tested against. The writer is our own (``hats-import``
runs on dask, which the project does not use): it partitions adaptively like hats-import
(a pixel with more than ``max_rows`` rows is split into its four children), and uses hats'
own pixel math, partition info, properties and Parquet metadata writers.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

PERIODIC_STARS = {"CEP", "RRL", "DSCT", "E", "Periodic-Other", "CV/Nova"}
AGN_LIKE = {"AGN", "QSO", "Blazar"}
TRANSIENTS = {"SNIa", "SNII", "SNIbc", "SLSN"}
# class -> (W1-W2 mean, sd, W2-W3 mean, sd, r-W2 mean, sd)
WISE_COLOURS = {
    "star": (0.0, 0.05, 0.1, 0.2, 1.5, 0.4),
    "LPV": (0.2, 0.1, 0.5, 0.3, 4.0, 0.5),
    "YSO": (0.8, 0.3, 2.5, 0.5, 3.5, 0.5),
    "agn": (1.1, 0.2, 2.8, 0.4, 4.5, 0.5),
    "galaxy": (0.2, 0.15, 2.0, 0.6, 3.0, 0.4),
}
ASTROMETRIC_SCATTER_ARCSEC = 0.15
FIELD_SOURCES_PER_OBJECT = 3          # unrelated sources 4-60" from each object
FIELD_RADIUS_ARCSEC = (4.0, 60.0)


def wise_kind(cls: str) -> str | None:
    if cls in PERIODIC_STARS:
        return "star"
    if cls in ("LPV", "YSO"):
        return cls
    if cls in AGN_LIKE:
        return "agn"
    if cls in TRANSIENTS:
        return "galaxy"
    return None


def offset_position(ra, dec, distance_arcsec, angle_rad):
    """Positions at ``distance_arcsec`` from (ra, dec) along position angle ``angle_rad``
    (exact on the sphere, so valid at the poles)."""
    ra, dec = np.radians(ra), np.radians(dec)
    d = np.radians(np.asarray(distance_arcsec) / 3600.0)
    sin_dec = np.sin(dec) * np.cos(d) + np.cos(dec) * np.sin(d) * np.cos(angle_rad)
    dec2 = np.arcsin(np.clip(sin_dec, -1, 1))
    ra2 = ra + np.arctan2(np.sin(angle_rad) * np.sin(d) * np.cos(dec),
                          np.cos(d) - np.sin(dec) * sin_dec)
    return np.degrees(ra2) % 360.0, np.degrees(dec2)


def _field_sources(rng, ra, dec, per_object):
    n = len(ra) * per_object
    if not n:
        return np.empty(0), np.empty(0)
    lo, hi = FIELD_RADIUS_ARCSEC
    dist = np.sqrt(rng.uniform(lo ** 2, hi ** 2, n))     # uniform on the annulus
    return offset_position(np.repeat(ra, per_object), np.repeat(dec, per_object), dist,
                           rng.uniform(0, 2 * np.pi, n))


def allwise_frame(truth: pd.DataFrame, rng: np.random.Generator,
                  field_per_object: int = FIELD_SOURCES_PER_OBJECT) -> pd.DataFrame:
    kinds = truth["class"].map(wise_kind)
    obj = truth[kinds.notna()].reset_index(drop=True)
    kinds = kinds[kinds.notna()].reset_index(drop=True)
    n = len(obj)
    colours = np.array([WISE_COLOURS[k] for k in kinds]).reshape(n, 6)
    w1w2 = rng.normal(colours[:, 0], colours[:, 1])
    w2w3 = rng.normal(colours[:, 2], colours[:, 3])
    is_host = (kinds == "galaxy").to_numpy()
    r = np.where(is_host, obj.get("host_mag_r", pd.Series(np.nan, index=obj.index)),
                 obj["mag_r"]).astype(float)
    r = np.where(np.isfinite(r), r, obj["mag_r"].to_numpy(float))
    w2 = r - rng.normal(colours[:, 4], colours[:, 5])
    offset = np.where(is_host, obj.get("host_offset_arcsec", 0.0), 0.0).astype(float)
    offset = np.where(np.isfinite(offset), offset, 0.0)
    offset = np.hypot(offset, rng.normal(0, ASTROMETRIC_SCATTER_ARCSEC, n))
    ra, dec = offset_position(obj["ra"].to_numpy(float), obj["dec"].to_numpy(float),
                              offset, rng.uniform(0, 2 * np.pi, n))
    fra, fdec = _field_sources(rng, obj["ra"].to_numpy(float), obj["dec"].to_numpy(float),
                               field_per_object)
    nf = len(fra)
    fw2 = rng.uniform(12.0, 16.5, nf)
    fw1w2 = rng.normal(0.1, 0.2, nf)
    fw2w3 = rng.normal(1.0, 1.0, nf)
    frame = pd.DataFrame({
        "ra": np.concatenate([ra, fra]),
        "dec": np.concatenate([dec, fdec]),
        "W1mag": np.concatenate([w2 + w1w2, fw2 + fw1w2]),
        "W2mag": np.concatenate([w2, fw2]),
        "W3mag": np.concatenate([w2 - w2w3, fw2 - fw2w3]),
        "W4mag": np.concatenate([w2 - w2w3 - rng.normal(1.0, 0.5, n),
                                 fw2 - fw2w3 - rng.normal(1.0, 0.5, nf)]),
        "sim_objectId": pd.array(list(obj["objectId"]) + [None] * nf, dtype="string"),
        "sim_offset_arcsec": np.concatenate([offset, np.full(nf, np.nan)]),
    })
    frame["AllWISE"] = [_wise_designation(a, d) for a, d in zip(frame["ra"], frame["dec"])]
    return frame


def _wise_designation(ra: float, dec: float) -> str:
    """'Jhhmmss.ss+ddmmss.s' as AllWISE names its sources."""
    h = ra / 15.0
    hh, mm = int(h), int((h * 60) % 60)
    ss = (h * 3600) % 60
    sign = "+" if dec >= 0 else "-"
    a = abs(dec)
    dd, dm = int(a), int((a * 60) % 60)
    ds = (a * 3600) % 60
    return f"J{hh:02d}{mm:02d}{ss:05.2f}{sign}{dd:02d}{dm:02d}{ds:04.1f}"


def gaia_frame(truth: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    kinds = truth["class"].map(wise_kind)
    obj = truth[kinds.isin(["star", "LPV", "YSO", "agn"])].reset_index(drop=True)
    n = len(obj)
    stellar = ~obj["class"].isin(AGN_LIKE).to_numpy()
    parallax = np.where(stellar, rng.lognormal(np.log(0.8), 0.6, n), rng.normal(0, 0.05, n))
    error = rng.uniform(0.02, 0.1, n)
    ra, dec = offset_position(obj["ra"].to_numpy(float), obj["dec"].to_numpy(float),
                              np.abs(rng.normal(0, 0.05, n)), rng.uniform(0, 2 * np.pi, n))
    return pd.DataFrame({
        "source_id": rng.choice(np.arange(10 ** 15, 10 ** 15 + 50 * max(n, 1)), n,
                                replace=False).astype(np.int64),
        "ra": ra, "dec": dec,
        "phot_g_mean_mag": obj["mag_r"].to_numpy(float) + rng.normal(0.2, 0.1, n),
        "parallax": parallax,
        "parallax_over_error": parallax / error,
        "sim_objectId": pd.array(list(obj["objectId"]), dtype="string"),
    })


def adaptive_partitions(healpix29: np.ndarray, max_rows: int, max_order: int = 7):
    """(order, pixel) of every row, splitting a pixel holding more than ``max_rows`` rows
    into its children (down to ``max_order``), so partitions never overlap."""
    order = np.full(len(healpix29), -1, np.int64)
    pixel = np.zeros(len(healpix29), np.int64)
    for k in range(max_order + 1):
        todo = order < 0
        if not todo.any():
            break
        pix = healpix29[todo] >> (2 * (29 - k))
        values, inverse, counts = np.unique(pix, return_inverse=True, return_counts=True)
        done = (counts[inverse] <= max_rows) | (k == max_order)
        idx = np.flatnonzero(todo)[done]
        order[idx], pixel[idx] = k, pix[done]
    return order, pixel


def write_hats(frame: pd.DataFrame, out, name: str, *, max_rows: int = 20_000,
               max_order: int = 7) -> Path:
    """Write ``frame`` (with ``ra``/``dec`` in degrees) as a HATS catalog at ``out``
    (created; an existing non-empty folder is refused, nothing is overwritten)."""
    import hats
    from hats.catalog import PartitionInfo, TableProperties
    from hats.io import paths
    from hats.io.parquet_metadata import write_parquet_metadata
    from hats.pixel_math.spatial_index import SPATIAL_INDEX_COLUMN, compute_spatial_index

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty: refusing to overwrite a catalog")
    frame = frame.copy()
    frame[SPATIAL_INDEX_COLUMN] = compute_spatial_index(frame["ra"].to_numpy(),
                                                        frame["dec"].to_numpy())
    frame = frame.sort_values(SPATIAL_INDEX_COLUMN, kind="stable").reset_index(drop=True)
    order, pixel = adaptive_partitions(frame[SPATIAL_INDEX_COLUMN].to_numpy(), max_rows,
                                       max_order)
    pixels = []
    for (k, p), part in frame.groupby([order, pixel], sort=True):
        hp = hats.HealpixPixel(int(k), int(p))
        target = Path(str(paths.pixel_catalog_file(out, hp)))
        target.parent.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(part, preserve_index=False)
        table = table.append_column("Norder", pa.array(np.full(len(part), k, np.uint8)))
        table = table.append_column("Dir", pa.array(np.full(len(part), p // 10000 * 10000,
                                                             np.uint64)))
        table = table.append_column("Npix", pa.array(np.full(len(part), p, np.uint64)))
        pq.write_table(table, target)
        pixels.append(hp)
    PartitionInfo.from_healpix(pixels).write_to_file(catalog_path=out)
    write_parquet_metadata(out)
    TableProperties(catalog_name=name, catalog_type="object", total_rows=len(frame),
                    ra_column="ra", dec_column="dec", healpix_column=SPATIAL_INDEX_COLUMN,
                    healpix_order=29).to_properties_file(out)
    return out


CATALOGS = {"allwise": ("AllWISE", allwise_frame), "gaia_dr3": ("source_id", gaia_frame)}


def write_catalogs(truth, out, seed: int = 0, *, max_rows: int = 20_000,
                   field_per_object: int = FIELD_SOURCES_PER_OBJECT) -> dict[str, Path]:
    """Write every simulated reference catalog of ``truth`` (a truth.parquet path or
    frame) under ``out/<name>``; returns {name: catalog folder}."""
    if not isinstance(truth, pd.DataFrame):
        truth = pd.read_parquet(truth)
    rng = np.random.default_rng(seed)
    written = {}
    for name, (_, build) in CATALOGS.items():
        frame = (build(truth, rng, field_per_object) if build is allwise_frame
                 else build(truth, rng))
        written[name] = write_hats(frame, Path(out) / name, name, max_rows=max_rows)
    return written


__all__ = ["write_catalogs", "write_hats", "allwise_frame", "gaia_frame", "offset_position",
           "adaptive_partitions", "CATALOGS", "WISE_COLOURS"]
