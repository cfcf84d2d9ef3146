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

    @property
    def cells(self) -> int:
        return self.grid.width * self.grid.height


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
      16 more per distance criterion (nearest feature), the largest transient
      (FFT of a reachable-sum disc: 32 B per padded cell; KD-tree queries
      60 B per candidate); every profile's result is kept for the outputs;
    - ``outputs``: the score surface (float32) and written tables.

    Every stage is multiplied by :data:`SAFETY_FACTOR` and gets :data:`FIXED_BYTES`.
    """
    w = workload
    n, m, o2 = w.cells, w.candidates, OVERSAMPLE**2
    k_classes = max(w.land_use_classes, 1)
    stages: dict[str, float] = {}
    inside = 1.0 * n
    burn = max(5 * o2, 2 * o2 + 4 * k_classes + OVERSAMPLE) * n
    stages["land-use shares"] = inside + burn
    study = inside + 4 * k_classes * n + (16 * n if w.dem else 0)
    if w.dem:
        stages["terrain"] = study + 40 * n
    covered = o2 * n * min(max(w.allocation_coverage, 0.0), 1.0)  # fine sub-cells under the allocation polygons
    tally = 8 * min(w.allocation_features * n, max(2 * covered, TALLY_CAP_BYTES / 8))  # (feature, cell) counts, see rasterize
    allocation_transient = (4 * o2 + 24) * n + 48 * covered + tally
    stages["flow allocation"] = study + allocation_transient + 8 * n * w.allocations
    kept = study + 8 * n * w.allocations
    candidates = (HEX_BYTES if w.shape == "hex" else 32) * m
    stages["candidates"] = kept + candidates + (16 * n if w.shape == "square" else 0)
    kept += candidates
    results = 0.0
    for load in w.profiles:
        result = m * (24 * load.criteria + 16 * load.distance_criteria + 24)
        transient = max(12.6 * n, 60 * m + 4 * n if load.distance_criteria else 0.0, 5 * o2 * n if load.share_layers else 0.0,
                        max((_fft_bytes(w.grid, r) for r in load.reachable_radii_m), default=0.0))
        cache = 8 * n * len(load.reachable_radii_m)
        stages["scoring"] = max(stages.get("scoring", 0.0), kept + results + result + cache + transient)
        results += result
    stages["outputs"] = kept + results + 12 * n + 0.1 * m * 400
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


def check_memory(workload: Workload, budget: int | str | None = None) -> MemoryEstimate:
    """Refuse ``workload`` with the estimate and a cell size that fits when it exceeds the budget; return the estimate."""
    estimate = estimate_memory(workload)
    limit = memory_budget(budget)
    if estimate.peak <= limit:
        return estimate
    suggestion = suggest_cell_size(workload, limit)
    remedy = (f"--cell-size {suggestion:g} or more (about {format_bytes(estimate_memory(rescale(workload, suggestion)).peak)})"
              if suggestion else "a smaller study area")
    if workload.shape == "hex":
        remedy += ", square cells (--shape square)"
    raise MemoryBudgetError(f"this grid needs {estimate.describe()}, more than the memory budget of {format_bytes(limit)}",
                            column="--cell-size", expected=f"{remedy}, or a larger --memory-budget if the machine has the RAM")


def rescale(workload: Workload, cell_size: float) -> Workload:
    """The same workload on a grid of ``cell_size`` (cells and candidates scale with the cell area)."""
    grid = AnalysisGrid.covering(workload.grid.bounds, cell_size)
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
                 shape: str = "square") -> Workload:
    """The :class:`Workload` of preparing ``catalog`` on ``grid`` and scoring ``profiles`` with ``shape`` candidates.

    ``area`` is the study area (EPSG:32643), ``layers`` the loaded vector layers;
    ``profiles`` are :class:`~geo_almaty.profiles.FacilityProfile` objects.
    """
    import shapely

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
