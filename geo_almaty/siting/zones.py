"""Which candidates each siting rule excludes or flags, for every rule at once (not only the first).

A :class:`SitingPlan` turns a profile (its exclusions and its ``siting:`` section)
and the rules layer into a list of :class:`SiteRule`: the profile's own exclusions
(heritage, parks, …; measured from the candidate centre, as before), the sanitary
zone around every receptor layer the catalog has, the bird-strike radius around
airports, water-protection strips (slope-dependent) and zones, the accuracy flag of
approximate river lines and the jurisdiction requirement. Zones are measured from
the site's *edge*: a candidate cell is caught when any part of it lies within the
distance (grid cells via an all-touched raster burn of the buffered features, other
candidates by polygon intersection).

:func:`evaluate_rules` gives a :class:`RuleTable`: one boolean column per rule, so
outputs can say every rule that removes a site, and the planner map can decode it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import shapely

from .. import settings
from ..candidates import Candidates, exclusion_geometry
from ..errors import ProfileError
from ..prepare import Study
from ..rasterize import burn_values, touched_mask
from .rules import Citation, SitingRules, load_siting_rules
from .sanitary import SanitaryZone, sanitary_zone_width

log = logging.getLogger(__name__)

EXCLUDE, FLAG = "exclude", "flag"
#: How far (m) beyond an exclusion distance a buffer may reach. Buffers are polygons drawn *around* the true
#: circle (the radius divided by cos(π / (4 · segments per quarter circle))), so no cell within the distance is
#: ever missed; the segments are chosen per radius so the polygon reaches at most this far beyond it.
BUFFER_TOLERANCE_M = 1.0
#: The same for "check on the ground" flags (as a share of the distance: they are approximate by nature).
FLAG_TOLERANCE_SHARE = 0.01
#: Rule kinds, in the order they appear in outputs.
KINDS = ("profile", "jurisdiction", "sanitary", "bird_hazard", "water_strip", "water_zone", "water_accuracy")
CITY_KIND = "city"


@dataclass
class SiteRule:
    """One rule: what it measures from, how far (m, from the site edge), and what it rests on."""

    id: str
    kind: str
    effect: str
    label: dict[str, str]
    layer: str | None
    distance_m: float
    citation: Citation | None = None
    report_lines: str | None = None
    note: str = ""
    features: gpd.GeoDataFrame | None = field(default=None, repr=False)
    radius_m: np.ndarray | None = field(default=None, repr=False)  # per feature (distance + footprint), or None
    footprint_m: np.ndarray | None = field(default=None, repr=False)  # per feature, for "distance to the footprint"
    slope_widths: tuple[tuple[float, float], ...] | None = None  # (max slope °, width m), last bound inf
    profile_rule: dict | None = field(default=None, repr=False)

    def source_text(self, lang: str = "en") -> str:
        """What the rule rests on: the regulation item, or the report lines for the profile's own exclusions."""
        if self.citation is not None:
            return self.citation.text(lang)
        return f"report {self.report_lines}" if self.report_lines else ""


_PROBLEMS = {
    "no_layer": {"ru": "в каталоге нет такого слоя", "kk": "каталогта мұндай қабат жоқ", "en": "no such layer in the catalog"},
    "no_data": {"ru": "в каталоге нет данных для слоя", "kk": "каталогта қабат үшін деректер жоқ", "en": "the catalog has no data for it"},
    "no_features": {"ru": "нет объектов классов", "kk": "сыныптардың нысандары жоқ", "en": "no features of classes"},
}


@dataclass
class MissingLayer:
    """A rule that could not be applied because the catalog has no data for its layer."""

    rule: str
    kind: str
    layer: str
    problem: str  # a key of _PROBLEMS
    label: dict[str, str]
    detail: str = ""

    def text(self, lang: str = "en") -> str:
        problem = _PROBLEMS[self.problem][lang] + (f" {self.detail}" if self.detail else "")
        return f"{self.label[lang]}: {problem} ({self.layer})"


@dataclass
class SitingPlan:
    """The rules one profile is scored under, and what could not be applied."""

    facility_type: str | None
    capacity_t_yr: float | None
    zone: SanitaryZone | None
    rules: list[SiteRule]
    missing: list[MissingLayer]
    jurisdiction: str = "any"
    bird_radius_m: float | None = None


@dataclass
class RuleTable:
    """Per candidate and rule: does the rule catch it (``masks``: ``(n, rules)`` bool)."""

    rules: list[SiteRule]
    masks: np.ndarray = field(repr=False)

    def columns(self, effect: str, kinds: set[str] | None = None) -> np.ndarray:
        return np.array([j for j, r in enumerate(self.rules) if r.effect == effect and (kinds is None or r.kind in kinds)], dtype=np.int64)

    def excluded(self, kinds: set[str] | None = None) -> np.ndarray:
        """Candidates removed by any exclusion rule (of ``kinds``, default all)."""
        cols = self.columns(EXCLUDE, kinds)
        return self.masks[:, cols].any(axis=1) if len(cols) else np.zeros(len(self.masks), dtype=bool)

    def flagged(self) -> np.ndarray:
        cols = self.columns(FLAG)
        return self.masks[:, cols].any(axis=1) if len(cols) else np.zeros(len(self.masks), dtype=bool)

    def first_exclusion(self) -> np.ndarray:
        """Id of the first rule (profile order) that removes each candidate, '' if none."""
        out = np.full(len(self.masks), "", dtype=object)
        for j in self.columns(EXCLUDE)[::-1]:
            out[self.masks[:, j]] = self.rules[j].id
        return out

    def joined(self, rows: np.ndarray, effect: str = EXCLUDE) -> np.ndarray:
        """';'-joined ids of every rule of ``effect`` catching each of ``rows`` ('' if none)."""
        cols = self.columns(effect)
        ids = np.array([self.rules[j].id for j in cols], dtype=object)
        sub = self.masks[np.asarray(rows)][:, cols] if len(cols) else np.zeros((len(rows), 0), dtype=bool)
        return np.array([";".join(ids[m]) for m in sub], dtype=object)

    def bitmask(self) -> np.ndarray:
        """uint64 per candidate: bit ``j`` set when rule ``j`` catches it (exclusions and flags alike)."""
        if len(self.rules) > 64:
            raise ProfileError(f"{len(self.rules)} rules", column="exclusions", expected="at most 64 exclusion and flag rules")
        weights = np.left_shift(np.uint64(1), np.arange(len(self.rules), dtype=np.uint64))
        return (self.masks.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64) if len(self.rules) else np.zeros(len(self.masks), np.uint64)


# --- the plan -------------------------------------------------------------------------------------

def build_siting_plan(profile, study: Study, rules: SitingRules | None = None, *, capacity_t_yr: float | None = None) -> SitingPlan:
    """The rules ``profile`` is scored under on ``study``'s layers.

    ``capacity_t_yr`` overrides the profile's ``siting.planned_capacity_t_yr`` (e.g. a
    location-allocation size band); the sanitary zone width follows from it.
    """
    siting = dict(getattr(profile, "siting", None) or {})
    plan_rules: list[SiteRule] = [_profile_rule(r) for r in profile.exclusions]
    missing: list[MissingLayer] = []
    if not siting:
        return SitingPlan(None, None, None, plan_rules, missing)
    rules = rules or load_siting_rules()
    facility = siting["facility_type"]
    spec = rules.facility_type(facility)
    capacity = float(capacity_t_yr if capacity_t_yr is not None else siting["planned_capacity_t_yr"])
    zone = sanitary_zone_width(facility, capacity, rules)
    plan = SitingPlan(facility, capacity, zone, plan_rules, missing, siting.get("jurisdiction", "any"))
    if plan.jurisdiction == "require_city":
        _add_jurisdiction(plan, study)
    if zone.width_m > 0:
        _add_sanitary(plan, study, rules, zone)
    if spec["attracts_birds"] and rules.bird_hazard:
        _add_bird_hazard(plan, study, rules)
    if rules.water_protection:
        _add_water(plan, study, rules, spec["water_zone"])
    for item in missing:
        log.info("%s: rule not applied: %s", profile.id, item.text())
    return plan


def _profile_rule(rule: dict) -> SiteRule:
    return SiteRule(rule["id"], "profile", EXCLUDE, dict(rule["label"]), rule["layer"], float(rule.get("buffer_m", 0.0)),
                    report_lines=rule.get("report_lines"), profile_rule=rule)


def _features(study: Study, layer: str, classes: list[str] | None, rule_id: str, kind: str, label: dict, missing: list[MissingLayer]):
    """The layer's features of ``classes``, or None (and a :class:`MissingLayer`) when there are none."""
    if layer not in study.catalog.layers:
        missing.append(MissingLayer(rule_id, kind, layer, "no_layer", label))
        return None
    frame = study.layer(layer)
    if frame is None:
        missing.append(MissingLayer(rule_id, kind, layer, "no_data", label))
        return None
    if classes:
        spec = study.catalog.layer(layer)
        frame = frame[frame[spec.class_column].isin(classes)]
    if not len(frame):
        missing.append(MissingLayer(rule_id, kind, layer, "no_features", label, ", ".join(classes or [])))
        return None
    return frame


def _add_jurisdiction(plan: SitingPlan, study: Study) -> None:
    label = {"ru": "за пределами города (земли области)", "kk": "қала шегінен тыс (облыс жерлері)", "en": "outside the city (oblast land)"}
    city = city_area(study)
    if city is None:
        plan.missing.append(MissingLayer("outside_city", "jurisdiction", "oblast_districts", "no_data", label, "(nor city_boundary)"))
        return
    frame = gpd.GeoDataFrame({"name_ru": ["город Алматы"], "name_kk": ["Алматы қаласы"], "name_en": ["Almaty city"]},
                             geometry=[city], crs=settings.ANALYSIS_CRS)
    plan.rules.append(SiteRule("outside_city", "jurisdiction", EXCLUDE, label, "oblast_districts", 0.0, features=frame,
                               note="the profile requires a site on the city's land (akimat of Almaty)"))


def _add_sanitary(plan: SitingPlan, study: Study, rules: SitingRules, zone: SanitaryZone) -> None:
    for receptor in rules.receptors:
        rule_id = f"sanitary_{receptor['id']}"
        label = {lang: f"{zone.describe(lang)}: {receptor['label'][lang]}" for lang in receptor["label"]}
        frame = _features(study, receptor["layer"], receptor.get("classes"), rule_id, "sanitary", receptor["label"], plan.missing)
        if frame is None:
            continue
        footprint = np.zeros(len(frame))
        column = receptor.get("buffer_column")
        if column and column in frame.columns:
            footprint = frame[column].astype(float).fillna(0.0).clip(lower=0.0).to_numpy()
        elif column:
            log.info("receptor %s: layer %s has no column %s; its features count as points", receptor["id"], receptor["layer"], column)
        plan.rules.append(SiteRule(rule_id, "sanitary", EXCLUDE, label, receptor["layer"], zone.width_m, citation=zone.citation,
                                   features=frame, radius_m=zone.width_m + footprint, footprint_m=footprint,
                                   note=f"sanitary protection zone of {zone.facility_type} at {zone.capacity_t_yr:,.0f} t/yr, "
                                        f"measured from the site edge; receptors protected per {rules.receptors_citation.text() if rules.receptors_citation else 'the rules'}"))


def _add_bird_hazard(plan: SitingPlan, study: Study, rules: SitingRules) -> None:
    spec = rules.bird_hazard
    frame = _features(study, spec["layer"], spec.get("classes"), "bird_hazard", "bird_hazard", spec["label"], plan.missing)
    if frame is None:
        return
    radius = float(spec["radius_m"])
    plan.bird_radius_m = radius
    citation = rules.citation(spec["citation"], verify=spec["verify"], found=spec.get("found", ""))
    plan.rules.append(SiteRule("bird_hazard", "bird_hazard", EXCLUDE, dict(spec["label"]), spec["layer"], radius, citation=citation,
                               features=frame, radius_m=np.full(len(frame), radius), note="verify against the aviation rules in force"))


def _add_water(plan: SitingPlan, study: Study, rules: SitingRules, zone_effect: str) -> None:
    spec = rules.water_protection
    strip, zone = spec["strip"], spec["zone"]
    tiers = tuple((float(t.get("max_slope_deg", np.inf)), float(t["width_m"])) for t in strip["by_slope"])
    strip_citation = rules.citation(strip["citation"], verify=strip["verify"], found=strip.get("found", ""))
    zone_citation = rules.citation(zone["citation"], verify=zone["verify"], found=zone.get("found", ""))
    low = float(spec["low_accuracy_m"])
    for source in spec["sources"]:
        sid = source["id"]
        frame = _features(study, source["layer"], source.get("classes"), f"water_strip_{sid}", "water_strip", source["label"], plan.missing)
        if frame is None:
            continue
        widest = max(w for _, w in tiers)
        plan.rules.append(SiteRule(
            f"water_strip_{sid}", "water_strip", EXCLUDE,
            {lang: f"{_STRIP[lang]}: {source['label'][lang]}" for lang in source["label"]}, source["layer"], widest,
            citation=strip_citation, features=frame, radius_m=np.full(len(frame), widest), slope_widths=tiers,
            note="strip width by the slope of the site's cell: " + ", ".join(
                f"{w:.0f} m up to {s:g}°" if np.isfinite(s) else f"{w:.0f} m steeper" for s, w in tiers)))
        spec_layer = study.catalog.layer(source["layer"])
        if zone_effect != "none" and source.get("zone_classes"):
            zone_frame = frame[frame[spec_layer.class_column].isin(source["zone_classes"])] if spec_layer.class_column else frame
            if len(zone_frame):
                width = float(zone["width_m"])
                plan.rules.append(SiteRule(
                    f"water_zone_{sid}", "water_zone", zone_effect,
                    {lang: f"{_ZONE[lang]}: {source['label'][lang]}" for lang in source["label"]}, source["layer"], width,
                    citation=zone_citation, features=zone_frame, radius_m=np.full(len(zone_frame), width),
                    note="excluded: waste and organics stores are barred from water-protection zones" if zone_effect == EXCLUDE
                    else "flagged: building in a water-protection zone needs the basin water inspectorate's approval"))
        if "accuracy_m" in frame.columns:
            accuracy = frame["accuracy_m"].astype(float).fillna(0.0).to_numpy()
            rough = accuracy > low
            if rough.any():
                plan.rules.append(SiteRule(
                    f"water_accuracy_{sid}", "water_accuracy", FLAG,
                    {lang: f"{_ROUGH[lang]}: {source['label'][lang]}" for lang in source["label"]}, source["layer"], float(accuracy[rough].max()),
                    citation=strip_citation, features=frame[rough], radius_m=accuracy[rough],
                    note=f"features less accurate than {low:,.0f} m (the DEM-derived rivers below 1,000 m are off by up to 4.7 km, "
                         "layers/SOURCES.md): the strip and zone are drawn around the line as it is, and a site within the line's "
                         "accuracy of it is flagged to check on the ground, not excluded"))


_STRIP = {"ru": "водоохранная полоса", "kk": "су қорғау белдеуі", "en": "water-protection strip"}
_ZONE = {"ru": "водоохранная зона", "kk": "су қорғау аймағы", "en": "water-protection zone"}
_ROUGH = {"ru": "границы воды приблизительны (проверить на месте)", "kk": "су шекаралары жуық (жерде тексеру)",
          "en": "approximate water line (check on the ground)"}


# --- masks --------------------------------------------------------------------------------------

def evaluate_rules(plan: SitingPlan, study: Study, candidates: Candidates) -> RuleTable:
    """One boolean column per rule of ``plan`` over ``candidates`` (see :class:`RuleTable`)."""
    masks = np.zeros((len(candidates), len(plan.rules)), dtype=bool, order="F")
    for j, rule in enumerate(plan.rules):
        if rule.kind == "profile":
            masks[:, j] = profile_rule_mask(study, candidates, rule.profile_rule)
        elif rule.kind == "jurisdiction":
            masks[:, j] = ~centres_within(study, candidates, rule.features.geometry.values)
        elif rule.slope_widths is not None:
            masks[:, j] = _slope_strip_mask(study, candidates, rule)
        else:
            tolerance = BUFFER_TOLERANCE_M if rule.effect == EXCLUDE else max(BUFFER_TOLERANCE_M, FLAG_TOLERANCE_SHARE * rule.distance_m)
            masks[:, j] = within_distance(study, candidates, rule.features.geometry.values, rule.radius_m, tolerance)
    return RuleTable(plan.rules, masks)


def profile_rule_mask(study: Study, candidates: Candidates, rule: dict) -> np.ndarray:
    """The profile exclusion ``rule``: grid cells and hexagons by their centre, user features when they intersect."""
    geometry = exclusion_geometry(study, rule)
    if geometry is None:
        return np.zeros(len(candidates), dtype=bool)
    if candidates.kind == "square":
        return burn_values([geometry], [1], study.grid).astype(bool).ravel()[candidates.cell]
    if candidates.kind == "hex":
        shapely.prepare(geometry)
        return shapely.contains_xy(geometry, candidates.x, candidates.y)
    return shapely.intersects(candidates.geometries(study), geometry)


def quad_segments(radius_m: float, tolerance_m: float = BUFFER_TOLERANCE_M) -> int:
    """Segments per quarter circle (a power of two, 4-128) so a circumscribed buffer overreaches by at most ``tolerance_m``."""
    if radius_m <= tolerance_m:
        return 4
    angle = np.arccos(1.0 / (1.0 + tolerance_m / radius_m))  # half the angle one segment may span
    return int(np.clip(2 ** np.ceil(np.log2(np.pi / (4 * angle))), 4, 128))


def circumscribed_buffer(geometries: np.ndarray, radius_m: np.ndarray, tolerance_m: float = BUFFER_TOLERANCE_M) -> np.ndarray:
    """Buffers that contain every point within ``radius_m`` and reach at most about ``tolerance_m`` beyond it."""
    radius = np.asarray(radius_m, dtype=float)
    segments = quad_segments(float(radius.max()), tolerance_m) if len(radius) else 4
    stretch = 1.0 / np.cos(np.pi / (4 * segments))
    return shapely.buffer(geometries, radius * stretch, quad_segs=segments)


def within_distance(study: Study, candidates: Candidates, geometries: np.ndarray, radius_m: np.ndarray | float,
                    tolerance_m: float = BUFFER_TOLERANCE_M) -> np.ndarray:
    """Candidates with any part (the cell or feature outline) within ``radius_m`` of a feature (per-feature radii allowed).

    Exact up to ``tolerance_m``: a candidate that far beyond the distance may be caught, none within it is missed.
    """
    geoms = np.asarray(geometries, dtype=object)
    radius = np.broadcast_to(np.asarray(radius_m, dtype=float), geoms.shape)
    if not len(geoms):
        return np.zeros(len(candidates), dtype=bool)
    positive = radius > 0
    zones = geoms.copy()
    if positive.any():
        zones[positive] = circumscribed_buffer(geoms[positive], radius[positive], tolerance_m)
    if candidates.kind == "square":
        return touched_mask(zones, study.grid).ravel()[candidates.cell]
    outlines = candidates.geometries(study)
    hit, _ = shapely.STRtree(zones).query(outlines, predicate="intersects")
    mask = np.zeros(len(candidates), dtype=bool)
    mask[hit] = True
    return mask


def centres_within(study: Study, candidates: Candidates, geometries: np.ndarray) -> np.ndarray:
    """Candidates whose centre lies in one of ``geometries`` (grid cells by a raster burn)."""
    if candidates.kind == "square":
        return burn_values(geometries, np.ones(len(geometries), dtype=np.int32), study.grid).astype(bool).ravel()[candidates.cell]
    union = shapely.union_all(np.asarray(geometries, dtype=object))
    shapely.prepare(union)
    return shapely.contains_xy(union, candidates.x, candidates.y)


def _slope_strip_mask(study: Study, candidates: Candidates, rule: SiteRule) -> np.ndarray:
    """Water strip: each candidate needs the width of its slope class (the widest where the slope is unknown)."""
    tiers = rule.slope_widths
    widths = np.array([w for _, w in tiers])
    slope = sample_cells(study.slope, candidates)
    tier = np.searchsorted(np.array([s for s, _ in tiers]), np.nan_to_num(slope, nan=np.inf), side="left")
    tier = np.minimum(tier, len(tiers) - 1)
    tier[~np.isfinite(slope)] = int(np.argmax(widths))
    mask = np.zeros(len(candidates), dtype=bool)
    geoms = rule.features.geometry.values
    for t, width in enumerate(widths):
        use = tier == t
        if use.any():
            mask |= use & within_distance(study, candidates, geoms, width)
    return mask


def sample_cells(surface: np.ndarray | None, candidates: Candidates) -> np.ndarray:
    """The value of a grid surface at each candidate's cell (NaN without a surface or outside the grid)."""
    out = np.full(len(candidates), np.nan)
    if surface is None:
        return out
    ok = candidates.cell >= 0
    out[ok] = surface.ravel()[candidates.cell[ok]]
    return out


def required_strip_width(rule: SiteRule, slope_deg: float) -> float:
    """The strip width (m) a site on ``slope_deg`` needs under ``rule`` (the widest for an unknown slope)."""
    if not np.isfinite(slope_deg):
        return max(w for _, w in rule.slope_widths)
    return next(w for s, w in rule.slope_widths if slope_deg <= s)


# --- jurisdiction ---------------------------------------------------------------------------------

def city_area(study: Study):
    """The city's land (the ``city`` units of ``oblast_districts``, else ``city_boundary``), or None."""
    units = study.layer("oblast_districts")
    if units is not None and "kind" in units.columns and (units["kind"] == CITY_KIND).any():
        return shapely.union_all(units.loc[units["kind"] == CITY_KIND].geometry.values)
    boundary = study.layer("city_boundary")
    return shapely.union_all(boundary.geometry.values) if boundary is not None and len(boundary) else None
