"""Close the gap with a reduced MIP in HiGHS: only the options the Lagrangian bound cannot rule out.

The reduced model is the strong formulation (``x_ij <= y_j`` for every arc) over
the options left after reduced-cost fixing, warm-started from the incumbent and
cut off at its objective, so HiGHS only searches for something better and proves
a bound. Its dual bound is valid for the full problem because the options it
leaves out cannot be open in any solution better than the incumbent.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import highspy
import numpy as np

from .problem import Problem
from .transport import SERVED_TOLERANCE, Assignment, arcs_of, new_highs

log = logging.getLogger(__name__)

#: Largest restricted MIP tried by the kernel search (arcs).
MAX_KERNEL_ARCS = 40_000
#: Fewest options a kernel must add to the incumbent's to be worth a MIP.
MIN_KERNEL_EXTRA = 5


@dataclass
class MipResult:
    assignment: Assignment | None  #: a better solution, if HiGHS found one
    dual_bound: float              #: HiGHS's proven lower bound on the reduced (hence the full) problem
    status: str                    #: HiGHS model status
    options: int                   #: options in the reduced model
    arcs: int                      #: arcs in the reduced model


def reduced_mip(problem: Problem, keep: np.ndarray, fixed_open: np.ndarray, incumbent: Assignment, *, gap: float,
                time_limit: float, single_source: bool = False, strong: bool = True) -> MipResult:
    """Solve the problem restricted to the options in ``keep`` (``fixed_open`` forced open) with HiGHS.

    ``strong``: one row ``x_ij <= y_j`` per arc (the tight formulation for haul costs);
    otherwise one cover row per demand point (some open option reaches it), far
    fewer rows, which suits counting sites when haul costs are zero.
    """
    n = problem.n_demand
    options = np.flatnonzero(keep | fixed_open | problem.fixed)
    arcs = arcs_of(problem, options)
    n_opt, n_arc = len(options), len(arcs)
    position = np.full(problem.n_options, -1, dtype=np.int64)
    position[options] = np.arange(n_opt)
    demand = problem.arc_demand[arcs].astype(np.int64)
    arc_pos = position[problem.arc_option[arcs]]
    w = problem.weight
    has_slack = not problem.must_serve
    # Columns: y (options), x (arcs), u (demand, only with a finite penalty).
    n_col = n_opt + n_arc + (n if has_slack else 0)
    y_col = np.arange(n_opt)
    x_col = n_opt + np.arange(n_arc)
    cost = np.r_[problem.opening_cost[options], problem.arc_cost[arcs], problem.penalty * w if has_slack else np.zeros(0)]
    lower = np.zeros(n_col)
    upper = np.ones(n_col)
    forced = fixed_open[options] | problem.fixed[options]
    lower[y_col[forced]] = 1.0
    rows, cols, vals, row_lo, row_hi = [], [], [], [], []
    row = 0

    def add(r: np.ndarray, c: np.ndarray, v: np.ndarray) -> None:
        rows.append(r)
        cols.append(c)
        vals.append(v)

    # Every demand point: shares (and its unserved share) add up to 1.
    add(demand, x_col, np.ones(n_arc))
    if has_slack:
        add(np.arange(n), n_opt + n_arc + np.arange(n), np.ones(n))
    row_lo.append(np.ones(n))
    row_hi.append(np.ones(n))
    row += n
    # Capacity: sum w_i x_ij - Q_j y_j <= 0.
    add(row + arc_pos, x_col, w[demand])
    add(row + np.arange(n_opt), y_col, -problem.capacity[options])
    row_lo.append(np.full(n_opt, -highspy.kHighsInf))
    row_hi.append(np.zeros(n_opt))
    row += n_opt
    if strong:  # x_ij <= y_j
        add(row + np.arange(n_arc), x_col, np.ones(n_arc))
        add(row + np.arange(n_arc), y_col[arc_pos], -np.ones(n_arc))
        row_lo.append(np.full(n_arc, -highspy.kHighsInf))
        row_hi.append(np.zeros(n_arc))
        row += n_arc
    elif problem.must_serve:  # every demand point has an open option within reach
        add(row + demand, y_col[arc_pos], np.ones(n_arc))
        row_lo.append(np.ones(n))
        row_hi.append(np.full(n, highspy.kHighsInf))
        row += n
    free = ~(problem.fixed[options])
    if problem.cardinality in ("eq", "le") and free.any():
        add(np.full(int(free.sum()), row), y_col[free], np.ones(int(free.sum())))
        row_lo.append(np.array([problem.k if problem.cardinality == "eq" else -highspy.kHighsInf]))
        row_hi.append(np.array([float(problem.k)]))
        row += 1
    elif problem.min_new_sites and free.any():
        add(np.full(int(free.sum()), row), y_col[free], np.ones(int(free.sum())))
        row_lo.append(np.array([float(problem.min_new_sites)]))
        row_hi.append(np.array([highspy.kHighsInf]))
        row += 1
    groups = problem.group[options]
    uniq, first, counts = np.unique(groups, return_index=True, return_counts=True)
    shared = np.isin(groups, uniq[counts > 1])
    if shared.any():  # at most one size band per location
        g_row = row + np.searchsorted(uniq[counts > 1], groups[shared])
        add(g_row, y_col[shared], np.ones(int(shared.sum())))
        n_g = int((counts > 1).sum())
        row_lo.append(np.full(n_g, -highspy.kHighsInf))
        row_hi.append(np.ones(n_g))
        row += n_g
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    v = np.concatenate(vals)
    order = np.lexsort((r, c))
    lp = highspy.HighsLp()
    lp.num_col_ = n_col
    lp.num_row_ = row
    lp.col_cost_ = cost
    lp.col_lower_ = lower
    lp.col_upper_ = upper
    lp.row_lower_ = np.concatenate(row_lo)
    lp.row_upper_ = np.concatenate(row_hi)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.searchsorted(c[order], np.arange(n_col + 1)).astype(np.int32)
    lp.a_matrix_.index_ = r[order].astype(np.int32)
    lp.a_matrix_.value_ = v[order]
    integrality = np.full(n_col, highspy.HighsVarType.kContinuous)
    integrality[y_col] = highspy.HighsVarType.kInteger
    if single_source:
        integrality[x_col] = highspy.HighsVarType.kInteger
        if has_slack:
            integrality[n_opt + n_arc:] = highspy.HighsVarType.kInteger
    lp.integrality_ = list(integrality)
    h = new_highs(time_limit=time_limit, mip_gap=gap)
    h.setOptionValue("presolve", "on")  # unlike the small transport LPs, the MIP gains from presolve
    h.setOptionValue("objective_bound", float(incumbent.objective) * (1 + 1e-9) + 1e-9)
    h.passModel(lp)
    start = _warm_start(problem, incumbent, options, arcs, n_col, has_slack)
    if start is not None:
        sol = highspy.HighsSolution()
        sol.col_value = list(start)
        sol.value_valid = True
        h.setSolution(sol)
    h.run()
    info = h.getInfo()
    status = h.modelStatusToString(h.getModelStatus())
    dual = float(info.mip_dual_bound) if math.isfinite(info.mip_dual_bound) else -math.inf
    if h.getModelStatus() == highspy.HighsModelStatus.kInfeasible:
        dual = float(incumbent.objective)  # nothing below the cutoff: the incumbent is optimal
    result = None
    values = np.asarray(h.getSolution().col_value)
    if info.primal_solution_status == 2 and len(values) == n_col:  # kSolutionStatusFeasible
        y = values[y_col] > 0.5
        share = values[x_col]
        if single_source:
            share = np.round(share)
        keep_arc = share > SERVED_TOLERANCE
        is_open = np.zeros(problem.n_options, dtype=bool)
        is_open[options[y]] = True
        unserved = np.clip(1.0 - np.bincount(demand[keep_arc], weights=share[keep_arc], minlength=n), 0.0, 1.0)
        unserved[unserved < SERVED_TOLERANCE] = 0.0
        objective = float(problem.opening_cost[is_open].sum() + problem.arc_cost[arcs[keep_arc]] @ share[keep_arc])
        if has_slack:
            objective += float(problem.penalty * (w @ unserved))
        feasible = not problem.must_serve or not unserved.any()
        result = Assignment(is_open, arcs[keep_arc], np.minimum(share[keep_arc], 1.0), unserved, objective, feasible)
    log.info("reduced MIP: %d options, %d arcs, status %s, dual bound %.6g", n_opt, n_arc, status, dual)
    return MipResult(result, dual, status, n_opt, n_arc)


def _warm_start(problem: Problem, incumbent: Assignment, options: np.ndarray, arcs: np.ndarray, n_col: int,
                has_slack: bool) -> np.ndarray | None:
    """The incumbent as a column vector of the reduced model (None if it uses an option outside it)."""
    inside = np.zeros(problem.n_options, dtype=bool)
    inside[options] = True
    if (incumbent.open & ~inside).any():
        return None
    start = np.zeros(n_col)
    start[: len(options)] = incumbent.open[options]
    where = np.searchsorted(arcs, incumbent.arcs)
    start[len(options) + where] = incumbent.share
    if has_slack:
        start[len(options) + len(arcs):] = incumbent.unserved
    return start


def kernel_options(problem: Problem, value: np.ndarray, incumbent: Assignment, size: int, max_arcs: int) -> np.ndarray:
    """A small promising set of options: the incumbent's, then the best by Lagrangian value (ties: score, index),
    at most ``size`` options and ``max_arcs`` arcs."""
    keep = incumbent.open.copy() | problem.fixed
    degree = np.diff(problem.arc_start)
    free = np.flatnonzero(~problem.fixed & ~keep)
    ranked = free[np.lexsort((free, -problem.score[free], value[free]))][: max(0, size - int(keep.sum()))]
    room = max_arcs - int(degree[keep].sum())
    fits = ranked[np.cumsum(degree[ranked]) <= room]
    keep[fits] = True
    return keep


def kernel_search(problem: Problem, value: np.ndarray, incumbent: Assignment, *, size: int, time_limit: float) -> Assignment | None:
    """A better solution among a kernel of options (HiGHS on the restricted MIP), or None. Not a bound: a heuristic."""
    keep = kernel_options(problem, value, incumbent, size, MAX_KERNEL_ARCS)
    if int((keep & ~incumbent.open).sum()) < MIN_KERNEL_EXTRA:
        return None
    result = reduced_mip(problem, keep, np.zeros(problem.n_options, dtype=bool), incumbent, gap=1e-4, time_limit=time_limit,
                         strong=problem.transport_weight > 0)
    if result.assignment is not None and result.assignment.feasible and result.assignment.objective < incumbent.objective:
        return result.assignment
    return None
