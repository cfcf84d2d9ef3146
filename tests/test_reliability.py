"""Issue 14, "Nothing breaks, nothing lies": one test per bad input a careless user tried.

Each case: a one-line error with exit 2 (or an honest warning), nothing written,
no traceback. Most run on the tiny synthetic world (tests/synthetic.py) with a
one-criterion profile, so they take well under a second each.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo_almaty import atomic, settings
from geo_almaty.catalog import load_catalog
from geo_almaty.cli import EXIT_BAD_INPUT, EXIT_INTERNAL, EXIT_UNUSABLE, main
from geo_almaty.errors import CatalogError, InputError, LayerError, OutputError, ProfileError, SelectionError

from .conftest import point, write_catalog, write_geojson
from .synthetic import CX, CY, HALF, tiny_world, write_profile


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> tuple[Path, Path]:
    """The tiny world's catalog and a one-criterion profile scoring it."""
    folder = tmp_path_factory.mktemp("world")
    catalog = tiny_world(folder)
    profile = write_profile(folder, "farm_hub", [
        {"id": "farm", "type": "distance", "layer": "organic_producers", "value": {"function": "linear", "low": 4000, "high": 0}, "weight": 1}],
        selection={"top_n": 2, "min_spacing_m": 500})
    return catalog, profile


def score_args(world, out: Path, *extra: str) -> list[str]:
    catalog, profile = world
    return ["score", "--facility", str(profile), "--catalog", str(catalog), "--out", str(out), *extra]


def one_line_error(capsys, *fragments: str) -> str:
    """The CLI's stderr: exactly one line, no traceback, holding every fragment."""
    err = [line for line in capsys.readouterr().err.replace("\r", "\n").splitlines() if line.startswith("geo-almaty")]
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    for fragment in fragments:
        assert fragment in err[0], (fragment, err[0])
    return err[0]


def tree(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` by relative path."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- 1. every user error is one line with exit 2 ----------------------------------------------

@pytest.mark.parametrize("command", ["score", "run", "flows"])
def test_out_pointing_at_an_existing_file_is_refused(tmp_path, capsys, world, command):
    target = tmp_path / "results.txt"
    target.write_text("mine", encoding="utf-8")
    args = score_args(world, target) if command == "score" else [command, "--out", str(target)]
    assert main(args) == EXIT_BAD_INPUT
    one_line_error(capsys, "results.txt", "is a file")
    assert target.read_text(encoding="utf-8") == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["results.txt"]


@pytest.mark.parametrize("value,fragment", [("inf", "finite"), ("nan", "finite"), ("-250", "finite number > 0"), ("0", "> 0"),
                                            ("abc", "not a number")])
def test_bad_cell_size_is_refused_by_the_parser(tmp_path, capsys, world, value, fragment):
    with pytest.raises(SystemExit) as exc:
        main(score_args(world, tmp_path / "out", "--cell-size", value))
    assert exc.value.code == EXIT_BAD_INPUT
    one_line_error(capsys, "--cell-size", fragment)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_top_below_one_is_refused(tmp_path, capsys, world, value):
    with pytest.raises(SystemExit) as exc:
        main(score_args(world, tmp_path / "out", "--top", value))
    assert exc.value.code == EXIT_BAD_INPUT
    one_line_error(capsys, "--top")


def test_top_below_one_is_refused_by_the_library(world):
    from geo_almaty.pipeline import load_inputs, score_facility

    catalog, profile = world
    inputs = load_inputs(catalog, 500, profiles=[str(profile)])
    with pytest.raises(SelectionError, match="0 sites requested"):
        score_facility(inputs, profile, top_n=0)


def test_cell_size_larger_than_the_study_area_is_refused(tmp_path, capsys, world):
    assert main(score_args(world, tmp_path / "out", "--cell-size", "1e9")) == EXIT_BAD_INPUT
    one_line_error(capsys, "cell size 1e+09 m is too coarse", "study area")
    assert not (tmp_path / "out").exists()


def test_no_candidate_at_all_is_an_error_not_empty_files(tmp_path, capsys):
    """A study area (a thin diagonal strip) that holds no cell centre: an error, not empty files."""
    catalog = tiny_world(tmp_path)
    # Cell centres lie at CX + 125 + 250 i, CY + 125 + 250 j, so y - x - (CY - CX) is a multiple of 250 at every centre;
    # the strip keeps that difference within 110-140 m.
    strip = shapely.Polygon([(CX - HALF, CY - HALF + 110), (CX + HALF, CY + HALF + 110), (CX + HALF, CY + HALF + 140), (CX - HALF, CY - HALF + 140)])
    collection = json.loads((tmp_path / "study_area.geojson").read_text(encoding="utf-8"))
    collection["features"][0]["geometry"] = shapely.geometry.mapping(strip)
    (tmp_path / "study_area.geojson").write_text(json.dumps(collection), encoding="utf-8")
    profile = write_profile(tmp_path, "p", [
        {"id": "farm", "type": "distance", "layer": "organic_producers", "value": {"function": "linear", "low": 4000, "high": 0}, "weight": 1}])
    assert main(["score", "--facility", str(profile), "--catalog", str(catalog), "--out", str(tmp_path / "out")]) == EXIT_BAD_INPUT
    one_line_error(capsys, "no candidate site", "finer --cell-size")
    assert not (tmp_path / "out").exists()


def test_every_candidate_excluded_is_an_error(tmp_path, capsys, world):
    catalog, _ = world
    profile = write_profile(tmp_path, "nowhere", [
        {"id": "farm", "type": "distance", "layer": "organic_producers", "value": {"function": "linear", "low": 4000, "high": 0}, "weight": 1}],
        exclusions=[{"id": "everything", "label": {"ru": "в", "kk": "б", "en": "all"}, "layer": "study_area", "buffer_m": 100, "report_lines": "L1"}])
    assert main(["score", "--facility", str(profile), "--catalog", str(catalog), "--out", str(tmp_path / "out")]) == EXIT_BAD_INPUT
    one_line_error(capsys, "all 256 candidates are excluded", "256 by everything")
    assert not (tmp_path / "out").exists()


def test_bad_memory_budget_is_refused(tmp_path, capsys, world):
    with pytest.raises(SystemExit):
        main(score_args(world, tmp_path / "out", "--memory-budget", "lots"))
    one_line_error(capsys, "--memory-budget", "not a memory size")


def test_internal_error_is_one_line_and_a_log_with_the_traceback(tmp_path, capsys, monkeypatch, world):
    import geo_almaty.pipeline

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug, not the user's fault")

    monkeypatch.setattr(geo_almaty.pipeline, "score_facility", broken)
    monkeypatch.setenv("GEO_ALMATY_LOG_DIR", str(tmp_path / "logs"))
    assert main(score_args(world, tmp_path / "out")) == EXIT_INTERNAL
    line = one_line_error(capsys, "internal error: ZeroDivisionError: a bug", "traceback in")
    log = Path(re.search(r"traceback in (\S+);", line).group(1))
    assert log.parent == tmp_path / "logs" and "Traceback (most recent call last)" in log.read_text(encoding="utf-8")
    assert "geo-almaty score --facility" in log.read_text(encoding="utf-8")
    assert not (tmp_path / "out").exists()


# --- 2. all-or-nothing output -------------------------------------------------------------------

def test_existing_output_is_refused_without_overwrite_and_replaced_as_a_whole_with_it(tmp_path, capsys, world):
    out = tmp_path / "out"
    assert main(score_args(world, out, "--top", "2")) == 0
    assert (out / "farm_hub_top2.csv").is_file() and (out / atomic.OUTPUT_MARKER).is_file()
    before = tree(out)
    assert main(score_args(world, out, "--top", "1")) == EXIT_BAD_INPUT
    one_line_error(capsys, "already exists", "--overwrite")
    assert tree(out) == before
    assert main(score_args(world, out, "--top", "1", "--overwrite")) == 0
    names = sorted(p.name for p in out.iterdir())
    assert "farm_hub_top1.csv" in names and "farm_hub_top2.csv" not in names  # no stale file of the earlier run
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # no staging left


def test_an_empty_existing_folder_is_used_without_overwrite(tmp_path, world):
    out = tmp_path / "out"
    out.mkdir()
    assert main(score_args(world, out)) == 0
    assert (out / "farm_hub_top2.csv").is_file()


def test_overwrite_never_deletes_a_folder_of_the_users_own_files(tmp_path, capsys, world):
    out = tmp_path / "Documents"
    out.mkdir()
    (out / "thesis.docx").write_text("years of work", encoding="utf-8")
    assert main(score_args(world, out, "--overwrite")) == EXIT_BAD_INPUT
    one_line_error(capsys, "not written by geo-almaty", "not replaced")
    assert (out / "thesis.docx").read_text(encoding="utf-8") == "years of work"


def test_unwritable_out_folder_is_refused_before_any_work(tmp_path, capsys, monkeypatch, world):
    """An --out in a read-only folder fails at once, not after the scoring (simulated: root ignores permissions)."""
    import geo_almaty.pipeline

    locked = tmp_path / "locked"
    locked.mkdir()
    if os.geteuid() != 0:
        locked.chmod(0o555)
    else:  # root writes anywhere, so the OS refusal is simulated at the system call
        real_mkdir = os.mkdir

        def mkdir(path, *args, **kwargs):
            if Path(path).parent == locked:
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real_mkdir(path, *args, **kwargs)

        monkeypatch.setattr(os, "mkdir", mkdir)

    def must_not_run(*args, **kwargs):
        raise AssertionError("work started before the output place was checked")

    monkeypatch.setattr(geo_almaty.pipeline, "load_inputs", must_not_run)
    try:
        assert main(score_args(world, locked / "out")) == EXIT_BAD_INPUT
        one_line_error(capsys, "cannot write: Permission denied", "--out")
    finally:
        locked.chmod(0o755)
    assert list(locked.iterdir()) == []


def test_a_failure_late_in_run_leaves_the_previous_output_untouched(tmp_path, monkeypatch):
    """The issue's case: flows/ could not be written after 10 result files. Now nothing of the new run appears."""
    import geo_almaty.render.sankey_page

    out = tmp_path / "almaty_out"
    out.mkdir()
    (out / atomic.OUTPUT_MARKER).write_text("previous\n", encoding="utf-8")
    (out / "index.html").write_text("<p>previous run</p>", encoding="utf-8")
    before = tree(out)

    def unwritable(diagrams, labels, out_dir, lang, **options):
        raise PermissionError(errno.EACCES, "Permission denied", str(Path(out_dir) / "sankey.html"))

    monkeypatch.setattr(geo_almaty.render.sankey_page, "write_sankey_page", unwritable)
    assert main(["run", "--cell-size", "2000", "--out", str(out), "--overwrite"]) == EXIT_BAD_INPUT
    assert tree(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["almaty_out"]


def test_staged_files_replace_their_targets_and_drop_stale_companions(tmp_path):
    (tmp_path / "osm.drive.graphml").write_text("old graph", encoding="utf-8")
    (tmp_path / "osm.gpkg").write_text("old", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    names = ["osm.gpkg", "osm.drive.graphml", "osm.catalog.yaml"]
    with pytest.raises(OutputError, match="already exists"):
        with atomic.staged_output(tmp_path, files=names):
            pass
    with atomic.staged_output(tmp_path, files=names, overwrite=True) as stage:
        (stage / "osm.gpkg").write_text("new", encoding="utf-8")
        (stage / "osm.catalog.yaml").write_text("catalog", encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "osm.catalog.yaml", "osm.gpkg"]
    assert (tmp_path / "osm.gpkg").read_text(encoding="utf-8") == "new"


def test_an_error_inside_the_stage_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic.staged_output(tmp_path / "a" / "b" / "out") as stage:
            (stage / "half.csv").write_text("x", encoding="utf-8")
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []  # the staging folder and the parents it created are gone


def test_leftovers_of_a_killed_process_are_cleaned_and_a_half_replaced_output_restored(tmp_path):
    dead = 2**22 + 12345  # above Linux's default pid_max, so no process has it
    (tmp_path / f".out.staging-{dead}-abcd1234").mkdir()
    old = tmp_path / f".out.old-{dead}-abcd1234"
    old.mkdir()
    (old / "index.html").write_text("previous", encoding="utf-8")
    with pytest.raises(OutputError, match="already exists"):  # the previous output is back, so it is refused
        with atomic.staged_output(tmp_path / "out"):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert (tmp_path / "out" / "index.html").read_text(encoding="utf-8") == "previous"


# --- 3. memory bounded ---------------------------------------------------------------------------

@pytest.mark.parametrize("extra,fragments", [
    # too large for memory, and for tiles too (settings.MAX_TILED_CELLS): `score` tiles a grid above the budget
    (["--cell-size", "5"], ["GiB", "cells of 5 m", "square candidates", "more than a tiled score takes", "--cell-size 20 or more"]),
    (["--shape", "hex", "--cell-size", "20"], ["GiB", "hex candidates", "--shape square"]),
])
def test_grids_too_large_for_memory_are_refused_with_the_estimate(tmp_path, capsys, extra, fragments):
    out = tmp_path / "out"
    assert main(["score", "--facility", "composting_hub", "--memory-budget", "8GiB", "--out", str(out), *extra]) == EXIT_BAD_INPUT
    one_line_error(capsys, "more than the memory budget of 8.0 GiB", *fragments)
    assert not out.exists()


def test_memory_estimate_bounds_the_measured_peak(world):
    """The estimate is above what the stages really allocate (numpy arrays traced by tracemalloc), and not far above."""
    import tracemalloc

    from geo_almaty.memory import estimate_memory, workload_for
    from geo_almaty.pipeline import load_inputs, score_facility
    from geo_almaty.profiles import load_profile

    catalog, profile = world
    tracemalloc.start()
    try:
        inputs = load_inputs(catalog, 10, profiles=[str(profile)])  # 400 × 400 cells: per-cell arrays dominate
        score_facility(inputs, profile)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    study = inputs.study
    workload = workload_for(study.grid, study.area, study.layers, inputs.catalog, profiles=[load_profile(profile)],
                            allocation_specs=inputs.allocation_specs)
    estimate = estimate_memory(workload).peak
    assert peak < estimate < 3 * peak, (peak, estimate)


def test_memory_estimate_scales_and_inverts_for_tiling():
    from geo_almaty.grid import AnalysisGrid
    from geo_almaty.memory import ProfileLoad, Workload, estimate_memory, parse_size, rescale, suggest_cell_size

    grid = AnalysisGrid.covering((0, 0, 100_000, 100_000), 100)
    workload = Workload(grid, 700_000, land_use_classes=16, allocations=5, allocation_coverage=0.1, profiles=(ProfileLoad(11, 7, (20_000.0,)),),
                        study_area_m2=7e9)
    estimate = estimate_memory(workload)
    finer = estimate_memory(rescale(workload, 50))
    assert 3.5 < finer.peak / estimate.peak < 4.5  # four times the cells, about four times the memory
    budget = estimate.peak // 3
    tile = estimate.max_cells(budget)  # tiling: how many cells of this density fit a third of the memory
    tiled = estimate_memory(rescale(workload, grid.cell_size * (workload.cells / tile) ** 0.5))
    assert 0.85 * budget < tiled.peak < 1.1 * budget
    budget = parse_size("2GB")
    fits = suggest_cell_size(rescale(workload, 10), budget)
    assert fits is not None and estimate_memory(rescale(workload, fits)).peak <= budget
    assert parse_size("4GiB") == 4 << 30 and parse_size("800MB") == 800_000_000


# --- selection finds the requested number of sites ---------------------------------------------

def reference_greedy(result, districts, top_n, spacing, per_district):
    """The plain rule, candidate by candidate over every candidate (slow, obviously right)."""
    scores = result.score
    valid = np.flatnonzero(np.isfinite(scores))
    chosen, per = [], {}
    for i in valid[np.lexsort((valid, -scores[valid]))]:
        if len(chosen) == top_n:
            break
        if chosen and (np.hypot(result.candidates.x[chosen] - result.candidates.x[i], result.candidates.y[chosen] - result.candidates.y[i]) < spacing).any():
            continue
        if per_district and districts[i] != "outside" and per.get(districts[i], 0) >= per_district:
            continue
        chosen.append(int(i))
        per[districts[i]] = per.get(districts[i], 0) + 1
    return chosen


def test_selection_widens_its_pool_until_it_finds_every_site(world, monkeypatch):
    """A pool of the best few candidates all clusters (as on a fine grid); widening still finds every site."""
    import geo_almaty.select as select
    from geo_almaty.pipeline import load_inputs, score_facility

    catalog, profile = world
    inputs = load_inputs(catalog, 125, profiles=[str(profile)])
    monkeypatch.setattr(select, "POOL_FACTOR", 1)
    outcome = score_facility(inputs, profile)
    result = outcome.result
    districts = select.candidate_districts(inputs.study, result)
    for top_n, spacing, per_district in [(4, 1500.0, None), (2, 0.0, 1), (6, 1000.0, 3)]:
        monkeypatch.setattr(select, "MIN_POOL", top_n)  # the first pool holds top_n candidates, side by side
        chosen = select.select_sites(result, inputs.study, top_n=top_n, min_spacing_m=spacing, max_per_district=per_district)
        assert list(chosen.candidate) == reference_greedy(result, districts, top_n, spacing, per_district)
        assert len(chosen) == top_n and "shortfall" not in chosen.attrs


def test_selection_says_why_it_finds_fewer_sites(world):
    from geo_almaty.pipeline import load_inputs, score_facility
    from geo_almaty.select import select_sites

    catalog, profile = world
    inputs = load_inputs(catalog, 250, profiles=[str(profile)])
    result = score_facility(inputs, profile).result
    chosen = select_sites(result, inputs.study, top_n=5, max_per_district=1)
    assert len(chosen) == 2  # two districts
    assert "found 2 of 5 sites" in chosen.attrs["shortfall"] and "max_per_district" in chosen.attrs["shortfall"]


# --- 4. checks that match reality --------------------------------------------------------------

def test_optional_criterion_without_data_warns_and_validate_agrees_with_run(tmp_path, capsys):
    """A catalog whose markets are all repair hubs has no food market: market_distance is skipped (with a warning) by
    validate and by the run alike."""
    markets = [{"properties": {"market_id": "m1", "class": "repair_hub", "name_ru": "Мастерская"},
                "geometry": {"type": "Point", "coordinates": [76.9, 43.25]}}]
    write_geojson(tmp_path / "markets.geojson", markets)
    catalog = write_catalog(tmp_path / "c.yaml", {"markets": {"source": {"path": "markets.geojson"}}})
    assert main(["layers", "validate", "--catalog", str(catalog), "--facility", "composting_hub"]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"profile composting_hub\s+ok.*optional criterion market_distance skipped.*no features of the requested classes", printed)
    assert main(["score", "--facility", "composting_hub", "--catalog", str(catalog), "--cell-size", "2000", "--out", str(tmp_path / "out")]) == 0


def test_required_data_missing_fails_validate_and_run_alike(tmp_path, capsys):
    """Districts without population: validate exits 1 and the run exits 2, for the same reason."""
    districts = [{"properties": {"district_id": f"d{i}", "name_ru": f"Район {i}"},
                  "geometry": {"type": "Polygon", "coordinates": [[[76.85 + 0.05 * i, 43.2], [76.9 + 0.05 * i, 43.2], [76.9 + 0.05 * i, 43.3],
                                                                   [76.85 + 0.05 * i, 43.3], [76.85 + 0.05 * i, 43.2]]]}} for i in range(2)]
    write_geojson(tmp_path / "d.geojson", districts)
    catalog = write_catalog(tmp_path / "c.yaml", {"districts": {"source": {"path": "d.geojson"}}})
    assert main(["layers", "validate", "--catalog", str(catalog)]) == EXIT_UNUSABLE
    captured = capsys.readouterr()
    assert re.search(r"flow allocation\s+UNUSABLE.*population", captured.out)
    assert main(["score", "--facility", "composting_hub", "--catalog", str(catalog), "--cell-size", "2000", "--out", str(tmp_path / "o")]) == 2
    one_line_error(capsys, "column 'population'", "population missing")


def test_required_criterion_without_data_fails_validate_and_score(tmp_path, capsys, world):
    catalog, _ = world  # the tiny world has no recycling points
    assert main(["layers", "validate", "--catalog", str(catalog), "--facility", "reuse_warehouse"]) == EXIT_UNUSABLE
    assert re.search(r"profile reuse_warehouse\s+UNUSABLE.*layer 'recycling_points'", capsys.readouterr().out)
    assert main(["score", "--facility", "reuse_warehouse", "--catalog", str(catalog), "--out", str(Path(catalog).parent / "o")]) == 2
    one_line_error(capsys, "layer 'recycling_points'", "no data")


def test_points_in_kyrgyzstan_are_refused(tmp_path):
    """65 km south of the centre, across the ridge: inside 150 km but far outside the study area."""
    features = [{"properties": {"point_id": "p1", "class": "collection_point", "operator": "X", "materials": "paper"}, "geometry": point(76.94, 43.24)},
                {"properties": {"point_id": "kg", "class": "collection_point", "operator": "X", "materials": "paper"}, "geometry": point(76.90, 42.65)}]
    write_geojson(tmp_path / "p.geojson", features)
    catalog = load_catalog(write_catalog(tmp_path / "c.yaml", {"recycling_points": {"source": {"path": "p.geojson"}}}))
    from geo_almaty.layers import load_layers

    with pytest.raises(LayerError) as exc:
        load_layers(catalog, ["recycling_points"])
    message = str(exc.value)
    assert "1 of 2 features lie outside the study area and the 20 km around it" in message and "feature kg" in message and "\n" not in message


def test_region_layers_may_reach_across_the_oblast(tmp_path):
    features = [{"properties": {"point_id": "far", "class": "collection_point", "operator": "X", "materials": "paper"}, "geometry": point(79.9, 44.0)}]
    write_geojson(tmp_path / "p.geojson", features)
    catalog = load_catalog(write_catalog(tmp_path / "c.yaml", {"recycling_points": {"extent": "region", "source": {"path": "p.geojson"}}}))
    from geo_almaty.layers import load_layers

    assert len(load_layers(catalog, ["recycling_points"])["recycling_points"]) == 1


@pytest.mark.parametrize("kind", ["catalog", "profile", "recipe"])
def test_duplicate_yaml_keys_are_errors(tmp_path, kind):
    from geo_almaty.profiles import load_profile
    from geo_almaty.render.recipes import load_recipe

    if kind == "catalog":
        path = tmp_path / "c.yaml"
        path.write_text("version: 1\nextends: embedded\nlayers:\n  districts:\n    source: {path: a.geojson}\n  districts:\n    source: {path: b.geojson}\n",
                        encoding="utf-8")
        with pytest.raises(CatalogError, match=r"duplicate key 'districts' \(first at line 4\)"):
            load_catalog(path)
        return
    source = settings.profiles_dir() / "composting_hub.yaml" if kind == "profile" else settings.maps_dir() / "citizen.yaml"
    text = source.read_text(encoding="utf-8")
    key = "id:" if kind == "profile" else "title:"
    first = text.index(f"\n{key}") + 1
    path = tmp_path / source.name
    path.write_text(text + "\n" + text[first:text.index("\n", first)] + "\n", encoding="utf-8")
    with pytest.raises(ProfileError if kind == "profile" else InputError, match="duplicate key"):
        load_profile(path) if kind == "profile" else load_recipe(str(path), load_catalog(), set())


def test_declared_crs_overrides_what_gdal_reports_for_geojson(tmp_path, caplog):
    """A GeoJSON in UTM metres without a crs member: GDAL says EPSG:4326; the catalog's crs: wins, with a warning."""
    features = [{"properties": {"point_id": "p1", "class": "collection_point", "operator": "X", "materials": "paper"},
                 "geometry": point(CX + 100.0, CY + 100.0)}]
    write_geojson(tmp_path / "utm.geojson", features)
    from geo_almaty.layers import read_layer

    plain = load_catalog(write_catalog(tmp_path / "a.yaml", {"recycling_points": {"source": {"path": "utm.geojson"}}}))
    with pytest.raises(LayerError, match="from Almaty"):
        read_layer(plain.layer("recycling_points"))
    declared = load_catalog(write_catalog(tmp_path / "b.yaml", {"recycling_points": {"source": {"path": "utm.geojson", "crs": "EPSG:32643"}}}))
    loaded = read_layer(declared.layer("recycling_points"))
    assert loaded.frame.geometry.iloc[0].x == pytest.approx(CX + 100.0)
    assert "source.crs EPSG:32643 overrides the file's CRS" in " ".join(loaded.report.notes)
    assert "overrides the file's CRS" in caplog.text


@pytest.mark.parametrize("crs", ["EPSG:999999", "not a crs", "EPSG:4978"])
def test_invalid_declared_crs_is_refused_when_the_catalog_is_read(tmp_path, crs):
    write_geojson(tmp_path / "p.geojson", [])
    with pytest.raises(CatalogError) as exc:
        load_catalog(write_catalog(tmp_path / "c.yaml", {"recycling_points": {"source": {"path": "p.geojson", "crs": crs}}}))
    assert "column 'source.crs'" in str(exc.value) and crs in str(exc.value)


def test_shapefile_without_cpg_gets_its_encoding_guessed_and_stated(tmp_path):
    frame = gpd.GeoDataFrame({"ID": ["zh"], "NAME": ["Жетысуский район"]}, geometry=[shapely.box(76.93, 43.26, 76.95, 43.28)], crs="EPSG:4326")
    frame.to_file(tmp_path / "d.shp", encoding="cp1251")
    (tmp_path / "d.cpg").unlink()
    from geo_almaty.layers import read_layer

    source = {"path": "d.shp", "columns": {"district_id": "ID", "name_ru": "NAME"}}
    catalog = load_catalog(write_catalog(tmp_path / "c.yaml", {"districts": {"source": source}}))
    loaded = read_layer(catalog.layer("districts"))
    assert loaded.frame.name_ru.iloc[0] == "Жетысуский район"  # not "Æåòûñóñêèé ðàéîí"
    assert "no .cpg beside the Shapefile: attribute text read as CP1251" in " ".join(loaded.report.notes)


@pytest.mark.parametrize("encoding,text,expected", [("utf-8", "Жетысуский район", "UTF-8"), ("cp866", "ЖЕТЫСУСКИЙ РАЙОН", "CP866"),
                                                    ("latin1", "Café Grüße", None), ("ascii", "Zhetysu", None)])
def test_encoding_guess(tmp_path, encoding, text, expected):
    from geo_almaty.layers import guess_dbf_encoding

    gpd.GeoDataFrame({"name": [text]}, geometry=[shapely.Point(76.9, 43.2)], crs="EPSG:4326").to_file(tmp_path / "p.shp", encoding=encoding)
    (tmp_path / "p.cpg").unlink(missing_ok=True)
    assert guess_dbf_encoding(tmp_path / "p.shp") == expected


def test_kazakh_code_page_is_told_from_cp1251(tmp_path):
    from geo_almaty.layers import guess_dbf_encoding

    placeholder = "x" * 20
    gpd.GeoDataFrame({"name": [placeholder]}, geometry=[shapely.Point(76.9, 43.2)], crs="EPSG:4326").to_file(tmp_path / "p.shp", encoding="cp1251")
    (tmp_path / "p.cpg").unlink()
    kazakh = "Қарасай ауданы".encode("kz1048").ljust(20)
    dbf = tmp_path / "p.dbf"
    dbf.write_bytes(dbf.read_bytes().replace(placeholder.encode(), kazakh))
    assert guess_dbf_encoding(tmp_path / "p.shp") == "RK1048"


# --- 5. real OSM data: broken objects dropped and counted --------------------------------------

BROKEN_PBF = Path(__file__).parent / "fixtures" / "osm" / "broken_geometry.osm.pbf"


def test_osm_object_with_a_two_point_ring_is_dropped_and_counted(tmp_path, caplog):
    """broken_geometry.osm.pbf (written from broken_geometry.osm with pyosmium) holds a closed way of two nodes:
    GDAL builds a 2-point ring, which made the whole import fail with a GEOS exception."""
    from geo_almaty import osm

    features = osm.read_osm_features(BROKEN_PBF, osm.load_mapping())
    assert features.attrs["broken_objects"] == ["way/11"]
    assert "1 OSM object(s) with a broken geometry dropped (e.g. way/11)" in caplog.text
    assert main(["layers", "fetch-osm", "--osm-file", str(BROKEN_PBF), "--out", str(tmp_path / "osm.gpkg")]) == 0
    assert (tmp_path / "osm.gpkg").is_file() and (tmp_path / "osm.catalog.yaml").is_file()


def test_real_osm_extract_imports(tmp_path, geodata_dir):
    source = geodata_dir / "aliilyas_osm_2013" / "almaty.osm.pbf"
    if not source.is_file():
        pytest.skip("the 2013 OSM extract is absent")
    assert main(["layers", "fetch-osm", "--osm-file", str(source), "--out", str(tmp_path / "osm.gpkg")]) == 0
    catalog = load_catalog(tmp_path / "osm.catalog.yaml")
    assert {"land_use", "roads", "recycling_points"} <= set(catalog.layers) and catalog.has_data("roads")


# --- 6. text safety ------------------------------------------------------------------------------

def test_nan_names_are_missing_everywhere(tmp_path):
    import pandas as pd

    from geo_almaty.explain import feature_name
    from geo_almaty.layers import read_layer

    features = [{"properties": {"road_id": "a", "class": "primary", "name_ru": "NaN", "name_en": "None"},
                 "geometry": {"type": "LineString", "coordinates": [[76.90, 43.24], [76.95, 43.24]]}},
                {"properties": {"road_id": "b", "class": "primary", "name_ru": "  ", "name_en": "Abay Avenue"},
                 "geometry": {"type": "LineString", "coordinates": [[76.90, 43.25], [76.95, 43.25]]}}]
    write_geojson(tmp_path / "r.geojson", features)
    catalog = load_catalog(write_catalog(tmp_path / "c.yaml", {"roads": {"source": {"path": "r.geojson"}}}))
    frame = read_layer(catalog.layer("roads")).frame
    assert frame.name_ru.isna().all() and pd.isna(frame.name_en.iloc[0])
    assert feature_name(frame, 0, "ru") is None and feature_name(frame, 1, "ru") == "Abay Avenue"
    # and text already in memory (a frame built by hand) is cleaned at the point of use
    assert feature_name(pd.DataFrame({"name_ru": ["NaN"], "name_en": [float("nan")]}), 0, "ru") is None


def test_csv_is_excel_friendly_and_formula_safe(tmp_path):
    import pandas as pd

    from geo_almaty.export import read_csv, write_csv

    table = pd.DataFrame({"district": ['=HYPERLINK("http://evil","click")', "+7 727", "-1", "@SUM(A1)", "\tTab", "Алмалы; «центр»", None, "NaN"],
                          "score": [0.5, 1.25, -1.0, 2.0, 0.0, 3.5, 4.0, 5.0], "rank": range(1, 9)})
    path = write_csv(tmp_path / "t.csv", table)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    header, first = raw.decode("utf-8-sig").split("\r\n")[:2]
    assert header == "district;score;rank" and first.startswith("\"'=HYPERLINK(") and first.endswith(";0,5;1")
    back = read_csv(path)
    assert list(back.district[:5]) == ["'=HYPERLINK(\"http://evil\",\"click\")", "'+7 727", "'-1", "'@SUM(A1)", "'\tTab"]
    assert back.district[5] == "Алмалы; «центр»" and back.district[6:].isna().all()
    assert back.score.tolist() == table.score.tolist() and back["rank"].tolist() == list(range(1, 9))


def test_summary_markdown_escapes_names(world, tmp_path):
    from geo_almaty.pipeline import load_inputs, score_facility
    from geo_almaty.render.index import summary_markdown

    catalog, _ = world
    profile = write_profile(tmp_path, "spread", [
        {"id": "farm", "type": "distance", "layer": "organic_producers", "value": {"function": "linear", "low": 4000, "high": 0}, "weight": 1}],
        selection={"top_n": 2, "max_per_district": 1})
    inputs = load_inputs(catalog, 500, profiles=[str(profile)])
    districts = inputs.study.layers["districts"]
    districts.loc[0, "name_ru"] = "<script>alert(1)</script> | *Запад* [x](javascript:1)"
    districts.loc[1, "name_ru"] = "NaN"
    text = summary_markdown({"spread": score_facility(inputs, profile)}, inputs, "ru")
    rows = [line for line in text.splitlines() if re.match(r"\d+\. ", line)]
    assert len(rows) == 2  # one list item per site: a name's markup or line break does not add or split items
    body = "\n".join(rows)
    assert "<script>" not in body and "&lt;script&gt;" in body and r"\*Запад\*" in body and r"\[x\]" in body and r"\|" in body
    assert "NaN" not in text and "**east**" in body  # a NaN name falls back to the district id


# --- 7. byte-identical outputs -------------------------------------------------------------------

def test_two_score_runs_give_byte_identical_files(tmp_path, world):
    """GeoPackage (last_change fixed), GeoTIFF, CSV and the marker: sha256 equal. (score writes no HTML; the
    maps' element ids are the maps stream's part of this issue.)"""
    first, second = tmp_path / "first", tmp_path / "second"
    assert main(score_args(world, first)) == 0
    assert main(score_args(world, second)) == 0
    hashes = tree(first)
    assert {".geo-almaty-output", "farm_hub_sites.gpkg", "farm_hub_top2.csv", "farm_hub_score.tif", "farm_hub_exclusions.tif"} == set(hashes)
    assert hashes == tree(second)


def test_geopackage_timestamp_follows_source_date_epoch(tmp_path, world, monkeypatch):
    import sqlite3

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1546300800")
    assert main(score_args(world, tmp_path / "out")) == 0
    with sqlite3.connect(tmp_path / "out" / "farm_hub_sites.gpkg") as db:
        stamps = {row[0] for row in db.execute("SELECT last_change FROM gpkg_contents")}
    assert stamps == {"2019-01-01T00:00:00.000Z"}


# --- the kill test --------------------------------------------------------------------------------

def run_and_kill(out: Path, signal_number: int, *, when: str, extra: tuple[str, ...] = ()) -> int:
    """Start ``geo-almaty run`` in a subprocess, wait until its staging folder holds ``when``, send the signal; return the exit status."""
    import subprocess
    import sys
    import time

    env = dict(os.environ, PYTHONPATH=str(settings.project_root()))
    process = subprocess.Popen([sys.executable, "-m", "geo_almaty.cli", "run", "--cell-size", "2000", "--out", str(out), *extra],
                               cwd=settings.project_root(), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if list(out.parent.glob(f".{out.name}.staging-*/{when}")):
                process.send_signal(signal_number)
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"run ended or stalled before writing {when}: {process.stderr.read().decode()[-500:]}")
        return process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()


def test_killed_run_leaves_the_previous_complete_output_or_nothing(tmp_path):
    """``run`` killed midway, after it wrote result files: --out holds the previous complete output, or nothing.

    SIGTERM is handled (the staging folder is removed, exit 143). SIGKILL cannot be: its staging folder stays
    until the next command writing to the same --out removes it.
    """
    import signal

    out = tmp_path / "almaty_out"
    out.mkdir()
    (out / atomic.OUTPUT_MARKER).write_text("previous\n", encoding="utf-8")
    (out / "index.html").write_text("<p>the previous complete run</p>", encoding="utf-8")
    (out / "results").mkdir()
    (out / "results" / "material_bank_top10.csv").write_text("rank\n1\n", encoding="utf-8")
    before = tree(out)
    assert run_and_kill(out, signal.SIGTERM, when="results/*_sites.gpkg", extra=("--overwrite",)) == 143
    assert tree(out) == before  # the previous complete output, byte for byte
    assert [p.name for p in tmp_path.iterdir()] == ["almaty_out"]  # and no staging left

    fresh = tmp_path / "fresh"
    assert run_and_kill(fresh, signal.SIGKILL, when="results/*_sites.gpkg") == -signal.SIGKILL
    assert not fresh.exists()  # nothing where the output was to go
    assert len(list(tmp_path.glob(".fresh.staging-*"))) == 1
    with atomic.staged_output(fresh) as stage:  # the next command removes what the killed one left
        (stage / "index.html").write_text("new", encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["almaty_out", "fresh"]


def test_every_command_prints_its_help(capsys):
    """argparse %-formats help strings when it prints them: a stray '%' breaks --help only then, so ask every command."""
    from geo_almaty.cli import build_parser, main

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    commands = [[name] for name in sub.choices]
    commands += [["layers", name] for name in next(a for a in sub.choices["layers"]._actions
                                                    if a.__class__.__name__ == "_SubParsersAction").choices]
    assert ["run"] in commands and ["layers", "validate"] in commands
    for command in commands:
        with pytest.raises(SystemExit) as done:
            main([*command, "--help"])
        assert done.value.code == 0, command
        assert "usage: geo-almaty " + " ".join(command) in capsys.readouterr().out, command
