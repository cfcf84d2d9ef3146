"""All Sankey diagrams on one light page: laid out in Python, drawn as inline SVG, tabs, ru/kk/en.

plotly.js is 4.8 MB; on a phone with a 4x slower CPU a page that loads it stays blank for
6-13 s (see ``benchmarks/bench_maps.py``). The diagrams here are small (at most a few dozen
nodes), so the layout is computed once in Python in the manner of d3-sankey (columns by
longest path, nodes relaxed towards their neighbours, links stacked in order) and written as
SVG: the page weighs tens of kilobytes and draws at once. Each diagram is laid out twice, wide
for desktops and narrow for phones, and CSS shows the one that fits. Notebooks keep the
interactive plotly figure (:func:`geo_almaty.sankey.sankey_figure`), with the same colours.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .. import settings
from ..atomic import write_text_atomic
from ..flows import label
from ..i18n import text as message
from ..sankey import DERIVED_COLOUR, SankeyDiagram, format_kt, node_colours
from .shell import i18n_script, index_link_html, language_switch_html, page_css
from .text import esc, per_language, tr, tr_message

#: (width, height per node of the busiest column, node width, padding between nodes, label lines) per layout.
LAYOUTS = {"wide": (960, 48, 16, 22, 1), "narrow": (370, 62, 12, 34, 2)}
LINK_OPACITY = 0.45


@dataclass
class NodeBox:
    key: str
    column: int
    x0: float
    x1: float
    y0: float
    y1: float


@dataclass
class Band:
    index: int
    x0: float
    x1: float
    y0: float
    y1: float
    width: float


def _columns(diagram: SankeyDiagram) -> dict[str, int]:
    """Column of each node: its longest path from a source; sinks go to the last column."""
    nodes = diagram.nodes
    depth = {n: 0 for n in nodes}
    for _ in range(len(nodes)):  # longest path by relaxation (a cycle stops growing after len(nodes) rounds)
        changed = False
        for link in diagram.links:
            if depth[link.target] < depth[link.source] + 1 <= len(nodes):
                depth[link.target] = depth[link.source] + 1
                changed = True
        if not changed:
            break
    last = max(depth.values(), default=0)
    sources = {link.source for link in diagram.links}
    return {n: (last if n not in sources else depth[n]) for n in nodes}


def sankey_layout(diagram: SankeyDiagram, width: float, row_height: float, node_width: float, pad: float,
                  iterations: int = 24) -> tuple[dict[str, NodeBox], list[Band], float]:
    """Node boxes, link bands and the height of the drawing (px)."""
    columns = _columns(diagram)
    totals = diagram.node_totals()
    count = max(columns.values(), default=0) + 1
    by_column = [[n for n in diagram.nodes if columns[n] == c] for c in range(count)]
    height = max(240.0, row_height * max(len(c) for c in by_column))
    ky = min((height - (len(c) - 1) * pad) / max(sum(totals[n] for n in c), 1e-9) for c in by_column if c)
    step = (width - node_width) / max(count - 1, 1)
    boxes: dict[str, NodeBox] = {}
    for c, members in enumerate(by_column):
        y = 0.0
        for n in members:
            h = max(totals[n] * ky, 1.0)
            boxes[n] = NodeBox(n, c, c * step, c * step + node_width, y, y + h)
            y += h + pad

    def centre(n: str) -> float:
        return (boxes[n].y0 + boxes[n].y1) / 2

    def resolve(members: list[str]) -> None:
        members.sort(key=lambda n: boxes[n].y0)
        y = 0.0
        for n in members:  # push down
            shift = max(0.0, y - boxes[n].y0)
            boxes[n].y0 += shift
            boxes[n].y1 += shift
            y = boxes[n].y1 + pad
        overflow = boxes[members[-1]].y1 - height if members else 0
        if overflow > 0:  # push back up from the bottom
            y = height
            for n in reversed(members):
                shift = max(0.0, boxes[n].y1 - y)
                boxes[n].y0 -= shift
                boxes[n].y1 -= shift
                y = boxes[n].y0 - pad

    for i in range(iterations):
        alpha = 0.99 ** i
        for members in (by_column if i % 2 else list(reversed(by_column))):
            for n in members:
                weights = [(link.value, link.target if link.source == n else link.source) for link in diagram.links
                           if n in (link.source, link.target) and link.source != link.target]
                total = sum(w for w, _ in weights)
                if total > 0:
                    target = sum(w * centre(o) for w, o in weights) / total
                    shift = (target - centre(n)) * alpha * 0.5
                    boxes[n].y0 += shift
                    boxes[n].y1 += shift
            resolve(members)
    out_offset = {n: boxes[n].y0 for n in boxes}
    in_offset = {n: boxes[n].y0 for n in boxes}
    order = sorted(range(len(diagram.links)), key=lambda i: (boxes[diagram.links[i].source].y0, boxes[diagram.links[i].target].y0))
    bands: dict[int, Band] = {}
    for i in sorted(order, key=lambda i: (diagram.links[i].source, boxes[diagram.links[i].target].y0)):
        link = diagram.links[i]
        w = link.value * ky
        bands[i] = Band(i, boxes[link.source].x1, boxes[link.target].x0, out_offset[link.source] + w / 2, 0.0, w)
        out_offset[link.source] += w
    for i in sorted(order, key=lambda i: (diagram.links[i].target, boxes[diagram.links[i].source].y0)):
        link = diagram.links[i]
        bands[i].y1 = in_offset[link.target] + bands[i].width / 2
        in_offset[link.target] += bands[i].width
    return boxes, [bands[i] for i in range(len(diagram.links))], height


def _f(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def diagram_svg(diagram: SankeyDiagram, labels: pd.DataFrame, layout: str) -> str:
    """One layout of a diagram as an SVG element with trilingual labels."""
    width, row_height, node_width, pad, lines = LAYOUTS[layout]
    colours = diagram.colours or node_colours([diagram])
    boxes, bands, height = sankey_layout(diagram, width, row_height, node_width, pad)
    last = max(b.column for b in boxes.values())
    totals = diagram.node_totals()
    parts = [f'<svg class="ga-sankey-svg ga-sankey-{layout}" viewBox="-4 -4 {width + 8} {_f(height + 28)}" role="img" '
             f'preserveAspectRatio="xMidYMin meet" xmlns="http://www.w3.org/2000/svg">']
    for band in bands:
        link = diagram.links[band.index]
        colour = DERIVED_COLOUR if link.derived else colours[link.source]
        mid = (band.x0 + band.x1) / 2
        parts.append(f'<path class="ga-band{" ga-derived" if link.derived else ""}" data-link="{band.index}" '
                     f'd="M{_f(band.x0)},{_f(band.y0)}C{_f(mid)},{_f(band.y0)} {_f(mid)},{_f(band.y1)} {_f(band.x1)},{_f(band.y1)}" '
                     f'stroke="{colour}" stroke-width="{_f(max(band.width, 1.0))}" stroke-opacity="{LINK_OPACITY}" fill="none"/>')
    for n, box in boxes.items():
        parts.append(f'<rect class="ga-node" data-node="{esc(n)}" x="{_f(box.x0)}" y="{_f(box.y0)}" width="{_f(box.x1 - box.x0)}" '
                     f'height="{_f(max(box.y1 - box.y0, 1.0))}" fill="{colours[n]}"/>')
    for n, box in boxes.items():
        right = box.column < last
        x = box.x1 + 5 if right else box.x0 - 5
        anchor = "start" if right else "end"
        y = (box.y0 + box.y1) / 2
        if lines == 2 and 0 < box.column < last and box.y1 - box.y0 >= 90:
            # On a narrow screen a tall middle node is labelled along itself, leaving the gaps to its neighbours' labels.
            cx = (box.x0 + box.x1) / 2
            spans = "".join(f'<tspan class="t t-{lang}">{esc(label(labels, "node", n, lang))} — {esc(format_kt(totals[n], lang))}</tspan>'
                            for lang in settings.LANGUAGES)
            parts.append(f'<text x="{_f(cx)}" y="{_f(y)}" text-anchor="middle" dominant-baseline="middle" '
                         f'transform="rotate(-90 {_f(cx)} {_f(y)})" data-node="{esc(n)}">{spans}</text>')
            continue
        spans = []
        for lang in settings.LANGUAGES:
            name, value = esc(label(labels, "node", n, lang)), esc(format_kt(totals[n], lang))
            if lines == 1:
                spans.append(f'<tspan class="t t-{lang}">{name} — {value}</tspan>')
            else:
                spans.append(f'<tspan class="t t-{lang}" x="{_f(x)}" dy="-0.2em">{name}</tspan>'
                             f'<tspan class="t t-{lang} ga-value" x="{_f(x)}" dy="1.15em">{value}</tspan>')
        parts.append(f'<text x="{_f(x)}" y="{_f(y)}" text-anchor="{anchor}" dominant-baseline="middle" data-node="{esc(n)}">{"".join(spans)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def link_texts(diagram: SankeyDiagram, labels: pd.DataFrame) -> list[dict[str, str]]:
    """Per link, 'Source → Target: 553 тыс. т/год' in each language (the tap caption)."""
    out = []
    for link in diagram.links:
        out.append(per_language(lambda lang, link=link: f"{label(labels, 'node', link.source, lang)} → {label(labels, 'node', link.target, lang)}: "
                                f"{format_kt(link.value, lang)}" + (f" ({message('derived_link', lang)})" if link.derived else "")))
    return out


def node_texts(diagram: SankeyDiagram, labels: pd.DataFrame) -> dict[str, dict[str, str]]:
    totals = diagram.node_totals()
    return {n: per_language(lambda lang, n=n: f"{label(labels, 'node', n, lang)}: {format_kt(totals[n], lang)}") for n in diagram.nodes}


def sources_table(diagram: SankeyDiagram, labels: pd.DataFrame) -> str:
    """The rows of data/flows.csv behind every band (the source note)."""
    rows = "".join(
        f"<tr><td>{tr(per_language(lambda lang, link=link: label(labels, 'node', link.source, lang)))} → "
        f"{tr(per_language(lambda lang, link=link: label(labels, 'node', link.target, lang)))}</td>"
        f"<td>{esc(', '.join(link.rows))}</td></tr>" for link in diagram.links)
    return f'<details class="ga-rows"><summary>{tr_message("sankey_rows")}</summary><table>{rows}</table></details>'


def legend_html(diagram: SankeyDiagram) -> str:
    derived = any(link.derived for link in diagram.links)
    colours = diagram.colours or node_colours([diagram])
    reported = next((colours[link.source] for link in diagram.links if not link.derived), "#2c7fb8")
    rows = [f'<div class="ga-legend-row"><span class="ga-sym ga-sym-line" style="border-top-color:{reported};border-top-width:8px;opacity:.6"></span>'
            f'{tr_message("sankey_reported")}</div>']
    if derived:
        rows.append(f'<div class="ga-legend-row"><span class="ga-sym ga-sym-line" style="border-top-color:{DERIVED_COLOUR};border-top-width:8px;opacity:.6">'
                    f'</span>{tr_message("sankey_computed")}</div>')
    return f'<div class="ga-sankey-legend">{"".join(rows)}</div>'


SANKEY_CSS = """
body{max-width:1040px;margin:0 auto;padding:8px 12px 24px}
.ga-page-head{display:flex;flex-wrap:wrap;align-items:center;gap:8px}
.ga-page-head h1{flex:1 1 240px;font-size:20px;margin:4px 0}
.ga-tabs{display:flex;flex-wrap:wrap;gap:6px;margin:8px 0}
.ga-tabs button{font:inherit;min-height:var(--ga-target);padding:4px 12px;border:1px solid #999;border-radius:6px;background:#fff;cursor:pointer}
.ga-tabs button[aria-selected=true]{background:var(--ga-accent);border-color:var(--ga-accent);color:#fff}
.ga-sankey h2{font-size:16px;margin:8px 0}
.ga-sankey-svg{width:100%;height:auto;font-size:12px}
.ga-sankey-svg text{fill:#222;paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
.ga-sankey-svg .ga-value{fill:#444}
.ga-sankey-narrow{display:none;font-size:13px}
.ga-band{cursor:pointer}.ga-band:hover,.ga-band.ga-on{stroke-opacity:.75}
.ga-caption{min-height:2.6em;margin:6px 0;padding:6px 8px;background:#f4f6f8;border-radius:6px;font-size:14px}
.ga-rows table{border-collapse:collapse;font-size:12px}.ga-rows td{border-bottom:1px solid #ddd;padding:2px 6px;vertical-align:top}
.ga-sankey[hidden]{display:none}
@media (max-width:640px){.ga-sankey-wide{display:none}.ga-sankey-narrow{display:block}.ga-page-head h1{font-size:17px}}
"""

SANKEY_JS = r"""
(function () {
  var sections = Array.prototype.slice.call(document.querySelectorAll('.ga-sankey'));
  var tabs = Array.prototype.slice.call(document.querySelectorAll('[data-tab]'));
  function show(id) {
    if (!document.getElementById(id)) { id = sections[0].id; }
    sections.forEach(function (s) { s.hidden = s.id !== id; });
    tabs.forEach(function (t) { t.setAttribute('aria-selected', t.getAttribute('data-tab') === id ? 'true' : 'false'); });
  }
  tabs.forEach(function (t) {
    t.addEventListener('click', function () {
      show(t.getAttribute('data-tab'));
      try { history.replaceState(null, '', '#' + t.getAttribute('data-tab')); } catch (e) { /* file: URLs */ }
    });
  });
  window.addEventListener('hashchange', function () { show(location.hash.slice(1)); });
  show(location.hash.slice(1));
  sections.forEach(function (s) {
    var texts = JSON.parse(s.querySelector('script[type="application/json"]').textContent);
    var caption = s.querySelector('.ga-caption'), shown = null;
    function say(item) {
      shown = item;
      caption.textContent = item ? item[GA.lang] : '';
      if (!item) { caption.innerHTML = caption.getAttribute('data-hint-html'); }
    }
    caption.setAttribute('data-hint-html', caption.innerHTML);
    function pick(e) {
      var band = e.target.closest('[data-link]'), node = e.target.closest('[data-node]');
      s.querySelectorAll('.ga-on').forEach(function (el) { el.classList.remove('ga-on'); });
      if (band) { band.classList.add('ga-on'); say(texts.links[+band.getAttribute('data-link')]); }
      else if (node) { say(texts.nodes[node.getAttribute('data-node')]); }
    }
    s.addEventListener('click', pick);
    s.addEventListener('mouseover', pick);
    GA.onLanguage(function () { if (shown) { say(shown); } });
  });
}());
"""


def sankey_page_html(diagrams: dict[str, SankeyDiagram], labels: pd.DataFrame, lang: str, *, index_href: str | None = None) -> str:
    """The page: a tab per diagram, each drawn wide and narrow, a tap caption, legend and source rows."""
    title = {lang_: message("flows_page", lang_) for lang_ in settings.LANGUAGES}
    tabs, sections = [], []
    for n, diagram in enumerate(diagrams.values()):
        short = {lang_: diagram.title[lang_].split(":")[0] for lang_ in settings.LANGUAGES}
        tabs.append(f'<button type="button" role="tab" data-tab="{esc(diagram.id)}" aria-selected="{"true" if n == 0 else "false"}">{tr(short)}</button>')
        texts = json.dumps({"links": link_texts(diagram, labels), "nodes": node_texts(diagram, labels)}, ensure_ascii=False).replace("</", "<\\/")
        sections.append(
            f'<section class="ga-sankey" id="{esc(diagram.id)}" role="tabpanel"><h2>{tr(diagram.title)}</h2>'
            f'<div class="ga-sankey-wide">{diagram_svg(diagram, labels, "wide")}</div>'
            f'<div class="ga-sankey-narrow">{diagram_svg(diagram, labels, "narrow")}</div>'
            f'<p class="ga-caption" aria-live="polite">{tr_message("sankey_tap")}</p>{legend_html(diagram)}{sources_table(diagram, labels)}'
            f'<script type="application/json">{texts}</script></section>')
    return f"""<!DOCTYPE html>
<html lang="{lang}" data-lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title[lang])}</title>
<style>{page_css()}{SANKEY_CSS}</style></head>
<body class="ga-page"><header class="ga-page-head"><h1>{tr(title)}</h1>{language_switch_html()}</header>
{index_link_html(index_href)}
<nav class="ga-tabs" role="tablist">{"".join(tabs)}</nav>
<main>{"".join(sections)}</main>
<p class="ga-note">{tr_message("source_note")}</p>
<script>{i18n_script(title, lang)}</script><script>{SANKEY_JS}</script><script>GA.startLanguage();</script>
</body></html>
"""


def write_sankey_page(diagrams: dict[str, SankeyDiagram], labels: pd.DataFrame, out_dir: str | Path, lang: str, *,
                      index_href: str | None = None) -> Path:
    """Write ``sankey.html`` (every diagram, tabs) into ``out_dir``."""
    return write_text_atomic(Path(out_dir) / "sankey.html", sankey_page_html(diagrams, labels, lang, index_href=index_href))
