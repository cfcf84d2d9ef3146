"""The memory estimate (geo_almaty/memory.py) against the measured peak, and how fast a grid too large is refused.

Usage::

    python benchmarks/bench_memory.py [--cases score:250 score:100 hex:250 run:100 score:50] [--budget 8GiB]

Each case runs in a fresh child process: imports, then ``load_inputs`` and
``score_facility`` for one profile (``score:<cell m>``, composting_hub), for all
three profiles kept together (``run:<cell m>``, as ``geo-almaty run`` holds
them), or with H3 hexagons (``hex:<cell m>``). The estimate is the one
``load_inputs`` checks against the budget (captured, not recomputed); the
measured peak is the child's ``ru_maxrss`` minus its resident memory after the
imports. ``refuse:<cell m>`` times how long the CLI takes to refuse a grid over
``--budget`` (it must not allocate the grid first).

Speed and memory are measured here, never in unit tests. See ``benchmarks/README.md``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CASES = ("score:250", "score:100", "hex:250", "hex:100", "run:100", "score:50", "refuse:5", "refuse-hex:20")
FACILITIES = ("composting_hub", "material_bank", "reuse_warehouse")

CHILD = r"""
import json, resource, sys, time
import psutil
kind, cell = sys.argv[1], float(sys.argv[2])
import geo_almaty.memory as memory
from geo_almaty.pipeline import load_inputs, score_facility
base = psutil.Process().memory_info().rss
captured = []
original = memory.check_memory
def capture(workload, budget=None):
    estimate = original(workload, budget)
    captured.append(estimate)
    return estimate
memory.check_memory = capture
facilities = %(facilities)r if kind == "run" else ["composting_hub"]
started = time.perf_counter()
inputs = load_inputs(None, cell, profiles=facilities, shape="hex" if kind == "hex" else "square", memory_budget="20GiB")
outcomes = [score_facility(inputs, f, shape="hex" if kind == "hex" else "square") for f in facilities]
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
estimate = captured[-1]
print(json.dumps({"cells": estimate.workload.cells, "candidates": len(outcomes[0].candidates), "estimated_candidates": estimate.workload.candidates,
                  "estimate": estimate.peak, "stage": estimate.peak_stage, "measured": peak, "seconds": seconds,
                  "sites": [len(o.selection) for o in outcomes]}))
"""


def run_case(case: str, budget: str) -> dict:
    kind, cell = case.split(":")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if kind.startswith("refuse"):
        shape = ["--shape", "hex"] if kind == "refuse-hex" else []
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "geo_almaty.cli", "score", "--facility", "composting_hub", "--cell-size", cell, *shape,
                               "--memory-budget", budget, "--out", "/nonexistent-bench-out"], cwd=ROOT, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        return {"case": case, "status": done.returncode, "seconds": seconds, "message": done.stderr.strip().splitlines()[-1]}
    done = subprocess.run([sys.executable, "-c", CHILD % {"facilities": list(FACILITIES)}, kind, cell], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if done.returncode:
        return {"case": case, "error": done.stderr.strip().splitlines()[-1]}
    return {"case": case, **json.loads(done.stdout.strip().splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=list(DEFAULT_CASES))
    parser.add_argument("--budget", default="8GiB", help="memory budget of the refusal cases (default %(default)s)")
    args = parser.parse_args()
    print(f"{dt.date.today()}  {platform.platform()}  Python {platform.python_version()}  load avg {os.getloadavg()[0]:.1f}")
    print(f"{'case':<14} {'cells':>12} {'candidates':>12} {'estimate':>10} {'measured':>10} {'est/meas':>8} {'peak stage':<16} {'time':>7}  sites")
    for case in args.cases:
        r = run_case(case, args.budget)
        if "error" in r:
            print(f"{case:<14} failed: {r['error']}")
        elif "message" in r:
            print(f"{case:<14} exit {r['status']} after {r['seconds']:.1f} s: {r['message']}")
        else:
            print(f"{case:<14} {r['cells']:>12,} {r['candidates']:>12,} {r['estimate'] / 2**20:>8,.0f}Mi {r['measured'] / 2**20:>8,.0f}Mi "
                  f"{r['estimate'] / max(r['measured'], 1):>8.2f} {r['stage']:<16} {r['seconds']:>6.1f}s  {r['sites']}")
        sys.stdout.flush()
    print(f"load avg after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
