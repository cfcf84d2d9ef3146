"""Node contraction for many-to-many searches: each search explores a small core, the rest is swept exactly.

Contracting a node ``x`` replaces its edges by *shortcuts* ``a → b`` of cost ``c(a, x) + c(x, b)`` for
every in-neighbour ``a`` and out-neighbour ``b`` (the cheaper edge is kept where one exists), so the
distances among the remaining nodes are unchanged. Nodes whose contraction adds at most ``max_added``
edges net (dead ends, chains, most three-way junctions) are contracted in rounds of independent nodes
(no two neighbours in one round, in a seeded order) until a round contracts few; the rest is the *core*.
The edges a node had when it was contracted lead *up* (out of it) or *down* (into it) to nodes
contracted later or to the core.

A search from a point then runs in two parts (PHAST, Delling et al. 2011, with a core searched by plain
Dijkstra): a Dijkstra over the up edges and the core edges, which reaches the core from the point's own
nodes and explores only the core; then a *sweep* over the contracted nodes in reverse order of
contraction, ``d(x) = min(d(x), d(a) + c(a, x))`` over the down edges ``a → x``, restricted to the nodes
the targets need. Every shortest path can be written as up edges, a core path, then down edges (a node
contracted before both its neighbours on a path has a shortcut between them), so the distances are
exact; sums may associate differently from a search on the whole graph (differences of about 1e-11 m).
The contraction depends on the graph only, so a network caches it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from .. import settings
from .model import directed_graph


@dataclass
class Sweep:
    """How to finish a search on a :class:`SearchPlan` graph: the down edges into the nodes the targets need.

    Works on ``width`` columns: the first ``read`` columns of the search's distances (the needed nodes
    the search reaches; the plan numbers them first), then the needed nodes it does not reach, then one
    padding column, all starting at ``inf``. ``steps`` are in sweep order, one per contraction round: the
    nodes of the round sorted by their number of down edges (most first), those edges as padded
    (nodes × m) columns and costs, and ``counts[j]``, the number of nodes with more than ``j`` edges.
    """

    read: int
    width: int
    steps: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = field(repr=False)  # (start, cost, end, counts)
    nodes: np.ndarray  # column of each requested node

    def distances(self, search: np.ndarray) -> np.ndarray:
        """Swept distances (k × ``width``) from a search's distances (k × ≥ ``read`` columns)."""
        k = search.shape[0]
        full = np.empty((k, self.width))
        full[:, :self.read] = search[:, :self.read]
        full[:, self.read:] = np.inf
        for start, cost, end, counts in self.steps:
            best = full[:, end]
            for j, count in enumerate(counts):  # the nodes with more than j down edges are the first `count`
                np.minimum(best[:, :count], full[:, start[:count, j]] + cost[:count, j], out=best[:, :count])
            full[:, end] = best
        return full


@dataclass
class SearchPlan:
    """What searches from some nodes to others run on: a graph of the core and of the contracted nodes the
    sources reach going up (numbered with the needed nodes first), each original node's number in it
    (-1 if absent), and the sweep to the targets."""

    graph: sp.csr_matrix
    position: np.ndarray
    sweep: Sweep


@dataclass
class ContractedGraph:
    """A directed graph on ``n_nodes`` nodes with some contracted: the edges among the core nodes, the up
    edges of the contracted nodes, and per contraction round (in order) the down edges ``(a, x, cost)``
    into the nodes ``x`` contracted in it."""

    n_nodes: int
    core: np.ndarray  # bool per node
    edges: tuple[np.ndarray, np.ndarray, np.ndarray] = field(repr=False)  # core and up edges: rows, cols, cost
    rounds: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(repr=False)

    @property
    def core_size(self) -> int:
        return int(self.core.sum())

    def plan(self, sources: np.ndarray, targets: np.ndarray) -> SearchPlan:
        """The search graph and the sweep for searches from the nodes ``sources`` to the nodes ``targets``."""
        needed = np.zeros(self.n_nodes, dtype=bool)
        needed[targets] = True
        used = []
        for a, x, cost in self.rounds:  # a node's down edges come from nodes contracted later, or from the core
            here = needed[x]
            needed[a[here]] = True
            used.append((a[here], x[here], cost[here]))
        searched = self.core | self._up_from(sources)
        first, second = np.flatnonzero(needed & searched), np.flatnonzero(searched & ~needed)
        unread = np.flatnonzero(needed & ~searched)
        column = np.full(self.n_nodes, -1, dtype=np.int64)
        column[np.r_[first, unread]] = np.arange(len(first) + len(unread))
        width = len(first) + len(unread) + 1
        steps = [_step(column[a], column[x], cost, width - 1) for a, x, cost in reversed(used) if len(x)]
        position = np.full(self.n_nodes, -1, dtype=np.int64)
        position[np.r_[first, second]] = np.arange(len(first) + len(second))
        rows, cols, cost = self.edges
        inside = searched[rows] & searched[cols]
        graph = directed_graph(position[rows[inside]], position[cols[inside]], cost[inside], len(first) + len(second))
        return SearchPlan(graph, position, Sweep(len(first), width, steps, column[np.asarray(targets)]))

    @cached_property
    def _up_graph(self) -> sp.csr_matrix:
        """The up edges as a 0/1 adjacency matrix (built once per contraction, not per plan)."""
        rows, cols, _ = self.edges
        up = ~self.core[rows]
        return sp.csr_matrix((np.ones(int(up.sum()), dtype=np.int8), (rows[up], cols[up])), shape=(self.n_nodes, self.n_nodes))

    def _up_from(self, nodes: np.ndarray) -> np.ndarray:
        """The nodes reached from ``nodes`` by up edges (``nodes`` included), as a mask."""
        graph = self._up_graph
        reached = np.zeros(self.n_nodes, dtype=bool)
        frontier = np.unique(np.asarray(nodes))
        while len(frontier):
            reached[frontier] = True
            frontier = np.unique(graph[frontier].indices)
            frontier = frontier[~reached[frontier]]
        return reached


def _step(start: np.ndarray, end: np.ndarray, cost: np.ndarray, pad: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The down edges of one round as (nodes × m) start columns and costs, nodes sorted by edge count
    (most first), padded with column ``pad``; and how many nodes have more than j edges, per j."""
    nodes, group, count = np.unique(end, return_inverse=True, return_counts=True)
    rank = np.argsort(-count, kind="stable")  # node order: most edges first
    row_of = np.empty(len(nodes), dtype=np.int64)
    row_of[rank] = np.arange(len(nodes))
    edge_order = np.argsort(row_of[group], kind="stable")
    rows = row_of[group][edge_order]
    sorted_count = count[rank]
    slot = np.arange(len(end)) - np.repeat(np.cumsum(sorted_count) - sorted_count, sorted_count)
    starts = np.full((len(nodes), int(sorted_count[0])), pad, dtype=np.int64)
    costs = np.zeros(starts.shape)
    starts[rows, slot] = start[edge_order]
    costs[rows, slot] = cost[edge_order]
    more_than = (sorted_count[None, :] > np.arange(starts.shape[1])[:, None]).sum(axis=1)
    return starts, costs, nodes[rank], more_than


def contract_graph(graph: sp.csr_matrix, *, max_added: float = settings.OD_CONTRACT_MAX_ADDED, min_round: float = 0.01,
                   seed: int = 0) -> ContractedGraph:
    """Contract the nodes of ``graph`` (n × n CSR of non-negative costs) whose shortcuts minus edges is at
    most ``max_added``; rounds stop when one contracts fewer than ``min_round`` of the remaining nodes
    (``max_added`` below -n contracts nothing: every node is core)."""
    n = graph.shape[0]
    coo = graph.tocoo()
    rows, cols, cost = _cheapest(coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data.astype(np.float64))
    alive = np.ones(n, dtype=bool)
    priority = np.random.default_rng(seed).permutation(n)
    rounds, up = [], []
    while True:
        chosen = _independent_contractable(rows, cols, n, alive, priority, max_added)
        if not chosen.any() or chosen.sum() < min_round * alive.sum():
            break
        into, out_of = chosen[cols], chosen[rows]
        rounds.append((rows[into], cols[into], cost[into]))
        up.append((rows[out_of], cols[out_of], cost[out_of]))
        a, b, ab = _shortcuts(rows, cols, cost, np.flatnonzero(into), np.flatnonzero(out_of), n)
        rest = ~(into | out_of)
        rows, cols, cost = _cheapest(np.r_[rows[rest], a], np.r_[cols[rest], b], np.r_[cost[rest], ab])
        alive &= ~chosen
    edges = tuple(np.concatenate([part[i] for part in up] + [(rows, cols, cost)[i]]) for i in range(3))
    return ContractedGraph(n, alive, edges, rounds)


def _cheapest(rows: np.ndarray, cols: np.ndarray, cost: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges sorted by (row, col) with the cheapest of parallel edges kept and self-loops dropped."""
    keep = rows != cols
    rows, cols, cost = rows[keep], cols[keep], cost[keep]
    order = np.lexsort((cost, cols, rows))
    rows, cols, cost = rows[order], cols[order], cost[order]
    first = np.ones(len(rows), dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    return rows[first], cols[first], cost[first]


def _independent_contractable(rows: np.ndarray, cols: np.ndarray, n: int, alive: np.ndarray, priority: np.ndarray,
                              max_added: float) -> np.ndarray:
    """Alive nodes whose contraction adds ≤ ``max_added`` edges net and that outrank every such neighbour."""
    indegree, outdegree = np.bincount(cols, minlength=n), np.bincount(rows, minlength=n)
    forward = rows * n + cols  # sorted, as the edges are
    backward = cols * n + rows
    found = np.minimum(np.searchsorted(forward, backward), max(len(forward) - 1, 0))
    two_way = forward[found] == backward if len(forward) else np.zeros(0, dtype=bool)
    round_trips = np.bincount(rows[two_way], minlength=n)  # a → x → a would be a self-loop, not a shortcut
    added = indegree * outdegree - round_trips - indegree - outdegree
    candidate = alive & (added <= max_added)
    ends = np.r_[rows, cols], np.r_[cols, rows]
    both = candidate[ends[0]] & candidate[ends[1]]
    outranked = np.full(n, -1, dtype=np.int64)
    np.maximum.at(outranked, ends[0][both], priority[ends[1][both]])
    return candidate & (priority > outranked)


def _shortcuts(rows: np.ndarray, cols: np.ndarray, cost: np.ndarray, into: np.ndarray, out_of: np.ndarray,
               n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every a → b of an edge ``into`` a contracted node x followed by an edge ``out_of`` x, and its cost."""
    into = into[np.argsort(cols[into], kind="stable")]
    out_of = out_of[np.argsort(rows[out_of], kind="stable")]
    via = cols[into]
    per_node = np.bincount(rows[out_of], minlength=n)
    first = np.r_[0, np.cumsum(per_node)][via]
    repeat = per_node[via]
    left = np.repeat(into, repeat)
    step = np.arange(int(repeat.sum())) - np.repeat(np.cumsum(repeat) - repeat, repeat)
    right = out_of[np.repeat(first, repeat) + step]
    return rows[left], cols[right], cost[left] + cost[right]
