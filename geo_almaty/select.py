"""The *select* stage: the best sites, spaced apart and spread over districts.

Candidates are taken in order of score (ties by candidate order, so the result
is deterministic); a site closer than ``min_spacing_m`` to one already chosen,
or in a district that already has ``max_per_district`` sites, is passed over.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .allocate import OUTSIDE_DISTRICTS
from .prepare import Study
from .rasterize import burn_values
from .score import ScoreResult

#: How many top-scoring candidates per requested site are examined.
POOL_FACTOR = 200


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

    names = {OUTSIDE_DISTRICTS: {lang: text("outside_districts", lang) for lang in settings.LANGUAGES}}
    districts = study.layer("districts")
    if districts is None:
        return names
    for row in districts.itertuples():
        fallback = getattr(row, "name_ru", None) or row.district_id
        names[row.district_id] = {lang: (getattr(row, f"name_{lang}", None) or fallback) for lang in settings.LANGUAGES}
    return names


def select_sites(result: ScoreResult, study: Study, *, top_n: int | None = None, min_spacing_m: float | None = None,
                 max_per_district: int | None = None) -> pd.DataFrame:
    """Rank and pick up to ``top_n`` sites; returns candidate index, rank, score and district."""
    selection = result.profile.selection
    top_n = int(top_n if top_n is not None else selection.get("top_n", 10))
    spacing = float(min_spacing_m if min_spacing_m is not None else selection.get("min_spacing_m", 0.0))
    per_district = max_per_district if max_per_district is not None else selection.get("max_per_district")
    districts = candidate_districts(study, result)
    scores = result.score
    valid = np.flatnonzero(np.isfinite(scores))
    order = valid[np.lexsort((valid, -scores[valid]))][: max(top_n * POOL_FACTOR, 1000)]
    x, y = result.candidates.x, result.candidates.y
    chosen: list[int] = []
    per: dict[str, int] = {}
    for i in order:  # at most the pool of top candidates, stopping at top_n picks
        if len(chosen) >= top_n:
            break
        if spacing and chosen and (np.hypot(x[chosen] - x[i], y[chosen] - y[i]) < spacing).any():
            continue
        district = districts[i]
        if per_district and district != OUTSIDE_DISTRICTS and per.get(district, 0) >= per_district:
            continue
        chosen.append(int(i))
        per[district] = per.get(district, 0) + 1
    return pd.DataFrame({
        "rank": np.arange(1, len(chosen) + 1),
        "candidate": np.array(chosen, dtype=np.int64),
        "score": scores[chosen] if chosen else np.array([]),
        "district_id": districts[chosen] if chosen else np.array([], dtype=object),
    })
