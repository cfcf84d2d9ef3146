"""The citizen map: light, plain language, one click per facility type, ru/kk/en switch in the page."""
from __future__ import annotations

import folium
import geopandas as gpd

from .. import settings
from ..explain import format_amount, site_breakdown, tonnage_reached
import numpy as np
import shapely

from .elements import FacilitySwitcher, pin_css, rank_z_index
from .maps import add_basemaps, add_data_attribution, add_feature_layer, facility_pin_class, feature_names, lonlat_bounds, new_map, to_lonlat_features
from .planner import feature_style
from .text import esc, per_language, tr, tr_message


def citizen_popup(outcome, site: int, item: dict, inputs, reasons: int) -> str:
    """Headline, a plain sentence, the main reasons in words, and what lies within reach."""
    result = outcome.result
    why = {}
    for lang in settings.LANGUAGES:
        table = site_breakdown(result, site, lang, inputs.allocations)
        table = table[table.weight > 0].head(reasons)
        why[lang] = "".join(f"<li>{esc(r.label)}: {esc(r.raw)}</li>" for r in table.itertuples())
    reached = tonnage_reached(result, site, inputs.allocations)
    reach = "".join(
        f"<li>{tr(inputs.allocations[k].title)}: {tr(per_language(lambda lang, v=v, k=k: format_amount(v, inputs.allocations[k].unit, lang)))}</li>"
        for k, v in reached.items())
    headline = item.get("headline") or result.profile.title
    plain = item.get("plain") or result.profile.summary
    return (f'<div class="ga-popup"><b style="color:{esc(item["color"])}">{tr(headline)}</b><p>{tr(plain)}</p>'
            f'<b>{tr_message("reasons")}</b><ul>{tr(why, escape=False)}</ul>'
            f'<b>{tr_message("reaches")}</b><ul>{reach}</ul></div>')


def facility_records(outcome, item: dict, inputs, reasons: int, icon_class: str = "") -> dict:
    """The switcher's data for one facility type."""
    rows = outcome.selection
    idx = rows.candidate.to_numpy()
    points = gpd.GeoSeries(gpd.points_from_xy(outcome.result.candidates.x[idx], outcome.result.candidates.y[idx]), crs=settings.ANALYSIS_CRS)
    lonlat = points.to_crs(settings.GEOGRAPHIC_CRS)
    headline = item.get("headline") or outcome.profile.title
    sites = [{"lat": round(p.y, 6), "lon": round(p.x, 6), "title": f"{headline['en']} {rank}", "icon_class": icon_class,
              "z": rank_z_index(rank, len(rows)),
              "tooltip": tr(headline), "popup": citizen_popup(outcome, int(c), item, inputs, reasons)}
             for rank, c, p in zip(rows["rank"], idx, lonlat)]
    return {"id": item["facility"], "sites": sites}


def citizen_bounds(inputs, outcomes: dict) -> tuple[float, float, float, float]:
    """Bounds (lon/lat) of the city districts and every chosen site, so the map opens on what matters."""
    parts = []
    districts = inputs.study.layer("districts")
    if districts is not None:
        parts.append(shapely.box(*districts.total_bounds))
    for outcome in outcomes.values():
        idx = outcome.selection.candidate.to_numpy()
        if len(idx):
            parts.append(shapely.multipoints(np.column_stack([outcome.result.candidates.x[idx], outcome.result.candidates.y[idx]])))
    return lonlat_bounds(shapely.union_all(parts) if parts else inputs.study.area)


def build_citizen_map(recipe: dict, inputs, outcomes: dict, lang: str) -> folium.Map:
    """The citizen map for ``recipe`` (see ``maps/citizen.yaml``)."""
    m = new_map(citizen_bounds(inputs, outcomes), lang, scale=recipe.get("controls", {}).get("scale", True))
    add_basemaps(m, recipe)
    add_data_attribution(m, inputs)
    for item in recipe.get("layers", []):
        frame = inputs.study.layer(item["layer"])
        if frame is None:
            continue
        names = feature_names(frame)
        props = [{"_style": feature_style(item, None), "_tooltip": tr(n)} for n in names]
        add_feature_layer(m, to_lonlat_features(frame, props, item.get("simplify_m", 40.0)))
    reasons = recipe.get("reasons", 3)
    data, buttons = [], []
    for n, item in enumerate(recipe["facilities"]):
        outcome = outcomes.get(item["facility"])
        if outcome is None:
            continue
        m.page_style.add_css(pin_css(facility_pin_class(n), item["color"]))
        data.append(facility_records(outcome, item, inputs, reasons, facility_pin_class(n)))
        headline = item.get("headline") or outcome.profile.title
        buttons.append(f'<button type="button" data-facility="{esc(item["facility"])}" style="border-left:6px solid {esc(item["color"])}">{tr(headline)}</button>')
    intro = f"<p>{tr(recipe['intro'])}</p>" if "intro" in recipe else ""
    note = f'<p class="ga-note">{tr(inputs.catalog.disclaimer)}</p>' if inputs.catalog.disclaimer else ""
    FacilitySwitcher(data, f"<h1>{tr(recipe['title'])}</h1>{intro}<div>{''.join(buttons)}</div>{note}").add_to(m)
    return m
