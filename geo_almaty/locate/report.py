"""The location-allocation section of ``summary.md`` and ``index.html``, in Russian, Kazakh and English.

For each facility type: how many sites and how big, where, which districts each one
serves, what happens to every flow (served + unserved = eligible; eligible + not
eligible = total), tonne-km and the climate effect, with the proven gap and how
distances were measured. Text from data is escaped (Markdown cells, HTML).
"""
from __future__ import annotations

import html
import math

from .. import settings
from ..apportion import KG_PER_T
from .facility import LocateOutcome
from .impact import NOTES
from .outputs import MODEL_TITLES, district_site_table, flow_table, site_table

TEXT = {
    "section": {"ru": "Сколько объектов, где и для кого (размещение с учётом мощности)", "kk": "Қанша нысан, қайда және кімге (қуатты ескере отырып орналастыру)",
                "en": "How many facilities, where, serving whom (capacitated location-allocation)"},
    "answer": {"ru": "Новые площадки: {new} ({band}, по {capacity} т/год); действующие: {existing}; обслужено {served} из {eligible} т/год",
               "kk": "Жаңа алаңдар: {new} ({band}, әрқайсысы {capacity} т/жыл); жұмыс істеп тұрғандары: {existing}; {eligible} т/жылдың {served} т/жылы қамтылды",
               "en": "New sites: {new} ({band}, {capacity} t/yr each); existing: {existing}; {served} of {eligible} t/yr served"},
    "min_sites": {"ru": "Наименьшее число новых площадок: {sites} (доказано: не меньше {lower})",
                  "kk": "Жаңа алаңдардың ең аз саны: {sites} (дәлелденді: кемінде {lower})",
                  "en": "Fewest new sites: {sites} (proven: at least {lower})"},
    "model": {"ru": "Модель", "kk": "Модель", "en": "Model"},
    "haul": {"ru": "наибольшее плечо перевозки {km} км", "kk": "ең үлкен тасымал қашықтығы {km} км", "en": "maximum haul {km} km"},
    "gap": {"ru": "Доказанный разрыв до оптимума: {gap} ({status}, {seconds} с)", "kk": "Оптимумға дейінгі дәлелденген алшақтық: {gap} ({status}, {seconds} с)",
            "en": "Proven gap to the optimum: {gap} ({status}, {seconds} s)"},
    "distances": {"ru": "Расстояния", "kk": "Қашықтықтар", "en": "Distances"},
    "demand": {"ru": "Спрос: {cells} ячеек объединены в {points} точек (блоки {block} м; смещение макс. {dmax} м, среднее {dmean} м; ошибка ≤ {err} т·км)",
               "kk": "Сұраныс: {cells} ұяшық {points} нүктеге біріктірілді ({block} м блоктар; ығысу ең көбі {dmax} м, орташа {dmean} м; қате ≤ {err} т·км)",
               "en": "Demand: {cells} cells pooled into {points} points ({block} m blocks; displacement max {dmax} m, mean {dmean} m; error ≤ {err} t·km)"},
    "flow": {"ru": "Поток", "kk": "Ағын", "en": "Flow"},
    "total": {"ru": "Всего, т/год", "kk": "Барлығы, т/жыл", "en": "Total, t/yr"},
    "eligible": {"ru": "Доступно объекту", "kk": "Нысанға қолжетімді", "en": "Eligible"},
    "served": {"ru": "Обслужено", "kk": "Қамтылды", "en": "Served"},
    "unserved": {"ru": "Не обслужено", "kk": "Қамтылмады", "en": "Unserved"},
    "not_eligible": {"ru": "Не поступает (доля)", "kk": "Түспейді (үлес)", "en": "Not eligible (share)"},
    "all_flows": {"ru": "Итого", "kk": "Барлығы", "en": "All flows"},
    "site": {"ru": "Площадка", "kk": "Алаң", "en": "Site"},
    "band": {"ru": "Размер", "kk": "Өлшем", "en": "Size band"},
    "capacity": {"ru": "Мощность, т/год", "kk": "Қуаты, т/жыл", "en": "Capacity, t/yr"},
    "assigned": {"ru": "Назначено, т/год", "kk": "Бекітілді, т/жыл", "en": "Assigned, t/yr"},
    "utilisation": {"ru": "Загрузка", "kk": "Жүктеме", "en": "Utilisation"},
    "district": {"ru": "Район", "kk": "Аудан", "en": "District"},
    "inside": {"ru": "В городе", "kk": "Қалада", "en": "In the city"},
    "serves": {"ru": "Обслуживает районы", "kk": "Қызмет көрсететін аудандар", "en": "Serves districts"},
    "yes": {"ru": "да", "kk": "иә", "en": "yes"},
    "no": {"ru": "нет", "kk": "жоқ", "en": "no"},
    "existing": {"ru": "действующий", "kk": "жұмыс істеп тұр", "en": "existing"},
    "impact": {"ru": "Перевозки и климат", "kk": "Тасымал және климат", "en": "Haulage and climate"},
    "note_reach": {"ru": "Каждая тонна назначена одной площадке; значения «доступный поток» в таблице лучших площадок перекрываются и не складываются.",
                   "kk": "Әр тонна бір алаңға бекітілген; үздік алаңдар кестесіндегі «қолжетімді ағын» мәндері қиылысады және қосылмайды.",
                   "en": "Every tonne is assigned to one site; the 'tonnage within reach' of the top-sites table overlaps between sites and does not add up."},
}

FIGURES = {
    "served": {"ru": "Обслужено", "kk": "Қамтылды", "en": "Served"},
    "tonne_km": {"ru": "Тонно-километры", "kk": "Тонна-километрлер", "en": "Tonne-km"},
    "average_haul": {"ru": "Среднее плечо", "kk": "Орташа қашықтық", "en": "Average haul"},
    "transport_co2e": {"ru": "Выбросы перевозки", "kk": "Тасымал шығарындылары", "en": "Haulage emissions"},
    "replaced_tonne_km": {"ru": "Заменяемая перевозка на полигон", "kk": "Полигонға ауыстырылатын тасымал", "en": "Haul to the landfill replaced"},
    "replaced_transport_co2e": {"ru": "Её выбросы", "kk": "Оның шығарындылары", "en": "Its emissions"},
    "landfill_ch4_avoided": {"ru": "Метан полигона, предотвращено", "kk": "Полигон метаны, болдырылмады", "en": "Landfill methane avoided"},
    "landfill_ch4_avoided_co2e": {"ru": "то же в CO2-экв. (не складывать с метаном)", "kk": "CO2-балама түрінде (метанмен қоспаңыз)",
                                  "en": "the same as CO2e (do not add to the methane)"},
    "recycling_co2e_avoided": {"ru": "Предотвращено повторным использованием/переработкой", "kk": "Қайта пайдалану/өңдеу арқылы болдырылмады",
                               "en": "Avoided by reuse / recycling"},
    "net_co2e_avoided": {"ru": "Итог: предотвращено CO2-экв.", "kk": "Қорытынды: болдырылмаған CO2-балама", "en": "Net CO2e avoided"},
}

DISTANCES = {
    "fallback": {"ru": "по прямой × {c} (запасной вариант: в каталоге нет дорожной сети)", "kk": "түзу сызық × {c} (қосалқы нұсқа: каталогта жол желісі жоқ)",
                 "en": "straight line × {c} circuity (fallback: no road network in the catalog)"},
    "road": {"ru": "по дорожной сети (кратчайший путь)", "kk": "жол желісі бойынша (ең қысқа жол)", "en": "road network (shortest path length)"},
}

UNITS = {
    "t/yr": {"ru": "т/год", "kk": "т/жыл", "en": "t/yr"},
    "t·km/yr": {"ru": "т·км/год", "kk": "т·км/жыл", "en": "t·km/yr"},
    "km": {"ru": "км", "kk": "км", "en": "km"},
    "t CO2e/yr": {"ru": "т CO2-экв./год", "kk": "т CO2-бал./жыл", "en": "t CO2e/yr"},
    "t CH4/yr": {"ru": "т CH4/год", "kk": "т CH4/жыл", "en": "t CH4/yr"},
}

STATUS = {
    "optimal": {"ru": "оптимум", "kk": "оптимум", "en": "optimal"},
    "gap reached": {"ru": "достигнут заданный разрыв", "kk": "берілген алшақтыққа жетті", "en": "target gap reached"},
    "time limit": {"ru": "остановлено по времени", "kk": "уақыт бойынша тоқтатылды", "en": "stopped at the time limit"},
    "no further progress": {"ru": "улучшений больше нет", "kk": "бұдан әрі жақсару жоқ", "en": "no further progress"},
}


def _t(key: str, lang: str, table: dict = TEXT) -> str:
    entry = table[key]
    return entry.get(lang) or entry["en"]


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
        "model": f"{_t('model', lang)}: {MODEL_TITLES[spec.model][lang]}; {_t('haul', lang).format(km=amount(spec.max_haul_m / 1000, 0))}",
        "gap": _t("gap", lang).format(gap=percent(solution.gap, lang), status=_t(solution.status, lang, STATUS), seconds=amount(solution.elapsed, 1)),
        "distances": f"{_t('distances', lang)}: " + (DISTANCES["fallback"][lang].format(c=outcome.costs.circuity) if outcome.costs.is_fallback
                                                      else DISTANCES["road"][lang]),
        "demand": _t("demand", lang).format(cells=amount(len(outcome.points.cell)), points=amount(len(outcome.points)),
                                            block=amount(outcome.points.block_m), dmax=amount(outcome.points.displacement_max_m),
                                            dmean=amount(outcome.points.displacement_mean_m), err=amount(outcome.points.tkm_error_bound)),
    }
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
        out += [f"- {md_cell(head[k])}" for k in ("min_sites", "model", "gap", "distances", "demand") if k in head]
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
        serves = _serves(outcome, lang)
        out += [f"| # | {_t('site', lang)} | {_t('band', lang)} | {_t('capacity', lang)} | {_t('assigned', lang)} | {_t('utilisation', lang)} | "
                f"{_t('district', lang)} | {_t('inside', lang)} | {_t('serves', lang)} |", "|---|---|---|---:|---:|---:|---|---|---|"]
        for i, row in enumerate(sites.itertuples(), start=1):
            label = row.site_id + (f" ({row.name}, {_t('existing', lang)})" if row.kind == "existing" else "")
            out.append(f"| {i} | {md_cell(label)} | {md_cell(row.size_band_label)} | {amount(row.capacity_t_yr)} | {amount(row.assigned_t_yr)} | "
                       f"{percent(row.utilisation, lang)} | {md_cell(row.district)} | {_t('yes' if row.inside_city else 'no', lang)} | "
                       f"{md_cell(serves.get(row.site_id, ''))} |")
        out += ["", f"**{_t('impact', lang)}**", ""]
        for figure, value, unit in outcome.impact.rows():
            out.append(f"- {md_cell(_t(figure, lang, FIGURES))}: {amount(value, 1 if unit == 'km' else 0)} {UNITS[unit][lang]}")
        out += [f"- {md_cell(k)}: {md_cell(v)}" for k, v in outcome.impact.coefficients.items()]
        out += [f"- {md_cell(NOTES[n][lang])}" for n in outcome.impact.notes]
        out.append("")
    return "\n".join(out) + "\n"


def _serves(outcome: LocateOutcome, lang: str) -> dict[str, str]:
    """Site id -> 'district (t/yr); ...', largest first."""
    table = district_site_table(outcome, lang)
    return {site: "; ".join(f"{r.district} ({amount(r.t_yr)})" for r in group.itertuples())
            for site, group in table.groupby("site_id", sort=False)}


def locate_html(outcomes: dict[str, LocateOutcome]) -> str:
    """The location-allocation section of ``index.html`` (three languages, escaped)."""
    from ..render.text import tr

    if not outcomes:
        return ""
    esc = html.escape
    blocks = [f"<h2>{tr(TEXT['section'])}</h2><p class=\"ga-note\">{tr(TEXT['note_reach'])}</p>"]
    for outcome in outcomes.values():
        per_lang = {}
        for lang in settings.LANGUAGES:
            head = summary_lines(outcome, lang)
            parts = [f"<p><strong>{esc(head['answer'])}</strong></p><ul>"]
            parts += [f"<li>{esc(str(head[k]))}</li>" for k in ("min_sites", "model", "gap", "distances", "demand") if k in head]
            parts.append("</ul>")
            flows = flow_table(outcome, lang)
            cols = ("total_t_yr", "eligible_t_yr", "served_t_yr", "unserved_t_yr", "not_eligible_t_yr")
            head_cells = "".join(f"<th>{esc(_t(k, lang))}</th>" for k in ("flow", "total", "eligible", "served", "unserved", "not_eligible"))
            body = "".join(f"<tr><td>{esc(row.title)}</td>" + "".join(f"<td>{amount(getattr(row, c))}</td>" for c in cols) + "</tr>"
                           for row in flows.itertuples())
            body += f"<tr><th>{esc(_t('all_flows', lang))}</th>" + "".join(f"<th>{amount(flows[c].sum())}</th>" for c in cols) + "</tr>"
            parts.append(f"<table class=\"ga-flows\"><tr>{head_cells}</tr>{body}</table>")
            sites = site_table(outcome, lang)
            serves = _serves(outcome, lang)
            head_cells = "".join(f"<th>{esc(_t(k, lang))}</th>" for k in ("site", "band", "capacity", "assigned", "utilisation", "district", "inside", "serves"))
            rows = []
            for row in sites.itertuples():
                label = row.site_id + (f" ({row.name}, {_t('existing', lang)})" if row.kind == "existing" else "")
                rows.append(f"<tr><td>{esc(label)}</td><td>{esc(row.size_band_label)}</td><td>{amount(row.capacity_t_yr)}</td>"
                            f"<td>{amount(row.assigned_t_yr)}</td><td>{percent(row.utilisation, lang)}</td><td>{esc(str(row.district))}</td>"
                            f"<td>{esc(_t('yes' if row.inside_city else 'no', lang))}</td><td>{esc(serves.get(row.site_id, ''))}</td></tr>")
            parts.append(f"<table class=\"ga-sites\"><tr>{head_cells}</tr>{''.join(rows)}</table>")
            figures = "".join(f"<li>{esc(_t(f, lang, FIGURES))}: {amount(v, 1 if u == 'km' else 0)} {esc(UNITS[u][lang])}</li>"
                              for f, v, u in outcome.impact.rows())
            notes = "".join(f"<li>{esc(k)}: {esc(v)}</li>" for k, v in outcome.impact.coefficients.items())
            notes += "".join(f"<li>{esc(NOTES[n][lang])}</li>" for n in outcome.impact.notes)
            parts.append(f"<h4>{esc(_t('impact', lang))}</h4><ul>{figures}</ul><ul class=\"ga-note\">{notes}</ul>")
            per_lang[lang] = "".join(parts)
        blocks.append(f"<h3>{tr(outcome.profile.title)}</h3>{tr(per_lang, escape=False)}")
    return "".join(blocks)
