"""The citizen map: light, plain language, one tap per facility type, ru/kk/en switch in the page.

A popup leads with the place (settlement or district, the nearest named street) and one plain
line on why; the tonnage within reach comes second, and the "proposal, not a decision" badge
sits inside the popup.
"""
from __future__ import annotations

import folium
import numpy as np
import shapely

from .. import settings
from ..explain import format_amount, site_breakdown, tonnage_reached
from ..i18n import text as message
from ..select import district_names
from .basemap import add_offline_base
from .elements import SiteMarkers, pin_css, rank_z_index
from .legend import LegendItem
from .maps import (add_basemaps, add_data_attribution, add_feature_layer, attributions_html, coordinates_text, facility_pin_class, feature_names, home_bounds,
                   label_names, new_map, sites_lonlat, to_lonlat_features)
from .planner import feature_style, legend_symbol
from .shell import add_overlay, index_link_html
from .text import esc, per_language, tr, tr_compact, tr_message

#: A site is described as "near" a settlement within this distance (m), and near a street within this one.
SETTLEMENT_RADIUS_M = 3000.0
STREET_RADIUS_M = 400.0


def _nearest_names(layer, x: np.ndarray, y: np.ndarray, radius: float) -> list[dict[str, str] | None]:
    """Per point, the name of the nearest named feature of ``layer`` within ``radius`` m (None otherwise)."""
    if layer is None or not len(layer) or not len(x):
        return [None] * len(x)
    names = label_names(layer)
    named = np.array([n is not None for n in names])
    if not named.any():
        return [None] * len(x)
    geoms = layer.geometry.values[named]
    kept = [n for n in names if n is not None]
    tree = shapely.STRtree(geoms)
    (points, hits), _ = tree.query_nearest(shapely.points(x, y), max_distance=radius, return_distance=True)
    out: list[dict[str, str] | None] = [None] * len(x)
    for p, h in zip(points, hits):
        if out[p] is None:
            out[p] = kept[h]
    return out


def site_places(outcome, inputs) -> list[dict[str, str]]:
    """Per chosen site: 'settlement, district' (or the district), with the nearest named street when known."""
    idx = outcome.selection.candidate.to_numpy()
    x, y = outcome.result.candidates.x[idx], outcome.result.candidates.y[idx]
    settlements = _nearest_names(inputs.study.layer("settlements"), x, y, SETTLEMENT_RADIUS_M)
    roads = inputs.study.layer("roads")
    if roads is not None and "class" in roads.columns:
        roads = roads[~roads["class"].astype(str).str.contains("rail|planned|metro")]  # streets only
    streets = _nearest_names(roads, x, y, STREET_RADIUS_M)
    districts = district_names(inputs.study)
    out = []
    for district_id, settlement, street in zip(outcome.selection.district_id, settlements, streets):
        district = districts.get(district_id, {lang: str(district_id) for lang in settings.LANGUAGES})
        place = {}
        for lang in settings.LANGUAGES:
            text = district[lang]
            if settlement and settlement[lang] not in text:
                text = f"{settlement[lang]}, {text}"
            if street:
                text += " · " + message("near_street", lang).format(street=street[lang])
            place[lang] = text
        out.append(place)
    return out


def citizen_popup(outcome, site: int, item: dict, inputs, place: dict[str, str], lat: float, lon: float) -> str:
    """Place first, one plain line on why, what the facility is, tonnage within reach second, the badge."""
    result = outcome.result
    why = {}
    for lang in settings.LANGUAGES:
        table = site_breakdown(result, site, lang, inputs.allocations)
        table = table[table.weight > 0]
        why[lang] = f"{table.label.iloc[0]}: {table.raw.iloc[0]}" if len(table) else ""
    reached = tonnage_reached(result, site, inputs.allocations)
    reach = "; ".join(
        f"{tr(inputs.allocations[k].title)}: {tr(per_language(lambda lang, v=v, k=k: format_amount(v, inputs.allocations[k].unit, lang)))}"
        for k, v in reached.items())
    headline = item.get("headline") or result.profile.title
    plain = item.get("plain") or result.profile.summary
    return (f'<div class="ga-popup"><h3 style="color:{esc(item["color"])}">{tr(place)}</h3>'
            f'<p><b>{tr(headline)}</b></p>'
            f'<p><b>{tr_message("why_line")}:</b> {tr(why)}</p>'
            f'<p>{tr(plain)}</p>'
            + (f'<p class="ga-secondary">{tr_message("reaches")}: {reach}. {tr_message("reach_overlaps")}</p>' if reached else "")
            + f'<p class="ga-secondary">{tr_message("coordinates")}: {coordinates_text(lat, lon)}</p>'
            f'<p class="ga-badge">{tr_message("proposal_badge")}</p></div>')


def facility_records(outcome, item: dict, inputs, icon_class: str = "") -> list[dict]:
    """The markers of one facility type."""
    lon, lat = sites_lonlat(outcome)
    places = site_places(outcome, inputs)
    headline = item.get("headline") or outcome.profile.title
    rows = outcome.selection
    return [{"rank": int(rank), "lat": round(float(b), 6), "lon": round(float(a), 6), "icon_class": icon_class, "z": rank_z_index(rank, len(rows)),
             "titles": {lang: f"{headline[lang]}: {place[lang]}" for lang in settings.LANGUAGES},
             "tooltip": tr(place), "popup": citizen_popup(outcome, int(c), item, inputs, place, float(b), float(a))}
            for rank, c, a, b, place in zip(rows["rank"], rows.candidate.to_numpy(), lon, lat, places)]


def build_citizen_map(recipe: dict, inputs, outcomes: dict, lang: str, *, index_href: str | None = None,
                      located: dict | None = None) -> folium.Map:
    """The citizen map for ``recipe`` (see ``maps/citizen.yaml``); ``index_href`` links back to the index page.

    ``located`` (facility -> :class:`geo_almaty.locate.LocateOutcome`) adds each located site to its facility's
    layer, with a popup naming the districts it would serve.
    """
    m = new_map(home_bounds(inputs, outcomes), lang, recipe["title"], kind="citizen", scale=recipe.get("controls", {}).get("scale", True))
    add_basemaps(m, recipe)
    add_data_attribution(m, inputs)
    drawn = add_offline_base(m, recipe, inputs)
    for item in recipe.get("layers", []):
        frame = inputs.study.layer(item["layer"])
        if frame is None:
            continue
        spec = inputs.catalog.layer(item["layer"])
        style = feature_style(item, None)
        group = folium.FeatureGroup()
        props = [{"_style": style, "_tooltip": tr_compact(n)} for n in feature_names(frame)]
        add_feature_layer(group, to_lonlat_features(frame, props, item.get("simplify_m", 40.0)))
        symbol, outline = legend_symbol(spec.geometry, style)
        colour = style["color"] if symbol in ("line", "dash") else style["fillColor"]
        add_overlay(m, group, key=f"layer:{item['layer']}", title=spec.title, group="base",
                    legend=[LegendItem(spec.title, colour, symbol, outline=None if outline == colour else outline)])
    chips = []
    for n, item in enumerate(recipe["facilities"]):
        outcome = outcomes.get(item["facility"])
        if outcome is None:
            continue
        pin_class = facility_pin_class(n)
        m.shell.css += "\n" + pin_css(pin_class, item["color"])
        headline = item.get("headline") or outcome.profile.title
        group = folium.FeatureGroup()
        legend = [LegendItem(headline, item["color"], "pin", css_class=pin_class)]
        if located and item["facility"] in located:
            from .located import located_citizen_layer

            legend.append(located_citizen_layer(group, located[item["facility"]], item["color"]))
        SiteMarkers(item["facility"], facility_records(outcome, item, inputs, pin_class), max_width=340).add_to(group)
        add_overlay(m, group, key=f"sites:{item['facility']}", title=headline, group="facilities", show=not chips, control=False,
                    legend=legend)
        m.shell.config["facilities"].append(item["facility"])
        chips.append(f'<button type="button" class="ga-chip" data-facility="{esc(item["facility"])}" aria-pressed="false" '
                     f'style="border-left-color:{esc(item["color"])}">{tr(headline)}</button>')
    m.shell.config["exclusive_facilities"] = True
    m.shell.quick_html = f'<div class="ga-chips" role="group">{"".join(chips)}</div>'
    if "intro" in recipe:
        m.shell.blocks.append(f"<p>{tr(recipe['intro'])}</p>")
    m.shell.blocks.append(f'<p class="ga-badge">{tr_message("proposal_badge")}</p>')
    if inputs.catalog.disclaimer:
        m.shell.blocks.append(f'<p class="ga-note">{tr(inputs.catalog.disclaimer)}</p>')
    drawn += [item["layer"] for item in recipe.get("layers", []) if inputs.study.layer(item["layer"]) is not None]
    m.shell.footer += [attributions_html(inputs.catalog, list(dict.fromkeys(drawn))), index_link_html(index_href)]
    return m
