"""The embedded Almaty starter dataset: complete, valid, traceable and consistent with the report."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo_almaty.catalog import load_catalog
from geo_almaty.cli import main
from geo_almaty.flows import flow_value, load_flows
from geo_almaty.layers import load_layers, validate_catalog


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture(scope="module")
def layers(catalog):
    return load_layers(catalog)


def test_every_catalog_layer_validates(catalog):
    reports = validate_catalog(catalog)
    assert all(r.usable for r in reports), [(r.name, r.problems) for r in reports if not r.usable]
    vector = [s.name for s in catalog.layers.values() if s.kind == "vector"]
    assert all(catalog.has_data(name) for name in vector), "every vector layer has embedded data"


def test_cli_validate_passes_on_embedded_data(capsys):
    assert main(["layers", "validate"]) == 0
    assert "all 19 layers usable" in capsys.readouterr().out


def test_every_feature_carries_source_and_accuracy(layers):
    for name, frame in layers.items():
        assert frame["source"].notna().all() and (frame["source"].str.len() > 5).all(), name
        assert frame["accuracy_m"].notna().all() and (frame["accuracy_m"] > 0).all(), name


def test_districts_are_complete_and_tile_the_city(layers):
    districts, city = layers["districts"], layers["city_boundary"]
    assert len(districts) == 8
    for column in ("name_ru", "name_kk", "name_en", "population", "population_year"):
        assert districts[column].notna().all(), column
    assert 1.9e6 < districts.population.sum() < 2.5e6
    union = shapely.union_all(districts.geometry.values)
    city_geom = shapely.union_all(city.geometry.values)
    iou = shapely.area(shapely.intersection(union, city_geom)) / shapely.area(shapely.union(union, city_geom))
    assert iou > 0.98
    assert 600 < city_geom.area / 1e6 < 800  # km²


def test_study_area_reaches_the_agglomeration(layers):
    area = shapely.union_all(layers["study_area"].geometry.values)
    city = shapely.union_all(layers["city_boundary"].geometry.values)
    assert area.contains(city.buffer(-100))
    planned = layers["industrial_zones"].query("`class` == 'planned'")
    assert len(planned) == 4  # Alatau, Kaskelen, Talgar, Kapshagay (L4318-4330)
    assert area.intersects(shapely.union_all(planned.geometry.values))


def test_land_use_has_every_class_of_the_report_legends(layers, catalog):
    assert set(layers["land_use"]["class"]) == set(catalog.layer("land_use").classes)


def test_collection_point_count_matches_the_report(layers):
    flows = load_flows()
    kwr = layers["recycling_points"].query("operator == 'Kazakhstan Waste Recycling' and `class` == 'collection_point'")
    expected = flow_value(flows, "waste_kwr_points_city") + flow_value(flows, "waste_kwr_points_oblast")
    assert len(kwr) == expected


def test_heritage_areas_are_the_reports_six(layers):
    assert set(layers["heritage_areas"]["class"]) == {"golden_square", "historic", "kolkhoz", "soviet_microdistrict", "soviet_workers", "high_rise"}


def test_embedded_files_are_small_geojson_in_wgs84(catalog):
    for spec in catalog.with_sources():
        if spec.kind != "vector":
            continue
        raw = gpd.read_file(spec.source.path)
        assert raw.crs.to_epsg() == 4326
        bounds = raw.total_bounds
        assert 75.5 < bounds[0] and bounds[2] < 78.5 and 42.8 < bounds[1] and bounds[3] < 44.2
        assert spec.source.path.stat().st_size < 500_000
    assert np.isfinite(bounds).all()
