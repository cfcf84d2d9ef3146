"""OpenStreetMap import: tag mapping, offline .osm/.osm.pbf reading, drive graph, GeoPackage + catalog.

Everything runs on the hand-written extract in tests/fixtures/osm; no test may
touch the network (the autouse ``no_network`` fixture makes every socket and
HTTP request fail).
"""
from __future__ import annotations

import shutil
import socket
from pathlib import Path

import geopandas as gpd
import osmnx as ox
import pandas as pd
import pyogrio
import pytest
import requests
import shapely
import yaml

from geo_almaty import osm
from geo_almaty.catalog import load_catalog
from geo_almaty.errors import OSMError
from geo_almaty.layers import validate_catalog

FIXTURES = Path(__file__).parent / "fixtures" / "osm"
XML = FIXTURES / "almaty_small.osm"
PBF = FIXTURES / "almaty_small.osm.pbf"


class NetworkUsed(AssertionError):
    """Raised when a test tries to reach the network."""


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail any socket connection and any requests/osmnx HTTP call."""
    def refuse(*args, **kwargs):
        raise NetworkUsed(f"network access attempted: {args[:2]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(requests.sessions.Session, "request", refuse)
    monkeypatch.setattr(requests, "get", refuse)
    monkeypatch.setattr(requests, "post", refuse)
    monkeypatch.setattr(ox.settings, "use_cache", False)


@pytest.fixture(scope="module")
def mapping() -> osm.OSMMapping:
    return osm.load_mapping()


@pytest.fixture(scope="module")
def layers(mapping) -> dict[str, gpd.GeoDataFrame]:
    return osm.read_osm_file(XML, mapping)


def by_id(frame: gpd.GeoDataFrame, id_column: str) -> dict[str, dict]:
    return {row[id_column]: row for row in frame.drop(columns="geometry").to_dict("records")}


def assert_one_line(exc: pytest.ExceptionInfo, *fragments: str) -> None:
    message = str(exc.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_guard_refuses_network():
    with pytest.raises(NetworkUsed):
        requests.get("https://overpass-api.de/api/interpreter")
    with pytest.raises(NetworkUsed):
        socket.create_connection(("nominatim.openstreetmap.org", 443))


# --- the mapping ---------------------------------------------------------------------------

def test_shipped_mapping_matches_the_catalog(mapping):
    catalog = load_catalog()
    for name, rules in mapping.layers.items():
        spec = catalog.layer(name)
        for rule in rules.rules:
            assert (rule.cls in spec.classes) if spec.class_column else rule.cls is None
    tags = mapping.query_tags()
    assert tags["historic"] is True and "recycling" in tags["amenity"] and "primary_link" in tags["highway"]
    assert "recycling:plastic_bottles" in mapping.tag_keys()


def write_mapping(tmp_path: Path, change) -> Path:
    document = yaml.safe_load(osm.MAPPING_PATH.read_text(encoding="utf-8"))
    change(document)
    path = tmp_path / "tags.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path


def test_mapping_with_unknown_class_is_refused(tmp_path):
    path = write_mapping(tmp_path, lambda d: d["layers"]["roads"]["rules"].append({"class": "footpath", "match": {"highway": "footway"}}))
    with pytest.raises(OSMError) as exc:
        osm.load_mapping(path)
    assert_one_line(exc, "tags.yaml", "layer 'roads'", "unknown class 'footpath'", "motorway")


def test_mapping_with_unquoted_yes_is_refused(tmp_path):
    # YAML reads an unquoted yes as true: the schema must refuse it rather than match anything.
    path = tmp_path / "tags.yaml"
    path.write_text(osm.MAPPING_PATH.read_text(encoding="utf-8").replace('irrigated: "yes"', "irrigated: yes"), encoding="utf-8")
    with pytest.raises(OSMError) as exc:
        osm.load_mapping(path)
    assert_one_line(exc, "tags.yaml", "irrigated")


def test_mapping_for_unknown_layer_is_refused(tmp_path):
    path = write_mapping(tmp_path, lambda d: d["layers"].update(bus_stops={"rules": [{"match": {"highway": "bus_stop"}}]}))
    with pytest.raises(OSMError) as exc:
        osm.load_mapping(path)
    assert_one_line(exc, "layer 'bus_stops'", "not a vector layer of the catalog")


# --- tag mapping ---------------------------------------------------------------------------

@pytest.mark.parametrize("layer,ident,cls", [
    ("land_use", "osm_way_100", "residential"),
    ("land_use", "osm_way_101", "industrial"),
    ("land_use", "osm_way_102", "park_recreation"),
    ("land_use", "osm_way_103", "irrigated"),
    ("land_use", "osm_way_104", "pasture"),
    ("land_use", "osm_relation_320", "forest"),
    ("parks", "osm_way_102", "park"),
    ("heritage_areas", "osm_way_105", "historic"),
    ("heritage_areas", "osm_way_109", "historic"),  # closed way osmnx left as a line
    ("roads", "osm_way_200", "primary"),
    ("roads", "osm_way_201", "secondary"),
    ("roads", "osm_way_204", "trunk"),  # trunk_link
    ("roads", "osm_way_205", "road_planned"),
    ("roads", "osm_way_206", "rail"),
    ("roads", "osm_way_207", "light_metro_planned"),
    ("markets", "osm_way_107", "bazaar"),
    ("markets", "osm_node_52", "second_hand"),
    ("markets", "osm_node_53", "repair_hub"),
    ("waste_facilities", "osm_way_106", "landfill"),
    ("waste_facilities", "osm_node_50", "wwtp"),
    ("waste_facilities", "osm_node_51", "transfer_station"),
    ("industry_sites", "osm_node_54", "concrete_plant"),  # product=asphalt;concrete
    ("organic_producers", "osm_node_55", "brewery"),
])
def test_tags_map_to_catalog_classes(layers, layer, ident, cls):
    spec = load_catalog().layer(layer)
    rows = by_id(layers[layer], spec.id_column)
    assert rows[ident][spec.class_column] == cls


def test_objects_without_a_rule_or_of_the_wrong_kind_are_left_out(layers):
    roads = set(layers["roads"].road_id)
    assert "osm_way_202" not in roads and "osm_way_203" not in roads  # residential street, footway
    assert "osm_node_33" not in set(layers["parks"].park_id)  # a park mapped as a node has no area
    assert "osm_node_55" not in set(layers["markets"].market_id)  # craft=brewery is not a repair trade
    assert "construction_sites" not in layers  # nothing under construction: no layer at all


def test_recycling_classes_materials_and_operator(layers):
    rows = by_id(layers["recycling_points"], "point_id")
    expected = {
        "osm_node_40": ("collection_point", "paper;plastic;glass", "Kazakhstan Waste Recycling"),
        "osm_node_41": ("textile_drop_off", "textile", "unknown"),
        "osm_node_42": ("scrap_yard", "metal", "unknown"),
        "osm_node_43": ("collection_point", "ewaste", "Батарейки, сдавайтесь!"),  # recycling:paper=no is ignored; brand as operator
        "osm_node_44": ("collection_point", "mixed", "unknown"),  # no recycling:* tag
    }
    assert {k: (r["class"], r["materials"], r["operator"]) for k, r in rows.items()} == expected


def test_required_columns_source_and_accuracy(layers):
    catalog = load_catalog()
    for name, frame in layers.items():
        spec = catalog.layer(name)
        assert frame.crs.to_epsg() == 4326
        for column, col in spec.columns.items():
            if col.required:
                assert column in frame.columns and frame[column].notna().all(), (name, column)
        assert frame[spec.id_column].str.fullmatch(r"osm_(node|way|relation)_\d+").all()
        assert frame.source.str.fullmatch(r"OpenStreetMap (node|way|relation)/\d+").all()
        assert (frame.accuracy_m >= 10).all()
        family = {"point": {"Point"}, "line": {"LineString", "MultiLineString"}, "polygon": {"Polygon", "MultiPolygon"}}[spec.geometry]
        assert set(frame.geom_type) <= family, name


def test_names_and_unnamed_fallback(layers):
    park = by_id(layers["parks"], "park_id")["osm_way_102"]
    assert park["name_ru"] == "Парк имени 28 гвардейцев-панфиловцев"
    assert park["name_kk"] == "28 гвардияшыл-панфиловшылар атындағы саябақ"
    assert park["name_en"] == "Panfilov Park"
    assert by_id(layers["heritage_areas"], "area_id")["osm_way_109"]["name_ru"] == "Вознесенский собор"  # name:ru
    assert by_id(layers["waste_facilities"], "facility_id")["osm_node_51"]["name_ru"] == "без названия (OSM node/51)"


def test_points_placed_on_areas_carry_their_spread(layers):
    facilities = layers["waste_facilities"].set_index("facility_id")
    landfill = facilities.loc["osm_way_106"]
    assert shapely.box(77.05, 43.40, 77.06, 43.41).contains(landfill.geometry)
    assert 600 < landfill.accuracy_m < 900  # a 0.01° square: the far corner is ~700 m away
    assert facilities.loc["osm_node_50"].accuracy_m == 10


def test_districts_with_population_and_area_filter(mapping, layers):
    districts = by_id(layers["districts"], "district_id")
    assert set(districts) == {"osm_relation_300", "osm_relation_310"}
    assert districts["osm_relation_300"]["population"] == 233000  # "233 000"
    features = osm.read_osm_features(XML, mapping)
    city = shapely.box(76.80, 43.15, 77.10, 43.45)
    clipped = osm.features_to_layers(features, mapping, area=city)
    assert list(clipped["districts"].district_id) == ["osm_relation_300"]
    assert len(clipped["roads"]) == len(layers["roads"])  # only inside_area layers are filtered


def test_forest_relation_keeps_its_hole(layers):
    forest = layers["land_use"].set_index("zone_id").loc["osm_relation_320"].geometry
    assert not forest.contains(shapely.Point(77.0075, 43.1575))
    assert forest.contains(shapely.Point(77.015, 43.165))


@pytest.mark.skipif(not PBF.is_file() or "OSM" not in pyogrio.list_drivers(), reason="no .osm.pbf fixture or GDAL without the OSM driver")
def test_pbf_gives_the_same_layers_as_xml(mapping, layers):
    from_pbf = osm.read_osm_file(PBF, mapping)
    assert set(from_pbf) == set(layers)
    catalog = load_catalog()
    for name, frame in layers.items():
        spec = catalog.layer(name)
        columns = [c for c in (spec.class_column, "name_ru", "materials", "operator") if c and c in frame.columns]
        xml_rows = frame.set_index(spec.id_column)[columns].sort_index()
        pbf_rows = from_pbf[name].set_index(spec.id_column)[columns].sort_index()
        assert xml_rows.fillna("").astype(str).equals(pbf_rows.fillna("").astype(str)), name
        area_x = frame.to_crs(32643).set_index(spec.id_column).geometry.sort_index()
        area_p = from_pbf[name].to_crs(32643).set_index(spec.id_column).geometry.sort_index()
        assert (area_x.distance(area_p) < 1).all(), name


def test_pbf_other_tags_parsing_handles_escapes_and_commas():
    other = pd.Series(['"name:ru"=>"Кафе \\"Роза\\"","recycling:paper"=>"yes"', None, '"operator"=>"ТОО \\"A, B\\"","x"=>"1"'])
    frame = osm.readers._with_hstore_keys(pd.DataFrame(index=other.index), other, ["name:ru", "recycling:paper", "operator", "shop"])
    assert frame.to_dict("list") == {
        "name:ru": ['Кафе "Роза"', None, None],
        "recycling:paper": ["yes", None, None],
        "operator": [None, None, 'ТОО "A, B"'],
        "shop": [None, None, None],
    }


# --- drive graph, GeoPackage and catalog -----------------------------------------------------

def test_drive_graph_keeps_drivable_roads_only(mapping):
    graph = osm.drive_graph_from_file(XML, mapping)
    # primary A-B-C (two-way, B simplified away), secondary C->D (one-way),
    # residential C-E (two-way), trunk_link F->G (one-way, a separate component).
    assert graph.number_of_edges() == 6
    assert set(graph.nodes) == {60, 62, 63, 64, 65, 66}
    highways = {data["highway"] for _, _, data in graph.edges(data=True)}
    assert highways == {"primary", "secondary", "residential", "trunk_link"}


def test_graph_and_catalog_are_written_and_validate(tmp_path, mapping, layers):
    graph = osm.drive_graph_from_file(XML, mapping)
    graph_path = osm.save_drive_graph(graph, tmp_path / "graphs" / "drive.graphml")
    assert ox.load_graphml(graph_path).number_of_edges() == graph.number_of_edges() == 6

    catalog_path = osm.write_osm_catalog(layers, tmp_path / "osm.gpkg", graph_path)
    assert catalog_path == tmp_path / "osm.catalog.yaml"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graphs", "osm.catalog.yaml", "osm.gpkg"]  # no temporary files left
    document = yaml.safe_load(catalog_path.read_text(encoding="utf-8"))
    assert document["version"] == 1 and document["extends"] == "embedded"
    assert document["layers"]["roads"]["source"] == {"path": "osm.gpkg", "layer": "roads", "osm_graph": "graphs/drive.graphml"}
    assert document["layers"]["network"] == {"source": {"path": "graphs/drive.graphml"}}
    assert sorted(name for name, _ in pyogrio.list_layers(tmp_path / "osm.gpkg")) == sorted(layers)

    catalog = load_catalog(catalog_path)
    assert catalog.layer("roads").source.osm_graph == graph_path.resolve()
    reports = {r.name: r for r in validate_catalog(catalog)}
    for name, frame in layers.items():
        assert reports[name].usable, (name, reports[name].problems)
        assert reports[name].features == len(frame), name
    assert reports["network"].usable and reports["network"].features > 0  # the drive graph, as a road network


def test_write_refuses_nothing_and_missing_graph(tmp_path, layers):
    with pytest.raises(OSMError) as exc:
        osm.write_osm_catalog({}, tmp_path / "osm.gpkg")
    assert_one_line(exc, "osm.gpkg", "no layer has features")
    with pytest.raises(OSMError) as exc:
        osm.write_osm_catalog(layers, tmp_path / "osm.gpkg", tmp_path / "missing.graphml")
    assert_one_line(exc, "missing.graphml", "graph file not found")
    assert not (tmp_path / "osm.gpkg").exists()


# --- bad input -----------------------------------------------------------------------------

def truncated_pbf(tmp_path: Path) -> Path:
    path = tmp_path / "cut.osm.pbf"
    path.write_bytes(PBF.read_bytes()[:1000])
    return path


def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "notes.osm"
    path.write_text("Алматы, улица Абая\n", encoding="utf-8")
    return path


def fake_pbf(tmp_path: Path) -> Path:
    path = tmp_path / "fake.osm.pbf"
    path.write_text("not protobuf", encoding="utf-8")
    return path


def empty_file(tmp_path: Path) -> Path:
    path = tmp_path / "empty.osm"
    path.touch()
    return path


@pytest.mark.parametrize("make,fragments", [
    (lambda tmp: tmp / "missing.osm", ["missing.osm", "file not found", "expected an OpenStreetMap extract"]),
    (lambda tmp: FIXTURES / "not_osm.xml", ["not_osm.xml", "root element is <gpx>", "expected OSM XML"]),
    (text_file, ["notes.osm", "not XML"]),
    (empty_file, ["empty.osm", "empty file"]),
    (lambda tmp: FIXTURES / "truncated.osm", ["truncated.osm", "truncated or malformed OSM XML", "expected a complete OSM XML file"]),
    (lambda tmp: FIXTURES / "untagged.osm", ["untagged.osm", "no object with a tag the mapping uses"]),
    (fake_pbf, ["fake.osm.pbf", "not an OSM PBF file"]),
    (truncated_pbf, ["cut.osm.pbf", "cannot read OSM PBF", "expected a complete .osm.pbf extract"]),
])
def test_bad_input_is_one_clear_line(tmp_path, mapping, make, fragments):
    with pytest.raises(OSMError) as exc:
        osm.read_osm_file(make(tmp_path), mapping)
    assert_one_line(exc, *fragments)


@pytest.mark.parametrize("make,fragment", [
    (lambda tmp: tmp / "missing.osm", "file not found"),
    (lambda tmp: FIXTURES / "truncated.osm", "truncated or malformed OSM XML"),
    (lambda tmp: FIXTURES / "untagged.osm", "no drivable road in the file"),
    (lambda tmp: PBF, "built from OSM XML, not PBF"),
])
def test_bad_graph_input_is_one_clear_line(tmp_path, mapping, make, fragment):
    with pytest.raises(OSMError) as exc:
        osm.drive_graph_from_file(make(tmp_path), mapping)
    assert_one_line(exc, fragment)


def test_compressed_xml_is_read(tmp_path, mapping, layers):
    import gzip

    path = tmp_path / "almaty_small.osm.gz"
    with XML.open("rb") as src, gzip.open(path, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert {k: len(v) for k, v in osm.read_osm_file(path, mapping).items()} == {k: len(v) for k, v in layers.items()}
    assert osm.drive_graph_from_file(path, mapping).number_of_edges() == 6


# --- the online wrapper, with osmnx's download functions replaced by the fixture ------------

def test_fetch_osm_wrapper_offline(monkeypatch, mapping):
    city = shapely.box(76.80, 43.15, 77.10, 43.45)
    calls = []
    monkeypatch.setattr(ox, "geocode_to_gdf", lambda place: calls.append(place) or gpd.GeoDataFrame(geometry=[city], crs=4326))
    monkeypatch.setattr(ox, "features_from_polygon", lambda polygon, tags: ox.features_from_xml(XML, tags=tags))
    monkeypatch.setattr(ox, "graph_from_polygon", lambda polygon, **kw: osm.drive_graph_from_file(XML, mapping))
    layers, graph = osm.fetch_osm("Almaty, Kazakhstan", mapping)
    assert calls == ["Almaty, Kazakhstan"]
    assert list(layers["districts"].district_id) == ["osm_relation_300"]  # the neighbour outside the city is dropped
    assert graph.number_of_edges() == 6


def test_fetch_osm_errors_are_one_line(monkeypatch, mapping):
    def nothing(place):
        raise ox._errors.InsufficientResponseError("Nominatim geocoder returned 0 results")

    monkeypatch.setattr(ox, "geocode_to_gdf", nothing)
    with pytest.raises(OSMError) as exc:
        osm.fetch_osm("Nowhere-on-Earth", mapping)
    assert_one_line(exc, "'Nowhere-on-Earth'", "returned no data")


# --- the one-call import the command line uses ----------------------------------------------

def test_import_osm_from_xml_writes_gpkg_graph_and_catalog(tmp_path):
    catalog_path = osm.import_osm(tmp_path / "osm.gpkg", osm_file=XML)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["osm.catalog.yaml", "osm.drive.graphml", "osm.gpkg"]
    catalog = load_catalog(catalog_path)
    assert catalog.layer("roads").source.osm_graph == (tmp_path / "osm.drive.graphml").resolve()
    assert all(r.usable for r in validate_catalog(catalog) if r.name in {"roads", "recycling_points", "land_use"})


@pytest.mark.skipif(not PBF.is_file(), reason="no .osm.pbf fixture")
def test_import_osm_from_pbf_has_no_graph(tmp_path, caplog):
    catalog_path = osm.import_osm(tmp_path / "osm.gpkg", osm_file=PBF)
    assert "osm_graph" not in yaml.safe_load(catalog_path.read_text(encoding="utf-8"))["layers"]["roads"]["source"]
    assert "no drive graph" in caplog.text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["osm.catalog.yaml", "osm.gpkg"]


def test_import_osm_needs_exactly_one_source(tmp_path):
    with pytest.raises(OSMError) as exc:
        osm.import_osm(tmp_path / "osm.gpkg")
    assert_one_line(exc, "give either a place or an OSM file")


def test_cli_fetch_osm_offline_writes_a_catalog_whose_layers_validate(tmp_path, capsys):
    from geo_almaty.cli import main

    out = tmp_path / "osm.gpkg"
    assert main(["layers", "fetch-osm", "--osm-file", str(FIXTURES / "almaty_small.osm"), "--out", str(out)]) == 0
    catalog = tmp_path / "osm.catalog.yaml"
    assert out.is_file() and catalog.is_file() and (tmp_path / "osm.drive.graphml").is_file()
    # Every layer is usable, but OSM districts carry no population, so the flows cannot be spread:
    # validate says so (exit 1) exactly as the run would refuse it (exit 2).
    assert main(["layers", "validate", "--catalog", str(catalog)]) == 1
    captured = capsys.readouterr()
    assert "osm.gpkg:recycling_points" in captured.out
    assert "unusable layer(s) or profile(s): flow allocation" in captured.err and "population" in captured.out
    assert main(["run", "--catalog", str(catalog), "--out", str(tmp_path / "run")]) == 2
    assert "population" in capsys.readouterr().err and not (tmp_path / "run").exists()


def test_cli_fetch_osm_bad_file_is_one_line(tmp_path, capsys):
    from geo_almaty.cli import main

    out = tmp_path / "o.gpkg"
    assert main(["layers", "fetch-osm", "--osm-file", str(FIXTURES / "truncated.osm"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("geo-almaty: error:") and "truncated" in err
    assert not list(tmp_path.iterdir())
