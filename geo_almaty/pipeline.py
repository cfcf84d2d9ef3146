"""Put the stages together: load → prepare → candidates → score → select → export.

Small functions shared by the CLI and the notebooks; all validation (catalog,
flows, profiles) happens before anything is written.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from . import settings
from .allocate import Allocation, allocate_flows, load_allocation_specs
from .candidates import Candidates, feature_candidates, hex_candidates, square_candidates
from .catalog import Catalog, load_catalog
from .errors import InputError, SelectionError
from .export import (DEFAULT_CANDIDATE_SHARE, allocations_by_district, criteria_table, scored_frame, top_sites_frame, write_csv, write_exclusion_geotiff,
                     write_geopackage, write_score_geotiff)
from .flows import load_flows, load_labels
from .prepare import Study, prepare_study
from .profiles import FacilityProfile, load_profile
from .score import ScoreResult, check_profile_data, score_candidates
from .select import select_sites

if TYPE_CHECKING:  # pragma: no cover
    from .scenario import Scenario
    from .siting.rules import SitingRules
    from .tiles import TiledScores

log = logging.getLogger(__name__)


@dataclass
class Inputs:
    """Loaded and prepared inputs shared by every facility type.

    ``study`` is a :class:`~geo_almaty.prepare.Study`, or a :class:`~geo_almaty.tiles.TiledStudy`
    when the grid is scored in tiles (``engine`` says where the tiles are scored).
    """

    catalog: Catalog
    study: Study
    flows: pd.DataFrame
    labels: pd.DataFrame
    allocation_specs: dict[str, dict]
    allocations: dict[str, Allocation]
    #: The siting rules scoring applies; None: the project's ``rules/*.yaml``.
    siting_rules: SitingRules | None = None
    #: The scenario these inputs were changed by (:mod:`geo_almaty.scenario`); None: the baseline.
    scenario: Scenario | None = None
    #: The tile engine (:mod:`geo_almaty.tiles`) when the grid is scored in tiles; None: in memory.
    engine: object | None = None

    @property
    def tiled(self) -> bool:
        """Whether the grid is scored in tiles."""
        return self.engine is not None


@dataclass
class FacilityOutcome:
    """Scores and chosen sites for one facility profile.

    On a tiled grid ``result`` holds only the candidates the outputs need (the chosen
    sites and the GeoPackage's best share; ``selection.candidate`` indexes them) and
    ``tiled`` the per-cell scores and exclusion codes of the whole grid.
    """

    profile: FacilityProfile
    candidates: Candidates
    result: ScoreResult
    selection: pd.DataFrame
    tiled: TiledScores | None = None

    @property
    def candidate_count(self) -> int:
        return self.tiled.candidates if self.tiled is not None else len(self.result.candidates)

    @property
    def excluded_count(self) -> int:
        return self.tiled.excluded if self.tiled is not None else int(self.result.excluded.sum())


#: ``load_inputs(tiling=...)``: refuse grids above the memory budget, tile them, or always tile.
TILING_MODES = ("never", "auto", "always")


def load_inputs(catalog_path: str | Path | None = None, cell_size: float = settings.DEFAULT_CELL_SIZE_M, *,
                profiles: list[str] | None = None, force_ahp: bool = False, progress: bool = False, shape: str = "square",
                memory_budget: int | str | None = None, within: str | None = None, tiling: str = "never",
                tile_cells: int | None = None, engine=None, scenario: Scenario | None = None, robust_samples: int = 0) -> Inputs:
    """Read flows and the catalog, validate ``profiles`` against them, then prepare layers and allocations.

    ``scenario`` (:func:`geo_almaty.scenario.load_scenario`) changes the flows, allocations,
    catalog and siting rules in memory before anything is prepared.

    Before any grid array is allocated, the memory of preparing the grid and
    scoring ``profiles`` with ``shape`` candidates is estimated against
    ``memory_budget`` (bytes or '8GB'; default: see :func:`geo_almaty.memory.memory_budget`).
    Above it the work is refused, unless ``tiling="auto"``: square cells are then
    scored in tiles sized to the budget (:mod:`geo_almaty.tiles`). ``tiling="always"``,
    ``tile_cells`` (cells per tile) or an ``engine`` (:func:`geo_almaty.tiles.open_engine`;
    a Dask engine scores the tiles as tasks) force tiles. ``within`` limits the grid and
    the candidates to the polygons of a layer (e.g. ``city_boundary``). ``robust_samples`` > 0 counts
    the memory of a robustness analysis with that many samples that will follow the scoring.
    """
    from .layers import load_layers
    from .memory import check_memory, check_tiled_size, estimate_memory, memory_budget as budget_of, plan_tiles, workload_for
    from .prepare import candidate_area, study_grid
    from .study_area import study_area_geometry

    if tiling not in TILING_MODES:
        raise InputError(f"tiling '{tiling}'", column="tiling", expected=", ".join(TILING_MODES))
    labels = load_labels()
    flows = load_flows(labels=labels)
    catalog = load_catalog(catalog_path)
    specs = load_allocation_specs()
    if scenario is not None:
        from .scenario import scenario_allocation_specs, scenario_catalog, scenario_flows

        catalog = scenario_catalog(scenario, catalog)
        flows = scenario_flows(scenario, flows)
        specs = scenario_allocation_specs(scenario, specs, flows)
    loaded = [load_profile(name, catalog, set(specs), force_ahp=force_ahp) for name in profiles or []]
    layers = load_layers(catalog, progress=progress)
    full_area = study_area_geometry(catalog, layers)
    area = candidate_area(full_area, layers, within)
    grid = study_grid(area, cell_size)
    workload = workload_for(grid, area, layers, catalog, profiles=loaded, allocation_specs=specs, shape=shape,
                            supply_area=full_area if within else None)
    workload = replace(workload, robust_samples=max(int(robust_samples), 0))
    forced = tiling == "always" or tile_cells is not None or (engine is not None and engine.name != "local")
    tiled = forced or (tiling == "auto" and shape == "square" and estimate_memory(workload).peak > budget_of(memory_budget))
    if not tiled:
        check_memory(workload, memory_budget, hint="geo-almaty score (which scores such grids in tiles)" if shape == "square" else None)
        study = prepare_study(catalog, cell_size, progress=progress, layers=layers, check_memory=lambda *_: None, within=within)
    else:
        from .prepare import supply_study
        from .tiles import LocalEngine, prepare_tiled

        if shape != "square":
            raise InputError(f"{shape} candidates cannot be scored in tiles", column="--shape",
                             expected="square cells (--shape square) for grids above the memory budget")
        engine = engine or LocalEngine()
        check_tiled_size(workload, memory_budget, concurrent=engine.concurrency)
        plan = plan_tiles(workload, memory_budget, tile_cells=tile_cells, concurrent=engine.concurrency)
        study = prepare_tiled(catalog, layers, area, grid, supply_study(catalog, layers, full_area, cell_size), plan, within)
    supply = study.supply_study
    allocations = allocate_flows(specs, flows, layers, supply.grid, supply.population_weights())
    inputs = Inputs(catalog, study, flows, labels, specs, allocations, engine=engine if tiled else None)
    return inputs if scenario is None else with_scenario(inputs, scenario, reallocate=False)


def with_scenario(inputs: Inputs, scenario: Scenario | None, *, reallocate: bool = True) -> Inputs:
    """``inputs`` changed by ``scenario`` without preparing the study again: flows, allocations, siting rules.

    The baseline ``inputs`` are not modified (a new :class:`Inputs` is returned). A scenario
    that replaces a catalog layer needs :func:`load_inputs` with ``scenario=`` instead.
    """
    from .scenario import scenario_allocation_specs, scenario_flows, scenario_rules

    if scenario is None:
        return inputs
    if reallocate:
        if inputs.scenario is not None:
            raise scenario.error(f"inputs already changed by scenario '{inputs.scenario.id}'", "id",
                                 "the baseline inputs (load_inputs without scenario)")
        if scenario.catalog:
            raise scenario.error("a catalog override on prepared inputs", "catalog", "load_inputs(..., scenario=...) to prepare its layers")
    flows, specs, allocations = inputs.flows, inputs.allocation_specs, inputs.allocations
    if reallocate and scenario.changes_data:
        flows = scenario_flows(scenario, inputs.flows)
        specs = scenario_allocation_specs(scenario, inputs.allocation_specs, flows)
        supply = inputs.study.supply_study
        allocations = allocate_flows(specs, flows, supply.layers, supply.grid, supply.population_weights())
    return replace(inputs, flows=flows, allocation_specs=specs, allocations=allocations, siting_rules=scenario_rules(scenario), scenario=scenario)


def facility_profile(inputs: Inputs, facility: str | Path, *, force_ahp: bool = False) -> FacilityProfile:
    """The profile ``facility`` as ``inputs`` score it: with the overrides of ``inputs.scenario`` (in memory) when there is one."""
    if inputs.scenario is None:
        return load_profile(facility, inputs.catalog, set(inputs.allocation_specs), force_ahp=force_ahp)
    from .scenario import scenario_profile

    return scenario_profile(inputs.scenario, facility, inputs.catalog, set(inputs.allocation_specs), force_ahp=force_ahp)


def make_candidates(study: Study, shape: str = "square", candidates_layer: str | None = None, cell_size: float | None = None) -> Candidates:
    """Square cells, H3 hexagons, or the features of ``candidates_layer``."""
    if candidates_layer:
        return feature_candidates(study, candidates_layer)
    if shape == "hex":
        return hex_candidates(study, cell_size)
    return square_candidates(study)


def score_facility(inputs: Inputs, facility: str | Path, *, shape: str = "square", candidates_layer: str | None = None,
                   top_n: int | None = None, force_ahp: bool = False, progress: bool = False,
                   capacity_t_yr: float | None = None) -> FacilityOutcome:
    """Score and select sites for one facility profile (in tiles when ``inputs`` are tiled).

    ``capacity_t_yr`` replaces the profile's planned capacity (``siting.planned_capacity_t_yr``),
    and with it the sanitary zone (e.g. a location-allocation size band).
    """
    profile = facility_profile(inputs, facility, force_ahp=force_ahp)
    check_profile_data(profile, inputs.study)
    if inputs.tiled:
        from .tiles import score_tiled

        if candidates_layer or shape != "square":
            raise InputError("only square cells are scored in tiles", column="--candidates-layer" if candidates_layer else "--shape",
                             expected="square cells, or a coarser --cell-size that fits in memory")
        if not inputs.study.counts.sum():
            raise SelectionError("no candidate site: no square cell centre lies in the study area", layer="study_area",
                                 expected=f"a finer --cell-size than {inputs.study.grid.cell_size:g} m, or a larger study area")
        tiled = score_tiled(profile, inputs.study, inputs.allocations, engine=inputs.engine, top_n=top_n, force_ahp=force_ahp,
                            progress=progress, capacity_t_yr=capacity_t_yr, siting_rules=inputs.siting_rules)
        return FacilityOutcome(profile, tiled.result.candidates, tiled.result, tiled.selection, tiled.scores)
    candidates = make_candidates(inputs.study, shape, candidates_layer)
    if not len(candidates):
        raise SelectionError(f"no candidate site: no {candidates.kind} cell centre lies in the study area", layer=candidates_layer or "study_area",
                             expected=f"a finer --cell-size than {inputs.study.grid.cell_size:g} m, or a larger study area")
    result = score_candidates(profile, inputs.study, candidates, inputs.allocations, force_ahp=force_ahp, progress=progress,
                              capacity_t_yr=capacity_t_yr, siting_rules=inputs.siting_rules)
    selection = select_sites(result, inputs.study, top_n=top_n)
    return FacilityOutcome(profile, candidates, result, selection)


def write_facility_outputs(outcome: FacilityOutcome, inputs: Inputs, out_dir: str | Path, lang: str, *, all_candidates: bool = False) -> list[Path]:
    """GeoPackage (top sites, best candidates, criteria and siting-rule tables), CSV of the top sites with reasons,
    GeoTIFF score surface and GeoTIFF of the siting rules catching each cell (``_exclusions.tif``, a bitmask).

    The GeoPackage keeps the best 10 % of candidates (at most ``settings.MAX_GEOPACKAGE_CANDIDATES``)
    unless ``all_candidates``; the GeoTIFFs always hold every cell.
    """
    from .siting.report import rules_table

    out_dir = Path(out_dir)
    pid = outcome.profile.id
    top = top_sites_frame(outcome.result, inputs.study, outcome.selection, inputs.allocations, lang)
    if outcome.tiled is not None:
        if all_candidates:
            raise InputError(f"every candidate of a grid scored in tiles ({outcome.tiled.candidates:,}) cannot go into the GeoPackage",
                             column="--all-candidates", expected="the GeoTIFF for every score, or a coarser --cell-size")
        candidates = scored_frame(outcome.result, inputs.study, rows=outcome.tiled.best_rows)
    else:
        candidates = scored_frame(outcome.result, inputs.study, best_share=None if all_candidates else DEFAULT_CANDIDATE_SHARE)
    tiled = outcome.tiled
    tables = {"top_sites": top, "candidates": candidates, "criteria": criteria_table(outcome.result),
              "siting_rules": rules_table(outcome.result, lang, counts=tiled.rule_counts if tiled is not None else None)}
    return [
        write_geopackage(out_dir / f"{pid}_sites.gpkg", tables),
        write_csv(out_dir / f"{pid}_top{len(top)}.csv", top),
        write_score_geotiff(out_dir / f"{pid}_score.tif", outcome.result, inputs.study, tiled.score if tiled is not None else None),
        write_exclusion_geotiff(out_dir / f"{pid}_exclusions.tif", outcome.result, inputs.study, tiled.rules if tiled is not None else None),
    ]


def locate_facilities(inputs: Inputs, outcomes: dict[str, FacilityOutcome], *, gap: float = settings.RUN_LOCATE_GAP,
                      time_limit: float = settings.RUN_LOCATE_TIME_LIMIT, progress: bool = False) -> dict:
    """Location-allocation of every facility type whose profile has a ``locate`` section (see :mod:`geo_almaty.locate`).

    A facility type that cannot be located as its profile asks (e.g. no feasible set of sites at a
    coarse cell size) is left out with a warning naming the reason; the others are still located.
    """
    from .errors import LocateError
    from .locate import locate_facility

    located = {}
    for facility, outcome in outcomes.items():
        if not outcome.profile.locate:
            log.info("%s: no locate section in the profile, not located", facility)
            continue
        try:
            located[facility] = locate_facility(inputs, facility, outcome=outcome, gap=gap, time_limit=time_limit, progress=progress)
        except LocateError as exc:
            log.warning("%s: not located: %s", facility, exc)
    return located


def analyse_facility_robustness(inputs: Inputs, outcome: FacilityOutcome, *, samples: int | None = None, seed: int = 0,
                                top_n: int | None = None, progress: bool = False, **options):
    """Monte Carlo robustness and one-at-a-time sensitivity of one scored facility (see :mod:`geo_almaty.robust`).

    ``options`` go to :func:`geo_almaty.robust.analyse_robustness` (concentration, sources, threshold, match_radius_m, ...).
    """
    from .robust import DEFAULT_SAMPLES, analyse_robustness, load_uncertainty

    samples = DEFAULT_SAMPLES if samples is None else samples
    uncertainty = load_uncertainty(inputs.flows)
    if outcome.tiled is not None:  # strip by strip, on the engine that scored it
        from .robust.tiled import analyse_tiled_robustness

        return analyse_tiled_robustness(outcome.tiled, outcome.selection, outcome.result, inputs.study, inputs.allocations,
                                        inputs.allocation_specs, inputs.flows, uncertainty, engine=inputs.engine, samples=samples, seed=seed,
                                        top_n=top_n, progress=progress, **options)
    return analyse_robustness(outcome.result, inputs.study, inputs.allocations, inputs.allocation_specs, inputs.flows, uncertainty,
                              samples=samples, seed=seed, top_n=top_n, progress=progress, **options)


@dataclass
class RunOutputs:
    """Everything ``geo-almaty run`` wrote, by kind."""

    index: Path
    maps: list[Path]
    sankeys: list[Path]
    results: list[Path]
    summary: Path
    outcomes: dict[str, FacilityOutcome]
    robust: dict = field(default_factory=dict)  # facility -> geo_almaty.robust.RobustResult
    summary_page: Path | None = None
    inputs: Inputs | None = None
    located: dict = field(default_factory=dict)  #: facility -> geo_almaty.locate.LocateOutcome


def run_main_job(catalog_path: str | Path | None, out_dir: str | Path, lang: str, *, cell_size: float = settings.DEFAULT_CELL_SIZE_M,
                 robust_samples: int | None = None, locate_time_limit: float | None = None, progress: bool = False, overwrite: bool = False,
                 memory_budget: int | str | None = None, scenario: Scenario | None = None) -> RunOutputs:
    """The main job: flows, layers, all three facility types, maps, Sankeys, results and an index page.

    ``scenario`` (:func:`geo_almaty.scenario.load_scenario`) changes weights, rules, capacities,
    flows and the catalog in memory; the summary and index name it and list its overrides,
    and ``scenario.yaml`` beside them is a copy of the file.

    Each facility type also gets a robustness analysis with ``robust_samples``
    samples (default :data:`geo_almaty.robust.DEFAULT_RUN_SAMPLES`; 0 skips it):
    frequency GeoTIFF, robust sites, OAT table and tornado chart in ``results/``
    and a section in the index page. Every facility type whose profile has a
    ``locate`` section is also located (:func:`locate_facilities`): how many
    sites, where, how big, serving whom, at what haul and climate cost, within
    ``locate_time_limit`` s per facility type (default ``settings.RUN_LOCATE_TIME_LIMIT``; 0 skips it).

    Everything is written to a staging folder beside ``out_dir`` and moved into
    place at the end (:func:`geo_almaty.atomic.staged_output`): ``out_dir`` holds
    the complete output or, when anything fails, what it held before. An
    existing ``out_dir`` is refused unless ``overwrite``.
    """
    from .atomic import staged_output

    out_dir = Path(out_dir)
    with staged_output(out_dir, overwrite=overwrite, command="geo-almaty run") as stage:
        outputs = _write_main_job(catalog_path, stage, lang, cell_size=cell_size, robust_samples=robust_samples,
                                  locate_time_limit=locate_time_limit, progress=progress,
                                  memory_budget=memory_budget, scenario=scenario)
    def moved(path: Path) -> Path:
        return out_dir / path.relative_to(stage)

    return RunOutputs(moved(outputs.index), [moved(p) for p in outputs.maps], [moved(p) for p in outputs.sankeys],
                      [moved(p) for p in outputs.results], moved(outputs.summary), outputs.outcomes, outputs.robust,
                      moved(outputs.summary_page), outputs.inputs, outputs.located)


def _write_main_job(catalog_path: str | Path | None, out_dir: Path, lang: str, *, cell_size: float, robust_samples: int | None,
                    progress: bool, locate_time_limit: float | None = None, memory_budget: int | str | None, scenario: Scenario | None = None) -> RunOutputs:
    from .atomic import write_text_atomic
    from .locate import locate_html, write_locate_outputs
    from .progress import progress_bar
    from .render.citizen import build_citizen_map
    from .i18n import text as message
    from .render.index import index_html, relative, summary_html, summary_markdown
    from .render.maps import save_map
    from .render.planner import build_planner_map
    from .render.recipes import load_recipe
    from .render.sankey_page import write_sankey_page
    from .robust import DEFAULT_RUN_SAMPLES, robust_section_html, write_robust_outputs
    from .sankey import load_sankey_diagrams

    catalog = load_catalog(catalog_path)
    specs = load_allocation_specs()
    recipes = {name: load_recipe(name, catalog, set(specs)) for name in ("planner", "citizen")}
    facilities = list(dict.fromkeys(item["facility"] for r in recipes.values() for item in r["facilities"]))
    robust_samples = DEFAULT_RUN_SAMPLES if robust_samples is None else robust_samples
    inputs = load_inputs(catalog_path, cell_size, profiles=facilities, progress=progress, memory_budget=memory_budget, scenario=scenario,
                         robust_samples=robust_samples)
    lead_md, lead_html = scenario_lead(scenario, lang)
    for facility in facilities:  # refuse a profile without data before scoring any
        check_profile_data(load_profile(facility, catalog, set(specs)), inputs.study)
    diagrams = load_sankey_diagrams(inputs.flows, inputs.labels)
    outcomes = {f: score_facility(inputs, f, progress=progress) for f in progress_bar(facilities, desc="facilities", unit="type", enabled=progress)}
    robust = {f: analyse_facility_robustness(inputs, o, samples=robust_samples, progress=progress) for f, o in outcomes.items()} if robust_samples else {}

    locate_time_limit = settings.RUN_LOCATE_TIME_LIMIT if locate_time_limit is None else locate_time_limit
    located = locate_facilities(inputs, outcomes, time_limit=locate_time_limit, progress=progress) if locate_time_limit > 0 else {}

    results: list[Path] = []
    for outcome in progress_bar(list(outcomes.values()), desc="results", unit="file set", enabled=progress):
        results += write_facility_outputs(outcome, inputs, out_dir / "results", lang)
    for placed in located.values():
        results += write_locate_outputs(placed, out_dir / "results", lang)
    results.append(write_csv(out_dir / "results" / "flows_by_district.csv", allocations_by_district(inputs.allocations, inputs.study, lang)))
    robust_links: dict[str, list[tuple[str, str]]] = {}
    for facility, analysis in robust.items():
        paths = write_robust_outputs(analysis, inputs.study, out_dir / "results", lang)
        robust_links[facility] = [(p.name, relative(p, out_dir)) for p in paths]
        results += paths
    sankeys = [write_sankey_page(diagrams, inputs.labels, out_dir / "flows", lang, index_href="../index.html")]
    maps = [
        save_map(build_planner_map(recipes["planner"], inputs, outcomes, lang, index_href="index.html", robust=robust, located=located),
                 out_dir / "planner_map.html", lang),
        save_map(build_citizen_map(recipes["citizen"], inputs, outcomes, lang, index_href="index.html", located=located),
                 out_dir / "citizen_map.html", lang),
    ]
    limit = recipes["citizen"].get("max_bytes")
    if limit and maps[1].stat().st_size > limit:
        log.warning("citizen map is %.2f MB, above the recipe's limit of %.2f MB", maps[1].stat().st_size / 1e6, limit / 1e6)
    located_sections = [locate_html(located)] if located else []
    summary = write_text_atomic(out_dir / "summary.md", summary_markdown(outcomes, inputs, lang, located, lead=lead_md))
    summary_page = write_text_atomic(out_dir / "summary.html", summary_html(outcomes, inputs, lang, index_href="index.html", located=located,
                                                                            lead=lead_html))
    if scenario is not None:
        results.append(write_text_atomic(out_dir / "scenario.yaml", scenario.path.read_text(encoding="utf-8")))

    def named(message_id: str) -> dict[str, str]:
        return {lang_: message(message_id, lang_) for lang_ in settings.LANGUAGES}

    links = {
        "maps": [(named("planner_map"), relative(maps[0], out_dir)), (named("citizen_map"), relative(maps[1], out_dir)),
                 (named("summary_page"), relative(summary_page, out_dir))],
        "flows": [(d.title, f"{relative(sankeys[0], out_dir)}#{d.id}") for d in diagrams.values()],
        "results": [({lang_: p.name for lang_ in settings.LANGUAGES}, relative(p, out_dir)) for p in results + [summary]],
    }
    sections = located_sections + ([robust_section_html(robust, inputs.study, robust_links)] if robust else [])
    index = write_text_atomic(out_dir / "index.html", index_html(outcomes, inputs, links, lang, extra_sections=sections, lead=lead_html))
    return RunOutputs(index, maps, sankeys, results, summary, outcomes, robust, summary_page, inputs, located)


def scenario_lead(scenario: Scenario | None, lang: str) -> tuple[list[str], str]:
    """The Markdown lines and HTML section that name ``scenario`` at the top of a run's summary and index (empty without one)."""
    if scenario is None:
        return [], ""
    from .scenario.report import scenario_markdown, scenario_section_html

    return scenario_markdown(scenario, lang), scenario_section_html(scenario)
