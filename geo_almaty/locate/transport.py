"""Assignment for a given set of open sites: a transportation LP (or, single-sourced, a MIP) in HiGHS.

Columns are the arcs into the open options (``x_a``: share of the demand point's
supply) and one slack per demand point (its unserved share). Rows: every demand
point's shares add up to 1; every open option holds at most its capacity. When
everything must be served, the slack carries a cost above any rerouting, so a
positive slack means the open sites cannot hold or reach the supply.
"""
from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass

import highspy
import numpy as np

from .problem import Problem

#: Unserved share below which a demand point counts as fully served (floating-point noise of the LP).
SERVED_TOLERANCE = 1e-7


@dataclass
class Assignment:
    """Which open option serves which share of every demand point, and what it costs."""

    open: np.ndarray        #: (m,) bool
    arcs: np.ndarray        #: indices into the problem's arcs with a positive share
    share: np.ndarray       #: share of the demand point's supply on each of ``arcs`` (0-1]
    unserved: np.ndarray    #: (n,) unserved share of each demand point
    objective: float        #: opening costs + transport + unserved penalty (objective units)
    feasible: bool          #: False when a must-serve problem leaves supply unserved
    shortfall: float = 0.0  #: unserved t/yr when everything must be served (0 when feasible)
    site_price: np.ndarray | None = None  #: (m,) capacity price of each open option (LP dual, objective per tonne; 0 if slack)

    def tonnes_by_option(self, problem: Problem) -> np.ndarray:
        """Assigned t/yr per option."""
        flow = self.share * problem.weight[problem.arc_demand[self.arcs]]
        return np.bincount(problem.arc_option[self.arcs], weights=flow, minlength=problem.n_options)


def arcs_of(problem: Problem, options: np.ndarray) -> np.ndarray:
    """Indices of every arc leaving ``options`` (ascending within each option)."""
    options = np.asarray(options, dtype=np.int64)
    starts = problem.arc_start[options]
    counts = problem.arc_start[options + 1] - starts
    total = int(counts.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.r_[0, np.cumsum(counts)[:-1]], counts)
    return np.arange(total, dtype=np.int64) + offsets


_QUIET = {"done": False}


def _first_highs() -> highspy.Highs:
    """The first HiGHS object prints a banner on the C-level stdout; the library must not print, so hide it."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            h = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    _QUIET["done"] = True
    return h


def new_highs(*, time_limit: float | None = None, mip_gap: float | None = None) -> highspy.Highs:
    """A quiet, single-threaded (hence deterministic) HiGHS instance."""
    h = highspy.Highs() if _QUIET["done"] else _first_highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("presolve", "off")  # the transport LPs are small and re-solved often: presolve costs more than it saves
    if time_limit is not None:
        h.setOptionValue("time_limit", max(float(time_limit), 0.01))
    if mip_gap is not None:
        h.setOptionValue("mip_rel_gap", float(mip_gap))
    return h


def nearest(problem: Problem, is_open: np.ndarray) -> tuple[Assignment, bool]:
    """Every demand point to its cheapest open option, ignoring capacities.

    Its objective is a lower bound on any assignment to ``is_open``, and *the*
    optimum when no capacity is exceeded (second value True). Ties go to the
    lower option index. Points that no open option reaches stay unserved.
    """
    n = problem.n_demand
    arcs = arcs_of(problem, np.flatnonzero(is_open))
    demand = problem.arc_demand[arcs]
    order = np.lexsort((problem.arc_option[arcs], problem.arc_cost[arcs], demand))
    first = order[np.r_[True, demand[order][1:] != demand[order][:-1]]] if len(order) else order
    chosen = arcs[first]
    unserved = np.ones(n)
    if not problem.must_serve:  # leaving a point unserved may be cheaper than its nearest site
        cheaper = problem.arc_cost[chosen] <= problem.penalty * problem.weight[problem.arc_demand[chosen]]
        chosen = chosen[cheaper]
    unserved[problem.arc_demand[chosen]] = 0.0
    load = np.bincount(problem.arc_option[chosen], weights=problem.weight[problem.arc_demand[chosen]], minlength=problem.n_options)
    within = bool((load <= problem.capacity * (1 + 1e-12) + 1e-9).all())
    feasible = not problem.must_serve or not unserved.any()
    opening = float(problem.opening_cost[is_open].sum())
    transport = float(problem.arc_cost[chosen].sum())
    bound = opening + transport + (0.0 if problem.must_serve else float(problem.penalty * (problem.weight @ unserved)))
    shortfall = float(problem.weight @ unserved) if problem.must_serve else 0.0
    result = Assignment(is_open.copy(), np.sort(chosen), np.ones(len(chosen)), unserved, bound if feasible else math.inf, feasible,
                        shortfall=shortfall, site_price=np.zeros(problem.n_options))
    return result, within and feasible


def assign(problem: Problem, is_open: np.ndarray, *, single_source: bool = False, time_limit: float | None = None) -> Assignment:
    """The cheapest assignment of every demand point to the ``is_open`` options (HiGHS)."""
    is_open = np.asarray(is_open, dtype=bool)
    n = problem.n_demand
    options = np.flatnonzero(is_open)
    arcs = arcs_of(problem, options)
    opening = float(problem.opening_cost[is_open].sum())
    if not len(arcs):
        unserved = np.ones(n)
        feasible = not n or not problem.must_serve
        return Assignment(is_open, arcs, np.zeros(0), unserved, _objective(problem, opening, 0.0, unserved) if feasible else math.inf,
                          feasible, shortfall=0.0 if feasible else float(problem.weight.sum()))
    row_of_option = np.full(problem.n_options, -1, dtype=np.int64)
    row_of_option[options] = n + np.arange(len(options))
    demand = problem.arc_demand[arcs].astype(np.int64)
    n_arcs = len(arcs)
    # Column-wise matrix: each arc in its demand row and its option's capacity row, then one slack per demand row.
    starts = np.r_[np.arange(0, 2 * n_arcs, 2), 2 * n_arcs + np.arange(n)].astype(np.int32)
    index = np.empty(2 * n_arcs + n, dtype=np.int32)
    index[0:2 * n_arcs:2] = demand
    index[1:2 * n_arcs:2] = row_of_option[problem.arc_option[arcs]]
    index[2 * n_arcs:] = np.arange(n)
    values = np.empty(2 * n_arcs + n)
    values[0:2 * n_arcs:2] = 1.0
    values[1:2 * n_arcs:2] = problem.weight[demand]
    values[2 * n_arcs:] = 1.0
    cost = problem.arc_cost[arcs]
    slack_cost = slack_penalty(problem, cost, len(options))
    lp = highspy.HighsLp()
    lp.num_col_ = n_arcs + n
    lp.num_row_ = n + len(options)
    lp.col_cost_ = np.r_[cost, slack_cost]
    lp.col_lower_ = np.zeros(n_arcs + n)
    lp.col_upper_ = np.ones(n_arcs + n)
    lp.row_lower_ = np.r_[np.ones(n), np.full(len(options), -highspy.kHighsInf)]
    lp.row_upper_ = np.r_[np.ones(n), problem.capacity[options]]
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.r_[starts, 2 * n_arcs + n].astype(np.int32)
    lp.a_matrix_.index_ = index
    lp.a_matrix_.value_ = values
    if single_source:
        lp.integrality_ = [highspy.HighsVarType.kInteger] * (n_arcs + n)
    h = new_highs(time_limit=time_limit, mip_gap=1e-6 if single_source else None)
    h.passModel(lp)
    h.run()
    result = h.getSolution()
    solution = np.asarray(result.col_value)
    site_price = np.zeros(problem.n_options)
    if result.dual_valid:
        site_price[options] = np.maximum(0.0, -np.asarray(result.row_dual)[n:])
    if len(solution) != n_arcs + n:  # no solution (time limit before the first one)
        unserved = np.ones(n)
        return Assignment(is_open, np.zeros(0, dtype=np.int64), np.zeros(0), unserved, math.inf, False, shortfall=float(problem.weight.sum()))
    share = solution[:n_arcs]
    if single_source:
        share = np.round(share)
    unserved = np.clip(1.0 - np.bincount(demand, weights=share, minlength=n), 0.0, 1.0)
    unserved[unserved < SERVED_TOLERANCE] = 0.0
    keep = share > SERVED_TOLERANCE
    share = np.minimum(share[keep], 1.0)
    transport = float(problem.arc_cost[arcs[keep]] @ share)
    feasible = not problem.must_serve or not unserved.any()
    objective = _objective(problem, opening, transport, unserved) if feasible else math.inf
    shortfall = float(problem.weight @ unserved) if problem.must_serve else 0.0
    return Assignment(is_open, arcs[keep], share, unserved, objective, feasible, shortfall=shortfall, site_price=site_price)


def slack_penalty(problem: Problem, arc_cost: np.ndarray, n_open: int) -> np.ndarray:
    """Cost of an unserved share per demand point: the model's penalty, or a price above any rerouting."""
    if not problem.must_serve:
        return problem.penalty * problem.weight
    top = float(arc_cost.max()) if len(arc_cost) else 1.0
    return np.full(problem.n_demand, (2 * n_open + 2) * max(top, 1.0) + 1.0)


def _objective(problem: Problem, opening: float, transport: float, unserved: np.ndarray) -> float:
    penalty = 0.0 if problem.must_serve else float(problem.penalty * (problem.weight @ unserved))
    return opening + transport + penalty
