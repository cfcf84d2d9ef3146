"""geo_almaty: a geospatial planning tool for the circular economy of Almaty.

Stages, one module each: load (:mod:`flows`, :mod:`layers`), prepare
(:mod:`allocate`), candidates, score, select, render and export. The CLI
(``geo-almaty``) and the notebooks only put these functions together.
"""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import (  # noqa: E402
    CatalogError,
    FlowDataError,
    GeoAlmatyError,
    InputError,
    LayerError,
    LocateError,
    NetworkError,
    OSMError,
    ProfileError,
    RasterError,
    RecipeError,
)
from .settings import ANALYSIS_CRS  # noqa: E402

#: The public API, one function per stage, imported on first use so the CLI starts fast.
_API = {
    "load_flows": "flows", "load_labels": "flows", "select_flows": "flows", "load_coefficients": "flows",
    "run_consistency_checks": "consistency", "load_sankey_diagrams": "sankey",
    "load_catalog": "catalog", "read_layer": "layers", "load_layers": "layers", "validate_catalog": "layers",
    "prepare_study": "prepare", "load_allocation_specs": "allocate", "allocate_flows": "allocate",
    "square_candidates": "candidates", "hex_candidates": "candidates", "feature_candidates": "candidates",
    "load_profile": "profiles", "score_candidates": "score", "select_sites": "select",
    "load_inputs": "pipeline", "score_facility": "pipeline", "write_facility_outputs": "pipeline", "run_main_job": "pipeline",
    "locate_facilities": "pipeline", "locate_facility": "locate.facility", "write_locate_outputs": "locate.outputs",
    "locate_layers": "locate.outputs", "load_parameters": "parameters",
    "locate_under_uncertainty": "locate.uncertainty", "write_locate_spread_outputs": "locate.outputs",
    "analyse_facility_robustness": "pipeline", "analyse_robustness": "robust", "load_uncertainty": "robust",
    "write_robust_outputs": "robust", "frequency_layer": "robust",
    "load_siting_rules": "siting", "sanitary_zone_width": "siting", "check_sites": "siting", "why_not_here": "siting",
    "why_not_here_lonlat": "siting", "candidate_jurisdiction": "siting",
    "load_scenario": "scenario", "with_scenario": "pipeline", "run_scenarios": "scenario.compare", "compare_scenarios": "scenario.compare",
    "comparison_table": "scenario.compare",
}


def __getattr__(name: str):
    if name in _API:
        from importlib import import_module

        return getattr(import_module(f".{_API[name]}", __name__), name)
    raise AttributeError(f"module 'geo_almaty' has no attribute {name!r}")


__all__ = [
    *_API,
    "ANALYSIS_CRS",
    "CatalogError",
    "FlowDataError",
    "GeoAlmatyError",
    "InputError",
    "LayerError",
    "LocateError",
    "NetworkError",
    "OSMError",
    "ProfileError",
    "RasterError",
    "RecipeError",
    "__version__",
]
