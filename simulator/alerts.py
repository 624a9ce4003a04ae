"""Assemble alert records (candidate, prv_candidates, fp_hists, cutout specs) from a
planned season.

An alert for detection row ``r`` of object ``o`` carries every earlier row of ``o``
within 30 days (detections with their candid and measured values, upper limits with
candid null and diffmaglim), built from the same columns as the candidate, so a
detection looks the same in every alert that includes it.
"""

from __future__ import annotations

import numpy as np

from . import cadence, photometry, schema
from . import lightcurves as lc
from .season import ALERT_WINDOW_DAYS, Season

CANDIDATE_NAMES = [n for n, _, _ in schema.CANDIDATE_FIELDS]
PRV_NAMES = [n for n, _, _ in schema.PRV_CANDIDATE_FIELDS]
FP_NAMES = [n for n, _, _ in schema.FP_HIST_FIELDS]


def _lists(columns: dict, names, index) -> list:
    """Python lists of ``columns[name][index]`` (NaN as None), fast via tolist()."""
    out = []
    for name in names:
        col = np.asarray(columns[name])[index]
        if col.dtype.kind == "f" and np.isnan(col).any():
            out.append([None if v != v else v for v in col.tolist()])
        else:
            out.append(col.tolist())
    return out


def candidate_columns(season: Season, det_index: np.ndarray) -> dict:
    """Candidate columns (schema names) for detections ``det_index``."""
    return {name: np.asarray(season.det[name])[det_index] for name in CANDIDATE_NAMES}


def prv_columns(season: Season, rows: np.ndarray) -> tuple[dict, dict, np.ndarray]:
    """prv_candidate columns for the detection rows and for the upper-limit rows among
    ``rows``, and the mask of detection rows."""
    di = season.rows["det_index"][rows]
    is_det = di >= 0
    det_cols = {name: np.asarray(season.det[name])[di[is_det]] for name in PRV_NAMES}
    nondet_cols = _exposure_columns(season, rows[~is_det])
    return det_cols, nondet_cols, is_det


def candidate_records(season: Season, det_index: np.ndarray) -> list[dict]:
    """Candidate dicts for detections ``det_index`` (indices into ``season.det``)."""
    cols = _lists(season.det, CANDIDATE_NAMES, det_index)
    return [dict(zip(CANDIDATE_NAMES, values)) for values in zip(*cols)]


def history_bounds(season: Season, rows: np.ndarray):
    """For alert rows, the [lo, rows) range of earlier rows of the same object in the
    previous 30 days (rows are sorted by object, then time)."""
    obj = season.rows["obj"][rows]
    jd = season.rows["jd"]
    lo = np.empty(len(rows), np.int64)
    for k, (o, r) in enumerate(zip(obj.tolist(), rows.tolist())):
        s = int(season.obj_start[o])
        lo[k] = s + np.searchsorted(jd[s:r], jd[r] - ALERT_WINDOW_DAYS, side="left")
    return lo


def _exposure_columns(season: Season, rows: np.ndarray) -> dict:
    ex, objs = season.ex, season.objs
    exp = season.rows["exp"][rows]
    obj = season.rows["obj"][rows]
    nid = cadence.night_id(ex.night[exp])
    rcid = objs.rcid[obj]
    fid = ex.fid[exp]
    names = cadence.difference_image_names(
        ex.night[exp], ex.fracday[exp], objs.field[obj], fid, rcid
    )
    return {
        "jd": ex.jd[exp],
        "fid": fid,
        "pid": cadence.pid_of(nid, ex.fracday[exp], rcid),
        "diffmaglim": ex.diffmaglim[exp],
        "pdiffimfilename": names,
        "programpi": np.full(len(rows), "Kulkarni", dtype=object),
        "programid": np.ones(len(rows), np.int64),
        "nid": nid,
        "rcid": rcid,
        "field": objs.field[obj],
        "magzpsci": ex.magzpsci[exp],
        "magzpsciunc": ex.magzpsciunc[exp],
        "magzpscirms": ex.magzpscirms[exp],
        "clrcoeff": ex.clrcoeff[exp],
        "clrcounc": ex.clrcounc[exp],
        "rbversion": np.full(len(rows), "t17_f5_c3", dtype=object),
    }


_NONDET_NAMES = [
    "jd",
    "fid",
    "pid",
    "diffmaglim",
    "pdiffimfilename",
    "programpi",
    "programid",
    "nid",
    "rcid",
    "field",
    "magzpsci",
    "magzpsciunc",
    "magzpscirms",
    "clrcoeff",
    "clrcounc",
    "rbversion",
]


def prv_records(season: Season, rows: np.ndarray) -> list[dict]:
    """prv_candidate dicts for rows: detections (all fields) or upper limits."""
    di = season.rows["det_index"][rows]
    out: list = [None] * len(rows)
    det_pos = np.flatnonzero(di >= 0)
    if len(det_pos):
        cols = _lists(season.det, PRV_NAMES, di[det_pos])
        for k, values in zip(det_pos.tolist(), zip(*cols)):
            out[k] = dict(zip(PRV_NAMES, values))
    nd_pos = np.flatnonzero(di < 0)
    if len(nd_pos):
        ecols = _exposure_columns(season, rows[nd_pos])
        cols = _lists(ecols, _NONDET_NAMES, slice(None))
        for k, values in zip(nd_pos.tolist(), zip(*cols)):
            rec = dict.fromkeys(schema.REQUIRED_NULLABLE)
            rec.update(zip(_NONDET_NAMES, values))
            out[k] = rec
    return out


def fp_records(season: Season, rows: np.ndarray) -> list[dict]:
    """fp_hist dicts (forced photometry at the object's position) for rows."""
    lists = _lists(fp_columns(season, rows), FP_NAMES, slice(None))
    return [dict(zip(FP_NAMES, values)) for values in zip(*lists)]


def fp_columns(season: Season, rows: np.ndarray) -> dict:
    """fp_hist columns (forced photometry at the object's position) for rows."""
    ex, objs = season.ex, season.objs
    exp = season.rows["exp"][rows]
    obj = season.rows["obj"][rows]
    b = ex.fid[exp] - 1
    base = _exposure_columns(season, rows)
    sky = ex.sky[exp]
    pix_deg = cadence.PIXEL_SCALE / 3600.0
    cosd = np.cos(np.radians(objs.dec[obj]))
    cols = {
        "field": base["field"],
        "rcid": base["rcid"],
        "fid": base["fid"],
        "pid": base["pid"],
        "rfid": objs.field[obj] * 10**6 + 120 * 10**3 + base["fid"] * 100 + base["rcid"],
        "sciinpseeing": ex.fwhm[exp],
        "scibckgnd": sky,
        "scisigpix": np.sqrt(0.2 * sky + 9.0),
        "magzpsci": base["magzpsci"],
        "magzpsciunc": base["magzpsciunc"],
        "magzpscirms": base["magzpscirms"],
        "clrcoeff": base["clrcoeff"],
        "clrcounc": base["clrcounc"],
        "exptime": np.full(len(rows), 30.0),
        # astrometric rms against Gaia [arcsec]: ~0.06", growing with the seeing
        "adpctdif1": 0.03 + 0.028 * ex.fwhm[exp] / 2.1,
        "adpctdif2": 0.028 + 0.026 * ex.fwhm[exp] / 2.1,
        "diffmaglim": base["diffmaglim"],
        "programid": base["programid"],
        "jd": base["jd"],
        "forcediffimflux": season.rows["forced_flux"][rows],
        "forcediffimfluxunc": season.rows["sigma_flux"][rows],
        "procstatus": np.full(len(rows), "0", dtype=object),
        "distnr": np.hypot(objs.nr_dx[obj], objs.nr_dy[obj]) * cadence.PIXEL_SCALE,  # arcsec here
        "ranr": (objs.ra[obj] + objs.nr_dx[obj] * pix_deg / cosd) % 360.0,
        "decnr": objs.dec[obj] + objs.nr_dy[obj] * pix_deg,
        "magnr": season.magnr[obj, b],
        "sigmagnr": season.sigmagnr[obj, b],
        "chinr": objs.chinr[obj],
        "sharpnr": objs.sharpnr[obj],
    }
    return cols


def stamp_specs(season: Season, det_index: np.ndarray, rows: np.ndarray) -> list[dict]:
    """Per-alert inputs of ``stamps.triplet`` (scene in DN at tonight's zero point)."""
    ex, objs, det = season.ex, season.objs, season.det
    exp = season.rows["exp"][rows]
    obj = season.rows["obj"][rows]
    b = ex.fid[exp] - 1
    zscale = 10.0 ** (0.4 * ex.magzpsci[exp])
    art = photometry.filler_columns(objs)["artifact"]
    ref = photometry.reference_images()
    nframes = ref["nframesref"][objs.field[obj] - cadence.FIRST_FIELD, b]
    xpos = np.asarray(det["xpos"])[det_index]
    ypos = np.asarray(det["ypos"])[det_index]
    specs = []
    kind_map = {"self": "point", "nucleus": "nucleus", "host": "host", "field": "field"}
    for k, (o, e) in enumerate(zip(obj.tolist(), exp.tolist())):
        a = int(art[o])
        nr = objs.nr_kind[o]
        z = zscale[k]
        bk = b[k]
        ref_flux = (
            objs.template_flux[o, bk]
            if nr in ("self", "nucleus") and a != 1
            else objs.nr_flux[o, bk]
        )
        # unrelated field stars: drawn per object, so every alert shows the same ones
        star_rng = np.random.default_rng([season.seed, 7, season.partition[0], o])
        n_stars = star_rng.poisson(2.0)
        stars = [
            (x, y, f * z)
            for x, y, f in zip(
                star_rng.uniform(0, 62, n_stars).tolist(),
                star_rng.uniform(0, 62, n_stars).tolist(),
                lc.mag_to_flux(lc.faint_weighted(star_rng, 16.0, 22.0, n_stars)).tolist(),
            )
        ]
        specs.append(
            {
                "kind": kind_map.get(nr, "field"),
                "artifact": a,
                "asteroid": objs.cls[o] == "asteroid",
                "dflux": float(season.rows["dflux_obs"][rows[k]]),
                "ref_flux": float(ref_flux * z),
                "host_flux": float(objs.host_flux[o, bk] * z),
                "host_re": float(objs.host_re_px[o]),
                "host_q": float(objs.host_q[o]),
                "host_pa": float(objs.host_pa[o]),
                "host_dx": float(objs.host_dx[o]),
                "host_dy": float(objs.host_dy[o]),
                "nr_dx": float(objs.nr_dx[o]),
                "nr_dy": float(objs.nr_dy[o]),
                "fwhm": float(ex.fwhm[e]),
                "fwhm_ref": 2.0 + 0.3 * ((o * 0.618) % 1.0),
                "sky": float(ex.sky[e]),
                "sky_ratio": 1.0 + 0.02 * (((o * 0.377) % 1.0) - 0.5),
                "ref_noise": float(np.exp(0.15 + 0.3 * (((o * 0.731) % 1.0) - 0.5) * 3.4)),
                "nframes": int(nframes[k]),
                "dx": float(xpos[k] % 1.0 - 0.5),
                "dy": float(ypos[k] % 1.0 - 0.5),
                "stars": stars,
            }
        )
    return specs
