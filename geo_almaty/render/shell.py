"""The page around a Leaflet map: a panel (sidebar on desktop, bottom sheet on phones), the legend, the
language switch, and the registry of overlays that the legend follows.

Every map made by :func:`geo_almaty.render.maps.new_map` carries a :class:`MapShell` as ``m.shell``.
Adding a layer with its legend is one call (see :func:`add_overlay`)::

    from geo_almaty.render.legend import LegendItem
    from geo_almaty.render.shell import add_overlay

    group = folium.FeatureGroup()
    add_feature_layer(group, to_lonlat_features(catchments, props))
    add_overlay(m, group, key="loc:catchments", group="facilities",
                title={"ru": "Зоны обслуживания", "kk": "Қызмет көрсету аймақтары", "en": "Catchments"},
                legend=[LegendItem({"ru": "Зона", "kk": "Аймақ", "en": "Catchment"}, "#6a51a3", "fill")], show=False)

The overlay appears in the layer list under its trilingual title, and its legend section shows in the
panel's ``group`` ("facilities", "flows" or "base") only while the layer is on the map. A new group is
one more call: ``m.shell.add_legend_group("rules", {"ru": "Ограничения", "kk": "Шектеулер", "en": "Siting rules"})``.
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import folium
from branca.element import MacroElement
from folium.template import Template

from .. import settings
from ..i18n import messages
from .legend import LegendItem, LegendSection, default_groups, legend_html
from .text import LANGUAGE_CSS, esc, tr, tr_message

#: Messages the page's scripts use (control titles, units, the measuring tool).
SCRIPT_MESSAGES = ("zoom_in", "zoom_out", "fullscreen", "exit_fullscreen", "layers", "close", "panel_toggle", "unit_m", "unit_km",
                   "unit_ha", "unit_km2", "decimal_mark", "measure", "measure_hint", "measure_distance", "measure_area",
                   "measure_clear", "measure_finish")


@lru_cache(maxsize=None)
def static_text(name: str) -> str:
    """A file of ``geo_almaty/render/static`` (the pages' CSS and scripts)."""
    return resources.files("geo_almaty.render").joinpath("static", name).read_text(encoding="utf-8")


def script_messages(ids: tuple[str, ...] = SCRIPT_MESSAGES) -> dict[str, dict[str, str]]:
    """``{id: {ru, kk, en}}`` of the messages a page's scripts need."""
    return {i: {lang: messages()[i].get(lang) or messages()[i]["en"] for lang in settings.LANGUAGES} for i in ids}


def page_css() -> str:
    """The CSS every geo_almaty page shares (language spans, panels, legend, popups)."""
    return LANGUAGE_CSS + "\n" + static_text("ga.css")


def i18n_script(titles: dict[str, str], lang: str, ids: tuple[str, ...] = SCRIPT_MESSAGES) -> str:
    """Script text that defines ``GA.setLanguage`` and friends with the page's titles and messages."""
    setup = (f"window.GA=window.GA||{{}};GA.messages={json.dumps(script_messages(ids), ensure_ascii=False)};"
             f"GA.titles={json.dumps(titles, ensure_ascii=False)};document.documentElement.setAttribute('data-lang',{json.dumps(lang)});")
    return (setup + "\n" + static_text("ga_i18n.js")).replace("</", "<\\/")


def language_switch_html() -> str:
    """Buttons RU / KK / EN (44 px on phones)."""
    buttons = "".join(f'<button type="button" data-set-lang="{lang}" lang="{lang}" aria-pressed="false">{lang.upper()}</button>'
                      for lang in settings.LANGUAGES)
    return f'<div class="ga-lang" role="group">{buttons}</div>'


def index_link_html(href: str | None) -> str:
    """The link back to the index page (keeps the language), or nothing."""
    if not href:
        return ""
    return f'<p><a class="ga-index-link" href="{esc(href)}" data-keep-lang>{tr_message("back_to_index")}</a></p>'


class MapShell(MacroElement):
    """The panel, legend and scripts of a map page; rendered last (see :func:`finish_map`)."""

    _template = Template("""
        {% macro header(this, kwargs) %}
        <style>{{ this.css }}</style>
        <script>{{ this.library }}</script>
        {% endmacro %}
        {% macro html(this, kwargs) %}
        <aside id="ga-sheet" class="ga-sheet ga-{{ this.kind }}">
          <div class="ga-sheet-head">
            <button type="button" class="ga-sheet-toggle" aria-controls="ga-sheet" aria-expanded="true" data-i18n-title="panel_toggle"></button>
            <h1>{{ this.title_html }}</h1>
            {{ this.lang_html }}
          </div>
          {% if this.quick_html %}<div class="ga-sheet-quick">{{ this.quick_html }}</div>{% endif %}
          <div class="ga-sheet-body">{{ this.body_html() }}</div>
        </aside>
        <section id="ga-info" class="ga-info" hidden>
          <div class="ga-info-head">{{ this.lang_html }}<button type="button" class="ga-info-close" data-i18n-title="close">&times;</button></div>
          <div class="ga-info-body" tabindex="-1"></div>
        </section>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        (function () {
            var map = {{ this._parent.get_name() }};
            {%- for key, element in this.overlays %}
            GA.registerLayer({{ key|tojson }}, {{ element.get_name() }});
            {%- endfor %}
            {%- for element in this.minimaps %}
            GA.minimapWhenTiles({{ element.get_name() }});
            {%- endfor %}
            {%- if this.measure %}
            GA.addMeasure(map);
            {%- endif %}
            GA.initMap(map, {{ this.config|tojson }});
            GA.startLanguage();
        })();
        {% endmacro %}
    """)

    def __init__(self, kind: str, title: dict[str, str], lang: str, home_bounds: list[list[float]], *, scale: bool = True) -> None:
        super().__init__()
        self._name = "MapShell"
        self.kind = kind
        self.title = title
        self.title_html = tr(title)
        self.lang = lang
        self.lang_html = language_switch_html()
        self.quick_html = ""
        self.blocks: list[str] = []
        self.footer: list[str] = []
        self.legend: list[LegendSection] = []
        self.legend_groups = default_groups()
        self.overlays: list[tuple[str, MacroElement]] = []
        self.minimaps: list[MacroElement] = []
        self.measure = False
        self.css = page_css()
        self.config = {"home": home_bounds, "scale": scale, "facilities": [], "exclusive_facilities": False}

    @property
    def library(self) -> str:
        return i18n_script(self.title, self.lang) + "\n" + static_text("ga_map.js").replace("</", "<\\/")

    def body_html(self) -> str:
        return "".join(self.blocks) + legend_html(self.legend, self.legend_groups) + "".join(self.footer)

    def add_legend_group(self, key: str, title: dict[str, str]) -> None:
        """A further legend group (e.g. ``rules`` for siting-rule exclusions), shown after the standard ones."""
        self.legend_groups.setdefault(key, title)

    def register(self, key: str, layer: MacroElement, legend: LegendSection | None = None) -> None:
        """Tie ``layer`` (already on the map) to ``key``; its legend section shows while it is on the map."""
        if any(k == key for k, _ in self.overlays):
            raise ValueError(f"map layer key {key!r} is used twice")
        if legend is not None and legend.group not in self.legend_groups:
            raise ValueError(f"legend group {legend.group!r} is not one of {', '.join(self.legend_groups)} (add it with add_legend_group)")
        self.overlays.append((key, layer))
        if legend is not None:
            self.legend.append(legend)


def add_overlay(m: folium.Map, layer: MacroElement, *, key: str, title: dict[str, str], group: str,
                legend: list[LegendItem] | None = None, legend_title: dict[str, str] | None = None,
                note: dict[str, str] | None = None, show: bool = True, control: bool = True) -> MacroElement:
    """Add ``layer`` (a FeatureGroup, ImageOverlay, …) to ``m`` as a toggleable overlay with a legend section.

    ``title`` is the layer list entry (ru/kk/en plain text); ``group`` a legend group of the map
    (facilities, flows, base, or one added with ``m.shell.add_legend_group``); ``legend`` its rows,
    ``legend_title`` the section's heading (default ``title``), ``note`` a line under the rows.
    ``control=False`` keeps it out of the layer list (the page switches it itself).
    """
    layer.layer_name = tr(title)
    layer.show = show
    layer.control = control
    layer.overlay = True
    layer.add_to(m)
    section = LegendSection(key, legend_title or title, group, list(legend), note) if legend else None
    m.shell.register(key, layer, section)
    return layer


def finish_map(m: folium.Map) -> None:
    """Add the shell last, so its script runs after every layer exists (idempotent)."""
    if m.shell._parent is None:
        m.shell.add_to(m)
