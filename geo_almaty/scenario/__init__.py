"""Scenarios: cited overrides of weights, siting rules, capacities and k, flows and the catalog, and their comparison.

- :mod:`.model`: load and validate a scenario (``scenarios/*.yaml``) and apply it in memory;
- :mod:`.compare`: run several scenarios and write a side-by-side table and one map of every scenario's sites.

The pipeline applies a scenario through :func:`geo_almaty.pipeline.load_inputs` (``scenario=``)
or :func:`geo_almaty.pipeline.with_scenario`; :func:`geo_almaty.pipeline.score_facility` then
scores the overridden profiles under the overridden rules.
"""
from .model import (Scenario, assumptions, list_scenarios, load_scenario, merged_section, override_factor, overridden_profile_document,
                    scenario_allocation_specs, scenario_catalog, scenario_flows, scenario_path, scenario_profile, scenario_rules)

__all__ = [
    "Scenario", "assumptions", "list_scenarios", "load_scenario", "merged_section", "override_factor", "overridden_profile_document",
    "scenario_allocation_specs", "scenario_catalog", "scenario_flows", "scenario_path", "scenario_profile", "scenario_rules",
]
