"""The index page and the short summary that ``geo-almaty run`` writes next to the maps."""
from __future__ import annotations

import json
from pathlib import Path

from .. import settings
from ..explain import format_amount, site_reasons, tonnage_reached
from ..i18n import text as message
from .elements import PANEL_CSS, language_switch_html
from .text import LANGUAGE_CSS, esc, tr, tr_message

PAGE_TITLE = {"ru": "Алматы: циркулярная экономика — результаты", "kk": "Алматы: циркулярлық экономика — нәтижелер",
              "en": "Almaty circular economy: results"}
SECTIONS = {
    "maps": {"ru": "Карты", "kk": "Карталар", "en": "Maps"},
    "flows": {"ru": "Потоки материалов (диаграммы Санкей)", "kk": "Материал ағындары (Санкей диаграммалары)", "en": "Material flows (Sankey diagrams)"},
    "results": {"ru": "Данные для ГИС", "kk": "ГАЖ-ға арналған деректер", "en": "Data for GIS"},
    "top": {"ru": "Лучшие площадки", "kk": "Ең жақсы алаңдар", "en": "Top sites"},
}


def site_summary_rows(outcome, inputs, lang: str, reasons: int = 3) -> list[dict]:
    """Rank, district, score, tonnage within reach and main reasons for each chosen site."""
    from ..select import district_names

    names = district_names(inputs.study)
    rows = []
    for row in outcome.selection.itertuples():
        reached = tonnage_reached(outcome.result, row.candidate, inputs.allocations)
        rows.append({
            "rank": int(row.rank),
            "district": names.get(row.district_id, {}).get(lang, str(row.district_id)),
            "score": float(row.score),
            "reach": "; ".join(f"{inputs.allocations[k].title[lang]}: {format_amount(v, inputs.allocations[k].unit, lang)}" for k, v in reached.items()),
            "reasons": site_reasons(outcome.result, row.candidate, lang, inputs.allocations, limit=reasons),
        })
    return rows


def summary_markdown(outcomes: dict, inputs, lang: str, located: dict | None = None) -> str:
    """A short Markdown summary: top sites per facility type with reasons and tonnage within reach, then the location-allocation."""
    lines = [f"# {PAGE_TITLE[lang]}", ""]
    for outcome in outcomes.values():
        lines += [f"## {outcome.profile.title[lang]}", "", outcome.profile.summary[lang], ""]
        lines += [f"| # | {message('district', lang)} | {message('score', lang)} | {message('reaches', lang)} | {message('reasons', lang)} |",
                  "|---|---|---|---|---|"]
        for r in site_summary_rows(outcome, inputs, lang):
            cell = "<br>".join(x.replace("|", "/") for x in r["reasons"])
            lines.append(f"| {r['rank']} | {r['district']} | {r['score']:.3f} | {r['reach']} | {cell} |")
        lines.append("")
    if located:
        from ..locate import locate_markdown

        lines.append(locate_markdown(located, lang))
    lines.append(inputs.catalog.disclaimer.get(lang, ""))
    return "\n".join(lines) + "\n"


def index_html(outcomes: dict, inputs, links: dict[str, list[tuple[dict, str]]], lang: str, located: dict | None = None) -> str:
    """A self-contained trilingual index page linking every output, with the top sites and the location-allocation."""
    def link_list(items: list[tuple[dict, str]]) -> str:
        return "<ul>" + "".join(f'<li><a href="{esc(href)}">{tr(label)}</a></li>' for label, href in items) + "</ul>"

    blocks = []
    for key in ("maps", "flows", "results"):
        if links.get(key):
            blocks.append(f"<h2>{tr(SECTIONS[key])}</h2>{link_list(links[key])}")
    blocks.append(f"<h2>{tr(SECTIONS['top'])}</h2>")
    for outcome in outcomes.values():
        per_lang = {}
        for language in settings.LANGUAGES:
            head = "".join(f"<th>{esc(message(k, language))}</th>" for k in ("rank", "district", "score", "reaches", "reasons"))
            body = "".join(
                f"<tr><td>{r['rank']}</td><td>{esc(r['district'])}</td><td>{r['score']:.3f}</td><td>{esc(r['reach'])}</td>"
                f"<td><ul>{''.join(f'<li>{esc(x)}</li>' for x in r['reasons'])}</ul></td></tr>"
                for r in site_summary_rows(outcome, inputs, language))
            per_lang[language] = f"<table><tr>{head}</tr>{body}</table>"
        blocks.append(f"<h3>{tr(outcome.profile.title)}</h3><p>{tr(outcome.profile.summary)}</p>{tr(per_lang, escape=False)}")
    if located:
        from ..locate import locate_html

        blocks.append(locate_html(located))
    disclaimer = f'<p class="ga-note">{tr(inputs.catalog.disclaimer)}</p>' if inputs.catalog.disclaimer else ""
    return f"""<!DOCTYPE html>
<html lang="{lang}" data-lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(PAGE_TITLE[lang])}</title>
<style>{LANGUAGE_CSS}
{PANEL_CSS}
body{{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}
table{{border-collapse:collapse;width:100%;font-size:13px}} td,th{{border-bottom:1px solid #ddd;padding:4px;text-align:left;vertical-align:top}}
td ul{{margin:0;padding-left:1.1em}} .ga-lang{{float:right}}</style></head>
<body>{language_switch_html()}<h1>{tr(PAGE_TITLE)}</h1>{disclaimer}{''.join(blocks)}
<p class="ga-note">{tr_message('source_note')}</p>
<script>
function gaSetLanguage(l){{document.documentElement.setAttribute('data-lang',l);document.documentElement.setAttribute('lang',l);
document.querySelectorAll('[data-set-lang]').forEach(function(b){{b.classList.toggle('ga-active',b.getAttribute('data-set-lang')===l);}});}}
document.addEventListener('click',function(e){{var b=e.target.closest('[data-set-lang]');if(b){{gaSetLanguage(b.getAttribute('data-set-lang'));}}}});
gaSetLanguage({json.dumps(lang)});
</script></body></html>
"""


def relative(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` with forward slashes (for links)."""
    return path.relative_to(root).as_posix()
