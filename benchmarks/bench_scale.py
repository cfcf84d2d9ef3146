"""Fine grids within a memory budget: the city at 10 m and the study area at 30 m, in tiles, on Dask, and in memory where it fits.

Every case runs ``geo-almaty score`` through the library (load, score, select, write GeoPackage, CSV and GeoTIFF) in a
fresh child process. The parent samples the resident memory of the child and all its descendants (Dask workers
included) every 0.1 s and reads the child's ``ru_maxrss`` when it ends.

    python benchmarks/bench_scale.py                        # the default cases at a 4 GiB budget (about 30-60 min on 2 cores)
    python benchmarks/bench_scale.py --cases memory:study:100 tiled:study:100 --budget 2GiB

A case is ``MODE:AREA:CELL``: MODE ``memory`` (the in-memory path; refused with its estimate above the budget), ``tiled``
(strips in this process) or ``dask`` (strips as tasks on a LocalCluster of 2 worker processes × 1 thread); AREA ``city``
(candidates within the city boundary; flows from the whole study area) or ``study`` (the whole study area); CELL in m,
or ``fit`` for the finest nice cell size whose in-memory estimate fits the budget.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CASES = ("memory:study:fit", "tiled:study:fit", "dask:study:fit", "memory:city:10", "tiled:city:10", "dask:city:10",
                 "memory:study:30", "tiled:study:30")


def child(mode: str, area: str, cell: float, budget: str, profile: str, out: Path) -> dict:
    """One case in this process; returns what the parent prints."""
    sys.path.insert(0, str(ROOT))
    from geo_almaty.errors import MemoryBudgetError
    from geo_almaty.pipeline import load_inputs, score_facility, write_facility_outputs
    from geo_almaty.tiles import open_engine

    within = "city_boundary" if area == "city" else None
    started = time.perf_counter()
    engine = open_engine("dask", workers=2, threads=1) if mode == "dask" else open_engine("local")
    try:
        with engine:
            try:
                inputs = load_inputs(None, cell, profiles=[profile], memory_budget=budget, within=within,
                                     tiling="never" if mode == "memory" else "always", engine=engine if mode == "dask" else None)
            except MemoryBudgetError as exc:
                return {"refused": str(exc), "seconds": time.perf_counter() - started}
            loaded = time.perf_counter()
            outcome = score_facility(inputs, profile)
        scored = time.perf_counter()
        paths = write_facility_outputs(outcome, inputs, out, "en")
    except BaseException:
        import traceback

        return {"error": traceback.format_exc()[-2000:]}
    done = time.perf_counter()
    import resource

    plan = getattr(inputs.study, "plan", None)
    hashes = {p.name.rsplit("_", 1)[-1]: hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in paths}  # score.tif, exclusions.tif, ...
    return {
        "seconds": done - started, "load": loaded - started, "score": scored - loaded, "write": done - scored,
        "candidates": outcome.candidate_count, "excluded": outcome.excluded_count, "grid": list(inputs.study.grid.shape),
        "tiles": outcome.tiled.tiles if outcome.tiled else 0, "passes": outcome.tiled.passes if outcome.tiled else {},
        "tile_rows": plan.rows if plan else 0, "plan_peak": plan.peak if plan else 0, "sites": len(outcome.selection),
        "tif": hashes.get("score.tif"), "exclusions": hashes.get("exclusions.tif"), "gpkg": hashes.get("sites.gpkg"),
        "csv": next((v for k, v in hashes.items() if k.endswith(".csv")), None),
        "self_peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "workers_peak": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
    }


def run_case(case: str, budget: str, profile: str) -> dict:
    """``case`` in a child process, with its peak memory (the child alone, and the child with its descendants)."""
    import psutil

    mode, area, cell = case.split(":")
    if cell == "fit":
        cell = str(fitting_cell_size(area, budget, profile))
    out = Path(tempfile.mkdtemp(prefix="bench_scale_"))
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONWARNINGS="ignore")
    process = subprocess.Popen([sys.executable, __file__, "--child", mode, area, cell, "--budget", budget, "--profile", profile,
                                "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    parent = psutil.Process(process.pid)
    tree_peak, loads = 0, [os.getloadavg()[0]]
    while process.poll() is None:
        try:
            tree = [parent, *parent.children(recursive=True)]
            tree_peak = max(tree_peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.1)
    loads.append(os.getloadavg()[0])
    status = process.returncode
    text = process.stdout.read().decode()
    shutil.rmtree(out, ignore_errors=True)
    result = json.loads(text.strip().splitlines()[-1]) if text.strip() else {"error": f"exit {status}"}
    result.update(case=case, cell=float(cell), tree_peak=tree_peak, loadavg=loads)
    return result


def fitting_cell_size(area: str, budget: str, profile: str) -> float:
    """The finest nice cell size (m) whose in-memory estimate fits ``budget``."""
    sys.path.insert(0, str(ROOT))
    from geo_almaty.allocate import load_allocation_specs
    from geo_almaty.catalog import load_catalog
    from geo_almaty.layers import load_layers
    from geo_almaty.memory import NICE_CELL_SIZES, estimate_memory, memory_budget, workload_for
    from geo_almaty.prepare import candidate_area, study_grid
    from geo_almaty.profiles import load_profile
    from geo_almaty.study_area import study_area_geometry

    catalog = load_catalog()
    layers = load_layers(catalog)
    full = study_area_geometry(catalog, layers)
    within = "city_boundary" if area == "city" else None
    region = candidate_area(full, layers, within)
    specs = load_allocation_specs()
    loaded = [load_profile(profile, catalog, set(specs))]
    limit = memory_budget(budget)
    for size in NICE_CELL_SIZES:
        workload = workload_for(study_grid(region, size), region, layers, catalog, profiles=loaded, allocation_specs=specs,
                                supply_area=full if within else None)
        if estimate_memory(workload).peak <= limit:
            return float(size)
    raise SystemExit("no cell size fits the budget")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(DEFAULT_CASES))
    parser.add_argument("--budget", default="4GiB", help="memory budget of every case (default %(default)s)")
    parser.add_argument("--profile", default="composting_hub")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "AREA", "CELL"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, area, cell = args.child
        print(json.dumps(child(mode, area, float(cell), args.budget, args.profile, args.out)), flush=True)
        return
    print(f"budget {args.budget}, profile {args.profile}, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")
    print("| case | cell (m) | grid | candidates | tiles (rows) | time (s) | peak RSS: process / largest worker / all processes (MB) "
          "| plan peak (MB) | load | outputs sha256 (score tif/exclusions tif/csv) |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---|---|")
    for case in args.cases:
        result = run_case(case, args.budget, args.profile)
        if "refused" in result:
            print(f"| {case} | {result['cell']:g} | — | — | — | {result['seconds']:.1f} (refused) | — | — | {result['loadavg'][0]:.1f} | "
                  f"{result['refused'][:300]} |", flush=True)
            continue
        if "error" in result:
            print(f"| {case} | {result['cell']:g} | ERROR {result['error'][-600:]!r} |", flush=True)
            continue
        grid = "×".join(f"{v:,}" for v in result["grid"])
        tiles = f"{result['tiles']} ({result['tile_rows']:,})" if result["tiles"] else "—"
        print(f"| {case} | {result['cell']:g} | {grid} | {result['candidates']:,} | {tiles} | {result['seconds']:.1f} "
              f"(load {result['load']:.1f}, score {result['score']:.1f}, write {result['write']:.1f}) | "
              f"{result['self_peak'] / 1e6:,.0f} / {result['workers_peak'] / 1e6:,.0f} / {result['tree_peak'] / 1e6:,.0f} | "
              f"{result['plan_peak'] / 1e6 if result['plan_peak'] else 0:,.0f} | "
              f"{result['loadavg'][0]:.1f}-{result['loadavg'][1]:.1f} | {result['tif']}/{result['exclusions']}/{result['csv']} |", flush=True)


if __name__ == "__main__":
    main()
