"""Siting rules a planner can defend: sanitary zones by class and capacity, airports, water, jurisdiction.

The rules live in ``rules/*.yaml`` (regulations with their items and dates, every
unverified entry marked), apart from the facility profiles:

- :mod:`.rules`: load and validate the rules layer (:func:`load_siting_rules`);
- :mod:`.sanitary`: the zone a facility type needs at a capacity (:func:`sanitary_zone_width`);
- :mod:`.zones`: every rule of a profile as a column per candidate, measured from the site edge
  (:func:`build_siting_plan`, :func:`evaluate_rules`, :class:`RuleTable`);
- :mod:`.jurisdiction`: city or oblast district of each candidate (:func:`candidate_jurisdiction`);
- :mod:`.check`: which given sites break which rule at their own capacities (:func:`check_sites`);
- :mod:`.why`: "why not here?" for any point (:func:`why_not_here`, :func:`why_not_here_lonlat`),
  and the per-cell rule bitmask with its legend for maps (:func:`exclusion_surface`, :func:`exclusion_legend`);
- :mod:`.report`: per-site columns, the rules table and summary lines for the outputs.

:mod:`.why` and :mod:`.report` read scores, so they are imported on first use (the score
stage itself imports :mod:`.zones`).
"""
from __future__ import annotations

from .check import check_sites
from .jurisdiction import Jurisdiction, candidate_jurisdiction, jurisdiction_counts
from .rules import Citation, SitingRules, load_siting_rules
from .sanitary import SanitaryZone, sanitary_zone_width, sanitary_zone_widths
from .zones import MissingLayer, RuleTable, SiteRule, SitingPlan, build_siting_plan, evaluate_rules

_LAZY = {
    "why_not_here": "why", "why_not_here_lonlat": "why", "site_reasons_for": "why", "exclusion_legend": "why",
    "exclusion_surface": "why", "Reason": "why", "rules_table": "report", "site_rule_columns": "report", "siting_summary_lines": "report",
}


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'geo_almaty.siting' has no attribute {name!r}")


__all__ = [
    "Citation", "Jurisdiction", "MissingLayer", "RuleTable", "SanitaryZone", "SiteRule", "SitingPlan", "SitingRules",
    "build_siting_plan", "candidate_jurisdiction", "check_sites", "evaluate_rules", "jurisdiction_counts", "load_siting_rules",
    "sanitary_zone_width", "sanitary_zone_widths", *_LAZY,
]
