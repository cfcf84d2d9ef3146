"""The robustness analysis of one facility profile: draws, streaming counts, frequencies, robust sites, OAT.

:func:`analyse_robustness` takes a profile scored at its base weights and answers
"how sure are we": for every candidate the probability of being chosen (the
profile's own selection rule: top k with spacing and per-district cap), of being
among the k best scores (no spacing), of a chosen site lying within the match
radius, and its rank quantiles; the *robust sites* that keep a chosen site
within the match radius in at least ``threshold`` of the samples; and the
one-at-a-time sensitivity table.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from ..allocate import Allocation
from ..criteria import _sample, reachable_surface
from ..errors import InputError
from ..flows import evaluate
from ..prepare import Study
from ..score import ScoreResult
from ..select import pick_spaced, select_sites
from ..weights import parse_matrix
from .frequency import DEFAULT_RANK_POOL, SampleDraws, StreamCounts, ordered, rank_quantiles, stream_selection
from .model import SOURCES, AllocationTotal, RobustModel, build_model
from .sampling import DEFAULT_CONCENTRATION, ahp_weight_samples, dirichlet_weights, disc_offsets, share_inconsistent
from .sensitivity import DEFAULT_WEIGHT_CHANGE, one_at_a_time
from .uncertainty import Uncertainty, sample_flows

log = logging.getLogger(__name__)

#: Samples of ``geo-almaty robust`` unless ``--samples`` says otherwise.
DEFAULT_SAMPLES = 1000
#: Samples per facility type in ``geo-almaty run`` (kept small so the main job stays fast).
DEFAULT_RUN_SAMPLES = 200
#: A site is robust when a chosen site lies within the match radius in at least this share of the samples.
DEFAULT_ROBUST_SHARE = 0.8
#: Rank quantiles reported for every candidate.
RANK_QUANTILES = (0.05, 0.5, 0.95)


@dataclass(frozen=True)
class RobustSettings:
    """Parameters of one analysis, written beside its outputs."""

    samples: int
    seed: int
    concentration: float
    sources: tuple[str, ...]
    top_n: int
    threshold: float
    match_radius_m: float
    rank_pool: int
    weight_change: float


@dataclass
class RobustResult:
    """Frequencies (per candidate, NaN where a fixed exclusion removes it), robust sites, base sites and the OAT table."""

    model: RobustModel
    settings: RobustSettings
    counts: StreamCounts = field(repr=False)
    selected_frequency: np.ndarray = field(repr=False)
    top_k_frequency: np.ndarray = field(repr=False)
    nearby_frequency: np.ndarray = field(repr=False)
    rank_quantiles: np.ndarray = field(repr=False)  # (candidates, len(RANK_QUANTILES))
    base_rank: np.ndarray = field(repr=False)
    base_selection: pd.DataFrame
    robust_sites: pd.DataFrame
    oat: pd.DataFrame
    ahp_inconsistent_share: float | None = None
    notes: list[str] = field(default_factory=list)
    charts: dict[str, str] = field(default_factory=dict, repr=False)  # tornado SVG by language, drawn once
    #: A grid scored in tiles: the frequency surfaces, sparse (:class:`.tiled.TiledFrequency`); the candidates are then the
    #: reported cells only (chosen or among the k best in some sample, the base and OAT sites). None: in memory.
    surface: object | None = field(default=None, repr=False)

    @property
    def profile(self):
        return self.model.profile

    @property
    def result(self) -> ScoreResult:
        return self.model.result


#: Sites count as "within the match radius" when strictly closer than it (by this relative margin), so that
#: with a radius of half the spacing one sample can never choose two sites within it.
_STRICT = 1 - 1e-9


def default_match_radius(spacing_m: float) -> float:
    """Half the profile's spacing (0 without spacing): a sample can choose at most one site closer than that to any point."""
    return 0.5 * spacing_m if spacing_m > 0 else 0.0


def draw_samples(model: RobustModel, uncertainty: Uncertainty | None, flows: pd.DataFrame, *, samples: int, seed: int,
                 concentration: float = DEFAULT_CONCENTRATION) -> tuple[SampleDraws, float | None]:
    """Weights, allocation-total factors and feature offsets for ``samples`` draws.

    Each source has its own generator spawned from ``seed``, so switching one
    source off leaves the draws of the others as they were. Returns the draws and,
    for AHP profiles, the share of perturbed matrices with a consistency ratio above 0.1.
    """
    generators = source_generators(seed)
    weight_rng, flow_rng, position_rng = generators["weights"], generators["flows"], generators["positions"]
    profile = model.profile
    inconsistent = None
    if "weights" not in model.sources:
        weights = np.tile(model.weights, (samples, 1))
    elif profile.weights["method"] == "ahp":
        matrix = parse_matrix(profile.weights["matrix"])
        weights, ratios = ahp_weight_samples(matrix, samples, weight_rng, skip=model.weights <= 0)
        inconsistent = share_inconsistent(ratios)
    else:
        weights = dirichlet_weights(model.weights, concentration, samples, weight_rng)
    factors = allocation_factors(model.totals, uncertainty, flows, flow_rng, samples)
    offsets = {name: disc_offsets(layer.accuracy_m, samples, position_rng) for name, layer in model.point_layers.items()}
    return SampleDraws(weights, factors, offsets), inconsistent


def source_generators(seed: int) -> dict[str, np.random.Generator]:
    """One generator per source of uncertainty (:data:`.model.SOURCES`), spawned from ``seed``."""
    return dict(zip(SOURCES, (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(SOURCES)))))


def allocation_factors(totals: dict[str, AllocationTotal], uncertainty: Uncertainty | None, flows: pd.DataFrame,
                       rng: np.random.Generator, samples: int) -> dict[str, np.ndarray]:
    """``(samples,)`` factor of each allocation total (sampled total / base total) from one draw of every uncertain flow row."""
    if not totals or uncertainty is None:
        return {}
    drawn = sample_flows(uncertainty, rng, samples)
    return {aid: np.asarray(evaluate(t.expression, flows, values=drawn).value, dtype=np.float64) / t.base for aid, t in totals.items()}


def nearby_counts(model: RobustModel, counts: np.ndarray, study: Study, radius_m: float) -> np.ndarray:
    """For every candidate, the number of picks (``counts`` per valid cell) within ``radius_m`` of it."""
    candidates = model.candidates
    if radius_m <= 0:
        out = np.zeros(len(candidates))
        out[model.valid] = counts
        return out
    if candidates.kind == "square":
        surface = np.bincount(candidates.cell[model.valid], weights=counts, minlength=study.grid.width * study.grid.height)
        return np.rint(_sample(reachable_surface(surface.reshape(study.grid.shape), study.grid, radius_m), candidates))
    return nearby_by_distance(candidates.x, candidates.y, model.x, model.y, counts, radius_m)


def nearby_by_distance(x: np.ndarray, y: np.ndarray, px: np.ndarray, py: np.ndarray, counts: np.ndarray, radius_m: float) -> np.ndarray:
    """For every point ``(x, y)``, the sum of ``counts`` of the points ``(px, py)`` within ``radius_m`` of it."""
    picked = np.flatnonzero(counts)
    out = np.zeros(len(x))
    if not len(picked):
        return out
    tree = cKDTree(np.column_stack([px[picked], py[picked]]))
    pairs = cKDTree(np.column_stack([x, y])).sparse_distance_matrix(tree, radius_m, output_type="ndarray")
    np.add.at(out, pairs["i"], counts[picked][pairs["j"]])
    return out


def analyse_robustness(result: ScoreResult, study: Study, allocations: dict[str, Allocation], allocation_specs: dict[str, dict],
                       flows: pd.DataFrame, uncertainty: Uncertainty | None, *, samples: int = DEFAULT_SAMPLES, seed: int = 0,
                       top_n: int | None = None, concentration: float = DEFAULT_CONCENTRATION, sources: tuple[str, ...] = SOURCES,
                       threshold: float = DEFAULT_ROBUST_SHARE, match_radius_m: float | None = None,
                       rank_pool: int = DEFAULT_RANK_POOL, weight_change: float = DEFAULT_WEIGHT_CHANGE,
                       progress: bool = False) -> RobustResult:
    """Monte Carlo robustness and one-at-a-time sensitivity of ``result`` (see the module docstring)."""
    model = build_model(result, study, allocations, allocation_specs, flows, uncertainty, sources=sources, top_n=top_n)
    radius = check_options(model, samples=samples, concentration=concentration, threshold=threshold, match_radius_m=match_radius_m)
    draws, inconsistent = draw_samples(model, uncertainty, flows, samples=samples, seed=seed, concentration=concentration)
    counts = stream_selection(model, draws, rank_pool=rank_pool, progress=progress)
    n = len(result.candidates)

    def per_candidate(values: np.ndarray) -> np.ndarray:
        out = np.full(n, np.nan)
        out[model.valid] = values
        return out

    selected = per_candidate(counts.selected / samples)
    top_k = per_candidate(counts.top_k / samples)
    nearby = nearby_counts(model, counts.selected, study, radius * _STRICT) / samples
    nearby[np.isnan(selected)] = np.nan
    quantiles = np.full((n, len(RANK_QUANTILES)), np.nan)
    quantiles[model.valid] = rank_quantiles(counts, len(model.valid), RANK_QUANTILES)
    base_order = ordered(np.arange(len(model.valid)), model.base_score)
    base_rank = np.full(n, np.nan)
    base_rank[model.valid[base_order]] = np.arange(1, len(base_order) + 1)
    base_selection = select_sites(result, study, top_n=model.top_n)
    settings = RobustSettings(samples, seed, concentration, tuple(sources), model.top_n, threshold, radius, counts.rank_pool, weight_change)
    robust = robust_site_table(model, selected, top_k, nearby, threshold, radius * _STRICT, base_selection)
    oat = one_at_a_time(model, uncertainty, flows, match_radius_m=radius * _STRICT, weight_change=weight_change)
    notes = list(model.notes)
    if (counts.picks < model.top_n).any():
        notes.append(f"{int((counts.picks < model.top_n).sum())} of {samples} samples found fewer than {model.top_n} sites "
                     f"among the best {model.selection_pool} candidates that the selection rule (spacing, per-district cap) accepts")
    log.info("%s: %d samples, %d robust sites (≥ %.0f %%)", result.profile.id, samples, len(robust), threshold * 100)
    return RobustResult(model, settings, counts, selected, top_k, nearby, quantiles, base_rank, base_selection, robust, oat,
                        inconsistent, notes)


def check_options(model: RobustModel, *, samples: int, concentration: float, threshold: float, match_radius_m: float | None) -> float:
    """Refuse options that cannot work (one line each); returns the match radius (m)."""
    if samples < 1:
        raise InputError(f"{samples} samples", column="samples", expected="at least one sample")
    if not concentration > 0:
        raise InputError(f"Dirichlet concentration {concentration:g}", column="concentration", expected="a positive number (default "
                         f"{DEFAULT_CONCENTRATION:g})")
    if not 0 < threshold <= 1:
        raise InputError(f"robust-site threshold {threshold}", column="threshold", expected="a share in (0, 1]")
    if model.top_n < 1:
        raise InputError(f"top {model.top_n}", column="top", expected="at least one site")
    radius = default_match_radius(model.spacing_m) if match_radius_m is None else float(match_radius_m)
    if radius > 0 and (model.spacing_m <= 0 or radius > model.spacing_m / 2):
        raise InputError(f"match radius {radius:g} m with a spacing of {model.spacing_m:g} m", file=model.profile.path,
                         column="match_radius_m", expected="at most half the profile's min_spacing_m, so that one sample "
                         "chooses at most one site within it")
    return radius


def robust_site_table(model: RobustModel, selected: np.ndarray, top_k: np.ndarray, nearby: np.ndarray, threshold: float,
                      radius_m: float, base_selection: pd.DataFrame) -> pd.DataFrame:
    """Robust sites: the cells chosen most often, at least the spacing apart, whose nearby frequency reaches ``threshold``.

    Chosen cells are taken by their own selection frequency (then nearby
    frequency, then candidate order) and thinned to the spacing, so each site sits
    on the cell its samples chose most often; a site is robust when a chosen site
    lies within the match radius of it in at least ``threshold`` of the samples.
    Each row names the base site (its rank) within the match radius, if any.
    """
    cells = np.flatnonzero(selected > 0)
    order = cells[np.lexsort((cells, -nearby[cells], -selected[cells]))]
    position = np.full(len(model.candidates), -1)
    position[model.valid] = np.arange(len(model.valid))
    spacing = max(model.spacing_m, 2 * radius_m)
    peaks = model.valid[pick_spaced(position[order], model.x, model.y, model.codes, len(order), spacing)] if len(order) else order
    peaks = peaks[nearby[peaks] >= threshold - 1e-12]
    picks = peaks[np.lexsort((peaks, -selected[peaks], -nearby[peaks]))]
    base = base_selection["candidate"].to_numpy()
    base_rank = np.full(len(picks), np.nan)
    if len(base) and len(picks):
        distance = np.hypot(model.candidates.x[picks][:, None] - model.candidates.x[base][None, :],
                            model.candidates.y[picks][:, None] - model.candidates.y[base][None, :])
        near = (distance <= radius_m) | (picks[:, None] == base[None, :])
        has = near.any(axis=1)
        base_rank[has] = base_selection["rank"].to_numpy()[near[has].argmax(axis=1)]
    return pd.DataFrame({
        "site": np.arange(1, len(picks) + 1), "candidate": picks, "nearby_frequency": nearby[picks],
        "selected_frequency": selected[picks], "top_k_frequency": top_k[picks], "base_site_rank": base_rank,
    })
