"""Speed of the scoring stage on the embedded Almaty data, against a straightforward geopandas implementation.

Usage::

    python benchmarks/bench_scoring.py [--profile composting_hub] [--sizes 100000 1000000]
                                       [--budget 10] [--repeat 3] [--seed 0] [--no-naive]

For every size the study area (~7,630 km²) is cut into square cells of
``sqrt(area / size)`` metres, so the candidate count is close to ``size`` (the
actual count is printed). Each size runs in two fresh child processes, so the
peak memory of one does not pollute the other:

* **fast**: ``prepare_study`` + ``allocate_flows`` (timed once, "prepare") and
  ``score_candidates`` for one profile with all its exclusions and criteria,
  value functions and aggregation (timed ``--repeat`` times; best and median);
  then a per-step breakdown (exclusions, each criterion) for information.
* **naive**: the same cells as a GeoDataFrame of cell centres, and per step the
  obvious geopandas code: ``sjoin`` with buffered exclusion polygons,
  ``sjoin_nearest(distance_col=...)`` for distance/colocation, ``overlay`` of
  square cells for shares, ``buffer(radius)`` + ``sjoin`` against the
  allocation's supply cells + ``groupby().sum()`` for reachable supply. Each step
  gets a time budget: when running it on every cell would exceed the budget it
  runs on a random subsample (same seed for every step) and its time is
  extrapolated linearly, which the report says ("extrapolated from N cells").
  Value functions and aggregation (plain numpy, well under a second) are not
  counted on the naive side, so the ratio errs on the low side.

The naive results are also compared with the fast ones on the cells the naive
code ran on, so the benchmark doubles as a cross-check: distances within the
densification tolerance, shares within the oversampling resolution, reachable
supply equal where the definitions match (an exact disc test on a subsample).

Speed is measured here, never in timed unit tests. See ``benchmarks/README.md``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DEFAULT_PROFILE = "composting_hub"
DEFAULT_SIZES = (100_000, 1_000_000)
TARGET_SECONDS = 5.0
TARGET_CELLS = 1_000_000
#: Largest number of (cell, supply cell) pairs one naive reachable ``sjoin`` may hold at once.
MAX_PAIRS_PER_CHUNK = 4_000_000
#: Cells of the exact-disc check of the naive reachable supply.
DISC_CHECK_CELLS = 300


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB; ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_average() -> float:
    return os.getloadavg()[0]


def say(text: str = "") -> None:
    print(text, flush=True)


# --- shared set-up ---------------------------------------------------------------------------------

def study_area_m2() -> float:
    import shapely

    from geo_almaty.catalog import load_catalog
    from geo_almaty.layers import read_layer

    frame = read_layer(load_catalog().layer("study_area")).frame
    return float(shapely.union_all(frame.geometry.values).area)


def prepared(cell: float, profile_name: str):
    """Catalog, profile, study, allocations and square candidates; returns them and the prepare time."""
    from geo_almaty.allocate import allocate_flows, load_allocation_specs
    from geo_almaty.candidates import square_candidates
    from geo_almaty.catalog import load_catalog
    from geo_almaty.flows import load_flows, load_labels
    from geo_almaty.prepare import prepare_study
    from geo_almaty.profiles import load_profile

    catalog = load_catalog()
    specs = load_allocation_specs()
    flows = load_flows(labels=load_labels())
    profile = load_profile(profile_name, catalog, set(specs))
    start = time.perf_counter()
    study = prepare_study(catalog, cell)
    allocations = allocate_flows(specs, flows, study.layers, study.grid, study.population_weights())
    prepare_s = time.perf_counter() - start
    return profile, study, allocations, square_candidates(study), prepare_s


# --- fast child --------------------------------------------------------------------------------------

def child_fast(args: argparse.Namespace) -> dict:
    from geo_almaty.candidates import apply_exclusions
    from geo_almaty.criteria import DENSIFY_FRACTION, criterion_raw
    from geo_almaty.errors import ProfileError
    from geo_almaty.score import score_candidates

    load_before = load_average()
    profile, study, allocations, candidates, prepare_s = prepared(args.cell, args.profile)
    rss_prepare = peak_rss_mb()
    times = []
    result = None
    for _ in range(args.repeat):
        result = None  # drop the previous run's arrays so the peak is that of one run
        start = time.perf_counter()
        result = score_candidates(profile, study, candidates, allocations)
        times.append(time.perf_counter() - start)
    rss_peak = peak_rss_mb()
    n = len(candidates)
    np.savez(args.results, raw=result.raw, excluded=result.excluded, exclusion=result.exclusion.astype(str),
             criteria=np.array([c["id"] for c in result.criteria]))

    # Where the time goes (information only; not part of the timed runs above).
    breakdown = []
    start = time.perf_counter()
    apply_exclusions(study, candidates, list(profile.exclusions))
    breakdown.append(("exclusions", "exclusions", f"{len(profile.exclusions)} rules, raster burn", time.perf_counter() - start))
    cache: dict = {}
    for spec in profile.criteria:
        start = time.perf_counter()
        try:
            criterion_raw(spec, study, candidates, allocations, cache)
            note = spec["type"]
        except ProfileError as exc:
            note = f"{spec['type']}, skipped: {exc.problem}"
        breakdown.append((spec["id"], spec["type"], note, time.perf_counter() - start))
    return {
        "cells": n, "cell_m": args.cell, "grid": list(study.grid.shape), "excluded": int(result.excluded.sum()),
        "criteria": len(profile.criteria), "exclusions": len(profile.exclusions), "skipped": result.skipped,
        "prepare_s": prepare_s, "score_s": times, "rss_prepare_mb": rss_prepare, "rss_peak_mb": rss_peak,
        "breakdown": breakdown, "densify_step_m": max(args.cell * DENSIFY_FRACTION, 1.0),
        "load_before": load_before, "load_after": load_average(),
    }


# --- naive child -------------------------------------------------------------------------------------

class Step:
    """One naive step: a set-up done once, and a per-cell part run on (a subsample of) the cells."""

    def __init__(self, name: str, kind: str, method: str, per_cells, setup=None, chunk: int | None = None, note: str = ""):
        self.name, self.kind, self.method, self.per_cells = name, kind, method, per_cells
        self.setup, self.chunk, self.note = setup, chunk, note


def run_budgeted(step: Step, perm: np.ndarray, budget: float) -> dict:
    """Run ``step`` on every cell, or on a random subsample when that would exceed ``budget`` seconds."""
    setup_s = 0.0
    if step.setup is not None:
        start = time.perf_counter()
        step.setup()
        setup_s = time.perf_counter() - start
    total = len(perm)

    def timed(n: int) -> tuple[float, np.ndarray, np.ndarray]:
        idx = np.sort(perm[:n])
        size = step.chunk or n
        start = time.perf_counter()
        parts = [step.per_cells(idx[i:i + size]) for i in range(0, n, size)]
        seconds = time.perf_counter() - start
        return seconds, idx, np.concatenate(parts)

    n = min(total, 64)
    seconds, idx, values = timed(n)
    while n < total and seconds < min(0.5, budget / 8):  # pilot: grow until the time per cell is measurable
        n = min(total, n * 8)
        seconds, idx, values = timed(n)
    if n < total:
        rate = seconds / n
        target = total if rate * total <= budget else int(min(total, max(n, 0.5 * budget / rate)))
        if target > 1.5 * n or target == total:
            n = target
            seconds, idx, values = timed(n)
    per_cell_s = seconds * total / n
    return {"name": step.name, "kind": step.kind, "method": step.method, "note": step.note, "setup_s": setup_s, "measured_s": seconds,
            "cells_run": n, "extrapolated": n < total, "seconds": setup_s + per_cell_s, "idx": idx, "values": values}


def child_naive(args: argparse.Namespace) -> dict:
    import geopandas as gpd

    from geo_almaty import settings
    from geo_almaty.criteria import DENSIFY_FRACTION

    load_before = load_average()
    profile, study, allocations, candidates, _ = prepared(args.cell, args.profile)
    total = len(candidates)
    perm = np.random.default_rng(args.seed).permutation(total)
    crs = settings.ANALYSIS_CRS
    cell = study.grid.cell_size

    start = time.perf_counter()
    cells = gpd.GeoDataFrame(geometry=gpd.points_from_xy(candidates.x, candidates.y), crs=crs)
    build_s = time.perf_counter() - start
    say(f"    {'cell centres → GeoDataFrame':<24} {fmt_s(build_s):>10}  points_from_xy (all cells, measured)")

    def subset(layer: str, classes) -> gpd.GeoDataFrame | None:
        frame = study.layer(layer)
        if frame is None:
            return None
        if classes:
            frame = frame[frame[study.catalog.layer(layer).class_column].isin(classes)]
        return frame[["geometry"]]

    def exclusions(idx: np.ndarray) -> np.ndarray:
        points = cells.iloc[idx]
        first = np.full(len(idx), "", dtype=object)
        for rule in profile.exclusions:  # a handful of rules
            zone = subset(rule["layer"], rule.get("classes"))
            if zone is None or not len(zone):
                continue
            buffer_m = float(rule.get("buffer_m", 0))
            if buffer_m > 0:
                zone = zone.set_geometry(zone.buffer(buffer_m, quad_segs=8))  # as the fast path's buffers
            hit = gpd.sjoin(points, zone, predicate="within")
            mask = np.isin(idx, hit.index.unique()) & (first == "")
            first[mask] = rule["id"]
        return first

    steps = [Step("exclusions", "exclusions", "sjoin(within) with buffered polygons", exclusions)]
    checks: dict[str, dict] = {}

    for spec in profile.criteria:
        kind = spec["type"]
        if kind in ("distance", "colocation"):
            features = subset(spec["layer"], spec.get("classes"))

            def nearest(idx: np.ndarray, features=features) -> np.ndarray:
                joined = gpd.sjoin_nearest(cells.iloc[idx], features, distance_col="distance_m")
                return joined.groupby(level=0)["distance_m"].first().reindex(idx).to_numpy()

            steps.append(Step(spec["id"], kind, f"sjoin_nearest ({len(features)} features)", nearest))
        elif kind == "share":
            zone = subset(spec.get("layer", "land_use"), spec["classes"])

            def share(idx: np.ndarray, zone=zone) -> np.ndarray:
                squares = gpd.GeoDataFrame({"cell": idx}, geometry=cells.geometry.iloc[idx].buffer(cell / 2, cap_style="square").values, crs=crs)
                pieces = gpd.overlay(squares, zone, how="intersection", keep_geom_type=True)
                area = pieces.geometry.area.groupby(pieces["cell"].to_numpy()).sum()
                return np.clip(area.reindex(idx, fill_value=0.0).to_numpy() / cell**2, 0, 1)

            steps.append(Step(spec["id"], kind, "overlay(intersection) of square cells + area", share))
        elif kind == "reachable":
            surface = allocations[spec["allocation"]].surface()
            radius = float(spec["radius_m"])
            holder: dict = {}

            def setup(surface=surface, holder=holder) -> None:
                rows, cols = np.nonzero(surface)
                xs, ys = study.grid.centres()
                flat = rows * study.grid.width + cols
                holder["supply"] = gpd.GeoDataFrame({"amount": surface[rows, cols]}, geometry=gpd.points_from_xy(xs[flat], ys[flat]), crs=crs)

            def reach(idx: np.ndarray, radius=radius, holder=holder) -> np.ndarray:
                discs = gpd.GeoDataFrame(geometry=cells.geometry.iloc[idx].buffer(radius), crs=crs)
                joined = gpd.sjoin(discs, holder["supply"], predicate="intersects")
                return joined.groupby(level=0)["amount"].sum().reindex(idx, fill_value=0.0).to_numpy()

            supply_cells = int(np.count_nonzero(surface))
            grid_area = study.grid.width * study.grid.height * cell**2
            pairs_per_cell = max(1.0, supply_cells * math.pi * radius**2 / grid_area)
            chunk = max(1, int(MAX_PAIRS_PER_CHUNK / pairs_per_cell))
            note = (f"{supply_cells:,} supply cells, ~{pairs_per_cell:,.0f} pairs per cell; one sjoin over all cells would hold "
                    f"~{pairs_per_cell * total * 24 / 1e9:,.1f} GB of pairs, so it runs in chunks of {chunk:,} cells")
            steps.append(Step(spec["id"], kind, f"buffer({radius / 1000:g} km) + sjoin + groupby-sum", reach, setup, chunk, note))
            checks[spec["id"]] = {"radius": radius, "holder": holder}
        elif kind == "raster":
            array = study.slope if spec["raster"] == "slope" else study.dem
            if array is None:
                continue  # optional criterion without a DEM: skipped by both paths

            def lookup(idx: np.ndarray, array=array) -> np.ndarray:
                return array.ravel()[candidates.cell[idx]]

            steps.append(Step(spec["id"], kind, "raster value at the cell (same lookup)", lookup))

    results = []
    for step in steps:
        outcome = run_budgeted(step, perm, args.budget)
        results.append(outcome)
        how = (f"extrapolated from {outcome['cells_run']:,} cells: {outcome['measured_s']:.2f} s measured"
               if outcome["extrapolated"] else "all cells, measured")
        setup = f", set-up {outcome['setup_s']:.2f} s" if outcome["setup_s"] else ""
        say(f"    {outcome['name']:<24} {fmt_s(outcome['seconds']):>10}  {outcome['method']} ({how}{setup})")
        if outcome["note"]:
            say(f"      {outcome['note']}")
    rss_peak = peak_rss_mb()  # before loading the fast results for the comparison

    # --- cross-check against the fast path ---
    fast = np.load(args.results, allow_pickle=False)
    ids = list(fast["criteria"])
    step_m = max(cell * DENSIFY_FRACTION, 1.0)
    report = []
    for outcome in results:
        idx, values = outcome["idx"], outcome["values"]
        name = outcome["name"]
        if name == "exclusions":
            flags = fast["exclusion"][idx]
            naive = values.astype(str)
            differ = int((flags != naive).sum())
            report.append((name, f"exclusion differs for {differ:,} of {len(idx):,} cells", differ == 0))
            continue
        spec = profile.criteria[ids.index(name)]
        mine = fast["raw"][idx, ids.index(name)]
        if spec["type"] in ("distance", "colocation"):
            delta = mine - values
            ok = bool(delta.max() <= cell / 4 and delta.min() >= -1e-6)
            report.append((name, f"fast - naive in [{delta.min():.3f}, {delta.max():.3f}] m; tolerance cell/4 = {cell / 4:.1f} m "
                                 f"(half the sample spacing: {step_m / 2:.1f} m)", ok))
        elif spec["type"] == "share":
            delta = np.abs(mine - values)
            ok = bool(np.percentile(delta, 99) <= 1 / 16)
            report.append((name, f"|fast - naive| max {delta.max():.3f}, p99 {np.percentile(delta, 99):.3f}, mean {delta.mean():.4f}; "
                                 f"oversampling resolution 1/16 = 0.0625", ok))
        elif spec["type"] == "reachable":
            scale = max(float(np.abs(mine).max()), 1e-12)
            buffered = float(np.abs(mine - values).max()) / scale
            check = checks[name]
            sample = idx[:DISC_CHECK_CELLS]
            near = gpd.sjoin(cells.iloc[sample], check["holder"]["supply"], predicate="dwithin", distance=check["radius"])
            exact = near.groupby(level=0)["amount"].sum().reindex(sample, fill_value=0.0).to_numpy()
            disc = float(np.abs(fast["raw"][sample, ids.index(name)] - exact).max()) / scale
            ok = disc <= 1e-6
            report.append((name, f"vs buffer polygon (64-gon inside the circle): max |Δ| {buffered:.1e} of the largest value; "
                                 f"vs exact disc (sjoin dwithin, {len(sample)} cells): {disc:.1e}", ok))
        else:
            delta = np.abs(mine - values)
            report.append((name, f"max |Δ| {np.nanmax(delta) if len(delta) else 0:.3g}", bool(np.nanmax(delta) <= 1e-9)))
    for outcome in results:
        del outcome["idx"], outcome["values"]
    return {"cells": total, "build_s": build_s, "steps": results, "checks": report, "rss_peak_mb": rss_peak,
            "load_before": load_before, "load_after": load_average()}


# --- parent ------------------------------------------------------------------------------------------

def run_child(mode: str, cell: float, args: argparse.Namespace, results: Path) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    command = [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--cell", repr(cell), "--profile", args.profile,
               "--repeat", str(args.repeat), "--budget", str(args.budget), "--seed", str(args.seed), "--results", str(results),
               "--out", str(out)]
    try:
        subprocess.run(command, check=True)
        return json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)


def run_json_child(script: str | Path, arguments: list[str]) -> dict:
    """Run ``script`` with ``arguments`` plus ``--out FILE`` in a fresh Python process and return the JSON it wrote there."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    try:
        subprocess.run([sys.executable, str(Path(script).resolve()), *arguments, "--out", str(out)], check=True)
        return json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        ram = float("nan")
    return f"{os.cpu_count()} cores ({model}), {ram:.0f} GiB RAM, {platform.system()} {platform.release()}"


def versions() -> str:
    import geopandas
    import scipy
    import shapely

    return (f"Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, shapely {shapely.__version__} "
            f"(GEOS {'.'.join(map(str, shapely.geos_version))}), geopandas {geopandas.__version__}")


def fmt_s(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds < 100 else f"{seconds:,.0f} s"


def parent(args: argparse.Namespace) -> None:
    say(f"bench_scoring — {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    say(f"machine: {machine()}")
    say(f"software: {versions()}")
    say(f"profile: {args.profile}; fast scoring timed {args.repeat}× (best and median); naive budget {args.budget:g} s per step, seed {args.seed}")
    say(f"load average at start: {load_average():.2f} (other work on the machine slows every number below)")
    area = study_area_m2()
    say(f"study area: {area / 1e6:,.0f} km²")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            cell = math.sqrt(area / size)
            results = Path(tmp) / f"fast_{size}.npz"
            say()
            say(f"== requested {size:,} cells → cell {cell:.1f} m ==")
            fast = run_child("fast", cell, args, results)
            best, median = min(fast["score_s"]), float(np.median(fast["score_s"]))
            n = fast["cells"]
            say(f"  cells: {n:,} candidates ({fast['excluded']:,} excluded), grid {fast['grid'][0]}×{fast['grid'][1]}")
            say(f"  fast prepare (prepare_study + allocate_flows): {fmt_s(fast['prepare_s'])}")
            say(f"  fast score {args.profile} ({fast['criteria']} criteria, {fast['exclusions']} exclusions"
                + (f"; skipped without data: {', '.join(fast['skipped'])}" if fast["skipped"] else "") + "): "
                f"best {fmt_s(best)}, median {fmt_s(median)} of {len(fast['score_s'])} → {n / median:,.0f} cells/s")
            say(f"  fast peak RSS: {fast['rss_peak_mb']:,.0f} MB (after prepare: {fast['rss_prepare_mb']:,.0f} MB)")
            say("  fast breakdown (one extra run, per step):")
            for name, _, note, seconds in fast["breakdown"]:
                say(f"    {name:<24} {seconds:7.2f} s  {note}")
            row = {"size": size, "cells": n, "cell_m": cell, "prepare_s": fast["prepare_s"], "best_s": best, "median_s": median,
                   "rss_fast": fast["rss_peak_mb"], "load": max(fast["load_before"], fast["load_after"])}
            if not args.no_naive:
                say("  naive geopandas, per step (one child process):")
                naive = run_child("naive", cell, args, results)
                total = naive["build_s"] + sum(s["seconds"] for s in naive["steps"])
                extrapolated = [s for s in naive["steps"] if s["extrapolated"]]
                say(f"  naive total: {fmt_s(total)}" + (f" ({len(extrapolated)} of {len(naive['steps'])} steps extrapolated)" if extrapolated else " (all measured)"))
                say(f"  naive peak RSS: {naive['rss_peak_mb']:,.0f} MB")
                say(f"  ratio naive / fast (median): {total / median:,.0f}×")
                say("  by kind of step, naive vs fast (fast from the breakdown run):")
                for kind in dict.fromkeys(s["kind"] for s in naive["steps"]):
                    naive_s = sum(s["seconds"] for s in naive["steps"] if s["kind"] == kind)
                    fast_s = sum(b[3] for b in fast["breakdown"] if b[1] == kind)
                    count = sum(1 for s in naive["steps"] if s["kind"] == kind)
                    say(f"    {kind:<12} ×{count:<2} naive {fmt_s(naive_s):>10}   fast {fmt_s(fast_s):>8}   ratio {naive_s / max(fast_s, 1e-9):,.0f}×")
                say("  cross-check, naive vs fast on the cells the naive code ran on:")
                for name, text, ok in naive["checks"]:
                    say(f"    {'ok  ' if ok else 'FAIL'} {name:<24} {text}")
                row.update(naive_s=total, naive_extrapolated=len(extrapolated), naive_steps=len(naive["steps"]), ratio=total / median,
                           rss_naive=naive["rss_peak_mb"], checks_ok=all(ok for _, _, ok in naive["checks"]),
                           load=max(row["load"], naive["load_before"], naive["load_after"]))
            rows.append(row)

    say()
    say("## Results")
    say()
    say("| cells | cell (m) | prepare (s) | score best / median (s) | cells/s | peak RSS fast | naive (s) | ratio naive/fast | peak RSS naive | cross-check | load avg |")
    say("|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|---:|")
    for r in rows:
        naive = (f"{r['naive_s']:,.1f}" + (f" (extrap. {r['naive_extrapolated']}/{r['naive_steps']} steps)" if r["naive_extrapolated"] else "")
                 if "naive_s" in r else "—")
        say(f"| {r['cells']:,} | {r['cell_m']:.1f} | {r['prepare_s']:.2f} | {r['best_s']:.2f} / {r['median_s']:.2f} | {r['cells'] / r['median_s']:,.0f} "
            f"| {r['rss_fast']:,.0f} MB | {naive} | {r['ratio']:,.0f}× | {r['rss_naive']:,.0f} MB | {'ok' if r['checks_ok'] else 'FAIL'} | {r['load']:.1f} |"
            if "naive_s" in r else
            f"| {r['cells']:,} | {r['cell_m']:.1f} | {r['prepare_s']:.2f} | {r['best_s']:.2f} / {r['median_s']:.2f} | {r['cells'] / r['median_s']:,.0f} "
            f"| {r['rss_fast']:,.0f} MB | — | — | — | — | {r['load']:.1f} |")
    for r in rows:
        if abs(r["cells"] - TARGET_CELLS) <= 0.05 * TARGET_CELLS:
            verdict = "meets" if r["median_s"] <= TARGET_SECONDS else "MISSES"
            say()
            say(f"target: scoring one profile on ~1M cells in ≤ {TARGET_SECONDS:g} s — {verdict} it (median {r['median_s']:.2f} s, best {r['best_s']:.2f} s, "
                f"{os.cpu_count()} cores, load average up to {r['load']:.1f}).")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default=DEFAULT_PROFILE, help="facility profile (default composting_hub)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), help="requested candidate counts")
    parser.add_argument("--budget", type=float, default=10.0, help="seconds per naive step before it is subsampled and extrapolated")
    parser.add_argument("--repeat", type=int, default=3, help="timed fast scoring runs per size")
    parser.add_argument("--seed", type=int, default=0, help="seed of the naive subsample")
    parser.add_argument("--no-naive", action="store_true", help="time the fast path only")
    parser.add_argument("--child", choices=["fast", "naive"], help=argparse.SUPPRESS)
    parser.add_argument("--cell", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--results", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        outcome = child_fast(args) if args.child == "fast" else child_naive(args)
        Path(args.out).write_text(json.dumps(outcome))
    else:
        parent(args)


if __name__ == "__main__":
    main()
