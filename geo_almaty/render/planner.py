"""The planner map: every input layer by class, flows per district, suitability surfaces, top sites.

Built from a map recipe (``maps/planner.yaml``); all text is trilingual and every
value taken from data is escaped.
"""
from __future__ import annotations

import logging

import folium
import mapclassify
import numpy as np
import pandas as pd
from branca.colormap import linear
from folium import plugins

from .. import settings
from ..explain import format_amount, site_breakdown, tonnage_reached
from ..export import score_surface
from ..select import district_names
from ..siting.report import site_popup_lines
from ..i18n import text as message
from .elements import HtmlControl, SiteMarkers, pin_css, rank_z_index
from .maps import (add_basemaps, add_data_attribution, add_feature_layer, facility_pin_class, feature_names, legend_html, lonlat_bounds, new_map,
                   popup_table, to_lonlat_features)
from .overlay import ramp_css, surface_overlay
from .text import esc, per_language, tr, tr_message

log = logging.getLogger(__name__)

#: Columns not repeated in feature popups (shown elsewhere or internal).
_HIDDEN_COLUMNS = {"geometry", "source", "accuracy_m", "name_ru", "name_kk", "name_en"}


def feature_style(recipe_layer: dict, colour: str | None) -> dict:
    """Leaflet path options for a feature of this recipe layer, coloured by class when given."""
    style = recipe_layer.get("style", {})
    colour = colour or style.get("color", "#3388ff")
    return {k: v for k, v in {
        "color": style.get("color", colour) if recipe_layer.get("classes") is None else colour,
        "fillColor": style.get("fill_color", colour),
        "weight": style.get("weight", 1.5),
        "opacity": style.get("opacity", 1.0),
        "fillOpacity": style.get("fill_opacity", 0.4),
        "radius": style.get("radius", 6),
        "dashArray": style.get("dash"),
    }.items() if v is not None}


def layer_popups(frame, spec, recipe_layer: dict) -> list[dict]:
    """Per feature: ``_style``, ``_popup`` and ``_tooltip`` (escaped, trilingual)."""
    classes = recipe_layer.get("classes") or {}
    names = feature_names(frame)
    title = tr(spec.title)
    shown = [c for c in frame.columns if c not in _HIDDEN_COLUMNS and c != spec.id_column and c != spec.class_column]
    out = []
    for (_, row), name in zip(frame.iterrows(), names):
        cls = row[spec.class_column] if spec.class_column else None
        class_entry = classes.get(cls) if cls is not None else None
        rows = []
        if cls is not None:
            rows.append((esc(spec.class_column), tr(class_entry["label"]) if class_entry else esc(cls)))
        for column in shown:
            value = row[column]
            if value is None or (isinstance(value, float) and np.isnan(value)):
                continue
            if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
                value = f"{int(value):,}".replace(",", "\u202f")
            rows.append((esc(column), esc(value)))
        if "source" in frame.columns:
            rows.append(("source", esc(row["source"])))
        if "accuracy_m" in frame.columns and pd.notna(row["accuracy_m"]):
            rows.append(("accuracy_m", esc(f"±{row['accuracy_m']:,.0f} m")))
        popup = f'<div class="ga-popup"><b>{tr(name)}</b><br><span class="ga-note">{title}</span>{popup_table(rows)}</div>'
        out.append({"_style": feature_style(recipe_layer, class_entry["color"] if class_entry else None), "_popup": popup, "_tooltip": tr(name)})
    return out


def add_input_layers(m: folium.Map, recipe: dict, inputs) -> list[str]:
    """One toggleable group per recipe layer; returns legend HTML blocks."""
    legends = []
    for item in recipe.get("layers", []):
        frame = inputs.study.layer(item["layer"])
        if frame is None:
            log.info("map layer %s skipped: no data", item["layer"])
            continue
        spec = inputs.catalog.layer(item["layer"])
        group = folium.FeatureGroup(name=tr(spec.title), show=item.get("show", True))
        simplify = item.get("simplify_m", 15.0 if spec.geometry != "point" else 0.0)
        add_feature_layer(group, to_lonlat_features(frame, layer_popups(frame, spec, item), simplify))
        group.add_to(m)
        classes = item.get("classes")
        if classes:
            present = set(frame[spec.class_column])
            entries = [(c["color"], tr(c["label"])) for key, c in classes.items() if key in present]
            legends.append(legend_html(tr(spec.title), entries, line=spec.geometry == "line"))
    return legends


def add_choropleths(m: folium.Map, recipe: dict, inputs) -> list[str]:
    """Flows spread over districts, classified with mapclassify; returns legend blocks."""
    legends = []
    districts = inputs.study.layer("districts")
    if districts is None:
        return legends
    names = feature_names(districts)
    area_km2 = districts.geometry.area.to_numpy() / 1e6
    for item in recipe.get("choropleths", []):
        allocation = inputs.allocations[item["allocation"]]
        by_district = allocation.by_district()
        values = districts["district_id"].map(by_district).fillna(0.0).to_numpy(float)
        per_km2 = item.get("per_km2", False)
        shown = values / area_km2 if per_km2 else values
        k = min(item.get("k", 4), len(np.unique(shown)))
        classifier = mapclassify.classify(shown, item.get("scheme", "Quantiles"), k=max(k, 1))
        palette = linear.YlOrRd_09.scale(0, max(len(classifier.bins) - 1, 1))
        colours = [palette(i) for i in range(len(classifier.bins))]
        unit = "ha" if allocation.unit == "ha" else "t/yr"
        props = []
        for n, name in enumerate(names):
            amount = tr(per_language(lambda lang, v=values[n], u=unit: format_amount(v, u, lang)))
            rows = [(tr_message("reaches"), amount), ("proxy", esc(allocation.proxy)), ("note", esc(allocation.note))]
            popup = f'<div class="ga-popup"><b>{tr(name)}</b><br>{tr(allocation.title)}{popup_table(rows)}</div>'
            colour = colours[int(classifier.yb[n])]
            props.append({"_style": {"color": "#444444", "weight": 1, "fillColor": colour, "fillOpacity": 0.65}, "_popup": popup,
                          "_tooltip": f"{tr(name)}: {amount}"})
        title = tr(allocation.title)
        group = folium.FeatureGroup(name=tr({lang: f"{allocation.title[lang]} ({message('district', lang)})" for lang in settings.LANGUAGES}),
                                    show=item.get("show", False), overlay=True)
        add_feature_layer(group, to_lonlat_features(districts, props, 25.0))
        group.add_to(m)
        lower = np.concatenate([[shown.min()], classifier.bins[:-1]])
        entries = []
        for colour, lo, hi in zip(colours, lower, classifier.bins):
            label = tr(per_language(lambda lang, lo=lo, hi=hi, u=unit, km2=per_km2: f"{format_amount(lo, u, lang)} – {format_amount(hi, u, lang)}"
                                    + (" / km²" if km2 else "")))
            entries.append((colour, label))
        legends.append(legend_html(title, entries))
    return legends


def site_popup(outcome, site: int, rank: int, inputs, colour: str, limit: int | None, districts: dict[str, dict[str, str]],
               siting: dict[str, str] | None = None) -> str:
    """Why a site scored as it did: criterion table in three languages, tonnage within reach; ``siting`` adds
    the land, sanitary zone and flags line per language (:func:`geo_almaty.siting.report.site_popup_lines`)."""
    result = outcome.result
    tables = {}
    for lang in settings.LANGUAGES:
        table = site_breakdown(result, site, lang, inputs.allocations)
        table = table[table.weight > 0].head(limit) if limit else table[table.weight > 0]
        head = "".join(f"<th>{esc(message(k, lang))}</th>" for k in ("criterion", "raw_value", "suitability", "weight", "contribution"))
        body = "".join(
            f'<tr><td>{esc(r.label)}</td><td>{esc(r.raw)}</td><td class="num">{r.value:.2f}</td><td class="num">{r.weight:.2f}</td>'
            f'<td class="num">{r.contribution:.3f}</td></tr>' for r in table.itertuples())
        tables[lang] = f"<table><tr>{head}</tr>{body}</table>"
    reached = tonnage_reached(result, site, inputs.allocations)
    reach = "; ".join(f"{tr(inputs.allocations[k].title)}: {tr(per_language(lambda lang, v=v, k=k: format_amount(v, inputs.allocations[k].unit, lang)))}"
                      for k, v in reached.items())
    score = float(result.score[site])
    district_id = outcome.selection.loc[outcome.selection.candidate == site, "district_id"].iloc[0]
    district = tr(districts.get(district_id, {lang: district_id for lang in settings.LANGUAGES}))
    return (f'<div class="ga-popup"><b style="color:{esc(colour)}">#{rank} {tr(result.profile.title)}</b>'
            f'<br>{tr_message("score")}: <b>{score:.3f}</b> · {tr_message("district")}: {district}'
            + (f'<br><span class="ga-note">{tr(siting)}</span>' if siting else "") +
            f'<br>{tr_message("reaches")}: {reach}<br>{tr(tables, escape=False)}'
            f'<p class="ga-note">{esc(result.profile.report_lines)}</p></div>')


def site_records(outcome, inputs, colour: str, limit: int | None, icon_class: str = "") -> list[dict]:
    """Marker records (lat, lon, popup, tooltip, title) of the chosen sites."""
    import geopandas as gpd

    rows = outcome.selection
    x = outcome.result.candidates.x[rows.candidate.to_numpy()]
    y = outcome.result.candidates.y[rows.candidate.to_numpy()]
    lonlat = gpd.GeoSeries(gpd.points_from_xy(x, y), crs=settings.ANALYSIS_CRS).to_crs(settings.GEOGRAPHIC_CRS)
    districts = district_names(inputs.study)
    siting = site_popup_lines(outcome.result, inputs.study, rows.candidate.to_numpy())
    records = []
    for (row, point) in zip(rows.itertuples(), lonlat):
        title = f"#{row.rank} {outcome.profile.title['en']}"
        records.append({"lat": round(point.y, 6), "lon": round(point.x, 6), "title": title, "icon_class": icon_class,
                        "z": rank_z_index(row.rank, len(rows)),
                        "tooltip": f"#{row.rank} {tr(outcome.profile.title)}",
                        "popup": site_popup(outcome, int(row.candidate), int(row.rank), inputs, colour, limit, districts,
                                            siting.get(int(row.candidate)))})
    return records


def add_facilities(m: folium.Map, recipe: dict, inputs, outcomes: dict) -> list[str]:
    """Suitability surfaces (image overlays) and top-site markers per facility type."""
    legends = []
    opacity = recipe.get("surface", {}).get("opacity", 0.7)
    max_pixels = recipe.get("surface", {}).get("max_pixels", 700)
    limit = recipe.get("reasons")
    for n, item in enumerate(recipe["facilities"]):
        outcome = outcomes.get(item["facility"])
        if outcome is None:
            continue
        title = outcome.profile.title
        if item.get("surface", True):
            image, bounds = surface_overlay(score_surface(outcome.result, inputs.study), inputs.study.grid, max_pixels)
            name = tr({lang: f"{title[lang]}: {message('suitability', lang)}" for lang in settings.LANGUAGES})
            folium.raster_layers.ImageOverlay(image=image, bounds=bounds, opacity=opacity, name=name, show=n == 0, pixelated=True).add_to(m)
        group = folium.FeatureGroup(name=tr({lang: f"{title[lang]}: top {len(outcome.selection)}" for lang in settings.LANGUAGES}), show=True)
        m.page_style.add_css(pin_css(facility_pin_class(n), item["color"]))
        SiteMarkers(site_records(outcome, inputs, item["color"], limit, facility_pin_class(n))).add_to(group)
        group.add_to(m)
    gradient = f'<div style="height:10px;background:{ramp_css()};border:1px solid #999"></div><div>0 … 1</div>'
    legends.insert(0, f"<h2>{tr_message('suitability')}</h2>{gradient}")
    return legends


def build_planner_map(recipe: dict, inputs, outcomes: dict, lang: str) -> folium.Map:
    """The planner map for ``recipe`` (see ``maps/planner.yaml``)."""
    controls = recipe.get("controls", {})
    m = new_map(lonlat_bounds(inputs.study.area), lang, scale=controls.get("scale", True))
    add_basemaps(m, recipe)
    add_data_attribution(m, inputs)
    legends = add_input_layers(m, recipe, inputs)
    legends = add_facilities(m, recipe, inputs, outcomes) + add_choropleths(m, recipe, inputs) + legends
    intro = f"<p>{tr(recipe['intro'])}</p>" if "intro" in recipe else ""
    disclaimer = f'<p class="ga-note">{tr(inputs.catalog.disclaimer)}</p>' if inputs.catalog.disclaimer else ""
    HtmlControl(f"<h1>{tr(recipe['title'])}</h1>{intro}{disclaimer}", position="bottomleft").add_to(m)
    HtmlControl("".join(legends), position="bottomright", css_class="ga-panel ga-legend").add_to(m)
    if controls.get("fullscreen", True):
        plugins.Fullscreen(position="topleft").add_to(m)
    if controls.get("measure", True):
        plugins.MeasureControl(position="topleft", primary_length_unit="kilometers", primary_area_unit="hectares").add_to(m)
    if controls.get("minimap", True):
        plugins.MiniMap(toggle_display=False, position="bottomleft", zoom_level_offset=-5).add_to(m)
    folium.LayerControl(collapsed=True, position="topright").add_to(m)
    return m
