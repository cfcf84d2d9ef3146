"""The index page, the site summary (HTML and Markdown) and the short summary ``geo-almaty run`` prints."""
from __future__ import annotations

from pathlib import Path

from .. import settings
from ..explain import format_amount, site_reasons, tonnage_reached
from ..i18n import text as message
from ..siting.report import siting_summary_lines
from ..textsafe import markdown_escape
from .maps import coordinates_text, sites_lonlat
from .shell import i18n_script, index_link_html, language_switch_html, page_css
from .text import esc, tr, tr_message

PAGE_TITLE = {"ru": "Алматы: циркулярная экономика — результаты", "kk": "Алматы: циркулярлық экономика — нәтижелер",
              "en": "Almaty circular economy: results"}
SECTIONS = {
    "maps": {"ru": "Карты", "kk": "Карталар", "en": "Maps"},
    "flows": {"ru": "Потоки материалов (диаграммы Санкей)", "kk": "Материал ағындары (Санкей диаграммалары)", "en": "Material flows (Sankey diagrams)"},
    "results": {"ru": "Данные для ГИС", "kk": "ГАЖ-ға арналған деректер", "en": "Data for GIS"},
    "top": {"ru": "Лучшие площадки", "kk": "Ең жақсы алаңдар", "en": "Top sites"},
}
#: How many sites per facility the index page and the command line show (the summary shows all).
TOP_SHOWN = 3
PAGE_BODY_CSS = """
body{max-width:1100px;margin:0 auto;padding:8px 14px 32px}
.ga-page-head{display:flex;flex-wrap:wrap;align-items:center;gap:8px}.ga-page-head h1{flex:1 1 260px;font-size:21px;margin:6px 0}
table{border-collapse:collapse;width:100%;font-size:13px} td,th{border-bottom:1px solid #ddd;padding:4px;text-align:left;vertical-align:top}
td ul{margin:0;padding-left:1.1em} .ga-table-wrap{overflow-x:auto}
main a{display:inline-flex;align-items:center;min-height:var(--ga-target)}
"""


def site_summary_rows(outcome, inputs, lang: str, reasons: int = 3) -> list[dict]:
    """Rank, candidate id, district, land (city or oblast district), coordinates, score, tonnage within reach and main
    reasons for each chosen site."""
    from ..select import district_names
    from ..siting.jurisdiction import candidate_jurisdiction

    names = district_names(inputs.study)
    land = candidate_jurisdiction(inputs.study, outcome.result.candidates)
    lon, lat = sites_lonlat(outcome)
    labels = outcome.result.candidates.labels()[outcome.selection.candidate.to_numpy()]
    rows = []
    for row, x, y, ident in zip(outcome.selection.itertuples(), lon, lat, labels):
        reached = tonnage_reached(outcome.result, row.candidate, inputs.allocations)
        rows.append({
            "rank": int(row.rank),
            "candidate": str(ident),
            "district": names.get(row.district_id, {}).get(lang, str(row.district_id)),
            "land": land.name(int(row.candidate), lang),
            "coordinates": coordinates_text(float(y), float(x)),
            "score": float(row.score),
            "reach": "; ".join(f"{inputs.allocations[k].title[lang]}: {format_amount(v, inputs.allocations[k].unit, lang)}" for k, v in reached.items()),
            "reasons": site_reasons(outcome.result, row.candidate, lang, inputs.allocations, limit=reasons),
        })
    return rows


def md_text(value: object) -> str:
    """Text safe inside Markdown (markup shown as text, one line, missing values empty): :func:`geo_almaty.textsafe.markdown_escape`."""
    return markdown_escape(value)


def summary_markdown(outcomes: dict, inputs, lang: str, located: dict | None = None, *, lead: list[str] | None = None) -> str:
    """The top sites per facility type as Markdown lists (no HTML): rank, place, score, reach, reasons.

    ``located`` (facility -> :class:`geo_almaty.locate.LocateOutcome`) adds the location-allocation section;
    ``lead``: Markdown lines after the title (e.g. the scenario the run used).
    """
    lines = [f"# {md_text(PAGE_TITLE[lang])}", "", *(lead or []), f"*{md_text(message('reach_overlaps', lang))}*", ""]
    for outcome in outcomes.values():
        lines += [f"## {md_text(outcome.profile.title[lang])}", "", md_text(outcome.profile.summary[lang]), ""]
        for r in site_summary_rows(outcome, inputs, lang):
            lines.append(f"{r['rank']}. **{md_text(r['district'])}** ({md_text(r['land'])}): {message('score', lang).lower()} {r['score']:.3f}; "
                         f"{md_text(message('candidate', lang).lower())} `{r['candidate']}`; {r['coordinates']}")
            if r["reach"]:
                lines.append(f"   - {md_text(message('reaches', lang))}: {md_text(r['reach'])}")
            lines += [f"   - {md_text(reason)}" for reason in r["reasons"]]
        lines.append("")
        lines += [f"- {md_text(line.removeprefix('- '))}" for line in siting_summary_lines(
            outcome.result, inputs.study, outcome.selection, lang, excluded=(outcome.excluded_count, outcome.candidate_count))]
        lines.append("")
    if located:
        from ..locate import locate_markdown

        lines.append(locate_markdown(located, lang))
    lines.append(md_text(inputs.catalog.disclaimer.get(lang, "")))
    return "\n".join(lines) + "\n"


def sites_table(outcome, inputs, limit: int | None = None) -> str:
    """A facility's sites as a table in three languages (``limit`` rows)."""
    per_lang = {}
    for language in settings.LANGUAGES:
        head = "".join(f"<th>{esc(message(k, language))}</th>" for k in ("rank", "district", "score", "reaches", "reasons", "coordinates"))
        body = "".join(
            f"<tr><td>{r['rank']}</td><td>{esc(r['district'])}<br><small>{esc(r['candidate'])}</small></td>"
            f"<td>{r['score']:.3f}</td><td>{esc(r['reach'])}</td>"
            f"<td><ul>{''.join(f'<li>{esc(x)}</li>' for x in r['reasons'])}</ul></td><td>{esc(r['coordinates'])}</td></tr>"
            for r in site_summary_rows(outcome, inputs, language)[:limit])
        per_lang[language] = f'<div class="ga-table-wrap"><table><tr>{head}</tr>{body}</table></div>'
    return f"<h3>{tr(outcome.profile.title)}</h3><p>{tr(outcome.profile.summary)}</p>{tr(per_lang, escape=False)}"


def page_html(title: dict[str, str], body: str, lang: str, *, index_href: str | None = None) -> str:
    """A self-contained trilingual page (shared CSS, language switch kept across pages)."""
    return f"""<!DOCTYPE html>
<html lang="{lang}" data-lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title[lang])}</title>
<style>{page_css()}{PAGE_BODY_CSS}</style></head>
<body class="ga-page"><header class="ga-page-head"><h1>{tr(title)}</h1>{language_switch_html()}</header>
{index_link_html(index_href)}<main>{body}</main>
<p class="ga-note">{tr_message('source_note')}</p>
<script>{i18n_script(title, lang)}</script><script>GA.startLanguage();</script>
</body></html>
"""


def index_html(outcomes: dict, inputs, links: dict[str, list[tuple[dict, str]]], lang: str, *, extra_sections: list[str] | None = None,
               lead: str = "") -> str:
    """The index page linking every output, with the top three sites per facility type.

    ``extra_sections`` are ready HTML blocks (e.g. the robustness section) placed after the top sites;
    ``lead`` an HTML block placed first (e.g. the scenario the run used).
    """
    def link_list(items: list[tuple[dict, str]]) -> str:
        def keep(href: str) -> str:  # pages carry the language on; data files are downloaded as they are
            return " data-keep-lang" if href.split("#")[0].endswith(".html") else ""

        return "<ul>" + "".join(f'<li><a href="{esc(href)}"{keep(href)}>{tr(label)}</a></li>' for label, href in items) + "</ul>"

    blocks = []
    for key in ("maps", "flows", "results"):
        if links.get(key):
            blocks.append(f"<h2>{tr(SECTIONS[key])}</h2>{link_list(links[key])}")
    blocks.append(f"<h2>{tr(SECTIONS['top'])}</h2><p class=\"ga-note\">{tr_message('reach_overlaps')}</p>")
    blocks += [sites_table(outcome, inputs, TOP_SHOWN) for outcome in outcomes.values()]
    blocks += extra_sections or []
    if inputs.catalog.disclaimer:
        blocks.insert(0, f'<p class="ga-badge">{tr(inputs.catalog.disclaimer)}</p>')
    return page_html(PAGE_TITLE, lead + "".join(blocks), lang)


def summary_html(outcomes: dict, inputs, lang: str, *, index_href: str | None = None, located: dict | None = None, lead: str = "") -> str:
    """Every chosen site per facility type with reasons, coordinates and candidate ids (the HTML twin of summary.md);
    ``located`` (facility -> :class:`geo_almaty.locate.LocateOutcome`) adds the location-allocation section,
    ``lead`` an HTML block placed first."""
    title = {lang_: message("summary_page", lang_) for lang_ in settings.LANGUAGES}
    body = lead + f'<p class="ga-note">{tr_message("reach_overlaps")}</p>' + "".join(sites_table(o, inputs) for o in outcomes.values())
    if located:
        from ..locate import locate_html

        body += locate_html(located)
    if inputs.catalog.disclaimer:
        body = f'<p class="ga-badge">{tr(inputs.catalog.disclaimer)}</p>' + body
    return page_html(title, body, lang, index_href=index_href)


def short_summary(outcomes: dict, inputs, lang: str, index: Path, top: int = TOP_SHOWN) -> list[str]:
    """Lines for the terminal: the best ``top`` sites per facility type and where the index page is."""
    from ..explain import site_breakdown
    from ..siting.report import stage_reason

    lines = []
    for outcome in outcomes.values():
        lines.append(f"{outcome.profile.title[lang]}:")
        for r, candidate in zip(site_summary_rows(outcome, inputs, lang, reasons=1)[:top], outcome.selection.candidate):
            best = site_breakdown(outcome.result, int(candidate), lang, inputs.allocations)
            best = best[best.weight > 0]
            reason = f" — {best.label.iloc[0]}: {best.raw.iloc[0]}" if len(best) else ""
            stage = stage_reason(outcome.result, outcome.selection, int(candidate), lang, inputs.allocations)
            if stage:
                reason = f" — {stage[0]}: {stage[1]}" if stage[1] else f" — {stage[0]}; {reason.removeprefix(' — ')}"
            lines.append(f"  #{r['rank']} {r['district']} ({r['coordinates']}), {message('score', lang).lower()} {r['score']:.3f}{reason}")
    lines.append(message("reach_overlaps", lang))
    lines.append(f"{message('back_to_index', lang).lstrip('← ')}: {index}")
    return lines


def relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` with forward slashes (for links)."""
    return path.relative_to(root).as_posix()
