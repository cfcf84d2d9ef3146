"""`geo-almaty score` on the embedded data: outputs for the akimat's GIS, and sites that follow the report's logic."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio

from geo_almaty.cli import main
from geo_almaty.export import read_csv
from geo_almaty.pipeline import load_inputs, score_facility

from .synthetic import tiny_world, write_profile

FACILITIES = ("composting_hub", "material_bank", "reuse_warehouse")


@pytest.fixture(scope="module")
def inputs():
    return load_inputs(profiles=list(FACILITIES))


@pytest.fixture(scope="module")
def outcomes(inputs):
    return {f: score_facility(inputs, f) for f in FACILITIES}


def test_cli_score_writes_geopackage_csv_and_geotiff(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["score", "--facility", "composting_hub", "--top", "5", "--lang", "kk", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "#1" in printed and "#5" in printed
    gpkg = out / "composting_hub_sites.gpkg"
    assert sorted(name for name, _ in pyogrio.list_layers(gpkg)) == ["candidates", "criteria", "siting_rules", "top_sites"]
    criteria = pyogrio.read_dataframe(gpkg, layer="criteria")
    assert criteria.weight.sum() == pytest.approx(1.0) and (criteria.report_lines.str.startswith("L")).all()
    top = gpd.read_file(gpkg, layer="top_sites")
    assert len(top) == 5 and top.crs.to_epsg() == 4326
    assert {"food_industry_supply_raw", "food_industry_supply_value", "food_industry_supply_weight", "food_industry_supply_contrib"} <= set(top.columns)
    rows = read_csv(out / "composting_hub_top5.csv")
    assert list(rows["rank"]) == [1, 2, 3, 4, 5]
    assert "→" in rows.reasons[0] and "тамақ өнеркәсібі" in rows.reasons[0]  # Kazakh criterion label
    assert "20 км радиусында" in rows.reasons[0]
    assert rows["reach_food_industry_organic_t_per_yr"][0] > 0
    with rasterio.open(out / "composting_hub_score.tif") as src:
        assert src.crs.to_epsg() == 32643
        data = src.read(1)
        assert np.nanmax(data) == pytest.approx(rows.score[0], abs=1e-6)
    assert not list(out.glob(".*tmp*"))  # no temporary files left behind


def test_cli_score_bad_facility_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["score", "--facility", "incinerator", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no such facility profile" in err
    assert not out.exists()


def test_cli_score_hexagons_with_a_user_catalog_and_profile(tmp_path):
    catalog = tiny_world(tmp_path)
    profile = write_profile(tmp_path, "farm_hub", [
        {"id": "farm", "type": "distance", "layer": "organic_producers", "value": {"function": "linear", "low": 4000, "high": 0}, "weight": 1}])
    out = tmp_path / "out"
    assert main(["score", "--facility", str(profile), "--catalog", str(catalog), "--shape", "hex", "--top", "2", "--out", str(out)]) == 0
    top = read_csv(out / "farm_hub_top2.csv")
    assert len(top) == 2 and top.candidate_id[0].startswith("89")  # H3 resolution-9 index
    with rasterio.open(out / "farm_hub_score.tif") as src:
        assert np.isfinite(src.read(1)).sum() > 100


def test_cli_score_names_a_layer_the_profile_needs(tmp_path, capsys):
    catalog = tiny_world(tmp_path)
    out = tmp_path / "out"
    assert main(["score", "--facility", "reuse_warehouse", "--catalog", str(catalog), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "layer 'recycling_points'" in err and "no data" in err
    assert not out.exists()


def test_composting_hubs_avoid_housing_and_sit_near_feedstock(outcomes, inputs):
    outcome = outcomes["composting_hub"]
    result = outcome.result
    chosen = outcome.selection.candidate.to_numpy()
    assert len(chosen) == outcome.profile.top_n
    residential = inputs.study.class_share(["residential", "mixed_commercial"]).ravel()[result.candidates.cell[chosen]]
    assert (residential == 0).all()
    feedstock = np.zeros(len(chosen))
    for criterion in ("food_industry_supply", "household_organic", "green_waste"):  # the hubs stage requires some within reach
        feedstock += np.nan_to_num(result.raw[chosen, result.criterion_index(criterion)])
    assert (feedstock > 0).all() and outcome.selection.stage_condition_met.all()
    supply = result.raw[chosen, result.criterion_index("food_industry_supply")]
    assert supply[0] > 0 and (supply > 0).sum() >= len(chosen) // 2


def test_material_banks_sit_near_industry_and_outside_heritage(outcomes, inputs):
    outcome = outcomes["material_bank"]
    result = outcome.result
    chosen = outcome.selection.candidate.to_numpy()
    assert (result.exclusion[chosen] == "").all()
    industrial = result.raw[chosen, result.criterion_index("industrial_land")]
    planned = result.raw[chosen, result.criterion_index("planned_zones")]
    assert ((industrial > 0) | (planned < 5000)).mean() >= 0.8


def test_reuse_warehouses_are_where_people_live_and_spread_over_districts(outcomes):
    outcome = outcomes["reuse_warehouse"]
    result = outcome.result
    chosen = outcome.selection.candidate.to_numpy()
    assert outcome.selection.district_id.is_unique
    assert (result.raw[chosen, result.criterion_index("residential_mix")] > 0.3).mean() >= 0.75


def test_every_top_site_has_reasons_and_reach(outcomes, inputs):
    from geo_almaty.explain import site_reasons, tonnage_reached

    for facility, outcome in outcomes.items():
        for site in outcome.selection.candidate:
            reasons = site_reasons(outcome.result, int(site), "ru", inputs.allocations)
            assert len(reasons) >= 3, facility
            assert tonnage_reached(outcome.result, int(site), inputs.allocations), facility
