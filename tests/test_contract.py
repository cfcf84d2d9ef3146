"""Node contraction for many-to-many searches: the swept distances equal a Dijkstra on the whole graph."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from geo_almaty.network.contract import contract_graph
from geo_almaty.network.model import directed_graph
from geo_almaty.network.od import search_from_points


def random_graph(seed: int, n: int = 400) -> sp.csr_matrix:
    """A street-like directed graph: a jittered grid (some one-way, some zero-cost and parallel edges, a
    few dead-end chains) plus an island that nothing reaches."""
    rng = np.random.default_rng(seed)
    side = int(np.sqrt(n - 20))
    node = np.arange(side * side).reshape(side, side)
    a = np.r_[node[:-1].ravel(), node[:, :-1].ravel()]
    b = np.r_[node[1:].ravel(), node[:, 1:].ravel()]
    keep = rng.random(len(a)) < 0.85  # missing streets leave dead ends and chains
    a, b = a[keep], b[keep]
    cost = rng.uniform(50, 400, len(a))
    cost[rng.random(len(a)) < 0.03] = 0.0
    one_way = rng.random(len(a)) < 0.2
    rows = np.r_[a, b[~one_way], a[:20]]
    cols = np.r_[b, a[~one_way], b[:20]]
    data = np.r_[cost, cost[~one_way], cost[:20] * rng.uniform(0.5, 1.5, 20)]  # parallel edges: the cheaper counts
    island = side * side + np.arange(19)
    rows, cols, data = np.r_[rows, island[:-1]], np.r_[cols, island[1:]], np.r_[data, np.full(18, 10.0)]
    return directed_graph(rows, cols, data, n)


@pytest.mark.parametrize("max_added", [-1, 0, 4, 50])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_swept_distances_equal_dijkstra_on_the_whole_graph(seed, max_added):
    graph = random_graph(seed)
    n = graph.shape[0]
    rng = np.random.default_rng(seed + 10)
    contracted = contract_graph(graph, max_added=max_added)
    if max_added >= 0:
        assert contracted.core_size < n  # something was contracted
    sources = rng.choice(n, 30, replace=False)
    targets = np.unique(rng.choice(n, 80, replace=False))
    plan = contracted.plan(sources, targets)
    legs = np.column_stack([sources, np.roll(sources, 1)])
    leg_costs = np.column_stack([rng.uniform(0, 100, 30), np.r_[np.inf, rng.uniform(0, 100, 29)]])
    for limit in (np.inf, 900.0):
        swept = plan.sweep.distances(search_from_points(plan.graph, plan.position[legs], leg_costs, limit))[:, plan.sweep.nodes]
        whole = search_from_points(graph, legs, leg_costs, limit)[:, targets]
        within = whole <= limit
        assert np.array_equal(swept <= limit, within)
        assert np.allclose(swept[within], whole[within], rtol=0, atol=1e-9)


def test_contraction_keeps_distances_among_core_nodes():
    graph = random_graph(3)
    contracted = contract_graph(graph, max_added=4)
    core = np.flatnonzero(contracted.core)
    rows, cols, cost = contracted.edges
    inside = contracted.core[rows] & contracted.core[cols]
    position = np.full(graph.shape[0], -1)
    position[core] = np.arange(len(core))
    core_graph = directed_graph(position[rows[inside]], position[cols[inside]], cost[inside], len(core))
    assert np.allclose(dijkstra(core_graph, directed=True), dijkstra(graph, directed=True, indices=core)[:, core], atol=1e-9)


def test_contraction_is_deterministic_and_contracts_dead_ends_and_chains():
    # a chain 0-1-2-3-4 (two-way) with a dead end 2-5: everything but the kept ends can go
    rows = np.array([0, 1, 1, 2, 2, 3, 3, 4, 2, 5])
    cols = np.array([1, 0, 2, 1, 3, 2, 4, 3, 5, 2])
    graph = directed_graph(rows, cols, np.arange(1.0, 11.0), 6)
    one, two = contract_graph(graph, max_added=0), contract_graph(graph, max_added=0)
    assert np.array_equal(one.core, two.core)
    assert one.core_size <= 2
    plan = one.plan(np.array([0]), np.arange(6))
    swept = plan.sweep.distances(search_from_points(plan.graph, plan.position[[[0, 0]]], np.zeros((1, 2))))[:, plan.sweep.nodes]
    assert np.allclose(swept, dijkstra(graph, directed=True, indices=[0]))
