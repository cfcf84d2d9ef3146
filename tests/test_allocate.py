"""Flows on the map: every allocation sums exactly to its flow's total, and records its proxy."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo_almaty.allocate import allocate_by_population, allocate_by_stated_tonnage, allocate_flows, load_allocation_specs
from geo_almaty.apportion import tonnes_to_kg
from geo_almaty.catalog import load_catalog
from geo_almaty.errors import LayerError
from geo_almaty.flows import evaluate, flow_value, load_flows
from geo_almaty.grid import AnalysisGrid
from geo_almaty.prepare import prepare_study

from .synthetic import CX, CY, tiny_world


@pytest.fixture(scope="module")
def flows():
    return load_flows()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    return prepare_study(load_catalog(tiny_world(folder)), 250)


@pytest.fixture(scope="module")
def embedded_allocations(flows):
    study = prepare_study(load_catalog(), 250)
    return study, allocate_flows(load_allocation_specs(), flows, study.layers, study.grid, study.population_weights())


def test_embedded_allocations_conserve_mass_exactly(embedded_allocations, flows):
    study, allocations = embedded_allocations
    specs = load_allocation_specs()
    assert set(allocations) == set(specs)
    for flow_id, allocation in allocations.items():
        assert int(allocation.surface_base.sum()) == allocation.total_base, flow_id
        assert int(allocation.features["amount_base"].sum()) == allocation.total_base, flow_id
        assert allocation.by_district().sum() * allocation.per_unit == pytest.approx(allocation.total_base, abs=1e-6)
        assert (allocation.features["proxy"] == specs[flow_id]["proxy"]).all()
        assert allocation.note and allocation.proxy == specs[flow_id]["proxy"]
        if "total" in specs[flow_id]:
            expected = evaluate(specs[flow_id]["total"], flows).value
            assert allocation.total_base == tonnes_to_kg(expected)
            assert allocation.surface().sum() == pytest.approx(expected)


def test_embedded_household_organic_is_the_reports_600_less_90_kt(embedded_allocations, flows):
    _, allocations = embedded_allocations
    organic = allocations["household_organic"]
    assert organic.total == pytest.approx(flow_value(flows, "agri_organic_waste_landfill") - flow_value(flows, "agri_companies_organic_waste"))
    assert organic.rows == ("agri_organic_waste_landfill", "agri_companies_organic_waste")
    assert allocations["food_industry_organic"].total == pytest.approx(90_000)
    assert allocations["construction_waste"].total == pytest.approx(79_000)
    assert allocations["green_waste_area"].unit == "ha"


def test_population_split_is_proportional_and_lands_in_residential_cells(tiny, flows):
    districts = tiny.layer("districts")
    features, surface = allocate_by_population(400_000_000, districts, tiny.grid, tiny.residential_share())
    assert dict(zip(features.district_id, features.amount_base)) == {"west": 100_000_000, "east": 300_000_000}
    assert surface.sum() == 400_000_000
    # West is residential: its mass spreads over its own cells only.
    west_cells = surface[:, : tiny.grid.width // 2]
    assert west_cells.sum() == 100_000_000 and (west_cells > 0).all()


def test_stated_tonnage_is_kept_and_the_rest_shared(tiny):
    producers = tiny.layer("organic_producers")
    features, surface = allocate_by_stated_tonnage(90_000_000, producers, tiny.grid, tiny.layer("districts"))
    amounts = dict(zip(features.feature_id, features.amount_base))
    assert amounts == {"food": 1_000_000, "farm": 89_000_000}
    assert surface.sum() == 90_000_000
    row, col = tiny.grid.index_of(np.array([CX + 1375]), np.array([CY - 1375]))
    assert surface[row[0], col[0]] == 89_000_000


def test_stated_tonnage_above_the_total_is_refused(tiny):
    with pytest.raises(LayerError, match="more than the flow total"):
        allocate_by_stated_tonnage(500_000, tiny.layer("organic_producers"), tiny.grid, tiny.layer("districts"))


def test_construction_waste_follows_turnover_shares(tiny, flows):
    allocations = allocate_flows({"cd": load_allocation_specs()["construction_waste"]}, flows, tiny.layers, tiny.grid, tiny.residential_share())
    features = allocations["cd"].features.set_index("feature_id")["amount_base"]
    total = tonnes_to_kg(79_000)
    shares = np.array([0.88, 0.06, 0.06, 0.001])
    new_build = round(total * shares[0] / shares.sum())
    assert features["nb"] == pytest.approx(new_build, abs=1)
    assert features.sum() == total
    assert features["old"] > features["new"]  # older stock takes more maintenance; it is also planned for demolition


def test_area_index_equals_park_area(tiny, flows):
    allocations = allocate_flows({"parks": load_allocation_specs()["green_waste_area"]}, flows, tiny.layers, tiny.grid, tiny.residential_share())
    assert allocations["parks"].total == pytest.approx(25.0)  # a 500 m × 500 m park = 25 ha
    assert allocations["parks"].surface().sum() == pytest.approx(25.0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(total_t=st.floats(min_value=0, max_value=5e6, allow_nan=False),
       populations=st.lists(st.integers(min_value=0, max_value=2_000_000), min_size=2, max_size=6).filter(lambda p: sum(p) > 0),
       split=st.floats(min_value=0.05, max_value=0.95))
def test_population_allocation_conserves_mass_for_any_inputs(total_t, populations, split):
    grid = AnalysisGrid(0.0, 6000.0, 250.0, 24, 24)
    n = len(populations)
    edges = np.linspace(0, 6000, n + 1)
    districts = gpd.GeoDataFrame({"district_id": [f"d{i}" for i in range(n)], "population": populations},
                                 geometry=[shapely.box(edges[i], 0, edges[i + 1], 6000) for i in range(n)], crs="EPSG:32643")
    residential = np.zeros(grid.shape)
    residential[: int(24 * split)] = 1.0  # only the top rows are residential
    total_kg = tonnes_to_kg(total_t)
    features, surface = allocate_by_population(total_kg, districts, grid, residential)
    assert int(features.amount_base.sum()) == total_kg
    assert int(surface.sum()) == total_kg
    assert (surface >= 0).all()


def test_district_table_for_the_akimat_sums_to_each_total(embedded_allocations):
    from geo_almaty.export import allocations_by_district

    study, allocations = embedded_allocations
    table = allocations_by_district(allocations, study, "kk")
    sums = table.groupby("allocation")["amount"].sum()
    for flow_id, allocation in allocations.items():
        assert sums[flow_id] * allocation.per_unit == pytest.approx(allocation.total_base, abs=1e-6)
    assert set(table.proxy) == {"population", "stated_tonnage", "construction_activity", "area"}
    assert "Алатау ауданы" in set(table.district) or table.district.str.contains("Алатау").any()
