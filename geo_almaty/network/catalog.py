"""The network of a catalog: a GraphML drive graph (``network`` layer) or the ``roads`` layer's lines."""
from __future__ import annotations

import logging

import geopandas as gpd

from .. import settings
from ..catalog import Catalog
from ..errors import NetworkError
from .build import network_from_graphml, network_from_lines
from .model import RoadNetwork

log = logging.getLogger(__name__)

NETWORK_LAYER = "network"
ROADS_LAYER = "roads"


def load_network(catalog: Catalog, layers: dict[str, gpd.GeoDataFrame] | None = None) -> RoadNetwork | None:
    """The catalog's road network, or None when it has neither a ``network`` graph nor ``roads``.

    Order: the ``network`` layer's GraphML (``network: {source: {path: x.graphml}}``); the drive graph
    that ``fetch-osm`` named on the roads (``roads.source.osm_graph``); the ``roads`` lines (from
    ``layers`` when already loaded), noded as the roads source's ``topology`` says (defaults:
    ``settings.NETWORK_SNAP_TOLERANCE_M``, no junctions at crossings).
    """
    spec = catalog.layers.get(NETWORK_LAYER)
    if spec is not None and spec.source is not None:
        path = spec.source.path
        if path.suffix.lower() not in (".graphml", ".xml"):
            raise NetworkError("not a GraphML file", file=path, layer=NETWORK_LAYER, column="source.path",
                               expected="a GraphML drive graph (.graphml); road lines belong in the roads layer")
        return network_from_graphml(path)
    roads = catalog.layers.get(ROADS_LAYER)
    if roads is not None and roads.source is not None and roads.source.osm_graph is not None and roads.source.osm_graph.is_file():
        return network_from_graphml(roads.source.osm_graph)
    if roads is None or roads.source is None:
        log.info("catalog %s has no road network", catalog.name)
        return None
    topology = roads.source.topology
    frame = (layers or {}).get(ROADS_LAYER)
    if frame is None:
        from ..layers import read_layer

        frame = read_layer(roads).frame
    return network_from_lines(frame, snap_tolerance_m=float(topology.get("snap_tolerance_m", settings.NETWORK_SNAP_TOLERANCE_M)),
                              split_crossings=bool(topology.get("split_crossings", False)), source=ROADS_LAYER,
                              class_column=roads.class_column or "class")
