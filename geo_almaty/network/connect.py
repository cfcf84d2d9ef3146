"""Joining points (cells, supply, sites) to the network by a straight connector to the nearest link."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import shapely
from scipy.spatial import cKDTree

from .. import settings
from ..errors import NetworkError
from .model import RoadNetwork

log = logging.getLogger(__name__)

#: Spacing (m) of the points sampled along the links to find each point's nearest segment.
SAMPLE_STEP_M = 20.0
#: The nearest segment is exact for points within this distance of a road (m); farther, it may be up to
#: ``SAMPLE_STEP_M / 2`` farther than the exact one (searching exactly would take seconds per 100k points).
EXACT_WITHIN_M = 1_000.0
#: Most samples searched around one point near a road.
MAX_BALL_SAMPLES = 256


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

    The nearest point on the links is exact for points within ``EXACT_WITHIN_M`` (1 km) of a road and at
    most ``SAMPLE_STEP_M / 2`` (10 m) farther than exact beyond (see :func:`nearest_segments`). Points farther than
    ``max_connector_m`` from every road are joined all the same and counted in a warning (the first
    few are named by index); they are marked in :attr:`Connection.far`.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or x.ndim != 1:
        raise NetworkError(f"x and y of shapes {x.shape} and {y.shape}", column="x, y", expected="two 1-D arrays of the same length")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise NetworkError("a point has no finite coordinates", column="x, y", expected="finite EPSG:32643 coordinates (m)")
    segments = link_segments(network)
    seg, t, connector = nearest_segments(segments, x, y)
    a, b = segments.a[seg], segments.b[seg]
    snap_x, snap_y = a[:, 0] + t * (b[:, 0] - a[:, 0]), a[:, 1] + t * (b[:, 1] - a[:, 1])
    link = segments.link[seg]
    along = segments.along[seg] + t * segments.length[seg]
    total = segments.link_length[link]
    fraction = np.clip(np.divide(along, total, out=np.zeros_like(along), where=total > 0), 0.0, 1.0)
    fraction[(t <= 0.0) & segments.first[seg]] = 0.0  # exactly on a node, whatever the rounding of ``along``
    fraction[(t >= 1.0) & segments.last[seg]] = 1.0
    far = connector > max_connector_m
    connection = Connection(link, fraction, connector, snap_x, snap_y, far, float(max_connector_m))
    if far.any():
        first = np.flatnonzero(far)[:3]
        named = ", ".join(f"#{i} ({connector[i]:,.0f} m)" for i in first)
        log.warning("%d of %d %s lie farther than %.0f m from any road (first: %s); they join by their straight connector",
                    int(far.sum()), len(far), what, max_connector_m, named)
    return connection


@dataclass
class Segments:
    """The straight pieces of every link: ends ``a``, ``b`` (m), link, distance along the link to ``a``, length;
    and a KD-tree of points sampled along them every ``step`` m (``sample_segment``: their piece)."""

    a: np.ndarray
    b: np.ndarray
    link: np.ndarray
    along: np.ndarray
    length: np.ndarray
    link_length: np.ndarray
    first: np.ndarray
    last: np.ndarray
    tree: cKDTree
    sample_segment: np.ndarray
    step: float


def link_segments(network: RoadNetwork, step: float = SAMPLE_STEP_M) -> Segments:
    """The network's segments and their sample tree (built once per network)."""
    if "segments" not in network._cache:
        coords, owner = shapely.get_coordinates(network.link_geometry, return_index=True)
        same = owner[1:] == owner[:-1]
        a, b, link = coords[:-1][same], coords[1:][same], owner[:-1][same]
        length = np.hypot(*(b - a).T)
        start = np.r_[True, link[1:] != link[:-1]]
        cumulative = np.cumsum(length)
        along = cumulative - length
        along -= np.repeat(along[start], np.diff(np.r_[np.flatnonzero(start), len(link)]))
        link_length = np.bincount(link, weights=length, minlength=network.n_links)
        pieces = np.maximum(1, np.ceil(length / step)).astype(np.int64)
        sample_segment = np.repeat(np.arange(len(a)), pieces + 1)
        offset = np.arange(len(sample_segment)) - np.repeat(np.r_[0, np.cumsum(pieces + 1)[:-1]], pieces + 1)
        t = offset / np.repeat(pieces, pieces + 1)
        samples = a[sample_segment] + t[:, None] * (b - a)[sample_segment]
        tree = cKDTree(samples, leafsize=32, balanced_tree=False, compact_nodes=False)
        last = np.r_[link[1:] != link[:-1], True]
        network._cache["segments"] = Segments(a, b, link, along, length, link_length, start, last, tree, sample_segment, step)
    return network._cache["segments"]


def nearest_segments(segments: Segments, x: np.ndarray, y: np.ndarray, chunk: int = 200_000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each point: the nearest segment, the position on it (0-1) and the distance (m).

    The segment of the nearest sample is measured exactly, at distance ``e``. Any nearer segment has
    a sample within ``e + step / 2``: for points within ``EXACT_WITHIN_M`` of a road the segments of
    the k nearest samples are measured too, k doubling (up to ``MAX_BALL_SAMPLES``) while that ball
    may hold more. So the result is exact near roads, and otherwise at most ``step / 2`` longer than
    exact (10 m on a connector of over a kilometre).
    """
    n = len(x)
    seg = np.zeros(n, dtype=np.int64)
    t = np.zeros(n)
    dist = np.full(n, np.inf)
    samples = len(segments.sample_segment)
    for start in range(0, n, chunk):  # bounded memory for millions of points
        stop = min(start + chunk, n)
        px, py = x[start:stop], y[start:stop]
        _, first = segments.tree.query(np.column_stack([px, py]), k=1, workers=-1)
        best, best_t, best_d = _project(segments, segments.sample_segment[first], px, py)
        todo = np.flatnonzero(best_d <= EXACT_WITHIN_M)  # far points keep this (within step / 2 of exact)
        k = min(16, samples)
        while len(todo):
            found, idx = segments.tree.query(np.column_stack([px[todo], py[todo]]), k=k, workers=-1)
            found, idx = found.reshape(len(todo), k), idx.reshape(len(todo), k)
            rows = np.repeat(todo, k)
            c_seg, c_t, c_d = _project(segments, segments.sample_segment[idx.ravel()], px[rows], py[rows])
            order = np.lexsort((c_seg, c_d, rows))
            rows, c_seg, c_t, c_d = rows[order], c_seg[order], c_t[order], c_d[order]
            head = np.r_[True, rows[1:] != rows[:-1]]
            r, s_, t_, d_ = rows[head], c_seg[head], c_t[head], c_d[head]
            improve = d_ < best_d[r]
            best[r[improve]], best_t[r[improve]], best_d[r[improve]] = s_[improve], t_[improve], d_[improve]
            # The ball of radius best + step/2 may hold unseen samples when the k-th sample lies inside it.
            open_ball = (found[:, -1] <= best_d[todo] + segments.step / 2) & (best_d[todo] <= EXACT_WITHIN_M)
            todo = todo[open_ball]
            if k >= min(MAX_BALL_SAMPLES, samples):
                break
            k = min(2 * k, MAX_BALL_SAMPLES, samples)
        seg[start:stop], t[start:stop], dist[start:stop] = best, best_t, best_d
    return seg, t, dist


def _project(segments: Segments, seg: np.ndarray, px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a, b = segments.a[seg], segments.b[seg]
    dx, dy = b[:, 0] - a[:, 0], b[:, 1] - a[:, 1]
    length2 = dx * dx + dy * dy
    t = np.clip(np.divide((px - a[:, 0]) * dx + (py - a[:, 1]) * dy, length2, out=np.zeros_like(length2), where=length2 > 0), 0.0, 1.0)
    d = np.hypot(px - (a[:, 0] + t * dx), py - (a[:, 1] + t * dy))
    return seg, t, d
