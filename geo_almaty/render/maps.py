"""Building blocks shared by the planner and citizen maps (folium, offline)."""
from __future__ import annotations

import json
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import shapely
import xyzservices.providers as xyz
from branca.element import MacroElement
from folium.template import Template

from .. import settings
from ..atomic import write_text_atomic
from ..catalog import catalog_attributions
from ..errors import RecipeError
from ..i18n import text as message
from .elements import FeatureLayer
from .offline import inline_assets, leaflet_image
from .overlay import blank_tile_uri
from .shell import MapShell, finish_map
from .stable import stabilise_ids
from .text import esc, tr

#: Decimal places of lon/lat in exported GeoJSON (5 ≈ 1 m).
COORDINATE_DECIMALS = 5
#: Readable names of the basemaps the shipped recipes use (message ids); others show the provider's name.
BASEMAP_MESSAGES = {"OpenStreetMap.Mapnik": "basemap_osm", "OpenTopoMap": "basemap_topo", "Esri.WorldImagery": "basemap_imagery"}


def new_map(home_bounds_lonlat: tuple[float, float, float, float], lang: str, title: dict[str, str], *, kind: str,
            scale: bool = True) -> folium.Map:
    """A folium map with only Leaflet's own assets (no jQuery/Bootstrap/fonts) and a :class:`MapShell` as ``m.shell``.

    The page opens on ``home_bounds_lonlat`` (west, south, east, north), fitted to the part of the
    map that no panel or control covers.
    """
    west, south, east, north = home_bounds_lonlat
    m = folium.Map(location=[(south + north) / 2, (west + east) / 2], zoom_start=10, tiles=None, control_scale=False, prefer_canvas=False,
                   zoom_snap=0.5)
    m.default_js = [item for item in m.default_js if item[0] == "leaflet"]
    m.default_css = [item for item in m.default_css if item[0] == "leaflet_css"]
    m.shell = MapShell(kind, title, lang, [[south, west], [north, east]], scale=scale)
    m.shell.css += f"\n.ga-sym-pin{{background-image:url({leaflet_image('marker-icon.png')})}}"
    return m


def facility_pin_class(index: int) -> str:
    """CSS class of the pins of the ``index``-th facility type."""
    return f"ga-pin-{index}"


def basemap_title(provider_name: str, label: dict[str, str] | None = None) -> dict[str, str]:
    """The layer-list name of a basemap: the recipe's label, a known readable name, or the provider's name."""
    if label:
        return label
    if provider_name in BASEMAP_MESSAGES:
        return {lang: message(BASEMAP_MESSAGES[provider_name], lang) for lang in settings.LANGUAGES}
    return {lang: provider_name for lang in settings.LANGUAGES}


def add_basemaps(m: folium.Map, recipe: dict) -> None:
    """Tile layers from xyzservices (attribution included) and, optionally, a blank base for offline use."""
    basemaps = recipe.get("basemaps", [])
    for item in basemaps:
        try:
            provider = xyz.query_name(item["provider"])
        except ValueError:
            raise RecipeError(f"unknown basemap provider '{item['provider']}'", file=recipe.get("_path"), column="basemaps",
                              expected="an xyzservices provider name such as CartoDB.Positron") from None
        folium.TileLayer(tiles=provider.build_url(), attr=provider.html_attribution, name=tr(basemap_title(provider.name, item.get("label"))),
                         max_zoom=provider.get("max_zoom", 19), show=bool(item.get("default"))).add_to(m)
    if recipe.get("blank_basemap"):
        blank = tr({lang: message("basemap_none", lang) for lang in settings.LANGUAGES})
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


def to_lonlat_features(frame: gpd.GeoDataFrame, properties: list[dict], simplify_m: float = 0.0,
                       decimals: int = COORDINATE_DECIMALS) -> dict:
    """A GeoJSON FeatureCollection (EPSG:4326, ``decimals`` places) of ``frame``'s geometry with given properties."""
    geoms = frame.geometry.values
    if simplify_m:
        geoms = shapely.simplify(geoms, simplify_m, preserve_topology=True)
    lonlat = gpd.GeoSeries(geoms, crs=frame.crs).to_crs(settings.GEOGRAPHIC_CRS).values
    lonlat = shapely.set_precision(lonlat, 10 ** -decimals, mode="pointwise")
    features = [
        {"type": "Feature", "properties": props, "geometry": json.loads(shapely.to_geojson(g))}
        for g, props in zip(lonlat, properties)
        if g is not None and not g.is_empty
    ]
    return {"type": "FeatureCollection", "features": features}


def _text(value: object) -> str | None:
    """A usable name: a non-empty string that is not the text of a missing value."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if value and value.lower() not in ("nan", "none", "null") else None


def label_names(frame: gpd.GeoDataFrame) -> list[dict[str, str] | None]:
    """Per feature, its name in each language (Russian, then English, where one is missing), or None when unnamed."""
    columns = [f"name_{lang}" for lang in settings.LANGUAGES]
    present = [c for c in columns if c in frame.columns]
    out: list[dict[str, str] | None] = []
    for row in frame[present].itertuples(index=False) if present else [() for _ in range(len(frame))]:
        values = dict(zip(present, (_text(v) for v in row)))
        fallback = values.get("name_ru") or values.get("name_en") or values.get("name_kk")
        out.append({lang: values.get(f"name_{lang}") or fallback for lang in settings.LANGUAGES} if fallback else None)
    return out


def feature_names(frame: gpd.GeoDataFrame) -> list[dict[str, str]]:
    """Per feature, its name in each language (falling back to Russian, then the id)."""
    id_columns = [c for c in frame.columns if c.endswith("_id")]
    names = label_names(frame)
    out = []
    for n, name in enumerate(names):
        if name is None:
            ident = next((str(frame[c].iloc[n]) for c in id_columns if _text(str(frame[c].iloc[n]))), "")
            name = {lang: ident for lang in settings.LANGUAGES}
        out.append(name)
    return out


def attributions_html(catalog, layers: list[str]) -> str:
    """The attributions (ru/kk/en) of the catalog layers a map draws, when the catalog provides them."""
    from .. import catalog as catalog_module

    collect = getattr(catalog_module, "catalog_attributions", None)  # added with the real-geography layers
    items = collect(catalog, layers) if collect else []
    return f'<p class="ga-note">{"; ".join(tr(item) for item in items)}</p>' if items else ""


def popup_table(rows: list[tuple[str, str]]) -> str:
    """A two-column table of already-escaped (label, value) HTML."""
    body = "".join(f"<tr><th>{label}</th><td>{value}</td></tr>" for label, value in rows)
    return f'<table>{body}</table>'


def add_feature_layer(group: folium.FeatureGroup, collection: dict, *, interactive: bool = True) -> None:
    """Add a FeatureLayer of pre-styled, pre-escaped features to ``group``."""
    FeatureLayer(collection, interactive=interactive).add_to(group)


def coordinates_text(lat: float, lon: float) -> str:
    """'43.23845, 76.94570' (lat, lon; WGS 84, 5 decimals ≈ 1 m): what a GIS or a phone's map search accepts."""
    return f"{lat:.5f}, {lon:.5f}"


def render_map(m: folium.Map, lang: str) -> str:
    """The map's complete, self-contained HTML: shell added last, ids stable, assets inlined, a title."""
    finish_map(m)
    stabilise_ids(m.get_root())
    html = m.get_root().render()
    html = inline_assets(html)
    html = html.replace("<html>", f'<html lang="{lang}" data-lang="{lang}">', 1)
    head = "<head>" + ("" if "<meta charset" in html[:500] else '<meta charset="utf-8">') + f"<title>{esc(m.shell.title[lang])}</title>"
    return html.replace("<head>", head, 1)


def save_map(m: folium.Map, path: str | Path, lang: str) -> Path:
    """Render ``m`` (see :func:`render_map`) and write it atomically."""
    return write_text_atomic(path, render_map(m, lang))


def lonlat_bounds(geometry: shapely.Geometry) -> tuple[float, float, float, float]:
    """Bounds (west, south, east, north) in EPSG:4326 of a geometry in EPSG:32643."""
    lonlat = gpd.GeoSeries([geometry], crs=settings.ANALYSIS_CRS).to_crs(settings.GEOGRAPHIC_CRS)
    return tuple(float(v) for v in lonlat.total_bounds)


def sites_lonlat(outcome) -> tuple[np.ndarray, np.ndarray]:
    """(lon, lat) arrays of a facility outcome's chosen sites, in rank order."""
    idx = outcome.selection.candidate.to_numpy()
    points = gpd.GeoSeries(gpd.points_from_xy(outcome.result.candidates.x[idx], outcome.result.candidates.y[idx]), crs=settings.ANALYSIS_CRS)
    lonlat = points.to_crs(settings.GEOGRAPHIC_CRS)
    return lonlat.x.to_numpy(), lonlat.y.to_numpy()


def home_bounds(inputs, outcomes: dict) -> tuple[float, float, float, float]:
    """Bounds (lon/lat) of the city districts and every chosen site, so a map opens on what matters."""
    parts = []
    districts = inputs.study.layer("districts")
    if districts is not None:
        parts.append(shapely.box(*districts.total_bounds))
    for outcome in outcomes.values():
        idx = outcome.selection.candidate.to_numpy()
        if len(idx):
            parts.append(shapely.multipoints(np.column_stack([outcome.result.candidates.x[idx], outcome.result.candidates.y[idx]])))
    return lonlat_bounds(shapely.union_all(parts) if parts else inputs.study.area)
