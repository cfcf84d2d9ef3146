"""How sure are we: Monte Carlo robustness and one-at-a-time sensitivity of the chosen sites.

Modules by concern:

- :mod:`.uncertainty`: ranges of flows and coefficients (``data/uncertainty.yaml``) and draws from them;
- :mod:`.sampling`: weight draws (Dirichlet around direct weights, AHP judgements ±1 Saaty step) and feature offsets;
- :mod:`.model`: a scored profile as arrays, with the flow- and position-dependent criteria kept apart;
- :mod:`.frequency`: streaming top-k and selection counts over blocks of samples (never samples × cells);
- :mod:`.sensitivity`: one-at-a-time changes of each weight and uncertain flow;
- :mod:`.analysis`: :func:`analyse_robustness`, which puts them together;
- :mod:`.tiled`: :func:`analyse_tiled_robustness`, the same strip by strip for a grid scored in tiles (local or Dask);
- :mod:`.outputs`: tables, the frequency GeoTIFF, the tornado SVG, the index section and the map layer.

Typical use::

    from geo_almaty.robust import analyse_robustness, load_uncertainty, write_robust_outputs
    robust = analyse_robustness(outcome.result, inputs.study, inputs.allocations, inputs.allocation_specs,
                                inputs.flows, load_uncertainty(inputs.flows), samples=1000, seed=0)
    robust.robust_sites, robust.oat
"""
from __future__ import annotations

from .analysis import (DEFAULT_ROBUST_SHARE, DEFAULT_RUN_SAMPLES, DEFAULT_SAMPLES, RobustResult, RobustSettings, analyse_robustness,
                       default_match_radius, draw_samples)
from .frequency import SampleDraws, StreamCounts, rank_quantiles, stream_selection
from .model import SOURCES, RobustModel, build_model
from .outputs import (FrequencyLayer, base_sites_frame, frequency_layer, oat_frame, robust_section_html, robust_sites_frame, tornado_svg,
                      write_frequency_geotiff, write_robust_outputs)
from .sampling import DEFAULT_CONCENTRATION, ahp_weight_samples, dirichlet_weights, perturbed_ahp_matrices
from .sensitivity import DEFAULT_WEIGHT_CHANGE, one_at_a_time
from .tiled import analyse_tiled_robustness
from .uncertainty import Range, Uncertainty, load_uncertainty, ranges_table, sample_coefficients, sample_flows

__all__ = [
    "DEFAULT_CONCENTRATION", "DEFAULT_ROBUST_SHARE", "DEFAULT_RUN_SAMPLES", "DEFAULT_SAMPLES", "DEFAULT_WEIGHT_CHANGE", "SOURCES",
    "FrequencyLayer", "Range", "RobustModel", "RobustResult", "RobustSettings", "SampleDraws", "StreamCounts", "Uncertainty",
    "ahp_weight_samples", "analyse_robustness", "analyse_tiled_robustness", "base_sites_frame", "build_model", "default_match_radius", "dirichlet_weights",
    "draw_samples", "frequency_layer", "load_uncertainty", "oat_frame", "one_at_a_time", "perturbed_ahp_matrices", "rank_quantiles",
    "ranges_table", "robust_section_html", "robust_sites_frame", "sample_coefficients", "sample_flows", "stream_selection",
    "tornado_svg", "write_frequency_geotiff", "write_robust_outputs",
]
