"""Scenarios (``scenarios/*.yaml``): what changes against the baseline, each change cited.

A scenario overrides, in memory and never in the data files:

- ``profiles``: per facility profile, criterion weights (renormalised), the planned
  capacity of one site (and with it the sanitary zone), the jurisdiction, the number of
  sites ``top_n``, keys of ``selection`` and, when the profile has one, of ``locate``;
- ``rules``: numbers of the siting rules (``rules/*.yaml``), e.g. a zone width;
- ``flows``: a row of the flow table or an allocation's total, scaled by a factor (a
  stated assumption), by a share row (a diversion or recovery rate), by compound growth
  at a rate row, or (allocations) given a new total expression over rows;
- ``catalog``: the source of a layer.

Every override names its ``reason`` and the report lines (with keywords) or the
assumption behind its numbers. The scenario is validated against
``scenario.schema.json`` and then against the profiles, rules, flow table, allocations
and catalog, so an unknown id is one line naming the scenario file and key.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .. import settings
from ..catalog import Catalog, with_layer_sources
from ..config import load_validated_yaml, named_yaml, validate, yaml_names
from ..errors import InputError, ProfileError, ScenarioError
from ..flows import evaluate, flow_row
from ..profiles import FacilityProfile, list_profiles, profile_from_document, profile_path
from ..siting.rules import SitingRules, load_siting_rules

#: Fields of :class:`geo_almaty.siting.rules.SitingRules` a rule override may change.
RULE_SECTIONS = ("hazard_classes", "facility_types", "bird_hazard", "water_protection")


@dataclass(frozen=True)
class Scenario:
    """A validated scenario (see the module docstring)."""

    id: str
    path: Path
    title: dict[str, str]
    description: dict[str, str]
    report_lines: str
    keywords: tuple[str, ...]
    horizon_year: int | None
    facilities: tuple[str, ...]
    profiles: dict[str, dict]
    rules: tuple[dict, ...]
    flows: tuple[dict, ...]
    catalog: dict | None

    def error(self, problem: str, key: str, expected: str | None = None) -> ScenarioError:
        """A one-line error naming this scenario's file and ``key``."""
        return ScenarioError(problem, file=self.path, column=key, expected=expected)

    @property
    def changes_data(self) -> bool:
        """True when the scenario changes flows (allocations must be recomputed)."""
        return bool(self.flows)


def scenario_path(name: str | Path) -> Path:
    """The YAML of a scenario given by name (``growth_2030``) or path."""
    return named_yaml(name, settings.scenarios_dir())


def list_scenarios() -> list[str]:
    """Names of the shipped scenarios."""
    return yaml_names(settings.scenarios_dir())


def load_scenario(name: str | Path, *, flows: pd.DataFrame | None = None, allocation_specs: dict[str, dict] | None = None,
                  catalog: Catalog | None = None) -> Scenario:
    """Load a scenario and check every override against the profiles, rules, flows, allocations and catalog.

    ``flows``, ``allocation_specs`` and ``catalog`` default to the project's own.
    """
    from ..allocate import load_allocation_specs
    from ..catalog import load_catalog
    from ..flows import load_flows

    path = scenario_path(name)
    if not path.is_file():
        raise ScenarioError("no such scenario", file=path, expected="one of " + ", ".join(list_scenarios()) + " or a scenario YAML file")
    document = load_validated_yaml(path, "scenario", ScenarioError)
    scenario = Scenario(
        id=document["id"], path=path, title=document["title"], description=document["description"], report_lines=document["report_lines"],
        keywords=tuple(document["keywords"]), horizon_year=document.get("horizon_year"), facilities=tuple(document.get("facilities", ())),
        profiles=document.get("profiles", {}), rules=tuple(document.get("rules", ())), flows=tuple(document.get("flows", ())),
        catalog=document.get("catalog"),
    )
    flows = load_flows() if flows is None else flows
    specs = load_allocation_specs() if allocation_specs is None else allocation_specs
    catalog = load_catalog() if catalog is None else catalog
    for facility in scenario.facilities:
        _profile_document(scenario, facility, "facilities")
    catalog = scenario_catalog(scenario, catalog)
    for facility in scenario.profiles:
        scenario_profile(scenario, facility, catalog, set(specs))
    scenario_rules(scenario)
    scenario_allocation_specs(scenario, specs, scenario_flows(scenario, flows))
    return scenario


# --- profiles -------------------------------------------------------------------------------------

def _profile_document(scenario: Scenario, facility: str | Path, key: str) -> tuple[Path, dict]:
    path = profile_path(facility)
    if not path.is_file():
        raise scenario.error(f"unknown facility profile '{facility}'", key, "one of " + ", ".join(list_profiles()))
    return path, load_validated_yaml(path, "profile", ProfileError)


def merged_section(base: dict, override: dict) -> dict:
    """``base`` with the keys of ``override`` replaced (nested mappings merged key by key)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        out[key] = merged_section(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else copy.deepcopy(value)
    return out


def overridden_profile_document(scenario: Scenario, document: dict) -> dict:
    """The profile ``document`` with the scenario's overrides for it (a copy; the file is not touched)."""
    pid = document["id"]
    override = scenario.profiles.get(pid)
    document = copy.deepcopy(document)
    if not override:
        return document
    key = f"profiles/{pid}"
    if "weights" in override:
        if document["weights"]["method"] != "direct":
            raise scenario.error(f"weights of an {document['weights']['method']} profile", f"{key}/weights",
                                 "a profile with direct weights (change AHP judgements in a copy of the profile instead)")
        ids = [c["id"] for c in document["criteria"]]
        for cid, weight in override["weights"].items():
            if cid not in ids:
                raise scenario.error(f"unknown criterion '{cid}' of profile '{pid}'", f"{key}/weights/{cid}", "one of " + ", ".join(ids))
            document["criteria"][ids.index(cid)]["weight"] = weight
    if "capacity_t_yr" in override or "jurisdiction" in override:
        if not document.get("siting"):
            raise scenario.error(f"profile '{pid}' has no siting section", f"{key}/capacity_t_yr", "a profile with siting: (rules/*.yaml)")
        if "capacity_t_yr" in override:
            document["siting"]["planned_capacity_t_yr"] = override["capacity_t_yr"]
            document["siting"]["capacity_rationale"] = f"scenario {scenario.id}: {override['reason']}"
        if "jurisdiction" in override:
            document["siting"]["jurisdiction"] = override["jurisdiction"]
    if "selection" in override:
        document["selection"] = merged_section(document.get("selection", {}), override["selection"])
    if "top_n" in override:
        selection = document.setdefault("selection", {})
        stages = selection.get("stages", [])
        if len(stages) > 1 and "stages" not in override.get("selection", {}):
            raise scenario.error(f"top_n of a profile choosing in {len(stages)} stages", f"{key}/top_n",
                                 "selection: stages: with stage sizes adding up to the new top_n")
        selection["top_n"] = override["top_n"]
        if len(stages) == 1:
            stages[0]["top_n"] = override["top_n"]
    if "locate" in override:
        if not isinstance(document.get("locate"), dict):
            raise scenario.error(f"profile '{pid}' has no locate section", f"{key}/locate",
                                 "a profile with a locate: section (location-allocation)")
        document["locate"] = merged_section(document["locate"], override["locate"])
    return document


def scenario_profile(scenario: Scenario, facility: str | Path, catalog: Catalog | None = None, allocations: set[str] | None = None,
                     *, force_ahp: bool = False) -> FacilityProfile:
    """The profile ``facility`` with the scenario's overrides applied and validated (one line naming the scenario's key)."""
    path, document = _profile_document(scenario, facility, f"profiles/{facility}")
    changed = overridden_profile_document(scenario, document)
    key = f"profiles/{document['id']}"
    try:
        validate(changed, "profile", file=path, error_cls=ProfileError)
        return profile_from_document(changed, path, catalog, allocations, force_ahp=force_ahp)
    except ProfileError as exc:
        if document["id"] not in scenario.profiles:
            raise
        raise scenario.error(f"profile '{document['id']}' after the overrides: {exc.short()}", key) from None


# --- siting rules -----------------------------------------------------------------------------------

def _rule_target(scenario: Scenario, tree: dict, parts: list[str], key: str) -> tuple[dict, str]:
    """The mapping holding the last part of ``parts`` (list items found by their ``id``)."""
    node: object = tree
    for n, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            node = next((item for item in node if isinstance(item, dict) and item.get("id") == part), None)
        elif isinstance(node, dict):
            node = node.get(part)
        else:
            node = None
        if node is None:
            raise scenario.error(f"no rule at '{'/'.join(parts[:n + 1])}'", key, "a path to a number of the rules (rules/*.yaml)")
    if not isinstance(node, dict) or not isinstance(node.get(parts[-1]), (int, float)) or isinstance(node.get(parts[-1]), bool):
        raise scenario.error(f"'{'/'.join(parts)}' is not a number of the rules", key, "a path to a number of the rules (rules/*.yaml)")
    return node, parts[-1]


def scenario_rules(scenario: Scenario, rules: SitingRules | None = None) -> SitingRules:
    """The siting rules with the scenario's ``rules`` overrides (a copy; ``rules/*.yaml`` is not touched)."""
    from ..siting.rules import _check_references

    rules = rules or load_siting_rules()
    if not scenario.rules:
        return rules
    sections = {name: copy.deepcopy(getattr(rules, name)) for name in RULE_SECTIONS}
    for n, item in enumerate(scenario.rules):
        key = f"rules/{n}/path"
        parts = item["path"].split("/")
        if parts[0] not in sections or sections[parts[0]] is None:
            raise scenario.error(f"unknown rules section '{parts[0]}'", key, "one of " + ", ".join(s for s in RULE_SECTIONS if sections[s]))
        node, leaf = _rule_target(scenario, sections[parts[0]], parts[1:], key)
        node[leaf] = item["value"]
    changed = dataclasses.replace(rules, **sections)
    merged = {"regulations": changed.regulations, **{k: v for k, v in sections.items() if v is not None}}
    try:
        _check_references(changed, merged)
    except ProfileError as exc:
        raise scenario.error(f"rules after the overrides: {exc.short()}", "rules") from None
    return changed


# --- flows ------------------------------------------------------------------------------------------

def override_factor(scenario: Scenario, item: dict, flows: pd.DataFrame, key: str) -> float:
    """The factor of a flow override: ``factor``, a share row (``factor_row``) or compound ``growth``."""
    def share(row_id: str, where: str) -> pd.Series:
        try:
            row = flow_row(flows, row_id)
        except InputError:
            raise scenario.error(f"unknown flow row '{row_id}'", where, "a row id of data/flows.csv or data/external.csv") from None
        if row["canonical_unit"] != "fraction":
            raise scenario.error(f"row '{row_id}' is in {row['canonical_unit']}, not a share", where, "a share row (%, fraction)")
        return row

    if "factor" in item:
        return float(item["factor"])
    if "factor_row" in item:
        return float(share(item["factor_row"], f"{key}/factor_row")["value_canonical"])
    growth = item["growth"]
    row = share(growth["rate_row"], f"{key}/growth/rate_row")
    start = int(growth.get("from_year", row["year"]))
    if growth["to_year"] < start:
        raise scenario.error(f"to_year {growth['to_year']} before {start}", f"{key}/growth/to_year", "a year at or after from_year")
    return float((1.0 + float(row["value_canonical"])) ** (growth["to_year"] - start))


def scenario_flows(scenario: Scenario, flows: pd.DataFrame) -> pd.DataFrame:
    """The flow table with the scenario's ``row`` overrides scaled (a copy; data/flows.csv is not touched)."""
    items = [(n, item) for n, item in enumerate(scenario.flows) if "row" in item]
    if not items:
        return flows
    out = flows.copy()
    for n, item in items:
        key = f"flows/{item['id']}"
        if item["row"] not in out.index:
            raise scenario.error(f"unknown flow row '{item['row']}'", f"{key}/row", "a row id of data/flows.csv or data/external.csv")
        if "total" in item:
            raise scenario.error("a new total for a row", f"{key}/total", "total only for an allocation; scale a row with factor")
        factor = override_factor(scenario, item, flows, key)
        for column in ("value", "value_high", "value_canonical", "value_high_canonical"):
            out.loc[item["row"], column] = float(out.loc[item["row"], column]) * factor
    out.attrs.update(flows.attrs)
    return out


def scenario_allocation_specs(scenario: Scenario, specs: dict[str, dict], flows: pd.DataFrame) -> dict[str, dict]:
    """The allocation definitions with the scenario's ``allocation`` overrides (a copy; data/allocation.yaml is not touched).

    A factor becomes ``{product: [total, {constant: factor}]}``; a new ``total`` replaces the
    expression. Allocations still conserve mass exactly: the grid sums to the new total.
    """
    items = [item for item in scenario.flows if "allocation" in item]
    if not items:
        return specs
    out = copy.deepcopy(specs)
    for item in items:
        key = f"flows/{item['id']}"
        name = item["allocation"]
        if name not in out:
            raise scenario.error(f"unknown allocation '{name}'", f"{key}/allocation", "one of " + ", ".join(sorted(out)))
        if "total" not in out[name]:
            raise scenario.error(f"allocation '{name}' is an area index without a tonnage", f"{key}/allocation",
                                 "an allocation with a total (t/yr)")
        if "total" in item:
            total = item["total"]
        else:
            factor = override_factor(scenario, item, flows, key)
            total = {"product": [out[name]["total"], {"constant": factor, "unit": "fraction", "why": item["reason"]}]}
        try:
            quantity = evaluate(total, flows, where=f"{key}/total")
        except InputError as exc:
            raise scenario.error(exc.short(), f"{key}/total", "an expression over rows of data/flows.csv") from None
        if quantity.unit != settings.MASS_FLOW_UNIT:
            raise scenario.error(f"total in {quantity.unit}", f"{key}/total", "a mass flow in t/yr")
        out[name]["total"] = total
    return out


# --- catalog ----------------------------------------------------------------------------------------

def scenario_catalog(scenario: Scenario, catalog: Catalog) -> Catalog:
    """``catalog`` with the layer sources the scenario replaces (paths relative to the scenario file)."""
    if not scenario.catalog:
        return catalog
    sources = scenario.catalog["layers"]
    for name in sources:
        if name not in catalog.layers:
            raise scenario.error(f"unknown layer '{name}'", f"catalog/layers/{name}", "a layer of the catalog: " + ", ".join(catalog.layers))
        path = (scenario.path.parent / sources[name]["source"]["path"]).resolve()
        if not path.exists():
            raise scenario.error(f"no file {path}", f"catalog/layers/{name}/source/path", "a path relative to the scenario file")
    try:
        return with_layer_sources(catalog, {name: entry["source"] for name, entry in sources.items()}, scenario.path)
    except InputError as exc:
        raise scenario.error(exc.short(), "catalog/layers") from None


def assumptions(scenario: Scenario) -> list[tuple[str, str, str]]:
    """(key, reason, citation) of every override: the report lines, or 'assumption: ...'."""
    def cite(item: dict) -> str:
        return "; ".join(([item["report_lines"]] if "report_lines" in item else []) +
                         ([f"assumption: {item['assumption']}"] if "assumption" in item else []))

    out = [(f"profiles/{pid}", item["reason"], cite(item)) for pid, item in scenario.profiles.items()]
    out += [(f"rules/{item['path']}", item["reason"], cite(item)) for item in scenario.rules]
    out += [(f"flows/{item['id']}", item["reason"], cite(item)) for item in scenario.flows]
    if scenario.catalog:
        out.append(("catalog", scenario.catalog["reason"], cite(scenario.catalog)))
    return out
