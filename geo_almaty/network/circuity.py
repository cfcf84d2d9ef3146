"""How much longer roads are than straight lines: the fallback factor when a catalog has no network."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse.csgraph import dijkstra

from .model import RoadNetwork


@dataclass(frozen=True)
class Circuity:
    """Road distance / straight-line distance over sample node pairs: median, quartiles and the pair count."""

    median: float
    p25: float
    p75: float
    pairs: int

    def __str__(self) -> str:
        return f"circuity {self.median:.2f} (IQR {self.p25:.2f}-{self.p75:.2f}, {self.pairs:,} pairs)"


def measured_circuity(network: RoadNetwork, *, pairs: int = 2000, min_m: float = 1_000.0, max_m: float = 30_000.0,
                      seed: int = 0) -> Circuity:
    """Road/straight ratio on ``pairs`` random node pairs whose straight distance is ``min_m``-``max_m`` (m).

    Origins are random nodes (seeded); each gets up to 10 random destinations in the distance band;
    road distances are shortest paths by length on the directed network.
    """
    rng = np.random.default_rng(seed)
    n = network.n_nodes
    per_origin = 10
    origins = rng.choice(n, size=min(n, max(1, 3 * pairs // per_origin)), replace=False)
    graph = network.graph("length")
    ratios: list[np.ndarray] = []
    for start in range(0, len(origins), 64):  # a few hundred origins, each vectorised over all nodes
        if sum(len(r) for r in ratios) >= pairs:
            break
        dist = dijkstra(graph, directed=True, indices=origins[start:start + 64], limit=max_m * 10)
        for row, origin in enumerate(origins[start:start + 64]):
            straight = np.hypot(network.node_x - network.node_x[origin], network.node_y - network.node_y[origin])
            band = np.flatnonzero((straight >= min_m) & (straight <= max_m) & np.isfinite(dist[row]))
            if len(band):
                chosen = rng.choice(band, size=min(per_origin, len(band)), replace=False)
                ratios.append(dist[row, chosen] / straight[chosen])
    values = np.concatenate(ratios)[:pairs] if ratios else np.empty(0)
    if not len(values):
        return Circuity(float("nan"), float("nan"), float("nan"), 0)
    p25, median, p75 = np.percentile(values, [25, 50, 75])
    return Circuity(float(median), float(p25), float(p75), len(values))
