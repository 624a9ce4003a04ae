"""Plan a simulated observing season: objects, exposures, measurements, alerts.

The whole season is simulated in memory first (deterministically from the seed):
the survey's exposures, a population of persistent objects sized so the requested
nights carry the requested number of alerts, every object's photometry at every
exposure of its field (detections and upper limits, from ``history_days`` before the
first night), then one-alert asteroids and bogus detections fill each night up to the
requested count. Writing the nights (``writer``) only serializes this plan, so the same
detection carries the same candid and values in every alert that includes it.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from dataclasses import fields as dc_fields

import numpy as np

from . import cadence, photometry, population
from . import lightcurves as lc

# Default composition: persistent objects by class, roughly as they appear in ZTF's
# alert stream (variable stars dominate, then AGN/QSO, then supernovae) ...
REALISTIC_MIX = {
    "E": 0.16,
    "RRL": 0.11,
    "LPV": 0.06,
    "CEP": 0.03,
    "DSCT": 0.04,
    "Periodic-Other": 0.07,
    "QSO": 0.08,
    "AGN": 0.06,
    "Blazar": 0.02,
    "YSO": 0.06,
    "CV/Nova": 0.06,
    "SNIa": 0.15,
    "SNII": 0.065,
    "SNIbc": 0.025,
    "SLSN": 0.01,
}
# ... and the share of each night's alerts that are one-off asteroids and bogus.
REALISTIC_FILLERS = {"asteroid": 0.3, "bogus": 0.13}
ALERT_WINDOW_DAYS = 30.0  # prv_candidates and fp_hists cover the previous 30 days
ZTF_START_JD = 2458194.5  # 2018-03-17, start of ZTF survey operations


def class_mix(mix) -> tuple[dict, dict]:
    """Resolve a class mix: 'realistic', 'balanced' (equal over the 15 light-curve
    classes, plus the realistic share of asteroids and bogus) or a dict of weights
    over class names (bogus/asteroid weights are shares of each night's alerts).

    >>> objs, fill = class_mix("balanced"); round(sum(objs.values()), 6), fill["bogus"]
    (1.0, 0.13)
    """
    if mix in (None, "realistic"):
        return dict(REALISTIC_MIX), dict(REALISTIC_FILLERS)
    if mix == "balanced":
        return {c: 1.0 / len(lc.LC_CLASSES) for c in lc.LC_CLASSES}, dict(REALISTIC_FILLERS)
    mix = dict(mix)
    unknown = set(mix) - set(lc.TOP_CLASS)
    if unknown:
        raise ValueError(f"unknown classes in class mix: {sorted(unknown)}")
    fill = {k: float(mix.pop(k)) for k in ("asteroid", "bogus") if k in mix}
    total = sum(mix.values())
    if total <= 0:
        raise ValueError("class mix needs at least one light-curve class with weight > 0")
    if sum(fill.values()) >= 1.0:
        raise ValueError("asteroid + bogus shares must be < 1")
    return {k: v / total for k, v in mix.items() if v > 0}, fill


@dataclass
class Season:
    """A planned season; ``rows`` are every (object, exposure) measurement, sorted by
    object then time; ``det`` are candidate columns of the detected rows."""

    seed: int
    nights: list  # integer MJDs of the nights to write
    ex: cadence.Exposures
    objs: population.Objects
    object_id: np.ndarray
    rows: dict
    det: dict
    obj_start: np.ndarray  # rows of object o are obj_start[o]:obj_start[o+1]
    alerts: dict  # night MJD -> row indices of that night's alerts
    magnr: np.ndarray  # (n_obj, 2) reference-catalog magnitudes, as measured
    sigmagnr: np.ndarray
    partition: tuple = (0, 1)


def _concat_objects(a: population.Objects, b: population.Objects) -> population.Objects:
    out = {}
    for f in dc_fields(population.Objects):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name == "params":
            merged = dict(x)
            for c, (idx, p) in y.items():
                if c in merged:
                    i0, p0 = merged[c]
                    merged[c] = (
                        np.r_[i0, idx + len(a)],
                        {k: np.r_[p0[k], p[k]] for k in p0 if k in p},
                    )
                else:
                    merged[c] = (idx + len(a), p)
            out[f.name] = merged
        elif isinstance(x, dict):
            out[f.name] = {k: np.concatenate([x[k], y[k]]) for k in x}
        else:
            out[f.name] = np.concatenate([x, y])
    return population.Objects(**out)


def _take_objects(a: population.Objects, keep: np.ndarray) -> population.Objects:
    """Subset of objects (boolean mask or sorted indices), params re-indexed."""
    keep = np.flatnonzero(keep) if keep.dtype == bool else keep
    new_index = np.full(len(a), -1)
    new_index[keep] = np.arange(len(keep))
    out = {}
    for f in dc_fields(population.Objects):
        x = getattr(a, f.name)
        if f.name == "params":
            params = {}
            for c, (idx, p) in x.items():
                sel = new_index[idx] >= 0
                if sel.any():
                    params[c] = (
                        new_index[idx[sel]],
                        {k: np.asarray(v)[sel] for k, v in p.items() if not k.startswith("_")},
                    )
            out[f.name] = params
        elif isinstance(x, dict):
            out[f.name] = {k: v[keep] for k, v in x.items()}
        else:
            out[f.name] = x[keep]
    return population.Objects(**out)


def _rows_for(objs, ex, first=0):
    """(object, exposure) index pairs: every exposure of each object's field."""
    lo = ex.field_start[objs.field - cadence.FIRST_FIELD]
    hi = ex.field_start[objs.field - cadence.FIRST_FIELD + 1]
    counts = hi - lo
    obj = np.repeat(np.arange(len(objs)) + first, counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return obj, np.repeat(lo, counts) + offsets


def _true_flux(objs, ex, obj, exp, rng):
    """Flux of each object's variable component at each row (zero-point free)."""
    out = np.zeros(len(obj))
    for c, (idx, p) in objs.params.items():
        if c == "filler":
            continue
        local = np.full(len(objs), -1)
        local[idx] = np.arange(len(idx))
        sel = np.flatnonzero(local[obj] >= 0)
        out[sel] = lc.flux(
            c, p, local[obj[sel]], ex.jd[exp[sel]] - 2400000.5, ex.fid[exp[sel]], rng
        )
    return out


def _measure_rows(objs, ex, obj, exp, flux, rng):
    b = ex.fid[exp] - 1
    zp = ex.magzpsci[exp]
    on_source = np.isin(objs.nr_kind, ["self", "nucleus"])[obj]
    scene = np.where(on_source, objs.nr_flux[obj, b], 0.0)
    return photometry.measure(
        photometry.dn(flux, zp),
        photometry.dn(objs.template_flux[obj, b], zp),
        photometry.dn(scene, zp),
        ex.diffmaglim[exp],
        zp,
        rng,
    )


SERIALS_PER_PARTITION = 20_000_000


def _object_ids(first_jd, n, seed, first_serial=0):
    """ZTF-like ids: 'ZTF' + 2-digit year of first detection + 7 lowercase letters.

    The 7 letters encode a scrambled serial number (an affine bijection modulo 26^7 with
    a seed-dependent offset), so ids are unique and look random, as ZTF's do.

    >>> _object_ids(np.array([2460236.0, 2458500.0]), 2, seed=1).tolist()
    ['ZTF23vstyzle', 'ZTF19vtlholv']
    """
    years = [str(y)[-2:] for y in (np.floor((first_jd - 2451544.5) / 365.25) + 2000).astype(int)]
    space = 26**7
    offset = int(np.random.default_rng([seed, 99]).integers(0, space))
    serial = (
        np.arange(first_serial, first_serial + n, dtype=np.int64) * 7_919_357 + offset
    ) % space
    letters = np.array(list(string.ascii_lowercase))
    digits = np.stack([(serial // 26**k) % 26 for k in range(6, -1, -1)], 1)
    suffix = ["".join(r) for r in letters[digits]]
    return np.array([f"ZTF{y}{s}" for y, s in zip(years, suffix)], dtype=object)


def plan_season(
    start: str,
    nights: int,
    alerts_per_night: int,
    seed: int = 0,
    history_days: int = 30,
    mix="realistic",
    partition: tuple[int, int] = (0, 1),
    id_block: int | None = None,
) -> Season:
    """Simulate a season in memory (see module doc). ``start`` is YYYYMMDD.

    ``partition = (k, n)`` restricts the objects to the survey fields with
    ``field % n == k``: the n partitions of a large night are planned one after the other
    (bounded memory) over the same survey exposures, with disjoint objects, objectIds
    and candids (tblid counts from 1000 k), so together they form one consistent night.
    ``id_block`` (default k) replaces k in the objects' random stream and their objectId
    and tblid ranges: runs of the same seed with disjoint blocks share the survey and
    add disjoint objects and candids to it.
    """
    if nights < 1 or alerts_per_night < 1:
        raise ValueError("nights and alerts_per_night must be >= 1")
    part, n_parts = partition
    if not 0 <= part < n_parts:
        raise ValueError(f"bad partition {partition}")
    # the survey (exposures) is shared by all partitions; each has its own objects
    ex_rng = np.random.default_rng([seed, 0])
    block = part if id_block is None else int(id_block)
    rng = np.random.default_rng([seed, 1, block])
    obj_mix, fill_mix = class_mix(mix)
    first = cadence.mjd_of(start)
    written = [first + k for k in range(nights)]
    hist = max(int(history_days), 0)
    ex = cadence.build_exposures(first - hist, hist + nights, written, ex_rng)
    fields = cadence.FIRST_FIELD + np.arange(cadence.N_FIELDS)
    fields = fields[fields % n_parts == part]
    t_lo, t_hi = first - hist - 20.0, first + nights + 2.0
    fill_share = sum(fill_mix.values())
    target = alerts_per_night * (1.0 - fill_share)
    cap = alerts_per_night - (
        int(round(0.5 * fill_share * alerts_per_night)) if fill_share > 0 else 0
    )
    classes = list(obj_mix)
    probs = np.array([obj_mix[c] for c in classes])

    # 1. grow the persistent population until the written nights carry ~target alerts
    objs, rows_obj, rows_exp, flux, meas = None, [], [], [], []
    have = np.zeros(nights)
    batch = max(64, int(target))
    rate = None
    for _ in range(60):
        if target <= 0 or have.mean() >= target:
            break
        if rate:
            batch = int(np.clip((target - have.mean()) / rate * 1.1, 16, 4 * alerts_per_night + 64))
        new = population.sample_objects(
            rng.choice(classes, batch, p=probs), rng, t_lo, t_hi, fields=fields
        )
        o, e = _rows_for(new, ex)
        f = _true_flux(new, ex, o, e, rng)
        m = _measure_rows(new, ex, o, e, f, rng)
        night_k = ex.night[e] - first
        on = m["detected"] & (night_k >= 0) & (night_k < nights)
        per_obj = np.zeros((len(new), nights))
        np.add.at(per_obj, (o[on], night_k[on]), 1)
        cum = np.cumsum(per_obj, axis=0) + have
        enough = np.flatnonzero(cum.mean(axis=1) >= target)
        k = int(enough[0]) + 1 if len(enough) else len(new)
        rate = per_obj.sum() / nights / len(new) if per_obj.sum() else (rate or 0.01)
        keep = np.arange(k)
        new = _take_objects(new, keep)
        sel = o < k
        base = 0 if objs is None else len(objs)
        objs = new if objs is None else _concat_objects(objs, new)
        rows_obj.append(o[sel] + base)
        rows_exp.append(e[sel])
        flux.append(f[sel])
        meas.append({key: v[sel] for key, v in m.items()})
        have += per_obj[:k].sum(axis=0)
    if objs is None:  # only fillers requested
        objs = population.sample_objects([], rng, t_lo, t_hi, fields=fields)
    obj = np.concatenate(rows_obj) if rows_obj else np.zeros(0, np.int64)
    exp = np.concatenate(rows_exp) if rows_exp else np.zeros(0, np.int64)
    flux = np.concatenate(flux) if flux else np.zeros(0)
    meas = (
        {
            key: np.concatenate([m[key] for m in meas])
            for key in ("dflux", "dflux_obs", "sigma_flux", "detected")
        }
        if meas
        else {
            "dflux": np.zeros(0),
            "dflux_obs": np.zeros(0),
            "sigma_flux": np.zeros(0),
            "detected": np.zeros(0, bool),
        }
    )

    # 2. cap crowded nights: drop random detections (as if those exposures were lost)
    night_k = ex.night[exp] - first
    drop = np.zeros(len(obj), bool)
    for k in range(nights):
        on = np.flatnonzero(meas["detected"] & (night_k == k))
        if len(on) > cap:
            drop[rng.choice(on, len(on) - cap, replace=False)] = True
    keep = ~drop
    obj, exp, flux = obj[keep], exp[keep], flux[keep]
    meas = {key: v[keep] for key, v in meas.items()}
    night_k = night_k[keep]
    n_persistent_alerts = np.bincount(
        night_k[meas["detected"] & (night_k >= 0) & (night_k < nights)], minlength=nights
    )[:nights]

    # 3. one-alert fillers (asteroids, bogus) up to exactly alerts_per_night
    fill_rows = _fillers(ex, written, alerts_per_night - n_persistent_alerts, fill_mix, rng, fields)
    if fill_rows is not None:
        fobjs, fo, fe, fm = fill_rows
        fo = fo + len(objs)
        objs = _concat_objects(objs, fobjs)
        obj, exp = np.r_[obj, fo], np.r_[exp, fe]
        flux = np.r_[flux, np.zeros(len(fo))]
        meas = {key: np.r_[meas[key], fm[key]] for key in meas}

    # 4. keep objects with at least one detection; order rows by object then time
    detected_obj = np.zeros(len(objs), bool)
    detected_obj[obj[meas["detected"]]] = True
    new_index = np.cumsum(detected_obj) - 1
    objs = _take_objects(objs, detected_obj)
    sel = detected_obj[obj]
    obj, exp, flux = new_index[obj[sel]], exp[sel], flux[sel]
    meas = {key: v[sel] for key, v in meas.items()}
    order = np.lexsort((ex.jd[exp], obj))
    obj, exp, flux = obj[order], exp[order], flux[order]
    meas = {key: v[order] for key, v in meas.items()}
    n_obj = len(objs)
    obj_start = np.searchsorted(obj, np.arange(n_obj + 1))
    return _finish(seed, written, ex, objs, obj, exp, flux, meas, obj_start, rng, partition,
                   block)


def _fillers(ex, written, counts, fill_mix, rng, fields):
    counts = np.maximum(np.asarray(counts), 0)
    total = int(counts.sum())
    if total == 0 or not fill_mix:
        return None
    kinds_all, exp_all = [], []
    names = list(fill_mix)
    w = np.array([fill_mix[k] for k in names])
    for night, n in zip(written, counts.tolist()):
        if n <= 0:
            continue
        cand = np.flatnonzero((ex.night == night) & np.isin(ex.field, fields))
        if not len(cand):  # no field of this partition observed tonight
            cand = np.flatnonzero(ex.night == night)
        exp_all.append(rng.choice(cand, n))
        kinds_all.append(rng.choice(names, n, p=w / w.sum()))
    exp_det = np.concatenate(exp_all)
    kinds = np.concatenate(kinds_all)
    fobjs = population.sample_fillers(kinds, ex.field[exp_det], rng.integers(0, 64, total), rng)
    # history of each filler position: the field's exposures in the previous 30 days
    o, e = _rows_for(fobjs, ex)
    jd_det = ex.jd[exp_det]
    prior = (ex.jd[e] < jd_det[o]) & (ex.jd[e] >= jd_det[o] - ALERT_WINDOW_DAYS)
    o, e = o[prior], e[prior]
    n = len(fobjs)
    zp = ex.magzpsci[exp_det]
    f_lim = 10.0 ** (-0.4 * (ex.diffmaglim[exp_det] - zp))
    fp = fobjs.params["filler"][1]
    size = photometry.dn(lc.mag_to_flux(fp["mag"]), zp)
    sigma = np.sqrt((f_lim / 5.0) ** 2 + size / photometry.GAIN)
    size = np.maximum(size, 5.05 * sigma)
    sign = np.where((kinds == "bogus") & (rng.random(n) < 0.35), -1.0, 1.0)
    noise_sigma = f_lim[o] / 5.0 if len(o) else np.zeros(0)
    meas = {
        "dflux": np.r_[np.zeros(len(o)), sign * size],
        "dflux_obs": np.r_[noise_sigma * rng.standard_normal(len(o)), sign * size],
        "sigma_flux": np.r_[noise_sigma, sigma],
        "detected": np.r_[np.zeros(len(o), bool), np.ones(n, bool)],
    }
    return fobjs, np.r_[o, np.arange(n)], np.r_[e, exp_det], meas


def _finish(seed, written, ex, objs, obj, exp, flux, meas, obj_start, rng, partition,
            block) -> Season:
    n_obj = len(objs)
    # reference catalog magnitudes: measured once per object and band
    true_nr = lc.flux_to_mag(np.maximum(objs.nr_flux, 1e-30))
    sigmagnr = photometry.sigmagnr_of(true_nr)
    magnr = true_nr + sigmagnr * rng.standard_normal(true_nr.shape)
    det_rows = np.flatnonzero(meas["detected"])
    dmeas = {k: v[det_rows] for k, v in meas.items()}
    det = photometry.detection_columns(
        objs, ex, obj[det_rows], exp[det_rows], dmeas, magnr, sigmagnr, rng
    )
    # candid: tblid numbers the candidates of one quadrant image (pid) in order
    pid = det["pid"]
    order = np.lexsort((obj[det_rows], pid))
    grp_start = np.r_[True, pid[order][1:] != pid[order][:-1]]
    run = np.arange(len(order)) - np.maximum.accumulate(
        np.where(grp_start, np.arange(len(order)), 0)
    )
    tblid = np.empty(len(order), np.int64)
    tblid[order] = run + 1000 * block
    if (partition[1] > 1 or block) and len(run) and run.max() >= 1000:
        raise ValueError("more than 1000 candidates in one quadrant image of a partition")
    det["tblid"] = tblid
    det["candid"] = cadence.candid_of(pid, tblid)
    # detection history counters (ndethist/ncovhist include pre-season survey years)
    jd = ex.jd[exp]
    cls = objs.cls
    long_lived = np.array([lc.TOP_CLASS[c] in ("Periodic", "Stochastic") for c in cls]) & ~(
        (cls == "CV/Nova") & (_param(objs, "subtype") == 1.0)
    )
    pos = np.arange(len(obj)) - obj_start[obj]
    n_rows = np.diff(obj_start)
    cum_det = np.cumsum(meas["detected"]) - np.r_[0, np.cumsum(meas["detected"])][obj_start[obj]]
    frac_det = np.bincount(obj, meas["detected"], minlength=n_obj) / np.maximum(n_rows, 1)
    first_row_jd = jd[obj_start[:-1]] if len(jd) else np.zeros(0)
    pre_days = np.clip(first_row_jd - ZTF_START_JD, 0, None)
    pre_cov = np.where(long_lived, rng.poisson(0.5 * pre_days), 0)
    pre_det = rng.binomial(pre_cov, np.clip(frac_det, 0, 1))
    first_det_jd = np.full(n_obj, np.inf)
    np.minimum.at(first_det_jd, obj[det_rows], jd[det_rows])
    start_hist = np.where(pre_det > 0, ZTF_START_JD + rng.uniform(0, 120, n_obj), first_det_jd)
    d_obj = obj[det_rows]
    det["ndethist"] = (cum_det[det_rows] + pre_det[d_obj]).astype(np.int64)
    det["ncovhist"] = (pos[det_rows] + 1 + pre_cov[d_obj]).astype(np.int64)
    det["jdstarthist"] = start_hist[d_obj]
    det["jdendhist"] = jd[det_rows]
    object_id = _object_ids(
        start_hist, n_obj, seed, first_serial=block * SERIALS_PER_PARTITION
    )
    det_index = np.full(len(obj), -1)
    det_index[det_rows] = np.arange(len(det_rows))
    rows = {
        "obj": obj,
        "exp": exp,
        "jd": jd,
        "fid": ex.fid[exp],
        "detected": meas["detected"],
        "det_index": det_index,
        "flux_true": flux,
        "dflux": meas["dflux"],
        "dflux_obs": meas["dflux_obs"],
        "sigma_flux": meas["sigma_flux"],
        "forced_flux": photometry.forced_flux(meas, rng),
    }
    night = ex.night[exp]
    alerts = {n: det_rows[night[det_rows] == n] for n in written}
    return Season(
        seed=seed,
        nights=written,
        ex=ex,
        objs=objs,
        object_id=object_id,
        rows=rows,
        det=det,
        obj_start=obj_start,
        alerts=alerts,
        magnr=magnr,
        sigmagnr=sigmagnr,
        partition=tuple(partition),
    )


def _param(objs, key):
    out = np.full(len(objs), np.nan)
    for _, (idx, p) in objs.params.items():
        if key in p:
            out[idx] = np.asarray(p[key], dtype=float)
    return out


# --- exports -----------------------------------------------------------------------
TRUTH_PARAMS = (
    "period",
    "amplitude_g",
    "amplitude_r",
    "mag_g",
    "mag_r",
    "redshift",
    "t0",
    "tau_rise",
    "tau_fall",
    "gamma",
    "beta",
    "drw_tau",
    "drw_sf",
    "host_mag_r",
    "host_offset_arcsec",
    "subtype",
    "abs_mag_peak",
)


def truth_table(season: Season):
    """One row per object: identity, class labels and the physical parameters used."""
    import pandas as pd

    objs, rows = season.objs, season.rows
    n = len(objs)
    det = rows["detected"]
    obj = rows["obj"]
    alerted = np.zeros(len(obj), bool)
    for idx in season.alerts.values():
        alerted[idx] = True
    cls = objs.cls
    data = {
        "objectId": season.object_id,
        "class": cls,
        "top_class": np.array([lc.TOP_CLASS[c] for c in cls], dtype=object),
        "stamp_class": np.array([lc.STAMP_CLASS[c] for c in cls], dtype=object),
        "ra": objs.ra,
        "dec": objs.dec,
        "field": objs.field,
        "rcid": objs.rcid,
    }
    for key in TRUTH_PARAMS:
        data[key] = _param(objs, key)
    artifact = np.full(n, None, dtype=object)
    if "filler" in objs.params:
        idx, p = objs.params["filler"]
        art = np.asarray(p["artifact"])
        artifact[idx[art >= 0]] = np.array(population.ARTIFACTS, dtype=object)[art[art >= 0]]
        data["mag_r"][idx] = p["mag"]
    data["artifact"] = pd.array(artifact, dtype="string")
    data["nr_kind"] = objs.nr_kind
    for name, fid in (("n_det", None), ("n_det_g", 1), ("n_det_r", 2)):
        m = det if fid is None else det & (rows["fid"] == fid)
        data[name] = np.bincount(obj[m], minlength=n)
    data["n_non_det"] = np.bincount(obj[~det], minlength=n)
    data["n_alerts"] = np.bincount(obj[alerted], minlength=n)
    jd = rows["jd"]
    first = np.full(n, np.inf)
    last = np.full(n, -np.inf)
    np.minimum.at(first, obj[det], jd[det])
    np.maximum.at(last, obj[det], jd[det])
    data["first_mjd"] = first - 2400000.5
    data["last_mjd"] = last - 2400000.5
    params_json = [None] * n
    for _, (idx, p) in objs.params.items():
        keys = [k for k in p if not k.startswith("_")]
        for j, i in enumerate(idx.tolist()):
            params_json[i] = json.dumps({k: _jsonable(np.asarray(p[k])[j]) for k in keys})
    data["params"] = pd.array(params_json, dtype="string")
    return pd.DataFrame(data)


def _jsonable(v):
    v = v.item() if hasattr(v, "item") else v
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


def lightcurve_table(season: Season):
    """Full labeled photometry: one row per object and exposure (detections and upper
    limits) over the whole simulated history, with the true magnitudes."""
    import pandas as pd

    rows, ex, objs, det = season.rows, season.ex, season.objs, season.det
    obj, exp = rows["obj"], rows["exp"]
    di = rows["det_index"]
    isdet = di >= 0
    safe = np.where(isdet, di, 0)

    def from_det(name, fill=np.nan):
        col = np.asarray(det[name])[safe] if len(det[name]) else np.zeros(len(obj))
        return np.where(isdet, col, fill)

    alerted = np.zeros(len(obj), bool)
    for idx in season.alerts.values():
        alerted[idx] = True
    b = rows["fid"] - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        mag_true = np.where(rows["flux_true"] > 0, lc.flux_to_mag(rows["flux_true"]), np.nan)
        ref_plus = objs.nr_flux[obj, b] + rows["dflux"] / 10 ** (0.4 * ex.magzpsci[exp])
        mag_corr_true = np.where(ref_plus > 0, lc.flux_to_mag(ref_plus), np.nan)
    candid = pd.array(np.where(isdet, from_det("candid", 0), 0).astype(np.int64), dtype="Int64")
    candid[~isdet] = pd.NA
    isdiffpos = np.where(
        isdet, np.asarray(det["isdiffpos"], dtype=object)[safe] if len(obj) else "", None
    )
    return pd.DataFrame(
        {
            "objectId": season.object_id[obj],
            "candid": candid,
            "mjd": rows["jd"] - 2400000.5,
            "fid": rows["fid"],
            "detected": isdet,
            "magpsf": from_det("magpsf"),
            "sigmapsf": from_det("sigmapsf"),
            "isdiffpos": pd.array(isdiffpos, dtype="string"),
            "diffmaglim": ex.diffmaglim[exp],
            "magnr": season.magnr[obj, b],
            "sigmagnr": season.sigmagnr[obj, b],
            "distnr": from_det("distnr"),
            "rb": from_det("rb"),
            "drb": from_det("drb"),
            "alerted": alerted,
            "mag_true": mag_true,
            "mag_corr_true": mag_corr_true,
            "class": objs.cls[obj],
        }
    )
