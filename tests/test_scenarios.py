"""Scenarios (issue 13 part 3): validation, every override kind, mass conservation, determinism and the comparison.

Scenarios are applied in memory; these tests also check that no data file changes. The pipeline runs on the
embedded data at a coarse 2 km grid to stay quick.
"""
from __future__ import annotations

import hashlib
import html
import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from geo_almaty import settings
from geo_almaty.allocate import load_allocation_specs
from geo_almaty.errors import ScenarioError
from geo_almaty.export import read_csv
from geo_almaty.flows import load_flows
from geo_almaty.i18n import text
from geo_almaty.pipeline import load_inputs, score_facility, with_scenario
from geo_almaty.profiles import load_profile
from geo_almaty.render.legend import reused_colours
from geo_almaty.scenario import list_scenarios, load_scenario, merged_section, override_factor, scenario_rules
from geo_almaty.scenario.compare import (LOCATED_COLUMNS, ScenarioRun, compare_scenarios, comparison_markdown,
                                         comparison_table)
from geo_almaty.scenario.compare_map import build_compare_map
from geo_almaty.siting.sanitary import sanitary_zone_width

CELL = 2000.0
PILOT = settings.scenarios_dir() / "composting_pilot_green_waste.yaml"
DIVERSION = settings.scenarios_dir() / "organics_full_diversion.yaml"
GROWTH = settings.scenarios_dir() / "growth_2030.yaml"
HEAD = """id: test_scenario
title: {ru: "Тест", kk: "Тест", en: "Test"}
description: {ru: "Тест", kk: "Тест", en: "Test"}
report_lines: "L5033-5051"
keywords: ["парков"]
"""


def write_scenario(folder: Path, body: str, name: str = "s.yaml") -> Path:
    path = folder / name
    path.write_text(HEAD + body, encoding="utf-8")
    return path


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def base():
    return load_inputs(None, CELL)


@pytest.fixture(scope="module")
def data_files():
    """Hashes of every data, profile and rules file: scenarios must not change them."""
    folders = (settings.data_dir(), settings.profiles_dir(), settings.rules_dir(), settings.layers_dir())
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for f in folders for p in sorted(f.glob("*.*")) if p.is_file()}


# --- validation ---------------------------------------------------------------------------------------

def test_shipped_scenarios_load_and_cite():
    assert set(list_scenarios()) >= {"composting_pilot_green_waste", "growth_2030", "organics_full_diversion"}
    for name in list_scenarios():
        scenario = load_scenario(name)
        assert scenario.report_lines and all(set(s.title) == set(settings.LANGUAGES) for s in [scenario])


@pytest.mark.parametrize("body, key, words", [
    ("profiles:\n  composting_hub:\n    reason: r\n    assumption: a\n    weights: {no_such_criterion: 2}\n",
     "profiles/composting_hub/weights/no_such_criterion", "unknown criterion"),
    ("profiles:\n  no_such_profile:\n    reason: r\n    assumption: a\n    top_n: 2\n", "profiles/no_such_profile", "unknown facility profile"),
    ("flows:\n  - {id: f, row: no_such_row, factor: 1.2, reason: r, assumption: a}\n", "flows/f/row", "unknown flow row"),
    ("flows:\n  - {id: f, allocation: no_such_flow, factor: 1.2, reason: r, assumption: a}\n", "flows/f/allocation", "unknown allocation"),
    ("flows:\n  - {id: f, allocation: green_waste_area, factor: 1.2, reason: r, assumption: a}\n", "flows/f/allocation", "area index"),
    ("flows:\n  - {id: f, allocation: household_organic, factor_row: waste_msw_removed, reason: r, assumption: a}\n", "flows/f/factor_row",
     "not a share"),
    ("rules:\n  - {path: hazard_classes/IX/width_m, value: 10, reason: r, assumption: a}\n", "rules/0/path", "no rule"),
    ("rules:\n  - {path: facility_types/composting/bands/up_to_40kt/label, value: 10, reason: r, assumption: a}\n", "rules/0/path",
     "not a number"),
    ("catalog:\n  reason: r\n  assumption: a\n  layers: {no_such_layer: {source: {path: x.geojson}}}\n", "catalog/layers/no_such_layer",
     "unknown layer"),
    ("profiles:\n  reuse_warehouse:\n    reason: r\n    assumption: a\n    top_n: 3\n", "profiles/reuse_warehouse/top_n", "stages"),
    ("flows:\n  - {id: f, allocation: household_organic, factor: 1.2, reason: r}\n", "flows/0", ""),  # no citation nor assumption
    ("profiles:\n  composting_hub:\n    reason: r\n    assumption: a\n    weights: {green_waste: -1}\n", "profiles/composting_hub/weights/green_waste", ""),
    ("profiles:\n  composting_hub:\n    reason: r\n    assumption: a\n    weights: {green_waste: 0, food_industry_supply: 0, poultry_distance: 0,"
     " market_distance: 0, household_organic: 0, farmland_distance: 0, peri_urban: 0, road_access: 0, landfill_colocation: 0,"
     " wwtp_colocation: 0, gentle_slope: 0}\n", "profiles/composting_hub", "weights"),
    ("flows:\n  - {id: f, allocation: household_organic, growth: {rate_row: con_residential_floor_growth_share, to_year: 2010}, reason: r,"
     " assumption: a}\n", "flows/f/growth/to_year", "before"),
])
def test_a_bad_override_is_one_line_naming_the_scenario_file_and_key(tmp_path, body, key, words):
    path = write_scenario(tmp_path, body)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    text = str(caught.value)
    assert "\n" not in text and str(path) in text and f"column '{key}" in text and words in text


def test_duplicate_keys_and_unknown_keys_are_refused(tmp_path):
    path = write_scenario(tmp_path, "horizon_year: 2030\nhorizon_year: 2031\n")
    with pytest.raises(ScenarioError, match="duplicate key 'horizon_year'"):
        load_scenario(path)
    path = write_scenario(tmp_path, "profiles:\n  composting_hub:\n    reason: r\n    assumption: a\n    wieghts: {green_waste: 2}\n")
    with pytest.raises(ScenarioError, match="wieghts"):
        load_scenario(path)
    with pytest.raises(ScenarioError, match="no such scenario"):
        load_scenario(tmp_path / "missing.yaml")


# --- every override kind ----------------------------------------------------------------------------------

def test_weight_override_changes_only_that_weight_and_renormalises(base, tmp_path):
    path = write_scenario(tmp_path, "profiles:\n  composting_hub:\n    reason: r\n    assumption: a\n    weights: {green_waste: 5}\n")
    plain = score_facility(base, "composting_hub")
    changed = score_facility(with_scenario(base, load_scenario(path)), "composting_hub")
    ids = [c["id"] for c in plain.profile.criteria]
    raw = np.array([5.0 if c["id"] == "green_waste" else float(c["weight"]) for c in plain.profile.criteria])
    active = plain.result.weights > 0
    expected = np.where(active, raw, 0) / np.where(active, raw, 0).sum()
    assert changed.result.weights == pytest.approx(expected) and changed.result.weights.sum() == pytest.approx(1.0)
    assert changed.result.weights[ids.index("green_waste")] > plain.result.weights[ids.index("green_waste")]
    assert load_profile("composting_hub").criteria[ids.index("green_waste")]["weight"] == 1  # the file is untouched


def test_capacity_jurisdiction_and_k_overrides(base):
    pilot = load_scenario(PILOT)
    outcome = score_facility(with_scenario(base, pilot), "composting_hub")
    assert outcome.result.siting.capacity_t_yr == 40000
    assert outcome.result.siting.zone.width_m == sanitary_zone_width("composting", 40000).width_m == 500
    assert outcome.result.siting.jurisdiction == "require_city"
    assert outcome.profile.top_n == 3 and len(outcome.selection) <= 3
    assert outcome.profile.selection["stages"][0]["top_n"] == 3


def test_rules_override_changes_the_zone_scoring_applies(base, tmp_path):
    path = write_scenario(tmp_path, "rules:\n  - {path: hazard_classes/I/width_m, value: 700, reason: r, assumption: a}\n"
                          "  - {path: facility_types/composting/bands/up_to_40kt/max_capacity_t_yr, value: 20000, reason: r, assumption: a}\n")
    scenario = load_scenario(path)
    rules = scenario_rules(scenario)
    assert rules.hazard_classes["I"]["width_m"] == 700 and sanitary_zone_width("composting", 50000, rules).width_m == 700
    assert sanitary_zone_width("composting", 30000, rules).hazard_class == "I"
    assert sanitary_zone_width("composting", 50000).width_m == 1000  # the project's rules are untouched
    outcome = score_facility(with_scenario(base, scenario), "composting_hub")
    assert outcome.result.siting.zone.width_m == 700
    bad = write_scenario(tmp_path, "rules:\n  - {path: facility_types/composting/bands/up_to_40kt/max_capacity_t_yr, value: 0, reason: r,"
                         " assumption: a}\n", "bad.yaml")
    assert load_scenario(bad)  # 0 still rises below the unbounded last band
    with pytest.raises(ScenarioError, match="not a number of the rules"):  # the last band stays unbounded
        load_scenario(write_scenario(tmp_path, "rules:\n  - {path: facility_types/composting/bands/over_40kt/max_capacity_t_yr, value: 1.0e+6,"
                                     " reason: r, assumption: a}\n", "bad2.yaml"))


def test_flow_row_override_scales_the_row_and_the_allocations_conserve_mass(base, tmp_path, data_files):
    path = write_scenario(tmp_path, "flows:\n  - {id: more_food, row: agri_companies_organic_waste, factor: 1.2, reason: r, assumption: a}\n")
    changed = with_scenario(base, load_scenario(path))
    assert changed.flows.loc["agri_companies_organic_waste", "value_canonical"] == pytest.approx(108000)
    assert base.flows.loc["agri_companies_organic_waste", "value_canonical"] == 90000  # the baseline is not modified
    allocation = changed.allocations["food_industry_organic"]
    assert allocation.total_base == 108_000_000
    assert int(allocation.surface_base.sum()) == allocation.total_base == int(allocation.features["amount_base"].sum())
    assert changed.allocations["household_organic"].total_base == base.allocations["household_organic"].total_base


@pytest.mark.parametrize("body, expected_t", [
    ("factor: 1.2", 316655.425 * 1.2),
    ("factor_row: ext_almaty_msw_food_share", 316655.425 * 0.475),
    ("growth: {rate_row: con_residential_floor_growth_share, to_year: 2030}", 316655.425 * 1.03 ** 12),
    ("total: {difference: [agri_organic_waste_landfill, agri_companies_organic_waste]}", 510000.0),
])
def test_allocation_overrides_conserve_mass_exactly(base, tmp_path, body, expected_t):
    path = write_scenario(tmp_path, f"flows:\n  - {{id: f, allocation: household_organic, {body}, reason: r, assumption: a}}\n")
    changed = with_scenario(base, load_scenario(path))
    allocation = changed.allocations["household_organic"]
    assert allocation.total == pytest.approx(expected_t, abs=0.001)
    assert int(allocation.surface_base.sum()) == allocation.total_base == int(allocation.features["amount_base"].sum())
    assert allocation.by_district().sum() * 1000 == pytest.approx(allocation.total_base)


def test_growth_factor_is_computed_from_the_rate_row():
    flows = load_flows()
    scenario = load_scenario(GROWTH)
    factor = override_factor(scenario, scenario.flows[0], flows, "flows/0")
    assert factor == pytest.approx((1 + flows.loc["con_residential_floor_growth_share", "value_canonical"]) ** (2030 - 2018))


def test_catalog_override_replaces_a_layer_source(tmp_path, base):
    parks = json.loads((settings.layers_dir() / "parks.geojson").read_text(encoding="utf-8"))
    parks["features"] = parks["features"][:3]
    (tmp_path / "few_parks.geojson").write_text(json.dumps(parks, ensure_ascii=False), encoding="utf-8")
    path = write_scenario(tmp_path, "catalog:\n  reason: r\n  assumption: a\n  layers: {parks: {source: {path: few_parks.geojson}}}\n")
    scenario = load_scenario(path)
    with pytest.raises(ScenarioError, match="catalog"):
        with_scenario(base, scenario)
    inputs = load_inputs(None, CELL, scenario=scenario)
    assert inputs.catalog.layer("parks").source.path == (tmp_path / "few_parks.geojson").resolve()
    assert len(inputs.study.layer("parks")) <= 3 < len(base.study.layer("parks"))
    assert inputs.allocations["green_waste_area"].total < base.allocations["green_waste_area"].total


def test_locate_section_is_merged_key_by_key():
    base = {"model": "p_median", "k": 5, "supply": {"food": {"share": 1.0}}}
    assert merged_section(base, {"k": 3, "supply": {"food": {"share": 0.5}}}) == {"model": "p_median", "k": 3, "supply": {"food": {"share": 0.5}}}
    assert base["k"] == 5


def test_scenarios_never_edit_data_files(base, data_files):
    for name in list_scenarios():
        inputs = with_scenario(base, load_scenario(name))
        score_facility(inputs, "composting_hub")
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in data_files}
    assert after == data_files


# --- compare ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare") / "out"
    return compare_scenarios(["baseline", PILOT, DIVERSION], out, "en", cell_size=CELL)


def test_compare_writes_every_output_and_is_byte_identical(compared, tmp_path):
    folder = compared.table.parent
    assert {p.name for p in folder.iterdir()} >= {"compare.csv", "compare_sites.csv", "compare.md", "compare.html", "compare_map.html"}
    again = compare_scenarios(["baseline", PILOT, DIVERSION], tmp_path / "again", "en", cell_size=CELL)
    assert digest(again.table.parent) == digest(folder)


def test_compare_table_adds_up(compared):
    table = read_csv(compared.table)
    sites = read_csv(compared.sites)
    assert list(table.scenario_id.unique()) == ["baseline", "composting_pilot_green_waste", "organics_full_diversion"]
    assert set(table.facility) == {"composting_hub"}  # the scenarios name only the composting hub
    for row in table.itertuples():
        mine = sites[(sites.scenario_id == row.scenario_id) & (sites.facility == row.facility)]
        assert len(mine) == row.sites <= row.sites_asked
        for column in [c for c in table.columns if c.startswith("reach_")]:
            assert getattr(row, column) == pytest.approx(mine[column].sum(), rel=1e-9, abs=1e-6)
    run = {r.scenario.id: r for r in compared.runs}
    for row in table.itertuples():
        assert row.total_household_organic_t_per_yr == pytest.approx(run[row.scenario_id].inputs.allocations["household_organic"].total)
    diversion = table.set_index("scenario_id").loc["organics_full_diversion"]
    assert diversion.total_household_organic_t_per_yr == pytest.approx(510000) and diversion.sites_asked == 12
    pilot = table.set_index("scenario_id").loc["composting_pilot_green_waste"]
    assert pilot.sanitary_zone_m == 500 and pilot.capacity_t_yr == 40000
    assert not [c for c, _ in LOCATED_COLUMNS if c in table.columns]  # no location-allocation results: no such columns


def test_compare_adds_location_allocation_columns_when_runs_carry_them(compared):
    runs = []
    for run in compared.runs:
        impact = SimpleNamespace(served_t=1000.0, tkm=25000.0, transport_co2e_t=3.0, net_co2e_t=500.0)
        placed = SimpleNamespace(site_location=np.arange(2), impact=impact)
        runs.append(ScenarioRun(run.scenario, run.inputs, run.outcomes, {"composting_hub": placed}))
    table = comparison_table(runs, "en")
    assert {"located_sites", *(c for c, _ in LOCATED_COLUMNS)} <= set(table.columns)
    assert (table.tonne_km_yr == 25000.0).all() and (table.located_sites == 2).all()
    text = comparison_markdown(table, runs, "ru")
    assert "т·км/год" in text


def test_compare_markdown_and_html_escape_names(compared):
    evil = "<b>«Алматы» | *тест*</b> ә"
    run = compared.runs[1]
    scenario = run.scenario.__class__(**{**run.scenario.__dict__, "title": {k: evil for k in settings.LANGUAGES}})
    runs = [compared.runs[0], ScenarioRun(scenario, run.inputs, run.outcomes)]
    table = comparison_table(runs, "kk")
    md = comparison_markdown(table, runs, "kk")
    assert "<b>" not in md and "\\|" in md
    from geo_almaty.scenario.compare import comparison_html
    html = comparison_html(table, runs, "kk", [])
    assert "<b>«" not in html and "&lt;b&gt;" in html


def test_compare_map_is_self_contained_with_one_colour_per_scenario(compared):
    html = compared.map.read_text(encoding="utf-8")
    assert not re.search(r'<script[^>]+src="https?:', html) and not re.search(r'<link[^>]+href="https?:', html)
    m = build_compare_map(compared.runs, "en")
    keys = [s.key for s in m.shell.legend if s.key.startswith("sites:")]
    assert keys == [f"sites:{r.scenario.id}:composting_hub" for r in compared.runs]
    assert reused_colours(m.shell.legend) == {}
    for lang in settings.LANGUAGES:
        assert f'class="t t-{lang}"' in html
    for run in compared.runs:
        assert run.scenario.title["kk"] in html


def test_fewer_than_two_scenarios_are_refused(tmp_path):
    with pytest.raises(ScenarioError, match="two or more"):
        compare_scenarios([PILOT], tmp_path / "x", "en", cell_size=CELL)
    assert not (tmp_path / "x").exists()


def test_cli_compare_and_run_with_a_bad_scenario_fail_in_one_line(tmp_path, capsys):
    from geo_almaty.cli import EXIT_BAD_INPUT, main

    path = write_scenario(tmp_path, "profiles:\n  composting_hub:\n    reason: r\n    assumption: a\n    weights: {nope: 2}\n")
    assert main(["run", "--scenario", str(path), "--out", str(tmp_path / "run"), "--cell-size", "2000"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "profiles/composting_hub/weights/nope" in err
    assert main(["compare", "baseline", str(path), "--out", str(tmp_path / "cmp"), "--cell-size", "2000"]) == EXIT_BAD_INPUT
    assert not (tmp_path / "run").exists() and not (tmp_path / "cmp").exists()


def test_run_with_a_scenario_names_it_in_summary_and_index(tmp_path):
    from geo_almaty.pipeline import run_main_job

    scenario = load_scenario(PILOT)
    outputs = run_main_job(None, tmp_path / "out", "kk", cell_size=CELL, robust_samples=0, scenario=scenario)
    summary = outputs.summary.read_text(encoding="utf-8")
    assert scenario.title["kk"] in summary and "composting\\_pilot\\_green\\_waste" in summary
    index = outputs.index.read_text(encoding="utf-8")
    assert 'data-scenario="composting_pilot_green_waste"' in index and html.escape(scenario.title["en"]) in index
    assert (tmp_path / "out" / "scenario.yaml").read_text(encoding="utf-8") == PILOT.read_text(encoding="utf-8")
    assert outputs.outcomes["composting_hub"].profile.top_n == 3
    assert yaml.safe_load((tmp_path / "out" / "scenario.yaml").read_text(encoding="utf-8"))["id"] == scenario.id
    assert load_allocation_specs() == load_allocation_specs()  # unchanged definitions


@pytest.mark.browser
@pytest.mark.parametrize("viewport", ("desktop", "phone"))
def test_compare_map_works_offline_in_a_browser(compared, browser, viewport):
    from .browser import open_offline

    keys = [f"{r.scenario.id}:{f}" for r in compared.runs for f in r.outcomes]
    expected = sum(len(o.selection) for r in compared.runs for o in r.outcomes.values())
    with open_offline(browser, compared.map, viewport=viewport) as page:
        page.screenshot(f"compare_map_{viewport}.png")
        markers = page.count("img.leaflet-marker-icon")
        problems = {k: page.js("f => gaTest.pinProblems(f)", k) for k in keys}
        page.page.wait_for_function("() => document.getElementById('ga-sheet').getAttribute('data-legend-synced')")
        page.js("() => GA.syncLegend()")
        shown = page.js("() => Array.from(document.querySelectorAll('[data-legend-key^=\"sites:\"]')).filter(e => !e.hidden).length")
        page.set_language("kk")
        title = page.js("() => document.title")
        page.assert_clean()
    assert markers == expected and shown == len(keys)
    assert not any(problems.values()), problems
    assert title == text("compare_map", "kk")
