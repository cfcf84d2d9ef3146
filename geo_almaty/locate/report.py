"""The location-allocation section of ``summary.md`` and ``index.html``, in Russian, Kazakh and English.

For each facility type: how many sites and how big, where, which districts each one
serves, what happens to every flow (served + unserved = eligible; eligible + not
eligible = total), tonne-km and the climate effect, with the proven gap and how
distances were measured. Text from data is escaped (Markdown cells, HTML).
"""
from __future__ import annotations

import html
import math
import re

from .. import settings
from ..apportion import KG_PER_T
from ..i18n import text
from .facility import LocateOutcome
from .outputs import district_site_table, flow_table, site_table

def _t(key: str, lang: str, table: str = "text") -> str:
    """The interface string ``key`` of ``table`` (text, figure, distance, unit, status, model, note) from locale/messages.yaml."""
    return text(message_id(table, key), lang)


#: Units written into the coefficient notes (``Impact.coefficients``), longest first.
NOTE_UNITS = ("kg CO2e/t·km", "t CO2e/yr", "t CH4/yr", "t/yr")


def localised_units(note: str, lang: str) -> str:
    """A coefficient note ('1.465 t CO2e/yr per t/yr (rows)') with its units in ``lang``."""
    for unit in NOTE_UNITS:
        note = note.replace(unit, _t(unit, lang, "unit"))
    return note.replace(" per ", f" {_t('per', lang, 'unit')} ")


def message_id(table: str, key: str) -> str:
    """The id in ``geo_almaty/locale/messages.yaml`` of a location-allocation string: ``locate_<table>_<key>``."""
    return f"locate_{table}_" + re.sub(r"[^a-z0-9]+", "_", key.lower()).strip("_")


def amount(value: float, digits: int = 0) -> str:
    """A number with thin-space thousands."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:,.{digits}f}".replace(",", "\u202f")


def percent(value: float, lang: str = "en") -> str:
    """A share as '1.25 %' ('1,25 %' in Russian and Kazakh)."""
    if not math.isfinite(value):
        return "—"
    text = f"{100 * value:.2f}\u202f%"
    return text if lang == "en" else text.replace(".", ",")


def md_cell(text: object) -> str:
    """Text safe inside a Markdown table cell."""
    value = "" if text is None else str(text)
    for char in ("\\", "|", "*", "_", "`", "[", "]", "<", ">"):
        value = value.replace(char, "\\" + char)
    return " ".join(value.split())


#: The lines of :func:`summary_lines` after the answer, in the order they are shown.
HEAD_KEYS = ("min_sites", "out_of_reach", "model", "gap", "distances", "demand")


def summary_lines(outcome: LocateOutcome, lang: str) -> dict[str, object]:
    """The headline figures of a located facility, formatted for ``lang``."""
    spec = outcome.spec
    band = spec.bands[spec.band_index]
    sites = site_table(outcome, lang)
    existing = int((sites.kind == "existing").sum())
    eligible = sum(f.eligible_kg for f in outcome.supply) / KG_PER_T
    solution = outcome.model.solution
    lines = {
        "answer": _t("answer", lang).format(new=len(sites) - existing, band=band.label.get(lang, band.id), capacity=amount(band.capacity),
                                            existing=existing, served=amount(outcome.impact.served_t), eligible=amount(eligible)),
        "model": f"{_t('model', lang)}: {_t(spec.model, lang, 'model')}; {_t('haul', lang).format(km=amount(spec.max_haul_m / 1000, 0))}",
        "gap": _t("gap", lang).format(gap=percent(solution.gap, lang), status=_t(solution.status, lang, "status"), seconds=amount(solution.elapsed, 1)),
        "distances": f"{_t('distances', lang)}: " + (_t("fallback", lang, "distance").format(c=outcome.costs.circuity) if outcome.costs.is_fallback
                                                      else _t("road", lang, "distance")),
        "demand": _t("demand", lang).format(cells=amount(len(outcome.points.cell)), points=amount(len(outcome.points)),
                                            block=amount(outcome.points.block_m), dmax=amount(outcome.points.displacement_max_m),
                                            dmean=amount(outcome.points.displacement_mean_m), err=amount(outcome.points.tkm_error_bound)),
    }
    lost = sum(outcome.out_of_reach_kg().values()) / KG_PER_T
    if lost > 0:
        lines["out_of_reach"] = _t("out_of_reach", lang).format(t=amount(lost), points=amount(len(outcome.out_of_reach)),
                                                                km=amount(spec.max_haul_m / 1000, 0))
    if outcome.model.min_sites:
        lines["min_sites"] = _t("min_sites", lang).format(sites=outcome.model.min_sites["sites"], lower=outcome.model.min_sites["lower_bound"])
    return lines


def locate_markdown(outcomes: dict[str, LocateOutcome], lang: str) -> str:
    """The location-allocation section of ``summary.md``."""
    if not outcomes:
        return ""
    out = [f"## {_t('section', lang)}", "", _t("note_reach", lang), ""]
    for outcome in outcomes.values():
        head = summary_lines(outcome, lang)
        out += [f"### {md_cell(outcome.profile.title[lang])}", "", f"**{md_cell(head['answer'])}**", ""]
        out += [f"- {md_cell(head[k])}" for k in HEAD_KEYS if k in head]
        out.append("")
        flows = flow_table(outcome, lang)
        cols = ("total_t_yr", "eligible_t_yr", "served_t_yr", "unserved_t_yr", "not_eligible_t_yr")
        out += [f"| {_t('flow', lang)} | {_t('total', lang)} | {_t('eligible', lang)} | {_t('served', lang)} | {_t('unserved', lang)} | "
                f"{_t('not_eligible', lang)} |", "|---|---:|---:|---:|---:|---:|"]
        for row in flows.itertuples():
            out.append(f"| {md_cell(row.title)} | " + " | ".join(amount(getattr(row, c)) for c in cols) + " |")
        out.append(f"| **{_t('all_flows', lang)}** | " + " | ".join(amount(flows[c].sum()) for c in cols) + " |")
        out.append("")
        sites = site_table(outcome, lang)
        serves = served_districts(outcome, lang)
        out += [f"| # | {_t('site', lang)} | {_t('band', lang)} | {_t('capacity', lang)} | {_t('assigned', lang)} | {_t('utilisation', lang)} | "
                f"{_t('district', lang)} | {_t('inside', lang)} | {_t('serves', lang)} |", "|---|---|---|---:|---:|---:|---|---|---|"]
        for i, row in enumerate(sites.itertuples(), start=1):
            label = row.site_id + (f" ({row.name}, {_t('existing', lang)})" if row.kind == "existing" else "")
            out.append(f"| {i} | {md_cell(label)} | {md_cell(row.size_band_label)} | {amount(row.capacity_t_yr)} | {amount(row.assigned_t_yr)} | "
                       f"{percent(row.utilisation, lang)} | {md_cell(row.district)} | {_t('yes' if row.inside_city else 'no', lang)} | "
                       f"{md_cell(serves.get(row.site_id, ''))} |")
        out += ["", f"**{_t('impact', lang)}**", ""]
        for figure, value, unit in outcome.impact.rows():
            out.append(f"- {md_cell(_t(figure, lang, 'figure'))}: {amount(value, 1 if unit == 'km' else 0)} {_t(unit, lang, 'unit')}")
        out += [f"- {md_cell(k)}: {md_cell(localised_units(v, lang))}" for k, v in outcome.impact.coefficients.items()]
        out += [f"- {md_cell(_t(n, lang, 'note'))}" for n in outcome.impact.notes]
        out.append("")
    return "\n".join(out) + "\n"


def served_districts(outcome: LocateOutcome, lang: str) -> dict[str, str]:
    """Site id -> 'district (t/yr); ...', largest first (the report's tables and the maps' popups)."""
    table = district_site_table(outcome, lang)
    return {site: "; ".join(f"{r.district} ({amount(r.t_yr)})" for r in group.itertuples())
            for site, group in table.groupby("site_id", sort=False)}


def locate_html(outcomes: dict[str, LocateOutcome]) -> str:
    """The location-allocation section of ``index.html`` (three languages, escaped)."""
    from ..render.text import tr, tr_message

    if not outcomes:
        return ""
    esc = html.escape
    blocks = [f"<h2>{tr_message(message_id('text', 'section'))}</h2><p class=\"ga-note\">{tr_message(message_id('text', 'note_reach'))}</p>"]
    for outcome in outcomes.values():
        per_lang = {}
        for lang in settings.LANGUAGES:
            head = summary_lines(outcome, lang)
            parts = [f"<p><strong>{esc(head['answer'])}</strong></p><ul>"]
            parts += [f"<li>{esc(str(head[k]))}</li>" for k in HEAD_KEYS if k in head]
            parts.append("</ul>")
            flows = flow_table(outcome, lang)
            cols = ("total_t_yr", "eligible_t_yr", "served_t_yr", "unserved_t_yr", "not_eligible_t_yr")
            head_cells = "".join(f"<th>{esc(_t(k, lang))}</th>" for k in ("flow", "total", "eligible", "served", "unserved", "not_eligible"))
            body = "".join(f"<tr><td>{esc(row.title)}</td>" + "".join(f"<td>{amount(getattr(row, c))}</td>" for c in cols) + "</tr>"
                           for row in flows.itertuples())
            body += f"<tr><th>{esc(_t('all_flows', lang))}</th>" + "".join(f"<th>{amount(flows[c].sum())}</th>" for c in cols) + "</tr>"
            parts.append(f"<table class=\"ga-flows\"><tr>{head_cells}</tr>{body}</table>")
            sites = site_table(outcome, lang)
            serves = served_districts(outcome, lang)
            head_cells = "".join(f"<th>{esc(_t(k, lang))}</th>" for k in ("site", "band", "capacity", "assigned", "utilisation", "district", "inside", "serves"))
            rows = []
            for row in sites.itertuples():
                label = row.site_id + (f" ({row.name}, {_t('existing', lang)})" if row.kind == "existing" else "")
                rows.append(f"<tr><td>{esc(label)}</td><td>{esc(row.size_band_label)}</td><td>{amount(row.capacity_t_yr)}</td>"
                            f"<td>{amount(row.assigned_t_yr)}</td><td>{percent(row.utilisation, lang)}</td><td>{esc(str(row.district))}</td>"
                            f"<td>{esc(_t('yes' if row.inside_city else 'no', lang))}</td><td>{esc(serves.get(row.site_id, ''))}</td></tr>")
            parts.append(f"<table class=\"ga-sites\"><tr>{head_cells}</tr>{''.join(rows)}</table>")
            figures = "".join(f"<li>{esc(_t(f, lang, 'figure'))}: {amount(v, 1 if u == 'km' else 0)} {esc(_t(u, lang, 'unit'))}</li>"
                              for f, v, u in outcome.impact.rows())
            notes = "".join(f"<li>{esc(k)}: {esc(localised_units(v, lang))}</li>" for k, v in outcome.impact.coefficients.items())
            notes += "".join(f"<li>{esc(_t(n, lang, 'note'))}</li>" for n in outcome.impact.notes)
            parts.append(f"<h4>{esc(_t('impact', lang))}</h4><ul>{figures}</ul><ul class=\"ga-note\">{notes}</ul>")
            per_lang[lang] = "".join(parts)
        blocks.append(f"<h3>{tr(outcome.profile.title)}</h3>{tr(per_lang, escape=False)}")
    return "".join(blocks)
