"""The road network: nodes, links with lengths and travel times, and directed CSR graphs for scipy."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import shapely

from .. import settings
from ..errors import NetworkError

WEIGHTS = ("length", "time")


@dataclass
class NetworkReport:
    """What building a network found: sizes, components, what was dropped, and notes (one line each)."""

    source: str
    nodes: int = 0
    links: int = 0
    length_km: float = 0.0
    components: int = 0
    dropped_nodes: int = 0
    dropped_links: int = 0
    dropped_km: float = 0.0
    one_way_links: int = 0
    snap_tolerance_m: float = 0.0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: nodes, links, km kept, and what the largest strongly connected component left out."""
        text = (f"{self.source}: {self.nodes:,} nodes, {self.links:,} links ({self.one_way_links:,} one-way), {self.length_km:,.1f} km; "
                f"{self.components:,} strongly connected component(s), the largest kept")
        if self.dropped_links:
            text += f" ({self.dropped_links:,} links, {self.dropped_km:,.1f} km in the others left out)"
        return text


@dataclass
class RoadNetwork:
    """A drivable road network in EPSG:32643 (m): the largest strongly connected component of the roads.

    Nodes are junctions and dead ends (``node_x``, ``node_y``). A *link* is one road piece between two
    nodes, with its geometry from ``link_u`` to ``link_v``, its length (m) and travel time (s), and
    whether cars may drive it forward (u → v) and/or backward (v → u). Directed graphs for
    :mod:`scipy.sparse.csgraph` are built from the links on demand (:meth:`graph`).
    """

    node_x: np.ndarray
    node_y: np.ndarray
    link_u: np.ndarray
    link_v: np.ndarray
    link_length: np.ndarray
    link_time: np.ndarray
    link_forward: np.ndarray
    link_backward: np.ndarray
    link_class: np.ndarray
    link_geometry: np.ndarray = field(repr=False)
    report: NetworkReport = field(default_factory=lambda: NetworkReport("network"))
    connector_kmh: float = 15.0
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    crs = settings.ANALYSIS_CRS

    @property
    def n_nodes(self) -> int:
        return len(self.node_x)

    @property
    def n_links(self) -> int:
        return len(self.link_u)

    def link_cost(self, weight: str) -> np.ndarray:
        """Cost of traversing each link: metres (``length``) or seconds (``time``)."""
        check_weight(weight)
        return self.link_length if weight == "length" else self.link_time

    def connector_rate(self, weight: str) -> float:
        """Cost per metre of straight connector: 1 (m/m) for length, s/m at ``connector_kmh`` for time."""
        check_weight(weight)
        return 1.0 if weight == "length" else 3.6 / self.connector_kmh

    def graph(self, weight: str = "length") -> sp.csr_matrix:
        """Directed graph (n_nodes × n_nodes CSR) of link costs; parallel links keep the cheapest."""
        key = ("graph", weight)
        if key not in self._cache:
            cost = self.link_cost(weight)
            rows = np.concatenate([self.link_u[self.link_forward], self.link_v[self.link_backward]])
            cols = np.concatenate([self.link_v[self.link_forward], self.link_u[self.link_backward]])
            data = np.concatenate([cost[self.link_forward], cost[self.link_backward]])
            self._cache[key] = directed_graph(rows, cols, data, self.n_nodes)
        return self._cache[key]

    def reverse_graph(self, weight: str = "length") -> sp.csr_matrix:
        """The transposed graph (every link driven the other way), for searches towards a point."""
        key = ("reverse", weight)
        if key not in self._cache:
            self._cache[key] = self.graph(weight).T.tocsr()
        return self._cache[key]

    def contracted(self, weight: str = "length", *, reverse: bool = False, max_added: float | None = None):
        """The graph (or the reversed graph) with its contractable nodes contracted, for many-to-many
        searches (:mod:`geo_almaty.network.contract`); cached."""
        from .contract import contract_graph

        max_added = settings.OD_CONTRACT_MAX_ADDED if max_added is None else max_added
        key = ("contracted", weight, reverse, max_added)
        if key not in self._cache:
            graph = self.reverse_graph(weight) if reverse else self.graph(weight)
            self._cache[key] = contract_graph(graph, max_added=max_added)
        return self._cache[key]

    def link_tree(self) -> shapely.STRtree:
        """Spatial index of the link geometries."""
        if "tree" not in self._cache:
            self._cache["tree"] = shapely.STRtree(self.link_geometry)
        return self._cache["tree"]


def check_weight(weight: str) -> None:
    if weight not in WEIGHTS:
        raise NetworkError(f"unknown weight '{weight}'", column="weight", expected="length (m) or time (s)")


def directed_graph(rows: np.ndarray, cols: np.ndarray, data: np.ndarray, n: int) -> sp.csr_matrix:
    """CSR graph of the cheapest edge per (row, col) pair; self-loops dropped, zero-cost edges kept."""
    keep = rows != cols
    rows, cols, data = rows[keep], cols[keep], data[keep]
    order = np.lexsort((data, cols, rows))
    rows, cols, data = rows[order], cols[order], data[order]
    first = np.ones(len(rows), bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    rows, cols, data = rows[first], cols[first], data[first]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return sp.csr_matrix((data.astype(np.float64), cols.astype(np.int32), indptr), shape=(n, n))
