"""Comparing scenarios: one prepared study for every scenario against preparing the study per scenario.

Usage::

    python benchmarks/bench_scenarios.py [--cell-size 250] [--facility composting_hub] [SCENARIO ...]

Default scenarios: the three shipped ones. Both approaches run in this process, one after the other,
on the same scenarios, and must choose the same sites:

* **shared** (what ``geo-almaty compare`` does): :func:`geo_almaty.pipeline.load_inputs` once, then per
  scenario :func:`geo_almaty.pipeline.with_scenario` (flows re-allocated only when the scenario changes
  flows) and :func:`geo_almaty.pipeline.score_facility`;
* **naive** (the obvious use of the API): per scenario ``load_inputs(..., scenario=s)`` (catalog read,
  layers loaded and prepared, flows allocated) and ``score_facility``.

Prints the wall time of each, their ratio and the peak memory the process reached (ru_maxrss).
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geo_almaty.pipeline import load_inputs, score_facility, with_scenario  # noqa: E402
from geo_almaty.scenario import list_scenarios, load_scenario  # noqa: E402


def chosen(outcome) -> list[str]:
    return list(map(str, outcome.result.candidates.labels()[outcome.selection.candidate.to_numpy()]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenarios", nargs="*", default=list_scenarios())
    parser.add_argument("--cell-size", type=float, default=250.0)
    parser.add_argument("--facility", default="composting_hub")
    args = parser.parse_args()
    scenarios = [load_scenario(s) for s in args.scenarios]

    started = time.perf_counter()
    base = load_inputs(None, args.cell_size, profiles=[args.facility])
    prepared = time.perf_counter() - started
    shared = {s.id: chosen(score_facility(with_scenario(base, s), args.facility)) for s in scenarios}
    shared_s = time.perf_counter() - started
    del base

    started = time.perf_counter()
    naive = {s.id: chosen(score_facility(load_inputs(None, args.cell_size, profiles=[args.facility], scenario=s), args.facility))
             for s in scenarios}
    naive_s = time.perf_counter() - started

    assert shared == naive, "the two approaches chose different sites"
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{len(scenarios)} scenarios, {args.facility}, {args.cell_size:g} m cells")
    print(f"shared study: {shared_s:7.1f} s (of which preparing the study once {prepared:.1f} s)")
    print(f"per scenario: {naive_s:7.1f} s")
    print(f"ratio       : {naive_s / shared_s:7.2f}x faster with one prepared study; same sites: yes")
    print(f"peak memory : {peak_mb:7.0f} MB (process, both approaches)")


if __name__ == "__main__":
    main()
