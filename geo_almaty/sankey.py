"""Sankey diagrams of the city's flows and the three sector value chains.

Layouts are declared in ``data/sankey.yaml``: each link is either one row of the
flow table or a flow expression over rows (a share of a total, a remainder).
Link values are therefore the table values, in t/yr, and a node's total is the
sum of the rows flowing into it. Diagrams are written as standalone HTML with
plotly.js inlined, so they open without a network, and carry a ru/kk/en switch.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from . import settings
from .atomic import write_text_atomic
from .config import load_validated_yaml
from .errors import FlowDataError
from .flows import evaluate, flow_row, label
from .i18n import check_language, text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SankeyLink:
    """One link: ``value`` t/yr from ``source`` to ``target``, computed from ``rows``."""

    source: str
    target: str
    value: float
    rows: tuple[str, ...]
    derived: bool


@dataclass
class SankeyDiagram:
    """A named diagram: its title in each language and its links."""

    id: str
    title: dict[str, str]
    links: list[SankeyLink] = field(default_factory=list)

    @property
    def nodes(self) -> list[str]:
        """Node keys in order of first appearance."""
        seen: dict[str, None] = {}
        for link in self.links:
            seen.setdefault(link.source)
            seen.setdefault(link.target)
        return list(seen)

    def inflow(self) -> dict[str, float]:
        """t/yr entering each node."""
        totals: dict[str, float] = defaultdict(float)
        for link in self.links:
            totals[link.target] += link.value
        return dict(totals)

    def outflow(self) -> dict[str, float]:
        """t/yr leaving each node."""
        totals: dict[str, float] = defaultdict(float)
        for link in self.links:
            totals[link.source] += link.value
        return dict(totals)

    def node_totals(self) -> dict[str, float]:
        """Size plotly gives each node: the larger of its inflow and outflow (t/yr)."""
        inflow, outflow = self.inflow(), self.outflow()
        return {n: max(inflow.get(n, 0.0), outflow.get(n, 0.0)) for n in self.nodes}


def sankey_layouts_path() -> Path:
    """Default layout file."""
    return settings.data_dir() / "sankey.yaml"


def load_sankey_diagrams(flows: pd.DataFrame, labels: pd.DataFrame, path: str | Path | None = None) -> dict[str, SankeyDiagram]:
    """Build every diagram in the layout file from the flow rows."""
    path = Path(path) if path else sankey_layouts_path()
    document = load_validated_yaml(path, "sankey", FlowDataError)
    known_nodes = set(labels.loc["node"].index)
    diagrams = {}
    for diagram_id, spec in document["diagrams"].items():
        diagram = SankeyDiagram(diagram_id, dict(spec["title"]))
        for n, link_spec in enumerate(spec["links"]):
            where = f"diagrams/{diagram_id}/links/{n}"
            link = _build_link(link_spec, flows, path, where)
            for node in (link.source, link.target):
                if node not in known_nodes:
                    raise FlowDataError(f"no label for node '{node}'", file=path, column=where, expected="a key of kind 'node' in labels.csv")
            if link.value < 0:
                raise FlowDataError(f"link value {link.value:.0f} t/yr is negative", file=path, column=where, expected="rows that leave a non-negative remainder")
            diagram.links.append(link)
        diagrams[diagram_id] = diagram
    return diagrams


def _build_link(spec: dict, flows: pd.DataFrame, path: Path, where: str) -> SankeyLink:
    if "row" in spec:
        row = flow_row(flows, spec["row"])
        quantity = evaluate({"row": spec["row"]}, flows, where=where)
        source = spec.get("from") or row["from_node"]
        target = spec.get("to") or row["to_node"]
        derived = False
    else:
        quantity = evaluate(spec["value"], flows, where=where)
        source, target = spec["from"], spec["to"]
        derived = True
    if quantity.unit != settings.MASS_FLOW_UNIT:
        raise FlowDataError(f"link in {quantity.unit}", file=path, column=where, expected=f"a mass flow in {settings.MASS_FLOW_UNIT}")
    if not source or not target:
        raise FlowDataError("link without both nodes", file=path, column=where, expected="from and to nodes")
    return SankeyLink(source, target, quantity.value, quantity.rows, derived)


def _format_kt(value_t: float) -> str:
    kt = value_t / 1e3
    return f"{kt:,.0f}".replace(",", "\u202f") if kt >= 10 else f"{kt:.1f}"


def sankey_figure(diagram: SankeyDiagram, labels: pd.DataFrame, lang: str = settings.DEFAULT_LANGUAGE) -> go.Figure:
    """A plotly Sankey of ``diagram`` with a ru/kk/en switch; ``lang`` is shown first."""
    check_language(lang)
    nodes = diagram.nodes
    index = {n: i for i, n in enumerate(nodes)}
    totals = diagram.node_totals()

    def node_labels(language: str) -> list[str]:
        unit = text("kt_per_year", language)
        return [f"{label(labels, 'node', n, language)} — {_format_kt(totals[n])} {unit}" for n in nodes]

    def link_labels(language: str) -> list[str]:
        note = text("derived_link", language)
        rows = text("report_rows", language)
        return [f"{rows}: {', '.join(link.rows)}" + (f" ({note})" if link.derived else "") for link in diagram.links]

    figure = go.Figure(
        go.Sankey(
            arrangement="snap",
            valueformat=",.0f",
            valuesuffix=" t/yr",
            node=dict(label=node_labels(lang), pad=18, thickness=16),
            link=dict(
                source=[index[link.source] for link in diagram.links],
                target=[index[link.target] for link in diagram.links],
                value=[link.value for link in diagram.links],
                customdata=link_labels(lang),
                hovertemplate="%{source.label} → %{target.label}<br>%{value}<br>%{customdata}<extra></extra>",
                color=["rgba(150,150,150,0.35)" if link.derived else "rgba(44,127,184,0.35)" for link in diagram.links],
            ),
        )
    )
    buttons = [
        dict(
            label=language.upper(),
            method="update",
            args=[
                {"node.label": [node_labels(language)], "link.customdata": [link_labels(language)]},
                {"title.text": diagram.title[language], "annotations[0].text": text("source_note", language)},
            ],
        )
        for language in settings.LANGUAGES
    ]
    figure.update_layout(
        title=dict(text=diagram.title[lang]),
        font=dict(size=12),
        updatemenus=[dict(type="buttons", direction="right", x=1.0, xanchor="right", y=1.12, buttons=buttons, active=settings.LANGUAGES.index(lang))],
        annotations=[dict(text=text("source_note", lang), showarrow=False, xref="paper", yref="paper", x=0, y=0, yshift=-12,
                          xanchor="left", yanchor="top", font=dict(size=10))],
        margin=dict(l=20, r=20, t=80, b=50),
    )
    return figure


def write_sankey_html(figure: go.Figure, path: str | Path, lang: str) -> Path:
    """Write ``figure`` as one offline HTML file (plotly.js inlined, no CDN)."""
    html = figure.to_html(include_plotlyjs=True, include_mathjax=False, full_html=True, config={"displaylogo": False, "responsive": True})
    html = html.replace("<html>", f'<html lang="{lang}">', 1).replace("<head>", '<head><meta charset="utf-8">', 1)
    return write_text_atomic(path, html)


def write_sankey_diagrams(diagrams: dict[str, SankeyDiagram], labels: pd.DataFrame, out_dir: str | Path, lang: str) -> list[Path]:
    """Write ``sankey_<id>.html`` for every diagram into ``out_dir``; return the paths."""
    out_dir = Path(out_dir)
    written = []
    for diagram in diagrams.values():
        path = write_sankey_html(sankey_figure(diagram, labels, lang), out_dir / f"sankey_{diagram.id}.html", lang)
        log.info("wrote %s (%.1f MB)", path, path.stat().st_size / 1e6)
        written.append(path)
    return written
