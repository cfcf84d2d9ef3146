"""OpenStreetMap import: OSM extracts or Overpass -> catalog layers, a drive graph, a GeoPackage.

The tag mapping is declarative (``geo_almaty/osm/tags.yaml``, validated against
``schemas/osm_tags.schema.json`` and the layer catalog). Both the offline path
(``.osm`` XML through osmnx, ``.osm.pbf`` through GDAL's OSM driver) and the
online path (:func:`fetch_osm`) feed one conversion, :func:`features_to_layers`,
which takes features in EPSG:4326 and returns frames with the catalog's columns,
still in EPSG:4326 (geo_almaty reprojects on reading).

Bad input raises a one-line :class:`~geo_almaty.errors.OSMError`.
"""
from __future__ import annotations

from .convert import features_to_layers
from .graph import drive_graph_from_file, save_drive_graph
from .mapping import MAPPING_PATH, OSMMapping, load_mapping
from .online import fetch_osm
from .output import import_osm, write_osm_catalog
from .readers import read_osm_features, read_osm_file

__all__ = [
    "MAPPING_PATH",
    "OSMMapping",
    "drive_graph_from_file",
    "features_to_layers",
    "fetch_osm",
    "import_osm",
    "load_mapping",
    "read_osm_features",
    "read_osm_file",
    "save_drive_graph",
    "write_osm_catalog",
]
