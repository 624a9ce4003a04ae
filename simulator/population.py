"""Simulated sky population: objects, their classes, positions and reference scenes.

An object is a variable source at a sky position. Its *reference scene* is what the
survey's reference image (template) shows there: the star itself for a variable star,
a galaxy nucleus for an AGN, the host galaxy beside a supernova. The nearest source in
the reference catalog (distnr, magnr, sigmagnr, chinr, sharpnr) and the Pan-STARRS1 and
Gaia cross-matches (sgscore1, distpsnr1, ...) follow from that scene, so metadata and
cutouts agree.

>>> rng = np.random.default_rng(3)
>>> objs = sample_objects(["RRL", "SNIa", "AGN"], rng, 60000.0, 60100.0)
>>> list(objs.cls), objs.nr_kind.tolist()
(['RRL', 'SNIa', 'AGN'], ['self', 'host', 'nucleus'])
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field

import numpy as np

from . import cadence
from . import lightcurves as lc

REF_DEPTH = 22.8  # 5-sigma depth of ZTF reference images (r, Masci et al. 2019)
PSF_CORE_FRACTION = 0.35  # share of a galaxy's light a PSF fit at its center catches
SENTINEL = -999.0  # ZTF's "no value" for catalog cross-match fields


@dataclass
class Objects:
    """Columns of simulated objects (one row per object); params grouped by class."""

    cls: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    field: np.ndarray
    rcid: np.ndarray
    xpos: np.ndarray
    ypos: np.ndarray
    template_flux: np.ndarray  # (n, 2): variable component in the reference, g and r
    nr_kind: np.ndarray  # 'self', 'nucleus', 'host', 'field' (unrelated source) or 'none'
    nr_flux: np.ndarray  # (n, 2) flux of the nearest reference source (PSF-fit)
    nr_dx: np.ndarray  # offset of the nearest reference source from the object [px]
    nr_dy: np.ndarray
    chinr: np.ndarray
    sharpnr: np.ndarray
    host_flux: np.ndarray  # (n, 2) total flux of an extended host (0 if none)
    host_re_px: np.ndarray
    host_q: np.ndarray
    host_pa: np.ndarray
    host_dx: np.ndarray  # host center relative to the object [px]
    host_dy: np.ndarray
    classtar: np.ndarray
    ps1: dict  # sgscore1..3, distpsnr1..3, s{g,r,i,z}mag1..3, objectidps1..3, nmtchps
    gaia: dict  # neargaia, maggaia, neargaiabright, maggaiabright
    params: dict = dc_field(default_factory=dict)  # class -> (object indices, params dict)

    def __len__(self) -> int:
        return len(self.cls)


def nearest_neighbour_distance(rng, n):
    """Distance [px] to the nearest unrelated reference-catalog source: for a Poisson
    field of density rho it is Rayleigh with sigma = 1/sqrt(2 pi rho); ZTF references
    (~22.5 mag deep) give sigma ~ 5 px, i.e. a median of ~6 px."""
    return np.clip(1.5 + rng.rayleigh(5.0, n), 1.5, 29.0)


def _uniform_sky(rng, n):
    """Positions uniform on the sphere north of ZTF's dec limit."""
    lo = np.sin(np.radians(cadence.DEC_MIN + 0.5))
    dec = np.degrees(np.arcsin(rng.uniform(lo, 1.0, n)))
    return rng.uniform(0.0, 360.0, n), dec


def _ps1_objid(ra, dec, rng):
    """Pan-STARRS1 objID from position (zone of 30 arcsec in dec, then RA digits)."""
    zone = np.floor((dec + 90.0) / (30.0 / 3600.0)).astype(np.int64)
    return (
        zone * 10**13
        + np.floor(ra * 1e10 / 1e4).astype(np.int64) * 10**4
        + rng.integers(0, 10**4, len(ra))
    )


def sample_objects(
    classes, rng: np.random.Generator, t_lo: float, t_hi: float, fields=None
) -> Objects:
    """Sample one object per entry of ``classes`` (class names), positions and scenes.

    Positions are uniform on the survey's sky, or over the given ``fields`` (uniform
    inside each field, fields chosen with equal probability: they have similar areas).
    """
    cls = np.asarray(classes, dtype=object)
    n = len(cls)
    if fields is None:
        ra, dec = _uniform_sky(rng, n)
    else:
        ra, dec = cadence.random_positions_in_fields(rng.choice(np.asarray(fields), n), rng)
    field, rcid = cadence.field_and_rcid(ra, dec)
    tf = np.zeros((n, 2))
    host_flux = np.zeros((n, 2))
    host_re = np.ones(n)
    host_off = np.zeros(n)
    params = {}
    mag_g = np.zeros(n)
    mag_r = np.zeros(n)
    for c in dict.fromkeys(cls.tolist()):
        idx = np.flatnonzero(cls == c)
        p = lc.sample_params(c, len(idx), rng, t_lo, t_hi)
        params[c] = (idx, p)
        tf[idx] = lc.template_flux(c, p, rng)
        mag_g[idx], mag_r[idx] = p["mag_g"], p["mag_r"]
        if "host_mag_r" in p:
            host_flux[idx, 0] = lc.mag_to_flux(p["host_mag_g"])
            host_flux[idx, 1] = lc.mag_to_flux(p["host_mag_r"])
        if "host_re_arcsec" in p:
            host_re[idx] = p["host_re_arcsec"] / cadence.PIXEL_SCALE
            host_off[idx] = p["host_offset_arcsec"] / cadence.PIXEL_SCALE
    top = np.array([lc.TOP_CLASS[c] for c in cls], dtype=object)
    is_agn = cls == "AGN"
    host_re[is_agn] = rng.uniform(1.5, 4.0, is_agn.sum())
    angle = rng.uniform(0, 2 * np.pi, n)
    host_dx, host_dy = -host_off * np.cos(angle), -host_off * np.sin(angle)

    # nearest reference-catalog source
    nr_kind = np.where(top == "Transient", "host", np.where(is_agn, "nucleus", "self")).astype(
        object
    )
    nr_flux = np.where((nr_kind == "self")[:, None], tf, 0.0)
    nr_flux[is_agn] = tf[is_agn] + PSF_CORE_FRACTION * host_flux[is_agn]
    is_host = nr_kind == "host"
    nr_flux[is_host] = PSF_CORE_FRACTION * host_flux[is_host]
    nr_dx = np.where(is_host, host_dx, rng.normal(0, 0.08, n))
    nr_dy = np.where(is_host, host_dy, rng.normal(0, 0.08, n))
    # too faint for the reference catalog: the nearest catalog source is an unrelated one
    invisible = lc.flux_to_mag(np.maximum(nr_flux[:, 1], 1e-30)) > REF_DEPTH
    nr_kind[invisible] = "field"
    k = int(invisible.sum())
    r = nearest_neighbour_distance(rng, k)
    th = rng.uniform(0, 2 * np.pi, k)
    nr_dx[invisible], nr_dy[invisible] = r * np.cos(th), r * np.sin(th)
    field_mag = lc.faint_weighted(rng, 16.0, 22.6, k)
    nr_flux[invisible] = lc.mag_to_flux(
        np.stack([field_mag + rng.normal(0.6, 0.3, k), field_mag], 1)
    )
    extended = np.isin(nr_kind, ["host", "nucleus"])
    chinr = np.where(
        extended, rng.lognormal(np.log(2.2), 0.5, n), rng.lognormal(np.log(0.65), 0.45, n)
    )
    sharpnr = np.where(extended, rng.normal(0.25, 0.15, n), rng.normal(-0.02, 0.07, n))
    classtar = np.clip(
        np.where(top == "Transient", rng.normal(0.9, 0.12, n), rng.normal(0.975, 0.03, n)),
        0.02,
        1.0,
    )

    ps1 = _ps1_crossmatch(rng, ra, dec, cls, top, nr_kind, nr_dx, nr_dy, nr_flux, mag_g, mag_r)
    gaia = _gaia_crossmatch(rng, n, top, nr_kind, nr_flux, ps1)
    xpos = rng.uniform(15.0, cadence.DETECTOR_NX - 15.0, n)
    ypos = rng.uniform(15.0, cadence.DETECTOR_NY - 15.0, n)
    return Objects(
        cls=cls,
        ra=ra,
        dec=dec,
        field=field,
        rcid=rcid,
        xpos=xpos,
        ypos=ypos,
        template_flux=tf,
        nr_kind=nr_kind,
        nr_flux=nr_flux,
        nr_dx=nr_dx,
        nr_dy=nr_dy,
        chinr=chinr,
        sharpnr=sharpnr,
        host_flux=host_flux,
        host_re_px=host_re,
        host_q=rng.uniform(0.4, 1.0, n),
        host_pa=rng.uniform(0, np.pi, n),
        host_dx=host_dx,
        host_dy=host_dy,
        classtar=classtar,
        ps1=ps1,
        gaia=gaia,
        params=params,
    )


def _ps1_crossmatch(rng, ra, dec, cls, top, nr_kind, nr_dx, nr_dy, nr_flux, mag_g, mag_r):
    """Closest three Pan-STARRS1 sources within 30 arcsec (ZTF's candidate fields)."""
    n = len(ra)
    out = {}
    # closest source: the object itself (stars, QSOs), its host, or an unrelated source
    on_self = nr_kind == "self"
    d1 = np.where(
        on_self,
        rng.rayleigh(0.3, n) + 0.02,
        np.hypot(nr_dx, nr_dy) * cadence.PIXEL_SCALE + np.abs(rng.normal(0, 0.1, n)),
    )
    # PS1 scores of point sources pile up at exactly 1 (~40% of stars in real alerts)
    star_score = np.where(rng.random(n) < 0.4, 1.0, 1.0 - rng.beta(0.3, 10.0, n))
    galaxy_score = rng.beta(0.4, 10.0, n)
    qso_score = rng.beta(4.0, 1.0, n)
    # unrelated PS1 neighbours: mostly stars, a third galaxies (PS1 scores are bimodal)
    field_score = np.where(rng.random(n) < 0.65, star_score, galaxy_score)
    s1 = np.where(
        np.isin(cls, ["QSO", "Blazar"]),
        qso_score,
        np.where(
            np.isin(nr_kind, ["host", "nucleus"]),
            galaxy_score,
            np.where(nr_kind == "field", field_score, star_score),
        ),
    )
    m1r = np.where(on_self, mag_r, lc.flux_to_mag(np.maximum(nr_flux[:, 1], 1e-30)))
    m1g = np.where(on_self, mag_g, lc.flux_to_mag(np.maximum(nr_flux[:, 0], 1e-30)))
    # ~4% of positions have nothing in PS1 within 30" (ZTF writes -999)
    none = rng.random(n) < 0.04
    d2 = d1 + rng.uniform(1.0, 20.0, n)
    d3 = d2 + rng.uniform(0.5, 8.0, n)
    for k, d, s, mr, mg in [
        (1, d1, s1, m1r, m1g),
        (2, d2, rng.uniform(0, 1, n) ** 0.5, lc.faint_weighted(rng, 15.0, 22.5, n), None),
        (3, d3, rng.uniform(0, 1, n) ** 0.5, lc.faint_weighted(rng, 15.0, 22.5, n), None),
    ]:
        if mg is None:
            mg = mr + rng.normal(0.6, 0.4, n)
        present = ~none & (d <= 30.0)
        color = mg - mr
        out[f"distpsnr{k}"] = np.where(present, d, SENTINEL)
        # ~11% of PS1 sources have no star/galaxy verdict: sgscore exactly 0.5
        s = np.where(rng.random(n) < 0.11, 0.5, np.clip(s, 0, 1))
        out[f"sgscore{k}"] = np.where(present, s, SENTINEL)
        for band, mag in (("g", mg), ("r", mr), ("i", mr - 0.35 * color), ("z", mr - 0.5 * color)):
            ok = present & (mag < 23.3) & (rng.random(n) > 0.08)  # PS1 drop-outs
            out[f"s{band}mag{k}"] = np.where(ok, mag + rng.normal(0, 0.02, n), SENTINEL)
        ang = rng.uniform(0, 2 * np.pi, n)
        src_ra = ra + d / 3600.0 * np.cos(ang) / np.cos(np.radians(dec))
        src_dec = dec + d / 3600.0 * np.sin(ang)
        out[f"objectidps{k}"] = np.where(
            present, _ps1_objid(src_ra % 360, src_dec, rng), int(SENTINEL)
        )
    out["nmtchps"] = np.where(none, 0, 3 + rng.poisson(9, n))
    return out


def _gaia_crossmatch(rng, n, top, nr_kind, nr_flux, ps1):
    """Closest Gaia source, and closest one brighter than G = 14, within 90 arcsec."""
    star = (nr_kind == "self") & (top != "Stochastic")
    mag_r = lc.flux_to_mag(np.maximum(nr_flux[:, 1], 1e-30))
    in_gaia = star & (mag_r < 20.8)
    near = np.where(in_gaia, np.abs(ps1["distpsnr1"]) * 0.5 + 0.02, rng.uniform(1.5, 60.0, n))
    mag = np.where(
        in_gaia, mag_r + rng.normal(0.15, 0.08, n), lc.faint_weighted(rng, 13.0, 20.8, n)
    )
    bright = rng.random(n) < 0.35
    return {
        "neargaia": near,
        "maggaia": mag,
        "neargaiabright": np.where(bright, rng.uniform(15.0, 90.0, n), SENTINEL),
        "maggaiabright": np.where(bright, rng.uniform(9.0, 14.0, n), SENTINEL),
    }


ARTIFACTS = ("cosmic_ray", "bad_subtraction", "streak")
# Share of asteroid alerts matched to a known solar-system object (ssdistnr, ssnamenr set).
# All of them: ALeRCE's rule "ssdistnr set => asteroid" must hold for the class. (Among the
# real 4.02 alerts far from any reference source, 35% carry ssnamenr: the remaining
# one-off detections are unknown movers and artifacts; 0.65 here would mimic that.)
KNOWN_ASTEROID_FRACTION = 1.0


def sample_fillers(kinds, field, rcid, rng: np.random.Generator) -> Objects:
    """One-alert objects: asteroids and bogus detections on given fields/quadrants.

    Asteroids have no reference counterpart (the nearest catalog source is unrelated)
    and a known solar-system body within a few arcsec; bogus detections are image
    artifacts: cosmic rays / hot pixels, bad subtractions of bright stars, streaks.
    """
    kinds = np.asarray(kinds, dtype=object)
    n = len(kinds)
    ra, dec = cadence.random_positions_in_fields(field, rng)
    artifact = np.where(kinds == "bogus", rng.choice(len(ARTIFACTS), n, p=[0.4, 0.45, 0.15]), -1)
    dipole = artifact == 1
    tf = np.zeros((n, 2))
    nr_kind = np.where(dipole, "self", "field").astype(object)
    r = nearest_neighbour_distance(rng, n)
    th = rng.uniform(0, 2 * np.pi, n)
    nr_dx = np.where(dipole, rng.normal(0, 0.3, n), r * np.cos(th))
    nr_dy = np.where(dipole, rng.normal(0, 0.3, n), r * np.sin(th))
    nr_mag_r = np.where(dipole, rng.uniform(11.0, 15.5, n), lc.faint_weighted(rng, 16.0, 22.6, n))
    nr_flux = lc.mag_to_flux(np.stack([nr_mag_r + rng.normal(0.6, 0.3, n), nr_mag_r], 1))
    chinr = np.where(dipole, rng.lognormal(np.log(1.5), 0.5, n), rng.lognormal(np.log(0.7), 0.5, n))
    sharpnr = rng.normal(-0.02, 0.08, n)
    top = kinds.copy()
    ps1 = _ps1_crossmatch(
        rng,
        ra,
        dec,
        kinds,
        top,
        nr_kind,
        nr_dx,
        nr_dy,
        nr_flux,
        lc.flux_to_mag(nr_flux[:, 0]),
        nr_mag_r,
    )
    gaia = _gaia_crossmatch(rng, n, top, nr_kind, nr_flux, ps1)
    objs = Objects(
        cls=kinds,
        ra=ra,
        dec=dec,
        field=np.asarray(field),
        rcid=np.asarray(rcid),
        xpos=rng.uniform(15.0, cadence.DETECTOR_NX - 15.0, n),
        ypos=rng.uniform(15.0, cadence.DETECTOR_NY - 15.0, n),
        template_flux=tf,
        nr_kind=nr_kind,
        nr_flux=nr_flux,
        nr_dx=nr_dx,
        nr_dy=nr_dy,
        chinr=chinr,
        sharpnr=sharpnr,
        host_flux=np.zeros((n, 2)),
        host_re_px=np.ones(n),
        host_q=np.ones(n),
        host_pa=np.zeros(n),
        host_dx=np.zeros(n),
        host_dy=np.zeros(n),
        classtar=np.clip(rng.normal(0.8, 0.2, n), 0.02, 1.0),
        ps1=ps1,
        gaia=gaia,
    )
    is_ast = kinds == "asteroid"
    mag = np.where(
        is_ast, lc.faint_weighted(rng, 16.5, 20.8, n), lc.faint_weighted(rng, 16.0, 20.6, n)
    )
    number = rng.integers(1, 700_000, n)
    letters = np.array(list("ABCDEFGHJKLMNOPQRSTUVWXY"))
    provisional = [
        f"{y}{a}{b}{k}"
        for y, a, b, k in zip(
            rng.integers(1995, 2024, n),
            letters[rng.integers(0, 24, n)],
            letters[rng.integers(0, 24, n)],
            rng.integers(1, 200, n),
        )
    ]
    known = is_ast & (rng.random(n) < KNOWN_ASTEROID_FRACTION)
    objs.params["filler"] = (
        np.arange(n),
        {
            "mag": mag,
            "artifact": artifact,
            "ssnamenr": np.where(
                known,
                np.where(
                    rng.random(n) < 0.7, number.astype(str), np.array(provisional, dtype=object)
                ),
                "null",
            ),
            # unmatched movers get ZTF's "none": -999 and 'null'
            "ssdistnr": np.where(known, rng.uniform(0.05, 4.0, n), SENTINEL),
            "ssmagnr": np.where(known, mag + rng.normal(0.3, 0.25, n), SENTINEL),
        },
    )
    return objs
