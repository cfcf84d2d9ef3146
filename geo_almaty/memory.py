"""Memory bounded by design: estimate what a grid will need before allocating it, and refuse what cannot fit.

The estimate follows the arrays the stages allocate, per grid cell (``n``) and
per candidate site (``m``), stage by stage; the peak is the largest stage plus
what earlier stages keep. The coefficients are the arrays' byte sizes
(int32 burns on the 4×4 oversampled grid, float32 land-use shares, int64 flow
surfaces, float64 criterion columns, FFT buffers), checked against measured
peaks by ``tests/test_memory.py`` and ``benchmarks/bench_memory.py``.

For tiling (work on part of the grid at a time), :meth:`MemoryEstimate.max_cells`
inverts the estimate: how many cells fit in a budget at the same candidate
density.

The budget is :data:`settings.MEMORY_BUDGET_FRACTION` of the RAM available when
the command starts, or an absolute size (``--memory-budget 8GB`` or the
``GEO_ALMATY_MEMORY_BUDGET`` environment variable).
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, replace

from . import settings
from .errors import InputError, MemoryBudgetError
from .grid import AnalysisGrid

#: Sub-cells per cell side of the oversampled burns (see geo_almaty.rasterize.DEFAULT_OVERSAMPLE).
OVERSAMPLE = 4
#: Measured process memory exceeds the arrays counted here (allocator slack, GEOS/GDAL buffers, pandas copies).
SAFETY_FACTOR = 1.25
#: Resident bytes per H3 hexagon candidate: cell id, outline, shapely polygon (measured: 0.9-2.2 kB).
HEX_BYTES = 1_500
#: Memory beyond the grid arrays: feature tables, flow tables, output frames (measured 30-50 MB on the embedded data).
FIXED_BYTES = 64 << 20
#: Largest (feature × cell) tally that spreads a flow over few large polygons (geo_almaty.rasterize.feature_cell_weights).
TALLY_CAP_BYTES = 8 << 24
#: Nice cell sizes (m) offered when a grid does not fit.
NICE_CELL_SIZES = (10, 20, 25, 30, 40, 50, 75, 100, 125, 150, 200, 250, 300, 400, 500, 750, 1000, 2000, 5000)

_UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
          "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}


@dataclass(frozen=True)
class ProfileLoad:
    """What one facility profile adds: criterion columns, distance lookups, reachable-sum surfaces."""

    criteria: int
    distance_criteria: int = 0
    reachable_radii_m: tuple[float, ...] = ()
    share_layers: int = 0

    @classmethod
    def of(cls, profile) -> ProfileLoad:
        """From a :class:`~geo_almaty.profiles.FacilityProfile`."""
        criteria = profile.criteria
        radii = {(c["allocation"], float(c["radius_m"])) for c in criteria if c["type"] == "reachable"}
        return cls(
            criteria=len(criteria),
            distance_criteria=sum(c["type"] in ("distance", "colocation") for c in criteria),
            reachable_radii_m=tuple(sorted(r for _, r in radii)),
            share_layers=sum(c["type"] == "share" and c.get("layer", "land_use") != "land_use" for c in criteria),
        )


@dataclass(frozen=True)
class Workload:
    """The sizes that decide a command's memory, known before any grid array exists.

    ``allocation_coverage`` is the share (0-1) of the grid that the largest
    polygon layer used to spread flows covers (districts, building stock, parks);
    ``profiles`` are scored one after another but their results are kept together.
    """

    grid: AnalysisGrid
    candidates: int
    shape: str = "square"
    land_use_classes: int = 0
    allocations: int = 0
    allocation_coverage: float = 1.0
    allocation_features: int = 1
    dem: bool = False
    profiles: tuple[ProfileLoad, ...] = ()
    study_area_m2: float | None = None
    #: The supply grid flows are spread on when the candidate cells are finer (see ``prepare.Study.supply``).
    supply_grid: AnalysisGrid | None = None
    #: Monte Carlo samples of a robustness analysis that follows the scoring (0: none).
    robust_samples: int = 0

    @property
    def cells(self) -> int:
        return self.grid.width * self.grid.height

    @property
    def supply_cells(self) -> int:
        """Cells that carry the flow surfaces and reachable sums."""
        return self.cells if self.supply_grid is None else self.supply_grid.width * self.supply_grid.height


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes at the peak of each stage (what earlier stages keep included) for a workload."""

    workload: Workload
    stages: dict[str, int] = field(default_factory=dict)

    @property
    def peak(self) -> int:
        """The largest stage (bytes)."""
        return max(self.stages.values(), default=0)

    @property
    def peak_stage(self) -> str:
        return max(self.stages, key=self.stages.get) if self.stages else ""

    def describe(self) -> str:
        """'about 259.8 GiB at its peak (scoring) for 21,504 × 20,622 cells of 5 m and 305,154,836 square candidates'."""
        w = self.workload
        return (f"about {format_bytes(self.peak)} at its peak ({self.peak_stage}) for {w.grid.height:,} × {w.grid.width:,} cells of "
                f"{w.grid.cell_size:g} m and {w.candidates:,} {w.shape} candidates")

    def max_cells(self, budget: int) -> int:
        """The most grid cells (at this workload's candidate density) whose estimate fits ``budget`` (for tiling).

        The per-cell and per-candidate part of the estimate scales with the cells;
        the fixed part does not.
        """
        scaling = self.peak - FIXED_BYTES
        if scaling <= 0:
            return self.workload.cells
        return max(int(self.workload.cells * (budget - FIXED_BYTES) / scaling), 0)


#: Bytes per candidate of the siting rules kept with a score (a bool mask column per rule, up to about 16 rules; the
#: first excluding rule's id; the uint64 bitmask of the exclusions GeoTIFF).
SITING_BYTES = 32


def estimate_memory(workload: Workload) -> MemoryEstimate:
    """Peak memory of preparing the study, spreading flows and scoring ``workload``'s profiles (bytes).

    Stages and what they allocate (n cells, m candidates, o = oversampling 4):

    - ``land-use shares``: int32 burn of the land-use polygons on the o²-finer
      grid and its uint8 copy (5·o² B/cell), then 4 B/cell/class of shares;
    - ``terrain``: a DEM read and resampled (float64) and its slope;
    - ``flow allocation``: an int32 fine burn per polygon layer plus int64
      (feature, cell) keys for the covered sub-cells, and an int64 surface per flow;
    - ``candidates``: centres, ids and cells (32 B each); H3 hexagons :data:`HEX_BYTES` each;
    - ``scoring``: 24 B per candidate and criterion (raw, value, contribution),
      16 more per distance criterion (nearest feature), :data:`SITING_BYTES` for the siting
      rules (a mask column per rule, the first excluding rule, the bitmask), the largest transient
      (FFT of a reachable-sum disc: 32 B per padded cell; KD-tree queries
      60 B per candidate); every profile's result is kept for the outputs;
    - ``robustness`` (with ``robust_samples``): per profile its model, float32 criterion values and
      their bounds (12 B per candidate and criterion), float64 scores of a one-at-a-time setting (8 B),
      a block of sample scores (two float32 arrays per sample and candidate, at most
      ``settings.ROBUST_BLOCK_BYTES``) and the recorded ranks (8 B per sample and recorded cell);
    - ``outputs``: the score surface (float32), the rule bitmask surface (uint32) and written tables.

    Every stage is multiplied by :data:`SAFETY_FACTOR` and gets :data:`FIXED_BYTES`.
    """
    w = workload
    n, m, o2 = w.cells, w.candidates, OVERSAMPLE**2
    ns = w.supply_cells  # flows and reachable sums (the candidate grid itself unless it is finer than the supply grid)
    k_classes = max(w.land_use_classes, 1)
    stages: dict[str, float] = {}
    inside = 1.0 * n
    burn = max(5 * o2, 2 * o2 + 4 * k_classes + OVERSAMPLE) * n
    stages["land-use shares"] = inside + burn
    study = inside + 4 * k_classes * n + (16 * n if w.dem else 0) + (0.0 if w.supply_grid is None else (1 + 4 * k_classes) * ns)
    if w.dem:
        stages["terrain"] = study + 40 * n
    if w.allocations or w.allocation_coverage:
        covered = o2 * ns * min(max(w.allocation_coverage, 0.0), 1.0)  # fine sub-cells under the allocation polygons
        tally = 8 * min(w.allocation_features * ns, max(2 * covered, TALLY_CAP_BYTES / 8))  # (feature, cell) counts, see rasterize
        allocation_transient = (4 * o2 + 24) * ns + 48 * covered + tally
        stages["flow allocation"] = study + allocation_transient + 8 * ns * w.allocations
    kept = study + 8 * ns * w.allocations
    candidates = (HEX_BYTES if w.shape == "hex" else 32) * m
    stages["candidates"] = kept + candidates + (16 * n if w.shape == "square" else 0)
    kept += candidates
    results = 0.0
    supply = w.supply_grid or w.grid
    for load in w.profiles:
        result = m * (24 * load.criteria + 16 * load.distance_criteria + 24 + SITING_BYTES)
        transient = max(12.6 * n, 60 * m + 4 * n if load.distance_criteria else 0.0, 5 * o2 * n if load.share_layers else 0.0,
                        max((_fft_bytes(supply, r) for r in load.reachable_radii_m), default=0.0))
        cache = 8 * ns * len(load.reachable_radii_m)
        stages["scoring"] = max(stages.get("scoring", 0.0), kept + results + result + cache + transient)
        results += result
    if w.robust_samples and w.profiles:
        model = max(20 * load.criteria for load in w.profiles) * m
        block = min(settings.ROBUST_BLOCK_BYTES, 8 * w.robust_samples * m)
        ranks = min(settings.ROBUST_RANK_RECORD_BYTES, 8 * w.robust_samples * min(settings.ROBUST_RANK_POOL, m))
        stages["robustness"] = kept + results + model + block + ranks
    stages["outputs"] = kept + results + 16 * n + 0.1 * m * 400
    return MemoryEstimate(w, {name: int(value * SAFETY_FACTOR + FIXED_BYTES) for name, value in stages.items()})


def _fft_bytes(grid: AnalysisGrid, radius_m: float) -> float:
    """Buffers of a disc convolution by FFT: input, two half spectra and the output on the padded grid, plus copies."""
    r = int(radius_m // grid.cell_size)
    padded = (grid.height + 2 * r) * (grid.width + 2 * r)
    return 32.0 * padded + 16.0 * grid.height * grid.width


# --- the budget -------------------------------------------------------------------------------------

def available_memory() -> int:
    """RAM available to new allocations now (bytes), as the operating system reports it."""
    import psutil

    return int(psutil.virtual_memory().available)


def memory_budget(budget: int | str | None = None) -> int:
    """The budget in bytes: ``budget`` if given, else ``GEO_ALMATY_MEMORY_BUDGET``, else a share of available RAM."""
    if budget is None:
        budget = os.environ.get("GEO_ALMATY_MEMORY_BUDGET") or None
    if budget is None:
        return int(settings.MEMORY_BUDGET_FRACTION * available_memory())
    return parse_size(budget) if isinstance(budget, str) else int(budget)


def parse_size(text: str | int) -> int:
    """Bytes from '800MB', '4GB', '4GiB', '1.5g' or a plain number of bytes."""
    if isinstance(text, int):
        return text
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-zA-Z]*)\s*", str(text))
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _UNITS:
        raise InputError(f"'{text}' is not a memory size", column="memory budget", expected="a size such as 800MB, 4GB or 4GiB")
    value = float(match.group(1)) * _UNITS[unit]
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"'{text}' is not a positive memory size", column="memory budget", expected="a size such as 800MB, 4GB or 4GiB")
    return int(value)


def format_bytes(value: float) -> str:
    """'26.4 GiB', '812 MiB'."""
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20)):
        if value >= size:
            return f"{value / size:.1f} {unit}"
    return f"{value / 1024:.0f} KiB"


def check_memory(workload: Workload, budget: int | str | None = None, *, hint: str | None = None) -> MemoryEstimate:
    """Refuse ``workload`` with the estimate and a cell size that fits when it exceeds the budget; return the estimate.

    ``hint`` is one more remedy for the message (e.g. that another command tiles the grid).
    """
    estimate = estimate_memory(workload)
    limit = memory_budget(budget)
    if estimate.peak <= limit:
        return estimate
    suggestion = suggest_cell_size(workload, limit)
    remedy = (f"--cell-size {suggestion:g} or more (about {format_bytes(estimate_memory(rescale(workload, suggestion)).peak)})"
              if suggestion else "a smaller study area")
    if workload.shape == "hex":
        remedy += ", square cells (--shape square)"
    if hint:
        remedy += f", {hint}"
    raise MemoryBudgetError(f"this grid needs {estimate.describe()}, more than the memory budget of {format_bytes(limit)}",
                            column="--cell-size", expected=f"{remedy}, or a larger --memory-budget if the machine has the RAM")


def rescale(workload: Workload, cell_size: float) -> Workload:
    """The same workload on a grid of ``cell_size`` (cells and candidates scale with the cell area)."""
    grid = AnalysisGrid.covering(workload.grid.bounds, cell_size)
    if workload.supply_grid is not None and cell_size >= workload.supply_grid.cell_size:
        workload = replace(workload, supply_grid=None)
    if workload.study_area_m2 is not None and workload.shape != "features":
        candidates = candidate_count(workload.study_area_m2, cell_size, workload.shape)
    else:
        candidates = workload.candidates if workload.shape == "features" else int(math.ceil(workload.candidates * (workload.grid.cell_size / cell_size) ** 2))
    return replace(workload, grid=grid, candidates=candidates)


def suggest_cell_size(workload: Workload, budget: int) -> float | None:
    """The smallest nice cell size (m) at least the workload's whose estimate fits ``budget``; None if none does."""
    for size in NICE_CELL_SIZES:
        if size <= workload.grid.cell_size:
            continue
        if estimate_memory(rescale(workload, size)).peak <= budget:
            return float(size)
    return None


# --- a workload from a catalog, its layers and the profiles -------------------------------------------

#: Polygon layers the flow allocations burn onto the fine grid (geo_almaty.allocate).
ALLOCATION_POLYGON_LAYERS = ("districts", "building_stock", "parks", "population")


def workload_for(grid: AnalysisGrid, area, layers: dict, catalog, *, profiles=(), allocation_specs: dict | None = None,
                 shape: str = "square", supply_area=None) -> Workload:
    """The :class:`Workload` of preparing ``catalog`` on ``grid`` and scoring ``profiles`` with ``shape`` candidates.

    ``area`` is the study area (EPSG:32643), ``layers`` the loaded vector layers;
    ``profiles`` are :class:`~geo_almaty.profiles.FacilityProfile` objects. ``supply_area``
    (default ``area``) is where flows are spread when the candidates are limited to a
    boundary; cells finer than ``settings.SUPPLY_CELL_SIZE_M`` spread them on a supply grid.
    """
    import shapely

    supply_grid = None
    if grid.cell_size < settings.SUPPLY_CELL_SIZE_M or supply_area is not None:
        supply_grid = AnalysisGrid.covering((area if supply_area is None else supply_area).bounds,
                                            max(grid.cell_size, settings.SUPPLY_CELL_SIZE_M))

    land_use = catalog.layers.get("land_use")
    grid_area = max((grid.bounds[2] - grid.bounds[0]) * (grid.bounds[3] - grid.bounds[1]), 1.0)
    polygon_layers = set(ALLOCATION_POLYGON_LAYERS) | {spec.get("layer") for spec in (allocation_specs or {}).values()}
    present = [name for name in polygon_layers if name in layers]
    coverage = max((float(shapely.area(layers[name].geometry.values).sum()) / grid_area for name in present), default=0.0)
    return Workload(
        grid=grid,
        candidates=candidate_count(float(area.area), grid.cell_size, shape),
        shape=shape,
        land_use_classes=len(land_use.classes) if land_use is not None else 0,
        allocations=len(allocation_specs or {}),
        allocation_coverage=min(coverage, 1.0),
        allocation_features=max((len(layers[name]) for name in present), default=1),
        dem=catalog.has_data("dem") or catalog.has_data("landcover"),
        profiles=tuple(ProfileLoad.of(p) for p in profiles),
        study_area_m2=float(area.area),
        supply_grid=supply_grid,
    )


def candidate_count(area_m2: float, cell_size: float, shape: str) -> int:
    """About how many candidates ``shape`` gives over a study area of ``area_m2``: cells or H3 hexagons; 0 for user features."""
    if shape == "hex":
        import h3

        from .candidates import hex_resolution

        return int(math.ceil(area_m2 / h3.average_hexagon_area(hex_resolution(cell_size), unit="m^2")))
    if shape == "square":
        return int(math.ceil(area_m2 / cell_size**2))
    return 0


# --- tiles: grids scored part by part (geo_almaty/tiles.py) ---------------------------------------------

#: Bytes per candidate of the tiled pool (index, score, x, y, district, sort keys) kept while tiles stream.
POOL_BYTES = 64


@dataclass(frozen=True)
class TilePlan:
    """How a grid too large for memory is scored: strips of ``rows`` full rows, ``concurrent`` at a time.

    ``fixed`` is what the run holds for the whole grid (the supply study, the score and
    rule-bitmask rasters at 8 bytes per cell, the selection pool); ``tile`` one strip's estimate.
    """

    rows: int
    tiles: int
    width: int
    tile: MemoryEstimate
    fixed: int
    budget: int
    concurrent: int = 1

    @property
    def peak(self) -> int:
        """Estimated peak of the tiled run (bytes): the whole grid's part, and each strip's arrays (the fixed tables
        of :data:`FIXED_BYTES` are counted once, in ``fixed``)."""
        return self.fixed + self.concurrent * (self.tile.peak - FIXED_BYTES)

    @property
    def tile_cells(self) -> int:
        return self.rows * self.width

    def describe(self) -> str:
        """'12 tiles of 1,500 × 3,200 cells (about 1.2 GiB each, 1 at a time) and 310 MiB for the whole grid'."""
        return (f"{self.tiles} tile(s) of {self.rows:,} × {self.width:,} cells (about {format_bytes(self.tile.peak - FIXED_BYTES)} each, "
                f"{self.concurrent} at a time) and {format_bytes(self.fixed)} for the whole grid")


def tile_workload(workload: Workload, rows: int) -> Workload:
    """One strip of ``rows`` full rows of ``workload``'s grid (plus the DEM's two halo rows), scored without its own flows:
    the candidates sample the supply grid, which :func:`tiled_fixed_bytes` counts once."""
    g = workload.grid
    rows = max(1, min(rows, g.height))
    grid = AnalysisGrid(g.x0, g.y0, g.cell_size, g.width, min(rows + 2, g.height))
    density = workload.candidates / max(workload.cells, 1)
    return replace(workload, grid=grid, candidates=int(math.ceil(density * grid.width * grid.height)), allocations=0,
                   allocation_coverage=0.0, allocation_features=1, supply_grid=None,
                   profiles=tuple(replace(p, reachable_radii_m=()) for p in workload.profiles))


def tiled_fixed_bytes(workload: Workload, pool: int) -> int:
    """What a tiled run holds for the whole grid: the supply study with its flows and reachable sums (estimated as an
    in-memory run on the supply grid), float32 scores and uint32 siting-rule bitmasks per cell, the selection pool and the
    breakdown of the best candidates written out."""
    supply_grid = workload.supply_grid or AnalysisGrid.covering(workload.grid.bounds, max(workload.grid.cell_size, settings.SUPPLY_CELL_SIZE_M))
    area = workload.study_area_m2 if workload.study_area_m2 is not None else supply_grid.width * supply_grid.height * supply_grid.cell_size**2
    supply = replace(workload, grid=supply_grid, supply_grid=None, shape="square",
                     candidates=candidate_count(area, supply_grid.cell_size, "square"))
    per_best = max((24 * p.criteria + 16 * p.distance_criteria + 24 for p in workload.profiles), default=64) + 400
    from .export import DEFAULT_CANDIDATE_SHARE

    best = min(settings.MAX_GEOPACKAGE_CANDIDATES, int(math.ceil(DEFAULT_CANDIDATE_SHARE * workload.candidates)) + 1000)
    return int(estimate_memory(supply).peak + SAFETY_FACTOR * (8 * workload.cells + POOL_BYTES * min(pool, workload.candidates)
                                                              + per_best * best))


def check_tiled_size(workload: Workload, budget: int | str | None = None, *, concurrent: int = 1, max_cells: int | None = None) -> None:
    """Refuse a grid above ``max_cells`` (default ``settings.MAX_TILED_CELLS`` per strip scored at a time,
    ``concurrent``: a Dask cluster's threads) for a tiled score, with a cell size that fits.

    Called where a grid too large for memory would go to tiles instead: the message also gives the in-memory estimate.
    """
    limit = (settings.MAX_TILED_CELLS if max_cells is None else max_cells) * max(int(concurrent), 1)
    g = workload.grid
    cells = g.width * g.height
    if cells <= limit:
        return
    fits = next((float(s) for s in NICE_CELL_SIZES if s > g.cell_size and math.prod(AnalysisGrid.covering(g.bounds, s).shape) <= limit), None)
    remedy = f"--cell-size {fits:g} or more" if fits else "a smaller study area"
    raise MemoryBudgetError(f"this grid needs {estimate_memory(workload).describe()}, more than the memory budget of "
                            f"{format_bytes(memory_budget(budget))}, and its {cells:,} cells are more than a tiled score takes "
                            f"({limit:,}: settings.MAX_TILED_CELLS per strip scored at a time)",
                            column="--cell-size", expected=f"{remedy}, candidates --within a smaller layer (e.g. city_boundary), "
                                                                 "or more Dask workers (--engine dask --workers N or --scheduler)")


def plan_tiles(workload: Workload, budget: int | str | None = None, *, tile_cells: int | None = None, concurrent: int = 1,
               pool: int = settings.TILED_POOL_CANDIDATES) -> TilePlan:
    """Strips that fit ``budget`` (bytes, '8GB', default :func:`memory_budget`) with ``concurrent`` strips at a time, sized
    from :meth:`MemoryEstimate.max_cells`; ``tile_cells`` forces the strip size instead (at least one row).

    Raises :class:`MemoryBudgetError` when even one-row strips do not fit.
    """
    limit = memory_budget(budget)
    g = workload.grid
    fixed = tiled_fixed_bytes(workload, pool)
    share = (limit - fixed) // max(concurrent, 1) + FIXED_BYTES  # a strip's estimate includes the fixed tables, held once
    if tile_cells is not None:
        rows = max(1, int(tile_cells) // g.width)
    else:
        probe = estimate_memory(tile_workload(workload, min(g.height, 64)))
        rows = max(probe.max_cells(share) // g.width - 2, 0) if share > 0 else 0
    rows = min(rows, g.height)
    while rows > 1 and estimate_memory(tile_workload(workload, rows)).peak > share:
        rows = int(rows * 0.9)
    tile = estimate_memory(tile_workload(workload, max(rows, 1)))
    if rows < 1 or fixed + max(concurrent, 1) * (tile.peak - FIXED_BYTES) > limit:
        raise MemoryBudgetError(f"even in tiles this grid needs {format_bytes(fixed)} for the whole grid ({g.height:,} × {g.width:,} cells of "
                                f"{g.cell_size:g} m) and {format_bytes(tile.peak - FIXED_BYTES)} per strip of {max(rows, 1)} row(s), more than the memory "
                                f"budget of {format_bytes(limit)}", column="--memory-budget",
                                expected="a larger --memory-budget, fewer Dask workers or threads, a coarser --cell-size or a smaller area")
    return TilePlan(rows, int(math.ceil(g.height / rows)), g.width, tile, fixed, limit, max(concurrent, 1))
