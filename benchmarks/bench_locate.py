"""Location-allocation benchmark: geo_almaty.locate against HiGHS on the plain MIP and spopt's PMedian.

A seeded city-like instance (default 2,000 candidates × 5,000 demand points): a 30 km
square city, demand in 14 Gaussian clusters plus 15 % spread everywhere, lognormal
weights; candidates half uniform, half near the clusters; arcs within a 10 km haul
(KD-tree); capacities binding at 1.3 × demand / k. For each k (default 10 and 20):

- **geo_almaty.locate** (:func:`geo_almaty.locate.solve`): time to the first incumbent,
  to a proven 1 % and 0.1 % gap, the final gap and the peak memory;
- **HiGHS on the plain MIP** (strong formulation over the same arcs, one thread) with
  the same time limit: its incumbent, bound and gap at the limit;
- **spopt PMedian** (PuLP + CBC) on the *uncapacitated* instance (spopt's p-median
  has no haul radius and builds a dense model), with the same time limit and an
  address-space cap, next to geo_almaty on the same uncapacitated instance;
- the **embedded Almaty case**: each facility type's default model on the real data.

Every run is a fresh child process, so its peak memory (ru_maxrss) is its own.
Other work on the machine (the 2 cores are shared) slows every number alike.

    python benchmarks/bench_locate.py                       # everything, 300 s limits (about 40 min)
    python benchmarks/bench_locate.py --time-limit 60 --ks 10 --skip-spopt
"""
from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def city_instance(n: int = 5000, m: int = 2000, seed: int = 0, size_km: float = 30.0, radius_km: float = 10.0):
    """Demand points (xy km, weight t), candidates (xy km) and arcs (i, j, km) within the haul radius."""
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    clusters = 14
    centres = rng.uniform(0.15 * size_km, 0.85 * size_km, (clusters, 2))
    spread = rng.uniform(1.0, 3.5, clusters)
    share = rng.dirichlet(np.full(clusters, 2.0))
    background = int(0.15 * n)
    which = rng.choice(clusters, n - background, p=share)
    demand = centres[which] + rng.normal(size=(n - background, 2)) * spread[which, None]
    demand = np.clip(np.vstack([demand, rng.uniform(0, size_km, (background, 2))]), 0, size_km)
    weight = rng.lognormal(0.0, 1.0, n)
    sites = np.vstack([rng.uniform(0, size_km, (m // 2, 2)),
                       centres[rng.choice(clusters, m - m // 2)] + rng.normal(size=(m - m // 2, 2)) * 4.0])
    sites = np.clip(sites, 0, size_km)
    pairs = cKDTree(demand).sparse_distance_matrix(cKDTree(sites), radius_km, output_type="coo_matrix")
    return demand, weight, sites, pairs.row, pairs.col, pairs.data


def _problem(k: int, capacitated: bool, seed: int):
    from geo_almaty.locate.problem import Problem

    demand, weight, sites, i, j, km = city_instance(seed=seed)
    m = len(sites)
    capacity = np.full(m, 1.3 * weight.sum() / k if capacitated else weight.sum())
    return Problem(weight, capacity, np.zeros(m), np.arange(m), np.zeros(m, bool), np.zeros(m), i, j, km, k=k, cardinality="eq")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_ours(k: int, time_limit: float, gap: float, capacitated: bool, seed: int) -> dict:
    from geo_almaty.locate.solve import solve

    started = time.perf_counter()
    problem = _problem(k, capacitated, seed)
    built = time.perf_counter() - started
    result = solve(problem, gap=gap, time_limit=time_limit)
    m = result.milestones
    return {"method": "geo_almaty.locate", "k": k, "capacitated": capacitated, "arcs": problem.n_arcs, "build_s": built,
            "objective": result.objective, "bound": result.lower_bound, "gap": result.gap, "status": result.status,
            "seconds": result.elapsed, "first_incumbent_s": m.first_incumbent, "gap_1pct_s": m.gap_1pct, "gap_01pct_s": m.gap_01pct,
            "steps": result.iterations, "evaluations": result.evaluations, "peak_mb": _peak_mb()}


def run_highs_plain(k: int, time_limit: float, seed: int) -> dict:
    """The strong formulation over every arc, in HiGHS (one thread), as a general MIP solver would take it."""
    import highspy

    started = time.perf_counter()
    problem = _problem(k, True, seed)
    n, m, a = problem.n_demand, problem.n_options, problem.n_arcs
    y = np.arange(m)
    x = m + np.arange(a)
    # Rows: assignment (n), capacity (m), x_ij <= y_j (a), cardinality (1).
    rows = np.concatenate([problem.arc_demand, n + problem.arc_option, n + m + np.arange(a), n + m + np.arange(a), n + y,
                           np.full(m, n + m + a)])
    cols = np.concatenate([x, x, x, problem.arc_option, y, y])
    vals = np.concatenate([np.ones(a), problem.weight[problem.arc_demand], np.ones(a), -np.ones(a), -problem.capacity, np.ones(m)])
    n_rows = n + m + a + 1
    order = np.lexsort((rows, cols))
    lp = highspy.HighsLp()
    lp.num_col_ = m + a
    lp.num_row_ = n_rows
    lp.col_cost_ = np.r_[np.zeros(m), problem.arc_cost]
    lp.col_lower_ = np.zeros(m + a)
    lp.col_upper_ = np.ones(m + a)
    lp.row_lower_ = np.r_[np.ones(n), np.full(m + a, -highspy.kHighsInf), [k]]
    lp.row_upper_ = np.r_[np.ones(n), np.zeros(m + a), [k]]
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.searchsorted(cols[order], np.arange(m + a + 1)).astype(np.int32)
    lp.a_matrix_.index_ = rows[order].astype(np.int32)
    lp.a_matrix_.value_ = vals[order]
    integrality = np.full(m + a, highspy.HighsVarType.kContinuous)
    integrality[:m] = highspy.HighsVarType.kInteger
    lp.integrality_ = list(integrality)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("time_limit", float(time_limit))
    h.passModel(lp)
    built = time.perf_counter() - started
    t = time.perf_counter()
    h.run()
    info = h.getInfo()
    primal = info.objective_function_value if info.primal_solution_status == 2 else math.inf
    dual = info.mip_dual_bound
    gap = (primal - dual) / primal if math.isfinite(primal) and math.isfinite(dual) and primal else math.inf
    return {"method": "HiGHS plain MIP", "k": k, "capacitated": True, "arcs": a, "build_s": built, "objective": primal, "bound": dual,
            "gap": gap, "status": h.modelStatusToString(h.getModelStatus()), "seconds": time.perf_counter() - t, "peak_mb": _peak_mb()}


def run_spopt(k: int, time_limit: float, seed: int) -> dict:
    """spopt PMedian (PuLP + CBC) on the uncapacitated instance with a dense cost matrix."""
    import pulp
    from spopt.locate import PMedian

    started = time.perf_counter()
    demand, weight, sites, *_ = city_instance(seed=seed)
    cost = np.hypot(demand[:, None, 0] - sites[None, :, 0], demand[:, None, 1] - sites[None, :, 1])
    model = PMedian.from_cost_matrix(cost, weight, k)
    built = time.perf_counter() - started
    t = time.perf_counter()
    model = model.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit, threads=1))
    objective = pulp.value(model.problem.objective)
    return {"method": "spopt PMedian (CBC)", "k": k, "capacitated": False, "arcs": cost.size, "build_s": built,
            "objective": objective, "status": pulp.LpStatus[model.problem.status], "seconds": time.perf_counter() - t, "peak_mb": _peak_mb()}


def run_embedded(facility: str, time_limit: float, gap: float) -> dict:
    from geo_almaty.locate import locate_facility
    from geo_almaty.pipeline import load_inputs

    started = time.perf_counter()
    inputs = load_inputs(profiles=[facility])
    outcome = locate_facility(inputs, facility, time_limit=time_limit, gap=gap)
    solution = outcome.model.solution
    return {"method": "geo_almaty.locate (embedded)", "facility": facility, "model": outcome.spec.model, "points": len(outcome.points),
            "locations": len(outcome.locations), "arcs": outcome.model.problem.n_arcs, "sites": len(outcome.site_location),
            "min_sites": outcome.model.min_sites, "served_t": outcome.impact.served_t, "tkm": outcome.impact.tkm, "gap": solution.gap,
            "status": solution.status, "solve_s": solution.elapsed, "seconds": time.perf_counter() - started,
            "first_incumbent_s": solution.milestones.first_incumbent, "gap_1pct_s": solution.milestones.gap_1pct, "peak_mb": _peak_mb()}


def _limit_memory(gigabytes: float) -> None:
    size = int(gigabytes * 1024**3)
    resource.setrlimit(resource.RLIMIT_AS, (size, size))


def in_child(func, *args, timeout: float, memory_gb: float | None = None) -> dict:
    """Run ``func(*args)`` in a fresh process; a crash, a timeout or a memory cap becomes a row saying so."""
    context = mp.get_context("spawn")
    init = (_limit_memory, (memory_gb,)) if memory_gb else (None, ())
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=init[0], initargs=init[1]) as pool:
        future = pool.submit(func, *args)
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            for process in pool._processes.values():  # noqa: SLF001 - the only way to stop a stuck child
                process.kill()
            return {"method": func.__name__, "args": list(args), "status": f"killed after {timeout:.0f} s", "seconds": time.perf_counter() - started}
        except Exception as exc:  # noqa: BLE001 - a baseline failing (e.g. out of memory) is a result
            return {"method": func.__name__, "args": list(args), "status": f"failed: {type(exc).__name__}: {exc}"[:200],
                    "seconds": time.perf_counter() - started}


def _fmt(value, digits=1):
    if value is None:
        return "—"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "—"
        return f"{value:,.{digits}f}"
    return str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds per solve (default %(default)s)")
    parser.add_argument("--gap", type=float, default=0.001, help="geo_almaty's target gap (default %(default)s)")
    parser.add_argument("--ks", type=int, nargs="+", default=[10, 20])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-highs", action="store_true")
    parser.add_argument("--skip-spopt", action="store_true")
    parser.add_argument("--skip-embedded", action="store_true")
    parser.add_argument("--spopt-memory-gb", type=float, default=8.0, help="address-space cap of the spopt child (default %(default)s)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    grace = 600.0  # model building and clean-up around the solver's own limit
    rows = []

    def report(row: dict) -> None:
        rows.append(row)
        print(json.dumps(row, default=str), flush=True)

    for k in args.ks:
        report(in_child(run_ours, k, args.time_limit, args.gap, True, args.seed, timeout=args.time_limit + grace))
        if not args.skip_highs:
            report(in_child(run_highs_plain, k, args.time_limit, args.seed, timeout=args.time_limit + grace))
    if not args.skip_spopt:
        k = args.ks[0]
        report(in_child(run_ours, k, args.time_limit, args.gap, False, args.seed, timeout=args.time_limit + grace))
        report(in_child(run_spopt, k, args.time_limit, args.seed, timeout=args.time_limit + grace, memory_gb=args.spopt_memory_gb))
    if not args.skip_embedded:
        for facility in ("composting_hub", "material_bank", "reuse_warehouse"):
            report(in_child(run_embedded, facility, min(args.time_limit, 60.0), args.gap, timeout=args.time_limit + grace))
    print()
    print(f"{'method':<30} {'k':>3} {'cap':>4} {'arcs':>10} {'objective':>14} {'gap':>8} {'1st inc s':>9} {'1% s':>7} {'0.1% s':>7} "
          f"{'solve s':>8} {'peak MB':>8}  status")
    for r in rows:
        print(f"{str(r.get('method'))[:30]:<30} {_fmt(r.get('k', r.get('facility', '')))[:12]:>3} {str(r.get('capacitated', ''))[:4]:>4} "
              f"{_fmt(r.get('arcs'))[:10]:>10} {_fmt(r.get('objective'))[:14]:>14} "
              f"{(_fmt(100 * r['gap'], 3) + ' %') if isinstance(r.get('gap'), float) and math.isfinite(r['gap']) else '—':>8} "
              f"{_fmt(r.get('first_incumbent_s')):>9} {_fmt(r.get('gap_1pct_s')):>7} {_fmt(r.get('gap_01pct_s')):>7} "
              f"{_fmt(r.get('seconds', r.get('solve_s'))):>8} {_fmt(r.get('peak_mb'), 0):>8}  {r.get('status')}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
