"""Incumbents: feasible solutions, found and improved.

- :func:`greedy` (capacitated, sort-free savings) and :func:`repair` (towards feasibility);
- :func:`lagrangian_heuristic`: the Lagrangian subproblem's open set, completed;
- :func:`locate_allocate`: Cooper's alternation, each site moved to the best spot for its customers;
- :func:`descend`: vertex substitution, moves ranked by fast interchange (:func:`ranked_moves`)
  and pruned by a capacity-priced duality bound;
- :func:`shake`: variable neighbourhood search around the best solution.

Every open set is judged exactly, capacities included (:class:`Incumbents`: nearest
sites when no capacity binds, otherwise the transportation LP). Ties go to the higher
suitability score, then to the lower index, and the shakes use a seeded generator, so
the search is reproducible.
"""
from __future__ import annotations

import logging
import math
import time

import numpy as np

from .lagrangian import Relaxed
from .problem import Problem
from .transport import Assignment, arcs_of, assign, nearest

log = logging.getLogger(__name__)


class Incumbents:
    """Evaluates open sets (each once) and keeps the best feasible assignment.

    A set is first assigned to its nearest sites, ignoring capacities: that cost is
    a lower bound for the set, and exact when no capacity is exceeded. Only
    otherwise does the transport LP run; and not at all when the bound already
    exceeds ``above`` (a move that cannot beat the solution it starts from).
    """

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.best: Assignment | None = None
        self.closest: Assignment | None = None  #: while nothing is feasible: the open set leaving the least unserved
        self.evaluations = 0
        self.lps = 0
        self.first_found: float | None = None
        self._seen: set[bytes] = set()
        self._started = time.perf_counter()

    @property
    def upper(self) -> float:
        return self.best.objective if self.best is not None else math.inf

    def evaluate(self, is_open: np.ndarray, *, above: float = math.inf) -> Assignment | None:
        """The best assignment to ``is_open``, or None (seen before, or provably not below ``above``)."""
        key = np.packbits(is_open).tobytes()
        if key in self._seen:
            return None
        self._seen.add(key)
        self.evaluations += 1
        quick, exact = nearest(self.problem, is_open)
        if quick.feasible and quick.objective >= above:
            return None
        if exact:
            result = quick
        else:
            self.lps += 1
            result = assign(self.problem, is_open)
        if not result.feasible and (self.closest is None or result.shortfall < self.closest.shortfall - 1e-9):
            self.closest = result
        self.offer(result)
        return result

    def offer(self, result: Assignment) -> bool:
        """Keep ``result`` when it is feasible and better than the best so far."""
        self._seen.add(np.packbits(result.open).tobytes())
        if result.feasible and (self.best is None or result.objective < self.upper - 1e-9 * max(1.0, abs(self.upper))):
            self.best = result
            if self.first_found is None:
                self.first_found = time.perf_counter() - self._started
            return True
        return False


def repair(problem: Problem, incumbents: Incumbents, *, deadline: float, candidates: int = 8) -> bool:
    """Reach feasibility from the open set that leaves the least supply unserved.

    Repeatedly takes the closed options that reach most unserved tonnes and tries
    them in place of each open option (or in addition, where the number of sites
    is free), keeping the move that leaves the least unserved. Returns True once
    a feasible assignment exists.
    """
    while incumbents.best is None and incumbents.closest is not None and time.perf_counter() < deadline:
        start = incumbents.closest
        missing = start.unserved * problem.weight
        reach = np.bincount(problem.arc_option, weights=missing[problem.arc_demand], minlength=problem.n_options)
        reach[start.open] = -1.0
        used = set(problem.group[start.open].tolist())
        order = np.lexsort((np.arange(problem.n_options), -problem.score, -reach))
        tried = [int(t) for t in order if reach[t] > 0 and problem.group[t] not in used and not problem.fixed[t]][:candidates]
        before = start.shortfall
        open_free = np.flatnonzero(start.open & ~problem.fixed)
        add = problem.cardinality is None or (problem.cardinality == "le" and len(open_free) < problem.k)
        for t in tried:
            moves = []
            if add:
                move = start.open.copy()
                move[t] = True
                moves.append(move)
            for s in open_free:
                move = start.open.copy()
                move[s] = False
                move[t] = True
                moves.append(move)
            for move in moves:
                if time.perf_counter() > deadline:
                    break
                incumbents.evaluate(move)
            if incumbents.best is not None or (incumbents.closest is not None and incumbents.closest.shortfall < before - 1e-9):
                break
        if incumbents.best is None and (incumbents.closest is None or incumbents.closest.shortfall >= before - 1e-9):
            return False
    return incumbents.best is not None


def completed(problem: Problem, is_open: np.ndarray, value: np.ndarray) -> np.ndarray:
    """``is_open`` with options added (best Lagrangian value first) until capacity covers the supply.

    Only where the number of sites is free or bounded above with room left.
    """
    is_open = is_open.copy()
    if not problem.must_serve:
        return is_open
    need = float(problem.weight.sum())
    have = float(problem.capacity[is_open].sum())
    if have >= need:
        return is_open
    limit = problem.k if problem.cardinality in ("eq", "le") else problem.n_options
    used = set(problem.group[is_open].tolist())
    for j in _by_value(problem, value):
        if have >= need or int((is_open & ~problem.fixed).sum()) >= limit:
            break
        if is_open[j] or problem.group[j] in used:
            continue
        is_open[j] = True
        used.add(int(problem.group[j]))
        have += float(problem.capacity[j])
    return is_open


def _by_value(problem: Problem, value: np.ndarray) -> np.ndarray:
    """Non-fixed options by Lagrangian value, then suitability, then index."""
    free = np.flatnonzero(~problem.fixed)
    return free[np.lexsort((free, -problem.score[free], value[free]))]


def greedy(problem: Problem, *, unserved_cost: float | None = None) -> np.ndarray:
    """Capacitated greedy: open, one at a time, the option that saves most when filled to capacity.

    Each demand point pays its current cost (``unserved_cost`` per tonne·unit while
    unassigned); an option's saving is its knapsack over the points it would serve
    more cheaply, best saving per tonne first, up to its capacity. The points it
    takes are then assigned to it. Fixed options are opened first; stops at ``k``
    new sites, or when nothing saves anything (free cardinality).
    """
    m = problem.n_options
    if unserved_cost is None:
        per_tonne = problem.arc_cost / problem.weight[problem.arc_demand]
        top = float(per_tonne.max()) if problem.n_arcs else 0.0
        opening = float((problem.opening_cost / problem.capacity).max()) if m else 0.0
        unserved_cost = problem.penalty if not problem.must_serve else 10.0 * (top * max(1, problem.k or 1) + opening) + 1e-9
    current = unserved_cost * problem.weight
    residual = problem.capacity.copy()
    is_open = np.zeros(m, dtype=bool)
    used_groups = np.zeros(int(problem.group.max()) + 1 if m else 0, dtype=bool)
    order = list(np.flatnonzero(problem.fixed)) + [None] * (problem.k if problem.cardinality in ("eq", "le") else m)
    for forced in order:
        if forced is None:
            allowed = ~is_open & ~problem.fixed & ~used_groups[problem.group]
            value = _approximate_savings(problem, current, residual) + problem.opening_cost
            value[~allowed] = np.inf
            if not np.isfinite(value).any():
                break
            j = int(np.lexsort((np.arange(m), -problem.score, value))[0])
            if problem.cardinality != "eq" and value[j] >= 0:
                break
        else:
            j = int(forced)
        arcs = np.arange(problem.arc_start[j], problem.arc_start[j + 1])
        gain = problem.arc_cost[arcs] - current[problem.arc_demand[arcs]]
        arcs, gain = arcs[gain < 0], gain[gain < 0]
        w = problem.weight[problem.arc_demand[arcs]]
        order_j = np.lexsort((arcs, gain / w))
        arcs, w = arcs[order_j], w[order_j]
        taken = arcs[np.cumsum(w) <= residual[j] + 1e-9]
        current[problem.arc_demand[taken]] = problem.arc_cost[taken]
        residual[j] -= float(problem.weight[problem.arc_demand[taken]].sum())
        is_open[j] = True
        used_groups[problem.group[j]] = True
    return is_open


def locate_allocate(problem: Problem, incumbents: Incumbents, start: Assignment | None = None, *, deadline: float,
                    max_rounds: int = 30) -> int:
    """Cooper's alternating heuristic with capacities: move every site to the best spot for its customers, reassign.

    From ``start`` (default: the best incumbent), for each open non-fixed option
    the candidate of the same size band that reaches all of its current customers
    with the fewest tonne·km takes its place (one sparse matrix product for all
    sites at once); the transport LP then reassigns. Repeats while the objective
    improves. Returns the number of improving rounds.
    """
    from scipy import sparse

    n, m = problem.n_demand, problem.n_options
    current = start if start is not None else incumbents.best
    if current is None or not current.feasible:
        return 0
    distance = sparse.csr_matrix((problem.arc_cost / problem.weight[problem.arc_demand], (problem.arc_demand, problem.arc_option)), shape=(n, m))
    reach = sparse.csr_matrix((np.ones(problem.n_arcs), (problem.arc_demand, problem.arc_option)), shape=(n, m))
    order = np.lexsort((np.arange(m), -problem.score))
    improved = 0
    for _ in range(max_rounds):
        if time.perf_counter() > deadline:
            break
        sites = np.flatnonzero(current.open & ~problem.fixed)
        if not len(sites):
            break
        row = np.full(m, -1, dtype=np.int64)
        row[sites] = np.arange(len(sites))
        demand = problem.arc_demand[current.arcs]
        option = problem.arc_option[current.arcs]
        flow = current.share * problem.weight[demand]
        mine = row[option] >= 0
        load = sparse.csr_matrix((flow[mine], (row[option[mine]], demand[mine])), shape=(len(sites), n))
        cost = (load @ distance).toarray()
        covered = (load @ reach).toarray()
        total = np.asarray(load.sum(axis=1)).ravel()
        feasible = covered >= total[:, None] * (1 - 1e-9) - 1e-9
        same_band = (problem.capacity[None, :] == problem.capacity[sites][:, None]) & \
            (problem.opening_cost[None, :] == problem.opening_cost[sites][:, None]) & ~problem.fixed[None, :]
        cost = np.where(feasible & same_band, cost, np.inf)
        move = current.open.copy()
        taken = set(problem.group[current.open].tolist())
        changed = False
        for r in np.argsort(-total, kind="stable"):  # the busiest sites choose first
            s = sites[r]
            ranked = order[np.argsort(cost[r][order], kind="stable")]  # cheapest, then suitability, then index
            for j in ranked:
                if not cost[r, j] < cost[r, s] * (1 - 1e-9):
                    break  # staying is at least as good
                if problem.group[j] not in taken:
                    move[s] = False
                    move[j] = True
                    taken.discard(int(problem.group[s]))
                    taken.add(int(problem.group[j]))
                    changed = True
                    break
        if not changed:
            break
        result = incumbents.evaluate(move)
        if result is None or not result.feasible or result.objective >= current.objective * (1 - 1e-9):
            break
        current = result
        improved += 1
    return improved


def _approximate_savings(problem: Problem, current: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Each option's saving if it took a capacity-sized, proportional slice of the points it serves more cheaply.

    A sort-free stand-in for the knapsack (this is a heuristic: only the choice
    of the next site depends on it).
    """
    cheaper = problem.arcs_cheaper_than(current)
    option = problem.arc_option[cheaper]
    demand = problem.arc_demand[cheaper]
    saving = np.bincount(option, weights=problem.arc_cost[cheaper] - current[demand], minlength=problem.n_options)
    tonnes = np.bincount(option, weights=problem.weight[demand], minlength=problem.n_options)
    return saving * np.minimum(1.0, capacity / np.maximum(tonnes, 1e-12))


def lagrangian_heuristic(problem: Problem, relaxed: Relaxed, incumbents: Incumbents) -> Assignment | None:
    """Evaluate the subproblem's open set, completed to hold the supply (None if seen before)."""
    return incumbents.evaluate(completed(problem, relaxed.open, relaxed.value), above=incumbents.upper)


def interchange(problem: Problem, is_open: np.ndarray, rho: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Whitaker's fast interchange with site prices ``rho`` (objective per tonne; 0 for closed sites).

    Serving point i from open site j costs ``c_ij + w_i rho_j``. Each point pays ``c1``
    (its cheapest open site) unless a cheaper site opens and falls back to ``c2`` (its
    second) when that one closes. Returns the open non-fixed sites and the change of
    ``sum_i min_j (c_ij + w_i rho_j) - sum_j rho_j Q_j`` (plus opening costs) for
    every swap (close row s, open column t), add (t) and drop (s):
    ``A_t + L_s - E(s, t) + rho_s Q_s``, with ``A_t`` the gain of opening t, ``L_s`` the
    loss of closing s and ``E`` their overlap. With ``rho = 0`` this is the exact
    change without capacities; with the LP's capacity duals it is, by duality, a lower
    bound on the change of the LP value. One pass over the arcs.
    """
    n, m = problem.n_demand, problem.n_options
    fallback = problem.penalty * problem.weight if not problem.must_serve else np.full(n, 10.0 * float(problem.arc_cost.max(initial=1.0)) + 1.0)
    open_arcs = arcs_of(problem, np.flatnonzero(is_open))
    arc_d = problem.arc_demand[open_arcs]
    priced = problem.arc_cost[open_arcs] + problem.weight[arc_d] * rho[problem.arc_option[open_arcs]]
    order = np.lexsort((problem.arc_option[open_arcs], priced, arc_d))
    arc_d, priced, arc_o = arc_d[order], priced[order], problem.arc_option[open_arcs][order]
    first = np.r_[True, arc_d[1:] != arc_d[:-1]] if len(arc_d) else np.zeros(0, bool)
    second = np.r_[False, first[:-1]] & ~first if len(arc_d) else np.zeros(0, bool)
    c1 = fallback.copy()
    c1[arc_d[first]] = np.minimum(priced[first], fallback[arc_d[first]])
    main = np.full(n, -1, dtype=np.int64)
    main[arc_d[first]] = np.where(priced[first] <= fallback[arc_d[first]], arc_o[first], -1)
    c2 = fallback.copy()
    c2[arc_d[second]] = np.minimum(priced[second], fallback[arc_d[second]])
    c2 = np.maximum(c2, c1)
    cheaper = problem.arcs_cheaper_than(c1)  # A_t: points t would serve more cheaply
    gain = np.bincount(problem.arc_option[cheaper], weights=problem.arc_cost[cheaper] - c1[problem.arc_demand[cheaper]], minlength=m)
    sites = np.flatnonzero(is_open & ~problem.fixed)
    row = np.full(m, -1, dtype=np.int64)
    row[sites] = np.arange(len(sites))
    of_site = (main >= 0) & (row[main.clip(0)] >= 0)
    loss = np.bincount(row[main[of_site]], weights=(c2 - c1)[of_site], minlength=len(sites))  # L_s
    between = problem.arcs_cheaper_than(c2)  # E(s, t): s's points that t serves below c2 do not fall back all the way
    d = problem.arc_demand[between]
    keep = of_site[d]
    between, d = between[keep], d[keep]
    saved = c2[d] - np.maximum(problem.arc_cost[between], c1[d])
    overlap = np.bincount(row[main[d]] * m + problem.arc_option[between], weights=saved, minlength=len(sites) * m).reshape(len(sites), m)
    give_back = rho[sites] * problem.capacity[sites]
    swap = gain[None, :] + (loss + give_back)[:, None] - overlap + problem.opening_cost[None, :] - problem.opening_cost[sites][:, None]
    add = gain + problem.opening_cost
    drop = loss + give_back - problem.opening_cost[sites]
    return sites, swap, add, drop


def ranked_moves(problem: Problem, current: Assignment, *, limit: int = 10) -> list[np.ndarray]:
    """Open sets one move away from ``current`` that may improve it, best estimate first (at most ``limit``).

    Moves are ranked by their exact change without capacities (:func:`interchange`
    with ``rho = 0``); moves whose lower bound with the LP's capacity prices is not
    negative cannot improve the LP value and are left out. The LP judges the rest.
    Adds and drops are ranked alongside where the number of sites may change.
    """
    m = problem.n_options
    is_open = current.open
    sites, estimate, add_est, drop_est = interchange(problem, is_open, np.zeros(m))
    rho = current.site_price if current.site_price is not None else np.zeros(m)
    if rho.any():
        _, bound, add_bound, drop_bound = interchange(problem, is_open, rho)
    else:
        bound, add_bound, drop_bound = estimate, add_est, drop_est
    used = np.zeros(int(problem.group.max()) + 1, dtype=bool)
    used[problem.group[is_open]] = True
    can_open = ~is_open & ~problem.fixed
    moves: list[tuple[float, float, int, int]] = []  # (estimate, -score, out, in)
    if len(sites):
        same_place = problem.group[None, :] == problem.group[sites][:, None]
        allowed = can_open[None, :] & (~used[problem.group][None, :] | same_place) & (bound < -1e-9)
        ranked = np.where(allowed, estimate, np.inf)
        for f in np.argsort(ranked, axis=None, kind="stable")[: 4 * limit]:
            s_row, t = divmod(int(f), m)
            if np.isfinite(ranked[s_row, t]):
                moves.append((float(ranked[s_row, t]), -float(problem.score[t]), int(sites[s_row]), t))
    n_free = len(sites)
    if problem.cardinality is None or (problem.cardinality == "le" and n_free < problem.k):
        ranked = np.where(can_open & ~used[problem.group] & (add_bound < -1e-9), add_est, np.inf)
        for t in np.argsort(ranked, kind="stable")[:limit]:
            if np.isfinite(ranked[t]):
                moves.append((float(ranked[t]), -float(problem.score[t]), -1, int(t)))
    if n_free and (problem.cardinality is None and n_free > problem.min_new_sites or problem.cardinality == "le"):
        ranked = np.where(drop_bound < -1e-9, drop_est, np.inf)
        for r in np.argsort(ranked, kind="stable")[:limit]:
            if np.isfinite(ranked[r]):
                moves.append((float(ranked[r]), 0.0, int(sites[r]), -1))
    moves.sort()
    result = []
    for _, _, out, into in moves[:limit]:
        move = is_open.copy()
        if out >= 0:
            move[out] = False
        if into >= 0:
            move[into] = True
        result.append(move)
    return result


def descend(problem: Problem, incumbents: Incumbents, start: Assignment | None = None, *, deadline: float, tries: int = 10,
            max_moves: int = 200, ranked: int = 60) -> Assignment | None:
    """Vertex substitution from ``start`` (default: the best incumbent), moves ranked by :func:`ranked_moves`.

    Takes the first of the ``ranked`` best-ranked moves that improves the current
    solution, solving at most ``tries`` of them (moves whose bounds show they cannot
    improve cost nothing); stops when none does, after ``max_moves`` moves, or at
    the deadline. Returns the local optimum reached.
    """
    current = start if start is not None else incumbents.best
    if current is None or not current.feasible:
        return current
    for _ in range(max_moves):
        if time.perf_counter() > deadline:
            break
        solved = 0
        improved = False
        for move in ranked_moves(problem, current, limit=ranked):
            if time.perf_counter() > deadline or solved >= tries:
                break
            result = incumbents.evaluate(move, above=current.objective)
            if result is None:
                continue
            solved += 1
            if result.feasible and result.objective < current.objective * (1 - 1e-12):
                current = result
                improved = True
                break
        if not improved:
            break
    return current


def local_search(problem: Problem, incumbents: Incumbents, *, deadline: float, tries: int = 10) -> None:
    """Alternate vertex substitution and locate-allocate from the best incumbent until neither improves it."""
    while incumbents.best is not None and time.perf_counter() < deadline:
        before = incumbents.upper
        descend(problem, incumbents, deadline=deadline, tries=tries)
        locate_allocate(problem, incumbents, deadline=deadline)
        if incumbents.upper >= before:
            break


#: Improving moves a descent after a shake may make.
SHAKE_MOVES = 30


def shake(problem: Problem, incumbents: Incumbents, rng: np.random.Generator, *, deadline: float, rounds: int) -> int:
    """Variable neighbourhood search: perturb the best solution by 1-3 random swaps, descend, keep what is better.

    Sites to close are drawn uniformly; sites to open with probability growing
    with the tonnes they could take over. ``rng`` is seeded by the caller, so the
    sequence is reproducible. Returns the number of rounds that improved the best.
    """
    improved = 0
    for r in range(rounds):
        best = incumbents.best
        if best is None or time.perf_counter() > deadline:
            break
        size = 1 + r % 3
        sites = np.flatnonzero(best.open & ~problem.fixed)
        if len(sites) < size:
            break
        demand = problem.arc_demand[best.arcs]
        cost_now = np.bincount(demand, weights=best.share * problem.arc_cost[best.arcs], minlength=problem.n_demand)
        cheaper = problem.arcs_cheaper_than(cost_now)
        pull = np.bincount(problem.arc_option[cheaper], weights=problem.weight[problem.arc_demand[cheaper]], minlength=problem.n_options)
        used = np.zeros(int(problem.group.max()) + 1, dtype=bool)
        used[problem.group[best.open]] = True
        pull[best.open | problem.fixed | used[problem.group]] = 0.0
        if pull.sum() <= 0:
            break
        into = rng.choice(problem.n_options, size=min(size, int((pull > 0).sum())), replace=False, p=pull / pull.sum())
        if len(np.unique(problem.group[into])) < len(into):
            continue
        out = rng.choice(sites, size=len(into), replace=False)
        move = best.open.copy()
        move[out] = False
        move[into] = True
        start = incumbents.evaluate(move)
        if start is None or not start.feasible:
            continue
        before = incumbents.upper
        descend(problem, incumbents, start, deadline=deadline, max_moves=SHAKE_MOVES)
        locate_allocate(problem, incumbents, deadline=deadline, max_rounds=10)
        if incumbents.upper < before:
            improved += 1
    return improved
