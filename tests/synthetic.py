"""A tiny, hand-computable world around Almaty's centre for allocation and scoring tests.

A 4 km × 4 km study area (16 × 16 cells of 250 m): the west half is a residential
district of 100 000 people, the east half an arable district of 300 000; a poultry
farm sits in the south-east, a food processor (stated 1 000 t/yr) in the north-west,
a heritage square in the middle and a primary road along the east-west midline.
"""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from geo_almaty import settings
from geo_almaty.crs import centre_xy

CX, CY = (round(v / 250) * 250 for v in centre_xy())  # snap so cells align with the square
HALF = 2000.0


def box(x0: float, y0: float, x1: float, y1: float) -> dict:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def pt(x: float, y: float) -> dict:
    return {"type": "Point", "coordinates": [x, y]}


def _write(path: Path, features: list[tuple[dict, dict]]) -> None:
    path.write_text(json.dumps({
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32643"}},
        "features": [{"type": "Feature", "properties": p, "geometry": g} for p, g in features],
    }, ensure_ascii=False), encoding="utf-8")


def tiny_world(folder: Path, extra: dict[str, list[tuple[dict, dict]]] | None = None) -> Path:
    """Write the tiny world's layers and a standalone catalog into ``folder``; return the catalog path.

    ``extra`` adds (or replaces) layers: name → [(properties, geometry)] in EPSG:32643.
    """
    x0, y0, x1, y1 = CX - HALF, CY - HALF, CX + HALF, CY + HALF
    src = {"source": "synthetic test fixture", "accuracy_m": 1.0}
    layers = {
        "study_area": [({"area_id": "a", "name_ru": "Тест", **src}, box(x0, y0, x1, y1))],
        "city_boundary": [({"boundary_id": "c", "name_ru": "Тест", **src}, box(x0, y0, x1, y1))],
        "districts": [
            ({"district_id": "west", "name_ru": "Западный", "name_kk": "Батыс", "name_en": "West", "population": 100000, "population_year": 2024, **src}, box(x0, y0, CX, y1)),
            ({"district_id": "east", "name_ru": "Восточный", "name_kk": "Шығыс", "name_en": "East", "population": 300000, "population_year": 2024, **src}, box(CX, y0, x1, y1)),
        ],
        "land_use": [
            ({"zone_id": "res", "class": "residential", **src}, box(x0, y0, CX, y1)),
            ({"zone_id": "ara", "class": "arable", **src}, box(CX, y0, x1 - 500, y1)),
            ({"zone_id": "wat", "class": "water", **src}, box(x1 - 500, y0, x1, y1)),
        ],
        "organic_producers": [
            ({"producer_id": "farm", "class": "poultry_farm", "name_ru": "Птицефабрика «Тест»", "size_weight": 1.0, **src}, pt(CX + 1375, CY - 1375)),
            ({"producer_id": "food", "class": "food_processor", "name_ru": "Пищекомбинат", "tonnage_t_yr": 1000.0, **src}, pt(CX - 1375, CY + 1375)),
        ],
        "heritage_areas": [({"area_id": "h", "class": "golden_square", "name_ru": "Центр", **src}, box(CX - 250, CY - 250, CX + 250, CY + 250))],
        "roads": [({"road_id": "r", "class": "primary", "name_ru": "Проспект", **src}, {"type": "LineString", "coordinates": [[x0, CY + 125], [x1, CY + 125]]})],
        "parks": [({"park_id": "p", "class": "park", "name_ru": "Парк", **src}, box(x0, y0, x0 + 500, y0 + 500))],
        "building_stock": [
            ({"stock_id": "old", "built_period": "built_1956_1970", "demolition_planned": True, **src}, box(x0, CY, CX, y1)),
            ({"stock_id": "new", "built_period": "built_post_1991", "demolition_planned": False, **src}, box(x0, y0, CX, CY)),
        ],
        "construction_sites": [
            ({"site_id": "nb", "class": "new_build", **src}, pt(CX + 500, CY + 1000)),
            ({"site_id": "dm", "class": "demolition", **src}, pt(CX - 1000, CY + 1000)),
        ],
    }
    layers.update(extra or {})
    for name, features in layers.items():
        _write(folder / f"{name}.geojson", features)
    embedded = yaml.safe_load(settings.default_catalog_path().read_text(encoding="utf-8"))
    catalog = {"version": 1, "name": "tiny", "layers": {}}
    for name, spec in embedded["layers"].items():
        spec = {k: v for k, v in spec.items() if k != "source"}
        if name in layers:
            spec["source"] = {"path": f"{name}.geojson"}
        catalog["layers"][name] = spec
    path = folder / "catalog.yaml"
    path.write_text(yaml.safe_dump(catalog, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def write_profile(folder: Path, name: str, criteria: list[dict], *, exclusions: list[dict] | None = None, weights: dict | None = None,
                  aggregation: dict | None = None, selection: dict | None = None) -> Path:
    """A test profile YAML with the given criteria."""
    text = {"ru": "т", "kk": "т", "en": "t"}
    document = {
        "id": name, "title": text, "summary": text, "report_lines": "L1",
        "exclusions": exclusions or [],
        "criteria": [{"label": text, "report_lines": "L1", "rationale": "test", **c} for c in criteria],
        "weights": weights or {"method": "direct"}, "aggregation": aggregation or {"method": "wlc"},
        "selection": selection or {"top_n": 3},
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def line(*points: tuple[float, float]) -> dict:
    return {"type": "LineString", "coordinates": [list(p) for p in points]}


#: Positions of the siting world's features (m, EPSG:32643), so tests can compute exact distances.
VILLAGE = (CX + 1060.0, CY - 1310.0)
SCHOOL = (CX + 1630.0, CY + 1570.0)
AIRPORT = (CX + 15_200.0, CY + 300.0)
RIVER_Y = CY + 840.0


def siting_world(folder: Path, *, receptors: bool = True, airports: bool = True, rivers: bool = True, units: bool = True,
                 river_accuracy_m: float = 50.0) -> Path:
    """The tiny world plus the layers the siting rules read: a village with a footprint, a school, dachas,
    an airfield 15.2 km east, a river across the north and the city (west half) / oblast (east half) split.
    """
    x0, y0, x1, y1 = CX - HALF, CY - HALF, CX + HALF, CY + HALF
    src = {"source": "synthetic test fixture", "accuracy_m": 1.0}
    extra: dict[str, list] = {}
    if receptors:
        extra["settlements"] = [({"settlement_id": "v", "name_ru": "Аул", "place": "village", "population": 500, "footprint_radius_m": 120.0, **src},
                                 pt(*VILLAGE))]
        extra["sensitive_sites"] = [({"site_id": "s", "class": "school", "name_ru": "Школа", **src}, pt(*SCHOOL))]
        extra["garden_plots"] = [({"plot_id": "g", "name_ru": "Дачи", **src}, box(CX + 1500, CY - 2000, CX + 2000, CY - 1700))]
    if airports:
        extra["airports"] = [({"airport_id": "a", "class": "airfield", "name_ru": "Аэродром", **src}, pt(*AIRPORT))]
    if rivers:
        extra["rivers"] = [({"river_id": "r", "class": "river", "name_ru": "Река", **{**src, "accuracy_m": river_accuracy_m}},
                            line((x0, RIVER_Y), (CX, RIVER_Y + 60.0), (x1, RIVER_Y)))]
    if units:
        extra["oblast_districts"] = [
            ({"unit_id": "city", "kind": "city", "name_ru": "город", "name_en": "City", **src}, box(x0, y0, CX, y1)),
            ({"unit_id": "obl", "kind": "oblast_district", "name_ru": "район", "name_en": "Rural district", **src}, box(CX, y0, x1, y1)),
        ]
    return tiny_world(folder, extra)


def prepared_world(catalog_path: Path):
    """(catalog, study on a 250 m grid, allocations of data/allocation.yaml) for a synthetic catalog."""
    from geo_almaty.allocate import allocate_flows, load_allocation_specs
    from geo_almaty.catalog import load_catalog
    from geo_almaty.flows import load_flows
    from geo_almaty.prepare import prepare_study

    catalog = load_catalog(catalog_path)
    study = prepare_study(catalog, 250)
    return catalog, study, allocate_flows(load_allocation_specs(), load_flows(), study.layers, study.grid, study.population_weights())
