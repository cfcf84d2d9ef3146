"""Locate one facility type: supply → demand points → candidate sites → haul costs → model → allocation → impact.

:func:`locate_facility` is what the CLI (``geo-almaty locate``), the Python API and
``geo-almaty run`` call. Every kilogram of eligible supply ends up either at a site or
unserved, per grid cell and per flow (:attr:`LocateOutcome.allocation`), and every
table and figure is summed from that one table, so nothing counts a tonne twice.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..apportion import KG_PER_T, largest_remainder_grouped
from ..errors import LocateError
from ..flows import load_coefficients
from ..parameters import load_parameters
from ..profiles import FacilityProfile
from ..rasterize import burn_values
from .costs import TravelCosts, travel_costs
from .impact import Impact, impact, tonne_km
from .legal import band_legality, screening_capacity
from .models import ModelResult, Network, solve_model
from .pool import Locations, locations
from .spec import LocateSpec, locate_spec
from .supply import DemandPoints, SupplyFlow, demand_points, facility_supply

log = logging.getLogger(__name__)

#: Marks the unserved part in the allocation table's ``location`` column.
UNSERVED = -1
#: "No cutoff" for the haul to today's landfill (m): larger than any distance in the region.
NO_CUTOFF_M = 1e7


@dataclass
class LocateOutcome:
    """A located facility type: the sites opened, who they serve, and what it changes."""

    profile: FacilityProfile
    spec: LocateSpec
    supply: list[SupplyFlow]
    points: DemandPoints
    locations: Locations
    costs: TravelCosts
    model: ModelResult
    allocation: pd.DataFrame      #: cell, flow, location (UNSERVED for the unserved part), kg — exact
    site_location: np.ndarray     #: locations opened (existing facilities included)
    site_band: np.ndarray         #: band index of each opened location
    impact: Impact
    elapsed_s: float
    cell_district: np.ndarray = field(repr=False)  #: district id of every cell with supply (order of ``points.cell``)
    district_names: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)  #: district id -> {lang: name}
    cell_size_m: float = 250.0
    out_of_reach: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)  #: demand points with no candidate within the haul
    network: Network | None = field(default=None, repr=False)  #: what the model was solved on (re-solved by :mod:`.uncertainty`)
    landfill_km: np.ndarray | None = field(default=None, repr=False)  #: haul (km) of each demand point to its nearest landfill today

    def out_of_reach_kg(self) -> dict[str, int]:
        """kg/yr per flow at demand points with no candidate within the haul radius (left unserved, part of :meth:`unserved_kg`)."""
        kg = self.points.kg[self.out_of_reach].sum(axis=0) if len(self.out_of_reach) else np.zeros(len(self.supply), dtype=np.int64)
        return {f: int(v) for f, v in zip(self.flow_ids, kg)}

    def district_name(self, district_id: str, lang: str) -> str:
        return self.district_names.get(district_id, {}).get(lang, district_id)

    @property
    def flow_ids(self) -> list[str]:
        return [f.allocation for f in self.supply]

    def served_kg(self) -> dict[str, int]:
        """kg/yr served per flow."""
        served = self.allocation[self.allocation.location != UNSERVED].groupby("flow")["kg"].sum()
        return {f: int(served.get(f, 0)) for f in self.flow_ids}

    def unserved_kg(self) -> dict[str, int]:
        """kg/yr of eligible supply left unserved, per flow."""
        unserved = self.allocation[self.allocation.location == UNSERVED].groupby("flow")["kg"].sum()
        return {f: int(unserved.get(f, 0)) for f in self.flow_ids}

    def site_kg(self) -> pd.DataFrame:
        """kg/yr per opened location (rows) and flow (columns)."""
        table = self.allocation[self.allocation.location != UNSERVED].pivot_table(index="location", columns="flow", values="kg",
                                                                                aggfunc="sum", fill_value=0)
        return table.reindex(index=self.site_location, columns=self.flow_ids, fill_value=0).astype(np.int64)


def locate_facility(inputs, facility: str, *, outcome=None, model: str | None = None, k: int | None = None, band: str | None = None,
                    max_haul_m: float | None = None, gap: float | None = None, time_limit: float | None = None,
                    single_source: bool = False, candidate_pool: int | None = None, progress: bool = False) -> LocateOutcome:
    """Locate ``facility`` (a profile name or YAML) on prepared ``inputs`` (:func:`geo_almaty.pipeline.load_inputs`).

    ``outcome``: its scores when already computed (:func:`geo_almaty.pipeline.score_facility`).
    The other arguments override the profile's ``locate`` section.
    """
    from ..pipeline import score_facility

    started = time.perf_counter()
    from ..pipeline import facility_profile

    profile = outcome.profile if outcome is not None else facility_profile(inputs, facility)  # a scenario's overrides included
    spec = locate_spec(profile, inputs.flows, model=model, k=k, band=band, max_haul_m=max_haul_m, gap=gap, time_limit=time_limit,
                       single_source=single_source, candidate_pool=candidate_pool)
    parameters = load_parameters(inputs.flows)
    supply = facility_supply(spec, inputs.allocations, parameters, profile.path)
    if sum(f.eligible_kg for f in supply) == 0:
        raise LocateError("the facility's supply is zero", file=profile.path, column="locate/supply", expected="a supply flow with tonnage")
    cells = inputs.study.supply_study  # the flows' grid: 250 m under finer candidate cells (prepare.Study.supply)
    points = demand_points(supply, cells.grid, spec.demand_block_m)
    if outcome is None:
        outcome = score_facility(inputs, facility, progress=progress)
    screening = screening_capacity(outcome.result, spec)
    if screening is not None:  # a band with a narrower sanitary zone than the one scored: its candidates were excluded
        log.info("%s: rescored at %.0f t/yr, the size band with the narrowest sanitary zone", profile.id, screening)
        outcome = score_facility(inputs, facility, progress=progress, capacity_t_yr=screening)
    places = locations(inputs.study, outcome.result, spec)
    allowed = band_legality(inputs.study, outcome.result, spec, places)
    costs = travel_costs(inputs.study, np.c_[points.x, points.y], places.xy, spec.max_haul_m, progress=progress)
    reached = np.unique(costs.origin)
    out_of_reach = np.setdiff1d(np.arange(len(points)), reached)
    if not len(reached):
        raise LocateError(f"none of the {points.tonnes.sum():,.0f} t/yr of supply has a candidate within {spec.max_haul_m / 1000:g} km",
                          file=profile.path, column="locate/max_haul_m", expected="a longer haul or more candidates (lower min_score)")
    if len(out_of_reach):
        log.warning("%s: %.0f t/yr of supply (%d of %d demand points) has no candidate within %g km and is left unserved", profile.id,
                    points.tonnes[out_of_reach].sum(), len(out_of_reach), len(points), spec.max_haul_m / 1000)
    network = build_network(points, places, costs, spec, reached, allowed)
    result = solve_model(network, spec.model, band=spec.band_index, k=spec.k, haul_cost_per_tkm=spec.haul_cost_per_tkm,
                         unserved_penalty_factor=spec.unserved_penalty_factor, gap=spec.gap, time_limit=spec.time_limit,
                         single_source=spec.single_source, progress=progress)
    allocation, site_location, site_band = allocate_cells(points, supply, result, reached)
    cell_district = _cell_districts(cells, points.cell)
    served = allocation[allocation.location != UNSERVED]
    point_of_cell = points.cell_point[np.searchsorted(points.cell, served.cell.to_numpy())]
    km = _point_site_km(costs, point_of_cell, served.location.to_numpy())
    tkm = tonne_km(served.kg.to_numpy(), km)
    landfill_km = nearest_landfill_km(inputs.study, points)
    replaced = replaced_haul(points, allocation, landfill_km)
    outcome_impact = impact({f: int(served[served.flow == f].kg.sum()) for f in [s.allocation for s in supply]},
                            {s.allocation: s.impact for s in supply}, tkm, replaced, load_coefficients(inputs.flows), parameters)
    elapsed = time.perf_counter() - started
    log.info("%s located: %d sites, %.0f of %.0f t/yr served, %.0f t·km, gap %.3f %% (%s) in %.1f s", profile.id, len(site_location),
             outcome_impact.served_t, sum(f.eligible_kg for f in supply) / KG_PER_T, tkm, 100 * result.solution.gap,
             result.solution.status, elapsed)
    from ..select import district_names

    return LocateOutcome(profile, spec, supply, points, places, costs, result, allocation, site_location, site_band, outcome_impact,
                         elapsed, cell_district, district_names(inputs.study), cells.grid.cell_size, out_of_reach, network, landfill_km)


def build_network(points: DemandPoints, places: Locations, costs: TravelCosts, spec: LocateSpec, reached: np.ndarray | None = None,
                  allowed: np.ndarray | None = None) -> Network:
    """The solver's network: demand points (t/yr), locations (score, existing band) and arcs (km).

    ``reached``: the demand points (sorted) that have an arc; the solver sees only them, numbered in that order.
    ``allowed``: (locations, bands) where a location may open at a band (:func:`.legal.band_legality`).
    """
    reached = np.arange(len(points)) if reached is None else reached
    frame = places.frame
    band_ids = [b.id for b in spec.bands]
    fixed_band = np.array([band_ids.index(b) if b else -1 for b in frame["fixed_band"]], dtype=np.int64)
    score = frame["score"].fillna(1.0).to_numpy(dtype=np.float64)
    return Network(points.tonnes[reached], score, fixed_band, np.searchsorted(reached, costs.origin), costs.destination,
                   costs.metres / 1000.0, list(spec.bands), spec.max_haul_m / 1000.0, allowed)


def allocate_cells(points: DemandPoints, supply: list[SupplyFlow], result: ModelResult,
                   reached: np.ndarray | None = None) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Every cell's kilograms of every flow, split over the sites serving its demand point and the unserved part.

    ``reached``: the demand point of each of the solver's points (see :func:`build_network`); the
    other points are unserved. The split follows the solution's shares with the largest
    remainder, per cell and flow, so each cell's flow is conserved to the kilogram.
    """
    problem = result.problem
    assignment = result.solution.assignment
    reached = np.arange(problem.n_demand) if reached is None else reached
    out_of_reach = np.setdiff1d(np.arange(len(points)), reached)
    arc_point = reached[problem.arc_demand[assignment.arcs]]
    arc_location = result.option_location[problem.arc_option[assignment.arcs]]
    # Destinations of every demand point: its sites, then its unserved part (all of it out of reach).
    dest_point = np.r_[arc_point, reached, out_of_reach]
    dest_location = np.r_[arc_location, np.full(len(points), UNSERVED)]
    dest_share = np.r_[assignment.share, assignment.unserved, np.ones(len(out_of_reach))]
    keep = dest_share > 0
    dest_point, dest_location, dest_share = dest_point[keep], dest_location[keep], dest_share[keep]
    order = np.lexsort((dest_location, dest_point))
    dest_point, dest_location, dest_share = dest_point[order], dest_location[order], dest_share[order]
    dest_start = np.searchsorted(dest_point, np.arange(len(points) + 1))
    rows = []
    for f, flow in enumerate(supply):
        cells = np.flatnonzero(points.cell_kg[:, f] > 0)
        if not len(cells):
            continue
        point = points.cell_point[cells]
        count = dest_start[point + 1] - dest_start[point]
        item_cell = np.repeat(cells, count)
        offsets = np.arange(int(count.sum())) - np.repeat(np.r_[0, np.cumsum(count)[:-1]], count)
        item_dest = np.repeat(dest_start[point], count) + offsets
        group = np.repeat(np.arange(len(cells)), count)
        kg = largest_remainder_grouped(points.cell_kg[cells, f], group, dest_share[item_dest])
        rows.append(pd.DataFrame({"cell": points.cell[item_cell], "flow": flow.allocation, "location": dest_location[item_dest], "kg": kg}))
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["cell", "flow", "location", "kg"])
    table = table[table.kg > 0].reset_index(drop=True)
    opened = np.flatnonzero(assignment.open)
    site_location = result.option_location[opened]
    site_band = result.option_band[opened]
    order = np.argsort(site_location, kind="stable")
    return table, site_location[order], site_band[order]


def _point_site_km(costs: TravelCosts, point: np.ndarray, location: np.ndarray) -> np.ndarray:
    """Haul (km) of each (demand point, location) pair, looked up in the cost triplets."""
    key = costs.origin.astype(np.int64) * costs.shape[1] + costs.destination.astype(np.int64)
    order = np.argsort(key, kind="stable")
    wanted = point.astype(np.int64) * costs.shape[1] + location.astype(np.int64)
    pos = np.minimum(np.searchsorted(key[order], wanted), max(len(key) - 1, 0))
    if len(wanted) and (key[order][pos] != wanted).any():
        raise RuntimeError("an assigned pair has no haul cost")
    return costs.metres[order][pos] / 1000.0


def nearest_landfill_km(study, points: DemandPoints) -> np.ndarray | None:
    """Haul (km) of each demand point to its nearest landfill (``waste_facilities`` class ``landfill``) today; None without one.

    A point with no route to any landfill gets 0 km.
    """
    import shapely

    facilities = study.layer("waste_facilities")
    if facilities is None or "class" not in facilities.columns:
        return None
    landfills = facilities[facilities["class"] == "landfill"]
    if not len(landfills):
        return None
    where = shapely.point_on_surface(landfills.geometry.values)
    costs = travel_costs(study, np.c_[points.x, points.y], np.c_[shapely.get_x(where), shapely.get_y(where)], NO_CUTOFF_M)
    nearest = np.full(len(points), math.inf)
    np.minimum.at(nearest, costs.origin, costs.metres / 1000.0)
    return np.where(np.isfinite(nearest), nearest, 0.0)


def replaced_haul(points: DemandPoints, allocation: pd.DataFrame, landfill_km: np.ndarray | None) -> float | None:
    """t·km/yr the served supply travels today, each demand point to its nearest landfill (None without a landfill layer)."""
    if landfill_km is None:
        return None
    served = allocation[allocation.location != UNSERVED]
    point_kg = np.bincount(points.cell_point[np.searchsorted(points.cell, served.cell.to_numpy())], weights=served.kg.to_numpy(),
                           minlength=len(points))
    return tonne_km(point_kg, landfill_km)


def _cell_districts(study, cells: np.ndarray) -> np.ndarray:
    """District id of each grid cell (by its centre), 'outside' beyond the districts layer."""
    from ..allocate import OUTSIDE_DISTRICTS

    out = np.full(len(cells), OUTSIDE_DISTRICTS, dtype=object)
    districts = study.layer("districts")
    if districts is None or not len(cells):
        return out
    index = burn_values(districts.geometry.values, np.arange(1, len(districts) + 1), study.grid).ravel()[cells]
    ids = districts["district_id"].to_numpy()
    out[index > 0] = ids[index[index > 0] - 1]
    return out
