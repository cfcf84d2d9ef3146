"""Speed and memory of the siting rules (sanitary zones, airports, water, jurisdiction), against plain geopandas.

Usage::

    python benchmarks/bench_siting.py [--profile composting_hub] [--sizes 0 1000000]

Size ``0`` is the embedded 250 m grid; any other size cuts the study area into square
cells of ``sqrt(area / size)`` metres, as ``bench_scoring.py`` does. Each (size,
approach) runs in a fresh child process, so its peak memory is its own.

* **fast**: :func:`geo_almaty.siting.zones.evaluate_rules` for the profile's siting rules
  (the profile's own exclusions left out): circumscribed buffers burnt with
  ``all_touched`` on the grid, one boolean column per rule;
* **naive** (the obvious geopandas code): the cells as squares, every rule's features
  buffered by their distance, ``gpd.sjoin(cells, zones, predicate="intersects")`` per
  rule (and per slope tier for the water strip), ``within`` of the cell centres for the
  jurisdiction.

The masks are compared: every disagreement must be a cell whose exact distance to the
rule's features lies within the tolerance of the limit (the naive buffers are inscribed
polygons, the fast ones circumscribed).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scoring import (fmt_s, load_average, machine, peak_rss_mb, prepared, run_json_child, say, study_area_m2,  # noqa: E402
                           versions)

DEFAULT_PROFILE = "composting_hub"
DEFAULT_SIZES = (0, 1_000_000)


def _siting_plan(profile, study):
    from geo_almaty.siting.zones import SitingPlan, build_siting_plan

    plan = build_siting_plan(profile, study)
    return SitingPlan(plan.facility_type, plan.capacity_t_yr, plan.zone, [r for r in plan.rules if r.kind != "profile"], plan.missing)


def naive_masks(plan, study, candidates) -> np.ndarray:
    """Plain geopandas: sjoin of cell squares with buffered features, rule by rule."""
    import geopandas as gpd

    from geo_almaty import settings
    from geo_almaty.siting.zones import sample_cells

    cells = gpd.GeoDataFrame(geometry=candidates.geometries(study), crs=settings.ANALYSIS_CRS)
    centres = gpd.GeoDataFrame(geometry=gpd.points_from_xy(candidates.x, candidates.y), crs=settings.ANALYSIS_CRS)
    slope = sample_cells(study.slope, candidates)
    masks = np.zeros((len(candidates), len(plan.rules)), dtype=bool)

    def hits(features: gpd.GeoSeries, radius) -> np.ndarray:
        zones = gpd.GeoDataFrame(geometry=features.buffer(radius), crs=settings.ANALYSIS_CRS)
        joined = gpd.sjoin(cells, zones, predicate="intersects", how="inner")
        mask = np.zeros(len(cells), dtype=bool)
        mask[np.unique(joined.index.to_numpy())] = True
        return mask

    for j, rule in enumerate(plan.rules):
        geoms = rule.features.geometry
        if rule.kind == "jurisdiction":
            inside = gpd.sjoin(centres, gpd.GeoDataFrame(geometry=geoms, crs=settings.ANALYSIS_CRS), predicate="within", how="inner")
            masks[:, j] = True
            masks[np.unique(inside.index.to_numpy()), j] = False
        elif rule.slope_widths is not None:
            limits = np.array([s for s, _ in rule.slope_widths])
            tier = np.minimum(np.searchsorted(limits, np.nan_to_num(slope, nan=np.inf)), len(limits) - 1)
            for t, (_, width) in enumerate(rule.slope_widths):
                masks[:, j] |= (tier == t) & hits(geoms, width)
        else:
            masks[:, j] = hits(geoms, rule.radius_m)
    return masks


def child(args: argparse.Namespace) -> dict:
    import shapely

    from geo_almaty import settings
    from geo_almaty.siting.zones import BUFFER_TOLERANCE_M, FLAG_TOLERANCE_SHARE, evaluate_rules, required_strip_width, sample_cells

    load_before = load_average()
    cell = args.cell or settings.DEFAULT_CELL_SIZE_M
    profile, study, allocations, candidates, prepare_s = prepared(cell, args.profile)
    plan = _siting_plan(profile, study)
    rss_base = peak_rss_mb()
    start = time.perf_counter()
    if args.child == "fast":
        masks = evaluate_rules(plan, study, candidates).masks
    else:
        masks = naive_masks(plan, study, candidates)
    seconds = time.perf_counter() - start
    out = {"mode": args.child, "cells": len(candidates), "cell_m": cell, "rules": [r.id for r in plan.rules], "seconds": seconds,
           "prepare_s": prepare_s, "rss_base_mb": rss_base, "rss_peak_mb": peak_rss_mb(), "load": load_before}
    np.save(args.masks, masks)
    if args.child == "naive" and Path(args.other).is_file():
        fast = np.load(args.other)
        outlines = candidates.geometries(study)
        slope = sample_cells(study.slope, candidates)
        checks = {}
        for j, rule in enumerate(plan.rules):
            differ = np.flatnonzero(fast[:, j] != masks[:, j])
            if not len(differ):
                checks[rule.id] = [0, 0.0]
                continue
            if rule.kind == "jurisdiction":
                checks[rule.id] = [int(len(differ)), float("nan")]
                continue
            footprint = rule.footprint_m if rule.footprint_m is not None else np.zeros(len(rule.features))
            radius = np.broadcast_to(np.asarray(rule.radius_m, dtype=float), footprint.shape)
            gaps, limits, reach = [], [], []
            for i in differ[:2000]:
                distance = shapely.distance(outlines[i], rule.features.geometry.values) - footprint  # to the footprint's edge
                k = int(np.argmin(distance))
                gaps.append(distance[k])
                limits.append(required_strip_width(rule, slope[i]) if rule.slope_widths is not None else radius[k] - footprint[k])
                reach.append(radius[k])  # the buffer radius the naive code drew
            gaps, limits, reach = np.array(gaps), np.array(limits), np.array(reach)
            tolerance = BUFFER_TOLERANCE_M if rule.effect == "exclude" else max(BUFFER_TOLERANCE_M, FLAG_TOLERANCE_SHARE * rule.distance_m)
            naive_inscribed = reach * (1 - math.cos(math.pi / 64)) + 0.5  # geopandas' default 16 segments per quarter circle
            checks[rule.id] = [int(len(differ)), float(np.abs(gaps - limits).max()), float(tolerance + naive_inscribed.max())]
        out["checks"] = checks
    Path(args.out).write_text(json.dumps(out))
    return out


def run_child(mode: str, cell: float, args: argparse.Namespace, masks: Path, other: Path) -> dict:
    return run_json_child(__file__, ["--child", mode, "--cell", repr(cell), "--profile", args.profile, "--masks", str(masks), "--other", str(other)])


def parent(args: argparse.Namespace) -> None:
    say(f"bench_siting — {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    say(f"machine: {machine()}")
    say(f"software: {versions()}")
    area = study_area_m2()
    for size in args.sizes:
        cell = 250.0 if size == 0 else math.sqrt(area / size)
        with tempfile.TemporaryDirectory() as folder:
            fast_masks, naive_masks_ = Path(folder) / "fast.npy", Path(folder) / "naive.npy"
            fast = run_child("fast", cell, args, fast_masks, Path(folder) / "none.npy")
            naive = run_child("naive", cell, args, naive_masks_, fast_masks)
        say()
        say(f"{fast['cells']:,} cells of {cell:.0f} m, profile {args.profile}, {len(fast['rules'])} siting rules "
            f"(load {fast['load']:.1f}/{naive['load']:.1f} before each child)")
        for name, run in (("fast (evaluate_rules)", fast), ("naive (geopandas sjoin)", naive)):
            say(f"  {name:24s} {fmt_s(run['seconds']):>9}  {run['cells'] / run['seconds']:>12,.0f} cells/s  "
                f"peak {run['rss_peak_mb']:,.0f} MB (+{run['rss_peak_mb'] - run['rss_base_mb']:,.0f} MB over prepare)")
        say(f"  ratio naive / fast: {naive['seconds'] / fast['seconds']:.1f}×")
        for rule, check in naive.get("checks", {}).items():
            if check[0] == 0:
                say(f"    {rule:30s} identical")
            elif len(check) == 2:
                say(f"    {rule:30s} {check[0]} cells differ (centres on a unit boundary)")
            else:
                verdict = "ok" if check[1] <= check[2] else "FAIL"
                say(f"    {rule:30s} {check[0]} cells differ, all within {check[1]:.2f} m of the limit (allowed {check[2]:.2f} m): {verdict}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=DEFAULT_PROFILE)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--child", choices=("fast", "naive"))
    parser.add_argument("--cell", type=float)
    parser.add_argument("--masks")
    parser.add_argument("--other")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    if args.child:
        child(args)
    else:
        parent(args)


if __name__ == "__main__":
    main()
