"""Location-allocation on real inputs: supply conserved to the kilogram, costs, parameters, profiles, outputs, CLI."""
from __future__ import annotations

import dataclasses
import math
import types

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo_almaty import settings as ga_settings
from geo_almaty.cli import main
from geo_almaty.errors import FlowDataError, LocateError, ProfileError
from geo_almaty.export import read_csv
from geo_almaty.flows import flow_value, load_flows
from geo_almaty.grid import AnalysisGrid
from geo_almaty.locate.costs import straight_line_costs, travel_costs
from geo_almaty.locate.facility import UNSERVED, allocate_cells, locate_facility
from geo_almaty.locate.models import Band, Network, solve_model
from geo_almaty.locate.outputs import district_site_table, flow_table, locate_layers, site_table, write_locate_outputs
from geo_almaty.locate.report import locate_html, locate_markdown, summary_lines
from geo_almaty.locate.spec import locate_spec
from geo_almaty.locate.supply import SupplyFlow, demand_points, eligible_surface
from geo_almaty.network import network_from_lines, od_costs
from geo_almaty.parameters import load_parameters
from geo_almaty.pipeline import load_inputs
from geo_almaty.profiles import load_profile
from geo_almaty.siting import check_sites

from .synthetic import CX, CY, HALF, box, tiny_world, write_profile

TEXT = {"ru": "т", "kk": "т", "en": "t"}


# --- supply: shares and demand points ------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 50_000), min_size=1, max_size=60), st.floats(0, 1))
def test_eligible_share_is_exact_and_never_exceeds_a_cell(values, share):
    surface = np.array(values, dtype=np.int64).reshape(1, -1)
    eligible = eligible_surface(surface, share)
    assert eligible.sum() == round(share * surface.sum())
    assert (eligible <= surface).all() and (eligible >= 0).all()


def _flow(name: str, surface: np.ndarray, impact: str = "none") -> SupplyFlow:
    return SupplyFlow(name, {"ru": name, "kk": name, "en": name}, impact, "test", 1.0, None, int(surface.sum()), int(surface.sum()), (), surface)


def test_demand_points_conserve_every_flow_and_bound_the_displacement():
    rng = np.random.default_rng(1)
    grid = AnalysisGrid(0.0, 10_000.0, 250.0, 40, 40)
    flows = [_flow(f"f{i}", rng.integers(0, 3, grid.shape) * rng.integers(0, 10_000, grid.shape)) for i in range(2)]
    points = demand_points(flows, grid, 1000.0)
    for f, flow in enumerate(flows):
        assert points.kg[:, f].sum() == flow.surface_kg.sum() == points.cell_kg[:, f].sum()
    assert len(points) <= 100  # 10 × 10 blocks
    assert points.displacement_max_m <= math.sqrt(2) * 1000.0
    assert 0 < points.displacement_mean_m <= points.displacement_max_m


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.sampled_from(["pmedian", "mclp"]), st.integers(1, 3))
def test_assigned_plus_unserved_equals_supply_for_every_flow_to_the_kilogram(seed, model, k):
    rng = np.random.default_rng(seed)
    grid = AnalysisGrid(0.0, 8_000.0, 250.0, 32, 32)
    flows = [_flow(f"f{i}", (rng.random(grid.shape) < 0.3) * rng.integers(1, 20_000, grid.shape)) for i in range(rng.integers(1, 4))]
    points = demand_points(flows, grid, 1000.0)
    sites = rng.uniform(0, 8000, (6, 2)) + [0, 0]
    cost = straight_line_costs(np.c_[points.x, points.y], sites, 6000.0, 1.3)
    bands = [Band("b", float(points.tonnes.sum()) * 1.5 / k)]
    network = Network(points.tonnes, rng.uniform(0, 1, 6), np.full(6, -1), cost.origin, cost.destination, cost.metres / 1000, bands, 6.0)
    try:
        result = solve_model(network, model, band=0, k=k, gap=0.05, time_limit=10)
    except LocateError:
        return  # an instance the haul or the capacity cannot serve: refused, as it should be
    table, _, _ = allocate_cells(points, flows, result)
    for f, flow in enumerate(flows):
        mine = table[table.flow == flow.allocation]
        assert int(mine.kg.sum()) == flow.eligible_kg  # assigned + unserved = supply
        per_cell = mine.groupby("cell").kg.sum()
        expected = dict(zip(points.cell, points.cell_kg[:, f]))
        assert all(per_cell.get(c, 0) == v for c, v in expected.items())
    if model == "pmedian":
        assert (table.location != UNSERVED).all()


# --- costs ------------------------------------------------------------------------------------------

def test_straight_line_costs_match_brute_force_and_flag_the_fallback():
    rng = np.random.default_rng(2)
    a, b = rng.uniform(0, 20_000, (50, 2)), rng.uniform(0, 20_000, (30, 2))
    result = straight_line_costs(a, b, 8000.0, 1.3)
    full = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1]) * 1.3
    expected = set(zip(*np.nonzero(full <= 8000.0)))
    assert set(zip(result.origin, result.destination)) == expected
    assert np.allclose(result.metres, full[result.origin, result.destination])
    assert result.is_fallback and "fallback" in result.describe()


def test_too_many_pairs_are_refused_with_the_estimate(monkeypatch):
    monkeypatch.setattr(ga_settings, "MAX_LOCATE_ARCS", 10)
    with pytest.raises(LocateError, match=r"demand-site pairs within .* GB"):
        straight_line_costs(np.zeros((5, 2)), np.zeros((5, 2)), 100.0, 1.3)


def _l_shaped_road() -> gpd.GeoDataFrame:
    """One road from (0, 0) north to (0, 1000) and east to (1000, 1000) (EPSG:32643, m), offset to Almaty."""
    x0, y0 = 630_000.0, 4_790_000.0
    return gpd.GeoDataFrame({"class": ["primary"]}, geometry=[shapely.LineString([(x0, y0), (x0, y0 + 1000), (x0 + 1000, y0 + 1000)])],
                            crs=ga_settings.ANALYSIS_CRS)


def test_road_costs_come_from_the_network_and_the_fallback_is_flagged():
    road = _l_shaped_road()
    x0, y0 = road.geometry.iloc[0].coords[0]
    network = network_from_lines(road)
    origin = np.array([[x0, y0]])
    destination = np.array([[x0 + 1000, y0 + 1000], [x0, y0 + 500]])
    by_road = travel_costs(types.SimpleNamespace(network=network), origin, destination, 2500.0)
    assert by_road.method == "road" and not by_road.is_fallback and "road network" in by_road.describe()
    assert dict(zip(by_road.destination.tolist(), by_road.metres.tolist())) == pytest.approx({0: 2000.0, 1: 500.0})  # along the road
    od = od_costs(network, origin, destination, cutoff=2500.0)
    assert by_road.metres.tolist() == pytest.approx(od.cost[np.argsort(od.destination)].tolist())  # the network stream's numbers
    within = travel_costs(types.SimpleNamespace(network=network), origin, destination, 1800.0)
    assert within.destination.tolist() == [1]  # 2 km by road is beyond 1.8 km, though the straight line is 1.41 km
    fallback = travel_costs(types.SimpleNamespace(network=None), origin, destination, 1800.0)
    assert fallback.is_fallback and fallback.circuity == ga_settings.FALLBACK_CIRCUITY and "fallback" in fallback.describe()
    assert sorted(fallback.destination.tolist()) == [0, 1]  # 1,414 m × 1.27 = 1,796 m
    assert fallback.metres[fallback.destination == 0][0] == pytest.approx(math.hypot(1000, 1000) * ga_settings.FALLBACK_CIRCUITY)


# --- parameters and profiles -----------------------------------------------------------------------

def test_parameters_are_sourced_and_derived_ones_are_computed_from_rows():
    flows = load_flows()
    params = load_parameters(flows)
    assert all(p.source and p.year for p in params.values())
    per_capita = params["bulky_waste_uk"].value * params["reusable_share_of_bulky_waste"].value / params["uk_population_2011"].value
    assert params["reusable_goods_per_capita"].value == pytest.approx(per_capita)
    household = flow_value(flows, "waste_msw_removed") - flow_value(flows, "waste_msw_industrial")
    share = per_capita * flow_value(flows, "pop_almaty") / household
    assert params["reusable_share_of_household_waste"].value == pytest.approx(share)
    assert 0.005 < share < 0.05  # a small part of the household stream, not all of it
    assert params["household_organic_capture_share"].status == "assumption"


def test_a_parameter_cycle_is_one_line_error(tmp_path):
    path = tmp_path / "parameters.yaml"
    spec = {"description": "d", "unit": "fraction", "year": 2020, "status": "derived", "source": "s"}
    path.write_text(yaml.safe_dump({"parameters": {"a": {**spec, "value": {"param": "b"}}, "b": {**spec, "value": {"param": "a"}}}}),
                    encoding="utf-8")
    with pytest.raises(FlowDataError, match="depends on itself"):
        load_parameters(load_flows(), path)


@pytest.mark.parametrize("facility", ["composting_hub", "material_bank", "reuse_warehouse"])
def test_shipped_profiles_have_a_valid_locate_section(facility):
    flows = load_flows()
    spec = locate_spec(load_profile(facility), flows)
    assert spec.band in [b.id for b in spec.bands] and all(b.capacity > 0 and b.source for b in spec.bands)
    assert spec.max_haul_m > 0 and spec.max_haul_source


def test_composting_pilot_band_comes_from_the_report_row():
    spec = locate_spec(load_profile("composting_hub"), load_flows())
    pilot = spec.bands[[b.id for b in spec.bands].index("pilot")]
    assert pilot.capacity == flow_value(load_flows(), "agri_composting_capacity_kazecofood") == 500


def test_locate_overrides_are_checked():
    profile, flows = load_profile("material_bank"), load_flows()
    with pytest.raises(ProfileError, match="unknown size band 'huge'"):
        locate_spec(profile, flows, band="huge")
    with pytest.raises(ProfileError, match="needs k"):
        locate_spec(profile, flows, model="pmedian", k=0)
    assert locate_spec(profile, flows, model="pmedian", k=2).k == 2


# --- the tiny world: a whole location-allocation run ------------------------------------------------

def locate_profile(folder, **locate):
    section = {
        "model": "pmedian", "k": 1, "band": "big",
        "size_bands": [{"id": "big", "label": TEXT, "capacity_t_yr": 1_000_000, "source": "test"},
                       {"id": "small", "label": TEXT, "capacity_t_yr": 1_000, "source": "test"}],
        "max_haul_m": 10_000, "max_haul_source": "test", "min_score": 0.0, "candidate_spacing_m": 500, "demand_block_m": 1000,
        "supply": [{"allocation": "food_industry_organic", "impact": "landfill_methane", "why": "test"},
                   {"allocation": "household_organic", "share": "household_organic_capture_share", "impact": "landfill_methane", "why": "t"}],
    }
    section.update(locate)
    path = write_profile(folder, "tiny_hub", [{"id": "road", "type": "distance", "layer": "roads",
                                                "value": {"function": "linear", "low": 3000, "high": 0}, "weight": 1}])
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["locate"] = section
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_locate")
    return folder, load_inputs(tiny_world(folder))


def test_tiny_world_location_adds_up(tiny):
    folder, inputs = tiny
    outcome = locate_facility(inputs, str(locate_profile(folder)), gap=1e-6, time_limit=30)
    flows = flow_table(outcome, "en")
    for row in flows.itertuples():
        assert row.served_t_yr + row.unserved_t_yr == pytest.approx(row.eligible_t_yr, abs=1e-9)
        assert row.eligible_t_yr + row.not_eligible_t_yr == pytest.approx(row.total_t_yr, abs=1e-9)
    assert flows.set_index("flow").loc["household_organic", "share_status"] == "assumption"
    sites = site_table(outcome, "en")
    assert len(sites) == 1 and sites.assigned_t_yr.sum() == pytest.approx(flows.served_t_yr.sum())
    districts = district_site_table(outcome, "en")
    assert districts.t_yr.sum() == pytest.approx(flows.eligible_t_yr.sum())
    layers = locate_layers(outcome, "en")
    assert {k: v.crs.to_epsg() for k, v in layers.items()} == {"sites": 32643, "catchments": 32643, "links": 32643}
    assert layers["links"].t_yr.sum() == pytest.approx(flows.served_t_yr.sum())
    assert outcome.impact.ch4_avoided_t == pytest.approx(outcome.impact.served_t * 35_000 / 600_000)
    assert outcome.impact.transport_co2e_t == pytest.approx(outcome.impact.tkm * 0.2332 / 1000)


def test_candidate_cells_finer_than_the_supply_grid_keep_the_demand_where_the_flows_are(tiny):
    """Below settings.SUPPLY_CELL_SIZE_M the flows stay on the 250 m supply grid: demand points are its cells, not the fine grid's."""
    folder, coarse = tiny
    profile = str(locate_profile(folder))
    fine = load_inputs(folder / "catalog.yaml", 125)
    assert fine.study.grid.cell_size == 125 and fine.study.supply_study.grid.cell_size == 250
    at_250, at_125 = (locate_facility(i, profile, gap=1e-3, time_limit=10) for i in (coarse, fine))
    assert at_125.cell_size_m == 250
    for name in ("cell", "x", "y", "kg"):
        np.testing.assert_array_equal(getattr(at_125.points, name), getattr(at_250.points, name), err_msg=name)
    assert list(at_125.cell_district) == list(at_250.cell_district)


def test_tiny_world_uses_its_roads_and_flags_the_straight_line_fallback_without_them(tiny, tmp_path):
    folder, inputs = tiny
    profile = str(locate_profile(folder))
    by_road = locate_facility(inputs, profile, gap=1e-3, time_limit=10)
    assert by_road.costs.method == "road" and "road network" in summary_lines(by_road, "en")["distances"]
    no_roads = dataclasses.replace(inputs, study=dataclasses.replace(inputs.study, _network=None, _network_built=True))
    straight = locate_facility(no_roads, profile, gap=1e-3, time_limit=10)
    assert straight.costs.is_fallback and straight.costs.circuity == ga_settings.FALLBACK_CIRCUITY
    paths = write_locate_outputs(straight, tmp_path, "en")
    sites = read_csv(next(p for p in paths if p.suffix == ".csv"))
    assert sites.distances.str.contains("fallback").all()
    impact = pyogrio.read_dataframe(next(p for p in paths if p.suffix == ".gpkg"), layer="impact")
    assert "fallback" in impact.set_index("figure").loc["distances", "detail"]
    for lang, word in (("en", "fallback"), ("ru", "запасной"), ("kk", "қосалқы")):
        assert word in locate_markdown({"tiny_hub": straight}, lang)
    assert "fallback" not in locate_markdown({"tiny_hub": by_road}, "en")


def test_tiny_world_supply_out_of_reach_is_left_unserved_and_said(tiny):
    folder, inputs = tiny
    outcome = locate_facility(inputs, str(locate_profile(folder, max_haul_m=1500)), model="set_cover", gap=1e-3, time_limit=10)
    lost = outcome.out_of_reach_kg()
    assert lost["household_organic"] > 0 and len(outcome.out_of_reach)
    flows = flow_table(outcome, "en").set_index("flow")
    for flow, row in flows.iterrows():
        assert row.served_t_yr + row.unserved_t_yr == pytest.approx(row.eligible_t_yr, abs=1e-9)
        assert row.out_of_reach_t_yr == pytest.approx(lost[flow] / 1000) and row.unserved_t_yr >= row.out_of_reach_t_yr
    unserved = outcome.allocation[outcome.allocation.location == UNSERVED]
    point = outcome.points.cell_point[np.searchsorted(outcome.points.cell, unserved.cell.to_numpy())]
    assert set(outcome.out_of_reach) <= set(point)  # every out-of-reach point is unserved, whole
    assert "Out of reach" in locate_markdown({"tiny_hub": outcome}, "en")
    with pytest.raises(LocateError, match=r"none of the .* t/yr of supply has a candidate within 0.01 km"):
        locate_facility(inputs, str(locate_profile(folder, max_haul_m=10)), model="set_cover", gap=1e-3, time_limit=10)


def _composting_profile(folder, planned_t_yr: float = 1000.0):
    """The tiny hub with the composting siting rules planned at ``planned_t_yr`` (1 kt/yr: class II, 500 m)."""
    path = locate_profile(folder)
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["id"] = f"tiny_legal_hub_{planned_t_yr:.0f}"
    document["siting"] = {"facility_type": "composting", "planned_capacity_t_yr": planned_t_yr, "capacity_rationale": "test"}
    path = folder / f"{document['id']}.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def test_tiny_world_a_site_opens_only_at_a_size_band_its_sanitary_zone_allows(tmp_path):
    x0, y0 = CX - HALF, CY - HALF
    src = {"source": "synthetic test fixture", "accuracy_m": 1.0}
    housing = [({"zone_id": "res", "class": "residential", **src}, box(x0, y0, x0 + 500, y0 + 2 * HALF)),  # a strip on the west edge
               ({"zone_id": "ara", "class": "arable", **src}, box(x0 + 500, y0, x0 + 2 * HALF, y0 + 2 * HALF))]
    inputs = load_inputs(tiny_world(tmp_path, extra={"land_use": housing}))
    profile = str(_composting_profile(tmp_path))
    small = locate_facility(inputs, profile, band="small", model="mclp", k=1, gap=1e-3, time_limit=10)  # 1 kt/yr: class II, 500 m
    big = locate_facility(inputs, profile, band="big", gap=1e-3, time_limit=10)  # 1,000 kt/yr: class I, 1000 m from housing
    frame = small.locations.frame
    geometries = shapely.buffer(shapely.points(frame.x, frame.y), 125.0, cap_style="square")  # the 250 m candidate cells
    at_big = check_sites(inputs.study, geometries, "composting", 1_000_000.0)
    illegal_big = set(at_big.loc[at_big.effect == "exclude", "site"])
    assert illegal_big  # the small band's pool holds candidates 500-1000 m from housing ...
    assert not check_sites(inputs.study, geometries, "composting", 1000.0).effect.eq("exclude").any()  # ... legal at 1 kt/yr
    for outcome in (small, big):
        opened = outcome.locations.frame.iloc[outcome.site_location]
        capacity = [outcome.spec.bands[b].capacity for b in outcome.site_band]
        cells = shapely.buffer(shapely.points(opened.x, opened.y), 125.0, cap_style="square")
        assert not check_sites(inputs.study, cells, "composting", capacity).effect.eq("exclude").any()
    assert set(big.locations.frame.site_id) >= set(frame.site_id)  # same pool ...
    big_ids = set(big.locations.frame.site_id.iloc[big.site_location])
    assert not big_ids & set(frame.site_id.iloc[sorted(illegal_big)])  # ... but never opened at the big band where it is illegal
    sites = site_table(big, "en")
    assert (sites.sanitary_zone_m == 1000).all() and sites.sanitary_zone.str.contains("class I,").all()
    # Planned at 1,000 kt/yr, the scores exclude the 500-1000 m ring; the small band is rescored so its pool keeps it.
    rescored = locate_facility(inputs, str(_composting_profile(tmp_path, 1_000_000.0)), band="small", model="mclp", k=1, gap=1e-3,
                               time_limit=10)
    assert set(rescored.locations.frame.site_id) & set(frame.site_id.iloc[sorted(illegal_big)])


def test_tiny_world_capacity_below_supply_is_refused_with_the_shortfall(tiny):
    folder, inputs = tiny
    with pytest.raises(LocateError, match=r"below the supply of"):
        locate_facility(inputs, str(locate_profile(folder)), band="small", gap=1e-3, time_limit=10)


def test_tiny_world_maximal_coverage_leaves_the_rest_unserved(tiny):
    folder, inputs = tiny
    outcome = locate_facility(inputs, str(locate_profile(folder)), model="mclp", k=1, band="small", gap=1e-3, time_limit=10)
    flows = flow_table(outcome, "en")
    assert flows.served_t_yr.sum() == pytest.approx(1_000, abs=1e-6)  # one small site, full
    assert flows.unserved_t_yr.sum() == pytest.approx(flows.eligible_t_yr.sum() - 1_000, abs=1e-6)
    text = locate_markdown({"tiny_hub": outcome}, "ru")
    assert "Не обслужено" in text and "|" in text
    page = locate_html({"tiny_hub": outcome})
    assert 'class="t t-kk"' in page and "<script" not in page


# --- the embedded data and the CLI -------------------------------------------------------------------

def test_cli_locate_writes_layers_csv_and_summary(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["locate", "--facility", "material_bank", "--time-limit", "20", "--gap", "0.02", "--lang", "en", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    gpkg = out / "material_bank_locate.gpkg"
    assert sorted(name for name, _ in pyogrio.list_layers(gpkg)) == ["catchments", "district_site", "flows", "impact", "links", "sites"]
    sites = pyogrio.read_dataframe(gpkg, layer="sites")
    flows = pyogrio.read_dataframe(gpkg, layer="flows")
    assert sites.assigned_t_yr.sum() == pytest.approx(flows.served_t_yr.sum())
    assert flows.served_t_yr.sum() + flows.unserved_t_yr.sum() == pytest.approx(79_000)  # the report's C&D tonnage, L2701
    assert {"size_band", "capacity_t_yr", "utilisation", "district", "inside_city"} <= set(sites.columns)
    assert len(sites) >= 4  # 79 kt in yards of 20 kt; more where the haul radius keeps supply apart
    assert f"New sites: {len(sites)}" in printed and "tonne_km" in printed and "Distances: road network" in printed
    rows = read_csv(out / "material_bank_locate_sites.csv")  # the spreadsheet CSV convention (BOM, ';', decimal comma)
    assert len(rows) == len(sites) and (rows["distances"] == "road network (shortest path length)").all()
    assert "79" in (out / "material_bank_locate.md").read_text(encoding="utf-8")


def test_cli_locate_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["locate", "--facility", "material_bank", "--band", "huge", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown size band 'huge'" in err
    assert not out.exists()
