"""Travel costs on the network: many-to-many within a cutoff, nearest source by road, supply within reach.

Every search is :func:`scipy.sparse.csgraph.dijkstra` (compiled) on the network's CSR graph (for many
sources, on its contracted core, :mod:`.contract`, with the other nodes recovered exactly). A point
enters the search through a *virtual node* joined to both ends of its link by its legs (connector +
the part of the link, in a direction cars may drive), so costs are exact from point to point; two points
on one link may also drive straight along it. Searches run in chunks of sources whose distance rows fit
in ``settings.OD_CHUNK_BYTES``.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from .. import settings
from ..errors import NetworkError
from ..progress import progress_bar
from .connect import Connection, connect_points
from .contract import Sweep
from .model import RoadNetwork, check_weight

log = logging.getLogger(__name__)


@dataclass
class ODCosts:
    """Sparse origin-destination costs: COO triplets of the pairs within the cutoff.

    ``cost`` is metres (``weight="length"``) or seconds (``"time"``) from origin to destination,
    connectors included; pairs beyond the cutoff are absent, zero-cost pairs are kept. Triplets are
    sorted by origin, then destination.
    """

    origin: np.ndarray
    destination: np.ndarray
    cost: np.ndarray
    shape: tuple[int, int]
    weight: str
    cutoff: float
    origins: Connection
    destinations: Connection

    def __len__(self) -> int:
        return len(self.cost)

    def to_csr(self) -> sp.csr_matrix:
        """The costs as a CSR matrix (explicit zeros are real zero-cost pairs; absent = beyond the cutoff)."""
        return sp.csr_matrix((self.cost, (self.origin, self.destination)), shape=self.shape)


def as_connection(network: RoadNetwork, points: np.ndarray | Connection, what: str) -> Connection:
    """``points`` (n × 2 array of EPSG:32643 x, y) joined to the network, or a :class:`Connection` as it is."""
    if isinstance(points, Connection):
        return points
    xy = np.asarray(points, float)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise NetworkError(f"{what} of shape {xy.shape}", column=what, expected="an n × 2 array of x, y in EPSG:32643 (m)")
    return connect_points(network, xy[:, 0], xy[:, 1], what=what)


def od_costs(network: RoadNetwork, origins_xy: np.ndarray | Connection, destinations_xy: np.ndarray | Connection, *,
             cutoff: float, weight: str = "length", workers: int | None = None, contract: bool | None = None,
             progress: bool = False) -> ODCosts:
    """Travel cost from every origin to every destination within ``cutoff`` (m or s), as sparse triplets.

    Searches run from the smaller side (on the reversed graph when that is the destinations), in
    chunks so that the distance rows held at once stay within ``settings.OD_CHUNK_BYTES``. With
    ``workers`` > 1 (default ``settings.OD_WORKERS``; 0 = every core) large jobs spread the chunks over
    spawned processes, as scipy's Dijkstra holds the GIL; the result is the same. A script that asks
    for workers must guard its top level with ``if __name__ == "__main__":``. With ``contract`` (default:
    from ``settings.OD_CONTRACT_MIN_SOURCES`` sources) the searches run on the network's contracted core;
    the costs are the same (to about 1e-11 m).
    """
    check_weight(weight)
    if not cutoff > 0:
        raise NetworkError(f"cutoff {cutoff}", column="cutoff", expected="a positive cutoff in m (length) or s (time)")
    origins = as_connection(network, origins_xy, "origins")
    destinations = as_connection(network, destinations_xy, "destinations")
    n_o, n_d = len(origins), len(destinations)
    out_nodes, out_costs = origins.legs(network, weight, leaving=True)
    in_nodes, in_costs = destinations.legs(network, weight, leaving=False)
    reverse = n_o > n_d
    if reverse:
        src_nodes, src_costs, tgt_nodes, tgt_costs = in_nodes, in_costs, out_nodes, out_costs
    else:
        src_nodes, src_costs, tgt_nodes, tgt_costs = out_nodes, out_costs, in_nodes, in_costs
    direct = _same_link_pairs(network, weight, origins, destinations)
    if reverse:
        direct = direct[["destination", "origin", "cost"]].set_axis(["row", "col", "cost"], axis=1)
    else:
        direct = direct.set_axis(["row", "col", "cost"], axis=1)
    n_src, n_tgt = (n_d, n_o) if reverse else (n_o, n_d)
    if contract is None:
        contract = n_src >= settings.OD_CONTRACT_MIN_SOURCES
    workers = _workers(workers, n_src, network.n_nodes)
    with _SearchProcesses(workers) as processes:  # they start now, and boot while the search is planned
        contracted = network.contracted(weight, reverse=reverse, max_added=None if contract else -np.inf)
        targets, target_legs = np.unique(tgt_nodes, return_inverse=True)
        plan = contracted.plan(src_nodes.ravel(), targets)
        log.debug("od_costs: searches explore %d of %d nodes (a core of %d), then sweep %d", plan.graph.shape[0],
                  network.n_nodes, contracted.core_size, plan.sweep.width)
        chunk = chunk_size(plan.graph.shape[0] + plan.sweep.width, n_tgt, settings.OD_CHUNK_BYTES // workers)
        if workers > 1:  # each process holds one chunk's rows, so the chunks shrink to keep the total bound
            chunk = max(1, min(chunk, -(-n_src // (4 * workers))))
        task = _ODTask(plan.graph, plan.sweep, plan.sweep.nodes[target_legs.reshape(tgt_nodes.shape)], tgt_costs,
                       direct["row"].to_numpy(), direct["col"].to_numpy(), direct["cost"].to_numpy(), float(cutoff))
        jobs = [(start, plan.position[src_nodes[start:start + chunk]], src_costs[start:start + chunk])
                for start in range(0, n_src, chunk)]
        parts = processes.run(task, jobs, progress)
    rows, cols, costs = [p[0] for p in parts], [p[1] for p in parts], [p[2] for p in parts]
    row = np.concatenate(rows).astype(np.int64) if rows else np.empty(0, np.int64)
    col = np.concatenate(cols).astype(np.int64) if cols else np.empty(0, np.int64)
    value = np.concatenate(costs) if costs else np.empty(0)
    origin, destination = (col, row) if reverse else (row, col)
    if reverse:
        order = np.lexsort((destination, origin))
        origin, destination, value = origin[order], destination[order], value[order]
    log.info("od_costs: %d × %d points, %d pairs within %g %s", n_o, n_d, len(value), cutoff, "m" if weight == "length" else "s")
    return ODCosts(origin, destination, value, (n_o, n_d), weight, float(cutoff), origins, destinations)


@dataclass
class _ODTask:
    """What every chunk of a many-to-many search shares: the search graph and the sweep of a
    :class:`~.contract.SearchPlan`, the target legs (columns of the swept distances), the same-link pairs."""

    graph: sp.csr_matrix
    sweep: Sweep
    tgt_nodes: np.ndarray
    tgt_costs: np.ndarray
    direct_row: np.ndarray
    direct_col: np.ndarray
    direct_cost: np.ndarray
    cutoff: float

    def run(self, start: int, nodes: np.ndarray, costs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Triplets (row, col, cost ≤ cutoff) of the sources ``start ...`` given by their legs (search graph nodes)."""
        dist = self.sweep.distances(search_from_points(self.graph, nodes, costs, self.cutoff))
        cost = np.minimum(dist[:, self.tgt_nodes[:, 0]] + self.tgt_costs[:, 0], dist[:, self.tgt_nodes[:, 1]] + self.tgt_costs[:, 1])
        del dist
        here = (self.direct_row >= start) & (self.direct_row < start + len(nodes))
        if here.any():
            np.minimum.at(cost, (self.direct_row[here] - start, self.direct_col[here]), self.direct_cost[here])
        r, c = np.nonzero(cost <= self.cutoff)
        return (r + start).astype(np.int64), c.astype(np.int64), cost[r, c]


_TASK: _ODTask | None = None
_TASK_FILE: str | None = None


def _remember_task_file(path: str) -> None:
    global _TASK_FILE, _TASK
    _TASK_FILE, _TASK = path, None


def _run_in_worker(job: tuple[int, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One chunk in a search process; the shared task is read from its file on the first chunk."""
    import pickle

    global _TASK
    if _TASK is None:
        assert _TASK_FILE is not None
        with open(_TASK_FILE, "rb") as file:
            _TASK = pickle.load(file)
    return _TASK.run(*job)


def _ready() -> None:
    """A no-op that makes a search process start (and import this module) before there is work."""


def _workers(requested: int | None, n_sources: int, n_nodes: int) -> int:
    """Processes for a search: 1 for small jobs (starting processes costs about a second)."""
    import os

    wanted = requested if requested is not None else settings.OD_WORKERS
    wanted = int(wanted) or os.cpu_count() or 1
    if n_sources * n_nodes < settings.OD_PARALLEL_MIN_WORK:
        return 1
    return max(1, min(wanted, n_sources))


class _SearchProcesses:
    """``workers`` − 1 spawned processes that share the chunks of a search with this one.

    This process takes chunks from the end while the others take them from the start, so it works while
    they boot (about a second each: a spawned process imports the calling script's modules). The task
    reaches them through a temporary file, not as an argument: a large pickle would block this process
    until each child, in turn, has booted and read it.
    """

    def __init__(self, workers: int):
        self.workers = workers
        self.pool = None
        self.folder = None

    def __enter__(self) -> _SearchProcesses:
        if self.workers > 1:
            import multiprocessing
            import tempfile
            from concurrent.futures import ProcessPoolExecutor

            self.folder = tempfile.TemporaryDirectory(prefix="geo_almaty_od_")
            context = multiprocessing.get_context("spawn")  # no fork of a process that may hold threads
            self.pool = ProcessPoolExecutor(max_workers=self.workers - 1, mp_context=context, initializer=_remember_task_file,
                                            initargs=(str(Path(self.folder.name) / "task.pickle"),))
            for _ in range(self.workers - 1):
                self.pool.submit(_ready)
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
        if self.folder is not None:
            self.folder.cleanup()

    def run(self, task: _ODTask, jobs: list, progress: bool) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Every chunk's triplets, in chunk order."""
        if self.pool is None or len(jobs) <= 1:
            return [task.run(*job) for job in progress_bar(jobs, desc="road costs", unit="chunk", enabled=progress)]
        import pickle

        with open(Path(self.folder.name) / "task.pickle", "wb") as file:
            pickle.dump(task, file, protocol=pickle.HIGHEST_PROTOCOL)
        futures = [self.pool.submit(_run_in_worker, job) for job in jobs]
        parts: list = [None] * len(jobs)

        def completed() -> Iterator[int]:
            for i in reversed(range(len(jobs))):  # this process, from the end, while the others have not taken them
                if futures[i].cancel():
                    parts[i] = task.run(*jobs[i])
                    yield i
            for i, future in enumerate(futures):
                if parts[i] is None:
                    parts[i] = future.result()
                    yield i

        for _ in progress_bar(completed(), desc="road costs", unit="chunk", total=len(jobs), enabled=progress):
            pass
        return parts


def chunk_size(n_nodes: int, n_targets: int, budget: int = settings.OD_CHUNK_BYTES,
               most: int | None = None) -> int:
    """Sources per search chunk: the rows (nodes + 3 × targets, float64) fit in ``budget`` bytes, and at most
    ``most`` (default ``settings.OD_CHUNK_MAX_SOURCES``)."""
    most = settings.OD_CHUNK_MAX_SOURCES if most is None else most
    return int(max(1, min(most, budget // (8 * (n_nodes + 3 * max(n_targets, 1))))))


def search_from_points(graph: sp.csr_matrix, nodes: np.ndarray, costs: np.ndarray, limit: float = np.inf) -> np.ndarray:
    """Cost from each point (given by its legs: ``nodes``, ``costs``, k × 2) to every node, within ``limit``.

    Each point is a virtual node with an edge to each leg's node; one Dijkstra per point.
    """
    k, n = len(nodes), graph.shape[0]
    augmented = with_virtual_sources(graph, nodes, costs)
    dist = dijkstra(augmented, directed=True, indices=np.arange(n, n + k), limit=limit)
    return dist[:, :n]


def with_virtual_sources(graph: sp.csr_matrix, nodes: np.ndarray, costs: np.ndarray) -> sp.csr_matrix:
    """``graph`` plus one node per row of ``nodes``/``costs`` with edges to those nodes (infinite costs left out)."""
    n = graph.shape[0]
    k = len(nodes)
    finite = np.isfinite(costs)
    per_row = finite.sum(axis=1)
    indptr = np.concatenate([graph.indptr.astype(np.int64), graph.nnz + np.cumsum(per_row)])
    indices = np.concatenate([graph.indices.astype(np.int64), nodes[finite]])
    data = np.concatenate([graph.data, costs[finite]])
    return sp.csr_matrix((data, indices, indptr), shape=(n + k, n + k))


def _same_link_pairs(network: RoadNetwork, weight: str, origins: Connection, destinations: Connection) -> pd.DataFrame:
    """(origin, destination, cost) of the pairs on one link that may drive straight along it."""
    a = pd.DataFrame({"link": origins.link, "origin": np.arange(len(origins)), "fo": origins.fraction,
                      "co": origins.connector_m})
    b = pd.DataFrame({"link": destinations.link, "destination": np.arange(len(destinations)), "fd": destinations.fraction,
                      "cd": destinations.connector_m})
    pairs = a.merge(b, on="link")
    if not len(pairs):
        return pd.DataFrame({"origin": np.empty(0, np.int64), "destination": np.empty(0, np.int64), "cost": np.empty(0)})
    link = pairs["link"].to_numpy()
    step = (pairs["fd"] - pairs["fo"]).to_numpy()
    ok = np.where(step >= 0, network.link_forward[link], network.link_backward[link]) | (step == 0)
    cost = (np.abs(step) * network.link_cost(weight)[link]
            + (pairs["co"].to_numpy() + pairs["cd"].to_numpy()) * network.connector_rate(weight))
    pairs = pairs[ok]
    return pd.DataFrame({"origin": pairs["origin"].to_numpy(), "destination": pairs["destination"].to_numpy(), "cost": cost[ok]})


# --- nearest source and reachable supply (criteria) ----------------------------------------------

def nearest_by_road(network: RoadNetwork, sources: Connection, targets: Connection, weight: str = "length", *,
                    towards_sources: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Cost from the nearest source to every target (source → target), and that source's index (-1 if none).

    With ``towards_sources`` the cost runs from the target to its nearest source instead (on the
    reversed graph). One multi-source Dijkstra: each network node the sources reach first becomes a
    virtual source carrying the best leg onto it; targets take the cheaper of their two legs, and
    sources on a target's own link may also drive straight along it.
    """
    check_weight(weight)
    if not len(sources):
        return np.full(len(targets), np.inf), np.full(len(targets), -1, dtype=np.int64)
    n = network.n_nodes
    out_nodes, out_costs = sources.legs(network, weight, leaving=not towards_sources)
    flat_nodes, flat_costs = out_nodes.ravel(), out_costs.ravel()
    flat_source = np.repeat(np.arange(len(sources)), 2)
    finite = np.isfinite(flat_costs)
    order = np.lexsort((flat_source[finite], flat_costs[finite], flat_nodes[finite]))
    entry_nodes, entry_costs, entry_source = flat_nodes[finite][order], flat_costs[finite][order], flat_source[finite][order]
    first = np.r_[True, entry_nodes[1:] != entry_nodes[:-1]]
    entry_nodes, entry_costs, entry_source = entry_nodes[first], entry_costs[first], entry_source[first]
    k = len(entry_nodes)
    graph = network.reverse_graph(weight) if towards_sources else network.graph(weight)
    augmented = with_virtual_sources(graph, entry_nodes[:, None], entry_costs[:, None])
    dist, _, origin = dijkstra(augmented, directed=True, indices=np.arange(n, n + k), min_only=True, return_predecessors=True)
    dist, origin = dist[:n], origin[:n]
    in_nodes, in_costs = targets.legs(network, weight, leaving=towards_sources)
    via = dist[in_nodes] + in_costs
    pick = np.argmin(via, axis=1)
    rows = np.arange(len(targets))
    cost = via[rows, pick]
    node = in_nodes[rows, pick]
    source = np.where(np.isfinite(cost), entry_source[np.clip(origin[node] - n, 0, k - 1)], -1)
    direct_cost, direct_source = _same_link_best(network, weight, sources, targets, swap=towards_sources)
    better = direct_cost < cost
    cost[better], source[better] = direct_cost[better], direct_source[better]
    return cost, source


def _same_link_best(network: RoadNetwork, weight: str, sources: Connection, targets: Connection, *, swap: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """For each target, the cheapest source on its own link driving straight along it (inf, -1 if none).

    ``swap``: the drive runs from the target to the source (one-way directions swap)."""
    link_cost = network.link_cost(weight)
    rate = network.connector_rate(weight)
    n_t = len(targets)
    best = np.full(n_t, np.inf)
    best_source = np.full(n_t, -1, dtype=np.int64)
    shared = np.intersect1d(sources.link, targets.link)
    if not len(shared):
        return best, best_source
    s_rows = np.flatnonzero(np.isin(sources.link, shared))
    t_rows = np.flatnonzero(np.isin(targets.link, shared))
    link = np.concatenate([sources.link[s_rows], targets.link[t_rows]])
    pos = np.concatenate([sources.fraction[s_rows], targets.fraction[t_rows]]) * link_cost[link]
    access = np.concatenate([sources.connector_m[s_rows], targets.connector_m[t_rows]]) * rate
    is_source = np.r_[np.ones(len(s_rows), bool), np.zeros(len(t_rows), bool)]
    ident = np.concatenate([s_rows, t_rows])
    for direction in (1, -1):  # forward: sources behind the target; backward: ahead of it
        allowed = network.link_forward[link] if (direction == 1) != swap else network.link_backward[link]
        order = np.lexsort((~is_source, direction * pos, link))
        frame = pd.DataFrame({"link": link[order], "value": np.where(is_source[order] & allowed[order], access[order] - direction * pos[order], np.inf)})
        running = frame.groupby("link", sort=False)["value"].cummin().to_numpy()
        setter = np.where(is_source[order] & (frame["value"].to_numpy() == running) & np.isfinite(running), ident[order].astype(float), np.nan)
        who = pd.Series(setter).groupby(frame["link"].to_numpy(), sort=False).ffill().to_numpy()
        targets_here = ~is_source[order]
        value = running[targets_here] + direction * pos[order][targets_here] + access[order][targets_here]
        t_index = ident[order][targets_here]
        improve = value < best[t_index]
        best[t_index[improve]] = value[improve]
        best_source[t_index[improve]] = who[targets_here][improve].astype(np.int64)
    return best, best_source


def reachable_by_road(network: RoadNetwork, supply: Connection, amounts: np.ndarray, sites: Connection, limit: float,
                      weight: str = "length", *, progress: bool = False) -> np.ndarray:
    """Supply that reaches each site within ``limit`` (m or s): ``amounts`` (a × n_supply) summed per site (a × n_sites).

    Definition: every supply point delivers at its *access node*, the end of its link it reaches at the
    lowest cost (its own connector is not counted against the limit: it is the local collection leg).
    A site receives the supply of every access node ``n`` with ``d(n, u) + leg_u ≤ limit`` or
    ``d(n, v) + leg_v ≤ limit``, where ``u``, ``v`` are the ends of the site's link and ``leg`` the
    part of the link plus the site's connector. Exact for that definition: one limited Dijkstra per
    access node, in chunks.
    """
    check_weight(weight)
    amounts = np.atleast_2d(np.asarray(amounts, float))
    out_nodes, out_costs = supply.legs(network, weight, leaving=True)
    access = out_nodes[np.arange(len(supply)), np.argmin(out_costs, axis=1)]
    n = network.n_nodes
    per_node = np.stack([np.bincount(access, weights=row, minlength=n) for row in amounts])
    nodes = np.flatnonzero(np.any(per_node != 0, axis=0))
    result = np.zeros((len(amounts), len(sites)))
    if not len(nodes) or not len(sites):
        return result
    in_nodes, in_costs = sites.legs(network, weight, leaving=False)
    graph = network.graph(weight)
    chunk = int(max(1, min(len(nodes), settings.OD_CHUNK_BYTES // (8 * (n + 2 * len(sites))))))
    for start in progress_bar(list(range(0, len(nodes), chunk)), desc="reachable by road", unit="chunk", enabled=progress):
        these = nodes[start:start + chunk]
        dist = dijkstra(graph, directed=True, indices=these, limit=limit)
        reached = (dist[:, in_nodes[:, 0]] + in_costs[:, 0] <= limit) | (dist[:, in_nodes[:, 1]] + in_costs[:, 1] <= limit)
        result += per_node[:, these] @ reached
    return result
