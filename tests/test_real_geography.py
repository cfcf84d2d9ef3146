"""The embedded layers follow the real geography: OSM districts, official populations, the population
grid, the DEM, real roads, villages and rivers, and the maps credit the open data they use.

Tests marked with ``geodata_dir`` compare against ``../shared/geodata`` and skip without it.
"""
from __future__ import annotations

import filecmp
import html
import importlib.util
import json
import re
import shutil
import subprocess
import sys

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import yaml

from geo_almaty import settings
from geo_almaty.allocate import allocate_by_population
from geo_almaty.apportion import largest_remainder
from geo_almaty.catalog import catalog_attributions, load_catalog
from geo_almaty.grid import AnalysisGrid
from geo_almaty.layers import load_layers
from geo_almaty.pipeline import load_inputs, run_main_job, score_facility
from geo_almaty.places import named_district
from geo_almaty.prepare import population_surface, prepare_study
from geo_almaty.rasterize import feature_cell_weights

from .conftest import write_catalog
from .synthetic import CX, CY, HALF, _write, box, tiny_world

HAND_DRAWN = ["agri_producers", "building_stock", "construction_sites", "heritage_areas", "industrial_zones", "industry_sites",
              "land_use", "markets", "organic_producers", "parks", "recycling_points", "waste_facilities"]


@pytest.fixture(scope="module")
def layers():
    return load_layers(load_catalog())


@pytest.fixture(scope="module")
def inputs():
    return load_inputs(None, profiles=["composting_hub", "material_bank", "reuse_warehouse"])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """``geo-almaty run`` on the embedded data (≈30 s), in English."""
    return run_main_job(None, tmp_path_factory.mktemp("run"), "en")


def iou(a, b) -> float:
    return shapely.area(shapely.intersection(a, b)) / shapely.area(shapely.union(a, b))


# --- districts and the city ----------------------------------------------------------------------

def test_embedded_districts_match_the_osm_districts(layers, geodata_dir):
    osm = gpd.read_file(geodata_dir / "akilbekov_osm_districts" / "almaty-districts.geo.json").to_crs(settings.ANALYSIS_CRS)
    mine = layers["districts"].set_index("osm_relation")
    assert len(mine) == 8
    for row in osm.itertuples():
        score = iou(mine.geometry[str(getattr(row, "_1"))], row.geometry)
        assert score >= 0.99, (row.name, score)
    city = gpd.read_file(geodata_dir / "akilbekov_osm_districts" / "almaty.geo.json").to_crs(settings.ANALYSIS_CRS).geometry.iloc[0]
    assert iou(shapely.union_all(layers["city_boundary"].geometry.values), city) >= 0.99


def test_district_populations_are_the_official_figures(layers, geodata_dir):
    official = pd.read_csv(geodata_dir / "messer490_district_population" / "almaty_district_population_reference_v2.csv")
    figures = dict(zip(official.district_name.str.replace("Bostandyk", "Bostandyq"), official.official_population))
    precision = dict(zip(official.district_name.str.replace("Bostandyk", "Bostandyq"), official.source_precision))
    for row in layers["districts"].itertuples():
        name = row.name_en.removesuffix(" district")
        assert row.population == figures[name] and row.population_precision == precision[name], name


def test_districts_have_names_in_three_languages(layers):
    districts = layers["districts"]
    assert districts.name_kk.str.endswith("ауданы").all() and districts.name_ru.str.endswith("район").all()
    assert "Бостандық ауданы" in set(districts.name_kk) and "Әуезов ауданы" in set(districts.name_kk)


def test_study_area_holds_the_real_city_with_a_ring(layers):
    area = shapely.union_all(layers["study_area"].geometry.values)
    city = shapely.union_all(layers["city_boundary"].geometry.values)
    assert area.contains(city.buffer(4_000))


# --- population ----------------------------------------------------------------------------------

def test_population_grid_sums_to_each_official_district_population(layers):
    cells, districts = layers["population"], layers["districts"]
    sums = cells.groupby("district_id")["population"].sum()
    assert dict(sums) == dict(zip(districts.district_id, districts.population))
    outside = cells[cells.district_id.isna()]
    assert (outside.population == outside.kontur_population).all(), "cells outside the city keep Kontur's counts"
    assert len(outside) > 1000 and outside.population.sum() > 500_000


def test_household_flows_per_district_follow_the_official_populations(inputs):
    districts = inputs.study.layer("districts")
    population = districts.population.to_numpy(np.float64)
    for flow_id in ("household_organic", "reusable_goods"):
        allocation = inputs.allocations[flow_id]
        total = allocation.total_base
        amounts = allocation.features.set_index("district_id").loc[districts.district_id, "amount_base"].to_numpy()
        assert amounts.sum() == total and int(allocation.surface_base.sum()) == total  # exact, to the kilogram
        assert (amounts == largest_remainder(total, population)).all()
        # Whole kilograms: each share is within 1 kg of the exact population share (< 2e-9 of these totals).
        assert np.abs(amounts / total - population / population.sum()).max() <= 1 / total
        assert 1 / total < 4e-9  # one kilogram of about 317 kt (household organics) or 667 kt


def test_household_flows_within_a_district_follow_the_population_grid(inputs):
    study = inputs.study
    districts = study.layer("districts")
    allocation = inputs.allocations["household_organic"]
    feature, cell, count = feature_cell_weights(districts.geometry.values, study.grid)
    whole = count == count.max()  # cells wholly inside one district
    district_kg = allocation.features.set_index("district_id").loc[districts.district_id, "amount_base"].to_numpy()
    people = study.population.ravel()
    weight = people[cell] * count
    expected = district_kg[feature] * weight / np.bincount(feature, weights=weight)[feature]
    got = allocation.surface_base.ravel()[cell]
    assert np.abs(got[whole] - expected[whole]).max() < 1.0 + 1e-6
    empty = whole & (people[cell] == 0)
    assert empty.any() and (got[empty] == 0).all(), "nobody lives there, so no household waste either"


def test_population_surface_keeps_every_person():
    grid = AnalysisGrid(0.0, 1000.0, 250.0, 4, 4)
    cells = np.array([shapely.box(0, 0, 500, 500), shapely.box(500, 250, 1000, 1000)])
    surface = population_surface(cells, np.array([400.0, 900.0]), grid)
    assert surface.sum() == pytest.approx(1300.0)
    assert surface[3, 0] == pytest.approx(100.0)  # the first square spreads 400 people over its 4 cells
    assert surface[0, 3] == pytest.approx(150.0)  # the second one 900 over 6
    assert surface[0, 0] == 0


def test_population_weights_move_the_flows_inside_a_district(tmp_path):
    """Two districts; the west one's people all live in its northern half, so its flow goes there."""
    catalog_path = tiny_world(tmp_path)
    x0, y0, x1, y1 = CX - HALF, CY - HALF, CX + HALF, CY + HALF
    src = {"source": "synthetic", "accuracy_m": 1.0}
    _write(tmp_path / "population.geojson", [
        ({"cell_id": "n", "population": 90_000, **src}, box(x0, CY, CX, y1)),
        ({"cell_id": "e", "population": 300_000, **src}, box(CX, y0, x1, y1)),
    ])
    document = yaml.safe_load(catalog_path.read_text(encoding="utf-8"))
    document["layers"]["population"]["source"] = {"path": "population.geojson"}
    catalog_path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    study = prepare_study(load_catalog(catalog_path), 250)
    features, surface = allocate_by_population(400_000_000, study.layer("districts"), study.grid, study.population_weights())
    assert dict(zip(features.district_id, features.amount_base)) == {"west": 100_000_000, "east": 300_000_000}
    half = study.grid.height // 2
    west = surface[:, : study.grid.width // 2]
    assert west[:half].sum() == 100_000_000 and west[half:].sum() == 0
    assert surface.sum() == 400_000_000


# --- terrain, roads, settlements, rivers ---------------------------------------------------------

def test_the_dem_is_the_default_and_the_slope_criteria_count(inputs):
    assert inputs.study.slope is not None and np.nanmax(inputs.study.slope) > 20  # the Ile Alatau
    for facility in ("composting_hub", "material_bank"):
        outcome = score_facility(inputs, facility)
        ids = [c["id"] for c in outcome.profile.criteria]
        assert "gentle_slope" in ids and "gentle_slope" not in outcome.result.skipped
        assert outcome.result.weights[ids.index("gentle_slope")] > 0


def test_roads_are_the_osm_network_plus_labelled_hand_drawn_lines(layers):
    roads = layers["roads"]
    osm = roads[roads.road_id.str.startswith("osm_")]
    assert len(osm) > 1500 and set(osm["class"]) <= {"motorway", "trunk", "primary", "secondary"}
    assert osm.source.str.contains("OpenStreetMap").all() and (osm.accuracy_m <= 20).all()
    assert osm.oneway.map(lambda v: isinstance(v, bool)).all()
    assert osm.maxspeed.dropna().between(5, 140).all() and osm.lanes.dropna().between(1, 12).all()
    names = pd.concat([osm.name_kk.dropna(), osm.name_ru.dropna()])
    assert len(names) > 1000 and (names == names.str.strip()).all() and not names.str.lower().eq("nan").any()
    assert (osm.licence == "ODbL 1.0").all()
    hand = roads[~roads.road_id.str.startswith(("osm_", "osm12_", "join_"))]
    assert {"road_planned", "rail", "rail_planned", "light_metro_planned"} <= set(hand["class"])
    assert hand.source.str.contains("hand-drawn").all() and (hand.licence == "geo_almaty sketch (MIT)").all()


def test_regional_roads_are_the_2012_osm_extract_joined_to_the_city_roads(layers):
    """Outside the city roads the 2012 OSM extract (CC BY-SA 2.0) supplies the roads; the two sources do not
    draw the same road twice, and every join the build made is a labelled, short straight piece."""
    roads = layers["roads"]
    city = roads[roads.road_id.str.startswith("osm_")]
    regional = roads[roads.road_id.str.startswith("osm12_")]
    assert len(regional) > 300 and set(regional["class"]) <= {"motorway", "trunk", "primary", "secondary", "tertiary", "unclassified"}
    assert (regional.licence == "CC BY-SA 2.0").all() and regional.source.str.startswith("OpenStreetMap extract of March 2012").all()
    assert regional.oneway.map(lambda v: isinstance(v, bool)).all() and regional.oneway.sum() > 20  # dual carriageways, ramps
    assert regional.maxspeed.dropna().between(5, 140).all()
    joined = regional.source.str.contains("joined to the city roads")
    assert joined.sum() > 50 and (regional.accuracy_m[~joined] == 20).all()
    near_city = shapely.intersection(regional.geometry.values, shapely.union_all(city.geometry.values).buffer(30))
    assert shapely.length(near_city).sum() < 0.02 * regional.length.sum()  # only where a regional road runs into the city
    joins = roads[roads.road_id.str.startswith("join_")]
    assert joins.source.str.startswith("join made by the build").all() and joins.oneway.all() and (joins.length <= 500).all()
    # Hand-drawn roads stay only where neither OSM source has one: BAKAD (opened 2023) stays, the Kuldzha tract
    # (in the 2012 extract) goes; the kept ones end on real-road vertices.
    hand = roads[roads["class"].isin(["motorway", "trunk", "primary", "secondary", "tertiary"]) & (roads.licence == "geo_almaty sketch (MIT)")]
    assert "rd_bakad" in set(hand.road_id) and "rd_kuldzha" not in set(roads.road_id)
    assert hand.source.str.contains("kept only where neither OSM source has a road").all()
    real = shapely.union_all(roads.geometry.values[~roads.road_id.isin(hand.road_id)])
    ends = shapely.get_point(hand.geometry.values, 0)
    assert (shapely.distance(ends, real) < 1).mean() > 0.8


def test_planner_map_draws_the_osm_roads_with_a_tooltip_only(layers):
    """The planner recipe keeps the ~2,400 OSM roads light (``tooltip_only``: a name, no popup); hand-drawn lines
    keep their popups, and a missing integer (lanes) is left out instead of printed as <NA>."""
    from geo_almaty.render.planner import layer_popups

    catalog = load_catalog()
    recipe = yaml.safe_load((settings.project_root() / "maps" / "planner.yaml").read_text(encoding="utf-8"))
    item = next(x for x in recipe["layers"] if x["layer"] == "roads")
    roads = layers["roads"]
    sample = roads[roads.road_id.isin(["osm_00001", "osm12_00001", "rd_bakad"])].reset_index(drop=True)
    props = dict(zip(sample.road_id, layer_popups(sample, catalog.layer("roads"), item)))
    assert "_popup" not in props["osm12_00001"] and props["osm12_00001"]["_tooltip"]
    assert "_popup" not in props["osm_00001"] and props["osm_00001"]["_tooltip"]
    assert "hand-drawn" in props["rd_bakad"]["_popup"]
    assert "&lt;NA&gt;" not in props["rd_bakad"]["_popup"] and "<th>lanes</th>" not in props["rd_bakad"]["_popup"]
    assert "unclassified" in item["classes"]


def test_osm_road_endpoints_are_the_sources(geodata_dir):
    """The network stream builds its graph from the endpoints: they are the source's, rounded to 5 decimals."""
    def ends(path, keep=lambda props: True):
        features = [f for f in json.loads(path.read_text(encoding="utf-8"))["features"] if keep(f["properties"])]
        lines = shapely.set_precision(shapely.from_geojson([json.dumps(f["geometry"]) for f in features]), 1e-5, mode="pointwise")
        return {tuple(round(v, 5) for v in shapely.get_coordinates(g)[i]) for g in lines for i in (0, -1)}

    source = ends(geodata_dir / "kvozianov_almaty_roads" / "almaty_roads.geojson")
    mine = ends(settings.layers_dir() / "roads.geojson", lambda p: p["road_id"].startswith("osm_"))
    assert len(mine) > 1000 and mine == source


def test_settlements_have_names_population_and_an_oblast_district(layers):
    places = layers["settlements"]
    named = places[places.name_ru.notna() | places.name_kk.notna()]
    assert len(places) >= 150 and len(named) >= 0.98 * len(places)  # two OSM villages have no name: still housing
    assert named.name_ru.notna().all() and named.name_kk.notna().all() and named.name_en.notna().all()
    assert places.population.notna().mean() > 0.7 and places.oblast_district.notna().all()
    assert set(places.oblast_district) <= set(layers["oblast_districts"].unit_id)
    tuzdybastau = places[places.name_ru == "Туздыбастау"].iloc[0]
    assert tuzdybastau.oblast_district == "talgar" and tuzdybastau.footprint_radius_m > 500


def test_villages_count_as_housing_for_the_sanitary_zone(inputs):
    result = score_facility(inputs, "composting_hub").result
    (rule,) = [r for r in result.rules.rules if r.id == "sanitary_settlements"]
    assert rule.layer == "settlements" and rule.footprint_m is not None and rule.distance_m == 1000
    places = inputs.study.layer("settlements")
    city = shapely.union_all(inputs.study.layer("city_boundary").geometry.values)
    villages = places[places.place.isin(["village", "town"]) & ~shapely.within(places.geometry.values, city)]
    row, col = inputs.study.grid.index_of(shapely.get_x(villages.geometry.values), shapely.get_y(villages.geometry.values))
    at_village = np.isin(result.candidates.cell, row * inputs.study.grid.width + col)
    column = [r.id for r in result.rules.rules].index("sanitary_settlements")
    assert result.excluded[at_village].all() and result.rules.masks[at_village, column].all(), "a candidate on a village is excluded"


def test_main_rivers_are_named_in_three_languages_and_water_rules_use_them(layers, inputs):
    rivers = layers["rivers"]
    named = rivers[rivers.name_ru.notna()]
    assert {"Большая Алматинка", "Малая Алматинка", "Есентай (Весновка)", "Каскелен", "Талгар"} <= set(named.name_ru)
    assert named.name_kk.notna().all() and named.name_en.notna().all()
    assert set(rivers["class"]) <= {"river", "stream", "canal"} and (rivers.accuracy_m > 0).all()
    for facility in ("composting_hub", "material_bank", "reuse_warehouse"):
        rules = {r.id: r for r in score_facility(inputs, facility).result.rules.rules}
        strip = rules["water_strip_rivers"]
        assert strip.layer == "rivers" and strip.slope_widths[0][1] == 35 and strip.effect == "exclude", facility
        assert rules["water_accuracy_rivers"].effect == "flag", facility  # the 4.7 km lines are flagged, not excluded


# --- hand-drawn layers against the real geography -------------------------------------------------

def test_every_feature_that_names_a_district_lies_in_it(layers):
    real = {("districts", r.district_id): r.geometry for r in layers["districts"].itertuples()}
    real |= {("oblast_districts", r.unit_id): r.geometry for r in layers["oblast_districts"].itertuples()}
    checked, wrong = 0, []
    for name in HAND_DRAWN:
        frame = layers[name]
        for row in frame.itertuples():
            district = named_district(getattr(row, "name_en", None), row.source)
            if district is None:
                continue
            checked += 1
            gap = shapely.distance(shapely.point_on_surface(row.geometry), real[district])
            if gap > row.accuracy_m:
                wrong.append((name, row[1], district[1], round(gap)))
    assert checked > 50
    assert not wrong, wrong


def test_land_use_housing_sits_where_people_live_in_the_real_city(layers):
    land_use, city = layers["land_use"], shapely.union_all(layers["city_boundary"].geometry.values)
    residential = shapely.union_all(land_use[land_use["class"].isin(["residential", "mixed_commercial"])].geometry.values)
    in_city = land_use[land_use.zone_id.str.startswith("lu_res_") & ~land_use.zone_id.isin([f"lu_res_{d}" for d in layers["districts"].district_id])]
    assert shapely.area(shapely.intersection(shapely.union_all(in_city.geometry.values), city.buffer(-2))) == 0, "towns end at the city limit"
    for row in layers["districts"].itertuples():
        zone = land_use[land_use.zone_id == f"lu_res_{row.district_id}"].geometry
        assert len(zone) == 1 and shapely.area(shapely.difference(zone.iloc[0], row.geometry.buffer(1))) < 1e4, row.district_id
    farm = shapely.union_all(land_use[land_use["class"].isin(["arable", "irrigated", "pasture", "hay_meadow", "orchard"])].geometry.values)
    assert shapely.area(shapely.intersection(farm, residential)) < 0.01 * shapely.area(residential)
    dense = layers["population"]
    dense = dense[(dense.district_id.notna()) & (dense.kontur_population / (dense.area / 1e6) >= 2000)]
    covered = shapely.area(shapely.intersection(shapely.union_all(dense.geometry.values),
                                                shapely.union_all(land_use[~land_use["class"].isin(["arable", "irrigated", "pasture", "hay_meadow"])].geometry.values)))
    assert covered > 0.95 * dense.area.sum(), "dense city cells are built-up land use, not farmland or nothing"


def test_tuzdybastau_housing_sits_on_the_real_village(layers):
    zone = layers["land_use"].set_index("zone_id").geometry["lu_res_tuzdybastau"]
    village = layers["settlements"].set_index("name_ru").geometry["Туздыбастау"]
    assert shapely.distance(zone, village) == 0


def test_druzhba_heritage_is_in_the_real_city(layers):
    druzhba = layers["heritage_areas"].set_index("area_id").geometry["ha_03_druzhba"]
    assert shapely.intersects(druzhba, shapely.union_all(layers["city_boundary"].geometry.values))


# --- attribution --------------------------------------------------------------------------------

def test_catalog_attributions_lists_each_credit_once_in_layer_order(tmp_path):
    path = tmp_path / "a.geojson"
    _write(path, [({"zone_id": "z", "class": "water", **{"source": "s", "accuracy_m": 1.0}}, box(CX, CY, CX + 100, CY + 100))])
    osm = {"ru": "© OSM", "kk": "© OSM kk", "en": "© OSM"}
    catalog = load_catalog(write_catalog(tmp_path / "c.yaml", {
        "land_use": {"source": {"path": "a.geojson", "licence": "ODbL 1.0; CC BY 4.0",
                                "attribution": {"ru": "© OSM; © Kontur", "kk": "© OSM kk; © Kontur kk", "en": "© OSM; © Kontur"}}},
        "parks": {"source": {"path": "a.geojson", "licence": "ODbL 1.0", "attribution": osm}},
        "markets": {"source": {"path": "a.geojson"}},
    }))
    credits = catalog_attributions(catalog, ["markets", "parks", "land_use", "no_such_layer"])
    assert credits == [{**osm, "licence": "ODbL 1.0"}, {"ru": "© Kontur", "kk": "© Kontur kk", "en": "© Kontur", "licence": "CC BY 4.0"}]


def test_every_map_carries_the_data_attributions(run):
    """Planner and citizen maps put the credits of OSM, Kontur, SRTM, … in Leaflet's attribution control, in three languages."""
    credits = catalog_attributions(load_catalog(), ["districts", "population", "dem", "roads", "settlements", "airports", "oblast_districts"])
    assert len(credits) == 5
    for page in run.maps:
        text = page.read_text(encoding="utf-8")
        calls = re.findall(r"attributionControl\.addAttribution\((\".*?\")\);", text)
        assert len(calls) == 1, page.name
        shown = json.loads(calls[0])
        for credit in credits:
            for lang in ("ru", "kk", "en"):
                assert f'lang="{lang}">{html.escape(credit[lang])}</span>' in shown, (page.name, credit[lang])
    assert run.maps[1].stat().st_size < 2_000_000


# --- the build is reproducible --------------------------------------------------------------------

@pytest.mark.skipif(not all(importlib.util.find_spec(m) for m in ("pyflwdir", "iuliia")),
                    reason="the build script needs the [build] extra (pyflwdir, iuliia)")
def test_the_layer_build_reproduces_the_committed_files(geodata_dir, tmp_path):
    out = tmp_path / "layers"
    shutil.copytree(settings.layers_dir(), out)
    script = settings.project_root() / "scripts" / "build_embedded_layers.py"
    done = subprocess.run([sys.executable, str(script), "--geodata", str(geodata_dir), "--out", str(out)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "rivers:" in done.stdout and "offset" in done.stdout
    names = sorted(p.name for p in settings.layers_dir().iterdir() if p.suffix in (".geojson", ".tif"))
    match, mismatch, errors = filecmp.cmpfiles(settings.layers_dir(), out, names, shallow=False)
    assert not mismatch and not errors, mismatch + errors
