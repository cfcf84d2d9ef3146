"""The *select* stage: the best sites, spaced apart and spread over districts.

Candidates are taken in order of score (ties by candidate order, so the result
is deterministic); a site closer than ``min_spacing_m`` to one already chosen,
or in a district that already has ``max_per_district`` sites, is passed over.
The pool of candidates examined starts with the best ``POOL_FACTOR`` × ``top_n``
and widens (×4 each time) until ``top_n`` sites are found or every candidate has
been examined, so fine grids, where the best cells cluster, still give ``top_n``
sites; when fewer exist, the result says why (``selection.attrs["shortfall"]``).
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .allocate import OUTSIDE_DISTRICTS
from .errors import SelectionError
from .prepare import Study
from .rasterize import burn_values
from .score import ScoreResult

log = logging.getLogger(__name__)

#: How many top-scoring candidates per requested site are examined first (the pool then widens ×4 as needed).
POOL_FACTOR = 200
#: The smallest first pool.
MIN_POOL = 1000


def candidate_districts(study: Study, result: ScoreResult) -> np.ndarray:
    """District id of each candidate's cell (``'outside'`` beyond the districts layer)."""
    districts = study.layer("districts")
    out = np.full(len(result.candidates), OUTSIDE_DISTRICTS, dtype=object)
    if districts is None:
        return out
    index = burn_values(districts.geometry.values, np.arange(1, len(districts) + 1), study.grid).ravel()
    cell = result.candidates.cell
    ok = cell >= 0
    number = np.zeros(len(cell), dtype=np.int64)
    number[ok] = index[cell[ok]]
    ids = districts["district_id"].to_numpy()
    out[number > 0] = ids[number[number > 0] - 1]
    return out


def district_names(study: Study) -> dict[str, dict[str, str]]:
    """District id → name in each language (Russian where a language is missing); 'outside' included."""
    from . import settings
    from .i18n import text
    from .textsafe import clean_text

    names = {OUTSIDE_DISTRICTS: {lang: text("outside_districts", lang) for lang in settings.LANGUAGES}}
    districts = study.layer("districts")
    if districts is None:
        return names
    for row in districts.itertuples():
        fallback = clean_text(getattr(row, "name_ru", None)) or str(row.district_id)
        names[row.district_id] = {lang: (clean_text(getattr(row, f"name_{lang}", None)) or fallback) for lang in settings.LANGUAGES}
    return names


def selection_pool_size(top_n: int) -> int:
    """How many of the best-scoring candidates :func:`select_sites` examines for ``top_n`` picks."""
    return max(top_n * POOL_FACTOR, MIN_POOL)


def district_codes(districts: np.ndarray) -> np.ndarray:
    """Integer code per candidate district (``-1`` for 'outside', which has no per-district cap)."""
    names, codes = np.unique(districts.astype(str), return_inverse=True)
    codes = codes.astype(np.int64)
    outside = np.flatnonzero(names == OUTSIDE_DISTRICTS)
    if len(outside):
        codes[codes == outside[0]] = -1
    return codes


def pick_spaced(order: np.ndarray, x: np.ndarray, y: np.ndarray, codes: np.ndarray, top_n: int, spacing: float = 0.0,
                per_district: int | None = None, already: dict[int, int] | None = None) -> np.ndarray:
    """Walk ``order`` (candidate indices, best first) and pick up to ``top_n`` of them.

    A candidate closer than ``spacing`` (m) to one already picked, or in a district
    (``codes``, see :func:`district_codes`) that already has ``per_district`` picks,
    is passed over. ``already`` counts picks per district made before (earlier selection
    stages). Vectorised: one pass over the remaining candidates per pick.
    """
    order = np.asarray(order, dtype=np.int64)
    px, py, pd_ = x[order], y[order], codes[order]
    active = np.ones(len(order), dtype=bool)
    chosen: list[int] = []
    per: dict[int, int] = dict(already or {})
    start = 0
    while len(chosen) < top_n and start < len(order):
        step = int(np.argmax(active[start:]))
        i = start + step
        if not active[i]:
            break
        chosen.append(int(order[i]))
        start = i + 1
        rest = slice(start, None)
        if spacing:
            active[rest] &= np.hypot(px[rest] - px[i], py[rest] - py[i]) >= spacing
        code = int(pd_[i])
        if per_district and code >= 0:
            per[code] = per.get(code, 0) + 1
            if per[code] >= per_district:
                active[rest] &= pd_[rest] != code
    return np.array(chosen, dtype=np.int64)


def select_sites(result: ScoreResult, study: Study, *, top_n: int | None = None, min_spacing_m: float | None = None,
                 max_per_district: int | None = None) -> pd.DataFrame:
    """Rank and pick ``top_n`` sites; returns candidate index, rank, score and district.

    Raises :class:`~geo_almaty.errors.SelectionError` when ``top_n`` < 1 or no
    candidate is left after the exclusions. When the spacing and district rules
    leave fewer than ``top_n`` sites, returns those and explains the shortfall in
    ``.attrs["shortfall"]`` (also logged as a warning).

    With ``selection.stages`` in the profile (e.g. a pilot co-located with a waste plant,
    then one site per district) the stages pick in turn, spacing and the per-district cap
    holding across them; the frame then also has ``stage`` and ``stage_condition_met``.
    """
    selection = result.profile.selection
    stages = selection.get("stages") or []
    top_n = int(top_n if top_n is not None else selection.get("top_n", sum(s["top_n"] for s in stages) if stages else 10))
    if top_n < 1:
        raise SelectionError(f"{top_n} sites requested", file=result.profile.path, column="top_n", expected="1 or more sites")
    spacing = float(min_spacing_m if min_spacing_m is not None else selection.get("min_spacing_m", 0.0))
    per_district = max_per_district if max_per_district is not None else selection.get("max_per_district")
    scores = result.score
    valid = np.flatnonzero(np.isfinite(scores))
    if not len(valid):
        raise SelectionError(f"all {len(scores):,} candidates are excluded ({_exclusion_counts(result)})", file=result.profile.path,
                             column="exclusions", expected="exclusions that leave some candidates (check the layers and buffers)")
    districts = candidate_districts(study, result)
    codes = district_codes(districts)
    order = valid[np.lexsort((valid, -scores[valid]))]
    if stages:
        chosen, stage_ids, met = _pick_in_stages(result, order, codes, stages, top_n, spacing, per_district)
    else:
        chosen = pick_widening(order, result.candidates.x, result.candidates.y, codes, top_n, spacing, per_district)
    frame = pd.DataFrame({
        "rank": np.arange(1, len(chosen) + 1),
        "candidate": chosen,
        "score": scores[chosen] if len(chosen) else np.array([]),
        "district_id": districts[chosen] if len(chosen) else np.array([], dtype=object),
    })
    if stages:
        frame["stage"] = stage_ids
        frame["stage_condition_met"] = met
    if len(chosen) < top_n:
        frame.attrs["shortfall"] = _shortfall(len(chosen), top_n, len(order), spacing, per_district, districts[order])
        log.warning("%s: %s", result.profile.id, frame.attrs["shortfall"])
    return frame


def pick_widening(order: np.ndarray, x: np.ndarray, y: np.ndarray, codes: np.ndarray, top_n: int, spacing: float = 0.0,
                  per_district: int | None = None, already: dict[int, int] | None = None) -> np.ndarray:
    """:func:`pick_spaced` over the best :func:`selection_pool_size` candidates, widened ×4 until ``top_n`` sites or the end.

    A greedy walk in score order picks the same sites from a longer prefix of
    ``order``, so widening only adds sites; on coarse grids the first pool suffices.
    """
    size = selection_pool_size(top_n)
    while True:
        chosen = pick_spaced(order[:size], x, y, codes, top_n, spacing, per_district, already)
        if len(chosen) >= top_n or size >= len(order):
            return chosen
        size *= 4


def stage_qualifies(result: ScoreResult, stage: dict, candidates: np.ndarray) -> np.ndarray:
    """Which ``candidates`` meet any of the stage's ``require_any`` conditions (all, without conditions)."""
    conditions = stage.get("require_any") or []
    if not conditions:
        return np.ones(len(candidates), dtype=bool)
    ok = np.zeros(len(candidates), dtype=bool)
    for condition in conditions:
        if condition.get("candidate_kind"):
            ok |= result.candidates.kind == condition["candidate_kind"]
            continue
        raw = result.raw[candidates, result.criterion_index(condition["criterion"])]
        hold = np.isfinite(raw)
        if "max_raw" in condition:
            hold &= raw <= condition["max_raw"]
        if "min_raw" in condition:
            hold &= raw >= condition["min_raw"]
        ok |= hold
    return ok


def _pick_in_stages(result: ScoreResult, order: np.ndarray, codes: np.ndarray, stages: list[dict], top_n: int, spacing: float,
                    per_district: int | None) -> tuple[np.ndarray, list[str], list[bool]]:
    x, y = result.candidates.x, result.candidates.y
    chosen: list[int] = []
    stage_ids: list[str] = []
    met: list[bool] = []
    for k, stage in enumerate(stages):
        want = stage["top_n"] if k < len(stages) - 1 else top_n - len(chosen)
        want = min(want, top_n - len(chosen))
        if want <= 0:
            break
        free = _still_free(order, chosen, x, y, codes, spacing, per_district)
        qualified = free[stage_qualifies(result, stage, free)]
        condition_met = len(qualified) > 0
        pool = qualified if condition_met else free  # no candidate meets the condition: take the best and say so
        already = dict(zip(*np.unique(codes[np.array(chosen, dtype=np.int64)], return_counts=True))) if chosen else {}
        picks = pick_widening(pool, x, y, codes, want, spacing, per_district, {int(c): int(n) for c, n in already.items()})
        chosen += [int(p) for p in picks]
        stage_ids += [stage["id"]] * len(picks)
        met += [condition_met] * len(picks)
    return np.array(chosen, dtype=np.int64), stage_ids, met


def _still_free(order: np.ndarray, chosen: list[int], x: np.ndarray, y: np.ndarray, codes: np.ndarray, spacing: float,
                per_district: int | None) -> np.ndarray:
    """Candidates of ``order`` not within ``spacing`` of a chosen site and not in a district at its cap."""
    keep = np.ones(len(order), dtype=bool)
    for c in chosen:
        if spacing:
            keep &= np.hypot(x[order] - x[c], y[order] - y[c]) >= spacing
        keep &= order != c
    if per_district and chosen:
        taken = codes[np.array(chosen)]
        full = [code for code in np.unique(taken[taken >= 0]) if (taken == code).sum() >= per_district]
        keep &= ~np.isin(codes[order], full)
    return order[keep]


def _shortfall(found: int, wanted: int, eligible: int, spacing: float, per_district: int | None, districts: np.ndarray) -> str:
    rules = []
    if spacing:
        rules.append(f"at least {spacing / 1000:g} km apart (min_spacing_m)")
    if per_district:
        inside = sorted({d for d in districts if d != OUTSIDE_DISTRICTS})
        rules.append(f"at most {per_district} per district (max_per_district; candidates lie in {len(inside)} districts)")
    why = " and ".join(rules) if rules else "no other rule"
    return (f"found {found} of {wanted} sites: all {eligible:,} eligible candidates were examined, and no more can be placed {why}; "
            "lower --top, or relax the profile's selection rules")


def _exclusion_counts(result: ScoreResult) -> str:
    reasons, counts = np.unique(result.exclusion.astype(str), return_counts=True)
    parts = [f"{n:,} by {r}" for r, n in sorted(zip(reasons, counts), key=lambda t: -t[1]) if r]
    return ", ".join(parts) or "no candidate has a score"
