"""Joining points (cells, supply, sites) to the network by a straight connector to the nearest link."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import shapely

from .. import settings
from ..errors import NetworkError
from .model import RoadNetwork

log = logging.getLogger(__name__)


@dataclass
class Connection:
    """How each point joins the network: the nearest link, the position on it and the connector.

    ``fraction`` is the position along the link from ``link_u`` (0) to ``link_v`` (1); ``connector_m``
    the straight distance (m) from the point to that position (``snap_x``, ``snap_y``). ``far`` marks
    points farther than ``max_connector_m`` from every road: they still join, and are reported.
    """

    link: np.ndarray
    fraction: np.ndarray
    connector_m: np.ndarray
    snap_x: np.ndarray
    snap_y: np.ndarray
    far: np.ndarray
    max_connector_m: float

    def __len__(self) -> int:
        return len(self.link)

    def subset(self, rows: np.ndarray) -> Connection:
        """The connections of points ``rows`` only."""
        return Connection(self.link[rows], self.fraction[rows], self.connector_m[rows], self.snap_x[rows], self.snap_y[rows],
                          self.far[rows], self.max_connector_m)

    def connector_stats(self) -> tuple[float, float]:
        """Median and 95th percentile of the connector lengths (m)."""
        if not len(self):
            return 0.0, 0.0
        return float(np.median(self.connector_m)), float(np.percentile(self.connector_m, 95))

    def summary(self, what: str = "points") -> str:
        """One line: how many points, connector median / p95, how many are far from every road."""
        median, p95 = self.connector_stats()
        text = f"{len(self):,} {what} joined to the road network by straight connectors: median {median:,.0f} m, p95 {p95:,.0f} m"
        if self.far.any():
            text += f"; {int(self.far.sum()):,} farther than {self.max_connector_m:,.0f} m from any road"
        return text

    def legs(self, network: RoadNetwork, weight: str, *, leaving: bool) -> tuple[np.ndarray, np.ndarray]:
        """Nodes and costs (n × 2: the link's u end, then its v end) of the ways onto or off the network.

        ``leaving=True``: from the point to the node (connector, then along the link in a direction cars
        may drive); ``leaving=False``: from the node to the point. Costs are m or s; ``inf`` where the
        link's one-way direction forbids the leg (except when the point sits on that node).
        """
        cost = network.link_cost(weight)[self.link]
        access = self.connector_m * network.connector_rate(weight)
        at_u, at_v = self.fraction <= 0.0, self.fraction >= 1.0
        forward, backward = network.link_forward[self.link], network.link_backward[self.link]
        to_u = access + self.fraction * cost
        to_v = access + (1.0 - self.fraction) * cost
        if leaving:
            ok_u, ok_v = backward | at_u, forward | at_v
        else:
            ok_u, ok_v = forward | at_u, backward | at_v
        nodes = np.column_stack([network.link_u[self.link], network.link_v[self.link]])
        costs = np.column_stack([np.where(ok_u, to_u, np.inf), np.where(ok_v, to_v, np.inf)])
        return nodes, costs


def connect_points(network: RoadNetwork, x: np.ndarray, y: np.ndarray, *, max_connector_m: float = settings.MAX_CONNECTOR_M,
                   what: str = "points") -> Connection:
    """Join points (EPSG:32643, m) to the nearest link of ``network`` by a straight connector.

    Points farther than ``max_connector_m`` from every road are joined all the same and counted in a
    warning (the first few are named by index); they are marked in :attr:`Connection.far`.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or x.ndim != 1:
        raise NetworkError(f"x and y of shapes {x.shape} and {y.shape}", column="x, y", expected="two 1-D arrays of the same length")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise NetworkError("a point has no finite coordinates", column="x, y", expected="finite EPSG:32643 coordinates (m)")
    points = shapely.points(x, y)
    if len(points):
        _, link = network.link_tree().query_nearest(points, all_matches=False)
    else:
        link = np.empty(0, np.int64)
    link = np.asarray(link, np.int64)
    geoms = network.link_geometry[link]
    position = shapely.line_locate_point(geoms, points)
    length = shapely.length(geoms)
    fraction = np.clip(np.divide(position, length, out=np.zeros_like(position), where=length > 0), 0.0, 1.0)
    snapped = shapely.line_interpolate_point(geoms, position)
    snap_x, snap_y = shapely.get_x(snapped), shapely.get_y(snapped)
    connector = np.hypot(x - snap_x, y - snap_y)
    far = connector > max_connector_m
    connection = Connection(link, fraction, connector, snap_x, snap_y, far, float(max_connector_m))
    if far.any():
        first = np.flatnonzero(far)[:3]
        named = ", ".join(f"#{i} ({connector[i]:,.0f} m)" for i in first)
        log.warning("%d of %d %s lie farther than %.0f m from any road (first: %s); they join by their straight connector",
                    int(far.sum()), len(far), what, max_connector_m, named)
    return connection
