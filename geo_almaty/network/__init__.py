"""Distances by road: a drive network from the catalog, connectors, many-to-many costs and circuity.

- :func:`load_network` builds a :class:`RoadNetwork` (EPSG:32643) from a catalog: a GraphML drive
  graph or the ``roads`` layer (nodes at shared ends and vertices, one-way roads, the largest
  strongly connected component); speeds by class come from ``speeds.yaml`` or ``maxspeed``.
- :func:`connect_points` joins off-network points by a straight connector to the nearest link.
- :func:`od_costs` returns sparse origin-destination costs within a cutoff (scipy's compiled Dijkstra).
- :func:`nearest_by_road` and :func:`reachable_by_road` serve the road criteria of the profiles.
- :func:`measured_circuity` gives the road/straight factor used when a catalog has no network.

Bad input raises a one-line :class:`~geo_almaty.errors.NetworkError`.
"""
from __future__ import annotations

from .build import network_from_graphml, network_from_lines, parse_oneway
from .catalog import load_network
from .circuity import Circuity, measured_circuity
from .connect import Connection, connect_points
from .model import NetworkReport, RoadNetwork
from .od import ODCosts, nearest_by_road, od_costs, reachable_by_road
from .speeds import SpeedTable, load_speeds, parse_maxspeed, travel_speed_kmh

__all__ = [
    "Circuity",
    "Connection",
    "NetworkReport",
    "ODCosts",
    "RoadNetwork",
    "SpeedTable",
    "connect_points",
    "load_network",
    "load_speeds",
    "measured_circuity",
    "nearest_by_road",
    "network_from_graphml",
    "network_from_lines",
    "od_costs",
    "parse_maxspeed",
    "parse_oneway",
    "reachable_by_road",
    "travel_speed_kmh",
]
