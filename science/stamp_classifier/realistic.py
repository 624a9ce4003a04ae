"""Simulated stamps on real ZTF backgrounds.

The simulator's own cutouts (``simulator.stamps``) are clean: Gaussian noise, a flat
sky, Gaussian PSFs, synthetic field stars, a perfect subtraction. A CNN trained on them
called most real variable stars bogus and most real asteroids SN. Here the simulator only
says *what* is in a stamp (its per-alert scene specification, ``alerts.stamp_specs``, which
is consistent with the alert's metadata) and the stamp is rendered onto real pixels:

- **Backgrounds**: the eight off-centre 21x21 tiles of each real 63x63 triplet (science,
  template, difference; the centre holds the real candidate and is never used). They carry
  real sky, real field stars and galaxies, real noise texture (correlated by resampling),
  real template depth and real subtraction residuals. Tiles with non-finite pixels (CCD
  edges, masked saturation) are skipped.
- **PSF**: a Moffat profile (beta 2.5-4.5, real PSFs have wings) with the real alert's
  ``fwhm`` (pixels) in the science and difference images; the alert's metadata ``fwhm`` is
  set to that value. The template's PSF is the specification's reference seeing.
- **Flux scale**: one factor per stamp, real science rms / simulated science rms, so every
  injected source keeps the signal-to-noise the simulator gave it (and its ``magpsf`` /
  ``sigmapsf`` stay consistent) while the template's depth is the real template's.
- **Source noise**: Poisson-like, variance = source counts x (science rms^2 / sky), the
  same draw in the science and the difference image (with the difference's sign).
- **Classes**: SN a point source offset from an exponential-disk host (PSF-convolved);
  AGN a varying nucleus of a host; VS a varying star in template and science, positive or
  negative difference (the difference cutout of a negative detection is reference minus
  science, as ZTF's: measured on the real cutouts, 0.95 of isdiffpos='f' stamps peak
  positive); asteroid a point source or a short trail absent from the template; bogus
  hot pixels / cosmic rays (1-3 sharp pixels), bad subtractions of a star (a dipole from a
  shifted, mismatched PSF) and streaks. Real artefacts enter training as the weakly
  labeled real bogus alerts (``data.weak_labels``).

>>> rng = np.random.default_rng(0)
>>> real = rng.normal(100, 5, (4, 3, 63, 63)).astype(np.float32); real[:, 2] -= 100
>>> bg = tiles_from_images(real, fwhm=np.full(4, 2.0), objects=np.array(list("abcd")))
>>> bg.images.shape, bg.rms.shape
((32, 3, 21, 21), (32, 3))
>>> spec = {"kind": "point", "artifact": -1, "asteroid": False, "dflux": -400.0, "ref_flux": 3000.0,
...         "host_flux": 0.0, "host_re": 1, "host_q": 1, "host_pa": 0, "host_dx": 0, "host_dy": 0,
...         "nr_dx": 0, "nr_dy": 0, "fwhm": 2.0, "fwhm_ref": 2.0, "sky": 200.0, "nframes": 15,
...         "dx": 0.0, "dy": 0.0}
>>> sci, ref, diff = render(spec, bg, 0, rng)
>>> bool(diff[10, 10] > 5 * bg.rms[0, 2]), bool(ref[10, 10] > sci[10, 10])   # a fading star
(True, True)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from . import stamps as st

TILE = st.CROP
C = (TILE - 1) / 2.0
# top-left corners of the 8 off-centre 21x21 tiles of a 63x63 cutout
OFFSETS = [(r, c) for r in (0, 21, 42) for c in (0, 21, 42) if (r, c) != (21, 21)]
_G = np.arange(TILE, dtype=np.float64)
_YY, _XX = np.meshgrid(_G, _G, indexing="ij")


@dataclass
class Backgrounds:
    images: np.ndarray   # (n, 3, 21, 21) float32 real pixels: science, template, difference
    rms: np.ndarray      # (n, 3) robust rms (1.4826 MAD) of each image
    sky: np.ndarray      # (n,) median of the science tile
    fwhm: np.ndarray     # (n,) the real alert's fwhm [pixels]
    objects: np.ndarray  # (n,) objectId of the real alert the tile comes from

    def __len__(self):
        return len(self.fwhm)


def _robust_rms(x: np.ndarray) -> np.ndarray:
    med = np.median(x, axis=(-2, -1), keepdims=True)
    return 1.4826 * np.median(np.abs(x - med), axis=(-2, -1))


def tiles_from_images(triplets: np.ndarray, fwhm, objects) -> Backgrounds:
    """Backgrounds from full (n, 3, 63, 63) real triplets (non-finite tiles dropped)."""
    tiles, fw, obj = [], [], []
    for k, trip in enumerate(triplets):
        for r, c in OFFSETS:
            t = trip[:, r:r + TILE, c:c + TILE]
            if np.isfinite(t).all():
                tiles.append(t)
                fw.append(fwhm[k])
                obj.append(objects[k])
    images = np.asarray(tiles, np.float32).reshape(-1, 3, TILE, TILE)
    rms = _robust_rms(images.astype(np.float64))
    good = (rms > 0).all(axis=1)
    return Backgrounds(images[good], rms[good], np.median(images[good, 0], axis=(1, 2)),
                       np.asarray(fw, float)[good], np.asarray(obj)[good])


def background_tiles(alerts) -> Backgrounds:
    """Backgrounds from real alert rows (the three cutout blobs, ``fwhm``, ``objectId``);
    only full 63x63 triplets are used (edge-of-CCD stamps would need their NaN side)."""
    trip, fw, obj = [], [], []
    for sci, ref, dif, f, o in zip(alerts["cutoutScience"], alerts["cutoutTemplate"],
                                   alerts["cutoutDifference"], alerts["fwhm"], alerts["objectId"]):
        imgs = [st.decode_or_nan(b) for b in (sci, ref, dif)]
        if all(i.shape == (st.FULL, st.FULL) for i in imgs) and np.isfinite(f) and f > 0:
            trip.append(np.stack(imgs))
            fw.append(float(f))
            obj.append(o)
    if not trip:
        return tiles_from_images(np.zeros((0, 3, st.FULL, st.FULL), np.float32), [], [])
    return tiles_from_images(np.stack(trip), np.array(fw), np.array(obj))


def moffat(flux: float, x: float, y: float, fwhm: float, beta: float = 3.0) -> np.ndarray:
    """Moffat point source of total ``flux`` (normalized over the plane, so a source near
    the tile edge loses what falls outside)."""
    alpha = fwhm / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))
    r2 = ((_XX - x) ** 2 + (_YY - y) ** 2) / alpha ** 2
    return flux * (beta - 1.0) / (np.pi * alpha ** 2) * (1.0 + r2) ** (-beta)


def disk(flux: float, x: float, y: float, re: float, q: float, pa: float, fwhm: float) -> np.ndarray:
    """Exponential disk (half-light radius ``re`` px, axis ratio ``q``) seen through a
    Gaussian PSF of ``fwhm``."""
    h = max(re, 0.7) / 1.678
    q = max(q, 0.2)
    c, s = np.cos(pa), np.sin(pa)
    dx, dy = _XX - x, _YY - y
    u = dx * c + dy * s
    v = (-dx * s + dy * c) / q
    prof = np.exp(-np.sqrt(u * u + v * v) / h) * (flux / (2.0 * np.pi * h * h * q))
    return gaussian_filter(prof, fwhm / 2.3548, mode="constant")


def _change(spec: dict, cx: float, cy: float, fwhm: float, beta: float, rng) -> np.ndarray:
    """Difference-image content (always positive, as ZTF's difference cutouts)."""
    amp = abs(spec["dflux"])
    art = spec["artifact"]
    if art == 0:   # cosmic ray / hot pixel: 1-3 sharp adjacent pixels, no PSF
        out = np.zeros((TILE, TILE))
        n_pix = int(rng.integers(1, 4))
        ix, iy = int(round(cx)), int(round(cy))
        step = rng.integers(0, 2)
        for k in range(n_pix):
            out[iy + k * step, ix + k * (1 - step)] += amp / n_pix * rng.uniform(0.6, 1.4)
        return out
    if art == 1:   # bad subtraction of a star: a shifted, broader PSF leaves a dipole
        shift = rng.normal(0, 0.5, 2)
        ref = max(spec["ref_flux"], 5 * amp)
        return (0.05 * ref * (moffat(1.0, cx + shift[0], cy + shift[1], fwhm, beta)
                              - moffat(1.0, cx, cy, fwhm * rng.uniform(1.05, 1.3), beta))
                / max(moffat(1.0, cx, cy, fwhm, beta).max(), 1e-9)
                + moffat(0.4 * amp, cx, cy, fwhm, beta))
    if art == 2:   # streak through the candidate (satellite, bleed trail), sharp across
        ang = rng.uniform(0, np.pi)
        d = np.abs((_XX - cx) * np.sin(ang) - (_YY - cy) * np.cos(ang))
        width = rng.uniform(0.5, 1.0)
        line = np.exp(-0.5 * (d / width) ** 2)
        return line * (amp * 0.15 / max(line.sum() / TILE, 1e-9))
    if spec["asteroid"]:   # moving: a point source, sometimes a short trail
        trail = rng.uniform(0.0, 1.2) if rng.random() < 0.8 else rng.uniform(1.5, 4.0)
        ang = rng.uniform(0, np.pi)
        ks = np.linspace(-1, 1, 5)
        return sum(moffat(amp / len(ks), cx + k * trail * np.cos(ang), cy + k * trail * np.sin(ang), fwhm, beta)
                   for k in ks)
    return moffat(amp, cx, cy, fwhm, beta)


def render(spec: dict, bg: Backgrounds, tile: int, rng: np.random.Generator):
    """(science, template, difference) 21x21 float32: the scene of ``spec`` injected into
    background tile ``tile`` with that tile's real PSF width and noise."""
    fwhm = float(np.clip(bg.fwhm[tile], 1.0, 7.0))
    fwhm_ref = float(spec["fwhm_ref"])
    beta = rng.uniform(2.5, 4.5)
    cx, cy = C + spec["dx"], C + spec["dy"]
    sci_add = np.zeros((TILE, TILE))
    ref_add = np.zeros((TILE, TILE))
    if spec["host_flux"] > 0:
        hx, hy = cx + spec["host_dx"], cy + spec["host_dy"]
        sci_add += disk(spec["host_flux"], hx, hy, spec["host_re"], spec["host_q"], spec["host_pa"], fwhm)
        ref_add += disk(spec["host_flux"], hx, hy, spec["host_re"], spec["host_q"], spec["host_pa"], fwhm_ref)
    ref_flux = spec["ref_flux"]
    if ref_flux > 0 and spec["kind"] in ("point", "nucleus"):
        sci_add += moffat(ref_flux, cx, cy, fwhm, beta)
        ref_add += moffat(ref_flux, cx, cy, fwhm_ref, beta)
    elif ref_flux > 0 and spec["kind"] == "field":
        x, y = cx + spec["nr_dx"], cy + spec["nr_dy"]
        sci_add += moffat(ref_flux, x, y, fwhm, beta)
        ref_add += moffat(ref_flux, x, y, fwhm_ref, beta)
    change = _change(spec, cx, cy, fwhm, beta, rng)
    sign = 1.0 if spec["dflux"] >= 0 else -1.0
    sci_add += sign * change
    # one flux scale: the injected source keeps its simulated signal-to-noise in science
    rms_sim = np.sqrt(0.2 * spec["sky"] + 9.0)
    rms = bg.rms[tile]
    a = rms[0] / rms_sim
    per_count = float(np.clip(rms[0] ** 2 / max(bg.sky[tile], 1.0), 0.05, 1.0))
    shot = rng.standard_normal((TILE, TILE)) * np.sqrt(per_count * a * np.clip(sci_add, 0, None))
    shot_ref = (rng.standard_normal((TILE, TILE))
                * np.sqrt(per_count * a * np.clip(ref_add, 0, None) / max(spec["nframes"], 1)))
    real = bg.images[tile].astype(np.float64)
    sci = real[0] + a * sci_add + shot
    ref = real[1] + a * ref_add + shot_ref
    diff = real[2] + a * change + sign * (shot - shot_ref)
    return sci.astype(np.float32), ref.astype(np.float32), diff.astype(np.float32)


def render_all(specs, bg: Backgrounds, rng: np.random.Generator):
    """Normalized (n, 3, 21, 21) stamps and the real fwhm of each (drawn tile per spec)."""
    tiles = rng.integers(0, len(bg), len(specs))
    out = np.empty((len(specs), 3, TILE, TILE), np.float32)
    for k, (spec, t) in enumerate(zip(specs, tiles)):
        out[k] = render(spec, bg, int(t), rng)
    return st.normalize(out), bg.fwhm[tiles]


__all__ = ["Backgrounds", "background_tiles", "tiles_from_images", "render", "render_all", "moffat", "disk",
           "OFFSETS"]
