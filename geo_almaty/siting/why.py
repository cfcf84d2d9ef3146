""""Why not here?": every rule that excludes (or flags) a location, with distance, source feature and citation.

:func:`why_not_here` answers for any point (EPSG:32643 metres; :func:`why_not_here_lonlat`
for lon/lat): it finds the candidate holding the point, lists every rule of the
score's :class:`~geo_almaty.siting.zones.RuleTable` that catches it, and measures,
from the candidate's edge, the distance to the nearest feature the rule protects.
:func:`exclusion_legend` and :func:`exclusion_surface` give the same answers for
the whole grid at once (a bitmask per cell and its legend) for the planner map.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import Transformer

from .. import settings
from ..errors import ProfileError
from ..explain import feature_name, format_distance
from ..prepare import Study
from ..score import ScoreResult
from .zones import EXCLUDE, SiteRule, required_strip_width, sample_cells

_TO_XY = Transformer.from_crs(settings.GEOGRAPHIC_CRS, settings.ANALYSIS_CRS, always_xy=True)


@dataclass
class Reason:
    """One rule catching a location: what, how near (m from the site edge), to what, and on what authority."""

    rule: str
    kind: str
    effect: str
    label: dict[str, str]
    limit_m: float | None
    distance_m: float | None
    feature: str | None
    layer: str | None
    source: str
    verify: bool
    note: str = ""

    def text(self, lang: str = "en") -> str:
        """'excluded: sanitary zone …: 420 m (limit 1 km) to Kaskelen; source …' in ``lang`` (sources in English)."""
        head = {EXCLUDE: {"ru": "исключено", "kk": "алынып тасталды", "en": "excluded"},
                "flag": {"ru": "проверить", "kk": "тексеру", "en": "check"}}[self.effect][lang]
        parts = [f"{head}: {self.label[lang]}"]
        if self.distance_m is not None:
            near = format_distance(self.distance_m, lang)
            limit = f" < {format_distance(self.limit_m, lang)}" if self.limit_m else ""
            parts.append(f"{near}{limit}" + (f" ({self.feature})" if self.feature else ""))
        elif self.feature:
            parts.append(self.feature)
        if self.source:
            parts.append(self.source)
        return "; ".join(parts)

    def as_dict(self, lang: str = "en") -> dict:
        return {"rule": self.rule, "kind": self.kind, "effect": self.effect, "label": self.label[lang], "limit_m": self.limit_m,
                "distance_m": self.distance_m, "feature": self.feature, "layer": self.layer, "source": self.source,
                "verify": self.verify, "note": self.note, "text": self.text(lang)}


def candidate_at(result: ScoreResult, study: Study, x: float, y: float) -> int | None:
    """Index of the candidate holding the point ``x, y`` (m, EPSG:32643), or None."""
    candidates = result.candidates
    if candidates.kind == "square":
        row, col = study.grid.index_of(np.array([x]), np.array([y]))
        if not (0 <= row[0] < study.grid.height and 0 <= col[0] < study.grid.width):
            return None
        hit = np.flatnonzero(candidates.cell == row[0] * study.grid.width + col[0])
        return int(hit[0]) if len(hit) else None
    outlines = candidates.geometries(study)
    hit = shapely.STRtree(outlines).query(shapely.Point(x, y), predicate="intersects")
    return int(np.min(hit)) if len(hit) else None


def why_not_here(result: ScoreResult, study: Study, x: float, y: float, *, lang: str = "en") -> list[Reason]:
    """Every rule that excludes or flags the candidate at ``x, y`` (m, EPSG:32643); exclusions first.

    Empty when the location is a candidate no rule catches. A point outside every
    candidate gets one reason of kind ``outside``.
    """
    site = candidate_at(result, study, x, y)
    if site is None:
        label = {"ru": "вне области анализа (нет кандидата)", "kk": "талдау аумағынан тыс (үміткер жоқ)",
                 "en": "outside the study area (no candidate here)"}
        return [Reason("outside_study_area", "outside", EXCLUDE, label, None, None, None, "study_area", "", False)]
    return site_reasons_for(result, study, site, lang=lang)


def why_not_here_lonlat(result: ScoreResult, study: Study, lon: float, lat: float, *, lang: str = "en") -> list[Reason]:
    """:func:`why_not_here` for a lon/lat point (EPSG:4326)."""
    x, y = _TO_XY.transform(lon, lat)
    return why_not_here(result, study, float(x), float(y), lang=lang)


def site_reasons_for(result: ScoreResult, study: Study, site: int, *, lang: str = "en") -> list[Reason]:
    """Every rule catching candidate ``site`` (exclusions, then flags), measured from its edge."""
    table = result.rules
    outline = result.candidates.geometries(study, np.array([site]))[0]
    reasons = []
    for j in np.flatnonzero(table.masks[site]):
        reasons.append(_reason(table.rules[j], outline, study, result, site, lang))
    return sorted(reasons, key=lambda r: r.effect != EXCLUDE)


def _reason(rule: SiteRule, outline, study: Study, result: ScoreResult, site: int, lang: str) -> Reason:
    citation = rule.citation
    source = rule.source_text(lang)
    verify = bool(citation and citation.verify)
    limit = rule.distance_m or None
    frame = rule.features
    if rule.kind == "profile":
        frame = study.layer(rule.layer)
        if frame is not None and rule.profile_rule and "classes" in rule.profile_rule:
            spec = study.catalog.layer(rule.layer)
            frame = frame[frame[spec.class_column].isin(rule.profile_rule["classes"])]
    if rule.slope_widths is not None:
        limit = required_strip_width(rule, float(sample_cells(study.slope, result.candidates)[site]))
    distance = name = None
    if rule.kind == "jurisdiction":
        name = _unit_name(study, result.candidates.x[site], result.candidates.y[site], lang)
        limit = None
    elif frame is not None and len(frame):
        geoms = frame.geometry.values
        gaps = shapely.distance(outline, geoms)
        if rule.footprint_m is not None:
            gaps = np.maximum(gaps - rule.footprint_m, 0.0)  # to the settlement's footprint, not its point
        nearest = int(np.argmin(gaps))
        distance, name = float(gaps[nearest]), feature_name(frame, nearest, lang)
        if rule.radius_m is not None and rule.footprint_m is None and rule.slope_widths is None:
            limit = float(rule.radius_m[nearest])
    return Reason(rule.id, rule.kind, rule.effect, rule.label, limit, distance, name, rule.layer, source, verify, rule.note)


def _unit_name(study: Study, x: float, y: float, lang: str) -> str | None:
    units = study.layer("oblast_districts")
    if units is None:
        return None
    hit = np.flatnonzero(shapely.contains_xy(units.geometry.values, x, y))
    return feature_name(units, int(hit[0]), lang) if len(hit) else None


def exclusion_legend(result: ScoreResult, lang: str = "en") -> list[dict]:
    """One entry per rule bit of :meth:`RuleTable.bitmask`: bit, id, kind, effect, label, limit (m), source, verify."""
    return [{"bit": j, "rule": r.id, "kind": r.kind, "effect": r.effect, "label": r.label[lang], "limit_m": r.distance_m,
             "source": r.source_text(lang), "verify": bool(r.citation and r.citation.verify), "layer": r.layer}
            for j, r in enumerate(result.rules.rules)]


def exclusion_surface(result: ScoreResult, study: Study) -> np.ndarray:
    """The rule bitmask of every candidate drawn on the analysis grid (uint32; 0 = no rule or no candidate).

    Hexagon and feature candidates are rasterised by their outline. Bits follow
    :func:`exclusion_legend`; at most 32 rules fit a band.
    """
    if len(result.rules.rules) > 32:
        raise ProfileError(f"{len(result.rules.rules)} rules", column="exclusions", expected="at most 32 rules for the exclusion surface")
    return burn_candidates(result, study, result.rules.bitmask().astype(np.uint32))


def burn_candidates(result: ScoreResult, study: Study, codes: np.ndarray) -> np.ndarray:
    """One uint32 code per candidate drawn on the analysis grid (0 where no candidate, or where the code is 0)."""
    from rasterio import features as rio_features

    codes = np.asarray(codes, dtype=np.uint32)
    candidates = result.candidates
    if candidates.kind == "square":
        surface = np.zeros(study.grid.shape, dtype=np.uint32)
        surface.ravel()[candidates.cell] = codes
        return surface
    shapes = [(g, int(c)) for g, c in zip(candidates.geometries(study), codes) if c]
    if not shapes:
        return np.zeros(study.grid.shape, dtype=np.uint32)
    return rio_features.rasterize(shapes, out_shape=study.grid.shape, transform=study.grid.transform, fill=0, dtype="uint32")
