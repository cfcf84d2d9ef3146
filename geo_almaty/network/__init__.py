"""Distances by road: a drive network from the catalog, connectors, many-to-many costs and circuity.

- :func:`load_network` builds a :class:`RoadNetwork` (EPSG:32643) from a catalog: a GraphML drive
  graph or the ``roads`` layer (nodes at shared ends and vertices, one-way roads, the largest
  strongly connected component); speeds by class come from ``speeds.yaml`` or ``maxspeed``.
- :func:`connect_points` joins off-network points by a straight connector to the nearest link.
- :func:`od_costs` returns sparse origin-destination costs within a cutoff (scipy's compiled Dijkstra;
  for many sources on a contracted core of the network, :mod:`.contract`, exact).
- :func:`nearest_by_road` and :func:`reachable_by_road` serve the road criteria of the profiles.
- :func:`measured_circuity` gives the road/straight factor used when a catalog has no network.

Bad input raises a one-line :class:`~geo_almaty.errors.NetworkError`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

#: Public names and the module of each, imported on first use (so that search workers start light).
_API = {
    "network_from_graphml": "build", "network_from_lines": "build", "parse_oneway": "build",
    "load_network": "catalog",
    "Circuity": "circuity", "measured_circuity": "circuity",
    "Connection": "connect", "connect_points": "connect",
    "NetworkReport": "model", "RoadNetwork": "model",
    "ODCosts": "od", "nearest_by_road": "od", "od_costs": "od", "reachable_by_road": "od",
    "SpeedTable": "speeds", "load_speeds": "speeds", "parse_maxspeed": "speeds", "travel_speed_kmh": "speeds",
}

if TYPE_CHECKING:  # pragma: no cover
    from .build import network_from_graphml, network_from_lines, parse_oneway  # noqa: F401
    from .catalog import load_network  # noqa: F401
    from .circuity import Circuity, measured_circuity  # noqa: F401
    from .connect import Connection, connect_points  # noqa: F401
    from .model import NetworkReport, RoadNetwork  # noqa: F401
    from .od import ODCosts, nearest_by_road, od_costs, reachable_by_road  # noqa: F401
    from .speeds import SpeedTable, load_speeds, parse_maxspeed, travel_speed_kmh  # noqa: F401


def __getattr__(name: str):
    if name in _API:
        from importlib import import_module

        return getattr(import_module(f".{_API[name]}", __name__), name)
    raise AttributeError(f"module 'geo_almaty.network' has no attribute {name!r}")


__all__ = sorted(_API)
