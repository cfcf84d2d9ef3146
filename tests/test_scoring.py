"""Candidates, criteria, value functions, weights (AHP), aggregation (WLC, OWA), exclusions and selection."""
from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from geo_almaty.aggregate import ordered_weighted_average, weighted_linear
from geo_almaty.allocate import allocate_flows, load_allocation_specs
from geo_almaty.candidates import hex_candidates, hex_resolution, square_candidates
from geo_almaty.catalog import load_catalog
from geo_almaty.criteria import disc_kernel, reachable_surface
from geo_almaty.errors import ProfileError
from geo_almaty.flows import load_flows
from geo_almaty.grid import AnalysisGrid
from geo_almaty.prepare import prepare_study
from geo_almaty.profiles import load_profile
from geo_almaty.score import score_candidates
from geo_almaty.select import select_sites
from geo_almaty.value_functions import apply_value_function, fuzzy_trapezoid, linear, sigmoid, threshold
from geo_almaty.weights import MAX_CONSISTENCY_RATIO, ahp_weights, normalise_weights

from .synthetic import CX, CY, tiny_world, write_profile


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("world")
    catalog = load_catalog(tiny_world(folder))
    study = prepare_study(catalog, 250)
    allocations = allocate_flows(load_allocation_specs(), load_flows(), study.layers, study.grid, study.population_weights())
    return folder, catalog, study, allocations


def score(world, profile_path, **kwargs):
    folder, catalog, study, allocations = world
    profile = load_profile(profile_path, catalog, set(allocations), **kwargs)
    candidates = square_candidates(study)
    return score_candidates(profile, study, candidates, allocations), study


# --- value functions ---------------------------------------------------------------------------

def test_linear_value_function_both_directions():
    raw = np.array([0.0, 500.0, 1000.0, 2000.0])
    assert linear(raw, 0, 1000).tolist() == [0.0, 0.5, 1.0, 1.0]
    assert linear(raw, 1000, 0).tolist() == [1.0, 0.5, 0.0, 0.0]  # closer is better


def test_linear_with_equal_bounds_is_a_step_that_gives_nothing_at_the_bound():
    raw = np.array([0.0, 0.0, 5.0])
    assert linear(raw, 0, 0).tolist() == [0.0, 0.0, 1.0]  # a 95th percentile of 0 must not make "none within reach" the best


def test_threshold_sigmoid_and_fuzzy():
    raw = np.array([0.0, 100.0, 300.0])
    assert threshold(raw, 100, "below").tolist() == [1, 1, 0]
    assert threshold(raw, 100, "above").tolist() == [0, 1, 1]
    s = sigmoid(np.array([-1e9, 50.0, 1e9]), 50, 10, "increasing")
    assert s[0] == pytest.approx(0) and s[1] == pytest.approx(0.5) and s[2] == pytest.approx(1)
    assert sigmoid(np.array([50.0]), 50, 10, "decreasing")[0] == pytest.approx(0.5)
    f = fuzzy_trapezoid(np.array([0.0, 1.0, 2.0, 5.0, 7.0, 10.0]), 1, 2, 5, 9)
    assert f.tolist() == pytest.approx([0, 0, 1, 1, 0.5, 0])


def test_percentile_bounds_and_nan_raw_values():
    raw = np.arange(101, dtype=float)
    values = apply_value_function({"function": "linear", "low": "min", "high": "p50"}, raw)
    assert values[0] == 0 and values[50] == 1 and values[25] == pytest.approx(0.5)
    assert apply_value_function({"function": "linear", "low": 0, "high": 1}, np.array([np.nan]))[0] == 0
    with pytest.raises(ProfileError, match="unknown bound"):
        apply_value_function({"function": "linear", "low": 0, "high": "top"}, raw)


# --- weights ---------------------------------------------------------------------------------------

def test_ahp_recovers_consistent_weights():
    w = np.array([0.5, 0.3, 0.2])
    result = ahp_weights(w[:, None] / w[None, :])
    assert result.weights == pytest.approx(w)
    assert result.consistency_ratio == pytest.approx(0, abs=1e-9)


def test_ahp_inconsistent_matrix_has_high_ratio():
    a = np.array([[1, 9, 1 / 9], [1 / 9, 1, 9], [9, 1 / 9, 1]])  # A > B > C > A
    assert ahp_weights(a).consistency_ratio > MAX_CONSISTENCY_RATIO


@given(arrays(np.float64, st.integers(2, 7), elements=st.floats(0.05, 20)))
def test_ahp_weights_sum_to_one_and_are_positive(w):
    result = ahp_weights(w[:, None] / w[None, :])
    assert result.weights.sum() == pytest.approx(1)
    assert (result.weights > 0).all()
    assert result.weights == pytest.approx(w / w.sum(), rel=1e-6)


@given(arrays(np.float64, st.integers(1, 8), elements=st.floats(0, 100)).filter(lambda a: a.sum() > 0))
def test_direct_weights_normalise_to_one(w):
    n = normalise_weights(w)
    assert n.sum() == pytest.approx(1) and (n >= 0).all()


def test_negative_direct_weight_is_refused():
    with pytest.raises(ProfileError, match="negative weight"):
        normalise_weights([1, -1])


# --- aggregation ------------------------------------------------------------------------------------

values_st = arrays(np.float64, st.tuples(st.integers(1, 20), st.integers(2, 6)), elements=st.floats(0, 1))


@given(values_st)
def test_owa_with_equal_order_weights_is_wlc(values):
    k = values.shape[1]
    w = np.linspace(1, 2, k)
    w /= w.sum()
    wlc, _ = weighted_linear(values, w)
    owa, contributions = ordered_weighted_average(values, w, np.full(k, 1 / k))
    assert owa == pytest.approx(wlc)
    assert contributions.sum(axis=1) == pytest.approx(owa)


@given(values_st)
def test_owa_extremes_are_or_and_and(values):
    k = values.shape[1]
    equal = np.full(k, 1 / k)
    or_weights, and_weights = np.eye(k)[0], np.eye(k)[-1]
    assert ordered_weighted_average(values, equal, or_weights)[0] == pytest.approx(values.max(axis=1))
    assert ordered_weighted_average(values, equal, and_weights)[0] == pytest.approx(values.min(axis=1))


@given(values_st)
def test_scores_stay_between_zero_and_one(values):
    k = values.shape[1]
    w = np.full(k, 1 / k)
    score, contributions = weighted_linear(values, w)
    assert ((score >= -1e-12) & (score <= 1 + 1e-12)).all()
    assert contributions.sum(axis=1) == pytest.approx(score)


# --- criteria ---------------------------------------------------------------------------------------

def test_reachable_sums_what_lies_within_the_radius():
    grid = AnalysisGrid(0, 2500, 250, 10, 10)
    surface = np.zeros(grid.shape)
    surface[5, 5] = 100.0
    reach = reachable_surface(surface, grid, 500)
    assert reach[5, 5] == pytest.approx(100) and reach[5, 7] == pytest.approx(100) and reach[5, 8] == pytest.approx(0)
    assert reach[7, 7] == pytest.approx(0)  # diagonal 707 m > 500 m
    assert disc_kernel(500, 250).sum() == 13


def test_hand_computable_ranking_distance_and_share(world, tmp_path):
    profile = write_profile(tmp_path, "hand", [
        {"id": "farm", "type": "distance", "layer": "organic_producers", "classes": ["poultry_farm"],
         "value": {"function": "linear", "low": 4000, "high": 0}, "weight": 1},
        {"id": "arable", "type": "share", "layer": "land_use", "classes": ["arable"], "value": {"function": "linear", "low": 0, "high": 1}, "weight": 1},
    ])
    result, study = score(world, profile)
    best = int(np.nanargmax(result.score))
    assert (result.candidates.x[best], result.candidates.y[best]) == (CX + 1375, CY - 1375)  # the farm's cell
    assert result.score[best] == pytest.approx(1.0)
    # A residential cell 2 km west of the farm: distance value 0.5, arable share 0 -> score 0.25.
    west = np.flatnonzero((result.candidates.x == CX - 625) & (result.candidates.y == CY - 1375))[0]
    assert result.raw[west, 0] == pytest.approx(2000)
    assert result.score[west] == pytest.approx(0.25)
    assert result.contributions[west].sum() == pytest.approx(result.score[west])


def test_exclusions_are_respected(world, tmp_path):
    profile = write_profile(tmp_path, "excl", [
        {"id": "farm", "type": "distance", "layer": "organic_producers", "value": {"function": "linear", "low": 5000, "high": 0}, "weight": 1}],
        exclusions=[{"id": "heritage", "label": {"ru": "x", "kk": "x", "en": "x"}, "layer": "heritage_areas"},
                    {"id": "housing", "label": {"ru": "x", "kk": "x", "en": "x"}, "layer": "land_use", "classes": ["residential"], "buffer_m": 250}])
    result, study = score(world, profile)
    x, y = result.candidates.x, result.candidates.y
    heritage = (np.abs(x - CX) < 250) & (np.abs(y - CY) < 250)
    near_housing = x < CX + 250
    assert result.excluded[heritage | near_housing].all()
    assert np.isnan(result.score[result.excluded]).all()
    assert set(result.exclusion[result.excluded]) == {"heritage", "housing"}
    chosen = select_sites(result, study, top_n=5)
    assert not result.excluded[chosen.candidate].any()


def test_scoring_is_deterministic(world, tmp_path):
    profile = write_profile(tmp_path, "det", [
        {"id": "supply", "type": "reachable", "allocation": "household_organic", "radius_m": 1000, "value": {"function": "linear", "low": 0, "high": "p90"}, "weight": 2},
        {"id": "road", "type": "distance", "layer": "roads", "value": {"function": "sigmoid", "midpoint": 500, "width": 100, "direction": "decreasing"}, "weight": 1}],
        selection={"top_n": 4, "min_spacing_m": 600})
    first, study = score(world, profile)
    second, _ = score(world, profile)
    assert np.array_equal(first.score, second.score, equal_nan=True)
    assert select_sites(first, study).equals(select_sites(second, study))


def test_selection_spacing_and_district_spread(world, tmp_path):
    profile = write_profile(tmp_path, "spread", [
        {"id": "farm", "type": "distance", "layer": "organic_producers", "value": {"function": "linear", "low": 6000, "high": 0}, "weight": 1}],
        selection={"top_n": 2, "min_spacing_m": 1000, "max_per_district": 1})
    result, study = score(world, profile)
    chosen = select_sites(result, study)
    assert len(chosen) == 2 and set(chosen.district_id) == {"west", "east"}
    (a, b) = chosen.candidate.to_numpy()
    assert np.hypot(result.candidates.x[a] - result.candidates.x[b], result.candidates.y[a] - result.candidates.y[b]) >= 1000


def test_owa_profile_and_ahp_profile(world, tmp_path):
    crit = [{"id": "farm", "type": "distance", "layer": "organic_producers", "value": {"function": "linear", "low": 4000, "high": 0}, "weight": 1},
            {"id": "arable", "type": "share", "classes": ["arable"], "value": {"function": "linear", "low": 0, "high": 1}, "weight": 1}]
    owa, _ = score(world, write_profile(tmp_path, "owa", crit, aggregation={"method": "owa", "order_weights": [0, 1]}))
    ok = np.isfinite(owa.score)
    assert owa.score[ok] == pytest.approx(owa.values[ok].min(axis=1))
    ahp, _ = score(world, write_profile(tmp_path, "ahp", crit, weights={"method": "ahp", "matrix": [[1, 3], ["1/3", 1]]}))
    assert ahp.weights == pytest.approx([0.75, 0.25])
    assert ahp.ahp is not None and ahp.ahp.consistency_ratio == 0


def test_hexagon_candidates(world):
    _, _, study, _ = world
    hexes = hex_candidates(study)
    assert hex_resolution(250) == 9
    assert 100 < len(hexes) < 250  # 16 km² / ~0.1 km² per res-9 hexagon
    assert (hexes.cell >= 0).all()
    assert shapely.contains(study.area.buffer(400), hexes.geometries(study)).all()


# --- bad profiles: one clear line each -------------------------------------------------------------

BAD = [
    ({"id": "a", "type": "distance", "layer": "moon_bases", "value": {"function": "linear", "low": 1, "high": 0}, "weight": 1}, {}, "unknown layer 'moon_bases'"),
    ({"id": "a", "type": "proximity", "layer": "roads", "value": {"function": "linear", "low": 1, "high": 0}, "weight": 1}, {}, "'proximity' is not one of"),
    ({"id": "a", "type": "distance", "layer": "roads", "value": {"function": "linear", "low": 1, "high": 0}, "weight": -2}, {}, "negative weight -2"),
    ({"id": "a", "type": "distance", "layer": "roads", "classes": ["canal"], "value": {"function": "linear", "low": 1, "high": 0}, "weight": 1}, {}, "unknown class(es) canal"),
    ({"id": "a", "type": "reachable", "allocation": "gold", "radius_m": 100, "value": {"function": "linear", "low": 0, "high": 1}, "weight": 1}, {}, "unknown allocation 'gold'"),
    ({"id": "a", "type": "distance", "layer": "roads", "value": {"function": "cubic"}, "weight": 1}, {}, "'cubic' is not one of"),
]


@pytest.mark.parametrize("criterion,extra,fragment", BAD)
def test_bad_profile_is_one_line(world, tmp_path, criterion, extra, fragment):
    folder, catalog, study, allocations = world
    path = write_profile(tmp_path, "bad", [criterion], **extra)
    with pytest.raises(ProfileError) as exc:
        load_profile(path, catalog, set(allocations))
    message = str(exc.value)
    assert "\n" not in message and "bad.yaml" in message and fragment in message


def test_inconsistent_ahp_matrix_is_refused_unless_forced(world, tmp_path):
    folder, catalog, study, allocations = world
    crit = [{"id": c, "type": "distance", "layer": "roads", "value": {"function": "linear", "low": 1, "high": 0}, "weight": 1} for c in "abc"]
    path = write_profile(tmp_path, "cyc", crit, weights={"method": "ahp", "matrix": [[1, 9, "1/9"], ["1/9", 1, 9], [9, "1/9", 1]]})
    with pytest.raises(ProfileError) as exc:
        load_profile(path, catalog, set(allocations))
    assert "consistency ratio" in str(exc.value) and "cyc.yaml" in str(exc.value) and "--force-ahp" in str(exc.value)
    assert load_profile(path, catalog, set(allocations), force_ahp=True).id == "cyc"


def test_non_reciprocal_and_wrong_size_matrices(world, tmp_path):
    folder, catalog, study, allocations = world
    crit = [{"id": c, "type": "distance", "layer": "roads", "value": {"function": "linear", "low": 1, "high": 0}, "weight": 1} for c in "ab"]
    with pytest.raises(ProfileError, match="not reciprocal"):
        load_profile(write_profile(tmp_path, "nr", crit, weights={"method": "ahp", "matrix": [[1, 3], [3, 1]]}))
    with pytest.raises(ProfileError, match="for 2 criteria"):
        load_profile(write_profile(tmp_path, "sz", crit, weights={"method": "ahp", "matrix": [[1, 3, 1], ["1/3", 1, 1], [1, 1, 1]]}))


def test_unknown_facility_lists_the_known_ones():
    with pytest.raises(ProfileError) as exc:
        load_profile("incinerator")
    assert "composting_hub" in str(exc.value) and "reuse_warehouse" in str(exc.value)


def test_shipped_profiles_validate_against_the_embedded_catalog():
    catalog = load_catalog()
    allocations = set(load_allocation_specs())
    for name in ("composting_hub", "material_bank", "reuse_warehouse"):
        profile = load_profile(name, catalog, allocations)
        assert all(c["report_lines"].startswith("L") and len(c["rationale"]) > 20 for c in profile.criteria)


def test_optional_criterion_without_data_is_skipped_and_required_one_is_named(world, tmp_path):
    crit = [{"id": "farm", "type": "distance", "layer": "organic_producers", "value": {"function": "linear", "low": 4000, "high": 0}, "weight": 1},
            {"id": "slope", "type": "raster", "raster": "slope", "value": {"function": "linear", "low": 8, "high": 2}, "weight": 1, "optional": True},
            {"id": "market", "type": "distance", "layer": "markets", "value": {"function": "linear", "low": 4000, "high": 0}, "weight": 1,
             "optional": True}]
    result, _ = score(world, write_profile(tmp_path, "opt", crit))
    assert result.skipped == ["slope", "market"]
    assert result.weights.tolist() == [1.0, 0.0, 0.0]
    crit[2]["optional"] = False
    with pytest.raises(ProfileError) as exc:
        score(world, write_profile(tmp_path, "req", crit))
    assert "layer 'markets'" in str(exc.value) and "no data" in str(exc.value) and "req.yaml" in str(exc.value)
