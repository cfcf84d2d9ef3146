"""The location-allocation problem as arrays: demand points, facility options, sparse arcs.

One model covers every variant the tool solves (capacitated p-median, set covering,
fixed charge, maximal coverage)::

    minimise   sum_j f_j y_j  +  sum_a c_a x_a  +  penalty * sum_i w_i u_i
    subject to sum_{a into i} x_a + u_i = 1           every demand point i (x, u: shares of w_i)
               sum_{a from j} w_i x_a <= Q_j y_j       every option j (capacity, t/yr)
               x_a <= y_j                              every arc a = (i, j)
               sum_{j not fixed} y_j  = k  (or <= k, or free)
               at most one open option per location; y_j = 1 for fixed options

An *option* is a location with a size band (capacity ``Q_j``, opening cost ``f_j``);
a location may carry several options of which at most one opens. Arcs exist only
within the haul radius, so the problem is sparse. ``c_a = transport_weight * w_i *
d_a`` with ``d_a`` in km; ``u_i`` (unserved) exists only when ``penalty`` is finite.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import LocateError

#: Cardinality modes of the number of new (non-fixed) sites.
CARDINALITY = ("eq", "le", None)


@dataclass
class Problem:
    """A sparse capacitated location-allocation instance (arrays; units in the docstrings).

    Arcs are sorted by option, then by demand point, and ``arc_start[j]:arc_start[j+1]``
    are the arcs of option ``j``.
    """

    weight: np.ndarray                 #: (n,) supply of each demand point, t/yr
    capacity: np.ndarray               #: (m,) capacity of each option, t/yr
    opening_cost: np.ndarray           #: (m,) objective units per open option
    group: np.ndarray                  #: (m,) location index; at most one option per location opens
    fixed: np.ndarray                  #: (m,) bool, option must be open (existing facility)
    score: np.ndarray                  #: (m,) suitability, a tie-breaker only (higher first)
    arc_demand: np.ndarray             #: (A,) int32 demand point of each arc
    arc_option: np.ndarray             #: (A,) int32 option of each arc
    arc_km: np.ndarray                 #: (A,) haul distance, km
    transport_weight: float = 1.0      #: objective units per t·km
    penalty: float = math.inf          #: objective units per unserved tonne (inf: everything must be served)
    k: int | None = None               #: number of new sites (with ``cardinality``)
    cardinality: str | None = None     #: 'eq', 'le' or None
    min_new_sites: int = 0             #: valid lower bound on new sites (capacity), used to tighten bounds
    arc_cost: np.ndarray = field(init=False, repr=False)
    arc_start: np.ndarray = field(init=False, repr=False)
    by_demand: np.ndarray = field(init=False, repr=False)     #: arcs ordered by demand point, then cost
    dm_cost: np.ndarray = field(init=False, repr=False)       #: arc_cost in ``by_demand`` order
    dm_option: np.ndarray = field(init=False, repr=False)     #: arc_option in ``by_demand`` order
    dm_demand: np.ndarray = field(init=False, repr=False)     #: arc_demand in ``by_demand`` order
    demand_start: np.ndarray = field(init=False, repr=False)  #: by_demand[demand_start[i]:demand_start[i+1]] are i's arcs

    def __post_init__(self) -> None:
        order = np.lexsort((self.arc_demand, self.arc_option))
        self.arc_demand = np.ascontiguousarray(self.arc_demand[order], dtype=np.int32)
        self.arc_option = np.ascontiguousarray(self.arc_option[order], dtype=np.int32)
        self.arc_km = np.ascontiguousarray(self.arc_km[order], dtype=np.float64)
        self.weight = np.asarray(self.weight, dtype=np.float64)
        self.capacity = np.asarray(self.capacity, dtype=np.float64)
        self.opening_cost = np.asarray(self.opening_cost, dtype=np.float64)
        self.fixed = np.asarray(self.fixed, dtype=bool)
        self.score = np.asarray(self.score, dtype=np.float64)
        self.group = np.asarray(self.group, dtype=np.int64)
        self.arc_cost = self.transport_weight * self.weight[self.arc_demand] * self.arc_km
        self.arc_start = np.searchsorted(self.arc_option, np.arange(self.n_options + 1)).astype(np.int64)
        self.by_demand = np.lexsort((self.arc_option, self.arc_cost, self.arc_demand))
        self.demand_start = np.searchsorted(self.arc_demand[self.by_demand], np.arange(self.n_demand + 1)).astype(np.int64)
        self.dm_cost = self.arc_cost[self.by_demand]
        self.dm_option = self.arc_option[self.by_demand]
        self.dm_demand = self.arc_demand[self.by_demand]
        if self.cardinality not in CARDINALITY:
            raise ValueError(f"cardinality must be one of {CARDINALITY}")
        if self.cardinality is not None and (self.k is None or self.k < 0):
            raise ValueError("a cardinality needs k >= 0")

    @property
    def n_demand(self) -> int:
        return len(self.weight)

    @property
    def n_options(self) -> int:
        return len(self.capacity)

    @property
    def n_arcs(self) -> int:
        return len(self.arc_demand)

    @property
    def must_serve(self) -> bool:
        """True when every tonne has to be served (no unserved slack)."""
        return not math.isfinite(self.penalty)

    def arcs_cheaper_than(self, limit: np.ndarray) -> np.ndarray:
        """Indices of the arcs whose cost is below ``limit[i]`` of their demand point."""
        return self.by_demand[self.positions_cheaper_than(limit)]

    def positions_cheaper_than(self, limit: np.ndarray) -> np.ndarray:
        """Positions in ``by_demand`` order (ascending) of the arcs cheaper than their point's ``limit[i]``.

        Each point's arcs are sorted by cost, so the answer is a prefix per point,
        found by a vectorised binary search: the work grows with the answer, not
        with the number of arcs.
        """
        costs = self.dm_cost
        counts = np.zeros(self.n_demand, dtype=np.int64)
        degree = np.diff(self.demand_start)
        has = (degree > 0) & (limit > costs[np.minimum(self.demand_start[:-1], max(len(costs) - 1, 0))] if len(costs) else np.zeros(self.n_demand, bool))
        if not has.any():
            return np.zeros(0, dtype=np.int64)
        idx = np.flatnonzero(has)
        lo = self.demand_start[idx].copy()
        hi = self.demand_start[idx + 1].copy()
        # Vectorised binary search for the first arc of each point with cost >= limit.
        while True:
            active = lo < hi
            if not active.any():
                break
            mid = (lo + hi) // 2
            below = np.zeros(len(idx), dtype=bool)
            below[active] = costs[mid[active]] < limit[idx[active]]
            lo = np.where(active & below, mid + 1, lo)
            hi = np.where(active & ~below, mid, hi)
        counts[idx] = lo - self.demand_start[idx]
        total = int(counts.sum())
        if not total:
            return np.zeros(0, dtype=np.int64)
        offsets = np.repeat(self.demand_start[:-1] - np.r_[0, np.cumsum(counts)[:-1]], counts)
        return np.arange(total, dtype=np.int64) + offsets

    def option_order(self) -> np.ndarray:
        """Options by the documented tie-break: higher suitability first, then lower index."""
        return np.lexsort((np.arange(self.n_options), -self.score))

    def check_feasible(self) -> None:
        """Raise :class:`LocateError` (one line, with the shortfall) when no solution can serve everything."""
        if not self.must_serve:
            return
        reached = np.zeros(self.n_demand, dtype=bool)
        reached[self.arc_demand] = True
        if not reached.all():
            lost = float(self.weight[~reached].sum())
            raise LocateError(f"{lost:,.0f} t/yr of supply ({int((~reached).sum())} demand points) has no candidate within the haul radius",
                              column="locate/max_haul_m", expected="a longer haul, more candidates (lower min_score) or the mclp model")
        total = float(self.weight.sum())
        fixed_cap = float(self.capacity[self.fixed].sum())
        if self.cardinality in ("eq", "le"):
            free = ~self.fixed
            best = _largest_per_group(self.capacity[free], self.group[free])[: self.k]
            most = fixed_cap + float(best.sum())
            if most + 1e-6 < total:
                raise LocateError(f"capacity of {self.k} new sites plus existing ones is {most:,.0f} t/yr, {total - most:,.0f} t/yr below the supply of {total:,.0f} t/yr",
                                  column="locate/k", expected="more sites (k) or a larger size band")
        else:
            most = fixed_cap + float(_largest_per_group(self.capacity[~self.fixed], self.group[~self.fixed]).sum())
            if most + 1e-6 < total:
                raise LocateError(f"all candidates together hold {most:,.0f} t/yr, {total - most:,.0f} t/yr below the supply of {total:,.0f} t/yr",
                                  column="locate/candidate_pool", expected="more candidates or a larger size band")


def _largest_per_group(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """The largest value of each group, in descending order."""
    if not len(values):
        return values
    order = np.lexsort((-values, groups))
    first = np.r_[True, groups[order][1:] != groups[order][:-1]]
    return np.sort(values[order][first])[::-1]


def uniform_new_capacity(problem: Problem) -> float | None:
    """The capacity shared by every non-fixed option, or None when they differ."""
    caps = problem.capacity[~problem.fixed]
    if len(caps) and np.all(caps == caps[0]):
        return float(caps[0])
    return None
