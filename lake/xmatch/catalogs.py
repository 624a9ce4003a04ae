"""Reference catalogs named by the configuration, read through their HATS metadata.

Settings (``xmatch`` section)::

    xmatch:
      catalogs:
        allwise:                       # the ``catalog`` value of its xmatch rows
          path: /data/hats/allwise     # a HATS catalog folder (relative: to the project root)
          id_column: AllWISE           # the catalog's source identifier
          columns: [W1mag, W2mag, W3mag, W4mag]   # kept in xmatch (as doubles)
          radius_arcsec: 2.0           # nearest source within this radius
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from science.artifacts import absolute

# Pixels of the join order are at least this many times the radius wide, so a cone around
# any point of a pixel stays inside that pixel and its 8 neighbours.
PIXEL_OVER_RADIUS = 3.0
MAX_JOIN_ORDER = 20


class CatalogMissing(RuntimeError):
    """A configured catalog folder is absent or is not a HATS catalog."""


@dataclass(frozen=True)
class CatalogSpec:
    name: str
    path: str
    id_column: str
    columns: tuple[str, ...]
    radius_arcsec: float

    def open(self):
        """The catalog's HATS metadata (``hats.read_hats``); raises ``CatalogMissing``."""
        import hats

        if not Path(self.path).is_dir():
            raise CatalogMissing(f"xmatch catalog {self.name!r}: no folder {self.path} "
                                 "(set xmatch.catalogs.<name>.path)")
        try:
            return hats.read_hats(self.path, read_moc=False)
        except Exception as exc:  # hats raises several kinds for a malformed folder
            raise CatalogMissing(f"xmatch catalog {self.name!r}: {self.path} is not a HATS "
                                 f"catalog ({type(exc).__name__}: {exc})") from exc

    @property
    def join_order(self) -> int:
        """The HEALPix order of the join: the deepest whose pixels are at least
        PIXEL_OVER_RADIUS radii wide."""
        from hats.pixel_math.healpix_shim import order2mindist

        for order in range(MAX_JOIN_ORDER, -1, -1):
            if order2mindist(order) * 60.0 >= PIXEL_OVER_RADIUS * self.radius_arcsec:
                return order
        raise ValueError(f"xmatch radius {self.radius_arcsec}\" is too large")


def catalog_specs(config, root=None) -> list[CatalogSpec]:
    """The catalogs of ``xmatch.catalogs``, in the order configured."""
    section = (config or {}).get("xmatch") or {}
    specs = []
    for name, entry in (section.get("catalogs") or {}).items():
        try:
            radius = float(entry["radius_arcsec"])
            path, id_column = str(entry["path"]), str(entry["id_column"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"xmatch.catalogs.{name} needs path, id_column and "
                             f"radius_arcsec ({exc})") from None
        if not (0 < radius < 600 and math.isfinite(radius)):
            raise ValueError(f"xmatch.catalogs.{name}.radius_arcsec must be in (0, 600)")
        location = path if "://" in path else str(absolute(path, root))
        specs.append(CatalogSpec(name, location, id_column,
                                 tuple(str(c) for c in entry.get("columns") or ()), radius))
    return specs


def footprint_files(catalog, pixels: np.ndarray, order: int) -> list[str]:
    """The catalog's partition files that hold any of ``pixels`` (order ``order``)."""
    from hats.io import paths

    pixels = np.unique(np.asarray(pixels, np.int64))
    files = []
    for hp in catalog.get_healpix_pixels():
        if hp.order <= order:
            hit = np.any((pixels >> (2 * (order - hp.order))) == hp.pixel)
        else:
            parent = hp.pixel >> (2 * (hp.order - order))
            i = np.searchsorted(pixels, parent)
            hit = i < len(pixels) and pixels[i] == parent
        if hit:
            files.append(str(paths.pixel_catalog_file(
                catalog.catalog_base_dir, hp, npix_suffix=catalog.catalog_info.npix_suffix)))
    return files
