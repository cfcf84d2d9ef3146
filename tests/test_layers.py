"""Reading user layers: formats, mappings, repairs, and one clear line for each kind of bad input."""
from __future__ import annotations

import shutil
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from geo_almaty import settings
from geo_almaty.catalog import load_catalog
from geo_almaty.cli import main
from geo_almaty.errors import CatalogError, LayerError
from geo_almaty.layers import read_layer, validate_catalog

from .conftest import point, square, write_catalog, write_geojson

CENTRE = settings.ALMATY_CENTRE_LONLAT


def recycling_features(n: int = 3) -> list[dict]:
    return [
        {"properties": {"point_id": f"p{i}", "class": "collection_point", "operator": "Kazakhstan Waste Recycling",
                        "materials": "paper;plastic", "name_ru": f"Пункт «{i}»"},
         "geometry": point(CENTRE[0] + 0.01 * i, CENTRE[1] + 0.005 * i)}
        for i in range(n)
    ]


def load_one(tmp_path: Path, layer: str, source: dict):
    catalog = load_catalog(write_catalog(tmp_path / "user.yaml", {layer: {"source": source}}))
    return read_layer(catalog.layer(layer))


def assert_one_line(exc: pytest.ExceptionInfo, *fragments: str) -> None:
    message = str(exc.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


# --- formats and mappings -------------------------------------------------------------------

def test_geojson_layer_is_reprojected_to_analysis_crs(tmp_path):
    write_geojson(tmp_path / "points.geojson", recycling_features())
    loaded = load_one(tmp_path, "recycling_points", {"path": "points.geojson"})
    assert loaded.frame.crs.to_epsg() == 32643
    assert list(loaded.frame.point_id) == ["p0", "p1", "p2"]
    x, y = loaded.frame.geometry.iloc[0].x, loaded.frame.geometry.iloc[0].y
    assert 640_000 < x < 690_000 and 4_770_000 < y < 4_820_000  # metres in UTM 43N, near Almaty


@pytest.mark.parametrize("driver,suffix", [("GPKG", ".gpkg"), ("ESRI Shapefile", ".shp"), ("FlatGeobuf", ".fgb")])
def test_gis_formats_with_column_and_value_mapping(tmp_path, driver, suffix):
    frame = gpd.GeoDataFrame(
        {"ID": ["a", "b"], "ZONE": ["Жилая", "Промзона"], "NAME": ["Квартал «Самал»", "Северная промзона"]},
        geometry=[shapely.box(76.90, 43.20, 76.91, 43.21), shapely.box(76.95, 43.30, 76.97, 43.31)],
        crs="EPSG:4326",
    )
    path = tmp_path / f"zoning{suffix}"
    kwargs = {"layer": "zoning"} if driver == "GPKG" else {}
    frame.to_file(path, driver=driver, **kwargs)
    source = {"path": path.name, "columns": {"zone_id": "ID", "class": "ZONE", "name_ru": "NAME"},
              "values": {"class": {"Жилая": "residential", "Промзона": "industrial"}}}
    if driver == "GPKG":
        source["layer"] = "zoning"
    loaded = load_one(tmp_path, "land_use", source)
    by_id = loaded.frame.set_index("zone_id")  # FlatGeobuf's spatial index may reorder features
    assert by_id["class"].to_dict() == {"a": "residential", "b": "industrial"}
    assert by_id.name_ru["a"] == "Квартал «Самал»"
    assert loaded.frame.crs.to_epsg() == 32643


def test_csv_with_lon_lat_columns(tmp_path):
    (tmp_path / "points.csv").write_text(
        "id,kind,op,mat,longitude,latitude\n"
        "1,collection_point,KWR,paper;glass,76.93,43.24\n"
        "2,scrap_yard,KazFerroSteel,metal,76.99,43.33\n", encoding="utf-8")
    loaded = load_one(tmp_path, "recycling_points", {
        "path": "points.csv", "x": "longitude", "y": "latitude",
        "columns": {"point_id": "id", "class": "kind", "operator": "op", "materials": "mat"}})
    assert len(loaded.frame) == 2
    assert loaded.frame.crs.to_epsg() == 32643


def test_invalid_null_and_mixed_geometries_are_repaired_and_reported(tmp_path):
    bowtie = {"type": "Polygon", "coordinates": [[[76.90, 43.20], [76.92, 43.22], [76.92, 43.20], [76.90, 43.22], [76.90, 43.20]]]}
    feats = [
        {"properties": {"park_id": "1", "class": "park", "name_ru": "Бабочка"}, "geometry": bowtie},
        {"properties": {"park_id": "2", "class": "park", "name_ru": "Без геометрии"}, "geometry": None},
        {"properties": {"park_id": "3", "class": "square", "name_ru": "Точка"}, "geometry": point(76.95, 43.25)},
        {"properties": {"park_id": "4", "class": "park", "name_ru": "Мульти"},
         "geometry": {"type": "MultiPolygon", "coordinates": [square(76.93, 43.23)["coordinates"], square(76.96, 43.23)["coordinates"]]}},
    ]
    write_geojson(tmp_path / "parks.geojson", feats)
    loaded = load_one(tmp_path, "parks", {"path": "parks.geojson"})
    assert list(loaded.frame.park_id) == ["1", "4"]
    assert shapely.is_valid(loaded.frame.geometry.values).all()
    assert loaded.frame.geom_type.iloc[1] == "MultiPolygon"
    notes = " ".join(loaded.report.notes)
    assert "1 features without geometry dropped" in notes
    assert "1 invalid geometries repaired" in notes
    assert "1 Point" in notes


def write_shapefile_without_prj(folder: Path) -> Path:
    """A heritage shapefile whose .prj was lost (as often happens in exchanged data)."""
    frame = gpd.GeoDataFrame({"area_id": ["h1"], "class": ["historic"], "name_ru": ["Татарка"]},
                             geometry=[shapely.box(76.90, 43.26, 76.92, 43.27)], crs="EPSG:4326")
    frame.to_file(folder / "heritage.shp")
    (folder / "heritage.prj").unlink()
    return folder / "heritage.shp"


def test_missing_crs_can_be_declared_in_catalog(tmp_path):
    write_shapefile_without_prj(tmp_path)
    loaded = load_one(tmp_path, "heritage_areas", {"path": "heritage.shp", "crs": "EPSG:4326"})
    assert loaded.frame.crs.to_epsg() == 32643


# --- bad input: one clear line each -----------------------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(LayerError) as exc:
        load_one(tmp_path, "recycling_points", {"path": "nowhere.gpkg"})
    assert_one_line(exc, "nowhere.gpkg", "layer 'recycling_points'", "file not found")


def test_missing_gpkg_layer(tmp_path):
    gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(76.9, 43.2)], crs="EPSG:4326").to_file(tmp_path / "d.gpkg", layer="other")
    with pytest.raises(LayerError) as exc:
        load_one(tmp_path, "recycling_points", {"path": "d.gpkg", "layer": "points"})
    assert_one_line(exc, "d.gpkg", "layer 'recycling_points'", "no layer 'points'", "other", "column 'source.layer'")


def test_no_crs(tmp_path):
    write_shapefile_without_prj(tmp_path)
    with pytest.raises(LayerError) as exc:
        load_one(tmp_path, "heritage_areas", {"path": "heritage.shp"})
    assert_one_line(exc, "heritage.shp", "layer 'heritage_areas'", "no CRS", "source.crs")


def test_swapped_lon_lat(tmp_path):
    feats = recycling_features()
    for f in feats:
        f["geometry"]["coordinates"].reverse()
    write_geojson(tmp_path / "swapped.geojson", feats)
    with pytest.raises(LayerError) as exc:
        load_one(tmp_path, "recycling_points", {"path": "swapped.geojson"})
    assert_one_line(exc, "swapped.geojson", "layer 'recycling_points'", "column 'geometry'", "3 of 3 features", "swapped")


def test_empty_layer(tmp_path):
    write_geojson(tmp_path / "empty.geojson", [])
    with pytest.raises(LayerError) as exc:
        load_one(tmp_path, "recycling_points", {"path": "empty.geojson"})
    assert_one_line(exc, "empty.geojson", "layer 'recycling_points'", "empty")


def test_unknown_class_value(tmp_path):
    feats = recycling_features()
    feats[1]["properties"]["class"] = "<b>ящик</b>"
    write_geojson(tmp_path / "p.geojson", feats)
    with pytest.raises(LayerError) as exc:
        load_one(tmp_path, "recycling_points", {"path": "p.geojson"})
    assert_one_line(exc, "p.geojson", "layer 'recycling_points'", "column 'class'", "'<b>ящик</b>'", "collection_point", "source.values")


def test_unknown_list_value(tmp_path):
    feats = recycling_features()
    feats[0]["properties"]["materials"] = "paper;uranium"
    write_geojson(tmp_path / "p.geojson", feats)
    with pytest.raises(LayerError) as exc:
        load_one(tmp_path, "recycling_points", {"path": "p.geojson"})
    assert_one_line(exc, "column 'materials'", "'uranium'")


def test_wrong_geometry_type(tmp_path):
    feats = [{"properties": {"area_id": "h", "class": "historic", "name_ru": "X"}, "geometry": point(76.9, 43.25)}]
    write_geojson(tmp_path / "points.geojson", feats)
    with pytest.raises(LayerError) as exc:
        load_one(tmp_path, "heritage_areas", {"path": "points.geojson"})
    assert_one_line(exc, "points.geojson", "layer 'heritage_areas'", "column 'geometry'", "wrong geometry type Point", "Polygon or MultiPolygon")


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg"])
def test_truncated_file(tmp_path, suffix):
    good = tmp_path / f"good{suffix}"
    frame = gpd.GeoDataFrame({"point_id": [f"p{i}" for i in range(50)], "class": "collection_point", "operator": "X", "materials": "paper"},
                             geometry=[shapely.Point(76.9 + i * 1e-3, 43.25) for i in range(50)], crs="EPSG:4326")
    frame.to_file(good)
    data = good.read_bytes()
    bad = tmp_path / f"bad{suffix}"
    bad.write_bytes(data[: len(data) // 3])
    with pytest.raises(LayerError) as exc:
        load_one(tmp_path, "recycling_points", {"path": bad.name})
    assert_one_line(exc, bad.name, "layer 'recycling_points'", "cannot")


def test_attributes_not_utf8(tmp_path):
    text = ('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"point_id":"p1","class":"collection_point",'
            '"operator":"Оператор","materials":"paper"},"geometry":{"type":"Point","coordinates":[76.93,43.24]}}]}')
    (tmp_path / "cp1251.geojson").write_bytes(text.encode("cp1251"))
    with pytest.raises(LayerError) as exc:
        load_one(tmp_path, "recycling_points", {"path": "cp1251.geojson"})
    assert_one_line(exc, "cp1251.geojson", "layer 'recycling_points'", "UTF-8", "source.encoding")


def test_shapefile_in_cp1251_reads_with_declared_encoding(tmp_path):
    frame = gpd.GeoDataFrame({"point_id": ["p1"], "class": ["collection_point"], "operator": ["Тартып"], "materials": ["paper"]},
                             geometry=[shapely.Point(76.93, 43.24)], crs="EPSG:4326")
    frame.to_file(tmp_path / "p.shp", encoding="cp1251")
    (tmp_path / "p.cpg").write_text("UTF-8")  # lies about the encoding
    with pytest.raises(LayerError) as exc:
        load_one(tmp_path, "recycling_points", {"path": "p.shp"})
    assert_one_line(exc, "p.shp", "UTF-8")
    (tmp_path / "p.cpg").unlink()
    loaded = load_one(tmp_path, "recycling_points", {"path": "p.shp", "encoding": "cp1251"})
    assert loaded.frame.operator.iloc[0] == "Тартып"


def test_duplicate_id(tmp_path):
    feats = recycling_features()
    feats[2]["properties"]["point_id"] = "p0"
    write_geojson(tmp_path / "dup.geojson", feats)
    with pytest.raises(LayerError) as exc:
        load_one(tmp_path, "recycling_points", {"path": "dup.geojson"})
    assert_one_line(exc, "dup.geojson", "layer 'recycling_points'", "column 'point_id'", "duplicate id 'p0'")


def test_missing_required_column_names_the_mapping(tmp_path):
    feats = recycling_features()
    for f in feats:
        del f["properties"]["operator"]
    write_geojson(tmp_path / "p.geojson", feats)
    with pytest.raises(LayerError) as exc:
        load_one(tmp_path, "recycling_points", {"path": "p.geojson"})
    assert_one_line(exc, "column 'operator'", "required column missing", "source.columns")


def test_mapped_column_absent_from_file(tmp_path):
    write_geojson(tmp_path / "p.geojson", recycling_features())
    with pytest.raises(LayerError) as exc:
        load_one(tmp_path, "recycling_points", {"path": "p.geojson", "columns": {"operator": "OPERATOR"}})
    assert_one_line(exc, "column 'OPERATOR'", "not in the file")


def test_catalog_schema_error_is_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("version: 1\nextends: embedded\nlayers:\n  districts:\n    source: {pth: x.gpkg}\n", encoding="utf-8")
    with pytest.raises(CatalogError) as exc:
        load_catalog(path)
    assert_one_line(exc, "bad.yaml", "layers/districts/source")


def test_catalog_unknown_layer_needs_full_definition(tmp_path):
    write_geojson(tmp_path / "p.geojson", recycling_features())
    with pytest.raises(CatalogError) as exc:
        load_catalog(write_catalog(tmp_path / "c.yaml", {"plots": {"source": {"path": "p.geojson"}}}))
    assert_one_line(exc, "layer 'plots'", "title")


def test_cli_validate_reports_unusable_layer_and_exits_nonzero(tmp_path, capsys):
    feats = recycling_features()
    feats[2]["properties"]["point_id"] = "p0"
    write_geojson(tmp_path / "dup.geojson", feats)
    catalog = write_catalog(tmp_path / "user.yaml", {"recycling_points": {"source": {"path": "dup.geojson"}}})
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["layers", "validate", "--catalog", str(catalog)]) == 1
    out = capsys.readouterr()
    assert "recycling_points" in out.out and "UNUSABLE" in out.out and "duplicate id 'p0'" in out.out
    assert "Traceback" not in out.err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_cli_bad_catalog_is_one_line_exit_2(tmp_path, capsys):
    path = tmp_path / "broken.yaml"
    path.write_text("version: 1\nlayers: [\n", encoding="utf-8")
    assert main(["layers", "list", "--catalog", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "broken.yaml" in err and "invalid YAML" in err


# --- real third-party files (../shared/geodata) ----------------------------------------------

def test_real_osm_districts_drop_in_with_only_a_catalog_entry(tmp_path, geodata_dir):
    src = geodata_dir / "akilbekov_osm_districts" / "almaty-districts.geo.json"
    catalog = load_catalog(write_catalog(tmp_path / "c.yaml", {"districts": {"source": {
        "path": str(src), "columns": {"district_id": "osm-relation-id", "name_ru": "nameRu", "name_en": "name"}}}}))
    frame = read_layer(catalog.layer("districts")).frame
    assert len(frame) == 8
    assert set(frame.geom_type) == {"MultiPolygon"}
    assert "Медеуский район" in set(frame.name_ru) or any("Медеу" in n for n in frame.name_ru)
    area_km2 = frame.area.sum() / 1e6
    assert 650 < area_km2 < 760  # ≈704 km² city


def test_real_parks_with_invalid_and_null_geometries(tmp_path, geodata_dir):
    src = geodata_dir / "gisclone_parks" / "almaty_parks_squares_improvement_projects.geojson"
    catalog = load_catalog(write_catalog(tmp_path / "c.yaml", {"parks": {"source": {
        "path": str(src), "columns": {"park_id": "id", "name_ru": "address"}, "defaults": {"class": "park"}}}}))
    loaded = read_layer(catalog.layer("parks"))
    assert len(loaded.frame) == 54
    notes = " ".join(loaded.report.notes)
    assert "12 features without geometry dropped" in notes and "2 invalid geometries repaired" in notes


def test_real_shapefile_without_prj_is_refused_then_accepted_with_declared_crs(tmp_path, geodata_dir):
    folder = geodata_dir / "ruthamey_almaty_hazard" / "district_shapefiles"
    for part in folder.glob("nauryzbay_district.*"):
        shutil.copy(part, tmp_path / part.name)  # a temp copy only; nothing enters the project
    entry = {"path": "nauryzbay_district.shp", "columns": {"district_id": "id", "name_ru": "locname"}}
    with pytest.raises(LayerError) as exc:
        load_one(tmp_path, "districts", entry)
    assert_one_line(exc, "nauryzbay_district.shp", "no CRS")
    loaded = load_one(tmp_path, "districts", entry | {"crs": "EPSG:4326"})
    assert len(loaded.frame) == 1


def test_validate_whole_user_catalog_of_real_files(tmp_path, geodata_dir):
    layers = {
        "districts": {"source": {"path": str(geodata_dir / "almaty_health" / "districts.geojson"),
                                 "columns": {"name_ru": "name_ru", "name_kk": "name_kz"}}},
        "roads": {"source": {"path": str(geodata_dir / "kvozianov_almaty_roads" / "almaty_roads.geojson"),
                             "columns": {"class": "highway", "name_ru": "name", "maxspeed_osm": "maxspeed", "lanes_osm": "lanes"},  # OSM text ("60, 40", "RU:urban") is not km/h
                             "values": {"class": {"primary_link": "primary", "secondary_link": "secondary", "trunk_link": "trunk",
                                                  "motorway_link": "motorway", "secondary_link, secondary": "secondary",
                                                  "primary, trunk": "trunk", "primary, primary_link": "primary",
                                                  "secondary, primary_link": "secondary", "motorway, trunk": "motorway"}}}},
    }
    reports = {r.name: r for r in validate_catalog(load_catalog(write_catalog(tmp_path / "c.yaml", layers)))}
    assert reports["districts"].usable and reports["districts"].features == 8
    assert reports["roads"].usable and reports["roads"].features == 2417
