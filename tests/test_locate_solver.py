"""The location-allocation solver on small instances whose optimum is known by brute force."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo_almaty.errors import LocateError
from geo_almaty.locate.lagrangian import Subgradient, fixable_options
from geo_almaty.locate.models import Band, Network, solve_model
from geo_almaty.locate.problem import Problem
from geo_almaty.locate.solve import solve
from geo_almaty.locate.transport import assign


def instance(seed: int, n: int = 24, m: int = 7, k: int = 3, slack: float = 1.3, radius: float = 6.0, fixed: tuple[int, ...] = (),
             penalty: float = math.inf, cardinality: str | None = "eq") -> Problem:
    rng = np.random.default_rng(seed)
    demand = rng.uniform(0, 10, (n, 2))
    sites = rng.uniform(0, 10, (m, 2))
    d = np.hypot(demand[:, None, 0] - sites[None, :, 0], demand[:, None, 1] - sites[None, :, 1])
    i, j = np.nonzero(d < radius)
    w = rng.lognormal(0, 1, n)
    is_fixed = np.zeros(m, bool)
    is_fixed[list(fixed)] = True
    capacity = np.full(m, slack * w.sum() / (k + len(fixed)))
    return Problem(w, capacity, np.zeros(m), np.arange(m), is_fixed, rng.uniform(0, 1, m), i, j, d[i, j], k=k,
                   cardinality=cardinality, penalty=penalty)


def brute_force(problem: Problem, *, single_source: bool = False) -> tuple[float, tuple[int, ...]]:
    """Cheapest open set by enumeration (every set of k free options plus the fixed ones)."""
    free = np.flatnonzero(~problem.fixed)
    best = (math.inf, ())
    sizes = [problem.k] if problem.cardinality == "eq" else range(0, (problem.k if problem.cardinality == "le" else len(free)) + 1)
    for size in sizes:
        for chosen in itertools.combinations(free, size):
            is_open = problem.fixed.copy()
            is_open[list(chosen)] = True
            result = assign(problem, is_open, single_source=single_source)
            if result.feasible and result.objective < best[0]:
                best = (result.objective, tuple(int(c) for c in chosen))
    return best


@pytest.mark.parametrize("seed", range(6))
def test_capacitated_pmedian_matches_brute_force(seed):
    problem = instance(seed)
    optimum, _ = brute_force(problem)
    if not math.isfinite(optimum):
        pytest.skip("instance without a feasible solution")
    result = solve(problem, gap=1e-6, time_limit=60)
    assert result.objective == pytest.approx(optimum, rel=1e-6)
    assert result.lower_bound <= optimum * (1 + 1e-9)
    assert result.status in ("optimal", "gap reached")
    assert int((result.assignment.open & ~problem.fixed).sum()) == problem.k


def test_binding_capacity_costs_more_than_unbounded_capacity():
    binding = instance(11, slack=1.05)
    loose = instance(11, slack=100.0)
    tight, _ = brute_force(binding)
    free, _ = brute_force(loose)
    assert tight > free  # capacity binds here...
    assert solve(binding, gap=1e-6).objective == pytest.approx(tight, rel=1e-6)
    result = solve(loose, gap=1e-6)
    assert result.objective == pytest.approx(free, rel=1e-6)
    # ...and not there: every point then goes to its nearest open site.
    share = result.assignment.share
    assert np.allclose(share, 1.0)


def test_fixed_facilities_stay_open_and_do_not_count_in_k():
    problem = instance(5, m=8, k=2, fixed=(0, 4))
    optimum, chosen = brute_force(problem)
    result = solve(problem, gap=1e-6)
    assert result.assignment.open[[0, 4]].all()
    assert int(result.assignment.open.sum()) == 4
    assert result.objective == pytest.approx(optimum, rel=1e-6)


def test_single_sourcing_costs_at_least_as_much_and_assigns_whole_points():
    problem = instance(3, slack=1.15)
    split = solve(problem, gap=1e-6)
    single = solve(problem, gap=1e-6, single_source=True)
    best_single, _ = brute_force(problem, single_source=True)
    assert single.objective >= split.objective - 1e-9
    assert single.objective <= best_single * (1 + 1e-6) + 1e-9  # found from the split search: no better than the true optimum...
    assert np.allclose(single.assignment.share, 1.0)  # ...and every point whole at one site
    counts = np.bincount(problem.arc_demand[single.assignment.arcs], minlength=problem.n_demand)
    assert (counts == 1).all()
    assert single.lower_bound <= best_single + 1e-9


def test_capacity_below_supply_says_by_how_much():
    problem = instance(2, slack=0.8)
    with pytest.raises(LocateError, match=r"below the supply") as err:
        solve(problem)
    assert "\n" not in str(err.value)


def test_supply_out_of_reach_says_how_much():
    problem = instance(2, radius=2.0)
    with pytest.raises(LocateError, match=r"t/yr of supply .* has no candidate within the haul radius"):
        solve(problem)


def test_maximal_coverage_leaves_out_of_reach_supply_unserved():
    problem = instance(4, radius=2.5, penalty=50.0, cardinality="le", slack=2.0)
    optimum, _ = brute_force(problem)
    result = solve(problem, gap=1e-6)
    assert result.objective == pytest.approx(optimum, rel=1e-6)
    reached = np.zeros(problem.n_demand, bool)
    reached[problem.arc_demand] = True
    assert (result.assignment.unserved[~reached] == 1).all()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.integers(1, 3), st.floats(1.05, 3.0))
def test_lagrangian_bound_and_fixing_never_cut_off_the_optimum(seed, k, slack):
    problem = instance(seed, n=15, m=6, k=k, slack=slack)
    optimum, chosen = brute_force(problem)
    if not math.isfinite(optimum):
        return
    subgradient = Subgradient(problem, scale=problem.weight)
    for _ in range(60):
        subgradient.step(optimum)
    assert subgradient.best_bound <= optimum * (1 + 1e-9) + 1e-9
    never, always = fixable_options(problem, subgradient.best, optimum * (1 + 1e-6) + 1e-9)
    assert not never[list(chosen)].any()
    assert set(np.flatnonzero(always)) <= set(chosen)


def network(seed: int = 7, n: int = 30, locations: int = 8, fixed_band: dict[int, int] | None = None) -> Network:
    rng = np.random.default_rng(seed)
    demand = rng.uniform(0, 10, (n, 2))
    sites = rng.uniform(0, 10, (locations, 2))
    d = np.hypot(demand[:, None, 0] - sites[None, :, 0], demand[:, None, 1] - sites[None, :, 1])
    i, j = np.nonzero(d < 7)
    fixed = np.full(locations, -1)
    for loc, band in (fixed_band or {}).items():
        fixed[loc] = band
    bands = [Band("small", 12.0, opening_cost=10.0), Band("large", 30.0, opening_cost=18.0)]
    return Network(rng.uniform(0.2, 2.0, n), rng.uniform(0, 1, locations), fixed, i, j, d[i, j], bands, 7.0)


def test_set_cover_finds_the_fewest_sites_then_the_least_tonne_km():
    net = network()
    result = solve_model(net, "set_cover", band=0, gap=1e-6)
    sites = result.min_sites["sites"]
    assert result.min_sites["proven"]
    # No set with one site fewer can serve everything within capacity and reach.
    fewer = solve_model(net, "pmedian", band=0, k=sites, gap=1e-6)
    assert fewer.solution.objective == pytest.approx(result.solution.objective, rel=1e-6)
    with pytest.raises(LocateError):
        solve_model(net, "pmedian", band=0, k=sites - 1, gap=1e-6)


def test_fixed_charge_picks_size_bands_by_cost():
    net = network()
    result = solve_model(net, "fixed_charge", band=0, haul_cost_per_tkm=1.0, gap=1e-6)
    problem = result.problem
    optimum = math.inf
    free = np.flatnonzero(~problem.fixed)
    for size in range(1, 5):
        for chosen in itertools.combinations(free, size):
            if len(set(problem.group[list(chosen)])) < size:
                continue  # one band per location
            is_open = np.zeros(problem.n_options, bool)
            is_open[list(chosen)] = True
            a = assign(problem, is_open)
            if a.feasible:
                optimum = min(optimum, a.objective)
    assert result.solution.objective == pytest.approx(optimum, rel=1e-6)


def test_solver_is_deterministic():
    problem_a = instance(9, n=40, m=10, k=3)
    problem_b = instance(9, n=40, m=10, k=3)
    a = solve(problem_a, gap=1e-6)
    b = solve(problem_b, gap=1e-6)
    assert np.array_equal(a.assignment.open, b.assignment.open)
    assert np.array_equal(a.assignment.arcs, b.assignment.arcs) and np.array_equal(a.assignment.share, b.assignment.share)
