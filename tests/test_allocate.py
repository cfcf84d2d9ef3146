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


def test_embedded_household_organic_is_household_waste_times_the_akimats_food_share(embedded_allocations, flows):
    _, allocations = embedded_allocations
    organic = allocations["household_organic"]
    household_waste = flow_value(flows, "waste_msw_removed") - flow_value(flows, "waste_msw_industrial")
    assert organic.total == pytest.approx(household_waste * flow_value(flows, "ext_almaty_msw_food_share"))
    assert organic.rows == ("waste_msw_removed", "waste_msw_industrial", "ext_almaty_msw_food_share")
    assert organic.total < flow_value(flows, "waste_landfill_delivered")  # consistent with the landfill (480 kt), unlike 600 - 90 kt
    assert "agri_organic_waste_landfill" not in organic.rows and "600" in organic.note  # the conflict is named, not inherited
    assert allocations["food_industry_organic"].total == pytest.approx(90_000)
    assert allocations["construction_waste"].total == pytest.approx(79_000)
    assert allocations["green_waste_area"].unit == "ha"


def test_the_600kt_conflict_is_flagged_by_the_consistency_report(flows):
    from geo_almaty.consistency import run_consistency_checks

    checks = {c.id: c for c in run_consistency_checks(flows)}
    assert not checks["organics_600kt_vs_household_share"].agrees
    assert not checks["organics_exceed_landfill_deliveries"].agrees
    assert not checks["msw_removed_vs_akimat_2025"].agrees


def test_embedded_food_industry_stays_with_the_citys_food_plants_and_poultry_counts_once(embedded_allocations):
    study, allocations = embedded_allocations
    food = allocations["food_industry_organic"]
    producers = study.layer("organic_producers").set_index("producer_id")
    classes = set(producers.loc[food.features.feature_id, "class"])
    assert "poultry_farm" not in classes and classes <= {"food_processor", "confectionery", "brewery", "dairy", "meat_processing"}
    assert "outside" not in set(food.features.district_id)  # every receiving producer is in one of the city's districts
    assert len(set(food.features.amount_base)) == 1  # equal shares: the layer's size weights are illustrative
    assert int(food.features.amount_base.sum()) == food.total_base == int(food.surface_base.sum())


def test_embedded_construction_waste_is_split_by_what_generates_it(embedded_allocations, flows):
    study, allocations = embedded_allocations
    waste = allocations["construction_waste"]
    parts = waste.features.groupby("component").amount_base.sum()
    mid = {a: (flows.loc[f"ext_cd_share_{a}", "value"] + flows.loc[f"ext_cd_share_{a}", "value_high"]) / 2
           for a in ("demolition", "renovation", "new_build")}
    assert parts.sum() == waste.total_base == int(waste.surface_base.sum())
    for activity, share in mid.items():
        assert parts[activity] == pytest.approx(waste.total_base * share / sum(mid.values()), abs=1)
    assert parts["demolition"] > 0.4 * waste.total_base  # the ~500 buildings due for demolition get a real share
    demolished = waste.features[waste.features.component == "demolition"]
    stock = study.layer("building_stock").set_index("stock_id")
    planned = demolished[demolished.layer == "building_stock"].feature_id
    assert stock.loc[planned, "demolition_planned"].all() and stock.loc[planned, "built_period"].eq("built_1956_1970").all()


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


def test_construction_waste_follows_the_generation_shares(tiny, flows):
    allocations = allocate_flows({"cd": load_allocation_specs()["construction_waste"]}, flows, tiny.layers, tiny.grid, tiny.residential_share())
    features = allocations["cd"].features
    total = tonnes_to_kg(79_000)
    assert features.amount_base.sum() == total and int(allocations["cd"].surface_base.sum()) == total  # exact, to the kilogram
    by = features.groupby(["component", "feature_id"]).amount_base.sum()
    # midpoints 45 / 40 / 15 % (data/external.csv): demolition, renovation and maintenance, new-build offcuts
    assert by[("new_build", "nb")] == total * 15 // 100
    assert by[("demolition", "dm")] + by[("demolition", "old")] == total * 45 // 100
    assert by[("demolition", "dm")] == by[("demolition", "old")]  # a demolition site weighs as much as an average planned block
    assert ("demolition", "new") not in by.index  # stock not planned for demolition takes no demolition waste
    assert by[("renovation", "old")] > by[("renovation", "new")]  # older stock is renovated more (area × age)


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
    cd = table[table.allocation == "construction_waste"]
    assert set(cd.component) == {"demolition", "renovation", "new_build"} and (table[table.allocation != "construction_waste"].component == "").all()
    assert (table.report_lines.str.startswith("L")).all() and table.flow_rows.str.contains("ext_").any()
    assert "Алатау ауданы" in set(table.district) or table.district.str.contains("Алатау").any()
