"""Criteria by road: road_km / road_min metrics, the straight-line fallback, explanations, profiles and catalogs."""
from __future__ import annotations


import numpy as np
import pytest
import yaml

from geo_almaty import settings
from geo_almaty.allocate import allocate_flows, load_allocation_specs
from geo_almaty.candidates import square_candidates
from geo_almaty.catalog import load_catalog
from geo_almaty.errors import ProfileError
from geo_almaty.explain import describe_raw
from geo_almaty.export import criteria_table, read_csv, top_sites_frame, write_csv
from geo_almaty.flows import load_flows
from geo_almaty.layers import read_layer, validate_catalog
from geo_almaty.network import connect_points, load_network, network_from_lines
from geo_almaty.prepare import prepare_study
from geo_almaty.profiles import load_profile
from geo_almaty.score import score_candidates
from geo_almaty.select import select_sites

from .synthetic import CX, CY, tiny_world, write_profile

FARM = (CX + 1375, CY - 1375)  # the tiny world's poultry farm; its only road runs east-west at y = CY + 125


def prepared(catalog_path):
    study = prepare_study(load_catalog(catalog_path), 250)
    allocations = allocate_flows(load_allocation_specs(), load_flows(), study.layers, study.grid, study.residential_share())
    return study, allocations


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("road_world")
    return folder, *prepared(tiny_world(folder))


@pytest.fixture(scope="module")
def roadless(tmp_path_factory):
    """The tiny world without its road: road criteria fall back to the straight line."""
    folder = tmp_path_factory.mktemp("roadless_world")
    path = tiny_world(folder)
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["layers"]["roads"].pop("source")
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return folder, *prepared(path)


ROAD_CRITERIA = [
    {"id": "farm_road", "type": "distance", "metric": "road_km", "layer": "organic_producers", "classes": ["poultry_farm"],
     "value": {"function": "linear", "low": 10, "high": 0}, "weight": 1},
    {"id": "farm_straight", "type": "distance", "layer": "organic_producers", "classes": ["poultry_farm"],
     "value": {"function": "linear", "low": 10000, "high": 0}, "weight": 1},
    {"id": "farm_minutes", "type": "distance", "metric": "road_min", "direction": "from_site", "layer": "organic_producers",
     "classes": ["poultry_farm"], "value": {"function": "linear", "low": 30, "high": 0}, "weight": 1},
    {"id": "farm_near", "type": "colocation", "metric": "road_km", "layer": "organic_producers", "classes": ["poultry_farm"],
     "within_m": 3500, "weight": 1},
    {"id": "food_road", "type": "reachable", "metric": "road_km", "allocation": "food_industry_organic", "radius_m": 3000,
     "value": {"function": "linear", "low": 0, "high": "p95"}, "weight": 1},
    {"id": "food_all", "type": "reachable", "metric": "road_min", "allocation": "food_industry_organic", "radius_min": 600,
     "value": {"function": "linear", "low": 0, "high": "p95"}, "weight": 1},
]


def scored(world, criteria=ROAD_CRITERIA):
    folder, study, allocations = world
    profile = load_profile(write_profile(folder, "roads", criteria), study.catalog, set(allocations))
    candidates = square_candidates(study)
    return score_candidates(profile, study, candidates, allocations), candidates


def cell_at(candidates, x: float, y: float) -> int:
    return int(np.flatnonzero(np.isclose(candidates.x, x) & np.isclose(candidates.y, y))[0])


def test_the_network_is_built_only_when_a_criterion_needs_it(tmp_path):
    study = prepare_study(load_catalog(tiny_world(tmp_path)), 250)
    assert study._network_built is False
    network = study.network
    assert study._network_built and network.n_links == 1 and study.network is network


def test_road_distance_by_hand(world):
    result, candidates = scored(world)
    road, straight = result.criterion_index("farm_road"), result.criterion_index("farm_straight")
    # Farm and cell both 1,500 m from the road at the same point: 1.5 km in, 1.5 km out.
    at_farm = cell_at(candidates, *FARM)
    assert result.raw[at_farm, road] == pytest.approx(3.0)
    # A cell 250 m from the road, 2,500 m along it from the farm's connector.
    west = cell_at(candidates, CX - 1125, CY + 375)
    assert result.raw[west, road] == pytest.approx((1500 + 2500 + 250) / 1000)
    # Never shorter than the straight line; minutes are the same path at the speeds of the table.
    assert (result.raw[:, road] * 1000 >= result.raw[:, straight] - 1e-6).all()
    minutes = result.raw[:, result.criterion_index("farm_minutes")]
    speed = load_speeds_primary()
    assert minutes[west] == pytest.approx((1500 + 250) / (15 / 3.6) / 60 + 2500 / (speed / 3.6) / 60)
    # Colocation: within 3.5 km by road.
    near = result.values[:, result.criterion_index("farm_near")]
    assert near[at_farm] == 1.0 and near[west] == 0.0


def load_speeds_primary() -> float:
    from geo_almaty.network import load_speeds

    return load_speeds().kmh["primary"]


def test_reachable_by_road_counts_what_the_road_reaches(world):
    result, candidates = scored(world)
    _, study, allocations = world
    total = allocations["food_industry_organic"].total
    everything = result.raw[:, result.criterion_index("food_all")]
    assert np.allclose(everything, total)  # 600 minutes reach every supply node from every cell
    within = result.raw[:, result.criterion_index("food_road")]
    assert (within <= total + 1e-9).all() and (within < total).any() and (within > 0).any()


def test_explanations_give_road_and_straight_line_side_by_side(world):
    result, candidates = scored(world)
    _, study, allocations = world
    west = cell_at(candidates, CX - 1125, CY + 375)
    text = describe_raw(result, west, result.criterion_index("farm_road"), "en", allocations)
    assert text.startswith("4.2 km by road · ") and "straight line" in text and "(nearest: Птицефабрика «Тест»)" in text
    text = describe_raw(result, west, result.criterion_index("food_road"), "ru", allocations)
    assert "в радиусе 3 км по дорогам" in text and "в радиусе 3 км по прямой" in text
    assert "мин по дорогам" in describe_raw(result, west, result.criterion_index("farm_minutes"), "ru", allocations)
    table = criteria_table(result).set_index("criterion")
    assert table.loc["farm_road", "raw_unit"] == "km" and table.loc["farm_minutes", "raw_unit"] == "min"
    assert table.loc["farm_straight", "metric"] == "straight" and "joined to the road network" in table.loc["farm_road", "road_note"]
    assert result.notes[0].startswith("256 candidates joined to the road network")


def test_top_site_csv_has_road_and_straight_columns(world, tmp_path):
    result, candidates = scored(world)
    _, study, allocations = world
    selection = select_sites(result, study, top_n=3)
    frame = top_sites_frame(result, study, selection, allocations, "en")
    rows = selection["candidate"].to_numpy()
    columns = list(frame.columns)
    assert columns.index("farm_road_straight_m") == columns.index("farm_road_raw") + 1
    expected = np.hypot(candidates.x[rows] - FARM[0], candidates.y[rows] - FARM[1])
    assert np.allclose(frame["farm_road_straight_m"], expected)
    assert "food_road_straight_amount" in columns and "food_all_straight_amount" not in columns  # minutes have no crow-flies twin
    path = write_csv(tmp_path / "top.csv", frame)
    first = read_csv(path).iloc[0]
    assert "by road" in first["reasons"] and "straight line" in first["reasons"]


def test_without_roads_the_fallback_is_straight_line_times_circuity(roadless):
    _, study, allocations = roadless
    assert study.network is None
    result, candidates = scored(roadless)
    road, straight = result.criterion_index("farm_road"), result.criterion_index("farm_straight")
    assert np.allclose(result.raw[:, road], result.raw[:, straight] * settings.FALLBACK_CIRCUITY / 1000)
    assert result.road["farm_road"].fallback and any("no road network" in note for note in result.notes)
    at_farm = cell_at(candidates, *FARM)
    text = describe_raw(result, at_farm + 3, road, "en", allocations)
    assert f"straight line × {settings.FALLBACK_CIRCUITY:.2f}, no road network" in text
    assert np.isfinite(result.raw[:, result.criterion_index("food_road")]).all()


@pytest.mark.parametrize("criterion, fragment", [
    ({"type": "share", "classes": ["arable"], "metric": "road_km", "value": {"function": "linear", "low": 0, "high": 1}}, "'metric' on a share"),
    ({"type": "distance", "layer": "roads", "direction": "from_site", "value": {"function": "linear", "low": 0, "high": 1}}, "straight-line"),
    ({"type": "reachable", "metric": "road_min", "allocation": "food_industry_organic", "radius_m": 3000,
      "value": {"function": "linear", "low": 0, "high": 1}}, "needs 'radius_min'"),
    ({"type": "colocation", "metric": "road_min", "layer": "roads", "within_m": 300}, "needs 'within_min'"),
    ({"type": "distance", "layer": "roads", "metric": "road_miles", "value": {"function": "linear", "low": 0, "high": 1}}, "road_km"),
])
def test_bad_road_criteria_are_one_line_errors(world, criterion, fragment):
    folder, study, allocations = world
    path = write_profile(folder, "bad_road", [{"id": "c", "weight": 1, **criterion}])
    with pytest.raises(ProfileError, match=fragment) as info:
        load_profile(path, study.catalog, set(allocations))
    assert "\n" not in str(info.value)


def test_embedded_profiles_measure_truck_hauls_by_road_and_zones_in_a_straight_line():
    catalog = load_catalog()
    metrics = {}
    for name in ("composting_hub", "material_bank", "reuse_warehouse"):
        for c in load_profile(name, catalog).criteria:
            metrics[(name, c["id"])] = c.get("metric", "straight")
    road = {("composting_hub", "food_industry_supply"), ("composting_hub", "farmland_distance"), ("composting_hub", "landfill_colocation"),
            ("material_bank", "demolition_supply"), ("material_bank", "processing_plants"), ("reuse_warehouse", "waste_plant")}
    straight = {("composting_hub", "peri_urban"), ("composting_hub", "road_access"), ("material_bank", "inside_city")}
    assert all(metrics[k] == "road_km" for k in road) and all(metrics[k] == "straight" for k in straight)
    for name in ("composting_hub", "material_bank", "reuse_warehouse"):  # exclusions (zones, odour) stay straight buffers
        assert all("metric" not in rule for rule in load_profile(name, catalog).exclusions)


def test_a_graphml_network_layer_in_a_catalog(tmp_path):
    import osmnx as ox

    from .test_network import graphml_graph

    ox.save_graphml(graphml_graph(), tmp_path / "drive.graphml")
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "extends": "embedded", "layers": {"network": {"source": {"path": "drive.graphml"}}}}),
                    encoding="utf-8")
    catalog = load_catalog(path)
    network = load_network(catalog)
    assert network.n_nodes == 3 and network.report.source == "drive.graphml"
    report = {r.name: r for r in validate_catalog(catalog)}["network"]
    assert report.usable and report.features == 3


def test_embedded_catalog_builds_its_network_from_the_roads_layer():
    """The embedded roads are one network over the study area: the city's OSM roads, the 2012 OSM regional roads
    and the hand-drawn roads beyond them are joined by the layer build, not by snapping at network-build time.

    Measured on the embedded layers: 97.9 % of the drivable length (1,568 km) in the kept strongly connected
    component of 20; 31.1 % of the study area's 250 m cells, 66.7 % of its settlements and 93.0 % of its people
    within 2 km of a kept road (before the regional roads: 70 %, 6.4 %, 10.5 % and 68.4 %). What stays far lies
    beyond the 2012 extract, which covers only 37 % of the study area (see layers/SOURCES.md).
    """
    catalog = load_catalog()
    network = load_network(catalog)
    report = network.report
    assert set(network.link_class) <= {"motorway", "trunk", "primary", "secondary", "tertiary", "unclassified"}  # no rail, no planned road
    assert report.length_km > 1_400
    assert report.length_km / (report.length_km + report.dropped_km) >= 0.95, report.summary()
    again = network_from_lines(read_layer(catalog.layer("roads")).frame)  # the default 1 m tolerance: no snapping needed
    assert again.n_links == network.n_links
    study = prepare_study(catalog, 250)
    cells = square_candidates(study)
    near = ~connect_points(network, cells.x, cells.y).far  # within settings.MAX_CONNECTOR_M = 2 km of a kept road
    assert near.mean() >= 0.30
    places = study.layer("settlements").geometry
    assert (~connect_points(network, places.x.to_numpy(), places.y.to_numpy()).far).mean() >= 0.6
    population = study.layer("population")
    centres = population.geometry.centroid
    people = population["population"].to_numpy(float)
    reached = ~connect_points(network, centres.x.to_numpy(), centres.y.to_numpy()).far
    assert people[reached].sum() / people.sum() >= 0.9


def test_cli_refuses_disjoint_roads_in_one_line_and_writes_nothing(tmp_path, capsys):
    from geo_almaty.cli import main

    from .synthetic import _write

    path = tiny_world(tmp_path)
    _write(tmp_path / "roads.geojson", [
        ({"road_id": f"r{i}", "class": "primary", "source": "test", "accuracy_m": 1.0},
         {"type": "LineString", "coordinates": [[CX - 1900 + 800 * i, CY], [CX - 1600 + 800 * i, CY]]}) for i in range(4)])
    out = tmp_path / "out"
    assert main(["score", "--facility", "composting_hub", "--catalog", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    message = [line for line in err.replace("\r", "\n").splitlines() if line.startswith("geo-almaty: error:")]
    assert len(message) == 1 and "no connected road network" in message[0] and "layer 'roads'" in message[0]
    assert not out.exists()


def test_the_sketch_topology_belongs_to_its_roads_file_only(tmp_path):
    sketch = tmp_path / "sketch.yaml"
    sketch.write_text(yaml.safe_dump({"version": 1, "extends": "embedded", "layers": {"roads": {"source": {
        "path": "sketch_roads.geojson", "topology": {"snap_tolerance_m": 25, "split_crossings": True}}}}}), encoding="utf-8")
    assert load_catalog(sketch).layer("roads").source.topology == {"snap_tolerance_m": 25, "split_crossings": True}
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "extends": "sketch.yaml", "layers": {"roads": {"source": {"path": "my_roads.gpkg"}}}}),
                    encoding="utf-8")
    assert load_catalog(path).layer("roads").source.topology == {}  # OSM-like defaults for the user's roads
