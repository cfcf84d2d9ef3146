"""Lower bounds by Lagrangian relaxation of the assignment constraints.

With multipliers ``lam_i`` on ``sum_j x_ij + u_i = 1`` the problem splits into one
*continuous knapsack per option*: fill capacity ``Q_j`` with the demand points whose
reduced cost ``c_ij - lam_i`` is negative, best reduced cost per tonne first (the
last one fractionally). All knapsacks are solved at once by one sort of the arcs
with negative reduced cost, grouped by option. Choosing which options to open is
then a sort of their knapsack values. Multipliers follow subgradient steps
(Polyak step towards the best known solution, the step factor halved when the
bound stalls). Every bound returned is valid: it never exceeds the optimum.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .problem import Problem, uniform_new_capacity


@dataclass
class Relaxed:
    """The Lagrangian subproblem solved for one multiplier vector."""

    bound: float            #: L(lam), a lower bound on the optimum
    value: np.ndarray       #: (m,) knapsack value of each option (opening cost included)
    open: np.ndarray        #: (m,) bool, options the subproblem opens
    served: np.ndarray      #: (n,) share of each demand point the subproblem assigns (open options)
    unserved: np.ndarray    #: (n,) 1 where leaving the point unserved is cheaper than lam
    subgradient: np.ndarray  #: (n,) 1 - served - unserved


def initial_multipliers(problem: Problem) -> np.ndarray:
    """A starting ``lam``: each demand point's cost to its q-th nearest option, q = options per new site.

    Close to what a demand point pays in a good solution, so the first bounds are useful.
    """
    n, m = problem.n_demand, problem.n_options
    sites = max(problem.k or problem.min_new_sites or 1, 1)
    q = max(1, int(round(m / sites)))
    lam = np.zeros(n)
    if not problem.n_arcs:
        return lam
    counts = np.diff(problem.demand_start)
    has = counts > 0
    pick = problem.demand_start[:-1] + np.minimum(q, counts) - 1  # arcs are sorted by cost within each point
    lam[has] = problem.dm_cost[pick[has]]
    if not problem.must_serve:
        lam = np.minimum(lam, problem.penalty * problem.weight)
    return lam


def solve_subproblem(problem: Problem, lam: np.ndarray) -> Relaxed:
    """L(lam): every option's continuous knapsack, then the best set of options to open."""
    n = problem.n_demand
    demand, option, take, filled = knapsacks(problem, lam, problem.capacity)
    value = problem.opening_cost + filled
    is_open = choose_open(problem, value)
    mask = is_open[option] & (take > 0)
    served = np.bincount(demand[mask], weights=take[mask], minlength=n)
    if problem.must_serve:
        unserved = np.zeros(n)
        slack_term = 0.0
    else:
        slack = problem.penalty * problem.weight - lam
        unserved = (slack < 0).astype(np.float64)
        slack_term = float(slack[slack < 0].sum())
    bound = float(lam.sum()) + slack_term + float(value[is_open].sum())
    return Relaxed(bound, value, is_open, served, unserved, 1.0 - served - unserved)


def knapsacks(problem: Problem, price: np.ndarray, capacity: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every option's continuous knapsack over the arcs cheaper than their demand point's ``price``.

    The reduced cost of arc (i, j) is ``c_ij - price_i``. Returns, for the arcs with
    a negative reduced cost, their demand point, option and the share taken, and
    each option's knapsack value (sum of reduced cost × share, <= 0). Only options
    whose negative arcs exceed their capacity need their arcs sorted.
    """
    pos = problem.positions_cheaper_than(price)
    option = problem.dm_option[pos]
    demand = problem.dm_demand[pos]
    w = problem.weight[demand]
    r = problem.dm_cost[pos] - price[demand]
    take = np.ones(len(pos))
    binding = np.bincount(option, weights=w, minlength=problem.n_options) > capacity
    sub = np.flatnonzero(binding[option])
    if len(sub):
        take[sub] = _fill_in_order(option[sub], r[sub] / w[sub], w[sub], capacity)
    return demand, option, take, np.bincount(option, weights=r * take, minlength=problem.n_options)


def _fill_in_order(option: np.ndarray, ratio: np.ndarray, w: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Shares taken by each option's knapsack: items by ascending ``ratio`` until the capacity is full.

    The sort key packs the option index and the ratio (scaled to [0, 1)) into one
    float64: ratios closer than about 1e-10 of their range may swap, which changes
    a knapsack value by less than 1e-10 of it. Equal keys keep the input order.
    """
    low = float(ratio.min())
    scale = -low if low < 0 else 1.0
    key = option + (ratio - low) / scale * 0.999
    order = np.argsort(key, kind="stable")
    opt, wt = option[order], w[order]
    cum = np.cumsum(wt)
    before = cum - wt
    first = np.r_[True, opt[1:] != opt[:-1]]
    prior = before - np.maximum.accumulate(np.where(first, before, 0.0))
    take = np.empty(len(order))
    take[order] = np.clip((capacity[opt] - prior) / wt, 0.0, 1.0)
    return take


def choose_open(problem: Problem, value: np.ndarray) -> np.ndarray:
    """The subproblem's choice of options: fixed ones, then the best per location as the cardinality allows.

    Ties go to higher suitability, then to the lower option index.
    """
    is_open = problem.fixed.copy()
    free = np.flatnonzero(~problem.fixed)
    if not len(free):
        return is_open
    order = free[np.lexsort((free, -problem.score[free], value[free], problem.group[free]))]
    grp = problem.group[order]
    best = order[np.r_[True, grp[1:] != grp[:-1]]]  # best option of each location
    best = best[np.lexsort((best, -problem.score[best], value[best]))]
    if problem.cardinality == "eq":
        chosen = best[: problem.k]
    elif problem.cardinality == "le":
        chosen = best[: problem.k]
        chosen = chosen[value[chosen] < 0]
    else:
        chosen = best[value[best] < 0]
        if len(chosen) < problem.min_new_sites:
            chosen = best[: problem.min_new_sites]
    is_open[chosen] = True
    return is_open


def min_new_sites(problem: Problem) -> int:
    """Sites of the (uniform) new capacity needed beyond the fixed ones to hold all supply (0 if unknown)."""
    if not problem.must_serve:
        return 0
    cap = uniform_new_capacity(problem)
    if not cap:
        return 0
    rest = float(problem.weight.sum()) - float(problem.capacity[problem.fixed].sum())
    return max(0, math.ceil(rest / cap - 1e-9))


class Subgradient:
    """Subgradient ascent on L(lam), keeping the best bound and its multipliers.

    ``step(upper)`` moves towards ``upper`` (the best known objective) with step
    ``theta * (upper - L) / |g|^2``; ``theta`` halves after ``patience`` steps
    without a better bound.
    """

    def __init__(self, problem: Problem, lam: np.ndarray | None = None, *, theta: float = 2.0, patience: int = 15,
                 min_theta: float = 1e-4, scale: np.ndarray | None = None) -> None:
        self.problem = problem
        self.scale = np.ones(problem.n_demand) if scale is None else np.asarray(scale, dtype=np.float64)
        self.lam = initial_multipliers(problem) if lam is None else np.asarray(lam, dtype=np.float64).copy()
        self.theta = theta
        self.patience = patience
        self.min_theta = min_theta
        self.best_bound = -math.inf
        self.best_lam = self.lam.copy()
        self.best: Relaxed | None = None
        self.current: Relaxed | None = None
        self.iterations = 0
        self._stall = 0

    @property
    def converged(self) -> bool:
        return self.theta < self.min_theta

    def evaluate(self) -> Relaxed:
        self.current = solve_subproblem(self.problem, self.lam)
        if self.best is None or self.current.bound > self.best_bound + 1e-12 * max(1.0, abs(self.best_bound)):
            self.best_bound = self.current.bound
            self.best_lam = self.lam.copy()
            self.best = self.current
            self._stall = 0
        else:
            self._stall += 1
            if self._stall >= self.patience:
                self.theta /= 2
                self._stall = 0
        return self.current

    def step(self, upper: float) -> Relaxed:
        """One subgradient step; returns the subproblem at the new multipliers."""
        if self.current is None:
            self.evaluate()
        g = self.current.subgradient
        direction = self.scale * g
        norm = float(g @ direction)
        if norm <= 1e-18:
            self.theta = 0.0  # the relaxed solution is feasible: the bound is optimal
            return self.current
        target = upper if math.isfinite(upper) else self.current.bound + 0.05 * abs(self.current.bound) + 1.0
        gap = max(target - self.current.bound, 1e-9 * max(1.0, abs(target)))
        self.lam = self.lam + (self.theta * gap / norm) * direction
        if self.problem.must_serve:
            np.maximum(self.lam, 0.0, out=self.lam)
        else:
            np.clip(self.lam, 0.0, self.problem.penalty * self.problem.weight, out=self.lam)
        self.iterations += 1
        return self.evaluate()


def fixable_options(problem: Problem, relaxed: Relaxed, upper: float) -> tuple[np.ndarray, np.ndarray]:
    """Reduced-cost fixing: options that cannot be open (resp. closed) in any solution better than ``upper``.

    With the knapsack values fixed, forcing an option open (or closed) changes the
    subproblem's optimum by an amount computed exactly here (add it, or swap it for
    the worst chosen location, or change the band at its location; for closing:
    drop it, take the next location, or another band). When the bound plus that
    change exceeds ``upper``, the option is fixed. Returns ``(never_open, always_open)``.
    """
    m = problem.n_options
    never = np.zeros(m, dtype=bool)
    always = problem.fixed.copy()
    if not math.isfinite(upper) or not m:
        return never, always
    slack = upper - relaxed.bound
    value = relaxed.value
    free = ~problem.fixed
    chosen = relaxed.open & free
    n_chosen = int(chosen.sum())
    most = problem.k if problem.cardinality in ("eq", "le") else m
    least = problem.k if problem.cardinality == "eq" else (0 if problem.cardinality == "le" else problem.min_new_sites)
    groups = problem.group
    n_groups = int(groups.max()) + 1
    chosen_value = np.full(n_groups, np.nan)
    chosen_value[groups[chosen]] = value[chosen]
    at_chosen = free & ~chosen & np.isfinite(chosen_value[groups])
    elsewhere = free & ~chosen & ~at_chosen
    worst = float(value[chosen].max()) if n_chosen else math.inf
    # Forcing open: add it, or swap it for the worst chosen location, or change the band of its location.
    delta_open = np.full(m, math.inf)
    if n_chosen < most:
        delta_open = np.minimum(delta_open, value)
    if n_chosen >= 1:
        delta_open = np.minimum(delta_open, value - worst)
    delta_open[at_chosen] = value[at_chosen] - chosen_value[groups[at_chosen]]
    never[free & ~chosen] = delta_open[free & ~chosen] > slack
    # Forcing closed: another band at its location, drop it, or take the best other location instead.
    if n_chosen:
        second = np.full(n_groups, math.inf)
        np.minimum.at(second, groups[at_chosen], value[at_chosen])
        best_elsewhere = np.full(n_groups, math.inf)
        np.minimum.at(best_elsewhere, groups[elsewhere], value[elsewhere])
        next_value = float(best_elsewhere.min()) if elsewhere.any() else math.inf
        idx = np.flatnonzero(chosen)
        delta_close = second[groups[idx]] - value[idx]
        delta_close = np.minimum(delta_close, next_value - value[idx])
        if n_chosen - 1 >= least:
            delta_close = np.minimum(delta_close, -value[idx])
        always[idx] = delta_close > slack
    return never, always
