"""Building blocks shared by the planner and citizen maps (folium, offline)."""
from __future__ import annotations

import json
from pathlib import Path

import folium
import geopandas as gpd
import shapely
import xyzservices.providers as xyz
from branca.element import MacroElement
from folium.template import Template

from .. import settings
from ..atomic import write_text_atomic
from ..catalog import catalog_attributions
from ..errors import RecipeError
from .elements import FeatureLayer, HtmlControl, PageStyle, language_switch_html
from .offline import inline_assets
from .overlay import blank_tile_uri
from .text import esc, tr

#: Decimal places of lon/lat in exported GeoJSON (5 ≈ 1 m).
COORDINATE_DECIMALS = 5


def new_map(study_bounds_lonlat: tuple[float, float, float, float], lang: str, *, scale: bool = True) -> folium.Map:
    """A folium map with only Leaflet's own assets (no jQuery/Bootstrap/fonts), fitted to the bounds."""
    west, south, east, north = study_bounds_lonlat
    m = folium.Map(location=[(south + north) / 2, (west + east) / 2], zoom_start=10, tiles=None, control_scale=scale, prefer_canvas=False)
    m.default_js = [item for item in m.default_js if item[0] == "leaflet"]
    m.default_css = [item for item in m.default_css if item[0] == "leaflet_css"]
    m.fit_bounds([[south, west], [north, east]])
    m.page_style = PageStyle(lang)
    m.page_style.add_to(m)
    HtmlControl(language_switch_html(), position="topright", css_class="ga-panel ga-lang-panel").add_to(m)
    return m


def facility_pin_class(index: int) -> str:
    """CSS class of the pins of the ``index``-th facility type."""
    return f"ga-pin-{index}"


def add_basemaps(m: folium.Map, recipe: dict) -> None:
    """Tile layers from xyzservices (attribution included) and, optionally, a blank base for offline use."""
    basemaps = recipe.get("basemaps", [])
    if not basemaps and not recipe.get("blank_basemap", True):
        return
    for item in basemaps:
        try:
            provider = xyz.query_name(item["provider"])
        except ValueError:
            raise RecipeError(f"unknown basemap provider '{item['provider']}'", file=recipe.get("_path"), column="basemaps",
                              expected="an xyzservices provider name such as CartoDB.Positron") from None
        folium.TileLayer(tiles=provider.build_url(), attr=provider.html_attribution, name=tr({"ru": provider.name, "kk": provider.name, "en": provider.name}),
                         max_zoom=provider.get("max_zoom", 19), show=bool(item.get("default"))).add_to(m)
    if recipe.get("blank_basemap"):
        blank = tr({"ru": "Без подложки", "kk": "Негізсіз", "en": "No basemap"})
        folium.TileLayer(tiles=blank_tile_uri(), attr="geo_almaty", name=blank, show=not basemaps).add_to(m)


class DataAttribution(MacroElement):
    """Credits of the map's data in Leaflet's attribution control (trilingual, pre-escaped), wrapping on phones."""

    _template = Template("""
        {% macro header(this, kwargs) %}
        <style>.leaflet-control-attribution{max-width:calc(100vw - 120px);white-space:normal}
        @media (max-width:480px){.leaflet-control-attribution{font-size:10px;line-height:1.3}}</style>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        {{ this._parent.get_name() }}.attributionControl.addAttribution({{ this.html|tojson }});
        {% endmacro %}
    """)

    def __init__(self, html: str) -> None:
        super().__init__()
        self._name = "DataAttribution"
        self.html = html


def add_data_attribution(m: folium.Map, inputs) -> None:
    """Show the attributions (catalog ``attribution`` keys) of every layer the map's results were computed from."""
    names = [*inputs.study.layers, *(["dem"] if inputs.study.dem is not None else [])]
    credits = catalog_attributions(inputs.catalog, names)
    if credits:
        html = " · ".join(f'<span class="ga-credit">{tr(c)}</span>' for c in credits)
        DataAttribution(html).add_to(m)


def to_lonlat_features(frame: gpd.GeoDataFrame, properties: list[dict], simplify_m: float = 0.0) -> dict:
    """A GeoJSON FeatureCollection (EPSG:4326, 5 decimals) of ``frame``'s geometry with given properties."""
    geoms = frame.geometry.values
    if simplify_m:
        geoms = shapely.simplify(geoms, simplify_m, preserve_topology=True)
    lonlat = gpd.GeoSeries(geoms, crs=frame.crs).to_crs(settings.GEOGRAPHIC_CRS).values
    lonlat = shapely.set_precision(lonlat, 10 ** -COORDINATE_DECIMALS, mode="pointwise")
    features = [
        {"type": "Feature", "properties": props, "geometry": json.loads(shapely.to_geojson(g))}
        for g, props in zip(lonlat, properties)
        if g is not None and not g.is_empty
    ]
    return {"type": "FeatureCollection", "features": features}


def feature_names(frame: gpd.GeoDataFrame) -> list[dict[str, str]]:
    """Per feature, its name in each language (falling back to Russian, then the id)."""
    out = []
    id_columns = [c for c in frame.columns if c.endswith("_id")]
    for _, row in frame.iterrows():
        fallback = next((str(row[c]) for c in ("name_ru", "name_en", "name_kk", *id_columns) if c in frame.columns and isinstance(row[c], str) and row[c]), "")
        out.append({lang: (row.get(f"name_{lang}") if isinstance(row.get(f"name_{lang}"), str) and row.get(f"name_{lang}") else fallback)
                    for lang in settings.LANGUAGES})
    return out


def popup_table(rows: list[tuple[str, str]]) -> str:
    """A two-column table of already-escaped (label, value) HTML."""
    body = "".join(f"<tr><th>{label}</th><td>{value}</td></tr>" for label, value in rows)
    return f'<table>{body}</table>'


def legend_html(title: str, entries: list[tuple[str, str]], *, line: bool = False) -> str:
    """A legend block: ``title`` (HTML) and ``(colour, label HTML)`` rows."""
    shape = "height:3px;vertical-align:3px" if line else ""
    rows = "".join(f'<div class="ga-row"><span class="ga-swatch" style="background:{esc(colour)};{shape}"></span>{label}</div>'
                   for colour, label in entries)
    return f"<h2>{title}</h2>{rows}"


def add_feature_layer(group: folium.FeatureGroup, collection: dict) -> None:
    """Add a FeatureLayer of pre-styled, pre-escaped features to ``group``."""
    FeatureLayer(collection).add_to(group)


def save_map(m: folium.Map, path: str | Path, lang: str) -> Path:
    """Render ``m``, inline every asset, and write it atomically."""
    html = m.get_root().render()
    html = inline_assets(html)
    html = html.replace("<html>", f'<html lang="{lang}" data-lang="{lang}">', 1)
    if "<meta charset" not in html[:500]:
        html = html.replace("<head>", '<head><meta charset="utf-8">', 1)
    return write_text_atomic(path, html)


def lonlat_bounds(geometry: shapely.Geometry) -> tuple[float, float, float, float]:
    """Bounds (west, south, east, north) in EPSG:4326 of a geometry in EPSG:32643."""
    lonlat = gpd.GeoSeries([geometry], crs=settings.ANALYSIS_CRS).to_crs(settings.GEOGRAPHIC_CRS)
    return tuple(float(v) for v in lonlat.total_bounds)
