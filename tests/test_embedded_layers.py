"""The embedded Almaty dataset: complete, valid, traceable, licensed and consistent with the report."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely

from geo_almaty.catalog import catalog_attributions, load_catalog
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
    vector = [s.name for s in catalog.layers.values() if s.kind == "vector" and not s.optional]
    assert all(catalog.has_data(name) for name in vector), "every vector layer has embedded data"
    # optional layers without data (dachas) are reported as missing receptors by the siting rules (tests/test_siting.py)
    assert [s.name for s in catalog.layers.values() if s.kind == "vector" and not catalog.has_data(s.name)] == ["garden_plots"]


def test_cli_validate_passes_on_embedded_data(capsys):
    assert main(["layers", "validate"]) == 0
    assert f"all {len(load_catalog().layers)} layers usable" in capsys.readouterr().out


def test_every_feature_carries_source_and_accuracy(layers):
    for name, frame in layers.items():
        assert frame["source"].notna().all() and (frame["source"].str.len() > 5).all(), name
        assert frame["accuracy_m"].notna().all() and (frame["accuracy_m"] > 0).all(), name


def test_districts_are_complete_and_tile_the_city(layers):
    districts, city = layers["districts"], layers["city_boundary"]
    assert len(districts) == 8
    for column in ("name_ru", "name_kk", "name_en", "population", "population_year", "population_precision", "population_source"):
        assert districts[column].notna().all(), column
    assert 1.9e6 < districts.population.sum() < 2.5e6
    # Auezov and Turksib: the official pages say "more than" (messer490 reference table).
    assert set(districts.loc[districts.population_precision == "lower_bound", "district_id"]) == {"auezov", "turksib"}
    assert set(districts.population_precision) == {"exact", "lower_bound"}
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


def test_embedded_files_are_compact_geojson_in_wgs84_and_one_geotiff(catalog):
    total = 0
    for spec in catalog.with_sources():
        total += spec.source.path.stat().st_size
        if spec.kind != "vector":
            continue
        raw = gpd.read_file(spec.source.path)
        assert raw.crs.to_epsg() == 4326
        bounds = raw.total_bounds
        assert np.isfinite(bounds).all()
        assert 75.5 < bounds[0] and bounds[2] < 78.5 and 42.8 < bounds[1] and bounds[3] < 44.2
        # The population grid (3 392 hexagons) and the OSM roads are the largest files.
        assert spec.source.path.stat().st_size < 1_500_000, spec.name
    dem = catalog.layer("dem").source.path
    with rasterio.open(dem) as src:
        assert src.crs.to_epsg() == 32643 and src.dtypes[0] == "int16" and src.compression.value == "DEFLATE"
    assert dem.stat().st_size < 3_000_000
    assert total < 6_000_000  # everything a user clones under layers/


def test_every_third_party_source_names_its_licence_and_attribution(catalog):
    """Open-data layers carry licence and attribution keys; hand-drawn-only layers need none."""
    open_data = {"city_boundary", "study_area", "districts", "land_use", "roads", "population", "settlements",
                 "oblast_districts", "airports", "rivers", "dem"}
    for name in open_data:
        source = catalog.layer(name).source
        assert source.licence and set(source.attribution) == {"ru", "kk", "en"}, name
    credits = catalog_attributions(catalog, sorted(open_data))
    texts = " ".join(c["en"] for c in credits)
    for needed in ("OpenStreetMap contributors (ODbL 1.0)", "Kontur", "SRTM", "CC BY-SA 2.0", "geoBoundaries"):
        assert needed in texts
    assert len({c["en"] for c in credits}) == len(credits), "credits are listed once"
