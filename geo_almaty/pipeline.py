"""Put the stages together: load → prepare → candidates → score → select → export.

Small functions shared by the CLI and the notebooks; all validation (catalog,
flows, profiles) happens before anything is written.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import settings
from .allocate import Allocation, allocate_flows, load_allocation_specs
from .candidates import Candidates, feature_candidates, hex_candidates, square_candidates
from .catalog import Catalog, load_catalog
from .export import DEFAULT_CANDIDATE_SHARE, allocations_by_district, criteria_table, scored_frame, top_sites_frame, write_csv, write_geopackage, write_score_geotiff
from .flows import load_flows, load_labels
from .prepare import Study, prepare_study
from .profiles import FacilityProfile, load_profile
from .score import ScoreResult, score_candidates
from .select import select_sites

log = logging.getLogger(__name__)


@dataclass
class Inputs:
    """Loaded and prepared inputs shared by every facility type."""

    catalog: Catalog
    study: Study
    flows: pd.DataFrame
    labels: pd.DataFrame
    allocation_specs: dict[str, dict]
    allocations: dict[str, Allocation]


@dataclass
class FacilityOutcome:
    """Scores and chosen sites for one facility profile."""

    profile: FacilityProfile
    candidates: Candidates
    result: ScoreResult
    selection: pd.DataFrame


def load_inputs(catalog_path: str | Path | None = None, cell_size: float = settings.DEFAULT_CELL_SIZE_M, *,
                profiles: list[str] | None = None, force_ahp: bool = False, progress: bool = False) -> Inputs:
    """Read flows and the catalog, validate ``profiles`` against them, then prepare layers and allocations."""
    labels = load_labels()
    flows = load_flows(labels=labels)
    catalog = load_catalog(catalog_path)
    specs = load_allocation_specs()
    for name in profiles or []:
        load_profile(name, catalog, set(specs), force_ahp=force_ahp)
    study = prepare_study(catalog, cell_size, progress=progress)
    allocations = allocate_flows(specs, flows, study.layers, study.grid, study.residential_share())
    return Inputs(catalog, study, flows, labels, specs, allocations)


def make_candidates(study: Study, shape: str = "square", candidates_layer: str | None = None, cell_size: float | None = None) -> Candidates:
    """Square cells, H3 hexagons, or the features of ``candidates_layer``."""
    if candidates_layer:
        return feature_candidates(study, candidates_layer)
    if shape == "hex":
        return hex_candidates(study, cell_size)
    return square_candidates(study)


def score_facility(inputs: Inputs, facility: str | Path, *, shape: str = "square", candidates_layer: str | None = None,
                   top_n: int | None = None, force_ahp: bool = False, progress: bool = False) -> FacilityOutcome:
    """Score and select sites for one facility profile."""
    profile = load_profile(facility, inputs.catalog, set(inputs.allocation_specs), force_ahp=force_ahp)
    candidates = make_candidates(inputs.study, shape, candidates_layer)
    result = score_candidates(profile, inputs.study, candidates, inputs.allocations, force_ahp=force_ahp, progress=progress)
    selection = select_sites(result, inputs.study, top_n=top_n)
    return FacilityOutcome(profile, candidates, result, selection)


def write_facility_outputs(outcome: FacilityOutcome, inputs: Inputs, out_dir: str | Path, lang: str, *, all_candidates: bool = False) -> list[Path]:
    """GeoPackage (top sites, best candidates, criteria table), CSV of the top sites with reasons, GeoTIFF score surface.

    The GeoPackage keeps the best 10 % of candidates unless ``all_candidates``;
    the GeoTIFF always holds every score.
    """
    out_dir = Path(out_dir)
    pid = outcome.profile.id
    top = top_sites_frame(outcome.result, inputs.study, outcome.selection, inputs.allocations, lang)
    candidates = scored_frame(outcome.result, inputs.study, best_share=None if all_candidates else DEFAULT_CANDIDATE_SHARE)
    return [
        write_geopackage(out_dir / f"{pid}_sites.gpkg", {"top_sites": top, "candidates": candidates, "criteria": criteria_table(outcome.result)}),
        write_csv(out_dir / f"{pid}_top{len(top)}.csv", top),
        write_score_geotiff(out_dir / f"{pid}_score.tif", outcome.result, inputs.study),
    ]


def locate_facilities(inputs: Inputs, outcomes: dict[str, FacilityOutcome], *, gap: float = settings.RUN_LOCATE_GAP,
                      time_limit: float = settings.RUN_LOCATE_TIME_LIMIT, progress: bool = False) -> dict:
    """Location-allocation of every facility type whose profile has a ``locate`` section (see :mod:`geo_almaty.locate`)."""
    from .locate import locate_facility

    located = {}
    for facility, outcome in outcomes.items():
        if not outcome.profile.locate:
            log.info("%s: no locate section in the profile, not located", facility)
            continue
        located[facility] = locate_facility(inputs, facility, outcome=outcome, gap=gap, time_limit=time_limit, progress=progress)
    return located


@dataclass
class RunOutputs:
    """Everything ``geo-almaty run`` wrote, by kind."""

    index: Path
    maps: list[Path]
    sankeys: list[Path]
    results: list[Path]
    summary: Path
    outcomes: dict[str, FacilityOutcome]
    located: dict = field(default_factory=dict)  #: facility -> geo_almaty.locate.LocateOutcome


def run_main_job(catalog_path: str | Path | None, out_dir: str | Path, lang: str, *, cell_size: float = settings.DEFAULT_CELL_SIZE_M,
                 progress: bool = False) -> RunOutputs:
    """The main job: flows, layers, all three facility types, maps, Sankeys, results and an index page."""
    from .atomic import write_text_atomic
    from .locate import write_locate_outputs
    from .progress import progress_bar
    from .render.citizen import build_citizen_map
    from .render.index import index_html, relative, summary_markdown
    from .render.maps import save_map
    from .render.planner import build_planner_map
    from .render.recipes import load_recipe
    from .sankey import load_sankey_diagrams, write_sankey_diagrams

    out_dir = Path(out_dir)
    catalog = load_catalog(catalog_path)
    specs = load_allocation_specs()
    recipes = {name: load_recipe(name, catalog, set(specs)) for name in ("planner", "citizen")}
    facilities = list(dict.fromkeys(item["facility"] for r in recipes.values() for item in r["facilities"]))
    inputs = load_inputs(catalog_path, cell_size, profiles=facilities, progress=progress)
    diagrams = load_sankey_diagrams(inputs.flows, inputs.labels)
    outcomes = {f: score_facility(inputs, f, progress=progress) for f in progress_bar(facilities, desc="facilities", unit="type", enabled=progress)}

    located = locate_facilities(inputs, outcomes, progress=progress)

    results: list[Path] = []
    for outcome in progress_bar(list(outcomes.values()), desc="results", unit="file set", enabled=progress):
        results += write_facility_outputs(outcome, inputs, out_dir / "results", lang)
    for placed in located.values():
        results += write_locate_outputs(placed, out_dir / "results", lang)
    results.append(write_csv(out_dir / "results" / "flows_by_district.csv", allocations_by_district(inputs.allocations, inputs.study, lang)))
    sankeys = write_sankey_diagrams(diagrams, inputs.labels, out_dir / "flows", lang)
    maps = [
        save_map(build_planner_map(recipes["planner"], inputs, outcomes, lang), out_dir / "planner_map.html", lang),
        save_map(build_citizen_map(recipes["citizen"], inputs, outcomes, lang), out_dir / "citizen_map.html", lang),
    ]
    limit = recipes["citizen"].get("max_bytes")
    if limit and maps[1].stat().st_size > limit:
        log.warning("citizen map is %.2f MB, above the recipe's limit of %.2f MB", maps[1].stat().st_size / 1e6, limit / 1e6)
    summary = write_text_atomic(out_dir / "summary.md", summary_markdown(outcomes, inputs, lang, located))
    links = {
        "maps": [({"ru": "Карта для планировщиков", "kk": "Жоспарлаушыларға арналған карта", "en": "Planner map"}, relative(maps[0], out_dir)),
                 ({"ru": "Карта для жителей", "kk": "Тұрғындарға арналған карта", "en": "Citizen map"}, relative(maps[1], out_dir))],
        "flows": [(diagrams[p.stem.removeprefix("sankey_")].title, relative(p, out_dir)) for p in sankeys],
        "results": [({lang_: p.name for lang_ in settings.LANGUAGES}, relative(p, out_dir)) for p in results + [summary]],
    }
    index = write_text_atomic(out_dir / "index.html", index_html(outcomes, inputs, links, lang, located))
    return RunOutputs(index, maps, sankeys, results, summary, outcomes, located)
