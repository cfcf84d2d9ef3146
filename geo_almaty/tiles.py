"""Grids too large for memory, scored in tiles: strips of full rows, one after another or as Dask tasks.

A tiled run holds for the whole grid only what selection, the GeoTIFF and the maps
need: a float32 score and a uint32 bitmask of the siting rules catching each cell
(:class:`TiledScores`, the ``_exclusions.tif``),
the best candidates with their exact float64 scores (the *pool*), and the supply
study on which flows are spread and reachable sums computed (250 m by default,
``Study.supply``), which every tile samples. Everything else is computed per strip
and dropped: the strip's mask, land-use shares, slope (read one row beyond the
strip), the masks of the siting rules and the criterion columns. The siting plan
(the profile's exclusions, sanitary zones, airports, water, jurisdiction:
:func:`geo_almaty.siting.zones.build_siting_plan`) is built once and every strip
evaluates the same rules on its cells, as the in-memory path does on all of them.

The strips are walked by passes, each a pure function of (context, strip), so the
same code runs in this process or as Dask tasks (:class:`DaskEngine`):

1. *bounds* (only for profiles with data-relative bounds such as ``high: p95``):
   the siting rules and those criteria; the bounds over every candidate not excluded
   are streamed exactly (:class:`geo_almaty.quantiles.StreamedQuantiles`; rarely
   a second pass);
2. *score*: every criterion with those bounds, aggregated; the strip's scores go
   into the rasters and its best candidates into the pool (a second score pass
   with a 4× pool only when the spacing walk needs more);
3. *breakdown*: the full per-criterion breakdown of the candidates the outputs
   need (the chosen sites and the GeoPackage's best share, at most
   ``settings.MAX_GEOPACKAGE_CANDIDATES``), on windows around them.

Results equal the in-memory path's bit for bit (scores, selection, GeoTIFF and
CSV bytes; ``tests/test_scale.py``): per-candidate work is independent of the
other candidates, bounds are the same floats, and the pool keeps float64 scores
with the in-memory tie order (score descending, then candidate order). Selection
stages (``selection.stages``) pick from the pool as they pick from all candidates;
the pool is widened when a stage's picks could depend on candidates beyond it.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry.base import BaseGeometry

from . import settings
from .allocate import OUTSIDE_DISTRICTS, Allocation
from .candidates import Candidates, square_candidates
from .catalog import Catalog
from .criteria import CriterionRaw, criterion_raw, default_value_spec
from .errors import DataUnavailableError, InputError, ProfileError, SelectionError
from .grid import AnalysisGrid
from .memory import TilePlan
from .prepare import Study, study_on_grid
from .profiles import FacilityProfile
from .progress import progress_bar
from .quantiles import StreamedQuantiles, interpolate, quantile_position
from .rasterize import burn_values, grid_rows
from .score import ScoreResult, score_candidates
from .select import _shortfall, district_codes, pick_in_stages, pick_widening, selection_top_n, stage_qualifies
from .siting.rules import SitingRules
from .siting.zones import RuleTable, SitingPlan, build_siting_plan, evaluate_rules
from .value_functions import relative_quantiles, resolve_value_spec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tile:
    """Rows ``row0`` to ``row1`` (exclusive) of the grid, full width."""

    index: int
    row0: int
    row1: int


@dataclass
class TiledStudy:
    """A study whose grid is scored in strips: the layers, the grid, the candidate area and the supply study, no per-cell array.

    It answers what the outputs ask a :class:`~geo_almaty.prepare.Study` (``layer``,
    ``grid``, ``catalog``, ``area``, ``supply_study``); :meth:`window` builds the real
    study of a strip.
    """

    catalog: Catalog
    layers: dict[str, gpd.GeoDataFrame]
    grid: AnalysisGrid
    area: BaseGeometry
    supply: Study
    plan: TilePlan
    within: str | None = None
    counts: np.ndarray = field(default=None, repr=False)  # candidates per tile

    @property
    def tiles(self) -> list[Tile]:
        rows = self.plan.rows
        return [Tile(i, r, min(r + rows, self.grid.height)) for i, r in enumerate(range(0, self.grid.height, rows))]

    @property
    def supply_study(self) -> Study:
        return self.supply

    @property
    def network(self):
        return self.supply.network

    @property
    def dem(self) -> np.ndarray | None:
        """The supply study's DEM (whether the catalog has one; strips read their own)."""
        return self.supply.dem

    @property
    def slope(self) -> np.ndarray | None:
        return self.supply.slope

    @property
    def road_cache(self) -> dict:
        return self.supply.road_cache

    def layer(self, name: str) -> gpd.GeoDataFrame | None:
        return self.layers.get(name)

    def window(self, row0: int, row1: int, cache: dict | None = None, *, land_use: bool = True, terrain: bool = True) -> Study:
        """The study of rows ``row0``–``row1``: its mask, land-use shares and slope (unless not needed); flows, network and
        joined points shared."""
        study = study_on_grid(self.catalog, self.layers, self.area, grid_rows(self.grid, row0, row1), population=False,
                              terrain_grid=self.grid, land_use=land_use, terrain=terrain)
        study.supply = self.supply
        study._network, study._network_built = self.supply.network, True
        study.road_cache = self.supply.road_cache
        study.cache = cache
        return study


def prepare_tiled(catalog: Catalog, layers: dict[str, gpd.GeoDataFrame], area: BaseGeometry, grid: AnalysisGrid, supply: Study,
                  plan: TilePlan, within: str | None = None) -> TiledStudy:
    """A :class:`TiledStudy`, with the number of candidates of every strip counted (one burn of the area per strip)."""
    study = TiledStudy(catalog, layers, grid, area, supply, plan, within)
    study.counts = np.array([int(burn_values([area], [1], grid_rows(grid, t.row0, t.row1)).sum()) for t in study.tiles], dtype=np.int64)
    log.info("tiled grid %d×%d cells of %g m: %s", grid.height, grid.width, grid.cell_size, plan.describe())
    return study


# --- what every strip's task shares -------------------------------------------------------------------

@dataclass
class TileContext:
    """A profile scored on a tiled study (sent once to every Dask worker). Each process keeps its own cache
    (KD-trees of feature sample points) beside it; the cache is not sent."""

    study: TiledStudy
    profile: FacilityProfile
    allocations: dict[str, Allocation]
    siting: SitingPlan
    force_ahp: bool = False

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_cache", None)
        return state

    @property
    def cache(self) -> dict:
        if "_cache" not in self.__dict__:
            self.__dict__["_cache"] = {}
        return self.__dict__["_cache"]

    def window(self, row0: int, row1: int, **needs: bool) -> Study:
        with quiet_connectors():
            return self.study.window(row0, row1, self.cache, **needs)


class quiet_connectors:
    """Within a strip, points far from any road are not warned about one strip at a time (the criteria table and the
    notes give the connectors of what is written out)."""

    def __enter__(self):
        self.logger = logging.getLogger("geo_almaty.network.connect")
        self.level = self.logger.level
        self.logger.setLevel(logging.ERROR)

    def __exit__(self, *exc) -> None:
        self.logger.setLevel(self.level)


def _raise_for_profile(profile: FacilityProfile, exc: Exception) -> None:
    """Re-raise a criterion's error with the profile's file named (as :func:`score_candidates` does)."""
    raise type(exc)(exc.problem, file=profile.path, layer=exc.layer, column=exc.column, expected=exc.expected) from None


def relative_criteria(profile: FacilityProfile) -> dict[str, list[float]]:
    """Criterion id → the quantiles its data-relative bounds need (criteria with numeric bounds left out)."""
    out = {}
    for spec in profile.criteria:
        quantiles = relative_quantiles(default_value_spec(spec), where=f"criteria/{spec['id']}/value")
        if quantiles:
            out[spec["id"]] = quantiles
    return out


def bounds_of_tile(context: TileContext, tile: Tile, params: dict) -> dict[str, np.ndarray]:
    """Pass 1: the finite raw values, over candidates not excluded, of every criterion with data-relative bounds."""
    specs = [spec for spec in context.profile.criteria if spec["id"] in params["relative"]]
    slope_rules = any(rule.slope_widths is not None for rule in context.siting.rules)
    study = context.window(tile.row0, tile.row1, land_use=any(s["type"] == "share" for s in specs),
                           terrain=slope_rules or any(s["type"] == "raster" for s in specs))
    candidates = square_candidates(study)
    excluded = evaluate_rules(context.siting, study, candidates).excluded()
    out = {}
    for spec in specs:
        try:
            with quiet_connectors():
                raw = criterion_raw(spec, study, candidates, context.allocations, {}).values
        except DataUnavailableError as exc:
            if spec.get("optional"):
                continue
            _raise_for_profile(context.profile, exc)
        except ProfileError as exc:
            _raise_for_profile(context.profile, exc)
        kept = raw[~excluded]
        out[spec["id"]] = kept[np.isfinite(kept)]
    return out


@dataclass
class TilePart:
    """What the score pass keeps of one strip."""

    index: int
    score: np.ndarray  # float32 (rows, width), NaN where excluded or no candidate
    rules: np.ndarray  # uint32 (rows, width): bit j where siting rule j catches the cell's candidate
    rule_counts: np.ndarray  # candidates caught per rule
    candidates: int
    valid: int
    pool_local: np.ndarray  # candidate index within the strip, best first
    pool_score: np.ndarray  # float64
    pool_x: np.ndarray
    pool_y: np.ndarray
    pool_cell: np.ndarray  # flat cell of the whole grid
    pool_district: np.ndarray  # district number (0: outside), as candidate_districts burns it
    pool_qualifies: np.ndarray  # bool (pool, stages): meets the condition of selection stage k
    qualified: np.ndarray  # candidates not excluded meeting each stage's condition
    districts: np.ndarray  # district numbers of every candidate not excluded (unique)
    excluded_by: dict[str, int]
    skipped: list[str]
    skip_reasons: dict[str, str]
    weights: np.ndarray
    ahp: object
    notes: list[str]


def best_first(rows: np.ndarray, scores: np.ndarray, limit: int) -> np.ndarray:
    """Positions of the best ``limit`` of ``scores`` (descending, ties by ``rows``), in that order."""
    if len(scores) > limit:
        cut = np.partition(scores, len(scores) - limit)[len(scores) - limit]
        keep = np.flatnonzero(scores >= cut)
    else:
        keep = np.arange(len(scores))
    order = keep[np.lexsort((rows[keep], -scores[keep]))]
    return order[:limit]


def score_tile(context: TileContext, tile: Tile, params: dict) -> TilePart:
    """Pass 2: every criterion on the strip with the resolved bounds; scores, exclusion codes and the strip's best candidates."""
    study = context.window(tile.row0, tile.row1)
    candidates = square_candidates(study)
    with quiet_connectors():
        result = score_candidates(context.profile, study, candidates, context.allocations, force_ahp=context.force_ahp,
                                  value_specs=params["value_specs"], siting=context.siting)
    shape = study.grid.shape
    score = np.full(shape, np.nan, dtype=np.float32)
    score.ravel()[candidates.cell] = result.score
    rules = np.zeros(shape, dtype=np.uint32)
    rules.ravel()[candidates.cell] = result.rules.bitmask()
    valid = np.flatnonzero(np.isfinite(result.score))
    top = valid[best_first(valid, result.score[valid], params["pool"])]
    stages = context.profile.selection.get("stages") or []
    qualifies = np.zeros((len(top), len(stages)), dtype=bool)
    qualified = np.zeros(len(stages), dtype=np.int64)
    for k, stage in enumerate(stages):
        qualifies[:, k] = stage_qualifies(result, stage, top)
        qualified[k] = int(stage_qualifies(result, stage, valid).sum())
    districts = study.layer("districts")
    numbers = np.zeros(len(top), dtype=np.int32)
    present = np.zeros(0, dtype=np.int32)
    if districts is not None:
        index = burn_values(districts.geometry.values, np.arange(1, len(districts) + 1), study.grid).ravel()
        numbers = index[candidates.cell[top]]
        present = np.unique(index[candidates.cell[valid]])
    reasons, counts = np.unique(result.exclusion[result.excluded].astype(str), return_counts=True)
    return TilePart(tile.index, score, rules, result.rules.masks.sum(axis=0), len(candidates), len(valid), top, result.score[top],
                    candidates.x[top], candidates.y[top], candidates.cell[top] + tile.row0 * study.grid.width, numbers, qualifies,
                    qualified, present, dict(zip(reasons.tolist(), counts.tolist())), result.skipped, result.skip_reasons, result.weights,
                    result.ahp, result.notes)


# --- engines: this process, or Dask --------------------------------------------------------------------

class LocalEngine:
    """Strips one after another in this process."""

    name = "local"
    concurrency = 1

    def map(self, task: Callable, context: TileContext, tiles: list[Tile], params: dict) -> Iterator:
        for tile in tiles:
            yield task(context, tile, params)

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class DaskEngine:
    """Strips as tasks on a Dask cluster: a LocalCluster (loopback only, no dashboard) unless ``address`` names a scheduler.

    The context (study, profile, flows) is scattered once to every worker; results come
    back in strip order, at most ``2 × concurrency`` in flight, so the client holds only a
    few strips at a time and the result is the same whatever the number of workers.
    """

    name = "dask"

    def __init__(self, *, workers: int | None = None, threads: int | None = None, address: str | None = None, processes: bool = True):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise InputError("Dask is not installed", column="--engine dask",
                             expected="pip install 'dask[distributed]' (or geo-almaty[dask]), or --engine local") from None
        self.workers = int(workers or settings.DASK_WORKERS)
        self.threads = int(threads or settings.DASK_THREADS)
        self._cluster = None
        if address:
            self.client = Client(address)
            info = self.client.scheduler_info(n_workers=-1)["workers"].values()
            self.concurrency = max(sum(int(w.get("nthreads", 1)) for w in info), 1)
        else:
            where = {"host": "127.0.0.1"} if processes else {}  # worker processes talk over loopback; threads in process
            self._cluster = LocalCluster(n_workers=self.workers, threads_per_worker=self.threads, processes=processes,
                                         dashboard_address=None, silence_logs=logging.ERROR, **where)
            self.client = Client(self._cluster)
            self.concurrency = self.workers * self.threads
        self._scattered: dict[int, object] = {}

    def map(self, task: Callable, context: TileContext, tiles: list[Tile], params: dict) -> Iterator:
        key = id(context)
        if key not in self._scattered:
            self._scattered = {key: self.client.scatter(context, broadcast=True, hash=False)}
        remote = self._scattered[key]
        in_flight = 2 * self.concurrency
        futures = []
        for i, tile in enumerate(tiles):
            futures.append(self.client.submit(task, remote, tile, params, pure=False, priority=-i))
            if len(futures) > in_flight:
                yield futures.pop(0).result()
        for future in futures:
            yield future.result()

    def close(self) -> None:
        self._scattered = {}
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_engine(name: str | None = None, *, workers: int | None = None, threads: int | None = None, address: str | None = None,
                processes: bool = True):
    """:class:`LocalEngine` or :class:`DaskEngine` by name (default ``settings.TILE_ENGINE``); use it as a context manager."""
    name = name or settings.TILE_ENGINE
    if name == "local":
        return LocalEngine()
    if name == "dask":
        return DaskEngine(workers=workers, threads=threads, address=address, processes=processes)
    raise InputError(f"unknown engine '{name}'", column="--engine", expected="local or dask")


# --- the tiled score -------------------------------------------------------------------------------------

@dataclass
class TiledScores:
    """What a tiled run keeps for the whole grid: a float32 score and a uint32 rule bitmask per cell, and counts."""

    grid: AnalysisGrid
    score: np.ndarray = field(repr=False)  # float32, NaN where excluded or no candidate (the score GeoTIFF)
    rules: np.ndarray = field(repr=False)  # uint32: bit j where siting rule j catches the cell (the exclusions GeoTIFF)
    rule_ids: tuple[str, ...]  # the rules of the bits, in bit order (``result.rules.rules``)
    rule_counts: np.ndarray  # candidates caught per rule, over the whole grid
    candidates: int
    valid: int
    excluded_by: dict[str, int]
    tiles: int
    engine: str
    passes: dict[str, int]
    pool: int
    best_rows: np.ndarray = field(repr=False)  # rows of the breakdown result written to the GeoPackage
    value_specs: dict[str, dict] = field(default_factory=dict, repr=False)  # data-relative bounds resolved over the whole grid
    siting: SitingPlan | None = field(default=None, repr=False)  # the siting rules every strip evaluated
    force_ahp: bool = False  # an AHP matrix above the consistency limit was accepted

    @property
    def excluded(self) -> int:
        return self.candidates - self.valid


@dataclass
class TiledOutcome:
    """A tiled run's result: the breakdown of the candidates the outputs need, the selection and the per-cell rasters."""

    result: ScoreResult  # the needed candidates only (chosen sites, best share), in candidate order
    selection: pd.DataFrame  # ``candidate`` indexes ``result``
    scores: TiledScores


def _pool_merge(parts: list[tuple[np.ndarray, ...]], limit: int) -> tuple[np.ndarray, ...]:
    """Concatenate pools (index, score, x, y, cell, district, stage conditions) and keep the best ``limit`` (score descending,
    ties by index)."""
    merged = tuple(np.concatenate(column) for column in zip(*parts))
    keep = best_first(merged[0], merged[1], limit)
    return tuple(column[keep] for column in merged)


def score_tiled(profile: FacilityProfile, study: TiledStudy, allocations: dict[str, Allocation], *, engine=None, top_n: int | None = None,
                force_ahp: bool = False, progress: bool = False, best_share: float | None = None,
                capacity_t_yr: float | None = None, siting_rules: SitingRules | None = None) -> TiledOutcome:
    """Score ``profile`` on ``study`` strip by strip, select its sites and compute the breakdown the outputs need.

    ``engine`` is a :class:`LocalEngine` (default) or :class:`DaskEngine`; ``best_share``
    (default ``export.DEFAULT_CANDIDATE_SHARE``) of the candidates get their breakdown
    for the GeoPackage, at most ``settings.MAX_GEOPACKAGE_CANDIDATES``. The siting rules
    are those of :func:`~geo_almaty.siting.zones.build_siting_plan` (``capacity_t_yr``
    replaces the planned capacity; ``siting_rules`` replaces the project's rules, e.g. a
    scenario's), built once for every strip.
    """
    from .export import DEFAULT_CANDIDATE_SHARE

    engine = engine or LocalEngine()
    best_share = DEFAULT_CANDIDATE_SHARE if best_share is None else best_share
    plan = build_siting_plan(profile, study, siting_rules, capacity_t_yr=capacity_t_yr)
    if len(plan.rules) > 32:
        raise ProfileError(f"{len(plan.rules)} rules", file=profile.path, column="exclusions",
                           expected="at most 32 exclusion and flag rules for the exclusion surface")
    context = TileContext(study, profile, allocations, plan, force_ahp)
    tiles = study.tiles
    passes = {"bounds": 0, "score": 0, "breakdown": 0}

    # 1. data-relative bounds, exactly, over every candidate not excluded
    relative = relative_criteria(profile)
    value_specs: dict[str, dict] = {}
    if relative:
        streams = {cid: StreamedQuantiles(qs) for cid, qs in relative.items()}
        seen: set[str] = set()
        while any(s.needs_pass for s in streams.values()):
            parts = engine.map(bounds_of_tile, context, tiles, {"relative": relative})
            for part in progress_bar(parts, desc=f"bounds {profile.id}", unit="tile", total=len(tiles), enabled=progress):
                for cid, values in part.items():
                    seen.add(cid)
                    if streams[cid].needs_pass:
                        streams[cid].add(values)
            for stream in streams.values():
                if stream.needs_pass:
                    stream.finish_pass()
            passes["bounds"] += 1
        by_id = {spec["id"]: spec for spec in profile.criteria}
        value_specs = {cid: resolve_value_spec(default_value_spec(by_id[cid]), quantile=streams[cid].quantile,
                                               where=f"criteria/{cid}/value") for cid in relative if cid in seen}

    # 2. scores, rule bitmasks and the pool of the best candidates; a larger pool when the spacing walk or a stage needs one
    top_n = selection_top_n(profile, top_n)
    stages = profile.selection.get("stages") or []
    spacing = float(profile.selection.get("min_spacing_m", 0.0))
    per_district = profile.selection.get("max_per_district")
    pool_size = max(settings.TILED_POOL_CANDIDATES, settings.MAX_GEOPACKAGE_CANDIDATES + 1)
    offsets = np.concatenate([[0], np.cumsum(study.counts)])
    while True:
        score = np.full(study.grid.shape, np.nan, dtype=np.float32)
        rule_mask = np.zeros(study.grid.shape, dtype=np.uint32)
        rule_counts = np.zeros(len(plan.rules), dtype=np.int64)
        qualified = np.zeros(len(stages), dtype=np.int64)
        pool: tuple[np.ndarray, ...] | None = None
        excluded_by: dict[str, int] = {}
        present: set[int] = set()
        valid = 0
        parts = engine.map(score_tile, context, tiles, {"value_specs": value_specs, "pool": pool_size})
        for part in progress_bar(parts, desc=f"score {profile.id}", unit="tile", total=len(tiles), enabled=progress):
            tile = tiles[part.index]
            score[tile.row0:tile.row1] = part.score
            rule_mask[tile.row0:tile.row1] = part.rules
            rule_counts += part.rule_counts
            qualified += part.qualified
            valid += part.valid
            present.update(part.districts.tolist())
            for rule, n in part.excluded_by.items():
                excluded_by[rule] = excluded_by.get(rule, 0) + n
            piece = (part.pool_local + offsets[part.index], part.pool_score, part.pool_x, part.pool_y, part.pool_cell, part.pool_district,
                     part.pool_qualifies)
            pool = piece if pool is None else _pool_merge([pool, piece], pool_size)
        passes["score"] += 1
        if not valid:
            counts = ", ".join(f"{n:,} by {r}" for r, n in sorted(excluded_by.items(), key=lambda t: -t[1])) or "no candidate has a score"
            raise SelectionError(f"all {int(study.counts.sum()):,} candidates are excluded ({counts})", file=profile.path,
                                 column="exclusions", expected="exclusions that leave some candidates (check the layers and buffers)")
        district_ids = _district_ids(study, pool[5])
        codes, order, whole = district_codes(district_ids), np.arange(len(pool[0])), len(pool[0]) >= valid
        if stages:
            beyond = [bool(qualified[k] > pool[6][:, k].sum()) for k in range(len(stages))]
            chosen, stage_ids, met, complete = pick_in_stages(order, pool[2], pool[3], codes, stages, [pool[6][:, k] for k in range(len(stages))],
                                                              top_n, spacing, per_district, qualified_beyond=beyond, more_beyond=not whole)
        else:
            chosen = pick_widening(order, pool[2], pool[3], codes, top_n, spacing, per_district)
            complete = len(chosen) >= top_n
        if complete or whole:
            break
        pool_size *= 4  # the walk (or a stage) needs more than the pool held: score again, keeping more (rare)
        log.info("%s: the spacing walk or a selection stage needs more than the best %d candidates; scoring again with a pool of %d",
                 profile.id, pool_size // 4, pool_size)

    # 3. the breakdown of what the outputs need: the chosen sites and the GeoPackage's best share
    index, pool_score, cell = pool[0], pool[1], pool[4]
    best = _best_share_positions(pool_score, valid, best_share)
    needed = np.union1d(cell[best], cell[chosen])
    result = breakdown(context, needed, value_specs, progress=progress)
    passes["breakdown"] = 1
    position = np.searchsorted(needed, cell)
    selection = pd.DataFrame({
        "rank": np.arange(1, len(chosen) + 1),
        "candidate": position[chosen].astype(np.int64),
        "score": pool_score[chosen],
        "district_id": district_ids[chosen] if len(chosen) else np.array([], dtype=object),
    })
    if stages:
        selection["stage"] = stage_ids
        selection["stage_condition_met"] = met
    if len(chosen) < top_n:
        names = _district_ids(study, np.array(sorted(present), dtype=np.int32))
        selection.attrs["shortfall"] = _shortfall(len(chosen), top_n, valid, spacing, per_district, set(names.tolist()))
        log.warning("%s: %s", profile.id, selection.attrs["shortfall"])
    scores = TiledScores(study.grid, score, rule_mask, tuple(r.id for r in plan.rules), rule_counts, int(study.counts.sum()), valid,
                         excluded_by, len(tiles), engine.name, passes, len(index), np.sort(position[best]), value_specs, plan, force_ahp)
    log.info("%s: %d candidates in %d tiles, %d excluded, best score %.3f", profile.id, scores.candidates, len(tiles), scores.excluded,
             pool_score[0])
    return TiledOutcome(result, selection, scores)


def _district_ids(study: TiledStudy, numbers: np.ndarray) -> np.ndarray:
    """District ids of burnt district numbers (0: outside every district)."""
    out = np.full(len(numbers), OUTSIDE_DISTRICTS, dtype=object)
    districts = study.layer("districts")
    if districts is not None and len(numbers):
        ids = districts["district_id"].to_numpy()
        inside = numbers > 0
        out[inside] = ids[numbers[inside] - 1]
    return out


def _best_share_positions(pool_score: np.ndarray, valid: int, best_share: float) -> np.ndarray:
    """Pool positions of the GeoPackage's candidates: scores at or above the (1 − ``best_share``) quantile over every
    candidate not excluded (as :func:`geo_almaty.export.best_share_rows`), at most ``settings.MAX_GEOPACKAGE_CANDIDATES``."""
    low, high, t = quantile_position(valid, 1.0 - best_share)
    limit = settings.MAX_GEOPACKAGE_CANDIDATES
    if valid - 1 - low < len(pool_score):  # both order statistics are in the pool (it is the best part of the order)
        cutoff = interpolate(pool_score[valid - 1 - low], pool_score[valid - 1 - high], t)
        keep = np.flatnonzero(pool_score >= cutoff)
        if len(pool_score) == valid or cutoff > pool_score[-1] or len(keep) > limit:
            return keep[:limit]
    if len(pool_score) <= limit:
        raise RuntimeError("the tiled pool is smaller than the GeoPackage's best share")  # pool_size > limit prevents this
    return np.arange(limit)


def breakdown(context: TileContext, cells: np.ndarray, value_specs: dict[str, dict], *, progress: bool = False) -> ScoreResult:
    """The full per-criterion breakdown of the candidates at flat ``cells`` (sorted) of the whole grid, computed on windows of the
    strips that hold them (from their first to their last row); one :class:`ScoreResult` in cell order."""
    study = context.study
    width = study.grid.width
    rows = cells // width
    pieces: list[ScoreResult] = []
    groups = [(t, np.flatnonzero((rows >= t.row0) & (rows < t.row1))) for t in study.tiles]
    groups = [(t, g) for t, g in groups if len(g)]
    for tile, group in progress_bar(groups, desc=f"breakdown {context.profile.id}", unit="tile", enabled=progress):
        row0, row1 = int(rows[group[0]]), int(rows[group[-1]]) + 1
        window = context.window(row0, row1)
        inside = square_candidates(window)
        local = cells[group] - row0 * width
        at = np.searchsorted(inside.cell, local)
        if not (at < len(inside.cell)).all() or not (inside.cell[np.minimum(at, len(inside.cell) - 1)] == local).all():
            raise RuntimeError("a needed candidate is not a candidate of its window")
        subset = Candidates("square", cells[group].astype(np.int64), inside.x[at], inside.y[at], inside.cell[at], inside.size_m,
                            _grid_shape=study.grid.shape)
        piece = score_candidates(context.profile, window, subset, context.allocations, force_ahp=context.force_ahp, value_specs=value_specs,
                                 siting=context.siting)
        subset.cell = cells[group].astype(np.int64)  # the whole grid's cells from here on (criteria are computed)
        pieces.append(piece)
    return concat_results(pieces, study.grid.shape)


def concat_results(pieces: list[ScoreResult], grid_shape: tuple[int, int]) -> ScoreResult:
    """One :class:`ScoreResult` of several, candidates in the order of ``pieces`` (road comparisons dispatched to their piece)."""
    head = pieces[0]
    sizes = np.array([len(p.candidates) for p in pieces])
    starts = np.concatenate([[0], np.cumsum(sizes)])
    candidates = Candidates("square", np.concatenate([p.candidates.ids for p in pieces]), np.concatenate([p.candidates.x for p in pieces]),
                            np.concatenate([p.candidates.y for p in pieces]), np.concatenate([p.candidates.cell for p in pieces]),
                            head.candidates.size_m, _grid_shape=grid_shape)

    def joined(name: str) -> dict[str, CriterionRaw]:
        out = {}
        for cid, first in getattr(head, name).items():
            parts = [getattr(p, name)[cid] for p in pieces]
            straight = _dispatch([p.straight for p in parts], starts) if first.straight is not None else None
            nearest = np.concatenate([p.nearest for p in parts]) if first.nearest is not None else None
            out[cid] = replace(first, values=np.concatenate([p.values for p in parts]), nearest=nearest, straight=straight)
        return out

    notes = [n for n in head.notes if " candidates joined to the road network" not in n]
    if any(" candidates joined to the road network" in n for n in head.notes):
        notes.insert(0, f"{len(candidates):,} candidates written out joined to the road network by straight connectors, strip by strip")
    rules = RuleTable(head.rules.rules, np.vstack([p.rules.masks for p in pieces])) if head.rules is not None else None
    return ScoreResult(head.profile, candidates, head.criteria, np.vstack([p.raw for p in pieces]), np.vstack([p.values for p in pieces]),
                       np.vstack([p.contributions for p in pieces]), head.weights, np.concatenate([p.excluded for p in pieces]),
                       np.concatenate([p.exclusion for p in pieces]), np.concatenate([p.score for p in pieces]), joined("nearest"),
                       head.skipped, head.ahp, head.skip_reasons, road=joined("road"), notes=notes, rules=rules, siting=head.siting)


def _dispatch(functions: list[Callable[[np.ndarray], np.ndarray]], starts: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Rows of the joined result → each piece's function on its own rows."""
    def call(rows: np.ndarray) -> np.ndarray:
        rows = np.atleast_1d(np.asarray(rows, dtype=np.int64))
        out = np.full(len(rows), np.nan)
        piece = np.searchsorted(starts, rows, side="right") - 1
        for p in np.unique(piece):
            here = piece == p
            out[here] = functions[p](rows[here] - starts[p])
        return out

    return call
