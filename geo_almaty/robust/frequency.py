"""Streaming top-k counts over many samples, without ever holding samples × cells.

Samples are screened in blocks: for a weighted linear combination the scores of a
block are one float32 matrix product ``weights (block × criteria) @ values
(criteria × cells)``. For every sample only a short *prefix* of the ranking is
needed (the best ``pool`` cells: exact ranks for the best ``rank_pool``, the
plain top k, and the profile's spacing rule over the cells
:func:`geo_almaty.select.select_sites` examines). It is found exactly without
sorting all cells:

1. a lower bound ``t`` of the pool-th best score is the pool-th best float32 score
   among a fixed *pilot* set (the best cells at the base weights), less a slack
   far above float32 round-off;
2. every cell whose float32 score reaches ``t`` gets its exact float64 score, summed
   criterion by criterion (:func:`weighted_sum`: a cell's score is the same float
   whichever cells it is computed with, which a matrix product does not promise),
   and only those are sorted (score descending, ties by candidate order, as
   ``select_sites``). Strips of a tiled grid (:mod:`.tiled`) find the same scores.

With moving features the block holds lower and upper score bounds instead; cells
whose upper bound reaches the pool-th best lower bound get exact distances.
Counts are added per sample in sample order, and blocks depend only on the
number of cells and the memory budget, never on the number of threads, so a
seed gives the same counts on any machine.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from .. import settings
from ..progress import progress_bar
from ..select import pick_spaced
from ..value_functions import apply_value_function
from .model import RobustModel

#: Cells per sample whose rank is recorded exactly (ranks beyond are reported as a bound).
DEFAULT_RANK_POOL = settings.ROBUST_RANK_POOL
#: Memory for one block of sample scores (bytes); the block's sample count follows from the cell count.
DEFAULT_BLOCK_BYTES = settings.ROBUST_BLOCK_BYTES
#: Memory for the recorded ranks (8 bytes per sample and recorded cell); with very many samples fewer
#: cells per sample get an exact rank, so memory stays bounded whatever the sample count.
RANK_RECORD_BYTES = settings.ROBUST_RANK_RECORD_BYTES
#: Float32 round-off allowance when exact scores are compared with bounds computed another way.
_BOUND_SLACK = 1e-5


@dataclass
class SampleDraws:
    """The draws of a Monte Carlo run: weights ``(S, c)``, allocation-total factors and feature offsets."""

    weights: np.ndarray
    total_factors: dict[str, np.ndarray] = field(default_factory=dict)  # allocation id -> (S,) T/T0
    offsets: dict[str, np.ndarray] = field(default_factory=dict)  # point layer -> (S, features, 2) m
    #: criterion column -> per sample, its value spec with data-relative bounds resolved over the whole grid (tiled path)
    flow_specs: dict[int, list[dict]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.weights)


@dataclass
class StreamCounts:
    """What the stream kept: per valid cell counts, and the exact ranks of each sample's best ``rank_pool`` cells."""

    samples: int
    selected: np.ndarray  # (valid,) int64: chosen by the profile's selection rule
    top_k: np.ndarray  # (valid,) int64: among the k best scores (no spacing)
    picks: np.ndarray  # (S,) number of sites the selection rule found
    rank_cells: np.ndarray  # (S * rank_pool,) valid-cell index
    rank_values: np.ndarray  # (S * rank_pool,) rank 1 … rank_pool
    rank_pool: int
    selected_sites: list[np.ndarray] = field(default_factory=list, repr=False)  # per sample, valid-cell indices


def owa_total(total: np.ndarray) -> np.ndarray:
    """OWA denominators with 0 replaced by 1, as :func:`geo_almaty.aggregate.ordered_weighted_average` does."""
    return np.where(total == 0, 1, total)


def block_size(cells: int, arrays: int, budget_bytes: int = DEFAULT_BLOCK_BYTES) -> int:
    """Samples per block so that ``arrays`` float32 blocks of ``cells`` fit in ``budget_bytes``."""
    return max(1, int(budget_bytes // (4 * max(cells, 1) * arrays)))


def flow_contribution(model: RobustModel, weights: np.ndarray, factors: dict[str, float],
                      specs: dict[int, dict] | None = None) -> np.ndarray | None:
    """Σ weight × value of the flow-dependent criteria at allocation-total ``factors`` (per valid cell), or None.

    ``specs`` (criterion column → value spec with numeric bounds) replaces a criterion's
    data-relative bounds, which are otherwise taken over this model's candidates (the tiled
    path resolves them over the whole grid, :mod:`.tiled`).
    """
    if not model.flow_criteria:
        return None
    kept = ~model.result.excluded
    total = np.zeros(len(model.valid))
    for fc in model.flow_criteria:
        raw = fc.raw0 + (factors[fc.allocation] - 1.0) * fc.delta
        if specs is not None and fc.column in specs:
            values = apply_value_function(specs[fc.column], raw)
        else:
            values = apply_value_function(fc.value_spec, raw, reference=raw[kept][np.isfinite(raw[kept])])
        total += weights[fc.column] * values[model.valid]
    return total


def weighted_sum(weights: np.ndarray, values: np.ndarray, cells: np.ndarray | None = None) -> np.ndarray:
    """Σ_c ``weights[c]`` · ``values[c]`` (float64) of valid ``cells`` (default all), added criterion by criterion.

    A cell's sum is the same float whichever other cells it is computed with (a matrix
    product's rounding can depend on the block and the BLAS kernel), so scores are equal
    in memory and strip by strip (:mod:`.tiled`); :func:`geo_almaty.aggregate.row_sums` does
    the same for a ``(cells × criteria)`` float64 matrix, this one reads the model's
    ``(criteria × cells)`` float32 values without a copy of them all.
    """
    out = np.zeros(values.shape[1] if cells is None else len(cells))
    for c in np.flatnonzero(weights):
        out += float(weights[c]) * (values[c] if cells is None else values[c, cells]).astype(np.float64)
    return out


#: Up to this many features, nearest distances are computed directly (cells × features) instead of with a KD-tree.
_DIRECT_FEATURES = 64


def nearest_distance(x: np.ndarray, y: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Metres from each point ``(x, y)`` to the nearest of the features ``(px, py)``."""
    if len(px) > _DIRECT_FEATURES:
        return cKDTree(np.column_stack([px, py])).query(np.column_stack([x, y]))[0]
    out = np.full(len(x), np.inf)
    for start in range(0, len(x), 65536):  # bounded (cells × features) blocks
        cx, cy = x[start:start + 65536, None], y[start:start + 65536, None]
        out[start:start + 65536] = np.sqrt(((cx - px[None, :]) ** 2 + (cy - py[None, :]) ** 2).min(axis=1))
    return out


def _moved(model: RobustModel, layer_name: str, features: np.ndarray, offsets: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    layer = model.point_layers[layer_name]
    shift = offsets[layer_name][features]
    return layer.x[features] + shift[:, 0], layer.y[features] + shift[:, 1]


def jittered_exact(model: RobustModel, cells: np.ndarray, weights: np.ndarray, offsets: dict[str, np.ndarray]) -> np.ndarray:
    """Σ weight × value of the jittered criteria for valid ``cells``, with features moved by ``offsets`` (one sample)."""
    out = np.zeros(len(cells))
    x, y = model.x[cells], model.y[cells]
    for jc in model.jittered:
        distance = nearest_distance(x, y, *_moved(model, jc.layer, jc.features, offsets))
        out += weights[jc.column] * apply_value_function(jc.value_spec, distance)
    return out


def jittered_excluded(model: RobustModel, cells: np.ndarray, offsets: dict[str, np.ndarray]) -> np.ndarray:
    """Which valid ``cells`` a point-layer exclusion removes with features moved by ``offsets`` (one sample)."""
    out = np.zeros(len(cells), dtype=bool)
    for rule in model.exclusions:
        check = np.flatnonzero(rule.maybe[cells])
        if not len(check):
            continue
        distance = nearest_distance(model.x[cells[check]], model.y[cells[check]], *_moved(model, rule.layer, rule.features, offsets))
        out[check[distance <= rule.buffer_m]] = True
    return out


def ordered(cells: np.ndarray, scores: np.ndarray, limit: int | None = None) -> np.ndarray:
    """``cells`` sorted by score (descending), ties by cell index; NaN and -inf scores dropped."""
    keep = np.isfinite(scores)
    cells, scores = cells[keep], scores[keep]
    order = cells[np.lexsort((cells, -scores))]
    return order if limit is None else order[:limit].copy()  # a copy: a view would keep every sorted cell alive


def scoring_values(model: RobustModel) -> np.ndarray:
    """``(criteria, valid)`` float64 values with features at their base positions (flow criteria still 0)."""
    values = model.values.astype(np.float64)
    for jc in model.jittered:
        values[jc.column] = model.result.values[model.valid, jc.column]
    return values


def exact_scores(model: RobustModel, weights: np.ndarray, factors: dict[str, float] | None = None,
                 values: np.ndarray | None = None, specs: dict[int, dict] | None = None) -> np.ndarray:
    """Scores (float64) of every valid cell for one weight vector, flows at ``factors`` and features at their base positions.

    ``values`` is :func:`scoring_values` (computed when not given); ``specs`` as in
    :func:`flow_contribution`. Cells a jittered exclusion removes in the base case score -inf.
    """
    values = scoring_values(model) if values is None else values
    scores = weighted_sum(weights, values)
    if model.denominator is not None:
        scores = scores / owa_total(weighted_sum(weights, model.denominator))
    extra = flow_contribution(model, weights, {**{a: 1.0 for a in model.totals}, **(factors or {})}, specs)
    if extra is not None:
        scores += extra
    if model.exclusions:
        zero = {name: np.zeros((len(layer.x), 2)) for name, layer in model.point_layers.items()}
        scores[jittered_excluded(model, np.arange(len(model.valid)), zero)] = -np.inf
    return scores


def best_of(scores: np.ndarray, pool: int) -> np.ndarray:
    """The best ``pool`` valid cells by ``scores`` (descending, ties by cell index; -inf and NaN left out), found with a partition."""
    finite = np.flatnonzero(np.isfinite(scores))
    if len(finite) > pool:
        threshold = np.partition(scores[finite], len(finite) - pool)[len(finite) - pool]
        finite = finite[scores[finite] >= threshold]
    return ordered(finite, scores[finite], pool)


def sample_pools(model: RobustModel, draws: SampleDraws, pool: int, *, block_bytes: int = DEFAULT_BLOCK_BYTES,
                 progress: bool = False) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """For every sample of ``draws``: its best ``pool`` valid cells (best first, ties by cell index) and their exact scores.

    A float32 matrix product over a block of samples screens the cells (see the module
    docstring); the cells that can reach the pool get exact float64 scores
    (:func:`weighted_sum`, plus flows and moved features), so the result does not depend
    on which other cells the model holds: a strip's pool is the whole grid's pool
    restricted to it. Memory: ``block_bytes`` plus the screened cells of one sample.
    """
    n = len(model.valid)
    pilot = ordered(np.arange(n), model.base_score, min(n, 2 * pool))
    if len(pilot) < pool:  # too few cells valid in the base case: every cell is in the pool
        pilot = np.arange(n)
    bounds = model.value_bounds()
    jitter = bounds is not None or bool(model.exclusions)
    low_values, high_values = bounds if bounds is not None else (model.values, model.values)
    maybe_excluded = np.zeros(n, dtype=bool)
    for rule in model.exclusions:
        maybe_excluded |= rule.maybe
    size = block_size(n, 2 if jitter or model.denominator is not None else 1, block_bytes)
    starts = range(0, len(draws), size)
    for start in progress_bar(starts, desc=f"robust {model.profile.id}", unit="block", enabled=progress, total=len(starts)):
        stop = min(start + size, len(draws))
        w64 = draws.weights[start:stop]
        w32 = w64.astype(np.float32)
        low = w32 @ low_values
        if model.denominator is not None:  # OWA: a ratio of two linear forms (weights only, so no bounds are needed)
            low /= owa_total(w32 @ model.denominator)
        high = w32 @ high_values if bounds is not None else low
        for b, s in enumerate(range(start, stop)):
            factors = {a: float(f[s]) for a, f in draws.total_factors.items()}
            specs = {column: spec[s] for column, spec in draws.flow_specs.items()} or None
            extra = flow_contribution(model, w64[b], factors, specs)
            if extra is not None:
                low[b] += extra.astype(np.float32)
                if high is not low:
                    high[b] += extra.astype(np.float32)
            low_row = np.where(maybe_excluded, -np.inf, low[b]) if maybe_excluded.any() else low[b]
            if len(pilot) >= pool:
                threshold = -np.partition(-low_row[pilot], pool - 1)[pool - 1] - _BOUND_SLACK
                cells = np.flatnonzero(high[b] >= threshold)
            else:
                cells = np.arange(n)
            scores = weighted_sum(w64[b], model.values, cells)
            if model.denominator is not None:
                scores /= owa_total(weighted_sum(w64[b], model.denominator, cells))
            if extra is not None:
                scores += extra[cells]
            if jitter:
                offsets = {name: o[s] for name, o in draws.offsets.items()}
                scores += jittered_exact(model, cells, w64[b], offsets)
                scores[jittered_excluded(model, cells, offsets)] = -np.inf
            order = ordered(cells, scores, pool)
            yield s, order, scores[np.searchsorted(cells, order)]


def stream_selection(model: RobustModel, draws: SampleDraws, *, rank_pool: int = DEFAULT_RANK_POOL,
                     block_bytes: int = DEFAULT_BLOCK_BYTES, keep_sites: bool = False, progress: bool = False) -> StreamCounts:
    """Score every sample of ``draws`` and count, per valid cell, how often it is chosen and in the top k.

    Memory is bounded by ``block_bytes`` plus the recorded ranks (``samples × rank_pool``
    × 8 bytes, at most :data:`RANK_RECORD_BYTES`: ``rank_pool`` shrinks for very many
    samples, never below k); samples × cells is never held.
    """
    n = len(model.valid)
    k = model.top_n
    if n == 0:  # every candidate excluded: nothing can be chosen
        empty = np.zeros(0, np.int64)
        return StreamCounts(len(draws), empty, empty, np.zeros(len(draws), np.int64), np.zeros(0, np.int32), np.zeros(0, np.int32), 0,
                            [empty] * len(draws) if keep_sites else [])
    rank_pool, pool = pool_sizes(len(draws), k, model.selection_pool, rank_pool, n)
    selected = np.zeros(n, dtype=np.int64)
    top = np.zeros(n, dtype=np.int64)
    picks = np.zeros(len(draws), dtype=np.int64)
    rank_cells, rank_values, sites = [], [], []
    ranks = np.arange(1, rank_pool + 1, dtype=np.int32)
    for s, order, _ in sample_pools(model, draws, pool, block_bytes=block_bytes, progress=progress):
        top[order[:k]] += 1
        chosen = pick_spaced(order[:model.selection_pool], model.x, model.y, model.codes, k, model.spacing_m, model.per_district)
        selected[chosen] += 1
        picks[s] = len(chosen)
        head = order[:rank_pool]
        rank_cells.append(head.astype(np.int32))
        rank_values.append(ranks[:len(head)])
        if keep_sites:
            sites.append(chosen)
    return StreamCounts(
        samples=len(draws), selected=selected, top_k=top, picks=picks,
        rank_cells=np.concatenate(rank_cells) if rank_cells else np.zeros(0, np.int32),
        rank_values=np.concatenate(rank_values) if rank_values else np.zeros(0, np.int32),
        rank_pool=rank_pool, selected_sites=sites,
    )


def pool_sizes(samples: int, k: int, selection_pool: int, rank_pool: int = DEFAULT_RANK_POOL, cells: int | None = None) -> tuple[int, int]:
    """Cells per sample whose rank is recorded (fewer for very many samples, never below k) and the pool scored exactly
    (those, the selection rule's pool and k), at most ``cells`` (the valid cells; None: not known yet)."""
    rank_pool = min(rank_pool, max(k, RANK_RECORD_BYTES // (8 * max(samples, 1))))
    pool = max(rank_pool, selection_pool, k)
    if cells is None:
        return rank_pool, pool
    return min(rank_pool, cells), min(pool, cells)


def rank_quantiles(counts: StreamCounts, cells: int, quantiles: tuple[float, ...] = (0.05, 0.5, 0.95)) -> np.ndarray:
    """``(cells, len(quantiles))`` rank quantiles over the samples (1 = best); NaN where beyond the recorded pool.

    The q-quantile is the ⌈q·S⌉-th smallest rank of the cell over the S samples.
    Ranks worse than ``rank_pool`` are not recorded, so a quantile that falls among
    them is only known to exceed ``rank_pool`` and is NaN.
    """
    out = np.full((cells, len(quantiles)), np.nan)
    if not len(counts.rank_cells):
        return out
    order = np.lexsort((counts.rank_values, counts.rank_cells))
    cell_sorted = counts.rank_cells[order]
    rank_sorted = counts.rank_values[order].astype(np.float64)
    first = np.searchsorted(cell_sorted, np.arange(cells), side="left")
    seen = np.bincount(cell_sorted, minlength=cells)
    for i, q in enumerate(quantiles):
        position = max(int(np.ceil(q * counts.samples)), 1)  # 1-based among S ranks
        known = seen >= position
        out[known, i] = rank_sorted[first[known] + position - 1]
    return out
