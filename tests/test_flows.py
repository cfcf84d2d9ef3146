"""The flow tables: integrity against the report, unit normalisation, bad input, coefficients, consistency, Sankey totals."""
from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pytest

from geo_almaty import settings
from geo_almaty.cli import main
from geo_almaty.consistency import run_consistency_checks
from geo_almaty.errors import FlowDataError
from geo_almaty.flows import (
    FLOW_COLUMNS,
    evaluate,
    flow_value,
    load_coefficients,
    load_flows,
    load_labels,
    mass_flows,
    parse_line_ranges,
    report_rows,
    select_flows,
)
from geo_almaty.sankey import load_sankey_diagrams, sankey_figure
from geo_almaty.units import UNITS, canonical_unit, to_canonical

DATA = settings.data_dir()


@pytest.fixture(scope="module")
def labels():
    return load_labels()


@pytest.fixture(scope="module")
def flows(labels):
    return load_flows(labels=labels)


def normalise(text: str) -> str:
    return " ".join(text.split())


# --- integrity against the report -------------------------------------------------------------

def test_every_row_cites_existing_lines_and_quotes_them(flows, report_file):
    lines = report_file.read_text(encoding="utf-8").split("\n")
    problems = []
    for row in report_rows(flows).itertuples():
        ranges = parse_line_ranges(row.report_lines)
        if any(end > len(lines) for _, end in ranges):
            problems.append(f"{row.id}: lines {row.report_lines} beyond the report's {len(lines)} lines")
            continue
        start, end = ranges[0]
        cited = normalise(" ".join(lines[start - 1:end]))
        if normalise(row.quote_ru) not in cited:
            problems.append(f"{row.id}: quote not in L{start}-{end}: {row.quote_ru!r}")
    assert not problems, "\n".join(problems)


def test_quotes_contain_the_printed_number(flows):
    """The quote shows the figure itself: its digits appear in the quote (ignoring thin spaces)."""
    missing = []
    for row in flows[flows.quote_ru != ""].itertuples():
        digits = re.sub(r"\D", "", row.quote_ru)
        value_digits = re.sub(r"\D", "", f"{row.value:g}".replace("e+", ""))
        if value_digits.lstrip("0") not in digits and row.quantity != "count":
            missing.append(row.id)
    assert not missing, missing


def test_required_figures_are_present(flows):
    expected_t_per_yr = {
        "city_materials_used": 11e6, "city_fossil_fuels_burned": 5.4e6, "city_sankey_metals_node": 553e3,
        "city_minerals_biomass_metals": 5.6e6, "city_stock_addition": 1.7e6, "city_recycled": 113e3,
        "agri_food_consumed": 644e3, "agri_packaging": 221e3, "agri_packaging_recycled": 73e3,
        "agri_organic_waste_landfill": 600e3, "agri_sewage_sludge": 48e3, "agri_digested": 191e3,
        "agri_companies_organic_waste": 90e3, "con_wood": 286e3, "con_metals": 80e3, "con_minerals_corrected": 1456e3,
        "con_minerals_printed": 1456, "con_cd_waste_landfill": 79e3, "ind_concrete": 2.3e6, "ind_metals": 328e3,
        "ind_food": 0.5e6, "ind_fossil_fuels": 1e6, "ind_waste_landfill": 291e3, "waste_msw_removed": 680e3,
        "waste_msw_industrial": 13357, "waste_landfill_delivered": 480e3, "waste_sorting_plant_capacity": 550e3,
        "waste_kazferrosteel_scrap": 30e3, "waste_kwr_sorted": 60e3,
    }
    for flow_id, value in expected_t_per_yr.items():
        assert flow_value(flows, flow_id) == pytest.approx(value), flow_id
        assert flows.loc[flow_id, "canonical_unit"] == "t/yr"
    assert flow_value(flows, "city_imported_share") == pytest.approx(0.63)
    assert flow_value(flows, "agri_landfill_methane") == pytest.approx(35e3)
    assert flow_value(flows, "agri_landfill_methane_co2e") == pytest.approx(879e3)
    assert flow_value(flows, "pop_almaty") == pytest.approx(1.9e6) and flows.loc["pop_almaty", "year"] == 2017
    assert flow_value(flows, "land_oblast_arable") == pytest.approx(1.0e6)  # ha
    assert flows.loc["con_minerals_printed", "status"] == "printed"
    assert flows.loc["con_minerals_corrected", "status"] == "corrected"
    assert flow_value(flows, "waste_kwr_points_city") + flow_value(flows, "waste_kwr_points_oblast") == 30
    assert (flows.loc[["con_turnover_new_build_share", "con_turnover_renovation_share", "con_turnover_maintenance_share",
                       "con_turnover_demolition_share"], "value"].tolist() == [88, 6, 6, 0.1])


def test_every_row_has_unit_year_and_lines(flows):
    assert set(FLOW_COLUMNS) <= set(flows.columns)
    assert flows["unit"].isin(list(UNITS)).all()
    assert flows["year"].between(1900, 2100).all()
    assert (report_rows(flows)["report_lines"].str.len() > 0).all()


def test_external_figures_name_their_source_address_and_year(flows):
    """Figures that are not the report's (data/external.csv) are loaded beside it, each with source, address and year."""
    external = flows[flows.origin == "external"]
    assert {"ext_almaty_msw_food_share", "ext_almaty_msw_daily", "ext_cd_share_demolition"} <= set(external.index)
    assert (external.source.str.len() > 20).all() and external.url.str.match(r"^https?://").all()
    assert (external.report_lines == "").all() and external.year.between(1990, 2100).all()
    assert flow_value(flows, "ext_almaty_msw_daily") == pytest.approx(1500 * 365)  # t/day normalised to t/yr
    assert flow_value(flows, "ext_almaty_msw_food_share") == pytest.approx(0.475)
    assert len(load_flows(external=False)) == len(report_rows(flows))


def test_an_external_figure_without_an_address_is_one_line(tmp_path):
    shutil.copy(DATA / "flows.csv", tmp_path / "flows.csv")
    shutil.copy(DATA / "labels.csv", tmp_path / "labels.csv")
    rows = list(csv.DictReader((DATA / "external.csv").open(encoding="utf-8")))
    rows[0]["url"] = "inform.kz"
    with (tmp_path / "external.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(FlowDataError) as exc:
        load_flows(tmp_path / "flows.csv")
    assert "\n" not in str(exc.value) and "external.csv" in str(exc.value) and "column 'url'" in str(exc.value)


def test_queries_by_sector_material_and_fate(flows):
    landfill = select_flows(flows, fate="landfill")
    assert {"agri_organic_waste_landfill", "con_cd_waste_landfill", "ind_waste_landfill"} <= set(landfill.index)
    assert set(mass_flows(flows, sector="construction").material) >= {"wood", "metals", "minerals"}
    assert list(select_flows(flows, sector="agrifood", material="organic_waste", fate="landfill").index) == ["agri_organic_waste_landfill"]


# --- units ----------------------------------------------------------------------------------

@pytest.mark.parametrize("value,unit,expected,canonical", [
    (5.4, "Mt/yr", 5.4e6, "t/yr"), (553, "kt/yr", 553e3, "t/yr"), (5000, "t/month", 60e3, "t/yr"),
    (63, "%", 0.63, "fraction"), (1.0, "Mha", 1e6, "ha"), (1.9, "M persons", 1.9e6, "persons"),
    (11, "Mt CO2/yr", 11e6, "t CO2e/yr"), (35, "kt CH4/yr", 35e3, "t CH4/yr"), (8.6, "M m3/yr", 8.6e6, "m3/yr"),
])
def test_unit_normalisation(value, unit, expected, canonical):
    assert to_canonical(value, unit) == pytest.approx(expected)
    assert canonical_unit(unit) == canonical


def test_table_values_are_normalised_on_load(flows):
    assert flows.loc["waste_kwr_sorted", "value"] == 5000 and flows.loc["waste_kwr_sorted", "unit"] == "t/month"
    assert flows.loc["waste_kwr_sorted", "value_canonical"] == pytest.approx(60_000)
    low, high = flows.loc["waste_sorting_plant_recoverable", ["value_canonical", "value_high_canonical"]]
    assert (low, high) == (pytest.approx(0.08), pytest.approx(0.10))


# --- bad input --------------------------------------------------------------------------------

@pytest.fixture
def table_copy(tmp_path):
    for name in ("flows.csv", "labels.csv"):
        shutil.copy(DATA / name, tmp_path / name)
    return tmp_path / "flows.csv"


def edit_row(path: Path, flow_id: str, **changes: str) -> int:
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    for n, row in enumerate(rows):  # noqa: B007 (n is the edited row's index after the loop)
        if row["id"] == flow_id:
            row.update(changes)
            break
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return n + 2  # line number of the edited row


@pytest.mark.parametrize("changes,column,fragment", [
    ({"value": "-5"}, "value", "negative value -5"),
    ({"value": ""}, "value", "missing value"),
    ({"value": "about 5"}, "value", "not a number"),
    ({"unit": "Mt/day"}, "unit", "unknown unit 'Mt/day'"),
    ({"sector": "mining"}, "sector", "unknown sector 'mining'"),
    ({"to_node": "moon"}, "to_node", "no label for node 'moon'"),
    ({"report_lines": "24x5"}, "report_lines", "malformed line range"),
    ({"year": "20I8"}, "year", "not a year"),
    ({"value_high": "1"}, "value_high", "below value"),
    ({"id": "city_materials_used"}, "id", "duplicate id"),
])
def test_bad_rows_name_the_row_and_column(table_copy, changes, column, fragment):
    line = edit_row(table_copy, "agri_organic_waste_landfill", **changes)
    with pytest.raises(FlowDataError) as exc:
        load_flows(table_copy)
    message = str(exc.value)
    assert "\n" not in message
    assert "flows.csv" in message and f"column '{column}'" in message and fragment in message
    assert f"row {line}" in message


def test_non_utf8_table(tmp_path):
    (tmp_path / "labels.csv").write_bytes((DATA / "labels.csv").read_bytes())
    (tmp_path / "flows.csv").write_bytes((DATA / "flows.csv").read_text(encoding="utf-8").encode("cp1251", errors="replace"))
    with pytest.raises(FlowDataError, match="not UTF-8"):
        load_flows(tmp_path / "flows.csv")


def test_missing_table(tmp_path):
    shutil.copy(DATA / "labels.csv", tmp_path / "labels.csv")
    with pytest.raises(FlowDataError, match="flow table not found"):
        load_flows(tmp_path / "flows.csv")


# --- coefficients and consistency ---------------------------------------------------------------

def test_coefficients_are_computed_from_rows(flows):
    coefficients = load_coefficients(flows)
    ch4 = coefficients["ch4_per_t_organic_landfilled"]
    assert ch4.value == pytest.approx(flow_value(flows, "agri_landfill_methane") / flow_value(flows, "agri_organic_waste_landfill"))
    assert ch4.rows == ("agri_landfill_methane", "agri_organic_waste_landfill")
    assert coefficients["co2e_avoided_per_t_recycled"].value == pytest.approx(173 / 113)


def test_coefficients_follow_the_table(table_copy, labels):
    edit_row(table_copy, "agri_landfill_methane", value="70000")
    coefficients = load_coefficients(load_flows(table_copy), DATA / "coefficients.yaml")
    assert coefficients["ch4_per_t_organic_landfilled"].value == pytest.approx(70000 / 600000)


def test_consistency_report_shows_the_reports_disagreements(flows):
    results = {r.id: r for r in run_consistency_checks(flows)}
    landfill = results["landfill_delivered_vs_sorting_capacity"]
    assert not landfill.agrees and (landfill.left, landfill.right) == (480e3, 550e3)
    assert not results["materials_used_5_6_vs_11"].agrees
    assert results["materials_used_components"].agrees
    assert not results["minerals_printed_vs_sand_gravel"].agrees
    assert results["minerals_corrected_vs_sand_gravel"].agrees
    assert results["footprint_total"].agrees


def test_expression_units_are_checked(flows):
    with pytest.raises(FlowDataError, match="mixed units"):
        evaluate({"sum": ["city_recycled", "agri_landfill_methane"]}, flows)
    assert evaluate({"product": ["city_materials_used", "city_imported_share"]}, flows).value == pytest.approx(6.93e6)


# --- Sankey -------------------------------------------------------------------------------------

def test_sankey_links_equal_table_values(flows, labels):
    diagrams = load_sankey_diagrams(flows, labels)
    assert set(diagrams) == {"city", "agrifood", "construction", "industry"}
    for diagram in diagrams.values():
        for link in diagram.links:
            if not link.derived:
                assert link.value == flow_value(flows, link.rows[0])
    city = diagrams["city"]
    assert city.inflow()["city"] == pytest.approx(flow_value(flows, "city_materials_used"))
    assert city.outflow()["city"] == pytest.approx(city.inflow()["city"])  # the remainder link balances the node
    construction = diagrams["construction"]
    assert construction.inflow()["construction"] == pytest.approx(286e3 + 80e3 + 1456e3)
    assert construction.inflow()["stock_residential"] == pytest.approx(0.33 * 1.7e6)
    agri = diagrams["agrifood"]
    assert agri.inflow()["landfill"] == pytest.approx(600e3 + 48e3)


def test_sankey_figure_carries_the_values_and_all_languages(flows, labels):
    diagram = load_sankey_diagrams(flows, labels)["industry"]
    figure = sankey_figure(diagram, labels, "kk")
    trace = figure.data[0]
    assert list(trace.link.value) == [link.value for link in diagram.links]
    assert sum(trace.link.value[:4]) == pytest.approx(2.3e6 + 328e3 + 0.5e6 + 1e6)
    assert any("Өнеркәсіп" in label for label in trace.node.label)
    buttons = figure.layout.updatemenus[0].buttons
    assert [b.label for b in buttons] == ["RU", "KK", "EN"]
    assert any("Industry" in label for label in buttons[2].args[0]["node.label"][0])


def test_sankey_layout_with_unknown_row_is_one_line(tmp_path, flows, labels):
    layout = tmp_path / "sankey.yaml"
    layout.write_text("diagrams:\n  x:\n    title: {ru: a, kk: b, en: c}\n    links:\n      - {row: no_such_row}\n", encoding="utf-8")
    with pytest.raises(FlowDataError, match="no row with id 'no_such_row'"):
        load_sankey_diagrams(flows, labels, layout)


# --- CLI ---------------------------------------------------------------------------------------

def test_cli_flows_end_to_end(tmp_path, capsys):
    out = tmp_path / "sankey"
    assert main(["flows", "--lang", "en", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "agri_organic_waste_landfill" in printed and "DISAGREE landfill_delivered_vs_sorting_capacity" in printed
    files = sorted(p.name for p in out.iterdir())
    assert files == [".geo-almaty-output", "sankey.html"]
    html = (out / "sankey.html").read_text(encoding="utf-8")
    assert '<html lang="en" data-lang="en">' in html and "<title>" in html
    assert not re.search(r"<script[^>]+src=", html), "the page must not load scripts"
    assert html.count('class="ga-sankey"') == 4 and html.count("<svg") == 8 and len(html) < 500_000
    assert "553\u00a0kt/yr" in html and "553\u00a0тыс. т/год" in html, "values in kt/yr, formatted per language"


def test_cli_flows_bad_table_prints_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch):
    home = tmp_path / "home"
    shutil.copytree(DATA, home / "data")
    edit_row(home / "data" / "flows.csv", "city_recycled", unit="bananas")
    monkeypatch.setenv("GEO_ALMATY_HOME", str(home))
    out = tmp_path / "out"
    assert main(["flows", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("geo-almaty: error:") and "\n" not in err and "unknown unit 'bananas'" in err
    assert not out.exists()


def test_public_api_names_resolve():
    import geo_almaty

    for name in geo_almaty._API:
        assert callable(getattr(geo_almaty, name)), name
    with pytest.raises(AttributeError):
        geo_almaty.no_such_function  # noqa: B018
