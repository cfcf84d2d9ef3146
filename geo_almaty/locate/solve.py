"""The solver: Lagrangian bounds, heuristic incumbents, then a reduced MIP, until a proven gap or a limit.

1. Subgradient ascent on the Lagrangian dual (:mod:`lagrangian`); every few steps
   the subproblem's open set is completed and evaluated exactly (transport LP).
2. Vertex substitution from the best incumbent (:mod:`heuristics`); a second
   subgradient phase then uses the better upper bound.
3. If the gap is still above the target: reduced-cost fixing and a reduced MIP in
   HiGHS over the options that remain (:mod:`mip`).

The gap reported is ``(upper - lower) / upper``, both bounds proven. The work is
bounded by iteration and evaluation counts, so a run that reaches its gap target
is deterministic; a run stopped by the time limit says so.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np

from .. import settings
from ..errors import LocateError
from ..progress import progress_counter
from .heuristics import Incumbents, greedy, lagrangian_heuristic, local_search, repair, shake
from .lagrangian import Subgradient, fixable_options, min_new_sites
from .mip import kernel_search, reduced_mip
from .problem import Problem
from .transport import Assignment, assign

log = logging.getLogger(__name__)

#: Default relative gap at which the solver stops, and time limit (s).
DEFAULT_GAP = settings.DEFAULT_LOCATE_GAP
DEFAULT_TIME_LIMIT = settings.DEFAULT_LOCATE_TIME_LIMIT
#: Subgradient steps between two evaluations of the subproblem's open set.
HEURISTIC_EVERY = 10
#: Subgradient steps in all (the ascent also ends when its step size has shrunk).
MAX_STEPS = 1000
#: Rounds of (subgradient steps, then VNS shakes): STEPS_PER_ROUND steps and one shake while the bound still
#: rises, SHAKES_PER_ROUND shakes once it has settled.
MAX_ROUNDS = 2000
STEPS_PER_ROUND = 50
SHAKES_PER_ROUND = 3
#: Rounds of shakes still tried once the bound has stopped improving.
ROUNDS_AFTER_BOUND = 300
#: Kernel search: options in the restricted MIP, and its share of the time limit.
KERNEL_SIZE = 80
KERNEL_TIME_SHARE = 0.25
#: Subgradient steps after which the bound has mostly settled and the kernel search runs (if not before).
KERNEL_AFTER_STEPS = 200
#: Largest reduced MIP handed to HiGHS (arcs left after reduced-cost fixing).
MAX_MIP_ARCS = 150_000
#: Share of the time limit the first local search may take before the bound is computed.
FIRST_SEARCH_SHARE = 0.15
#: Seed of the VNS shakes: runs are reproducible.
SEED = 20190101


@dataclass
class Milestones:
    """Seconds from the start until the first incumbent and until the gap fell to 1 % and 0.1 %."""

    first_incumbent: float | None = None
    gap_1pct: float | None = None
    gap_01pct: float | None = None

    def update(self, elapsed: float, gap: float, has_incumbent: bool) -> None:
        if has_incumbent and self.first_incumbent is None:
            self.first_incumbent = elapsed
        if gap <= 0.01 and self.gap_1pct is None:
            self.gap_1pct = elapsed
        if gap <= 0.001 and self.gap_01pct is None:
            self.gap_01pct = elapsed


@dataclass
class Solution:
    """The best assignment found, with its proven lower bound."""

    problem: Problem
    assignment: Assignment
    lower_bound: float
    status: str                   #: 'optimal', 'gap reached', 'time limit', 'no further progress'
    elapsed: float
    iterations: int
    evaluations: int
    milestones: Milestones
    mip: dict | None = None
    trace: list[tuple[float, float, float]] = field(default_factory=list)  #: (seconds, lower, upper)

    @property
    def objective(self) -> float:
        return self.assignment.objective

    @property
    def gap(self) -> float:
        return relative_gap(self.lower_bound, self.objective)


def relative_gap(lower: float, upper: float) -> float:
    """``(upper - lower) / |upper|`` (0 when both are 0, inf without an upper bound)."""
    if not math.isfinite(upper):
        return math.inf
    if upper == 0:
        return 0.0 if lower >= -1e-12 else math.inf
    return max(0.0, (upper - lower) / abs(upper))


def solve(problem: Problem, *, gap: float = DEFAULT_GAP, time_limit: float = DEFAULT_TIME_LIMIT, single_source: bool = False,
          use_mip: bool = True, progress: bool = False, label: str = "locate", integral: bool = False,
          start: np.ndarray | None = None) -> Solution:
    """Solve ``problem`` to within ``gap`` (relative, proven) or until ``time_limit`` seconds.

    Single-sourced solutions are searched with splittable assignments (a relaxation)
    and made single-sourced at the end (generalised assignment in HiGHS); the
    lower bound stays valid for them. ``integral``: the objective only takes
    integer values (a count of sites), so the bound is rounded up. ``start``: an
    open set to begin from.
    """
    started = time.perf_counter()
    deadline = started + time_limit
    problem.check_feasible()
    if problem.cardinality is None and not problem.min_new_sites:
        problem.min_new_sites = min_new_sites(problem)
    incumbents = Incumbents(problem)
    milestones = Milestones()
    trace: list[tuple[float, float, float]] = []
    subgradient: Subgradient | None = None

    def lower() -> float:
        if subgradient is None or subgradient.best is None:
            return -math.inf
        return math.ceil(subgradient.best_bound - 1e-6) if integral else subgradient.best_bound

    def current_gap() -> float:
        return relative_gap(lower(), incumbents.upper)

    def record() -> None:
        elapsed = time.perf_counter() - started
        if milestones.first_incumbent is None and incumbents.first_found is not None:
            milestones.first_incumbent = incumbents.first_found
        milestones.update(elapsed, current_gap(), incumbents.best is not None)
        trace.append((elapsed, lower(), incumbents.upper))

    def done() -> bool:
        return current_gap() <= gap or time.perf_counter() > deadline

    rng = np.random.default_rng(SEED)
    with progress_counter(total=None, desc=label, unit="round", enabled=progress) as bar:
        if start is not None:
            incumbents.evaluate(np.asarray(start, dtype=bool))
        incumbents.evaluate(greedy(problem))
        if incumbents.best is None:
            repair(problem, incumbents, deadline=deadline)
        local_search(problem, incumbents, deadline=min(deadline, time.perf_counter() + FIRST_SEARCH_SHARE * time_limit))
        subgradient = Subgradient(problem, theta=1.0, patience=10, scale=problem.weight)
        subgradient.evaluate()
        record()
        after_bound = 0
        kernel_tried = False
        mip_info: dict | None = None

        def close_gap(share: float) -> dict:
            """Reduced-cost fixing, then the reduced MIP in HiGHS when it is small enough (``share`` of the time left)."""
            never, always = fixable_options(problem, subgradient.best, incumbents.upper)
            arcs = int(np.diff(problem.arc_start)[~never].sum())
            info = {"fixed_closed": int(never.sum()), "fixed_open": int((always & ~problem.fixed).sum())}
            if arcs > MAX_MIP_ARCS:
                return {**info, "skipped": f"{arcs:,} arcs left after reduced-cost fixing (limit {MAX_MIP_ARCS:,})"}
            result = reduced_mip(problem, ~never, always, incumbents.best, gap=gap, single_source=False,
                                 time_limit=max(share * (deadline - time.perf_counter()), 0.05), strong=problem.transport_weight > 0)
            if result.assignment is not None:
                incumbents.offer(result.assignment)
            if result.dual_bound > subgradient.best_bound:
                subgradient.best_bound = min(result.dual_bound, incumbents.upper)
            return {**info, "options": result.options, "arcs": result.arcs, "status": result.status, "dual_bound": result.dual_bound}

        for _ in range(MAX_ROUNDS):
            if done():
                break
            stalled = subgradient.converged or subgradient.iterations >= MAX_STEPS
            after_bound += stalled
            for step in range(0 if stalled else STEPS_PER_ROUND):
                relaxed = subgradient.step(incumbents.upper)
                if step % HEURISTIC_EVERY == 0 or incumbents.best is None:
                    lagrangian_heuristic(problem, relaxed, incumbents)
                if incumbents.best is None:
                    repair(problem, incumbents, deadline=deadline)
                if done() or subgradient.converged:
                    break
            record()
            if done():
                break
            settled = stalled or subgradient.iterations >= KERNEL_AFTER_STEPS
            if settled and not kernel_tried and subgradient.best is not None and incumbents.best is not None:
                kernel_tried = True  # once the bound has settled: a restricted MIP around the incumbent, then the reduced MIP
                found = kernel_search(problem, subgradient.best.value, incumbents.best, size=KERNEL_SIZE,
                                      time_limit=max(0.05, min(KERNEL_TIME_SHARE * time_limit, deadline - time.perf_counter())))
                if found is not None:
                    incumbents.offer(found)
                    local_search(problem, incumbents, deadline=deadline)
                if use_mip and not done():
                    mip_info = close_gap(0.5)
                record()
                if done():
                    break
            shake(problem, incumbents, rng, deadline=deadline, rounds=SHAKES_PER_ROUND if stalled else 1)
            record()
            bar.update(1)
            bar.set_postfix_str(f"gap {_percent(current_gap())}")
            if after_bound >= ROUNDS_AFTER_BOUND:
                break
        if not done() and use_mip and incumbents.best is not None and subgradient.best is not None:
            mip_info = close_gap(1.0)
            record()
    if incumbents.best is None:
        short = incumbents.closest.shortfall if incumbents.closest is not None else float(problem.weight.sum())
        raise LocateError(f"no feasible solution found: the best set of sites still leaves {short:,.0f} t/yr unserved",
                          column="locate/max_haul_m", expected="more sites, a larger size band, a longer haul or a longer time limit")
    best = incumbents.best
    if single_source:
        best = assign(problem, best.open, single_source=True, time_limit=max(deadline - time.perf_counter(), 5.0))
        if not best.feasible:
            raise LocateError("the sites found cannot serve every demand point from a single site within capacity",
                              column="single_source", expected="splittable assignment, more sites or a larger size band")
    bound = min(lower(), best.objective)
    final_gap = relative_gap(bound, best.objective)
    if final_gap <= 1e-9:
        status = "optimal"
    elif final_gap <= gap:
        status = "gap reached"
    elif time.perf_counter() > deadline:
        status = "time limit"
    else:
        status = "no further progress"
    elapsed = time.perf_counter() - started
    log.info("%s: objective %.6g, bound %.6g, gap %s, %s after %.1f s (%d steps, %d evaluations, %d LPs)", label, best.objective,
             bound, _percent(final_gap), status, elapsed, subgradient.iterations, incumbents.evaluations, incumbents.lps)
    return Solution(problem, best, bound, status, elapsed, subgradient.iterations, incumbents.evaluations, milestones, mip_info, trace)


def _percent(value: float) -> str:
    return "inf" if not math.isfinite(value) else f"{100 * value:.3f} %"
