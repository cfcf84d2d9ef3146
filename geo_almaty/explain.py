"""Why a site scored as it did: readable criterion values and reasons in ru/kk/en."""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import settings
from .allocate import Allocation
from .i18n import text
from .score import ScoreResult
from .textsafe import clean_text


def feature_name(frame: pd.DataFrame, index: int, lang: str) -> str | None:
    """Name of feature ``index`` of ``frame`` in ``lang`` (falls back to Russian, then English)."""
    row = frame.iloc[int(index)]
    for column in (f"name_{lang}", "name_ru", "name_en"):
        value = clean_text(row.get(column)) if column in frame.columns else None
        if value:
            return value
    return None


def format_amount(value: float, unit: str, lang: str) -> str:
    """t/yr as 'kt/yr' or 't/yr', ha as 'ha' — with thin-space thousands."""
    if unit == "ha":
        return f"{value:,.0f} {text('unit_ha', lang)}".replace(",", "\u202f")
    if value >= 10_000:
        return f"{value / 1000:,.0f} {text('kt_per_year', lang)}".replace(",", "\u202f")
    return f"{value:,.0f} {text('t_per_year', lang)}".replace(",", "\u202f")


def format_distance(metres: float, lang: str) -> str:
    """'350 m' or '1.2 km'."""
    if metres < 1000:
        return f"{metres:.0f} {text('unit_m', lang)}"
    km = metres / 1000
    number = f"{km:.0f}" if km >= 10 or km == round(km) else f"{km:.1f}"
    return f"{number if lang == 'en' else number.replace('.', ',')} {text('unit_km', lang)}"


def format_road(value: float, metric: str, lang: str) -> str:
    """A road criterion's raw value (km or min) as '12 km by road' or '14 min by road'."""
    if metric == "road_min":
        return f"{value:,.0f} {text('unit_min', lang)} {text('by_road', lang)}".replace(",", "\u202f")
    return f"{format_distance(value * 1000, lang)} {text('by_road', lang)}"


def straight_comparison(result: ScoreResult, site: int, criterion_id: str) -> float:
    """The straight-line comparison of a road criterion at ``site`` (m, or the amount within the radius); NaN if none."""
    road = result.road.get(criterion_id)
    if road is None or road.straight is None:
        return float("nan")
    return float(road.straight(np.array([site]))[0])


def _road_suffix(result: ScoreResult, spec: dict, lang: str) -> str:
    road = result.road.get(spec["id"])
    if road is not None and road.fallback:
        return f" ({text('road_fallback', lang).format(factor=f'{settings.FALLBACK_CIRCUITY:.2f}')})"
    return ""


def describe_raw(result: ScoreResult, site: int, j: int, lang: str, allocations: dict[str, Allocation]) -> str:
    """The raw value of criterion ``j`` at candidate ``site`` in words; road criteria give the straight line beside."""
    spec = result.criteria[j]
    value = result.raw[site, j]
    if not np.isfinite(value):
        return "—"
    kind = spec["type"]
    metric = spec.get("metric", "straight")
    if kind in ("distance", "colocation"):
        if metric == "straight":
            words = format_distance(value, lang)
        else:
            words = format_road(value, metric, lang)
            straight = straight_comparison(result, site, spec["id"])
            if np.isfinite(straight):
                words += f" · {format_distance(straight, lang)} {text('straight_line', lang)}"
            words += _road_suffix(result, spec, lang)
        found = result.nearest.get(spec["id"])
        if found is not None:
            name = feature_name(found.features, found.nearest[site], lang)
            if name:
                words += f" ({text('nearest', lang)}: {name})"
        return words
    if kind == "reachable":
        allocation = allocations.get(spec["allocation"])
        unit = allocation.unit if allocation else "t/yr"
        if metric == "straight":
            within = text("within_radius", lang).format(radius=format_distance(spec["radius_m"], lang))
            return f"{format_amount(value, unit, lang)} {within}"
        reach = format_distance(spec["radius_m"], lang) if metric == "road_km" else f"{spec['radius_min']:g} {text('unit_min', lang)}"
        words = f"{format_amount(value, unit, lang)} {text('within_road_radius', lang).format(radius=reach)}"
        straight = straight_comparison(result, site, spec["id"])
        if np.isfinite(straight):
            crow = text("within_straight_radius", lang).format(radius=format_distance(spec["radius_m"], lang))
            words += f" · {format_amount(straight, unit, lang)} {crow}"
        return words + _road_suffix(result, spec, lang)
    if kind == "share":
        return f"{value:.0%}"
    if spec.get("raster") == "slope":
        return f"{value:.1f}{text('unit_degrees', lang)}"
    return f"{value:.0f} {text('unit_m', lang)}"


def site_breakdown(result: ScoreResult, site: int, lang: str, allocations: dict[str, Allocation]) -> pd.DataFrame:
    """One row per criterion for ``site``: label, raw value in words, value, weight, contribution (best first)."""
    rows = []
    for j, spec in enumerate(result.criteria):
        rows.append({
            "criterion": spec["id"],
            "label": spec["label"][lang],
            "raw": describe_raw(result, site, j, lang, allocations),
            "value": float(result.values[site, j]),
            "weight": float(result.weights[j]),
            "contribution": float(result.contributions[site, j]),
        })
    return pd.DataFrame(rows).sort_values("contribution", ascending=False, kind="stable").reset_index(drop=True)


def site_reasons(result: ScoreResult, site: int, lang: str, allocations: dict[str, Allocation], limit: int | None = None) -> list[str]:
    """'label: raw → value × weight = contribution' for the criteria, best contribution first."""
    table = site_breakdown(result, site, lang, allocations)
    table = table[table.weight > 0]
    if limit:
        table = table.head(limit)
    return [f"{r.label}: {r.raw} → {r.value:.2f} × {r.weight:.2f} = {r.contribution:.3f}" for r in table.itertuples()]


def tonnage_reached(result: ScoreResult, site: int, allocations: dict[str, Allocation]) -> dict[str, float]:
    """For each ``reachable`` criterion, the amount (t/yr or ha) within its radius of ``site``."""
    out = {}
    for j, spec in enumerate(result.criteria):
        if spec["type"] == "reachable" and np.isfinite(result.raw[site, j]):
            out[spec["allocation"]] = float(result.raw[site, j])
    return out
