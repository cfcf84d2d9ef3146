"""The robustness analysis of a grid scored in tiles: the Monte Carlo strip by strip, on the engines of :mod:`geo_almaty.tiles`.

The samples (and the one-at-a-time settings) are drawn once, here, from the seed, and
sent to every strip. Each strip, in this process or as a Dask task, scores its rows
again (the same :func:`~geo_almaty.score.score_candidates` with the bounds resolved over
the whole grid), builds its part of the :class:`~.model.RobustModel` and returns, for
every sample, its own best ``pool`` cells with their exact scores
(:func:`.frequency.sample_pools`). A cell's exact score does not depend on the other
cells (:func:`.frequency.weighted_sum`), so the best ``pool`` of the union of the
strips' pools is the whole grid's pool, ties by cell as :func:`.frequency.ordered`
breaks them; the driver then runs :func:`~geo_almaty.select.pick_spaced` on it and
counts as :func:`.frequency.stream_selection` does. Results equal the in-memory path's
(``tests/test_robust_tiled.py``).

Passes over the strips:

1. *flow bounds* (only when an uncertain flow moves a supply that is not proportional to
   its total and the value function has data-relative bounds, e.g. ``high: p95``): the
   distinct (supply, change per total) pairs of the candidates not excluded, with counts,
   from which every sample's bound is the exact quantile over the whole grid;
2. *pools*: every sample's and every OAT setting's best cells per strip, and a bit per
   cell saying whether it is valid (for the frequency GeoTIFF);
3. *ranks*: how many cells of each strip beat given cells (base ranks of the reported
   cells, and the rank shift of the base sites in an OAT setting when they fall beyond
   its pool).

Then the breakdown of the reported cells (chosen or among the k best in some sample,
the base sites, the OAT sites) on windows around them (:func:`geo_almaty.tiles.breakdown`),
on which the robust sites and tables are built as in memory.

Memory: a strip task holds what scoring the strip holds (``TilePlan``) plus its model,
``4 × criteria × cells`` bytes (three times with moving features: the values and their
bounds), a block of sample scores (:data:`.frequency.DEFAULT_BLOCK_BYTES` shared by the
strips that run at once), ``8 × criteria × cells`` bytes while it scores an OAT setting,
and its pools, about ``40 × pool × (samples + settings)`` bytes. The tile plan counts the
model, the OAT scores, the block and the ranks (:func:`geo_almaty.memory.estimate_memory`,
stage ``robustness``, when ``load_inputs(robust_samples=...)``). The driver holds one bit per grid
cell, the merged pools and the strip pools in flight, and the counts, which are sparse: at most
``samples × k`` cells are ever chosen, and the ranks are capped by
:data:`.frequency.RANK_RECORD_BYTES`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..allocate import Allocation
from ..candidates import square_candidates
from ..criteria import reachable_surface
from ..progress import progress_bar
from ..quantiles import interpolate, quantile_position
from ..rasterize import grid_rows
from ..score import ScoreResult, score_candidates
from ..select import pick_spaced, selection_pool_size
from ..tiles import LocalEngine, Tile, TileContext, TiledStudy, TiledScores, breakdown, quiet_connectors
from ..value_functions import has_relative_bounds, resolve_value_spec
from .analysis import (_STRICT, DEFAULT_ROBUST_SHARE, DEFAULT_SAMPLES, RANK_QUANTILES, RobustResult, RobustSettings, check_options,
                       draw_samples, nearby_by_distance, robust_site_table)
from .frequency import (DEFAULT_BLOCK_BYTES, DEFAULT_RANK_POOL, SampleDraws, StreamCounts, best_of, exact_scores, pool_sizes, rank_quantiles,
                        sample_pools, scoring_values)
from .model import SOURCES, RobustModel, build_model
from .sampling import DEFAULT_CONCENTRATION
from .sensitivity import DEFAULT_WEIGHT_CHANGE, OAT_COLUMNS, compare, oat_settings
from .uncertainty import Uncertainty

log = logging.getLogger(__name__)


@dataclass
class StripPools:
    """What the pools pass keeps of one strip: every draw's best cells (draw ``d`` at ``starts[d]:starts[d + 1]``)."""

    index: int
    valid: int
    valid_bits: np.ndarray  # np.packbits of the strip's (rows × width) valid cells
    starts: np.ndarray
    cell: np.ndarray  # flat cell of the whole grid
    score: np.ndarray  # exact, float64
    x: np.ndarray
    y: np.ndarray
    code: np.ndarray  # district code (-1 outside), numbered alike in every strip


@dataclass
class TiledFrequency:
    """What the frequency GeoTIFF of a tiled run needs, sparse: valid cells as bits, counts and median ranks at the cells that have them."""

    study: TiledStudy
    valid_bits: dict[int, np.ndarray] = field(repr=False)  # per strip with candidates
    selected: tuple[np.ndarray, np.ndarray] = field(repr=False)  # (flat cells, counts)
    top_k: tuple[np.ndarray, np.ndarray] = field(repr=False)
    rank_p50: tuple[np.ndarray, np.ndarray] = field(repr=False)
    samples: int = 0
    radius_m: float = 0.0

    def bands(self, tile: Tile) -> np.ndarray:
        """``(4, rows, width)`` float32 for the rows of ``tile``, in the order of :data:`.outputs.FREQUENCY_BANDS`."""
        grid = self.study.grid
        rows, width = tile.row1 - tile.row0, grid.width
        bits = self.valid_bits.get(tile.index)
        valid = np.zeros(rows * width, dtype=bool) if bits is None else np.unpackbits(bits, count=rows * width).astype(bool)
        lo, hi = tile.row0 * width, tile.row1 * width
        out = np.full((4, rows * width), np.nan)
        cells, counts = self.selected
        if self.radius_m > 0:  # the disc sum of the picks, on the strip and the rows within the radius around it
            reach = int(self.radius_m // grid.cell_size)
            r0, r1 = max(tile.row0 - reach, 0), min(tile.row1 + reach, grid.height)
            here = (cells >= r0 * width) & (cells < r1 * width)
            surface = np.bincount(cells[here] - r0 * width, weights=counts[here], minlength=(r1 - r0) * width).reshape(r1 - r0, width)
            nearby = np.rint(reachable_surface(surface, grid_rows(grid, r0, r1), self.radius_m))[tile.row0 - r0:tile.row1 - r0].ravel()
        else:
            nearby = _scatter(rows * width, cells, counts, lo, hi)
        out[0, valid] = nearby[valid] / self.samples
        out[1, valid] = _scatter(rows * width, *self.selected, lo, hi)[valid] / self.samples
        out[2, valid] = _scatter(rows * width, *self.top_k, lo, hi)[valid] / self.samples
        cells, ranks = self.rank_p50
        here = (cells >= lo) & (cells < hi)
        out[3, cells[here] - lo] = ranks[here]
        return out.reshape(4, rows, width).astype(np.float32)


def _scatter(size: int, cells: np.ndarray, values: np.ndarray, lo: int, hi: int) -> np.ndarray:
    out = np.zeros(size)
    here = (cells >= lo) & (cells < hi)
    out[cells[here] - lo] = values[here]
    return out


# --- what every strip does --------------------------------------------------------------------------

def strip_model(context: TileContext, tile: Tile, params: dict) -> RobustModel | None:
    """The strip's rows scored again (bounds of the whole grid) and its part of the model; None without candidates."""
    study = context.window(tile.row0, tile.row1)
    candidates = square_candidates(study)
    if not len(candidates):
        return None
    with quiet_connectors():
        result = score_candidates(context.profile, study, candidates, context.allocations, force_ahp=context.force_ahp,
                                  value_specs=params["value_specs"], siting=context.siting)
        return build_model(result, study, context.allocations, params["allocation_specs"], params["flows"], params["uncertainty"],
                           sources=params["sources"], top_n=params["top_n"], value_specs=params["value_specs"], twice=params["twice"])


def flow_reference_of_tile(context: TileContext, tile: Tile, params: dict) -> dict[int, tuple[np.ndarray, ...]]:
    """Pass 1: per flow criterion with data-relative bounds, the distinct (supply, change per total) pairs of the candidates not
    excluded and how many candidates have each."""
    model = strip_model(context, tile, params)
    if model is None:
        return {}
    kept = ~model.result.excluded
    out = {}
    for fc in model.flow_criteria:
        if has_relative_bounds(fc.value_spec):
            raw0, delta = fc.raw0[kept], fc.delta[kept]
            finite = np.isfinite(raw0)
            out[fc.column] = distinct_pairs(raw0[finite], delta[finite], np.ones(int(finite.sum()), dtype=np.int64))
    return out


def distinct_pairs(a: np.ndarray, b: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct pairs ``(a, b)`` and the sum of ``counts`` of each."""
    if not len(a):
        return a, b, counts
    pairs, inverse = np.unique(np.column_stack([a, b]), axis=0, return_inverse=True)
    return pairs[:, 0].copy(), pairs[:, 1].copy(), np.bincount(inverse.ravel(), weights=counts, minlength=len(pairs)).astype(np.int64)


def pools_of_tile(context: TileContext, tile: Tile, params: dict) -> StripPools:
    """Pass 2: every sample's and OAT setting's best ``pool`` cells of the strip, with exact scores."""
    width = context.study.grid.width
    rows = tile.row1 - tile.row0
    model = strip_model(context, tile, params)
    draws: SampleDraws = params["draws"]
    count = len(draws) + len(params["settings"])
    if model is None or not len(model.valid):
        empty = np.zeros(0, dtype=np.int64)
        return StripPools(tile.index, 0, np.packbits(np.zeros(rows * width, dtype=bool)), np.zeros(count + 1, dtype=np.int64), empty,
                          empty.astype(float), empty.astype(float), empty.astype(float), empty)
    pool = params["pool"]
    orders: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    for _, order, score in sample_pools(model, draws, pool, block_bytes=params["block_bytes"]):
        orders.append(order)
        scores.append(score)
    values = scoring_values(model)
    for weights, factors, specs in params["settings"]:
        setting = exact_scores(model, weights, factors, values, specs)
        order = best_of(setting, pool)
        orders.append(order)
        scores.append(setting[order])
    order = np.concatenate(orders)
    valid = np.zeros(rows * width, dtype=bool)
    local = model.candidates.cell[model.valid]
    valid[local] = True
    return StripPools(tile.index, len(model.valid), np.packbits(valid), np.concatenate([[0], np.cumsum([len(o) for o in orders])]),
                      local[order] + tile.row0 * width, np.concatenate(scores), model.x[order], model.y[order], model.codes[order])


def ranks_of_tile(context: TileContext, tile: Tile, params: dict) -> list[np.ndarray]:
    """Pass 3: for each query (a setting, or None for the base scores; scores and flat cells), how many cells of the strip score
    higher, or the same with a smaller cell."""
    model = strip_model(context, tile, params)
    queries = params["queries"]
    if model is None or not len(model.valid):
        return [np.zeros(len(q[1]), dtype=np.int64) for q in queries]
    cells = model.candidates.cell[model.valid] + tile.row0 * context.study.grid.width
    values = scoring_values(model)
    out = []
    for setting, q_score, q_cell in queries:
        if setting is None:
            scores = model.base_score
        else:
            weights, factors, specs = params["settings"][setting]
            scores = exact_scores(model, weights, factors, values, specs)
        out.append(count_better(scores, cells, q_score, q_cell))
    return out


def count_better(scores: np.ndarray, cells: np.ndarray, q_score: np.ndarray, q_cell: np.ndarray) -> np.ndarray:
    """For each query, the cells scoring higher than ``q_score``, or the same with a smaller cell (-inf and NaN never count)."""
    finite = np.isfinite(scores)
    s, c = scores[finite], cells[finite]
    order = np.argsort(s, kind="stable")
    s, c = s[order], c[order]
    above = np.searchsorted(s, q_score, side="right")
    same = np.searchsorted(s, q_score, side="left")
    out = len(s) - above
    for i in np.flatnonzero(above > same):  # exact ties (rare): count the tied cells before the query's
        out[i] += int((c[same[i]:above[i]] < q_cell[i]).sum())
    return out.astype(np.int64)


# --- the driver ---------------------------------------------------------------------------------------

def weighted_quantile(values: np.ndarray, counts: np.ndarray, q: float) -> float:
    """numpy's linear ``q`` quantile of ``values`` each repeated ``counts`` times (0.0 when empty, as ``resolve_bound``)."""
    n = int(counts.sum())
    if n == 0:
        return 0.0
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(counts[order])
    low, high, t = quantile_position(n, q)
    at = np.searchsorted(cumulative, [low, high], side="right")
    return interpolate(values[order][at[0]], values[order][at[1]], t)


def flow_specs(model: RobustModel, references: dict[int, tuple[np.ndarray, ...]], factors: dict[str, float]) -> dict[int, dict]:
    """The value specs of the flow criteria with data-relative bounds at allocation-total ``factors``, resolved over the whole grid."""
    out = {}
    for fc in model.flow_criteria:
        if fc.column in references:
            raw0, delta, counts = references[fc.column]
            raw = raw0 + (factors.get(fc.allocation, 1.0) - 1.0) * delta  # as flow_contribution computes each candidate's
            out[fc.column] = resolve_value_spec(fc.value_spec, where=f"criteria/{model.result.criteria[fc.column]['id']}/value",
                                                quantile=lambda q, r=raw, c=counts: weighted_quantile(r, c, q))
    return out


def merge_pools(a: StripPools, b: StripPools, limit: int) -> StripPools:
    """The best ``limit`` cells of every draw over two strips' pools (score descending, ties by cell), as one."""
    columns = [np.concatenate([getattr(a, name), getattr(b, name)]) for name in ("cell", "score", "x", "y", "code")]
    lengths = np.diff(a.starts) + np.diff(b.starts)
    draw = np.concatenate([np.repeat(np.arange(len(lengths)), np.diff(p.starts)) for p in (a, b)])
    order = np.lexsort((columns[0], -columns[1], draw))
    starts = np.concatenate([[0], np.cumsum(lengths)])
    position = np.arange(len(order)) - starts[draw[order]]
    keep = order[position < limit]
    kept = np.concatenate([[0], np.cumsum(np.minimum(lengths, limit))])
    return StripPools(-1, a.valid + b.valid, np.zeros(0, np.uint8), kept, *(column[keep] for column in columns))


def _draw(pools: StripPools, d: int, limit: int) -> tuple[np.ndarray, ...]:
    """Draw ``d``'s best ``limit`` cells: flat cells, x, y, codes (best first)."""
    at = slice(pools.starts[d], min(pools.starts[d] + limit, pools.starts[d + 1]))
    return pools.cell[at], pools.x[at], pools.y[at], pools.code[at]


class _KnownRanks:
    """An OAT outcome (chosen sites and k best, as indices of the reported cells) whose ranks of the base sites are known
    (see :class:`.sensitivity.Outcome`)."""

    def __init__(self, chosen: np.ndarray, top_k: np.ndarray, sites: np.ndarray, ranks: np.ndarray):
        self.chosen, self.top_k, self.rank = chosen, top_k, dict(zip(sites.tolist(), ranks.tolist()))

    def ranks_of(self, cells: np.ndarray) -> np.ndarray:
        return np.array([self.rank[c] for c in cells.tolist()], dtype=np.float64)


def positions_in(order: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """1-based position of each of ``cells`` in ``order`` (distinct), NaN where absent."""
    sorter = np.argsort(order)
    at = np.minimum(np.searchsorted(order, cells, sorter=sorter), max(len(order) - 1, 0))
    found = order[sorter[at]] == cells if len(order) else np.zeros(len(cells), dtype=bool)
    return np.where(found, sorter[at] + 1.0, np.nan) if len(order) else np.full(len(cells), np.nan)


def analyse_tiled_robustness(scores: TiledScores, selection: pd.DataFrame, result: ScoreResult, study: TiledStudy,
                             allocations: dict[str, Allocation], allocation_specs: dict[str, dict], flows: pd.DataFrame,
                             uncertainty: Uncertainty | None, *, engine=None, samples: int = DEFAULT_SAMPLES, seed: int = 0,
                             top_n: int | None = None, concentration: float = DEFAULT_CONCENTRATION, sources: tuple[str, ...] = SOURCES,
                             threshold: float = DEFAULT_ROBUST_SHARE, match_radius_m: float | None = None,
                             rank_pool: int = DEFAULT_RANK_POOL, weight_change: float = DEFAULT_WEIGHT_CHANGE,
                             progress: bool = False) -> RobustResult:
    """:func:`.analysis.analyse_robustness` of a profile scored in tiles (``scores``, ``selection`` and the breakdown ``result`` of
    :func:`geo_almaty.tiles.score_tiled`), strip by strip on ``engine``; the result's candidates are the reported cells only and
    its ``surface`` draws the frequency GeoTIFF strip by strip. ``engine``: a :class:`~geo_almaty.tiles.LocalEngine` (default) or
    :class:`~geo_almaty.tiles.DaskEngine`."""
    profile = result.profile
    engine = engine or LocalEngine()
    context = TileContext(study, profile, allocations, scores.siting, scores.force_ahp)
    params = {"value_specs": scores.value_specs, "allocation_specs": allocation_specs, "flows": flows, "uncertainty": uncertainty,
              "sources": sources, "top_n": top_n, "twice": {}, "block_bytes": DEFAULT_BLOCK_BYTES // max(engine.concurrency, 1)}
    tiles = [t for t, n in zip(study.tiles, study.counts) if n]

    def passes(task, desc: str):
        return progress_bar(engine.map(task, context, tiles, params), desc=f"{desc} {profile.id}", unit="tile", total=len(tiles),
                            enabled=progress)

    # the model's structure (criteria that move, totals, point layers, notes) from the row of the first base site
    base_cells = result.candidates.cell[selection["candidate"].to_numpy()]
    row = int(base_cells[0] // study.grid.width)
    structure = strip_model(context, Tile(-1, row, row + 1), params)  # also fills params["twice"]: allocations at twice their total
    radius = check_options(structure, samples=samples, concentration=concentration, threshold=threshold, match_radius_m=match_radius_m)
    k = params["top_n"] = structure.top_n
    draws, inconsistent = draw_samples(structure, uncertainty, flows, samples=samples, seed=seed, concentration=concentration)
    oat = oat_settings(structure, uncertainty, flows, weight_change)
    settings = [(structure.weights, {}, {})] + [(w, f, {}) for _, w, f in oat]  # the base setting first

    # 1. per sample and setting, the whole grid's bound of a flow criterion that needs one
    if any(has_relative_bounds(fc.value_spec) for fc in structure.flow_criteria):
        merged: dict[int, list[tuple[np.ndarray, ...]]] = {}
        for part in passes(flow_reference_of_tile, "flow bounds"):
            for column, pairs in part.items():
                merged.setdefault(column, []).append(pairs)
        references = {column: distinct_pairs(*(np.concatenate(c) for c in zip(*pieces))) for column, pieces in merged.items()}
        per_sample = [flow_specs(structure, references, {a: float(f[s]) for a, f in draws.total_factors.items()}) for s in range(samples)]
        draws.flow_specs = {column: [specs[column] for specs in per_sample] for column in references}
        settings = [(w, f, flow_specs(structure, references, f)) for w, f, _ in settings]

    # 2. every sample's and setting's pool, merged over the strips; counts as stream_selection keeps them
    params.update(draws=draws, settings=settings, pool=pool_sizes(samples, k, selection_pool_size(k), rank_pool)[1])
    merged, valid_bits = None, {}
    for part in passes(pools_of_tile, "robust"):  # merged as they come: the driver holds two strips' pools at most
        valid_bits[part.index] = part.valid_bits
        merged = part if merged is None else merge_pools(merged, part, params["pool"])
    n = merged.valid
    rank_pool, pool = pool_sizes(samples, k, selection_pool_size(k), rank_pool, n)
    choose = min(n, selection_pool_size(k))
    chosen_cells, top_cells, rank_cells, picks, outcomes = [], [], [], np.zeros(samples, dtype=np.int64), []
    for d in range(samples + len(settings)):
        cell, x, y, code = _draw(merged, d, pool if d < samples else min(n, params["pool"]))
        head = np.arange(min(choose if d < samples else max(choose, k), len(cell)))  # as stream_selection / evaluate_setting
        chosen = pick_spaced(head, x, y, code, k, structure.spacing_m, structure.per_district)
        if d < samples:
            chosen_cells.append(cell[chosen])
            top_cells.append(cell[:k])
            rank_cells.append(cell[:rank_pool])
            picks[d] = len(chosen)
        else:
            outcomes.append((cell, chosen))
    rank_values = np.concatenate([np.arange(1, len(c) + 1, dtype=np.int32) for c in rank_cells])
    rank_cells = np.concatenate(rank_cells)
    selected_ids, selected_counts = np.unique(np.concatenate(chosen_cells), return_counts=True)
    top_ids, top_counts = np.unique(np.concatenate(top_cells), return_counts=True)

    # the reported cells: their breakdown, and the model of them on which the tables are built as in memory
    cells = np.unique(np.concatenate([selected_ids, top_ids, base_cells, *(c[chosen] for c, chosen in outcomes),
                                      *(c[:k] for c, _ in outcomes)]).astype(np.int64))
    sub = breakdown(context, cells, scores.value_specs, progress=progress)
    model = build_model(sub, study, allocations, allocation_specs, flows, uncertainty, sources=sources, top_n=k,
                        value_specs=scores.value_specs, twice=params["twice"], fixed_excluded=np.zeros(len(cells), dtype=bool))
    at = np.searchsorted  # flat cells -> indices of the reported cells: at(cells, ids)
    counts = StreamCounts(samples, np.bincount(at(cells, selected_ids), selected_counts, len(cells)).astype(np.int64),
                          np.bincount(at(cells, top_ids), top_counts, len(cells)).astype(np.int64), picks,
                          at(cells, rank_cells[np.isin(rank_cells, cells)]).astype(np.int32), rank_values[np.isin(rank_cells, cells)],
                          rank_pool)
    nearby = (counts.selected if radius <= 0 else
              nearby_by_distance(model.x, model.y, model.x, model.y, counts.selected.astype(np.float64), radius * _STRICT)) / samples

    # 3. ranks over every strip: the reported cells' at the base scores, the base sites' in each OAT setting beyond its pool
    base_sites = outcomes[0][0][outcomes[0][1]]
    finite = np.isfinite(model.base_score)
    queries: list[tuple[int | None, np.ndarray, np.ndarray]] = [(None, model.base_score[finite], cells[finite])]
    ranks = [positions_in(cell, base_sites) for cell, _ in outcomes]
    for i, known in enumerate(ranks):
        if np.isnan(known).any():
            w, f, specs = settings[i]
            beyond = base_sites[np.isnan(known)]
            queries.append((i, exact_scores(model, w, f, scoring_values(model), specs)[at(cells, beyond)], beyond))
    params.update(queries=queries, draws=SampleDraws(draws.weights[:0]))  # the samples are not needed any more
    totals = [np.zeros(len(q[1]), dtype=np.int64) for q in queries]
    for part in passes(ranks_of_tile, "ranks"):
        for total, counted in zip(totals, part):
            total += counted
    base_rank = np.full(len(cells), np.nan)
    base_rank[finite] = totals[0] + 1.0
    for (i, _, _), total in zip(queries[1:], totals[1:]):
        ranks[i][np.isnan(ranks[i])] = total + 1.0

    def outcome(i: int) -> _KnownRanks:
        cell, chosen = outcomes[i]
        return _KnownRanks(at(cells, cell[chosen]), at(cells, cell[:k]), at(cells, base_sites), ranks[i])

    table = pd.DataFrame([{**row, **compare(model, outcome(0), outcome(i), radius * _STRICT)} for i, (row, _, _) in enumerate(oat, start=1)],
                         columns=OAT_COLUMNS)
    base_selection = selection.assign(candidate=at(cells, base_cells))
    selected, top_k = counts.selected / samples, counts.top_k / samples
    robust = robust_site_table(model, selected, top_k, nearby, threshold, radius * _STRICT, base_selection)
    notes = list(structure.notes)
    if (picks < k).any():
        notes.append(f"{int((picks < k).sum())} of {samples} samples found fewer than {k} sites among the best {choose} candidates "
                     "that the selection rule (spacing, per-district cap) accepts")
    surface = TiledFrequency(study, valid_bits, (selected_ids, selected_counts.astype(np.float64)),
                             (top_ids, top_counts.astype(np.float64)), median_ranks(rank_cells, rank_values, samples), samples, radius * _STRICT)
    log.info("%s: %d samples in %d strips, %d robust sites (≥ %.0f %%)", profile.id, samples, len(tiles), len(robust), threshold * 100)
    return RobustResult(model, RobustSettings(samples, seed, concentration, tuple(sources), k, threshold, radius, rank_pool, weight_change),
                        counts, selected, top_k, nearby, rank_quantiles(counts, len(cells), RANK_QUANTILES), base_rank, base_selection,
                        robust, table, inconsistent, notes, surface=surface)


def median_ranks(rank_cells: np.ndarray, rank_values: np.ndarray, samples: int) -> tuple[np.ndarray, np.ndarray]:
    """(flat cells, median rank) of every cell whose median rank lies within the recorded pool (the GeoTIFF's rank band)."""
    ids, compact = np.unique(rank_cells, return_inverse=True)
    records = StreamCounts(samples, ids[:0], ids[:0], ids[:0], compact.astype(np.int64), rank_values, 0)
    median = rank_quantiles(records, len(ids), (0.5,))[:, 0]
    known = np.isfinite(median)
    return ids[known], median[known]
