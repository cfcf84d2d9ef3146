"""Location-allocation under uncertain supply (geo_almaty.locate.uncertainty) on the tiny world, and its CLI."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from geo_almaty.cli import main
from geo_almaty.export import read_csv
from geo_almaty.locate import locate_facility, locate_under_uncertainty, spread_sites, spread_table, write_locate_spread_outputs
from geo_almaty.robust import load_uncertainty
from geo_almaty.robust.analysis import allocation_factors, draw_samples, source_generators
from geo_almaty.pipeline import load_inputs

from .synthetic import tiny_world
from .test_locate import TEXT, locate_profile

#: Flow rows the tiny hub's two supply flows depend on (data/allocation.yaml).
FOOD_ROW, HOUSEHOLD_ROW = "agri_companies_organic_waste", "waste_msw_removed"


def _ranges(folder, name: str, relative: float) -> object:
    """An uncertainty file with a symmetric triangular range of ±``relative`` (0: zero width) on both supply rows."""
    note = {"reason": "judgement", "note": "a test range", "relative": {"below": relative, "above": relative}}
    document = {"version": 1, "flows": {FOOD_ROW: note, HOUSEHOLD_ROW: note}}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Inputs, a set-cover profile with 40 kt/yr sites (several open) and its base outcome."""
    folder = tmp_path_factory.mktemp("locate_uncertainty")
    inputs = load_inputs(tiny_world(folder))
    bands = [{"id": "mid", "label": TEXT, "capacity_t_yr": 40_000, "source": "test"}]
    profile = str(locate_profile(folder, model="set_cover", band="mid", size_bands=bands))
    base = locate_facility(inputs, profile, gap=1e-6, time_limit=30)
    return folder, inputs, profile, base


def test_zero_width_ranges_reproduce_the_base_solution(world):
    folder, inputs, _, base = world
    collapsed = load_uncertainty(inputs.flows, _ranges(folder, "collapsed", 0.0))
    spread = locate_under_uncertainty(inputs, base, samples=4, seed=3, uncertainty=collapsed)
    assert all(np.all(f == 1.0) for f in spread.factors.values())
    sites = spread_sites(spread)
    assert set(sites.site_id) == set(base.locations.frame.site_id.iloc[base.site_location])
    assert (sites.share_opened == 1.0).all() and sites.base_opened.all() and (sites.usual_band == sites.base_band).all()
    table = spread_table(spread).set_index("figure")
    assert (table.samples == 4).all()
    for column in ("p05", "p50", "p95", "min", "max"):
        assert table[column].to_numpy() == pytest.approx(table["base"].to_numpy(), rel=1e-6)  # whole-kg rounding per cell


def test_wider_supply_brackets_the_base_and_same_seed_gives_the_same_tables(world):
    folder, inputs, _, base = world
    wide = load_uncertainty(inputs.flows, _ranges(folder, "wide", 0.5))
    spread = locate_under_uncertainty(inputs, base, samples=12, seed=7, uncertainty=wide)
    assert spread.rows["food_industry_organic"] == (FOOD_ROW,) and HOUSEHOLD_ROW in spread.rows["household_organic"]
    table = spread_table(spread).set_index("figure")
    for figure in ("supply", "served", "tonne_km", "sites_opened"):
        row = table.loc[figure]
        assert row.p05 <= row.base <= row.p95 and row.p05 < row.p95, figure
    assert table.loc["supply", "min"] < 0.75 * table.loc["supply", "base"] < table.loc["supply", "p50"]  # really varied
    sites = spread_sites(spread)
    assert sites.share_opened.between(0, 1).all() and (sites.share_opened < 1).any()  # some site opens only in some samples
    assert set(sites.site_id[sites.base_opened]) == set(base.locations.frame.site_id.iloc[base.site_location])
    # Every sample's served tonnes are its supply (set cover serves everything), and its sites hold them.
    feasible = spread.figures[spread.feasible]
    assert feasible.served.to_numpy() == pytest.approx(feasible.supply.to_numpy(), rel=1e-9)
    assert (feasible.served <= feasible.sites_opened * 40_000 + 1e-6).all()
    again = locate_under_uncertainty(inputs, base, samples=12, seed=7, uncertainty=wide)
    pd.testing.assert_frame_equal(spread_sites(again), sites)
    pd.testing.assert_frame_equal(spread_table(again), spread_table(spread))
    other = locate_under_uncertainty(inputs, base, samples=12, seed=8, uncertainty=wide)
    assert not spread_table(other).equals(spread_table(spread))


def test_samples_use_the_robust_commands_flow_draws(world):
    """The factors are the supply totals of ``geo-almaty robust``'s flow source for the same seed."""
    folder, inputs, _, base = world
    wide = load_uncertainty(inputs.flows, _ranges(folder, "wide_draws", 0.3))
    spread = locate_under_uncertainty(inputs, base, samples=5, seed=11, uncertainty=wide)
    drawn = wide.flows[FOOD_ROW].sample(source_generators(11)["flows"], 5)  # the first row of the file is drawn first
    base_total = inputs.flows.loc[FOOD_ROW, "value_canonical"]
    assert spread.factors["food_industry_organic"] == pytest.approx(drawn / base_total, rel=1e-12)
    assert allocation_factors({}, wide, inputs.flows, source_generators(0)["flows"], 5) == {}


def test_a_supply_no_model_can_serve_is_counted_not_fatal(world):
    folder, inputs, profile, _ = world
    pmedian = locate_facility(inputs, profile, model="pmedian", k=5, gap=1e-4, time_limit=10)  # 5 × 40 kt for ~185 kt
    spread = locate_under_uncertainty(inputs, pmedian, samples=8, seed=2, uncertainty=load_uncertainty(inputs.flows,
                                                                                                          _ranges(folder, "big", 0.6)))
    table = spread_table(spread).set_index("figure")
    infeasible = int((~spread.feasible).sum())
    assert 0 < infeasible < 8
    assert table.loc["supply", "samples"] == 8 and table.loc["served", "samples"] == 8 - infeasible
    assert (spread.band[~spread.feasible] == -1).all()
    assert (table.loc["served", ["p95", "max"]] <= 200_000 + 1e-6).all()


def test_bad_arguments_are_one_line_errors(world):
    _, inputs, _, base = world
    with pytest.raises(Exception, match="at least one sample"):
        locate_under_uncertainty(inputs, base, samples=0)
    with pytest.raises(Exception, match="positive number of seconds"):
        locate_under_uncertainty(inputs, base, samples=2, time_limit_s=0)


def test_spread_files_use_the_spreadsheet_csv(world, tmp_path):
    folder, inputs, _, base = world
    spread = locate_under_uncertainty(inputs, base, samples=3, seed=1, uncertainty=load_uncertainty(inputs.flows, _ranges(folder, "csv", 0.2)))
    robust_path, spread_path = write_locate_spread_outputs(spread, tmp_path)
    assert robust_path.name == "tiny_hub_locate_robust.csv" and spread_path.name == "tiny_hub_locate_spread.csv"
    raw = spread_path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b";" in raw and b"\r\n" in raw
    sites = read_csv(robust_path)
    assert list(sites.columns[:6]) == ["site_id", "facility", "kind", "lon", "lat", "share_opened"]
    assert sites.lon.between(76, 78).all() and sites.lat.between(42.5, 44).all()
    assert read_csv(spread_path).figure.tolist() == spread_table(spread).figure.tolist()


def test_draw_samples_keeps_its_flow_draws(world):
    """Refactoring the generators out of draw_samples kept robust's draws: flows come from the second spawned generator."""
    _, inputs, _, _ = world
    import types

    from geo_almaty.robust.model import allocation_total

    uncertainty = load_uncertainty(inputs.flows)
    totals = {"food_industry_organic": allocation_total("food_industry_organic", inputs.allocation_specs["food_industry_organic"],
                                                        inputs.flows, uncertainty)}
    model = types.SimpleNamespace(profile=types.SimpleNamespace(weights={"method": "direct"}), sources=("flows",),
                                  weights=np.array([1.0]), totals=totals, point_layers={})
    draws, _ = draw_samples(model, uncertainty, inputs.flows, samples=6, seed=5)
    rng = np.random.default_rng(np.random.SeedSequence(5).spawn(3)[1])  # how draw_samples derived its flow generator before
    expected = {row: r.sample(rng, 6) for row, r in uncertainty.flows.items()}[FOOD_ROW]
    assert draws.total_factors["food_industry_organic"] == pytest.approx(expected / totals["food_industry_organic"].base, rel=1e-12)


# --- the CLI -------------------------------------------------------------------------------------------------

def test_cli_locate_samples_writes_both_tables_and_a_summary(world, tmp_path, capsys):
    folder, _, profile, _ = world
    out = tmp_path / "out"
    catalog = folder / "catalog.yaml"
    args = ["locate", "--facility", profile, "--catalog", str(catalog), "--gap", "0.000001", "--time-limit", "30", "--lang", "en"]
    assert main([*args, "--samples", "3", "--seed", "4", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Under 3 supply samples (seed 4" in printed and "opened in" in printed
    sites = read_csv(out / "tiny_hub_locate_robust.csv")
    spread = read_csv(out / "tiny_hub_locate_spread.csv")
    assert {"share_opened", "usual_band", "base_opened", "lon", "lat", "kind"} <= set(sites.columns)
    assert spread.set_index("figure").loc["sites_opened", "samples"] == 3
    assert (out / "tiny_hub_locate_sites.csv").exists()  # the base outputs are still there
    again = tmp_path / "again"
    assert main([*args, "--samples", "3", "--seed", "4", "--out", str(again)]) == 0
    for name in ("tiny_hub_locate_robust.csv", "tiny_hub_locate_spread.csv"):
        assert (again / name).read_bytes() == (out / name).read_bytes()
    plain = tmp_path / "plain"
    assert main([*args, "--out", str(plain)]) == 0
    assert not list(plain.glob("*_locate_robust.csv")) and not list(plain.glob("*_locate_spread.csv"))


@pytest.mark.parametrize("bad", [["--samples", "-1"], ["--samples", "x"], ["--seed", "-2", "--samples", "2"],
                                 ["--samples", "2", "--sample-time-limit", "0"]])
def test_cli_locate_bad_samples_exit_2_and_write_nothing(world, tmp_path, capsys, bad):
    _, _, profile, _ = world
    out = tmp_path / "out"
    try:
        status = main(["locate", "--facility", profile, *bad, "--out", str(out)])
    except SystemExit as exc:  # argparse refuses malformed options itself, with the same one-line form
        status = exc.code
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "error" in err
    assert not out.exists()
