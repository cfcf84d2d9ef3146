"""Sankey diagrams of the city's flows and the three sector value chains.

Layouts are declared in ``data/sankey.yaml``: each link is either one row of the
flow table or a flow expression over rows (a share of a total, a remainder).
Link values are therefore the table values, in t/yr, and a node's total is the
sum of the rows flowing into it. Every node keeps one colour in all diagrams
(:func:`node_colours`); computed links are grey. The exported page is written by
:mod:`geo_almaty.render.sankey_page` (inline SVG, no plotly.js); :func:`sankey_figure`
gives the same diagram as an interactive plotly figure for notebooks.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from . import settings
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
    #: Node key → colour, shared by every diagram of a layout file (a material keeps its colour).
    colours: dict[str, str] = field(default_factory=dict)

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
    colours = node_colours(diagrams.values())
    for diagram in diagrams.values():
        diagram.colours = colours
    return diagrams


#: Node colours, given in order of first appearance over all diagrams (grey is kept for computed links).
NODE_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#aec7e8",
                "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5", "#393b79", "#637939",
                "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1", "#636363")
#: Colour of links computed from other rows (remainders, shares).
DERIVED_COLOUR = "#9a9a9a"


def node_colours(diagrams) -> dict[str, str]:
    """One colour per node key over all ``diagrams``, in order of first appearance."""
    keys = list(dict.fromkeys(n for diagram in diagrams for n in diagram.nodes))
    return {key: NODE_PALETTE[i % len(NODE_PALETTE)] for i, key in enumerate(keys)}


def format_kt(value_t: float, lang: str) -> str:
    """t/yr as '553 тыс. т/год' / '553 мың т/жыл' / '553 kt/yr' (one decimal below 10 kt, the language's decimal mark)."""
    kt = value_t / 1e3
    number = f"{kt:,.0f}".replace(",", "\u202f") if kt >= 10 else f"{kt:.1f}".replace(".", text("decimal_mark", lang))
    return f"{number}\u00a0{text('kt_per_year', lang)}"


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


def sankey_figure(diagram: SankeyDiagram, labels: pd.DataFrame, lang: str = settings.DEFAULT_LANGUAGE) -> go.Figure:
    """A plotly Sankey of ``diagram`` (for notebooks) with a ru/kk/en switch; ``lang`` is shown first.

    Colours are the diagram's node colours (computed links grey); hover texts give localised
    values ('553 тыс. т/год'); the table rows behind each link are left to the source note.
    """
    check_language(lang)
    nodes = diagram.nodes
    index = {n: i for i, n in enumerate(nodes)}
    totals = diagram.node_totals()
    colours = diagram.colours or node_colours([diagram])

    def node_labels(language: str) -> list[str]:
        return [f"{label(labels, 'node', n, language)} — {format_kt(totals[n], language)}" for n in nodes]

    def link_labels(language: str) -> list[str]:
        note = text("derived_link", language)
        return [format_kt(link.value, language) + (f" ({note})" if link.derived else "") for link in diagram.links]

    figure = go.Figure(
        go.Sankey(
            arrangement="snap",
            node=dict(label=node_labels(lang), pad=18, thickness=16, color=[colours[n] for n in nodes], hoverinfo="none"),
            link=dict(
                source=[index[link.source] for link in diagram.links],
                target=[index[link.target] for link in diagram.links],
                value=[link.value for link in diagram.links],
                customdata=link_labels(lang),
                hovertemplate="%{source.label} → %{target.label}<br>%{customdata}<extra></extra>",
                color=[_rgba(DERIVED_COLOUR if link.derived else colours[link.source], 0.4) for link in diagram.links],
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


def _rgba(colour: str, alpha: float) -> str:
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"
