"""The four location-allocation models, built on one sparse network and one solver.

- ``pmedian``: exactly ``k`` new sites of one size band, all supply served, least tonne-km;
- ``set_cover``: the fewest new sites of one size band that serve all supply within the
  haul radius (capacitated set covering), then the least tonne-km with that many;
- ``mclp``: ``k`` new sites serving the most tonnes within the haul radius (capacitated
  maximal coverage): an unserved tonne costs as much as hauling it
  ``unserved_penalty_factor`` times the maximum haul, so coverage comes first and
  tonne-km break ties;
- ``fixed_charge``: sites of any size band, each with its yearly opening cost, plus the
  haul cost per tonne-km; the number and sizes of sites follow from the costs.

Existing facilities are fixed open with their own band and do not count in ``k``.
Suitability is a tie-breaker only (equal objectives: higher score first).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import LocateError
from .problem import Problem
from .solve import DEFAULT_GAP, DEFAULT_TIME_LIMIT, Solution, solve

MODELS = ("pmedian", "set_cover", "mclp", "fixed_charge")


@dataclass(frozen=True)
class Band:
    """A size band: capacity (t/yr), yearly opening cost (fixed-charge model only)."""

    id: str
    capacity: float
    opening_cost: float = 0.0
    label: dict = field(default_factory=dict, compare=False)
    source: str = field(default="", compare=False)


@dataclass
class Network:
    """Demand points, candidate locations and the arcs between them within the haul radius.

    Locations ``0 .. n_locations-1``; ``fixed_band[l]`` is the band index of an
    existing facility (fixed open) or -1 for a candidate.
    """

    weight: np.ndarray        #: (n,) t/yr per demand point
    score: np.ndarray         #: (L,) suitability of each location (tie-break)
    fixed_band: np.ndarray    #: (L,) band index of an existing facility, -1 for a new candidate
    arc_demand: np.ndarray    #: (A,) demand point
    arc_location: np.ndarray  #: (A,) location
    arc_km: np.ndarray        #: (A,) haul distance (km)
    bands: list[Band]
    max_haul_km: float
    #: (L, bands) True where a location may open at a band (the siting law by size, see :mod:`.legal`); None: everywhere
    allowed: np.ndarray | None = None

    @property
    def n_locations(self) -> int:
        return len(self.score)


@dataclass
class ModelResult:
    """A solved model: the options that were offered and the solution found."""

    model: str
    problem: Problem
    solution: Solution
    option_location: np.ndarray   #: (m,) location of each option
    option_band: np.ndarray       #: (m,) band index of each option
    min_sites: dict | None = None  #: set_cover: {'sites', 'lower_bound', 'proven'} for the count phase

    @property
    def open_options(self) -> np.ndarray:
        return np.flatnonzero(self.solution.assignment.open)


def expand(network: Network, bands_for_new: list[int], *, transport_weight: float, opening: bool = False, penalty: float = math.inf,
           k: int | None = None, cardinality: str | None = None) -> tuple[Problem, np.ndarray, np.ndarray]:
    """The :class:`Problem` with one option per (candidate location, band in ``bands_for_new``) and per existing facility."""
    is_fixed = network.fixed_band >= 0
    new_locations = np.flatnonzero(~is_fixed)
    band_ids = np.asarray(bands_for_new, dtype=np.int64)
    new_location = np.repeat(new_locations, len(band_ids))
    new_band = np.tile(band_ids, len(new_locations))
    if network.allowed is not None:  # options the siting rules forbid are not offered
        legal = network.allowed[new_location, new_band]
        new_location, new_band = new_location[legal], new_band[legal]
    option_location = np.r_[np.flatnonzero(is_fixed), new_location].astype(np.int64)
    option_band = np.r_[network.fixed_band[is_fixed], new_band].astype(np.int64)
    fixed = np.r_[np.ones(int(is_fixed.sum()), bool), np.zeros(len(new_location), bool)]
    capacity = np.array([network.bands[b].capacity for b in option_band], dtype=np.float64)
    cost = np.array([network.bands[b].opening_cost if opening else 0.0 for b in option_band], dtype=np.float64)
    if opening:
        cost[fixed] = 0.0  # existing facilities are paid for
    # Arcs: every arc of a location, once per option at that location.
    per_location = np.bincount(option_location, minlength=network.n_locations)
    options_at = np.argsort(option_location, kind="stable")
    first_option = np.r_[0, np.cumsum(per_location)[:-1]]
    repeat = per_location[network.arc_location]
    arc_index = np.repeat(np.arange(len(network.arc_location)), repeat)
    offset = np.arange(len(arc_index)) - np.repeat(np.r_[0, np.cumsum(repeat)[:-1]], repeat)
    arc_option = options_at[first_option[network.arc_location[arc_index]] + offset]
    problem = Problem(network.weight, capacity, cost, option_location, fixed, network.score[option_location],
                      network.arc_demand[arc_index], arc_option, network.arc_km[arc_index], transport_weight=transport_weight,
                      penalty=penalty, k=k, cardinality=cardinality)
    return problem, option_location, option_band


def solve_model(network: Network, model: str, *, band: int, k: int | None = None, haul_cost_per_tkm: float | None = None,
                unserved_penalty_factor: float = 100.0, gap: float = DEFAULT_GAP, time_limit: float = DEFAULT_TIME_LIMIT,
                single_source: bool = False, progress: bool = False) -> ModelResult:
    """Build and solve ``model`` on ``network`` (``band``: index of the size band of new sites)."""
    if model not in MODELS:
        raise LocateError(f"unknown model '{model}'", column="locate/model", expected=", ".join(MODELS))
    common = dict(gap=gap, single_source=single_source, progress=progress)
    if model in ("pmedian", "mclp"):
        if not k or k < 1:
            raise LocateError(f"the {model} model needs a number of new sites k >= 1, got {k}", column="locate/k", expected="k >= 1 (--k N)")
        free = int(((network.fixed_band < 0) & (network.allowed[:, band] if network.allowed is not None else True)).sum())
        if k > free:
            raise LocateError(f"k = {k} new sites but only {free} candidate locations", column="locate/k",
                              expected=f"k <= {free}, or a larger candidate pool")
        penalty = math.inf if model == "pmedian" else unserved_penalty_factor * network.max_haul_km
        problem, loc, bnd = expand(network, [band], transport_weight=1.0, penalty=penalty, k=k, cardinality="eq" if model == "pmedian" else "le")
        return ModelResult(model, problem, solve(problem, time_limit=time_limit, label=model, **common), loc, bnd)
    if model == "fixed_charge":
        if haul_cost_per_tkm is None or not all(b.opening_cost > 0 for b in network.bands):
            raise LocateError("the fixed_charge model needs haul_cost_per_tkm and an opening_cost on every size band",
                              column="locate/haul_cost_per_tkm", expected="both in the profile's locate section")
        problem, loc, bnd = expand(network, list(range(len(network.bands))), transport_weight=haul_cost_per_tkm, opening=True)
        return ModelResult(model, problem, solve(problem, time_limit=time_limit, label=model, **common), loc, bnd)
    # set_cover: first the fewest sites (each counts 1, haul free), then the least tonne-km with that many.
    started = __import__("time").perf_counter()
    counting, loc, bnd = expand(network, [band], transport_weight=0.0, opening=True)
    counting.opening_cost[~counting.fixed] = 1.0
    first = solve(counting, time_limit=0.5 * time_limit, label="set_cover (count)", integral=True, use_mip=True, progress=progress,
                  gap=gap)
    sites = int(round(first.objective))
    lower = math.ceil(first.lower_bound - 1e-6)
    remaining = max(time_limit - (__import__("time").perf_counter() - started), 0.1 * time_limit)
    problem, loc, bnd = expand(network, [band], transport_weight=1.0, k=sites, cardinality="eq")
    solution = solve(problem, time_limit=remaining, label="set_cover (tonne-km)", start=first.assignment.open, **common)
    return ModelResult(model, problem, solution, loc, bnd, {"sites": sites, "lower_bound": lower, "proven": lower >= sites})
