"""Where sites may go: the best-scoring feasible candidates, spread out, plus existing facilities (fixed open).

Candidates: not excluded and ``score >= min_score``; the grid is cut into squares of
``candidate_spacing_m`` and each square offers only its best candidate (ties: lower
index), so the pool covers the whole suitable area instead of piling up in the best
spot; the ``candidate_pool`` best of those are kept. Existing facilities come from the
profile's ``fixed`` list (a catalog layer, optional classes and ids, their size band).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from ..allocate import OUTSIDE_DISTRICTS, district_of
from ..errors import LocateError, ProfileError
from ..prepare import Study
from ..score import ScoreResult
from .spec import LocateSpec

log = logging.getLogger(__name__)


@dataclass
class Locations:
    """Candidate locations and existing facilities, in one table (EPSG:32643)."""

    frame: pd.DataFrame  #: x, y, score, kind ('candidate' | 'existing'), site_id, name_ru/kk/en, layer, fixed_band, candidate, district_id, inside_city

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def xy(self) -> np.ndarray:
        return self.frame[["x", "y"]].to_numpy(dtype=np.float64)


def candidate_pool(result: ScoreResult, spec: LocateSpec) -> np.ndarray:
    """Indices of the pooled candidates (best first)."""
    score = result.score
    valid = np.flatnonzero(np.isfinite(score) & (score >= spec.min_score))
    if not len(valid):
        best = np.nanmax(score) if np.isfinite(score).any() else float("nan")
        raise LocateError(f"no candidate scores {spec.min_score:g} or more (best {best:.3f})", column="locate/min_score",
                          expected="a lower min_score")
    x, y = result.candidates.x[valid], result.candidates.y[valid]
    if spec.candidate_spacing_m > 0:
        bx = np.floor(x / spec.candidate_spacing_m).astype(np.int64)
        by = np.floor(y / spec.candidate_spacing_m).astype(np.int64)
        order = np.lexsort((valid, -score[valid], by, bx))
        key = np.c_[bx[order], by[order]]
        first = np.r_[True, (key[1:] != key[:-1]).any(axis=1)]
        valid = valid[order[first]]
    best_first = valid[np.lexsort((valid, -score[valid]))]
    return best_first[: spec.candidate_pool]


def existing_facilities(study: Study, spec: LocateSpec) -> pd.DataFrame:
    """Existing facilities of the profile's ``fixed`` list that the catalog has (a layer without data is skipped)."""
    rows = []
    for item in spec.fixed:
        frame = study.layer(item["layer"])
        if frame is None:
            log.info("existing facilities: layer %s has no data, skipped", item["layer"])
            continue
        layer_spec = study.catalog.layer(item["layer"])
        if "classes" in item:
            unknown = sorted(set(item["classes"]) - set(layer_spec.classes))
            if unknown:
                raise ProfileError(f"unknown class(es) {', '.join(unknown)} of layer '{item['layer']}'", column="locate/fixed",
                                   expected="classes: " + ", ".join(layer_spec.classes))
            frame = frame[frame[layer_spec.class_column].isin(item["classes"])]
        id_column = layer_spec.id_column
        if "ids" in item:
            if not id_column:
                raise ProfileError(f"layer '{item['layer']}' has no id column", column="locate/fixed/ids", expected="a layer with ids")
            frame = frame[frame[id_column].astype(str).isin(item["ids"])]
        if not len(frame):
            continue
        points = shapely.point_on_surface(frame.geometry.values)
        for idx, (_, row) in enumerate(frame.iterrows()):
            rows.append({
                "x": float(shapely.get_x(points[idx])), "y": float(shapely.get_y(points[idx])),
                "site_id": f"{item['layer']}:{row[id_column] if id_column else idx}", "layer": item["layer"],
                "name_ru": _text(row.get("name_ru")), "name_kk": _text(row.get("name_kk")), "name_en": _text(row.get("name_en")),
                "fixed_band": spec.bands[[b.id for b in spec.bands].index(item["band"])].id, "why": item["why"],
            })
    frame = pd.DataFrame(rows, columns=["x", "y", "site_id", "layer", "name_ru", "name_kk", "name_en", "fixed_band", "why"])
    return frame.astype({"x": np.float64, "y": np.float64})


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def locations(study: Study, result: ScoreResult, spec: LocateSpec) -> Locations:
    """Existing facilities first, then the candidate pool, with district and inside-the-city flags."""
    existing = existing_facilities(study, spec)
    pool = candidate_pool(result, spec)
    labels = result.candidates.labels()
    candidates = pd.DataFrame({
        "x": result.candidates.x[pool], "y": result.candidates.y[pool], "site_id": labels[pool], "layer": "", "name_ru": "",
        "name_kk": "", "name_en": "", "fixed_band": "", "why": "",
    })
    frame = pd.concat([existing.assign(kind="existing", score=np.nan, candidate=-1),
                       candidates.assign(kind="candidate", score=result.score[pool], candidate=pool)], ignore_index=True)
    frame = frame.astype({"x": np.float64, "y": np.float64, "score": np.float64, "candidate": np.int64})
    points = shapely.points(frame["x"].to_numpy(), frame["y"].to_numpy())
    districts = study.layer("districts")
    frame["district_id"] = district_of(points, districts) if districts is not None else OUTSIDE_DISTRICTS
    city = study.layer("city_boundary")
    if city is not None and len(city):
        boundary = shapely.union_all(city.geometry.values)
        shapely.prepare(boundary)
        frame["inside_city"] = shapely.contains_xy(boundary, frame["x"].to_numpy(), frame["y"].to_numpy())
    else:
        frame["inside_city"] = frame["district_id"] != OUTSIDE_DISTRICTS
    log.info("%s: %d candidate locations (of %d scored, min score %.2f) and %d existing facilities", spec.facility, len(pool),
             int(np.isfinite(result.score).sum()), spec.min_score, len(existing))
    return Locations(frame)
