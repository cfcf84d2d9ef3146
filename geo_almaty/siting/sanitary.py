"""Sanitary protection zones: the zone a facility of some type and capacity needs (``rules/sanitary_zones.yaml``).

Location-allocation opens sites with a capacity each; :func:`sanitary_zone_width`
gives the hazard class, zone width and citation for that capacity, so the zone
can follow the site's size rather than one flat buffer.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ProfileError
from .rules import Citation, SitingRules, load_siting_rules


@dataclass(frozen=True)
class SanitaryZone:
    """The zone of one facility type at one capacity: hazard class (None: no zone), width (m) and citation."""

    facility_type: str
    capacity_t_yr: float | None
    band: str
    band_label: dict[str, str]
    hazard_class: str | None
    width_m: float
    citation: Citation

    @property
    def verify(self) -> bool:
        return self.citation.verify

    def describe(self, lang: str = "en") -> str:
        """'class I, 1000 m (over 40 kt/yr)' in ``lang``."""
        if self.hazard_class is None:
            return {"ru": "без санитарной зоны", "kk": "санитариялық аймақсыз", "en": "no sanitary zone"}[lang] + f" ({self.band_label[lang]})"
        word = {"ru": "класс", "kk": "сынып", "en": "class"}[lang]
        unit = {"ru": "м", "kk": "м", "en": "m"}[lang]
        width = f"{self.width_m:,.0f}".replace(",", "\u202f")
        return f"{word} {self.hazard_class}, {width} {unit} ({self.band_label[lang]})"


def sanitary_zone_width(facility: str, capacity_t_yr: float | None, rules: SitingRules | None = None) -> SanitaryZone:
    """Hazard class, zone width (m) and citation of ``facility`` (a facility type of the rules) at ``capacity_t_yr``.

    The first band whose ``max_capacity_t_yr`` is at least the capacity applies (bounds are
    inclusive: "up to 40 thousand t/yr" includes 40 000); a capacity of None takes the largest band.
    """
    rules = rules or load_siting_rules()
    spec = rules.facility_type(facility)
    if capacity_t_yr is not None and not (np.isfinite(capacity_t_yr) and capacity_t_yr >= 0):
        raise ProfileError(f"capacity {capacity_t_yr}", column="planned_capacity_t_yr", expected="a capacity of at least 0 t/yr")
    band = spec["bands"][-1]
    if capacity_t_yr is not None:
        band = next(b for b in spec["bands"] if b.get("max_capacity_t_yr") is None or capacity_t_yr <= b["max_capacity_t_yr"])
    hazard = band["hazard_class"]
    if hazard == "none":
        width = float(band.get("width_m", 0.0))
    else:
        width = float(band.get("width_m", rules.hazard_classes[hazard]["width_m"]))
    citation = rules.citation(band["citation"], verify=band["verify"], found=band.get("found", ""))
    return SanitaryZone(facility, capacity_t_yr, band["id"], dict(band["label"]), None if hazard == "none" else hazard, width, citation)


def sanitary_zone_widths(facility: str, capacities_t_yr, rules: SitingRules | None = None) -> np.ndarray:
    """Zone width (m) for each capacity of an array (the per-site form for location-allocation results)."""
    rules = rules or load_siting_rules()
    return np.array([sanitary_zone_width(facility, float(c), rules).width_m for c in np.asarray(capacities_t_yr, dtype=float)])
