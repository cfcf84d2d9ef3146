"""The offline base: districts, settlements, rivers and main roads drawn light, with permanent labels.

Without tiles a map is grey; this base gives place names and orientation from the catalog's own
layers (``districts``, ``settlements``, ``rivers``, ``roads``). Absent layers are skipped. Each label
appears from the zoom at which it fits its feature (polygons, lines) or its place class (points)
and the page hides labels that would overlap a more important one.
"""
from __future__ import annotations

import math

import folium
import geopandas as gpd
import numpy as np
import shapely
import shapely.ops

from .. import settings
from ..i18n import text as message
from .elements import LabelLayer
from .legend import LegendItem
from .maps import add_feature_layer, label_names, to_lonlat_features
from .shell import add_overlay
from .text import tr_compact

BASE_LAYERS = ("districts", "settlements", "rivers", "roads")
#: Existing road classes drawn in the base (planned roads and rail stay in the data layer).
DEFAULT_ROAD_CLASSES = ("motorway", "trunk", "primary", "secondary")
#: Light styles of the base; colours are used by no other layer.
DISTRICT_STYLE = {"color": "#7d6b91", "weight": 1.4, "opacity": 0.9, "fill": False, "dashArray": "6 4"}
SETTLEMENT_STYLE = {"color": "#3f3f3f", "fillColor": "#fafafa", "weight": 1.2, "fillOpacity": 1.0, "radius": 3}
RIVER_COLOUR = "#6fa8dc"
RIVER_WEIGHT = {"river": 2.4, "canal": 1.6, "stream": 1.1}
ROAD_COLOUR = "#c7ab7e"
ROAD_WEIGHT = {"motorway": 3.4, "trunk": 3.0, "primary": 2.4, "secondary": 1.6, "tertiary": 1.2}
#: Zoom from which a settlement's name shows, by OSM place class.
PLACE_MIN_ZOOM = {"city": 8, "town": 10, "village": 11, "suburb": 12, "hamlet": 13, "neighbourhood": 14}
#: Drawing priority (lower wins where labels would overlap).
PRIORITY = {"district": 10, "city": 20, "town": 30, "river": 40, "road": 50, "village": 60, "suburb": 70, "other": 80}
#: Approximate width of a label character at 12 px (px), and the widest a district label wraps to (px).
CHAR_PX = 7.0
DISTRICT_LABEL_PX = 96.0
MIN_ZOOM, MAX_ZOOM = 8, 16
#: Simplification (m) and coordinate decimals of the base geometry (4 decimals ≈ 10 m: a light base).
SIMPLIFY_M = 30.0
DECIMALS = 4


def metres_per_pixel(zoom: float, lat: float) -> float:
    """Web Mercator ground resolution at ``zoom`` and latitude ``lat`` (m/px)."""
    return 156543.03392 * math.cos(math.radians(lat)) / 2 ** zoom


def fit_zoom(extent_m: float, label_px: float, lat: float) -> float:
    """The smallest zoom (in half steps) at which ``label_px`` pixels cover at most ``extent_m`` metres (clamped to 8-16)."""
    if extent_m <= 0:
        return MAX_ZOOM
    zoom = math.log2(156543.03392 * math.cos(math.radians(lat)) * label_px / extent_m)
    return float(min(MAX_ZOOM, max(MIN_ZOOM, math.ceil(zoom * 2) / 2)))


def _label(lat: float, lon: float, name: dict[str, str], zoom: float, priority: int, css: str, angle: float = 0.0) -> dict:
    return {"lat": round(lat, 5), "lon": round(lon, 5), "html": tr_compact(name), "z": zoom, "p": int(priority), "cls": css, "a": round(angle, 1)}


def _to_lonlat(geoms) -> np.ndarray:
    return gpd.GeoSeries(geoms, crs=settings.ANALYSIS_CRS).to_crs(settings.GEOGRAPHIC_CRS).values


def without_shared_word(names: list[dict[str, str] | None]) -> list[dict[str, str] | None]:
    """Names without the last word that every name shares in a language ('район', 'ауданы', 'district'): the legend says it."""
    out = [dict(n) if n else None for n in names]
    for lang in settings.LANGUAGES:
        words = {n[lang].split()[-1] for n in out if n}
        if len(words) == 1 and all(n is None or len(n[lang].split()) > 1 for n in out) and sum(n is not None for n in out) > 1:
            for n in out:
                if n:
                    n[lang] = n[lang].rsplit(" ", 1)[0]
    return out


def district_labels(frame: gpd.GeoDataFrame) -> list[dict]:
    """One label per named district at its pole of inaccessibility, from the zoom at which it fits inside."""
    names = without_shared_word(label_names(frame))
    anchors, spans = [], []
    for geom in frame.geometry.values:
        part = max(getattr(geom, "geoms", [geom]), key=lambda g: g.area)
        anchors.append(shapely.ops.polylabel(part, tolerance=50.0))
        spans.append(2.0 * math.sqrt(part.area / math.pi))  # equivalent diameter (m)
    lonlat = _to_lonlat(anchors)
    out = []
    for name, point, span in zip(names, lonlat, spans):
        if name is None:
            continue
        width = min(DISTRICT_LABEL_PX, max(len(v) for v in name.values()) * CHAR_PX)
        out.append(_label(point.y, point.x, name, fit_zoom(span, width, point.y), PRIORITY["district"], "ga-label-district"))
    return out


def settlement_labels(frame: gpd.GeoDataFrame) -> list[dict]:
    """Settlement names from the zoom their place class suggests (a big population brings a town forward)."""
    names = label_names(frame)
    lonlat = _to_lonlat(frame.geometry.values)
    places = frame["place"].astype("string").fillna("other").to_numpy() if "place" in frame.columns else np.full(len(frame), "other")
    population = frame["population"].to_numpy(float) if "population" in frame.columns else np.full(len(frame), np.nan)
    out = []
    for name, point, place, people in zip(names, lonlat, places, population):
        if name is None or point is None or point.is_empty:
            continue
        zoom = PLACE_MIN_ZOOM.get(place, 12)
        if np.isfinite(people) and people >= 50_000:
            zoom = min(zoom, 9)
        css = "ga-label-settlement" + (" ga-label-city" if place == "city" else "")
        out.append(_label(point.y, point.x, name, zoom, PRIORITY.get(place, PRIORITY["other"]), css))
    return out


def line_labels(frame: gpd.GeoDataFrame, kind: str) -> list[dict]:
    """One label per named line (parts with the same name merged), along the line at its middle."""
    names = label_names(frame)
    groups: dict[tuple, list] = {}
    for name, geom in zip(names, frame.geometry.values):
        if name is not None and geom is not None and not geom.is_empty:
            groups.setdefault(tuple(name[lang] for lang in settings.LANGUAGES), []).append(geom)
    out = []
    for key, geoms in groups.items():
        merged = shapely.line_merge(shapely.union_all(geoms))
        line = max(getattr(merged, "geoms", [merged]), key=lambda g: g.length)
        middle, before, after = (line.interpolate(f, normalized=True) for f in (0.5, 0.47, 0.53))
        (point, p0, p1) = _to_lonlat([middle, before, after])
        dx = (p1.x - p0.x) * math.cos(math.radians(point.y))
        dy = p1.y - p0.y
        angle = -math.degrees(math.atan2(dy, dx))
        if angle > 90:
            angle -= 180
        elif angle <= -90:
            angle += 180
        name = dict(zip(settings.LANGUAGES, key))
        width = max(len(v) for v in name.values()) * CHAR_PX
        out.append(_label(point.y, point.x, name, fit_zoom(line.length, 3.0 * width, point.y), PRIORITY[kind], f"ga-label-{kind}", angle))
    return out


def merged_lines(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Lines merged into one feature per ``class``: thousands of OSM segments become a few light features."""
    if "class" not in frame.columns:
        return gpd.GeoDataFrame(geometry=[shapely.line_merge(shapely.union_all(frame.geometry.values))], crs=frame.crs)
    classes = frame["class"].astype("string").fillna("")
    merged = [(c, shapely.line_merge(shapely.union_all(frame.geometry.values[(classes == c).to_numpy()]))) for c in sorted(classes.unique())]
    return gpd.GeoDataFrame({"class": [c for c, _ in merged]}, geometry=[g for _, g in merged], crs=frame.crs)


def _styled(frame: gpd.GeoDataFrame, base: dict, weights: dict[str, float] | None = None) -> dict:
    """Features styled ``base``, with a line weight per ``class`` where ``weights`` are given."""
    if weights and "class" in frame.columns:
        styles = [{**base, "weight": weights.get(c, base.get("weight", 1.4))} for c in frame["class"]]
    else:
        styles = [base] * len(frame)
    return to_lonlat_features(frame, [{"_style": style} for style in styles], SIMPLIFY_M, DECIMALS)


def add_offline_base(m: folium.Map, recipe: dict, inputs) -> list[str]:
    """Draw the recipe's base layers that the catalog has (non-interactive, under everything) with labels.

    Returns the names of the layers drawn. The base is one overlay (key ``base``) in the legend's base group.
    """
    spec = recipe.get("base", {})
    wanted = spec.get("layers", list(BASE_LAYERS))
    road_classes = set(spec.get("road_classes", DEFAULT_ROAD_CLASSES))
    group = folium.FeatureGroup()
    labels: list[dict] = []
    legend: list[LegendItem] = []
    drawn: list[str] = []

    def text(message_id: str) -> dict[str, str]:
        return {lang: message(message_id, lang) for lang in settings.LANGUAGES}

    frame = inputs.study.layer("districts") if "districts" in wanted else None
    if frame is not None and len(frame):
        add_feature_layer(group, _styled(frame, DISTRICT_STYLE), interactive=False)
        labels += district_labels(frame)
        legend.append(LegendItem(text("base_district"), DISTRICT_STYLE["color"], "dash"))
        drawn.append("districts")
    frame = inputs.study.layer("rivers") if "rivers" in wanted else None
    if frame is not None and len(frame):
        classes = frame["class"] if "class" in frame.columns else None
        add_feature_layer(group, _styled(merged_lines(frame), {"color": RIVER_COLOUR, "opacity": 0.9, "weight": 1.4}, RIVER_WEIGHT), interactive=False)
        labels += line_labels(frame if classes is None else frame[classes.isin(["river", "canal"]) | classes.isna()], "river")
        legend.append(LegendItem(text("base_river"), RIVER_COLOUR, "line"))
        drawn.append("rivers")
    frame = inputs.study.layer("roads") if "roads" in wanted else None
    if frame is not None and "class" in frame.columns:
        frame = frame[frame["class"].isin(road_classes)]
    if frame is not None and len(frame):
        add_feature_layer(group, _styled(merged_lines(frame), {"color": ROAD_COLOUR, "opacity": 0.95, "weight": 1.4}, ROAD_WEIGHT), interactive=False)
        labels += line_labels(frame, "road")
        legend.append(LegendItem(text("base_road"), ROAD_COLOUR, "line"))
        drawn.append("roads")
    frame = inputs.study.layer("settlements") if "settlements" in wanted else None
    if frame is not None and len(frame):
        add_feature_layer(group, _styled(frame, SETTLEMENT_STYLE), interactive=False)
        labels += settlement_labels(frame)
        legend.append(LegendItem(text("base_settlement"), SETTLEMENT_STYLE["fillColor"], "circle", outline=SETTLEMENT_STYLE["color"]))
        drawn.append("settlements")
    if not drawn:
        return drawn
    LabelLayer(m, labels).add_to(group)
    add_overlay(m, group, key="base", title=text("offline_base"), group="base", legend=legend, show=spec.get("show", True))
    return drawn
