"""The location-allocation on the maps (:mod:`geo_almaty.locate`).

Planner map, per facility type: the located sites as circles whose area follows their
assigned tonnage, their catchments and the demand → site haul links, each an overlay
with its legend (:func:`add_located_layers`). Citizen map: the located sites join the
facility's one-tap layer, each popup saying which districts the site would serve
(:func:`located_citizen_layer`). Every text is escaped and in ru/kk/en.
"""
from __future__ import annotations

import folium
import numpy as np

from .. import settings
from ..i18n import text as message
from ..locate.outputs import locate_layers, site_table
from ..locate.report import amount, percent, served_districts
from .elements import FeatureLayer
from .legend import LegendItem
from .maps import coordinates_text, to_lonlat_features
from .overlay import facility_ramp, hex_colour
from .shell import add_overlay
from .text import esc, per_language, tr, tr_message

#: Circle radius (px) of the smallest and of the largest located site; the area grows with the tonnes.
SITE_RADIUS_PX = (5.0, 18.0)
#: Width (px) of the thinnest and of the thickest haul link.
LINK_WIDTH_PX = (1.0, 6.0)
#: Catchment outlines are simplified to this tolerance (m) to keep the page small.
CATCHMENT_SIMPLIFY_M = 60.0
#: Decimal places of catchment and link coordinates (4: about 10 m, well below the 250 m cells and 1 km blocks).
LINE_DECIMALS = 4


def scaled(values: np.ndarray, lowest: float, highest: float) -> np.ndarray:
    """``lowest`` … ``highest`` by the square root of ``values`` / their maximum (area ∝ value for radii)."""
    values = np.asarray(values, dtype=float)
    top = float(values.max(initial=0.0))
    share = np.sqrt(np.clip(values / top, 0.0, 1.0)) if top > 0 else np.zeros_like(values)
    return np.round(lowest + (highest - lowest) * share, 1)


def site_label(row, lang: str) -> str:
    """'Proposed site: <band>' or 'Existing facility: <name>' in ``lang``."""
    if row.kind == "existing":
        return message("locate_map_existing", lang).format(name=row.name or row.site_id)
    return message("locate_map_planned", lang).format(band=row.size_band_label)


def site_popup(outcome, row_index: int, colour: str, lat: float, lon: float, *, citizen: bool = False) -> str:
    """A located site's popup: what it is, the tonnes it takes, its sanitary zone and the districts it would serve."""
    tables = {lang: site_table(outcome, lang).iloc[row_index] for lang in settings.LANGUAGES}
    serves = {lang: served_districts(outcome, lang).get(tables[lang].site_id, "") for lang in settings.LANGUAGES}
    heading = per_language(lambda lang: f"{outcome.profile.title[lang]} · {site_label(tables[lang], lang)}")
    load = per_language(lambda lang: message("locate_map_assigned", lang).format(
        assigned=amount(tables[lang].assigned_t_yr), capacity=amount(tables[lang].capacity_t_yr), share=percent(tables[lang].utilisation, lang)))
    parts = [f'<div class="ga-popup"><h3 style="color:{esc(colour)}">{tr(heading)}</h3>', f"<p>{tr(load)}</p>",
             f'<p><b>{tr_message("locate_map_serves")}:</b> {tr(serves)}</p>']
    if "sanitary_zone" in tables["en"].index:
        zone = {lang: tables[lang].sanitary_zone for lang in settings.LANGUAGES}
        parts.append(f'<p class="ga-secondary">{tr_message("locate_map_zone")}: {tr(zone)}</p>')
    if not citizen:
        parts.append(f'<p class="ga-secondary">{esc(tables["en"].site_id)}</p>')
    parts.append(f'<p class="ga-secondary">{tr_message("coordinates")}: {coordinates_text(lat, lon)}</p>')
    if citizen:
        parts.append(f'<p class="ga-badge">{tr_message("proposal_badge")}</p>')
    parts.append("</div>")
    return "".join(parts)


def site_features(outcome, colour: str, *, citizen: bool = False) -> dict:
    """The located sites as GeoJSON circle markers (radius by assigned tonnes) with popups and tooltips."""
    sites = locate_layers(outcome)["sites"]
    lonlat = sites.geometry.to_crs(settings.GEOGRAPHIC_CRS)
    radius = scaled(sites.assigned_t_yr.to_numpy(), *SITE_RADIUS_PX)
    props = []
    for n, row in enumerate(sites.itertuples()):
        style = {"radius": float(radius[n]), "color": colour, "weight": 2, "fillColor": colour, "fillOpacity": 0.55}
        tooltip = per_language(lambda lang, row=row: f"{amount(row.assigned_t_yr)} {message('t_per_year', lang)}")
        props.append({"_style": style, "_tooltip": tr(tooltip),
                      "_popup": site_popup(outcome, n, colour, float(lonlat.y.iloc[n]), float(lonlat.x.iloc[n]), citizen=citizen)})
    return to_lonlat_features(sites, props)


def _titles(outcome, message_id: str) -> dict[str, str]:
    return per_language(lambda lang: message(message_id, lang).format(facility=outcome.profile.title[lang]))


def add_located_layers(m: folium.Map, recipe: dict, located: dict) -> None:
    """Planner map: per facility type of the recipe that was located, its catchments, haul links and sites (sites shown)."""
    for item in recipe["facilities"]:
        outcome = located.get(item["facility"])
        if outcome is None:
            continue
        colour, facility = item["color"], item["facility"]
        layers = locate_layers(outcome)
        catchments = layers["catchments"][layers["catchments"].site_id != "unserved"]
        serves = {lang: served_districts(outcome, lang) for lang in settings.LANGUAGES}
        props = [{"_style": {"color": colour, "weight": 1, "dashArray": "4 3", "fillColor": colour, "fillOpacity": 0.12},
                  "_tooltip": tr(per_language(lambda lang, s=site: f"{s}: {serves[lang].get(s, '')}"))} for site in catchments.site_id]
        group = folium.FeatureGroup()
        FeatureLayer(to_lonlat_features(catchments, props, CATCHMENT_SIMPLIFY_M, LINE_DECIMALS)).add_to(group)
        _overlay(m, group, f"located_catchments:{facility}", _titles(outcome, "locate_map_catchments"),
                 LegendItem(_messages("locate_map_catchments_item"), colour, "fill"), colour, show=False)
        links = layers["links"]
        width = scaled(links.t_yr.to_numpy(), *LINK_WIDTH_PX)
        props = [{"_style": {"color": colour, "weight": float(w), "opacity": 0.6}} for w in width]  # no tooltips: hundreds of links
        group = folium.FeatureGroup()
        FeatureLayer(to_lonlat_features(links, props, decimals=LINE_DECIMALS)).add_to(group)
        _overlay(m, group, f"located_links:{facility}", _titles(outcome, "locate_map_links"),
                 LegendItem(_messages("locate_map_links_item"), colour, "line"), colour, show=False)
        group = folium.FeatureGroup()
        FeatureLayer(site_features(outcome, colour)).add_to(group)
        _overlay(m, group, f"located_sites:{facility}", _titles(outcome, "locate_map_sites"),
                 LegendItem(_messages("locate_map_sites_item"), colour, "circle"), colour, show=True)


def located_citizen_layer(group: folium.FeatureGroup, outcome, colour: str) -> LegendItem:
    """Citizen map: the located sites into the facility's layer ``group`` (a darker tone of its pin colour,
    so the pins and the circles read apart); returns their legend row."""
    tone = hex_colour(facility_ramp(colour)[-1][1])  # the dark end of the facility's own ramp
    FeatureLayer(site_features(outcome, tone, citizen=True)).add_to(group)
    return LegendItem(_messages("locate_map_citizen_item"), tone, "circle")


def _messages(message_id: str) -> dict[str, str]:
    return per_language(lambda lang: message(message_id, lang))


def _overlay(m: folium.Map, group: folium.FeatureGroup, key: str, title: dict[str, str], item: LegendItem, colour: str, *, show: bool) -> None:
    add_overlay(m, group, key=key, title=title, group="facilities", legend=[item], note=_messages("locate_map_note"), show=show)
    m.shell.legend[-1].shared_colours = (colour,)  # the facility's colour on purpose: its pins, sites, catchments and links

