"""Scenarios side by side: run each on one prepared study, tabulate, and draw every scenario's sites on one map.

Per scenario and facility type the table gives the sites chosen (and asked), the planned
capacity and its sanitary zone, the best score and, per flow a criterion reaches, the
tonnes (or hectares) within reach summed over the chosen sites (reach areas may overlap,
so the sum can count a tonne at two sites) beside the flow's total in that scenario. When
the run carries location-allocation results (``located``, :mod:`geo_almaty.locate`), the
sites opened, tonnes served, tonne-km and CO2e come too; otherwise those columns are absent.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import settings
from ..explain import tonnage_reached
from ..errors import ScenarioError
from ..i18n import text as message
from .model import Scenario, load_scenario

log = logging.getLogger(__name__)

#: The name that stands for the profiles, rules and data as shipped (no overrides).
BASELINE = "baseline"
#: Columns the location-allocation results add: (column, attribute of LocateOutcome.impact); labels are ``compare_<column>``.
LOCATED_COLUMNS = (
    ("served_t_yr", "served_t"),
    ("tonne_km_yr", "tkm"),
    ("transport_co2e_t_yr", "transport_co2e_t"),
    ("net_co2e_avoided_t_yr", "net_co2e_t"),
)


def baseline_scenario() -> Scenario:
    """The baseline: no overrides (the profiles, rules, flows and catalog as shipped)."""
    texts = {key: {lang: message(f"scenario_baseline_{key}", lang) for lang in settings.LANGUAGES} for key in ("title", "description")}
    return Scenario(BASELINE, settings.scenarios_dir(), texts["title"], texts["description"], "", (), None, (), {}, (), (), None)


def resolve_scenarios(names: list[str | Path], **checks) -> list[Scenario]:
    """Load ``names`` (files, shipped names, or ``baseline``); refuses two scenarios with one id."""
    scenarios = [baseline_scenario() if str(n) == BASELINE else load_scenario(n, **checks) for n in names]
    seen: dict[str, Path] = {}
    for s in scenarios:
        if s.id in seen:
            raise s.error(f"scenario id '{s.id}' given twice (also {seen[s.id]})", "id", "scenarios with distinct ids")
        seen[s.id] = s.path
    return scenarios


@dataclass
class ScenarioRun:
    """One scenario's inputs, scored facility types and (when available) location-allocation results."""

    scenario: Scenario
    inputs: object                       #: geo_almaty.pipeline.Inputs
    outcomes: dict[str, object]          #: facility -> geo_almaty.pipeline.FacilityOutcome
    located: dict = field(default_factory=dict)  #: facility -> geo_almaty.locate.LocateOutcome


def compared_facilities(scenarios: list[Scenario], facilities: list[str] | None = None) -> list[str]:
    """``facilities``, else those the scenarios name (in order), else every shipped profile."""
    from ..profiles import list_profiles

    if facilities:
        return list(dict.fromkeys(facilities))
    named = list(dict.fromkeys(f for s in scenarios for f in s.facilities))
    return named or list_profiles()


def locate_outcomes(inputs, outcomes: dict) -> dict:
    """Location-allocation of the facility types whose profile has a ``locate`` section, when this version has it."""
    from .. import pipeline

    locate = getattr(pipeline, "locate_facilities", None)
    if locate is None or not any(getattr(o.profile, "locate", None) for o in outcomes.values()):
        return {}
    return locate(inputs, outcomes)


def run_scenarios(scenarios: list[Scenario], catalog_path: str | Path | None = None, cell_size: float = settings.DEFAULT_CELL_SIZE_M, *,
                  facilities: list[str] | None = None, locate: bool = True, progress: bool = False,
                  memory_budget: int | str | None = None, base=None) -> list[ScenarioRun]:
    """Score ``facilities`` under each scenario. The study is prepared once (or ``base``, baseline
    :class:`geo_almaty.pipeline.Inputs` already prepared, is reused); a scenario that replaces a catalog
    layer gets its own."""
    from ..pipeline import load_inputs, score_facility, with_scenario
    from ..progress import progress_bar

    facilities = compared_facilities(scenarios, facilities)
    runs = []
    for scenario in progress_bar(scenarios, desc="scenarios", unit="scenario", enabled=progress):
        if scenario.catalog:
            inputs = load_inputs(catalog_path, cell_size, profiles=facilities, progress=progress, memory_budget=memory_budget, scenario=scenario)
        else:
            if base is None:
                base = load_inputs(catalog_path, cell_size, profiles=facilities, progress=progress, memory_budget=memory_budget)
            inputs = with_scenario(base, None if scenario.id == BASELINE else scenario)
        outcomes = {f: score_facility(inputs, f, progress=progress) for f in facilities}
        runs.append(ScenarioRun(scenario, inputs, outcomes, locate_outcomes(inputs, outcomes) if locate else {}))
    return runs


def _unit_suffix(unit: str) -> str:
    return unit.replace("/", "_per_")


def sites_table(runs: list[ScenarioRun], lang: str) -> pd.DataFrame:
    """One row per chosen site: scenario, facility, rank, candidate, district, lon/lat, score, amounts within reach,
    and the other scenarios that chose the same candidate for the same facility type."""
    from ..render.maps import sites_lonlat
    from ..select import district_names

    rows = []
    chosen: dict[tuple[str, str], set[str]] = {}
    for run in runs:
        for facility, outcome in run.outcomes.items():
            labels = outcome.result.candidates.labels()[outcome.selection.candidate.to_numpy()]
            chosen[(run.scenario.id, facility)] = set(map(str, labels))
    for run in runs:
        names = district_names(run.inputs.study)
        for facility, outcome in run.outcomes.items():
            lon, lat = sites_lonlat(outcome)
            labels = outcome.result.candidates.labels()[outcome.selection.candidate.to_numpy()]
            for row, x, y, ident in zip(outcome.selection.itertuples(), lon, lat, labels):
                reached = tonnage_reached(outcome.result, int(row.candidate), run.inputs.allocations)
                others = [r.scenario.id for r in runs if r is not run and str(ident) in chosen.get((r.scenario.id, facility), set())]
                record = {"scenario_id": run.scenario.id, "scenario": run.scenario.title[lang], "facility": facility,
                          "rank": int(row.rank), "candidate_id": str(ident),
                          "district": names.get(row.district_id, {}).get(lang, str(row.district_id)),
                          "lon": round(float(x), 6), "lat": round(float(y), 6), "score": round(float(row.score), 6)}
                for allocation_id, amount in sorted(reached.items()):
                    record[f"reach_{allocation_id}_{_unit_suffix(run.inputs.allocations[allocation_id].unit)}"] = amount
                record["also_chosen_in"] = "; ".join(others)
                rows.append(record)
    frame = pd.DataFrame(rows)
    if len(frame):
        reach = sorted(c for c in frame.columns if c.startswith("reach_"))
        rest = [c for c in frame.columns if not c.startswith("reach_") and c != "also_chosen_in"]
        frame = frame[rest + reach + ["also_chosen_in"]]
    return frame


def comparison_table(runs: list[ScenarioRun], lang: str) -> pd.DataFrame:
    """One row per scenario and facility type (see the module docstring); amounts in t/yr or ha."""
    rows = []
    for run in runs:
        for facility, outcome in run.outcomes.items():
            result = outcome.result
            selected = outcome.selection.candidate.to_numpy()
            zone = result.siting.zone if result.siting is not None else None
            record = {
                "scenario_id": run.scenario.id, "scenario": run.scenario.title[lang], "facility": facility,
                "facility_title": outcome.profile.title[lang], "sites": int(len(selected)), "sites_asked": int(outcome.profile.top_n),
                "capacity_t_yr": float(result.siting.capacity_t_yr) if result.siting is not None and result.siting.capacity_t_yr is not None else np.nan,
                "sanitary_zone_m": float(zone.width_m) if zone is not None else np.nan,
                "best_score": round(float(np.nanmax(result.score[selected])), 6) if len(selected) else np.nan,
            }
            reached = [tonnage_reached(result, int(i), run.inputs.allocations) for i in selected]
            flows = sorted({c["allocation"] for c in result.criteria if c["type"] == "reachable" and c["id"] not in result.skipped})
            for allocation_id in flows:
                allocation = run.inputs.allocations[allocation_id]
                suffix = _unit_suffix(allocation.unit)
                record[f"reach_{allocation_id}_{suffix}"] = float(sum(r.get(allocation_id, 0.0) for r in reached))
                record[f"total_{allocation_id}_{suffix}"] = float(allocation.total)
            placed = run.located.get(facility)
            if placed is not None:
                record["located_sites"] = int(len(placed.site_location))
                for column, attribute in LOCATED_COLUMNS:
                    value = getattr(placed.impact, attribute, None)
                    record[column] = float(value) if value is not None else np.nan
            rows.append(record)
    frame = pd.DataFrame(rows)
    fixed = [c for c in frame.columns if not c.startswith(("reach_", "total_")) and c not in {"located_sites", *(c for c, _ in LOCATED_COLUMNS)}]
    amounts = sorted((c for c in frame.columns if c.startswith(("reach_", "total_"))), key=lambda c: (c.split("_", 1)[1], c))
    located = [c for c in ("located_sites", *(c for c, _ in LOCATED_COLUMNS)) if c in frame.columns]
    return frame[fixed + amounts + located]


# --- side-by-side text: Markdown and HTML -------------------------------------------------------------

def _metric_label(column: str, runs: list[ScenarioRun], lang: str) -> str:
    """A row label of the side-by-side table in ``lang``."""
    for prefix, message_id in (("reach_", "compare_reach"), ("total_", "compare_total")):
        if column.startswith(prefix):
            for run in runs:
                for key, allocation in run.inputs.allocations.items():
                    if column == f"{prefix}{key}_{_unit_suffix(allocation.unit)}":
                        unit = message("unit_ha", lang) if allocation.unit == "ha" else message("t_per_year", lang)
                        return f"{message(message_id, lang)}: {allocation.title[lang]} ({unit})"
            return f"{message(message_id, lang)}: {column[len(prefix):]}"
    return message(f"compare_{column}", lang)


def _cell(value) -> str:
    if isinstance(value, (float, np.floating)):
        if not np.isfinite(value):
            return "–"
        return f"{value:,.3f}".replace(",", "\u202f") if abs(value) < 10 and not float(value).is_integer() else f"{value:,.0f}".replace(",", "\u202f")
    return str(value)


def side_by_side(table: pd.DataFrame, runs: list[ScenarioRun], lang: str) -> dict[str, tuple[list[str], list[tuple[str, list[str]]]]]:
    """Per facility: the scenario titles (columns) and (metric label, values per scenario) rows."""
    out = {}
    metrics = [c for c in table.columns if c not in ("scenario_id", "scenario", "facility", "facility_title")]
    for facility, group in table.groupby("facility", sort=False):
        rows = []
        for column in metrics:
            values = group[column].tolist()
            if all(isinstance(v, float) and not np.isfinite(v) for v in values):
                continue  # e.g. a flow only another facility type reaches
            rows.append((_metric_label(column, runs, lang), [_cell(v) for v in values]))
        out[str(group["facility_title"].iloc[0])] = (group["scenario"].tolist(), rows)
    return out


def comparison_markdown(table: pd.DataFrame, runs: list[ScenarioRun], lang: str) -> str:
    """The side-by-side tables as Markdown (every text from data escaped), then each scenario's overrides and citations."""
    from ..render.index import md_text
    from .model import assumptions

    lines = [f"# {md_text(message('compare_title', lang))}", "", md_text(message("reach_overlaps", lang)), ""]
    for facility, (columns, rows) in side_by_side(table, runs, lang).items():
        lines += [f"## {md_text(facility)}", "", "| | " + " | ".join(md_text(c) for c in columns) + " |",
                  "|---|" + "---|" * len(columns)]
        lines += ["| " + md_text(label) + " | " + " | ".join(md_text(v) for v in values) + " |" for label, values in rows]
        lines.append("")
    lines += [f"## {md_text(message('compare_scenarios', lang))}", ""]
    for run in runs:
        s = run.scenario
        lines += [f"### {md_text(s.title[lang])} ({md_text(s.id)})", "", md_text(s.description[lang]), ""]
        if s.report_lines:
            lines.append(f"- {md_text(message('compare_report_lines', lang))}: {md_text(s.report_lines)}")
        lines += [f"- {md_text(key)}: {md_text(reason)} ({md_text(cite)})" for key, reason, cite in assumptions(s)]
        lines.append("")
    return "\n".join(lines) + "\n"


def comparison_html(table: pd.DataFrame, runs: list[ScenarioRun], lang: str, links: list[tuple[dict[str, str], str]]) -> str:
    """A trilingual page: links to the map and tables, the side-by-side tables, each scenario's overrides."""
    from ..render.index import page_html
    from ..render.text import esc, tr, tr_message
    from .model import assumptions

    def per_lang(render) -> str:
        return tr({lang_: render(lang_) for lang_ in settings.LANGUAGES}, escape=False)

    def tables(lang_: str) -> str:
        blocks = []
        for facility, (columns, rows) in side_by_side(table, runs, lang_).items():
            head = "<th></th>" + "".join(f"<th>{esc(c)}</th>" for c in columns)
            body = "".join(f"<tr><th>{esc(label)}</th>" + "".join(f'<td class="num">{esc(v)}</td>' for v in values) + "</tr>"
                           for label, values in rows)
            blocks.append(f'<h2>{esc(facility)}</h2><div class="ga-table-wrap"><table><tr>{head}</tr>{body}</table></div>')
        return "".join(blocks)

    def scenarios(lang_: str) -> str:
        items = []
        for run in runs:
            s = run.scenario
            cited = "".join(f"<li><code>{esc(key)}</code>: {esc(reason)} <small>({esc(cite)})</small></li>" for key, reason, cite in assumptions(s))
            lines = f"<p><small>{esc(message('compare_report_lines', lang_))}: {esc(s.report_lines)}</small></p>" if s.report_lines else ""
            items.append(f"<h3>{esc(s.title[lang_])} <small><code>{esc(s.id)}</code></small></h3><p>{esc(s.description[lang_])}</p>{lines}"
                         + (f"<ul>{cited}</ul>" if cited else ""))
        return f"<h2>{esc(message('compare_scenarios', lang_))}</h2>" + "".join(items)

    link_list = "<ul>" + "".join(f'<li><a href="{esc(href)}"{" data-keep-lang" if href.endswith(".html") else ""}>{tr(label)}</a></li>'
                                 for label, href in links) + "</ul>"
    body = link_list + f'<p class="ga-note">{tr_message("reach_overlaps")}</p>' + per_lang(tables) + per_lang(scenarios)
    title = {lang_: message("compare_title", lang_) for lang_ in settings.LANGUAGES}
    return page_html(title, body, lang)


# --- the command ----------------------------------------------------------------------------------------

@dataclass
class ComparisonOutputs:
    """What ``geo-almaty compare`` wrote, and the runs behind it."""

    table: Path
    sites: Path
    markdown: Path
    page: Path
    map: Path
    runs: list[ScenarioRun]
    comparison: pd.DataFrame


def compare_scenarios(names: list[str | Path], out_dir: str | Path, lang: str, *, catalog_path: str | Path | None = None,
                      cell_size: float = settings.DEFAULT_CELL_SIZE_M, facilities: list[str] | None = None, progress: bool = False,
                      overwrite: bool = False, memory_budget: int | str | None = None) -> ComparisonOutputs:
    """Run the scenarios ``names`` and write, staged (all or nothing): ``compare.csv`` (one row per scenario and
    facility type), ``compare_sites.csv`` (one row per chosen site), ``compare.md``, ``compare.html`` and
    ``compare_map.html`` (every scenario's sites, one colour per scenario and facility type)."""
    from ..atomic import staged_output, write_text_atomic
    from ..catalog import load_catalog
    from ..export import write_csv
    from ..render.maps import save_map
    from .compare_map import build_compare_map

    if len(names) < 2:
        raise ScenarioError(f"{len(names)} scenario(s) to compare", column="scenarios", expected="two or more scenario files (or 'baseline' and one)")
    scenarios = resolve_scenarios(names, catalog=load_catalog(catalog_path))
    runs = run_scenarios(scenarios, catalog_path, cell_size, facilities=facilities, progress=progress, memory_budget=memory_budget)
    table = comparison_table(runs, lang)
    out_dir = Path(out_dir)
    with staged_output(out_dir, overwrite=overwrite, command="geo-almaty compare") as stage:
        paths = [write_csv(stage / "compare.csv", table), write_csv(stage / "compare_sites.csv", sites_table(runs, lang)),
                 write_text_atomic(stage / "compare.md", comparison_markdown(table, runs, lang))]
        paths.append(save_map(build_compare_map(runs, lang, index_href="compare.html"), stage / "compare_map.html", lang))
        links = [({lang_: message("compare_map", lang_) for lang_ in settings.LANGUAGES}, "compare_map.html")]
        links += [({lang_: p.name for lang_ in settings.LANGUAGES}, p.name) for p in paths[:3]]
        paths.append(write_text_atomic(stage / "compare.html", comparison_html(table, runs, lang, links)))
    table_path, sites_path, md_path, map_path, page_path = (out_dir / p.name for p in paths)
    return ComparisonOutputs(table_path, sites_path, md_path, page_path, map_path, runs, table)
