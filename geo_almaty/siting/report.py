"""What the siting rules did, for the outputs: per-site columns, the rules table, the summary lines.

Every output that shows sites (top-site CSV/GeoPackage, summary, map popups) says
whose land a site is on, which sanitary zone applies at the planned capacity, which
"check on the ground" flags it carries, and which receptor layers were missing.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..explain import format_distance
from ..prepare import Study
from ..score import ScoreResult
from .jurisdiction import KIND_LABELS, candidate_jurisdiction, jurisdiction_counts
from .zones import EXCLUDE

_MSG = {
    "zone": {"ru": "Санитарно-защитная зона", "kk": "Санитариялық-қорғаныш аймағы", "en": "Sanitary protection zone"},
    "capacity": {"ru": "при плановой мощности", "kk": "жоспарлы қуатта", "en": "at a planned capacity of"},
    "t_yr": {"ru": "т/год", "kk": "т/жыл", "en": "t/yr"},
    "from_edge": {"ru": "от границы площадки до", "kk": "алаң шекарасынан", "en": "from the site edge to"},
    "bird": {"ru": "Орнитологическая зона аэропорта", "kk": "Әуежайдың орнитологиялық аймағы", "en": "Airport bird-strike zone"},
    "verify": {"ru": "требует проверки по действующим нормам", "kk": "қолданыстағы нормалар бойынша тексеруді қажет етеді",
               "en": "verify against the rules in force"},
    "missing": {"ru": "Нет данных для правила", "kk": "Ереже үшін дерек жоқ", "en": "No data for rule"},
    "jurisdiction": {"ru": "Земли", "kk": "Жерлер", "en": "Land"},
    "in_city": {"ru": "в городе (акимат г. Алматы)", "kk": "қалада (Алматы қаласының әкімдігі)", "en": "in the city (akimat of Almaty)"},
    "on_oblast": {"ru": "на землях области", "kk": "облыс жерлерінде", "en": "on oblast land"},
    "unknown": {"ru": "вне известных границ", "kk": "белгілі шекаралардан тыс", "en": "outside known boundaries"},
    "flags": {"ru": "Проверить на месте", "kk": "Жерде тексеру", "en": "Check on the ground"},
    "excluded": {"ru": "Исключено кандидатов", "kk": "Алынып тасталған үміткерлер", "en": "Candidates excluded"},
    "stage": {"ru": "Этап", "kk": "Кезең", "en": "Stage"},
    "stage_unmet": {"ru": "условие этапа не выполнено ни одним кандидатом", "kk": "кезең шартын бірде-бір үміткер орындамады",
                    "en": "no candidate met the stage's condition"},
}


def site_rule_columns(result: ScoreResult, study: Study, rows: np.ndarray, lang: str) -> pd.DataFrame:
    """Per candidate of ``rows``: jurisdiction (kind, unit, name), sanitary zone (class, m) and flags (';'-joined)."""
    rows = np.asarray(rows, dtype=np.int64)
    table = candidate_jurisdiction(study, result.candidates).frame(rows, lang)
    zone = result.siting.zone if result.siting else None
    table["hazard_class"] = (zone.hazard_class or "") if zone else ""
    table["sanitary_zone_m"] = zone.width_m if zone else np.nan
    table["flags"] = result.rules.joined(rows, "flag") if result.rules is not None else ""
    return table


def rules_table(result: ScoreResult, lang: str = "en", *, counts: np.ndarray | None = None) -> pd.DataFrame:
    """One row per rule applied (and per rule that could not be): id, kind, effect, distance, layer, source, candidates caught
    (``counts`` per rule when ``result`` holds only some of the candidates, as on a tiled grid)."""
    rows = []
    if result.rules is not None:
        counts = result.rules.masks.sum(axis=0) if counts is None else counts
        for j, rule in enumerate(result.rules.rules):
            rows.append({"rule": rule.id, "kind": rule.kind, "effect": rule.effect, "label": rule.label[lang], "distance_m": rule.distance_m,
                         "layer": rule.layer or "", "source": rule.citation.full_text(lang) if rule.citation else rule.source_text(lang),
                         "verify": bool(rule.citation and rule.citation.verify), "note": rule.note, "status": "applied",
                         "candidates": int(counts[j])})
    for item in (result.siting.missing if result.siting else []):
        rows.append({"rule": item.rule, "kind": item.kind, "effect": EXCLUDE, "label": item.label[lang], "distance_m": np.nan,
                     "layer": item.layer, "source": "", "verify": False, "note": "", "status": f"not applied: {item.text('en')}", "candidates": 0})
    return pd.DataFrame(rows, columns=["rule", "kind", "effect", "label", "distance_m", "layer", "source", "verify", "note", "status", "candidates"])


def siting_summary_lines(result: ScoreResult, study: Study, selection: pd.DataFrame, lang: str, *,
                         excluded: tuple[int, int] | None = None) -> list[str]:
    """Markdown lines: zone and its source, bird-strike radius, jurisdiction counts, flags, missing layers, stages.

    ``excluded`` is (candidates excluded, candidates) when ``result`` holds only some of them (a tiled grid)."""
    lines: list[str] = []
    plan = result.siting
    if plan and plan.zone:
        zone = plan.zone
        capacity = f"{zone.capacity_t_yr:,.0f}".replace(",", "\u202f")
        lines.append(f"- {_MSG['zone'][lang]}: {zone.describe(lang)} {_MSG['capacity'][lang]} {capacity} {_MSG['t_yr'][lang]}; "
                     f"{zone.citation.text(lang)}")
    if plan and plan.bird_radius_m:
        lines.append(f"- {_MSG['bird'][lang]}: {format_distance(plan.bird_radius_m, lang)} ({_MSG['verify'][lang]})")
    rows = selection["candidate"].to_numpy()
    if len(rows):
        counts = jurisdiction_counts(candidate_jurisdiction(study, result.candidates), rows, lang)
        parts = [f"{counts['city']} {_MSG['in_city'][lang]}", f"{counts['oblast']} {_MSG['on_oblast'][lang]}"]
        if counts["oblast_units"]:
            parts[-1] += " (" + ", ".join(f"{name} {n}" for name, n in counts["oblast_units"].items()) + ")"
        if counts["unknown"]:
            parts.append(f"{counts['unknown']} {_MSG['unknown'][lang]}")
        lines.append(f"- {_MSG['jurisdiction'][lang]}: " + "; ".join(parts))
        if result.rules is not None:
            for j in result.rules.columns("flag"):
                ranks = selection["rank"].to_numpy()[result.rules.masks[rows, j]]
                if len(ranks):
                    rule = result.rules.rules[j]
                    lines.append(f"- {rule.label[lang]}: " + ", ".join(f"#{r}" for r in ranks))
    if "stage" in selection.columns:
        for stage_id, group in selection.groupby("stage", sort=False):
            stage = next(s for s in result.profile.selection["stages"] if s["id"] == stage_id)
            unmet = "" if group["stage_condition_met"].all() else f" ({_MSG['stage_unmet'][lang]})"
            lines.append(f"- {_MSG['stage'][lang]} «{stage['label'][lang]}»: " + ", ".join(f"#{r}" for r in group["rank"]) + unmet)
    if result.rules is not None:
        gone, total = excluded if excluded is not None else (int(result.excluded.sum()), len(result.candidates))
        lines.append(f"- {_MSG['excluded'][lang]}: {gone:,} / {total:,}".replace(",", "\u202f"))
    for item in (plan.missing if plan else []):
        lines.append(f"- {_MSG['missing'][lang]}: {item.text(lang)}")
    return lines


def site_popup_lines(result: ScoreResult, study: Study, rows: np.ndarray) -> dict[int, dict[str, str]]:
    """Per candidate of ``rows``, one plain-text line per language: land (city / oblast district), sanitary zone, flags."""
    from .. import settings

    rows = np.asarray(rows, dtype=np.int64)
    land = candidate_jurisdiction(study, result.candidates)
    zone = result.siting.zone if result.siting else None
    flags = result.rules.joined(rows, "flag") if result.rules is not None else [""] * len(rows)
    flag_labels = {r.id: r.label for r in (result.rules.rules if result.rules is not None else [])}
    out = {}
    for i, flag in zip(rows, flags):
        per_lang = {}
        for lang in settings.LANGUAGES:
            parts = [f"{_MSG['jurisdiction'][lang]}: {land.name(int(i), lang)}"]
            if zone is not None:
                parts.append(f"{_MSG['zone'][lang]}: {zone.describe(lang)}")
            if flag:
                parts.append(f"{_MSG['flags'][lang]}: " + "; ".join(flag_labels[f][lang] for f in flag.split(";")))
            per_lang[lang] = " · ".join(parts)
        out[int(i)] = per_lang
    return out


def jurisdiction_label(kind: str, lang: str) -> str:
    """'Almaty city (city akimat)' / 'oblast land' in ``lang``."""
    return KIND_LABELS.get(kind, KIND_LABELS["unknown"])[lang]



def stage_reason(result: ScoreResult, selection: pd.DataFrame, candidate: int, lang: str, allocations) -> tuple[str, str | None] | None:
    """For a site picked in a selection stage: ('Stage «pilot»', the stage condition it meets in words, e.g.
    '<near a waste plant>: 2.9 km by road', or None when the stage has none); None without stages."""
    from ..explain import describe_raw
    from ..select import stage_qualifies

    if "stage" not in selection.columns:
        return None
    row = selection.loc[selection.candidate == candidate].iloc[0]
    stage = next(s for s in result.profile.selection["stages"] if s["id"] == row["stage"])
    head = f"{_MSG['stage'][lang]} «{stage['label'][lang]}»"
    if not row["stage_condition_met"]:
        return head, _MSG["stage_unmet"][lang]
    for condition in stage.get("require_any") or []:
        if "criterion" in condition and stage_qualifies(result, {"require_any": [condition]}, np.array([candidate]))[0]:
            j = result.criterion_index(condition["criterion"])
            return head, f"{result.criteria[j]['label'][lang]}: {describe_raw(result, candidate, j, lang, allocations)}"
    return head, None
