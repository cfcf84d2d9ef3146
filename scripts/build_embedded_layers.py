"""Build the embedded open-data layers in ``layers/`` from ``../shared/geodata`` (run by a maintainer).

Usage::

    python scripts/build_embedded_layers.py [--geodata DIR] [--out DIR]

Reads the third-party files described in ``../shared/geodata/SOURCES.md`` and
writes, reproducibly (identical inputs give byte-identical files):

- ``city_boundary``, ``districts``: OpenStreetMap district boundaries (ODbL 1.0),
  coverage-simplified while every district keeps IoU >= 0.99 with the source;
  Kazakh names; official populations with their precision;
- ``study_area``: the hand-drawn agglomeration ring joined with the real city
  plus a margin;
- ``population``: Kontur Population H3 res-8 cells (CC BY 4.0) in the study area,
  rescaled per district to the official populations (whole persons, largest
  remainder); cells outside the city keep Kontur's counts;
- ``dem_srtm3_32643.tif``: SRTM 3" (public domain), voids filled, EPSG:32643;
- ``rivers``: the river network derived from that DEM (pyflwdir flow
  accumulation), main rivers named in ru/kk/en, checked against OSM 2012 lines;
- ``roads``: OSM main roads (ODbL 1.0) plus the hand-drawn lines kept where OSM
  has no data (planned roads, railways, roads beyond the OSM extract);
- ``settlements``: HOT OSM populated places (ODbL 1.0) with names, population,
  oblast district and a footprint radius;
- ``oblast_districts``: geoBoundaries KAZ ADM2 2017 (OSM-derived, ODbL 1.0)
  units meeting the study area, with the real city cut out;
- ``airports``: aerodromes of the 2012 OSM extract (CC BY-SA 2.0).

Then it re-aligns the hand-drawn layers with the real districts and
settlements (see :func:`realign_hand_drawn`). It prints what it did. It needs
``pyflwdir`` and ``iuliia`` (``pip install -e '.[build]'``); users and tests do not.
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import re
import sys
import warnings
import zipfile
from collections import OrderedDict
from pathlib import Path

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pyogrio
import rasterio
import shapely
import shapely.affinity
import shapely.ops
from pyproj import Transformer
from rasterio.fill import fillnodata
from rasterio.merge import merge
from rasterio.transform import from_origin
from rasterio.warp import Resampling, reproject
from scipy.spatial import cKDTree

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from geo_almaty import settings  # noqa: E402
from geo_almaty.apportion import largest_remainder  # noqa: E402

UTM = settings.ANALYSIS_CRS
WGS84 = settings.GEOGRAPHIC_CRS
DECIMALS = 5
#: Every district must keep at least this IoU with the OSM source after simplification.
MIN_DISTRICT_IOU = 0.99
#: The simplification search stops at this IoU, leaving a margin above MIN_DISTRICT_IOU.
TARGET_DISTRICT_IOU = 0.995
#: Margin (m) of real city kept inside the study area.
CITY_MARGIN_M = 5_000.0
#: DEM pixel size (m) in EPSG:32643; SRTM 3" is about 70 m x 93 m here.
DEM_PIXEL_M = 90.0
DEM_NODATA = -32768
#: Streams drain at least this upstream area (km2).
STREAM_MIN_UPAREA_KM2 = 10.0
#: Streams draining at least this much are class "river".
RIVER_MIN_UPAREA_KM2 = 100.0

LOG: list[str] = []


def say(message: str) -> None:
    """Print and remember one line of what the build did."""
    print(message)
    LOG.append(message)


# --- writing -----------------------------------------------------------------------------------

def _round_coords(value):
    if isinstance(value, float):
        return round(value, DECIMALS)
    return [_round_coords(v) for v in value]


#: Columns written as whole numbers (pandas may hold them as floats next to missing values).
INT_COLUMNS = {"lanes", "population", "kontur_population", "population_year"}


def _json_value(value, column: str = ""):
    if isinstance(value, (float, np.floating)) and column in INT_COLUMNS and not math.isnan(value):
        return int(value)
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if value is pd.NA:
        return None
    return value


def write_geojson(frame: gpd.GeoDataFrame, path: Path, columns: list[str]) -> None:
    """One feature per line, compact, EPSG:4326, 5 decimals; identical input gives identical bytes."""
    frame = frame.to_crs(WGS84)
    geoms = shapely.set_precision(frame.geometry.values, 10 ** -DECIMALS, mode="pointwise")
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():  # rounding can fold a thin part: snap those few features with a valid-output rounding
        geoms[invalid] = [_polygonal(shapely.make_valid(g), min_area=0.0) for g in geoms[invalid]]
    lines = []
    for (_, row), geom in zip(frame.iterrows(), geoms):
        if geom is None or geom.is_empty:
            raise ValueError(f"{path.name}: empty geometry for {row[columns[0]]}")
        if geom.geom_type in ("Polygon", "MultiPolygon"):
            geom = shapely.orient_polygons(geom) if hasattr(shapely, "orient_polygons") else shapely.geometry.polygon.orient(geom)
        geometry = json.loads(shapely.to_geojson(geom))
        geometry["coordinates"] = _round_coords(geometry["coordinates"])
        props = OrderedDict((c, v) for c in columns if (v := _json_value(row[c], c)) is not None)  # absent = null
        feature = {"type": "Feature", "properties": props, "geometry": geometry}
        lines.append(json.dumps(feature, ensure_ascii=False, separators=(",", ":"), allow_nan=False))
    text = '{"type":"FeatureCollection","name":"%s","features":[\n' % path.stem + ",\n".join(lines) + "\n]}\n"
    path.write_text(text, encoding="utf-8")
    say(f"  wrote {path.name}: {len(frame)} features, {path.stat().st_size:,} bytes")


def read_embedded(out: Path, name: str) -> gpd.GeoDataFrame:
    """An embedded layer as written (EPSG:4326 file) in EPSG:32643."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = gpd.read_file(out / f"{name}.geojson").to_crs(UTM)
    frame["geometry"] = shapely.make_valid(frame.geometry.values)
    return frame


def iou(a: shapely.Geometry, b: shapely.Geometry) -> float:
    """Intersection over union of two areal geometries."""
    return float(shapely.area(shapely.intersection(a, b)) / shapely.area(shapely.union(a, b)))


# --- districts, city, study area ----------------------------------------------------------------

DISTRICT_IDS = {"Alatau": "alatau", "Almaly": "almaly", "Auezov": "auezov", "Bostandyq": "bostandyk", "Medeu": "medeu",
                "Nauryzbay": "nauryzbay", "Turksib": "turksib", "Zhetysu": "zhetysu"}
#: Retrieval date of the official district figures: the reference table gives none; the same
#: repository's city totals are dated 2026-02-01, and the gov.kz district pages do not date theirs.
POPULATION_YEAR = 2026


def build_districts(geodata: Path, out: Path) -> gpd.GeoDataFrame:
    say("districts: OSM boundaries (akilbekov_osm_districts, 2017), Kazakh names (almaty_health), official populations (messer490)")
    src = gpd.read_file(geodata / "akilbekov_osm_districts" / "almaty-districts.geo.json").to_crs(UTM)
    kk = gpd.read_file(geodata / "almaty_health" / "districts.geojson")
    kk_names = dict(zip(kk["name_ru"], kk["name_kz"].str.replace("Ə", "Ә").str.replace("ə", "ә")))
    official = pd.read_csv(geodata / "messer490_district_population" / "almaty_district_population_reference_v2.csv")
    src = src.sort_values("name").reset_index(drop=True)
    geoms = shapely.make_valid(src.geometry.values)
    tolerance = _coverage_tolerance(geoms)
    simplified = shapely.coverage_simplify(geoms, tolerance)
    scores = [iou(a, b) for a, b in zip(simplified, geoms)]
    say(f"  coverage simplification tolerance {tolerance:.0f} m; IoU with OSM {min(scores):.4f}-{max(scores):.4f}")
    rows = []
    for i, row in src.iterrows():
        name_en = row["name"]
        tokens = official[official["osm_match_tokens"].str.split("|").map(lambda t, n=name_en: n in t or n.replace("q", "k") in t)]
        if len(tokens) != 1:
            raise ValueError(f"no unique official population for {name_en}")
        ref = tokens.iloc[0]
        precision = str(ref["source_precision"])
        note = "at least (the page says 'more than')" if precision == "lower_bound" else "as stated"
        rows.append({
            "district_id": DISTRICT_IDS[name_en], "name_ru": row["nameRu"], "name_kk": kk_names[row["nameRu"]],
            "name_en": f"{name_en} district", "population": int(ref["official_population"]), "population_year": POPULATION_YEAR,
            "population_precision": precision,
            "population_source": f"{ref['source_url']} ({ref['source_name']}; {note}; quoted in Messer490/city1-kazakhstan-proxy-population "
                                 f"commit 92cc78d, retrieved about 2026; the page does not date the figure)",
            "osm_relation": str(row["osm-relation-id"]),
            "source": f"© OpenStreetMap contributors (ODbL 1.0): relation {row['osm-relation-id']} via akilbekov/almaty.geo.json (2017 snapshot); "
                      f"coverage-simplified {tolerance:.0f} m, IoU {scores[i]:.4f} with the source",
            "accuracy_m": float(max(tolerance, 20.0)),
            "geometry": simplified[i],
        })
    frame = gpd.GeoDataFrame(rows, crs=UTM).sort_values("district_id").reset_index(drop=True)
    write_geojson(frame, out / "districts.geojson", [c for c in frame.columns if c != "geometry"])
    lower = frame.loc[frame.population_precision == "lower_bound", "name_en"].tolist()
    say(f"  populations sum to {frame.population.sum():,} ({', '.join(lower)} are lower bounds)")
    return read_embedded(out, "districts")


def _coverage_tolerance(geoms: np.ndarray) -> float:
    """Largest coverage-simplification tolerance (m, 1 m steps) keeping every district at TARGET_DISTRICT_IOU."""
    low, high = 0.0, 400.0
    while high - low > 1.0:
        mid = (low + high) / 2
        simplified = shapely.coverage_simplify(geoms, mid)
        if min(iou(a, b) for a, b in zip(simplified, geoms)) >= TARGET_DISTRICT_IOU:
            low = mid
        else:
            high = mid
    return float(math.floor(low))


def build_city(geodata: Path, out: Path, districts: gpd.GeoDataFrame) -> shapely.Geometry:
    say("city_boundary: the union of the embedded districts (OSM relation 2465058 for the check)")
    osm = gpd.read_file(geodata / "akilbekov_osm_districts" / "almaty.geo.json").to_crs(UTM).geometry.iloc[0]
    union = shapely.union_all(districts.geometry.values)
    score = iou(union, osm)
    if score < MIN_DISTRICT_IOU:
        raise ValueError(f"city IoU {score:.4f}")
    frame = gpd.GeoDataFrame([{
        "boundary_id": "almaty_city", "name_ru": "город Алматы", "name_kk": "Алматы қаласы", "name_en": "Almaty city",
        "source": f"© OpenStreetMap contributors (ODbL 1.0): union of the 8 district relations (akilbekov/almaty.geo.json, 2017); "
                  f"IoU {score:.4f} with city relation 2465058; area {union.area / 1e6:.1f} km2",
        "accuracy_m": float(districts.accuracy_m.max()), "geometry": union}], crs=UTM)
    write_geojson(frame, out / "city_boundary.geojson", [c for c in frame.columns if c != "geometry"])
    say(f"  IoU with the OSM city relation {score:.4f}; {union.area / 1e6:.1f} km2")
    return read_embedded(out, "city_boundary").geometry.iloc[0]


def build_study_area(out: Path, city: shapely.Geometry) -> shapely.Geometry:
    """The hand-drawn agglomeration ring, joined with the real city plus CITY_MARGIN_M (idempotent)."""
    current = read_embedded(out, "study_area")
    ring = current.geometry.iloc[0]
    grown = shapely.union(ring, city.buffer(CITY_MARGIN_M, quad_segs=8)).simplify(200)
    grown = shapely.Polygon(grown.exterior) if grown.geom_type == "Polygon" else grown
    added = grown.difference(ring).area / 1e6
    say(f"study_area: the hand-drawn ring kept and joined with the real city + {CITY_MARGIN_M / 1000:.0f} km (adds {added:.1f} km2; "
        f"{grown.area / 1e6:,.0f} km2 in all)")
    row = current.iloc[0].to_dict()
    base_source = row["source"].split(" | ")[0]
    row["source"] = (f"{base_source} | joined with the OSM city boundary (ODbL 1.0) buffered by {CITY_MARGIN_M / 1000:.0f} km "
                     "so the real city keeps a ring around it")
    row["geometry"] = grown
    frame = gpd.GeoDataFrame([row], crs=UTM)
    write_geojson(frame, out / "study_area.geojson", ["area_id", "name_ru", "name_kk", "name_en", "source", "accuracy_m"])
    return read_embedded(out, "study_area").geometry.iloc[0]


# --- population ---------------------------------------------------------------------------------

KONTUR_ACCURACY_M = 500.0


def build_population(geodata: Path, out: Path, area: shapely.Geometry, districts: gpd.GeoDataFrame) -> None:
    say("population: Kontur Population 2023-11-01, H3 res 8 (CC BY 4.0), rescaled per district to the official populations")
    table = pd.read_csv(geodata / "kontur_population_h3" / "kontur_pop_20231101_h3r8_almaty_bbox.csv", dtype={"h3": str})
    table = table.sort_values("h3").reset_index(drop=True)
    rings = [np.array(h3.cell_to_boundary(c))[:, ::-1] for c in table["h3"]]
    polygons = shapely.polygons([np.vstack([r, r[:1]]) for r in rings])
    cells = gpd.GeoDataFrame(table, geometry=polygons, crs=WGS84).to_crs(UTM)
    cells = cells[shapely.intersects(cells.geometry.values, area)].reset_index(drop=True)
    centres = gpd.GeoSeries(gpd.points_from_xy(cells["lon"], cells["lat"]), crs=WGS84).to_crs(UTM).values
    owner = np.full(len(cells), "", dtype=object)
    tree = shapely.STRtree(districts.geometry.values)
    idx_cell, idx_district = tree.query(centres, predicate="within")
    owner[idx_cell] = districts["district_id"].to_numpy()[idx_district]
    people = cells["population"].to_numpy(np.int64)
    scaled = people.copy()
    for district in districts.itertuples():
        mask = owner == district.district_id
        before = int(people[mask].sum())
        scaled[mask] = largest_remainder(int(district.population), people[mask].astype(float))
        say(f"  {district.name_en}: Kontur {before:,} -> official {district.population:,} (x{district.population / before:.2f}, {int(mask.sum())} cells)")
    outside = owner == ""
    say(f"  outside the city: {int(outside.sum())} cells keep Kontur's {int(people[outside].sum()):,} people")
    frame = gpd.GeoDataFrame({
        "cell_id": cells["h3"], "population": scaled, "kontur_population": people, "district_id": np.where(outside, None, owner),
        "source": np.where(outside, "Kontur 2023-11-01 (CC BY 4.0)", "Kontur 2023-11-01 (CC BY 4.0), rescaled to district"),
        "accuracy_m": KONTUR_ACCURACY_M,
    }, geometry=cells.geometry.values, crs=UTM)
    write_geojson(frame, out / "population.geojson", ["cell_id", "population", "kontur_population", "district_id", "source", "accuracy_m"])


# --- DEM --------------------------------------------------------------------------------------

DEM_FILE = "dem_srtm3_32643.tif"


def build_dem(geodata: Path, out: Path, area: shapely.Geometry) -> tuple[np.ndarray, rasterio.Affine]:
    """SRTM 3" tiles merged, voids filled, reprojected to EPSG:32643 on a 90 m grid over the study area."""
    say("dem: SRTM 3\" v2.1 tiles N42E076, N42E077, N43E076, N43E077 (public domain), voids filled, EPSG:32643, 90 m")
    folder = geodata / "srtm3_kairzhan"
    paths = [f"/vsizip/{folder / name}.hgt.zip/{name}.hgt" for name in ("N42E076", "N42E077", "N43E076", "N43E077")]
    sources = [rasterio.open(p) for p in paths]
    try:
        mosaic, transform = merge(sources, nodata=DEM_NODATA)
        crs = sources[0].crs
    finally:
        for s in sources:
            s.close()
    data = mosaic[0].astype(np.float32)
    valid = data != DEM_NODATA
    say(f"  {int((~valid).sum()):,} void pixels filled by inverse-distance interpolation (rasterio.fill.fillnodata)")
    filled = fillnodata(data, mask=valid.astype(np.uint8), max_search_distance=200, smoothing_iterations=0)
    x0, y0, x1, y1 = area.buffer(2 * DEM_PIXEL_M).bounds
    x0, y0 = math.floor(x0 / DEM_PIXEL_M) * DEM_PIXEL_M, math.floor(y0 / DEM_PIXEL_M) * DEM_PIXEL_M
    x1, y1 = math.ceil(x1 / DEM_PIXEL_M) * DEM_PIXEL_M, math.ceil(y1 / DEM_PIXEL_M) * DEM_PIXEL_M
    width, height = int(round((x1 - x0) / DEM_PIXEL_M)), int(round((y1 - y0) / DEM_PIXEL_M))
    dst_transform = from_origin(x0, y1, DEM_PIXEL_M, DEM_PIXEL_M)
    dem = np.full((height, width), np.nan, dtype=np.float32)
    reproject(filled, dem, src_transform=transform, src_crs=crs, src_nodata=None, dst_transform=dst_transform, dst_crs=UTM,
              dst_nodata=np.nan, resampling=Resampling.bilinear)
    from rasterio.features import geometry_mask

    outside = geometry_mask([area.buffer(DEM_PIXEL_M)], out_shape=dem.shape, transform=dst_transform)
    values = np.where(outside | ~np.isfinite(dem), DEM_NODATA, np.round(dem)).astype(np.int16)
    profile = {"driver": "GTiff", "width": width, "height": height, "count": 1, "dtype": "int16", "crs": UTM,
               "transform": dst_transform, "nodata": DEM_NODATA, "tiled": True, "blockxsize": 256, "blockysize": 256,
               "compress": "deflate", "predictor": 2, "zlevel": 9}
    path = out / DEM_FILE
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values, 1)
        dst.update_tags(SOURCE="NASA SRTM 3 arc-second v2.1 (USGS), public domain; tiles N42E076 N42E077 N43E076 N43E077; "
                               "voids filled (rasterio fillnodata); bilinear to EPSG:32643 90 m; clipped to the study area",
                        VERTICAL="metres above the EGM96 geoid")
    inside = values[values != DEM_NODATA]
    say(f"  wrote {path.name}: {width}x{height} px, {inside.min()}-{inside.max()} m, {path.stat().st_size:,} bytes")
    return dem, dst_transform


# --- roads --------------------------------------------------------------------------------------

ROAD_RANK = ["motorway", "trunk", "primary", "secondary", "tertiary"]
OSM_ROAD_ACCURACY_M = 10.0
#: Kazakhstan's default urban speed limit (traffic rules, settlements: 60 km/h), for maxspeed=RU:urban.
URBAN_DEFAULT_KMH = 60.0
_KAZAKH = re.compile(r"[әғқңөұүһіӘҒҚҢӨҰҮҺІ]|көшесі|даңғылы|жолы|айналма")
HAND_DRAWN_ROAD_CLASSES = set(ROAD_RANK)


def _first_number(text: object, pick=min) -> float | None:
    """A number from an OSM value such as '60', '4, 6' or 'RU:urban' (lists give ``pick`` of their values)."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None
    if isinstance(text, (int, float)):
        return float(text)
    values = []
    for part in str(text).split(","):
        part = part.strip()
        if part.upper() == "RU:URBAN":
            values.append(URBAN_DEFAULT_KMH)
        elif re.fullmatch(r"\d+(\.\d+)?", part):
            values.append(float(part))
    return pick(values) if values else None


def _clean_text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = " ".join(str(value).split())
    return text or None


#: The city's current OSM roads (kvozianov) cover the area within this distance (m) of them, holes filled;
#: the 2012 extract supplies the roads outside it, so the two sources never draw the same road twice.
CITY_COVERAGE_M = 400.0
#: A 2012 road cut at the edge of that coverage is joined to the nearest city-road vertex within this (m).
CITY_JOIN_M = 1_000.0
#: OSM ``highway`` values of the 2012 extract kept as regional roads -> their class (links folded in).
REGIONAL_HIGHWAYS = {h: base for base in ROAD_RANK for h in (base, f"{base}_link")} | {"unclassified": "unclassified"}
#: 2012 roads were traced from aerial imagery; some have been rebuilt since (m).
OSM2012_ROAD_ACCURACY_M = 20.0
#: Regional roads are kept this far (m) beyond the study area, for routes that leave it and come back.
ROAD_MARGIN_M = 5_000.0
#: OSM 2012 maxspeed values outside this range (km/h) are tagging errors (one way says 3) and are dropped.
MAXSPEED_RANGE_KMH = (5.0, 140.0)
LICENCE_ODBL, LICENCE_CC_BY_SA = "ODbL 1.0", "CC BY-SA 2.0"
LICENCE_SKETCH = "geo_almaty sketch (MIT)"
#: Hand-drawn roads that opened after the 2012 extract (public knowledge): kept even where 2012 roads run near.
OPENED_AFTER_2012 = {"rd_bakad": "opened 2023"}
#: Hand-drawn stretches shorter than this (m) are dropped once the real roads are taken out.
MIN_HAND_STRETCH_M = 2_000.0
#: Hand-drawn ends join the nearest real-road vertex within this distance (m); accuracy_m is raised to the gap.
HAND_JOIN_MAX_M = 3_000.0
#: Real roads of these classes crossing a kept hand-drawn road are its junctions (interchanges of BAKAD).
HAND_JUNCTION_CLASSES = ("motorway", "trunk", "primary")
#: Marker of a hand-drawn road already cut and joined by this build (a re-run keeps it as it is).
HAND_KEPT_NOTE = "kept only where neither OSM source has a road"
#: Ids of the roads this build makes from the sources (the rest of the layer is the hand-drawn sketch).
BUILT_ROAD_IDS = ("osm_", "osm12_", "join_")
ROAD_COLUMNS = ["road_id", "class", "name_ru", "name_kk", "name_en", "link", "oneway", "maxspeed", "lanes", "osm_id", "source", "licence",
                "accuracy_m"]


def build_roads(geodata: Path, out: Path, area: shapely.Geometry, osm2012: Path) -> gpd.GeoDataFrame:
    """The roads layer from three sources, each where it is the best there is, joined into one network:

    1. the city: current OSM main roads (kvozianov, ODbL 1.0), unchanged;
    2. the rest of the 2012 extract: its main and unclassified roads (CC BY-SA 2.0) farther than
       CITY_COVERAGE_M from every city road; each end cut at that edge is extended to the nearest
       city-road vertex (within CITY_JOIN_M), so the network builder needs no large snapping tolerance;
    3. hand-drawn lines where neither source has a road (beyond the 2012 extract, roads opened since),
       joined at their ends and crossings to real-road vertices; planned lines and railways as before.
    """
    say("roads: city OSM main roads (kvozianov, ODbL 1.0) + 2012 OSM regional roads (CC BY-SA 2.0) + hand-drawn lines where neither has a road")
    city_roads = _city_roads(geodata)
    coverage = _city_road_coverage(city_roads)
    say(f"  the city roads cover {coverage.area / 1e6:,.0f} km2 (within {CITY_COVERAGE_M:.0f} m of them, holes filled)")
    regional, extent = _regional_roads(osm2012, area, coverage, city_roads)
    real = gpd.GeoDataFrame(pd.concat([city_roads, regional], ignore_index=True), geometry="geometry", crs=WGS84)
    joins = _dead_end_joins(real, extent)
    real = gpd.GeoDataFrame(pd.concat([real, joins], ignore_index=True), geometry="geometry", crs=WGS84)
    hand = _hand_drawn_roads(out, coverage, extent, real, osm2012)
    frame = gpd.GeoDataFrame(pd.concat([real, hand], ignore_index=True), geometry="geometry", crs=WGS84)
    km = frame.to_crs(UTM).geometry.length.groupby(frame["licence"]).sum() / 1000
    say(f"  length by licence: {', '.join(f'{k} {v:,.0f} km' for k, v in km.items())}")
    write_geojson(frame, out / "roads.geojson", ROAD_COLUMNS)
    return frame


def _city_roads(geodata: Path) -> gpd.GeoDataFrame:
    """The kvozianov osmnx drive edges (EPSG:4326, as the source: a round trip through UTM would move
    some 5-decimal endpoints by one step): one line per road, links folded into their class."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = json.loads((geodata / "kvozianov_almaty_roads" / "almaty_roads.geojson").read_text(encoding="utf-8"))
    rows = []
    for feature in raw["features"]:
        p = feature["properties"]
        classes = [c.strip() for c in str(p["highway"]).split(",")]
        base = [c.removesuffix("_link") for c in classes]
        cls = min(base, key=ROAD_RANK.index)
        name = _clean_text(p.get("name"))
        rows.append({"class": cls, "link": all(c.endswith("_link") for c in classes), "name": name,
                     "oneway": bool(p["oneway"]), "maxspeed": _first_number(p.get("maxspeed")), "lanes": _first_number(p.get("lanes")),
                     "osm_id": ";".join(x.strip() for x in str(p["osmid"]).split(",")), "geometry": shapely.geometry.shape(feature["geometry"])})
    osm = gpd.GeoDataFrame(rows, crs=WGS84)
    # Two-way roads come as twin edges (u->v and v->u): keep one, with oneway false.
    osm["key"] = [g.wkb for g in shapely.normalize(osm.geometry.values)]
    osm["reversed_twin"] = osm.duplicated("key", keep="first")
    twins = int(osm["reversed_twin"].sum())
    osm = osm[~osm["reversed_twin"]].copy()
    _split_names(osm, osm["name"], None, None, None)
    osm["lanes"] = osm["lanes"].map(lambda v: None if v is None or math.isnan(v) else int(v)).astype(object)
    osm["sort"] = [f"{c:>12}|{g.wkb_hex}" for c, g in zip(osm["osm_id"].str.split(";").str[0], osm.geometry.values)]
    osm = osm.sort_values("sort").reset_index(drop=True)
    osm["road_id"] = [f"osm_{i + 1:05d}" for i in range(len(osm))]
    osm["source"] = "OpenStreetMap (ODbL 1.0), kvozianov roads"
    osm["licence"] = LICENCE_ODBL
    osm["accuracy_m"] = OSM_ROAD_ACCURACY_M
    counts = osm["class"].value_counts().to_dict()
    say(f"  city: {len(raw['features'])} OSM edges, {twins} reverse twins dropped, {int(osm.link.sum())} links folded into their class: {counts}")
    return osm[[c for c in ROAD_COLUMNS if c in osm.columns] + ["geometry"]]


def _split_names(frame: pd.DataFrame, name: pd.Series, name_ru: pd.Series | None, name_kk: pd.Series | None,
                 name_en: pd.Series | None) -> None:
    """``name_ru``/``name_kk``/``name_en`` columns: the language tags where given, else ``name`` by its script
    (Kazakh letters or words -> kk, other Cyrillic -> ru, Latin -> en)."""
    name = name.map(_clean_text)
    kazakh = name.map(lambda n: isinstance(n, str) and bool(_KAZAKH.search(n)))
    cyrillic = name.map(lambda n: isinstance(n, str) and bool(re.search(r"[А-Яа-яЁё]", n)))
    guess = {"kk": name.where(kazakh, None), "ru": name.where(~kazakh & cyrillic, None),
             "en": name.where(name.notna() & ~cyrillic, None)}
    for lang, tagged in (("ru", name_ru), ("kk", name_kk), ("en", name_en)):
        own = tagged.map(_clean_text) if tagged is not None else pd.Series(None, index=frame.index, dtype=object)
        frame[f"name_{lang}"] = own.where(own.notna(), guess[lang]).astype(object)


def _city_road_coverage(city_roads: gpd.GeoDataFrame) -> shapely.Geometry:
    """The area (EPSG:32643) the city roads cover: within CITY_COVERAGE_M of them, holes filled."""
    lines = city_roads.to_crs(UTM).geometry.values
    grown = shapely.union_all(shapely.buffer(lines, CITY_COVERAGE_M, quad_segs=4))
    return shapely.union_all([shapely.Polygon(p.exterior) for p in shapely.get_parts(grown)])


def _to_lonlat(geom: shapely.Geometry) -> shapely.Geometry:
    """A geometry in EPSG:32643 in EPSG:4326."""
    return gpd.GeoSeries([geom], crs=UTM).to_crs(WGS84).iloc[0]


def _regional_roads(osm2012: Path, area: shapely.Geometry, coverage: shapely.Geometry,
                    city_roads: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, shapely.Geometry]:
    """The 2012 extract's regional roads outside the city roads' coverage (EPSG:4326), and the extract's extent (EPSG:32643).

    Vertices are put on the 5-decimal grid first, so clipped and whole ways keep their shared junction
    vertices exactly; ``oneway=-1`` ways are reversed; roundabouts and motorways are one-way (OSM's implied
    values). A way cut at the coverage edge is joined to the city road it leads to: among the city-road
    vertices within CITY_JOIN_M of the cut whose direction fits (a one-way road is entered and left the
    way it runs), the one closest to the way's own course beyond the cut; the way is followed to the
    point nearest that vertex and ends there with a straight extension (its length recorded in ``source``).
    """
    from geo_almaty.osm.readers import _with_hstore_keys

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lines = pyogrio.read_dataframe(osm2012, layer="lines")
    extent = gpd.GeoSeries([shapely.box(*lines.total_bounds)], crs=WGS84).to_crs(UTM).iloc[0]
    roads = lines[lines["highway"].isin(REGIONAL_HIGHWAYS)].copy()
    roads["way"] = roads["osm_id"].astype("int64")
    roads = roads.sort_values("way").reset_index(drop=True)
    keys = ["oneway", "junction", "maxspeed", "lanes", "name:ru", "name:kk", "name:en"]
    tags = _with_hstore_keys(pd.DataFrame(index=roads.index), roads["other_tags"], keys)
    geoms = shapely.set_precision(roads.geometry.values, 10 ** -DECIMALS, mode="pointwise")
    geoms = shapely.remove_repeated_points(geoms, 0.0)
    oneway_tag = tags["oneway"].fillna("").str.lower()
    backward = oneway_tag.isin(["-1", "reverse"]).to_numpy()
    implied = tags["junction"].eq("roundabout") | roads["highway"].isin(["motorway", "motorway_link"])
    forward = (oneway_tag.isin(["yes", "true", "1"]) | (implied & ~oneway_tag.isin(["no", "false", "0"]))).to_numpy()
    geoms[backward] = shapely.reverse(geoms[backward])
    say(f"  2012 extract: {len(roads)} ways ({', '.join(f'{k} {v}' for k, v in roads['highway'].value_counts().items())}); "
        f"{int((forward | backward).sum())} one-way ({int(backward.sum())} reversed for oneway=-1)")

    keep = _to_lonlat(area.buffer(ROAD_MARGIN_M).difference(coverage))
    shapely.prepare(keep)
    targets = _VertexIndex(city_roads)
    edge = coverage.boundary
    rows, joins, followed, cut_ways = [], [], [], 0
    for i, geom in enumerate(geoms):
        if shapely.get_num_coordinates(geom) < 2:
            continue
        one_way = bool(forward[i] or backward[i])
        for a, b, cut_start, cut_end in _clip_along(geom, keep):
            cut_ways += bool(cut_start or cut_end)
            notes, accuracy, ends = [], OSM2012_ROAD_ACCURACY_M, [None, None]
            for at_start, cut in ((True, cut_start), (False, cut_end)):
                at = a if at_start else b
                if not cut or shapely.distance(_point_utm(shapely.get_coordinates(shapely.line_interpolate_point(geom, at))[0]), edge) > 5.0:
                    continue
                join = _join_into_city(geom, at, at_start, targets, one_way)
                if join is None:
                    notes.append(f"{'start' if at_start else 'end'} cut at the city roads' edge: no fitting city road within {CITY_JOIN_M:,.0f} m")
                    continue
                position, target, gap, inside = join
                if at_start:
                    a = position
                else:
                    b = position
                ends[0 if at_start else 1] = target
                notes.append(f"{'start' if at_start else 'end'} joined to the city roads: followed {inside:,.0f} m further, then a straight "
                             f"{gap:,.0f} m to a city-road vertex")
                accuracy = max(accuracy, float(math.ceil(gap / 10) * 10))
                joins.append(gap)
                followed.append(inside)
            piece = geom if (a == 0 and b == geom.length) else shapely.ops.substring(geom, a, b)
            coords = shapely.get_coordinates(piece)
            if ends[0] is not None:
                coords = np.vstack([ends[0], coords])
            if ends[1] is not None:
                coords = np.vstack([coords, ends[1]])
            coords = coords[np.r_[True, np.any(np.diff(coords, axis=0) != 0, axis=1)]]
            if len(coords) < 2:
                continue
            row = roads.iloc[i]
            maxspeed = _first_number(tags.at[i, "maxspeed"])
            if maxspeed is not None and not MAXSPEED_RANGE_KMH[0] <= maxspeed <= MAXSPEED_RANGE_KMH[1]:
                say(f"  way {row['way']}: maxspeed {maxspeed:g} km/h dropped (outside {MAXSPEED_RANGE_KMH[0]:g}-{MAXSPEED_RANGE_KMH[1]:g})")
                maxspeed = None
            lanes = _first_number(tags.at[i, "lanes"])
            source = "OpenStreetMap extract of March 2012 (CC BY-SA 2.0)" + ("; cut where the city roads take over" if cut_start or cut_end else "")
            rows.append({"class": REGIONAL_HIGHWAYS[row["highway"]], "link": row["highway"].endswith("_link"), "name": row["name"],
                         "tag_ru": tags.at[i, "name:ru"], "tag_kk": tags.at[i, "name:kk"], "tag_en": tags.at[i, "name:en"],
                         "oneway": one_way, "maxspeed": maxspeed, "lanes": None if lanes is None else int(lanes),
                         "osm_id": str(row["way"]), "source": "; ".join([source, *notes]), "licence": LICENCE_CC_BY_SA,
                         "accuracy_m": accuracy, "geometry": shapely.linestrings(coords)})
    frame = gpd.GeoDataFrame(rows, crs=WGS84)
    _split_names(frame, frame["name"], frame["tag_ru"], frame["tag_kk"], frame["tag_en"])
    frame["lanes"] = frame["lanes"].astype(object)
    frame["road_id"] = [f"osm12_{i + 1:05d}" for i in range(len(frame))]
    length = frame.to_crs(UTM).geometry.length
    say(f"  regional: {len(frame)} pieces of 2012 roads kept ({length.sum() / 1000:,.0f} km; {cut_ways} cut at the city roads' edge or "
        f"{ROAD_MARGIN_M / 1000:.0f} km beyond the study area); {len(joins)} cut ends joined to the city roads: followed a median "
        f"{np.median(followed):,.0f} m into the city, then straight extensions of median {np.median(joins):,.0f} m (max {max(joins):,.0f} m)")
    return frame[[c for c in ROAD_COLUMNS if c in frame.columns] + ["geometry"]], extent


def _clip_along(line: shapely.Geometry, keep: shapely.Geometry) -> list[tuple[float, float, bool, bool]]:
    """The stretches of ``line`` inside ``keep`` as positions along it (``a`` < ``b``, in the line's own
    direction and units) and whether each start/end is a cut (not an end of ``line``)."""
    total = line.length
    if shapely.contains_properly(keep, line):
        return [(0.0, total, False, False)]
    if not shapely.intersects(keep, line):
        return []
    inside = shapely.intersection(line, keep)
    if line.is_ring:  # a closed way (roundabout) is kept whole or not at all
        return [(0.0, total, False, False)] if inside.length > total / 2 else []
    stretches = []
    for part in shapely.get_parts(inside):
        if part.geom_type != "LineString" or part.length == 0:
            continue
        a, b = sorted(shapely.line_locate_point(line, shapely.points(shapely.get_coordinates(part)[[0, -1]])))
        if b > a:
            stretches.append((float(a), float(b), a > 1e-12, b < total - 1e-12))
    return sorted(stretches)


def _join_into_city(line: shapely.Geometry, at: float, at_start: bool, targets: "_VertexIndex",
                    one_way: bool) -> tuple[float, np.ndarray, float, float] | None:
    """Where a line (EPSG:4326) cut at position ``at`` meets the city roads: (new cut position, city vertex
    (lon/lat), straight gap m, m followed beyond the cut), or None when no fitting vertex lies within CITY_JOIN_M."""
    span = CITY_JOIN_M / 80_000.0  # degrees along the line: at least CITY_JOIN_M here
    lo, hi = (max(at - span, 0.0), at) if at_start else (at, min(at + span, line.length))
    if hi <= lo:
        return None
    beyond_ll = shapely.ops.substring(line, lo, hi)
    beyond = shapely.linestrings(np.column_stack(_lonlat_to_utm().transform(*shapely.get_coordinates(beyond_ll).T)))
    cut = np.array(shapely.get_coordinates(shapely.line_interpolate_point(line, at))[0])
    flow_in = not at_start  # a one-way line flows into the city at its end and out of it at its start
    heading = _heading(shapely.get_coordinates(beyond_ll), not at_start)
    best = None
    for k in targets.candidates(cut, CITY_JOIN_M, one_way=one_way, into_target=flow_in, heading=heading):
        gap = float(shapely.distance(shapely.Point(targets.xy[k]), beyond))
        if best is None or gap < best[0] - 1e-9:
            best = (gap, k)
    if best is None:
        return None
    gap, k = best
    fraction = float(shapely.line_locate_point(beyond, shapely.Point(targets.xy[k]), normalized=True))
    position = lo + fraction * (hi - lo)
    inside = fraction * beyond.length if not at_start else (1 - fraction) * beyond.length
    return position, targets.lonlat[k].copy(), gap, inside


@functools.cache
def _lonlat_to_utm() -> Transformer:
    """EPSG:4326 -> EPSG:32643 (x = lon, y = lat)."""
    return Transformer.from_crs(WGS84, UTM, always_xy=True)


def _point_utm(lonlat: np.ndarray) -> shapely.Geometry:
    """A lon/lat pair as a point in EPSG:32643."""
    return shapely.Point(*_lonlat_to_utm().transform(float(lonlat[0]), float(lonlat[1])))


def _heading(coords: np.ndarray, at_start: bool) -> np.ndarray:
    """Unit direction (lon/lat scaled to metres) of a line at its start or end, along the line."""
    a, b = (coords[0], coords[1]) if at_start else (coords[-2], coords[-1])
    d = (b - a) * np.array([math.cos(math.radians(a[1])), 1.0])
    return d / (np.hypot(*d) or 1.0)


class _VertexIndex:
    """The vertices of road lines (EPSG:4326), for joining another road's end to one of them.

    Per point (all lines through it): whether traffic can leave it (a two-way road, or a one-way road
    that goes on from there) and enter it (a two-way road, or a one-way road that comes to it).
    """

    def __init__(self, roads: gpd.GeoDataFrame) -> None:
        coords, owner = shapely.get_coordinates(roads.geometry.values, return_index=True)
        self.lonlat = coords
        first = np.r_[True, owner[1:] != owner[:-1]]
        last = np.r_[owner[1:] != owner[:-1], True]
        oneway = roads["oneway"].fillna(False).astype(bool).to_numpy()[owner]
        _, point = np.unique(coords, axis=0, return_inverse=True)
        point = point.ravel()
        self.can_leave = np.bincount(point, weights=~oneway | ~last)[point] > 0
        self.can_enter = np.bincount(point, weights=~oneway | ~first)[point] > 0
        self.oneway = oneway
        nxt = np.where(last[:, None], coords, np.roll(coords, -1, axis=0))
        prv = np.where(first[:, None], coords, np.roll(coords, 1, axis=0))
        d = (nxt - prv) * np.column_stack([np.cos(np.radians(coords[:, 1])), np.ones(len(coords))])
        self.heading = d / np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-12)[:, None]
        classes = ROAD_RANK + ["unclassified"]
        self.rank = roads["class"].map(lambda c: classes.index(c) if c in classes else len(classes)).to_numpy()[owner]
        self.owner = owner
        self.xy = np.column_stack(_lonlat_to_utm().transform(coords[:, 0], coords[:, 1]))
        self.tree = cKDTree(self.xy)

    def candidates(self, lonlat: np.ndarray, tolerance: float, *, one_way: bool = False, into_target: bool = True,
                   heading: np.ndarray | None = None, max_rank: int | None = None, skip_owner: int | None = None) -> list[int]:
        """Fitting vertices within ``tolerance`` m of a point, nearest first.

        A two-way joining road needs a point traffic can both enter and leave. A one-way joining road
        flows into the point (``into_target``: it must be possible to leave it) or out of it (to enter
        it), and a one-way road there must run the same way (``heading``, along the joining road).
        ``max_rank``: roads of this class or higher (ROAD_RANK index) when there are any.
        """
        point = np.array(_point_utm(lonlat).coords[0])
        found = sorted(self.tree.query_ball_point(point, tolerance), key=lambda k: (float(np.hypot(*(self.xy[k] - point))), k))
        fits = []
        for k in found:
            if skip_owner is not None and self.owner[k] == skip_owner:
                continue
            if (into_target or not one_way) and not self.can_leave[k]:
                continue
            if (not into_target or not one_way) and not self.can_enter[k]:
                continue
            if one_way and heading is not None and self.oneway[k] and float(self.heading[k] @ heading) <= 0:
                continue
            fits.append(k)
        if max_rank is not None and any(self.rank[k] <= max_rank for k in fits):
            fits = [k for k in fits if self.rank[k] <= max_rank]
        return fits

    def nearest(self, lonlat: np.ndarray, tolerance: float, **fit) -> tuple[np.ndarray | None, float]:
        """The nearest fitting vertex (lon/lat) and its distance (m); (None, inf) when none fits (see :meth:`candidates`)."""
        fits = self.candidates(lonlat, tolerance, **fit)
        if not fits:
            return None, math.inf
        return self.lonlat[fits[0]].copy(), float(np.hypot(*(self.xy[fits[0]] - np.array(_point_utm(lonlat).coords[0]))))


#: One-way roads that stop without a continuation in the data (a dual carriageway cut by the 2012 extract's
#: edge, a ramp onto a street the city data leaves out) are joined to the nearest road they can go on to
#: (or come from) within this distance (m).
DEAD_END_JOIN_M = 150.0
#: The same within this distance (m) for ends near the 2012 extract's edge (EDGE_ZONE_M), where the extract
#: cut the two carriageways of a road at different nodes (the last node kept can lie far from the edge).
EDGE_JOIN_M = 500.0
EDGE_ZONE_M = 2_000.0


def _dead_end_joins(real: gpd.GeoDataFrame, extent: shapely.Geometry) -> gpd.GeoDataFrame:
    """One-way connectors (EPSG:4326) from every one-way road that stops without a continuation to the
    nearest point within DEAD_END_JOIN_M (EDGE_JOIN_M near the extract's edge) it can go on from (and to
    every one-way road that starts without one, from the nearest point it can be reached from); recorded
    as ``join_*`` features."""
    index = _VertexIndex(real)
    coords, owner = index.lonlat, index.owner
    _, point = np.unique(coords, axis=0, return_inverse=True)
    point = point.ravel()
    alone = np.bincount(point)[point] == 1
    first = np.r_[True, owner[1:] != owner[:-1]]
    last = np.r_[owner[1:] != owner[:-1], True]
    rows, seen = [], set()
    for k in np.flatnonzero(alone & index.oneway & (first | last)):
        sink = bool(last[k])  # the road ends here: join it to a point it can go on from
        # no heading rule: turning back onto the other carriageway is what a cut dual carriageway needs
        at_edge = shapely.distance(shapely.Point(index.xy[k]), extent.exterior) < EDGE_ZONE_M
        fits = index.candidates(coords[k], EDGE_JOIN_M if at_edge else DEAD_END_JOIN_M, one_way=True, into_target=sink,
                                skip_owner=int(owner[k]))
        if not fits:
            continue
        j = fits[0]
        ends = (coords[k], coords[j]) if sink else (coords[j], coords[k])
        key = (tuple(ends[0]), tuple(ends[1]))
        if key in seen:
            continue
        seen.add(key)
        road = real.iloc[int(owner[k])]
        gap = float(np.hypot(*(index.xy[j] - index.xy[k])))
        rows.append({"class": road["class"], "link": True, "oneway": True,
                     "source": f"join made by the build: one-way road {road['road_id']} {'ends' if sink else 'starts'} without a continuation in "
                               f"the data; a straight {gap:,.0f} m one-way link {'to' if sink else 'from'} the nearest road it can "
                               f"{'go on' if sink else 'come from'}",
                     "licence": road["licence"], "accuracy_m": float(max(math.ceil(gap / 10) * 10, road["accuracy_m"])),
                     "geometry": shapely.linestrings(np.array(ends)), "_sort": (road["road_id"], sink)})
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=WGS84) if rows else gpd.GeoDataFrame(columns=["geometry"], geometry="geometry", crs=WGS84)
    if rows:
        frame = frame.sort_values("_sort").drop(columns="_sort").reset_index(drop=True)
        frame["road_id"] = [f"join_{i + 1:04d}" for i in range(len(frame))]
    say(f"  {len(frame)} one-way roads that stop without a continuation joined to the nearest road within {DEAD_END_JOIN_M:.0f} m "
        f"({EDGE_JOIN_M:.0f} m at the 2012 extract's edge) "
        f"({int((alone & index.oneway & (first | last)).sum())} such ends)")
    return frame


def _hand_drawn_roads(out: Path, coverage: shapely.Geometry, extent: shapely.Geometry, real: gpd.GeoDataFrame,
                      osm2012: Path) -> gpd.GeoDataFrame:
    """The hand-drawn lines (EPSG:4326): drivable roads only where neither OSM source has a road, joined to the
    real roads; railways checked against the 2012 OSM railways; planned lines as drawn (idempotent)."""
    hand = read_embedded(out, "roads")
    hand = hand[~hand["road_id"].str.startswith(BUILT_ROAD_IDS)].copy()
    real_utm = real.to_crs(UTM)
    real_tree = shapely.STRtree(real_utm.geometry.values)
    vertices = _VertexIndex(real)
    main = real_utm[real_utm["class"].isin(HAND_JUNCTION_CLASSES)]
    rail = _osm2012_lines(osm2012, "railway", ("rail", "subway"))
    rail_union = shapely.union_all(rail.geometry.values)
    say(f"  2012 OSM railway lines for the check: {rail['railway'].value_counts().to_dict()}")
    kept = []
    for record in hand.to_dict("records"):
        row = pd.Series(record)
        cls = record["class"]
        base_source = str(row.source).split(" | ")[0]
        record["licence"] = LICENCE_SKETCH
        if cls in HAND_DRAWN_ROAD_CLASSES:
            if HAND_KEPT_NOTE in str(row.source):  # already cut and joined by an earlier run
                kept.append({**record, "geometry": _to_lonlat(record["geometry"])})
                continue
            kept += _hand_drawn_road(record, base_source, coverage, extent, real_utm, real_tree, vertices, main)
            continue
        if " | hand-drawn" in str(row.source):  # already processed by an earlier run
            kept.append({**record, "geometry": _to_lonlat(record["geometry"])})
            continue
        offset = _p90_offset(row.geometry.intersection(rail_union.envelope), rail_union) if cls == "rail" else None
        accuracy = max(float(row.accuracy_m), math.ceil((offset or 0) / 100) * 100)
        note = (f"hand-drawn; p90 offset from the 2012 OSM railway lines {offset:,.0f} m" if offset
                else "hand-drawn, illustrative alignment")
        if accuracy != row.accuracy_m:
            say(f"  {row.road_id} ({cls}): accuracy_m {row.accuracy_m:,.0f} -> {accuracy:,.0f}")
        record.update(accuracy_m=accuracy, source=f"{base_source} | {note}", geometry=_to_lonlat(record["geometry"]))
        kept.append(record)
    frame = gpd.GeoDataFrame(kept, geometry="geometry", crs=WGS84)
    say(f"  {len(frame)} hand-drawn lines kept ({', '.join(sorted(frame['class'].unique()))})")
    return frame


def _hand_drawn_road(record: dict, base_source: str, coverage: shapely.Geometry, extent: shapely.Geometry, real_utm: gpd.GeoDataFrame,
                     real_tree: shapely.STRtree, vertices: "_VertexIndex", main: gpd.GeoDataFrame) -> list[dict]:
    """One hand-drawn road cut to where neither source has a road and joined to the real roads (EPSG:4326 records).

    Inside the 2012 extract a stretch is dropped where a real road lies within the line's own accuracy_m
    (the sketch drew that road), unless the road opened after 2012 (OPENED_AFTER_2012). Kept stretches of at
    least MIN_HAND_STRETCH_M get their ends extended to the nearest real-road vertex within their accuracy
    (at most HAND_JOIN_MAX_M; roads of the same class or higher first), and a vertex of every real main road
    (HAND_JUNCTION_CLASSES) they cross, its junction.
    """
    road_id, cls, accuracy = record["road_id"], record["class"], float(record["accuracy_m"])
    geom = shapely.difference(record["geometry"], coverage)
    inside = shapely.intersection(geom, extent)
    offset = _p90_offset(inside, shapely.union_all(real_utm.geometry.values[real_tree.query(inside, predicate="dwithin", distance=5_000)])) \
        if inside.length > 1000 else None
    after = OPENED_AFTER_2012.get(road_id)
    stretches = []
    for part in shapely.get_parts(shapely.line_merge(geom) if geom.geom_type == "MultiLineString" else geom):
        if part.geom_type != "LineString":
            continue
        stretches += [part] if after else _stretches_without_road(part, extent, real_utm, real_tree, accuracy)
    stretches = [s for s in stretches if s.length >= MIN_HAND_STRETCH_M]
    if not stretches:
        where = f"p90 offset {offset:,.0f} m inside the 2012 extract" if offset is not None else "under 1 km of it inside the 2012 extract"
        say(f"  {road_id} ({cls}) dropped: the OSM roads have it ({where})")
        return []
    rank = (ROAD_RANK + ["unclassified"]).index(cls)
    records = []
    for n, stretch in enumerate(stretches):
        lonlat = shapely.get_coordinates(_to_lonlat(stretch))
        along = [float(shapely.line_locate_point(stretch, shapely.Point(c))) for c in shapely.get_coordinates(stretch)]
        points = list(zip(along, map(tuple, lonlat)))
        crossings = 0
        for k in main.sindex.query(stretch, predicate="crosses"):
            other = main.geometry.values[k]
            for p in shapely.get_parts(shapely.intersection(stretch, other)):
                if p.geom_type != "Point":
                    continue
                q = shapely.get_coordinates(other)
                nearest = int(np.argmin(np.hypot(q[:, 0] - p.x, q[:, 1] - p.y)))
                target = vertices.lonlat[int(np.argmin(np.hypot(*(vertices.xy - q[nearest]).T)))]
                points.append((float(shapely.line_locate_point(stretch, p)), tuple(target)))
                crossings += 1
        points.sort()
        coords = np.array([c for _, c in points])
        joined = []
        for at_start in (True, False):
            end = coords[0] if at_start else coords[-1]
            target, gap = vertices.nearest(end, HAND_JOIN_MAX_M, max_rank=rank + 1)
            if target is None:
                continue
            accuracy = max(accuracy, float(math.ceil(gap / 100) * 100))
            coords = np.vstack([target, coords]) if at_start else np.vstack([coords, target])
            joined.append(f"{'start' if at_start else 'end'} {gap:,.0f} m")
        coords = coords[np.r_[True, np.any(np.diff(coords, axis=0) != 0, axis=1)]]
        notes = [f"hand-drawn; {HAND_KEPT_NOTE}" + (f" ({after}, after the 2012 extract)" if after else
                                                      " (beyond the 2012 extract, or farther than its accuracy from every OSM road)")]
        if offset is not None:
            notes.append(f"inside the 2012 extract its p90 offset from the OSM roads is {offset:,.0f} m")
        if joined:
            notes.append("joined to the nearest OSM road vertex: " + ", ".join(joined))
        if crossings:
            notes.append(f"{crossings} junction(s) at the OSM main roads it crosses (positions approximate)")
        records.append({**record, "road_id": road_id if n == 0 else f"{road_id}_{n + 1}", "geometry": shapely.linestrings(coords),
                        "accuracy_m": accuracy,
                        "source": f"{base_source} | {'; '.join(notes)}", "licence": LICENCE_SKETCH})
    say(f"  {road_id} ({cls}): {sum(s.length for s in stretches) / 1000:,.1f} km kept in {len(stretches)} stretch(es)"
        + (f"; p90 offset {offset:,.0f} m from the OSM roads inside the 2012 extract" if offset is not None else ""))
    return records


def _stretches_without_road(line: shapely.Geometry, extent: shapely.Geometry, real_utm: gpd.GeoDataFrame, real_tree: shapely.STRtree,
                            distance: float) -> list[shapely.Geometry]:
    """The stretches of ``line`` (EPSG:32643) outside ``extent`` or farther than ``distance`` from every real road."""
    if line.length == 0:
        return []
    steps = np.arange(0.0, line.length + OFFSET_STEP_M, OFFSET_STEP_M).clip(max=line.length)
    points = shapely.line_interpolate_point(line, steps)
    which, _ = real_tree.query(points, predicate="dwithin", distance=distance)
    covered = np.zeros(len(points), bool)
    covered[which] = True
    covered &= shapely.contains_xy(extent, shapely.get_x(points), shapely.get_y(points))
    stretches, start = [], None
    for k, c in enumerate(np.r_[covered, True]):
        if not c and start is None:
            start = k
        elif c and start is not None:
            a, b = steps[start], (steps[k - 1] if k < len(steps) else line.length)
            if b > a:
                stretches.append(shapely.ops.substring(line, a, b))
            start = None
    return stretches


def _p90_offset(line: shapely.Geometry, reference: shapely.Geometry) -> float | None:
    """90th percentile (m) of the distance from points every 50 m along ``line`` to ``reference``."""
    if line.is_empty or line.length == 0:
        return None
    points = shapely.points(shapely.get_coordinates(shapely.segmentize(line, OFFSET_STEP_M)))
    return float(np.percentile(shapely.distance(points, reference), 90))


def _osm2012_lines(path: Path, column: str, values: tuple[str, ...] | None = None) -> gpd.GeoDataFrame:
    """Lines of the 2012 OSM extract with ``column`` set (optionally to one of ``values``), in EPSG:32643."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lines = pyogrio.read_dataframe(path, layer="lines")
    lines = lines[lines[column].notna()]
    if values:
        lines = lines[lines[column].isin(values)]
    return lines.to_crs(UTM).reset_index(drop=True)


# --- oblast districts, settlements, airports ----------------------------------------------------

OBLAST_DISTRICTS = {  # geoBoundaries shapeName -> id, ru, kk, en (names: public facts)
    "Karasayskiy": ("karasai", "Карасайский район", "Қарасай ауданы", "Karasai district"),
    "Iliyskiy": ("ili", "Илийский район", "Іле ауданы", "Ili district"),
    "Talgarskiy": ("talgar", "Талгарский район", "Талғар ауданы", "Talgar district"),
    "Enbekshikazakhskiy": ("enbekshikazakh", "Енбекшиказахский район", "Еңбекшіқазақ ауданы", "Enbekshikazakh district"),
    "Zhambylskiy": ("zhambyl", "Жамбылский район", "Жамбыл ауданы", "Zhambyl district"),
    "Raiymbekskiy": ("raiymbek", "Райымбекский район", "Райымбек ауданы", "Raiymbek district"),
    "Kapshagay": ("konaev", "городская администрация Конаев (Капшагай)", "Қонаев (Қапшағай) қалалық әкімдігі", "Konaev (Kapshagay) city administration"),
}
#: Oblast districts are clipped to this margin (m) around the study area.
UNIT_MARGIN_M = 20_000.0
GEOBOUNDARIES_SOURCE = ("© OpenStreetMap contributors (ODbL 1.0) via geoBoundaries gbOpen KAZ ADM2 2017 (Runfola et al. 2020, "
                        "boundary KAZ-ADM2-9891525, source OSM/Wambacher)")


def build_oblast_districts(geodata: Path, out: Path, area: shapely.Geometry, city: shapely.Geometry) -> gpd.GeoDataFrame:
    say("oblast_districts: geoBoundaries KAZ ADM2 2017 (licence in its metadata: ODbL 1.0, from OSM) meeting the study area; "
        "the real city cut out, clipped to 20 km around the study area")
    adm = gpd.read_file(geodata / "kaz_adm2_geoboundaries" / "geoBoundaries-KAZ-ADM2.geojson").to_crs(UTM)
    adm = adm[shapely.intersects(adm.geometry.values, area) & (adm["shapeName"] != "Almaty (Alma-Ata)")]
    rows = [{"unit_id": "almaty_city", "kind": "city", "name_ru": "город Алматы", "name_kk": "Алматы қаласы", "name_en": "Almaty city",
             "source": "© OpenStreetMap contributors (ODbL 1.0): the embedded city boundary (geoBoundaries' 2017 city polygon is outdated)",
             "accuracy_m": 100.0, "geometry": city}]
    for unit in adm.itertuples():
        if unit.shapeName not in OBLAST_DISTRICTS:
            raise ValueError(f"no names for oblast district {unit.shapeName}")
        uid, ru, kk, en = OBLAST_DISTRICTS[unit.shapeName]
        geom = shapely.make_valid(unit.geometry).difference(city).intersection(area.buffer(UNIT_MARGIN_M)).simplify(100)
        rows.append({"unit_id": uid, "kind": "oblast_district", "name_ru": ru, "name_kk": kk, "name_en": en,
                     "source": f"{GEOBOUNDARIES_SOURCE}; the real city cut out, clipped to {UNIT_MARGIN_M / 1000:.0f} km around the study area, "
                               "simplified 100 m; pre-2022 Almaty oblast raion",
                     "accuracy_m": 500.0, "geometry": geom})
        say(f"  {en}: {geom.area / 1e6:,.0f} km2")
    frame = gpd.GeoDataFrame(rows, crs=UTM).sort_values("unit_id").reset_index(drop=True)
    write_geojson(frame, out / "oblast_districts.geojson", ["unit_id", "kind", "name_ru", "name_kk", "name_en", "source", "accuracy_m"])
    return read_embedded(out, "oblast_districts")


#: Gross density (persons/km2) used for settlement footprints; the build measures it (see build_settlements).
SETTLEMENT_PLACES = ("city", "town", "village", "hamlet", "suburb", "isolated_dwelling")


def build_settlements(geodata: Path, out: Path, area: shapely.Geometry, units: gpd.GeoDataFrame, osm2012: Path) -> None:
    import iuliia

    say("settlements: HOT OSM populated places (ODbL 1.0) in the study area")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        places = gpd.read_file(geodata / "kaz_adm2_geoboundaries" / "hotosm_kaz_populated_places_almaty_subset.geojson").to_crs(UTM)
    places = places[shapely.within(places.geometry.values, area)].copy()
    places = places.rename(columns={"name:en": "osm_name_en", "name:kk": "osm_name_kk", "name:ru": "osm_name_ru"})
    places["population"] = pd.to_numeric(places["population"], errors="coerce")
    density = _settlement_density(places, osm2012)
    by_place = places.groupby("place")["population"].median()
    rows = []
    for p in places.itertuples():
        name = _clean_text(p.name)
        name_kk = _clean_text(p.osm_name_kk) or name
        name_ru = _clean_text(p.osm_name_ru) or name
        name_en = _clean_text(p.osm_name_en)
        if name_en and "," in name_en:
            name_en = name_en.split(",")[0].strip()
        translit = False
        if not name_en and name_ru:
            name_en, translit = iuliia.WIKIPEDIA.translate(name_ru), True
        population = None if math.isnan(p.population) else int(p.population)
        if p.place == "city":
            radius, how = None, "the city itself: its housing is the land-use layer"
        elif population is not None:
            radius, how = _footprint(population, density), f"from its population at {density:,.0f} persons/km2"
        else:
            typical = by_place.get(p.place)
            radius = _footprint(float(typical), density) if typical is not None and not math.isnan(typical) else 100.0
            how = f"no population: the median {p.place} ({typical:,.0f} people)" if typical is not None and not math.isnan(typical) else "no population: 100 m"
        rows.append({"settlement_id": f"osm_{p.osm_type.rstrip('s')}_{p.osm_id}", "name_ru": name_ru, "name_kk": name_kk, "name_en": name_en,
                     "place": p.place, "population": population, "footprint_radius_m": radius,
                     "source": "© OpenStreetMap contributors (ODbL 1.0), HOT Export populated places"
                               + ("; name_en transliterated from Russian (iuliia Wikipedia scheme)" if translit else "")
                               + f"; footprint {how}",
                     "accuracy_m": 200.0, "geometry": p.geometry})
    frame = gpd.GeoDataFrame(rows, crs=UTM)
    tree = shapely.STRtree(units.geometry.values)
    point_idx, unit_idx = tree.query(frame.geometry.values, predicate="within")
    frame["oblast_district"] = None
    frame.loc[frame.index[point_idx], "oblast_district"] = units["unit_id"].to_numpy()[unit_idx]
    frame = frame.sort_values("settlement_id").reset_index(drop=True)
    say(f"  {len(frame)} places ({frame.place.value_counts().to_dict()}), {int(frame.population.notna().sum())} with population "
        f"({int(frame.population.fillna(0).sum()):,} people); {int(frame.oblast_district.isna().sum())} outside every unit")
    write_geojson(frame, out / "settlements.geojson", ["settlement_id", "name_ru", "name_kk", "name_en", "place", "population", "oblast_district",
                                                        "footprint_radius_m", "source", "accuracy_m"])


def _footprint(population: float, density: float) -> float:
    """Radius (m, 10 m steps, at least 100 m) of a disc holding ``population`` at ``density`` persons/km2."""
    return float(max(100.0, round(math.sqrt(population / density / math.pi) * 1000 / 10) * 10))


def _settlement_density(places: gpd.GeoDataFrame, osm2012: Path) -> float:
    """Median gross density of the villages and towns that lie in a 2012 OSM residential outline."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        polygons = pyogrio.read_dataframe(osm2012, layer="multipolygons", on_invalid="ignore")
    residential = polygons[(polygons["landuse"] == "residential") & polygons.geometry.notna()].to_crs(UTM)
    known = places[places["population"].notna() & places["place"].isin(["village", "town", "hamlet"])]
    joined = gpd.sjoin(known, residential[["geometry"]], predicate="within")
    area_km2 = residential.geometry.area.loc[joined["index_right"]].to_numpy() / 1e6
    density = float(np.median(joined["population"].to_numpy(float) / area_km2))
    say(f"  footprint density {density:,.0f} persons/km2: median over {len(joined)} places inside a residential outline of the 2012 OSM extract")
    return density


AIRPORT_NAMES = {  # public facts
    "ALA": ("almaty_international", "international", "Международный аэропорт Алматы", "Алматы халықаралық әуежайы", "Almaty International Airport"),
    "BXJ": ("boralday", "airfield", "аэродром Боралдай (Бурундай)", "Боралдай әуеайлағы", "Boralday (Burundai) airfield"),
}


def build_airports(out: Path, osm2012: Path, area: shapely.Geometry) -> None:
    say("airports: aerodromes and runways of the 2012 OSM extract (CC BY-SA 2.0)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        points = pyogrio.read_dataframe(osm2012, layer="points").to_crs(UTM)
    lines = _osm2012_lines(osm2012, "other_tags")
    runways = lines[lines["other_tags"].str.contains('"aeroway"=>"runway"', regex=False)]
    aerodromes = points[points["other_tags"].fillna("").str.contains('"aeroway"=>"aerodrome"', regex=False)]
    rows, used = [], set()
    for a in aerodromes.sort_values("osm_id").itertuples():
        iata = re.search(r'"iata"=>"(\w+)"', a.other_tags)
        code = iata.group(1).upper() if iata else None
        near = runways[shapely.distance(runways.geometry.values, a.geometry) < 3000]
        if code in AIRPORT_NAMES and code not in used:
            used.add(code)
            aid, cls, ru, kk, en = AIRPORT_NAMES[code]
            centre = shapely.centroid(shapely.union_all(near.geometry.values)) if len(near) else a.geometry
            longest = max(near.geometry.values, key=lambda g: g.length) if len(near) else None
            rows.append({"airport_id": aid, "class": cls, "name_ru": ru, "name_kk": kk, "name_en": en, "iata": code,
                         "runway_length_m": round(longest.length, -1) if longest is not None else None,
                         "runway_bearing_deg": _bearing(longest) if longest is not None else None,
                         "source": f"© OpenStreetMap contributors (CC BY-SA 2.0, extract of 2012): centre of {len(near)} runway(s); names public facts",
                         "accuracy_m": 100.0, "geometry": centre})
        elif code is None and "name:" not in a.other_tags and isinstance(a.name, str) and a.geometry.within(area) and not len(near):
            slug = re.sub(r"[^a-z]+", "_", a.name.lower()).strip("_")
            rows.append({"airport_id": slug, "class": "airfield", "name_ru": None, "name_kk": None, "name_en": a.name, "iata": None,
                         "runway_length_m": None, "runway_bearing_deg": None,
                         "source": "© OpenStreetMap contributors (CC BY-SA 2.0, extract of 2012): aerodrome node without a runway; status unverified",
                         "accuracy_m": 1000.0, "geometry": a.geometry})
    frame = gpd.GeoDataFrame(rows, crs=UTM).sort_values("airport_id").reset_index(drop=True)
    say(f"  {', '.join(f'{r.airport_id} ({c})' for r, c in zip(frame.itertuples(), frame['class']))}")
    write_geojson(frame, out / "airports.geojson", ["airport_id", "class", "name_ru", "name_kk", "name_en", "iata", "runway_length_m",
                                                     "runway_bearing_deg", "source", "accuracy_m"])


#: OSM amenity (or healthcare) values that are receptors of the sanitary protection zones, and their class.
SENSITIVE_CLASSES = {"school": "school", "kindergarten": "kindergarten", "childcare": "kindergarten", "hospital": "hospital",
                     "clinic": "clinic", "doctors": "clinic"}


def build_sensitive_sites(out: Path, osm2012: Path, area: shapely.Geometry) -> None:
    """Schools, kindergartens, hospitals and clinics of the 2012 OSM extract (CC BY-SA 2.0), receptors of the sanitary zones.

    Areas become a point on their surface with ``footprint_radius_m``, the radius of a disc of the same area, so a
    zone is measured from the grounds rather than their middle; a node inside an area of the same class is dropped.
    The extract is of 2012: schools and clinics built since are missing (the layer's source says so).
    """
    say("sensitive_sites: schools, kindergartens, hospitals and clinics of the 2012 OSM extract (CC BY-SA 2.0)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        points = pyogrio.read_dataframe(osm2012, layer="points").to_crs(UTM)
        areas = pyogrio.read_dataframe(osm2012, layer="multipolygons", on_invalid="ignore").to_crs(UTM)
    rows = []
    for kind, frame in (("node", points), ("area", areas)):
        tags = frame["other_tags"].fillna("")
        amenity = frame["amenity"] if "amenity" in frame.columns else tags.str.extract(r'"amenity"=>"([^"]+)"', expand=False)
        healthcare = tags.str.extract(r'"healthcare"=>"([^"]+)"', expand=False)
        value = amenity.where(amenity.isin(list(SENSITIVE_CLASSES)), healthcare)
        keep = value.isin(list(SENSITIVE_CLASSES)) & frame.geometry.notna()
        for row, tag, text in zip(frame[keep].itertuples(), value[keep], tags[keep]):
            geom = row.geometry if kind == "node" else shapely.make_valid(row.geometry)
            point = geom if kind == "node" else shapely.point_on_surface(geom)
            if not point.within(area):
                continue
            ident = row.osm_id if kind == "node" else (row.osm_id if isinstance(row.osm_id, str) and row.osm_id else row.osm_way_id)
            name_kk = re.search(r'"name:kk"=>"([^"]+)"', text)
            name_ru = re.search(r'"name:ru"=>"([^"]+)"', text)
            radius = 0.0 if kind == "node" else math.sqrt(shapely.area(geom) / math.pi)
            rows.append({"site_id": f"osm_{'node' if kind == 'node' else 'area'}_{ident}", "class": SENSITIVE_CLASSES[tag],
                         "name_ru": _clean_text(name_ru.group(1) if name_ru else row.name), "name_kk": _clean_text(name_kk.group(1) if name_kk else None),
                         "name_en": None, "footprint_radius_m": round(radius, 1),
                         "source": f"© OpenStreetMap contributors (CC BY-SA 2.0, extract of 2012): {tag} {'node' if kind == 'node' else 'area'}; "
                                   "places built since 2012 are missing",
                         "accuracy_m": 50.0, "_area": geom if kind == "area" else None, "geometry": point})
    frame = gpd.GeoDataFrame(rows, crs=UTM)
    grounds = frame[frame["_area"].notna()]
    inside = np.zeros(len(frame), dtype=bool)
    for cls in frame["class"].unique():
        nodes = (frame["class"] == cls) & frame["_area"].isna()
        same = grounds[grounds["class"] == cls]
        if nodes.any() and len(same):
            union = shapely.union_all(same["_area"].values)
            inside[nodes.to_numpy()] = shapely.within(frame.geometry.values[nodes.to_numpy()], union)
    frame = frame[~inside].drop(columns="_area").sort_values("site_id").reset_index(drop=True)
    say(f"  {len(frame)} sites: " + ", ".join(f"{c} {n}" for c, n in frame["class"].value_counts().sort_index().items())
        + f" ({int(inside.sum())} nodes inside the grounds of the same class dropped)")
    write_geojson(frame, out / "sensitive_sites.geojson", ["site_id", "class", "name_ru", "name_kk", "name_en", "footprint_radius_m",
                                                           "source", "accuracy_m"])


def _bearing(line: shapely.Geometry) -> float:
    """Grid bearing (degrees 0-180) of a line's end-to-end direction in EPSG:32643."""
    (x0, y0), (x1, y1) = shapely.get_coordinates(line)[[0, -1]]
    return round(math.degrees(math.atan2(x1 - x0, y1 - y0)) % 180, 1)


# --- rivers -------------------------------------------------------------------------------------

#: The main rivers, each anchored at a point known to lie on it: the most upstream vertex of its
#: named line in the 2012 OSM extract (osm: names tagged there), or a town or village it flows
#: through (place: an OSM populated-place name). Names are public facts.
MAIN_RIVERS = [
    {"river_id": "bolshaya_almatinka", "osm": ["р. Большая Алматинка", "Большая Алматинка"], "name_ru": "Большая Алматинка",
     "name_kk": "Үлкен Алматы өзені", "name_en": "Bolshaya Almatinka (Ulken Almaty)"},
    {"river_id": "malaya_almatinka", "osm": ["Малая Алматинка", "Малая Алмаатинка"], "name_ru": "Малая Алматинка",
     "name_kk": "Кіші Алматы өзені", "name_en": "Malaya Almatinka (Kishi Almaty)"},
    {"river_id": "esentai", "osm": ["Весновка", "Есентай"], "name_ru": "Есентай (Весновка)", "name_kk": "Есентай өзені",
     "name_en": "Esentai (Vesnovka)"},
    {"river_id": "kaskelen", "place": "Каскелен", "name_ru": "Каскелен", "name_kk": "Қаскелең өзені", "name_en": "Kaskelen"},
    {"river_id": "talgar", "place": "Талгар", "name_ru": "Талгар", "name_kk": "Талғар өзені", "name_en": "Talgar"},
    {"river_id": "kargalinka", "place": "Каргалы", "place_near": (76.868, 43.173), "snap_m": 1000.0, "pick": "nearest",
     "name_ru": "Каргалинка", "name_kk": "Қарғалы өзені", "name_en": "Kargalinka (Kargaly)"},
    # The village Aksai (Ili district) lies on the lower course, where the DEM's main stem is another river's: no anchor.
    {"river_id": "aksai", "name_ru": "Аксай", "name_kk": "Ақсай өзені", "name_en": "Aksai"},
    {"river_id": "ili", "place": "Конаев", "name_ru": "Или", "name_kk": "Іле өзені", "name_en": "Ili", "min_uparea_km2": 1000.0},
]
#: A place anchor snaps to the largest stream within this distance (m).
PLACE_SNAP_M = 2000.0
#: Line vertices sampled this far apart (m) for the offset check.
OFFSET_STEP_M = 50.0
#: Elevation (m) where the rivers leave the mountains for the alluvial fan (the city's southern edge).
FOOTHILL_M = 1000.0


def build_rivers(out: Path, dem: np.ndarray, transform, area: shapely.Geometry, osm2012: Path) -> None:
    import pyflwdir

    say(f"rivers: D8 flow accumulation on the SRTM DEM (pyflwdir), streams draining >= {STREAM_MIN_UPAREA_KM2:.0f} km2")
    elevation = np.where(np.isfinite(dem), dem, -9999).astype(np.float32)
    flw = pyflwdir.from_dem(data=elevation, nodata=-9999, transform=transform, latlon=False, outlets="edge")
    uparea = flw.upstream_area(unit="km2")
    flw.main_upstream(uparea=uparea)
    stream = uparea >= STREAM_MIN_UPAREA_KM2
    feats = flw.streams(mask=stream, uparea=uparea)
    segments = gpd.GeoDataFrame.from_features(feats, crs=UTM)
    osm = _osm2012_lines(osm2012, "waterway", ("river", "stream", "canal"))
    places = read_embedded(out, "settlements")
    # Name the main rivers: trace each anchor up the main stem and down to the outlet.
    traces, strength = {}, {}
    for river in MAIN_RIVERS:
        anchor = _river_anchor(river, osm, places, dem, transform, flw, uparea, stream)
        if anchor is None:
            continue
        traces[river["river_id"]] = _trace(anchor, flw.idxs_ds, flw.idxs_us_main)
    owner = {}
    for rid, cells in traces.items():  # Hack's rule: below a confluence the river keeps the name of the larger branch
        others = set().union(*(set(c.tolist()) for r, c in traces.items() if r != rid)) if len(traces) > 1 else set()
        shared = np.flatnonzero(np.isin(cells, list(others))) if others else np.array([], dtype=int)
        join = shared[0] if len(shared) else len(cells)
        strength[rid] = float(uparea.flat[cells[max(join - 1, 0)]])
    for rid, cells in sorted(traces.items(), key=lambda kv: strength[kv[0]]):
        for c in cells.tolist():
            owner[c] = rid  # stronger rivers come later and win shared cells
    names = {r["river_id"]: r for r in MAIN_RIVERS}
    rows = []
    for seg in segments.itertuples():
        coords = shapely.get_coordinates(seg.geometry)
        rows_, cols_ = rasterio.transform.rowcol(transform, coords[:, 0], coords[:, 1])
        flat = np.asarray(rows_) * dem.shape[1] + np.asarray(cols_)
        claimed = [owner.get(int(c)) for c in flat[:-1]] or [owner.get(int(flat[0]))]
        named = max(set(claimed), key=claimed.count)
        named = named if named and claimed.count(named) * 2 >= len(claimed) else None
        rows.append({"river_id_base": named, "uparea_km2": round(float(seg.uparea), 1), "geometry": seg.geometry})
    frame = gpd.GeoDataFrame(rows, crs=UTM)
    frame["geometry"] = shapely.intersection(frame.geometry.values, area)
    frame = frame[~shapely.is_empty(frame.geometry.values)].copy()
    frame["geometry"] = shapely.simplify(frame.geometry.values, DEM_PIXEL_M / 3)
    frame = frame.explode(index_parts=False)
    frame = frame[frame.geometry.geom_type == "LineString"].reset_index(drop=True)
    offsets = _river_offsets(frame, osm, dem, transform)
    frame["class"] = np.where((frame["uparea_km2"] >= RIVER_MIN_UPAREA_KM2) | frame["river_id_base"].notna(), "river", "stream")
    frame["sort"] = [f"{n if isinstance(n, str) else 'zz'}|{-u:012.1f}|{g.wkb_hex}" for n, u, g in zip(frame["river_id_base"], frame["uparea_km2"], frame.geometry.values)]
    frame = frame.sort_values("sort").reset_index(drop=True)
    counters: dict[str, int] = {}
    ids, name_cols = [], {"name_ru": [], "name_kk": [], "name_en": []}
    bases = [v if isinstance(v, str) else None for v in frame["river_id_base"]]
    for base in bases:
        key = base or "stream"
        counters[key] = counters.get(key, 0) + 1
        ids.append(f"{key}_{counters[key]:03d}")
        for col in name_cols:
            name_cols[col].append(names[base][col] if base else None)
    frame["river_id"] = ids
    for col, values in name_cols.items():
        frame[col] = values
    coords_z = [_mean_elevation(g, dem, transform) for g in frame.geometry.values]
    mountain = np.array(coords_z) >= FOOTHILL_M
    acc_mountain = max(math.ceil(offsets["p90_mountain"] / 50) * 50, DEM_PIXEL_M)
    acc_plain = math.ceil(max(offsets["p90_plain"], offsets["p90_all"]) / 50) * 50
    frame["accuracy_m"] = np.where(mountain, float(acc_mountain), float(acc_plain))
    accuracy = acc_plain
    frame["source"] = [
        f"derived from NASA SRTM 3\" (public domain) by D8 flow accumulation (pyflwdir), drains {u:,.0f} km2"
        + ("" if m else "; below the foothills the real channel is engineered and may run km away")
        + (f"; name from {names[b].get('osm') and '2012 OSM river name' or 'the place it flows through'} (public fact)" if b else "")
        for u, b, m in zip(frame["uparea_km2"], bases, mountain)]
    say(f"  {len(frame)} lines, {frame.length.sum() / 1000:,.0f} km; named: "
        + ", ".join(f"{r} {frame.loc[frame.river_id_base == r].length.sum() / 1000:.0f} km" for r in names if (frame.river_id_base == r).any()))
    missing = [r for r in names if not (frame.river_id_base == r).any()]
    if missing:
        say(f"  not named in the derived network: {', '.join(missing)}")
    say(f"  offset from the 2012 OSM river/stream/canal lines (where both exist, within the extract): median {offsets['median_all']:.0f} m, "
        f"p90 {offsets['p90_all']:.0f} m over {offsets['n_all']} sample points; named rivers against their own OSM line: "
        + ", ".join(f"{k} median {v:.0f} m" for k, v in offsets["by_name"].items())
        + f"; above {FOOTHILL_M:.0f} m median {offsets['median_mountain']:.0f} m (p90 {offsets['p90_mountain']:.0f} m), below it median "
        f"{offsets['median_plain']:.0f} m (p90 {offsets['p90_plain']:.0f} m); accuracy_m {acc_mountain:.0f} in the mountains, {acc_plain:.0f} below")
    write_geojson(frame, out / "rivers.geojson", ["river_id", "class", "name_ru", "name_kk", "name_en", "uparea_km2", "source", "accuracy_m"])


def _mean_elevation(line: shapely.Geometry, dem: np.ndarray, transform) -> float:
    coords = shapely.get_coordinates(line)
    rows, cols = rasterio.transform.rowcol(transform, coords[:, 0], coords[:, 1])
    return float(np.nanmean(dem[np.clip(rows, 0, dem.shape[0] - 1), np.clip(cols, 0, dem.shape[1] - 1)]))


def _trace(anchor: int, downstream: np.ndarray, main_upstream: np.ndarray) -> np.ndarray:
    """Cells of the main stem through ``anchor``: up to its source, then down to a pit or the edge."""
    up, cell = [], anchor
    while (nxt := int(main_upstream[cell])) >= 0 and nxt != cell:
        up.append(nxt)
        cell = nxt
    down, cell = [anchor], anchor
    while (nxt := int(downstream[cell])) != cell and nxt >= 0:
        down.append(nxt)
        cell = nxt
    return np.array(up[::-1] + down, dtype=np.int64)


def _river_anchor(river: dict, osm: gpd.GeoDataFrame, places: gpd.GeoDataFrame, dem: np.ndarray, transform, flw, uparea, stream) -> int | None:
    """Linear index of a stream cell known to lie on ``river`` (None, reported, when there is none)."""
    if "osm" in river:
        lines = osm[osm["name"].isin(river["osm"])]
        if not len(lines):
            say(f"  {river['river_id']}: no OSM line named {river['osm']}; not named")
            return None
        coords = shapely.get_coordinates(lines.geometry.values)
        rows, cols = rasterio.transform.rowcol(transform, coords[:, 0], coords[:, 1])
        heights = dem[np.clip(rows, 0, dem.shape[0] - 1), np.clip(cols, 0, dem.shape[1] - 1)]
        x, y = coords[int(np.nanargmax(heights))]
        radius, pick = 500.0, "nearest"
    elif "place" not in river:
        say(f"  {river['river_id']}: no anchor in the data (no OSM line, no place on its course); not named")
        return None
    else:
        match = places[places["name_ru"] == river["place"]]
        if "place_near" in river and len(match) > 1:
            near = gpd.GeoSeries(gpd.points_from_xy(*[[v] for v in river["place_near"]]), crs=WGS84).to_crs(UTM).iloc[0]
            match = match.iloc[[int(np.argmin(match.distance(near)))]]
        if len(match) != 1:
            say(f"  {river['river_id']}: place {river['place']} not found once; not named")
            return None
        x, y = match.geometry.iloc[0].x, match.geometry.iloc[0].y
        radius, pick = river.get("snap_m", PLACE_SNAP_M), river.get("pick", "largest")
    row, col = rasterio.transform.rowcol(transform, x, y)
    r = int(radius // DEM_PIXEL_M)
    r0, c0 = max(row - r, 0), max(col - r, 0)
    window = stream[r0:row + r + 1, c0:col + r + 1]
    if not window.any():
        say(f"  {river['river_id']}: no stream within {radius:.0f} m of its anchor; not named")
        return None
    rr, cc = np.nonzero(window)
    rr, cc = rr + r0, cc + c0
    if pick == "largest":
        best = int(np.argmax(uparea[rr, cc]))
    else:
        best = int(np.argmin((rr - row) ** 2 + (cc - col) ** 2))
    area_km2 = float(uparea[rr[best], cc[best]])
    if area_km2 < river.get("min_uparea_km2", 0):
        say(f"  {river['river_id']}: the largest stream near its anchor drains only {area_km2:,.0f} km2 of the DEM; not named "
            "(in the study area this river is the Kapshagay reservoir, land-use water)")
        return None
    return int(rr[best] * dem.shape[1] + cc[best])


def _river_offsets(frame: gpd.GeoDataFrame, osm: gpd.GeoDataFrame, dem: np.ndarray, transform) -> dict:
    """Offsets (m) between the derived rivers and the 2012 OSM waterways, where the OSM extract has them.

    ``median_all``/``p90_all``: from points every 50 m along the derived rivers (class river) to the
    nearest OSM river, stream or canal. ``by_band``: from points along each named OSM river to the
    derived river of the same name, split at FOOTHILL_M of elevation (mountain gorges above, the
    alluvial fan and the city below, where the real channels are engineered).
    """
    extent = shapely.convex_hull(shapely.union_all(osm.geometry.values))
    osm_union = shapely.union_all(osm.to_crs(UTM).geometry.values)
    keep = ((frame["uparea_km2"] >= RIVER_MIN_UPAREA_KM2) | frame["river_id_base"].map(lambda v: isinstance(v, str))).to_numpy()
    lines = shapely.intersection(frame.geometry.values[keep], extent)
    points = shapely.points(shapely.get_coordinates(shapely.segmentize(lines, OFFSET_STEP_M)))
    d_all = shapely.distance(points, osm_union)
    result = {"median_all": float(np.median(d_all)), "p90_all": float(np.percentile(d_all, 90)), "n_all": int(len(d_all)), "by_name": {}}
    bands: dict[str, list] = {"mountain": [], "plain": []}
    for river in MAIN_RIVERS:
        ref = osm[osm["name"].isin(river.get("osm", []))]
        mine = frame[frame["river_id_base"] == river["river_id"]]
        if not len(ref) or not len(mine):
            continue
        pts = shapely.points(shapely.get_coordinates(shapely.segmentize(shapely.union_all(ref.geometry.values), OFFSET_STEP_M)))
        d = shapely.distance(pts, shapely.union_all(mine.geometry.values))
        rows, cols = rasterio.transform.rowcol(transform, shapely.get_x(pts), shapely.get_y(pts))
        z = dem[np.clip(rows, 0, dem.shape[0] - 1), np.clip(cols, 0, dem.shape[1] - 1)]
        result["by_name"][river["river_id"]] = float(np.median(d))
        bands["mountain"].append(d[z >= FOOTHILL_M])
        bands["plain"].append(d[z < FOOTHILL_M])
    for band, parts in bands.items():
        values = np.concatenate(parts) if parts else np.array([])
        result[f"median_{band}"] = float(np.median(values)) if len(values) else float("nan")
        result[f"p90_{band}"] = float(np.percentile(values, 90)) if len(values) else float("nan")
    return result


# --- re-aligning the hand-drawn layers ----------------------------------------------------------

HAND_DRAWN = ["agri_producers", "building_stock", "construction_sites", "heritage_areas", "industrial_zones", "industry_sites",
              "land_use", "markets", "organic_producers", "parks", "recycling_points", "waste_facilities"]
#: Towns of the sketch (English name in the layers) -> settlement name_ru in the OSM places.
TOWNS = {"Kaskelen": "Каскелен", "Talgar": "Талгар", "Esik": "Есик", "Konaev": "Конаев", "Otegen Batyr": "Отеген Батыр",
         "Baiserke": "Байсерке", "Shamalgan": "Шамалган", "Tuzdybastau": "Туздыбастау", "Turgen": "Тургень"}
#: Kontur cells at least this dense (persons/km2, Kontur's own counts) are residential land.
RESIDENTIAL_DENSITY = 500.0
#: Land-use classes that residential land is cut out of (the rest are cut out of residential land).
SOFT_CLASSES = {"arable", "irrigated", "pasture", "hay_meadow", "orchard", "planned_urban"}
REALIGNED = "re-aligned with the real geography"


def realign_hand_drawn(out: Path) -> None:
    """Make the sketch layers agree with the real districts, settlements and population (idempotent).

    1. Residential land use is rebuilt from the population grid: Kontur cells of at least
       RESIDENTIAL_DENSITY persons/km2, per real city district, around each sketch town's real
       OSM point, and elsewhere; other classes keep their shapes (farmland and planned zones
       give way to housing, water, parks, industry and nature keep priority).
    2. Features named after a town move with it (sketch town centre -> real OSM place).
    3. A feature that names a district and lies farther from its real polygon than its
       accuracy_m is moved inside (points, polygons), or, for land-use zones (which must not
       overlap), keeps its shape and gets an honest accuracy_m.
    """
    say("re-aligning the hand-drawn layers with the real districts, settlements and population")
    from geo_almaty.places import named_district

    districts = read_embedded(out, "districts")
    units = read_embedded(out, "oblast_districts")
    settlements = read_embedded(out, "settlements")
    population = read_embedded(out, "population")
    polygons = {("districts", r.district_id): r.geometry for r in districts.itertuples()}
    polygons |= {("oblast_districts", r.unit_id): r.geometry for r in units.itertuples()}
    names = {("districts", r.district_id): r.name_en for r in districts.itertuples()}
    names |= {("oblast_districts", r.unit_id): r.name_en for r in units.itertuples()}
    town_points = {}
    for town, name_ru in TOWNS.items():
        match = settlements[settlements["name_ru"] == name_ru].sort_values("population", ascending=False)
        town_points[town] = match.iloc[0]
    land_use = read_embedded(out, "land_use")
    shifts = _town_shifts(land_use, town_points)
    land_use = _rebuild_residential(land_use, districts, population, town_points)
    for name in HAND_DRAWN:
        frame = land_use if name == "land_use" else read_embedded(out, name)
        moved = []
        for i, row in frame.iterrows():
            source = str(row["source"])
            if REALIGNED in source or str(row.get("zone_id", "")).startswith("lu_res_"):
                continue
            geom, accuracy, notes = row.geometry, float(row["accuracy_m"]), []
            town = _named_town(row.get("name_en"))
            if town and town in shifts and shifts[town].length > 300 and name != "land_use":
                dx, dy = shapely.get_coordinates(shifts[town])[-1] - shapely.get_coordinates(shifts[town])[0]
                geom = shapely.affinity.translate(geom, dx, dy)
                notes.append(f"moved {shifts[town].length:,.0f} m with {town} to its real OSM position")
            district = named_district(row.get("name_en"), source)
            if district in polygons:
                target = polygons[district]
                anchor = shapely.point_on_surface(geom)
                gap = float(shapely.distance(anchor, target))
                apart = geom.geom_type in ("Polygon", "MultiPolygon") and not shapely.intersects(geom, target)
                if gap > accuracy or (apart and name != "land_use"):
                    if name == "land_use":
                        accuracy = float(math.ceil(gap / 100) * 100)
                        notes.append(f"{gap:,.0f} m outside the real {names[district]}: accuracy_m raised")
                    else:
                        inset = target.buffer(-min(accuracy / 2, 500.0))
                        inset = inset if not inset.is_empty else target
                        goal = shapely.ops.nearest_points(inset, anchor)[0]
                        geom = shapely.affinity.translate(geom, goal.x - anchor.x, goal.y - anchor.y)
                        gap = max(gap, float(shapely.distance(anchor, goal)))
                        accuracy = max(accuracy, float(math.ceil(gap / 100) * 100))
                        notes.append(f"moved {gap:,.0f} m into the real {names[district]} (OSM); accuracy_m {accuracy:,.0f}")
            if notes:
                frame.at[i, "geometry"] = geom
                frame.at[i, "accuracy_m"] = accuracy
                frame.at[i, "source"] = f"{source} | {REALIGNED}: {'; '.join(notes)}"
                moved.append(str(row.iloc[0]))
        columns = [c for c in frame.columns if c != "geometry"]
        if moved:
            say(f"  {name}: {len(moved)} features re-aligned ({', '.join(moved[:6])}{', …' if len(moved) > 6 else ''})")
        if moved or name == "land_use":
            write_geojson(frame, out / f"{name}.geojson", columns)


def _named_town(name_en: object) -> str | None:
    if not isinstance(name_en, str):
        return None
    for town in TOWNS:
        if re.search(rf"\b{re.escape(town)}\b(?! district)", name_en):
            return town
    return None


def _town_shifts(land_use: gpd.GeoDataFrame, town_points: dict) -> dict[str, shapely.LineString]:
    """Sketch town centre (its hand-drawn residential zone) -> real OSM point, for towns not yet rebuilt."""
    shifts = {}
    for town, place in town_points.items():
        zone = land_use[(land_use["class"] == "residential") & land_use["name_en"].str.startswith(f"Residential – {town}")]
        if len(zone) and not str(zone.iloc[0]["source"]).startswith("Kontur"):
            centre = zone.geometry.iloc[0].centroid
            shifts[town] = shapely.LineString([centre, place.geometry])
            say(f"  {town}: sketch centre {shifts[town].length:,.0f} m from the real {place['name_ru']} (OSM)")
    return shifts


def _rebuild_residential(land_use: gpd.GeoDataFrame, districts: gpd.GeoDataFrame, population: gpd.GeoDataFrame,
                         town_points: dict) -> gpd.GeoDataFrame:
    density = population["kontur_population"].to_numpy(float) / (population.geometry.area.to_numpy() / 1e6)
    populated = population[density >= RESIDENTIAL_DENSITY]
    city = shapely.union_all(districts.geometry.values)
    hard = land_use[~land_use["class"].isin(SOFT_CLASSES | {"residential"})]
    blockers = shapely.union_all(hard.geometry.values)
    cells = shapely.union_all(populated.geometry.values)
    source = f"Kontur population (CC BY 4.0) cells of at least {RESIDENTIAL_DENSITY:.0f} persons/km2"
    rows = []
    for d in districts.itertuples():
        geom = shapely.intersection(cells, d.geometry)
        rows.append({"zone_id": f"lu_res_{d.district_id}", "name_ru": f"Жилая застройка – {d.name_ru}", "name_kk": f"Тұрғын үй – {d.name_kk}",
                     "name_en": f"Residential – {d.name_en}", "source": f"{source} in the real district (OSM, ODbL 1.0)", "geometry": geom})
    used = shapely.Polygon()
    for town, place in town_points.items():
        reach = place.geometry.buffer((place["footprint_radius_m"] or 500.0) + 1500.0)
        near = populated[shapely.within(shapely.centroid(populated.geometry.values), reach)]
        geom = shapely.union(shapely.union_all(near.geometry.values), place.geometry.buffer(place["footprint_radius_m"] or 500.0))
        geom = geom.difference(city).difference(used)
        used = used.union(geom)
        rows.append({"zone_id": f"lu_res_{town.lower().replace(' ', '_')}", "name_ru": f"Жилая застройка – {place['name_ru']}",
                     "name_kk": f"Тұрғын үй – {place['name_kk']}", "name_en": f"Residential – {town}",
                     "source": f"{source} around the real {place['name_ru']} (OSM place, ODbL 1.0) and its population footprint",
                     "geometry": geom})
    rest = cells.difference(city).difference(used)
    rows.append({"zone_id": "lu_res_other_settlements", "name_ru": "Жилая застройка – другие населённые пункты",
                 "name_kk": "Тұрғын үй – басқа елді мекендер", "name_en": "Residential – other settlements",
                 "source": f"{source} outside the city and the named towns", "geometry": rest})
    residential = gpd.GeoDataFrame(rows, crs=UTM)
    residential["class"] = "residential"
    residential["accuracy_m"] = KONTUR_ACCURACY_M
    residential["geometry"] = [shapely.make_valid(g.difference(blockers).simplify(30)) for g in residential.geometry.values]
    towns = ~residential["zone_id"].isin([f"lu_res_{d}" for d in districts["district_id"]]).to_numpy()
    residential.loc[towns, "geometry"] = [g.difference(city) for g in residential.geometry.values[towns]]  # simplification may cross it
    limits = dict(zip(districts["district_id"], districts.geometry.values))
    residential.loc[~towns, "geometry"] = [g.intersection(limits[z.removeprefix("lu_res_")])
                                           for z, g in zip(residential["zone_id"][~towns], residential.geometry.values[~towns])]
    residential = residential[~shapely.is_empty(residential.geometry.values)]
    residential["geometry"] = [_polygonal(g) for g in residential.geometry.values]
    housing = shapely.union_all(residential.geometry.values)
    kept = land_use[land_use["class"] != "residential"].copy()
    # Only real overlaps are cut (more than a hectare), so a re-run does not chase 5-decimal rounding slivers.
    overlap = shapely.area(shapely.intersection(kept.geometry.values, housing))
    soft = kept["class"].isin(SOFT_CLASSES).to_numpy() & (overlap > 10_000.0)
    kept.loc[soft, "geometry"] = [_polygonal(shapely.make_valid(g.difference(housing))) for g in kept.geometry.values[soft]]
    kept = kept[~shapely.is_empty(kept.geometry.values)]
    frame = pd.concat([kept, residential], ignore_index=True)
    say(f"  land_use: residential rebuilt from the population grid: {housing.area / 1e6:,.0f} km2 "
        f"({shapely.intersection(housing, city).area / 1e6:,.0f} km2 in the city); farmland and planned zones give way")
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=UTM)


def _polygonal(geom: shapely.Geometry, min_area: float = 1.0) -> shapely.Geometry:
    """Only the polygon parts (larger than ``min_area``) of a geometry (differences and make_valid can leave lines)."""
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon") and p.area > min_area]
    return shapely.union_all(parts) if parts else shapely.Polygon()


# --- main ---------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--geodata", type=Path, default=settings.project_root().parent / "shared" / "geodata",
                        help="folder of the third-party geodata (default: ../shared/geodata)")
    parser.add_argument("--out", type=Path, default=settings.layers_dir(), help="folder of the embedded layers (default: layers/)")
    args = parser.parse_args(argv)
    geodata, out = args.geodata.resolve(), args.out.resolve()
    if not geodata.is_dir():
        print(f"error: {geodata}: no such folder (expected ../shared/geodata with the files of its SOURCES.md)", file=sys.stderr)
        return 2
    districts = build_districts(geodata, out)
    city = build_city(geodata, out, districts)
    area = build_study_area(out, city)
    build_population(geodata, out, area, districts)
    dem, transform = build_dem(geodata, out, area)
    osm2012 = geodata / "aliilyas_osm_2013" / "almaty.osm.pbf"
    build_roads(geodata, out, area, osm2012)
    units = build_oblast_districts(geodata, out, area, city)
    build_settlements(geodata, out, area, units, osm2012)
    build_airports(out, osm2012, area)
    build_sensitive_sites(out, osm2012, area)
    build_rivers(out, dem, transform, area, osm2012)
    realign_hand_drawn(out)
    say(f"done: {len(LOG)} lines of notes; layers in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
