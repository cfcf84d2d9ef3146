"""One Leaflet map of every compared scenario's sites: one colour per scenario (and facility type), a legend, ru/kk/en.

Built from the shared render blocks (the planner recipe's basemaps and offline base, the
shell, :func:`geo_almaty.render.shell.add_overlay`, site pins and popups of the planner map,
stable ids, inlined assets), so it is as self-contained as the other maps.
"""
from __future__ import annotations

import folium

from .. import settings
from ..i18n import text as message
from ..render.basemap import add_offline_base
from ..render.elements import SiteMarkers, pin_css
from ..render.legend import LegendItem
from ..render.maps import add_basemaps, add_data_attribution, attributions_html, home_bounds, new_map
from ..render.planner import site_list_html, site_records
from ..render.recipes import load_recipe
from ..render.shell import add_overlay, index_link_html
from ..render.text import esc, tr

#: Colours of the scenarios' pins, in turn (ColorBrewer Set1 and Dark2: qualitative, distinct hues).
SCENARIO_COLOURS = ("#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf", "#1b9e77", "#d95f02", "#7570b3",
                    "#e7298a", "#66a61e", "#e6ab02", "#666666")


def overlay_key(scenario_id: str, facility: str) -> str:
    """The map's key (and site-list key) of one scenario's sites of one facility type."""
    return f"{scenario_id}:{facility}"


def build_compare_map(runs: list, lang: str, *, index_href: str | None = None, recipe: str = "planner") -> folium.Map:
    """The map of ``runs`` (:class:`geo_almaty.scenario.compare.ScenarioRun`), the base layers drawn from the first run's inputs."""
    inputs = runs[0].inputs
    base_recipe = load_recipe(recipe, inputs.catalog, set(inputs.allocation_specs))
    title = {lang_: message("compare_map", lang_) for lang_ in settings.LANGUAGES}
    every_outcome = {overlay_key(run.scenario.id, k): o for run in runs for k, o in run.outcomes.items()}
    m = new_map(home_bounds(inputs, every_outcome), lang, title, kind="planner")
    add_basemaps(m, base_recipe)
    add_data_attribution(m, inputs)
    drawn = add_offline_base(m, base_recipe, inputs)
    chosen = {(run.scenario.id, f): set(map(str, o.result.candidates.labels()[o.selection.candidate.to_numpy()]))
              for run in runs for f, o in run.outcomes.items()}
    also = {lang_: message("compare_also_chosen", lang_) for lang_ in settings.LANGUAGES}
    lists = []
    n = 0
    for s, run in enumerate(runs):
        scenario = run.scenario
        entries = []
        for facility, outcome in run.outcomes.items():
            colour = SCENARIO_COLOURS[n % len(SCENARIO_COLOURS)]
            pin_class = f"ga-scenario-pin-{n}"
            n += 1
            key = overlay_key(scenario.id, facility)
            records = site_records(outcome, run.inputs, colour, base_recipe.get("reasons"), pin_class)
            labels = outcome.result.candidates.labels()[outcome.selection.candidate.to_numpy()]
            for record, label in zip(records, labels):
                others = [r.scenario.title for r in runs if r is not run and str(label) in chosen[(r.scenario.id, facility)]]
                shared = (f'<p class="ga-note">{tr(also)}: ' + "; ".join(tr(t) for t in others) + "</p>") if others else ""
                record["titles"] = {lang_: f"{scenario.title[lang_]}: {record['titles'][lang_]}" for lang_ in settings.LANGUAGES}
                record["tooltip"] = f"{tr(scenario.title)}: {record['tooltip']}"
                record["popup"] = f'<p class="ga-secondary"><b style="color:{esc(colour)}">{tr(scenario.title)}</b></p>{shared}' + record["popup"]
            m.shell.css += "\n" + pin_css(pin_class, colour) + pin_offset_css(pin_class, s, len(runs))
            group = folium.FeatureGroup()
            SiteMarkers(key, records).add_to(group)
            name = {lang_: f"{scenario.title[lang_]}: {outcome.profile.title[lang_]} ({len(records)})" for lang_ in settings.LANGUAGES}
            add_overlay(m, group, key=f"sites:{key}", title=name, group="facilities", legend=[LegendItem(name, colour, "pin", css_class=pin_class)])
            m.shell.config["facilities"].append(key)
            entries.append(site_list_html(outcome, key, pin_class, run.inputs, open_=not lists and not entries))
        lists.append(f"<h3>{tr(scenario.title)}</h3><p class=\"ga-note\">{tr(scenario.description)}</p>{''.join(entries)}")
    m.shell.blocks.append(f'<section><h2>{tr({lang_: message("compare_scenarios", lang_) for lang_ in settings.LANGUAGES})}</h2>'
                          f'{"".join(lists)}<p class="ga-note">{tr({lang_: message("reach_overlaps", lang_) for lang_ in settings.LANGUAGES})}</p>'
                          "</section>")
    if inputs.catalog.disclaimer:
        m.shell.blocks.insert(0, f'<p class="ga-badge">{tr(inputs.catalog.disclaimer)}</p>')
    m.shell.footer += [attributions_html(inputs.catalog, list(dict.fromkeys(drawn))), index_link_html(index_href)]
    m.shell.measure = True
    folium.LayerControl(collapsed=True, position="topright").add_to(m)
    return m


#: Leaflet's default pin: its anchor's x (px) and the horizontal step between scenarios' pins at one site.
PIN_ANCHOR_X, PIN_STEP_PX = 12, 9


def pin_offset_css(css_class: str, index: int, count: int) -> str:
    """Shift the ``index``-th of ``count`` scenarios' pins sideways, so pins of several scenarios at one site stay visible
    side by side (the marker's position is unchanged; only the icon's anchor moves)."""
    shift = round((index - (count - 1) / 2) * PIN_STEP_PX)
    return f"\n.{css_class}{{margin-left:{-PIN_ANCHOR_X + shift}px !important}}" if count > 1 and shift else ""
