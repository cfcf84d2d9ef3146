"""Whose land a site is on: the city of Almaty (its akimat) or an oblast district (``oblast_districts`` layer).

A candidate belongs to the unit holding its centre; a centre in a sliver between units
(the layers are simplified separately) goes to the nearest unit within the units'
``accuracy_m``. Without an ``oblast_districts`` layer the city boundary still tells
city from not-city; the district is then unknown.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from .. import settings
from ..candidates import Candidates
from ..prepare import Study
from ..rasterize import burn_index
from .zones import CITY_KIND, centres_within, city_area

OBLAST_KIND = "oblast_district"
UNKNOWN = "unknown"
KIND_LABELS = {
    CITY_KIND: {"ru": "город Алматы (акимат города)", "kk": "Алматы қаласы (қала әкімдігі)", "en": "Almaty city (city akimat)"},
    OBLAST_KIND: {"ru": "земли области", "kk": "облыс жерлері", "en": "oblast land"},
    UNKNOWN: {"ru": "вне известных границ", "kk": "белгілі шекаралардан тыс", "en": "outside known boundaries"},
}


@dataclass
class Jurisdiction:
    """Per candidate: ``kind`` (city | oblast_district | unknown), ``unit`` id and ``name`` per language."""

    kind: np.ndarray
    unit: np.ndarray
    names: dict[str, dict[str, str]]

    def name(self, i: int, lang: str) -> str:
        unit = self.unit[i]
        return self.names.get(unit, {}).get(lang) or KIND_LABELS[self.kind[i]][lang]

    def frame(self, rows: np.ndarray, lang: str) -> pd.DataFrame:
        """Columns ``jurisdiction``, ``jurisdiction_unit``, ``jurisdiction_name`` for candidate ``rows``."""
        rows = np.asarray(rows, dtype=np.int64)
        return pd.DataFrame({"jurisdiction": self.kind[rows], "jurisdiction_unit": self.unit[rows],
                             "jurisdiction_name": [self.name(int(i), lang) for i in rows]})


def candidate_jurisdiction(study: Study, candidates: Candidates) -> Jurisdiction:
    """City or oblast district of every candidate (by its centre)."""
    n = len(candidates)
    kind = np.full(n, UNKNOWN, dtype=object)
    unit = np.full(n, "", dtype=object)
    units = study.layer("oblast_districts")
    names: dict[str, dict[str, str]] = {}
    if units is not None and {"unit_id", "kind"} <= set(units.columns):
        for row in units.itertuples():
            fallback = getattr(row, "name_ru", None) or row.unit_id
            names[row.unit_id] = {lang: (getattr(row, f"name_{lang}", None) or fallback) for lang in settings.LANGUAGES}
        reach = float(units["accuracy_m"].max()) if "accuracy_m" in units.columns and units["accuracy_m"].notna().any() else 0.0
        number = _unit_number(study, candidates, units.geometry.values, reach)
        has = number > 0
        kind[has] = units["kind"].to_numpy()[number[has] - 1]
        unit[has] = units["unit_id"].to_numpy()[number[has] - 1]
        return Jurisdiction(kind, unit, names)
    city = city_area(study)
    if city is not None:
        inside = centres_within(study, candidates, np.array([city], dtype=object))
        kind[inside] = CITY_KIND
        kind[~inside] = OBLAST_KIND  # not the city; which oblast district is unknown without the layer
    return Jurisdiction(kind, unit, names)


def _unit_number(study: Study, candidates: Candidates, geometries: np.ndarray, reach_m: float = 0.0) -> np.ndarray:
    """1-based number of the unit holding each candidate centre, else the nearest within ``reach_m`` (0: none)."""
    tree = shapely.STRtree(geometries)
    if candidates.kind == "square":
        number = burn_index(geometries, study.grid).ravel()[candidates.cell].astype(np.int64)
    else:
        point_idx, unit_idx = tree.query(shapely.points(candidates.x, candidates.y), predicate="within")
        number = np.zeros(len(candidates), dtype=np.int64)
        number[point_idx] = unit_idx + 1
    lost = np.flatnonzero(number == 0)
    if len(lost) and reach_m > 0:
        point_idx, unit_idx = tree.query_nearest(shapely.points(candidates.x[lost], candidates.y[lost]), max_distance=reach_m, all_matches=False)
        number[lost[point_idx]] = unit_idx + 1
    return number


def jurisdiction_counts(jurisdiction: Jurisdiction, rows: np.ndarray, lang: str) -> dict:
    """How many of ``rows`` lie in the city, on oblast land (per district) or outside known boundaries."""
    rows = np.asarray(rows, dtype=np.int64)
    kinds = jurisdiction.kind[rows]
    per_unit: dict[str, int] = {}
    for i in rows[kinds == OBLAST_KIND]:
        name = jurisdiction.name(int(i), lang)
        per_unit[name] = per_unit.get(name, 0) + 1
    return {"total": len(rows), "city": int((kinds == CITY_KIND).sum()), "oblast": int((kinds == OBLAST_KIND).sum()),
            "unknown": int((kinds == UNKNOWN).sum()), "oblast_units": dict(sorted(per_unit.items(), key=lambda kv: (-kv[1], kv[0])))}
