"""Fine grids within a memory budget: the city at 10 m and the study area at 30 m, in tiles, on Dask, and in memory where it fits.

Every case runs ``geo-almaty score`` through the library (load, score, select, write GeoPackage, CSV and GeoTIFF) in a
fresh child process. The parent samples the resident memory of the child and all its descendants (Dask workers
included) every 0.1 s and reads the child's ``ru_maxrss`` when it ends.

    python benchmarks/bench_scale.py                        # the default cases at a 4 GiB budget (about 30-60 min on 2 cores)
    python benchmarks/bench_scale.py --cases memory:study:100 tiled:study:100 --budget 2GiB
    python benchmarks/bench_scale.py --cases robust-memory:study:250 robust-tiled:study:250 robust-dask:study:250 --tiles 4

A case is ``MODE:AREA:CELL``: MODE ``memory`` (the in-memory path; refused with its estimate above the budget), ``tiled``
(strips in this process) or ``dask`` (strips as tasks on a LocalCluster of 2 worker processes × 1 thread); AREA ``city``
(candidates within the city boundary; flows from the whole study area) or ``study`` (the whole study area); CELL in m,
or ``fit`` for the finest nice cell size whose in-memory estimate fits the budget. MODE ``robust-memory``, ``robust-tiled`` or
``robust-dask`` also runs ``geo-almaty robust`` on the scored grid (``--samples`` samples, seed 0; ``--tiles`` strips forced,
so that a grid that fits in memory is still cut) and writes its files; the table then compares the robust sites CSV, the
OAT CSV and the frequency GeoTIFF's decoded bands between the paths.
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


def child(mode: str, area: str, cell: float, budget: str, profile: str, out: Path, samples: int = 0, tiles: int | None = None) -> dict:
    """One case in this process; returns what the parent prints."""
    sys.path.insert(0, str(ROOT))
    from geo_almaty.errors import MemoryBudgetError
    from geo_almaty.pipeline import analyse_facility_robustness, load_inputs, score_facility, write_facility_outputs
    from geo_almaty.tiles import open_engine

    robust = mode.startswith("robust-")
    mode = mode.removeprefix("robust-")
    within = "city_boundary" if area == "city" else None
    started = time.perf_counter()
    engine = open_engine("dask", workers=2, threads=1) if mode == "dask" else open_engine("local")
    robust_seconds, robust_hashes = 0.0, {}
    try:
        with engine:
            try:
                tile_cells = None
                if tiles and mode != "memory":
                    grid = grid_of(within, cell)
                    tile_cells = -(-grid.height // tiles) * grid.width
                inputs = load_inputs(None, cell, profiles=[profile], memory_budget=budget, within=within,
                                     tiling="never" if mode == "memory" else "always", engine=engine if mode == "dask" else None,
                                     tile_cells=tile_cells)
            except MemoryBudgetError as exc:
                return {"refused": str(exc), "seconds": time.perf_counter() - started}
            loaded = time.perf_counter()
            outcome = score_facility(inputs, profile)
            scored = time.perf_counter()
            if robust:
                analysis = analyse_facility_robustness(inputs, outcome, samples=samples, seed=0)
                robust_seconds = time.perf_counter() - scored
        paths = write_facility_outputs(outcome, inputs, out, "en")
        if robust:
            robust_hashes = robust_output_hashes(analysis, inputs, out)
    except BaseException:
        import traceback

        return {"error": traceback.format_exc()[-2000:]}
    done = time.perf_counter()
    import resource

    plan = getattr(inputs.study, "plan", None)
    hashes = {p.name.rsplit("_", 1)[-1]: hashlib.sha256(p.read_bytes()).hexdigest()[:16] for p in paths}  # score.tif, exclusions.tif, ...
    return {
        "seconds": done - started, "load": loaded - started, "score": scored - loaded, "robust": robust_seconds,
        "write": done - scored - robust_seconds, "robust_hashes": robust_hashes,
        "candidates": outcome.candidate_count, "excluded": outcome.excluded_count, "grid": list(inputs.study.grid.shape),
        "tiles": outcome.tiled.tiles if outcome.tiled else 0, "passes": outcome.tiled.passes if outcome.tiled else {},
        "tile_rows": plan.rows if plan else 0, "plan_peak": plan.peak if plan else 0, "sites": len(outcome.selection),
        "tif": hashes.get("score.tif"), "exclusions": hashes.get("exclusions.tif"), "gpkg": hashes.get("sites.gpkg"),
        "csv": next((v for k, v in hashes.items() if k.endswith(".csv")), None),
        "self_peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "workers_peak": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
    }


def grid_of(within: str | None, cell: float):
    """The candidate grid of the embedded catalog at ``cell`` m (limited to ``within``), without preparing it."""
    from geo_almaty.catalog import load_catalog
    from geo_almaty.layers import load_layers
    from geo_almaty.prepare import candidate_area, study_grid
    from geo_almaty.study_area import study_area_geometry

    catalog = load_catalog()
    layers = load_layers(catalog)
    return study_grid(candidate_area(study_area_geometry(catalog, layers), layers, within), cell)


def robust_output_hashes(analysis, inputs, out: Path) -> dict[str, str]:
    """sha256 of the robust sites and OAT CSVs, and of the frequency GeoTIFF's decoded bands (its bytes depend on the write order)."""
    import rasterio
    from geo_almaty.robust import write_robust_outputs

    hashes = {}
    for path in write_robust_outputs(analysis, inputs.study, out, "en"):
        if path.suffix == ".tif":
            with rasterio.open(path) as src:
                hashes["frequency"] = hashlib.sha256(src.read().tobytes()).hexdigest()[:12]
        elif path.suffix == ".csv":
            hashes[path.stem.rsplit("_", 1)[-1]] = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return hashes


def run_case(case: str, budget: str, profile: str, samples: int = 0, tiles: int | None = None) -> dict:
    """``case`` in a child process, with its peak memory (the child alone, and the child with its descendants)."""
    import psutil

    mode, area, cell = case.split(":")
    if cell == "fit":
        cell = str(fitting_cell_size(area, budget, profile))
    out = Path(tempfile.mkdtemp(prefix="bench_scale_"))
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONWARNINGS="ignore")
    extra = ["--samples", str(samples)] + (["--tiles", str(tiles)] if tiles else [])
    process = subprocess.Popen([sys.executable, __file__, "--child", mode, area, cell, "--budget", budget, "--profile", profile,
                                "--out", str(out), *extra], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
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
    parser.add_argument("--samples", type=int, default=200, help="Monte Carlo samples of the robust-* cases (default %(default)s)")
    parser.add_argument("--tiles", type=int, help="force about this many strips in tiled and Dask cases (default: sized to the budget)")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "AREA", "CELL"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, area, cell = args.child
        print(json.dumps(child(mode, area, float(cell), args.budget, args.profile, args.out, args.samples, args.tiles)), flush=True)
        return
    print(f"budget {args.budget}, profile {args.profile}, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")
    print("| case | cell (m) | grid | candidates | tiles (rows) | time (s) | peak RSS: process / largest worker / all processes (MB) "
          "| plan peak (MB) | load | outputs sha256 (score tif/exclusions tif/csv) |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---|---|")
    for case in args.cases:
        result = run_case(case, args.budget, args.profile, args.samples, args.tiles)
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
              f"(load {result['load']:.1f}, score {result['score']:.1f}, "
              + (f"robust {result['robust']:.1f}, " if result["robust"] else "") + f"write {result['write']:.1f}) | "
              f"{result['self_peak'] / 1e6:,.0f} / {result['workers_peak'] / 1e6:,.0f} / {result['tree_peak'] / 1e6:,.0f} | "
              f"{result['plan_peak'] / 1e6 if result['plan_peak'] else 0:,.0f} | "
              f"{result['loadavg'][0]:.1f}-{result['loadavg'][1]:.1f} | {result['tif']}/{result['exclusions']}/{result['csv']}"
              + ("; robust sites/oat/frequency " + "/".join(result["robust_hashes"].get(k, "-") for k in ("sites", "oat", "frequency"))
                 if result["robust_hashes"] else "") + " |", flush=True)


if __name__ == "__main__":
    main()
