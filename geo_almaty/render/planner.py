"""The planner map: every input layer by class, flows per district, suitability surfaces, ranked sites.

Built from a map recipe (``maps/planner.yaml``); all text is trilingual and every
value taken from data is escaped. Each overlay is added with
:func:`geo_almaty.render.shell.add_overlay`, which also gives it a legend section.
"""
from __future__ import annotations

import dataclasses
import logging
import re

import folium
import mapclassify
import numpy as np
import pandas as pd
from branca.colormap import linear
from folium import plugins

from .. import settings
from ..explain import format_amount, site_breakdown, tonnage_reached
from ..export import score_surface
from ..i18n import messages
from ..siting.report import site_popup_lines, stage_reason
from ..i18n import text as message
from ..select import district_names
from .basemap import add_offline_base
from .elements import SiteMarkers, pin_css, rank_z_index
from .legend import LegendItem
from .maps import (add_basemaps, add_data_attribution, add_feature_layer, attributions_html, coordinates_text, facility_pin_class, feature_names, home_bounds,
                   new_map, popup_table, sites_lonlat, to_lonlat_features)
from .overlay import EXCLUDED, EXCLUDED_RGB, facility_ramp, hex_colour, ramp_css, surface_overlay
from .robust_layers import add_robustness
from .shell import add_overlay, index_link_html
from .text import esc, per_language, tr, tr_compact, tr_message
from .why import why_not_here_config

log = logging.getLogger(__name__)

#: Columns not repeated in feature popups (shown elsewhere or internal).
_HIDDEN_COLUMNS = {"geometry", "name_ru", "name_kk", "name_en"}
#: Choropleth palettes used in turn when a recipe names none (ColorBrewer sequential).
DEFAULT_PALETTES = ("YlOrBr", "PuBu", "RdPu", "BuGn", "OrRd", "PuBuGn", "YlGnBu", "Greys")
_REPORT_LINES = re.compile(r"L\d+(?:[-–]\d+)?")


def messages_of(message_id: str) -> dict[str, str]:
    """A message in every language (plain text, for :func:`tr`)."""
    return {lang: message(message_id, lang) for lang in settings.LANGUAGES}


def number_text(value: float, digits: int, lang: str) -> str:
    """A number with thin-space thousands and the language's decimal mark ('0,914' in ru/kk)."""
    text = f"{value:,.{digits}f}".replace(",", "\u202f")
    return text.replace(".", message("decimal_mark", lang))


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


def legend_symbol(geometry: str | None, style: dict) -> tuple[str, str | None]:
    """The legend symbol of a layer drawn with ``style`` and the outline colour to show with it."""
    if geometry == "point":
        return "circle", style.get("color")
    if geometry == "line":
        return ("dash" if style.get("dashArray") else "line"), None
    if style.get("fillOpacity", 0.4) < 0.08:
        return ("dash" if style.get("dashArray") else "line"), None
    return "fill", style.get("color")


def column_label(column: str) -> dict[str, str]:
    """A column's name in each language (``column_<name>`` in messages.yaml), else the column name."""
    key = f"column_{column}"
    return messages_of(key) if key in messages() else {lang: column for lang in settings.LANGUAGES}


def data_html(html: str) -> str:
    """Mark text taken from a data file (names, sources, values) as data, not interface text."""
    return f'<span class="ga-data">{html}</span>'


def _value_html(value) -> str:
    """A data value for a popup: yes/no translated, integers with thin-space thousands, text escaped and marked as data."""
    if isinstance(value, (bool, np.bool_)):
        return tr_message("answer_yes" if value else "answer_no")
    if isinstance(value, (int, np.integer)):
        return data_html(esc(f"{int(value):,}".replace(",", "\u202f")))
    if isinstance(value, (float, np.floating)) and float(value).is_integer() and abs(value) >= 1000:
        return data_html(esc(f"{value:,.0f}".replace(",", "\u202f")))
    return data_html(esc(value))


def layer_popups(frame, spec, recipe_layer: dict) -> list[dict]:
    """Per feature: ``_style``, ``_popup`` and ``_tooltip`` (escaped, trilingual)."""
    classes = recipe_layer.get("classes") or {}
    names = feature_names(frame)
    title = tr(spec.title)
    shown = [c for c in frame.columns if c not in _HIDDEN_COLUMNS | {"source", "accuracy_m"} and c not in (spec.id_column, spec.class_column)]
    labels = {c: tr(column_label(c)) for c in [spec.class_column, *shown, "source", "accuracy_m"] if c}
    metres = tr_message("unit_m")
    quiet = recipe_layer.get("tooltip_only") or {}
    out = []
    for (_, row), name in zip(frame.iterrows(), names):
        cls = row[spec.class_column] if spec.class_column else None
        class_entry = classes.get(cls) if cls is not None else None
        if any(str(row.get(column)) in values for column, values in quiet.items()):
            out.append({"_style": feature_style(recipe_layer, class_entry["color"] if class_entry else None), "_tooltip": tr_compact(name)})
            continue
        rows = []
        if cls is not None:
            rows.append((labels[spec.class_column], tr(class_entry["label"]) if class_entry else esc(cls)))
        for column in shown:
            value = row[column]
            if pd.api.types.is_scalar(value) and pd.isna(value):
                continue
            rows.append((labels[column], _value_html(value)))
        if "source" in frame.columns and isinstance(row["source"], str):
            rows.append((labels["source"], data_html(esc(row["source"]))))
        if "accuracy_m" in frame.columns and pd.notna(row["accuracy_m"]):
            rows.append((labels["accuracy_m"], esc(f"±{row['accuracy_m']:,.0f}".replace(",", "\u202f")) + f"&nbsp;{metres}"))
        popup = f'<div class="ga-popup"><h3>{data_html(tr(name))}</h3><p class="ga-note">{title}</p>{popup_table(rows)}</div>'
        out.append({"_style": feature_style(recipe_layer, class_entry["color"] if class_entry else None), "_popup": popup, "_tooltip": tr_compact(name)})
    return out


def add_input_layers(m: folium.Map, recipe: dict, inputs) -> None:
    """One toggleable overlay per recipe layer the catalog has data for, with a legend of the classes present."""
    for item in recipe.get("layers", []):
        frame = inputs.study.layer(item["layer"])
        if frame is None:
            log.info("map layer %s skipped: no data", item["layer"])
            continue
        spec = inputs.catalog.layer(item["layer"])
        group = folium.FeatureGroup()
        simplify = item.get("simplify_m", 15.0 if spec.geometry != "point" else 0.0)
        add_feature_layer(group, to_lonlat_features(frame, layer_popups(frame, spec, item), simplify))
        classes = item.get("classes")
        if classes and spec.class_column:
            present = set(frame[spec.class_column])
            legend = []
            for key, entry in classes.items():
                if key in present:
                    style = feature_style(item, entry["color"])
                    symbol, outline = legend_symbol(spec.geometry, style)
                    legend.append(LegendItem(entry["label"], entry["color"], symbol, outline=None if outline == entry["color"] else outline))
        else:
            style = feature_style(item, None)
            symbol, outline = legend_symbol(spec.geometry, style)
            colour = style["color"] if symbol in ("line", "dash") else style["fillColor"]
            legend = [LegendItem(spec.title, colour, symbol, outline=None if outline == colour else outline)]
        add_overlay(m, group, key=f"layer:{item['layer']}", title=spec.title, group="base", legend=legend, show=item.get("show", True))


def palette_colours(name: str, k: int) -> list[str]:
    """``k`` colours of a ColorBrewer sequential palette, from light (but not white) to dark."""
    colormap = getattr(linear, f"{name}_09")
    return [colormap.rgb_hex_str(float(t)).lower() for t in np.linspace(0.18, 1.0, k)]


def choropleth_classes(values: np.ndarray, scheme: str, k: int) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Class of each value (0…n-1) and each class's (min, max) over its members; no class is empty.

    ``NaturalBreaks`` is computed exactly (Fisher-Jenks, the optimum natural breaks approximate with
    random k-means starts): deterministic, and instant on a few districts.
    """
    unique = np.unique(values)
    k = max(1, min(k, len(unique)))
    if k == 1:
        return np.zeros(len(values), dtype=int), [(float(values.min()), float(values.max()))]
    bins = mapclassify.classify(values, "FisherJenks" if scheme == "NaturalBreaks" else scheme, k=k).yb
    used = np.unique(bins)
    classes = np.searchsorted(used, bins)
    ranges = [(float(values[classes == c].min()), float(values[classes == c].max())) for c in range(len(used))]
    return classes, ranges


def report_lines(note: str) -> str:
    """The report line references (L2446, L2734-2738) cited in an English note."""
    return ", ".join(dict.fromkeys(_REPORT_LINES.findall(note or ""))) or "—"


def add_choropleths(m: folium.Map, recipe: dict, inputs) -> None:
    """Flows spread over districts, classified with mapclassify; one palette per choropleth, no empty class."""
    districts = inputs.study.layer("districts")
    if districts is None:
        return
    names = feature_names(districts)
    area_km2 = districts.geometry.area.to_numpy() / 1e6
    spare = [p for p in DEFAULT_PALETTES if p not in {c.get("palette") for c in recipe.get("choropleths", [])}]
    for n, item in enumerate(recipe.get("choropleths", [])):
        allocation = inputs.allocations[item["allocation"]]
        values = districts["district_id"].map(allocation.by_district()).fillna(0.0).to_numpy(float)
        per_km2 = item.get("per_km2", False)
        shown = values / area_km2 if per_km2 else values
        classes, ranges = choropleth_classes(shown, item.get("scheme", "Quantiles"), item.get("k", 4))
        colours = palette_colours(item.get("palette") or spare[n % len(spare)], len(ranges))
        unit = "ha" if allocation.unit == "ha" else "t/yr"
        proxy_key = f"proxy_{allocation.proxy}"
        proxy = tr(messages_of(proxy_key)) if proxy_key in messages() else esc(allocation.proxy)
        lines = esc(report_lines(allocation.note))
        note_en = f'<p class="ga-note"><span class="t t-en" lang="en">{esc(allocation.note)}</span></p>'
        props = []
        for i, name in enumerate(names):
            amount = tr(per_language(lambda lang, v=values[i], u=unit: format_amount(v, u, lang)))
            rows = [(tr_message("reaches"), amount), (tr_message("allocation_proxy"), proxy), (tr_message("allocation_source"), lines)]
            popup = f'<div class="ga-popup"><h3>{tr(name)}</h3><p>{tr(allocation.title)}</p>{popup_table(rows)}{note_en}</div>'
            props.append({"_style": {"color": "#444444", "weight": 1, "fillColor": colours[classes[i]], "fillOpacity": 0.7}, "_popup": popup,
                          "_tooltip": f"{tr(name)}: {amount}"})
        group = folium.FeatureGroup()
        add_feature_layer(group, to_lonlat_features(districts, props, 25.0))
        legend = []
        for colour, (lo, hi) in zip(colours, ranges):
            def label(lang, lo=lo, hi=hi, u=unit, km2=per_km2):
                text = format_amount(lo, u, lang) if lo == hi else f"{format_amount(lo, u, lang)} – {format_amount(hi, u, lang)}"
                return text + (" / " + message("unit_km2", lang) if km2 else "")
            legend.append(LegendItem(per_language(label), colour, "fill"))
        title = {lang: f"{allocation.title[lang]} ({message('district', lang)})" for lang in settings.LANGUAGES}
        add_overlay(m, group, key=f"flow:{item['allocation']}", title=title, legend_title=allocation.title, group="flows", legend=legend,
                    show=item.get("show", False))


def site_popup(outcome, site: int, rank: int, inputs, colour: str, limit: int | None, districts: dict[str, dict[str, str]],
               lat: float, lon: float, candidate: str, siting: dict[str, str] | None = None) -> str:
    """Why a site scored as it did: where it is, its id, criterion table in three languages, tonnage within reach;
    ``siting`` adds the land, sanitary zone and flags line per language (:func:`geo_almaty.siting.report.site_popup_lines`)."""
    result = outcome.result
    tables = {}
    for lang in settings.LANGUAGES:
        table = site_breakdown(result, site, lang, inputs.allocations)
        table = table[table.weight > 0].head(limit) if limit else table[table.weight > 0]
        head = "".join(f"<th>{esc(message(k, lang))}</th>" for k in ("criterion", "raw_value", "suitability", "weight", "contribution"))
        body = "".join(
            f'<tr><td>{esc(r.label)}</td><td>{esc(r.raw)}</td><td class="num">{number_text(r.value, 2, lang)}</td>'
            f'<td class="num">{number_text(r.weight, 2, lang)}</td><td class="num">{number_text(r.contribution, 3, lang)}</td></tr>'
            for r in table.itertuples())
        tables[lang] = f'<div class="ga-table-wrap"><table><tr>{head}</tr>{body}</table></div>'
    reached = tonnage_reached(result, site, inputs.allocations)
    reach = "; ".join(f"{tr(inputs.allocations[k].title)}: {tr(per_language(lambda lang, v=v, k=k: format_amount(v, inputs.allocations[k].unit, lang)))}"
                      for k, v in reached.items())
    score = tr(per_language(lambda lang: number_text(float(result.score[site]), 3, lang)))
    district_id = outcome.selection.loc[outcome.selection.candidate == site, "district_id"].iloc[0]
    district = tr(districts.get(district_id, {lang: district_id for lang in settings.LANGUAGES}))
    candidate = esc(candidate)
    overlap = f'<p class="ga-note">{tr_message("reach_overlaps")}</p>' if reached else ""
    stage = per_language(lambda lang: ": ".join(filter(None, stage_reason(result, outcome.selection, site, lang, inputs.allocations) or ())))
    return (f'<div class="ga-popup"><h3 style="color:{esc(colour)}">#{rank} {tr(result.profile.title)}</h3>'
            f'<p>{tr_message("score")}: <b>{score}</b> · {tr_message("district")}: {district}</p>'
            + (f'<p class="ga-stage"><b>{tr(stage)}</b></p>' if stage["en"] else "")
            + (f'<p class="ga-siting">{tr(siting)}</p>' if siting else "") +
            f'<p class="ga-secondary">{tr_message("candidate")}: {candidate} · {tr_message("coordinates")}: {coordinates_text(lat, lon)}</p>'
            + (f'<p>{tr_message("reaches")}: {reach}</p>{overlap}' if reached else "")
            + f'{tr(tables, escape=False)}<p class="ga-note">{esc(result.profile.report_lines)}</p></div>')


def site_records(outcome, inputs, colour: str, limit: int | None, icon_class: str = "") -> list[dict]:
    """Marker records (rank, lat, lon, popup, tooltip, titles) of the chosen sites."""
    lon, lat = sites_lonlat(outcome)
    districts = district_names(inputs.study)
    titles = outcome.profile.title
    ids = outcome.result.candidates.labels()[outcome.selection.candidate.to_numpy()]
    siting = site_popup_lines(outcome.result, inputs.study, outcome.selection.candidate.to_numpy())
    return [{"rank": int(row.rank), "lat": round(float(y), 6), "lon": round(float(x), 6), "icon_class": icon_class,
             "z": rank_z_index(row.rank, len(outcome.selection)),
             "titles": {lang: f"#{row.rank} {titles[lang]}" for lang in settings.LANGUAGES},
             "tooltip": f"#{row.rank} {tr(titles)}",
             "popup": site_popup(outcome, int(row.candidate), int(row.rank), inputs, colour, limit, districts, float(y), float(x), str(ident),
                                 siting.get(int(row.candidate)))}
            for row, x, y, ident in zip(outcome.selection.itertuples(), lon, lat, ids)]


def site_list_html(outcome, facility: str, pin_class: str, inputs, open_: bool) -> str:
    """A facility's ranked sites as buttons that zoom to each site, and one that shows them all."""
    districts = district_names(inputs.study)
    items = []
    for row in outcome.selection.itertuples():
        district = tr(districts.get(row.district_id, {lang: row.district_id for lang in settings.LANGUAGES}))
        score = tr(per_language(lambda lang, s=float(row.score): number_text(s, 3, lang)))
        items.append(f'<li><button type="button" class="ga-site" data-site-facility="{esc(facility)}" data-site-rank="{int(row.rank)}">'
                     f'<span class="ga-rank">#{int(row.rank)}</span><span>{district}</span><span class="ga-score">{score}</span></button></li>')
    count = tr(per_language(lambda lang: message("sites_of", lang).format(n=len(outcome.selection))))
    return (f'<details class="ga-sites"{" open" if open_ else ""}><summary><span class="ga-sym ga-sym-pin {pin_class}"></span>'
            f'{tr(outcome.profile.title)} · {count}</summary>'
            f'<button type="button" class="ga-fit" data-fit-facility="{esc(facility)}">{tr_message("show_all_sites")}</button>'
            f'<ol>{"".join(items)}</ol></details>')


def add_facilities(m: folium.Map, recipe: dict, inputs, outcomes: dict) -> str:
    """Suitability surfaces (image overlays) and ranked site markers per facility type; returns the site-list HTML."""
    opacity = recipe.get("surface", {}).get("opacity", 0.7)
    max_pixels = recipe.get("surface", {}).get("max_pixels", 700)
    limit = recipe.get("reasons")
    lists = []
    for n, item in enumerate(recipe["facilities"]):
        outcome = outcomes.get(item["facility"])
        if outcome is None:
            continue
        title = outcome.profile.title
        pin_class = facility_pin_class(n)
        if item.get("surface", True):
            ramp = facility_ramp(item["color"])
            scores = np.where(outcome.result.excluded, EXCLUDED, outcome.result.score)
            surface = score_surface(dataclasses.replace(outcome.result, score=scores), inputs.study)
            image, bounds = surface_overlay(surface, inputs.study.grid, max_pixels, ramp)
            overlay = folium.raster_layers.ImageOverlay(image=image, bounds=bounds, opacity=opacity, pixelated=True)
            ends = per_language(lambda lang: f"{message('suitability_low', lang)} 0 … 1 {message('suitability_high', lang)}")
            legend = [LegendItem(ends, None, "ramp", gradient=ramp_css(ramp)),
                      LegendItem(messages_of("excluded"), hex_colour(EXCLUDED_RGB), "hatch")]
            name = {lang: f"{title[lang]}: {message('suitability', lang)}" for lang in settings.LANGUAGES}
            why = why_not_here_config(outcome, inputs.study, surface_key=f"surface:{item['facility']}", max_pixels=max_pixels)
            if why is not None:
                m.shell.config.setdefault("why", []).append(why)
            add_overlay(m, overlay, key=f"surface:{item['facility']}", title=name, group="facilities", legend=legend, show=n == 0,
                        note=messages_of("why_hint") if why is not None else None)
            m.shell.legend[-1].shared_colours = (hex_colour(EXCLUDED_RGB),)  # the same hatch means 'excluded' on every surface
        group = folium.FeatureGroup()
        m.shell.css += "\n" + pin_css(pin_class, item["color"])
        SiteMarkers(item["facility"], site_records(outcome, inputs, item["color"], limit, pin_class)).add_to(group)
        top = {lang: f"{title[lang]}: " + message("top_n", lang).format(n=len(outcome.selection)) for lang in settings.LANGUAGES}
        add_overlay(m, group, key=f"sites:{item['facility']}", title=top, group="facilities",
                    legend=[LegendItem(top, item["color"], "pin", css_class=pin_class)])
        m.shell.config["facilities"].append(item["facility"])
        lists.append(site_list_html(outcome, item["facility"], pin_class, inputs, open_=not lists))
    if not lists:
        return ""
    return (f'<section><h2>{tr_message("ranked_sites")}</h2>{"".join(lists)}'
            f'<p class="ga-note">{tr_message("reach_overlaps")}</p></section>')


def build_planner_map(recipe: dict, inputs, outcomes: dict, lang: str, *, index_href: str | None = None,
                      robust: dict | None = None, located: dict | None = None) -> folium.Map:
    """The planner map for ``recipe`` (see ``maps/planner.yaml``); ``index_href`` links back to the index page;
    ``robust`` (facility → :class:`geo_almaty.robust.RobustResult`) adds the frequency layers and robust sites;
    ``located`` (facility → :class:`geo_almaty.locate.LocateOutcome`) the located sites, catchments and haul links."""
    controls = recipe.get("controls", {})
    m = new_map(home_bounds(inputs, outcomes), lang, recipe["title"], kind="planner", scale=controls.get("scale", True))
    add_basemaps(m, recipe)
    add_data_attribution(m, inputs)
    drawn = add_offline_base(m, recipe, inputs)
    sites = add_facilities(m, recipe, inputs, outcomes)
    if robust:
        add_robustness(m, recipe, inputs, robust)
    if located:
        from .located import add_located_layers

        add_located_layers(m, recipe, located)
    add_choropleths(m, recipe, inputs)
    add_input_layers(m, recipe, inputs)
    shell = m.shell
    if "intro" in recipe:
        shell.blocks.append(f"<p>{tr(recipe['intro'])}</p>")
    if inputs.catalog.disclaimer:
        shell.blocks.append(f'<p class="ga-badge">{tr(inputs.catalog.disclaimer)}</p>')
    shell.blocks.append(sites)
    drawn += [item["layer"] for item in recipe.get("layers", []) if inputs.study.layer(item["layer"]) is not None]
    shell.footer += [attributions_html(inputs.catalog, list(dict.fromkeys(drawn))), index_link_html(index_href)]
    if controls.get("fullscreen", True):
        plugins.Fullscreen(position="topleft").add_to(m)
    shell.measure = controls.get("measure", True)
    if controls.get("minimap", True):
        minimap = plugins.MiniMap(toggle_display=False, position="bottomright", zoom_level_offset=-5)
        minimap.add_to(m)
        shell.minimaps.append(minimap)
    folium.LayerControl(collapsed=True, position="topright").add_to(m)
    return m
