"""Robustness: weight, flow and position samples, streaming top-k counts, OAT sensitivity, outputs and the CLI."""
from __future__ import annotations

import hashlib
from types import SimpleNamespace

import numpy as np
import pytest
import rasterio
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from geo_almaty.allocate import allocate_flows, load_allocation_specs
from geo_almaty.candidates import square_candidates
from geo_almaty.catalog import load_catalog
from geo_almaty.errors import SelectionError
from geo_almaty.export import read_csv
from geo_almaty.cli import main
from geo_almaty.criteria import _sample, reachable_surface
from geo_almaty.errors import FlowDataError
from geo_almaty.flows import load_flows
from geo_almaty.prepare import prepare_study
from geo_almaty.profiles import load_profile
from geo_almaty.robust import (SOURCES, SampleDraws, analyse_robustness, build_model, dirichlet_weights, draw_samples, frequency_layer,
                               load_uncertainty, perturbed_ahp_matrices, rank_quantiles, robust_section_html, sample_coefficients,
                               sample_flows, stream_selection, tornado_svg, write_robust_outputs)
from geo_almaty.robust.frequency import StreamCounts, nearest_distance, ordered, weighted_sum
from geo_almaty.robust.model import RobustModel
from geo_almaty.robust.sampling import SAATY_SCALE, ahp_weight_samples, saaty_steps
from geo_almaty.score import score_candidates
from geo_almaty.select import pick_spaced

from .synthetic import CX, CY, tiny_world, write_profile

FARM = {"id": "farm", "type": "distance", "layer": "organic_producers", "classes": ["poultry_farm"],
        "value": {"function": "linear", "low": 4000, "high": 0}}
FOOD = {"id": "food", "type": "distance", "layer": "organic_producers", "classes": ["food_processor"],
        "value": {"function": "linear", "low": 4000, "high": 0}}
ARABLE = {"id": "arable", "type": "share", "layer": "land_use", "classes": ["arable"], "value": {"function": "linear", "low": 0, "high": 1}}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("robust_world")
    catalog = load_catalog(tiny_world(folder))
    study = prepare_study(catalog, 250)
    flows = load_flows()
    specs = load_allocation_specs()
    # The model's affine case needs producers with and without a stated tonnage: spread the food-industry flow over
    # every producer of the tiny world by size_weight (Almaty's own spec keeps it to the city's food plants).
    food = specs["food_industry_organic"]
    specs["food_industry_organic"] = {k: v for k, v in food.items() if k not in ("classes", "within_layer", "weights")}
    allocations = allocate_flows(specs, flows, study.layers, study.grid, study.population_weights())
    return SimpleNamespace(folder=folder, catalog=catalog, study=study, flows=flows, specs=specs, allocations=allocations,
                           uncertainty=load_uncertainty(flows))


def scored(world, tmp_path, name, criteria, **kwargs):
    path = write_profile(tmp_path, name, criteria, **kwargs)
    profile = load_profile(path, world.catalog, set(world.allocations))
    return score_candidates(profile, world.study, square_candidates(world.study), world.allocations)


def robust(world, result, **kwargs):
    return analyse_robustness(result, world.study, world.allocations, world.specs, world.flows, world.uncertainty, **kwargs)


def cell_at(result, x, y) -> int:
    return int(np.flatnonzero((result.candidates.x == x) & (result.candidates.y == y))[0])


# --- the acceptance cases ----------------------------------------------------------------------------

def test_a_dominant_criterion_keeps_its_best_cell_in_every_sample(world, tmp_path):
    result = scored(world, tmp_path, "dominant", [{**FARM, "weight": 20}, {**ARABLE, "weight": 1}], selection={"top_n": 1})
    analysis = robust(world, result, samples=300, seed=1)
    farm = cell_at(result, CX + 1375, CY - 1375)
    assert analysis.selected_frequency[farm] == 1.0 and analysis.top_k_frequency[farm] == 1.0
    assert np.nansum(analysis.selected_frequency) == pytest.approx(1.0)
    assert analysis.rank_quantiles[farm].tolist() == [1, 1, 1]
    assert analysis.robust_sites["candidate"].tolist() == [farm]
    assert (analysis.oat["sites_replaced"] == 0).all()  # ±50 % on either weight changes nothing


def test_equal_criteria_spread_the_choice(world, tmp_path):
    result = scored(world, tmp_path, "equal", [{**FARM, "weight": 1}, {**FOOD, "weight": 1}], selection={"top_n": 1})
    analysis = robust(world, result, samples=400, seed=2, sources=("weights",))
    farm, food = cell_at(result, CX + 1375, CY - 1375), cell_at(result, CX - 1375, CY + 1375)
    assert 0.3 < analysis.selected_frequency[farm] < 0.7 and 0.3 < analysis.selected_frequency[food] < 0.7
    assert analysis.selected_frequency[farm] + analysis.selected_frequency[food] == pytest.approx(1.0)
    assert analysis.robust_sites.empty  # neither reaches 80 %
    # One criterion at +50 % makes its own cell win, at −50 % the other one's (at equal weights the whole
    # farm-food diagonal ties, and the first cell in candidate order wins).
    labels = result.candidates.labels()
    farm_rows = analysis.oat[analysis.oat.factor == "farm"].set_index("setting")
    assert farm_rows.loc["high", "new_sites"] == labels[farm] and farm_rows.loc["low", "new_sites"] == labels[food]


def test_same_seed_same_counts_and_files_other_seed_differs(world, tmp_path):
    result = scored(world, tmp_path, "det", [{**FARM, "weight": 2}, {**FOOD, "weight": 1}, {**ARABLE, "weight": 1}],
                    selection={"top_n": 3, "min_spacing_m": 1000})
    first, second = robust(world, result, samples=120, seed=7), robust(world, result, samples=120, seed=7)
    assert np.array_equal(first.counts.selected, second.counts.selected) and np.array_equal(first.counts.rank_cells, second.counts.rank_cells)
    paths_a = write_robust_outputs(first, world.study, tmp_path / "a", "en")
    paths_b = write_robust_outputs(second, world.study, tmp_path / "b", "en")
    for a, b in zip(paths_a, paths_b):
        if a.suffix != ".gpkg":  # SQLite pages of a GeoPackage carry the write time
            assert hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest(), a.name
    other = robust(world, result, samples=120, seed=8)
    assert not np.array_equal(first.counts.rank_cells, other.counts.rank_cells)


def test_counts_do_not_depend_on_threads_or_block_size(world, tmp_path):
    from threadpoolctl import threadpool_limits

    result = scored(world, tmp_path, "threads", [{**FARM, "weight": 2}, {**FOOD, "weight": 1}, {**ARABLE, "weight": 1}],
                    selection={"top_n": 4, "min_spacing_m": 750})
    model = build_model(result, world.study, world.allocations, world.specs, world.flows, world.uncertainty)
    draws, _ = draw_samples(model, world.uncertainty, world.flows, samples=60, seed=4)
    with threadpool_limits(1):
        one = stream_selection(model, draws, block_bytes=4 * 256 * 3)  # three samples per block
    two = stream_selection(model, draws)
    assert np.array_equal(one.selected, two.selected) and np.array_equal(one.top_k, two.top_k)
    assert np.array_equal(one.rank_cells, two.rank_cells)


# --- the streaming engine against brute force -----------------------------------------------------------

def synthetic_model(values: np.ndarray, k: int, spacing: float = 0.0, per_district: int | None = None, side: int = 20) -> RobustModel:
    n, c = values.shape
    index = np.arange(n)
    result = SimpleNamespace(profile=SimpleNamespace(id="synthetic"), criteria=[{"id": f"c{j}"} for j in range(c)])
    base = values @ np.full(c, 1 / c)
    return RobustModel(result=result, valid=index, values=np.ascontiguousarray(values.T, dtype=np.float32), weights=np.full(c, 1 / c),
                       x=(index % side) * 100.0, y=(index // side) * 100.0, codes=(index % 3).astype(np.int64), base_score=base,
                       top_n=k, spacing_m=spacing, per_district=per_district, sources=SOURCES)


def brute_force(model: RobustModel, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    n = len(model.valid)
    selected, top = np.zeros(n, np.int64), np.zeros(n, np.int64)
    orders = []
    for w in weights:
        scores = weighted_sum(w, model.values)  # the exact float64 score, as the stream computes it after its float32 screen
        order = np.lexsort((np.arange(n), -scores))
        top[order[:model.top_n]] += 1
        selected[pick_spaced(order[:model.selection_pool], model.x, model.y, model.codes, model.top_n, model.spacing_m, model.per_district)] += 1
        orders.append(order)
    return selected, top, orders


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 6), st.integers(2, 5), st.sampled_from([0.0, 150.0, 450.0]), st.sampled_from([None, 2]))
def test_frequencies_are_shares_that_sum_to_k_and_match_brute_force(seed, k, criteria, spacing, per_district):
    rng = np.random.default_rng(seed)
    values = rng.random((400, criteria))
    values[rng.random(400) < 0.3] = 1.0  # plateaus: many exactly tied scores
    model = synthetic_model(values, k, spacing, per_district)
    weights = dirichlet_weights(np.full(criteria, 1 / criteria), 5.0, 30, rng)
    counts = stream_selection(model, SampleDraws(weights), rank_pool=50)
    selected, top, orders = brute_force(model, weights)
    assert np.array_equal(counts.top_k, top) and np.array_equal(counts.selected, selected)
    frequencies = counts.top_k / counts.samples
    assert ((frequencies >= 0) & (frequencies <= 1)).all()
    assert counts.top_k.sum() == k * counts.samples  # each sample puts exactly k cells in its top k
    assert counts.selected.sum() == counts.picks.sum() and (counts.picks <= k).all()
    if spacing == 0 and per_district is None:
        assert counts.selected.sum() == k * counts.samples
    first = counts.rank_cells[:50]
    assert np.array_equal(first, orders[0][:50])  # exact ranks of the best 50 cells of the first sample


def test_rank_quantiles_are_exact_inside_the_pool_and_nan_beyond():
    counts = StreamCounts(samples=4, selected=np.zeros(3), top_k=np.zeros(3), picks=np.zeros(4), rank_pool=2,
                          rank_cells=np.array([0, 1, 0, 1, 0, 2, 0, 1]), rank_values=np.array([1, 2, 1, 2, 1, 2, 1, 2]))
    q = rank_quantiles(counts, 3, (0.25, 0.5, 1.0))
    assert q[0].tolist() == [1, 1, 1]  # always first
    assert q[1, :2].tolist() == [2, 2] and np.isnan(q[1, 2])  # second in 3 of 4 samples, beyond the pool in one
    assert q[2, 0] == 2 and np.isnan(q[2, 1])


def test_pick_spaced_matches_a_plain_loop():
    rng = np.random.default_rng(0)
    x, y, codes = rng.random(300) * 3000, rng.random(300) * 3000, rng.integers(-1, 3, 300)
    order = rng.permutation(300)
    chosen, per = [], {}
    for i in order:
        if len(chosen) >= 7:
            break
        if chosen and (np.hypot(x[chosen] - x[i], y[chosen] - y[i]) < 500).any():
            continue
        if codes[i] >= 0 and per.get(codes[i], 0) >= 2:
            continue
        chosen.append(i)
        per[codes[i]] = per.get(codes[i], 0) + 1
    assert pick_spaced(order, x, y, codes, 7, 500, 2).tolist() == chosen


# --- positions: exact despite bounds ------------------------------------------------------------------

def test_jittered_positions_give_the_same_counts_as_brute_force(tmp_path):
    folder = tmp_path / "w"
    folder.mkdir()
    catalog_path = tiny_world(folder)
    producers = folder / "organic_producers.geojson"
    producers.write_text(producers.read_text(encoding="utf-8").replace('"accuracy_m": 1.0', '"accuracy_m": 900.0'), encoding="utf-8")
    catalog = load_catalog(catalog_path)
    study = prepare_study(catalog, 250)
    flows, specs = load_flows(), load_allocation_specs()
    allocations = allocate_flows(specs, flows, study.layers, study.grid, study.population_weights())
    profile = load_profile(write_profile(tmp_path, "jit", [{**FARM, "weight": 1}, {**FOOD, "weight": 1}, {**ARABLE, "weight": 1}],
                                         selection={"top_n": 3, "min_spacing_m": 600}), catalog, set(allocations))
    result = score_candidates(profile, study, square_candidates(study), allocations)
    model = build_model(result, study, allocations, specs, flows, None, sources=("weights", "positions"))
    assert {jc.layer for jc in model.jittered} == {"organic_producers"} and model.jittered[0].reach_m == 900
    draws, _ = draw_samples(model, None, flows, samples=40, seed=5)
    counts = stream_selection(model, draws, rank_pool=30, keep_sites=True)
    layer = model.point_layers["organic_producers"]
    n = len(model.valid)
    for s in range(len(draws)):
        scores = draws.weights[s] @ model.values.astype(np.float64)
        for jc in model.jittered:
            moved = np.column_stack([layer.x, layer.y]) + draws.offsets["organic_producers"][s]
            distance = nearest_distance(model.x, model.y, moved[jc.features, 0], moved[jc.features, 1])
            scores += draws.weights[s, jc.column] * np.clip((4000 - distance) / 4000, 0, 1)
        order = ordered(np.arange(n), scores)
        expected = pick_spaced(order[:model.selection_pool], model.x, model.y, model.codes, 3, 600)
        assert counts.selected_sites[s].tolist() == expected.tolist(), s
    assert model.jittered[0].low.max() <= 1 and (model.jittered[0].high >= model.jittered[0].low).all()


def test_jittered_point_exclusion(world, tmp_path):
    rule = {"id": "farm_buffer", "label": {"ru": "x", "kk": "x", "en": "x"}, "layer": "organic_producers", "classes": ["poultry_farm"],
            "buffer_m": 300}
    result = scored(world, tmp_path, "pexcl", [{**FARM, "weight": 1}], exclusions=[rule], selection={"top_n": 2})
    model = build_model(result, world.study, world.allocations, world.specs, world.flows, None, sources=("positions",))
    farm = cell_at(result, CX + 1375, CY - 1375)
    assert result.excluded[farm] and farm in model.valid  # excluded at the base position, but may be free when the farm moves 1 m
    assert [e.rule_id for e in model.exclusions] == ["farm_buffer"]
    analysis = robust(world, result, samples=50, seed=0, sources=("positions",))
    assert analysis.selected_frequency[farm] == 0.0  # 1 m of jitter cannot free the farm's own cell


# --- flows --------------------------------------------------------------------------------------------

def test_scaled_supply_with_relative_bounds_is_invariant(world, tmp_path):
    result = scored(world, tmp_path, "relflow", [{"id": "supply", "type": "reachable", "allocation": "household_organic", "radius_m": 1000,
                                                  "value": {"function": "linear", "low": 0, "high": "p95"}, "weight": 1}])
    model = build_model(result, world.study, world.allocations, world.specs, world.flows, world.uncertainty)
    assert not model.flow_criteria and "household_organic" in model.totals
    assert any("relative to the data" in note for note in model.notes)
    analysis = robust(world, result, samples=20, seed=0, sources=("flows",))
    flow_rows = analysis.oat[analysis.oat.kind == "flow"]
    assert set(flow_rows.factor) == {"waste_msw_removed", "waste_msw_industrial", "ext_almaty_msw_food_share"}
    assert (flow_rows.sites_replaced == 0).all()


def test_affine_allocation_total_and_absolute_bounds_vary_the_supply(world, tmp_path):
    spec = {"id": "food_supply", "type": "reachable", "allocation": "food_industry_organic", "radius_m": 1000,
            "value": {"function": "linear", "low": 0, "high": 60000}, "weight": 1}
    result = scored(world, tmp_path, "absflow", [spec, {**ARABLE, "weight": 1}])
    model = build_model(result, world.study, world.allocations, world.specs, world.flows, world.uncertainty)
    (fc,) = model.flow_criteria
    # The food processor keeps its stated 1 000 t/yr, so the supply is affine (not proportional) in the total.
    assert not np.allclose(fc.delta, np.nan_to_num(fc.raw0))
    factor = 1.5
    scaled = {**world.specs["food_industry_organic"],
              "total": {"product": [world.specs["food_industry_organic"]["total"], {"constant": factor}]}}
    fresh = allocate_flows({"food_industry_organic": scaled}, world.flows, world.study.layers, world.study.grid, world.study.population_weights())
    expected = _sample(reachable_surface(fresh["food_industry_organic"].surface(), world.study.grid, 1000), result.candidates)
    assert fc.raw0 + (factor - 1) * fc.delta == pytest.approx(expected, rel=1e-6, abs=0.01)
    draws, _ = draw_samples(model, world.uncertainty, world.flows, samples=50, seed=1)
    factors = draws.total_factors["food_industry_organic"]
    spread = world.uncertainty.flows["agri_companies_organic_waste"]
    assert factors.min() >= spread.low / spread.value - 1e-9 and factors.max() <= spread.high / spread.value + 1e-9 and factors.std() > 0
    oat = robust(world, result, samples=30, seed=1).oat
    assert set(oat[oat.kind == "flow"].factor) == {"agri_companies_organic_waste"}


# --- uncertainty.yaml -----------------------------------------------------------------------------------

def test_shipped_uncertainty_file_is_complete_and_explained():
    flows = load_flows()
    uncertainty = load_uncertainty(flows)
    assert {"agri_organic_waste_landfill", "con_cd_waste_landfill", "waste_msw_removed"} <= set(uncertainty.flows)
    for r in [*uncertainty.flows.values(), *uncertainty.coefficients.values()]:
        assert r.low <= r.value <= r.high or r.distribution == "uniform", r.id
        assert "L" in r.note or r.reason == "literature", r.id  # every range cites the report or the literature
        if r.reason == "literature":
            assert r.source
    ch4 = uncertainty.coefficients["ch4_per_t_organic_landfilled"]
    assert (ch4.low, ch4.high) == (0.040, 0.067) and ch4.low < ch4.value < ch4.high
    rng = np.random.default_rng(0)
    drawn = sample_flows(uncertainty, rng, 500)
    assert drawn["waste_msw_industrial"].min() >= 13357 and drawn["waste_msw_industrial"].max() <= 5 * 13357
    coefficients = sample_coefficients(uncertainty, flows, drawn, rng, 500)
    per_capita = coefficients["organic_waste_landfilled_per_capita"]
    assert per_capita == pytest.approx(drawn["agri_organic_waste_landfill"] / drawn["pop_almaty"])  # propagated from the rows
    assert ((coefficients["ch4_per_t_organic_landfilled"] >= 0.040) & (coefficients["ch4_per_t_organic_landfilled"] <= 0.067)).all()


BAD_RANGES = [
    ({"flows": {"no_such_row": {"reason": "uncertain", "relative": 0.2, "note": "a long enough note"}}}, "no row with id 'no_such_row'"),
    ({"flows": {"pop_almaty": {"reason": "uncertain", "relative": 0.2}}}, "'note' is a required property"),
    ({"flows": {"pop_almaty": {"reason": "guess", "relative": 0.2, "note": "a long enough note"}}}, "'guess' is not one of"),
    ({"coefficients": {"msw_per_capita": {"reason": "literature", "low": 0.1, "high": 0.5, "note": "a long enough note"}}}, "'source' is a required"),
    ({"flows": {"pop_almaty": {"reason": "judgement", "low": 2.0, "high": 3.0, "note": "a long enough note"}}}, "outside the range"),
    ({"flows": {"pop_almaty": {"reason": "judgement", "low": 1.0, "relative": 0.1, "note": "a long enough note"}}}, "pop_almaty"),
]


@pytest.mark.parametrize("document,fragment", BAD_RANGES)
def test_bad_uncertainty_file_is_one_line(tmp_path, document, fragment):
    path = tmp_path / "uncertainty.yaml"
    path.write_text(yaml.safe_dump({"version": 1, **document}), encoding="utf-8")
    with pytest.raises(FlowDataError) as exc:
        load_uncertainty(load_flows(), path)
    message = str(exc.value)
    assert "\n" not in message and "uncertainty.yaml" in message and fragment in message


# --- weights ----------------------------------------------------------------------------------------------

def test_dirichlet_weights_centre_on_the_profile_and_keep_zeros():
    base = np.array([0.5, 0.3, 0.2, 0.0])
    drawn = dirichlet_weights(base, 50.0, 4000, np.random.default_rng(0))
    assert drawn.sum(axis=1) == pytest.approx(1.0) and (drawn[:, 3] == 0).all()
    assert drawn.mean(axis=0) == pytest.approx(base, abs=0.01)
    assert drawn[:, 0].std() == pytest.approx(np.sqrt(0.5 * 0.5 / 51), rel=0.1)


def test_ahp_judgements_move_at_most_one_saaty_step():
    matrix = np.array([[1, 3, 5], [1 / 3, 1, 2], [1 / 5, 1 / 2, 1]])
    drawn = perturbed_ahp_matrices(matrix, 500, np.random.default_rng(0))
    assert np.allclose(drawn * drawn.transpose(0, 2, 1), 1.0)  # still reciprocal
    steps = saaty_steps(drawn) - saaty_steps(matrix)[None]
    assert np.abs(steps).max() == 1 and set(np.unique(steps[:, 0, 1])) == {-1, 0, 1}
    assert SAATY_SCALE[saaty_steps(np.array([9.0]))[0]] == 9 and SAATY_SCALE[saaty_steps(np.array([1 / 9]))[0]] == pytest.approx(1 / 9)
    weights, ratios = ahp_weight_samples(matrix, 200, np.random.default_rng(1), skip=np.array([False, False, True]))
    assert weights.sum(axis=1) == pytest.approx(1.0) and (weights[:, 2] == 0).all() and len(ratios) == 200


def test_ahp_profile_is_sampled_by_judgements(world, tmp_path):
    result = scored(world, tmp_path, "ahp", [{**FARM, "weight": 1}, {**FOOD, "weight": 1}, {**ARABLE, "weight": 1}],
                    weights={"method": "ahp", "matrix": [[1, 3, 5], ["1/3", 1, 2], ["1/5", "1/2", 1]]})
    analysis = robust(world, result, samples=50, seed=0, sources=("weights",))
    assert analysis.ahp_inconsistent_share is not None and 0 <= analysis.ahp_inconsistent_share <= 1


# --- outputs and the CLI ------------------------------------------------------------------------------------

def test_outputs_map_layer_and_index_section(world, tmp_path):
    result = scored(world, tmp_path, "outs", [{**FARM, "weight": 3}, {**FOOD, "weight": 1}, {**ARABLE, "weight": 1}],
                    selection={"top_n": 2, "min_spacing_m": 1000})
    analysis = robust(world, result, samples=80, seed=0)
    paths = write_robust_outputs(analysis, world.study, tmp_path / "out", "kk")
    assert [p.name for p in paths] == ["outs_frequency.tif", "outs_robust_sites.csv", "outs_robust.gpkg", "outs_oat.csv", "outs_tornado.svg"]
    with rasterio.open(paths[0]) as src:
        assert src.count == 4 and src.crs.to_epsg() == 32643
        nearby, selected = src.read(1), src.read(2)
        assert np.nanmax(nearby) <= 1.0 and np.nansum(selected) == pytest.approx(np.nansum(analysis.selected_frequency))
    rows = read_csv(paths[1])
    assert len(rows) == len(analysis.robust_sites) and (rows["nearby_frequency"] >= 0.8).all()
    svg = paths[4].read_text(encoding="utf-8")
    assert svg.startswith("<?xml") and "<svg" in svg and "Date" not in svg and tornado_svg(analysis, "kk") == svg
    layer = frequency_layer(analysis, world.study)
    assert layer.surface.shape == world.study.grid.shape and layer.crs == "EPSG:32643"
    assert layer.robust_sites.crs.to_epsg() == 32643 and len(layer.robust_sites) == len(analysis.robust_sites)
    html = robust_section_html({"outs": analysis}, world.study, {"outs": [("a <b>.csv", "results/a.csv")]})
    assert html.count("<svg") == 3 and "a &lt;b&gt;.csv" in html and "a <b>" not in html


def test_cli_robust_writes_files_and_refuses_bad_options(world, tmp_path, capsys):
    profile = write_profile(tmp_path, "cli_hub", [{**FARM, "weight": 2}, {**ARABLE, "weight": 1}], selection={"top_n": 2, "min_spacing_m": 1000})
    catalog = str(world.folder / "catalog.yaml")
    out = tmp_path / "out"
    assert main(["robust", "--facility", str(profile), "--catalog", catalog, "--samples", "60", "--seed", "3", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "robust sites" in printed and "one at a time" in printed
    assert (out / "cli_hub_frequency.tif").is_file() and (out / "cli_hub_tornado.svg").is_file()
    for bad, fragment in ((["--vary", "weights,moon"], "unknown source"), (["--match-radius", "900"], "match radius 900"),
                          (["--samples", "0"], "--samples: 0 (expected 1 or more)"), (["--concentration", "-1"], "concentration")):
        target = tmp_path / f"bad{len(fragment)}"
        try:
            status = main(["robust", "--facility", str(profile), "--catalog", catalog, *bad, "--out", str(target)])
        except SystemExit as exc:  # argparse refuses malformed options itself, with the same one-line form
            status = exc.code
        assert status == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and fragment in err, err
        assert not target.exists()


def test_hexagon_candidates_and_an_empty_choice(world, tmp_path):
    from geo_almaty.candidates import hex_candidates

    path = write_profile(tmp_path, "hexes", [{**FARM, "weight": 2}, {**ARABLE, "weight": 1}], selection={"top_n": 2, "min_spacing_m": 1000})
    profile = load_profile(path, world.catalog, set(world.allocations))
    result = score_candidates(profile, world.study, hex_candidates(world.study), world.allocations)
    analysis = robust(world, result, samples=40, seed=0)
    assert np.nansum(analysis.selected_frequency) == pytest.approx(2.0)
    assert np.nanmax(analysis.nearby_frequency) <= 1.0 and len(analysis.robust_sites) >= 1
    assert np.isfinite(frequency_layer(analysis, world.study).surface).sum() > 50  # hexagons rasterised onto the grid
    everything = {"id": "all", "label": {"ru": "x", "kk": "x", "en": "x"}, "layer": "study_area"}
    nothing_left = scored(world, tmp_path, "none", [{**FARM, "weight": 1}], exclusions=[everything])
    with pytest.raises(SelectionError, match="all 256 candidates are excluded"):  # refused like `score`, not an empty table
        robust(world, nothing_left, samples=10, seed=0)


def test_owa_weights_are_sampled_exactly(world, tmp_path):
    from geo_almaty.aggregate import ordered_weighted_average

    result = scored(world, tmp_path, "owa", [{**FARM, "weight": 2}, {**FOOD, "weight": 1}, {**ARABLE, "weight": 1}],
                    aggregation={"method": "owa", "order_weights": [0.2, 0.3, 0.5]}, selection={"top_n": 3, "min_spacing_m": 600})
    model = build_model(result, world.study, world.allocations, world.specs, world.flows, world.uncertainty)
    assert model.sources == ("weights",) and any("OWA" in note for note in model.notes)
    draws, _ = draw_samples(model, world.uncertainty, world.flows, samples=25, seed=3)
    counts = stream_selection(model, draws, keep_sites=True)
    values = result.values[model.valid]
    for s, w in enumerate(draws.weights):
        scores, _ = ordered_weighted_average(values, w, np.array([0.2, 0.3, 0.5]))
        order = ordered(np.arange(len(scores)), scores.astype(np.float32))
        expected = pick_spaced(order[:model.selection_pool], model.x, model.y, model.codes, 3, 600)
        assert counts.selected_sites[s].tolist() == expected.tolist(), s
