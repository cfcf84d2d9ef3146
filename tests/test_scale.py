"""Issue 14, phase 2: fine grids in tiles within a memory budget, and the Dask path.

The tiled and Dask paths must give the in-memory path's results bit for bit: the same
scores and selections, the same GeoTIFF, CSV and GeoPackage bytes. They run here on the
tiny synthetic world (tests/synthetic.py), on strips of a few rows.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from geo_almaty import settings
from geo_almaty.quantiles import StreamedQuantiles, exact_quantile

from .synthetic import siting_world, tiny_world, write_profile

LABEL = {"ru": "x", "kk": "x", "en": "x"}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> tuple[Path, Path]:
    """The tiny world and a profile with every kind of criterion that matters here: a data-relative bound (p90 of a reachable
    sum), a distance by road, a land-use share with a percentile bound, a straight distance; two exclusions; spacing."""
    folder = tmp_path_factory.mktemp("scale")
    catalog = tiny_world(folder)
    profile = write_profile(folder, "mix", [
        {"id": "supply", "type": "reachable", "allocation": "household_organic", "radius_m": 1000,
         "value": {"function": "linear", "low": 0, "high": "p90"}, "weight": 2},
        {"id": "farm", "type": "distance", "metric": "road_km", "layer": "organic_producers", "value": {"function": "linear", "low": 4, "high": 0},
         "weight": 1},
        {"id": "arable", "type": "share", "layer": "land_use", "classes": ["arable"], "value": {"function": "linear", "low": "p5", "high": "max"},
         "weight": 1},
        {"id": "road", "type": "distance", "layer": "roads", "value": {"function": "sigmoid", "midpoint": 500, "width": 100, "direction": "decreasing"},
         "weight": 1}],
        exclusions=[{"id": "heritage", "label": LABEL, "layer": "heritage_areas"},
                    {"id": "water", "label": LABEL, "layer": "land_use", "classes": ["water"], "buffer_m": 100}],
        selection={"top_n": 4, "min_spacing_m": 600})
    return catalog, profile


def outputs(inputs, outcome, folder: Path) -> dict[str, str]:
    from geo_almaty.pipeline import write_facility_outputs

    folder.mkdir()
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in write_facility_outputs(outcome, inputs, folder, "ru")}


# --- exact quantiles, in memory and streamed -----------------------------------------------------------

values_st = arrays(np.float64, st.integers(1, 400), elements=st.floats(-1e6, 1e6, allow_nan=False) | st.sampled_from([0.0, -0.0, 1.5, 7.0]))


@given(values_st, st.lists(st.floats(0, 1), min_size=1, max_size=4), st.integers(1, 6), st.sampled_from([2, 16, 1 << 22]))
@hypothesis_settings(max_examples=150, deadline=None)
def test_quantiles_equal_numpys_in_memory_and_streamed(values, quantiles, chunks, cap):
    """The bounds of value functions are numpy's linear quantiles, found exactly whether the values come whole or in tiles
    (a small ``cap`` forces the histogram passes)."""
    for q in quantiles:
        assert exact_quantile(values, q) == np.quantile(values, q)
    for p in (5, 50, 90, 95):
        assert exact_quantile(values, p / 100) == np.percentile(values, p)
    stream = StreamedQuantiles(quantiles, cap=cap)
    while stream.needs_pass:
        for chunk in np.array_split(values, chunks):
            stream.add(chunk)
        stream.finish_pass()
    assert stream.passes <= 5
    for q in quantiles:
        assert stream.quantile(q) == np.quantile(values, q)


# --- in memory, tiled, Dask: the same bytes ---------------------------------------------------------

def test_tiled_and_dask_paths_give_the_in_memory_bytes(world, tmp_path):
    """125 m cells (finer than the 250 m supply grid): in memory, in strips of 3 rows in this process, and in strips of
    5 rows as tasks on a Dask LocalCluster (2 workers, threads): same scores, selection, GeoTIFF, CSV and GeoPackage."""
    pytest.importorskip("distributed", reason="dask[distributed] is not installed")
    from geo_almaty.pipeline import load_inputs, score_facility
    from geo_almaty.tiles import DaskEngine

    catalog, profile = world
    memory = load_inputs(catalog, 125, profiles=[str(profile)])
    assert memory.study.supply is not None and memory.allocations["household_organic"].grid.cell_size == 250
    expected = score_facility(memory, profile)
    hashes = outputs(memory, expected, tmp_path / "memory")
    width = memory.study.grid.width

    tiled = load_inputs(catalog, 125, profiles=[str(profile)], tile_cells=3 * width)
    outcome = score_facility(tiled, profile)
    assert tiled.study.plan.tiles == 11 and outcome.tiled.passes == {"bounds": 1, "score": 1, "breakdown": 1}
    assert outputs(tiled, outcome, tmp_path / "tiled") == hashes
    result, reference = outcome.result, expected.result
    rows = np.searchsorted(reference.candidates.ids, result.candidates.ids)
    assert np.array_equal(reference.candidates.ids[rows], result.candidates.ids)
    for name in ("raw", "values", "contributions", "score"):
        assert np.array_equal(getattr(reference, name)[rows], getattr(result, name), equal_nan=True), name
    assert list(reference.candidates.ids[expected.selection.candidate]) == list(result.candidates.ids[outcome.selection.candidate])
    assert outcome.candidate_count == len(reference.candidates) and outcome.excluded_count == int(reference.excluded.sum())
    from geo_almaty.export import score_surface

    assert np.array_equal(outcome.tiled.score, score_surface(reference, memory.study), equal_nan=True)

    with DaskEngine(workers=2, threads=1, processes=False) as engine:
        dask = load_inputs(catalog, 125, profiles=[str(profile)], tile_cells=5 * width, engine=engine)
        on_dask = score_facility(dask, profile)
    assert on_dask.tiled.engine == "dask" and on_dask.tiled.tiles == 7
    assert outputs(dask, on_dask, tmp_path / "dask") == hashes


@pytest.fixture(scope="module")
def sited(tmp_path_factory) -> tuple[Path, Path]:
    """The siting world (village, school, dachas, river, airfield, city / oblast land) and a profile with a ``siting:``
    section (a crushing material bank: 300 m sanitary zone, water strips and zones, an inaccurate river flagged) and
    selection stages whose first stage only candidates far from the roads (low in the ranking) meet."""
    import yaml

    folder = tmp_path_factory.mktemp("scale_siting")
    catalog = siting_world(folder, river_accuracy_m=1000.0)
    profile = write_profile(folder, "sited", [
        {"id": "supply", "type": "reachable", "allocation": "household_organic", "radius_m": 1000,
         "value": {"function": "linear", "low": 0, "high": "p90"}, "weight": 2},
        {"id": "farm", "type": "distance", "metric": "road_km", "layer": "organic_producers", "value": {"function": "linear", "low": 4, "high": 0},
         "weight": 1},
        {"id": "road", "type": "distance", "layer": "roads", "value": {"function": "sigmoid", "midpoint": 500, "width": 100, "direction": "decreasing"},
         "weight": 1}],
        exclusions=[{"id": "heritage", "label": LABEL, "layer": "heritage_areas"}],
        selection={"top_n": 3, "min_spacing_m": 600, "stages": [
            {"id": "far", "label": LABEL, "top_n": 1, "require_any": [{"criterion": "road", "min_raw": 500}], "rationale": "t", "report_lines": "L1"},
            {"id": "rest", "label": LABEL, "top_n": 2, "rationale": "t", "report_lines": "L1"}]})
    document = yaml.safe_load(profile.read_text(encoding="utf-8"))
    document["siting"] = {"facility_type": "material_bank_crushing", "planned_capacity_t_yr": 36000, "capacity_rationale": "test",
                          "jurisdiction": "any"}
    profile.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return catalog, profile


def test_siting_rules_and_stages_give_the_in_memory_bytes_in_tiles_and_on_dask(sited, tmp_path):
    """The siting rules (sanitary zones, water strips and zones, a flag) and the selection stages apply on every strip as on
    the whole grid: same rule masks, rule counts, exclusion bitmask surface, stages, and the same bytes of every output."""
    pytest.importorskip("distributed", reason="dask[distributed] is not installed")
    from geo_almaty.pipeline import load_inputs, score_facility
    from geo_almaty.siting.why import exclusion_surface
    from geo_almaty.tiles import DaskEngine

    catalog, profile = sited
    memory = load_inputs(catalog, 125, profiles=[str(profile)])
    expected = score_facility(memory, profile)
    reference = expected.result
    kinds = {rule.kind for rule in reference.rules.rules}
    assert {"profile", "sanitary", "water_strip", "water_zone", "water_accuracy"} <= kinds
    assert reference.siting_excluded.any() and reference.rules.flagged().any()
    assert list(expected.selection.stage) == ["far", "rest", "rest"] and expected.selection.stage_condition_met.all()
    hashes = outputs(memory, expected, tmp_path / "memory")
    assert "sited_exclusions.tif" in hashes
    width = memory.study.grid.width

    tiled = load_inputs(catalog, 125, profiles=[str(profile)], tile_cells=3 * width)
    outcome = score_facility(tiled, profile)
    assert outcome.tiled.tiles == 11
    rows = np.searchsorted(reference.candidates.ids, outcome.result.candidates.ids)
    assert np.array_equal(reference.rules.masks[rows], outcome.result.rules.masks)
    assert np.array_equal(reference.rules.masks.sum(axis=0), outcome.tiled.rule_counts)
    assert outcome.tiled.rule_ids == tuple(rule.id for rule in reference.rules.rules)
    assert np.array_equal(outcome.tiled.rules, exclusion_surface(reference, memory.study))
    assert outcome.excluded_count == int(reference.excluded.sum())
    assert list(reference.candidates.ids[expected.selection.candidate]) == list(outcome.result.candidates.ids[outcome.selection.candidate])
    assert list(outcome.selection.stage) == list(expected.selection.stage)
    assert outputs(tiled, outcome, tmp_path / "tiled") == hashes

    with DaskEngine(workers=2, threads=1, processes=False) as engine:
        dask = load_inputs(catalog, 125, profiles=[str(profile)], tile_cells=5 * width, engine=engine)
        on_dask = score_facility(dask, profile)
    assert on_dask.tiled.engine == "dask"
    assert outputs(dask, on_dask, tmp_path / "dask") == hashes


def test_a_stage_whose_candidates_lie_beyond_the_pool_widens_it(sited, monkeypatch):
    """The first stage's candidates (far from roads) all rank below a pool of 6: the strips are scored again with larger
    pools until the stage can pick as it does in memory."""
    from geo_almaty.pipeline import load_inputs, score_facility

    monkeypatch.setattr(settings, "TILED_POOL_CANDIDATES", 4)
    monkeypatch.setattr(settings, "MAX_GEOPACKAGE_CANDIDATES", 5)
    catalog, profile = sited
    memory = load_inputs(catalog, 125, profiles=[str(profile)])
    expected = score_facility(memory, profile)
    reference = expected.result
    road = reference.raw[:, reference.criterion_index("road")]
    valid = np.flatnonzero(np.isfinite(reference.score))
    best6 = valid[np.lexsort((valid, -reference.score[valid]))][:6]
    assert not (road[best6] >= 500).any(), "the first stage's candidates must lie beyond the first pool"
    tiled = load_inputs(catalog, 125, profiles=[str(profile)], tile_cells=4 * memory.study.grid.width)
    outcome = score_facility(tiled, profile)
    assert outcome.tiled.passes["score"] >= 2
    ids = outcome.result.candidates.ids
    assert list(reference.candidates.ids[expected.selection.candidate]) == list(ids[outcome.selection.candidate])
    assert list(outcome.selection.stage) == ["far", "rest", "rest"] and outcome.selection.stage_condition_met.all()


def test_a_score_does_not_depend_on_the_batch_it_is_computed_in():
    """A strip's breakdown may score a lone candidate: its weighted sum must be the float it gets among many (numpy's
    row sum of a single row is pairwise, of a column-major batch sequential)."""
    from geo_almaty.aggregate import weighted_linear

    rng = np.random.default_rng(0)
    values = np.asfortranarray(rng.random((400, 11)))
    weights = rng.dirichlet(np.ones(11))
    batch, _ = weighted_linear(values, weights)
    alone = np.array([weighted_linear(values[i:i + 1], weights)[0][0] for i in range(len(values))])
    pairs = np.array([weighted_linear(values[i:i + 2], weights)[0][0] for i in range(len(values) - 1)])
    assert np.array_equal(batch, alone) and np.array_equal(batch[:-1], pairs)


def test_a_larger_pool_is_scored_when_the_spacing_walk_needs_it(world, monkeypatch):
    """With a pool of a few candidates the walk cannot place every site: the strips are scored again with a 4× pool, and the
    sites are the in-memory ones; the GeoPackage's best share is capped the same way on both paths."""
    from geo_almaty.pipeline import load_inputs, score_facility

    monkeypatch.setattr(settings, "TILED_POOL_CANDIDATES", 4)
    monkeypatch.setattr(settings, "MAX_GEOPACKAGE_CANDIDATES", 5)
    import geo_almaty.export as export

    monkeypatch.setattr(export.best_share_rows, "__defaults__", (5,))
    catalog, profile = world
    memory = load_inputs(catalog, 125, profiles=[str(profile)])
    expected = score_facility(memory, profile)
    tiled = load_inputs(catalog, 125, profiles=[str(profile)], tile_cells=4 * memory.study.grid.width)
    outcome = score_facility(tiled, profile)
    assert outcome.tiled.passes["score"] >= 2 and outcome.tiled.pool > 6
    ids = outcome.result.candidates.ids
    assert list(expected.result.candidates.ids[expected.selection.candidate]) == list(ids[outcome.selection.candidate])
    assert len(outcome.tiled.best_rows) == 5
    best = export.best_share_rows(np.flatnonzero(~expected.result.excluded), expected.result.score[~expected.result.excluded], 0.1)
    assert list(expected.result.candidates.ids[best]) == list(ids[outcome.tiled.best_rows])


# --- the budget: tiles sized to it, refusals with the estimate --------------------------------------------

def test_tiles_are_sized_from_the_budget_and_refused_when_even_one_row_cannot_fit():
    from geo_almaty.errors import MemoryBudgetError
    from geo_almaty.grid import AnalysisGrid
    from geo_almaty.memory import ProfileLoad, Workload, estimate_memory, plan_tiles, tile_workload

    grid = AnalysisGrid.covering((0, 0, 40_000, 30_000), 10)  # the city at 10 m: 12 M cells
    supply = AnalysisGrid.covering(grid.bounds, 250)
    workload = Workload(grid, 7_000_000, land_use_classes=16, allocations=5, allocation_coverage=0.3, dem=True,
                        profiles=(ProfileLoad(11, 7, (20_000.0, 15_000.0)),), study_area_m2=7e8, supply_grid=supply)
    assert estimate_memory(workload).peak > 4 << 30
    for budget in (1 << 30, 2 << 30, 4 << 30):
        plan = plan_tiles(workload, budget)
        assert plan.peak <= budget and plan.rows * plan.tiles >= grid.height
        assert estimate_memory(tile_workload(workload, plan.rows)).peak == plan.tile.peak
    assert plan_tiles(workload, 1 << 30).rows < plan_tiles(workload, 4 << 30).rows
    two = plan_tiles(workload, 4 << 30, concurrent=2)  # two tiles at a time (Dask workers × threads) share the budget
    assert two.rows < plan_tiles(workload, 4 << 30).rows and two.peak <= 4 << 30
    with pytest.raises(MemoryBudgetError) as exc:
        plan_tiles(workload, 100 << 20)
    assert "even in tiles" in str(exc.value) and "memory budget of 100.0 MiB" in str(exc.value) and "\n" not in str(exc.value)


def test_the_robustness_analysis_is_counted_in_the_estimate_and_in_the_strips():
    """A robustness analysis holds its model, a block of sample scores and ranks per strip: the estimate counts
    them (it did not, and 100 m robust under a 1 GiB budget peaked at 1.3 GB) and the strips shrink for them."""
    from dataclasses import replace

    from geo_almaty.grid import AnalysisGrid
    from geo_almaty.memory import ProfileLoad, Workload, estimate_memory, plan_tiles

    grid = AnalysisGrid.covering((0, 0, 40_000, 30_000), 10)
    workload = Workload(grid, 7_000_000, land_use_classes=16, allocations=5, allocation_coverage=0.3, dem=True,
                        profiles=(ProfileLoad(11, 7, (20_000.0, 15_000.0)),), study_area_m2=7e8,
                        supply_grid=AnalysisGrid.covering(grid.bounds, 250))
    robust = replace(workload, robust_samples=1000)
    stages = estimate_memory(robust).stages
    assert "robustness" not in estimate_memory(workload).stages
    # the model (20 B per candidate and criterion) and the full sample block on top of what scoring keeps
    assert stages["robustness"] >= estimate_memory(workload).stages["candidates"] + 1.25 * (20 * 11 * 7_000_000 + (192 << 20))
    plain, counted = plan_tiles(workload, 4 << 30), plan_tiles(robust, 4 << 30)
    assert counted.rows < plain.rows and counted.peak <= 4 << 30
    few = replace(workload, robust_samples=2)  # a block never holds more than the samples' scores
    assert estimate_memory(few).stages["robustness"] < stages["robustness"]


def test_score_tiles_a_grid_above_the_budget_and_robust_refuses_one_too_large_even_for_tiles(world, tmp_path, capsys):
    """`score` with a budget the in-memory path would refuse scores in tiles (and says so; `robust` too, see
    tests/test_robust_tiled.py); a budget too small even for one-row strips is refused with the estimate, nothing written."""
    from geo_almaty.cli import EXIT_BAD_INPUT, main

    catalog, profile = world
    args = ["--facility", str(profile), "--catalog", str(catalog), "--cell-size", "8", "--memory-budget", "140MB", "--top", "2"]
    assert main(["score", *args, "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "scored in " in printed and "tile(s)" in printed and "memory budget 133.5 MiB" in printed
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".geo-almaty-output", "mix_exclusions.tif", "mix_score.tif", "mix_sites.gpkg",
                                                                   "mix_top2.csv"]
    small = [a if a != "140MB" else "70MB" for a in args]
    assert main(["robust", *small, "--samples", "5", "--out", str(tmp_path / "robust")]) == EXIT_BAD_INPUT
    err = [line for line in capsys.readouterr().err.replace("\r", "\n").splitlines() if line.startswith("geo-almaty")]
    assert len(err) == 1 and "even in tiles" in err[0] and "memory budget of 66.8 MiB" in err[0]
    assert not (tmp_path / "robust").exists()


def test_candidates_within_a_boundary_take_flows_from_the_whole_study_area(world):
    """--within limits the grid and the candidates to a layer's polygons; the supply study still covers the study area."""
    from geo_almaty.pipeline import load_inputs, score_facility

    catalog, profile = world
    inputs = load_inputs(catalog, 250, profiles=[str(profile)], within="districts")
    assert inputs.study.supply is not None and inputs.study.supply.grid.shape == (16, 16)
    outcome = score_facility(inputs, profile)
    assert len(outcome.selection) == 4
    from geo_almaty.errors import InputError

    with pytest.raises(InputError, match="limiting the candidates has no data"):
        load_inputs(catalog, 250, within="markets")


def test_tiles_refuse_a_grid_above_the_cell_limit_with_a_cell_size_that_fits(world):
    """Tiles bound memory, not time: a grid above ``max_cells`` is refused with the in-memory estimate and a coarser cell size."""
    import math

    from geo_almaty.errors import MemoryBudgetError
    from geo_almaty.grid import AnalysisGrid
    from geo_almaty.memory import check_tiled_size, workload_for
    from geo_almaty.pipeline import load_inputs
    from geo_almaty.profiles import load_profile

    catalog, profile = world
    inputs = load_inputs(catalog, 100, profiles=[str(profile)])
    workload = workload_for(inputs.study.grid, inputs.study.area, inputs.study.layers, inputs.catalog,
                            profiles=[load_profile(profile)], allocation_specs=inputs.allocation_specs)
    cells = inputs.study.grid.width * inputs.study.grid.height
    check_tiled_size(workload, max_cells=cells)  # at the limit: accepted
    with pytest.raises(MemoryBudgetError) as exc:
        check_tiled_size(workload, "1GiB", max_cells=cells - 1)
    message = str(exc.value)
    assert f"{cells:,} cells are more than a tiled score takes ({cells - 1:,}" in message and "--cell-size 125 or more" in message, message
    assert math.prod(AnalysisGrid.covering(inputs.study.grid.bounds, 125).shape) <= cells - 1
    check_tiled_size(workload, max_cells=cells - 1, concurrent=2)  # two strips at a time (a Dask cluster): twice the cells
