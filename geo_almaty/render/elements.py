"""Small Leaflet elements for folium maps that keep data out of HTML parsing.

folium's own popups build HTML with JavaScript template literals and jQuery;
these elements instead embed data as HTML-safe JSON (Jinja's ``tojson``) and bind
popups whose HTML was built, escaped, in Python.
"""
from __future__ import annotations

from branca.element import MacroElement
from folium.template import Template

from .. import settings
from .text import LANGUAGE_CSS


class FeatureLayer(MacroElement):
    """A GeoJSON layer whose features carry ``_style``, ``_popup`` and ``_tooltip`` (pre-escaped HTML).

    Points are drawn as circle markers with their ``_style``.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.geoJson({{ this.data|tojson }}, {
            style: function (f) { return f.properties._style || {}; },
            pointToLayer: function (f, latlng) { return L.circleMarker(latlng, f.properties._style || {}); },
            onEachFeature: function (f, layer) {
                if (f.properties._popup) { layer.bindPopup(f.properties._popup, {maxWidth: 380}); }
                if (f.properties._tooltip) { layer.bindTooltip(f.properties._tooltip, {sticky: true}); }
            }
        }).addTo({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, data: dict) -> None:
        super().__init__()
        self._name = "FeatureLayer"
        self.data = data


class SiteMarkers(MacroElement):
    """Leaflet markers (the default pin, inlined) with pre-escaped popup and tooltip HTML.

    A site's ``z`` lifts better-ranked pins above the others where they overlap.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        {{ this.sites|tojson }}.forEach(function (s) {
            var m = L.marker([s.lat, s.lon], {title: s.title, alt: s.title, zIndexOffset: s.z || 0,
                                              icon: new L.Icon.Default({className: s.icon_class || ''})});
            m.bindPopup(s.popup, {maxWidth: 420, maxHeight: 420});
            if (s.tooltip) { m.bindTooltip(s.tooltip); }
            m.addTo({{ this._parent.get_name() }});
        });
        {% endmacro %}
    """)

    def __init__(self, sites: list[dict]) -> None:
        super().__init__()
        self._name = "SiteMarkers"
        self.sites = sites


class HtmlControl(MacroElement):
    """A Leaflet control holding fixed HTML (a legend, a title, buttons)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function () {
            var ctl = L.control({position: {{ this.position|tojson }}});
            ctl.onAdd = function () {
                var div = L.DomUtil.create('div', {{ this.css_class|tojson }});
                div.innerHTML = {{ this.html|tojson }};
                L.DomEvent.disableClickPropagation(div);
                L.DomEvent.disableScrollPropagation(div);
                return div;
            };
            ctl.addTo({{ this._parent.get_name() }});
        })();
        {% endmacro %}
    """)

    def __init__(self, html: str, position: str = "bottomright", css_class: str = "ga-panel") -> None:
        super().__init__()
        self._name = "HtmlControl"
        self.html = html
        self.position = position
        self.css_class = css_class


class PageStyle(MacroElement):
    """Page CSS (language spans, panels, legend) and the language switch logic."""

    _template = Template("""
        {% macro header(this, kwargs) %}
        <style>{{ this.css }}</style>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        window.gaSetLanguage = function (lang) {
            document.documentElement.setAttribute('data-lang', lang);
            document.documentElement.setAttribute('lang', lang);
            document.querySelectorAll('[data-set-lang]').forEach(function (b) {
                b.classList.toggle('ga-active', b.getAttribute('data-set-lang') === lang);
            });
        };
        document.addEventListener('click', function (e) {
            var b = e.target.closest ? e.target.closest('[data-set-lang]') : null;
            if (b) { window.gaSetLanguage(b.getAttribute('data-set-lang')); }
        });
        window.gaSetLanguage({{ this.lang|tojson }});
        {% endmacro %}
    """)

    def __init__(self, lang: str, extra_css: str = "") -> None:
        super().__init__()
        self._name = "PageStyle"
        self.lang = lang
        self.css = LANGUAGE_CSS + "\n" + PANEL_CSS + "\n" + extra_css

    def add_css(self, css: str) -> None:
        """Append page CSS (e.g. marker tints)."""
        self.css += "\n" + css


PANEL_CSS = """
.ga-panel{background:rgba(255,255,255,.94);padding:8px 10px;border-radius:6px;box-shadow:0 1px 5px rgba(0,0,0,.35);
  font:13px/1.35 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;max-width:320px;color:#222}
.ga-panel h1{font-size:15px;margin:0 0 4px}
.ga-panel p{margin:2px 0}
.ga-note{font-size:11px;color:#555}
.ga-legend{max-height:45vh;overflow:auto}
.ga-legend .ga-swatch{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:-1px;border:1px solid rgba(0,0,0,.35)}
.ga-legend .ga-row{white-space:nowrap}
.ga-legend h2{font-size:13px;margin:6px 0 2px}
.ga-lang button,.ga-buttons button{font:inherit;margin:1px;padding:3px 8px;border:1px solid #888;border-radius:4px;background:#fff;cursor:pointer}
.ga-lang button.ga-active,.ga-buttons button.ga-active{background:#2c7fb8;color:#fff;border-color:#2c7fb8}
.ga-popup table{border-collapse:collapse;font-size:12px}
.ga-popup td,.ga-popup th{border-bottom:1px solid #ddd;padding:2px 4px;text-align:left;vertical-align:top}
.ga-popup .num{text-align:right;white-space:nowrap}
"""


def language_switch_html() -> str:
    """Buttons RU / KK / EN for an :class:`HtmlControl`."""
    buttons = "".join(f'<button type="button" data-set-lang="{lang}">{lang.upper()}</button>' for lang in settings.LANGUAGES)
    return f'<div class="ga-lang">{buttons}</div>'


class FacilitySwitcher(MacroElement):
    """One button per facility type; a click shows that type's sites and hides the others."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        (function () {
            var map = {{ this._parent.get_name() }};
            var data = {{ this.facilities|tojson }};
            var groups = {};
            data.forEach(function (f) {
                var g = L.layerGroup();
                f.sites.forEach(function (s) {
                    var m = L.marker([s.lat, s.lon], {title: s.title, alt: s.title, zIndexOffset: s.z || 0,
                                                      icon: new L.Icon.Default({className: s.icon_class || ''})});
                    m.bindPopup(s.popup, {maxWidth: 340, maxHeight: 420});
                    m.bindTooltip(s.tooltip);
                    g.addLayer(m);
                });
                groups[f.id] = g;
            });
            window.gaShowFacility = function (id) {
                Object.keys(groups).forEach(function (k) {
                    if (k === id) { map.addLayer(groups[k]); } else { map.removeLayer(groups[k]); }
                });
                document.querySelectorAll('[data-facility]').forEach(function (b) {
                    b.classList.toggle('ga-active', b.getAttribute('data-facility') === id);
                });
            };
            var ctl = L.control({position: 'topleft'});
            ctl.onAdd = function () {
                var div = L.DomUtil.create('div', 'ga-panel ga-buttons');
                div.innerHTML = {{ this.buttons_html|tojson }};
                L.DomEvent.disableClickPropagation(div);
                L.DomEvent.on(div, 'click', function (e) {
                    var b = e.target.closest('[data-facility]');
                    if (b) { window.gaShowFacility(b.getAttribute('data-facility')); }
                });
                return div;
            };
            ctl.addTo(map);
            if (data.length) { window.gaShowFacility(data[0].id); }
        })();
        {% endmacro %}
    """)

    def __init__(self, facilities: list[dict], buttons_html: str) -> None:
        super().__init__()
        self._name = "FacilitySwitcher"
        self.facilities = facilities
        self.buttons_html = buttons_html


#: Hue of Leaflet's default (blue) marker pin, in degrees.
DEFAULT_PIN_HUE = 208.0


def pin_css(css_class: str, colour: str) -> str:
    """CSS that tints Leaflet's inlined default pin towards ``colour`` (hue rotation keeps the image offline)."""
    import colorsys

    r, g, b = (int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
    hue, _, _ = colorsys.rgb_to_hls(r, g, b)
    return f".{css_class}{{filter:hue-rotate({hue * 360 - DEFAULT_PIN_HUE:.0f}deg)}}"


def rank_z_index(rank: int, count: int) -> int:
    """zIndexOffset that puts better-ranked pins on top (Leaflet already stacks pins by screen height)."""
    return 1000 * (count - int(rank) + 1)
