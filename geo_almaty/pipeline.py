"""Put the stages together: load → prepare → candidates → score → select → export.

Small functions shared by the CLI and the notebooks; all validation (catalog,
flows, profiles) happens before anything is written.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import settings
from .allocate import Allocation, allocate_flows, load_allocation_specs
from .candidates import Candidates, feature_candidates, hex_candidates, square_candidates
from .catalog import Catalog, load_catalog
from .export import scored_frame, top_sites_frame, write_csv, write_geopackage, write_score_geotiff
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


def write_facility_outputs(outcome: FacilityOutcome, inputs: Inputs, out_dir: str | Path, lang: str) -> list[Path]:
    """GeoPackage (candidates + top sites), CSV of the top sites with reasons, GeoTIFF score surface."""
    out_dir = Path(out_dir)
    pid = outcome.profile.id
    top = top_sites_frame(outcome.result, inputs.study, outcome.selection, inputs.allocations, lang)
    candidates = scored_frame(outcome.result, inputs.study)
    return [
        write_geopackage(out_dir / f"{pid}_sites.gpkg", {"candidates": candidates, "top_sites": top}),
        write_csv(out_dir / f"{pid}_top{len(top)}.csv", top),
        write_score_geotiff(out_dir / f"{pid}_score.tif", outcome.result, inputs.study),
    ]
