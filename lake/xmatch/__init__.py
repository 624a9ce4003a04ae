"""Catalog context: cross-match of the night's objects with reference catalogs.

    conf ``xmatch.catalogs``  ->  catalogs.py: each catalog's HATS metadata (``hats``)
    object positions          ->  match.py: a join on HEALPix pixels in the engine
                                  (each object's pixel and its 8 neighbours, at an order
                                  whose pixels are wider than the radius), nearest source
                                  within the radius, distance kept
                              ->  table ``xmatch`` (oid, survey, catalog, catalog_id,
                                  distance, catalog_ra/dec, the chosen columns)

Only the catalog partitions that overlap the night's footprint are read. The process stage
runs it for the objects it touched (``match_objects``) and the AllWISE magnitudes feed the
WISE colour features (``wise_magnitudes``).
"""
from .catalogs import CatalogMissing, CatalogSpec, catalog_specs
from .match import XMATCH_COLUMNS, crossmatch, match_objects, wise_magnitudes

__all__ = ["CatalogMissing", "CatalogSpec", "catalog_specs", "crossmatch", "match_objects",
           "wise_magnitudes", "XMATCH_COLUMNS"]
