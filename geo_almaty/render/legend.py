"""Legend entries drawn as the map draws them, grouped (facilities, flows, base data) and tied to a layer.

A :class:`LegendSection` belongs to one overlay (its ``key``); the page shows a section
only while its layer is on the map. Symbols: ``fill`` (polygon), ``line``, ``dash``,
``circle`` (point drawn as a circle marker), ``pin`` (a tinted Leaflet pin), ``ramp``
(a CSS gradient) and ``hatch`` (excluded cells).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .. import settings
from ..i18n import text as message
from .text import esc, tr

#: Legend groups in page order, with their message ids.
LEGEND_GROUPS = {"facilities": "legend_facilities", "flows": "legend_flows", "base": "legend_base"}
SYMBOLS = ("fill", "line", "dash", "circle", "pin", "ramp", "hatch")


@dataclass
class LegendItem:
    """One row: a symbol and its label (plain text per language)."""

    label: dict[str, str]
    colour: str | None = None
    symbol: str = "fill"
    outline: str | None = None
    css_class: str = ""
    gradient: str | None = None

    def __post_init__(self) -> None:
        if self.symbol not in SYMBOLS:
            raise ValueError(f"legend symbol {self.symbol!r} is not one of {', '.join(SYMBOLS)}")

    def colours(self) -> list[str]:
        """The colours this row draws with, ramp stops included (for the no-reuse check)."""
        stops = re.findall(r"#[0-9a-fA-F]{6}\b", self.gradient or "")
        return [c.lower() for c in (self.colour, self.outline, *stops) if c]


@dataclass
class LegendSection:
    """The legend of one overlay: shown while the layer ``key`` is on the map."""

    key: str
    title: dict[str, str]
    group: str
    items: list[LegendItem] = field(default_factory=list)
    note: dict[str, str] | None = None
    #: Colours shared on purpose with another section (e.g. a facility's pin and its site list).
    shared_colours: tuple[str, ...] = ()



def item_html(item: LegendItem) -> str:
    """One legend row as HTML."""
    style = []
    if item.symbol in ("fill", "circle") and item.colour:
        style.append(f"background:{esc(item.colour)}")
        if item.outline:
            style.append(f"border-color:{esc(item.outline)}")
    elif item.symbol in ("line", "dash") and item.colour:
        style.append(f"border-top-color:{esc(item.colour)}")
    elif item.symbol == "ramp" and item.gradient:
        style.append(f"background:{esc(item.gradient)}")
    classes = f"ga-sym ga-sym-{item.symbol} {esc(item.css_class)}".strip()
    colour = f' data-colour="{esc(item.colour.lower())}"' if item.colour else ""
    symbol = f'<span class="{classes}" style="{";".join(style)}"{colour}></span>'
    return f'<div class="ga-legend-row">{symbol}<span>{tr(item.label)}</span></div>'


def section_html(section: LegendSection) -> str:
    """A section: its title, rows and optional note; hidden until the page knows its layer is shown."""
    rows = "".join(item_html(i) for i in section.items)
    note = f'<p class="ga-note">{tr(section.note)}</p>' if section.note else ""
    single = len(section.items) == 1 and section.items[0].label == section.title  # the row says it all
    heading = "" if single else f"<h3>{tr(section.title)}</h3>"
    return f'<div class="ga-legend-section" data-legend-key="{esc(section.key)}">{heading}{rows}{note}</div>'


def default_groups() -> dict[str, dict[str, str]]:
    """The standard legend groups with their titles in each language."""
    return {group: {lang: message(message_id, lang) for lang in settings.LANGUAGES} for group, message_id in LEGEND_GROUPS.items()}


def legend_html(sections: list[LegendSection], groups: dict[str, dict[str, str]] | None = None) -> str:
    """Collapsible groups (``<details>``) of sections, in the order of ``groups`` (default :data:`LEGEND_GROUPS`)."""
    blocks = []
    for group, group_title in (groups or default_groups()).items():
        members = [s for s in sections if s.group == group]
        if not members:
            continue
        title = tr(group_title)
        body = "".join(section_html(s) for s in members)
        blocks.append(f'<details class="ga-legend-group" data-group="{group}" open><summary>{title}</summary>{body}</details>')
    empty = f'<p class="ga-note ga-legend-empty" hidden>{tr({lang: message("legend_empty", lang) for lang in settings.LANGUAGES})}</p>'
    heading = tr({lang: message("legend", lang) for lang in settings.LANGUAGES})
    return f'<section class="ga-legend"><h2>{heading}</h2>{"".join(blocks)}{empty}</section>'


def reused_colours(sections: list[LegendSection]) -> dict[str, list[str]]:
    """Colours drawn by more than one section (layer): ``{colour: [section keys]}``. Empty when the map is clean."""
    owners: dict[str, list[str]] = {}
    for section in sections:
        for colour in sorted({c for item in section.items for c in item.colours()} - {c.lower() for c in section.shared_colours}):
            owners.setdefault(colour, []).append(section.key)
    return {colour: keys for colour, keys in owners.items() if len(keys) > 1}
