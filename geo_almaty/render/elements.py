"""Small Leaflet elements for folium maps that keep data out of HTML parsing.

folium's own popups build HTML with JavaScript template literals and jQuery;
these elements instead embed data as HTML-safe JSON (Jinja's ``tojson``) and bind
popups whose HTML was built, escaped, in Python.
"""
from __future__ import annotations

import json

from branca.element import MacroElement
from folium.template import Template


class FeatureLayer(MacroElement):
    """A GeoJSON layer whose features carry ``_style``, ``_popup`` and ``_tooltip`` (pre-escaped HTML).

    Points are drawn as circle markers with their ``_style``; ``interactive=False`` draws without
    popups, tooltips or pointer events (a base layer under everything). Styles and tooltips are
    written once per layer and referenced by index (``_s``, ``_t``): thousands of road pieces share a
    handful of class styles and street names.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = (function (styles, tips) {
          function styleOf(f) { return f.properties._s === undefined ? {} : styles[f.properties._s]; }
          return L.geoJson({{ this.data|tojson }}, {
            interactive: {{ this.interactive|tojson }},
            style: styleOf,
            pointToLayer: function (f, latlng) {
                return L.circleMarker(latlng, Object.assign({interactive: {{ this.interactive|tojson }}}, styleOf(f)));
            },
            onEachFeature: function (f, layer) {
                if (f.properties._popup) { layer.bindPopup(f.properties._popup, {maxWidth: 380}); }
                if (f.properties._t !== undefined) { layer.bindTooltip(tips[f.properties._t], {sticky: true}); }
            }
          });
        }({{ this.styles|tojson }}, {{ this.tips|tojson }})).addTo({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self, data: dict, *, interactive: bool = True) -> None:
        super().__init__()
        self._name = "FeatureLayer"
        self.data, self.styles, self.tips = pack_features(data)
        self.interactive = interactive


def pack_features(collection: dict) -> tuple[dict, list[dict], list[str]]:
    """``collection`` with each feature's ``_style`` and ``_tooltip`` replaced by indexes into two shared tables."""
    styles: dict[str, int] = {}
    tips: dict[str, int] = {}
    style_list: list[dict] = []
    features = []
    for feature in collection["features"]:
        props = dict(feature["properties"])
        style = props.pop("_style", None)
        if style is not None:
            key = json.dumps(style, sort_keys=True)
            if key not in styles:
                styles[key] = len(style_list)
                style_list.append(style)
            props["_s"] = styles[key]
        tip = props.pop("_tooltip", None)
        if tip:
            props["_t"] = tips.setdefault(tip, len(tips))
        features.append({**feature, "properties": props})
    return {**collection, "features": features}, style_list, list(tips)


class SiteMarkers(MacroElement):
    """Leaflet markers (the default pin, inlined) with pre-escaped popup and tooltip HTML.

    A site's ``z`` lifts better-ranked pins above the others where they overlap; ``titles``
    (ru/kk/en) become the pin's title and alt text in the page's language. Each marker is
    registered with the page (``GA.registerSite``) so lists and buttons can zoom to it.
    """

    _template = Template("""
        {% macro script(this, kwargs) %}
        {{ this.sites|tojson }}.forEach(function (s) {
            var m = L.marker([s.lat, s.lon], {title: s.titles[GA.lang] || '', alt: s.titles[GA.lang] || '', zIndexOffset: s.z || 0,
                                              icon: new L.Icon.Default({className: s.icon_class || ''})});
            m.bindPopup(s.popup, {maxWidth: {{ this.max_width|tojson }}, maxHeight: 480});
            if (s.tooltip) { m.bindTooltip(s.tooltip); }
            m.addTo({{ this._parent.get_name() }});
            GA.registerSite({{ this.facility|tojson }}, s.rank, m, s.titles);
        });
        {% endmacro %}
    """)

    def __init__(self, facility: str, sites: list[dict], *, max_width: int = 420) -> None:
        super().__init__()
        self._name = "SiteMarkers"
        self.facility = facility
        self.sites = sites
        self.max_width = max_width


class LabelLayer(MacroElement):
    """Permanent labels (``[{lat, lon, html, z, p, cls, a}]``) drawn from zoom ``z`` on, decluttered by priority ``p``."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        GA.addLabels({{ this.map.get_name() }}, {{ this._parent.get_name() }}, {{ this.labels|tojson }});
        {% endmacro %}
    """)

    def __init__(self, m: MacroElement, labels: list[dict]) -> None:
        super().__init__()
        self._name = "LabelLayer"
        self.map = m
        self.labels = labels


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
