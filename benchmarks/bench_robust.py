"""Speed and memory of the Monte Carlo weight sampling, against rescoring every sample.

Usage::

    python benchmarks/bench_robust.py [--profile composting_hub] [--sizes 0 1000000] [--samples 1000]
                                      [--naive-samples 3 20] [--seed 0]

Size ``0`` is the embedded 250 m grid; any other size cuts the study area into
square cells of ``sqrt(area / size)`` metres, as ``bench_scoring.py`` does. Each
size runs in a fresh child process, so its peak memory is its own. In the child:

* the profile is scored once at its base weights (not timed here; see ``bench_scoring.py``);
* **fast**: :func:`geo_almaty.robust.stream_selection` for ``--samples`` Dirichlet
  weight samples (weights only: no flow or position draws), streaming the
  selection and top-k counts and the ranks of each sample's best 1,000 cells;
  timed once, with the peak memory it adds;
* **naive A** (the obvious use of the API): for each sample a profile with the
  sampled weights, :func:`score_candidates` (every criterion recomputed) and
  :func:`select_sites`; **naive B** (what a numpy user would write): the criterion
  values kept, per sample a float64 weighted sum over every cell, a full sort and
  the spacing rule. Both run on the first ``--naive-samples`` samples only and are
  **extrapolated linearly** to ``--samples``; the printout says so.

The chosen sites of naive B on its samples are compared with the fast counts on
the same samples (they must be identical, up to float32 near-ties).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scoring import fmt_s, load_average, machine, peak_rss_mb, prepared, say, study_area_m2, versions  # noqa: E402

DEFAULT_PROFILE = "composting_hub"
DEFAULT_SIZES = (0, 1_000_000)
TARGETS = {0: 5.0, 1_000_000: 30.0}


def child(args: argparse.Namespace) -> dict:
    from geo_almaty import settings
    from geo_almaty.robust import SampleDraws, build_model, dirichlet_weights, stream_selection
    from geo_almaty.robust.sampling import DEFAULT_CONCENTRATION
    from geo_almaty.score import score_candidates
    from geo_almaty.select import pick_spaced, select_sites

    load_before = load_average()
    cell = args.cell or settings.DEFAULT_CELL_SIZE_M
    profile, study, allocations, candidates, prepare_s = prepared(cell, args.profile)
    result = score_candidates(profile, study, candidates, allocations)
    model = build_model(result, study, allocations, {}, None, None, sources=("weights",))
    weights = dirichlet_weights(model.weights, DEFAULT_CONCENTRATION, args.samples, np.random.default_rng(args.seed))
    rss_base = peak_rss_mb()

    start = time.perf_counter()
    counts = stream_selection(model, SampleDraws(weights))
    fast_s = time.perf_counter() - start
    rss_fast = peak_rss_mb()

    # naive B: per sample a float64 weighted sum over every kept cell, a full sort and the spacing rule
    kept_values = result.values[model.valid]
    few = min(max(args.naive_samples), args.samples)
    start = time.perf_counter()
    naive_b_sites = []
    for w in weights[:few]:
        scores = kept_values @ w
        order = np.lexsort((np.arange(len(scores)), -scores))
        naive_b_sites.append(pick_spaced(order[:model.selection_pool], model.x, model.y, model.codes, model.top_n, model.spacing_m,
                                         model.per_district))
    naive_b_s = time.perf_counter() - start
    check = stream_selection(model, SampleDraws(weights[:few]), keep_sites=True)
    agree = sum(np.array_equal(a, b) for a, b in zip(check.selected_sites, naive_b_sites))

    # naive A: rescore the profile with the sampled weights, then select
    few_a = min(min(args.naive_samples), args.samples)
    ids = [c["id"] for c in profile.criteria]
    start = time.perf_counter()
    for w in weights[:few_a]:
        criteria = tuple({**c, "weight": float(w[ids.index(c["id"])])} for c in profile.criteria)
        sampled = dataclasses.replace(profile, criteria=criteria)
        select_sites(score_candidates(sampled, study, candidates, allocations), study, top_n=model.top_n)
    naive_a_s = time.perf_counter() - start
    return {
        "cells": len(candidates), "valid": len(model.valid), "criteria": len(profile.criteria), "cell_m": cell, "grid": list(study.grid.shape),
        "samples": args.samples, "fast_s": fast_s, "rss_base_mb": rss_base, "rss_fast_mb": rss_fast, "picks_short": int((counts.picks < model.top_n).sum()),
        "naive_b_samples": few, "naive_b_s": naive_b_s, "naive_b_agree": agree, "naive_a_samples": few_a, "naive_a_s": naive_a_s,
        "top_n": model.top_n, "spacing_m": model.spacing_m, "prepare_s": prepare_s, "load_before": load_before, "load_after": load_average(),
    }


def run_child(cell: float, args: argparse.Namespace) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    command = [sys.executable, str(Path(__file__).resolve()), "--child", "--cell", repr(cell), "--profile", args.profile,
               "--samples", str(args.samples), "--naive-samples", *map(str, args.naive_samples), "--seed", str(args.seed), "--out", str(out)]
    try:
        subprocess.run(command, check=True)
        return json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)


def parent(args: argparse.Namespace) -> None:
    import datetime as dt

    say(f"bench_robust — {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    say(f"machine: {machine()}")
    say(f"software: {versions()}")
    say(f"profile: {args.profile}; {args.samples} Dirichlet weight samples (seed {args.seed}); naive runs on "
        f"{' and '.join(map(str, args.naive_samples))} samples, extrapolated")
    say(f"load average at start: {load_average():.2f} (other work on this shared machine slows every number below)")
    area = study_area_m2()
    rows = []
    for size in args.sizes:
        cell = 0.0 if size == 0 else math.sqrt(area / size)
        r = run_child(cell, args)
        s = r["samples"]
        say()
        say(f"== {r['cells']:,} cells of {r['cell_m']:.1f} m ({r['valid']:,} not excluded), {r['criteria']} criteria, top {r['top_n']}, "
            f"spacing {r['spacing_m']:,.0f} m ==")
        say(f"  fast stream: {fmt_s(r['fast_s'])} for {s:,} samples → {s / r['fast_s']:,.0f} samples/s, "
            f"{r['valid'] * s / r['fast_s']:,.3g} cells×samples/s")
        say(f"  peak RSS: {r['rss_fast_mb']:,.0f} MB ({r['rss_fast_mb'] - r['rss_base_mb']:+,.0f} MB over the {r['rss_base_mb']:,.0f} MB "
            "after prepare and base scoring)")
        naive_b = r["naive_b_s"] / r["naive_b_samples"] * s
        naive_a = r["naive_a_s"] / r["naive_a_samples"] * s
        say(f"  naive B (numpy WLC + full sort per sample): {fmt_s(r['naive_b_s'])} for {r['naive_b_samples']} samples → "
            f"extrapolated {fmt_s(naive_b)} for {s:,} ({naive_b / r['fast_s']:,.0f}× the fast stream)")
        say(f"  naive A (score_candidates + select_sites per sample): {fmt_s(r['naive_a_s'])} for {r['naive_a_samples']} samples → "
            f"extrapolated {fmt_s(naive_a)} for {s:,} ({naive_a / r['fast_s']:,.0f}×)")
        say(f"  cross-check: chosen sites identical to naive B in {r['naive_b_agree']} of {r['naive_b_samples']} samples")
        target = TARGETS.get(size)
        if target:
            say(f"  target ≤ {target:g} s: {'met' if r['fast_s'] <= target else 'MISSED'}")
        rows.append({**r, "naive_a": naive_a, "naive_b": naive_b, "load": max(r["load_before"], r["load_after"])})
    say()
    say("| cells | samples | fast stream (s) | samples/s | cells×samples/s | peak RSS (+ over base) | naive B, extrap. (s) | naive A, extrap. (s) | "
        "ratio A / fast | cross-check | load avg |")
    say("|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|---:|")
    for r in rows:
        say(f"| {r['valid']:,} | {r['samples']:,} | {r['fast_s']:.2f} | {r['samples'] / r['fast_s']:,.0f} | {r['valid'] * r['samples'] / r['fast_s']:.3g} "
            f"| {r['rss_fast_mb']:,.0f} MB (+{r['rss_fast_mb'] - r['rss_base_mb']:,.0f}) | {r['naive_b']:,.0f} | {r['naive_a']:,.0f} | "
            f"{r['naive_a'] / r['fast_s']:,.0f}× | {r['naive_b_agree']}/{r['naive_b_samples']} | {r['load']:.1f} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", default=DEFAULT_PROFILE)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), help="0 = the embedded 250 m grid")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--naive-samples", type=int, nargs=2, default=[3, 20], help="samples of naive A and of naive B")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cell", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        Path(args.out).write_text(json.dumps(child(args)))
    else:
        parent(args)


if __name__ == "__main__":
    main()
