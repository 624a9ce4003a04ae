"""Simulated Rubin nights: schema-10.0 alerts with known truth, in both framings.

Objects are the ZTF simulator's physical light-curve models (``simulator.lightcurves``:
the same classes, parameters and truth), placed 4 mag fainter (Rubin reaches ~3-4 mag deeper
than ZTF: its alerts are mostly of sources ZTF cannot see) and observed with Rubin's cadence and depths (``simulator.rubin.cadence``). The
models give g and r; the other bands take the nearer model band with a fixed color
(``COLOR``: a typical star / SN spectrum, u 0.6 mag fainter than g, i/z/y 0.15-0.3 mag
brighter than r). A visit whose difference flux reaches 5 sigma is a diaSource; a
diaSource on a written night is an alert carrying its object's diaSources and forced
photometry (every visit since its first diaSource) of the previous ``history_days`` (at
most 365, Rubin's 12 months), its diaObject summary and three cutouts (plain FITS images, as
the real alerts of ``../shared/data/lsst``). Asteroids are single diaSources with
``diaObjectId`` 0 (as Rubin writes it), an ``ssObjectId``, an ssSource and an MPC orbit;
bogus candidates single diaSources of low reliability. Fluxes are nJy.

    lsst_YYYYMMDD.tar.gz        one Avro container per alert (<diaSourceId>.avro)
    lsst_wire_YYYYMMDD.tar.gz   the same alerts as Kafka wire packets (<diaSourceId>.bin)
    lsst_truth.parquet          one row per object: ids, class, position, counts, params
"""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from simulator import lightcurves as models
from simulator import stamps
from simulator.rubin import cadence, packets

VERSION = (10, 0)
FAINTER = 4.0
COLOR = {"u": 0.6, "g": 0.0, "r": 0.0, "i": -0.15, "z": -0.25, "y": -0.3}
MODEL_BAND = {"u": 1, "g": 1, "r": 2, "i": 2, "z": 2, "y": 2}   # model fid of each band
DETECTION_SNR = 5.0
# Fractions of a night's alerts (the rest are the light-curve classes, in REALISTIC_MIX).
ASTEROID_SHARE, BOGUS_SHARE = 0.05, 0.05
REALISTIC_MIX = {"SNIa": 0.2, "SNII": 0.12, "SNIbc": 0.04, "SLSN": 0.02, "AGN": 0.12,
                 "QSO": 0.08, "Blazar": 0.02, "CV/Nova": 0.04, "YSO": 0.04, "RRL": 0.1,
                 "CEP": 0.02, "DSCT": 0.04, "E": 0.08, "LPV": 0.06, "Periodic-Other": 0.02}
TRUTH_FILE = "lsst_truth.parquet"
FWHM_PIXELS = 3.5     # 0.7 arcsec seeing at 0.2 arcsec / pixel
MJD_EPOCH = np.datetime64("1858-11-17")


def mjd_of_day_obs(day_obs: str) -> int:
    """Integer MJD of a dayObs date (its night's visits start ~23:30 UTC that day)."""
    return int((np.datetime64(f"{day_obs[:4]}-{day_obs[4:6]}-{day_obs[6:]}") - MJD_EPOCH)
               .astype(int))


def day_obs_of(mjd: int) -> str:
    return str(MJD_EPOCH + np.timedelta64(int(mjd), "D")).replace("-", "")


class Ids:
    """Unique 64-bit ids, Rubin-like in size (~1.7e17), deterministic for a seed."""

    def __init__(self, rng):
        self.next = int(rng.integers(1, 1 << 40)) + 170_000_000_000_000_000

    def take(self, n: int) -> np.ndarray:
        ids = np.arange(self.next, self.next + n, dtype=np.int64)
        self.next += n
        return ids


class Night:
    """One written night: its archives, open while the simulation runs, so that memory
    holds one alert at a time (a night of 2e4 alerts with histories and cutouts is ~1 GB).
    ``add`` writes an alert while the night has room for its share of a class group
    (``room``), and returns whether it did."""

    def __init__(self, mjd: int, out: Path, framing: str, cutouts: bool, rng):
        self.mjd, self.rng, self.cutouts = mjd, rng, cutouts
        self.counts = {"lc": 0, "single": 0}
        self.room = {"lc": 0, "single": 0}
        self.written: dict[int, int] = {}    # object id -> alerts written
        day = day_obs_of(mjd)
        self.paths, self.archives = [], {}
        for kind, name in (("container", f"lsst_{day}.tar.gz"), ("wire", f"lsst_wire_{day}.tar.gz")):
            if framing in (kind, "both"):
                self.paths.append(out / name)
                self.archives[kind] = tarfile.open(out / name, "w:gz", compresslevel=1)

    def full(self, group: str) -> bool:
        return self.counts[group] >= self.room[group]

    def add(self, group: str, record: dict, stamp: tuple) -> bool:
        if self.full(group):
            return False
        self.counts[group] += 1
        if self.cutouts:
            (record["cutoutScience"], record["cutoutTemplate"],
             record["cutoutDifference"]) = _cutouts(self.rng, *stamp)
        name = str(record["diaSourceId"])
        source = record["diaSource"]
        key = source["diaObjectId"] or source["ssObjectId"]
        self.written[key] = self.written.get(key, 0) + 1
        for kind, archive in self.archives.items():
            data = (packets.container([record], VERSION) if kind == "container"
                    else packets.wire(record, VERSION))
            info = tarfile.TarInfo(f"{name}.avro" if kind == "container" else f"{name}.bin")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        return True

    def close(self) -> None:
        for archive in self.archives.values():
            archive.close()


def _photometry(cls, params, n, rng, first, last):
    """Every visit of ``n`` objects: (object index, mjd, band, depth, observed flux,
    error, true difference flux), objects in order, each object's visits by time."""
    rows = [cadence.visits(rng, first, last) for _ in range(n)]
    idx = np.concatenate([np.full(len(r[0]), i) for i, r in enumerate(rows)]).astype(int)
    mjd = np.concatenate([r[0] for r in rows])
    band = np.concatenate([r[1] for r in rows]).astype(int)
    depth = np.concatenate([r[2] for r in rows])
    letters = np.array(cadence.BANDS)[band]
    fid = np.array([MODEL_BAND[b] for b in letters]) if len(band) else np.zeros(0, int)
    color = 10 ** (-0.4 * np.array([COLOR[b] for b in letters])) if len(band) else np.zeros(0)
    scale = cadence.flux_njy(FAINTER)          # model flux 1 is m = 0; FAINTER mag deeper
    science = models.flux(cls, params, idx, mjd, fid, rng) * color * scale
    template = models.template_flux(cls, params, rng)[idx, fid - 1] * color * scale
    true_diff = science - template
    error = cadence.flux_error(depth, science)
    observed = true_diff + rng.normal(0.0, 1.0, len(mjd)) * error
    return idx, mjd, letters, depth, observed, error, science, template


def _cutouts(rng, science, template, difference, error):
    """Science, template and difference stamps (plain FITS, float32, as Rubin sends them;
    Rubin's add uncertainty and PSF extensions, left out here), pixel noise of the visit."""
    s = FWHM_PIXELS / 2.3548
    rms = error / (2.0 * np.sqrt(np.pi) * s)     # the per-pixel noise giving that flux error
    shape = (stamps.SIZE, stamps.SIZE)
    images = []
    for flux, noise in ((science, rms), (template, rms / 2.0), (difference, rms)):
        image = stamps.psf(float(flux), stamps.CENTER, stamps.CENTER, FWHM_PIXELS)
        image = image + stamps.gaussian_noise(rng, shape) * float(noise)
        images.append(stamps.fits_bytes(image.astype(np.float32)))
    return images


class Simulation:
    """Objects and their alerts over the written nights (see module doc)."""

    def __init__(self, start: str, nights: int, seed: int, history_days: int, out: Path,
                 framing: str, cutouts: bool):
        self.rng = np.random.default_rng(seed)
        self.first = mjd_of_day_obs(start)
        self.nights = {self.first + k: Night(self.first + k, out, framing, cutouts, self.rng)
                       for k in range(nights)}
        self.history = min(int(history_days), 365)
        self.source_ids, self.forced_ids = Ids(self.rng), Ids(self.rng)
        self.object_ids, self.ss_ids = Ids(self.rng), Ids(self.rng)
        self.truth: list[dict] = []
        self.source_template = packets.source(VERSION)
        self.forced_template = packets.forced_source(VERSION)
        self.object_template = packets.dia_object(VERSION)
        self.ss_template = packets.fill(packets.kind_schema(VERSION, "ssSource"), {})
        self.orbit_template = packets.fill(packets.kind_schema(VERSION, "mpc_orbits"), {})

    # -- objects with light curves -----------------------------------------------------
    def add_objects(self, cls: str, n: int) -> None:
        rng, last = self.rng, max(self.nights)
        lo = self.first - self.history
        params = models.sample_params(cls, n, rng, t_lo=float(lo), t_hi=float(last + 1))
        idx, mjd, band, depth, flux, error, science, template = _photometry(
            cls, params, n, rng, lo, last)
        detected = np.abs(flux) >= DETECTION_SNR * error
        ids = self.object_ids.take(n)
        ra = rng.uniform(0.0, 360.0, n)
        dec = np.degrees(np.arcsin(rng.uniform(-1.0, np.sin(np.radians(20.0)), n)))
        source_ids = self.source_ids.take(len(mjd))
        forced_ids = self.forced_ids.take(len(mjd))
        reliability = rng.beta(8.0, 2.0, len(mjd))
        starts = np.searchsorted(idx, np.arange(n + 1))
        for i in range(n):
            rows = np.arange(starts[i], starts[i + 1])
            det = rows[detected[rows]]
            if len(det):
                first_det = mjd[det[0]]
                for row in det:
                    night = self.nights.get(int(np.floor(mjd[row] - 0.5)))
                    if night is None or night.full("lc"):
                        continue
                    t = mjd[row]
                    window = (mjd >= t - self.history) & (mjd < t)
                    prv = det[window[det]]
                    forced = rows[window[rows] & (mjd[rows] >= first_det)]
                    sources = [self._source(r, ids[i], ra[i], dec[i], mjd, band, flux, error,
                                            source_ids, reliability) for r in [row, *prv]]
                    record = packets.record(
                        VERSION, diaSourceId=int(source_ids[row]), diaSource=sources[0],
                        prvDiaSources=sources[1:] or None,
                        prvDiaForcedSources=[self._forced(r, ids[i], ra[i], dec[i], mjd, band,
                                                          flux, error, forced_ids)
                                             for r in forced] or None,
                        diaObject=self._object(ids[i], ra[i], dec[i], sources, t))
                    night.add("lc", record, (science[row], template[row], flux[row], error[row]))
            self.truth.append({
                "diaObjectId": int(ids[i]), "ssObjectId": None, "class": cls,
                "top_class": models.TOP_CLASS[cls], "ra": float(ra[i]), "dec": float(dec[i]),
                "mag_g": float(params["mag_g"][i] + FAINTER),
                "mag_r": float(params["mag_r"][i] + FAINTER),
                "n_visits": len(rows), "n_det": int(detected[rows].sum()), "n_alerts": 0,
                "first_mjd": float(mjd[rows].min()) if len(rows) else None,
                "last_mjd": float(mjd[rows].max()) if len(rows) else None,
                "params": json.dumps({k: _plain(v[i]) for k, v in params.items()
                                      if not k.startswith("_")})})

    def _source(self, row, object_id, ra, dec, mjd, band, flux, error, source_ids, reliability):
        return {**self.source_template, "diaSourceId": int(source_ids[row]),
                "diaObjectId": int(object_id), "visit": int(mjd[row] * 1e5) % (1 << 40),
                "detector": int(row % 189), "midpointMjdTai": float(mjd[row]),
                "timeProcessedMjdTai": float(mjd[row]) + 0.0014,
                "ra": float(ra), "dec": float(dec), "raErr": 1e-5, "decErr": 1e-5,
                "band": str(band[row]), "psfFlux": float(flux[row]),
                "psfFluxErr": float(error[row]), "snr": float(abs(flux[row]) / error[row]),
                "isNegative": bool(flux[row] < 0), "reliability": float(reliability[row]),
                "extendedness": 0.0, "x": 2000.0, "y": 2000.0}

    def _forced(self, row, object_id, ra, dec, mjd, band, flux, error, forced_ids):
        return {**self.forced_template, "diaForcedSourceId": int(forced_ids[row]),
                "diaObjectId": int(object_id), "ra": float(ra), "dec": float(dec),
                "visit": int(mjd[row] * 1e5) % (1 << 40), "detector": int(row % 189),
                "midpointMjdTai": float(mjd[row]), "band": str(band[row]),
                "psfFlux": float(flux[row]), "psfFluxErr": float(error[row]),
                "timeProcessedMjdTai": float(mjd[row]) + 0.0014}

    def _object(self, object_id, ra, dec, sources, t):
        summary = {**self.object_template, "diaObjectId": int(object_id),
                   "validityStartMjdTai": float(t), "ra": float(ra), "dec": float(dec),
                   "nDiaSources": len(sources),
                   "firstDiaSourceMjdTai": min(s["midpointMjdTai"] for s in sources),
                   "lastDiaSourceMjdTai": float(t)}
        for letter in cadence.BANDS:
            fluxes = np.array([s["psfFlux"] for s in sources if s["band"] == letter])
            if len(fluxes) and f"{letter}_psfFluxMean" in summary:
                summary[f"{letter}_psfFluxMean"] = float(fluxes.mean())
                summary[f"{letter}_psfFluxSigma"] = float(fluxes.std())
                summary[f"{letter}_psfFluxNdata"] = int(len(fluxes))
        return summary

    # -- single-detection classes --------------------------------------------------------
    def add_singles(self, night: Night, kind: str, n: int) -> None:
        rng = self.rng
        for _ in range(n):
            band = str(rng.choice(cadence.BANDS))
            depth = cadence.DEPTH[band] + rng.normal(0, cadence.DEPTH_SCATTER)
            error = float(cadence.flux_error(np.array([depth]), np.array([0.0]))[0])
            snr = rng.uniform(5.0, 30.0) if kind == "asteroid" else rng.uniform(5.0, 8.0)
            flux = snr * error * (1 if kind == "asteroid" or rng.random() < 0.5 else -1)
            t = night.mjd + cadence.NIGHT_START + rng.random() * cadence.NIGHT_LENGTH
            source_id = int(self.source_ids.take(1)[0])
            ra, dec = rng.uniform(0, 360), rng.uniform(-60, 10)
            source = {**self.source_template, "diaSourceId": source_id, "band": band,
                      "midpointMjdTai": t, "timeProcessedMjdTai": t + 0.0014, "ra": ra,
                      "dec": dec, "psfFlux": flux, "psfFluxErr": error, "snr": abs(snr),
                      "isNegative": flux < 0, "visit": int(t * 1e5) % (1 << 40)}
            top = {"diaSourceId": source_id}
            truth = {"class": kind, "top_class": kind, "ra": ra, "dec": dec, "n_visits": 1,
                     "n_det": 1, "n_alerts": 1, "first_mjd": t, "last_mjd": t,
                     "mag_g": None, "mag_r": None, "params": "{}"}
            if kind == "asteroid":
                ss_id = int(self.ss_ids.take(1)[0]) % (1 << 55)
                designation = f"2026 {chr(65 + ss_id % 24)}{chr(65 + ss_id // 24 % 25)}{ss_id % 999}"
                source.update(diaObjectId=0, ssObjectId=ss_id, reliability=float(rng.beta(8, 2)),
                              trailLength=float(rng.uniform(0, 5)))
                top["ssSource"] = {**self.ss_template, "diaSourceId": source_id,
                                   "ssObjectId": ss_id, "designation": designation,
                                   "eclLambda": ra, "eclBeta": dec / 3, "galLon": ra,
                                   "galLat": dec, "ephVmag": 31.4 - 2.5 * np.log10(abs(flux))}
                top["mpc_orbits"] = {**self.orbit_template, "id": ss_id % (1 << 30),
                                     "designation": designation,
                                     "packed_primary_provisional_designation": designation,
                                     "unpacked_primary_provisional_designation": designation,
                                     "a": float(rng.uniform(1.8, 3.5)),
                                     "e": float(rng.uniform(0.0, 0.3)),
                                     "i": float(rng.uniform(0.0, 25.0)),
                                     "h": float(rng.uniform(14.0, 20.0))}
                truth.update(diaObjectId=None, ssObjectId=ss_id)
            else:
                object_id = int(self.object_ids.take(1)[0])
                source.update(diaObjectId=object_id, reliability=float(rng.uniform(0.0, 0.3)))
                top["diaObject"] = self._object(object_id, ra, dec, [source], t)
                truth.update(diaObjectId=object_id, ssObjectId=None)
            night.add("single", packets.record(VERSION, diaSource=source, **top),
                      (max(flux, 0.0), 0.0, flux, error))
            self.truth.append(truth)


def _plain(value):
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else float(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    return str(value)


def simulate_nights(start: str, nights: int, alerts_per_night: int, seed: int = 0,
                    out: str | Path = ".", *, history_days: int = 365,
                    framing: str = "both", cutouts: bool = True) -> list[Path]:
    """Write ``nights`` Rubin nights from dayObs ``start`` (YYYYMMDD) into ``out`` (see
    module doc); each holds ``alerts_per_night`` alerts. ``framing``: container, wire or
    both. Deterministic for a seed. Returns the archives written."""
    if framing not in ("container", "wire", "both"):
        raise ValueError(f"framing must be container, wire or both, not {framing!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sim = Simulation(start, nights, seed, history_days, out, framing, cutouts)
    classes = list(REALISTIC_MIX)
    weights = np.array([REALISTIC_MIX[c] for c in classes])
    weights /= weights.sum()
    lc_target = int(round(alerts_per_night * (1 - ASTEROID_SHARE - BOGUS_SHARE)))
    singles = alerts_per_night - lc_target
    asteroids = min(int(round(alerts_per_night * ASTEROID_SHARE)), singles)
    for night in sim.nights.values():
        night.room = {"lc": lc_target, "single": singles}
    batch = 64
    try:
        # objects until every night has its share of light-curve alerts (the first ones
        # produced are kept: deterministic for a seed)
        while not all(n.full("lc") for n in sim.nights.values()):
            for cls, count in zip(classes, sim.rng.multinomial(batch, weights)):
                if count:
                    sim.add_objects(cls, int(count))
        for night in sim.nights.values():
            sim.add_singles(night, "asteroid", asteroids)
            sim.add_singles(night, "bogus", singles - asteroids)
    finally:
        for night in sim.nights.values():
            night.close()
    for row in sim.truth:
        key = row["diaObjectId"] or row["ssObjectId"]
        row["n_alerts"] = sum(n.written.get(key, 0) for n in sim.nights.values())
    pq.write_table(pa.Table.from_pylist(sim.truth), out / TRUTH_FILE)
    return [path for night in sim.nights.values() for path in night.paths]
