"""Supply for a facility: its flows as allocated to grid cells, pooled into demand points.

**Which supply.** Each ``supply`` entry of the profile names an allocation (already
spread over the grid to the kilogram, :mod:`geo_almaty.allocate`) and optionally a
share of it (a parameter of ``data/parameters.yaml``, e.g. the part of household
organics a separate collection delivers). The share is apportioned over the same
cells in whole kilograms (largest remainder), so the eligible supply sums exactly to
``round(share × total)`` and no cell gets more than it had.

**Demand points.** Cells are pooled into square blocks of ``block_m`` metres (aligned
to the grid origin); a block's demand point is the supply-weighted centroid of its
cells' centres. Every cell keeps its kilograms per flow, so results go back to cells
and districts exactly. The distance error is bounded: a cell centre and its block's
centroid both lie in the block, so they are less than a block diagonal apart
(``sqrt 2 × block_m``), and by the triangle inequality a haul measured from the
centroid differs from the haul from the cell by at most that displacement. The maximum and the supply-weighted mean displacement are reported, with
the resulting bound on the tonne-km error (sum of tonnes × displacement).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..allocate import Allocation
from ..apportion import KG_PER_T, largest_remainder
from ..errors import ProfileError
from ..grid import AnalysisGrid
from ..parameters import Parameter
from .spec import LocateSpec


@dataclass
class SupplyFlow:
    """One flow a facility receives: the allocation it comes from and the share that is eligible."""

    allocation: str
    title: dict[str, str]
    impact: str                 #: landfill_methane, recycling or none
    why: str
    share: float                #: eligible share of the allocation (1 when the profile names none)
    share_parameter: Parameter | None
    total_kg: int               #: the allocation's total (kg/yr)
    eligible_kg: int            #: what the facility can receive (kg/yr)
    rows: tuple[str, ...]
    surface_kg: np.ndarray = field(repr=False)  #: eligible kg/yr per grid cell (int64, grid shape)

    @property
    def not_eligible_kg(self) -> int:
        return self.total_kg - self.eligible_kg


def facility_supply(spec: LocateSpec, allocations: dict[str, Allocation], parameters: dict[str, Parameter],
                    profile_path: object = None) -> list[SupplyFlow]:
    """The eligible supply of every flow of the profile's ``supply`` list (conserved to the kilogram)."""
    flows = []
    for item in spec.supply:
        name = item["allocation"]
        if name not in allocations:
            raise ProfileError(f"unknown allocation '{name}'", file=profile_path, column="locate/supply",
                               expected="one of " + ", ".join(sorted(allocations)))
        allocation = allocations[name]
        if allocation.base_unit != "kg/yr":
            raise ProfileError(f"allocation '{name}' is an area index ({allocation.unit}), not a tonnage", file=profile_path,
                               column="locate/supply", expected="an allocation in t/yr")
        parameter = None
        share = 1.0
        if "share" in item:
            if item["share"] not in parameters:
                raise ProfileError(f"unknown parameter '{item['share']}'", file=profile_path, column=f"locate/supply/{name}/share",
                                   expected="one of " + ", ".join(sorted(parameters)))
            parameter = parameters[item["share"]]
            share = parameter.value
            if not 0 <= share <= 1:
                raise ProfileError(f"share {share:g} of parameter '{parameter.id}'", file=profile_path,
                                   column=f"locate/supply/{name}/share", expected="a share between 0 and 1")
        surface = eligible_surface(allocation.surface_base, share)
        flows.append(SupplyFlow(name, dict(allocation.title), item["impact"], item["why"], share, parameter, int(allocation.total_base),
                                int(surface.sum()), allocation.rows, surface))
    return flows


def eligible_surface(surface_kg: np.ndarray, share: float) -> np.ndarray:
    """``round(share × total)`` kg spread over the cells of ``surface_kg`` in proportion, in whole kg, never above a cell's own."""
    surface_kg = np.asarray(surface_kg, dtype=np.int64)
    if share >= 1.0:
        return surface_kg.copy()
    total = int(surface_kg.sum())
    target = int(round(share * total))
    flat = surface_kg.ravel()
    cells = np.flatnonzero(flat)
    out = np.zeros_like(flat)
    if target:
        out[cells] = largest_remainder(target, flat[cells].astype(np.float64))
    return out.reshape(surface_kg.shape)


@dataclass
class DemandPoints:
    """Supply pooled into blocks: one demand point per block that holds supply."""

    x: np.ndarray            #: (n,) supply-weighted centroid, m (EPSG:32643)
    y: np.ndarray
    kg: np.ndarray           #: (n, F) kg/yr per flow
    cell: np.ndarray         #: (c,) flat grid index of every cell with supply
    cell_point: np.ndarray   #: (c,) its demand point
    cell_kg: np.ndarray      #: (c, F) kg/yr per flow
    cell_x: np.ndarray       #: (c,) cell centre, m
    cell_y: np.ndarray
    block_m: float
    displacement_max_m: float
    displacement_mean_m: float   #: supply-weighted
    tkm_error_bound: float       #: sum over cells of tonnes × displacement (km): bound on the tonne-km error

    @property
    def tonnes(self) -> np.ndarray:
        """(n,) t/yr per demand point, all flows."""
        return self.kg.sum(axis=1) / KG_PER_T

    def __len__(self) -> int:
        return len(self.x)


def demand_points(flows: list[SupplyFlow], grid: AnalysisGrid, block_m: float) -> DemandPoints:
    """Pool every cell with eligible supply into ``block_m`` blocks (see the module docstring)."""
    if block_m <= 0:
        raise ProfileError(f"demand block of {block_m:g} m", column="locate/demand_block_m", expected="a positive size in metres")
    stack = np.stack([f.surface_kg.ravel() for f in flows], axis=1) if flows else np.zeros((grid.width * grid.height, 0), np.int64)
    cell = np.flatnonzero(stack.sum(axis=1) > 0)
    cell_kg = stack[cell]
    xs, ys = grid.centres()
    cx, cy = xs[cell], ys[cell]
    bx = np.floor((cx - grid.x0) / block_m).astype(np.int64)
    by = np.floor((grid.y0 - cy) / block_m).astype(np.int64)
    key = by * (int(bx.max(initial=0)) + 1) + bx
    blocks, point = np.unique(key, return_inverse=True)
    weight = cell_kg.sum(axis=1).astype(np.float64)
    mass = np.bincount(point, weights=weight, minlength=len(blocks))
    x = np.bincount(point, weights=weight * cx, minlength=len(blocks)) / mass
    y = np.bincount(point, weights=weight * cy, minlength=len(blocks)) / mass
    kg = np.zeros((len(blocks), stack.shape[1]), dtype=np.int64)
    for f in range(stack.shape[1]):
        kg[:, f] = np.bincount(point, weights=cell_kg[:, f], minlength=len(blocks)).round().astype(np.int64)
    shift = np.hypot(cx - x[point], cy - y[point])
    return DemandPoints(
        x=x, y=y, kg=kg, cell=cell, cell_point=point, cell_kg=cell_kg, cell_x=cx, cell_y=cy, block_m=float(block_m),
        displacement_max_m=float(shift.max(initial=0.0)),
        displacement_mean_m=float((shift * weight).sum() / weight.sum()) if weight.sum() else 0.0,
        tkm_error_bound=float((shift / 1000.0 * weight / KG_PER_T).sum()),
    )
