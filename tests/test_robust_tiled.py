"""Issue 14 part 7: the robustness analysis strip by strip (in this process and on Dask) gives the in-memory results.

A profile with every kind of thing the Monte Carlo varies: weights (Dirichlet), a flow
whose supply is not proportional to its total under a value function with a data-relative
bound (``p95``: the bound is re-computed over the whole grid in every sample), features that
move within their accuracy (distance criteria and a point exclusion), spacing and a
per-district cap; on the tiny world at 125 m, in strips of 3 and 5 rows.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio

from .synthetic import tiny_world, write_profile

LABEL = {"ru": "x", "kk": "x", "en": "x"}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("robust_tiled")
    catalog = tiny_world(folder)
    producers = folder / "organic_producers.geojson"
    producers.write_text(producers.read_text(encoding="utf-8").replace('"accuracy_m": 1.0', '"accuracy_m": 400.0'), encoding="utf-8")
    profile = write_profile(folder, "robust_mix", [
        {"id": "food", "type": "reachable", "allocation": "food_industry_organic", "radius_m": 1000,
         "value": {"function": "linear", "low": 0, "high": "p95"}, "weight": 2},
        {"id": "farm", "type": "distance", "layer": "organic_producers", "classes": ["poultry_farm"],
         "value": {"function": "linear", "low": 4000, "high": 0}, "weight": 1},
        {"id": "arable", "type": "share", "layer": "land_use", "classes": ["arable"], "value": {"function": "linear", "low": "p5", "high": "max"},
         "weight": 1},
        {"id": "road", "type": "distance", "layer": "roads", "value": {"function": "sigmoid", "midpoint": 500, "width": 100, "direction": "decreasing"},
         "weight": 1}],
        exclusions=[{"id": "heritage", "label": LABEL, "layer": "heritage_areas"},
                    {"id": "near_food", "label": LABEL, "layer": "organic_producers", "classes": ["food_processor"], "buffer_m": 200}],
        selection={"top_n": 4, "min_spacing_m": 600, "max_per_district": 3})
    return catalog, profile


def inputs_for(catalog: Path, profile: Path, **options):
    """Inputs at 125 m whose food-industry flow is spread over every producer by size (one with a stated tonnage): its supply is then
    affine, not proportional, in the uncertain total (as tests/test_robust.py's world)."""
    from geo_almaty.allocate import allocate_flows
    from geo_almaty.pipeline import load_inputs

    inputs = load_inputs(catalog, 125, profiles=[str(profile)], **options)
    specs = dict(inputs.allocation_specs)
    food = specs["food_industry_organic"]
    specs["food_industry_organic"] = {k: v for k, v in food.items() if k not in ("classes", "within_layer", "weights")}
    supply = inputs.study.supply_study
    allocations = allocate_flows(specs, inputs.flows, supply.layers, supply.grid, supply.population_weights())
    return replace(inputs, allocation_specs=specs, allocations=allocations)


def analyse(inputs, profile: Path, **options):
    from geo_almaty.pipeline import analyse_facility_robustness, score_facility

    outcome = score_facility(inputs, profile)
    return analyse_facility_robustness(inputs, outcome, samples=40, seed=11, **options)


def frequency_bands(result, inputs, folder: Path) -> np.ndarray:
    from geo_almaty.robust import write_frequency_geotiff

    folder.mkdir()
    with rasterio.open(write_frequency_geotiff(folder / "f.tif", result, inputs.study)) as src:
        return src.read()


def assert_same(memory, tiled) -> None:
    """Every reported number of ``tiled`` (its candidates are the reported cells) equals the in-memory one at the same cell."""
    ids = tiled.result.candidates.ids
    rows = np.searchsorted(memory.result.candidates.ids, ids)
    assert np.array_equal(memory.result.candidates.ids[rows], ids)
    for name in ("selected_frequency", "top_k_frequency", "nearby_frequency", "rank_quantiles", "base_rank"):
        assert np.array_equal(getattr(memory, name)[rows], getattr(tiled, name), equal_nan=True), name
    # nothing chosen or among the k best in memory is missing from the tiled cells
    reported = np.flatnonzero((np.nan_to_num(memory.selected_frequency) > 0) | (np.nan_to_num(memory.top_k_frequency) > 0))
    assert np.isin(memory.result.candidates.ids[reported], ids).all()
    assert np.array_equal(memory.counts.picks, tiled.counts.picks)
    robust = memory.robust_sites.assign(candidate=memory.result.candidates.ids[memory.robust_sites.candidate])
    assert len(robust) and robust.equals(tiled.robust_sites.assign(candidate=ids[tiled.robust_sites.candidate]))
    base = memory.base_selection.assign(candidate=memory.result.candidates.ids[memory.base_selection.candidate])
    assert base.equals(tiled.base_selection.assign(candidate=ids[tiled.base_selection.candidate]))
    pd.testing.assert_frame_equal(memory.oat, tiled.oat)
    assert memory.notes == tiled.notes and memory.settings == tiled.settings
    assert tiled.model.jittered and tiled.model.exclusions and tiled.model.flow_criteria  # every source was varied


def test_robustness_in_strips_and_on_dask_equals_the_in_memory_analysis(world, tmp_path):
    pytest.importorskip("distributed", reason="dask[distributed] is not installed")
    from geo_almaty.tiles import DaskEngine

    catalog, profile = world
    memory_inputs = inputs_for(catalog, profile)
    memory = analyse(memory_inputs, profile)
    assert memory.surface is None and memory.robust_sites["candidate"].size
    expected = frequency_bands(memory, memory_inputs, tmp_path / "memory")
    width = memory_inputs.study.grid.width

    tiled_inputs = inputs_for(catalog, profile, tile_cells=3 * width)
    tiled = analyse(tiled_inputs, profile)
    assert tiled_inputs.study.plan.tiles >= 3 and tiled.surface is not None
    assert_same(memory, tiled)
    assert np.array_equal(frequency_bands(tiled, tiled_inputs, tmp_path / "tiled"), expected, equal_nan=True)
    from geo_almaty.robust import frequency_layer

    assert np.array_equal(frequency_layer(tiled, tiled_inputs.study).surface, expected[0], equal_nan=True)  # what a map would draw

    with DaskEngine(workers=2, threads=1, processes=False) as engine:
        dask_inputs = inputs_for(catalog, profile, tile_cells=5 * width, engine=engine)
        on_dask = analyse(dask_inputs, profile)
    assert dask_inputs.study.plan.tiles >= 3
    assert_same(memory, on_dask)
    assert np.array_equal(frequency_bands(on_dask, dask_inputs, tmp_path / "dask"), expected, equal_nan=True)


def test_pools_smaller_than_the_grid_give_the_same_ranks(world, monkeypatch):
    """With a selection pool and a rank pool far below the grid's cells, ranks beyond the pools (the base ranks of reported
    cells, the base sites' rank shift in an OAT setting) are counted over the strips and equal the in-memory ones."""
    from geo_almaty import select

    monkeypatch.setattr(select, "MIN_POOL", 5)  # the spacing walk looks at the best 5 cells, 4 of them ranked
    monkeypatch.setattr(select, "POOL_FACTOR", 1)
    catalog, profile = world
    memory_inputs = inputs_for(catalog, profile)
    memory = analyse(memory_inputs, profile, rank_pool=4)
    tiled = analyse(inputs_for(catalog, profile, tile_cells=4 * memory_inputs.study.grid.width), profile, rank_pool=4)
    assert tiled.settings.rank_pool == 4 and memory.oat["max_rank_shift"].max() > 5  # some base site left an OAT setting's pool
    assert_same(memory, tiled)


def test_cli_robust_runs_in_tiles_above_the_budget(world, tmp_path, capsys):
    """`robust` with a budget the in-memory path refuses scores and samples in strips, and writes every file."""
    from geo_almaty.cli import main

    catalog, profile = world
    args = ["robust", "--facility", str(profile), "--catalog", str(catalog), "--cell-size", "8", "--memory-budget", "140MB", "--top", "2",
            "--samples", "5", "--out", str(tmp_path / "robust")]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "scored in " in printed and "tile(s)" in printed and "robust sites" in printed
    names = sorted(p.name for p in (tmp_path / "robust").iterdir())
    assert names == [".geo-almaty-output", "robust_mix_frequency.tif", "robust_mix_oat.csv", "robust_mix_robust.gpkg",
                     "robust_mix_robust_sites.csv", "robust_mix_tornado.svg"]
