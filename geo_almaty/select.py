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


def select_sites(result: ScoreResult, study: Study, *, top_n: int | None = None, min_spacing_m: float | None = None,
                 max_per_district: int | None = None) -> pd.DataFrame:
    """Rank and pick ``top_n`` sites; returns candidate index, rank, score and district.

    Raises :class:`~geo_almaty.errors.SelectionError` when ``top_n`` < 1 or no
    candidate is left after the exclusions. When the spacing and district rules
    leave fewer than ``top_n`` sites, returns those and explains the shortfall in
    ``.attrs["shortfall"]`` (also logged as a warning).
    """
    selection = result.profile.selection
    top_n = int(top_n if top_n is not None else selection.get("top_n", 10))
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
    order = valid[np.lexsort((valid, -scores[valid]))]
    chosen = _pick(order, result.candidates.x, result.candidates.y, districts, top_n, spacing, per_district)
    frame = pd.DataFrame({
        "rank": np.arange(1, len(chosen) + 1),
        "candidate": np.array(chosen, dtype=np.int64),
        "score": scores[chosen] if chosen else np.array([]),
        "district_id": districts[chosen] if chosen else np.array([], dtype=object),
    })
    if len(chosen) < top_n:
        frame.attrs["shortfall"] = _shortfall(len(chosen), top_n, len(order), spacing, per_district, districts[order])
        log.warning("%s: %s", result.profile.id, frame.attrs["shortfall"])
    return frame


def _pick(order: np.ndarray, x: np.ndarray, y: np.ndarray, districts: np.ndarray, top_n: int, spacing: float,
          per_district: int | None) -> list[int]:
    """Greedy choice in score ``order`` over a pool that widens ×4 until ``top_n`` sites or the end.

    Within a pool, each pick removes at once (vectorised) the candidates it rules
    out, so the work is a few array passes per site, not a Python loop per candidate.
    """
    chosen: list[int] = []
    per: dict[object, int] = {}
    start, size = 0, max(top_n * POOL_FACTOR, MIN_POOL)
    while len(chosen) < top_n and start < len(order):
        pool = order[start:start + size]
        start, size = start + len(pool), size * 4
        alive = np.ones(len(pool), dtype=bool)
        for site in chosen:  # sites chosen from earlier pools rule out their neighbours here too
            alive &= _allowed(pool, site, x, y, spacing)
        if per_district:
            for district, count in per.items():
                if district != OUTSIDE_DISTRICTS and count >= per_district:
                    alive &= districts[pool] != district
        while len(chosen) < top_n and alive.any():
            i = int(pool[int(np.argmax(alive))])
            chosen.append(i)
            district = districts[i]
            per[district] = per.get(district, 0) + 1
            alive &= _allowed(pool, i, x, y, spacing)
            alive &= pool != i
            if per_district and district != OUTSIDE_DISTRICTS and per[district] >= per_district:
                alive &= districts[pool] != district
    return chosen


def _allowed(pool: np.ndarray, site: int, x: np.ndarray, y: np.ndarray, spacing: float) -> np.ndarray:
    """Candidates of ``pool`` at least ``spacing`` m from ``site``."""
    if not spacing:
        return np.ones(len(pool), dtype=bool)
    return np.hypot(x[pool] - x[site], y[pool] - y[site]) >= spacing


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
